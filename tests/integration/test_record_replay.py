"""Record and replay: services, the four modes, recordings replayed offline,
misses, coverage, redaction, persistence of modes, the audit log and the
outbound guard, against a real upstream the test starts (python's
http.server on loopback)."""

import glob
import http.server
import json
import os
import socket
import threading
import unittest

import harness
import upstream
from harness import Doppel

ALLOW = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
AUTH_SECRET = "Bearer SECRET-AUTH-7f3a91"
COOKIE_SECRET = "sid=SECRET-COOKIE-c0ffee"
CUSTOM_SECRET = "SECRET-CUSTOM-5150"


class Upstream:
    """Answers a few endpoints and remembers every request it saw."""

    def __init__(self):
        seen = self.seen = []
        state = {"counter": 0}
        release = self.release = threading.Event()  # for /slow

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def send(self, status, body, ctype="application/json",
                     extra=()):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                seen.append({"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in
                                         self.headers.items()},
                             "body": body})
                p = self.path
                if p.startswith("/users/1"):
                    # a string that looks like a template must come back
                    # as written
                    self.send(200, json.dumps(
                        {"id": 1, "name": "Ann", "note": "$.fake.FirstName"}),
                        extra=[("Set-Cookie", COOKIE_SECRET),
                               ("X-Up", "yes")])
                elif p.startswith("/counter"):
                    state["counter"] += 1
                    self.send(200, json.dumps({"n": state["counter"]}))
                elif p.startswith("/echo"):
                    self.send(201, json.dumps({"got": json.loads(body)}))
                elif p.startswith("/search"):
                    self.send(200, json.dumps({"q": p}))
                elif p.startswith("/text"):
                    self.send(200, "price: $5 ${x}", "text/plain")
                elif p.startswith("/big"):
                    self.send(200, "x" * 5000, "text/plain")
                elif p.startswith("/slow"):
                    release.wait(30)  # set by close()
                    try:
                        self.send(200, "{}")
                    except OSError:  # doppel gave up on it long ago
                        pass
                else:
                    self.send(404, json.dumps({"upstream": "no " + p}))

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = upstream.serve(Handler)
        self.port = self.server.server_address[1]
        self.closed = False

    def url(self, host="127.0.0.1"):
        return "http://%s:%d" % (host, self.port)

    def close(self):
        if not self.closed:
            self.closed = True
            self.release.set()
            upstream.stop(self.server)


class RecordReplayTest(upstream.RecordReplayCalls, unittest.TestCase):
    def setUp(self):
        self.up = Upstream()

    def tearDown(self):
        self.up.close()

    # -- helpers (service, set_mode, recorded: upstream.RecordReplayCalls) --
    def traffic(self, d):
        """The requests the replay test sends in both modes."""
        out = {}
        r = d.get("/shop/users/1")
        out["user"] = (r.status, r.json(), r.headers.get("x-up"))
        out["counter"] = [d.get("/shop/counter").json()["n"] for _ in range(3)]
        r = d.post("/shop/echo", {"b": 1, "a": [1, 2]})
        out["echo"] = (r.status, r.json())
        r = d.get("/shop/search?q=shoes&page=2")
        out["search"] = (r.status, r.json())
        r = d.get("/shop/text")
        out["text"] = (r.status, r.body)
        return out

    # -- tests ---------------------------------------------------------------
    def test_learn_then_mock_offline(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            js = self.set_mode(d, "learn")
            self.assertEqual(js["mode"], "LEARN")
            live = self.traffic(d)
            self.assertEqual(live["user"][0], 200)
            self.assertEqual(live["user"][1]["note"], "$.fake.FirstName")
            self.assertEqual(live["counter"], [1, 2, 3])
            self.assertEqual(live["echo"], (201, {"got": {"b": 1, "a": [1, 2]}}))
            n_seen = len(self.up.seen)
            self.assertEqual(n_seen, 7)
            # the upstream got the path after the prefix, with the query
            self.assertIn("/search?q=shoes&page=2",
                          [s["path"] for s in self.up.seen])
            mocks = self.recorded(d)
            self.assertEqual(len(mocks), 5, [m["id"] for m in mocks])
            counter = [m for m in mocks
                       if m["recording"]["path"] == "/shop/counter"][0]
            self.assertEqual(len(counter["oneOf"]["responses"]), 3)
            self.assertEqual(counter["oneOf"]["order"], "order")
            self.assertIn("service:shop", counter["tags"])
            self.assertEqual(counter["service"], "shop")

            # offline: the upstream is gone, MOCK mode answers from the
            # recordings
            self.up.close()
            self.set_mode(d, "MOCK")
            replay = {}
            r = d.get("/shop/users/1")
            replay["user"] = (r.status, r.json(), r.headers.get("x-up"))
            self.assertTrue(r.headers.get("x-doppel-mock-id", "").startswith(
                "rec-"), r.headers)
            replay["counter"] = [d.get("/shop/counter").json()["n"]
                                 for _ in range(3)]
            # the same JSON body, other key order and spacing
            r = d.post("/shop/echo", '{ "a": [1,2],   "b": 1 }')
            replay["echo"] = (r.status, r.json())
            # the same query, other parameter order
            r = d.get("/shop/search?page=2&q=shoes")
            replay["search"] = (r.status, r.json())
            r = d.get("/shop/text")
            replay["text"] = (r.status, r.body)
            self.assertEqual(replay, live)
            self.assertEqual(len(self.up.seen), n_seen)

            # a new request is a miss: status, header, unmatched, coverage
            r = d.get("/shop/users/2")
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.headers.get("x-doppel-miss"), "true")
            # another query value is another request
            r = d.get("/shop/search?q=shoes&page=3")
            self.assertEqual(r.status, 404, r)
            r = d.post("/shop/echo", {"b": 2, "a": [1, 2]})
            self.assertEqual(r.status, 404, r)
            um = d.get("/api/v1/unmatched").json()["items"]
            self.assertIn("/shop/users/2", [u["path"] for u in um])
            cov = d.get("/api/v1/coverage").json()
            svc = [s for s in cov["services"] if s["name"] == "shop"][0]
            self.assertEqual(svc["mode"], "MOCK")
            self.assertEqual(svc["recordedMocks"], 5)
            self.assertIn({"method": "GET", "path": "/shop/users/2"},
                          [{"method": m["method"], "path": m["path"]}
                           for m in svc["misses"]])
            eps = {(ep["method"], ep["path"]): ep for ep in svc["endpoints"]}
            self.assertEqual(eps[("GET", "/shop/counter")]["responses"], 3)
            self.assertGreaterEqual(eps[("GET", "/shop/counter")]["hits"], 3)
            self.assertIsNotNone(eps[("GET", "/shop/users/1")]["lastSeen"])
            # filtered by service, and an unknown one
            self.assertEqual(d.get("/api/v1/coverage?service=shop").status,
                             200)
            self.assertEqual(d.get("/api/v1/coverage?service=nope").status,
                             404)

    def test_recordings_are_ordinary_editable_mocks(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "LEARN")
            self.assertEqual(d.get("/shop/users/1").status, 200)
            # a repeated identical exchange finds the same mock, unchanged
            self.assertEqual(d.get("/shop/users/1").status, 200)
            mocks = self.recorded(d)
            self.assertEqual(len(mocks), 1)
            mid = mocks[0]["id"]
            self.assertIn("response", mocks[0])
            self.assertTrue(mocks[0]["http"]["routeLiteral"])
            r = d.request("PATCH", "/api/v1/mocks/" + mid,
                          {"response": {"statusCode": 418,
                                        "payload": {"edited": True}}})
            self.assertEqual(r.status, 200, r)
            self.set_mode(d, "MOCK")
            r = d.get("/shop/users/1")
            # a merge patch: the recorded payload keeps its other keys
            self.assertEqual(r.status, 418)
            self.assertEqual(r.json(), {"id": 1, "name": "Ann",
                                        "note": "$.fake.FirstName",
                                        "edited": True})

    def test_spy_serves_mocks_and_forwards_the_rest(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            # SPY is the default mode
            js = d.get("/api/v1/mode").json()
            self.assertEqual((js["mode"], js["explicit"]), ("SPY", False))
            r = d.post("/api/v1/mocks", {"http": {"route": "/shop/users/:id"},
                                         "response": {"payload": {"local": 1}}})
            self.assertEqual(r.status, 201, r)
            r = d.get("/shop/users/9")
            self.assertEqual((r.status, r.json()), (200, {"local": 1}))
            self.assertEqual(self.up.seen, [])
            r = d.get("/shop/counter")
            self.assertEqual((r.status, r.json()), (200, {"n": 1}))
            self.assertEqual(r.headers.get("x-doppel-service"), "shop")
            self.assertEqual([s["path"] for s in self.up.seen], ["/counter"])
            # nothing was recorded
            self.assertEqual(self.recorded(d), [])
            # recordings made in LEARN are served locally in SPY
            self.set_mode(d, "LEARN")
            self.assertEqual(d.get("/shop/search?q=a").status, 200)
            self.set_mode(d, "SPY")
            n = len(self.up.seen)
            r = d.get("/shop/search?q=a")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers.get("x-doppel-mock-id", "").startswith(
                "rec-"))
            self.assertEqual(len(self.up.seen), n)
            # requests outside every service behave as before
            r = d.get("/elsewhere")
            self.assertEqual(r.status, 404)
            self.assertIsNone(r.headers.get("x-doppel-miss"))

    def test_passthrough_and_service_override(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, missStatus=599)
            self.set_mode(d, "PASSTHROUGH")
            self.assertEqual(d.get("/shop/users/1").status, 200)
            self.assertEqual(self.recorded(d), [])
            # the service's own mode wins over the namespace's
            r = d.request("PUT", "/api/v1/services/shop/mode",
                          {"mode": "mock"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["effectiveMode"], "MOCK")
            r = d.get("/shop/users/1")
            self.assertEqual(r.status, 599)
            self.assertEqual(r.headers.get("x-doppel-miss"), "true")
            # null: back to the namespace's mode
            r = d.request("PUT", "/api/v1/services/shop/mode", {"mode": None})
            self.assertEqual(r.json()["effectiveMode"], "PASSTHROUGH")
            self.assertEqual(d.get("/shop/users/1").status, 200)

    def test_modes_persist_across_restarts_and_kill9(self):
        with Doppel(env=ALLOW) as d:
            data = d.data
            self.service(d)
            self.set_mode(d, "LEARN")
            r = d.request("PUT", "/api/v1/services/shop/mode",
                          {"mode": "MOCK"})
            self.assertEqual(r.status, 200, r)
        with Doppel(env=ALLOW, data=data) as d:
            js = d.get("/api/v1/mode").json()
            self.assertEqual((js["mode"], js["explicit"]), ("LEARN", True))
            svc = d.get("/api/v1/services/shop").json()
            self.assertEqual(svc["mode"], "MOCK")
            self.assertEqual(svc["target"], self.up.url())
            self.set_mode(d, "PASSTHROUGH")
            # mode switches are in the audit log
            r = d.get("/api/v1/audit?namespace=sandbox&limit=100")
            self.assertEqual(r.status, 200, r)
            actions = [e["action"] for e in r.json()["entries"]]
            self.assertEqual(actions.count("mode.set"), 2, actions)
            self.assertIn("services.set_mode", actions)
            self.assertIn("services.create", actions)
            # an acknowledged switch survives kill -9
            self.set_mode(d, "MOCK")
            d.kill9()
        with Doppel(env=ALLOW, data=data) as d:
            self.assertEqual(d.get("/api/v1/mode").json()["mode"], "MOCK")
            # ... and so does its audit row: a write is acknowledged only
            # after the row is stored.
            r = d.get("/api/v1/audit?namespace=sandbox&limit=100")
            actions = [e["action"] for e in r.json()["entries"]]
            self.assertEqual(actions.count("mode.set"), 3, actions)

    def test_redaction(self):
        conf = ("[server]\nredact_headers = X-Custom-Secret\n\n"
                "[http]\nenabled = true\n")
        with Doppel(env=ALLOW, config=conf) as d:
            self.service(d)
            self.set_mode(d, "LEARN")
            r = d.get("/shop/users/1", headers={
                "Authorization": AUTH_SECRET,
                "X-Custom-Secret": CUSTOM_SECRET,
                "Cookie": "c=" + CUSTOM_SECRET})
            self.assertEqual(r.status, 200, r)
            # the upstream got the credentials (forwarding is not redacted),
            # and the client its cookie
            self.assertEqual(self.up.seen[-1]["headers"]["authorization"],
                             AUTH_SECRET)
            self.assertEqual(r.headers.get("set-cookie"), COOKIE_SECRET)
            # a request that is not forwarded is journaled redacted too
            d.get("/elsewhere", headers={"Authorization": AUTH_SECRET})
            mocks = self.recorded(d)
            self.assertEqual(len(mocks), 1)
            hdrs = mocks[0]["response"]["headers"]
            self.assertEqual(hdrs["Set-Cookie"], "[REDACTED]")
            journal = d.get("/api/v1/requests?limit=100").body
            unmatched = d.get("/api/v1/unmatched?limit=100").body
            self.assertIn(b"[REDACTED]", journal)
            self.assertIn(b"[REDACTED]", unmatched)
            mock_txt = json.dumps(mocks).encode()
            log_before = d.log().encode()
        # after a clean stop everything is flushed to the files
        secrets = [s.encode() for s in
                   ("SECRET-AUTH-7f3a91", "SECRET-COOKIE-c0ffee",
                    CUSTOM_SECRET)]
        files = [f for f in glob.glob(os.path.join(d.data, "*"))
                 if os.path.isfile(f)]
        self.assertTrue(any(f.endswith("doppel.db") for f in files), files)
        blobs = {}
        for f in files:
            with open(f, "rb") as fh:
                blobs[f] = fh.read()
        blobs["journal"] = journal
        blobs["unmatched"] = unmatched
        blobs["mocks"] = mock_txt
        blobs["log"] = log_before + d.log().encode()
        for where, data in blobs.items():
            for s in secrets:
                self.assertNotIn(s, data, "%s found in %s" % (s, where))
        self.assertIn(b"[REDACTED]", blobs[os.path.join(d.data, "doppel.db")]
                      + blobs.get(os.path.join(d.data, "doppel.db-wal"), b""))

    def test_big_bodies_are_truncated_and_marked(self):
        conf = "[server]\nrecord_body_max = 1k\n\n[http]\nenabled = true\n"
        with Doppel(env=ALLOW, config=conf) as d:
            self.service(d)
            self.set_mode(d, "LEARN")
            r = d.get("/shop/big")
            self.assertEqual(len(r.body), 5000)  # the client gets it all
            m = self.recorded(d)[0]
            self.assertTrue(m["recording"]["responseBodyTruncated"])
            self.assertEqual(m["response"]["headers"]["X-Doppel-Truncated"],
                             "5000")
            self.assertEqual(len(m["response"]["payload"]), 1024)
            self.set_mode(d, "MOCK")
            r = d.get("/shop/big")
            self.assertEqual((r.status, len(r.body)), (200, 1024))
            self.assertEqual(r.headers.get("x-doppel-truncated"), "5000")

    def test_guard_refuses_internal_targets(self):
        # no ALLOW_PROXY_TO_PRIVATE_IPS: the guard is on
        targets = [("lo", self.up.url()), ("ten", "http://10.1.2.3:80"),
                   ("meta", "http://169.254.169.254"),
                   ("name", self.up.url("localhost"))]
        with Doppel() as d:
            for i, (name, target) in enumerate(targets):
                self.service(d, name=name, prefix="/g%d" % i, target=target,
                             timeoutMs=5000)
            self.set_mode(d, "LEARN")
            for i, (name, _) in enumerate(targets):
                r = d.get("/g%d/x" % i)
                self.assertEqual(r.status, 502, (name, r))
                js = r.json()
                self.assertEqual(js["code"], "unavailable", js)
                self.assertEqual(js["reason"], "guard", js)
                self.assertEqual(js["service"], name, js)
            self.assertEqual(self.up.seen, [])
            self.assertEqual(self.recorded(d), [])

    def test_dead_upstream_is_a_502_naming_the_reason(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with Doppel(env=ALLOW) as d:
            self.service(d, target="http://127.0.0.1:%d" % port)
            self.set_mode(d, "LEARN")
            r = d.get("/shop/x")
            self.assertEqual(r.status, 502, r)
            self.assertEqual(r.json()["reason"], "refused")
            self.assertEqual(self.recorded(d), [])
            self.assertEqual(d.get("/health/live").status, 200)

    def test_bad_input_leaves_no_state(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            bad = [
                ({"target": self.up.url()}, 400, "name"),
                ({"name": "x" * 65, "target": self.up.url()}, 400, "name"),
                ({"name": "a b", "target": self.up.url()}, 400, "name"),
                ({"name": "n1"}, 400, "target"),
                ({"name": "n1", "target": "ftp://x"}, 400, "target"),
                ({"name": "n1", "target": "http://u:p@h"}, 400, "target"),
                ({"name": "n1", "target": "http://" + "a" * 3000}, 400,
                 "target"),
                ({"name": "n1", "target": "http://h/?q"}, 400, "target"),
                ({"name": "n1", "target": "http://h", "pathPrefix": "x"},
                 400, "pathPrefix"),
                ({"name": "n1", "target": "http://h", "mode": "record"}, 400,
                 "mode"),
                ({"name": "n1", "target": "http://h", "timeoutMs": 0}, 400,
                 "timeoutMs"),
                ({"name": "n1", "target": "http://h", "tlsVerify": "no"},
                 400, "tlsVerify"),
                ({"name": "n1", "target": "http://h", "missStatus": 99},
                 400, "missStatus"),
                ({"name": "n1", "target": "http://h",
                  "recordHeaders": ["Authorization"]}, 400,
                 "recordHeaders[0]"),
                ({"name": "n1", "target": "http://h",
                  "recordHeaders": ["x"] * 33}, 400, "recordHeaders"),
                ({"name": "n1", "target": "http://h", "extra": 1}, 400,
                 "extra"),
                ({"name": "shop", "target": "http://h", "pathPrefix": "/o"},
                 409, "name"),
                ({"name": "n2", "target": "http://h", "pathPrefix": "/shop/"},
                 409, "pathPrefix"),
            ]
            for body, status, field in bad:
                r = d.post("/api/v1/services", body)
                self.assertEqual(r.status, status, (body, r))
                self.assertEqual(r.json().get("field"), field, (body, r))
            r = d.post("/api/v1/services", b"{not json")
            self.assertEqual(r.status, 400, r)
            r = d.post("/api/v1/services", [1, 2])
            self.assertEqual(r.status, 400, r)
            names = [s["name"] for s in
                     d.get("/api/v1/services").json()["items"]]
            self.assertEqual(names, ["shop"])
            # modes
            for m in ("record", "", 5, None):
                r = d.request("PUT", "/api/v1/mode", {"mode": m})
                self.assertEqual(r.status, 400, (m, r))
                self.assertEqual(r.json()["field"], "mode")
            r = d.request("PUT", "/api/v1/mode", {"mode": "MOCK", "x": 1})
            self.assertEqual(r.status, 400, r)
            self.assertFalse(d.get("/api/v1/mode").json()["explicit"])
            # unknown service
            self.assertEqual(d.get("/api/v1/services/nope").status, 404)
            self.assertEqual(d.request("DELETE",
                                       "/api/v1/services/nope").status, 404)
            r = d.request("PUT", "/api/v1/services/nope/mode", {"mode": "MOCK"})
            self.assertEqual(r.status, 404, r)
            r = d.request("PUT", "/api/v1/services/shop/mode", {"mode": "x"})
            self.assertEqual(r.status, 400, r)
            self.assertIsNone(d.get("/api/v1/services/shop").json()["mode"])
            # namespaces keep their own services
            r = d.get("/api/v1/services?namespace=other")
            self.assertEqual(r.json()["items"], [])
            # delete, then the name is free again
            self.assertEqual(d.request("DELETE",
                                       "/api/v1/services/shop").status, 204)
            self.assertEqual(d.get("/api/v1/services/shop").status, 404)
            self.service(d)


class ForwardedJournalTest(unittest.TestCase):
    """The journal entry of a forwarded request carries what its client
    got (upstream status, 502 guard refusal, 504 timeout), the service and
    the failure reason."""

    setUp = RecordReplayTest.setUp
    tearDown = RecordReplayTest.tearDown
    service = RecordReplayTest.service
    set_mode = RecordReplayTest.set_mode
    recorded = RecordReplayTest.recorded

    def entry(self, d, path):
        items = d.get("/api/v1/requests?limit=1000").json()["items"]
        found = [i for i in items if i["path"] == path]
        self.assertEqual(len(found), 1, items)
        return found[0]

    def test_forwarded_status_in_the_journal(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.service(d, name="slow", prefix="/slow",
                         target=self.up.url() + "/slow", timeoutMs=300)
            self.set_mode(d, "LEARN")
            r = d.post("/shop/echo", {"a": 1})
            self.assertEqual(r.status, 201, r)
            e = self.entry(d, "/shop/echo")
            self.assertEqual((e["status"], e["service"], e["forwarded"]),
                             (201, "shop", True), e)
            self.assertNotIn("forwardError", e)
            self.assertEqual(len(self.recorded(d)), 1)
            r = d.get("/slow/x")
            self.assertEqual(r.status, 504, r)
            e = self.entry(d, "/slow/x")
            self.assertEqual((e["status"], e["service"], e["forwardError"]),
                             (504, "slow", "timeout"), e)
            # the latency covers the 300 ms the upstream was given
            self.assertGreaterEqual(e["latencyUs"], 300000, e)
            # PASSTHROUGH and SPY forwards are journalled the same way
            self.set_mode(d, "PASSTHROUGH")
            self.assertEqual(d.get("/shop/users/1").status, 200)
            self.assertEqual(self.entry(d, "/shop/users/1")["status"], 200)
            self.set_mode(d, "SPY")
            self.assertEqual(d.get("/shop/nothing").status, 404)
            e = self.entry(d, "/shop/nothing")
            self.assertEqual((e["status"], e["forwarded"]), (404, True), e)

    def test_guard_refusal_in_the_journal(self):
        with Doppel() as d:  # the guard is on
            self.service(d, timeoutMs=5000)
            self.set_mode(d, "LEARN")
            r = d.get("/shop/users/1")
            self.assertEqual(r.status, 502, r)
            e = self.entry(d, "/shop/users/1")
            self.assertEqual((e["status"], e["service"], e["forwardError"]),
                             (502, "shop", "guard"), e)
            self.assertEqual(self.up.seen, [])


if __name__ == "__main__":
    harness.main()
