#!/bin/sh
# Build the suites that run many threads once more under ThreadSanitizer,
# from the library's sources, and run them (CK_FORK=no, all engines).  One
# line per suite: "tsan: NAME clean" or its report.  Exit 1 on any race.
# Usage: tests/tsan.sh SUITE...   (run from the build directory; SUITE is
# tests/test_concurrency etc.)  Needs CC, top_srcdir and STRATA_PG_SERVER.
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
out=tests/tsan.build
mkdir -p "$out"
files="$src/src/*.c $src/migrations/*.c $src/tools/cli.c $src/engines/registry.c $src/engines/common.c"
grep -q 'define STRATA_WITH_SQLITE3 1' config.h && files="$files $src/engines/sqlite/*.c"
grep -q 'define STRATA_WITH_LIBPQ 1' config.h && files="$files $src/engines/postgres/*.c"
pkgs="sqlite3 libpq yaml-0.1 check"
cflags="-std=c11 -g -O1 -fsanitize=thread -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
  -I$src/include -I. -I$src/src -I$src/engines -I$src/tests -I$src/examples/microblog $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lpthread"
objs=""
# An object is rebuilt when its source, or any header, is newer.
newest_h=$(ls -t $src/include/*.h $src/include/strata/*.h $src/include/strata/sys/*.h \
    $src/src/*.h $src/engines/*.h $src/migrations/*.h $src/tests/*.h config.h 2>/dev/null | head -n 1)
for f in $files $src/tests/harness.c $src/examples/microblog/models.c; do
    o="$out/$(echo "$f" | sed 's|^.*/\([^/]*/[^/]*\)\.c$|\1|; s|/|_|').o"
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
        $cc $cflags -c "$f" -o "$o" || { echo "tsan: cannot build $f"; exit 1; }
    fi
    objs="$objs $o"
done
status=0
for t in "$@"; do
    name=$(basename "$t")
    $cc $cflags "$src/$t.c" $objs $libs -o "$out/$name" || { echo "tsan: cannot build $t"; exit 1; }
    log="$t.tsanlog"
    CK_FORK=no CK_VERBOSITY=normal TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
        "$out/$name" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && ! grep -q 'WARNING: ThreadSanitizer' "$log"; then
        echo "tsan: $t clean ($(grep -E '^[0-9]+%: Checks' "$log" | tail -n 1))"
    else
        echo "tsan: $t FAILED (exit $rc)"; cat "$log"; status=1
    fi
done
exit $status
