#!/usr/bin/env python3
"""Keeps the API's description true: every request the server tests made (the access logs
of tests/server/*_test.sh: METHOD ROUTE URL STATUS MS) must be an operation the description
lists, answered with a status it declares for it; and every operation it lists must have been
called by some test. usage: openapi_check.py OPENAPI.json LOG_DIR"""
import json
import os
import sys

spec = json.load(open(sys.argv[1]))
ops = {}
for path, item in spec["paths"].items():
    for method, op in item.items():
        ops[(method.upper(), path)] = set(op["responses"].keys())

seen = {}
problems = []
logs = [f for f in sorted(os.listdir(sys.argv[2])) if f.endswith(".log")]
for name in logs:
    for n, line in enumerate(open(os.path.join(sys.argv[2], name)), 1):
        parts = line.split()
        if len(parts) != 5:
            continue
        method, route, url, status = parts[0], parts[1], parts[2], parts[3]
        if route == "-":
            continue  # the gate's answers (401, 403, 404, 405, 413) and the UI's files
        key = ("GET" if method == "HEAD" else method, route)
        if key not in ops:
            problems.append(f"{name}:{n}: {method} {route} is not in the description")
            continue
        seen.setdefault(key, set()).add(status)
        if status not in ops[key]:
            problems.append(f"{name}:{n}: {method} {route} answered {status}, which the "
                            f"description does not declare ({' '.join(sorted(ops[key]))})")

for key in sorted(ops):
    if key not in seen:
        problems.append(f"{key[0]} {key[1]}: no test calls it")

for p in problems:
    print("FAIL:", p)
print(f"{len(ops)} operations, {len(seen)} called, {sum(len(s) for s in seen.values())} "
      f"(operation, status) pairs seen in {len(logs)} logs; {len(problems)} problems")
sys.exit(1 if problems else 0)
