#!/usr/bin/env bash
# Training step: netsmith (bench_train) against PyTorch (bench/bench_torch.py, Debian's
# python3-torch run with /usr/bin/python3) on five networks, Adam lr 1e-3, data made once in
# memory. One process per network and setting, so the peak RSS is that run's; netsmith and
# PyTorch runs alternate so drift hits both. Each figure is the median of 5 repeats of N steps
# (about 0.5 s a repeat) after an untimed warm-up; with ROUNDS > 1 each setting runs ROUNDS
# times and keeps its best median (default 3). Also measures OpenBLAS sgemm 1024^3 at 1 and 2
# threads, before and after the networks (best of both).
# Prints one table and writes it to bench/RESULTS.md (section "Training step"; the other
# sections are kept). Builds nothing: `make bench` builds build/release first (BUILD_DIR
# points elsewhere).
#
#   bash bench/run_bench.sh [NET...]      (default: a b c d e)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/bench/bench_train"
results="$root/bench/RESULTS.md"
rounds="${ROUNDS:-3}"
repeats="${REPEATS:-5}"
target="${TARGET_S:-0.5}"
py=/usr/bin/python3

if [ ! -x "$bin" ]; then
    echo "run_bench.sh: $bin is missing; run 'make bench' (or build the release preset)" >&2
    exit 1
fi
nets=("$@")
[ ${#nets[@]} -gt 0 ] || nets=(a b c d e)

raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT

sgemm() {
    echo "== OpenBLAS sgemm 1024x1024x1024"
    for t in 1 2; do
        OPENBLAS_NUM_THREADS=$t "$bin" --sgemm | tee -a "$raw"
    done
}
sgemm
"$py" -c 'import resource, torch; print("torch_baseline rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))' \
    | tee -a "$raw"

for net in "${nets[@]}"; do
    echo "== network $net: $("$bin" --list | awk -v n="$net" '$1 == n {$1 = ""; print}')"
    for ((r = 1; r <= rounds; r++)); do
        # netsmith and PyTorch alternate.
        OPENBLAS_NUM_THREADS=1 "$bin" "$net" --repeats "$repeats" --target "$target" \
            | sed 's/^result /ns setting=1t /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" "$net" 1t --repeats "$repeats" --target "$target" \
            | sed 's/^result /pt /' | tee -a "$raw"
        OPENBLAS_NUM_THREADS=2 "$bin" "$net" --repeats "$repeats" --target "$target" \
            | sed 's/^result /ns setting=2t /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" "$net" 1omp2blas --repeats "$repeats" \
            --target "$target" | sed 's/^result /pt /' | tee -a "$raw"
        # The context's own pool: 2 threads, each piece a 1-thread OpenBLAS sgemm.
        OPENBLAS_NUM_THREADS=1 "$bin" "$net" --repeats "$repeats" --target "$target" --threads 2 \
            | sed 's/^result /ns setting=2p /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" "$net" 2t --repeats "$repeats" --target "$target" \
            | sed 's/^result /pt /' | tee -a "$raw"
    done
done

# f: Fashion-MNIST end to end (skipped without the dataset, or with FASHION=0); wall-clock runs.
# The MLP (network c) trains 5 epochs on both sides at every setting, F_ROUNDS times (default
# 2, the sides alternating; each side's fastest run counts), then once per seed of F_SEEDS
# (default 1 to 5; netsmith 2p, PyTorch 1omp2blas) for the test accuracy's mean over seeds;
# the CNN (network e) trains with netsmith until its test accuracy reaches F_UNTIL (at most
# F_EPOCHS epochs, at setting F_SETTING: 1t, 2t or 2p, default 2p, the fastest for e in the
# step rows), and with PyTorch for F_TORCH_EPOCHS epochs at 1t and 2t, enough for its time
# per epoch.
f_rounds="${F_ROUNDS:-2}"
f_seeds="${F_SEEDS:-1 2 3 4 5}"
f_until="${F_UNTIL:-0.91}"
f_epochs="${F_EPOCHS:-15}"
f_setting="${F_SETTING:-2p}"
case "$f_setting" in
1t) f_env=1 f_args=() ;;
2t) f_env=2 f_args=() ;;
2p) f_env=1 f_args=(--threads 2) ;;
*)
    echo "run_bench.sh: F_SETTING=$f_setting: use 1t, 2t or 2p" >&2
    exit 2
    ;;
esac
f_torch_epochs="${F_TORCH_EPOCHS:-1}"
if [ "${FASHION:-1}" != 0 ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]
then
    echo "== f: network c, 5 epochs of Fashion-MNIST end to end ($f_rounds round(s))"
    for ((r = 1; r <= f_rounds; r++)); do
        OPENBLAS_NUM_THREADS=1 "$bin" --fashion --net c --epochs 5 | sed 's/^fashion /nsf setting=1t /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" fashion 1t --net c --epochs 5 | sed 's/^fashion /ptf /' | tee -a "$raw"
        OPENBLAS_NUM_THREADS=2 "$bin" --fashion --net c --epochs 5 | sed 's/^fashion /nsf setting=2t /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" fashion 1omp2blas --net c --epochs 5 | sed 's/^fashion /ptf /' | tee -a "$raw"
        OPENBLAS_NUM_THREADS=1 "$bin" --fashion --net c --epochs 5 --threads 2 | sed 's/^fashion /nsf setting=2p /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" fashion 2t --net c --epochs 5 | sed 's/^fashion /ptf /' | tee -a "$raw"
    done
    echo "== f: network c, 5 epochs, test accuracy over seeds $f_seeds"
    for seed in $f_seeds; do
        OPENBLAS_NUM_THREADS=1 "$bin" --fashion --net c --epochs 5 --threads 2 --seed "$seed" \
            | sed 's/^fashion /nss setting=2p /' | tee -a "$raw"
        "$py" "$root/bench/bench_torch.py" fashion 1omp2blas --net c --epochs 5 --seed "$seed" \
            | sed 's/^fashion /pts /' | tee -a "$raw"
    done
    echo "== f: network e on Fashion-MNIST until test accuracy $f_until (netsmith), $f_torch_epochs epoch(s) (PyTorch)"
    "$py" "$root/bench/bench_torch.py" fashion 1t --net e --epochs "$f_torch_epochs" | sed 's/^fashion /ptf /' | tee -a "$raw"
    OPENBLAS_NUM_THREADS=$f_env "$bin" --fashion --net e --epochs "$f_epochs" --until "$f_until" \
        "${f_args[@]}" | sed "s/^fashion /nsf setting=$f_setting /" | tee -a "$raw"
    "$py" "$root/bench/bench_torch.py" fashion 2t --net e --epochs "$f_torch_epochs" | sed 's/^fashion /ptf /' | tee -a "$raw"
fi

sgemm # again at the end; the best of both counts

cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
cpu="${cpu:-unknown CPU}, $(nproc) cores"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"
descr="$("$bin" --list)"

"$py" - "$raw" "$results" "$cpu" "$when" "$descr" "$repeats" "$target" "$rounds" "$f_epochs" \
    "$f_torch_epochs" <<'END'
import os, sys

raw, results, cpu, when, descr, repeats, target, rounds, f_epochs, f_torch_epochs = sys.argv[1:]
sgemm, runs, fruns, sruns, torch_base = {}, [], [], [], None
for line in open(raw):
    f = line.split()
    if not f:
        continue
    kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
    if f[0] == "sgemm":
        sgemm[kv["threads"]] = max(sgemm.get(kv["threads"], 0.0), float(kv["gflops"]))
    elif f[0] == "torch_baseline":
        torch_base = float(kv["rss_mb"])
    elif f[0] in ("ns", "pt"):
        kv["who"] = f[0]
        for k in ("ms", "sps", "rss_mb"):
            kv[k] = float(kv[k])
        runs.append(kv)
    elif f[0] in ("nsf", "ptf", "nss", "pts"):
        kv["who"] = f[0][:2]
        kv["seeds"] = f[0][2] == "s"
        for k in ("ms", "rss_mb", "load_s", "train_s", "epoch_s", "eval_s", "test_acc", "until"):
            kv[k] = float(kv[k])
        kv["epochs"] = int(kv["epochs"])
        (sruns if kv["seeds"] else fruns).append(kv)

names = {l.split()[0]: " ".join(l.split()[1:]) for l in descr.splitlines() if l.strip()}
order = []
for r in runs:
    if r["net"] not in order:
        order.append(r["net"])


def best(who, net, setting=None):
    c = [r for r in runs if r["who"] == who and r["net"] == net
         and (setting is None or r["setting"] == setting)]
    return min(c, key=lambda r: r["ms"]) if c else None


torch_version = next((r["torch"] for r in runs if r["who"] == "pt"), "?")
out = []
out.append("## Training step")
out.append("")
out.append("`bash bench/run_bench.sh` (run by `make bench`), %s, %s. netsmith (`bench_train`, "
           "release build, OpenBLAS) against PyTorch %s (Debian's python3-torch, "
           "`/usr/bin/python3 bench/bench_torch.py`). A step is zero_grad + forward + loss + "
           "backward + Adam step (lr 1e-3) on data made once in memory (normal inputs, random "
           "targets, fixed seed, 4 batches cycled). Each figure is the median of %s repeats of N "
           "steps (N sized so a repeat takes about %s s) after an untimed warm-up; one process per "
           "network and setting (peak RSS = `ru_maxrss` of that process), netsmith and PyTorch "
           "runs alternating (%s round(s); best median kept)." % (cpu, when, torch_version,
                                                                   repeats, target, rounds))
out.append("")
out.append("Settings: netsmith `1t`/`2t` = `OPENBLAS_NUM_THREADS=1`/`2`; `2p` = the context's "
           "own 2 threads (`ns_ctx_set_threads(ctx, 2)`, `bench_train --threads 2`) with "
           "`OPENBLAS_NUM_THREADS=1`: large dense products split by rows, convolutions by chunks "
           "of samples (each piece a 1-thread sgemm) and the Adam update by blocks of "
           "parameters, results the same at any thread count (the `netsmith` command's "
           "default). PyTorch `1t` = "
           "`torch.set_num_threads(1)` with OMP and OpenBLAS at 1; `1omp2blas` = 1 OpenMP thread "
           "and `OPENBLAS_NUM_THREADS=2` (Debian's torch runs linear layers' GEMMs in the system "
           "OpenBLAS; convolutions go through oneDNN); `2t` = 2 threads everywhere with "
           "`OMP_WAIT_POLICY=PASSIVE`.")
out.append("")
out.append("Noise: on a small shared machine (here %s) whole runs differ by up to ~30%% in the "
           "2-thread columns (the 1-thread ones by a few %%); within a run the repeats agree to "
           "a few %%. Read ratios near 1 as a tie." % cpu)
out.append("")
out.append("OpenBLAS sgemm 1024x1024x1024 (best of 7, measured before and after the networks): %s GFLOP/s." %
           ", ".join("%s at %s thread(s)" % (("%.1f" % v), k) for k, v in sorted(sgemm.items())))
if torch_base is not None:
    out.append("PyTorch's peak RSS includes the interpreter and libtorch: `import torch` alone "
               "peaks at %.0f MB." % torch_base)
out.append("")
out.append("Networks (`bench_train --list`):")
out.append("")
for n in order:
    out.append("- **%s**: %s" % (n, names.get(n, "")))
out.append("")
out.append("Best setting of each side. speed = PyTorch ms / netsmith ms (> 1: netsmith faster); "
           "memory = netsmith RSS / PyTorch RSS. GFLOP/s is netsmith's, counting the GEMM work per "
           "sample: 6 x in x out for a linear layer and 3 x 2 x K x K x Cin x Cout x Hout x Wout "
           "for a convolution (forward, weight gradient, input gradient), except that the first "
           "layer computes no input gradient (2 passes, not 3); % sgemm is against the sgemm "
           "rate at netsmith's thread count.")
out.append("")
out.append("| net | netsmith ms/step | PyTorch ms/step | netsmith samples/s | PyTorch samples/s "
           "| netsmith RSS MB | PyTorch RSS MB | speed | memory | netsmith GFLOP/s | % sgemm |")
out.append("|---|---|---|---|---|---|---|---|---|---|---|")
for n in order:
    a, b = best("ns", n), best("pt", n)
    if a is None or b is None:
        continue
    gf = float(a["gflops"])
    sg = sgemm.get(a["setting"][0])
    out.append("| %s | %.3f (%s) | %.3f (%s) | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f | %.1f | %s |"
               % (n, a["ms"], a["setting"], b["ms"], b["setting"], a["sps"], b["sps"],
                  a["rss_mb"], b["rss_mb"], b["ms"] / a["ms"], a["rss_mb"] / b["rss_mb"], gf,
                  "%.0f%%" % (100 * gf / sg) if sg else "?"))
out.append("")
out.append("Every setting, ms/step (median):")
out.append("")
out.append("| net | netsmith 1t | netsmith 2t | netsmith 2p | PyTorch 1t | PyTorch 1omp2blas "
           "| PyTorch 2t |")
out.append("|---|---|---|---|---|---|---|")
for n in order:
    cells = []
    for who, s in (("ns", "1t"), ("ns", "2t"), ("ns", "2p"), ("pt", "1t"), ("pt", "1omp2blas"),
                   ("pt", "2t")):
        r = best(who, n, s)
        cells.append("%.3f" % r["ms"] if r else "-")
    out.append("| %s | %s |" % (n, " | ".join(cells)))
if fruns:
    out.append("")
    out.append("### f: Fashion-MNIST end to end")
    out.append("")
    out.append("`bench_train --fashion` against `bench_torch.py fashion`: the 60000 training "
               "images (netsmith keeps them as bytes and scales each batch to [0, 1]; PyTorch "
               "indexes a float tensor scaled once), shuffled batches built inside the timed loop, "
               "Adam lr 1e-3, cross-entropy, then the 10000 test images; one wall-clock run per "
               "line, seeds differ between the two sides. MLP = network c (batch 128) for 5 "
               "epochs, every setting run in each round, the sides alternating; CNN = network e (batch 64): netsmith until its test accuracy reaches "
               "%s (evaluated after every epoch, at most %s epochs), PyTorch for %s epoch(s), "
               "enough for its time per epoch. RSS is the process's peak, data included."
               % (next(("%.2f" % r["until"] for r in fruns if r["until"] > 0), "-"),
                  f_epochs, f_torch_epochs))
    out.append("")
    out.append("| net | side | setting | epochs | s/epoch | train s | ms/step | test accuracy "
               "| RSS MB |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in fruns:
        out.append("| %s | %s | %s | %d | %.2f | %.1f | %.3f | %.4f | %.1f |"
                   % ("MLP (c)" if r["net"] == "c" else "CNN (e)",
                      "netsmith" if r["who"] == "ns" else "PyTorch", r["setting"], r["epochs"],
                      r["epoch_s"], r["train_s"], r["ms"], r["test_acc"], r["rss_mb"]))
    out.append("")
    for net, label in (("c", "MLP"), ("e", "CNN")):
        ns_ = [r for r in fruns if r["who"] == "ns" and r["net"] == net]
        pt_ = [r for r in fruns if r["who"] == "pt" and r["net"] == net]
        if not ns_ or not pt_:
            continue
        a = min(ns_, key=lambda r: r["epoch_s"])
        b = min(pt_, key=lambda r: r["epoch_s"])
        line = ("- %s: netsmith %.2f s/epoch (%s) against PyTorch's best %.2f s/epoch (%s): "
                "speed %.2f; peak RSS %.1f MB against %.1f MB (%.2f)"
                % (label, a["epoch_s"], a["setting"], b["epoch_s"], b["setting"],
                   b["epoch_s"] / a["epoch_s"], max(r["rss_mb"] for r in ns_),
                   min(r["rss_mb"] for r in pt_), max(r["rss_mb"] for r in ns_) /
                   min(r["rss_mb"] for r in pt_)))
        if net == "c":
            def accs(rs):  # one per setting: a setting gives the same accuracy every round
                seen = {}
                for r in rs:
                    seen.setdefault(r["setting"], r["test_acc"])
                return ", ".join("%.4f (%s)" % (v, k) for k, v in seen.items())
            line += ("; test accuracy after 5 epochs %s (netsmith) and %s (PyTorch)"
                     % (accs(ns_), accs(pt_)))
        else:
            u = [r for r in ns_ if r["until"] > 0]
            if u:
                r = u[0]
                line += ("; netsmith reached test accuracy %.4f after %d epoch(s), %.1f s of "
                         "training%s" % (r["test_acc"], r["epochs"], r["train_s"],
                                         "" if r["reached"] == "1" else
                                         " (target %.2f NOT reached)" % r["until"]))
        out.append(line + ".")
    if sruns:
        seeds = sorted({int(r["seed"]) for r in sruns})
        acc = {(r["who"], int(r["seed"])): r["test_acc"] for r in sruns}
        out.append("")
        out.append("MLP (c) test accuracy after 5 epochs over seeds (the seed sets the initial "
                   "weights and the shuffling on each side; netsmith 2p, PyTorch 1omp2blas):")
        out.append("")
        out.append("| side | " + " | ".join("seed %d" % k for k in seeds) + " | mean | std |")
        out.append("|---|" + "---|" * (len(seeds) + 2))
        for who, label in (("ns", "netsmith"), ("pt", "PyTorch")):
            v = [acc[(who, k)] for k in seeds if (who, k) in acc]
            if not v:
                continue
            mean = sum(v) / len(v)
            std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
            out.append("| %s | " % label + " | ".join(
                "%.4f" % acc[(who, k)] if (who, k) in acc else "-" for k in seeds)
                + " | %.4f | %.4f |" % (mean, std))
section = "\n".join(out)
print()
print(section)

sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import put_section  # noqa: E402 (bench/results.py)
put_section(results, "Training step", section)
print("wrote the \"Training step\" section of %s" % results)
END
