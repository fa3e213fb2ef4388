"""Engine changes reach plugins as events: every copy (one per worker) of a
plugin subscribed to MOCK_CHANGED / STORE_CHANGED receives them, with the
namespace, id or key and the kind of change."""

import os
import time
import unittest

import harness
from harness import Doppel

PLUGIN = os.path.join(harness.BUILD_DIR, "tests", "plugins", "doppel_events.so")
CONFIG = "[http]\nenabled = true\n\n[events]\npath = %s\nenabled = true\n" % PLUGIN


def wait_all_copies(d, workers, pred, timeout=5.0):
    """Polls GET /test-events on fresh connections until a report from each
    worker satisfies pred; returns the reports by worker."""
    seen = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = d.get("/test-events").json()
        if pred(r):
            seen[r["worker"]] = r
        if len(seen) == workers:
            return seen
        time.sleep(0.01)
    raise AssertionError("not every copy saw it; last reports: %r" % seen)


class EventsTest(unittest.TestCase):
    def test_mock_and_store_changes_reach_every_copy(self):
        with Doppel(config=CONFIG, workers=2) as d:
            r = d.post("/api/v1/mocks", {
                "namespace": "ev", "http": {"route": "/e", "httpMethod": "POST"},
                "extract": {"gStore": {"last": "$.req.n"}},
                "response": {"payload": {"ok": True}}})
            self.assertEqual(r.status, 201, r)
            mid = r.json()["mock"]["id"]
            seen = wait_all_copies(
                d, 2, lambda x: x["mock"] >= 1 and x["lastMock"] == mid)
            for rep in seen.values():
                self.assertEqual(rep["lastChange"], 1)  # created
                self.assertEqual(rep["lastNs"], "ev")
            # replaced, closed, restored, purged
            for method, path, body, change in (
                    ("POST", "/api/v1/mocks",
                     {"id": mid, "namespace": "ev", "http": {"route": "/e"},
                      "response": {}}, 2),
                    ("DELETE", "/api/v1/mocks/" + mid, None, 3),
                    ("POST", "/api/v1/mocks/%s/restore" % mid, None, 4)):
                r = d.request(method, path, body=body)
                self.assertLess(r.status, 300, r)
                wait_all_copies(d, 2, lambda x, c=change:
                                x["lastMock"] == mid and x["lastChange"] == c)
            # an admin store write
            r = d.request("PUT", "/api/v1/stores/global/colour?namespace=ev",
                          body="\"blue\"")
            self.assertLess(r.status, 300, r)
            wait_all_copies(d, 2, lambda x: x["lastKey"] == "colour" and
                            x["lastScope"] == "global")
            # a store write made by mock traffic (extract)
            r = d.post("/api/v1/mocks", {
                "id": "x1", "namespace": "sandbox",
                "http": {"route": "/ex", "httpMethod": "POST"},
                "extract": {"gStore": {"seen": "$.req.n"}},
                "response": {}})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(d.post("/ex", {"n": 7}).status, 200)
            wait_all_copies(d, 2, lambda x: x["lastKey"] == "seen")
            r = d.request("DELETE", "/api/v1/mocks/x1/purge")
            self.assertEqual(r.status, 204, r)
            wait_all_copies(d, 2, lambda x: x["lastMock"] == "x1" and
                            x["lastChange"] == 5)


if __name__ == "__main__":
    harness.main()
