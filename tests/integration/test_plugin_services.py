"""The ABI 1.1 host services through a real plugin
(tests/plugins/host_services.c): admin_call (the REST API's code path in
process: auth, validation, audit, refusals), http_listen (a listener of the
plugin's own, per worker, with the port-in-use refusal), shared (one state
per section, destroyed once) and post to a sibling copy on another worker."""

import json
import os
import re
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import ADMIN_TOKEN, Doppel

PLUGIN = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                      "doppel_host_services.so")


def config(extra=""):
    return "[svc]\npath = %s\nenabled = true\n%s" % (PLUGIN, extra)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


class AdminCall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=config(), workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def via(self, method, target, body=None, headers=None):
        """Asks the plugin to make the admin call; returns the response."""
        r = self.d.request(method, "/svc/admin" + target, body=body,
                           headers=headers)
        return r

    def test_read_with_callers_token(self):
        r = self.via("GET", "/api/v1/whoami", headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["x-test-rc"], "0")
        # the callback never runs inside admin_call
        self.assertEqual(r.headers["x-test-sync"], "0")
        self.assertTrue(r.json()["systemAdmin"], r)

    def test_x_api_key_is_passed_too(self):
        r = self.via("GET", "/api/v1/mocks?namespace=sandbox",
                     headers={"X-API-Key": ADMIN_TOKEN})
        self.assertEqual(r.status, 200, r)

    def test_no_or_bad_token_is_401(self):
        r = self.via("GET", "/api/v1/mocks")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["code"], "unauthorized")
        r = self.via("GET", "/api/v1/mocks",
                     headers=bearer("mk_" + "y" * 43))
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers["x-test-rc"], "0")

    def test_viewer_cannot_write_403(self):
        self.assertEqual(self.d.post("/api/v1/namespaces",
                                     {"name": "svc-ro"}).status, 201)
        self.assertEqual(self.d.post("/api/v1/users",
                                     {"name": "svc-viewer"}).status, 201)
        r = self.d.request("PUT", "/api/v1/namespaces/svc-ro/members/"
                           "svc-viewer", {"role": "viewer"})
        self.assertEqual(r.status, 201, r)
        r = self.d.post("/api/v1/users/svc-viewer/tokens", {"name": "t"})
        self.assertEqual(r.status, 201, r)
        viewer = r.json()["secret"]
        mock = {"namespace": "svc-ro",
                "http": {"route": "/ro", "httpMethod": "GET"},
                "response": {"payload": {"ok": True}}}
        r = self.via("POST", "/api/v1/mocks", body=mock,
                     headers=bearer(viewer))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["code"], "forbidden")
        # reading is allowed to the viewer
        r = self.via("GET", "/api/v1/mocks?namespace=svc-ro",
                     headers=bearer(viewer))
        self.assertEqual(r.status, 200, r)
        # and nothing was stored by the refused write
        r = self.d.get("/api/v1/mocks?namespace=svc-ro")
        self.assertEqual(r.json()["total"], 0, r)

    def test_validation_400_same_as_rest(self):
        bad = {"http": {"route": "no-slash", "httpMethod": "GET"},
               "response": {"statusCode": 200}}
        direct = self.d.post("/api/v1/mocks", bad)
        r = self.via("POST", "/api/v1/mocks", body=bad,
                     headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, direct.status, r)
        self.assertEqual(r.status // 100, 4)
        a, b = r.json(), direct.json()
        a.pop("request_id", None)
        b.pop("request_id", None)
        self.assertEqual(a, b)
        r = self.via("POST", "/api/v1/mocks", body="{not json",
                     headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, 400, r)

    def test_write_is_audited_and_served(self):
        mock = {"namespace": "svc-audit",
                "http": {"route": "/via-plugin", "httpMethod": "GET"},
                "response": {"payload": {"made": "in process"}}}
        self.assertEqual(self.d.post("/api/v1/namespaces",
                                     {"name": "svc-audit"}).status, 201)
        r = self.via("POST", "/api/v1/mocks", body=mock,
                     headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, 201, r)
        mid = r.json()["mock"]["id"]
        r = self.d.get("/api/v1/audit?namespace=svc-audit")
        self.assertEqual(r.status, 200, r)
        entries = r.json()["entries"]
        self.assertIn("mocks.create", [e["action"] for e in entries], entries)
        r = self.d.get("/api/v1/mocks/" + mid)
        self.assertEqual(r.status, 200, r)

    def test_not_under_api_v1_is_refused(self):
        for target in ("/health", "/api/v1", "/api/v2/mocks", "/svc/info"):
            with self.subTest(target=target):
                r = self.via("GET", target, headers=bearer(ADMIN_TOKEN))
                self.assertEqual(r.status, 502, r)
                self.assertEqual(r.json()["rc"], -22)

    def test_unknown_admin_path_404_and_traversal(self):
        r = self.via("GET", "/api/v1/no-such", headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, 404, r)
        # a dot-dot path stays in the API: never another route
        r = self.via("GET", "/api/v1/../../svc/info",
                     headers=bearer(ADMIN_TOKEN))
        self.assertEqual(r.status, 404, r)
        self.assertNotIn(b"worker", r.body)

    def test_oversized_body_is_413(self):
        big = b"[" + b"1," * (5 * 1024 * 1024) + b"1]"
        r = self.via("POST", "/api/v1/mocks/batch", body=big,
                     headers=bearer(ADMIN_TOKEN))
        # the front's own limit for clients of the socket is the same
        self.assertIn(r.status, (413,), r)


class SharedAndListen(unittest.TestCase):
    def test_info_shared_count_and_services(self):
        with Doppel(config=config(), workers=3) as d:
            seen = set()
            for _ in range(60):
                js = d.get("/svc/info").json()
                seen.add(js["worker"])
                self.assertEqual(js["alive"], 3, js)
                self.assertEqual(js["abi"], "1.2")
                self.assertEqual(js["has"], {"engine_record": True,
                                             "admin_call": True,
                                             "http_listen": True,
                                             "shared": True})
                if len(seen) == 3:
                    break

    def test_shared_destroyed_once_after_last_copy(self):
        log = os.path.join(tempfile.mkdtemp(prefix="doppel-test-"),
                           "shared.log")
        d = Doppel(config=config("shared_log = %s\n" % log), workers=3)
        with d:
            self.assertEqual(d.get("/svc/info").json()["alive"], 3)
            self.assertFalse(os.path.exists(log))
            self.assertEqual(d.stop(), 0)
        with open(log) as f:
            self.assertEqual(f.read(), "destroyed alive=0\n")

    def test_post_to_sibling_copies_from_another_thread(self):
        with Doppel(config=config(), workers=3) as d:
            js = d.get("/svc/siblings").json()
            self.assertEqual(js, {"sent": 2, "ok": 2})

    def test_own_listener_serves_only_its_mount(self):
        # port 0: the host picks one (no pick-then-close race with other
        # tests) and logs it
        with Doppel(config=config("listen = 127.0.0.1:0\n"),
                    workers=2) as d:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(svc\)", d.log())
            self.assertIsNotNone(m, d.log())
            port = int(m.group(1))
            # the harness found the main port, not ours
            self.assertNotEqual(d.port, port)
            workers = set()
            for _ in range(40):
                c = harness.http.client.HTTPConnection("127.0.0.1", port,
                                                       timeout=5)
                c.request("GET", "/own")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                workers.add(json.loads(r.read())["worker"])
                c.close()
            self.assertTrue(workers)
            for path in ("/health", "/api/v1/mocks", "/svc/info", "/metrics"):
                c = harness.http.client.HTTPConnection("127.0.0.1", port,
                                                       timeout=5)
                c.request("GET", path, headers=bearer(ADMIN_TOKEN))
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 404, path)
                c.close()
            # and the main port does not serve the listener's mount
            self.assertEqual(d.get("/own").status, 404)
            self.assertEqual(d.stop(), 0)

    def test_port_in_use_fails_start_up(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        try:
            for workers in (1, 2):
                with self.subTest(workers=workers):
                    d = Doppel(config=config("listen = 127.0.0.1:%d\n" % port),
                               workers=workers, start=False)
                    code, out, err = harness_run(d)
                    self.assertEqual(code, 1, err)
                    self.assertIn("cannot listen on 127.0.0.1:%d "
                                  "(instance 'svc')" % port, err)
                    self.assertNotIn("listening on", err)
                    for m in harness.SANITIZER_MARKERS:
                        self.assertNotIn(m, err)
        finally:
            holder.close()

    def test_bad_listen_address_fails_init(self):
        d = Doppel(config=config("listen = nowhere\n"), start=False)
        code, out, err = harness_run(d)
        self.assertEqual(code, 1, err)
        self.assertIn("init failed", err)


def harness_run(d):
    """Runs `doppel serve` for d to completion (a start-up that must fail)."""
    p = subprocess.run(d.command(), capture_output=True, env=d.env,
                       timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


if __name__ == "__main__":
    harness.main()
