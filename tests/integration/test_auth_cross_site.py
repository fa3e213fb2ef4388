"""Local mode (--no-auth) and the browser: a page on another site must not
drive /api/v1 on a developer's machine, neither by a cross-site request
(a text/plain POST with its own Origin) nor by DNS rebinding (its own name
resolving to 127.0.0.1, so the request carries a foreign Host). Real
sockets, the real binary.
"""

import http.client
import json
import unittest
import uuid

from harness import Doppel, main

EVIL_ORIGINS = (
    "http://evil.example",
    "https://evil.example:5770",
    "null",
    "http://[::1].evil.example",
    "http://localhost:80@evil.example",
    "http://localhost@evil.example",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example",
    "http://127.0.0.1:80/path",
    "http://127.0.0.1:99999",
    "http://127.1",
    "http://0x7f.0.0.1",
    "ftp://127.0.0.1",
    "file://",
    "http://",
    "http://[::1",
    "http://[::2]",
    "http://127.0.0.1:",
)

EVIL_HOSTS = ("evil.example", "evil.example:{port}", "127.0.0.1.evil.example",
              "localhost:80@evil.example", "[::1].evil.example",
              "localhost.evil.example:{port}", "10.0.0.1:{port}")


class CrossSite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(args=["--no-auth"])

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def send(self, method, path, body=None, headers=None,
             ctype="text/plain"):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = ctype
        c = http.client.HTTPConnection(self.d.host, self.d.port, timeout=10)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            return r.status, json.loads(raw.decode()) if raw else None
        finally:
            c.close()

    def create(self, headers, route=None):
        route = route or "/x-" + uuid.uuid4().hex[:8]
        return self.send("POST", "/api/v1/mocks",
                         {"http": {"route": route}, "response": {}}, headers)

    def routes(self):
        st, js = self.send("GET", "/api/v1/mocks?limit=1000")
        self.assertEqual(st, 200, js)
        return {m["http"]["route"] for m in js["items"]}

    def refused(self, st, js):
        self.assertEqual(st, 403, js)
        self.assertEqual(js["code"], "forbidden", js)
        self.assertIn("request_id", js)
        self.assertIn("local mode", js["error"])

    def test_foreign_origin_cannot_write(self):
        for origin in EVIL_ORIGINS:
            route = "/evil-" + uuid.uuid4().hex[:8]
            st, js = self.create({"Origin": origin}, route)
            self.refused(st, js)
            self.assertNotIn(route, self.routes(), origin)
        # Nor reach the auth API (users and tokens).
        st, js = self.send("POST", "/api/v1/users", {"name": "evil"},
                           {"Origin": "http://evil.example"})
        self.refused(st, js)

    def test_foreign_host_cannot_read_or_write(self):
        for host in EVIL_HOSTS:
            h = {"Host": host.format(port=self.d.port)}
            st, js = self.send("GET", "/api/v1/mocks", headers=h)
            self.refused(st, js)
            st, js = self.send("GET", "/api/v1/whoami", headers=h)
            self.refused(st, js)
            route = "/rebound-" + uuid.uuid4().hex[:8]
            st, js = self.create(h, route)
            self.refused(st, js)
            self.assertNotIn(route, self.routes(), host)

    def test_this_machine_is_served(self):
        port = self.d.port
        for origin in (None, "http://127.0.0.1:%d" % port,
                       "http://localhost:%d" % port, "http://[::1]:%d" % port,
                       "HTTP://LOCALHOST:%d" % port, "https://127.0.0.2",
                       "http://localhost"):
            for host in ("127.0.0.1:%d" % port, "localhost:%d" % port,
                         "[::1]:%d" % port, "LocalHost", "127.0.0.1"):
                h = {"Host": host}
                if origin:
                    h["Origin"] = origin
                st, js = self.create(h)
                self.assertEqual(st, 201, (origin, host, js))
        st, js = self.send("GET", "/api/v1/whoami",
                           headers={"Origin": "http://localhost:%d" % port})
        self.assertEqual(st, 200, js)

    def test_health_stays_open(self):
        st, _ = self.send("GET", "/health/live",
                          headers={"Host": "evil.example"})
        self.assertEqual(st, 200)


class WithTokens(unittest.TestCase):
    """With authentication on, a browser holds no credential to send: the
    token is never ambient, so Origin and Host are not checked."""

    def test_token_from_any_origin(self):
        with Doppel() as d:
            r = d.request("POST", "/api/v1/mocks",
                          body={"http": {"route": "/tok"}, "response": {}},
                          headers={"Origin": "http://evil.example",
                                   "Host": "evil.example"})
            self.assertEqual(r.status, 201, r)
            r = d.request("POST", "/api/v1/mocks", auth=False,
                          body={"http": {"route": "/tok2"}, "response": {}},
                          headers={"Origin": "http://evil.example"})
            self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    main()
