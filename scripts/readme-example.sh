#!/usr/bin/env bash
# Builds the README's "Use the recorder in your own program" example as a
# new program outside this repository, exactly as a reader would: its
# Cargo.toml from the README's toml block (the path pointing at this
# checkout), its src/main.rs from the README's rust block. Runs it and checks
# that it wrote alloc.tsv, summary.json and latency.hgrm, none empty, and
# that the library's dependency set is lean: at most 20 crates, none of the
# binaries' stacks.
#
# usage: scripts/readme-example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"

# The README's blocks: the toml one of the section, and the rust one between
# the example markers.
awk '/^## Use the recorder in your own program/ {section = 1}
     section && /^```toml/ {inside = 1; next}
     inside && /^```/ {exit}
     inside {print}' README.md >"$work/dependencies.toml"
awk '/<!-- example:start -->/ {inside = 1; next}
     /<!-- example:end -->/ {inside = 0}
     inside && !/^```/ {print}' README.md >"$work/src/main.rs"
grep -q 'path = "../heapsnow"' "$work/dependencies.toml" || {
    echo "the README's toml block no longer depends on path ../heapsnow" >&2
    exit 1
}
{
    printf '[package]\nname = "my-program"\nversion = "0.1.0"\nedition = "2024"\n\n'
    sed "s|path = \"../heapsnow\"|path = \"$repo\"|" "$work/dependencies.toml"
} >"$work/Cargo.toml"

echo "== the README's example, built outside the repository ($work)"
cd "$work"
export CARGO_TARGET_DIR="$repo/target/readme-example"
cargo generate-lockfile --offline --quiet 2>/dev/null || cargo generate-lockfile --quiet
cargo run --quiet 2>"$work/stderr"
cat "$work/stderr"
for name in alloc.tsv summary.json latency.hgrm; do
    if [ ! -s "alloc-results/$name" ]; then
        echo "alloc-results/$name is missing or empty" >&2
        exit 1
    fi
done
grep -q '^heapsnow: wrote [0-9]* allocation events to alloc-results' "$work/stderr"

echo "== its dependency set"
crates="$(cargo tree -e normal --prefix none | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | grep -v '^my-program ')"
count="$(echo "$crates" | wc -l)"
echo "heapsnow and its dependencies: $count crates"
if [ "$count" -gt 20 ]; then
    echo "$crates" >&2
    echo "more than 20 crates" >&2
    exit 1
fi
if echo "$crates" | grep -E '^(clap|plotters|indicatif|dejavu|piston|rand)[ _-]'; then
    echo "the library pulls a binary's dependency" >&2
    exit 1
fi
echo "ok"
