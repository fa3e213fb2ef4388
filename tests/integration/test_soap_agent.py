"""An AI agent mocking a SOAP service through the MCP control server (the
official TypeScript SDK client, tests/node/mcp_agent.mjs): it uploads the
WSDL with put_schema (which also stores one sample mock per operation),
reads the operations with describe_protocol, stubs an operation with
create_mock (and is told precisely when it names one the WSDL lacks),
finds its mock with list_mocks, and reads the SOAP calls back with
get_requests and, for a call no mock answered, get_unmatched with the near
miss that says which Body value differed. create_mock_from_unmatched then closes that gap with a soap mock of the
miss's service, operation and path."""

import json
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_mcp_agent  # noqa: E402
from harness import Doppel  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "soap")
S11 = "http://schemas.xmlsoap.org/soap/envelope/"
ORD = "urn:example:orders"
CONFIG = test_mcp_agent.CONFIG + "[soap]\nenabled = true\n"


def get_order(oid):
    return ('<soap:Envelope xmlns:soap="%s"><soap:Body><o:GetOrder '
            'xmlns:o="%s"><o:orderId>%s</o:orderId></o:GetOrder></soap:Body>'
            '</soap:Envelope>' % (S11, ORD, oid))


class SoapAgent(test_mcp_agent.McpCase):
    @classmethod
    def setUpClass(cls):
        if not test_mcp_agent.node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules missing")
        cls.d = Doppel(config=CONFIG)

    def call_soap(self, oid):
        return self.d.post("/stubs/agent/ws/orders", get_order(oid), headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"urn:example:orders/GetOrder"'})

    def test_agent_loop(self):
        with open(os.path.join(FIXTURES, "orders.wsdl")) as f:
            wsdl = f.read()
        put, bad, described = self.calls([
            ("put_schema", {"section": "soap", "namespace": "agent",
                            "name": "orders.wsdl", "content": wsdl}),
            ("put_schema", {"section": "soap", "namespace": "agent",
                            "name": "broken.wsdl",
                            "content": "<wsdl:definitions xmlns:wsdl="
                                       "\"http://schemas.xmlsoap.org/wsdl/\">"
                                       "<wsdl:message>"}),
            ("describe_protocol", {"section": "soap", "namespace": "agent"}),
        ])
        p = self.ok(put)
        self.assertEqual(p["files"][0]["name"], "orders.wsdl")
        samples = p["mocks"]["created"]
        self.assertIn("soap-orderservice-getorder", samples)
        self.assertIn("broken.wsdl:1:", self.tool_error(bad))
        d = self.ok(described)
        self.assertEqual(d["schemaKind"], "wsdl")
        svc = d["defines"]["services"][0]
        self.assertEqual(svc["name"], "OrderService")
        ops = {o["name"] for o in svc["operations"]}
        self.assertEqual(ops, {"GetOrder", "CancelOrder"})
        self.assertNotIn("broken.wsdl",
                         d["defines"]["files"])
        self.assertIn("orders.wsdl", d["defines"]["files"])

        created, refused, deleted = self.calls([
            ("create_mock", {"namespace": "agent", "mock": {
                "id": "agent-a17",
                "soap": {"service": "OrderService", "method": "GetOrder",
                         "conditions": [{"path": "$.GetOrder.orderId",
                                         "assertAction": "equals",
                                         "value": "A-17"}]},
                "response": {"payload": {"GetOrderResponse": {
                    "@xmlns": ORD, "orderId": "A-17", "status": "SHIPPED",
                    "total": 9.5}}}}}),
            ("create_mock", {"namespace": "agent", "mock": {
                "soap": {"service": "OrderService", "method": "GetOrdr"},
                "response": {"payload": {}}}}),
            # without the WSDL's sample, a GetOrder nothing answers is a
            # miss the agent can see
            ("delete_mock", {"id": "soap-orderservice-getorder"}),
        ])
        self.assertEqual(self.ok(created)["mock"]["id"], "agent-a17")
        err = self.tool_error(refused)
        self.assertIn("soap.method", err)
        self.assertIn("GetOrdr", err)
        self.ok(deleted)

        listed, = self.calls([("list_mocks", {"namespace": "agent",
                                              "search": "agent-a17"})])
        items = self.ok(listed)["items"]
        self.assertEqual([m["id"] for m in items], ["agent-a17"])
        self.assertEqual(items[0]["soap"]["method"], "GetOrder")

        r = self.call_soap("A-17")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-doppel-mock-id"), "agent-a17")
        root = ET.fromstring(r.body)
        self.assertEqual(root.findtext(".//{%s}status" % ORD), "SHIPPED")
        r = self.call_soap("B-2")
        # the WSDL still defines GetOrder: a sample answer, still a miss
        self.assertEqual(r.headers.get("x-doppel-sample"), "1", r)

        got, unmatched = self.calls([
            ("get_requests", {"namespace": "agent"}),
            ("get_unmatched", {"namespace": "agent"}),
        ])
        # the journal holds the answered call, its Body as the JSON that
        # conditions read; the miss is in the unmatched list only
        hit = [e for e in self.ok(got)["items"]
               if e.get("protocol") == "soap"]
        self.assertEqual(len(hit), 1, hit)
        self.assertEqual((hit[0]["method"], hit[0]["path"],
                          hit[0]["mockId"], hit[0]["status"]),
                         ("GetOrder", "/ws/orders", "agent-a17", 200))
        body = json.loads(hit[0]["body"])
        self.assertEqual(body["GetOrder"], {"orderId": "A-17"})
        self.assertEqual(body["__soap"]["service"], "OrderService")
        miss = [u for u in self.ok(unmatched)["items"]
                if u.get("protocol") == "soap"]
        self.assertEqual(len(miss), 1, miss)
        self.assertEqual(miss[0]["method"], "GetOrder")
        near = {n["mockId"]: n for n in miss[0]["nearMisses"]}
        self.assertIn("agent-a17", near, miss[0])
        failed = near["agent-a17"]["failed"]
        self.assertEqual([f["path"] for f in failed], ["$.GetOrder.orderId"],
                         failed)

        # the gap closed in one call: a soap mock of the miss's service,
        # operation and path, answering what the agent gives it
        fromu, = self.calls([("create_mock_from_unmatched", {
            "id": miss[0]["id"], "response": {"payload": {
                "GetOrderResponse": {"@xmlns": ORD,
                                     "orderId": "$.req.GetOrder.orderId",
                                     "status": "OPEN"}}}})])
        made = self.ok(fromu)["mock"]
        self.assertEqual(made["soap"], {"service": "OrderService",
                                        "method": "GetOrder",
                                        "path": "/ws/orders"})
        r = self.call_soap("B-2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-doppel-mock-id"), made["id"])
        self.assertIsNone(r.headers.get("x-doppel-sample"))
        root = ET.fromstring(r.body)
        self.assertEqual(root.findtext(".//{%s}orderId" % ORD), "B-2")


if __name__ == "__main__":
    unittest.main(verbosity=2)
