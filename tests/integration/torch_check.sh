#!/usr/bin/env bash
# A model file written by `netsmith train` loads in PyTorch (nn.Sequential, strict
# state_dict) and predicts what `netsmith predict` did, to 1e-5. Skips (77) without PyTorch.
# usage: torch_check.sh NETSMITH SOURCE_DIR
set -u
ns=$1
src=$2
py=/usr/bin/python3
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "torch_check: PyTorch (Debian's python3-torch) is not installed; skipped"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
check() { # name data csv target spec-extra...
    local name=$1 data=$2 csv=$3 target=$4
    "$ns" train "$src/examples/specs/seed.json" --data "$data" --epochs 5 --seed 1 --quiet \
        --run-dir "$work/runs-$name" -o "$work/$name.safetensors" >/dev/null || {
        echo "FAIL: train $name"; fail=1; return; }
    "$ns" predict "$work/$name.safetensors" --data "$data" -o "$work/$name.csv" || {
        echo "FAIL: predict $name"; fail=1; return; }
    "$py" "$src/tools/torch_check.py" "$work/$name.safetensors" "$csv" "$work/$name.csv" \
        "$target" || { echo "FAIL: $name differs from PyTorch"; fail=1; }
}
check boston boston_housing "$src/data/boston_housing.csv" MEDV
check wine wine "$src/data/wine.csv" class
check cancer breast_cancer "$src/data/breast_cancer.csv" diagnosis
if [ $fail = 0 ]; then echo "3 passed, 0 failed"; else echo "some checks failed"; fi
exit $fail
