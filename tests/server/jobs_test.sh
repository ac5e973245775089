#!/usr/bin/env bash
# The job routes over real HTTP with the server's own worker: a short training submitted and
# watched to its end (its per-epoch history, the model version it made, whose weights download
# byte for byte as `netsmith model export` writes them), evaluate and fine-tune jobs, the
# version routes (by number and alias, import), the refusals at submission (a bad setting
# named by its path, with the library's did-you-mean), and, on a server without workers, a
# queued job cancelled, retried and retrained.
# usage: jobs_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

# wait_job ID STATE [SECONDS]: polls the job until it is in STATE (fails on another end state
# or after SECONDS, 60 by default); its last view stays in $WORK/body.
wait_job() {
    local id=$1 want=$2 limit=${3:-60} state="" i
    for i in $(seq 1 $((limit * 5))); do
        api GET "/api/v1/jobs/$id" >/dev/null
        state=$(jq_get .state)
        [ "$state" = "$want" ] && { pass; return 0; }
        case $state in succeeded | failed | cancelled) break ;; esac
        sleep 0.2
    done
    fail "job $id: state '$state' (waited for '$want', up to ${limit}s)" "$(jq_get .error)"
    return 1
}

start_server --workers 1

api POST /api/v1/architectures '{"name": "mlp", "spec": {"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]}}' >/dev/null
api POST /api/v1/architectures '{"name": "tiny", "spec": {"layers": [{"type": "linear", "units": 2}]}}' >/dev/null
api POST /api/v1/datasets '{"name": "iris", "data": "iris"}' >/dev/null
expect_status "register iris" 201
api POST /api/v1/models '{"name": "m", "architecture": "mlp"}' >/dev/null
expect_status "a model" 201
api POST /api/v1/models '{"name": "other", "architecture": "tiny"}' >/dev/null

# ---- submission's refusals ----------------------------------------------------------------
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": {"epochz": 3}}' >/dev/null
expect_status "a bad setting name" 400
expect_eq "a bad setting name: its path" "$(jq_get .error.path)" settings.epochz
expect_body "a bad setting name: did you mean" "did you mean 'epochs'"
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": {"epochs": 0}}' >/dev/null
expect_status "a bad setting value" 400
expect_eq "a bad setting value: its path" "$(jq_get .error.path)" settings.epochs
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": {"output": "x.safetensors"}}' >/dev/null
expect_status "a setting the job sets itself" 400
expect_body "a setting the job sets itself: says so" "set by the job itself"
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": [1]}' >/dev/null
expect_status "settings that are no object" 400
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "priority": "high"}' >/dev/null
expect_status "a bad priority" 400
expect_eq "a bad priority: its path" "$(jq_get .error.path)" priority
api POST /api/v1/jobs '{"kind": "train", "modle": "m", "dataset": "iris"}' >/dev/null
expect_status "an unknown key" 400
expect_eq "an unknown key: its path" "$(jq_get .error.path)" modle
expect_body "an unknown key: did you mean" "did you mean 'model'"
api POST /api/v1/jobs '{"kind": "train", "model": "m"}' >/dev/null
expect_status "no dataset" 400
expect_eq "no dataset: its path" "$(jq_get .error.path)" dataset
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "irsi"}' >/dev/null
expect_status "an unknown dataset" 404
expect_body "an unknown dataset: did you mean" "did you mean 'iris'"
api POST /api/v1/jobs '{"kind": "train", "model": "mm", "dataset": "iris"}' >/dev/null
expect_status "an unknown model" 404
api POST /api/v1/jobs '{"kind": "trian", "model": "m", "dataset": "iris"}' >/dev/null
expect_status "an unknown kind" 400
expect_eq "an unknown kind: its path" "$(jq_get .error.path)" kind
api POST /api/v1/jobs '{"kind": "card", "card": "x"}' >/dev/null
expect_status "a card job" 400
api POST /api/v1/jobs '{"model": "m", "dataset": "iris"}' >/dev/null
expect_status "no kind" 400
api POST /api/v1/jobs '{"kind": "pipeline"}' >/dev/null
expect_status "a pipeline job without a pipeline" 400
api POST /api/v1/jobs '{"kind": "train", ' >/dev/null
expect_status "bad JSON" 400
api POST /api/v1/jobs 'kind=train' 'application/x-www-form-urlencoded' >/dev/null
expect_status "not JSON" 415

# ---- a training, watched to its end ---------------------------------------------------------
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": {"epochs": 3, "batch_size": 16}}' >/dev/null
expect_status "submit a training" 201
train=$(jq_get .id)
expect_match "the job has a number" "$WORK/status" '^201$'
expect_eq "it is queued" "$(jq_get .state)" queued
expect_eq "its settings are the run config's" "$(jq_get .params.config.epochs)" 3
wait_job "$train" succeeded
expect_eq "3 epochs of history" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["history"]))' "$WORK/body")" 3
expect_eq "epoch of epochs" "$(jq_get .epoch)/$(jq_get .epochs)" 3/3
expect_eq "its progress" "$(jq_get .progress)" 1.0
expect_eq "the version it made" "$(jq_get .result.version)" 1
expect_eq "an epoch's metrics" "$(jq_get .history[0].epoch)" 1

api GET /api/v1/models/m >/dev/null
expect_status "the model" 200
expect_eq "a version appears" "$(jq_get .versions[0].version)" 1
expect_eq "made by the job" "$(jq_get .versions[0].job)" "$train"
expect_eq "no lineage for a trained version" "$(jq_get .versions[0].lineage)" "[]"
expect_eq "a classifier's version has its test part's confusion matrix, one count per row" \
    "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["versions"][0]["metrics"]; c=m["confusion_matrix"]; print(len(c), len(c[0]), sum(map(sum, c)) == m["n"])' "$WORK/body")" "3 3 True"
api GET /api/v1/models/m/versions/1 >/dev/null
expect_status "the version" 200
expect_eq "the version's model" "$(jq_get .model)" m

raw -D "$WORK/headers" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/models/m/versions/1/file"
expect_status "the version's weights" 200
cp "$WORK/body" "$WORK/downloaded.safetensors"
expect_match "the weights' media type" "$WORK/headers" '^Content-Type: application/octet-stream'
expect_match "the weights' file name" "$WORK/headers" 'filename="m-v1.safetensors"'
run 0 model export m@1 -o "$WORK/exported.safetensors"
if cmp -s "$WORK/downloaded.safetensors" "$WORK/exported.safetensors"; then pass; else
    fail "the download differs from netsmith model export"; fi

# aliases
api POST /api/v1/models/m/aliases '{"alias": "prod", "version": 1}' >/dev/null
expect_status "an alias" 200
expect_eq "the model's aliases" "$(jq_get .aliases.prod)" 1
expect_eq "the version's aliases" "$(jq_get .versions[0].aliases)" '["prod"]'
api GET /api/v1/models/m/versions/prod >/dev/null
expect_status "a version by its alias" 200
expect_eq "the alias's version" "$(jq_get .version)" 1
api POST /api/v1/models/m/aliases '{"alias": "7", "version": "prod"}' >/dev/null
expect_status "a number as alias" 400
api POST /api/v1/models/m/aliases '{"alias": "latest", "version": 9}' >/dev/null
expect_status "an alias of a missing version" 404

# import: the downloaded weights again, as a version of a model of the same architecture
api POST /api/v1/models '{"name": "copy", "architecture": "mlp"}' >/dev/null
raw -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/octet-stream" \
    --data-binary "@$WORK/downloaded.safetensors" "$URL/api/v1/models/copy/versions"
expect_status "import a version" 201
expect_eq "the imported version" "$(jq_get .version)" 1
expect_eq "an imported version has no job" "$(jq_get .job)" null
raw -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/octet-stream" \
    --data-binary "@$WORK/downloaded.safetensors" "$URL/api/v1/models/other/versions"
expect_status "weights that do not fit the architecture" 400

# ---- evaluate and fine-tune -----------------------------------------------------------------
api POST /api/v1/jobs '{"kind": "evaluate", "model": "m@prod", "dataset": "iris"}' >/dev/null
expect_status "submit an evaluation" 201
evaluate=$(jq_get .id)
api POST /api/v1/jobs '{"kind": "evaluate", "model": "m@9", "dataset": "iris"}' >/dev/null
expect_status "an evaluation of a missing version" 404
api POST /api/v1/jobs '{"kind": "evaluate", "model": "m", "dataset": "iris", "settings": {}}' >/dev/null
expect_status "an evaluation takes no settings" 400
api POST /api/v1/jobs '{"kind": "finetune", "from": "m@1", "to": "m2", "dataset": "iris", "freeze": [0], "settings": {"epochs": 2}, "priority": 5}' >/dev/null
expect_status "submit a fine-tune" 201
finetune=$(jq_get .id)
expect_eq "its priority" "$(jq_get .priority)" 5
api POST /api/v1/jobs '{"kind": "finetune", "from": "m@1", "to": "other", "dataset": "iris"}' >/dev/null
expect_status "a fine-tune into a model of another architecture" 409
api POST /api/v1/jobs '{"kind": "finetune", "from": "m@1", "to": "m3", "dataset": "iris", "settings": {"epochz": 1}}' >/dev/null
expect_status "a fine-tune with a bad setting" 400
expect_eq "a fine-tune's bad setting: its path" "$(jq_get .error.path)" settings.epochz
api POST /api/v1/jobs '{"kind": "finetune", "to": "m3", "dataset": "iris"}' >/dev/null
expect_status "a fine-tune without a source" 400
expect_eq "a fine-tune without a source: its path" "$(jq_get .error.path)" from
wait_job "$evaluate" succeeded
wait_job "$finetune" succeeded
api GET /api/v1/models/m2 >/dev/null
expect_eq "the fine-tuned version's parent" "$(jq_get .versions[0].parent)" m@1
expect_eq "its lineage" "$(jq_get .versions[0].lineage)" '["m@1"]'

api GET /api/v1/jobs >/dev/null
expect_status "list jobs" 200
expect_eq "every job" "$(jq_get .total)" 3
expect_eq "newest first" "$(jq_get .items[0].id)" "$finetune"
api GET '/api/v1/jobs?state=succeeded&kind=train' >/dev/null
expect_eq "filtered by state and kind" "$(jq_get .total)" 1
api GET '/api/v1/jobs?colour=red' >/dev/null
expect_status "a filter on a member jobs lack" 400
api GET /api/v1/jobs/abc >/dev/null
expect_status "a job that is no number" 400
expect_eq "a job that is no number: its path" "$(jq_get .error.path)" id
api GET /api/v1/jobs/0 >/dev/null
expect_status "job 0" 400
api GET /api/v1/jobs/99999 >/dev/null
expect_status "an unknown job" 404

api POST "/api/v1/jobs/$train/cancel" >/dev/null
expect_status "cancel a finished job" 409
api POST "/api/v1/jobs/$train/retry" >/dev/null
expect_status "retry a succeeded job" 409

# ---- without workers: a queued job cancelled, retried, retrained ------------------------------
stop_server
PORT=
start_server --workers 0
api POST /api/v1/jobs '{"kind": "train", "model": "m", "dataset": "iris", "settings": {"epochs": 2}}' >/dev/null
queued=$(jq_get .id)
api POST "/api/v1/jobs/$queued/cancel" >/dev/null
expect_status "cancel a queued job" 200
expect_eq "it is cancelled" "$(jq_get .state)" cancelled
api POST "/api/v1/jobs/$queued/cancel" >/dev/null
expect_status "cancel it again" 409
api POST "/api/v1/jobs/$queued/retry" >/dev/null
expect_status "retry the cancelled job" 200
expect_eq "it is queued again" "$(jq_get .state)" queued
api POST "/api/v1/jobs/$queued/retry" >/dev/null
expect_status "retry a queued job" 409
api POST /api/v1/jobs/99999/cancel >/dev/null
expect_status "cancel an unknown job" 404
api POST /api/v1/jobs/x/cancel >/dev/null
expect_status "cancel a job that is no number" 400
api POST /api/v1/jobs/99999/retry >/dev/null
expect_status "retry an unknown job" 404
api POST /api/v1/jobs/x/retry >/dev/null
expect_status "retry a job that is no number" 400

api POST "/api/v1/jobs/$train/retrain" >/dev/null
expect_status "retrain a finished job" 201
expect_eq "a new job" "$(jq_get .kind)/$(jq_get .state)" train/queued
expect_ne "with a new number" "$(jq_get .id)" "$train"
api POST "/api/v1/jobs/$train/retrain" '{"from_weights": true}' >/dev/null
expect_status "retrain from the weights it made" 201
expect_eq "a fine-tune of its version" "$(jq_get .kind)/$(jq_get .params.from)" finetune/m@1
api POST "/api/v1/jobs/$queued/retrain" '{"from_weights": true}' >/dev/null
expect_status "retrain from the weights of a job that made none" 409
api POST "/api/v1/jobs/$train/retrain" '{"from_weights": "yes"}' >/dev/null
expect_status "a from_weights that is no boolean" 400
api POST "/api/v1/jobs/$train/retrain" '{"from_weight": true}' >/dev/null
expect_status "retrain with an unknown key" 400
api POST "/api/v1/jobs/$train/retrain" 'from_weights=1' 'application/x-www-form-urlencoded' >/dev/null
expect_status "retrain with a body that is not JSON" 415
api POST /api/v1/jobs/99999/retrain >/dev/null
expect_status "retrain an unknown job" 404
api POST /api/v1/jobs/x/retrain >/dev/null
expect_status "retrain a job that is no number" 400
stop_server
finish
