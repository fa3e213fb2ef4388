"""The journal and the unmatched list keep each namespace's history: one
tenant's anonymous traffic past its share (journal_size entries) does not
evict another namespace's entries, and reads stay newest first with
paging."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHARE = 20


def uniq():
    return uuid.uuid4().hex[:10]


class JournalNamespacesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cfg = harness.default_config().replace(
            "\n[server]\n", "\n[server]\njournal_size = %d\n" % SHARE, 1)
        cls.d = harness.Doppel(config=cfg)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def items(self, which, ns, **q):
        qs = "".join("&%s=%s" % kv for kv in q.items())
        r = self.d.get("/api/v1/%s?namespace=%s%s" % (which, ns, qs))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_flood_in_one_namespace_keeps_another(self):
        a, b = "fa-" + uniq(), "fb-" + uniq()
        for ns in (a, b):
            r = self.d.post("/api/v1/mocks", {
                "namespace": ns, "http": {"route": "/hit"},
                "response": {"payload": {"ns": ns}}})
            self.assertIn(r.status, (200, 201), r)
        # b's history: three matched requests and two misses
        for i in range(3):
            r = self.d.get("/stubs/%s/hit?i=b%d" % (b, i), auth=False)
            self.assertEqual(r.status, 200, r)
        for i in range(2):
            r = self.d.get("/stubs/%s/nothing?i=bm%d" % (b, i), auth=False)
            self.assertEqual(r.status, 404, r)
        # anonymous traffic in a, ten times its share, matched and not
        for i in range(SHARE * 10):
            self.d.get("/stubs/%s/hit?i=a%d" % (a, i), auth=False)
            self.d.get("/stubs/%s/nothing?i=am%d" % (a, i), auth=False)
        jb = self.items("requests", b)
        self.assertEqual(jb["total"], 3, jb)
        self.assertEqual([it["query"]["i"] for it in jb["items"]],
                         ["b2", "b1", "b0"])
        ub = self.items("unmatched", b)
        self.assertEqual(ub["total"], 2, ub)
        self.assertEqual([it["query"]["i"] for it in ub["items"]],
                         ["bm1", "bm0"])
        # a kept its own newest share, newest first, with paging
        ja = self.items("requests", a)
        self.assertEqual(ja["total"], SHARE)
        page = self.items("requests", a, offset=5, limit=3)
        self.assertEqual([it["query"]["i"] for it in page["items"]],
                         ["a%d" % (SHARE * 10 - 6 - k) for k in range(3)])
        self.assertTrue(page["hasMore"])
        ua = self.items("unmatched", a)
        self.assertEqual(ua["total"], SHARE)
        self.assertEqual(ua["items"][0]["query"]["i"], "am%d" % (SHARE * 10 - 1))


if __name__ == "__main__":
    harness.main()
