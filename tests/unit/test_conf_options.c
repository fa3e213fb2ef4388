/* Option values by type and range, validation of plugin sections against a
 * schema, and the [server] section. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/config.h"
#include "conf/loader.h"

static char err[1024];

#define OPT(n, t, mn, mx)                                                      \
    {                                                                          \
        n, t, 0, NULL, NULL, mn, mx,                                           \
        {                                                                      \
            NULL, NULL                                                         \
        }                                                                      \
    }

static void ok(const doppel_option_t *o, const char *text, int64_t want)
{
    int64_t v = -12345;
    int rc = dp_option_parse(o, text, &v);
    if (rc != 0)
        fail_msg("'%s' refused (%d)", text, rc);
    assert_int_equal(v, want);
}

static void bad(const doppel_option_t *o, const char *text, int want_rc)
{
    int64_t v;
    assert_int_equal(dp_option_parse(o, text, &v), want_rc);
}

static void test_int(void **st)
{
    (void)st;
    doppel_option_t any = OPT("n", DOPPEL_OPT_INT, 1, 0);
    doppel_option_t r = OPT("n", DOPPEL_OPT_INT, 1, 10);
    ok(&any, "0", 0);
    ok(&any, "-42", -42);
    ok(&any, "9223372036854775807", INT64_MAX);
    ok(&any, "-9223372036854775808", INT64_MIN);
    bad(&any, "9223372036854775808", -ERANGE);
    bad(&any, "99999999999999999999999", -ERANGE);
    bad(&any, "", -EINVAL);
    bad(&any, "-", -EINVAL);
    bad(&any, "12x", -EINVAL);
    bad(&any, " 1", -EINVAL);
    bad(&any, "1.5", -EINVAL);
    bad(&any, "lots", -EINVAL);
    ok(&r, "1", 1);
    ok(&r, "10", 10);
    bad(&r, "0", -ERANGE);
    bad(&r, "11", -ERANGE);
    bad(&r, "-1", -ERANGE);
}

static void test_bool(void **st)
{
    (void)st;
    doppel_option_t b = OPT("b", DOPPEL_OPT_BOOL, 1, 0);
    ok(&b, "true", 1);
    ok(&b, "on", 1);
    ok(&b, "yes", 1);
    ok(&b, "1", 1);
    ok(&b, "false", 0);
    ok(&b, "off", 0);
    ok(&b, "no", 0);
    ok(&b, "0", 0);
    bad(&b, "maybe", -EINVAL);
    bad(&b, "", -EINVAL);
}

static void test_size(void **st)
{
    (void)st;
    doppel_option_t s = OPT("s", DOPPEL_OPT_SIZE, 1, 0);
    doppel_option_t r = OPT("s", DOPPEL_OPT_SIZE, 1024, 1048576);
    ok(&s, "0", 0);
    ok(&s, "512", 512);
    ok(&s, "1k", 1024);
    ok(&s, "64K", 65536);
    ok(&s, "8m", 8 * 1024 * 1024);
    ok(&s, "2g", 2ll * 1024 * 1024 * 1024);
    ok(&s, "8589934591g", 8589934591ll * 1024 * 1024 * 1024);
    bad(&s, "8589934592g", -ERANGE);
    bad(&s, "1t", -EINVAL);
    bad(&s, "1kb", -EINVAL);
    bad(&s, "k", -EINVAL);
    bad(&s, "-1", -EINVAL);
    bad(&s, "1.5m", -EINVAL);
    ok(&r, "1k", 1024);
    ok(&r, "1m", 1048576);
    bad(&r, "1023", -ERANGE);
    bad(&r, "1025k", -ERANGE);
}

static void test_duration(void **st)
{
    (void)st;
    doppel_option_t d = OPT("d", DOPPEL_OPT_DURATION, 1, 0);
    doppel_option_t r = OPT("d", DOPPEL_OPT_DURATION, 10, 60000);
    ok(&d, "250", 250);
    ok(&d, "250ms", 250);
    ok(&d, "5s", 5000);
    ok(&d, "2m", 120000);
    ok(&d, "0", 0);
    bad(&d, "1h", -EINVAL);
    bad(&d, "5 s", -EINVAL);
    bad(&d, "s", -EINVAL);
    bad(&d, "5S", -EINVAL);
    bad(&d, "9223372036854775807m", -ERANGE);
    ok(&r, "10ms", 10);
    ok(&r, "1m", 60000);
    bad(&r, "9", -ERANGE);
    bad(&r, "61s", -ERANGE);
}

static void test_string_and_unknown_type(void **st)
{
    (void)st;
    doppel_option_t s = OPT("s", DOPPEL_OPT_STRING, 1, 0);
    doppel_option_t u = OPT("u", 99, 1, 0);
    ok(&s, "anything at all", 0);
    ok(&s, "", 0);
    bad(&u, "1", -EINVAL);
}

static void test_expects(void **st)
{
    (void)st;
    char b[160];
    doppel_option_t o = OPT("x", DOPPEL_OPT_INT, 1, 10);
    dp_option_expects(&o, b, sizeof(b));
    assert_string_equal(b, "an integer in [1, 10]");
    o.min = 1;
    o.max = 0;
    dp_option_expects(&o, b, sizeof(b));
    assert_string_equal(b, "an integer");
    o.type = DOPPEL_OPT_BOOL;
    dp_option_expects(&o, b, sizeof(b));
    assert_string_equal(b, "a boolean (true/false, yes/no, on/off, 1/0)");
    o = (doppel_option_t)OPT("x", DOPPEL_OPT_SIZE, 1024, 2048);
    dp_option_expects(&o, b, sizeof(b));
    assert_string_equal(b, "a size in [1024, 2048] bytes (suffixes k, m, g)");
    o = (doppel_option_t)OPT("x", DOPPEL_OPT_DURATION, 1, 0);
    dp_option_expects(&o, b, sizeof(b));
    assert_string_equal(b, "a duration in ms (suffixes ms, s, m)");
    assert_string_equal(dp_option_type_name(DOPPEL_OPT_SIZE), "size");
    assert_string_equal(dp_option_type_name(77), "?");
}

/* The schema of the SDK example plugin "hello", plus one of each other
 * type. */
static const doppel_option_t hello_opts[] = {
    {"greeting", DOPPEL_OPT_STRING, 0, "hello", "text", 1, 0, {NULL, NULL}},
    {"repeat", DOPPEL_OPT_INT, 0, "1", "times", 1, 10, {NULL, NULL}},
    {"token",
     DOPPEL_OPT_STRING,
     DOPPEL_OPT_REQUIRED,
     NULL,
     "t",
     1,
     0,
     {NULL, NULL}},
    {"loud", DOPPEL_OPT_BOOL, 0, "no", "", 1, 0, {NULL, NULL}},
    {"buf", DOPPEL_OPT_SIZE, 0, "4k", "", 1024, 1048576, {NULL, NULL}},
    {"wait", DOPPEL_OPT_DURATION, 0, NULL, "", 1, 0, {NULL, NULL}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {NULL, NULL}},
};

static doppel_plugin_t hello_desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .name = "hello",
    .kind = DOPPEL_KIND_FEATURE,
    .options = hello_opts,
};

static int validate(const char *text, dp_options_t **o)
{
    dp_conf_t *c = NULL;
    if (dp_conf_parse(text, "plugins.conf", &c, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    int rc = dp_options_validate(&hello_desc, &c->sections[0], "plugins.conf",
                                 o, err, sizeof(err));
    dp_conf_free(c);
    return rc;
}

static void test_validate_ok_defaults(void **st)
{
    (void)st;
    dp_options_t *o = NULL;
    assert_int_equal(validate("[h1]\nplugin = hello\nenabled = true\n"
                              "path = /x.so\ntoken = abc\nrepeat = 7\n"
                              "buf = 8k\n",
                              &o),
                     0);
    assert_int_equal(o->n, 6);
    const dp_option_value_t *v = dp_options_get(o, "greeting");
    assert_true(v->set);
    assert_string_equal(v->text, "hello");
    v = dp_options_get(o, "repeat");
    assert_string_equal(v->text, "7");
    assert_int_equal(v->num, 7);
    assert_int_equal(dp_options_get(o, "buf")->num, 8192);
    assert_int_equal(dp_options_get(o, "loud")->num, 0);
    assert_string_equal(dp_options_get(o, "token")->text, "abc");
    v = dp_options_get(o, "wait");
    assert_false(v->set);
    assert_null(v->text);
    assert_null(dp_options_get(o, "nope"));
    assert_ptr_equal(dp_options_get(o, "buf")->opt, &hello_opts[4]);
    dp_options_free(o);
}

static void expect_refusal(const char *text, const char *msg)
{
    dp_options_t *o = (dp_options_t *)0x1;
    assert_int_equal(validate(text, &o), -EINVAL);
    assert_null(o);
    assert_string_equal(err, msg);
}

static void test_validate_refusals(void **st)
{
    (void)st;
    expect_refusal("[h1]\n\n\n\n\n\n\n\n\n\n\ntoken = x\ncolour = red\n",
                   "plugins.conf:13: plugin 'hello' instance 'h1': unknown "
                   "option 'colour' (known: greeting, repeat, token, loud, "
                   "buf, wait)");
    expect_refusal("[h1]\ntoken = x\nrepeat = lots\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'repeat' expects an integer in [1, 10], found 'lots'");
    expect_refusal("[h1]\ntoken = x\nrepeat = 11\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'repeat' expects an integer in [1, 10], found '11'");
    expect_refusal("[h1]\ntoken = x\nloud = perhaps\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'loud' expects a boolean (true/false, yes/no, on/off, "
                   "1/0), found 'perhaps'");
    expect_refusal("[h1]\ntoken = x\nbuf = 2g\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'buf' expects a size in [1024, 1048576] bytes "
                   "(suffixes k, m, g), found '2g'");
    expect_refusal("[h1]\ntoken = x\nwait = 1h\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'wait' expects a duration in ms (suffixes ms, s, m), "
                   "found '1h'");
    expect_refusal("\n[h1]\ngreeting = hi\n",
                   "plugins.conf:2: plugin 'hello' instance 'h1': missing "
                   "required option 'token'");
    /* Control characters in a value are masked in the message. */
    expect_refusal("[h1]\ntoken = x\nrepeat = \"\x1b[2J\"\n",
                   "plugins.conf:3: plugin 'hello' instance 'h1': option "
                   "'repeat' expects an integer in [1, 10], found '?[2J'");
}

static void test_validate_no_schema(void **st)
{
    (void)st;
    doppel_plugin_t d = hello_desc;
    dp_conf_t *c = NULL;
    dp_options_t *o = NULL;
    d.options = NULL;
    d.name = "bare";
    assert_int_equal(
        dp_conf_parse("[b]\nenabled = on\n", "p.conf", &c, err, sizeof(err)),
        0);
    assert_int_equal(dp_options_validate(&d, &c->sections[0], "p.conf", &o, err,
                                         sizeof(err)),
                     0);
    assert_int_equal(o->n, 0);
    dp_options_free(o);
    dp_conf_free(c);
    assert_int_equal(
        dp_conf_parse("[b]\nx = 1\n", "p.conf", &c, err, sizeof(err)), 0);
    assert_int_equal(dp_options_validate(&d, &c->sections[0], "p.conf", &o, err,
                                         sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "p.conf:2: plugin 'bare' instance 'b': unknown "
                             "option 'x' (known: none)");
    dp_conf_free(c);
}

/* ---- [server] ---------------------------------------------------------- */

static int server(const char *text)
{
    dp_conf_t *c = NULL;
    if (dp_conf_parse(text, "s.conf", &c, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    free(c->path);
    c->path = strdup("s.conf");
    int rc = dp_conf_server_validate(c, err, sizeof(err));
    dp_conf_free(c);
    return rc;
}

static void test_server_ok(void **st)
{
    (void)st;
    assert_int_equal(server("[http]\nenabled = true\n"), 0);
    assert_int_equal(server("[server]\nlisten = 0.0.0.0:0\nworkers = 8\n"
                            "data = /var/lib/doppel\nmax_header_bytes = 32k\n"
                            "max_body_bytes = 1g\nidle_timeout = 5m\n"
                            "header_timeout = 500ms\nbody_timeout = 1000\n"
                            "drain_timeout = 0\njournal_size = 5\n"),
                     0);
    assert_int_equal(server("[server]\nlisten = [::1]:8080\n"), 0);
    assert_int_equal(server("[server]\ndefault_mode = mock\n"
                            "redact_headers = \"X-Token, X-Secret\"\n"
                            "record_body_max = 64k\nrecord_sequence_max = 5\n"
                            "mock_versions_max = 0\n"),
                     0);
    assert_int_equal(server("[server]\nlisten = localhost:65535\n"), 0);
}

static void server_bad(const char *text, const char *msg)
{
    assert_int_equal(server(text), -EINVAL);
    assert_string_equal(err, msg);
}

static void test_server_refusals(void **st)
{
    (void)st;
    server_bad("[server]\ncolour = red\n",
               "s.conf:2: [server]: unknown option 'colour' (known: listen, "
               "workers, data, max_header_bytes, max_body_bytes, "
               "idle_timeout, header_timeout, body_timeout, drain_timeout, "
               "max_connections, "
               "journal_size, journal_memory, store_value_max, "
               "store_total_max, response_max, template_file_max, auth, "
               "metrics_auth, allow_private_upstreams, "
               "default_mode, redact_headers, record_body_max, "
               "record_sequence_max, mock_versions_max)");
    server_bad("[server]\nmock_versions_max = 1001\n",
               "s.conf:2: [server]: option 'mock_versions_max' expects an "
               "integer in [0, 1000], found '1001'");
    server_bad("[server]\ndefault_mode = record\n",
               "s.conf:2: [server]: option 'default_mode' expects "
               "PASSTHROUGH, LEARN, MOCK or SPY, found 'record'");
    server_bad("[server]\nredact_headers = \"X-A, X:B\"\n",
               "s.conf:2: [server]: option 'redact_headers' expects header "
               "names separated by commas, or -, found 'X-A, X:B'");
    server_bad("[server]\nrecord_sequence_max = 0\n",
               "s.conf:2: [server]: option 'record_sequence_max' expects an "
               "integer in [1, 100000], found '0'");
    server_bad("[server]\nworkers = lots\n",
               "s.conf:2: [server]: option 'workers' expects an integer in "
               "[0, 1024], found 'lots'");
    server_bad("[server]\nworkers = -1\n",
               "s.conf:2: [server]: option 'workers' expects an integer in "
               "[0, 1024], found '-1'");
    const char *bad_listen[] = {
        "5770",           "127.0.0.1", "127.0.0.1:", ":80",  "127.0.0.1:65536",
        "127.0.0.1:http", "::1:80",    "[::1]80",    "a b:1"};
    for (size_t i = 0; i < sizeof(bad_listen) / sizeof(*bad_listen); i++) {
        char text[128], msg[256];
        snprintf(text, sizeof(text), "[server]\nlisten = \"%s\"\n",
                 bad_listen[i]);
        snprintf(msg, sizeof(msg),
                 "s.conf:2: [server]: option 'listen' expects HOST:PORT (or "
                 "[V6]:PORT, port 0-65535), found '%s'",
                 bad_listen[i]);
        server_bad(text, msg);
    }
    server_bad("[server]\ndata =\n",
               "s.conf:2: [server]: option 'data' expects a non-empty "
               "string, found ''");
    server_bad("[server]\nmax_header_bytes = 10\n",
               "s.conf:2: [server]: option 'max_header_bytes' expects a size "
               "in [1024, 16777216] bytes (suffixes k, m, g), found '10'");
    server_bad("[server]\nidle_timeout = forever\n",
               "s.conf:2: [server]: option 'idle_timeout' expects a duration "
               "in [1, 86400000] ms (suffixes ms, s, m), found 'forever'");
    server_bad("[server]\njournal_size = 1e6\n",
               "s.conf:2: [server]: option 'journal_size' expects an integer "
               "in [0, 100000000], found '1e6'");
}

static void test_server_read(void **st)
{
    (void)st;
    dp_conf_server_t s;
    assert_int_equal(dp_conf_server_read(NULL, &s, err, sizeof(err)), 0);
    assert_string_equal(s.host, "127.0.0.1");
    assert_int_equal(s.port, 5770);
    assert_int_equal(s.workers, 0);
    assert_string_equal(s.data, "./doppel-data");
    assert_string_equal(s.default_mode, "SPY");
    assert_string_equal(s.redact_headers, "");
    assert_int_equal(s.record_body_max, 1024 * 1024);
    assert_int_equal(s.record_sequence_max, 100);
    assert_int_equal(s.mock_versions_max, 20);
    assert_int_equal(s.max_header_bytes, 16384);
    assert_int_equal(s.max_body_bytes, 8 * 1024 * 1024);
    assert_int_equal(s.idle_timeout_ms, 60000);
    assert_int_equal(s.header_timeout_ms, 10000);
    assert_int_equal(s.body_timeout_ms, 30000);
    assert_int_equal(s.drain_timeout_ms, 30000);
    assert_int_equal(s.journal_size, 10000);
    assert_int_equal(s.engine_limits.journal_memory, 64 * 1024 * 1024);
    assert_int_equal(s.engine_limits.store_value_max, 1024 * 1024);
    assert_int_equal(s.engine_limits.store_total_max, 64 * 1024 * 1024);
    assert_int_equal(s.engine_limits.response_max, 16 * 1024 * 1024);
    assert_int_equal(s.engine_limits.template_file_max, 1024 * 1024);

    dp_conf_t *c = NULL;
    assert_int_equal(dp_conf_parse("[server]\nlisten = [::1]:0\nworkers = 3\n"
                                   "data = /tmp/d\nmax_body_bytes = 1k\n"
                                   "drain_timeout = 2s\n"
                                   "journal_memory = 1m\n"
                                   "store_value_max = 2k\n"
                                   "store_total_max = 8k\n"
                                   "response_max = 4k\n"
                                   "template_file_max = 2k\n",
                                   "s.conf", &c, err, sizeof(err)),
                     0);
    assert_int_equal(dp_conf_server_read(c, &s, err, sizeof(err)), 0);
    assert_string_equal(s.host, "::1");
    assert_int_equal(s.port, 0);
    assert_int_equal(s.workers, 3);
    assert_string_equal(s.data, "/tmp/d");
    assert_int_equal(s.max_body_bytes, 1024);
    assert_int_equal(s.drain_timeout_ms, 2000);
    assert_int_equal(s.journal_size, 10000);
    assert_int_equal(s.engine_limits.journal_memory, 1024 * 1024);
    assert_int_equal(s.engine_limits.store_value_max, 2048);
    assert_int_equal(s.engine_limits.store_total_max, 8192);
    assert_int_equal(s.engine_limits.response_max, 4096);
    assert_int_equal(s.engine_limits.template_file_max, 2048);
    dp_conf_free(c);
}

static void test_enabled(void **st)
{
    (void)st;
    dp_conf_t *c = NULL;
    assert_int_equal(dp_conf_parse("[a]\nenabled = yes\n[b]\nx = 1\n"
                                   "[c]\nenabled = off\n[d]\nenabled = sure\n",
                                   "e.conf", &c, err, sizeof(err)),
                     0);
    free(c->path);
    c->path = strdup("e.conf");
    assert_int_equal(dp_conf_enabled(c, &c->sections[0], err, sizeof(err)), 1);
    assert_int_equal(dp_conf_enabled(c, &c->sections[1], err, sizeof(err)), 0);
    assert_int_equal(dp_conf_enabled(c, &c->sections[2], err, sizeof(err)), 0);
    assert_int_equal(dp_conf_enabled(c, &c->sections[3], err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "e.conf:8: [d]: option 'enabled' expects a "
                             "boolean (true/false, yes/no, on/off, 1/0), "
                             "found 'sure'");
    dp_conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_string_and_unknown_type),
        cmocka_unit_test(test_expects),
        cmocka_unit_test(test_validate_ok_defaults),
        cmocka_unit_test(test_validate_refusals),
        cmocka_unit_test(test_validate_no_schema),
        cmocka_unit_test(test_server_ok),
        cmocka_unit_test(test_server_refusals),
        cmocka_unit_test(test_server_read),
        cmocka_unit_test(test_enabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
