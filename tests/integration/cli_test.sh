#!/usr/bin/env bash
# Integration tests of the netsmith command line: every subcommand end to end (define, build,
# train, eval, predict, inspect, datasets), exit statuses (0 ok, 1 runtime error, 2 usage
# error), one-line error messages, --threads (the same files at any thread count), writes on a
# full disk (an error, and no empty or partial file) and one training per checkpoint directory.
# Runs in a temporary directory.
#
# usage: cli_test.sh NETSMITH_BINARY SOURCE_DIR
set -u

. "$(dirname "$0")/testlib.sh"

# run_error STATUS ARGS...: like run, and stderr must be one line "netsmith CMD: ...".
run_error() {
    local want=$1
    run "$@"
    local lines
    lines=$(wc -l <err)
    if [ "$lines" -eq 1 ] && grep -Eq '^netsmith( [a-z]+)?: ' err; then
        pass
    else
        shift
        fail "netsmith $*: expected a one-line 'netsmith CMD: ...' message, got $lines lines" \
            "$(cat err)"
    fi
}

# json_number FILE KEY: the first number after "KEY": in FILE.
json_number() {
    sed -n "s/.*\"$2\": *\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" "$1" | head -1
}

# expect_range WHAT VALUE LO HI: LO <= VALUE <= HI (VALUE a number).
expect_range() {
    if [ -n "$2" ] && awk -v v="$2" -v lo="$3" -v hi="$4" \
        'BEGIN { exit !(v ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ && v + 0 >= lo && v + 0 <= hi) }'; then
        pass
    else
        fail "$1: expected a number in [$3, $4], got '$2'"
    fi
}

COMMANDS="define build train eval predict inspect layers datasets"

# ---- version and help -------------------------------------------------------------------------

run 0 --version
expect_match "--version" out '^netsmith [0-9]+\.[0-9]+\.[0-9]+$'
expect_match "--version names the kernels" out '^kernels: OpenBLAS [0-9.]+ \(libopenblas\.so\.0\), core [A-Za-z0-9_]+: '
# The generic kernels never run where the CPU has AVX2 (OPENBLAS_CORETYPE is overridden there);
# NETSMITH_BLAS_CORE forces them.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    OPENBLAS_CORETYPE=Prescott NETSMITH_BLAS_CORE= run 0 --version
    expect_match "--version with OPENBLAS_CORETYPE=Prescott" out \
        '^kernels: .*OPENBLAS_CORETYPE=Prescott is overridden, since this CPU has'
fi
NETSMITH_BLAS_CORE=Prescott run 0 --version
expect_match "--version with NETSMITH_BLAS_CORE=Prescott" out \
    '^kernels: .*core Prescott: forced by NETSMITH_BLAS_CORE=Prescott$'
run 0 --help
for c in $COMMANDS; do
    run 0 "$c" --help
    expect_match "$c --help" out "^usage: netsmith $c"
done
run_error 2 no-such-command

# ---- usage errors: unknown flags, missing values, bad numbers -----------------------------------

for c in $COMMANDS; do
    run_error 2 "$c" --no-such-flag
done
run_error 2 define --epochs          # a flag without its value
run_error 2 define --epochs ten      # bad number
run_error 2 define --lr 1e-3x
run_error 2 define --hidden 16,x
run_error 2 define --dropout 1.5     # the library's range check
run_error 2 define --activation nope
run_error 2 build --input-size 4     # no SPEC, no -o
run_error 2 eval                     # no MODEL
run_error 2 datasets extra
for c in train eval predict; do
    run 0 "$c" --help
    expect_match "$c --help lists --threads" out '^  --threads N +threads for training'
done
for v in 0 -1 x 65; do # integers 1 to NS_MAX_THREADS (64)
    run_error 2 train spec.json --data iris --threads "$v"
    expect_match "train --threads $v: the message names --threads" err \
        "^netsmith train: --threads: expected an integer in \[1, 64\], got '$v'\$"
done
run_error 2 eval model.safetensors --data iris --threads 0
expect_match "eval --threads 0" err '^netsmith eval: --threads: '
run_error 2 predict model.safetensors --data iris --threads=x
expect_match "predict --threads=x" err '^netsmith predict: --threads: '

# ---- datasets --------------------------------------------------------------------------------

run 0 datasets
expect_match "datasets" out '^iris +150 +4 +classification +3 +species'
expect_match "datasets" out '^boston_housing +506 +13 +regression'
expect_match "datasets" out '^fashion-mnist .* official +(yes|no)$'
run 0 datasets --json
expect_match "datasets --json" out '"name":"iris","description":"[^"]*","rows":150'

# ---- define -> spec -> inspect, build -> model -> inspect ---------------------------------------

run 0 define --hidden 16,8 --dropout 0.1 --epochs 20 --lr 0.01 -o spec.json
expect_match "define -o" spec.json '"hidden_layers": \[16, 8\]'
expect_match "define -o" spec.json '"learning_rate": 0.01'
run 0 define --hidden none --task regression
expect_match "define to stdout" out '"hidden_layers": \[\]'
run 0 inspect spec.json
expect_match "inspect spec" out '^ +0 +linear +units=16 '
expect_match "inspect spec" out 'give --input-size N'
expect_match "inspect spec" out 'epochs 20'
run 0 inspect spec.json --input-size 4 --output-size 3
expect_match "inspect spec with sizes" out '^total parameters: 243 '
expect_match "inspect spec with sizes" out '^ +6 +linear +units=3 +\[3\] +27$'

# ---- layers: the kinds and their settings, from the rows ---------------------------------------

run 0 layers
expect_match "layers lists linear" out '^linear +units: a positive integer, required; bias: true or false \(default true\)$'
expect_match "layers lists softplus" out '^softplus +beta: a positive number \(default 1\); threshold: a number \(default 20\)$'
expect_match "layers lists relu" out '^relu +\(no settings\)$'
run 0 layers maxpool2d
expect_match "layers KIND" out 'stride: a positive integer or \[h, w\] \(default the kernel\)'
expect_no_match "layers KIND lists that kind alone" out '^linear'
run 0 layers --json
expect_match "layers --json" out '"required": \['
run 2 layers convd
expect_match "layers with an unknown kind" err "no layer kind named 'convd'"

run 0 build spec.json --input-size 4 --output-size 3 --seed 7 -o built.safetensors
expect_match "build summary" out '7 layers, 243 parameters'
run 0 inspect built.safetensors
expect_match "inspect model" out '^total parameters: 243 '
expect_match "inspect model" out 'netsmith.version'
run 0 build spec.json --input-shape 4 --output-size 3 -o built2.safetensors --quiet
expect_eq "build --quiet prints nothing" "$(cat out)" ""

cat >conv.json <<'EOF'
{"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"}, {"type": "maxpool2d", "kernel": 2},
            {"type": "flatten"}, {"type": "linear", "units": 10}]}
EOF
run 0 inspect conv.json --input-shape 1,8,8
expect_match "inspect conv shapes" out 'conv2d .*\[4, 8, 8\] +40$'
expect_match "inspect conv shapes" out 'maxpool2d .*\[4, 4, 4\] +0$'
expect_match "inspect conv shapes" out 'linear .*\[10\] +650$'

# ---- classification: train, eval, predict on iris -----------------------------------------------

run 0 train spec.json --data iris --epochs 5 --seed 1 -o iris.safetensors --quiet \
    --run-dir "$WORK/runs/iris"
[ -f iris.safetensors ] && pass || fail "train did not write iris.safetensors"
[ -f runs/iris/metrics.csv ] && pass || fail "train did not record runs/iris/metrics.csv"
run 0 eval iris.safetensors --data iris --json
expect_range "eval --json accuracy" "$(json_number out accuracy)" 0 1
expect_range "eval --json f1_macro" "$(json_number out f1_macro)" 0 1
expect_eq "eval --json n" "$(json_number out n)" 150
expect_match "eval --json confusion matrix" out '"confusion_matrix": \[\['
expect_eq "eval --json is one line" "$(wc -l <out | tr -d ' ')" 1
run 0 eval iris.safetensors --data iris
expect_match "eval table" out '^  accuracy +[0-9.]+$'
expect_match "eval confusion matrix" out '^ +setosa +versicolor +virginica$'
run 0 predict iris.safetensors --data iris -o pred.csv --quiet
expect_eq "predict header" "$(head -1 pred.csv)" "row,label,p_setosa,p_versicolor,p_virginica"
expect_eq "predict rows" "$(tail -n +2 pred.csv | wc -l | tr -d ' ')" 150
P='[0-9.e-]+'
expect_match "predict row" pred.csv "^149,(setosa|versicolor|virginica),$P,$P,$P\$"
run 0 predict iris.safetensors --data iris
expect_eq "predict to stdout" "$(wc -l <out | tr -d ' ')" 151

# Classes are matched by name: data with two of the three classes, in another order.
{
    head -1 "$SRC/data/iris.csv"
    grep -E 'virginica|setosa' "$SRC/data/iris.csv" | sort -r
} >two.csv
run 0 eval iris.safetensors --data two.csv --json
expect_eq "eval on two classes: n" "$(json_number out n)" 100
expect_match "eval on two classes: 3x3 matrix" out \
    '"confusion_matrix": \[\[[0-9]+, [0-9]+, [0-9]+\], \[0, 0, 0\], '
sed 's/,setosa$/,rose/' "$SRC/data/iris.csv" >rose.csv
run_error 1 eval iris.safetensors --data rose.csv

# ---- regression: train, eval, predict on boston_housing ------------------------------------------

run 0 train spec.json --data boston_housing --epochs 5 --seed 1 -o boston.safetensors --quiet \
    --run-dir "$WORK/runs/boston"
run 0 eval boston.safetensors --data boston_housing --json
expect_range "regression eval rmse" "$(json_number out rmse)" 0 1e9
expect_range "regression eval r2" "$(json_number out r2)" -1e9 1
expect_eq "regression eval n" "$(json_number out n)" 506
run 0 predict boston.safetensors --data boston_housing -o boston.csv --quiet
expect_eq "regression predict header" "$(head -1 boston.csv)" "row,MEDV"
expect_eq "regression predict rows" "$(tail -n +2 boston.csv | wc -l | tr -d ' ')" 506
expect_match "regression predict values" boston.csv '^505,-?[0-9][0-9.e+-]*$'
run 0 inspect boston.safetensors
expect_match "inspect trained model" out '^data: task regression, 1 target: MEDV$'
expect_match "inspect trained model" out '^normalisation: standard'

# ---- runtime errors: exit 1 with one line ------------------------------------------------------

run_error 1 eval iris.safetensors --data no-such-file.csv
run_error 1 train spec.json --data no-such-file.csv --quiet --run-dir "$WORK/runs/x"
run_error 1 eval iris.safetensors --data iris --target no_such_column
run_error 1 train spec.json --data iris --target no_such_column --quiet --run-dir "$WORK/runs/x"
run_error 1 eval iris.safetensors --data wine                # 13 features, the model takes 4
run_error 1 eval boston.safetensors --data iris              # text labels, a regression model
run_error 1 predict iris.safetensors --data wine
run 0 build spec.json --input-size 5 --output-size 3 -o five.safetensors --quiet
run_error 1 train five.safetensors --data iris --quiet --run-dir "$WORK/runs/x"
run_error 1 eval no-such-model.safetensors --data iris
run_error 1 inspect no-such-spec.json
run_error 1 build no-such-spec.json --input-size 4 -o x.safetensors
cut -d, -f1-4 "$SRC/data/iris.csv" >features-only.csv
# no target column: read by the model's feature names (data_test.sh tests this in full)
run 0 predict iris.safetensors --data features-only.csv
echo '{"hidden_layers": [8], "dropout": 2}' >bad-spec.json
run_error 1 build bad-spec.json --input-size 4 --output-size 3 -o x.safetensors
run_error 1 inspect bad-spec.json

# ---- a run config with several seeds -----------------------------------------------------------

cat >run.yaml <<'EOF'
net: mlp
net_config:
  nodes: 16
  layers: 2
data: iris
epochs: 3
seeds: [1, 2]
EOF
run 0 train -c run.yaml --quiet --run-dir "$WORK/runs/config"
expect_match "train -c: mean and std" out 'over 2 seeds \(mean, std\)'
expect_match "train -c: accuracy" out '^  accuracy +[0-9.]+ +[0-9.]+$'
[ -f runs/config/seed-1/model.safetensors ] && [ -f runs/config/seed-2/model.safetensors ] &&
    pass || fail "train -c: a model per seed under the run directory"
echo 'net: mlp
bogus_key: 1' >bad.yaml
run_error 2 train -c bad.yaml --quiet
printf 'net: mlp\ndata: iris\nthreads: 0\n' >bad-threads.yaml
run_error 2 train -c bad-threads.yaml --quiet
expect_match "train -c: threads: 0" err '^netsmith train: bad-threads.yaml: threads: expected an'

# ---- threads: the results do not depend on --threads ------------------------------------------
# Networks big enough that the context's pool splits them: a wide MLP (dense products over 4 M
# multiply-adds, 270 k parameters for the optimizer's 32 Ki blocks) and a small CNN (chunks of
# 8 samples) on a made-up IDX image file; trained, evaluated and predicted at 1 and 3 threads.

echo '{"hidden_layers": [512, 512], "batch_size": 128, "epochs": 2}' >wide.json
for t in 1 3; do
    run 0 train wide.json --data boston_housing --seed 3 --threads "$t" -o "wide$t.safetensors" \
        --quiet --run-dir "$WORK/runs/wide$t"
done
cmp -s wide1.safetensors wide3.safetensors && pass ||
    fail "train --threads 1 and --threads 3 wrote different model files (wide MLP)"
expect_match "settings.json records the threads" runs/wide3/settings.json '"threads": 3,'
{
    printf '\0\0\x08\x03\0\0\0\x40\0\0\0\x08\0\0\0\x08' # 64 images of 8x8 bytes
    head -c 4096 "$SRC/data/boston_housing.csv"
} >tiny-images-idx3-ubyte
{
    printf '\0\0\x08\x01\0\0\0\x40' # 64 labels, 4 classes
    for ((i = 0; i < 64; i++)); do printf "\\x0$((i % 4))"; done
} >tiny-labels-idx1-ubyte
cat >cnn.json <<'JSON'
{"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
            {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
            {"type": "linear", "units": 4}],
 "training": {"epochs": 2, "batch_size": 32}}
JSON
tiny=(--data tiny-images-idx3-ubyte --labels tiny-labels-idx1-ubyte)
for t in 1 3; do
    run 0 train cnn.json "${tiny[@]}" --split 0.75,0.25 --seed 1 --threads "$t" \
        -o "cnn$t.safetensors" --quiet --run-dir "$WORK/runs/cnn$t"
    run 0 eval cnn1.safetensors "${tiny[@]}" --json --threads "$t"
    cp out "eval$t.json"
    run 0 predict cnn1.safetensors "${tiny[@]}" -o "pred$t.csv" --quiet --threads "$t"
done
cmp -s cnn1.safetensors cnn3.safetensors && pass ||
    fail "train --threads 1 and --threads 3 wrote different model files (CNN)"
cmp -s eval1.json eval3.json && pass || fail "eval at 1 and 3 threads printed different metrics"
cmp -s pred1.csv pred3.csv && pass || fail "predict at 1 and 3 threads wrote different predictions"
printf 'net: wide.json\ndata: boston_housing\nseed: 3\nthreads: 3\n' >threads.yaml
run 0 train -c threads.yaml --quiet --run-dir "$WORK/runs/config-threads"
cmp -s wide1.safetensors runs/config-threads/model.safetensors && pass ||
    fail "train -c with threads: 3 wrote another model than --threads 1"
expect_match "train -c: threads from the config" runs/config-threads/settings.json '"threads": 3,'
run 0 train -c threads.yaml --threads 1 --quiet --run-dir "$WORK/runs/config-threads1"
expect_match "train -c: --threads wins over the config" runs/config-threads1/settings.json \
    '"threads": 1,'

# ---- safe writes: a full disk fails loudly and leaves no part of a file ------------------------
# Under a file size limit (ulimit -f, SIGXFSZ ignored) every write past it fails with EFBIG, as
# on a full disk. The message comes back through a pipe, which the limit does not touch.

# limited BLOCKS STATUS ARGS...: netsmith ARGS under a limit of BLOCKS blocks; stderr in
# $WORK/err, which must be one line "netsmith CMD: ..."; checks the exit status.
limited() {
    local blocks=$1 want=$2
    shift 2
    (
        trap '' XFSZ
        ulimit -f "$blocks"
        exec "$NS" "$@"
    ) 2>&1 >/dev/null | cat >err
    local got=${PIPESTATUS[0]}
    if [ "$got" -eq "$want" ]; then
        pass
    else
        fail "netsmith $* under ulimit -f $blocks exited $got, expected $want" "$(cat err)"
    fi
    if [ "$(wc -l <err)" -eq 1 ] && grep -Eq '^netsmith [a-z]+: ' err; then
        pass
    else
        fail "netsmith $* under ulimit -f $blocks: expected a one-line message" "$(cat err)"
    fi
}

# no_temporaries WHAT DIR: DIR holds no temporary file of a write.
no_temporaries() {
    if [ -z "$(find "$2" -maxdepth 1 -name '*.tmp' -print -quit)" ]; then
        pass
    else
        fail "$1: temporary files left in $2" "$(ls -la "$2")"
    fi
}

limited 0 1 train spec.json --data iris --epochs 2 --quiet --run-dir "$WORK/runs/full"
expect_match "train on a full disk: the message" err \
    '^netsmith train: .*runs/full/settings\.json: cannot write .*: File too large'
[ ! -e runs/full/settings.json ] && [ ! -e runs/full/metrics.csv ] && pass ||
    fail "train on a full disk left settings.json or metrics.csv" "$(ls -la runs/full)"
no_temporaries "train on a full disk" runs/full
cp runs/iris/settings.json iris-settings.json
limited 0 1 train spec.json --data iris --epochs 2 --seed 9 --quiet --run-dir "$WORK/runs/iris"
cmp -s runs/iris/settings.json iris-settings.json && pass ||
    fail "train on a full disk changed the old run's settings.json"
# room for settings.json and metrics.csv's header, not for its rows: the run stops and says so
limited 4 1 train spec.json --data iris --epochs 400 --quiet --run-dir "$WORK/runs/half"
expect_match "train out of room mid-run: the message" err \
    '^netsmith train: .*runs/half/metrics\.csv: cannot write .*: File too large.*; the run stopped after epoch [0-9]+ and wrote no model$'
expect_eq "train out of room mid-run: metrics.csv holds whole rows" \
    "$(awk -F, 'NF != 11 { bad++ } END { print bad + 0 }' runs/half/metrics.csv)" 0
expect_match "train out of room mid-run: metrics.csv's header" runs/half/metrics.csv '^epoch,step,'
no_temporaries "train out of room mid-run" runs/half

cp pred.csv pred-before.csv
limited 0 1 predict iris.safetensors --data iris -o pred.csv --quiet
expect_match "predict on a full disk: the message" err \
    '^netsmith predict: pred\.csv: cannot write .*: File too large'
cmp -s pred.csv pred-before.csv && pass || fail "predict on a full disk changed pred.csv"
limited 0 1 predict iris.safetensors --data iris -o new-pred.csv --quiet
[ ! -e new-pred.csv ] && pass || fail "predict on a full disk left new-pred.csv"

cp spec.json keep.json
limited 0 1 define --hidden 4 -o keep.json
expect_match "define on a full disk: the message" err \
    '^netsmith define: keep\.json: cannot write .*: File too large'
cmp -s keep.json spec.json && pass || fail "define on a full disk changed keep.json"
limited 0 1 define --hidden 4 -o new-spec.json
[ ! -e new-spec.json ] && pass || fail "define on a full disk left new-spec.json"
no_temporaries "predict and define on a full disk" .

# ---- one process per checkpoint (and run) directory ------------------------------------------

"$NS" train spec.json --data iris --epochs 1000000 --checkpoint-dir "$WORK/ckpt" \
    --checkpoint-every 100000 --quiet --run-dir "$WORK/runs/long" >/dev/null 2>&1 &
long=$!
trap 'kill -9 "$long" 2>/dev/null; rm -rf "$WORK"' EXIT
for ((i = 0; i < 200; i++)); do
    [ -s ckpt/.netsmith-checkpoint.lock ] && break
    sleep 0.05
done
run_error 1 train spec.json --data iris --epochs 2 --checkpoint-dir "$WORK/ckpt" --quiet \
    --run-dir "$WORK/runs/second"
expect_match "a second training on one checkpoint directory" err \
    "^netsmith train: .*/ckpt: the checkpoint directory is in use by process $long \(netsmith train spec\.json .*\); wait for it to finish, or use another checkpoint directory\$"
run_error 1 train spec.json --data iris --epochs 2 --quiet --run-dir "$WORK/runs/long"
expect_match "a second training in one run directory" err \
    "^netsmith train: .*/runs/long: the run directory is in use by process $long \(.*\); wait for it to finish, or use another --run-dir\$"
kill -9 "$long"
wait "$long" 2>/dev/null
# the killed holder's lock file is left; it does not block
[ -e ckpt/.netsmith-checkpoint.lock ] && pass || fail "no lock file in the checkpoint directory"
echo half >ckpt/.ckpt-000000000004.safetensors.0123456789abcdef.tmp # as a kill mid-write leaves
run 0 train spec.json --data iris --epochs 2 --checkpoint-dir "$WORK/ckpt" --quiet \
    --run-dir "$WORK/runs/second"
[ -f ckpt/ckpt-000000000008.safetensors ] && pass ||
    fail "train after the holder died wrote no checkpoint" "$(ls -la ckpt)"
no_temporaries "a checkpoint removes what a killed writer left" ckpt
# several seeds in one process: a checkpoint directory each (so --resume finds its own)
run 0 train -c run.yaml --checkpoint-dir "$WORK/ckpt-seeds" --quiet --run-dir "$WORK/runs/seeds"
run 0 train -c run.yaml --checkpoint-dir "$WORK/ckpt-seeds" --resume --quiet \
    --run-dir "$WORK/runs/seeds"
[ -d ckpt-seeds/seed-1 ] && [ -d ckpt-seeds/seed-2 ] && pass ||
    fail "train -c with two seeds: no checkpoint directory per seed" "$(ls -la ckpt-seeds)"

finish
