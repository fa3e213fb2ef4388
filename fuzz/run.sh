#!/bin/sh
# Builds the fuzz targets (templates, paths and conditions, mocks,
# plugins.conf) with clang (ASan + UBSan + libFuzzer)
# into build-fuzz and runs each for N seconds (default 60).
#   fuzz/run.sh [seconds] [target...]
# Corpora live in build-fuzz/corpus/<target> and grow between runs; crashes
# are written to build-fuzz/crashes/. Exits non-zero if a target fails.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${DOPPEL_FUZZ_BUILD:-$root/build-fuzz}
secs=${1:-60}
[ $# -gt 0 ] && shift
default_targets=fuzz_template
default_targets="$default_targets fuzz_jpath"
[ -f "$here/fuzz_mock.c" ] && default_targets="$default_targets fuzz_mock"
default_targets="$default_targets fuzz_config"
targets=${*:-$default_targets}

cmake -S "$here" -B "$out" -DCMAKE_C_COMPILER=clang -DDOPPEL_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

seed() { # target name content
    mkdir -p "$out/corpus/$1"
    printf '%b' "$3" > "$out/corpus/$1/seed-$2"
}
seed fuzz_template str    '\000Hello $.req.name, $.fake.IntBetween(1, 5) $$ $.50'
seed fuzz_template whole  '\000$.increment($.gS.count, 2)'
seed fuzz_template hdr    "\000\$.reqHeader.X-Api-Key[1] \$.reqHeader['accept']"
seed fuzz_template json   '\001{"a": ["$.req.items[0].sku", {"b": "$.gS.user.name"}], "c": "$.fake.Words(3)"}'
seed fuzz_jpath    path   "\000\$.items[0]['x.y'].id"
seed fuzz_jpath    cond   '\001{"path": "b64", "assertAction": "contains", "value": {"a": [1, 2]}, "sortArray": true, "decode": "base64"}'
seed fuzz_config  basic  '[server]\nlisten = 127.0.0.1:5770\n\n[http]\nenabled = true\nname = "a \\"b\\"" # c\n'
seed fuzz_mock     basic  '{"http": {"route": "/users/:id", "httpMethod": "GET"}, "response": {"statusCode": 200, "payload": {"id": "$.pathParam.id", "n": "$.fake.FirstName"}}}'
seed fuzz_mock     mcp    '{"mcp": {"method": "tools/call", "tool": "get_weather", "serverName": "w", "description": "d", "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}}, "conditions": [{"path": "$.city", "assertAction": "equals", "value": "Paris"}]}, "response": {"payload": {"content": [{"type": "text", "text": "Sunny in $.req.city"}]}, "mcpIsError": false}}'
seed fuzz_mock     mcpres '{"mcp": {"method": "resources/read", "resource": "file:///a/b?c", "mimeType": "text/plain", "name": "b"}, "response": {"payload": {"contents": [{"uri": "$.req.uri", "text": "x"}]}}}'
seed fuzz_mock     mcppr  '{"mcp": {"method": "prompts/get", "prompt": "p", "arguments": [{"name": "a", "required": true}]}, "oneOf": {"responses": [{"payload": {"messages": []}}, {"mcpIsError": true}]}}'
seed fuzz_mock     conds  '{"http": {"route": "/o", "httpMethod": "POST", "conditions": [{"path": "$.kind", "assertAction": "equals", "value": "k1"}], "header": {"X-Key": "abc"}, "queryParams": [{"path": "id", "assertAction": "matches", "value": "^[0-9]+$"}]}, "priority": 3, "response": {"payload": "$.req"}}'
seed fuzz_mock     oneof  '{"http": {"route": "/c/*"}, "oneOf": {"order": "order", "responses": [{"statusCode": 201, "payload": "a"}, {"payload": {"b": [1, 2]}, "delay": 1}]}, "extract": {"gStore": {"k": "$.req.a"}}, "mStore": {"n": 1}, "ttl": 60, "useLimiter": 2}'
seed fuzz_mock     proxy  '{"http": {"routePattern": "^/p/[a-z]+$"}, "proxy": {"target": "http://example.com"}, "tags": ["x"], "chainId": "c1"}'
seed fuzz_jpath    regex  '\002{"path": "X-Api-Key", "assertAction": "matches", "value": "^k[0-9]+$"}'

mkdir -p "$out/crashes"
for t in $targets; do mkdir -p "$out/corpus/$t"; done
status=0
for t in $targets; do
    echo "== $t: ${secs}s"
    # One target at a time, so a target that does not build does not stop
    # the others.
    if ! cmake --build "$out" --target "$t" -j2 >"$out/$t.build.log" 2>&1; then
        echo "$t does not build: see $out/$t.build.log"
        status=1
        continue
    fi
    dict="$here/expr.dict"
    [ -f "$here/$t.dict" ] && dict="$here/$t.dict"
    if ! "$out/fuzz/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
            -rss_limit_mb=2048 -dict="$dict" \
            -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 \
            "$out/corpus/$t" 2>"$out/$t.log"; then
        echo "$t FAILED: see $out/$t.log and $out/crashes/"
        status=1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$out/$t.log" || true
done
exit $status
