#!/usr/bin/env bash
# Pipelines over real HTTP: the card palette, checking (problems by line and card), saved
# pipelines (save, list, get, update, delete), a saved pipeline run as a job by an in-process
# worker with its card events and card outputs (dataset preview, metrics with the confusion
# matrix, model summary, raw files), and path safety: every card setting that names a file is
# confined to the --data-dir roots ('..', percent-encoded dots, absolute paths and symbolic
# links out are 403, naming the card and setting), and a server without a data dir takes none.
# usage: pipelines_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

DATA=$WORK/data
mkdir -p "$DATA/models" "$WORK/outside"
python3 - "$DATA/small.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("a,b,c,d,label\n")
    for i in range(30):
        k = i % 3
        f.write(f"{k + i * 0.01:.2f},{1 - k * 0.3:.2f},{k * 0.5 + 0.1:.2f},{i % 5 * 0.2:.2f},c{k}\n")
PY
echo "secret,x" >"$WORK/outside/secret.csv"
ln -s "$WORK/outside" "$DATA/outside"     # a directory link out of the data dir
ln -s /etc/passwd "$DATA/passwd.csv"      # a file link out of the data dir

# json_str FILE: the file's text as a JSON string
json_str() { python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }

start_server --workers 1 --data-dir "$DATA"

# ---- the palette ----
api GET /api/v1/cards >/dev/null
expect_status "the card palette" 200
expect_body "the palette holds data_load" '"data_load"'
expect_body "the palette holds train" '"train"'
expect_eq "the palette's wire hints: the library's words for a wrong wire" \
    "$(jq_get .wire_hints.model.model_spec)" "add a build_model card between them"
expect_eq "the palette's wire hints: the cards that make a kind" \
    "$(jq_get .wire_hints.loss.dataset)" "wire an output of kind loss (made by calculate_loss.loss)"

# ---- checking ----
cat >"$WORK/iris.yaml" <<'EOF'
pipeline: iris-small
seed: 1
cards:
  - id: load
    card: data_load
    with: {name: iris}
  - id: split
    card: data_split
    in: {dataset: load.dataset}
    with: {train_ratio: 0.8, test_ratio: 0.2}
  - id: define
    card: model_define
    with: {hidden_layers: [8], activation: relu}
  - id: build
    card: build_model
    in: {model_spec: define.model_spec, input_size: split.input_size}
  - id: train
    card: train
    in: {model: build.model, dataset: split.train_dataset}
    with: {epochs: 3, batch_size: 16}
  - id: eval
    card: evaluate
    in: {model: train.model, dataset: split.test_dataset}
  - id: save
    card: save_model
    in: {model: train.model, dataset: split.train_dataset}
    with: {path: models/iris.safetensors}
  - id: predict
    card: inference
    in: {model: train.model, dataset: split.test_dataset}
    with: {path: preds.csv}
EOF
IRIS=$(json_str "$WORK/iris.yaml")
api POST /api/v1/pipelines/check "{\"pipeline\": $IRIS}" >/dev/null
expect_status "check a good pipeline" 200
expect_eq "check: ok" "$(jq_get .ok)" true
expect_eq "check: the cards in run order" "$(jq_get .cards)" \
    '["load", "split", "define", "build", "train", "eval", "save", "predict"]'

cat >"$WORK/bad.yaml" <<'EOF'
pipeline: bad
cards:
  - id: load
    card: data_load
    with: {name: iris}
  - id: fit
    card: trian
    in: {dataset: load.dataset}
EOF
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/bad.yaml"), \"source\": \"bad.yaml\"}" >/dev/null
expect_status "check an unknown card" 400
expect_body "check: the library's message names file and line" '"message":"bad.yaml:7:'
expect_eq "check: the problem's line" "$(jq_get .problems[0].line)" 7
expect_eq "check: the problem's card" "$(jq_get .problems[0].card)" fit
expect_match "check: the problem's message says what it means" "$WORK/body" "did you mean 'train'"
expect_eq "check: not ok" "$(jq_get .ok)" false

cat >"$WORK/bad2.yaml" <<'EOF'
cards:
  - id: load
    card: data_load
    with: {name: iris, epochs: 3}
EOF
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/bad2.yaml")}" >/dev/null
expect_status "check an unknown setting" 400
expect_eq "check: its line" "$(jq_get .problems[0].line)" 4
expect_eq "check: its card" "$(jq_get .problems[0].card)" load
expect_eq "check: its card type" "$(jq_get .problems[0].card_type)" data_load
api POST /api/v1/pipelines/check '{"pipeline": "cards: [\n  - {id: x"}' >/dev/null
expect_status "check text that is not YAML" 400
expect_eq "check: not YAML has a line" "$(jq_get .problems[0].line)" 2
api POST /api/v1/pipelines/check '{"pipeline": "cards: []", "colour": 1}' >/dev/null
expect_status "check with an unknown key" 400
api POST /api/v1/pipelines/check '{}' >/dev/null
expect_status "check without a pipeline" 400
api POST /api/v1/pipelines/check 'pipeline=x' 'application/x-www-form-urlencoded' >/dev/null
expect_status "check a form post" 415
api POST /api/v1/pipelines/check "{\"pipeline\": $IRIS, \"set\": [\"train.epochs=0\"]}" >/dev/null
expect_status "check with a bad override" 400
api POST /api/v1/pipelines/check "{\"pipeline\": $IRIS, \"set\": \"train.epochs=2\"}" >/dev/null
expect_status "check with 'set' not a list" 400

# a file to read in the data dir: resolved; a missing one: 404
printf 'cards:\n  - id: load\n    card: data_load\n    with: {path: small.csv}\n' >"$WORK/csv.yaml"
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/csv.yaml")}" >/dev/null
expect_status "check a CSV in the data dir" 200
printf 'cards:\n  - id: load\n    card: data_load\n    with: {path: nothing.csv}\n' >"$WORK/nocsv.yaml"
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/nocsv.yaml")}" >/dev/null
expect_status "check a CSV that is not there" 404

# ---- path safety: each path-taking setting, each way out ----
# pipeline_for SETTING PATH: a pipeline whose card c has the setting
pipeline_for() {
    local p=$2
    case $1 in
    data_load.path) printf 'cards:\n  - {id: c, card: data_load, with: {path: "%s"}}\n' "$p" ;;
    data_load.labels) printf 'cards:\n  - {id: c, card: data_load, with: {name: iris, labels: "%s"}}\n' "$p" ;;
    model_define.file) printf 'cards:\n  - {id: c, card: model_define, with: {file: "%s"}}\n' "$p" ;;
    load_model.path) printf 'cards:\n  - {id: c, card: load_model, with: {path: "%s"}}\n' "$p" ;;
    save_model.path | inference.path)
        printf 'cards:\n  - {id: load, card: data_load, with: {name: iris}}\n'
        printf '  - {id: define, card: model_define, with: {hidden_layers: [4]}}\n'
        printf '  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: load.input_size}}\n'
        if [ "$1" = save_model.path ]; then
            printf '  - {id: c, card: save_model, in: {model: build.model}, with: {path: "%s"}}\n' "$p"
        else
            printf '  - {id: c, card: inference, in: {model: build.model, dataset: load.dataset}, with: {path: "%s"}}\n' "$p"
        fi
        ;;
    esac
}
SETTINGS="data_load.path data_load.labels model_define.file load_model.path save_model.path inference.path"
BADS=("../outside/secret.csv" "models/../../outside/secret.csv" "%2e%2e/outside/secret.csv"
    "models/%2E%2E/%2e%2e/x.csv" "$WORK/outside/secret.csv" "/etc/passwd" "outside/secret.csv"
    "passwd.csv" "outside/new.file")
n=0
for setting in $SETTINGS; do
    for bad in "${BADS[@]}"; do
        n=$((n + 1))
        pipeline_for "$setting" "$bad" >"$WORK/p$n.yaml"
    done
done
python3 - "$WORK" "$n" <<'PY'
import json, sys
for i in range(1, int(sys.argv[2]) + 1):
    text = open(f"{sys.argv[1]}/p{i}.yaml").read()
    open(f"{sys.argv[1]}/p{i}.json", "w").write(json.dumps({"pipeline": text}))
PY
n=0
for setting in $SETTINGS; do
    name=${setting#*.}
    for bad in "${BADS[@]}"; do
        n=$((n + 1))
        api POST /api/v1/pipelines/check "$(cat "$WORK/p$n.json")" >/dev/null
        expect_status "$setting = '$bad' is refused" 403
        expect_body "$setting = '$bad': the error names the card and setting" "\"path\":\"c\\.$name\""
        expect_no_match "$setting = '$bad': nothing of the file shows" "$WORK/body" 'root:x|secret,x'
    done
done
expect_body "a symbolic link out: says so" 'symbolic link'
# the same through saving and through a run's overrides
pipeline_for data_load.path "../outside/secret.csv" >"$WORK/p.yaml"
api POST /api/v1/pipelines "{\"name\": \"escape\", \"pipeline\": $(json_str "$WORK/p.yaml")}" >/dev/null
expect_status "saving a pipeline that climbs out" 403
api PUT /api/v1/pipelines/escape "{\"pipeline\": $(json_str "$WORK/p.yaml")}" >/dev/null
expect_status "updating to a pipeline that climbs out (it does not exist either)" 403
api GET /api/v1/pipelines/escape >/dev/null
expect_status "nothing was saved" 404
# a card with execution: remote may name no file from the API
printf 'cards:\n  - {id: c, card: data_load, with: {path: small.csv, execution: remote}}\n' >"$WORK/p.yaml"
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/p.yaml")}" >/dev/null
expect_status "a remote card naming a file" 403
expect_body "a remote card naming a file: says why" 'execution: remote'

# ---- saved pipelines ----
api POST /api/v1/pipelines "{\"name\": \"iris\", \"pipeline\": $IRIS}" >/dev/null
expect_status "save a pipeline" 201
expect_eq "saved: its name" "$(jq_get .name)" iris
HASH1=$(jq_get .hash)
expect_eq "saved: its text" "$(jq_get .text)" "$(cat "$WORK/iris.yaml")"
api POST /api/v1/pipelines "{\"name\": \"iris\", \"pipeline\": $IRIS}" >/dev/null
expect_status "the same again changes nothing" 201
expect_eq "the same again: the same hash" "$(jq_get .hash)" "$HASH1"
printf 'cards:\n  - {id: load, card: data_load, with: {name: wine}}\n' >"$WORK/wine.yaml"
api POST /api/v1/pipelines "{\"name\": \"iris\", \"pipeline\": $(json_str "$WORK/wine.yaml")}" >/dev/null
expect_status "the name with another text" 409
api POST /api/v1/pipelines "{\"name\": \"wine\", \"pipeline\": $(json_str "$WORK/wine.yaml")}" >/dev/null
expect_status "save a second pipeline" 201
WINEHASH=$(jq_get .hash)
api POST /api/v1/pipelines "{\"name\": \"broken\", \"pipeline\": $(json_str "$WORK/bad.yaml")}" >/dev/null
expect_status "save a bad pipeline" 400
expect_eq "save a bad pipeline: its line" "$(jq_get .problems[0].line)" 7
api POST /api/v1/pipelines "{\"name\": \"no/slash\", \"pipeline\": $IRIS}" >/dev/null
expect_status "save under a bad name" 400
api POST /api/v1/pipelines "{\"name\": \"x\"}" >/dev/null
expect_status "save without a text" 400
api POST /api/v1/pipelines 'name=x' 'application/x-www-form-urlencoded' >/dev/null
expect_status "save a form post" 415
api GET /api/v1/pipelines >/dev/null
expect_status "list pipelines" 200
expect_eq "the list's total" "$(jq_get .total)" 2
expect_eq "the list by name" "$(jq_get .items[0].name),$(jq_get .items[1].name)" iris,wine
api GET '/api/v1/pipelines?limit=0' >/dev/null
expect_status "list with a bad limit" 400
api GET /api/v1/pipelines/iris >/dev/null
expect_status "get a pipeline" 200
expect_eq "get: its hash" "$(jq_get .hash)" "$HASH1"
api GET /api/v1/pipelines/wnie >/dev/null
expect_status "get an unknown pipeline" 404
expect_body "get an unknown pipeline: did you mean" "did you mean 'wine'"
printf 'cards:\n  - {id: load, card: data_load, with: {name: breast_cancer}}\n' >"$WORK/bc.yaml"
api PUT /api/v1/pipelines/wine "{\"pipeline\": $(json_str "$WORK/bc.yaml")}" >/dev/null
expect_status "update a pipeline" 200
expect_body "update: the new text" 'breast_cancer'
expect_ne "update: a new hash" "$(jq_get .hash)" "$WINEHASH"
api PUT /api/v1/pipelines/nothing "{\"pipeline\": $(json_str "$WORK/bc.yaml")}" >/dev/null
expect_status "update an unknown pipeline" 404
api PUT /api/v1/pipelines/wine "{\"pipeline\": $(json_str "$WORK/bad.yaml")}" >/dev/null
expect_status "update to a bad pipeline" 400
api PUT /api/v1/pipelines/wine 'x' 'text/plain' >/dev/null
expect_status "update with a text body" 415
api DELETE /api/v1/pipelines/wine >/dev/null
expect_status "delete a pipeline" 204
api DELETE /api/v1/pipelines/wine >/dev/null
expect_status "delete it again" 404
api GET /api/v1/pipelines >/dev/null
expect_eq "one pipeline left" "$(jq_get .total)" 1

# ---- running a saved pipeline ----
api POST /api/v1/pipelines/nothing/run '{}' >/dev/null
expect_status "run an unknown pipeline" 404
api POST /api/v1/pipelines/iris/run '{"set": ["train.epochs=0"]}' >/dev/null
expect_status "run with a bad override" 400
api POST /api/v1/pipelines/iris/run '{"set": ["save.path=../outside/model.safetensors"]}' >/dev/null
expect_status "run with an override that climbs out" 403
expect_eq "run with an override that climbs out: names it" "$(jq_get .error.path)" save.path
api POST /api/v1/pipelines/iris/run '{"set": ["save.path=/tmp/x.safetensors"]}' >/dev/null
expect_status "run with an absolute override" 403
api POST /api/v1/pipelines/iris/run '{"colour": 1}' >/dev/null
expect_status "run with an unknown key" 400
api POST /api/v1/pipelines/iris/run '{"priority": "high"}' >/dev/null
expect_status "run with a bad priority" 400
api POST /api/v1/pipelines/iris/run 'x' 'text/plain' >/dev/null
expect_status "run with a text body" 415
api POST /api/v1/pipelines/iris/run '{"set": ["train.epochs=4"], "priority": 5}' >/dev/null
expect_status "run a saved pipeline" 201
JOB=$(jq_get .id)
expect_eq "the job's kind" "$(jq_get .kind)" pipeline
expect_eq "the job's priority" "$(jq_get .priority)" 5
expect_match "the job runs with the data dir's absolute paths" "$WORK/body" "save.path=\\\\\"$DATA/models/iris.safetensors"

state=""
for i in $(seq 1 300); do
    state=$("$NS" job show "$JOB" 2>/dev/null | head -1 | sed -n 's/^job [0-9]*: pipeline, //p')
    case $state in succeeded | failed | cancelled) break ;; esac
    sleep 0.2
done
expect_eq "the pipeline job succeeds" "$state" succeeded
[ "$state" = succeeded ] || "$NS" job show "$JOB" >&2
expect_eq "save_model wrote into the data dir" "$(test -s "$DATA/models/iris.safetensors" && echo yes)" yes
expect_eq "inference wrote into the data dir" "$(test -s "$DATA/preds.csv" && echo yes)" yes

# its card events
curl -s -N --max-time 3 -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/events?job=$JOB&last_event_id=0" >"$WORK/events" 2>/dev/null
expect_match "the job's card events" "$WORK/events" '^event: card$'
expect_match "a card event names the card" "$WORK/events" '"id":"train"'
expect_match "a card finished" "$WORK/events" '"event":"finished"'

# its outputs
api GET "/api/v1/jobs/$JOB/outputs" >/dev/null
expect_status "the job's outputs" 200
expect_body "the outputs hold the eval card" '"card":"eval"'
expect_body "the outputs name the kinds" '"kind":"metrics"'
api GET "/api/v1/jobs/$JOB/outputs/load" >/dev/null
expect_status "a dataset's preview" 200
expect_eq "the preview's rows" "$(jq_get .outputs[0].dataset.rows)" 150
expect_eq "the preview's features" "$(jq_get .outputs[0].dataset.features)" 4
expect_eq "the preview's first rows" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["outputs"][0]["dataset"]["head"]))' "$WORK/body")" 5
expect_body "the preview's class names" '"class_names":\["[^"]+"'
api GET "/api/v1/jobs/$JOB/outputs/eval" >/dev/null
expect_status "metrics" 200
expect_body "metrics with accuracy" '"accuracy"'
expect_body "metrics with the confusion matrix" '"confusion'
api GET "/api/v1/jobs/$JOB/outputs/train" >/dev/null
expect_status "a trained model's summary" 200
expect_body "the model's layers" '"layers":\[\{"index":0,"kind":"linear"'
expect_body "the model's parameters" '"params":[0-9]+'
expect_body "the training history" '"kind":"history"'
api GET "/api/v1/jobs/$JOB/outputs/trian" >/dev/null
expect_status "an unknown card's outputs" 404
api GET "/api/v1/jobs/$JOB/outputs/eval/metrics.json" >/dev/null
expect_status "a raw output file" 200
expect_body "the raw metrics file" '"accuracy"'
api GET "/api/v1/jobs/$JOB/outputs/eval/nothing.json" >/dev/null
expect_status "an unknown file" 404
api GET "/api/v1/jobs/999999/outputs" >/dev/null
expect_status "the outputs of an unknown job" 404
api GET "/api/v1/jobs/999999/outputs/eval" >/dev/null
expect_status "a card of an unknown job" 404
api GET "/api/v1/jobs/999999/outputs/eval/metrics.json" >/dev/null
expect_status "a file of an unknown job" 404
api GET "/api/v1/jobs/abc/outputs" >/dev/null
expect_status "a job id that is not a number" 400
api GET "/api/v1/jobs/abc/outputs/eval" >/dev/null
expect_status "a card of a job id that is not a number" 400
api GET "/api/v1/jobs/abc/outputs/eval/x" >/dev/null
expect_status "a file of a job id that is not a number" 400
"$NS" data add iris --data iris >/dev/null
echo '{"layers": [{"type": "linear", "units": 3}]}' >"$WORK/mlp.json"
"$NS" arch add mlp "$WORK/mlp.json" >/dev/null 2>&1
"$NS" model create m --arch mlp >/dev/null 2>&1
TRAIN=$("$NS" job submit train --model m --data iris --epochs 1 2>/dev/null | grep -o '[0-9]\+' | head -1)
if [ -n "$TRAIN" ]; then
    api GET "/api/v1/jobs/$TRAIN/outputs" >/dev/null
    expect_status "a train job has no card outputs" 400
    api GET "/api/v1/jobs/$TRAIN/outputs/x" >/dev/null
    expect_status "a train job has no card outputs (a card)" 400
    api GET "/api/v1/jobs/$TRAIN/outputs/x/y" >/dev/null
    expect_status "a train job has no card outputs (a file)" 400
fi
# a job that fails (a CSV is no model file): no outputs
printf 'cards:\n  - {id: m, card: load_model, with: {path: small.csv}}\n' >"$WORK/fails.yaml"
api POST /api/v1/pipelines "{\"name\": \"fails\", \"pipeline\": $(json_str "$WORK/fails.yaml")}" >/dev/null
expect_status "save a pipeline that will fail" 201
api POST /api/v1/pipelines/fails/run >/dev/null
expect_status "run it (no body)" 201
FAILED=$(jq_get .id)
for i in $(seq 1 100); do
    state=$("$NS" job show "$FAILED" 2>/dev/null | head -1 | sed -n 's/^job [0-9]*: pipeline, //p')
    case $state in succeeded | failed | cancelled) break ;; esac
    sleep 0.2
done
expect_eq "the job fails" "$state" failed
api GET "/api/v1/jobs/$FAILED/outputs" >/dev/null
expect_status "the outputs of a failed job" 409
api GET "/api/v1/jobs/$FAILED/outputs/m" >/dev/null
expect_status "a card of a failed job" 409
api GET "/api/v1/jobs/$FAILED/outputs/m/model.safetensors" >/dev/null
expect_status "a file of a failed job" 409
stop_server

# ---- a server without a data dir takes no file settings ----
start_server --workers 0
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/csv.yaml")}" >/dev/null
expect_status "no data dir: a file setting" 403
expect_eq "no data dir: the error names the card and setting" "$(jq_get .error.path)" load.path
expect_body "no data dir: says so" 'without --data-dir'
api POST /api/v1/pipelines/iris/run '{}' >/dev/null
expect_status "no data dir: a saved pipeline that writes files" 403
printf 'cards:\n  - {id: load, card: data_load, with: {name: iris}}\n  - {id: s, card: data_load, with: {dataset: iris}}\n' >"$WORK/builtin.yaml"
api POST /api/v1/pipelines/check "{\"pipeline\": $(json_str "$WORK/builtin.yaml")}" >/dev/null
expect_status "no data dir: built-in and store datasets" 200
stop_server
finish
