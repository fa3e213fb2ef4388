"""The host's HTTP/1.1 front against the real binary: health routes,
metrics exposition, limits, timeouts, pipelining, chunked bodies, drain."""

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Doppel, main  # noqa: E402

# Small limits so the limit tests are quick; everything else is default.
LIMITS = """
[server]
max_header_bytes = 4k
max_body_bytes = 64k
header_timeout = 1500ms
body_timeout = 1500ms
"""

# One Prometheus 0.0.4 sample line: name, optional labels, value.
SAMPLE_RE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})?'
    r' (?:[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)$')


def parse_responses(data):
    """Splits raw bytes into (status, headers, body) tuples (Content-Length
    framing only; enough for the front's own answers)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


class HttpFrontTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=LIMITS)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_health_document(self):
        r = self.d.get("/health")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        doc = r.json()
        # the health-check format the SDKs read ...
        self.assertEqual(doc["status"], "pass")
        self.assertRegex(doc["releaseId"], r"^\d+\.\d+\.\d+")
        self.assertRegex(doc["uptime"], r"^(\d+h\d+m\d+s|\d+m\d+s|\d+s)$")
        self.assertEqual(sorted(doc["checks"]),
                         sorted("plugin:" + p["name"] for p in doc["plugins"]))
        for name, checks in doc["checks"].items():
            self.assertEqual(len(checks), 1, name)
            self.assertEqual(checks[0]["status"], "pass", checks)
            self.assertEqual(checks[0]["observedValue"], "started", checks)
            self.assertEqual("plugin:" + checks[0]["componentId"], name)
        # ... beside doppel's own keys
        self.assertEqual(doc["state"], "ok")
        self.assertEqual(doc["version"], doc["releaseId"])
        self.assertGreaterEqual(doc["uptimeSeconds"], 0)
        self.assertIsInstance(doc["plugins"], list)
        for p in doc["plugins"]:
            for key in ("name", "plugin", "version", "kind", "state",
                        "workers", "workersStarted"):
                self.assertIn(key, p)
            self.assertIn(p["kind"], ("protocol", "feature"))
        # every answer carries the front's own headers
        self.assertIn("date", r.headers)
        self.assertTrue(r.headers["server"].startswith("doppel/"))
        self.assertRegex(r.headers["x-request-id"], r"^[0-9a-f]{16}$")

    def test_live_and_ready(self):
        r = self.d.get("/health/live")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        r = self.d.get("/health/ready")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))

    def test_request_id_echoed(self):
        r = self.d.get("/health/live", headers={"X-Request-Id": "trace-42.a_b"})
        self.assertEqual(r.headers["x-request-id"], "trace-42.a_b")

    def test_metrics_exposition(self):
        for _ in range(3):
            self.d.get("/health/live")
        r = self.d.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith(
            "text/plain; version=0.0.4"))
        text = r.body.decode()
        self.assertTrue(text.endswith("\n"))
        self.assertIn("# TYPE doppel_http_requests_total counter\n", text)
        self.assertIn("# TYPE doppel_http_request_duration_seconds histogram\n",
                      text)
        m = re.search(r'^doppel_http_requests_total\{owner="host",'
                      r'status="200"\} (\d+)$', text, re.M)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 3)
        self.assertRegex(text, r'(?m)^doppel_http_request_duration_seconds_'
                               r'bucket\{owner="host",le="\+Inf"\} \d+$')
        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) ")
                continue
            self.assertRegex(line, SAMPLE_RE)

    def test_unknown_path_404(self):
        r = self.d.get("/no/such/route", headers={"X-Request-Id": "r404"})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json(), {"error": "no route", "code": "not_found",
                                    "request_id": "r404"})

    def test_malformed_request_line(self):
        out = self.d.raw(b"THIS IS NOT HTTP\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        (status, headers, body), = parse_responses(out)
        self.assertEqual(headers["connection"], "close")
        self.assertEqual(json.loads(body)["code"], "bad_request")

    def test_oversized_headers(self):
        req = (b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " +
               b"a" * 8000 + b"\r\n\r\n")
        out = self.d.raw(req)
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:200])

    def test_oversized_body_by_length(self):
        # refused from the Content-Length alone, before any body is sent
        out = self.d.raw(b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 1000000\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:200])

    def test_oversized_chunked_body(self):
        chunk = b"x" * 30000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(3)) + b"0\r\n\r\n"
        out = self.d.raw(b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + body)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:200])

    def test_chunked_body_accepted(self):
        # a de-chunked body reaches the route: /health/live answers any
        # method-appropriate request; POST gets 405, proving it was routed
        # only after the whole chunked body was read
        out = self.d.raw(b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"4\r\nabcd\r\n0\r\n\r\n"
                         b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
        rs = parse_responses(out)
        self.assertEqual([s for s, _, _ in rs], [405, 200])

    def test_pipelined_requests(self):
        reqs = b"".join(
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: p%d\r\n\r\n"
            % i for i in range(5))
        reqs += (b"GET /health HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n")
        rs = parse_responses(self.d.raw(reqs))
        self.assertEqual(len(rs), 6)
        self.assertEqual([h["x-request-id"] for _, h, _ in rs[:5]],
                         ["p%d" % i for i in range(5)])
        self.assertEqual(json.loads(rs[5][2])["status"], "pass")

    def test_slow_client_cut_off_others_served(self):
        s = socket.create_connection((self.d.host, self.d.port), timeout=10)
        got = {}

        def trickle():
            # one byte a second: the head never completes in time
            try:
                for b in b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n":
                    s.sendall(bytes([b]))
                    time.sleep(1.0)
            except OSError:
                pass

        def reader():
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            got["data"] = data
            got["at"] = time.time()

        start = time.time()
        t1 = threading.Thread(target=trickle, daemon=True)
        t2 = threading.Thread(target=reader, daemon=True)
        t1.start()
        t2.start()
        # meanwhile another client is served promptly
        for _ in range(5):
            r = self.d.get("/health/live", timeout=2)
            self.assertEqual(r.status, 200)
        t2.join(timeout=8)
        s.close()
        self.assertFalse(t2.is_alive(), "slow client was never cut off")
        self.assertLess(got["at"] - start, 7)
        data = got["data"]
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408 "), data)

    def test_hostile_input_does_not_hurt(self):
        # mutated and truncated requests, each on its own connection; the
        # server must answer or close, and keep serving (the class teardown
        # also checks the log for sanitizer reports)
        import random
        rnd = random.Random(1234)
        seeds = [
            b"GET /health/live?x=%41 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            b"POST /health HTTP/1.1\r\nContent-Length: 3\r\n"
            b"Expect: 100-continue\r\n\r\nabc",
        ]
        for _ in range(150):
            data = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 6)):
                op = rnd.random()
                pos = rnd.randrange(len(data) + 1)
                if op < 0.4 and data:
                    data[min(pos, len(data) - 1)] = rnd.randrange(256)
                elif op < 0.7:
                    data[pos:pos] = bytes(rnd.choice(
                        [b"%", b"\r\n", b":", b" ", b"\x00", b"%00", b"ffff",
                         b"\r\n\r\n", b"Transfer-Encoding: chunked\r\n",
                         b"Content-Length: 99999999999999999999\r\n"]))
                else:
                    del data[pos:pos + rnd.randint(1, 8)]
            out = self.d.raw(bytes(data), read_timeout=0.3, shutdown=True)
            if out:
                self.assertTrue(out.startswith(b"HTTP/1.1 "), out[:100])
        self.assertEqual(self.d.get("/health/live").status, 200)

    def test_head_has_no_body(self):
        out = self.d.raw(b"HEAD /health/live HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"Content-Length: 15", head)
        self.assertEqual(body, b"")


class HttpFrontDrainTest(unittest.TestCase):

    def test_sigterm_lets_slow_request_finish(self):
        d = Doppel(config=LIMITS.replace("1500ms", "10s"))
        try:
            s = socket.create_connection((d.host, d.port), timeout=10)
            body = b'{"x":1}'
            s.sendall(b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body[:3])
            time.sleep(0.3)  # the request is in flight, its body half-sent
            d.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(d.proc.poll(), "exited with a request in flight")
            s.sendall(body[3:])
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            (status, headers, _), = parse_responses(data)
            self.assertEqual(status, 405)  # answered by the route, not cut
            self.assertEqual(headers["connection"], "close")
            self.assertEqual(d.proc.wait(timeout=15), 0)
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.logf.close()


class PlatformMetricsTest(unittest.TestCase):
    """/metrics also under the names the mock platforms' dashboards use."""

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_metrics_under_the_platform_names(self):
        ns = "metrics-%d" % os.getpid()
        ids = []
        for route, code in (("/m-ok", 200), ("/m-down", 503)):
            r = self.d.post("/api/v1/mocks", {
                "namespace": ns, "http": {"route": route},
                "response": {"statusCode": code, "payload": {"r": route}}})
            self.assertIn(r.status, (200, 201), r)
            ids.append(r.json()["mock"]["id"])
        for _ in range(3):
            self.assertEqual(self.d.get("/stubs/%s/m-ok" % ns).status, 200)
        self.assertEqual(self.d.get("/stubs/%s/m-down" % ns).status, 503)
        text = self.d.get("/metrics").body.decode()
        for line in text.splitlines():
            if not line.startswith("#"):
                self.assertRegex(line, SAMPLE_RE)

        def sample(name, labels):
            m = re.search(r"(?m)^%s\{%s\} (\S+)$" % (
                re.escape(name), re.escape(labels)), text)
            self.assertIsNotNone(m, "%s{%s} not in:\n%s" % (name, labels, text))
            return float(m.group(1))

        lab = 'owner="http",status="200"'
        self.assertGreaterEqual(sample("mockarty_http_requests_total", lab), 3)
        self.assertEqual(sample("mockarty_http_requests_total", lab),
                         sample("doppel_http_requests_total", lab))
        self.assertEqual(
            sample("mockarty_http_request_duration_seconds_count",
                   'owner="http"'),
            sample("doppel_http_request_duration_seconds_count",
                   'owner="http"'))
        self.assertIn("# TYPE mockarty_http_request_duration_seconds "
                      "histogram\n", text)
        self.assertEqual(sample("mockarty_mock_requests_total",
                                'mock_id="%s",namespace="%s",protocol="http"'
                                % (ids[0], ns)), 3)
        self.assertEqual(sample("mockarty_mock_requests_total",
                                'mock_id="%s",namespace="%s",protocol="http"'
                                % (ids[1], ns)), 1)
        self.assertEqual(sample("mockarty_mocks_total",
                                'namespace="%s",protocol="http"' % ns), 2)
        self.assertGreaterEqual(sample("mockarty_errors_total",
                                       'owner="http"'), 1)
        # a closed mock no longer counts as a mock that can match
        self.assertEqual(self.d.request("DELETE",
                                        "/api/v1/mocks/" + ids[1]).status, 200)
        text = self.d.get("/metrics").body.decode()
        self.assertEqual(sample("mockarty_mocks_total",
                                'namespace="%s",protocol="http"' % ns), 1)

    def test_rate_limit_hits_metric(self):
        with Doppel() as d:
            for _ in range(12):
                r = d.get("/api/v1/mocks",
                          headers={"Authorization": "Bearer mk_wrong"})
            self.assertEqual(r.status, 429, r)
            text = d.get("/metrics").body.decode()
            m = re.search(r'(?m)^mockarty_rate_limit_hits_total\{owner="host"\}'
                          r" (\d+)$", text)
            self.assertIsNotNone(m, text)
            self.assertGreaterEqual(int(m.group(1)), 1)


if __name__ == "__main__":
    main()
