#!/usr/bin/python3
"""Makes tests/fixtures/tpe_optuna.json from Optuna 3.1's TPE: the log densities of its
_ParzenEstimator (with its mus, sigmas and weights) for fixed observation sets, its truncated
normal's quantile and log mass at fixed points, and its split of a fixed trial list into the
good and bad groups.

Run with Debian's python3 (optuna 3.1, numpy): /usr/bin/python3 tools/make_tpe_fixture.py
"""
import json
import math
import os
import sys

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import _truncnorm as truncnorm
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import (
    _get_observation_pairs,
    _split_observation_pairs,
    default_gamma,
    default_weights,
)
from optuna.trial import TrialState, create_trial

assert optuna.__version__.startswith("3.1"), optuna.__version__

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "tpe_optuna.json")


def dist(p):
    kind = p["kind"]
    if kind == "uniform":
        return FloatDistribution(p["low"], p["high"])
    if kind == "log_uniform":
        return FloatDistribution(p["low"], p["high"], log=True)
    if kind == "int":
        return IntDistribution(int(p["low"]), int(p["high"]))
    if kind == "int_log":
        return IntDistribution(int(p["low"]), int(p["high"]), log=True)
    return CategoricalDistribution(list(range(p["n_choices"])))


def parzen_case(name, params, obs, points, multivariate=False, prior_weight=1.0):
    names = [f"p{k}" for k in range(len(params))]
    space = {n: dist(p) for n, p in zip(names, params)}
    pars = _ParzenEstimatorParameters(True, prior_weight, True, False, default_weights,
                                      multivariate)
    obs_arr = np.asarray(obs, dtype=float).reshape(len(obs), len(params))
    observations = {n: obs_arr[:, k] for k, n in enumerate(names)}
    pe = _ParzenEstimator(observations, space, pars)
    pts = np.asarray(points, dtype=float)
    samples = {}
    for k, n in enumerate(names):
        col = pts[:, k]
        samples[n] = col.astype(int) if params[k]["kind"] == "choice" else col
    log_pdf = pe.log_pdf(samples)
    mus, sigmas = [], []
    for n, p in zip(names, params):
        if p["kind"] == "choice":
            mus.append(None)
            sigmas.append(None)
        else:
            mus.append(pe._mus[n].tolist())
            sigmas.append(pe._sigmas[n].tolist())
    return {
        "name": name,
        "params": params,
        "multivariate": multivariate,
        "prior_weight": prior_weight,
        "obs": obs_arr.tolist(),
        "points": pts.tolist(),
        "log_pdf": log_pdf.tolist(),
        "weights": pe._weights.tolist(),
        "mus": mus,
        "sigmas": sigmas,
    }


def split_case(trials, maximize, constant_liar):
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    d = {"x": FloatDistribution(0.0, 1.0)}
    for t in trials:
        state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                 "running": TrialState.RUNNING, "failed": TrialState.FAIL}[t["state"]]
        inter = {int(k): v for k, v in t["steps"].items()}
        study.add_trial(create_trial(state=state, value=t.get("value"), params={"x": 0.5},
                                     distributions=d, intermediate_values=inter))
    values, scores, _ = _get_observation_pairs(study, ["x"], constant_liar, False)
    n = sum(s < float("inf") for s, v in scores)
    observed = [t.number for t in study.get_trials(deepcopy=False)
                if t.state in ((TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
                               if constant_liar else (TrialState.COMPLETE, TrialState.PRUNED))]
    below, _ = _split_observation_pairs(scores, default_gamma(n), None)
    return {"maximize": maximize, "constant_liar": constant_liar, "n": int(n),
            "observed": observed, "below": sorted(observed[i] for i in below)}


def main():
    rng = np.random.RandomState(12345)
    cases = []
    u = {"kind": "uniform", "low": 0.0, "high": 10.0}
    cases.append(parzen_case("uniform_3", [u], [[1.0], [4.0], [9.0]],
                             [[0.0], [3.0], [5.0], [9.5], [10.0]]))
    cases.append(parzen_case("uniform_tie", [u], [[2.0], [2.0], [5.0]],
                             [[0.5], [2.0], [7.0]]))
    cases.append(parzen_case("uniform_empty", [{"kind": "uniform", "low": 0.0, "high": 1.0}],
                             np.zeros((0, 1)), [[0.0], [0.25], [1.0]]))
    u2 = {"kind": "uniform", "low": -5.0, "high": 5.0}
    cases.append(parzen_case("uniform_40", [u2], rng.uniform(-5, 5, (40, 1)),
                             rng.uniform(-5, 5, (7, 1))))
    cases.append(parzen_case("uniform_prior_2.5", [u2], rng.uniform(-5, 5, (6, 1)),
                             rng.uniform(-5, 5, (5, 1)), prior_weight=2.5))
    lg = {"kind": "log_uniform", "low": 1e-4, "high": 1.0}
    cases.append(parzen_case("log_8", [lg], np.exp(rng.uniform(math.log(1e-4), 0, (8, 1))),
                             [[1e-4], [3e-3], [0.05], [1.0]]))
    it = {"kind": "int", "low": 1, "high": 20}
    cases.append(parzen_case("int_10", [it], rng.randint(1, 21, (10, 1)),
                             [[float(v)] for v in range(1, 21)]))
    iw = {"kind": "int", "low": 0, "high": 100000}
    cases.append(parzen_case("int_wide_30", [iw], rng.randint(0, 100001, (30, 1)),
                             [[0.0], [12345.0], [50000.0], [99999.0], [100000.0]]))
    il = {"kind": "int_log", "low": 1, "high": 1024}
    cases.append(parzen_case("int_log_12", [il],
                             np.round(np.exp(rng.uniform(math.log(0.5), math.log(1024.5),
                                                         (12, 1)))).clip(1, 1024),
                             [[1.0], [2.0], [17.0], [300.0], [1024.0]]))
    ch = {"kind": "choice", "n_choices": 4}
    cases.append(parzen_case("choice_9", [ch], rng.randint(0, 4, (9, 1)),
                             [[0.0], [1.0], [2.0], [3.0]]))
    ch3 = {"kind": "choice", "n_choices": 3}
    cases.append(parzen_case("choice_30", [ch3], rng.randint(0, 3, (30, 1)),
                             [[0.0], [1.0], [2.0]]))
    mv = [{"kind": "uniform", "low": -3.0, "high": 3.0},
          {"kind": "log_uniform", "low": 1e-3, "high": 10.0},
          {"kind": "int", "low": 0, "high": 50},
          {"kind": "choice", "n_choices": 3}]

    def mv_obs(n):
        return np.stack([rng.uniform(-3, 3, n), np.exp(rng.uniform(math.log(1e-3),
                                                                   math.log(10), n)),
                         rng.randint(0, 51, n), rng.randint(0, 3, n)], axis=1)

    cases.append(parzen_case("multi_12", mv, mv_obs(12), mv_obs(6), multivariate=True))
    cases.append(parzen_case("multi_30", mv, mv_obs(30), mv_obs(6), multivariate=True))
    cases.append(parzen_case("multi_empty", mv, np.zeros((0, 4)), mv_obs(3), multivariate=True))

    ppf = []
    for q, a, b in [(0.3, -1.0, 2.0), (0.9, 0.5, 3.0), (0.01, -50.0, -40.0),
                    (0.5, 30.0, 40.0), (0.999, -2.0, -1.9), (1e-9, -1.0, 1.0),
                    (0.75, -100.0, 100.0), (0.2, -0.01, 0.02), (0.6, 5.0, 5.5),
                    (0.42, -40.0, -38.0), (0.999999, 0.0, 1.0)]:
        ppf.append({"q": q, "a": a, "b": b,
                    "ppf": float(truncnorm.ppf(np.asarray([q]), a, b)[0]),
                    "log_mass": float(truncnorm._log_gauss_mass(np.asarray([a]),
                                                                np.asarray([b]))[0])})
    log_ndtr = [{"a": a, "log_ndtr": float(truncnorm._log_ndtr_single(a))}
                for a in [-60.0, -25.0, -20.5, -19.0, -5.0, -0.3, 0.0, 1.5, 6.5, 9.0]]

    # trials for the split: complete, pruned (last step ranks them), pruned without steps,
    # running (constant_liar puts them last), failed (never observed)
    trials = []
    vals = rng.uniform(0, 1, 40)
    for t in range(40):
        kind = t % 8
        if kind in (0, 2, 3, 5, 7):
            v = float(round(vals[t], 2)) if t % 5 else 0.5  # a few equal values
            trials.append({"state": "complete", "value": v, "steps": {}})
        elif kind == 1:
            steps = {str(s): float(vals[(t + s) % 40]) for s in range(1, 1 + t % 4 + 1)}
            trials.append({"state": "pruned", "steps": steps})
        elif kind == 4:
            trials.append({"state": "pruned", "steps": {} if t % 16 == 4 else
                           {"2": float(vals[t]), "5": 0.3}})
        else:
            trials.append({"state": "running" if t % 16 == 6 else "failed", "steps":
                           {"1": float(vals[t])}})
    # mostly pruned: the good group reaches past the complete trials into the pruned ones,
    # ranked by their last step first (equal steps and values included)
    pruned_heavy = [{"state": "complete", "value": 0.7, "steps": {"1": 0.9}}]
    for t in range(1, 32):
        if t % 7 == 3:
            pruned_heavy.append({"state": "running", "steps": {}})
        elif t % 9 == 4:
            pruned_heavy.append({"state": "pruned", "steps": {}})
        else:
            last = 1 + (t * 5) % 6
            steps = {str(s): float(round(vals[(t * s) % 40], 1)) for s in range(1, last + 1)}
            pruned_heavy.append({"state": "pruned", "steps": steps})
    pruned_heavy.append({"state": "complete", "value": 0.2, "steps": {}})
    split_lists = []
    for tl in (trials, pruned_heavy):
        split_lists.append({"trials": tl, "splits": [split_case(tl, mx, liar)
                                                     for mx in (False, True)
                                                     for liar in (False, True)]})

    out = {"optuna": optuna.__version__, "parzen": cases, "ppf": ppf, "log_ndtr": log_ndtr,
           "split_lists": split_lists}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} estimators, {len(ppf)} quantiles, "
          f"{len(split_lists)} trial lists")


if __name__ == "__main__":
    sys.exit(main())
