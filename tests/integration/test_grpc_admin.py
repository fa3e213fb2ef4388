"""gRPC mocks through the admin API and what the server reports about them:
write-time checks against the .proto files (a 400 naming the field),
UNIMPLEMENTED and NOT_FOUND misses in the journal and the unmatched list
with protocol grpc, /metrics per service/method/code, server reflection
(v1 and v1alpha, grpc-js-reflection-client), health Check and Watch, and
.proto upload through the admin API.

The upload route is PUT /api/v1/schemas/grpc/<name>?namespace=<ns> with the
raw file as body (the route may still move: UPLOAD_ROUTE below).
"""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
from grpc_client import grpc_mock  # noqa: E402

UPLOAD_ROUTE = "/api/v1/schemas/grpc/%s?namespace=%s"


def eq(path, value):
    return {"path": path, "assertAction": "equals", "value": value}


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_samples(text):
    """[(name, {label: value}, float)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        m = SAMPLE_RE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL_RE.findall(m.group(2))),
                        float(m.group(3))))
    return out


class WriteTimeChecks(unittest.TestCase):
    """A mock that cannot be served is refused when it is written."""

    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def refused(self, body, field_prefix, *words):
        r = self.d.post("/api/v1/mocks", body)
        self.assertEqual(r.status, 400, r)
        j = r.json()
        self.assertEqual(j["code"], "validation", j)
        self.assertTrue(j.get("field", "").startswith(field_prefix),
                        (field_prefix, j))
        for w in words:
            self.assertIn(w, j["error"] + " " + j.get("field", ""), j)
        # and nothing was stored
        lst = self.d.get("/api/v1/mocks?namespace=sandbox&limit=1000").json()
        self.assertFalse(any(m.get("grpc") == body.get("grpc")
                             for m in lst["items"]), lst)
        return j

    def test_valid_mock_is_stored_with_its_section(self):
        r = self.d.mock(grpc_mock("GetOrder", {"payload": {"orderId": "1"}},
                                  conditions=[eq("order_id", "1")]))
        m = r.json()["mock"]
        self.assertEqual(m["grpc"]["service"], g.ORDER_SVC)
        self.assertEqual(m["grpc"]["method"], "GetOrder")
        got = self.d.get("/api/v1/mocks/" + m["id"]).json()
        self.assertEqual(got["grpc"]["method"], "GetOrder")

    def test_service_alias_and_method_type(self):
        body = grpc_mock("ListOrders", {"payload": {}},
                         methodType="server-stream")
        body["grpc"]["serviceName"] = body["grpc"].pop("service")
        self.d.mock(body)

    def test_unknown_service(self):
        self.refused(grpc_mock("GetOrder", {"payload": {}},
                               service="shop.order.v1.NoSuchService"),
                     "grpc.service", "NoSuchService")

    def test_unknown_method(self):
        self.refused(grpc_mock("GetOrderz", {"payload": {}}),
                     "grpc.method", "GetOrderz")

    def test_method_type_mismatch(self):
        self.refused(grpc_mock("GetOrder", {"payload": {}},
                               methodType="server-stream"),
                     "grpc.methodType")
        self.refused(grpc_mock("GetOrder", {"payload": {}},
                               methodType="sideways"),
                     "grpc.methodType")

    def test_unknown_field_in_condition(self):
        self.refused(grpc_mock("GetOrder", {"payload": {}},
                               conditions=[eq("orderId", "1"),
                                           eq("$.body.orderNumber", "1")]),
                     "grpc.conditions", "orderNumber")
        self.refused(grpc_mock("UploadItems", {"payload": {}},
                               conditions=[eq("last.item.colour", "red")]),
                     "grpc.conditions", "colour")

    def test_payload_not_fitting_the_output_type(self):
        self.refused(grpc_mock("GetOrder", {"payload": {"orderNumber": "1"}}),
                     "response.payload", "orderNumber")
        self.refused(grpc_mock("GetOrder", {"payload": {"total": "ten"}}),
                     "response.payload", "total")
        self.refused(grpc_mock("GetOrder", {"payload": {
            "items": [{"sku": "a"}, {"quantity": "many"}]}}),
            "response.payload", "quantity")
        self.refused(grpc_mock("GetOrder", {"payload": {
            "status": "ORDER_STATUS_LOST"}}), "response.payload", "status")
        self.refused(grpc_mock("ListOrders", {"streamResponses": [
            {"payload": {"orderId": "ok"}}, {"payload": {"nope": 1}}]}),
            "response.streamResponses", "nope")

    def test_bad_status_code_and_error_details(self):
        self.refused(grpc_mock("GetOrder", {"statusCode": 17}),
                     "response.statusCode")
        self.refused(grpc_mock("GetOrder", {"statusCode": 3, "errorDetails": [
            {"type": "noSuchDetail", "details": {}}]}),
            "response.errorDetails", "noSuchDetail")
        self.refused(grpc_mock("GetOrder", {"statusCode": 3, "errorDetails": [
            {"type": "badRequest", "details": {"violationz": []}}]}),
            "response.errorDetails", "violationz")

    def test_batch_refused_as_a_whole(self):
        r = self.d.post("/api/v1/mocks/batch", {"namespace": "sandbox", "mocks": [
            grpc_mock("GetOrder", {"payload": {"orderId": "batch-ok"}}),
            grpc_mock("NoSuchMethod", {"payload": {}})]})
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.json()["field"].startswith("mocks[1].grpc.method"),
                        r.json())

    def test_validate_dry_run(self):
        r = self.d.post("/api/v1/mocks/validate",
                        grpc_mock("GetOrder", {"payload": {"bogus": 1}}))
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.json()["field"].startswith("response.payload"), r.json())


class MissesJournalMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        cls.addr = cls.d.grpc_address

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_unknown_method_and_service_are_unimplemented(self):
        rs = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "1"},
                  path="/shop.order.v1.OrderService/Nope"),
            g.job(self.addr, "GetOrder", request={"orderId": "1"},
                  path="/no.such.v1.Service/GetOrder")])
        for r in rs:
            self.assertEqual(r["status"]["code"], g.UNIMPLEMENTED, r)
        entries = g.list_entries(self.d, "/api/v1/unmatched", "sandbox")
        paths = [e.get("path") for e in entries if e.get("protocol") == "grpc"]
        self.assertIn("/shop.order.v1.OrderService/Nope", paths, entries)

    def test_known_method_without_match_is_not_found_with_near_misses(self):
        m = self.d.mock(grpc_mock("GetOrder", {"payload": {"orderId": "42"}},
                                  conditions=[eq("orderId", "nm-42")])).json()
        r = g.call(self.addr, "GetOrder", request={"orderId": "nm-41"})
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        # the near miss is summarised: the field that failed is named
        self.assertIn("orderId", r["status"]["details"], r)
        entries = g.list_entries(self.d, "/api/v1/unmatched", "sandbox")
        mine = [e for e in entries if e.get("protocol") == "grpc"
                and "nm-41" in str(e.get("body"))]
        self.assertEqual(len(mine), 1, entries)
        e = mine[0]
        self.assertEqual(e["path"], "/shop.order.v1.OrderService/GetOrder", e)
        self.assertTrue(e["nearMisses"], e)
        self.assertEqual(e["nearMisses"][0]["mockId"], m["mock"]["id"], e)

    def test_matched_call_in_the_journal(self):
        m = self.d.mock(grpc_mock("GetOrder", {"payload": {"orderId": "j"}},
                                  conditions=[eq("orderId", "journal-1")])).json()
        r = g.call(self.addr, "GetOrder", request={"orderId": "journal-1"},
                   metadata={"x-tenant": "acme"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        entries = g.list_entries(self.d, "/api/v1/requests", "sandbox")
        mine = [e for e in entries if e.get("mockId") == m["mock"]["id"]]
        self.assertEqual(len(mine), 1, entries)
        e = mine[0]
        self.assertEqual(e["protocol"], "grpc", e)
        self.assertEqual(e["path"], "/shop.order.v1.OrderService/GetOrder", e)
        self.assertIn("journal-1", str(e["body"]), e)
        self.assertEqual(e["headers"].get("x-tenant"), "acme", e)
        # the mock's use counter moved
        got = self.d.get("/api/v1/mocks/" + m["mock"]["id"]).json()
        self.assertEqual(got["useCounter"], 1, got)

    def test_metrics_per_service_method_code(self):
        self.d.mock(grpc_mock("ListOrders", {"payload": {}},
                              conditions=[eq("customerId", "metrics-1")]))
        self.d.mock(grpc_mock("ListOrders", {"statusCode": 7, "error": "no"},
                              conditions=[eq("customerId", "metrics-2")]))
        rs = g.calls([g.job(self.addr, "ListOrders",
                            request={"customerId": "metrics-1"})] * 3 +
                     [g.job(self.addr, "ListOrders",
                            request={"customerId": "metrics-2"})] * 2)
        self.assertEqual([r["status"]["code"] for r in rs], [0, 0, 0, 7, 7])
        text = self.d.get("/metrics").body.decode()
        counts = {}
        for name, labels, value in metric_samples(text):
            # the family's name is the plugin's business (e.g.
            # doppel_plugin_calls_total); its labels name the call
            vals = set(labels.values())
            if not name.endswith("_total"):
                continue
            if "ListOrders" not in vals or not any(
                    v in (g.ORDER_SVC, "OrderService") for v in vals):
                continue
            code = labels.get("code", labels.get("grpc_code",
                                                 labels.get("status")))
            counts[code] = counts.get(code, 0) + value
        self.assertTrue(counts, "no series for ListOrders in /metrics:\n"
                        + "\n".join(line for line in text.splitlines()
                                    if "grpc" in line or "Orders" in line))
        ok = counts.get("OK", 0) + counts.get("0", 0)
        denied = counts.get("PERMISSION_DENIED", 0) + counts.get("7", 0)
        self.assertEqual(ok, 3, counts)
        self.assertEqual(denied, 2, counts)


class ReflectionHealth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_reflection_lists_services_and_files(self):
        for addr in (self.d.grpc_address, self.d.main_address):
            for version in ("v1", "v1alpha"):
                r = g.reflection(addr, [
                    {"op": "listServices"},
                    {"op": "listMethods", "service": g.ORDER_SVC},
                    {"op": "fileContainingSymbol", "symbol": g.BILLING_SVC},
                    {"op": "fileByFilename", "file": g.ORDER_PROTO},
                    {"op": "fileContainingSymbol", "symbol": "no.such.Symbol"}],
                    version=version)
                res = r["results"]
                ctx = (addr, version, r)
                self.assertIn(g.ORDER_SVC, res[0].get("services", []), ctx)
                self.assertIn(g.BILLING_SVC, res[0]["services"], ctx)
                self.assertEqual(
                    {m["name"]: (m["requestStream"], m["responseStream"])
                     for m in res[1]["methods"]},
                    {"GetOrder": (False, False), "ListOrders": (False, True),
                     "UploadItems": (True, False), "Chat": (True, True)}, ctx)
                files = {f["name"]: f for f in res[2]["files"]}
                self.assertEqual(res[2]["files"][0]["name"], g.BILLING_PROTO, ctx)
                self.assertIn(g.ORDER_PROTO,
                              files[g.BILLING_PROTO]["dependency"], ctx)
                self.assertIn(g.ORDER_PROTO, files, ctx)
                self.assertIn("google/protobuf/timestamp.proto", files, ctx)
                self.assertIn("Order", files[g.ORDER_PROTO]["messages"], ctx)
                self.assertEqual(res[3]["files"][0]["name"], g.ORDER_PROTO, ctx)
                self.assertIn("error", res[4], ctx)

    def test_health_check_and_watch(self):
        addr = self.d.grpc_address
        r = g.health(addr)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        r = g.health(addr, service=g.ORDER_SVC)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        r = g.health(addr, service="no.such.Service")
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        r = g.health(addr, op="watch", updates=1)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        r = g.health(addr, op="watch", service="no.such.Service", updates=1)
        self.assertEqual(r["statuses"], ["SERVICE_UNKNOWN"], r)
        r = g.health(self.d.main_address)
        self.assertEqual(r["statuses"], ["SERVING"], r)


class HealthDrain(unittest.TestCase):
    def test_watch_sees_not_serving_when_the_server_drains(self):
        g.require_node(self)
        d = g.GrpcDoppel()
        p = subprocess.Popen(
            [g.NODE, os.path.join(g.SCRIPTS, "health.mjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=g.NODE_DIR)
        try:
            p.stdin.write(json.dumps({
                "address": d.grpc_address, "op": "watch", "updates": 2,
                "deadlineMs": 20000, "progress": True}).encode())
            p.stdin.close()
            first = p.stderr.readline().decode()
            self.assertEqual(first.strip(), "update SERVING", first)
            d.stop()  # SIGTERM: the host drains
            out = p.stdout.read()  # the job's deadline bounds the wait
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            d.__exit__(None, None, None)
        r = json.loads(out.decode().strip().splitlines()[-1])
        self.assertEqual(r["statuses"], ["SERVING", "NOT_SERVING"], r)


INVENTORY = b"""syntax = "proto3";
package inventory.v1;
import "google/protobuf/timestamp.proto";
import "shop/order/v1/order.proto";
message StockRequest { string sku = 1; }
message Stock {
  string sku = 1;
  int32 available = 2;
  google.protobuf.Timestamp checked_at = 3;
  shop.order.v1.Money unit_price = 4;
}
service InventoryService { rpc GetStock(StockRequest) returns (Stock); }
"""

BROKEN = b"""syntax = "proto3";
package broken.v1;
message A {
  string a = 1
  int32 b = 2;
}
"""


class SchemaUpload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        cls.tmp = cls.d.tmp

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def put(self, name, body, ns="sandbox"):
        return self.d.request("PUT", UPLOAD_ROUTE % (name, ns), body=body,
                              headers={"Content-Type": "text/plain"})

    def test_upload_then_mock_and_call(self):
        r = self.put("inventory.proto", INVENTORY)
        self.assertIn(r.status, (200, 201), r)
        self.d.mock(grpc_mock("GetStock", {"payload": {
            "sku": "$.req.sku", "available": 5,
            "checkedAt": "2024-01-02T03:04:05Z",
            "unitPrice": {"currencyCode": "EUR", "units": "3"}}},
            service="inventory.v1.InventoryService",
            conditions=[eq("sku", "A-1")]))
        path = os.path.join(self.tmp, "inventory.proto")
        with open(path, "wb") as f:
            f.write(INVENTORY)
        r = g.call(self.d.grpc_address, "GetStock",
                   service="inventory.v1.InventoryService",
                   proto="inventory.proto",
                   includeDirs=[self.tmp, g.PROTO_DIR],
                   request={"sku": "A-1"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(r["messages"][0]["available"], 5, r)
        self.assertEqual(r["messages"][0]["unitPrice"]["units"], "3", r)
        # reflection lists it
        r = g.reflection(self.d.grpc_address, [{"op": "listServices"}])
        self.assertIn("inventory.v1.InventoryService",
                      r["results"][0]["services"], r)

    def test_broken_file_refused_with_position(self):
        r = self.put("broken.proto", BROKEN)
        self.assertEqual(r.status, 400, r)
        j = r.json()
        # file:line:column of the missing ';' (line 5 "int32 b = 2;")
        self.assertRegex(j["error"], r"broken\.proto:[45]:\d+", j)
        # nothing was loaded
        r = self.d.post("/api/v1/mocks", grpc_mock(
            "X", {"payload": {}}, service="broken.v1.Nothing"))
        self.assertEqual(r.status, 400, r)

    def test_missing_import_refused(self):
        r = self.put("lonely.proto", b'syntax = "proto3";\npackage l;\n'
                     b'import "no/such/dep.proto";\nmessage L { int32 a = 1; }\n')
        self.assertEqual(r.status, 400, r)
        self.assertIn("no/such/dep.proto", r.json()["error"], r.json())


if __name__ == "__main__":
    unittest.main(verbosity=2)
