"""Mocks with `proxy: {target}` forward to a real upstream started by the
test, through the host's outbound client and its address guard."""

import http.server
import json
import socket
import unittest

import harness
import upstream
from harness import Doppel


class Upstream:
    """A small HTTP server on 127.0.0.1:0 that answers 201 with a JSON echo
    of what it received and remembers every request."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                seen.append({"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in
                                         self.headers.items()},
                             "body": body})
                out = json.dumps({"echo": self.path, "body": body}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Up", "yes")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = upstream.serve(Handler)
        self.port = self.server.server_address[1]

    def close(self):
        upstream.stop(self.server)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ProxyMockTest(unittest.TestCase):
    def setUp(self):
        self.up = Upstream()

    def tearDown(self):
        self.up.close()

    def mock(self, d, target, route="/api/*", ns=None):
        m = {"http": {"route": route}, "proxy": {"target": target}}
        if ns:
            m["namespace"] = ns
        r = d.post("/api/v1/mocks", m)
        self.assertEqual(r.status, 201, r)
        return r.json()["mock"]["id"]

    def test_forwards_and_passes_the_answer_back(self):
        env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
        with Doppel(env=env) as d:
            mid = self.mock(d, "http://127.0.0.1:%d" % self.up.port)
            r = d.get("/api/items?x=1&y=2", headers={"X-Trace": "t1",
                                                     "Connection": "keep-alive"})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.headers.get("x-up"), "yes")
            self.assertEqual(r.headers.get("x-doppel-mock-id"), mid)
            self.assertEqual(r.json()["echo"], "/api/items?x=1&y=2")
            got = self.up.seen[-1]
            self.assertEqual(got["method"], "GET")
            self.assertEqual(got["headers"].get("x-trace"), "t1")
            self.assertEqual(got["headers"].get("host"),
                             "127.0.0.1:%d" % self.up.port)
            # a body goes through untouched
            r = d.post("/api/orders", {"sku": "a-1", "qty": 2})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(json.loads(self.up.seen[-1]["body"]),
                             {"sku": "a-1", "qty": 2})
            self.assertEqual(self.up.seen[-1]["method"], "POST")

    def test_stubs_path_and_target_base_path(self):
        env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
        with Doppel(env=env) as d:
            self.mock(d, "http://127.0.0.1:%d/base/" % self.up.port,
                      route="/v1/*", ns="shop")
            r = d.get("/stubs/shop/v1/carts/7")
            self.assertEqual(r.status, 201, r)
            self.assertEqual(self.up.seen[-1]["path"], "/base/v1/carts/7")

    def test_guard_refuses_loopback_unless_allowed(self):
        with Doppel() as d:  # no ALLOW_PROXY_TO_PRIVATE_IPS
            self.mock(d, "http://127.0.0.1:%d" % self.up.port)
            r = d.get("/api/secret")
            self.assertEqual(r.status, 502, r)
            body = r.json()
            self.assertEqual(body["code"], "unavailable")
            self.assertIn("loopback", body["error"])
            self.assertEqual(self.up.seen, [])  # nothing reached it
            # a name that resolves to loopback is refused the same way
            self.mock(d, "http://localhost:%d" % self.up.port, route="/n/*")
            r = d.get("/n/x")
            self.assertEqual(r.status, 502, r)
            self.assertIn("loopback", r.json()["error"])
            self.assertEqual(self.up.seen, [])

    def test_guard_also_configurable_in_plugins_conf(self):
        conf = "[server]\nallow_private_upstreams = on\n\n[http]\nenabled = true\n"
        with Doppel(config=conf) as d:
            self.mock(d, "http://127.0.0.1:%d" % self.up.port)
            self.assertEqual(d.get("/api/ok").status, 201)

    def test_dead_upstream_is_a_502(self):
        env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
        with Doppel(env=env) as d:
            self.mock(d, "http://127.0.0.1:%d" % closed_port())
            r = d.get("/api/x")
            self.assertEqual(r.status, 502, r)
            self.assertTrue(r.json()["error"].startswith("upstream:"), r)
            # the server still serves
            self.assertEqual(d.get("/health/live").status, 200)


class ForwardedJournalTest(unittest.TestCase):
    """The journal shows what the client of a forwarded request got: the
    upstream's status, or the 502 of a refused forward, with the latency
    up to the answer (the plugin reports the end: engine_forwarded)."""

    def setUp(self):
        self.up = Upstream()

    def tearDown(self):
        self.up.close()

    def entry(self, d, path):
        items = d.get("/api/v1/requests?limit=1000").json()["items"]
        found = [i for i in items if i["path"] == path]
        self.assertEqual(len(found), 1, items)
        return found[0]

    def test_upstream_status_and_guard_refusal(self):
        env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
        with Doppel(env=env) as d:
            r = d.post("/api/v1/mocks", {
                "http": {"route": "/api/*"},
                "proxy": {"target": "http://127.0.0.1:%d" % self.up.port}})
            self.assertEqual(r.status, 201, r)
            mid = r.json()["mock"]["id"]
            r = d.post("/api/orders", {"sku": "a-1"},
                       headers={"Authorization": "Bearer SECRET-FWD-1"})
            self.assertEqual(r.status, 201, r)
            e = self.entry(d, "/api/orders")
            self.assertEqual(e["status"], 201, e)
            self.assertIs(e["forwarded"], True, e)
            self.assertEqual(e["mockId"], mid, e)
            self.assertEqual(e["method"], "POST", e)
            self.assertNotIn("forwardError", e)
            self.assertGreater(e["latencyUs"], 0, e)
            self.assertEqual(e["headers"]["authorization"], "[REDACTED]", e)
        del self.up.seen[:]
        with Doppel() as d:  # the guard is on
            r = d.post("/api/v1/mocks", {
                "http": {"route": "/api/*"},
                "proxy": {"target": "http://127.0.0.1:%d" % self.up.port}})
            self.assertEqual(r.status, 201, r)
            r = d.post("/api/orders", {"sku": "a-1"})
            self.assertEqual(r.status, 502, r)
            e = self.entry(d, "/api/orders")
            self.assertEqual(e["status"], 502, e)
            self.assertEqual(e["forwardError"], "guard", e)
            self.assertIs(e["forwarded"], True, e)
            self.assertEqual(self.up.seen, [])


if __name__ == "__main__":
    harness.main()
