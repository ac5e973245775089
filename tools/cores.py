"""Running a fixture script under each of OpenBLAS's x86-64 cores, to measure how far PyTorch
itself moves with the kernel (tools/fixtures_mlp.py, tools/fixtures_conv.py). OpenBLAS reads
OPENBLAS_CORETYPE while it loads, so each core needs its own process: the script is started
again as `SCRIPT --child OUT` with the core forced, and writes its results to OUT."""
import os
import re
import subprocess
import sys
import tempfile

# Cores with distinct sgemm kernels: SSE3, SSE4, AVX, AVX2 (Intel and AMD), AVX-512. A core
# the CPU cannot run is skipped (the child dies, or OpenBLAS reports another core).
CORES = ["Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX"]


def run_core(script, core, load):
    """(the core OpenBLAS reports, load(OUT)) for one child run of script, core None for
    OpenBLAS's own choice; None where the core cannot run here."""
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    env.pop("OPENBLAS_CORETYPE", None)
    if core is not None:
        env["OPENBLAS_CORETYPE"] = core
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "child.out")
        p = subprocess.run([sys.executable, os.path.abspath(script), "--child", out], env=env,
                           capture_output=True, text=True)
        m = re.search(r"Core: (\w+)", p.stdout + p.stderr)
        if p.returncode != 0 or m is None:
            return None
        if core is not None and m.group(1).lower() != core.lower():
            return None
        return m.group(1), load(out)


def run_all_cores(script, load):
    """[(core, result)]: OpenBLAS's own core first (the reference), then every other core
    this CPU runs. Exits if PyTorch does not run on OpenBLAS."""
    own = run_core(script, None, load)
    if own is None:
        sys.exit(f"{script}: PyTorch does not run on OpenBLAS here (no 'Core:' line)")
    runs = [own]
    for c in CORES:
        r = run_core(script, c, load)
        if r is not None and r[0] != own[0]:
            runs.append(r)
    print(f"reference core {own[0]}; spread over {', '.join(c for c, _ in runs[1:])}")
    return runs
