"""The admin REST API (/api/v1) against the real binary over real HTTP.

Every endpoint, its status codes and error bodies (with field paths), and
after every rejected write a check that nothing was stored.
"""

import json
import os
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

API = "/api/v1"


def mock(route, ns=None, status=200, payload=None, **extra):
    m = {"http": {"route": route, "httpMethod": "GET"},
         "response": {"statusCode": status,
                      "payload": payload if payload is not None else {"ok": True}}}
    if ns is not None:
        m["namespace"] = ns
    m.update(extra)
    return m


def fresh_ns(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class AdminApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    # -- helpers -----------------------------------------------------------
    def api(self, method, path, body=None, headers=None):
        return self.d.request(method, API + path, body=body, headers=headers)

    def assert_error(self, r, status, code, field=None, contains=None):
        self.assertEqual(r.status, status, r)
        j = r.json()
        self.assertEqual(j["code"], code, j)
        self.assertIsInstance(j["error"], str)
        self.assertTrue(j["error"], j)
        self.assertEqual(j["request_id"], r.headers.get("x-request-id"), j)
        if field is not None:
            self.assertEqual(j.get("field"), field, j)
        if contains is not None:
            self.assertIn(contains, j["error"])
        return j

    def count(self, ns):
        r = self.api("GET", "/mocks?includeClosed=true&namespace=" + ns)
        self.assertEqual(r.status, 200, r)
        return r.json()["total"]

    def create(self, m, **kw):
        r = self.api("POST", "/mocks", m, **kw)
        self.assertIn(r.status, (200, 201), r)
        return r.json()["mock"]

    # -- mocks -------------------------------------------------------------
    def test_create_get_replace(self):
        ns = fresh_ns()
        r = self.api("POST", "/mocks", mock("/a", ns, extra_key={"kept": 1}))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers["content-type"], "application/json")
        body = r.json()
        self.assertIs(body["overwritten"], False)
        m = body["mock"]
        self.assertTrue(m["id"])
        self.assertEqual(m["namespace"], ns)
        self.assertEqual(m["extra_key"], {"kept": 1})  # unknown keys kept

        g = self.api("GET", "/mocks/" + m["id"])
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json()["id"], m["id"])
        self.assertEqual(g.json()["http"]["route"], "/a")
        self.assertIn("createdAt", g.json()["_meta"])

        again = mock("/a", ns, status=202)
        again["id"] = m["id"]
        r2 = self.api("POST", "/mocks", again)
        self.assertEqual(r2.status, 200, r2)
        self.assertIs(r2.json()["overwritten"], True)
        self.assertEqual(r2.json()["mock"]["response"]["statusCode"], 202)
        self.assertEqual(self.count(ns), 1)

        self.assert_error(self.api("GET", "/mocks/no-such-id"), 404,
                          "not_found")

    def test_patch(self):
        ns = fresh_ns()
        m = self.create(mock("/p", ns, status=200))
        r = self.api("PATCH", "/mocks/" + m["id"],
                     {"response": {"statusCode": 201}, "tags": ["x"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["response"]["statusCode"], 201)
        self.assertEqual(r.json()["response"]["payload"], {"ok": True})
        self.assertEqual(r.json()["tags"], ["x"])
        served = self.d.get("/stubs/%s/p" % ns)
        self.assertEqual(served.status, 201, served)

        bad = self.api("PATCH", "/mocks/" + m["id"],
                       {"http": {"route": "no-slash"}})
        self.assert_error(bad, 400, "validation", field="http.route")
        g = self.api("GET", "/mocks/" + m["id"]).json()
        self.assertEqual(g["http"]["route"], "/p")  # unchanged
        self.assert_error(self.api("PATCH", "/mocks/nope", {"tags": []}), 404,
                          "not_found")
        self.assert_error(self.api("PATCH", "/mocks/" + m["id"], [1]), 400,
                          "validation")

    def test_close_restore_purge(self):
        ns = fresh_ns()
        m = self.create(mock("/c", ns))
        self.assertEqual(self.d.get("/stubs/%s/c" % ns).status, 200)

        r = self.api("DELETE", "/mocks/" + m["id"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["closedAt"])
        miss = self.d.get("/stubs/%s/c" % ns)
        self.assertEqual(miss.status, 404)
        self.assertEqual(miss.headers.get("x-doppel-match"), "miss")
        listed = self.api("GET", "/mocks?namespace=" + ns).json()
        self.assertEqual(listed["total"], 0)
        self.assertEqual(self.count(ns), 1)  # includeClosed

        r = self.api("POST", "/mocks/%s/restore" % m["id"])
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json().get("closedAt"))
        self.assertEqual(self.d.get("/stubs/%s/c" % ns).status, 200)

        r = self.api("DELETE", "/mocks/%s/purge" % m["id"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assert_error(self.api("GET", "/mocks/" + m["id"]), 404,
                          "not_found")
        self.assert_error(self.api("DELETE", "/mocks/%s/purge" % m["id"]),
                          404, "not_found")
        self.assert_error(self.api("POST", "/mocks/nope/restore"), 404,
                          "not_found")
        self.assertEqual(self.count(ns), 0)

    def test_rejections_store_nothing(self):
        ns = fresh_ns()
        cases = [
            ("wrong type", dict(mock("/x", ns), priority="high"), "priority"),
            ("invalid route", mock("no-slash", ns), "http.route"),
            ("invalid regex",
             {"namespace": ns, "http": {"routePattern": "/a/(["},
              "response": {"statusCode": 200}}, "http.routePattern"),
            ("invalid template",
             mock("/x", ns, payload={"user": {"name": "$.fake.NoSuchFaker"}}),
             "response.payload.user.name"),
            ("response and proxy",
             dict(mock("/x", ns), proxy={"target": "http://127.0.0.1:9"}),
             "proxy"),
            ("none of response/oneOf/proxy",
             {"namespace": ns, "http": {"route": "/x"}}, "response"),
            ("bad status", mock("/x", ns, status=42), "response.statusCode"),
            ("bad oneOf",
             {"namespace": ns, "http": {"route": "/x"},
              "oneOf": {"responses": [{"statusCode": 200},
                                      {"statusCode": "x"}]}},
             "oneOf.responses[1].statusCode"),
            ("bad condition regex",
             {"namespace": ns,
              "http": {"route": "/x", "conditions": [
                  {"path": "a", "assertAction": "matches", "value": "(["}]},
              "response": {"statusCode": 200}}, "http.conditions[0].value"),
            ("no protocol section",
             {"namespace": ns, "response": {"statusCode": 200}}, "http"),
        ]
        for name, body, field in cases:
            with self.subTest(name):
                r = self.api("POST", "/mocks", body)
                self.assert_error(r, 400, "validation", field=field)
                self.assertEqual(self.count(ns), 0, name)

    def test_malformed_and_non_object_bodies(self):
        ns = fresh_ns()
        r = self.api("POST", "/mocks?namespace=" + ns,
                     '{"http": {"route": "/x",}}',
                     headers={"Content-Type": "application/json"})
        j = self.assert_error(r, 400, "validation", contains="malformed JSON")
        self.assertIn("column", j["error"])  # parse position
        self.assertNotIn("field", j)
        r = self.api("POST", "/mocks?namespace=" + ns, "[1, 2]",
                     headers={"Content-Type": "application/json"})
        self.assert_error(r, 400, "validation")
        r = self.api("POST", "/mocks?namespace=" + ns, "")
        self.assert_error(r, 400, "validation", contains="body is required")
        r = self.api("POST", "/mocks", '{"a": 1, "a": 2}')
        self.assert_error(r, 400, "validation", contains="duplicate")
        self.assertEqual(self.count(ns), 0)

    def test_wrong_content_type_tolerated(self):
        ns = fresh_ns()
        r = self.api("POST", "/mocks", json.dumps(mock("/ct", ns)),
                     headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.count(ns), 1)

    def test_unknown_endpoint_and_wrong_method(self):
        r = self.api("GET", "/nope")
        self.assert_error(r, 404, "not_found")
        r = self.api("GET", "/mocks/a/b/c/d/e")
        self.assert_error(r, 404, "not_found")
        r = self.api("PUT", "/mocks")
        self.assert_error(r, 405, "validation")
        allow = [m.strip() for m in r.headers["allow"].split(",")]
        self.assertEqual(sorted(allow), ["GET", "POST"])
        r = self.api("GET", "/mocks/batch")
        self.assertEqual(r.status, 405)
        self.assertEqual(sorted(m.strip() for m in r.headers["allow"].split(",")),
                         ["DELETE", "POST"])
        r = self.api("POST", "/reset/now")
        self.assert_error(r, 404, "not_found")
        # A mock cannot take the reserved id "batch".
        r = self.api("POST", "/mocks", dict(mock("/b"), id="batch"))
        self.assert_error(r, 400, "validation", field="id")

    def test_batch_all_or_nothing(self):
        ns = fresh_ns()
        bad = [mock("/b0", ns), mock("bad", ns), mock("/b2", ns)]
        r = self.api("POST", "/mocks/batch", bad)
        self.assert_error(r, 400, "validation", field="[1].http.route")
        self.assertEqual(self.count(ns), 0)
        r = self.api("POST", "/mocks/batch", {"mocks": bad})
        self.assert_error(r, 400, "validation", field="mocks[1].http.route")
        self.assertEqual(self.count(ns), 0)
        r = self.api("POST", "/mocks/batch", {"mocks": "x"})
        self.assert_error(r, 400, "validation", field="mocks")

        good = [mock("/b%d" % i) for i in range(3)]
        r = self.api("POST", "/mocks/batch", {"namespace": ns, "mocks": good})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["created"], 3)
        ids = [m["id"] for m in r.json()["mocks"]]
        self.assertEqual(len(set(ids)), 3)
        self.assertTrue(all(m["namespace"] == ns for m in r.json()["mocks"]))
        self.assertEqual(self.count(ns), 3)
        self.assertEqual(self.d.get("/stubs/%s/b2" % ns).status, 200)

        # Closing: an unknown id closes nothing.
        r = self.api("DELETE", "/mocks/batch", {"ids": [ids[0], "nope"]})
        self.assert_error(r, 404, "not_found")
        self.assertEqual(self.api("GET", "/mocks?namespace=" + ns).json()["total"], 3)
        r = self.api("DELETE", "/mocks/batch", {"ids": [ids[0], 7]})
        self.assert_error(r, 400, "validation", field="ids[1]")
        r = self.api("DELETE", "/mocks/batch", {"ids": ids[:2]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["closed"], 2)
        live = self.api("GET", "/mocks?namespace=" + ns).json()
        self.assertEqual([m["id"] for m in live["items"]], [ids[2]])

    def test_list_paging_and_filters(self):
        ns = fresh_ns()
        for i in range(5):
            self.create(mock("/l%d" % i, ns, tags=["all", "t%d" % (i % 2)]))
        r = self.api("GET", "/mocks?namespace=%s&limit=2" % ns)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual((j["total"], j["offset"], j["limit"], j["hasMore"]),
                         (5, 0, 2, True))
        self.assertEqual(len(j["items"]), 2)
        seen = [m["id"] for m in j["items"]]
        j2 = self.api("GET", "/mocks?namespace=%s&limit=2&offset=2" % ns).json()
        j3 = self.api("GET", "/mocks?namespace=%s&limit=2&offset=4" % ns).json()
        self.assertEqual(len(j3["items"]), 1)
        self.assertIs(j3["hasMore"], False)
        seen += [m["id"] for m in j2["items"] + j3["items"]]
        self.assertEqual(len(set(seen)), 5)

        t1 = self.api("GET", "/mocks?namespace=%s&tags=all,t1" % ns).json()
        self.assertEqual(t1["total"], 2)
        self.assertTrue(all("t1" in m["tags"] for m in t1["items"]))
        s = self.api("GET", "/mocks?namespace=%s&search=l3" % ns).json()
        self.assertEqual([m["http"]["route"] for m in s["items"]], ["/l3"])

        for q, field in (("limit=abc", "limit"), ("limit=0", "limit"),
                         ("offset=-1", "offset"), ("includeClosed=maybe",
                                                   "includeClosed")):
            with self.subTest(q):
                self.assert_error(self.api("GET", "/mocks?" + q), 400,
                                  "validation", field=field)

    # -- stores ------------------------------------------------------------
    def test_global_store(self):
        ns = fresh_ns()
        q = "?namespace=" + ns
        r = self.api("PUT", "/stores/global/user" + q, {"name": "Ann"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"name": "Ann"})
        r = self.api("PUT", "/stores/global/n" + q, "42")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api("GET", "/stores/global/user" + q).json(),
                         {"name": "Ann"})
        self.assertEqual(self.api("GET", "/stores/global" + q).json(),
                         {"user": {"name": "Ann"}, "n": 42})
        # Namespace from the header, and isolation between namespaces.
        other = self.api("GET", "/stores/global",
                         headers={"X-Namespace": fresh_ns()})
        self.assertEqual(other.json(), {})
        hdr = self.api("GET", "/stores/global/n", headers={"X-Namespace": ns})
        self.assertEqual(hdr.json(), 42)
        # Encoded slash stays inside the key.
        r = self.api("PUT", "/stores/global/a%2Fb" + q, '"slash"')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api("GET", "/stores/global" + q).json()["a/b"],
                         "slash")

        self.assert_error(self.api("PUT", "/stores/global/k" + q, "{oops"),
                          400, "validation", contains="malformed JSON")
        self.assert_error(self.api("PUT", "/stores/global/k" + q), 400,
                          "validation")
        self.assert_error(self.api("GET", "/stores/global/k" + q), 404,
                          "not_found")
        r = self.api("DELETE", "/stores/global/user" + q)
        self.assertEqual(r.status, 204, r)
        self.assert_error(self.api("GET", "/stores/global/user" + q), 404,
                          "not_found")
        r = self.api("DELETE", "/stores/global" + q)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.api("GET", "/stores/global" + q).json(), {})
        self.assert_error(self.api("POST", "/stores/global/k" + q, "1"), 405,
                          "validation")

    def test_chain_store(self):
        ns = fresh_ns()
        q = "?namespace=" + ns
        r = self.api("PUT", "/stores/chain/order-1/step" + q, "3")
        self.assertEqual(r.status, 200, r)
        r = self.api("PUT", "/stores/chain/order-1/items" + q, [1, 2])
        self.assertEqual(self.api("GET", "/stores/chain/order-1" + q).json(),
                         {"step": 3, "items": [1, 2]})
        self.assertEqual(self.api("GET", "/stores/chain/order-2" + q).json(),
                         {})
        self.assertEqual(self.api("GET", "/stores/chain/order-1/step" + q).json(), 3)
        self.assertEqual(self.api("DELETE", "/stores/chain/order-1/step" + q).status, 204)
        self.assertEqual(self.api("GET", "/stores/chain/order-1" + q).json(),
                         {"items": [1, 2]})
        self.assertEqual(self.api("DELETE", "/stores/chain/order-1" + q).status, 204)
        self.assertEqual(self.api("GET", "/stores/chain/order-1" + q).json(), {})
        self.assert_error(self.api("GET", "/stores/chain"), 404, "not_found")

    # -- journal, unmatched, reset ------------------------------------------
    def test_journal_and_unmatched(self):
        ns = fresh_ns()
        m = self.create(mock("/hello", ns))
        self.assertEqual(self.d.get("/stubs/%s/hello?x=1" % ns).status, 200)
        self.assertEqual(self.d.get("/stubs/%s/nope" % ns).status, 404)

        j = self.api("GET", "/requests?namespace=" + ns)
        self.assertEqual(j.status, 200, j)
        j = j.json()
        self.assertEqual(j["total"], 1, j)
        item = j["items"][0]
        self.assertEqual(item["mockId"], m["id"])
        self.assertEqual(item["path"], "/hello")
        self.assertEqual(item["method"], "GET")
        self.assertEqual(item["status"], 200)

        u = self.api("GET", "/unmatched?namespace=" + ns).json()
        self.assertEqual(u["total"], 1, u)
        self.assertEqual(u["items"][0]["path"], "/nope")
        self.assertIn("nearMisses", u["items"][0])

        self.assertEqual(self.api("GET", "/requests?namespace=%s&offset=1" % ns)
                         .json()["items"], [])
        self.assert_error(self.api("GET", "/requests?limit=100000"), 400,
                          "validation", field="limit")

        self.assertEqual(self.api("DELETE", "/requests?namespace=" + ns).status, 204)
        self.assertEqual(self.api("DELETE", "/unmatched?namespace=" + ns).status, 204)
        self.assertEqual(self.api("GET", "/requests?namespace=" + ns).json()["total"], 0)
        self.assertEqual(self.api("GET", "/unmatched?namespace=" + ns).json()["total"], 0)

    def test_reset(self):
        ns, keep = fresh_ns(), fresh_ns()
        self.create(mock("/r1", ns))
        self.create(mock("/r2", ns))
        self.create(mock("/r1", keep))
        self.api("PUT", "/stores/global/k?namespace=" + ns, "1")
        self.api("PUT", "/stores/global/k?namespace=" + keep, "2")
        self.d.get("/stubs/%s/r1" % ns)

        self.assert_error(self.api("POST", "/reset"), 400, "validation",
                          field="namespace")
        r = self.api("POST", "/reset", {"namespace": ns})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"reset": True, "namespace": ns})
        self.assertEqual(self.count(ns), 0)
        self.assertEqual(self.api("GET", "/stores/global?namespace=" + ns).json(), {})
        self.assertEqual(self.api("GET", "/requests?namespace=" + ns).json()["total"], 0)
        self.assertEqual(self.count(keep), 1)
        self.assertEqual(self.api("GET", "/stores/global/k?namespace=" + keep).json(), 2)
        # Query and header work too.
        self.create(mock("/r3", ns))
        self.assertEqual(self.api("POST", "/reset?namespace=" + ns).status, 200)
        self.assertEqual(self.count(ns), 0)
        self.create(mock("/r3", ns))
        self.assertEqual(self.api("POST", "/reset",
                                  headers={"X-Namespace": ns}).status, 200)
        self.assertEqual(self.count(ns), 0)

    def test_namespace_sources_and_precedence(self):
        q, h, b = fresh_ns("q"), fresh_ns("h"), fresh_ns("b")
        r = self.api("POST", "/mocks?namespace=" + q, mock("/n"))
        self.assertEqual(r.json()["mock"]["namespace"], q)
        r = self.api("POST", "/mocks", mock("/n"), headers={"X-Namespace": h})
        self.assertEqual(r.json()["mock"]["namespace"], h)
        # body > query > header
        r = self.api("POST", "/mocks?namespace=" + q, mock("/n2", b),
                     headers={"X-Namespace": h})
        self.assertEqual(r.json()["mock"]["namespace"], b)
        r = self.api("POST", "/mocks?namespace=" + q, mock("/n3"),
                     headers={"X-Namespace": h})
        self.assertEqual(r.json()["mock"]["namespace"], q)
        # No namespace anywhere: sandbox.
        m = self.create(mock("/n-" + uuid.uuid4().hex[:6]))
        self.assertEqual(m["namespace"], "sandbox")
        self.api("DELETE", "/mocks/%s/purge" % m["id"])

        for bad in ("bad ns", "x" * 65, "a/b", ""):
            with self.subTest(bad):
                r = self.api("POST", "/mocks", mock("/n", bad))
                self.assert_error(r, 400, "validation", field="namespace")
        r = self.api("GET", "/mocks?namespace=bad%20ns")
        self.assert_error(r, 400, "validation", field="namespace")
        r = self.api("GET", "/mocks", headers={"X-Namespace": "no!"})
        self.assert_error(r, 400, "validation", field="namespace")
        r = self.api("POST", "/mocks", dict(mock("/n"), namespace=5))
        self.assert_error(r, 400, "validation", field="namespace")

    def test_with_curl(self):
        ns = fresh_ns()
        base = "http://%s:%d%s" % (self.d.host, self.d.port, API)
        out = subprocess.run(
            ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
             "-H", "Content-Type: application/json",
             "-H", "Authorization: Bearer " + harness.ADMIN_TOKEN,
             "--data-binary",
             json.dumps(mock("/curl", ns, payload={"via": "curl"})),
             base + "/mocks"],
            capture_output=True, timeout=20, check=True).stdout.decode()
        body, code = out.rsplit("\n", 1)
        self.assertEqual(code, "201")
        mid = json.loads(body)["mock"]["id"]
        out = subprocess.run(
            ["curl", "-sS", "-i", "http://%s:%d/stubs/%s/curl"
             % (self.d.host, self.d.port, ns)],
            capture_output=True, timeout=20, check=True).stdout.decode()
        head, _, payload = out.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertIn("x-doppel-mock-id: " + mid, head.lower())
        self.assertEqual(json.loads(payload), {"via": "curl"})


if __name__ == "__main__":
    harness.main()
