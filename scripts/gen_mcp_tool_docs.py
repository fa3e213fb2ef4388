#!/usr/bin/env python3
"""Generates the "## Tools" section of docs/mcp.md from a live server's
tools/list, so that the page shows exactly what agents get.

    scripts/gen_mcp_tool_docs.py --url http://127.0.0.1:5772/mcp \\
        --token mk_... [--write docs/mcp.md]

Without --write it prints the section. tests/integration/test_mcp_docs.py
imports render() and fails when docs/mcp.md differs from it.
"""

import argparse
import json
import sys
import urllib.request

PROTOCOL_VERSION = "2025-06-18"
SECTION = "## Tools"

INTRO = """\
Every tool runs with the rights of the token the MCP client connected with
and goes through the admin REST API's own code path (authorisation,
validation, audit log); `http_request` goes through the outbound client and
its address guard instead. Results are `CallToolResult`s: `content` holds
the API's JSON as text, `structuredContent` the same as an object (lists
wrapped as `{"items": [...]}`), and a failure is `isError: true` with the
API's message, its `field`, and a hint. Arguments that do not fit a tool's
`inputSchema` are refused with JSON-RPC error `-32602`.

The namespace of a call is, in this order: the tool's `namespace` argument
(for `create_mock` and `validate_mock` also the mock's own `namespace`
field), the session's `X-Doppel-Namespace` header, the namespace the token
is pinned to, the first namespace the token's user is a member of. The API
still checks the token's role there.

This section is generated from `tools/list` by
`scripts/gen_mcp_tool_docs.py`; `tests/integration/test_mcp_docs.py` fails
when it differs from what the server returns.
"""


class Rpc:
    """A minimal Streamable HTTP client: JSON or SSE answers."""

    def __init__(self, url, token, timeout=10):
        self.url = url
        self.token = token
        self.timeout = timeout
        self.session = None
        self.next_id = 1

    def post(self, msg):
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream",
                   "X-API-Key": self.token,
                   "MCP-Protocol-Version": PROTOCOL_VERSION}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        req = urllib.request.Request(self.url, json.dumps(msg).encode(),
                                     headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            sid = r.headers.get("Mcp-Session-Id")
            if sid:
                self.session = sid
            body = r.read().decode("utf-8")
            ctype = r.headers.get("Content-Type", "")
        if "id" not in msg:
            return None
        if ctype.startswith("text/event-stream"):
            for block in body.split("\n\n"):
                data = "\n".join(line[5:].lstrip() for line in
                                 block.splitlines()
                                 if line.startswith("data:"))
                if data:
                    m = json.loads(data)
                    if m.get("id") == msg["id"]:
                        return m
            raise RuntimeError("no answer in the event stream")
        return json.loads(body)

    def call(self, method, params=None):
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            msg["params"] = params
        ans = self.post(msg)
        if "error" in ans:
            raise RuntimeError("%s: %s" % (method, ans["error"]))
        return ans["result"]

    def initialize(self):
        self.call("initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "gen_mcp_tool_docs", "version": "1"}})
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})


def list_tools(url, token):
    rpc = Rpc(url, token)
    rpc.initialize()
    tools, cursor = [], None
    while True:
        res = rpc.call("tools/list", {"cursor": cursor} if cursor else {})
        tools += res["tools"]
        cursor = res.get("nextCursor")
        if not cursor:
            return tools


def hints(t):
    a = t.get("annotations", {})
    words = []
    words.append("read-only" if a.get("readOnlyHint") else "writes")
    if a.get("destructiveHint"):
        words.append("destructive")
    if a.get("idempotentHint"):
        words.append("idempotent")
    if a.get("openWorldHint"):
        words.append("open world")
    return ", ".join(words)


def render(tools):
    """The whole section, from its heading to the end of the text."""
    out = [SECTION, "", INTRO]
    out.append("| tool | title | annotations |")
    out.append("|---|---|---|")
    for t in tools:
        out.append("| [`%s`](#%s) | %s | %s |" % (
            t["name"], t["name"], t.get("title", ""), hints(t)))
    out.append("")
    for t in tools:
        out.append("### %s" % t["name"])
        out.append("")
        out.append("**%s.** %s" % (t.get("title", t["name"]),
                                   t["description"]))
        out.append("")
        out.append("Annotations: `%s`." % json.dumps(t.get("annotations", {}),
                                                    sort_keys=True))
        out.append("")
        out.append("```json")
        out.append(json.dumps(t["inputSchema"], indent=2, sort_keys=True))
        out.append("```")
        out.append("")
    return "\n".join(out)


def split_doc(text):
    """(before, section, after): the section runs from "## Tools" to the
    next level-2 heading or the end."""
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        raise ValueError("docs/mcp.md has no '%s' section" % SECTION)
    start += 1
    nxt = text.find("\n## ", start + len(SECTION))
    end = len(text) if nxt < 0 else nxt + 1
    return text[:start], text[start:end], text[end:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="the /mcp endpoint")
    ap.add_argument("--token", required=True, help="a user token (mk_...)")
    ap.add_argument("--write", metavar="FILE",
                    help="replace the section in FILE (docs/mcp.md)")
    a = ap.parse_args()
    section = render(list_tools(a.url, a.token))
    if not a.write:
        sys.stdout.write(section)
        return 0
    with open(a.write) as f:
        text = f.read()
    try:
        before, _, after = split_doc(text)
    except ValueError:
        before, after = text.rstrip("\n") + "\n\n", ""
    if after:
        section += "\n"
    with open(a.write, "w") as f:
        f.write(before + section + after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
