"""The gRPC test clients against a real gRPC server: the grpc-js reference
server (bench/grpc/reference_server.mjs). Proves that what the doppel gRPC
tests rely on (call.mjs for every call kind, decoded error details,
trailers, deadlines, cancellation; health.mjs; reflection.mjs) reports what
a real server does, so a failure in the doppel tests is doppel's.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402


class Reference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.ref = g.ReferenceServer()
        cls.addr = cls.ref.address

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()

    def test_unary_message_headers_trailers(self):
        r = g.call(self.addr, "GetOrder", request={"orderId": "42"},
                   metadata={"x-tenant": "acme"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(len(r["messages"]), 1, r)
        m = r["messages"][0]
        self.assertEqual(m["orderId"], "42")
        self.assertEqual(m["total"], 10.5)
        self.assertEqual(m["status"], "ORDER_STATUS_OPEN")     # enum by name
        self.assertEqual(m["items"][0]["price"]["units"], "5")  # int64 string
        self.assertEqual(m["labels"], {"channel": "web", "tenant": "acme"})
        self.assertEqual(m["pickupPoint"], "PP-7")             # oneof
        self.assertEqual(m["notes"][0]["author"], "ann")       # nested type
        self.assertEqual(r["headers"]["x-served-by"], "reference")
        self.assertEqual(r["trailers"]["x-trace"], "t1")
        self.assertIsNone(r["errorDetails"])

    def test_error_status_with_decoded_details(self):
        r = g.call(self.addr, "GetOrder", request={"orderId": "missing"})
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        self.assertEqual(r["status"]["details"], "order not found")
        self.assertEqual(r["messages"], [])
        d = r["errorDetails"]
        self.assertEqual(d["code"], g.NOT_FOUND)
        self.assertEqual(d["message"], "order not found")
        self.assertEqual([x["kind"] for x in d["details"]],
                         ["badRequest", "errorInfo"])
        self.assertEqual(d["details"][0]["typeUrl"],
                         "type.googleapis.com/google.rpc.BadRequest")
        self.assertEqual(d["details"][0]["value"]["fieldViolations"],
                         [{"field": "order_id", "description": "no such order"}])
        self.assertEqual(d["details"][1]["value"]["metadata"], {"id": "missing"})
        self.assertEqual(r["trailers"]["x-trace"], "t1")

    def test_deadline_exceeded(self):
        r = g.call(self.addr, "GetOrder", request={"orderId": "slow"},
                   deadlineMs=300)
        self.assertEqual(r["status"]["code"], g.DEADLINE_EXCEEDED, r)
        self.assertEqual(r["messages"], [])
        # and a deadline long enough gets the answer
        r = g.call(self.addr, "GetOrder", request={"orderId": "slow"},
                   deadlineMs=10000)
        self.assertEqual(r["status"]["code"], g.OK, r)

    def test_server_stream_and_error_after_a_message(self):
        r = g.call(self.addr, "ListOrders", request={"pageSize": 4})
        self.assertEqual(r["kind"], "server-stream")
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual([m["orderId"] for m in r["messages"]],
                         ["o-1", "o-2", "o-3", "o-4"])
        r = g.call(self.addr, "ListOrders", request={"customerId": "fail"})
        self.assertEqual(r["status"]["code"], g.FAILED_PRECONDITION, r)
        self.assertEqual(r["status"]["details"], "customer blocked")
        self.assertEqual(len(r["messages"]), 1, r)

    def test_cancellation_stops_the_stream(self):
        # 30 messages 100 ms apart; cancelled after about 250 ms: the client
        # sees CANCELLED and only the first few messages.
        r = g.call(self.addr, "ListOrders", request={"pageSize": 30},
                   cancelAfterMs=250)
        self.assertTrue(r["cancelled"], r)
        self.assertEqual(r["status"]["code"], g.CANCELLED, r)
        self.assertGreaterEqual(len(r["messages"]), 1, r)
        self.assertLess(len(r["messages"]), 30, r)
        # the server keeps serving
        r = g.call(self.addr, "GetOrder", request={"orderId": "1"})
        self.assertEqual(r["status"]["code"], g.OK, r)

    def test_client_stream(self):
        items = [{"orderId": "o-9", "item": {"sku": "a", "quantity": 2,
                                             "price": {"units": "3"}}},
                 {"message": {"orderId": "o-9", "item": {
                     "sku": "b", "quantity": 1, "price": {"units": "4"}}},
                  "delayMs": 20}]
        r = g.call(self.addr, "UploadItems", messages=items)
        self.assertEqual(r["kind"], "client-stream")
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(r["messages"], [{"orderId": "o-9", "itemCount": 2,
                                          "total": 10}])

    def test_bidirectional(self):
        r = g.call(self.addr, "Chat", messages=[
            {"sessionId": "s", "text": "hi", "seq": 1},
            {"message": {"sessionId": "s", "text": "again", "seq": 2},
             "delayMs": 30}])
        self.assertEqual(r["kind"], "bidirectional")
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual([m["text"] for m in r["messages"]],
                         ["echo: hi", "echo: again"])
        self.assertEqual(r["trailers"]["x-trace"], "t1")

    def test_second_file_importing_the_first(self):
        r = g.call(self.addr, "Charge", service=g.BILLING_SVC,
                   proto=g.BILLING_PROTO,
                   request={"order": {"orderId": "7"}, "cardToken": "tok"})
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(r["messages"][0]["invoiceId"], "inv-7")

    def test_unknown_method_and_service_are_unimplemented(self):
        r = g.calls([
            g.job(self.addr, "GetOrder", request={"orderId": "1"},
                  path="/shop.order.v1.OrderService/Nope"),
            g.job(self.addr, "GetOrder", request={"orderId": "1"},
                  path="/no.such.v1.Service/GetOrder"),
            g.job(self.addr, "GetOrder", request={"orderId": "1"})])
        self.assertEqual(r[0]["status"]["code"], g.UNIMPLEMENTED, r)
        self.assertEqual(r[1]["status"]["code"], g.UNIMPLEMENTED, r)
        self.assertEqual(r[2]["status"]["code"], g.OK, r)

    def test_batch_of_calls_in_one_process(self):
        rs = g.calls([g.job(self.addr, "GetOrder", request={"orderId": str(i)})
                      for i in range(5)])
        self.assertEqual([r["messages"][0]["orderId"] for r in rs],
                         ["0", "1", "2", "3", "4"])

    def test_concurrent_calls_on_one_connection(self):
        jobs = [g.job(self.addr, "GetOrder", request={"orderId": "slow"})]
        jobs += [g.job(self.addr, "GetOrder", request={"orderId": "c%d" % i})
                 for i in range(20)]
        jobs += [g.job(self.addr, "ListOrders", request={"pageSize": 3}),
                 g.job(self.addr, "GetOrder", request={"orderId": "missing"})]
        rs = g.parallel(jobs)
        self.assertEqual(rs[0]["messages"][0]["orderId"], "slow", rs[0])
        self.assertEqual([r["messages"][0]["orderId"] for r in rs[1:21]],
                         ["c%d" % i for i in range(20)])
        self.assertEqual(len(rs[21]["messages"]), 3, rs[21])
        self.assertEqual(rs[22]["status"]["code"], g.NOT_FOUND, rs[22])

    def test_health_check_and_watch(self):
        r = g.health(self.addr)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        r = g.health(self.addr, service=g.ORDER_SVC)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        r = g.health(self.addr, service="no.such.Service")
        self.assertEqual(r["status"]["code"], g.NOT_FOUND, r)
        r = g.health(self.addr, op="watch", updates=1)
        self.assertEqual(r["statuses"], ["SERVING"], r)
        self.assertEqual(r["status"]["code"], g.OK, r)

    def test_reflection(self):
        for version in ("v1alpha", "v1"):
            r = g.reflection(self.addr, [
                {"op": "listServices"},
                {"op": "listMethods", "service": g.ORDER_SVC},
                {"op": "fileContainingSymbol", "symbol": g.BILLING_SVC},
                {"op": "fileByFilename", "file": "no/such.proto"}],
                version=version)
            res = r["results"]
            self.assertIn(g.ORDER_SVC, res[0]["services"], r)
            self.assertIn(g.BILLING_SVC, res[0]["services"], r)
            self.assertEqual(
                {m["name"]: (m["requestStream"], m["responseStream"])
                 for m in res[1]["methods"]},
                {"GetOrder": (False, False), "ListOrders": (False, True),
                 "UploadItems": (True, False), "Chat": (True, True)}, r)
            files = res[2]["files"]
            self.assertEqual(files[0]["services"], ["BillingService"], r)
            # the order types come with it (the file it imports)
            self.assertTrue(any("Order" in f["messages"] for f in files), r)
            self.assertIn("error", res[3], r)

    def test_reference_keeps_serving_many_calls(self):
        t0 = time.time()
        rs = g.calls([g.job(self.addr, "GetOrder", request={"orderId": "x"})
                      for _ in range(50)])
        self.assertTrue(all(r["status"]["code"] == g.OK for r in rs))
        self.assertLess(time.time() - t0, 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
