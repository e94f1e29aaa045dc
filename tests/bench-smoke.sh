#!/bin/sh
# The benchmark harness cannot rot: bench/run --smoke runs every workload
# with tiny sizes on both engines, the implementations must agree on every
# check value, the table must have a row for each workload on each engine,
# and W6 (8 threads through a pool) must have no failure and no lost
# update.  Timings are not judged here (docs/performance.md has them).
set -u
out=$(sh "${top_srcdir:-.}/bench/run" --smoke 2>&1)
status=$?
echo "$out"
[ "$status" -eq 0 ] || { echo "bench-smoke: bench/run failed ($status)"; exit 1; }
missing=0
for e in sqlite postgresql; do
    for w in W1 W2 W3 W4 W5 W5S W6; do
        echo "$out" | grep -qE "^$e +$w " || { echo "bench-smoke: no $e $w row"; missing=1; }
    done
    # W6's threads must lose nothing and fail nothing, fast or slow.
    echo "$out" | grep -E "^$e +W6 " | grep -q "0 failures, 0 lost" ||
        { echo "bench-smoke: $e W6 had failures or lost updates"; missing=1; }
done
n=$(echo "$out" | grep -c '^{"engine"')
[ "$n" -eq 56 ] || { echo "bench-smoke: $n measurements, wanted 56"; missing=1; }
[ "$missing" -eq 0 ] && echo "bench-smoke: 14 rows, 56 measurements, checks agree, W6 lost nothing"
exit $missing
