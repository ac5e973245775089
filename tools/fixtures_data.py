#!/usr/bin/python3
"""Golden normalisation statistics for the built-in CSV datasets.

Reads data/*.csv with the standard csv module and numpy and writes
  tests/fixtures/data_norm.json  per dataset: the feature columns (every column but the last,
                                 the target) and per feature the mean, the population standard
                                 deviation (numpy's default, ddof=0), the min and the max
read by tests/golden/test_data_golden.c, which compares ns_norm_fit on the same files.
Values are parsed as float32, as netsmith stores them, and the statistics computed in float64
on those values, so the comparison tests the statistics and not the parsing. Deterministic.
Run it with /usr/bin/python3 tools/fixtures_data.py.

The split and batch fixture (tests/fixtures/data_split.json) is not made here: split and batch
order come from netsmith's Philox streams, so that file is a regression fixture written by
netsmith itself (NS_WRITE_FIXTURES=1 tests/golden/test_data_golden).
"""
import csv
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

DATASETS = ["boston_housing", "breast_cancer", "iris", "wine"]


def stats(name):
    with open(os.path.join(DATA, name + ".csv"), newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    features = header[:-1]
    x = np.array([[np.float32(v) for v in r[:-1]] for r in body], dtype=np.float32)
    x = x.astype(np.float64)
    return {
        "file": name + ".csv",
        "rows": int(x.shape[0]),
        "features": features,
        "mean": [float(v) for v in x.mean(axis=0)],
        "std": [float(v) for v in x.std(axis=0)],
        "min": [float(v) for v in x.min(axis=0)],
        "max": [float(v) for v in x.max(axis=0)],
    }


def main():
    out = {name: stats(name) for name in DATASETS}
    path = os.path.join(FIXTURES, "data_norm.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
