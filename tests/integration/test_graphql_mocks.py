"""GraphQL mocks against the real server: one mock per top-level field,
conditions on arguments, variables and headers, several fields combined
from several mocks, answers shaped by the selection set (aliases,
fragments, __typename, coercion to the schema's types), fake data for the
fields no mock answers (and the error with the engine's near misses when
faking is off), graphqlErrors with partial data, mocks refused at write
time, oneOf, stores and templates across requests, the journal and the
unmatched list."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
from graphql_helpers import GQL_MEDIA  # noqa: E402


def eq(path, value):
    return {"path": path, "assertAction": "equals", "value": value}


def user(uid, name, **more):
    u = {"id": uid, "name": name, "role": "VIEWER", "email": None,
         "age": 30, "friends": []}
    u.update(more)
    return u


class GraphqlMocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = gh.GqlDoppel()
        cls.d.schema("graphql.graphql", gh.SHOP_SDL)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def setUp(self):
        self.d.reset()

    def mock(self, field, data=None, response=None, **kw):
        if response is None:
            response = {"payload": {"data": {field: data}}}
        return self.d.mock(field, response, **kw).json()["mock"]

    # -- matching ------------------------------------------------------------
    def test_conditions_on_arguments_and_variables(self):
        self.mock("user", user("1", "Ann"), conditions=[eq("id", "1")])
        self.mock("user", user("2", "Bob"), conditions=[eq("id", "2")])
        d = self.d.answer('{ user(id: "2") { name } }')
        self.assertEqual(d, {"data": {"user": {"name": "Bob"}}})
        d = self.d.answer("query Q($who: ID!) { user(id: $who) { name } }",
                        {"who": "1"})
        self.assertEqual(d, {"data": {"user": {"name": "Ann"}}})
        # ID input coercion: an Int literal is the ID "1"
        d = self.d.answer("{ user(id: 1) { name } }")
        self.assertEqual(d, {"data": {"user": {"name": "Ann"}}})

    def test_conditions_on_input_objects_and_defaults(self):
        self.mock("createUser", user("9", "Cleo", role="EDITOR"),
                  operation="mutation",
                  conditions=[eq("input.name", "Cleo"),
                              eq("input.role", "EDITOR")])
        self.mock("createUser", user("10", "Dan"), operation="mutation",
                  conditions=[eq("input.role", "VIEWER")])
        q = "mutation M($in: NewUser!) { createUser(input: $in) { id role } }"
        d = self.d.answer(q, {"in": {"name": "Cleo", "role": "EDITOR"}})
        self.assertEqual(d, {"data": {"createUser": {"id": "9", "role": "EDITOR"}}})
        # the input type's default role VIEWER is applied before matching
        d = self.d.answer(q, {"in": {"name": "Dan"}})
        self.assertEqual(d["data"]["createUser"]["id"], "10")
        # users(first) defaults to 10: visible to conditions
        self.mock("users", [user("1", "Ann")], conditions=[eq("first", 10)])
        d = self.d.answer("{ users { id } }")
        self.assertEqual(d, {"data": {"users": [{"id": "1"}]}})

    def test_condition_on_variables_member(self):
        self.mock("user", user("3", "Vic"), conditions=[eq("variables.who", "3")])
        d = self.d.answer("query V($who: ID!) { user(id: $who) { name } }",
                          {"who": "3"})
        self.assertEqual(d, {"data": {"user": {"name": "Vic"}}})

    def test_header_conditions(self):
        self.mock("version", "tenant-acme", header={"X-Tenant": "acme"})
        d = self.d.answer("{ version }", headers={"X-Tenant": "acme"})
        self.assertEqual(d, {"data": {"version": "tenant-acme"}})
        d = self.d.answer("{ version }", headers={"X-Tenant": "zeta"})
        self.assertNotEqual(d["data"]["version"], "tenant-acme")  # faked

    def test_several_fields_from_several_mocks(self):
        self.mock("user", user("1", "Ann"), conditions=[eq("id", "1")])
        self.mock("products", [{"id": "p1", "title": "Lamp", "price": 12.5,
                                "tags": []}])
        self.mock("version", "3.1")
        d = self.d.answer('{ version user(id: "1") { name } products { title } }')
        self.assertEqual(d, {"data": {"version": "3.1",
                                      "user": {"name": "Ann"},
                                      "products": [{"title": "Lamp"}]}})
        self.assertEqual(list(d["data"]), ["version", "user", "products"])

    # -- shaping ---------------------------------------------------------------
    def test_selection_set_aliases_fragments_typename(self):
        self.mock("user", user("1", "Ann", friends=[user("2", "Bob")],
                               secret="never sent"),
                  conditions=[eq("id", "1")])
        self.mock("user", user("2", "Bob"), conditions=[eq("id", "2")])
        q = """
        query {
          first: user(id: "1") { ...Basic friends { name __typename } }
          second: user(id: "2") { ... on User { who: name } __typename }
        }
        fragment Basic on User { id name }
        """
        d = self.d.answer(q)
        self.assertEqual(d, {"data": {
            "first": {"id": "1", "name": "Ann",
                      "friends": [{"name": "Bob", "__typename": "User"}]},
            "second": {"who": "Bob", "__typename": "User"}}})

    def test_union_and_interface(self):
        self.mock("search", [
            {"__typename": "Product", "id": "p1", "title": "Lamp",
             "price": 3, "tags": ["x"]},
            dict(user("1", "Ann"), __typename="User")])
        q = """{ search(term: "a") { __typename
                  ... on Product { title price }
                  ... on User { name } } }"""
        d = self.d.answer(q)
        self.assertEqual(d["data"]["search"], [
            {"__typename": "Product", "title": "Lamp", "price": 3.0},
            {"__typename": "User", "name": "Ann"}])
        self.assertIsInstance(d["data"]["search"][0]["price"], float)
        self.mock("node", {"__typename": "Product", "id": "p9", "title": "T",
                           "price": 1, "tags": []})
        d = self.d.answer('{ node(id: "p9") { id __typename ... on Product { title } } }')
        self.assertEqual(d["data"]["node"],
                         {"id": "p9", "__typename": "Product", "title": "T"})

    def test_coercion_to_schema_types(self):
        self.mock("user", user(7, "Ann", role="ADMIN", age=41))
        self.mock("stats", {"count": 3, "ratio": 2, "flags": [True, False]})
        d = self.d.answer('{ user(id: "7") { id role age } stats { count ratio flags } }')
        self.assertEqual(d["data"]["user"], {"id": "7", "role": "ADMIN", "age": 41})
        self.assertIsInstance(d["data"]["stats"]["ratio"], float)
        self.assertEqual(d["data"]["stats"]["flags"], [True, False])

    def test_value_that_cannot_be_coerced(self):
        self.mock("stats", {"count": "many", "ratio": 1.5})
        r = self.d.gql("{ stats { count ratio } }")
        body = r.json()
        self.assertEqual(r.status, 200)
        # count is Int!: the error is at its path and stats (nullable) is null
        self.assertIsNone(body["data"]["stats"])
        self.assertEqual(body["errors"][0]["path"], ["stats", "count"])

    # -- fake data -------------------------------------------------------------
    def test_fake_data_for_fields_without_mocks(self):
        self.mock("version", "9")
        d = self.d.answer("{ version users { id name role friends { id } } }")
        self.assertEqual(d["data"]["version"], "9")
        users = d["data"]["users"]
        self.assertIsInstance(users, list)
        self.assertGreater(len(users), 0)
        for u in users:
            self.assertEqual(set(u), {"id", "name", "role", "friends"})
            self.assertIn(u["role"], ("ADMIN", "EDITOR", "VIEWER"))
            self.assertIsInstance(u["name"], str)
        self.assertNotIn("errors", d)
        # the same query gets the same fake data
        self.assertEqual(self.d.answer("{ version users { id name role friends { id } } }"), d)

    def test_unanswered_field_is_in_unmatched_list(self):
        self.mock("user", user("1", "Ann"), conditions=[eq("id", "1")])
        self.d.answer('{ user(id: "5") { name } }')
        un = self.d.entries("unmatched")
        self.assertEqual(len(un), 1, un)
        self.assertEqual(un[0]["protocol"], "graphql")
        self.assertEqual(un[0]["method"], "query.user")
        self.assertEqual(un[0]["path"], "/graphql")
        failed = un[0]["nearMisses"][0]["failed"]
        self.assertEqual(failed[0]["where"], "body")
        self.assertIn("id", failed[0]["path"])

    # -- errors from mocks -------------------------------------------------------
    def test_graphql_errors_with_partial_data(self):
        self.mock("user", response={
            "payload": {"data": {"user": user("1", "Ann", email=None)}},
            "graphqlErrors": [
                {"message": "email service down", "path": ["user", "email"],
                 "extensions": {"code": "UNAVAILABLE"}}]})
        self.mock("version", "1.0")
        r = self.d.gql('{ version user(id: "1") { name email } }',
                       accept=GQL_MEDIA)
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["data"], {"version": "1.0",
                                        "user": {"name": "Ann", "email": None}})
        self.assertEqual(len(body["errors"]), 1)
        e = body["errors"][0]
        self.assertEqual(e["message"], "email service down")
        self.assertEqual(e["path"], ["user", "email"])
        self.assertEqual(e["extensions"], {"code": "UNAVAILABLE"})
        self.assertEqual(e["locations"], [{"line": 1, "column": 11}])

    def test_graphql_error_defaults_path_and_status(self):
        self.mock("user", response={
            "statusCode": 503, "headers": {"Retry-After": "5"},
            "graphqlErrors": [{"message": "try later"}]})
        r = self.d.gql('{ user(id: "1") { name } }')
        self.assertEqual(r.status, 503)
        self.assertEqual(r.headers.get("retry-after"), "5")
        body = r.json()
        self.assertEqual(body["data"], {"user": None})
        self.assertEqual(body["errors"][0]["path"], ["user"])
        self.assertEqual(body["errors"][0]["locations"],
                         [{"line": 1, "column": 3}])

    # -- refused at write time -----------------------------------------------------
    def test_mock_for_unknown_field_refused(self):
        r = self.d.mock("prodcts", {"payload": {"data": {"prodcts": []}}},
                        expect=None)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["field"], "graphql.field")
        self.assertEqual(r.json()["error"],
                         'Query has no field "prodcts"; did you mean "products"?')
        r = self.d.mock("createUser", operation="query", expect=None)
        self.assertEqual(r.status, 400)
        self.assertIn('Query has no field "createUser"', r.json()["error"])
        # without operation, the root type that has the field
        m = self.d.mock("createUser", {}).json()["mock"]
        self.assertEqual(m["graphql"]["operation"], "mutation")
        r = self.d.mock("user", operation="upsert", expect=None)
        self.assertEqual(r.json()["field"], "graphql.operation")
        r = self.d.mock("user", type="Mutation", operation="query", expect=None)
        self.assertEqual(r.json()["field"], "graphql.type")
        r = self.d.mock("__typename", expect=None)
        self.assertEqual(r.json()["field"], "graphql.field")
        r = self.d.mock(None, expect=None)
        self.assertEqual(r.json()["field"], "graphql.field")

    def test_mock_shapes_refused(self):
        cases = [
            ({"payload": {"user": {}}}, "response.payload.user"),
            ({"payload": {"data": 5}}, "response.payload.data"),
            ({"payload": {"errors": []}}, "response.payload.errors"),
            ({"payload": "x"}, "response.payload"),
            ({"graphqlErrors": {"message": "x"}}, "response.graphqlErrors"),
            ({"graphqlErrors": [{"path": ["a"]}]},
             "response.graphqlErrors[0].message"),
            ({"graphqlErrors": [{"message": "m", "locations": [{"line": 1}]}]},
             "response.graphqlErrors[0].locations"),
            ({"graphqlErrors": [{"message": "m", "extra": 1}]},
             "response.graphqlErrors[0].extra"),
        ]
        for resp, field in cases:
            r = self.d.mock("user", resp, expect=None)
            self.assertEqual(r.status, 400, (resp, r))
            self.assertEqual(r.json()["field"], field, resp)
        r = self.d.mock("user", {}, conditions={"path": "id"}, expect=None)
        self.assertEqual(r.json()["field"], "graphql.conditions")
        r = self.d.mock("user", {}, path="no-slash", expect=None)
        self.assertEqual(r.json()["field"], "graphql.path")
        r = self.d.mock("user", {"statusCode": 700}, expect=None)
        self.assertEqual(r.status, 400)

    # -- engine features across requests -------------------------------------------
    def test_one_of_stores_and_templates(self):
        self.d.mock("version", top={"oneOf": {"responses": [
            {"payload": {"data": {"version": "first"}}},
            {"payload": {"data": {"version": "second"}}}]}})
        self.assertEqual(self.d.answer("{ version }")["data"]["version"], "first")
        self.assertEqual(self.d.answer("{ version }")["data"]["version"], "second")
        self.assertEqual(self.d.answer("{ version }")["data"]["version"], "first")
        self.d.mock("createUser", {"payload": {"data": {"createUser": {
            "id": "$.fake.UUID", "name": "$.req.input.name", "role": "ADMIN"}}}},
            top={"extract": {"gStore": {"last": "$.req.input.name"}}})
        self.d.mock("user", {"payload": {"data": {"user": {
            "id": "$.req.id", "name": "$.gS.last", "role": "VIEWER"}}}})
        d = self.d.answer('mutation { createUser(input: {name: "Eve"}) { id name } }')
        self.assertEqual(d["data"]["createUser"]["name"], "Eve")
        self.assertRegex(d["data"]["createUser"]["id"], "^[0-9a-f-]{36}$")
        d = self.d.answer('{ user(id: "42") { id name } }')
        self.assertEqual(d["data"]["user"], {"id": "42", "name": "Eve"})

    def test_services_apply_to_graphql(self):
        # a record-and-replay service over the endpoint (the namespace's
        # default mode, SPY): a document the mocks answer whole is theirs;
        # one with a field no mock answers goes to the upstream whole (here
        # refused by the outbound guard: a private address)
        r = self.d.post("/api/v1/services", {
            "name": "gql-upstream", "target": "http://127.0.0.1:9",
            "pathPrefix": "/graphql"})
        self.assertEqual(r.status, 201, r)
        try:
            self.mock("version", "mocked")
            d = self.d.answer("{ version }")
            self.assertEqual(d, {"data": {"version": "mocked"}})
            r = self.d.gql("{ version stats { count } }")
            self.assertEqual(r.status, 502, r)
            e = r.json()["errors"][0]
            self.assertEqual(e["extensions"]["code"], "UPSTREAM_UNAVAILABLE")
            self.assertEqual(e["extensions"]["reason"], "guard")
            self.assertEqual(e["extensions"]["service"], "gql-upstream")
            self.assertEqual(self.d.entries("unmatched"), [])
            j = [x for x in self.d.entries("requests")
                 if x.get("method") == "query.stats"]
            self.assertEqual(len(j), 1, j)
            self.assertEqual((j[0]["status"], j[0]["forwardError"]),
                             (502, "guard"))
        finally:
            self.d.request("DELETE", "/api/v1/services/gql-upstream")

    def test_journal(self):
        m = self.mock("user", user("1", "Ann"))
        self.d.answer('query Q($id: ID!) { user(id: $id) { name } }', {"id": "1"},
                    headers={"X-Trace": "t-1"})
        j = [e for e in self.d.entries("requests") if e.get("protocol") == "graphql"]
        self.assertEqual(len(j), 1, j)
        e = j[0]
        self.assertEqual(e["method"], "query.user")
        self.assertEqual(e["path"], "/graphql")
        self.assertEqual(e["mockId"], m["id"])
        body = e["body"] if isinstance(e["body"], dict) else json.loads(e["body"])
        self.assertEqual(body["id"], "1")
        self.assertEqual(body["variables"], {"id": "1"})
        self.assertEqual(e["headers"].get("X-Trace") or e["headers"].get("x-trace"), "t-1")


class GraphqlMocksFakeOff(unittest.TestCase):
    """fake_missing = false: a field no mock answers is null with an error
    carrying the engine's near misses; without a schema mocks still answer,
    shaped by the selection set."""

    def test_fake_off_and_no_schema(self):
        with gh.GqlDoppel(options={"fake_missing": "false"}) as d:
            d.schema("graphql.graphql", gh.SHOP_SDL)
            d.mock("user", {"payload": {"data": {"user": user("1", "Ann")}}},
                   conditions=[eq("id", "1")])
            r = d.gql('{ user(id: "2") { name } }')
            body = r.json()
            self.assertEqual(body["data"], {"user": None})
            e = body["errors"][0]
            self.assertEqual(e["message"], 'No mock for field "user".')
            self.assertEqual(e["path"], ["user"])
            near = e["extensions"]["doppel"]["nearMisses"]
            self.assertEqual(near[0]["failed"][0]["where"], "body")
            # no schema on /bare: shaped by the selection set, no fake data
            d.mock("anything", {"payload": {"data": {"anything": {
                "a": 1, "b": [1, 2], "c": {"d": True}}}}}, path="/bare")
            r = d.gql("{ anything { a c { d } } other }", path="/bare")
            body = r.json()
            self.assertEqual(body["data"], {"anything": {"a": 1, "c": {"d": True}},
                                            "other": None})
            self.assertEqual(body["errors"][0]["path"], ["other"])
            self.assertIn("no schema is loaded there",
                          body["errors"][0]["extensions"]["doppel"]["reason"])
            un = [e for e in d.entries("unmatched") if e["path"] == "/bare"]
            self.assertEqual([e["method"] for e in un], ["query.other"])
            self.assertIn("no schema", un[0]["reason"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
