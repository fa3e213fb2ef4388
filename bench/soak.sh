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
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUILD=${1:-build}
SECS=${2:-120}
bench_bin "$ROOT/$BUILD"
DPORT=${DOPPEL_SOAK_PORT:-18441}
bench_workdir doppel-soak

bench_start_doppel
bench_load_mocks paths 1000
curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/live"

served() {
  curl -s "http://127.0.0.1:$DPORT/metrics" |
    awk '/^doppel_http_requests_total/ { s += $NF } END { printf "%d", s }'
}
echo "loaded 1,000 mocks: RSS $(bench_rss_kib "$DPID") KiB"
taskset -c "$CORE_CLIENT" wrk -t1 -c20 -d"${SECS}s" -s "$ROOT/bench/soak_mix.lua" \
  "http://127.0.0.1:$DPORT" -- 1000 >"$WORK/wrk.log" 2>&1 &
WPID=$!
bench_track "$WPID"
echo "seconds  requests_served  rss_kib"
for t in $(seq 10 10 "$SECS"); do
  sleep 10
  echo "$t  $(served)  $(bench_rss_kib "$DPID")"
done
wait "$WPID" || true
bench_forget "$WPID"
grep -E "Requests/sec|requests in" "$WORK/wrk.log" || true
