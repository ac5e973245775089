#!/usr/bin/env python3
"""Compares two safetensors model files: the tensors (names, dtypes, shapes and bytes) and the
__metadata__ keys (changed, added, removed). Exits 0 when the tensors are identical and no key of
the first file changed or went missing (keys the second file adds are listed), 1 otherwise.

    python3 tools/st_compare.py old.safetensors new.safetensors
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    return header, data[8 + n:], meta


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ha, da, ma = read(sys.argv[1])
    hb, db, mb = read(sys.argv[2])
    same = ha == hb and da == db
    changed = sorted(k for k in ma if k in mb and ma[k] != mb[k])
    removed = sorted(k for k in ma if k not in mb)
    added = sorted(k for k in mb if k not in ma)
    print(f"tensors: {'identical' if same else 'DIFFER'}")
    print(f"metadata changed: {', '.join(changed) or 'none'}; removed: {', '.join(removed) or 'none'}"
          f"; added: {', '.join(added) or 'none'}")
    return 0 if same and not changed and not removed else 1


if __name__ == "__main__":
    sys.exit(main())
