/* mcp_schema_check: the JSON Schema subset the MCP control server's tool
 * arguments are checked with (plugins/mcp/mcp_schema.c, in dp_mcptools). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "mcp_schema.h"

static const char *schema_text =
    "{\"type\": \"object\", \"properties\": {"
    " \"id\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 4},"
    " \"n\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 10},"
    " \"ratio\": {\"type\": \"number\", \"maximum\": 1.5},"
    " \"flag\": {\"type\": \"boolean\"},"
    " \"mode\": {\"type\": \"string\", \"enum\": [\"A\", \"B\"]},"
    " \"either\": {\"type\": [\"string\", \"null\"]},"
    " \"any\": {\"description\": \"anything\"},"
    " \"obj\": {\"type\": \"object\"},"
    " \"headers\": {\"type\": \"object\", \"maxProperties\": 2,"
    "   \"additionalProperties\": {\"type\": \"string\"}},"
    " \"list\": {\"type\": \"array\", \"maxItems\": 3,"
    "   \"items\": {\"type\": \"object\", \"properties\": {"
    "     \"k\": {\"type\": \"string\"}}, \"required\": [\"k\"],"
    "     \"additionalProperties\": false}}"
    "}, \"required\": [\"id\"], \"additionalProperties\": false}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (j == NULL)
        fail_msg("bad JSON in test: %s: %s", text, je.text);
    return j;
}

/* Checks value text against the test schema; want_path NULL: must pass. */
static void check(const char *value, const char *want_path,
                  const char *why_part)
{
    json_t *schema = load(schema_text);
    json_t *v = load(value);
    char path[64] = "unset";
    const char *why = "unset";
    int rc = mcp_schema_check(schema, v, path, sizeof(path), &why);
    json_decref(schema);
    json_decref(v);
    if (want_path == NULL) {
        if (rc != 0)
            fail_msg("%s refused at '%s': %s", value, path, why);
        assert_null(why);
        assert_string_equal(path, "");
        return;
    }
    if (rc != -EINVAL)
        fail_msg("%s accepted, expected a refusal at '%s'", value, want_path);
    assert_non_null(why);
    assert_string_equal(path, want_path);
    if (strstr(why, why_part) == NULL)
        fail_msg("why '%s' does not say '%s'", why, why_part);
}

static void test_accepts(void **state)
{
    (void)state;
    check("{\"id\": \"a\"}", NULL, NULL);
    check("{\"id\": \"abcd\", \"n\": 10, \"ratio\": 1.5, \"flag\": false,"
          " \"mode\": \"B\", \"either\": null, \"any\": [1, {\"x\": 2}],"
          " \"obj\": {\"free\": 1}, \"headers\": {\"A\": \"1\", \"B\": \"2\"},"
          " \"list\": [{\"k\": \"v\"}]}",
          NULL, NULL);
    check("{\"id\": \"x\", \"n\": 5.0}", NULL, NULL); /* integral number */
    check("{\"id\": \"x\", \"either\": \"s\"}", NULL, NULL);
    /* Four characters, eight bytes: lengths count characters. */
    check("{\"id\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", NULL, NULL);
}

static void test_refuses(void **state)
{
    (void)state;
    check("{}", "id", "required");
    check("{\"id\": 7}", "id", "wrong type");
    check("{\"id\": \"\"}", "id", "too short");
    check("{\"id\": \"abcde\"}", "id", "too long");
    check("{\"id\": \"a\", \"extra\": 1}", "extra", "unknown argument");
    check("{\"id\": \"a\", \"n\": 0}", "n", "below its minimum");
    check("{\"id\": \"a\", \"n\": 11}", "n", "above its maximum");
    check("{\"id\": \"a\", \"n\": 1.5}", "n", "wrong type");
    check("{\"id\": \"a\", \"n\": \"1\"}", "n", "wrong type");
    check("{\"id\": \"a\", \"ratio\": 2}", "ratio", "above its maximum");
    check("{\"id\": \"a\", \"flag\": 1}", "flag", "wrong type");
    check("{\"id\": \"a\", \"mode\": \"C\"}", "mode", "enum");
    check("{\"id\": \"a\", \"either\": 1}", "either", "wrong type");
    check("{\"id\": \"a\", \"obj\": []}", "obj", "wrong type");
    check("{\"id\": \"a\", \"headers\": {\"A\": 1}}", "headers.A",
          "wrong type");
    check("{\"id\": \"a\", \"headers\": {\"A\": \"1\", \"B\": \"2\", "
          "\"C\": \"3\"}}",
          "headers", "too many properties");
    check("{\"id\": \"a\", \"list\": [{\"k\": \"v\"}, {}]}", "list[1].k",
          "required");
    check("{\"id\": \"a\", \"list\": [{\"k\": \"v\", \"z\": 1}]}", "list[0].z",
          "unknown argument");
    check("{\"id\": \"a\", \"list\": [1, 2, 3, 4]}", "list", "too many items");
    check("[]", "", "wrong type");
    check("\"text\"", "", "wrong type");
}

/* The checker descends with the schema, not with the value: a value
 * nested far deeper than the schema is accepted without walking it, and
 * an over-long property name only truncates the reported path. */
static void test_hostile(void **state)
{
    (void)state;
    json_t *schema = load(schema_text);
    json_t *deep = json_object();
    json_t *cur = deep;
    for (int i = 0; i < 2000; i++) { /* jansson parses at most 2048 */
        json_t *next = json_object();
        json_object_set_new(cur, "x", next);
        cur = next;
    }
    json_t *v = json_pack("{s:s,s:o}", "id", "a", "obj", deep);
    const char *why = NULL;
    assert_int_equal(mcp_schema_check(schema, v, NULL, 0, &why), 0);
    json_decref(v);

    char name[1000];
    memset(name, 'k', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    v = json_pack("{s:s,s:i}", "id", "a", name, 1);
    char path[32];
    assert_int_equal(mcp_schema_check(schema, v, path, sizeof(path), &why),
                     -EINVAL);
    assert_int_equal(strlen(path), sizeof(path) - 1);
    assert_non_null(strstr(why, "unknown argument"));
    json_decref(v);

    /* No arguments at all. */
    assert_int_equal(mcp_schema_check(schema, NULL, NULL, 0, &why), -EINVAL);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
