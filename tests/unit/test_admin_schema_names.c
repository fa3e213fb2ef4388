/*
 * Schema file names (host/admin/schema_name.c): relative paths that can
 * neither climb out of a plugin's tree nor name one file two ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin/schemas.h"

static int valid(const char *s)
{
    return dp_schema_name_valid(s, strlen(s));
}

static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {"a",
                                       "order.proto",
                                       "shop/v1/order.proto",
                                       "google/protobuf/any.proto",
                                       "a-b_c.d",
                                       ".hidden",
                                       "a/.b",
                                       "a..b",
                                       "...",
                                       "a/.../b",
                                       NULL};
    static const char *const bad[] = {
        "",     "/",    "/a",     "a/",       "a//b",  ".",   "..",
        "../a", "a/..", "a/../b", "./a",      "a/./b", "a b", "a\\b",
        "a:b",  "a?b",  "a%2Fb",  "\xc3\xa9", "a\tb",  NULL};
    for (size_t i = 0; good[i]; i++)
        if (!valid(good[i]))
            fail_msg("refused: '%s'", good[i]);
    for (size_t i = 0; bad[i]; i++)
        if (valid(bad[i]))
            fail_msg("accepted: '%s'", bad[i]);
    /* a NUL inside: len and strlen differ */
    assert_false(dp_schema_name_valid("a\0b", 3));
    assert_false(dp_schema_name_valid(NULL, 0));
    char name[DP_SCHEMA_NAME_MAX + 2];
    memset(name, 'a', sizeof(name));
    name[DP_SCHEMA_NAME_MAX] = '\0';
    assert_true(valid(name));
    name[DP_SCHEMA_NAME_MAX] = 'a';
    name[DP_SCHEMA_NAME_MAX + 1] = '\0';
    assert_false(valid(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_names)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
