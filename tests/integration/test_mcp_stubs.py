"""Mock MCP servers: mocks with an mcp section, created through the REST
API, served at /stubs/<ns>/mcp[/<serverName>] and driven by the official
TypeScript SDK client (tests/node/mcp_stubs_client.mjs) as an agent under
test would: lists, calls matched on their arguments with templates,
isError results, a second server, misses in the unmatched list, unknown
tools, the journal, delays, and raw JSON-RPC edge cases over curl."""

import json
import os
import shutil
import subprocess
import sys
import threading
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_mcp_transport import (CURL, JSON_HEADERS, curl, init_msg,  # noqa
                                msg)

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "mcp_stubs_client.mjs")


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol", "sdk"))


def uniq():
    return uuid.uuid4().hex[:10]


class McpStubs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if CURL is None:
            raise unittest.SkipTest("curl missing")
        # two workers: a session made on one is used from the other
        cls.d = harness.Doppel(workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def setUp(self):
        self.ns = "agents-" + uniq()

    def put(self, m):
        m = dict(m)
        m.setdefault("namespace", self.ns)
        r = self.d.post("/api/v1/mocks", m)
        self.assertIn(r.status, (200, 201), r)
        return r.json()["mock"]

    def url(self, server=""):
        return "http://%s:%d/stubs/%s/mcp%s" % (
            self.d.host, self.d.port, self.ns, "/" + server if server else "")

    def agent(self, servers, steps):
        p = subprocess.run([NODE, SCRIPT], cwd=NODE_DIR,
                           input=json.dumps({"servers": servers,
                                             "steps": steps}).encode(),
                           capture_output=True, timeout=90)
        if p.returncode != 0:
            self.fail("mcp_stubs_client.mjs exited %d:\n%s\nserver log:\n%s"
                      % (p.returncode, p.stderr.decode(),
                         self.d.log()[-3000:]))
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def seed(self):
        self.put({"id": "w-paris-" + self.ns,
                  "mcp": {"method": "tools/call", "tool": "get_weather",
                          "description": "Current weather for a city",
                          "inputSchema": {
                              "type": "object",
                              "properties": {"city": {"type": "string"}},
                              "required": ["city"]},
                          "conditions": [{"path": "$.city",
                                          "assertAction": "equals",
                                          "value": "Paris"}]},
                  "response": {"payload": {"content": [
                      {"type": "text", "text": "Sunny in $.req.city"}]}}})
        self.put({"mcp": {"method": "tools/call", "tool": "get_weather",
                          "conditions": [{"path": "$.city",
                                          "assertAction": "equals",
                                          "value": "Rome"}]},
                  "response": {"payload": "Rainy in $.req.city"}})
        self.put({"mcp": {"method": "tools/call", "tool": "charge_card"},
                  "response": {"mcpIsError": True, "payload": {"content": [
                      {"type": "text", "text": "card declined"}]}}})
        self.put({"mcp": {"method": "tools/call", "tool": "lookup"},
                  "response": {"payload": {"id": "$.req.id",
                                           "found": True}}})
        self.put({"mcp": {"method": "resources/read",
                          "resource": "file:///docs/readme.md",
                          "name": "readme", "mimeType": "text/markdown"},
                  "response": {"payload": {"contents": [
                      {"uri": "$.req.uri", "mimeType": "text/markdown",
                       "text": "# Read me"}]}}})
        self.put({"mcp": {"method": "resources/read",
                          "resource": "mem://plain"},
                  "response": {"payload": "just text"}})
        self.put({"mcp": {"method": "prompts/get", "prompt": "review",
                          "description": "Review code",
                          "arguments": [{"name": "lang",
                                         "required": True}]},
                  "response": {"payload": {"messages": [
                      {"role": "user", "content": {
                          "type": "text",
                          "text": "Review this $.req.lang code"}}]}}})
        self.put({"mcp": {"method": "tools/call", "tool": "invoice",
                          "serverName": "billing"},
                  "response": {"payload": {"content": [
                      {"type": "text", "text": "invoice for $.req.who"}]}}})

    # -- the SDK client ----------------------------------------------------
    @unittest.skipUnless(node_ready(), "node or tests/node/node_modules "
                         "missing (run: cd tests/node && npm ci)")
    def test_agent_drives_mock_servers(self):
        self.seed()
        steps = [
            ("main", "listTools", None),
            ("main", "listResources", None),
            ("main", "listPrompts", None),
            ("main", "callTool", {"name": "get_weather",
                                  "arguments": {"city": "Paris"}}),
            ("main", "callTool", {"name": "get_weather",
                                  "arguments": {"city": "Rome"}}),
            ("main", "callTool", {"name": "get_weather",
                                  "arguments": {"city": "Oslo"}}),
            ("main", "callTool", {"name": "charge_card", "arguments": {}}),
            ("main", "callTool", {"name": "lookup",
                                  "arguments": {"id": "a-7"}}),
            ("main", "callTool", {"name": "no_such_tool", "arguments": {}}),
            ("main", "readResource", {"uri": "file:///docs/readme.md"}),
            ("main", "readResource", {"uri": "mem://plain"}),
            ("main", "readResource", {"uri": "mem://missing"}),
            ("main", "getPrompt", {"name": "review",
                                   "arguments": {"lang": "C"}}),
            ("main", "getPrompt", {"name": "nope"}),
            ("billing", "listTools", None),
            ("billing", "callTool", {"name": "invoice",
                                     "arguments": {"who": "ACME"}}),
            ("billing", "callTool", {"name": "get_weather",
                                     "arguments": {"city": "Paris"}}),
            ("main", "ping", None),
        ]
        out = self.agent(
            {"main": self.url(), "billing": self.url("billing")},
            [dict(server=s, op=o, **({"params": p} if p else {}))
             for s, o, p in steps])
        res = out["results"]
        main = out["servers"]["main"]
        self.assertEqual(main["info"]["name"], self.ns)
        self.assertEqual(out["servers"]["billing"]["info"]["name"],
                         "billing")
        for cap in ("tools", "resources", "prompts"):
            self.assertIn(cap, main["capabilities"])
        self.assertRegex(main["sessionId"], r"^[0-9a-f]{32}$")

        tools = res[0]["result"]["tools"]
        self.assertEqual([t["name"] for t in tools],
                         ["charge_card", "get_weather", "lookup"])
        weather = tools[1]
        self.assertEqual(weather["description"], "Current weather for a city")
        self.assertEqual(weather["inputSchema"]["required"], ["city"])
        self.assertEqual([r["uri"] for r in res[1]["result"]["resources"]],
                         ["file:///docs/readme.md", "mem://plain"])
        self.assertEqual(res[1]["result"]["resources"][0]["name"], "readme")
        self.assertEqual(res[2]["result"]["prompts"][0]["name"], "review")

        # matched on the arguments, templated from them
        self.assertEqual(res[3]["result"]["content"],
                         [{"type": "text", "text": "Sunny in Paris"}])
        self.assertFalse(res[3]["result"].get("isError", False))
        self.assertEqual(res[4]["result"]["content"],
                         [{"type": "text", "text": "Rainy in Rome"}])
        # a known tool whose conditions all failed: an error result
        miss = res[5]["result"]
        self.assertTrue(miss["isError"], miss)
        self.assertIn("get_weather", miss["content"][0]["text"])
        self.assertIn("city", miss["content"][0]["text"])
        # mcpIsError
        self.assertTrue(res[6]["result"]["isError"])
        self.assertEqual(res[6]["result"]["content"][0]["text"],
                         "card declined")
        # an object without content: wrapped, and structured
        self.assertEqual(res[7]["result"]["structuredContent"],
                         {"id": "a-7", "found": True})
        self.assertEqual(json.loads(res[7]["result"]["content"][0]["text"]),
                         {"id": "a-7", "found": True})
        # unknown tool: JSON-RPC -32602
        self.assertEqual(res[8]["error"]["code"], -32602, res[8])
        self.assertIn("Unknown tool: no_such_tool", res[8]["error"]["message"])
        # resources
        self.assertEqual(res[9]["result"]["contents"],
                         [{"uri": "file:///docs/readme.md",
                           "mimeType": "text/markdown", "text": "# Read me"}])
        self.assertEqual(res[10]["result"]["contents"][0]["uri"],
                         "mem://plain")
        self.assertEqual(res[10]["result"]["contents"][0]["text"],
                         "just text")
        self.assertEqual(res[11]["error"]["code"], -32002, res[11])
        # prompts
        self.assertEqual(res[12]["result"]["messages"][0]["content"]["text"],
                         "Review this C code")
        self.assertEqual(res[13]["error"]["code"], -32602, res[13])
        # the second server has its own tools only
        self.assertEqual([t["name"] for t in res[14]["result"]["tools"]],
                         ["invoice"])
        self.assertEqual(res[15]["result"]["content"][0]["text"],
                         "invoice for ACME")
        self.assertEqual(res[16]["error"]["code"], -32602, res[16])
        self.assertEqual(res[17]["result"], {})

        # the journal and the unmatched list saw the calls
        j = self.d.get("/api/v1/requests?namespace=%s&limit=100"
                       % self.ns).json()
        calls = [(i["protocol"], i["method"], i["path"]) for i in j["items"]]
        self.assertIn(("mcp", "tools/call", "get_weather"), calls)
        self.assertIn(("mcp", "tools/call", "invoice"), calls)
        self.assertIn(("mcp", "resources/read", "file:///docs/readme.md"),
                      calls)
        paris = [i for i in j["items"] if i["path"] == "get_weather"]
        self.assertTrue(any(i.get("mockId") == "w-paris-" + self.ns
                            for i in paris), paris)
        u = self.d.get("/api/v1/unmatched?namespace=%s&limit=100"
                       % self.ns).json()
        missed = [(i["method"], i["path"]) for i in u["items"]]
        self.assertIn(("tools/call", "get_weather"), missed)
        self.assertIn(("tools/call", "no_such_tool"), missed)
        oslo = [i for i in u["items"] if i["path"] == "get_weather" and
                json.loads(i["body"]) == {"city": "Oslo"}]
        self.assertEqual(len(oslo), 1, u)
        self.assertTrue(oslo[0]["nearMisses"], oslo)
        # the billing server's miss is its own: no near misses from the
        # default server's get_weather mocks
        billing = [i for i in u["items"] if i["path"] == "get_weather" and
                   json.loads(i["body"]) == {"city": "Paris"}]
        self.assertEqual(len(billing), 1, u)
        self.assertEqual(billing[0]["nearMisses"], [])

    # -- raw JSON-RPC --------------------------------------------------------
    def post(self, body, session=None, server="", headers=None):
        h = dict(JSON_HEADERS)
        if session:
            h["Mcp-Session-Id"] = session
        h.update(headers or {})
        return curl(self.url(server), "POST", body, h)

    def session(self, server=""):
        r = self.post(init_msg("2025-03-26"), server=server)
        self.assertEqual(r.status, 200, r)
        caps = r.json()["result"]["capabilities"]
        self.assertEqual(set(caps), {"tools", "resources", "prompts"})
        return r.headers["mcp-session-id"]

    def test_sessions_are_per_server_and_open(self):
        self.seed()
        sid = self.session()
        # no token needed, but the session belongs to this server only
        r = self.post(msg("tools/list", 2), session=sid)
        self.assertEqual(r.status, 200, r)
        r = self.post(msg("tools/list", 3), session=sid, server="billing")
        self.assertEqual(r.status, 404, r)
        other = self.ns
        self.ns = "other-" + uniq()
        r = self.post(msg("tools/list", 4), session=sid)
        self.assertEqual(r.status, 404, r)
        self.ns = other
        # an empty server lists nothing
        sid2 = self.session("nobody")
        r = self.post(msg("tools/list", 5), session=sid2, server="nobody")
        self.assertEqual(r.json()["result"], {"tools": []})
        # a credential the client sends does not matter
        r = self.post(msg("ping", 6), session=sid,
                      headers={"X-API-Key": "whatever"})
        self.assertEqual(r.status, 200, r)
        # DELETE ends it
        r = curl(self.url(), "DELETE", headers={"Mcp-Session-Id": sid})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.post(msg("ping"), session=sid).status, 404)

    def test_batch_and_bad_params(self):
        self.seed()
        sid = self.session()
        r = self.post([msg("tools/call", 1, {"name": "get_weather",
                                             "arguments": {"city": "Paris"}}),
                       msg("resources/read", 2, {"uri": 5}),
                       msg("prompts/get", 3, {"name": "review",
                                              "arguments": []}),
                       msg("resources/templates/list", 4),
                       msg("completion/complete", 5, {}),
                       msg("tools/list", 6, {"cursor": "nope"})],
                      session=sid)
        self.assertEqual(r.status, 200, r)
        out = {a["id"]: a for a in r.json()}
        self.assertEqual(out[1]["result"]["content"][0]["text"],
                         "Sunny in Paris")
        self.assertEqual(out[2]["error"]["code"], -32602)
        self.assertEqual(out[3]["error"]["code"], -32602)
        self.assertEqual(out[4]["result"], {"resourceTemplates": []})
        self.assertEqual(out[5]["error"]["code"], -32601)
        self.assertEqual(out[6]["error"]["code"], -32602)

    def test_paths_that_are_not_mock_servers(self):
        # /stubs/<ns>/mcp/<a>/<b> and bad names stay with the http plugin
        for path in ("/stubs/%s/mcp/a/b" % self.ns, "/stubs/bad%20ns/mcp",
                     "/stubs/%s/mcpx" % self.ns, "/stubs/%s/mcp/" % self.ns):
            r = curl("http://%s:%d%s" % (self.d.host, self.d.port, path),
                     "POST", init_msg(), JSON_HEADERS)
            self.assertNotEqual(r.status, 200, (path, r))
            self.assertNotIn("mcp-session-id", r.headers)

    def test_delayed_answer(self):
        self.put({"mcp": {"method": "tools/call", "tool": "slow"},
                  "response": {"delay": 1500, "payload": "done"}})
        sid = self.session()
        result = {}

        def slow():
            result["r"] = self.post(msg("tools/call", 1, {"name": "slow"}),
                                    session=sid)

        t = threading.Thread(target=slow)
        t.start()
        # the server keeps answering while the delayed answer waits
        r = self.post(msg("ping", 2), session=sid)
        self.assertEqual(r.status, 200, r)
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["r"].json()["result"]["content"][0]["text"],
                         "done")


if __name__ == "__main__":
    harness.main()
