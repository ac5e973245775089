#!/usr/bin/env bash
# Training step: netsmith (bench_train) against PyTorch (bench/bench_torch.py, Debian's
# python3-torch run with /usr/bin/python3) on five networks, Adam lr 1e-3, data made once in
# memory. One process per network and setting, so the peak RSS is that run's; netsmith and
# PyTorch runs alternate so drift hits both. Each figure is the median of 5 repeats of N steps
# (about 0.5 s a repeat) after an untimed warm-up; with ROUNDS > 1 each setting runs ROUNDS
# times and keeps its best median (default 2). Also measures OpenBLAS sgemm 1024^3 at 1 and 2
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
rounds="${ROUNDS:-2}"
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
        "$py" "$root/bench/bench_torch.py" "$net" 2t --repeats "$repeats" --target "$target" \
            | sed 's/^result /pt /' | tee -a "$raw"
    done
done

# f: network e trained one epoch on Fashion-MNIST end to end (skipped without the dataset, or
# with FASHION=0). One wall-clock run per side and setting.
if [ "${FASHION:-1}" != 0 ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]
then
    echo "== f: network e, one epoch of Fashion-MNIST end to end"
    OPENBLAS_NUM_THREADS=1 "$bin" --fashion | sed 's/^fashion /nsf setting=1t /' | tee -a "$raw"
    "$py" "$root/bench/bench_torch.py" fashion 1t | sed 's/^fashion /ptf /' | tee -a "$raw"
    OPENBLAS_NUM_THREADS=2 "$bin" --fashion | sed 's/^fashion /nsf setting=2t /' | tee -a "$raw"
    "$py" "$root/bench/bench_torch.py" fashion 2t | sed 's/^fashion /ptf /' | tee -a "$raw"
fi

sgemm # again at the end; the best of both counts

cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
cpu="${cpu:-unknown CPU}, $(nproc) cores"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"
descr="$("$bin" --list)"

"$py" - "$raw" "$results" "$cpu" "$when" "$descr" "$repeats" "$target" "$rounds" <<'END'
import sys

raw, results, cpu, when, descr, repeats, target, rounds = sys.argv[1:]
sgemm, runs, torch_base = {}, [], None
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
    elif f[0] in ("nsf", "ptf"):
        kv["who"], kv["net"] = f[0][:2], "f"
        for k in ("ms", "rss_mb", "load_s", "train_s", "eval_s", "test_acc"):
            kv[k] = float(kv[k])
        kv["sps"] = 64 * 1e3 / kv["ms"]  # batch 64 (the last batch of an epoch is 32)
        runs.append(kv)

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
out.append("Settings: netsmith `1t`/`2t` = `OPENBLAS_NUM_THREADS=1`/`2`. PyTorch `1t` = "
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
names["f"] = ("network e trained one epoch on Fashion-MNIST (60000 images, batch 64, "
              "shuffled) end to end: batches built from the dataset inside the timed loop "
              "(netsmith's batcher, PyTorch indexing its in-memory tensor); one run, not a median")
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
    if n == "f":  # network e's FLOPs a step
        e = best("ns", "e")
        gf = float(e["flop"]) / (a["ms"] / 1e3) / 1e9 if e else 0.0
    else:
        gf = float(a["gflops"])
    sg = sgemm.get(a["setting"][0])
    out.append("| %s | %.3f (%s) | %.3f (%s) | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f | %.1f | %s |"
               % (n, a["ms"], a["setting"], b["ms"], b["setting"], a["sps"], b["sps"],
                  a["rss_mb"], b["rss_mb"], b["ms"] / a["ms"], a["rss_mb"] / b["rss_mb"], gf,
                  "%.0f%%" % (100 * gf / sg) if sg else "?"))
out.append("")
out.append("Every setting, ms/step (median):")
out.append("")
out.append("| net | netsmith 1t | netsmith 2t | PyTorch 1t | PyTorch 1omp2blas | PyTorch 2t |")
out.append("|---|---|---|---|---|---|")
for n in order:
    cells = []
    for who, s in (("ns", "1t"), ("ns", "2t"), ("pt", "1t"), ("pt", "1omp2blas"), ("pt", "2t")):
        r = best(who, n, s)
        cells.append("%.3f" % r["ms"] if r else "-")
    out.append("| %s | %s |" % (n, " | ".join(cells)))
fr = [r for r in runs if r["net"] == "f"]
if fr:
    out.append("")
    out.append("f in detail (one run each; load = reading the gzipped IDX files; eval = the "
               "10000 test images in batches of 64):")
    out.append("")
    out.append("| side | setting | load s | train s | ms/step | eval s | test accuracy | RSS MB |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in fr:
        out.append("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.4f | %.1f |"
                   % ("netsmith" if r["who"] == "ns" else "PyTorch", r["setting"], r["load_s"],
                      r["train_s"], r["ms"], r["eval_s"], r["test_acc"], r["rss_mb"]))
out.append("")
section = "\n".join(out)
print()
print(section)

try:
    text = open(results).read()
except FileNotFoundError:
    text = "# Benchmark results\n\nAppended by the scripts in bench/ (`make bench`).\n"
lines = text.rstrip("\n").split("\n")
if "## Training step" in lines:
    start = lines.index("## Training step")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    lines[start:end] = section.rstrip("\n").split("\n") + ([""] if end < len(lines) else [])
else:
    lines += [""] + section.rstrip("\n").split("\n")
open(results, "w").write("\n".join(lines).rstrip("\n") + "\n")
print("wrote the \"Training step\" section of %s" % results)
END
