#!/usr/bin/env bash
# Runs unmodified Camunda 7 client libraries against a freshly started shuangyong: the REST
# client pycamunda, and Camunda's own external-task worker client for Node.js
# (camunda-external-task-client-js, pinned in external-task-js/package-lock.json).
#
#   cargo build -p web --bin shuangyong && tests/camunda-client/run.sh
#
# Environment:
#   SY_BIN        the server binary (default: target/debug/shuangyong)
#   DATABASE_URL  use this database instead of SQLite in a fresh temporary folder
#                 (e.g. postgres://… in CI; the test uses unique keys per run)
#   SY_USER, SY_PASSWORD
#                 the admin the test logs in as (default: admin and a random password, which
#                 becomes admin's password on a database without users; on a reused database
#                 set SY_PASSWORD to the password admin got on the first run)
#   SY_VENV       the virtualenv to create or reuse (default: target/camunda-client-venv)
#   PYTHON        the interpreter that creates it (default: python3)
# Exits with the test script's status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/camunda-client"
BIN="${SY_BIN:-$ROOT/target/debug/shuangyong}"
VENV="${SY_VENV:-$ROOT/target/camunda-client-venv}"
PYTHON="${PYTHON:-python3}"
PYCAMUNDA_VERSION="0.6.1"

# The client, in its own virtualenv (created once, reused afterwards).
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pycamunda') != '$PYCAMUNDA_VERSION')" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "pycamunda==$PYCAMUNDA_VERSION"
fi

NAME=camunda-client PY="$VENV/bin/python"
# shellcheck source=../server.sh
source "$ROOT/tests/server.sh"

STATUS=0
SY_URL="$BASE/engine-rest" SY_USER="${SY_USER:-admin}" SY_PASSWORD="$PASSWORD" \
    "$VENV/bin/python" "$HERE/test_pycamunda.py" || STATUS=$?

# The external-task worker client (npm ci installs exactly the locked versions).
if [[ ! -d "$HERE/external-task-js/node_modules/camunda-external-task-client-js" ]]; then
    (cd "$HERE/external-task-js" && npm ci --no-audit --no-fund --silent)
fi
SY_URL="$BASE/engine-rest" SY_USER="${SY_USER:-admin}" SY_PASSWORD="$PASSWORD" \
    node "$HERE/external-task-js/worker-test.mjs" || STATUS=$?

if [[ $STATUS -ne 0 ]]; then
    echo "--- server log ---" >&2
    tail -n 50 "$LOG" >&2
fi
exit "$STATUS"
