# Shared helpers of the command-line test scripts, sourced by a script run as
# "SCRIPT NETSMITH_BINARY SOURCE_DIR": it sets NS (the binary, absolute), SRC (the source
# tree) and WORK (a scratch directory, removed at exit, made the current directory), and gives
# pass/fail counting, running netsmith with its output in $WORK/out and $WORK/err, and checks on
# files and values.

if [ $# -ne 2 ]; then
    echo "usage: $0 NETSMITH_BINARY SOURCE_DIR" >&2
    exit 2
fi
NS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$2" && pwd)
[ -x "$NS" ] || { echo "not an executable: $NS" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 2

passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1" >&2
    if [ -n "${2-}" ]; then printf '%s\n' "$2" | sed 's/^/    /' | head -20 >&2; fi
}

# run EXPECTED_STATUS ARGS...: runs netsmith with ARGS; stdout in out, stderr in err; checks
# the exit status.
run() {
    local want=$1
    shift
    "$NS" "$@" >out 2>err
    local got=$?
    if [ "$got" -eq "$want" ]; then
        pass
    else
        fail "netsmith $* exited $got, expected $want" "$(cat err)"
    fi
    return 0
}

# expect_match WHAT FILE REGEX: FILE has a line matching the extended regex.
expect_match() {
    if grep -Eq -- "$3" "$2"; then
        pass
    else
        fail "$1: no line of $2 matches /$3/" "$(head -20 "$2")"
    fi
}

# expect_no_match WHAT FILE REGEX: no line of FILE matches.
expect_no_match() {
    if grep -Eq -- "$3" "$2"; then
        fail "$1: a line of $2 matches /$3/" "$(grep -E -- "$3" "$2" | head -5)"
    else
        pass
    fi
}

# expect_eq WHAT GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then pass; else fail "$1: got '$2', expected '$3'"; fi
}

# expect_ne WHAT A B
expect_ne() {
    if [ "$2" != "$3" ]; then pass; else fail "$1: both are '$2'"; fi
}

# finish: prints the counts and exits 1 when a check failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
