/* What request traffic can make the engine hold and send: one store entry
 * (store_value_max), one namespace's stores (store_total_max) and one
 * rendered answer (response_max). A request past a limit gets the limit's
 * error answer and a journal entry naming it, and changes no store. */
#include "test_engine_util.h"

#include "engine/expr.h"

static dp_engine_t *open_limits(size_t value_max, size_t total_max,
                                size_t response_max)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.seed = 7;
    cfg.store_value_max = value_max;
    cfg.store_total_max = total_max;
    cfg.response_max = response_max;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    return e;
}

static int set_g(dp_engine_t *e, const char *key, json_t *v, dp_err_t *err)
{
    int rc = dp_engine_store_set(e, NULL, 'g', NULL, key, v, err);
    json_decref(v);
    return rc;
}

static json_t *get_g(dp_engine_t *e, const char *key)
{
    json_t *v = NULL;
    dp_err_t err = {0};
    if (dp_engine_store_get(e, NULL, 'g', NULL, key, &v, &err) != 0)
        return NULL;
    return v;
}

static json_t *text_of(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

static size_t g_len(dp_engine_t *e, const char *key)
{
    json_t *v = get_g(e, key);
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    json_decref(v);
    return n;
}

/* The limit named by the error answer r (asserts its shape and status). */
static void expect_limit(const doppel_reply_t *r, int status, const char *limit)
{
    assert_int_equal(r->status, status);
    char *b = t_body(r);
    json_t *j = t_json(b);
    assert_string_equal(json_string_value(json_object_get(j, "code")),
                        "limit_exceeded");
    assert_string_equal(json_string_value(json_object_get(j, "limit")), limit);
    assert_true(json_is_integer(json_object_get(j, "max")));
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        "req-1");
    json_decref(j);
    free(b);
}

/* The newest journal entry's "limit" (static copy; "" when none). */
static const char *last_limit(dp_engine_t *e)
{
    static char lim[32];
    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 1, &out), 0);
    json_t *it = json_array_get(json_object_get(out, "items"), 0);
    assert_non_null(it);
    const char *l = json_string_value(json_object_get(it, "limit"));
    snprintf(lim, sizeof(lim), "%s", l ? l : "");
    json_decref(out);
    return lim;
}

/* A value that doubles at every request is stopped at store_value_max and
 * the store keeps its last good value. */
static void test_extract_growth_stops_at_value_max(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(64 * 1024, 0, 0);
    dp_err_t err = {0};
    assert_int_equal(set_g(e, "v", text_of('x', 1024), &err), 0);
    t_put(e, "{\"http\":{\"route\":\"/grow\"},"
             "\"extract\":{\"gStore\":{\"v\":\"$.gS.v$.gS.v\"}},"
             "\"response\":{\"status\":200}}");
    size_t want = 1024;
    for (int i = 0; i < 5; i++) {
        doppel_reply_t *r = t_match(e, REQ(.path = "/grow"));
        assert_int_equal(r->status, 200);
        dp_engine_reply_free(r);
        want *= 2;
        assert_int_equal(g_len(e, "v"), want);
    }
    assert_int_equal(want, 32 * 1024);
    assert_string_equal(last_limit(e), "");
    for (int i = 0; i < 3; i++) {
        doppel_reply_t *r = t_match(e, REQ(.path = "/grow"));
        expect_limit(r, 507, "store_value_max");
        dp_engine_reply_free(r);
        assert_int_equal(g_len(e, "v"), 32 * 1024);
        assert_string_equal(last_limit(e), "store_value_max");
    }
    dp_engine_close(e);
}

/* Two extracts whose sum passes store_total_max: neither is stored. */
static void test_extract_all_or_nothing_at_total_max(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(8 * 1024, 12 * 1024, 0);
    t_put(e, "{\"http\":{\"method\":\"POST\",\"route\":\"/two\"},"
             "\"extract\":{\"gStore\":{\"a\":\"$.req.a\",\"b\":\"$.req.b\"}},"
             "\"response\":{\"status\":200}}");
    char *body = malloc(20000);
    snprintf(body, 20000, "{\"a\":\"%06000d\",\"b\":\"%06000d\"}", 1, 2);
    doppel_reply_t *r =
        t_match(e, REQ(.method = "POST", .path = "/two", .body = body));
    assert_int_equal(r->status, 200);
    dp_engine_reply_free(r);
    assert_int_equal(g_len(e, "a"), 6000);
    /* a grows to 7000 (fits alone), b to 7000: 14000 > 12 KiB in total */
    snprintf(body, 20000, "{\"a\":\"%07000d\",\"b\":\"%07000d\"}", 3, 4);
    r = t_match(e, REQ(.method = "POST", .path = "/two", .body = body));
    expect_limit(r, 507, "store_total_max");
    dp_engine_reply_free(r);
    assert_int_equal(g_len(e, "a"), 6000);
    assert_int_equal(g_len(e, "b"), 6000);
    assert_string_equal(last_limit(e), "store_total_max");
    free(body);
    dp_engine_close(e);
}

/* One request that would render far more than response_max (the same store
 * value many times over) is refused, and its extract is taken back. */
static void test_response_max_refuses_and_undoes_extract(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(0, 0, 256 * 1024);
    dp_err_t err = {0};
    assert_int_equal(set_g(e, "v", text_of('y', 60 * 1024), &err), 0);
    assert_int_equal(set_g(e, "seen", json_string("before"), &err), 0);
    /* 64 copies of a 60 KiB value: 3.8 MB wanted, 256 KiB allowed */
    json_t *tmpl = json_array();
    for (int i = 0; i < 64; i++)
        json_array_append_new(tmpl, json_string("$.gS.v"));
    json_t *m = json_pack("{s:{s:s}, s:{s:{s:s}}, s:{s:o}}", "http", "route",
                          "/big", "extract", "gStore", "seen", "after",
                          "response", "payload", tmpl);
    char *txt = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    t_put(e, txt);
    free(txt);
    doppel_reply_t *r = t_match(e, REQ(.path = "/big"));
    expect_limit(r, 500, "response_max");
    assert_true(r->body_len < 1024);
    dp_engine_reply_free(r);
    json_t *seen = get_g(e, "seen");
    assert_string_equal(json_string_value(seen), "before");
    json_decref(seen);
    assert_string_equal(last_limit(e), "response_max");

    /* interpolated text counts too */
    t_put(e, "{\"http\":{\"route\":\"/txt\"},\"response\":{\"payload\":"
             "\"$.gS.v $.gS.v $.gS.v $.gS.v $.gS.v $.gS.v\"}}");
    r = t_match(e, REQ(.path = "/txt"));
    expect_limit(r, 500, "response_max");
    dp_engine_reply_free(r);
    /* and an answer within the limit is untouched */
    t_put(e, "{\"http\":{\"route\":\"/ok\"},\"response\":{\"payload\":"
             "[\"$.gS.v\",\"$.gS.v\",\"$.gS.v\"]}}");
    r = t_match(e, REQ(.path = "/ok"));
    assert_int_equal(r->status, 200);
    assert_true(r->body_len > 3 * 60 * 1024);
    dp_engine_reply_free(r);
    assert_string_equal(last_limit(e), "");
    dp_engine_close(e);
}

/* A static body longer than response_max is refused the same way. */
static void test_response_max_static_body(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(0, 0, 1024);
    json_t *m = json_pack("{s:{s:s}, s:{s:o}}", "http", "route", "/s",
                          "response", "payload", text_of('z', 2000));
    char *txt = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    t_put(e, txt);
    free(txt);
    doppel_reply_t *r = t_match(e, REQ(.path = "/s"));
    expect_limit(r, 500, "response_max");
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

/* templates/render previews under the same response_max. */
static void test_preview_response_max(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(0, 0, 4096);
    json_t *t = t_json("[\"$.fake.Paragraph(4096)\"]"), *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_render_template(e, NULL, t, NULL, &out, &err),
                     -EFBIG);
    assert_null(out);
    assert_int_equal(err.status, 500);
    assert_string_equal(err.code, "limit_exceeded");
    json_decref(t);
    dp_engine_close(e);
}

/* The admin API's store writes are held to the same limits: 413 for an
 * entry over store_value_max, 507 past store_total_max; nothing stored. */
static void test_admin_store_limits(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(4096, 10000, 0);
    dp_err_t err = {0};
    assert_int_equal(set_g(e, "big", text_of('a', 5000), &err), -EFBIG);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "limit_exceeded");
    assert_null(get_g(e, "big"));
    assert_int_equal(set_g(e, "a", text_of('a', 4000), &err), 0);
    assert_int_equal(set_g(e, "b", text_of('b', 4000), &err), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(set_g(e, "c", text_of('c', 4000), &err), -ENOSPC);
    assert_int_equal(err.status, 507);
    assert_string_equal(err.code, "limit_exceeded");
    assert_null(get_g(e, "c"));
    /* replacing a key counts only the difference */
    assert_int_equal(set_g(e, "b", text_of('b', 4080), &err), 0);
    /* deleting frees room */
    assert_int_equal(dp_engine_store_delete(e, NULL, 'g', NULL, "a", &err), 0);
    assert_int_equal(set_g(e, "c", text_of('c', 4000), &err), 0);
    /* another namespace has its own total */
    json_t *v = text_of('d', 4000);
    assert_int_equal(dp_engine_store_set(e, "other", 'g', NULL, "d", v, &err),
                     0);
    json_decref(v);
    dp_engine_close(e);
}

/* 0 in the config means the documented defaults (1 MiB an entry). */
static void test_default_limits(void **state)
{
    (void)state;
    dp_engine_t *e = open_limits(0, 0, 0);
    dp_err_t err = {0};
    assert_int_equal(set_g(e, "v", text_of('a', 1024 * 1024 - 16), &err), 0);
    assert_int_equal(set_g(e, "w", text_of('a', 1024 * 1024 + 1), &err),
                     -EFBIG);
    dp_engine_close(e);
}

/* The template budget on its own: the render stops where it passes. */
static void test_tmpl_budget(void **state)
{
    (void)state;
    json_t *src = t_json("[\"$.fake.Paragraph(4096)\", "
                         "\"$.fake.Paragraph(4096)\", "
                         "\"$.fake.Paragraph(4096)\"]");
    dp_tmpl_t *t = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_tmpl_compile(src, "payload", &t, &err), 0);
    uint64_t rng = 1;
    dp_tmpl_env_t env = {.rng = &rng, .max_bytes = 100000};
    json_t *out = NULL;
    assert_int_equal(dp_tmpl_render_ex(t, &env, &out), -EFBIG);
    assert_null(out);
    env.max_bytes = 0;
    assert_int_equal(dp_tmpl_render_ex(t, &env, &out), 0);
    assert_int_equal(json_array_size(out), 3);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_growth_stops_at_value_max),
        cmocka_unit_test(test_extract_all_or_nothing_at_total_max),
        cmocka_unit_test(test_response_max_refuses_and_undoes_extract),
        cmocka_unit_test(test_response_max_static_body),
        cmocka_unit_test(test_preview_response_max),
        cmocka_unit_test(test_admin_store_limits),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_tmpl_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
