"""The versions of a mock under the platforms' SDK paths, against the real
binary: GET /mocks/ID/versions, GET /mocks/ID/versions/V and
POST /mocks/ID/versions/V/restore (docs/admin-api.md, "Versions of a
mock"). Every write of a mock keeps a version, at most mock_versions_max
per mock; a restore writes one back as a new version; versions survive
kill -9 after an acknowledged write; a purge drops them."""

import json
import os
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from sdk_fixtures import fixture, make_tenants  # noqa: E402
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402


LIST_KEYS = {"id", "namespace", "current", "versionsMax", "total", "items",
             "versions"}
ITEM_KEYS = {"version", "createdAt", "changedBy", "summary", "current"}


class Versions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        conf = harness.default_config().replace("#mock_versions_max = 20",
                                                "mock_versions_max = 3")
        assert "mock_versions_max = 3" in conf
        cls.d = Doppel(config=conf)
        cls.tok = make_tenants(cls.api, ("vr-a", "vr-b"),
                               (("vr-editor", [("vr-a", "editor")]),
                                ("vr-viewer", [("vr-a", "viewer")]),
                                ("vr-outsider", [("vr-b", "editor")])))

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    @classmethod
    def api(cls, method, path, body=None, token=ADMIN_TOKEN, raw=None):
        headers = {"Authorization": "Bearer " + token}
        if raw is not None:
            headers["Content-Type"] = "application/json"
            r = cls.d.request(method, "/api/v1" + path, body=raw,
                              headers=headers)
        else:
            r = cls.d.request(method, "/api/v1" + path, body=body,
                              headers=headers)
        try:
            js = r.json() if r.body else None
        except ValueError:
            js = r.body
        return r.status, js

    def err(self, st, js, status, code, field=None):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        if field is not None:
            self.assertEqual(js.get("field"), field, js)

    def sdk_mock(self, ns="vr-a"):
        """The SDKs' create body, with an id of this test."""
        mid = "vr-" + uuid.uuid4().hex[:10]
        body = fixture("mock_http.json", id=mid, namespace=ns)
        body["http"] = dict(body["http"], route="/u-%s/:id" % mid)
        st, js = self.api("POST", "/mocks", body, token=self.tok["editor"])
        self.assertEqual(st, 201, js)
        return mid, body

    def versions(self, mid, token=ADMIN_TOKEN):
        st, js = self.api("GET", "/mocks/%s/versions" % mid, token=token)
        self.assertEqual(st, 200, js)
        return js

    def test_list_get_and_restore(self):
        mid, body = self.sdk_mock()
        st, js = self.api("PATCH", "/mocks/" + mid,
                          {"response": {"statusCode": 201,
                                        "payload": {"v": 2}}},
                          token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        js = self.versions(mid)
        self.assertEqual(set(js), LIST_KEYS)
        self.assertEqual((js["id"], js["namespace"], js["current"],
                          js["versionsMax"], js["total"]),
                         (mid, "vr-a", 2, 3, 2))
        self.assertEqual(js["versions"], js["items"])
        for it in js["items"]:
            self.assertEqual(set(it), ITEM_KEYS)
            self.assertIsInstance(it["createdAt"], int)
        self.assertEqual([(i["version"], i["summary"], i["changedBy"],
                           i["current"]) for i in js["items"]],
                         [(2, "patched", "vr-editor", True),
                          (1, "created", "vr-editor", False)])

        # one version: the mock as that write stored it
        st, v1 = self.api("GET", "/mocks/%s/versions/1" % mid,
                          token=self.tok["viewer"])
        self.assertEqual(st, 200, v1)
        self.assertEqual(v1["id"], mid)
        self.assertEqual(v1["response"]["payload"], body["response"]["payload"])
        self.assertEqual(v1["tags"], ["sdk"])

        # restore as the SDKs call it: POST with no body
        route = "/api/u-%s/7" % mid
        r = self.d.request("GET", route, headers={"X-Namespace": "vr-a"},
                           auth=False)
        self.assertEqual(r.status, 201, r)
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid,
                          token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["id"], mid)
        self.assertEqual(js["mock"]["id"], mid)
        self.assertEqual(js["restoredFrom"], 1)
        self.assertEqual(js["response"]["payload"], body["response"]["payload"])
        self.assertEqual(js["namespace"], "vr-a")
        r = self.d.request("GET", route, headers={"X-Namespace": "vr-a"},
                           auth=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], "7")
        js = self.versions(mid)
        self.assertEqual((js["current"], js["total"]), (3, 3))
        self.assertEqual(js["items"][0]["summary"], "restored version 1")
        # and an empty JSON object body is the same call
        st, js = self.api("POST", "/mocks/%s/versions/2/restore" % mid, {},
                          token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["response"]["statusCode"], 201)
        self.assertEqual(js["response"]["payload"]["v"], 2)

    def test_every_write_counts_and_the_oldest_go(self):
        mid, _ = self.sdk_mock()
        for tags in (["x"], ["y"]):
            st, js = self.api("PATCH", "/mocks/" + mid, {"tags": tags})
            self.assertEqual(st, 200, js)
        self.assertEqual(self.api("DELETE", "/mocks/" + mid)[0], 200)
        self.assertEqual(self.api("POST", "/mocks/%s/restore" % mid)[0], 200)
        js = self.versions(mid)
        self.assertEqual(js["current"], 5)
        self.assertEqual([i["version"] for i in js["items"]], [5, 4, 3])
        self.assertEqual([i["summary"] for i in js["items"]],
                         ["restored", "closed", "patched"])
        st, js = self.api("GET", "/mocks/%s/versions/2" % mid)
        self.err(st, js, 404, "not_found", "version")
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid)
        self.err(st, js, 404, "not_found", "version")
        self.assertEqual(self.versions(mid)["current"], 5)

    def test_batch_tags_keep_versions(self):
        a, _ = self.sdk_mock()
        b, _ = self.sdk_mock()
        body = fixture("mocks_batch_tags.json", ids=[a, b])
        st, js = self.api("PATCH", "/mocks/batch/tags", body)
        self.assertEqual(st, 200, js)
        for mid in (a, b):
            js = self.versions(mid)
            self.assertEqual(js["current"], 2)
            self.assertEqual(js["items"][0]["summary"], "patched")

    def test_purge_drops_versions(self):
        mid, body = self.sdk_mock()
        self.api("PATCH", "/mocks/" + mid, {"tags": ["p"]})
        st, js = self.api("DELETE", "/mocks/%s/purge" % mid)
        self.assertEqual(st, 204, js)
        st, js = self.api("GET", "/mocks/%s/versions" % mid)
        self.err(st, js, 404, "not_found", "id")
        st, js = self.api("POST", "/mocks", body)
        self.assertEqual(st, 201, js)
        js = self.versions(mid)
        self.assertEqual((js["current"], js["total"]), (1, 1))

    def test_bad_input(self):
        mid, _ = self.sdk_mock()
        for v in ("abc", "0", "-1", "01", "1.0", "%201", "1e3",
                  "9" * 19, "x" * 5000):
            for method, path in (("GET", "/mocks/%s/versions/%s"),
                                 ("POST", "/mocks/%s/versions/%s/restore")):
                st, js = self.api(method, path % (mid, v))
                self.err(st, js, 400, "validation", "version")
        st, js = self.api("GET", "/mocks/%s/versions/99" % mid)
        self.err(st, js, 404, "not_found", "version")
        st, js = self.api("GET", "/mocks/no-such-mock/versions")
        self.err(st, js, 404, "not_found", "id")
        st, js = self.api("POST", "/mocks/no-such-mock/versions/1/restore")
        self.err(st, js, 404, "not_found", "id")
        # a body that is not a JSON object, or not JSON
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid,
                          raw="[1]")
        self.err(st, js, 400, "validation")
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid,
                          raw="{")
        self.err(st, js, 400, "validation")
        st, js = self.api("POST", "/mocks/%s/versions/1/restore/x" % mid)
        self.assertEqual(st, 404, js)
        st, js = self.api("DELETE", "/mocks/%s/versions/1" % mid)
        self.assertEqual(st, 405, js)
        # nothing of it was written
        self.assertEqual(self.versions(mid)["current"], 1)

    def test_roles(self):
        mid, _ = self.sdk_mock()
        # a viewer reads, may not restore
        self.assertEqual(self.versions(mid, self.tok["viewer"])["total"], 1)
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid,
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        # another namespace's member learns nothing: 404 as for no mock
        for method, path in (("GET", "/mocks/%s/versions"),
                             ("GET", "/mocks/%s/versions/1"),
                             ("POST", "/mocks/%s/versions/1/restore")):
            st, js = self.api(method, path % mid, token=self.tok["outsider"])
            self.err(st, js, 404, "not_found", "id")
        st, js = self.api("GET", "/mocks/%s/versions" % mid, token="mk_nope")
        self.assertEqual(st, 401, js)
        self.assertEqual(self.versions(mid)["current"], 1)

    def test_restore_is_audited(self):
        mid, _ = self.sdk_mock()
        st, js = self.api("POST", "/mocks/%s/versions/1/restore" % mid)
        self.assertEqual(st, 200, js)
        st, js = self.api("GET", "/audit?namespace=vr-a&limit=1000")
        self.assertEqual(st, 200, js)
        rows = [r for r in js["entries"]
                if r["action"] == "mocks.version_restore"
                and mid in r["target"]]
        self.assertEqual([r["target"] for r in rows],
                         ["/mocks/%s/versions/1/restore" % mid], js)
        self.assertEqual(rows[0]["actor"], "admin")
        # reads are not audited
        self.assertFalse([r for r in js["entries"]
                          if r["action"].startswith("mocks.version")
                          and r["action"] != "mocks.version_restore"])


class DocExamples(unittest.TestCase):
    """The curl examples of docs/admin-api.md, "Versions of a mock", run
    as written against a server."""

    def test_examples(self):
        src = os.environ.get("DOPPEL_SOURCE_DIR", os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        with open(os.path.join(src, "docs", "admin-api.md")) as f:
            doc = f.read()
        sec = doc[doc.index("### Versions of a mock"):]
        sec = sec[:sec.find("\n### ", 5) if "\n### " in sec[5:] else None]
        block = sec[sec.index("```sh\n") + 6:]
        block = block[:block.index("```")]
        cmds = [ln.split("  #")[0].strip() for ln in block.splitlines()
                if ln.startswith("curl ")]
        self.assertEqual(len(cmds), 3, block)
        with Doppel() as d:
            r = d.post("/api/v1/mocks", {
                "id": "m1", "namespace": "shop", "http": {"route": "/o"},
                "response": {"statusCode": 200}})
            self.assertEqual(r.status, 201, r)
            r = d.request("PATCH", "/api/v1/mocks/m1",
                          {"response": {"statusCode": 500}})
            self.assertEqual(r.status, 200, r)
            script = ("shopt -s expand_aliases\n"
                      "B=http://%s:%d/api/v1\nTOKEN=%s\n"
                      "alias curl='curl -H \"Authorization: Bearer $TOKEN\"'\n"
                      % (d.host, d.port, ADMIN_TOKEN))
            outs = []
            for c in cmds:
                p = subprocess.run(["bash", "-c", script + c],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 0, p.stderr)
                outs.append(json.loads(p.stdout))
            self.assertEqual(set(outs[0]), LIST_KEYS)
            self.assertEqual(outs[0]["current"], 2)
            self.assertEqual(outs[1]["response"]["statusCode"], 200)
            self.assertEqual(outs[2]["restoredFrom"], 1)
            self.assertEqual(outs[2]["mock"]["response"]["statusCode"], 200)


class Durability(unittest.TestCase):
    def test_versions_survive_kill_9(self):
        d = Doppel()
        data = d.data
        mid = "vr-durable"
        try:
            body = fixture("mock_http.json", id=mid, namespace="vr-d")
            r = d.post("/api/v1/mocks", body)
            self.assertEqual(r.status, 201, r)
            for code in (201, 202):
                r = d.request("PATCH", "/api/v1/mocks/" + mid,
                              {"response": {"statusCode": code}})
                self.assertEqual(r.status, 200, r)
            d.kill9()  # right after the acknowledged write
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()
        with Doppel(data=data) as d2:
            r = d2.get("/api/v1/mocks/%s/versions" % mid)
            self.assertEqual(r.status, 200, r)
            js = r.json()
            self.assertEqual((js["current"], js["total"]), (3, 3))
            r = d2.get("/api/v1/mocks/%s/versions/1" % mid)
            self.assertEqual(r.json()["response"]["statusCode"], 200)
            r = d2.post("/api/v1/mocks/%s/versions/1/restore" % mid, None)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["response"]["statusCode"], 200)
            r = d2.get("/api/v1/mocks/%s/versions" % mid)
            self.assertEqual(r.json()["current"], 4)
            d2.assert_clean_log()


if __name__ == "__main__":
    main()
