#!/usr/bin/env bash
# The pages under docs/ name files (`src/...`, `include/...`, `tools/...`, `tests/...`,
# `apps/...`): every one must exist, so a page cannot drift from the tree it describes.
# usage: docs_test.sh SOURCE_DIR
set -u
src=$1
failed=0
checked=0
for page in "$src"/docs/*.md; do
    for path in $(grep -oE '`(src|include|tools|tests|apps|examples|bench)/[A-Za-z0-9_./<>*-]+`' "$page" |
        tr -d '`' | sort -u); do
        case "$path" in *'<'* | *'*'*) continue ;; esac # a pattern, not a file
        checked=$((checked + 1))
        if [ ! -e "$src/$path" ]; then
            echo "FAIL: $(basename "$page") names $path, which does not exist" >&2
            failed=1
        fi
    done
done
echo "$checked paths named by docs/ checked"
exit $failed
