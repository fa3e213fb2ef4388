"""Tags under the platforms' SDK paths, against the real binary:
GET /tags (the distinct tags of the mocks the caller may read, with
counts, optionally ?namespace=) and POST /tags {name[, namespace]}
(register a tag so that it shows with count 0 before a mock uses it;
persisted). docs/admin-api.md, "Tags"."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import fixture, make_tenants  # noqa: E402


class Tags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = make_tenants(cls.api, ("tg-a", "tg-b"),
                               (("tg-editor", [("tg-a", "editor")]),
                                ("tg-viewer", [("tg-a", "viewer")]),
                                ("tg-outsider", [("tg-b", "viewer")])))
        for ns, route, tags in (("tg-a", "/1", ["smoke", "v2", "smoke"]),
                                ("tg-a", "/2", ["smoke"]),
                                ("tg-b", "/3", ["smoke", "secret-b"])):
            st, js = cls.api("POST", "/mocks", {
                "namespace": ns, "http": {"route": route}, "tags": tags,
                "response": {"statusCode": 200}})
            assert st == 201, js
        # a closed mock's tags do not count
        st, js = cls.api("POST", "/mocks", {
            "namespace": "tg-a", "http": {"route": "/4"}, "tags": ["gone"],
            "response": {}})
        assert st == 201, js
        assert cls.api("DELETE", "/mocks/" + js["mock"]["id"])[0] == 200

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    @classmethod
    def api(cls, method, path, body=None, token=ADMIN_TOKEN, raw=None):
        headers = {"Authorization": "Bearer " + token}
        if raw is not None:
            headers["Content-Type"] = "application/json"
            body = raw
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

    def names(self, js):
        return {t["name"]: t["count"] for t in js["tags"]}

    def test_list_one_namespace(self):
        st, js = self.api("GET", "/tags?namespace=tg-a",
                          token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual(set(js), {"tags", "items", "total", "namespace"})
        self.assertEqual(js["namespace"], "tg-a")
        self.assertEqual(js["items"], js["tags"])
        for t in js["tags"]:
            self.assertEqual(set(t), {"name", "count"})
        got = self.names(js)
        self.assertEqual(got["smoke"], 2)
        self.assertEqual(got["v2"], 1)
        self.assertNotIn("gone", got)
        self.assertNotIn("secret-b", got)
        self.assertEqual(js["total"], len(js["tags"]))
        self.assertEqual([t["name"] for t in js["tags"]],
                         sorted(t["name"] for t in js["tags"]))

    def test_list_spans_what_the_caller_reads(self):
        st, js = self.api("GET", "/tags", token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertIsNone(js["namespace"])
        got = self.names(js)
        self.assertEqual(got["smoke"], 2)
        self.assertNotIn("secret-b", got)  # tg-b is not the editor's
        st, js = self.api("GET", "/tags")  # a system admin reads all
        self.assertEqual(st, 200, js)
        got = self.names(js)
        self.assertEqual(got["smoke"], 3)
        self.assertEqual(got["secret-b"], 1)

    def test_register(self):
        body = fixture("tag_create.json")
        st, js = self.api("POST", "/tags", body, token=self.tok["editor"])
        self.assertEqual(st, 201, js)
        self.assertEqual(js, {"name": "regression", "namespace": "tg-a",
                              "created": True})
        st, js = self.api("POST", "/tags", body, token=self.tok["editor"])
        self.assertEqual((st, js["created"]), (200, False))
        st, js = self.api("GET", "/tags?namespace=tg-a")
        self.assertEqual(self.names(js)["regression"], 0)
        # not in another namespace
        st, js = self.api("GET", "/tags?namespace=tg-b")
        self.assertNotIn("regression", self.names(js))
        # audited in its namespace
        st, js = self.api("GET", "/audit?namespace=tg-a&limit=1000")
        self.assertTrue([r for r in js["entries"]
                         if r["action"] == "tags.create"], js)

    def test_bad_input(self):
        for body, field in (({}, "name"), ({"name": 5}, "name"),
                            ({"name": ""}, "name"),
                            ({"name": "x" * 129}, "name"),
                            ({"name": "a\nb"}, "name"),
                            ({"name": "a", "colour": "red"}, "colour"),
                            ({"name": "a", "namespace": "../x"},
                             "namespace")):
            body.setdefault("namespace", "tg-a")
            st, js = self.api("POST", "/tags", body)
            self.err(st, js, 400, "validation", field)
        for raw in ("[1]", "{", "\"tag\""):
            st, js = self.api("POST", "/tags", raw=raw)
            self.err(st, js, 400, "validation")
        st, js = self.api("POST", "/tags", {"name": "x" * 100000,
                                            "namespace": "tg-a"})
        self.assertIn(st, (400, 413), js)
        st, js = self.api("GET", "/tags?namespace=tg-a")
        got = self.names(js)
        self.assertFalse([n for n in got if n in ("a", "", "x" * 129)])

    def test_roles(self):
        st, js = self.api("POST", "/tags", {"name": "v", "namespace": "tg-a"},
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("GET", "/tags?namespace=tg-a",
                          token=self.tok["outsider"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("GET", "/tags", token="mk_nope")
        self.assertEqual(st, 401, js)
        st, js = self.api("GET", "/tags?namespace=tg-a")
        self.assertNotIn("v", self.names(js))


class DocExamples(unittest.TestCase):
    """The curl examples of docs/admin-api.md, "Tags", run as written."""

    def test_examples(self):
        src = os.environ.get("DOPPEL_SOURCE_DIR", os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        with open(os.path.join(src, "docs", "admin-api.md")) as f:
            doc = f.read()
        sec = doc[doc.index("### Tags: "):]
        nxt = sec.find("\n### ", 5)
        sec = sec[:nxt] if nxt > 0 else sec
        block = sec[sec.index("```sh\n") + 6:]
        block = block[:block.index("```")]
        cmds = [ln for ln in block.splitlines() if ln.startswith("curl ")]
        self.assertEqual(len(cmds), 2, block)
        with Doppel() as d:
            for route in ("/a", "/b"):
                r = d.post("/api/v1/mocks", {
                    "namespace": "shop", "http": {"route": route},
                    "tags": ["smoke"], "response": {}})
                self.assertEqual(r.status, 201, r)
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
            self.assertEqual(outs[0], {"name": "regression",
                                       "namespace": "shop", "created": True})
            self.assertEqual(outs[1]["tags"],
                             [{"name": "regression", "count": 0},
                              {"name": "smoke", "count": 2}])
            self.assertEqual(outs[1]["namespace"], "shop")


class Persisted(unittest.TestCase):
    def test_registered_tag_survives_kill_9(self):
        d = Doppel()
        data = d.data
        try:
            r = d.post("/api/v1/tags", {"name": "kept", "namespace": "tp"})
            self.assertEqual(r.status, 201, r)
            d.kill9()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()
        with Doppel(data=data) as d2:
            r = d2.get("/api/v1/tags?namespace=tp")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["tags"], [{"name": "kept", "count": 0}])
            d2.assert_clean_log()


if __name__ == "__main__":
    main()
