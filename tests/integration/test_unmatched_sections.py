"""A mock in one call from an unmatched GraphQL, SOAP or gRPC request
(POST /api/v1/undefined-requests/<id>/create-mock, host/admin/admin_compat.c)
against the real server: for each protocol a real client's request misses,
the call makes the mock from the entry (the protocol's section, literal, in
the entry's namespace, with the body's response or the protocol's default),
and the same request is then answered by that mock. Also the MCP tool
create_mock_from_unmatched on the same call, a protocol that cannot be made
into a mock (mcp), an unknown id, and bad responses (400, nothing stored).

GraphQL and SOAP go over plain HTTP POST; gRPC through grpc-js
(tests/node/grpc/call.mjs, via grpc_client.py).
"""

import json
import os
import sys
import unittest
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
from test_grpc_agent import AgentSide, mcp_ready  # noqa: E402
from test_mcp_transport import JSON_HEADERS, init_msg, msg  # noqa: E402

S11 = "http://schemas.xmlsoap.org/soap/envelope/"
S12 = "http://www.w3.org/2003/05/soap-envelope"
ORD = "urn:example:orders"
WSDL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                    "soap", "orders.wsdl")


def uniq():
    return uuid.uuid4().hex[:8]


def env11(inner):
    return ('<?xml version="1.0"?><soap:Envelope xmlns:soap="%s">'
            '<soap:Body>%s</soap:Body></soap:Envelope>' % (S11, inner))


def env12(inner):
    return ('<env:Envelope xmlns:env="%s"><env:Body>%s</env:Body>'
            '</env:Envelope>' % (S12, inner))


def get_order(oid):
    return ('<o:GetOrder xmlns:o="%s"><o:orderId>%s</o:orderId></o:GetOrder>'
            % (ORD, oid))


def soap_body(resp):
    """(envelope namespace, the Body's children) of a SOAP answer."""
    root = ET.fromstring(resp.body)
    ns = root.tag[1:].split("}")[0]
    assert root.tag == "{%s}Envelope" % ns, resp.body
    body = root.find("{%s}Body" % ns)
    assert body is not None, resp.body
    return ns, list(body)


class UnmatchedSections(AgentSide, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.assert_clean_log()

    # -- helpers ----------------------------------------------------------
    def entries(self, ns):
        return g.list_entries(self.d, "/api/v1/unmatched", ns)

    def only_miss(self, ns, **want):
        """The one entry of ns whose keys have the values in want."""
        got = [e for e in self.entries(ns)
               if all(e.get(k) == v for k, v in want.items())]
        self.assertEqual(len(got), 1, self.entries(ns))
        return got[0]

    def create(self, entry_id, body=None):
        return self.d.post("/api/v1/undefined-requests/%s/create-mock"
                           % entry_id, body if body is not None else {})

    def created(self, entry_id, body=None):
        r = self.create(entry_id, body)
        self.assertEqual(r.status, 201, r)
        out = r.json()
        self.assertEqual(out["unmatchedId"], entry_id)
        self.assertFalse(out["overwritten"])
        return out["mock"]

    def mocks(self, ns):
        r = self.d.get("/api/v1/mocks?namespace=%s&limit=1000" % ns)
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def drop(self, mock):
        r = self.d.request("DELETE", "/api/v1/mocks/%s?namespace=%s"
                           % (mock["id"], mock["namespace"]))
        self.assertIn(r.status, (200, 204), r)

    def gql(self, ns, query):
        return self.d.post("/graphql", json.dumps({"query": query}).encode(),
                           headers={"Content-Type": "application/json",
                                    "X-Namespace": ns})

    def soap11(self, ns, path, inner, action=""):
        return self.d.post(path, env11(inner).encode(), headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"%s"' % action, "X-Namespace": ns})

    def soap12(self, ns, path, inner):
        return self.d.post(path, env12(inner).encode(), headers={
            "Content-Type": "application/soap+xml; charset=utf-8",
            "X-Namespace": ns})

    # -- GraphQL ----------------------------------------------------------
    def test_graphql_miss_answered_by_the_mock_made_from_it(self):
        ns = "um-gql-" + uniq()
        query = '{ user(id: "7") { name } }'
        r = self.gql(ns, query)
        self.assertEqual(r.status, 200, r)
        self.assertIn("errors", r.json(), r)  # no mock: an error
        e = self.only_miss(ns, protocol="graphql")
        self.assertEqual((e["method"], e["path"]), ("query.user", "/graphql"))
        m = self.created(e["id"], {
            "response": {"payload": {"data": {"user": {"name": "Ann"}}}},
            "tags": ["from-miss"]})
        self.assertEqual(m["namespace"], ns)
        self.assertEqual(m["graphql"], {"operation": "query", "field": "user",
                                        "path": "/graphql"})
        self.assertEqual(m["tags"], ["from-miss"])
        # the same query is now the mock's, and not another miss
        r = self.gql(ns, query)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"data": {"user": {"name": "Ann"}}})
        self.assertEqual(len(self.entries(ns)), 1)
        j = g.list_entries(self.d, "/api/v1/requests", ns)
        self.assertEqual([x.get("mockId") for x in j], [m["id"]], j)
        # literal: no conditions, so another id is answered as well
        self.assertEqual(self.gql(ns, '{ user(id: "8") { name } }').json(),
                         {"data": {"user": {"name": "Ann"}}})

    def test_graphql_default_answer_is_the_field_null(self):
        ns = "um-gqlm-" + uniq()
        mutation = 'mutation { createUser(name: "x") { id } }'
        self.assertIn("errors", self.gql(ns, mutation).json())
        e = self.only_miss(ns, method="mutation.createUser")
        m = self.created(e["id"])
        self.assertEqual(m["graphql"]["operation"], "mutation")
        self.assertEqual(m["response"], {"statusCode": 200, "payload": {
            "data": {"createUser": None}}})
        r = self.gql(ns, mutation)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"data": {"createUser": None}})

    # -- SOAP -------------------------------------------------------------
    def test_soap_miss_with_wsdl_names_its_service(self):
        ns = "um-wsdl-" + uniq()
        with open(WSDL, "rb") as f:
            r = self.d.request("PUT", "/api/v1/schemas/soap/orders.wsdl"
                               "?namespace=%s" % ns, body=f.read(),
                               headers={"Content-Type": "text/xml"})
        self.assertIn(r.status, (200, 201), r)
        # the upload's own mocks go, so that the operation is a miss
        for m in self.mocks(ns):
            self.drop(m)
        action = "urn:example:orders/GetOrder"
        r = self.soap11(ns, "/ws/orders", get_order("A-1"), action)
        self.assertIsNone(r.headers.get("x-doppel-mock-id"), r)
        e = self.only_miss(ns, protocol="soap")
        self.assertEqual((e["method"], e["path"], e.get("server")),
                         ("GetOrder", "/ws/orders", "OrderService"), e)
        m = self.created(e["id"])
        self.assertEqual(m["namespace"], ns)
        self.assertEqual(m["soap"], {"service": "OrderService",
                                     "method": "GetOrder",
                                     "path": "/ws/orders"})
        r = self.soap11(ns, "/ws/orders", get_order("A-1"), action)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-doppel-mock-id"), m["id"], r)
        env_ns, children = soap_body(r)
        self.assertEqual(env_ns, S11)
        self.assertEqual([(c.tag, len(c), c.text) for c in children],
                         [("GetOrderResponse", 0, None)], r.body)
        self.assertEqual(len(self.entries(ns)), 1)

    def test_soap_miss_without_wsdl_in_the_request_version(self):
        ns = "um-soap-" + uniq()
        # a soap mock naming the path makes it a SOAP path
        r = self.d.post("/api/v1/mocks", {
            "namespace": ns, "soap": {"method": "Other", "path": "/ws/plain"},
            "response": {"payload": "<OtherResponse/>"}})
        self.assertEqual(r.status, 201, r)
        cancel = '<o:CancelOrder xmlns:o="%s"/>' % ORD
        r = self.soap12(ns, "/ws/plain", cancel)
        self.assertNotEqual(r.status, 200, r)
        e = self.only_miss(ns, protocol="soap", method="CancelOrder")
        self.assertNotIn("server", e)
        answer = '<o:CancelOrderResponse xmlns:o="%s">done' \
                 '</o:CancelOrderResponse>' % ORD
        m = self.created(e["id"], {"response": {"payload": answer}})
        self.assertEqual(m["soap"], {"method": "CancelOrder",
                                     "path": "/ws/plain"})
        r = self.soap12(ns, "/ws/plain", cancel)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-doppel-mock-id"), m["id"])
        env_ns, children = soap_body(r)
        self.assertEqual(env_ns, S12)
        self.assertEqual([(c.tag, c.text) for c in children],
                         [("{%s}CancelOrderResponse" % ORD, "done")])
        # the default answer follows each request's version
        r = self.soap11(ns, "/ws/plain", get_order("B-2"))
        e = self.only_miss(ns, method="GetOrder")
        m = self.created(e["id"])
        self.assertEqual(m["response"], {"statusCode": 200,
                                         "payload": "<GetOrderResponse/>"})
        for send, version in ((self.soap11, S11), (self.soap12, S12)):
            r = send(ns, "/ws/plain", get_order("B-2"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("x-doppel-mock-id"), m["id"])
            env_ns, children = soap_body(r)
            self.assertEqual(env_ns, version)
            self.assertEqual([c.tag for c in children], ["GetOrderResponse"])

    # -- gRPC -------------------------------------------------------------
    def test_grpc_miss_answered_by_the_mock_made_from_it(self):
        oid = "um-" + uniq()
        r = g.call(self.d.grpc_address, "GetOrder", request={"orderId": oid})
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        e = self.only_miss("sandbox", protocol="grpc",
                           body=json.dumps({"orderId": oid,
                                            "includeItems": False,
                                            "customerId": ""},
                                           separators=(",", ":")))
        self.assertEqual(e["path"], "/%s/GetOrder" % g.ORDER_SVC)
        m = self.created(e["id"], {"response": {
            "payload": {"orderId": oid, "status": "ORDER_STATUS_OPEN"}}})
        try:
            self.assertEqual(m["namespace"], "sandbox")
            self.assertEqual((m["grpc"]["service"], m["grpc"]["method"]),
                             (g.ORDER_SVC, "GetOrder"))
            self.assertNotIn("conditions", m["grpc"])
            r = g.call(self.d.grpc_address, "GetOrder",
                       request={"orderId": oid})
            self.assertEqual(r["status"]["code"], g.OK, r)
            self.assertEqual(r["messages"][0]["orderId"], oid, r)
        finally:
            self.drop(m)

    def test_grpc_default_answer_is_ok_and_empty(self):
        r = g.call(self.d.grpc_address, "Charge", service=g.BILLING_SVC,
                   proto=g.BILLING_PROTO, request={})
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        e = [x for x in self.entries("sandbox")
             if x["path"] == "/%s/Charge" % g.BILLING_SVC][0]
        m = self.created(e["id"])
        try:
            self.assertEqual(m["grpc"]["service"], g.BILLING_SVC)
            self.assertEqual(m["response"], {"statusCode": 0, "payload": {}})
            r = g.call(self.d.grpc_address, "Charge", service=g.BILLING_SVC,
                       proto=g.BILLING_PROTO, request={})
            self.assertEqual(r["status"]["code"], g.OK, r)
            self.assertEqual(r["messages"], [{}], r)
        finally:
            self.drop(m)

    def test_grpc_service_no_proto_defines_is_refused(self):
        r = g.call(self.d.grpc_address, "GetOrder", request={"orderId": "1"},
                   path="/no.such.v1.Service/GetOrder")
        self.assertEqual(r["status"]["code"], g.UNIMPLEMENTED, r)
        e = [x for x in self.entries("sandbox")
             if x["path"] == "/no.such.v1.Service/GetOrder"][0]
        before = self.mocks("sandbox")
        r = self.create(e["id"])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "grpc.service", r)
        self.assertEqual(self.mocks("sandbox"), before)

    # -- refusals ---------------------------------------------------------
    def test_bad_response_is_400_and_nothing_is_stored(self):
        ns = "um-bad-" + uniq()
        self.gql(ns, "{ products { id } }")
        e = self.only_miss(ns, method="query.products")
        for body, field in (
                ({"response": "ok"}, "response"),
                ({"response": {"statusCode": "x"}}, "response.statusCode"),
                ({"response": {"payload": {"errors": []}}},
                 "response.payload.errors"),
                ({"namespace": "other"}, "namespace")):
            r = self.create(e["id"], body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.json()["field"], field, (body, r))
        self.assertEqual(self.mocks(ns), [])
        self.assertEqual(self.mocks("other"), [])
        # a gRPC message field the output type lacks, likewise
        oid = "um-bad-" + uniq()
        g.call(self.d.grpc_address, "GetOrder", request={"orderId": oid})
        e = [x for x in self.entries("sandbox") if oid in x["body"]][0]
        before = self.mocks("sandbox")
        r = self.create(e["id"], {"response": {"payload": {"nope": 1}}})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "response.payload.nope", r)
        self.assertEqual(self.mocks("sandbox"), before)

    def test_soap_path_a_section_reads_as_a_route_is_refused(self):
        # soap.path is a route to the engine: "/ws/:id" would answer
        # /ws/anything, so the mock would not be literal
        ns = "um-route-" + uniq()
        r = self.d.post("/api/v1/mocks", {
            "namespace": ns, "soap": {"method": "Other"},
            "response": {"payload": "<OtherResponse/>"}})
        self.assertEqual(r.status, 201, r)
        before = self.mocks(ns)
        self.soap11(ns, "/ws/:id", get_order("R-1"), action="x")
        e = self.only_miss(ns, path="/ws/:id")
        self.assertEqual(e["protocol"], "soap")
        r = self.create(e["id"])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "id")
        self.assertIn("route pattern", r.json()["error"])
        self.assertEqual(self.mocks(ns), before)
        # a '%' of the path is the request's own (the plugin hands it on
        # as %25): the made mock answers that path
        self.soap11(ns, "/ws/a%25b", get_order("R-2"), action="x")
        e = self.only_miss(ns, path="/ws/a%25b")
        m = self.created(e["id"])
        self.assertEqual(m["soap"]["path"], "/ws/a%b")
        r = self.soap11(ns, "/ws/a%25b", get_order("R-2"), action="x")
        self.assertEqual(r.headers.get("x-doppel-mock-id"), m["id"], r)

    def mcp_miss(self, ns):
        """A tools/call of a tool no mock has, on the mock MCP server of ns:
        an entry with protocol mcp."""
        path = "/stubs/%s/mcp" % ns
        r = self.d.post(path, json.dumps(init_msg()).encode(),
                        headers=JSON_HEADERS, auth=False)
        self.assertEqual(r.status, 200, r)
        h = dict(JSON_HEADERS)
        h["Mcp-Session-Id"] = r.headers["mcp-session-id"]
        self.d.post(path, json.dumps(msg("notifications/initialized",
                                         None)).encode(),
                    headers=h, auth=False)
        r = self.d.post(path, json.dumps(msg("tools/call", 2, {
            "name": "no_such_tool", "arguments": {}})).encode(), headers=h,
            auth=False)
        self.assertEqual(r.status, 200, r)
        return self.only_miss(ns, protocol="mcp")

    def test_protocol_without_a_maker_is_refused_by_name(self):
        ns = "um-mcp-" + uniq()
        e = self.mcp_miss(ns)
        r = self.create(e["id"])
        self.assertEqual(r.status, 400, r)
        j = r.json()
        self.assertEqual((j["code"], j["field"]), ("validation", "id"))
        self.assertIn("is a mcp request", j["error"])
        self.assertIn("http, graphql, soap and grpc", j["error"])
        self.assertEqual(self.mocks(ns), [])

    def test_unknown_id_is_404(self):
        r = self.create("987654321")
        self.assertEqual(r.status, 404, r)
        self.assertEqual((r.json()["code"], r.json()["field"]),
                         ("not_found", "id"))
        r = self.create("not-an-id")
        self.assertEqual(r.status, 404, r)

    # -- the MCP tool -----------------------------------------------------
    def test_mcp_tool_makes_the_mock_from_a_soap_miss(self):
        if not mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        ns = "um-tool-" + uniq()
        r = self.d.post("/api/v1/mocks", {
            "namespace": ns, "soap": {"method": "Other", "path": "/ws/agent"},
            "response": {"payload": "<OtherResponse/>"}})
        self.assertEqual(r.status, 201, r)
        self.soap11(ns, "/ws/agent", get_order("T-1"))
        e = self.only_miss(ns, protocol="soap")
        out = self.ok(self.call("create_mock_from_unmatched", {
            "id": e["id"], "response": {"payload": "<Done/>"}}))
        m = out["mock"]
        self.assertEqual(out["unmatchedId"], e["id"])
        self.assertEqual(m["soap"], {"method": "GetOrder",
                                     "path": "/ws/agent"})
        r = self.soap11(ns, "/ws/agent", get_order("T-1"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-doppel-mock-id"), m["id"])
        self.assertEqual([c.tag for c in soap_body(r)[1]], ["Done"])
        # and a refused protocol is a tool error naming it
        e = self.mcp_miss("um-tool-mcp-" + uniq())
        text = self.tool_error(self.call("create_mock_from_unmatched",
                                         {"id": e["id"]}))
        self.assertIn("is a mcp request", text)


if __name__ == "__main__":
    unittest.main()
