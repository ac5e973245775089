# Shared helpers of the server's test scripts (sourced after tests/integration/testlib.sh, by a
# script run as "SCRIPT NETSMITH_BINARY SOURCE_DIR"): starts `netsmith serve` on a free loopback
# port with its own token file and store (NETSMITH_TEST_STORE's postgresql:// URL, else a
# SQLite file in $WORK), talks to it over real HTTP with curl, and stops it at exit. Every
# request lands in $WORK/access.log, which tests/server/openapi_check.py reads against the
# API's description.
#
#   start_server [serve flags...]   sets URL, TOKEN, SERVER_PID; waits until it answers
#   stop_server                     SIGTERM, then waits
#   api METHOD PATH [BODY]          with the token; body JSON; answer in $WORK/body, status in
#                                   $WORK/status (also echoed)
#   expect_status WHAT WANT         checks $WORK/status
#   jq_get EXPR                     a value of $WORK/body (python's json; EXPR like .a.b[0])

. "$SRC/tests/server/jsonpath.sh"

if [ -n "${NETSMITH_TEST_STORE-}" ]; then
    export NETSMITH_STORE=$NETSMITH_TEST_STORE
    psql -q -d "$NETSMITH_STORE" -c 'DROP TABLE IF EXISTS trials, studies, events, pipelines, aliases, versions,
        models, datasets, archs, jobs, blobs, meta CASCADE' >/dev/null 2>&1
else
    export NETSMITH_STORE=sqlite:$WORK/store.db
fi
SERVER_PID=""
ACCESS_LOG=${NS_ACCESS_LOG:-$WORK/access.log}

start_server() {
    rm -f "$WORK/serve.out"
    "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:${PORT:-0} --token-file "$WORK/token" \
        --access-log "$ACCESS_LOG" --work-dir "$WORK/jobs" "$@" >"$WORK/serve.out" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        URL=$(grep -o 'serving on http://[0-9.:]*' "$WORK/serve.out" 2>/dev/null | sed 's/serving on //')
        [ -n "$URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$URL" ]; then
        fail "the server did not start" "$(cat "$WORK/serve.out")"
        finish
        exit 1
    fi
    PORT=${URL##*:}
    TOKEN=$(cat "$WORK/token")
    LOGIN=$(grep -o 'http://[0-9.:]*/login?code=[0-9a-f]*' "$WORK/serve.out" | tail -1)
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local rc=0
    wait "$SERVER_PID" 2>/dev/null || rc=$?
    SERVER_PID=""
    # a clean stop: exit status 0, and no sanitizer's report in its output
    if [ "$rc" -eq 0 ] && ! grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$WORK/serve.out"; then
        pass
    else
        fail "the server did not stop cleanly (exit status $rc)" "$(grep -A12 -E 'Sanitizer|runtime error' "$WORK/serve.out" | head -40)"
    fi
}

kill9_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

trap '[ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# api METHOD PATH [BODY [CONTENT_TYPE]]
api() {
    local method=$1 path=$2
    local args=(-s -o "$WORK/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN")
    if [ $# -ge 3 ]; then
        args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
    fi
    curl "${args[@]}" "$URL$path" >"$WORK/status" 2>/dev/null
    echo >>"$WORK/status"
    cat "$WORK/status"
}

# raw CURL_ARGS...: curl with the answer in body and the status in status (no token unless given)
raw() {
    curl -s -o "$WORK/body" -w '%{http_code}' "$@" >"$WORK/status" 2>/dev/null
    echo >>"$WORK/status"
}

expect_status() {
    local got
    got=$(head -c 3 "$WORK/status")
    if [ "$got" = "$2" ]; then
        pass
    else
        fail "$1: status $got, expected $2" "$(head -c 600 "$WORK/body")"
    fi
}

# expect_body WHAT REGEX: the answer's body matches.
expect_body() {
    expect_match "$1" "$WORK/body" "$2"
}
