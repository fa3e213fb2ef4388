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
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build
DURATION=5
CONNS=20
ROUNDS=${ROUNDS:-3}
WRITE_DOCS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --write-docs) WRITE_DOCS=1; shift ;;
    -h|--help) sed -n 2,21p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BIN=$ROOT/$BUILD/bin/doppel
[ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 1; }
for t in wrk curl taskset python3; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "missing nginx (apt-get install nginx-light)" >&2; exit 1; }
DPORT=${DOPPEL_BENCH_PORT:-18441}
NPORT=${NGINX_BENCH_PORT:-18442}
WORK=$(mktemp -d /tmp/doppel-proxy-bench.XXXXXX)
DPID=""
NPID=""
TOKEN=mk_BenchmarkToken0123456789abcdefghijklmnopq
API="http://127.0.0.1:$DPORT/api/v1"

cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_nginx() {
  mkdir -p "$WORK/nginx/www"
  printf '{"id":42,"name":"widget","tags":["a","b"],"price":12.5}\n' \
    >"$WORK/nginx/www/item.json"
  # nginx workers started by root run as another user: let them read it
  chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/www"
  chmod 644 "$WORK/nginx/www/item.json"
  cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  types { application/json json; }
  server {
    listen 127.0.0.1:$NPORT;
    root $WORK/nginx/www;
  }
}
EOF
  taskset -c 1 "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" \
    >"$WORK/nginx/out.log" 2>&1 &
  NPID=$!
  for _ in $(seq 1 500); do
    curl -sf -o /dev/null "http://127.0.0.1:$NPORT/item.json" && return 0
    sleep 0.01
  done
  echo "nginx did not start:" >&2
  cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2 || true
  exit 1
}

api() { # METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$API$2" >/dev/null
}

start_doppel() {
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  DOPPEL_ADMIN_TOKEN=$TOKEN DOPPEL_LOG_LEVEL=warn ALLOW_PROXY_TO_PRIVATE_IPS=true \
    taskset -c 0 "$BIN" serve --listen "127.0.0.1:$DPORT" --data "$WORK/data" \
    --workers 1 >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  for _ in $(seq 1 1000); do
    curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/ready" && break
    kill -0 "$DPID" 2>/dev/null || { cat "$WORK/doppel.log" >&2; exit 1; }
    sleep 0.01
  done
  api POST /services "{\"name\":\"up\",\"target\":\"http://127.0.0.1:$NPORT\",\"pathPrefix\":\"/up\"}"
}

stop_doppel() {
  kill "$DPID" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  DPID=""
}

# run_wrk URL: sets RPS P50 P99; fails on non-2xx answers.
run_wrk() {
  taskset -c 1 wrk -t1 -c"$CONNS" -d1s "$1" >/dev/null
  local out
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$1")
  echo "$out" >>"$WORK/wrk.log"
  if echo "$out" | grep -q 'Non-2xx'; then
    echo "non-2xx answers from $1:" >&2
    echo "$out" >&2
    exit 1
  fi
  RPS=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
  P50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  P99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R
start_nginx
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round: direct"
  run_wrk "http://127.0.0.1:$NPORT/item.json"
  R[direct.$round]="$RPS $P50 $P99"
  echo "==> round $round: doppel PASSTHROUGH"
  start_doppel
  api PUT /mode '{"mode":"PASSTHROUGH"}'
  run_wrk "http://127.0.0.1:$DPORT/up/item.json"
  R[pass.$round]="$RPS $P50 $P99"
  echo "==> round $round: doppel MOCK (replaying a LEARN recording)"
  api PUT /mode '{"mode":"LEARN"}'
  curl -sf -o /dev/null "http://127.0.0.1:$DPORT/up/item.json"
  api PUT /mode '{"mode":"MOCK"}'
  run_wrk "http://127.0.0.1:$DPORT/up/item.json"
  R[mock.$round]="$RPS $P50 $P99"
  stop_doppel
done

ROUNDS_LINE=""
for k in direct pass mock; do
  rows=""
  for round in $(seq 1 "$ROUNDS"); do rows+="${R[$k.$round]}"$'\n'; done
  R[$k]=$(printf '%s' "$rows" | sort -n -k1,1 | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)')
  ROUNDS_LINE+="$k: $(printf '%s' "$rows" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }'); "
done

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

echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TABLE"
echo
echo "req/s of every round: $ROUNDS_LINE"

if [ "$WRITE_DOCS" = 1 ]; then
  CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  python3 - "$ROOT/docs/benchmarks.md" "$TABLE" "$(date -u +%Y-%m-%d)" \
    "$(nproc) cores, $CPU, $(uname -sr)" "$DURATION" "$CONNS" \
    "$($NGINX -v 2>&1 | sed 's/.*: //')" "$ROUNDS" "$ROUNDS_LINE" \
    "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import re, sys
doc, table, date, machine, dur, conns, nginx, rounds, rline, l0, l1 = sys.argv[1:12]
table = open(table).read().strip()
section = f"""## Proxy overhead

Measured {date} on {machine} with `bench/proxy_overhead.sh --write-docs`
({nginx}).

The upstream is nginx (`worker_processes 1`, pinned to core 1) serving a
56-byte static JSON file. doppel runs `--workers 1` pinned to core 0 with a
service `up` (`pathPrefix` `/up`, target the nginx) and
`ALLOW_PROXY_TO_PRIVATE_IPS=true`; wrk runs on core 1 beside nginx:
`wrk -t1 -c{conns} -d{dur}s --latency URL`. "MOCK" replays the mock that one
LEARN request recorded, without contacting nginx. Each line is the median of
{rounds} rounds by req/s (every round: {rline}).

{table}

Forwarding adds doppel's own request handling plus a second HTTP exchange
(libcurl, connections reused) on loopback; the difference between the first
two lines is that cost. With two cores, wrk and nginx share one core in
every line, so the figures compare paths, not absolute capacity. Load
average before the run: {l0}; after: {l1}.
"""
text = open(doc).read()
pat = re.compile(r"^## Proxy overhead\n.*?(?=^## |\Z)", re.S | re.M)
if pat.search(text):
    text = pat.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text.rstrip("\n") + "\n")
PY
  echo "==> docs/benchmarks.md updated (## Proxy overhead)"
fi
