#!/usr/bin/env bash
# The tuner's tabular benchmark's table (bench/data/tune_table.json), made once with netsmith
# itself: every configuration of a grid of MLPs on Boston housing (learning_rate x
# hidden_layers x batch_size, 6 x 4 x 3 = 72), trained with `netsmith train` for 27 epochs
# (seed 0, Adam, the default split and normalisation, 1 thread), and each one's per-epoch
# validation loss (the run directory's metrics.csv, column val_loss) kept. bench_tune --tabular
# replays tuning runs against it. A few seconds on 2 cores.
#
#   bash bench/make_tune_table.sh [OUT]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
out="${1:-$root/bench/data/tune_table.json}"
netsmith="$build/netsmith"
[ -x "$netsmith" ] || { echo "make_tune_table.sh: $netsmith is missing; build netsmith_cli" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

data=boston_housing
epochs=27
rates="0.0001 0.0003 0.001 0.003 0.01 0.03"
layers="8 32 64,64 128,128"
batches="8 32 128"

: >"$work/runs.txt"
for lr in $rates; do
    for hl in $layers; do
        for bs in $batches; do
            dir="$work/run-$lr-${hl/,/x}-$bs"
            cat >"$work/c.yaml" <<EOF
model: {hidden_layers: [$hl]}
data: $data
epochs: $epochs
learning_rate: $lr
batch_size: $bs
seed: 0
EOF
            "$netsmith" train -c "$work/c.yaml" --threads 1 --quiet --run-dir "$dir" \
                -o "$dir.safetensors" >/dev/null
            echo "$lr $hl $bs $dir/metrics.csv" >>"$work/runs.txt"
        done
    done
done

mkdir -p "$(dirname "$out")"
python3 - "$work/runs.txt" "$out" "$data" "$epochs" "$rates" "$layers" "$batches" <<'EOF'
import csv, json, sys
runs, out, data, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rates = [float(v) for v in sys.argv[5].split()]
layers = [[int(u) for u in v.split(",")] for v in sys.argv[6].split()]
batches = [int(v) for v in sys.argv[7].split()]
configs = []
for line in open(runs):
    lr, hl, bs, path = line.split()
    rows = list(csv.DictReader(open(path)))
    curve = [float(r["val_loss"]) for r in rows]
    assert len(curve) == epochs, (path, len(curve))
    configs.append({"learning_rate": float(lr), "hidden_layers": [int(u) for u in hl.split(",")],
                    "batch_size": int(bs), "val_loss": [float("%.6g" % v) for v in curve]})
table = {"dataset": data, "metric": "val.loss", "epochs": epochs, "seed": 0,
         "made_by": "bench/make_tune_table.sh",
         "axes": {"learning_rate": rates, "hidden_layers": layers, "batch_size": batches},
         "configs": configs}
with open(out, "w") as f:
    f.write("{\n")
    for k in ("dataset", "metric", "epochs", "seed", "made_by", "axes"):
        f.write("  %s: %s,\n" % (json.dumps(k), json.dumps(table[k])))
    f.write('  "configs": [\n')
    f.write(",\n".join("    " + json.dumps(c) for c in configs))
    f.write("\n  ]\n}\n")
best = min(configs, key=lambda c: c["val_loss"][-1])
print("make_tune_table.sh: %d configurations, %d epochs each, to %s; best final val loss %.4g "
      "(learning_rate %g, hidden_layers %s, batch_size %d)"
      % (len(configs), epochs, out, best["val_loss"][-1], best["learning_rate"],
         best["hidden_layers"], best["batch_size"]))
EOF
