"""The control server's tools under the names and argument shapes other
agent-facing control servers use (docs/mcp.md): create_mock's flat
shapes, list_mocks' method and service_ids filters, list_services,
create_mock_from_unmatched and test_mock. Driven with the official MCP
SDK client (tests/node/mcp_agent.mjs), against the real binary; mocks are
then called over plain HTTP to show what the tools stored.
"""

import unittest

from harness import main
from test_mcp_agent import McpCase


def rpc_code(out):
    return out.get("rpcError", {}).get("code")


class FlatCreate(McpCase):

    def test_request_shape(self):
        out = self.call("create_mock", {
            "request_method": "POST", "request_uri": "/flat/a?x=1&y=a%20b",
            "response_status": 201, "response_body": {"ok": True},
            "response_headers": {"X-Flat": "1"}})
        mock = self.ok(out)["mock"]
        self.assertEqual(mock["http"]["route"], "/flat/a")
        self.assertEqual(mock["http"]["httpMethod"], "POST")
        self.assertEqual(mock["http"]["queryParams"], {"x": "1", "y": "a b"})
        self.assertEqual(mock["response"]["statusCode"], 201)
        r = self.d.request("POST", "/flat/a?x=1&y=a+b", body={})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json(), {"ok": True})
        self.assertEqual(r.headers.get("x-flat"), "1")
        # The query is a condition: without it, no match.
        self.assertEqual(self.d.request("POST", "/flat/a", body={}).status,
                         404)

    def test_route_shape(self):
        out = self.call("create_mock", {
            "route": "/flat/b/:id", "method": "GET",
            "responseHttp": {"code": 418, "body": "tea $.pathParam.id"}})
        mock = self.ok(out)["mock"]
        self.assertEqual(mock["http"], {"route": "/flat/b/:id",
                                        "httpMethod": "GET"})
        r = self.d.request("GET", "/flat/b/7")
        self.assertEqual(r.status, 418)
        self.assertEqual(r.body.decode(), "tea 7")

    def test_defaults_and_doppel_shape(self):
        out = self.calls([
            ("create_mock", {"request_uri": "/flat/c"}),
            ("create_mock", {"mock": {"http": {"route": "/flat/d"},
                                      "response": {"statusCode": 202}}}),
        ])
        self.assertEqual(self.ok(out[0])["mock"]["response"]["statusCode"],
                         200)
        self.assertEqual(self.d.request("DELETE", "/flat/c").status, 200)
        self.assertEqual(self.d.request("GET", "/flat/d").status, 202)

    def test_bad_arguments(self):
        before = self.api("GET", "/api/v1/mocks?limit=1000")[1]["total"]
        out = self.calls([
            ("create_mock", {}),
            ("create_mock", {"mock": {"http": {"route": "/x"}},
                             "route": "/x"}),
            ("create_mock", {"request_uri": "/x", "route": "/x"}),
            ("create_mock", {"request_method": "GET"}),
            ("create_mock", {"method": "GET",
                             "responseHttp": {"code": 200}}),
            ("create_mock", {"request_uri": "/x", "response_status": 99}),
            ("create_mock", {"request_uri": "/x", "response_status": "200"}),
            ("create_mock", {"route": "/x",
                             "responseHttp": {"code": 200, "extra": 1}}),
            ("create_mock", {"request_uri": "/x?a=%zz"}),
            ("create_mock", {"request_uri": "/x?a=1&a=2"}),
            ("create_mock", {"request_uri": "/x", "response_headers":
                             {"X-A": 1}}),
            ("create_mock", {"request_uri": "/x", "unknown": 1}),
        ])
        for i, o in enumerate(out):
            self.assertEqual(rpc_code(o), -32602, (i, o))
        # A route the mock format refuses is the API's 400, as for mock.
        bad = self.call("create_mock", {"request_uri": "no-slash"})
        self.assertIn("validate_mock", self.tool_error(bad))
        self.assertEqual(bad["result"]["structuredContent"]["status"], 400)
        after = self.api("GET", "/api/v1/mocks?limit=1000")[1]["total"]
        self.assertEqual(before, after, "a refused call stored a mock")

    def test_schema_lists_both_shapes(self):
        tools = {t["name"]: t for t in self.node("tools")}
        cm = tools["create_mock"]
        props = cm["inputSchema"]["properties"]
        for k in ("mock", "request_method", "request_uri", "response_status",
                  "response_body", "response_headers", "route", "method",
                  "responseHttp"):
            self.assertIn(k, props)
        self.assertIs(cm["inputSchema"]["additionalProperties"], False)
        self.assertNotIn("required", cm["inputSchema"])
        self.assertIn("request_uri", cm["description"])
        self.assertIn("responseHttp", cm["description"])
        for name in ("list_services", "create_mock_from_unmatched",
                     "test_mock"):
            self.assertIs(
                tools[name]["inputSchema"]["additionalProperties"], False)
        self.assertNotIn("import_openapi", tools)


class Audit(McpCase):

    def test_new_writes_are_audited_and_need_editor(self):
        self.namespace("aud2")
        editor = self.user("aud2-editor", [("aud2", "editor")])
        viewer = self.user("aud2-viewer", [("aud2", "viewer")])
        self.assertEqual(
            self.d.request("GET", "/gap/aud2",
                           headers={"X-Namespace": "aud2"}).status, 404)
        um = self.api("GET", "/api/v1/undefined-requests?namespace=aud2")[1]
        uid = str(um["requests"][0]["id"])
        flat = {"namespace": "aud2", "route": "/aud2/flat",
                "responseHttp": {"code": 200}}
        refused = self.calls([
            ("create_mock", flat),
            ("create_mock_from_unmatched", {"id": uid}),
        ], token=viewer)
        for o in refused:
            self.assertEqual(o["result"]["structuredContent"]["status"], 403,
                             o)
        self.assertEqual(self.api(
            "GET", "/api/v1/mocks?namespace=aud2")[1]["total"], 0)
        out = self.calls([
            ("create_mock", flat),
            ("create_mock_from_unmatched", {"id": uid}),
        ], token=editor)
        for o in out:
            self.ok(o)
        st, js = self.api("GET", "/api/v1/audit?namespace=aud2&limit=100")
        self.assertEqual(st, 200, js)
        actions = [e["action"] for e in js["entries"]
                   if e.get("actor") == "aud2-editor"]
        self.assertIn("mocks.create", actions, js["entries"])
        self.assertIn("unmatched.create_mock", actions, js["entries"])


class ListFilters(McpCase):

    def setUp(self):
        self.namespace("lf")
        for m in ({"http": {"route": "/g", "httpMethod": "GET"}},
                  {"http": {"route": "/p", "httpMethod": "post"}},
                  {"http": {"route": "/any"}},
                  {"http": {"route": "/s", "httpMethod": "GET"},
                   "tags": ["service:shop"]},
                  {"http": {"route": "/t", "httpMethod": "PUT"},
                   "tags": ["service:cart"]}):
            m = dict(m, namespace="lf", response={})
            st, js = self.api("POST", "/api/v1/mocks", m)
            self.assertEqual(st, 201, js)

    def tearDown(self):
        self.api("POST", "/api/v1/reset", {"namespace": "lf"})

    def routes(self, out):
        res = self.ok(out)
        return sorted(m["http"]["route"] for m in res["items"]), res["total"]

    def test_method_and_services(self):
        out = self.calls([
            ("list_mocks", {"namespace": "lf", "method": "get"}),
            ("list_mocks", {"namespace": "lf", "method": "POST"}),
            ("list_mocks", {"namespace": "lf", "service_ids": ["shop"]}),
            ("list_mocks", {"namespace": "lf",
                            "service_ids": ["shop", "cart"]}),
            ("list_mocks", {"namespace": "lf", "method": "PUT",
                            "service_ids": ["shop", "cart"]}),
            ("list_mocks", {"namespace": "lf", "method": "GET", "limit": 1}),
            ("list_mocks", {"namespace": "lf", "limit": 1000}),
        ])
        self.assertEqual(self.routes(out[0]), (["/any", "/g", "/s"], 3))
        self.assertEqual(self.routes(out[1]), (["/any", "/p"], 2))
        self.assertEqual(self.routes(out[2]), (["/s"], 1))
        self.assertEqual(self.routes(out[3]), (["/s", "/t"], 2))
        self.assertEqual(self.routes(out[4]), (["/t"], 1))
        res = self.ok(out[5])
        self.assertEqual((len(res["items"]), res["total"], res["hasMore"]),
                         (1, 3, True))
        self.assertEqual(self.ok(out[6])["total"], 5)

    def test_bad_filters(self):
        out = self.calls([
            ("list_mocks", {"namespace": "lf", "limit": 1001}),
            ("list_mocks", {"namespace": "lf", "method": ""}),
            ("list_mocks", {"namespace": "lf", "service_ids": "shop"}),
            ("list_mocks", {"namespace": "lf", "service_ids": ["a,b"]}),
            ("list_mocks", {"namespace": "lf", "service_ids": [""]}),
            ("list_mocks", {"namespace": "lf", "service_ids": [1]}),
        ])
        for i, o in enumerate(out):
            self.assertEqual(rpc_code(o), -32602, (i, o))
        # The REST filters under the tool refuse what the tool would.
        for q, field in (("method=G1", "method"), ("method=", "method"),
                         ("service=a/b", "service"), ("service=,", "service")):
            st, js = self.api("GET", "/api/v1/mocks?namespace=lf&" + q)
            self.assertEqual((st, js["field"]), (400, field), (q, js))


class Services(McpCase):

    def test_list_services(self):
        self.namespace("svc")
        st, js = self.api("POST", "/api/v1/services?namespace=svc",
                          {"name": "shop", "target": "https://shop.example.com",
                           "pathPrefix": "/shop", "namespace": "svc"})
        self.assertEqual(st, 201, js)
        out = self.calls([("list_services", {"namespace": "svc"}),
                          ("list_services", {"namespace": "svc", "x": 1})])
        res = self.ok(out[0])
        names = [s["name"] for s in res.get("items", res.get("services", []))]
        self.assertEqual(names, ["shop"], res)
        self.assertEqual(rpc_code(out[1]), -32602)


class FromUnmatched(McpCase):

    def test_create_mock_from_unmatched(self):
        self.assertEqual(self.d.request("GET", "/gap/1?k=v").status, 404)
        um = self.ok(self.call("get_unmatched", {"namespace": "sandbox"}))
        entry = next(e for e in um["items"] if e["path"] == "/gap/1")
        out = self.calls([
            ("create_mock_from_unmatched", {
                "id": str(entry["id"]), "tags": ["from-gap"],
                "response": {"statusCode": 202, "payload": {"filled": True}}}),
            ("create_mock_from_unmatched", {"id": "no-such-entry"}),
            ("create_mock_from_unmatched", {}),
            ("create_mock_from_unmatched", {"id": "1", "response": 5}),
            ("create_mock_from_unmatched", {"id": "1", "extra": 1}),
        ])
        res = self.ok(out[0])
        self.assertEqual(res["unmatchedId"], str(entry["id"]))
        self.assertEqual(res["mock"]["tags"], ["from-gap"])
        r = self.d.request("GET", "/gap/1?k=v")
        self.assertEqual((r.status, r.json()), (202, {"filled": True}))
        self.assertEqual(out[1]["result"]["structuredContent"]["status"],
                         404, out[1])
        for o in out[2:]:
            self.assertEqual(rpc_code(o), -32602, o)


class TestMock(McpCase):

    def test_match_and_near_miss(self):
        self.namespace("tm")
        st, js = self.api("POST", "/api/v1/mocks", {
            "namespace": "tm", "id": "tm-order",
            "http": {"route": "/orders/:id", "httpMethod": "POST",
                     "header": {"X-Tenant": "acme"}},
            "response": {"statusCode": 201, "headers": {"X-Mock": "yes"},
                         "payload": {"id": "$.pathParam.id",
                                     "qty": "$.req.qty"}}})
        self.assertEqual(st, 201, js)
        out = self.calls([
            ("test_mock", {"namespace": "tm", "method": "POST",
                           "path": "/orders/9", "query": {"a": "1"},
                           "headers": {"X-Tenant": "acme"},
                           "body": {"qty": 3}}),
            ("test_mock", {"namespace": "tm", "method": "POST",
                           "path": "/orders/9",
                           "headers": {"X-Tenant": "other"}}),
            ("test_mock", {"namespace": "tm", "path": "/nothing/here"}),
        ])
        hit = self.ok(out[0])
        self.assertTrue(hit["matched"])
        self.assertEqual(hit["mockId"], "tm-order")
        self.assertEqual(hit["response"]["status"], 201)
        self.assertEqual(hit["response"]["json"], {"id": "9", "qty": 3})
        self.assertEqual(hit["response"]["headers"].get("X-Mock"), "yes")
        self.assertEqual(hit["journal"]["requestId"], hit["requestId"])
        self.assertEqual(hit["journal"]["mockId"], "tm-order")
        miss = self.ok(out[1])
        self.assertFalse(miss["matched"])
        self.assertEqual(miss["status"], 404)
        nm = miss["nearMisses"]
        self.assertEqual(nm[0]["mockId"], "tm-order", nm)
        self.assertIn("header", [f["where"] for f in nm[0]["failed"]], nm)
        self.assertFalse(self.ok(out[2])["matched"])
        # It ran as a mock request does: counted.
        st, js = self.api("GET", "/api/v1/mocks/tm-order")
        self.assertEqual(js["useCounter"], 1, js)

    def test_role_and_bad_arguments(self):
        self.namespace("tm2")
        self.namespace("tm2-other")
        tok = self.user("tm2user", [("tm2-other", "viewer")])
        out = self.call("test_mock", {"namespace": "tm2", "path": "/x"},
                        token=tok)
        self.assertEqual(out["result"]["structuredContent"]["status"], 403)
        self.assertIn("tm2", self.tool_error(out))
        out = self.calls([
            ("test_mock", {}),
            ("test_mock", {"path": "x"}),
            ("test_mock", {"path": "/x?a=1"}),
            ("test_mock", {"path": "/x", "query": {"a": 1}}),
            ("test_mock", {"path": "/x", "headers": {"": "v"}}),
            ("test_mock", {"path": "/x", "nope": True}),
            ("test_mock", {"path": "/x", "namespace": "a/b"}),
        ])
        for o in out[:6]:
            self.assertEqual(rpc_code(o), -32602, o)
        self.assertIn("invalid namespace", self.tool_error(out[6]))


if __name__ == "__main__":
    main()
