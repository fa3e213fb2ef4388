#!/usr/bin/env bash
# SSE benchmark: memory per idle event stream. One doppel (release build,
# --workers 1 pinned to core 0) with one sse mock whose chain sends one
# event and then waits an hour; N subscribers (bench/idle_clients.py sse)
# each read up to that first event and stay connected; the server's VmRSS
# is read before they connect and once they all hold a stream, and the
# difference divided by N is the memory one idle stream costs, connection
# and host buffers included.
#
#   bench/sse/idle_streams.sh [--build DIR] [--streams N] [--write-docs]
#
# Builds nothing: needs build/bin/doppel and build/plugins/doppel_sse.so;
# curl, taskset, python3. --write-docs replaces the "## SSE idle streams"
# section of docs/benchmarks.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
BUILD=$ROOT/build
STREAMS=10000
BENCH_HELP=2,14
bench_parse_args --streams=STREAMS -- "$@"
bench_need curl taskset python3
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
bench_bin "$BUILD"
[ -f "$BUILD/plugins/doppel_sse.so" ] || { echo "no $BUILD/plugins/doppel_sse.so" >&2; exit 1; }
bench_workdir doppel-sse-bench
LOAD_BEFORE=$(bench_loadavg)
printf '[server]\nworkers = 1\n\n[http]\nenabled = true\n\n[sse]\nenabled = true\n' \
  >"$WORK/plugins.conf"
DPORT=$(bench_free_port)
bench_start_doppel DOPPEL_CONFIG="$WORK/plugins.conf"
code=$(curl -s -o "$WORK/mock.out" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" \
  -d '{"sse": {"eventPath": "/idle"}, "response": {"sseEventChain": {"events": [{"data": "hello"}, {"data": "late", "delay": 3600000}]}}}' \
  "http://127.0.0.1:$DPORT/api/v1/mocks")
[ "$code" = 201 ] || { echo "mock refused: $code $(cat "$WORK/mock.out")" >&2; exit 1; }
# one stream first, so that the plugin's and the front's one-off
# allocations are not counted per stream
curl -s -N --max-time 1 -H 'Accept: text/event-stream' "http://127.0.0.1:$DPORT/idle" \
  >/dev/null || true
sleep 0.5
before=$(bench_rss_kib "$DPID")
coproc CLIENTS { python3 "$ROOT/bench/idle_clients.py" sse "$DPORT" "$STREAMS" /idle; }
CPID=$CLIENTS_PID
bench_track "$CPID"
read -r line <&"${CLIENTS[0]}" || true
case $line in
  "ready $STREAMS") ;;
  *) echo "clients: ${line:-exited}" >&2; exit 1 ;;
esac
sleep 1
after=$(bench_rss_kib "$DPID")
open=$(curl -s -H "Authorization: Bearer $BENCH_TOKEN" \
  "http://127.0.0.1:$DPORT/api/v1/protocols/sse/actions/subscribers?path=/idle" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
exec {CLIENTS[1]}>&-
wait "$CPID" 2>/dev/null || true
bench_forget "$CPID"
bench_stop_doppel
per=$(awk -v a="$after" -v b="$before" -v n="$STREAMS" 'BEGIN { printf "%.1f", (a - b) / n }')
TABLE="| streams | open (the server's count) | VmRSS before | VmRSS with them | per idle stream |
|---:|---:|---:|---:|---:|
| $STREAMS | $open | $(awk -v k="$before" 'BEGIN { printf "%.1f MiB", k / 1024 }') | $(awk -v k="$after" 'BEGIN { printf "%.1f MiB", k / 1024 }') | **$per KiB** |"
echo "$TABLE"
if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "SSE idle streams" "table=$TABLE" "streams=$STREAMS" <<'DOC'
What it measures: what one idle Server-Sent Events stream costs the server.
doppel (`--workers 1`, pinned to core 0, only the HTTP and SSE plugins)
serves one mock whose chain sends one event and then waits an hour;
{streams} subscribers (`bench/idle_clients.py sse`) each read up to that
first event and stay connected. VmRSS is read before they connect (after
one stream came and went) and once they all hold a stream; the open count
is the plugin's own (`GET /api/v1/protocols/sse/actions/subscribers`).

Measured {date} on {machine}, load average {load_before} before and
{load_after} after, with `bench/sse/idle_streams.sh --write-docs`:

{table}

A stream holds its rendered frames, under 400 bytes of state and its host
timers; the rest is the host's connection and its buffers.
DOC
fi
