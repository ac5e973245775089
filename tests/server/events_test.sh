#!/usr/bin/env bash
# The live event stream, GET /api/v1/events: the hello event and its stream id, the filters
# ?job= and ?types=, PUT /api/v1/events/streams/{id} changing an open stream's filter,
# keep-alive comment lines, Last-Event-ID replay (the header and ?last_event_id=) giving
# exactly the missed events in order, also while new ones are being written, a 'gap' event
# once the client's id has left the store's window, bad Last-Event-IDs, and a server that
# stops with streams open. Events come from jobs submitted and cancelled from the command
# line and from a short training run by a worker; the ground truth is the store's own log
# (a replay from ?last_event_id=0, checked against sqlite3 where there is one).
# usage: events_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

# the store keeps 64 events: the window a reconnecting client can fall out of
export NETSMITH_STORE_EVENTS_KEEP=64

# sse_parse FILE: the stream's lines as "hello STREAM LAST_ID", "event ID TYPE JOB", "gap AFTER
# OLDEST", "keepalive"
cat >"$WORK/sse_parse.py" <<'PY'
import json, sys
ev = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if line.startswith(":"):
        print("keepalive")
    elif line == "":
        if ev.get("event") == "hello":
            d = json.loads(ev["data"])
            print("hello", d["stream"], d["last_id"])
        elif ev.get("event") == "gap":
            d = json.loads(ev["data"])
            print("gap", d["after"], d["oldest_kept"])
        elif "id" in ev:
            d = json.loads(ev["data"])
            print("event", ev["id"], ev.get("event"), d.get("job"))
        ev = {}
    elif ":" in line:
        k, v = line.split(":", 1)
        ev[k] = v[1:] if v.startswith(" ") else v
PY
sse_parse() { python3 "$WORK/sse_parse.py" "$1"; }
# sse SECONDS OUT PATH [CURL_ARGS...]: reads the stream for SECONDS into OUT
sse() {
    local secs=$1 out=$2 path=$3
    shift 3
    curl -s -N --max-time "$secs" -H "Authorization: Bearer $TOKEN" "$@" "$URL$path" >"$out" \
        2>/dev/null
    return 0
}
# sse_bg OUT PATH [CURL_ARGS...]: a stream read in the background (BG_PID) until killed; waits
# for its hello
sse_bg() {
    local out=$1 path=$2
    shift 2
    curl -s -N -H "Authorization: Bearer $TOKEN" "$@" "$URL$path" >"$out" 2>/dev/null &
    BG_PID=$!
    for _ in $(seq 1 100); do grep -q '^event: hello' "$out" 2>/dev/null && break; sleep 0.05; done
}
sse_stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# the store's newest event id
newest() { sse 1 "$WORK/all" '/api/v1/events?last_event_id=0'; sse_parse "$WORK/all" | awk '$1 == "event" {id = $2} END {print id + 0}'; }
# wait_for FILE REGEX: until a line of FILE matches (5 s at most)
wait_for() { for _ in $(seq 1 100); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
submit() { "$NS" job submit train --model m --data iris --epochs 2 --json | sed -n 's/{"id": \([0-9]*\)}/\1/p'; }

start_server --workers 0 --keepalive 0.3 --timeout 30
"$NS" arch add mlp <(echo '{"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]}') >/dev/null
"$NS" data add iris --data iris >/dev/null
"$NS" model create m --arch mlp >/dev/null

# ---- hello, keep-alive ---------------------------------------------------------------------
sse 1.6 "$WORK/s" /api/v1/events
sse_parse "$WORK/s" >"$WORK/p"
expect_match "the hello event names the stream" "$WORK/p" '^hello [0-9a-f]{16} [0-9]+$'
expect_match "the stream says how soon to reconnect" "$WORK/s" '^retry: [0-9]+$'
kept=$(grep -c '^keepalive$' "$WORK/p")
if [ "$kept" -ge 3 ]; then pass; else fail "keep-alive lines every 0.3 s: $kept in 1.6 s"; fi
curl -s -D "$WORK/h" -o /dev/null --max-time 0.5 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events"
expect_match "the stream's media type" "$WORK/h" '^Content-Type: text/event-stream'
raw --max-time 1 "$URL/api/v1/events"
expect_status "a stream needs the token" 401

# ---- filters --------------------------------------------------------------------------------
j1=$(submit); j2=$(submit); j3=$(submit)
sleep 0.5 # the hub has read them: the streams below start after them
sse_bg "$WORK/all1" /api/v1/events; all=$BG_PID
sse_bg "$WORK/job2" "/api/v1/events?job=$j2"; job2=$BG_PID
sse_bg "$WORK/job13" "/api/v1/events?job=$j1,$j3"; job13=$BG_PID
sse_bg "$WORK/cancelreq" "/api/v1/events?types=cancel_requested"; creq=$BG_PID
sse_bg "$WORK/jobtype" "/api/v1/events?types=job&job=$j3"; jt=$BG_PID
sse_bg "$WORK/put" /api/v1/events; put=$BG_PID
stream=$(sse_parse "$WORK/put" | awk '$1 == "hello" {print $2}')
api PUT "/api/v1/events/streams/$stream" "{\"jobs\": [$j2], \"types\": [\"job\"]}" >/dev/null
expect_status "PUT a stream's filter" 200
expect_eq "PUT a stream's filter: its jobs" "$(jq_get .jobs)" "$j2"
for j in "$j1" "$j2" "$j3"; do "$NS" job cancel "$j" >/dev/null; done
wait_for "$WORK/all1" "\"job\":$j3,.*\"state\":\"cancelled\"" || true
sleep 0.3
for p in $all $job2 $job13 $creq $jt $put; do sse_stop "$p"; done
for f in all1 job2 job13 cancelreq jobtype put; do sse_parse "$WORK/$f" | grep '^event' >"$WORK/$f.ev"; done
expect_eq "an unfiltered stream sees the three cancellations" \
    "$(awk '$3 == "job" {print $4}' "$WORK/all1.ev" | sort -u | tr '\n' ' ')" "$j1 $j2 $j3 "
expect_eq "?job= keeps that job's events" "$(awk '{print $4}' "$WORK/job2.ev" | sort -u)" "$j2"
expect_ne "?job= keeps that job's events: some" "$(cat "$WORK/job2.ev")" ""
expect_eq "?job=A,B keeps both" "$(awk '{print $4}' "$WORK/job13.ev" | sort -u | tr '\n' ' ')" "$j1 $j3 "
types=$(awk '{print $3}' "$WORK/all1.ev" | sort -u | tr '\n' ' ')
if [[ $types == *cancel_requested* ]]; then
    expect_eq "?types= keeps that type" "$(awk '{print $3}' "$WORK/cancelreq.ev" | sort -u)" cancel_requested
else
    expect_eq "?types= keeps that type (none here)" "$(cat "$WORK/cancelreq.ev")" ""
fi
expect_eq "?types=job&job= keeps both filters" "$(awk '{print $3, $4}' "$WORK/jobtype.ev" | sort -u)" "job $j3"
expect_eq "PUT changed the open stream's filter" "$(awk '{print $3, $4}' "$WORK/put.ev" | sort -u)" "job $j2"
# the events each filtered stream got are exactly the unfiltered stream's that match
expect_eq "a filtered stream misses none of its events" "$(awk '{print $2}' "$WORK/job2.ev")" \
    "$(awk -v j="$j2" '$4 == j {print $2}' "$WORK/all1.ev")"

api PUT /api/v1/events/streams/0123456789abcdef '{"jobs": []}' >/dev/null
expect_status "PUT an unknown stream" 404
api PUT "/api/v1/events/streams/$stream" '{"types": ["Job!"]}' >/dev/null
expect_status "PUT a bad type" 400
api PUT "/api/v1/events/streams/$stream" '{"jobs": ["x"]}' >/dev/null
expect_status "PUT a job that is not an id" 400
api PUT "/api/v1/events/streams/$stream" '{"jobs": [-1]}' >/dev/null
expect_status "PUT a negative job id" 400
api PUT "/api/v1/events/streams/$stream" "{\"jobs\": [$(seq -s, 1 65)]}" >/dev/null
expect_status "PUT too many jobs" 400
api PUT "/api/v1/events/streams/$stream" '{"job": [1]}' >/dev/null
expect_status "PUT an unknown key" 400
api PUT "/api/v1/events/streams/$stream" 'jobs=1' 'text/plain' >/dev/null
expect_status "PUT a body that is not JSON" 415
for bad in 'job=abc' 'job=0' 'job=1,,2' 'job=-3' "job=$(seq -s, 1 65)" 'types=JOB' 'types=a;b' \
    "types=$(head -c 300 /dev/zero | tr '\0' a)"; do
    raw --max-time 2 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events?$bad"
    expect_status "a bad filter: $bad" 400
done

# ---- Last-Event-ID replay -------------------------------------------------------------------
# the truth: every event the store keeps
sse 1 "$WORK/truth" '/api/v1/events?last_event_id=0'
sse_parse "$WORK/truth" | awk '$1 == "event" {print $2}' >"$WORK/truth.ids"
if command -v sqlite3 >/dev/null && [ -z "${NETSMITH_TEST_STORE-}" ]; then
    expect_eq "a replay from 0 is the store's log" "$(cat "$WORK/truth.ids")" \
        "$(sqlite3 "$WORK/store.db" 'SELECT id FROM events ORDER BY id')"
fi
expect_eq "the replay has no duplicates" "$(sort -n "$WORK/truth.ids" | uniq -d)" ""
expect_eq "the replay is in order" "$(cat "$WORK/truth.ids")" "$(sort -n "$WORK/truth.ids")"
n=$(wc -l <"$WORK/truth.ids")
if [ "$n" -ge 6 ]; then pass; else fail "the log holds the events so far: $n"; fi
mid=$(sed -n "$((n / 2))p" "$WORK/truth.ids")
sse 1 "$WORK/r1" /api/v1/events -H "Last-Event-ID: $mid"
expect_eq "Last-Event-ID replays exactly what came after it" \
    "$(sse_parse "$WORK/r1" | awk '$1 == "event" {print $2}')" "$(awk -v m="$mid" '$1 > m' "$WORK/truth.ids")"
sse 1 "$WORK/r2" "/api/v1/events?last_event_id=$mid"
expect_eq "?last_event_id= replays exactly what came after it" \
    "$(sse_parse "$WORK/r2" | awk '$1 == "event" {print $2}')" "$(awk -v m="$mid" '$1 > m' "$WORK/truth.ids")"
expect_no_match "a replay inside the window has no gap" <(sse_parse "$WORK/r1") '^gap'
last=$(tail -1 "$WORK/truth.ids")
sse 1 "$WORK/r3" /api/v1/events -H "Last-Event-ID: $last"
expect_eq "a client that saw the newest gets nothing old" "$(sse_parse "$WORK/r3" | grep -c '^event')" 0
sse 1 "$WORK/r4" "/api/v1/events?last_event_id=$mid&job=$j2"
expect_eq "a replay keeps the stream's filter" \
    "$(sse_parse "$WORK/r4" | awk '$1 == "event" {print $4}' | sort -u)" "$(awk -v m="$mid" -v j="$j2" '$2 > m && $4 == j {print $4}' "$WORK/all1.ev" | sort -u)"

# a client reconnects while events are being written: it gets each once, in order
from=$(newest)
("$NS" worker --jobs 4 --quiet --checkpoint-steps 2 >/dev/null 2>&1 &
 for _ in $(seq 1 15); do submit >/dev/null; sleep 0.2; done; wait) &
writer=$!
sleep 0.5
sse_bg "$WORK/live" /api/v1/events -H "Last-Event-ID: $from"; livepid=$BG_PID
sleep 0.5
sse_bg "$WORK/live2" "/api/v1/events?last_event_id=$from"; live2pid=$BG_PID
wait "$writer"
sleep 0.6
sse_stop "$livepid"; sse_stop "$live2pid"
sse 1 "$WORK/truth" '/api/v1/events?last_event_id=0'
sse_parse "$WORK/truth" | awk -v f="$from" '$1 == "event" && $2 > f {print $2}' >"$WORK/want.ids"
sse_parse "$WORK/live" | awk '$1 == "event" {print $2}' >"$WORK/got.ids"
sse_parse "$WORK/live2" | awk '$1 == "event" {print $2}' >"$WORK/got2.ids"
if [ "$(wc -l <"$WORK/want.ids")" -ge 8 ]; then pass; else fail "events were written during the reconnect: $(wc -l <"$WORK/want.ids")" "from $from: $(sse_parse "$WORK/truth" | tail -30)"; fi
expect_eq "a reconnect during writes: every missed and new event once, in order" \
    "$(cat "$WORK/got.ids")" "$(cat "$WORK/want.ids")"
expect_eq "a later reconnect during writes: the same" "$(cat "$WORK/got2.ids")" "$(cat "$WORK/want.ids")"

# ---- bad Last-Event-IDs ---------------------------------------------------------------------
for bad in abc -5 +1 1.5 12x 0x10 99999999999999999999999; do
    raw --max-time 2 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: $bad" "$URL/api/v1/events"
    expect_status "a bad Last-Event-ID: '$bad'" 400
done
raw --max-time 2 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events?last_event_id=abc"
expect_status "a bad ?last_event_id=" 400
expect_body "a bad Last-Event-ID: the message" 'must be an event'
# an id beyond the log's newest (another store's): told, and then served from now
sse_bg "$WORK/future" /api/v1/events -H "Last-Event-ID: 9000000000"; fut=$BG_PID
submit >/dev/null
wait_for "$WORK/future" '^event: job' || true
sse_stop "$fut"
expect_match "an id beyond the newest: a gap" <(sse_parse "$WORK/future") '^gap 9000000000 '
expect_match "an id beyond the newest: new events still come" <(sse_parse "$WORK/future") '^event [0-9]+ job '

# ---- the store's window: a gap -----------------------------------------------------------------
old=$(sed -n 1p "$WORK/truth.ids")
"$NS" job submit train --model m --data iris --epochs 250 --batch-size 150 --json >/dev/null
"$NS" worker --once --quiet >/dev/null 2>&1
for _ in $(seq 1 20); do [ "$(newest)" -gt 260 ] && break; sleep 0.2; done
top=$(newest)
if [ "$top" -gt 200 ]; then pass; else fail "more than 200 events were made: $top"; fi
sse 1.5 "$WORK/g" /api/v1/events -H "Last-Event-ID: $old"
sse_parse "$WORK/g" >"$WORK/g.p"
expect_match "a client whose id left the window gets a gap" "$WORK/g.p" "^gap $old [0-9]+$"
oldest=$(awk '$1 == "gap" {print $3}' "$WORK/g.p")
if [ -n "$oldest" ] && [ "$oldest" -gt $((old + 1)) ] && [ "$oldest" -ge $((top - 128)) ]; then pass; else
    fail "the gap names the oldest kept: $oldest (newest $top)"; fi
expect_eq "the gap comes before the events" "$(grep -v keepalive "$WORK/g.p" | sed -n 2p | cut -d' ' -f1)" gap
expect_eq "after the gap: every kept event, in order" \
    "$(awk '$1 == "event" {print $2}' "$WORK/g.p")" "$(sse 1 "$WORK/g0" "/api/v1/events?last_event_id=0"; sse_parse "$WORK/g0" | awk -v o="$oldest" '$1 == "event" && $2 >= o {print $2}')"
if command -v sqlite3 >/dev/null && [ -z "${NETSMITH_TEST_STORE-}" ]; then
    expect_eq "the store kept what the gap says" \
        "$(sqlite3 "$WORK/store.db" 'SELECT min(id) FROM events')" "$oldest"
    expect_eq "after the gap: the store's log, event by event" \
        "$(awk '$1 == "event" {print $2}' "$WORK/g.p")" \
        "$(sqlite3 "$WORK/store.db" "SELECT id FROM events WHERE id <= $top ORDER BY id")"
fi
sse 1 "$WORK/g2" "/api/v1/events?last_event_id=$((oldest - 1))"
expect_no_match "a client just inside the window gets no gap" <(sse_parse "$WORK/g2") '^gap'

# ---- many streams, some dropped, and a stop with streams open ----------------------------------
pids=()
for i in $(seq 1 12); do
    curl -s -N -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events?last_event_id=0" \
        >"$WORK/many.$i" 2>/dev/null &
    pids+=($!)
done
sleep 0.5
for i in 0 2 4 6 8 10; do kill -9 "${pids[$i]}" 2>/dev/null; wait "${pids[$i]}" 2>/dev/null; done
submit >/dev/null
sleep 0.5
api GET /api/v1/system >/dev/null
expect_status "the server answers with streams open and dropped" 200
# streams still being opened (replays being read) while the server stops
for i in 1 2 3; do
    (for _ in $(seq 1 200); do
        curl -s -N --max-time 1 -H "Authorization: Bearer $TOKEN" \
            "$URL/api/v1/events?last_event_id=0" >/dev/null 2>&1 || break
    done) &
    pids+=($!)
done
sleep 0.3
t0=$(date +%s.%N)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
SERVER_PID=""
t1=$(date +%s.%N)
expect_eq "the server stops cleanly with streams open" "$rc" 0
if python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)"; then pass; else
    fail "stopping with streams open took $(python3 -c "print(round($t1 - $t0, 1))") s"; fi
for i in 1 3 5 7 9 11 12 13 14; do wait "${pids[$i]}" 2>/dev/null; done
expect_match "open streams end when the server stops" "$WORK/many.2" '^event: hello'
expect_no_match "no sanitizer report" "$WORK/serve.out" 'AddressSanitizer|LeakSanitizer|runtime error'
finish
