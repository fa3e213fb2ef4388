"""10,000 connections opened and dropped, WebSocket and SSE, while another
client is served throughout and gets every answer: clean closes (the
peer's close echoed with its code), abrupt drops before and after the
switch, malformed upgrades and subscriptions (a 4xx). Afterwards the
server counts no connection left but the served one, and its resident
memory after the second 5,000 has not grown past the first 5,000's by
more than a small margin (nothing is kept per connection once it is
gone). Connections are opened in batches, far below ulimit -n, and the
test stops by itself: every socket has a timeout and the whole churn a
deadline."""

import json
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ws_helpers as wh  # noqa: E402

TOTAL = 10000
BATCH = 100
DEADLINE_S = 240
# what the second half may add to the resident set: allocator slack, not
# a per-connection leak (10 bytes a connection would already be 50 KB;
# 1 KiB each, 5 MB)
RSS_SLACK = 3 * 1024 * 1024


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) before it is reused, which would read as growth: the servers
# of this test run without it (a no-op for a build without ASan; leaks are
# still reported at exit).
ENV = {"ASAN_OPTIONS": ":".join(
    o for o in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0")
    if o)}


def config(text=None):
    text = text or harness.default_config()
    # a short journal, full long before the first half is done, so that
    # what it holds does not count as growth
    return text.replace("\n[server]\n", "\n[server]\njournal_size = 200\n", 1)


def metric(d, name):
    """The sum of a counter's series on /metrics."""
    text = d.get("/metrics").body.decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def linger0(s):
    """Close sends a RST: the most abrupt drop a client can make."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    return (int(line.split(" ")[1]) if line.startswith("HTTP/") else 0), rest


class WsChurn(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel(config=config(wh.config()), workers=2,
                               env=ENV)
        d = cls.d
        r = d.post("/api/v1/mocks", {"socket": {"path": "/c/echo"},
                                     "response": {"payload": "$.req"}})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def connections(self):
        r = self.d.get("/api/v1/protocols/socket/actions/connections"
                       "?namespace=sandbox")
        self.assertEqual(r.status, 200, r.body)
        return r.json()["connections"]

    def one_batch(self, start, req, bad):
        """BATCH connections, each ending one of five ways; returns what
        the clean closes and malformed upgrades were answered."""
        socks = []
        for i in range(start, start + BATCH):
            s = socket.create_connection((self.d.host, self.d.port),
                                         timeout=10)
            socks.append((i % 5, s))
            kind = i % 5
            if kind == 0:
                s.sendall(bad)  # malformed upgrade: no Sec-WebSocket-Key
            elif kind == 1:
                s.sendall(req[:25])  # dropped in the middle of the upgrade
            else:
                s.sendall(req)
        codes = {"bad": [], "clean": []}
        for kind, s in socks:
            if kind == 0:
                codes["bad"].append(read_head(s)[0])
                s.close()
            elif kind == 1:
                linger0(s)
                s.close()
            elif kind == 2:
                status, _ = read_head(s)
                self.assertEqual(status, 101)
                linger0(s)  # dropped after the 101, no close frame
                s.close()
            elif kind == 3:
                status, rest = read_head(s)
                self.assertEqual(status, 101)
                s.sendall(wh.frame(0x8, struct.pack("!H", 1000) + b"bye"))
                raw = wh.RawWs.__new__(wh.RawWs)
                raw.s, raw.buf = s, rest
                codes["clean"].append(raw.read_close())
                s.close()
            else:
                status, rest = read_head(s)
                self.assertEqual(status, 101)
                s.sendall(wh.frame(0x1, b"x"))  # a message, then gone
                s.close()
        return codes

    def test_10000_connections_while_one_is_served(self):
        d = self.d
        served = wh.RawWs(d, "/c/echo")
        self.addCleanup(served.close)
        self.assertEqual(served.status, 101)
        req = wh.handshake("/c/echo")
        bad = wh.handshake("/c/echo", key="")
        start = time.time()
        rss = {}
        answered = 0
        for b in range(0, TOTAL, BATCH):
            self.assertLess(time.time() - start, DEADLINE_S,
                            "churn too slow: %d connections" % b)
            codes = self.one_batch(b, req, bad)
            self.assertEqual(codes["bad"], [400] * (BATCH // 5))
            self.assertEqual(codes["clean"], [(1000, "bye")] * (BATCH // 5))
            served.text("n%d" % b)
            self.assertEqual(served.read_data(), (0x1, b"n%d" % b))
            answered += 1
            if b + BATCH in (TOTAL // 2, TOTAL):
                # the server noticed every drop: only the served one left
                ok = None
                for _ in range(100):
                    ok = self.connections()
                    if len(ok) == 1:
                        break
                    time.sleep(0.05)
                self.assertEqual(len(ok), 1, ok[:3])
                rss[b + BATCH] = rss_bytes(d.proc.pid)
        self.assertEqual(answered, TOTAL // BATCH)
        grown = rss[TOTAL] - rss[TOTAL // 2]
        sys.stderr.write("\nws churn: %.1f s, RSS %.1f MiB after 5k, %.1f "
                         "MiB after 10k\n" % (time.time() - start,
                                               rss[TOTAL // 2] / 2**20,
                                               rss[TOTAL] / 2**20))
        self.assertLess(grown, RSS_SLACK, rss)
        served.send(wh.frame(0x8, struct.pack("!H", 1000)))
        self.assertEqual(served.read_close(), (1000, ""))
        served.close()
        for _ in range(100):
            if not self.connections():
                break
            time.sleep(0.05)
        self.assertEqual(self.connections(), [])
        # every switched connection was counted open and closed: 3 of 5
        # kinds switch, and the served one
        opened = metric(d, "doppel_plugin_connections_opened_total")
        closed = metric(d, "doppel_plugin_connections_closed_total")
        self.assertEqual(opened, TOTAL * 3 // 5 + 1)
        self.assertEqual(closed, opened)
        self.assertEqual(d.get("/health").status, 200)


class SseChurn(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Doppel(config=config(), workers=2, env=ENV)
        r = cls.d.post("/api/v1/mocks", {
            "sse": {"eventPath": "/c/feed"},
            "response": {"sseEventChain": {"events": [
                {"data": "hello"}, {"data": "late", "delay": 3600000}]}}})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def subscribers(self):
        r = self.d.get("/api/v1/protocols/sse/actions/subscribers"
                       "?namespace=sandbox")
        self.assertEqual(r.status, 200, r.body)
        return r.json()["total"]

    def get(self, path, extra=""):
        return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Accept: text/event-stream\r\n%s\r\n" % (path, extra)).encode()

    def one_batch(self, start):
        socks = []
        for i in range(start, start + BATCH):
            s = socket.create_connection((self.d.host, self.d.port),
                                         timeout=10)
            kind = i % 4
            if kind == 0:
                s.sendall(self.get("/c/feed", "X-Namespace: bad ns!\r\n"))
            elif kind == 1:
                s.sendall(self.get("/c/feed")[:20])  # dropped mid-request
            else:
                s.sendall(self.get("/c/feed"))
            socks.append((kind, s))
        bad = []
        for kind, s in socks:
            if kind == 0:
                bad.append(read_head(s)[0])
            elif kind >= 2:
                status, rest = read_head(s)
                self.assertEqual(status, 200)
                while b"hello" not in rest:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "stream ended early")
                    rest += chunk
                if kind == 3:
                    linger0(s)
            s.close()
        return bad

    def test_10000_subscriptions_while_one_is_served(self):
        d = self.d
        served = socket.create_connection((d.host, d.port), timeout=10)
        self.addCleanup(served.close)
        served.sendall(self.get("/c/feed"))
        status, got = read_head(served)
        self.assertEqual(status, 200)
        start = time.time()
        rss = {}
        for b in range(0, TOTAL, BATCH):
            self.assertLess(time.time() - start, DEADLINE_S,
                            "churn too slow: %d subscriptions" % b)
            self.assertEqual(self.one_batch(b), [400] * (BATCH // 4))
            # the served subscriber gets every event published meanwhile
            r = d.post("/api/v1/protocols/sse/actions/publish"
                       "?namespace=sandbox",
                       {"path": "/c/feed", "event": "n", "data": "n%d" % b})
            self.assertEqual(r.status, 200, r.body)
            want = ("data: n%d\n\n" % b).encode()
            while want not in got:
                chunk = served.recv(65536)
                self.assertTrue(chunk, "the served stream ended")
                got += chunk
            got = got[got.index(want) + len(want):]
            if b + BATCH in (TOTAL // 2, TOTAL):
                # dropped streams are noticed at the next write or by the
                # probe within a second: only the served one is left
                n = None
                for _ in range(60):
                    n = self.subscribers()
                    if n == 1:
                        break
                    time.sleep(0.1)
                self.assertEqual(n, 1)
                rss[b + BATCH] = rss_bytes(d.proc.pid)
        sys.stderr.write("\nsse churn: %.1f s, RSS %.1f MiB after 5k, %.1f "
                         "MiB after 10k\n" % (time.time() - start,
                                               rss[TOTAL // 2] / 2**20,
                                               rss[TOTAL] / 2**20))
        self.assertLess(rss[TOTAL] - rss[TOTAL // 2], RSS_SLACK, rss)
        served.close()
        n = None
        for _ in range(60):
            n = self.subscribers()
            if n == 0:
                break
            time.sleep(0.1)
        self.assertEqual(n, 0)
        # half the kinds streamed, and the served one
        self.assertEqual(metric(d, "doppel_plugin_streams_opened_total"),
                         TOTAL // 2 + 1)
        self.assertEqual(d.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()
