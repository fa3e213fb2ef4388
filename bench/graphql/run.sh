#!/usr/bin/env bash
# GraphQL benchmark: queries over HTTP against the graphql plugin with one
# mock and with 10,000 mocks, beside a plain HTTP mock, in the same run.
#
#   bench/graphql/run.sh [--build DIR] [--duration SECONDS] [--requests N]
#                        [--write-docs]
#   (ROUNDS=3 in the environment: rounds per case; medians are reported)
#
# Builds nothing: needs build/bin/doppel and build/plugins/doppel_graphql.so.
# Tools: wrk, curl, taskset, python3, valgrind.
#
# Cases (each on a fresh doppel, --workers 1 pinned to core 0; wrk pinned
# to core 1, -t1 -c CONNS):
#   http_1     1 http mock: POST /orders, condition on a body field
#              (bench/engine_post.lua with n = 1)
#   gql_1      docs/examples/shop.graphql as the schema of /graphql, one
#              mock of Query.user with a condition on its argument id;
#              POST /graphql `query User($id: ID!) { user(id: $id) { id
#              name email role } }` with variables {"id": "u-00000"}
#              (bench/graphql/graphql_post.lua with n = 1)
#   gql_10k    the same schema, 10,000 mocks of Query.user told apart by
#              id (u-00000 .. u-09999, bench/graphql/mocks.py: one width, so
#              that both cases ask and answer the same number of bytes), each request a
#              random one of them
# Each doppel case is checked before measuring: the query must get exactly
# the mocked user shaped by the selection set. Then gql_1 and gql_10k again
# under valgrind's callgrind: the instructions of the plugin's whole
# request path (gqlp_http_handler: decoding, parse, validation, the engine
# match, execution and the answer) per request, which repeat from run to
# run where wrk's figures on a shared machine do not.
# --write-docs replaces the "## GraphQL queries" section of
# docs/benchmarks.md with the figures.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"
BUILD=build
DURATION=10
CONNS=50
REQUESTS=2000
ROUNDS=${ROUNDS:-3}
BENCH_HELP=2,33
BENCH_NON2XX=fail
bench_parse_args --duration=DURATION --requests=REQUESTS -- "$@"
bench_bin "$ROOT/$BUILD"
[ -f "$ROOT/$BUILD/plugins/doppel_graphql.so" ] ||
  { echo "no $BUILD/plugins/doppel_graphql.so: build first" >&2; exit 1; }
bench_need wrk curl taskset python3 valgrind
DPORT=${DOPPEL_BENCH_PORT:-18441}
bench_workdir doppel-graphql-bench

LOAD_BEFORE=$(bench_loadavg)
POST_LUA=$ROOT/bench/engine_post.lua
GQL_LUA=$ROOT/bench/graphql/graphql_post.lua
SCHEMA=$ROOT/docs/examples/shop.graphql
B="http://127.0.0.1:$DPORT"

put_schema() {
  local code
  code=$(curl -s -o "$WORK/schema.out" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $BENCH_TOKEN" --data-binary @"$SCHEMA" \
    "$B/api/v1/schemas/graphql/graphql.graphql")
  case $code in
    200 | 201) ;;
    *) echo "schema upload failed: HTTP $code $(cat "$WORK/schema.out")" >&2; exit 1 ;;
  esac
}

load_gql_mocks() { # N
  python3 "$ROOT/bench/graphql/mocks.py" "$1" >"$WORK/mocks.json"
  local out code secs
  out=$(curl -s -o "$WORK/load.out" -w '%{http_code} %{time_total}' \
    -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $BENCH_TOKEN" --data-binary @"$WORK/mocks.json" \
    "$B/api/v1/mocks/batch")
  code=${out%% *}
  secs=${out#* }
  if [ "$code" != 201 ]; then
    echo "loading $1 mocks failed: HTTP $code $(head -c 300 "$WORK/load.out")" >&2
    exit 1
  fi
  LOAD_MS=$(awk -v s="$secs" 'BEGIN { printf "%.0f", s * 1000 }')
}

check_gql() { # ID
  local got want
  got=$(curl -s -H 'Content-Type: application/json' \
    -d '{"query":"query User($id: ID!) { user(id: $id) { id name email role } }","variables":{"id":"'"$1"'"}}' \
    "$B/graphql")
  want='{"data":{"user":{"id":"'"$1"'","name":"User '"${1#u-}"'","email":"user'"${1#u-}"'@example.com","role":"VIEWER"}}}'
  if [ "$got" != "$want" ]; then
    echo "unexpected answer for $1: $got (want $want)" >&2
    exit 1
  fi
}

bench_http() { # ROUND
  echo "==> round $1: doppel: 1 http mock"
  bench_start_doppel
  bench_load_mocks post 1
  curl -sf -o /dev/null "$B/health/live"
  local rss; rss=$(bench_rss_kib "$DPID")
  bench_wrk "$B" "$POST_LUA" 1
  R[http_1.$1]="$RPS $P50 $P99 $rss $LOAD_MS"
  bench_stop_doppel
}

bench_gql() { # NAME N ROUND
  echo "==> round $3: doppel: $2 graphql mock(s)"
  bench_start_doppel
  put_schema
  load_gql_mocks "$2"
  check_gql u-00000
  check_gql "$(printf 'u-%05d' $(( $2 - 1 )))"
  local rss; rss=$(bench_rss_kib "$DPID")
  bench_wrk "$B" "$GQL_LUA" "$2"
  R[$1.$3]="$RPS $P50 $P99 $rss $LOAD_MS"
  bench_stop_doppel
}

# Rounds alternate the cases, so a neighbour's burst on this shared
# machine hits one round of one case, not a whole column.
for round in $(seq 1 "$ROUNDS"); do
  bench_http "$round"
  bench_gql gql_1 1 "$round"
  bench_gql gql_10k 10000 "$round"
done
bench_medians http_1 gql_1 gql_10k

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
read -r h_rps _ <<<"${R[http_1]}"
read -r g1_rps _ <<<"${R[gql_1]}"
read -r g10_rps _ <<<"${R[gql_10k]}"
TABLE=$WORK/table.md
{
  echo "| case | req/s (median of $ROUNDS) | p50 | p99 | RSS after load | load time |"
  echo "|---|---:|---:|---:|---:|---:|"
  for k in http_1 gql_1 gql_10k; do
    read -r rps p50 p99 rss lms <<<"${R[$k]}"
    case $k in
      http_1) name="plain HTTP mock (POST /orders, body condition)" ;;
      gql_1) name="GraphQL, 1 mock" ;;
      gql_10k) name="GraphQL, 10,000 mocks (one field, condition on id)" ;;
    esac
    echo "| $name | $rps | $p50 | $p99 | $(mib "$rss") MiB | ${lms} ms |"
  done
} >"$TABLE"
cat "$TABLE"
echo
echo "rounds: $ROUNDS_LINE"
echo "GraphQL 10,000 mocks / 1 mock: $(pct "$g10_rps" "$g1_rps")%  (target >= 95%)"
echo "GraphQL 1 mock / plain HTTP mock: $(pct "$g1_rps" "$h_rps")%"
echo "load average before: $LOAD_BEFORE, after: $(bench_loadavg)"

# Instructions per request in the plugin's handler, under callgrind.
instr() { # N: prints instructions per request
  local out="$WORK/cg.$1"
  rm -rf "$WORK/data"
  printf '[server]\nworkers = 1\n\n[http]\nenabled = true\n\n[graphql]\nenabled = true\n' \
    >"$WORK/graphql.conf"
  DOPPEL_ADMIN_TOKEN=$BENCH_TOKEN DOPPEL_LOG_LEVEL=warn DOPPEL_CONFIG="$WORK/graphql.conf" \
    valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect=gqlp_http_handler --collect-atstart=no \
    "$BIN" serve --listen "127.0.0.1:$DPORT" --data "$WORK/data" \
    >"$WORK/doppel.log" 2>&1 &
  DPID=$!
  bench_track "$DPID"
  bench_wait_ready 600 0.1
  put_schema
  load_gql_mocks "$1"
  check_gql u-00000
  python3 - "$DPORT" "$1" "$REQUESTS" <<'PY'
import http.client, json, random, sys
port, n, reqs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
q = "query User($id: ID!) { user(id: $id) { id name email role } }"
for _ in range(reqs):
    i = rng.randrange(n)
    body = json.dumps({"query": q, "operationName": "User",
                       "variables": {"id": "u-%05d" % i}})
    c.request("POST", "/graphql", body=body,
              headers={"Content-Type": "application/json",
                       "Accept": "application/graphql-response+json"})
    r = c.getresponse()
    data = json.loads(r.read())
    if r.status != 200 or data["data"]["user"]["id"] != "u-%05d" % i:
        sys.exit("unexpected answer %d %r" % (r.status, data))
PY
  bench_stop_doppel
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$out")
  [ -n "$ir" ] || { echo "no callgrind summary in $out" >&2; exit 1; }
  echo $((ir / REQUESTS))
}
echo "==> gql_1 under callgrind ($REQUESTS requests)" >&2
I1=$(instr 1)
echo "==> gql_10k under callgrind ($REQUESTS requests)" >&2
I10=$(instr 10000)
INSTR_TABLE="| case | instructions per request in gqlp_http_handler | vs 1 mock |
|---|---:|---:|
| GraphQL, 1 mock | $I1 | 100.0% |
| GraphQL, 10,000 mocks | $I10 | $(pct "$I10" "$I1")% |"
echo "$INSTR_TABLE"

if [ "$WRITE_DOCS" = 1 ]; then
  bench_write_docs "GraphQL queries" "table=$(cat "$TABLE")" \
    "rounds=$ROUNDS_LINE" "ratio=$(pct "$g10_rps" "$g1_rps")" \
    "vs_http=$(pct "$g1_rps" "$h_rps")" "duration=$DURATION" \
    "conns=$CONNS" "nrounds=$ROUNDS" "instr_table=$INSTR_TABLE" \
    "iratio=$(pct "$I10" "$I1")" "requests=$REQUESTS" <<'DOC'
What it measures: GraphQL queries over HTTP/1.1 on the main port, POST
`/graphql` with `query User($id: ID!) {{ user(id: $id) {{ id name email
role }} }}` and `{{"id": ...}}` as variables, parsed, validated against
`docs/examples/shop.graphql`, matched per top-level field by the engine and
shaped by the selection set; beside a plain HTTP mock (POST `/orders` with
a condition on a body field) in the same run. The 10,000 mocks are what a
user with many fixtures has: mocks of the one field `user`, told apart by
a condition on its argument `id`; each request asks for a random one.
doppel runs `--workers 1` pinned to core 0, wrk (`-t1 -c {conns}`, a 1 s
warm-up, then {duration} s) on core 1; every case is checked first (the
answer must be the mocked user, shaped).

Measured {date} on {machine}, load average {load_before} before and
{load_after} after, with `ROUNDS={nrounds} bench/graphql/run.sh --duration
{duration} --write-docs`:

{table}

- 10,000 mocks against one: **{ratio}%** of the throughput (target: within
  5%).
- One GraphQL mock against the plain HTTP mock: {vs_http}% (a GraphQL
  request is parsed, validated, executed and shaped besides being matched).
- Rounds (req/s): {rounds} Compare the cases of one run: on a shared
  machine the rounds of one case can spread more than the cases differ
  (a ratio above 100% means no measurable cost of the 10,000 mocks, not a
  speed-up).

Instructions (valgrind's callgrind, {requests} requests, the same fixed
sequence of ids every run) inside the plugin's `gqlp_http_handler`:
everything a GraphQL request costs from the parsed HTTP request to the
answer (decoding, parsing, validation, the engine's match per field,
execution, the JSON answer). These repeat from run to run where the wrk
rounds on a shared machine do not; 10,000 mocks cost **{iratio}%** of one.

{instr_table}
DOC
fi
