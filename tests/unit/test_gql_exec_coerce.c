/*
 * Coercion pieces of dp_gql's execution against graphql-js 16's rules:
 * numbers written as JavaScript writes them, inspect() in messages,
 * printString, serialize of every built-in scalar and of enums, argument
 * errors, variables (defaults, nulls, lists, custom scalars) and hostile
 * variables (deep, huge).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gql.h"
#include "gql_exec_int.h"

static const char SDL[] =
    "scalar JSON\nscalar Date\nscalar DateTime\nscalar URL\nscalar Gizmo\n"
    "enum Color { RED GREEN }\n"
    "input Deep { next: Deep, n: Int }\n"
    "type Query {\n"
    "  i: Int f: Float s: String b: Boolean id: ID c: Color\n"
    "  one(id: ID!): Int\n"
    "  many(l: [Int!], j: JSON, d: Deep, s: String = \"dflt\"): JSON\n"
    "}\n";

static gql_schema_t *schema;

static int setup(void **state)
{
    (void)state;
    gql_error_t err = {0};
    gql_source_t src = {"t.graphql", SDL, sizeof SDL - 1};
    schema = gql_schema_build(&src, 1, NULL, &err);
    if (!schema)
        fprintf(stderr, "schema: %s\n", err.message);
    assert_non_null(schema);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gql_schema_free(schema);
    return 0;
}

/* ---- printing ------------------------------------------------------------ */

static void check_jsnum(double v, const char *want)
{
    gql_tbuf_t b = {0};
    gql_tb_jsnum(&b, v);
    assert_string_equal(gql_tb_str(&b), want);
    gql_tb_free(&b);
}

static void test_numbers_as_javascript_writes_them(void **state)
{
    (void)state;
    check_jsnum(1.5, "1.5");
    check_jsnum(100, "100");
    check_jsnum(-0.5, "-0.5");
    check_jsnum(1e21, "1e+21");
    check_jsnum(123456789012345680000.0, "123456789012345680000");
    check_jsnum(1e-7, "1e-7");
    check_jsnum(0.000001, "0.000001");
    check_jsnum(0.1 + 0.2, "0.30000000000000004");
    check_jsnum(5e-324, "5e-324");
    check_jsnum(1.7976931348623157e308, "1.7976931348623157e+308");
    check_jsnum(2.5e-5, "0.000025");
    check_jsnum(1.25e22, "1.25e+22");
}

static void check_inspect(const char *json, const char *want)
{
    json_error_t e;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    gql_tbuf_t b = {0};
    gql_tb_inspect(&b, v);
    assert_string_equal(gql_tb_str(&b), want);
    gql_tb_free(&b);
    json_decref(v);
}

static void test_inspect_like_graphql_js(void **state)
{
    (void)state;
    check_inspect("\"a\\\"b\\n\"", "\"a\\\"b\\n\"");
    check_inspect("{}", "{}");
    check_inspect("[]", "[]");
    check_inspect("{\"a\": {\"b\": {\"c\": 1}}}", "{ a: { b: [Object] } }");
    check_inspect("[[[1]]]", "[[[Array]]]");
    check_inspect("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]",
                  "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... 1 more item]");
    check_inspect("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]",
                  "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... 2 more items]");
    check_inspect("{\"x\": [true, null, 1.5]}", "{ x: [true, null, 1.5] }");
    check_inspect("\"\\u0001\"", "\"\\u0001\"");
}

static void test_print_string_like_graphql_js(void **state)
{
    (void)state;
    const char s[] = "q\"b\\s\n\t\x01\x7f\xc2\x85\xc3\xa9";
    gql_tbuf_t b = {0};
    gql_tb_gqlstring(&b, s, sizeof s - 1);
    assert_string_equal(gql_tb_str(&b),
                        "\"q\\\"b\\\\s\\n\\t\\u0001\\u007F\\u0085\xc3\xa9\"");
    gql_tb_free(&b);
}

/* ---- serialize ------------------------------------------------------------- */

/* serialize(answer) for a type: the JSON result, or "!" + the message. */
static void check_serialize(const char *type, const char *answer, const char *want)
{
    const gql_stype_t *t = gql_schema_type(schema, type);
    assert_non_null(t);
    json_error_t e;
    json_t *v = json_loads(answer, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    gql_tbuf_t m = {0};
    json_t *r = gql_serialize_leaf(t, v, &m);
    char *got;
    if (r) {
        got = json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT);
    } else {
        got = malloc(m.len + 2);
        snprintf(got, m.len + 2, "!%s", gql_tb_str(&m));
    }
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s(%s): got %s want %s\n", type, answer, got, want);
    assert_string_equal(got, want);
    free(got);
    json_decref(r);
    json_decref(v);
    gql_tb_free(&m);
}

static void test_serialize_rules(void **state)
{
    (void)state;
    check_serialize("Int", "true", "1");
    check_serialize("Int", "\" 12 \"", "12");
    check_serialize("Int", "1.0", "1");
    check_serialize("Int", "\"0x10\"", "16");
    check_serialize("Int", "2147483648",
                    "!Int cannot represent non 32-bit signed integer value: 2147483648");
    check_serialize("Int", "\"\"", "!Int cannot represent non-integer value: \"\"");
    check_serialize("Int", "1.5", "!Int cannot represent non-integer value: 1.5");
    check_serialize("Int", "[1]", "!Int cannot represent non-integer value: [1]");
    check_serialize("Float", "\"1e3\"", "1000.0");
    check_serialize("Float", "false", "0.0");
    check_serialize("Float", "\"abc\"", "!Float cannot represent non numeric value: \"abc\"");
    check_serialize("String", "1.5", "\"1.5\"");
    check_serialize("String", "10", "\"10\"");
    check_serialize("String", "true", "\"true\"");
    check_serialize("String", "{\"a\": [1]}", "!String cannot represent value: { a: [1] }");
    check_serialize("Boolean", "0", "false");
    check_serialize("Boolean", "2.5", "true");
    check_serialize("Boolean", "\"true\"",
                    "!Boolean cannot represent a non boolean value: \"true\"");
    check_serialize("ID", "1.0", "\"1\"");
    check_serialize("ID", "-7", "\"-7\"");
    check_serialize("ID", "1.5", "!ID cannot represent value: 1.5");
    check_serialize("ID", "true", "!ID cannot represent value: true");
    check_serialize("Color", "\"RED\"", "\"RED\"");
    check_serialize("Color", "0", "!Enum \"Color\" cannot represent value: 0");
    check_serialize("JSON", "{\"any\": [1, \"x\"]}", "{\"any\":[1,\"x\"]}");
}

/* ---- arguments and variables through gql_execute --------------------------------- */

static json_t *last_args;

static int resolve(void *ud, const gql_field_call_t *call, json_t **value,
                   json_t **errors)
{
    (void)ud;
    (void)errors;
    json_decref(last_args);
    last_args = json_deep_copy(call->args);
    *value = json_integer(1);
    return GQL_RESOLVED;
}

static json_t *exec(const char *query, const char *vars, int *request_error)
{
    gql_error_t err = {0};
    gql_doc_t *doc = gql_parse(query, strlen(query), NULL, &err);
    assert_non_null(doc);
    const gql_definition_t *op = gql_doc_operation(doc, NULL, &err);
    assert_non_null(op);
    json_error_t je;
    json_t *v = vars ? json_loads(vars, 0, &je) : NULL;
    gql_exec_opts_t opts = {0};
    json_t *r = gql_execute(schema, doc, op, v, &opts, resolve, NULL, request_error);
    json_decref(v);
    gql_doc_free(doc);
    assert_non_null(r);
    return r;
}

static const char *first_message(const json_t *resp)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(resp, "errors"), 0), "message"));
}

static void test_argument_errors(void **state)
{
    (void)state;
    int re = 0;
    json_t *r = exec("{ one }", NULL, &re);
    assert_int_equal(re, 0);
    assert_string_equal(first_message(r),
                        "Argument \"id\" of required type \"ID!\" was not provided.");
    assert_true(json_is_null(json_object_get(json_object_get(r, "data"), "one")));
    json_decref(r);

    r = exec("query ($v: ID) { one(id: $v) }", "{}", &re);
    assert_string_equal(first_message(r),
                        "Argument \"id\" of required type \"ID!\" was provided the variable"
                        " \"$v\" which was not provided a runtime value.");
    json_decref(r);

    r = exec("{ one(id: null) }", NULL, &re);
    assert_string_equal(first_message(r),
                        "Argument \"id\" of non-null type \"ID!\" must not be null.");
    json_decref(r);

    r = exec("query ($v: ID) { one(id: $v) }", "{\"v\": null}", &re);
    assert_string_equal(first_message(r),
                        "Argument \"id\" of non-null type \"ID!\" must not be null.");
    json_decref(r);

    r = exec("{ one(id: 1.5) }", NULL, &re);
    assert_string_equal(first_message(r), "Argument \"id\" has invalid value 1.5.");
    json_decref(r);
}

static void test_variables_defaults_nulls_lists_custom(void **state)
{
    (void)state;
    int re = 0;
    json_t *r = exec("query ($l: [Int!] = [1, 2], $j: JSON, $s: String) {"
                     " many(l: $l, j: $j, s: $s) }",
                     "{\"j\": {\"deep\": [1, {\"x\": null}]}, \"s\": null}", &re);
    assert_int_equal(re, 0);
    assert_null(json_object_get(r, "errors"));
    json_t *want = json_loads("{\"l\": [1, 2], \"j\": {\"deep\": [1, {\"x\": null}]},"
                              " \"s\": null}", 0, NULL);
    assert_true(json_equal(last_args, want));
    json_decref(want);
    json_decref(r);

    /* an absent variable leaves the argument's default */
    r = exec("query ($s: String) { many(s: $s) }", "{}", &re);
    want = json_loads("{\"s\": \"dflt\"}", 0, NULL);
    assert_true(json_equal(last_args, want));
    json_decref(want);
    json_decref(r);

    r = exec("query ($l: [Int!]) { many(l: $l) }", "{\"l\": [1, null]}", &re);
    assert_int_equal(re, 1);
    assert_string_equal(first_message(r),
                        "Variable \"$l\" got invalid value null at \"l[1]\"; Expected"
                        " non-nullable type \"Int!\" not to be null.");
    json_decref(r);

    r = exec("query ($c: Color) { many(j: $c) }", "{\"c\": 5}", &re);
    assert_int_equal(re, 1);
    assert_string_equal(first_message(r),
                        "Variable \"$c\" got invalid value 5; Enum \"Color\" cannot represent"
                        " non-string value: 5.");
    json_decref(r);
}

static void test_hostile_variables(void **state)
{
    (void)state;
    /* 1000 nested input objects: bounded, an error, no crash */
    size_t n = 1000;
    char *v = malloc(n * 10 + 64);
    size_t k = (size_t)sprintf(v, "{\"d\": ");
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(v + k, "{\"next\": ");
    k += (size_t)sprintf(v + k, "null");
    for (size_t i = 0; i < n; i++)
        v[k++] = '}';
    strcpy(v + k, "}");
    int re = 0;
    json_t *r = exec("query ($d: Deep) { many(d: $d) }", v, &re);
    assert_int_equal(re, 1);
    assert_non_null(strstr(first_message(r), "nested too deeply"));
    json_decref(r);
    free(v);

    /* a 1 MB string where an Int goes: the message is bounded */
    size_t big = 1u << 20;
    char *s = malloc(big + 32);
    memcpy(s, "{\"n\": \"", 7);
    memset(s + 7, 'x', big);
    strcpy(s + 7 + big, "\"}");
    r = exec("query ($n: Int) { i }", s, &re);
    assert_int_equal(re, 1);
    assert_true(strlen(first_message(r)) <= GQL_TBUF_MAX);
    json_decref(r);
    free(s);

    /* a variable the operation does not define is not passed on */
    r = exec("{ many }", "{\"x\": 1}", &re);
    assert_int_equal(re, 0);
    assert_int_equal(json_object_size(last_args), 1); /* only s's default */
    json_decref(r);
    json_decref(last_args);
    last_args = NULL;
}

/* ---- fake data ------------------------------------------------------------------- */

static const char *fake_str(const char *type, const char *field, uint64_t seed)
{
    static char out[256];
    json_t *v = gql_fake_leaf(gql_schema_type(schema, type), field, seed);
    assert_true(json_is_string(v));
    snprintf(out, sizeof out, "%s", json_string_value(v));
    json_decref(v);
    return out;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void test_fake_leaves_by_name_and_type(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed < 40; seed++) {
        assert_non_null(strchr(fake_str("String", "contactEmail", seed), '@'));
        assert_int_equal(strncmp(fake_str("String", "websiteUrl", seed), "https://", 8), 0);
        assert_int_equal(strncmp(fake_str("String", "phone", seed), "+1-555-", 7), 0);
        assert_non_null(strchr(fake_str("String", "name", seed), ' '));
        assert_null(strchr(fake_str("String", "firstName", seed), ' '));
        const char *title = fake_str("String", "title", seed);
        assert_true(title[0] >= 'A' && title[0] <= 'Z');
        const char *d = fake_str("Date", "x", seed);
        assert_int_equal(strlen(d), 10);
        assert_true(all_digits(d, 4) && d[4] == '-' && d[7] == '-');
        const char *dt = fake_str("DateTime", "x", seed);
        assert_int_equal(strlen(dt), 20);
        assert_true(dt[10] == 'T' && dt[19] == 'Z');
        assert_int_equal(strncmp(fake_str("URL", "x", seed), "https://", 8), 0);
        const char *id = fake_str("ID", "id", seed);
        assert_int_equal(strlen(id), 36);
        assert_true(id[8] == '-' && id[14] == '4' && strchr("89ab", id[19]) != NULL);
        json_t *j = gql_fake_leaf(gql_schema_type(schema, "JSON"), "meta", seed);
        assert_true(json_is_object(j));
        json_decref(j);
        json_t *c = gql_fake_leaf(gql_schema_type(schema, "Color"), "c", seed);
        assert_true(strcmp(json_string_value(c), "RED") == 0 ||
                    strcmp(json_string_value(c), "GREEN") == 0);
        json_decref(c);
        json_t *i = gql_fake_leaf(gql_schema_type(schema, "Int"), "n", seed);
        assert_true(json_is_integer(i) && json_integer_value(i) >= 1 &&
                    json_integer_value(i) <= 100);
        json_decref(i);
    }
    /* the same seed, the same value; over many seeds, many values */
    char first[256];
    snprintf(first, sizeof first, "%s", fake_str("String", "description", 7));
    assert_string_equal(fake_str("String", "description", 7), first);
    int differ = 0;
    for (uint64_t seed = 8; seed < 20; seed++)
        differ += strcmp(fake_str("String", "description", seed), first) != 0;
    assert_true(differ >= 10);
    /* a custom scalar of no known kind: a string */
    assert_true(strlen(fake_str("Gizmo", "thing", 3)) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_as_javascript_writes_them),
        cmocka_unit_test(test_inspect_like_graphql_js),
        cmocka_unit_test(test_print_string_like_graphql_js),
        cmocka_unit_test(test_serialize_rules),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_variables_defaults_nulls_lists_custom),
        cmocka_unit_test(test_hostile_variables),
        cmocka_unit_test(test_fake_leaves_by_name_and_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
