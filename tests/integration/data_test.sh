#!/usr/bin/env bash
# Integration tests of reading data the way a model was trained: eval and predict pick and
# order columns by the model's feature names, one-hot encode text with its categories, read a
# CSV without the target, and find the target by name; data flags (--one-hot, --exclude,
# --features) and split ratios that must add up to 1. Runs in a temporary directory.
#
# usage: data_test.sh NETSMITH_BINARY SOURCE_DIR
set -u

. "$(dirname "$0")/testlib.sh"

# expect_err REGEX: the one-line message on stderr matches.
expect_err() {
    if [ "$(wc -l <err)" -eq 1 ] && grep -Eq -- "$1" err; then pass; else fail "stderr does not match /$1/" "$(cat err)"; fi
}

same() { cmp -s "$2" "$3" && pass || fail "$1: $2 and $3 differ" "$(diff "$2" "$3" | head)"; }

# ---- training data: numbers and a text column ----------------------------------------------------

awk 'BEGIN { srand(3); print "a,color,b,y";
             split("red green blue", c, " ");
             for (i = 0; i < 120; i++) { a = rand(); b = rand(); k = 1 + int(rand() * 3);
                 printf "%.4f,%s,%.4f,%.4f\n", a, c[k], b, a + 2 * b + k } }' >train.csv
cat >pipe.yaml <<'YAML'
pipeline: onehot
seed: 1
cards:
  - {id: load, card: data_load, with: {path: train.csv, target: y, one_hot: true}}
  - {id: split, card: data_split, in: {dataset: load.dataset}, with: {train_ratio: 0.8, test_ratio: 0.2}}
  - {id: define, card: model_define, with: {hidden_layers: [8]}}
  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: split.input_size}}
  - {id: optim, card: init_optimizer, in: {model: build.model}}
  - id: train
    card: train
    in: {model: build.model, optimizer: optim.optimizer, dataset: split.train_dataset}
    with: {epochs: 3, batch_size: 16}
  - {id: save, card: save_model, in: {model: train.model, dataset: split.train_dataset}, with: {path: m.safetensors}}
YAML
run 0 run pipe.yaml -q
run 0 inspect m.safetensors
grep -q 'netsmith.features' m.safetensors && pass || fail "no netsmith.features in the model file"
grep -q 'column\\":\\"color\\",\\"first\\":1,\\"values\\":\[\\"blue\\",\\"green\\",\\"red\\"\]' \
    m.safetensors && pass \
    || fail "no one-hot categories in the model file"
grep -q 'netsmith.target_columns' m.safetensors && pass || fail "no target columns in the model file"

# the same rows, columns swapped, and without the target: the same predictions
run 0 predict m.safetensors --data train.csv -o p1.csv -q
awk -F, -v OFS=, '{ print $3, $4, $2, $1 }' train.csv >swapped.csv
run 0 predict m.safetensors --data swapped.csv -o p2.csv -q
same "swapped columns" p1.csv p2.csv
cut -d, -f1-3 train.csv >notarget.csv
run 0 predict m.safetensors --data notarget.csv -o p3.csv -q
same "no target column" p1.csv p3.csv
[ "$(wc -l <p1.csv)" -eq 121 ] && pass || fail "predict wrote $(wc -l <p1.csv) lines, expected 121"

# fewer categories encode as in training
grep -v ',blue,' train.csv >fewer.csv
grep -v ',blue,' train.csv | cut -d, -f1-3 >/dev/null
run 0 predict m.safetensors --data fewer.csv -o p4.csv -q
awk -F, 'NR > 1 && $2 != "blue" { n++ } END { print n + 1 }' train.csv >n.txt
[ "$(wc -l <p4.csv)" -eq "$(cat n.txt)" ] && pass || fail "fewer categories: wrong row count"
# an unseen category is refused, naming value and column
sed '3s/,red,/,purple,/; 3s/,green,/,purple,/; 3s/,blue,/,purple,/' train.csv >unseen.csv
run 1 predict m.safetensors --data unseen.csv
expect_err "column 'color' has the value 'purple'.*did not see in training"
# a missing column is named
cut -d, -f2-4 train.csv >missing.csv
run 1 predict m.safetensors --data missing.csv
expect_err "missing.csv has no column 'a' that the model takes"
# eval needs the target and names it
run 1 eval m.safetensors --data notarget.csv
expect_err "has no target column 'y' that the model was trained on"
run 0 eval m.safetensors --data swapped.csv --json
cp out e2.json
run 0 eval m.safetensors --data train.csv --json
same "eval on swapped columns" out e2.json

# ---- several targets: predict without naming them again -------------------------------------------

awk 'BEGIN { srand(5); print "x1,x2,x3,t1,t2";
             for (i = 0; i < 60; i++) { a = rand(); b = rand(); c = rand();
                 printf "%.4f,%.4f,%.4f,%.4f,%.4f\n", a, b, c, a + b, b - c } }' >multi.csv
sed 's/onehot/multi/; s/path: train.csv, target: y, one_hot: true/path: multi.csv, target: "t1,t2"/; s/m.safetensors/multi.safetensors/' \
    pipe.yaml >multi.yaml
run 0 run multi.yaml -q
run 0 predict multi.safetensors --data multi.csv -o pm.csv -q
head -1 pm.csv | grep -q '^row,t1,t2$' && pass || fail "multi-target header: $(head -1 pm.csv)"
cut -d, -f1-3 multi.csv >multi-x.csv
run 0 predict multi.safetensors --data multi-x.csv -o pm2.csv -q
same "multi-target without targets" pm.csv pm2.csv

# ---- classes by name: eval and the Evaluate card agree -----------------------------------------------

run 0 train "$SRC/examples/specs/iris_short.json" --data iris --epochs 3 --seed 1 -o iris.safetensors \
    --quiet --run-dir runs/iris 2>/dev/null || true
if [ -f iris.safetensors ]; then
    grep -v ',setosa$' "$SRC/data/iris.csv" >two.csv
    run 0 eval iris.safetensors --data two.csv --json
    grep -q '"accuracy"' out && pass || fail "eval on two classes printed no accuracy"
    sed 's/versicolor/unknown/' two.csv >odd.csv
    run 1 eval iris.safetensors --data odd.csv
    expect_err "the class 'unknown', which the model does not know"
fi

# ---- data flags ----------------------------------------------------------------------------------

run 1 eval m.safetensors --data train.csv --task sideways
expect_err "^netsmith eval: --task: is 'sideways'; choose one of auto\\|classification\\|regression$"
run 1 eval m.safetensors --data train.csv --missing sometimes
expect_err "^netsmith eval: --missing: is 'sometimes'; choose one of error\\|drop\\|fill_mean$"
run 0 eval m.safetensors --data train.csv --one-hot --exclude b --features a,color,b
sed 's/, one_hot: true//' pipe.yaml >plain.yaml
run 1 run plain.yaml -q
grep -q "one_hot: true" err && grep -q -- "--one-hot" err && pass \
    || fail "the text-column message names neither one_hot: true nor --one-hot" "$(cat err)"

# ---- split ratios must add up to 1 ------------------------------------------------------------------

sed 's/train_ratio: 0.8, test_ratio: 0.2/train_ratio: 0.8, val_ratio: 0.3, test_ratio: 0.2/' pipe.yaml >badsplit.yaml
run 1 run badsplit.yaml -q
grep -q "add up to 1.3, not 1" err && pass || fail "bad split ratios: no clear message" "$(cat err)"

finish
