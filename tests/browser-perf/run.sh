#!/usr/bin/env bash
# The console's browser-side speed (issue 12), measured, never asserted:
#   1. page-load times in headless Chromium (load.js: navigation start → load event, and until
#      the diagram or the editor is drawn), a cold cache for the first page;
#   2. Lighthouse (its default mobile profile, simulated throttling) performance and
#      accessibility on /login, /inbox and /m/todo, as the demo's 黄浦区 reviewer.
#
#   cargo build --release && tests/browser-perf/run.sh
#
# Starts the release binary on a fresh data folder (demo data) at 127.0.0.1:8097; needs Node.js
# and Debian's chromium. Prints one JSON line per page and one line per Lighthouse run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/browser-perf"
BIN="${SY_BIN:-$ROOT/target/release/shuangyong}"
export SY_PASSWORD="${SY_PASSWORD:-Perf-Pass-2026!}" SY_CHROMIUM="${SY_CHROMIUM:-/usr/bin/chromium}"
export BASE="http://127.0.0.1:8097"
(cd "$HERE" && npm ci --no-audit --no-fund)
if curl -fs "$BASE/healthz" >/dev/null 2>&1; then
    echo "something already listens at $BASE: stop it first" >&2
    exit 1
fi
DATA="$(mktemp -d)"
SERVER=""
finish() {
    [[ -n "$SERVER" ]] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
    rm -rf "$DATA"
}
trap finish EXIT
# A fresh demo database on SQLite, whatever the caller's environment says.
env -u DATABASE_URL -u SY_NO_DEMO -u SY_NO_JOBS -u SY_REQUIRE_TOTP \
    SY_DATA_DIR="$DATA" SY_BIND=127.0.0.1:8097 SY_ADMIN_PASSWORD="$SY_PASSWORD" "$BIN" serve > "$DATA/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
if ! curl -fs "$BASE/healthz" >/dev/null; then
    echo "the server did not start; its log:" >&2
    cat "$DATA/serve.log" >&2
    exit 1
fi

node "$HERE/load.js"

COOKIE=$(curl -s -i -X POST "$BASE/api/session" -H 'content-type: application/json' \
    -d "{\"username\":\"hp-reviewer\",\"password\":\"$SY_PASSWORD\"}" | tr -d '\r' \
    | grep -i '^set-cookie:' | head -1 | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*).*/\1/')
for page in login inbox m/todo; do
    name="${page//\//-}"
    headers="{}"
    [[ "$page" != login ]] && headers="{\"Cookie\":\"$COOKIE\"}"
    CHROME_PATH="$SY_CHROMIUM" "$HERE/node_modules/.bin/lighthouse" "$BASE/$page" --extra-headers "$headers" \
        --chrome-flags="--headless=new --no-sandbox" --only-categories=performance,accessibility \
        --output=json --output-path="$DATA/$name.json" --quiet
    python3 - "$DATA/$name.json" "$page" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
categories, audits = report["categories"], report["audits"]
print(f"lighthouse page=/{sys.argv[2]} performance={round(categories['performance']['score'] * 100)} "
      f"accessibility={round(categories['accessibility']['score'] * 100)} "
      f"fcp={audits['first-contentful-paint']['displayValue']} lcp={audits['largest-contentful-paint']['displayValue']} "
      f"tbt={audits['total-blocking-time']['displayValue']} cls={audits['cumulative-layout-shift']['displayValue']}")
for name, audit in audits.items():
    if audit.get("score") is not None and audit["score"] < 0.9 and report["categories"]["accessibility"]["auditRefs"] and any(ref["id"] == name for ref in categories["accessibility"]["auditRefs"]):
        print(f"  accessibility: {name} ({audit['title']})")
PY
done
