/*
 * The strict Origin parser (host/base/origin.c): the serialisations browsers
 * send parse, and every form that smuggles another host past a loose parser
 * is refused, so none of them can pass as loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/origin.h"

typedef struct good {
    const char *text, *host;
    int port, loopback;
} good_t;

static const good_t goods[] = {
    {"http://localhost", "localhost", -1, 1},
    {"http://localhost:6274", "localhost", 6274, 1},
    {"https://LOCALHOST:443", "LOCALHOST", 443, 1},
    {"http://127.0.0.1", "127.0.0.1", -1, 1},
    {"http://127.1.2.3:8080", "127.1.2.3", 8080, 1},
    {"http://[::1]", "[::1]", -1, 1},
    {"http://[::1]:3000", "[::1]", 3000, 1},
    {"http://[0:0:0:0:0:0:0:1]:1", "[0:0:0:0:0:0:0:1]", 1, 1},
    {"https://app.example.com", "app.example.com", -1, 0},
    {"http://evil.example:65535", "evil.example", 65535, 0},
    {"http://[2001:db8::1]", "[2001:db8::1]", -1, 0},
    {"http://10.0.0.1", "10.0.0.1", -1, 0},
    {"ftp://localhost", "localhost", -1, 0}, /* parses; not a web origin */
    {"chrome-extension://abcdef", "abcdef", -1, 0},
};

static const char *const bads[] = {
    "http://[::1].evil.example",
    "http://[::1]evil.example",
    "http://[::1]@evil.example",
    "http://[::1]:80.evil.example",
    "http://localhost:80@evil.example",
    "http://localhost@evil.example",
    "http://user:pass@localhost",
    "http://localhost:80:81",
    "http://localhost:",
    "http://localhost:65536",
    "http://localhost:123456",
    "http://localhost:-1",
    "http://localhost:+80",
    "http://localhost/",
    "http://localhost/x",
    "http://localhost?x",
    "http://localhost#x",
    "http://localhost ",
    " http://localhost",
    "http://local host",
    "http://localhost\r\nX: y",
    "http://",
    "http://:80",
    "http:/localhost",
    "http:localhost",
    "localhost",
    "://localhost",
    "1http://localhost",
    "null",
    "",
    "http://[::1",
    "http://[]",
    "http://[not-v6]",
    "http://[127.0.0.1]",
    "http://127.0.0.1%2eevil.example",
    "http://xn--localhost\x01",
};

/* Forms that parse but must not count as loopback. */
static const char *const not_loopback[] = {
    "http://127.0.0.1.evil.example",
    "http://127.evil.example",
    "http://127.1",
    "http://127.0.0.256",
    "http://127.0.0.1.2",
    "http://0127.0.0.1",
    "http://localhost.evil.example",
    "http://evil-localhost",
    "http://[::2]",
    "http://[::ffff:127.0.0.1]",
    "ws://localhost",
};

static void test_good_forms_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        const good_t *g = &goods[i];
        dp_origin_t o;
        if (dp_origin_parse(g->text, strlen(g->text), &o) != 0)
            fail_msg("%s: refused", g->text);
        if (o.host_len != strlen(g->host) ||
            memcmp(o.host, g->host, o.host_len) != 0)
            fail_msg("%s: host %.*s", g->text, (int)o.host_len, o.host);
        assert_int_equal(o.port, g->port);
        if (dp_origin_is_loopback(&o) != g->loopback)
            fail_msg("%s: loopback should be %d", g->text, g->loopback);
        assert_int_equal(dp_origin_text_is_loopback(g->text, strlen(g->text)),
                         g->loopback);
    }
}

static void test_hostile_forms_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        dp_origin_t o;
        if (dp_origin_parse(bads[i], strlen(bads[i]), &o) == 0)
            fail_msg("\"%s\": accepted", bads[i]);
        if (dp_origin_text_is_loopback(bads[i], strlen(bads[i])))
            fail_msg("\"%s\": loopback", bads[i]);
    }
}

static void test_lookalikes_are_not_loopback(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof not_loopback / sizeof not_loopback[0]; i++)
        if (dp_origin_text_is_loopback(not_loopback[i],
                                       strlen(not_loopback[i])))
            fail_msg("%s: loopback", not_loopback[i]);
}

static void test_length_is_honoured(void **state)
{
    (void)state;
    /* the text is not NUL-terminated where the header ends */
    const char *s = "http://localhost.evil.example";
    assert_int_equal(dp_origin_text_is_loopback(s, 16), 1);
    assert_int_equal(dp_origin_text_is_loopback(s, strlen(s)), 0);
    dp_origin_t o;
    assert_int_equal(dp_origin_parse(NULL, 0, &o), -22);
    assert_int_equal(dp_origin_is_loopback(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_forms_parse),
        cmocka_unit_test(test_hostile_forms_refused),
        cmocka_unit_test(test_lookalikes_are_not_loopback),
        cmocka_unit_test(test_length_is_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
