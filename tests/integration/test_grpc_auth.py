"""gRPC calls into a namespace with requireToken: the token travels as
metadata (authorization: Bearer ..., or x-api-key), a call without one is
UNAUTHENTICATED and is not answered by the mock, with one it is served."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
import harness  # noqa: E402

NS = "grpclock"


class GrpcTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        r = cls.d.post("/api/v1/namespaces", {"name": NS})
        assert r.status in (200, 201), r
        r = cls.d.request("PATCH", "/api/v1/namespaces/" + NS,
                          {"requireToken": True})
        assert r.status == 200, r
        cls.d.mock(g.grpc_mock("GetOrder", {"payload": {"orderId": "locked"}},
                               ns=NS))

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def call(self, **md):
        md["x-doppel-namespace"] = NS
        return g.call(self.d.grpc_address, "GetOrder",
                      request={"orderId": "1"}, metadata=md)

    def test_without_a_token_unauthenticated(self):
        r = self.call()
        self.assertEqual(r["status"]["code"], g.UNAUTHENTICATED, r)
        self.assertEqual(r["messages"], [], r)

    def test_a_wrong_token_unauthenticated(self):
        r = self.call(authorization="Bearer mk_" + "x" * 40)
        self.assertEqual(r["status"]["code"], g.UNAUTHENTICATED, r)

    def test_bearer_and_api_key_served(self):
        tok = harness.ADMIN_TOKEN
        r = self.call(authorization="Bearer " + tok)
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(r["messages"], [{"orderId": "locked"}], r)
        r = self.call(**{"x-api-key": tok})
        self.assertEqual(r["status"]["code"], g.OK, r)

    def test_sandbox_needs_no_token(self):
        self.d.mock(g.grpc_mock("GetOrder", {"payload": {"orderId": "open"}}))
        r = g.call(self.d.grpc_address, "GetOrder", request={"orderId": "1"})
        self.assertEqual(r["status"]["code"], g.OK, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
