"""doppel's own credentials never reach an upstream: the header that
authenticated a request of a requireToken namespace, and any Authorization
or X-API-Key whose value is a doppel token (mk_..., mki_...), are dropped
when a proxy mock or a service (PASSTHROUGH, SPY, LEARN) forwards the
request, and are neither recorded nor journalled. Other credentials (the
user's own API keys for the upstream) still arrive."""

import json
import unittest

import harness
import upstream
from harness import Doppel
from test_proxy_mock import Upstream

ALLOW = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
TOKEN = harness.ADMIN_TOKEN
USER_CRED = "Bearer upstream-key-9d41"  # the user's own credential


class CredentialForwardingTest(upstream.RecordReplayCalls, unittest.TestCase):
    def setUp(self):
        self.up = Upstream()
        self.up.url = lambda: "http://127.0.0.1:%d" % self.up.port

    def tearDown(self):
        self.up.close()

    def require_token(self, d, ns="sandbox"):
        r = d.request("PATCH", "/api/v1/namespaces/" + ns,
                      {"requireToken": True})
        self.assertEqual(r.status, 200, r)

    def proxy_mock(self, d):
        r = d.post("/api/v1/mocks", {"http": {"route": "/api/*"},
                                     "proxy": {"target": self.up.url()}})
        self.assertEqual(r.status, 201, r)

    def last_seen(self):
        self.assertTrue(self.up.seen, "the upstream was not called")
        return self.up.seen[-1]["headers"]

    def assert_no_token_anywhere(self, d):
        """Neither the journal nor the recordings hold the token."""
        r = d.get("/api/v1/requests?limit=1000")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(TOKEN[3:], r.body.decode())
        # the requests are there, their credential headers redacted
        self.assertIn('"[REDACTED]"', r.body.decode())
        r = d.get("/api/v1/mocks?limit=1000")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(TOKEN[3:], r.body.decode())

    def test_proxy_mock_drops_the_token_that_authenticated(self):
        with Doppel(env=ALLOW) as d:
            self.proxy_mock(d)
            self.require_token(d)
            # without a token: refused before anything is forwarded
            r = d.get("/api/a", auth=False)
            self.assertEqual(r.status, 401, r)
            self.assertEqual(self.up.seen, [])
            # Authorization: Bearer <doppel token>
            r = d.get("/api/a", auth=False,
                      headers={"Authorization": "Bearer " + TOKEN,
                               "X-Trace": "t1"})
            self.assertEqual(r.status, 201, r)
            seen = self.last_seen()
            self.assertEqual(seen.get("x-trace"), "t1")
            self.assertNotIn("authorization", seen)
            # X-API-Key: <doppel token>
            r = d.get("/api/b", auth=False, headers={"X-API-Key": TOKEN})
            self.assertEqual(r.status, 201, r)
            self.assertNotIn("x-api-key", self.last_seen())
            # Authorization authenticates; the user's X-API-Key for the
            # upstream is not doppel's and still arrives
            r = d.get("/api/c", auth=False,
                      headers={"Authorization": "Bearer " + TOKEN,
                               "X-API-Key": "upstream-key-77"})
            self.assertEqual(r.status, 201, r)
            seen = self.last_seen()
            self.assertNotIn("authorization", seen)
            self.assertEqual(seen.get("x-api-key"), "upstream-key-77")
            for s in self.up.seen:
                self.assertNotIn(TOKEN, json.dumps(s))
            self.assert_no_token_anywhere(d)

    def test_services_drop_the_token_in_every_forwarding_mode(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, name="api", prefix="/api")
            self.require_token(d)
            for mode in ("PASSTHROUGH", "SPY", "LEARN"):
                self.set_mode(d, mode)
                n = len(self.up.seen)
                path = "/api/%s" % mode.lower()
                r = d.get(path, auth=False,
                          headers={"Authorization": "Bearer " + TOKEN})
                self.assertIn(r.status, (200, 201), (mode, r))
                self.assertEqual(len(self.up.seen), n + 1, mode)
                self.assertNotIn("authorization", self.last_seen(), mode)
                r = d.get(path + "-key", auth=False,
                          headers={"X-API-Key": TOKEN})
                self.assertIn(r.status, (200, 201), (mode, r))
                self.assertNotIn("x-api-key", self.last_seen(), mode)
            for s in self.up.seen:
                self.assertNotIn(TOKEN, json.dumps(s))
            self.set_mode(d, "MOCK")
            self.assert_no_token_anywhere(d)

    def test_open_namespace_forwards_user_credentials(self):
        with Doppel(env=ALLOW) as d:
            self.proxy_mock(d)
            self.service(d, name="svc", prefix="/svc")
            for path in ("/api/x", "/svc/x"):
                r = d.get(path, auth=False,
                          headers={"Authorization": USER_CRED,
                                   "X-API-Key": "upstream-key-77"})
                self.assertEqual(r.status, 201, (path, r))
                seen = self.last_seen()
                self.assertEqual(seen.get("authorization"), USER_CRED, path)
                self.assertEqual(seen.get("x-api-key"), "upstream-key-77",
                                 path)

    def test_open_namespace_never_forwards_a_doppel_token(self):
        # a client that sends its doppel token everywhere (one setting for
        # every namespace) must not hand it to an upstream an editor chose
        with Doppel(env=ALLOW) as d:
            self.proxy_mock(d)
            self.service(d, name="svc", prefix="/svc")
            for path in ("/api/y", "/svc/y"):
                r = d.get(path, auth=False,
                          headers={"Authorization": "Bearer " + TOKEN})
                self.assertEqual(r.status, 201, (path, r))
                self.assertNotIn("authorization", self.last_seen(), path)
                r = d.get(path, auth=False,
                          headers={"X-API-Key": "mki_" + "k" * 40})
                self.assertEqual(r.status, 201, (path, r))
                self.assertNotIn("x-api-key", self.last_seen(), path)
                # any spelling doppel itself would read as a token
                for value in ("bearer   " + TOKEN, TOKEN, "BEARER mk_x"):
                    r = d.get(path, auth=False,
                              headers={"Authorization": value})
                    self.assertEqual(r.status, 201, (path, value, r))
                    self.assertNotIn("authorization", self.last_seen(),
                                     (path, value))


if __name__ == "__main__":
    harness.main()
