"""Record and replay for GraphQL: a service over the GraphQL endpoint
forwards whole requests (PASSTHROUGH, SPY without a mock for every field),
records one mock per top-level field in LEARN (conditions on the
arguments and variables, the field's data and errors), and MOCK replays
the recordings offline, shaped by the query replayed. The upstream is a
real GraphQL-ish server on loopback (python's http.server) that answers
what each test tells it and remembers every body it got."""

import http.server
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
import harness  # noqa: E402
import upstream  # noqa: E402

ALLOW = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}

USERS = {
    "1": {"id": "1", "name": "Ann", "role": "ADMIN", "email": "ann@x.io",
          "age": 41, "friends": []},
    "2": {"id": "2", "name": "Bob", "role": "VIEWER", "email": None,
          "age": 33, "friends": []},
}

USER_Q = "query U($id: ID!) { user(id: $id) { id name role email } }"


class GqlUpstream:
    """Answers every POST with self.answer(parsed body) -> (status, JSON),
    a GET with the same for its query parameters, and remembers what it
    got (path, headers, raw body). self.hold, when set, is waited on before
    answering (with self.got set first)."""

    def __init__(self):
        seen = self.seen = []
        me = self
        self.answer = lambda body: (200, {"data": None})
        self.lock = threading.Lock()
        self.hold = None
        self.got = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                self.reply(raw, lambda: json.loads(raw))

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(
                    self.path).query)
                self.reply(b"", lambda: {
                    "query": q["query"][0],
                    "variables": json.loads(q.get("variables", ["{}"])[0])})

            def reply(self, raw, parsed):
                with me.lock:
                    seen.append({"method": self.command, "path": self.path,
                                 "body": raw,
                                 "headers": {k.lower(): v for k, v in
                                             self.headers.items()}})
                    status, js = me.answer(parsed())
                if me.hold is not None:
                    me.got.set()
                    me.hold.wait(20)
                data = json.dumps(js).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Up", "yes")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # doppel gave up on it (a stop)
                    pass

            def log_message(self, *args):
                pass

        self.server = upstream.serve(Handler, quiet=True)
        self.port = self.server.server_address[1]
        self.closed = False

    def url(self):
        return "http://127.0.0.1:%d/graphql" % self.port

    def close(self):
        if not self.closed:
            self.closed = True
            if self.hold is not None:
                self.hold.set()
            upstream.stop(self.server)


def user_answer(body):
    """A user by $id (or the literal in the query), for single bodies."""
    uid = (body.get("variables") or {}).get("id")
    return 200, {"data": {"user": USERS.get(uid)}}


class GraphqlRecordTest(upstream.RecordReplayCalls, unittest.TestCase):
    def setUp(self):
        self.up = GqlUpstream()

    def tearDown(self):
        self.up.close()

    def doppel(self, **options):
        d = gh.GqlDoppel(options=options, env=ALLOW)
        d.__enter__()
        self.addCleanup(d.__exit__, None, None, None)
        d.schema("graphql.graphql", gh.SHOP_SDL)
        self.service(d, name="gql", prefix="/graphql")
        return d

    def journal(self, d):
        return [e for e in d.entries("requests")
                if e.get("protocol") == "graphql"]

    def graphql_recorded(self, d):
        return [m for m in self.recorded(d) if "graphql" in m]

    # -- PASSTHROUGH ---------------------------------------------------------
    def test_passthrough_forwards_the_request_whole(self):
        d = self.doppel()
        self.set_mode(d, "PASSTHROUGH")
        self.up.answer = user_answer
        raw = json.dumps({"query": USER_Q, "variables": {"id": "1"},
                          "operationName": "U"}).encode()
        r = d.gql_raw(raw, headers={"X-Trace": "t-9"})
        self.assertEqual(r.status, 200, r)
        # the upstream's answer as it came: every member of the user, not
        # only those the query selected (nothing was shaped by doppel)
        self.assertEqual(r.json(), {"data": {"user": USERS["1"]}})
        self.assertEqual(r.headers.get("x-doppel-service"), "gql")
        self.assertEqual(r.headers.get("x-up"), "yes")
        self.assertEqual(len(self.up.seen), 1)
        seen = self.up.seen[0]
        self.assertEqual(seen["path"], "/graphql")
        self.assertEqual(seen["body"], raw)  # byte for byte
        self.assertEqual(seen["headers"].get("x-trace"), "t-9")
        j = self.journal(d)
        self.assertEqual(len(j), 1, j)
        self.assertEqual((j[0]["method"], j[0]["status"], j[0]["service"],
                          j[0]["forwarded"]), ("query.user", 200, "gql", True))
        self.assertEqual(self.graphql_recorded(d), [])
        # two top-level fields: one request upstream, two journal entries
        self.up.answer = lambda b: (200, {"data": {"version": "9",
                                                   "stats": None}})
        r = d.gql("{ version stats { count } }")
        self.assertEqual(r.json(), {"data": {"version": "9", "stats": None}})
        self.assertEqual(len(self.up.seen), 2)
        j = [e for e in self.journal(d) if e["method"] != "query.user"]
        self.assertEqual(sorted(e["method"] for e in j),
                         ["query.stats", "query.version"])
        self.assertTrue(all(e["forwarded"] for e in j), j)
        m = d.get("/metrics").body.decode()
        self.assertIn('field="version",outcome="forwarded"', m)
        # GET: forwarded with its query string
        self.up.answer = user_answer
        r = d.gql_get(query=USER_Q, variables=json.dumps({"id": "2"}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"data": {"user": USERS["2"]}})
        last = self.up.seen[-1]
        self.assertEqual(last["method"], "GET")
        self.assertTrue(last["path"].startswith("/graphql?query="), last)

    # -- LEARN then MOCK -----------------------------------------------------
    def test_learn_then_mock_offline(self):
        d = self.doppel(fake_missing="false")
        self.set_mode(d, "LEARN")
        self.up.answer = user_answer
        for uid in ("1", "2"):
            r = d.gql(USER_Q, {"id": uid})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"data": {"user": USERS[uid]}})
            self.assertEqual(r.headers.get("x-doppel-service"), "gql")
        mocks = self.graphql_recorded(d)
        self.assertEqual(len(mocks), 2, mocks)
        by_id = {}
        for m in mocks:
            g = m["graphql"]
            self.assertEqual((g["operation"], g["field"], g["path"]),
                             ("query", "user", "/graphql"))
            self.assertEqual(m["service"], "gql")
            conds = g["conditions"]
            self.assertEqual(len(conds), 1, conds)
            self.assertEqual((conds[0]["path"], conds[0]["assertAction"]),
                             ("$.id", "equals"))
            uid = conds[0]["value"]
            by_id[uid] = m
            self.assertEqual(m["response"]["payload"],
                             {"data": {"user": USERS[uid]}})
            self.assertEqual(m["response"]["statusCode"], 200)
        self.assertEqual(sorted(by_id), ["1", "2"])
        self.assertEqual(len(self.up.seen), 2)
        # a mutation: keyed on its input object as coerced (the default
        # role filled in)
        self.up.answer = lambda b: (200, {"data": {"createUser": {
            "id": "9", "name": "Zoe", "role": "VIEWER"}}})
        d.gql('mutation { createUser(input: {name: "Zoe"}) { id } }')
        mut = [m for m in self.graphql_recorded(d)
               if m["graphql"]["field"] == "createUser"]
        self.assertEqual(len(mut), 1)
        self.assertEqual(mut[0]["graphql"]["operation"], "mutation")
        self.assertEqual(mut[0]["graphql"]["conditions"], [
            {"path": "$.input", "assertAction": "equals",
             "value": {"name": "Zoe", "role": "VIEWER"}}])

        # offline: the upstream is gone, MOCK answers from the recordings,
        # shaped by the query replayed (a smaller selection, an alias, the
        # argument as a literal rather than a variable)
        self.up.close()
        self.set_mode(d, "MOCK")
        r = d.gql('{ who: user(id: "2") { name } }')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"data": {"who": {"name": "Bob"}}})
        self.assertIsNone(r.headers.get("x-doppel-service"))
        self.assertEqual(d.answer(USER_Q, {"id": "1"})["data"]["user"]["email"],
                         "ann@x.io")
        # an argument never recorded is a miss: with fake_missing off, null
        # and an error
        body = d.gql('{ user(id: "3") { name } }').json()
        self.assertEqual(body["data"], {"user": None})
        self.assertEqual(body["errors"][0]["path"], ["user"])
        self.assertEqual(body["errors"][0]["message"],
                         'No mock for field "user".')
        un = d.entries("unmatched")
        self.assertEqual([e["method"] for e in un], ["query.user"], un)
        r = d.gql('mutation M { createUser(input: {name: "Zoe", '
                  'role: VIEWER}) { name role } }')
        self.assertEqual(r.json(), {"data": {"createUser": {
            "name": "Zoe", "role": "VIEWER"}}})
        r = d.gql('mutation { createUser(input: {name: "Zed"}) { name } }')
        self.assertEqual(r.json()["data"], None)  # non-null field missed
        self.assertEqual(len(self.up.seen), 3)  # nothing reached it offline

    def test_mock_miss_with_fake_data(self):
        d = self.doppel()  # fake_missing defaults to true
        self.set_mode(d, "LEARN")
        self.up.answer = user_answer
        d.gql(USER_Q, {"id": "1"})
        self.up.close()
        self.set_mode(d, "MOCK")
        self.assertEqual(d.answer(USER_Q, {"id": "1"})["data"]["user"]["name"],
                         "Ann")
        body = d.answer(USER_Q, {"id": "7"})
        self.assertNotIn("errors", body)
        u = body["data"]["user"]
        self.assertIsInstance(u["name"], str)
        self.assertNotEqual(u["name"], "Ann")
        self.assertIn(u["role"], ("ADMIN", "EDITOR", "VIEWER"))

    def test_two_fields_two_mocks_sequences_and_errors(self):
        d = self.doppel()
        self.set_mode(d, "LEARN")
        state = {"n": 0}

        def answer(body):
            state["n"] += 1
            return 200, {
                "data": {"v": "1.%d" % state["n"],
                         "user": USERS["1"], "stats": None},
                "errors": [{"message": "stats are down", "path": ["stats"],
                            "locations": [{"line": 1, "column": 30}],
                            "extensions": {"code": "DOWN"},
                            "timestamp": 17},  # not a GraphQL member
                           {"message": "no flags", "path": ["stats", "flags",
                                                            0]},
                           {"message": "unrelated", "path": ["elsewhere"]}]}
        self.up.answer = answer
        q = '{ v: version user(id: "1") { id name } stats { count } }'
        first = d.gql(q).json()
        self.assertEqual(first["data"]["v"], "1.1")
        self.assertEqual(len(first["errors"]), 3)  # the upstream's, verbatim
        d.gql(q)  # the same query, another version: a sequence
        mocks = {m["graphql"]["field"]: m for m in self.graphql_recorded(d)}
        self.assertEqual(sorted(mocks), ["stats", "user", "version"])
        ver = mocks["version"]
        self.assertEqual(ver["graphql"]["conditions"], [])
        answers = ver["oneOf"]["responses"]
        self.assertEqual([a["payload"]["data"]["version"] for a in answers],
                         ["1.1", "1.2"])
        self.assertEqual(mocks["user"]["graphql"]["conditions"],
                         [{"path": "$.id", "assertAction": "equals",
                           "value": "1"}])
        # the same answer again is no new answer
        self.assertNotIn("oneOf", mocks["user"])
        st = mocks["stats"]
        resp = st["oneOf"]["responses"][0] if "oneOf" in st else st["response"]
        self.assertEqual(resp["payload"], {"data": {"stats": None}})
        self.assertEqual(resp["graphqlErrors"],
                         [{"message": "stats are down",
                           "extensions": {"code": "DOWN"}},
                          {"message": "no flags",
                           "path": ["stats", "flags", 0]}])
        self.assertNotIn("graphqlErrors", ver["oneOf"]["responses"][0])

        self.up.close()
        self.set_mode(d, "MOCK")
        r = d.gql("{ version s: stats { count } }").json()
        self.assertEqual(r["data"], {"version": "1.1", "s": None})
        self.assertEqual(len(r["errors"]), 2, r)
        e = r["errors"][0]
        self.assertEqual((e["message"], e["path"], e["extensions"]),
                         ("stats are down", ["s"], {"code": "DOWN"}))
        # below the field, the path starts at the alias replayed
        self.assertEqual(r["errors"][1]["path"], ["s", "flags", 0])
        self.assertEqual(d.answer("{ version }")["data"]["version"], "1.2")
        self.assertEqual(d.answer("{ version }")["data"]["version"], "1.1")

    # -- SPY -----------------------------------------------------------------
    def test_spy_forwards_unless_mocks_answer_every_field(self):
        d = self.doppel()
        self.set_mode(d, "SPY")
        d.mock("version", {"payload": {"data": {"version": "mocked"}}})
        self.up.answer = lambda b: (200, {"data": {"version": "real",
                                                   "user": USERS["2"]}})
        r = d.gql('{ version user(id: "2") { name } }')
        self.assertEqual(r.status, 200, r)
        # forwarded whole: the mocked field is the upstream's too
        self.assertEqual(r.json()["data"]["version"], "real")
        self.assertEqual(r.headers.get("x-doppel-service"), "gql")
        self.assertEqual(len(self.up.seen), 1)
        self.assertIn(b"version", self.up.seen[0]["body"])
        r = d.gql("{ version }")
        self.assertEqual(r.json(), {"data": {"version": "mocked"}})
        self.assertIsNone(r.headers.get("x-doppel-service"))
        self.assertEqual(len(self.up.seen), 1)  # not called
        self.assertEqual(self.graphql_recorded(d), [])

    # -- upstream down -------------------------------------------------------
    def test_upstream_down(self):
        d = self.doppel()
        self.set_mode(d, "LEARN")
        self.up.close()
        r = d.gql('{ user(id: "1") { name } }')
        self.assertEqual(r.status, 502, r)
        self.assertTrue(r.headers.get("content-type", "").startswith(
            "application/json"), r.headers)
        body = r.json()
        self.assertEqual(list(body), ["errors"])
        e = body["errors"][0]
        self.assertTrue(e["message"].startswith("upstream: "), e)
        self.assertEqual(e["extensions"], {"code": "UPSTREAM_UNAVAILABLE",
                                           "reason": "refused",
                                           "service": "gql"})
        j = self.journal(d)
        self.assertEqual(len(j), 1, j)
        self.assertEqual((j[0]["status"], j[0]["service"],
                          j[0]["forwardError"]), (502, "gql", "refused"))
        self.assertEqual(self.graphql_recorded(d), [])

    # -- batches -------------------------------------------------------------
    def test_batch_learns_each_item(self):
        d = self.doppel()
        self.set_mode(d, "LEARN")

        def answer(body):
            self.assertIsInstance(body, list)
            return 200, [{"data": {"user": USERS[it["variables"]["id"]]}}
                         for it in body]
        self.up.answer = answer
        batch = [{"query": USER_Q, "variables": {"id": "1"}},
                 {"query": USER_Q, "variables": {"id": "2"}}]
        r = d.gql_raw(json.dumps(batch).encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual([i["data"]["user"]["name"] for i in r.json()],
                         ["Ann", "Bob"])
        self.assertEqual(len(self.up.seen), 1)
        mocks = self.graphql_recorded(d)
        self.assertEqual(
            sorted((m["graphql"]["conditions"][0]["value"],
                    m["response"]["payload"]["data"]["user"]["name"])
                   for m in mocks), [("1", "Ann"), ("2", "Bob")])
        self.up.close()
        self.set_mode(d, "MOCK")
        r = d.gql_raw(json.dumps(batch[::-1]).encode())
        self.assertEqual([i["data"]["user"]["name"] for i in r.json()],
                         ["Bob", "Ann"])


class GraphqlForwardStopTest(upstream.RecordReplayCalls, unittest.TestCase):
    def setUp(self):
        self.up = GqlUpstream()

    def tearDown(self):
        self.up.close()

    def test_stop_while_forwarding(self):
        # the upstream holds the request past the drain: the forward is
        # cancelled, its call freed, and doppel exits cleanly
        cfg = gh.config().replace("\n[server]\n",
                                  "\n[server]\ndrain_timeout = 1s\n", 1)
        self.assertIn("drain_timeout = 1s", cfg)
        d = harness.Doppel(config=cfg, env=ALLOW)
        self.service(d, name="gql", prefix="/graphql")
        self.up.hold = threading.Event()
        self.up.answer = lambda b: (200, {"data": {"version": "late"}})
        out = {}

        def client():
            try:
                c = d.conn(timeout=15)
                c.request("POST", "/graphql", body=b'{"query": "{ version }"}',
                          headers={"Content-Type": "application/json"})
                out["status"] = c.getresponse().status
            except OSError as e:
                out["error"] = e
        t = threading.Thread(target=client)
        t.start()
        self.assertTrue(self.up.got.wait(10))
        t0 = time.time()
        code = d.stop()
        t.join(20)
        d.logf.close()
        self.assertEqual(code, 0, d.log())
        self.assertLess(time.time() - t0, 10)
        self.assertFalse(t.is_alive())
        # the client either got an answer or was disconnected by the drain
        self.assertTrue("error" in out or out.get("status") in (502, 503),
                        out)
        d.assert_clean_log()


if __name__ == "__main__":
    import harness
    harness.main()
