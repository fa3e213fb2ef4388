#!/usr/bin/env bash
# Proxy overhead: what forwarding through doppel costs per request, against
# calling the same upstream directly.
#
#   bench/proxy_overhead.sh [--build DIR] [--duration SECONDS] [--write-docs]
#   (ROUNDS=3 in the environment: rounds per case; medians are reported)
#
# Builds nothing: needs a built tree (default build/). Public tools only:
# nginx (Debian's nginx-light), wrk, curl, taskset, python3.
#
# The upstream is nginx (worker_processes 1, pinned to core 1) serving a
# small static JSON file from a temp directory. Three lines:
#   direct       wrk -> nginx
#   passthrough  wrk -> doppel (service in PASSTHROUGH mode) -> nginx
#   mock replay  wrk -> doppel (MOCK mode, answering from the recording that
#                one LEARN request made) ; nginx is not contacted
# doppel runs --workers 1 pinned to core 0, with
# ALLOW_PROXY_TO_PRIVATE_IPS=true (the upstream is on loopback); wrk runs
# pinned to core 1 next to nginx (two cores only: the direct line shares
# core 1 between wrk and nginx, the proxied lines add doppel on core 0).
# --write-docs replaces the "## Proxy overhead" section of docs/benchmarks.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUILD=build
DURATION=5
CONNS=20
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,21
bench_parse_args --duration=DURATION -- "$@"
bench_bin "$ROOT/$BUILD"
bench_need wrk curl taskset python3
bench_find_nginx
DPORT=${DOPPEL_BENCH_PORT:-18441}
NPORT=${NGINX_BENCH_PORT:-18442}
# a non-2xx answer means the proxy path is broken: its figures are no use
BENCH_NON2XX=fail
bench_workdir doppel-proxy-bench
API="http://127.0.0.1:$DPORT/api/v1"

start_nginx() {
  mkdir -p "$WORK/nginx/www"
  printf '{"id":42,"name":"widget","tags":["a","b"],"price":12.5}\n' \
    >"$WORK/nginx/www/item.json"
  # nginx workers started by root run as another user: let them read it
  chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/www"
  chmod 644 "$WORK/nginx/www/item.json"
  bench_start_nginx "$CORE_CLIENT" /item.json <<EOF
  types { application/json json; }
  server {
    listen 127.0.0.1:$NPORT;
    root $WORK/nginx/www;
  }
EOF
}

api() { # METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $BENCH_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$API$2" >/dev/null
}

start_doppel() {
  bench_start_doppel ALLOW_PROXY_TO_PRIVATE_IPS=true
  api POST /services "{\"name\":\"up\",\"target\":\"http://127.0.0.1:$NPORT\",\"pathPrefix\":\"/up\"}"
}

LOAD_BEFORE=$(bench_loadavg)
start_nginx
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round: direct"
  bench_wrk "http://127.0.0.1:$NPORT/item.json"
  R[direct.$round]="$RPS $P50 $P99"
  echo "==> round $round: doppel PASSTHROUGH"
  start_doppel
  api PUT /mode '{"mode":"PASSTHROUGH"}'
  bench_wrk "http://127.0.0.1:$DPORT/up/item.json"
  R[pass.$round]="$RPS $P50 $P99"
  echo "==> round $round: doppel MOCK (replaying a LEARN recording)"
  api PUT /mode '{"mode":"LEARN"}'
  curl -sf -o /dev/null "http://127.0.0.1:$DPORT/up/item.json"
  api PUT /mode '{"mode":"MOCK"}'
  bench_wrk "http://127.0.0.1:$DPORT/up/item.json"
  R[mock.$round]="$RPS $P50 $P99"
  bench_stop_doppel
done

bench_medians direct pass mock

# per-request cost in microseconds from req/s: 1e6/rps(proxied) - 1e6/rps(direct)
us() { awk -v r="$1" 'BEGIN { printf "%.1f", 1e6 / r }'; }
TABLE=$WORK/table.md
read -r d_rps d_p50 d_p99 <<<"${R[direct]}"
{
  echo "| path | req/s | p50 | p99 | time per request (1 / req/s, $CONNS connections) |"
  echo "|---|---:|---:|---:|---:|"
  echo "| direct to nginx | $d_rps | $d_p50 | $d_p99 | $(us "$d_rps") µs |"
  read -r rps p50 p99 <<<"${R[pass]}"
  echo "| through doppel, PASSTHROUGH | $rps | $p50 | $p99 | $(us "$rps") µs |"
  read -r rps p50 p99 <<<"${R[mock]}"
  echo "| doppel MOCK, replaying the recording | $rps | $p50 | $p99 | $(us "$rps") µs |"
} >"$TABLE"

echo "load average before: $LOAD_BEFORE, after: $(bench_loadavg)"
echo
cat "$TABLE"
echo
echo "req/s of every round: $ROUNDS_LINE"

if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "Proxy overhead" table="$(cat "$TABLE")" duration="$DURATION" \
    conns="$CONNS" "nginx=$($NGINX -v 2>&1 | sed 's/.*: //')" rounds="$ROUNDS" \
    rounds_line="$ROUNDS_LINE" <<'MD'
Measured {date} on {machine} with `bench/proxy_overhead.sh --write-docs`
({nginx}).

The upstream is nginx (`worker_processes 1`, pinned to core 1) serving a
56-byte static JSON file. doppel runs `--workers 1` pinned to core 0 with a
service `up` (`pathPrefix` `/up`, target the nginx) and
`ALLOW_PROXY_TO_PRIVATE_IPS=true`; wrk runs on core 1 beside nginx:
`wrk -t1 -c{conns} -d{duration}s --latency URL`. "MOCK" replays the mock that one
LEARN request recorded, without contacting nginx. Each line is the median of
{rounds} rounds by req/s (every round: {rounds_line}).

{table}

Forwarding adds doppel's own request handling plus a second HTTP exchange
(libcurl, connections reused) on loopback; the difference between the first
two lines is that cost. With two cores, wrk and nginx share one core in
every line, so the figures compare paths, not absolute capacity. Load
average before the run: {load_before}; after: {load_after}.
MD
fi
