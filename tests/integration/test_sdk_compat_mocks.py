"""Mock operations the platforms' SDKs call on many mocks at once, against
the real binary: POST /mocks/batch/restore, PATCH /mocks/batch/tags,
PATCH /mocks/batch/move, POST /mocks/copy-to-namespace, GET|DELETE
/mocks/chains/ID and GET|DELETE /mocks/ID/logs (docs/admin-api.md,
"Compatibility with the platforms' SDKs"). Every batch is all or nothing:
a refused or bad batch changes no mock."""

import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import fixture, make_tenants  # noqa: E402


class Mocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = make_tenants(cls.api, ("mv-a", "mv-b", "mv-c"), (
            ("mv-editor", [("mv-a", "editor"), ("mv-c", "viewer")]),
            ("mv-both", [("mv-a", "editor"), ("mv-b", "editor")]),
            ("mv-viewer", [("mv-a", "viewer")])))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    @classmethod
    def api(cls, method, path, body=None, token=ADMIN_TOKEN):
        r = cls.d.request(method, "/api/v1" + path, body=body,
                          headers={"Authorization": "Bearer " + token})
        return r.status, (r.json() if r.body else None)

    def mock(self, ns, tags=None, chain=None):
        route = "/m-" + uuid.uuid4().hex[:8]
        body = {"namespace": ns, "http": {"route": route},
                "response": {"payload": {"r": route}}}
        if tags is not None:
            body["tags"] = tags
        if chain is not None:
            body["chainId"] = chain
        st, js = self.api("POST", "/mocks", body)
        self.assertEqual(st, 201, js)
        return js["mock"]

    def get(self, mid):
        st, js = self.api("GET", "/mocks/" + mid)
        self.assertEqual(st, 200, js)
        return js

    def hit(self, ns, route):
        r = self.d.request("GET", route, headers={"X-Namespace": ns},
                           auth=False)
        return r.status

    def err(self, st, js, status, code, field=None):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        if field is not None:
            self.assertEqual(js.get("field"), field, js)

    def test_batch_restore(self):
        a, b = self.mock("mv-a"), self.mock("mv-a")
        st, js = self.api("DELETE", "/mocks/batch", {"ids": [a["id"], b["id"]]})
        self.assertEqual(st, 200, js)
        st, js = self.api("POST", "/mocks/batch/restore",
                          {"ids": [a["id"], b["id"]]},
                          token=self.tok["editor"])
        self.assertEqual((st, js), (200, {"restored": 2}))
        self.assertIsNone(self.get(a["id"])["closedAt"])
        self.assertEqual(self.hit("mv-a", a["http"]["route"]), 200)
        # all or nothing: one unknown id, nothing restored
        st, js = self.api("DELETE", "/mocks/" + a["id"])
        st, js = self.api("POST", "/mocks/batch/restore",
                          {"ids": [a["id"], "no-such-id"]})
        self.err(st, js, 404, "not_found", "id")
        self.assertIsNotNone(self.get(a["id"])["closedAt"])
        # a viewer may not
        st, js = self.api("POST", "/mocks/batch/restore", {"ids": [a["id"]]},
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        self.assertIsNotNone(self.get(a["id"])["closedAt"])

    def test_batch_tags(self):
        a = self.mock("mv-a", tags=["keep", "old"])
        b = self.mock("mv-a")
        body = fixture("mocks_batch_tags.json", ids=[a["id"], b["id"]])
        st, js = self.api("PATCH", "/mocks/batch/tags", body,
                          token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["updated"], 2)
        self.assertEqual([m["tags"] for m in js["mocks"]],
                         [["keep", "old", "smoke", "v2"], ["smoke", "v2"]])
        st, js = self.api("PATCH", "/mocks/batch/tags",
                          {"ids": [a["id"]], "tags": ["old", "v2"],
                           "mode": "remove"})
        self.assertEqual(js["mocks"][0]["tags"], ["keep", "smoke"])
        st, js = self.api("PATCH", "/mocks/batch/tags",
                          {"ids": [a["id"]], "tags": ["only"], "mode": "set"})
        self.assertEqual(self.get(a["id"])["tags"], ["only"])
        # counters and times carry over a tag change
        self.assertEqual(self.hit("mv-a", a["http"]["route"]), 200)
        before = self.get(a["id"])
        st, js = self.api("PATCH", "/mocks/batch/tags",
                          {"ids": [a["id"]], "tags": ["x"], "mode": "add"})
        after = self.get(a["id"])
        self.assertEqual((after["useCounter"], after["createdAt"]),
                         (before["useCounter"], before["createdAt"]))
        for body, field in (({"ids": [a["id"]], "tags": "x"}, "tags"),
                            ({"ids": [a["id"]], "tags": [""]}, "tags[0]"),
                            ({"ids": [a["id"]], "tags": [1]}, "tags[0]"),
                            ({"ids": [a["id"]], "tags": ["x"], "mode": "drop"},
                             "mode"),
                            ({"ids": [], "tags": ["x"]}, "ids"),
                            ({"ids": [7], "tags": ["x"]}, "ids[0]"),
                            ({"ids": ["x"] * 1001, "tags": ["x"]}, "ids"),
                            ({"tags": ["x"]}, "ids"),
                            ({"ids": [a["id"]], "tags": [], "x": 1}, "x")):
            st, js = self.api("PATCH", "/mocks/batch/tags", body)
            self.err(st, js, 400, "validation", field)
        self.assertEqual(self.get(a["id"])["tags"], ["only", "x"])
        # another namespace's mock in the batch: 404, nothing changed
        c = self.mock("mv-b", tags=["b"])
        st, js = self.api("PATCH", "/mocks/batch/tags",
                          {"ids": [a["id"], c["id"]], "tags": ["z"]},
                          token=self.tok["editor"])
        self.err(st, js, 404, "not_found", "id")
        self.assertEqual(self.get(a["id"])["tags"], ["only", "x"])
        # a mock the caller sees but may not write: 403, nothing changed
        d = self.mock("mv-c")
        st, js = self.api("PATCH", "/mocks/batch/tags",
                          {"ids": [a["id"], d["id"]], "tags": ["z"]},
                          token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        self.assertEqual(self.get(a["id"])["tags"], ["only", "x"])

    def test_batch_move(self):
        a, b = self.mock("mv-a"), self.mock("mv-a")
        body = fixture("mocks_batch_move.json", ids=[a["id"], b["id"]])
        # editor in the source only: refused, nothing moved
        st, js = self.api("PATCH", "/mocks/batch/move", body,
                          token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        self.assertEqual(self.get(a["id"])["namespace"], "mv-a")
        st, js = self.api("PATCH", "/mocks/batch/move", body,
                          token=self.tok["both"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["moved"], 2)
        self.assertEqual({m["namespace"] for m in js["mocks"]}, {"mv-b"})
        self.assertEqual([m["id"] for m in js["mocks"]], [a["id"], b["id"]])
        self.assertEqual(self.hit("mv-b", a["http"]["route"]), 200)
        self.assertEqual(self.hit("mv-a", a["http"]["route"]), 404)
        st, audit = self.api("GET", "/audit?namespace=mv-b")
        self.assertIn("mocks.batch_move",
                      [r.get("action", r.get("op")) for r in audit["entries"]])
        for bad in ({"ids": [a["id"]], "namespace": "../x"},
                    {"ids": [a["id"]]}, {"ids": [a["id"]], "namespace": 3}):
            st, js = self.api("PATCH", "/mocks/batch/move", bad)
            self.err(st, js, 400, "validation", "namespace")
        st, js = self.api("PATCH", "/mocks/batch/move",
                          {"ids": [a["id"], a["id"]], "namespace": "mv-c"})
        self.err(st, js, 400, "validation")
        self.assertEqual(self.get(a["id"])["namespace"], "mv-b")

    def test_copy_to_namespace(self):
        a = self.mock("mv-a", tags=["t"], chain="ch-copy")
        self.assertEqual(self.hit("mv-a", a["http"]["route"]), 200)
        body = fixture("mocks_copy_to_namespace.json", ids=[a["id"]])
        st, js = self.api("POST", "/mocks/copy-to-namespace", body,
                          token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("POST", "/mocks/copy-to-namespace", body,
                          token=self.tok["both"])
        self.assertEqual(st, 201, js)
        self.assertEqual((js["copied"], js["namespace"]), (1, "mv-b"))
        cp = js["mocks"][0]
        self.assertNotEqual(cp["id"], a["id"])
        self.assertEqual((cp["namespace"], cp["tags"], cp["chainId"],
                          cp["useCounter"]), ("mv-b", ["t"], "ch-copy", 0))
        self.assertEqual(cp["http"], a["http"])
        self.assertEqual(self.get(a["id"])["namespace"], "mv-a")
        self.assertEqual(self.hit("mv-b", a["http"]["route"]), 200)
        # a viewer of the source may copy it where it is editor
        st, js = self.api("POST", "/mocks/copy-to-namespace",
                          {"ids": [self.mock("mv-c")["id"]],
                           "namespace": "mv-a"}, token=self.tok["editor"])
        self.assertEqual(st, 201, js)
        st, js = self.api("POST", "/mocks/copy-to-namespace",
                          {"ids": [a["id"], "nope"], "namespace": "mv-b"})
        self.err(st, js, 404, "not_found", "id")
        st, js = self.api("POST", "/mocks", {"id": "copy-to-namespace",
                                             "http": {"route": "/r"}})
        self.err(st, js, 400, "validation", "id")

    def test_chains(self):
        ch = "ch-" + uuid.uuid4().hex[:6]
        a, b = self.mock("mv-a", chain=ch), self.mock("mv-a", chain=ch)
        other = self.mock("mv-b", chain=ch)
        self.mock("mv-a", chain="other-chain")
        st, js = self.api("GET", "/mocks/chains/%s?namespace=mv-a" % ch,
                          token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["chainId"], ch)
        self.assertEqual(sorted(m["id"] for m in js["mocks"]),
                         sorted([a["id"], b["id"]]))
        self.assertEqual(js["mocks"], js["items"])
        self.assertEqual(js["total"], 2)
        st, js = self.api("GET", "/mocks/chains/" + ch)
        self.assertEqual(js["total"], 3)
        st, js = self.api("GET", "/mocks/chains/" + ch,
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("DELETE", "/mocks/chains/%s?namespace=mv-a" % ch,
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("DELETE", "/mocks/chains/%s?namespace=mv-a" % ch,
                          token=self.tok["editor"])
        self.assertEqual((st, js), (200, {"chainId": ch, "closed": 2}))
        self.assertIsNotNone(self.get(a["id"])["closedAt"])
        self.assertIsNone(self.get(other["id"])["closedAt"])
        st, js = self.api("GET", "/mocks/chains/%s?namespace=mv-a" % ch)
        self.assertEqual(js["total"], 0)
        st, js = self.api("GET", "/mocks/chains/%s?namespace=mv-a"
                          "&includeClosed=true" % ch)
        self.assertEqual(js["total"], 2)
        st, js = self.api("GET", "/mocks/chains/none-such?namespace=mv-a")
        self.assertEqual((st, js["total"]), (200, 0))
        st, js = self.api("POST", "/mocks/chains/" + ch)
        self.assertEqual(st, 405, js)

    def test_mock_logs(self):
        a, b = self.mock("mv-a"), self.mock("mv-a")
        for _ in range(3):
            self.assertEqual(self.hit("mv-a", a["http"]["route"]), 200)
        self.assertEqual(self.hit("mv-a", b["http"]["route"]), 200)
        st, js = self.api("GET", "/mocks/%s/logs" % a["id"],
                          token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual((js["mockId"], js["total"]), (a["id"], 3))
        self.assertEqual(js["logs"], js["items"])
        self.assertTrue(all(e["mockId"] == a["id"] for e in js["logs"]))
        self.assertEqual(js["logs"][0]["path"], a["http"]["route"])
        st, js = self.api("GET", "/mocks/%s/logs?limit=1" % a["id"])
        self.assertEqual((len(js["logs"]), js["hasMore"]), (1, True))
        st, js = self.api("DELETE", "/mocks/%s/logs" % a["id"],
                          token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.api("DELETE", "/mocks/%s/logs" % a["id"],
                          token=self.tok["editor"])
        self.assertEqual((st, js), (200, {"mockId": a["id"], "removed": 3}))
        st, js = self.api("GET", "/mocks/%s/logs" % a["id"])
        self.assertEqual(js["total"], 0)
        st, js = self.api("GET", "/mocks/%s/logs" % b["id"])
        self.assertEqual(js["total"], 1)
        # the journal keeps b's entry, in order
        st, js = self.api("GET", "/requests?namespace=mv-a&limit=1000")
        self.assertIn(b["id"], [e.get("mockId") for e in js["items"]])
        self.assertNotIn(a["id"], [e.get("mockId") for e in js["items"]])
        # another namespace's mock is as absent as an unknown one
        c = self.mock("mv-b")
        st, js = self.api("GET", "/mocks/%s/logs" % c["id"],
                          token=self.tok["editor"])
        self.err(st, js, 404, "not_found", "id")
        st, js = self.api("GET", "/mocks/nope/logs")
        self.err(st, js, 404, "not_found", "id")
        st, js = self.api("GET", "/mocks/%s/logs?limit=5000" % b["id"])
        self.err(st, js, 400, "validation", "limit")


class CopyMocks(unittest.TestCase):
    """POST /namespaces/copy-mocks {from, to}, on a server of its own so
    that the namespaces hold only what the test puts there."""

    def test_copy_mocks(self):
        with Doppel() as d:
            def api(method, path, body=None, token=ADMIN_TOKEN):
                r = d.request(method, "/api/v1" + path, body=body,
                              headers={"Authorization": "Bearer " + token})
                return r.status, (r.json() if r.body else None)
            for ns in ("mv-a", "mv-b", "copy-mocks"):
                st, js = api("POST", "/namespaces", {"name": ns})
                self.assertEqual(st, 201, js)
            st, js = api("POST", "/users", {"name": "cm-editor"})
            st, js = api("PUT", "/namespaces/mv-b/members/cm-editor",
                         {"role": "editor"})
            st, js = api("POST", "/users/cm-editor/tokens", {"name": "t"})
            tok = js["secret"]
            ids = []
            for i in range(3):
                st, js = api("POST", "/mocks", {
                    "namespace": "mv-a", "http": {"route": "/cm-%d" % i},
                    "response": {"payload": {"i": i}}})
                ids.append(js["mock"]["id"])
            st, js = api("DELETE", "/mocks/" + ids[2])  # closed: not copied
            body = fixture("namespaces_copy_mocks.json")
            # editor in the target but no role in the source
            st, js = api("POST", "/namespaces/copy-mocks", body, token=tok)
            self.assertEqual(st, 403, js)
            st, js = api("GET", "/mocks?namespace=mv-b")
            self.assertEqual(js["total"], 0)
            st, js = api("POST", "/namespaces/copy-mocks", body)
            self.assertEqual(st, 201, js)
            self.assertEqual((js["copied"], js["from"], js["to"]),
                             (2, "mv-a", "mv-b"))
            self.assertTrue(all(m["namespace"] == "mv-b" and
                                m["id"] not in ids for m in js["mocks"]))
            r = d.request("GET", "/cm-1", headers={"X-Namespace": "mv-b"},
                          auth=False)
            self.assertEqual((r.status, r.json()), (200, {"i": 1}))
            st, audit = api("GET", "/audit?namespace=mv-b")
            self.assertIn("namespaces.copy_mocks",
                          [e.get("action", e.get("op"))
                           for e in audit["entries"]])
            for bad, field in (({"from": "mv-a"}, "to"),
                               ({"to": "mv-b"}, "from"),
                               ({"from": "mv-a", "to": "mv-a"}, "to"),
                               ({"from": "../x", "to": "mv-b"}, "from"),
                               ({"from": "mv-a", "to": "mv-b", "x": 1}, "x")):
                st, js = api("POST", "/namespaces/copy-mocks", bad)
                self.assertEqual((st, js.get("field")), (400, field), js)
            st, js = api("POST", "/namespaces/copy-mocks", [1])
            self.assertEqual(st, 400, js)
            r = d.request("POST", "/api/v1/namespaces/copy-mocks", body=body,
                          auth=False)
            self.assertEqual(r.status, 401, r)
            # a namespace named copy-mocks is still the auth API's
            st, js = api("GET", "/namespaces/copy-mocks")
            self.assertEqual((st, js["name"]), (200, "copy-mocks"))
            st, js = api("GET", "/mocks?namespace=mv-b")
            self.assertEqual(js["total"], 2)


if __name__ == "__main__":
    main()
