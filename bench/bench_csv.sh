#!/usr/bin/env bash
# CSV parsing: netsmith's ns_data_load_csv against pandas.read_csv (engine='c') on the same
# ~100 MB numeric file in the same run, best of 3 each; prints MB/s for both and the ratio,
# and appends the result to bench/RESULTS.md (section "CSV parsing"). Builds nothing: `make
# bench` builds build/release first (BUILD_DIR points elsewhere).
#
#   bash bench/bench_csv.sh [FILE]      (FILE defaults to /tmp/netsmith_bench.csv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/bench/bench_csv"
file="${1:-/tmp/netsmith_bench.csv}"
results="$root/bench/RESULTS.md"

if [ ! -x "$bin" ]; then
    echo "bench_csv.sh: $bin is missing; run 'make bench' (or build the release preset)" >&2
    exit 1
fi

# The file is written once (fixed seed) and reused.
[ -f "$file" ] || "$bin" --generate "$file"

echo "== netsmith"
ns_out="$("$bin" "$file")"
echo "$ns_out" | grep -v '^netsmith_mb_per_s'
ns_mbps="$(echo "$ns_out" | awk '/^netsmith_mb_per_s/ {print $2}')"

echo "== pandas"
pd_out="$(/usr/bin/python3 -c '
import os, sys, time
import pandas
path = sys.argv[1]
mb = os.path.getsize(path) / 1e6
best = float("inf")
for run in range(3):
    t0 = time.perf_counter()
    df = pandas.read_csv(path, engine="c")
    t = time.perf_counter() - t0
    print("pandas: run %d: %.3f s (%.1f MB/s)" % (run + 1, t, mb / t))
    best = min(best, t)
    del df
print("pandas %s: best of 3: %.3f s, %.1f MB/s" % (pandas.__version__, best, mb / best))
print("pandas_mb_per_s %.1f" % (mb / best))
print("pandas_version %s" % pandas.__version__)
' "$file")"
echo "$pd_out" | grep -v '^pandas_mb_per_s\|^pandas_version'
pd_mbps="$(echo "$pd_out" | awk '/^pandas_mb_per_s/ {print $2}')"
pd_version="$(echo "$pd_out" | awk '/^pandas_version/ {print $2}')"

ratio="$(awk -v a="$ns_mbps" -v b="$pd_mbps" 'BEGIN {printf "%.2f", a / b}')"
size_mb="$(awk -v n="$(stat -c %s "$file")" 'BEGIN {printf "%.1f", n / 1e6}')"
cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
cpu="${cpu:-unknown CPU}, $(nproc) cores"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== netsmith $ns_mbps MB/s, pandas $pd_mbps MB/s: netsmith/pandas = $ratio"

if [ ! -f "$results" ]; then
    printf '# Benchmark results\n\nAppended by the scripts in bench/ (`make bench`).\n' >"$results"
fi
if ! grep -q '^## CSV parsing$' "$results"; then
    cat >>"$results" <<'END'

## CSV parsing

`bash bench/bench_csv.sh`: `ns_data_load_csv` (release build) against
`pandas.read_csv(path, engine="c")` on the same numeric CSV (19 float features and a float
target, written by `bench_csv` with a fixed seed), best of 3 wall-clock runs each, the file in
the page cache, one thread each. MB is 10^6 bytes of file.

| date | CPU | file | netsmith MB/s | pandas MB/s | netsmith / pandas |
|---|---|---|---|---|---|
END
fi
row="| $when | $cpu | ${size_mb} MB | $ns_mbps | $pd_mbps (pandas $pd_version) | $ratio |"
# The row goes at the end of this section's table, wherever the section is in the file.
/usr/bin/python3 - "$results" "$row" <<'END'
import sys
path, row = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
start = lines.index("## CSV parsing")
end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
last = max(i for i in range(start, end) if lines[i].startswith("|"))
lines.insert(last + 1, row)
open(path, "w").write("\n".join(lines))
END
echo "appended to $results"
