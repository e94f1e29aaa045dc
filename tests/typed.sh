#!/bin/sh
# The typed calls of STRATA_TYPED_MODEL are checked by the compiler: a
# program passing a Post ** where a User ** belongs does not compile, and
# the right one does (with the warnings projects build with).
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-typed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
flags="-std=c11 -fsyntax-only -Wall -Wextra -Werror=incompatible-pointer-types -I$src/include \
  -I${top_builddir:-.} -I$src/examples/microblog"
program() {
    cat <<C
#include "models.h"
int use(strata_session *s);
int use(strata_session *s)
{
    $1 *x = 0;
    strata_query *q = strata_query_new(s, &user_model);
    int rc = User_new(s, &x) + User_get(s, 1, &x) + User_first(q, &x);
    strata_query_free(q);
    return rc;
}
C
}
program User >"$tmp/good.c"
program Post >"$tmp/bad.c"
if ! $cc $flags "$tmp/good.c" 2>"$tmp/good.err"; then
    echo "typed: the right pointer does not compile:"; cat "$tmp/good.err"; exit 1
fi
if $cc $flags "$tmp/bad.c" 2>"$tmp/bad.err"; then
    echo "typed: a Post ** passed as a User ** compiled"; exit 1
fi
grep -q "incompatible-pointer-types" "$tmp/bad.err" ||
    { echo "typed: the wrong pointer failed for another reason:"; cat "$tmp/bad.err"; exit 1; }
echo "typed: User_new(s, &post) is a compile error; User_new(s, &user) compiles"
