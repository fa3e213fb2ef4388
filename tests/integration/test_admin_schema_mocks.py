"""The mocks an uploaded schema file implies (schema_mocks, protocol.h ABI
1.2; docs/admin-api.md "Schema files"), against the test plugin
tests/plugins/section_mocks.c: section "mocked" lists one mock per
"mock ID" line of a committed file, refuses (in its check) a mock
generated from a "mock-refused ID" line, fails on "mocks-fail" and answers
garbage on "mocks-garbage".

Covers: an upload creates the mocks and lists them; a second upload keeps
a mock that was edited (and its edit); batches; ids taken in another
namespace; a refused mock, a failing plugin and garbage undo the upload
(plugin, list, store) and store no mock; a plugin whose def predates
schema_mocks gets no call."""

import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Doppel  # noqa: E402

PLUG = os.path.join(harness.BUILD_DIR, "tests", "plugins")
CONFIG = ("[http]\nenabled = true\n\n"
          "[section_mocks]\npath = %s/doppel_section_mocks.so\nenabled = true\n\n"
          "[schema_toy]\npath = %s/doppel_schema_toy.so\nenabled = true\n\n"
          "[section_mocks_old]\npath = %s/doppel_section_mocks_old.so\n"
          "enabled = true\n" % (PLUG, PLUG, PLUG))


def api(d, method, path, body=None):
    return d.request(method, "/api/v1" + path, body=body)


class SchemaMocksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=CONFIG, workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.assert_clean_log()
        cls.d.__exit__(None, None, None)

    def put(self, name, content, ns):
        return api(self.d, "PUT", "/schemas/mocked/%s?namespace=%s" % (name, ns),
                   body=content)

    def mock(self, mid):
        return api(self.d, "GET", "/mocks/" + mid)

    def plugin_files(self):
        r = self.d.get("/mocked-schemas")
        self.assertEqual(r.status, 200, r)
        return r.json()["files"]

    def stored_schemas(self):
        c = sqlite3.connect(os.path.join(self.d.data, "doppel.db"), timeout=10)
        try:
            return sorted(r[0] + "/" + r[1] for r in c.execute(
                "SELECT ns, name FROM schemas WHERE section = 'mocked'"))
        finally:
            c.close()

    def test_upload_creates_then_keeps_edited(self):
        ns = "created"
        r = self.put("svc.toy", "mock cr-one\nmock cr-two\n", ns)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["mocks"], {"created": ["cr-one", "cr-two"],
                                             "kept": []})
        m = self.mock("cr-one")
        self.assertEqual(m.status, 200, m)
        js = m.json()
        js = js.get("mock", js)
        self.assertEqual(js["namespace"], ns)
        self.assertEqual(js["mocked"], {"file": "svc.toy"})
        self.assertEqual(js["response"]["payload"], {"file": "svc.toy",
                                                     "id": "cr-one"})
        # the user edits one mock's answer
        r = api(self.d, "PATCH", "/mocks/cr-one",
                {"response": {"payload": {"edited": True}}})
        self.assertIn(r.status, (200, 201), r)
        # a second upload: the edited mock and the other one are kept, a
        # new operation gets a new mock
        r = self.put("svc.toy", "mock cr-one\nmock cr-two\nmock cr-three\n", ns)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["mocks"], {"created": ["cr-three"],
                                             "kept": ["cr-one", "cr-two"]})
        js = self.mock("cr-one").json()
        js = js.get("mock", js)
        self.assertIs(js["response"]["payload"]["edited"], True)
        self.assertEqual(self.mock("cr-three").status, 200)

    def test_batch_lists_mocks_of_every_file(self):
        ns = "batch"
        r = api(self.d, "POST", "/schemas/mocked", {
            "namespace": ns,
            "files": {"a.toy": "mock ba-a\n", "b.toy": "mock ba-b\nmock ba-c\n"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(r.json()["mocks"]["created"]),
                         ["ba-a", "ba-b", "ba-c"])
        for mid in ("ba-a", "ba-b", "ba-c"):
            self.assertEqual(self.mock(mid).status, 200, mid)
        # two files implying one id: one mock
        r = api(self.d, "POST", "/schemas/mocked", {
            "namespace": ns,
            "files": {"c.toy": "mock ba-dup\n", "d.toy": "mock ba-dup\n"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["mocks"], {"created": ["ba-dup"], "kept": []})
        js = self.mock("ba-dup").json()
        self.assertEqual(js.get("mock", js)["mocked"], {"file": "c.toy"})

    def test_id_taken_in_another_namespace(self):
        r = self.put("x.toy", "mock shared-id\n", "ns-one")
        self.assertEqual(r.json()["mocks"]["created"], ["shared-id"])
        r = self.put("x.toy", "mock shared-id\n", "ns-two")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["mocks"]["created"], ["shared-id-ns-two"])
        js = self.mock("shared-id").json()
        self.assertEqual(js.get("mock", js)["namespace"], "ns-one")
        js = self.mock("shared-id-ns-two").json()
        self.assertEqual(js.get("mock", js)["namespace"], "ns-two")
        # again: kept, not a third copy
        r = self.put("x.toy", "mock shared-id\n", "ns-two")
        self.assertEqual(r.json()["mocks"], {"created": [],
                                             "kept": ["shared-id-ns-two"]})

    def assert_undone(self, ns, name, mids, before_files, before_rows):
        self.assertEqual(self.plugin_files(), before_files)
        self.assertEqual(self.stored_schemas(), before_rows)
        r = api(self.d, "GET", "/schemas/mocked?namespace=" + ns)
        self.assertNotIn(name, [i["name"] for i in r.json()["items"]])
        for mid in mids:
            self.assertEqual(self.mock(mid).status, 404, mid)

    def test_refused_mock_undoes_upload(self):
        ns = "refused"
        files, rows = self.plugin_files(), self.stored_schemas()
        r = self.put("r.toy", "mock rf-ok\nmock-refused rf-bad\n", ns)
        self.assertEqual(r.status, 400, r)
        js = r.json()
        self.assertIn("rf-bad", js["error"])
        self.assertIn("refuses mocks with refuse", js["error"])
        self.assertIn("undone", js["error"])
        self.assert_undone(ns, "r.toy", ["rf-ok", "rf-bad"], files, rows)

    def test_refused_mock_restores_previous_file(self):
        ns = "restore"
        r = self.put("p.toy", "mock rs-one\n", ns)
        self.assertEqual(r.status, 201, r)
        files, rows = self.plugin_files(), self.stored_schemas()
        r = self.put("p.toy", "mock rs-one\nmock-refused rs-bad\n", ns)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.plugin_files(), files)
        self.assertEqual(self.stored_schemas(), rows)
        r = api(self.d, "GET", "/schemas/mocked/p.toy?namespace=" + ns)
        self.assertEqual(r.body.decode(), "mock rs-one\n")
        self.assertEqual(self.mock("rs-bad").status, 404)

    def test_failing_plugin_undoes_upload(self):
        for line, ns in (("mocks-fail", "fails"), ("mocks-garbage", "garbage")):
            files, rows = self.plugin_files(), self.stored_schemas()
            r = self.put("f.toy", "mock fl-%s\n%s\n" % (ns, line), ns)
            self.assertEqual(r.status, 500, r)
            self.assertIn("undone", r.json()["error"])
            self.assert_undone(ns, "f.toy", ["fl-" + ns], files, rows)

    def test_plugin_without_schema_mocks(self):
        # schema_toy's def carries the member, NULL: no "mocks" in the answer
        r = api(self.d, "PUT", "/schemas/toy/plain.toy?namespace=plain",
                body="mock not-made\n")
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("mocks", r.json())
        self.assertEqual(self.mock("not-made").status, 404)

    def test_def_too_small_for_schema_mocks(self):
        # the member is set but past the def's size: never called (it
        # aborts), no "mocks" in the answer
        r = api(self.d, "PUT", "/schemas/mockedold/o.toy?namespace=old",
                body="mock old-one\n")
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("mocks", r.json())
        self.assertEqual(self.mock("old-one").status, 404)


class ReplayTest(unittest.TestCase):
    def test_stored_files_imply_no_mocks_at_start_up(self):
        d = Doppel(config=CONFIG)
        data = d.data
        try:
            r = api(d, "PUT", "/schemas/mocked/r.toy?namespace=replay",
                    body="mock rp-purged\nmock rp-closed\nmock rp-kept\n")
            self.assertEqual(r.status, 201, r)
            # a closed mock still holds its id: an upload leaves it closed
            self.assertEqual(api(d, "DELETE", "/mocks/rp-closed").status, 200)
            r = api(d, "PUT", "/schemas/mocked/r.toy?namespace=replay",
                    body="mock rp-purged\nmock rp-closed\nmock rp-kept\n")
            self.assertEqual(sorted(r.json()["mocks"]["kept"]),
                             ["rp-closed", "rp-kept", "rp-purged"])
            js = api(d, "GET", "/mocks/rp-closed").json()
            self.assertIsNotNone(js.get("mock", js)["closedAt"])
            # a purged one is gone
            self.assertEqual(api(d, "DELETE", "/mocks/rp-purged/purge").status,
                             204)
        finally:
            d.stop()
        # the replay of the stored file at start-up creates nothing
        with Doppel(config=CONFIG, data=data) as d2:
            files = d2.get("/mocked-schemas").json()["files"]
            self.assertEqual(files, {
                "replay/r.toy": "mock rp-purged\nmock rp-closed\nmock rp-kept\n"})
            self.assertEqual(api(d2, "GET", "/mocks/rp-purged").status, 404)
            js = api(d2, "GET", "/mocks/rp-kept").json()
            self.assertEqual(js.get("mock", js)["namespace"], "replay")
            # an upload again brings the purged one back
            r = api(d2, "PUT", "/schemas/mocked/r.toy?namespace=replay",
                    body="mock rp-purged\nmock rp-closed\nmock rp-kept\n")
            self.assertEqual(r.json()["mocks"]["created"], ["rp-purged"])
            d2.assert_clean_log()


if __name__ == "__main__":
    harness.main()
