"""gRPC mocks served to a real client (grpc-js, tests/node/grpc/call.mjs):
unary and server-stream calls, conditions on message fields (the three path
spellings, snake_case names, enums, defaults), metadata conditions
(text and -bin), namespaces from x-doppel-namespace, templated payloads,
every status code with its message, rich error details decoded from
grpc-status-details-bin, response metadata and trailers, delays against
deadlines, cancellation, and the same mocks on the plugin's own port and
on the main port (HTTP/2 prior knowledge).

The contract is /work/briefs/grpc-format.md, kept in docs/grpc.md.
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
from grpc_client import grpc_mock  # noqa: E402


def eq(path, value):
    return {"path": path, "assertAction": "equals", "value": value}


class GrpcCalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        cls.addr = cls.d.grpc_address

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def mock(self, method, response=None, **grpc):
        return self.d.mock(grpc_mock(method, response, **grpc)).json()

    def get_order(self, order_id, address=None, **kw):
        return g.call(address or self.addr, "GetOrder",
                      request={"orderId": order_id}, **kw)

    # -- unary ------------------------------------------------------------
    def test_unary_payload_all_field_kinds(self):
        self.mock("GetOrder", {
            "payload": {
                "orderId": "$.req.orderId",
                "customerId": "c-1",
                "status": "ORDER_STATUS_SHIPPED",
                "items": [{"sku": "sku-1", "quantity": 2,
                           "price": {"currencyCode": "EUR", "units": "5",
                                     "nanos": 250000000}}],
                "labels": {"channel": "web"},
                "total": 10.5,
                "createdAt": "2024-01-02T03:04:05Z",
                "attributes": {"gift": True, "n": 3, "tags": ["a"]},
                "pickupPoint": "PP-7",
                "notes": [{"author": "ann", "text": "ring twice"}]},
            "headers": {"x-served-by": "doppel"},
            "trailers": {"x-trace": "t1"}},
            conditions=[eq("orderId", "fields-1")])
        r = self.get_order("fields-1")
        self.assertEqual(r["status"]["code"], g.OK, r)
        m = r["messages"][0]
        self.assertEqual(m["orderId"], "fields-1")  # templated from request
        self.assertEqual(m["status"], "ORDER_STATUS_SHIPPED")
        self.assertEqual(m["items"][0]["price"],
                         {"currencyCode": "EUR", "units": "5",
                          "nanos": 250000000})
        self.assertEqual(m["labels"], {"channel": "web"})
        self.assertEqual(m["total"], 10.5)
        # nanos 0 may be on the wire or not: the same proto3 message
        self.assertEqual(m["createdAt"]["seconds"], "1704164645")
        self.assertEqual(m["createdAt"].get("nanos", 0), 0)
        attrs = m["attributes"]["fields"]
        self.assertEqual(attrs["gift"]["boolValue"], True)
        self.assertEqual(attrs["n"]["numberValue"], 3)
        self.assertEqual(attrs["tags"]["listValue"]["values"][0]["stringValue"], "a")
        self.assertEqual(m["pickupPoint"], "PP-7")
        self.assertEqual(m["delivery"], "pickupPoint")
        self.assertEqual(m["notes"], [{"author": "ann", "text": "ring twice"}])
        self.assertEqual(r["headers"]["x-served-by"], "doppel")
        self.assertEqual(r["headers"]["content-type"].split("+")[0],
                         "application/grpc")
        self.assertEqual(r["trailers"]["x-trace"], "t1")
        self.assertIsNone(r["errorDetails"])

    def test_condition_path_spellings_and_snake_case(self):
        spellings = ["orderId", "$.orderId", "$.body.orderId", "order_id",
                     "$.body.order_id", "$.order_id"]
        for i, path in enumerate(spellings):
            self.mock("GetOrder", {"payload": {"orderId": "spelling-%d" % i}},
                      conditions=[eq(path, "sp-%d" % i)])
        rs = g.calls([g.job(self.addr, "GetOrder",
                            request={"orderId": "sp-%d" % i})
                      for i in range(len(spellings))])
        for i, r in enumerate(rs):
            self.assertEqual(r["status"]["code"], g.OK, (spellings[i], r))
            self.assertEqual(r["messages"][0]["orderId"], "spelling-%d" % i,
                             spellings[i])

    def test_conditions_see_defaults_enums_and_several_fields(self):
        # includeItems is not sent: proto3 JSON with defaults printed lets a
        # condition see false; customer_id and the enum of ListOrders too.
        self.mock("GetOrder", {"payload": {"customerId": "no-items"}},
                  conditions=[eq("orderId", "def-1"),
                              eq("includeItems", False)])
        self.mock("GetOrder", {"payload": {"customerId": "with-items"}},
                  conditions=[eq("orderId", "def-1"),
                              eq("include_items", True),
                              eq("$.body.customerId", "c-9")])
        self.mock("ListOrders", {"payload": {"orderId": "shipped"}},
                  conditions=[eq("status", "ORDER_STATUS_SHIPPED"),
                              eq("customerId", "enum-1")])
        rs = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "def-1"}),
            g.job(self.addr, "GetOrder", request={
                "orderId": "def-1", "includeItems": True, "customerId": "c-9"}),
            g.job(self.addr, "GetOrder", request={
                "orderId": "def-1", "includeItems": True, "customerId": "c-0"}),
            g.job(self.addr, "ListOrders", request={
                "customerId": "enum-1", "status": "ORDER_STATUS_SHIPPED"})])
        self.assertEqual(rs[0]["messages"][0]["customerId"], "no-items", rs[0])
        self.assertEqual(rs[1]["messages"][0]["customerId"], "with-items", rs[1])
        self.assertEqual(rs[2]["status"]["code"], g.NOT_FOUND, rs[2])
        self.assertEqual(rs[3]["messages"], [{"orderId": "shipped"}], rs[3])

    def test_meta_conditions_text_and_binary(self):
        self.mock("GetOrder", {"payload": {"customerId": "acme"}},
                  conditions=[eq("orderId", "meta-1")],
                  meta=[eq("x-tenant", "acme")])
        self.mock("GetOrder", {"payload": {"customerId": "globex"}},
                  conditions=[eq("orderId", "meta-1")],
                  meta=[eq("X-Tenant", "globex")])  # key case-insensitive
        blob = base64.b64encode(b"\x00\x01\x02").decode()
        self.mock("GetOrder", {"payload": {"customerId": "blob"}},
                  conditions=[eq("orderId", "meta-2")],
                  meta=[eq("x-blob-bin", blob)])
        rs = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "meta-1"},
                  metadata={"x-tenant": "acme"}),
            g.job(self.addr, "GetOrder", request={"orderId": "meta-1"},
                  metadata={"x-tenant": "globex"}),
            g.job(self.addr, "GetOrder", request={"orderId": "meta-1"},
                  metadata={"x-tenant": "initech"}),
            g.job(self.addr, "GetOrder", request={"orderId": "meta-2"},
                  metadata={"x-blob-bin": blob}),
            g.job(self.addr, "GetOrder", request={"orderId": "meta-2"},
                  metadata={"x-blob-bin": base64.b64encode(b"\x09").decode()})])
        self.assertEqual(rs[0]["messages"][0]["customerId"], "acme", rs[0])
        self.assertEqual(rs[1]["messages"][0]["customerId"], "globex", rs[1])
        self.assertEqual(rs[2]["status"]["code"], g.NOT_FOUND, rs[2])
        self.assertEqual(rs[3]["messages"][0]["customerId"], "blob", rs[3])
        self.assertEqual(rs[4]["status"]["code"], g.NOT_FOUND, rs[4])

    def test_metadata_in_templates(self):
        self.mock("GetOrder", {"payload": {
            "orderId": "$.req.orderId",
            "customerId": "tenant $.reqHeader.x-tenant"}},
            conditions=[eq("orderId", "tpl-1")])
        r = self.get_order("tpl-1", metadata={"x-tenant": "acme"})
        self.assertEqual(r["messages"][0],
                         {"orderId": "tpl-1", "customerId": "tenant acme"}, r)

    def test_namespace_from_metadata(self):
        self.d.post("/api/v1/namespaces", {"name": "grpcshop"})
        self.d.mock(grpc_mock("GetOrder", {"payload": {"customerId": "shop"}},
                              ns="grpcshop", conditions=[eq("orderId", "ns-1")]))
        rs = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "ns-1"},
                  metadata={"x-doppel-namespace": "grpcshop"}),
            g.job(self.addr, "GetOrder", request={"orderId": "ns-1"})])
        self.assertEqual(rs[0]["messages"][0]["customerId"], "shop", rs[0])
        # sandbox (the plugin's namespace) has no such mock
        self.assertEqual(rs[1]["status"]["code"], g.NOT_FOUND, rs[1])

    def test_second_file_importing_the_first(self):
        self.mock("Charge", {"payload": {
            "invoiceId": "inv-$.req.order.orderId",
            "amount": {"currencyCode": "EUR", "units": "10"},
            "orderStatus": "ORDER_STATUS_OPEN"}},
            service=g.BILLING_SVC,
            conditions=[eq("order.orderId", "77"), eq("card_token", "tok")])
        r = g.call(self.addr, "Charge", service=g.BILLING_SVC,
                   proto=g.BILLING_PROTO,
                   request={"order": {"orderId": "77"}, "cardToken": "tok"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(r["messages"][0]["invoiceId"], "inv-77")
        self.assertEqual(r["messages"][0]["amount"]["units"], "10")

    # -- status codes and errors -----------------------------------------
    def test_every_status_code_with_message(self):
        for code in range(1, 17):
            self.mock("GetOrder", {"statusCode": code,
                                   "error": "failure %d" % code,
                                   "trailers": {"x-code": str(code)}},
                      conditions=[eq("orderId", "code-%d" % code)])
        rs = g.calls([g.job(self.addr, "GetOrder",
                            request={"orderId": "code-%d" % code})
                      for code in range(1, 17)])
        for code, r in zip(range(1, 17), rs):
            self.assertEqual(r["status"]["code"], code, r)
            self.assertEqual(r["status"]["details"], "failure %d" % code, r)
            self.assertEqual(r["messages"], [], r)
            self.assertEqual(r["trailers"].get("x-code"), str(code), r)

    def test_status_zero_is_ok_and_message_is_percent_decoded(self):
        text = "Bestellung 100% nicht gefunden: \u00fc\u00df \u2603 \"q\"\n2"
        self.mock("GetOrder", {"statusCode": 5, "error": text},
                  conditions=[eq("orderId", "pct-1")])
        self.mock("GetOrder", {"statusCode": 0, "payload": {}},
                  conditions=[eq("orderId", "pct-2")])
        rs = g.calls([g.job(self.addr, "GetOrder", request={"orderId": "pct-1"}),
                      g.job(self.addr, "GetOrder", request={"orderId": "pct-2"})])
        self.assertEqual(rs[0]["status"]["code"], g.NOT_FOUND, rs[0])
        self.assertEqual(rs[0]["status"]["details"], text)
        self.assertEqual(rs[1]["status"]["code"], g.OK, rs[1])
        self.assertEqual(rs[1]["messages"], [{}], rs[1])

    def test_error_details_every_type_decoded(self):
        details = [
            {"type": "badRequest", "details": {"fieldViolations": [
                {"field": "order_id", "description": "bad"}]}},
            {"type": "errorInfo", "details": {
                "reason": "ORDER_MISSING", "domain": "shop.example",
                "metadata": {"id": "42"}}},
            {"type": "retryInfo", "details": {"retryDelay": "1.500s"}},
            {"type": "debugInfo", "details": {"stackEntries": ["a", "b"],
                                              "detail": "boom"}},
            {"type": "quotaFailure", "details": {"violations": [
                {"subject": "clientip:1", "description": "daily limit"}]}},
            {"type": "preconditionFailure", "details": {"violations": [
                {"type": "TOS", "subject": "user", "description": "not accepted"}]}},
            {"type": "requestInfo", "details": {"requestId": "req-1",
                                                "servingData": "x"}},
            {"type": "resourceInfo", "details": {
                "resourceType": "order", "resourceName": "42",
                "owner": "shop", "description": "gone"}},
            {"type": "help", "details": {"links": [
                {"description": "docs", "url": "https://example.com/h"}]}},
            {"type": "localizedMessage", "details": {
                "locale": "de-DE", "message": "nicht gefunden"}},
        ]
        self.mock("GetOrder", {"statusCode": 3, "error": "invalid order",
                               "errorDetails": details},
                  conditions=[eq("orderId", "det-1")])
        r = self.get_order("det-1")
        self.assertEqual(r["status"]["code"], g.INVALID_ARGUMENT, r)
        self.assertEqual(r["status"]["details"], "invalid order")
        st = r["errorDetails"]
        self.assertIsNotNone(st, r)
        self.assertEqual(st["code"], g.INVALID_ARGUMENT)
        self.assertEqual(st["message"], "invalid order")
        got = st["details"]
        self.assertEqual([x["kind"] for x in got],
                         [x["type"] for x in details], got)
        for x in got:
            self.assertTrue(x["typeUrl"].startswith(
                "type.googleapis.com/google.rpc."), x)
            self.assertNotIn("error", x, x)
        v = {x["kind"]: x["value"] for x in got}
        self.assertEqual(v["badRequest"], details[0]["details"])
        self.assertEqual(v["errorInfo"], details[1]["details"])
        self.assertEqual(v["retryInfo"]["retryDelay"],
                         {"seconds": "1", "nanos": 500000000})
        self.assertEqual(v["debugInfo"], details[3]["details"])
        self.assertEqual(v["quotaFailure"], details[4]["details"])
        self.assertEqual(v["preconditionFailure"], details[5]["details"])
        self.assertEqual(v["requestInfo"], details[6]["details"])
        self.assertEqual(v["resourceInfo"], details[7]["details"])
        self.assertEqual(v["help"], details[8]["details"])
        self.assertEqual(v["localizedMessage"], details[9]["details"])

    # -- server streams -----------------------------------------------------
    def test_server_stream_messages_then_status(self):
        self.mock("ListOrders", {
            "streamResponses": [
                {"payload": {"orderId": "a", "customerId": "$.req.customerId"}},
                {"payload": {"orderId": "b"}, "delay": 30},
                {"payload": {"orderId": "c"}, "delay": 30}],
            "trailers": {"x-trace": "s1"}},
            conditions=[eq("customerId", "ss-1")])
        self.mock("ListOrders", {
            "streamResponses": [{"payload": {"orderId": "only"}}],
            "statusCode": 9, "error": "stream stopped"},
            conditions=[eq("customerId", "ss-2")])
        self.mock("ListOrders", {"payload": {"orderId": "single"}},
                  conditions=[eq("customerId", "ss-3")])
        rs = g.calls([g.job(self.addr, "ListOrders",
                            request={"customerId": "ss-%d" % i})
                      for i in (1, 2, 3)])
        self.assertEqual(rs[0]["status"]["code"], g.OK, rs[0])
        self.assertEqual([m["orderId"] for m in rs[0]["messages"]],
                         ["a", "b", "c"], rs[0])
        self.assertEqual(rs[0]["messages"][0]["customerId"], "ss-1")
        self.assertEqual(rs[0]["trailers"]["x-trace"], "s1")
        self.assertEqual(rs[1]["status"]["code"], g.FAILED_PRECONDITION, rs[1])
        self.assertEqual(rs[1]["status"]["details"], "stream stopped")
        self.assertEqual(rs[1]["messages"], [{"orderId": "only"}], rs[1])
        self.assertEqual(rs[2]["messages"], [{"orderId": "single"}], rs[2])

    # -- delays, deadlines, cancellation ---------------------------------
    def test_delay_within_and_past_the_deadline(self):
        self.mock("GetOrder", {"payload": {"orderId": "late"}, "delay": 1500},
                  conditions=[eq("orderId", "dl-1")])
        self.mock("ListOrders", {"delay": 1500, "streamResponses": [
            {"payload": {"orderId": "never"}}]},
            conditions=[eq("customerId", "dl-2")])
        rs = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "dl-1"},
                  deadlineMs=300),
            g.job(self.addr, "ListOrders", request={"customerId": "dl-2"},
                  deadlineMs=300),
            g.job(self.addr, "GetOrder", request={"orderId": "dl-1"},
                  deadlineMs=10000)])
        self.assertEqual(rs[0]["status"]["code"], g.DEADLINE_EXCEEDED, rs[0])
        self.assertEqual(rs[0]["messages"], [])
        self.assertEqual(rs[1]["status"]["code"], g.DEADLINE_EXCEEDED, rs[1])
        self.assertEqual(rs[1]["messages"], [])
        self.assertEqual(rs[2]["status"]["code"], g.OK, rs[2])
        self.assertEqual(rs[2]["messages"], [{"orderId": "late"}])

    def test_cancellation_stops_the_stream_and_server_keeps_serving(self):
        self.mock("ListOrders", {"streamResponses": [
            {"payload": {"orderId": "m%d" % i}, "delay": 100}
            for i in range(30)]},
            conditions=[eq("customerId", "cancel-1")])
        r = g.call(self.addr, "ListOrders", request={"customerId": "cancel-1"},
                   cancelAfterMs=450)
        self.assertTrue(r["cancelled"], r)
        self.assertEqual(r["status"]["code"], g.CANCELLED, r)
        self.assertGreaterEqual(len(r["messages"]), 1, r)
        self.assertLess(len(r["messages"]), 30, r)
        self.assertEqual(r["messages"][0]["orderId"], "m0")
        # the server is fine: more cancelled streams, then normal calls
        rs = g.calls([g.job(self.addr, "ListOrders",
                            request={"customerId": "cancel-1"},
                            cancelAfterMs=150) for _ in range(5)] +
                     [g.job(self.addr, "GetOrder", request={"orderId": "dl-x"})])
        self.assertTrue(all(x["status"]["code"] == g.CANCELLED
                            for x in rs[:5]), rs)
        self.assertIn(rs[5]["status"]["code"], (g.OK, g.NOT_FOUND), rs[5])
        self.assertTrue(self.d.get("/health/ready").status == 200)

    # -- the ordinary mock fields on gRPC mocks -----------------------------
    def test_priority_use_limit_replace_and_delete(self):
        self.mock("GetOrder", {"payload": {"customerId": "low"}},
                  conditions=[eq("orderId", "life-1")])
        self.mock("GetOrder", {"payload": {"customerId": "high"}},
                  priority=5, conditions=[eq("orderId", "life-1")])
        self.mock("GetOrder", {"payload": {"customerId": "once"}},
                  useLimiter=1, conditions=[eq("orderId", "life-2")])
        m = self.mock("GetOrder", {"payload": {"customerId": "v1"}},
                      id="grpc-life-3", conditions=[eq("orderId", "life-3")])
        rs = g.calls([g.job(self.addr, "GetOrder", request={"orderId": o})
                      for o in ("life-1", "life-2", "life-2", "life-3")])
        self.assertEqual(rs[0]["messages"][0]["customerId"], "high", rs[0])
        self.assertEqual(rs[1]["messages"][0]["customerId"], "once", rs[1])
        self.assertEqual(rs[2]["status"]["code"], g.NOT_FOUND, rs[2])
        self.assertEqual(rs[3]["messages"][0]["customerId"], "v1", rs[3])
        # replaced by id, then deleted
        r = self.d.post("/api/v1/mocks", grpc_mock(
            "GetOrder", {"payload": {"customerId": "v2"}}, id="grpc-life-3",
            conditions=[eq("orderId", "life-3")]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_order("life-3")["messages"][0]["customerId"], "v2")
        r = self.d.request("DELETE", "/api/v1/mocks/" + m["mock"]["id"])
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(self.get_order("life-3")["status"]["code"], g.NOT_FOUND)

    def test_fakers_and_numbers_in_templates(self):
        self.mock("GetOrder", {"payload": {
            "orderId": "$.fake.UUID", "customerId": "id-$.req.orderId",
            "labels": {"src": "$.req.orderId"}}},
            conditions=[eq("orderId", "fake-1")])
        r = self.get_order("fake-1")
        m = r["messages"][0]
        self.assertRegex(m["orderId"], r"^[0-9a-f-]{36}$", r)
        self.assertEqual(m["customerId"], "id-fake-1")
        self.assertEqual(m["labels"], {"src": "fake-1"})

    def test_concurrent_calls_on_one_connection(self):
        self.mock("GetOrder", {"payload": {"orderId": "slow"}, "delay": 1000},
                  conditions=[eq("orderId", "conc-slow")])
        self.mock("GetOrder", {"payload": {"orderId": "$.req.orderId"}},
                  conditions=[{"path": "orderId", "assertAction": "matches",
                               "value": "^conc-[0-9]+$"}])
        self.mock("ListOrders", {"streamResponses": [
            {"payload": {"orderId": "s%d" % i}, "delay": 50} for i in range(5)]},
            conditions=[eq("customerId", "conc-stream")])
        jobs = [g.job(self.addr, "GetOrder", request={"orderId": "conc-slow"})]
        jobs += [g.job(self.addr, "GetOrder", request={"orderId": "conc-%d" % i})
                 for i in range(30)]
        jobs += [g.job(self.addr, "ListOrders",
                       request={"customerId": "conc-stream"}),
                 g.job(self.addr, "GetOrder", request={"orderId": "conc-none"}),
                 g.job(self.addr, "GetOrder", request={"orderId": "1"},
                       path="/shop.order.v1.OrderService/Nope")]
        rs = g.parallel(jobs)
        self.assertEqual(rs[0]["messages"], [{"orderId": "slow"}], rs[0])
        self.assertEqual([r["messages"][0]["orderId"] for r in rs[1:31]],
                         ["conc-%d" % i for i in range(30)])
        self.assertEqual([m["orderId"] for m in rs[31]["messages"]],
                         ["s%d" % i for i in range(5)], rs[31])
        self.assertEqual(rs[32]["status"]["code"], g.NOT_FOUND, rs[32])
        self.assertEqual(rs[33]["status"]["code"], g.UNIMPLEMENTED, rs[33])

    # -- both ports -----------------------------------------------------------
    def test_same_mocks_on_own_port_and_main_port(self):
        self.mock("GetOrder", {"payload": {"orderId": "both"},
                               "trailers": {"x-trace": "p"}},
                  conditions=[eq("orderId", "port-1")])
        self.assertNotEqual(self.d.grpc_port, self.d.port)
        for addr in (self.d.grpc_address, self.d.main_address):
            r = self.get_order("port-1", address=addr)
            self.assertEqual(r["status"]["code"], g.OK, (addr, r))
            self.assertEqual(r["messages"], [{"orderId": "both"}], addr)
            self.assertEqual(r["trailers"]["x-trace"], "p", addr)
        # and HTTP/1.1 on the main port still works beside it
        self.assertEqual(self.d.get("/health/ready").status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
