#!/usr/bin/env bash
# The run layer from the command line, and the faults it fixed: one settings vocabulary
# (every optimizer setting from flags and run configs, unknown keys refused), the Train card
# honouring the blueprint and normalising as netsmith train does and giving the same file,
# data flags on train, split ratios, images with the short form, run directories (refused when
# reused, every epoch once after a kill and a resume, a summary for several seeds, settings as
# used), --resume without a checkpoint, config paths from the file, and Ctrl-C.
#
# usage: run_test.sh NETSMITH_BINARY SOURCE_DIR
set -u
. "$(dirname "$0")/testlib.sh"

sha() { sha256sum "$1" | cut -d' ' -f1; }
printf '{"hidden_layers": [8], "epochs": 4, "batch_size": 16}\n' >spec.json

# ---- one vocabulary: optimizer settings from flags and configs ------------------------------

run 0 train spec.json --data iris --quiet --run-dir r/adam -o adam.safetensors
run 0 train spec.json --data iris --quiet --run-dir r/betas --betas 0.5,0.9 --eps 1e-6 \
    -o betas.safetensors
expect_ne "--betas and --eps change the training" "$(sha adam.safetensors)" "$(sha betas.safetensors)"
expect_match "settings.json holds the betas used" r/betas/settings.json '"betas": \['
run 0 train spec.json --data iris --quiet --run-dir r/sgd --optimizer sgd --lr 0.05 \
    -o sgd.safetensors
run 0 train spec.json --data iris --quiet --run-dir r/momentum --optimizer sgd --lr 0.05 \
    --momentum 0.9 --nesterov -o momentum.safetensors
expect_ne "--momentum changes sgd" "$(sha sgd.safetensors)" "$(sha momentum.safetensors)"
# the same settings from a run config's optimizer_config give the same file
cat >betas.yaml <<YAML
model: spec.json
data: iris
optimizer_config: {betas: [0.5, 0.9], eps: 1.0e-6}
YAML
run 0 train -c betas.yaml --quiet --run-dir r/betas-config -o betas-config.safetensors
expect_eq "optimizer_config betas and eps = the flags" "$(sha betas-config.safetensors)" \
    "$(sha betas.safetensors)"
printf 'model: spec.json\ndata: iris\noptimizer_config: {lr: 0.01, betaz: [0.5, 0.9]}\n' >bad.yaml
run 2 train -c bad.yaml --quiet
expect_match "an unknown optimizer_config key is an error" err \
    "^netsmith train: bad\.yaml: unknown setting 'betaz' in optimizer_config"
printf 'model: spec.json\ndata: iris\nscheduler: step\nscheduler_config: {step: 3}\n' >bad.yaml
run 2 train -c bad.yaml --quiet
expect_match "an unknown scheduler_config key is an error" err \
    "unknown setting 'step' in scheduler_config"
run 2 train spec.json --data iris --betas 0.9
expect_match "--betas needs two" err 'betas: must be two numbers'
run 2 train spec.json --data iris --learning-rte 0.1
expect_match "an unknown flag" err "unknown option '--learning-rte'"
run 0 train --schema
expect_match "--schema is the settings' JSON schema" out '"learning_rate": \{'
run 0 train --help
for flag in --betas --eps --momentum --nesterov --dampening --amsgrad --alpha --centered \
    --one-hot --exclude --features --label-smoothing --shuffle --no-shuffle; do
    expect_match "train --help lists $flag" out "^  $flag"
done

# ---- the Train card: the blueprint's settings, normalisation, the same file as train -----

cat >card.yaml <<YAML
pipeline: card
seed: 0
cards:
  - {id: load, card: data_load, with: {name: boston_housing, target: MEDV}}
  - {id: split, card: data_split, in: {dataset: load.dataset},
     with: {train_ratio: 0.7, val_ratio: 0.15, test_ratio: 0.15}}
  - {id: define, card: model_define, with: {file: $SRC/examples/specs/seed.json}}
  - {id: train, card: train, in: {model_spec: define.model_spec, dataset: split.train_dataset,
     val_dataset: split.val_dataset}}
  - {id: save, card: save_model, in: {model: train.model, dataset: split.train_dataset},
     with: {path: card.safetensors}}
YAML
run 0 run card.yaml --quiet
run 0 train "$SRC/examples/specs/seed.json" --data boston_housing --seed 0 --quiet \
    --run-dir r/card-same -o train.safetensors
expect_eq "the Train card and netsmith train write the same file" "$(sha card.safetensors)" \
    "$(sha train.safetensors)"
# the blueprint's epochs and learning rate reach the Train card
cat >define.yaml <<YAML
pipeline: define
seed: 0
cards:
  - {id: load, card: data_load, with: {name: iris}}
  - {id: split, card: data_split, in: {dataset: load.dataset}}
  - {id: define, card: model_define, with: {hidden_layers: [8], epochs: 3, learning_rate: 0.001}}
  - {id: train, card: train, in: {model_spec: define.model_spec, dataset: split.train_dataset}}
YAML
run 0 run define.yaml --quiet --show train.history
expect_eq "the Train card trains the blueprint's epochs" \
    "$(grep -cE '^ *[0-9]+ ' out)" 3
cp out lr-small.txt
run 0 run define.yaml --quiet --set define.learning_rate=0.1 --show train.history
expect_ne "the blueprint's learning rate reaches the Train card" "$(cat out)" "$(cat lr-small.txt)"
# the Train card says how far it is (a tty would redraw it)
run 0 run define.yaml
expect_match "the Train card reports its epochs" err '^  train +train +epoch 3/3'
# the Initialize Optimizer card takes the same optimizer settings, under the same names
run 0 cards init_optimizer
for setting in optimizer learning_rate weight_decay momentum nesterov betas eps amsgrad alpha centered; do
    expect_match "init_optimizer has $setting" out "$setting"
done
sed 's/with: {hidden_layers: \[8\], epochs: 3, learning_rate: 0.001}/with: {hidden_layers: [8]}/' \
    define.yaml >opt.yaml
cat >>opt.yaml <<YAML
  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: split.input_size}}
  - {id: optim, card: init_optimizer, in: {model: build.model},
     with: {optimizer_type: adam, lr: 0.01, betas: [0.5, 0.9], eps: 1.0e-6}}
  - {id: train2, card: train, in: {model: build.model, optimizer: optim.optimizer,
     dataset: split.train_dataset}, with: {epochs: 2}}
YAML
run 0 run opt.yaml --quiet --show train2.history
run 1 run opt.yaml --quiet --set optim.betas=[0.5]
expect_match "init_optimizer: betas is checked" err "betas"

# pipelines normalise by default: the model file records the fit
cat >norm.yaml <<YAML
pipeline: norm
cards:
  - {id: load, card: data_load, with: {name: wine}}
  - {id: split, card: data_split, in: {dataset: load.dataset}}
  - {id: define, card: model_define, with: {hidden_layers: [8], epochs: 2}}
  - {id: train, card: train, in: {model_spec: define.model_spec, dataset: load.dataset}}
  - {id: save, card: save_model, in: {model: train.model, dataset: load.dataset},
     with: {path: norm.safetensors}}
  - {id: eval, card: evaluate, in: {model: train.model, dataset: split.test_dataset}}
YAML
run 0 run norm.yaml --quiet
"$NS" inspect norm.safetensors >out 2>&1
expect_match "a Train card on raw data normalises and the file keeps the fit" out \
    '^normalisation: standard'
"$NS" inspect train.safetensors >out 2>&1
expect_match "so does netsmith train" out '^normalisation: standard'

# ---- data: flags of every face, split ratios, images -----------------------------------------

printf 'size,colour,weight,price\n' >cars.csv
for i in $(seq 1 60); do
    c=red; [ $((i % 3)) -eq 0 ] && c=blue; [ $((i % 3)) -eq 1 ] && c=green
    printf '%d,%s,%d.5,%d\n' "$i" "$c" $((i * 7 % 13)) $((i * 3 + 5)) >>cars.csv
done
run 1 train spec.json --data cars.csv --quiet --run-dir r/cars0
expect_match "a text column: the advice works on the command line" err -- '--one-hot'
run 0 train spec.json --data cars.csv --one-hot --quiet --run-dir r/cars1 -o cars.safetensors
run 0 train spec.json --data cars.csv --exclude colour --quiet --run-dir r/cars2
run 0 train spec.json --data cars.csv --features size,weight --quiet --run-dir r/cars3
run 0 predict cars.safetensors --data cars.csv -o cars-pred.csv
run 2 train spec.json --data iris --split 0.8,0.3 --quiet
expect_match "--split 0.8,0.3 is refused" err 'sum to 1.1, not 1'
run 1 train spec.json --data iris --split 0.995,0.004,0.001 --quiet --run-dir r/tiny
expect_match "a part left empty is refused" err 'test.*0 rows|no rows'
# a short-form blueprint and the named mlp train on images (28x28 bytes, 3 classes)
python3 - <<'PY'
import struct, random
random.seed(1)
n = 60
with open("img-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 6, 6))
    f.write(bytes(random.randrange(256) for _ in range(n * 36)))
with open("img-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n))
    f.write(bytes(i % 3 for i in range(n)))
PY
run 0 train spec.json --data img-images-idx3-ubyte --labels img-labels-idx1-ubyte --quiet \
    --run-dir r/img1 --epochs 1
run 0 train mlp --data img-images-idx3-ubyte --labels img-labels-idx1-ubyte --quiet \
    --run-dir r/img2 --epochs 1

# a headerless CSV with --no-header (a switch that turns a setting on)
tail -n +2 cars.csv | cut -d, -f1,3,4 >noheader.csv
run 0 train spec.json --data noheader.csv --no-header --quiet --run-dir r/noheader
expect_match "--no-header: the first row is data" r/noheader/settings.json '"no_header": true'
# training on from a model file reads the data by the model's columns
awk -F, 'BEGIN { OFS = "," } { print $4, $2, $3, $1 }' cars.csv >cars-swapped.csv
run 0 train cars.safetensors --data cars-swapped.csv --target price --quiet --run-dir r/carsft
run 0 train cars.safetensors --data cars.csv --quiet --run-dir r/carsft2 -o ft2.safetensors
run 0 train cars.safetensors --data cars-swapped.csv --target price --quiet \
    --run-dir r/carsft3 -o ft3.safetensors
expect_eq "training on from a model: columns by name" "$(sha ft2.safetensors)" "$(sha ft3.safetensors)"
# an explicit weight_decay 0 with adamw is kept
run 0 train spec.json --data iris --optimizer adamw --weight-decay 0 --quiet --run-dir r/wd0
expect_match "--weight-decay 0 with adamw" r/wd0/settings.json '"weight_decay": 0\.0,'
run 0 train spec.json --data iris --optimizer adamw --quiet --run-dir r/wd
expect_match "adamw's default weight decay" r/wd/settings.json '"weight_decay": 0\.01'
# several seeds with one output, and repeated seeds, are refused
printf 'model: spec.json\ndata: iris\nseeds: [1, 2]\noutput: one.safetensors\n' >two.yaml
run 2 train -c two.yaml --quiet
expect_match "several seeds and one output" err 'output: a run of 2 seeds writes a model per seed'
printf 'model: spec.json\ndata: iris\nseeds: [1, 2, 1]\n' >twice.yaml
run 2 train -c twice.yaml --quiet
expect_match "a repeated seed" err 'seeds\[2\] repeats seed 1'
# a checkpoint directory whose name needs quoting in JSON
printf 'model: spec.json\ndata: iris\nseeds: [1, 2]\nrun_dir: r/quoted\n' >quoted.yaml
run 0 train -c quoted.yaml --checkpoint-dir 'ck"q\n' --quiet
[ -d 'ck"q\n/seed-2' ] && pass || fail "a checkpoint directory named with a quote and a backslash"

# a model file whose metadata names more target columns than it has outputs is refused
python3 - cars.safetensors bad-targets.safetensors <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
head = json.loads(data[8:8 + n])
head["__metadata__"]["netsmith.target_columns"] = json.dumps(["price", "size"])
text = json.dumps(head).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
run 1 eval bad-targets.safetensors --data cars.csv
expect_match "metadata with more target columns than outputs" err \
    'netsmith.target_columns names 2 columns but the model.s outputs needs 1'
# a two-target model evaluated against one target column is refused (its metrics would read
# past the targets)
run 0 train spec.json --data boston_housing --target MEDV,LSTAT --epochs 1 --quiet \
    --run-dir r/two -o two.safetensors
run 1 eval two.safetensors --data boston_housing --target MEDV
expect_match "fewer target columns than outputs" err "has 1 target column but the model predicts 2"
# predict never reads the target: placeholders there do not get in the way
sed 's/,[0-9]*$/,?/' cars.csv | sed '1s/.*/size,colour,weight,price/' >cars-placeholders.csv
run 0 predict cars.safetensors --data cars-placeholders.csv -o pred-placeholders.csv
# classes matched by name: a class a numbered model does not know is refused
printf 'a,b,label\n' >num.csv
for i in $(seq 1 30); do printf '%d,%d,%d\n' "$i" $((i % 7)) $(((i % 3) * 2)) >>num.csv; done
run 0 train spec.json --data num.csv --task classification --quiet --run-dir r/num -o num.safetensors
printf 'a,b,label\n1,2,0\n3,4,1\n' >num-other.csv
run 1 eval num.safetensors --data num-other.csv --task classification
expect_match "an unknown class of a numbered model" err "has the class '1', which the model does not know"

# ---- run records --------------------------------------------------------------------------------

run 0 train spec.json --data iris --quiet --run-dir r/once
run 1 train spec.json --data iris --quiet --run-dir r/once
expect_match "a reused --run-dir is refused" err 'r/once holds the record of another run'
expect_no_match "settings.json holds values, not placeholders" r/once/settings.json \
    '"\(inline\)"|: -1\.0|"loss": ""|"epochs": 0,'
expect_match "settings.json: the epochs used" r/once/settings.json '"epochs": 4,'
expect_match "settings.json: the loss used" r/once/settings.json '"loss": "cross_entropy"'
expect_match "settings.json: the optimizer used" r/once/settings.json '"optimizer": "adam"'
run 0 inspect r/once/model.safetensors
expect_match "inspect shows the epochs trained" out '^ +4 epochs of 4, batch size 16'
# several seeds: a summary
printf 'model: spec.json\ndata: iris\nseeds: [1, 2, 3]\nrun_dir: r/seeds3\n' >seeds.yaml
run 0 train -c seeds.yaml --quiet
[ -f r/seeds3/summary.json ] && pass || fail "a multi-seed run writes summary.json"
expect_match "summary.json: mean and std" r/seeds3/summary.json '"std":'
[ -f r/seeds3/record.json ] && pass || fail "a run writes record.json"
# two runs at once with the default run directory: each its own
"$NS" train spec.json --data iris --quiet >/dev/null 2>&1 &
a=$!
"$NS" train spec.json --data iris --quiet >/dev/null 2>&1 &
b=$!
wait $a && wait $b && pass || fail "two runs at once with the default run directory"
expect_eq "two runs at once, two run directories" "$(ls -d runs/*-iris* | wc -l)" 2
expect_eq "each with its model" "$(ls runs/*-iris*/model.safetensors | wc -l)" 2
# --resume with no checkpoint says so
run 0 train spec.json --data iris --checkpoint-dir empty-ck --resume --run-dir r/fresh
expect_match "--resume without a checkpoint says so" err 'holds no checkpoint yet; training from the start'
# config paths come from the config's directory
mkdir -p conf
cp spec.json conf/spec2.json
printf 'model: spec2.json\ndata: iris\nrun_dir: %s/r/from-conf\n' "$WORK" >conf/run.yaml
(cd / && "$NS" train -c "$WORK/conf/run.yaml" --quiet >/dev/null 2>"$WORK/err") && pass ||
    fail "a run config's spec is found from its directory" "$(cat err)"

# a config written for the current directory says how to write its paths
printf 'model: spec.json\ndata: iris\n' >conf/old.yaml
run 2 train -c conf/old.yaml --quiet
expect_match "a path from the current directory in a config" err \
    "conf/old.yaml: model: 'spec.json' is no file in conf/, the config's directory"

# ---- kill -9 and resume: every epoch once; Ctrl-C: a checkpoint and how to go on ---------

run 0 train spec.json --data iris --epochs 40 --quiet --run-dir r/whole -o whole.safetensors
"$NS" train spec.json --data iris --epochs 40 --checkpoint-dir ck9 --quiet --run-dir r/killed \
    -o killed.safetensors >/dev/null 2>&1 &
k=$!
for ((i = 0; i < 400; i++)); do
    rows=$(grep -c . r/killed/metrics.csv 2>/dev/null)
    [ -n "$(ls ck9/ckpt-* 2>/dev/null)" ] && [ "${rows:-0}" -gt 3 ] && break
    sleep 0.01
done
kill -9 $k 2>/dev/null
wait $k 2>/dev/null
run 0 train spec.json --data iris --epochs 40 --checkpoint-dir ck9 --resume --quiet \
    --run-dir r/killed -o killed.safetensors
expect_eq "after kill -9 and --resume, metrics.csv holds every epoch once" \
    "$(tail -n +2 r/killed/metrics.csv | cut -d, -f1 | tr '\n' ' ')" "$(seq -s ' ' 1 40) "
expect_eq "and the model is the uninterrupted one" "$(sha killed.safetensors)" "$(sha whole.safetensors)"
# Ctrl-C
"$NS" train spec.json --data iris --epochs 100000 --quiet --run-dir r/int \
    -o int.safetensors >/dev/null 2>int-err &
k=$!
for ((i = 0; i < 400; i++)); do
    rows=$(grep -c . r/int/metrics.csv 2>/dev/null)
    [ "${rows:-0}" -gt 2 ] && break
    sleep 0.01
done
kill -INT $k
wait $k
expect_eq "Ctrl-C: exit status 130" "$?" 130
expect_match "Ctrl-C: says where it stopped" int-err 'stopped after [0-9]+ whole epochs'
expect_match "Ctrl-C: says how to go on" int-err \
    'to go on, run the same command with --run-dir r/int --checkpoint-dir r/int/checkpoints --resume'
[ -n "$(ls r/int/checkpoints/ckpt-* 2>/dev/null)" ] && pass || fail "Ctrl-C wrote no checkpoint"
finish
