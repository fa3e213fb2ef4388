"""Operator actions of protocol sections (ABI 1.2 `actions`/`action`):
the host's routes GET|POST /api/v1/protocols/SECTION/actions/NAME, the
listing in GET /api/v1/protocols[/SECTION], roles and audit, the plugin's
failures and malformed answers, and the MCP tool protocol_action driven by
the official MCP SDK client. The section is the test plugin
tests/plugins/section_actions.c ("acted": a counter per namespace)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_grpc_agent as ga  # noqa: E402  (its AgentSide: MCP calls)
from harness import ADMIN_TOKEN, Doppel  # noqa: E402

BASE = "/api/v1/protocols/acted/actions/"


class Actions(ga.AgentSide, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        plugins = os.path.join(harness.BUILD_DIR, "tests", "plugins")
        cls.d = Doppel(config=(
            "[http]\nenabled = true\n[mcp]\nenabled = true\nlisten = off\n"
            "[section_actions]\npath = %s\nenabled = true\n"
            % os.path.join(plugins, "doppel_section_actions.so")))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, path, body=body,
                           headers={"X-API-Key": token})
        return r.status, (r.json() if r.body else None)

    def token_of(self, name, memberships):
        return ga.DescribeContract.token_of(self, name, memberships)

    def test_listed_with_method_and_only_valid_names(self):
        st, js = self.api("GET", "/api/v1/protocols/acted")
        self.assertEqual(st, 200, js)
        got = [(a["name"], a["method"], a["writes"]) for a in js["actions"]]
        self.assertEqual(got, [("count", "GET", False), ("bump", "POST", True),
                               ("fail", "POST", True),
                               ("garbage", "GET", False),
                               ("teapot", "GET", False)])
        self.assertTrue(all(a["summary"] for a in js["actions"]))
        st, js = self.api("GET", "/api/v1/protocols")
        entry = [p for p in js["protocols"] if p["section"] == "acted"][0]
        self.assertEqual(len(entry["actions"]), 5)
        http = [p for p in js["protocols"] if p["section"] == "http"][0]
        self.assertEqual(http["actions"], [])

    def test_write_then_read_per_namespace(self):
        st, js = self.api("POST", BASE + "bump?namespace=acts-a", {"by": 5})
        self.assertEqual(st, 200, js)
        self.assertEqual((js["namespace"], js["count"]), ("acts-a", 5))
        self.assertEqual(js["args"], {"by": 5})
        st, js = self.api("POST", BASE + "bump?namespace=acts-a")
        self.assertEqual((st, js["count"], js["args"]), (200, 6, {}))
        # GET passes the query parameters as strings, namespace left out
        st, js = self.api("GET", BASE + "count?namespace=acts-a&x=1&y=a%20b")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["count"], 6)
        self.assertEqual(js["args"], {"x": "1", "y": "a b"})
        st, js = self.api("GET", BASE + "count?namespace=acts-b")
        self.assertEqual(js["count"], 0)
        # no namespace: sandbox
        st, js = self.api("GET", BASE + "count")
        self.assertEqual(js["namespace"], "sandbox")

    def test_the_plugins_refusal_keeps_its_field_and_gets_a_code(self):
        st, js = self.api("POST", BASE + "bump?namespace=acts-c",
                          {"by": "two"})
        self.assertEqual(st, 400, js)
        self.assertEqual((js["field"], js["code"]), ("by", "validation"))
        self.assertIn("integer", js["error"])
        st, js = self.api("GET", BASE + "count?namespace=acts-c")
        self.assertEqual(js["count"], 0)  # nothing changed
        st, js = self.api("GET", BASE + "teapot")
        self.assertEqual((st, js["code"]), (418, "validation"))

    def test_failures_and_garbage_are_500(self):
        st, js = self.api("POST", BASE + "fail", {})
        self.assertEqual(st, 500, js)
        self.assertIn("fail", js["error"])
        st, js = self.api("GET", BASE + "garbage")
        self.assertEqual(st, 500, js)
        self.assertIn("bad answer", js["error"])
        self.assertIn("action garbage", self.d.log())

    def test_unknown_wrong_method_and_bad_input(self):
        st, js = self.api("GET", BASE + "nope")
        self.assertEqual(st, 404, js)
        self.assertIn("GET /api/v1/protocols/acted", js["error"])
        st, js = self.api("GET", BASE + "Bad-Name")
        self.assertEqual(st, 404, js)
        st, js = self.api("GET", "/api/v1/protocols/nosuch/actions/count")
        self.assertEqual(st, 404, js)
        r = self.d.request("GET", BASE + "bump",
                           headers={"X-API-Key": ADMIN_TOKEN})
        self.assertEqual((r.status, r.headers.get("allow")), (405, "POST"))
        r = self.d.request("POST", BASE + "count", body={},
                           headers={"X-API-Key": ADMIN_TOKEN})
        self.assertEqual((r.status, r.headers.get("allow")), (405, "GET"))
        st, js = self.api("POST", BASE + "bump", [1, 2])
        self.assertEqual(st, 400, js)
        st, js = self.api("GET", BASE + "count?x=%zz")
        self.assertEqual(st, 400, js)
        st, js = self.api("GET", BASE + "count?x=1&x=2")
        self.assertEqual(st, 400, js)
        self.assertIn("twice", js["error"])

    def test_roles_and_audit(self):
        tok = self.token_of("actions-viewer", {"acts-v": "viewer"})
        st, js = self.api("GET", BASE + "count?namespace=acts-v", token=tok)
        self.assertEqual(st, 200, js)
        st, js = self.api("POST", BASE + "bump?namespace=acts-v", {},
                          token=tok)
        self.assertEqual(st, 403, js)
        st, js = self.api("GET", BASE + "count?namespace=acts-v")
        self.assertEqual(js["count"], 0)
        st, js = self.api("GET", BASE + "count?namespace=acts-x", token=tok)
        self.assertEqual(st, 403, js)
        st, js = self.api("POST", BASE + "bump?namespace=acts-v", {"by": 2})
        self.assertEqual(st, 200, js)
        st, audit = self.api("GET", "/api/v1/audit?namespace=acts-v")
        self.assertEqual(st, 200, audit)
        ops = [e["action"] for e in audit["entries"]]
        self.assertIn("protocols.action", ops)
        self.assertNotIn("protocols.action_read", ops)

    def test_mcp_tool(self):
        if not ga.mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        bump, count, nope, http = self.calls([
            ("protocol_action", {"section": "acted", "action": "bump",
                                 "namespace": "acts-m", "args": {"by": 3}}),
            ("protocol_action", {"section": "acted", "action": "count",
                                 "namespace": "acts-m",
                                 "args": {"n": 7, "s": "x"}}),
            ("protocol_action", {"section": "acted", "action": "nope"}),
            ("protocol_action", {"section": "http", "action": "x"}),
        ])
        self.assertEqual(self.ok(bump)["count"], 3)
        c = self.ok(count)
        self.assertEqual(c["count"], 3)
        self.assertEqual(c["args"], {"n": "7", "s": "x"})
        text = self.tool_error(nope)
        self.assertIn("no action 'nope'", text)
        self.assertIn("count, bump", text)
        self.assertIn("has none", self.tool_error(http))


if __name__ == "__main__":
    harness.main()
