#!/usr/bin/python3
"""Golden fixtures for the optimizers, gradient clipping and learning-rate schedules.

Runs PyTorch (Debian's python3-torch, 1.13) and writes
  tests/fixtures/optim.json  one case per optimizer setting: a 37-parameter problem, the
                             settings, and the parameters and gradients after each of 20 steps
  tests/fixtures/sched.json  one case per schedule: the settings and get_last_lr() after
                             construction and after every step (plateau: with the metrics fed)
read by tests/golden/test_optim_golden.c and test_sched_golden.c. Deterministic: the same
torch gives the same files. Run it with /usr/bin/python3 tools/fixtures_optim.py.

The optimizer problem is L(p) = sum(w * (p - t)^2), whose gradient g = 2 * w * (p - t) is
formed explicitly in float32 (not by autograd), so the C test can form the same bits.
"""
import json
import math
import os
import random

import torch

N = 37
STEPS = 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
              "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}

# name: (kind, torch keyword arguments, max_norm, max_value); 0 means no clipping.
OPTIM_CASES = {
    "sgd_plain": ("sgd", dict(lr=0.1), 0.0, 0.0),
    "sgd_momentum_dampening": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3), 0.0, 0.0),
    "sgd_nesterov_weight_decay": ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True,
                                              weight_decay=0.01), 0.0, 0.0),
    "adam": ("adam", dict(lr=0.1), 0.0, 0.0),
    "adam_amsgrad_weight_decay": ("adam", dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6,
                                               amsgrad=True, weight_decay=0.02), 0.0, 0.0),
    "adamw": ("adamw", dict(lr=0.1, weight_decay=0.1), 0.0, 0.0),
    "adamw_amsgrad": ("adamw", dict(lr=0.05, amsgrad=True), 0.0, 0.0),
    "rmsprop": ("rmsprop", dict(lr=0.01), 0.0, 0.0),
    "rmsprop_momentum": ("rmsprop", dict(lr=0.01, momentum=0.5), 0.0, 0.0),
    "rmsprop_centered": ("rmsprop", dict(lr=0.01, alpha=0.95, centered=True), 0.0, 0.0),
    "rmsprop_centered_momentum": ("rmsprop", dict(lr=0.005, alpha=0.9, momentum=0.7,
                                                  centered=True, weight_decay=0.01), 0.0, 0.0),
    "sgd_clip_norm": ("sgd", dict(lr=0.1, momentum=0.5), 5.0, 0.0),
    "adam_clip_value": ("adam", dict(lr=0.1), 0.0, 0.5),
    # Both: PyTorch order clip_grad_norm_ then clip_grad_value_, as ns_optim_step does.
    "adamw_clip_norm_and_value": ("adamw", dict(lr=0.2, weight_decay=0.05), 12.0, 2.0),
}


def tensor(t):
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


def problem():
    """p0 in [-2, 2), weights w in [0.5, 2), targets |t| in [0.5, 1.5) (away from 0 so that
    relative errors stay meaningful), all float32."""
    g = torch.Generator().manual_seed(20240611)
    p0 = torch.rand(N, generator=g) * 4 - 2
    w = torch.rand(N, generator=g) * 1.5 + 0.5
    sign = torch.where(torch.rand(N, generator=g) < 0.5, -1.0, 1.0)
    t = sign * (torch.rand(N, generator=g) + 0.5)
    return p0, w, t


def optim_case(kind, kwargs, max_norm, max_value, p0, w, t):
    p = p0.clone().requires_grad_(True)
    opt = OPTIMIZERS[kind]([p], **kwargs)
    group = opt.param_groups[0]
    case = {"kind": kind, "steps": STEPS, "max_norm": max_norm, "max_value": max_value,
            "lr": group["lr"], "weight_decay": group["weight_decay"]}
    if kind == "sgd":
        case.update(momentum=group["momentum"], dampening=group["dampening"],
                    nesterov=group["nesterov"])
    elif kind in ("adam", "adamw"):
        case.update(beta1=group["betas"][0], beta2=group["betas"][1], eps=group["eps"],
                    amsgrad=group["amsgrad"])
    else:
        case.update(alpha=group["alpha"], eps=group["eps"], momentum=group["momentum"],
                    centered=group["centered"])
    params, grads, norms = [], [], []
    clipped = 0
    for _ in range(STEPS):
        with torch.no_grad():
            p.grad = 2 * w * (p.detach() - t)
        # The norm ns_optim_step reports: before clipping, accumulated in double.
        norms.append(torch.linalg.vector_norm(p.grad.double()).item())
        if max_norm > 0:
            clipped += norms[-1] > max_norm
            torch.nn.utils.clip_grad_norm_([p], max_norm)
        if max_value > 0:
            torch.nn.utils.clip_grad_value_([p], max_value)
        opt.step()
        params.append(p.detach().clone())
        grads.append(p.grad.detach().clone())
    if max_norm > 0:
        # The case must exercise both sides of the clipping threshold.
        assert 0 < clipped < STEPS, (kind, kwargs, clipped)
    case.update(p0=tensor(p0), w=tensor(w), t=tensor(t), params=tensor(torch.stack(params)),
                grads=tensor(torch.stack(grads)), grad_norms=norms)
    return case


def make_optim():
    p0, w, t = problem()
    return {name: optim_case(kind, kw, mn, mv, p0, w, t)
            for name, (kind, kw, mn, mv) in OPTIM_CASES.items()}


# ---- schedules ----------------------------------------------------------------------

def plateau_metrics(seed, count, rising):
    """A curve that improves, then flattens with noise, so the plateau logic fires."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        m = 0.5 + 0.5 * math.exp(-k / 4.0) + 0.02 * rng.uniform(-1.0, 1.0)
        out.append(1.0 - m if rising else m)
    return out


def lr_sequence(make, steps, base_lr, metrics=None):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for k in range(steps):
        opt.step()  # no gradient: a no-op that keeps PyTorch's call-order check quiet
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def make_sched():
    S = torch.optim.lr_scheduler
    cases = {}

    def add(name, kind, base_lr, steps, make, settings, metrics=None):
        case = {"kind": kind, "base_lr": base_lr}
        case.update(settings)
        case["lrs"] = lr_sequence(make, steps, base_lr, metrics)
        if metrics is not None:
            case["metrics"] = metrics
        cases[name] = case

    add("step", "step", 0.1, 30, lambda o: S.StepLR(o, step_size=3, gamma=0.5),
        dict(step_size=3, gamma=0.5))
    add("multistep", "multistep", 0.1, 15,
        lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
        dict(milestones=[2, 5, 5, 9], gamma=0.3))
    add("exponential", "exponential", 0.1, 40, lambda o: S.ExponentialLR(o, gamma=0.9),
        dict(gamma=0.9))
    add("cosine", "cosine", 0.1, 35, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        dict(t_max=10, eta_min=0.001))
    add("cosine_eta0", "cosine", 0.05, 3 * 7, lambda o: S.CosineAnnealingLR(o, T_max=7),
        dict(t_max=7, eta_min=0.0))
    add("warmup", "warmup", 0.1, 12,
        lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6),
        dict(start_factor=0.25, end_factor=1.0, total_iters=6))
    add("warmup_decay", "warmup", 0.1, 12,
        lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8),
        dict(start_factor=1.0, end_factor=0.1, total_iters=8))
    # Steps 0..total_steps: PyTorch allows exactly total_steps calls to step().
    add("onecycle_cos", "onecycle", 0.1, 25,
        lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=25, pct_start=0.3, div_factor=25.0,
                               final_div_factor=1e4, cycle_momentum=False),
        dict(max_lr=0.5, total_steps=25, pct_start=0.3, div_factor=25.0,
             final_div_factor=1e4, anneal_linear=False))
    add("onecycle_linear", "onecycle", 0.1, 40,
        lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=40, pct_start=0.25, div_factor=10.0,
                               final_div_factor=100.0, anneal_strategy="linear",
                               cycle_momentum=False),
        dict(max_lr=0.2, total_steps=40, pct_start=0.25, div_factor=10.0,
             final_div_factor=100.0, anneal_linear=True))
    add("plateau_min_rel", "plateau", 0.1, 40,
        lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01,
                                      threshold_mode="rel", cooldown=1, min_lr=0.004),
        dict(mode_max=False, factor=0.5, patience=2, threshold=0.01, threshold_abs=False,
             cooldown=1, min_lr=0.004),
        plateau_metrics(7, 40, rising=False))
    add("plateau_max_abs", "plateau", 0.1, 40,
        lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1, threshold=0.005,
                                      threshold_mode="abs", cooldown=2, min_lr=0.0),
        dict(mode_max=True, factor=0.3, patience=1, threshold=0.005, threshold_abs=True,
             cooldown=2, min_lr=0.0),
        plateau_metrics(11, 40, rising=True))
    for name, case in cases.items():
        # Every case must actually move the rate.
        assert len(set(case["lrs"])) > 2, name
    return cases


def write(name, obj):
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT))


def main():
    torch.set_num_threads(1)
    os.makedirs(FIXTURES, exist_ok=True)
    write("optim.json", make_optim())
    write("sched.json", make_sched())


if __name__ == "__main__":
    main()
