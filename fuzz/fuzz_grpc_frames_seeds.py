#!/usr/bin/env python3
"""Seeds of fuzz_grpc_frames: what real gRPC clients send after the
connection preface, made with python3-h2 (a client session), each behind
the target's two leading bytes (flags, chunk size).

    fuzz_grpc_frames_seeds.py CORPUS_DIR
"""
import os
import struct
import sys

import h2.config
import h2.connection

MAGIC = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def conn():
    c = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    return c


def hdrs(path, extra=()):
    return [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers")] + list(extra)


def msg(body, flag=0):
    return struct.pack(">BI", flag, len(body)) + body


def after_preface(c):
    d = c.data_to_send()
    assert d.startswith(MAGIC)
    return d[len(MAGIC):]


def seeds():
    c = conn()
    c.send_headers(1, hdrs(b"/order.v1.OrderService/GetOrder",
                           [(b"grpc-timeout", b"5S"), (b"x-tenant", b"acme")]))
    c.send_data(1, msg(b"\x0a\x0242"), end_stream=True)
    yield "unary", 0, 0, after_preface(c)

    c = conn()
    c.send_headers(1, hdrs(b"/s.S/Up"))
    tail = msg(b"Fx")
    c.send_data(1, msg(b"abc") + msg(b"") + tail[:3])
    c.send_data(1, tail[3:], end_stream=True)
    yield "cstream", 0, 7, after_preface(c)

    c = conn()
    c.send_headers(1, hdrs(b"/chat.Chat/Talk", [(b"x-id-bin", b"AAEC")]))
    c.send_data(1, msg(b"hi"))
    c.send_headers(3, hdrs(b"/chat.Chat/Talk"))
    c.send_data(3, msg(b"x" * 100))
    c.reset_stream(1)
    c.ping(b"12345678")
    yield "bidi", 8, 0, after_preface(c)

    c = conn()
    c.send_headers(1, hdrs(b"/s.S/A", [(b"grpc-encoding", b"gzip")]))
    c.send_data(1, msg(b"x", 1), end_stream=True)
    c.send_headers(3, hdrs(b"/s.S/A"))
    c.send_data(3, msg(b"y", 1), end_stream=True)
    yield "enc", 2, 0, after_preface(c)

    c = conn()
    c.send_headers(1, [(b":method", b"GET"), (b":scheme", b"http"),
                       (b":path", b"/x"), (b":authority", b"h")],
                   end_stream=True)
    yield "get", 16, 0, after_preface(c)

    c = conn()
    c.send_headers(1, hdrs(b"/s.S/A"))
    c.send_data(1, msg(b"y" * 80))
    c.increment_flow_control_window(1000)
    c.close_connection()
    yield "goaway", 6, 13, after_preface(c)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, flags, chunk, body in seeds():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(bytes([flags, chunk]) + body)


if __name__ == "__main__":
    main()
