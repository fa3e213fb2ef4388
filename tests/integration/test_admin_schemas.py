"""Schema files of protocol plugins through /api/v1/schemas (docs/admin-api.md,
"Schema files"), against the toy plugin tests/plugins/schema_toy.c: its
section "toy" refuses a file containing BAD with "NAME:LINE:COL: ...",
needs every "import X" line to name a file of the same namespace, and
shows what it holds at GET /toy-schemas.

Covers every route, hostile names, the size limit, tenancy, a refused
upload storing nothing (in the plugin, the list and the database), batches
all or nothing, deletes refused while imported, the audit row in the
write's transaction, and the replay into the plugin after kill -9."""

import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ADMIN_TOKEN, Doppel  # noqa: E402
from sdk_fixtures import make_tenants  # noqa: E402

TOY = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                   "doppel_schema_toy.so")
NOSCHEMA = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                        "doppel_section_noschema.so")
# a second protocol section, "noschema", takes no schema files
CONFIG = ("[server]\ntemplate_file_max = 4k\n\n[http]\nenabled = true\n\n"
          "[schema_toy]\npath = %s\nenabled = true\n\n"
          "[section_noschema]\npath = %s\nenabled = true\n" % (TOY, NOSCHEMA))
NS = "shop"


def api(d, method, path, body=None, token=ADMIN_TOKEN, headers=None):
    h = {"Authorization": "Bearer " + token}
    h.update(headers or {})
    return d.request(method, "/api/v1" + path, body=body, headers=h)


def toy(d):
    """What the plugin holds: {"ns/name": content}, and its counters."""
    r = d.get("/toy-schemas")
    assert r.status == 200, r
    return r.json()


def stored_rows(data):
    c = sqlite3.connect(os.path.join(data, "doppel.db"), timeout=10)
    try:
        return sorted(c.execute("SELECT section, ns, name, content FROM "
                                "schemas").fetchall())
    finally:
        c.close()


class SchemaRoutesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=CONFIG, workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    def put(self, name, content, ns=NS, **kw):
        return api(self.d, "PUT", "/schemas/toy/%s?namespace=%s" % (name, ns),
                   body=content, **kw)

    def names(self, ns=NS):
        r = api(self.d, "GET", "/schemas/toy?namespace=" + ns)
        self.assertEqual(r.status, 200, r)
        return [i["name"] for i in r.json()["items"]]

    def test_put_get_list_replace_delete(self):
        ns = "routes"
        r = self.put("order/v1/order.toy", "message Order\n", ns=ns,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r)
        js = r.json()
        self.assertEqual((js["section"], js["namespace"], js["name"],
                          js["size"]), ("toy", ns, "order/v1/order.toy", 14))
        self.assertIsInstance(js["updatedAt"], int)
        self.assertEqual(toy(self.d)["files"]["routes/order/v1/order.toy"],
                         "message Order\n")
        # the same name again replaces it: 200
        r = self.put("order/v1/order.toy", "message Order2\n", ns=ns)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["size"], 15)
        r = api(self.d, "GET",
                "/schemas/toy/order/v1/order.toy?namespace=" + ns)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"message Order2\n")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        # an encoded slash is the same name
        r = api(self.d, "GET",
                "/schemas/toy/order%2Fv1%2Forder.toy?namespace=" + ns)
        self.assertEqual(r.body, b"message Order2\n")
        self.put("a.toy", "A", ns=ns)
        r = api(self.d, "GET", "/schemas/toy?namespace=" + ns)
        self.assertEqual(r.status, 200, r)
        js = r.json()
        self.assertEqual((js["section"], js["kind"], js["namespace"],
                          js["total"]), ("toy", "toy", ns, 2))
        self.assertEqual([(i["name"], i["size"], i["loaded"])
                          for i in js["items"]],
                         [("a.toy", 1, True),
                          ("order/v1/order.toy", 15, True)])
        # another namespace sees none of them
        self.assertEqual(self.names("routes-other"), [])
        r = api(self.d, "DELETE",
                "/schemas/toy/order/v1/order.toy?namespace=" + ns)
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("routes/order/v1/order.toy", toy(self.d)["files"])
        r = api(self.d, "GET",
                "/schemas/toy/order/v1/order.toy?namespace=" + ns)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["field"], "name")
        r = api(self.d, "DELETE",
                "/schemas/toy/order/v1/order.toy?namespace=" + ns)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.names(ns), ["a.toy"])
        # a namespace reset leaves schema files alone (configuration)
        r = api(self.d, "POST", "/reset?namespace=" + ns)
        self.assertLess(r.status, 300, r)
        self.assertEqual(self.names(ns), ["a.toy"])
        self.assertIn("routes/a.toy", toy(self.d)["files"])
        # every write is audited, with its namespace
        r = api(self.d, "GET", "/audit?namespace=%s&limit=1000" % ns)
        self.assertEqual(r.status, 200, r)
        actions = [e["action"] for e in r.json()["entries"]]
        self.assertEqual(actions.count("schemas.put"), 3, actions)
        self.assertEqual(actions.count("schemas.delete"), 1, actions)

    def test_refused_upload_stores_nothing(self):
        ns = "refused"
        before = toy(self.d)["puts"]
        r = self.put("c.toy", "syntax = 1;\n  BAD here\n", ns=ns)
        self.assertEqual(r.status, 400, r)
        js = r.json()
        self.assertEqual(js["code"], "validation")
        self.assertEqual(js["field"], "content")
        self.assertEqual(js["message"], "c.toy:2:3: unexpected token BAD")
        self.assertEqual(js["error"], js["message"])
        self.assertEqual(self.names(ns), [])
        self.assertNotIn("refused/c.toy", toy(self.d)["files"])
        self.assertEqual(toy(self.d)["puts"], before)  # refused, not put
        # a refused replacement keeps the file as it was
        self.assertEqual(self.put("d.toy", "good", ns=ns).status, 201)
        r = self.put("d.toy", "BAD", ns=ns)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(toy(self.d)["files"]["refused/d.toy"], "good")
        r = api(self.d, "GET", "/schemas/toy/d.toy?namespace=" + ns)
        self.assertEqual(r.body, b"good")
        self.assertIn(("toy", ns, "d.toy", "good"), stored_rows(self.d.data))
        self.assertNotIn("c.toy", [row[2] for row in stored_rows(self.d.data)])

    def test_imports_and_deletes(self):
        ns = "imports"
        r = self.put("a.toy", "import b.toy\nmessage A", ns=ns)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["message"],
                         'a.toy:1:1: import "b.toy" not found')
        self.assertEqual(self.names(ns), [])
        self.assertEqual(self.put("b.toy", "message B", ns=ns).status, 201)
        self.assertEqual(self.put("a.toy", "import b.toy", ns=ns).status, 201)
        self.assertEqual(self.put("c.toy", "import b.toy", ns=ns).status, 201)
        # b is imported: 409 naming both importers, nothing removed
        r = api(self.d, "DELETE", "/schemas/toy/b.toy?namespace=" + ns)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()["code"], "conflict")
        self.assertIn("a.toy", r.json()["error"])
        self.assertIn("c.toy", r.json()["error"])
        self.assertEqual(self.names(ns), ["a.toy", "b.toy", "c.toy"])
        self.assertIn("imports/b.toy", toy(self.d)["files"])
        # an import of another namespace does not count
        self.assertEqual(self.put("a.toy", "import b.toy", ns="imports-2")
                         .status, 400)
        for name in ("a.toy", "c.toy", "b.toy"):
            r = api(self.d, "DELETE",
                    "/schemas/toy/%s?namespace=%s" % (name, ns))
            self.assertEqual(r.status, 204, r)
        self.assertEqual(self.names(ns), [])

    def test_batch_all_or_nothing(self):
        ns = "batch"

        def batch(files, **extra):
            body = {"files": files}
            body.update(extra)
            return api(self.d, "POST", "/schemas/toy?namespace=" + ns, body)

        # in the batch, a file may import one given after it
        r = batch({"a.toy": "import sub/b.toy", "sub/b.toy": "message B"})
        self.assertEqual(r.status, 200, r)
        js = r.json()
        self.assertEqual((js["namespace"], js["created"]), (ns, 2))
        self.assertEqual([(f["name"], f["created"]) for f in js["files"]],
                         [("a.toy", True), ("sub/b.toy", True)])
        self.assertEqual(self.names(ns), ["a.toy", "sub/b.toy"])
        # one refused file: nothing of the batch changes
        r = batch({"a.toy": "changed", "n1.toy": "new", "n2.toy": "x BAD"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["field"], "files.n2.toy")
        self.assertEqual(r.json()["message"],
                         "n2.toy:1:3: unexpected token BAD")
        self.assertEqual(self.names(ns), ["a.toy", "sub/b.toy"])
        held = toy(self.d)["files"]
        self.assertEqual(held["batch/a.toy"], "import sub/b.toy")
        self.assertNotIn("batch/n1.toy", held)
        # an import that the batch does not satisfy: the same
        r = batch({"n1.toy": "new", "n3.toy": "import gone.toy"})
        self.assertEqual(r.status, 400, r)
        self.assertIn('import "gone.toy" not found', r.json()["message"])
        self.assertEqual(r.json()["field"], "files.n3.toy")
        self.assertEqual(self.names(ns), ["a.toy", "sub/b.toy"])
        self.assertNotIn("batch/n1.toy", toy(self.d)["files"])
        rows = [row[2] for row in stored_rows(self.d.data) if row[1] == ns]
        self.assertEqual(rows, ["a.toy", "sub/b.toy"])
        # the namespace of the body
        r = api(self.d, "POST", "/schemas/toy",
                {"namespace": "batch-body", "files": {"x.toy": "X"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.names("batch-body"), ["x.toy"])
        # malformed batches
        for body, field in (({}, "files"), ({"files": {}}, "files"),
                            ({"files": []}, "files"),
                            ({"files": {"a.toy": 1}}, "files.a.toy"),
                            ({"files": {"../a": "x"}}, "files.../a"),
                            ({"files": {"a": "x"}, "extra": 1}, "extra")):
            r = api(self.d, "POST", "/schemas/toy?namespace=" + ns, body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.json()["field"], field, (body, r))
        self.assertEqual(self.names(ns), ["a.toy", "sub/b.toy"])

    def test_hostile_names(self):
        ns = "hostile"
        for path in ("..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
                     "/abs", "a//b", "a/", "a%20b", "a%5Cb", "a%3Ab",
                     "%2E%2E/x", "a" * 257, "%C3%A9.toy"):
            r = api(self.d, "PUT",
                    "/schemas/toy/%s?namespace=%s" % (path, ns), body="x")
            self.assertEqual(r.status, 400, (path, r))
            if r.body.startswith(b"{") and "field" in r.json():
                self.assertEqual(r.json()["field"], "name", (path, r))
        # NUL in the name: refused before it reaches the API or by it
        r = api(self.d, "PUT", "/schemas/toy/a%00b?namespace=" + ns,
                body="x")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.names(ns), [])
        self.assertEqual([k for k in toy(self.d)["files"]
                          if k.startswith(ns + "/")], [])
        # the longest name is fine
        r = self.put("a" * 256, "x", ns=ns)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.names(ns), ["a" * 256])
        # a NUL byte or invalid UTF-8 in the content
        for body in (b"a\x00b", b"\xff\xfe"):
            r = self.put("c.toy", body, ns=ns)
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.json()["field"], "content")

    def test_size_limit(self):
        ns = "size"
        r = self.put("big.toy", "x" * 4097, ns=ns)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["field"], "content")
        self.assertIn("template_file_max", r.json()["error"])
        r = api(self.d, "POST", "/schemas/toy?namespace=" + ns,
                {"files": {"ok.toy": "x", "big.toy": "x" * 4097}})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["field"], "files.big.toy")
        self.assertEqual(self.names(ns), [])
        self.assertEqual(self.put("max.toy", "x" * 4096, ns=ns).status, 201)
        # an empty file is a file
        self.assertEqual(self.put("empty.toy", "", ns=ns).status, 201)

    def test_files_per_namespace(self):
        ns = "many"
        files = {"f%04d.toy" % i: "x" for i in range(1000)}
        r = api(self.d, "POST", "/schemas/toy?namespace=" + ns,
                {"files": files})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["created"], 1000)
        r = self.put("one-more.toy", "x", ns=ns)
        self.assertEqual(r.status, 507, r)
        self.assertEqual(r.json()["code"], "limit_exceeded")
        # replacing one is no new file
        self.assertEqual(self.put("f0000.toy", "y", ns=ns).status, 200)
        files["f1000.toy"] = "x"
        r = api(self.d, "POST", "/schemas/toy?namespace=" + ns,
                {"files": files})
        self.assertEqual(r.status, 400, r)  # more than a batch may hold
        self.assertEqual(len(self.names(ns)), 1000)
        self.assertNotIn(ns + "/one-more.toy", toy(self.d)["files"])

    def test_unknown_section_and_methods(self):
        r = api(self.d, "PUT", "/schemas/grpc/a.proto", body="x")
        self.assertEqual(r.status, 404, r)
        self.assertIn("no enabled plugin", r.json()["error"])
        self.assertIn("plugins.conf", r.json()["error"])
        self.assertEqual(api(self.d, "GET", "/schemas/http").status, 404)
        r = api(self.d, "PUT", "/schemas/noschema/a.toy", body="x")
        self.assertEqual(r.status, 404, r)
        self.assertIn("takes no schema files", r.json()["error"])
        self.assertIn("section_noschema", r.json()["error"])
        r = api(self.d, "PATCH", "/schemas/toy/a.toy", body="x")
        self.assertEqual(r.status, 405, r)
        r = api(self.d, "PUT", "/schemas/toy", body="x")
        self.assertEqual(r.status, 405, r)
        r = api(self.d, "GET", "/schemas/toy/a.toy", token="mk_wrong")
        self.assertEqual(r.status, 401, r)


class SchemaConcurrencyTest(unittest.TestCase):
    def test_parallel_writers_agree(self):
        """Writers on several connections at once (the admin calls run on
        the thread pool side by side): afterwards the list, the plugin and
        the database hold the same files."""
        import threading
        with Doppel(config=CONFIG, workers=2) as d:
            errors = []

            def writer(w):
                try:
                    for i in range(15):
                        name = "w%d/f%d.toy" % (w, i % 5)
                        r = api(d, "PUT", "/schemas/toy/%s?namespace=par"
                                % name, body="v%d" % i)
                        if r.status not in (200, 201):
                            errors.append(r)
                        if i % 4 == 3:
                            r = api(d, "DELETE", "/schemas/toy/%s?namespace="
                                    "par" % name)
                            if r.status != 204:
                                errors.append(r)
                        r = api(d, "POST", "/schemas/toy?namespace=par",
                                {"files": {"w%d/b.toy" % w: "B%d" % i,
                                           "w%d/i.toy" % w:
                                           "import w%d/b.toy" % w}})
                        if r.status != 200:
                            errors.append(r)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

            ts = [threading.Thread(target=writer, args=(w,))
                  for w in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            self.assertEqual(errors, [])
            r = api(d, "GET", "/schemas/toy?namespace=par")
            listed = {}
            for item in r.json()["items"]:
                g = api(d, "GET", "/schemas/toy/%s?namespace=par"
                        % item["name"])
                listed[item["name"]] = g.body.decode()
            held = {k[len("par/"):]: v for k, v in toy(d)["files"].items()
                    if k.startswith("par/")}
            rows = {row[2]: row[3] for row in stored_rows(d.data)
                    if row[1] == "par"}
            self.maxDiff = None
            self.assertEqual(listed, held)
            self.assertEqual(listed, rows)
            self.assertEqual(len(listed), 4 * 2 + 4 * 5 - 4 * 1, listed)
            d.assert_clean_log()


class SchemaTenancyTest(unittest.TestCase):
    def test_roles_and_namespaces(self):
        with Doppel(config=CONFIG) as d:
            def sys_api(method, path, body=None):
                r = api(d, method, path, body)
                return r.status, (r.json() if r.body else None)

            tok = make_tenants(sys_api, ["t1", "t2"], [
                ("s-editor", [("t1", "editor")]),
                ("s-viewer", [("t1", "viewer")]),
                ("s-stranger", [("t2", "editor")])])
            path = "/schemas/toy/a.toy?namespace=t1"
            r = api(d, "PUT", path, body="A", token=tok["editor"])
            self.assertEqual(r.status, 201, r)
            # viewer: reads, no writes
            r = api(d, "GET", path, token=tok["viewer"])
            self.assertEqual((r.status, r.body), (200, b"A"))
            self.assertEqual(api(d, "GET", "/schemas/toy?namespace=t1",
                                 token=tok["viewer"]).status, 200)
            for method, p, body in (
                    ("PUT", path, "B"), ("DELETE", path, None),
                    ("POST", "/schemas/toy?namespace=t1",
                     {"files": {"b.toy": "B"}})):
                r = api(d, method, p, body=body, token=tok["viewer"])
                self.assertEqual(r.status, 403, (method, r))
            # another namespace's editor: nothing of t1
            for method, p, body in (
                    ("GET", path, None),
                    ("GET", "/schemas/toy?namespace=t1", None),
                    ("PUT", path, "B"), ("DELETE", path, None),
                    ("POST", "/schemas/toy",
                     {"namespace": "t1", "files": {"b.toy": "B"}})):
                r = api(d, method, p, body=body, token=tok["stranger"])
                self.assertEqual(r.status, 403, (method, p, r))
                self.assertEqual(r.json()["code"], "forbidden")
            # ... but its own namespace
            r = api(d, "PUT", "/schemas/toy/a.toy?namespace=t2", body="T2",
                    token=tok["stranger"])
            self.assertEqual(r.status, 201, r)
            held = toy(d)["files"]
            self.assertEqual((held["t1/a.toy"], held["t2/a.toy"]),
                             ("A", "T2"))
            d.assert_clean_log()


class SchemaDurabilityTest(unittest.TestCase):
    def test_replay_after_kill9(self):
        d = Doppel(config=CONFIG)
        data = d.data
        try:
            self.assertEqual(api(d, "PUT", "/schemas/toy/b.toy?namespace=s1",
                                 body="message B").status, 201)
            self.assertEqual(api(d, "PUT", "/schemas/toy/a.toy?namespace=s1",
                                 body="import b.toy").status, 201)
            r = api(d, "POST", "/schemas/toy?namespace=s2",
                    {"files": {"x/y.toy": "Y"}})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(api(d, "DELETE",
                                 "/schemas/toy/a.toy?namespace=s1").status,
                             204)
            self.assertEqual(api(d, "PUT", "/schemas/toy/a.toy?namespace=s1",
                                 body="import b.toy\nv2").status, 201)
        finally:
            d.kill9()
            d.proc.wait()
        self.assertEqual(toy_files_after_restart(self, data),
                         {"s1/a.toy": "import b.toy\nv2",
                          "s1/b.toy": "message B", "s2/x/y.toy": "Y"})

    def test_kept_while_the_plugin_is_disabled(self):
        d = Doppel(config=CONFIG)
        data = d.data
        try:
            self.assertEqual(api(d, "PUT", "/schemas/toy/k.toy?namespace=s",
                                 body="kept").status, 201)
        finally:
            d.stop()
        with Doppel(config="[http]\nenabled = true\n", data=data) as d2:
            r = api(d2, "GET", "/schemas/toy?namespace=s")
            self.assertEqual(r.status, 404, r)
            self.assertIn("enable its plugin", r.json()["error"])
            self.assertIn("kept, unused", d2.log())
            d2.assert_clean_log()
        self.assertEqual(stored_rows(data), [("toy", "s", "k.toy", "kept")])
        self.assertEqual(toy_files_after_restart(self, data),
                         {"s/k.toy": "kept"})

    def test_refused_stored_file_is_listed_unloaded(self):
        d = Doppel(config=CONFIG)
        data = d.data
        try:
            self.assertEqual(api(d, "PUT", "/schemas/toy/ok.toy?namespace=s",
                                 body="fine").status, 201)
        finally:
            d.stop()
        # a file the plugin would refuse now (as after a plugin upgrade),
        # and one that imports it
        c = sqlite3.connect(os.path.join(data, "doppel.db"))
        c.executemany("INSERT INTO schemas VALUES ('toy', 's', ?, ?, 1)",
                      [("bad.toy", "BAD"), ("user.toy", "import bad.toy"),
                       ("aa.toy", "import zz.toy"), ("zz.toy", "ZZ"),
                       ("lost.toy", "import gone.toy")])
        c.commit()
        c.close()
        with Doppel(config=CONFIG, data=data) as d2:
            # the rest of the namespace is loaded, an importer sorted
            # before the file it imports too
            self.assertEqual(toy(d2)["files"],
                             {"s/ok.toy": "fine", "s/aa.toy": "import zz.toy",
                              "s/zz.toy": "ZZ"})
            r = api(d2, "GET", "/schemas/toy?namespace=s")
            self.assertEqual([(i["name"], i["loaded"])
                              for i in r.json()["items"]],
                             [("aa.toy", True), ("bad.toy", False),
                              ("lost.toy", False), ("ok.toy", True),
                              ("user.toy", False), ("zz.toy", True)])
            self.assertIn("3 of 6 schema file(s) of namespace s loaded",
                          d2.log())
            self.assertIn("bad.toy", d2.log())
            # it can still be read, replaced and deleted
            r = api(d2, "GET", "/schemas/toy/bad.toy?namespace=s")
            self.assertEqual(r.body, b"BAD")
            self.assertEqual(api(d2, "DELETE",
                                 "/schemas/toy/user.toy?namespace=s").status,
                             204)
            self.assertEqual(api(d2, "PUT", "/schemas/toy/bad.toy?namespace=s",
                                 body="fixed").status, 200)
            self.assertEqual(toy(d2)["files"]["s/bad.toy"], "fixed")

    def test_failed_audit_changes_nothing(self):
        """The audit row is written in the transaction of the schema row:
        when it cannot be, the upload fails, the plugin is put back as it
        was, and nothing is stored."""
        d = Doppel(config=CONFIG)
        data = d.data
        try:
            self.assertEqual(api(d, "PUT", "/schemas/toy/a.toy?namespace=au",
                                 body="v1").status, 201)
            c = sqlite3.connect(os.path.join(data, "doppel.db"), timeout=10)
            c.isolation_level = None
            c.execute("CREATE TRIGGER no_audit BEFORE INSERT ON auth_audit "
                      "BEGIN SELECT RAISE(ABORT, 'audit disabled by the "
                      "test'); END")
            for method, path, body in (
                    ("PUT", "/schemas/toy/a.toy?namespace=au", "v2"),
                    ("PUT", "/schemas/toy/new.toy?namespace=au", "n"),
                    ("POST", "/schemas/toy?namespace=au",
                     {"files": {"a.toy": "v3", "b.toy": "b"}}),
                    # undone in the plugin whatever the order: x imports
                    # y, given after it
                    ("POST", "/schemas/toy?namespace=au",
                     {"files": {"x.toy": "import y.toy", "y.toy": "Y"}}),
                    ("DELETE", "/schemas/toy/a.toy?namespace=au", None)):
                r = api(d, method, path, body=body)
                self.assertEqual(r.status, 500, (method, path, r))
                self.assertIn("audit", r.json()["error"])
            self.assertEqual({k: v for k, v in toy(d)["files"].items()
                              if k.startswith("au/")}, {"au/a.toy": "v1"})
            r = api(d, "GET", "/schemas/toy?namespace=au")
            self.assertEqual([i["name"] for i in r.json()["items"]],
                             ["a.toy"])
            c.execute("DROP TRIGGER no_audit")
            c.close()
        finally:
            d.kill9()
            d.proc.wait()
        self.assertEqual(stored_rows(data), [("toy", "au", "a.toy", "v1")])
        self.assertEqual(toy_files_after_restart(self, data),
                         {"au/a.toy": "v1"})


import test_mcp_agent  # noqa: E402


class SchemaMcpToolsTest(test_mcp_agent.McpCase):
    """put_schema, list_schemas, get_schema, delete_schema through the MCP
    plugin: the same API calls, rights and audit as the REST routes."""

    @classmethod
    def setUpClass(cls):
        if not test_mcp_agent.node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules missing")
        cls.d = Doppel(config=CONFIG + "\n[mcp]\nenabled = true\n"
                       "listen = off\n")

    def test_tools(self):
        out = self.calls([
            ("put_schema", {"section": "toy", "namespace": "agent",
                            "name": "shop/b.toy", "content": "message B"}),
            ("put_schema", {"section": "toy", "namespace": "agent",
                            "files": {"a.toy": "import shop/b.toy",
                                      "c.toy": "import a.toy"}}),
            ("put_schema", {"section": "toy", "namespace": "agent",
                            "name": "d.toy", "content": "x\nBAD"}),
            ("list_schemas", {"section": "toy", "namespace": "agent"}),
            ("get_schema", {"section": "toy", "namespace": "agent",
                            "name": "shop/b.toy"}),
            ("delete_schema", {"section": "toy", "namespace": "agent",
                               "name": "shop/b.toy"}),
            ("delete_schema", {"section": "toy", "namespace": "agent",
                               "name": "c.toy"}),
            ("get_schema", {"section": "toy", "namespace": "agent",
                            "name": "c.toy"}),
            ("list_schemas", {"section": "nope", "namespace": "agent"}),
        ])
        one = self.ok(out[0])
        self.assertEqual((one["created"], one["files"][0]["name"]),
                         (1, "shop/b.toy"))
        self.assertEqual(self.ok(out[1])["created"], 2)
        err = self.tool_error(out[2])
        self.assertIn("d.toy:2:1: unexpected token BAD", err)
        self.assertIn("nothing was stored", err)
        names = [i["name"] for i in self.ok(out[3])["items"]]
        self.assertEqual(names, ["a.toy", "c.toy", "shop/b.toy"])
        got = self.ok(out[4])
        self.assertEqual((got["name"], got["namespace"], got["content"]),
                         ("shop/b.toy", "agent", "message B"))
        self.assertIn("imported by a.toy", self.tool_error(out[5]))
        self.assertTrue(self.ok(out[6])["deleted"])
        self.assertIn("list_schemas", self.tool_error(out[7]))
        self.assertIn("no enabled plugin", self.tool_error(out[8]))
        held = toy(self.d)["files"]
        self.assertEqual({k: v for k, v in held.items()
                          if k.startswith("agent/")},
                         {"agent/a.toy": "import shop/b.toy",
                          "agent/shop/b.toy": "message B"})
        st, audit = self.api("GET", "/api/v1/audit?namespace=agent")
        self.assertEqual(st, 200, audit)
        actions = [e["action"] for e in audit["entries"]]
        self.assertEqual(actions.count("schemas.batch"), 2, actions)
        self.assertEqual(actions.count("schemas.delete"), 1, actions)


def toy_files_after_restart(test, data):
    with Doppel(config=CONFIG, data=data) as d:
        files = toy(d)["files"]
        test.assertIn("schema file(s) of namespace", d.log())
        d.assert_clean_log()
        return files


if __name__ == "__main__":
    unittest.main()
