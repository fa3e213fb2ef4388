"""An AI agent mocking a GraphQL API through the MCP control server (the
official TypeScript SDK client, tests/node/mcp_agent.mjs): it uploads the
SDL with put_schema, reads the root fields with describe_protocol, stubs a
field with create_mock, is told precisely when it names a field the schema
lacks, and reads the query's journal entry back with get_requests."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphql_helpers as gh  # noqa: E402
import test_mcp_agent  # noqa: E402


class GraphqlAgent(test_mcp_agent.McpCase):
    @classmethod
    def setUpClass(cls):
        if not test_mcp_agent.node_ready():
            raise unittest.SkipTest("node or tests/node/node_modules missing")
        cls.d = gh.GqlDoppel()

    def test_agent_loop(self):
        put, bad, described = self.calls([
            ("put_schema", {"section": "graphql", "namespace": "agent",
                            "name": "graphql.graphql",
                            "content": gh.SHOP_SDL}),
            ("put_schema", {"section": "graphql", "namespace": "agent",
                            "name": "graphql.more.graphql",
                            "content": "extend type Query { oops: Nope }"}),
            ("describe_protocol", {"section": "graphql",
                                   "namespace": "agent"}),
        ])
        self.assertEqual(self.ok(put)["files"][0]["name"], "graphql.graphql")
        err = self.tool_error(bad)
        self.assertIn("graphql.more.graphql:1:", err)
        self.assertIn("Nope", err)
        d = self.ok(described)
        self.assertEqual(d["schemaKind"], "graphql")
        schema = d["defines"]["schemas"][0]
        self.assertEqual(schema["path"], "/graphql")
        fields = {f["name"]: f for f in schema["query"]["fields"]}
        self.assertEqual(fields["user"]["args"], [{"name": "id", "type": "ID!"}])
        self.assertNotIn("oops", fields)  # the refused file changed nothing

        created, refused = self.calls([
            ("create_mock", {"namespace": "agent", "mock": {
                "graphql": {"field": "user",
                            "conditions": [{"path": "id", "value": "a-1"}]},
                "response": {"payload": {"data": {"user": {
                    "id": "a-1", "name": "Agent Ann", "role": "ADMIN"}}}}}}),
            ("create_mock", {"namespace": "agent", "mock": {
                "graphql": {"field": "usr"},
                "response": {"payload": {"data": {"usr": {}}}}}}),
        ])
        mock_id = self.ok(created)["mock"]["id"]
        self.assertIn('Query has no field "usr"; did you mean "user" or '
                      '"users"?', self.tool_error(refused))

        r = self.d.gql('{ user(id: "a-1") { name } }',
                       path="/stubs/agent/graphql")
        self.assertEqual(r.json(), {"data": {"user": {"name": "Agent Ann"}}})
        got, = self.calls([("get_requests", {"namespace": "agent"})])
        items = self.ok(got)["items"]
        hit = [e for e in items if e.get("protocol") == "graphql"]
        self.assertEqual(len(hit), 1, items)
        self.assertEqual(hit[0]["mockId"], mock_id)
        self.assertEqual(hit[0]["method"], "query.user")


if __name__ == "__main__":
    unittest.main(verbosity=2)
