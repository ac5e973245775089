#!/usr/bin/env bash
# Remakes the committed seed corpora, tests/fuzz/corpus/<target>/: the binary seeds with
# fuzz_make_corpus (the library's own writers), the text seeds from the project's examples and
# data plus a few hand-written valid and broken inputs. Run from the source tree after
# cmake --build --preset fuzz:
#   bash tests/fuzz/make_corpus.sh [build/fuzz/tests/fuzz/fuzz_make_corpus]
set -eu
cd "$(dirname "$0")/../.."
gen=${1:-build/fuzz/tests/fuzz/fuzz_make_corpus}
out=tests/fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{csv,spec,yaml,pipeline,run_config}
ASAN_OPTIONS=detect_leaks=1 "$gen" "$out" .

# ---- csv: two option bytes (see fuzz_csv.c), NUL-terminated column lists, then the text -----
csv() { # NAME FLAG0 FLAG1 TARGET FEATURES EXCLUDE: the text on stdin
    local f="$out/csv/$1"
    printf "\\x$2\\x$3" >"$f"
    if [ -n "$4$5$6" ]; then printf '%s\0%s\0%s\0' "$4" "$5" "$6" >>"$f"; fi
    cat >>"$f"
}
head -12 data/iris.csv | csv iris 00 00 "" "" ""
head -12 data/wine.csv | csv wine_file 00 40 "" "" ""
head -8 data/boston_housing.csv | csv boston_two_targets 00 00 "MEDV,LSTAT" "" "CHAS"
head -8 data/breast_cancer.csv | csv breast_cancer_features 80 00 "" "0, 2,mean radius" ""
head -12 data/iris.csv | tr ',' ';' | csv iris_semicolon 02 00 "" "" ""
head -12 data/iris.csv | tr ',' '\t' | csv iris_tab 03 00 "" "" ""
tail -n +2 data/iris.csv | head -10 | csv iris_no_header 04 00 "4" "" ""
printf 'color,size,label\nred,1.5,a\n"blue",2,b\ngreen,-3e-2,a\nred,4,c\n' |
    csv one_hot 08 00 "" "" ""
printf 'x,y,t\n1,,0\nnan,2,1\n3,4,NA\n5,6,1\n7,8,0\n' | csv missing_drop 10 00 "" "" ""
printf 'x,y,t\n1,,0.5\n-nan,2,1.5\n3,4,N/A\n5,6,1\n' | csv missing_fill 60 00 "" "" ""
printf 'a,b,t\n1,2,10\n3,4,-1\n5,6,10\n7,8,2\n' | csv numeric_classes 80 03 "" "" ""
printf '\xef\xbb\xbf"a ""q""",b\r\n"1\n2",3\r\n 4 , 5 \r\n\r\n6,7' | csv quoted_crlf 01 00 "" "" ""
printf 'a,b\r1,2\r3,4\r' | csv cr_only 00 00 "" "" ""
printf 'a,b\n1,"2\n' | csv bad_unterminated 00 00 "" "" ""
printf 'a,b\n1,2"x\n' | csv bad_stray_quote 00 00 "" "" ""
printf 'a,b\n0x10,2\ninf,3\n1e39,4\n' | csv bad_numbers 00 00 "" "" ""
printf 'a,b\n1,x\n2,3\n' | csv bad_mixed_target 00 00 "" "" ""
printf 'a,b\n1,2\n' | csv bad_column 00 00 "c" "a" ""

# ---- spec: the example specs and every layer kind --------------------------------------------
cp examples/specs/*.json "$out/spec/"
cat >"$out/spec/all_1d.json" <<'EOF'
{"input": [6], "layers": [{"type": "linear", "units": 5, "bias": false}, {"type": "batchnorm1d",
"eps": 1e-3, "momentum": 0.2, "affine": false}, {"type": "elu", "alpha": 0.5}, {"type": "silu"},
{"type": "layernorm", "elementwise_affine": false}, {"type": "tanh"}, {"type": "dropout", "p": 0},
{"type": "gelu", "approximate": "none"}, {"type": "sigmoid"}, {"type": "linear", "units": 4.0},
{"type": "softmax"}], "training": {"optimizer": "rmsprop", "loss": null, "task": "auto"}}
EOF
cat >"$out/spec/all_2d.json" <<'EOF'
{"input": [2, 9, 7], "layers": [{"type": "conv2d", "filters": 4, "kernel": [3, 2], "stride": [2, 1],
"padding": [1, 0], "dilation": 1, "groups": 2}, {"type": "batchnorm2d"}, {"type": "relu"},
{"type": "maxpool2d", "kernel": 2, "stride": 1, "padding": 1}, {"type": "dropout2d", "p": 0.5},
{"type": "avgpool2d", "kernel": [2, 3], "count_include_pad": false},
{"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same", "dilation": 2},
{"type": "adaptive_avgpool2d", "output_size": [3, 2]}, {"type": "global_avgpool2d"},
{"type": "flatten"}, {"type": "linear", "units": 2}]}
EOF
printf '{"hidden_layers": [], "output_size": null}' >"$out/spec/linear_only.json"
printf '{"model_type": "mlp", "hidden_layers": [3, 2], "activation": "leaky_relu", "dropout": 0.5, "output_size": 4, "weight_decay": 1e-4, "task": "regression", "loss": "huber"}' \
    >"$out/spec/short_all.json"
printf '{"layers": [{"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"}, {"type": "linear", "units": 1}]}' \
    >"$out/spec/conv_no_input.json"
printf '{"hidden_layers": [4], "layers": []}' >"$out/spec/bad_both_forms.json"
printf '{"layers": [{"type": "dropout", "p": 1.5}]}' >"$out/spec/bad_p.json"
printf '{"input": [1, 3, 3], "layers": [{"type": "conv2d", "filters": 1, "kernel": 7}]}' \
    >"$out/spec/bad_kernel.json"
printf '{"layers": [{"type": "lineer", "units": 3}]}' >"$out/spec/bad_kind.json"
printf '{"hidden_layers": [4,], "activation": "relu"' >"$out/spec/bad_json.json"

# ---- run_config: the example run configs, every group and alias form, and broken ones ------
cp examples/configs/*.yaml "$out/run_config/"
cat >"$out/run_config/groups.yaml" <<'YAML'
net: mlp
net_config: {nodes: 8, layers: 1, activation: gelu}
data: iris
optimizer_type: adamw
optimizer_config: {lr: 0.01, betas: [0.8, 0.99], eps: 1.0e-7, weight_decay: 0.01, amsgrad: true}
scheduler: onecycle
scheduler_config: {max_lr: 0.1, pct_start: 0.2, anneal_strategy: linear}
early_stopping: {patience: 3, monitor: val_accuracy, restore_best: true, min_delta: 0.001}
data_config: {one_hot: true, exclude: "a,b", delimiter: ";", missing: fill_mean}
split: [0.6, 0.2, 0.2]
seeds: [1, 2, 3]
clip_norm: 1.5
YAML
printf '{"model": {"hidden_layers": [4]}, "data": "wine", "epochs": 2, "milestones": [1, 2]}' \
    >"$out/run_config/inline.json"
printf 'epochs: ten\n' >"$out/run_config/bad_type.yaml"
printf 'epohcs: 3\n' >"$out/run_config/bad_key.yaml"
printf 'optimizer_config: {betaz: [0.9, 0.99]}\n' >"$out/run_config/bad_group_key.yaml"
printf 'split: [0.8, 0.3]\n' >"$out/run_config/bad_split.yaml"
printf 'seeds: [1, 2.5]\n' >"$out/run_config/bad_seed.yaml"
printf '\x390.7,0.2,0.1' >"$out/run_config/flag_split"

# ---- yaml: run configs, pipelines, a spec, and the YAML features that are refused -----------
cp examples/configs/*.yaml "$out/yaml/"
cp examples/pipelines/boston_steps.yaml "$out/yaml/"
cp examples/specs/regression_norm.json "$out/yaml/"
cat >"$out/yaml/scalars.yaml" <<'EOF'
# every kind of scalar
plain: text
quoted: "1.5"
single: 'it''s'
ints: [0, -7, 123456789012]
reals: [1.5, -2e-3, .5]
nulls: [null, ~, ]
bools: [true, false]
block: |
  two
  lines
folded: >
  one
  line
nested: {a: {b: [1, {c: d}]}}
EOF
printf 'a: &x 1\nb: *x\n' >"$out/yaml/bad_alias.yaml"
printf 'a: 1\n---\nb: 2\n' >"$out/yaml/bad_two_docs.yaml"
printf 'a: !!str 1\n' >"$out/yaml/bad_tag.yaml"
printf 'a:\n  - 1\n - 2\n' >"$out/yaml/bad_indent.yaml"
printf '{"a": [1, 2' >"$out/yaml/bad_flow.yaml"

# ---- pipeline: the examples, JSON form, --set overrides (NUL-separated after the text) ------
cp examples/pipelines/*.yaml "$out/pipeline/"
cat >"$out/pipeline/json_form.json" <<'EOF'
{"pipeline": "p", "seed": 1, "cards": [
 {"id": "load", "card": "data_load", "with": {"name": "iris"}},
 {"id": "split", "card": "data_split", "in": {"dataset": "load.dataset"}},
 {"id": "define", "card": "model_define", "with": {"layers": [{"type": "linear", "units": 3}]}},
 {"id": "build", "card": "build_model", "in": {"model_spec": "define.model_spec",
  "input_size": "split.input_size"}},
 {"id": "train", "card": "train", "in": {"model": "build.model", "dataset": "split.train_dataset"},
  "with": {"epochs": 2}}]}
EOF
{ cat examples/pipelines/boston_train.yaml; printf '\0train.epochs=3\0build.max_batch=64'; } \
    >"$out/pipeline/overrides"
printf 'pipeline: c\ncards:\n  - {id: a, card: normalize, in: {train_dataset: b.train_dataset}}\n  - {id: b, card: normalize, in: {train_dataset: a.train_dataset}}\n' \
    >"$out/pipeline/bad_cycle.yaml"
printf 'pipeline: u\ncards:\n  - {id: a, card: data_lod, with: {name: iris}}\n' \
    >"$out/pipeline/bad_card.yaml"
printf 'pipeline: w\ncards:\n  - {id: a, card: data_load, with: {name: iris}}\n  - {id: b, card: build_model, in: {model_spec: a.dataset}}\n' \
    >"$out/pipeline/bad_wire.yaml"
{ cat examples/pipelines/wine.yaml; printf '\0train.epochz=3'; } >"$out/pipeline/bad_override"

du -sh "$out"
