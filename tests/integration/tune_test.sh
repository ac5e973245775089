#!/usr/bin/env bash
# The tuner from the command line, against the store NETSMITH_TEST_STORE names (a postgresql://
# URL, else a fresh SQLite file): bad study files refused with file, line and key; a study run
# with local workers, read back with study list / show / best, its best model registered;
# resume with a larger budget; trials left to a separate worker process (--remote); and the
# tuner killed with SIGKILL at random moments, then resumed: the counts and the best value
# equal an uninterrupted run's with the same completion order.
# usage: tune_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/testlib.sh"

if [ -n "${NETSMITH_TEST_STORE-}" ]; then
    export NETSMITH_STORE=$NETSMITH_TEST_STORE
    psql -q -d "$NETSMITH_STORE" -c 'DROP TABLE IF EXISTS trials, studies, events, pipelines,
        aliases, versions, models, datasets, archs, jobs, blobs, meta CASCADE' >/dev/null 2>&1
    other() { echo "$NETSMITH_TEST_STORE"; } # one server: the studies' names keep them apart
else
    export NETSMITH_STORE=sqlite:$WORK/store.db
    other() { echo "sqlite:$WORK/$1.db"; }
fi

# study NAME TRIALS PARALLEL PRUNER: a small study of an iris MLP
study() {
    cat <<EOF
study: $1
base:
  model: {hidden_layers: [12], activation: relu}
  data: iris
  epochs: 9
  batch_size: 16
  seed: 1
objective: {metric: val.loss, direction: minimize}
trials: $2
parallel: $3
sampler: {type: tpe, seed: 7, startup_trials: 3}
pruner: $4
space:
  learning_rate: {log_uniform: [1e-3, 3e-1]}
  hidden_layers: {choice: [[8], [16, 8]]}
  optimizer: {choice: [adam, sgd]}
  momentum: {uniform: [0.0, 0.9], when: {optimizer: sgd}}
EOF
}

# ---- bad study files ----------------------------------------------------------------------

study bad 4 1 '{type: median}' | sed 's/learning_rate: {log/learnin_rate: {log/' >bad1.yaml
run 1 tune bad1.yaml
expect_match "an unknown setting: file, line and key, with a did-you-mean" err \
    "bad1.yaml:14: space.learnin_rate: unknown setting 'learnin_rate'; .*did you mean 'learning_rate'"
study bad 4 1 '{type: median}' | sed 's/uniform: \[0.0, 0.9\]/uniform: [0.0, 1.5]/' >bad2.yaml
run 1 tune bad2.yaml
expect_match "a range outside the setting's own" err \
    "bad2.yaml:17: space.momentum: \[0, 1.5\] is outside momentum's own range"
study bad 4 1 '{type: median}' | sed 's/\[adam, sgd\]/[adam, sgdd]/' >bad3.yaml
run 1 tune bad3.yaml
expect_match "a choice the setting refuses" err "bad3.yaml:[0-9]+: space.optimizer.choice\[1\]:"
study bad 4 1 '{type: median}' | sed 's/when: {optimizer: sgd}/when: {loss: mse}/' >bad4.yaml
run 1 tune bad4.yaml
expect_match "a condition on a setting outside the space" err "is not a choice listed before momentum"
study bad 4 1 '{type: asha, min_epochs: 9}' >bad5.yaml
run 1 tune bad5.yaml
expect_match "a first rung past the run's end" err "min_epochs 9 must be below the base run's epochs"
study bad 4 1 '{type: median}' | sed 's/val.loss/val.los/' >bad6.yaml
run 1 tune bad6.yaml
expect_match "a metric that is not one" err "bad6.yaml:[0-9]+: objective.metric: 'val.los' is not a metric"
study bad 4 1 '{type: median}' | sed 's/^trials: 4/trails: 4/' >bad7.yaml
run 1 tune bad7.yaml
expect_match "an unknown key" err "bad7.yaml:[0-9]+: study file: unknown key 'trails'; did you mean 'trials'"
run 2 tune
run 2 tune nothing.yaml
expect_match "a study file that is not there" err "no such study file"
run 0 study list
expect_eq "a refused study leaves nothing in the store" "$(wc -l <out)" 1

# ---- a study with local workers -----------------------------------------------------------

# a job of someone else's, queued before the study: the tuner's workers leave it alone
echo '{"layers": [{"type": "linear", "units": 4}, {"type": "relu"}, {"type": "linear", "units": 3}]}' >other.json
run 0 arch add other other.json
run 0 data add iris-data --data iris
run 0 model create other --arch other
run 0 job submit train --model other --data iris-data --epochs 2 --json
other_job=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
study iris 8 2 '{type: asha, min_epochs: 1, reduction_factor: 3}' >iris.yaml
run 0 tune iris.yaml --quiet
expect_match "tune prints the best trial" out '^best: trial [0-9]+, val.loss [0-9.e-]+'
expect_match "the best trial's model is registered" out '^model: iris(-trial-[0-9]+)?@1$'
run 0 job show "$other_job"
expect_match "the tuner's workers run only its trials" out "^job $other_job: train, queued$"
expect_match "job show: a queued job has not finished" out 'finished -$'
run 0 worker --once --quiet
run 0 job show "$other_job"
expect_match "a worker of its own runs it" out "^job $other_job: train, succeeded"
run 1 tune iris.yaml
expect_match "a study that exists needs --resume" err "study iris exists in the store already; continue it with --resume"
run 0 study list
expect_match "study list" out '^iris +complete +8 '
run 0 study show iris --json
python3 - out <<'EOF' || fail "study show --json: the counts, the best and the model"
import json, math, sys
s = json.load(open(sys.argv[1]))
t = s["trials"]
assert len(t) == 8 == s["trial_count"], len(t)
assert [x["number"] for x in t] == list(range(8))
assert s["complete"] + s["pruned"] + s["failed"] + s["paused"] + s["running"] == 8
assert s["running"] == 0 and s["paused"] == 0, s
done = [x["value"] for x in t if x["state"] == "complete"]
assert done and s["best"]["value"] == min(done), (done, s["best"])
assert s["best_value"] == min(done)
for x in t:
    assert ("momentum" in x["params"]) == (x["params"]["optimizer"] == "sgd"), x["params"]
    if x["state"] == "complete":
        assert len(x["steps"]) == 9, x
    if x["state"] == "pruned":
        assert 1 <= len(x["steps"]) < 9 and x["epoch"] in (1, 3), x
assert s["importance"]["method"] == "fanova"
assert s["model"]["version"] == 1
assert s["definition"]["sampler"]["type"] == "tpe"
EOF
run 0 study show iris
expect_match "study show: the top trials" out '^top trials:'
expect_match "study show: the history" out '^history \(trial: value, best so far\):'
expect_match "study show: the importance, with its method" out '^setting importance \(fanova over [0-9]+ complete trials\):'
run 0 study best iris
expect_match "study best: the settings" out '"learning_rate": '
run 1 study show irs
expect_match "study show, a typo" err "did you mean 'iris'"
run 0 tune iris.yaml --resume --trials 10 --quiet
run 0 study show iris --json
python3 -c "
import json,sys; s=json.load(open('out')); assert s['trial_count']==10, s['trial_count']
assert s['definition']['trials']==10" || fail "resume with --trials 10 runs two more trials"
sed 's/seed: 7, startup_trials: 3/seed: 8, startup_trials: 3/' iris.yaml >iris-changed.yaml
run 1 tune iris-changed.yaml --resume
expect_match "resume with a changed file is refused" err "study iris in the store was made from another definition"
mkdir -p elsewhere && (cd elsewhere && "$NS" tune ../iris.yaml --resume --quiet >../out 2>../err)
expect_eq "resume of the same file from another directory" "$?" 0
run 0 tune --resume iris --quiet
run 0 study show iris --json
python3 -c "
import json; s=json.load(open('out')); assert s['trial_count']==10, s['trial_count']" ||
    fail "resume of a finished study runs nothing more"

# ---- hyperband and random ---------------------------------------------------------------------

study bands 6 2 '{type: hyperband, min_epochs: 1, reduction_factor: 3}' | sed 's/type: tpe, seed: 7, startup_trials: 3/type: random, seed: 2/' >bands.yaml
run 0 tune bands.yaml --quiet
expect_match "a hyperband study with the random sampler" out '^study bands: complete, 6 trials'
run 0 study show bands
expect_eq "study show: the history has a line per trial" "$(grep -cE '^ +[0-9]+: ' out)" 6
run 0 study show bands --json
python3 -c "
import json; s=json.load(open('out')); st=[t['state'] for t in s['trials']]
assert set(st) <= {'complete', 'pruned'} and 'complete' in st, st
assert s['definition']['pruner'] == {'type': 'hyperband', 'min_epochs': 1, 'reduction_factor': 3}
for t in s['trials']:
    if t['state'] == 'pruned': assert 1 <= t['epoch'] < 9, t" || fail "a hyperband study's trials"

# ---- the examples: the issue's study, and one whose base is a run config file -------------------

for ex in boston-mlp wine-mlp; do
    run 0 tune "$SRC/examples/studies/$ex.yaml" --trials 3 --parallel 1 --quiet
    expect_match "examples/studies/$ex.yaml runs" out "^study $ex: complete, 3 trials"
done
run 0 study show wine-mlp --json
python3 -c "
import json; s=json.load(open('out')); b=s['definition']['base']
assert s['direction']=='maximize', s['direction']
assert b['model']=='mlp' and 'run_dir' not in b and 'output' not in b, b" ||
    fail "a run config file as the base: read in, its run_dir and output left to the trials"

# ---- a paused trial promoted: it goes on from its checkpoint ------------------------------------

# Six learning rates in the grid's order for seed 3 (0.03, 3e-4, 0.01, 1e-3, 1e-4, 3e-3): after
# epoch 1, 0.01 is second of three and pauses; once six trials stand at that rung its place is
# good enough (6 // 3 = 2 may go on), so it is queued again and resumes after epoch 1.
cat >promote.yaml <<'EOF'
study: promote
base: {model: {hidden_layers: [12], activation: relu}, data: iris, epochs: 9, batch_size: 16, seed: 1}
objective: {metric: val.loss}
trials: 6
parallel: 1
sampler: {type: grid, seed: 3}
pruner: {type: asha, min_epochs: 1, reduction_factor: 3}
space:
  learning_rate: {choice: [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]}
EOF
NETSMITH_STORE=$(other promote) run 0 tune promote.yaml
expect_match "the paused trial is promoted" err '^trial 2 promoted: it goes on from its checkpoint$'
NETSMITH_STORE=$(other promote) run 0 study show promote --json
python3 - out <<'EOF' || fail "a promoted trial resumed from its checkpoint: one claim more, no epoch twice"
import json, sys
t = json.load(open(sys.argv[1]))["trials"][2]
assert t["params"] == {"learning_rate": 0.01}, t
assert t["attempts"] == 2 and len(t["steps"]) == 3 and t["epoch"] == 3, t
assert all(v is not None for v in t["steps"]), t
EOF
if [ -n "${NETSMITH_TEST_STORE-}" ]; then
    epochs=$(psql -At -d "$NETSMITH_STORE" -c "SELECT count(*) FROM events WHERE type = 'epoch'
        AND job_id = (SELECT job_id FROM trials WHERE number = 2 AND study_id = (SELECT id FROM
        studies WHERE name = 'promote'))")
else
    epochs=$(python3 -c "
import sqlite3; c = sqlite3.connect('$WORK/promote.db')
print(c.execute('SELECT count(*) FROM events WHERE type = \"epoch\" AND job_id = (SELECT job_id FROM trials WHERE number = 2)').fetchone()[0])")
fi
expect_eq "the promoted trial trained each of its 3 epochs once" "$epochs" 3

# ---- --remote: trials on a separate worker ----------------------------------------------------

study remote 3 1 '{type: none}' >remote.yaml
"$NS" tune remote.yaml --remote --quiet >remote.out 2>remote.err &
tuner=$!
"$NS" worker --quiet --jobs 3 >/dev/null 2>&1
wait $tuner
expect_eq "tune --remote returns when the worker ran every trial" "$?" 0
run 0 study show remote --json
python3 -c "
import json; s=json.load(open('out')); assert s['complete']==3, s" || fail "remote trials complete"

# ---- killed at random moments, then resumed --------------------------------------------------

# One trial at a time, so the completion order is the same: an uninterrupted run's counts and
# best value are the reference.
study calm 8 1 '{type: asha, min_epochs: 1, reduction_factor: 3}' >calm.yaml
NETSMITH_STORE=$(other calm) run 0 tune calm.yaml --quiet
NETSMITH_STORE=$(other calm) run 0 study show calm --json
cp out calm.json
sed 's/^study: calm/study: storm/' calm.yaml >storm.yaml
kills=0
# Odd rounds run the trials on the tuner's own workers, even ones on a worker process beside a
# --remote tuner; both are killed. A dead worker's lease is long (30 s): the resumed tuner
# frees the jobs of this machine's dead workers at once.
for round in 1 2 3 4 5 6 7 8; do
    resume=$([ "$round" = 1 ] || echo --resume)
    pids=()
    if [ $((round % 2)) = 1 ]; then
        NETSMITH_STORE=$(other storm) "$NS" tune storm.yaml $resume --quiet --lease 30 \
            >/dev/null 2>&1 &
        pids+=($!)
    else
        NETSMITH_STORE=$(other storm) "$NS" tune storm.yaml $resume --remote --quiet \
            >/dev/null 2>&1 &
        pids+=($!)
        sleep 0.1
        NETSMITH_STORE=$(other storm) "$NS" worker --quiet --lease 30 >/dev/null 2>&1 &
        pids+=($!)
    fi
    sleep "0.$((RANDOM % 7 + 2))"
    if kill -9 "${pids[@]}" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "${pids[@]}" 2>/dev/null
done
echo "the tuner was killed $kills times"
expect_ne "the tuner was killed at least once" "$kills" 0
NETSMITH_STORE=$(other storm) run 0 tune storm.yaml --resume --quiet
NETSMITH_STORE=$(other storm) run 0 study show storm --json
python3 - calm.json out <<'EOF' || fail "after SIGKILLs and --resume the study equals an uninterrupted run"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("trial_count", "complete", "pruned", "failed", "best_value", "best_trial"):
    assert a[k] == b[k], (k, a[k], b[k])
for x, y in zip(a["trials"], b["trials"]):
    assert x["params"] == y["params"] and x["state"] == y["state"], (x, y)
    assert x["value"] == y["value"] and x["steps"] == y["steps"], (x["number"], x["value"], y["value"])
EOF

finish
