#!/usr/bin/env python3
"""Allocating calls (alloc, alloc_zeroed, realloc) per second over a run, in
slices of 100 ms: the median and the slowest slice, and how much of the run
went slower than a threshold. The boxed world makes a fixed number of
allocating calls per frame, so for it this is the frame rate over time.

usage: scripts/alloc-rate.py [--below CALLS_PER_S] ALLOC_TSV...
"""
import argparse
import collections

SLICE_NS = 100_000_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--below", type=int, default=150_000, help="threshold, calls per second")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    for path in args.files:
        slices, end_ns = collections.Counter(), 0
        with open(path) as f:
            next(f)  # header: bytes ns kind align t_ns ...
            for line in f:
                cells = line.split("\t", 5)
                if cells[2] != "dealloc":
                    t_ns = int(cells[4])
                    slices[t_ns // SLICE_NS] += 1
                    end_ns = max(end_ns, t_ns)
        count = end_ns // SLICE_NS + 1
        rates = sorted(slices.get(i, 0) * 1_000_000_000 // SLICE_NS for i in range(count))
        slow = sum(1 for r in rates if r < args.below)
        print(
            f"{path}: {count / 10:.1f} s; allocating calls per second, per 100 ms slice: "
            f"median {rates[count // 2]:,}, slowest {rates[0]:,}, fastest {rates[-1]:,}; "
            f"below {args.below:,}/s for {slow / 10:.1f} s ({100 * slow / count:.0f} % of the run)"
        )


if __name__ == "__main__":
    main()
