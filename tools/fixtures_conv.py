"""Golden fixtures for the 2-D layers: conv2d, maxpool2d, avgpool2d, adaptive_avgpool2d,
global_avgpool2d, batchnorm2d and dropout2d, written by PyTorch autograd in float32. Run with
Debian's python3-torch:

    /usr/bin/python3 tools/fixtures_conv.py

Writes tests/fixtures/conv.json (read by tests/golden/test_conv_golden.c), one object per
case: {"case": {"layer": {netsmith layer spec}, "x": {"shape": [...], "data": [...]}, "dy",
"y", "dx", and per layer "weight", "bias", "dweight", "dbias", running statistics, ...}}.
A case's "layer" is the spec the C test builds a one-layer model from, so the fixture also
pins the spec names to PyTorch's arguments. Deterministic: fixed seeds, one thread, floats
written with repr so they read back exactly.

Each case also records "spread": per tensor, the largest absolute difference of an element
between PyTorch's runs with each OpenBLAS core this CPU can run (tools/cores.py) and the run
with OpenBLAS's own core; tests/golden/test_conv_golden.c checks that its tolerances cover a
margin over it. Most of PyTorch's 2-D layers do not go through OpenBLAS (spread 0); the 1x1
convolution does."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cores  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def tensor(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def pair(v):
    return v if isinstance(v, (list, tuple)) else (v, v)


def run(fn, x, params, dy_seed):
    """Forward fn(x, *params), backward a random dy; the tensors of a case and param grads."""
    x = x.clone().requires_grad_(True)
    params = [p.clone().requires_grad_(True) for p in params]
    y = fn(x, *params)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(dy_seed))
    y.backward(dy)
    case = {"x": tensor(x), "dy": tensor(dy), "y": tensor(y), "dx": tensor(x.grad)}
    return case, [p.grad for p in params]


def conv_case(g, seed, batch, c, h, w, layer):
    """conv2d with weights drawn like PyTorch's init (U(-1/sqrt(fan_in), +)) and x ~ N(0, 1)."""
    kh, kw = pair(layer["kernel"])
    groups = layer.get("groups", 1)
    filters = layer["filters"]
    bound = 1.0 / (c // groups * kh * kw) ** 0.5
    weight = (torch.rand(filters, c // groups, kh, kw, generator=g) * 2 - 1) * bound
    bias = (torch.rand(filters, generator=g) * 2 - 1) * bound
    x = torch.randn(batch, c, h, w, generator=g)
    with_bias = layer.get("bias", True)
    padding = layer.get("padding", 0)
    if not isinstance(padding, str):
        padding = pair(padding)

    def fn(t, wt, *b):
        return F.conv2d(t, wt, b[0] if b else None, stride=pair(layer.get("stride", 1)),
                        padding=padding, dilation=pair(layer.get("dilation", 1)), groups=groups)

    case, grads = run(fn, x, (weight, bias) if with_bias else (weight,), seed)
    case.update({"layer": dict(type="conv2d", **layer), "weight": tensor(weight),
                 "dweight": tensor(grads[0])})
    if with_bias:
        case.update({"bias": tensor(bias), "dbias": tensor(grads[1])})
    return case


def conv_cases(g):
    return {
        "conv2d_basic": conv_case(g, 100, 2, 3, 7, 6, {"filters": 4, "kernel": 3}),
        "conv2d_stride2_pad1": conv_case(g, 101, 2, 2, 7, 7,
                                         {"filters": 3, "kernel": 3, "stride": 2, "padding": 1}),
        "conv2d_dilation2": conv_case(g, 102, 2, 2, 8, 8,
                                      {"filters": 3, "kernel": 3, "dilation": 2, "padding": 2}),
        "conv2d_groups2_rect": conv_case(g, 103, 2, 4, 6, 5,
                                         {"filters": 6, "kernel": [3, 2], "stride": [1, 2],
                                          "padding": [1, 0], "groups": 2}),
        "conv2d_depthwise": conv_case(g, 104, 3, 3, 5, 5,
                                      {"filters": 3, "kernel": 3, "padding": 1, "groups": 3}),
        "conv2d_nobias": conv_case(g, 105, 2, 2, 5, 6,
                                   {"filters": 4, "kernel": [2, 3], "bias": False}),
        "conv2d_1x1": conv_case(g, 106, 2, 5, 4, 4, {"filters": 3, "kernel": 1}),
        "conv2d_all": conv_case(g, 107, 3, 4, 9, 8,
                                {"filters": 4, "kernel": 3, "stride": 2, "padding": 1,
                                 "dilation": 2, "groups": 2, "bias": False}),
        "conv2d_same": conv_case(g, 108, 2, 2, 6, 5,
                                 {"filters": 2, "kernel": [3, 5], "padding": "same"}),
        # Deep enough (K = 8*3*3 = 72) that the GEMM's summation order matters.
        "conv2d_wide": conv_case(g, 109, 2, 8, 6, 6, {"filters": 8, "kernel": 3,
                                                     "padding": 1}),
    }


def pool_case(g, seed, batch, c, h, w, layer, fn):
    x = torch.randn(batch, c, h, w, generator=g)
    case, _ = run(fn, x, (), seed)
    case["layer"] = layer
    return case


def pool_cases(g):
    def maxpool(layer):
        k, s, p = layer["kernel"], layer.get("stride", layer["kernel"]), layer.get("padding", 0)
        return lambda t: F.max_pool2d(t, pair(k), pair(s), pair(p))

    def avgpool(layer):
        k, s, p = layer["kernel"], layer.get("stride", layer["kernel"]), layer.get("padding", 0)
        cip = layer.get("count_include_pad", True)
        return lambda t: F.avg_pool2d(t, pair(k), pair(s), pair(p), count_include_pad=cip)

    def adaptive(out):
        return lambda t: F.adaptive_avg_pool2d(t, pair(out))

    cases = {}
    for name, shape, layer in [
        ("maxpool2d_k2", (2, 3, 6, 6), {"type": "maxpool2d", "kernel": 2}),
        ("maxpool2d_k3_s2_p1", (2, 2, 7, 6),
         {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1}),
        ("maxpool2d_rect", (2, 2, 5, 7), {"type": "maxpool2d", "kernel": [2, 3], "stride": [1, 2]}),
    ]:
        cases[name] = pool_case(g, 200 + len(cases), *shape, layer, maxpool(layer))
    for name, shape, layer in [
        ("avgpool2d_k2", (2, 3, 6, 6), {"type": "avgpool2d", "kernel": 2}),
        ("avgpool2d_k3_s2_p1", (2, 2, 7, 6),
         {"type": "avgpool2d", "kernel": 3, "stride": 2, "padding": 1}),
        ("avgpool2d_k3_s2_p1_exclude_pad", (2, 2, 7, 6),
         {"type": "avgpool2d", "kernel": 3, "stride": 2, "padding": 1,
          "count_include_pad": False}),
        ("avgpool2d_rect", (2, 2, 7, 5),
         {"type": "avgpool2d", "kernel": [3, 2], "stride": [2, 1], "padding": [1, 0]}),
    ]:
        cases[name] = pool_case(g, 200 + len(cases), *shape, layer, avgpool(layer))
    for name, shape, out in [
        ("adaptive_avgpool2d_3x2", (2, 3, 7, 5), [3, 2]),
        ("adaptive_avgpool2d_4", (2, 2, 6, 6), 4),
        ("adaptive_avgpool2d_up", (2, 2, 3, 4), [5, 7]),  # larger than the input: overlaps
    ]:
        layer = {"type": "adaptive_avgpool2d", "output_size": out}
        cases[name] = pool_case(g, 200 + len(cases), *shape, layer, adaptive(out))
    cases["global_avgpool2d"] = pool_case(g, 200 + len(cases), 3, 4, 5, 6,
                                          {"type": "global_avgpool2d"}, adaptive(1))
    return cases


def batchnorm2d_case(g, seed, shape, affine, momentum=0.1, eps=1e-5):
    """Training-mode BatchNorm2d from non-trivial running statistics: output, gradients and
    the running statistics after the update."""
    c = shape[1]
    x = torch.randn(*shape, generator=g) * 1.5 + 0.5
    rm0 = torch.randn(c, generator=g) * 0.1
    rv0 = torch.rand(c, generator=g) + 0.5
    gamma = torch.randn(c, generator=g)
    beta = torch.randn(c, generator=g)
    rm, rv = rm0.clone(), rv0.clone()

    def fn(t, *wb):
        w, b = (wb[0], wb[1]) if wb else (None, None)
        return F.batch_norm(t, rm, rv, w, b, training=True, momentum=momentum, eps=eps)

    case, grads = run(fn, x, (gamma, beta) if affine else (), seed)
    case.update({"layer": {"type": "batchnorm2d", "eps": eps, "momentum": momentum,
                           "affine": affine},
                 "running_mean_in": tensor(rm0), "running_var_in": tensor(rv0),
                 "running_mean": tensor(rm), "running_var": tensor(rv)})
    if affine:
        case.update({"weight": tensor(gamma), "bias": tensor(beta), "dweight": tensor(grads[0]),
                     "dbias": tensor(grads[1])})
    return case


def batchnorm2d_cases(g):
    cases = {
        "batchnorm2d_train": batchnorm2d_case(g, 300, (3, 4, 3, 5), True),
        "batchnorm2d_train_noaffine": batchnorm2d_case(g, 301, (2, 3, 4, 4), False,
                                                       momentum=0.25, eps=1e-3),
        # One sample: the statistics come from H * W values alone.
        "batchnorm2d_train_batch1": batchnorm2d_case(g, 302, (1, 2, 3, 3), True),
    }
    # Evaluation: running statistics; forward only.
    x = torch.randn(2, 3, 4, 2, generator=g)
    rm = torch.randn(3, generator=g) * 0.3
    rv = torch.rand(3, generator=g) + 0.5
    gamma = torch.randn(3, generator=g)
    beta = torch.randn(3, generator=g)
    y = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-5)
    cases["batchnorm2d_eval"] = {
        "layer": {"type": "batchnorm2d"}, "training": False, "x": tensor(x),
        "running_mean_in": tensor(rm), "running_var_in": tensor(rv), "weight": tensor(gamma),
        "bias": tensor(beta), "y": tensor(y)}
    return cases


def dropout2d_case(g):
    """Channel dropout: torch's mask is read back from its output (a kept channel is x / (1-p),
    a dropped one all zeros) and stored per (sample, channel), scaled by 1 / (1 - p)."""
    p = 0.4
    torch.manual_seed(11)
    x = torch.rand(4, 5, 3, 2, generator=g) + 0.5  # no zeros, so y == 0 means dropped
    case, _ = run(lambda t: F.dropout2d(t, p, training=True), x, (), 400)
    y = torch.tensor(case["y"]["data"]).reshape(x.shape)
    case["mask"] = tensor((y[:, :, 0, 0] != 0).float() / (1.0 - p))
    case["p"] = p
    return case


def make_cases():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(2026)
    cases = {}
    cases.update(conv_cases(g))
    cases.update(pool_cases(g))
    cases.update(batchnorm2d_cases(g))
    cases["dropout2d"] = dropout2d_case(g)
    return cases


def load_json(path):
    with open(path) as f:
        return json.load(f)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        with open(sys.argv[2], "w") as f:
            json.dump(make_cases(), f)
        return
    os.makedirs(OUT, exist_ok=True)
    runs = cores.run_all_cores(__file__, load_json)
    cases = make_cases()
    for name, case in cases.items():
        spread = {}
        for _, other in runs:
            for k, v in case.items():
                if isinstance(v, dict) and "data" in v:
                    d = max((abs(a - b) for a, b in zip(v["data"], other[name][k]["data"])),
                            default=0.0)
                    spread[k] = max(spread.get(k, 0.0), d)
        case["spread"] = spread
    path = os.path.join(OUT, "conv.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")
    worst = max((d, n, k) for n, c in cases.items() for k, d in c["spread"].items())
    print(f"{path}: {len(cases)} cases; largest spread {worst[0]:.2g} ({worst[1]} {worst[2]})")


if __name__ == "__main__":
    main()
