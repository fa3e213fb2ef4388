#!/usr/bin/env bash
# Health latency under admin writes: /health/live latency (p50, p99, max)
# on the only worker loop while 10,000 mocks are written through the admin
# API in batches, against the same probe on an idle server.
#
#   bench/admin_write_latency.sh [--build DIR] [--mocks N] [--batch N]
#                                [--baseline DIR] [--write-docs]
#   (defaults: build/, 10000 mocks, batches of 500; --baseline: the same
#   runs with another build's binary first, e.g. a build of the commit
#   before a change, for comparison; BASELINE_NAME names it in the docs)
#
# Builds nothing. Public tools only: curl, taskset, python3 (the probe,
# bench/health_probe.py: one keep-alive connection, one GET /health/live at
# a time, 2 ms apart). doppel runs `--workers 1`, so the probe and the
# writes share its one loop; it is pinned to core 0, then to cores 0 and 1
# (SERVER_CORES="0 0,1"); the probe and curl (the writer, one batch after
# the other, each on a new connection) run on core 1.
# Everything listens on 127.0.0.1 only; every process started here is
# stopped by its PID on exit. --write-docs replaces the "## Admin writes
# and health latency" section of docs/benchmarks.md. Never asserted in
# tests: the figures depend on the machine.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUILD=build
MOCKS=10000
BATCH=500
IDLE_S=3
# doppel's CPU sets, one run each (taskset -c lists)
SERVER_CORES=${SERVER_CORES:-0 0,1}
BASELINE=
BENCH_HELP=2,21
bench_parse_args --mocks=MOCKS --batch=BATCH --baseline=BASELINE -- "$@"
if [ -n "$BASELINE" ]; then
  bench_bin "$(realpath "$BASELINE")"
  BASE_BIN=$BIN
fi
bench_bin "$ROOT/$BUILD"
OWN_BIN=$BIN
bench_need curl taskset python3
DPORT=${DOPPEL_BENCH_PORT:-18451}
bench_workdir doppel-admin-write-bench
LOAD_BEFORE=$(bench_loadavg)

# The batches, written before anything is measured: mocks on /w/<i> with a
# small templated body, like a test suite's fixtures.
python3 - "$MOCKS" "$BATCH" "$WORK" <<'EOF'
import json, sys
n, b, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for k, start in enumerate(range(0, n, b)):
    mocks = [{"http": {"route": "/w/%d/:id" % i, "httpMethod": "GET"},
              "tags": ["bench", "batch-%d" % k],
              "response": {"statusCode": 200,
                           "payload": {"i": i, "id": "{{request.pathParams.id}}"}}}
             for i in range(start, min(n, start + b))]
    with open("%s/batch-%05d.json" % (work, k), "w") as f:
        json.dump({"namespace": "bench", "mocks": mocks}, f,
                  separators=(",", ":"))
EOF

probe() { # STOP_FILE MAX_S -> "count p50 p99 max" in WORK/probe.out
  taskset -c "$CORE_CLIENT" python3 "$ROOT/bench/health_probe.py" "$DPORT" \
    "$1" 2 "$2" >"$WORK/probe.out" &
  PROBE=$!
  bench_track "$PROBE"
}

# One run: the probe alone, then the probe while every batch is posted.
# Appends two rows to the table; sets WRITE_MS and WORST_BATCH_MS.
run() { # LABEL
  # shellcheck disable=SC2119 # no extra environment
  bench_start_doppel
  echo "==> doppel on 127.0.0.1:$DPORT (cores $CORE_SERVER), $MOCKS mocks in batches of $BATCH"
  probe "$WORK/never" "$IDLE_S"
  wait "$PROBE"
  bench_forget "$PROBE"
  read -r n p50 p99 max <"$WORK/probe.out"
  echo "| $1 | idle | $n | $p50 ms | $p99 ms | $max ms |" >>"$TABLE"

  rm -f "$WORK/stop"
  probe "$WORK/stop" 600
  sleep 0.2
  local t0 f out ms stored
  t0=$(bench_now_ms)
  WORST_BATCH_MS=0
  for f in "$WORK"/batch-*.json; do
    out=$(taskset -c "$CORE_CLIENT" curl -s -o "$WORK/batch.out" \
      -w '%{http_code} %{time_total}' -X POST \
      -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $BENCH_TOKEN" --data-binary @"$f" \
      "http://127.0.0.1:$DPORT/api/v1/mocks/batch")
    if [ "${out%% *}" != 201 ]; then
      echo "batch $f failed: HTTP $out $(head -c 300 "$WORK/batch.out")" >&2
      exit 1
    fi
    ms=$(awk -v s="${out#* }" 'BEGIN { printf "%.0f", s * 1000 }')
    [ "$ms" -le "$WORST_BATCH_MS" ] || WORST_BATCH_MS=$ms
  done
  WRITE_MS=$(( $(bench_now_ms) - t0 ))
  touch "$WORK/stop"
  wait "$PROBE"
  bench_forget "$PROBE"
  read -r n p50 p99 max <"$WORK/probe.out"
  echo "| $1 | writing ($WRITE_MS ms, slowest batch $WORST_BATCH_MS ms) | $n | $p50 ms | $p99 ms | $max ms |" >>"$TABLE"
  stored=$(curl -s -H "Authorization: Bearer $BENCH_TOKEN" \
    "http://127.0.0.1:$DPORT/api/v1/mocks?namespace=bench&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [ "$stored" = "$MOCKS" ] || { echo "stored $stored of $MOCKS mocks" >&2; exit 1; }
  bench_stop_doppel
}

TABLE=$WORK/table.md
{
  echo "| doppel on | /health/live probed | probes | p50 | p99 | max |"
  echo "|---|---|---:|---:|---:|---:|"
} >"$TABLE"
# The house pins servers to core 0; a one-worker server on a machine with
# more cores would let its admin thread run beside the loop, so that case
# is measured too (doppel on both cores, sharing core 1 with the probe).
for CORE_SERVER in $SERVER_CORES; do
  case $CORE_SERVER in
    *,*) cores="cores ${CORE_SERVER//,/ and }" ;;
    *) cores="core $CORE_SERVER" ;;
  esac
  if [ -n "$BASELINE" ]; then
    BIN=$BASE_BIN
    run "$cores, baseline build"
    BIN=$OWN_BIN
  fi
  run "$cores"
done
echo
cat "$TABLE"
echo
if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "Admin writes and health latency" table="$(cat "$TABLE")" \
    mocks="$MOCKS" batch="$BATCH" \
    baseline="${BASELINE:+ The baseline rows ran the same with another build (${BASELINE_NAME:-$BASELINE}, given with \`--baseline\`).}" <<'MD'
Measured {date} on {machine} with `bench/admin_write_latency.sh --write-docs`.

doppel runs `--workers 1`, so every request below meets the same (only)
worker loop. A probe (`bench/health_probe.py`, pinned to core 1) sends
`GET /health/live` on one keep-alive connection, one at a time, 2 ms apart:
first alone on the idle server, then while curl (also on core 1) posts
{mocks} mocks to `POST /api/v1/mocks/batch` in batches of {batch}, one
after the other (each batch: validation, compilation, the index rebuild
over every mock stored so far, one SQLite commit with its fsync, with the
audit row in the same transaction). doppel is pinned to core 0 (the house
rule for servers: its loop and its admin thread then share that core), then
to both cores (as a one-worker server on a bigger machine runs).{baseline}

{table}

Admin calls run on the libuv thread pool and answer from their completion
callback (docs/architecture.md, Threads), so the loop keeps answering while
a batch is compiled and committed: the baseline's p99 and max are its
slowest batches, during which the loop answered nothing. What remains while
writing is sharing the CPU with the writer (most on one core) and the
machine's own noise: on a shared machine this loaded even the idle probe's
p99 is several milliseconds, so compare rows measured together, not the
absolute figures. Load average before the run:
{load_before}; after: {load_after}.
MD
fi
