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
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUILD=build
DURATION=10
CONNS=50
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,22
bench_parse_args --duration=DURATION -- "$@"
bench_bin "$ROOT/$BUILD"
bench_need wrk curl taskset nginx python3
bench_find_nginx
DPORT=${DOPPEL_BENCH_PORT:-18431}
NPORT=${NGINX_BENCH_PORT:-18432}
bench_workdir doppel-engine-bench

LOAD_BEFORE=$(bench_loadavg)
PATHS_LUA=$ROOT/bench/engine_paths.lua
POST_LUA=$ROOT/bench/engine_post.lua

bench_nginx() { # ROUND
  echo "==> round $1: nginx baseline (worker_processes 1, core $CORE_SERVER)"
  bench_start_nginx "$CORE_SERVER" / <<EOF
  server {
    listen 127.0.0.1:$NPORT;
    location / {
      default_type application/json;
      return 200 '{"ok":true}';
    }
  }
EOF
  bench_wrk "http://127.0.0.1:$NPORT" "$PATHS_LUA" 10000
  R[nginx_get.$1]="$RPS $P50 $P99"
  bench_wrk "http://127.0.0.1:$NPORT" "$POST_LUA" 100
  R[nginx_post.$1]="$RPS $P50 $P99"
  bench_stop_nginx
}

bench_case() { # NAME KIND N SCRIPT ARG ROUND
  echo "==> round $6: doppel: $1"
  bench_start_doppel
  local startup=$STARTUP_MS
  bench_load_mocks "$2" "$3"
  # With one worker, this answer comes only after the batch handler has
  # finished (freed the parsed batch, returned heap to the system): RSS is
  # then the steady state after loading, not a snapshot mid-cleanup.
  curl -sf -o /dev/null "http://127.0.0.1:$DPORT/health/live"
  local rss; rss=$(bench_rss_kib "$DPID")
  bench_wrk "http://127.0.0.1:$DPORT" "$4" "$5"
  R[$1.$6]="$RPS $P50 $P99 $rss $LOAD_MS $startup"
  bench_stop_doppel
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
bench_medians nginx_get nginx_post a_1 b_1000 c_10000 d_post100

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

echo "load average before: $LOAD_BEFORE, after: $(bench_loadavg) (other work on the machine skews the figures)"
echo
cat "$TABLE"
echo
cat "$TARGETS"
echo
echo "req/s of every round: $ROUNDS_LINE"

if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs Engine table="$(cat "$TABLE")" targets="$(cat "$TARGETS")" \
    duration="$DURATION" conns="$CONNS" "nginx=$($NGINX -v 2>&1 | sed 's/.*: //')" \
    "wrk=$(wrk --version 2>&1 | head -1 | awk '{print $2}')" \
    rounds="$ROUNDS" rounds_line="$ROUNDS_LINE" <<'MD'
Measured {date} on {machine} with `bench/engine_bench.sh --write-docs`
({nginx}, wrk {wrk}).

doppel runs `doppel serve --workers 1` pinned to core 0
(`taskset -c 0`), with the mocks loaded through `POST /api/v1/mocks/batch`
on a fresh data directory; nginx runs `worker_processes 1` pinned to core 0
and answers `return 200 '{{"ok":true}}'` (the same body as every benchmark
mock); wrk runs pinned to core 1:

```sh
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/engine_paths.lua http://127.0.0.1:PORT -- N    # (a) N=1, (b) N=1000, (c) N=10000
taskset -c 1 wrk -t1 -c{conns} -d{duration}s --latency -s bench/engine_post.lua  http://127.0.0.1:PORT -- 100  # (d)
```

`engine_paths.lua` requests `/m/<random 0..N-1>`; `engine_post.lua` posts
`{{"kind":"k<random 0..99>","amount":12.5}}` to `/orders`, where each of the
100 mocks has the condition `kind equals k<i>`. The nginx baseline runs the
same scripts (GET with N=10000, POST with 100). RSS is `VmRSS` of the doppel
process after loading (read once the server answered a request that followed
the load); load time is the `curl` time of the batch request; start-up is
from spawning the process to the first `200` of `/health/ready` (with an
empty store).

Each case ran {rounds} rounds, alternating with every other case and with
nginx, each on a fresh server; the table shows each case's median round by
req/s. Every round's req/s: {rounds_line}

{table}

Targets:

{targets}

Load average of the machine (1, 5, 15 min) before the run: {load_before}; after:
{load_after}. With only two cores, anything else running (builds, fuzzers)
takes time from doppel, nginx or wrk and skews the comparison; figures from a
shared virtual machine vary from run to run. Rerun the script on a quiet
machine to compare.
MD
fi
