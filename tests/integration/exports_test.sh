#!/usr/bin/env bash
# The shared library's public face: it exports the functions the public headers declare (NS_API)
# and nothing else; no ns__ internal, no symbol outside the ns_ prefix.
# usage: exports_test.sh LIBNETSMITH.so SOURCE_DIR
set -u
lib=$1
src=$2
failed=0
exported=$(nm -D --defined-only "$lib" | awk '{ print $3 }' | sort -u)
internal=$(printf '%s\n' "$exported" | grep -vE '^ns_[a-z][a-z0-9_]*$')
if [ -n "$internal" ]; then
    echo "FAIL: $lib exports symbols outside the public ns_ functions:" >&2
    printf '%s\n' "$internal" | head -20 | sed 's/^/    /' >&2
    failed=1
fi
# every function a public header of the core declares is exported (static inline ones and the
# assertion helper behind NS_ASSERT apart); store.h and server.h are the store's and the
# server's libraries' (netsmith_store, netsmith_server), whose functions the core must not hold
core_headers=$(ls "$src"/include/netsmith/*.h | grep -vE '/(store|server)\.h$')
declared=$(grep -hoE '^NS_API [^(]*\b(ns_[a-z0-9_]+)\(' $core_headers |
    grep -oE 'ns_[a-z0-9_]+\($' | tr -d '(' | sort -u)
store_fns=$(grep -hoE '^NS_API [^(]*\b(ns_[a-z0-9_]+)\(' "$src"/include/netsmith/store.h \
    "$src"/include/netsmith/server.h |
    grep -oE 'ns_[a-z0-9_]+\($' | tr -d '(' | sort -u)
in_core=$(comm -12 <(printf '%s\n' "$store_fns") <(printf '%s\n' "$exported"))
if [ -n "$in_core" ]; then
    echo "FAIL: $lib holds functions of the store library (the core links no database):" >&2
    printf '%s\n' "$in_core" | head -20 | sed 's/^/    /' >&2
    failed=1
fi
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
if [ -n "$missing" ]; then
    echo "FAIL: functions the public headers declare that $lib does not export:" >&2
    printf '%s\n' "$missing" | head -20 | sed 's/^/    /' >&2
    failed=1
fi
# and no public declaration without NS_API
bare=$(grep -nE '^(const |unsigned )?[a-z_][a-z0-9_]*[ *]+\**ns_[a-z0-9_]+\(|^FILE \*ns_' \
    "$src"/include/netsmith/*.h | grep -v 'static inline')
if [ -n "$bare" ]; then
    echo "FAIL: public declarations without NS_API:" >&2
    printf '%s\n' "$bare" | head -20 | sed 's/^/    /' >&2
    failed=1
fi
# and every public declaration (or the group it heads) has a comment above it
undocumented=$(awk '
    FNR == 1 { prev = ""; grp = 0 }
    /^NS_API/ { if (!grp && prev !~ /\*\/ *$/) print FILENAME ":" FNR ": " $0; grp = 1; next }
    /^       / && grp { next }
    { grp = 0; if ($0 !~ /^ *$/) prev = $0; else prev = "" }
' "$src"/include/netsmith/*.h)
if [ -n "$undocumented" ]; then
    echo "FAIL: public declarations without a comment:" >&2
    printf '%s\n' "$undocumented" | head -20 | sed 's/^/    /' >&2
    failed=1
fi
# and every public function that returns ns_status says which errors it returns: the comment
# above it (or above the group it belongs to) names an NS_ERR_ code or says "errors" ("Errors
# as ns_x's", "the errors of ns_y")
unnamed=$(awk '
    FNR == 1 { cmt = ""; inc = 0; grp = 0 }
    inc {
        buf = buf " " $0
        if ($0 ~ /\*\//) { inc = 0; cmt = $0 ~ /\*\/ *$/ ? buf : "" }
        next
    }
    /^NS_API/ {
        if (!grp) head = cmt
        grp = 1
        if ($0 ~ /^NS_API ns_status / && head !~ /NS_ERR_|[Ee]rrors/) {
            name = $0; sub(/\(.*/, "", name); sub(/.* \**/, "", name)
            print FILENAME ":" FNR ": " name
        }
        next
    }
    /^       / && grp { next }
    /^ *\/\*/ {
        grp = 0; buf = $0; cmt = ""
        if ($0 ~ /\*\/ *$/) cmt = buf; else if ($0 !~ /\*\//) inc = 1
        next
    }
    { grp = 0; cmt = "" }
' "$src"/include/netsmith/*.h)
if [ -n "$unnamed" ]; then
    echo "FAIL: public functions returning ns_status whose comment names no error:" >&2
    printf '%s\n' "$unnamed" | sed 's/^/    /' >&2
    failed=1
fi
echo "$(printf '%s\n' "$exported" | wc -l) exported, $(printf '%s\n' "$declared" | wc -l) declared"
exit $failed
