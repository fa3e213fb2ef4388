"""SOAP mocks against the real server (plugins/soap): SOAP 1.1 and 1.2
requests matched by action and by Body element, JSON-path, XPath and header
conditions, XML and JSON answers (templated), faults of both versions, the
unmatched list and the journal, WSDL-backed checks, ?wsdl, sample answers,
metrics, and the fall-through to the HTTP plugin.

Each test uses its own namespace, so one server serves the whole class.
"""

import json
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

S11 = "http://schemas.xmlsoap.org/soap/envelope/"
S12 = "http://www.w3.org/2003/05/soap-envelope"
ORD = "urn:example:orders"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "soap")


def env11(inner, header=""):
    h = "<soap:Header>%s</soap:Header>" % header if header else ""
    return ('<?xml version="1.0"?><soap:Envelope xmlns:soap="%s">%s'
            '<soap:Body>%s</soap:Body></soap:Envelope>' % (S11, h, inner))


def env12(inner):
    return ('<env:Envelope xmlns:env="%s"><env:Body>%s</env:Body>'
            '</env:Envelope>' % (S12, inner))


def get_order(oid, prefix="o"):
    return ('<%s:GetOrder xmlns:%s="%s"><%s:orderId>%s</%s:orderId>'
            '</%s:GetOrder>' % (prefix, prefix, ORD, prefix, oid, prefix,
                                prefix))


def body_of(resp):
    root = ET.fromstring(resp.body)
    ns = root.tag[1:].split("}")[0]
    assert root.tag.endswith("}Envelope"), resp.body
    body = root.find("{%s}Body" % ns)
    assert body is not None, resp.body
    return ns, body


def fault_of(resp):
    ns, body = body_of(resp)
    f = body.find("{%s}Fault" % ns)
    assert f is not None, resp.body
    if ns == S11:
        return {"version": "1.1", "code": f.findtext("faultcode"),
                "string": f.findtext("faultstring"),
                "actor": f.findtext("faultactor"),
                "detail": f.find("detail")}
    return {"version": "1.2",
            "code": f.findtext("{%s}Code/{%s}Value" % (S12, S12)),
            "string": f.findtext("{%s}Reason/{%s}Text" % (S12, S12)),
            "actor": f.findtext("{%s}Role" % S12),
            "detail": f.find("{%s}Detail" % S12)}


class SoapMocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.assert_clean_log()

    # -- helpers ----------------------------------------------------------
    def mock(self, ns, m, status=201):
        m = dict(m)
        m["namespace"] = ns
        r = self.d.post("/api/v1/mocks", m)
        self.assertEqual(r.status, status, r.body)
        return r

    def call11(self, ns, path, inner, action=None, headers=None, raw=None):
        h = {"Content-Type": "text/xml; charset=utf-8", "X-Namespace": ns}
        if action is not None:
            h["SOAPAction"] = '"%s"' % action
        h.update(headers or {})
        return self.d.post(path, raw if raw is not None else env11(inner),
                           headers=h)

    def call12(self, ns, path, inner, action=None, raw=None):
        ct = "application/soap+xml; charset=utf-8"
        if action:
            ct += '; action="%s"' % action
        return self.d.post(path, raw if raw is not None else env12(inner),
                           headers={"Content-Type": ct, "X-Namespace": ns})

    def upload_wsdl(self, ns):
        with open(os.path.join(FIXTURES, "orders.wsdl"), "rb") as f:
            r = self.d.request("PUT", "/api/v1/schemas/soap/orders.wsdl"
                               "?namespace=%s" % ns, body=f.read(),
                               headers={"Content-Type": "text/xml"})
        self.assertIn(r.status, (200, 201), r.body)
        return r

    # -- matching ---------------------------------------------------------
    def test_soap11_matched_by_body_element_and_templated_xml(self):
        ns = "soap-body"
        self.mock(ns, {"id": "o1", "soap": {"method": "GetOrder",
                                            "path": "/ws/orders"},
                       "response": {"payload":
                                    '<o:GetOrderResponse xmlns:o="%s">'
                                    '<o:orderId>$.req.GetOrder.orderId'
                                    '</o:orderId><o:status>OPEN</o:status>'
                                    '</o:GetOrderResponse>' % ORD}})
        r = self.call11(ns, "/ws/orders", get_order("A-17"), action="x")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["content-type"], "text/xml; charset=utf-8")
        self.assertEqual(r.headers["x-doppel-mock-id"], "o1")
        ns_, body = body_of(r)
        self.assertEqual(ns_, S11)
        self.assertEqual(body.findtext("{%s}GetOrderResponse/{%s}orderId"
                                       % (ORD, ORD)), "A-17")
        # the same mock answers another operation's request with a miss
        r = self.call11(ns, "/ws/orders", '<o:CancelOrder xmlns:o="%s"/>' % ORD,
                        action="x")
        self.assertEqual(r.status, 500)
        self.assertEqual(fault_of(r)["code"], "soap:Client")
        self.assertEqual(r.headers.get("x-doppel-match"), "miss")

    def test_soap12_with_action_parameter_and_json_answer(self):
        ns = "soap-12"
        self.mock(ns, {"id": "o12", "soap": {"method": "CancelOrder",
                                             "path": "/ws/orders12",
                                             "action": "urn:cancel"},
                       "response": {"payload": {"Envelope": {"Body": {
                           "@xmlns:o": ORD,
                           "o:CancelOrderResponse": {
                               "@ref": "$.req.CancelOrder.orderId",
                               "o:cancelled": True,
                               "o:note": "a < b & \"c\"",
                               "o:item": ["x", "y"]}}}}}})
        inner = '<o:CancelOrder xmlns:o="%s"><o:orderId>9</o:orderId>' \
                '</o:CancelOrder>' % ORD
        r = self.call12(ns, "/ws/orders12", inner, action="urn:cancel")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith(
            "application/soap+xml"))
        ns_, body = body_of(r)
        self.assertEqual(ns_, S12)
        resp = body.find("{%s}CancelOrderResponse" % ORD)
        self.assertEqual(resp.get("ref"), "9")
        self.assertEqual(resp.findtext("{%s}cancelled" % ORD), "true")
        self.assertEqual(resp.findtext("{%s}note" % ORD), 'a < b & "c"')
        self.assertEqual([e.text for e in resp.findall("{%s}item" % ORD)],
                         ["x", "y"])
        # another action: a Sender fault (400 in the SOAP 1.2 binding)
        # whose near miss names the action
        r = self.call12(ns, "/ws/orders12", inner, action="urn:other")
        self.assertEqual(r.status, 400, r.body)
        f = fault_of(r)
        self.assertEqual(f["code"], "soap:Sender")
        failed = f["detail"].findall(".//{urn:doppel:soap}failed")
        self.assertTrue(any(e.get("where") == "action" for e in failed),
                        r.body)

    def test_json_path_and_xpath_conditions_and_near_miss(self):
        ns = "soap-cond"
        self.mock(ns, {"id": "vip", "soap": {
            "method": "GetOrder", "path": "/ws/orders",
            "namespaces": {"ord": ORD},
            "conditions": [
                {"xpath": "//ord:orderId", "value": "VIP-1"},
                {"path": "$.GetOrder.orderId", "assertAction": "matches",
                 "value": "^VIP-"}]},
            "response": {"payload": "<r>vip</r>"}})
        self.mock(ns, {"id": "count", "soap": {
            "method": "GetOrder", "path": "/ws/orders",
            "conditions": [{"xpath": "count(//*[local-name()='line'])",
                            "value": "3"}]},
            "response": {"payload": "<r>three</r>"}})
        r = self.call11(ns, "/ws/orders", get_order("VIP-1", "x"), action="")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["x-doppel-mock-id"], "vip")
        lines = '<GetOrder xmlns="%s"><orderId>n</orderId><line/><line/>' \
                '<line/></GetOrder>' % ORD
        r = self.call11(ns, "/ws/orders", lines, action="")
        self.assertEqual(r.headers.get("x-doppel-mock-id"), "count", r.body)
        # a miss: the near miss names the XPath, not its member
        r = self.call11(ns, "/ws/orders", get_order("VIP-2"), action="")
        self.assertEqual(r.status, 500)
        f = fault_of(r)
        failed = f["detail"].findall(".//{urn:doppel:soap}failed")
        xp = [e for e in failed if e.get("where") == "xpath"]
        self.assertTrue(xp, r.body)
        self.assertIn("//ord:orderId", [e.get("path") for e in xp])
        self.assertNotIn(b"__xpath", r.body)
        # and so does the unmatched list
        u = self.d.get("/api/v1/unmatched?namespace=%s" % ns).json()
        entries = u if isinstance(u, list) else u.get("items", u.get("entries"))
        self.assertTrue(entries, u)
        text = json.dumps(entries[0])
        self.assertIn("//ord:orderId", text)
        self.assertEqual(entries[0]["protocol"], "soap")
        # the mock as stored reads back with its XPath in the path
        m = self.d.get("/api/v1/mocks/vip?namespace=%s" % ns).json()
        paths = [c["path"] for c in m["soap"]["conditions"]]
        self.assertTrue(any("//ord:orderId" in p for p in paths), paths)

    def test_xpath_with_undeclared_prefix_is_refused(self):
        ns = "soap-xpbad"
        r = self.mock(ns, {"id": "bad", "soap": {
            "method": "GetOrder",
            "conditions": [{"xpath": "//nope:orderId", "value": "1"}]},
            "response": {"payload": "<r/>"}}, status=400)
        self.assertEqual(r.json()["field"], "soap.conditions[0].xpath")

    def test_header_conditions_and_soap_header(self):
        ns = "soap-hdr"
        self.mock(ns, {"id": "tenant", "soap": {
            "method": "GetOrder",
            "header": [{"path": "X-Tenant", "value": "acme"}],
            "conditions": [{"path": "$.__soap.header.Token", "value": "t1"}]},
            "response": {"payload": "<r>acme</r>"}})
        hdr = '<h:Token xmlns:h="urn:h">t1</h:Token>'
        raw = env11(get_order("1"), header=hdr)
        r = self.call11(ns, "/ws/any/path", None, action="a",
                        headers={"X-Tenant": "acme"}, raw=raw)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["x-doppel-mock-id"], "tenant")
        r = self.call11(ns, "/ws/any/path", None, action="a",
                        headers={"X-Tenant": "other"}, raw=raw)
        self.assertEqual(r.status, 500)
        failed = fault_of(r)["detail"].findall(".//{urn:doppel:soap}failed")
        self.assertIn("header", [e.get("where") for e in failed])

    def test_faults_of_both_versions_with_http_status(self):
        ns = "soap-fault"
        self.mock(ns, {"id": "f", "soap": {"method": "GetOrder"},
                       "response": {"soapFault": {
                           "faultCode": "soap:Client",
                           "faultString": "order $.req.GetOrder.orderId unknown",
                           "faultActor": "urn:orders",
                           "detail": '<e:E xmlns:e="urn:e">404</e:E>',
                           "httpStatus": 404}}})
        r = self.call11(ns, "/ws/orders", get_order("Z"), action="")
        self.assertEqual(r.status, 404, r.body)
        f = fault_of(r)
        self.assertEqual(f["version"], "1.1")
        self.assertEqual(f["code"], "soap:Client")
        self.assertEqual(f["string"], "order Z unknown")
        self.assertEqual(f["actor"], "urn:orders")
        self.assertEqual(f["detail"].findtext("{urn:e}E"), "404")
        r = self.call12(ns, "/ws/orders", get_order("Y"))
        self.assertEqual(r.status, 404, r.body)
        f = fault_of(r)
        self.assertEqual(f["version"], "1.2")
        self.assertEqual(f["code"], "soap:Sender")
        self.assertEqual(f["string"], "order Y unknown")
        self.assertEqual(f["actor"], "urn:orders")
        self.mock(ns, {"id": "f2", "soap": {"method": "CancelOrder"},
                       "response": {"soapFault": {"faultCode": "Server",
                                                  "faultString": "down"}}})
        r = self.call12(ns, "/ws/orders", '<CancelOrder/>')
        self.assertEqual(r.status, 500)
        self.assertEqual(fault_of(r)["code"], "soap:Receiver")

    def test_journal_records_the_soap_exchange(self):
        ns = "soap-journal"
        self.mock(ns, {"id": "j", "soap": {"method": "GetOrder"},
                       "response": {"payload": "<r/>"}})
        r = self.call11(ns, "/ws/j", get_order("J-1"), action="urn:j")
        self.assertEqual(r.status, 200, r.body)
        j = self.d.get("/api/v1/requests?namespace=%s" % ns).json()
        entries = j if isinstance(j, list) else j.get("items", j.get("entries"))
        e = entries[0]
        self.assertEqual(e["protocol"], "soap")
        self.assertEqual(e["mockId"], "j")
        self.assertEqual(e["method"], "GetOrder")
        self.assertEqual(e["path"], "/ws/j")
        body = e["body"] if isinstance(e["body"], dict) else json.loads(e["body"])
        self.assertEqual(body["GetOrder"]["orderId"], "J-1")
        self.assertEqual(body["__soap"]["action"], "urn:j")

    def test_mock_checks(self):
        ns = "soap-check"
        cases = [
            ({"method": "GetOrder", "bogus": 1}, "soap.bogus"),
            ({"method": "GetOrder", "path": "ws"}, "soap.path"),
            ({"method": "GetOrder", "soapVersion": "2.0"}, "soap.soapVersion"),
            ({"method": 5}, "soap.method"),
            ({"method": "GetOrder", "namespaces": {"a:b": "x"}},
             "soap.namespaces.a:b"),
        ]
        for i, (sec, field) in enumerate(cases):
            r = self.mock(ns, {"id": "c%d" % i, "soap": sec,
                               "response": {"payload": "<r/>"}}, status=400)
            self.assertEqual(r.json()["field"], field, r.body)
        bad_answers = [
            ({"payload": "<r><unclosed></r>"}, "response.payload"),
            ({"payload": {"Envelope": {"Body": {"p:x": 1}}}},
             "response.payload"),
            ({"soapFault": {"faultCode": "Oops"}},
             "response.soapFault.faultCode"),
            ({"soapFault": {"detail": "<a>"}}, "response.soapFault.detail"),
            ({"soapFault": {"httpStatus": 99}},
             "response.soapFault.httpStatus"),
        ]
        for i, (resp, field) in enumerate(bad_answers):
            r = self.mock(ns, {"id": "r%d" % i, "soap": {"method": "GetOrder"},
                               "response": resp}, status=400)
            self.assertEqual(r.json()["field"], field, r.body)

    def test_soap_version_condition(self):
        ns = "soap-ver"
        self.mock(ns, {"id": "v12", "soap": {"method": "GetOrder",
                                             "soapVersion": "1.2"},
                       "response": {"payload": "<r>12</r>"}})
        r = self.call12(ns, "/ws/v", get_order("1"))
        self.assertEqual(r.status, 200, r.body)
        r = self.call11(ns, "/ws/v", get_order("1"), action="")
        self.assertEqual(r.status, 500, r.body)

    # -- WSDL ----------------------------------------------------------------
    def test_wsdl_checks_mocks_serves_and_samples(self):
        ns = "soap-wsdl"
        self.upload_wsdl(ns)
        # a method the WSDL lacks is refused
        r = self.mock(ns, {"id": "nope", "soap": {"service": "OrderService",
                                                  "method": "Refund"},
                           "response": {"payload": "<r/>"}}, status=400)
        self.assertEqual(r.json()["field"], "soap.method")
        self.assertIn("Refund", r.body.decode())
        r = self.mock(ns, {"id": "nosvc", "soap": {"service": "Nope"},
                           "response": {"payload": "<r/>"}}, status=400)
        self.assertEqual(r.json()["field"], "soap.service")
        # the operation comes from the action through the WSDL, even when
        # the Body's element says otherwise
        self.mock(ns, {"id": "get", "soap": {"service": "OrderService",
                                             "method": "GetOrder",
                                             "path": "/ws/orders"},
                       "response": {"payload": "<r>get</r>"}}, status=201)
        r = self.d.post("/stubs/%s/ws/orders" % ns,
                        env11('<o:Something xmlns:o="%s"/>' % ORD),
                        headers={"Content-Type": "text/xml",
                                 "SOAPAction": '"urn:example:orders/GetOrder"'})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["x-doppel-mock-id"], "get")
        # the upload made one mock per operation (schema_mocks); without
        # it, a WSDL operation gets a sample generated from its types
        ids = [m["id"] for m in self.d.get(
            "/api/v1/mocks?namespace=%s" % ns).json().get("items", [])]
        created = [i for i in ids if i.startswith("soap-orderservice-")]
        self.assertIn("soap-orderservice-cancelorder", created, ids)
        for i in created:
            if "cancelorder" in i:
                r = self.d.request("DELETE", "/api/v1/mocks/%s?namespace=%s"
                                   % (i, ns))
                self.assertIn(r.status, (200, 204), r.body)
        r = self.d.post("/stubs/%s/ws/orders12" % ns,
                        env12('<o:CancelOrder xmlns:o="%s"><o:orderId>1'
                              '</o:orderId></o:CancelOrder>' % ORD),
                        headers={"Content-Type": "application/soap+xml; "
                                 "action=\"urn:example:orders/CancelOrder\""})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers.get("x-doppel-sample"), "1")
        ns_, body = body_of(r)
        self.assertEqual(ns_, S12)
        cancelled = body.findtext("{%s}CancelOrderResponse/{%s}cancelled"
                                  % (ORD, ORD))
        self.assertIn(cancelled, ("true", "false"))
        # ?wsdl, with the address rewritten to this server
        r = self.d.get("/stubs/%s/ws/orders?wsdl" % ns,
                       headers={"Host": "mock.local:1234"})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith("text/xml"))
        text = r.body.decode()
        self.assertIn('location="http://mock.local:1234/stubs/%s/ws/orders"'
                      % ns, text)
        self.assertNotIn("orders.internal.example", text)
        r = self.d.get("/ws/orders?wsdl", headers={"Host": "evil\"host",
                                                   "X-Namespace": ns})
        self.assertEqual(r.status, 400)
        # describe
        r = self.d.get("/api/v1/protocols/soap?namespace=%s" % ns)
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("GetOrder", r.body.decode())

    # -- hostile input -----------------------------------------------------------
    def test_hostile_and_malformed_envelopes_get_client_faults(self):
        ns = "soap-hostile"
        self.mock(ns, {"id": "h", "soap": {"method": "GetOrder",
                                           "path": "/ws/h"},
                       "response": {"payload": "<r/>"}})
        secret_file = os.path.join(self.d.tmp, "secret.txt")
        with open(secret_file, "w") as f:
            f.write("SECRET-0xC0FFEE")
        xxe = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM '
               '"file://%s">]><soap:Envelope xmlns:soap="%s"><soap:Body>'
               '<GetOrder><orderId>&s;</orderId></GetOrder></soap:Body>'
               '</soap:Envelope>' % (secret_file, S11))
        laughs = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                  + "".join('<!ENTITY %s "%s">' % (chr(98 + i), ("&%s;" % chr(97 + i)) * 10)
                            for i in range(8))
                  + ']><soap:Envelope xmlns:soap="%s"><soap:Body><GetOrder>'
                    '&i;</GetOrder></soap:Body></soap:Envelope>' % S11)
        deep = env11("<a>" * 5000 + "</a>" * 5000)
        bodies = [xxe, laughs, deep, "not xml at all", "<a><b></a>",
                  "<soap:Envelope xmlns:soap=\"%s\"/>" % S11,
                  "<Envelope><Body/></Envelope>", "\x00\xff\xfe", ""]
        for b in bodies:
            r = self.call11(ns, "/ws/h", None, action="", raw=b)
            self.assertEqual(r.status, 500, (b[:60], r.body))
            f = fault_of(r)
            self.assertIn(f["code"], ("soap:Client", "soap:VersionMismatch"))
            self.assertNotIn(b"SECRET", r.body)
            self.assertNotIn(secret_file.encode(), r.body)
        r = self.call12(ns, "/ws/h", None, raw=xxe.replace(S11, S12))
        self.assertEqual(r.status, 400)
        self.assertEqual(fault_of(r)["code"], "soap:Sender")
        # a 1.2 envelope sent as text/xml
        r = self.call11(ns, "/ws/h", None, action="", raw=env12(get_order("1")))
        self.assertEqual(fault_of(r)["code"], "soap:VersionMismatch")
        # still serving
        r = self.call11(ns, "/ws/h", get_order("1"), action="")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.d.get("/health/live").status, 200)

    def test_oversized_envelope(self):
        ns = "soap-big"
        self.mock(ns, {"id": "b", "soap": {"path": "/ws/big"},
                       "response": {"payload": "<r/>"}})
        big = env11("<a>%s</a>" % ("x" * (4 * 1024 * 1024 + 10)))
        r = self.call11(ns, "/ws/big", None, action="", raw=big)
        self.assertEqual(r.status, 500)
        self.assertIn("limit", fault_of(r)["string"])

    # -- routing -----------------------------------------------------------------
    def test_other_requests_fall_through_to_http(self):
        ns = "soap-http"
        self.mock(ns, {"id": "plain", "http": {"route": "/xml-api",
                                               "method": "POST"},
                       "response": {"statusCode": 202, "payload": "ok"}})
        # text/xml without SOAPAction to a path no soap mock names
        r = self.d.post("/xml-api", "<x/>", headers={"Content-Type": "text/xml",
                                                     "X-Namespace": ns})
        self.assertEqual(r.status, 202, r.body)
        # a soap path answers even without SOAPAction
        self.mock(ns, {"id": "s", "soap": {"path": "/ws/s"},
                       "response": {"payload": "<r/>"}})
        r = self.d.post("/ws/s", env11("<A/>"), headers={
            "Content-Type": "text/xml", "X-Namespace": ns})
        self.assertEqual(r.headers.get("x-doppel-mock-id"), "s", r.body)

    def test_metrics_count_calls(self):
        ns = "soap-metrics"
        self.mock(ns, {"id": "m", "soap": {"method": "GetOrder"},
                       "response": {"payload": "<r/>"}})
        self.call11(ns, "/ws/m", get_order("1"), action="")
        text = self.d.get("/metrics").body.decode()
        lines = [ln for ln in text.splitlines()
                 if ln.startswith("doppel_plugin_calls_total{")
                 and 'plugin="soap"' in ln and 'method="GetOrder"' in ln
                 and 'result="matched"' in ln]
        self.assertTrue(lines, text[-2000:])
        # an operation only a request names gets no series of its own (the
        # Body's element is the client's to choose)
        self.call11(ns, "/ws/m", "<Unheard%d/>" % os.getpid(), action="")
        text = self.d.get("/metrics").body.decode()
        self.assertNotIn("Unheard", text)
        self.assertIn('method="(other)",result="miss"', text)


if __name__ == "__main__":
    harness.main()
