"""docs/mcp.md's "## Tools" section is what tools/list returns: every tool,
with its inputSchema as a JSON block identical to the server's. Regenerate
the section with scripts/gen_mcp_tool_docs.py --write docs/mcp.md.
"""

import importlib.util
import json
import os
import re
import unittest

from harness import ADMIN_TOKEN, SOURCE_DIR, Doppel, main

CONFIG = """\
[http]
enabled = true
[mcp]
enabled = true
listen = off
"""


def load_generator():
    path = os.path.join(SOURCE_DIR, "scripts", "gen_mcp_tool_docs.py")
    spec = importlib.util.spec_from_file_location("gen_mcp_tool_docs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ToolDocs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.gen = load_generator()
        with open(os.path.join(SOURCE_DIR, "docs", "mcp.md")) as f:
            cls.doc = f.read()
        with Doppel(config=CONFIG) as d:
            cls.tools = cls.gen.list_tools(
                "http://%s:%d/mcp" % (d.host, d.port), ADMIN_TOKEN)

    def section(self):
        _, section, _ = self.gen.split_doc(self.doc)
        return section

    def test_every_tool_and_schema(self):
        section = self.section()
        # One "### name" per tool and a JSON block right under it.
        blocks = {}
        for m in re.finditer(r"^### (\S+)\n(.*?)```json\n(.*?)\n```", section,
                             re.S | re.M):
            blocks[m.group(1)] = json.loads(m.group(3))
        names = [t["name"] for t in self.tools]
        self.assertEqual(sorted(blocks), sorted(names),
                         "docs/mcp.md lists other tools than tools/list")
        for t in self.tools:
            self.assertEqual(blocks[t["name"]], t["inputSchema"],
                             "the schema of %s in docs/mcp.md differs from "
                             "tools/list" % t["name"])

    def test_section_is_generated(self):
        want = self.gen.render(self.tools)
        self.assertEqual(self.section().rstrip("\n"), want.rstrip("\n"),
                         "docs/mcp.md '## Tools' is stale: run "
                         "scripts/gen_mcp_tool_docs.py --url .../mcp --token "
                         "mk_... --write docs/mcp.md")

    def test_client_configurations(self):
        # The ready-to-paste configurations parse and name the endpoint.
        m = re.search(r"^## Client configurations\n(.*?)(?=^## )", self.doc,
                      re.S | re.M)
        self.assertIsNotNone(m, "no '## Client configurations' section")
        blocks = re.findall(r"```json\n(.*?)\n```", m.group(1), re.S)
        self.assertGreaterEqual(len(blocks), 2)
        for b in blocks:
            cfg = json.loads(b)
            self.assertIn("doppel", cfg.get("mcpServers", {}), b)
        self.assertIn("claude mcp add --transport http doppel", m.group(1))


if __name__ == "__main__":
    main()
