#!/usr/bin/env python3
"""What recording costs a whole run, measured as a user would see it.

Runs `particles --headless` with and without recording (`--no-record`) in
alternated pairs (recording first, then not, PAIRS times), same seed and
frames, and times each whole process (wall clock, from start to exit, files
written) and its peak resident memory (`/usr/bin/time`). A shared
machine drifts, so each pair gives a ratio; the script prints the median
ratio with its range, never a best-of, and from 6 pairs on the interval
that holds the true median with 95 % confidence (the order statistics
that the binomial distribution picks: no assumption about the noise).

Also prints the cost per recorded event (median over pairs of the extra wall
time divided by the events recorded), the CPU per recorded event (the
extra user + system time of all threads: what recording takes from a
machine with no idle core), the producers' waits, and with
`--startup` the cost of starting and finishing a recording (1-frame runs).

With `--compare 'OPTIONS'` it measures what those options add to a
recorded run instead: recording with them against recording without them
(e.g. what capturing call stacks costs). With `--against PATH` it times
this build's recorded runs against another build's (a `particles` binary
copied from another commit), same options.

With `--busy-core` another process spins on one core for the whole
measurement, as another tenant of a shared machine would: the drain and
the writer then share a core with it, which is when producers wait.

With `--worlds` it measures how the cost per event grows with a second busy
world: each round runs 1 world and 2 worlds (`--threads`), each recorded and
not, all four alternated; it prints each cost's median over the rounds and
their ratio, with the interval that holds the true ratio with 95 %
confidence (a bootstrap over the rounds). (A round's own ratio is no
figure: on a noisy machine one round's cost can come out negative.)

usage: scripts/overhead.py [--pairs N] [--startup] [--busy-core] [--compare OPTIONS | --against PATH | --worlds] [-- particles options...]
  e.g. scripts/overhead.py --pairs 8
       scripts/overhead.py --pairs 6 -- --threads 2 --frames 1000000
       scripts/overhead.py --pairs 8 --compare '--stacks-over 10us'
       scripts/overhead.py --pairs 8 --against /tmp/particles-before
       scripts/overhead.py --pairs 6 --worlds -- --frames 1000000 --physics flush
       scripts/overhead.py --pairs 8 --busy-core --against /tmp/particles-before -- --frames 1000000
"""

import argparse
import collections
import contextlib
import json
import math
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "particles")

# One whole run: wall seconds, peak RSS in MiB, its summary.json, and CPU
# seconds (user + system, all threads).
Run = collections.namedtuple("Run", "wall_s peak_mib summary cpu_s")


def run(args, out, binary=BINARY):
    """One whole run, timed from outside: a `Run`."""
    rss_file = os.path.join(out + ".rss")
    # The previous run's files go before the clock starts: `particles`
    # removes an older run's files itself, and deleting a 170 MB alloc.tsv
    # takes tens of ms that are not the run's.
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    # /usr/bin/time reports the child's own peak: a child's rusage from
    # Python would include Python's memory from before the exec.
    subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file,
         binary, "--headless", "--quiet", "--out", out, *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall_s = time.perf_counter() - start
    with open(rss_file) as f:
        peak_kib, user_s, system_s = f.read().split()[-3:]
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return Run(wall_s, int(peak_kib) / 1024, summary, float(user_s) + float(system_s))


def spread(values, fmt, over="pairs"):
    return f"{fmt(statistics.median(values))} ({over}: {fmt(min(values))} to {fmt(max(values))})"


def median_interval(values, confidence=0.95):
    """A distribution-free interval that holds the true median with at least
    `confidence`: the k-th smallest and k-th largest values, for the largest
    k with 1 - 2 P(Binomial(n, 1/2) < k) >= confidence. None for fewer than
    6 values, which cannot give 95 %."""
    n = len(values)
    ordered = sorted(values)
    best = None
    below = 0  # P(Binomial(n, 1/2) < k), k = 1, 2, ...
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n
        if 1 - 2 * below < confidence:
            break
        best = k
    if best is None:
        return None
    return ordered[best - 1], ordered[n - best]


def ratio_interval(base, other, confidence=0.95, resamples=10_000):
    """An interval for median(other) / median(base), where base[i] and
    other[i] come from the same round: the percentile bootstrap, resampling
    whole rounds (seeded, so the same costs give the same interval). A
    resample whose base median is not positive gives an unbounded ratio.
    None for fewer than 6 rounds."""
    n = len(base)
    if n < 6:
        return None
    generator = random.Random(0)
    ratios = []
    for _ in range(resamples):
        picks = [generator.randrange(n) for _ in range(n)]
        one = statistics.median(base[i] for i in picks)
        two = statistics.median(other[i] for i in picks)
        ratios.append(two / one if one > 0 else math.inf)
    ratios.sort()
    tail = (1 - confidence) / 2
    return ratios[int(tail * resamples)], ratios[int((1 - tail) * resamples) - 1]


def spread_and_interval(values, fmt, over="pairs"):
    """`spread`, and the 95 % interval of the median where there are enough
    values: on a noisy machine the range says how the runs scatter, the
    interval how well their median is known."""
    interval = median_interval(values)
    if interval is None:
        return spread(values, fmt, over)
    low, high = interval
    return f"{spread(values, fmt, over)}; median within {fmt(low)} to {fmt(high)} (95 %)"


def waits(summaries):
    """The most producer waits in one recorded run, and how many runs waited;
    the same for spills into spill buffers."""
    waited = sum(1 for s in summaries if s["waits"] > 0)
    most = max(s["waits"] for s in summaries)
    spilled = sum(1 for s in summaries if s.get("spills", 0) > 0)
    spills = max(s.get("spills", 0) for s in summaries)
    return (
        f"{most} at most in a run; {waited} of {len(summaries)} recorded runs waited"
        f" (spills: {spills} at most in a run, in {spilled} runs)"
    )


def measure(pairs, args, work, with_args=(), without_args=("--no-record",), other=BINARY):
    on, off = [], []
    for i in range(pairs):
        print(f"overhead: pair {i + 1} of {pairs}", file=sys.stderr)
        on.append(run([*args, *with_args], os.path.join(work, "on")))
        off.append(run([*args, *without_args], os.path.join(work, "off"), other))
    return on, off


def cost_per_event_ns(on, off):
    """Extra wall time of a recorded run over its twin, per recorded event."""
    return (on.wall_s - off.wall_s) * 1e9 / max(on.summary["events_recorded"], 1)


def cpu_per_event_ns(on, off):
    """Extra CPU time (all threads) of a recorded run over its twin, per
    recorded event: what recording takes from a machine whose cores are
    all busy."""
    return (on.cpu_s - off.cpu_s) * 1e9 / max(on.summary["events_recorded"], 1)


def measure_worlds(rounds, args, work):
    """Cost per event with 1 and 2 worlds, alternated within each round."""
    costs, cpu, recorded = {1: [], 2: []}, {1: [], 2: []}, []
    for i in range(rounds):
        print(f"overhead: round {i + 1} of {rounds}", file=sys.stderr)
        for worlds in (1, 2):
            world_args = [*args, "--threads", str(worlds)]
            on = run(world_args, os.path.join(work, "on"))
            off = run([*world_args, "--no-record"], os.path.join(work, "off"))
            costs[worlds].append(cost_per_event_ns(on, off))
            cpu[worlds].append(cpu_per_event_ns(on, off))
            recorded.append(on.summary)
    print(f"runs: {rounds} rounds of `particles --headless {' '.join(args)}` with --threads 1 and 2, recorded and not")
    print(f"cost per event, 1 world:  {spread_and_interval(costs[1], lambda v: f'{v:.1f} ns', 'rounds')}")
    print(f"cost per event, 2 worlds: {spread_and_interval(costs[2], lambda v: f'{v:.1f} ns', 'rounds')}")
    one, two = statistics.median(costs[1]), statistics.median(costs[2])
    ratio = f"{two / one:.2f}x" if one > 0 else "undefined (1 world cost nothing)"
    interval = ratio_interval(costs[1], costs[2])
    if interval is not None and one > 0:
        low, high = (f"{v:.2f}x" if math.isfinite(v) else "unbounded" for v in interval)
        ratio += f"; within {low} to {high} (95 %, bootstrap over the rounds)"
    print(f"2 worlds / 1 world, medians: {ratio}")
    for worlds in (1, 2):
        label = "1 world: " if worlds == 1 else "2 worlds:"
        print(f"CPU per event, {label}  {spread(cpu[worlds], lambda v: f'{v:.1f} ns', 'rounds')}")
    print(f"producer waits:           {waits(recorded)}")


@contextlib.contextmanager
def busy_core(enabled):
    """While the block runs, another process spins on one core (if enabled)."""
    if not enabled:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        print("load: another process spins on one core throughout", file=sys.stderr)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--startup", action="store_true", help="also time 1-frame runs")
    parser.add_argument(
        "--compare",
        metavar="OPTIONS",
        help="time recording with these extra options against recording without them",
    )
    parser.add_argument(
        "--against",
        metavar="PATH",
        help="time recorded runs of this build against recorded runs of the particles binary at PATH",
    )
    parser.add_argument(
        "--worlds",
        action="store_true",
        help="compare the cost per event of 1 and 2 busy worlds (--pairs rounds)",
    )
    parser.add_argument(
        "--busy-core",
        action="store_true",
        help="keep one core busy with another process while measuring",
    )
    parser.add_argument("particles_args", nargs="*", help="options for particles")
    options = parser.parse_args()
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--no-default-features", "--bin", "particles"],
        check=True,
        cwd=ROOT,
    )
    with tempfile.TemporaryDirectory() as work, busy_core(options.busy_core):
        if options.worlds:
            measure_worlds(options.pairs, options.particles_args, work)
            return
        if options.against:
            on, off = measure(options.pairs, options.particles_args, work, (), (), options.against)
            with_label, without_label = "this build", options.against
        elif options.compare:
            extra = shlex.split(options.compare)
            on, off = measure(options.pairs, options.particles_args, work, extra, ())
            with_label, without_label = options.compare, "without them"
        else:
            on, off = measure(options.pairs, options.particles_args, work)
            with_label, without_label = "recording", "--no-record"
        ratios = [a.wall_s / b.wall_s for a, b in zip(on, off)]
        per_event = [cost_per_event_ns(a, b) for a, b in zip(on, off)]
        summary = on[-1].summary
        load = ", one core kept busy by another process" if options.busy_core else ""
        print(f"runs: {options.pairs} alternated pairs of `particles --headless {' '.join(options.particles_args)}`{load}")
        print(f"events recorded per run: {summary['events_recorded']:,}, dropped: {summary['events_dropped']}")
        print(f"wall, {with_label}: {spread([a.wall_s for a in on], lambda v: f'{v:.2f} s')}")
        print(f"wall, {without_label}: {spread([b.wall_s for b in off], lambda v: f'{v:.2f} s')}")
        print(f"ratio per pair:     {spread_and_interval(ratios, lambda v: f'{v:.3f}x')}")
        print(f"cost per event:     {spread_and_interval(per_event, lambda v: f'{v:.1f} ns')}")
        cpu = [cpu_per_event_ns(a, b) for a, b in zip(on, off)]
        print(f"CPU per event:      {spread(cpu, lambda v: f'{v:.1f} ns')} (user + system, all threads)")
        print(f"peak RSS, {with_label}: {spread([a.peak_mib for a in on], lambda v: f'{v:.1f} MiB')}")
        print(f"peak RSS, {without_label}: {spread([b.peak_mib for b in off], lambda v: f'{v:.1f} MiB')}")
        if options.compare:
            captured = [a.summary.get("stacks_captured", 0) for a in on]
            print(f"events with a stack: {spread(captured, lambda v: f'{v:,.0f}')}")
        print(f"producer waits:     {waits([a.summary for a in on])}")
        if options.against or options.compare:
            print(f"producer waits, {without_label}: {waits([b.summary for b in off])}")
        if options.startup and not options.compare:
            on, off = measure(options.pairs, ["--frames", "1"], work)
            extra_ms = [(a.wall_s - b.wall_s) * 1e3 for a, b in zip(on, off)]
            print(f"start + finish of a recording (1-frame runs): {spread(extra_ms, lambda v: f'{v:.1f} ms')}")


if __name__ == "__main__":
    main()
