"""An admin write and its audit row are one transaction: when the audit row
cannot be written, the request fails and nothing it would have changed is
changed (in memory, on the wire, or in the database after a restart).

The audit write is made to fail from outside: a trigger on auth_audit,
added through another SQLite connection to the server's doppel.db (WAL
mode lets both connections in), aborts every insert."""

import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NS = "audittx"


def mock(route, **extra):
    m = {"namespace": NS, "http": {"route": route},
         "response": {"payload": {"route": route}}}
    m.update(extra)
    return m


class AuditTransactionTest(unittest.TestCase):
    def db(self, d):
        c = sqlite3.connect(os.path.join(d.data, "doppel.db"), timeout=10)
        c.isolation_level = None
        return c

    def block_audit(self, d):
        c = self.db(d)
        c.execute("CREATE TRIGGER no_audit BEFORE INSERT ON auth_audit "
                  "BEGIN SELECT RAISE(ABORT, 'audit disabled by the test'); "
                  "END")
        c.close()

    def unblock_audit(self, d):
        c = self.db(d)
        c.execute("DROP TRIGGER no_audit")
        c.close()

    def audit_actions(self, d):
        r = d.get("/api/v1/audit?namespace=%s&limit=1000" % NS)
        self.assertEqual(r.status, 200, r)
        return [(e["action"], e.get("target")) for e in r.json()["entries"]]

    def assert_failed(self, r):
        self.assertEqual(r.status, 500, r)
        js = r.json()
        self.assertEqual(js["code"], "internal", js)
        self.assertIn("audit", js["error"], js)
        self.assertIn("request_id", js)

    def test_failed_audit_fails_the_write_with_nothing_changed(self):
        d = harness.Doppel(workers=1)
        data = d.data
        try:
            # what is there before
            r = d.post("/api/v1/mocks", mock("/kept", id="kept",
                                             mStore={"n": 1}))
            self.assertEqual(r.status, 201, r)
            r = d.request("PUT", "/api/v1/stores/global/k?namespace=" + NS,
                          {"v": 1})
            self.assertEqual(r.status, 200, r)
            before = self.audit_actions(d)

            self.block_audit(d)
            # create, replace, batch, patch, close, purge, store put and
            # delete, reset: each fails and changes nothing
            self.assert_failed(d.post("/api/v1/mocks",
                                      mock("/new", id="new")))
            self.assert_failed(d.post("/api/v1/mocks",
                                      mock("/kept-v2", id="kept",
                                           mStore={"n": 2})))
            self.assert_failed(d.post("/api/v1/mocks/batch",
                                      [mock("/b1"), mock("/b2")]))
            self.assert_failed(d.request("PATCH", "/api/v1/mocks/kept",
                                         {"priority": 7}))
            self.assert_failed(d.request("DELETE", "/api/v1/mocks/kept"))
            self.assert_failed(d.request("DELETE",
                                         "/api/v1/mocks/kept/purge"))
            self.assert_failed(d.request(
                "PUT", "/api/v1/stores/global/k?namespace=" + NS, {"v": 2}))
            self.assert_failed(d.request(
                "DELETE", "/api/v1/stores/global/k?namespace=" + NS))
            self.assert_failed(d.post("/api/v1/reset", {"namespace": NS}))

            self.check_unchanged(d)
            # Writes outside the engine's transactions (record-and-replay
            # modes, journal clears) are audited after the change: the
            # answer is still a failure, and says the change was made.
            r = d.request("PUT", "/api/v1/mode", {"namespace": NS,
                                                  "mode": "MOCK"})
            self.assert_failed(r)
            self.assertIn("change was made", r.json()["error"], r)
            r = d.request("DELETE", "/api/v1/requests?namespace=" + NS)
            self.assert_failed(r)
            self.unblock_audit(d)
            self.assertEqual(d.request("PUT", "/api/v1/mode", {
                "namespace": NS, "mode": "PASSTHROUGH"}).status, 200)
            self.assertEqual(self.audit_actions(d)[-len(before):], before)
            self.assertNotIn("mocks.create",
                             [a for a, _ in self.audit_actions(d)[
                                 :-len(before)]])

            # and with the audit log back, a write goes through with its row
            r = d.post("/api/v1/mocks", mock("/new", id="new"))
            self.assertEqual(r.status, 201, r)
            self.assertIn(("mocks.create", "/mocks"), self.audit_actions(d))
            r = d.request("DELETE", "/api/v1/mocks/new/purge")
            self.assertEqual(r.status, 204, r)
            d.kill9()
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()
        # nothing of the failed writes reached the database either
        with harness.Doppel(data=data, workers=1) as d2:
            self.check_unchanged(d2)

    def check_unchanged(self, d):
        g = d.get("/api/v1/mocks/kept")
        self.assertEqual(g.status, 200, g)
        m = g.json()
        self.assertEqual(m["http"]["route"], "/kept")
        self.assertIsNone(m["closedAt"], m)
        self.assertNotEqual(m.get("priority"), 7, m)
        self.assertEqual(d.get("/stubs/%s/kept" % NS).status, 200)
        self.assertEqual(d.get("/api/v1/mocks/new").status, 404)
        self.assertEqual(d.get("/stubs/%s/new" % NS).status, 404)
        listed = d.get("/api/v1/mocks?limit=1000&namespace=" + NS).json()
        self.assertEqual([x["id"] for x in listed["items"]], ["kept"])
        r = d.get("/api/v1/stores/global/k?namespace=" + NS)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"v": 1})


if __name__ == "__main__":
    harness.main()
