# jq_get EXPR [FILE]: prints a value of a JSON file ($WORK/body by default) by a path like
# .items[0].name (strings bare, other values as JSON; nothing for a missing one). python3 is
# the one JSON reader the test machines have.
jq_get() {
    python3 - "$1" "${2:-$WORK/body}" <<'PY'
import json, re, sys
expr, path = sys.argv[1], sys.argv[2]
try:
    v = json.load(open(path))
    for key, idx in re.findall(r'\.([A-Za-z_0-9-]+)|\[(\d+)\]', expr):
        v = v[key] if key else v[int(idx)]
except Exception:
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
PY
}
