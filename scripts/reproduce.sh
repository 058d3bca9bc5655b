#!/usr/bin/env bash
# Reproduces every committed result: builds the simulator once per backing
# allocator, runs the headless matrix (storage strategies x allocators, 1 vs 2
# threads with and without recording, a million particles per strategy) with
# fixed seeds, compares the runs with alloc-report, and regenerates the
# README's results table. Everything lands under results/ (the multi-megabyte
# alloc.tsv files are git-ignored). About 8 minutes on a 2-core machine.
#
# usage: scripts/reproduce.sh [FRAMES]   (FRAMES per run, default: the binary's default)
set -euo pipefail
cd "$(dirname "$0")/.."

frames_args=()
[ $# -ge 1 ] && frames_args=(--frames "$1")
say() { echo "reproduce: $*" >&2; }
bin=target/variants
mkdir -p "$bin"

for allocator in system mimalloc jemalloc; do
    say "building particles with the $allocator allocator"
    features=()
    [ "$allocator" != system ] && features=(--features "$allocator")
    cargo build --release --quiet --no-default-features "${features[@]}" --bin particles
    cp target/release/particles "$bin/particles-$allocator"
done
say "building alloc-report"
cargo build --release --quiet --no-default-features --bin alloc-report

run() {
    local name="$1" allocator="$2"
    shift 2
    say "run $name: particles-$allocator --headless $*"
    "$bin/particles-$allocator" --headless --quiet --seed 42 --out "results/runs/$name" "$@" > "results/runs/$name.txt"
}

rm -rf results/runs results/compare-*
mkdir -p results/runs
for strategy in boxed inline pool arena; do
    for allocator in system mimalloc jemalloc; do
        run "$strategy-$allocator" "$allocator" --strategy "$strategy" "${frames_args[@]}"
    done
done
# The default run with subnormal accelerations flushed to zero.
run boxed-system-flush system --physics flush "${frames_args[@]}"
# The default run with call stacks: of every call of 10 µs or more, and of
# every 1000th allocation.
run boxed-system-stacks system --stacks-over 10us --stacks-every 1000 "${frames_args[@]}"
# Recording cost with 1 and 2 busy worlds: 5 alternated rounds, each a pair
# with and without recording, quoted as medians with their spread (the
# machine is shared and noisy). The flushed physics keeps every world busy
# allocating, rather than slowed by subnormal arithmetic.
mkdir -p results/runs/threads
for round in 1 2 3 4 5; do
    for threads in 1 2; do
        run "threads/$threads-record-$round" system --threads "$threads" --frames 1000000 --physics flush
        run "threads/$threads-norecord-$round" system --threads "$threads" --frames 1000000 --physics flush --no-record
    done
done
for strategy in boxed inline pool arena; do
    run "million-$strategy" system --strategy "$strategy" --particles 1000000 --frames 200
done

report() {
    local out="$1"
    shift
    say "report $out"
    target/release/alloc-report --quiet --out "$out" "$@"
}
report results/default/report boxed-system=results/runs/boxed-system/alloc.tsv
cp results/runs/boxed-system/summary.json results/runs/boxed-system/latency.hgrm results/default/
report results/stacks/report boxed-system=results/runs/boxed-system-stacks/alloc.tsv
cp results/runs/boxed-system-stacks/{summary.json,latency.hgrm,slow-stacks.folded,sampled-stacks.folded} results/stacks/
report results/flush/report boxed-system-flush=results/runs/boxed-system-flush/alloc.tsv
cp results/runs/boxed-system-flush/summary.json results/runs/boxed-system-flush/latency.hgrm results/flush/
report results/compare-physics \
    classic=results/runs/boxed-system/alloc.tsv \
    flush=results/runs/boxed-system-flush/alloc.tsv
report results/compare-allocators \
    system=results/runs/boxed-system/alloc.tsv \
    mimalloc=results/runs/boxed-mimalloc/alloc.tsv \
    jemalloc=results/runs/boxed-jemalloc/alloc.tsv
report results/compare-strategies \
    boxed=results/runs/boxed-system/alloc.tsv \
    inline=results/runs/inline-system/alloc.tsv \
    pool=results/runs/pool-system/alloc.tsv \
    arena=results/runs/arena-system/alloc.tsv
report results/compare-threads \
    1-thread=results/runs/threads/1-record-1/alloc.tsv \
    2-threads=results/runs/threads/2-record-1/alloc.tsv

say "writing the results table into README.md"
python3 scripts/results-table.py results/runs README.md
say "machine"
{
    echo "# The machine these results come from"
    echo
    echo "- date: $(date -u +%Y-%m-%d)"
    echo "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "- memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "- kernel clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
    echo "- $(rustc --version)"
    echo "- load average when the runs ended: $(cut -d' ' -f1-3 /proc/loadavg)"
} > results/MACHINE.md
say "done: results/runs, results/compare-*, results/default, results/stacks, results/flush, README.md results table"
