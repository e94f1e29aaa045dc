#!/bin/sh
# The benchmark harness cannot rot: bench/run --smoke runs every workload
# with tiny sizes on both engines, the implementations must agree on every
# check value, and the table must have a row for each workload on each
# engine.  Timings are not judged here (docs/performance.md has them).
set -u
out=$(sh "${top_srcdir:-.}/bench/run" --smoke 2>&1)
status=$?
echo "$out"
[ "$status" -eq 0 ] || { echo "bench-smoke: bench/run failed ($status)"; exit 1; }
missing=0
for e in sqlite postgresql; do
    for w in W1 W2 W3 W4 W5 W5S; do
        echo "$out" | grep -qE "^$e +$w " || { echo "bench-smoke: no $e $w row"; missing=1; }
    done
done
n=$(echo "$out" | grep -c '^{"engine"')
[ "$n" -eq 48 ] || { echo "bench-smoke: $n measurements, wanted 48"; missing=1; }
[ "$missing" -eq 0 ] && echo "bench-smoke: 12 rows, 48 measurements, checks agree"
exit $missing
