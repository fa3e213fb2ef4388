/* Conditions: every assertAction true and false on body, header and query,
 * sortArray, base64 decode, compile errors and reasons. */
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

static dp_cond_t *compile_ok(const char *spec, dp_cond_target_t target)
{
    json_t *s = J(spec);
    dp_cond_t *c = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    if (dp_cond_compile(s, target, "http.conditions[0]", &c, &err) != 0)
        fail_msg("spec %s did not compile: %s (%s)", spec, err.message,
                 err.field);
    json_decref(s);
    return c;
}

/* Evaluates spec on doc; returns the result and copies the reason. */
static int eval_t(const char *spec, dp_cond_target_t target, const char *doc,
                  char *why, size_t whylen)
{
    dp_cond_t *c = compile_ok(spec, target);
    json_t *d = doc ? J(doc) : NULL;
    char local[256];
    if (why == NULL) {
        why = local;
        whylen = sizeof(local);
    }
    int r = dp_cond_eval(c, d, why, whylen);
    if (r == 1)
        assert_string_equal(why, ""); /* no reason when it holds */
    else
        assert_true(strlen(why) > 0);
    json_decref(d);
    dp_cond_free(c);
    return r;
}

static int body(const char *spec, const char *doc)
{
    return eval_t(spec, DP_COND_BODY, doc, NULL, 0);
}

static void test_equals(void **state)
{
    const char *d = "{\"amount\": 100, \"name\": \"bob\", \"ok\": true,"
                    " \"price\": 9.5, \"o\": {\"a\": [1, 2]}, \"n\": null}";
    assert_true(body("{\"path\": \"amount\", \"assertAction\": \"equals\","
                     " \"value\": 100}", d));
    assert_false(body("{\"path\": \"amount\", \"assertAction\": \"equals\","
                      " \"value\": 101}", d));
    /* Missing assertAction means equals. */
    assert_true(body("{\"path\": \"$.name\", \"value\": \"bob\"}", d));
    assert_false(body("{\"path\": \"$.name\", \"value\": \"bobby\"}", d));
    /* String and number/bool with the same text are equal, both ways. */
    assert_true(body("{\"path\": \"amount\", \"value\": \"100\"}", d));
    assert_false(body("{\"path\": \"amount\", \"value\": \"100x\"}", d));
    assert_true(body("{\"path\": \"ok\", \"value\": \"true\"}", d));
    assert_true(body("{\"path\": \"price\", \"value\": \"9.5\"}", d));
    assert_true(body("{\"path\": \"amount\", \"value\": 100.0}", d));
    /* Deep equality. */
    assert_true(body("{\"path\": \"o\", \"value\": {\"a\": [1, 2]}}", d));
    assert_false(body("{\"path\": \"o\", \"value\": {\"a\": [2, 1]}}", d));
    assert_false(body("{\"path\": \"o\", \"value\": {\"a\": [1, 2], "
                      "\"b\": 1}}", d));
    assert_true(body("{\"path\": \"n\", \"value\": null}", d));
    assert_false(body("{\"path\": \"missing\", \"value\": null}", d));
    assert_false(body("{\"path\": \"amount\", \"value\": 100}", NULL));
}

static void test_not_equals(void **state)
{
    const char *d = "{\"amount\": 100}";
    assert_true(body("{\"path\": \"amount\", \"assertAction\": \"not_equals\","
                     " \"value\": 5}", d));
    assert_false(body("{\"path\": \"amount\", \"assertAction\": "
                      "\"not_equals\", \"value\": 100}", d));
    /* Nothing there is not equal to anything. */
    assert_true(body("{\"path\": \"x\", \"assertAction\": \"not_equals\","
                     " \"value\": 5}", d));
}

static void test_contains(void **state)
{
    const char *d = "{\"s\": \"hello world\", \"arr\": [1, \"two\", {\"k\": 3}],"
                    " \"o\": {\"a\": 1, \"b\": \"x\", \"c\": [1]}, \"num\": 12345}";
    const char *t = "{\"path\": \"%s\", \"assertAction\": \"contains\", "
                    "\"value\": %s}";
    char spec[256];
#define C(path, val) (snprintf(spec, sizeof(spec), t, path, val), body(spec, d))
    assert_true(C("s", "\"lo wo\""));
    assert_false(C("s", "\"planet\""));
    assert_true(C("arr", "\"two\""));
    assert_true(C("arr", "{\"k\": 3}"));
    assert_false(C("arr", "3"));
    assert_true(C("arr", "[1, \"two\"]"));
    assert_false(C("arr", "[1, \"three\"]"));
    assert_true(C("o", "{\"a\": 1, \"b\": \"x\"}"));
    assert_false(C("o", "{\"a\": 2}"));
    assert_false(C("o", "{\"z\": 1}"));
    assert_true(C("num", "\"234\""));
    assert_false(C("missing", "\"a\""));
#undef C
}

static void test_not_contains(void **state)
{
    const char *d = "{\"s\": \"hello\", \"arr\": [1, 2]}";
    assert_true(body("{\"path\": \"s\", \"assertAction\": \"not_contains\","
                     " \"value\": \"xyz\"}", d));
    assert_false(body("{\"path\": \"s\", \"assertAction\": \"not_contains\","
                      " \"value\": \"ell\"}", d));
    assert_false(body("{\"path\": \"arr\", \"assertAction\": "
                      "\"not_contains\", \"value\": 2}", d));
    assert_true(body("{\"path\": \"arr\", \"assertAction\": \"not_contains\","
                     " \"value\": 3}", d));
}

static void test_any_empty_not_empty(void **state)
{
    const char *d = "{\"n\": null, \"s\": \"\", \"a\": [], \"o\": {},"
                    " \"full\": \"x\", \"zero\": 0, \"arr\": [0]}";
    const char *any = "{\"path\": \"%s\", \"assertAction\": \"any\"}";
    const char *ne = "{\"path\": \"%s\", \"assertAction\": \"notEmpty\"}";
    const char *em = "{\"path\": \"%s\", \"assertAction\": \"empty\"}";
    char spec[128];
#define A(fmt, path) (snprintf(spec, sizeof(spec), fmt, path), body(spec, d))
    assert_true(A(any, "n"));
    assert_true(A(any, "full"));
    assert_false(A(any, "missing"));
    assert_true(A(ne, "full"));
    assert_true(A(ne, "zero"));
    assert_true(A(ne, "arr"));
    assert_false(A(ne, "n"));
    assert_false(A(ne, "s"));
    assert_false(A(ne, "a"));
    assert_false(A(ne, "o"));
    assert_false(A(ne, "missing"));
    assert_true(A(em, "missing"));
    assert_true(A(em, "n"));
    assert_true(A(em, "s"));
    assert_true(A(em, "a"));
    assert_true(A(em, "o"));
    assert_false(A(em, "full"));
    assert_false(A(em, "zero"));
#undef A
}

static void test_matches(void **state)
{
    const char *d = "{\"id\": \"ord-1234\", \"n\": 4711, \"o\": {}}";
    assert_true(body("{\"path\": \"id\", \"assertAction\": \"matches\","
                     " \"value\": \"^ord-[0-9]{4}$\"}", d));
    assert_false(body("{\"path\": \"id\", \"assertAction\": \"matches\","
                      " \"value\": \"^ord-[0-9]{5}$\"}", d));
    assert_true(body("{\"path\": \"n\", \"assertAction\": \"matches\","
                     " \"value\": \"^47\"}", d));
    assert_false(body("{\"path\": \"o\", \"assertAction\": \"matches\","
                      " \"value\": \".*\"}", d));
    assert_false(body("{\"path\": \"x\", \"assertAction\": \"matches\","
                      " \"value\": \".*\"}", d));
}

static void test_headers(void **state)
{
    /* The header document holds lower-case names. */
    const char *d = "{\"x-api-key\": \"abc\", \"content-length\": \"100\","
                    " \"accept\": [\"text/html\", \"application/json\"]}";
    char why[128];
    assert_true(eval_t("{\"path\": \"X-Api-Key\", \"value\": \"abc\"}",
                       DP_COND_HEADER, d, NULL, 0));
    assert_false(eval_t("{\"path\": \"X-Api-Key\", \"value\": \"xyz\"}",
                        DP_COND_HEADER, d, why, sizeof(why)));
    assert_string_equal(why, "X-Api-Key: expected \"xyz\", found \"abc\"");
    assert_true(eval_t("{\"path\": \"Content-Length\", \"value\": 100}",
                       DP_COND_HEADER, d, NULL, 0));
    assert_true(eval_t("{\"path\": \"accept\", \"assertAction\": \"contains\","
                       " \"value\": \"html\"}", DP_COND_HEADER, d, NULL, 0));
    assert_false(eval_t("{\"path\": \"X-Missing\", \"assertAction\": \"any\"}",
                        DP_COND_HEADER, d, why, sizeof(why)));
    assert_string_equal(why, "X-Missing: missing");
    assert_true(eval_t("{\"path\": \"X-Missing\", \"assertAction\": "
                       "\"empty\"}", DP_COND_HEADER, d, NULL, 0));
    assert_true(eval_t("{\"path\": \"x-api-key\", \"assertAction\": "
                       "\"matches\", \"value\": \"^a.c$\"}",
                       DP_COND_HEADER, d, NULL, 0));
    assert_false(eval_t("{\"path\": \"x-api-key\", \"assertAction\": "
                        "\"not_equals\", \"value\": \"abc\"}",
                        DP_COND_HEADER, d, NULL, 0));
}

static void test_query(void **state)
{
    /* A query name is one key: dots do not traverse. */
    const char *d = "{\"page\": \"2\", \"a.b\": \"dotted\", \"a\": {\"b\": 1}}";
    assert_true(eval_t("{\"path\": \"page\", \"value\": 2}", DP_COND_QUERY, d,
                       NULL, 0));
    assert_false(eval_t("{\"path\": \"page\", \"value\": 3}", DP_COND_QUERY,
                        d, NULL, 0));
    assert_true(eval_t("{\"path\": \"a.b\", \"value\": \"dotted\"}",
                       DP_COND_QUERY, d, NULL, 0));
    /* Query names are case-sensitive. */
    assert_false(eval_t("{\"path\": \"PAGE\", \"assertAction\": \"any\"}",
                        DP_COND_QUERY, d, NULL, 0));
    assert_true(eval_t("{\"path\": \"page\", \"assertAction\": \"contains\","
                       " \"value\": \"2\"}", DP_COND_QUERY, d, NULL, 0));
}

static void test_sort_array(void **state)
{
    const char *d = "{\"tags\": [\"b\", \"a\", \"c\", \"a\"],"
                    " \"o\": {\"l\": [3, 1, 2]}}";
    assert_false(body("{\"path\": \"tags\", \"value\": [\"a\", \"a\", \"b\","
                      " \"c\"]}", d));
    assert_true(body("{\"path\": \"tags\", \"value\": [\"a\", \"a\", \"b\","
                     " \"c\"], \"sortArray\": true}", d));
    assert_true(body("{\"path\": \"tags\", \"value\": [\"c\", \"a\", \"b\","
                     " \"a\"], \"sortArray\": true}", d));
    /* A multiset: counts matter. */
    assert_false(body("{\"path\": \"tags\", \"value\": [\"a\", \"b\", \"c\","
                      " \"c\"], \"sortArray\": true}", d));
    assert_false(body("{\"path\": \"tags\", \"value\": [\"a\", \"b\", \"c\"],"
                      " \"sortArray\": true}", d));
    /* Nested arrays too. */
    assert_true(body("{\"path\": \"o\", \"value\": {\"l\": [1, 2, 3]},"
                     " \"sortArray\": true}", d));
    assert_true(body("{\"path\": \"tags\", \"assertAction\": \"not_equals\","
                     " \"value\": [\"a\", \"b\"], \"sortArray\": true}", d));
}

static void test_decode_base64(void **state)
{
    /* {"user":"ann","n":[2,1]} standard, padded */
    const char *d = "{\"std\": \"eyJ1c2VyIjoiYW5uIiwibiI6WzIsMV19\","
                    " \"url\": \"fn5-Pz4_\", \"nopad\": \"aGk\","
                    " \"bad\": \"a$b!\", \"num\": 5, \"one\": \"a\"}";
    assert_true(body("{\"path\": \"std\", \"decode\": \"base64\","
                     " \"value\": {\"user\": \"ann\", \"n\": [2, 1]}}", d));
    assert_true(body("{\"path\": \"std\", \"decode\": \"base64\","
                     " \"value\": {\"user\": \"ann\", \"n\": [1, 2]},"
                     " \"sortArray\": true}", d));
    assert_false(body("{\"path\": \"std\", \"decode\": \"base64\","
                      " \"value\": {\"user\": \"bob\", \"n\": [2, 1]}}", d));
    assert_true(body("{\"path\": \"std\", \"decode\": \"base64\","
                     " \"assertAction\": \"contains\","
                     " \"value\": {\"user\": \"ann\"}}", d));
    /* URL-safe alphabet ("-" and "_"): not JSON, compared as a string. */
    assert_true(body("{\"path\": \"url\", \"decode\": \"base64\","
                     " \"value\": \"~~~?>?\"}", d));
    assert_true(body("{\"path\": \"nopad\", \"decode\": \"base64\","
                     " \"value\": \"hi\"}", d));
    char why[128];
    assert_false(eval_t("{\"path\": \"bad\", \"decode\": \"base64\","
                        " \"assertAction\": \"any\"}", DP_COND_BODY, d, why,
                        sizeof(why)));
    assert_string_equal(why, "bad: invalid base64");
    assert_false(eval_t("{\"path\": \"one\", \"decode\": \"base64\","
                        " \"value\": \"x\"}", DP_COND_BODY, d, why,
                        sizeof(why)));
    assert_string_equal(why, "one: invalid base64");
    assert_false(body("{\"path\": \"num\", \"decode\": \"base64\","
                      " \"value\": 5}", d));
}

static void test_reasons(void **state)
{
    const char *d = "{\"amount\": 50, \"s\": \"abc\"}";
    char why[128];
    assert_false(eval_t("{\"path\": \"amount\", \"value\": 100}", DP_COND_BODY,
                        d, why, sizeof(why)));
    assert_string_equal(why, "amount: expected 100, found 50");
    assert_false(eval_t("{\"path\": \"$.nope\", \"value\": 100}", DP_COND_BODY,
                        d, why, sizeof(why)));
    assert_string_equal(why, "$.nope: missing");
    assert_false(eval_t("{\"path\": \"s\", \"assertAction\": \"contains\","
                        " \"value\": \"z\"}", DP_COND_BODY, d, why,
                        sizeof(why)));
    assert_string_equal(why, "s: expected to contain \"z\", found \"abc\"");
    assert_false(eval_t("{\"path\": \"s\", \"assertAction\": \"empty\"}",
                        DP_COND_BODY, d, why, sizeof(why)));
    assert_string_equal(why, "s: expected empty, found \"abc\"");
    /* Never longer than whylen. */
    assert_false(eval_t("{\"path\": \"amount\", \"value\": 100}", DP_COND_BODY,
                        d, why, 8));
    assert_int_equal(strlen(why), 7);
    assert_memory_equal(why, "amount:", 7);
    /* A NULL reason buffer is fine. */
    dp_cond_t *c = compile_ok("{\"path\": \"amount\", \"value\": 1}",
                              DP_COND_BODY);
    json_t *dd = J(d);
    assert_int_equal(dp_cond_eval(c, dd, NULL, 0), 0);
    assert_string_equal(dp_cond_path(c), "amount");
    json_decref(dd);
    dp_cond_free(c);
}

static void test_long_values_truncated(void **state)
{
    char d[2200];
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(d, sizeof(d), "{\"s\": \"%s\"}", big);
    char why[200];
    assert_false(eval_t("{\"path\": \"s\", \"value\": \"y\"}", DP_COND_BODY, d,
                        why, sizeof(why)));
    assert_true(strlen(why) < sizeof(why));
    assert_non_null(strstr(why, "..."));
}

static void expect_error(const char *spec, const char *field,
                         const char *needle)
{
    json_t *s = J(spec);
    dp_cond_t *c = (dp_cond_t *)0x1;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = dp_cond_compile(s, DP_COND_BODY, "http.conditions[2]", &c, &err);
    json_decref(s);
    if (rc == 0)
        fail_msg("spec %s compiled but must not", spec);
    assert_int_equal(rc, -22);
    assert_null(c);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.field, field);
    if (strstr(err.message, needle) == NULL)
        fail_msg("spec %s: message '%s' lacks '%s'", spec, err.message,
                 needle);
}

static void test_compile_errors(void **state)
{
    expect_error("[1]", "http.conditions[2]", "must be an object");
    expect_error("{\"value\": 1}", "http.conditions[2].path", "non-empty");
    expect_error("{\"path\": \"\", \"value\": 1}", "http.conditions[2].path",
                 "non-empty");
    expect_error("{\"path\": \"a..b\", \"value\": 1}",
                 "http.conditions[2].path", "empty segment");
    expect_error("{\"path\": \"a\", \"assertAction\": \"eq\", \"value\": 1}",
                 "http.conditions[2].assertAction",
                 "equals, not_equals, contains, not_contains, any, notEmpty, "
                 "empty, matches");
    expect_error("{\"path\": \"a\", \"assertAction\": 3, \"value\": 1}",
                 "http.conditions[2].assertAction", "must be a string");
    expect_error("{\"path\": \"a\"}", "http.conditions[2].value", "required");
    expect_error("{\"path\": \"a\", \"assertAction\": \"contains\"}",
                 "http.conditions[2].value", "required");
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"([a-z\"}", "http.conditions[2].value",
                 "invalid regular expression '([a-z'");
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": 5}", "http.conditions[2].value",
                 "regular expression string");
    /* glibc's regcomp would take gigabytes on these: refused up front */
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"a+++++++++++++++\"}",
                 "http.conditions[2].value",
                 "regular expression too costly: a repetition follows "
                 "another repetition");
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"(a{100}){100}\"}",
                 "http.conditions[2].value",
                 "regular expression too costly: repetitions expand it "
                 "past 1200 nodes");
    /* Repeated empty-matching groups: quadratic in regcomp (epsilon
     * closures), more than 30 s for this one before the check. */
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"(()*()*){1000}\"}",
                 "http.conditions[2].value",
                 "regular expression too costly: repetitions expand it "
                 "past 1200 nodes");
    /* Anchors inside repeated groups: exponential in regcomp ("($()*){40}"
     * did not finish; the fuzz target found the one with the empty
     * alternatives) */
    static const char *const anchored[] = {
        "($()*){100}", "(\\\\b()*){20}", "(($()*){4}){4}",
        "||||||||||||||||}||||||||||||||||($()*){0100}", "(^()*){2}",
        "((\\\\b)*()*){4}", "($()*()*()*()*()*()*){4}", "(($)*){20}",
    };
    for (size_t i = 0; i < sizeof(anchored) / sizeof(anchored[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec),
                 "{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"%s\"}",
                 anchored[i]);
        expect_error(spec, "http.conditions[2].value",
                     "regular expression too costly: an anchor or word "
                     "boundary that may match nothing is repeated");
    }
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"(()*){30}{30}\"}",
                 "http.conditions[2].value",
                 "regular expression too costly: a repetition follows "
                 "another repetition");
    expect_error("{\"path\": \"a\", \"assertAction\": \"matches\","
                 " \"value\": \"((((((((((((((((((((((((((((((((((((((((("
                 "((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))"
                 ")))))))))))))))))))))))))))))))))\"}",
                 "http.conditions[2].value",
                 "regular expression too costly: groups nest deeper than 64");
    expect_error("{\"path\": \"a\", \"value\": 1, \"sortArray\": \"yes\"}",
                 "http.conditions[2].sortArray", "true or false");
    expect_error("{\"path\": \"a\", \"value\": 1, \"decode\": \"hex\"}",
                 "http.conditions[2].decode", "base64");
    expect_error("{\"path\": \"a\", \"value\": 1, \"colour\": 1}",
                 "http.conditions[2].colour", "unknown key 'colour'");
}

static void test_regex_cost_accepts_real_patterns(void **state)
{
    (void)state;
    /* Patterns users write stay accepted: the check counts the expanded
     * size, not the characters. */
    static const char *const ok[] = {
        "^[0-9]+$", "^/p/[a-z]+$", "[]a]{2}", "[^]x]+", "[[:alpha:]_]{1,500}",
        "^(\\+[0-9]{1,3})?[0-9]{6,12}$", "(ab|cd|ef){1,100}", "(a{30}){30}",
        "^[A-Z]{3}-[0-9]{4}$", "x{1000}", "(()*){200}", "(a$()*){20}",
        "(^a|b){100}", "($()*)*",
        "(^|/)api/v[0-9]{1,2}$", "^(\\bword ?){1,5}$",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        json_t *s = json_pack("{s:s, s:s, s:s}", "path", "a", "assertAction",
                              "matches", "value", ok[i]);
        dp_cond_t *c = NULL;
        dp_err_t err;
        memset(&err, 0, sizeof(err));
        int rc = dp_cond_compile(s, DP_COND_BODY, "f", &c, &err);
        if (rc != 0)
            fail_msg("'%s' refused: %s", ok[i], err.message);
        dp_cond_free(c);
        json_decref(s);
    }
}

static void test_regex_message_from_regcomp(void **state)
{
    json_t *s = J("{\"path\": \"a\", \"assertAction\": \"matches\","
                  " \"value\": \"a{2,1}\"}");
    dp_cond_t *c = NULL;
    dp_err_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_cond_compile(s, DP_COND_BODY, "f", &c, &err), -22);
    /* "...: <regerror text>": something follows the pattern. */
    const char *p = strstr(err.message, "'a{2,1}': ");
    assert_non_null(p);
    assert_true(strlen(p) > strlen("'a{2,1}': "));
    json_decref(s);
}

static void test_any_and_empty_need_no_value(void **state)
{
    assert_true(body("{\"path\": \"a\", \"assertAction\": \"any\"}",
                     "{\"a\": 1}"));
    assert_true(body("{\"path\": \"a\", \"assertAction\": \"notEmpty\","
                     " \"value\": \"ignored\"}", "{\"a\": 1}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals),
        cmocka_unit_test(test_not_equals),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_not_contains),
        cmocka_unit_test(test_any_empty_not_empty),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_sort_array),
        cmocka_unit_test(test_decode_base64),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_long_values_truncated),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_regex_cost_accepts_real_patterns),
        cmocka_unit_test(test_regex_message_from_regcomp),
        cmocka_unit_test(test_any_and_empty_need_no_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
