"""Namespace members under the platforms' SDK paths
(/namespaces/NS/users, .../users/ID, .../users/ID/role) beside doppel's
/members, and GET /runners/labels, against the real binary
(docs/admin-api.md, "Compatibility with the platforms' SDKs"): the shapes
read back and the refusals (no role, another namespace, bad input)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_TOKEN, Doppel, main  # noqa: E402
from sdk_fixtures import fixture, make_tenants  # noqa: E402


class Members(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()
        cls.tok = make_tenants(cls.api, ("mb-a", "mb-b"),
                               (("mb-admin", [("mb-a", "admin")]),
                                ("mb-editor", [("mb-a", "editor")]),
                                ("mb-other", [("mb-b", "admin")]),
                                ("mb-new", [])))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    @classmethod
    def api(cls, method, path, body=None, token=ADMIN_TOKEN, raw=None):
        r = cls.d.request(method, "/api/v1" + path,
                          body=raw if raw is not None else body,
                          headers={"Authorization": "Bearer " + token})
        return r.status, (r.json() if r.body else None)

    def err(self, st, js, status, code, field=None):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        if field:
            self.assertEqual(js.get("field"), field, js)

    def role_of(self, ns, user):
        st, js = self.api("GET", "/namespaces/%s/members" % ns)
        self.assertEqual(st, 200, js)
        roles = {m["user"]: m["role"] for m in js["members"]}
        return roles.get(user)

    def test_list_under_users(self):
        st, js = self.api("GET", "/namespaces/mb-a/users",
                          token=self.tok["editor"])
        self.assertEqual(st, 200, js)
        st2, own = self.api("GET", "/namespaces/mb-a/members")
        self.assertEqual(js["users"], own["members"])
        self.assertEqual(js["members"], own["members"])
        self.assertEqual(js["namespace"], "mb-a")
        self.assertEqual({m["user"] for m in js["users"]},
                         {"mb-admin", "mb-editor"})
        for m in js["users"]:
            self.assertEqual(set(m), {"namespace", "userId", "user", "role"})
        st, js = self.api("GET", "/namespaces/mb-b/users",
                          token=self.tok["editor"])
        self.assertIn(st, (403, 404), js)
        st, js = self.api("POST", "/namespaces/mb-a/users")
        self.assertEqual(st, 405, js)

    def test_put_role_and_delete(self):
        body = fixture("member_role.json")
        # a namespace admin adds a user, changes its role, removes it
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-new", body,
                          token=self.tok["admin"])
        self.assertEqual(st, 201, js)
        self.assertEqual((js["user"], js["role"]), ("mb-new", "editor"))
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-new/role",
                          {"role": "viewer"}, token=self.tok["admin"])
        self.assertEqual(st, 200, js)
        self.assertEqual(js["role"], "viewer")
        self.assertEqual(self.role_of("mb-a", "mb-new"), "viewer")
        st, js = self.api("GET", "/namespaces/mb-a/users/mb-new")
        self.assertEqual((st, js["role"]), (200, "viewer"))
        st, js = self.api("DELETE", "/namespaces/mb-a/users/mb-new",
                          token=self.tok["admin"])
        self.assertEqual(st, 204, js)
        self.assertIsNone(self.role_of("mb-a", "mb-new"))
        # the role path on someone who is not a member adds them, as PUT
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-new/role",
                          {"role": "viewer"})
        self.assertEqual(st, 201, js)
        st, _ = self.api("DELETE", "/namespaces/mb-a/members/mb-new")
        self.assertEqual(st, 204)
        st, audit = self.api("GET", "/audit?namespace=mb-a")
        actions = [r.get("action", r.get("op")) for r in audit["entries"]]
        self.assertIn("members.put", actions)
        self.assertIn("members.delete", actions)

    def test_refusals(self):
        # an editor is not a namespace admin
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-new/role",
                          {"role": "admin"}, token=self.tok["editor"])
        self.err(st, js, 403, "forbidden")
        # an admin of mb-b cannot act in mb-a
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-other",
                          {"role": "admin"}, token=self.tok["other"])
        self.assertIn(st, (403, 404), js)
        st, js = self.api("DELETE", "/namespaces/mb-a/users/mb-editor",
                          token=self.tok["other"])
        self.assertIn(st, (403, 404), js)
        self.assertEqual(self.role_of("mb-a", "mb-editor"), "editor")
        self.assertIsNone(self.role_of("mb-a", "mb-other"))
        for body, field in (({"role": "owner"}, "role"), ({}, "role"),
                            ({"role": "viewer", "x": 1}, None),
                            ({"role": 3}, "role")):
            st, js = self.api("PUT", "/namespaces/mb-a/users/mb-editor/role",
                              body)
            self.err(st, js, 400, "validation", field)
        st, js = self.api("PUT", "/namespaces/mb-a/users/mb-editor/role",
                          raw="{")
        self.err(st, js, 400, "validation")
        self.assertEqual(self.role_of("mb-a", "mb-editor"), "editor")
        st, js = self.api("PUT", "/namespaces/mb-a/users/nobody/role",
                          {"role": "viewer"})
        self.err(st, js, 404, "not_found")
        st, js = self.api("PUT", "/namespaces/no-such/users/mb-new/role",
                          {"role": "viewer"})
        self.assertEqual(st, 404, js)
        st, js = self.api("GET", "/namespaces/mb-a/users/mb-new/role")
        self.assertEqual(st, 405, js)
        r = self.d.request("PUT", "/api/v1/namespaces/mb-a/users/mb-new/role",
                           body={"role": "viewer"}, auth=False)
        self.assertEqual(r.status, 401, r)


class RunnerLabels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        r = self.d.request(method, "/api/v1" + path, body=body,
                           headers={"Authorization": "Bearer " + token})
        return r.status, (r.json() if r.body else None)

    def test_labels(self):
        st, js = self.api("GET", "/runners/labels")
        self.assertEqual((st, js), (200, {"labels": [], "runners": 0}))
        for ns in ("rl-a", "rl-b"):
            st, js = self.api("POST", "/namespaces", {"name": ns})
            self.assertEqual(st, 201, js)
        body = dict(fixture("integration_runner.json"), namespace="rl-a")
        st, js = self.api("POST", "/integrations", body)
        self.assertEqual(st, 201, js)
        st, js = self.api("POST", "/integrations",
                          {"name": "r2", "type": "test_runner",
                           "namespace": "rl-b", "labels": ["gpu", "arm"]})
        self.assertEqual(st, 201, js)
        st, js = self.api("POST", "/integrations",
                          {"name": "r3", "type": "test_runner",
                           "namespace": "rl-b", "labels": ["revoked-only"]})
        self.assertEqual(st, 201, js)
        st, _ = self.api("POST", "/integrations/%s/revoke"
                         % js["integration"]["id"])
        self.assertEqual(st, 200)
        # labels of other integration types do not count
        st, js = self.api("POST", "/integrations",
                          {"name": "res", "type": "mock_resolver",
                           "namespace": "rl-a", "labels": ["resolver"]})
        self.assertEqual(st, 201, js)
        st, js = self.api("GET", "/runners/labels")
        self.assertEqual((st, js), (200, {"labels": ["arm", "eu", "gpu"],
                                          "runners": 2}))
        # a namespace admin of rl-a sees rl-a's runners only
        st, js = self.api("POST", "/users", {"name": "rl-admin"})
        self.assertEqual(st, 201, js)
        st, js = self.api("PUT", "/namespaces/rl-a/members/rl-admin",
                          {"role": "admin"})
        self.assertEqual(st, 201, js)
        st, js = self.api("POST", "/users/rl-admin/tokens", {"name": "t"})
        tok = js["secret"]
        st, js = self.api("GET", "/runners/labels", token=tok)
        self.assertEqual((st, js), (200, {"labels": ["eu", "gpu"],
                                          "runners": 1}))
        # a plain user sees none
        st, js = self.api("POST", "/users", {"name": "rl-plain"})
        st, js = self.api("POST", "/users/rl-plain/tokens", {"name": "t"})
        st, js = self.api("GET", "/runners/labels", token=js["secret"])
        self.assertEqual((st, js), (200, {"labels": [], "runners": 0}))
        r = self.d.request("GET", "/api/v1/runners/labels", auth=False)
        self.assertEqual(r.status, 401, r)
        st, js = self.api("POST", "/runners/labels")
        self.assertEqual(st, 405, js)
        st, js = self.api("GET", "/runners")
        self.assertEqual(st, 404, js)


if __name__ == "__main__":
    main()
