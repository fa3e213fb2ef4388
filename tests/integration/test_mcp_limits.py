"""The MCP plugin's limits, over raw JSON-RPC (curl): a strict Origin check,
a per-token share of the session table, and the budgets of one POST (the
number of messages in a batch, the bytes of a batch's answers, the time a
batch may run) and of one tool answer (list answers are cut with a marker
and the offset to continue from)."""

import http.server
import json
import time
import unittest

import harness
import upstream
from harness import ADMIN_TOKEN
from test_mcp_transport import CONFIG, McpServer, curl, msg

BATCH_VERSION = "2025-03-26"  # the last version with JSON-RPC batches


def call_tool(name, args, id=1):
    return msg("tools/call", id, {"name": name, "arguments": args})


class OriginIsParsedStrictly(McpServer):
    def test_hostile_origins_refused(self):
        sid = self.session()
        for origin in ("http://[::1].evil.example",
                       "http://[::1]evil.example",
                       "http://localhost:80@evil.example",
                       "http://localhost@evil.example",
                       "http://127.0.0.1:80@evil.example",
                       "http://localhost:80/x",
                       "http://localhost:8o",
                       "http://127.0.0.1.2",
                       "http://127.1",
                       "http://[::1]:80:80",
                       "http://localhost:99999"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Origin": origin})
            self.rpc_error(r, 403, -32000)
            self.assertNotIn("access-control-allow-origin", r.headers, origin)
            # nor is a preflight from it answered
            r = curl(self.url(), "OPTIONS",
                     headers={"Origin": origin,
                              "Access-Control-Request-Method": "POST"})
            self.assertEqual(r.status, 403, (origin, r))

    def test_loopback_origins_accepted(self):
        sid = self.session()
        for origin in ("http://localhost", "http://localhost:6274",
                       "http://127.0.0.1:3000", "http://127.9.8.7",
                       "https://[::1]", "http://[::1]:8080"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Origin": origin})
            self.assertEqual(r.status, 200, (origin, r))
            self.assertEqual(r.headers.get("access-control-allow-origin"),
                             origin)


class SessionShare(McpServer):
    """max_sessions = 8 and the default share (25%): a token holds at most
    2 sessions of a kind; more evict its own, never another token's."""

    config = CONFIG + "max_sessions = 8\n"

    def test_one_token_cannot_evict_the_others(self):
        tok_b = self.user_token("share-b")
        tok_c = self.user_token("share-c")
        b = self.session(token=tok_b)
        c = self.session(token=tok_c)
        mine = [self.session() for _ in range(20)]
        # the flood only ever evicted its own sessions
        for tok, sid in ((tok_b, b), (tok_c, c)):
            r = self.post(msg("ping"), token=tok, session=sid)
            self.assertEqual(r.status, 200, r)
        # it keeps its two most recent ones
        for sid in mine[-2:]:
            self.assertEqual(self.post(msg("ping"), session=sid).status, 200)
        for sid in mine[:-2]:
            self.rpc_error(self.post(msg("ping"), session=sid), 404, -32001)
        # B at its own share evicts its own oldest, not C's
        b2, b3 = self.session(token=tok_b), self.session(token=tok_b)
        self.rpc_error(self.post(msg("ping"), token=tok_b, session=b),
                       404, -32001)
        for tok, sid in ((tok_b, b2), (tok_b, b3), (tok_c, c)):
            self.assertEqual(self.post(msg("ping"), token=tok,
                                       session=sid).status, 200)


BIG_MESSAGES = CONFIG.replace("max_message_bytes = 2k",
                              "max_message_bytes = 64k")


class BatchSize(McpServer):
    config = BIG_MESSAGES

    def test_batch_of_more_than_max_batch_refused(self):
        sid = self.session(version=BATCH_VERSION)
        batch = [msg("ping", i) for i in range(101)]
        js = self.rpc_error(self.post(batch, session=sid), 400, -32600)
        self.assertIn("max_batch", js["error"]["message"])
        self.assertIn("100", js["error"]["message"])
        batch = [msg("ping", i) for i in range(100)]
        r = self.post(batch, session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()), 100)


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(0.7)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Budgets(McpServer):
    config = BIG_MESSAGES + (
        "batch_answer_bytes = 96k\n"
        "batch_time_budget = 1s\n"
        "tool_answer_bytes = 48k\n")
    env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # 30 mocks of about 4 KB each, in a namespace of their own
        mocks = [{"namespace": "budget", "id": "big-%02d" % i,
                  "http": {"method": "GET", "route": "/big/%d" % i},
                  "response": {"status": 200, "body": "x" * 4000}}
                 for i in range(30)]
        r = cls.d.post("/api/v1/mocks/batch", mocks)
        assert r.status in (200, 201), r
        r = cls.d.post("/api/v1/mocks", {
            "namespace": "budget", "id": "huge",
            "http": {"method": "GET", "route": "/huge"},
            "response": {"status": 200, "body": "y" * 60000}})
        assert r.status == 201, r

    def tool(self, sid, name, args):
        r = self.post(call_tool(name, args), session=sid)
        self.assertEqual(r.status, 200, r)
        return r.json()["result"]

    def test_list_answer_is_cut_with_a_marker(self):
        sid = self.session()
        res = self.tool(sid, "list_mocks", {"namespace": "budget",
                                            "limit": 1000})
        self.assertFalse(res["isError"], res)
        sc = res["structuredContent"]
        got = len(sc["items"])
        self.assertGreater(got, 0, sc)
        self.assertLess(got, 31, sc)
        self.assertTrue(sc["truncated"], sc)
        self.assertTrue(sc["hasMore"], sc)
        self.assertEqual(sc["nextOffset"], got)
        self.assertIn("tool_answer_bytes", sc["truncatedBy"])
        self.assertLessEqual(len(json.dumps(res)), 48 * 1024)
        # the next page starts where this one stopped; the one item that
        # alone is over the budget is an error that says how to go on
        seen = {m["id"] for m in sc["items"]}
        off = sc["nextOffset"]
        too_big = []
        for _ in range(40):
            res = self.tool(sid, "list_mocks", {"namespace": "budget",
                                                "limit": 1000,
                                                "offset": off})
            if res["isError"]:
                text = res["content"][0]["text"]
                self.assertIn("tool_answer_bytes", text)
                self.assertIn("offset %d" % off, text)
                too_big.append(off)
                off += 1
                continue
            sc = res["structuredContent"]
            self.assertLessEqual(len(json.dumps(res)), 48 * 1024)
            seen |= {m["id"] for m in sc["items"]}
            if not sc.get("truncated"):
                break
            self.assertGreater(sc["nextOffset"], off)
            off = sc["nextOffset"]
        self.assertEqual(len(seen), 30)
        self.assertEqual(len(too_big), 1)
        self.assertNotIn("huge", seen)

    def test_one_answer_over_the_budget_is_an_error(self):
        sid = self.session()
        res = self.tool(sid, "get_mock", {"id": "huge"})
        self.assertTrue(res["isError"], res)
        self.assertIn("tool_answer_bytes", res["content"][0]["text"])
        self.assertLess(len(json.dumps(res)), 4096)

    def test_batch_answer_bytes(self):
        sid = self.session(version=BATCH_VERSION)
        batch = [call_tool("list_mocks", {"namespace": "budget",
                                          "limit": 10}, id=i)
                 for i in range(8)]
        r = self.post(batch, session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(len(r.body), 100 * 1024)
        answers = r.json()
        self.assertEqual([a["id"] for a in answers], list(range(8)))
        ok = [a for a in answers if "result" in a]
        cut = [a for a in answers if "error" in a]
        self.assertTrue(ok, answers)
        self.assertTrue(cut, "no answer was cut")
        # answers in order: once the budget is spent, the rest are errors
        self.assertEqual(answers[:len(ok)], ok)
        for a in cut:
            self.assertEqual(a["error"]["code"], -32000, a)
            self.assertIn("batch_answer_bytes", a["error"]["message"])

    def test_batch_time_budget(self):
        up = upstream.serve(Slow)
        try:
            url = "http://127.0.0.1:%d/slow" % up.server_address[1]
            sid = self.session(version=BATCH_VERSION)
            batch = [call_tool("http_request", {"url": url}, id=i)
                     for i in range(5)]
            t0 = time.time()
            r = self.post(batch, session=sid, headers={})
            took = time.time() - t0
            self.assertEqual(r.status, 200, r)
            answers = r.json()
            self.assertEqual([a["id"] for a in answers], list(range(5)))
            self.assertIn("result", answers[0], answers[0])
            self.assertEqual(answers[0]["result"]["structuredContent"]
                             ["status"], 200, answers[0])
            late = [a for a in answers if "error" in a]
            self.assertTrue(late, answers)
            self.assertIn("error", answers[-1])
            for a in late:
                self.assertEqual(a["error"]["code"], -32000, a)
                self.assertIn("batch_time_budget", a["error"]["message"])
                self.assertIn("not started", a["error"]["message"].lower())
            # calls run one after another and stop at the budget
            self.assertLess(took, 3.0)
        finally:
            upstream.stop(up)

    def test_batch_of_big_lists_stays_in_its_budgets(self):
        sid = self.session(version=BATCH_VERSION)
        batch = [call_tool("list_mocks", {"namespace": "budget",
                                          "limit": 1000}, id=i)
                 for i in range(100)]
        r = self.post(batch, session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(len(r.body), 100 * 1024)
        self.assertEqual(len(r.json()), 100)


if __name__ == "__main__":
    harness.main()
