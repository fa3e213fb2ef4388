"""The [grpc] section of plugins.conf: listen = off (main port only),
main_port = false (own port only), a small max_message_size (requests and
answers over it are RESOURCE_EXHAUSTED), reflection and health switched
off (UNIMPLEMENTED), several proto_path directories, and a broken .proto
in proto_path (named with file:line:column, never a crash).
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
import harness  # noqa: E402
from grpc_client import grpc_mock  # noqa: E402


def eq(path, value):
    return {"path": path, "assertAction": "equals", "value": value}


def answer_mock(d, order_id="1", payload=None):
    r = d.post("/api/v1/mocks", grpc_mock(
        "GetOrder", {"payload": payload or {"orderId": order_id}},
        conditions=[eq("orderId", order_id)]))
    if r.status not in (200, 201):
        raise AssertionError("mock refused: %r" % r)


class Config(unittest.TestCase):
    def setUp(self):
        g.require_node(self)

    def test_listen_off_serves_on_the_main_port_only(self):
        with g.GrpcDoppel({"listen": "off"}) as d:
            self.assertNotRegex(d.log(), g.GRPC_LISTEN_RE)
            answer_mock(d)
            r = g.call(d.main_address, "GetOrder", request={"orderId": "1"})
            self.assertEqual(r["status"]["code"], g.OK, r)
            self.assertEqual(r["messages"], [{"orderId": "1"}], r)

    def test_main_port_off_leaves_http1_alone(self):
        with g.GrpcDoppel({"main_port": "false"}) as d:
            answer_mock(d)
            r = g.call(d.grpc_address, "GetOrder", request={"orderId": "1"})
            self.assertEqual(r["status"]["code"], g.OK, r)
            r = g.call(d.main_address, "GetOrder", request={"orderId": "1"},
                       deadlineMs=3000)
            self.assertNotEqual(r["status"]["code"], g.OK, r)
            self.assertEqual(d.get("/health/ready").status, 200)

    def test_small_max_message_size(self):
        with g.GrpcDoppel({"max_message_size": "1k"}) as d:
            answer_mock(d)
            rs = g.calls([
                g.job(d.grpc_address, "GetOrder",
                      request={"orderId": "x" * 2048}),
                g.job(d.grpc_address, "GetOrder", request={"orderId": "1"})])
            self.assertEqual(rs[0]["status"]["code"], g.RESOURCE_EXHAUSTED, rs[0])
            self.assertEqual(rs[1]["status"]["code"], g.OK, rs[1])

    def test_reflection_and_health_off(self):
        # Not answered by the plugin itself: the methods are then like any
        # other (UNIMPLEMENTED if unknown, NOT_FOUND while no mock answers).
        with g.GrpcDoppel({"reflection": "false", "health": "false"}) as d:
            r = g.health(d.grpc_address)
            self.assertEqual(r["statuses"], [], r)
            self.assertIn(r["status"]["code"], (g.UNIMPLEMENTED, g.NOT_FOUND), r)
            r = g.reflection(d.grpc_address, [{"op": "listServices"}])
            self.assertIn("error", r["results"][0], r)
            self.assertRegex(r["results"][0]["error"], r"\b(12|5)\b", r)

    def test_several_proto_path_directories(self):
        extra = tempfile.mkdtemp(prefix="doppel-grpc-protos-")
        self.addCleanup(shutil.rmtree, extra)
        with open(os.path.join(extra, "ping.proto"), "w") as f:
            f.write('syntax = "proto3";\npackage ping.v1;\n'
                    'import "shop/order/v1/order.proto";\n'
                    'message PingRequest { string id = 1; }\n'
                    'service PingService {\n'
                    '  rpc Ping(PingRequest) returns (shop.order.v1.Order);\n}\n')
        with g.GrpcDoppel({"proto_path": g.PROTO_DIR + ":" + extra}) as d:
            d.mock(grpc_mock("Ping", {"payload": {"orderId": "$.req.id"}},
                             service="ping.v1.PingService"))
            r = g.call(d.grpc_address, "Ping", service="ping.v1.PingService",
                       proto="ping.proto", includeDirs=[extra, g.PROTO_DIR],
                       request={"id": "p-1"})
            self.assertEqual(r["status"]["code"], g.OK, r)
            self.assertEqual(r["messages"], [{"orderId": "p-1"}], r)

    def test_broken_proto_in_proto_path(self):
        # Either doppel refuses to start, naming the file, line and column,
        # or it starts, logs that and serves the files that do parse. It
        # never crashes.
        g.require_plugin()
        bad = tempfile.mkdtemp(prefix="doppel-grpc-bad-")
        self.addCleanup(shutil.rmtree, bad)
        with open(os.path.join(bad, "bad.proto"), "w") as f:
            f.write('syntax = "proto3";\npackage bad.v1;\n'
                    'message B {\n  string a = 1\n  int32 b = 2;\n}\n')
        cfg = g.grpc_config({"proto_path": g.PROTO_DIR + ":" + bad})
        d = harness.Doppel(config=cfg, start=False)
        try:
            d.start()
        except AssertionError:
            d.proc.wait(timeout=10)
            self.assertGreater(d.proc.returncode, 0, d.log())
            self.assertRegex(d.log(), r"bad\.proto:[45]:\d+")
            d.assert_clean_log()
            return
        with d:
            self.assertRegex(d.log(), r"bad\.proto:[45]:\d+")
            # ready means serving: the files that parse are usable
            answer_mock(d)
            r = g.call("127.0.0.1:%d" % d.port, "GetOrder",
                       request={"orderId": "1"})
            self.assertEqual(r["status"]["code"], g.OK, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
