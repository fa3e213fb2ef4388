"""Publishing to SSE subscribers (the sse section's operator actions):
POST /api/v1/protocols/sse/actions/publish sends one event to every open
stream of a path in a namespace, on both workers, between the events of
their chains; GET .../actions/subscribers counts the open streams; the MCP
tool protocol_action does the same for an agent; bad arguments are 400s
naming the member and send nothing; a viewer may count but not publish."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_grpc_agent as ga  # noqa: E402  (its AgentSide: MCP calls)
from harness import ADMIN_TOKEN, Doppel  # noqa: E402

ACT = "/api/v1/protocols/sse/actions/"
# one event, then a long wait: the stream stays open for the test
CHAIN = {"events": [{"eventName": "hello", "data": {"n": 0}},
                    {"eventName": "late", "data": "x", "delay": 600000}]}


class Stream:
    """A raw subscriber: GET with Accept: text/event-stream, read as it
    comes (chunked coding left in: the tests look for event text)."""

    def __init__(self, d, path, ns=None):
        self.s = socket.create_connection((d.host, d.port), timeout=5)
        extra = "X-Namespace: %s\r\n" % ns if ns else ""
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: "
                        "text/event-stream\r\n%s\r\n" % (path, extra)).encode())
        self.buf = b""

    def wait_for(self, text, timeout=5):
        deadline = time.time() + timeout
        while text.encode() not in self.buf and time.time() < deadline:
            self.s.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buf += chunk
        return text.encode() in self.buf

    def close(self):
        self.s.close()


class Publish(ga.AgentSide, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(workers=2)
        for ns in ("sandbox", "pub-b"):
            r = cls.d.post("/api/v1/mocks", {
                "namespace": ns, "sse": {"eventPath": "/events/deploy"},
                "response": {"sseEventChain": CHAIN}})
            assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, path, body=body,
                           headers={"X-API-Key": token})
        return r.status, (r.json() if r.body else None)

    def open_streams(self, n, path="/events/deploy", ns=None):
        streams = [Stream(self.d, path, ns) for _ in range(n)]
        for s in streams:
            self.assertTrue(s.wait_for("event: hello"), s.buf)
        return streams

    def count(self, ns="sandbox", path="/events/deploy"):
        st, js = self.api("GET", ACT + "subscribers?namespace=%s&path=%s"
                          % (ns, path))
        self.assertEqual(st, 200, js)
        return js["total"]

    def wait_count(self, n, **kw):
        deadline = time.time() + 5
        while self.count(**kw) != n and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.count(**kw), n)

    def test_publish_reaches_every_subscriber_of_the_path_only(self):
        mine = self.open_streams(6)  # over two workers
        other = self.open_streams(1, ns="pub-b")
        self.wait_count(6)
        st, js = self.api("POST", ACT + "publish", {
            "path": "/events/deploy", "event": "deployed", "id": "d-1",
            "retry": 2500, "data": {"version": "1.2.3"}})
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"namespace": "sandbox",
                              "path": "/events/deploy", "subscribers": 6})
        for s in mine:
            self.assertTrue(s.wait_for('data: {"version":"1.2.3"}'), s.buf)
            text = s.buf.decode()
            self.assertIn("event: deployed\nid: d-1\nretry: 2500\n", text)
        self.assertFalse(other[0].wait_for("deployed", timeout=0.5))
        # a string goes as is, one data line per line
        st, js = self.api("POST", ACT + "publish?namespace=pub-b",
                          {"path": "/events/deploy", "data": "a\nb"})
        self.assertEqual((st, js["subscribers"]), (200, 1), js)
        self.assertTrue(other[0].wait_for("data: a\ndata: b\n\n"))
        for s in mine + other:
            s.close()
        self.wait_count(0)
        self.wait_count(0, ns="pub-b")

    def test_publish_with_no_subscriber_and_other_paths(self):
        st, js = self.api("POST", ACT + "publish",
                          {"path": "/events/none", "data": 1})
        self.assertEqual((st, js["subscribers"]), (200, 0), js)
        st, js = self.api("GET", ACT + "subscribers?namespace=nobody")
        self.assertEqual(js, {"namespace": "nobody", "total": 0,
                              "paths": []})

    def test_bad_arguments_are_refused_and_send_nothing(self):
        s = self.open_streams(1)[0]
        self.wait_count(1)
        for body, field in (({"data": 1}, "path"),
                            ({"path": "events", "data": 1}, "path"),
                            ({"path": "/events/deploy"}, "data"),
                            ({"path": "/events/deploy", "data": 1,
                              "event": 5}, "event"),
                            ({"path": "/events/deploy", "data": 1,
                              "retry": -1}, "retry"),
                            ({"path": "/events/deploy", "data": 1,
                              "id": "x" * 300}, "id"),
                            ({"path": "/events/deploy", "data": 1,
                              "colour": "red"}, "colour")):
            st, js = self.api("POST", ACT + "publish", body)
            self.assertEqual((st, js["field"], js["code"]),
                             (400, field, "validation"), (body, js))
        self.assertFalse(s.wait_for("data: 1", timeout=0.5))
        st, js = self.api("GET", ACT + "subscribers?path=nope")
        self.assertEqual((st, js["field"]), (400, "path"), js)
        s.close()
        self.wait_count(0)

    def test_a_viewer_counts_but_does_not_publish(self):
        tok = ga.DescribeContract.token_of(self, "sse-viewer",
                                           {"pub-v": "viewer"})
        st, js = self.api("GET", ACT + "subscribers?namespace=pub-v",
                          token=tok)
        self.assertEqual(st, 200, js)
        st, js = self.api("POST", ACT + "publish?namespace=pub-v",
                          {"path": "/x", "data": 1}, token=tok)
        self.assertEqual(st, 403, js)

    def test_an_agent_publishes_through_the_mcp_tool(self):
        if not ga.mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        s = self.open_streams(1)[0]
        self.wait_count(1)
        described, count, pub = self.calls([
            ("describe_protocol", {"section": "sse"}),
            ("protocol_action", {"section": "sse", "action": "subscribers",
                                 "args": {"path": "/events/deploy"}}),
            ("protocol_action", {"section": "sse", "action": "publish",
                                 "args": {"path": "/events/deploy",
                                          "event": "agent",
                                          "data": {"by": "mcp"}}}),
        ])
        names = [a["name"] for a in self.ok(described)["actions"]]
        self.assertEqual(names, ["subscribers", "publish"])
        self.assertEqual(self.ok(count)["total"], 1)
        self.assertEqual(self.ok(pub)["subscribers"], 1)
        self.assertTrue(s.wait_for('event: agent\ndata: {"by":"mcp"}'),
                        s.buf)
        s.close()
        self.wait_count(0)


if __name__ == "__main__":
    harness.main()
