#!/usr/bin/env python3
"""Builds the README's results table from the runs' summary.json files and
writes it between the <!-- results:start --> and <!-- results:end --> markers,
so that no number in it is typed by hand.

usage: scripts/results-table.py RUNS_DIR README.md
"""
import json
import pathlib
import sys

START, END = "<!-- results:start -->", "<!-- results:end -->"


def row(name, s):
    alloc = s["kinds"].get("alloc", {})
    allocating = sum(s["kinds"].get(k, {}).get("count", 0) for k in ("alloc", "alloc_zeroed", "realloc"))
    per_frame = allocating / s["frames"] if s["frames"] else 0
    cost = lambda key: f'{alloc[key]:,}' if key in alloc else "–"
    return (
        f'| {name} | {s["strategy"]} | {s["allocator"]} | {s["threads"]} | {s["particles_initial"]:,} '
        f'| {"yes" if s["recording"] else "no"} | {s["frames"]:,} | {s["frames_per_s"]:,.0f} '
        f'| {per_frame:.3f} | {cost("p50")} | {cost("p99")} | {cost("p99_9")} '
        f'| {100 * s["wait_ns"] / max(s["wall_s"] * 1e9, 1):.3f} % |'
    )


def main():
    runs, readme = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    lines = [
        "| run | strategy | allocator | threads | particles | recording | frames | frames/s "
        "| allocating calls / frame | alloc p50 ns | alloc p99 ns | alloc p99.9 ns | drain wait |",
        "|---|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for summary in sorted(runs.glob("*/summary.json")):
        lines.append(row(summary.parent.name, json.loads(summary.read_text())))
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + tail)


if __name__ == "__main__":
    main()
