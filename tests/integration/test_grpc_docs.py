"""Runs the gRPC examples of docs/mock-format.md and docs/grpc.md against
the real server with a real client (grpc-js, tests/node/grpc/call.mjs), so
the documentation cannot drift from the plugin.

An example is a ```json block (one mock, or an array of mocks) preceded by
an HTML comment:

    <!-- grpc-example
    call: SayHello {"name": "Ada"}       method and request message
    stream: LotsOfGreetings [{"name": "a"}, {"name": "b"}]
                                         method and the client's messages
    metadata: x-tenant: acme             request metadata (repeatable)
    deadline: 300                        deadline in ms
    expect-status: 0                     the call's gRPC status code
    expect-message: Hello, Ada           the status message (details)
    expect-messages: [{"message": "Hello, Ada"}]
                                         the answer messages (each item is
                                         a subset of the message received)
    expect-detail: badRequest            a decoded google.rpc detail kind
    -->

or, for a mock the server must refuse at write time:

    <!-- grpc-example
    expect-create: 400 grpc.method       status and field of the refusal
    -->

The service is docs/examples/hello.proto (hello.v1.Greeter), served with
proto_path = docs/examples. The namespace is reset before each example.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
import harness  # noqa: E402

DOCS = [os.path.join(harness.SOURCE_DIR, "docs", n)
        for n in ("mock-format.md", "grpc.md")]
EXAMPLES = os.path.join(harness.SOURCE_DIR, "docs", "examples")
BLOCK_RE = re.compile(
    r"^<!--[ \t]*grpc-example[ \t]*\n(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```json\n(?P<json>.*?)```", re.S | re.M)


def parse(spec):
    out = {"metadata": {}, "expect": {}}
    for raw in spec.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key in ("call", "stream"):
            method, _, body = val.partition(" ")
            out["method"] = method
            out["kind_" + key] = json.loads(body) if body.strip() else None
        elif key == "metadata":
            k, _, v = val.partition(":")
            out["metadata"][k.strip()] = v.strip()
        elif key == "deadline":
            out["deadline"] = int(val)
        elif key == "expect-status":
            out["expect"]["status"] = int(val)
        elif key == "expect-message":
            out["expect"]["message"] = val
        elif key == "expect-messages":
            out["expect"]["messages"] = json.loads(val)
        elif key == "expect-detail":
            out["expect"].setdefault("details", []).append(val)
        elif key == "expect-create":
            st, _, field = val.partition(" ")
            out["create"] = (int(st), field.strip())
        else:
            raise ValueError("unknown line in a grpc-example: %r" % line)
    return out


def subset(want, got):
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(
            subset(w, x) for w, x in zip(want, got))
    return want == got


def examples():
    found = []
    for doc in DOCS:
        with open(doc) as f:
            text = f.read()
        for m in BLOCK_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(("%s:%d" % (os.path.basename(doc), line),
                          parse(m.group("spec")), json.loads(m.group("json"))))
    return found


class GrpcDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel(options={"proto_path": EXAMPLES})
        cls.d.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_there_are_examples(self):
        ex = examples()
        self.assertGreaterEqual(len(ex), 8, [e[0] for e in ex])
        self.assertTrue(any("create" in e[1] for e in ex))
        self.assertTrue(any(e[1].get("kind_stream") is not None for e in ex))

    def test_examples(self):
        for where, spec, body in examples():
            with self.subTest(example=where):
                self.run_example(spec, body)

    def run_example(self, spec, body):
        mocks = body if isinstance(body, list) else [body]
        for ns in {m.get("namespace", "sandbox") for m in mocks}:
            r = self.d.post("/api/v1/reset", {"namespace": ns})
            self.assertEqual(r.status, 200, r)
        for m in mocks:
            r = self.d.post("/api/v1/mocks", m)
            if "create" in spec:
                st, field = spec["create"]
                self.assertEqual(r.status, st, r)
                self.assertEqual(r.json().get("field"), field, r.json())
                return
            self.assertIn(r.status, (200, 201), r.body)
        job = g.job(self.d.grpc_address, spec["method"],
                    service="hello.v1.Greeter", proto="hello.proto")
        job["includeDirs"] = [EXAMPLES]
        if spec.get("kind_stream") is not None:
            job["messages"] = spec["kind_stream"]
        else:
            job["request"] = spec.get("kind_call") or {}
        ns = mocks[0].get("namespace")
        md = dict(spec["metadata"])
        if ns and ns != "sandbox":
            md.setdefault("x-doppel-namespace", ns)
        if md:
            job["metadata"] = md
        if "deadline" in spec:
            job["deadlineMs"] = spec["deadline"]
        res = g.run_script("call.mjs", job)
        exp = spec["expect"]
        self.assertEqual(res["status"]["code"], exp.get("status", 0), res)
        if "message" in exp:
            self.assertEqual(res["status"]["details"], exp["message"], res)
        if "messages" in exp:
            self.assertTrue(subset(exp["messages"], res["messages"]),
                            (exp["messages"], res["messages"]))
        for kind in exp.get("details", []):
            kinds = [x.get("kind") for x in
                     (res.get("errorDetails") or {}).get("details", [])]
            self.assertIn(kind, kinds, res)


if __name__ == "__main__":
    unittest.main(verbosity=2)
