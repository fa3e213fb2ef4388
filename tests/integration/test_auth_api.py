"""Tokens, namespaces and roles against the real binary.

Needs host/auth wired into doppel (see the wiring notes in host/auth/auth.h
and docs/security.md): the admin API checks every call with
dp_auth_admin_check, the auth routes are mounted, DOPPEL_ADMIN_TOKEN is
registered at start, and `--no-auth` is local mode.

Every class starts its own server, so the failed-authentication limiter
(10 failures per address per minute) of one test never blocks another.
"""

import base64
import http.client
import json
import os
import stat
import tempfile
import time
import unittest
import uuid

from harness import Doppel, main, run_doppel

ADMIN = "mk_" + "IntegrationAdminToken0123456789abcdefghijklm"
ENV = {"DOPPEL_ADMIN_TOKEN": ADMIN}


def bearer(token):
    return {"Authorization": "Bearer " + token} if token else {}


def call(d, method, path, token=None, body=None, source=None, headers=None):
    """One request; source binds the client socket (another client address)."""
    h = dict(bearer(token))
    h.update(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    kw = {"timeout": 10}
    if source:
        kw["source_address"] = (source, 0)
    c = http.client.HTTPConnection(d.host, d.port, **kw)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            js = json.loads(raw.decode()) if raw else None
        except ValueError:
            js = None
        return r.status, {k.lower(): v for k, v in r.getheaders()}, js
    finally:
        c.close()


class AuthCase(unittest.TestCase):
    env = ENV

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(env=cls.env)
        st, _, js = call(cls.d, "GET", "/api/v1/whoami", ADMIN)
        if st != 200:
            cls.d.stop()
            raise AssertionError(
                "the auth routes do not answer (GET /api/v1/whoami -> %s %r):"
                " host/auth is not wired into the binary" % (st, js))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def ok(self, st, js, *expected):
        self.assertIn(st, expected, js)

    def err(self, st, js, status, code):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        self.assertTrue(js["error"])

    # helpers ------------------------------------------------------------
    def namespace(self, name, **kw):
        body = {"name": name}
        body.update(kw)
        st, _, js = call(self.d, "POST", "/api/v1/namespaces", ADMIN, body)
        self.ok(st, js, 201)

    def user(self, name, ns=None, role=None):
        st, _, js = call(self.d, "POST", "/api/v1/users", ADMIN,
                         {"name": name})
        self.ok(st, js, 201)
        if role:
            st, _, js = call(self.d, "PUT", "/api/v1/namespaces/%s/members/%s"
                             % (ns, name), ADMIN, {"role": role})
            self.ok(st, js, 201)
        st, _, js = call(self.d, "POST", "/api/v1/users/%s/tokens" % name,
                         ADMIN, {"name": "t-" + name})
        self.ok(st, js, 201)
        self.assertTrue(js["secret"].startswith("mk_"))
        return js["secret"], js["token"]["id"]


class RoleMatrix(AuthCase):
    """Each role x each kind of operation x own/other namespace."""

    ROLES = ("viewer", "editor", "admin", "stranger", "system")
    LEVEL = {"stranger": 0, "viewer": 1, "editor": 2, "admin": 3}

    def op_read_mocks(self, tok, ns):
        return call(self.d, "GET", "/api/v1/mocks?namespace=" + ns, tok)

    def op_create_mock(self, tok, ns):
        return call(self.d, "POST", "/api/v1/mocks", tok,
                    {"namespace": ns,
                     "http": {"route": "/m-" + uuid.uuid4().hex[:8]},
                     "response": {"payload": {"ok": True}}})

    def op_set_store(self, tok, ns):
        return call(self.d, "PUT", "/api/v1/stores/global/k?namespace=" + ns,
                    tok, {"v": 1})

    def op_reset(self, tok, ns):
        return call(self.d, "POST", "/api/v1/reset", tok, {"namespace": ns})

    def op_add_member(self, tok, ns):
        return call(self.d, "PUT", "/api/v1/namespaces/%s/members/target" % ns,
                    tok, {"role": "viewer"})

    def op_create_token(self, tok, ns):
        # A token in another user's name: only a system admin mints one, or
        # a namespace admin could act as any member it adds.
        return call(self.d, "POST", "/api/v1/tokens", tok,
                    {"name": "for-target", "user": "target", "namespace": ns})

    def op_create_own_token(self, tok, ns):
        return call(self.d, "POST", "/api/v1/tokens", tok,
                    {"name": "own", "namespace": ns})

    def op_create_namespace(self, tok, ns):
        return call(self.d, "POST", "/api/v1/namespaces", tok,
                    {"name": "new-" + uuid.uuid4().hex[:8]})

    # operation -> level needed in the namespace (4: system admin)
    OPS = (("op_read_mocks", 1), ("op_create_mock", 2), ("op_set_store", 2),
           ("op_reset", 2), ("op_add_member", 3), ("op_create_token", 4),
           ("op_create_own_token", 1), ("op_create_namespace", 4))

    def test_matrix(self):
        self.namespace("ns-a")
        self.namespace("ns-b")
        tokens = {"system": ADMIN}
        for role in ("viewer", "editor", "admin"):
            tokens[role], _ = self.user("u-" + role, "ns-a", role)
        tokens["stranger"], _ = self.user("u-stranger")
        self.user("target")
        checked = 0
        for role in self.ROLES:
            for op, need in self.OPS:
                for ns in ("ns-a", "ns-b"):
                    st, _, js = getattr(self, op)(tokens[role], ns)
                    if role == "system":
                        allowed = True
                    else:
                        allowed = (ns == "ns-a" and need <= 3 and
                                   self.LEVEL[role] >= need)
                    what = "%s %s in %s" % (role, op, ns)
                    if allowed:
                        self.assertTrue(200 <= st < 300, (what, st, js))
                    else:
                        self.assertEqual(st, 403, (what, js))
                        self.assertEqual(js["code"], "forbidden", (what, js))
                    checked += 1
        self.assertEqual(checked, 5 * len(self.OPS) * 2)
        # The one token minted for "target" names its minter in the audit.
        st, _, who = call(self.d, "GET", "/api/v1/whoami", ADMIN)
        self.ok(st, who, 200)
        for ns in ("ns-a", "ns-b"):
            st, _, js = call(self.d, "GET", "/api/v1/audit?namespace=" + ns,
                             ADMIN)
            self.ok(st, js, 200)
            rows = [e for e in js["entries"] if e["action"] ==
                    "tokens.create" and e["detail"] == "for user target"]
            self.assertEqual(len(rows), 1, js["entries"])
            self.assertEqual(rows[0]["actor"], who["user"]["name"], rows)
            self.assertEqual(rows[0]["actorId"], who["token"]["id"], rows)

    def test_token_for_a_member_by_path(self):
        """POST /users/{user}/tokens follows the rule of POST /tokens."""
        self.namespace("mint-a")
        adm, _ = self.user("mint-admin", "mint-a", "admin")
        self.user("mint-member", "mint-a", "viewer")
        st, _, js = call(self.d, "POST", "/api/v1/users/mint-member/tokens",
                         adm, {"name": "as-member", "namespace": "mint-a"})
        self.err(st, js, 403, "forbidden")
        st2, _, js2 = call(self.d, "POST", "/api/v1/users/mint-nobody/tokens",
                           adm, {"name": "as-member", "namespace": "mint-a"})
        self.err(st2, js2, 403, "forbidden")
        self.assertEqual(js["error"].replace("mint-member", "<>"),
                         js2["error"].replace("mint-nobody", "<>"))
        st, _, js = call(self.d, "POST", "/api/v1/users/mint-admin/tokens",
                         adm, {"name": "mine", "namespace": "mint-a"})
        self.ok(st, js, 201)

    def test_missing_and_bad_token(self):
        for path in ("/api/v1/mocks", "/api/v1/whoami", "/api/v1/tokens",
                     "/api/v1/no-such-endpoint"):
            st, _, js = call(self.d, "GET", path)
            self.err(st, js, 401, "unauthorized")
        st, _, js = call(self.d, "GET", "/api/v1/mocks", "mk_" + "x" * 43)
        self.err(st, js, 401, "unauthorized")
        st, _, js = call(self.d, "GET", "/api/v1/mocks", None,
                         headers={"Authorization": "Basic YTpi"})
        self.err(st, js, 401, "unauthorized")
        # X-API-Key is the other way to send a token.
        st, _, js = call(self.d, "GET", "/api/v1/mocks", None,
                         headers={"X-API-Key": ADMIN})
        self.ok(st, js, 200)

    def test_pinned_token(self):
        self.namespace("pin-a")
        self.namespace("pin-b")
        st, _, js = call(self.d, "POST", "/api/v1/tokens", ADMIN,
                         {"name": "pinned", "namespace": "pin-a"})
        self.ok(st, js, 201)
        pinned = js["secret"]
        st, _, js = self.op_create_mock(pinned, "pin-a")
        self.ok(st, js, 201)
        st, _, js = self.op_create_mock(pinned, "pin-b")
        self.err(st, js, 403, "forbidden")
        st, _, js = self.op_create_namespace(pinned, "pin-a")
        self.err(st, js, 403, "forbidden")
        st, _, js = call(self.d, "GET", "/api/v1/mocks", pinned)
        self.err(st, js, 403, "forbidden")  # every namespace: not pinned
        st, _, js = call(self.d, "POST", "/api/v1/tokens", pinned,
                         {"name": "escape"})
        self.ok(st, js, 201)
        self.assertEqual(js["token"]["namespace"], "pin-a")


def mock_body(ns=None, mid=None, tag="x"):
    m = {"http": {"route": "/t-" + uuid.uuid4().hex[:8]},
         "response": {"payload": {"tag": tag}}}
    if ns is not None:
        m["namespace"] = ns
    if mid is not None:
        m["id"] = mid
    return m


def shape(js, *words):
    """An error answer without what differs between two equal refusals
    (the request id, and the given names and ids): what a client can
    compare."""
    msg = js["error"]
    field = js.get("field")
    for w in words:
        msg = msg.replace(w, "<>")
        if field:
            field = field.replace(w, "<>")
    return js["code"], field, msg


class TenancyMatrix(AuthCase):
    """Writes that reach a second namespace: moving a mock (PATCH
    namespace), reusing an id that lives elsewhere (POST /mocks and
    /mocks/batch) and closing several mocks at once (DELETE /mocks/batch).
    Each role of t-a, a stranger, an editor of both t-a and t-b, and a
    system admin."""

    ROLES = ("viewer", "editor", "admin", "stranger", "both", "system")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tok = {"system": ADMIN}
        for ns in ("t-a", "t-b"):
            st, _, js = call(cls.d, "POST", "/api/v1/namespaces", ADMIN,
                             {"name": ns})
            assert st == 201, js
        for role in ("viewer", "editor", "admin", "stranger", "both"):
            name = "tm-" + role
            st, _, js = call(cls.d, "POST", "/api/v1/users", ADMIN,
                             {"name": name})
            assert st == 201, js
            grants = {"viewer": [("t-a", "viewer")],
                      "editor": [("t-a", "editor")],
                      "admin": [("t-a", "admin")], "stranger": [],
                      "both": [("t-a", "editor"), ("t-b", "editor")]}[role]
            for ns, r in grants:
                st, _, js = call(cls.d, "PUT", "/api/v1/namespaces/%s/members/%s"
                                 % (ns, name), ADMIN, {"role": r})
                assert st == 201, js
            st, _, js = call(cls.d, "POST", "/api/v1/users/%s/tokens" % name,
                             ADMIN, {"name": "t"})
            assert st == 201, js
            cls.tok[role] = js["secret"]

    def make(self, ns, mid, tag="orig"):
        st, _, js = call(self.d, "POST", "/api/v1/mocks", ADMIN,
                         mock_body(ns, mid, tag))
        self.ok(st, js, 201)
        return js["mock"]

    def stored(self, mid):
        st, _, js = call(self.d, "GET", "/api/v1/mocks/" + mid, ADMIN)
        self.ok(st, js, 200)
        return js

    def logged(self, ns, action, needle):
        """Whether ns's audit log has an action row whose target or detail
        holds needle."""
        st, _, js = call(self.d, "GET", "/api/v1/audit?limit=1000&namespace="
                         + ns, ADMIN)
        self.ok(st, js, 200)
        return any(e["action"] == action and
                   needle in (e["target"] or "") + " " + (e["detail"] or "")
                   for e in js["entries"])

    def test_move_needs_write_in_both(self):
        for role in self.ROLES:
            mid = "mv-" + role
            self.make("t-a", mid)
            st, _, js = call(self.d, "PATCH", "/api/v1/mocks/" + mid,
                             self.tok[role], {"namespace": "t-b"})
            if role in ("both", "system"):
                self.ok(st, js, 200)
                self.assertEqual(js["namespace"], "t-b")
                self.assertEqual(self.stored(mid)["namespace"], "t-b")
                # Both namespaces' audit logs hear of it.
                for ns in ("t-a", "t-b"):
                    self.assertTrue(self.logged(ns, "mocks.patch", mid),
                                    (role, ns))
                continue
            if role == "stranger":
                # It cannot read t-a: the mock does not exist for it.
                self.err(st, js, 404, "not_found")
            else:
                self.err(st, js, 403, "forbidden")
            self.assertEqual(self.stored(mid)["namespace"], "t-a", role)
            self.assertFalse(self.logged("t-b", "mocks.patch", mid), role)

    def test_reused_id_is_refused_like_any_refusal(self):
        for role in self.ROLES:
            mid = "victim-" + role
            before = self.make("t-b", mid)
            st, _, js = call(self.d, "POST", "/api/v1/mocks", self.tok[role],
                             mock_body("t-a", mid, "taken"))
            if role in ("both", "system"):
                # It may write both: the id moves, and both logs say so.
                self.ok(st, js, 200)
                self.assertTrue(js["overwritten"])
                self.assertEqual(self.stored(mid)["namespace"], "t-a")
                self.assertTrue(self.logged("t-a", "mocks.create", "mocks"))
                self.assertTrue(self.logged("t-b", "mocks.create", mid), role)
                continue
            self.err(st, js, 403, "forbidden")
            self.assertNotIn("overwritten", js)
            # The same answer as a create where the caller has no role,
            # or (viewer) where it may not write.
            fresh = "fresh-" + role
            st2, _, js2 = call(self.d, "POST", "/api/v1/mocks",
                               self.tok[role], mock_body("t-b", fresh))
            self.err(st2, js2, 403, "forbidden")
            self.assertEqual(shape(js, "t-a", "t-b", mid),
                             shape(js2, "t-a", "t-b", fresh), role)
            # Untouched.
            after = self.stored(mid)
            self.assertEqual(after["namespace"], "t-b")
            self.assertEqual(after["response"], before["response"])
            self.assertEqual(after["createdAt"], before["createdAt"])
            st, _, _ = call(self.d, "GET", "/api/v1/mocks/" + fresh, ADMIN)
            self.assertEqual(st, 404)

            # A batch: refused whole, with the same answer again.
            first = "batch-first-" + role
            st, _, js = call(self.d, "POST", "/api/v1/mocks/batch",
                             self.tok[role],
                             {"namespace": "t-a",
                              "mocks": [mock_body(None, first),
                                        mock_body(None, mid, "taken")]})
            self.err(st, js, 403, "forbidden")
            other = "batch-other-" + role
            st2, _, js2 = call(self.d, "POST", "/api/v1/mocks/batch",
                               self.tok[role],
                               {"namespace": "t-a",
                                "mocks": [mock_body(None, first),
                                          mock_body("t-b", other)]})
            self.err(st2, js2, 403, "forbidden")
            self.assertEqual(shape(js, "t-a", "t-b", mid),
                             shape(js2, "t-a", "t-b", other), role)
            for gone in (first, other):
                st, _, _ = call(self.d, "GET", "/api/v1/mocks/" + gone, ADMIN)
                self.assertEqual(st, 404, gone)
            self.assertEqual(self.stored(mid)["response"], before["response"])

    def test_by_id_answers_do_not_reveal(self):
        self.make("t-b", "hidden")
        for role in ("viewer", "editor", "admin", "stranger"):
            for method, suffix in (("GET", ""), ("PATCH", ""),
                                   ("DELETE", ""), ("POST", "/restore"),
                                   ("DELETE", "/purge")):
                body = {"tags": ["x"]} if method == "PATCH" else None
                st, _, js = call(self.d, method, "/api/v1/mocks/hidden" +
                                 suffix, self.tok[role], body)
                st2, _, js2 = call(self.d, method, "/api/v1/mocks/no-such" +
                                   suffix, self.tok[role], body)
                what = (role, method, suffix)
                self.err(st, js, 404, "not_found")
                self.assertEqual(st, st2, what)
                self.assertEqual(shape(js, "hidden"), shape(js2, "no-such"),
                                 what)
        self.assertIsNone(self.stored("hidden")["closedAt"])
        self.assertIsNone(self.stored("hidden").get("tags"))

    def test_batch_close(self):
        for role in self.ROLES:
            own = ["bc-%s-%d" % (role, i) for i in range(3)]
            for mid in own:
                self.make("t-a", mid)
            elsewhere = "bc-%s-b" % role
            self.make("t-b", elsewhere)
            st, _, js = call(self.d, "DELETE", "/api/v1/mocks/batch",
                             self.tok[role], {"ids": own[:2]})
            writer = role in ("editor", "admin", "both", "system")
            if writer:
                self.ok(st, js, 200)
                self.assertEqual(js["closed"], 2)
                for mid in own[:2]:
                    self.assertIsNotNone(self.stored(mid)["closedAt"])
                self.assertTrue(self.logged("t-a", "mocks.batch_close",
                                            "batch"), role)
            elif role == "viewer":
                self.err(st, js, 403, "forbidden")
            else:
                self.err(st, js, 404, "not_found")
            # One id elsewhere: all or nothing, and the answer is the one
            # for an id that does not exist.
            st, _, js = call(self.d, "DELETE", "/api/v1/mocks/batch",
                             self.tok[role], {"ids": [own[2], elsewhere]})
            if role in ("both", "system"):
                self.ok(st, js, 200)
                self.assertEqual(js["closed"], 2)
                self.assertTrue(self.logged("t-b", "mocks.batch_close",
                                            "batch"), role)
                continue
            self.assertIsNone(self.stored(own[2])["closedAt"], role)
            self.assertIsNone(self.stored(elsewhere)["closedAt"], role)
            st2, _, js2 = call(self.d, "DELETE", "/api/v1/mocks/batch",
                               self.tok[role], {"ids": [own[2], "bc-nope"]})
            if role == "viewer":
                self.err(st, js, 403, "forbidden")  # own[2]: read, not write
            else:
                self.err(st, js, 404, "not_found")
            self.assertEqual(st, st2, role)
            self.assertEqual(shape(js, elsewhere), shape(js2, "bc-nope"),
                             role)


class Lifecycle(AuthCase):
    def test_revoke_within_a_second(self):
        st, _, js = call(self.d, "POST", "/api/v1/tokens", ADMIN,
                         {"name": "short-lived"})
        self.ok(st, js, 201)
        secret, tid = js["secret"], js["token"]["id"]
        st, _, js = call(self.d, "GET", "/api/v1/mocks", secret)
        self.ok(st, js, 200)
        st, _, js = call(self.d, "POST", "/api/v1/tokens/%s/revoke" % tid,
                         ADMIN)
        self.ok(st, js, 200)
        self.assertEqual(js["state"], "revoked")
        deadline = time.time() + 1.0
        while True:
            st, _, js = call(self.d, "GET", "/api/v1/mocks", secret)
            if st == 401 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.err(st, js, 401, "unauthorized")
        # Listed as revoked, never with its secret.
        st, _, js = call(self.d, "GET", "/api/v1/tokens/" + tid, ADMIN)
        self.ok(st, js, 200)
        self.assertFalse(js["enabled"])
        self.assertNotIn(secret[3:], json.dumps(js))
        st, _, _ = call(self.d, "DELETE", "/api/v1/tokens/" + tid, ADMIN)
        self.assertEqual(st, 204)

    def test_expiry(self):
        st, _, js = call(self.d, "POST", "/api/v1/tokens", ADMIN,
                         {"name": "ttl", "ttl": 1})
        self.ok(st, js, 201)
        secret = js["secret"]
        st, _, js = call(self.d, "GET", "/api/v1/whoami", secret)
        self.ok(st, js, 200)
        deadline = time.time() + 3.0
        while True:
            st, _, js = call(self.d, "GET", "/api/v1/whoami", secret)
            if st == 401 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.err(st, js, 401, "unauthorized")
        self.assertIn("expired", js["error"])

    def test_integration_tokens_refused_on_user_api(self):
        st, _, js = call(self.d, "POST", "/api/v1/integrations", ADMIN,
                         {"name": "resolver", "type": "mock_resolver",
                          "labels": ["Blue", "eu-west.1"]})
        self.ok(st, js, 201)
        self.assertTrue(js["secret"].startswith("mki_"))
        self.assertEqual(js["integration"]["labels"], ["blue", "eu-west.1"])
        iid = js["integration"]["id"]
        for path in ("/api/v1/mocks", "/api/v1/whoami"):
            st, _, body = call(self.d, "GET", path, js["secret"])
            self.err(st, body, 403, "forbidden")
            self.assertIn("needs a user token (mk_...)", body["error"])
        st, _, js = call(self.d, "PATCH", "/api/v1/integrations/%s/labels"
                         % iid, ADMIN, {"labels": ["QA", "qa", "Nightly"]})
        self.ok(st, js, 200)
        self.assertEqual(js["labels"], ["qa", "nightly"])
        st, _, js = call(self.d, "PATCH", "/api/v1/integrations/%s/labels"
                         % iid, ADMIN, {"labels": ["x" * 65]})
        self.err(st, js, 400, "validation")

    def test_audit_log(self):
        self.namespace("audited")
        st, _, js = call(self.d, "GET", "/api/v1/audit?namespace=audited",
                         ADMIN)
        self.ok(st, js, 200)
        actions = [e["action"] for e in js["entries"]]
        self.assertIn("namespaces.create", actions)
        self.assertNotIn(ADMIN[3:], json.dumps(js))

    def test_store_and_log_hold_no_secret(self):
        st, _, js = call(self.d, "POST", "/api/v1/tokens", ADMIN,
                         {"name": "needle"})
        self.ok(st, js, 201)
        secret, prefix = js["secret"], js["token"]["prefix"]
        st, _, _ = call(self.d, "GET", "/api/v1/whoami", secret)
        self.assertEqual(st, 200)
        forms = [secret.encode(), secret[3:].encode(),
                 base64.b64encode(secret.encode()),
                 secret.encode().hex().encode(),
                 secret.encode().hex().upper().encode()]
        seen_prefix = False
        for name in os.listdir(self.d.data):
            path = os.path.join(self.d.data, name)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            for form in forms:
                self.assertNotIn(form, data, "secret found in " + name)
            seen_prefix |= prefix.encode() in data
        self.assertTrue(seen_prefix, "the search must see the public prefix")
        self.assertNotIn(secret[3:], self.d.log())
        self.assertNotIn(ADMIN[3:], self.d.log())


class BruteForce(AuthCase):
    def hammer(self, path, source=None):
        """Bad tokens until 429; returns the statuses and the 429 answer."""
        statuses, last = [], None
        for i in range(15):
            st, hdrs, js = call(self.d, "GET", path, "mk_guess%040d" % i,
                                source=source)
            statuses.append(st)
            if st == 429:
                self.assertEqual(js["code"], "rate_limit", js)
                last = (hdrs, js)
            else:
                self.err(st, js, 401, "unauthorized")
        return statuses, last

    def test_rate_limit_per_address(self):
        statuses, _ = self.hammer("/api/v1/mocks")
        # 10 failures per address per minute are allowed.
        self.assertEqual(statuses.count(429), 5, statuses)
        self.assertEqual(statuses[:10], [401] * 10, statuses)
        # The good token from the limited address is refused too ...
        st, _, js = call(self.d, "GET", "/api/v1/mocks", ADMIN)
        self.err(st, js, 429, "rate_limit")
        # ... and works from another address.
        st, _, js = call(self.d, "GET", "/api/v1/mocks", ADMIN,
                         source="127.0.0.2")
        self.ok(st, js, 200)
        st, hdrs, js = call(self.d, "GET", "/api/v1/whoami", ADMIN)
        self.err(st, js, 429, "rate_limit")
        self.assertGreater(int(hdrs["retry-after"]), 0)

    def test_retry_after_on_admin_api(self):
        _, (hdrs, js) = self.hammer("/api/v1/mocks", source="127.0.0.3")
        self.assertIn("retry-after", hdrs, js)
        self.assertGreater(int(hdrs["retry-after"]), 0)


class TrafficLimiter(AuthCase):
    """Mock traffic of a requireToken namespace feeds, and obeys, the same
    failed-authentication limiter as the admin API."""

    def test_bad_tokens_on_mock_traffic(self):
        self.namespace("locked", requireToken=True)
        st, _, js = call(self.d, "POST", "/api/v1/mocks", ADMIN,
                         {"namespace": "locked", "id": "locked-mock",
                          "http": {"route": "/secret"},
                          "response": {"payload": {"ok": True}}})
        self.ok(st, js, 201)
        statuses, limited = [], None
        for i in range(30):
            st, hdrs, js = call(self.d, "GET", "/stubs/locked/secret",
                                "mk_guess%040d" % i, source="127.0.0.4")
            statuses.append(st)
            if st == 429:
                limited = (hdrs, js)
        self.assertEqual(statuses[:10], [401] * 10, statuses)
        self.assertEqual(statuses[10:], [429] * 20, statuses)
        hdrs, js = limited
        self.assertEqual(js["code"], "rate_limit", js)
        self.assertGreater(int(hdrs["retry-after"]), 0, hdrs)
        # A missing token is answered, not counted.
        st, _, js = call(self.d, "GET", "/stubs/locked/secret",
                         source="127.0.0.5")
        self.err(st, js, 401, "unauthorized")
        # The good token from the limited address waits too, and the
        # admin API shares the limit ...
        st, _, js = call(self.d, "GET", "/stubs/locked/secret", ADMIN,
                         source="127.0.0.4")
        self.err(st, js, 429, "rate_limit")
        st, _, js = call(self.d, "GET", "/api/v1/whoami", ADMIN,
                         source="127.0.0.4")
        self.err(st, js, 429, "rate_limit")
        # ... while other addresses are served.
        st, _, js = call(self.d, "GET", "/stubs/locked/secret", ADMIN,
                         source="127.0.0.5")
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"ok": True})
        # Open namespaces never look at tokens.
        st, _, js = call(self.d, "POST", "/api/v1/mocks", ADMIN,
                         {"namespace": "sandbox",
                          "http": {"route": "/open"}, "response": {}})
        self.ok(st, js, 201)
        st, _, _ = call(self.d, "GET", "/stubs/sandbox/open", "mk_bad",
                        source="127.0.0.4")
        self.assertEqual(st, 200)


class Bootstrap(unittest.TestCase):
    def test_generated_once(self):
        with Doppel(env={"DOPPEL_ADMIN_TOKEN": ""}) as d:
            log = d.log()
            marker = "doppel: bootstrap admin token (shown once): "
            self.assertEqual(log.count(marker), 1, log)
            token = log.split(marker, 1)[1].split()[0]
            path = os.path.join(d.data, "admin-token")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path) as f:
                self.assertEqual(f.read().strip(), token)
            st, _, js = call(d, "GET", "/api/v1/whoami", token)
            self.assertEqual(st, 200, js)
            self.assertTrue(js["systemAdmin"])
            data = d.data
        with Doppel(env={"DOPPEL_ADMIN_TOKEN": ""}, data=data) as d:
            self.assertNotIn("shown once", d.log())
            st, _, _ = call(d, "GET", "/api/v1/whoami", token)
            self.assertEqual(st, 200)

    def test_bad_env_token_refused(self):
        data = tempfile.mkdtemp(prefix="doppel-test-")
        for bad in ("secret", "mk_short", "mki_" + "a" * 40):
            code, out, err = run_doppel(
                ["serve", "--listen", "127.0.0.1:0", "--data", data],
                env={"DOPPEL_ADMIN_TOKEN": bad}, timeout=30)
            self.assertNotEqual(code, 0)
            self.assertIn("DOPPEL_ADMIN_TOKEN", out + err)


class LocalMode(unittest.TestCase):
    def test_no_auth_on_loopback(self):
        with Doppel(args=["--no-auth"]) as d:
            st, _, js = call(d, "POST", "/api/v1/mocks", None,
                             {"namespace": "sandbox",
                              "http": {"route": "/local"}, "response": {}})
            self.assertEqual(st, 201, js)
            self.assertIn("local mode", d.log())

    def test_no_auth_refused_off_loopback(self):
        data = tempfile.mkdtemp(prefix="doppel-test-")
        code, out, err = run_doppel(
            ["serve", "--listen", "0.0.0.0:0", "--data", data, "--no-auth"],
            timeout=30)
        self.assertNotEqual(code, 0)
        self.assertIn("loopback", out + err)


if __name__ == "__main__":
    main()
