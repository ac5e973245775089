#!/usr/bin/env python3
"""Makes tests/fixtures/tune_importance.json: a fixed set of complete trials over
x0 uniform [0, 1], x1 log_uniform [1e-4, 1e-1], x2 int [1, 8], c choice of a, b, c, their
objective values, and the importances Optuna 3.1's FanovaImportanceEvaluator(seed=0) gives them.
Needs python3-optuna, python3-numpy and python3-sklearn (Debian)."""
import json
import pathlib

import numpy
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import FanovaImportanceEvaluator

N = 200
CHOICES = ["a", "b", "c"]
DISTS = {
    "x0": FloatDistribution(0.0, 1.0),
    "x1": FloatDistribution(1e-4, 1e-1, log=True),
    "x2": IntDistribution(1, 8),
    "c": CategoricalDistribution(CHOICES),
}


def objective(x0, x1, x2, c):
    return 4.0 * x0 * x0 + 1.5 * (c == 1) + 0.2 * x2 + 10.0 * x1 + 0.5 * x0 * (c == 2)


def main():
    rng = numpy.random.default_rng(7)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    trials = []
    for _ in range(N):
        x0 = float(rng.uniform(0.0, 1.0))
        x1 = float(numpy.exp(rng.uniform(numpy.log(1e-4), numpy.log(1e-1))))
        x2 = int(rng.integers(1, 9))
        c = int(rng.integers(0, 3))
        value = objective(x0, x1, x2, c)
        params = {"x0": x0, "x1": x1, "x2": x2, "c": CHOICES[c]}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=DISTS, value=value))
        trials.append({"x": [x0, x1, float(x2), float(c)], "value": value})
    imp = FanovaImportanceEvaluator(seed=0).evaluate(study)
    out = {
        "settings": ["x0", "x1", "x2", "c"],
        "trials": trials,
        "importance": [imp[name] for name in ["x0", "x1", "x2", "c"]],
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/tune_importance.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(path, {k: round(v, 4) for k, v in imp.items()})


if __name__ == "__main__":
    main()
