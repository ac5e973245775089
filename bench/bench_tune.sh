#!/usr/bin/env bash
# The tuner against Optuna (Debian's python3-optuna), both run here, one after the other:
#   - synthetic functions (Branin, Hartmann-6, Rosenbrock-4D): the best-so-far regret after 30,
#     60 and 100 trials over SEEDS seeds (20), TPE with Optuna's defaults, TPE multivariate and
#     random on each side;
#   - the sampler's overhead: ms per ask at trials 900 to 1,000 of a 5-setting study;
#   - a tabular replay of tuning runs (bench/data/tune_table.json, made by
#     bench/make_tune_table.sh): regret against the epochs spent, TPE with each pruner.
# bench_tune (bench/bench_tune.c) and bench/tune_optuna.py print JSON lines; this prints the
# tables and writes them to bench/RESULTS.md (section "Tuner"). Skips, saying so, when
# /usr/bin/python3 has no optuna.
#
#   bash bench/bench_tune.sh          (SEEDS=20 TAB_TRIALS=30 OVERHEAD_TRIALS=1000)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
bin="$build/bench/bench_tune"
table="$root/bench/data/tune_table.json"
results="$root/bench/RESULTS.md"
seeds="${SEEDS:-20}"
tab_trials="${TAB_TRIALS:-30}"
ov_trials="${OVERHEAD_TRIALS:-1000}"

if ! /usr/bin/python3 -c 'import optuna' 2>/dev/null; then
    echo "bench_tune.sh: skipped: /usr/bin/python3 has no optuna (Debian's python3-optuna);" \
        "the tuner's benchmark compares against it" >&2
    exit 0
fi
if [ ! -x "$bin" ]; then
    cmake --build "$build" --target bench_tune -j2 >/dev/null ||
        { echo "bench_tune.sh: $bin is missing; run 'make bench'" >&2; exit 1; }
fi
[ -f "$table" ] || bash "$root/bench/make_tune_table.sh" "$table"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py=(/usr/bin/python3 "$root/bench/tune_optuna.py")

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== tuner: synthetic functions, $seeds seeds (netsmith, then Optuna)"
"$bin" --synthetic --seeds "$seeds" >"$work/syn.jsonl"
"${py[@]}" synthetic --seeds "$seeds" >>"$work/syn.jsonl"
echo "== tuner: overhead at $ov_trials trials"
"$bin" --overhead --trials "$ov_trials" >"$work/over.jsonl"
"${py[@]}" overhead --trials "$ov_trials" >>"$work/over.jsonl"
echo "== tuner: tabular replay, $tab_trials trials, $seeds seeds"
"$bin" --tabular "$table" --seeds "$seeds" --trials "$tab_trials" >"$work/tab.jsonl"
"${py[@]}" tabular "$table" --seeds "$seeds" --trials "$tab_trials" >>"$work/tab.jsonl"

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores"
pending=no
[ -f "$root/src/tune/pending.c" ] && pending=yes
optuna_version="$(/usr/bin/python3 -c 'import optuna; print(optuna.__version__)')"

/usr/bin/python3 - "$work" "$table" "$results" "$root/bench" "$cpu" "$(date -u +%Y-%m-%d)" \
    "$pending" "$optuna_version" "$seeds" "$tab_trials" "$ov_trials" "$load_before" "$load_after" <<'EOF'
import json, math, os, sys
work, table_path, results, bench, cpu, day, pending, oversion = sys.argv[1:9]
seeds, tab_trials, ov_trials = (int(v) for v in sys.argv[9:12])
load_before, load_after = sys.argv[12:14]
sys.path.insert(0, bench)
from results import put_section  # noqa: E402 (bench/results.py)


def lines(name):
    return [json.loads(l) for l in open(os.path.join(work, name)) if l.strip()]


def quantile(v, q):
    v = sorted(v)
    at = (len(v) - 1) * q
    lo = int(math.floor(at))
    if lo >= len(v) - 1:
        return v[-1]
    if math.isinf(v[lo]) or math.isinf(v[lo + 1]):
        return v[lo] if at == lo else v[lo + 1]
    return v[lo] + (v[lo + 1] - v[lo]) * (at - lo)


def num(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "none yet"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    return "%.3g" % x


def cell(v):
    if not v:
        return "-"
    return "%s [%s, %s]" % (num(quantile(v, 0.5)), num(quantile(v, 0.25)), num(quantile(v, 0.75)))


def mann_whitney_greater(a, b):
    """One-sided p that a's values are not larger than b's (normal approximation, ties
    averaged and corrected)."""
    n1, n2 = len(a), len(b)
    allv = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks, i, ties = [0.0] * len(allv), 0, 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def no_worse(a, b):
    if not a or not b:
        return "n/a (no data)"
    ma, mb = quantile(a, 0.5), quantile(b, 0.5)
    if ma <= mb:
        return "yes"
    return "no (p = %.2f)" % mann_whitney_greater(a, b)


out = ["## Tuner", ""]
out.append("`bash bench/bench_tune.sh` (run by `make bench`), %s, %s, both sides in the same "
           "run: netsmith's tuner through its in-memory study API (bench/bench_tune.c, release "
           "build) and Optuna %s (Debian's python3-optuna, bench/tune_optuna.py). Load average "
           "%s at the start and %s at the end (the timings of the overhead table move with it; "
           "the regrets do not)." % (day, cpu, oversion, load_before, load_after))
out.append("")
if pending == "yes":
    out.append("**These netsmith figures are not yet its samplers'**: this tree still builds "
               "src/tune/pending.c, whose sampler, pruner and importance functions are "
               "placeholders (TPE cycles through fixed points, random gives no value, no pruner "
               "ever stops a trial). The tables show the harness working; the netsmith columns "
               "await the real samplers and pruners.")
    out.append("")

# ---- synthetic
syn = lines("syn.jsonl")
errors = sorted({"%s %s: %s" % (r["side"], r["sampler"], r["error"]) for r in syn if "error" in r})
reg = {}
for r in syn:
    if "error" in r:
        continue
    for b in (30, 60, 100):
        if "r%d" % b in r:
            reg.setdefault((r["side"], r["sampler"], r["function"], b), []).append(r["r%d" % b])
out.append("### Synthetic functions")
out.append("")
out.append("Best-so-far regret (best value found minus the known global minimum) after 30, 60 "
           "and 100 complete trials, median [25th, 75th percentile] over seeds 0..%d. Branin on "
           "x1 in [-5, 10], x2 in [0, 15] (minimum 0.397887); Hartmann-6 on [0, 1]^6 (minimum "
           "-3.32237); Rosenbrock-4D on [-5, 10]^4 (minimum 0 at (1, 1, 1, 1)). Each side "
           "searches [0, 1]^d (netsmith: the run settings learning_rate, weight_decay, "
           "dampening, label_smoothing, min_delta and gradient_clip standing in for x1..x6) "
           "mapped linearly onto the domain. TPE = TPESampler(seed=s) with its defaults against "
           "netsmith's tpe with its defaults (10 startup trials, 24 candidates, gamma 0.1 up to "
           "25, prior weight 1); mv = multivariate. \"no worse\": netsmith's median regret at "
           "most Optuna's; where it is larger, p is the one-sided Mann-Whitney probability of "
           "a gap at least that large if both came from the same distribution (small p: "
           "netsmith is worse beyond the seeds' noise)." % (seeds - 1))
out.append("")
out.append("| function | trials | netsmith TPE | Optuna TPE | no worse | netsmith TPE mv | "
           "Optuna TPE mv | no worse | netsmith random | Optuna random |")
out.append("|---|---|---|---|---|---|---|---|---|---|")
for f in ("branin", "hartmann6", "rosenbrock4"):
    for b in (30, 60, 100):
        g = lambda side, s: reg.get((side, s, f, b), [])
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            f, b, cell(g("netsmith", "tpe")), cell(g("optuna", "tpe")),
            no_worse(g("netsmith", "tpe"), g("optuna", "tpe")),
            cell(g("netsmith", "tpe_mv")), cell(g("optuna", "tpe_mv")),
            no_worse(g("netsmith", "tpe_mv"), g("optuna", "tpe_mv")),
            cell(g("netsmith", "random")), cell(g("optuna", "random"))))
if errors:
    out.append("")
    out.append("Left out (\"-\"): " + "; ".join(errors) + ".")
sec = {}
for r in syn:
    if "error" not in r:
        sec.setdefault((r["side"], r["sampler"]), []).append(r["seconds"])
out.append("")
out.append("Wall time of a 100-trial study, median over functions and seeds: " + ", ".join(
    "%s %s %.3f s" % (side, s, quantile(v, 0.5)) for (side, s), v in sorted(sec.items())) + ".")

# ---- overhead
over = {(r["side"], r["sampler"]): r for r in lines("over.jsonl")}
out.append("")
out.append("### Sampler overhead")
out.append("")
out.append("One study of %d complete trials of a 5-setting space (the sphere around 0.3 on [0, "
           "1]^5), seed 0: the wall time of each ask (netsmith: ns_study_ask, settings JSON "
           "included; Optuna: study.ask() and the five suggest_float calls, where its univariate "
           "TPE samples) for trials %d to %d, CLOCK_MONOTONIC. ratio = Optuna's median / "
           "netsmith's." % (ov_trials, ov_trials * 9 // 10, ov_trials))
out.append("")
out.append("| sampler | netsmith median ms | netsmith p95 ms | Optuna median ms | Optuna p95 ms | "
           "ratio | whole study netsmith / Optuna (s) |")
out.append("|---|---|---|---|---|---|---|")
for s, name in (("tpe", "TPE"), ("tpe_mv", "TPE multivariate"), ("random", "random")):
    a, b = over.get(("netsmith", s), {}), over.get(("optuna", s), {})
    if "median_ms" not in a or "median_ms" not in b:
        out.append("| %s | %s | - | %s | - | - | - |" % (
            name, a.get("error", "-") if "median_ms" not in a else "%.4g" % a["median_ms"],
            "%.4g" % b["median_ms"] if "median_ms" in b else "-"))
        continue
    out.append("| %s | %.4g | %.4g | %.4g | %.4g | %.0f | %.3f / %.1f |" % (
        name, a["median_ms"], a["p95_ms"], b["median_ms"], b["p95_ms"],
        b["median_ms"] / a["median_ms"] if a["median_ms"] > 0 else float("inf"),
        a["total_s"], b["total_s"]))

# ---- tabular
table = json.load(open(table_path))
epochs = table["epochs"]
best_final = min(c["val_loss"][-1] for c in table["configs"])
full = tab_trials * epochs
budgets = [(0.25, "25%"), (0.5, "50%"), (1.0, "100%")]
tab = lines("tab.jsonl")
runs = {}
for r in tab:
    runs.setdefault((r["side"], r["method"]), []).append(r)


def regret_at(r, budget):
    v = [x for e, x in r["best"] if e <= budget]
    return (min(v) - best_final) if v else math.inf


axes = ", ".join("%s %s" % (k, json.dumps(v)) for k, v in table["axes"].items())
out.append("")
out.append("### Tabular: MLP tuning replayed")
out.append("")
out.append("bench/data/tune_table.json (bench/make_tune_table.sh): %d configurations of an MLP "
           "on %s trained with `netsmith train` for %d epochs each (seed 0), every epoch's "
           "validation loss (MSE) kept; axes %s. A tuning run is replayed against it, one trial "
           "at a time (parallel 1): %d trials, the axes as choices, the objective the validation "
           "loss at the last epoch, a trial's curve looked up by its settings, judged after each "
           "epoch but its last. Regret = the best complete trial's value minus the table's best "
           "final value (%.4g), against the epochs spent, at 25%%, 50%% and 100%% of the "
           "no-pruning run's %d epochs (%d trials x %d); median [25th, 75th percentile] over "
           "seeds 0..%d; \"none yet\": no trial complete by then. netsmith asha (min_epochs 1, "
           "reduction_factor 3) pauses a trial at a rung and a paused trial it later promotes "
           "(ns_study_promotable, taken before a new trial is asked) goes on from its next epoch, "
           "no epoch trained twice; Optuna prunes (SuccessiveHalvingPruner(min_resource=1, "
           "reduction_factor=3), MedianPruner()): a pruned trial's epochs count and it never "
           "resumes. Epochs and the trial counts are medians over the seeds."
           % (len(table["configs"]), table["dataset"], epochs, axes, tab_trials, best_final,
              full, tab_trials, epochs, seeds - 1))
out.append("")
out.append("| method | regret at 25% | at 50% | at 100% | epochs spent | complete / pruned / "
           "left paused | promotions |")
out.append("|---|---|---|---|---|---|---|")
order = [("netsmith", "tpe+asha"), ("optuna", "tpe+sha"), ("netsmith", "tpe+median"),
         ("optuna", "tpe+median"), ("netsmith", "tpe+none"), ("optuna", "tpe+none")]
names = {"tpe+asha": "TPE + asha (pause, promote)", "tpe+sha": "TPE + successive halving",
         "tpe+median": "TPE + median", "tpe+none": "TPE, no pruner"}
for key in order:
    rs = runs.get(key, [])
    if not rs:
        continue
    cells = [cell([regret_at(r, f * full) for r in rs]) for f, _ in budgets]
    med = lambda k: quantile([r[k] for r in rs], 0.5)
    out.append("| %s %s | %s | %s | %s | %s | %s / %s / %s | %s |" % (
        key[0], names[key[1]], cells[0], cells[1], cells[2], num(med("epochs")),
        num(med("complete")), num(med("pruned")), num(med("paused")), num(med("promotions"))))
out.append("")
end = []
for key in order:
    rs = runs.get(key, [])
    if rs:
        end.append("%s %s %s" % (key[0], key[1], num(quantile(
            [regret_at(r, math.inf) for r in rs], 0.5))))
out.append("Regret at the end of each run's %d trials (median): %s." % (tab_trials,
                                                                        ", ".join(end)))
section = "\n".join(out) + "\n"
print()
print(section)
put_section(results, "Tuner", section)
print("wrote the \"Tuner\" section of %s" % results)
EOF
