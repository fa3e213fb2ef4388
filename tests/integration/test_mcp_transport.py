"""The MCP plugin's transports, sessions and JSON-RPC framing.

The official TypeScript SDK client (tests/node/mcp_client.mjs) drives the
control server over Streamable HTTP (own port and main port, X-API-Key
header, paged tools/list), the older HTTP+SSE transport and stdio (`doppel
mcp --stdio`). Raw JSON-RPC over curl covers each protocol version, every
error status and code, sessions (missing, unknown, ended, another token's,
expired, evicted), auth (none, bad, integration token, local mode), media
types, Origin, batches by version, and 150 mutated messages.
"""

import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import ADMIN_TOKEN, SOURCE_DIR, Doppel

NODE = shutil.which("node")
CURL = shutil.which("curl")
NODE_DIR = os.path.join(SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "mcp_client.mjs")

VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST = "2025-11-25"

CONFIG = """\
[http]
enabled = true
[mcp]
enabled = true
listen = 127.0.0.1:0
page_size = 4
max_message_bytes = 2k
"""


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol", "sdk"))


class Curl:
    """One HTTP exchange through the curl binary."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "Curl(%d, %r, %r)" % (self.status, self.headers,
                                     self.body[:400])


def curl(url, method="POST", body=None, headers=None, timeout=10):
    cmd = [CURL, "-s", "-i", "-X", method, "--max-time", str(timeout),
           "-H", "Expect:"]
    for k, v in (headers or {}).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else
            json.dumps(body).encode())
        cmd += ["--data-binary", "@-"]
    cmd.append(url)
    p = subprocess.run(cmd, input=data, capture_output=True,
                       timeout=timeout + 5)
    if p.returncode != 0:
        raise AssertionError("curl exited %d: %s" % (p.returncode,
                                                     p.stderr.decode()))
    head, _, rest = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return Curl(status, hdrs, rest)


def msg(method, id=1, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        m["id"] = id
    if params is not None:
        m["params"] = params
    return m


def init_msg(version=LATEST, id=1):
    return msg("initialize", id, {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "curl-test", "version": "1"}})


JSON_HEADERS = {"Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}


class McpServer(unittest.TestCase):
    """A server per class; helpers for raw JSON-RPC."""

    config = CONFIG
    args = ()
    workers = 1
    env = None

    @classmethod
    def setUpClass(cls):
        if CURL is None:
            raise unittest.SkipTest("curl missing")
        cls.d = Doppel(config=cls.config, args=cls.args, workers=cls.workers,
                       env=cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def url(self, own=False, path="/mcp"):
        port = self.d.mcp_port if own else self.d.port
        return "http://%s:%d%s" % (self.d.host, port, path)

    def post(self, body, token=ADMIN_TOKEN, session=None, version=None,
             headers=None, own=False, path="/mcp"):
        h = dict(JSON_HEADERS)
        if token:
            h["X-API-Key"] = token
        if session:
            h["Mcp-Session-Id"] = session
        if version:
            h["MCP-Protocol-Version"] = version
        h.update(headers or {})
        return curl(self.url(own, path), "POST", body, h)

    def session(self, version=LATEST, token=ADMIN_TOKEN, path="/mcp"):
        r = self.post(init_msg(version), token=token, path=path)
        self.assertEqual(r.status, 200, r)
        sid = r.headers.get("mcp-session-id")
        self.assertRegex(sid or "", r"^[0-9a-f]{32}$", r)
        n = self.post(msg("notifications/initialized", None), token=token,
                      session=sid, path=path)
        self.assertEqual(n.status, 202, n)
        self.assertEqual(n.body, b"")
        return sid

    def rpc_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("content-type"), "application/json", r)
        js = r.json()
        self.assertEqual(js["jsonrpc"], "2.0", js)
        self.assertEqual(js["error"]["code"], code, js)
        self.assertTrue(js["error"]["message"], js)
        return js

    def admin(self, method, path, body=None):
        r = self.d.request(method, path, body=body)
        self.assertIn(r.status, (200, 201), r)
        return r.json()

    def user_token(self, name):
        self.admin("POST", "/api/v1/users", {"name": name})
        return self.admin("POST", "/api/v1/users/%s/tokens" % name,
                          {"name": "t-" + name})["secret"]


@unittest.skipUnless(node_ready(), "node or tests/node/node_modules missing "
                     "(run: cd tests/node && npm ci)")
class SdkClients(McpServer):
    """The official SDK client over every transport, two workers (a POST
    and its session's stream may land on different workers)."""

    workers = 2

    def node(self, *args):
        p = subprocess.run([NODE, SCRIPT] + list(args), cwd=NODE_DIR,
                           capture_output=True, timeout=90)
        if p.returncode != 0:
            self.fail("mcp_client.mjs %s exited %d:\n%s\nserver log:\n%s"
                      % (args[0], p.returncode, p.stderr.decode(),
                         self.d.log()[-3000:]))
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def all_tools_raw(self):
        """Every tool name, paging by hand over curl."""
        sid = self.session()
        names, cursor, pages = [], None, 0
        while True:
            params = {"cursor": cursor} if cursor else {}
            r = self.post(msg("tools/list", pages + 2, params), session=sid)
            self.assertEqual(r.status, 200, r)
            res = r.json()["result"]
            self.assertLessEqual(len(res["tools"]), 4)
            names += [t["name"] for t in res["tools"]]
            pages += 1
            cursor = res.get("nextCursor")
            if not cursor:
                return names, pages

    def check_report(self, out):
        names, pages = self.all_tools_raw()
        self.assertGreater(pages, 1, "page_size 4 must give several pages")
        self.assertEqual(out["server"]["name"], "doppel", out)
        self.assertEqual(out["capabilities"]["tools"], {"listChanged": False})
        self.assertEqual(out["instructions"], "yes")
        self.assertEqual(out["tools"], names)
        self.assertEqual(len(set(out["tools"])), len(out["tools"]))
        self.assertEqual(out["pages"], pages)
        self.assertIn("list_namespaces", out["tools"])
        self.assertEqual(out["ping"], {})
        self.assertFalse(out["call"]["isError"], out)
        self.assertIn("sandbox", out["call"]["text"])
        self.assertEqual(out["unknownTool"]["code"], -32602, out)
        self.assertIn("Unknown tool: no_such_tool",
                      out["unknownTool"]["message"])

    def test_streamable_http_on_the_main_port(self):
        out = self.node("streamable", self.url(), ADMIN_TOKEN)
        self.check_report(out)
        self.assertRegex(out["sessionId"], r"^[0-9a-f]{32}$")
        self.assertTrue(out["terminated"], out)
        # the DELETE ended it
        r = self.post(msg("ping"), session=out["sessionId"])
        self.rpc_error(r, 404, -32001)

    def test_streamable_http_on_the_own_port(self):
        self.assertIsNotNone(self.d.mcp_port, self.d.log())
        self.assertNotEqual(self.d.mcp_port, self.d.port)
        out = self.node("streamable", self.url(own=True), ADMIN_TOKEN)
        self.check_report(out)
        self.assertTrue(out["terminated"], out)
        # the own port serves only the MCP endpoint
        r = curl(self.url(own=True, path="/health"), "GET")
        self.assertEqual(r.status, 404, r)

    def test_http_sse_transport(self):
        for own in (True, False):
            out = self.node("sse", self.url(own=own, path="/mcp/sse"),
                            ADMIN_TOKEN)
            self.check_report(out)

    def test_stdio_bridge(self):
        code, out, err = harness.run_doppel(["mcp"])
        if "--stdio" not in out + err:
            self.skipTest("this doppel has no `mcp --stdio` bridge yet")
        out = self.node("stdio", os.path.abspath(harness.BIN), self.url(),
                        ADMIN_TOKEN)
        self.check_report(out)

    def test_sse_stream_and_message_errors(self):
        # the stream starts with the endpoint event
        p = subprocess.run(
            [CURL, "-s", "-N", "--max-time", "2", "-H",
             "X-API-Key: " + ADMIN_TOKEN, "-H", "Accept: text/event-stream",
             self.url(path="/mcp/sse")], capture_output=True, timeout=20)
        text = p.stdout.decode()
        self.assertRegex(text, r"^event: endpoint\ndata: /mcp/message\?"
                               r"sessionId=[0-9a-f]{32}\n\n", text)
        # no token: 401 before any stream
        r = curl(self.url(path="/mcp/sse"), "GET",
                 headers={"Accept": "text/event-stream"})
        self.rpc_error(r, 401, -32000)
        # a message for a session that is not an open stream
        r = self.post(msg("ping"), path="/mcp/message?sessionId=" + "0" * 32)
        self.rpc_error(r, 404, -32001)
        r = self.post(msg("ping"), path="/mcp/message")
        self.rpc_error(r, 400, -32000)
        # a Streamable HTTP session is not an HTTP+SSE one
        sid = self.session()
        r = self.post(msg("ping"), path="/mcp/message?sessionId=" + sid)
        self.rpc_error(r, 404, -32001)
        r = curl(self.url(path="/mcp/sse"), "POST", b"{}", JSON_HEADERS)
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.headers["allow"], "GET, OPTIONS")


class RawJsonRpc(McpServer):
    """Everything an MCP client can get wrong, over curl."""

    def test_each_protocol_version(self):
        for v in VERSIONS:
            r = self.post(init_msg(v))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["result"]["protocolVersion"], v)
            sid = r.headers["mcp-session-id"]
            # the header names a supported version: served
            r = self.post(msg("ping", 2), session=sid, version=v)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"jsonrpc": "2.0", "id": 2,
                                        "result": {}})
            # without the header: the session's version
            r = self.post(msg("ping", 3), session=sid)
            self.assertEqual(r.status, 200, r)
        # a version we do not know: the latest we speak
        for v in ("1999-01-01", "2026-01-01", ""):
            r = self.post(init_msg(v))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["result"]["protocolVersion"], LATEST)
        # an unsupported header on a later request: 400
        sid = self.session()
        for v in ("2024-10-07", "banana", "2025-11-25x"):
            r = self.post(msg("ping"), session=sid, version=v)
            js = self.rpc_error(r, 400, -32000)
            self.assertIn("MCP-Protocol-Version", js["error"]["message"])

    def test_initialize_result(self):
        r = self.post(init_msg("2025-06-18", id="abc"))
        js = r.json()
        self.assertEqual(js["id"], "abc")
        res = js["result"]
        self.assertEqual(res["serverInfo"]["name"], "doppel")
        self.assertTrue(res["serverInfo"]["version"])
        self.assertEqual(res["capabilities"], {"tools":
                                               {"listChanged": False}})
        self.assertIn("get_unmatched", res["instructions"])
        # initialize with bad params
        r = self.post(msg("initialize", 5, {"protocolVersion": 7}))
        self.rpc_error(r, 200, -32602)
        r = self.post(msg("initialize", 5, {}))
        self.rpc_error(r, 200, -32602)

    def test_batches_by_version(self):
        batch = [msg("ping", 1), msg("tools/list", 2),
                 msg("notifications/progress", None, {"progressToken": 1,
                                                      "progress": 1})]
        for v in ("2024-11-05", "2025-03-26"):
            sid = self.session(v)
            r = self.post(batch, session=sid)
            self.assertEqual(r.status, 200, r)
            out = r.json()
            self.assertEqual([a["id"] for a in out], [1, 2], out)
            self.assertEqual(out[0]["result"], {})
            self.assertTrue(out[1]["result"]["tools"])
            # invalid members get their own errors, in order
            r = self.post([1, msg("ping", 9), {"jsonrpc": "2.0"}],
                          session=sid)
            out = r.json()
            self.assertEqual([a.get("error", {}).get("code") for a in out],
                             [-32600, None, -32600], out)
            self.assertEqual(out[1]["id"], 9)
            # initialize may not be batched
            r = self.post([init_msg(v, 4)], session=sid)
            self.assertEqual(r.json()[0]["error"]["code"], -32600)
            # a batch of notifications only: 202
            r = self.post([msg("notifications/initialized", None)],
                          session=sid)
            self.assertEqual(r.status, 202, r)
            # an empty batch is invalid, so is a huge one
            self.rpc_error(self.post([], session=sid), 400, -32600)
            self.rpc_error(self.post(b"[" + b",".join([b"1"] * 1001) + b"]",
                                     session=sid), 400, -32600)
        for v in ("2025-06-18", "2025-11-25"):
            sid = self.session(v)
            js = self.rpc_error(self.post(batch, session=sid), 400, -32600)
            self.assertIn(v, js["error"]["message"])
            # the header decides when present
            r = self.post(batch, session=sid, version="2025-03-26")
            self.assertEqual(r.status, 200, r)
            self.rpc_error(self.post(batch, session=sid,
                                     version="2025-06-18"), 400, -32600)

    def test_malformed_and_invalid_messages(self):
        sid = self.session()
        for bad in (b"{", b"nul", b'{"jsonrpc":"2.0",', b"\xff\xfe",
                    b'{"a":"\\ud800"}'):
            js = self.rpc_error(self.post(bad, session=sid), 400, -32700)
            self.assertIsNone(js["id"])
        # a parse error comes before the session check
        self.rpc_error(self.post(b"{", session=None), 400, -32700)
        for bad, id_ in (({"id": 1, "method": "ping"}, 1),
                         ({"jsonrpc": "1.0", "id": 2, "method": "ping"}, 2),
                         ({"jsonrpc": "2.0", "id": 3, "method": 5}, 3),
                         ({"jsonrpc": "2.0", "id": 4, "method": ""}, 4),
                         ({"jsonrpc": "2.0", "id": [1], "method": "ping"},
                          None),
                         ({"jsonrpc": "2.0", "id": None, "method": "ping"},
                          None),
                         ({"jsonrpc": "2.0", "id": 6}, 6)):
            r = self.post(bad, session=sid)
            js = self.rpc_error(r, 400, -32600)
            self.assertEqual(js["id"], id_, js)
        for bad in ("[]", "5", '"x"', "null"):
            self.rpc_error(self.post(bad, session=sid), 400, -32600)

    def test_params_methods_and_tools(self):
        sid = self.session()
        cases = [
            (msg("tools/call", 1, {"name": 5}), -32602),
            (msg("tools/call", 2, {}), -32602),
            (msg("tools/call", 3, {"name": "list_namespaces",
                                   "arguments": "x"}), -32602),
            (msg("tools/call", 4, {"name": "nope"}), -32602),
            (msg("tools/list", 5, {"cursor": "bogus"}), -32602),
            (msg("tools/list", 6, {"cursor": 12}), -32602),
            ({"jsonrpc": "2.0", "id": 7, "method": "ping", "params": [1]},
             -32602),
            (msg("resources/list", 8), -32601),
            (msg("no/such/method", 9), -32601),
        ]
        for body, code in cases:
            js = self.rpc_error(self.post(body, session=sid), 200, code)
            self.assertEqual(js["id"], body["id"])
        js = self.post(msg("tools/call", 10, {"name": "nope"}),
                       session=sid).json()
        self.assertEqual(js["error"]["message"], "Unknown tool: nope")
        # a tool call that works, and a page cursor the server gave
        r = self.post(msg("tools/call", 11, {"name": "list_namespaces"}),
                      session=sid)
        self.assertFalse(r.json()["result"].get("isError"), r)
        r = self.post(msg("tools/list", 12), session=sid)
        cur = r.json()["result"]["nextCursor"]
        r = self.post(msg("tools/list", 13, {"cursor": cur}), session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["result"]["tools"]), 4)
        # a tampered cursor is refused, not read as another page
        r = self.post(msg("tools/list", 14, {"cursor": cur[:-1] + "z"}),
                      session=sid)
        self.rpc_error(r, 200, -32602)

    def test_oversized_message(self):
        sid = self.session()
        big = msg("ping", 1, {"pad": "x" * 3000})
        js = self.rpc_error(self.post(big, session=sid), 413, -32600)
        self.assertIn("too large", js["error"]["message"])
        # the session still works
        self.assertEqual(self.post(msg("ping"), session=sid).status, 200)

    def test_sessions(self):
        # missing
        r = self.post(msg("ping"))
        js = self.rpc_error(r, 400, -32000)
        self.assertIn("Mcp-Session-Id", js["error"]["message"])
        self.rpc_error(self.post(msg("notifications/initialized", None)),
                       400, -32000)
        # unknown, malformed
        for bad in ("0" * 32, "f" * 31, "x", "0" * 64):
            self.rpc_error(self.post(msg("ping"), session=bad), 404, -32001)
        # DELETE then reuse
        sid = self.session()
        h = {"X-API-Key": ADMIN_TOKEN, "Mcp-Session-Id": sid}
        r = curl(self.url(), "DELETE", headers=h)
        self.assertEqual(r.status, 204, r)
        self.rpc_error(self.post(msg("ping"), session=sid), 404, -32001)
        self.rpc_error(curl(self.url(), "DELETE", headers=h), 404, -32001)
        r = curl(self.url(), "DELETE", headers={"X-API-Key": ADMIN_TOKEN})
        self.rpc_error(r, 400, -32000)
        # GET opens no stream here
        r = curl(self.url(), "GET", headers={"X-API-Key": ADMIN_TOKEN,
                                             "Accept": "text/event-stream"})
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.headers["allow"], "POST, DELETE, OPTIONS")
        # sessions are shared by both ports
        sid = self.session()
        r = self.post(msg("ping"), session=sid, own=True)
        self.assertEqual(r.status, 200, r)

    def test_session_bound_to_its_token(self):
        tok_a = self.user_token("mcp-a")
        tok_b = self.user_token("mcp-b")
        sid = self.session(token=tok_a)
        self.rpc_error(self.post(msg("ping"), token=tok_b, session=sid),
                       404, -32001)
        self.rpc_error(self.post(msg("ping"), token=ADMIN_TOKEN,
                                 session=sid), 404, -32001)
        r = curl(self.url(), "DELETE", headers={"X-API-Key": tok_b,
                                                "Mcp-Session-Id": sid})
        self.rpc_error(r, 404, -32001)
        # the owner still has it, with either header form
        r = self.post(msg("ping"), token=None, session=sid,
                      headers={"Authorization": "Bearer " + tok_a})
        self.assertEqual(r.status, 200, r)

    def test_auth(self):
        r = self.post(init_msg(), token=None)
        js = self.rpc_error(r, 401, -32000)
        self.assertIn("Bearer", r.headers.get("www-authenticate", ""))
        self.assertIn("Unauthorized", js["error"]["message"])
        r = self.post(init_msg(), token="mk_" + "x" * 40)
        self.rpc_error(r, 401, -32000)
        r = self.post(init_msg(), token=None,
                      headers={"Authorization": "Bearer nonsense"})
        self.rpc_error(r, 401, -32000)
        integ = self.admin("POST", "/api/v1/integrations",
                           {"name": "mcp-resolver", "type": "mock_resolver"})
        r = self.post(init_msg(), token=integ["secret"])
        js = self.rpc_error(r, 403, -32000)
        self.assertIn("user token", js["error"]["message"])
        # a user token works, Authorization: Bearer too
        tok = self.user_token("mcp-auth")
        r = self.post(init_msg(), token=None,
                      headers={"Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 200, r)

    def test_media_types_and_origin(self):
        sid = self.session()
        for accept in ("text/html", "application/xml, text/plain",
                       "application/json;q=0, text/event-stream;q=0"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Accept": accept})
            self.rpc_error(r, 406, -32000)
        for ct in ("text/plain", "application/x-www-form-urlencoded",
                   "application/jsonx"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Content-Type": ct})
            self.rpc_error(r, 415, -32000)
        r = curl(self.url(), "POST", json.dumps(msg("ping")),
                 {"X-API-Key": ADMIN_TOKEN, "Mcp-Session-Id": sid,
                  "Content-Type": ""})
        self.rpc_error(r, 415, -32000)
        # accepted variants
        for accept in ("*/*", "application/*", "application/json",
                       "application/json; charset=utf-8"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Accept": accept})
            self.assertEqual(r.status, 200, (accept, r))
            self.assertEqual(r.headers["content-type"], "application/json")
        r = self.post(msg("ping", 7), session=sid,
                      headers={"Content-Type":
                               "Application/JSON; charset=utf-8"})
        self.assertEqual(r.status, 200, r)
        # a client that takes only SSE gets one event
        r = self.post(msg("ping", 8), session=sid,
                      headers={"Accept": "text/event-stream"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/event-stream")
        self.assertEqual(r.body.decode(),
                         'event: message\ndata: {"jsonrpc":"2.0","id":8,'
                         '"result":{}}\n\n')
        # Origin: loopback pages only
        for origin in ("http://evil.example", "null",
                       "http://127.0.0.1.evil.example",
                       "https://localhost.evil.example:8080", "file://"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Origin": origin})
            self.rpc_error(r, 403, -32000)
        for origin in ("http://localhost:3000", "http://127.0.0.1",
                       "https://[::1]:8443"):
            r = self.post(msg("ping"), session=sid,
                          headers={"Origin": origin})
            self.assertEqual(r.status, 200, (origin, r))

    def test_mutated_messages_never_crash(self):
        sid = self.session("2025-03-26")
        rng = random.Random(0x5eed)
        seeds = [json.dumps(m).encode() for m in (
            init_msg("2025-03-26"), msg("ping", 1), msg("tools/list", 2),
            msg("tools/call", 3, {"name": "list_namespaces",
                                  "arguments": {}}),
            msg("tools/call", 4, {"name": "get_mock",
                                  "arguments": {"id": "x"}}),
            [msg("ping", 5), msg("tools/list", 6)])]
        junk = [b"\x00", b"\xff", b"{", b"}", b"[", b"]", b'"', b"\\",
                b"null", b"-1e999", b"\xf0\x9f\x98", b"\\u0000", b",",
                b"1" * 40, b'{"jsonrpc":"2.0"}']
        statuses = set()
        for i in range(150):
            b = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                op = rng.randint(0, 3)
                pos = rng.randint(0, len(b))
                if op == 0 and b:
                    del b[pos:pos + rng.randint(1, 8)]
                elif op == 1:
                    b[pos:pos] = rng.choice(junk)
                elif op == 2 and b:
                    b[min(pos, len(b) - 1)] = rng.randint(0, 255)
                else:
                    b[pos:pos] = b[:rng.randint(0, len(b))]
            r = self.post(bytes(b), session=sid)
            statuses.add(r.status)
            self.assertIn(r.status, (200, 202, 400, 404, 413), (bytes(b), r))
            if r.status != 202:
                js = r.json()  # always a JSON-RPC answer
                self.assertTrue(isinstance(js, (dict, list)), js)
        self.assertGreater(len(statuses), 1, statuses)
        self.assertEqual(self.d.get("/health").status, 200)
        self.assertEqual(self.post(msg("ping"), session=sid).status, 200)


class LocalMode(McpServer):
    """--no-auth: no credential needed; sessions are not bound to one."""

    args = ("--no-auth",)

    def test_no_credential_needed(self):
        sid = self.session(token=None)
        r = self.post(msg("tools/call", 2, {"name": "list_namespaces"}),
                      token=None, session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json()["result"].get("isError"), r)


class SessionLimits(McpServer):
    """max_sessions evicts the least recently used session; an idle one
    expires. (session_share = 100: one token may fill the table, so that
    the table's own eviction order shows; test_mcp_limits checks the
    share.)"""

    config = CONFIG + ("max_sessions = 3\nsession_share = 100\n"
                       "session_idle_timeout = 1s\n"
                       "sse_answers = always\n")

    def test_sse_answers_always(self):
        sid = self.session()
        r = self.post(msg("ping", 5), session=sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/event-stream")
        self.assertEqual(r.body.decode(), 'event: message\ndata: '
                         '{"jsonrpc":"2.0","id":5,"result":{}}\n\n')
        # a client that cannot take SSE still gets JSON
        r = self.post(msg("ping", 6), session=sid,
                      headers={"Accept": "application/json"})
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json()["id"], 6)

    def test_eviction_and_expiry(self):
        a, b, c = self.session(), self.session(), self.session()
        self.assertEqual(self.post(msg("ping"), session=a).status, 200)
        d = self.session()  # evicts b, the least recently used
        self.rpc_error(self.post(msg("ping"), session=b), 404, -32001)
        for s in (a, c, d):
            self.assertEqual(self.post(msg("ping"), session=s).status, 200)
        # unused for more than a second: gone (a TICK sweeps once a second)
        import time
        deadline = time.time() + 20
        while time.time() < deadline:
            r = self.post(msg("ping"), session=a)
            if r.status == 404:
                break
            time.sleep(1.5)
        self.rpc_error(r, 404, -32001)


class SseKeepAlive(McpServer):
    """HTTP+SSE over a raw socket: the endpoint event, answers as message
    events, keep-alive comments, and a stream that fails ends its
    session."""

    config = CONFIG + "sse_keepalive = 1s\n"

    def test_stream_lifecycle(self):
        import socket
        import time
        s = socket.create_connection((self.d.host, self.d.port), timeout=10)
        try:
            s.sendall(b"GET /mcp/sse HTTP/1.1\r\nHost: x\r\n"
                      b"Accept: text/event-stream\r\nX-API-Key: " +
                      ADMIN_TOKEN.encode() + b"\r\n\r\n")
            buf = b""

            def read_until(marker):
                nonlocal buf
                deadline = time.time() + 10
                while marker not in buf and time.time() < deadline:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                self.assertIn(marker, buf)

            read_until(b"event: endpoint")
            read_until(b"\n\n")
            self.assertIn(b"200 OK", buf)
            self.assertIn(b"text/event-stream", buf)
            sid = re.search(rb"sessionId=([0-9a-f]{32})", buf).group(1)
            path = "/mcp/message?sessionId=" + sid.decode()
            r = self.post(msg("ping", 41), path=path)
            self.assertEqual(r.status, 202, r)
            read_until(b'"id":41')
            self.assertIn(b'event: message\ndata: {"jsonrpc":"2.0","id":41,'
                          b'"result":{}}', buf)
            # another token cannot post to it
            tok = self.user_token("mcp-sse-other")
            self.rpc_error(self.post(msg("ping"), token=tok, path=path),
                           404, -32001)
            # quiet: a keep-alive comment comes
            read_until(b": keep-alive")
        finally:
            s.close()
        # the next keep-alive fails to write: the session ends
        deadline = time.time() + 15
        while time.time() < deadline:
            r = self.post(msg("ping"), path=path)
            if r.status == 404:
                break
            time.sleep(0.5)
        self.rpc_error(r, 404, -32001)


class StopWithOpenStreams(unittest.TestCase):
    """A server stopped while an HTTP+SSE stream is open and a delayed mock
    answer is pending exits 0 with a clean log (the host closes the stream
    at drain_timeout, then the plugin frees its sessions)."""

    def test_stop(self):
        import socket
        import threading
        d = Doppel(config="[server]\ndrain_timeout = 500ms\n" + CONFIG)
        s = socket.create_connection((d.host, d.port), timeout=10)
        try:
            s.sendall(b"GET /mcp/sse HTTP/1.1\r\nHost: x\r\n"
                      b"X-API-Key: " + ADMIN_TOKEN.encode() + b"\r\n\r\n")
            buf = b""
            while b"event: endpoint" not in buf:
                chunk = s.recv(65536)
                self.assertTrue(chunk, buf)
                buf += chunk
            ns = "stop-" + os.urandom(4).hex()
            r = d.post("/api/v1/mocks", {
                "namespace": ns,
                "mcp": {"method": "tools/call", "tool": "slow"},
                "response": {"delay": 60000, "payload": "late"}})
            self.assertEqual(r.status, 201, r)
            url = "http://%s:%d/stubs/%s/mcp" % (d.host, d.port, ns)
            init = curl(url, "POST", init_msg(), JSON_HEADERS)
            sid = init.headers["mcp-session-id"]
            h = dict(JSON_HEADERS, **{"Mcp-Session-Id": sid})
            out = {}

            def slow_call():
                try:
                    out["r"] = curl(url, "POST",
                                    msg("tools/call", 1, {"name": "slow"}),
                                    h, timeout=30)
                except AssertionError as e:  # the drain closed it
                    out["closed"] = str(e)

            t = threading.Thread(target=slow_call)
            t.start()
            # the delayed call is in (the journal shows it) before the stop
            import time
            deadline = time.time() + 10
            while time.time() < deadline:
                j = d.get("/api/v1/requests?namespace=" + ns).json()
                if j["total"] > 0:
                    break
                time.sleep(0.05)
            self.assertEqual(d.stop(), 0, d.log())
            t.join(30)
            self.assertFalse(t.is_alive())
            # never the late payload: an error answer or a closed connection
            if "r" in out:
                self.assertNotIn(b"late", out["r"].body)
            else:
                self.assertIn("curl exited 52", out["closed"])
        finally:
            s.close()
            d.__exit__(None, None, None)


class OptionsOff(McpServer):
    """listen = off, main_port = false: no control server anywhere, and
    a custom endpoint path."""

    config = """\
[http]
enabled = true
[mcp]
enabled = true
listen = off
endpoint = /agents/mcp
"""

    def test_paths(self):
        self.assertIsNone(self.d.mcp_port)
        r = self.post(init_msg(), path="/agents/mcp")
        self.assertEqual(r.status, 200, r)
        # /mcp is now the http plugin's (no mock: 404 from the engine)
        r = self.post(init_msg(), path="/mcp")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.headers.get("x-doppel-match"), "miss")

    def test_bad_options_refused(self):
        for bad in ("endpoint = mcp", "endpoint = /mcp/", "sse_answers = x",
                    "max_sessions = 0", "listen = nowhere"):
            with tempfile.TemporaryDirectory() as tmp:
                conf = os.path.join(tmp, "plugins.conf")
                with open(conf, "w") as f:
                    f.write("[mcp]\nenabled = true\n" + bad + "\n")
                code, out, err = harness.run_doppel(
                    ["serve", "--listen", "127.0.0.1:0", "--data",
                     os.path.join(tmp, "data"), "--config", conf],
                    timeout=30)
            self.assertNotEqual(code, 0, (bad, out, err))


class StopIsPromptWithLongAnswers(unittest.TestCase):
    """Open HTTP+SSE streams (main port and the plugin's own listener) and
    a long delayed HTTP mock do not hold a SIGTERM stop for drain_timeout:
    the host tells the plugins that the drain began (DOPPEL_EVENT_DRAINING),
    the MCP plugin ends its streams and the HTTP plugin sends the delayed
    answer at once. The time bound is on a hang (drain_timeout is 20 s),
    not a benchmark."""

    def open_sse(self, d, port):
        import socket
        s = socket.create_connection((d.host, port), timeout=10)
        s.sendall(b"GET /mcp/sse HTTP/1.1\r\nHost: x\r\n"
                  b"X-API-Key: " + ADMIN_TOKEN.encode() + b"\r\n\r\n")
        buf = b""
        while b"event: endpoint" not in buf:
            chunk = s.recv(65536)
            self.assertTrue(chunk, buf)
            buf += chunk
        return s

    def read_to_eof(self, s):
        out = b""
        while True:
            chunk = s.recv(65536)  # bounded by the socket's timeout
            if not chunk:
                return out
            out += chunk

    def test_sigterm_with_open_streams_and_a_long_delay(self):
        import threading
        import time
        d = Doppel(config="[server]\ndrain_timeout = 20s\n" + CONFIG,
                   workers=2)
        streams = []
        try:
            self.assertIsNotNone(d.mcp_port)
            streams = [self.open_sse(d, d.port), self.open_sse(d, d.mcp_port)]
            r = d.post("/api/v1/mocks", {
                "http": {"route": "/slow-stop"},
                "response": {"delay": 60000, "payload": {"late": True}}})
            self.assertEqual(r.status, 201, r)
            out = {}

            def slow():
                try:
                    out["r"] = d.get("/slow-stop", timeout=30)
                except Exception as e:  # reported below
                    out["error"] = repr(e)

            t = threading.Thread(target=slow)
            t.start()
            deadline = time.time() + 10
            while time.time() < deadline:
                items = d.get("/api/v1/requests").json()["items"]
                if any(i["path"] == "/slow-stop" for i in items):
                    break
                time.sleep(0.05)
            t0 = time.monotonic()
            code = d.stop(timeout=30)
            elapsed = time.monotonic() - t0
            t.join(30)
            self.assertEqual(code, 0, d.log())
            self.assertLess(elapsed, 5.0,
                            "the stop waited for the streams or the delay")
            self.assertFalse(t.is_alive())
            # the delayed answer went out at once, whole
            self.assertIn("r", out, out)
            self.assertEqual(out["r"].status, 200, out)
            self.assertEqual(out["r"].json(), {"late": True})
            # each stream was ended by the server (last chunk), not cut
            for s in streams:
                self.assertTrue(self.read_to_eof(s).endswith(b"0\r\n\r\n"))
            d.assert_clean_log()
        finally:
            for s in streams:
                s.close()
            d.__exit__(None, None, None)


if __name__ == "__main__":
    harness.main()
