"""Optuna's side of bench/bench_tune.sh: the runs of bench/bench_tune.c with Optuna's samplers
and pruners (Debian's python3-optuna), one JSON object a line in the same form.

    /usr/bin/python3 bench/tune_optuna.py synthetic [--seeds S] [--trials T]
    /usr/bin/python3 bench/tune_optuna.py overhead [--trials T]
    /usr/bin/python3 bench/tune_optuna.py tabular TABLE [--seeds S] [--trials N]

synthetic: Branin, Hartmann-6 and Rosenbrock-4D on [0, 1]^d mapped linearly onto their domains
(as bench_tune does), TPESampler(seed=s) with its defaults, the same with multivariate=True,
and RandomSampler(seed=s); T trials through ask and tell; the regret after 30, 60 and 100.
overhead: T trials of the 5-D sphere around 0.3 per sampler; the time of study.ask() and the
five suggest_float calls (where a univariate TPE samples) from trial 0.9 T on.
tabular: the table's axes as suggest_categorical (hidden_layers as its text "64,64"), each trial
reports every epoch; TPE + MedianPruner() and TPE + SuccessiveHalvingPruner(min_resource=1,
reduction_factor=3), as Optuna prunes: a pruned trial's epochs so far count and it never
resumes; TPE + NopPruner for reference. Not judged at the last epoch, as in bench_tune."""
import json
import math
import sys
import time
import warnings

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

# the stand-in names of bench_tune.c's x1..x6
XS = ["learning_rate", "weight_decay", "dampening", "label_smoothing", "min_delta",
      "gradient_clip"]


def branin(u):
    x1, x2 = -5 + 15 * u[0], 15 * u[1]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
       [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
       [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
       [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
       [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(u):
    f = 0.0
    for i in range(4):
        e = sum(H_A[i][j] * (u[j] - H_P[i][j]) ** 2 for j in range(6))
        f -= H_ALPHA[i] * math.exp(-e)
    return f


def rosenbrock4(u):
    x = [-5 + 15 * v for v in u]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(3))


FUNCTIONS = [("branin", 2, branin, 0.397887357729738),
             ("hartmann6", 6, hartmann6, -3.32236801141551),
             ("rosenbrock4", 4, rosenbrock4, 0.0)]


def sampler_of(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe_mv":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return optuna.samplers.RandomSampler(seed=seed)


def emit(obj):
    print(json.dumps(obj), flush=True)


def synthetic(seeds, trials):
    at = [30, 60, 100]
    for fname, d, f, fmin in FUNCTIONS:
        for sname in ("tpe", "tpe_mv", "random"):
            for seed in range(seeds):
                study = optuna.create_study(sampler=sampler_of(sname, seed))
                best, regret = math.inf, {}
                t0 = time.perf_counter()
                for n in range(trials):
                    trial = study.ask()
                    u = [trial.suggest_float(XS[i], 0.0, 1.0) for i in range(d)]
                    v = f(u)
                    study.tell(trial, v)
                    best = min(best, v)
                    if n + 1 in at:
                        regret["r%d" % (n + 1)] = best - fmin
                emit(dict({"mode": "synthetic", "side": "optuna", "function": fname,
                           "sampler": sname, "seed": seed, "trials": trials,
                           "seconds": round(time.perf_counter() - t0, 4)}, **regret))


def percentile(v, q):
    v = sorted(v)
    at = (len(v) - 1) * q / 100.0
    lo = int(math.floor(at))
    if lo >= len(v) - 1:
        return v[-1]
    return v[lo] + (v[lo + 1] - v[lo]) * (at - lo)


def overhead(trials):
    frm = trials * 9 // 10
    for sname in ("tpe", "tpe_mv", "random"):
        study = optuna.create_study(sampler=sampler_of(sname, 0))
        ms = []
        t0 = time.perf_counter()
        for n in range(trials):
            a = time.monotonic_ns()
            trial = study.ask()
            u = [trial.suggest_float(XS[i], 0.0, 1.0) for i in range(5)]
            b = time.monotonic_ns()
            if n >= frm:
                ms.append((b - a) / 1e6)
            study.tell(trial, sum((x - 0.3) ** 2 for x in u))
        emit({"mode": "overhead", "side": "optuna", "sampler": sname, "trials": trials,
              "timed_from": frm, "median_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
              "max_ms": max(ms), "total_s": round(time.perf_counter() - t0, 4)})


def label(v):
    """A choice as suggest_categorical takes it (a list as its text)."""
    return ",".join(str(x) for x in v) if isinstance(v, list) else v


def tabular(path, seeds, trials):
    table = json.load(open(path))
    epochs = table["epochs"]
    axes = table["axes"]
    names = list(axes)
    curves = {tuple(label(c[a]) for a in names): c["val_loss"] for c in table["configs"]}
    methods = [("tpe+median", lambda: optuna.pruners.MedianPruner()),
               ("tpe+sha", lambda: optuna.pruners.SuccessiveHalvingPruner(
                   min_resource=1, reduction_factor=3)),
               ("tpe+none", lambda: optuna.pruners.NopPruner())]
    for method, pruner in methods:
        for seed in range(seeds):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed),
                                        pruner=pruner())
            spent, best, shown = 0, math.inf, []
            complete = pruned = 0
            for _ in range(trials):
                trial = study.ask()
                key = tuple(trial.suggest_categorical(a, [label(v) for v in axes[a]])
                            for a in names)
                curve = curves[key]
                for e in range(1, epochs + 1):
                    v = curve[e - 1]
                    trial.report(v, e)
                    spent += 1
                    if e == epochs:
                        study.tell(trial, v)
                        complete += 1
                        if v < best:
                            best = v
                            shown.append([spent, v])
                        break
                    if trial.should_prune():
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                        pruned += 1
                        break
            emit({"mode": "tabular", "side": "optuna", "method": method, "seed": seed,
                  "trials": trials, "best": shown, "epochs": spent, "complete": complete,
                  "pruned": pruned, "paused": 0, "promotions": 0})


def main(argv):
    if not argv or argv[0] not in ("synthetic", "overhead", "tabular"):
        sys.exit(__doc__)
    mode, rest = argv[0], argv[1:]
    path = None
    if mode == "tabular":
        if not rest:
            sys.exit(__doc__)
        path, rest = rest[0], rest[1:]
    opts = {"--seeds": 20, "--trials": None}
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            sys.exit(__doc__)
        opts[rest[0]] = int(rest[1])
        rest = rest[2:]
    seeds, trials = opts["--seeds"], opts["--trials"]
    if mode == "synthetic":
        synthetic(seeds, trials or 100)
    elif mode == "overhead":
        overhead(trials or 1000)
    else:
        tabular(path, seeds, trials or 30)


if __name__ == "__main__":
    main(sys.argv[1:])
