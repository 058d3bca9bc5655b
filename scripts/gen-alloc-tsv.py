#!/usr/bin/env python3
"""Generate a realistic synthetic alloc.tsv for benchmarking alloc-report.

It models the particle world: a population doing a random walk around 1000
boxed 64-byte particles, a Vec<Box<Particle>> that grows by doubling and is
shrunk to fit every frame (realloc churn), some small strings and rare large
buffers. Addresses are reused LIFO per size, as malloc's caches do, so alloc
and dealloc pair up into lifetimes. Latencies are log-normal per kind with a
rare slow tail and a few long pauses, so every chart has something to show.
The output has the same columns and format as the recorder's alloc.tsv.

Usage: scripts/gen-alloc-tsv.py ROWS OUT.tsv [--seed N]
"""

import argparse
import math
import os
import random
import sys

class Done(Exception):
    """The requested number of rows is written."""


HEADER = "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\n"
PARTICLE_BYTES = 64


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, help="number of event rows to write")
    parser.add_argument("out", help="output file")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rand = rng.random

    # Log-normal latencies drawn from a table: far faster than lognormvariate.
    def table(median_ns, sigma, n=4096):
        return [median_ns * math.exp(sigma * rng.gauss(0.0, 1.0)) for _ in range(n)]

    latency = {
        "alloc": table(42.0, 0.35),
        "alloc_zeroed": table(60.0, 0.35),
        "realloc": table(55.0, 0.4),
        "dealloc": table(28.0, 0.3),
    }

    def latency_ns(kind, size, copied_bytes=0):
        ns = latency[kind][int(rand() * 4096)]
        ns += copied_bytes / 32.0  # memcpy of a moved realloc
        if size >= 128 * 1024 and kind != "dealloc":
            ns += 4000.0 + rand() * 8000.0  # mmap
        r = rand()
        if r < 2e-3:
            ns += rng.expovariate(1 / 800.0)  # cache and TLB misses
        if r < 2e-5:
            ns += 30_000.0 + rand() * 400_000.0  # preempted or page-faulted
        return int(ns)

    free_lists = {}
    next_addr = [0x5555_5560_0000]

    def new_addr(size):
        stack = free_lists.get(size)
        if stack:
            return stack.pop()
        addr = next_addr[0]
        next_addr[0] += (size + 15) // 16 * 16 + 16
        return addr

    def release(addr, size):
        free_lists.setdefault(size, []).append(addr)

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    out = open(args.out, "w", buffering=1 << 20)
    out.write(HEADER)
    rows = [0]
    t = [0]
    lines = []

    def emit(size, kind, align, addr, old_addr="", copied=0):
        ns = latency_ns(kind, size, copied)
        lines.append(f"{size}\t{ns}\t{kind}\t{align}\t{t[0]}\t1\t{addr:#x}\t{old_addr}\n")
        t[0] += ns + 15 + int(rand() * 120)
        rows[0] += 1
        if rows[0] >= args.rows:
            raise Done
        if len(lines) >= 65536:
            out.write("".join(lines))
            lines.clear()

    particles = []  # (addr) in age order
    head = 0  # particles[head:] are alive
    vec = [0, 0]  # address, capacity (elements)

    def vec_resize(new_cap):
        old_addr, old_cap = vec
        if new_cap == old_cap:
            return
        if old_cap == 0:
            addr = new_addr(new_cap * 8)
            emit(new_cap * 8, "alloc", 8, addr)
        elif new_cap == 0:
            emit(old_cap * 8, "dealloc", 8, old_addr)
            release(old_addr, old_cap * 8)
            addr = 0
        else:
            # Shrinking mostly stays in place; growing often has to move.
            moved = rand() < (0.5 if new_cap > old_cap else 0.1)
            if moved:
                addr = new_addr(new_cap * 8)
                release(old_addr, old_cap * 8)
            else:
                addr = old_addr
            emit(new_cap * 8, "realloc", 8, addr, f"{old_addr:#x}", old_cap * 8 if moved else 0)
        vec[0], vec[1] = addr, new_cap

    def push(n_alive):
        addr = new_addr(PARTICLE_BYTES)
        emit(PARTICLE_BYTES, "alloc", 8, addr)
        particles.append(addr)
        if n_alive + 1 > vec[1]:
            vec_resize(max(4, vec[1] * 2))

    def simulate():
        nonlocal head
        frame = 0
        while True:
            frame += 1
            alive = len(particles) - head
            n = int(rand() * 7) - 3
            if n > 0:
                for _ in range(n):
                    push(alive)
                    alive += 1
            else:
                for _ in range(min(-n, alive)):
                    addr = particles[head]
                    head += 1
                    emit(PARTICLE_BYTES, "dealloc", 8, addr)
                    release(addr, PARTICLE_BYTES)
                    alive -= 1
                if head > 100_000:
                    del particles[:head]
                    head = 0
            vec_resize(len(particles) - head)
            r = rand()
            if r < 0.05:  # a formatted string, freed soon after
                size = 1 + int(rand() * rand() * 300)
                kind = "alloc_zeroed" if r < 0.005 else "alloc"
                addr = new_addr(size)
                emit(size, kind, 1, addr)
                emit(size, "dealloc", 1, addr)
                release(addr, size)
            elif r < 0.0502:  # a rare large buffer
                size = 1 << (12 + int(rand() * 9))
                addr = new_addr(size)
                emit(size, "alloc", 16, addr)
                t[0] += int(rand() * 50_000)
                emit(size, "dealloc", 16, addr)
                release(addr, size)
            t[0] += 2000 + int(rand() * 3000)  # the frame's own work
            if frame % 400_000 == 0:
                t[0] += 25_000_000  # a pause: the process was descheduled

    try:
        for i in range(1000):
            push(i)
        simulate()
    except Done:
        pass
    out.write("".join(lines))
    out.close()
    print(f"wrote {rows[0]} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
