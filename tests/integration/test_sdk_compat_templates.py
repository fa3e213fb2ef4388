"""Response template files under /api/v1/templates, against the real
binary: uploads as the SDKs send them (JSON and multipart/form-data), mocks
that answer with a file (payloadTemplatePath) or match on one
(valueFromFile), replace recompiling those mocks, delete refused while a
mock uses the file, persistence across a restart, and the refusals: bad
names, oversized or malformed uploads, callers without the role
(docs/admin-api.md, "Template files")."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_TOKEN, SOURCE_DIR, Doppel,  # noqa: E402
                     default_config, main)
from sdk_fixtures import fixture  # noqa: E402

NS = "sdk-tpl"


def form(fields, boundary="----sdkBoundary7MA4YWxkTrZu0gW"):
    """A multipart/form-data body as the SDKs' HTTP clients write it:
    fields is a list of (name, value bytes, filename or None)."""
    out = b""
    for name, value, filename in fields:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


class Case(unittest.TestCase):
    config = None

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=cls.config)
        cls.tok = {}
        st, js = cls.call("POST", "/namespaces", {"name": NS})
        assert st == 201, js
        for name, grants in (("tp-viewer", [(NS, "viewer")]),
                             ("tp-editor", [(NS, "editor")]),
                             ("tp-stranger", [])):
            st, js = cls.call("POST", "/users", {"name": name})
            assert st == 201, js
            for ns, role in grants:
                st, js = cls.call("PUT", "/namespaces/%s/members/%s"
                                  % (ns, name), {"role": role})
                assert st == 201, js
            st, js = cls.call("POST", "/users/%s/tokens" % name,
                              {"name": "t"})
            assert st == 201, js
            cls.tok[name.split("-")[1]] = js["secret"]

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    @classmethod
    def call(cls, method, path, body=None, token=ADMIN_TOKEN, raw=None,
             ctype=None):
        headers = {"Authorization": "Bearer " + token}
        if ctype:
            headers["Content-Type"] = ctype
        r = cls.d.request(method, "/api/v1" + path,
                          body=raw if raw is not None else body,
                          headers=headers)
        return r.status, (r.json() if r.body else None)

    def err(self, st, js, status, code, field=None):
        self.assertEqual(st, status, js)
        self.assertEqual(js["code"], code, js)
        self.assertIn("request_id", js)
        if field is not None:
            self.assertEqual(js.get("field"), field, js)

    def upload(self, name, content, ns=NS, token=ADMIN_TOKEN):
        st, js = self.call("POST", "/templates",
                           {"name": name, "content": content,
                            "namespace": ns}, token=token)
        self.assertEqual(st, 201, js)
        return js

    def hit(self, path, body, ns=NS, method="POST"):
        return self.d.request(method, path, body=body,
                              headers={"X-Namespace": ns}, auth=False)


class TemplateFiles(Case):
    def test_sdk_upload_list_get_and_mock(self):
        body = fixture("template_create.json")
        st, js = self.call("POST", "/templates", body)
        self.assertEqual(st, 201, js)
        size = len(body["content"].encode())
        self.assertEqual((js["name"], js["namespace"], js["size"]),
                         ("user_profile.json", NS, size))
        self.assertIsInstance(js["updatedAt"], int)
        self.assertEqual(js["recompiled"], [])
        self.upload("filter.json", '{"status": "active"}')

        st, js = self.call("GET", "/templates?namespace=" + NS)
        self.assertEqual(st, 200, js)
        self.assertEqual(js["templates"], js["items"])
        names = [t["name"] for t in js["templates"]]
        self.assertEqual(names, sorted(names))
        t = [t for t in js["templates"] if t["name"] == "user_profile.json"]
        self.assertEqual(len(t), 1)
        self.assertEqual(set(t[0]), {"name", "namespace", "size",
                                     "updatedAt"})
        self.assertEqual(t[0]["size"], size)
        st, js = self.call("GET", "/templates/user_profile.json",
                           raw=None, token=ADMIN_TOKEN)
        # without a namespace the sandbox is read: not there
        self.err(st, js, 404, "not_found", "name")
        st, js = self.call("GET", "/templates/user_profile.json?namespace="
                           + NS)
        self.assertEqual(st, 200, js)
        self.assertEqual(js["content"], body["content"])
        self.assertEqual(js["usedBy"], [])

        mock = fixture("mock_payload_template.json")
        st, js = self.call("POST", "/mocks", mock)
        self.assertEqual(st, 201, js)
        mid = js["mock"]["id"]
        # the stored mock keeps the fields as sent
        self.assertEqual(js["mock"]["response"]["payloadTemplatePath"],
                         "user_profile.json")
        self.assertEqual(
            js["mock"]["http"]["conditions"][0]["valueFromFile"],
            "filter.json")
        r = self.hit("/profiles/42", {"name": "Ann",
                                      "filter": {"status": "active"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": "42", "name": "Ann",
                                    "source": "template-file"})
        self.assertIn("application/json", r.headers["content-type"])
        # the condition reads the file: another filter does not match
        r = self.hit("/profiles/42", {"name": "Ann",
                                      "filter": {"status": "gone"}})
        self.assertEqual(r.status, 404, r)
        st, js = self.call("GET", "/templates/filter.json?namespace=" + NS)
        self.assertEqual(js["usedBy"], [mid])

        # replace: the mock answers the new content at once
        st, js = self.call("POST", "/templates/user_profile.json",
                           {"content": '{"v": 2, "id": "$.pathParam.id"}',
                            "namespace": NS})
        self.assertEqual(st, 200, js)
        self.assertEqual(js["recompiled"], [mid])
        r = self.hit("/profiles/7", {"filter": {"status": "active"}})
        self.assertEqual(r.json(), {"v": 2, "id": "7"})
        # a content the mock cannot compile with changes nothing
        st, js = self.call("POST", "/templates/user_profile.json",
                           {"content": '{"x": "$.fake.NoSuchFaker"}',
                            "namespace": NS})
        self.err(st, js, 400, "validation", "content")
        self.assertIn(mid, js["error"])
        r = self.hit("/profiles/8", {"filter": {"status": "active"}})
        self.assertEqual(r.json(), {"v": 2, "id": "8"})

        # delete while in use: 409 naming the mock; after the purge, gone
        st, js = self.call("DELETE", "/templates/user_profile.json?namespace="
                           + NS)
        self.err(st, js, 409, "conflict", "name")
        self.assertIn(mid, js["error"])
        st, js = self.call("DELETE", "/mocks/%s/purge" % mid)
        self.assertIn(st, (200, 204), js)
        st, js = self.call("DELETE", "/templates/user_profile.json?namespace="
                           + NS)
        self.assertEqual(st, 204, js)
        st, js = self.call("GET", "/templates/user_profile.json?namespace="
                           + NS)
        self.err(st, js, 404, "not_found")
        st, audit = self.call("GET", "/audit?namespace=" + NS)
        self.assertEqual(st, 200, audit)
        ops = [e.get("action", e.get("op")) for e in audit["entries"]]
        for op in ("templates.create", "templates.replace",
                   "templates.delete"):
            self.assertIn(op, ops)

    def test_missing_file_refuses_the_mock(self):
        mock = fixture("mock_payload_template.json")
        mock["response"]["payloadTemplatePath"] = "absent.json"
        mock["http"]["conditions"] = []
        st, js = self.call("POST", "/mocks", mock)
        self.err(st, js, 400, "validation", "response.payloadTemplatePath")
        self.assertIn("absent.json", js["error"])
        mock = fixture("mock_payload_template.json")
        mock["response"]["payloadTemplatePath"] = ""
        mock["http"]["conditions"][0]["valueFromFile"] = "absent.json"
        st, js = self.call("POST", "/mocks", mock)
        self.err(st, js, 400, "validation",
                 "http.conditions[0].valueFromFile")
        # in oneOf responses too
        self.upload("one.txt", "first $.req.n")
        st, js = self.call("POST", "/mocks", {
            "namespace": NS, "http": {"route": "/one", "httpMethod": "POST"},
            "oneOf": {"responses": [{"payloadTemplatePath": "one.txt"},
                                    {"payloadTemplatePath": "nope.txt"}]}})
        self.err(st, js, 400, "validation",
                 "oneOf.responses[1].payloadTemplatePath")
        st, js = self.call("POST", "/mocks", {
            "namespace": NS, "http": {"route": "/one", "httpMethod": "POST"},
            "oneOf": {"responses": [{"payloadTemplatePath": "one.txt"},
                                    {"payload": "second"}]}})
        self.assertEqual(st, 201, js)
        r = self.hit("/one", {"n": 5})
        self.assertEqual(r.body, b"first 5")
        r = self.hit("/one", {"n": 5})
        self.assertEqual(r.body, b"second")

    def test_multipart_upload_as_the_sdks_send_it(self):
        raw, ct = form([("namespace", NS.encode(), None),
                        ("file", b"Hello $.req.who!", "greeting.txt")])
        st, js = self.call("POST", "/templates", raw=raw, ctype=ct)
        self.assertEqual(st, 201, js)
        self.assertEqual((js["name"], js["namespace"], js["size"]),
                         ("greeting.txt", NS, 16))
        # a name field wins over the filename; replace by form as well
        raw, ct = form([("name", b"greeting2.txt", None),
                        ("namespace", NS.encode(), None),
                        ("file", b"Hi", "whatever.bin")])
        st, js = self.call("POST", "/templates", raw=raw, ctype=ct)
        self.assertEqual(st, 201, js)
        self.assertEqual(js["name"], "greeting2.txt")
        raw, ct = form([("namespace", NS.encode(), None),
                        ("file", b"Hey $.req.who", "x")])
        st, js = self.call("POST", "/templates/greeting.txt", raw=raw,
                           ctype=ct)
        self.assertEqual(st, 200, js)
        st, js = self.call("GET", "/templates/greeting.txt?namespace=" + NS)
        self.assertEqual(js["content"], "Hey $.req.who")

    def test_malformed_and_hostile_uploads(self):
        for name in ("..", ".env", "a b", "render", "x" * 129, ""):
            st, js = self.call("POST", "/templates",
                               {"name": name, "content": "x",
                                "namespace": NS})
            self.err(st, js, 400, "validation", "name")
        # a name that reads as a path, percent-encoded in the URL
        st, js = self.call("POST", "/templates/..%2Fetc%2Fpasswd",
                           {"content": "x", "namespace": NS})
        self.assertIn(st, (400, 404), js)
        st, js = self.call("POST", "/templates",
                           {"name": "n.txt", "namespace": NS})
        self.err(st, js, 400, "validation", "content")
        st, js = self.call("POST", "/templates",
                           {"name": "n.txt", "content": 5, "namespace": NS})
        self.err(st, js, 400, "validation", "content")
        # NUL: refused by the JSON parser, and in a form by the engine
        st, js = self.call("POST", "/templates",
                           {"name": "n.txt", "content": "a\u0000b",
                            "namespace": NS})
        self.err(st, js, 400, "validation")
        raw, ct = form([("namespace", NS.encode(), None),
                        ("file", b"a\x00b", "n.txt")])
        st, js = self.call("POST", "/templates", raw=raw, ctype=ct)
        self.err(st, js, 400, "validation", "content")
        st, js = self.call("POST", "/templates",
                           {"name": "n.txt", "content": "x", "path": "/etc",
                            "namespace": NS})
        self.err(st, js, 400, "validation", "path")
        st, js = self.call("POST", "/templates",
                           {"content": "x", "namespace": NS})
        self.err(st, js, 400, "validation", "name")
        st, js = self.call("POST", "/templates/none.txt",
                           {"content": "x", "namespace": NS})
        self.err(st, js, 404, "not_found", "name")
        self.upload("dup.txt", "x")
        st, js = self.call("POST", "/templates",
                           {"name": "dup.txt", "content": "y",
                            "namespace": NS})
        self.err(st, js, 409, "conflict", "name")
        st, js = self.call("POST", "/templates/dup.txt",
                           {"name": "other.txt", "content": "y",
                            "namespace": NS})
        self.err(st, js, 400, "validation", "name")
        # malformed forms
        raw, ct = form([("file", b"x", "f.txt")])
        for bad_ct in ("multipart/form-data",
                       "multipart/form-data; boundary=" + "b" * 71):
            st, js = self.call("POST", "/templates", raw=raw, ctype=bad_ct)
            self.err(st, js, 400, "validation")
        st, js = self.call("POST", "/templates", raw=raw[:-10], ctype=ct)
        self.err(st, js, 400, "validation", "file")
        raw2, ct2 = form([("name", b"only-name", None)])
        st, js = self.call("POST", "/templates", raw=raw2, ctype=ct2)
        self.err(st, js, 400, "validation", "file")
        raw3, ct3 = form([("file", b"\xff\xfe\x00", "bin.dat")])
        st, js = self.call("POST", "/templates", raw=raw3, ctype=ct3)
        self.err(st, js, 400, "validation", "file")
        many = [("x%d" % i, b"v", None) for i in range(20)]
        raw4, ct4 = form(many + [("file", b"x", "m.txt")])
        st, js = self.call("POST", "/templates", raw=raw4, ctype=ct4)
        self.err(st, js, 400, "validation", "file")
        ct = "multipart/form-data; boundary=B"
        hdr = b'Content-Disposition: form-data; name="file"; filename="h.txt"'
        for body in (b"", b"--B", b"--B\r\n", b"--Bxx--",
                     b"--B\r\n" + hdr + b"\r\n\r\nabc",
                     b"--B\r\n" + hdr + b"\r\nno empty line",
                     b"--B\r\n" + b"X: " + b"y" * 2000 + b"\r\n\r\nz\r\n--B--",
                     b"--B\r\nContent-Disposition: form-data; name=\"file\"; "
                     b"filename=\"" + b"f" * 300 + b"\"\r\n\r\nz\r\n--B--",
                     b"--B\r\nContent-Disposition: form-data\r\n\r\nz\r\n--B--",
                     b"--B\r\n" + hdr + b"\r\n\r\na\r\n--B\r\n" + hdr +
                     b"\r\n\r\nb\r\n--B--"):
            st, js = self.call("POST", "/templates", raw=body, ctype=ct)
            self.err(st, js, 400, "validation", "file")
        # a quoted boundary is the same form
        st, js = self.call("POST", "/templates", ctype='multipart/form-data; '
                           'boundary="B"', raw=b"--B\r\n" + hdr +
                           b"\r\n\r\nquoted\r\n--B\r\nContent-Disposition: "
                           b"form-data; name=\"namespace\"\r\n\r\n" +
                           NS.encode() + b"\r\n--B--\r\n")
        self.assertEqual(st, 201, js)
        self.assertEqual((js["name"], js["size"]), ("h.txt", 6))
        st, js = self.call("GET", "/templates?namespace=" + NS)
        names = [t["name"] for t in js["templates"]]
        for n in ("n.txt", "f.txt", "bin.dat", "m.txt", "only-name"):
            self.assertNotIn(n, names)

    def test_roles(self):
        self.upload("roles.txt", "r")
        st, js = self.call("GET", "/templates?namespace=" + NS,
                           token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        st, js = self.call("GET", "/templates/roles.txt?namespace=" + NS,
                           token=self.tok["viewer"])
        self.assertEqual(st, 200, js)
        for method, path, body in (
                ("POST", "/templates", {"name": "v.txt", "content": "v",
                                        "namespace": NS}),
                ("POST", "/templates/roles.txt", {"content": "v",
                                                  "namespace": NS}),
                ("DELETE", "/templates/roles.txt?namespace=" + NS, None)):
            st, js = self.call(method, path, body, token=self.tok["viewer"])
            self.err(st, js, 403, "forbidden")
        st, js = self.call("GET", "/templates?namespace=" + NS,
                           token=self.tok["stranger"])
        self.err(st, js, 403, "forbidden")
        raw, ct = form([("namespace", NS.encode(), None),
                        ("file", b"s", "s.txt")])
        st, js = self.call("POST", "/templates", raw=raw, ctype=ct,
                           token=self.tok["stranger"])
        self.err(st, js, 403, "forbidden")
        self.upload("ed.txt", "e", token=self.tok["editor"])
        st, js = self.call("DELETE", "/templates/ed.txt?namespace=" + NS,
                           token=self.tok["editor"])
        self.assertEqual(st, 204, js)
        st, js = self.call("GET", "/templates/roles.txt?namespace=" + NS)
        self.assertEqual(js["content"], "r")

    def test_render_dry_run_still_works(self):
        st, js = self.call("POST", "/templates/render",
                           {"template": {"a": "$.req.x"},
                            "request": {"body": {"x": 1}}})
        self.assertEqual(st, 200, js)
        self.assertEqual(js["output"], {"a": 1})
        st, js = self.call("GET", "/templates/render")
        self.assertEqual(st, 405, js)


class Limits(Case):
    config = default_config() + "\n[server]\ntemplate_file_max = 1k\n" \
        if "[server]" not in default_config() else \
        default_config().replace("[server]\n",
                                 "[server]\ntemplate_file_max = 1k\n", 1)

    def test_oversized_file_is_413(self):
        st, js = self.call("POST", "/templates",
                           {"name": "big.txt", "content": "x" * 1025,
                            "namespace": NS})
        self.err(st, js, 413, "limit_exceeded", "content")
        self.upload("fits.txt", "x" * 1024)
        raw, ct = form([("namespace", NS.encode(), None),
                        ("file", b"y" * 2000, "big2.txt")])
        st, js = self.call("POST", "/templates", raw=raw, ctype=ct)
        self.err(st, js, 413, "limit_exceeded", "content")


class Restart(unittest.TestCase):
    def test_files_and_their_mocks_survive_a_restart(self):
        h = {"Authorization": "Bearer " + ADMIN_TOKEN}
        with Doppel() as d:
            data = d.data
            r = d.request("POST", "/api/v1/templates",
                          body={"name": "keep.json",
                                "content": '{"kept": "$.req.k"}'},
                          headers=h)
            self.assertEqual(r.status, 201, r)
            r = d.request("POST", "/api/v1/mocks", body={
                "http": {"route": "/keep", "httpMethod": "POST"},
                "response": {"payloadTemplatePath": "keep.json"}}, headers=h)
            self.assertEqual(r.status, 201, r)
        with Doppel(data=data) as d:
            r = d.request("POST", "/keep", body={"k": "yes"}, auth=False)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"kept": "yes"})
            r = d.request("GET", "/api/v1/templates", headers=h)
            self.assertEqual([t["name"] for t in r.json()["templates"]],
                             ["keep.json"])


class DocExamples(unittest.TestCase):
    """The curl examples of docs/admin-api.md, "Template files", run as
    written (with the page's alias adding the token); each "# {...}"
    line after a command lists "key":value pairs the answer must hold
    (pairs with <placeholders> or ... are not checked)."""

    PAIR_RE = re.compile(r'"(\w+)":("(?:[^"\\<]|\\.)*"|\d+|\[\])')

    def test_examples_run(self):
        with open(os.path.join(SOURCE_DIR, "docs", "admin-api.md")) as f:
            doc = f.read()
        sec = doc[doc.index("### Template files: `/templates`"):]
        block = re.search(r"```sh\n(.*?)```", sec, re.S).group(1)
        steps = []
        for line in block.splitlines():
            if line.startswith("curl "):
                steps.append([line, None])
            elif line.startswith("# ") and steps:
                steps[-1][1] = line[2:]
        self.assertGreaterEqual(len(steps), 5)
        with Doppel() as d, tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "greeting.txt"), "w") as f:
                f.write("Hello $.req.who!")
            r = d.request("POST", "/api/v1/namespaces", body={"name": "shop"})
            self.assertEqual(r.status, 201, r)
            env = dict(os.environ, B="http://%s:%d/api/v1" % (d.host, d.port),
                       TOKEN=ADMIN_TOKEN)
            for cmd, expect in steps:
                script = ('curl() { command curl -H "Authorization: Bearer '
                          '$TOKEN" "$@"; }\n' + cmd)
                out = subprocess.run(["bash", "-c", script], cwd=tmp, env=env,
                                     capture_output=True, text=True,
                                     timeout=30).stdout
                got = json.loads(out) if out.strip() else None
                if expect is None:
                    continue
                self.assertIsNotNone(got, cmd)
                text = json.dumps(got, separators=(",", ":"))
                for key, val in self.PAIR_RE.findall(expect):
                    want = '"%s":%s' % (key, val)
                    if key == "updatedAt":
                        want = '"updatedAt":'
                    self.assertIn(want, text, (cmd, out))


if __name__ == "__main__":
    main()
