"""What the admin API acknowledged survives kill -9: mocks (single and
batch), replacements, soft deletes, purges and store keys, after a restart
on the same --data directory."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NS = "durable"


def mock(route, **extra):
    m = {"namespace": NS, "http": {"route": route},
         "response": {"payload": {"route": route}}}
    m.update(extra)
    return m


class DurabilityTest(unittest.TestCase):
    def test_acknowledged_writes_survive_kill_9(self):
        d = harness.Doppel()
        data = d.data
        try:
            one = d.post("/api/v1/mocks", mock("/one", id="one"))
            self.assertEqual(one.status, 201, one)
            batch = d.post("/api/v1/mocks/batch",
                           [mock("/b%d" % i) for i in range(50)])
            self.assertEqual(batch.status, 201, batch)
            ids = [m["id"] for m in batch.json()["mocks"]]
            r = d.post("/api/v1/mocks", mock("/one-v2", id="one"))
            self.assertEqual(r.status, 200, r)  # replaced
            self.assertEqual(d.request("DELETE", "/api/v1/mocks/" + ids[0]).status, 200)
            self.assertEqual(d.request("DELETE", "/api/v1/mocks/%s/purge" % ids[1]).status, 204)
            r = d.request("PUT", "/api/v1/stores/global/token?namespace=" + NS,
                          {"value": "s3cret", "n": [1, 2]})
            self.assertEqual(r.status, 200, r)
            r = d.request("PUT", "/api/v1/stores/chain/c9/step?namespace=" + NS, "7")
            self.assertEqual(r.status, 200, r)
            r = d.request("PUT", "/api/v1/stores/global/gone?namespace=" + NS, "1")
            self.assertEqual(d.request("DELETE", "/api/v1/stores/global/gone?namespace=" + NS).status, 204)
            d.kill9()
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()

        with harness.Doppel(data=data) as d2:
            g = d2.get("/api/v1/mocks/one")
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.json()["http"]["route"], "/one-v2")
            self.assertEqual(d2.get("/stubs/%s/one-v2" % NS).status, 200)
            self.assertEqual(d2.get("/stubs/%s/one" % NS).status, 404)

            listed = d2.get("/api/v1/mocks?limit=1000&namespace=" + NS).json()
            live = {m["id"] for m in listed["items"]}
            self.assertEqual(live, {"one"} | set(ids[2:]))
            closed = d2.get("/api/v1/mocks/" + ids[0]).json()
            self.assertTrue(closed["closedAt"])
            self.assertEqual(d2.get("/api/v1/mocks/" + ids[1]).status, 404)
            self.assertEqual(d2.get("/stubs/%s/b49" % NS).json(),
                             {"route": "/b49"})

            self.assertEqual(
                d2.get("/api/v1/stores/global?namespace=" + NS).json(),
                {"token": {"value": "s3cret", "n": [1, 2]}})
            self.assertEqual(
                d2.get("/api/v1/stores/chain/c9/step?namespace=" + NS).json(), 7)

            # The store file is private.
            st = os.stat(os.path.join(data, "doppel.db"))
            self.assertEqual(st.st_mode & 0o777, 0o600)

    def test_rejected_batch_leaves_nothing_after_restart(self):
        d = harness.Doppel()
        data = d.data
        try:
            bad = [mock("/x0"), mock("/x1", priority="high"), mock("/x2")]
            r = d.post("/api/v1/mocks/batch", bad)
            self.assertEqual(r.status, 400, r)
            ok = d.post("/api/v1/mocks/batch", [mock("/y0"), mock("/y1")])
            self.assertEqual(ok.status, 201, ok)
            d.kill9()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()
        with harness.Doppel(data=data) as d2:
            listed = d2.get("/api/v1/mocks?namespace=" + NS).json()
            self.assertEqual(sorted(m["http"]["route"] for m in listed["items"]),
                             ["/y0", "/y1"])


if __name__ == "__main__":
    harness.main()
