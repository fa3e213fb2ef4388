"""Client-streaming and bidirectional gRPC mocks driven by grpc-js
(tests/node/grpc/call.mjs).

Client streams are matched when the client half-closes, against the
document {"messages": [...], "count": N, "first": m1, "last": mN}.
Bidirectional calls: each client message is matched in the call's
session; a mock with streamEvent "open" pushes messages when the call
starts, one with "close" ends the call at half-close; an unmatched
message is ignored (recorded as a miss) and the call goes on; state
(extract into the session store, sStore / $.sS) carries across the
messages of one call and no further; the chain store spans calls.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc_client as g  # noqa: E402
from grpc_client import grpc_mock  # noqa: E402


def eq(path, value):
    return {"path": path, "assertAction": "equals", "value": value}


def item(order_id, sku, qty=1, units="1"):
    return {"orderId": order_id, "item": {"sku": sku, "quantity": qty,
                                          "price": {"units": units}}}


def chat(text, sid="s-1", seq=0, delay=0):
    m = {"sessionId": sid, "text": text, "seq": seq}
    return {"message": m, "delayMs": delay} if delay else m


class ClientStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        cls.addr = cls.d.grpc_address

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def mock(self, method, response=None, **grpc):
        return self.d.mock(grpc_mock(method, response, **grpc)).json()

    def test_count_and_message_paths(self):
        self.mock("UploadItems", {"payload": {
            "orderId": "$.req.first.orderId", "itemCount": 2, "total": 7}},
            conditions=[eq("count", 2), eq("messages[0].item.sku", "a"),
                        eq("last.item.sku", "b")])
        self.mock("UploadItems", {"payload": {
            "orderId": "three:$.req.last.orderId", "itemCount": 3}},
            conditions=[eq("count", 3)])
        self.mock("UploadItems", {"payload": {"orderId": "snake"}},
                  conditions=[eq("$.body.messages[1].order_id", "snake-2"),
                              eq("count", 2)])
        rs = g.calls([
            g.job(self.addr, "UploadItems",
                  messages=[item("cs-1", "a"), {"message": item("cs-1", "b"),
                                                "delayMs": 30}]),
            g.job(self.addr, "UploadItems",
                  messages=[item("x", "a"), item("y", "q"), item("cs-3", "z")]),
            g.job(self.addr, "UploadItems",
                  messages=[item("snake-1", "q"), item("snake-2", "r")]),
            g.job(self.addr, "UploadItems",
                  messages=[item("one", "q")])])
        self.assertEqual(rs[0]["kind"], "client-stream")
        self.assertEqual(rs[0]["status"]["code"], g.OK, rs[0])
        self.assertEqual(rs[0]["messages"],
                         [{"orderId": "cs-1", "itemCount": 2, "total": 7}])
        self.assertEqual(rs[1]["messages"],
                         [{"orderId": "three:cs-3", "itemCount": 3}], rs[1])
        self.assertEqual(rs[2]["messages"], [{"orderId": "snake"}], rs[2])
        # one message: no mock for count 1
        self.assertEqual(rs[3]["status"]["code"], g.NOT_FOUND, rs[3])

    def test_dot_index_spelling(self):
        # grpc-format.md writes the index as a path segment ("messages.0.item");
        # it must mean the same as messages[0].item.
        self.mock("UploadItems", {"payload": {"orderId": "dot"}},
                  conditions=[eq("messages.0.item.sku", "dot-a"),
                              eq("$.body.messages.1.order_id", "dot-2")])
        r = g.call(self.addr, "UploadItems",
                   messages=[item("dot-1", "dot-a"), item("dot-2", "x")])
        self.assertEqual(r["messages"], [{"orderId": "dot"}], r)

    def test_empty_client_stream_and_error_answer(self):
        self.mock("UploadItems", {"statusCode": 3, "error": "no items",
                                  "errorDetails": [{"type": "badRequest",
                                                    "details": {"fieldViolations": [
                                                        {"field": "item",
                                                         "description": "empty"}]}}]},
                  conditions=[eq("count", 0)])
        r = g.call(self.addr, "UploadItems", messages=[])
        self.assertEqual(r["status"]["code"], g.INVALID_ARGUMENT, r)
        self.assertEqual(r["status"]["details"], "no items")
        self.assertEqual(r["errorDetails"]["details"][0]["kind"], "badRequest", r)
        self.assertEqual(r["messages"], [])

    def test_answer_only_after_half_close(self):
        # The client never half-closes and cancels: no answer was sent
        # before (the mock matches any count).
        self.mock("UploadItems", {"payload": {"orderId": "closed"}},
                  conditions=[eq("first.orderId", "hc-1")])
        r = g.call(self.addr, "UploadItems", messages=[item("hc-1", "a")],
                   halfClose=False, cancelAfterMs=500)
        self.assertEqual(r["status"]["code"], g.CANCELLED, r)
        self.assertEqual(r["messages"], [], r)
        r = g.call(self.addr, "UploadItems", messages=[item("hc-1", "a")])
        self.assertEqual(r["messages"], [{"orderId": "closed"}], r)


class Bidirectional(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g.require_node(cls)
        cls.d = g.GrpcDoppel()
        cls.addr = cls.d.grpc_address

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def mock(self, response=None, ns="sandbox", **grpc):
        grpc.setdefault("service", g.ORDER_SVC)
        body = grpc_mock("Chat", response, ns=ns, **grpc)
        return self.d.mock(body).json()

    def texts(self, r):
        return [m.get("text") for m in r["messages"]]

    def test_each_message_gets_its_replies(self):
        self.mock({"streamResponses": [
            {"payload": {"text": "hello $.req.sessionId", "seq": 1}},
            {"payload": {"text": "how can I help?", "seq": 2}, "delay": 20}]},
            conditions=[eq("text", "hi")])
        self.mock({"streamResponses": [{"payload": {"text": "ok"}}]},
                  conditions=[eq("text", "order")])
        self.mock({"streamResponses": []}, conditions=[eq("text", "silent")])
        r = g.call(self.addr, "Chat", messages=[
            chat("hi", sid="b-1"), chat("silent", delay=50),
            chat("order", delay=50)])
        self.assertEqual(r["kind"], "bidirectional")
        self.assertEqual(r["status"]["code"], g.OK, r)  # no close mock: OK
        texts = self.texts(r)
        # one mock's messages keep their order; "silent" adds none
        self.assertEqual(sorted(texts),
                         sorted(["hello b-1", "how can I help?", "ok"]), r)
        self.assertLess(texts.index("hello b-1"),
                        texts.index("how can I help?"), r)

    def test_unmatched_message_is_ignored_and_recorded(self):
        self.mock({"streamResponses": [{"payload": {"text": "pong"}}]},
                  conditions=[eq("text", "ping")])
        r = g.call(self.addr, "Chat", messages=[
            chat("nobody-knows-this", sid="miss-1"), chat("ping", delay=50)])
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(self.texts(r), ["pong"], r)
        entries = g.list_entries(self.d, "/api/v1/unmatched", "sandbox")
        hits = [e for e in entries if e.get("protocol") == "grpc"
                and "nobody-knows-this" in str(e.get("body"))]
        self.assertTrue(hits, entries)

    def test_open_push_and_close_status(self):
        self.d.post("/api/v1/namespaces", {"name": "grpcopen"})
        md = {"x-doppel-namespace": "grpcopen"}
        self.mock({"streamResponses": [{"payload": {"text": "welcome"}},
                                       {"payload": {"text": "rules"}}]},
                  ns="grpcopen", streamEvent="open")
        self.mock({"streamResponses": [{"payload": {"text": "echo"}}]},
                  ns="grpcopen", streamEvent="message",
                  conditions=[eq("text", "x")])
        self.mock({"streamResponses": [{"payload": {"text": "goodbye"}}],
                   "statusCode": 10, "error": "session over",
                   "trailers": {"x-end": "1"}},
                  ns="grpcopen", streamEvent="close")
        # the client sends nothing for a while: the push comes unprompted
        r = g.call(self.addr, "Chat", metadata=md,
                   messages=[chat("x", delay=300)])
        self.assertEqual(self.texts(r), ["welcome", "rules", "echo", "goodbye"], r)
        self.assertEqual(r["status"]["code"], g.ABORTED, r)
        self.assertEqual(r["status"]["details"], "session over")
        self.assertEqual(r["trailers"].get("x-end"), "1", r)
        # no message at all: open push then the close mock
        r = g.call(self.addr, "Chat", metadata=md, messages=[])
        self.assertEqual(self.texts(r), ["welcome", "rules", "goodbye"], r)

    def test_open_mock_with_meta_condition(self):
        self.d.post("/api/v1/namespaces", {"name": "grpcopen2"})
        self.mock({"streamResponses": [{"payload": {"text": "hi vip"}}]},
                  ns="grpcopen2", streamEvent="open",
                  meta=[eq("x-tier", "vip")])
        rs = g.calls([
            g.job(self.addr, "Chat", messages=[chat("?", delay=200)],
                  metadata={"x-doppel-namespace": "grpcopen2", "x-tier": "vip"}),
            g.job(self.addr, "Chat", messages=[chat("?", delay=200)],
                  metadata={"x-doppel-namespace": "grpcopen2", "x-tier": "std"})])
        self.assertEqual(self.texts(rs[0]), ["hi vip"], rs[0])
        self.assertEqual(self.texts(rs[1]), [], rs[1])
        self.assertEqual(rs[1]["status"]["code"], g.OK, rs[1])

    def state_mocks(self, ns, store, read, chain=None):
        self.d.post("/api/v1/namespaces", {"name": ns})
        top = {"chainId": chain} if chain else {}
        self.mock({"streamResponses": [{"payload": {"text": "welcome"}}]},
                  ns=ns, conditions=[eq("text", "login")],
                  extract={store: {"user": "$.req.sessionId"}}, **top)
        self.mock({"streamResponses": [{"payload": {"text": "user=%s." % read}}]},
                  ns=ns, conditions=[eq("text", "whoami")], **top)
        return {"x-doppel-namespace": ns}

    def test_state_across_messages_of_one_call(self):
        # the session store (sStore, $.sS): state of one call
        md = self.state_mocks("grpcstate", "sStore", "$.sS.user")
        rs = g.calls([
            g.job(self.addr, "Chat", metadata=md, messages=[
                chat("login", sid="ann"), chat("whoami", sid="x", delay=50)]),
            g.job(self.addr, "Chat", metadata=md, messages=[
                chat("login", sid="bob"), chat("whoami", sid="y", delay=50)])])
        self.assertEqual(self.texts(rs[0]), ["welcome", "user=ann."], rs[0])
        self.assertEqual(self.texts(rs[1]), ["welcome", "user=bob."], rs[1])

    def test_session_store_is_per_call(self):
        # a later call that never logged in does not see another call's user
        md = self.state_mocks("grpcstate2", "sStore", "$.sS.user")
        rs = g.calls([
            g.job(self.addr, "Chat", metadata=md, messages=[
                chat("login", sid="carol"), chat("whoami", delay=50)]),
            g.job(self.addr, "Chat", metadata=md, messages=[chat("whoami")])])
        self.assertEqual(self.texts(rs[0]), ["welcome", "user=carol."], rs[0])
        self.assertEqual(self.texts(rs[1]), ["user=."], rs[1])

    def test_chain_store_spans_calls(self):
        # the chain store is the namespace's, per chainId, as for HTTP: a
        # later call sees what an earlier one stored
        md = self.state_mocks("grpcstate3", "cStore", "$.cS.user", chain="c3")
        rs = g.calls([
            g.job(self.addr, "Chat", metadata=md, messages=[
                chat("login", sid="dave"), chat("whoami", delay=50)]),
            g.job(self.addr, "Chat", metadata=md, messages=[chat("whoami")])])
        self.assertEqual(self.texts(rs[0]), ["welcome", "user=dave."], rs[0])
        self.assertEqual(self.texts(rs[1]), ["user=dave."], rs[1])

    def test_cancel_mid_call_stops_replies(self):
        self.mock({"streamResponses": [
            {"payload": {"text": "r%d" % i}, "delay": 100} for i in range(30)]},
            conditions=[eq("text", "flood")])
        r = g.call(self.addr, "Chat", messages=[chat("flood")],
                   halfClose=False, cancelAfterMs=400)
        self.assertEqual(r["status"]["code"], g.CANCELLED, r)
        self.assertLess(len(r["messages"]), 30, r)
        self.assertGreaterEqual(len(r["messages"]), 1, r)
        self.mock({"streamResponses": [{"payload": {"text": "still here"}}]},
                  conditions=[eq("text", "after-cancel")])
        r = g.call(self.addr, "Chat", messages=[chat("after-cancel")])
        self.assertEqual(r["status"]["code"], g.OK, r)
        self.assertEqual(self.texts(r), ["still here"], r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
