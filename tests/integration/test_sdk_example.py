"""The SDK as a third party gets it: install the build tree into a temporary
prefix, build sdk/examples/hello out of tree against it (with the CMake
package, and separately with pkg-config flags only), then load the result
into the real server by `path =` and call GET /hello.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXAMPLE = os.path.join(harness.SOURCE_DIR, "sdk", "examples", "hello")


def run(cmd, env=None, cwd=None, timeout=240):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, env=e, cwd=cwd,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode(
        "utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd),
                                                      p.returncode, out))
    return p.stdout.decode("utf-8", "replace")


def exported_functions(so):
    out = run(["nm", "-D", "--defined-only", so])
    return sorted(l.split()[-1] for l in out.splitlines()
                  if len(l.split()) == 3 and l.split()[1] == "T")


class SdkExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="doppel-sdk-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run(["cmake", "--install", os.path.abspath(harness.BUILD_DIR),
             "--prefix", cls.prefix])
        pcs = glob.glob(os.path.join(cls.prefix, "lib*", "**",
                                     "doppel-sdk.pc"), recursive=True)
        if len(pcs) != 1:
            raise AssertionError("doppel-sdk.pc not installed once: %r" % pcs)
        cls.pcdir = os.path.dirname(pcs[0])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_install_layout(self):
        for h in ("plugin.h", "http.h", "engine.h", "common.h"):
            self.assertTrue(os.path.isfile(
                os.path.join(self.prefix, "include", "doppel", h)), h)
        libdir = os.path.dirname(self.pcdir)
        for f in ("DoppelConfig.cmake", "DoppelConfigVersion.cmake",
                  "DoppelTargets.cmake"):
            self.assertTrue(os.path.isfile(
                os.path.join(libdir, "cmake", "Doppel", f)), f)
        env = {"PKG_CONFIG_PATH": self.pcdir}
        plugindir = run(["pkg-config", "--variable=plugindir", "doppel-sdk"],
                        env=env).strip()
        self.assertEqual(os.path.realpath(plugindir),
                         os.path.realpath(os.path.join(libdir, "doppel",
                                                       "plugins")))
        cflags = run(["pkg-config", "--cflags", "doppel-sdk"], env=env).split()
        self.assertIn("-fvisibility=hidden", cflags)
        incs = [os.path.realpath(f[2:]) for f in cflags if f.startswith("-I")]
        self.assertIn(os.path.realpath(os.path.join(self.prefix, "include")),
                      incs)

    def test_installed_binary_finds_installed_plugins(self):
        """An installed doppel, wherever its prefix is, loads the plugins
        installed beside it (not those of the build tree)."""
        binary = os.path.join(self.prefix, "bin", "doppel")
        self.assertTrue(os.access(binary, os.X_OK), binary)
        plugdir = os.path.join(os.path.dirname(self.pcdir), "doppel", "plugins")
        self.assertTrue(os.path.isfile(os.path.join(plugdir, "doppel_http.so")))
        env = dict(os.environ)
        env.pop("DOPPEL_PLUGIN_DIR", None)
        p = subprocess.run([binary, "plugins"], capture_output=True, env=env,
                           timeout=30, stdin=subprocess.DEVNULL)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("plugin directory: %s" % os.path.realpath(plugdir),
                      out.replace(plugdir, os.path.realpath(plugdir)))
        self.assertIn("http", out)
        # and it serves with them
        d = harness.Doppel(start=False)
        # the built-in plugins (harness.default_config: the MCP listener on
        # an ephemeral port, not 5772)
        d.command = lambda: [binary, "serve", "--listen", "127.0.0.1:0",
                             "--data", d.data, "--config", d.config_path]
        with d.start():
            h = d.get("/health").json()
            self.assertEqual([p["plugin"] for p in h["plugins"]],
                             ["http", "mcp", "grpc", "graphql", "soap", "sse",
                              "websocket"])
            self.assertEqual(h["plugins"][0]["state"], "started")

    def build_with_cmake(self):
        src = os.path.join(self.tmp, "hello-src")
        shutil.copytree(EXAMPLE, src)  # truly out of the doppel tree
        build = os.path.join(self.tmp, "hello-cmake")
        run(["cmake", "-S", src, "-B", build,
             "-DCMAKE_PREFIX_PATH=" + self.prefix])
        run(["cmake", "--build", build, "-j2"])
        so = os.path.join(build, "plugins", "doppel_hello.so")
        self.assertTrue(os.path.isfile(so))
        return so

    def build_with_pkg_config(self):
        out = os.path.join(self.tmp, "hello-pc")
        os.makedirs(out, exist_ok=True)
        so = os.path.join(out, "doppel_hello.so")
        cflags = run(["pkg-config", "--cflags", "doppel-sdk"],
                     env={"PKG_CONFIG_PATH": self.pcdir}).split()
        run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"]
            + cflags + ["-o", so, os.path.join(EXAMPLE, "hello.c")])
        return so

    def serve_hello(self, so):
        config = ('[hello]\npath = %s\nenabled = true\n'
                  'greeting = "hi there"\nrepeat = 2\n' % so)
        with harness.Doppel(config=config) as d:
            r = d.get("/hello")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, b"hi there\nhi there\n")
            self.assertTrue(r.headers.get("content-type", "")
                            .startswith("text/plain"))
            r = d.get("/hello/again")
            self.assertEqual(r.body, b"hi there\nhi there\n")
        # A value out of the schema's range is refused before start.
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[h1]\npath = %s\nenabled = true\nrepeat = 11\n" % so)
        code, _, err = harness.run_doppel(
            ["serve", "--config", conf, "--listen", "127.0.0.1:0", "--data",
             os.path.join(self.tmp, "data")])
        self.assertEqual(code, 78, err)
        self.assertIn("doppel: %s:4: plugin 'hello' instance 'h1': option "
                      "'repeat' expects an integer in [1, 10], found '11'"
                      % conf, err)

    def test_cmake_package_build(self):
        so = self.build_with_cmake()
        self.assertEqual(exported_functions(so), ["doppel_plugin_entry"])
        code, out, err = harness.run_doppel(
            ["plugins"], env={"DOPPEL_PLUGIN_DIR": os.path.dirname(so)})
        self.assertEqual(code, 0, err)
        self.assertIn("hello 1.0.0 (feature, ABI 1.2)", out)
        self.assertRegex(out, r"(?m)^\s+greeting\s+string\s+hello\s+no\s")
        self.assertRegex(out, r"(?m)^\s+repeat\s+int\s+1\s+no\s+\[1, 10\]")
        self.serve_hello(so)

    def test_pkg_config_build(self):
        so = self.build_with_pkg_config()
        self.assertEqual(exported_functions(so), ["doppel_plugin_entry"])
        self.serve_hello(so)


if __name__ == "__main__":
    harness.main()
