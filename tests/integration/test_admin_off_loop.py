"""Admin work never blocks the event loop that received it: while a large
admin write runs, /health/live on the same (only) worker still answers at
once, and a stop while an admin write is in flight still answers it and
exits cleanly."""

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NS = "offloop"
# Each /health/live must be answered within this, while one admin write
# takes well over it (checked by the write's own duration below).
HEALTH_BOUND_S = 1.0
MIN_WRITE_S = 1.5


def batch(n, tag):
    return json.dumps([{
        "namespace": NS,
        "http": {"route": "/%s/%d/:a/b" % (tag, i)},
        "response": {"status": 200, "payload": {"i": i, "pad": "x" * 200}},
    } for i in range(n)])


class HealthPoller:
    """Polls /health/live on its own keep-alive connection every 20 ms and
    keeps each answer's latency."""

    def __init__(self, d):
        self.d = d
        self.lat = []
        self.errors = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run)

    def run(self):
        c = self.d.conn(timeout=60)
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                c.request("GET", "/health/live")
                r = c.getresponse()
                r.read()
                self.lat.append(time.monotonic() - t0)
                if r.status != 200:
                    self.errors.append(r.status)
                time.sleep(0.02)
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            c.close()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(timeout=120)
        return False


class AdminOffLoopTest(unittest.TestCase):
    def test_health_answers_while_a_large_batch_is_written(self):
        with harness.Doppel(workers=1) as d:
            # Write batches until one write takes long enough to tell a
            # blocked loop from a free one (each one is slower than the
            # last, since the index grows).
            n, body_limit = 20000, 7 << 20
            longest = 0.0
            with HealthPoller(d) as hp:
                tag = 0
                while longest < MIN_WRITE_S:
                    body = batch(n, "t%d" % tag)
                    self.assertLess(len(body), body_limit)
                    t0 = time.monotonic()
                    r = d.post("/api/v1/mocks/batch", body,
                               headers={"Content-Type": "application/json"},
                               timeout=300)
                    took = time.monotonic() - t0
                    self.assertEqual(r.status, 201, r)
                    self.assertEqual(r.json()["created"], n)
                    longest = max(longest, took)
                    tag += 1
                    if tag == 10:  # a fast machine needs more of them
                        break
            self.assertGreaterEqual(
                longest, MIN_WRITE_S,
                "the write was too quick to show anything (%.2fs)" % longest)
            self.assertEqual(hp.errors, [])
            self.assertLess(max(hp.lat), HEALTH_BOUND_S,
                            "a /health/live waited %.2fs while an admin "
                            "write of %.2fs ran" % (max(hp.lat), longest))
            # the poller ran during the write, not only around it
            self.assertGreater(len(hp.lat), 10, hp.lat)
            # and what was written is served
            self.assertEqual(d.get("/stubs/%s/t0/5/x/b" % NS).status, 200)

    def test_in_process_admin_call_runs_off_the_loop(self):
        """The MCP plugin's tools reach the admin API through admin_call
        (an in-process exchange on the worker's loop): its work runs off
        the loop too. The plugin's own JSON work on the message stays on
        the loop, so the bound here is relative: before, the loop was
        blocked for the whole call."""
        hdr = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream",
               "X-API-Key": harness.ADMIN_TOKEN}
        # the answers echo the big mocks: above the default tool budget
        config = harness.default_config().replace(
            "\n[mcp]\n", "\n[mcp]\ntool_answer_bytes = 8m\n", 1)
        with harness.Doppel(config=config, workers=1) as d:
            def rpc(body, sid=None):
                h = dict(hdr)
                if sid:
                    h["Mcp-Session-Id"] = sid
                return d.request("POST", "/mcp", body=json.dumps(body),
                                 headers=h, timeout=300, auth=False)
            r = rpc({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                     "params": {"protocolVersion": "2025-06-18",
                                "capabilities": {},
                                "clientInfo": {"name": "t", "version": "1"}}})
            self.assertEqual(r.status, 200, r)
            sid = r.headers["mcp-session-id"]
            r = rpc({"jsonrpc": "2.0", "method": "notifications/initialized"},
                    sid)
            self.assertEqual(r.status, 202, r)
            # Batches of mocks first, so that each create_mock below also
            # rebuilds a large index; then mocks with a big payload.
            for k in range(2):
                r = d.post("/api/v1/mocks/batch", batch(20000, "m%d" % k),
                           headers={"Content-Type": "application/json"},
                           timeout=300)
                self.assertEqual(r.status, 201, r)
            with HealthPoller(d) as hp:
                took = []
                # until the calls took long enough in all (a faster machine
                # needs more of them), each index larger than the last
                for k in range(32):
                    if k >= 3 and sum(took) >= 2 * MIN_WRITE_S:
                        break
                    mock = {"namespace": NS, "http": {"route": "/big/%d" % k},
                            "response": {"payload": {"items": [
                                {"i": i, "name": "item %d" % i}
                                for i in range(20000)]}}}
                    t0 = time.monotonic()
                    r = rpc({"jsonrpc": "2.0", "id": 2 + k,
                             "method": "tools/call",
                             "params": {"name": "create_mock",
                                        "arguments": {"mock": mock,
                                                      "namespace": NS}}},
                            sid)
                    took.append(time.monotonic() - t0)
                    self.assertEqual(r.status, 200, r)
                    self.assertNotIn('"isError":true', r.body.decode(), r)
            total = sum(took)
            self.assertEqual(hp.errors, [])
            self.assertGreaterEqual(
                total, 2 * MIN_WRITE_S,
                "the calls were too quick to show anything (%.2fs)" % total)
            # one call long enough that a loop blocked by it would hold a
            # /health/live for more than half of it
            self.assertGreaterEqual(max(took), 0.2, took)
            self.assertLess(max(hp.lat), max(took) / 2,
                            "a /health/live waited %.2fs while an MCP "
                            "create_mock of %.2fs ran"
                            % (max(hp.lat), max(took)))
            self.assertEqual(
                d.get("/stubs/%s/big/%d" % (NS, len(took) - 1)).status, 200)

    def test_a_read_does_not_wait_for_another_clients_write(self):
        """Admin reads take no writer lock: a GET on another connection is
        answered while a long batch is written (one worker)."""
        with harness.Doppel(workers=1) as d:
            r = d.post("/api/v1/mocks", {"namespace": NS, "id": "known",
                                         "http": {"route": "/known"},
                                         "response": {"payload": 1}})
            self.assertEqual(r.status, 201, r)
            reads = []
            out = {}

            bodies = [batch(20000, "r%d" % k) for k in range(2)]

            def write():
                # Batches until one write is long enough to tell a read
                # that waits from one that does not (each is slower than
                # the last, as the index grows; bounded).
                out["took"] = 0.0
                for k in range(8):
                    body = bodies[k] if k < len(bodies) else \
                        batch(20000, "r%d" % k)
                    t0 = time.monotonic()
                    out["r"] = d.post("/api/v1/mocks/batch", body,
                                      headers={"Content-Type":
                                               "application/json"},
                                      timeout=300)
                    out["took"] = max(out["took"], time.monotonic() - t0)
                    if out["r"].status != 201 or \
                            (k >= 1 and out["took"] >= MIN_WRITE_S):
                        return

            t = threading.Thread(target=write)
            t.start()
            while t.is_alive():
                t0 = time.monotonic()
                g = d.get("/api/v1/mocks/known", timeout=60)
                reads.append((time.monotonic() - t0, t.is_alive()))
                self.assertEqual(g.status, 200, g)
                time.sleep(0.05)
            t.join()
            self.assertEqual(out["r"].status, 201, out["r"])
            self.assertGreaterEqual(out["took"], MIN_WRITE_S,
                                    "the writes were too quick (%.2fs)"
                                    % out["took"])
            during = [lat for lat, alive in reads if alive]
            self.assertTrue(during, reads)
            self.assertLess(max(during), HEALTH_BOUND_S,
                            "a read waited %.2fs for a write of %.2fs"
                            % (max(during), out["took"]))
            self.assertGreater(len(during), 3, reads)

    def test_pipelined_calls_of_one_connection_keep_their_order(self):
        """A write and a read pipelined on one connection: the read sees
        the write (the calls of one connection run one after the other)."""
        import socket
        with harness.Doppel(workers=1) as d:
            auth = "Authorization: Bearer %s\r\n" % harness.ADMIN_TOKEN
            reqs = b""
            for i in range(5):
                body = json.dumps({"namespace": NS, "id": "p%d" % i,
                                   "http": {"route": "/p/%d" % i},
                                   "response": {"payload": i}}).encode()
                reqs += ("POST /api/v1/mocks HTTP/1.1\r\nHost: x\r\n" + auth
                         + "Content-Type: application/json\r\n"
                         "Content-Length: %d\r\n\r\n" % len(body)).encode()
                reqs += body
                reqs += ("GET /api/v1/mocks/p%d HTTP/1.1\r\nHost: x\r\n"
                         % i + auth + "\r\n").encode()
                reqs += ("DELETE /api/v1/mocks/p%d/purge HTTP/1.1\r\n"
                         "Host: x\r\n" % i + auth + "\r\n").encode()
            reqs += b"GET /api/v1/mocks/p4 HTTP/1.1\r\nHost: x\r\n" + \
                auth.encode() + b"Connection: close\r\n\r\n"
            s = socket.create_connection((d.host, d.port), timeout=60)
            s.sendall(reqs)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            statuses = [int(m) for m in
                        __import__("re").findall(rb"HTTP/1\.1 (\d{3})", data)]
            self.assertEqual(statuses, [201, 200, 204] * 5 + [404], data[:600])

    def test_client_gone_while_its_write_runs(self):
        """The exchange outlives its client: the write completes, its
        answer goes nowhere, and nothing is freed twice (the sanitizer
        builds check the log)."""
        import socket
        with harness.Doppel(workers=1) as d:
            body = batch(20000, "g").encode()
            head = ("POST /api/v1/mocks/batch HTTP/1.1\r\nHost: x\r\n"
                    "Authorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n"
                    % (harness.ADMIN_TOKEN, len(body))).encode()
            s = socket.create_connection((d.host, d.port), timeout=30)
            s.sendall(head + body)
            s.close()
            deadline = time.monotonic() + 120
            total = 0
            while time.monotonic() < deadline:
                r = d.get("/api/v1/mocks?limit=1&namespace=" + NS)
                self.assertEqual(r.status, 200, r)
                total = r.json()["total"]
                if total == 20000:
                    break
                time.sleep(0.1)
            self.assertEqual(total, 20000)
            self.assertEqual(d.get("/health/live").status, 200)
            self.assertEqual(d.get("/stubs/%s/g/7/x/b" % NS).status, 200)

    def test_auth_api_write_waits_off_the_loop(self):
        """A token create that waits for the database (another connection
        holds its write lock, so the auth store sits in SQLite's busy
        timeout) does not hold the worker loop: /health/live answers."""
        with harness.Doppel(workers=1) as d:
            db = sqlite3.connect(os.path.join(d.data, "doppel.db"),
                                 timeout=10, isolation_level=None)
            out = {}

            def create():
                t0 = time.monotonic()
                out["r"] = d.post("/api/v1/tokens", {"name": "waits"},
                                  timeout=60)
                out["took"] = time.monotonic() - t0

            try:
                db.execute("BEGIN IMMEDIATE")  # the write lock, held
                t = threading.Thread(target=create)
                with HealthPoller(d) as hp:
                    t.start()
                    time.sleep(2.0)
                    db.execute("ROLLBACK")
                    t.join(timeout=60)
            finally:
                db.close()
            # the create really waited (so the test cannot pass vacuously),
            # and then succeeded
            self.assertGreaterEqual(out["took"], 1.5, out)
            self.assertEqual(out["r"].status, 201, out["r"])
            self.assertFalse(hp.errors, hp.errors)
            self.assertTrue(hp.lat, "no health probe answered")
            self.assertLess(max(hp.lat), HEALTH_BOUND_S,
                            "/health/live waited %.2fs behind the auth API"
                            % max(hp.lat))

    def test_stop_answers_the_admin_write_in_flight(self):
        d = harness.Doppel(workers=1)
        try:
            body = batch(20000, "s")
            out = {}

            def write():
                try:
                    out["r"] = d.post("/api/v1/mocks/batch", body,
                                      headers={"Content-Type":
                                               "application/json"},
                                      timeout=300)
                except Exception as e:
                    out["e"] = e

            t = threading.Thread(target=write)
            t.start()
            # wait until the server has the whole request (the write runs)
            time.sleep(0.5)
            code = d.stop(signal.SIGTERM, timeout=120)
            t.join(timeout=120)
            self.assertEqual(code, 0, d.log())
            # The drain lets the exchange in flight finish: it is answered
            # with the write's result.
            self.assertNotIn("e", out, out)
            self.assertEqual(out["r"].status, 201, out["r"])
            d.assert_clean_log()
        finally:
            if d.proc.poll() is None:
                d.kill9()
            d.logf.close()


if __name__ == "__main__":
    harness.main()
