# alloc.plot: allocation size against latency, log-log: the classic figure of
# the "snow particles" experiment (Rust in Action ch. 6), drawn by gnuplot
# straight from alloc.tsv. One point per call; alloc-report draws the same
# figure as a density, plus the other charts.
#
# Usage: gnuplot -e "infile='results/latest/alloc.tsv'; outfile='alloc.png'" scripts/alloc.plot
#   infile   an alloc.tsv (default results/latest/alloc.tsv)
#   outfile  the PNG to write (default alloc.png)

if (!exists("infile")) infile = 'results/latest/alloc.tsv'
if (!exists("outfile")) outfile = 'alloc.png'

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1280,800 noenhanced
} else {
    set terminal png size 1280,800 noenhanced
}
set output outfile

# Tab-separated with one header row; columns are found by name.
set datafile separator tab
set datafile columnheaders

set title "Allocation latency against size"
set xlabel "requested size (bytes, log2 scale)"
set ylabel "latency of the allocator call (ns, log10 scale)"
set logscale x 2
set logscale y 10
set format x "%.0f"
set format y "%.0f"
set grid
set key off

plot infile using "bytes":"ns" with dots linecolor rgb "#1f77b4"
