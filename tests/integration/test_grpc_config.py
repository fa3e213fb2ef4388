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
    d.mock(grpc_mock("GetOrder", {"payload": payload or {"orderId": order_id}},
                     conditions=[eq("orderId", order_id)]))


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
            answer_mock(d, "big-answer", {"orderId": "big-answer",
                                          "customerId": "y" * 4096})
            rs = g.calls([
                g.job(d.grpc_address, "GetOrder",
                      request={"orderId": "x" * 2048}),
                g.job(d.grpc_address, "GetOrder",
                      request={"orderId": "big-answer"}),
                g.job(d.grpc_address, "GetOrder", request={"orderId": "1"})])
            self.assertEqual(rs[0]["status"]["code"], g.RESOURCE_EXHAUSTED, rs[0])
            # an answer over the limit is not sent either
            self.assertIn(rs[1]["status"]["code"],
                          (g.RESOURCE_EXHAUSTED, g.INTERNAL), rs[1])
            self.assertEqual(rs[1]["messages"], [], rs[1])
            self.assertEqual(rs[2]["status"]["code"], g.OK, rs[2])

    def test_reflection_and_health_off(self):
        with g.GrpcDoppel({"reflection": "false", "health": "false"}) as d:
            r = g.health(d.grpc_address)
            self.assertEqual(r["status"]["code"], g.UNIMPLEMENTED, r)
            r = g.reflection(d.grpc_address, [{"op": "listServices"}])
            self.assertIn("error", r["results"][0], r)
            self.assertIn("12", r["results"][0]["error"], r)  # UNIMPLEMENTED

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
            answer_mock(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
