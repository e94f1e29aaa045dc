#!/bin/sh
# Run every Check suite once more under valgrind's memcheck, in one process
# (CK_FORK=no) so leaks and invalid accesses in the library are seen (a
# failed check shows in the log too: under CK_FORK=no it also leaks).  One
# line per suite: "valgrind: NAME clean" or the report.  Exit 1 on any error.
# The pgbouncer and postgresql-reduced configurations are left out here
# (CK_EXCLUDE_TAGS): they run the postgresql configuration's library code
# but for the unnamed statements (pgbouncer) and the ORM's fallbacks
# without RETURNING, upsert and ILIKE (reduced), which the ASan + UBSan
# build checks with every configuration; under valgrind they would make
# the slowest step of scripts/test half as long again.
# Usage: tests/valgrind.sh TEST_PROGRAM...   (run from the build directory;
# the suites run side by side, one more at a time than there are cores:
# they wait on their servers part of the time)
set -u
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (scripts/bootstrap installs it)"; exit 1; }
# One suite (the script calls itself so for each, nproc at a time).
if [ "${1:-}" = --one ]; then
    t=$2
    CK_FORK=no CK_VERBOSITY=normal CK_EXCLUDE_TAGS="pgbouncer postgresql-reduced" ./libtool --mode=execute valgrind -q \
        --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=97 "$t" \
        >"$t.vglog" 2>&1
    echo $? >"$t.vgrc"
    exit 0
fi
# The suites run nproc + 1 at a time; their lines come out in order.
for t in "$@"; do rm -f "$t.vgrc"; done
printf '%s\n' "$@" | xargs -P "$(($(nproc 2>/dev/null || echo 2) + 1))" -n 1 sh "$0" --one
status=0
for t in "$@"; do
    rc=$(cat "$t.vgrc" 2>/dev/null || echo 1)
    if [ "$rc" -eq 0 ]; then
        echo "valgrind: $t clean (all configurations but pgbouncer and postgresql-reduced)"
    else
        echo "valgrind: $t FAILED (exit $rc)"; cat "$t.vglog"; status=1
    fi
    rm -f "$t.vgrc"
done
exit $status
