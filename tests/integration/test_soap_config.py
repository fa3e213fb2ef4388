"""The [soap] section of plugins.conf and what survives a restart: wsdl_path
(loaded at start into `namespace`, which is also the namespace of requests
that name none), `paths`, sample_answers off, a small max_envelope_bytes, a
broken file in wsdl_path (logged, never a crash), a bad option refused at
start; XPath conditions and the WSDL-backed checks after a restart; a
delayed answer; several requests at once on two workers.
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from test_soap_mocks import (S11, ORD, env11, env12, fault_of,  # noqa: E402
                             get_order, body_of)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "soap")
WSDL = os.path.join(FIXTURES, "orders.wsdl")


def config(**opts):
    text = harness.default_config()
    lines = "".join("%s = %s\n" % kv for kv in opts.items())
    return text.replace("\n[soap]\n", "\n[soap]\n" + lines, 1)


def post11(d, path, inner, action="", headers=None, raw=None):
    h = {"Content-Type": "text/xml"}
    if action is not None:
        h["SOAPAction"] = '"%s"' % action
    h.update(headers or {})
    return d.post(path, raw if raw is not None else env11(inner), headers=h)


class SoapConfig(unittest.TestCase):
    def test_wsdl_path_namespace_paths_and_no_samples(self):
        cfg = config(wsdl_path=WSDL, namespace="orders", paths="/ws/legacy",
                     sample_answers="false")
        with harness.Doppel(config=cfg) as d:
            self.assertIn("operations in namespace orders", d.log())
            # the WSDL is there without an upload, in namespace orders,
            # which requests without X-Namespace use
            r = d.get("/ws/orders?wsdl", headers={"Host": "127.0.0.1:9"})
            self.assertEqual(r.status, 200, r.body)
            self.assertIn(b'location="http://127.0.0.1:9/ws/orders"', r.body)
            r = d.post("/api/v1/mocks", {"namespace": "orders", "soap": {
                "method": "Nope"}, "response": {"payload": "<r/>"}})
            self.assertEqual(r.status, 400, r.body)
            self.assertEqual(r.json()["field"], "soap.method")
            # no mock, samples off: a Client fault naming the operation
            r = post11(d, "/ws/orders", get_order("1"),
                       action="urn:example:orders/GetOrder")
            self.assertEqual(r.status, 500, r.body)
            self.assertIsNone(r.headers.get("x-doppel-sample"))
            self.assertIn("GetOrder", fault_of(r)["string"])
            # an operation the WSDLs lack is named in the fault
            r = post11(d, "/ws/orders", "<o:Refund xmlns:o=\"%s\"/>" % ORD)
            self.assertIn("not defined by the WSDLs", fault_of(r)["string"])
            # a configured path is a SOAP path even without SOAPAction and
            # without any mock naming it
            r = post11(d, "/ws/legacy", get_order("1"), action=None)
            self.assertEqual(fault_of(r)["code"], "soap:Client")
            # and other text/xml posts are the HTTP plugin's
            r = post11(d, "/ws/other", get_order("1"), action=None)
            self.assertEqual(r.status, 404)
            self.assertTrue(r.headers["content-type"].startswith(
                "application/json"), r.headers)
        d.assert_clean_log()

    def test_small_envelope_limit_and_broken_wsdl_file(self):
        broken = os.path.join(harness.tempfile.mkdtemp(), "broken.wsdl")
        with open(broken, "w") as f:
            f.write("<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org"
                    "/wsdl/\"><unclosed></wsdl:definitions>")
        cfg = config(max_envelope_bytes="1k", wsdl_path=broken)
        with harness.Doppel(config=cfg) as d:
            self.assertIn("broken.wsdl", d.log())
            r = d.post("/api/v1/mocks", {"soap": {"path": "/ws/small"},
                                         "response": {"payload": "<r/>"}})
            self.assertEqual(r.status, 201, r.body)
            r = post11(d, "/ws/small", "<a>%s</a>" % ("x" * 2000))
            self.assertEqual(r.status, 500)
            self.assertIn("limit", fault_of(r)["string"])
            r = post11(d, "/ws/small", "<a>small</a>")
            self.assertEqual(r.status, 200, r.body)
        d.assert_clean_log()

    def test_bad_option_is_refused_at_start(self):
        for opts in ({"max_depth": "1000"}, {"paths": "no-slash"},
                     {"stubs_prefix": "x"}, {"namespace": "bad ns"}):
            rc, out, err = harness.run_doppel(
                ["serve", "--listen", "127.0.0.1:0", "--data",
                 harness.tempfile.mkdtemp(), "--config",
                 self.write(config(**opts))])
            self.assertNotEqual(rc, 0, (opts, out, err))

    def write(self, text):
        p = os.path.join(harness.tempfile.mkdtemp(), "plugins.conf")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_xpath_and_wsdl_survive_a_restart(self):
        d = harness.Doppel()
        data = d.data
        try:
            with open(WSDL, "rb") as f:
                r = d.request("PUT", "/api/v1/schemas/soap/orders.wsdl?"
                              "namespace=keep", body=f.read())
            self.assertEqual(r.status, 201, r.body)
            m = {"id": "xp", "namespace": "keep", "soap": {
                "method": "GetOrder", "namespaces": {"q": ORD},
                "conditions": [{"xpath": "//q:orderId", "value": "K-1"}]},
                "priority": 10, "response": {"payload": "<r>kept</r>"}}
            self.assertEqual(d.post("/api/v1/mocks", m).status, 201)
            # the stored form (a $.__xpath path) written back is the same mock
            stored = d.get("/api/v1/mocks/xp?namespace=keep").json()
            again = {k: stored[k] for k in ("id", "namespace", "soap",
                                            "priority", "response")}
            again["id"] = "xp2"
            self.assertEqual(d.post("/api/v1/mocks", again).status, 201)
            d.stop()
            d.assert_clean_log()
            d = harness.Doppel(data=data)
            headers = {"X-Namespace": "keep"}
            r = post11(d, "/ws/orders", get_order("K-1"),
                       action="urn:example:orders/GetOrder", headers=headers)
            self.assertEqual(r.status, 200, r.body)
            self.assertIn(r.headers["x-doppel-mock-id"], ("xp", "xp2"))
            self.assertIn(b"kept", r.body)
            # the other order gets the upload's mock (a sample answer)
            r = post11(d, "/ws/orders", get_order("K-2"),
                       action="urn:example:orders/GetOrder", headers=headers)
            self.assertEqual(r.status, 200, r.body)
            self.assertTrue(r.headers["x-doppel-mock-id"].startswith(
                "soap-orderservice-"), r.headers)
            # the WSDL check holds after the restart too
            r = d.post("/api/v1/mocks", {"namespace": "keep", "soap": {
                "method": "Nope"}, "response": {"payload": "<r/>"}})
            self.assertEqual(r.status, 400, r.body)
        finally:
            d.stop()
        d.assert_clean_log()

    def test_delay_and_concurrent_requests(self):
        with harness.Doppel(workers=2) as d:
            r = d.post("/api/v1/mocks", {"soap": {"method": "GetOrder"},
                                         "response": {
                                             "delay": 200,
                                             "payload": "<r>$.req.GetOrder.orderId</r>"}})
            self.assertEqual(r.status, 201, r.body)
            results = {}

            def one(i):
                r = post11(d, "/ws/c", get_order("n%d" % i))
                results[i] = (r.status, r.body)

            ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for i in range(16):
                st, body = results[i]
                self.assertEqual(st, 200, body)
                self.assertIn(("<r>n%d</r>" % i).encode(), body)
            # SOAP 1.2 on the same mock, while answers are delayed
            r = d.post("/ws/c", env12(get_order("v12")),
                       headers={"Content-Type": "application/soap+xml"})
            ns_, body = body_of(r)
            self.assertNotEqual(ns_, S11)
        d.assert_clean_log()


if __name__ == "__main__":
    harness.main()
