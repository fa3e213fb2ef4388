/* The loopback Host and Origin checks that local mode's cross-site check
 * relies on (host/base/origin.c, the one parser the MCP plugin uses too):
 * every form that names this machine, and the look-alikes that name
 * another one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/origin.h"

static int origin(const char *s)
{
    return dp_origin_text_is_loopback(s, strlen(s));
}

static int authority(const char *s)
{
    return dp_authority_is_loopback(s, strlen(s));
}

static void test_loopback_origins(void **state)
{
    (void)state;
    const char *ok[] = {
        "http://localhost",        "http://localhost:5770",
        "HTTPS://LocalHost:1",     "http://127.0.0.1",
        "http://127.255.0.9:8080", "http://[::1]",
        "http://[::1]:5770",       "https://[0:0:0:0:0:0:0:1]:443",
        "http://127.0.0.1:65535",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!origin(ok[i]))
            fail_msg("refused %s", ok[i]);
    }
}

static void test_foreign_origins(void **state)
{
    (void)state;
    const char *bad[] = {
        "null",
        "",
        "http://",
        "https://",
        "http://evil.example",
        "http://[::1].evil.example",
        "http://[::1]evil",
        "http://localhost:80@evil.example",
        "http://localhost@evil.example",
        "http://user:pw@127.0.0.1",
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example",
        "http://evil.localhost",
        "http://localhost.",
        "http://127.0.0.1/",
        "http://127.0.0.1:80/path",
        "http://127.0.0.1:",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:123456",
        "http://127.0.0.1:8a",
        "http://127.1",
        "http://2130706433",
        "http://0x7f.0.0.1",
        "http://0177.0.0.1",
        "http://128.0.0.1",
        "http://[::2]",
        "http://[::ffff:127.0.0.1]",
        "http://[::1",
        "http://::1",
        "http:// localhost",
        "ftp://127.0.0.1",
        "file://",
        "localhost",
        "//localhost",
        "http:/localhost",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (origin(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    /* Lengths are honoured: no reading past the value. */
    assert_false(dp_origin_text_is_loopback("http://localhost.evil", 16 + 1));
    assert_true(dp_origin_text_is_loopback("http://localhost.evil", 16));
    assert_false(dp_origin_text_is_loopback(NULL, 0));
}

static void test_hosts(void **state)
{
    (void)state;
    assert_true(authority("localhost"));
    assert_true(authority("127.0.0.1:5770"));
    assert_true(authority("[::1]:5770"));
    assert_false(authority(""));
    assert_false(authority(":5770"));
    assert_false(authority("evil.example"));
    assert_false(authority("evil.example:5770"));
    assert_false(authority("10.0.0.1:5770"));
    assert_false(authority("localhost:80@evil.example"));
    assert_false(authority("[::1].evil.example"));
    assert_false(authority("127.0.0.1 "));
    assert_false(dp_authority_is_loopback(NULL, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_origins),
        cmocka_unit_test(test_foreign_origins),
        cmocka_unit_test(test_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
