"""The wire contract the platforms' SDKs rely on, from doppel's side: the
request bodies they send (tests/integration/fixtures/sdk/) go in as they
are, and the shapes they read come back (docs/admin-api.md, "Compatibility
with the platforms' SDKs")."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from sdk_fixtures import fixture  # noqa: E402


class SdkCompatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def create(self, body):
        r = self.d.post("/api/v1/mocks", body)
        self.assertIn(r.status, (200, 201), r)
        return r.json()["mock"]

    def test_health_document(self):
        doc = self.d.get("/health").json()
        self.assertIn(doc["status"], ("pass", "warn", "fail"))
        self.assertEqual(doc["status"], "pass", doc)
        self.assertRegex(doc["releaseId"], r"^\d+\.\d+\.\d+$")
        self.assertRegex(doc["uptime"], r"^(\d+h)?(\d+m)?\d+s$")
        self.assertIsInstance(doc["checks"], dict)
        self.assertIn("plugin:http", doc["checks"])
        for checks in doc["checks"].values():
            for c in checks:
                self.assertIn(c["status"], ("pass", "warn", "fail"))

    def test_namespaces_are_a_list_of_names(self):
        self.create(dict(fixture("mock_oneof.json"), namespace="sdk-ns-list"))
        body = self.d.get("/api/v1/namespaces").json()
        self.assertTrue(all(isinstance(n, str) for n in body["namespaces"]),
                        body)
        self.assertIn("sandbox", body["namespaces"])
        # doppel's own objects, with the role, beside the names
        self.assertEqual([i["name"] for i in body["items"]],
                         body["namespaces"])
        self.assertTrue(all("yourRole" in i for i in body["items"]), body)

    def test_integration_secret_under_token(self):
        r = self.d.post("/api/v1/integrations",
                        fixture("integration_create.json"))
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertTrue(body["token"].startswith("mki_"), body)
        self.assertEqual(body["token"], body["secret"])
        integ = body["integration"]
        for key in ("id", "name", "type", "enabled", "createdAt"):
            self.assertIn(key, integ)
        self.assertEqual((integ["name"], integ["type"], integ["enabled"]),
                         ("resolver-eu", "mock_resolver", True))
        # the token works where integration tokens do: it is refused on the
        # user API with the message meant for integrations, not as unknown
        r = self.d.get("/api/v1/mocks",
                       headers={"Authorization": "Bearer " + body["token"]})
        self.assertEqual(r.status, 403, r)

    def test_mock_with_the_sdks_zero_values(self):
        m = self.create(fixture("mock_http.json"))
        self.assertTrue(m["id"], m)  # "" asked for a generated id
        self.assertEqual(m["pathPrefix"], "/api")  # kept as sent
        seen = []
        for _ in range(2):
            r = self.d.get("/stubs/sdk-compat/api/users/7")
            self.assertEqual(r.status, 200, r)
            seen.append(r.json())
        self.assertEqual([s["visits"] for s in seen], [1, 2])
        b = seen[0]
        self.assertEqual(b["id"], "7")
        self.assertRegex(b["zip"], r"^\d{5}$")
        self.assertRegex(b["phone"], r"^\+1-\d{3}-555-\d{4}$")
        self.assertIsInstance(b["amount"], float)
        self.assertEqual(len(b["jwt"].split(".")), 3)
        self.assertTrue(b["company"])
        # ttl 0 and useLimiter 0: no limit; the prefix is part of the route
        self.assertIsNone(m["expireAt"])
        self.assertEqual(self.d.get("/stubs/sdk-compat/users/7").status, 404)

    def test_patch_answers_fields_mock_and_overwritten(self):
        m = self.create(fixture("mock_oneof.json"))
        r = self.d.request("PATCH", "/api/v1/mocks/" + m["id"],
                           {"tags": ["patched"]})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["id"], m["id"])
        self.assertEqual(body["tags"], ["patched"])
        self.assertIs(body["overwritten"], True)
        self.assertEqual(body["mock"]["id"], m["id"])
        self.assertEqual(body["mock"]["tags"], ["patched"])
        self.assertNotIn("mock", body["mock"])
        # what is stored has neither of the answer's extra keys
        got = self.d.get("/api/v1/mocks/" + m["id"]).json()
        self.assertNotIn("overwritten", got)
        self.assertNotIn("mock", got)

    def test_one_of_offset_and_section_sort_array(self):
        self.create(fixture("mock_oneof.json"))
        codes = [self.d.get("/stubs/sdk-compat/flaky").status
                 for _ in range(3)]
        self.assertEqual(codes, [503, 200, 503])
        self.create(fixture("mock_sorted.json"))
        r = self.d.post("/stubs/sdk-compat/orders", {"items": ["b", "a"]},
                        auth=False)
        self.assertEqual(r.status, 201, r)

    def test_metrics_names_of_the_dashboards(self):
        self.create(dict(fixture("mock_oneof.json"), namespace="sdk-metrics"))
        self.d.get("/stubs/sdk-metrics/flaky")
        text = self.d.get("/metrics").body.decode()
        for family in ("mockarty_http_requests_total",
                       "mockarty_http_request_duration_seconds",
                       "mockarty_mock_requests_total",
                       "mockarty_mocks_total", "mockarty_errors_total",
                       "mockarty_rate_limit_hits_total"):
            self.assertIn("# TYPE %s " % family, text)
        self.assertRegex(text, r'(?m)^mockarty_mocks_total\{namespace='
                               r'"sdk-metrics",protocol="http"\} 1$')
        self.assertTrue(re.search(r'(?m)^mockarty_errors_total\{owner="http"\}'
                                  r' [1-9]', text), text)


if __name__ == "__main__":
    harness.main()
