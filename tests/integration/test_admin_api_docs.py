"""Runs the curl examples of docs/admin-api.md against the real server, so
the API reference cannot drift from the code (as test_mock_format.py does
for docs/mock-format.md).

A runnable example is a ```sh block preceded by an HTML comment (invisible
when the Markdown is rendered):

    <!-- run
    setup: curl -s -X POST $B/mocks -d '{"id":"m1",...}'   hidden shell
                                 lines run first, in the same shell
    sub: /17/ /$U/               replace text in the commands (an id the
                                 setup learnt); repeatable
    status: 201 200 204          the status of each command, in order
    -->

or just `<!-- run -->`. Each curl command of the block (a line, with its
`\\` continuations and quoted strings spanning lines) runs in one bash
shell with the doc's own preamble: $B the server's /api/v1 URL, $TOKEN an
admin token, and the doc's `alias curl=...` line; `localhost:5770` and
`127.0.0.1:5770` are this server's address. What the doc shows after a
command is checked:

- a `# 204` comment: that status;
- a `# {...}` comment (on the line or the lines after it), or a ```json
  block right after the block for its last command: the top-level keys
  shown must be in the answer (an object); "..." in the shown JSON is
  left out, so only the keys are compared, never the values;
- otherwise the status must be 2xx, or 4xx when the shown answer has an
  "error" key.

Blocks run in the order of the page, against one server.
"""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DOC = os.path.join(harness.SOURCE_DIR, "docs", "admin-api.md")

BLOCK_RE = re.compile(
    r"^<!--[ \t]*run(?P<spec>(?:(?!-->).)*?)-->[ \t]*\n"
    r"```sh\n(?P<sh>.*?)```\n(?:[ \t]*\n)*(?:```json\n(?P<json>.*?)```)?",
    re.S | re.M)
ANY_SH_RE = re.compile(r"^```sh\n(.*?)```", re.S | re.M)


def parse_spec(text):
    spec = {"setup": [], "sub": [], "status": None}
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key == "setup":
            spec["setup"].append(val)
        elif key == "sub":
            old, new = val.split(None, 1)
            spec["sub"].append((old, new))
        elif key == "status":
            spec["status"] = [int(s) for s in val.split()]
        else:
            raise ValueError("unknown example key %r" % key)
    return spec


def scan(line, state):
    """Walks one line with the shell quoting state (None, "'" or '"');
    returns (new state, index of a comment '#' or -1)."""
    i = 0
    while i < len(line):
        ch = line[i]
        if state is None:
            if ch in "'\"":
                state = ch
            elif ch == "\\":
                i += 1
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                return state, i
        elif ch == state:
            state = None
        elif ch == "\\" and state == '"':
            i += 1
        i += 1
    return state, -1


def split_commands(sh):
    """[(command text, shown answer text)] of a block."""
    cmds = []
    cur, state, cont = None, None, False
    for line in sh.splitlines():
        if cur is None or (state is None and not cont):
            stripped = line.strip()
            if stripped.startswith("#"):
                if cmds:
                    cmds[-1][1].append(stripped[1:].strip())
                continue
            if not stripped:
                continue
            cur = []
            cmds.append([cur, []])
        state, hash_at = scan(line, state)
        if hash_at >= 0:
            cmds[-1][1].append(line[hash_at + 1:].strip())
            line = line[:hash_at].rstrip()
        cont = state is None and line.endswith("\\")
        cur.append(line)
        if state is None and not cont:
            cur = None
    return [("\n".join(c).rstrip(), " ".join(a).strip()) for c, a in cmds]


def top_keys(text):
    """The keys at the top level of a JSON object written with "..."
    elisions, or None when text is no object."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    keys, depth, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            s = text[i + 1:j]
            k = j + 1
            while k < len(text) and text[k] in " \t\n":
                k += 1
            if depth == 1 and k < len(text) and text[k] == ":":
                keys.append(s)
            i = j + 1
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        i += 1
    return keys


def expectation(shown, override):
    """(allowed statuses, keys or None)."""
    if override is not None:
        return {override}, top_keys(shown)
    m = re.match(r"^(\d{3})\b", shown)
    if m:
        return {int(m.group(1))}, None
    keys = top_keys(shown)
    if keys and "error" in keys:
        return set(range(400, 500)), keys
    return set(range(200, 300)), keys


class AdminApiExamples(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(DOC) as f:
            cls.doc = f.read()
        cls.blocks = list(BLOCK_RE.finditer(cls.doc))
        pre = ANY_SH_RE.search(cls.doc).group(1)
        alias = [l for l in pre.splitlines() if l.startswith("alias curl=")]
        cls.alias = alias[0] if alias else ""
        # the toy plugins stand in for grpc in the schema file and
        # /protocols examples (their sub: lines point them at their
        # sections); test_grpc_agent.py checks what grpc itself answers.
        # The soap plugin itself answers the example of the mocks an
        # upload implies.
        toy = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                           "doppel_schema_toy.so")
        described = os.path.join(harness.BUILD_DIR, "tests", "plugins",
                                 "doppel_section_describe.so")
        cls.d = harness.Doppel(config="[http]\nenabled = true\n"
                                      "[mcp]\nenabled = true\nlisten = off\n"
                                      "[schema_toy]\npath = %s\n"
                                      "enabled = true\n"
                                      "[section_describe]\npath = %s\n"
                                      "enabled = true\n"
                                      # the schema_mocks example
                                      "[soap]\nenabled = true\n"
                                      % (toy, described))
        cls.d.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_preamble(self):
        # The page's own setup: $B, $TOKEN and the alias the examples use.
        pre = ANY_SH_RE.search(self.doc).group(1)
        self.assertIn("B=http://127.0.0.1:5770/api/v1", pre)
        self.assertIn("TOKEN=", pre)
        self.assertEqual(
            self.alias,
            "alias curl='curl -H \"Authorization: Bearer $TOKEN\"'")

    def test_examples_are_marked(self):
        # Every block with a curl command is run, apart from the preamble.
        runnable = {m.start("sh") for m in self.blocks}
        missing = []
        for m in ANY_SH_RE.finditer(self.doc):
            if "curl " not in m.group(1) or "alias curl" in m.group(1):
                continue
            if m.start(1) not in runnable:
                line = self.doc.count("\n", 0, m.start()) + 1
                missing.append(line)
        self.assertEqual(missing, [], "```sh blocks with curl but no "
                         "<!-- run --> marker, at these lines")
        self.assertGreaterEqual(len(self.blocks), 25)

    def run_block(self, m):
        spec = parse_spec(m.group("spec"))
        cmds = split_commands(m.group("sh"))
        self.assertTrue(cmds, "no command in the block")
        addr = "%s:%d" % (self.d.host, self.d.port)
        script = ["shopt -s expand_aliases", self.alias]
        if spec["setup"]:
            script.append("{\n%s\n} >/dev/null 2>&1" % "\n".join(spec["setup"]))
        for cmd, _ in cmds:
            self.assertTrue(cmd.startswith("curl "), cmd)
            for host in ("localhost:5770", "127.0.0.1:5770"):
                cmd = cmd.replace(host, addr)
            for old, new in spec["sub"]:
                cmd = cmd.replace(old, new)
            script.append("echo @@BEGIN@@")
            script.append(cmd + " -w '\\n@@STATUS@@%{http_code}\\n'")
        env = dict(os.environ, B="http://%s/api/v1" % addr,
                   H="http://%s" % addr, TOKEN=harness.ADMIN_TOKEN)
        p = subprocess.run(["bash", "-c", "\n".join(script)], env=env,
                           capture_output=True, timeout=60)
        parts = p.stdout.decode().split("@@BEGIN@@\n")[1:]
        self.assertEqual(len(parts), len(cmds), (p.stdout, p.stderr))
        statuses = spec["status"] or [None] * len(cmds)
        self.assertEqual(len(statuses), len(cmds), "status: one per command")
        for i, ((cmd, shown), out) in enumerate(zip(cmds, parts)):
            if i == len(cmds) - 1 and m.group("json"):
                shown = shown or m.group("json")
            body, _, st = out.rpartition("\n@@STATUS@@")
            status = int(st.strip())
            allowed, keys = expectation(shown, statuses[i])
            self.assertIn(status, allowed, "%s\nanswered %d: %s"
                          % (cmd, status, body[:500]))
            if keys:
                got = json.loads(body)
                self.assertIsInstance(got, dict, cmd)
                self.assertEqual([k for k in keys if k not in got], [],
                                 "%s\nanswer lacks keys the doc shows: %s"
                                 % (cmd, body[:500]))

    def test_examples(self):
        # One subTest per block, in the order of the page (they share state).
        self.assertTrue(self.blocks)
        for m in self.blocks:
            line = self.doc.count("\n", 0, m.start()) + 1
            with self.subTest(line=line):
                self.run_block(m)
        self.assertEqual(self.d.get("/health/ready").status, 200)


if __name__ == "__main__":
    harness.main()
