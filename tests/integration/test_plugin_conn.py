"""ABI 1.2 connections, timers, watches and posts through the real server,
with the out-of-tree example plugin sdk/examples/lines built against the
installed SDK (as a third party would build it): its own conn_listen port,
connections claimed on the main port (and the MCP plugin's http_listen
port) by their first bytes "LINES\\n", back-pressure, a client that stops
reading, closing with writes queued, and SIGTERM with connections open.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXAMPLE = os.path.join(harness.SOURCE_DIR, "sdk", "examples", "lines")
LINES_RE = r"listening on (\S+):(\d+) \(lines\)"


def run(cmd, timeout=240):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (
            " ".join(cmd), p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))


def build_example(tmp):
    prefix = os.path.join(tmp, "prefix")
    run(["cmake", "--install", os.path.abspath(harness.BUILD_DIR),
         "--prefix", prefix, "--component", "sdk"])
    src = os.path.join(tmp, "lines-src")
    shutil.copytree(EXAMPLE, src)  # truly out of the doppel tree
    build = os.path.join(tmp, "lines-build")
    run(["cmake", "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix])
    run(["cmake", "--build", build, "-j2"])
    so = os.path.join(build, "plugins", "doppel_lines.so")
    if not os.path.isfile(so):
        raise AssertionError("no %s" % so)
    return so


class Client:
    """A line client with bounded waits."""

    def __init__(self, port, timeout=10.0, prefix=None):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        self.buf = b""
        if prefix is not None:
            self.s.sendall(prefix)

    def send(self, data):
        self.s.sendall(data)

    def until(self, token, limit=64 << 20):
        """Reads until token is in what arrived; returns everything up to
        and including it."""
        while token not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("no %r in %d bytes" % (token,
                                                            len(self.buf)))
            b = self.s.recv(1 << 16)
            if not b:
                raise AssertionError("EOF before %r; got %r" % (
                    token, self.buf[-200:]))
            self.buf += b
        i = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def rest(self):
        """Everything until EOF (a reset counts as EOF); (bytes, reset)."""
        out, reset = self.buf, False
        self.buf = b""
        while True:
            try:
                b = self.s.recv(1 << 16)
            except ConnectionResetError:
                reset = True
                break
            if not b:
                break
            out += b
        return out, reset

    def close(self):
        self.s.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PluginConn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="doppel-conn-")
        cls.so = build_example(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, extra=""):
        config = harness.default_config() + (
            "\n[lines]\npath = %s\nenabled = true\nlisten = 127.0.0.1:0\n%s"
            % (self.so, extra))
        d = harness.Doppel(config=config, workers=1)
        import re
        m = re.search(LINES_RE, d.log())
        self.assertIsNotNone(m, d.log())
        d.lines_port = int(m.group(2))
        return d

    def test_own_port_echo_timer_thread_pipe(self):
        with self.serve() as d:
            c = Client(d.lines_port)
            self.assertEqual(c.until(b"\n"), b"hello listen\n")
            c.send(b"hi there\n")
            self.assertEqual(c.until(b"\n"), b"echo: hi there\n")
            # a repeating timer that stops itself after 3
            c.send(b"tick 3\n")
            self.assertEqual(c.until(b"tick 3\n"), b"tick 1\ntick 2\ntick 3\n")
            # a thread of the plugin's own posts back to the loop
            c.send(b"thread\n")
            self.assertEqual(c.until(b"\n"), b"thread: posted\n")
            # through the pipe the plugin watches with fd_watch
            c.send(b"pipe through the pipe\n")
            self.assertEqual(c.until(b"\n"), b"pipe: through the pipe\n")
            # a line in two pieces, and CRLF
            c.send(b"split ")
            time.sleep(0.05)
            c.send(b"line\r\n")
            self.assertEqual(c.until(b"\n"), b"echo: split line\n")
            # paused reading: what is sent meanwhile is read after resume
            c.send(b"hold 300\n")
            self.assertEqual(c.until(b"\n"), b"holding\n")
            c.send(b"after the hold\n")
            self.assertEqual(c.until(b"\n"), b"resumed\n")
            self.assertEqual(c.until(b"\n"), b"echo: after the hold\n")
            c.send(b"bye\n")
            self.assertEqual(c.until(b"\n"), b"bye\n")
            out, _ = c.rest()
            self.assertEqual(out, b"")  # closed by the server after bye
            c.close()
            # no tick arrives after the timer stopped: the next line is ours
            c = Client(d.lines_port)
            c.until(b"hello listen\n")
            c.send(b"tick 2\nstats\n")
            got = c.until(b"stats: ")
            self.assertNotIn(b"tick 3", got)
            c.close()
            self.assertIn("listening on 127.0.0.1:%d (lines)" % d.lines_port,
                          d.log())

    def test_mock_section_and_a_session_per_connection(self):
        """The example's own mock section (protocol.h): its check refuses a
        bad command naming the field; mocks answer "call" lines matched in
        the connection's engine session, whose count and session store last
        as long as the connection and no longer."""
        with self.serve() as d:
            r = d.post("/api/v1/mocks", {"lines": {"command": "two words"},
                                         "response": {"payload": "x"}})
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.json().get("field"), "lines.command", r.json())
            r = d.post("/api/v1/mocks", {
                "lines": {"command": "login"},
                "extract": {"sStore": {"who": "$.req.who"}},
                "response": {"payload": "hello $.req.who"}})
            self.assertEqual(r.status, 201, r)
            r = d.post("/api/v1/mocks", {
                "lines": {"command": "ask", "conditions": [
                    {"path": "q", "assertAction": "equals", "value": "hi"}]},
                "response": {"payload": "n=$.session.count q=$.req.q who=$.sS.who"}})
            self.assertEqual(r.status, 201, r)
            c = Client(d.lines_port)
            c.until(b"hello listen\n")
            c.send(b'call login {"who": "ann"}\n')
            self.assertEqual(c.until(b"\n"), b"answer: hello ann\n")
            c.send(b'call ask {"q": "hi"}\n')
            self.assertEqual(c.until(b"\n"), b"answer: n=2 q=hi who=ann\n")
            c.send(b'call ask {"q": "no"}\n')
            self.assertEqual(c.until(b"\n"), b"no mock\n")
            c.close()
            # a new connection is a new session: count and store start over
            c = Client(d.lines_port)
            c.until(b"hello listen\n")
            c.send(b'call ask {"q": "hi"}\n')
            self.assertEqual(c.until(b"\n"), b"answer: n=1 q=hi who=\n")
            c.close()
            # the miss is in the unmatched list with the section's protocol
            r = d.get("/api/v1/unmatched?limit=100")
            self.assertEqual(r.status, 200, r)
            self.assertIn('"protocol":"lines"', r.body.decode().replace(" ", ""))

    def test_claim_on_main_port_and_http_still_works(self):
        with self.serve() as d:
            c = Client(d.port, prefix=b"LINES\nfirst\n")
            self.assertEqual(c.until(b"\n"), b"hello claim\n")
            self.assertEqual(c.until(b"\n"), b"echo: first\n")
            # HTTP/1.1 on the same port, at the same time
            r = d.get("/health")
            self.assertEqual(r.status, 200)
            c.send(b"tick 2\n")
            self.assertEqual(c.until(b"tick 2\n"), b"tick 1\ntick 2\n")
            c.close()
            # the prefix in pieces: "LIN", a pause, "ES\n"
            c = Client(d.port, prefix=b"LIN")
            time.sleep(0.3)
            c.send(b"ES\nsecond\n")
            self.assertEqual(c.until(b"\n"), b"hello claim\n")
            self.assertEqual(c.until(b"\n"), b"echo: second\n")
            c.close()
            # a connection that served HTTP/1.1 is never handed over
            s = socket.create_connection((d.host, d.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = s.recv(65536)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
            s.sendall(b"LINES\nhi\n")
            out = b""
            while True:
                try:
                    b = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not b:
                    break
                out += b
            s.close()
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)
            self.assertNotIn(b"hello claim", out)
            # "LINEZ" is HTTP's: llhttp refuses it as a bad method
            out = d.raw(b"LINEZ / HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=5)
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)

    def test_connections_gauge(self):
        def gauge(d):
            text = d.get("/metrics", headers=d.auth_headers()).body.decode()
            for line in text.splitlines():
                if line.startswith('doppel_conn_connections{instance="lines"}'):
                    return float(line.split()[-1])
            raise AssertionError("no gauge in:\n" + text)

        def wait_for(d, want):
            deadline = time.time() + 5
            while gauge(d) != want:
                self.assertLess(time.time(), deadline, gauge(d))
                time.sleep(0.02)

        with self.serve() as d:
            self.assertEqual(gauge(d), 0)
            a = Client(d.lines_port)
            a.until(b"hello listen\n")
            b = Client(d.port, prefix=b"LINES\n")
            b.until(b"hello claim\n")
            wait_for(d, 2)
            a.send(b"bye\n")
            a.rest()
            a.close()
            wait_for(d, 1)
            b.close()
            wait_for(d, 0)

    def test_claim_on_a_plugin_http_listen_port(self):
        with self.serve() as d:
            self.assertIsNotNone(d.mcp_port)
            c = Client(d.mcp_port, prefix=b"LINES\nover mcp\n")
            self.assertEqual(c.until(b"\n"), b"hello claim\n")
            self.assertEqual(c.until(b"\n"), b"echo: over mcp\n")
            c.close()

    def test_slow_respects_back_pressure(self):
        with self.serve() as d:
            c = Client(d.lines_port, timeout=20)
            c.until(b"hello listen\n")
            c.send(b"slow 32\n")
            time.sleep(0.5)  # the client reads nothing for a while
            rss = rss_kib(d.proc.pid)
            got = c.until(b"slow done\n", limit=40 << 20)
            self.assertEqual(len(got), 32 * 1024 * 1024 + len(b"slow done\n"))
            self.assertEqual(got[:64], b"x" * 63 + b"\n")
            # produced at the reader's pace: 32 MiB never sat in memory
            self.assertLess(rss_kib(d.proc.pid) - rss, 24 * 1024)
            c.send(b"stats\n")
            self.assertIn(b"refused=0", c.until(b"\n"))
            c.close()

    def test_client_that_stops_reading_is_closed(self):
        with self.serve() as d:
            base = rss_kib(d.proc.pid)
            c = Client(d.lines_port, timeout=20)
            c.until(b"hello listen\n")
            c.send(b"flood\n")
            deadline = time.time() + 20
            while "flood: peer does not read" not in d.log():
                self.assertLess(time.time(), deadline, d.log())
                time.sleep(0.05)
            # memory stayed bounded by the queue limit (16 MiB) plus what
            # the kernel holds, and the connection is gone
            self.assertLess(rss_kib(d.proc.pid) - base, 48 * 1024)
            out, _ = c.rest()
            self.assertLess(len(out), 32 << 20)
            c.close()
            c = Client(d.lines_port)
            c.until(b"hello listen\n")
            c.send(b"stats\n")
            self.assertIn(b"open=1 cancelled=0 refused=1", c.until(b"\n"))
            c.close()

    def test_close_with_writes_queued(self):
        with self.serve() as d:
            # CLOSE_FLUSH: every byte queued arrives, then EOF
            c = Client(d.lines_port, timeout=20)
            c.until(b"hello listen\n")
            c.send(b"burst 8192\n")
            time.sleep(0.5)  # let the queue fill while nobody reads
            out, reset = c.rest()
            self.assertFalse(reset)
            self.assertEqual(out, b"b" * (8192 * 1024))
            c.close()
            # CLOSE_NOW: queued writes are cancelled (-ECANCELED)
            c = Client(d.lines_port, timeout=20)
            c.until(b"hello listen\n")
            c.send(b"drop\n")
            time.sleep(0.3)
            out, _ = c.rest()
            self.assertLess(len(out), 15 * 1024 * 1024)
            c.close()
            c = Client(d.lines_port)
            c.until(b"hello listen\n")
            c.send(b"stats\n")
            line = c.until(b"\n").decode()
            cancelled = int(line.split("cancelled=")[1].split()[0])
            self.assertGreater(cancelled, 0, line)
            c.close()

    def test_sigterm_with_connections_open(self):
        d = self.serve()
        try:
            idle = Client(d.lines_port)
            idle.until(b"hello listen\n")
            claimed = Client(d.port, prefix=b"LINES\n")
            claimed.until(b"hello claim\n")
            ticking = Client(d.lines_port)
            ticking.until(b"hello listen\n")
            ticking.send(b"tick 1000\n")
            ticking.until(b"tick 1\n")
            stuck = Client(d.lines_port, timeout=30)
            stuck.until(b"hello listen\n")
            stuck.send(b"slow 64\n")  # and never reads again
            time.sleep(0.3)
            d.proc.send_signal(15)
            self.assertIn(b"draining\n", idle.until(b"draining\n"))
            self.assertIn(b"draining\n", claimed.until(b"draining\n"))
            code = d.proc.wait(timeout=30)
            self.assertEqual(code, 0, d.log())
            for c in (idle, claimed):
                out, _ = c.rest()
                self.assertEqual(out, b"")
            for c in (idle, claimed, ticking, stuck):
                c.close()
            log = d.log()
            self.assertIn("stopped", log)
            self.assertNotIn("did not finish stopping", log)
            # a new connection is refused: the listener is gone
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", d.lines_port),
                                         timeout=2)
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.logf.close()
        d.assert_clean_log()

    def test_port_in_use_fails_start_up(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        try:
            for workers in (1, 2):
                with self.subTest(workers=workers):
                    config = harness.default_config() + (
                        "\n[lines]\npath = %s\nenabled = true\n"
                        "listen = 127.0.0.1:%d\n" % (self.so, port))
                    d = harness.Doppel(config=config, workers=workers,
                                       start=False)
                    p = subprocess.run(d.command(), capture_output=True,
                                       env=d.env, timeout=30,
                                       stdin=subprocess.DEVNULL)
                    err = p.stderr.decode(errors="replace")
                    self.assertEqual(p.returncode, 1, err)
                    self.assertIn("cannot listen on 127.0.0.1:%d "
                                  "(instance 'lines')" % port, err)
                    self.assertNotIn("listening on", err)
                    for m in harness.SANITIZER_MARKERS:
                        self.assertNotIn(m, err)
        finally:
            holder.close()

    def test_two_workers_share_port_zero(self):
        config = harness.default_config() + (
            "\n[lines]\npath = %s\nenabled = true\nlisten = 127.0.0.1:0\n"
            % self.so)
        with harness.Doppel(config=config, workers=2) as d:
            import re
            ports = set(re.findall(LINES_RE, d.log()))
            self.assertEqual(len(ports), 1, d.log())
            port = int(ports.pop()[1])
            for _ in range(6):
                c = Client(port)
                self.assertEqual(c.until(b"\n"), b"hello listen\n")
                c.send(b"x\n")
                self.assertEqual(c.until(b"\n"), b"echo: x\n")
                c.close()

    def test_claim_refused_when_two_sections_overlap(self):
        config = harness.default_config() + (
            "\n[lines]\npath = %s\nenabled = true\nlisten = 127.0.0.1:0\n"
            "\n[lines2]\npath = %s\nenabled = true\n"
            "listen = 127.0.0.1:0\n" % (self.so, self.so))
        d = harness.Doppel(config=config, start=False)
        d.start_error = None
        try:
            with self.assertRaises(AssertionError) as cm:
                d.start()
            # The example also adds a mock section, and a section belongs to
            # one instance: two instances of it are refused for that, before
            # their claims are compared (an overlapping claim is refused
            # with -EEXIST, "File exists": test_plugin_conn_services checks
            # it through conn_probe).
            self.assertRegex(str(cm.exception),
                             r"File exists|protocol section 'lines' is "
                             r"already registered by instance 'lines'")
            self.assertIn("exited with 78", str(cm.exception))
        finally:
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.logf.close()


if __name__ == "__main__":
    harness.main()
