"""The protocol switch of the HTTP front (ABI 1.2 svc->http_upgrade), with
the test plugin tests/plugins/upgrade_echo.c on /echo and raw sockets as
the client: the 101 and its headers, the bytes sent right after the
request reaching the new owner, pipelined answers before the 101, a
refused switch answered as plain HTTP, headers the front owns refused,
a switch lost because the client left first, and the server serving
everyone else throughout."""

import os
import socket
import time
import unittest

import harness
from harness import Doppel

UP = (b"GET /echo%s HTTP/1.1\r\nHost: x\r\nUpgrade: x-echo\r\n"
      b"Connection: Upgrade\r\n\r\n")


def read_until(s, marker, limit=65536, timeout=5):
    s.settimeout(timeout)
    data = b""
    while marker not in data and len(data) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Upgrade(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        plugins = os.path.join(harness.BUILD_DIR, "tests", "plugins")
        cls.d = Doppel(config=(
            "[http]\nenabled = true\n[upgrade_echo]\npath = %s\n"
            "enabled = true\n" % os.path.join(plugins,
                                              "doppel_upgrade_echo.so")))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def sock(self):
        return socket.create_connection((self.d.host, self.d.port),
                                        timeout=5)

    def test_switch_and_echo_with_bytes_sent_early(self):
        with self.sock() as s:
            s.sendall(UP % b"" + b"early")
            head = read_until(s, b"\r\n\r\n")
            status, _, rest = head.partition(b"\r\n")
            self.assertEqual(status, b"HTTP/1.1 101 Switching Protocols")
            lines = rest.split(b"\r\n")
            self.assertIn(b"Connection: Upgrade", lines)
            self.assertIn(b"Upgrade: x-echo", lines)
            self.assertIn(b"X-Echo-Via: upgrade_echo", lines)
            self.assertFalse([l for l in lines
                              if l.lower().startswith(b"content-length")])
            body = head.partition(b"\r\n\r\n")[2]
            body += read_until(s, b"EARLY") if b"EARLY" not in body else b""
            self.assertEqual(body, b"EARLY")
            s.sendall(b"more bytes")
            self.assertEqual(read_until(s, b"BYTES"), b"MORE BYTES")
            s.sendall(b"QUIT")
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")  # closed by the plugin

    def test_pipelined_answer_comes_before_the_101(self):
        with self.sock() as s:
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n" +
                      UP % b"")
            data = read_until(s, b"Switching Protocols")
            data += read_until(s, b"\r\n\r\n") if not data.endswith(
                b"\r\n\r\n") else b""
            first = data.index(b"HTTP/1.1 200")
            second = data.index(b"HTTP/1.1 101")
            self.assertLess(first, second)
            s.sendall(b"abc")
            self.assertIn(b"ABC", read_until(s, b"ABC"))

    def test_refused_switch_is_plain_http_then_closed(self):
        with self.sock() as s:
            s.sendall(UP % b"?refuse")
            data = read_until(s, b"no")
            self.assertTrue(data.startswith(b"HTTP/1.1 403"), data)
            self.assertIn(b"Connection: close", data)
            s.settimeout(5)
            rest = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            self.assertNotIn(b"101", rest)

    def test_front_owned_header_refused_and_exchange_answered(self):
        with self.sock() as s:
            s.sendall(UP % b"?bad")
            data = read_until(s, b"}")
            self.assertTrue(data.startswith(b"HTTP/1.1 500"), data)
            self.assertIn(b'{"rc": -22}', data)

    def test_no_upgrade_header_cannot_switch(self):
        r = self.d.get("/echo")
        self.assertEqual(r.status, 426, r)
        self.assertEqual(r.json(), {"rc": -22})

    def wait_log(self, text):
        deadline = time.time() + 5
        while text not in self.d.log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.d.log())

    def test_client_gone_before_the_handler_switches(self):
        s = self.sock()
        s.sendall(UP % b"?later=300")
        s.close()
        self.wait_log("echo: client gone")

    def test_switch_lost_when_the_client_leaves_before_the_101(self):
        s = self.sock()
        # the 101 waits behind the slow answer; the client leaves meanwhile
        s.sendall(b"GET /echo?slow=400 HTTP/1.1\r\nHost: x\r\n\r\n" +
                  UP % b"")
        time.sleep(0.1)
        s.close()
        self.wait_log("echo: switch lost")
        with self.sock() as s2:  # still serving, and counting
            s2.sendall(UP % b"")
            read_until(s2, b"\r\n\r\n")
            s2.sendall(b"INFO")
            info = read_until(s2, b"\n")
            self.assertRegex(info.decode(), r"switched=\d+ lost=[1-9]")

    def test_slow_answer_then_switch(self):
        with self.sock() as s:
            s.sendall(b"GET /echo?slow=100 HTTP/1.1\r\nHost: x\r\n\r\n" +
                      UP % b"")
            data = read_until(s, b"Switching Protocols")
            self.assertLess(data.index(b"slow"), data.index(b"HTTP/1.1 101"))
            if not data.endswith(b"\r\n\r\n"):
                read_until(s, b"\r\n\r\n")
            s.sendall(b"ok")
            self.assertEqual(read_until(s, b"OK"), b"OK")

    def test_many_switches_and_plain_requests_side_by_side(self):
        socks = []
        for i in range(50):
            s = self.sock()
            s.sendall(UP % b"")
            socks.append(s)
        for s in socks:
            self.assertIn(b"101", read_until(s, b"\r\n\r\n"))
        self.assertEqual(self.d.get("/health/live").status, 200)
        for i, s in enumerate(socks):
            s.sendall(b"n%d" % i)
        for i, s in enumerate(socks):
            self.assertEqual(read_until(s, b"N%d" % i), b"N%d" % i)
            s.close()


if __name__ == "__main__":
    harness.main()
