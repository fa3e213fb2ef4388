/* The WebSocket plugin's host-free rules (plugins/websocket/ws_rules.c,
 * dp_wsplugin): which upgrade paths a mock's route takes, which Origins a
 * namespace allows, and the base64 of binary messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws_rules.h"

static int route(const char *r, const char *p)
{
    return ws_route_match(r, p, strlen(p));
}

static void test_static_routes(void **state)
{
    (void)state;
    assert_true(route("/ws", "/ws"));
    assert_true(route("/ws", "/ws/")); /* a trailing '/' is ignored */
    assert_true(route("/", "/"));
    assert_true(route("/a/b", "/a/b"));
    assert_false(route("/ws", "/wss"));
    assert_false(route("/ws", "/w"));
    assert_false(route("/ws", "/ws/x"));
    assert_false(route("/a/b", "/a"));
    assert_false(route("/a", "/"));
    assert_false(route("/a/b", "/a//b"));
}

static void test_params_and_wildcards(void **state)
{
    (void)state;
    assert_true(route("/rooms/:id", "/rooms/7"));
    assert_false(route("/rooms/:id", "/rooms"));
    assert_false(route("/rooms/:id", "/rooms/"));
    assert_false(route("/rooms/:id", "/rooms/7/x"));
    assert_true(route("/a/*/c", "/a/b/c"));
    assert_false(route("/a/*/c", "/a/b/d/c"));
    /* at the end: one or more segments */
    assert_true(route("/files/*", "/files/x"));
    assert_true(route("/files/*", "/files/x/y/z"));
    assert_false(route("/files/*", "/files"));
    assert_false(route("/files/*", "/files/"));
}

static int origin(const char *opt, const char *ns, const char *o)
{
    doppel_str_t n = {ns, strlen(ns)};
    doppel_str_t v = {o, o ? strlen(o) : 0};
    return ws_origin_allowed(opt, n, o ? &v : NULL);
}

static void test_origin_lists(void **state)
{
    (void)state;
    const char *opt = "sandbox=*; team=https://a.example, https://B.example";
    assert_true(origin(opt, "sandbox", "https://evil.example"));
    assert_true(origin(opt, "team", "https://a.example"));
    assert_true(origin(opt, "team", "https://b.example")); /* any case */
    assert_false(origin(opt, "team", "https://c.example"));
    assert_false(origin(opt, "team", "https://a.example.evil"));
    assert_false(origin(opt, "team", "https://a.exampl"));
    /* a namespace the list does not name, or no Origin: allowed */
    assert_true(origin(opt, "other", "https://c.example"));
    assert_true(origin(opt, "team", NULL));
    assert_true(origin(NULL, "team", "https://c.example"));
    assert_true(origin("", "team", "https://c.example"));
    /* a name that only starts like another is not it */
    assert_true(origin("teams=https://a.example", "team", "https://z"));
    /* an empty list for a namespace refuses every Origin */
    assert_false(origin("team=", "team", "https://a.example"));
}

static void test_query_decode(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(ws_query_decode("a%20b+c", 7, out), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(ws_query_decode("%41%4", 5, out), 3);
    assert_string_equal(out, "A%4"); /* a cut escape stays */
    assert_int_equal(ws_query_decode("%zz%", 4, out), 4);
    assert_string_equal(out, "%zz%");
    assert_int_equal(ws_query_decode("%C3%A9", 6, out), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(ws_query_decode("", 0, out), 0);
    assert_string_equal(out, "");
}

static void roundtrip(const char *raw, size_t n, const char *b64)
{
    size_t el = 0;
    char *e = ws_b64_encode((const uint8_t *)raw, n, &el);
    assert_non_null(e);
    assert_string_equal(e, b64);
    assert_int_equal(el, strlen(b64));
    uint8_t *d = NULL;
    size_t dl = 0;
    assert_int_equal(ws_b64_decode(e, el, &d, &dl), 0);
    assert_int_equal(dl, n);
    assert_memory_equal(d, raw, n);
    free(d);
    free(e);
}

static void test_base64(void **state)
{
    (void)state;
    /* RFC 4648 10 */
    roundtrip("", 0, "");
    roundtrip("f", 1, "Zg==");
    roundtrip("fo", 2, "Zm8=");
    roundtrip("foo", 3, "Zm9v");
    roundtrip("foobar", 6, "Zm9vYmFy");
    roundtrip("\x00\x01\x02\xfa", 4, "AAEC+g==");
    static const char *const bad[] = {
        "Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "=Zm9", "Zm=v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *d = NULL;
        size_t dl = 0;
        assert_int_equal(ws_b64_decode(bad[i], strlen(bad[i]), &d, &dl),
                         -EINVAL);
        assert_null(d);
    }
}

/* The JSON check of messages: valid or not as jansson says, the event
 * name from the top-level object, and "ask jansson" where they could
 * differ. */
static void test_json_scan(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int want;
        const char *event; /* NULL: none */
    } cases[] = {
        {"{\"event\":\"message\",\"n\":1}", 1, "message"},
        {" { \"type\" : \"hello\" } ", 1, "hello"},
        {"{\"type\":\"t\",\"event\":\"e\"}", 1, "e"},
        {"{\"event\":5,\"type\":\"t\"}", 1, "t"},
        {"{\"event\":\"a\",\"event\":7,\"type\":\"t\"}", 1, "t"},
        {"{\"event\":\"\"}", 1, ""},
        {"{\"x\":{\"event\":\"inner\"}}", 1, NULL},
        {"[1,2,{\"event\":\"no\"}]", 1, NULL},
        {"\"just text\"", 1, NULL},
        {"-12.5", 1, NULL},
        {"0", 1, NULL},
        {"true", 1, NULL},
        {"null", 1, NULL},
        {"{}", 1, NULL},
        {"[]", 1, NULL},
        {"{\"a\":[true,false,null,\"s\",{\"b\":-0}]}", 1, NULL},
        {"", 0, NULL},
        {"   ", 0, NULL},
        {"plain words", 0, NULL},
        {"{\"a\":1,}", 0, NULL},
        {"[1,]", 0, NULL},
        {"{\"a\" 1}", 0, NULL},
        {"{a:1}", 0, NULL},
        {"01", 0, NULL},
        {"1.", 0, NULL},
        {"-", 0, NULL},
        {"{\"a\":1}x", 0, NULL},
        {"{\"a\":1}{}", 0, NULL},
        {"\"tab\there\"", 0, NULL},
        {"\"bad \\q escape\"", 0, NULL},
        {"\"unterminated", 0, NULL},
        {"tru", 0, NULL},
        {"{\"a\":\"\\n ok\"}", 1, NULL},
        {"{\"event\":\"\\u0041\"}", -1, NULL},
        {"{\"event\":\"a\\nb\"}", -1, NULL},
        {"1e400", -1, NULL},
        {"123456789012345678901234", -1, NULL},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", -1, NULL},
    };
    /* a NUL byte: jansson ends its input there, so it decides */
    const char *e0 = NULL;
    size_t el0 = 0;
    assert_int_equal(ws_json_scan("false\0", 6, &e0, &el0), -1);
    assert_int_equal(ws_json_scan("{\"a\":1}\0x", 9, &e0, &el0), -1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = "unset";
        size_t el = 0;
        int got = ws_json_scan(cases[i].text, strlen(cases[i].text), &e, &el);
        if (got != cases[i].want)
            fail_msg("%s: %d, want %d", cases[i].text, got, cases[i].want);
        if (got != 1)
            continue;
        if (cases[i].event == NULL) {
            if (e != NULL)
                fail_msg("%s: event %.*s, want none", cases[i].text, (int)el,
                         e);
        } else if (e == NULL || el != strlen(cases[i].event) ||
                   memcmp(e, cases[i].event, el) != 0) {
            fail_msg("%s: event %.*s, want %s", cases[i].text, (int)el,
                     e ? e : "", cases[i].event);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_routes),
        cmocka_unit_test(test_params_and_wildcards),
        cmocka_unit_test(test_origin_lists),
        cmocka_unit_test(test_query_decode),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_json_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
