#!/bin/sh
# Run every Check suite once more under valgrind's memcheck, in one process
# (CK_FORK=no) so leaks and invalid accesses in the library are seen (a
# failed check shows in the log too: under CK_FORK=no it also leaks).  One
# line per suite: "valgrind: NAME clean" or the report.  Exit 1 on any error.
# The pgbouncer configuration is left out here (CK_EXCLUDE_TAGS): it runs
# the same library code as the postgresql one but for the unnamed
# statements, which the ASan + UBSan build checks with every configuration,
# and under valgrind it would double the slowest step of scripts/test.
# Usage: tests/valgrind.sh TEST_PROGRAM...   (run from the build directory)
set -u
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (scripts/bootstrap installs it)"; exit 1; }
status=0
for t in "$@"; do
    log="$t.vglog"
    CK_FORK=no CK_VERBOSITY=normal CK_EXCLUDE_TAGS=pgbouncer ./libtool --mode=execute valgrind -q --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=97 "$t" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "valgrind: $t clean (all configurations but pgbouncer)"
    else
        echo "valgrind: $t FAILED (exit $rc)"; cat "$log"; status=1
    fi
done
exit $status
