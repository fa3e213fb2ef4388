#!/usr/bin/env bash
# HTTP front throughput: doppel's /health/live against nginx serving the same
# small JSON body, one server core each, wrk on the other core.
#
#   bench/http_health.sh [BUILD_DIR]        (default: build)
#
# Builds nothing. Needs wrk, nginx (nginx-light) and taskset, and a machine
# with at least 2 cores: both servers are pinned to core 0 (one at a time),
# wrk to core 1. Everything listens on 127.0.0.1 only; every process started
# here is stopped by its PID on exit.
#
# Environment:
#   DURATION=10s  CONNS=50  THREADS=1   wrk settings
#   ROUNDS=3      alternating doppel/nginx runs; medians are compared
#   SERVER_CORE=0 CLIENT_CORE=1         cores to pin to
#   DOPPEL_CMD="..."  a different server command to measure instead of
#                     `doppel serve` (must log "listening on HOST:PORT")
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BUILD_DIR=${1:-$ROOT/build}
BIN=$BUILD_DIR/bin/doppel
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BODY='{"status":"ok"}'
URL_PATH=/health/live

bench_need wrk taskset python3
bench_find_nginx
if [ -z "${DOPPEL_CMD:-}" ] && [ ! -x "$BIN" ]; then
  echo "no doppel binary at $BIN (build first)" >&2
  exit 2
fi

bench_workdir doppel-bench

wait_http() { # PORT: until the server answers
  for _ in $(seq 1 200); do
    if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1)
c.request("GET", "/health/live")
sys.exit(0 if c.getresponse().status == 200 else 1)
EOF
    sleep 0.05
  done
  echo "server on port $1 never answered" >&2
  return 1
}

run_wrk() { # URL -> prints wrk output, saved to $WORK/wrk.out
  # short warm-up so that both servers start from warm caches
  taskset -c "$CLIENT_CORE" wrk -t"$THREADS" -c"$CONNS" -d2s "$1" >/dev/null
  taskset -c "$CLIENT_CORE" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" \
    --latency "$1" | tee "$WORK/wrk.out"
}

rps() { awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out"; }
lat() { awk '/^    Latency/ {print $2; exit}' "$WORK/wrk.out"; }
p99() { awk '/^ +99%/ {print $2; exit}' "$WORK/wrk.out"; }

# ---- doppel -------------------------------------------------------------
mkdir -p "$WORK/data"
if [ -n "${DOPPEL_CMD:-}" ]; then
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CORE" $DOPPEL_CMD >"$WORK/doppel.log" 2>&1 &
else
  # no plugin sections: the front and its host routes alone
  printf '[server]\nworkers = 1\n' >"$WORK/plugins.conf"
  taskset -c "$SERVER_CORE" "$BIN" serve --config "$WORK/plugins.conf" \
    --listen 127.0.0.1:0 --data "$WORK/data" --workers 1 \
    >"$WORK/doppel.log" 2>&1 &
fi
bench_track $!
DPORT=
for _ in $(seq 1 200); do
  DPORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$WORK/doppel.log" | head -1)
  [ -n "$DPORT" ] && break
  sleep 0.05
done
[ -n "$DPORT" ] || { echo "doppel did not start:" >&2; cat "$WORK/doppel.log" >&2; exit 1; }
wait_http "$DPORT"
echo "==> doppel on 127.0.0.1:$DPORT (core $SERVER_CORE)"

# ---- nginx --------------------------------------------------------------
NPORT=$(bench_free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  server_tokens off;
  server {
    listen 127.0.0.1:$NPORT;
    location = $URL_PATH {
      default_type application/json;
      return 200 '$BODY';
    }
  }
}
EOF
taskset -c "$SERVER_CORE" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
  >"$WORK/nginx/stdout.log" 2>&1 &
bench_track $!
wait_http "$NPORT" || { cat "$WORK/nginx/stdout.log" "$WORK/nginx/logs/error.log" >&2; exit 1; }
echo "==> nginx on 127.0.0.1:$NPORT (core $SERVER_CORE)"

# Both servers are up (the idle one costs nothing); rounds alternate between
# them so that a noisy neighbour hurts both alike, and medians are reported.
D_RPS=() N_RPS=() D_LAT=() N_LAT=() D_P99=() N_P99=()
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round/$ROUNDS: doppel"
  run_wrk "http://127.0.0.1:$DPORT$URL_PATH"
  D_RPS+=("$(rps)") D_LAT+=("$(lat)") D_P99+=("$(p99)")
  echo "==> round $round/$ROUNDS: nginx"
  run_wrk "http://127.0.0.1:$NPORT$URL_PATH"
  N_RPS+=("$(rps)") N_LAT+=("$(lat)") N_P99+=("$(p99)")
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
DM=$(median "${D_RPS[@]}") NM=$(median "${N_RPS[@]}")

echo
echo "machine: $(nproc) cores, $(bench_cpu)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION (core $CLIENT_CORE), servers on core $SERVER_CORE, $ROUNDS round(s)"
printf '%-8s %16s %s\n' server "median req/s" "per round: req/s (latency avg, p99)"
line() { # NAME RPS[] LAT[] P99[]
  local name=$1; shift
  local n=$ROUNDS out=""
  local -a r=("${@:1:n}") l=("${@:n+1:n}") p=("${@:2*n+1:n}")
  for i in $(seq 0 $((n - 1))); do out+="${r[$i]} (${l[$i]}, ${p[$i]})  "; done
  printf '%-8s %16s %s\n' "$name" "$(median "${r[@]}")" "$out"
}
line doppel "${D_RPS[@]}" "${D_LAT[@]}" "${D_P99[@]}"
line nginx "${N_RPS[@]}" "${N_LAT[@]}" "${N_P99[@]}"
python3 -c "import sys; print('ratio doppel/nginx (medians): %.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$DM" "$NM"
