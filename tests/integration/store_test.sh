#!/usr/bin/env bash
# The registry and the queue from the command line, against the store NETSMITH_TEST_STORE names
# (a postgresql:// URL, else a fresh SQLite file): arch / data / model / job / worker, job wait's
# exit status, cancellation, and workers killed with SIGKILL at random moments, whose job another
# worker resumes, ending with weights byte-identical to `netsmith train` with the same settings.
# usage: store_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/testlib.sh"

if [ -n "${NETSMITH_TEST_STORE-}" ]; then
    export NETSMITH_STORE=$NETSMITH_TEST_STORE
    psql -q -d "$NETSMITH_STORE" -c 'DROP TABLE IF EXISTS trials, studies, events, pipelines, aliases, versions, models, datasets,
        archs, jobs, blobs, meta CASCADE' >/dev/null 2>&1
else
    export NETSMITH_STORE=sqlite:$WORK/store.db
fi
st_same() { python3 "$SRC/tools/st_compare.py" "$1" "$2" >/dev/null; }

cat >spec.json <<'EOF'
{"layers": [{"type": "linear", "units": 16}, {"type": "relu"}, {"type": "linear", "units": 1}],
 "training": {"epochs": 12, "batch_size": 16, "learning_rate": 0.01}}
EOF

# ---- the registry ---------------------------------------------------------------------------

run 0 arch add house-mlp spec.json
expect_match "arch add" out '^architecture house-mlp added$'
run 0 arch add house-mlp spec.json # the same again: a no-op
run 0 arch list
expect_match "arch list" out '^house-mlp '
run 0 arch show house-mlp --input-size 13
expect_match "arch show" out '^total parameters: 241'
run 1 arch show house-mpl
expect_match "arch show, a typo" err "no architecture named 'house-mpl' in the store; did you mean 'house-mlp'\?"
echo '{"layers": [{"type": "linear", "unit": 4}]}' >bad.json
run 1 arch add bad bad.json
expect_match "arch add, a bad spec" err 'bad.json: layers\[0\].unit: unknown key'
run 0 data add boston --data boston_housing
run 0 data list
expect_match "data list" out '^boston '
printf 'x1,x2,y\n1,2,3\n4,5,9\n7,8,15\n2,2,4\n3,1,4\n5,5,10\n6,1,7\n8,2,10\n' >tiny.csv
run 0 data add tiny --data tiny.csv --target y
run 0 data show tiny
expect_match "data show: the file is in the store" out '"blob": "[0-9a-f]{64}"'
run 0 model create house --arch house-mlp
run 1 model create house2 --arch nope
expect_match "model create, an unknown architecture" err "no architecture named 'nope'"
run 1 model export house -o x.safetensors
expect_match "model export without versions" err 'has no versions yet'

# ---- a job, run by a worker ---------------------------------------------------------------

run 0 job submit train --model house --data boston --seed 3 --epochs 12 --json
job=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
expect_ne "job submit prints the id" "$job" ""
run 2 job submit train --model house --data boston --epochz 3
run 1 job submit train --model house --data bostn
expect_match "job submit, an unknown dataset" err "did you mean 'boston'"
run 0 job list
expect_match "job list" out "^$job +train +queued"
run 0 worker --once --quiet
run 0 job wait "$job"
expect_match "job wait: succeeded" out "job $job: train, succeeded, epoch 12/12"
run 0 model show house
expect_match "model show: version 1" out '^  1 '
run 0 model export house@1 -o job.safetensors
run 0 train spec.json --data boston_housing --seed 3 --epochs 12 -o ref.safetensors --quiet
if st_same ref.safetensors job.safetensors; then pass; else fail "a job's weights differ from netsmith train's"; fi
run 0 model alias house@1 production
run 0 model export house@production -o prod.safetensors
if cmp -s job.safetensors prod.safetensors; then pass; else fail "@production is not version 1"; fi
run 0 model import house ref.safetensors
expect_match "model import" out 'imported as house@2'

# evaluate, retrain, a job that fails
run 0 job submit evaluate --model house@1 --data boston --json
ev=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
run 0 worker --once --quiet
run 0 job wait "$ev" --json
expect_match "evaluate job: metrics" out '"r2": '
run 0 job retrain "$job"
retrain=$(sed -n 's/^job \([0-9]*\) queued.*/\1/p' out)
run 0 job submit train --model house --data tiny --task regression --epochs 2 --batch-size 4 --split 0.5,0.5 --json
tiny=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
run 0 worker --once --quiet
run 0 job wait "$retrain"
run 0 job wait "$tiny"
run 0 model show house --json
expect_match "four versions" out '"version": 4'

# ---- fine-tune: lineage, frozen layers ------------------------------------------------------

run 0 job submit finetune --from house@1 --to house-ft --data boston --freeze 0 --epochs 2 --json
ft=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
run 0 worker --once --quiet
run 0 job wait "$ft"
expect_match "a fine-tune succeeds" out "job $ft: finetune, succeeded"
run 0 model show house-ft --json
expect_match "a fine-tune's version has its parent" out '"parent": "house@1"'
run 0 model export house-ft -o ft.safetensors
python3 - job.safetensors ft.safetensors >frozen.txt <<'PY'
import json, struct, sys
def tensors(p):
    d = open(p, "rb").read(); n = struct.unpack("<Q", d[:8])[0]; h = json.loads(d[8:8 + n])
    return {k: d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print("frozen" if a["0.weight"] == b["0.weight"] and a["0.bias"] == b["0.bias"] else "moved")
print("trained" if a["2.weight"] != b["2.weight"] else "same")
PY
expect_match "a frozen layer keeps its weights" frozen.txt '^frozen$'
expect_match "the other layers train" frozen.txt '^trained$'
run 1 job submit finetune --from house@9 --to x --data boston
expect_match "fine-tune from a version that is not there" err "model 'house' has no version or alias '9'"

# ---- cancellation reaches a running job ------------------------------------------------------

run 0 job submit train --model house --data boston --seed 5 --epochs 400 --json
long=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
"$NS" worker --once --quiet --lease 1 >worker.out 2>worker.err &
wpid=$!
for _ in $(seq 1 100); do
    "$NS" job show "$long" >show.out 2>&1
    grep -q 'running, epoch [1-9]' show.out && break
    sleep 0.1
done
run 0 job cancel "$long"
wait "$wpid"
run 1 job wait "$long"
expect_match "a cancelled job" out "job $long: train, cancelled"
expect_match "a cancelled job keeps its checkpoint" out 'checkpoint .*"sha256"'
run 0 job retry "$long"
run 0 worker --once
expect_match "a retried job resumes from its checkpoint" err "job $long: resumed from"
run 0 job wait "$long"
expect_match "a retried job succeeds" out "job $long: train, succeeded, epoch 400/400"

# ---- workers killed at random moments ------------------------------------------------------

# kill_round JOB N_WORKERS: starts N workers, kills them all with SIGKILL after a random moment.
kill_round() {
    local pids=()
    for _ in $(seq 1 "$2"); do
        "$NS" worker --quiet --lease 1 --checkpoint-steps 3 >/dev/null 2>&1 &
        pids+=($!)
    done
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
}
for workers in 1 2; do
    run 0 job submit train --model house --data boston --seed 11 --epochs 25 --json
    k=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
    for _ in 1 2 3; do kill_round "$k" "$workers"; done
    sleep 1.2 # the last lease lapses
    run 0 worker --once --quiet --lease 1
    run 0 job wait "$k"
    expect_match "a job after SIGKILLs ($workers workers)" out "job $k: train, succeeded"
    v=$(sed -n 's/.*"version": \([0-9]*\).*/\1/p' out | head -1)
    run 0 model export "house@$v" -o killed-$workers.safetensors
    if [ "$workers" = 1 ]; then
        run 0 train spec.json --data boston_housing --seed 11 --epochs 25 -o ref11.safetensors --quiet
    fi
    if st_same ref11.safetensors killed-$workers.safetensors; then pass; else
        fail "weights after SIGKILLs ($workers workers) differ from an uninterrupted run's"
    fi
done

# ---- a pipeline over the store's models and datasets -------------------------------------------

cat >store-pipe.yaml <<'EOF'
pipeline: from-the-store
cards:
  - id: data
    card: data_load
    with: {dataset: boston}
  - id: model
    card: load_model
    with: {model: house@production}
  - id: eval
    card: evaluate
    in: {model: model.model, dataset: data.dataset}
EOF
run 0 run store-pipe.yaml --store "$NETSMITH_STORE" --show eval
got=$(sed -n 's/^  loss *\([0-9.]*\)$/\1/p' out | tail -1)
run 0 eval job.safetensors --data boston_housing --json
want=$(sed -n 's/.*"loss": \([0-9.e+-]*\).*/\1/p' out)
expect_eq "load_model and data_load from the store score as netsmith eval" "$got" "$(printf '%.4f' "$want")"
run 1 run store-pipe.yaml
expect_match "a store's model without --store" err 'run the pipeline with a store'
sed 's/house@production/house@staging/' store-pipe.yaml >store-pipe2.yaml
run 1 run store-pipe2.yaml --store "$NETSMITH_STORE"
expect_match "an unknown alias in a pipeline" err "no version or alias 'staging'"

# a pipeline as a job
run 0 job submit pipeline --file store-pipe.yaml --json
pj=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
run 0 worker --once --quiet
run 0 job wait "$pj" --json
expect_match "a pipeline job puts its outputs into the store" out '"eval/metrics[^"]*": "[0-9a-f]{64}"'
printf 'pipeline: bad\ncards:\n  - id: a\n    card: data_lod\n' >bad-pipe.yaml
run 1 job submit pipeline --file bad-pipe.yaml
expect_match "a bad pipeline is refused at submission" err "did you mean 'data_load'"

# a dataset a pipeline makes
cat >data-pipe.yaml <<'EOF'
pipeline: wine-train-part
seed: 2
cards:
  - id: load
    card: data_load
    with: {name: wine}
  - id: split
    card: data_split
    in: {dataset: load.dataset}
    with: {train_ratio: 0.8, test_ratio: 0.2, normalize: none}
EOF
printf '{"hidden_layers": [8], "epochs": 2}\n' >wine-spec2.json
run 0 data add wine-part --pipeline data-pipe.yaml --output split.train_dataset
run 0 arch add wine-mlp2 wine-spec2.json
run 0 model create vines --arch wine-mlp2
run 0 job submit train --model vines --data wine-part --epochs 2 --json
wj=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
run 0 worker --once --quiet
run 0 job wait "$wj" --json
expect_match "a job on a dataset a pipeline makes" out '"state": "succeeded"'
run 1 data add wine-bad --pipeline data-pipe.yaml --output split
expect_match "a pipeline dataset needs CARD.PORT" err 'CARD.PORT'

# ---- a remote card: run as a job on a worker, its inputs and outputs through the store -------

cat >remote.yaml <<'EOF'
pipeline: remote-train
seed: 3
cards:
  - id: load
    card: data_load
    with: {name: wine}
  - id: split
    card: data_split
    in: {dataset: load.dataset}
    with: {train_ratio: 0.7, val_ratio: 0.15, test_ratio: 0.15}
  - id: define
    card: model_define
    with: {hidden_layers: [16], activation: relu}
  - id: build
    card: build_model
    in: {model_spec: define.model_spec, input_size: split.input_size}
  - id: train
    card: train
    in: {model: build.model, dataset: split.train_dataset, val_dataset: split.val_dataset}
    with: {epochs: 8, batch_size: 16, execution: remote}
  - id: eval
    card: evaluate
    in: {model: train.model, dataset: split.test_dataset}
EOF
run 0 run remote.yaml --set train.execution=local --show eval
sed -n 's/^  \(loss\|accuracy\) *\([0-9.]*\)$/\1 \2/p' out >local.txt
"$NS" worker --quiet --lease 2 >remote-worker.log 2>&1 &
rw=$!
run 0 run remote.yaml --store "$NETSMITH_STORE" --show eval
kill "$rw" 2>/dev/null
wait "$rw" 2>/dev/null
sed -n 's/^  \(loss\|accuracy\) *\([0-9.]*\)$/\1 \2/p' out >remote.txt
expect_ne "the remote run printed metrics" "$(cat remote.txt)" ""
expect_eq "a remote card gives what it gives locally" "$(cat remote.txt)" "$(cat local.txt)"
run 0 job list --json
expect_match "the remote card ran as a job" out '"kind": "card"'
run 1 run remote.yaml
expect_match "execution: remote without a store" err 'run the pipeline with --store'
sed 's/execution: remote}/execution: remote, device: cuda}/' remote.yaml >remote-cuda.yaml
"$NS" worker --quiet --once >/dev/null 2>&1 # a cpu worker leaves a cuda card alone
run 0 job list --state queued --json
expect_no_match "no cuda card is queued yet" out '"kind": "card"'

# ---- declarative objects ---------------------------------------------------------------------

mkdir -p objs
cp spec.json objs/wine-spec.json
cat >objs/objects.yaml <<'EOF'
- kind: Architecture
  metadata: {name: wine-mlp}
  spec: {file: wine-spec.json}
- kind: Architecture
  metadata: {name: wine-short}
  spec: {hidden_layers: [8], epochs: 2}
- kind: Dataset
  metadata: {name: wine}
  spec: {data: wine}
- kind: Model
  metadata: {name: grapes}
  spec: {arch: wine-short}
- kind: Model
  metadata: {name: house-copy}
  spec: {source: {model: house@1}}
- kind: ModelJob
  metadata: {name: grapes-first}
  spec:
    destinationModel: grapes
    data: wine
    training: {epochs: 2, seed: 1}
EOF
run 0 apply -f objs/objects.yaml
expect_match "apply: an architecture from a file" out '^Architecture +wine-mlp +created$'
expect_match "apply: a model from a model" out '^Model +house-copy +created from a model$'
expect_match "apply: a job" out '^ModelJob +grapes-first +queued as job [0-9]+$'
run 0 apply -f objs/objects.yaml
expect_no_match "apply again changes nothing" out 'created|queued'
expect_match "apply again" out '^ModelJob +grapes-first +unchanged$'
run 0 model show house-copy --json
expect_match "a model from a model: its parent" out '"parent": "house@1"'
cat >objs/bad.yaml <<'EOF'
- kind: Dataset
  metadata: {name: d2}
  spec: {data: iris}
- kind: Modle
  metadata: {name: m2}
  spec: {arch: wine-short}
EOF
run 1 apply -f objs/bad.yaml
expect_match "apply: an unknown kind names the file, line and key" err \
    "objs/bad.yaml:4: \[1\]: unknown kind 'Modle'; did you mean 'Model'\?"
cat >objs/bad2.yaml <<'EOF'
- kind: Model
  metadata: {name: m3}
  spec:
    arch: wine-short
    sorce: {file: x.safetensors}
EOF
run 1 apply -f objs/bad2.yaml
expect_match "apply: an unknown key" err "objs/bad2.yaml:5: \[0\].spec: unknown key 'sorce'; did you mean 'source'\?"
cat >objs/bad3.yaml <<'EOF'
- kind: Model
  metadata: {name: m4}
  spec: {arch: no-such-arch}
EOF
run 1 apply -f objs/bad3.yaml
expect_match "apply: a missing architecture" err "no architecture named 'no-such-arch'"

# ---- a store that another process holds locked loses no job ----------------------------------

if [ -z "${NETSMITH_TEST_STORE-}" ]; then
    before=$("$NS" job list --json | grep -o '"id"' | wc -l)
    python3 - "$WORK/store.db" >lock.out 2>&1 <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(3)
db.execute("ROLLBACK")
PY
    lockpid=$!
    for _ in $(seq 1 50); do grep -q locked lock.out 2>/dev/null && break; sleep 0.1; done
    NETSMITH_STORE_BUSY_MS=300 run 1 job submit train --model house --data boston
    expect_match "a locked store" err 'locked by another process'
    wait "$lockpid"
    run 0 job submit train --model house --data boston --json
    after=$("$NS" job list --json | grep -o '"id"' | wc -l)
    expect_eq "a locked store lost no job and made none twice" "$after" "$((before + 1))"
fi

# ---- a store it cannot use ---------------------------------------------------------------

run 1 job list --store sqlite:/no/such/dir/store.db
expect_match "a store that cannot be opened" err '/no/such/dir/store.db'
run 1 job list --store postgresql://nobody@127.0.0.1:1/none
expect_match "a server that is not there" err 'postgresql'

finish
