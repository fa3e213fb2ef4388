#!/usr/bin/env bash
# SOAP benchmark: matching cost flat in the number of mocks. SOAP 1.1
# GetAccount calls against 1 and against 10,000 SOAP mocks, beside a plain
# HTTP mock answering a JSON POST, in the same run.
#
#   bench/soap/run.sh [--build DIR] [--duration SECONDS] [--write-docs]
#   (ROUNDS=3 in the environment: rounds per case; medians are reported)
#
# Builds nothing: needs a built tree (default build/: build/bin/doppel,
# build/plugins/doppel_http.so and doppel_soap.so). Public tools only: wrk
# (with bench/soap/soap_post.lua and bench/engine_post.lua), curl, taskset,
# python3 (bench/soap/mocks.py writes the mocks).
#
# Cases (each on a fresh doppel, --workers 1 pinned to core 0, wrk on core 1):
#   http_1      1 POST mock on /orders (condition kind equals k0), the
#               JSON body {"kind":"k0",...}: the plain HTTP figure
#   soap_1      1 GetAccount mock (condition $.GetAccount.accountId equals
#               acct-0), every call asks for acct-0
#   soap_10000  10,000 GetAccount mocks (acct-0 .. acct-9999), every call
#               asks for a random one
# Every answer is checked once with curl before the load (status 200 and the
# mock's body), and wrk's non-2xx count must be zero.
# --write-docs replaces the "## SOAP calls" section of docs/benchmarks.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"
BUILD=build
DURATION=10
CONNS=50
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,24
BENCH_NON2XX=fail
bench_parse_args --duration=DURATION -- "$@"
bench_bin "$ROOT/$BUILD"
bench_need wrk curl taskset python3
[ -f "$ROOT/$BUILD/plugins/doppel_soap.so" ] || {
  echo "missing $ROOT/$BUILD/plugins/doppel_soap.so" >&2; exit 1; }
DPORT=${DOPPEL_BENCH_PORT:-18441}
bench_workdir doppel-soap-bench
LOAD_BEFORE=$(bench_loadavg)
SOAP_LUA=$ROOT/bench/soap/soap_post.lua
POST_LUA=$ROOT/bench/engine_post.lua

load() { # KIND N
  python3 "$ROOT/bench/soap/mocks.py" "$1" "$2" >"$WORK/mocks.json"
  local code
  code=$(curl -s -o "$WORK/load.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" \
    --data-binary @"$WORK/mocks.json" "http://127.0.0.1:$DPORT/api/v1/mocks/batch")
  [ "$code" = 201 ] || { echo "loading $2 $1 mocks: HTTP $code $(head -c 300 "$WORK/load.out")" >&2; exit 1; }
}

# probe KIND: one request of the kind wrk sends; the answer must be the mock's
probe() {
  local out
  if [ "$1" = soap ]; then
    out=$(curl -s -w ' %{http_code}' -H 'Content-Type: text/xml; charset=utf-8' \
      -H 'SOAPAction: "urn:bench:account/GetAccount"' --data-binary \
      '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:acc="urn:bench:account"><soap:Body><acc:GetAccount><acc:accountId>acct-0</acc:accountId></acc:GetAccount></soap:Body></soap:Envelope>' \
      "http://127.0.0.1:$DPORT/ws/account")
    case $out in *"<acc:balance>12.50</acc:balance>"*" 200") ;; *)
      echo "unexpected SOAP answer: $out" >&2; exit 1 ;; esac
  else
    out=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
      --data-binary '{"kind":"k0","amount":12.5}' "http://127.0.0.1:$DPORT/orders")
    [ "$out" = '{"ok":true} 200' ] || { echo "unexpected HTTP answer: $out" >&2; exit 1; }
  fi
}

bench_case() { # NAME KIND N SCRIPT ARG ROUND
  echo "==> round $6: doppel: $1"
  bench_start_doppel
  load "$2" "$3"
  probe "$2"
  local rss; rss=$(bench_rss_kib "$DPID")
  bench_wrk "http://127.0.0.1:$DPORT" "$4" "$5"
  R[$1.$6]="$RPS $P50 $P99 $rss"
  bench_stop_doppel
}

for round in $(seq 1 "$ROUNDS"); do
  bench_case http_1 http 1 "$POST_LUA" 1 "$round"
  bench_case soap_1 soap 1 "$SOAP_LUA" 1 "$round"
  bench_case soap_10000 soap 10000 "$SOAP_LUA" 10000 "$round"
done
bench_medians http_1 soap_1 soap_10000

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
read -r s1 _ <<<"${R[soap_1]}"
read -r s10k _ <<<"${R[soap_10000]}"
TABLE=$WORK/table.md
{
  echo "| case | req/s | p50 | p99 | RSS after load |"
  echo "|---|---:|---:|---:|---:|"
  for k in http_1 soap_1 soap_10000; do
    read -r rps p50 p99 rss <<<"${R[$k]}"
    case $k in
      http_1) name="plain HTTP: 1 POST mock, JSON body condition" ;;
      soap_1) name="SOAP 1.1: 1 GetAccount mock" ;;
      soap_10000) name="SOAP 1.1: 10,000 GetAccount mocks, random accountId" ;;
    esac
    echo "| $name | $rps | $p50 | $p99 | $(mib "$rss") MiB |"
  done
} >"$TABLE"
FLAT=$(pct "$s10k" "$s1")
echo "load average before: $LOAD_BEFORE, after: $(bench_loadavg)"
echo
cat "$TABLE"
echo
echo "10,000 SOAP mocks: $FLAT% of one mock's throughput (target: at least 95%)"
echo "req/s of every round: $ROUNDS_LINE"

if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "SOAP calls" table="$(cat "$TABLE")" flat="$FLAT" \
    duration="$DURATION" conns="$CONNS" rounds="$ROUNDS" rounds_line="$ROUNDS_LINE" \
    "wrk=$(wrk --version 2>&1 | head -1 | awk '{print $2}')" <<'MD'
Measured {date} on {machine} with `bench/soap/run.sh --write-docs` (wrk {wrk}).

doppel runs `doppel serve --workers 1` pinned to core 0, each case on a
fresh data directory with its mocks loaded through `POST
/api/v1/mocks/batch` (`bench/soap/mocks.py`); wrk runs pinned to core 1:

```sh
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/engine_post.lua    http://127.0.0.1:PORT -- 1      # plain HTTP
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/soap/soap_post.lua http://127.0.0.1:PORT -- N      # SOAP, N = 1 or 10000
```

`soap_post.lua` posts a SOAP 1.1 envelope (`Content-Type: text/xml`,
`SOAPAction`) calling `GetAccount` with `accountId` `acct-<random 0..N-1>`;
each SOAP mock has the condition `$.GetAccount.accountId equals acct-<i>`
and answers a small `GetAccountResponse`. Each case ran {rounds} rounds,
alternating; the table shows each case's median round by req/s. Every
round's req/s: {rounds_line}

{table}

10,000 SOAP mocks answer at **{flat}%** of one mock's throughput (the
target: within 5%). Load average (1, 5, 15 min) before: {load_before};
after: {load_after}; other work on a two-core machine skews the figures.
MD
fi
