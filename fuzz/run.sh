#!/bin/sh
# Builds the fuzz targets (templates, paths and conditions, mocks,
# plugins.conf, MCP JSON-RPC, the stdio bridge's answers, recordings, the
# Origin and Host parsers, schema file names, the gRPC plugin's transport
# core and protobuf messages, the SOAP plugin's envelopes and WSDL sets,
# GraphQL documents, schemas, validation and execution) with
# clang (ASan + UBSan + libFuzzer)
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
[ -f "$root/plugins/mcp/mcp_rpc.c" ] && default_targets="$default_targets fuzz_mcp_rpc"
[ -f "$root/host/mcp_stdio.c" ] && default_targets="$default_targets fuzz_stdio_sse"
[ -f "$here/fuzz_mock.c" ] && default_targets="$default_targets fuzz_record"
default_targets="$default_targets fuzz_origin"
[ -f "$root/host/admin/schema_name.c" ] && default_targets="$default_targets fuzz_schema_name"
[ -f "$root/plugins/grpc/h2_conn.c" ] && default_targets="$default_targets fuzz_grpc_frames"
[ -f "$root/plugins/grpc/pb/grpcpb.h" ] && default_targets="$default_targets fuzz_grpc_message fuzz_grpc_proto"
[ -f "$root/plugins/websocket/ws_parser.c" ] && default_targets="$default_targets fuzz_ws_frames"
[ -f "$root/plugins/websocket/sio_codec.c" ] && default_targets="$default_targets fuzz_engineio fuzz_ws_json"
[ -f "$root/plugins/sse/sse_chain.c" ] && default_targets="$default_targets fuzz_sse"
[ -f "$root/plugins/soap/soap_wsdl.c" ] && default_targets="$default_targets fuzz_wsdl"
[ -f "$root/plugins/soap/soap_xml.c" ] && default_targets="$default_targets fuzz_soap_envelope"
[ -f "$root/plugins/graphql/gql/gql_parse.c" ] && default_targets="$default_targets fuzz_graphql_parse"
[ -f "$root/plugins/graphql/gql/gql_exec.c" ] && default_targets="$default_targets fuzz_graphql_exec"
[ -f "$root/plugins/graphql/gql/gql_validate.c" ] && default_targets="$default_targets fuzz_graphql_validate"
targets=${*:-$default_targets}

cmake -S "$here" -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDOPPEL_FUZZ=ON \
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
seed fuzz_mock     toy    '{"toy": {"op": "chat", "target": "/a/:b", "conditions": [{"path": "$.session.count", "assertAction": "equals", "value": 2}], "meta": [{"path": "x-key", "assertAction": "equals", "value": "abc"}], "normalise": true}, "extract": {"sStore": {"k": "$.req.a"}}, "oneOf": {"responses": [{"statusCode": 3, "note": "n $.sS.k", "stream": [{"payload": {"c": "$.session.count"}}]}, {"payload": "$.session.store"}]}}'
seed fuzz_mock     proxy  '{"http": {"routePattern": "^/p/[a-z]+$"}, "proxy": {"target": "http://example.com"}, "tags": ["x"], "chainId": "c1"}'
seed fuzz_jpath    regex  '\002{"path": "X-Api-Key", "assertAction": "matches", "value": "^k[0-9]+$"}'
# regcomp's expansion of repeated empty-matching groups (refused by the cost check)
seed fuzz_jpath    rxcost '\001{"path": "a", "assertAction": "matches", "value": "(()*()*){1000}"}'
# fuzz_mcp_rpc: two flag bytes (see the target), the POST body, NUL, the
# canned engine / admin API answer.
seed fuzz_mcp_rpc  ping   '\000\001{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
seed fuzz_mcp_rpc  tlist  '\000\001{"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {"cursor": "p2x"}}'
seed fuzz_mcp_rpc  tcall  '\010\001{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_mocks", "arguments": {"namespace": "team-a"}}}\000{"items": [{"id": "m1"}], "total": 1}'
seed fuzz_mcp_rpc  http   '\000\001{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "http_request", "arguments": {"method": "GET", "url": "http://127.0.0.1:1/x"}}}\000hello'
seed fuzz_mcp_rpc  batch  '\002\001[{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 9, "result": {}}, {"jsonrpc": "1.0", "id": 2}]'
seed fuzz_mcp_rpc  init   '\040\001{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}'
seed fuzz_mcp_rpc  stool  '\001\001{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_weather", "arguments": {"city": "Paris"}}}\000{"content": [{"type": "text", "text": "Sunny"}]}'
seed fuzz_mcp_rpc  sres   '\021\005{"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": "file:///a"}}\000plain text'
seed fuzz_mcp_rpc  sprm   '\003\001[{"jsonrpc": "2.0", "id": 6, "method": "prompts/get", "params": {"name": "p"}}, {"jsonrpc": "2.0", "id": 7, "method": "prompts/list"}]\000{"prompts": [{"name": "p"}, {"name": "q"}, {"name": "r"}], "messages": []}'
seed fuzz_mcp_rpc  smiss  '\001\000{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "t"}}\000{"known": true, "nearMisses": [{"failed": [{"reason": "$.city: expected Paris"}]}]}'
# fuzz_stdio_sse: a flag byte (see the target), the stdin line, LF, the body.
seed fuzz_stdio_sse json  '\000{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n{"jsonrpc": "2.0", "id": 1, "result": {}}'
seed fuzz_stdio_sse sse   '\044{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}\n: c\r\nevent: message\r\ndata: {"jsonrpc": "2.0", "method": "notifications/progress"}\r\n\r\ndata: {"jsonrpc": "2.0",\ndata:  "id": 2, "result": {}}\n\n'
seed fuzz_stdio_sse batch '\100[{"jsonrpc": "2.0", "id": 1, "method": "initialize"}, {"jsonrpc": "2.0", "id": "b", "method": "x"}]\n[{"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-03-26"}}]'
seed fuzz_stdio_sse err   '\002{"jsonrpc": "2.0", "id": 3, "method": "a"}\n{"jsonrpc": "2.0", "id": null, "error": {"code": -32001, "message": "Session not found"}}'
# fuzz_record: fields split by 0xFF: method, target, query, request
# headers, request body, status, response headers, response body.
seed fuzz_record   get    'GET\377/users/42?b=2&a=1\377b=2&a=1\377X-Tenant: t1\nAccept: */*\377\377200\377Content-Type: application/json\377{"id": 42, "name": "$x"}'
seed fuzz_record   post   'POST\377/o/a b/%2F/:id/*\377\377Authorization: Bearer k\377{"k": [1, 2.5, null]}\377201\377Content-Type: text/plain\nSet-Cookie: a\nset-cookie: b\377ok $.req'
seed fuzz_record   bin    'PUT\377/bin\377x=&x=2\377\377\001\002\377500\377X-Secret: s\377\200\201'

seed fuzz_origin  good   'http://localhost:5770'
seed fuzz_origin  v6     'https://[::1]:443'
seed fuzz_origin  evil   'http://[::1].evil.example'
seed fuzz_origin  user   'http://localhost:80@evil.example'
seed fuzz_origin  host   '127.0.0.1:5770'
seed fuzz_schema_name path  'shop/v1/order.proto'
seed fuzz_schema_name dots  'a/../b'
seed fuzz_schema_name abs   '/etc/passwd'
# fuzz_grpc_frames: real client byte streams (python3-h2), see the script.
if [ -f "$root/plugins/grpc/h2_conn.c" ]; then
    py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    "$py" "$here/fuzz_grpc_frames_seeds.py" "$out/corpus/fuzz_grpc_frames" ||
        echo "fuzz_grpc_frames: no seeds (python3-h2 missing?)"
fi

# fuzz_ws_frames: a flag byte and a seed byte (see the target), then the
# stream: RFC 6455 5.7 and RFC 7692 7.2.3 frames, a close, an offer.
seed fuzz_ws_frames masked  '\000\007\201\205\067\372\041\075\177\237\115\121\130'
seed fuzz_ws_frames frag    '\002\011\001\003Hel\200\002lo\211\005Hello\212\000'
seed fuzz_ws_frames deflate '\003\005\301\007\362\110\315\311\311\007\000\301\005\362\000\021\000\000\101\003\362\110\315\200\004\311\311\007\000'
seed fuzz_ws_frames bfinal  '\013\003\301\010\363\110\315\311\311\007\000\000\301\001\000'
seed fuzz_ws_frames close   '\002\001\210\006\003\350bye!\201\002hi'
seed fuzz_ws_frames offer   '\021\052permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate'
# fuzz_engineio: a flag byte (see the target), then a polling payload or,
# with flag 1, one Socket.IO packet
seed fuzz_engineio payload '\000040\003642/chat,3["add",1,{"a":[2]}]\00363\0036bAAEC'
seed fuzz_engineio binary  '\0000451-/up,["f",{"_placeholder":true,"num":0}]\0036baGk='
seed fuzz_engineio packet  '\00010/admin,{"token":"t"}'
seed fuzz_ws_json   event   '{"event":"message","n":1,"x":[true,null,-1.5,"s\\n"]}'
seed fuzz_ws_json   type    ' {"type":"hello","event":7} '
seed fuzz_ws_json   scalar  '"text"'
seed fuzz_engineio small   '\00032[[[[["x"]]]]]'
# fuzz_grpc_message: a mode byte (see the target), then wire bytes, JSON
# or a path / errorDetails array.
seed fuzz_grpc_message wire  '\000\010\007\022\004\012\002hi\032\011\012\001k\022\004\050\001\070\001\052\002ab\122\002\010\001'
seed fuzz_grpc_message any   '\001\102\047\012\037type.googleapis.com/fuzz.Leaf\022\004\012\002zz'
seed fuzz_grpc_message json  '\002{"i": 3, "leaves": [{"s": "a", "b": "AAE=", "z": "-4", "k": "K1"}], "byName": {"x": {"ok": true}}, "byNum": {"7": "s"}, "leaf": {"d": 1.5}, "any": {"@type": "type.googleapis.com/fuzz.Leaf", "u": "9"}, "st": {"a": [1, null]}, "ts": "2024-01-02T03:04:05Z", "du": "1.5s", "sv": "v", "val": [1, "x"], "opt": 0, "kinds": ["K2", 1], "flags": {"true": {"i": 1}}}'
seed fuzz_grpc_message tmpl  '\002{"i": "$.req.i", "leaves": "$.req.leaves", "text": "hi $.req.name", "child": {"i": "{{n}}"}}'
seed fuzz_grpc_message path  '\003$.body.leaves[0].s'
seed fuzz_grpc_message det   '\003[{"type": "badRequest", "details": {"fieldViolations": [{"field": "id", "description": "bad"}]}}, {"type": "retryInfo", "details": {"retryDelay": "2s"}}]'
# fuzz_grpc_proto: up to three .proto files (a, b, c) split by 0xFF.
seed fuzz_grpc_proto svc   'syntax = "proto3";\npackage p;\nimport "b.proto";\nimport "google/protobuf/any.proto";\nmessage Req { string id = 1; q.T t = 2; map<string, q.T> m = 3; oneof k { int32 a = 4; string b = 5; } google.protobuf.Any x = 6; }\nservice S { rpc U(Req) returns (q.T); rpc W(stream Req) returns (stream q.T); }\n\377syntax = "proto3";\npackage q;\nmessage T { repeated string v = 1 [json_name = "vv"]; enum E { Z = 0; O = 1; } E e = 2; }\n'
seed fuzz_grpc_proto p2    'syntax = "proto2";\npackage r;\nimport "google/protobuf/descriptor.proto";\nmessage O { optional int32 x = 1 [default = 5]; required string y = 2; extensions 10 to 20; }\nextend O { optional bool z = 10; }\nextend google.protobuf.MethodOptions { optional O opt = 50001; }\nservice S { rpc A(O) returns (O) { option (opt) = { x: 1 y: "a" }; } }\n'
# fuzz_wsdl: up to three files (a.wsdl, b.xsd, c.xsd) split by 0xFF.
seed fuzz_wsdl doc   '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:t" xmlns:b="urn:b" targetNamespace="urn:t"><types><xsd:schema targetNamespace="urn:t" elementFormDefault="qualified"><xsd:import namespace="urn:b" schemaLocation="b.xsd"/><xsd:element name="E"><xsd:complexType><xsd:sequence><xsd:element name="x" type="b:K" maxOccurs="unbounded"/><xsd:element name="n" type="xsd:int" minOccurs="0"/><xsd:choice><xsd:element name="c1" type="xsd:date"/><xsd:element name="c2" type="xsd:long"/></xsd:choice></xsd:sequence><xsd:attribute name="v" type="xsd:int"/></xsd:complexType></xsd:element></xsd:schema></types><message name="M"><part name="p" element="tns:E"/></message><portType name="P"><operation name="O"><input message="tns:M"/><output message="tns:M"/></operation></portType><binding name="B" type="tns:P"><soap:binding style="document"/><operation name="O"><soap:operation soapAction="urn:t/O"/><input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation></binding><service name="S"><port name="Pt" binding="tns:B"><soap:address location="http://h:8/ws/t"/></port></service></definitions>\377<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:b="urn:b" targetNamespace="urn:b"><xsd:simpleType name="S"><xsd:restriction base="xsd:string"><xsd:enumeration value="A"/><xsd:enumeration value="B"/></xsd:restriction></xsd:simpleType><xsd:complexType name="K"><xsd:simpleContent><xsd:extension base="b:S"><xsd:attribute name="cur" type="xsd:string"/></xsd:extension></xsd:simpleContent></xsd:complexType></xsd:schema>'
seed fuzz_wsdl rpc   '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:r" targetNamespace="urn:r"><types><xsd:schema targetNamespace="urn:r"><xsd:complexType name="Q"><xsd:complexContent><xsd:extension base="tns:Q"><xsd:sequence><xsd:element name="q" type="tns:Q"/></xsd:sequence></xsd:extension></xsd:complexContent></xsd:complexType></xsd:schema></types><message name="I"><part name="a" type="xsd:string"/></message><message name="O"><part name="q" type="tns:Q"/></message><portType name="P"><operation name="G"><input message="tns:I"/><output message="tns:O"/></operation></portType><binding name="B" type="tns:P"><soap12:binding style="rpc"/><operation name="G"><soap12:operation soapAction=""/><input><soap12:body namespace="urn:r:rpc"/></input><output><soap12:body namespace="urn:r:rpc"/></output></operation></binding><service name="S"><port name="Pt" binding="tns:B"><soap12:address location="/r"/></port></service></definitions>'
seed fuzz_wsdl xxe   '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<definitions xmlns="http://schemas.xmlsoap.org/wsdl/">&x;</definitions>'
# fuzz_sse: a mode byte (0 a chain as JSON, 1 event NUL id NUL data
# framed, 2 route NUL path)
seed fuzz_sse chain '\000{"events": [{"eventName": "a", "data": {"n": 1}, "id": "x"}, {"data": "l1\\nl2\\r\\nl3", "delay": 5, "retry": 100}], "loop": true, "loopDelay": 100, "maxLoops": 3, "heartbeat": 0}'
seed fuzz_sse frame '\001deploy\000id-1\000line one\r\nline two\rthree\n'
seed fuzz_sse route '\002/events/:id/*\000/events/42/a/b'

# fuzz_soap_envelope: a mode byte (0 envelope round trip, 1 answer XML and
# fault detail, 2 Content-Type / SOAPAction, 3 JSON payload), then the text.
seed fuzz_soap_envelope e11  '\000<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:T xmlns:h="urn:h">1</h:T></s:Header><s:Body><a:Get xmlns:a="urn:a" a:v="2"><a:id>42</a:id><a:id>43</a:id><a:m>x<a:b>y</a:b> z</a:m><a:c><![CDATA[<q>]]></a:c></a:Get></s:Body></s:Envelope>'
seed fuzz_soap_envelope e12  '\000<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><P t="a&#9;b">&amp;&lt;</P></e:Body></e:Envelope>'
seed fuzz_soap_envelope xxe  '\000<!DOCTYPE r [<!ENTITY s SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&s;</s:Body></s:Envelope>'
seed fuzz_soap_envelope frag '\001<?xml version="1.0"?><a:R xmlns:a="urn:a">1</a:R><S/>'
seed fuzz_soap_envelope ct   '\002application/soap+xml; charset=utf-8; action="urn:a\\"b"'
seed fuzz_soap_envelope json '\003{"Envelope": {"Header": {"T": 1}, "Body": {"@xmlns:p": "urn:p", "p:R": {"@a": "x", "#text": "t", "p:i": [1, 2.5, true, null]}}}}'

# fuzz_graphql_parse: documents, parsed and built as a schema.
seed fuzz_graphql_parse query 'query queryName($foo: ComplexType, $site: Site = MOBILE) @onQuery {\n  whoever123is: node(id: [123, 456]) {\n    id\n    ... on User @onInlineFragment {\n      field2 { id alias: field1(first: 10, after: $foo) @include(if: $foo) { id ...frag @onFragmentSpread } }\n    }\n    ... @skip(unless: $foo) { id }\n    ... { id }\n  }\n}\nmutation likeStory @onMutation { like(story: 123) @onField { story { id @onField } } }\nsubscription S($input: In @onVariableDefinition) @onSubscription { s(input: $input) { a } }\nfragment frag on Friend @onFragmentDefinition { foo(size: $size, bar: $b, obj: {key: "value", block: """\n  block string uses \\"""\n  """}) }\n{ unnamed(truthy: true, falsy: false, nullish: null, f: -1.5e3, s: "\\u00e9\\u{1F600}\\uD83D\\uDE00\\n") query }\n'
seed fuzz_graphql_parse sdl '"""The schema"""\nschema { query: Query mutation: M }\n"Root" type Query implements Node & Named @key(f: "id") { id: ID! name(upper: Boolean = false): String @deprecated(reason: "x") list: [Thing!]! }\ntype M { add(in: In!): Thing }\ninterface Node { id: ID! }\ninterface Named implements Node { id: ID! name: String }\nextend interface Named @x\ntype Thing implements Node { id: ID! k: Kind }\nunion U = | Thing | Query\nextend union U = M\nenum Kind { A "b" B @deprecated }\nextend enum Kind { C }\ninput In @oneOf { a: Int b: [In!] }\nextend input In { c: String }\nscalar Date @specifiedBy(url: "https://x")\nextend scalar Date @y\ndirective @key(f: String!) repeatable on OBJECT | INTERFACE\nextend schema @z { subscription: Query }\nextend type Query { more: Int }\n'
seed fuzz_graphql_parse errs '{ a(x: "\\uD800", y: 01, z: 1.e, w: """\\""" ) ...on ...F @d(a: $v) }\n# comment\r\n\357\273\277type T { f: [[Int!]!] }'

# fuzz_graphql_exec: a flag byte (see the target), query 0xFF variables
# 0xFF answers.
seed fuzz_graphql_exec basic '\001query Q($id: ID!, $f: Filter) { user(id: $id) { id name ... on Named { name } friends(first: 1) { email } } users(filter: $f) { role at } }\377{"id": 5, "f": {"names": "a", "inner": {"list": [{}]}}}\377{"user": {"id": 1, "friends": [{"email": null}]}, "users": [null, {"role": "ADMIN"}]}'
seed fuzz_graphql_exec union '\003{ search { __typename ... on User { best { id } } ... on Product { price tags } } node(id: 1) { id } named { name } must }\377\377{"search": [{"__typename": "Product", "tags": [["a"], null]}, {"email": "e"}], "must": "$fail"}'
seed fuzz_graphql_exec intro '\000{ __schema { queryType { name } types { kind name fields(includeDeprecated: true) { name args { name defaultValue type { kind name ofType { kind name ofType { name } } } } } enumValues { name isDeprecated } inputFields { name defaultValue } possibleTypes { name } } directives { name locations args { name } } } __type(name: "Filter") { name } }'
seed fuzz_graphql_exec mut   '\010mutation M($v: Int!) { a: set(v: $v) del(ids: 3) @skip(if: false) }\377{"v": 3000000000}\377{"set": {"$errors": [{"message": "x"}]}}'
seed fuzz_graphql_exec frag  '\004{ ...A x: user(id: "1") { ...B } }\nfragment A on Query { must }\nfragment B on User { id ...A }\377\377{"user": [{"id": 1}], "must": 1}'

# fuzz_graphql_validate: an error-limit byte, then a document.
seed fuzz_graphql_validate ok '\000query Q($id: ID!, $f: Filter = {req: 1}) @log(level: "a") @log(level: "b") {\n  user(id: $id) { ...U ... on Named @once { name(upper: true) } friends(first: 2) { grid } }\n  users(filter: $f) { role }\n  search { __typename ... on Product { price } ... on User { email } }\n  pick(by: {id: 1}) { id }\n}\nfragment U on User { id best { ...U2 } }\nfragment U2 on Node { id }\n'
seed fuzz_graphql_validate bad '\003query Q($u: User, $a: Int, $a: Int) { user { nmae ...Nope ...P x: email x: age friends(first: "2") { ... on Product { id } } } maybe(by: {id: 1, name: null}) { id } users(filter: {names: [null], role: admin, extra: 1}) @once @once { id } }\nfragment P on Product { ...P }\nfragment Unused on Role { x }\n{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }\nsubscription { changed { id } tick }\n'
seed fuzz_graphql_validate frags '\000{ user(id: 1) { ...A ...B } }\nfragment A on User { a: name ...C ...D }\nfragment B on User { a: email ...D ...C }\nfragment C on User { b: age best { ...A } }\nfragment D on Named { b: id }\n'

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
