"""RFC 6455 edges of the WebSocket plugin, with raw sockets (frames no
library sends) and Debian's python3-websockets as a second strict client:
an unmasked client frame gets 1002, invalid UTF-8 1007, an oversized
message 1009; fragmented messages with a ping between the fragments;
ping/pong; the peer's close echoed; bad handshakes answered 400 / 426;
an idle connection pinged and dropped when no pong comes; 1,000
connections opened and dropped while another client keeps being served."""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ws_helpers as wh  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"

CLIENT = r'''
import asyncio, json, sys
import websockets

async def main(url):
    out = {}
    async with websockets.connect(url, subprotocols=["v2", "v1"],
                                  compression="deflate") as ws:
        out["subprotocol"] = ws.subprotocol
        out["extensions"] = ws.response_headers.get(
            "Sec-WebSocket-Extensions")
        await ws.send(json.dumps({"event": "echo", "text": "strict"}))
        out["answer"] = await ws.recv()
        await ws.send(bytes([0, 1, 2, 250]))
        out["binary"] = await ws.recv()
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        out["pong"] = True
        await ws.send(json.dumps({"event": "bye"}))
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            out["close"] = [e.code, e.reason]
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
'''


def system_websockets():
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    p = subprocess.run([SYSTEM_PYTHON, "-c", "import websockets"],
                       capture_output=True)
    return p.returncode == 0


class WsRfc(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = wh.WsDoppel(options={"max_message_bytes": "1k",
                                     "ping_interval": "1s",
                                     "pong_timeout": "1s",
                                     "subprotocols": "v1, v2"})
        d = cls.d
        d.mock({"path": "/r/echo"}, {"payload": "$.req"})
        d.mock({"path": "/r/echo", "event": "echo"},
               {"payload": {"echo": "$.req.text"}})
        d.mock({"path": "/r/echo",
                "conditions": [{"path": "binary", "assertAction": "equals",
                                "value": "aGkh"}]},
               {"payload": "binary hi!"})
        d.mock({"path": "/r/echo", "event": "bye"},
               {"close": {"code": 4100, "reason": "strict bye"}})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def open(self, path="/r/echo"):
        raw = wh.RawWs(self.d, path)
        self.addCleanup(raw.close)
        self.assertEqual(raw.status, 101, raw.head)
        return raw

    def test_unmasked_client_frame_closes_1002(self):
        raw = self.open()
        raw.send(wh.frame(0x1, b"hello", mask=False))
        code, _ = raw.read_close()
        self.assertEqual(code, 1002)

    def test_invalid_utf8_closes_1007(self):
        raw = self.open()
        raw.send(wh.frame(0x1, b"ok \xc3\x28 bad"))
        code, _ = raw.read_close()
        self.assertEqual(code, 1007)

    def test_oversized_message_closes_1009(self):
        raw = self.open()
        raw.send(wh.frame(0x1, b"x" * 2000))
        code, _ = raw.read_close()
        self.assertEqual(code, 1009)

    def test_fragmented_message_with_a_ping_between(self):
        raw = self.open()
        raw.send(wh.frame(0x1, b"hello ", fin=False))
        raw.send(wh.frame(0x0, b"wo", fin=False))
        raw.send(wh.frame(0x9, b"mid"))
        raw.send(wh.frame(0x0, b"rld", fin=True))
        self.assertEqual(raw.read_frame(), (0xA, b"mid"))
        self.assertEqual(raw.read_frame(), (0x1, b"hello world"))

    def test_binary_message_is_base64_in_the_body(self):
        raw = self.open()
        raw.send(wh.frame(0x2, b"hi!"))
        self.assertEqual(raw.read_frame(), (0x1, b"binary hi!"))

    def test_ping_is_answered_with_its_payload(self):
        raw = self.open()
        raw.send(wh.frame(0x9, b"\x01\x02payload"))
        self.assertEqual(raw.read_frame(), (0xA, b"\x01\x02payload"))

    def test_peer_close_is_echoed(self):
        raw = self.open()
        raw.send(wh.frame(0x8, struct.pack("!H", 4321) + b"later"))
        self.assertEqual(raw.read_close(), (4321, "later"))
        self.assertEqual(raw.s.recv(10), b"")  # then the server closes

    def test_bad_handshakes(self):
        no_key = self.d.raw(wh.handshake("/r/echo", key=""))
        self.assertTrue(no_key.startswith(b"HTTP/1.1 400"), no_key)
        v12 = self.d.raw(wh.handshake("/r/echo", version="12"))
        self.assertTrue(v12.startswith(b"HTTP/1.1 426"), v12)
        self.assertIn(b"Sec-WebSocket-Version: 13", v12)
        # not an upgrade at all: the WebSocket plugin leaves it to http
        plain = self.d.get("/r/echo")
        self.assertEqual(plain.status, 404)

    def test_idle_connection_pinged_then_dropped_without_pong(self):
        raw = self.open()
        raw.s.settimeout(6)
        t0 = time.time()
        op, _ = raw.read_frame()
        self.assertEqual(op, 0x9)  # the server's ping after ~1 s idle
        # no pong: dropped within pong_timeout (plus a tick)
        with self.assertRaises(EOFError):
            while True:
                raw.read_frame()
        self.assertLess(time.time() - t0, 5.5)

    def test_answered_pong_keeps_the_connection(self):
        raw = self.open()
        raw.s.settimeout(6)
        for _ in range(2):
            op, p = raw.read_frame()
            self.assertEqual(op, 0x9)
            raw.send(wh.frame(0xA, p))
        raw.text("still here")
        self.assertEqual(raw.read_frame(), (0x1, b"still here"))

    def test_churn_of_1000_connections_while_one_is_served(self):
        served = self.open()
        answered = 0
        req = wh.handshake("/r/echo")
        for i in range(1000):
            s = socket.create_connection((self.d.host, self.d.port),
                                         timeout=5)
            if i % 3 == 0:
                s.sendall(req[:20])  # dropped in the middle of the upgrade
            elif i % 3 == 1:
                s.sendall(req)  # dropped right after asking
            else:
                s.sendall(req)
                s.recv(4096)  # dropped after the 101
                s.sendall(wh.frame(0x1, b"x", fin=False))
            s.close()
            if i % 100 == 0:
                served.text("n%d" % i)
                self.assertEqual(served.read_data(), (0x1, b"n%d" % i))
                answered += 1
        self.assertEqual(answered, 10)
        self.assertEqual(self.d.get("/health").status, 200)
        served.text("after")
        self.assertEqual(served.read_data(), (0x1, b"after"))

    def test_burst_answered_in_full_by_a_late_reader(self):
        # 300 messages in one write, 50 KB answered to each: doppel stops
        # parsing while the answers wait, so nothing piles up past the
        # backlog bound and the client, reading late, gets every answer
        self.d.mock({"path": "/r/big"}, {"payload": "y" * 50000})
        raw = self.open("/r/big")
        raw.send(b"".join(wh.frame(0x1, b"m") for _ in range(300)))
        time.sleep(1.0)
        raw.s.settimeout(10)
        for i in range(300):
            op, p = raw.read_data()
            self.assertEqual((op, len(p)), (0x1, 50000), i)

    def test_strict_client_python3_websockets(self):
        if not system_websockets():
            self.skipTest("%s lacks the websockets module (Debian's "
                          "python3-websockets)" % SYSTEM_PYTHON)
        url = "ws://%s:%d/r/echo" % (self.d.host, self.d.port)
        p = subprocess.run([SYSTEM_PYTHON, "-c", CLIENT, url],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json.loads(p.stdout)
        self.assertEqual(out["subprotocol"], "v1")  # the server's preference
        self.assertIn("permessage-deflate", out["extensions"])
        self.assertEqual(json.loads(out["answer"]), {"echo": "strict"})
        # binary: the body {"binary": base64}, echoed by "$.req" as JSON
        self.assertEqual(json.loads(out["binary"]), {"binary": "AAEC+g=="})
        self.assertTrue(out["pong"])
        self.assertEqual(out["close"], [4100, "strict bye"])


class WsBacklog(unittest.TestCase):
    """A client that stops reading is dropped once max_backlog_bytes of
    answers wait for it; error_frames answers what no mock matched."""

    @classmethod
    def setUpClass(cls):
        cls.d = wh.WsDoppel(options={"max_backlog_bytes": "4k",
                                     "error_frames": "true",
                                     "ping_interval": "0"})
        cls.d.mock({"path": "/r/flood", "event": "connect"},
                   {"schedule": {"every": 10, "data": "x" * 60000}})
        cls.d.mock({"path": "/r/quiet", "event": "known"},
                   {"payload": "known"})

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def slow_readers(self):
        for line in self.d.get("/metrics").body.decode().splitlines():
            if line.startswith("doppel_plugin_slow_readers_total"):
                return float(line.split()[-1])
        return 0.0

    def test_reader_that_stops_reading_is_dropped(self):
        raw = wh.RawWs(self.d, "/r/flood")
        self.addCleanup(raw.close)
        self.assertEqual(raw.status, 101, raw.head)
        deadline = time.time() + 20
        while self.slow_readers() < 1 and time.time() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(self.slow_readers(), 1)
        # what the kernel held arrives, then the end: no close frame
        raw.s.settimeout(5)
        with self.assertRaises(EOFError):
            while True:
                op, _ = raw.read_frame()
                self.assertEqual(op, 0x1)
        r = self.d.get("/api/v1/protocols/socket/actions/connections"
                       "?path=/r/flood")
        self.assertEqual(r.json()["connections"], [])

    def test_error_frame_for_a_message_no_mock_matched(self):
        raw = wh.RawWs(self.d, "/r/quiet")
        self.addCleanup(raw.close)
        raw.text('{"event": "unknown"}')
        op, p = raw.read_frame()
        self.assertEqual(op, 0x1)
        self.assertEqual(json.loads(p), {"error": "no mock matched this "
                                                  "message",
                                         "event": "unknown"})
        raw.text('{"event": "known"}')
        self.assertEqual(raw.read_frame(), (0x1, b"known"))


if __name__ == "__main__":
    harness.main()
