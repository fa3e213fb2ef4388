"""dp_gql's introspection against graphql-js 16 (tests/node/
graphql_introspect.mjs), without the plugin: tests/tools/gql_exec_tool
runs graphql-js's full getIntrospectionQuery() (descriptions,
specifiedByURL, isRepeatable, the schema's description, deprecated input
values) on a schema; graphql-js's buildClientSchema must accept the
result, printSchema of that client schema must equal printSchema of
buildSchema(SDL), and the result must equal graphql-js's own answer to the
same query (types and directives compared by name: doppel lists types
sorted by name, graphql-js in definition order). Queries with aliases,
fragments, __typename and __type(name:) are compared with graphql-js's
answers as they are.

Execution too is compared with graphql-js (class ExecutionCore): the same
query, variables and answers (graphql-js gets them as its root value)
must give the same data, member order included, and the same errors
(messages, locations, paths, in order).
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("DOPPEL_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD_DIR = os.environ.get("DOPPEL_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
TOOL = os.path.join(BUILD_DIR, "tests", "tools", "gql_exec_tool")
NODE_DIR = os.path.join(SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "graphql_introspect.mjs")
FIXTURES = os.path.join(HERE, "fixtures", "graphql_introspection")
NODE = shutil.which("node")


def node(job):
    p = subprocess.run([NODE, SCRIPT], input=json.dumps(job).encode(),
                       capture_output=True, timeout=60, cwd=NODE_DIR)
    if p.returncode != 0:
        raise AssertionError("graphql_introspect.mjs failed: %s"
                             % p.stderr.decode("utf-8", "replace"))
    return json.loads(p.stdout.decode("utf-8").strip().splitlines()[-1])


def ints(v):
    """JSON numbers compared by value: jansson writes 2.0, JavaScript 2."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [ints(x) for x in v]
    if isinstance(v, dict):
        return {k: ints(x) for k, x in v.items()}
    return v


class IntrospectionCore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not NODE or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "graphql")):
            raise unittest.SkipTest("node or tests/node/node_modules/graphql missing")
        if not os.access(TOOL, os.X_OK):
            raise AssertionError("%s is not built" % TOOL)
        cls.tmp = tempfile.mkdtemp(prefix="gql-intro-")
        cls.query = node({"mode": "query"})["query"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def execute(self, sdl_path, query, variables=None, answers=None):
        qpath = os.path.join(self.tmp, "q.graphql")
        with open(qpath, "w") as f:
            f.write(query)
        args = [TOOL, "--schema", sdl_path, "--query", qpath]
        for flag, value in (("--variables", variables), ("--answers", answers)):
            if value is not None:
                path = os.path.join(self.tmp, flag[2:] + ".json")
                with open(path, "w") as f:
                    json.dump(value, f)
                args += [flag, path]
        p = subprocess.run(args, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return json.loads(p.stdout.decode("utf-8"))

    def check_full(self, name, exact_order):
        path = os.path.join(FIXTURES, name)
        with open(path) as f:
            sdl = f.read()
        result = self.execute(path, self.query)
        self.assertNotIn("errors", result)
        out = node({"mode": "check", "sdl": sdl, "result": result})
        self.assertTrue(out["built"], out.get("error"))
        self.assertIsNone(out["introDiff"])
        self.assertEqual(out["printedSorted"], out["expectedSorted"])
        if exact_order:
            # the fixture's types are written in name order, doppel's
            # order: the printed schemas are the same text
            self.assertEqual(out["printed"], out["expected"])
        return out

    def test_full_query_shop(self):
        out = self.check_full("shop.graphql", exact_order=True)
        # the check is not vacuous: the printed schema has the fixture's parts
        for part in ('"""The shop\'s API."""', "input Pick @oneOf {","directive @cached(",
                     "repeatable on FIELD_DEFINITION | OBJECT",
                     'scalar DateTime @specifiedBy(url: ',
                     'note: String = "rush \\"now\\"\\n\\ttab"',
                     "interface Article implements Node",
                     'GBP @deprecated(reason: "Use EUR.")',
                     'filter: OrderInput = {ids: [7], note: ',
                     'products(ids: [ID!] = [1, "b"]',
                     "old: Int @deprecated(reason: \"no\")",
                     "big: Float = 1e+21", "small: Float = 0.000001"):
            self.assertIn(part, out["printed"])

    def test_full_query_unsorted(self):
        self.check_full("unsorted.graphql", exact_order=False)

    def same_as_graphql_js(self, name, query):
        path = os.path.join(FIXTURES, name)
        with open(path) as f:
            sdl = f.read()
        mine = self.execute(path, query)
        theirs = node({"mode": "run", "sdl": sdl, "query": query})
        self.assertEqual(mine, theirs)
        return mine

    def test_aliases_fragments_typename(self):
        q = """
        query {
          t: __type(name: "Product") { ...T  __typename k: kind }
          __type(name: "SearchResult") { possibleTypes { name } }
          none: __type(name: "Nope") { name }
          __typename
          __schema { queryType { ... on __Type { n: name } } q2: queryType { name } }
        }
        fragment T on __Type {
          name interfaces { name }
          fields(includeDeprecated: false) { name type { ...R } args { name defaultValue } }
        }
        fragment R on __Type { kind name ofType { kind name ofType { kind name } } }
        """
        mine = self.same_as_graphql_js("shop.graphql", q)
        self.assertEqual(mine["data"]["t"]["k"], "OBJECT")

    def test_deprecation_filters(self):
        q = """{
          c: __type(name: "Currency") { enumValues { name } all: enumValues(includeDeprecated: true) { name deprecationReason } }
          i: __type(name: "OrderInput") { inputFields { name } all: inputFields(includeDeprecated: true) { name isDeprecated } }
          o: __type(name: "Order") { fields { name } all: fields(includeDeprecated: true) { name isDeprecated deprecationReason } }
        }"""
        mine = self.same_as_graphql_js("shop.graphql", q)
        self.assertNotIn("GBP", [v["name"] for v in mine["data"]["c"]["enumValues"]])


class ExecutionCore(IntrospectionCore):
    """Execution against graphql-js: shaping, coercion, propagation."""

    SDL = os.path.join(FIXTURES, "exec.graphql")

    # the introspection tests are not run twice
    test_full_query_shop = test_full_query_unsorted = None
    test_aliases_fragments_typename = test_deprecation_filters = None

    def same(self, query, answers, variables=None):
        with open(self.SDL) as f:
            sdl = f.read()
        mine = self.execute(self.SDL, query, variables, answers)
        theirs = node({"mode": "run", "sdl": sdl, "query": query,
                       "variables": variables, "answers": answers})
        # data with its member order (numbers as numbers: 2.0 is 2);
        # errors as graphql-js gives them
        self.assertEqual(json.dumps(ints(mine.get("data", "absent"))),
                         json.dumps(ints(theirs.get("data", "absent"))))
        self.assertEqual(mine.get("errors"), theirs.get("errors"))
        return mine

    def test_shaping_aliases_fragments(self):
        r = self.same("""
            query { u: user(id: 1) { name ...F  id friends { i: id } }
                    search(text: "a") { __typename ... on Product { title price }
                                        ... on User { name } }
                    nodes { id ... on User { age } __typename } }
            fragment F on User { age role tags }""",
            {"user": {"id": 7, "name": "Ann", "age": "12", "role": "ADMIN",
                      "tags": ["a", 1, True], "friends": [{"id": 1}, {"id": "2"}],
                      "extra": 1},
             "search": [{"__typename": "Product", "title": "T", "price": 2},
                        {"__typename": "User", "name": "B"}],
             "nodes": [{"__typename": "User", "id": 1, "age": 3}, None]})
        self.assertEqual(list(r["data"]["u"]), ["name", "age", "role", "tags", "id",
                                                "friends"])

    def test_null_propagation_and_leaf_errors(self):
        self.same("{ users { id name } count user(id: 1) { age score role } }",
                  {"users": [{"id": 1, "name": "a"}, {"id": 2, "name": None}],
                   "count": "x",
                   "user": {"age": 1.5, "score": "y", "role": "KING"}})
        self.same("{ count must user(id: 2) { id } }",
                  {"count": 1, "must": None, "user": {"id": 1}})
        self.same("{ search { __typename } }", {"search": [None]})
        self.same("{ users { id } }", {"users": {"id": 1}})

    def test_merging_typename_and_list_items(self):
        self.same("{ __typename user(id: 1) { id } user(id: 1) { name friends { id } }"
                  " users { friends { name } } }",
                  {"user": {"id": 1, "name": "n", "friends": [{"id": 2}, None]},
                   "users": [{"friends": []}, {"friends": [{"name": "x"}, {"name": None}]}]})

    def test_nested_lists_and_custom_scalars(self):
        self.same("{ matrix grid blob }",
                  {"matrix": [[1, "2"], [None], [3.5]], "grid": [[None, 1], None],
                   "blob": {"any": [1, {"x": None}], "s": "t"}})
        self.same("{ grid }", {"grid": [[1]]})

    def test_abstract_type_errors(self):
        self.same("{ nodes { id } }", {"nodes": [{"__typename": "Nope", "id": 1}]})
        self.same("{ search { __typename } }", {"search": [{"__typename": "Role"}]})

    def test_variables(self):
        q = "query ($f: Filter, $id: ID!, $on: Boolean = true) { users(filter: $f) { id @include(if: $on) } user(id: $id) { name @skip(if: $on) } }"
        answers = {"users": [{"id": 1}], "user": {"name": "n"}}
        self.same(q, answers, {"id": 5, "f": {"min": 1}})
        self.same(q, answers, {"id": 5, "on": False})
        self.same(q, answers, {"f": {"names": ["a", None], "role": "X", "min": 2.5, "z": 1}})
        self.same(q, answers, {"id": None, "on": "yes"})
        self.same("query ($n: Int) { count }", {"count": 1}, {"n": 3000000000})
        # suggestions, @oneOf
        self.same(q, answers, {"id": 1, "f": {"min": 1, "nams": [], "role": "ADMN"}})
        q = "query ($p: Pick) { pick(p: $p) }"
        for p in ({"byId": 1}, {}, {"byId": 1, "byName": "n"}, {"byId": None}):
            self.same(q, {"pick": 1}, {"p": p})

    def test_mutation_stops_at_failed_non_null(self):
        self.same("mutation { a b c }", {"a": 1, "b": None, "c": 3})
        self.same("mutation { c a }", {"a": 1, "c": 3})


if __name__ == "__main__":
    unittest.main()
