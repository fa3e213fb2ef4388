"""Namespaces as tenants, against the real binary: the name rule of a mock's
namespace on every write path (create, batch items, PATCH), and the MCP
tools that reach the same checks (update_mock moving a mock, create_mock
reusing an id that lives in another namespace), over raw JSON-RPC on a
real socket.

The role matrix of these writes is in test_auth_api.py (TenancyMatrix).
"""

import http.client
import json
import unittest
import uuid

from harness import ADMIN_TOKEN, Doppel, main

CONFIG = """\
[http]
enabled = true
[mcp]
enabled = true
listen = off
"""

BAD_NAMES = ("../../etc", "a b/c", "", "x" * 65, "ns\u00e9")


def mock(ns=None, mid=None, tag="x"):
    m = {"http": {"route": "/n-" + uuid.uuid4().hex[:8]},
         "response": {"payload": {"tag": tag}}}
    if ns is not None:
        m["namespace"] = ns
    if mid is not None:
        m["id"] = mid
    return m


class Tenancy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=CONFIG)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, "/api/v1" + path, body=body,
                           headers={"X-API-Key": token})
        return r.status, (r.json() if r.body else None)

    def count(self):
        st, js = self.api("GET", "/mocks?includeClosed=true&limit=1000")
        self.assertEqual(st, 200, js)
        return js["total"]

    def bad(self, st, js, field):
        self.assertEqual(st, 400, js)
        self.assertEqual(js["code"], "validation", js)
        self.assertEqual(js["field"], field, js)
        self.assertIn("request_id", js)


class NamespaceNames(Tenancy):
    """Item names are held to the rule of namespaces in the API: 1 to 64
    characters of [A-Za-z0-9._-]."""

    def test_create(self):
        n = self.count()
        for name in BAD_NAMES:
            st, js = self.api("POST", "/mocks", mock(name))
            self.bad(st, js, "namespace")
        self.assertEqual(self.count(), n)

    def test_batch_items(self):
        n = self.count()
        for name in BAD_NAMES:
            st, js = self.api("POST", "/mocks/batch",
                              {"mocks": [mock(), mock(name)]})
            self.bad(st, js, "mocks[1].namespace")
            st, js = self.api("POST", "/mocks/batch", [mock(name), mock()])
            self.bad(st, js, "[0].namespace")
        self.assertEqual(self.count(), n)  # nothing stored

    def test_patch(self):
        st, js = self.api("POST", "/mocks", mock("sandbox", "nm-patch"))
        self.assertEqual(st, 201, js)
        for name in BAD_NAMES:
            st, js = self.api("PATCH", "/mocks/nm-patch", {"namespace": name})
            self.bad(st, js, "namespace")
        st, js = self.api("GET", "/mocks/nm-patch")
        self.assertEqual(js["namespace"], "sandbox")
        # A good name still moves it.
        st, js = self.api("PATCH", "/mocks/nm-patch", {"namespace": "other"})
        self.assertEqual(st, 200, js)
        self.assertEqual(js["namespace"], "other")

    def test_validate(self):
        st, js = self.api("POST", "/mocks/validate", mock("a b/c"))
        self.bad(st, js, "namespace")


class McpTools(Tenancy):
    """The MCP tools go through the same authorisation as /api/v1."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rpc_id = 0

    def mcp(self, token, body, session=None):
        h = {"Content-Type": "application/json",
             "Accept": "application/json, text/event-stream",
             "X-API-Key": token}
        if session:
            h["Mcp-Session-Id"] = session
        c = http.client.HTTPConnection(self.d.host, self.d.port, timeout=10)
        try:
            c.request("POST", "/mcp", body=json.dumps(body).encode(),
                      headers=h)
            r = c.getresponse()
            raw = r.read()
            return r.status, r.getheader("Mcp-Session-Id"), raw
        finally:
            c.close()

    def session(self, token):
        st, sid, raw = self.mcp(token, {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "tenancy", "version": "1"}}})
        self.assertEqual(st, 200, raw)
        self.assertTrue(sid, raw)
        st, _, raw = self.mcp(token, {"jsonrpc": "2.0",
                                      "method": "notifications/initialized"},
                              sid)
        self.assertEqual(st, 202, raw)
        return sid

    def tool(self, token, sid, name, args):
        McpTools.rpc_id += 1
        st, _, raw = self.mcp(token, {
            "jsonrpc": "2.0", "id": self.rpc_id, "method": "tools/call",
            "params": {"name": name, "arguments": args}}, sid)
        self.assertEqual(st, 200, raw)
        return json.loads(raw.decode())["result"]

    def editor(self, name, grants):
        for ns in ("m-a", "m-b"):
            self.api("POST", "/namespaces", {"name": ns})
        st, js = self.api("POST", "/users", {"name": name})
        self.assertEqual(st, 201, js)
        for ns in grants:
            st, js = self.api("PUT", "/namespaces/%s/members/%s" % (ns, name),
                              {"role": "editor"})
            self.assertIn(st, (200, 201), js)
        st, js = self.api("POST", "/users/%s/tokens" % name, {"name": "t"})
        self.assertEqual(st, 201, js)
        return js["secret"]

    def audit_has(self, ns, action, needle):
        st, js = self.api("GET", "/audit?limit=1000&namespace=" + ns)
        self.assertEqual(st, 200, js)
        return any(e["action"] == action and
                   needle in (e["target"] or "") + (e["detail"] or "")
                   for e in js["entries"])

    def test_update_mock_cannot_move_out_of_reach(self):
        tok = self.editor("mcp-mover", ["m-a"])
        st, js = self.api("POST", "/mocks", mock("m-a", "mcp-mv"))
        self.assertEqual(st, 201, js)
        sid = self.session(tok)
        res = self.tool(tok, sid, "update_mock",
                        {"id": "mcp-mv", "patch": {"namespace": "m-b"}})
        self.assertTrue(res.get("isError"), res)
        self.assertEqual(res["structuredContent"]["status"], 403, res)
        st, js = self.api("GET", "/mocks/mcp-mv")
        self.assertEqual(js["namespace"], "m-a")
        self.assertFalse(self.audit_has("m-b", "mocks.patch", "mcp-mv"))
        # With editor in both, the move goes through, audited in both.
        tok2 = self.editor("mcp-mover2", ["m-a", "m-b"])
        sid2 = self.session(tok2)
        res = self.tool(tok2, sid2, "update_mock",
                        {"id": "mcp-mv", "patch": {"namespace": "m-b"}})
        self.assertFalse(res.get("isError"), res)
        st, js = self.api("GET", "/mocks/mcp-mv")
        self.assertEqual(js["namespace"], "m-b")
        self.assertTrue(self.audit_has("m-a", "mocks.patch", "mcp-mv"))
        self.assertTrue(self.audit_has("m-b", "mocks.patch", "mcp-mv"))

    def test_create_mock_cannot_take_an_id_from_elsewhere(self):
        tok = self.editor("mcp-taker", ["m-a"])
        st, js = self.api("POST", "/mocks", mock("m-b", "mcp-victim", "b"))
        self.assertEqual(st, 201, js)
        before = js["mock"]
        sid = self.session(tok)
        res = self.tool(tok, sid, "create_mock",
                        {"namespace": "m-a",
                         "mock": mock(None, "mcp-victim", "stolen")})
        self.assertTrue(res.get("isError"), res)
        sc = res["structuredContent"]
        self.assertEqual(sc["status"], 403, res)
        self.assertNotIn("overwritten", json.dumps(res))
        # The same answer as a create in a namespace without a role.
        res2 = self.tool(tok, sid, "create_mock",
                         {"namespace": "m-b",
                          "mock": mock(None, "mcp-fresh")})
        self.assertTrue(res2.get("isError"), res2)
        self.assertEqual(res2["structuredContent"]["status"], 403)
        strip = lambda t: (t.replace("m-a", "<>").replace("m-b", "<>")
                           .replace("mcp-victim", "<>")
                           .replace("mcp-fresh", "<>"))
        self.assertEqual(strip(res["structuredContent"]["error"]),
                         strip(res2["structuredContent"]["error"]))
        st, js = self.api("GET", "/mocks/mcp-victim")
        self.assertEqual(js["namespace"], "m-b")
        self.assertEqual(js["response"], before["response"])
        self.assertEqual(js["createdAt"], before["createdAt"])


if __name__ == "__main__":
    main()
