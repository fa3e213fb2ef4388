"""What anonymous mock traffic can make the engine compute, hold and send:
$.increment and number conversions never overflow (saturate at the ends of
int64), store values and the rendered answer have limits set in [server],
and a request that hits one gets a clear error and a journal entry naming
the limit."""

import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

INT64_MAX = 9223372036854775807
INT64_MIN = -9223372036854775808


def uniq():
    return uuid.uuid4().hex[:10]


class Base(unittest.TestCase):
    config = None

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel(config=cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def setUp(self):
        self.ns = "lim-" + uniq()

    def put(self, m):
        m = dict(m)
        m.setdefault("namespace", self.ns)
        r = self.d.post("/api/v1/mocks", m)
        self.assertIn(r.status, (200, 201), r)
        return r.json()["mock"]

    def stub(self, method, path, body=None):
        # anonymous: no token, as any client of the mock would be
        return self.d.request(method, "/stubs/%s%s" % (self.ns, path),
                              body=body, auth=False)

    def journal(self, which="requests"):
        r = self.d.get("/api/v1/%s?namespace=%s" % (which, self.ns))
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]


class NumbersTest(Base):
    def test_increment_of_a_huge_extracted_value_saturates(self):
        # The client chooses the stored number; the same request increments
        # it. 1e300 used to be cast to int64 (undefined), INT64_MAX + 1
        # wrapped to INT64_MIN.
        self.put({"http": {"method": "POST", "route": "/count"},
                  "extract": {"gStore": {"n": "$.req.n"}},
                  "response": {"payload": {"n": "$.increment($.gS.n)"}}})
        self.put({"http": {"method": "POST", "route": "/down"},
                  "extract": {"gStore": {"n": "$.req.n"}},
                  "response": {"payload": {
                      "n": "$.increment($.gS.n, -9223372036854775808)"}}})
        for sent, want in ((1e300, INT64_MAX), (-1e300, INT64_MIN + 1),
                           (INT64_MAX, INT64_MAX), (INT64_MAX - 1, INT64_MAX),
                           ("99999999999999999999", INT64_MAX), (41, 42)):
            r = self.stub("POST", "/count", {"n": sent})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"n": want}, sent)
        for sent, want in ((-1, INT64_MIN), (INT64_MIN, INT64_MIN),
                           (-1e300, INT64_MIN), (1e300, -1)):
            r = self.stub("POST", "/down", {"n": sent})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"n": want}, sent)
        r = self.d.get("/api/v1/stores/global/n?namespace=" + self.ns)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), -1)
        r = self.stub("POST", "/count", {"n": 41})
        self.assertEqual(r.json(), {"n": 42})
        # the saturation is reported in the journal entry
        items = self.journal()
        self.assertEqual(items[0].get("limit"), None, items[0])
        self.assertEqual(items[1].get("limit"), "int64_range", items[1])

    def test_preview_saturates(self):
        r = self.d.request("PUT", "/api/v1/stores/global/n?namespace=" +
                           self.ns, "9223372036854775807")
        self.assertIn(r.status, (200, 204), r)
        r = self.d.post("/api/v1/templates/render",
                        {"namespace": self.ns,
                         "template": {"n": "$.increment($.gS.n, 10)"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["output"], {"n": INT64_MAX})


def limits_config(**kw):
    lines = "".join("%s = %s\n" % kv for kv in kw.items())
    return harness.default_config().replace("\n[server]\n",
                                            "\n[server]\n" + lines, 1)


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class StoreLimitsTest(Base):
    config = limits_config(store_value_max="64k", store_total_max="256k")

    def test_extract_growth_is_stopped_at_the_limit(self):
        # An anonymous client doubles a store value at every request (1 KiB
        # to 16 MiB in 14 requests before there was a limit).
        r = self.d.request("PUT", "/api/v1/stores/global/v?namespace=" +
                           self.ns, json.dumps("x" * 1024))
        self.assertIn(r.status, (200, 204), r)
        self.put({"http": {"route": "/grow"},
                  "extract": {"gStore": {"v": "$.gS.v$.gS.v"}},
                  "response": {"payload": {"ok": True}}})
        sizes = []
        statuses = []
        for _ in range(14):
            r = self.stub("GET", "/grow")
            statuses.append(r.status)
            v = self.d.get("/api/v1/stores/global/v?namespace=" + self.ns)
            sizes.append(len(v.json()))
        self.assertEqual(statuses[:5], [200] * 5, statuses)
        self.assertEqual(statuses[5:], [507] * 9, statuses)
        # the last good value stays
        self.assertEqual(sizes[4:], [32 * 1024] * 10, sizes)
        r = self.stub("GET", "/grow")
        self.assertEqual(r.status, 507)
        body = r.json()
        self.assertEqual(body["code"], "limit_exceeded")
        self.assertEqual(body["limit"], "store_value_max")
        self.assertEqual(body["max"], 64 * 1024)
        self.assertTrue(body["request_id"])
        item = self.journal()[0]
        self.assertEqual(item["status"], 507)
        self.assertEqual(item["limit"], "store_value_max")

    def test_admin_writes_are_held_to_the_limits(self):
        q = "?namespace=" + self.ns
        r = self.d.request("PUT", "/api/v1/stores/global/big" + q,
                           json.dumps("b" * (65 * 1024)))
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["code"], "limit_exceeded")
        for i in range(4):
            r = self.d.request("PUT", "/api/v1/stores/global/k%d" % i + q,
                               json.dumps("c" * (60 * 1024)))
            self.assertIn(r.status, (200, 204), r)
        r = self.d.request("PUT", "/api/v1/stores/global/k9" + q,
                           json.dumps("c" * (60 * 1024)))
        self.assertEqual(r.status, 507, r)
        self.assertEqual(self.d.get("/api/v1/stores/global/k9" + q).status,
                         404)


class ResponseLimitTest(Base):
    config = limits_config(response_max="4m")

    def test_huge_rendered_answer_is_refused_without_allocating_it(self):
        # 400 copies of a 1000 KiB store value: a 400 MB answer from one
        # anonymous GET before there was a limit.
        q = "?namespace=" + self.ns
        r = self.d.request("PUT", "/api/v1/stores/global/v" + q,
                           json.dumps("y" * (1000 * 1024)))
        self.assertIn(r.status, (200, 204), r)
        self.put({"http": {"route": "/huge"},
                  "response": {"payload": ["$.gS.v"] * 400}})
        pid = self.d.proc.pid
        before = vm_kib(pid, "VmHWM")
        for _ in range(3):
            r = self.stub("GET", "/huge")
            self.assertEqual(r.status, 500, r)
            self.assertLess(len(r.body), 1024)
            body = r.json()
            self.assertEqual(body["code"], "limit_exceeded")
            self.assertEqual(body["limit"], "response_max")
            self.assertEqual(body["max"], 4 * 1024 * 1024)
        after = vm_kib(pid, "VmHWM")
        # generous: a few copies of the value and the budget, not 400 MB
        self.assertLess(after - before, 64 * 1024, (before, after))
        self.assertEqual(self.journal()[0]["limit"], "response_max")
        # within the limit the same value renders
        self.put({"http": {"route": "/three"},
                  "response": {"payload": ["$.gS.v"] * 3}})
        r = self.stub("GET", "/three")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()), 3)


if __name__ == "__main__":
    harness.main()
