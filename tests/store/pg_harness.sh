#!/usr/bin/env bash
# Runs CMD... against a throwaway PostgreSQL server:
#
#     bash tests/store/pg_harness.sh CMD [ARG...]
#
# It makes a scratch directory, initialises a cluster there (trust authentication, user
# postgres, no fsync), starts the server on a Unix socket in that directory only (no TCP),
# creates the database netsmith, runs CMD with
# NETSMITH_TEST_STORE=postgresql:///netsmith?host=DIR&port=PORT&user=postgres, and then stops
# the server and removes the directory whatever happened. Exits with CMD's status (1 when the
# server cannot be started). Run as root, the server runs as the user postgres (it refuses
# root); otherwise as the user running this.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

# The newest installed server's programs.
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) \
         "$(pg_config --bindir 2>/dev/null || true)"; do
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        bindir=$d
        break
    fi
done
if [ -z "$bindir" ]; then
    echo "pg_harness.sh: no PostgreSQL server is installed (no initdb under" \
         "/usr/lib/postgresql/*/bin); install it with: apt-get install postgresql" >&2
    exit 1
fi

as_server() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "pg_harness.sh: running as root, but there is no user postgres to run the server" \
         "(the server refuses root); reinstall the postgresql package or run as another user" >&2
    exit 1
fi

# Servers left by a harness that was killed outright (a test timeout's SIGKILL, which no trap
# sees): each directory names its harness, and one whose harness is gone is stopped and removed.
for stale in /tmp/ns_pg.*/harness.pid; do
    [ -f "$stale" ] || continue
    sdir=$(dirname "$stale")
    pid=$(cat "$stale" 2>/dev/null || true)
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        (cd /tmp && as_server "$bindir/pg_ctl" -D "$sdir/data" -m immediate -w stop \
            >/dev/null 2>&1) || true
        rm -rf "$sdir"
    fi
done

dir=$(mktemp -d /tmp/ns_pg.XXXXXX)
echo $$ >"$dir/harness.pid"
started=0
child=""
cleanup() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ "$started" = 1 ]; then
        (cd "$dir" && as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1) ||
            echo "pg_harness.sh: the server in $dir did not stop cleanly" >&2
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
fi
# Only the socket's name holds the port: any number will do, the directory is ours alone.
port=$((20000 + RANDOM % 20000))

fail() {
    echo "pg_harness.sh: $1; its log:" >&2
    cat "$dir/$2" >&2 2>/dev/null || true
    exit 1
}

cd "$dir" # the server's user may not be able to read the caller's directory
as_server "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync --no-instructions \
    >"$dir/initdb.log" 2>&1 || fail "initdb could not make a cluster in $dir/data" initdb.log
as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -c listen_addresses='' -p $port -c fsync=off" start >/dev/null 2>&1 ||
    fail "the server would not start" server.log
started=1
as_server "$bindir/createdb" -h "$dir" -p "$port" -U postgres netsmith 2>"$dir/createdb.log" ||
    fail "createdb could not make the database netsmith" createdb.log
cd - >/dev/null

export NETSMITH_TEST_STORE="postgresql:///netsmith?host=$dir&port=$port&user=postgres"
# In the background, so that a signal to this script stops it and the server at once (bash
# runs a trap only once its foreground command has ended); stdin passed on explicitly.
set +e
"$@" <&0 &
child=$!
wait "$child"
status=$?
child=""
set -e
exit "$status"
