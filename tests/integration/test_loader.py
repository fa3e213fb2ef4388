"""plugins.conf and the plugin loader, through the real binary.

Every refusal must stop `doppel serve` before anything starts, with exit
status 78 (EX_CONFIG) and exactly one line "doppel: <reason>" naming the
file, the plugin and what was expected and found. The fixtures are the ABI
test plugins built into <build>/tests/abi.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FIXTURES = os.path.abspath(os.path.join(harness.BUILD_DIR, "tests", "abi"))
EX_CONFIG = 78


def fx(name):
    return os.path.join(FIXTURES, "doppel_%s.so" % name)


class Refusals(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="doppel-loader-")
        self.data = os.path.join(self.tmp, "data")
        self.conf = os.path.join(self.tmp, "plugins.conf")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, config, env=None):
        with open(self.conf, "w") as f:
            f.write(config)
        return harness.run_doppel(
            ["serve", "--config", self.conf, "--listen", "127.0.0.1:0",
             "--data", self.data], env=env, timeout=30)

    def assert_refused(self, config, line, env=None):
        code, out, err = self.serve(config, env)
        self.assertEqual(code, EX_CONFIG, "stdout:\n%s\nstderr:\n%s"
                         % (out, err))
        lines = [l for l in err.splitlines() if l.startswith("doppel: ")]
        self.assertEqual(lines, ["doppel: " + line], err)
        self.assertNotIn("listening on", out + err)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return err

    # -- the plugin file -------------------------------------------------
    def test_fixture_refusals_by_path(self):
        cases = {
            "no_entry": fx("no_entry") + ": not a doppel plugin: no symbol "
                                         "'doppel_plugin_entry'",
            "null_entry": fx("null_entry") + ": entry function returned no "
                                             "descriptor",
            "wrong_major": fx("wrong_major") + ": plugin 'wrong_major': ABI "
                                               "major mismatch: host 1, "
                                               "plugin 2",
            "newer_minor": fx("newer_minor") + ": plugin 'newer_minor': ABI "
                                               "minor too new: host 1.2, "
                                               "plugin 1.3",
            "too_small": fx("too_small") + ": plugin 'too_small': descriptor "
                                           "too small for ABI 1.0: size 24, "
                                           "need at least 88",
            "bad_name": fx("bad_name") + ": plugin name 'Bad Name' is not "
                                         "valid: expected [a-z][a-z0-9_-]*, "
                                         "at most 64 characters",
            "missing_init": fx("missing_init") + ": plugin 'missing_init': "
                                                 "missing required callback "
                                                 "'init'",
        }
        for name, line in cases.items():
            with self.subTest(fixture=name):
                self.assert_refused(
                    "[x]\npath = %s\nenabled = true\n" % fx(name), line)

    def test_not_an_elf_file(self):
        code, out, err = self.serve(
            "[x]\npath = %s\nenabled = true\n" % fx("not_elf"))
        self.assertEqual(code, EX_CONFIG, err)
        self.assertIn("doppel: %s: cannot load: " % fx("not_elf"), err)
        self.assertIn("ELF", err)

    def test_refusal_by_name_in_plugin_dir(self):
        self.assert_refused(
            "[wrong_major]\nenabled = true\n",
            fx("wrong_major") + ": plugin 'wrong_major': ABI major mismatch: "
                                "host 1, plugin 2",
            env={"DOPPEL_PLUGIN_DIR": FIXTURES})

    def test_missing_plugin_file(self):
        self.assert_refused(
            "[h1]\nplugin = hello\nenabled = true\n",
            fx("hello") + ": plugin file not found (instance 'h1')",
            env={"DOPPEL_PLUGIN_DIR": FIXTURES})
        missing = os.path.join(self.tmp, "nowhere", "doppel_x.so")
        self.assert_refused(
            "[x]\npath = %s\nenabled = true\n" % missing,
            missing + ": plugin file not found (instance 'x')")

    def test_disabled_section_is_not_loaded(self):
        # A broken plugin in a disabled section does not stop the server.
        config = ("[broken]\npath = %s\nenabled = false\n"
                  "[g]\npath = %s\nenabled = true\nlabel = one\n"
                  % (fx("wrong_major"), fx("good")))
        with harness.Doppel(config=config) as d:
            self.assertEqual(d.get("/health/live").status, 200)

    # -- options ------------------------------------------------------------
    def test_unknown_option(self):
        self.assert_refused(
            "[g1]\npath = %s\nenabled = true\nlabel = x\ncolour = red\n"
            % fx("good"),
            "%s:5: plugin 'good' instance 'g1': unknown option 'colour' "
            "(known: label, count, verbose, buffer, timeout, note)"
            % self.conf)

    def test_mistyped_options(self):
        cases = [
            ("count = lots", "option 'count' expects an integer in [1, 100], "
                             "found 'lots'"),
            ("count = 101", "option 'count' expects an integer in [1, 100], "
                            "found '101'"),
            ("verbose = perhaps", "option 'verbose' expects a boolean "
                                  "(true/false, yes/no, on/off, 1/0), found "
                                  "'perhaps'"),
            ("buffer = 2m", "option 'buffer' expects a size in [1024, "
                            "1048576] bytes (suffixes k, m, g), found '2m'"),
            ("timeout = 1h", "option 'timeout' expects a duration in [10, "
                             "60000] ms (suffixes ms, s, m), found '1h'"),
        ]
        for kv, msg in cases:
            with self.subTest(kv=kv):
                self.assert_refused(
                    "[g1]\npath = %s\nenabled = true\nlabel = x\n%s\n"
                    % (fx("good"), kv),
                    "%s:5: plugin 'good' instance 'g1': %s" % (self.conf, msg))

    def test_missing_required_option(self):
        self.assert_refused(
            "# comment\n\n[g1]\npath = %s\nenabled = true\n" % fx("good"),
            "%s:3: plugin 'good' instance 'g1': missing required option "
            "'label'" % self.conf)

    # -- the file itself ----------------------------------------------------
    def test_config_syntax_refusals(self):
        cases = [
            ("[a]\nenabled = false\n[b]\nenabled = false\n[a]\n",
             "%s:5: duplicate instance name 'a' (first defined at line 1)"),
            ("[a]\nenabled = false\nenabled = true\n",
             "%s:3: duplicate key 'enabled' in [a] (first defined at line 2)"),
            ("[a]\nenabled = false\nthis is not a setting\n",
             "%s:3: expected 'key = value' or '[section]'"),
        ]
        for text, msg in cases:
            with self.subTest(text=text):
                self.assert_refused(text, msg % self.conf)

    def test_config_too_large(self):
        text = "[a]\nenabled = false\n" + "#" * (1024 * 1024)
        self.assert_refused(text, "%s: file too large: more than 1048576 "
                                  "bytes" % self.conf)

    def test_missing_config_file(self):
        code, _, err = harness.run_doppel(
            ["serve", "--config", os.path.join(self.tmp, "none.conf"),
             "--listen", "127.0.0.1:0", "--data", self.data])
        self.assertEqual(code, EX_CONFIG, err)
        self.assertIn("doppel: %s: cannot open: No such file or directory"
                      % os.path.join(self.tmp, "none.conf"), err)

    def test_bad_server_setting(self):
        code, _, err = self.serve("[server]\nworkers = lots\n")
        self.assertEqual(code, EX_CONFIG, err)
        lines = [l for l in err.splitlines() if l.startswith("doppel: ")]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("doppel: %s:2: " % self.conf),
                        lines[0])
        self.assertIn("'workers'", lines[0])
        self.assertIn("'lots'", lines[0])


class Loading(unittest.TestCase):
    def test_two_instances_of_one_plugin_and_frozen_1_0_and_1_1_plugins(self):
        config = ("[g1]\nplugin = good\nenabled = true\nlabel = one\n"
                  "[g2]\nplugin = good\nenabled = yes\nlabel = two\n"
                  "count = 7\nbuffer = 4k\ntimeout = 250ms\n"
                  "[old]\npath = %s\nenabled = on\nlevel = 3\n"
                  "[old11]\npath = %s\nenabled = on\n"
                  % (fx("frozen_1_0"), fx("frozen_1_1")))
        with harness.Doppel(config=config, workers=2,
                            env={"DOPPEL_PLUGIN_DIR": FIXTURES}) as d:
            self.assertEqual(d.get("/health/ready").status, 200)
            # The 1.1 plugin, built against its own copy of the 1.1 structs,
            # found every 1.1 service at init (else init fails and the
            # server does not start), shares one state between its two
            # copies and calls the admin API with the caller's token.
            r = d.get("/frozen-1-1/whoami", headers=d.auth_headers())
            self.assertEqual(r.status, 200, r)
            js = r.json()
            self.assertEqual(js["copies"], 2, js)
            self.assertEqual(js["adminStatus"], 200, js)
            self.assertIs(js["admin"]["systemAdmin"], True, js)
            # a bad token is the API's refusal, passed through
            r = d.get("/frozen-1-1/whoami",
                      headers={"Authorization": "Bearer mk_" + "x" * 40})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["adminStatus"], 401, r)
            self.assertEqual(d.stop(), 0)
            d.assert_clean_log()


class PluginsCommand(unittest.TestCase):
    def test_lists_fixtures_with_schema_and_refusals(self):
        code, out, err = harness.run_doppel(
            ["plugins"], env={"DOPPEL_PLUGIN_DIR": FIXTURES})
        self.assertEqual(code, 0, err)
        self.assertIn("host plugin ABI: 1.2\n", out)
        self.assertIn("good 1.2.3 (feature, ABI 1.2)", out)
        self.assertIn("frozen_1_0 1.0.0 (feature, ABI 1.0)", out)
        self.assertIn("frozen_1_1 1.1.0 (feature, ABI 1.1)", out)
        self.assertIn("  ABI fixture: a valid feature plugin", out)
        rows = {}
        for line in out.splitlines():
            parts = line.split()
            if line.startswith("    ") and len(parts) >= 5:
                rows.setdefault(parts[0], parts)
        self.assertEqual(rows["count"][1:4], ["int", "3", "no"])
        self.assertIn("[1, 100]", " ".join(rows["count"]))
        self.assertEqual(rows["label"][1:4], ["string", "-", "yes"])
        self.assertEqual(rows["buffer"][1:4], ["size", "64k", "no"])
        self.assertEqual(rows["timeout"][1:4], ["duration", "5s", "no"])
        self.assertEqual(rows["verbose"][1:4], ["bool", "false", "no"])
        self.assertEqual(rows["level"][1:4], ["int", "1", "no"])
        self.assertIn("refused: %s: plugin 'wrong_major': ABI major mismatch:"
                      " host 1, plugin 2" % fx("wrong_major"), out)
        self.assertIn("refused: %s: not a doppel plugin: no symbol "
                      "'doppel_plugin_entry'" % fx("no_entry"), out)
        # Sorted by file name.
        order = [out.index(s) for s in ("doppel_bad_name.so", "frozen_1_0 ",
                                        "good 1.2.3", "doppel_wrong_major.so")]
        self.assertEqual(order, sorted(order))

    def test_lists_build_tree_plugins_by_default(self):
        # The binary sits in <build>/bin beside CMakeCache.txt: it looks in
        # <build>/plugins, where the http plugin is built.
        env = {"DOPPEL_PLUGIN_DIR": ""}
        code, out, err = harness.run_doppel(["plugins"], env=env)
        self.assertEqual(code, 0, err)
        self.assertIn(os.path.join(os.path.abspath(harness.BUILD_DIR),
                                   "plugins"), out)
        self.assertRegex(out, r"(?m)^http \S+ \(protocol, ABI 1\.2\)$")


if __name__ == "__main__":
    harness.main()
