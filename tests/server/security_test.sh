#!/usr/bin/env bash
# The server's gate against attacks, over real sockets on loopback: one check per attack, each
# with the answer it must get, and after the raw ones a check that the server is still alive
# and answering. "closed" means the server closed the connection without an answer.
#
#   attack                                               expected answer
#   ---------------------------------------------------  ---------------------------------------
#   no token                                             401
#   a wrong token; a token one digit short; Basic auth   401
#   the token in the query string (?token=, ...)         401 (only the header or cookie count)
#   a wrong session cookie                               401
#   a Host of another name (DNS rebinding)               403
#   no Host header (HTTP/1.0 and HTTP/1.1, raw)          403
#   two Host headers                                     400
#   the right host name with another port; no port       403
#   a foreign Origin                                     no Access-Control-* headers
#   a foreign Origin's preflight (OPTIONS)               401, no Access-Control-* headers
#   the configured origin's preflight                    204 with Access-Control-Allow-Origin
#   a body over --max-body with Content-Length           413, before the body is read
#   a chunked body over --max-body                       413 or closed; a body without end: closed
#   headers over the limit (40 KiB)                      431 (libmicrohttpd's own answer)
#   slowloris: headers trickled with --timeout 2         closed within a few seconds
#   40 idle sockets with --max-connections 16            answers again once they close
#   garbage bytes; an invalid request line               closed
#   a method that does not exist                         405
#   an HTTP version that does not exist                  505
#   a header line without a colon                        400
#   a URL of 100 KB                                      414
#   NUL bytes in the URL                                 a 4xx or the path cut at the NUL, never
#                                                        a file or an API answer without token
#   invalid percent-encoding                             401 without a token, 404 with it
#   Content-Length that is not a number                  400
#   bad JSON bodies                                      400 naming line and column
#   a JSON body nested 100000 deep                       400 (the parser's depth limit)
#   a body that is not JSON (form, text, no type,        415
#   application/jsonp, application/json-seq)
#   /../../etc/passwd, %2e%2e and %2f forms              no file outside the embedded table
#   the login link                                       HttpOnly; SameSite=Strict cookie
#   a wrong login code                                   403
#   --listen 0.0.0.0:0                                   a warning that others can reach it
#   the token file                                       made with mode 0600
#   a token file others can read (0644, 0640)            refused at start: "chmod 600"
#   a token file that is a symbolic link or a FIFO       refused at start
# usage: security_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

# probe PYTHON_BYTES_EXPR: sends the bytes on a fresh connection (port in scope as `port`, its
# bytes as `p`); prints the answer's status code, "closed" or "timeout".
cat >"$WORK/probe.py" <<'PY'
import socket, sys
port = int(sys.argv[1])
data = eval(sys.argv[2], {"port": port, "p": str(port).encode()})
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 5)
try:
    s.sendall(data)
except OSError:
    pass
buf = b""
try:
    while b"\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
except socket.timeout:
    print("timeout")
    sys.exit(0)
except OSError:
    pass
print(buf.split(b" ")[1].decode() if buf.startswith(b"HTTP/") else "closed")
PY
probe() { python3 "$WORK/probe.py" "$PORT" "$@" 2>&1; }
# expect_probe WHAT REGEX BYTES_EXPR
expect_probe() {
    local got
    got=$(probe "$3")
    if [[ $got =~ ^($2)$ ]]; then pass; else fail "$1: got '$got', expected /$2/"; fi
}
# alive WHAT: the server process runs and answers
alive() {
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "$1: the server died" "$(tail -20 "$WORK/serve.out")"
        finish
        exit 1
    fi
    api GET /api/v1/system >/dev/null
    expect_status "$1: the server still answers" 200
}
H='b"Host: 127.0.0.1:"+p+b"\r\n"'

start_server --workers 0 --timeout 2 --max-connections 16 --max-body 1048576 \
    --cors-origin http://ui.example
expect_eq "the token file is made with mode 0600" "$(stat -c %a "$WORK/token")" 600
AUTH="b\"Authorization: Bearer $TOKEN\r\n\""

# ---- the token ---------------------------------------------------------------------------
raw "$URL/api/v1/system"
expect_status "no token" 401
expect_body "no token: the answer says how to send it" 'Authorization: Bearer TOKEN'
raw -H "Authorization: Bearer $(printf '%064d' 0)" "$URL/api/v1/system"
expect_status "a wrong token" 401
raw -H "Authorization: Bearer ${TOKEN%?}" "$URL/api/v1/system"
expect_status "the token one digit short" 401
raw -H "Authorization: Bearer ${TOKEN}0" "$URL/api/v1/system"
expect_status "the token with a digit more" 401
raw -H "Authorization: Basic $(printf 'x:%s' "$TOKEN" | base64 -w0)" "$URL/api/v1/system"
expect_status "the token as Basic auth" 401
for key in token access_token api_key auth; do
    raw "$URL/api/v1/system?$key=$TOKEN"
    expect_status "the token in the query string (?$key=)" 401
done
raw -b "netsmith_session=$TOKEN" "$URL/api/v1/system"
expect_status "a session cookie that is not the session's" 401
raw -H "Authorization: Bearer $TOKEN" "$URL/api/v1/system"
expect_status "the token" 200

# ---- the Host header ---------------------------------------------------------------------
raw -H "Authorization: Bearer $TOKEN" -H "Host: attacker.example:$PORT" "$URL/api/v1/system"
expect_status "a Host of another name" 403
raw -H "Host: attacker.example:$PORT" "$URL/"
expect_status "a Host of another name, for the UI" 403
raw -H "Authorization: Bearer $TOKEN" -H "Host: 127.0.0.1:$((PORT == 65535 ? 1 : PORT + 1))" \
    "$URL/api/v1/system"
expect_status "the server's name with another port" 403
raw -H "Authorization: Bearer $TOKEN" -H "Host: 127.0.0.1" "$URL/api/v1/system"
expect_status "the server's name without its port" 403
raw -H "Authorization: Bearer $TOKEN" -H "Host: localhost.attacker.example:$PORT" "$URL/api/v1/system"
expect_status "localhost as a prefix of another name" 403
expect_probe "no Host header (HTTP/1.0)" 403 "b\"GET /api/v1/system HTTP/1.0\r\n\"+$AUTH+b\"\r\n\""
expect_probe "no Host header (HTTP/1.1)" '40[03]' "b\"GET /api/v1/system HTTP/1.1\r\n\"+$AUTH+b\"\r\n\""
expect_probe "two Host headers" 400 \
    "b\"GET /api/v1/system HTTP/1.1\r\n\"+$H+b\"Host: attacker.example\r\n\"+$AUTH+b\"\r\n\""
expect_probe "the right Host with a foreign one after it" 400 \
    "b\"GET / HTTP/1.1\r\n\"+$H+b\"Host: attacker.example:\"+p+b\"\r\n\r\n\""
alive "after the Host checks"

# ---- CORS ----------------------------------------------------------------------------------
curl -s -D "$WORK/headers" -o /dev/null -H "Authorization: Bearer $TOKEN" \
    -H "Origin: http://evil.example" "$URL/api/v1/system"
expect_no_match "a foreign Origin gets no CORS headers" "$WORK/headers" '^Access-Control'
curl -s -D "$WORK/headers" -o /dev/null -X OPTIONS -H "Origin: http://evil.example" \
    -H "Access-Control-Request-Method: POST" "$URL/api/v1/jobs"
expect_match "a foreign Origin's preflight is refused" "$WORK/headers" '^HTTP/1.1 401'
expect_no_match "a foreign Origin's preflight gets no CORS headers" "$WORK/headers" '^Access-Control'
curl -s -D "$WORK/headers" -o /dev/null -X OPTIONS -H "Origin: http://ui.example" \
    -H "Access-Control-Request-Method: POST" "$URL/api/v1/jobs"
expect_match "the configured origin's preflight" "$WORK/headers" '^HTTP/1.1 204'
expect_match "the configured origin's preflight: allowed" "$WORK/headers" \
    '^Access-Control-Allow-Origin: http://ui.example'
raw -X POST -H "Origin: http://ui.example" -H 'Content-Type: application/json' \
    --data-binary '{}' "$URL/api/v1/architectures"
expect_status "the configured origin still needs the token" 401
curl -s -D "$WORK/headers" -o /dev/null "$URL/"
expect_match "answers forbid framing" "$WORK/headers" '^X-Frame-Options: DENY'
expect_match "answers forbid sniffing" "$WORK/headers" '^X-Content-Type-Options: nosniff'

# ---- sizes -----------------------------------------------------------------------------------
head -c 2000000 /dev/zero | tr '\0' ' ' >"$WORK/big"
raw -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$WORK/big" "$URL/api/v1/architectures"
expect_status "a body over --max-body (Content-Length)" 413
expect_body "a body over --max-body: the limit is named" '1048576 bytes allowed'
expect_probe "Content-Length over the limit, the body never sent" 413 \
    "b\"POST /api/v1/architectures HTTP/1.1\r\n\"+$H+$AUTH+b\"Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n\""
expect_probe "a negative Content-Length" '4[0-9][0-9]|closed' \
    "b\"POST /api/v1/architectures HTTP/1.1\r\n\"+$H+$AUTH+b\"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n\""
raw -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/big" "$URL/api/v1/architectures"
got=$(head -c 3 "$WORK/status")
if [ "$got" = 413 ] || [ "$got" = 000 ]; then pass; else fail "a chunked body over --max-body: $got"; fi
# a chunked body that never ends: closed once well past the limit
python3 - "$PORT" "$TOKEN" >"$WORK/endless" 2>&1 <<'PY'
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /api/v1/architectures HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
          b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n" % (port, token.encode()))
chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
sent, t0 = 0, time.time()
try:
    while time.time() - t0 < 20 and sent < 64 << 20:
        s.sendall(chunk)
        sent += 0x10000
    print("still open after %d bytes" % sent)
except OSError:
    print("closed after %d bytes" % sent)
PY
expect_match "a chunked body without end is cut off" "$WORK/endless" '^closed after'
big_header=$(head -c 40960 /dev/zero | tr '\0' a)
raw -H "Authorization: Bearer $TOKEN" -H "X-Big: $big_header" "$URL/api/v1/system"
expect_status "headers over the limit" 431
raw -H "Authorization: Bearer $TOKEN" $(for i in $(seq 1 600); do printf -- '-H X-Many-%d:%064d ' "$i" 0; done) \
    "$URL/api/v1/system"
expect_status "many headers over the limit" 431
alive "after the size checks"

# ---- slow clients ------------------------------------------------------------------------------
python3 - "$PORT" >"$WORK/slow" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(0.4)
t0 = time.time()
parts = [b"GET /api/v1/system HTTP/1.1\r\n", b"Host: 127.0.0.1:%d\r\n" % port]
parts += [b"X-Slow-%d: 1\r\n" % i for i in range(100)]
for part in parts:
    if time.time() - t0 > 15:
        break
    try:
        s.send(part)
        d = s.recv(100)
        print("%s after %.1fs" % ("closed" if d == b"" else "answered", time.time() - t0))
        break
    except socket.timeout:
        pass
    except OSError:
        print("closed after %.1fs" % (time.time() - t0))
        break
    time.sleep(0.5)
else:
    print("still open after %.1fs" % (time.time() - t0))
PY
expect_match "slowloris: headers trickled are cut off" "$WORK/slow" '^closed after [2-5]\.'
# an idle connection is closed after --timeout too
expect_probe "an idle connection is closed" closed 'b""'
alive "after a slow client"

# ---- too many connections ------------------------------------------------------------------------
python3 - "$PORT" >"$WORK/many" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(40):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
print("opened", len(socks), flush=True)
time.sleep(1.5)
for s in socks:
    s.close()
print("closed", flush=True)
PY
many=$!
for _ in $(seq 1 50); do grep -q opened "$WORK/many" && break; sleep 0.1; done
wait "$many"
expect_match "40 idle sockets were opened" "$WORK/many" '^opened [0-9]+'
alive "after 40 idle sockets"
# the cap holds while they are open: a 17th client waits, and is served once they go
python3 - "$PORT" "$TOKEN" >"$WORK/cap" 2>&1 <<'PY'
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /api/v1/system HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
          b"Connection: close\r\n\r\n" % (port, token.encode()))
s.settimeout(0.5)
try:
    print("answered at once" if s.recv(12) else "closed at once")
except socket.timeout:
    print("waits while the cap is full")
for i in idle:
    i.close()
s.settimeout(10)
try:
    print("then: " + s.recv(12).decode())
except OSError as e:
    print("then: %s" % e)
PY
expect_match "the connection cap holds" "$WORK/cap" '^waits while the cap is full$'
expect_match "a waiting client is served once the idle ones close" "$WORK/cap" '^then: HTTP/1.1 200'
alive "after the connection cap"

# ---- malformed HTTP ----------------------------------------------------------------------------
expect_probe "garbage bytes" 'closed|400' 'b"\x00\xff\xfe garbage \x01\x02\r\n\r\n"'
expect_probe "binary noise" 'closed|400' 'bytes(range(256))*64'
expect_probe "an invalid request line" 'closed|400' 'b"GET\r\n\r\n"'
expect_probe "a request line with too many parts" 'closed|400|505' \
    "b\"GET / HTTP/1.1 extra\r\n\"+$H+b\"\r\n\""
expect_probe "a method that does not exist" 405 "b\"FROB /api/v1/system HTTP/1.1\r\n\"+$H+$AUTH+b\"\r\n\""
expect_probe "a method that does not exist, outside the API" 405 "b\"FROB / HTTP/1.1\r\n\"+$H+b\"\r\n\""
expect_probe "an HTTP version that does not exist" 505 "b\"GET / HTTP/9.9\r\n\"+$H+b\"\r\n\""
expect_probe "a header line without a colon" 400 "b\"GET / HTTP/1.1\r\n\"+$H+b\"Bad Header\r\n\r\n\""
expect_probe "a URL of 100 KB" 414 "b\"GET /\"+b\"a\"*100000+b\" HTTP/1.1\r\n\"+$H+b\"\r\n\""
expect_probe "NUL bytes in an API URL, no token" '4[0-9][0-9]|closed' \
    "b\"GET /api/v1/system\x00/../openapi.json HTTP/1.1\r\n\"+$H+b\"\r\n\""
python3 - "$PORT" >"$WORK/nul" 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(5)
s.sendall(b"GET /../../etc/passwd\x00.html HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close"
          b"\r\n\r\n" % port)
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except OSError:
    pass
print(data.decode("latin-1"))
PY
expect_no_match "NUL bytes in a file's URL read no file" "$WORK/nul" 'root:'
expect_probe "NUL bytes in a header" '4[0-9][0-9]|closed|200' \
    "b\"GET / HTTP/1.1\r\n\"+$H+b\"X-A: a\x00b\r\n\r\n\""
expect_probe "invalid percent-encoding, no token" 401 "b\"GET /api/v1/%zz%25%g% HTTP/1.1\r\n\"+$H+b\"\r\n\""
expect_probe "invalid percent-encoding" 404 "b\"GET /api/v1/%zz%25%g% HTTP/1.1\r\n\"+$H+$AUTH+b\"\r\n\""
expect_probe "Content-Length that is not a number" 400 \
    "b\"POST /api/v1/architectures HTTP/1.1\r\n\"+$H+$AUTH+b\"Content-Length: abc\r\n\r\n\""
expect_probe "a chunk size that is not hex" '400|closed' \
    "b\"POST /api/v1/architectures HTTP/1.1\r\n\"+$H+$AUTH+b\"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n\""
expect_probe "Content-Length and chunked together" '4[0-9][0-9]|closed' \
    "b\"POST /api/v1/architectures HTTP/1.1\r\n\"+$H+$AUTH+b\"Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n\""
expect_probe "a request cut short (no blank line, then EOF)" 'closed|timeout' \
    "b\"GET / HTTP/1.1\r\n\"+$H"
alive "after malformed HTTP"

# ---- bodies ----------------------------------------------------------------------------------------
for bad in '{' '{"name": "x", "spec": }' '[1, 2' '{"a": "\ud800"}' "$(printf '{"a": "\x01"}')" \
    '{"name": "x"} trailing' "$(printf '\xff\xfe{}')" '{"a": 1, "a": 2}'; do
    api POST /api/v1/architectures "$bad" >/dev/null
    expect_status "bad JSON: $bad" 400
done
expect_body "bad JSON says where" 'line 1, column'
api POST /api/v1/architectures '"a string"' >/dev/null
expect_status "a JSON body that is not an object" 400
api POST /api/v1/architectures '[]' >/dev/null
expect_status "a JSON array body" 400
python3 -c 'print("[" * 100000)' >"$WORK/deep"
api POST /api/v1/architectures "@$WORK/deep" >/dev/null
expect_status "an array nested 100000 deep" 400
expect_body "an array nested 100000 deep: the depth limit" 'depth'
python3 -c 'print("{\"a\":" * 100000)' >"$WORK/deep"
api POST /api/v1/architectures "@$WORK/deep" >/dev/null
expect_status "an object nested 100000 deep" 400
python3 -c 'import json; print(json.dumps({"name": "d", "spec": {"layers": [{"type": "linear", "units": 4}], "x": "a" * 900000}}))' >"$WORK/long"
api POST /api/v1/architectures "@$WORK/long" >/dev/null
expect_status "a long string within the limit" 400
api POST /api/v1/architectures 'name=x' 'application/x-www-form-urlencoded' >/dev/null
expect_status "a form post" 415
api POST /api/v1/architectures '{"name": "x"}' 'text/plain' >/dev/null
expect_status "a text/plain body" 415
api POST /api/v1/architectures '{"name": "x"}' 'application/jsonp' >/dev/null
expect_status "application/jsonp" 415
api POST /api/v1/architectures '{"name": "x"}' 'application/json-seq' >/dev/null
expect_status "application/json-seq" 415
api POST /api/v1/architectures '{"name": "x"}' 'application/json; charset=utf-8' >/dev/null
expect_status "application/json with a charset is JSON" 400
expect_body "application/json with a charset: read as JSON" "'spec'"
api POST /api/v1/architectures '{"name": "x"}' 'Application/JSON' >/dev/null
expect_status "a media type in capitals is JSON" 400
raw -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type:' --data-binary '{}' "$URL/api/v1/architectures"
expect_status "no Content-Type" 415
api POST /api/v1/architectures '' >/dev/null
expect_status "an empty JSON body" 400
alive "after bad bodies"

# ---- the UI's files ----------------------------------------------------------------------------
for path in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' '/%2e%2e%2f%2e%2e%2fetc%2fpasswd' \
    '/..%2f..%2fetc/passwd' '/index.html/../../../etc/passwd' '/%252e%252e/etc/passwd' \
    '//etc/passwd' '/.%2e/.%2e/etc/passwd' '/..\..\etc\passwd' '/etc/passwd' \
    '/../../proc/self/environ' '/assets/../../../../etc/hostname'; do
    raw --path-as-is "$URL$path"
    got=$(head -c 3 "$WORK/status")
    if grep -q 'root:\|NETSMITH\|PATH=' "$WORK/body"; then
        fail "GET $path read a file"
    elif [ "$got" = 200 ] && ! grep -q '<!doctype html>' "$WORK/body"; then
        fail "GET $path: a 200 that is not the UI's index" "$(head -c 300 "$WORK/body")"
    else
        pass
    fi
done
raw --path-as-is "$URL/../../etc/hostname.txt"
expect_status "a file with a dot that is not in the table" 404

# ---- the session cookie ---------------------------------------------------------------------
curl -s -D "$WORK/headers" -o /dev/null "$LOGIN"
expect_match "the login link sets the cookie" "$WORK/headers" '^Set-Cookie: netsmith_session='
expect_match "the cookie is HttpOnly" "$WORK/headers" '^Set-Cookie: .*; HttpOnly'
expect_match "the cookie is SameSite=Strict" "$WORK/headers" '^Set-Cookie: .*; SameSite=Strict'
raw "$URL/login?code=$(printf '%032d' 0)"
expect_status "a wrong login code" 403
raw "$URL/login"
expect_status "no login code" 403

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
expect_eq "the server stops cleanly after all this" "$?" 0
SERVER_PID=""
expect_match "the server says it stopped" "$WORK/serve.out" 'serve: stopped'
expect_no_match "no sanitizer report" "$WORK/serve.out" 'AddressSanitizer|LeakSanitizer|runtime error'

# ---- listening beyond loopback ---------------------------------------------------------------
"$NS" serve --store "$NETSMITH_STORE" --listen 0.0.0.0:0 --token-file "$WORK/token" --workers 0 \
    >"$WORK/wide.out" 2>&1 &
wide=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$WORK/wide.out" && break; sleep 0.1; done
kill -TERM "$wide" 2>/dev/null
wait "$wide" 2>/dev/null
expect_match "a non-loopback address prints a warning" "$WORK/wide.out" \
    '^warning: listening on 0\.0\.0\.0:0, which other machines can reach'

# ---- the token file ----------------------------------------------------------------------------
mkdir -p "$WORK/cfg"
"$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --workers 0 \
    --token-file "$WORK/cfg/sub/token" >"$WORK/tok.out" 2>&1 &
tok=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$WORK/tok.out" && break; sleep 0.1; done
kill -TERM "$tok" 2>/dev/null
wait "$tok" 2>/dev/null
expect_eq "a token file made in a new directory has mode 0600" \
    "$(stat -c %a "$WORK/cfg/sub/token" 2>/dev/null)" 600
bash -c 'umask 000; exec "$@"' umask "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 \
    --workers 0 --token-file "$WORK/cfg/token2" >"$WORK/tok.out" 2>&1 &
tok=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$WORK/tok.out" && break; sleep 0.1; done
kill -TERM "$tok" 2>/dev/null
wait "$tok" 2>/dev/null
expect_eq "a token file made under umask 000 has mode 0600" \
    "$(stat -c %a "$WORK/cfg/token2" 2>/dev/null)" 600
for mode in 644 640 604; do
    chmod "$mode" "$WORK/token"
    timeout 10 "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --workers 0 \
        --token-file "$WORK/token" >"$WORK/tok.out" 2>&1
    expect_eq "a token file of mode $mode: refused" "$?" 1
    expect_match "a token file of mode $mode: the message says chmod 600" "$WORK/tok.out" \
        "chmod 600 $WORK/token"
done
chmod 600 "$WORK/token"
ln -s "$WORK/token" "$WORK/token-link"
timeout 10 "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --workers 0 \
    --token-file "$WORK/token-link" >"$WORK/tok.out" 2>&1
expect_eq "a token file that is a symbolic link: refused" "$?" 1
mkfifo "$WORK/token-fifo"
timeout 10 "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --workers 0 \
    --token-file "$WORK/token-fifo" >"$WORK/tok.out" 2>&1
expect_eq "a token file that is a FIFO: refused, not a hang" "$?" 1
expect_match "a token file that is a FIFO: the message" "$WORK/tok.out" 'not a regular file'
printf 'not a token\n' >"$WORK/token-bad"
chmod 600 "$WORK/token-bad"
timeout 10 "$NS" serve --store "$NETSMITH_STORE" --listen 127.0.0.1:0 --workers 0 \
    --token-file "$WORK/token-bad" >"$WORK/tok.out" 2>&1
expect_eq "a token file without a token: refused" "$?" 1
expect_match "a token file without a token: the message" "$WORK/tok.out" 'does not hold a token'

finish
