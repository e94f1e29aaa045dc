#!/bin/sh
# The strata(1) man page is well-formed and names every command and option
# that `strata db --help` lists, so the two cannot drift apart.
set -u
page="${top_srcdir:-.}/docs/strata.1"
tool="${top_builddir:-.}/tools/strata"
[ -f "$page" ] || { echo "manpage: $page missing"; exit 1; }
status=0
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
if [ -n "$warnings" ]; then
    echo "manpage: groff warns:"; echo "$warnings"; status=1
fi
help=$("$tool" db --help) || { echo "manpage: $tool db --help failed"; exit 1; }
text=$(groff -man -Tascii -P-cbou "$page" 2>/dev/null)
commands=$(echo "$help" | sed -n '/^commands:/,/^$/p' | awk 'NF && !/^commands:/ {print $1}')
all=$help
for c in $commands; do all="$all
$("$tool" db "$c" --help)"; done
options=$(echo "$all" | grep -oE -- '--[a-z-]+' | sort -u)
n=0
for c in $commands; do
    n=$((n + 1))
    echo "$text" | grep -qE "^ +db $c( |\$)" || { echo "manpage: no entry for 'db $c'"; status=1; }
done
for o in $options; do
    echo "$text" | grep -qF -- "$o" || { echo "manpage: option $o is not described"; status=1; }
done
[ "$n" -ge 12 ] || { echo "manpage: only $n commands found in the help"; status=1; }
[ "$status" -eq 0 ] && echo "manpage: $n commands and $(echo "$options" | wc -l) options described"
exit $status
