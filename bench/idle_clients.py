#!/usr/bin/env python3
"""Opens N idle clients against a doppel on 127.0.0.1:PORT and holds them
until stdin closes (the benchmark script measures the server meanwhile).

  idle_clients.py sse PORT N PATH   N subscribers: GET PATH with Accept:
                                    text/event-stream, each read up to the
                                    first event, then left idle
  idle_clients.py ws PORT N PATH    N WebSocket connections: upgraded on
                                    PATH (no extension offered), each read
                                    up to the 101, then left idle

Prints "ready N" once every client is in place (or exits non-zero saying
how many it managed). Opens connections in waves, so the listen backlog
is never the limit; needs a descriptor limit above N (it raises its soft
limit to the hard one)."""
import resource
import selectors
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


SSE_REQ = ("GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
           "\r\n")
WS_REQ = ("GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n")


def sse_ready(buf):
    """The stream's first event has come (after the head)."""
    head = buf.find(b"\r\n\r\n")
    return head >= 0 and b"\n\n" in buf[head + 4:]


def ws_ready(buf):
    """The 101 has come."""
    if b"\r\n\r\n" not in buf:
        return False
    if not buf.startswith(b"HTTP/1.1 101"):
        sys.exit("upgrade refused: %r" % bytes(buf[:80]))
    return True


def hold(port, n, req, ready):
    req = req.encode()
    sel = selectors.DefaultSelector()
    socks, done = [], 0
    wave = 500
    deadline = time.time() + 120
    while len(socks) < n and time.time() < deadline:
        for _ in range(min(wave, n - len(socks))):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
            socks.append(s)
        # each wave reads up to its first event before the next one opens
        while done < len(socks) and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                buf = key.data
                chunk = key.fileobj.recv(4096)
                if not chunk:
                    sys.exit("a connection closed early (%d ready)" % done)
                buf += chunk
                if ready(buf):
                    sel.unregister(key.fileobj)
                    done += 1
    if done < n:
        sys.exit("only %d of %d connections ready" % (done, n))
    return socks


def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    raise_nofile(n)
    if mode not in ("sse", "ws"):
        sys.exit("unknown mode " + mode)
    socks = hold(port, n, (SSE_REQ if mode == "sse" else WS_REQ) % sys.argv[4],
                 sse_ready if mode == "sse" else ws_ready)
    print("ready %d" % len(socks), flush=True)
    sys.stdin.read()  # hold them until the script closes our stdin
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
