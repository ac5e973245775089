#!/usr/bin/env python3
"""The module order of DESIGN.md, checked: no file includes a header of a module above its own
or another module's private header, no module's object files use a symbol that a module
above it defines, and no two files use each other's functions.

    python3 tools/module_order.py SOURCE_DIR OBJECT_DIR... [--update]

Each OBJECT_DIR holds a library's object files by source path (a CMake build's
CMakeFiles/netsmith_obj.dir, and CMakeFiles/netsmith_store.dir for the store, CMakeFiles/netsmith_server.dir for the
server). Known violations, the ones the code had when this check came,
are listed in tools/module_order_known.txt, one per line: the check fails on any violation not
in it, and names the lines that no longer hold (a fixed one leaves the list, which only
shrinks: --update rewrites it from what is found).
"""
import os
import re
import subprocess
import sys

# Bottom to top (DESIGN.md). format: the generic file formats below everything that reads
# files; io: model files and training state, above train.
ORDER = ["core", "format", "kernels", "layers", "model", "train", "data", "io", "run",
         "pipeline", "tune", "export", "store", "server"]
RANK = {m: i for i, m in enumerate(ORDER)}

# Public headers by module.
HEADER_MODULE = {
    "netsmith/core.h": "core", "netsmith/vocab.h": "core", "netsmith/kernels.h": "kernels",
    "netsmith/layers.h": "layers", "netsmith/model.h": "model",
    "netsmith/train.h": "train", "netsmith/trainer.h": "train", "netsmith/metrics.h": "train",
    "netsmith/format.h": "format", "netsmith/data.h": "data", "netsmith/io.h": "io",
    "netsmith/run.h": "run",
    "netsmith/pipeline.h": "pipeline", "netsmith/netsmith.h": "export",
    "netsmith/export.h": "export",
    "netsmith/tune.h": "tune", "netsmith/store.h": "store", "netsmith/server.h": "server",
}


def module_of(path):
    """The module of a source path relative to the source tree ("src/data/csv.c")."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "src" else None


def header_module(inc):
    if inc in HEADER_MODULE:
        return HEADER_MODULE[inc]
    return module_of("src/" + inc)


def include_violations(src):
    found = []
    for root, _, files in os.walk(os.path.join(src, "src")):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            mod = module_of(rel)
            if mod not in RANK:
                continue
            for line in open(os.path.join(src, rel), errors="replace"):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m.group(1)
                hm = header_module(inc)
                if hm in RANK and RANK[hm] > RANK[mod]:
                    found.append(f"include {rel} ({mod}) -> {inc} ({hm})")
                # another module's private header: src/<module>/*_private.h holds the structs
                # of that module alone. Its other headers (core/core_internal.h,
                # model/model_internal.h, ...) are its interface to the modules above.
                private = inc.endswith("_private.h")
                if private and hm in RANK and hm != mod:
                    found.append(f"private {rel} ({mod}) -> {inc} ({hm})")
    return found


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            used.add(f[1])
        elif len(f) == 3 and f[1] in "TDBRVWG":
            defined.add(f[2])
    return defined, used


def call_violations(src, objdirs):
    objs = {}
    for objdir in objdirs:
        for root, _, files in os.walk(objdir):
            for name in files:
                if name.endswith(".c.o"):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, objdir)[: -len(".o")]
                    if module_of(rel) in RANK:
                        objs[rel] = full
    if not objs:
        sys.exit(f"module_order: no object files of the library under {' '.join(objdirs)}")
    where = {}
    uses = {}
    for rel, full in objs.items():
        d, u = symbols(full)
        for s in d:
            where[s] = rel
        uses[rel] = u
    found = set()
    needs = {}  # file -> the files whose symbols it uses
    for rel, used in uses.items():
        mod = module_of(rel)
        for s in used:
            if s in where:
                dm = module_of(where[s])
                if RANK[dm] > RANK[mod]:
                    found.add(f"call {rel} ({mod}) -> {s} in {where[s]} ({dm})")
                if where[s] != rel:
                    needs.setdefault(rel, set()).add(where[s])
    # files that use each other, directly or round a longer loop: a knot to untie (one should
    # sit below the others). Each strongly connected set of files is one knot.
    for knot in knots(needs):
        found.add("cycle " + " <-> ".join(sorted(knot)))
    return sorted(found)


def knots(graph):
    """The strongly connected sets of more than one node of graph (node -> set of nodes)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = sorted(set(graph) | {n for ds in graph.values() for n in ds})

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src, objdirs = args[0], args[1:]
    known_path = os.path.join(src, "tools", "module_order_known.txt")
    found = sorted(set(include_violations(src)) | set(call_violations(src, objdirs)))
    if "--update" in sys.argv:
        with open(known_path, "w") as f:
            f.write("# Upward dependencies the code still has (tools/module_order.py); the list "
                    "only shrinks.\n")
            f.writelines(v + "\n" for v in found)
        print(f"module_order: {len(found)} known violations written to {known_path}")
        return 0
    known = set()
    if os.path.exists(known_path):
        known = {l.strip() for l in open(known_path) if l.strip() and not l.startswith("#")}
    new = [v for v in found if v not in known]
    fixed = sorted(known - set(found))
    for v in new:
        print(f"module_order: new: {v}", file=sys.stderr)
    for v in fixed:
        print(f"module_order: fixed (take it out of tools/module_order_known.txt): {v}")
    print(f"module_order: {len(found)} found, {len(known)} known, {len(new)} new, "
          f"{len(fixed)} fixed")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
