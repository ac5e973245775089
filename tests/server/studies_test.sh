#!/usr/bin/env bash
# The tuner's studies over real HTTP: a small study run by `netsmith tune` into the store the
# server uses, then GET /api/v1/studies (its counts adding up, paging and filters) and GET
# /api/v1/studies/{name} (every trial, the counts matching the trials' states, the best trial
# the minimum of the complete values, the importance, the registered model), a 404 with the
# store's message for an unknown study, a 400 for a name no study can have, and the trials'
# job events (kind "trial") on the event stream that the web UI refreshes a study on.
# usage: studies_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

start_server --workers 0

api GET /api/v1/studies >/dev/null
expect_status "no studies yet" 200
expect_eq "an empty list" "$(jq_get .total)" 0

cat >"$WORK/study.yaml" <<'EOF'
study: iris-small
base: {model: {hidden_layers: [8], activation: relu}, data: iris, epochs: 3, batch_size: 16}
objective: {metric: val.loss, direction: minimize}
trials: 4
parallel: 2
sampler: {type: tpe, seed: 1}
pruner: {type: none}
space: {learning_rate: {log_uniform: [1e-3, 1e-1]}, optimizer: {choice: [adam, sgd]}}
EOF
run 0 tune "$WORK/study.yaml" --store "$NETSMITH_STORE"
expect_match "the study ran to its end" out 'study iris-small: complete, 4 trials'

# ---- the list -------------------------------------------------------------------------------
api GET /api/v1/studies >/dev/null
expect_status "list the studies" 200
expect_eq "one study" "$(jq_get .total)" 1
expect_eq "its name" "$(jq_get .items[0].name)" iris-small
expect_eq "its state" "$(jq_get .items[0].state)" complete
expect_eq "its trials" "$(jq_get .items[0].trial_count)" 4
expect_eq "its budget" "$(jq_get .items[0].budget)" 4
expect_eq "its objective" "$(jq_get .items[0].metric) $(jq_get .items[0].direction)" "val.loss minimize"
expect_eq "its sampler and pruner" "$(jq_get .items[0].sampler) $(jq_get .items[0].pruner)" "tpe none"
python3 - "$WORK/body" >"$WORK/check" 2>&1 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["items"][0]
total = sum(s[k] for k in ("complete", "pruned", "paused", "running", "failed"))
assert total == s["trial_count"], (total, s)
assert s["complete"] >= 1, s
assert isinstance(s["best_value"], float) and isinstance(s["best_trial"], int), s
print("ok")
PY
expect_match "the list's counts add up to its trials" "$WORK/check" '^ok$'
api GET '/api/v1/studies?state=complete' >/dev/null
expect_status "filter by state" 200
expect_eq "the complete ones" "$(jq_get .total)" 1
api GET '/api/v1/studies?state=running' >/dev/null
expect_eq "no running ones" "$(jq_get .total)" 0
api GET '/api/v1/studies?limit=x' >/dev/null
expect_status "a bad limit" 400

# ---- one study --------------------------------------------------------------------------------
api GET /api/v1/studies >/dev/null
cp "$WORK/body" "$WORK/list.json"
api GET /api/v1/studies/iris-small >/dev/null
expect_status "get the study" 200
cp "$WORK/body" "$WORK/study.json"
expect_eq "its trial count" "$(jq_get .trial_count)" 4
expect_eq "its definition is the study file" "$(jq_get .definition.study) $(jq_get .definition.trials)" "iris-small 4"
expect_eq "the importance's method" "$(jq_get .importance.method)" fanova
expect_eq "the best trial's model" "$(jq_get .model.name)" iris-small
python3 - "$WORK/study.json" "$WORK/list.json" >"$WORK/check" 2>&1 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
summary = json.load(open(sys.argv[2]))["items"][0]
trials = s["trials"]
assert len(trials) == s["trial_count"] == 4, len(trials)
assert [t["number"] for t in trials] == [0, 1, 2, 3], trials
for k in ("complete", "pruned", "paused", "running", "failed"):
    n = sum(1 for t in trials if t["state"] == k)
    assert n == s[k], (k, n, s[k])
    assert s[k] == summary[k], (k, s[k], summary[k])
jobs = set()
for t in trials:
    assert set(t["params"]) <= {"learning_rate", "optimizer"}, t
    assert 1e-3 <= t["params"]["learning_rate"] <= 1e-1, t
    assert t["params"]["optimizer"] in ("adam", "sgd"), t
    assert isinstance(t["job"], int) and t["job"] not in jobs, t
    jobs.add(t["job"])
    if t["state"] == "complete":
        # no pruner: every complete trial ran its 3 epochs, its value the last one's
        assert len(t["steps"]) == 3 and t["epoch"] == 3, t
        assert all(isinstance(v, float) for v in t["steps"]), t
        assert t["value"] == t["steps"][-1], t
    else:
        assert t["value"] is None, t
done = [t for t in trials if t["state"] == "complete"]
best = min(done, key=lambda t: t["value"])
assert s["best"]["number"] == best["number"] == s["best_trial"], (s["best"], best)
assert s["best"]["value"] == best["value"] == s["best_value"] == summary["best_value"], s["best"]
assert s["best"]["params"] == best["params"] and s["best"]["job"] == best["job"], s["best"]
settings = sorted(i["setting"] for i in s["importance"]["importances"])
assert settings == ["learning_rate", "optimizer"], settings
assert s["importance"]["trials"] == len(done), s["importance"]
assert all(0 <= i["importance"] <= 1 for i in s["importance"]["importances"]), s["importance"]
assert isinstance(s["model"]["version"], int) and s["model"]["version"] >= 1, s["model"]
print("ok", " ".join(str(t["job"]) for t in trials))
PY
expect_match "the trials, counts and best trial agree" "$WORK/check" '^ok'
TRIAL_JOBS=$(sed -n 's/^ok //p' "$WORK/check")
# the best trial's settings are the model's: its version was made by the best trial's job
api GET /api/v1/models/iris-small >/dev/null
expect_status "the study's model" 200
expect_eq "its version is the best trial's job's" "$(jq_get .versions[0].job)" "$(jq_get .best.job "$WORK/study.json")"
raw -I -H "Authorization: Bearer $TOKEN" "$URL/api/v1/studies/iris-small"
expect_status "HEAD of a study" 200

# ---- errors -----------------------------------------------------------------------------------
api GET /api/v1/studies/nope >/dev/null
expect_status "an unknown study" 404
expect_body "the store's message names it" "no study named 'nope'"
expect_eq "the error's code" "$(jq_get .error.code)" not_found
api GET '/api/v1/studies/bad%21name' >/dev/null
expect_status "a name no study can have" 400
expect_body "the message says what a name is" "is not a valid study name"
expect_eq "the error's path" "$(jq_get .error.path)" name
api GET "/api/v1/studies/$(printf 'a%.0s' $(seq 1 65))" >/dev/null
expect_status "a name over 64 characters" 400
api POST /api/v1/studies/iris-small '{}' >/dev/null
expect_status "studies are read only here" 405

# ---- the trials' events -----------------------------------------------------------------------
curl -s -N --max-time 2 -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/events?last_event_id=0&types=job,epoch" >"$WORK/events" 2>/dev/null
python3 - "$WORK/events" $TRIAL_JOBS >"$WORK/check" 2>&1 <<'PY'
import json, sys
jobs = {int(j) for j in sys.argv[2:]}
kinds, epochs = {}, set()
for block in open(sys.argv[1], encoding="utf-8").read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in block.splitlines() if ": " in l and not l.startswith(":"))
    if f.get("event") == "job":
        d = json.loads(f["data"])
        kinds.setdefault(d["job"], set()).add(d["data"].get("kind"))
    elif f.get("event") == "epoch":
        epochs.add(json.loads(f["data"])["job"])
assert jobs <= set(kinds), (jobs, kinds)
assert all(kinds[j] == {"trial"} for j in jobs), kinds
assert jobs <= epochs, (jobs, epochs)
print("ok")
PY
expect_match "each trial's job events say kind trial, with its epochs" "$WORK/check" '^ok$'

stop_server
finish
