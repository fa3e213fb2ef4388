"""Endpoints the platforms' SDKs call under their own paths, against the
real binary: the unmatched list as /undefined-requests, stores written by
POST, mock counts and request stats (docs/admin-api.md, "Compatibility with
the platforms' SDKs"). Each sends what the SDKs send (fixtures/sdk/),
checks the shape read back, and checks the refusals: bad ids, other
namespaces, missing fields, a caller without the role."""

import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import fixture  # noqa: E402


class Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = {}
        for ns in ("cp-a", "cp-b"):
            st, js = cls.call("POST", "/namespaces", {"name": ns})
            assert st == 201, js
        for name, grants in (("cp-viewer", [("cp-a", "viewer")]),
                             ("cp-editor", [("cp-a", "editor")]),
                             ("cp-stranger", [])):
            st, js = cls.call("POST", "/users", {"name": name})
            assert st == 201, js
            for ns, role in grants:
                st, js = cls.call("PUT", "/namespaces/%s/members/%s"
                                  % (ns, name), {"role": role})
                assert st == 201, js
            st, js = cls.call("POST", "/users/%s/tokens" % name,
                              {"name": "t"})
            assert st == 201, js
            cls.tok[name.split("-")[1]] = js["secret"]

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    @classmethod
    def call(cls, method, path, body=None, token=ADMIN_TOKEN, raw=None):
        r = cls.d.request(method, "/api/v1" + path,
                          body=raw if raw is not None else body,
                          headers={"Authorization": "Bearer " + token})
        return r.status, (r.json() if r.body else None)

    def miss(self, ns, path=None, method="GET"):
        """A request no mock answers, in namespace ns; returns its path."""
        path = path or "/miss-" + uuid.uuid4().hex[:10]
        r = self.d.request(method, path, headers={"X-Namespace": ns},
                           auth=False)
        self.assertEqual(r.status, 404, r)
        return path

    def entry(self, ns, path, include_ignored=True):
        st, js = self.call("GET", "/undefined-requests?namespace=%s&limit=1000"
                           "&includeIgnored=%s"
                           % (ns, "true" if include_ignored else "false"))
        self.assertEqual(st, 200, js)
        found = [e for e in js["requests"] if e["path"] == path]
        return found[0] if found else None

    def err(self, st, js, status, code, field=None):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        if field is not None:
            self.assertEqual(js.get("field"), field, js)


class UndefinedRequests(Case):
    def test_list_shape_and_namespace_filter(self):
        pa = self.miss("cp-a")
        pb = self.miss("cp-b")
        st, js = self.call("GET", "/undefined-requests?namespace=cp-a")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["requests"], js["items"])
        paths = [e["path"] for e in js["requests"]]
        self.assertIn(pa, paths)
        self.assertNotIn(pb, paths)
        e = [e for e in js["requests"] if e["path"] == pa][0]
        self.assertRegex(e["id"], r"^[1-9][0-9]*$")
        self.assertIs(e["ignored"], False)
        self.assertEqual((e["method"], e["namespace"], e["protocol"]),
                         ("GET", "cp-a", "http"))
        for k in ("total", "offset", "limit", "hasMore"):
            self.assertIn(k, js)
        # the same entry, with the same id, on doppel's own path
        st, own = self.call("GET", "/unmatched?namespace=cp-a&limit=1000")
        self.assertIn(e["id"], [x["id"] for x in own["items"]])
        # a viewer of cp-a reads cp-a, not cp-b
        st, js = self.call("GET", "/undefined-requests?namespace=cp-a",
                           token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        st, js = self.call("GET", "/undefined-requests?namespace=cp-b",
                           token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.call("GET", "/undefined-requests?limit=0")
        self.err(st, js, 400, "validation", "limit")

    def test_ignore_hides_and_include_ignored_lists(self):
        p = self.miss("cp-a")
        e = self.entry("cp-a", p)
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % e["id"],
                           token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual((js["id"], js["ignored"]), (e["id"], True))
        self.assertIsNone(self.entry("cp-a", p, include_ignored=False))
        again = self.entry("cp-a", p, include_ignored=True)
        self.assertTrue(again["ignored"])
        # doppel's own list keeps every entry
        st, own = self.call("GET", "/unmatched?namespace=cp-a&limit=1000")
        self.assertIn(e["id"], [x["id"] for x in own["items"]])
        # and {"ignored": false} shows it again
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % e["id"],
                           {"ignored": False})
        self.assertEqual((st, js["ignored"]), (200, False))
        self.assertIsNotNone(self.entry("cp-a", p, include_ignored=False))

    def test_ignore_refusals(self):
        pa = self.miss("cp-a")
        pb = self.miss("cp-b")
        ea, eb = self.entry("cp-a", pa), self.entry("cp-b", pb)
        # a viewer may read but not write
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % ea["id"],
                           token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        # another namespace's entry is as absent as an unknown id
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % eb["id"],
                           token=self.tok["editor"])
        self.err(st, js, 404, "not_found", "id")
        st2, js2 = self.call("PATCH", "/undefined-requests/999999999/ignore",
                             token=self.tok["editor"])
        self.err(st2, js2, 404, "not_found", "id")
        self.assertEqual(js["error"].replace(eb["id"], "X"),
                         js2["error"].replace("999999999", "X"))
        for bad in ("abc", "0", "-1", "1e3", "%00", "9" * 40, "..%2F..%2Fx"):
            st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % bad)
            self.assertIn(st, (400, 404), (bad, js))
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % ea["id"],
                           {"ignored": "yes"})
        self.err(st, js, 400, "validation", "ignored")
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % ea["id"],
                           {"namespace": "cp-b"})
        self.err(st, js, 400, "validation", "namespace")
        st, js = self.call("PATCH", "/undefined-requests/%s/ignore" % ea["id"],
                           raw="{not json")
        self.err(st, js, 400, "validation")
        # nothing of that changed the entries
        self.assertFalse(self.entry("cp-a", pa)["ignored"])
        self.assertFalse(self.entry("cp-b", pb)["ignored"])
        # no token at all
        r = self.d.request("PATCH", "/api/v1/undefined-requests/%s/ignore"
                           % ea["id"], auth=False)
        self.assertEqual(r.status, 401, r)

    def test_create_mock_from_a_miss(self):
        p = self.miss("cp-a", method="POST")
        e = self.entry("cp-a", p)
        st, js = self.call("POST", "/undefined-requests/%s/create-mock"
                           % e["id"], fixture("undefined_create_mock.json"),
                           token=self.tok["editor"])
        self.assertEqual(st, 201, js)
        m = js["mock"]
        self.assertEqual(m["namespace"], "cp-a")
        self.assertEqual(m["http"]["route"], p)
        self.assertEqual(m["http"]["httpMethod"], "POST")
        self.assertEqual(m["response"]["statusCode"], 201)
        self.assertEqual(js["unmatchedId"], e["id"])
        # the same request is now answered by it
        r = self.d.request("POST", p, headers={"X-Namespace": "cp-a"},
                           auth=False)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json(), {"id": 42, "status": "created"})
        self.assertEqual(r.headers.get("x-made-from"), "unmatched")
        # a GET of that path is not
        r = self.d.request("GET", p, headers={"X-Namespace": "cp-a"},
                           auth=False)
        self.assertEqual(r.status, 404, r)

    def test_create_mock_default_response(self):
        # a path with route syntax in it is matched literally
        p = self.miss("cp-a", path="/lit/:id/" + uuid.uuid4().hex[:6])
        e = self.entry("cp-a", p)
        st, js = self.call("POST", "/undefined-requests/%s/create-mock"
                           % e["id"])
        self.assertEqual(st, 201, js)
        self.assertEqual(js["mock"]["response"]["statusCode"], 200)
        r = self.d.request("GET", p, headers={"X-Namespace": "cp-a"},
                           auth=False)
        self.assertEqual((r.status, r.json()), (200, {}), r)
        other = p.replace(":id", "7")
        r = self.d.request("GET", other, headers={"X-Namespace": "cp-a"},
                           auth=False)
        self.assertEqual(r.status, 404, r)

    def mocks_in(self, ns):
        st, js = self.call("GET", "/mocks?namespace=%s&includeClosed=true"
                           "&limit=1000" % ns)
        self.assertEqual(st, 200, js)
        return js["total"]

    def test_create_mock_refusals_leave_nothing(self):
        pa = self.miss("cp-a")
        pb = self.miss("cp-b")
        ea, eb = self.entry("cp-a", pa), self.entry("cp-b", pb)
        before = (self.mocks_in("cp-a"), self.mocks_in("cp-b"))
        path = "/undefined-requests/%s/create-mock"
        st, js = self.call("POST", path % ea["id"], token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.call("POST", path % eb["id"], token=self.tok["editor"])
        self.err(st, js, 404, "not_found", "id")
        st, js = self.call("POST", path % ea["id"], token=self.tok["stranger"])
        self.err(st, js, 404, "not_found", "id")
        st, js = self.call("POST", path % "12345678901234567890123")
        self.err(st, js, 404, "not_found", "id")
        st, js = self.call("POST", path % ea["id"], {"response": "ok"})
        self.err(st, js, 400, "validation", "response")
        st, js = self.call("POST", path % ea["id"],
                           {"response": {"statusCode": 99999}})
        self.err(st, js, 400, "validation")
        # the body cannot send the mock elsewhere or reuse an id
        st, js = self.call("POST", path % ea["id"], {"namespace": "cp-b"})
        self.err(st, js, 400, "validation", "namespace")
        st, js = self.call("POST", path % ea["id"], {"id": "taken"})
        self.err(st, js, 400, "validation", "id")
        st, js = self.call("POST", path % ea["id"], [1, 2])
        self.err(st, js, 400, "validation")
        # larger than any request body the front takes
        r = self.d.request("POST", "/api/v1" + path % ea["id"],
                           body={"response": {"payload": "x" * (9 << 20)}})
        self.assertEqual(r.status, 413, r.body[:200])
        self.assertEqual((self.mocks_in("cp-a"), self.mocks_in("cp-b")),
                         before)

    def test_clear_and_clear_all(self):
        pa = self.miss("cp-a")
        pb = self.miss("cp-b")
        # a viewer of cp-a sees entries it may not clear: nothing is cleared
        st, js = self.call("DELETE", "/undefined-requests/all",
                           token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        self.assertIsNotNone(self.entry("cp-a", pa))
        # a stranger sees nothing and so clears nothing
        st, js = self.call("DELETE", "/undefined-requests/all",
                           token=self.tok["stranger"])
        self.assertEqual((st, js["cleared"], js["namespaces"]), (200, 0, []))
        # an editor of cp-a clears cp-a only
        st, js = self.call("DELETE", "/undefined-requests/all",
                           token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["namespaces"], ["cp-a"])
        self.assertGreaterEqual(js["cleared"], 1)
        self.assertIsNone(self.entry("cp-a", pa))
        self.assertIsNotNone(self.entry("cp-b", pb))
        st, audit = self.call("GET", "/audit?namespace=cp-a")
        self.assertIn("unmatched.clear_all",
                      [r.get("action", r.get("op")) for r in audit["entries"]],
                      audit)
        # DELETE /undefined-requests names one namespace, as /unmatched does
        pa = self.miss("cp-a")
        st, js = self.call("DELETE", "/undefined-requests?namespace=cp-b",
                           token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        st, _ = self.call("DELETE", "/undefined-requests?namespace=cp-a",
                          token=self.tok["editor"])
        self.assertEqual(st, 204)
        self.assertIsNone(self.entry("cp-a", pa))
        self.assertIsNotNone(self.entry("cp-b", pb))
        # a system admin clears every namespace
        self.miss("cp-a")
        st, js = self.call("DELETE", "/undefined-requests/all")
        self.assertEqual(st, 200, js)
        self.assertEqual(sorted(js["namespaces"]), ["cp-a", "cp-b"])
        self.assertIsNone(self.entry("cp-b", pb))
        st, js = self.call("GET", "/undefined-requests/all")
        self.assertEqual(st, 405, js)


class Stores(Case):
    def test_post_global_and_chain(self):
        body = fixture("store_global_post.json")
        st, js = self.call("POST", "/namespaces", {"name": "sdk-stores"})
        self.assertEqual(st, 201, js)
        st, js = self.call("POST", "/stores/global", body)
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"namespace": "sdk-stores", "key": body["key"],
                              "value": body["value"]})
        st, js = self.call("GET", "/stores/global/sdk_counter"
                           "?namespace=sdk-stores")
        self.assertEqual((st, js), (200, body["value"]))
        body = fixture("store_chain_post.json")
        st, js = self.call("POST", "/stores/chain/chain-9", body)
        self.assertEqual(st, 200, js)
        self.assertEqual(js["chainId"], "chain-9")
        st, js = self.call("GET", "/stores/chain/chain-9/order_id"
                           "?namespace=sdk-stores")
        self.assertEqual((st, js), (200, "ord-77"))
        # no namespace: sandbox, as PUT /stores/global/KEY
        st, js = self.call("POST", "/stores/global", {"key": "k", "value": 1})
        self.assertEqual((st, js["namespace"]), (200, "sandbox"))
        # the PUT form keeps its meaning
        st, js = self.call("PUT", "/stores/global/k2?namespace=sdk-stores",
                           {"key": "not", "value": "read"})
        self.assertEqual(js, {"key": "not", "value": "read"})

    def test_post_refusals(self):
        for body, field in (({"value": 1}, "key"),
                            ({"key": "", "value": 1}, "key"),
                            ({"key": 5, "value": 1}, "key"),
                            ({"key": "a"}, "value"),
                            ({"key": "a", "value": 1, "extra": 2}, "extra"),
                            ({"key": "a", "value": 1, "namespace": "../x"},
                             "namespace")):
            st, js = self.call("POST", "/stores/global", body)
            self.err(st, js, 400, "validation", field)
        st, js = self.call("POST", "/stores/global", [1])
        self.err(st, js, 400, "validation")
        st, js = self.call("POST", "/stores/global", raw="{")
        self.err(st, js, 400, "validation")
        st, js = self.call("POST", "/stores/chain/" + "c" * 200,
                           {"key": "a", "value": 1})
        self.err(st, js, 400, "validation")
        # roles: a viewer of cp-a may not write there, an editor may not
        # write in cp-b
        st, js = self.call("POST", "/stores/global",
                           {"key": "a", "value": 1, "namespace": "cp-a"},
                           token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.call("POST", "/stores/chain/c1",
                           {"key": "a", "value": 1, "namespace": "cp-b"},
                           token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        st, js = self.call("GET", "/stores/chain/c1?namespace=cp-b")
        self.assertEqual((st, js), (200, {}))
        st, js = self.call("POST", "/stores/global",
                           {"key": "a", "value": 1, "namespace": "cp-a"},
                           token=self.tok["editor"])
        self.assertEqual(st, 200, js)


class CountsAndStats(Case):
    def mock(self, ns, proto_section):
        body = {"namespace": ns, "response": {"payload": {}}}
        body.update(proto_section)
        st, js = self.call("POST", "/mocks", body)
        self.assertEqual(st, 201, js)
        return js["mock"]["id"]

    def test_counts_and_stats(self):
        r1 = "/c-" + uuid.uuid4().hex[:8]
        self.mock("cp-a", {"http": {"route": r1}})
        gone = self.mock("cp-a", {"http": {"route": "/c-gone"}})
        self.mock("cp-a", {"mcp": {"method": "tools/call", "tool": "t"}})
        self.mock("cp-b", {"http": {"route": "/c-b"}})
        st, _ = self.call("DELETE", "/mocks/" + gone)
        self.assertEqual(st, 200)
        for _ in range(3):
            r = self.d.request("GET", r1, headers={"X-Namespace": "cp-a"},
                               auth=False)
            self.assertEqual(r.status, 200, r)
        self.miss("cp-a")
        self.miss("cp-a")

        st, js = self.call("GET", "/counts?namespace=cp-a")
        self.assertEqual(st, 200, js)
        self.assertEqual((js["total"], js["live"], js["closed"]), (3, 2, 1))
        self.assertEqual(js["byProtocol"], {"http": {"live": 1, "closed": 1},
                                            "mcp": {"live": 1, "closed": 0}})
        self.assertEqual(list(js["byNamespace"]), ["cp-a"])
        self.assertEqual(js["byNamespace"]["cp-a"]["live"], 2)

        st, js = self.call("GET", "/stats?namespace=cp-a")
        self.assertEqual(st, 200, js)
        a = js["namespaces"]["cp-a"]
        self.assertEqual((a["matched"], a["unmatched"], a["requests"]),
                         (3, 2, 5))
        self.assertEqual((js["matched"], js["unmatched"], js["requests"]),
                         (3, 2, 5))

        # without a namespace: every namespace the caller may read
        st, js = self.call("GET", "/counts", token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        self.assertEqual(list(js["byNamespace"]), ["cp-a"])
        st, js = self.call("GET", "/stats", token=self.tok["viewer"])
        self.assertEqual(list(js["namespaces"]), ["cp-a"])
        st, js = self.call("GET", "/counts", token=self.tok["stranger"])
        self.assertEqual((st, js["total"], js["byNamespace"]), (200, 0, {}))
        st, js = self.call("GET", "/counts")
        self.assertIn("cp-b", js["byNamespace"])
        # naming a namespace the caller may not read
        st, js = self.call("GET", "/stats?namespace=cp-b",
                           token=self.tok["viewer"])
        self.err(st, js, 403, "forbidden")
        st, js = self.call("GET", "/counts?namespace=a%20b")
        self.err(st, js, 400, "validation", "namespace")
        r = self.d.request("GET", "/api/v1/stats", auth=False)
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    main()
