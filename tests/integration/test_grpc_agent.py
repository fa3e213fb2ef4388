"""An AI agent mocking a gRPC service through the MCP control server: the
official TypeScript SDK client (tests/node/mcp_agent.mjs, over Streamable
HTTP with X-API-Key) finds the services and methods with
describe_protocol, stubs a method with create_mock (a mock with a grpc
section), a grpc-js client (tests/node/grpc/call.mjs) calls it, and the
agent reads the hit back (get_requests, list_mocks, get_mock) and a miss
in get_unmatched.

Also the admin routes under it: GET /api/v1/protocols lists the sections
(built-in http and mcp, the enabled plugins'), GET /api/v1/protocols/grpc
describes a namespace's pool (fixture protos, uploaded files, built-ins),
and a disabled or unknown section is a 404 saying how to enable it.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
from harness import ADMIN_TOKEN, Doppel  # noqa: E402

NODE = shutil.which("node")
SCRIPT = os.path.join(g.NODE_DIR, "mcp_agent.mjs")

ORDER_METHODS = {
    "GetOrder": ("unary", "shop.order.v1.GetOrderRequest",
                 "shop.order.v1.Order"),
    "ListOrders": ("server-stream", "shop.order.v1.ListOrdersRequest",
                   "shop.order.v1.Order"),
    "UploadItems": ("client-stream", "shop.order.v1.UploadItemRequest",
                    "shop.order.v1.UploadSummary"),
    "Chat": ("bidirectional", "shop.order.v1.ChatMessage",
             "shop.order.v1.ChatMessage"),
}

# A file an agent uploads to one namespace only.
STOCK_PROTO = """\
syntax = "proto3";
package agent.stock.v1;
message StockRequest { string sku = 1; }
message StockReply { int32 count = 1; }
service StockService {
  rpc GetStock(StockRequest) returns (StockReply);
  rpc WatchStock(StockRequest) returns (stream StockReply);
}
"""


def mcp_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(g.NODE_DIR, "node_modules", "@modelcontextprotocol",
                     "sdk"))


def services_by_name(defines):
    return {s["name"]: s for s in defines["services"]}


class AgentSide:
    """What the agent does: MCP tool calls on self.d."""

    # one MCP session per list of calls
    def calls(self, calls, token=ADMIN_TOKEN):
        env = dict(os.environ)
        env.update({
            "MCP_URL": "http://%s:%d/mcp" % (self.d.host, self.d.port),
            "BASE_URL": "http://%s:%d" % (self.d.host, self.d.port),
            "MCP_TOKEN": token,
        })
        env.pop("MCP_NS_HEADER", None)
        text = json.dumps([{"tool": t, "args": a} for t, a in calls])
        p = subprocess.run([NODE, SCRIPT, "calls"], cwd=g.NODE_DIR, env=env,
                           input=text.encode(), capture_output=True,
                           timeout=90)
        if p.returncode != 0:
            self.fail("mcp_agent.mjs exited %d:\n%s\nserver log:\n%s"
                      % (p.returncode, p.stderr.decode(),
                         self.d.log()[-3000:]))
        return json.loads(p.stdout.decode())

    def call(self, tool, args, token=ADMIN_TOKEN):
        return self.calls([(tool, args)], token=token)[0]

    def ok(self, out):
        self.assertIn("result", out, out)
        r = out["result"]
        self.assertFalse(r.get("isError"), r)
        self.assertEqual(json.loads(r["content"][0]["text"]),
                         r["structuredContent"])
        return r["structuredContent"]

    def tool_error(self, out):
        self.assertIn("result", out, out)
        r = out["result"]
        self.assertTrue(r.get("isError"), r)
        return r["content"][0]["text"]


class GrpcAgent(AgentSide, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        if not mcp_ready():
            raise unittest.SkipTest("tests/node/node_modules/"
                                    "@modelcontextprotocol/sdk missing")
        cls.d = g.GrpcDoppel()
        cls.addr = cls.d.grpc_address

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def assert_order_service(self, defines):
        svcs = services_by_name(defines)
        self.assertIn(g.ORDER_SVC, svcs, defines)
        svc = svcs[g.ORDER_SVC]
        self.assertIs(svc["builtin"], False, svc)
        self.assertEqual(svc["file"], g.ORDER_PROTO, svc)
        got = {m["name"]: (m["methodType"], m["input"], m["output"])
               for m in svc["methods"]}
        self.assertEqual(got, ORDER_METHODS, svc)
        # declaration order, as in the .proto
        self.assertEqual([m["name"] for m in svc["methods"]],
                         ["GetOrder", "ListOrders", "UploadItems", "Chat"])

    # -- the loop ----------------------------------------------------------
    def test_agent_discovers_mocks_and_inspects_a_grpc_method(self):
        described, = self.calls([("describe_protocol",
                                  {"section": "grpc",
                                   "namespace": "sandbox"})])
        d = self.ok(described)
        self.assertEqual(d["section"], "grpc")
        self.assertEqual(d["namespace"], "sandbox")
        self.assertEqual(d["schemaKind"], "proto")
        self.assert_order_service(d["defines"])
        # built-ins are there, and say so
        health = services_by_name(d["defines"]).get("grpc.health.v1.Health")
        self.assertIsNotNone(health, d)
        self.assertIs(health["builtin"], True, health)

        # the agent stubs GetOrder with what it read
        kind, _, _ = ORDER_METHODS["GetOrder"]
        created, listed = self.calls([
            ("create_mock", {"namespace": "sandbox", "mock": {
                "grpc": {"service": g.ORDER_SVC, "method": "GetOrder",
                         "methodType": kind,
                         "conditions": [{"path": "orderId",
                                         "assertAction": "equals",
                                         "value": "agent-7"}]},
                "response": {"payload": {"orderId": "$.req.orderId",
                                         "customerId": "agent-c"}}}}),
            ("list_mocks", {"namespace": "sandbox"})])
        mock = self.ok(created)["mock"]
        mock_id = mock["id"]
        self.assertEqual(mock["grpc"]["service"], g.ORDER_SVC, mock)
        self.assertIn(mock_id,
                      [m["id"] for m in self.ok(listed)["items"]])

        # the app calls it over gRPC and gets the mock's answer
        r = g.call(self.addr, "GetOrder", request={"orderId": "agent-7"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(len(r["messages"]), 1, r)
        self.assertEqual(r["messages"][0]["orderId"], "agent-7", r)
        self.assertEqual(r["messages"][0]["customerId"], "agent-c", r)

        # a call nothing answers
        miss = g.call(self.addr, "GetOrder", request={"orderId": "agent-8"})
        self.assertEqual(miss["status"]["code"], g.NOT_FOUND, miss)

        requests, got, listed, unmatched = self.calls([
            ("get_requests", {"namespace": "sandbox", "limit": 100}),
            ("get_mock", {"id": mock_id}),
            ("list_mocks", {"namespace": "sandbox", "search": mock_id}),
            ("get_unmatched", {"namespace": "sandbox", "limit": 100})])
        path = "/%s/GetOrder" % g.ORDER_SVC
        hits = [e for e in self.ok(requests)["items"]
                if e.get("mockId") == mock_id]
        self.assertEqual(len(hits), 1, self.ok(requests))
        self.assertEqual(hits[0]["protocol"], "grpc", hits[0])
        self.assertEqual(hits[0]["path"], path, hits[0])
        self.assertIn("agent-7", json.dumps(hits[0]["body"]), hits[0])
        self.assertEqual(self.ok(got)["useCounter"], 1, self.ok(got))
        mine = [m for m in self.ok(listed)["items"] if m["id"] == mock_id]
        self.assertEqual(len(mine), 1, self.ok(listed))
        self.assertEqual(mine[0]["useCounter"], 1, mine[0])
        gaps = [e for e in self.ok(unmatched)["items"]
                if e.get("protocol") == "grpc" and
                "agent-8" in json.dumps(e.get("body"))]
        self.assertEqual(len(gaps), 1, self.ok(unmatched))
        self.assertEqual(gaps[0]["path"], path, gaps[0])
        self.assertEqual(gaps[0]["nearMisses"][0]["mockId"], mock_id,
                         gaps[0])

    def test_a_mock_the_schemas_refuse_is_an_error_the_agent_reads(self):
        out = self.call("create_mock", {"namespace": "sandbox", "mock": {
            "grpc": {"service": g.ORDER_SVC, "method": "Refund"},
            "response": {"payload": {}}}})
        self.assertIn("Refund", self.tool_error(out))

    def test_uploaded_files_show_in_their_namespace_only(self):
        put, mine, other = self.calls([
            ("put_schema", {"section": "grpc", "namespace": "agent-stock",
                            "name": "agent/stock/v1/stock.proto",
                            "content": STOCK_PROTO}),
            ("describe_protocol", {"section": "grpc",
                                   "namespace": "agent-stock"}),
            ("describe_protocol", {"section": "grpc",
                                   "namespace": "sandbox"})])
        self.ok(put)
        svcs = services_by_name(self.ok(mine)["defines"])
        stock = svcs.get("agent.stock.v1.StockService")
        self.assertIsNotNone(stock, svcs.keys())
        self.assertEqual(stock["file"], "agent/stock/v1/stock.proto")
        self.assertIs(stock["builtin"], False)
        self.assertEqual(
            [(m["name"], m["methodType"], m["input"], m["output"])
             for m in stock["methods"]],
            [("GetStock", "unary", "agent.stock.v1.StockRequest",
              "agent.stock.v1.StockReply"),
             ("WatchStock", "server-stream", "agent.stock.v1.StockRequest",
              "agent.stock.v1.StockReply")])
        # proto_path is there too, and the other namespace has no upload
        self.assert_order_service(self.ok(mine)["defines"])
        self.assertNotIn("agent.stock.v1.StockService",
                         services_by_name(self.ok(other)["defines"]))

    def test_unknown_section_is_an_error_naming_the_fix(self):
        text = self.tool_error(self.call("describe_protocol",
                                         {"section": "kafka"}))
        self.assertIn("kafka", text)
        self.assertIn("plugins.conf", text)

    # -- the admin routes ----------------------------------------------------
    def test_protocols_lists_grpc_and_the_built_ins(self):
        r = self.d.get("/api/v1/protocols")
        self.assertEqual(r.status, 200, r)
        got = {p["section"]: p for p in r.json()["protocols"]}
        self.assertEqual(got["grpc"], {"section": "grpc",
                                       "schemaKind": "proto",
                                       "describes": True, "actions": []})
        for section in ("http", "mcp"):
            self.assertEqual(got[section], {"section": section,
                                            "schemaKind": None,
                                            "describes": False,
                                            "actions": []})

    def test_protocol_get_defaults_to_sandbox(self):
        r = self.d.get("/api/v1/protocols/grpc")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["namespace"], "sandbox")
        self.assert_order_service(body["defines"])
        r = self.d.get("/api/v1/protocols/http?namespace=sandbox")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"section": "http", "namespace": "sandbox",
                                    "schemaKind": None, "defines": None,
                                    "actions": []})

    def test_protocol_routes_need_a_token_and_are_read_only(self):
        self.assertEqual(self.d.get("/api/v1/protocols", auth=False).status,
                         401)
        self.assertEqual(
            self.d.get("/api/v1/protocols/grpc", auth=False).status, 401)
        r = self.d.post("/api/v1/protocols/grpc", {})
        self.assertIn(r.status, (404, 405), r)

    def test_hostile_section_names_are_404(self):
        for section in ("kafka", "GRPC", "grpc%20", "%2e%2e", "x" * 300):
            r = self.d.get("/api/v1/protocols/" + section)
            self.assertEqual(r.status, 404, (section, r))
            self.assertIn("plugins.conf", r.json()["error"], r)
        # a NUL in the path is refused before any handler
        self.assertEqual(self.d.get("/api/v1/protocols/grpc%00").status, 400)


class DescribeContract(AgentSide, unittest.TestCase):
    """The host's side of describe, with test plugins (tests/plugins):
    section_describe answers from its own files, fails or answers garbage
    on request; section_olddef's def ends before describe, which aborts if
    the host calls it anyway."""

    @classmethod
    def setUpClass(cls):
        plugins = os.path.join(g.harness.BUILD_DIR, "tests", "plugins")
        config = "[http]\nenabled = true\n[mcp]\nenabled = true\nlisten = off\n"
        for name in ("section_describe", "section_olddef"):
            config += "[%s]\npath = %s\nenabled = true\n" % (
                name, os.path.join(plugins, "doppel_%s.so" % name))
        cls.d = Doppel(config=config)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, path, body=body,
                           headers={"X-API-Key": token})
        return r.status, (r.json() if r.body else None)

    def token_of(self, name, memberships):
        """A new user with {ns: role} memberships; returns its token."""
        st, js = self.api("POST", "/api/v1/users", {"name": name})
        self.assertEqual(st, 201, js)
        for ns, role in memberships.items():
            st, js = self.api("POST", "/api/v1/namespaces", {"name": ns})
            self.assertIn(st, (201, 409), js)
            st, js = self.api("PUT", "/api/v1/namespaces/%s/members/%s"
                              % (ns, name), {"role": role})
            self.assertIn(st, (200, 201), js)
        st, js = self.api("POST", "/api/v1/users/%s/tokens" % name,
                          {"name": "tok-" + name})
        self.assertEqual(st, 201, js)
        return js["secret"]

    def test_a_viewer_may_describe_its_namespace_only(self):
        # (here rather than beside grpc: creating users on a server with
        # the grpc plugin loaded trips LeakSanitizer in libcrypto at exit)
        tok = self.token_of("describe-viewer", {"viewers-ns": "viewer"})
        for path in ("/api/v1/protocols?namespace=viewers-ns",
                     "/api/v1/protocols/described?namespace=viewers-ns"):
            st, js = self.api("GET", path, token=tok)
            self.assertEqual(st, 200, (path, js))
        self.assertEqual(js["defines"], {"namespace": "viewers-ns",
                                         "files": []})
        st, js = self.api("GET", "/api/v1/protocols/described"
                          "?namespace=sandbox", token=tok)
        self.assertEqual(st, 403, js)
        if not mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        mine, other = self.calls([
            ("describe_protocol", {"section": "described",
                                   "namespace": "viewers-ns"}),
            ("describe_protocol", {"section": "described",
                                   "namespace": "sandbox"})], token=tok)
        self.assertEqual(self.ok(mine)["defines"],
                         {"namespace": "viewers-ns", "files": []})
        self.tool_error(other)

    def test_listed_with_what_they_can_say(self):
        r = self.d.get("/api/v1/protocols")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["protocols"], [
            {"section": "http", "schemaKind": None, "describes": False,
             "actions": []},
            {"section": "mcp", "schemaKind": None, "describes": False,
             "actions": []},
            {"section": "described", "schemaKind": "toy", "describes": True,
             "actions": []},
            {"section": "olddef", "schemaKind": "toy", "describes": False,
             "actions": []}])

    def test_describe_answers_per_namespace(self):
        r = self.d.request("PUT", "/api/v1/schemas/described/a/one.toy"
                           "?namespace=team-a", body=b"x")
        self.assertEqual(r.status, 201, r)
        r = self.d.get("/api/v1/protocols/described?namespace=team-a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {
            "section": "described", "namespace": "team-a",
            "schemaKind": "toy",
            "defines": {"namespace": "team-a", "files": ["a/one.toy"]},
            "actions": []})
        r = self.d.get("/api/v1/protocols/described")
        self.assertEqual(r.json()["defines"],
                         {"namespace": "sandbox", "files": []})

    def test_a_def_too_small_for_describe_is_not_asked(self):
        r = self.d.get("/api/v1/protocols/olddef")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"section": "olddef",
                                    "namespace": "sandbox",
                                    "schemaKind": "toy", "defines": None,
                                    "actions": []})
        self.assertEqual(self.d.get("/api/v1/protocols").status, 200)

    def test_a_failing_or_malformed_describe_is_a_500(self):
        for ns, why in (("describe-fails", "Input/output error"),
                        ("describe-garbage", "not one JSON object")):
            r = self.d.get("/api/v1/protocols/described?namespace=" + ns)
            self.assertEqual(r.status, 500, r)
            self.assertIn(why, r.json()["error"], r)
        # and the server goes on
        r = self.d.get("/api/v1/protocols/described")
        self.assertEqual(r.status, 200, r)


class GrpcDisabled(unittest.TestCase):
    """Without the gRPC plugin, its section is not listed and describing it
    says how to enable it."""

    def test_disabled_section(self):
        config = """\
[http]
enabled = true
[mcp]
enabled = true
listen = off
"""
        with Doppel(config=config) as d:
            r = d.get("/api/v1/protocols")
            self.assertEqual(r.status, 200, r)
            sections = [p["section"] for p in r.json()["protocols"]]
            self.assertEqual(sections, ["http", "mcp"])
            r = d.get("/api/v1/protocols/grpc")
            self.assertEqual(r.status, 404, r)
            self.assertIn("[grpc] enabled = true", r.json()["error"], r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
