#!/usr/bin/env bash
# Every fixture generator (tools/fixtures_*.py) runs in the Makefile's `fixtures` target, so
# `make fixtures` regenerates every file in tests/fixtures.
# usage: fixtures_listed.sh SOURCE_DIR
set -u
src=$1
recipe=$(awk '/^fixtures:/ {on = 1; next} on && /^[^\t]/ {on = 0} on' "$src/Makefile")
fail=0
n=0
for f in "$src"/tools/fixtures_*.py; do
    n=$((n + 1))
    name=tools/$(basename "$f")
    if ! printf '%s\n' "$recipe" | grep -q "[[:space:]/]$name\([[:space:]]\|$\)"; then
        echo "FAIL: $name is not run by the Makefile's fixtures target; add a line" \
             "'/usr/bin/python3 $name' to it"
        fail=1
    fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no tools/fixtures_*.py found under $src"; exit 1; }
[ "$fail" = 0 ] && echo "fixtures: all $n generators are in the fixtures target"
exit "$fail"
