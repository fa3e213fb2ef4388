/*
 * The engine's string map: keys short enough to be kept in the slot and
 * longer ones, prefixes of each other, lookups by a length into a longer
 * buffer, replacement, deletion with the backward shift, growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine_internal.h"

static void short_and_long_keys_and_their_prefixes(void **state)
{
    (void)state;
    dp_smap_t m = {0};
    /* every length around the slot's own copy (8 bytes) */
    const char *keys[] = {"",        "a",        "ab",        "abcdefg",
                          "abcdefgh", "abcdefghi", "abcdefgX",  "Op00042",
                          "Op00043", "query.user", "query.users"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dp_smap_put(&m, keys[i], (void *)(i + 1), NULL), 0);
    assert_int_equal(m.n, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(dp_smap_get(&m, keys[i]), (void *)(i + 1));
    /* a length into a longer buffer finds the prefix only */
    assert_ptr_equal(dp_smap_getn(&m, "abcdefghi", 7), (void *)4);
    assert_ptr_equal(dp_smap_getn(&m, "abcdefghi", 8), (void *)5);
    assert_ptr_equal(dp_smap_getn(&m, "query.users", 10), (void *)10);
    assert_null(dp_smap_get(&m, "abc"));
    assert_null(dp_smap_get(&m, "abcdefgY"));
    assert_null(dp_smap_get(&m, "Op0004"));
    assert_null(dp_smap_getn(&m, "a\0b", 3)); /* a NUL inside: no key */
    /* replacing keeps one entry and says what was there */
    void *old = NULL;
    assert_int_equal(dp_smap_put(&m, "ab", (void *)99, &old), 0);
    assert_ptr_equal(old, (void *)3);
    assert_int_equal(m.n, n);
    assert_ptr_equal(dp_smap_get(&m, "ab"), (void *)99);
    dp_smap_free(&m);
}

static void many_keys_deleted_and_found_again(void **state)
{
    (void)state;
    dp_smap_t m = {0};
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), i % 2 ? "k%d" : "a-longer-key-%d", i);
        assert_int_equal(dp_smap_put(&m, k, (void *)(intptr_t)(i + 1), NULL),
                         0);
    }
    /* delete every third: the runs behind them shift back */
    for (int i = 0; i < 5000; i += 3) {
        snprintf(k, sizeof(k), i % 2 ? "k%d" : "a-longer-key-%d", i);
        assert_ptr_equal(dp_smap_del(&m, k), (void *)(intptr_t)(i + 1));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), i % 2 ? "k%d" : "a-longer-key-%d", i);
        void *v = dp_smap_get(&m, k);
        if (i % 3 == 0)
            assert_null(v);
        else
            assert_ptr_equal(v, (void *)(intptr_t)(i + 1));
    }
    size_t seen = 0;
    DP_SMAP_FOREACH(&m, i)
    {
        assert_int_equal(strlen(m.ents[i].key), m.ents[i].len);
        seen++;
    }
    assert_int_equal(seen, m.n);
    assert_int_equal(m.n, 5000 - 1667);
    dp_smap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_and_long_keys_and_their_prefixes),
        cmocka_unit_test(many_keys_deleted_and_found_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
