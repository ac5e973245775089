#!/usr/bin/env bash
# Cards from the command line: an application's own card loaded as a plugin (netsmith run,
# card and cards with --plugin or NETSMITH_PLUGINS) and the plugin errors; other tools' card
# names suggested; a hand-written batch_index file for prepare_batch run alone.
# usage: cards_test.sh NETSMITH PLUGIN.so SOURCE_DIR
set -u
ns=$1
plugin=$2
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
cd "$work"
pipe=$src/examples/plugins/wine_scaled.yaml

# 1. The plugin example pipeline: unknown card without the plugin, runs with it.
out=$("$ns" run --check "$pipe" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "unknown card 'scale_features'" && ok || bad "check without plugin: $out"
"$ns" run --check "$pipe" --plugin "$plugin" >/dev/null && ok || bad "check with --plugin"
"$ns" run "$pipe" -q --plugin "$plugin" --show eval.metrics >"$work/run.txt" && ok || bad "run with --plugin"
grep -q "accuracy" "$work/run.txt" && ok || bad "no metrics shown: $(cat "$work/run.txt")"
NETSMITH_PLUGINS="/nonexistent-dir-is-skipped-not:$plugin" "$ns" run --check "$pipe" >/dev/null 2>&1
[ $? = 1 ] && ok || bad "a missing plugin in NETSMITH_PLUGINS must fail"
NETSMITH_PLUGINS=":$plugin:" "$ns" run --check "$pipe" >/dev/null && ok || bad "NETSMITH_PLUGINS"
"$ns" cards scale_features --plugin "$plugin" | grep -q "max-abs scaling" && ok || bad "cards --plugin"

# 2. The plugin card alone over files, its output read by the next card.
"$ns" run "$src/examples/pipelines/wine.yaml" -q --state "$work/state" --set train.epochs=1 \
    --set save.path="$work/w.safetensors" >/dev/null && ok || bad "wine --state"
"$ns" card scale_features --plugin "$plugin" --in train_dataset="$work/state/split/train_dataset.safetensors" \
    --in test_dataset="$work/state/split/test_dataset.safetensors" --set max=2 --out "$work/scaled" \
    && ok || bad "card scale_features --plugin"
[ -f "$work/scaled/train_dataset.safetensors" ] && [ -f "$work/scaled/test_dataset.safetensors" ] \
    && ok || bad "scale_features wrote no datasets"
"$ns" card data_split --in dataset="$work/scaled/train_dataset.safetensors" --out "$work/split2" \
    >/dev/null && ok || bad "a scaled dataset feeds another card"

# 3. Plugin errors name the file.
out=$("$ns" run --check "$pipe" --plugin "$work/none.so" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "plugin $work/none.so: cannot read it" && ok || bad "missing: $out"
echo "text" >"$work/text.so"
out=$("$ns" card scale_features --plugin "$work/text.so" --out "$work/x" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "text.so: not a loadable shared object" && ok || bad "text: $out"
out=$("$ns" cards --plugin "$plugin" --plugin "$plugin" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "a card named 'scale_features' exists" && ok || bad "twice: $out"

# 4. Names other tools give the cards.
out=$("$ns" cards zero_gradients 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "did you mean 'zero_grad'" && ok || bad "cards zero_gradients: $out"
out=$("$ns" card forward_pass --out "$work/x" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "did you mean 'forward'" && ok || bad "card forward_pass: $out"
printf 'pipeline: p\ncards:\n  - {id: l, card: compute_loss}\n' >"$work/p.yaml"
out=$("$ns" run --check "$work/p.yaml" 2>&1)
echo "$out" | grep -q "did you mean 'calculate_loss'" && ok || bad "run compute_loss: $out"

# 5. prepare_batch alone with a batch_index written by hand; its format is documented.
"$ns" cards prepare_batch | grep -q '"batch_size"' && ok || bad "cards prepare_batch: no format"
echo '{"epoch": 0, "index": 1, "batch_size": 8}' >"$work/pos.json"
"$ns" card prepare_batch --in dataset="$work/state/split/train_dataset.safetensors" \
    --in batch_index="$work/pos.json" --out "$work/b" && [ -f "$work/b/batch_data.safetensors" ] \
    && ok || bad "prepare_batch with a hand-written batch_index"
echo '{"epoch": 0, "index": 1, "size": 8}' >"$work/pos.json"
out=$("$ns" card prepare_batch --in dataset="$work/state/split/train_dataset.safetensors" \
    --in batch_index="$work/pos.json" --out "$work/b" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q 'pos.json: unknown key "size"' && ok || bad "bad batch_index: $out"

# 6. A short-form blueprint on images: inspect shows the flatten it starts with.
out=$("$ns" inspect "$src/examples/specs/seed.json" --input-shape 1,4,4 --output-size 3 2>&1)
echo "$out" | grep -Eq '^ +0 +flatten .*\[16\]' && echo "$out" | grep -Eq '^ +1 +linear .*2176' \
    && ok || bad "inspect short form on images: $out"

echo "cards_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
