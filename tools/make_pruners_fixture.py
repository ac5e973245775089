#!/usr/bin/python3
"""Reference decisions of Optuna's pruners for src/tune/pruners.c.

Writes tests/fixtures/pruners_optuna.json, read by tests/unit/test_tune_pruners.c. Run it with
/usr/bin/python3 tools/make_pruners_fixture.py (Debian's python3-optuna 3.1 and numpy).
Deterministic: the same Optuna gives the same file.

"cases": recorded sequences. Each runs `trials` trials through Optuna's ask-and-tell interface,
`parallel` at a time, round robin: a running trial reports its next step (steps 1, 2, ...,
`steps`) and asks should_prune; a pruned trial is told PRUNED and a trial that reaches its last
step is told COMPLETE with its last value; a free slot asks the next trial. Each event is
  ["report", trial, step, value, pruned]   (value null for NaN; pruned 0 or 1)
  ["complete", trial, value]
in the order they happened. Optuna's trial numbers are the order of asking, the same as the
C study's. The pruners: MedianPruner, SuccessiveHalvingPruner (min_early_stopping_rate 0,
bootstrap_count 0) and HyperbandPruner, whose bracket of every trial is in "brackets".

"hyperband": Optuna's number of brackets and each trial's bracket id for a few study names,
resources and reduction factors (HyperbandPruner._try_initialization and _get_bracket_id).
"""
import json
import math
import os
import random
import types

import optuna

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "pruners_optuna.json")

optuna.logging.set_verbosity(optuna.logging.ERROR)


def make_pruner(case):
    kind = case["pruner"]
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=case["startup_trials"],
            n_warmup_steps=case["warmup_steps"],
            interval_steps=case["interval_steps"],
        )
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=case["min_epochs"],
            reduction_factor=case["reduction_factor"],
            min_early_stopping_rate=0,
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=case["min_epochs"],
        max_resource=case["max_epochs"],
        reduction_factor=case["reduction_factor"],
    )


def curve(rng, case):
    """One trial's values at steps 1..steps: a learning curve towards a trial's own level,
    rounded to two decimals so that ties happen; now and then a NaN."""
    level = rng.uniform(0.1, 1.0)
    start = rng.uniform(1.0, 2.0)
    vals = []
    for k in range(1, case["steps"] + 1):
        v = level + (start - level) / k + rng.uniform(-0.05, 0.05)
        if case["maximize"]:
            v = 3.0 - v
        vals.append(round(v, 2))
    if rng.random() < case.get("nan_rate", 0.0):
        vals[rng.randrange(len(vals))] = math.nan
    return vals


def record(case, seed):
    rng = random.Random(seed)
    pruner = make_pruner(case)
    study = optuna.create_study(
        study_name=case["study_name"],
        direction="maximize" if case["maximize"] else "minimize",
        pruner=pruner,
    )
    events = []
    running = []  # [trial, values, next step index]
    asked = 0
    while asked < case["trials"] or running:
        while len(running) < case["parallel"] and asked < case["trials"]:
            running.append([study.ask(), curve(rng, case), 0])
            asked += 1
        for slot in list(running):
            trial, vals, i = slot
            step = i + 1
            v = vals[i]
            trial.report(v, step)
            pruned = trial.should_prune()
            events.append(["report", trial.number, step, None if math.isnan(v) else v,
                           int(pruned)])
            if pruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                running.remove(slot)
            elif step == len(vals):
                if math.isnan(v):
                    # A complete trial needs a finite value: the last finite one.
                    v = [x for x in vals if not math.isnan(x)][-1]
                study.tell(trial, v)
                events.append(["complete", trial.number, v])
                running.remove(slot)
            else:
                slot[2] = step
    out = dict(case)
    out["events"] = events
    if case["pruner"] == "hyperband":
        out["brackets"] = [
            pruner._get_bracket_id(study, t) for t in study.get_trials(deepcopy=False)
        ]
    return out


def bracket_ids(name, min_r, max_r, eta, numbers):
    pruner = optuna.pruners.HyperbandPruner(
        min_resource=min_r, max_resource=max_r, reduction_factor=eta
    )
    study = types.SimpleNamespace(study_name=name)
    pruner._try_initialization(study)
    ids = [pruner._get_bracket_id(study, types.SimpleNamespace(number=n)) for n in numbers]
    return {
        "study_name": name,
        "min_epochs": min_r,
        "max_epochs": max_r,
        "reduction_factor": eta,
        "n_brackets": pruner._n_brackets,
        "budgets": pruner._trial_allocation_budgets,
        "ids": ids,
    }


def main():
    base = {"trials": 40, "parallel": 3, "steps": 9, "maximize": False, "study_name": "parity"}
    cases = [
        dict(base, name="median-default", pruner="median", startup_trials=5, warmup_steps=0,
             interval_steps=1, nan_rate=0.1),
        dict(base, name="median-warmup-interval-max", pruner="median", startup_trials=3,
             warmup_steps=2, interval_steps=3, maximize=True, parallel=4, steps=12),
        dict(base, name="asha-eta3", pruner="asha", min_epochs=1, reduction_factor=3,
             nan_rate=0.3),
        dict(base, name="asha-eta2-min2-max", pruner="asha", min_epochs=2, reduction_factor=2,
             maximize=True, parallel=2, steps=16),
        dict(base, name="hyperband-eta3", pruner="hyperband", min_epochs=1, max_epochs=9,
             reduction_factor=3, study_name="hb-study", trials=60, parallel=4),
        dict(base, name="hyperband-eta2-max", pruner="hyperband", min_epochs=2, max_epochs=16,
             reduction_factor=2, study_name="tune-mlp", trials=60, steps=16, maximize=True),
    ]
    recorded = [record(c, seed) for seed, c in enumerate(cases)]
    numbers = list(range(20)) + [99, 1000, 123456]
    hyperband = [
        bracket_ids("hb-study", 1, 9, 3, numbers),
        bracket_ids("tune-mlp", 2, 16, 2, numbers),
        bracket_ids("mnist", 1, 81, 3, numbers),
        # log(243) / log(3) is 4.999999999999999 in double: Optuna makes 5 brackets, not 6.
        bracket_ids("quirk", 1, 243, 3, numbers),
        bracket_ids("", 1, 100, 3, numbers),
        bracket_ids("one", 5, 5, 3, numbers),
    ]
    with open(OUT, "w") as f:
        json.dump({"optuna": optuna.__version__, "cases": recorded, "hyperband": hyperband}, f,
                  separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
