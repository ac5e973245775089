#!/usr/bin/env bash
# The server killed with SIGKILL under load and started again on the same store: training
# jobs (one running, with checkpoints, others queued), an event-stream client that reconnects
# with Last-Event-ID, and API requests going on. After the restart no job is lost, the queued
# jobs are still queued until a worker claims them, the running job resumes from its
# checkpoint (attempt 2) and ends with weights byte-identical to `netsmith train`'s, and the
# event client has received every event of the store's log exactly once, in order. On
# PostgreSQL also: the store stopped under a running server gives 503s saying so, and the
# server recovers when it returns (skipped, with the reason printed, on SQLite).
# usage: reliability_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

st_same() { python3 "$SRC/tools/st_compare.py" "$1" "$2" >/dev/null; }
job_field() { "$NS" job show "$1" --json | python3 -c "import json, sys; print(json.load(sys.stdin)$2)"; }
LONG_EPOCHS=300

cat >spec.json <<'EOF'
{"layers": [{"type": "linear", "units": 16}, {"type": "relu"}, {"type": "linear", "units": 1}],
 "training": {"epochs": 12, "batch_size": 16, "learning_rate": 0.01}}
EOF
"$NS" arch add house-mlp spec.json >/dev/null
"$NS" data add boston --data boston_housing >/dev/null
"$NS" model create house --arch house-mlp >/dev/null

# the event client: reads /api/v1/events from id 0, and after every disconnect (the server
# killed, refused connections while it is down) reconnects with the last id it got, until the
# file STOP exists; writes each event's id to IDS and each gap to IDS.gaps
cat >"$WORK/sse_client.py" <<'PY'
import os, socket, sys, time
port_file, token, ids_path, stop = sys.argv[1:5]
ids = open(ids_path, "a")
gaps = open(ids_path + ".gaps", "a")
last, connects = 0, 0
while not os.path.exists(stop):
    try:
        port = int(open(port_file).read())
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except (OSError, ValueError):
        time.sleep(0.1)
        continue
    connects += 1
    s.settimeout(0.5)
    s.sendall(b"GET /api/v1/events HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
              b"Last-Event-ID: %d\r\n\r\n" % (port, token.encode(), last))
    buf, head, ev = b"", True, {}
    while not os.path.exists(stop):
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not d:
            break
        buf += d
        if head:
            if b"\r\n\r\n" not in buf:
                continue
            status, buf = buf.split(b"\r\n\r\n", 1)
            head = False
            if b" 200 " not in status.split(b"\r\n")[0]:
                break
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.decode()
            if line == "":
                if ev.get("event") == "gap":
                    gaps.write(ev.get("data", "") + "\n"); gaps.flush()
                if "id" in ev:
                    ids.write(ev["id"] + "\n"); ids.flush()
                    last = int(ev["id"])
                ev = {}
            elif not line.startswith(":") and ":" in line:
                k, v = line.split(":", 1)
                ev[k] = v[1:] if v.startswith(" ") else v
    s.close()
print("connections:", connects)
PY

# restart_server FLAGS...: a server on the same port as before, its port in $WORK/port
serve_again() {
    [ -f "$WORK/serve.out" ] && cat "$WORK/serve.out" >>"$WORK/serve.all"
    start_server "$@"
    echo "$PORT" >"$WORK/port.new" && mv "$WORK/port.new" "$WORK/port"
}

# ---- load: jobs, an event client, API requests ------------------------------------------------
serve_again --workers 1 --checkpoint-steps 5 --lease 10
"$NS" job submit train --model house --data boston --seed 7 --epochs $LONG_EPOCHS --json >out
long=$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)
queued=()
for seed in 1 2 3; do
    "$NS" job submit train --model house --data boston --seed $seed --epochs 4 --json >out
    queued+=("$(sed -n 's/{"id": \([0-9]*\)}/\1/p' out)")
done
all_ids="$long ${queued[*]}"
python3 "$WORK/sse_client.py" "$WORK/port" "$TOKEN" "$WORK/ids" "$WORK/stop" >"$WORK/client.out" 2>&1 &
client=$!
# API requests all along: each answer's status (000: refused, while the server is down)
(while [ ! -e "$WORK/stop" ]; do
    p=$(cat "$WORK/port")
    for path in /api/v1/system /api/v1/architectures '/api/v1/events?last_event_id=0'; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 1 -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$p$path"
    done
    sleep 0.05
done) >"$WORK/api.codes" 2>/dev/null &
load=$!

for _ in $(seq 1 300); do
    "$NS" job show "$long" --json >show.json 2>/dev/null
    python3 -c "import json, sys; j = json.load(open('show.json')); sys.exit(0 if j['state'] == 'running' and j['epoch'] >= 20 and j['checkpoint'] else 1)" 2>/dev/null && break
    sleep 0.1
done
expect_eq "the long job runs when the server is killed" "$(job_field "$long" "['state']")" running
expect_ne "it has a checkpoint" "$(job_field "$long" "['checkpoint']")" None
before=$(job_field "$long" "['epoch']")
for q in "${queued[@]}"; do
    expect_eq "job $q waits in the queue" "$(job_field "$q" "['state']")" queued
done
kill9_server
expect_eq "the server is gone" "$(kill -0 "$SERVER_PID" 2>/dev/null && echo alive || echo gone)" gone
sleep 1

# ---- the same store, a server without workers: nothing lost, nothing moved ----------------
serve_again --workers 0
api GET /api/v1/system >/dev/null
expect_status "the server answers again after SIGKILL" 200
"$NS" job list --json >list.json
expect_eq "no job lost" "$(python3 -c "import json; print(' '.join(str(j['id']) for j in sorted(json.load(open('list.json')), key=lambda j: j['id'])))")" "$all_ids"
for q in "${queued[@]}"; do
    expect_eq "job $q is still queued after the restart" "$(job_field "$q" "['state']")" queued
    expect_eq "job $q was never tried" "$(job_field "$q" "['attempts']")" 0
done
expect_eq "the long job still holds its dead worker's lease" "$(job_field "$long" "['state']")" running
sleep 2
for q in "${queued[@]}"; do
    expect_eq "job $q stays queued while no worker claims it" "$(job_field "$q" "['state']")" queued
done
stop_server

# ---- workers again: everything runs, the long job from its checkpoint ------------------------
serve_again --workers 1 --checkpoint-steps 5 --lease 10
deadline=$((SECONDS + 100))
while [ $SECONDS -lt $deadline ] && kill -0 "$SERVER_PID" 2>/dev/null; do
    done_n=0
    for j in $all_ids; do
        [ "$(job_field "$j" "['state']")" = succeeded ] && done_n=$((done_n + 1))
    done
    [ "$done_n" = 4 ] && break
    sleep 0.5
done
for j in $all_ids; do
    expect_eq "job $j succeeded" "$(job_field "$j" "['state']")" succeeded
done
for q in "${queued[@]}"; do
    expect_eq "job $q ran once" "$(job_field "$q" "['attempts']")" 1
done
expect_eq "the long job ran twice" "$(job_field "$long" "['attempts']")" 2
touch "$WORK/stop"
wait "$client" "$load"

# the store's log, the truth: a replay from 0 (and sqlite3 where it can read the file)
curl -s -N --max-time 2 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events?last_event_id=0" \
    >"$WORK/truth.sse"
sed -n 's/^id: //p' "$WORK/truth.sse" >"$WORK/truth.ids"
if command -v sqlite3 >/dev/null && [ -z "${NETSMITH_TEST_STORE-}" ]; then
    expect_eq "the replay from 0 is the store's log" "$(cat "$WORK/truth.ids")" \
        "$(sqlite3 "$WORK/store.db" 'SELECT id FROM events ORDER BY id')"
fi
python3 - "$WORK/truth.sse" "$long" "$before" >resume.txt <<'PY'
import json, sys
long, before = int(sys.argv[2]), int(sys.argv[3])
events, ev = [], {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line == "":
        if "data" in ev and "id" in ev:
            events.append(json.loads(ev["data"]))
        ev = {}
    elif ":" in line and not line.startswith(":"):
        k, v = line.split(":", 1)
        ev[k] = v[1:]
mine = [e for e in events if e.get("job") == long]
starts = [i for i, e in enumerate(mine) if e["type"] == "job" and e["data"].get("state") == "running"]
print("runs", len(starts))
if len(starts) == 2:
    print("second attempt", mine[starts[1]]["data"].get("attempt"))
    after = [e["data"]["epoch"] for e in mine[starts[1]:] if e["type"] == "epoch"]
    print("first epoch after resume", after[0] if after else None)
    print("resumed past its checkpoint", after and after[0] >= before)
PY
expect_match "the long job started twice" resume.txt '^runs 2$'
expect_match "its second run is attempt 2" resume.txt '^second attempt 2$'
expect_match "its second run resumed from its checkpoint, not epoch 1" resume.txt '^resumed past its checkpoint True$'
v=$(job_field "$long" "['result']['version']")
"$NS" model export "house@$v" -o job.safetensors >/dev/null
"$NS" train spec.json --data boston_housing --seed 7 --epochs $LONG_EPOCHS -o ref.safetensors --quiet >/dev/null
if st_same ref.safetensors job.safetensors; then pass; else
    fail "the resumed job's weights differ from netsmith train's"
fi

expect_match "the event client reconnected across the restarts" "$WORK/client.out" '^connections: ([3-9]|[1-9][0-9]+)$'
expect_eq "the event client saw every event of the store's log, in order, once" \
    "$(cat "$WORK/ids")" "$(cat "$WORK/truth.ids")"
expect_eq "the event client saw no gap" "$(cat "$WORK/ids.gaps" 2>/dev/null)" ""
expect_eq "no event twice" "$(sort -n "$WORK/ids" | uniq -d | head -3)" ""
bad=$(grep -cv '^\(200\|000\)$' "$WORK/api.codes")
expect_eq "API requests under load: only answers (200) or refusals while down" "$bad" 0
if [ "$(grep -c '^200$' "$WORK/api.codes")" -gt 10 ]; then pass; else fail "API requests were answered"; fi
stop_server
cat "$WORK/serve.out" >>"$WORK/serve.all"
expect_no_match "no sanitizer report" "$WORK/serve.all" 'AddressSanitizer|LeakSanitizer|runtime error'

# ---- a store that goes away and comes back (PostgreSQL) ------------------------------------
if [[ ${NETSMITH_TEST_STORE-} != postgresql:* ]]; then
    echo "skipped: the store stopping under the server (needs PostgreSQL: run under tests/store/pg_harness.sh)"
    finish
    exit
fi
pg_dir=$(python3 -c "import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)['host'][0])" "$NETSMITH_TEST_STORE")
pg_port=$(python3 -c "import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)['port'][0])" "$NETSMITH_TEST_STORE")
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -1)
[ -x "$bindir/pg_ctl" ] || bindir=$(pg_config --bindir 2>/dev/null)
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
serve_again --workers 0
api GET /api/v1/architectures >/dev/null
expect_status "with the store up" 200
as_pg "$bindir/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
for path in /api/v1/system /api/v1/architectures /api/v1/system; do
    api GET "$path" >/dev/null
    expect_status "GET $path with the store stopped" 503
    expect_body "GET $path with the store stopped: the message" 'the store is not answering'
done
sse_code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/events?last_event_id=0")
expect_eq "a replay with the store stopped" "$sse_code" 503
as_pg "$bindir/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-k $pg_dir -c listen_addresses='' -p $pg_port -c fsync=off" start >/dev/null
for path in /api/v1/system /api/v1/architectures /api/v1/system /api/v1/architectures; do
    api GET "$path" >/dev/null
    expect_status "GET $path once the store is back" 200
done
expect_match "the event hub said the store went away" "$WORK/serve.out" 'events: .*(not answering|cannot read)'
for _ in $(seq 1 30); do grep -q 'events: the store answers again' "$WORK/serve.out" && break; sleep 0.1; done
expect_match "the event hub said it is back" "$WORK/serve.out" 'events: the store answers again'
stop_server
finish
