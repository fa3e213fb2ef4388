"""The journal of streams: what doppel sends on a WebSocket connection or
an event stream is journalled beside what it received ("direction":
"out" and "in", the same "connection"), in the order it happened; an SSE
stream's end is journalled with its reason; the journal's memory bound
(journal_memory) holds under a flood of sent messages, the oldest entries
giving way; journal_sent = false turns the sent messages' entries off."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ws_helpers as wh  # noqa: E402


def set_options(text, section, options):
    lines = "".join("%s = %s\n" % (k, v) for k, v in options.items())
    head = "\n[%s]\n" % section
    assert head in text, section
    return text.replace(head, head + lines, 1)


def journal(d, ns="sandbox"):
    r = d.get("/api/v1/requests?namespace=%s&limit=1000" % ns)
    assert r.status == 200, r
    return r.json()


def conversation(d, conn, ns="sandbox"):
    """The entries of one connection (?connection=), oldest first."""
    r = d.get("/api/v1/requests?namespace=%s&connection=%s&limit=1000"
              % (ns, conn))
    assert r.status == 200, r
    items = r.json()["items"]
    assert all(e.get("connection") == conn for e in items), items
    return list(reversed(items))


def wait_for(pred, timeout=5.0):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(0.05)


# the last chunk of a chunked body (a header ending in "0" is not it)
CHUNKED_END = "\r\n0\r\n\r\n"


def sse_read(d, path, until, timeout=5.0, headers=""):
    """Opens a subscription with a raw socket and reads until `until` is in
    what came; returns (socket, text)."""
    s = socket.create_connection((d.host, d.port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Accept: text/event-stream\r\n%s\r\n" % (path, headers))
              .encode())
    buf = b""
    end = time.time() + timeout
    while until.encode() not in buf and time.time() < end:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return s, buf.decode("utf-8", "replace")


class WsJournal(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = wh.WsDoppel()
        d = cls.d
        d.mock({"path": "/j/chat", "event": "connect"},
               {"payload": {"welcome": True}})
        d.mock({"path": "/j/chat", "event": "order"},
               {"payload": {"ok": "$.req.item"},
                "messages": [{"data": "second", "delay": 50}]})
        d.mock({"path": "/j/chat", "event": "close"}, {})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_one_connection_in_and_out_in_order(self):
        d = self.d
        raw = wh.RawWs(d, "/j/chat")
        self.addCleanup(raw.close)
        self.assertEqual(raw.status, 101, raw.head)
        self.assertEqual(json.loads(raw.read_data()[1]), {"welcome": True})
        raw.text(json.dumps({"event": "order", "item": "tea"}))
        self.assertEqual(json.loads(raw.read_data()[1]), {"ok": "tea"})
        self.assertEqual(raw.read_data()[1], b"second")
        raw.send(wh.frame(0x8, b"\x03\xe8bye"))
        self.assertEqual(raw.read_close(), (1000, "bye"))
        conns = [e["connection"] for e in journal(d)["items"]
                 if e.get("protocol") == "socket" and "connection" in e]
        self.assertTrue(conns)
        conn = conns[0]

        def complete():
            c = conversation(d, conn)
            return c if len(c) >= 6 else None
        conv = wait_for(complete)
        self.assertIsNotNone(conv, conversation(d, conn))
        got = [(e["direction"], e["method"]) for e in conv]
        self.assertEqual(got, [("in", "connect"), ("out", "message"),
                               ("in", "order"), ("out", "message"),
                               ("out", "message"), ("in", "close")])
        self.assertEqual(json.loads(conv[1]["body"]), {"welcome": True})
        self.assertEqual(json.loads(conv[3]["body"]), {"ok": "tea"})
        self.assertEqual(conv[4]["body"], "second")
        self.assertEqual(json.loads(conv[5]["body"])["code"], 1000)
        for e in conv:
            self.assertEqual(e["protocol"], "socket")
            self.assertEqual(e["path"], "/j/chat")
            self.assertEqual(e["namespace"], "sandbox")
        self.assertEqual(conv[1]["status"], 0)
        # old readers: a plain request's entry has neither member
        d.get("/api/v1/requests")
        plain = [e for e in journal(d)["items"] if e["protocol"] == "http"]
        for e in plain:
            self.assertNotIn("direction", e)
            self.assertNotIn("connection", e)

    def test_sent_message_names_its_event(self):
        d = self.d
        d.mock({"path": "/j/ev", "event": "ping"},
               {"payload": {"event": "pong", "n": 1}})
        raw = wh.RawWs(d, "/j/ev")
        self.addCleanup(raw.close)
        raw.text('{"event": "ping"}')
        self.assertEqual(json.loads(raw.read_data()[1])["event"], "pong")
        outs = wait_for(lambda: [e for e in journal(d)["items"]
                                 if e.get("direction") == "out"
                                 and e["path"] == "/j/ev"])
        self.assertEqual(outs[0]["method"], "pong")

    def test_action_send_is_journalled_out(self):
        d = self.d
        raw = wh.RawWs(d, "/j/chat")
        self.addCleanup(raw.close)
        raw.read_data()  # the welcome
        r = d.get("/api/v1/protocols/socket/actions/connections"
                  "?namespace=sandbox&path=/j/chat")
        ids = [c["id"] for c in r.json()["connections"]]
        self.assertEqual(len(ids), 1, r.json())
        r = d.post("/api/v1/protocols/socket/actions/send?namespace=sandbox",
                   {"connection": ids[0], "data": {"pushed": 7}})
        self.assertEqual(r.json(), {"sent": 1})
        self.assertEqual(json.loads(raw.read_data()[1]), {"pushed": 7})
        conv = wait_for(lambda: [e for e in conversation(d, ids[0])
                                 if e.get("direction") == "out"
                                 and "pushed" in e["body"]])
        self.assertEqual(json.loads(conv[0]["body"]), {"pushed": 7})


class JournalConnectionFilter(unittest.TestCase):

    def test_filter_keeps_one_connection_and_checks_its_value(self):
        with wh.WsDoppel() as d:
            d.mock({"path": "/j/f"}, {"payload": "$.req"})
            a, b = wh.RawWs(d, "/j/f"), wh.RawWs(d, "/j/f")
            self.addCleanup(a.close)
            self.addCleanup(b.close)
            for raw, t in ((a, "from a"), (b, "from b"), (a, "again a")):
                raw.text(t)
                self.assertEqual(raw.read_data()[1], t.encode())
            ids = {e["connection"] for e in journal(d)["items"]
                   if "connection" in e}
            self.assertEqual(len(ids), 2)
            convs = {c: conversation(d, c) for c in ids}
            self.assertEqual(sorted(len(v) for v in convs.values()), [2, 4])
            for c, conv in convs.items():
                self.assertEqual([e["direction"] for e in conv],
                                 ["in", "out"] * (len(conv) // 2))
            r = d.get("/api/v1/requests?connection=%s" % sorted(ids)[0])
            self.assertEqual(r.status, 200)  # every namespace
            r = d.get("/api/v1/requests?connection=nope")
            self.assertEqual(r.json()["total"], 0)
            r = d.get("/api/v1/requests?connection=" + "x" * 65)
            self.assertEqual(r.status, 400)
            self.assertEqual(r.json()["field"], "connection")


class WsJournalOff(unittest.TestCase):

    def test_journal_sent_false_keeps_only_what_came_in(self):
        with wh.WsDoppel(options={"journal_sent": "false"}) as d:
            d.mock({"path": "/j/off"}, {"payload": "answer"})
            raw = wh.RawWs(d, "/j/off")
            self.addCleanup(raw.close)
            raw.text("hello")
            self.assertEqual(raw.read_data()[1], b"answer")
            items = [e for e in journal(d)["items"]
                     if e["protocol"] == "socket"]
            self.assertEqual([e.get("direction") for e in items], ["in"])


class SseJournal(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def mock(self, body):
        r = self.d.post("/api/v1/mocks", body)
        self.assertEqual(r.status, 201, r.body)

    def test_events_and_the_end_of_a_stream(self):
        d = self.d
        self.mock({"sse": {"eventPath": "/js/done"},
                   "response": {"sseEventChain": {"events": [
                       {"eventName": "a", "data": {"n": 1}},
                       {"data": "two"}]}}})
        s, text = sse_read(d, "/js/done", CHUNKED_END)
        s.close()
        self.assertIn("data: two", text)
        sub = [e for e in journal(d)["items"] if e["path"] == "/js/done"
               and e.get("direction") == "in"]
        self.assertEqual(len(sub), 1)
        conn = sub[0]["connection"]
        conv = wait_for(lambda: (lambda c: c if len(c) == 4 else None)(
            conversation(d, conn)))
        self.assertIsNotNone(conv, conversation(d, conn))
        self.assertEqual([(e.get("direction"), e["method"]) for e in conv],
                         [("in", "GET"), ("out", "a"), ("out", "message"),
                          (None, "end")])
        self.assertEqual(conv[1]["body"], 'event: a\nid: 1\ndata: {"n":1}\n\n')
        self.assertEqual(conv[3]["reason"], "done")
        self.assertTrue(all(e["protocol"] == "sse" for e in conv))

    def test_published_event_and_a_client_that_left(self):
        d = self.d
        self.mock({"sse": {"eventPath": "/js/pub"},
                   "response": {"sseEventChain": {"events": [
                       {"data": "hello"},
                       {"data": "late", "delay": 3600000}]}}})
        s, text = sse_read(d, "/js/pub", "hello")
        r = d.post("/api/v1/protocols/sse/actions/publish?namespace=sandbox",
                   {"path": "/js/pub", "event": "news", "data": {"x": 1}})
        self.assertEqual(r.json()["subscribers"], 1)
        buf = text
        while "news" not in buf:
            buf += s.recv(4096).decode()
        s.close()
        conn = [e for e in journal(d)["items"] if e["path"] == "/js/pub"
                and e.get("direction") == "in"][0]["connection"]
        conv = wait_for(lambda: (lambda c: c if len(c) == 4 else None)(
            conversation(d, conn)), timeout=5)
        self.assertIsNotNone(conv, conversation(d, conn))
        self.assertEqual([e["method"] for e in conv],
                         ["GET", "message", "news", "end"])
        self.assertIn('data: {"x":1}', conv[2]["body"])
        self.assertEqual(conv[3]["reason"], "client_gone")

    def test_max_time_end(self):
        d = self.d
        self.mock({"sse": {"eventPath": "/js/mt"},
                   "response": {"sseEventChain": {
                       "maxTime": 1, "loop": True, "loopDelay": 200,
                       "events": [{"data": "tick"}]}}})
        s, text = sse_read(d, "/js/mt", CHUNKED_END, timeout=5)
        s.close()
        ends = wait_for(lambda: [e for e in journal(d)["items"]
                                 if e["path"] == "/js/mt"
                                 and e["method"] == "end"])
        self.assertIn(CHUNKED_END, text)
        self.assertEqual(ends[0]["reason"], "max_time")


class JournalFlood(unittest.TestCase):
    """journal_memory bounds the journal however much a stream sends."""

    def test_bound_holds_under_a_flood_of_sent_messages(self):
        cfg = set_options(harness.default_config(), "server",
                          {"journal_memory": "1m"})
        d = harness.Doppel(config=cfg)
        with d:
            r = d.post("/api/v1/mocks",
                       {"socket": {"path": "/j/flood"},
                        "response": {"payload": "p" * 1000,
                                     "messages": [{"data": "q" * 1000}] * 9}})
            self.assertEqual(r.status, 201, r.body)
            raw = wh.RawWs(d, "/j/flood")
            self.addCleanup(raw.close)
            # 300 messages in, 3,000 answers of 1,000 bytes out: 3 MB of
            # bodies into a journal of 1 MiB
            for i in range(300):
                raw.text("m%d" % i)
            for _ in range(3000):
                raw.read_data()
            j = journal(d)
            # every sent entry costs more than its 1,000-byte body, so the
            # bound keeps fewer than 1 MiB / 1,000 of them
            self.assertLess(j["total"], 1049)
            self.assertGreater(j["total"], 100)
            items = j["items"]
            # the newest are kept, the oldest gave way
            self.assertEqual(items[0].get("direction"), "out")
            self.assertEqual(items[0]["body"], "q" * 1000)
            ins = [e["body"] for e in items if e.get("direction") == "in"]
            self.assertNotIn('"m0"', ins)
            self.assertIn('"m299"', ins)
            self.assertEqual(d.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()
