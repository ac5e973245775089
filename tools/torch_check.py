"""Checks that a netsmith model file loads in PyTorch and predicts what `netsmith predict` did.

    /usr/bin/python3 tools/torch_check.py MODEL.safetensors DATA.csv PREDICTIONS.csv [TARGET]

Builds an nn.Sequential of the same layers from the spec in the file's metadata, loads the
weights with load_state_dict(strict=True), applies the stored normalisation to the CSV's
feature columns (every column but the target, by default the last), runs the model in eval
mode, and compares with the predictions CSV (class probabilities, or values) to 1e-5.
Exits 0 when they agree, 1 when they do not, 77 when PyTorch is not installed."""
import csv
import json
import math
import os
import sys

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("torch_check: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

ACT = {
    "relu": lambda ls: nn.ReLU(),
    "leaky_relu": lambda ls: nn.LeakyReLU(ls.get("negative_slope", 0.01)),
    "elu": lambda ls: nn.ELU(ls.get("alpha", 1.0)),
    "gelu": lambda ls: nn.GELU(approximate=ls.get("approximate", "none")),
    "gelu_tanh": lambda ls: nn.GELU(approximate="tanh"),
    "silu": lambda ls: nn.SiLU(),
    "tanh": lambda ls: nn.Tanh(),
    "sigmoid": lambda ls: nn.Sigmoid(),
    "softmax": lambda ls: nn.Softmax(dim=-1),
}


def build(spec, in_features, outputs):
    layers = []
    if "layers" in spec:
        width = in_features
        for ls in spec["layers"]:
            t = ls["type"]
            if t == "linear":
                layers.append(nn.Linear(width, ls["units"], bias=ls.get("bias", True)))
                width = ls["units"]
            elif t in ACT:
                layers.append(ACT[t](ls))
            elif t == "dropout":
                layers.append(nn.Dropout(ls.get("p", 0.5)))
            elif t == "batchnorm1d":
                layers.append(nn.BatchNorm1d(width, eps=ls.get("eps", 1e-5),
                                             momentum=ls.get("momentum", 0.1),
                                             affine=ls.get("affine", True)))
            elif t == "layernorm":
                layers.append(nn.LayerNorm(width, eps=ls.get("eps", 1e-5),
                                           elementwise_affine=ls.get("elementwise_affine", True)))
            elif t == "flatten":
                layers.append(nn.Flatten())
            else:
                raise SystemExit(f"torch_check: layer type {t} is not handled here")
        return nn.Sequential(*layers)
    width = in_features
    act = spec.get("activation", "relu")
    for h in spec["hidden_layers"]:
        layers.append(nn.Linear(width, h))
        layers.append(ACT[act]({}))
        if spec.get("dropout", 0) > 0:
            layers.append(nn.Dropout(spec["dropout"]))
        width = h
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    model_path, data_path, pred_path = sys.argv[1:4]
    target = sys.argv[4] if len(sys.argv) > 4 else None
    tensors, meta = stio.load_file(model_path)
    spec = json.loads(meta["netsmith.spec"])
    in_features = json.loads(meta["netsmith.input_shape"])[0]
    outputs = int(meta["netsmith.output_size"])
    model = build(spec, in_features, outputs)
    model.load_state_dict(tensors, strict=True)
    model.eval()

    with open(data_path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    t = header.index(target) if target else len(header) - 1
    x = torch.tensor([[float(v) for i, v in enumerate(r) if i != t] for r in body],
                     dtype=torch.float32)
    if "netsmith.norm" in meta:
        norm = json.loads(meta["netsmith.norm"])
        shift = torch.tensor(norm["shift"], dtype=torch.float32)
        scale = torch.tensor(norm["scale"], dtype=torch.float32)
        x = (x - shift) * scale
    with torch.no_grad():
        y = model(x)
    classification = meta.get("netsmith.task") == "classification"
    if classification:
        y = torch.sigmoid(y) if outputs == 1 else torch.softmax(y, dim=1)
        if outputs == 1:
            y = torch.cat([1 - y, y], dim=1)

    with open(pred_path, newline="") as f:
        pred = list(csv.reader(f))
    cols = pred[0]
    first = 2 if classification else 1
    got = [[float(v) for v in r[first:]] for r in pred[1:]]
    if len(got) != y.shape[0] or len(got[0]) != y.shape[1]:
        print(f"torch_check: shape mismatch: netsmith {len(got)}x{len(got[0])}, "
              f"torch {tuple(y.shape)} (columns {cols})")
        return 1
    worst = 0.0
    for i, r in enumerate(got):
        for j, v in enumerate(r):
            ref = float(y[i, j])
            err = abs(v - ref) / max(1.0, abs(ref))
            worst = max(worst, err)
    ok = worst <= 1e-5 and not math.isnan(worst)
    print(f"torch_check: {len(got)} rows, largest difference {worst:.3g} "
          f"({'ok' if ok else 'FAILED'}; strict state_dict load ok)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
