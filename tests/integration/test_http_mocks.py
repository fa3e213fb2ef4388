"""The HTTP mock plugin (doppel_http.so) serving mocks through the engine:
at the root and under /stubs/<namespace>/, with params, conditions, headers,
query, templates, oneOf, ttl, useLimiter, delay, near misses."""

import base64
import json
import os
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def uniq():
    return uuid.uuid4().hex[:10]


class HttpMocksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def setUp(self):
        self.ns = "h-" + uniq()

    def put(self, m, ns=None):
        m = dict(m)
        m.setdefault("namespace", ns or self.ns)
        r = self.d.post("/api/v1/mocks", m)
        self.assertIn(r.status, (200, 201), r)
        return r.json()["mock"]

    def stub(self, method, path, **kw):
        return self.d.request(method, "/stubs/%s%s" % (self.ns, path), **kw)

    # -- where mocks are served ----------------------------------------------
    def test_root_and_stubs_prefix(self):
        route = "/root-" + uniq()
        m = self.put({"http": {"route": route},
                      "response": {"payload": {"where": "sandbox"}}},
                     ns="sandbox")
        r = self.d.get(route)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"where": "sandbox"})
        self.assertEqual(r.headers["x-doppel-mock-id"], m["id"])
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(self.d.get("/stubs/sandbox" + route).json(),
                         {"where": "sandbox"})

        self.put({"http": {"route": route},
                  "response": {"payload": {"where": "mine"}}})
        self.assertEqual(self.d.get(route, headers={"X-Namespace": self.ns})
                         .json(), {"where": "mine"})
        self.assertEqual(self.stub("GET", route).json(), {"where": "mine"})
        # Namespace not in the path or invalid.
        r = self.d.get("/stubs/")
        self.assertEqual(r.status, 404, r)
        r = self.d.get(route, headers={"X-Namespace": "bad ns"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "namespace")

    def test_method_and_path_params(self):
        self.put({"http": {"route": "/users/:id/orders/:oid",
                           "httpMethod": "POST"},
                  "response": {"statusCode": 201,
                               "payload": {"user": "$.pathParam.id",
                                           "order": "$.pathParam.oid"}}})
        r = self.stub("POST", "/users/42/orders/a-7", body={})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json(), {"user": "42", "order": "a-7"})
        miss = self.stub("GET", "/users/42/orders/a-7")
        self.assertEqual(miss.status, 404, miss)
        self.assertEqual(miss.headers["x-doppel-match"], "miss")

    def test_path_is_percent_decoded_exactly_once(self):
        # The front decodes the path; the engine must not decode it again:
        # /a%2541 is the segment "a%41", not "aA".
        p = "/pct-" + uniq()
        self.put({"http": {"route": p + "/aA"},
                  "response": {"payload": "decoded-twice"}})
        self.assertEqual(self.stub("GET", p + "/a%41").status, 200)
        r = self.stub("GET", p + "/a%2541")
        self.assertEqual(r.status, 404, r)
        self.assertNotIn(b"decoded-twice", r.body)
        # a literal percent reaches params and literal routes as itself
        self.put({"http": {"route": p + "/files/:name"},
                  "response": {"payload": {"name": "$.pathParam.name"}}})
        r = self.stub("GET", p + "/files/100%25")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"name": "100%"})
        r = self.stub("GET", p + "/files/50%2541")
        self.assertEqual(r.json(), {"name": "50%41"})
        self.put({"http": {"route": p + "/lit%2541"},
                  "response": {"payload": "literal"}})
        r = self.stub("GET", p + "/lit%2541")
        self.assertEqual((r.status, r.body), (200, b'literal'), r)
        self.assertEqual(self.stub("GET", p + "/litA").status, 404)

    def test_body_conditions_and_priority(self):
        base = {"http": {"route": "/pay", "httpMethod": "POST"}}
        self.put(dict(base, priority=10,
                      http=dict(base["http"], conditions=[
                          {"path": "amount", "assertAction": "equals",
                           "value": 100}]),
                      response={"payload": {"tier": "exact"}}))
        self.put(dict(base, priority=5,
                      http=dict(base["http"], conditions=[
                          {"path": "$.customer.email",
                           "assertAction": "matches",
                           "value": "@example\\.com$"}]),
                      response={"payload": {"tier": "domain"}}))
        self.put(dict(base, response={"payload": {"tier": "fallback"}}))
        pay = lambda b: self.stub("POST", "/pay", body=b).json()["tier"]
        self.assertEqual(pay({"amount": 100, "customer": {"email": "a@x.org"}}),
                         "exact")
        self.assertEqual(pay({"amount": 5, "customer": {"email": "a@example.com"}}),
                         "domain")
        self.assertEqual(pay({"amount": 5}), "fallback")

    def test_header_and_query_conditions(self):
        self.put({"http": {"route": "/q",
                           "header": {"X-Api-Key": "abc"},
                           "queryParams": [{"path": "page", "value": "2"}]},
                  "response": {"payload": {"ok": True}}})
        ok = self.stub("GET", "/q?page=2&x=y", headers={"x-api-key": "abc"})
        self.assertEqual(ok.status, 200, ok)
        r = self.stub("GET", "/q?page=3", headers={"X-Api-Key": "abc"})
        self.assertEqual(r.status, 404)
        failed = r.json()["nearMisses"][0]["failed"]
        self.assertEqual(failed[0]["where"], "query", failed)
        r = self.stub("GET", "/q?page=2", headers={"X-Api-Key": "nope"})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["nearMisses"][0]["failed"][0]["where"],
                         "header")
        # Encoded query values are decoded before matching.
        self.put({"http": {"route": "/enc",
                           "queryParams": [{"path": "q", "value": "a b&c"}]},
                  "response": {"statusCode": 204}})
        self.assertEqual(self.stub("GET", "/enc?q=a+b%26c").status, 204)

    def test_response_headers_and_content_types(self):
        self.put({"http": {"route": "/txt"},
                  "response": {"statusCode": 202, "payload": "plain words",
                               "headers": {"X-Custom": "v1",
                                           "Cache-Control": ["no-store"]}}})
        r = self.stub("GET", "/txt")
        self.assertEqual(r.status, 202)
        self.assertEqual(r.body, b"plain words")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"), r.headers)
        self.assertEqual(r.headers["x-custom"], "v1")
        self.assertEqual(r.headers["cache-control"], "no-store")
        raw = bytes(range(256))
        self.put({"http": {"route": "/bin"},
                  "response": {"payload": base64.b64encode(raw).decode(),
                               "decode": "base64",
                               "headers": {"Content-Type":
                                           "application/octet-stream"}}})
        r = self.stub("GET", "/bin")
        self.assertEqual(r.body, raw)
        self.assertEqual(r.headers["content-type"], "application/octet-stream")

    def test_templates(self):
        self.put({"http": {"route": "/t/:id", "httpMethod": "POST"},
                  "response": {"payload": {
                      "id": "$.pathParam.id",
                      "q": "$.queryParam.q",
                      "token": "$.reqHeader.Token",
                      "name": "Hi $.req.user.name.",
                      "items": "$.req.items",
                      "uuid": "$.fake.UUID",
                      "price": "$$5"}}})
        r = self.stub("POST", "/t/9?q=find", headers={"Token": "tk"},
                      body={"user": {"name": "Ann"}, "items": [1, 2]})
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["id"], "9")
        self.assertEqual(j["q"], "find")
        self.assertEqual(j["token"], "tk")
        self.assertEqual(j["name"], "Hi Ann.")
        self.assertEqual(j["items"], [1, 2])
        self.assertRegex(j["uuid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                    r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(j["price"], "$5")

    def test_one_of_in_order(self):
        self.put({"http": {"route": "/seq"},
                  "oneOf": {"order": "order", "responses": [
                      {"statusCode": 200, "payload": {"n": 1}},
                      {"statusCode": 201, "payload": {"n": 2}}]}})
        got = [(r.status, r.json()["n"]) for r in
               (self.stub("GET", "/seq") for _ in range(3))]
        self.assertEqual(got, [(200, 1), (201, 2), (200, 1)])

    def test_ttl_expires(self):
        self.put({"http": {"route": "/ttl"}, "ttl": 2,
                  "response": {"payload": {"alive": True}}})
        self.assertEqual(self.stub("GET", "/ttl").status, 200)
        deadline = time.time() + 6
        while time.time() < deadline:
            r = self.stub("GET", "/ttl")
            if r.status == 404:
                break
            time.sleep(0.2)
        self.assertEqual(r.status, 404, "mock with ttl 2 s still served")
        self.assertEqual(r.headers["x-doppel-match"], "miss")

    def test_use_limiter(self):
        m = self.put({"http": {"route": "/twice"}, "useLimiter": 2,
                      "response": {"payload": {}}})
        self.assertEqual([self.stub("GET", "/twice").status for _ in range(3)],
                         [200, 200, 404])
        g = self.d.get("/api/v1/mocks/" + m["id"]).json()
        self.assertEqual(g["_meta"]["useCounter"], 2)

    def test_delay_does_not_block_others(self):
        self.put({"http": {"route": "/slow"},
                  "response": {"delay": 1500, "payload": {"slow": True}}})
        self.put({"http": {"route": "/fast"}, "response": {"payload": {}}})
        done = {}

        def slow():
            t0 = time.time()
            r = self.stub("GET", "/slow")
            done["status"], done["elapsed"] = r.status, time.time() - t0
            done["body"] = r.json()

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)
        self.assertEqual(self.stub("GET", "/fast").status, 200)
        self.assertNotIn("status", done, "the fast request waited for the slow")
        t.join(15)
        self.assertEqual(done["status"], 200)
        self.assertEqual(done["body"], {"slow": True})
        self.assertGreaterEqual(done["elapsed"], 1.5)

    def test_near_miss_body_and_unmatched_list(self):
        m = self.put({"http": {"route": "/nm", "httpMethod": "POST",
                               "conditions": [{"path": "kind",
                                               "value": "gold"}]},
                      "response": {"payload": {}}})
        r = self.stub("POST", "/nm", body={"kind": "silver"})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.headers["x-doppel-match"], "miss")
        self.assertNotIn("x-doppel-mock-id", r.headers)
        j = r.json()
        self.assertEqual(j["code"], "not_found")
        self.assertEqual(j["error"], "no mock matched")
        self.assertEqual(j["request"], {"method": "POST", "path": "/nm"})
        nm = j["nearMisses"][0]
        self.assertEqual(nm["mockId"], m["id"])
        self.assertEqual(nm["failed"][0]["where"], "body")
        self.assertIn("kind", nm["failed"][0]["reason"])
        # Right path, wrong method.
        r = self.stub("GET", "/nm")
        self.assertEqual(r.json()["nearMisses"][0]["failed"][0]["where"],
                         "method")
        u = self.d.get("/api/v1/unmatched?namespace=" + self.ns).json()
        self.assertEqual(u["total"], 2)
        self.assertEqual({i["path"] for i in u["items"]}, {"/nm"})

    def test_proxy_to_loopback_is_refused_by_the_guard(self):
        # forwarding itself: test_proxy_mock.py
        self.put({"http": {"route": "/px"},
                  "proxy": {"target": "http://127.0.0.1:9"}})
        r = self.stub("GET", "/px")
        self.assertEqual(r.status, 502)
        self.assertEqual(r.json()["code"], "unavailable")
        self.assertIn("127.0.0.1 is a loopback address", r.json()["error"])

    def test_extract_into_store(self):
        self.put({"http": {"route": "/login", "httpMethod": "POST"},
                  "extract": {"gStore": {"user": "$.req.user"}},
                  "response": {"payload": {"ok": True}}})
        self.put({"http": {"route": "/me"},
                  "response": {"payload": {"me": "$.gS.user"}}})
        self.stub("POST", "/login", body={"user": "ann"})
        self.assertEqual(self.stub("GET", "/me").json(), {"me": "ann"})
        s = self.d.get("/api/v1/stores/global/user?namespace=" + self.ns)
        self.assertEqual(s.json(), "ann")


class HttpOptionsTest(unittest.TestCase):
    """The plugin's options: root = false and a custom stubs_prefix."""

    def test_no_root_custom_prefix(self):
        conf = "[http]\nenabled = true\nroot = false\nstubs_prefix = /fake\n"
        with harness.Doppel(config=conf) as d:
            r = d.post("/api/v1/mocks", {"http": {"route": "/hello"},
                                         "response": {"payload": "hi"}})
            self.assertEqual(r.status, 201, r)
            r = d.get("/fake/sandbox/hello")
            self.assertEqual((r.status, r.body), (200, b"hi"))
            r = d.get("/hello")  # nothing mounted at the root
            self.assertEqual(r.status, 404, r)
            self.assertNotIn("x-doppel-match", r.headers)
            self.assertEqual(d.get("/stubs/sandbox/hello").status, 404)

    def test_bad_prefix_refused(self):
        conf = "[http]\nenabled = true\nstubs_prefix = /bad/\n"
        d = harness.Doppel(config=conf, start=False)
        code, out, err = harness.run_doppel(d.command()[1:], timeout=30)
        self.assertNotEqual(code, 0)
        self.assertIn("stubs_prefix '/bad/'", out + err)


class HttpShutdownTest(unittest.TestCase):
    """Delayed replies when the server stops: when the drain begins
    (DOPPEL_EVENT_DRAINING) the plugin sends them at once with the mock's
    answer, so a long delay never holds the stop, and the process exits 0
    with a clean (sanitizer-free) log."""

    def delayed_request(self, d, delay_ms, out):
        r = d.post("/api/v1/mocks", {"http": {"route": "/wait"},
                                     "response": {"delay": delay_ms,
                                                  "payload": {"late": True}}})
        self.assertEqual(r.status, 201, r)

        def go():
            try:
                out["resp"] = d.get("/wait", timeout=30)
            except Exception as e:  # connection closed by the drain
                out["error"] = e

        t = threading.Thread(target=go)
        t.start()
        # Wait until the request is in flight (its journal entry is written
        # when the engine matched it, before the delay).
        deadline = time.time() + 10
        while time.time() < deadline:
            if d.get("/api/v1/requests").json()["total"] >= 1:
                break
            time.sleep(0.05)
        return t

    def test_delay_finishes_within_drain(self):
        d = harness.Doppel(workers=1)
        out = {}
        t = self.delayed_request(d, 1500, out)
        code = d.stop()
        t.join(30)
        d.logf.close()
        self.assertEqual(code, 0, d.log())
        self.assertEqual(out["resp"].status, 200, out)
        self.assertEqual(out["resp"].json(), {"late": True})
        d.assert_clean_log()

    def test_delay_longer_than_drain_is_answered_at_once(self):
        # drain_timeout 20 s, delay 60 s: the answer goes out when the
        # drain begins, not after either (the bound is on a hang)
        d = harness.Doppel(workers=1, config="[server]\ndrain_timeout = 20s\n"
                                             "[http]\nenabled = true\n")
        out = {}
        t = self.delayed_request(d, 60000, out)
        t0 = time.time()
        code = d.stop()
        t.join(30)
        d.logf.close()
        self.assertEqual(code, 0, d.log())
        self.assertFalse(t.is_alive())
        self.assertLess(time.time() - t0, 5, "stop waited for the delay")
        self.assertEqual(out["resp"].status, 200, out)
        self.assertEqual(out["resp"].json(), {"late": True})
        d.assert_clean_log()


if __name__ == "__main__":
    harness.main()
