"""Runs the examples of docs/mock-format.md against the real server, so the
format reference cannot drift from the code.

An example is a ```json block (one mock, or an array of mocks) preceded by
an HTML comment of this form (invisible when the Markdown is rendered):

    <!-- example
    request: POST /orders?x=1        method and path (a new request)
    header: X-Api-Key: abc           request header (repeatable)
    body: {"amount": 100}            request body, sent as written
    sleep: 2.5                       wait before the next request (seconds)
    expect: 201                      status of the answer
    expect-header: X-Doppel-Match: miss
    expect-json: {"id": "42"}        the JSON answer contains this (objects:
                                     subset; arrays: same length, each item
                                     contains the expected item)
    expect-body: plain text          the exact body
    expect-regex: ^[0-9a-f-]{36}$    regex searched in the body text
    -->

or, for a mock the server must refuse:

    <!-- example
    expect-create: 400 http.route    status and field path of the refusal
    -->

Before each example the namespaces its mocks use are reset, so examples do
not see each other's mocks.
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DOC = os.path.join(harness.SOURCE_DIR, "docs", "mock-format.md")

BLOCK_RE = re.compile(
    r"^<!--[ \t]*example[ \t]*\n(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```json\n(?P<json>.*?)```", re.S | re.M)
ANY_JSON_RE = re.compile(r"```json\n(.*?)```", re.S)


def parse_spec(text):
    """Returns (create_expectation, [request dicts])."""
    create = None
    reqs = []
    cur = None
    pending_sleep = 0.0
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key == "request":
            method, _, path = val.partition(" ")
            cur = {"method": method, "path": path.strip(), "headers": {},
                   "body": None, "sleep": pending_sleep, "expect": {}}
            pending_sleep = 0.0
            reqs.append(cur)
        elif key == "sleep":
            pending_sleep = float(val)
        elif key == "expect-create":
            status, _, field = val.partition(" ")
            create = (int(status), field.strip() or None)
        elif cur is None:
            raise ValueError("'%s' before any 'request:' line" % line)
        elif key == "header":
            name, _, hv = val.partition(":")
            cur["headers"][name.strip()] = hv.strip()
        elif key == "body":
            cur["body"] = val
        elif key == "expect":
            cur["expect"]["status"] = int(val)
        elif key == "expect-header":
            name, _, hv = val.partition(":")
            cur["expect"].setdefault("headers", []).append(
                (name.strip().lower(), hv.strip()))
        elif key == "expect-json":
            cur["expect"]["json"] = json.loads(val)
        elif key == "expect-body":
            cur["expect"]["body"] = val
        elif key == "expect-regex":
            cur["expect"]["regex"] = val
        else:
            raise ValueError("unknown example line: %r" % line)
    return create, reqs


def examples():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in BLOCK_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        create, reqs = parse_spec(m.group("spec"))
        out.append((line, json.loads(m.group("json")), create, reqs))
    return text, out


def contains(actual, expected):
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and \
            all(contains(a, e) for a, e in zip(actual, expected))
    return actual == expected and type(actual) is type(expected)


class MockFormatDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text, cls.examples = examples()
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_doc_has_examples_and_valid_json(self):
        self.assertGreaterEqual(len(self.examples), 20)
        for i, block in enumerate(ANY_JSON_RE.findall(self.text)):
            with self.subTest(block=i):
                json.loads(block)  # every json block is real JSON

    def test_examples(self):
        for line, mocks, create, reqs in self.examples:
            with self.subTest(line=line):
                self.run_example(line, mocks, create, reqs)

    def run_example(self, line, mocks, create, reqs):
        d = self.d
        where = "docs/mock-format.md:%d" % line
        batch = isinstance(mocks, list)
        nss = {m.get("namespace", "sandbox") for m in (mocks if batch else [mocks])
               if isinstance(m.get("namespace", "sandbox"), str)}
        for ns in nss | {"sandbox"}:
            r = d.post("/api/v1/reset", {"namespace": ns})
            self.assertEqual(r.status, 200, "%s: reset %s: %r" % (where, ns, r))
        d.request("DELETE", "/api/v1/unmatched")
        r = d.post("/api/v1/mocks/batch" if batch else "/api/v1/mocks", mocks)
        if create is not None:
            status, field = create
            self.assertEqual(r.status, status, "%s: %r" % (where, r))
            if field:
                self.assertEqual(r.json().get("field"), field,
                                 "%s: %r" % (where, r))
        else:
            self.assertIn(r.status, (200, 201), "%s: %r" % (where, r))
        for i, q in enumerate(reqs):
            if q["sleep"]:
                time.sleep(q["sleep"])
            r = d.request(q["method"], q["path"], body=q["body"],
                          headers=q["headers"])
            what = "%s: request %d (%s %s): %r" % (where, i + 1, q["method"],
                                                  q["path"], r)
            exp = q["expect"]
            if "status" in exp:
                self.assertEqual(r.status, exp["status"], what)
            for name, value in exp.get("headers", []):
                self.assertEqual(r.headers.get(name), value, what)
            if "json" in exp:
                got = r.json()
                self.assertTrue(contains(got, exp["json"]),
                                "%s\nexpected to contain %s\ngot %s"
                                % (what, json.dumps(exp["json"]),
                                   json.dumps(got)))
            if "body" in exp:
                self.assertEqual(r.body.decode(), exp["body"], what)
            if "regex" in exp:
                self.assertRegex(r.body.decode(), exp["regex"], what)


if __name__ == "__main__":
    harness.main()
