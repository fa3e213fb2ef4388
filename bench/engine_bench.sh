#!/usr/bin/env bash
# Engine benchmark: doppel serving many mocks vs nginx serving one fixed
# response, on one core each.
#
#   bench/engine_bench.sh [--build DIR] [--duration SECONDS] [--write-docs]
#   (ROUNDS=3 in the environment: rounds per case; medians are reported)
#
# Builds nothing: needs a built tree (default build/, i.e. build/bin/doppel
# and build/plugins/doppel_http.so). Public tools only: wrk (with the Lua
# scripts in bench/), curl, taskset, nginx, python3 (to generate the mocks).
#
# Workloads (each on a fresh doppel with an empty data directory):
#   a  1 mock, GET /m/0
#   b  1,000 mocks on distinct paths, GET a random one per request
#   c  10,000 mocks on distinct paths, GET a random one per request
#   d  100 POST mocks on one path told apart by a JSON body field, random body
# doppel runs with --workers 1 pinned to core 0; nginx (worker_processes 1,
# `return 200 '{"ok":true}'`) pinned to core 0; wrk pinned to core 1, with
# the same Lua script against both (so client costs are equal).
# Reported: req/s, p50/p99 latency (wrk --latency), RSS of doppel after
# loading (VmRSS, read once the server answered a request after the load), time to load the mocks through POST /api/v1/mocks/batch,
# start-up time to /health/ready.
# --write-docs replaces the "## Engine" section of docs/benchmarks.md with the
# figures, the date, the machine and the commands.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build
DURATION=10
CONNS=50
ROUNDS=${ROUNDS:-3}
WRITE_DOCS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --write-docs) WRITE_DOCS=1; shift ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BIN=$ROOT/$BUILD/bin/doppel
[ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 1; }
for t in wrk curl taskset nginx python3; do
  command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "missing $t" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
DPORT=${DOPPEL_BENCH_PORT:-18431}
NPORT=${NGINX_BENCH_PORT:-18432}
CORE_SERVER=${CORE_SERVER:-0}
CORE_CLIENT=${CORE_CLIENT:-1}
WORK=$(mktemp -d /tmp/doppel-engine-bench.XXXXXX)
DPID=""
NPID=""

cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# The admin API needs a token: each fresh server is bootstrapped with this one.
BENCH_TOKEN=mk_BenchmarkToken0123456789abcdefghijklmnopq

# start_doppel: starts a fresh doppel, sets DPID and STARTUP_MS.
start_doppel() {
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  local t0; t0=$(now_ms)
  DOPPEL_ADMIN_TOKEN=$BENCH_TOKEN DOPPEL_LOG_LEVEL=warn \
    taskset -c "$CORE_SERVER" "$BIN" serve \
    --listen "127.0.0.1:$DPORT" --data "$WORK/data" --workers 1 \
    >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  for _ in $(seq 1 1000); do
    if curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/ready"; then
      STARTUP_MS=$(( $(now_ms) - t0 ))
      return 0
    fi
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.01
  done
  echo "doppel did not become ready:" >&2
  cat "$WORK/doppel.log" >&2
  exit 1
}

stop_doppel() {
  kill "$DPID" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  DPID=""
}

# load KIND N: posts the batch, sets LOAD_MS.
load() {
  python3 "$ROOT/bench/engine_mocks.py" "$1" "$2" >"$WORK/mocks.json"
  local out code secs
  out=$(curl -s -o "$WORK/load.out" -w '%{http_code} %{time_total}' \
    -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $BENCH_TOKEN" --data-binary @"$WORK/mocks.json" "http://127.0.0.1:$DPORT/api/v1/mocks/batch")
  code=${out%% *}
  secs=${out#* }
  if [ "$code" != 201 ]; then
    echo "loading $2 mocks failed: HTTP $code $(head -c 300 "$WORK/load.out")" >&2
    exit 1
  fi
  LOAD_MS=$(awk -v s="$secs" 'BEGIN { printf "%.0f", s * 1000 }')
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# run_wrk URL SCRIPT ARG: sets RPS P50 P99 (latencies as printed by wrk).
run_wrk() {
  local out
  # 1 s warm-up (connections, caches), not recorded
  taskset -c "$CORE_CLIENT" wrk -t1 -c"$CONNS" -d1s -s "$2" "$1" -- "$3" >/dev/null
  out=$(taskset -c "$CORE_CLIENT" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$2" "$1" -- "$3")
  echo "$out" >>"$WORK/wrk.log"
  RPS=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
  P50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  P99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  local non2xx
  non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  if [ -n "$non2xx" ]; then
    echo "warning: $non2xx non-2xx answers from $1" >&2
  fi
}

start_nginx() {
  mkdir -p "$WORK/nginx"
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
  server {
    listen 127.0.0.1:$NPORT;
    location / {
      default_type application/json;
      return 200 '{"ok":true}';
    }
  }
}
EOF
  taskset -c "$CORE_SERVER" "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" \
    >"$WORK/nginx/out.log" 2>&1 &
  NPID=$!
  for _ in $(seq 1 500); do
    curl -sf -o /dev/null "http://127.0.0.1:$NPORT/" && return 0
    sleep 0.01
  done
  echo "nginx did not start:" >&2
  cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2 || true
  exit 1
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PATHS_LUA=$ROOT/bench/engine_paths.lua
POST_LUA=$ROOT/bench/engine_post.lua
declare -A R

bench_nginx() { # ROUND
  echo "==> round $1: nginx baseline (worker_processes 1, core $CORE_SERVER)"
  start_nginx
  run_wrk "http://127.0.0.1:$NPORT" "$PATHS_LUA" 10000
  R[nginx_get.$1]="$RPS $P50 $P99"
  run_wrk "http://127.0.0.1:$NPORT" "$POST_LUA" 100
  R[nginx_post.$1]="$RPS $P50 $P99"
  kill "$NPID" 2>/dev/null || true
  wait "$NPID" 2>/dev/null || true
  NPID=""
}

bench_case() { # NAME KIND N SCRIPT ARG ROUND
  echo "==> round $6: doppel: $1"
  start_doppel
  local startup=$STARTUP_MS
  load "$2" "$3"
  # With one worker, this answer comes only after the batch handler has
  # finished (freed the parsed batch, returned heap to the system): RSS is
  # then the steady state after loading, not a snapshot mid-cleanup.
  curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/live"
  local rss; rss=$(rss_kib "$DPID")
  run_wrk "http://127.0.0.1:$DPORT" "$4" "$5"
  R[$1.$6]="$RPS $P50 $P99 $rss $LOAD_MS $startup"
  stop_doppel
}

# Rounds alternate every server and workload, so a neighbour's burst on
# this shared machine hits one round of one case, not a whole column; each
# case reports its median round (by req/s).
for round in $(seq 1 "$ROUNDS"); do
  bench_nginx "$round"
  bench_case a_1 paths 1 "$PATHS_LUA" 1 "$round"
  bench_case b_1000 paths 1000 "$PATHS_LUA" 1000 "$round"
  bench_case c_10000 paths 10000 "$PATHS_LUA" 10000 "$round"
  bench_case d_post100 post 100 "$POST_LUA" 100 "$round"
done
ROUNDS_LINE=""
for k in nginx_get nginx_post a_1 b_1000 c_10000 d_post100; do
  rows=""
  for round in $(seq 1 "$ROUNDS"); do rows+="${R[$k.$round]}"$'\n'; done
  R[$k]=$(printf '%s' "$rows" | sort -n -k1,1 | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)')
  ROUNDS_LINE+="$k: $(printf '%s' "$rows" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }'); "
done

# ---- Report -----------------------------------------------------------------
read -r a_rps _ <<<"${R[a_1]}"
read -r c_rps _ _ c_rss c_load _ <<<"${R[c_10000]}"
read -r ng_rps _ <<<"${R[nginx_get]}"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# verdict VALUE OP LIMIT (OP: ge or lt)
verdict() {
  if awk -v v="$1" -v op="$2" -v l="$3" \
      'BEGIN { exit !((op == "ge" && v + 0 >= l + 0) || (op == "lt" && v + 0 < l + 0)) }'; then
    echo met
  else
    echo "NOT met"
  fi
}

TABLE=$WORK/table.md
{
  echo "| workload | req/s | p50 | p99 | RSS after load | load time | start-up to ready | vs nginx |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for k in a_1 b_1000 c_10000 d_post100; do
    read -r rps p50 p99 rss lms sms <<<"${R[$k]}"
    base=${R[nginx_get]}
    [ "$k" = d_post100 ] && base=${R[nginx_post]}
    read -r nrps _ <<<"$base"
    case $k in
      a_1) name="(a) 1 mock, GET" ;;
      b_1000) name="(b) 1,000 mocks, random GET" ;;
      c_10000) name="(c) 10,000 mocks, random GET" ;;
      d_post100) name="(d) 100 POST mocks, one path, body field" ;;
    esac
    echo "| $name | $rps | $p50 | $p99 | $(mib "$rss") MiB | ${lms} ms | ${sms} ms | $(pct "$rps" "$nrps")% |"
  done
  read -r rps p50 p99 <<<"${R[nginx_get]}"
  echo "| nginx, fixed response, GET | $rps | $p50 | $p99 | | | | 100% |"
  read -r rps p50 p99 <<<"${R[nginx_post]}"
  echo "| nginx, fixed response, POST | $rps | $p50 | $p99 | | | | 100% |"
} >"$TABLE"

TARGETS=$WORK/targets.md
{
  r1=$(pct "$c_rps" "$a_rps")
  echo "| target | measured | verdict |"
  echo "|---|---:|---|"
  echo "| 10,000 mocks within 5% of one mock's throughput | $r1% | $(verdict "$r1" ge 95) |"
  r2=$(pct "$a_rps" "$ng_rps")
  echo "| one mock >= 90% of nginx | $r2% | $(verdict "$r2" ge 90) |"
  echo "| RSS with 10,000 mocks < 40 MiB | $(mib "$c_rss") MiB | $(verdict "$c_rss" lt 40960) |"
  echo "| 10,000 mocks loaded in < 1 s | ${c_load} ms | $(verdict "$c_load" lt 1000) |"
} >"$TARGETS"

echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo
cat "$TABLE"
echo
cat "$TARGETS"
echo
echo "req/s of every round: $ROUNDS_LINE"

if [ "$WRITE_DOCS" = 1 ]; then
  CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  python3 "$ROOT/bench/engine_docs.py" "$ROOT/docs/benchmarks.md" "$TABLE" "$TARGETS" \
    "$(date -u +%Y-%m-%d)" "$(nproc) cores, $CPU, $(uname -sr)" \
    "$DURATION" "$CONNS" "$($NGINX -v 2>&1 | sed 's/.*: //')" "$(wrk --version 2>&1 | head -1 | awk '{print $2}')" \
    "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$ROUNDS" "$ROUNDS_LINE"
  echo "==> docs/benchmarks.md updated (## Engine)"
fi
