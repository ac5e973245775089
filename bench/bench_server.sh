#!/usr/bin/env bash
# The HTTP server under load (bench/bench_server.c): `netsmith serve` (release build, a SQLite
# store in a temporary dir, 2 in-process workers) runs two trainings alone (the reference),
# then the same two trainings while bench_server holds BENCH_SSE event streams open and sends
# BENCH_RATE API requests a second for BENCH_SECONDS. Reports the requests' p50/p99 latency,
# errors, events lost, and the trainings' slowdown: loaded / unloaded wall time, each from the
# jobs' own started and finished times, measured in the same run. Prints a table, writes the
# numbers to $BENCH_OUT (default build/release/bench/server_results.json) and the table to
# bench/RESULTS.md (section "Server").
#
#   bash bench/bench_server.sh                                     # 1,000 streams, 100/s, 60 s
#   BENCH_SECONDS=10 BENCH_SSE=200 BENCH_EPOCHS=4 bash bench/bench_server.sh     # a quick run
#
# BENCH_EPOCHS (default 12) sizes the trainings (fashion-mnist, a 784-256-128-10 MLP, 1 thread
# each; an epoch takes ~0.7 s on an idle core, 2 s or more on a busy 2-core machine): a loaded
# training should end inside the load window (the table says how much of it did). BENCH_RATE
# (default 100) is the API requests a second. BENCH_NO_RESULTS=1 leaves RESULTS.md alone. The
# file limit is raised here for the server (ulimit -n) and in the client (setrlimit), not in the
# server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
ns="$build/netsmith"
bin="$build/bench/bench_server"
results="$root/bench/RESULTS.md"
out_json="${BENCH_OUT:-$build/bench/server_results.json}"
seconds="${BENCH_SECONDS:-60}"
sse="${BENCH_SSE:-1000}"
rate="${BENCH_RATE:-100}"
epochs="${BENCH_EPOCHS:-12}"
for f in "$ns" "$bin"; do
    [ -x "$f" ] || { echo "bench_server.sh: $f is missing; run 'make bench'" >&2; exit 1; }
done
[ -d /usr/share/datasets/fashion-mnist ] ||
    { echo "bench_server.sh: needs Debian's dataset-fashion-mnist" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
export NETSMITH_STORE="sqlite:$work/store.db"
t_begin=$(date +%s)

# the server, with a file limit for the streams (its own shell's, not the server's code)
(
    ulimit -n "$(ulimit -Hn)"
    exec "$ns" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --token-file "$work/token" \
        --workers 2 --max-connections 2000 --work-dir "$work/jobs"
) >"$work/serve.out" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'serving on http://[0-9.:]*' "$work/serve.out" 2>/dev/null |
        sed 's/serving on //') || true
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$url" ] ||
    { echo "bench_server.sh: the server did not start:" >&2; cat "$work/serve.out" >&2; exit 1; }
addr=${url#http://}
token=$(cat "$work/token")

cat >"$work/mlp.json" <<'SPEC'
{"layers": [{"type": "flatten"}, {"type": "linear", "units": 256}, {"type": "relu"},
            {"type": "linear", "units": 128}, {"type": "relu"}, {"type": "linear", "units": 10}],
 "training": {"batch_size": 128, "learning_rate": 0.001, "optimizer": "adam"}}
SPEC
"$ns" arch add mlp "$work/mlp.json" >/dev/null
"$ns" data add fm --data fashion-mnist >/dev/null
"$ns" model create m --arch mlp >/dev/null

# job_time ID: finished - started, seconds (GET /api/v1/jobs/ID; `netsmith job show --json`,
# the same store's fields, where the server has no such route yet)
job_time() {
    local j
    j=$(curl -s -f -H "Authorization: Bearer $token" "$url/api/v1/jobs/$1") ||
        j=$("$ns" job show "$1" --json)
    python3 -c '
import json, sys
j = json.loads(sys.argv[1])
if j.get("state") != "succeeded":
    sys.exit("bench_server.sh: job %s ended %s: %s" % (j.get("id"), j.get("state"), j.get("error")))
print("%.3f %.3f %.3f" % (j["finished"] - j["started"], j["started"], j["finished"]))' "$j"
}
alive() {
    kill -0 "$server_pid" 2>/dev/null ||
        { echo "bench_server.sh: the server died:" >&2; tail -20 "$work/serve.out" >&2; exit 1; }
}
wait_job() {
    "$ns" job wait "$1" >/dev/null 2>&1 ||
        { echo "bench_server.sh: job $1 did not succeed:" >&2; "$ns" job show "$1" >&2; exit 1; }
}
submit() {
    "$ns" job submit train --model m --data fm --epochs "$epochs" --seed "$1" --threads 1 --json |
        sed -n 's/{"id": \([0-9]*\)}/\1/p'
}

# the CPU seconds of the server's HTTP threads (libmicrohttpd's, named MHD-*): what serving the
# load took, apart from the workers' trainings and the event hub's poller
http_cpu() {
    python3 - "$server_pid" <<'PY'
import glob, os, sys
tick, total = os.sysconf("SC_CLK_TCK"), 0
for task in glob.glob(f"/proc/{sys.argv[1]}/task/*"):
    try:
        if open(task + "/comm").read().startswith("MHD"):
            f = open(task + "/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
    except OSError:
        pass
print(f"{total / tick:.2f}")
PY
}

# two trainings at once on the server's two workers; "SECONDS_A SECONDS_B" of started-to-finished
# (the first job's id in $first)
pair() {
    local x y
    x=$(submit "$1")
    y=$(submit "$2")
    first=$x
    wait_job "$x"
    wait_job "$y"
    echo "$(job_time "$x" | cut -d' ' -f1) $(job_time "$y" | cut -d' ' -f1)"
}

# a warm-up pair of one epoch, not timed (the dataset read from the store once, the store's
# log folded in), then the reference before the load: the two trainings alone
echo "warm-up: two trainings of 1 epoch" >&2
saved=$epochs
epochs=1
pair 7 8 >/dev/null
epochs=$saved
echo "reference: two trainings ($epochs epochs each) without load" >&2
pair 1 2 >"$work/before"
a=$first # a job of the store, for the single-item GET
read -r base_a base_b <"$work/before"

# the request mix: the issue's five GETs, those the server has (a 404 is a route not there yet;
# GET /api/v1/architectures/mlp stands in for a single-item GET when /jobs/ID is missing)
mix=""
skipped=""
for p in /api/v1/system /api/v1/jobs "/api/v1/jobs/$a" /api/v1/architectures /api/v1/models; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url$p")
    if [ "$code" = 200 ]; then mix="$mix${mix:+,}$p"; else skipped="$skipped${skipped:+,}$p"; fi
done
case ",$mix," in
*",/api/v1/jobs/$a,"*) ;;
*) mix="$mix${mix:+,}/api/v1/architectures/mlp" ;;
esac
echo "request mix: $mix${skipped:+ (not served, left out: $skipped)}" >&2

# the same two trainings under load: submitted once the client's streams are open
echo "load: $sse streams, $rate requests/s for $seconds s" >&2
(
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    exec "$bin" "$addr" "$work/token" --sse "$sse" --rate "$rate" --seconds "$seconds" \
        --paths "$mix"
) >"$work/client.json" 2>"$work/client.err" &
client_pid=$!
for _ in $(seq 1 600); do
    grep -q '^load started' "$work/client.err" 2>/dev/null && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
done
load_t0=$(date +%s.%N)
http0=$(http_cpu)
c=$(submit 3)
d=$(submit 4)
client_rc=0
wait "$client_pid" || client_rc=$?
load_t1=$(date +%s.%N)
http1=$(http_cpu)
log_at_end=$(wc -l <"$work/serve.out") # what the server said while the client was there
cat "$work/client.err" >&2
[ "$client_rc" = 0 ] || { echo "bench_server.sh: the client failed ($client_rc)" >&2; exit 1; }
wait_job "$c"
wait_job "$d"
read -r load_c load_c0 load_c1 <<<"$(job_time "$c")"
read -r load_d load_d0 load_d1 <<<"$(job_time "$d")"
alive

# the reference after the load (the machine's drift shows as before vs after)
echo "reference: the two trainings again without load" >&2
pair 5 6 >"$work/after"
read -r after_a after_b <"$work/after"
alive
t_end=$(date +%s)

python3 - "$work/client.json" "$out_json" "$results" "$root/bench" "$base_a" "$base_b" \
    "$load_c" "$load_d" "$load_c0" "$load_c1" "$load_d0" "$load_d1" "$load_t0" "$load_t1" \
    "$epochs" "$((t_end - t_begin))" "$work/serve.out" "${BENCH_NO_RESULTS:-0}" "$mix" \
    "$skipped" "$after_a" "$after_b" "$log_at_end" \
    "$http0" "$http1" <<'EOF'
import datetime, json, os, platform, sys
sys.path.insert(0, sys.argv[4])
from results import put_section  # noqa: E402 (bench/results.py)

client = json.load(open(sys.argv[1]))
base = [float(sys.argv[5]), float(sys.argv[6])]
load = [float(sys.argv[7]), float(sys.argv[8])]
c0, c1, d0, d1, t0, t1 = map(float, sys.argv[9:15])
epochs, total_s = int(sys.argv[15]), int(sys.argv[16])
after = [float(sys.argv[21]), float(sys.argv[22])]
log_at_end = int(sys.argv[23])
http_cpu_s = float(sys.argv[25]) - float(sys.argv[24])
startup = ("serving on", "made the server", "  ", "open the web UI", "the API's token")
lines = open(sys.argv[17]).read().split("\n")


def said(part):
    """The server's messages (start-up lines left out), each once with its count."""
    counts = {}
    for l in part:
        if l and not l.startswith(startup):
            counts[l] = counts.get(l, 0) + 1
    return [f"{n} x {l}" for l, n in counts.items()]


said_during = said(lines[:log_at_end])
said_after = said(lines[log_at_end:])
reference = (sum(base) + sum(after)) / 2
slowdown = sum(load) / reference
# the part of the loaded trainings that ran while the load did
inside = sum(max(0.0, min(e, t1) - max(s, t0)) for s, e in ((c0, c1), (d0, d1))) / sum(load)
cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
mix, skipped = sys.argv[19], sys.argv[20]
res = dict(client, date=now, paths=mix.split(","),
           paths_left_out=[p for p in skipped.split(",") if p], cpu=cpu, cores=os.cpu_count(),
           epochs=epochs, server_http_cpu_s=http_cpu_s, train_alone_before_s=base,
           train_alone_after_s=after, train_loaded_s=load, slowdown=slowdown,
           loaded_training_inside_load=inside, total_s=total_s,
           server_said_during_load=said_during, server_said_after_client_exit=said_after)
json.dump(res, open(sys.argv[2], "w"), indent=1)
c = client
row = (f"| {now} | {cpu}, {os.cpu_count()} cores | {c['sse_connected']}/{c['sse_clients']} "
       f"| {c['rate']:.0f}/s x {c['seconds']:.0f} s | {c['requests']} | {c['errors']} | "
       f"{c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['max_ms']:.1f} | "
       f"{c['events_min_per_client']} of {c['events_expected']} | {c['events_lost']} | "
       f"{c['sse_reconnects']} | {base[0]:.1f} + {base[1]:.1f}, "
       f"after {after[0]:.1f} + {after[1]:.1f} "
       f"| {load[0]:.1f} + {load[1]:.1f} "
       f"({100 * inside:.0f}% under load) | {slowdown:.3f} | "
       f"{client['client_cpu_s'] / c['load_s']:.2f} + {http_cpu_s / c['load_s']:.2f} |")
head = ("| date | CPU | streams open | API load | requests | errors | p50 ms | p99 ms | max ms "
        "| events per stream (min of expected) | events lost | stream reconnects | "
        "trainings alone, before and after (s) | trainings loaded (s) | slowdown | "
        "cores busy with the load: client + server HTTP |")
print(head)
print(row)
for what, part in (("while the client ran", said_during),
                   ("after the client exited (its streams closed)", said_after)):
    if part:
        print(f"server said {what}:", *part[:10], sep="\n  ")
load_s = client["load_s"]
print(f"CPU during the load: client {client['client_cpu_s']:.1f} s, server HTTP threads "
      f"{http_cpu_s:.1f} s over {load_s:.0f} s "
      f"({(client['client_cpu_s'] + http_cpu_s) / load_s:.2f} "
      f"of a core; the machine has {os.cpu_count()})")
print(f"request mix: {mix}" + (f" (not served, left out: {skipped})" if skipped else ""))
print(f"total {total_s} s; numbers in {sys.argv[2]}")
if sys.argv[18] == "1":
    sys.exit(0)
# keep the rows of earlier runs (the table grows one row a run) and the notes ("- " lines)
rows, notes = [], []
try:
    text = open(sys.argv[3]).read()
    if "\n## Server\n" in text:
        part = text.split("\n## Server\n", 1)[1].split("\n## ", 1)[0]
        rows = [l for l in part.split("\n") if l.startswith("| 20")]
        notes = [l for l in part.split("\n") if l.startswith("- ")]
except FileNotFoundError:
    pass
rows.append(row)
lines = ["## Server", "",
         "`netsmith serve` under load (bench/bench_server.sh, run by `make bench`): the release "
         "build, a SQLite store in a temporary dir, `--workers 2 --max-connections 2000`, loopback. "
         "bench_server (one epoll process) holds the event streams open on GET /api/v1/events and "
         "sends an open-loop mix of GET /api/v1/system, /jobs, /jobs/ID, /architectures and "
         "/models over 16 keep-alive connections; a latency runs from the request's scheduled "
         "time to its answer's last byte. The reference is the same two trainings (fashion-mnist, "
         "a 784-256-128-10 MLP, batch 128, Adam, 1 thread each, both at once on the server's 2 "
         "workers) without the load, in the same run, before and after it (after an untimed "
         "warm-up pair of 1 epoch); slowdown = the loaded pair's sum of the jobs' "
         "started-to-finished times over the mean of the two unloaded pairs' sums. Events lost: "
         "ids of the store's event log in a stream's window (after its hello, up to the log's "
         "newest at the end) that the stream did not get, against a reference "
         "stream replayed from the log at the end, summed over the streams. The last column is the "
         "CPU the load took during the load window (the client's getrusage and the server's "
         "libmicrohttpd threads' /proc times, the event hub's poller not counted), in cores.", "",
         head, "|" + "---|" * 16] + rows + [
         "", "Targets: 0 errors, 0 events lost, slowdown under 1.10. The request mix is the "
         "five GETs of the issue that the server answers with 200 at the time of the run (the "
         "others are left out and named in the JSON's paths_left_out; GET "
         "/api/v1/architectures/mlp stands in for a single-item GET when /jobs/ID is missing). "
         f"This run: {mix}.", "",
         "The slowdown needs a quiet machine: the client, the server and both trainings share its "
         "cores, and on a small machine shared with other work the trainings alone differ by more "
         "between the reference before the load and the one after it than the load's effect (the "
         "before and after columns); the last column, the CPU the load itself took, is the "
         "steadier measure of what it costs the trainings.", ""] + notes
put_section(sys.argv[3], "Server", "\n".join(lines) + "\n")
EOF
