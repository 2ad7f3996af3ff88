# Sourced by the scripts that drive a real server from outside (tests/camunda-client/run.sh,
# tests/api-fuzz/run.sh): starts `$BIN serve` on a free port with a fresh data folder and waits
# until it is healthy. Needs BIN, PY (a Python interpreter), NAME (for the temporary folder)
# and optionally DEMO=true (load the demo data) and DATABASE_URL. Sets PORT, BASE, DATA_DIR, LOG,
# PASSWORD and SERVER_PID, and removes everything when the script exits.

if [[ ! -x "$BIN" ]]; then
    echo "$NAME: no server binary at $BIN; build it with: cargo build -p web --bin shuangyong" >&2
    exit 2
fi

# A free port, asked from the kernel.
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/shuangyong-$NAME.XXXXXX")"
LOG="$DATA_DIR/server.log"
PASSWORD="${SY_PASSWORD:-$NAME-$RANDOM-$RANDOM}"
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# With DATABASE_URL set the server uses that database; otherwise SQLite in the fresh folder.
# SY_ADMIN_PASSWORD only takes effect on a database without users.
no_demo=true
[[ "${DEMO:-false}" == true ]] && no_demo=false
SY_BIND="127.0.0.1:$PORT" SY_DATA_DIR="$DATA_DIR/data" SY_NO_DEMO="$no_demo" SY_ADMIN_PASSWORD="$PASSWORD" \
    "$BIN" serve >"$LOG" 2>&1 &
SERVER_PID=$!

BASE="http://127.0.0.1:$PORT"
healthy() {
    "$PY" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$BASE/healthz', timeout=1).status != 200)" 2>/dev/null
}
for _ in $(seq 1 150); do
    healthy && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "$NAME: the server exited during start-up:" >&2
        cat "$LOG" >&2
        exit 2
    fi
    sleep 0.2
done
if ! healthy; then
    echo "$NAME: the server did not become healthy at $BASE/healthz:" >&2
    cat "$LOG" >&2
    exit 2
fi
