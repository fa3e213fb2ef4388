"""`doppel mcp --stdio`: JSON-RPC lines on stdin are POSTed to a Streamable
HTTP endpoint, answers (JSON or SSE) come back as one line each on stdout.

The endpoint here is a small Python HTTP server written for this test, so
that every header the bridge sends, the session id carry-over, the DELETE
at the end of stdin and the mapping of HTTP errors can be checked exactly.
(The end-to-end test against doppel's own MCP plugin with the official MCP
client lives with the plugin's tests.)"""

import http.server
import json
import os
import socket
import subprocess
import threading
import unittest

import harness

SESSION = "sess-Abc_123"


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests = []  # (method, headers dict lower-case, body) in order
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def record(self, body):
        with self.lock:
            Recorder.requests.append(
                (self.command, {k.lower(): v for k, v in self.headers.items()},
                 body))

    def send(self, status, ctype, body, extra=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        self.record(b"")
        self.send(200, None, b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.record(body)
        msg = json.loads(body)
        method = msg.get("method") if isinstance(msg, dict) else "batch"
        mid = msg.get("id") if isinstance(msg, dict) else None
        if method == "initialize":
            res = {"jsonrpc": "2.0", "id": mid, "result": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "serverInfo": {"name": "fake", "version": "1"}}}
            # pretty-printed on purpose: the bridge writes one line
            self.send(200, "application/json",
                      json.dumps(res, indent=2).encode(),
                      {"Mcp-Session-Id": SESSION})
        elif method is None or method.startswith("notifications/"):
            self.send(202, None, b"")
        elif method == "tools/list":
            ev = (": a comment\r\n"
                  "event: message\r\n"
                  "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                  "progress\",\"params\":{\"progress\":1}}\r\n\r\n"
                  "event: message\r\n"
                  "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\r\n"
                  "data:  \"result\":{\"tools\":[{\"name\":\"a\\nb\"}]}}\r\n"
                  "\r\n" % json.dumps(mid))
            self.send(200, "text/event-stream", ev.encode())
        elif method == "stream/noanswer":
            ev = ("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                  "message\",\"params\":{}}\n\n")
            self.send(200, "text/event-stream", ev.encode())
        elif method == "fail/500":
            self.send(500, "application/json", b'{"error":"boom"}')
        elif method == "fail/rpc":
            self.send(400, "application/json", json.dumps(
                {"jsonrpc": "2.0", "id": mid, "error": {
                    "code": -32600, "message": "bad request shape"}}).encode())
        elif method == "fail/html":
            self.send(502, "text/html", b"<h1>bad gateway</h1>")
        elif method == "fail/404":
            self.send(404, "application/json",
                      b'{"error":"unknown session"}')
        elif method == "fail/cututf8":
            # the bridge quotes 200 bytes of a body: here the 200th byte is
            # the first half of a two-byte character
            self.send(502, "text/plain", b"x" * 199 + "\u00e9tail".encode())
        elif method == "fail/latin1":
            self.send(500, "text/plain", "\u00e9chec".encode("latin-1"))
        elif method == "batch":
            out = [{"jsonrpc": "2.0", "id": m["id"], "result": {}}
                   for m in msg if "id" in m]
            self.send(200, "application/json", json.dumps(out).encode())
        else:
            self.send(200, "application/json", json.dumps(
                {"jsonrpc": "2.0", "id": mid, "result": {"echo": method}}
            ).encode())


def rpc(mid, method, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if mid is not None:
        m["id"] = mid
    if params is not None:
        m["params"] = params
    return json.dumps(m)


class Bridge(unittest.TestCase):
    def setUp(self):
        Recorder.requests = []
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        self.srv.daemon_threads = True
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()
        self.url = "http://127.0.0.1:%d/mcp" % self.srv.server_address[1]

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()

    def run_bridge(self, lines, args=None, env=None, url=None):
        e = dict(os.environ)
        e.pop("DOPPEL_TOKEN", None)
        e.update(env or {})
        cmd = [harness.BIN, "mcp", "--stdio", "--url", url or self.url]
        cmd += args if args is not None else ["--token", "mk_tok",
                                              "--namespace", "team-a"]
        p = subprocess.run(cmd, input=("\n".join(lines) + "\n").encode(),
                           capture_output=True, timeout=30, env=e)
        # stdout is the protocol and must be UTF-8; the log on stderr may
        # quote a server's bytes as they came
        p.stdout = p.stdout.decode()
        p.stderr = p.stderr.decode(errors="replace")
        for m in harness.SANITIZER_MARKERS:
            self.assertNotIn(m, p.stderr)
        out = [json.loads(l) for l in p.stdout.splitlines()]
        # stdout is the protocol: one JSON value per line, nothing else
        self.assertEqual(len(out), len(p.stdout.splitlines()))
        return p.returncode, out, p.stderr

    def test_session_headers_sse_and_delete(self):
        code, out, err = self.run_bridge([
            rpc(1, "initialize", {"protocolVersion": "2025-06-18"}),
            rpc(None, "notifications/initialized"),
            "",
            rpc(2, "tools/list"),
            rpc("x", "ping"),
        ])
        self.assertEqual(code, 0, err)
        self.assertEqual(out[0]["id"], 1)
        self.assertEqual(out[0]["result"]["protocolVersion"], "2025-06-18")
        # the notification's 202 wrote nothing; the SSE answer gave two
        # messages, the progress notification first
        self.assertEqual(out[1]["method"], "notifications/progress")
        self.assertEqual(out[2], {"jsonrpc": "2.0", "id": 2, "result": {
            "tools": [{"name": "a\nb"}]}})
        self.assertEqual(out[3]["id"], "x")
        self.assertEqual(len(out), 4)

        reqs = Recorder.requests
        self.assertEqual([r[0] for r in reqs],
                         ["POST", "POST", "POST", "POST", "DELETE"])
        for method, h, body in reqs:
            self.assertEqual(h.get("x-api-key"), "mk_tok")
            self.assertNotIn("authorization", h)
            self.assertEqual(h.get("x-doppel-namespace"), "team-a")
            self.assertEqual(h.get("accept"),
                             "application/json, text/event-stream")
            if method == "POST":
                self.assertEqual(h.get("content-type"), "application/json")
        # no session id nor protocol version before initialize answered
        self.assertNotIn("mcp-session-id", reqs[0][1])
        self.assertNotIn("mcp-protocol-version", reqs[0][1])
        for _, h, _ in reqs[1:]:
            self.assertEqual(h.get("mcp-session-id"), SESSION)
            self.assertEqual(h.get("mcp-protocol-version"), "2025-06-18")
        # bodies are sent as they came
        self.assertEqual(json.loads(reqs[3][2]), json.loads(rpc("x", "ping")))

    def test_http_errors_become_jsonrpc_errors(self):
        code, out, err = self.run_bridge([
            rpc(1, "initialize"),
            rpc(2, "fail/500"),
            rpc(3, "fail/html"),
            rpc(4, "fail/rpc"),
            rpc(None, "fail/500"),  # a notification: nothing to answer
            rpc(5, "stream/noanswer"),
            rpc(6, "fail/404"),
            rpc(7, "after404"),
        ])
        self.assertEqual(code, 0, err)
        by_id = {m.get("id"): m for m in out if "id" in m}
        e = by_id[2]["error"]
        self.assertEqual(e["code"], -32000)
        self.assertEqual(e["message"], "HTTP 500: boom")
        self.assertEqual(e["data"]["status"], 500)
        self.assertEqual(by_id[3]["error"]["message"],
                         "HTTP 502: <h1>bad gateway</h1>")
        self.assertEqual(by_id[4]["error"]["message"],
                         "HTTP 400: bad request shape")
        # a stream that ended without the answer still answers the client
        self.assertEqual(by_id[5]["error"]["code"], -32000)
        notes = [m for m in out if m.get("method") == "notifications/message"]
        self.assertEqual(len(notes), 1)
        self.assertEqual(by_id[6]["error"]["message"],
                         "HTTP 404: unknown session")
        self.assertEqual(by_id[7]["result"], {"echo": "after404"})
        self.assertEqual(len(out), 8)  # 7 answers + 1 notification
        # after the 404 the dead session id is no longer sent, and no
        # DELETE is sent for it at the end
        last_post = [r for r in Recorder.requests if r[0] == "POST"][-1]
        self.assertNotIn("mcp-session-id", last_post[1])
        self.assertNotIn("DELETE", [r[0] for r in Recorder.requests])
        self.assertIn("HTTP 500", err)  # logs on stderr

    def test_error_text_that_is_not_utf8_still_answers(self):
        # Found by fuzz/fuzz_stdio_sse: an error message that quoted a body
        # cut inside a UTF-8 sequence (or not UTF-8 at all) made jansson
        # refuse the -32000 line, so nothing answered the request.
        code, out, err = self.run_bridge([
            rpc(1, "fail/cututf8"),
            rpc(2, "fail/latin1"),
            rpc(3, "ping"),
        ])
        self.assertEqual(code, 0, err)
        by_id = {m.get("id"): m for m in out}
        self.assertEqual(by_id[1]["error"]["code"], -32000)
        self.assertEqual(by_id[1]["error"]["message"],
                         "HTTP 502: " + "x" * 199)
        self.assertEqual(by_id[1]["error"]["data"]["status"], 502)
        self.assertEqual(by_id[2]["error"]["message"], "HTTP 500: ?chec")
        self.assertEqual(by_id[3]["result"], {"echo": "ping"})
        self.assertEqual(len(out), 3)

    def test_parse_errors_and_batches(self):
        code, out, err = self.run_bridge([
            "{not json",
            "42",
            json.dumps([{"jsonrpc": "2.0", "id": 10, "method": "a"},
                        {"jsonrpc": "2.0", "method": "notifications/x"},
                        {"jsonrpc": "2.0", "id": 11, "method": "b"}]),
        ])
        self.assertEqual(code, 0, err)
        self.assertEqual(out[0]["error"]["code"], -32700)
        self.assertIsNone(out[0]["id"])
        self.assertEqual(out[1]["error"]["code"], -32700)
        self.assertEqual([m["id"] for m in out[2]], [10, 11])
        self.assertEqual(len(out), 3)
        # invalid lines never reached the server
        self.assertEqual(len(Recorder.requests), 1)

    def test_bearer_token_and_env_token(self):
        code, out, err = self.run_bridge([rpc(1, "ping")],
                                         args=["--token", "Bearer mk_b"])
        self.assertEqual(code, 0, err)
        h = Recorder.requests[0][1]
        self.assertEqual(h.get("authorization"), "Bearer mk_b")
        self.assertNotIn("x-api-key", h)
        self.assertNotIn("x-doppel-namespace", h)
        Recorder.requests = []
        code, out, err = self.run_bridge([rpc(1, "ping")], args=[],
                                         env={"DOPPEL_TOKEN": "mk_env"})
        self.assertEqual(code, 0, err)
        self.assertEqual(Recorder.requests[0][1].get("x-api-key"), "mk_env")

    def test_unreachable_server(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        code, out, err = self.run_bridge(
            [rpc(1, "initialize"), rpc(None, "notifications/initialized")],
            url="http://127.0.0.1:%d/mcp" % port)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0]["id"], 1)
        self.assertEqual(out[0]["error"]["code"], -32000)
        self.assertIn("cannot reach", out[0]["error"]["message"])

    def test_usage_errors(self):
        for args in (["mcp"], ["mcp", "--stdio"],
                     ["mcp", "--url", self.url],
                     ["mcp", "--stdio", "--url", "ftp://x/"],
                     ["mcp", "--stdio", "--url", self.url, "--bogus"]):
            with self.subTest(args=args):
                code, out, err = harness.run_doppel(args)
                self.assertEqual(code, 64, err)
                self.assertEqual(out, "")
        code, out, err = harness.run_doppel(["--help"])
        self.assertIn("doppel mcp --stdio --url URL", out)


if __name__ == "__main__":
    harness.main()
