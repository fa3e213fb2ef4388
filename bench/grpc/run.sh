#!/usr/bin/env bash
# gRPC benchmark: unary calls with h2load against doppel's gRPC plugin (1
# mock, then 10,000 mocks) and against a reference server written with
# @grpc/grpc-js answering the same message, in the same run.
#
#   bench/grpc/run.sh [--build DIR] [--duration SECONDS] [--conns N]
#                     [--streams N] [--reference-only]
#   (ROUNDS=3 in the environment: rounds per case; medians are reported)
#
# Builds nothing: needs a built tree (default build/: build/bin/doppel and
# build/plugins/doppel_grpc.so; without the plugin only the reference runs),
# node with tests/node/node_modules (scripts/dev.sh deps), h2load and nghttp
# (nghttp2-client), taskset, curl, python3.
#
# Each server is pinned to core 0 (doppel --workers 1), h2load to core 1
# (one thread). The request is shop.order.v1.OrderService/GetOrder with
# {"orderId": "bench-1"} as a length-prefixed protobuf message
# (tests/integration/fixtures/grpc/protos); every server is first checked
# with a grpc-js client call (the answer must be the reference's message)
# and with nghttp on the exact bytes h2load sends (grpc-status 0).
# 10,000 mocks: one GetOrder mock per orderId ("other-1".."other-9999" and
# "bench-1"), loaded through POST /api/v1/mocks/batch in one batch.
# h2load: -c CONNS -m STREAMS -t 1, a 1 s warm-up, then DURATION seconds.
# Reported per case: calls/s, mean and max latency ("time for request"),
# failed/errored calls, RSS after the run. Output goes to stdout and to
# WORK/h2load.log; the figures are copied by hand into bench/grpc/RESULTS.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"
BUILD=build
DURATION=10
CONNS=10
STREAMS=10
ROUNDS=${ROUNDS:-3}
REFERENCE_ONLY=0
BENCH_HELP=2,26
ARGS=()
for a in "$@"; do
  if [ "$a" = --reference-only ]; then REFERENCE_ONLY=1; else ARGS+=("$a"); fi
done
bench_parse_args --duration=DURATION --conns=CONNS --streams=STREAMS -- "${ARGS[@]+"${ARGS[@]}"}"
bench_need node h2load nghttp taskset curl python3
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin/doppel
PLUGIN=$BUILD/plugins/doppel_grpc.so
if [ "$REFERENCE_ONLY" = 0 ] && { [ ! -x "$BIN" ] || [ ! -f "$PLUGIN" ]; }; then
  echo "note: $PLUGIN or $BIN missing: only the reference server is measured" >&2
  REFERENCE_ONLY=1
fi
[ -d "$ROOT/tests/node/node_modules/@grpc/grpc-js" ] || {
  echo "missing tests/node/node_modules (scripts/dev.sh deps)" >&2; exit 1; }
bench_workdir doppel-grpc-bench

PROTOS=$ROOT/tests/integration/fixtures/grpc/protos
SVC=shop.order.v1.OrderService
METHOD_PATH=/$SVC/GetOrder
LOAD_BEFORE=$(bench_loadavg)

# The request: GetOrderRequest{order_id: "bench-1"} behind the 5-byte gRPC
# prefix (flag 0, big-endian length).
python3 - "$WORK/req.bin" <<'EOF'
import sys
msg = b"\x0a\x07bench-1"
open(sys.argv[1], "wb").write(b"\x00" + len(msg).to_bytes(4, "big") + msg)
EOF

# The answer every server gives: the reference server's ORDER in proto3 JSON.
ANSWER='{"orderId":"bench-1","customerId":"c-1","status":"ORDER_STATUS_OPEN",
"items":[{"sku":"sku-1","quantity":2,"price":{"currencyCode":"EUR","units":"5","nanos":250000000}}],
"labels":{"channel":"web"},"total":10.5,"createdAt":"2023-11-14T22:13:20Z",
"pickupPoint":"PP-7","notes":[{"author":"ann","text":"ring twice"}]}'

# check_answer PORT NAME: one grpc-js call; its message must equal the
# reference's (saved from the first server checked; fields at their proto3
# default are left out on both sides before comparing); then nghttp sends the
# bytes h2load will send and must see grpc-status 0.
check_answer() {
  local out
  out=$(printf '{"address":"127.0.0.1:%s","protoFiles":["shop/order/v1/order.proto"],"includeDirs":["%s"],"service":"%s","method":"GetOrder","request":{"orderId":"bench-1"}}' \
    "$1" "$PROTOS" "$SVC" | node "$ROOT/tests/node/grpc/call.mjs")
  python3 - "$out" "$WORK/answer.json" "$2" <<'EOF'
import json, os, sys
r = json.loads(sys.argv[1])
if r.get("status", {}).get("code") != 0 or len(r.get("messages", [])) != 1:
    sys.exit("%s: bad answer: %s" % (sys.argv[3], sys.argv[1]))
def strip(v):
    """proto3: a field at its default (0, "", false, empty) is the same
    message whether or not it was on the wire."""
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items()
                if x not in (0, "", False, None, [], {})}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
m = strip(r["messages"][0])
if os.path.exists(sys.argv[2]):
    ref = json.load(open(sys.argv[2]))
    if ref != m:
        sys.exit("%s answers differently from the reference:\n%s\n%s"
                 % (sys.argv[3], ref, m))
else:
    json.dump(m, open(sys.argv[2], "w"))
print("    %s answers GetOrder correctly (grpc-js client)" % sys.argv[3])
EOF
  out=$(nghttp -v -H ':method: POST' -H 'content-type: application/grpc' \
    -H 'te: trailers' -d "$WORK/req.bin" "http://127.0.0.1:$1$METHOD_PATH" 2>&1 | tr -d '\0')
  if ! grep -q 'grpc-status: 0' <<<"$out"; then
    echo "$2: nghttp with the benchmark request did not get grpc-status 0:" >&2
    echo "$out" | tail -20 >&2
    exit 1
  fi
}

# run_h2load PORT KEY ROUND PID: warm-up, then the measured run; sets
# R[KEY.ROUND]="CALLS_PER_S MEAN MAX FAILED RSS_KIB".
run_h2load() {
  local out rps mean max failed
  out=$(taskset -c "$CORE_CLIENT" h2load -t 1 -c "$CONNS" -m "$STREAMS" \
    --warm-up-time 1 -D "$DURATION" -H 'content-type: application/grpc' \
    -H 'te: trailers' -d "$WORK/req.bin" "http://127.0.0.1:$1$METHOD_PATH")
  { echo "== $2 round $3"; echo "$out"; } >>"$WORK/h2load.log"
  rps=$(awk '/^finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' <<<"$out")
  mean=$(awk '/^time for request:/ { print $6 }' <<<"$out")
  max=$(awk '/^time for request:/ { print $5 }' <<<"$out")
  failed=$(awk '/^requests:/ { f = $10 + $12 + $14 } END { print f + 0 }' <<<"$out")
  R[$2.$3]="$rps $mean $max $failed $(bench_rss_kib "$4")"
  echo "    $2 round $3: $rps calls/s, mean $mean, max $max, failed $failed"
}

start_reference() {
  taskset -c "$CORE_SERVER" node "$ROOT/bench/grpc/reference_server.mjs" \
    --port "$RPORT" >"$WORK/reference.log" 2>&1 &
  RPID=$!
  bench_track "$RPID"
  for _ in $(seq 1 500); do
    grep -q "listening on" "$WORK/reference.log" && return 0
    kill -0 "$RPID" 2>/dev/null || break
    sleep 0.02
  done
  echo "reference server did not start:" >&2
  cat "$WORK/reference.log" >&2
  exit 1
}

# start_doppel: doppel --workers 1 with the gRPC plugin on GPORT.
start_doppel() {
  cat >"$WORK/plugins.conf" <<EOF
[server]
[http]
enabled = true
[grpc]
enabled = true
listen = 127.0.0.1:$GPORT
main_port = true
proto_path = $PROTOS
namespace = sandbox
EOF
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  DOPPEL_ADMIN_TOKEN=$BENCH_TOKEN DOPPEL_LOG_LEVEL=warn \
    taskset -c "$CORE_SERVER" "$BIN" serve --listen "127.0.0.1:$DPORT" \
    --data "$WORK/data" --workers 1 --config "$WORK/plugins.conf" \
    >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  bench_track "$DPID"
  bench_wait_ready 1000 0.01
}

# load_mocks N: N GetOrder mocks in one batch, the benchmark's among them.
load_mocks() {
  python3 - "$1" "$ANSWER" >"$WORK/mocks.json" <<'EOF'
import json, sys
n, answer = int(sys.argv[1]), json.loads(sys.argv[2])
def mock(order_id):
    return {"grpc": {"service": "shop.order.v1.OrderService", "method": "GetOrder",
                     "conditions": [{"path": "orderId", "assertAction": "equals",
                                     "value": order_id}]},
            "response": {"payload": dict(answer, orderId=order_id)}}
mocks = [mock("other-%d" % i) for i in range(1, n)] + [mock("bench-1")]
print(json.dumps({"namespace": "sandbox", "mocks": mocks}))
EOF
  local out code
  out=$(curl -s -o "$WORK/load.out" -w '%{http_code} %{time_total}' -X POST \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" \
    --data-binary @"$WORK/mocks.json" "http://127.0.0.1:$DPORT/api/v1/mocks/batch")
  code=${out%% *}
  if [ "$code" != 201 ]; then
    echo "loading $1 mocks failed: HTTP $code $(head -c 300 "$WORK/load.out")" >&2
    exit 1
  fi
  LOAD_MS=$(awk -v s="${out#* }" 'BEGIN { printf "%.0f", s * 1000 }')
  echo "    $1 mock(s) loaded in $LOAD_MS ms"
}

RPORT=$(bench_free_port)
DPORT=$(bench_free_port)
GPORT=$(bench_free_port)
CASES=(reference)
[ "$REFERENCE_ONLY" = 1 ] || CASES+=(doppel_1 doppel_10k)
echo "==> machine: $(bench_machine); load before: $LOAD_BEFORE"
echo "==> h2load -t 1 -c $CONNS -m $STREAMS, ${DURATION}s per round, $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round: reference (grpc-js $(node -p 'require("./tests/node/node_modules/@grpc/grpc-js/package.json").version'), node $(node --version))"
  start_reference
  check_answer "$RPORT" reference
  run_h2load "$RPORT" reference "$round" "$RPID"
  bench_stop "$RPID"
  if [ "$REFERENCE_ONLY" = 0 ]; then
    for n in 1 10000; do
      key=doppel_1
      [ "$n" = 1 ] || key=doppel_10k
      echo "==> round $round: doppel, $n mock(s)"
      start_doppel
      load_mocks "$n"
      check_answer "$GPORT" "doppel ($n mocks)"
      run_h2load "$GPORT" "$key" "$round" "$DPID"
      bench_stop_doppel
    done
  fi
done

bench_medians "${CASES[@]}"
echo
echo "==> medians over $ROUNDS round(s) ($ROUNDS_LINE)"
printf '%-12s %12s %10s %10s %8s %10s\n' case calls/s mean max failed RSS_MiB
for k in "${CASES[@]}"; do
  read -r rps mean max failed rss <<<"${R[$k]}"
  printf '%-12s %12s %10s %10s %8s %10s\n' "$k" "$rps" "$mean" "$max" "$failed" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
done
if [ "$REFERENCE_ONLY" = 0 ]; then
  read -r ref _ <<<"${R[reference]}"
  read -r one _ <<<"${R[doppel_1]}"
  read -r tenk _ <<<"${R[doppel_10k]}"
  awk -v r="$ref" -v o="$one" -v t="$tenk" 'BEGIN {
    printf "doppel (1 mock) / reference: %.2fx; 10,000 mocks / 1 mock: %.1f%%\n",
      o / r, 100 * t / o }'
fi
LOG=${GRPC_BENCH_LOG:-/tmp/doppel-grpc-bench-h2load.log}
cp "$WORK/h2load.log" "$LOG"
echo "load after: $(bench_loadavg); h2load output: $LOG"
