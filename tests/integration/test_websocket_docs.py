"""Runs the WebSocket examples of docs/mock-format.md and docs/websocket.md
against the real server with the `ws` npm client, so the documentation
cannot drift from what the plugin does.

An example is a ```json block (one mock, or an array of mocks) preceded by

    <!-- socket-example
    open: /path?query          (a connection; the first line)
    send: TEXT                 (a text message, sent as written)
    expect: TEXT               (the next message: JSON compared as JSON,
                                anything else as text)
    expect-close: CODE REASON  (the server closes with that code)
    -->

or by `expect-create: STATUS FIELD` alone: writing the mock is refused
with that status, naming that field. The sandbox namespace is reset
before each example."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ws_helpers as wh  # noqa: E402

DOCS = [os.path.join(harness.SOURCE_DIR, "docs", n)
        for n in ("mock-format.md", "websocket.md")]
BLOCK_RE = re.compile(
    r"^<!--[ \t]*socket-example[ \t]*\n(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```json\n(?P<json>.*?)```", re.S | re.M)


def parse(spec):
    lines, create = [], None
    for raw in spec.strip().splitlines():
        key, _, value = raw.strip().partition(": ")
        if key == "expect-create":
            status, field = value.split(" ", 1)
            create = (int(status), field)
        elif key in ("open", "send", "expect", "expect-close"):
            lines.append((key, value))
        else:
            raise ValueError("unknown example line: %r" % raw)
    return lines, create


def examples():
    out = []
    for path in DOCS:
        with open(path) as f:
            text = f.read()
        for m in BLOCK_RE.finditer(text):
            where = "%s:%d" % (os.path.basename(path),
                               text.count("\n", 0, m.start()) + 1)
            lines, create = parse(m.group("spec"))
            mocks = json.loads(m.group("json"))
            out.append((where, mocks if isinstance(mocks, list) else [mocks],
                        lines, create))
    return out


def same(expected, got):
    try:
        return json.loads(expected) == json.loads(got)
    except (ValueError, TypeError):
        return expected == got


class WsDocs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not wh.node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules/ws "
                                    "missing")
        cls.examples = examples()
        cls.d = wh.WsDoppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_docs_have_examples(self):
        self.assertGreaterEqual(len(self.examples), 6)
        for where, _, lines, create in self.examples:
            self.assertTrue(lines or create, where)

    def test_examples(self):
        for where, mocks, lines, create in self.examples:
            with self.subTest(example=where):
                self.run_example(where, mocks, lines, create)

    def run_example(self, where, mocks, lines, create):
        d = self.d
        r = d.post("/api/v1/reset?namespace=sandbox", {})
        self.assertIn(r.status, (200, 204), r)
        for mock in mocks:
            r = d.post("/api/v1/mocks", mock)
            if create:
                self.assertEqual(r.status, create[0], (where, r))
                self.assertIn(create[1], r.body.decode(), (where, r))
                return
            self.assertIn(r.status, (200, 201), (where, r))
        steps, expects, close = [], [], None
        for key, value in lines:
            if key == "open":
                steps.append({"open": "c", "path": value})
            elif key == "send":
                steps.append({"send": "c", "data": value})
            elif key == "expect":
                expects.append(value)
                steps.append({"wait": "c", "count": len(expects)})
            else:
                code, _, reason = value.partition(" ")
                close = {"code": int(code), "reason": reason}
                steps.append({"waitClose": "c"})
        steps.append({"sleep": 150})  # nothing more may follow
        out = d.scenario(steps)
        self.assertIsNone(out["failed"], (where, out))
        got = [m.get("text", m.get("binary"))
               for m in out["clients"]["c"]["messages"]]
        self.assertEqual(len(got), len(expects), (where, got))
        for e, g in zip(expects, got):
            self.assertTrue(same(e, g), (where, e, g))
        if close:
            self.assertEqual(out["clients"]["c"].get("close"), close, where)


if __name__ == "__main__":
    harness.main()
