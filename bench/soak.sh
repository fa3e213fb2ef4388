#!/usr/bin/env bash
# Memory over time under a mixed load: doppel must stay flat however long it
# runs (bounded journal and unmatched rings, no per-request leak).
#
#   bench/soak.sh [BUILD_DIR] [SECONDS]      (defaults: build, 120)
#
# Starts doppel (--workers 1, pinned to core 0) with 1,000 mocks, drives
# bench/soak_mix.lua with wrk (core 1) for SECONDS, and prints VmRSS every
# 10 s with the requests served so far (from /metrics). Loopback only;
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-build}
SECS=${2:-120}
BIN=$ROOT/$BUILD/bin/doppel
PORT=${DOPPEL_SOAK_PORT:-18441}
TOKEN=mk_SoakBenchmarkToken0123456789abcdefghijklmnop
WORK=$(mktemp -d /tmp/doppel-soak.XXXXXX)
DPID=""; WPID=""
cleanup() {
  [ -n "$WPID" ] && kill "$WPID" 2>/dev/null || true
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

DOPPEL_ADMIN_TOKEN=$TOKEN DOPPEL_LOG_LEVEL=warn taskset -c 0 "$BIN" serve \
  --listen 127.0.0.1:$PORT --data "$WORK/data" --workers 1 >"$WORK/log" 2>&1 &
DPID=$!
for _ in $(seq 1 500); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready" && break
  sleep 0.01
done
python3 "$ROOT/bench/engine_mocks.py" paths 1000 >"$WORK/mocks.json"
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
  --data-binary @"$WORK/mocks.json" "http://127.0.0.1:$PORT/api/v1/mocks/batch"
curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/live"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }
served() {
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk '/^doppel_http_requests_total/ { s += $NF } END { printf "%d", s }'
}
echo "loaded 1,000 mocks: RSS $(rss) KiB"
taskset -c 1 wrk -t1 -c20 -d"${SECS}s" -s "$ROOT/bench/soak_mix.lua" \
  "http://127.0.0.1:$PORT" -- 1000 >"$WORK/wrk.log" 2>&1 &
WPID=$!
echo "seconds  requests_served  rss_kib"
for t in $(seq 10 10 "$SECS"); do
  sleep 10
  echo "$t  $(served)  $(rss)"
done
wait "$WPID" || true
WPID=""
grep -E "Requests/sec|requests in" "$WORK/wrk.log" || true
