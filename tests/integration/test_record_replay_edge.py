"""Record and replay against real upstream behaviour: hop-by-hop headers,
X-Forwarded-*, HEAD, 204/304, redirects, gzip and binary answers, large and
chunked answers, an upstream that dies mid-body or is too slow, HTTPS with a
self-signed certificate, recording keys, concurrent LEARN, modes, redaction
and coverage edge cases (docs/record-replay.md). Every upstream is started by
the test on loopback."""

import base64
import concurrent.futures
import gzip
import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import upstream
from harness import Doppel

ALLOW = {"ALLOW_PROXY_TO_PRIVATE_IPS": "true"}
GZ_BODY = gzip.compress(b'{"zipped": true, "n": 42}\n', mtime=0)
BINARY = bytes(range(256)) * 4
BIG_N = 300000


class Upstream:
    """A threaded HTTP/1.1 server answering the edge cases; remembers what
    it saw. tls: wrap the socket with a self-signed certificate."""

    def __init__(self, tls_dir=None):
        seen = self.seen = []
        lock = self.lock = threading.Lock()
        state = {"counter": 0}
        self.release = threading.Event()

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def send(self, status, body=b"", ctype="application/json",
                     extra=(), length=True):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in extra:
                    self.send_header(k, v)
                if length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with lock:
                    seen.append({"method": self.command, "path": self.path,
                                 "headers": [(k.lower(), v) for k, v in
                                             self.headers.items()],
                                 "body": body})
                p = self.path
                if p.startswith("/hop"):
                    self.send(200, json.dumps({"ok": 1}), extra=[
                        ("Connection", "X-Hop-Secret, keep-alive"),
                        ("X-Hop-Secret", "hop"), ("Keep-Alive", "timeout=5"),
                        ("Proxy-Authenticate", "Basic"),
                        ("Proxy-Foo", "bar"), ("X-Kept", "yes")])
                elif p.startswith("/head"):
                    self.send(200, "0123456789", "text/plain",
                              extra=[("X-Head", "1")])
                elif p.startswith("/nocontent"):
                    self.send(204, ctype=None, length=False)
                elif p.startswith("/notmod"):
                    self.send(304, ctype=None, extra=[("ETag", '"v1"')],
                              length=False)
                elif p.startswith("/redirect"):
                    self.send(302, "", "text/plain", extra=[
                        ("Location", "http://127.0.0.1:%d/elsewhere"
                         % outer.port)])
                elif p.startswith("/gzip"):
                    self.send(200, GZ_BODY, "application/json",
                              extra=[("Content-Encoding", "gzip")])
                elif p.startswith("/binary"):
                    self.send(200, BINARY, "application/octet-stream")
                elif p.startswith("/big"):
                    self.send(200, "y" * BIG_N, "text/plain")
                elif p.startswith("/chunked"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                elif p.startswith("/cut"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"only a little")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif p.startswith("/slow"):
                    outer.release.wait(10)
                    self.send(200, json.dumps({"slow": True}))
                elif p.startswith("/counter"):
                    with lock:
                        state["counter"] += 1
                        c = state["counter"]
                    self.send(200, json.dumps({"n": c}))
                elif p.startswith("/cookies"):
                    self.send(200, "{}", extra=[
                        ("Set-Cookie", "a=SECRET-SC-ONE"),
                        ("Set-Cookie", "b=SECRET-SC-TWO")])
                else:
                    self.send(200, json.dumps(
                        {"path": p, "body": body.decode("latin-1")}))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

            def log_message(self, *args):
                pass

        wrap = None
        self.scheme = "http"
        if tls_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"),
                                os.path.join(tls_dir, "key.pem"))
            wrap = lambda sock: ctx.wrap_socket(sock, server_side=True)
            self.scheme = "https"
        # /cut drops connections on purpose: quiet, no tracebacks
        self.server = upstream.serve(Handler, wrap, quiet=True)
        self.port = self.server.server_address[1]

    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def last(self, prefix):
        with self.lock:
            for s in reversed(self.seen):
                if s["path"].startswith(prefix):
                    return s
        return None

    def close(self):
        self.release.set()
        upstream.stop(self.server)


def header_names(seen):
    return [k for k, _ in seen["headers"]]


def raw_request(d, method, path, headers=(), body=b""):
    """One request over http.client, returning (status, [(name, value)],
    body) with every header as sent (repeats kept)."""
    c = http.client.HTTPConnection(d.host, d.port, timeout=15)
    try:
        c.request(method, path, body=body or None, headers=dict(headers))
        r = c.getresponse()
        data = r.read()
        return r.status, r.getheaders(), data
    finally:
        c.close()


class EdgeBase(upstream.RecordReplayCalls, unittest.TestCase):
    tls = False

    def setUp(self):
        self.up = Upstream()

    def tearDown(self):
        self.up.close()

    def recording_for(self, d, path):
        for m in self.recorded(d):
            if m["recording"]["path"] == path:
                return m
        self.fail("no recording of %s: %r" % (path, self.recorded(d)))


class ForwardingTest(EdgeBase):
    def test_hop_by_hop_headers_are_stripped_both_ways(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, hs, body = raw_request(d, "GET", "/shop/hop", headers=[
                ("Connection", "X-Client-Hop"), ("X-Client-Hop", "c"),
                ("Keep-Alive", "timeout=3"), ("TE", "trailers"),
                ("Trailer", "X-T"), ("Upgrade", "websocket"),
                ("Proxy-Connection", "keep-alive"),
                ("Proxy-Authorization", "Basic eDp5"),
                ("X-End-To-End", "e2e"), ("Host", "front.example")])
            self.assertEqual(st, 200, body)
            seen = self.up.last("/hop")
            names = header_names(seen)
            for h in ("x-client-hop", "keep-alive", "te", "trailer",
                      "upgrade", "proxy-connection", "proxy-authorization"):
                self.assertNotIn(h, names, seen)
            self.assertIn("x-end-to-end", names)
            # Host comes from the target, X-Forwarded-* say where from
            hdr = dict(seen["headers"])
            self.assertEqual(hdr["host"], "127.0.0.1:%d" % self.up.port)
            self.assertEqual(hdr["x-forwarded-for"], "127.0.0.1")
            self.assertEqual(hdr["x-forwarded-proto"], "http")
            self.assertEqual(hdr["x-forwarded-host"], "front.example")
            got = [k.lower() for k, _ in hs]
            for h in ("x-hop-secret", "keep-alive", "proxy-authenticate",
                      "proxy-foo"):
                self.assertNotIn(h, got, hs)
            self.assertIn("x-kept", got)
            # nor are they recorded
            rec = self.recording_for(d, "/shop/hop")
            names = [k.lower() for k in rec["response"]["headers"]]
            for h in ("x-hop-secret", "keep-alive", "proxy-authenticate",
                      "proxy-foo", "connection"):
                self.assertNotIn(h, names, rec)
            self.assertIn("x-kept", names)

    def test_x_forwarded_for_appends_to_a_client_chain(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, mode="PASSTHROUGH")
            st, _, _ = raw_request(d, "GET", "/shop/any", headers=[
                ("X-Forwarded-For", "203.0.113.9")])
            self.assertEqual(st, 200)
            hdr = dict(self.up.last("/any")["headers"])
            self.assertEqual(hdr["x-forwarded-for"], "203.0.113.9, 127.0.0.1")

    def test_head_204_304_and_redirects(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, hs, body = raw_request(d, "HEAD", "/shop/head")
            self.assertEqual((st, body), (200, b""))
            self.assertEqual(dict(hs).get("X-Head"), "1")
            self.assertEqual(self.up.last("/head")["method"], "HEAD")
            st, hs, body = raw_request(d, "GET", "/shop/nocontent")
            self.assertEqual((st, body), (204, b""))
            st, hs, body = raw_request(d, "GET", "/shop/notmod")
            self.assertEqual((st, body), (304, b""))
            self.assertEqual(dict(hs).get("ETag"), '"v1"')
            st, hs, body = raw_request(d, "GET", "/shop/redirect")
            self.assertEqual(st, 302)
            # passed back as the upstream wrote it, not followed
            self.assertEqual(dict(hs)["Location"],
                             "http://127.0.0.1:%d/elsewhere" % self.up.port)
            self.assertIsNone(self.up.last("/elsewhere"))
            self.set_mode(d, "mock")
            self.up.close()
            st, hs, body = raw_request(d, "HEAD", "/shop/head")
            self.assertEqual((st, body), (200, b""))
            st, hs, body = raw_request(d, "GET", "/shop/nocontent")
            self.assertEqual((st, body), (204, b""))
            st, hs, body = raw_request(d, "GET", "/shop/notmod")
            self.assertEqual((st, dict(hs).get("ETag")), (304, '"v1"'))
            st, hs, body = raw_request(d, "GET", "/shop/redirect")
            self.assertEqual((st, dict(hs)["Location"]),
                             (302, "http://127.0.0.1:%d/elsewhere"
                              % self.up.port))

    def test_gzip_binary_chunked_replayed_byte_identically(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            live = {}
            for p in ("/shop/gzip", "/shop/binary", "/shop/chunked"):
                st, hs, body = raw_request(d, "GET", p, headers=[
                    ("Accept-Encoding", "gzip")])
                self.assertEqual(st, 200, p)
                live[p] = (dict(hs), body)
            self.assertEqual(live["/shop/gzip"][1], GZ_BODY)
            self.assertEqual(live["/shop/gzip"][0]["Content-Encoding"], "gzip")
            self.assertEqual(live["/shop/binary"][1], BINARY)
            self.assertEqual(live["/shop/chunked"][1], b"hello chunked world")
            rec = self.recording_for(d, "/shop/gzip")
            self.assertEqual(rec["response"].get("decode"), "base64")
            self.assertEqual(base64.b64decode(rec["response"]["payload"]),
                             GZ_BODY)
            self.set_mode(d, "mock")
            self.up.close()
            for p, (h, body) in live.items():
                st, hs, got = raw_request(d, "GET", p, headers=[
                    ("Accept-Encoding", "gzip")])
                self.assertEqual((st, got), (200, body), p)
            st, hs, _ = raw_request(d, "GET", "/shop/gzip")
            self.assertEqual(dict(hs)["Content-Encoding"], "gzip")

    def test_large_answer_truncated_in_store_whole_for_client(self):
        conf = harness.default_config().replace(
            "[server]\n", "[server]\nrecord_body_max = 1k\n", 1)
        with Doppel(env=ALLOW, config=conf) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, _, body = raw_request(d, "GET", "/shop/big")
            self.assertEqual((st, len(body)), (200, BIG_N))
            rec = self.recording_for(d, "/shop/big")
            self.assertTrue(rec["recording"]["responseBodyTruncated"])
            self.assertEqual(rec["response"]["headers"]["X-Doppel-Truncated"],
                             str(BIG_N))
            self.assertEqual(len(rec["response"]["payload"]), 1024)

    def test_upstream_closing_mid_body_is_a_502_and_not_recorded(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, _, body = raw_request(d, "GET", "/shop/cut")
            self.assertEqual(st, 502, body)
            self.assertEqual(json.loads(body)["reason"], "reset")
            self.assertEqual(self.recorded(d), [])

    def test_slow_upstream_times_out_while_others_are_served(self):
        with Doppel(env=ALLOW, workers=1) as d:
            self.service(d, timeoutMs=1500)
            self.set_mode(d, "learn")
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                slow = ex.submit(raw_request, d, "GET", "/shop/slow")
                deadline = time.time() + 10
                while self.up.last("/slow") is None and time.time() < deadline:
                    time.sleep(0.02)
                self.assertIsNotNone(self.up.last("/slow"))
                # the one worker still answers while /slow waits
                st, _, body = raw_request(d, "GET", "/shop/counter")
                self.assertEqual(st, 200, body)
                self.assertFalse(slow.done())
                st, _, body = slow.result(20)
            self.assertEqual(st, 504, body)
            self.assertEqual(json.loads(body)["reason"], "timeout")
            self.assertEqual([m["recording"]["path"]
                              for m in self.recorded(d)], ["/shop/counter"])


class TlsTest(EdgeBase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="doppel-tls-")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", os.path.join(self.tmp, "key.pem"),
             "-out", os.path.join(self.tmp, "cert.pem"), "-days", "1",
             "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60)
        self.up = Upstream(tls_dir=self.tmp)

    def test_tls_verify_refuses_self_signed_and_off_accepts(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, name="strict", prefix="/strict")
            self.service(d, name="lax", prefix="/lax", tlsVerify=False)
            self.set_mode(d, "passthrough")
            st, _, body = raw_request(d, "GET", "/strict/counter")
            self.assertEqual(st, 502, body)
            err = json.loads(body)
            self.assertEqual(err["reason"], "protocol")
            self.assertTrue(err["error"].startswith("upstream: TLS: "), err)
            st, _, body = raw_request(d, "GET", "/lax/counter")
            self.assertEqual(st, 200, body)
            self.assertEqual(json.loads(body), {"n": 1})
            # a verified request never rides on the insecure connection
            st, _, body = raw_request(d, "GET", "/strict/counter")
            self.assertEqual(st, 502, body)


class KeyTest(EdgeBase):
    def learn_then_mock(self, d, reqs, **svc):
        """LEARNs reqs, switches to MOCK; the live answers, parsed (JSON
        answers are recorded as JSON, so they replay equal, not byte for
        byte: docs/record-replay.md)."""
        self.service(d, **svc)
        self.set_mode(d, "learn")
        live = []
        for method, path, headers, body in reqs:
            st, _, got = raw_request(d, method, path, headers, body)
            self.assertEqual(st, 200, (path, got))
            live.append(json.loads(got))
        self.set_mode(d, "mock")
        return live

    def replay(self, d, method, path, headers=(), body=b""):
        st, _, got = raw_request(d, method, path, headers, body)
        return st, json.loads(got) if st == 200 else None

    def test_query_normalisation(self):
        with Doppel(env=ALLOW) as d:
            live = self.learn_then_mock(d, [
                ("GET", "/shop/q?b=2&a=1", (), b""),
                ("GET", "/shop/t%7Ex", (), b""),
                ("GET", "/shop/e?", (), b""),
                ("GET", "/shop/s/", (), b"")])
            n = len(self.up.seen)
            # sorted parameters, %7E is ~, an empty query is none
            for path, want in (("/shop/q?a=1&b=2", live[0]),
                               ("/shop/t~x", live[1]),
                               ("/shop/e", live[2])):
                self.assertEqual(self.replay(d, "GET", path), (200, want),
                                 path)
            # a trailing slash is the same path (the matcher's segments)
            self.assertEqual(self.replay(d, "GET", "/shop/s"), (200, live[3]))
            for path in ("/shop/q?a=1", "/shop/q?a=1&b=2&c=3",
                         "/shop/q?a=2&b=2"):
                st, hs, _ = raw_request(d, "GET", path)
                self.assertEqual(st, 404, path)
                self.assertEqual(dict(hs).get("X-Doppel-Miss"), "true")
            self.assertEqual(len(self.up.seen), n)

    def test_repeated_query_keys_keep_every_value(self):
        # a repeated parameter keys on all its values, in order: three
        # recordings, each replaying its own answer, and a fourth order of
        # the same values is a miss
        with Doppel(env=ALLOW) as d:
            live = self.learn_then_mock(d, [
                ("GET", "/shop/r?a=1&a=2", (), b""),
                ("GET", "/shop/r?a=1&a=3", (), b""),
                ("GET", "/shop/r?a=2&a=1&b=x", (), b"")])
            recs = self.recorded(d)
            self.assertEqual(len(recs), 3, recs)
            self.assertTrue(all("oneOf" not in r for r in recs), recs)
            self.assertEqual(self.replay(d, "GET", "/shop/r?a=1&a=3"),
                             (200, live[1]))
            self.assertEqual(self.replay(d, "GET", "/shop/r?a=1&a=2"),
                             (200, live[0]))
            self.assertEqual(self.replay(d, "GET", "/shop/r?b=x&a=2&a=1"),
                             (200, live[2]))
            st, _, _ = raw_request(d, "GET", "/shop/r?a=2&a=1")
            self.assertEqual(st, 404)
            st, _, _ = raw_request(d, "GET", "/shop/r?a=1")
            self.assertEqual(st, 404)

    def test_json_bodies_and_json_typed_text(self):
        with Doppel(env=ALLOW) as d:
            jt = [("Content-Type", "application/json")]
            live = self.learn_then_mock(d, [
                ("POST", "/shop/j", jt, b'{"a": 1.0, "b": [1, 2]}'),
                ("POST", "/shop/nj", jt, b"not { json")])
            self.assertEqual(self.replay(d, "POST", "/shop/j", jt,
                                         b'{"b":[1,2],"a":1.0}'),
                             (200, live[0]))
            # numbers compare by value: 1 is 1.0, 1.5 is not
            self.assertEqual(self.replay(d, "POST", "/shop/j", jt,
                                         b'{"b":[1,2],"a":1}'),
                             (200, live[0]))
            st, _, _ = raw_request(d, "POST", "/shop/j", jt,
                                   b'{"b":[1,2],"a":1.5}')
            self.assertEqual(st, 404)
            self.assertEqual(self.replay(d, "POST", "/shop/nj", jt,
                                         b"not { json"), (200, live[1]))
            st, _, got = raw_request(d, "POST", "/shop/nj", jt, b"not {json")
            self.assertEqual(st, 404)

    def test_number_formats_share_one_recording(self):
        with Doppel(env=ALLOW) as d:
            jt = [("Content-Type", "application/json")]
            self.learn_then_mock(d, [
                ("POST", "/shop/counter", jt, b'{"a": 1.0}'),
                ("POST", "/shop/counter", jt, b'{"a": 1}'),
                ("POST", "/shop/counter", jt, b'{"a":1e0}')])
            recs = self.recorded(d)
            self.assertEqual(len(recs), 1, recs)
            seq = [r["payload"]["n"] for r in recs[0]["oneOf"]["responses"]]
            self.assertEqual(seq, [1, 2, 3])

    def test_record_headers_are_case_insensitive(self):
        with Doppel(env=ALLOW) as d:
            live = self.learn_then_mock(d, [
                ("GET", "/shop/h", [("x-tenant", "t1")], b""),
                ("GET", "/shop/h", [("X-TENANT", "t2")], b"")],
                recordHeaders=["X-Tenant"])
            self.assertEqual(len(self.recorded(d)), 2)
            # the two answers are equal (the upstream echoes the path):
            # what tells them apart is that each is its own mock
            ids = set()
            for v in ("t2", "t1"):
                st, hs, _ = raw_request(d, "GET", "/shop/h", [("x-TeNaNt", v)])
                self.assertEqual(st, 200, v)
                ids.add(dict(hs)["X-Doppel-Mock-Id"])
            self.assertEqual(ids, {m["id"] for m in self.recorded(d)})
            st, _, _ = raw_request(d, "GET", "/shop/h")
            self.assertEqual(st, 404)


class SequenceTest(EdgeBase):
    def test_concurrent_learn_loses_nothing(self):
        with Doppel(env=ALLOW, workers=2) as d:
            self.service(d)
            self.set_mode(d, "learn")
            n = 12
            with concurrent.futures.ThreadPoolExecutor(6) as ex:
                res = list(ex.map(
                    lambda _: raw_request(d, "GET", "/shop/counter"),
                    range(n)))
            self.assertTrue(all(r[0] == 200 for r in res), res)
            recs = self.recorded(d)
            self.assertEqual(len(recs), 1, recs)
            got = sorted(json.loads(r["payload"])["n"] if isinstance(
                r["payload"], str) else r["payload"]["n"]
                for r in recs[0]["oneOf"]["responses"])
            self.assertEqual(got, list(range(1, n + 1)))
            self.set_mode(d, "mock")
            order = [r["payload"]["n"] for r in recs[0]["oneOf"]["responses"]]
            replay = [json.loads(raw_request(d, "GET", "/shop/counter")[2])["n"]
                      for _ in range(n + 2)]
            # in the recorded order, then from the start again
            self.assertEqual(replay, order + order[:2])


class ModeTest(EdgeBase):
    def test_mode_switch_while_in_flight(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, timeoutMs=20000)
            self.set_mode(d, "learn")
            with concurrent.futures.ThreadPoolExecutor(1) as ex:
                slow = ex.submit(raw_request, d, "GET", "/shop/slow")
                deadline = time.time() + 10
                while self.up.last("/slow") is None and time.time() < deadline:
                    time.sleep(0.02)
                self.set_mode(d, "mock")
                self.up.release.set()
                st, _, body = slow.result(20)
            # decided when it arrived: forwarded and recorded
            self.assertEqual(st, 200, body)
            st, hs, body = raw_request(d, "GET", "/shop/slow")
            self.assertEqual((st, json.loads(body)), (200, {"slow": True}))
            self.assertIn("X-Doppel-Mock-Id", dict(hs))

    def test_deleting_a_service_keeps_its_recordings(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, _, live = raw_request(d, "GET", "/shop/counter")
            self.assertEqual(st, 200)
            r = d.request("DELETE", "/api/v1/services/shop")
            self.assertIn(r.status, (200, 204), r)
            self.assertEqual(len(self.recorded(d)), 1)
            # an ordinary mock now, outside every service
            st, _, got = raw_request(d, "GET", "/shop/counter")
            self.assertEqual((st, json.loads(got)), (200, json.loads(live)))
            self.assertEqual(len(self.up.seen), 1)

    def test_same_prefix_in_two_namespaces(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            r = d.post("/api/v1/services?namespace=team2",
                       {"name": "shop", "target": self.up.url() + "/team2",
                        "pathPrefix": "/shop", "mode": "PASSTHROUGH"})
            self.assertEqual(r.status, 201, r)
            self.set_mode(d, "mock")
            st, hs, _ = raw_request(d, "GET", "/shop/x")
            self.assertEqual((st, dict(hs).get("X-Doppel-Miss")), (404, "true"))
            st, _, body = raw_request(d, "GET", "/stubs/team2/shop/x")
            self.assertEqual(st, 200, body)
            self.assertEqual(json.loads(body)["path"], "/team2/x")

    def test_root_prefix_user_mocks_win(self):
        with Doppel(env=ALLOW) as d:
            self.service(d, prefix="/")
            r = d.post("/api/v1/mocks", {
                "http": {"route": "/mine", "httpMethod": "GET"},
                "response": {"statusCode": 200, "payload": {"mine": True}}})
            self.assertEqual(r.status, 201, r)
            for mode in ("spy", "mock"):
                self.set_mode(d, mode)
                st, _, body = raw_request(d, "GET", "/mine")
                self.assertEqual((st, json.loads(body)), (200, {"mine": True}))
            self.set_mode(d, "spy")
            st, _, body = raw_request(d, "GET", "/other")
            self.assertEqual((st, json.loads(body)["path"]), (200, "/other"))
            # the admin API is never forwarded
            self.assertEqual(d.get("/api/v1/mode").status, 200)

    def test_proxy_mock_under_a_service_keeps_its_path(self):
        # a user's proxy mock inside a service's prefix forwards to its own
        # target with the request's path, in SPY and MOCK alike
        with Doppel(env=ALLOW) as d:
            self.service(d, prefix="/shop", target="http://127.0.0.1:9")
            r = d.post("/api/v1/mocks", {
                "http": {"route": "/shop/p/:id", "httpMethod": "GET"},
                "proxy": {"target": self.up.url() + "/base"}})
            self.assertEqual(r.status, 201, r)
            for mode in ("spy", "mock"):
                self.set_mode(d, mode)
                st, _, body = raw_request(d, "GET", "/shop/p/7?x=1")
                self.assertEqual(st, 200, body)
                self.assertEqual(json.loads(body)["path"],
                                 "/base/shop/p/7?x=1", mode)


class RedactionTest(EdgeBase):
    SECRETS = ("SECRET-AUTH-lower", "SECRET-AUTH-UPPER", "SECRET-SC-ONE",
               "SECRET-SC-TWO")

    def test_case_variants_cookies_and_query_credentials(self):
        env = dict(ALLOW, DOPPEL_LOG_LEVEL="debug")
        with Doppel(env=env) as d:
            self.service(d)
            self.set_mode(d, "learn")
            st, hs, _ = raw_request(d, "GET", "/shop/cookies", headers=[
                ("authorization", "Bearer SECRET-AUTH-lower")])
            self.assertEqual(st, 200)
            # both cookies still reach the client
            cookies = [v for k, v in hs if k.lower() == "set-cookie"]
            self.assertEqual(cookies, ["a=SECRET-SC-ONE", "b=SECRET-SC-TWO"])
            st, _, _ = raw_request(
                d, "GET", "/shop/counter?x=1",
                headers=[("AUTHORIZATION", "Bearer SECRET-AUTH-UPPER")])
            self.assertEqual(st, 200)
            # the upstream got it
            seen = self.up.last("/counter")
            self.assertEqual(dict(seen["headers"])["authorization"],
                             "Bearer SECRET-AUTH-UPPER")
            # a failed forward is logged at DEBUG (the outbound client)
            st, _, _ = raw_request(d, "GET", "/shop/cut", headers=[
                ("Authorization", "Bearer SECRET-AUTH-lower")])
            self.assertEqual(st, 502)
            rec = self.recording_for(d, "/shop/cookies")
            self.assertEqual(rec["response"]["headers"]["Set-Cookie"],
                             ["[REDACTED]", "[REDACTED]"])
            stored = json.dumps(self.recorded(d))
            journal = d.get("/api/v1/requests?limit=100").body.decode()
            for s in self.SECRETS:
                self.assertNotIn(s, stored, s)
                self.assertNotIn(s, journal, s)
            self.assertIn("[REDACTED]", journal)
            d.stop()
            log = d.log()
            self.assertIn(" DEBUG ", log)
            for s in self.SECRETS:
                self.assertNotIn(s, log, s)
            for f in os.listdir(d.data):
                p = os.path.join(d.data, f)
                if os.path.isfile(p):
                    with open(p, "rb") as fh:
                        data = fh.read()
                    for s in self.SECRETS:
                        self.assertNotIn(s.encode(), data, (f, s))


class CoverageTest(EdgeBase):
    def test_bounded_misses_and_coverage_after_delete(self):
        with Doppel(env=ALLOW) as d:
            self.service(d)
            self.set_mode(d, "learn")
            self.assertEqual(raw_request(d, "GET", "/shop/counter")[0], 200)
            self.set_mode(d, "mock")
            for i in range(1100):
                c = http.client.HTTPConnection(d.host, d.port, timeout=10)
                c.request("GET", "/shop/miss/%d" % i)
                self.assertEqual(c.getresponse().status, 404)
                c.close()
            cov = d.get("/api/v1/coverage?service=shop").json()
            svc = cov["services"][0]
            self.assertEqual(len(svc["misses"]), 1000)
            paths = {m["path"] for m in svc["misses"]}
            self.assertIn("/shop/miss/1099", paths)
            self.assertEqual(svc["recordedMocks"], 1)
            rid = self.recorded(d)[0]["id"]
            r = d.request("DELETE", "/api/v1/mocks/" + rid)
            self.assertIn(r.status, (200, 204), r)
            cov = d.get("/api/v1/coverage?service=shop").json()
            svc = cov["services"][0]
            self.assertEqual((svc["recordedMocks"], svc["endpoints"]), (0, []))


if __name__ == "__main__":
    harness.main()
