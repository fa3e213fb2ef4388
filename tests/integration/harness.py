"""Starts the real doppel binary and talks to it over real sockets.

Every integration test uses this: a Doppel instance runs `doppel serve` on an
ephemeral loopback port with its own data directory and config, waits until
it logs "listening on HOST:PORT", and on exit stops it and fails the test if
its log holds a sanitizer report or an unexpected crash.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("DOPPEL_BIN", "build/bin/doppel")
BUILD_DIR = os.environ.get("DOPPEL_BUILD_DIR", "build")
SOURCE_DIR = os.environ.get(
    "DOPPEL_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer",
                     "AddressSanitizer:DEADLYSIGNAL",
                     "WARNING: ThreadSanitizer", "ThreadSanitizer:DEADLYSIGNAL")

LISTEN_RE = re.compile(r"listening on (\S+):(\d+)")
# The MCP plugin's own listener (host.c logs "listening on H:P (<instance>)").
MCP_LISTEN_RE = re.compile(r"listening on (\S+):(\d+) \(mcp\)")


def default_config():
    """The built-in plugins.conf (packaging/plugins.conf), except that the
    MCP and gRPC plugins' own listeners take ephemeral ports instead of 5772
    and 4770, so that test servers running at the same time do not
    collide."""
    with open(os.path.join(SOURCE_DIR, "packaging", "plugins.conf")) as f:
        text = f.read()
    text = text.replace("\n[mcp]\n", "\n[mcp]\nlisten = 127.0.0.1:0\n", 1)
    return text.replace("\n[grpc]\n", "\n[grpc]\nlisten = 127.0.0.1:0\n", 1)

# The system-admin token every test server is bootstrapped with
# (DOPPEL_ADMIN_TOKEN), sent on /api/ calls unless a test sets its own
# Authorization or X-API-Key, or passes auth=False.
ADMIN_TOKEN = "mk_HarnessAdminToken0123456789abcdefghijklmnop"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict of lower-case name -> last value
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Doppel:
    """A running doppel server.

    config: plugins.conf text ([server] listen/data are overridden by flags);
            None: the built-in defaults, with the MCP listener on an
            ephemeral port (default_config()).
    args:   extra arguments to `doppel serve`.
    data:   data directory to reuse (for restart tests); default a new one.
    """

    def __init__(self, config=None, args=(), env=None, data=None,
                 workers=None, start=True, timeout=20.0):
        self.tmp = tempfile.mkdtemp(prefix="doppel-test-")
        self.data = data or os.path.join(self.tmp, "data")
        os.makedirs(self.data, exist_ok=True)
        self.config_path = None
        if config is None:
            config = default_config()
        if config is not None:
            self.config_path = os.path.join(self.tmp, "plugins.conf")
            with open(self.config_path, "w") as f:
                f.write(config)
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.setdefault("DOPPEL_ADMIN_TOKEN", ADMIN_TOKEN)
        if env:
            self.env.update(env)
        if workers is not None:
            self.args += ["--workers", str(workers)]
        self.proc = None
        self.port = None
        self.mcp_port = None  # the MCP plugin's own listener, if any
        self.host = "127.0.0.1"
        self.log_path = os.path.join(self.tmp, "doppel.log")
        self.timeout = timeout
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------
    def command(self):
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data", self.data]
        if self.config_path:
            cmd += ["--config", self.config_path]
        return cmd + self.args

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            log = self.log()
            m = LISTEN_RE.search(log)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                m = MCP_LISTEN_RE.search(log)
                if m:
                    self.mcp_port = int(m.group(2))
                break
            if self.proc.poll() is not None:
                raise AssertionError("doppel exited with %s before listening:\n%s"
                                     % (self.proc.returncode, self.log()))
            time.sleep(0.02)
        else:
            self.proc.kill()
            raise AssertionError("doppel did not listen within %ss:\n%s"
                                 % (self.timeout, self.log()))
        # Ready means every plugin started.
        while time.time() < deadline:
            try:
                if self.get("/health/ready").status == 200:
                    m = MCP_LISTEN_RE.search(self.log())
                    if m:  # logged right after the main port's line
                        self.mcp_port = int(m.group(2))
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("doppel never became ready:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig and returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("doppel did not exit within %ss of signal %d"
                                 % (timeout, sig))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def assert_clean_log(self):
        log = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                raise AssertionError("sanitizer report in doppel log:\n" + log)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.proc is not None and self.proc.poll() is None:
                code = self.stop()
                if exc[0] is None and code != 0:
                    raise AssertionError("doppel exited %s on SIGTERM:\n%s"
                                         % (code, self.log()))
        finally:
            self.logf.close()
        if exc[0] is None:
            self.assert_clean_log()
        return False

    # -- HTTP ------------------------------------------------------------
    def conn(self, timeout=10):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def auth_headers(self):
        tok = self.env.get("DOPPEL_ADMIN_TOKEN")
        return {"Authorization": "Bearer " + tok} if tok else {}

    def request(self, method, path, body=None, headers=None, timeout=10,
                auth=True):
        headers = dict(headers or {})
        if auth and path.startswith("/api/") and not any(
                k.lower() in ("authorization", "x-api-key") for k in headers):
            headers.update(self.auth_headers())
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                            data)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def raw(self, data, read_timeout=5.0, shutdown=False):
        """Sends raw bytes on a new connection and returns all bytes read
        until the server closes or read_timeout passes without data."""
        s = socket.create_connection((self.host, self.port), timeout=read_timeout)
        try:
            s.sendall(data)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()


def run_doppel(args, env=None, timeout=30):
    """Runs the binary to completion (for CLI and refusal tests)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + list(args), capture_output=True, env=e,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def main():
    unittest.main(verbosity=2)
