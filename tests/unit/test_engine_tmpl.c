/* Templates: every form whole-value and embedded, missing data, escapes,
 * literal look-alikes, store reads and increments through a test-local
 * store, and compile errors with exact field paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/expr.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (v == NULL)
        fail_msg("bad test JSON '%s': %s", text, e.text);
    return v;
}

/* ---- a fake environment with a test-local store ------------------------ */

typedef struct fake_store {
    json_t *scopes[3]; /* g, c, m: objects key -> value */
    int gets, incrs;
    char last_key[64];
    dp_store_scope_t last_scope;
} fake_store_t;

static json_t *scope_obj(fake_store_t *s, dp_store_scope_t sc)
{
    return s->scopes[sc == DP_SCOPE_GLOBAL ? 0 : sc == DP_SCOPE_CHAIN ? 1 : 2];
}

static json_t *fs_get(void *ud, dp_store_scope_t scope, const char *key)
{
    fake_store_t *s = ud;
    s->gets++;
    s->last_scope = scope;
    snprintf(s->last_key, sizeof(s->last_key), "%s", key);
    return json_incref(json_object_get(scope_obj(s, scope), key));
}

static int64_t fs_incr(void *ud, dp_store_scope_t scope, const char *key,
                       int64_t step)
{
    fake_store_t *s = ud;
    s->incrs++;
    s->last_scope = scope;
    snprintf(s->last_key, sizeof(s->last_key), "%s", key);
    json_t *o = scope_obj(s, scope);
    json_t *cur = json_object_get(o, key);
    int64_t v = (json_is_integer(cur) ? json_integer_value(cur) : 0) + step;
    json_object_set_new(o, key, json_integer(v));
    return v;
}

typedef struct fixture {
    fake_store_t store;
    json_t *req, *path, *query, *headers;
    uint64_t rng;
    dp_tmpl_env_t env;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->store.scopes[0] = J("{\"k\": \"global\", \"user\": {\"name\": \"Ann\","
                           " \"tags\": [\"a\", \"b\"]}, \"count\": 41}");
    f->store.scopes[1] = J("{\"k\": \"chain\"}");
    f->store.scopes[2] = J("{\"k\": \"mock\"}");
    f->req = J("{\"name\": \"Bob\", \"age\": 42, \"user\": {\"id\": 7,"
               " \"roles\": [\"admin\", \"dev\"]}, \"items\": [{\"sku\": "
               "\"A1\"}, {\"sku\": \"B2\"}], \"x.y\": \"dotted\", \"n\": null,"
               " \"price\": 9.95, \"whole\": 3.0}");
    f->path = J("{\"id\": \"123\", \"slug\": \"hello\"}");
    f->query = J("{\"page\": \"2\", \"q\": \"shoes\"}");
    f->headers = J("{\"x-api-key\": [\"k1\", \"k2\"], \"accept\": "
                   "[\"text/plain\"]}");
    f->rng = 0x1234567u;
    f->env.req = f->req;
    f->env.path_params = f->path;
    f->env.query_params = f->query;
    f->env.headers = f->headers;
    f->env.store_get = fs_get;
    f->env.store_incr = fs_incr;
    f->env.ud = &f->store;
    f->env.rng = &f->rng;
    f->env.now = 1700000000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++)
        json_decref(f->store.scopes[i]);
    json_decref(f->req);
    json_decref(f->path);
    json_decref(f->query);
    json_decref(f->headers);
    free(f);
    return 0;
}

static dp_tmpl_t *compile_ok(const json_t *v)
{
    dp_tmpl_t *t = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    if (dp_tmpl_compile(v, "response.payload", &t, &err) != 0)
        fail_msg("template did not compile: %s (%s)", err.message, err.field);
    return t;
}

/* Renders the JSON template text and compares with the expected JSON. */
static void check(fixture_t *f, const char *tmpl, const char *expected)
{
    json_t *v = J(tmpl);
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &f->env);
    json_t *want = J(expected);
    assert_non_null(out);
    if (!json_equal(out, want)) {
        char *got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("template %s: got %s, want %s", tmpl, got, expected);
    }
    json_decref(want);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

/* Renders a single string template and returns the rendered string. */
static void check_str(fixture_t *f, const char *tmpl, const char *expected)
{
    json_t *v = json_string(tmpl);
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &f->env);
    assert_non_null(out);
    if (!json_is_string(out)) {
        char *got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("template '%s': got %s, want string '%s'", tmpl, got,
                 expected);
    }
    assert_string_equal(json_string_value(out), expected);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

/* ---- tests -------------------------------------------------------------- */

static void test_static(void **state)
{
    fixture_t *f = *state;
    json_t *v = J("{\"a\": [1, \"two\", {\"b\": null}], \"price\": \"$.50 "
                  "off\", \"esc\": \"$$.req\"}");
    dp_tmpl_t *t = compile_ok(v);
    assert_true(dp_tmpl_is_static(t));
    json_t *out = dp_tmpl_render(t, NULL);
    json_t *want = J("{\"a\": [1, \"two\", {\"b\": null}], \"price\": \"$.50 "
                     "off\", \"esc\": \"$.req\"}");
    assert_true(json_equal(out, want));
    /* Each render is a fresh value the caller may change. */
    json_t *out2 = dp_tmpl_render(t, &f->env);
    assert_ptr_not_equal(out, out2);
    assert_true(json_equal(out2, want));
    json_decref(out);
    json_decref(out2);
    json_decref(want);
    dp_tmpl_free(t);
    json_decref(v);

    json_t *num = json_integer(5);
    t = compile_ok(num);
    assert_true(dp_tmpl_is_static(t));
    out = dp_tmpl_render(t, &f->env);
    assert_int_equal(json_integer_value(out), 5);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(num);
}

static void test_not_static(void **state)
{
    json_t *v = J("{\"a\": [1, {\"b\": \"id $.pathParam.id\"}]}");
    dp_tmpl_t *t = compile_ok(v);
    assert_false(dp_tmpl_is_static(t));
    assert_false(dp_tmpl_needs_body(t));
    dp_tmpl_free(t);
    json_decref(v);
}

static void test_needs_body(void **state)
{
    const char *uses[] = {"\"$.req\"", "[\"x $.body.a y\"]",
                          "{\"k\": {\"k\": \"$.req.items[0]\"}}"};
    const char *not[] = {"\"$.request $.50\"", "\"$$.req\"",
                         "\"$.gS.req\"", "{\"$.req\": 1}"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = J(uses[i]);
        dp_tmpl_t *t = compile_ok(v);
        if (!dp_tmpl_needs_body(t))
            fail_msg("%s reads the body", uses[i]);
        dp_tmpl_free(t);
        json_decref(v);
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *v = J(not[i]);
        dp_tmpl_t *t = compile_ok(v);
        if (dp_tmpl_needs_body(t))
            fail_msg("%s does not read the body", not[i]);
        dp_tmpl_free(t);
        json_decref(v);
    }
}

static void test_req_whole_value(void **state)
{
    fixture_t *f = *state;
    check(f, "\"$.req\"", "{\"name\": \"Bob\", \"age\": 42, \"user\": {\"id\":"
                          " 7, \"roles\": [\"admin\", \"dev\"]}, \"items\": "
                          "[{\"sku\": \"A1\"}, {\"sku\": \"B2\"}], \"x.y\": "
                          "\"dotted\", \"n\": null, \"price\": 9.95, "
                          "\"whole\": 3.0}");
    check(f, "{\"u\": \"$.req.user\"}",
          "{\"u\": {\"id\": 7, \"roles\": [\"admin\", \"dev\"]}}");
    check(f, "[\"$.req.age\", \"$.body.user.id\"]", "[42, 7]");
    check(f, "\"$.req.items[1]\"", "{\"sku\": \"B2\"}");
    check(f, "\"$.req.items[0].sku\"", "\"A1\"");
    check(f, "\"$.req['x.y']\"", "\"dotted\"");
    check(f, "\"$.req.n\"", "null");
    check(f, "\"$.req.user.roles\"", "[\"admin\", \"dev\"]");
    /* Missing renders as null. */
    check(f, "{\"m\": \"$.req.nope\", \"i\": \"$.req.items[9]\"}",
          "{\"m\": null, \"i\": null}");
}

static void test_req_embedded(void **state)
{
    fixture_t *f = *state;
    check_str(f, "Hello $.req.name!", "Hello Bob!");
    check_str(f, "Hi $.req.name.", "Hi Bob.");
    check_str(f, "age=$.req.age;", "age=42;");
    check_str(f, "u=$.req.user", "u={\"id\":7,\"roles\":[\"admin\",\"dev\"]}");
    check_str(f, "[$.req.nope]", "[]");
    check_str(f, "n=$.req.n", "n=null");
    check_str(f, "$.req.items[0].sku-$.body.items[1].sku",
              "A1-B2");
    check_str(f, "$.req.name$.req.age", "Bob42");
    /* Reals interpolate in their shortest exact form. */
    check_str(f, "f=$.req.price, g=$.req.whole", "f=9.95, g=3.0");
}

static void test_rendered_values_are_copies(void **state)
{
    fixture_t *f = *state;
    json_t *v = json_string("$.req.user");
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &f->env);
    json_object_set_new(out, "changed", json_true());
    assert_null(json_object_get(json_object_get(f->req, "user"), "changed"));
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

static void test_params_and_headers(void **state)
{
    fixture_t *f = *state;
    check(f, "{\"id\": \"$.pathParam.id\", \"q\": \"$.queryParam.q\","
             " \"k\": \"$.reqHeader.X-Api-Key\", \"k2\": "
             "\"$.reqHeader.x-api-key[1]\", \"a\": \"$.reqHeader.Accept[0]\","
             " \"none\": \"$.reqHeader.X-None\", \"oob\": "
             "\"$.reqHeader.Accept[3]\", \"np\": \"$.pathParam.nope\"}",
          "{\"id\": \"123\", \"q\": \"shoes\", \"k\": \"k1\", \"k2\": \"k2\","
          " \"a\": \"text/plain\", \"none\": null, \"oob\": null,"
          " \"np\": null}");
    check_str(f, "/items/$.pathParam.id?page=$.queryParam.page",
              "/items/123?page=2");
    check_str(f, "key=$.reqHeader.X-API-KEY.", "key=k1.");
    check_str(f, "key=$.reqHeader['X-Api-Key'][1]", "key=k2");
    /* Without request data everything is missing. */
    dp_tmpl_env_t empty;
    memset(&empty, 0, sizeof(empty));
    json_t *v = J("{\"a\": \"$.pathParam.id\", \"b\": \"x$.req.name!\"}");
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &empty);
    json_t *want = J("{\"a\": null, \"b\": \"x!\"}");
    assert_true(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

static void test_literal_look_alikes(void **state)
{
    fixture_t *f = *state;
    check_str(f, "$.50 price", "$.50 price");
    check_str(f, "costs $.price now", "costs $.price now");
    check_str(f, "$$", "$");
    check_str(f, "$$$$", "$$");
    check_str(f, "$$.req.name is $.req.name", "$.req.name is Bob");
    check_str(f, "a $ b $. c", "a $ b $. c");
    check_str(f, "$", "$");
    check_str(f, "$.request", "$.request");
    check_str(f, "end$", "end$");
}

static void test_stores(void **state)
{
    fixture_t *f = *state;
    check(f, "{\"g\": \"$.gS.k\", \"c\": \"$.cS.k\", \"m\": \"$.mS.k\"}",
          "{\"g\": \"global\", \"c\": \"chain\", \"m\": \"mock\"}");
    check(f, "\"$.gS.user\"", "{\"name\": \"Ann\", \"tags\": [\"a\", \"b\"]}");
    check(f, "\"$.gS.user.name\"", "\"Ann\"");
    check(f, "\"$.gS.user.tags[1]\"", "\"b\"");
    check(f, "\"$.gS.absent\"", "null");
    check_str(f, "hi $.gS.user.name, you have $.gS.count.",
              "hi Ann, you have 41.");
    assert_string_equal(f->store.last_key, "count");
    assert_int_equal(f->store.last_scope, DP_SCOPE_GLOBAL);
    /* A store value handed out shared is not modified by the caller. */
    json_t *v = json_string("$.gS.user");
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &f->env);
    json_object_set_new(out, "x", json_true());
    assert_null(json_object_get(json_object_get(f->store.scopes[0], "user"),
                                "x"));
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

static void test_increment(void **state)
{
    fixture_t *f = *state;
    check(f, "\"$.increment($.gS.count)\"", "42");
    check(f, "\"$.increment($.gS.count, 5)\"", "47");
    check(f, "\"$.increment(gS.count,-7)\"", "40");
    check(f, "{\"n\": \"$.increment( $.mS.hits )\"}", "{\"n\": 1}");
    assert_int_equal(f->store.last_scope, DP_SCOPE_MOCK);
    assert_string_equal(f->store.last_key, "hits");
    check_str(f, "visit #$.increment($.cS.visits)!", "visit #1!");
    check_str(f, "visit #$.increment($.cS.visits)!", "visit #2!");
    assert_int_equal(f->store.incrs, 6);
    /* Every render increments again. */
    json_t *v = json_string("$.increment($.gS.r, 10)");
    dp_tmpl_t *t = compile_ok(v);
    assert_false(dp_tmpl_is_static(t));
    for (int i = 1; i <= 3; i++) {
        json_t *out = dp_tmpl_render(t, &f->env);
        assert_int_equal(json_integer_value(out), 10 * i);
        json_decref(out);
    }
    dp_tmpl_free(t);
    json_decref(v);
    /* No store: missing. */
    dp_tmpl_env_t env = f->env;
    env.store_incr = NULL;
    env.store_get = NULL;
    v = J("{\"a\": \"$.increment($.gS.count)\", \"b\": \"$.gS.k\"}");
    t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &env);
    json_t *want = J("{\"a\": null, \"b\": null}");
    assert_true(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

/* A store key is read once per render however often the template names
 * it (a stored value is copied out whole at each read: a template naming
 * a large value many times would copy it as often), and an increment in
 * between is seen by the reads after it. */
static void test_store_read_once_per_render(void **state)
{
    fixture_t *f = *state;
    f->store.gets = 0;
    check(f,
          "[\"$.gS.user\", \"$.gS.user.name\", \"$.gS.user.tags[0]\", "
          "\"hi $.gS.user.name\", \"$.gS.absent\", \"x$.gS.absent\", "
          "\"$.gS.absent\", \"$.cS.k\", \"$.cS.k\"]",
          "[{\"name\": \"Ann\", \"tags\": [\"a\", \"b\"]}, \"Ann\", "
          "\"a\", \"hi Ann\", null, \"x\", null, \"chain\", \"chain\"]");
    assert_int_equal(f->store.gets, 3);
    /* every render reads afresh */
    check(f, "[\"$.gS.user.name\", \"$.gS.user.name\"]",
          "[\"Ann\", \"Ann\"]");
    assert_int_equal(f->store.gets, 4);
    check_str(f, "$.gS.count $.increment($.gS.count) $.gS.count",
              "41 42 42");
    check(f,
          "[\"$.gS.fresh\", \"$.increment($.gS.fresh, 3)\", "
          "\"$.gS.fresh\"]",
          "[null, 3, 3]");
}

static void test_fakers_in_templates(void **state)
{
    fixture_t *f = *state;
    json_t *v = J("{\"id\": \"$.fake.UUID\", \"n\": \"$.fake.IntBetween(5, 5)\","
                  " \"s\": \"n=$.fake.IntBetween( 7 ,7 )!\", \"w\": "
                  "\"$.fake.Words(2)\", \"f\": \"$.fake.FloatRange(1.5, 1.5)\","
                  " \"b\": \"$.fake.Bool\"}");
    dp_tmpl_t *t = compile_ok(v);
    json_t *out = dp_tmpl_render(t, &f->env);
    const char *id = json_string_value(json_object_get(out, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(json_integer_value(json_object_get(out, "n")), 5);
    assert_string_equal(json_string_value(json_object_get(out, "s")), "n=7!");
    const char *w = json_string_value(json_object_get(out, "w"));
    assert_non_null(w);
    assert_non_null(strchr(w, ' '));
    assert_true(json_is_real(json_object_get(out, "f")));
    assert_true(json_real_value(json_object_get(out, "f")) == 1.5);
    assert_true(json_is_boolean(json_object_get(out, "b")));
    /* Same seed, same output. */
    uint64_t seed = f->rng = 99;
    json_t *a = dp_tmpl_render(t, &f->env);
    f->rng = seed;
    json_t *b = dp_tmpl_render(t, &f->env);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    json_decref(out);
    dp_tmpl_free(t);
    json_decref(v);
}

static void test_keys_not_templated(void **state)
{
    fixture_t *f = *state;
    check(f, "{\"$.req.name\": \"$.req.name\"}", "{\"$.req.name\": \"Bob\"}");
}

static void test_large_interpolation(void **state)
{
    fixture_t *f = *state;
    /* Beyond the render's stack buffer. */
    char tmpl[2100];
    char want[2100];
    memset(tmpl, 'x', 1000);
    strcpy(tmpl + 1000, "$.req.name!");
    memset(tmpl + 1011, 'y', 1000);
    tmpl[2011] = '\0';
    memset(want, 'x', 1000);
    strcpy(want + 1000, "Bob!");
    memset(want + 1004, 'y', 1000);
    want[2004] = '\0';
    check_str(f, tmpl, want);
}

static void expect_error(const char *tmpl, const char *field,
                         const char *needle)
{
    json_t *v = J(tmpl);
    dp_tmpl_t *t = (dp_tmpl_t *)0x1;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = dp_tmpl_compile(v, "response.payload", &t, &err);
    json_decref(v);
    if (rc == 0)
        fail_msg("template %s compiled but must not", tmpl);
    assert_int_equal(rc, -22);
    assert_null(t);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "validation");
    if (strcmp(err.field, field) != 0)
        fail_msg("template %s: field '%s', want '%s'", tmpl, err.field, field);
    if (strstr(err.message, needle) == NULL)
        fail_msg("template %s: message '%s' lacks '%s'", tmpl, err.message,
                 needle);
}

static void test_compile_errors(void **state)
{
    expect_error("{\"user\": {\"name\": \"$.fake.Unknown\"}}",
                 "response.payload.user.name", "unknown faker 'Unknown'");
    expect_error("{\"items\": [1, 2, \"x $.fake.IntBetween(1)\"]}",
                 "response.payload.items[2]", "two arguments");
    expect_error("\"$.fake.IntBetween\"", "response.payload", "got 0");
    expect_error("\"$.fake.UUID(1)\"", "response.payload", "no arguments");
    expect_error("\"$.fake.IntBetween(1, 2\"", "response.payload",
                 "unclosed parenthesis");
    expect_error("\"$.fake.IntBetween(5, 1)\"", "response.payload",
                 "greater than max");
    expect_error("\"$.fake.Words(0)\"", "response.payload", "1..4096");
    expect_error("\"$.fake.Digits(5000)\"", "response.payload", "1..4096");
    expect_error("\"$.fake.IntBetween(1, x)\"", "response.payload",
                 "bad argument");
    expect_error("\"$.fake.IntBetween(1.5, 2)\"", "response.payload",
                 "integers");
    expect_error("\"$.fake.Words('3')\"", "response.payload", "count");
    expect_error("\"$.fake\"", "response.payload", "faker name");
    expect_error("\"$.fake.\"", "response.payload", "faker name");
    expect_error("\"$.increment($.gS.k\"", "response.payload",
                 "unclosed parenthesis");
    expect_error("\"$.increment\"", "response.payload", "$.increment(");
    expect_error("\"$.increment($.xS.k)\"", "response.payload", "gS, cS, mS or sS");
    expect_error("\"$.increment($.gS.k, 1.5)\"", "response.payload",
                 "integer");
    expect_error("\"$.increment($.gS.k 2)\"", "response.payload", "gS");
    expect_error("\"$.req.a..b\"", "response.payload", "empty segment");
    expect_error("{\"a\": {\"b\": [\"$.gS\"]}}", "response.payload.a.b[0]",
                 "expected a name after $.gS");
    expect_error("\"$.pathParam\"", "response.payload", "$.pathParam");
    expect_error("\"$.queryParam.x[0]\"", "response.payload", "plain name");
    expect_error("\"$.reqHeader.A.B\"", "response.payload", "$.reqHeader.Name");
    expect_error("\"$.reqHeader['x'][0][1]\"", "response.payload",
                 "$.reqHeader.Name");
}

static void test_compile_error_leaves_nothing(void **state)
{
    /* Errors in a later field after earlier ones compiled: no leak under
     * ASan and no output. */
    json_t *v = J("{\"ok\": \"$.req.name\", \"list\": [\"$.fake.UUID\","
                  " {\"deep\": \"$.fake.Nope\"}]}");
    dp_tmpl_t *t = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_tmpl_compile(v, "response.payload", &t, &err), -22);
    assert_null(t);
    assert_string_equal(err.field, "response.payload.list[1].deep");
    json_decref(v);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_static),
        T(test_not_static),
        T(test_needs_body),
        T(test_req_whole_value),
        T(test_req_embedded),
        T(test_rendered_values_are_copies),
        T(test_params_and_headers),
        T(test_literal_look_alikes),
        T(test_stores),
        T(test_increment),
        T(test_store_read_once_per_render),
        T(test_fakers_in_templates),
        T(test_keys_not_templated),
        T(test_large_interpolation),
        T(test_compile_errors),
        T(test_compile_error_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
