/* The growing string shared by the engine's list answers, the fakers and
 * the metrics page. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sbuf.h"

static void test_appends_grow_and_stay_terminated(void **st)
{
    (void)st;
    dp_sbuf_t b = {0};
    for (int i = 0; i < 1000; i++) {
        dp_sb_str(&b, "ab");
        dp_sb_putc(&b, 'c');
    }
    dp_sb_add(&b, "x\0y", 3); /* bytes, NULs included */
    assert_false(b.oom);
    assert_int_equal(b.len, 3003);
    assert_memory_equal(b.p, "abcabc", 6);
    assert_memory_equal(b.p + 3000, "x\0y", 3);
    assert_int_equal(b.p[b.len], '\0');
    assert_true(b.cap > b.len);
    free(b.p);
}

static void test_printf_longer_than_the_room(void **st)
{
    (void)st;
    dp_sbuf_t b = {0};
    char big[5000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dp_sb_printf(&b, "%d-", 42);
    dp_sb_printf(&b, "%s|%u", big, 7u);
    assert_false(b.oom);
    assert_int_equal(b.len, 3 + 4999 + 2);
    assert_memory_equal(b.p, "42-zz", 5);
    assert_string_equal(b.p + b.len - 2, "|7");
    free(b.p);
}

static void test_a_failed_reserve_sticks(void **st)
{
    (void)st;
    dp_sbuf_t b = {0};
    dp_sb_str(&b, "kept");
    assert_int_equal(dp_sb_reserve(&b, SIZE_MAX - 2), -ENOMEM);
    assert_true(b.oom);
    dp_sb_str(&b, "ignored");
    dp_sb_printf(&b, "%s", "ignored");
    assert_int_equal(b.len, 4);
    assert_string_equal(b.p, "kept");
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_grow_and_stay_terminated),
        cmocka_unit_test(test_printf_longer_than_the_room),
        cmocka_unit_test(test_a_failed_reserve_sticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
