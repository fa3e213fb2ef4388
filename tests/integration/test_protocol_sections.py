"""Protocol sections registered by plugins (ABI 1.2): a test plugin
(tests/plugins/toy_section.c) adds the mock section "toy", checked by the
plugin at write time, compiled and matched by the engine (body and meta
conditions, routes, response_fields in reply->extra), with engine sessions
(count, session store, per-session oneOf) across the messages of a stream.
Its mocks outlive a restart with the plugin disabled; a plugin built
against ABI 1.1 still loads beside it."""

import json
import os
import unittest

import harness
from harness import Doppel

TOY = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                   "doppel_toy_section.so")
FROZEN_1_1 = os.path.join(harness.BUILD_DIR, "tests", "abi",
                          "doppel_frozen_1_1.so")


def config(toy=True, frozen=True, twice=False):
    c = "[http]\nenabled = true\n\n[toy]\npath = %s\nenabled = %s\n" % (
        TOY, "true" if toy else "false")
    if twice:
        c += "\n[toy2]\npath = %s\nenabled = true\n" % TOY
    if frozen:
        c += "\n[old11]\npath = %s\nenabled = true\n" % FROZEN_1_1
    return c


NS = "toyns"


def toy_mock(**kw):
    m = {"namespace": NS, "toy": {"op": "get"}, "response": {}}
    m.update(kw)
    return m


class Sections(unittest.TestCase):
    def send(self, d, op, body=None, headers=None, target=""):
        h = {"X-Doppel-Namespace": NS}
        h.update(headers or {})
        r = d.post("/toy/%s%s" % (op, target), body=body, headers=h)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def put(self, d, mock, status=201):
        r = d.post("/api/v1/mocks", mock)
        self.assertEqual(r.status, status, r)
        return r.json()

    def test_write_check_match_extra_and_misses(self):
        with Doppel(config=config(), workers=1) as d:
            # the plugin's check refuses, naming its field
            js = self.put(d, toy_mock(toy={"op": "bad"}), 400)
            self.assertEqual(js["field"], "toy.op", js)
            self.assertIn("unknown operation bad", js["error"])
            js = self.put(d, toy_mock(toy={"route": "/x"}), 400)
            self.assertEqual(js["field"], "toy.op", js)
            # every answer of a oneOf is checked (answer index 1 refused)
            js = self.put(d, {"namespace": NS, "toy": {"op": "get"},
                              "oneOf": {"responses": [{"note": "ok"},
                                                      {"note": "refuse"}]}},
                          400)
            self.assertEqual(js["field"], "oneOf.responses[1].note", js)
            # statusCode follows the section's range (0..99, default 7)
            js = self.put(d, toy_mock(response={"statusCode": 200}), 400)
            self.assertEqual(js["field"], "response.statusCode", js)
            self.assertIn("between 0 and 99", js["error"])
            # the engine still checks what is common: a bad condition
            js = self.put(d, toy_mock(toy={"op": "get", "conditions": [
                {"path": "a", "assertAction": "bogus", "value": 1}]}), 400)
            self.assertTrue(js["field"].startswith("toy.conditions[0]"), js)
            # a template error in a response field names where it is
            js = self.put(d, toy_mock(response={"note": "$.fake.Nope"}), 400)
            self.assertTrue(js["field"].startswith("response.note"), js)

            m = self.put(d, toy_mock(
                toy={"op": "get", "route": "/items/:id",
                     "conditions": [{"path": "$.body.item",
                                     "assertAction": "equals",
                                     "value": "apple"}],
                     "meta": [{"path": "X-Tenant", "assertAction": "equals",
                               "value": "acme"}]},
                response={"statusCode": 3,
                          "payload": {"got": "$.req.item"},
                          "headers": {"x-served-by": "toy"},
                          "note": "item $.req.item of $.pathParam.id"}))["mock"]
            # the normalised section the check returned is what is stored
            self.assertIs(m["toy"]["checked"], True, m)
            got = d.get("/api/v1/mocks/" + m["id"]).json()
            self.assertIs(got["toy"]["checked"], True, got)

            r = self.send(d, "get", {"item": "apple"}, {"X-Tenant": "acme"},
                          "/items/9")
            self.assertEqual(r["kind"], 1, r)
            self.assertEqual(r["status"], 3, r)
            self.assertEqual(r["mock"], m["id"])
            self.assertEqual(json.loads(r["body"]), {"got": "apple"})
            self.assertEqual(r["extra"], {"note": "item apple of 9"})
            self.assertEqual(r["headers"]["x-served-by"], "toy")
            # the other path spellings of the same condition
            for p in ("item", "$.item"):
                self.put(d, toy_mock(
                    id="spell-" + p.replace("$", "d").replace(".", "_"),
                    toy={"op": "spell", "conditions": [
                        {"path": p, "assertAction": "equals",
                         "value": "pear"}]},
                    response={"payload": p}))
                r = self.send(d, "spell", {"item": "pear"})
                self.assertEqual(r["kind"], 1, r)
                r = d.request("DELETE", "/api/v1/mocks/spell-%s/purge" %
                              p.replace("$", "d").replace(".", "_"))
                self.assertLess(r.status, 300, r)

            # meta condition fails: a miss with the near miss, the plugin's
            # sentence and the protocol; in the unmatched list as toy
            r = self.send(d, "get", {"item": "apple"}, {"X-Tenant": "other"},
                          "/items/9")
            self.assertEqual(r["kind"], 0, r)
            self.assertIsNone(r["extra"])
            rep = json.loads(r["body"])
            self.assertEqual(rep["reason"], "toy has no answer for get", rep)
            self.assertEqual(rep["request"]["protocol"], "toy", rep)
            failed = rep["nearMisses"][0]["failed"]
            self.assertEqual(failed[0]["path"], "X-Tenant", rep)
            # body condition fails
            r = self.send(d, "get", {"item": "kiwi"}, {"X-Tenant": "acme"},
                          "/items/9")
            self.assertEqual(r["kind"], 0, r)
            rep = json.loads(r["body"])
            self.assertEqual(rep["nearMisses"][0]["failed"][0]["path"],
                             "$.body.item", rep)
            # another operation (compared as sent: "GET" is not "get")
            r = self.send(d, "GET", {"item": "apple"}, {"X-Tenant": "acme"},
                          "/items/9")
            self.assertEqual(r["kind"], 0, r)

            un = d.get("/api/v1/unmatched?namespace=" + NS).json()["items"]
            self.assertGreaterEqual(len(un), 3, un)
            self.assertTrue(all(u["protocol"] == "toy" for u in un), un)
            self.assertTrue(all(u["reason"] == "toy has no answer for " +
                                u["method"] for u in un), un)
            jr = d.get("/api/v1/requests?namespace=" + NS).json()["items"]
            hits = [j for j in jr if j.get("mockId") == m["id"]]
            self.assertEqual(len(hits), 1, jr)
            self.assertEqual(hits[0]["protocol"], "toy")
            self.assertEqual(hits[0]["status"], 3)
            # an http request never reaches a toy mock
            r = d.post("/items/9", {"item": "apple"},
                       headers={"X-Tenant": "acme"})
            self.assertEqual(r.status, 404, r)

            # a section that is known but not enabled: refused with the fix
            r = d.post("/api/v1/mocks", {"namespace": NS, "grpc": {
                "service": "a.B", "method": "C"}, "response": {}})
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.json()["field"], "grpc", r)
            self.assertIn("enable [grpc] in plugins.conf", r.json()["error"])

    def test_sessions(self):
        with Doppel(config=config(), workers=1) as d:
            self.put(d, {"namespace": NS, "toy": {"op": "chat"},
                         "extract": {"sStore": {"last": "$.req.text"}},
                         "oneOf": {"responses": [
                             {"payload": {"n": "$.session.count",
                                          "last": "$.sS.last"},
                              "note": "first $.session.count"},
                             {"payload": {"n": "$.session.count"},
                              "note": "second"}]}})
            # the third message of a session: a condition on the count,
            # and the session store written by the messages before it
            self.put(d, {"namespace": NS, "priority": 5,
                         "toy": {"op": "chat", "conditions": [
                             {"path": "$.session.count",
                              "assertAction": "equals", "value": 3}]},
                         "response": {"payload": {"third": True,
                                                  "before": "$.sS.last"}}})
            # a condition on the session store
            self.put(d, {"namespace": NS, "priority": 9,
                         "toy": {"op": "chat", "conditions": [
                             {"path": "$.session.store.last",
                              "assertAction": "equals", "value": "magic"}]},
                         "response": {"payload": "after magic"}})

            def open_session():
                r = d.post("/toy-session/open",
                           headers={"X-Doppel-Namespace": NS})
                self.assertEqual(r.status, 200, r)
                return r.json()["sid"]

            def msg(sid, text):
                r = d.post("/toy-session/%d/chat" % sid, {"text": text})
                self.assertEqual(r.status, 200, r)
                return r.json()

            a = open_session()
            r1 = msg(a, "hello")
            self.assertEqual(json.loads(r1["body"]),
                             {"n": 1, "last": "hello"})
            self.assertEqual(r1["extra"], {"note": "first 1"})
            self.assertEqual(r1["status"], 7)  # the section's default
            r2 = msg(a, "world")
            self.assertEqual(json.loads(r2["body"]), {"n": 2})
            self.assertEqual(r2["extra"], {"note": "second"})
            r3 = msg(a, "again")
            self.assertEqual(json.loads(r3["body"]),
                             {"third": True, "before": "world"})

            # another session starts over: its own count, store and cursor
            b = open_session()
            q1 = msg(b, "other")
            self.assertEqual(json.loads(q1["body"]),
                             {"n": 1, "last": "other"})
            # the first session goes on where it was (cursor at answer 0)
            r4 = msg(a, "magic")
            self.assertEqual(json.loads(r4["body"]), {"n": 4, "last": "magic"})
            r5 = msg(a, "x")
            self.assertEqual(r5["body"], "after magic")
            # b never saw "magic"
            q2 = msg(b, "y")
            self.assertEqual(json.loads(q2["body"]), {"n": 2})

            # the session store is not the namespace's global store
            g = d.get("/api/v1/stores/global?namespace=" + NS)
            self.assertNotIn("magic", g.body.decode())
            for s in (a, b):
                r = d.post("/toy-session/%d/close" % s)
                self.assertEqual(r.status, 200, r)
            # plain matches (no session) render $.session.count empty
            r = self.send(d, "chat", {"text": "solo"})
            self.assertEqual(r["kind"], 1, r)
            self.assertNotIn("session", r["body"])

    def test_restart_with_the_plugin_disabled_keeps_the_mocks(self):
        with Doppel(config=config(), workers=1) as d:
            data = d.data
            m = self.put(d, toy_mock(toy={"op": "get"},
                                     response={"payload": "kept"}))["mock"]
            self.assertEqual(self.send(d, "get")["body"], "kept")
        # the check of the stored mock at start-up (on the section ctx,
        # before any copy's init) counted in the state the copies share
        with Doppel(config=config(), workers=2, data=data) as d:
            for _ in range(4):  # either copy
                self.assertEqual(d.get("/toy-stats").json(), {"checks": 1})
            m2 = self.put(d, toy_mock(toy={"op": "get2"}))["mock"]
            self.assertEqual(d.get("/toy-stats").json(), {"checks": 2})
            r = d.request("DELETE", "/api/v1/mocks/%s/purge" % m2["id"])
            self.assertLess(r.status, 300, r)
        # disabled: the mock is listed and readable, never served, and
        # neither patched into something the engine cannot check nor lost
        with Doppel(config=config(toy=False), workers=1, data=data) as d:
            lst = d.get("/api/v1/mocks?namespace=" + NS).json()
            self.assertEqual([x["id"] for x in lst["items"]], [m["id"]], lst)
            got = d.get("/api/v1/mocks/" + m["id"])
            self.assertEqual(got.status, 200, got)
            self.assertEqual(got.json()["toy"]["op"], "get")
            r = d.request("PATCH", "/api/v1/mocks/" + m["id"],
                          body={"priority": 3})
            self.assertEqual(r.status, 400, r)
            # closing and restoring work on it like on any mock
            r = d.request("DELETE", "/api/v1/mocks/" + m["id"])
            self.assertEqual(r.status, 200, r)
            r = d.post("/api/v1/mocks/%s/restore" % m["id"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(d.get("/toy/get").status, 404)  # no plugin
        # enabled again: served as before
        with Doppel(config=config(), workers=1, data=data) as d:
            self.assertEqual(self.send(d, "get")["body"], "kept")

    def test_the_1_1_plugin_beside_it(self):
        with Doppel(config=config(), workers=2) as d:
            r = d.get("/frozen-1-1/whoami", headers=d.auth_headers())
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["copies"], 2, r)
            self.put(d, toy_mock(response={"payload": "two workers"}))
            for _ in range(4):  # whichever worker answers
                self.assertEqual(self.send(d, "get")["body"], "two workers")

    def test_two_instances_adding_one_section_are_refused(self):
        import tempfile
        code, out, err = harness.run_doppel(
            ["serve", "--listen", "127.0.0.1:0", "--data",
             tempfile.mkdtemp(prefix="doppel-test-"), "--config",
             self.write_conf(config(twice=True))])
        out += err
        self.assertEqual(code, 78, out)
        self.assertIn("protocol section 'toy' is already registered by "
                      "instance 'toy' (plugin toy_section)", out)
        self.assertIn("instance 'toy2'", out)

    def test_plugins_command_names_the_section(self):
        code, out, err = harness.run_doppel(
            ["plugins"], env={"DOPPEL_PLUGIN_DIR": os.path.dirname(TOY)})
        self.assertEqual(code, 0, out + err)
        self.assertIn("toy_section test (protocol, ABI 1.2)\n", out)
        self.assertIn("\n  mock section: toy\n", out)

    def write_conf(self, text):
        import tempfile
        fd, path = tempfile.mkstemp(suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path


if __name__ == "__main__":
    unittest.main()
