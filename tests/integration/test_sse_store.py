"""Events a store change sends (the sse section's onStoreChange): a global
store key set through the admin API or by mock traffic (extract) sends the
rule's event to every open stream of that mock, in that namespace only,
its data rendered with the store as it is at the change (or, without data,
the key's new value); streams of other mocks and of other namespaces get
nothing; bad rules are a 400 naming the member; the event is journalled
with "direction": "out"."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Stream:
    """A raw subscription that collects what the server sends."""

    def __init__(self, d, path, ns=None):
        self.s = socket.create_connection((d.host, d.port), timeout=5)
        extra = "X-Namespace: %s\r\n" % ns if ns else ""
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/event-stream\r\n%s\r\n"
                        % (path, extra)).encode())
        self.buf = ""

    def read_until(self, text, timeout=5.0):
        end = time.time() + timeout
        while text not in self.buf:
            left = end - time.time()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                return False
            self.buf += chunk.decode("utf-8", "replace")
        return True

    def wait_count(self, text, n, timeout=5.0):
        """Reads until text was sent n times."""
        end = time.time() + timeout
        while self.buf.count(text) < n:
            left = end - time.time()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                return False
            self.buf += chunk.decode("utf-8", "replace")
        return True

    def close(self):
        self.s.close()


CHAIN = {"sseEventChain": {"events": [{"data": "open"},
                                      {"data": "late", "delay": 3600000}]}}


class SseStoreEvents(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel(workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def mock(self, body, expect=201):
        r = self.d.post("/api/v1/mocks", body)
        self.assertEqual(r.status, expect, r.body)
        return r

    def put_store(self, key, value, ns="sandbox"):
        r = self.d.request("PUT", "/api/v1/stores/global/%s?namespace=%s"
                           % (key, ns), body=json.dumps(value),
                           headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.body)

    def subscribe(self, path, ns=None, n=1):
        out = []
        for _ in range(n):
            st = Stream(self.d, path, ns)
            self.addCleanup(st.close)
            self.assertTrue(st.read_until("data: open"), st.buf)
            out.append(st)
        return out

    def test_admin_store_put_sends_the_rendered_event(self):
        # the example of docs/sse.md, "Events on a store change"
        self.mock({
            "sse": {"eventPath": "/events/price",
                    "onStoreChange": [{"key": "price", "eventName": "price",
                                       "data": {"price": "$.gS.price",
                                                "currency": "$.gS.currency"}}]},
            "response": {"sseEventChain": {"events": [
                {"eventName": "hello", "data": "watching the price"},
                {"data": "bye", "delay": 3600000}]}}})
        self.mock({"sse": {"eventPath": "/st/other"}, "response": CHAIN})
        # several streams, spread over both workers
        subs = []
        for _ in range(4):
            st = Stream(self.d, "/events/price")
            self.addCleanup(st.close)
            self.assertTrue(st.read_until("data: watching the price\n\n"))
            subs.append(st)
        other = self.subscribe("/st/other")[0]
        self.put_store("currency", "EUR")  # a key no rule names: nothing
        self.put_store("price", 42)
        want = 'event: price\ndata: {"price":42,"currency":"EUR"}\n\n'
        for st in subs:
            self.assertTrue(st.read_until(want), st.buf)
        # rendered at each change, with the store as it is then
        self.put_store("price", 43)
        for st in subs:
            self.assertTrue(st.read_until('data: {"price":43,'), st.buf)
        self.assertFalse(other.read_until("price", timeout=0.5), other.buf)
        # "currency" changing sent nothing: one event per change of "price"
        for st in subs:
            self.assertEqual(st.buf.count("event: price\n"), 2, st.buf)
        # a deleted key sends what a missing value renders as
        r = self.d.request("DELETE",
                           "/api/v1/stores/global/price?namespace=sandbox")
        self.assertEqual(r.status, 204, r.body)
        for st in subs:
            self.assertTrue(st.wait_count("event: price\n", 3), st.buf)
            self.assertIn('data: {"price":null,"currency":"EUR"}\n\n', st.buf)

    def test_extract_by_mock_traffic_sends_the_key_value(self):
        self.mock({"sse": {"eventPath": "/st/orders",
                           "onStoreChange": [{"key": "lastOrder"}]},
                   "response": CHAIN})
        self.mock({"http": {"route": "/orders", "httpMethod": "POST"},
                   "extract": {"gStore": {"lastOrder": "$.req.id"}},
                   "response": {"statusCode": 201}})
        st = self.subscribe("/st/orders")[0]
        r = self.d.request("POST", "/orders", body={"id": "o-7"},
                           headers={"X-Namespace": "sandbox"})
        self.assertEqual(r.status, 201, r.body)
        self.assertTrue(st.read_until("data: o-7\n\n"), st.buf)
        ev = st.buf.split("data: open\n\n", 1)[1]
        self.assertNotIn("event:", ev)  # no eventName: a "message"

    def test_namespaces_are_apart(self):
        for ns in ("na", "nb"):
            self.mock({"namespace": ns,
                       "sse": {"eventPath": "/st/ns", "onStoreChange": [
                           {"key": "flag", "eventName": "flag",
                            "data": {"ns": ns, "v": "$.gS.flag"}}]},
                       "response": CHAIN})
        a = self.subscribe("/st/ns", ns="na")[0]
        b = self.subscribe("/st/ns", ns="nb")[0]
        self.put_store("flag", "on", ns="na")
        self.assertTrue(a.read_until('data: {"ns":"na","v":"on"}'), a.buf)
        self.assertFalse(b.read_until("flag", timeout=0.5), b.buf)
        self.put_store("flag", "off", ns="nb")
        self.assertTrue(b.read_until('data: {"ns":"nb","v":"off"}'), b.buf)

    def test_event_is_journalled_out(self):
        self.mock({"sse": {"eventPath": "/st/j", "onStoreChange": [
            {"key": "jv", "eventName": "jv", "id": "j-1"}]},
            "response": CHAIN})
        st = self.subscribe("/st/j")[0]
        self.put_store("jv", {"a": 1})
        self.assertTrue(st.read_until('data: {"a":1}'), st.buf)
        self.assertIn("id: j-1\n", st.buf)
        r = self.d.get("/api/v1/requests?namespace=sandbox&limit=1000")
        outs = [e for e in r.json()["items"] if e["path"] == "/st/j"
                and e.get("direction") == "out" and e["method"] == "jv"]
        self.assertEqual(len(outs), 1)
        self.assertIn('data: {"a":1}', outs[0]["body"])

    def test_bad_rules_are_refused_naming_the_member(self):
        cases = [
            ({"onStoreChange": {"key": "x"}}, "sse.onStoreChange"),
            ({"onStoreChange": [{"eventName": "x"}]},
             "sse.onStoreChange[0].key"),
            ({"onStoreChange": [{"key": "a b"}]},
             "sse.onStoreChange[0].key"),
            ({"onStoreChange": [{"key": "k", "scope": "chain"}]},
             "sse.onStoreChange[0].scope"),
            ({"onStoreChange": [{"key": "k", "eventName": "a\nb"}]},
             "sse.onStoreChange[0].eventName"),
            ({"onStoreChange": [{"key": "k"}, {"key": "k", "colour": 1}]},
             "sse.onStoreChange[1].colour"),
            ({"onStoreChange": [{"key": "k"}] * 17}, "sse.onStoreChange"),
        ]
        for extra, field in cases:
            sec = {"eventPath": "/st/bad"}
            sec.update(extra)
            r = self.mock({"sse": sec, "response": CHAIN}, expect=400)
            self.assertEqual(r.json().get("field"), field, (extra, r.body))


if __name__ == "__main__":
    unittest.main()
