"""The command line of the binary: version, help, usage errors, defaults,
workers, and the run command of the README answering /health on 5770."""

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Doppel, run_doppel


class CliTest(unittest.TestCase):
    def test_version(self):
        code, out, err = run_doppel(["--version"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^doppel \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)\n$")

    def test_help_lists_commands_and_server_settings(self):
        code, out, _ = run_doppel(["--help"])
        self.assertEqual(code, 0)
        for word in ("serve", "plugins", "--config", "--listen", "--data",
                     "--workers", "max_body_bytes", "drain_timeout"):
            self.assertIn(word, out)

    def test_no_command_is_a_usage_error(self):
        code, _, err = run_doppel([])
        self.assertEqual(code, 64)
        self.assertIn("Usage", err)

    def test_unknown_command_and_option(self):
        code, _, err = run_doppel(["frobnicate"])
        self.assertEqual(code, 64)
        self.assertIn("unknown command 'frobnicate'", err)
        code, _, err = run_doppel(["serve", "--colour", "red"])
        self.assertEqual(code, 64)
        self.assertIn("unknown option '--colour'", err)

    def test_flag_without_value(self):
        code, _, err = run_doppel(["serve", "--listen"])
        self.assertEqual(code, 64)
        self.assertIn("--listen needs a value", err)

    def test_bad_listen_and_workers(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_doppel(["serve", "--data", d, "--listen",
                                       "nowhere"])
            self.assertEqual(code, 78)
            self.assertIn("--listen expects HOST:PORT, found 'nowhere'", err)
            code, _, err = run_doppel(["serve", "--workers", "0"])
            self.assertEqual(code, 64)
            self.assertIn("--workers expects 1..256", err)

    def test_mcp_listen_flag(self):
        # The flag sets the [mcp] listen option of the file (here the
        # built-in configuration, whose [mcp] section has no listen line).
        conf = open(os.path.join(harness.SOURCE_DIR, "packaging",
                                 "plugins.conf")).read()
        with Doppel(config=conf, args=["--mcp-listen", "127.0.0.1:0"]) as d:
            self.assertIsNotNone(d.mcp_port, d.log())
            self.assertNotEqual(d.mcp_port, 5772)
            c = http.client.HTTPConnection("127.0.0.1", d.mcp_port, timeout=5)
            c.request("GET", "/mcp")
            self.assertEqual(c.getresponse().status, 405)  # served there
            c.close()
        with Doppel(config=conf, args=["--mcp-listen", "off"]) as d:
            self.assertIsNone(d.mcp_port, d.log())
            self.assertNotRegex(d.log(), harness.MCP_LISTEN_RE)
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_doppel(["serve", "--data", d, "--mcp-listen",
                                       "nowhere"])
            self.assertEqual(code, 78)
            self.assertIn("--mcp-listen expects HOST:PORT or off, found "
                          "'nowhere'", err)
            cfg = os.path.join(d, "plugins.conf")
            with open(cfg, "w") as f:
                f.write("[server]\n[http]\nenabled = true\n")
            code, _, err = run_doppel(["serve", "--data", d, "--config", cfg,
                                       "--mcp-listen", "127.0.0.1:0"])
            self.assertEqual(code, 78)
            self.assertIn("no enabled section running the mcp plugin", err)

    def test_help_names_every_config_location(self):
        code, out, _ = run_doppel(["--help"])
        self.assertEqual(code, 0)
        for word in ("$DOPPEL_CONFIG", "./plugins.conf",
                     "~/.config/doppel/plugins.conf",
                     "/etc/doppel/plugins.conf", "--mcp-listen"):
            self.assertIn(word, out)

    def test_address_in_use_fails_cleanly(self):
        with Doppel() as a:
            with tempfile.TemporaryDirectory() as d:
                # Two workers: SO_REUSEPORT must not let a second process
                # silently share the port of the first.
                code, _, err = run_doppel(
                    ["serve", "--data", d, "--listen",
                     "127.0.0.1:%d" % a.port, "--workers", "2"])
                self.assertEqual(code, 1, err)
                self.assertIn("cannot listen on 127.0.0.1:%d" % a.port, err)
            # the first server is unaffected
            self.assertEqual(a.get("/health/live").status, 200)

    def test_two_workers_each_run_the_plugins(self):
        with Doppel(workers=2) as d:
            h = d.get("/health").json()
            self.assertEqual((h["status"], h["state"]), ("pass", "ok"))
            self.assertTrue(h["plugins"], h)
            for p in h["plugins"]:
                self.assertEqual(p["workers"], 2, p)
                self.assertEqual(p["workersStarted"], 2, p)
                self.assertEqual(p["state"], "started", p)
            # many connections are all served
            for _ in range(50):
                self.assertEqual(d.get("/health/live").status, 200)
            self.assertIn("2 workers", d.log())

    def test_sigint_drains_and_exits_zero(self):
        d = Doppel()
        try:
            self.assertEqual(d.get("/health").status, 200)
            self.assertEqual(d.stop(signal.SIGINT), 0)
            self.assertIn("draining", d.log())
            self.assertIn("stopped", d.log())
        finally:
            d.logf.close()
        d.assert_clean_log()


class EarlySignalTest(unittest.TestCase):
    def test_sigterm_during_start_up_drains_and_exits_zero(self):
        """A stop asked for while the server is still starting (here: right
        after its first log line, before it listens) waits until the
        server can drain, and the process exits 0 rather than dying of the
        signal."""
        with tempfile.TemporaryDirectory() as d:
            log_path = os.path.join(d, "log")
            with open(log_path, "wb") as log:
                p = subprocess.Popen(
                    [harness.BIN, "serve", "--listen", "127.0.0.1:0",
                     "--data", os.path.join(d, "data")],
                    stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=dict(os.environ,
                             DOPPEL_ADMIN_TOKEN=harness.ADMIN_TOKEN))
                deadline = time.time() + 20
                while time.time() < deadline:
                    with open(log_path) as f:
                        if "configuration:" in f.read():
                            break
                    time.sleep(0.001)
                p.send_signal(signal.SIGTERM)
                code = p.wait(timeout=30)
            with open(log_path) as f:
                text = f.read()
            self.assertEqual(code, 0, text)
            self.assertIn("draining", text)


def readme_run_command():
    """The first shell command of the README's set-up section: the one that
    installs, builds and runs the server."""
    with open(os.path.join(harness.SOURCE_DIR, "README.md")) as f:
        text = f.read()
    section = text[text.index("## Set-up on a fresh Debian 12 machine"):]
    block = section[section.index("```sh") + 5:]
    return block[:block.index("```")].strip()


class DefaultPortTest(unittest.TestCase):
    """The README's run command leaves a server answering /health on
    127.0.0.1:5770 with the embedded defaults (no plugins.conf anywhere),
    and the MCP control server on 127.0.0.1:5772."""

    def test_readme_run_command_answers_health_on_5770(self):
        cmd = readme_run_command()
        self.assertEqual(cmd, "./scripts/dev.sh serve")
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ)
            env.pop("DOPPEL_CONFIG", None)
            env["XDG_CONFIG_HOME"] = tmp  # no user config either
            env["HOME"] = tmp
            env["DOPPEL_ADMIN_TOKEN"] = harness.ADMIN_TOKEN
            log_path = os.path.join(tmp, "log")
            log = open(log_path, "wb")
            # verbatim, plus --data so the source tree stays clean
            p = subprocess.Popen(cmd.split() + ["--data",
                                                os.path.join(tmp, "data")],
                                 cwd=harness.SOURCE_DIR, env=env,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
            try:
                body = None
                # it may have to build first
                deadline = time.time() + 600
                while time.time() < deadline and p.poll() is None:
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", 5770,
                                                       timeout=2)
                        c.request("GET", "/health")
                        r = c.getresponse()
                        body = json.loads(r.read())
                        c.close()
                        if r.status == 200:
                            break
                    except OSError:
                        time.sleep(0.05)
                with open(log_path) as f:
                    text = f.read()
                self.assertIsNotNone(body, text)
                self.assertEqual(body["status"], "pass", body)
                self.assertEqual([x["plugin"] for x in body["plugins"]],
                                 ["http", "mcp", "grpc", "graphql", "soap", "sse",
                                  "websocket"])
                self.assertIn("built-in defaults", text)
                self.assertIn("listening on 127.0.0.1:5770", text)
                self.assertIn("listening on 127.0.0.1:5772 (mcp)", text)
                self.assertIn("listening on 127.0.0.1:4770 (grpc)", text)
                self.assertTrue(os.path.exists(
                    os.path.join(tmp, "data", "doppel.db")))
            finally:
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=30), 0)
                log.close()


if __name__ == "__main__":
    harness.main()
