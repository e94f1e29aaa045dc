#!/bin/sh
# `make install prefix=DIR` gives a working installation in DIR, as
# autotools users expect: the strata tool runs from DIR/bin, and a program
# built with `pkg-config --cflags --libs strata` (DIR/lib/pkgconfig) finds
# libstrata.so.0 without LD_LIBRARY_PATH.  `make uninstall prefix=DIR`
# takes every file back out.  Run from the configured build directory.
set -u
top_srcdir=${top_srcdir:-.}
dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-install-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
prefix="$dir/prefix"
fail() { echo "install: $*"; exit 1; }
make -s install prefix="$prefix" >"$dir/install.log" 2>&1 || { cat "$dir/install.log"; fail "make install prefix=$prefix failed"; }
"$prefix/bin/strata" --version >"$dir/version" 2>&1 || { cat "$dir/version"; fail "the installed tool does not run"; }
grep -q '^strata ' "$dir/version" || fail "the installed tool printed: $(cat "$dir/version")"
grep -q "^prefix=$prefix\$" "$prefix/lib/pkgconfig/strata.pc" || fail "strata.pc does not name $prefix: $(head -1 "$prefix/lib/pkgconfig/strata.pc")"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs strata) || fail "pkg-config cannot read strata.pc"
${CC:-cc} -o "$dir/hello" "$top_srcdir/examples/hello/hello.c" $flags 2>"$dir/cc.log" || { cat "$dir/cc.log"; fail "a program does not build with pkg-config's flags"; }
(cd "$dir" && env -u LD_LIBRARY_PATH DATABASE_URL='sqlite://' ./hello) >"$dir/hello.out" 2>&1 || { cat "$dir/hello.out"; fail "the program built against the installation does not run"; }
make -s uninstall prefix="$prefix" >"$dir/uninstall.log" 2>&1 || { cat "$dir/uninstall.log"; fail "make uninstall failed"; }
left=$(find "$prefix" -type f | head -5)
[ -z "$left" ] || fail "make uninstall left files behind: $left"
echo "install: make install prefix=DIR works, strata.pc and the run paths name DIR, uninstall removes it all"
