#!/usr/bin/env bash
# The server's frame over real HTTP: it starts and prints its address, token and login link;
# the system route, the description, the token, the login link, the Host check, unknown
# routes and methods, the UI's embedded files, architectures, and a live event stream.
# usage: system_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

start_server --workers 0
expect_match "the token is printed at first start" "$WORK/serve.out" '^  [0-9a-f]{64}$'
expect_match "a login link is printed" "$WORK/serve.out" 'login\?code=[0-9a-f]{32}$'
expect_eq "the token file is the owner's alone" "$(stat -c %a "$WORK/token")" 600

api GET /api/v1/system >/dev/null
expect_status "system" 200
expect_eq "system: version" "$(jq_get .version)" "$("$NS" --version | head -1 | awk '{print $2}')"
expect_body "system: the store's backend" '"backend":"(sqlite|postgresql)"'
expect_body "system: the kernel path" '"kernel_path":"OpenBLAS'

raw "$URL/api/v1/openapi.json"
expect_status "the description needs no token" 200
expect_body "the description is OpenAPI 3.1" '"openapi":"3.1.0"'

raw "$URL/api/v1/system"
expect_status "no token" 401
raw -H "Authorization: Bearer 0000" "$URL/api/v1/system"
expect_status "a wrong token" 401
raw -H "Authorization: Bearer $TOKEN" -H "Host: attacker.example:$PORT" "$URL/api/v1/system"
expect_status "a Host that is not the server's (DNS rebinding)" 403
raw -H "Authorization: Bearer $TOKEN" -H "Host: localhost:$PORT" "$URL/api/v1/system"
expect_status "localhost names a loopback server" 200

api GET /api/v1/nothing-here >/dev/null
expect_status "an unknown route" 404
expect_body "an unknown route says where the API is described" 'openapi.json'
api DELETE /api/v1/system >/dev/null
expect_status "a method the route lacks" 405

if grep -q 'the web UI is not built' "$WORK/serve.out"; then
    # a build without Node.js: the API is served, and the UI's address says why there is none
    raw "$URL/"
    expect_status "no UI built: its address says so" 404
    expect_body "no UI built: the reason" 'built without its web UI'
else
    raw "$URL/"
    expect_status "the UI's index" 200
    expect_body "the UI's index is HTML" '<!doctype html>'
    raw -D "$WORK/headers" "$URL/assets/index.js"
    expect_status "the UI's script" 200
    expect_match "the UI's script is JavaScript" "$WORK/headers" '^Content-Type: (text|application)/javascript'
    raw "$URL/models/boston-mlp"
    expect_status "a page of the UI's own routing is its index" 200
    expect_body "a page of the UI's own routing is HTML" '<div id="root">'
fi
raw "$URL/assets/nothing.js"
expect_status "a missing file of the UI" 404
raw "$URL/../../etc/passwd"
expect_no_match "no file outside the embedded table" "$WORK/body" 'root:'
raw --path-as-is "$URL/%2e%2e/%2e%2e/etc/passwd"
expect_no_match "no file outside the embedded table (encoded)" "$WORK/body" 'root:'

# the schemas forms are built from
api GET /api/v1/schemas/run-config >/dev/null
expect_status "the run config's schema" 200
expect_eq "a setting's type" "$(jq_get .properties.learning_rate.type)" number
expect_eq "a setting's choices" "$(jq_get .properties.optimizer.enum)" '["sgd", "adam", "adamw", "rmsprop"]'
expect_eq "a setting's default" "$(jq_get .properties.betas.default)" '[0.9, 0.999]'
api GET /api/v1/schemas/layers >/dev/null
expect_status "the layers' schema" 200
expect_eq "the layers' schema: a kind's settings" "$(jq_get .linear.required)" '["type", "units"]'

# the login link: once, and then the session cookie opens the API
raw -c "$WORK/cookies" "$LOGIN"
expect_status "the login link" 303
expect_match "the cookie is HttpOnly and SameSite=Strict" "$WORK/cookies" '#HttpOnly_127.0.0.1'
raw -b "$WORK/cookies" "$URL/api/v1/system"
expect_status "the session cookie opens the API" 200
raw "$LOGIN"
expect_status "a login link works once" 403
api POST /api/v1/login-links '{}' >/dev/null
expect_status "a new login link" 201
raw "$(jq_get .link)"
expect_status "the new link logs in" 303

# architectures
api POST /api/v1/architectures '{"name": "mlp", "spec": {"layers": [{"type": "linear", "units": 16}, {"type": "relu"}, {"type": "linear", "units": 3}]}}' >/dev/null
expect_status "add an architecture" 201
expect_eq "its name" "$(jq_get .name)" mlp
api POST /api/v1/architectures '{"name": "mlp", "spec": {"layers": [{"type": "linear", "units": 16}, {"type": "relu"}, {"type": "linear", "units": 3}]}}' >/dev/null
expect_status "the same again changes nothing" 201
api POST /api/v1/architectures '{"name": "mlp", "spec": {"layers": [{"type": "linear", "units": 4}]}}' >/dev/null
expect_status "the name with another spec" 409
api POST /api/v1/architectures '{"name": "bad", "spec": {"layers": [{"type": "linear", "units": -3}]}}' >/dev/null
expect_status "a bad spec" 400
expect_eq "a bad spec: the JSON path at fault" "$(jq_get .error.path)" "spec.layers[0].units"
expect_body "a bad spec: the library's message" 'expected a positive integer, got -3'
api POST /api/v1/architectures '{"name": "x", "spce": {}}' >/dev/null
expect_status "an unknown key" 400
expect_body "an unknown key: did you mean" "did you mean 'spec'"
api POST /api/v1/architectures '{"name": "x", "spec": ' >/dev/null
expect_status "bad JSON" 400
expect_body "bad JSON: line and column" 'line 1, column'
api POST /api/v1/architectures 'name=x' 'application/x-www-form-urlencoded' >/dev/null
expect_status "a form post (not JSON)" 415
api GET /api/v1/architectures >/dev/null
expect_status "list architectures" 200
expect_eq "the list's total" "$(jq_get .total)" 1
api GET '/api/v1/architectures?limit=0' >/dev/null
expect_status "a bad limit" 400
api GET '/api/v1/architectures?colour=red' >/dev/null
expect_status "a filter on a member the items lack" 400
api GET '/api/v1/architectures/mlp?input_size=4' >/dev/null
expect_status "an architecture's layer shapes" 200
expect_eq "its first layer's output shape" "$(jq_get .layers[0].shape)" "[16]"
expect_eq "its parameters" "$(jq_get .params)" "$((4 * 16 + 16 + 16 * 3 + 3))"
api GET '/api/v1/architectures/mpl' >/dev/null
expect_status "an unknown architecture" 404
expect_body "an unknown architecture: did you mean" "did you mean 'mlp'"

# a spec checked without registering it (the architecture editor's live check)
seed=$(cat "$SRC/examples/specs/seed.json")
api POST '/api/v1/architectures/check?input_size=13&output_size=1' "{\"spec\": $seed}" >/dev/null
expect_status "check the seed blueprint" 200
expect_eq "check: ok" "$(jq_get .ok)" true
expect_eq "check: the seed's parameters" "$(jq_get .params)" \
    "$((13 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 32 + 1))"
expect_eq "check: the short form as a layer list" "$(jq_get '.layer_form.layers[2]')" \
    '{"type": "dropout", "p": 0.2}'
expect_eq "check: the layer list's length" "$(jq_get '.layers[9].shape')" "[1]"
expect_eq "check: the training settings go with it" "$(jq_get .layer_form.training.epochs)" 50
api POST '/api/v1/architectures/check' "{\"spec\": $seed}" >/dev/null
expect_status "check without sizes: parsed only" 200
api POST '/api/v1/architectures/check?input_size=13' "{\"spec\": $seed}" >/dev/null
expect_status "check: a short form with no output size" 400
expect_body "check: says what is missing" 'no output_size and none was given'
api POST '/api/v1/architectures/check?input_size=4' '{"spec": {"layers": [{"type": "linear", "units": 8}, {"type": "relu", "slope": 2}]}}' >/dev/null
expect_status "check: a bad layer" 400
expect_eq "check: the path at fault" "$(jq_get .error.path)" "spec.layers[1].slope"
expect_eq "check: the problem's path" "$(jq_get '.problems[0].path')" "spec.layers[1].slope"
expect_eq "check: not ok" "$(jq_get .ok)" false
api POST '/api/v1/architectures/check?input_shape=1,28,28' '{"spec": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "flatten"}, {"type": "linear", "units": 10}]}}' >/dev/null
expect_status "check: an image network" 200
expect_eq "check: a convolution's output shape" "$(jq_get '.layers[0].shape')" "[4, 26, 26]"
api POST '/api/v1/architectures/check?input_size=abc' "{\"spec\": $seed}" >/dev/null
expect_status "check: a bad input size" 400
api POST '/api/v1/architectures/check' '{"spec": 3}' >/dev/null
expect_status "check: a spec that is not one" 400
api POST '/api/v1/architectures/check' 'spec=1' 'application/x-www-form-urlencoded' >/dev/null
expect_status "check: not JSON" 415
api GET /api/v1/architectures >/dev/null
expect_eq "a check registers nothing" "$(jq_get .total)" 1

# a live event stream sees a job submitted from the command line
curl -s -N -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events" >"$WORK/events" &
curl_pid=$!
sleep 0.5
"$NS" data add iris --data iris >/dev/null
"$NS" model create m --arch mlp >/dev/null
"$NS" job submit train --model m --data iris --epochs 2 >/dev/null
for i in $(seq 1 50); do grep -q '"state":"queued"' "$WORK/events" && break; sleep 0.1; done
kill "$curl_pid" 2>/dev/null; wait "$curl_pid" 2>/dev/null
expect_match "the stream's hello names it" "$WORK/events" '^data: \{"stream":"[0-9a-f]{16}"'
expect_match "the stream carries the job's state change" "$WORK/events" '^event: job$'
expect_match "each event has an id" "$WORK/events" '^id: [0-9]+$'

stop_server
expect_match "the server stops on SIGTERM" "$WORK/serve.out" 'serve: stopped'

# --ui-dir: the UI's files from a directory, but only plain files under it
mkdir -p "$WORK/ui/assets" "$WORK/outside"
echo '<!doctype html><title>from disk</title>' >"$WORK/ui/index.html"
echo 'console.log(1)' >"$WORK/ui/assets/app.js"
echo 'secret' >"$WORK/ui/.env"
echo 'outside' >"$WORK/outside/x.txt"
ln -s "$WORK/outside/x.txt" "$WORK/ui/link.txt"
start_server --workers 0 --ui-dir "$WORK/ui"
raw "$URL/"
expect_body "--ui-dir: its index" 'from disk'
raw "$URL/assets/app.js"
expect_body "--ui-dir: a file under it" 'console.log'
raw "$URL/.env"
expect_status "--ui-dir: no dot file" 404
raw "$URL/link.txt"
expect_status "--ui-dir: no symbolic link" 404
raw --path-as-is "$URL/assets/../../outside/x.txt"
expect_no_match "--ui-dir: nothing outside it" "$WORK/body" '^outside$'
raw --path-as-is "$URL/assets/%2e%2e/%2e%2e/outside/x.txt"
expect_no_match "--ui-dir: nothing outside it (encoded)" "$WORK/body" '^outside$'
stop_server
finish
