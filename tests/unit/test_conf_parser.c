/* plugins.conf parser: accepted syntax, every refusal with its exact line,
 * file limits, lookups, booleans, the config search order and the built-in
 * default config. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/config.h"

static char err[1024];

static dp_conf_t *parse_ok(const char *text)
{
    dp_conf_t *c = NULL;
    int rc = dp_conf_parse(text, "t.conf", &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    assert_non_null(c);
    return c;
}

static void expect_error(const char *text, const char *msg)
{
    dp_conf_t *c = (dp_conf_t *)0x1;
    err[0] = '\0';
    int rc = dp_conf_parse(text, "t.conf", &c, err, sizeof(err));
    assert_int_equal(rc, -EINVAL);
    assert_null(c);
    assert_string_equal(err, msg);
}

static void test_sections_keys_lines(void **st)
{
    (void)st;
    dp_conf_t *c = parse_ok("# comment\n"
                            "; another\n"
                            "\n"
                            "[server]\n"
                            "listen = 127.0.0.1:5770\n"
                            "  workers=4  \n"
                            "[mcp-control]\r\n"
                            "plugin = mcp\r\n"
                            "path = /opt/x.so # trailing comment\n"
                            "enabled = true ; also a comment\n"
                            "url = http://x/#frag\n");
    assert_null(c->path);
    assert_int_equal(c->n_sections, 2);
    const dp_conf_section_t *s = dp_conf_section(c, "server");
    assert_non_null(s);
    assert_int_equal(s->line, 4);
    assert_int_equal(s->n_kv, 2);
    assert_string_equal(dp_conf_get(s, "listen")->value, "127.0.0.1:5770");
    assert_int_equal(dp_conf_get(s, "listen")->line, 5);
    assert_string_equal(dp_conf_get(s, "workers")->value, "4");
    assert_int_equal(dp_conf_get(s, "workers")->line, 6);
    s = dp_conf_section(c, "mcp-control");
    assert_non_null(s);
    assert_int_equal(s->line, 7);
    assert_string_equal(s->kv[0].key, "plugin");
    assert_string_equal(dp_conf_get(s, "plugin")->value, "mcp");
    assert_string_equal(dp_conf_get(s, "path")->value, "/opt/x.so");
    assert_string_equal(dp_conf_get(s, "enabled")->value, "true");
    /* '#' not preceded by a space belongs to the value. */
    assert_string_equal(dp_conf_get(s, "url")->value, "http://x/#frag");
    assert_null(dp_conf_get(s, "missing"));
    assert_null(dp_conf_section(c, "nope"));
    dp_conf_free(c);
}

static void test_quoted_values(void **st)
{
    (void)st;
    dp_conf_t *c = parse_ok("[a]\n"
                            "greeting = \"hello # not a comment; \\\"x\\\"\"\n"
                            "multi = \"a\\nb\\\\c\\td\"  # comment\n"
                            "empty = \"\"\n"
                            "bare =\n");
    const dp_conf_section_t *s = dp_conf_section(c, "a");
    assert_string_equal(dp_conf_get(s, "greeting")->value,
                        "hello # not a comment; \"x\"");
    assert_string_equal(dp_conf_get(s, "multi")->value, "a\nb\\c\td");
    assert_string_equal(dp_conf_get(s, "empty")->value, "");
    assert_string_equal(dp_conf_get(s, "bare")->value, "");
    dp_conf_free(c);
}

static void test_section_with_spaces_and_comment(void **st)
{
    (void)st;
    dp_conf_t *c = parse_ok("[ http ]   # the mock plugin\nenabled = yes\n");
    assert_non_null(dp_conf_section(c, "http"));
    dp_conf_free(c);
}

static void test_errors(void **st)
{
    (void)st;
    expect_error("[a]\nx = 1\n[b]\n[a]\n",
                 "t.conf:4: duplicate instance name 'a' (first defined at "
                 "line 1)");
    expect_error("[a]\nx = 1\n\nx = 2\n",
                 "t.conf:4: duplicate key 'x' in [a] (first defined at line "
                 "2)");
    expect_error("[a]\njust some words\n",
                 "t.conf:2: expected 'key = value' or '[section]'");
    expect_error("[a]\n= value\n",
                 "t.conf:2: expected 'key = value' or '[section]'");
    expect_error("[a\n", "t.conf:1: expected 'key = value' or '[section]'");
    expect_error("[a] junk\n",
                 "t.conf:1: expected 'key = value' or '[section]'");
    expect_error("x = 1\n", "t.conf:1: key 'x' outside of any [section]");
    expect_error("[]\n", "t.conf:1: invalid section name '' (expected "
                         "[A-Za-z0-9_.-]+)");
    expect_error("[a b]\n", "t.conf:1: invalid section name 'a b' (expected "
                            "[A-Za-z0-9_.-]+)");
    expect_error("[a]\nmy key = 1\n",
                 "t.conf:2: invalid key 'my key' (expected [A-Za-z0-9_.-]+)");
    expect_error("[a]\nk = \"open\n", "t.conf:2: unterminated quoted value");
    expect_error("[a]\nk = \"ends in backslash\\\n",
                 "t.conf:2: unterminated quoted value");
    expect_error("[a]\nk = \"bad \\q escape\"\n",
                 "t.conf:2: unknown escape '\\q' in quoted value (known: \\\" "
                 "\\\\ \\n \\t)");
    expect_error("[a]\nk = \"x\" y\n",
                 "t.conf:2: unexpected text after quoted value");
    /* Control bytes in an echoed name are masked. */
    expect_error("[a\x1b[31m]\n",
                 "t.conf:1: invalid section name 'a?[31m' (expected "
                 "[A-Za-z0-9_.-]+)");
    expect_error("[a\x01]\n", "t.conf:1: invalid section name 'a?' (expected "
                              "[A-Za-z0-9_.-]+)");
}

/* Hostile input: random bytes drawn from the characters that matter to the
 * grammar. Every outcome is either a config or one error line naming the
 * file; nothing crashes or leaks (the ASan build runs this too). */
static void test_random_input(void **st)
{
    (void)st;
    static const char alphabet[] = "[]=#;\"\\ \t\nab.-_\x01\xff";
    char text[256];
    unsigned seed = 12345;

    for (int iter = 0; iter < 5000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % (sizeof(text) - 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        text[len] = '\0';
        dp_conf_t *c = NULL;
        err[0] = '\0';
        int rc = dp_conf_parse(text, "t.conf", &c, err, sizeof(err));
        if (rc == 0) {
            assert_non_null(c);
            for (size_t i = 0; i < c->n_sections; i++)
                for (size_t k = 0; k < c->sections[i].n_kv; k++)
                    assert_non_null(c->sections[i].kv[k].value);
            dp_conf_free(c);
        } else {
            assert_int_equal(rc, -EINVAL);
            assert_null(c);
            assert_memory_equal(err, "t.conf:", 7);
            assert_null(strchr(err, '\n'));
        }
    }
}

static char tmpdir[] = "/tmp/doppel-conf-test-XXXXXX";

static char *write_tmp(const char *name, const void *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_load_file(void **st)
{
    (void)st;
    const char text[] = "[http]\nenabled = true\n";
    char *p = write_tmp("ok.conf", text, strlen(text));
    dp_conf_t *c = NULL;
    assert_int_equal(dp_conf_load(p, &c, err, sizeof(err)), 0);
    assert_string_equal(c->path, p);
    assert_string_equal(
        dp_conf_get(dp_conf_section(c, "http"), "enabled")->value, "true");
    dp_conf_free(c);

    const char bad[] = "[http]\nenabled = true\nnonsense\n";
    p = write_tmp("bad.conf", bad, strlen(bad));
    char want[600];
    snprintf(want, sizeof(want), "%s:3: expected 'key = value' or '[section]'",
             p);
    c = (dp_conf_t *)0x1;
    assert_int_equal(dp_conf_load(p, &c, err, sizeof(err)), -EINVAL);
    assert_null(c);
    assert_string_equal(err, want);

    const char nul[] = "[a]\nk = v\0x\n";
    p = write_tmp("nul.conf", nul, sizeof(nul) - 1);
    snprintf(want, sizeof(want), "%s:2: unexpected NUL byte", p);
    assert_int_equal(dp_conf_load(p, &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, want);
}

static void test_load_limits(void **st)
{
    (void)st;
    char path[600];
    dp_conf_t *c = NULL;

    /* Exactly the limit is accepted, one byte more is refused. */
    size_t n = DP_CONF_MAX_BYTES;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n + 1);
    big[0] = '[';
    big[1] = 'a';
    big[2] = ']';
    big[3] = '\n';
    char *p = write_tmp("max.conf", big, n);
    assert_int_equal(dp_conf_load(p, &c, err, sizeof(err)), 0);
    dp_conf_free(c);
    p = write_tmp("big.conf", big, n + 1);
    c = (dp_conf_t *)0x1;
    assert_int_equal(dp_conf_load(p, &c, err, sizeof(err)), -EFBIG);
    assert_null(c);
    snprintf(path, sizeof(path), "%s: file too large: more than 1048576 bytes",
             p);
    assert_string_equal(err, path);
    free(big);

    snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
    assert_int_equal(dp_conf_load(path, &c, err, sizeof(err)), -ENOENT);
    char want[700];
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
             path);
    assert_string_equal(err, want);

    assert_int_equal(dp_conf_load(tmpdir, &c, err, sizeof(err)), -EISDIR);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
    assert_string_equal(err, want);
}

static void test_bool(void **st)
{
    (void)st;
    const char *t[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    const char *f[] = {"false", "no", "off", "0", "False"};
    const char *bad[] = {"", "2", "tru", "yess", "enabled", "-1"};
    for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++)
        assert_int_equal(dp_conf_bool(t[i]), 1);
    for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++)
        assert_int_equal(dp_conf_bool(f[i]), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(dp_conf_bool(bad[i]), -1);
    assert_int_equal(dp_conf_bool(NULL), -1);
}

static void test_search(void **st)
{
    (void)st;
    char cwd[512], home[600], want[700];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    snprintf(home, sizeof(home), "%s/home", tmpdir);
    mkdir(home, 0700);
    setenv("HOME", home, 1);
    unsetenv("XDG_CONFIG_HOME");

    /* $DOPPEL_CONFIG wins even when the file does not exist. */
    setenv("DOPPEL_CONFIG", "/nonexistent/x.conf", 1);
    char *p = dp_conf_search();
    assert_string_equal(p, "/nonexistent/x.conf");
    free(p);
    unsetenv("DOPPEL_CONFIG");

    /* ~/.config/doppel/plugins.conf when there is no ./plugins.conf. */
    snprintf(want, sizeof(want), "%s/.config", home);
    mkdir(want, 0700);
    snprintf(want, sizeof(want), "%s/.config/doppel", home);
    mkdir(want, 0700);
    snprintf(want, sizeof(want), "%s/.config/doppel/plugins.conf", home);
    FILE *f = fopen(want, "w");
    assert_non_null(f);
    fclose(f);
    p = dp_conf_search();
    assert_non_null(p);
    assert_string_equal(p, want);
    free(p);

    /* $XDG_CONFIG_HOME replaces ~/.config. */
    setenv("XDG_CONFIG_HOME", home, 1);
    snprintf(want, sizeof(want), "%s/doppel", home);
    mkdir(want, 0700);
    snprintf(want, sizeof(want), "%s/doppel/plugins.conf", home);
    f = fopen(want, "w");
    assert_non_null(f);
    fclose(f);
    p = dp_conf_search();
    assert_string_equal(p, want);
    free(p);

    /* ./plugins.conf comes before the user's file. */
    f = fopen("plugins.conf", "w");
    assert_non_null(f);
    fclose(f);
    p = dp_conf_search();
    assert_string_equal(p, "plugins.conf");
    free(p);
    unlink("plugins.conf");
    assert_int_equal(chdir(cwd), 0);
}

static void test_builtin_equals_packaging(void **st)
{
    (void)st;
    FILE *f = fopen(DOPPEL_SOURCE_DIR "/packaging/plugins.conf", "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(dp_conf_builtin, buf);

    /* And it is a valid config that enables the http plugin. */
    dp_conf_t *c = parse_ok(dp_conf_builtin);
    assert_int_equal(dp_conf_server_validate(c, err, sizeof(err)), 0);
    const dp_conf_section_t *s = dp_conf_section(c, "http");
    assert_non_null(s);
    assert_int_equal(dp_conf_enabled(c, s, err, sizeof(err)), 1);
    dp_conf_free(c);
}

int main(void)
{
    assert_non_null(mkdtemp(tmpdir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_keys_lines),
        cmocka_unit_test(test_quoted_values),
        cmocka_unit_test(test_section_with_spaces_and_comment),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_limits),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_builtin_equals_packaging),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
