/* dp_pct_decode: the strict decoder the admin APIs use for paths and
 * query strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/pct_decode.h"

static void expect(const char *in, size_t len, int plus, const char *want)
{
    char *got = dp_pct_decode(in, len, plus);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("'%s' decoded to '%s', expected a refusal", in, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_decodes(void **state)
{
    (void)state;
    expect("a%20b", 5, 0, "a b");
    expect("%2Fx%2f", 7, 0, "/x/");
    expect("a+b", 3, 1, "a b");
    expect("a+b", 3, 0, "a+b"); /* '+' is literal in paths */
    expect("", 0, 0, "");
    expect("%C3%A9", 6, 0, "\xc3\xa9");
}

static void test_refuses(void **state)
{
    (void)state;
    expect("%zz", 3, 0, NULL);
    expect("ab%", 3, 0, NULL);  /* truncated escape */
    expect("ab%4", 4, 0, NULL); /* truncated escape */
    expect("a%00b", 5, 0, NULL); /* encoded NUL */
    expect("a\0b", 3, 0, NULL);  /* literal NUL inside the length */
    expect("%%41", 4, 0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
