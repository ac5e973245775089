#!/usr/bin/env bash
# The run layer's cost: `netsmith train` (ns_run: data loading, the split, the record, events
# and checkpoint hooks around the training loop) against the bare training loop of
# bench_train --fashion, on Fashion-MNIST network c (784-256-128-10, batch 128, Adam 1e-3),
# 2 epochs with the 2-thread pool, the same rows (all 60000: split 1,0, no normalisation).
# Each round runs both, alternating, and the figure is seconds per epoch; the best of ROUNDS
# (default 3) counts. Writes the section "Run layer" of bench/RESULTS.md. Needs Debian's
# dataset-fashion-mnist; builds nothing.
#
#   bash bench/bench_run.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
results="$root/bench/RESULTS.md"
rounds="${ROUNDS:-3}"
data=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
[ -f "$data" ] || { echo "bench_run.sh: $data is missing (dataset-fashion-mnist)" >&2; exit 0; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/c.json" <<'JSON'
{"layers": [{"type": "flatten"}, {"type": "linear", "units": 256}, {"type": "relu"},
            {"type": "linear", "units": 128}, {"type": "relu"}, {"type": "linear", "units": 10}],
 "training": {"optimizer": "adam", "learning_rate": 0.001, "epochs": 2, "batch_size": 128}}
JSON
raw="$work/raw"
: >"$raw"
echo "== run layer: netsmith train against the bare loop, network c, 2 epochs, $rounds round(s)"
for ((r = 1; r <= rounds; r++)); do
    OPENBLAS_NUM_THREADS=1 "$build/bench/bench_train" --fashion --net c --epochs 2 --threads 2 |
        sed -n 's/.* epoch_s=\([0-9.]*\).*/loop \1/p' | tee -a "$raw"
    rm -rf "$work/run"
    "$build/netsmith" train "$work/c.json" --data "$data" --split 1,0 --normalize none \
        --threads 2 --seed 0 --quiet --run-dir "$work/run" -o "$work/m.safetensors" >/dev/null
    awk -F, 'NR > 1 { s += $4; n++ } END { printf "run %.4f\n", s / n }' "$work/run/metrics.csv" |
        tee -a "$raw"
done
/usr/bin/python3 - "$raw" "$results" "$rounds" <<'END'
import os, sys
raw, results, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
best = {}
for line in open(raw):
    k, v = line.split()
    best[k] = min(best.get(k, float("inf")), float(v))
loop, run = best["loop"], best["run"]
section = "\n".join([
    "## Run layer", "",
    "`netsmith train` (ns_run: loading, split, record, events, checkpoint hooks) against the "
    "bare training loop (bench_train --fashion) on Fashion-MNIST network c, 2 epochs with the "
    f"2-thread pool, the same 60000 rows; seconds per epoch, best of {rounds} alternating "
    "rounds (bench/bench_run.sh):", "",
    "| path | s/epoch |", "|---|---|",
    f"| bare loop | {loop:.3f} |", f"| netsmith train | {run:.3f} |", "",
    f"- netsmith train / bare loop = **{run / loop:.2f}** (target at most 1.05): what the Train "
    "card's loop (running training metrics, the non-finite guard, callbacks) and the run layer "
    "(events, the record) cost over the five step calls", ""])
print(section)
sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import put_section  # noqa: E402 (bench/results.py)
put_section(results, "Run layer", section)
END
