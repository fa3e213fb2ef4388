"""The npm `soap` client (tests/node/soap_client.mjs) against the real
binary: the account service's WSDL (fixtures/soap/account.wsdl, which
imports account-types.xsd) is uploaded through the admin API, the upload
creates one mock per operation and port (schema_mocks) with a sample
answer generated from the XSD types, and a second upload keeps the mocks a
user edited. node's soap.createClientAsync builds its clients from the
WSDL doppel serves at <path>?wsdl (the imported schema inline, the port
addresses rewritten to doppel's) and calls every operation through the
SOAP 1.1 and the SOAP 1.2 port: the generated samples and the edited answer
arrive as the client's result objects, and soapFault mocks surface as the
client's errors (err.root.Envelope.Body.Fault)."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Doppel  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "soap")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "soap_client.mjs")

OPS = ["getaccount", "listaccounts", "deposit"]
IDS = (["soap-accountservice-" + o for o in OPS] +
       ["soap-accountservice-%s-accountport12" % o for o in OPS])

EDITED_DEPOSIT = {"Envelope": {"Body": {
    "@xmlns:a": "urn:example:account",
    "a:DepositResponse": {
        "a:transactionId": "tx-77",
        "a:newBalance": {"@currency": "EUR", "#text": "150.25"},
        "a:booked": "2024-05-06T07:08:09Z"}}}}


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


@unittest.skipUnless(shutil.which("node") and os.path.isdir(
    os.path.join(NODE_DIR, "node_modules", "soap")),
    "node or the npm soap package is missing (scripts/dev.sh deps)")
class SoapClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None):
        return self.d.request(method, "/api/v1" + path, body=body)

    def mock(self, mid):
        r = self.api("GET", "/mocks/" + mid)
        self.assertEqual(r.status, 200, r)
        js = r.json()
        return js.get("mock", js)

    def rewrite(self, mid, response):
        """A user's edit: the mock as stored, with a new response."""
        m = self.mock(mid)
        m = {k: m[k] for k in ("id", "namespace", "soap") if k in m}
        m["response"] = response
        r = self.api("POST", "/mocks", m)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["overwritten"])

    def test_client_built_from_served_wsdl(self):
        # the types first: account.wsdl imports them by file name
        r = self.api("PUT", "/schemas/soap/account-types.xsd",
                     fixture("account-types.xsd"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["mocks"], {"created": [], "kept": []})
        r = self.api("PUT", "/schemas/soap/account.wsdl", fixture("account.wsdl"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(sorted(r.json()["mocks"]["created"]), sorted(IDS))
        self.assertEqual(r.json()["mocks"]["kept"], [])

        m = self.mock("soap-accountservice-getaccount")
        self.assertEqual((m["soap"]["service"], m["soap"]["method"],
                          m["soap"]["action"], m["soap"]["path"]),
                         ("AccountService", "GetAccount",
                          "urn:example:account/GetAccount", "/ws/account"))
        self.assertEqual(self.mock(IDS[3])["soap"]["path"], "/ws/account12")

        # edits: an answer of our own on Deposit (1.1), faults on
        # ListAccounts through both ports
        self.rewrite("soap-accountservice-deposit", {"payload": EDITED_DEPOSIT})
        self.rewrite("soap-accountservice-listaccounts", {"soapFault": {
            "faultCode": "soap:Client", "faultString": "too many accounts",
            "httpStatus": 500}})
        self.rewrite("soap-accountservice-listaccounts-accountport12",
                     {"soapFault": {"faultCode": "soap:Client",
                                    "faultString": "listing is closed",
                                    "httpStatus": 400}})

        # a second upload keeps every mock, the edits included
        r = self.api("PUT", "/schemas/soap/account.wsdl", fixture("account.wsdl"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["mocks"]["created"], [])
        self.assertEqual(sorted(r.json()["mocks"]["kept"]), sorted(IDS))
        self.assertEqual(self.mock("soap-accountservice-deposit")["response"]
                         ["payload"], EDITED_DEPOSIT)

        p = subprocess.run(["node", SCRIPT, "http://127.0.0.1:%d" % self.d.port],
                           capture_output=True, text=True, timeout=120,
                           cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)

        # the client saw doppel's addresses, not accounts.example.com
        base = "http://127.0.0.1:%d" % self.d.port
        self.assertEqual(out["endpoints"], {
            "AccountPort": base + "/ws/account",
            "AccountPort12": base + "/ws/account12"})
        # and the types of the imported schema (served inline)
        desc = out["describe"]["AccountService"]["AccountPort"]
        self.assertEqual(desc["GetAccount"]["output"]["account"]["status"],
                         "AccountStatus|xsd:string|ACTIVE,SUSPENDED,CLOSED")

        for version in ("soap11", "soap12"):
            with self.subTest(version=version):
                acc = out[version]["GetAccount"]["account"]
                self.assertEqual(acc["attributes"], {"version": "0"})
                self.assertEqual(acc["accountId"], "string")
                self.assertEqual(acc["status"], "ACTIVE")  # first enum value
                self.assertEqual(acc["balance"]["attributes"],
                                 {"currency": "str"})  # length 3
                self.assertEqual(acc["balance"]["$value"], 0)  # decimal
                self.assertEqual(acc["interestRate"], "0.5")  # minInclusive
                self.assertIs(acc["overdraft"], True)
                self.assertTrue(acc["opened"].startswith("2024-01-01T00:00:00"))
                self.assertEqual(acc["holder"]["name"], "string")  # base type
                self.assertEqual(acc["holder"]["address"]["country"], "NL")
                self.assertEqual(acc["tag"], ["string"])  # repeated, once
                self.assertEqual(acc["iban"], "string")  # choice: first
                self.assertNotIn("localNumber", acc)

        dep = out["soap11"]["Deposit"]
        self.assertEqual(dep["transactionId"], "tx-77")
        self.assertEqual(dep["newBalance"]["attributes"], {"currency": "EUR"})
        self.assertEqual(dep["newBalance"]["$value"], 150.25)
        # the 1.2 port's Deposit mock is still the sample
        self.assertEqual(out["soap12"]["Deposit"]["transactionId"], "string")

        self.assertEqual(out["soap11"]["ListAccounts"]["fault"], {
            "status": 500, "code": "soap:Client", "string": "too many accounts",
            "detail": None})
        f12 = out["soap12"]["ListAccounts"]["fault"]
        self.assertEqual(f12["status"], 400)
        self.assertTrue(f12["code"].endswith(":Sender"), f12)
        self.assertEqual(f12["string"], "listing is closed")

    def test_rpc_literal_client(self):
        r = self.api("PUT", "/schemas/soap/rates-rpc.wsdl",
                     fixture("rates-rpc.wsdl"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["mocks"], {
            "created": ["soap-rateservice-getrate"], "kept": []})
        m = self.mock("soap-rateservice-getrate")
        self.assertEqual(m["namespace"], "sandbox")
        body = m["response"]["payload"]["Envelope"]["Body"]
        self.assertEqual(body["@xmlns:ns1"], "urn:example:rates:rpc")
        self.assertIn("ns1:GetRateResponse", body)

        p = subprocess.run(["node", SCRIPT, "http://127.0.0.1:%d" % self.d.port,
                            "rpc"], capture_output=True, text=True,
                           timeout=120, cwd=NODE_DIR,
                           )
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["endpoint"],
                         "http://127.0.0.1:%d/ws/rates" % self.d.port)
        res = out["result"]
        self.assertNotIn("fault", res, res)
        # the parts of the rpc answer, unqualified (the client types the
        # boolean part; it leaves the members of a complex part as text)
        self.assertEqual(res["quote"]["rate"], "0.0")
        self.assertEqual(res["quote"]["asOf"], "2024-01-01T00:00:00Z")
        self.assertEqual(res["quote"]["attributes"], {"source": "ECB"})
        self.assertIs(res["stale"], True)


if __name__ == "__main__":
    harness.main()
