"""The SSE plugin against the real binary: curl -N reads the raw
text/event-stream (framing, templates, delays, loops, heartbeats,
Last-Event-ID), the `eventsource` npm client (WHATWG EventSource)
subscribes and reconnects by itself; conditions and headerConditions pick
the mock, a miss is a 404 with near misses, bad mocks are 400s naming the
field, SIGTERM ends open streams cleanly, a reader that stops reading is
dropped without hurting another subscriber, max_streams answers 503, and
the journal holds the subscription with protocol sse."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CURL = shutil.which("curl")
NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
CLIENT = os.path.join(NODE_DIR, "sse_client.mjs")


def config(**options):
    """The built-in plugins.conf with these [sse] options set."""
    text = harness.default_config()
    lines = "".join("%s = %s\n" % (k, v) for k, v in options.items())
    return text.replace("\n[sse]\n", "\n[sse]\n" + lines, 1)


def parse(text):
    """Blocks of a text/event-stream: each a dict of event, id, retry,
    data (lines joined with LF) or comment."""
    out = []
    for block in text.split("\n\n"):
        if not block:
            continue
        ev = {}
        data = []
        for line in block.split("\n"):
            if line.startswith(":"):
                ev["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
            else:
                ev[name] = value
        if data:
            ev["data"] = "\n".join(data)
        out.append(ev)
    return out


def events(text):
    return [e for e in parse(text) if "comment" not in e]


class SseBase(unittest.TestCase):
    options = {}
    workers = None

    @classmethod
    def setUpClass(cls):
        if CURL is None:
            raise unittest.SkipTest("curl missing")
        cls.d = harness.Doppel(config=config(**cls.options),
                               workers=cls.workers)
        cls.tmp = tempfile.mkdtemp(prefix="doppel-sse-")

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mock(self, body, expect=201):
        r = self.d.post("/api/v1/mocks", body)
        self.assertEqual(r.status, expect, r.body)
        return r

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.d.port, path)

    def curl(self, path, headers=None, max_time=10):
        """GET with curl -N: (exit code, status, headers dict, body)."""
        hfile = os.path.join(self.tmp, "h.txt")
        cmd = [CURL, "-sN", "--max-time", str(max_time), "-D", hfile]
        for k, v in (headers or {}).items():
            cmd += ["-H", "%s: %s" % (k, v)]
        p = subprocess.run(cmd + [self.url(path)], capture_output=True,
                           timeout=max_time + 10)
        with open(hfile, encoding="latin-1", newline="") as f:
            lines = f.read().split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0] else 0
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        return p.returncode, status, hdrs, p.stdout.decode("utf-8")


class SseStreams(SseBase):
    def test_framing_of_every_field(self):
        self.mock({"id": "frame", "sse": {"eventPath": "/sse/frame"},
                   "response": {"sseEventChain": {"events": [
                       {"eventName": "deploy", "id": "d-1", "retry": 2500,
                        "data": {"stage": "build", "n": [1, 2]}},
                       {"data": "one\ntwo\r\nthree\rfour"},
                       {"eventName": "note", "data": "trailing\n"},
                       {"data": ""},
                       {"data": 42},
                   ]}}})
        rc, status, h, body = self.curl("/sse/frame")
        # 0: the chunked body ended with its terminator (a clean end)
        self.assertEqual(rc, 0, body)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/event-stream")
        self.assertEqual(h["cache-control"], "no-cache")
        self.assertEqual(h["x-accel-buffering"], "no")
        self.assertEqual(h["x-doppel-mock-id"], "frame")
        self.assertEqual(body,
                         "event: deploy\nid: d-1\nretry: 2500\n"
                         "data: {\"stage\":\"build\",\"n\":[1,2]}\n\n"
                         "id: 2\ndata: one\ndata: two\ndata: three\n"
                         "data: four\n\n"
                         "event: note\nid: 3\ndata: trailing\ndata: \n\n"
                         "id: 4\ndata: \n\n"
                         "id: 5\ndata: 42\n\n")

    def test_templates_from_path_query_headers_and_stores(self):
        r = self.d.request("PUT", "/api/v1/stores/global/region",
                           body={"name": "eu-west"})
        self.assertEqual(r.status, 200, r.body)
        self.mock({"id": "tmpl", "sse": {"eventPath": "/sse/orders/:id"},
                   "response": {"sseEventChain": {"events": [
                       {"eventName": "order", "id": "$.pathParam.id",
                        "data": {"order": "$.pathParam.id",
                                 "page": "$.queryParam.page",
                                 "who": "$.reqHeader.X-User",
                                 "region": "$.gS.region.name",
                                 "all": "$.req"}},
                       {"data": "hello $.reqHeader.X-User from $.gS.region.name"},
                   ]}}})
        rc, status, _, body = self.curl("/sse/orders/o-17?page=3&q=a%20b",
                                        headers={"X-User": "ann"})
        self.assertEqual((rc, status), (0, 200), body)
        ev = events(body)
        self.assertEqual(ev[0]["id"], "o-17")
        self.assertEqual(json.loads(ev[0]["data"]), {
            "order": "o-17", "page": "3", "who": "ann", "region": "eu-west",
            "all": {"page": "3", "q": "a b"}})
        self.assertEqual(ev[1]["data"], "hello ann from eu-west")
        # the journal has the subscription, protocol sse
        j = self.d.get("/api/v1/requests?namespace=sandbox&limit=1000").json()
        mine = [e for e in j["items"] if e.get("mockId") == "tmpl" and
                e["path"] == "/sse/orders/o-17"]
        self.assertEqual(len(mine), 1, j)
        self.assertEqual(mine[0]["protocol"], "sse")
        self.assertEqual(mine[0]["path"], "/sse/orders/o-17")
        self.assertEqual(mine[0]["method"], "GET")
        self.assertEqual(mine[0]["query"], {"page": "3", "q": "a b"})

    def test_delays_keep_the_chain_order(self):
        self.mock({"id": "delays", "sse": {"eventPath": "/sse/delays"},
                   "response": {"delay": 50, "sseEventChain": {"events": [
                       {"data": "a", "delay": 150},
                       {"data": "b"},
                       {"data": "c", "delay": 80},
                       {"data": "d", "delay": 10},
                   ]}}})
        rc, _, _, body = self.curl("/sse/delays")
        self.assertEqual(rc, 0)
        self.assertEqual([e["data"] for e in events(body)],
                         ["a", "b", "c", "d"])

    def test_loop_until_max_loops(self):
        self.mock({"id": "loop", "sse": {"eventPath": "/sse/loop"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "x"}, {"data": "y"}],
                       "loop": True, "loopDelay": 100, "maxLoops": 3}}})
        rc, _, _, body = self.curl("/sse/loop")
        self.assertEqual(rc, 0)
        ev = events(body)
        self.assertEqual([e["data"] for e in ev], ["x", "y"] * 3)
        # the ids are positions in the chain, the same on every pass
        self.assertEqual([e["id"] for e in ev], ["1", "2"] * 3)

    def test_max_time_ends_an_endless_loop(self):
        self.mock({"id": "maxtime", "sse": {"eventPath": "/sse/maxtime"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "tick"}], "loop": True,
                       "loopDelay": 100, "maxLoops": 0, "maxTime": 1}}})
        t0 = time.time()
        rc, _, _, body = self.curl("/sse/maxtime", max_time=10)
        self.assertEqual(rc, 0, "the stream must end cleanly at maxTime")
        self.assertLess(time.time() - t0, 5)
        n = len(events(body))
        self.assertGreater(n, 2)
        self.assertLess(n, 20)

    def test_heartbeat_comments(self):
        self.mock({"id": "hb", "sse": {"eventPath": "/sse/hb"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "late", "delay": 550}],
                       "heartbeat": 100}}})
        rc, _, _, body = self.curl("/sse/hb")
        self.assertEqual(rc, 0)
        blocks = parse(body)
        beats = [b for b in blocks if b.get("comment") == "heartbeat"]
        self.assertGreaterEqual(len(beats), 3, body)
        self.assertIn(": heartbeat\n\n", body)
        self.assertEqual(blocks[-1].get("data"), "late")

    def test_last_event_id_resumes(self):
        self.mock({"id": "resume", "sse": {"eventPath": "/sse/resume"},
                   "response": {"sseEventChain": {"events": [
                       {"data": "a", "id": "first"}, {"data": "b"},
                       {"data": "c"}, {"data": "d"}]}}})
        _, _, _, body = self.curl("/sse/resume",
                                  headers={"Last-Event-ID": "first"})
        self.assertEqual([e["data"] for e in events(body)], ["b", "c", "d"])
        _, _, _, body = self.curl("/sse/resume",
                                  headers={"Last-Event-ID": "3"})
        self.assertEqual([e["data"] for e in events(body)], ["d"])
        # unknown: from the start
        _, _, _, body = self.curl("/sse/resume",
                                  headers={"Last-Event-ID": "zzz"})
        self.assertEqual([e["data"] for e in events(body)],
                         ["a", "b", "c", "d"])
        # after the last event of a chain that does not loop: 204, which
        # tells an EventSource to stop reconnecting
        rc, status, _, body = self.curl("/sse/resume",
                                        headers={"Last-Event-ID": "4"})
        self.assertEqual((rc, status, body), (0, 204, ""))

    def test_conditions_and_header_conditions_choose_the_mock(self):
        base = {"eventPath": "/sse/feed"}
        self.mock({"id": "feed-eu", "priority": 2,
                   "sse": dict(base, conditions=[
                       {"path": "region", "assertAction": "equals",
                        "value": "eu"}]),
                   "response": {"sseEventChain": {"events": [{"data": "eu"}]}}})
        self.mock({"id": "feed-vip", "priority": 1,
                   "sse": dict(base, headerConditions=[
                       {"path": "X-Tier", "value": "vip"}]),
                   "response": {"sseEventChain": {"events": [{"data": "vip"}]}}})
        _, _, h, body = self.curl("/sse/feed?region=eu")
        self.assertEqual((h["x-doppel-mock-id"], events(body)[0]["data"]),
                         ("feed-eu", "eu"))
        _, _, h, body = self.curl("/sse/feed?region=us",
                                  headers={"X-Tier": "vip"})
        self.assertEqual((h["x-doppel-mock-id"], events(body)[0]["data"]),
                         ("feed-vip", "vip"))

    def test_a_miss_is_404_with_near_misses(self):
        self.mock({"id": "only-prod", "sse": {
            "eventPath": "/sse/miss",
            "conditions": [{"path": "env", "value": "prod"}]},
            "response": {"sseEventChain": {"events": [{"data": 1}]}}})
        rc, status, h, body = self.curl("/sse/miss?env=dev")
        self.assertEqual(status, 404, body)
        self.assertEqual(h["x-doppel-match"], "miss")
        self.assertTrue(h["content-type"].startswith("application/json"))
        j = json.loads(body)
        self.assertEqual(j["request"]["protocol"], "sse")
        near = [m for m in j["nearMisses"] if m["mockId"] == "only-prod"]
        self.assertEqual(len(near), 1, j)
        self.assertIn("prod", json.dumps(near[0]["failed"]))

    def test_accept_event_stream_on_other_paths(self):
        # while every sse mock names its eventPath, a GET elsewhere stays
        # with the HTTP plugin, even asking for text/event-stream: an http
        # mock serving a static stream keeps working
        self.mock({"id": "http-stream", "http": {"route": "/static/stream",
                                                 "httpMethod": "GET"},
                   "response": {"headers": {"Content-Type":
                                            "text/event-stream"},
                                "payload": "data: static\n\n"}})
        _, status, h, body = self.curl(
            "/static/stream", headers={"Accept": "text/event-stream"})
        self.assertEqual((status, body), (200, "data: static\n\n"))
        self.assertEqual(h["x-doppel-mock-id"], "http-stream")
        # an sse mock without eventPath answers every such GET (MCP's
        # endpoint excepted: option exclude)
        self.mock({"id": "any-path", "namespace": "any-ns",
                   "sse": {"conditions": [{"path": "topic",
                                           "value": "news"}]},
                   "response": {"sseEventChain": {"events": [
                       {"data": "$.req.topic"}]}}})
        _, status, _, body = self.curl(
            "/anything/here?topic=news",
            headers={"Accept": "text/event-stream", "X-Namespace": "any-ns"})
        self.assertEqual((status, events(body)[0]["data"]), (200, "news"))
        _, status, _, body = self.curl(
            "/anything/here?topic=sport",
            headers={"Accept": "text/event-stream", "X-Namespace": "any-ns"})
        self.assertEqual(status, 404, body)
        j = json.loads(body)
        self.assertEqual(j["request"]["protocol"], "sse")
        self.assertIn("any-path", [m["mockId"] for m in j["nearMisses"]])
        r = self.d.get("/mcp", headers={"Accept": "text/event-stream"})
        self.assertEqual(r.status, 405, r.body)

    def test_invalid_mocks_are_refused_naming_the_field(self):
        chain = {"events": [{"data": 1}]}
        cases = [
            ({"eventPath": "/x"}, dict(chain, loopDelay=50),
             "response.sseEventChain.loopDelay"),
            ({"eventPath": "/x"}, {"events": [{"data": 1, "delay": -5}]},
             "response.sseEventChain.events[0].delay"),
            ({"eventPath": "/x"}, {"events": {"data": 1}},
             "response.sseEventChain.events"),
            ({"eventPath": "/x"}, {"events": [{"id": "a"}]},
             "response.sseEventChain.events[0].data"),
            ({"eventPath": "/x"}, dict(chain, heartbeat=-1),
             "response.sseEventChain.heartbeat"),
            ({"eventPath": "/x"}, dict(chain, maxLoops="3"),
             "response.sseEventChain.maxLoops"),
            ({"eventPath": "/x"}, None, "response.sseEventChain"),
            ({"eventPath": "x"}, chain, "sse.eventPath"),
            ({"eventPath": "/x", "bogus": 1}, chain, "sse.bogus"),
            ({"eventPath": "/x", "conditions": {"a": 1}}, chain,
             "sse.conditions"),
            ({"eventPath": "/x", "eventName": 5}, chain, "sse.eventName"),
        ]
        # an answer of oneOf other than the first is named as such
        r = self.d.post("/api/v1/mocks", {
            "id": "bad-oneof", "sse": {"eventPath": "/x"},
            "oneOf": {"order": "order", "responses": [
                {"sseEventChain": chain},
                {"sseEventChain": {"events": [{"data": 1, "retry": -1}]}}]}})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["field"],
                         "oneOf.responses[1].sseEventChain.events[0].retry")
        # a proxy cannot answer a stream
        r = self.d.post("/api/v1/mocks", {
            "id": "bad-proxy", "sse": {"eventPath": "/x"},
            "proxy": {"target": "http://127.0.0.1:9"}})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("not proxied", r.json()["error"])
        for i, (sec, ch, field) in enumerate(cases):
            resp = {"sseEventChain": ch} if ch is not None else {}
            r = self.d.post("/api/v1/mocks", {"id": "bad%d" % i, "sse": sec,
                                              "response": resp})
            self.assertEqual(r.status, 400, (field, r.body))
            self.assertEqual(r.json()["field"], field, r.body)

    def test_namespaces_by_prefix_and_header(self):
        r = self.d.post("/api/v1/mocks", {
            "id": "ns-a", "namespace": "team-a",
            "sse": {"eventPath": "/sse/ns"},
            "response": {"sseEventChain": {"events": [{"data": "team-a"}]}}})
        self.assertEqual(r.status, 201, r.body)
        _, status, _, body = self.curl("/stubs/team-a/sse/ns")
        self.assertEqual((status, events(body)[0]["data"]), (200, "team-a"))
        _, status, _, body = self.curl("/sse/ns",
                                       headers={"X-Namespace": "team-a"})
        self.assertEqual((status, events(body)[0]["data"]), (200, "team-a"))
        _, status, _, _ = self.curl("/sse/ns")  # sandbox has none
        self.assertEqual(status, 404)

    def test_template_path_event_carries_the_rendered_file(self):
        r = self.d.post("/api/v1/templates", {
            "name": "sse-status.json",
            "content": '{"status": "up", "user": "$.queryParam.user"}'})
        self.assertEqual(r.status, 201, r.body)
        self.mock({"id": "tfile", "sse": {"eventPath": "/sse/tfile"},
                   "response": {"payloadTemplatePath": "sse-status.json",
                                "sseEventChain": {"events": [
                                    {"eventName": "status",
                                     "templatePath": "sse-status.json"},
                                    {"data": "after"}]}}})
        _, status, _, body = self.curl("/sse/tfile?user=zoe")
        self.assertEqual(status, 200, body)
        ev = events(body)
        self.assertEqual(ev[0]["event"], "status")
        self.assertEqual(json.loads(ev[0]["data"]),
                         {"status": "up", "user": "zoe"})
        self.assertEqual(ev[1]["data"], "after")
        # a templatePath naming another file than the payload's: refused
        r = self.d.post("/api/v1/mocks", {
            "id": "tfile-bad", "sse": {"eventPath": "/sse/tfile2"},
            "response": {"payloadTemplatePath": "sse-status.json",
                         "sseEventChain": {"events": [
                             {"templatePath": "other.json"}]}}})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["field"],
                         "response.sseEventChain.events[0].templatePath")

    def test_plain_answer_when_the_mock_says_so(self):
        self.mock({"id": "denied", "sse": {"eventPath": "/sse/denied"},
                   "response": {"statusCode": 401,
                                "payload": {"error": "no token"}}})
        _, status, h, body = self.curl("/sse/denied")
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body), {"error": "no token"})

    def test_metrics_count_streams_and_events(self):
        def counters():
            out = {}
            for ln in self.d.get("/metrics").body.decode().splitlines():
                if ln.startswith("doppel_plugin_") and 'plugin="sse"' in ln:
                    name, _, v = ln.rpartition(" ")
                    out[name] = float(v)
            return out
        self.mock({"id": "metrics", "sse": {"eventPath": "/sse/metrics"},
                   "response": {"sseEventChain": {"events": [
                       {"data": 1}, {"data": 2}, {"data": 3}]}}})
        before = counters()
        self.curl("/sse/metrics")
        after = counters()

        def grew(name):
            return after.get(name, 0) - before.get(name, 0)
        self.assertEqual(grew('doppel_plugin_streams_opened_total{plugin="sse"}'),
                         1, after)
        self.assertEqual(grew('doppel_plugin_events_total{plugin="sse"}'), 3,
                         after)
        self.assertEqual(grew('doppel_plugin_streams_closed_total'
                              '{plugin="sse",reason="done"}'), 1, after)

    def test_a_client_that_leaves_a_silent_stream_is_noticed(self):
        self.mock({"id": "silent", "sse": {"eventPath": "/sse/silent"},
                   "response": {"sseEventChain": {"events": [
                       {"data": "first"}, {"data": "late", "delay": 60000}]}}})

        def gone():
            for ln in self.d.get("/metrics").body.decode().splitlines():
                if ln.startswith('doppel_plugin_streams_closed_total{plugin='
                                 '"sse",reason="client_gone"}'):
                    return float(ln.rpartition(" ")[2])
            return 0.0
        before = gone()
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.sendall(b"GET /sse/silent HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"data: first" not in got:
            got += s.recv(4096)
        s.close()
        # no write is due for a minute: the once-a-second probe notices
        deadline = time.time() + 5
        while time.time() < deadline and gone() == before:
            time.sleep(0.1)
        self.assertEqual(gone(), before + 1)

    def test_eventsource_client_reconnects_with_last_event_id(self):
        if NODE is None or not os.path.isdir(
                os.path.join(NODE_DIR, "node_modules", "eventsource")):
            self.skipTest("node or tests/node/node_modules/eventsource missing")
        # maxTime cuts the first connection after the second event; the
        # client reconnects (retry 100 ms) with Last-Event-ID and gets the
        # rest; after the last event the server answers 204 and the client
        # stops: every event exactly once, in order.
        self.mock({"id": "es", "sse": {"eventPath": "/sse/es",
                                       "headerConditions": {"X-Client": "es"}},
                   "response": {"sseEventChain": {"maxTime": 1, "events": [
                       {"eventName": "step", "data": {"n": 1}, "retry": 100},
                       {"eventName": "step", "data": {"n": 2}, "delay": 300},
                       {"eventName": "step", "data": {"n": 3}, "delay": 900},
                       {"data": "done", "id": "last"},
                   ]}}})
        p = subprocess.run([NODE, CLIENT, self.url("/sse/es"), "step", "100",
                            "15000", json.dumps({"X-Client": "es"})],
                           capture_output=True, timeout=60, cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json.loads(p.stdout)
        self.assertFalse(out["timedOut"], out)
        self.assertTrue(out["closed"], out)
        self.assertEqual([(e["type"], e["data"], e["lastEventId"])
                          for e in out["events"]],
                         [("step", '{"n":1}', "1"), ("step", '{"n":2}', "2"),
                          ("step", '{"n":3}', "3"),
                          ("message", "done", "last")])
        self.assertGreaterEqual(out["opens"], 2, out)


class SseDrain(SseBase):
    def test_sigterm_ends_open_streams_cleanly(self):
        self.mock({"id": "long", "sse": {"eventPath": "/sse/long"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "tick"}], "loop": True,
                       "loopDelay": 100, "maxLoops": 0, "heartbeat": 1000}}})
        procs = [subprocess.Popen([CURL, "-sN", "--max-time", "30",
                                   self.url("/sse/long")],
                                  stdout=subprocess.PIPE)
                 for _ in range(3)]
        time.sleep(0.8)
        code = self.d.stop(signal.SIGTERM, timeout=20)
        self.assertEqual(code, 0, self.d.log())
        for p in procs:
            out, _ = p.communicate(timeout=20)
            # curl exits 0 only when the chunked body ended properly
            self.assertEqual(p.returncode, 0, out[-200:])
            self.assertIn(b"data: tick\n\n", out)
        # one line per worker that had some
        ended = re.findall(r"draining: ending (\d+) event stream", self.d.log())
        self.assertEqual(sum(int(n) for n in ended), 3, self.d.log())


class SseSlowReader(SseBase):
    def test_a_reader_that_stops_is_dropped_alone(self):
        big = "x" * 100000
        self.mock({"id": "flood", "sse": {"eventPath": "/sse/flood"},
                   "response": {"sseEventChain": {
                       "events": [{"data": big}] * 8, "loop": True,
                       "loopDelay": 100, "maxLoops": 0, "maxTime": 30}}})
        self.mock({"id": "calm", "sse": {"eventPath": "/sse/calm"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "ok"}], "loop": True,
                       "loopDelay": 100, "maxLoops": 0, "maxTime": 8}}})
        calm = subprocess.Popen([CURL, "-sN", "--max-time", "20",
                                 self.url("/sse/calm")],
                                stdout=subprocess.PIPE)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.d.port))
        s.sendall(b"GET /sse/flood HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            deadline = time.time() + 20
            while time.time() < deadline and "slow_reader" not in self.d.log():
                time.sleep(0.1)
            self.assertIn("slow_reader", self.d.log())
        finally:
            s.close()
        out, _ = calm.communicate(timeout=30)
        self.assertEqual(calm.returncode, 0)
        # the calm subscriber kept getting its events for the whole 8 s
        self.assertGreater(out.count(b"data: ok\n\n"), 30)
        self.assertEqual(self.d.get("/health").status, 200)


class SseMaxStreams(SseBase):
    options = {"max_streams": 2}
    workers = 1

    def test_past_max_streams_503(self):
        self.mock({"id": "cap", "sse": {"eventPath": "/sse/cap"},
                   "response": {"sseEventChain": {
                       "events": [{"data": "t"}], "loop": True,
                       "loopDelay": 100, "maxLoops": 0, "maxTime": 4}}})
        procs = [subprocess.Popen([CURL, "-sN", "--max-time", "10",
                                   self.url("/sse/cap")],
                                  stdout=subprocess.PIPE) for _ in range(2)]
        time.sleep(0.6)
        rc, status, h, body = self.curl("/sse/cap", max_time=5)
        self.assertEqual(status, 503, body)
        self.assertIn("max_streams", json.loads(body)["error"])
        for p in procs:
            p.communicate(timeout=20)
            self.assertEqual(p.returncode, 0)
        # the streams ended: room again
        _, status, _, _ = self.curl("/sse/cap", max_time=10)
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
