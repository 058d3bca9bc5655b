#!/usr/bin/env bash
# What recording costs a whole run: the default headless benchmark with and
# without recording (--no-record), alternated, same seed and frames. Prints
# the extra wall time per recorded event and the share of wall time that
# allocating threads spent waiting for the drain.
#
# usage: scripts/overhead.sh [ROUNDS] [extra particles options...]
#   e.g. scripts/overhead.sh 3 --frames 1000000
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
shift || true
cargo build --release --no-default-features --quiet --bin particles
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for round in $(seq "$rounds"); do
    for mode in off on; do
        flag=""
        [ "$mode" = off ] && flag="--no-record"
        echo "overhead: round $round, recording $mode" >&2
        target/release/particles --headless --quiet $flag --out "$work/$mode-$round" "$@" >/dev/null
    done
done

python3 - "$work" "$rounds" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
load = lambda mode, r: json.load(open(f"{work}/{mode}-{r}/summary.json"))
off = [load("off", r) for r in range(1, rounds + 1)]
on = [load("on", r) for r in range(1, rounds + 1)]
best_off = min(s["wall_s"] for s in off)
best_on = min(on, key=lambda s: s["wall_s"])
events = best_on["events_recorded"]
print(f"frames per run           {best_on['frames']}")
print(f"events recorded          {events}")
print(f"wall, --no-record (best) {best_off:.3f} s")
print(f"wall, recording (best)   {best_on['wall_s']:.3f} s")
print(f"recording cost per event {(best_on['wall_s'] - best_off) * 1e9 / max(events, 1):.1f} ns")
print(f"drain wait share         {100 * best_on['wait_ns'] / (best_on['wall_s'] * 1e9):.4f} % of wall time ({best_on['waits']} waits)")
PY
