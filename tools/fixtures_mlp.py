"""Golden fixtures for the seed MLP (13 -> 128 -> 64 -> 32 -> 1, relu, no dropout): for each
optimizer and each loss, the initial weights, 20 batches, the loss of every step and the final
weights, written by PyTorch. Run with Debian's python3-torch:

    /usr/bin/python3 tools/fixtures_mlp.py

Writes tests/fixtures/mlp_<case>.safetensors (tensors init.*, final.*, x, y, losses; the case
settings as JSON in metadata "case").

The numbers differ in their last bits with the kernels OpenBLAS runs, which sum products in
different orders. So every case is also run with each OpenBLAS core this CPU can run (forced
with OPENBLAS_CORETYPE, in a child process, since OpenBLAS reads it when it loads), and the
fixture records in metadata "spread" how far PyTorch itself moves from the reference across
them: the largest relative difference of a step's loss and, per final tensor, the largest
absolute difference of an element. The reference is the run with OpenBLAS's own core for this
CPU. tests/golden/test_mlp_golden.c sets its tolerances from these spreads."""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cores  # noqa: E402
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
STEPS, BATCH, IN = 20, 32, 13

CASES = {
    # optimizers, all with mse
    "sgd": {"optim": "sgd", "lr": 0.01, "loss": "mse"},
    "sgd_momentum": {"optim": "sgd", "lr": 0.01, "momentum": 0.9, "dampening": 0.1, "loss": "mse"},
    "sgd_nesterov": {"optim": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True,
                     "weight_decay": 1e-4, "loss": "mse"},
    "adam": {"optim": "adam", "lr": 1e-3, "loss": "mse"},
    "adam_amsgrad": {"optim": "adam", "lr": 1e-3, "amsgrad": True, "weight_decay": 1e-2,
                     "loss": "mse"},
    "adamw": {"optim": "adamw", "lr": 1e-3, "weight_decay": 1e-2, "loss": "mse"},
    "rmsprop": {"optim": "rmsprop", "lr": 1e-3, "loss": "mse"},
    "rmsprop_centered": {"optim": "rmsprop", "lr": 1e-3, "centered": True, "momentum": 0.9,
                         "loss": "mse"},
    # losses, all with adam
    "mse_sum": {"optim": "adam", "lr": 1e-3, "loss": "mse", "reduction": "sum"},
    "mae": {"optim": "adam", "lr": 1e-3, "loss": "mae"},
    "huber": {"optim": "adam", "lr": 1e-3, "loss": "huber", "delta": 0.5},
    "cross_entropy": {"optim": "adam", "lr": 1e-3, "loss": "cross_entropy", "outputs": 3,
                      "label_smoothing": 0.1},
    "bce": {"optim": "adam", "lr": 1e-3, "loss": "bce"},
    # gradient clipping inside the step
    "adam_clip_norm": {"optim": "adam", "lr": 1e-2, "loss": "mse", "clip_norm": 1.0},
}


def make_model(outputs):
    return nn.Sequential(nn.Linear(IN, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, outputs))


def make_optim(case, params):
    kw = {"lr": case["lr"], "weight_decay": case.get("weight_decay", 0.0)}
    o = case["optim"]
    if o == "sgd":
        return torch.optim.SGD(params, momentum=case.get("momentum", 0.0),
                               dampening=case.get("dampening", 0.0),
                               nesterov=case.get("nesterov", False), **kw)
    if o == "adam":
        return torch.optim.Adam(params, amsgrad=case.get("amsgrad", False), **kw)
    if o == "adamw":
        return torch.optim.AdamW(params, **kw)
    if o == "rmsprop":
        return torch.optim.RMSprop(params, momentum=case.get("momentum", 0.0),
                                   centered=case.get("centered", False), **kw)
    raise ValueError(o)


def loss_fn(case, pred, y):
    red = case.get("reduction", "mean")
    k = case["loss"]
    if k == "mse":
        return F.mse_loss(pred, y, reduction=red)
    if k == "mae":
        return F.l1_loss(pred, y, reduction=red)
    if k == "huber":
        return F.huber_loss(pred, y, reduction=red, delta=case["delta"])
    if k == "cross_entropy":
        return F.cross_entropy(pred, y, reduction=red,
                               label_smoothing=case.get("label_smoothing", 0.0))
    if k == "bce":
        return F.binary_cross_entropy_with_logits(pred, y, reduction=red)
    raise ValueError(k)


def make_data(case, g):
    x = torch.randn(STEPS, BATCH, IN, generator=g)
    w = torch.randn(IN, 1, generator=g)
    score = x @ w  # [STEPS, BATCH, 1]
    k = case["loss"]
    if k == "cross_entropy":
        y = torch.bucketize(score[..., 0], torch.tensor([-1.0, 1.0])).to(torch.int64)
    elif k == "bce":
        y = (score > 0).to(torch.float32)
    else:
        y = score + 0.1 * torch.randn(score.shape, generator=g)
    return x, y


def train(name, case, seed):
    """The case's run: (initial state, x, y, losses, final state)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = make_model(case.get("outputs", 1))
    init = {f"init.{k}": v.clone() for k, v in model.state_dict().items()}
    x, y = make_data(case, g)
    opt = make_optim(case, model.parameters())
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(case, model(x[s]), y[s])
        loss.backward()
        if "clip_norm" in case:
            torch.nn.utils.clip_grad_norm_(model.parameters(), case["clip_norm"])
        opt.step()
        losses.append(loss.item())
    return init, x, y, losses, {k: v.clone() for k, v in model.state_dict().items()}


def run_all():
    return {name: train(name, case, 1000 + i) for i, (name, case) in enumerate(CASES.items())}


def child(out):
    """Runs every case (under the core this process was started with) and saves them."""
    torch.set_num_threads(1)
    torch.save({n: (r[3], r[4]) for n, r in run_all().items()}, out)


def save(name, case, run, spread):
    init, x, y, losses, final = run
    tensors = dict(init)
    tensors.update({f"final.{k}": v for k, v in final.items()})
    tensors["x"] = x
    tensors["y"] = y
    tensors["losses"] = torch.tensor(losses, dtype=torch.float64)
    path = os.path.join(OUT, f"mlp_{name}.safetensors")
    stio.save_file(tensors, path, {"case": json.dumps(case, sort_keys=True),
                                   "torch": torch.__version__,
                                   "spread": json.dumps(spread, sort_keys=True)})
    print(f"{path}: final loss {losses[-1]:.6f}, spread over {'/'.join(spread['cores'])}: "
          f"loss {spread['losses_rtol']:.2g}, weights {max(spread['final'].values()):.2g}")


def spread_of(name, ref, others):
    """How far the other cores' runs of a case move from the reference run."""
    losses, final = ref[3], ref[4]
    sp = {"cores": [c for c, _ in others], "losses_rtol": 0.0, "final": {}}
    for _, runs in others:
        l2, f2 = runs[name]
        for a, b in zip(losses, l2):
            sp["losses_rtol"] = max(sp["losses_rtol"], abs(a - b) / max(abs(a), 1e-30))
        for k, v in final.items():
            d = float((v.double() - f2[k].double()).abs().max())
            sp["final"][f"final.{k}"] = max(sp["final"].get(f"final.{k}", 0.0), d)
    return sp


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    runs = cores.run_all_cores(__file__, torch.load)
    for i, (name, case) in enumerate(CASES.items()):
        ref = train(name, case, 1000 + i)
        # The reference in this process must be the child's run on the same core.
        assert ref[3] == runs[0][1][name][0], name
        save(name, case, ref, spread_of(name, ref, runs))


if __name__ == "__main__":
    main()
