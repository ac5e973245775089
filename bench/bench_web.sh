#!/usr/bin/env bash
# The web UI (bench/web_bench.mjs): the bundle's size (target: under 500 kB gzipped), the first
# page load against the server's smallest page, the time from an epoch's end to its point on
# the Training page's plot (target: under 0.5 s), and the Training page with 1,000 jobs against
# 10, in Debian's Chromium against the release build's `netsmith serve`. Prints the numbers,
# writes them to $BENCH_OUT (default build/release/bench/web_results.json) and a row to
# bench/RESULTS.md (section "Web UI"; BENCH_NO_RESULTS=1 leaves it alone).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
ns="$build/netsmith"
dist="$build/web/dist"
out_json="${BENCH_OUT:-$build/bench/web_results.json}"
[ -x "$ns" ] || { echo "bench_web.sh: $ns is missing; run 'make bench'" >&2; exit 1; }
[ -f "$dist/index.html" ] || { echo "bench_web.sh: the web UI is not built ($dist); it needs Node.js 20.19 or later and npm" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "bench_web.sh: needs Debian's chromium" >&2; exit 1; }
mkdir -p "$(dirname "$out_json")"
node "$root/bench/web_bench.mjs" "$ns" "$root" "$dist" "$out_json"
[ "${BENCH_NO_RESULTS:-0}" = 1 ] && exit 0
/usr/bin/python3 - "$out_json" "$root/bench/RESULTS.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b, f, e, t = r["bundle"], r["first_load"], r["epoch_to_plot"], r["training_page"]
row = (f"| {r['date']} | {r['cpu']} | {b['gzip']/1000:.1f} kB ({b['bytes']/1000:.0f} kB raw) | "
       f"{f['ui_ready_ms']:.0f} ms / {f['bare_page_ms']:.0f} ms = {f['ratio']:.1f}x (FCP {f['first_contentful_paint_ms']:.0f} ms) | "
       f"{e['p50_ms']:.0f} / {e['p95_ms']:.0f} / {e['max_ms']:.0f} ms ({e['epochs_observed']} epochs) | "
       f"{t['many']['ready_ms']:.0f} ms / {t['few']['ready_ms']:.0f} ms = {t['ratio']:.2f}x, {t['many']['rows_drawn']} rows drawn, "
       f"{t['many']['js_heap_mb']:.1f} MB heap, a new job shown in {t['many']['new_job_shown_ms']:.0f} ms |\n")
text = open(sys.argv[2]).read()
head = "## Web UI\n"
if head not in text:
    text += ("\n" + head + "\n`bash bench/bench_web.sh` (in `make bench`): the release build's embedded UI in Debian's Chromium "
             "(headless, 1280x800, a cold browser context each load) against `netsmith serve` on loopback. First load: the "
             "login link followed until the Architectures list is drawn, over the load of the server's smallest static page in "
             "the same browser (median of 5). Epoch to plot: the time a point appears on the job page's Loss plot (a "
             "MutationObserver on its point count) minus the epoch event's time in the store's log, for a Boston training of "
             "BENCH_EPOCHS (150) epochs of a 512-512-256 MLP at batch 8 (p50 / p95 / max). Training page: the page opened until the newest queued job's row is drawn, with "
             "1,000 jobs over 10 (median of 3), and the time for a job submitted through the API to appear.\n\n"
             "| date | CPU | bundle, gzipped (target < 500 kB) | first load: UI ready / bare page | epoch to plot p50 / p95 / max (target < 500 ms) | Training page, 1,000 jobs / 10 |\n"
             "|---|---|---|---|---|---|\n")
text = text.rstrip("\n") + "\n" + row if text.rstrip("\n").endswith("|") else text + row
open(sys.argv[2], "w").write(text)
PY
