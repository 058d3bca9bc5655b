#!/usr/bin/env python3
"""Builds the README's results table from the runs' summary.json files and
writes it between the <!-- results:start --> and <!-- results:end --> markers,
with the size-latency correlations that alloc-report put in the comparisons'
summary.md files (results/compare-*/ beside RUNS_DIR), and the reference
run's printed summary between <!-- run:start/end -->, so that no number in
them is typed by hand.

usage: scripts/results-table.py RUNS_DIR README.md
"""
import json
import pathlib
import sys

START, END = "<!-- results:start -->", "<!-- results:end -->"
STRATEGIES = ["boxed", "inline", "pool", "arena"]
ALLOCATORS = ["system", "mimalloc", "jemalloc"]


def row(name, s):
    alloc = s["kinds"].get("alloc", {})
    allocating = sum(s["kinds"].get(k, {}).get("count", 0) for k in ("alloc", "alloc_zeroed", "realloc"))
    per_frame = f'{allocating / s["frames"]:.3g}' if s["frames"] else "–"
    cost = lambda key: f'{alloc[key]:,}' if key in alloc else "–"
    return (
        f'| {name} | {s["strategy"]} | {s["allocator"]} | {s.get("physics", "classic")} '
        f'| {s["threads"]} | {s["particles_initial"]:,} '
        f'| {"yes" if s["recording"] else "no"} | {s["frames"]:,} | {s["frames_per_s"]:,.0f} '
        f'| {per_frame} | {cost("p50")} | {cost("p99")} | {cost("p99_9")} '
        f'| {100 * s["wait_ns"] / max(s["wall_s"] * 1e9, 1):.3f} % |'
    )


def order(path):
    """Matrix runs first (strategy, then allocator, classic physics before
    flush), then the million-particle runs."""
    name = path.parent.name
    if name.startswith("million-"):
        return (1, STRATEGIES.index(name.split("-")[1]), 0, 0)
    strategy, allocator, *physics = name.split("-")
    return (0, STRATEGIES.index(strategy), ALLOCATORS.index(allocator), len(physics))


def main():
    runs, readme = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    lines = [
        "| run | strategy | allocator | physics | threads | particles | recording | frames | frames/s "
        "| allocating calls / frame | alloc p50 ns | alloc p99 ns | alloc p99.9 ns | drain wait |",
        "|---|---|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for summary in sorted(runs.glob("*/summary.json"), key=order):
        lines.append(row(summary.parent.name, json.loads(summary.read_text())))
    lines += ["", *derived(runs), "", *correlations(runs.parent)]
    text = replace_between(readme.read_text(), START, END, "\n".join(lines))
    output = (runs / "boxed-system.txt").read_text().rstrip()
    text = replace_between(
        text,
        "<!-- run:start -->",
        "<!-- run:end -->",
        "The reference run (`results/runs/boxed-system`: the defaults, seed 42):\n\n```text\n" + output + "\n```",
    )
    readme.write_text(text)


def replace_between(text, start, end, body):
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + body + "\n" + end + tail


def derived(runs):
    """Figures computed from pairs of runs."""
    load = lambda name: json.loads((runs / name / "summary.json").read_text())
    out = []
    median = lambda values: sorted(values)[len(values) // 2]
    per_event = {}
    for threads in (1, 2):
        rounds = sorted(
            int(p.name.rsplit("-", 1)[1]) for p in runs.glob(f"threads/{threads}-record-*") if p.is_dir()
        )
        pairs = [
            (load(f"threads/{threads}-record-{r}"), load(f"threads/{threads}-norecord-{r}"))
            for r in rounds
        ]
        costs = [(on["wall_s"] - off["wall_s"]) * 1e9 / max(on["events_recorded"], 1) for on, off in pairs]
        ratios = [on["wall_s"] / off["wall_s"] for on, off in pairs]
        per_event[threads] = median(costs)
        on = pairs[0][0]
        waits = max(on["waits"] for on, _ in pairs)
        out.append(
            f"- {threads} busy world{'s' if threads > 1 else ''} ({on['frames']:,} frames in all, "
            f"flushed physics, {len(pairs)} alternated pairs): recording costs "
            f"{median(ratios):.3f}x the run without it (pairs {min(ratios):.3f}x to {max(ratios):.3f}x), "
            f"{median(costs):.0f} ns per event (pairs {min(costs):.0f} to {max(costs):.0f} ns), "
            f"{on['events_recorded']:,} events a run, {waits} producer waits at most."
        )
    if per_event[1] > 0:
        out.append(
            f"- Cost per event with 2 busy worlds against 1: {per_event[2] / per_event[1]:.2f}x "
            "(the medians over the rounds; a round's own ratio is no figure, as one round's "
            "cost can come out negative on a noisy machine)."
        )
    million = {s: load(f"million-{s}") for s in STRATEGIES}
    boxed_fps = million["boxed"]["frames_per_s"]
    out.append(
        "- A million particles: "
        + ", ".join(f"{s} {m['frames_per_s']:,.1f} frames/s" for s, m in million.items())
        + " ("
        + ", ".join(f"{s} {million[s]['frames_per_s'] / boxed_fps:.1f}x" for s in STRATEGIES[1:])
        + " the boxed frame rate)."
    )
    classic, flush = load("boxed-system"), load("boxed-system-flush")
    out.append(
        f"- Physics, default run (boxed, System, {classic['frames']:,} frames): classic "
        f"{classic['frames_per_s']:,.0f} frames/s in {classic['wall_s']:.2f} s, flush "
        f"{flush['frames_per_s']:,.0f} frames/s in {flush['wall_s']:.2f} s "
        f"({flush['frames_per_s'] / classic['frames_per_s']:.1f}x), the same "
        f"{flush['events_recorded'] / flush['frames']:.2f} events per frame. "
        "Every other run uses the classic physics."
    )
    boxed = {a: load(f"boxed-{a}") for a in ("system", "mimalloc", "jemalloc")}
    out.append(
        "- Boxed world, alloc p50 / p99: "
        + ", ".join(f"{a} {b['kinds']['alloc']['p50']} / {b['kinds']['alloc']['p99']} ns" for a, b in boxed.items())
        + "."
    )
    return out


def correlations(results):
    """Spearman's rho and R² of all calls, and rho per kind, from the
    size-latency tables of the comparisons' summary.md."""
    out = [
        "Does size predict latency? Spearman's ρ between requested size and latency, per kind "
        "and over all calls, and R² of log latency on log size over all calls (from "
        "`alloc-report`'s summary.md):",
        "",
        "| comparison | run | alloc ρ | realloc ρ | dealloc ρ | all calls ρ | all calls R² |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for comparison in ("compare-allocators", "compare-strategies", "compare-physics"):
        rows = {}
        text = (results / comparison / "summary.md").read_text()
        table = text.split("## Does size predict latency?", 1)[1].split("\n## ", 1)[0]
        for line in table.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 6 and cells[2].isdigit():
                rows.setdefault(cells[0], {})[cells[1]] = cells
        for run, kinds in rows.items():
            if comparison == "compare-physics" and run == "classic":
                continue  # the boxed System run, listed above
            rho = lambda kind: kinds[kind][3] if kind in kinds else "–"
            out.append(
                f"| {comparison.removeprefix('compare-')} | {run} | {rho('alloc')} | {rho('realloc')} "
                f"| {rho('dealloc')} | {rho('all calls')} | {kinds['all calls'][4]} |"
            )
    return out


if __name__ == "__main__":
    main()
