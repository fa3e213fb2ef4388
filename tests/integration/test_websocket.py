"""WebSocket mocks (plugins/websocket) driven by the `ws` npm client:
messages answered by the mock their conditions choose, several answers
with delays in order, messages on connect, session state across the
messages of one connection, broadcast (path and room) to clients that may
sit on different workers, scheduled pushes, a close as an answer,
subprotocols, permessage-deflate, Origin checks, the operator actions over
REST and the MCP tool, the journal and unmatched list, and the drain's
1001. RFC edge cases are in test_websocket_rfc.py."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_grpc_agent as ga  # noqa: E402  (AgentSide: MCP tool calls)
import ws_helpers as wh  # noqa: E402


def texts(client):
    return [m.get("text") for m in client["messages"]]


class WsMocks(ga.AgentSide, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not wh.node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules/ws "
                                    "missing")
        cls.d = wh.WsDoppel(options={"origins": "wsorigin=https://good.example"},
                            workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_message_answered_by_its_conditions(self):
        d = self.d
        for item in ("a", "b"):
            d.mock({"path": "/t/cond", "event": "order",
                    "conditions": [{"path": "$.item", "assertAction": "equals",
                                    "value": item}]},
                   {"payload": {"got": item, "qty": "$.req.qty"}})
        d.mock({"path": "/t/cond",
                "conditions": [{"path": "$", "assertAction": "equals",
                                "value": "hello"}]},
               {"payload": "hi there"})
        out = d.scenario([
            {"open": "c", "path": "/t/cond"},
            {"send": "c", "data": json.dumps({"event": "order", "item": "b",
                                              "qty": 3})},
            {"wait": "c", "count": 1},
            {"send": "c", "data": "hello"},
            {"wait": "c", "count": 2},
        ])
        self.assertIsNone(out["failed"], out)
        c = out["clients"]["c"]
        self.assertEqual(json.loads(c["messages"][0]["text"]),
                         {"got": "b", "qty": 3})
        self.assertEqual(c["messages"][1]["text"], "hi there")

    def test_several_answers_with_delays_in_order(self):
        self.d.mock({"path": "/t/seq", "event": "go"},
                    {"payload": {"n": 1},
                     "messages": [{"data": {"n": 2}, "delay": 150},
                                  {"data": "three", "delay": 150},
                                  {"binary": "AAEC"}]})
        out = self.d.scenario([
            {"open": "c", "path": "/t/seq"},
            {"send": "c", "data": '{"type": "go"}'},
            {"wait": "c", "count": 4},
        ])
        self.assertIsNone(out["failed"], out)
        m = out["clients"]["c"]["messages"]
        self.assertEqual([x.get("text") for x in m[:3]],
                         ['{"n":1}', '{"n":2}', "three"])
        self.assertEqual(m[3]["binary"], "AAEC")
        self.assertGreaterEqual(m[1]["ms"] - m[0]["ms"], 120)
        self.assertGreaterEqual(m[2]["ms"] - m[1]["ms"], 120)

    def test_messages_on_connect(self):
        self.d.mock({"path": "/t/hello", "event": "connect"},
                    {"payload": {"welcome": "$.req.query.user"},
                     "messages": [{"data": "second", "delay": 20}]})
        out = self.d.scenario([
            {"open": "c", "path": "/t/hello?user=ann%20lee&user=bo"},
            {"wait": "c", "count": 2},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(texts(out["clients"]["c"]),
                         ['{"welcome":"ann lee"}', "second"])

    def test_route_with_a_parameter_and_a_wildcard(self):
        self.d.mock({"path": "/t/rooms/:id", "event": "connect"},
                    {"payload": {"room": "$.pathParam.id"}})
        self.d.mock({"path": "/t/files/*", "event": "connect"},
                    {"payload": "file"})
        out = self.d.scenario([
            {"open": "r", "path": "/t/rooms/7"},
            {"open": "f", "path": "/t/files/a/b"},
            {"open": "none", "path": "/t/files"},
            {"open": "deep", "path": "/t/rooms/7/x"},
            {"wait": "r", "count": 1}, {"wait": "f", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        cl = out["clients"]
        self.assertEqual(texts(cl["r"]), ['{"room":"7"}'])
        self.assertEqual(texts(cl["f"]), ["file"])
        # not a path of any socket mock: left to http, which has no mock
        self.assertEqual(cl["none"].get("status"), 404, cl["none"])
        self.assertEqual(cl["deep"].get("status"), 404, cl["deep"])

    def test_session_state_across_messages(self):
        self.d.mock({"path": "/t/sess", "event": "login"},
                    {"payload": {"ok": True}},
                    top={"extract": {"sStore": {"user": "$.req.user"}}})
        self.d.mock({"path": "/t/sess", "event": "who"},
                    {"payload": {"user": "$.sS.user", "n": "$.session.count"}})
        out = self.d.scenario([
            {"open": "a", "path": "/t/sess"},
            {"open": "b", "path": "/t/sess"},
            {"send": "a", "data": '{"event": "login", "user": "ann"}'},
            {"wait": "a", "count": 1},
            {"send": "a", "data": '{"event": "who"}'},
            {"wait": "a", "count": 2},
            {"send": "a", "data": '{"event": "who"}'},
            {"wait": "a", "count": 3},
            {"send": "b", "data": '{"event": "who"}'},
            {"wait": "b", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        a = [json.loads(t) for t in texts(out["clients"]["a"])]
        b = [json.loads(t) for t in texts(out["clients"]["b"])]
        self.assertEqual(a[1]["user"], "ann")
        self.assertEqual(int(a[2]["n"]), int(a[1]["n"]) + 1)
        # the other connection has its own session: no user, its own count
        self.assertIn(b[0]["user"], ("", None))
        self.assertEqual(int(b[0]["n"]), int(a[1]["n"]) - 1)

    def test_ordered_one_of_advances_per_connection(self):
        self.d.mock({"path": "/t/oneof", "event": "next"}, None,
                    top={"oneOf": {"responses": [{"payload": "first"},
                                                 {"payload": "second"}]}})
        nxt = '{"event": "next"}'
        out = self.d.scenario([
            {"open": "a", "path": "/t/oneof"},
            {"open": "b", "path": "/t/oneof"},
            {"send": "a", "data": nxt}, {"wait": "a", "count": 1},
            {"send": "a", "data": nxt}, {"wait": "a", "count": 2},
            {"send": "a", "data": nxt}, {"wait": "a", "count": 3},
            {"send": "b", "data": nxt}, {"wait": "b", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(texts(out["clients"]["a"]),
                         ["first", "second", "first"])
        self.assertEqual(texts(out["clients"]["b"]), ["first"])

    def test_broadcast_to_the_path_and_to_a_room(self):
        d = self.d
        d.mock({"path": "/t/chat", "event": "say"},
               {"payload": {"said": "$.req.text"}, "broadcast": True})
        d.mock({"path": "/t/chat", "event": "join"},
               {"payload": {"joined": "$.req.room"}, "join": "$.req.room"})
        d.mock({"path": "/t/chat", "event": "tell"},
               {"payload": {"told": "$.req.text"},
                "broadcast": {"room": "blue"}})
        # ten clients: the two workers both own some (the connections
        # action says which), so the broadcast crosses loops
        clients = ["c%d" % i for i in range(10)]
        steps = [{"open": n, "path": "/t/chat"} for n in clients]
        steps += [{"send": "c0", "data": '{"event": "say", "text": "all"}'}]
        steps += [{"wait": n, "count": 1} for n in clients]
        steps += [
            {"send": "c1", "data": '{"event": "join", "room": "blue"}'},
            {"wait": "c1", "count": 2},
            {"send": "c2", "data": '{"event": "join", "room": "blue"}'},
            {"wait": "c2", "count": 2},
            {"api": "GET", "path": "/api/v1/protocols/socket/actions/"
                                   "connections?path=/t/chat"},
            {"send": "c0", "data": '{"event": "tell", "text": "blues"}'},
            {"wait": "c1", "count": 3}, {"wait": "c2", "count": 3},
            {"sleep": 200},
        ]
        out = d.scenario(steps)
        self.assertIsNone(out["failed"], out)
        got = {n: texts(out["clients"][n]) for n in clients}
        for n in clients:
            self.assertEqual(got[n][0], '{"said":"all"}', got)
        for n in ("c1", "c2"):
            self.assertEqual(got[n][1:],
                             ['{"joined":"blue"}', '{"told":"blues"}'])
        for n in clients[3:] + ["c0"]:  # not in the room
            self.assertEqual(got[n], ['{"said":"all"}'])
        conns = out["api"][0]["body"]["connections"]
        self.assertEqual(len(conns), 10, conns)
        self.assertEqual(sorted(c["rooms"] for c in conns),
                         [[]] * 8 + [["blue"]] * 2)
        self.assertEqual({c["worker"] for c in conns}, {0, 1}, conns)

    def test_leave_a_room_and_a_delayed_answer(self):
        d = self.d
        d.mock({"path": "/t/leave", "event": "in"},
               {"payload": "in", "join": ["red", "green"]})
        d.mock({"path": "/t/leave", "event": "out"},
               {"payload": "out", "leave": "red"})
        for room in ("red", "green"):
            d.mock({"path": "/t/leave", "event": room},
                   {"payload": room, "broadcast": {"room": room},
                    "delay": 200})
        out = d.scenario([
            {"open": "a", "path": "/t/leave"},
            {"send": "a", "data": '{"event": "in"}'},
            {"wait": "a", "count": 1},
            {"send": "a", "data": '{"event": "out"}'},
            {"wait": "a", "count": 2},
            {"send": "a", "data": '{"event": "red"}'},
            {"send": "a", "data": '{"event": "green"}'},
            {"wait": "a", "count": 3},
            {"sleep": 400},
        ])
        self.assertIsNone(out["failed"], out)
        m = out["clients"]["a"]["messages"]
        self.assertEqual([x["text"] for x in m], ["in", "out", "green"])
        self.assertGreaterEqual(m[2]["ms"] - m[1]["ms"], 180)

    def test_scheduled_pushes_stop_at_count(self):
        self.d.mock({"path": "/t/ticks", "event": "connect"},
                    {"schedule": {"every": 60, "count": 3,
                                  "data": {"tick": True}}})
        out = self.d.scenario([
            {"open": "c", "path": "/t/ticks"},
            {"wait": "c", "count": 3},
            {"sleep": 400},
        ])
        self.assertIsNone(out["failed"], out)
        self.assertEqual(texts(out["clients"]["c"]), ['{"tick":true}'] * 3)

    def test_close_with_code_and_reason_as_an_answer(self):
        self.d.mock({"path": "/t/bye", "event": "bye"},
                    {"payload": "see you",
                     "close": {"code": 4001, "reason": "done"}})
        out = self.d.scenario([
            {"open": "c", "path": "/t/bye"},
            {"send": "c", "data": '{"event": "bye"}'},
            {"waitClose": "c"},
        ])
        self.assertIsNone(out["failed"], out)
        c = out["clients"]["c"]
        self.assertEqual(texts(c), ["see you"])
        self.assertEqual(c["close"], {"code": 4001, "reason": "done"})

    def test_subprotocol_and_permessage_deflate(self):
        self.d.mock({"path": "/t/proto"}, {"payload": "$.req"})
        big = "x" * 50000
        out = self.d.scenario([
            {"open": "c", "path": "/t/proto", "protocols": ["chat.v2",
                                                            "chat.v1"]},
            {"send": "c", "data": big},
            {"wait": "c", "count": 1},
            {"open": "plain", "path": "/t/proto", "deflate": False},
            {"send": "plain", "data": "small"},
            {"wait": "plain", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        c = out["clients"]["c"]
        self.assertEqual(c["protocol"], "chat.v2")
        self.assertIn("permessage-deflate", c["extensions"])
        self.assertEqual(c["messages"][0]["text"], big)
        self.assertEqual(out["clients"]["plain"]["extensions"], "")
        self.assertEqual(texts(out["clients"]["plain"]), ["small"])

    def test_origin_checked_per_namespace(self):
        self.d.mock({"path": "/t/orig", "event": "connect"},
                    {"payload": "in"}, ns="wsorigin")
        self.d.mock({"path": "/t/orig", "event": "connect"},
                    {"payload": "in"})
        out = self.d.scenario([
            {"open": "bad", "path": "/stubs/wsorigin/t/orig",
             "origin": "https://evil.example"},
            {"open": "good", "path": "/stubs/wsorigin/t/orig",
             "origin": "https://good.example"},
            {"open": "other", "path": "/t/orig",
             "origin": "https://evil.example"},
            {"wait": "good", "count": 1}, {"wait": "other", "count": 1},
        ])
        self.assertIsNone(out["failed"], out)
        cl = out["clients"]
        self.assertEqual(cl["bad"].get("status"), 403, cl["bad"])
        self.assertFalse(cl["bad"]["opened"])
        self.assertEqual(texts(cl["good"]), ["in"])
        self.assertEqual(texts(cl["other"]), ["in"])
        # the refusal is counted under its namespace
        metrics = self.d.get("/metrics").body.decode()
        self.assertIn('namespace="wsorigin"', "\n".join(
            ln for ln in metrics.splitlines()
            if ln.startswith("doppel_plugin_handshakes_refused_total")))

    def test_actions_over_rest(self):
        base = "/api/v1/protocols/socket/actions/"
        self.d.mock({"path": "/t/ops", "event": "never"}, {"payload": "x"})
        out = self.d.scenario([
            {"open": "a", "path": "/t/ops"},
            {"open": "b", "path": "/t/ops"},
            {"send": "a", "data": "counted"},
            {"sleep": 100},
            {"api": "GET", "path": base + "connections?path=/t/ops"},
            {"api": "POST", "path": base + "send",
             "body": {"path": "/t/ops", "data": {"news": 1}}},
            {"wait": "a", "count": 1}, {"wait": "b", "count": 1},
            {"api": "POST", "path": base + "send",
             "body": {"path": "/t/ops", "binary": "3q2+7w=="}},
            {"wait": "a", "count": 2}, {"wait": "b", "count": 2},
            {"api": "POST", "path": base + "close",
             "body": {"path": "/t/ops", "code": 4000, "reason": "admin"}},
            {"waitClose": "a"}, {"waitClose": "b"},
            {"api": "POST", "path": base + "send", "body": {"data": "x"}},
            {"api": "POST", "path": base + "close",
             "body": {"path": "/t/ops", "code": 1005}},
        ])
        self.assertIsNone(out["failed"], out)
        conns, sent, sent_bin, closed, no_target, bad_code = out["api"]
        self.assertEqual(conns["status"], 200, conns)
        lst = conns["body"]["connections"]
        self.assertEqual(len(lst), 2, lst)
        for c in lst:
            self.assertEqual(c["path"], "/t/ops")
            self.assertEqual(c["remote"], "127.0.0.1")
            self.assertTrue(c["id"] and c["openedAt"].endswith("Z"), c)
        self.assertEqual(sorted(c["messagesIn"] for c in lst), [0, 1])
        self.assertEqual(sent["body"], {"sent": 2})
        self.assertEqual(sent_bin["body"], {"sent": 2})
        self.assertEqual(closed["body"], {"closed": 2})
        for n in ("a", "b"):
            c = out["clients"][n]
            self.assertEqual(c["messages"][0]["text"], '{"news":1}')
            self.assertEqual(c["messages"][1]["binary"], "3q2+7w==")
            self.assertEqual(c["close"], {"code": 4000, "reason": "admin"})
        self.assertEqual(no_target["status"], 400)
        self.assertEqual(no_target["body"]["field"], "path")
        self.assertEqual(bad_code["status"], 400)
        self.assertEqual(bad_code["body"]["field"], "code")

    def test_actions_through_the_mcp_tool(self):
        if not ga.mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        self.d.mock({"path": "/t/mcp", "event": "connect"}, {"payload": "hi"},
                    ns="wsmcp")
        raw = wh.RawWs(self.d, "/stubs/wsmcp/t/mcp")
        try:
            self.assertEqual(raw.status, 101, raw.head)
            listed, = self.calls([
                ("protocol_action", {"section": "socket",
                                     "action": "connections",
                                     "namespace": "wsmcp"})])
            conns = self.ok(listed)["connections"]
            self.assertEqual(len(conns), 1, conns)
            cid = conns[0]["id"]
            sent, closed = self.calls([
                ("protocol_action", {"section": "socket", "action": "send",
                                     "namespace": "wsmcp",
                                     "args": {"connection": cid,
                                              "data": "from mcp"}}),
                ("protocol_action", {"section": "socket", "action": "close",
                                     "namespace": "wsmcp",
                                     "args": {"connection": cid,
                                              "code": 4002,
                                              "reason": "agent"}})])
            self.assertEqual(self.ok(sent), {"sent": 1})
            self.assertEqual(self.ok(closed), {"closed": 1})
            frames = []
            while True:
                op, p = raw.read_frame()
                frames.append((op, p))
                if op == 0x8:
                    break
            self.assertEqual(frames[0], (0x1, b"hi"))
            self.assertEqual(frames[1], (0x1, b"from mcp"))
            self.assertEqual(frames[2][1][:2], (4002).to_bytes(2, "big"))
            self.assertEqual(frames[2][1][2:], b"agent")
        finally:
            raw.close()

    def test_journal_and_unmatched_with_protocol_socket(self):
        d = self.d
        d.mock({"path": "/t/j", "event": "ping"}, {"payload": "pong"},
               ns="wsjournal")
        out = d.scenario([
            {"open": "c", "path": "/stubs/wsjournal/t/j"},
            {"send": "c", "data": '{"event": "ping"}'},
            {"wait": "c", "count": 1},
            {"send": "c", "data": '{"event": "nobody", "x": 1}'},
            {"sleep": 100},
            {"close": "c", "code": 1000, "reason": "done"},
            {"waitClose": "c"},
            {"sleep": 200},
        ])
        self.assertIsNone(out["failed"], out)
        journal = d.entries("requests", ns="wsjournal")
        unmatched = d.entries("unmatched", ns="wsjournal")
        self.assertTrue(journal, journal)
        self.assertTrue(all(e["protocol"] == "socket" for e in journal),
                        journal)
        ping = [e for e in journal if e["method"] == "ping"]
        self.assertEqual(len(ping), 1, journal)
        self.assertEqual(ping[0]["path"], "/t/j")
        self.assertTrue(all(e["protocol"] == "socket" for e in unmatched))
        kinds = sorted(e["method"] for e in unmatched)
        # open and close have no mock here: they are listed as misses
        self.assertEqual(kinds, ["close", "connect", "nobody"], unmatched)
        close = [e for e in unmatched if e["method"] == "close"][0]
        body = close["body"]
        body = json.loads(body) if isinstance(body, str) else body
        self.assertEqual(body["code"], 1000)
        self.assertEqual(body["reason"], "done")
        nobody = [e for e in unmatched if e["method"] == "nobody"][0]
        self.assertIn("nearMisses", nobody)

    def test_check_names_the_field(self):
        bad = [
            ({"path": "no-slash"}, {}, "socket.path"),
            ({"path": "/t/x", "colour": 1}, {}, "socket.colour"),
            ({"path": "/t/x", "event": 5}, {}, "socket.event"),
            ({"path": "/t/x"}, {"messages": [{"delay": 5}]},
             "response.messages[0].data"),
            ({"path": "/t/x"}, {"messages": [{"binary": "!!"}]},
             "response.messages[0].binary"),
            ({"path": "/t/x"}, {"close": {"code": 1006}},
             "response.close.code"),
            ({"path": "/t/x"}, {"schedule": {"every": 1, "data": 1}},
             "response.schedule.every"),
            ({"path": "/t/x"}, {"broadcast": "yes"}, "response.broadcast"),
            ({"path": "/t/x"}, {"join": 3}, "response.join"),
        ]
        for sec, resp, field in bad:
            r = self.d.mock(sec, resp, expect=None)
            self.assertEqual(r.status, 400, (sec, resp, r))
            self.assertIn(field, r.body.decode(), (sec, resp, r))

    def test_metrics_count_connections_and_messages(self):
        self.d.mock({"path": "/t/metrics"}, {"payload": "ok"})
        out = self.d.scenario([
            {"open": "c", "path": "/t/metrics"},
            {"send": "c", "data": "1"}, {"wait": "c", "count": 1},
            {"close": "c"}, {"waitClose": "c"}, {"sleep": 100},
        ])
        self.assertIsNone(out["failed"], out)
        text = self.d.get("/metrics").body.decode()
        for name in ("connections_opened", "connections_closed",
                     "messages_in", "messages_out"):
            line = [ln for ln in text.splitlines()
                    if ln.startswith("doppel_plugin_%s_total" % name)
                    and 'namespace="sandbox"' in ln]
            self.assertTrue(line, name + "\n" + text[-2000:])
            self.assertGreater(float(line[0].split()[-1]), 0, line)


class WsDrain(unittest.TestCase):
    def test_drain_closes_with_1001(self):
        with wh.WsDoppel() as d:
            d.mock({"path": "/t/drain", "event": "connect"}, {"payload": "hi"})
            raw = wh.RawWs(d, "/t/drain")
            self.assertEqual(raw.status, 101, raw.head)
            self.assertEqual(raw.read_frame(), (0x1, b"hi"))
            t0 = time.time()
            d.proc.send_signal(15)
            code, reason = raw.read_close()
            self.assertEqual(code, 1001)
            self.assertIn("shutting down", reason)
            raw.send(wh.frame(0x8, (1001).to_bytes(2, "big")))
            self.assertEqual(d.proc.wait(timeout=20), 0, d.log()[-2000:])
            self.assertLess(time.time() - t0, 10)
            raw.close()


if __name__ == "__main__":
    harness.main()
