/* JSON paths: every accepted form and every refused one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/expr.h"

static json_t *doc(void)
{
    json_t *d = json_loads(
        "{\"amount\": 100, \"a\": {\"b\": {\"c\": \"deep\"}},"
        " \"items\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}],"
        " \"x.y\": \"top-dotted\", \"m\": {\"x.y\": {\"b\": true}},"
        " \"body\": \"a key named body\", \"n\": null}",
        0, NULL);
    assert_non_null(d);
    return d;
}

/* Compiles src and returns what it selects in d (borrowed). */
static const json_t *get(const json_t *d, const char *src)
{
    dp_jpath_t *p = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = dp_jpath_compile(src, "http.path", &p, &err);
    if (rc != 0)
        fail_msg("'%s' did not compile: %s", src, err.message);
    const json_t *v = dp_jpath_get(p, d);
    dp_jpath_free(p);
    return v;
}

static void test_plain_and_dollar_forms(void **state)
{
    json_t *d = doc();
    assert_int_equal(json_integer_value(get(d, "amount")), 100);
    assert_int_equal(json_integer_value(get(d, "$.amount")), 100);
    assert_int_equal(json_integer_value(get(d, "$.body.amount")), 100);
    assert_string_equal(json_string_value(get(d, "a.b.c")), "deep");
    assert_string_equal(json_string_value(get(d, "$.a.b.c")), "deep");
    json_decref(d);
}

static void test_whole_document(void **state)
{
    json_t *d = doc();
    assert_ptr_equal(get(d, "$"), d);
    assert_ptr_equal(get(d, "$.body"), d);
    json_decref(d);
}

static void test_indexes(void **state)
{
    json_t *d = doc();
    assert_int_equal(json_integer_value(get(d, "items[0].id")), 1);
    assert_int_equal(json_integer_value(get(d, "$.items[2].id")), 3);
    assert_true(json_is_object(get(d, "$.items[2]")));
    assert_null(get(d, "$.items[3]"));
    assert_null(get(d, "items[99].id"));
    /* An index on an object or a key on an array selects nothing. */
    assert_null(get(d, "a[0]"));
    assert_null(get(d, "items.id"));
    /* A key of digits on an array is its index ("messages.0.item", the
     * spelling of gRPC client-stream conditions); on an object a key. */
    assert_int_equal(json_integer_value(get(d, "items.1.id")), 2);
    assert_int_equal(json_integer_value(get(d, "$.items.0.id")), 1);
    assert_null(get(d, "items.3"));
    assert_null(get(d, "items.01x"));
    json_t *o = json_loads("{\"0\": \"zero\", \"l\": [[5, 6]]}", 0, NULL);
    assert_string_equal(json_string_value(get(o, "0")), "zero");
    assert_int_equal(json_integer_value(get(o, "l.0.1")), 6);
    json_decref(o);
    json_decref(d);
}

static void test_bracket_keys(void **state)
{
    json_t *d = doc();
    assert_string_equal(json_string_value(get(d, "['x.y']")), "top-dotted");
    assert_string_equal(json_string_value(get(d, "$['x.y']")), "top-dotted");
    assert_true(json_is_true(get(d, "m['x.y'].b")));
    assert_true(json_is_true(get(d, "$.m[\"x.y\"].b")));
    assert_int_equal(json_integer_value(get(d, "$.items[1]['id']")), 2);
    json_decref(d);
}

static void test_missing_and_null(void **state)
{
    json_t *d = doc();
    assert_null(get(d, "nope"));
    assert_null(get(d, "a.b.c.d"));
    assert_null(get(d, "a.x"));
    /* Present null is not absent. */
    assert_true(json_is_null(get(d, "n")));
    assert_null(get(NULL, "a"));
    json_decref(d);
}

static void test_body_prefix_only_after_dollar(void **state)
{
    json_t *d = doc();
    /* Without "$." the key body is just a key. */
    assert_string_equal(json_string_value(get(d, "body")), "a key named body");
    json_decref(d);
}

static void expect_invalid(const char *src, const char *needle)
{
    dp_jpath_t *p = (dp_jpath_t *)0x1;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = dp_jpath_compile(src, "http.conditions[1].path", &p, &err);
    if (rc == 0)
        fail_msg("'%s' compiled but must not", src);
    assert_int_equal(rc, -22);
    assert_null(p);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "validation");
    assert_string_equal(err.field, "http.conditions[1].path");
    if (strstr(err.message, needle) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", src, err.message, needle);
}

static void test_invalid_paths(void **state)
{
    expect_invalid("", "empty path");
    expect_invalid("a..b", "empty segment");
    expect_invalid(".a", "empty segment");
    expect_invalid("a.", "empty segment");
    expect_invalid("$.", "empty segment");
    expect_invalid("$.body.", "empty segment");
    expect_invalid("a[0", "unclosed bracket");
    expect_invalid("a['x", "unclosed bracket");
    expect_invalid("a[-1]", "negative index");
    expect_invalid("a[x]", "non-negative integer");
    expect_invalid("a[]", "non-negative integer");
    expect_invalid("a['']", "empty key");
    expect_invalid("a]", "unexpected ']'");
    expect_invalid("a[0]b", "expected '.' or '['");
    expect_invalid("$x", "after '$'");
    expect_invalid("a.[0]", "empty segment");
    expect_invalid("a[99999999999999999999999]", "too large");
}

static void test_message_names_path(void **state)
{
    dp_jpath_t *p = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_jpath_compile("a..b", "f", &p, &err), -22);
    assert_non_null(strstr(err.message, "'a..b'"));
}

static void test_free_null(void **state)
{
    dp_jpath_free(NULL);
    assert_null(dp_jpath_get(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_dollar_forms),
        cmocka_unit_test(test_whole_document),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_bracket_keys),
        cmocka_unit_test(test_missing_and_null),
        cmocka_unit_test(test_body_prefix_only_after_dollar),
        cmocka_unit_test(test_invalid_paths),
        cmocka_unit_test(test_message_names_path),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
