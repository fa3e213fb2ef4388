"""Mock folders under the platforms' SDK paths, against the real binary:
GET|POST /mock-folders, PUT|DELETE /mock-folders/ID and
PATCH /mock-folders/ID/move (docs/admin-api.md, "Mock folders"): a tree
per namespace, persisted; a mock joins one with its folderId."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import fixture, make_tenants  # noqa: E402

FOLDER_KEYS = {"id", "name", "parentId", "namespace", "createdAt"}


class Folders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = make_tenants(cls.api, ("fd-a", "fd-b"),
                               (("fd-editor", [("fd-a", "editor")]),
                                ("fd-viewer", [("fd-a", "viewer")]),
                                ("fd-outsider", [("fd-b", "editor")])))

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

    def folder(self, name, parent=None, ns="fd-a"):
        st, js = self.api("POST", "/mock-folders",
                          {"name": name, "parentId": parent, "namespace": ns},
                          token=self.tok["editor"] if ns == "fd-a"
                          else ADMIN_TOKEN)
        self.assertEqual(st, 201, js)
        return js

    def test_tree(self):
        st, top = self.api("POST", "/mock-folders",
                           fixture("folder_create.json"),
                           token=self.tok["editor"])
        self.assertEqual(st, 201, top)
        self.assertEqual(set(top), FOLDER_KEYS)
        self.assertEqual((top["name"], top["parentId"], top["namespace"]),
                         ("payments", None, "fd-a"))
        kid = self.folder("cards", top["id"])
        self.assertEqual(kid["parentId"], top["id"])
        gk = self.folder("visa", kid["id"])
        st, js = self.api("GET", "/mock-folders?namespace=fd-a",
                          token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual(set(js), {"folders", "items", "total"})
        self.assertEqual(js["folders"], js["items"])
        ids = {f["id"] for f in js["folders"]}
        self.assertTrue({top["id"], kid["id"], gk["id"]} <= ids)
        for f in js["folders"]:
            self.assertEqual(set(f), FOLDER_KEYS)
        # rename
        st, js = self.api("PUT", "/mock-folders/" + kid["id"],
                          {"name": "credit cards"}, token=self.tok["editor"])
        self.assertEqual((st, js["name"], js["parentId"]),
                         (200, "credit cards", top["id"]))
        # under its own descendant, or itself: 409
        for target in (gk["id"], top["id"]):
            st, js = self.api("PATCH", "/mock-folders/%s/move" % top["id"],
                              {"parentId": target}, token=self.tok["editor"])
            self.err(st, js, 409, "conflict", "parentId")
        # to the top level, as the SDKs send it, and back
        st, js = self.api("PATCH", "/mock-folders/%s/move" % gk["id"],
                          fixture("folder_move.json"),
                          token=self.tok["editor"])
        self.assertEqual((st, js["parentId"]), (200, None))
        st, js = self.api("PATCH", "/mock-folders/%s/move" % gk["id"],
                          {"parentId": kid["id"]}, token=self.tok["editor"])
        self.assertEqual((st, js["parentId"]), (200, kid["id"]))

        # a mock joins the grandchild
        st, m = self.api("POST", "/mocks", {
            "namespace": "fd-a", "folderId": gk["id"],
            "http": {"route": "/fd"}, "response": {}},
            token=self.tok["editor"])
        self.assertEqual(st, 201, m)
        self.assertEqual(m["mock"]["folderId"], gk["id"])
        # not empty: 409 without recursive, nothing gone
        for fid in (top["id"], gk["id"]):
            st, js = self.api("DELETE", "/mock-folders/" + fid,
                              token=self.tok["editor"])
            self.err(st, js, 409, "conflict")
        st, js = self.api("GET", "/mock-folders?namespace=fd-a")
        self.assertTrue({top["id"], kid["id"], gk["id"]}
                        <= {f["id"] for f in js["folders"]})
        st, js = self.api("DELETE", "/mock-folders/%s?recursive=true"
                          % top["id"], token=self.tok["editor"])
        self.assertEqual((st, js), (200, {"id": top["id"], "deleted": True,
                                          "mocksMoved": 1}))
        st, js = self.api("GET", "/mock-folders?namespace=fd-a")
        self.assertFalse({top["id"], kid["id"], gk["id"]}
                         & {f["id"] for f in js["folders"]})
        st, js = self.api("GET", "/mocks/" + m["mock"]["id"])
        self.assertNotIn("folderId", js)
        # an empty folder goes without recursive
        e = self.folder("empty")
        st, js = self.api("DELETE", "/mock-folders/" + e["id"],
                          token=self.tok["editor"])
        self.assertEqual((st, js["mocksMoved"]), (200, 0))

    def test_namespaces_apart(self):
        a = self.folder("in-a")
        b = self.folder("in-b", ns="fd-b")
        # a parent of another namespace is no parent
        st, js = self.api("POST", "/mock-folders",
                          {"name": "x", "parentId": b["id"],
                           "namespace": "fd-a"})
        self.err(st, js, 404, "not_found", "parentId")
        st, js = self.api("PATCH", "/mock-folders/%s/move" % a["id"],
                          {"parentId": b["id"]})
        self.err(st, js, 404, "not_found", "parentId")
        # the list without a namespace: what the caller reads
        st, js = self.api("GET", "/mock-folders", token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        nss = {f["namespace"] for f in js["folders"]}
        self.assertIn("fd-a", nss)
        self.assertNotIn("fd-b", nss)
        st, js = self.api("GET", "/mock-folders")
        self.assertIn("fd-b", {f["namespace"] for f in js["folders"]})

    def test_roles(self):
        a = self.folder("roles")
        # a viewer reads, may not write
        for method, path, body in (
                ("POST", "/mock-folders", {"name": "v", "namespace": "fd-a"}),
                ("PUT", "/mock-folders/" + a["id"], {"name": "v"}),
                ("PATCH", "/mock-folders/%s/move" % a["id"],
                 {"parentId": None}),
                ("DELETE", "/mock-folders/" + a["id"], None)):
            st, js = self.api(method, path, body, token=self.tok["viewer"])
            self.err(st, js, 403, "forbidden")
        # another namespace's member: 404 as for an unknown id
        for method, path, body in (
                ("PUT", "/mock-folders/" + a["id"], {"name": "o"}),
                ("PATCH", "/mock-folders/%s/move" % a["id"],
                 {"parentId": None}),
                ("DELETE", "/mock-folders/" + a["id"], None)):
            st, js = self.api(method, path, body, token=self.tok["outsider"])
            self.err(st, js, 404, "not_found", "id")
        st, js = self.api("GET", "/mock-folders?namespace=fd-a",
                          token=self.tok["outsider"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("GET", "/mock-folders", token="mk_nope")
        self.assertEqual(st, 401, js)
        st, js = self.api("GET", "/mock-folders?namespace=fd-a")
        got = [f for f in js["folders"] if f["id"] == a["id"]]
        self.assertEqual(got[0]["name"], "roles")

    def test_bad_input(self):
        a = self.folder("bad")
        for body, field in (({}, "name"), ({"name": 3}, "name"),
                            ({"name": ""}, "name"),
                            ({"name": "n" * 129}, "name"),
                            ({"name": "a\u0001"}, "name"),
                            ({"name": "a", "parentId": 7}, "parentId"),
                            ({"name": "a", "colour": 1}, "colour"),
                            ({"name": "a", "namespace": "bad ns"},
                             "namespace")):
            body.setdefault("namespace", "fd-a")
            st, js = self.api("POST", "/mock-folders", body)
            self.err(st, js, 400, "validation", field)
        st, js = self.api("POST", "/mock-folders",
                          {"name": "a", "parentId": "nope",
                           "namespace": "fd-a"})
        self.err(st, js, 404, "not_found", "parentId")
        for raw in ("[1]", "{", "null"):
            st, js = self.api("POST", "/mock-folders", raw=raw)
            self.err(st, js, 400, "validation")
        st, js = self.api("PUT", "/mock-folders/" + a["id"], {"name": ""})
        self.err(st, js, 400, "validation", "name")
        st, js = self.api("PUT", "/mock-folders/" + a["id"],
                          {"name": "x", "id": "other"})
        self.err(st, js, 400, "validation", "id")
        st, js = self.api("PATCH", "/mock-folders/%s/move" % a["id"], {})
        self.err(st, js, 400, "validation", "parentId")
        st, js = self.api("DELETE", "/mock-folders/%s?recursive=maybe"
                          % a["id"])
        self.err(st, js, 400, "validation")
        for method, path in (("PUT", "/mock-folders/nope"),
                             ("PATCH", "/mock-folders/nope/move"),
                             ("DELETE", "/mock-folders/nope")):
            st, js = self.api(method, path,
                              {"name": "x", "parentId": None}
                              if method == "PUT" else
                              ({"parentId": None} if method == "PATCH"
                               else None))
            self.err(st, js, 404, "not_found", "id")
        st, js = self.api("GET", "/mock-folders?namespace=fd-a")
        got = [f for f in js["folders"] if f["id"] == a["id"]]
        self.assertEqual((got[0]["name"], got[0]["parentId"]), ("bad", None))


class Persisted(unittest.TestCase):
    def test_folders_survive_kill_9(self):
        d = Doppel()
        data = d.data
        try:
            r = d.post("/api/v1/mock-folders", {"name": "kept",
                                                "namespace": "fp"})
            self.assertEqual(r.status, 201, r)
            top = r.json()
            r = d.post("/api/v1/mock-folders", {"name": "child",
                                                "parentId": top["id"],
                                                "namespace": "fp"})
            self.assertEqual(r.status, 201, r)
            d.kill9()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()
        with Doppel(data=data) as d2:
            r = d2.get("/api/v1/mock-folders?namespace=fp")
            self.assertEqual(r.status, 200, r)
            got = {f["name"]: f["parentId"] for f in r.json()["folders"]}
            self.assertEqual(got, {"kept": None, "child": top["id"]})
            d2.assert_clean_log()


if __name__ == "__main__":
    main()
