"""Descriptor exhaustion: the real binary under a low RLIMIT_NOFILE and more
idle connections than it may hold. It must not spin (CPU time stays low),
not flood its log, keep answering /health/live (idle connections are shed
oldest-first), be healthy again seconds after the flood ends with no
socket left in CLOSE-WAIT, and always stop on SIGTERM within
drain_timeout."""

import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Doppel, default_config, main  # noqa: E402

NOFILE = 256
DRAIN_S = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


class LimitedDoppel(Doppel):
    """Doppel started with RLIMIT_NOFILE (soft and hard) set to nofile."""

    def __init__(self, nofile=NOFILE, **kw):
        self.nofile = nofile
        super().__init__(**kw)

    def command(self):
        # prlimit execs the command: the PID stays doppel's
        return ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile),
                "--"] + super().command()


def config(extra=""):
    """The default plugins.conf (MCP listener and all) with a short drain."""
    return default_config().replace(
        "[server]\n", "[server]\ndrain_timeout = %ds\n%s" % (DRAIN_S, extra),
        1)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def socket_fds(pid):
    n = 0
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith(
                    "socket:"):
                n += 1
        except OSError:
            pass
    return n


def close_wait_count(port):
    """Sockets in CLOSE-WAIT whose local port is port (the server's side)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "08":
                n += 1
    return n


def count_lines(path, words):
    """Lines of the log holding any of words (streamed: a flooded log may
    be large)."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            low = line.lower()
            if any(w in low for w in words):
                n += 1
    return n


ACCEPT_WORDS = (b"accept", b"too many open files", b"connection limit")


def metric(d, name):
    """The value of an unlabelled sample of /metrics."""
    text = d.get("/metrics").body.decode()
    m = re.search(r"(?m)^%s (\S+)$" % re.escape(name), text)
    if m is None:
        raise AssertionError("no %s in /metrics:\n%s" % (name, text))
    return float(m.group(1))


class Flood:
    """Idle client connections that send nothing."""

    def __init__(self, d, n, send=b""):
        """send: bytes each connection sends at once (with a short pause
        after each, so that the server has read them, and the connection
        is not idle, before the next one arrives)."""
        self.socks = []
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect((d.host, d.port))
                if send:
                    s.sendall(send)
            except OSError:
                s.close()
                continue
            self.socks.append(s)
            if send:
                time.sleep(0.003)

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


def health_within(d, seconds):
    """True when /health/live answers 200 within seconds."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            left = max(0.2, deadline - time.time())
            if d.get("/health/live", timeout=left).status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class FdExhaustionTest(unittest.TestCase):

    def start(self, extra="", nofile=NOFILE, workers=2):
        d = LimitedDoppel(nofile=nofile, config=config(extra),
                          workers=workers)
        self.addCleanup(self.reap, d)
        return d

    def reap(self, d):
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.logf.close()

    def stop_in_time(self, d):
        d.proc.send_signal(signal.SIGTERM)
        try:
            code = d.proc.wait(timeout=DRAIN_S + 3)
        except Exception:
            self.fail("doppel did not exit within drain_timeout of SIGTERM")
        self.assertEqual(code, 0, d.log()[-3000:])

    def flood_and_recover(self, d, n):
        flood = Flood(d, n)
        try:
            self.assertGreater(len(flood.socks), NOFILE, "flood did not land")
            time.sleep(1.0)  # let it settle into whatever state it reaches
            # no spin: CPU time over a second of wall time stays low
            c0, t0 = cpu_seconds(d.proc.pid), time.time()
            time.sleep(1.0)
            c1, t1 = cpu_seconds(d.proc.pid), time.time()
            # (an idle server uses next to nothing; a spinning one a core,
            # or what a busy machine leaves it)
            self.assertLess((c1 - c0) / (t1 - t0), 0.25,
                            "the server spins while flooded")
            # idle connections are shed: a new client still gets an answer
            self.assertTrue(health_within(d, 3),
                            "/health/live unanswered during the flood")
            lines = count_lines(d.log_path, ACCEPT_WORDS)
            self.assertLess(lines, 40, "the log is flooded (%d lines)" % lines)
        finally:
            flood.close()
        self.assertTrue(health_within(d, 2),
                        "/health/live unanswered 2 s after the flood")
        # (read afterwards: under the flood a client that has not sent its
        # request yet may itself be shed)
        self.assertGreater(metric(d, "doppel_http_connections_shed_total"), 0)
        # the connections the client abandoned are closed on our side
        deadline = time.time() + 5
        while close_wait_count(d.port) > 0 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(close_wait_count(d.port), 0, "CLOSE-WAIT left")

    def test_flood_over_descriptor_limit(self):
        # default max_connections: derived from the descriptor limit
        d = self.start()
        self.flood_and_recover(d, NOFILE + 150)
        self.stop_in_time(d)
        d.assert_clean_log()

    def test_flood_with_cap_above_descriptor_limit(self):
        # a cap the descriptors cannot back: accept itself fails (EMFILE)
        d = self.start("max_connections = 100000\n")
        self.flood_and_recover(d, NOFILE + 150)
        self.stop_in_time(d)
        d.assert_clean_log()

    def test_sigterm_during_flood(self):
        # Three rounds: the old lock-up needed two workers to race for
        # libuv's spare descriptor, which one round does not always show.
        for _ in range(3):
            d = self.start()
            flood = Flood(d, NOFILE + 150)
            more = []
            try:
                self.assertGreater(len(flood.socks), NOFILE)
                # newcomers keep arriving while the descriptors are gone
                end = time.time() + 1.0
                while time.time() < end:
                    more.append(Flood(d, 20))
                    health_within(d, 0.1)
                self.stop_in_time(d)
            finally:
                flood.close()
                for f in more:
                    f.close()
            d.assert_clean_log()

    def test_flood_of_half_sent_heads(self):
        # connections that are not idle cannot be shed: accept runs out of
        # descriptors, the listener pauses (no spin, a quiet log) and
        # resumes once header_timeout has cut the slow heads
        d = self.start("max_connections = 100000\nheader_timeout = 2s\n")
        flood = Flood(d, NOFILE + 150,
                      send=b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        try:
            time.sleep(0.2)
            c0, t0 = cpu_seconds(d.proc.pid), time.time()
            time.sleep(1.0)
            c1, t1 = cpu_seconds(d.proc.pid), time.time()
            self.assertLess((c1 - c0) / (t1 - t0), 0.25,
                            "the server spins while out of descriptors")
            # the heads are cut after 2 s, the queued ones after 2 s more
            self.assertTrue(health_within(d, 8),
                            "never answered again while the clients stay")
            lines = count_lines(d.log_path, ACCEPT_WORDS)
            self.assertLess(lines, 40, "the log is flooded (%d lines)" % lines)
        finally:
            flood.close()
        self.assertTrue(health_within(d, 2))
        self.assertGreater(metric(d, "doppel_http_accept_pauses_total"), 0)
        # every abandoned connection is closed, and counted out
        # (the value the loop last read: a scrape right after another may
        # still count the one before, whose close the other worker has
        # not read yet)
        deadline = time.time() + 5
        open_now = metric(d, "doppel_http_connections")
        while open_now > 1 and time.time() < deadline:
            time.sleep(0.1)
            open_now = metric(d, "doppel_http_connections")
        self.assertEqual(open_now, 1)
        self.stop_in_time(d)
        d.assert_clean_log()

    def test_small_cap_holds(self):
        # one worker, at most 8 client connections: more are not accepted
        # while the 8 are busy, idle ones are shed for newcomers
        d = self.start("max_connections = 8\n", nofile=4096, workers=1)
        base = socket_fds(d.proc.pid)
        flood = Flood(d, 40)
        try:
            time.sleep(0.5)
            held = socket_fds(d.proc.pid) - base
            self.assertLessEqual(held, 8, "more connections than the cap")
            self.assertTrue(health_within(d, 3))
            self.assertLessEqual(socket_fds(d.proc.pid) - base, 8)
        finally:
            flood.close()
        self.assertTrue(health_within(d, 2))
        self.stop_in_time(d)
        d.assert_clean_log()

    def test_max_connections_validated(self):
        from harness import run_doppel
        for bad in ("-1", "lots", "1e9"):
            conf = os.path.join(self.tmpdir(), "plugins.conf")
            with open(conf, "w") as f:
                f.write("[server]\nmax_connections = %s\n" % bad)
            code, out, err = run_doppel(["serve", "--config", conf,
                                         "--listen", "127.0.0.1:0"])
            self.assertEqual(code, 78, err)
            self.assertIn("option 'max_connections' expects", err)

    def tmpdir(self):
        import tempfile
        return tempfile.mkdtemp(prefix="doppel-fd-")


PLUGIN = os.path.join(os.environ.get("DOPPEL_BUILD_DIR", "build"), "tests",
                      "plugins", "doppel_host_services.so")


class PluginListenerTest(unittest.TestCase):
    """A plugin's own listener (svc->http_listen) is made by the same code:
    the same cap, shedding and pause."""

    def test_flood_on_plugin_listener(self):
        conf = ("[server]\nmax_connections = 16\ndrain_timeout = %ds\n"
                "[svc]\npath = %s\nenabled = true\nlisten = 127.0.0.1:0\n"
                % (DRAIN_S, PLUGIN))
        d = LimitedDoppel(nofile=4096, config=conf, workers=1)
        try:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(svc\)",
                          d.log())
            self.assertIsNotNone(m, d.log())
            own = int(m.group(1))
            base = socket_fds(d.proc.pid)
            flood = []
            for _ in range(60):
                s = socket.create_connection((d.host, own), timeout=3)
                flood.append(s)
            try:
                time.sleep(0.5)
                self.assertLessEqual(socket_fds(d.proc.pid) - base, 16)
                # a newcomer is served: the oldest idle one made room
                s = socket.create_connection((d.host, own), timeout=3)
                s.sendall(b"GET /own HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                out = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    out += chunk
                s.close()
                self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
            finally:
                for s in flood:
                    s.close()
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(timeout=DRAIN_S + 3), 0)
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.logf.close()


class BoundedStopTest(unittest.TestCase):

    def test_stop_ends_even_with_a_stuck_worker(self):
        # the only worker is held in a plugin call for a minute: SIGTERM
        # still ends the process, drain_timeout (1 s) + 6 s after it
        conf = ("[server]\ndrain_timeout = 1s\n"
                "[svc]\npath = %s\nenabled = true\n" % PLUGIN)
        d = Doppel(config=conf, workers=1)
        try:
            s = socket.create_connection((d.host, d.port), timeout=3)
            s.sendall(b"GET /svc/block?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.5)
            t0 = time.time()
            d.proc.send_signal(signal.SIGTERM)
            try:
                code = d.proc.wait(timeout=15)
            except Exception:
                self.fail("a stuck worker held the stop")
            took = time.time() - t0
            s.close()
            self.assertEqual(code, 1)
            self.assertLess(took, 10)
            self.assertGreater(took, 5)  # not before drain_timeout + grace
            self.assertIn("the stop did not finish within drain_timeout",
                          d.log())
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.logf.close()


if __name__ == "__main__":
    main()
