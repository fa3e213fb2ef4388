"""Server-wide endpoints the platforms' SDKs and test containers call,
against the real binary: GET /api/v1/status and /api/v1/features, and the
WireMock-style POST|DELETE /__admin/reset (docs/admin-api.md,
"Compatibility with the platforms' SDKs"): the shapes read back, and the
refusals (no token, a role too low, another namespace, bad names)."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import make_tenants  # noqa: E402


def bearer(token):
    return {"Authorization": "Bearer " + token}


class Server(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = make_tenants(cls.api, ("rs-a", "rs-b"),
                               (("rs-viewer", [("rs-a", "viewer")]),
                                ("rs-editor", [("rs-a", "editor")])))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    @classmethod
    def api(cls, method, path, body=None, token=ADMIN_TOKEN):
        r = cls.d.request(method, "/api/v1" + path, body=body,
                          headers=bearer(token))
        return r.status, (r.json() if r.body else None)

    def reset(self, method="POST", query="", token=ADMIN_TOKEN, headers=None):
        h = dict(headers or {})
        if token is not None:
            h.update(bearer(token))
        r = self.d.request(method, "/__admin/reset" + query, headers=h)
        return r.status, (r.json() if r.body else None)

    def fill(self, ns):
        """A mock, a store key, a journal and an unmatched entry in ns."""
        route = "/r-" + uuid.uuid4().hex[:8]
        st, js = self.api("POST", "/mocks", {"namespace": ns,
                                             "http": {"route": route},
                                             "response": {"payload": {}}})
        self.assertEqual(st, 201, js)
        st, js = self.api("PUT", "/stores/global/k?namespace=" + ns, "1")
        self.assertEqual(st, 200, js)
        r = self.d.request("GET", route, headers={"X-Namespace": ns},
                           auth=False)
        self.assertEqual(r.status, 200, r)
        r = self.d.request("GET", "/none", headers={"X-Namespace": ns},
                           auth=False)
        self.assertEqual(r.status, 404, r)

    def held(self, ns):
        """What ns holds: (mocks, store keys, journal, unmatched)."""
        out = []
        for path in ("/mocks?includeClosed=true&namespace=",
                     "/stores/global?namespace=", "/requests?namespace=",
                     "/unmatched?namespace="):
            st, js = self.api("GET", path + ns)
            self.assertEqual(st, 200, js)
            out.append(js["total"] if "total" in js else len(js))
        return tuple(out)

    def err(self, st, js, status, code):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)

    def test_status(self):
        st, js = self.api("GET", "/status", token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["status"], "pass")
        self.assertEqual(js["state"], "ok")
        self.assertIs(js["ready"], True)
        self.assertRegex(js["version"], r"^\d+\.\d+\.\d+$")
        self.assertEqual(js["releaseId"], js["version"])
        self.assertRegex(js["uptime"], r"^(\d+h)?(\d+m)?\d+s$")
        self.assertIsInstance(js["uptimeSeconds"], float)
        r = self.d.request("GET", "/api/v1/status", auth=False)
        self.assertEqual(r.status, 401, r)
        r = self.d.request("POST", "/api/v1/status")
        self.assertEqual((r.status, r.headers.get("allow")),
                         (405, "GET, HEAD"), r)
        r = self.d.request("GET", "/api/v1/status/more")
        self.assertEqual(r.status, 404, r)
        # /api/v1/statusx is not this endpoint (the admin API's 404)
        r = self.d.request("GET", "/api/v1/statusx")
        self.assertEqual(r.status, 404, r)

    def test_features(self):
        st, js = self.api("GET", "/features", token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertIn("http", js["protocols"])
        self.assertIn("mcp", js["protocols"])
        self.assertIsInstance(js["features"], list)
        names = {p["name"] for p in js["plugins"]}
        self.assertIn("http", names)
        for p in js["plugins"]:
            self.assertEqual(set(p), {"name", "plugin", "version", "kind",
                                      "state"}, p)
            self.assertIn(p["kind"], ("protocol", "feature"))
        r = self.d.request("GET", "/api/v1/features", auth=False)
        self.assertEqual(r.status, 401, r)

    def test_reset_one_namespace(self):
        self.fill("rs-a")
        self.fill("rs-b")
        # a viewer may not, an editor of rs-a may not reset rs-b
        st, js = self.reset(query="?namespace=rs-a", token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.reset(query="?namespace=rs-b", token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        self.assertNotEqual(self.held("rs-a"), (0, 0, 0, 0))
        st, js = self.reset(headers={"X-Namespace": "rs-a"},
                            token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"reset": True, "namespace": "rs-a",
                              "namespaces": ["rs-a"]})
        self.assertEqual(self.held("rs-a"), (0, 0, 0, 0))
        self.assertEqual(self.held("rs-b"), (1, 1, 1, 1))
        st, audit = self.api("GET", "/audit?namespace=rs-a")
        self.assertIn("reset", [r.get("action", r.get("op"))
                                for r in audit["entries"]], audit)

    def test_reset_everything_needs_a_system_admin(self):
        self.fill("rs-a")
        self.fill("rs-b")
        st, js = self.reset(token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        st, js = self.reset(token=None)
        self.err(st, js, 401, "unauthorized")
        st, js = self.reset(token="mk_nope")
        self.err(st, js, 401, "unauthorized")
        self.assertEqual(self.held("rs-a")[0], 1)
        st, js = self.reset(method="DELETE")
        self.assertEqual(st, 200, js)
        self.assertIsNone(js["namespace"])
        self.assertIn("rs-a", js["namespaces"])
        self.assertIn("rs-b", js["namespaces"])
        self.assertEqual(self.held("rs-a"), (0, 0, 0, 0))
        self.assertEqual(self.held("rs-b"), (0, 0, 0, 0))
        # the namespaces themselves and their members stay
        st, js = self.api("GET", "/namespaces/rs-a/members")
        self.assertEqual(st, 200, js)
        self.assertEqual(len(js["members"]), 2)

    def test_reset_bad_input(self):
        for q in ("?namespace=..%2Fx", "?namespace=", "?namespace=" + "a" * 65,
                  "?namespace=%ZZ"):
            st, js = self.reset(query=q)
            self.assertEqual(st, 400, (q, js))
            self.assertEqual(js["field"], "namespace", js)
        st, js = self.reset(method="GET")
        self.assertEqual(st, 405, js)
        r = self.d.request("POST", "/__admin/mappings", headers=bearer(
            ADMIN_TOKEN))
        self.assertEqual(r.status, 404, r)
        r = self.d.request("POST", "/__admin/mappings")
        self.assertEqual(r.status, 401, r)


class LocalModeReset(unittest.TestCase):
    def test_reset_without_a_token(self):
        with Doppel(args=["--no-auth"]) as d:
            r = d.request("POST", "/api/v1/mocks", auth=False,
                          body={"http": {"route": "/x"}, "response": {}})
            self.assertEqual(r.status, 201, r)
            r = d.request("POST", "/__admin/reset", auth=False)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["namespaces"], ["sandbox"])
            r = d.request("GET", "/api/v1/mocks?includeClosed=true",
                          auth=False)
            self.assertEqual(r.json()["total"], 0, r)
            r = d.request("GET", "/api/v1/status", auth=False)
            self.assertEqual(r.status, 200, r)
            # local mode's rule: a foreign Origin is refused
            r = d.request("POST", "/__admin/reset", auth=False,
                          headers={"Origin": "http://evil.example"})
            self.assertEqual(r.status, 403, r)


if __name__ == "__main__":
    main()
