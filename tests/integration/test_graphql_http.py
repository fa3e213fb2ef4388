"""GraphQL over HTTP against the real server: every request form (POST
JSON, POST application/graphql, GET, batches), the media types the client
asks for and the status codes each gives, malformed, oversized and hostile
requests (the server answers them and stays up), namespaces, which requests
fall through to the HTTP plugin, schema files and the paths they serve,
delays that do not block other requests, metrics."""

import json
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
from graphql_helpers import GQL_MEDIA  # noqa: E402


def user_mock(d, uid="1", name="Ann", ns="sandbox", **kw):
    return d.mock("user", {"payload": {"data": {"user": {
        "id": uid, "name": name, "role": "ADMIN", "email": "a@x.io"}}}},
        ns=ns, conditions=[{"path": "id", "value": uid}], **kw)


class GraphqlHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = gh.GqlDoppel(options={"max_batch": 3})
        cls.d.schema("graphql.graphql", gh.SHOP_SDL)
        user_mock(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    Q = '{ user(id: "1") { id name } }'

    def assert_up(self):
        self.assertEqual(self.d.get("/health").status, 200)
        r = self.d.gql(self.Q)
        self.assertEqual(r.json(), {"data": {"user": {"id": "1", "name": "Ann"}}})

    # -- request forms -------------------------------------------------------
    def test_post_json_default_media_type(self):
        r = self.d.gql(self.Q)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        self.assertEqual(r.json(), {"data": {"user": {"id": "1", "name": "Ann"}}})
        # compact JSON
        self.assertNotIn(b": ", r.body)

    def test_post_json_graphql_response_media_type(self):
        r = self.d.gql(self.Q, accept=GQL_MEDIA + ", application/json")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith(GQL_MEDIA))
        r = self.d.gql(self.Q, accept="application/json;q=0.9, " + GQL_MEDIA)
        self.assertTrue(r.headers["content-type"].startswith(GQL_MEDIA))
        r = self.d.gql(self.Q, accept=GQL_MEDIA + ";q=0.5, application/json")
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        r = self.d.gql(self.Q, accept="*/*")
        self.assertTrue(r.headers["content-type"].startswith("application/json"))

    def test_not_acceptable(self):
        r = self.d.gql(self.Q, accept="text/html")
        self.assertEqual(r.status, 406)
        self.assertIn("Not acceptable", r.json()["errors"][0]["message"])
        r = self.d.gql(self.Q, accept="application/json;q=0")
        self.assertEqual(r.status, 406)
        # odd and hostile Accept headers: parsed, bounded, never a crash
        r = self.d.gql(self.Q, accept=GQL_MEDIA + ";q=0.0001")
        self.assertEqual(r.status, 406)
        r = self.d.gql(self.Q, accept="application/json;q=abc;;;=")
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        r = self.d.gql(self.Q, accept=",;" * 4000 + "," + GQL_MEDIA)
        self.assertTrue(r.headers["content-type"].startswith(GQL_MEDIA))
        r = self.d.gql(self.Q, accept="APPLICATION/GRAPHQL-RESPONSE+JSON ; Q=1")
        self.assertTrue(r.headers["content-type"].startswith(GQL_MEDIA))

    def test_post_application_graphql(self):
        r = self.d.gql_raw(self.Q.encode(), content_type="application/graphql")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["user"]["name"], "Ann")
        q = 'query A { user(id: "1") { id } } query B { user(id: "1") { name } }'
        r = self.d.gql_raw(q.encode(), path="/graphql?operationName=B",
                           content_type="application/graphql; charset=utf-8")
        self.assertEqual(r.json(), {"data": {"user": {"name": "Ann"}}})

    def test_get(self):
        r = self.d.gql_get(query=self.Q)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["user"]["id"], "1")
        r = self.d.gql_get(query="query U($id: ID!) { user(id: $id) { name } }",
                           variables=json.dumps({"id": "1"}))
        self.assertEqual(r.json(), {"data": {"user": {"name": "Ann"}}})
        r = self.d.gql_get(query="query A { version } query B { user(id: \"1\") { id } }",
                           operationName="B")
        self.assertEqual(r.json(), {"data": {"user": {"id": "1"}}})

    def test_get_bad_variables(self):
        for v in ("[1]", "{nope", "42"):
            r = self.d.gql_get(query=self.Q, variables=v)
            self.assertEqual(r.status, 400, v)
            self.assertIn("variables", r.json()["errors"][0]["message"])

    def test_mutation_over_get_is_405(self):
        r = self.d.gql_get(query='mutation { deleteUser(id: "1") }')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "POST")
        self.assertIn("POST", r.json()["errors"][0]["message"])
        self.assertNotIn("data", r.json())

    def test_subscription_over_http(self):
        q = "subscription { userCreated { id } }"
        r = self.d.gql(q)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["errors"][0]["message"],
                         "Subscriptions are served over graphql-transport-ws "
                         "(WebSocket).")
        self.assertNotIn("data", r.json())
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)

    # -- malformed requests ----------------------------------------------------
    def test_malformed_bodies(self):
        cases = [
            (b"{not json", "not valid JSON"),
            (b'{"variables": {}}', "no \"query\""),
            (b'{"query": 42}', "\"query\" must be a string"),
            (b'{"query": "{ version }", "variables": [1]}', "\"variables\""),
            (b'{"query": "{ version }", "operationName": 7}', "operationName"),
            (b'{"query": "{ version }", "extensions": "x"}', "extensions"),
            (b'"just a string"', "JSON object"),
        ]
        for body, part in cases:
            for accept in (None, GQL_MEDIA):
                r = self.d.gql_raw(body, accept=accept)
                self.assertEqual(r.status, 400, (body, r))
                self.assertIn(part, r.json()["errors"][0]["message"], body)
        self.assert_up()

    def test_syntax_error_status_by_media_type(self):
        r = self.d.gql("{ user(id: ) }")
        self.assertEqual(r.status, 200)
        e = r.json()["errors"][0]
        self.assertTrue(e["message"].startswith("Syntax Error"), e)
        self.assertEqual(e["locations"], [{"line": 1, "column": 12}])
        self.assertNotIn("data", r.json())
        r = self.d.gql("{ user(id: ) }", accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)

    def test_validation_error_status_by_media_type(self):
        r = self.d.gql("{ xyzzy }")
        self.assertEqual(r.status, 200)
        e = r.json()["errors"][0]
        self.assertEqual(e["message"], 'Cannot query field "xyzzy" on type "Query".')
        self.assertEqual(e["locations"], [{"line": 1, "column": 3}])
        self.assertNotIn("data", r.json())
        self.assertEqual(self.d.gql("{ xyzzy }", accept=GQL_MEDIA).status, 400)
        # graphql-js's suggestions
        r = self.d.gql("{ usr(id: 1) { id } }")
        self.assertEqual(r.json()["errors"][0]["message"],
                         'Cannot query field "usr" on type "Query". '
                         'Did you mean "user" or "users"?')

    def test_variable_error_status_by_media_type(self):
        q = "query U($id: ID!) { user(id: $id) { name } }"
        r = self.d.gql(q, {})
        self.assertEqual(r.status, 200)
        self.assertIn("$id", r.json()["errors"][0]["message"])
        self.assertNotIn("data", r.json())
        self.assertEqual(self.d.gql(q, {}, accept=GQL_MEDIA).status, 400)
        self.assertEqual(self.d.gql(q, {"id": "1"}, accept=GQL_MEDIA).status, 200)

    def test_operation_choice(self):
        q = 'query A { version } query B { user(id: "1") { name } }'
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["errors"][0]["message"],
                         "Must provide operation name if query contains "
                         "multiple operations.")
        r = self.d.gql(q, operation="C", accept=GQL_MEDIA)
        self.assertEqual(r.json()["errors"][0]["message"],
                         'Unknown operation named "C".')
        r = self.d.gql(q, operation="B", accept=GQL_MEDIA)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"data": {"user": {"name": "Ann"}}})

    # -- batches -------------------------------------------------------------
    def test_batch(self):
        body = json.dumps([
            {"query": self.Q},
            {"query": "{ nope }"},
            {"query": 'query U($id: ID!) { user(id: $id) { id } }',
             "variables": {"id": "1"}},
            ]).encode()
        r = self.d.gql_raw(body, accept=GQL_MEDIA)
        self.assertEqual(r.status, 200, r)
        out = r.json()
        self.assertEqual(len(out), 3)
        self.assertEqual(out[0], {"data": {"user": {"id": "1", "name": "Ann"}}})
        self.assertIn("Cannot query field", out[1]["errors"][0]["message"])
        self.assertEqual(out[2], {"data": {"user": {"id": "1"}}})

    def test_batch_limits(self):
        r = self.d.gql_raw(b"[]")
        self.assertEqual(r.status, 400)
        r = self.d.gql_raw(json.dumps([{"query": self.Q}] * 4).encode())
        self.assertEqual(r.status, 400)
        self.assertIn("at most 3", r.json()["errors"][0]["message"])
        r = self.d.gql_raw(json.dumps([{"query": self.Q}, 5]).encode())
        self.assertEqual(r.status, 200)
        self.assertIn("JSON object", r.json()[1]["errors"][0]["message"])
        self.assertEqual(r.json()[0]["data"]["user"]["id"], "1")

    # -- hostile documents -------------------------------------------------
    def test_deep_nesting(self):
        q = "{ user(id: \"1\") " + "{ friends " * 200 + "{ id }" + " }" * 201
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assertIn("depth", r.json()["errors"][0]["message"].lower())
        q = "{ version(a: " + "[" * 5000 + "]" * 5000 + ") }"
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assert_up()

    def test_token_bomb(self):
        q = "{ " + "version " * 60000 + "}"
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assertIn("token", r.json()["errors"][0]["message"].lower())
        self.assert_up()

    def test_oversized_query(self):
        q = "{ version }" + "#" + "x" * (1 << 20)
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assert_up()

    def test_alias_flood_and_fragment_cycle(self):
        q = "{ " + " ".join('a%d: user(id: "1") { id }' % i for i in range(3000)) + " }"
        r = self.d.gql(q)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()["data"]), 3000)
        self.assertEqual(r.json()["data"]["a2999"], {"id": "1"})
        q = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
        r = self.d.gql(q, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assertIn("Cannot spread fragment", r.json()["errors"][0]["message"])
        self.assert_up()

    # a one-line document with thousands of string literals (the lexer once
    # sized each string's buffer to the end of its line)
    def test_many_strings_on_one_line(self):
        q = '{ a: products(filter: {tags: [%s]}) { id } }' % ", ".join(
            '"t%d"' % i for i in range(5000))
        r = self.d.gql(q)
        self.assertEqual(r.status, 200)
        self.assertIn("data", r.json(), r.body[:200])

    def test_hostile_variables(self):
        q = "query U($id: ID!) { user(id: $id) { id } }"
        deep = b'{"query": "' + q.encode() + b'", "variables": {"id": ' + \
            b"[" * 100000 + b"]" * 100000 + b"}}"
        r = self.d.gql_raw(deep, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        r = self.d.gql(q, {"id": {"a": [1] * 10000}}, accept=GQL_MEDIA)
        self.assertEqual(r.status, 400)
        self.assertIn("$id", r.json()["errors"][0]["message"])
        many = {"v%d" % i: i for i in range(20000)}
        many["id"] = "1"
        r = self.d.gql(q, many)
        self.assertEqual(r.json(), {"data": {"user": {"id": "1"}}})
        r = self.d.gql('{ user(id: "%s") { id } }' % ("x" * 500000))
        self.assertEqual(r.status, 200)
        self.assert_up()

    def test_binary_garbage(self):
        for body in (b"\xff\xfe\x00\x01", b'{"query": "\\u0000{"}',
                     b'{"query": "' + b"\xc3\x28" + b'"}'):
            r = self.d.gql_raw(body)
            self.assertIn(r.status, (200, 400), body)
        r = self.d.gql_raw(b"\xff\x00{ version", content_type="application/graphql")
        self.assertIn(r.status, (200, 400))
        self.assert_up()

    # -- namespaces ------------------------------------------------------------
    def test_namespaces(self):
        self.d.schema("graphql.graphql", gh.SHOP_SDL, ns="team-a")
        user_mock(self.d, uid="1", name="Team A", ns="team-a")
        r = self.d.gql(self.Q, path="/stubs/team-a/graphql")
        self.assertEqual(r.json()["data"]["user"]["name"], "Team A")
        r = self.d.gql(self.Q, headers={"X-Namespace": "team-a"})
        self.assertEqual(r.json()["data"]["user"]["name"], "Team A")
        r = self.d.gql(self.Q)
        self.assertEqual(r.json()["data"]["user"]["name"], "Ann")
        r = self.d.gql(self.Q, headers={"X-Namespace": "bad name!"})
        self.assertEqual(r.status, 400)
        self.assertIn("X-Namespace", r.json()["errors"][0]["message"])

    # -- what is not GraphQL falls through ------------------------------------
    def test_fall_through_to_http(self):
        r = self.d.get("/graphql")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers.get("x-doppel-match"), "miss")
        self.d.post("/api/v1/mocks", {"http": {"route": "/graphql", "httpMethod": "GET"},
                                      "response": {"payload": {"page": "playground"}}})
        r = self.d.get("/graphql")
        self.assertEqual(r.json(), {"page": "playground"})
        r = self.d.gql_raw(b"hello", content_type="text/plain")
        self.assertEqual(r.headers.get("x-doppel-match"), "miss")
        r = self.d.gql(self.Q, path="/not-graphql")
        self.assertEqual(r.headers.get("x-doppel-match"), "miss")

    # -- paths from schema files and mocks -------------------------------------
    def test_schema_file_names_give_paths(self):
        self.d.schema("api/v2/graphql.graphql",
                      "type Query { ping: String! }")
        self.d.schema("api/v2/graphql.extra.graphql",
                      "extend type Query { pong: Int! }")
        self.d.mock("ping", {"payload": {"data": {"ping": "v2"}}},
                    path="/api/v2/graphql")
        r = self.d.gql("{ ping pong }", path="/api/v2/graphql")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["ping"], "v2")
        self.assertIsInstance(r.json()["data"]["pong"], int)  # faked
        # the other path's schema does not know ping
        r = self.d.gql("{ ping }")
        self.assertIn('Cannot query field "ping"', r.json()["errors"][0]["message"])

    def test_schema_refused_keeps_old(self):
        r = self.d.schema("v3/graphql.graphql", "type Query { a: Int }")
        self.assertIn(r.status, (200, 201))
        r = self.d.schema("v3/graphql.graphql", "type Query { a: Nope }",
                          expect=None)
        self.assertEqual(r.status, 400)
        self.assertIn("v3/graphql.graphql:1:", r.json()["message"])
        self.assertIn("Nope", r.json()["message"])
        r = self.d.schema("v3/graphql.graphql", "type Query { a: Int ",
                          expect=None)
        self.assertEqual(r.status, 400)
        self.assertIn("Syntax Error", r.json()["message"])
        r = self.d.gql("{ a }", path="/v3/graphql")
        self.assertEqual(r.status, 200)
        self.assertIsInstance(r.json()["data"]["a"], int)
        r = self.d.schema("v3/notes.txt", "type Query { a: Int }", expect=None)
        self.assertEqual(r.status, 400)
        self.assertIn("ending in .graphql", r.json()["message"])

    def test_schema_of_several_files(self):
        # files that need each other go in one batch; taken apart root first
        r = self.d.post("/api/v1/schemas/graphql?namespace=sandbox", {
            "files": {"parts/graphql.graphql": "type Query { x: T }",
                      "parts/graphql.types.graphql": "type T { a: Int }"}})
        self.assertEqual(r.status, 200, r)
        r = self.d.gql("{ x { a } }", path="/parts/graphql")
        self.assertIsInstance(r.json()["data"]["x"]["a"], int)
        # T is used by the root file: refused, the schema stays
        r = self.d.request("DELETE", "/api/v1/schemas/graphql/"
                           "parts/graphql.types.graphql")
        self.assertEqual(r.status, 409, r)
        self.assertIn('Unknown type "T"', r.json()["error"])
        r = self.d.gql("{ x { a } }", path="/parts/graphql")
        self.assertIn("data", r.json())
        # the root first: then the path has no schema (mocks only) ...
        r = self.d.request("DELETE", "/api/v1/schemas/graphql/"
                           "parts/graphql.graphql")
        self.assertEqual(r.status, 204, r)
        r = self.d.gql("{ x { a } }", path="/parts/graphql")
        self.assertEqual(r.json()["errors"][0]["message"],
                         'No mock for field "x".')
        # ... and the rest can go too
        r = self.d.request("DELETE", "/api/v1/schemas/graphql/"
                           "parts/graphql.types.graphql")
        self.assertEqual(r.status, 204, r)

    def test_schema_swapped_while_queried(self):
        # two workers answer queries while the schema of the path is
        # replaced: a request finishes on the schema it started with
        name = "swap/graphql.graphql"
        self.d.schema(name, "type Query { a: Int b: Int }")
        stop = threading.Event()
        seen, bad = set(), []

        def hammer():
            while not stop.is_set():
                r = self.d.gql("{ a }", path="/swap/graphql")
                body = r.json()
                if r.status != 200:
                    bad.append(r)
                elif "data" in body:
                    seen.add("data")
                elif "Cannot query field" in body["errors"][0]["message"]:
                    seen.add("invalid")
                else:
                    bad.append(r)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for i in range(30):
                sdl = ("type Query { a: Int b: Int }" if i % 2
                       else "type Query { b: Int }")
                self.d.schema(name, sdl)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(bad, [])
        self.assertTrue(seen)
        self.assert_up()

    def test_mock_path_is_served(self):
        self.d.mock("hello", {"payload": {"data": {"hello": "from mock path"}}},
                    path="/other/gql")
        r = self.d.gql("{ hello }", path="/other/gql")
        self.assertEqual(r.json(), {"data": {"hello": "from mock path"}})

    def test_describe(self):
        r = self.d.get("/api/v1/protocols/graphql?namespace=sandbox")
        self.assertEqual(r.status, 200, r)
        defs = r.json()["defines"]
        self.assertEqual(defs["endpoint"], "/graphql")
        s = [x for x in defs["schemas"] if x["path"] == "/graphql"][0]
        self.assertEqual(s["files"], ["graphql.graphql"])
        names = {f["name"]: f for f in s["query"]["fields"]}
        self.assertEqual(names["user"]["type"], "User")
        self.assertEqual(names["user"]["args"], [{"name": "id", "type": "ID!"}])
        self.assertEqual(names["users"]["type"], "[User!]!")
        self.assertEqual(s["mutation"]["type"], "Mutation")

    # -- delays, metrics -------------------------------------------------------
    def test_delay_does_not_block_other_requests(self):
        self.d.mock("version", {"payload": {"data": {"version": "slow"}},
                                "delay": 8000})
        out = {}

        def slow():
            out["r"] = self.d.gql("{ version }", accept=GQL_MEDIA)

        t = threading.Thread(target=slow)
        t.start()
        # answered while the slow one waits for its delay
        r = self.d.gql(self.Q)
        self.assertEqual(r.json()["data"]["user"]["id"], "1")
        self.assertTrue(t.is_alive())
        t.join(20)
        self.assertEqual(out["r"].json(), {"data": {"version": "slow"}})

    def test_metrics(self):
        self.d.gql('{ user(id: "1") { id } }')
        self.d.gql('{ user(id: "nobody") { id } }')
        self.d.gql("{ nope }")
        m = self.d.get("/metrics").body.decode()
        self.assertIn('doppel_plugin_calls_total{plugin="graphql",'
                      'operation="query",field="user",outcome="matched"}', m)
        self.assertIn('doppel_plugin_calls_total{plugin="graphql",'
                      'operation="query",field="user",outcome="unmatched"}', m)
        self.assertIn('outcome="rejected"', m)


class GraphqlHttpOptions(unittest.TestCase):
    """Options of the [graphql] section: limits, introspection, endpoint,
    a schema from plugins.conf."""

    def test_options(self):
        tmp = tempfile.mkdtemp(prefix="doppel-gql-")
        sdl = os.path.join(tmp, "shop.graphql")
        with open(sdl, "w") as f:
            f.write(gh.SHOP_SDL)
        with gh.GqlDoppel(options={"introspection": "false", "max_depth": 8,
                                   "max_tokens": 200,
                                   "max_query_bytes": "2k",
                                   "max_values": 200,
                                   "endpoint": "/api/gql",
                                   "schema": sdl}) as d:
            r = d.gql("{ __schema { queryType { name } } }", path="/api/gql",
                      accept=GQL_MEDIA)
            self.assertEqual(r.status, 400)
            self.assertIn("introspection is not allowed",
                          r.json()["errors"][0]["message"])
            r = d.gql("{ ...F } fragment F on Query "
                      "{ __type(name: \"User\") { name } }", path="/api/gql")
            self.assertIn("introspection", r.json()["errors"][0]["message"])
            r = d.gql("{ version }", path="/api/gql")
            self.assertIsInstance(r.json()["data"]["version"], str)
            r = d.gql("{ " + "version " * 300 + "}", path="/api/gql",
                      accept=GQL_MEDIA)
            self.assertEqual(r.status, 400)
            r = d.gql("{ user(id: \"1\") " + "{ friends " * 9 + "{ id }" +
                      " }" * 10, path="/api/gql", accept=GQL_MEDIA)
            self.assertEqual(r.status, 400)
            r = d.gql("{ version }" + " " * 3000, path="/api/gql",
                      accept=GQL_MEDIA)
            self.assertEqual(r.status, 400)
            # an answer past max_values is cut with an error
            r = d.gql("{ " + " ".join("u%d: users { id name role friends "
                                      "{ id name } }" % i
                                      for i in range(12)) + " }",
                      path="/api/gql")
            self.assertEqual(r.status, 200)
            self.assertIn("exceeds the size limit (200 values)",
                          json.dumps(r.json()["errors"]))
            # /graphql is not an endpoint any more
            r = d.gql("{ version }")
            self.assertEqual(r.headers.get("x-doppel-match"), "miss")
            # the mock without a path is on the endpoint
            d.mock("version", {"payload": {"data": {"version": "1.2"}}})
            r = d.gql("{ version }", path="/api/gql")
            self.assertEqual(r.json(), {"data": {"version": "1.2"}})

    def test_delayed_answer_sent_when_the_server_stops(self):
        # a stop does not wait for a long delay: the answer goes out at once
        # (DOPPEL_EVENT_DRAINING) and the server exits cleanly
        d = gh.GqlDoppel()
        try:
            d.mock("version", {"payload": {"data": {"version": "late"}},
                               "delay": 120000})
            out = {}

            def slow():
                out["r"] = d.gql("{ version }", accept=GQL_MEDIA)

            t = threading.Thread(target=slow)
            t.start()
            # the request is in: its mock is in the journal once matched
            for _ in range(500):
                if d.entries("requests"):
                    break
                threading.Event().wait(0.01)
            self.assertEqual(d.stop(), 0)
            t.join(30)
            self.assertEqual(out["r"].json(), {"data": {"version": "late"}})
        finally:
            d.__exit__(None, None, None)

    def test_schemas_and_mocks_survive_a_restart(self):
        with gh.GqlDoppel() as d:
            d.schema("graphql.graphql", gh.SHOP_SDL)
            d.schema("v9/graphql.graphql", "type Query { ping: String }")
            d.mock("user", {"payload": {"data": {"user": {
                "id": "1", "name": "Kept", "role": "ADMIN"}}}})
            data = d.data
        with gh.GqlDoppel(data=data) as d:
            r = d.gql('{ user(id: "1") { name } }')
            self.assertEqual(r.json(), {"data": {"user": {"name": "Kept"}}})
            r = d.gql("{ xyzzy }", accept=GQL_MEDIA)
            self.assertEqual(r.status, 400)  # validated: the schema is back
            r = d.gql("{ ping }", path="/v9/graphql")
            self.assertIsInstance(r.json()["data"]["ping"], str)
            r = d.mock("prodcts", expect=None)
            self.assertEqual(r.status, 400)

    def test_bad_schema_option_refuses_start(self):
        d = gh.GqlDoppel(options={"schema": "/nonexistent/x.graphql"},
                         start=False)
        rc, out, err = gh.harness.run_doppel(d.command()[1:], timeout=30)
        self.assertNotEqual(rc, 0)
        self.assertIn("/nonexistent/x.graphql", out + err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
