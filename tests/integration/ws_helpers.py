"""Helpers of the WebSocket tests: a server with [websocket] options, mocks
with a socket section, the `ws` scenario runner (tests/node/websocket/
ws_scenario.mjs), and a raw RFC 6455 client over a plain socket for what
a well-behaved library will not send."""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess

import harness

NODE = shutil.which("node")
NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")
SCENARIO = os.path.join(NODE_DIR, "websocket", "ws_scenario.mjs")


def node_ready():
    return NODE is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "ws"))


def config(**options):
    """The built-in plugins.conf with these [websocket] options set."""
    text = harness.default_config()
    lines = "".join("%s = %s\n" % (k, v) for k, v in options.items())
    return text.replace("\n[websocket]\n", "\n[websocket]\n" + lines, 1)


class WsDoppel(harness.Doppel):
    def __init__(self, options=None, **kw):
        super().__init__(config=config(**(options or {})), **kw)

    def mock(self, socket_section, response=None, ns="sandbox", top=None,
             expect=(200, 201)):
        body = {"namespace": ns, "socket": socket_section}
        if top:
            body.update(top)
        if response is not None or "oneOf" not in body:
            body["response"] = response if response is not None else {}
        r = self.post("/api/v1/mocks", body)
        if expect and r.status not in expect:
            raise AssertionError("mock refused: %r\n%s" % (r, json.dumps(body)))
        return r

    def entries(self, what, ns="sandbox"):
        r = self.get("/api/v1/%s?namespace=%s&limit=1000" % (what, ns))
        if r.status != 200:
            raise AssertionError("%s: %r" % (what, r))
        return r.json()["items"]

    def scenario(self, steps, timeout=60):
        """Runs steps with `ws` clients; returns what they saw."""
        plan = {"base": "ws://%s:%d" % (self.host, self.port),
                "http": "http://%s:%d" % (self.host, self.port),
                "token": harness.ADMIN_TOKEN, "steps": steps}
        p = subprocess.run([NODE, SCENARIO], input=json.dumps(plan).encode(),
                           capture_output=True, timeout=timeout, cwd=NODE_DIR)
        if p.returncode != 0:
            raise AssertionError("ws_scenario.mjs failed:\n%s\nlog:\n%s"
                                 % (p.stderr.decode("utf-8", "replace"),
                                    self.log()[-3000:]))
        return json.loads(p.stdout.decode())


# ---- a raw client ---------------------------------------------------------

def handshake(path, key=None, version="13", extra=""):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1",
             "Upgrade: websocket", "Connection: Upgrade"]
    if key:
        lines.append("Sec-WebSocket-Key: " + key)
    if version:
        lines.append("Sec-WebSocket-Version: " + version)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def frame(opcode, payload=b"", mask=True, fin=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    head = bytes([b0])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


class RawWs:
    """One connection: the upgrade, then frames in and out."""

    def __init__(self, d, path, headers="", timeout=5):
        self.s = socket.create_connection((d.host, d.port), timeout=timeout)
        self.s.sendall(handshake(path, extra=headers))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ")[1]) if self.head else 0

    def send(self, data):
        self.s.sendall(data)

    def text(self, t):
        self.send(frame(0x1, t.encode() if isinstance(t, str) else t))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk

    def read_frame(self):
        """(opcode, payload) of the next frame; EOFError at the end."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def read_data(self):
        """The next text or binary frame, answering the server's pings."""
        while True:
            op, p = self.read_frame()
            if op == 0x9:
                self.send(frame(0xA, p))
            elif op != 0xA:
                return op, p

    def read_close(self):
        """The close frame's (code, reason), skipping data frames."""
        while True:
            op, p = self.read_frame()
            if op == 0x8:
                if len(p) < 2:
                    return None, ""
                return struct.unpack("!H", p[:2])[0], p[2:].decode()

    def close(self):
        self.s.close()
