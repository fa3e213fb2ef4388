#!/usr/bin/env bash
# SOAP benchmark: does matching cost stay flat in the number of SOAP mocks?
# wrk with a Lua script posting SOAP 1.1 envelopes (bench/soap/soap_post.lua)
# against 1 SOAP mock, 10,000 mocks of distinct operations, 10,000 mocks of
# one operation told apart by an XPath condition, and, in the same run, 1
# plain HTTP POST mock; then the same requests under valgrind's callgrind,
# counting the instructions of the plugin's whole request path
# (soap_handle: envelope parse, Body to JSON, XPath values, engine match,
# answer envelope), which repeat from run to run where wrk's figures on a
# shared machine do not.
#
#   bench/soap/run.sh [--build DIR] [--duration SECONDS] [--conns N]
#                     [--requests N] [--write-docs]
#   (ROUNDS=3 in the environment: wrk rounds per case; medians reported)
#
# Builds nothing: needs build/bin/doppel and build/plugins/doppel_soap.so,
# wrk, taskset, curl, python3 and valgrind. doppel runs --workers 1 pinned
# to core 0, wrk one thread on core 1, CONNS connections, a 1 s warm-up then
# DURATION s. Mocks are loaded with one POST /api/v1/mocks/batch
# (bench/soap/soap_mocks.py). --write-docs replaces the "## SOAP calls"
# section of docs/benchmarks.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
BUILD=$ROOT/build
DURATION=5
CONNS=50
REQUESTS=2000
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,21
bench_parse_args --duration=DURATION --conns=CONNS --requests=REQUESTS -- "$@"
bench_need wrk taskset curl python3 valgrind
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
bench_bin "$BUILD"
[ -f "$BUILD/plugins/doppel_soap.so" ] || { echo "no $BUILD/plugins/doppel_soap.so" >&2; exit 1; }
bench_workdir doppel-soap-bench
LOAD_BEFORE=$(bench_loadavg)
LUA=$ROOT/bench/soap/soap_post.lua

# Only the plugins measured, on ports of their own.
printf '[server]\nworkers = 1\n\n[http]\nenabled = true\n\n[soap]\nenabled = true\n' \
  >"$WORK/plugins.conf"

load() { # KIND N
  python3 "$ROOT/bench/soap/soap_mocks.py" "$1" "$2" >"$WORK/mocks.json"
  local code
  code=$(curl -s -o "$WORK/load.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" \
    --data-binary @"$WORK/mocks.json" "http://127.0.0.1:$DPORT/api/v1/mocks/batch")
  [ "$code" = 201 ] || {
    echo "loading $2 $1 mocks failed: HTTP $code $(head -c 300 "$WORK/load.out")" >&2
    exit 1; }
}

# check MODE: one request of the Lua script's kind must get a 200
check() {
  local code
  if [ "$1" = http ]; then
    code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' -d '{"kind":"k0","amount":12.5}' \
      "http://127.0.0.1:$DPORT/orders")
  else
    local el=Op00000
    [ "$1" = xpath ] && el=Get
    code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' -X POST \
      -H 'Content-Type: text/xml' -H 'SOAPAction: "urn:bench"' \
      -d "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><b:$el xmlns:b=\"urn:bench\"><b:id>00000</b:id></b:$el></s:Body></s:Envelope>" \
      "http://127.0.0.1:$DPORT/ws/bench")
  fi
  [ "$code" = 200 ] || { echo "check $1 failed: $code $(cat "$WORK/check.out")" >&2; exit 1; }
}

CASES="http_1:http:1 soap_1:ops:1 soap_10000:ops:10000 xpath_1:xpath:1 xpath_10000:xpath:10000"
for round in $(seq 1 "$ROUNDS"); do
  for c in $CASES; do
    IFS=: read -r key mode n <<<"$c"
    echo "==> round $round: $key" >&2
    DPORT=$(bench_free_port)
    bench_start_doppel DOPPEL_CONFIG="$WORK/plugins.conf"
    load "$mode" "$n"
    check "$mode"
    bench_wrk "http://127.0.0.1:$DPORT" "$LUA" "$n:$mode"
    R[$key.$round]="$RPS $P50 $P99"
    bench_stop_doppel
  done
done
bench_medians http_1 soap_1 soap_10000 xpath_1 xpath_10000
base=${R[soap_1]%% *}
rows=""
for c in $CASES; do
  IFS=: read -r key mode n <<<"$c"
  read -r rps p50 p99 <<<"${R[$key]}"
  b=$base
  [ "$mode" = xpath ] && b=${R[xpath_1]%% *}
  pct=$(python3 -c "print('%.1f%%' % (100.0 * $rps / $b))")
  rows+="| $key | $rps | $p50 | $p99 | $pct |"$'\n'
done
wrk_table="| case | req/s | p50 | p99 | vs 1 mock of its kind (http_1: vs soap_1) |
|---|---:|---:|---:|---:|
$rows"
echo "$wrk_table"
echo "every round: $ROUNDS_LINE"

# Instructions per request in the plugin's handler, under callgrind.
instr() { # MODE N: prints instructions per request
  DPORT=$(bench_free_port)
  local out="$WORK/cg.$1.$2"
  rm -rf "$WORK/data"
  DOPPEL_ADMIN_TOKEN=$BENCH_TOKEN DOPPEL_LOG_LEVEL=warn DOPPEL_CONFIG="$WORK/plugins.conf" \
    valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect=soap_handle --collect-atstart=no \
    "$BIN" serve --listen "127.0.0.1:$DPORT" --data "$WORK/data" \
    >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  bench_track "$DPID"
  bench_wait_ready 600 0.1
  load "$1" "$2"
  python3 - "$DPORT" "$1" "$2" "$REQUESTS" <<'PY'
import http.client, random, sys
port, mode, n, reqs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(1)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
env = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/'
       'soap/envelope/"><s:Body>%s</s:Body></s:Envelope>')
for _ in range(reqs):
    i = rng.randrange(n)
    el = "Op%05d" % i if mode == "ops" else "Get"
    body = env % ('<b:%s xmlns:b="urn:bench"><b:id>%05d</b:id></b:%s>' % (el, i, el))
    c.request("POST", "/ws/bench", body=body,
              headers={"Content-Type": "text/xml", "SOAPAction": '"urn:bench"'})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("unexpected status %d" % r.status)
PY
  bench_stop_doppel
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$out")
  [ -n "$ir" ] || { echo "no callgrind summary in $out" >&2; exit 1; }
  echo $((ir / REQUESTS))
}
irows=""
declare -A IB=()
for c in soap_1:ops:1 soap_10000:ops:10000 xpath_1:xpath:1 xpath_10000:xpath:10000; do
  IFS=: read -r key mode n <<<"$c"
  echo "==> $key under callgrind ($REQUESTS requests)" >&2
  per=$(instr "$mode" "$n")
  [ "$n" = 1 ] && IB[$mode]=$per
  pct=$(python3 -c "print('%.1f%%' % (100.0 * $per / ${IB[$mode]}))")
  irows+="| $key | $per | $pct |"$'\n'
done
instr_table="| case | instructions per request in soap_handle | vs 1 mock of its kind |
|---|---:|---:|
$irows"
echo "$instr_table"

if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "SOAP calls" wrk_table="$wrk_table" instr_table="$instr_table" \
    rounds="$ROUNDS_LINE" duration="$DURATION" conns="$CONNS" requests="$REQUESTS" \
    "rev=$(git -C "$ROOT" rev-parse --short HEAD)" <<'MD'
Measured {date} on {machine} with `bench/soap/run.sh --write-docs` (commit
{rev}; load average before {load_before}, after {load_after}).

doppel runs `--workers 1` pinned to core 0 with only the HTTP and SOAP
plugins; wrk (`bench/soap/soap_post.lua`) runs one thread on core 1, {conns}
connections, {duration} s after a 1 s warm-up, posting SOAP 1.1 envelopes
to `/ws/bench`: `soap_1` one mock; `soap_10000` 10,000 mocks of operations
`Op00000`..`Op09999`, each request naming a random one; `xpath_10000` 10,000 mocks
of operation `Get` told apart by the XPath condition `//b:id equals i`, each
request a random `i` (`xpath_1`: one such mock); numbers have five digits
in every case, so that one mock and 10,000 are asked the same bytes; `http_1` is one plain HTTP POST mock with a JSON body
condition, in the same run. Medians of the rounds by req/s (every round:
{rounds}).

{wrk_table}
Instructions (valgrind's callgrind, {requests} requests, the same fixed
sequence every run) inside the plugin's `soap_handle`: everything a SOAP
request costs from the parsed HTTP request to the answer envelope. These
repeat from run to run; the wrk rounds on this shared machine move by tens
of percent.

{instr_table}
MD
fi
