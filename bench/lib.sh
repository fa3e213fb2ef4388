# shellcheck shell=bash
# shellcheck disable=SC2034  # its outputs are globals the sourcing script reads
# Shared code of the benchmark scripts in bench/ (sourced, never run):
# options, tool checks, the work directory and the processes a benchmark
# starts, doppel and nginx start-up, wrk runs, medians of rounds, the
# machine's description and the docs section writer.
#
# A script runs `set -euo pipefail`, sources this file, then sets its own
# defaults (BUILD, DURATION, CONNS, ROUNDS, DPORT, NPORT...) and calls these.
# Only processes registered with bench_track are stopped on exit, by PID.

# Repository root and the running script, absolute: scripts may cd.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_SCRIPT=$(realpath "$0")
# Where --write-docs writes; DOPPEL_BENCH_DOCS points it at a copy.
BENCH_DOCS=$(realpath -m "${DOPPEL_BENCH_DOCS:-$ROOT/docs/benchmarks.md}")

# The admin API needs a token: each doppel started here is bootstrapped
# with this one.
BENCH_TOKEN=mk_BenchmarkToken0123456789abcdefghijklmnopq
# Servers are pinned to one core, the client (wrk) to the other.
CORE_SERVER=${CORE_SERVER:-0}
CORE_CLIENT=${CORE_CLIENT:-1}
WRITE_DOCS=0
# bench_wrk on non-2xx answers: warn (print a warning) or fail (exit).
BENCH_NON2XX=warn
# Lines of the script's header comment that -h prints (a sed range).
BENCH_HELP=2,20
# Per-round results: R[KEY.ROUND]="RPS P50 P99 ..."; see bench_medians.
declare -A R=()
# PIDs of the processes this script started and has not stopped yet.
BENCH_PIDS=()
DPID=""
NPID=""
WORK=""

# bench_usage ARG: called for -h/--help and for an argument not understood.
# A script with another usage message redefines it after sourcing.
bench_usage() {
  case "$1" in
    -h | --help) sed -n "${BENCH_HELP}p" "$BENCH_SCRIPT"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
}

# bench_parse_args [--FLAG=VARIABLE...] -- ARGS...: the options all take,
# --build DIR (sets BUILD) and --write-docs (WRITE_DOCS=1), plus the script's
# own value options (e.g. --duration=DURATION: `--duration 5` sets DURATION).
bench_parse_args() {
  local -A own=()
  while [ "$1" != -- ]; do
    own[${1%%=*}]=${1#*=}
    shift
  done
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --build) BUILD=$2; shift 2 ;;
      --write-docs) WRITE_DOCS=1; shift ;;
      *)
        if [ -n "$1" ] && [ -n "${own[$1]:-}" ]; then
          printf -v "${own[$1]}" '%s' "$2"
          shift 2
        else
          bench_usage "$1"
        fi
        ;;
    esac
  done
}

# bench_bin BUILD_DIR: sets BIN to the doppel binary there; exits if absent.
bench_bin() {
  BIN=$1/bin/doppel
  [ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 1; }
}

# bench_need TOOL...: exits if one is missing (nginx lives in /usr/sbin,
# which is not on every user's PATH).
bench_need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "missing $t" >&2; exit 1; }
  done
}

# bench_find_nginx: sets NGINX to the nginx binary; exits if there is none.
bench_find_nginx() {
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$NGINX" ] || { echo "missing nginx (apt-get install nginx-light)" >&2; exit 1; }
}

# bench_workdir NAME: WORK = a fresh /tmp/NAME.XXXXXX; on exit the tracked
# processes are stopped and WORK is removed.
bench_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  [ -z "$WORK" ] || rm -rf "$WORK"
}

# bench_track PID: stop this process on exit.
bench_track() { BENCH_PIDS+=("$1"); }

# bench_forget PID: it has been reaped; its number may be reused, so it must
# not be killed on exit.
bench_forget() {
  local p kept=()
  for p in "${BENCH_PIDS[@]}"; do
    [ "$p" = "$1" ] || kept+=("$p")
  done
  BENCH_PIDS=("${kept[@]}")
}

# bench_stop PID: stops a tracked process now and waits for it.
bench_stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  bench_forget "$1"
}

bench_now_ms() { date +%s%3N; }
bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
bench_cpu() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }
bench_machine() { echo "$(nproc) cores, $(bench_cpu), $(uname -sr)"; }
bench_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_wait_ready TRIES INTERVAL: polls /health/ready of the doppel DPID
# listening on DPORT; exits with its log (WORK/doppel.log) if it dies or
# is not ready after TRIES polls.
bench_wait_ready() {
  for _ in $(seq 1 "$1"); do
    curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/ready" && return 0
    kill -0 "$DPID" 2>/dev/null || break
    sleep "$2"
  done
  echo "doppel did not become ready:" >&2
  cat "$WORK/doppel.log" >&2
  exit 1
}

# bench_start_doppel [NAME=VALUE...]: starts `doppel serve --workers 1` on
# 127.0.0.1:DPORT pinned to CORE_SERVER, with an empty data directory, the
# admin token and the extra environment given. Sets DPID and STARTUP_MS
# (from spawning to the first 200 of /health/ready).
bench_start_doppel() {
  local cmd=(taskset -c "$CORE_SERVER" "$BIN" serve
    --listen "127.0.0.1:$DPORT" --data "$WORK/data" --workers 1)
  # env only when needed: its exec would count in the start-up time
  [ $# -eq 0 ] || cmd=(env "$@" "${cmd[@]}")
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  local t0; t0=$(bench_now_ms)
  DOPPEL_ADMIN_TOKEN=$BENCH_TOKEN DOPPEL_LOG_LEVEL=warn \
    "${cmd[@]}" >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  bench_track "$DPID"
  bench_wait_ready 1000 0.01
  STARTUP_MS=$(( $(bench_now_ms) - t0 ))
}

bench_stop_doppel() {
  bench_stop "$DPID"
  DPID=""
}

# bench_load_mocks KIND N: posts the mocks of `bench/engine_mocks.py KIND N`
# to the doppel on DPORT in one batch; exits unless it answers 201. Sets
# LOAD_MS (curl's time for the request).
bench_load_mocks() {
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

# bench_start_nginx CORE PROBE_PATH <HTTP_DIRECTIVES: starts nginx (one
# worker, no access log, temporary files in WORK/nginx) pinned to CORE,
# with the script's own directives of the http block (its server block,
# listening on 127.0.0.1:NPORT) read from stdin; waits until PROBE_PATH
# answers 2xx. Sets NPID.
bench_start_nginx() {
  mkdir -p "$WORK/nginx"
  {
    cat <<EOF
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
EOF
    cat
    echo "}"
  } >"$WORK/nginx/nginx.conf"
  taskset -c "$1" "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" \
    >"$WORK/nginx/out.log" 2>&1 &
  NPID=$!
  bench_track "$NPID"
  for _ in $(seq 1 500); do
    curl -sf -o /dev/null "http://127.0.0.1:$NPORT$2" && return 0
    sleep 0.01
  done
  echo "nginx did not start:" >&2
  cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2 || true
  exit 1
}

bench_stop_nginx() {
  bench_stop "$NPID"
  NPID=""
}

# bench_wrk URL [LUA_SCRIPT LUA_ARG]: a 1 s warm-up (connections, caches;
# not recorded), then DURATION s with CONNS connections, one thread pinned
# to CORE_CLIENT, output appended to WORK/wrk.log. Sets RPS, P50 and P99
# (latencies as wrk prints them). Non-2xx answers: see BENCH_NON2XX.
bench_wrk() {
  local url=$1 lua=() lua_arg=() out non2xx
  if [ $# -ge 3 ]; then
    lua=(-s "$2")
    lua_arg=(-- "$3")
  fi
  taskset -c "$CORE_CLIENT" wrk -t1 -c"$CONNS" -d1s "${lua[@]}" "$url" "${lua_arg[@]}" >/dev/null
  out=$(taskset -c "$CORE_CLIENT" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    "${lua[@]}" "$url" "${lua_arg[@]}")
  echo "$out" >>"$WORK/wrk.log"
  non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  if [ -n "$non2xx" ]; then
    if [ "$BENCH_NON2XX" = fail ]; then
      echo "non-2xx answers from $url:" >&2
      echo "$out" >&2
      exit 1
    fi
    echo "warning: $non2xx non-2xx answers from $url" >&2
  fi
  RPS=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
  P50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  P99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
}

# bench_medians KEY...: from R[KEY.1] .. R[KEY.ROUNDS] ("RPS ..." each),
# sets R[KEY] to the median round by req/s, and ROUNDS_LINE to every
# round's req/s ("KEY: rps, rps, rps; " for each KEY).
bench_medians() {
  local k round rows
  ROUNDS_LINE=""
  for k in "$@"; do
    rows=""
    for round in $(seq 1 "$ROUNDS"); do rows+="${R[$k.$round]}"$'\n'; done
    R[$k]=$(printf '%s' "$rows" | sort -n -k1,1 | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)')
    ROUNDS_LINE+="$k: $(printf '%s' "$rows" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }'); "
  done
}

# bench_write_docs HEADING [NAME=VALUE...] <TEMPLATE: replaces (or appends)
# the "## HEADING" section of BENCH_DOCS with TEMPLATE, the section's text
# below its heading, {NAME} filled in (see bench/docs_section.py). Besides
# the values given, {date}, {machine}, {load_after} and, once the script has
# set LOAD_BEFORE, {load_before} are there.
bench_write_docs() {
  local heading=$1
  shift
  python3 "$ROOT/bench/docs_section.py" "$BENCH_DOCS" "$heading" \
    "date=$(date -u +%Y-%m-%d)" "machine=$(bench_machine)" \
    "load_before=${LOAD_BEFORE:-}" "load_after=$(bench_loadavg)" "$@"
  echo "==> ${DOPPEL_BENCH_DOCS:-docs/benchmarks.md} updated (## $heading)"
}
