#!/usr/bin/env bash
# The registry's routes over real HTTP: datasets (a built-in, a CSV under a --data-dir root,
# the read settings the command line takes, and every path that could lead outside the data
# dirs refused before anything is read), models (create, show, versions, aliases, import's
# refusals) and their errors. Versions made by jobs are in jobs_test.sh.
# usage: registry_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

mkdir -p "$WORK/data/sub" "$WORK/outside"
printf 'a,b,label\n1,2,x\n2,3,y\n3,4,x\n4,5,y\n5,6,x\n6,7,y\n' >"$WORK/data/small.csv"
cp "$WORK/data/small.csv" "$WORK/data/sub/deep.csv"
printf 'secret,label\nSECRET-ROW,1\n' >"$WORK/secret.csv"
cp "$WORK/secret.csv" "$WORK/outside/x.csv"
ln -s "$WORK/secret.csv" "$WORK/data/link.csv"
ln -s "$WORK/outside" "$WORK/data/linkdir"

start_server --workers 0 --data-dir "$WORK/data"

# ---- datasets ------------------------------------------------------------------------------
api POST /api/v1/datasets '{"name": "iris", "data": "iris"}' >/dev/null
expect_status "a built-in dataset" 201
expect_eq "its name" "$(jq_get .name)" iris
expect_eq "a built-in has no blob" "$(jq_get .blob)" null
api POST /api/v1/datasets '{"name": "iris", "data": "iris"}' >/dev/null
expect_status "the same again changes nothing" 201
api POST /api/v1/datasets '{"name": "iris", "data": "wine"}' >/dev/null
expect_status "the name with another source" 409

raw -D "$WORK/headers" -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    --data-binary '{"name": "small", "data": "small.csv", "target": "label", "task": "classification", "delimiter": ","}' \
    "$URL/api/v1/datasets"
expect_status "a CSV under the data dir" 201
expect_match "a new dataset's Location" "$WORK/headers" '^Location: /api/v1/datasets/small'
expect_eq "the source names the file alone" "$(jq_get .source.data)" small.csv
expect_eq "the read settings are kept" "$(jq_get .source.target)" label
expect_body "its bytes are in the store" '"blob": ?"[0-9a-f]{64}"'
api POST /api/v1/datasets '{"name": "deep", "data": "sub/deep.csv", "target": "label", "one_hot": true, "missing": "drop"}' >/dev/null
expect_status "a CSV in a subdirectory" 201
api POST /api/v1/datasets '{"name": "dotted", "data": "./sub/deep.csv", "target": "label"}' >/dev/null
expect_status "a ./ path" 201

api POST /api/v1/datasets '{"name": "bad", "data": "iris", "task": "clasification"}' >/dev/null
expect_status "a bad setting's value" 400
expect_eq "a bad setting: its path" "$(jq_get .error.path)" task
expect_body "a bad setting: the library's message" "choose one of auto\|classification\|regression"
api POST /api/v1/datasets '{"name": "bad", "data": "iris", "targt": "label"}' >/dev/null
expect_status "an unknown setting" 400
expect_eq "an unknown setting: its path" "$(jq_get .error.path)" targt
expect_body "an unknown setting: did you mean" "did you mean 'target'"
api POST /api/v1/datasets '{"name": "bad", "data": "iris", "epochs": 3}' >/dev/null
expect_status "a run setting that is no data setting" 400
api POST /api/v1/datasets '{"name": "bad"}' >/dev/null
expect_status "no data" 400
expect_eq "no data: its path" "$(jq_get .error.path)" data
api POST /api/v1/datasets '{"data": "iris"}' >/dev/null
expect_status "no name" 400
api POST /api/v1/datasets '{"name": "bad name!", "data": "iris"}' >/dev/null
expect_status "a bad name" 400
api POST /api/v1/datasets '{"name": "x", "data": ' >/dev/null
expect_status "bad JSON" 400
expect_body "bad JSON: line and column" 'line 1, column'
api POST /api/v1/datasets '["iris"]' >/dev/null
expect_status "a body that is no object" 400
api POST /api/v1/datasets 'name=x' 'application/x-www-form-urlencoded' >/dev/null
expect_status "a form post (not JSON)" 415

# paths that lead outside the data dirs: refused before anything is read
refused() { # WHAT DATA [KEY]
    local key=${3:-data}
    if [ "$key" = data ]; then
        api POST /api/v1/datasets "{\"name\": \"escape\", \"data\": $2}" >/dev/null
    else
        api POST /api/v1/datasets "{\"name\": \"escape\", \"data\": \"iris\", \"$key\": $2}" >/dev/null
    fi
    expect_status "$1" 403
    expect_eq "$1: the path names the member" "$(jq_get .error.path)" "$key"
    expect_no_match "$1: nothing of the file is read" "$WORK/body" 'SECRET-ROW'
}
refused "a path climbing out with .." '"../secret.csv"'
refused "a deeper climb" '"sub/../../secret.csv"'
refused "a %-encoded climb (the raw JSON string)" '"%2e%2e/secret.csv"'
refused "a %-encoded slash" '"..%2Fsecret.csv"'
refused "an absolute path" '"/etc/passwd"'
refused "a home path" '"~/secret.csv"'
refused "a symbolic link inside the data dir to a file outside" '"link.csv"'
refused "a symbolically linked directory" '"linkdir/x.csv"'
refused "labels climbing out" '"../secret.csv"' labels
api POST /api/v1/datasets '{"name": "escape", "data": "nothing-here.csv"}' >/dev/null
expect_status "a file that does not exist" 404
expect_eq "a missing file: its path" "$(jq_get .error.path)" data
api POST /api/v1/datasets '{"name": "escape", "data": "sub"}' >/dev/null
expect_status "a directory is no data file" 400
mkfifo "$WORK/data/pipe.csv"
api POST /api/v1/datasets '{"name": "escape", "data": "pipe.csv"}' >/dev/null
expect_status "a FIFO is no data file" 400
api POST /api/v1/datasets '{"name": "escape", "data": "bad\u0001name.csv"}' >/dev/null
expect_status "a control character in the path" 400
api GET /api/v1/datasets/escape >/dev/null
expect_status "no refused dataset was made" 404
raw --path-as-is -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datasets/%2e%2e%2f%2e%2e%2fetc%2fpasswd"
expect_ne "an encoded path segment is no dataset" "$(head -c 3 "$WORK/status")" 200
expect_no_match "an encoded path segment reads no file" "$WORK/body" 'root:'
api GET '/api/v1/datasets/..' >/dev/null
expect_ne "a name of '..' is no dataset" "$(head -c 3 "$WORK/status")" 200

api GET /api/v1/datasets >/dev/null
expect_status "list datasets" 200
expect_eq "the list's total" "$(jq_get .total)" 4
expect_eq "the list is by name" "$(jq_get .items[0].name)" deep
api GET '/api/v1/datasets?name=small' >/dev/null
expect_eq "a filter on the name" "$(jq_get .total)" 1
api GET '/api/v1/datasets?limit=5000' >/dev/null
expect_status "a bad limit" 400
api GET /api/v1/datasets/small >/dev/null
expect_status "one dataset" 200
expect_eq "one dataset: its target" "$(jq_get .source.target)" label
api GET /api/v1/datasets/smal >/dev/null
expect_status "an unknown dataset" 404
expect_body "an unknown dataset: did you mean" "did you mean 'small'"

# ---- models --------------------------------------------------------------------------------
api POST /api/v1/architectures '{"name": "mlp", "spec": {"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]}}' >/dev/null
expect_status "an architecture" 201
api POST /api/v1/architectures '{"name": "tiny", "spec": {"layers": [{"type": "linear", "units": 2}]}}' >/dev/null
api POST /api/v1/models '{"name": "m", "architecture": "mlp"}' >/dev/null
expect_status "create a model" 201
expect_eq "its architecture" "$(jq_get .arch)" mlp
expect_eq "no versions yet" "$(jq_get .versions)" "[]"
api POST /api/v1/models '{"name": "m", "architecture": "mlp"}' >/dev/null
expect_status "the same again changes nothing" 201
api POST /api/v1/models '{"name": "m", "architecture": "tiny"}' >/dev/null
expect_status "the name as a model of another architecture" 409
api POST /api/v1/models '{"name": "m2", "architecture": "mpl"}' >/dev/null
expect_status "an unknown architecture" 404
expect_body "an unknown architecture: did you mean" "did you mean 'mlp'"
api POST /api/v1/models '{"name": "bad name!", "architecture": "mlp"}' >/dev/null
expect_status "a bad model name" 400
api POST /api/v1/models '{"name": "m2", "arch": "mlp"}' >/dev/null
expect_status "an unknown key" 400
expect_eq "an unknown key: its path" "$(jq_get .error.path)" arch
api POST /api/v1/models '{"name": "m2"}' >/dev/null
expect_status "no architecture" 400
expect_eq "no architecture: its path" "$(jq_get .error.path)" architecture
api POST /api/v1/models '{"name": ' >/dev/null
expect_status "bad JSON" 400
api POST /api/v1/models 'name=m' 'text/plain' >/dev/null
expect_status "not JSON" 415

api GET /api/v1/models >/dev/null
expect_status "list models" 200
expect_eq "the list's total" "$(jq_get .total)" 1
api GET '/api/v1/models?offset=x' >/dev/null
expect_status "a bad offset" 400
api GET /api/v1/models/m >/dev/null
expect_status "one model" 200
expect_eq "its aliases" "$(jq_get .aliases)" "{}"
api GET /api/v1/models/n >/dev/null
expect_status "an unknown model" 404
api GET /api/v1/models/m/versions/1 >/dev/null
expect_status "a version a model lacks" 404
api GET /api/v1/models/m/versions/prod >/dev/null
expect_status "an alias a model lacks" 404
api GET /api/v1/models/m/versions/1/file >/dev/null
expect_status "the file of a version a model lacks" 404

api POST /api/v1/models/m/aliases '{"alias": "prod", "version": 1}' >/dev/null
expect_status "an alias of a version a model lacks" 404
api POST /api/v1/models/m/aliases '{"alias": "prod"}' >/dev/null
expect_status "an alias without a version" 400
expect_eq "an alias without a version: its path" "$(jq_get .error.path)" version
api POST /api/v1/models/m/aliases '{"alias": "prod", "version": 1, "x": 1}' >/dev/null
expect_status "an alias with an unknown key" 400
api POST /api/v1/models/m/aliases 'alias=prod' 'text/plain' >/dev/null
expect_status "an alias not sent as JSON" 415

printf 'not a safetensors file' >"$WORK/garbage.bin"
api POST /api/v1/models/m/versions "$(cat "$WORK/garbage.bin")" application/octet-stream >/dev/null
expect_status "an import that is no safetensors file" 400
api POST /api/v1/models/nobody/versions "$(cat "$WORK/garbage.bin")" application/octet-stream >/dev/null
expect_status "an import into an unknown model" 404
api POST /api/v1/models/m/versions '{}' >/dev/null
expect_status "an import sent as JSON" 415
raw -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/octet-stream" "$URL/api/v1/models/m/versions"
expect_status "an import without a body" 400

# ---- a server that reads no files -----------------------------------------------------------
stop_server
PORT=
start_server --workers 0
api POST /api/v1/datasets '{"name": "small2", "data": "small.csv", "target": "label"}' >/dev/null
expect_status "without --data-dir a file is refused" 403
expect_body "without --data-dir: says how to allow files" 'data-dir'
api POST /api/v1/datasets '{"name": "wine", "data": "wine"}' >/dev/null
expect_status "without --data-dir a built-in is taken" 201
stop_server
finish
