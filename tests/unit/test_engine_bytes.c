/* Bytes that are not UTF-8 in what a client sends (a Latin-1 header value,
 * a %FF in the query or the path): the engine matches and answers such a
 * request, with each bad sequence read as U+FFFD, where it used to fail the
 * match (-ENOMEM, a 500), because jansson prints no string that is not
 * UTF-8 and the journal and the templates print them. Also the converter
 * itself, on the sequences RFC 3629 forbids. */
#include "test_engine_util.h"

#include "engine/engine_internal.h"

#define FFFD "\xEF\xBF\xBD"

static void expect(const char *in, size_t n, const char *want, size_t wn)
{
    json_t *v = dp_json_lossy(in, n);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), wn);
    assert_memory_equal(json_string_value(v), want, wn);
    char *dumped = json_dumps(v, JSON_ENCODE_ANY); /* printable now */
    assert_non_null(dumped);
    free(dumped);
    json_decref(v);
}

#define EXPECT(in, want) expect(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void test_lossy_conversion(void **st)
{
    (void)st;
    EXPECT("plain", "plain");
    EXPECT("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", /* valid: kept */
           "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    EXPECT("caf\xE9", "caf" FFFD);             /* Latin-1 */
    EXPECT("\xC0\x80", FFFD FFFD);             /* overlong NUL */
    EXPECT("\xE0\x80\xAF", FFFD FFFD FFFD);    /* overlong '/' */
    EXPECT("\xED\xA0\x80", FFFD FFFD FFFD);    /* a surrogate */
    EXPECT("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    EXPECT("\xE2\x82", FFFD FFFD);             /* cut short */
    EXPECT("a\xFF" "b", "a" FFFD "b");
    EXPECT("", "");
    json_t *v = dp_json_lossy(NULL, 0);
    assert_string_equal(json_string_value(v), "");
    json_decref(v);
}

static void test_request_with_bad_bytes_is_answered(void **st)
{
    (void)st;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\": {\"route\": \"/x/:id\", \"httpMethod\": \"GET\"}, "
             "\"response\": {\"statusCode\": 200, \"payload\": "
             "{\"q\": \"$.queryParam.page\", \"h\": \"$.reqHeader.X-A\", "
             "\"p\": \"$.pathParam.id\"}}}");
    doppel_reply_t *r = t_match(
        e, REQ(.path = "/x/a%FFb", .h = {"X-A", "caf\xE9", NULL},
               .q = {"page", "\xFF\xC3\xA9", NULL}));
    assert_int_equal(r->status, 200);
    char *b = t_body(r);
    json_t *j = t_json(b);
    assert_string_equal(json_string_value(json_object_get(j, "q")),
                        FFFD "\xC3\xA9");
    assert_string_equal(json_string_value(json_object_get(j, "h")),
                        "caf" FFFD);
    assert_string_equal(json_string_value(json_object_get(j, "p")),
                        "a" FFFD "b");
    json_decref(j);
    free(b);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_conditions_compare_the_replaced_text(void **st)
{
    (void)st;
    dp_engine_t *e = t_open();
    t_put(e, "{\"id\": \"latin\", \"http\": {\"route\": \"/c\", "
             "\"header\": [{\"path\": \"X-A\", \"assertAction\": "
             "\"equals\", \"value\": \"caf\xEF\xBF\xBD\"}]}, "
             "\"response\": {\"statusCode\": 200}}");
    assert_string_equal(t_who(e, REQ(.path = "/c", .h = {"X-A", "caf\xE9",
                                                         NULL})),
                        "latin");
    assert_string_equal(t_who(e, REQ(.path = "/c", .h = {"X-A", "cafe",
                                                         NULL})),
                        "");
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lossy_conversion),
        cmocka_unit_test(test_request_with_bad_bytes_is_answered),
        cmocka_unit_test(test_conditions_compare_the_replaced_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
