#!/bin/sh
# The shared library exports strata_* names only: nothing else may leak into
# the programs that link it.
lib="${top_builddir:-.}/.libs/libstrata.so"
[ -f "$lib" ] || { echo "exports: $lib not built"; exit 1; }
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^strata_[a-z]' | grep -v '^$')
if [ -n "$bad" ]; then
    echo "exports: unexpected exported symbols:"; echo "$bad"; exit 1
fi
n=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^strata_')
echo "exports: $n symbols, all strata_*"
[ "$n" -gt 50 ]
