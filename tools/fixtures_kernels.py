"""Golden fixtures for the kernels and the losses: inputs, upstream gradients, outputs and
gradients written by PyTorch autograd in float32. Run with Debian's python3-torch:

    /usr/bin/python3 tools/fixtures_kernels.py

Writes tests/fixtures/kernels.json and tests/fixtures/losses.json, one object per case:
{"case": {"x": {"shape": [...], "data": [...]}, "slope": 0.1, ...}} (read by
tests/golden/test_kernels_golden.c and test_loss_golden.c through tests/testutil.h).
Deterministic: fixed seeds, one thread, floats written with repr so they read back exactly."""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def tensor(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def grad_case(fn, x, params=(), dy_seed=0):
    """Forward fn(x, *params) and backward with a random dy; returns the tensors of a case."""
    x = x.clone().requires_grad_(True)
    params = [p.clone().requires_grad_(True) for p in params]
    y = fn(x, *params)
    g = torch.Generator().manual_seed(dy_seed)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    out = {"x": tensor(x), "dy": tensor(dy), "y": tensor(y), "dx": tensor(x.grad)}
    return out, [p.grad for p in params]


def activation_cases(g):
    # Inputs in [-4, 4): both branches of every activation; no exact zeros (kinks).
    x = torch.rand(4, 6, generator=g) * 8.0 - 4.0
    cases = {}
    simple = {
        "relu": (F.relu, {}),
        "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), {"slope": 0.1}),
        "elu": (lambda t: F.elu(t, 0.7), {"alpha": 0.7}),
        "gelu": (lambda t: F.gelu(t), {"tanh_approx": 0}),
        "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), {"tanh_approx": 1}),
        "silu": (F.silu, {}),
        "tanh": (torch.tanh, {}),
        "sigmoid": (torch.sigmoid, {}),
    }
    for i, (name, (fn, extra)) in enumerate(simple.items()):
        case, _ = grad_case(fn, x, dy_seed=100 + i)
        case.update(extra)
        cases[name] = case
    # Softmax over the last dim; one row with large logits checks the max subtraction.
    xs = torch.randn(4, 5, generator=g) * 3.0
    xs[3] += 80.0
    cases["softmax"], _ = grad_case(lambda t: F.softmax(t, dim=-1), xs, dy_seed=200)
    # Dropout: the mask is read back from torch's output (kept = y / x != 0), scaled 1/(1-p).
    p = 0.3
    torch.manual_seed(7)
    xd = torch.rand(3, 8, generator=g) + 0.5
    case, _ = grad_case(lambda t: F.dropout(t, p, training=True), xd, dy_seed=201)
    y = torch.tensor(case["y"]["data"]).reshape(3, 8)
    case["mask"] = tensor((y != 0).float() / (1.0 - p))
    case["p"] = p
    cases["dropout"] = case
    return cases


def layernorm_cases(g):
    cases = {}
    # An offset mean checks the two-pass variance.
    x = torch.randn(4, 6, generator=g) * 2.0 + 3.0
    gamma = torch.randn(6, generator=g)
    beta = torch.randn(6, generator=g)
    eps = 1e-5
    case, (dg, db) = grad_case(lambda t, w, b: F.layer_norm(t, (6,), w, b, eps), x,
                               (gamma, beta), dy_seed=300)
    case.update({"gamma": tensor(gamma), "beta": tensor(beta), "dgamma": tensor(dg),
                 "dbeta": tensor(db), "eps": eps})
    cases["layernorm_affine"] = case
    case, _ = grad_case(lambda t: F.layer_norm(t, (6,), None, None, 1e-3), x, dy_seed=301)
    case["eps"] = 1e-3
    cases["layernorm"] = case
    return cases


def batchnorm_case(g, shape, affine, seed, momentum=0.1, eps=1e-5):
    """Training-mode batch norm on x[shape] = [B, C] or [B, C, S]: output, gradients and the
    running statistics after one update from non-trivial initial values."""
    c = shape[1]
    x = torch.randn(*shape, generator=g) * 1.5 + 0.5
    rm0 = torch.randn(c, generator=g) * 0.1
    rv0 = torch.rand(c, generator=g) + 0.5
    gamma = torch.randn(c, generator=g)
    beta = torch.randn(c, generator=g)
    rm, rv = rm0.clone(), rv0.clone()
    params = (gamma, beta) if affine else ()

    def fn(t, *wb):
        w, b = (wb[0], wb[1]) if wb else (None, None)
        return F.batch_norm(t, rm, rv, w, b, training=True, momentum=momentum, eps=eps)

    case, grads = grad_case(fn, x, params, dy_seed=seed)
    case.update({"running_mean_in": tensor(rm0), "running_var_in": tensor(rv0),
                 "running_mean": tensor(rm), "running_var": tensor(rv),
                 "momentum": momentum, "eps": eps})
    if affine:
        case.update({"gamma": tensor(gamma), "beta": tensor(beta), "dgamma": tensor(grads[0]),
                     "dbeta": tensor(grads[1])})
    return case


def batchnorm_cases(g):
    cases = {
        "batchnorm1d_train": batchnorm_case(g, (8, 3), True, 400),
        "batchnorm1d_train_noaffine": batchnorm_case(g, (8, 3), False, 401, momentum=0.25),
        "batchnorm_spatial_train": batchnorm_case(g, (4, 3, 5), True, 402),
    }
    # Evaluation: running statistics; forward only (the backward kernel is training-mode).
    x = torch.randn(5, 4, generator=g)
    rm = torch.randn(4, generator=g) * 0.3
    rv = torch.rand(4, generator=g) + 0.5
    gamma = torch.randn(4, generator=g)
    beta = torch.randn(4, generator=g)
    y = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-5)
    cases["batchnorm1d_eval"] = {"x": tensor(x), "running_mean": tensor(rm),
                                 "running_var": tensor(rv), "gamma": tensor(gamma),
                                 "beta": tensor(beta), "y": tensor(y), "eps": 1e-5}
    return cases


def loss_value(case, pred, target, weights):
    red = case["reduction"]
    k = case["kind"]
    if k == "mse":
        return F.mse_loss(pred, target, reduction=red)
    if k == "mae":
        return F.l1_loss(pred, target, reduction=red)
    if k == "huber":
        return F.huber_loss(pred, target, reduction=red, delta=case["delta"])
    if k == "bce":
        return F.binary_cross_entropy_with_logits(pred, target, reduction=red)
    if k == "cross_entropy":
        return F.cross_entropy(pred, target, weight=weights, reduction=red,
                               label_smoothing=case["label_smoothing"])
    raise ValueError(k)


def loss_cases(g):
    batch, outputs = 6, 4
    variants = {
        "mse": {"kind": "mse"},
        "mae": {"kind": "mae"},
        "huber": {"kind": "huber", "delta": 1.0},
        "huber_delta": {"kind": "huber", "delta": 0.5},
        "bce": {"kind": "bce"},
        "cross_entropy": {"kind": "cross_entropy", "label_smoothing": 0.0},
        "cross_entropy_weights": {"kind": "cross_entropy", "label_smoothing": 0.0,
                                  "weights": True},
        "cross_entropy_smoothing": {"kind": "cross_entropy", "label_smoothing": 0.15},
        "cross_entropy_weights_smoothing": {"kind": "cross_entropy", "label_smoothing": 0.2,
                                            "weights": True},
    }
    cases = {}
    for name, v in variants.items():
        pred = torch.randn(batch, outputs, generator=g) * 2.0
        weights = None
        if v["kind"] == "cross_entropy":
            target = torch.randint(0, outputs, (batch,), generator=g)
            if v.get("weights"):
                weights = torch.rand(outputs, generator=g) * 2.0 + 0.1
        elif v["kind"] == "bce":
            # Hard 0/1 labels and soft probabilities, including both ends.
            target = torch.rand(batch, outputs, generator=g)
            target[0] = torch.tensor([0.0, 1.0, 0.0, 1.0])
        else:
            target = pred + torch.randn(batch, outputs, generator=g) * 1.5
            target[0, 0] = pred[0, 0]  # a zero difference: mae's gradient there is 0
        for red in ("mean", "sum"):
            case = {"kind": v["kind"], "reduction": red}
            for k in ("delta", "label_smoothing"):
                if k in v:
                    case[k] = v[k]
            p = pred.clone().requires_grad_(True)
            loss = loss_value(case, p, target, weights)
            loss.backward()
            case["pred"] = tensor(pred)
            if v["kind"] == "cross_entropy":
                case["labels"] = {"shape": [batch], "data": [int(t) for t in target.tolist()]}
            else:
                case["target"] = tensor(target)
            if weights is not None:
                case["weights"] = tensor(weights)
            case["loss"] = loss.item()
            case["grad"] = tensor(p.grad)
            cases[f"{name}_{red}"] = case
    return cases


def write(name, cases):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{path}: {len(cases)} cases")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(2024)
    kernels = {}
    kernels.update(activation_cases(g))
    kernels.update(layernorm_cases(g))
    kernels.update(batchnorm_cases(g))
    write("kernels.json", kernels)
    write("losses.json", loss_cases(torch.Generator().manual_seed(2025)))


if __name__ == "__main__":
    main()
