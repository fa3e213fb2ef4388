"""Request framing the front must refuse (RFC 9112), over raw sockets: field
names with whitespace before the colon or no name at all, a missing or
repeated Host in HTTP/1.1, request lines without an HTTP version (HTTP/0.9)
or with an unsupported one, and chunk sizes no body limit can hold. Each is
answered at once and the connection closed; ordinary requests keep
working."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Doppel, main  # noqa: E402
from test_http_front import parse_responses  # noqa: E402

# A long body timeout: an answer to a refused chunk size must not be the
# body timeout's 408.
CONFIG = """
[server]
max_body_bytes = 64k
header_timeout = 30s
body_timeout = 30s
"""


class HttpFramingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = Doppel(config=CONFIG)

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def exchange(self, data, timeout=5.0):
        """Sends data without closing our side and reads until the server
        closes; returns (bytes, seconds until the server closed)."""
        start = time.time()
        s = socket.create_connection((self.d.host, self.d.port),
                                     timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    self.fail("no answer within %ss to %r (got %r)"
                              % (timeout, data[:80], out[:200]))
                if not chunk:
                    break
                out += chunk
            return out, time.time() - start
        finally:
            s.close()

    def assertRefused(self, data, status=400, code="bad_request"):
        out, took = self.exchange(data)
        rs = parse_responses(out)
        self.assertEqual(len(rs), 1, out)
        got, headers, body = rs[0]
        self.assertEqual(got, status, out)
        self.assertEqual(headers["connection"], "close")
        doc = json.loads(body)
        self.assertEqual(doc["code"], code)
        self.assertIn("request_id", doc)
        self.assertLess(took, 5)

    # -- header lines ------------------------------------------------------

    def test_space_before_colon(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost : x\r\n\r\n")
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                           b"X-A  : 1\r\n\r\n")

    def test_tab_before_colon(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                           b"X-A\t: 1\r\n\r\n")

    def test_empty_field_name(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                           b": y\r\n\r\n")
        # also as the first line of the head
        self.assertRefused(b"GET /health/live HTTP/1.1\r\n: y\r\n"
                           b"Host: x\r\n\r\n")

    def test_missing_host_http11(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\n\r\n")
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nX-Host: x\r\n\r\n")

    def test_duplicate_host(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                           b"Host: y\r\n\r\n")
        # the same value twice, and a differently cased name, too
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
                           b"hOST: x\r\n\r\n")
        # HTTP/1.0 with two Host lines is just as ambiguous
        self.assertRefused(b"GET /health/live HTTP/1.0\r\nHost: x\r\n"
                           b"Host: y\r\n\r\n")

    def test_second_request_without_host_on_keep_alive(self):
        out, _ = self.exchange(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /health/live HTTP/1.1\r\n\r\n")
        self.assertEqual([s for s, _, _ in parse_responses(out)], [200, 400])

    # -- request line ------------------------------------------------------

    def test_request_line_without_version(self):
        # HTTP/0.9 style, answered at once, not after the header timeout
        self.assertRefused(b"GET /health/live\r\n\r\n")
        self.assertRefused(b"GET /health/live\r\n")
        self.assertRefused(b"GET /health/live\n")

    def test_explicit_http09(self):
        self.assertRefused(b"GET /health/live HTTP/0.9\r\nHost: x\r\n\r\n")

    def test_http2_request_line(self):
        self.assertRefused(b"GET /health/live HTTP/2.0\r\nHost: x\r\n\r\n",
                           status=505, code="http_version_not_supported")

    # -- chunk sizes -------------------------------------------------------

    def chunked(self, size_line):
        return (b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + size_line +
                b"\r\nabc")

    def test_absurd_chunk_size(self):
        # larger than the body limit (64k): 413 at once, without waiting for
        # the 30 s body timeout
        self.assertRefused(self.chunked(b"7fffffffffffffff"), status=413,
                           code="payload_too_large")
        self.assertRefused(self.chunked(b"ffffffffffffffff"), status=413,
                           code="payload_too_large")
        self.assertRefused(self.chunked(b"10001"), status=413,
                           code="payload_too_large")

    def test_chunk_sizes_adding_up_over_the_limit(self):
        # each chunk fits, the second one would take the body over 64k
        data = (b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                b"8000\r\n" + b"a" * 0x8000 + b"\r\n8001\r\nabc")
        self.assertRefused(data, status=413, code="payload_too_large")

    def test_chunk_size_overflow(self):
        # more than 64 bits of size: not a number at all
        self.assertRefused(self.chunked(b"10000000000000000"))

    # -- what stays allowed ------------------------------------------------

    def test_ordinary_requests_still_served(self):
        cases = [
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /health/live HTTP/1.1\r\nhost: x\r\nConnection: close\r\n\r\n",
            # RFC 9112 3.2: HTTP/1.0 clients need not send Host
            b"GET /health/live HTTP/1.0\r\n\r\n",
            # an empty Host is how a client says "no authority"
            b"GET /health/live HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
            b"GET http://x/health/live HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n",
            # spaces after the colon and at the end of a value are fine
            b"GET /health/live HTTP/1.1\r\nHost:   x  \r\nX-A:\t1\r\n"
            b"Connection: close\r\n\r\n",
        ]
        for data in cases:
            out, _ = self.exchange(data)
            rs = parse_responses(out)
            self.assertEqual([s for s, _, _ in rs], [200], (data, out))

    def test_chunked_body_within_limit(self):
        out, _ = self.exchange(b"POST /health/live HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n"
                               b"8000\r\n" + b"a" * 0x8000 + b"\r\n"
                               b"7fff\r\n" + b"b" * 0x7fff + b"\r\n0\r\n\r\n")
        # routed (405: /health/live takes no POST) after the whole body
        self.assertEqual([s for s, _, _ in parse_responses(out)], [405])

    def test_server_keeps_serving(self):
        self.assertRefused(b"GET /health/live HTTP/1.1\r\nHost : x\r\n\r\n")
        self.assertEqual(self.d.get("/health/live").status, 200)


if __name__ == "__main__":
    main()
