"""The MCP control server's tools, driven the way an AI agent drives them:
the official TypeScript SDK client (tests/node/mcp_agent.mjs) over
Streamable HTTP with an X-API-Key header, against the real binary.

Covers the agent loop (stub an endpoint, call it, read the journal, find a
gap in the unmatched list, close it), every tool family, the namespace
resolution order, refusals (403 as isError with the API's message, the
outbound guard), hostile arguments, and the audit trail of every write.
"""

import json
import os
import shutil
import subprocess
import unittest

from harness import ADMIN_TOKEN, SOURCE_DIR, Doppel, main

NODE = shutil.which("node")
NODE_DIR = os.path.join(SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "mcp_agent.mjs")

CONFIG = """\
[http]
enabled = true
[mcp]
enabled = true
listen = off
"""

ALL_TOOLS = {
    "list_mocks", "get_mock", "create_mock", "update_mock", "delete_mock",
    "list_namespaces", "get_store", "set_store", "delete_store",
    "get_requests", "get_unmatched", "get_coverage", "get_mode", "set_mode",
    "validate_mock", "render_template", "http_request", "list_services",
    "create_mock_from_unmatched", "test_mock",
    "put_schema", "list_schemas", "get_schema", "delete_schema",
    "describe_protocol", "protocol_action",
}


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol", "sdk"))


class McpCase(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        if not node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules missing "
                                    "(run: cd tests/node && npm ci)")
        cls.d = Doppel(config=CONFIG, env=cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    # -- helpers -----------------------------------------------------------
    def node(self, mode, token=ADMIN_TOKEN, ns_header=None, stdin=None,
             extra_env=None):
        env = dict(os.environ)
        env.update({
            "MCP_URL": "http://%s:%d/mcp" % (self.d.host, self.d.port),
            "BASE_URL": "http://%s:%d" % (self.d.host, self.d.port),
            "MCP_TOKEN": token,
        })
        env.pop("MCP_NS_HEADER", None)
        if ns_header is not None:
            env["MCP_NS_HEADER"] = ns_header
        if extra_env:
            env.update(extra_env)
        p = subprocess.run([NODE, SCRIPT, mode], cwd=NODE_DIR, env=env,
                           input=(stdin or "").encode(), capture_output=True,
                           timeout=90)
        if p.returncode != 0:
            self.fail("mcp_agent.mjs %s exited %d:\n%s\nserver log:\n%s"
                      % (mode, p.returncode, p.stderr.decode(),
                         self.d.log()[-3000:]))
        return json.loads(p.stdout.decode())

    def calls(self, calls, raw=None, **kw):
        """Runs [(tool, args), ...] in one MCP session. raw: JSON text put
        in place of the string "@RAW@" (a value too deep for json.dumps)."""
        text = json.dumps([{"tool": t, "args": a} for t, a in calls])
        if raw is not None:
            text = text.replace('"@RAW@"', raw)
        return self.node("calls", stdin=text, **kw)

    def call(self, tool, args, **kw):
        return self.calls([(tool, args)], **kw)[0]

    def ok(self, out):
        """The structuredContent of a successful tool result."""
        self.assertIn("result", out, out)
        r = out["result"]
        self.assertFalse(r.get("isError"), r)
        self.assertEqual(r["content"][0]["type"], "text")
        json.loads(r["content"][0]["text"])  # the API's JSON, as text
        return r["structuredContent"]

    def tool_error(self, out):
        """The text of an isError tool result."""
        self.assertIn("result", out, out)
        r = out["result"]
        self.assertTrue(r.get("isError"), r)
        return r["content"][0]["text"]

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, path, body=body,
                           headers={"X-API-Key": token})
        return r.status, (r.json() if r.body else None)

    def namespace(self, name):
        st, js = self.api("POST", "/api/v1/namespaces", {"name": name})
        self.assertIn(st, (201, 409), js)

    def user(self, name, memberships=(), pinned=None):
        """Creates a user with {ns: role} memberships; returns a token."""
        st, js = self.api("POST", "/api/v1/users", {"name": name})
        self.assertEqual(st, 201, js)
        for ns, role in memberships:
            st, js = self.api("PUT", "/api/v1/namespaces/%s/members/%s"
                              % (ns, name), {"role": role})
            self.assertIn(st, (200, 201), js)
        body = {"name": "tok-%s-%s" % (name, pinned or "any")}
        if pinned:
            body["namespace"] = pinned
        st, js = self.api("POST", "/api/v1/users/%s/tokens" % name, body)
        self.assertEqual(st, 201, js)
        return js["secret"]


class AgentFlow(McpCase):

    def test_agent_loop(self):
        self.namespace("agent-shop")
        rep = self.node("agent", extra_env={"AGENT_NS": "agent-shop"})
        self.assertTrue(ALL_TOOLS <= set(rep["tools"]), rep["tools"])

        created = self.ok(rep["created"])
        mock_id = created["mock"]["id"]
        self.assertEqual(created["mock"]["namespace"], "agent-shop")
        self.assertEqual(rep["hit"]["status"], 200, rep["hit"])
        self.assertEqual(rep["hit"]["json"], {"id": "42", "state": "shipped"})
        self.assertEqual(rep["hit"]["mockId"], mock_id)

        journal = self.ok(rep["requests"])["items"]
        self.assertTrue(any(e.get("path") == "/agent/orders/42" and
                            e.get("mockId") == mock_id for e in journal),
                        journal)

        self.assertEqual(rep["miss"]["status"], 404, rep["miss"])
        gaps = self.ok(rep["unmatched"])["items"]
        gap = [g for g in gaps if "/agent/invoices/7" in json.dumps(g)]
        self.assertTrue(gap, gaps)
        self.assertIn("nearMisses", gap[0])

        self.ok(rep["closed"])
        self.assertEqual(rep["hitAfter"]["status"], 200, rep["hitAfter"])
        self.assertEqual(rep["hitAfter"]["json"], {"invoice": "7"})

    def test_tools_are_described(self):
        tools = self.node("tools")
        self.assertEqual({t["name"] for t in tools}, ALL_TOOLS)
        for t in tools:
            self.assertEqual(t["inputSchema"]["type"], "object", t["name"])
            for k in ("readOnlyHint", "destructiveHint", "idempotentHint",
                      "openWorldHint"):
                self.assertIsInstance(t["annotations"][k], bool, t["name"])

    def test_mock_lifecycle(self):
        self.namespace("life")
        out = self.calls([
            ("create_mock", {"namespace": "life", "mock": {
                "id": "life-1", "http": {"route": "/life"},
                "response": {"payload": {"v": 1}}}}),
            ("get_mock", {"id": "life-1"}),
            ("list_mocks", {"namespace": "life", "search": "life-1"}),
            ("update_mock", {"id": "life-1", "patch": {
                "response": {"statusCode": 201}, "tags": ["edited"]}}),
            ("list_mocks", {"namespace": "life", "tag": "edited"}),
            ("delete_mock", {"id": "life-1"}),
            ("list_mocks", {"namespace": "life"}),
            ("list_mocks", {"namespace": "life", "includeClosed": True}),
            ("delete_mock", {"id": "life-1", "purge": True}),
            ("get_mock", {"id": "life-1"}),
        ])
        self.assertEqual(self.ok(out[0])["mock"]["id"], "life-1")
        self.assertEqual(self.ok(out[1])["http"]["route"], "/life")
        self.assertEqual(self.ok(out[2])["total"], 1)
        self.assertEqual(self.ok(out[3])["tags"], ["edited"])
        self.assertEqual(
            [m["id"] for m in self.ok(out[4])["items"]], ["life-1"])
        self.assertIsNotNone(self.ok(out[5])["closedAt"])
        self.assertEqual(self.ok(out[6])["total"], 0)
        self.assertEqual(self.ok(out[7])["total"], 1)
        self.assertTrue(self.ok(out[8])["purged"])
        self.assertIn("list_mocks", self.tool_error(out[9]))
        st, _ = self.api("GET", "/api/v1/mocks/life-1")
        self.assertEqual(st, 404)

    def test_create_invalid_mock(self):
        out = self.call("create_mock", {"mock": {
            "http": {"route": "no-slash"}, "response": {"payload": {}}}})
        text = self.tool_error(out)
        self.assertIn("http.route", text)
        self.assertIn("validate_mock", text)
        sc = out["result"]["structuredContent"]
        self.assertEqual(sc["status"], 400)
        self.assertEqual(sc["field"], "http.route")

    def test_stores(self):
        self.namespace("stores")
        out = self.calls([
            ("set_store", {"namespace": "stores", "scope": "global",
                           "key": "user", "value": {"name": "Ann"}}),
            ("set_store", {"namespace": "stores", "scope": "chain",
                           "chain": "flow/1", "key": "step", "value": 3}),
            ("get_store", {"namespace": "stores", "scope": "global"}),
            ("get_store", {"namespace": "stores", "scope": "chain",
                           "chain": "flow/1", "key": "step"}),
            ("delete_store", {"namespace": "stores", "scope": "global",
                              "key": "user"}),
            ("get_store", {"namespace": "stores", "scope": "global",
                           "key": "user"}),
            ("delete_store", {"namespace": "stores", "scope": "chain",
                              "chain": "flow/1"}),
        ])
        self.assertEqual(self.ok(out[0]), {"name": "Ann"})
        self.assertEqual(self.ok(out[2]), {"user": {"name": "Ann"}})
        self.assertEqual(self.ok(out[3]), {"value": 3})
        self.ok(out[4])
        self.assertIn("get_store", self.tool_error(out[5]))
        self.ok(out[6])
        # The REST API sees the same stores (the chain id stayed one
        # segment: its '/' was encoded).
        st, js = self.api("GET", "/api/v1/stores/chain/flow%2F1?namespace="
                          "stores")
        self.assertEqual((st, js), (200, {}))

    def test_validate_mock(self):
        out = self.calls([
            ("validate_mock", {"mock": {"http": {"route": "bad"},
                                        "response": {"payload": {}}}}),
            ("validate_mock", {"mock": {"http": {"route": "/good"},
                                        "response": {"payload": {}}}}),
        ])
        bad = self.ok(out[0])
        self.assertFalse(bad["valid"], bad)
        self.assertIn("http.route", json.dumps(bad["errors"]))
        self.assertTrue(self.ok(out[1])["valid"])
        st, js = self.api("GET", "/api/v1/mocks?search=good")
        self.assertEqual(js["total"], 0, "validate_mock stored something")

    def test_render_template(self):
        out = self.call("render_template", {
            "template": {"hello": "$.queryParam.name"},
            "request": {"method": "GET", "path": "/x",
                        "query": {"name": "Ann"}}})
        self.assertIn("Ann", json.dumps(self.ok(out)))

    def test_mode_and_coverage(self):
        self.namespace("modes")
        out = self.calls([
            ("set_mode", {"namespace": "modes", "mode": "LEARN"}),
            ("get_mode", {"namespace": "modes"}),
            ("get_coverage", {"namespace": "modes"}),
        ])
        self.ok(out[0])
        self.assertEqual(self.ok(out[1])["mode"], "LEARN")
        self.ok(out[2])
        st, js = self.api("GET", "/api/v1/mode?namespace=modes")
        self.assertEqual(js["mode"], "LEARN")
        # A service's own mode, and its place in the coverage report.
        st, js = self.api("POST", "/api/v1/services?namespace=modes",
                          {"name": "shop", "target": "http://shop.invalid",
                           "pathPrefix": "/shop"})
        self.assertEqual(st, 201, js)
        out = self.calls([
            ("set_mode", {"namespace": "modes", "service": "shop",
                          "mode": "MOCK"}),
            ("get_mode", {"namespace": "modes", "service": "shop"}),
            ("get_coverage", {"namespace": "modes"}),
        ])
        self.ok(out[0])
        self.assertEqual(self.ok(out[1])["mode"], "MOCK")
        cov = self.ok(out[2])
        self.assertEqual([s["name"] for s in cov["services"]], ["shop"], cov)
        st, js = self.api("GET", "/api/v1/services/shop?namespace=modes")
        self.assertEqual(js["mode"], "MOCK")
        st, js = self.api("GET", "/api/v1/mode?namespace=modes")
        self.assertEqual(js["mode"], "LEARN", "the namespace mode moved")


class Namespaces(McpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

    def where(self, mock_id):
        st, js = self.api("GET", "/api/v1/mocks/" + mock_id)
        self.assertEqual(st, 200, js)
        return js["namespace"]

    def create(self, mock_id, token, args=None, ns_header=None):
        a = {"mock": {"id": mock_id, "http": {"route": "/" + mock_id},
                      "response": {"payload": {}}}}
        a.update(args or {})
        return self.call("create_mock", a, token=token, ns_header=ns_header)

    def test_resolution_order(self):
        for ns in ("ns-a", "ns-b", "ns-pin", "ns-first"):
            self.namespace(ns)
        roles = [("ns-first", "editor"), ("ns-a", "editor"),
                 ("ns-b", "editor"), ("ns-pin", "editor")]
        tok = self.user("resolver", roles)
        pinned = self.user("resolver2", roles, pinned="ns-pin")
        # argument > header
        self.ok(self.create("r-arg", tok, {"namespace": "ns-a"},
                            ns_header="ns-b"))
        self.assertEqual(self.where("r-arg"), "ns-a")
        # header > pinned / first
        self.ok(self.create("r-hdr", tok, ns_header="ns-b"))
        self.assertEqual(self.where("r-hdr"), "ns-b")
        # pinned > first
        self.ok(self.create("r-pin", pinned))
        self.assertEqual(self.where("r-pin"), "ns-pin")
        # the user's first namespace, as whoami lists it
        st, who = self.api("GET", "/api/v1/whoami", token=tok)
        first = who["user"]["memberships"][0]["namespace"]
        self.ok(self.create("r-first", tok))
        self.assertEqual(self.where("r-first"), first)
        # The header also picks what is read.
        out = self.call("list_mocks", {}, token=tok, ns_header="ns-b")
        self.assertEqual([m["id"] for m in self.ok(out)["items"]], ["r-hdr"])

    def test_forbidden_namespace(self):
        self.namespace("ns-secret")
        self.namespace("ns-view")
        tok = self.user("outsider", [("ns-view", "viewer")])
        out = self.create("f-1", tok, {"namespace": "ns-secret"})
        text = self.tool_error(out)
        sc = out["result"]["structuredContent"]
        self.assertEqual(sc["status"], 403)
        self.assertEqual(sc["namespace"], "ns-secret")
        self.assertIn("ns-secret", text)
        self.assertIn("namespace argument", text)  # where it came from
        # A viewer reads but does not write; the header named it.
        out = self.create("f-2", tok, ns_header="ns-view")
        self.assertIn("X-Doppel-Namespace", self.tool_error(out))
        self.ok(self.call("list_mocks", {}, token=tok, ns_header="ns-view"))
        st, _ = self.api("GET", "/api/v1/mocks/f-1")
        self.assertEqual(st, 404)
        # list_namespaces shows what the token may use.
        out = self.ok(self.call("list_namespaces", {}, token=tok))
        self.assertEqual(out["namespaces"], ["ns-view"])
        self.assertEqual([(n["name"], n["yourRole"]) for n in out["items"]],
                         [("ns-view", "viewer")])

    def test_hostile_arguments(self):
        self.namespace("hostile")
        deep = '{"x":' * 3000 + '{}' + '}' * 3000
        out = self.calls([
            ("no_such_tool", {}),
            ("get_mock", {"id": 5}),
            ("get_mock", {"id": "x", "extra": 1}),
            ("get_mock", {"id": "a" * 100000}),
            ("get_mock", {"id": "../namespaces"}),
            ("get_mock", {"id": "a/b%2F?x=1#y"}),
            ("list_mocks", {"namespace": "a/b"}),
            ("list_mocks", {"namespace": "x&namespace=hostile"}),
            ("create_mock", {"namespace": "hostile", "mock": "@RAW@"}),
            ("get_store", {"scope": "chain"}),
            ("list_mocks", {"namespace": "hostile"}),
        ], raw=deep)
        for i in range(4):
            self.assertIn("rpcError", out[i], out[i])
            self.assertEqual(out[i]["rpcError"]["code"], -32602, out[i])
        # Encoded into one segment: a missing mock, not another endpoint.
        for i in (4, 5):
            self.assertIn("list_mocks", self.tool_error(out[i]))
            self.assertEqual(out[i]["result"]["structuredContent"]["status"],
                             404)
        for i in (6, 7):
            self.assertIn("invalid namespace", self.tool_error(out[i]))
        # Too deep for the JSON parser, or refused by the API: either way an
        # answer, and nothing stored.
        self.assertTrue("rpcError" in out[8] or
                        out[8]["result"].get("isError"), out[8])
        self.assertEqual(out[9]["rpcError"]["code"], -32602)
        self.assertEqual(self.ok(out[10])["total"], 0)
        self.assertEqual(self.d.get("/health/ready").status, 200)


class Audit(McpCase):

    def test_every_write_is_audited(self):
        self.namespace("audited")
        tok = self.user("auditee", [("audited", "editor")])
        out = self.calls([
            ("create_mock", {"namespace": "audited", "mock": {
                "id": "aud-1", "http": {"route": "/a"},
                "response": {"payload": {}}}}),
            ("update_mock", {"id": "aud-1", "patch": {"tags": ["t"]}}),
            ("delete_mock", {"id": "aud-1"}),
            ("delete_mock", {"id": "aud-1", "purge": True}),
            ("set_store", {"namespace": "audited", "scope": "global",
                           "key": "k", "value": 1}),
            ("delete_store", {"namespace": "audited", "scope": "global",
                              "key": "k"}),
        ], token=tok)
        for o in out:
            self.ok(o)
        st, js = self.api("GET", "/api/v1/audit?namespace=audited&limit=100")
        self.assertEqual(st, 200, js)
        mine = [e for e in js["entries"] if e.get("actor") == "auditee"]
        actions = {e["action"] for e in mine}
        for a in ("mocks.create", "mocks.patch", "mocks.close", "mocks.purge",
                  "stores.put", "stores.delete"):
            self.assertIn(a, actions, js["entries"])


class Guard(McpCase):

    def test_private_address_refused(self):
        out = self.call("http_request", {
            "url": "http://127.0.0.1:%d/health" % self.d.port})
        text = self.tool_error(out)
        self.assertIn("ALLOW_PROXY_TO_PRIVATE_IPS=true", text)
        self.assertIn("127.0.0.1", text)
        self.assertNotIn("status", out["result"]["structuredContent"])


class GuardAllowed(McpCase):
    env = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}

    def test_private_address_allowed(self):
        self.namespace("fetched")
        self.ok(self.call("create_mock", {"namespace": "fetched", "mock": {
            "http": {"route": "/fetched", "httpMethod": "POST"},
            "response": {"statusCode": 202, "payload": {"got": "$.req.a"}}}}))
        out = self.call("http_request", {
            "url": "http://127.0.0.1:%d/stubs/fetched/fetched" % self.d.port,
            "method": "POST", "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"a": "b"}), "timeoutMs": 5000})
        sc = self.ok(out)
        self.assertEqual(sc["status"], 202, sc)
        self.assertEqual(sc["json"], {"got": "b"})
        self.assertIn("x-doppel-mock-id", sc["headers"])
        # The caller's token was not sent to the URL.
        st, js = self.api("GET", "/api/v1/requests?namespace=fetched")
        hdrs = json.dumps(js["items"][0]["headers"]).lower()
        self.assertNotIn("x-api-key", hdrs)
        self.assertNotIn(ADMIN_TOKEN.lower(), hdrs)


if __name__ == "__main__":
    main()
