"""MCP transport conformance details found in review, one test per finding.

- CORS for browser clients (the MCP Inspector): OPTIONS preflight on the
  control server (/mcp, /mcp/sse, /mcp/message, own port) and on the mock
  servers, Access-Control-Allow-Origin and Expose-Headers: Mcp-Session-Id
  on every answer to an allowed Origin, none for other origins, which the
  control server still refuses (DNS-rebinding protection).
- An HTTP+SSE stream whose client never reads is bounded: the server drops
  the connection and the session instead of buffering without end.
- Hostile JSON: non-UTF-8 inside strings, duplicate keys, deep nesting,
  very long header values.
"""

import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ADMIN_TOKEN  # noqa: E402
from test_mcp_transport import (CONFIG, JSON_HEADERS, McpServer,  # noqa
                                curl, init_msg, msg)

LOCAL = "http://localhost:6274"  # where the MCP Inspector's page lives
EXTRA = "https://inspector.example"
EVIL = "http://evil.example"
REQUIRED_HEADERS = ("content-type", "authorization", "x-api-key",
                    "mcp-session-id", "mcp-protocol-version",
                    "last-event-id", "x-doppel-namespace")


def header_list(value):
    return [v.strip().lower() for v in value.split(",")]


class Cors(McpServer):
    config = CONFIG + "allowed_origins = %s\n" % EXTRA

    def preflight(self, url, origin):
        h = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers":
             "content-type,x-api-key,mcp-session-id,mcp-protocol-version"}
        if origin:
            h["Origin"] = origin
        return curl(url, "OPTIONS", None, h)

    def assert_cors(self, r, origin):
        self.assertEqual(r.headers.get("access-control-allow-origin"),
                         origin, r)
        self.assertIn("mcp-session-id", header_list(
            r.headers.get("access-control-expose-headers", "")), r)
        self.assertEqual(r.headers.get("vary"), "Origin", r)

    def assert_no_cors(self, r):
        for k in r.headers:
            self.assertFalse(k.startswith("access-control-"), r)

    def test_preflight_control_server(self):
        for url in (self.url(), self.url(own=True), self.url(path="/mcp/sse"),
                    self.url(path="/mcp/message")):
            for origin in (LOCAL, "http://127.0.0.1:5173", EXTRA):
                r = self.preflight(url, origin)
                self.assertEqual(r.status, 204, (url, r))
                self.assertEqual(r.body, b"")
                self.assert_cors(r, origin)
                methods = header_list(
                    r.headers["access-control-allow-methods"])
                for m in ("get", "post", "delete", "options"):
                    self.assertIn(m, methods, r)
                allowed = header_list(
                    r.headers["access-control-allow-headers"])
                for h in REQUIRED_HEADERS:
                    self.assertIn(h, allowed, r)
                self.assertIn("access-control-max-age", r.headers)
            # a page on another site: refused, nothing a browser would use
            r = self.preflight(url, EVIL)
            self.rpc_error(r, 403, -32000)
            self.assert_no_cors(r)
            # not a browser: just the methods
            r = self.preflight(url, None)
            self.assertEqual(r.status, 204, r)
            self.assertIn("OPTIONS", r.headers["allow"])
            self.assert_no_cors(r)

    def test_answers_carry_cors_headers(self):
        o = {"Origin": LOCAL}
        r = self.post(init_msg(), headers=o)
        self.assertEqual(r.status, 200, r)
        self.assert_cors(r, LOCAL)
        sid = r.headers["mcp-session-id"]
        r = self.post(msg("notifications/initialized", None), session=sid,
                      headers=o)
        self.assertEqual(r.status, 202, r)
        self.assert_cors(r, LOCAL)
        r = self.post(msg("tools/list", 2), session=sid,
                      headers=dict(o, Accept="text/event-stream"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/event-stream")
        self.assert_cors(r, LOCAL)
        # errors too, or the page could not read why
        r = self.post(msg("ping", 3), session="0" * 32, headers=o)
        self.rpc_error(r, 404, -32001)
        self.assert_cors(r, LOCAL)
        r = curl(self.url(), "GET", None, dict(o, **{
            "X-API-Key": ADMIN_TOKEN, "Accept": "text/event-stream"}))
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.headers["allow"], "POST, DELETE, OPTIONS")
        self.assert_cors(r, LOCAL)
        r = self.post(msg("ping", 4), token=None, session=sid, headers=o)
        self.assertEqual(r.status, 401, r)
        self.assert_cors(r, LOCAL)
        r = self.post(msg("ping", 5), session=sid,
                      headers={"Origin": EXTRA})
        self.assertEqual(r.status, 200, r)
        self.assert_cors(r, EXTRA)
        r = curl(self.url(), "DELETE", None, dict(o, **{
            "X-API-Key": ADMIN_TOKEN, "Mcp-Session-Id": sid}))
        self.assertEqual(r.status, 204, r)
        self.assert_cors(r, LOCAL)
        # another origin stays refused (DNS-rebinding protection)
        r = self.post(init_msg(), headers={"Origin": EVIL})
        self.rpc_error(r, 403, -32000)
        self.assert_no_cors(r)
        self.assertNotIn("mcp-session-id", r.headers)
        # no Origin (every non-browser client): no CORS headers
        r = self.post(init_msg())
        self.assertEqual(r.status, 200, r)
        self.assert_no_cors(r)

    def test_http_sse_transport_cors(self):
        s = socket.create_connection((self.d.host, self.d.port), timeout=10)
        try:
            s.sendall(b"GET /mcp/sse HTTP/1.1\r\nHost: x\r\n"
                      b"Origin: " + LOCAL.encode() + b"\r\n"
                      b"Accept: text/event-stream\r\nX-API-Key: " +
                      ADMIN_TOKEN.encode() + b"\r\n\r\n")
            buf = b""
            deadline = time.time() + 10
            while b"event: endpoint" not in buf and time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            head = buf.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
            self.assertIn("access-control-allow-origin: " + LOCAL, head)
            sid = re.search(rb"sessionId=([0-9a-f]{32})", buf).group(1)
            r = self.post(msg("ping", 1), headers={"Origin": LOCAL},
                          path="/mcp/message?sessionId=" + sid.decode())
            self.assertEqual(r.status, 202, r)
            self.assert_cors(r, LOCAL)
        finally:
            s.close()

    def test_mock_servers(self):
        url = self.url(path="/stubs/sandbox/mcp")
        for path in ("/stubs/sandbox/mcp", "/stubs/sandbox/mcp/weather"):
            r = self.preflight(self.url(path=path), LOCAL)
            self.assertEqual(r.status, 204, r)
            self.assert_cors(r, LOCAL)
            self.rpc_error(self.preflight(self.url(path=path), EVIL), 403,
                           -32000)
        r = curl(url, "POST", init_msg(), dict(JSON_HEADERS, Origin=LOCAL))
        self.assertEqual(r.status, 200, r)
        self.assert_cors(r, LOCAL)
        # mock servers stay open (as documented), but a page of another
        # site gets no CORS headers, so its browser hides the answer
        r = curl(url, "POST", init_msg(), dict(JSON_HEADERS, Origin=EVIL))
        self.assertEqual(r.status, 200, r)
        self.assert_no_cors(r)


class StreamBacklog(McpServer):
    """A client that opens the HTTP+SSE stream and never reads it, then
    posts requests with large answers: the server closes the stream and
    ends the session once 4 MiB pile up, instead of buffering them all."""

    config = CONFIG.replace("page_size = 4", "page_size = 1000")

    def test_unread_stream_is_dropped(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect((self.d.host, self.d.port))
        try:
            s.sendall(b"GET /mcp/sse HTTP/1.1\r\nHost: x\r\n"
                      b"Accept: text/event-stream\r\nX-API-Key: " +
                      ADMIN_TOKEN.encode() + b"\r\n\r\n")
            buf = b""
            deadline = time.time() + 10
            while not re.search(rb"sessionId=[0-9a-f]{32}", buf):
                self.assertLess(time.time(), deadline)
                buf += s.recv(4096)
            sid = re.search(rb"sessionId=([0-9a-f]{32})", buf).group(1)
            path = "/mcp/message?sessionId=" + sid.decode()
            answer = len(self.post(msg("tools/list", 1),
                                   session=self.session()).body)
            self.assertGreater(answer, 10000)
            # Without a bound this goes on for all 2000 posts (~30 MB
            # queued); with it the session ends after a few MB.
            status, n = 202, 0
            while status == 202 and n < 2000:
                n += 1
                status = self.post(msg("tools/list", n), path=path).status
            self.assertEqual(status, 404, "still accepted after %d answers "
                             "of %d bytes" % (n, answer))
            self.assertLess(n * answer, 16 << 20)
            r = self.post(msg("ping", 1), session=self.session())
            self.assertEqual(r.status, 200, r)
        finally:
            s.close()


class HostileInput(McpServer):
    config = CONFIG.replace("max_message_bytes = 2k",
                            "max_message_bytes = 1m")

    def test_json(self):
        sid = self.session()
        # invalid UTF-8 inside a string: jansson refuses, -32700
        for bad in (b'{"jsonrpc":"2.0","id":1,"method":"pi\xffng"}',
                    b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
                    b'"params":{"name":"get_mock","arguments":'
                    b'{"id":"\xc0\xaf"}}}'):
            js = self.rpc_error(self.post(bad, session=sid), 400, -32700)
            self.assertIsNone(js["id"])
        # duplicate keys: the last one counts (jansson's rule)
        r = self.post(b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
                      session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"jsonrpc": "2.0", "id": 2, "result": {}})
        # deep nesting: refused by the parser's depth limit, no crash
        for depth in (5000, 200000):
            deep = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' \
                b'{"_meta":' + b"[" * depth + b"]" * depth + b"}}"
            self.rpc_error(self.post(deep, session=sid), 400, -32700)
        # moderate nesting under _meta is passed over
        ok = b'{"jsonrpc":"2.0","id":3,"method":"ping","params":' \
            b'{"_meta":' + b"[" * 100 + b"]" * 100 + b"}}"
        self.assertEqual(self.post(ok, session=sid).json()["result"], {})
        self.assertEqual(self.post(msg("ping", 4), session=sid).status, 200)

    def test_long_headers(self):
        sid = self.session()
        r = self.post(msg("ping", 1), session="a" * 6000)
        self.rpc_error(r, 404, -32001)
        # a port of 6000 digits is no port: not a loopback Origin
        r = self.post(msg("ping", 1), session=sid,
                      headers={"Origin": "http://localhost:" + "1" * 6000})
        self.assertIn(r.status, (403, 431), r)
        self.assertNotIn("access-control-allow-origin", r.headers)
        r = self.post(msg("ping", 1), session=sid,
                      headers={"Origin": "http://" + "a" * 6000})
        self.assertIn(r.status, (403, 431), r)
        self.assertNotIn("access-control-allow-origin", r.headers)
        r = self.post(msg("ping", 1), session=sid,
                      version="2025-06-18" + "x" * 6000)
        self.rpc_error(r, 400, -32000)
        self.assertEqual(self.post(msg("ping", 2), session=sid).status, 200)


if __name__ == "__main__":
    unittest.main()
