#!/usr/bin/env bash
# Kernel paths: which library (and which OpenBLAS core) the products should run on, measured
# with OpenBLAS's generic Prescott core standing in for a CPU that OpenBLAS's model table does
# not know. For each option: sgemm GFLOP/s (one thread, row-major NN, hot caches) on
# 1024^3, 128x256x784 and 32x128x13, and a training step (ms, bench_train at 1 thread) on
# networks a-e. Then the targets: network d's step and the Fashion-MNIST MLP's epoch as
# netsmith runs them by default with OPENBLAS_CORETYPE=Prescott in the environment, against
# the machine's best OpenBLAS core (the fastest of the cores this CPU runs, forced), all in
# this one run. Writes the section "Kernel paths" of bench/RESULTS.md.
#
#   bash bench/bench_kernels.sh        (make bench runs it; needs the release build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/bench/bench_train"
results="$root/bench/RESULTS.md"
repeats="${REPEATS:-5}"
target="${TARGET_S:-0.3}"
# Rounds of the target runs, the settings alternating; each keeps its best (the VM's noise
# moves one setting's runs by up to 1.5x).
target_rounds="${TARGET_ROUNDS:-4}"
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_kernels.sh: $bin is missing; run 'make bench'" >&2; exit 1; }

raw="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$raw" "$work"' EXIT

# libxsmm ships only a static library: its own small program, built here.
xsmm=""
if [ -f /usr/include/libxsmm.h ] && cc -O2 -I/usr/include "$root/bench/xsmm_gemm.c" \
    -o "$work/xsmm_gemm" -L/usr/lib -lxsmm -lxsmmnoblas -lpthread -lrt -ldl -lm 2>/dev/null; then
    xsmm="$work/xsmm_gemm"
fi

have_avx512=0
grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && have_avx512=1
cores=(Haswell Zen Sandybridge)
[ "$have_avx512" = 1 ] && cores+=(SkylakeX)

# label|environment (space-separated NAME=value)
options=(
    "OpenBLAS, Prescott (an unknown CPU's fallback)|NETSMITH_BLAS_CORE=Prescott"
    "netsmith default, OPENBLAS_CORETYPE=Prescott|OPENBLAS_CORETYPE=Prescott"
    "OpenBLAS, its own choice for this CPU|NETSMITH_BLAS=libopenblas.so.0"
    "BLIS (libblis.so.4)|NETSMITH_BLAS=libblis.so.4 BLIS_NUM_THREADS=1"
    "oneDNN dnnl_sgemm (libdnnl.so.2)|NETSMITH_BLAS=libdnnl.so.2 OMP_NUM_THREADS=1"
)
for c in "${cores[@]}"; do
    options+=("OpenBLAS, $c forced|NETSMITH_BLAS_CORE=$c")
done

shapes=("1024 1024 1024" "128 256 784" "32 128 13")
for opt in "${options[@]}"; do
    label="${opt%%|*}"
    read -r -a envs <<<"${opt#*|}"
    echo "== $label"
    for s in "${shapes[@]}"; do
        # shellcheck disable=SC2086
        env OPENBLAS_NUM_THREADS=1 "${envs[@]}" "$bin" --sgemm $s | sed "s|^|opt=$label\t|" \
            | tee -a "$raw"
    done
    for net in a b c d e; do
        env OPENBLAS_NUM_THREADS=1 "${envs[@]}" "$bin" "$net" --repeats "$repeats" \
            --target "$target" | sed "s|^|opt=$label\t|" | tee -a "$raw"
    done
done
if [ -n "$xsmm" ]; then
    echo "== libxsmm"
    for s in "${shapes[@]}"; do
        # shellcheck disable=SC2086
        "$xsmm" $s | sed "s|^|opt=libxsmm 1.17 JIT (static library)\t|" | tee -a "$raw"
    done
fi

# The targets: netsmith's default under OPENBLAS_CORETYPE=Prescott against each core forced,
# network d (one step, 1 thread and the 2-thread pool) and the Fashion-MNIST MLP (2 epochs).
fashion=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
echo "== targets"
for ((round = 1; round <= target_rounds; round++)); do
    for who in "default|OPENBLAS_CORETYPE=Prescott" "${cores[@]/#/forced|NETSMITH_BLAS_CORE=}"; do
        label="${who%%|*}"
        read -r -a envs <<<"${who#*|}"
        env OPENBLAS_NUM_THREADS=1 "${envs[@]}" "$bin" d --repeats "$repeats" --target "$target" \
            --threads 2 | sed "s|^|target=$label\t${envs[*]}\t|" | tee -a "$raw"
        if [ "${FASHION:-1}" != 0 ] && [ -f "$fashion" ]; then
            env OPENBLAS_NUM_THREADS=1 "${envs[@]}" "$bin" --fashion --net c --epochs 2 \
                --threads 2 | sed "s|^|target=$label\t${envs[*]}\t|" | tee -a "$raw"
        fi
    done
done

cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
flags="$(grep -m1 -ow -E 'avx512f|avx2|fma|avx' /proc/cpuinfo | sort -u | tr '\n' ' ')"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"

"$py" - "$raw" "$results" "${cpu:-unknown CPU}, $(nproc) cores (${flags% })" "$when" \
    "$target_rounds" <<'END'
import os, re, sys

raw, results, cpu, when, target_rounds = sys.argv[1:]
order, kernels, gemm, steps, targets = [], {}, {}, {}, {}
for line in open(raw):
    line = line.rstrip("\n")
    if line.startswith("opt="):
        label, rest = line[4:].split("\t", 1)
        if label not in order:
            order.append(label)
        if rest.startswith("kernels "):
            kernels[label] = rest[8:]
            continue
        kv = dict(x.split("=", 1) for x in rest.split()[1:] if "=" in x)
        if rest.startswith("sgemm "):
            gemm[(label, (kv["m"], kv["n"], kv["k"]))] = float(kv["gflops"])
        elif rest.startswith("result "):
            steps[(label, kv["net"])] = float(kv["ms"])
    elif line.startswith("target="):
        label, envs, rest = line[7:].split("\t", 2)
        kv = dict(x.split("=", 1) for x in rest.split()[1:] if "=" in x)
        if rest.startswith("result "):
            key, val = "d", float(kv["ms"])
        elif rest.startswith("fashion "):
            key, val = "mlp", float(kv["epoch_s"]) if "epoch_s" in kv else float(kv["s"])
        else:
            continue
        k = (label, envs, key)
        targets[k] = min(targets.get(k, 1e30), val)

shapes = [("1024", "1024", "1024"), ("128", "256", "784"), ("32", "128", "13")]
out = [f"## Kernel paths", "",
       f"{when}, {cpu}. OpenBLAS's Prescott core stands in for a CPU its model table does not "
       "know (it falls back to it). sgemm: one thread, row-major NN, hot caches, GFLOP/s; "
       "step: bench_train ms per training step at one thread (OPENBLAS_NUM_THREADS=1, the "
       "library's own threads at 1; BLIS and oneDNN at one thread too).", "",
       "| option | kernels (ns_kernel_path) | " + " | ".join("x".join(s) for s in shapes) +
       " | a | b | c | d | e |", "|---" * (2 + len(shapes) + 5) + "|"]
for label in order:
    row = [label, kernels.get(label, "")]
    row += ["%.1f" % gemm[(label, s)] if (label, s) in gemm else "-" for s in shapes]
    row += ["%.3f" % steps[(label, n)] if (label, n) in steps else "-" for n in "abcde"]
    out.append("| " + " | ".join(row) + " |")
out += ["", "Targets (netsmith's default with OPENBLAS_CORETYPE=Prescott against each core "
        "forced with NETSMITH_BLAS_CORE; network d: ms per step with the 2-thread pool; MLP: "
        "Fashion-MNIST network c, seconds per epoch over 2 epochs with the 2-thread pool; "
        f"best of {target_rounds} rounds):", "", "| run | d ms/step | MLP s/epoch |",
        "|---|---|---|"]
runs = sorted({(l, e) for l, e, _ in targets}, key=lambda r: (r[0] != "default", r[1]))
for l, e in runs:
    d, m = targets.get((l, e, "d")), targets.get((l, e, "mlp"))
    out.append(f"| {l} ({e}) | {'%.3f' % d if d else '-'} | {'%.3f' % m if m else '-'} |")
default = [r for r in runs if r[0] == "default"][0]
forced = [r for r in runs if r[0] == "forced"]
for key, name in (("d", "network d"), ("mlp", "Fashion-MNIST MLP")):
    vals = [(targets[(l, e, key)], e) for l, e in forced if (l, e, key) in targets]
    if not vals or (default[0], default[1], key) not in targets:
        continue
    best, who = min(vals)
    ratio = best / targets[(default[0], default[1], key)]
    out.append("")
    out.append(f"- {name}: speed with OPENBLAS_CORETYPE=Prescott / speed with the best core "
               f"({who}) = **{ratio:.2f}** (target at least 0.85)")
section = "\n".join(out) + "\n"
print(section)
sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import put_section  # noqa: E402 (bench/results.py)
put_section(results, "Kernel paths", section)
END
