/* Number arithmetic on the request path: $.increment saturates at the ends
 * of int64 instead of overflowing (undefined behaviour, a wrap to INT64_MIN
 * in a release build), store values that are doubles out of the int64 range
 * (1e300, what JSON lets anyone store) are never cast to an integer, and the
 * templates/render preview follows the same rules. */
#include <math.h>

#include "test_engine_util.h"

/* Sets gS[key] of the sandbox namespace to the JSON text val. */
static void set_g(dp_engine_t *e, const char *key, const char *val)
{
    json_t *v = t_json(val);
    dp_err_t err = {0};
    assert_int_equal(dp_engine_store_set(e, NULL, 'g', NULL, key, v, &err), 0);
    json_decref(v);
}

static json_t *get_g(dp_engine_t *e, const char *key)
{
    json_t *v = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, key, &v, &err), 0);
    return v;
}

/* The "n" member of the answer to GET path, as JSON text (static). */
static const char *answer_n(dp_engine_t *e, const char *path)
{
    static char txt[64];
    doppel_reply_t *r = t_match(e, REQ(.path = path));
    char *b = t_body(r);
    assert_int_equal(r->status, 200);
    json_t *j = t_json(b);
    char *n = json_dumps(json_object_get(j, "n"), JSON_ENCODE_ANY);
    snprintf(txt, sizeof(txt), "%s", n ? n : "(none)");
    free(n);
    json_decref(j);
    free(b);
    dp_engine_reply_free(r);
    return txt;
}

static void test_increment_saturates_at_int64_max(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/up\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n)\"}}}");
    t_put(e, "{\"http\":{\"route\":\"/big\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n, 9223372036854775807)\"}}}");
    set_g(e, "n", "9223372036854775806");
    assert_string_equal(answer_n(e, "/up"), "9223372036854775807");
    /* one past the end: stays at the end instead of wrapping */
    assert_string_equal(answer_n(e, "/up"), "9223372036854775807");
    assert_string_equal(answer_n(e, "/big"), "9223372036854775807");
    json_t *v = get_g(e, "n");
    assert_true(json_is_integer(v));
    assert_true(json_integer_value(v) == INT64_MAX);
    json_decref(v);
    dp_engine_close(e);
}

static void test_increment_saturates_at_int64_min(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/down\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n, -1)\"}}}");
    t_put(e, "{\"http\":{\"route\":\"/min\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n, -9223372036854775808)\"}}}");
    set_g(e, "n", "-9223372036854775807");
    assert_string_equal(answer_n(e, "/down"), "-9223372036854775808");
    assert_string_equal(answer_n(e, "/down"), "-9223372036854775808");
    assert_string_equal(answer_n(e, "/min"), "-9223372036854775808");
    set_g(e, "n", "5");
    assert_string_equal(answer_n(e, "/min"), "-9223372036854775803");
    dp_engine_close(e);
}

/* A string counter ("99999999999999999999" is past int64) and doubles out of
 * the int64 range (1e300, -1e300) are clamped to the nearest end before
 * the step is added; a double in range is truncated toward zero, as
 * before. */
static void test_increment_of_out_of_range_values(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/up\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n)\"}}}");
    t_put(e, "{\"http\":{\"route\":\"/down\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment($.gS.n, -1)\"}}}");
    set_g(e, "n", "1e300");
    assert_string_equal(answer_n(e, "/up"), "9223372036854775807");
    set_g(e, "n", "-1e300");
    assert_string_equal(answer_n(e, "/up"), "-9223372036854775807");
    set_g(e, "n", "-1e300");
    assert_string_equal(answer_n(e, "/down"), "-9223372036854775808");
    set_g(e, "n", "9.3e18");
    assert_string_equal(answer_n(e, "/up"), "9223372036854775807");
    set_g(e, "n", "\"99999999999999999999\"");
    assert_string_equal(answer_n(e, "/up"), "9223372036854775807");
    set_g(e, "n", "\"-99999999999999999999\"");
    assert_string_equal(answer_n(e, "/down"), "-9223372036854775808");
    set_g(e, "n", "41.9");
    assert_string_equal(answer_n(e, "/up"), "42");
    set_g(e, "n", "-41.9");
    assert_string_equal(answer_n(e, "/down"), "-42");
    dp_engine_close(e);
}

static const char *preview_n(dp_engine_t *e, const char *tmpl)
{
    static char txt[64];
    json_t *t = t_json(tmpl), *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_render_template(e, NULL, t, NULL, &out, &err),
                     0);
    char *n = json_dumps(json_object_get(out, "n"), JSON_ENCODE_ANY);
    snprintf(txt, sizeof(txt), "%s", n ? n : "(none)");
    free(n);
    json_decref(out);
    json_decref(t);
    return txt;
}

/* templates/render shows what $.increment would store, with the same
 * saturation, and stores nothing. */
static void test_preview_increment_saturates(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    set_g(e, "n", "9223372036854775807");
    assert_string_equal(preview_n(e, "{\"n\":\"$.increment($.gS.n)\"}"),
                        "9223372036854775807");
    set_g(e, "n", "-9223372036854775808");
    assert_string_equal(preview_n(e, "{\"n\":\"$.increment($.gS.n, -5)\"}"),
                        "-9223372036854775808");
    set_g(e, "n", "1e300");
    assert_string_equal(preview_n(e, "{\"n\":\"$.increment($.gS.n)\"}"),
                        "9223372036854775807");
    set_g(e, "n", "-1e300");
    assert_string_equal(preview_n(e, "{\"n\":\"$.increment($.gS.n, 0)\"}"),
                        "-9223372036854775808");
    set_g(e, "n", "\"99999999999999999999\"");
    assert_string_equal(preview_n(e, "{\"n\":\"$.increment($.gS.n)\"}"),
                        "9223372036854775807");
    json_t *v = get_g(e, "n");
    assert_string_equal(json_string_value(v), "99999999999999999999");
    json_decref(v);
    dp_engine_close(e);
}

/* FloatRange over the whole double range: the span (hi - lo) is infinite,
 * which used to give the upper bound every time (inf clamped); the values
 * must be finite, in range and spread out. */
static void test_float_range_over_whole_doubles(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/f\"},\"response\":{\"payload\":"
             "{\"n\":\"$.fake.FloatRange(-1.7e308, 1.7e308)\"}}}");
    char first[64] = "";
    int differ = 0;
    for (int i = 0; i < 20; i++) {
        const char *n = answer_n(e, "/f");
        if (i == 0)
            snprintf(first, sizeof(first), "%s", n);
        else
            differ |= strcmp(first, n) != 0;
        char *end;
        double d = strtod(n, &end);
        if (*end != '\0' || !isfinite(d))
            fail_msg("FloatRange rendered %s", n);
        assert_true(d >= -1.7e308 && d <= 1.7e308);
    }
    assert_true(differ);
    dp_engine_close(e);
}

static int64_t late_clock(void *ud)
{
    (void)ud;
    return INT64_MAX - 5;
}

/* expireAt = createdAt + ttl saturates: a clock near the end of int64 (a
 * test clock, or a createdAt read back from storage) must not overflow. */
static void test_expire_at_saturates(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, late_clock, NULL);
    t_put(e, "{\"ttl\":100,\"http\":{\"route\":\"/t\"},\"response\":"
             "{\"status\":200}}");
    assert_string_not_equal(t_who(e, REQ(.path = "/t")), "");
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_increment_saturates_at_int64_max),
        cmocka_unit_test(test_increment_saturates_at_int64_min),
        cmocka_unit_test(test_increment_of_out_of_range_values),
        cmocka_unit_test(test_preview_increment_saturates),
        cmocka_unit_test(test_float_range_over_whole_doubles),
        cmocka_unit_test(test_expire_at_saturates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
