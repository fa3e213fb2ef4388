"""Runs the GraphQL examples of docs/mock-format.md and docs/graphql.md
against the real server, so the documentation cannot drift from the
plugin.

An example is a ```json block (one mock, or an array of mocks) preceded by
an HTML comment:

    <!-- graphql-example
    query: { user(id: "1") { name } }    POST application/json {"query"}
    get: { version }                     GET ?query=
    graphql: { version }                 POST application/graphql
    raw: [{"query": "{ version }"}]      POST application/json, this body
    variables: {"id": "1"}               the request's variables
    operation: Q                         its operationName
    path: /stubs/team-a/graphql          default /graphql
    accept: application/graphql-response+json
    header: X-Tenant: acme               (repeatable)
    expect-status: 200                   default 200
    expect-json: {"data": ...}           the answer contains this (objects:
                                         these members; lists: these items)
    expect-header: Allow: POST
    -->

Each query/get/graphql/raw line starts a request; the lines after it
belong to it. Or, for a mock the server must refuse when it is written:

    <!-- graphql-example
    expect-create: 400 graphql.field
    -->

The schema of /graphql in sandbox is docs/examples/shop.graphql. The
namespaces an example's mocks use are reset before it.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
import harness  # noqa: E402

DOCS = [os.path.join(harness.SOURCE_DIR, "docs", n)
        for n in ("mock-format.md", "graphql.md")]
SCHEMA = os.path.join(harness.SOURCE_DIR, "docs", "examples", "shop.graphql")
BLOCK_RE = re.compile(
    r"^<!--[ \t]*graphql-example[ \t]*\n(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```json\n(?P<json>.*?)```", re.S | re.M)
STARTS = ("query", "get", "graphql", "raw")


def parse(spec):
    reqs, create = [], None
    for raw in spec.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key in STARTS:
            reqs.append({"kind": key, "text": val, "headers": {},
                         "status": 200})
        elif key == "expect-create":
            code, _, field = val.partition(" ")
            create = (int(code), field.strip())
        elif not reqs:
            raise ValueError("%r before any request" % line)
        elif key == "variables":
            reqs[-1]["variables"] = json.loads(val)
        elif key == "operation":
            reqs[-1]["operation"] = val
        elif key in ("path", "accept"):
            reqs[-1][key] = val
        elif key == "header":
            n, _, v = val.partition(":")
            reqs[-1]["headers"][n.strip()] = v.strip()
        elif key == "expect-status":
            reqs[-1]["status"] = int(val)
        elif key == "expect-json":
            reqs[-1]["json"] = json.loads(val)
        elif key == "expect-header":
            n, _, v = val.partition(":")
            reqs[-1].setdefault("expect_headers", []).append((n.strip(), v.strip()))
        else:
            raise ValueError("unknown example line: %r" % line)
    return reqs, create


def examples():
    out = []
    for doc in DOCS:
        with open(doc) as f:
            text = f.read()
        for m in BLOCK_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            mocks = json.loads(m.group("json"))
            if isinstance(mocks, dict):
                mocks = [mocks]
            reqs, create = parse(m.group("spec"))
            out.append(("%s:%d" % (os.path.basename(doc), line), mocks, reqs,
                        create))
    return out


def contains(have, want):
    """want is a part of have: object members, list items in order."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(
            contains(h, w) for h, w in zip(have, want))
    return have == want


class GraphqlDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.examples = examples()
        cls.d = gh.GqlDoppel()
        with open(SCHEMA) as f:
            cls.d.schema("graphql.graphql", f.read())

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_docs_have_examples(self):
        self.assertGreaterEqual(len(self.examples), 8)
        for where, _, reqs, create in self.examples:
            self.assertTrue(reqs or create, where)

    def test_examples(self):
        for where, mocks, reqs, create in self.examples:
            with self.subTest(example=where):
                self.run_example(where, mocks, reqs, create)

    def send(self, q):
        path = q.get("path", "/graphql")
        kw = {"path": path, "accept": q.get("accept"), "headers": q["headers"]}
        if q["kind"] == "query":
            return self.d.gql(q["text"], q.get("variables"), q.get("operation"),
                              **kw)
        if q["kind"] == "raw":
            return self.d.gql_raw(q["text"].encode(), **kw)
        if q["kind"] == "graphql":
            return self.d.gql_raw(q["text"].encode(),
                                  content_type="application/graphql", **kw)
        params = {"query": q["text"]}
        if "variables" in q:
            params["variables"] = json.dumps(q["variables"])
        if "operation" in q:
            params["operationName"] = q["operation"]
        return self.d.gql_get(**dict(kw, **params))

    def run_example(self, where, mocks, reqs, create):
        for ns in {m.get("namespace", "sandbox") for m in mocks}:
            self.d.reset(ns)
        for m in mocks:
            r = self.d.post("/api/v1/mocks", m)
            if create:
                self.assertEqual(r.status, create[0], (where, r))
                self.assertEqual(r.json().get("field"), create[1], where)
            else:
                self.assertIn(r.status, (200, 201), (where, r))
        for q in reqs:
            r = self.send(q)
            self.assertEqual(r.status, q["status"], (where, q["text"], r))
            if "json" in q:
                self.assertTrue(contains(r.json(), q["json"]),
                                "%s: %s\n got %s" % (where, q["text"], r.body))
            for n, v in q.get("expect_headers", []):
                self.assertEqual(r.headers.get(n.lower()), v, (where, n))


if __name__ == "__main__":
    unittest.main(verbosity=2)
