"""Runs the SOAP examples of docs/mock-format.md (and any in docs/soap.md)
against the real server, so the documentation cannot drift from the plugin.

An example is a ```json block (one mock, or an array of mocks) preceded by
an HTML comment:

    <!-- soap-example
    wsdl: orders.wsdl                    upload docs/examples/<file> first
    post: /ws/orders 1.1 urn:a/GetOrder  path, SOAP version, action (optional)
    body: <o:GetOrder .../>              the Body's content
    header: X-Tenant: acme               a request header (repeatable)
    expect-status: 200                   the HTTP status
    expect-type: application/soap+xml    the start of the Content-Type
    expect-fault: soap:Sender            the fault code of the answer
    expect-contains: <o:orderId>A-1</o:orderId>
                                         text of the answer (repeatable)
    -->

or, for a mock the server must refuse at write time:

    <!-- soap-example
    expect-create: 400 soap.method       status and field of the refusal
    -->

Every example runs in a namespace of its own.
"""

import json
import os
import re
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

DOCS = [os.path.join(harness.SOURCE_DIR, "docs", n)
        for n in ("mock-format.md", "soap.md")]
EXAMPLES = os.path.join(harness.SOURCE_DIR, "docs", "examples")
BLOCK_RE = re.compile(
    r"^<!--[ \t]*soap-example[ \t]*\n(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```json\n(?P<json>.*?)```", re.S | re.M)
ENV = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/",
       "1.2": "http://www.w3.org/2003/05/soap-envelope"}


def parse(spec):
    out = {"headers": {}, "contains": []}
    for raw in spec.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key == "post":
            parts = val.split()
            out["path"], out["version"] = parts[0], parts[1]
            out["action"] = parts[2] if len(parts) > 2 else None
        elif key == "body":
            out["body"] = val
        elif key == "header":
            k, _, v = val.partition(":")
            out["headers"][k.strip()] = v.strip()
        elif key == "wsdl":
            out["wsdl"] = val
        elif key == "expect-status":
            out["status"] = int(val)
        elif key == "expect-type":
            out["type"] = val
        elif key == "expect-fault":
            out["fault"] = val
        elif key == "expect-contains":
            out["contains"].append(val)
        elif key == "expect-create":
            st, _, field = val.partition(" ")
            out["create"] = (int(st), field.strip())
        else:
            raise ValueError("unknown line in a soap-example: %r" % line)
    return out


def examples():
    found = []
    for doc in DOCS:
        if not os.path.exists(doc):
            continue
        with open(doc) as f:
            text = f.read()
        for m in BLOCK_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(("%s:%d" % (os.path.basename(doc), line),
                          parse(m.group("spec")), json.loads(m.group("json"))))
    return found


def fault_code(body, version):
    root = ET.fromstring(body)
    ns = ENV[version]
    f = root.find("{%s}Body/{%s}Fault" % (ns, ns))
    if f is None:
        return None
    if version == "1.1":
        return f.findtext("faultcode")
    return f.findtext("{%s}Code/{%s}Value" % (ns, ns))


class SoapDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.assert_clean_log()

    def test_there_are_examples(self):
        ex = examples()
        self.assertGreaterEqual(len(ex), 6, [e[0] for e in ex])
        self.assertTrue(any("create" in e[1] for e in ex))
        self.assertTrue(any(e[1].get("version") == "1.2" for e in ex))
        self.assertTrue(any("fault" in e[1] for e in ex))

    def test_examples(self):
        for i, (where, spec, body) in enumerate(examples()):
            with self.subTest(example=where):
                self.run_example("soapdoc-%d" % i, spec, body)

    def run_example(self, ns, spec, body):
        if "wsdl" in spec:
            with open(os.path.join(EXAMPLES, spec["wsdl"]), "rb") as f:
                r = self.d.request(
                    "PUT", "/api/v1/schemas/soap/%s?namespace=%s"
                    % (spec["wsdl"], ns), body=f.read(),
                    headers={"Content-Type": "text/xml"})
            self.assertIn(r.status, (200, 201), r.body)
        for m in body if isinstance(body, list) else [body]:
            m = dict(m)
            m["namespace"] = ns
            r = self.d.post("/api/v1/mocks", m)
            if "create" in spec:
                st, field = spec["create"]
                self.assertEqual(r.status, st, r.body)
                self.assertEqual(r.json().get("field"), field, r.json())
                return
            self.assertIn(r.status, (200, 201), r.body)
        v = spec["version"]
        prefix = "s"
        envelope = ('<%s:Envelope xmlns:%s="%s"><%s:Body>%s</%s:Body>'
                    '</%s:Envelope>' % (prefix, prefix, ENV[v], prefix,
                                        spec.get("body", ""), prefix, prefix))
        h = dict(spec["headers"])
        h["X-Namespace"] = ns
        if v == "1.1":
            h["Content-Type"] = "text/xml; charset=utf-8"
            h["SOAPAction"] = '"%s"' % (spec["action"] or "")
        else:
            ct = "application/soap+xml; charset=utf-8"
            if spec["action"]:
                ct += '; action="%s"' % spec["action"]
            h["Content-Type"] = ct
        r = self.d.post(spec["path"], envelope, headers=h)
        self.assertEqual(r.status, spec.get("status", 200), r.body)
        if "type" in spec:
            self.assertTrue(r.headers["content-type"].startswith(spec["type"]),
                            r.headers)
        text = r.body.decode()
        for c in spec["contains"]:
            self.assertIn(c, text)
        code = fault_code(r.body, v)
        self.assertEqual(code, spec.get("fault"), text)


if __name__ == "__main__":
    harness.main()
