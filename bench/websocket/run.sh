#!/usr/bin/env bash
# WebSocket benchmark: messages matched and answered per second over one
# connection and over 1,000, and memory per idle connection at 10,000,
# beside a reference WebSocket echo server written with the `ws` package
# (bench/websocket/ws_echo.cjs) on the same machine in the same run.
#
#   bench/websocket/run.sh [--build DIR] [--duration SECONDS] [--idle N]
#                          [--write-docs]
#   (ROUNDS=3 in the environment: rounds per case; medians reported)
#
# doppel runs --workers 1 pinned to core 0 with one socket mock on /bench
# answering every message with {"ok":true}; the reference runs on core 0
# too (node, one thread). The load generator (bench/websocket/ws_load.c,
# built here with cc -O2: epoll, masked frames, no compression) runs on
# core 1 and keeps WINDOW messages in flight per connection: 1 connection
# with a window of 256 (enough that neither server waits for the client:
# with 16, doppel idled a seventh of the time between bursts), and 1,000
# connections with a window of 1, for DURATION s after a 1 s warm-up; the
# server's CPU time over the load is read from /proc (how busy its core
# was). Idle memory: N connections upgraded and
# left idle (bench/idle_clients.py ws), VmRSS before and after, per
# connection; the same for the reference.
# Builds nothing of doppel: needs build/bin/doppel and
# build/plugins/doppel_websocket.so; cc, node (with tests/node/node_modules),
# taskset, curl, python3. --write-docs replaces the "## WebSocket messages"
# section of docs/benchmarks.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
BUILD=$ROOT/build
DURATION=5
IDLE=10000
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,24
bench_parse_args --duration=DURATION --idle=IDLE -- "$@"
bench_need cc node taskset curl python3
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
bench_bin "$BUILD"
[ -f "$BUILD/plugins/doppel_websocket.so" ] ||
  { echo "no $BUILD/plugins/doppel_websocket.so" >&2; exit 1; }
[ -d "$ROOT/tests/node/node_modules/ws" ] ||
  { echo "no tests/node/node_modules/ws: run scripts/dev.sh deps" >&2; exit 1; }
bench_workdir doppel-ws-bench
LOAD_BEFORE=$(bench_loadavg)
cc -O2 -o "$WORK/ws_load" "$ROOT/bench/websocket/ws_load.c"
printf '[server]\nworkers = 1\n\n[http]\nenabled = true\n\n[websocket]\nenabled = true\npermessage_deflate = false\n' \
  >"$WORK/plugins.conf"
MSG='{"event":"message","n":1}'

start_doppel() {
  DPORT=$(bench_free_port)
  bench_start_doppel DOPPEL_CONFIG="$WORK/plugins.conf"
  local code
  code=$(curl -s -o "$WORK/mock.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" \
    -d '{"socket": {"path": "/bench"}, "response": {"payload": {"ok": true}}}' \
    "http://127.0.0.1:$DPORT/api/v1/mocks")
  [ "$code" = 201 ] || { echo "mock refused: $code $(cat "$WORK/mock.out")" >&2; exit 1; }
  SPID=$DPID
  SPORT=$DPORT
}
stop_doppel() { bench_stop_doppel; }

start_ref() {
  SPORT=$(bench_free_port)
  NODE_PATH=$ROOT/tests/node/node_modules taskset -c "$CORE_SERVER" node \
    "$ROOT/bench/websocket/ws_echo.cjs" "$SPORT" >"$WORK/ref.log" 2>&1 &
  SPID=$!
  bench_track "$SPID"
  for _ in $(seq 1 100); do
    grep -q listening "$WORK/ref.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the reference did not start: $(cat "$WORK/ref.log")" >&2
  exit 1
}
stop_ref() { bench_stop "$SPID"; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SPID/stat"; }

load() { # CONNS WINDOW: sets MPS and BUSY (% of one core, warm-up included)
  local out t0 t1
  t0=$(cpu_ticks)
  out=$(taskset -c "$CORE_CLIENT" "$WORK/ws_load" "$SPORT" /bench "$1" "$2" \
    "$DURATION" "$MSG")
  t1=$(cpu_ticks)
  BUSY=$(awk -v d=$((t1 - t0)) -v s="$DURATION" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f", 100 * d / hz / (s + 1) }')
  MPS=${out%% *}
  local opened=${out#* }
  [ "$opened" = "$1" ] || { echo "only $opened of $1 connections opened" >&2; exit 1; }
}

for round in $(seq 1 "$ROUNDS"); do
  for who in doppel ref; do
    echo "==> round $round: $who" >&2
    "start_$who"
    load 1 256
    R[${who}_1.$round]="$MPS $BUSY"
    load 1000 1
    R[${who}_1000.$round]="$MPS $BUSY"
    "stop_$who"
  done
done
bench_medians doppel_1 ref_1 doppel_1000 ref_1000

idle() { # WHO: prints KiB per idle connection
  "start_$1"
  sleep 0.5
  local before after
  before=$(bench_rss_kib "$SPID")
  coproc IDLE_CLIENTS { python3 "$ROOT/bench/idle_clients.py" ws "$SPORT" "$IDLE" /bench; }
  local cpid=$IDLE_CLIENTS_PID line
  bench_track "$cpid"
  read -r line <&"${IDLE_CLIENTS[0]}" || true
  [ "$line" = "ready $IDLE" ] || { echo "idle clients: ${line:-exited}" >&2; exit 1; }
  sleep 1
  after=$(bench_rss_kib "$SPID")
  exec {IDLE_CLIENTS[1]}>&-
  wait "$cpid" 2>/dev/null || true
  bench_forget "$cpid"
  "stop_$1"
  awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f %.1f %.1f", (a - b) / n, b / 1024, a / 1024 }'
}
echo "==> doppel: $IDLE idle connections" >&2
read -r d_idle d_b d_a <<<"$(idle doppel)"
echo "==> reference: $IDLE idle connections" >&2
read -r r_idle r_b r_a <<<"$(idle ref)"

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
read -r d1 d1b <<<"${R[doppel_1]}"
read -r r1 r1b <<<"${R[ref_1]}"
read -r dk dkb <<<"${R[doppel_1000]}"
read -r rk rkb <<<"${R[ref_1000]}"
TABLE="| case | doppel (socket mock) | reference (ws echo) | doppel / reference |
|---|---:|---:|---:|
| messages/s, 1 connection, 256 in flight | $d1 (core ${d1b}% busy) | $r1 (core ${r1b}% busy) | $(pct "$d1" "$r1")% |
| messages/s, 1,000 connections, 1 in flight each | $dk (core ${dkb}% busy) | $rk (core ${rkb}% busy) | $(pct "$dk" "$rk")% |
| memory per idle connection ($IDLE connections) | $d_idle KiB ($d_b → $d_a MiB) | $r_idle KiB ($r_b → $r_a MiB) | |"
echo "$TABLE"
echo "rounds: $ROUNDS_LINE"
if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "WebSocket messages" "table=$TABLE" "rounds=$ROUNDS_LINE" \
    "duration=$DURATION" "idle=$IDLE" "nrounds=$ROUNDS" <<'DOC'
What it measures: WebSocket messages matched and answered. doppel
(`--workers 1`, pinned to core 0, the HTTP and WebSocket plugins,
permessage-deflate off) serves one `socket` mock on `/bench` answering
every message with `{{"ok":true}}`: each message is parsed, matched by the
engine in the connection's session (journal and metrics included) and
answered. The reference is an echo server written with the `ws` package
(`bench/websocket/ws_echo.cjs`, node on core 0) answering the same text
without matching anything. The load generator (`bench/websocket/ws_load.c`,
epoll, masked frames) runs on core 1 and keeps messages in flight: one
connection with 256 (enough that neither server waits for the client),
and 1,000 connections with one each, {duration} s after a 1 s warm-up;
medians of {nrounds} rounds. "Busy" is the server process's CPU time over
the load (from /proc), as a share of its one core. Idle memory: {idle}
connections upgraded and left idle (`bench/idle_clients.py ws`), VmRSS
before and after, per connection.

Measured {date} on {machine}, load average {load_before} before and
{load_after} after, with `ROUNDS={nrounds} bench/websocket/run.sh
--duration {duration} --write-docs`:

{table}

Rounds: {rounds}

The target is at least twice the reference's messages per second on one
core, and under 20 KiB per idle connection: the last column says where
doppel stands (a doppel message is matched by the engine, journalled and
counted; the reference only echoes).
DOC
fi
