#!/usr/bin/env bash
# The API's description against what the server tests saw (tests/server/openapi_check.py),
# run after them; and the description itself: OpenAPI 3.1, every operation with a summary and
# its statuses, and an error schema for every 4xx.
# usage: openapi_test.sh NETSMITH_BINARY SOURCE_DIR LOG_DIR
LOG_DIR=$3
set -- "$1" "$2"
. "$(dirname "$0")/../integration/testlib.sh"
NS_ACCESS_LOG=$WORK/own.log
. "$SRC/tests/server/serverlib.sh"

start_server --workers 0
raw "$URL/api/v1/openapi.json"
expect_status "the description" 200
cp "$WORK/body" "$WORK/openapi.json"
python3 - "$WORK/openapi.json" >"$WORK/check" 2>&1 <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
assert spec["openapi"] == "3.1.0"
for path, item in spec["paths"].items():
    assert path.startswith("/api/v1/"), path
    for method, op in item.items():
        assert op.get("summary"), (method, path)
        assert op["responses"], (method, path)
        for status, r in op["responses"].items():
            if int(status) >= 400:
                assert "application/json" in r["content"], (method, path, status)
print("ok")
PY
expect_match "every operation has a summary, statuses and error schemas" "$WORK/check" '^ok$'
if python3 "$SRC/tests/server/openapi_check.py" "$WORK/openapi.json" "$LOG_DIR" >"$WORK/check" 2>&1; then
    pass
else
    fail "the description and what the tests saw differ" "$(cat "$WORK/check")"
fi
tail -1 "$WORK/check"
stop_server
finish
