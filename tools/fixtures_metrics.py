#!/usr/bin/python3
"""Golden fixtures for the Evaluate card's metrics (src/train/metrics.c).

Writes tests/fixtures/metrics.json, read by tests/golden/test_metrics_golden.c: a few random
classification and regression cases, each with the float32 model outputs, the targets, a
per-sample loss, and the metrics computed here in float64 with numpy. Deterministic: the same
numpy gives the same file. Run it with /usr/bin/python3 tools/fixtures_metrics.py.

scikit-learn is not a dependency (Debian's python3-sklearn is not installed here), so the
reference follows its definitions directly:
  accuracy_score; precision_score, recall_score and f1_score with average='macro',
  labels=range(C), zero_division=0 (netsmith averages over every class the model knows, where
  sklearn's default takes only the classes present in y_true or y_pred); confusion_matrix
  with labels=range(C) (rows true, columns predicted); mean_squared_error,
  mean_absolute_error and r2_score (force_finite=True) with multioutput='uniform_average'.
  RMSE is sqrt(MSE), the root of the mean over every element; sklearn's multi-output RMSE
  averages per-output RMSEs instead (the same for one output).
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics.json")


def tensor(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": a.flatten().tolist()}


def predicted_classes(logits):
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).astype(np.int64)
    return np.argmax(logits, axis=1)  # the first maximal logit, as the C code


def cross_entropy(logits, labels):
    """Per-sample cross-entropy in float64 (binary: with logits)."""
    z = logits.astype(np.float64)
    if z.shape[1] == 1:
        x, t = z[:, 0], labels.astype(np.float64)
        return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return lse - z[np.arange(len(labels)), labels]


def classification_metrics(logits, labels, classes):
    pred = predicted_classes(logits)
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)  # tp + fp
    actual = cm.sum(axis=1).astype(np.float64)     # tp + fn

    def safe_div(a, b):
        out = np.zeros_like(a)
        np.divide(a, b, out=out, where=b > 0)
        return out

    return cm, {
        "accuracy": float(np.mean(pred == labels)),
        "precision_macro": float(np.mean(safe_div(tp, predicted))),
        "recall_macro": float(np.mean(safe_div(tp, actual))),
        "f1_macro": float(np.mean(safe_div(2 * tp, predicted + actual))),
    }


def regression_metrics(pred, y):
    p, t = pred.astype(np.float64), y.astype(np.float64)
    res = t - p
    mse = float(np.mean(np.mean(res ** 2, axis=0)))
    ss_res = (res ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                  np.where(ss_res == 0, 1.0, 0.0))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.mean(np.abs(res), axis=0))),
        "r2": float(np.mean(r2)),
    }


def classification_case(rng, n, outputs, labels, margin, note):
    classes = 2 if outputs == 1 else outputs
    if outputs == 1:
        logits = rng.normal(size=(n, 1)) + margin * (2 * labels[:, None] - 1)
    else:
        logits = rng.normal(size=(n, outputs)) + margin * np.eye(outputs)[labels]
    logits = logits.astype(np.float32)
    return logits, classes, note


def make_classification(logits, labels, classes, note):
    loss = cross_entropy(logits, labels)
    cm, metrics = classification_metrics(logits, labels, classes)
    metrics["loss"] = float(np.mean(loss))
    metrics["n"] = len(labels)
    return {
        "task": "classification",
        "note": note,
        "outputs": logits.shape[1],
        "classes": classes,
        "pred": tensor(logits),
        "labels": tensor(labels),
        "sample_loss": loss.tolist(),
        "confusion": tensor(cm),
        "metrics": metrics,
    }


def make_regression(pred, y, note):
    pred, y = pred.astype(np.float32), y.astype(np.float32)
    loss = np.mean((y.astype(np.float64) - pred.astype(np.float64)) ** 2, axis=1)
    metrics = regression_metrics(pred, y)
    metrics["loss"] = float(np.mean(loss))
    metrics["n"] = y.shape[0]
    return {
        "task": "regression",
        "note": note,
        "outputs": y.shape[1],
        "pred": tensor(pred),
        "y": tensor(y),
        "sample_loss": loss.tolist(),
        "metrics": metrics,
    }


def main():
    rng = np.random.default_rng(20240612)
    cases = {}

    labels = rng.integers(0, 5, size=200)
    logits, classes, note = classification_case(
        rng, 200, 5, labels, 1.2, "200 samples, 5 classes, every class present")
    cases["multiclass_5"] = make_classification(logits, labels, classes, note)

    labels = rng.integers(0, 2, size=120)
    logits, classes, note = classification_case(
        rng, 120, 1, labels, 0.8, "binary classifier with one logit: class 1 when logit > 0")
    cases["binary_single_logit"] = make_classification(logits, labels, classes, note)

    # Class 3 is in the labels but never predicted (its logit is far below); class 4 is in
    # neither (it counts 0 in every macro average, where sklearn's default would skip it).
    labels = rng.integers(0, 4, size=90)
    logits = (rng.normal(size=(90, 5)) + 1.0 * np.eye(5)[labels]).astype(np.float32)
    logits[:, 3] = -20.0
    logits[:, 4] = -30.0
    cases["class_never_predicted"] = make_classification(
        logits, labels, 5, "class 3 never predicted, class 4 absent from labels and predictions")

    # Three outputs of different scale; the second sits far from 0 (a test of the one-pass
    # sum of squares, which a naive sum(y^2) - n mean^2 would lose to cancellation).
    y = np.stack([rng.normal(0.0, 1.0, 150), rng.normal(5000.0, 0.5, 150),
                  rng.uniform(-3.0, 7.0, 150)], axis=1)
    pred = y + rng.normal(0.0, [0.3, 0.2, 2.0], size=(150, 3))
    cases["regression_3"] = make_regression(pred, y, "150 samples, 3 outputs of different "
                                            "scale, one centred at 5000")

    # A constant target: SS_tot == 0, so its R2 is 0 (predictions not exact); averaged with a
    # normal output.
    y = np.stack([rng.normal(2.0, 1.5, 40), np.full(40, 3.0)], axis=1)
    pred = y + rng.normal(0.0, [0.5, 0.1], size=(40, 2))
    cases["regression_constant_output"] = make_regression(
        pred, y, "40 samples, 2 outputs, the second target constant (R2 0 by force_finite)")

    y = rng.normal(10.0, 4.0, size=(80, 1))
    pred = 0.7 * y + 3.0 + rng.normal(0.0, 1.0, size=(80, 1))
    cases["regression_1"] = make_regression(pred, y, "80 samples, 1 output")

    with open(OUT, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {', '.join(cases)}")


if __name__ == "__main__":
    main()
