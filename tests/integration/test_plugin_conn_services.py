"""ABI 1.2 services with a test plugin (tests/plugins/conn_probe.c): the
return codes of conn_listen, conn_listen_port, conn_claim, the timer and
watch services for bad and good calls, a refused connection, and the host's
cleanup of the timers, watches and connections a copy leaves behind."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PLUGIN = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                      "doppel_conn_probe.so")
EINVAL, EBUSY, EAGAIN, ENOENT, EEXIST = 22, 16, 11, 2, 17


def config(extra=""):
    return ("[http]\nenabled = true\n"
            "[probe]\npath = %s\nenabled = true\n%s" % (PLUGIN, extra))


def read_all(s):
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        out += b
    return out


class ConnServices(unittest.TestCase):
    def test_return_codes(self):
        with harness.Doppel(config=config(), workers=1) as d:
            r = d.get("/conn-probe")
            self.assertEqual(r.status, 200, r)
            js = r.json()
            want = {
                "listen_null_address": -EINVAL,
                "listen_bad_address": -EINVAL,
                "listen_no_accept": -EINVAL,
                "listen_null": -EINVAL,
                "listen": 0,
                "port_before_start": -EAGAIN,
                "port_no_such": -ENOENT,
                "claim_empty": -EINVAL,
                "claim_too_long": -EINVAL,
                "claim_null": -EINVAL,
                "claim": 0,
                "claim_shorter_overlap": -EEXIST,
                "claim_longer_overlap": -EEXIST,
                "claim_other": 0,
                "timer_no_fn": -EINVAL,
                "timer_no_out": -EINVAL,
                "watch_bad_fd": -EINVAL,
                "watch_bad_events": -EINVAL,
                "conn_start_null": -EINVAL,
                "conn_write_null": -EINVAL,
                "conn_pause_null": -EINVAL,
                "watch_update_null": -EINVAL,
                "listen_after_init": -EBUSY,
                "claim_after_init": -EBUSY,
                "port_positive": 0,
                "timer_repeat": 0,
                "timer_once": 0,
                "timer_stopped": 0,
                "watch": 0,
                "watch_again": -EEXIST,
                "watch_update": 0,
                "watch_update_bad": -EINVAL,
                "watch_update_off": 0,
            }
            for k, v in want.items():
                self.assertEqual(js.get(k), v, "%s: %r" % (k, js))
            self.assertEqual(js["now"], 1)
            # the logged port is the one conn_listen_port reported
            self.assertIn("listening on 127.0.0.1:%d (probe)" % js["port"],
                          d.log())
            deadline = time.time() + 5
            while not (js["fired_once"] and js["ticking"]):
                self.assertLess(time.time(), deadline, js)
                time.sleep(0.05)
                js = d.get("/conn-probe").json()
            # on_accept refuses: the host closes, the server goes on
            s = socket.create_connection(("127.0.0.1", js["port"]), timeout=5)
            self.assertEqual(read_all(s), b"")
            s.close()
            # a claimed connection refused the same way, on the main port
            s = socket.create_connection((d.host, d.port), timeout=5)
            s.sendall(b"PROBE and more")
            self.assertEqual(read_all(s), b"")
            s.close()
            self.assertEqual(d.get("/health").status, 200)
            self.assertEqual(d.stop(), 0)
            log = d.log()
            self.assertNotIn("timer_start in destroy returned", log)
            # the timers and the watch it left were closed by the host
            self.assertNotIn("left libuv handles open", log)

    def test_connection_left_open_through_stop(self):
        with harness.Doppel(config=config("hold = true\n"), workers=1) as d:
            s = socket.create_connection((d.host, d.port), timeout=10)
            s.sendall(b"PROBE\n")
            self.assertEqual(s.recv(64), b"held\n")
            t0 = time.time()
            self.assertEqual(d.stop(), 0)
            # the plugin never closed it: the host did, after destroy
            self.assertEqual(read_all(s), b"")
            s.close()
            self.assertLess(time.time() - t0, 30)
            self.assertNotIn("left libuv handles open", d.log())


if __name__ == "__main__":
    harness.main()
