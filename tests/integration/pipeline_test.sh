#!/usr/bin/env bash
# Pipelines from the command line: every example checks; the small ones run; the step-by-step
# Boston pipeline and the Train-card one give the same weights, at any --threads; and the same
# training with every step card run in its own process through `netsmith card` gives them too.
# usage: pipeline_test.sh NETSMITH SOURCE_DIR
set -u
ns=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# 1. Every example pipeline is valid.
for f in "$src"/examples/pipelines/*.yaml; do
    if "$ns" run --check "$f" >/dev/null; then ok; else bad "check $f"; fi
done

# 2. The small ones run; steps and Train card agree bit for bit.
cd "$work"
EPOCHS=${EPOCHS:-10}
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=$EPOCHS \
    --set save.path="$work/steps.safetensors" --show eval >"$work/steps.txt" \
    && ok || bad "run boston_steps"
"$ns" run "$src/examples/pipelines/boston_train.yaml" -q --set train.epochs=$EPOCHS \
    --set save.path="$work/train.safetensors" --show eval >"$work/train.txt" \
    && ok || bad "run boston_train"
cmp -s "$work/steps.safetensors" "$work/train.safetensors" && ok \
    || bad "step cards and the Train card gave different weights"
cmp -s "$work/steps.txt" "$work/train.txt" && ok || bad "different test metrics"
# --threads: the pipeline's cards run on the context's pool; the weights stay the same
"$ns" run "$src/examples/pipelines/boston_train.yaml" -q --set train.epochs=$EPOCHS --threads 2 \
    --set save.path="$work/train2.safetensors" && ok || bad "run boston_train --threads 2"
cmp -s "$work/train2.safetensors" "$work/train.safetensors" && ok \
    || bad "run --threads 2 gave other weights"
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 --threads 3 \
    --set save.path="$work/steps3.safetensors" && ok || bad "run boston_steps --threads 3"
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 --threads 1 \
    --set save.path="$work/steps1.safetensors" && ok || bad "run boston_steps --threads 1"
cmp -s "$work/steps1.safetensors" "$work/steps3.safetensors" && ok \
    || bad "run --threads 1 and --threads 3 gave other weights"
out=$("$ns" run "$src/examples/pipelines/wine.yaml" --threads 0 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "^netsmith run: --threads: expected an integer" && ok \
    || bad "run --threads 0: $out"
out=$("$ns" card forward --out "$work/x" --threads x 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "^netsmith card: --threads: expected an integer" && ok \
    || bad "card --threads x: $out"
grep -q "rmse" "$work/steps.txt" && ok || bad "--show eval printed no metrics"
"$ns" run "$src/examples/pipelines/wine.yaml" -q --set save.path="$work/wine.safetensors" \
    --show eval.metrics >"$work/wine.txt" && ok || bad "run wine"
grep -q "accuracy" "$work/wine.txt" && ok || bad "wine: no accuracy shown"
# the saved model predicts from raw data (its normalisation travels with it)
"$ns" predict "$work/wine.safetensors" --data wine -o "$work/wine_pred.csv" >/dev/null 2>&1 \
    && ok || bad "predict with a pipeline model"

# Nested loops (epochs, then batches, with an evaluation per epoch) equal the Train card.
cat >"$work/nested.yaml" <<'YAML'
pipeline: nested
cards:
  - {id: load, card: data_load, with: {name: boston_housing}}
  - {id: split, card: data_split, in: {dataset: load.dataset}}
  - {id: define, card: model_define, with: {hidden_layers: [32], dropout: 0.2}}
  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: split.input_size}}
  - {id: optim, card: init_optimizer, in: {model: build.model}}
  - id: outer
    card: loop
    with: {over: epochs, epochs: 3}
    in: {dataset: split.train_dataset, model: build.model, optimizer: optim.optimizer, test: split.test_dataset}
    cards:
      - id: inner
        card: loop
        with: {over: batches, batch_size: 32}
        in: {epoch: outer.epoch, dataset: outer.dataset, model: outer.model, optimizer: outer.optimizer}
        cards:
          - {id: batch, card: prepare_batch, in: {dataset: inner.dataset, batch_index: inner.batch_index}}
          - {id: zero, card: zero_grad, in: {optimizer: inner.optimizer}}
          - {id: fwd, card: forward, in: {model: inner.model, batch_data: batch.batch_data}}
          - {id: loss, card: calculate_loss, in: {predictions: fwd.predictions, batch_data: batch.batch_data}}
          - {id: bwd, card: backward, in: {loss: loss.loss, model: fwd.model}}
          - {id: step, card: optimizer_step, in: {optimizer: zero.optimizer, model: bwd.model}}
      - {id: ev, card: evaluate, in: {model: inner.model, dataset: outer.test}}
  - {id: save, card: save_model, in: {model: outer.model}, with: {path: nested.safetensors}}
YAML
cat >"$work/flat.yaml" <<'YAML'
pipeline: flat
cards:
  - {id: load, card: data_load, with: {name: boston_housing}}
  - {id: split, card: data_split, in: {dataset: load.dataset}}
  - {id: define, card: model_define, with: {hidden_layers: [32], dropout: 0.2}}
  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: split.input_size}}
  - {id: train, card: train, in: {model: build.model, dataset: split.train_dataset}, with: {epochs: 3}}
  - {id: save, card: save_model, in: {model: train.model}, with: {path: flat.safetensors}}
YAML
"$ns" run "$work/nested.yaml" -q && "$ns" run "$work/flat.yaml" -q && ok || bad "nested loops run"
cmp -s "$work/nested.safetensors" "$work/flat.safetensors" && ok \
    || bad "nested loops gave other weights than the Train card"

# 3. Restart from a card with --state / --from gives the same result.
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 \
    --state "$work/st" --set save.path="$work/inproc.safetensors" && ok || bad "run --state"
for f in load/dataset.safetensors norm/train_dataset.safetensors build/model.safetensors \
    optim/optimizer.safetensors optim/optimizer.model.safetensors epochs/outputs.json \
    eval/metrics.json save/file.json; do
    [ -f "$work/st/$f" ] && ok || bad "--state did not write $f"
done
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 \
    --state "$work/st" --from save --set save.path="$work/from.safetensors" \
    && ok || bad "run --from save"
cmp -s "$work/inproc.safetensors" "$work/from.safetensors" && ok || bad "--from changed the model"
out=$("$ns" run "$src/examples/pipelines/boston_steps.yaml" --from fwd --state "$work/st" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "inside loop 'epochs'" && ok || bad "--from an inner card: $out"

# 4. Every step card in its own process, wired by files, as the loop would: 2 epochs (some
# cards at other thread counts than the run's default).
# the states before the loop, from a 2-epoch run (its weights are the reference)
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 \
    --state "$work/st2" --set save.path="$work/inproc2.safetensors" || bad "run --state st2"
rows=$("$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=2 \
    --state "$work/st2" --from save --set save.path="$work/x.safetensors" \
    --show norm.train_dataset | awk '/^dataset/ {print $3}')
batches=$(( (${rows:-0} + 31) / 32 ))
[ "$batches" -gt 1 ] && ok || bad "could not read the training rows (${rows:-none})"
ds="$work/st2/norm/train_dataset.safetensors"
opt="$work/st2/optim/optimizer.safetensors"
model="$work/st2/optim/optimizer.model.safetensors"
d="$work/proc"
step=0
for epoch in 0 1; do
    for ((i = 0; i < batches; i++)); do
        s="$d/$step"
        mkdir -p "$s"
        printf '{"epoch": %d, "index": %d, "batches": %d, "batch_size": 32, "shuffle": true, "drop_last": false, "seed": "0"}\n' \
            "$epoch" "$i" "$batches" >"$s/pos.json"
        "$ns" card prepare_batch --in dataset="$ds" --in batch_index="$s/pos.json" --out "$s/batch" &&
        "$ns" card zero_grad --in optimizer="$opt" --out "$s/zero" &&
        "$ns" card forward --in model="$s/zero/optimizer.model.safetensors" --threads 3 \
            --in batch_data="$s/batch/batch_data.safetensors" --out "$s/fwd" &&
        "$ns" card calculate_loss --in predictions="$s/fwd/predictions.safetensors" \
            --in batch_data="$s/batch/batch_data.safetensors" --set loss_type=mse --out "$s/loss" &&
        "$ns" card backward --in loss="$s/loss/loss.safetensors" \
            --in model="$s/fwd/model.safetensors" --out "$s/bwd" &&
        "$ns" card optimizer_step --in optimizer="$s/zero/optimizer.safetensors" --threads 1 \
            --in model="$s/bwd/model.safetensors" --set gradient_clip=1.0 --out "$s/step" \
            || { bad "card process chain at epoch $epoch batch $i"; break 2; }
        opt="$s/step/optimizer.safetensors"
        model="$s/step/model.safetensors"
        step=$((step + 1))
    done
done
"$ns" card save_model --in model="$model" --in dataset="$ds" \
    --set path="$work/proc.safetensors" --out "$d/save" && ok || bad "card save_model"
cmp -s "$work/proc.safetensors" "$work/inproc2.safetensors" && ok \
    || bad "step cards in separate processes gave different weights from one process"
[ -f "$d/save/outputs.json" ] && ok || bad "card wrote no outputs.json"

# Ctrl-C cancels a run between steps; the cards finished before keep their outputs.
"$ns" run "$src/examples/pipelines/boston_steps.yaml" -q --set epochs.epochs=1000000 \
    --state "$work/sig" >"$work/sig.txt" 2>&1 &
pid=$!
sleep 1
kill -INT $pid
wait $pid
rc=$?
[ $rc = 1 ] && grep -q "cancelled" "$work/sig.txt" && [ -f "$work/sig/optim/outputs.json" ] \
    && ok || bad "Ctrl-C: rc $rc, $(cat "$work/sig.txt")"

# 5. Bad input from the command line.
out=$("$ns" card forward --out "$work/x" 2>&1); [ $? = 1 ] && echo "$out" | grep -q "needs --in model=FILE" \
    && ok || bad "card without inputs: $out"
out=$("$ns" card frward --out "$work/x" 2>&1); echo "$out" | grep -q "did you mean 'forward'" \
    && ok || bad "card typo: $out"
out=$("$ns" card loop --out "$work/x" 2>&1); echo "$out" | grep -q "only inside a pipeline" \
    && ok || bad "card loop: $out"
printf 'pipeline: x\ncards:\n  - id: a\n    card: data_lod\n' >"$work/bad.yaml"
out=$("$ns" run --check "$work/bad.yaml" 2>&1); [ $? = 1 ] && echo "$out" | grep -q "bad.yaml:4: .*data_lod.*did you mean 'data_load'" \
    && ok || bad "check bad file: $out"
out=$("$ns" run "$src/examples/pipelines/wine.yaml" --set nope.x=1 2>&1)
echo "$out" | grep -q "has no card 'nope'" && ok || bad "--set unknown card: $out"
"$ns" cards >"$work/cards.txt" && grep -q "^optimizer_step" "$work/cards.txt" && ok || bad "cards"
"$ns" cards --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["cards"]) >= 17' \
    && ok || bad "cards --json"

# a model file brought into a pipeline: load_model then evaluate scores as netsmith eval does
mkdir -p "$work/lm"
"$ns" train mlp --data wine --epochs 5 --seed 1 -o "$work/lm/wine.safetensors" --quiet >/dev/null 2>&1 \
    && ok || bad "train for load_model"
printf 'pipeline: lm\ncards:\n  - id: data\n    card: data_load\n    with: {name: wine}\n  - id: model\n    card: load_model\n    with: {path: wine.safetensors}\n  - id: eval\n    card: evaluate\n    in: {model: model.model, dataset: data.dataset}\n' >"$work/lm/lm.yaml"
want=$("$ns" eval "$work/lm/wine.safetensors" --data wine --json | sed -n 's/.*"loss": \([0-9.e-]*\).*/\1/p')
got=$("$ns" run "$work/lm/lm.yaml" --show eval 2>&1 | sed -n 's/^  loss *\([0-9.]*\)$/\1/p' | tail -1)
[ -n "$want" ] && [ "$(printf '%.4f' "$want")" = "$got" ] && ok || bad "load_model + evaluate: $got, netsmith eval: $want"
out=$("$ns" run "$work/lm/lm.yaml" --set model.path=nope.safetensors 2>&1)
echo "$out" | grep -q "nope.safetensors" && ok || bad "load_model of a missing file: $out"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
