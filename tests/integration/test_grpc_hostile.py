"""Hostile HTTP/2 and gRPC framing from a raw client (Debian's python3-h2
over a plain socket, plus hand-made frames where h2 itself would refuse to
send them): garbage after the preface, broken frames, DATA on a closed
stream, an oversized message beside a healthy stream, a length prefix that
lies, an unsupported grpc-encoding, the compressed flag with identity,
headers over the limit, streams past max_concurrent_streams, a client that
stops reading, grpc-timeout honoured by the server, RST_STREAM stopping a
stream. After each, the server answers a fresh connection.

The same checks run against the grpc-js reference server
(bench/grpc/reference_server.mjs), which proves the raw client and the
expectations, and against doppel's gRPC plugin (own port).
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import hpack
except ImportError:  # python3-h2 is Debian's: not on a pyenv interpreter's path
    sys.path.append("/usr/lib/python3/dist-packages")
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import hpack

import grpc_client as g  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = \
    0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 1, 4, 1
NO_ERROR, PROTOCOL_ERROR, FRAME_SIZE_ERROR, STREAM_CLOSED = 0, 1, 6, 5
REFUSED_STREAM, CANCEL = 7, 8
GET_ORDER = "/shop.order.v1.OrderService/GetOrder"
LIST_ORDERS = "/shop.order.v1.OrderService/ListOrders"
UPLOAD_ITEMS = "/shop.order.v1.OrderService/UploadItems"


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_string(field, s):
    b = s.encode()
    return bytes([(field << 3) | 2]) + varint(len(b)) + b


def pb_int(field, n):
    return bytes([field << 3]) + varint(n)


def grpc_frame(payload, compressed=False, length=None):
    n = len(payload) if length is None else length
    return bytes([1 if compressed else 0]) + n.to_bytes(4, "big") + payload


def frame(ftype, flags, sid, payload=b""):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            sid.to_bytes(4, "big") + payload)


def order_request(order_id):
    return grpc_frame(pb_string(1, order_id))


class Stream:
    def __init__(self):
        self.headers = None
        self.trailers = None
        self.data = b""
        self.reset = None
        self.ended = False

    def header(self, name):
        for hs in (self.trailers, self.headers):
            for k, v in hs or ():
                if k == name:
                    return v
        return None

    @property
    def grpc_status(self):
        v = self.header("grpc-status")
        return int(v) if v is not None else None

    @property
    def http_status(self):
        v = self.header(":status")
        return int(v) if v is not None else None

    def messages(self):
        out, buf = [], self.data
        while len(buf) >= 5:
            n = int.from_bytes(buf[1:5], "big")
            out.append(buf[5:5 + n])
            buf = buf[5 + n:]
        return out

    def done(self):
        return self.ended or self.reset is not None

    def __repr__(self):
        return "Stream(headers=%r, trailers=%r, data=%d bytes, reset=%r)" % (
            self.headers, self.trailers, len(self.data), self.reset)


class RawH2:
    """A client connection: h2's state machine for well-formed traffic and a
    frame splitter of its own over everything received (so frames on streams
    h2 does not know, and GOAWAY after garbage, are still seen)."""

    def __init__(self, host, port, settings=None, timeout=5, window=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        cfg = h2.config.H2Configuration(client_side=True,
                                        header_encoding="utf-8",
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        if window:
            self.conn.increment_flow_control_window(window)
        self.flush()
        self.streams = {}
        self.frames = []       # (type, flags, stream id, payload) received
        self.buf = b""
        self.closed = False
        self.h2_error = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def stream(self, sid):
        return self.streams.setdefault(sid, Stream())

    def call(self, path, messages=(), end=True, metadata=(),
             content_type="application/grpc"):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", "localhost"), ("content-type", content_type),
                   ("te", "trailers")] + list(metadata)
        self.stream(sid)
        self.conn.send_headers(sid, headers, end_stream=end and not messages)
        for i, m in enumerate(messages):
            self.send_data(sid, m, end and i == len(messages) - 1)
        self.flush()
        return sid

    def send_data(self, sid, data, end, timeout=20):
        """Sends within the flow-control windows, reading (and so getting
        WINDOW_UPDATEs) while they are used up; stops if the stream ends or
        the windows stay shut for timeout seconds."""
        deadline = time.time() + timeout
        while True:
            if self.stream(sid).done() or self.closed or \
                    time.time() > deadline:
                return False
            room = min(self.conn.local_flow_control_window(sid),
                       self.conn.max_outbound_frame_size)
            if room >= len(data):
                self.conn.send_data(sid, data, end_stream=end)
                self.flush()
                return True
            if room > 0:
                self.conn.send_data(sid, data[:room])
                data = data[room:]
                self.flush()
            else:
                self.pump(0.5)

    def pump(self, timeout, until=None):
        """Reads for up to timeout seconds, or until until() holds."""
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            if until and until():
                return True
            self.sock.settimeout(max(0.01, min(0.2, deadline - time.time())))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.split(data)
            if self.h2_error is None:
                try:
                    self.handle(self.conn.receive_data(data))
                except h2.exceptions.H2Error as e:
                    self.h2_error = e
                try:
                    self.flush()
                except OSError:
                    self.closed = True
        return bool(until and until())

    def split(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            self.frames.append((ftype, flags, sid, self.buf[9:9 + n]))
            self.buf = self.buf[9 + n:]

    def handle(self, events):
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived):
                self.stream(ev.stream_id).headers = ev.headers
            elif isinstance(ev, h2.events.TrailersReceived):
                self.stream(ev.stream_id).trailers = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                self.stream(ev.stream_id).data += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                    ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.stream(ev.stream_id).ended = True
            elif isinstance(ev, h2.events.StreamReset):
                self.stream(ev.stream_id).reset = ev.error_code

    def goaway(self):
        """The error code of the first GOAWAY received, else None."""
        for ftype, _, _, payload in self.frames:
            if ftype == GOAWAY:
                return int.from_bytes(payload[4:8], "big")
        return None

    def resets(self, sid=None):
        return [(s, int.from_bytes(p[:4], "big")) for t, _, s, p in self.frames
                if t == RST_STREAM and (sid is None or s == sid)]

    def data_frames(self, sid):
        return sum(1 for t, _, s, p in self.frames if t == DATA and s == sid
                   and p)

    def wait(self, sid, timeout=10):
        self.pump(timeout, lambda: self.stream(sid).done())
        return self.stream(sid)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_settings_then(host, port, data, timeout=3):
    """A connection that sends the preface and an empty SETTINGS, then data,
    and reads until the server closes or timeout; returns the RawH2 (for
    its frames) without h2's state machine in the way."""
    c = RawH2.__new__(RawH2)
    c.sock = socket.create_connection((host, port), timeout=timeout)
    c.frames, c.buf, c.closed, c.h2_error, c.streams = [], b"", False, \
        "raw", {}
    c.sock.sendall(PREFACE + frame(SETTINGS, 0, 0) + data)
    deadline = time.time() + timeout
    while time.time() < deadline:
        c.sock.settimeout(0.2)
        try:
            chunk = c.sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            c.closed = True
            break
        c.split(chunk)
        if c.goaway() is not None:
            # read what follows briefly: the server should close
            c.sock.settimeout(1.0)
            try:
                while c.sock.recv(65536):
                    pass
                c.closed = True
            except OSError:
                pass
            break
    return c


class HostileBase:
    """The checks; a subclass starts the server (host, port) and says how
    to make it answer: ok_path/ok_request (a unary call answered with OK),
    slow_request (answered after more than 1 s), stream_request (a server
    stream of many messages about 100 ms apart)."""

    host = "127.0.0.1"
    port = None

    def connect(self, **kw):
        c = RawH2(self.host, self.port, **kw)
        self.addCleanup(c.close)
        return c

    def assert_serves_fresh_connection(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [self.ok_request])
        s = c.wait(sid)
        self.assertEqual(s.grpc_status, g.OK, s)
        self.assertEqual(len(s.messages()), 1, s)

    def test_well_formed_call(self):
        self.assert_serves_fresh_connection()

    def test_garbage_after_preface(self):
        c = raw_settings_then(self.host, self.port,
                              b"HELLO THIS IS NOT HTTP/2 AT ALL\r\n" * 4)
        self.addCleanup(c.close)
        self.assertIsNotNone(c.goaway(), c.frames)
        self.assertNotEqual(c.goaway(), NO_ERROR)
        self.assert_serves_fresh_connection()

    def test_no_preface_at_all(self):
        s = socket.create_connection((self.host, self.port), timeout=3)
        self.addCleanup(s.close)
        s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1" + b"\x00" * 200)
        s.settimeout(3)
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            self.fail("the server kept a connection without a preface open")
        except OSError:
            pass
        self.assert_serves_fresh_connection()

    def test_broken_frames(self):
        cases = [
            # HEADERS on stream 0
            frame(HEADERS, END_HEADERS, 0, b"\x82"),
            # SETTINGS whose length is not a multiple of 6
            frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"),
            # WINDOW_UPDATE of 0 on the connection
            frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"),
            # PING of 7 bytes
            frame(PING, 0, 0, b"\x00" * 7),
            # an HPACK block that does not decode
            frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff"),
            # CONTINUATION without HEADERS before it
            frame(9, END_HEADERS, 1, b"\x82"),
        ]
        for data in cases:
            c = raw_settings_then(self.host, self.port, data)
            self.addCleanup(c.close)
            self.assertIsNotNone(c.goaway(), (data, c.frames))
            self.assertNotEqual(c.goaway(), NO_ERROR, data)
        self.assert_serves_fresh_connection()

    def test_data_on_closed_stream(self):
        # RFC 9113 5.1 lets a server treat it as a STREAM_CLOSED error (RST
        # or GOAWAY) or, for a stream it closed a moment ago, ignore it;
        # either way the server lives and, without a GOAWAY, the same
        # connection goes on serving.
        c = self.connect()
        sid = c.call(GET_ORDER, [self.ok_request])
        s = c.wait(sid)
        self.assertEqual(s.grpc_status, g.OK, s)
        c.send_raw(frame(DATA, END_STREAM, sid, self.ok_request))
        c.pump(1.0, lambda: c.goaway() is not None or c.resets(sid))
        got = c.goaway()
        if got is not None:
            self.assertIn(got, (STREAM_CLOSED, PROTOCOL_ERROR), c.frames)
        else:
            s = c.wait(c.call(GET_ORDER, [self.ok_request]))
            self.assertEqual(s.grpc_status, g.OK, s)
        self.assert_serves_fresh_connection()

    def test_oversized_message_beside_a_healthy_stream(self):
        c = self.connect()
        big = grpc_frame(pb_string(1, "x" * (5 * 1024 * 1024)))
        sid_big = c.call(GET_ORDER, end=False)
        sid_ok = c.call(GET_ORDER, end=False)
        c.send_data(sid_big, big, end=True)
        c.send_data(sid_ok, self.ok_request, end=True)
        a = c.wait(sid_big, 20)
        b = c.wait(sid_ok, 20)
        self.assertEqual(a.grpc_status, g.RESOURCE_EXHAUSTED, a)
        self.assertEqual(b.grpc_status, g.OK, b)
        self.assertEqual(len(b.messages()), 1, b)
        self.assertIsNone(c.goaway(), c.frames[-3:])
        # the same connection takes another call
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_length_prefix_longer_than_the_stream(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [grpc_frame(pb_string(1, "1"), length=100)])
        s = c.wait(sid)
        self.assertTrue(s.grpc_status not in (None, g.OK) or s.reset, s)
        if s.grpc_status is not None:
            self.assertEqual(s.grpc_status, g.INTERNAL, s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_request_message_that_does_not_decode(self):
        c = self.connect()
        # field 1 (string) with a length past the end of the message
        sid = c.call(GET_ORDER, [grpc_frame(b"\x0a\x7f\x41\x42")])
        s = c.wait(sid)
        self.assertEqual(s.grpc_status, g.INTERNAL, s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_unsupported_grpc_encoding(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [grpc_frame(b"\x01\x02\x03", compressed=True)],
                     metadata=[("grpc-encoding", "x-snappy-nope")])
        s = c.wait(sid)
        self.assertEqual(s.grpc_status, g.UNIMPLEMENTED, s)
        self.assertIsNotNone(s.header("grpc-accept-encoding"), s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_compressed_flag_with_identity(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [grpc_frame(pb_string(1, "1"), compressed=True)])
        s = c.wait(sid)
        self.assertEqual(s.grpc_status, g.INTERNAL, s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_headers_over_the_limit(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [self.ok_request],
                     metadata=[("x-huge", "v" * (64 * 1024))])
        s = c.wait(sid)
        refused = (s.reset is not None or c.goaway() is not None or
                   (s.http_status not in (None, 200)) or
                   s.grpc_status not in (None, g.OK))
        self.assertTrue(refused, s)
        self.assertEqual(s.messages(), [], s)
        self.assert_serves_fresh_connection()

    def test_streams_past_max_concurrent_streams(self):
        # nghttp2 treats a HEADERS past the limit it advertised (and the
        # client acknowledged) as a connection error: GOAWAY PROTOCOL_ERROR
        # whose last stream id is within the first 100 (RFC 9113 5.1.2
        # also allows the stream error REFUSED_STREAM; well-behaved
        # clients never get here). The first 100 are never reset, and the
        # server keeps serving other connections.
        c = self.open_past_max_concurrent_streams()
        goaways = [p for t, _, _, p in c.frames if t == GOAWAY]
        refused = [sid for t, _, sid, p in c.frames if t == RST_STREAM and
                   int.from_bytes(p[:4], "big") == REFUSED_STREAM]
        if goaways:
            last = int.from_bytes(goaways[0][:4], "big") & 0x7fffffff
            code = int.from_bytes(goaways[0][4:8], "big")
            self.assertEqual(code, 1, goaways)  # PROTOCOL_ERROR
            self.assertLessEqual(last, 199, goaways)
        else:
            self.assertGreaterEqual(len(refused), 20, c.frames[-5:])
            self.assertTrue(all(sid > 199 for sid in refused), refused)
        self.assertFalse([sid for t, _, sid, _ in c.frames
                          if t == RST_STREAM and sid <= 199], c.frames[-5:])
        self.assert_serves_fresh_connection()

    def open_past_max_concurrent_streams(self):
        # Hand-made HEADERS (h2 would refuse to pass the server's limit):
        # client streams that stay open, 120 of them.
        s = socket.create_connection((self.host, self.port), timeout=5)
        self.addCleanup(s.close)
        c = RawH2.__new__(RawH2)
        c.frames, c.buf = [], b""
        s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        deadline = time.time() + 5
        while time.time() < deadline and not any(
                t == SETTINGS and not f & ACK for t, f, _, _ in c.frames):
            c.split(s.recv(65536))
        limit = None
        for t, f, _, p in c.frames:
            if t == SETTINGS and not f & ACK:
                for i in range(0, len(p), 6):
                    if int.from_bytes(p[i:i + 2], "big") == 3:
                        limit = int.from_bytes(p[i + 2:i + 6], "big")
        self.assertEqual(limit, 100, c.frames)
        enc = hpack.Encoder()
        out = frame(SETTINGS, ACK, 0)
        for i in range(120):
            block = enc.encode([(":method", "POST"), (":scheme", "http"),
                                (":path", UPLOAD_ITEMS),
                                (":authority", "localhost"),
                                ("content-type", "application/grpc"),
                                ("te", "trailers")])
            out += frame(HEADERS, END_HEADERS, 1 + 2 * i, block)
        s.sendall(out)
        s.settimeout(0.3)
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            c.split(chunk)
        return c

    def test_server_honours_grpc_timeout(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [self.slow_request],
                     metadata=[("grpc-timeout", "200m")])
        s = c.wait(sid, 10)
        self.assertEqual(s.grpc_status, g.DEADLINE_EXCEEDED, s)
        self.assertEqual(s.messages(), [], s)

    def test_rst_stream_stops_the_stream(self):
        c = self.connect()
        sid = c.call(LIST_ORDERS, [self.stream_request])
        c.pump(10, lambda: len(c.stream(sid).messages()) >= 2)
        self.assertGreaterEqual(len(c.stream(sid).messages()), 2)
        c.conn.reset_stream(sid, CANCEL)
        c.flush()
        before = c.data_frames(sid)
        c.pump(1.2)
        # a frame already on its way may still arrive; no more than that
        self.assertLessEqual(c.data_frames(sid) - before, 1, c.frames[-5:])
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_rapid_reset(self):
        # CVE-2023-44487: streams opened and reset at once, thousands of
        # them. The server may end the connection (GOAWAY) or go on; either
        # way it serves the next connection.
        before = self.server_rss()
        c = self.connect()
        for i in range(3000):
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [
                (":method", "POST"), (":scheme", "http"), (":path", GET_ORDER),
                (":authority", "localhost"), ("content-type", "application/grpc"),
                ("te", "trailers")])
            c.conn.reset_stream(sid, CANCEL)
            if i % 100 == 99:
                try:
                    c.flush()
                except OSError:
                    break
        try:
            c.flush()
        except OSError:
            pass
        c.pump(2.0)
        if c.goaway() is not None:
            self.assertNotEqual(c.goaway(), NO_ERROR, c.frames[-3:])
        self.assert_serves_fresh_connection()
        self.assert_rss_bounded(before, 64 * 1024)

    def test_control_frame_flood_without_reading(self):
        # PINGs and SETTINGS the server must answer, sent without reading
        # the answers: it has to stop (GOAWAY, close) or bound what it
        # queues, not buffer acknowledgements without end.
        before = self.server_rss()
        s = socket.create_connection((self.host, self.port), timeout=5)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        burst = (frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0)) * 2000
        s.settimeout(2)
        try:
            for _ in range(25):
                s.sendall(burst)
        except OSError:
            pass  # the server gave up on us: fine
        time.sleep(1)
        self.assert_rss_bounded(before, 64 * 1024)
        s.close()
        self.assert_serves_fresh_connection()

    def server_rss(self):
        return None

    def assert_rss_bounded(self, before, kib):
        if before is not None:
            grown = self.server_rss() - before
            self.assertLess(grown, kib, "RSS grew by %d KiB" % grown)

    def test_non_grpc_content_type(self):
        c = self.connect()
        sid = c.call(GET_ORDER, [b"{}"], content_type="application/json")
        s = c.wait(sid)
        self.assertEqual(s.http_status, 415, s)
        self.assert_serves_fresh_connection()


class ReferenceHostile(HostileBase, unittest.TestCase):
    """The grpc-js reference server: the raw client and the expectations."""

    ok_request = order_request("1")
    slow_request = order_request("slow")
    stream_request = grpc_frame(pb_int(2, 30))  # pageSize 30, 100 ms apart

    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.ref = g.ReferenceServer()
        cls.port = cls.ref.port

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()

    def server_rss(self):
        return self.ref.rss_kib()

    # -- where grpc-js is more lenient than the contract doppel follows --
    # Each override still proves the raw client: it sees what grpc-js does.

    def test_compressed_flag_with_identity(self):
        """grpc-js hands a flagged message to the identity "decompressor"
        and serves it; doppel answers INTERNAL as gRPC core does."""
        c = self.connect()
        s = c.wait(c.call(GET_ORDER, [grpc_frame(pb_string(1, "1"),
                                                 compressed=True)]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_headers_over_the_limit(self):
        """grpc-js sets no metadata limit here: the 64 KiB header arrives
        (so the client does send it)."""
        c = self.connect()
        s = c.wait(c.call(GET_ORDER, [self.ok_request],
                          metadata=[("x-huge", "v" * (64 * 1024))]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_length_prefix_longer_than_the_stream(self):
        """grpc-js: UNIMPLEMENTED "Received no request message"."""
        c = self.connect()
        s = c.wait(c.call(GET_ORDER, [grpc_frame(pb_string(1, "1"),
                                                 length=100)]))
        self.assertEqual(s.grpc_status, g.UNIMPLEMENTED, s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_request_message_that_does_not_decode(self):
        """protobufjs decodes the truncated field without complaint; the
        call is answered, the server lives."""
        c = self.connect()
        s = c.wait(c.call(GET_ORDER, [grpc_frame(b"\x0a\x7f\x41\x42")]))
        self.assertIsNotNone(s.grpc_status, s)
        s = c.wait(c.call(GET_ORDER, [self.ok_request]))
        self.assertEqual(s.grpc_status, g.OK, s)

    def test_unsupported_grpc_encoding(self):
        """grpc-js answers UNIMPLEMENTED but without grpc-accept-encoding."""
        c = self.connect()
        s = c.wait(c.call(GET_ORDER, [grpc_frame(b"\x01\x02\x03",
                                                 compressed=True)],
                          metadata=[("grpc-encoding", "x-snappy-nope")]))
        self.assertEqual(s.grpc_status, g.UNIMPLEMENTED, s)

    def test_streams_past_max_concurrent_streams(self):
        """Node's HTTP/2 ends the whole session (GOAWAY INTERNAL_ERROR and
        every stream reset) instead of refusing the extra streams."""
        c = self.open_past_max_concurrent_streams()
        self.assertEqual(c.goaway(), 2, c.frames[-3:])
        self.assertTrue(c.resets(), c.frames[-3:])
        self.assert_serves_fresh_connection()



class DoppelHostile(HostileBase, unittest.TestCase):
    """doppel's gRPC plugin on its own port."""

    ok_request = order_request("1")
    slow_request = order_request("slow")
    stream_request = grpc_frame(pb_string(1, "stream"))  # customerId

    @classmethod
    def setUpClass(cls):
        # Under ASan, freed memory waits in a quarantine (256 MiB by
        # default) and would count as held: without it, RSS is what the
        # server keeps.
        env = None
        if os.environ.get("ASAN_OPTIONS") is not None:
            env = {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"] +
                   ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"}
        cls.d = g.GrpcDoppel({"max_message_size": "4m",
                              "max_concurrent_streams": "100",
                              "max_header_list_size": "16k"}, env=env)
        cls.port = cls.d.grpc_port
        eq = lambda p, v: {"path": p, "assertAction": "equals", "value": v}  # noqa
        cls.d.mock(g.grpc_mock("GetOrder", {"payload": {"orderId": "1"}},
                               conditions=[eq("orderId", "1")]))
        cls.d.mock(g.grpc_mock("GetOrder", {"payload": {"orderId": "slow"},
                                            "delay": 3000},
                               conditions=[eq("orderId", "slow")]))
        cls.d.mock(g.grpc_mock("ListOrders", {"streamResponses": [
            {"payload": {"orderId": "m%d" % i}, "delay": 100}
            for i in range(30)]}, conditions=[eq("customerId", "stream")]))
        # 4 messages of 1 MiB each, for the client that stops reading
        cls.d.mock(g.grpc_mock("ListOrders", {"streamResponses": [
            {"payload": {"orderId": "%d" % i, "customerId": "z" * (1 << 20)}}
            for i in range(4)]}, conditions=[eq("customerId", "big")]))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def server_rss(self):
        return self.d.rss_kib()

    def test_client_that_stops_reading(self):
        # Windows wide open, 40 streams asking for 4 MiB each, and the
        # socket never read: back-pressure must stop the server from
        # queueing 160 MiB for this client.
        base = self.d.rss_kib()
        c = self.connect(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                   2 ** 31 - 1}, window=2 ** 31 - 2 ** 16)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = grpc_frame(pb_string(1, "big"))
        for _ in range(40):
            c.call(LIST_ORDERS, [big])
        time.sleep(3)
        grown = self.d.rss_kib() - base
        self.assertLess(grown, 100 * 1024, "RSS grew by %d KiB" % grown)
        c.close()
        time.sleep(0.5)
        self.assert_serves_fresh_connection()
        # and a second such client does not add as much again
        c2 = self.connect(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                    2 ** 31 - 1}, window=2 ** 31 - 2 ** 16)
        for _ in range(40):
            c2.call(LIST_ORDERS, [big])
        time.sleep(3)
        c2.close()
        time.sleep(0.5)
        self.assertLess(self.d.rss_kib() - base, 150 * 1024)
        self.assert_serves_fresh_connection()


if __name__ == "__main__":
    unittest.main(verbosity=2)
