#!/usr/bin/env bash
# bench-report.sh: how fast and how lean is alloc-report on a large alloc.tsv,
# next to gnuplot drawing the same file with scripts/alloc.plot?
#
# Generates a realistic synthetic alloc.tsv of ROWS rows with
# scripts/gen-alloc-tsv.py (kept under WORKDIR and reused by later runs),
# builds alloc-report in release mode without the window feature, then times
# with /usr/bin/time -v:
#   - alloc-report: all six charts (PNG) and summary.md;
#   - gnuplot scripts/alloc.plot: the one size-against-latency PNG.
# Prints wall time, CPU time and peak resident memory of each. The file is
# read once before timing so both start from a warm page cache.
#
# Usage: scripts/bench-report.sh [ROWS] [WORKDIR]
#   ROWS     rows to generate (default 10000000)
#   WORKDIR  where the TSV and outputs go (default target/bench-report)
# Needs: cargo, python3, gnuplot (apt-get install -y gnuplot-nox), /usr/bin/time.

set -euo pipefail

rows=${1:-10000000}
work=${2:-target/bench-report}
cd "$(dirname "$0")/.."

tsv="$work/synthetic-$rows/alloc.tsv"
if [[ ! -s $tsv ]]; then
    echo "generating $tsv ($rows rows)..." >&2
    python3 scripts/gen-alloc-tsv.py "$rows" "$tsv.partial"
    mv "$tsv.partial" "$tsv"
fi

cargo build --quiet --release --no-default-features --bin alloc-report
report=target/release/alloc-report

cat "$tsv" > /dev/null # warm the page cache for both tools

/usr/bin/time -v -o "$work/alloc-report.time" \
    "$report" --quiet --out "$work/report" "$tsv"
/usr/bin/time -v -o "$work/gnuplot.time" \
    gnuplot -e "infile='$tsv'; outfile='$work/gnuplot.png'" scripts/alloc.plot

# "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21" -> seconds.
wall_s() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, part, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + part[i]
        printf "%.2f", s
    }' "$1"
}
cpu_s() {
    awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$1"
}
peak_mb() {
    awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"
}

size_mb=$(du -m "$tsv" | cut -f1)
echo
echo "input: $tsv ($rows rows, $size_mb MB), $(nproc) cores"
printf '%-44s %8s %8s %9s\n' "command" "wall s" "cpu s" "peak MB"
for tool in alloc-report gnuplot; do
    case $tool in
        alloc-report) what="alloc-report (6 charts + summary.md)" ;;
        gnuplot) what="gnuplot scripts/alloc.plot (1 chart)" ;;
    esac
    t="$work/$tool.time"
    printf '%-44s %8s %8s %9s\n' "$what" "$(wall_s "$t")" "$(cpu_s "$t")" "$(peak_mb "$t")"
done
