"""The admin API's dry runs for agents: POST /api/v1/mocks/validate (what a
create would answer, nothing stored) and POST /api/v1/templates/render (a
template rendered against a sample request, read-only)."""

import unittest
import uuid

import harness

API = "/api/v1"


def fresh_ns(prefix="dry"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def mock(route="/x", ns=None, **extra):
    m = {"http": {"route": route, "httpMethod": "GET"},
         "response": {"statusCode": 200, "payload": {"ok": True}}}
    if ns is not None:
        m["namespace"] = ns
    m.update(extra)
    return m


class DryRuns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def api(self, method, path, body=None, headers=None, auth=True):
        return self.d.request(method, API + path, body=body, headers=headers,
                              auth=auth)

    def count(self, ns):
        r = self.api("GET", "/mocks?namespace=" + ns)
        self.assertEqual(r.status, 200, r)
        return r.json()["total"]

    def strip(self, js):
        js = dict(js)
        js.pop("request_id", None)
        return js

    # -- mocks/validate ----------------------------------------------------
    def test_valid_mock_stores_nothing(self):
        ns = fresh_ns()
        r = self.api("POST", "/mocks/validate", mock(ns=ns))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"valid": True})
        self.assertEqual(self.count(ns), 0)

    def test_invalid_mocks_give_the_errors_create_gives(self):
        ns = fresh_ns()
        cases = [
            mock(route="no-slash", ns=ns),
            {"namespace": ns, "http": {"route": "/a", "httpMethod": "GET"}},
            mock(ns=ns, response={"statusCode": 99}),
            mock(ns=ns, response={"payload": "$.fake.NoSuchFaker"}),
            mock(ns=ns, id="batch"),
            mock(ns=ns, id="validate"),
            {"namespace": ns},
            mock(ns="bad ns!"),
        ]
        for body in cases:
            with self.subTest(body=body):
                v = self.api("POST", "/mocks/validate", body)
                c = self.api("POST", "/mocks", body)
                self.assertEqual(v.status, c.status, (v, c))
                self.assertEqual(v.status // 100, 4, v)
                self.assertEqual(self.strip(v.json()), self.strip(c.json()))
                self.assertIn("field", v.json())
        self.assertEqual(self.count(ns), 0)

    def test_validate_refuses_non_objects_and_bad_json(self):
        for body in ("[1, 2]", "{not json", ""):
            with self.subTest(body=body):
                r = self.api("POST", "/mocks/validate", body,
                             headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["code"], "validation")

    def test_validate_is_not_a_mock_id_and_needs_post(self):
        r = self.api("GET", "/mocks/validate")
        self.assertEqual(r.status, 405, r)
        self.assertIn("POST", r.headers.get("allow", ""))

    def test_validate_needs_a_token_and_a_viewer_role_is_enough(self):
        r = self.api("POST", "/mocks/validate", mock(), auth=False)
        self.assertEqual(r.status, 401, r)
        ns = fresh_ns()
        self.assertEqual(self.api("POST", "/namespaces",
                                  {"name": ns}).status, 201)
        user = "u-" + uuid.uuid4().hex[:8]
        self.assertEqual(self.api("POST", "/users", {"name": user}).status,
                         201)
        r = self.api("PUT", "/namespaces/%s/members/%s" % (ns, user),
                     {"role": "viewer"})
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/users/%s/tokens" % user, {"name": "t"})
        tok = {"Authorization": "Bearer " + r.json()["secret"]}
        r = self.api("POST", "/mocks/validate", mock(ns=ns), headers=tok)
        self.assertEqual(r.status, 200, r)
        # another namespace: forbidden
        r = self.api("POST", "/mocks/validate", mock(ns=fresh_ns()),
                     headers=tok)
        self.assertEqual(r.status, 403, r)
        # and render in its namespace
        r = self.api("POST", "/templates/render?namespace=" + ns,
                     {"template": "x"}, headers=tok)
        self.assertEqual(r.status, 200, r)

    # -- templates/render ---------------------------------------------------
    def render(self, body, **kw):
        return self.api("POST", "/templates/render", body, **kw)

    def test_render_against_a_sample_request(self):
        ns = fresh_ns()
        r = self.api("PUT", "/stores/global/greeting?namespace=" + ns,
                     '"hello"',
                     headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 201), r)
        r = self.render({
            "namespace": ns,
            "template": {
                "id": "$.pathParam.id",
                "user": "$.req.user",
                "greeting": "$.gS.greeting, $.req.user.name!",
                "page": "$.queryParam.page",
                "agent": "$.reqHeader.User-Agent[0]",
                "next": "$.increment($.gS.counter)",
                "fixed": 42,
            },
            "request": {
                "method": "POST", "path": "/users/7",
                "pathParams": {"id": "7"},
                "headers": {"User-Agent": "curl/8", "X-Many": ["a", "b"]},
                "query": {"page": 3},
                "body": {"user": {"name": "Ann"}},
            }})
        self.assertEqual(r.status, 200, r)
        out = r.json()["output"]
        self.assertEqual(out["id"], "7")
        self.assertEqual(out["user"], {"name": "Ann"})
        self.assertEqual(out["greeting"], "hello, Ann!")
        self.assertEqual(out["page"], "3")
        self.assertEqual(out["agent"], "curl/8")
        self.assertEqual(out["next"], 1)
        self.assertEqual(out["fixed"], 42)
        # read-only: $.increment stored nothing
        r = self.api("GET", "/stores/global/counter?namespace=" + ns)
        self.assertEqual(r.status, 404, r)

    def test_render_a_plain_string_and_fakers(self):
        r = self.render({"template": "id-$.fake.UUID"})
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json()["output"], r"^id-[0-9a-f-]{36}$")
        r = self.render({"template": "no expressions"})
        self.assertEqual(r.json(), {"output": "no expressions"})

    def test_template_errors_name_the_position(self):
        r = self.render({"template": {"a": {"b": ["ok", "$.fake.Nope"]}}})
        self.assertEqual(r.status, 400, r)
        js = r.json()
        self.assertEqual(js["code"], "validation")
        self.assertEqual(js["field"], "template.a.b[1]", js)
        self.assertIn("Nope", js["error"])
        r = self.render({"template": "$.increment($.gS.k"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "template")

    def test_render_refuses_bad_input(self):
        cases = [
            ({}, "template"),
            ({"template": "x", "request": []}, "request"),
            ({"template": "x", "request": {"query": "a=1"}}, "request.query"),
            ({"template": "x", "request": {"headers": {"h": {"o": 1}}}},
             "request.headers"),
            ({"template": "x", "request": {"method": 5}}, "method"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                r = self.render(body)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["field"], field, r.json())
        r = self.render([1])
        self.assertEqual(r.status, 400, r)
        r = self.api("GET", "/templates/render")
        self.assertEqual(r.status, 405, r)

    def test_render_big_template_within_the_body_limit(self):
        tmpl = {"k%d" % i: "$.req.v" for i in range(2000)}
        r = self.render({"template": tmpl, "request": {"body": {"v": 1}}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["output"]), 2000)
        self.assertEqual(r.json()["output"]["k1999"], 1)


if __name__ == "__main__":
    harness.main()
