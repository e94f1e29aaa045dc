#!/bin/sh
# The project speaks of itself alone: its README, docs and sources never
# point at issue numbers, at tutorial "seeds", or at files outside the
# repository (a design or style text kept elsewhere).
set -u
src=${top_srcdir:-.}
cd "$src" || exit 1
outside='shared/|DESIGN\.md|STYLE\.md|bench-workloads\.md|\bissues? #?[0-9]+'
found=$(grep -rnIiE "$outside|\bseeds?\b" README.md docs 2>/dev/null;
        grep -rnIiE "$outside" include src engines migrations tools examples bench tests scripts \
            --include='*.c' --include='*.h' --include='*.sh' --include='*.am' --include=run \
            --include=bootstrap --include=test 2>/dev/null | grep -v '^tests/docs-words\.sh:')
if [ -n "$found" ]; then
    echo "docs-words: text that points outside the project:"; echo "$found"; exit 1
fi
echo "docs-words: README, docs and sources speak of the project alone"
