"""A real GraphQL client against doppel (tests/node/graphql_client.mjs):
graphql-request v7 sends queries (POST, GET, batches, variables, headers)
and gets the mocked data shaped by its selection sets, and GraphQL errors
as its ClientError; graphql-js's buildClientSchema accepts doppel's
introspection result (getIntrospectionQuery over HTTP with every option)
and printSchema of it equals printSchema(buildSchema(the SDL)), both
through lexicographicSortSchema (doppel lists __schema.types by name,
buildSchema keeps the SDL's order: the order carries no meaning)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
import harness  # noqa: E402

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "graphql_client.mjs")

# Every construct introspection carries: descriptions (schema, types,
# fields, arguments, enum values), deprecations (fields, arguments, input
# fields, enum values), custom scalars with @specifiedBy, custom directives
# (repeatable, several locations), interfaces implementing interfaces,
# unions, input objects with defaults, lists and non-null at every depth,
# custom root type names.
RICH_SDL = '''
"""A library"""
schema {
  query: Root
  mutation: Change
}

"""An instant"""
scalar DateTime @specifiedBy(url: "https://tools.ietf.org/html/rfc3339")

"""Caching hint"""
directive @cache(maxAge: Int = 60, scope: Scope) repeatable on FIELD_DEFINITION | OBJECT

directive @tag(name: String!) on FIELD | QUERY

enum Scope {
  PUBLIC
  """Per user"""
  PRIVATE
  LEGACY @deprecated(reason: "Use PRIVATE")
}

interface Node {
  id: ID!
}

interface Work implements Node {
  id: ID!
  title: String!
}

"""A book"""
type Book implements Work & Node @cache(maxAge: 5) {
  id: ID!
  title: String!
  "Who wrote it"
  authors(first: Int = 3, order: Order = {by: NAME, desc: false}): [Author!]!
  isbn: String @deprecated
  published: DateTime
  matrix: [[Int!]]!
}

type Author implements Node {
  id: ID!
  name: String!
  books(since: DateTime, old: Boolean @deprecated(reason: "gone")): [Book]
}

union Item = Book | Author

input Order {
  by: OrderBy! = NAME
  desc: Boolean
  legacy: String @deprecated(reason: "no")
}

enum OrderBy {
  NAME
  DATE
}

type Root {
  book(id: ID!): Book @cache
  items(kinds: [String!] = ["book"]): [Item!]!
  node(id: ID!): Node
  now: DateTime!
}

type Change {
  addBook(title: String!, authors: [ID!]!): Book!
}
'''


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "graphql-request"))


def run_node(*args):
    p = subprocess.run([NODE, SCRIPT] + list(args), capture_output=True,
                       timeout=60, cwd=NODE_DIR)
    if p.returncode != 0:
        raise AssertionError("graphql_client.mjs failed:\n%s"
                             % p.stderr.decode("utf-8", "replace"))
    return json.loads(p.stdout.decode())


class GraphqlClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules/"
                                    "graphql-request missing")
        cls.d = gh.GqlDoppel()
        cls.url = "http://127.0.0.1:%d/graphql" % cls.d.port
        cls.tmp = tempfile.mkdtemp(prefix="doppel-gqlc-")

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def requests(self, spec, url=None):
        fn = os.path.join(self.tmp, "spec.json")
        with open(fn, "w") as f:
            json.dump(spec, f)
        return run_node("requests", url or self.url, fn)

    def test_graphql_request_gets_shaped_mock_data(self):
        self.d.schema("graphql.graphql", gh.SHOP_SDL)
        self.d.mock("user", {"payload": {"data": {"user": {
            "id": "1", "name": "Ann", "role": "ADMIN", "email": "ann@x.io",
            "age": 33, "friends": [{"id": "2", "name": "Bob", "role": "VIEWER",
                                    "friends": []}]}}}},
            conditions=[{"path": "id", "value": "1"}])
        self.d.mock("products", {"payload": {"data": {"products": [
            {"id": "p1", "title": "Lamp", "price": 10, "tags": ["home"]}]}}},
            header={"X-Client": "web"})
        self.d.mock("createUser", {"payload": {"data": {"createUser": {
            "id": "9", "name": "$.req.input.name", "role": "$.req.input.role"}}}},
            operation="mutation")
        out = self.requests([
            {"query": "query U($id: ID!) { user(id: $id) { name friends { name } } }",
             "variables": {"id": "1"}},
            {"query": "{ me: user(id: \"1\") { ...F } } fragment F on User { id role }",
             "method": "GET"},
            {"query": "{ products { title price } }",
             "headers": {"X-Client": "web"}},
            {"query": "mutation C($in: NewUser!) { createUser(input: $in) { id name role } }",
             "variables": {"in": {"name": "Zoe", "role": "EDITOR"}}},
            {"query": "{ xyzzy }"},
            {"batch": [{"document": '{ user(id: "1") { name } }'},
                       {"document": "{ products { title } }"}],
             "headers": {"X-Client": "web"}},
        ])
        self.assertEqual(out[0], {"data": {"user": {"name": "Ann",
                                                    "friends": [{"name": "Bob"}]}}})
        self.assertEqual(out[1], {"data": {"me": {"id": "1", "role": "ADMIN"}}})
        self.assertEqual(out[2], {"data": {"products": [{"title": "Lamp",
                                                         "price": 10}]}})
        self.assertEqual(out[3], {"data": {"createUser": {
            "id": "9", "name": "Zoe", "role": "EDITOR"}}})
        err = out[4]["error"]
        self.assertIn(err["status"], (200, 400))  # by the client's Accept
        self.assertEqual(err["errors"][0]["message"],
                         'Cannot query field "xyzzy" on type "Query".')
        self.assertEqual(out[5]["batch"], [
            {"data": {"user": {"name": "Ann"}}},
            {"data": {"products": [{"title": "Lamp"}]}}])

    def test_build_client_schema_from_introspection(self):
        path = "/lib/graphql"
        self.d.schema("lib/graphql.graphql", RICH_SDL)
        sdl = os.path.join(self.tmp, "rich.graphql")
        with open(sdl, "w") as f:
            f.write(RICH_SDL)
        out = run_node("introspect",
                       "http://127.0.0.1:%d%s" % (self.d.port, path), sdl)
        self.assertEqual(out["valid"], [])
        self.maxDiff = None
        self.assertEqual(out["oursSorted"], out["theirsSorted"])

    def test_build_client_schema_shop(self):
        self.d.schema("shop/graphql.graphql", gh.SHOP_SDL)
        sdl = os.path.join(self.tmp, "shop.graphql")
        with open(sdl, "w") as f:
            f.write(gh.SHOP_SDL)
        out = run_node("introspect",
                       "http://127.0.0.1:%d/shop/graphql" % self.d.port, sdl)
        self.maxDiff = None
        self.assertEqual(out["oursSorted"], out["theirsSorted"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
