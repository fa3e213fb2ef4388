"""GraphQL over WebSocket (graphql-transport-ws): the graphql-ws client
library (tests/node/graphql/ws_client.mjs) runs a query, a mutation and
subscriptions answered by graphql mocks (the first event the mock's
payload, more from response.subscriptionEvents with their delays, each
shaped by the selection set and its aliases), completes one itself, and
gets publish'ed events on a keepOpen subscription (REST and the MCP tool
protocol_action). A raw WebSocket client checks the handshake refusals and
the protocol's close codes (4400, 4401, 4408, 4409, 4429) and the 1001 of
a draining server. The schema is docs/examples/shop.graphql
(Subscription.userCreated)."""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
import harness  # noqa: E402
import test_grpc_agent as ga  # noqa: E402  (its AgentSide: MCP calls)
from harness import ADMIN_TOKEN  # noqa: E402

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "graphql", "ws_client.mjs")
ACT = "/api/v1/protocols/graphql/actions/"

USERS = [{"id": str(i), "name": n, "role": "VIEWER", "email": n + "@x.io",
          "friends": []} for i, n in enumerate(["Ann", "Bob", "Cy", "Di"], 1)]


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "graphql-ws"))


class WsClient:
    """The graphql-ws library in a node process, read line by line."""

    def __init__(self, url, spec, tmp):
        fn = os.path.join(tmp, "ws-spec-%d.json" % time.monotonic_ns())
        with open(fn, "w") as f:
            json.dump(spec, f)
        self.p = subprocess.Popen([NODE, SCRIPT, url, fn], cwd=NODE_DIR,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def line(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ln = self.p.stdout.readline()
            if ln:
                return json.loads(ln)
            if self.p.poll() is not None:
                raise AssertionError("ws_client.mjs exited %s:\n%s" % (
                    self.p.returncode, self.p.stderr.read().decode()))
        raise AssertionError("no line from ws_client.mjs in %ss" % timeout)

    def all(self, timeout=30):
        out = []
        while True:
            ln = self.line(timeout)
            if ln.get("done"):
                self.p.wait(timeout=10)
                return out
            out.append(ln)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


class RawWs:
    """A WebSocket client on a plain socket: every byte and close code
    visible."""

    def __init__(self, d, path="/graphql", protocols="graphql-transport-ws",
                 version="13", extra=""):
        self.s = socket.create_connection((d.host, d.port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        proto = ("Sec-WebSocket-Protocol: %s\r\n" % protocols
                 if protocols else "")
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: %s\r\n%s%s\r\n"
                        % (path, key, version, proto, extra)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in
                        (ln.partition(":") for ln in lines[1:])}
        if self.status != 101:  # the refusal's body
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.body = self.buf[:n].decode()

    def send_frame(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.s.sendall(hdr + mask + body)

    def send(self, obj):
        self.send_frame(1, (obj if isinstance(obj, str)
                            else json.dumps(obj)).encode())

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def frame(self, timeout=5):
        """(opcode, payload) of the next frame."""
        deadline = time.time() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def recv(self, timeout=5):
        op, data = self.frame(timeout)
        if op != 1:
            raise AssertionError("expected a text frame, got %d %r"
                                 % (op, data))
        return json.loads(data)

    def closed(self, timeout=5):
        """The close frame's (code, reason), skipping messages before it."""
        while True:
            op, data = self.frame(timeout)
            if op == 8:
                code = struct.unpack("!H", data[:2])[0] if data else None
                return code, data[2:].decode()

    def init(self):
        self.send({"type": "connection_init", "payload": {"token": "t"}})
        self.assert_type(self.recv(), "connection_ack")

    def assert_type(self, msg, t):
        if msg.get("type") != t:
            raise AssertionError("expected %s, got %r" % (t, msg))

    def close(self):
        self.s.close()


class GraphqlWsBase(ga.AgentSide, unittest.TestCase):
    options = {}
    workers = None

    @classmethod
    def setUpClass(cls):
        cls.d = gh.GqlDoppel(options=cls.options, workers=cls.workers)
        cls.url = "ws://127.0.0.1:%d/graphql" % cls.d.port
        cls.tmp = tempfile.mkdtemp(prefix="doppel-gqlws-")
        cls.d.schema("graphql.graphql", gh.SHOP_SDL)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def setUp(self):
        self.d.reset()
        self.d.schema("graphql.graphql", gh.SHOP_SDL)

    def client(self, ops, **spec):
        if not node_ready():
            self.skipTest("node or tests/node/node_modules/graphql-ws missing")
        spec["ops"] = ops
        c = WsClient(self.url, spec, self.tmp)
        self.addCleanup(c.kill)
        return c

    def api(self, method, path, body=None):
        r = self.d.request(method, path, body=body,
                           headers={"X-API-Key": ADMIN_TOKEN})
        return r.status, (r.json() if r.body else None)

    def open_count(self, field="userCreated"):
        st, js = self.api("GET", ACT + "subscriptions?field=" + field)
        self.assertEqual(st, 200, js)
        return js["total"]

    def wait_count(self, n, field="userCreated", timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.open_count(field) == n:
                return
            time.sleep(0.05)
        self.fail("open %s subscriptions: %d, expected %d"
                  % (field, self.open_count(field), n))

    def sub_mock(self, events=(), keep_open=False, delay=50):
        resp = {"payload": {"data": {"userCreated": USERS[0]}}}
        if events:
            resp["subscriptionEvents"] = [
                {"payload": {"data": {"userCreated": u}}, "delay": delay}
                for u in events]
        if keep_open:
            resp["keepOpen"] = True
        self.d.mock("userCreated", resp, operation="subscription")


class GraphqlWs(GraphqlWsBase):
    def test_query_and_mutation_answer_one_next_then_complete(self):
        self.d.mock("user", {"payload": {"data": {"user": USERS[0]}}},
                    conditions=[{"path": "id", "value": "1"}])
        self.d.mock("createUser", {"payload": {"data": {"createUser": {
            "id": "9", "name": "$.req.input.name", "role": "EDITOR"}}}},
            operation="mutation")
        out = self.client([
            {"query": 'query Q($id: ID!) { user(id: $id) { name who: id } }',
             "variables": {"id": "1"}},
            {"query": 'mutation { createUser(input: {name: "Zoe"}) '
                      '{ id name } }'},
        ]).all()
        by = {}
        for ln in out:
            by.setdefault(ln["i"], []).append(ln)
        self.assertEqual(by[0], [
            {"i": 0, "next": {"data": {"user": {"name": "Ann", "who": "1"}}}},
            {"i": 0, "complete": True}])
        self.assertEqual(by[1], [
            {"i": 1, "next": {"data": {"createUser": {"id": "9",
                                                      "name": "Zoe"}}}},
            {"i": 1, "complete": True}])

    def test_subscription_events_in_order_shaped_by_the_selection(self):
        self.sub_mock(events=USERS[1:3])
        out = self.client([{"query": "subscription S { u: userCreated "
                                     "{ name ... on User { id } } }"}]).all()
        self.assertEqual(out, [
            {"i": 0, "next": {"data": {"u": {"name": "Ann", "id": "1"}}}},
            {"i": 0, "next": {"data": {"u": {"name": "Bob", "id": "2"}}}},
            {"i": 0, "next": {"data": {"u": {"name": "Cy", "id": "3"}}}},
            {"i": 0, "complete": True}])
        # one exchange: the subscribe (events are not exchanges); then what
        # was sent, naming the same connection, in order
        ents = [e for e in self.d.entries("requests")
                if e.get("protocol") == "graphql"]
        subs = [e for e in ents if e.get("direction") == "in"]
        self.assertEqual([(e["method"], e["path"]) for e in subs],
                         [("subscription.userCreated", "/graphql")], subs)
        conv = [e for e in reversed(ents)
                if e.get("connection") == subs[0]["connection"]]
        self.assertEqual([(e["direction"], e["method"]) for e in conv],
                         [("out", "connection_ack"),
                          ("in", "subscription.userCreated"),
                          ("out", "next"), ("out", "next"), ("out", "next"),
                          ("out", "complete")], conv)
        self.assertEqual(json.loads(conv[3]["body"])["payload"],
                         {"data": {"u": {"name": "Bob", "id": "2"}}})

    def test_the_client_completes_a_subscription(self):
        self.sub_mock(events=USERS[1:], delay=400)
        c = self.client([{"query": "subscription { userCreated { name } }",
                          "take": 1}])
        self.assertEqual(c.line(), {"i": 0, "next": {"data": {
            "userCreated": {"name": "Ann"}}}})
        self.assertEqual(c.line(), {"i": 0, "stopped": True})
        self.assertEqual(c.all(), [])
        self.wait_count(0)

    def test_keep_open_gets_published_events_rest_and_mcp(self):
        if not ga.mcp_ready():
            self.skipTest("tests/node/node_modules/@modelcontextprotocol/sdk "
                          "missing")
        self.sub_mock(keep_open=True)
        c = self.client([{"query": "subscription { userCreated { name } }",
                          "take": 3}])
        self.assertEqual(c.line(), {"i": 0, "next": {"data": {
            "userCreated": {"name": "Ann"}}}})
        self.wait_count(1)
        st, js = self.api("POST", ACT + "publish", {
            "field": "userCreated", "data": {"userCreated": USERS[3]}})
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"namespace": "sandbox", "path": "/graphql",
                              "field": "userCreated", "subscriptions": 1})
        self.assertEqual(c.line(), {"i": 0, "next": {"data": {
            "userCreated": {"name": "Di"}}}})
        count, pub = self.calls([
            ("protocol_action", {"section": "graphql",
                                 "action": "subscriptions", "args": {}}),
            ("protocol_action", {"section": "graphql", "action": "publish",
                                 "args": {"path": "/graphql",
                                          "field": "userCreated",
                                          "payload": {"data": {"userCreated": {
                                              "name": "Mcp", "id": "7"}}}}}),
        ])
        self.assertEqual(self.ok(count)["subscriptions"], [
            {"path": "/graphql", "field": "userCreated", "count": 1}])
        self.assertEqual(self.ok(pub)["subscriptions"], 1)
        self.assertEqual(c.line(), {"i": 0, "next": {"data": {
            "userCreated": {"name": "Mcp"}}}})
        self.assertEqual(c.line(), {"i": 0, "stopped": True})
        self.wait_count(0)

    def test_namespaces_by_stubs_path_and_header(self):
        for ns in ("team-b", "team-c"):
            self.d.reset(ns)
            self.d.mock("userCreated", {
                "payload": {"data": {"userCreated": {"id": ns}}},
                "keepOpen": True}, operation="subscription", ns=ns)
        a = RawWs(self.d, path="/stubs/team-b/graphql")
        b = RawWs(self.d, extra="X-Namespace: team-c\r\n")
        q = {"query": "subscription { userCreated { id } }"}
        for ws in (a, b):
            ws.init()
            ws.send({"type": "subscribe", "id": "x", "payload": q})
        self.assertEqual(a.recv()["payload"],
                         {"data": {"userCreated": {"id": "team-b"}}})
        self.assertEqual(b.recv()["payload"],
                         {"data": {"userCreated": {"id": "team-c"}}})
        st, js = self.api("POST", ACT + "publish?namespace=team-c", {
            "field": "userCreated", "data": {"userCreated": {"id": "pub"}}})
        self.assertEqual((st, js["subscriptions"]), (200, 1), js)
        self.assertEqual(b.recv(), {"type": "next", "id": "x", "payload": {
            "data": {"userCreated": {"id": "pub"}}}})
        # nothing reached team-b: its next message is the answer to a ping
        a.send({"type": "ping"})
        self.assertEqual(a.recv(), {"type": "pong"})
        st, js = self.api("GET", ACT + "subscriptions?namespace=team-b")
        self.assertEqual(js["total"], 1, js)
        a.close()
        b.close()

    def test_publish_refuses_bad_arguments(self):
        for body, field in [({"data": {"x": 1}}, "field"),
                            ({"field": "userCreated"}, "data"),
                            ({"field": "userCreated", "data": 3}, "data"),
                            ({"field": "userCreated", "payload": {"x": 1}},
                             "payload"),
                            ({"field": "u", "data": {}, "path": "x"}, "path"),
                            ({"field": "u", "data": {}, "nope": 1}, "nope")]:
            st, js = self.api("POST", ACT + "publish", body)
            self.assertEqual((st, js.get("field")), (400, field), js)

    def test_validation_error_is_an_error_message(self):
        out = self.client([{"query": "subscription { nope }"}]).all()
        self.assertEqual(len(out), 1, out)
        self.assertEqual(out[0]["error"][0]["message"],
                         'Cannot query field "nope" on type "Subscription".')

    def test_a_subscription_without_a_mock_gets_one_fake_event(self):
        out = self.client([{"query": "subscription { userCreated { id } }"}]
                          ).all()
        self.assertEqual(len(out), 2, out)
        self.assertIsInstance(out[0]["next"]["data"]["userCreated"]["id"],
                              str)
        self.assertEqual(out[1], {"i": 0, "complete": True})

    def test_mock_check_refuses_bad_events(self):
        for resp, field in [
                ({"keepOpen": "yes"}, "response.keepOpen"),
                ({"subscriptionEvents": {}}, "response.subscriptionEvents"),
                ({"subscriptionEvents": [1]}, "response.subscriptionEvents[0]"),
                ({"subscriptionEvents": [{"payload": {"data": {}},
                                          "delay": -1}]},
                 "response.subscriptionEvents[0].delay"),
                ({"subscriptionEvents": [{"payload": {"data": {}},
                                          "when": 1}]},
                 "response.subscriptionEvents[0].when")]:
            r = self.d.mock("userCreated", resp, operation="subscription",
                            expect=None)
            self.assertEqual((r.status, r.json().get("field")), (400, field),
                             r)

    # -- raw sockets: handshake and close codes ---------------------------
    def test_handshake_refusals(self):
        ws = RawWs(self.d, protocols="graphql-ws")
        self.assertEqual(ws.status, 400)
        self.assertIn("graphql-transport-ws", ws.body)
        ws.close()
        ws = RawWs(self.d, version="12")
        self.assertEqual(ws.status, 426)
        self.assertEqual(ws.headers.get("sec-websocket-version"), "13")
        ws.close()
        ws = RawWs(self.d, protocols="graphql-ws, graphql-transport-ws")
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers["sec-websocket-protocol"],
                         "graphql-transport-ws")
        ws.close()
        # below the stubs prefix too
        ws = RawWs(self.d, path="/stubs/sandbox/graphql")
        self.assertEqual(ws.status, 101)
        ws.close()

    def test_subscribe_before_init_is_4401(self):
        ws = RawWs(self.d)
        ws.send({"type": "subscribe", "id": "1",
                 "payload": {"query": "{ version }"}})
        self.assertEqual(ws.closed(), (4401, "Unauthorized"))
        ws.close()

    def test_duplicate_id_is_4409(self):
        self.sub_mock(keep_open=True)
        ws = RawWs(self.d)
        ws.init()
        sub = {"type": "subscribe", "id": "a",
               "payload": {"query": "subscription { userCreated { id } }"}}
        ws.send(sub)
        self.assertEqual(ws.recv(), {"type": "next", "id": "a", "payload": {
            "data": {"userCreated": {"id": "1"}}}})
        ws.send(sub)
        self.assertEqual(ws.closed(), (4409, "Subscriber for a already exists"))
        ws.close()
        self.wait_count(0)

    def test_bad_messages_are_4400(self):
        for bad in ["{not json", '{"type": "what"}', '[1]',
                    '{"type": "subscribe", "id": "", "payload": {}}']:
            ws = RawWs(self.d)
            ws.init()
            ws.send(bad)
            self.assertEqual(ws.closed()[0], 4400, bad)
            ws.close()

    def test_second_init_is_4429_and_pings_are_answered(self):
        ws = RawWs(self.d)
        ws.init()
        ws.send({"type": "ping", "payload": {"n": 1}})
        self.assertEqual(ws.recv(), {"type": "pong", "payload": {"n": 1}})
        ws.send_frame(9, b"hi")  # a WebSocket ping
        self.assertEqual(ws.frame(), (10, b"hi"))
        ws.send({"type": "connection_init"})
        self.assertEqual(ws.closed(), (4429, "Too many initialisation "
                                             "requests"))
        ws.close()

    def test_nothing_follows_the_clients_complete(self):
        self.sub_mock(events=USERS[1:], delay=150)
        ws = RawWs(self.d)
        ws.init()
        ws.send({"type": "subscribe", "id": "s", "payload": {
            "query": "subscription { userCreated { name } }"}})
        self.assertEqual(ws.recv()["payload"],
                         {"data": {"userCreated": {"name": "Ann"}}})
        ws.send({"type": "complete", "id": "s"})
        time.sleep(0.6)  # past every event's time
        ws.send({"type": "ping"})
        self.assertEqual(ws.recv(), {"type": "pong"})
        ws.close()

    def test_websocket_errors_close_with_the_rfc_codes(self):
        ws = RawWs(self.d)
        ws.init()
        ws.s.sendall(b"\x81\x02hi")  # unmasked from a client
        self.assertEqual(ws.closed()[0], 1002)
        ws.close()
        ws = RawWs(self.d)
        ws.init()
        ws.send_frame(1, b'{"type": "ping", "x": "\xff"}')  # not UTF-8
        self.assertEqual(ws.closed()[0], 1007)
        ws.close()

    def test_query_over_raw_socket_and_client_close(self):
        self.d.mock("version", {"payload": {"data": {"version": "1.2"}}})
        ws = RawWs(self.d)
        ws.init()
        ws.send({"type": "subscribe", "id": "q",
                 "payload": {"query": "{ version }"}})
        self.assertEqual(ws.recv(), {"type": "next", "id": "q",
                                     "payload": {"data": {"version": "1.2"}}})
        self.assertEqual(ws.recv(), {"type": "complete", "id": "q"})
        ws.send_frame(8, struct.pack("!H", 1000))
        self.assertEqual(ws.closed(), (1000, ""))
        ws.close()


class GraphqlWsLimits(GraphqlWsBase):
    options = {"connection_init_timeout": "300", "ws_max_message": "2k",
               "fake_missing": "false", "ws_max_subscriptions": "1"}

    def test_no_init_in_time_is_4408(self):
        ws = RawWs(self.d)
        t0 = time.time()
        self.assertEqual(ws.closed(timeout=5),
                         (4408, "Connection initialisation timeout"))
        self.assertGreaterEqual(time.time() - t0, 0.25)
        ws.close()

    def test_message_over_the_limit_is_1009(self):
        ws = RawWs(self.d)
        ws.init()
        ws.send({"type": "ping", "payload": {"x": "y" * 3000}})
        self.assertEqual(ws.closed()[0], 1009)
        ws.close()

    def test_unmatched_subscription_is_an_error_with_near_misses(self):
        self.d.mock("userCreated", {"payload": {"data": {"userCreated":
                                                         USERS[0]}}},
                    operation="subscription",
                    header={"X-Tenant": "a"})
        ws = RawWs(self.d)
        ws.init()
        ws.send({"type": "subscribe", "id": "s",
                 "payload": {"query": "subscription { userCreated { id } }"}})
        msg = ws.recv()
        self.assertEqual((msg["type"], msg["id"]), ("error", "s"), msg)
        err = msg["payload"][0]
        self.assertIn("No mock", err["message"])
        self.assertEqual(err["extensions"]["doppel"]["operation"],
                         "subscription.userCreated")
        self.assertEqual(len(err["extensions"]["doppel"]["nearMisses"]), 1)
        ws.close()

    def test_operations_in_flight_are_bounded(self):
        self.sub_mock(keep_open=True)
        ws = RawWs(self.d)
        ws.init()
        q = {"query": "subscription { userCreated { id } }"}
        ws.send({"type": "subscribe", "id": "1", "payload": q})
        ws.assert_type(ws.recv(), "next")
        ws.send({"type": "subscribe", "id": "2", "payload": q})
        msg = ws.recv()
        self.assertEqual((msg["type"], msg["id"]), ("error", "2"))
        self.assertIn("ws_max_subscriptions", msg["payload"][0]["message"])
        ws.close()


class GraphqlWsSlowReader(GraphqlWsBase):
    def test_a_client_that_does_not_read_is_dropped(self):
        self.sub_mock(keep_open=True)
        ws = RawWs(self.d)
        ws.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.init()
        ws.send({"type": "subscribe", "id": "s", "payload": {
            "query": "subscription { userCreated { name } }"}})
        ws.assert_type(ws.recv(), "next")
        self.wait_count(1)
        big = {"userCreated": {"name": "x" * (512 * 1024)}}
        for _ in range(60):  # 30 MiB, past the host's 16 MiB queue
            st, js = self.api("POST", ACT + "publish", {
                "field": "userCreated", "data": big})
            self.assertEqual(st, 200, js)
            if js["subscriptions"] == 0:
                break
        self.wait_count(0)
        self.assertIn("does not read its events: dropped", self.d.log())
        ws.close()
        # the server still serves others
        ws = RawWs(self.d)
        ws.init()
        ws.close()


class GraphqlWsDrain(GraphqlWsBase):
    workers = 2

    def test_sigterm_closes_connections_with_1001(self):
        self.sub_mock(keep_open=True)
        socks = []
        for i in range(4):
            ws = RawWs(self.d)
            ws.init()
            ws.send({"type": "subscribe", "id": "s%d" % i, "payload": {
                "query": "subscription { userCreated { id } }"}})
            ws.assert_type(ws.recv(), "next")
            socks.append(ws)
        self.wait_count(4)
        code = self.d.stop(signal.SIGTERM, timeout=20)
        self.assertEqual(code, 0, self.d.log())
        for ws in socks:
            self.assertEqual(ws.closed()[0], 1001)
            ws.close()


if __name__ == "__main__":
    harness.main()
