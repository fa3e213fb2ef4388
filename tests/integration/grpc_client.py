"""gRPC clients for the integration tests: runs the grpc-js scripts in
tests/node/grpc (call.mjs, health.mjs, reflection.mjs) with a JSON job on
stdin and returns their parsed JSON; starts the grpc-js reference server
(bench/grpc/reference_server.mjs); and starts doppel with the gRPC plugin
enabled on an ephemeral own port, serving the fixture protos.

The node scripts need `node` and tests/node/node_modules (scripts/dev.sh
deps installs them); tests skip when either is missing.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

NODE = shutil.which("node")
SOURCE_DIR = harness.SOURCE_DIR
NODE_DIR = os.path.join(SOURCE_DIR, "tests", "node")
SCRIPTS = os.path.join(NODE_DIR, "grpc")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "integration", "fixtures", "grpc")
PROTO_DIR = os.path.join(FIXTURES, "protos")
REFERENCE = os.path.join(SOURCE_DIR, "bench", "grpc", "reference_server.mjs")

ORDER_PROTO = "shop/order/v1/order.proto"
BILLING_PROTO = "shop/billing/v1/billing.proto"
ORDER_SVC = "shop.order.v1.OrderService"
BILLING_SVC = "shop.billing.v1.BillingService"

# gRPC status codes (the numbers are the protocol's).
OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND = \
    0, 1, 2, 3, 4, 5
ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED = 6, 7, 8
FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED = 9, 10, 11, 12
INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED = 13, 14, 15, 16

GRPC_LISTEN_RE = re.compile(r"listening on (\S+):(\d+) \(grpc\)")


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "@grpc", "grpc-js"))


def require_node(test):
    if not node_ready():
        raise unittest.SkipTest(
            "node or tests/node/node_modules/@grpc/grpc-js missing "
            "(scripts/dev.sh deps)")


def run_script(script, job, timeout=60):
    """Runs tests/node/grpc/<script> with job (JSON) on stdin; returns its
    parsed output. A script that printed no JSON fails the test."""
    p = subprocess.run([NODE, os.path.join(SCRIPTS, script)],
                       input=json.dumps(job).encode(), capture_output=True,
                       timeout=timeout, cwd=NODE_DIR)
    out = p.stdout.decode("utf-8", "replace").strip()
    try:
        return json.loads(out.splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError("%s printed no JSON (exit %s):\n%s\n%s"
                             % (script, p.returncode, out,
                                p.stderr.decode("utf-8", "replace")))


def job(address, method, service=ORDER_SVC, proto=ORDER_PROTO, **kw):
    """A call.mjs job against the fixture protos."""
    # timeoutMs: a call the server never ends fails in 10 s, not 20
    j = {"address": address, "protoFiles": [proto], "includeDirs": [PROTO_DIR],
         "service": service, "method": method, "timeoutMs": 10000}
    j.update(kw)
    return j


def call(address, method, **kw):
    """One gRPC call; returns call.mjs's result (messages, status, headers,
    trailers, errorDetails). A script error fails the test."""
    r = run_script("call.mjs", job(address, method, **kw))
    if "error" in r and r.get("status") is None:
        raise AssertionError("call.mjs failed: %s" % r["error"])
    return r


def calls(jobs, timeout=120):
    """Several calls in one node process, one after the other (faster than
    one process each); returns the list of results."""
    return run_script("call.mjs", jobs, timeout=timeout)


def parallel(jobs, timeout=120):
    """Several calls at once on one channel per address (one HTTP/2
    connection, streams multiplexed); returns the list of results."""
    return run_script("call.mjs", {"parallel": jobs}, timeout=timeout)


def health(address, op="check", service="", updates=1, deadline_ms=5000):
    return run_script("health.mjs", {"address": address, "op": op,
                                     "service": service, "updates": updates,
                                     "deadlineMs": deadline_ms})


def reflection(address, ops, version="v1alpha"):
    return run_script("reflection.mjs", {"address": address, "ops": ops,
                                         "version": version})


class ReferenceServer:
    """The grpc-js reference server on an ephemeral port (stopped by PID)."""

    def __init__(self, timeout=20):
        self.proc = subprocess.Popen(
            [NODE, REFERENCE, "--port", "0"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=NODE_DIR)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(rb"listening on (\S+):(\d+)", line)
            if m:
                self.host, self.port = m.group(1).decode(), int(m.group(2))
                self.address = "%s:%d" % (self.host, self.port)
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        self.proc.wait()
        raise AssertionError("reference server did not start: %r" % line)

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def grpc_config(options=None):
    """plugins.conf: the built-in defaults plus a [grpc] section on an
    ephemeral own port serving the fixture protos, with main_port,
    reflection and health on; options (a dict) overrides or adds keys."""
    opts = {"enabled": "true", "listen": "127.0.0.1:0", "main_port": "true",
            "proto_path": PROTO_DIR, "namespace": "sandbox",
            "reflection": "true", "health": "true"}
    opts.update(options or {})
    # the built-in [grpc] section (to the next section) gives way to ours
    base = re.sub(r"\n\[grpc\]\n(?:(?!\n\[).)*", "\n", harness.default_config(),
                  count=1, flags=re.S)
    return base + "\n[grpc]\n" + "".join(
        "%s = %s\n" % kv for kv in opts.items())


def plugin_built():
    return os.path.exists(os.path.join(harness.BUILD_DIR, "plugins",
                                       "doppel_grpc.so"))


def require_plugin():
    if not plugin_built():
        raise AssertionError(
            "gRPC plugin not built: %s/plugins/doppel_grpc.so is missing"
            % harness.BUILD_DIR)


class GrpcDoppel(harness.Doppel):
    """doppel with the gRPC plugin: .grpc_port / .grpc_address are its own
    listener, .main_address the main port (HTTP/2 prior knowledge there).

    Fails (not skips) when the plugin is not built: the gRPC tests are
    meant to fail until plugins/grpc exists."""

    def __init__(self, options=None, **kw):
        require_plugin()
        kw.setdefault("config", grpc_config(options))
        self.grpc_port = None
        self.own_port = (options or {}).get("listen") != "off"
        super().__init__(**kw)

    def start(self):
        super().start()
        if not self.own_port:
            return self
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            m = GRPC_LISTEN_RE.search(self.log())
            if m:
                self.grpc_port = int(m.group(2))
                break
            time.sleep(0.02)
        else:
            raise AssertionError("no 'listening on ... (grpc)' line:\n"
                                 + self.log())
        return self

    @property
    def grpc_address(self):
        return "127.0.0.1:%d" % self.grpc_port

    @property
    def main_address(self):
        return "127.0.0.1:%d" % self.port

    def mock(self, body, expect=(200, 201)):
        """POST /api/v1/mocks; asserts the status; returns the answer."""
        r = self.post("/api/v1/mocks", body)
        if r.status not in expect:
            raise AssertionError("mock refused: %r\n%s" % (r, json.dumps(body)))
        return r

    def rss_kib(self):
        return rss_kib(self.proc.pid)


def list_entries(d, path, ns, limit=1000):
    """The items of a journal or unmatched list page (GET path?namespace=)."""
    r = d.get("%s?namespace=%s&limit=%d" % (path, ns, limit))
    if r.status != 200:
        raise AssertionError("%s: %r" % (path, r))
    return r.json()["items"]


# Keys of a mock that live at its top level, not in the grpc section.
TOP_LEVEL = ("id", "chainId", "extract", "priority", "mStore", "ttl",
             "useLimiter", "tags")


def grpc_mock(method, response=None, service=ORDER_SVC, ns="sandbox", **grpc):
    """A mock body for the admin API: the grpc section from the keyword
    arguments, except TOP_LEVEL keys (chainId, extract, ...)."""
    body = {"namespace": ns, "response": response or {}}
    for k in TOP_LEVEL:
        if k in grpc:
            body[k] = grpc.pop(k)
    g = {"service": service, "method": method}
    g.update(grpc)
    body["grpc"] = g
    return body
