"""socket.io (Engine.IO v4 + Socket.IO v5) in the WebSocket plugin, driven
by socket.io-client 4.8.4 (tests/node/socketio/sio_scenario.mjs) and by
raw HTTP for what a library will not send: the default transports
(polling, then the upgrade), websocket only, polling only, namespaces
accepted and refused, events answered (by their conditions, with acks,
with state across events), rooms and broadcasts over two workers, the
connect and disconnect events, the send and close actions, a server-side
DISCONNECT, reconnection after a dropped connection, heartbeats, many
polling requests spread over both workers, and malformed requests."""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ws_helpers as wh  # noqa: E402

SCENARIO = os.path.join(wh.NODE_DIR, "socketio", "sio_scenario.mjs")


def node_ready():
    return wh.NODE is not None and os.path.isdir(
        os.path.join(wh.NODE_DIR, "node_modules", "socket.io-client"))


class SioDoppel(wh.WsDoppel):
    def scenario(self, steps, timeout=90):
        plan = {"base": "http://%s:%d" % (self.host, self.port),
                "token": harness.ADMIN_TOKEN, "steps": steps}
        p = subprocess.run([wh.NODE, SCENARIO], input=json.dumps(plan).encode(),
                           capture_output=True, timeout=timeout,
                           cwd=wh.NODE_DIR)
        if p.returncode != 0:
            raise AssertionError("sio_scenario.mjs failed:\n%s\nlog:\n%s"
                                 % (p.stderr.decode("utf-8", "replace"),
                                    self.log()[-3000:]))
        return json.loads(p.stdout.decode())

    def metric(self, name):
        text = self.get("/metrics").body.decode()
        return sum(float(ln.split()[-1]) for ln in text.splitlines()
                   if ln.startswith("doppel_plugin_%s_total" % name))

    # ---- raw Engine.IO over plain HTTP, one connection per request -----
    def eio(self, method, query, body=None, headers=None):
        return self.request(method, "/socket.io/?" + query, body=body,
                            headers=headers)

    def eio_open(self, headers=None):
        r = self.eio("GET", "EIO=4&transport=polling", headers=headers)
        assert r.status == 200, r
        body = r.body.decode()
        assert body[0] == "0", body
        return json.loads(body[1:])["sid"]


def events(client):
    return [(e["event"], e["args"]) for e in client["events"]]


class SioMocks(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules/"
                                    "socket.io-client missing")
        cls.d = SioDoppel(options={"origins": "siorigin=https://good.example"},
                          workers=2)
        d = cls.d
        # the main namespace "/": mocks without namespace (and without path)
        d.mock({"event": "hello"}, {"payload": {"hi": "$.req.name"}})
        d.mock({"namespace": "/chat", "event": "greet",
                "conditions": [{"path": "lang", "assertAction": "equals",
                                "value": "fr"}]},
               {"payload": {"text": "bonjour $.req.name"}})
        d.mock({"namespace": "/chat", "event": "greet",
                "conditions": [{"path": "lang", "assertAction": "equals",
                                "value": "en"}]},
               {"payload": {"text": "hello $.req.name"}})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_default_transports_poll_then_upgrade(self):
        # several clients, so that some upgrades reach the worker that does
        # not own their session
        more = ["u%d" % i for i in range(5)]
        steps = [{"open": n} for n in more]
        steps += [{"waitTransport": n, "name": "websocket"} for n in more]
        steps += [{"emit": n, "event": "hello", "args": [{"name": n}]}
                  for n in more]
        steps += [{"wait": n, "count": 1} for n in more]
        out = self.d.scenario(steps)
        self.assertIsNone(out["failed"], out)
        for n in more:
            self.assertEqual(events(out["clients"][n]),
                             [("hello", [{"hi": n}])])
        out = self.d.scenario([
            {"open": "a"},
            {"emit": "a", "event": "hello", "args": [{"name": "Ann"}]},
            {"wait": "a", "count": 1},
            {"waitTransport": "a", "name": "websocket"},
            {"emit": "a", "event": "hello", "args": [{"name": "Bo"}]},
            {"wait": "a", "count": 2},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        self.assertEqual(a["connects"], 1)
        self.assertEqual(a["transports"], ["websocket"])
        self.assertEqual(events(a), [("hello", [{"hi": "Ann"}]),
                                     ("hello", [{"hi": "Bo"}])])

    def test_websocket_only(self):
        out = self.d.scenario([
            {"open": "a", "transports": ["websocket"]},
            {"emit": "a", "event": "hello", "args": [{"name": "Wes"}]},
            {"wait": "a", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        self.assertEqual(a["transport"], "websocket")
        self.assertEqual(a["transports"], [])
        self.assertEqual(events(a), [("hello", [{"hi": "Wes"}])])

    def test_polling_only(self):
        out = self.d.scenario([
            {"open": "a", "transports": ["polling"]},
            {"emit": "a", "event": "hello", "args": [{"name": "Pol"}]},
            {"wait": "a", "count": 1},
            {"sleep": 300},
            {"emit": "a", "event": "hello", "args": [{"name": "Ly"}]},
            {"wait": "a", "count": 2},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        self.assertEqual(a["transport"], "polling")
        self.assertEqual(events(a), [("hello", [{"hi": "Pol"}]),
                                     ("hello", [{"hi": "Ly"}])])

    def test_namespaces_accepted_and_refused(self):
        out = self.d.scenario([
            {"open": "chat", "nsp": "/chat"},
            {"open": "nope", "nsp": "/nope"},
            {"emit": "chat", "event": "greet",
             "args": [{"lang": "fr", "name": "Zoé"}]},
            {"emit": "chat", "event": "greet",
             "args": [{"lang": "en", "name": "Al"}]},
            {"wait": "chat", "count": 2},
        ])
        self.assertIsNone(out["failed"], out)
        cl = out["clients"]
        self.assertEqual(cl["nope"].get("connectError"), "Invalid namespace")
        self.assertEqual(cl["nope"]["connects"], 0)
        # the conditions chose the mock; the main namespace's mocks do not
        # answer /chat
        self.assertEqual(events(cl["chat"]),
                         [("greet", [{"text": "bonjour Zoé"}]),
                          ("greet", [{"text": "hello Al"}])])

    def test_emit_with_an_ack_and_arguments(self):
        self.d.mock({"namespace": "/calc", "event": "add"},
                    {"payload": {"args": "$.req.args", "first": "$.req.data"}})
        out = self.d.scenario([
            {"open": "a", "nsp": "/calc"},
            {"emit": "a", "event": "add", "args": [2, 3], "ack": True},
            {"waitAcks": "a", "count": 1},
            {"emit": "a", "event": "add", "args": [], "ack": True},
            {"waitAcks": "a", "count": 2},
            {"sleep": 100},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        # the answer went back as the ack, not as an event
        self.assertEqual(a["events"], [])
        self.assertEqual(a["acks"][0], [{"args": [2, 3], "first": 2}])
        self.assertEqual(a["acks"][1][0]["args"], [])
        self.assertIn(a["acks"][1][0]["first"], (None, ""))

    def test_answers_messages_event_names_and_delays(self):
        self.d.mock({"namespace": "/seq", "event": "go"},
                    {"payload": {"n": 1}, "event": "step",
                     "messages": [{"data": {"n": 2}, "delay": 150},
                                  {"data": "three", "event": "last",
                                   "delay": 150},
                                  {"binary": "AAEC", "event": "bin"}]})
        out = self.d.scenario([
            {"open": "a", "nsp": "/seq"},
            {"emit": "a", "event": "go", "args": [{}]},
            {"wait": "a", "count": 4},
        ])
        self.assertIsNone(out["failed"], out)
        ev = out["clients"]["a"]["events"]
        self.assertEqual([(e["event"], e["args"]) for e in ev],
                         [("step", [{"n": 1}]), ("step", [{"n": 2}]),
                          ("last", ["three"]),
                          ("bin", [{"binary": "AAEC"}])])
        self.assertGreaterEqual(ev[1]["ms"] - ev[0]["ms"], 120)
        self.assertGreaterEqual(ev[2]["ms"] - ev[1]["ms"], 120)

    def test_binary_arguments_are_matched_as_base64(self):
        self.d.mock({"namespace": "/bin", "event": "up",
                     "conditions": [{"path": "args[1].binary",
                                     "assertAction": "equals",
                                     "value": "aGk="}]},
                    {"payload": {"got": "$.req.args[1].binary",
                                 "name": "$.req.name"}})
        # the attachment as a 'b' packet over polling, and as a binary
        # frame over WebSocket
        steps = []
        for name, tr in (("p", ["polling"]), ("w", ["websocket"])):
            steps += [{"open": name, "nsp": "/bin", "transports": tr},
                      {"emit": name, "event": "up", "args": [{"name": name}],
                       "binary": "aGk=", "ack": True},
                      {"waitAcks": name, "count": 1}]
        out = self.d.scenario(steps)
        self.assertIsNone(out["failed"], out)
        for name in ("p", "w"):
            self.assertEqual(out["clients"][name]["acks"],
                             [[{"got": "aGk=", "name": name}]])

    def test_scheduled_events_stop_at_count(self):
        self.d.mock({"namespace": "/tick", "event": "go"},
                    {"schedule": {"every": 50, "count": 3,
                                  "data": {"t": "$.req.x"}, "event": "tick"}})
        out = self.d.scenario([
            {"open": "a", "nsp": "/tick", "transports": ["websocket"]},
            {"emit": "a", "event": "go", "args": [{"x": 7}]},
            {"wait": "a", "count": 3}, {"sleep": 300},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(events(out["clients"]["a"]), [("tick", [{"t": 7}])] * 3)

    def test_a_raw_websocket_client(self):
        d = self.d
        # direct: the open packet first, pings answered with pongs, CONNECT,
        # an EVENT, then a malformed packet ends the session
        raw = wh.RawWs(d, "/socket.io/?EIO=4&transport=websocket")
        self.assertEqual(raw.status, 101, raw.head)
        op, p = raw.read_data()
        opened = json.loads(p[1:])
        self.assertEqual(opened["upgrades"], [])
        raw.text("40")
        op, p = raw.read_data()
        self.assertTrue(p.startswith(b'40{"sid":'), p)
        raw.text('42["hello",{"name":"raw"}]')
        self.assertEqual(raw.read_data(), (0x1, b'42["hello",{"hi":"raw"}]'))
        raw.text('42["hello",')
        code, _ = raw.read_close()
        self.assertEqual(code, 1000)
        raw.close()
        # an upgrade with an unknown sid is refused before the switch
        raw = wh.RawWs(d, "/socket.io/?EIO=4&transport=websocket&sid="
                          "BBBBBBBBBBBBBBBBBBBB")
        self.assertEqual(raw.status, 400, raw.head)
        raw.close()
        # the upgrade by hand: probe, the held GET released with a noop,
        # then "5" and the packets over the WebSocket
        sid = d.eio_open()
        q = "EIO=4&transport=polling&sid=" + sid
        self.assertEqual(d.eio("POST", q, body="40").body, b"ok")
        self.assertTrue(d.eio("GET", q).body.startswith(b"40{"))
        import threading
        got = {}
        t = threading.Thread(target=lambda: got.update(r=d.eio("GET", q)))
        t.start()
        time.sleep(0.2)
        raw = wh.RawWs(d, "/socket.io/?EIO=4&transport=websocket&sid=" + sid)
        self.assertEqual(raw.status, 101, raw.head)
        raw.text("2probe")
        self.assertEqual(raw.read_data(), (0x1, b"3probe"))
        t.join(5)
        self.assertEqual(got["r"].body, b"6")
        raw.text("5")
        raw.text('42["hello",{"name":"up"}]')
        self.assertEqual(raw.read_data(), (0x1, b'42["hello",{"hi":"up"}]'))
        # polling is over for this session
        self.assertEqual(d.eio("GET", q).status, 400)
        raw.close()

    def test_session_state_across_events(self):
        d = self.d
        d.mock({"namespace": "/sess", "event": "login"},
               {"payload": {"ok": True}},
               top={"extract": {"sStore": {"user": "$.req.user"}}})
        d.mock({"namespace": "/sess", "event": "who"},
               {"payload": {"user": "$.sS.user", "n": "$.session.count"}})
        out = d.scenario([
            {"open": "a", "nsp": "/sess"},
            {"open": "b", "nsp": "/sess"},
            {"emit": "a", "event": "login", "args": [{"user": "ann"}]},
            {"wait": "a", "count": 1},
            {"emit": "a", "event": "who", "args": [{}]},
            {"wait": "a", "count": 2},
            {"emit": "b", "event": "who", "args": [{}]},
            {"wait": "b", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        a = [e["args"][0] for e in out["clients"]["a"]["events"]]
        b = [e["args"][0] for e in out["clients"]["b"]["events"]]
        self.assertEqual(a[1]["user"], "ann")
        # connect was 1, login 2, who 3
        self.assertEqual(int(a[1]["n"]), 3)
        self.assertIn(b[0]["user"], ("", None))
        self.assertEqual(int(b[0]["n"]), 2)

    def test_rooms_and_broadcast_across_workers(self):
        d = self.d
        d.mock({"namespace": "/room", "event": "say"},
               {"payload": {"said": "$.req.text"}, "broadcast": True})
        d.mock({"namespace": "/room", "event": "join"},
               {"payload": {"joined": "$.req.room"}, "join": "$.req.room"})
        d.mock({"namespace": "/room", "event": "tell"},
               {"payload": {"told": "$.req.text"},
                "broadcast": {"room": "blue"}})
        clients = ["c%d" % i for i in range(8)]
        steps = [{"open": n, "nsp": "/room",
                  "transports": ["websocket"] if i % 2 else ["polling"]}
                 for i, n in enumerate(clients)]
        steps += [{"emit": "c0", "event": "say", "args": [{"text": "all"}]}]
        steps += [{"wait": n, "count": 1} for n in clients]
        steps += [
            {"emit": "c1", "event": "join", "args": [{"room": "blue"}]},
            {"wait": "c1", "count": 2},
            {"emit": "c2", "event": "join", "args": [{"room": "blue"}]},
            {"wait": "c2", "count": 2},
            {"api": "GET", "path": "/api/v1/protocols/socket/actions/"
                                   "connections?nsp=/room"},
            {"emit": "c0", "event": "tell", "args": [{"text": "blues"}]},
            {"wait": "c1", "count": 3}, {"wait": "c2", "count": 3},
            {"sleep": 300},
        ]
        out = d.scenario(steps)
        self.assertIsNone(out["failed"], out)
        got = {n: events(out["clients"][n]) for n in clients}
        for n in clients:
            self.assertEqual(got[n][0], ("say", [{"said": "all"}]), got)
        for n in ("c1", "c2"):
            self.assertEqual(got[n][1:], [("join", [{"joined": "blue"}]),
                                          ("tell", [{"told": "blues"}])])
        for n in clients[3:] + ["c0"]:
            self.assertEqual(got[n], [("say", [{"said": "all"}])])
        socks = out["api"][0]["body"]["connections"]
        self.assertEqual(len(socks), 8, socks)
        self.assertEqual(sorted(s["rooms"] for s in socks),
                         [[]] * 6 + [["blue"]] * 2)
        # the sessions sit on both workers, so the broadcast crossed loops
        self.assertEqual({s["worker"] for s in socks}, {0, 1}, socks)

    def test_connect_and_disconnect_events_and_the_journal(self):
        d = self.d
        ns = "siojournal"
        d.mock({"namespace": "/hi", "event": "connect"},
               {"payload": {"welcome": "$.req.auth.user",
                            "q": "$.req.query.room"},
                "event": "welcome"}, ns=ns)
        d.mock({"namespace": "/hi", "event": "disconnect"}, {"payload": "x"},
               ns=ns)
        out = d.scenario([
            {"open": "a", "nsp": "/hi", "auth": {"user": "ann"},
             "query": {"room": "r1"}, "prefix": "/stubs/" + ns},
            {"wait": "a", "count": 1},
            {"emit": "a", "event": "nobody", "args": [{"x": 1}]},
            {"sleep": 100},
            {"disconnect": "a"}, {"sleep": 300},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(events(out["clients"]["a"]),
                         [("welcome", [{"welcome": "ann", "q": "r1"}])])
        journal = d.entries("requests", ns=ns)
        self.assertTrue(all(e["protocol"] == "socket" for e in journal),
                        journal)
        got = [e for e in journal if e.get("direction") == "in"]
        self.assertEqual(sorted(e["method"] for e in got),
                         ["connect", "disconnect"], journal)
        # what doppel sent is there too, on the same connection
        sent = [e for e in journal if e.get("direction") == "out"]
        self.assertEqual([e["method"] for e in sent], ["welcome"], journal)
        sbody = sent[0]["body"]
        sbody = json.loads(sbody) if isinstance(sbody, str) else sbody
        self.assertEqual(sbody, [{"welcome": "ann", "q": "r1"}])
        self.assertEqual(len({e["connection"] for e in got + sent}), 1,
                         journal)
        self.assertEqual({e["path"] for e in journal}, {"/socket.io/hi"})
        disc = [e for e in journal if e["method"] == "disconnect"][0]
        body = disc["body"]
        body = json.loads(body) if isinstance(body, str) else body
        self.assertEqual(body["reason"], "client namespace disconnect")
        unmatched = d.entries("unmatched", ns=ns)
        self.assertEqual([e["method"] for e in unmatched], ["nobody"])
        self.assertIn("nearMisses", unmatched[0])

    def test_send_and_close_actions(self):
        d = self.d
        d.mock({"namespace": "/ops", "event": "connect"}, {"payload": ""})
        base = "/api/v1/protocols/socket/actions/"
        out = d.scenario([
            {"open": "a", "nsp": "/ops"},
            {"open": "b", "nsp": "/ops", "transports": ["polling"]},
            {"api": "POST", "path": base + "send",
             "body": {"nsp": "/ops", "event": "news", "data": {"n": 1}}},
            {"wait": "a", "count": 1}, {"wait": "b", "count": 1},
            {"api": "GET", "path": base + "connections?nsp=/ops"},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(out["api"][0], {"status": 200, "body": {"sent": 2}})
        for n in ("a", "b"):
            self.assertEqual(events(out["clients"][n]),
                             [("news", [{"n": 1}])])
        socks = out["api"][1]["body"]["connections"]
        self.assertEqual(len(socks), 2)
        self.assertEqual({s["nsp"] for s in socks}, {"/ops"})
        self.assertEqual({s["protocol"] for s in socks}, {"socket.io"})
        # close one socket by its id (a raw client: the ids are known
        # between requests): it gets a DISCONNECT of its namespace
        sid = d.eio_open()
        q = "EIO=4&transport=polling&sid=" + sid
        self.assertEqual(d.eio("POST", q, body="40/ops,").body, b"ok")
        ack = d.eio("GET", q).body.decode()
        self.assertTrue(ack.startswith("40/ops,"), ack)
        sock = json.loads(ack[len("40/ops,"):])["sid"]
        r = d.get(base + "connections?nsp=/ops")
        mine = [s for s in r.json()["connections"] if s["sid"] == sock]
        self.assertEqual(len(mine), 1, r.json())
        self.assertEqual(mine[0]["transport"], "polling")
        r = d.post(base + "close", {"connection": mine[0]["id"]})
        self.assertEqual((r.status, r.json()), (200, {"closed": 1}))
        self.assertEqual(d.eio("GET", q).body, b"41/ops,")
        r = d.post(base + "close", {"connection": "999999"})
        self.assertEqual((r.status, r.json()), (200, {"closed": 0}))
        # a namespace at once; the clients do not come back
        out3 = d.scenario([
            {"open": "e", "nsp": "/ops", "reconnection": True},
            {"api": "POST", "path": base + "close",
             "body": {"nsp": "/ops"}},
            {"waitDisconnects": "e", "count": 1},
            {"sleep": 500},
        ])
        self.assertIsNone(out3["failed"], out3)
        self.assertGreaterEqual(out3["api"][0]["body"]["closed"], 1)
        e = out3["clients"]["e"]
        self.assertEqual(e["disconnects"][0], "io server disconnect")
        self.assertEqual(e["connects"], 1)  # it did not come back

    def test_server_side_close_as_an_answer(self):
        self.d.mock({"namespace": "/bye", "event": "quit"},
                    {"payload": {"ciao": True}, "close": {}})
        out = self.d.scenario([
            {"open": "a", "nsp": "/bye", "reconnection": True},
            {"emit": "a", "event": "quit", "args": [{}]},
            {"waitDisconnects": "a", "count": 1},
            {"sleep": 400},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        self.assertEqual(events(a), [("quit", [{"ciao": True}])])
        self.assertEqual(a["disconnects"], ["io server disconnect"])
        self.assertEqual(a["connects"], 1)

    def test_reconnection_after_a_drop(self):
        d = self.d
        d.mock({"namespace": "/drop", "event": "ping2"}, {"payload": "pong2"})
        base = "/api/v1/protocols/socket/actions/"
        out = d.scenario([
            {"open": "a", "nsp": "/drop", "reconnection": True,
             "transports": ["websocket"]},
            {"api": "POST", "path": base + "close",
             "body": {"nsp": "/drop", "drop": True}},
            {"waitDisconnects": "a", "count": 1},
            {"waitConnects": "a", "count": 2},
            {"emit": "a", "event": "ping2", "args": [{}]},
            {"wait": "a", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        a = out["clients"]["a"]
        self.assertEqual(out["api"][0]["body"], {"closed": 1})
        self.assertEqual(a["disconnects"][0], "transport close")
        self.assertEqual(events(a), [("ping2", ["pong2"])])

    def test_stubs_prefix_and_x_namespace(self):
        d = self.d
        d.mock({"namespace": "/team", "event": "who"},
               {"payload": "team-a"}, ns="teama")
        d.mock({"namespace": "/team", "event": "hdr"},
               {"payload": {"h": "$.reqHeader.X-Namespace"}}, ns="teama")
        out = d.scenario([
            {"open": "p", "nsp": "/team", "prefix": "/stubs/teama"},
            {"emit": "p", "event": "who", "args": [{}]},
            {"wait": "p", "count": 1},
            {"open": "h", "nsp": "/team", "transports": ["polling"],
             "headers": {"X-Namespace": "teama"}},
            {"emit": "h", "event": "who", "args": [{}]},
            {"wait": "h", "count": 1},
            {"emit": "h", "event": "hdr", "args": [{}]},
            {"wait": "h", "count": 2},
            {"open": "s", "nsp": "/team"},
            {"emit": "s", "event": "who", "args": [{}]},
            {"sleep": 300},
        ])
        self.assertIsNone(out["failed"], out)
        cl = out["clients"]
        self.assertEqual(events(cl["p"]), [("who", ["team-a"])])
        # the handshake's headers are the matches' metadata
        self.assertEqual(events(cl["h"]), [("who", ["team-a"]),
                                           ("hdr", [{"h": "teama"}])])
        # the sandbox namespace has no such mock
        self.assertEqual(events(cl["s"]), [])

    def test_handshake_defaults(self):
        r = self.d.eio("GET", "EIO=4&transport=polling&t=x1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "text/plain; charset=UTF-8")
        opened = json.loads(r.body.decode()[1:])
        self.assertEqual(len(opened["sid"]), 20)
        self.assertEqual(opened["upgrades"], ["websocket"])
        self.assertEqual((opened["pingInterval"], opened["pingTimeout"],
                          opened["maxPayload"]), (25000, 20000, 1000000))
        # the path without its trailing '/' is socket.io's too
        r = self.d.request("GET", "/socket.io?EIO=4&transport=polling")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body.startswith(b'0{"sid":'), r)

    def test_origin_and_cors(self):
        d = self.d
        d.mock({"namespace": "/o", "event": "x"}, {"payload": "y"}, ns="siorigin")
        good = {"Origin": "https://good.example", "X-Namespace": "siorigin"}
        r = d.eio("GET", "EIO=4&transport=polling", headers=good)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("access-control-allow-origin"),
                         "https://good.example")
        self.assertEqual(r.headers.get("access-control-allow-credentials"),
                         "true")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        r = d.eio("GET", "EIO=4&transport=polling",
                  headers={"Origin": "https://evil.example",
                           "X-Namespace": "siorigin"})
        self.assertEqual(r.status, 403, r)
        r = d.eio("OPTIONS", "EIO=4&transport=polling",
                  headers={"Origin": "https://good.example",
                           "X-Namespace": "siorigin",
                           "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers.get("access-control-allow-headers"),
                         "content-type")

    def test_many_polling_requests_over_two_workers(self):
        d = self.d
        d.mock({"namespace": "/poll", "event": "n"},
               {"payload": {"n": "$.req.i"}})
        before = d.metric("sio_forwarded")
        # raw: every request on a new connection, so that the kernel spreads
        # them over the workers
        sid = d.eio_open()
        q = "EIO=4&transport=polling&sid=" + sid
        self.assertEqual(d.eio("POST", q, body="40/poll,").body, b"ok")
        r = d.eio("GET", q)
        self.assertTrue(r.body.startswith(b"40/poll,{\"sid\":"), r)
        for i in range(40):
            r = d.eio("POST", q, body='42/poll,["n",{"i":%d}]' % i)
            self.assertEqual((r.status, r.body), (200, b"ok"))
            r = d.eio("GET", q)
            self.assertEqual(r.body.decode(), '42/poll,["n",{"n":%d}]' % i)
        self.assertGreater(d.metric("sio_forwarded"), before)
        # and clients in parallel with acks, over polling only
        steps = [{"open": "p%d" % k, "nsp": "/poll", "transports": ["polling"]}
                 for k in range(4)]
        for i in range(15):
            for k in range(4):
                steps.append({"emit": "p%d" % k, "event": "n",
                              "args": [{"i": i * 10 + k}], "ack": True})
        steps += [{"waitAcks": "p%d" % k, "count": 15, "timeout": 20000}
                  for k in range(4)]
        out = d.scenario(steps)
        self.assertIsNone(out["failed"], out)
        for k in range(4):
            self.assertEqual(out["clients"]["p%d" % k]["acks"],
                             [[{"n": i * 10 + k}] for i in range(15)])

    def test_malformed_requests_and_the_server_keeps_serving(self):
        d = self.d
        r = d.eio("GET", "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json(), {"code": 1,
                                    "message": "Session ID unknown"})
        self.assertEqual(d.eio("GET", "EIO=3&transport=polling").status, 400)
        self.assertEqual(d.eio("GET", "EIO=4&transport=carrier").json(),
                         {"code": 0, "message": "Transport unknown"})
        self.assertEqual(d.eio("POST", "EIO=4&transport=polling",
                               body="40").status, 400)
        # malformed bodies: a 400, and the session is over
        for body in ("", "9zz", "4\x1e", "42[", "b!!", "42[\"a\"", "45-x"):
            sid = d.eio_open()
            q = "EIO=4&transport=polling&sid=" + sid
            r = d.eio("POST", q, body=body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(d.eio("GET", q).status, 400, body)
        # too big for maxPayload
        sid = d.eio_open()
        r = d.eio("POST", "EIO=4&transport=polling&sid=" + sid,
                  body="4" + "x" * 1000001)
        self.assertEqual(r.status, 413)
        # websocket transport without an upgrade
        self.assertEqual(d.eio("GET", "EIO=4&transport=websocket").status, 400)
        # still serving
        out = d.scenario([
            {"open": "a"},
            {"emit": "a", "event": "hello", "args": [{"name": "ok"}]},
            {"wait": "a", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(events(out["clients"]["a"]), [("hello",
                                                        [{"hi": "ok"}])])

    def test_mock_checks(self):
        d = self.d
        for sec, resp, field in (
                ({"namespace": "/a b"}, {}, "socket.namespace"),
                ({"namespace": "/a", "path": "/x"}, {}, "socket.path"),
                ({"namespace": "/a"}, {"event": 5}, "response.event"),
                ({"namespace": "/a"}, {"messages": [{"data": 1, "event": ""}]},
                 "response.messages[0].event")):
            r = d.mock(sec, resp, expect=None)
            self.assertEqual(r.status, 400, (sec, resp, r))
            self.assertIn(field, r.body.decode(), (sec, resp, r))


class SioHeartbeat(unittest.TestCase):
    def test_pings_and_a_silent_client_dropped(self):
        if not node_ready():
            raise unittest.SkipTest("socket.io-client missing")
        with SioDoppel(options={"socketio_ping_interval": "300ms",
                                "socketio_ping_timeout": "300ms"},
                       workers=2) as d:
            d.mock({"event": "hello"}, {"payload": "hi"})
            r = d.eio("GET", "EIO=4&transport=polling")
            opened = json.loads(r.body.decode()[1:])
            self.assertEqual((opened["pingInterval"], opened["pingTimeout"],
                              opened["maxPayload"]), (300, 300, 1000000))
            self.assertEqual(opened["upgrades"], ["websocket"])
            q = "EIO=4&transport=polling&sid=" + opened["sid"]
            # the held GET is released by the ping
            t0 = time.time()
            r = d.eio("GET", q)
            self.assertEqual(r.body, b"2")
            self.assertGreater(time.time() - t0, 0.2)
            # no pong: dropped
            time.sleep(1.0)
            self.assertEqual(d.eio("GET", q).status, 400)
            # a client that answers stays, past several intervals
            out = d.scenario([
                {"open": "a", "transports": ["polling"]},
                {"sleep": 1500},
                {"emit": "a", "event": "hello", "args": [{}]},
                {"wait": "a", "count": 1},
            ])
            self.assertIsNone(out["failed"], out)
            # only the scenario's own disconnect at its end: no ping timeout
            self.assertEqual(out["clients"]["a"]["disconnects"],
                             ["io client disconnect"])
            self.assertEqual(out["clients"]["a"]["connects"], 1)

    def test_drain_answers_a_held_get_and_closes_websockets(self):
        if not node_ready():
            raise unittest.SkipTest("socket.io-client missing")
        import threading
        with SioDoppel(workers=2) as d:
            d.mock({"event": "hello"}, {"payload": "hi"})
            sid = d.eio_open()
            q = "EIO=4&transport=polling&sid=" + sid
            got = {}

            def held():
                got["r"] = d.eio("GET", q)
            t = threading.Thread(target=held)
            t.start()
            time.sleep(0.3)
            self.assertNotIn("r", got)  # held: nothing is due yet
            raw = wh.RawWs(d, "/socket.io/?EIO=4&transport=websocket")
            self.assertEqual(raw.status, 101, raw.head)
            op, p = raw.read_data()
            self.assertEqual(op, 0x1)
            self.assertTrue(p.startswith(b'0{"sid":'), p)
            t0 = time.time()
            d.proc.send_signal(15)
            t.join(10)
            self.assertEqual(got["r"].body, b"1")  # the close packet
            code, _ = raw.read_close()
            self.assertIn(code, (1000, 1001))
            raw.send(wh.frame(0x8, (1000).to_bytes(2, "big")))
            self.assertEqual(d.proc.wait(timeout=20), 0, d.log()[-2000:])
            self.assertLess(time.time() - t0, 10)
            raw.close()

    def test_socketio_off(self):
        with SioDoppel(options={"socketio": "false"}) as d:
            r = d.eio("GET", "EIO=4&transport=polling")
            self.assertNotEqual(r.status, 200)
            self.assertFalse(r.body.startswith(b"0{"), r)


if __name__ == "__main__":
    harness.main()
