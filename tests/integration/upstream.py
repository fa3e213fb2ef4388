"""Helpers shared by the tests that need a real upstream (record/replay and
proxy mocks): a threaded HTTP server on loopback that the test starts and
stops itself, and the admin calls that set up record/replay."""

import http.server
import threading


def serve(handler, wrap=None, quiet=False):
    """Serves handler (a BaseHTTPRequestHandler class) on 127.0.0.1:0 from a
    daemon thread; returns the ThreadingHTTPServer (its port:
    server.server_address[1]). wrap: a function given the listening socket
    that returns the one to use (TLS). quiet: no traceback for a connection
    the handler drops on purpose. Stop it with stop()."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if quiet:
        server.daemon_threads = True
        server.handle_error = lambda request, address: None
    if wrap is not None:
        server.socket = wrap(server.socket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server):
    server.shutdown()
    server.server_close()


class RecordReplayCalls:
    """Admin calls of the record/replay tests (a unittest.TestCase mixin;
    self.up is the test's upstream)."""

    def service(self, d, name="shop", prefix="/shop", target=None, **kw):
        body = {"name": name, "target": target or self.up.url(),
                "pathPrefix": prefix}
        body.update(kw)
        r = d.post("/api/v1/services", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def set_mode(self, d, mode, status=200):
        r = d.request("PUT", "/api/v1/mode", {"mode": mode})
        self.assertEqual(r.status, status, r)
        return r.json()

    def recorded(self, d):
        r = d.get("/api/v1/mocks?tags=recorded&limit=1000")
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]
