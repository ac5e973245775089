#!/usr/bin/python3
"""Training-step speed in PyTorch: the networks of bench_train.c, the same steps.

    /usr/bin/python3 bench/bench_torch.py NET SETTING [--repeats 5] [--target 0.5]
    /usr/bin/python3 bench/bench_torch.py fashion SETTING [--net c|e] [--epochs 1] [--until ACC]
                                                  [--seed 42]

NET is a..e (as in `bench_train --list`); SETTING is one of
    1t          torch.set_num_threads(1), OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1
    1omp2blas   torch.set_num_threads(1), OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=2 (Debian's
                torch does its linear layers' GEMMs in the system OpenBLAS)
    2t          torch.set_num_threads(2), OMP_NUM_THREADS=2, OMP_WAIT_POLICY=PASSIVE,
                OPENBLAS_NUM_THREADS=2
The thread variables must be set before torch is imported, so the script re-executes itself
with them in a fresh process (one process per network and setting: the peak RSS is the run's).

A step is opt.zero_grad() + forward + loss + backward + opt.step(), Adam lr 1e-3, on DATA_BATCHES
batches of normal inputs and random targets made once (fixed seed). Untimed warm-up (>= 10 steps
and 0.2 s, which also sizes N), then REPEATS repeats of N steps (about --target s each); the
figure is the median repeat. Last line, machine-readable:
    result net=NAME setting=SETTING ms=... sps=... rss_mb=... steps=N repeats=R torch=VERSION

`fashion` is network NET (c or e, default e) trained end to end on Fashion-MNIST, as
`bench_train --fashion`: load the gzipped IDX files from /usr/share/datasets/fashion-mnist
(numpy, scaled to [0, 1]), epochs of shuffled batches (the network's batch size) indexed from
the in-memory tensor, then test accuracy in batches of that size under no_grad; with --until
the test set is evaluated after every epoch (eval_s) and training stops at that accuracy. One
wall-clock run:
    fashion net=NAME setting=SETTING load_s=... train_s=... epoch_s=... ms=... eval_s=...
            test_acc=... rss_mb=... epochs=E reached=0|1
"""
import math
import os
import resource
import sys
import time

DATA_BATCHES = 4
SETTINGS = {
    "1t": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "1omp2blas": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "1"},
    "2t": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "2",
           "MKL_NUM_THREADS": "2"},
}
TORCH_THREADS = {"1t": 1, "1omp2blas": 1, "2t": 2}
BATCH = {"a": 32, "b": 64, "c": 128, "d": 256, "e": 64}


def build(nn, name):
    relu = nn.ReLU
    if name == "a":
        return nn.Sequential(nn.Linear(13, 128), relu(), nn.Dropout(0.2), nn.Linear(128, 64),
                             relu(), nn.Dropout(0.2), nn.Linear(64, 32), relu(), nn.Dropout(0.2),
                             nn.Linear(32, 1)), (13,), "mse"
    if name == "b":
        return nn.Sequential(nn.Linear(30, 64), relu(), nn.Linear(64, 64), relu(),
                             nn.Linear(64, 2)), (30,), "ce"
    if name == "c":
        return nn.Sequential(nn.Linear(784, 256), relu(), nn.Linear(256, 128), relu(),
                             nn.Linear(128, 10)), (784,), "ce"
    if name == "d":
        return nn.Sequential(nn.Linear(784, 1024), relu(), nn.Linear(1024, 1024), relu(),
                             nn.Linear(1024, 10)), (784,), "ce"
    if name == "e":
        return nn.Sequential(nn.Conv2d(1, 32, 3), relu(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                             relu(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), relu(),
                             nn.Linear(128, 10)), (1, 28, 28), "ce"
    raise SystemExit("bench_torch.py: unknown network %r" % name)


def run(name, setting, repeats, target):
    import torch
    from torch import nn

    torch.set_num_threads(TORCH_THREADS[setting])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(42)
    model, shape, loss_kind = build(nn, name)
    model.train()
    bs = BATCH[name]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    outputs = model[-1].out_features
    xs = [torch.randn((bs,) + shape) for _ in range(DATA_BATCHES)]
    if loss_kind == "mse":
        ys = [torch.randn(bs, outputs) for _ in range(DATA_BATCHES)]
        loss_fn = nn.MSELoss()
    else:
        ys = [torch.randint(0, outputs, (bs,)) for _ in range(DATA_BATCHES)]
        loss_fn = nn.CrossEntropyLoss()

    step = [0]

    def train_step():
        k = step[0] % DATA_BATCHES
        step[0] += 1
        opt.zero_grad()
        loss = loss_fn(model(xs[k]), ys[k])
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    warm = 0
    while warm < 10 or time.perf_counter() - t0 < 0.2:
        train_step()
        warm += 1
    per_step = (time.perf_counter() - t0) / warm
    n = max(1, math.ceil(target / per_step))
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            train_step()
        ms.append((time.perf_counter() - t) * 1e3 / n)
    ms.sort()
    med = ms[repeats // 2] if repeats % 2 else 0.5 * (ms[repeats // 2 - 1] + ms[repeats // 2])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("result net=%s setting=%s ms=%.4f sps=%.1f rss_mb=%.1f steps=%d repeats=%d "
          "min_ms=%.4f max_ms=%.4f torch=%s threads=%d"
          % (name, setting, med, bs / (med / 1e3), rss_mb, n, repeats, ms[0], ms[-1],
             torch.__version__, torch.get_num_threads()))


def fashion(name, setting, epochs, until, seed):
    import gzip
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(TORCH_THREADS[setting])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(seed)
    root = "/usr/share/datasets/fashion-mnist/"

    def idx(fname, offset):
        with gzip.open(root + fname) as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

    model, shape, _ = build(nn, name)
    t0 = time.perf_counter()
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape((-1,) + shape)
                           .astype(np.float32) / 255.0)
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape((-1,) + shape)
                           .astype(np.float32) / 255.0)
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    load_s = time.perf_counter() - t0
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    bs, n = BATCH[name], xtr.shape[0]
    gen = torch.Generator().manual_seed(seed)
    steps, loss_sum, train_s, eval_s, acc, done = 0, 0.0, 0.0, 0.0, 0.0, 0
    for e in range(epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            j = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(model(xtr[j]), ytr[j])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
        train_s += time.perf_counter() - t0
        done = e + 1
        if until > 0 or done == epochs:
            model.eval()
            t0 = time.perf_counter()
            correct = 0
            with torch.no_grad():
                for i in range(0, xte.shape[0], bs):
                    correct += (model(xte[i:i + bs]).argmax(1) == yte[i:i + bs]).sum().item()
            eval_s += time.perf_counter() - t0
            acc = correct / xte.shape[0]
            sys.stderr.write("bench_torch.py: %s epoch %d: test accuracy %.4f, %.1f s training\n"
                             % (name, done, acc, train_s))
            if until > 0 and acc >= until:
                break
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("fashion net=%s setting=%s load_s=%.3f train_s=%.3f epoch_s=%.3f ms=%.4f eval_s=%.3f "
          "test_acc=%.4f rss_mb=%.1f epochs=%d steps=%d train_loss=%.4f until=%.4f reached=%d "
          "batch=%d seed=%d torch=%s"
          % (name, setting, load_s, train_s, train_s / done, train_s * 1e3 / steps, eval_s, acc,
             rss_mb, done, steps, loss_sum / steps, until, acc >= until if until > 0 else 1, bs,
             seed, torch.__version__))


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[1] not in SETTINGS:
        raise SystemExit(__doc__)
    name, setting = args[0], args[1]
    repeats, target, epochs, until, net, seed = 5, 0.5, 1, 0.0, "e", 42
    rest = args[2:]
    while rest:
        if rest[0] == "--epochs" and len(rest) > 1 and name == "fashion":
            epochs = int(rest[1])
        elif rest[0] == "--until" and len(rest) > 1 and name == "fashion":
            until = float(rest[1])
        elif rest[0] == "--net" and len(rest) > 1 and name == "fashion" and rest[1] in ("c", "e"):
            net = rest[1]
        elif rest[0] == "--seed" and len(rest) > 1 and name == "fashion":
            seed = int(rest[1])
        elif rest[0] == "--repeats" and len(rest) > 1:
            repeats = int(rest[1])
        elif rest[0] == "--target" and len(rest) > 1:
            target = float(rest[1])
        else:
            raise SystemExit(__doc__)
        rest = rest[2:]
    if os.environ.get("NETSMITH_BENCH_CHILD") != setting:
        # Fresh process with the thread variables set before torch is imported.
        env = dict(os.environ)
        env.update(SETTINGS[setting])
        if setting != "2t":
            env.pop("OMP_WAIT_POLICY", None)
        env["NETSMITH_BENCH_CHILD"] = setting
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    if name == "fashion":
        fashion(net, setting, epochs, until, seed)
    else:
        run(name, setting, repeats, target)


if __name__ == "__main__":
    main()
