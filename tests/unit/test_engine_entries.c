/* Unmatched and journal entries by id (the ids, ignore, the entries of one
 * mock) and the all-or-nothing mock batches (patch, restore, copy) the
 * admin API's SDK-compatible endpoints are built on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_engine_util.h"

static json_t *unmatched(dp_engine_t *e, const char *ns, int incl)
{
    json_t *out = NULL;
    assert_int_equal(dp_engine_unmatched_ex(e, ns, incl, 0, 1000, &out), 0);
    return out;
}

static void miss(dp_engine_t *e, const char *ns, const char *path)
{
    doppel_reply_t *r = t_match(e, REQ(.path = path, .ns = ns));
    assert_int_equal(r->status, 404);
    dp_engine_reply_free(r);
}

static const char *item_id(json_t *list, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(list, "items"), i),
                        "id"));
}

static void test_unmatched_ids_ignore_and_get(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    miss(e, "a", "/one");
    miss(e, "b", "/two");
    miss(e, "a", "/three");
    json_t *l = unmatched(e, "a", 0);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
    char newest[32], oldest[32];
    snprintf(newest, sizeof(newest), "%s", item_id(l, 0));
    snprintf(oldest, sizeof(oldest), "%s", item_id(l, 1));
    assert_true(strtoull(newest, NULL, 10) > strtoull(oldest, NULL, 10));
    json_decref(l);

    /* ids stay when another namespace is cleared */
    dp_engine_unmatched_clear(e, "b");
    json_t *one = NULL;
    assert_int_equal(dp_engine_unmatched_get(e, oldest, &one), 0);
    assert_string_equal(json_string_value(json_object_get(one, "path")),
                        "/one");
    json_decref(one);

    assert_int_equal(dp_engine_unmatched_ignore(e, oldest, 1), 0);
    l = unmatched(e, "a", 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
    assert_string_equal(item_id(l, 0), newest);
    json_decref(l);
    l = unmatched(e, "a", 1);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 2);
    json_decref(l);
    /* doppel's own list keeps every entry */
    assert_int_equal(dp_engine_unmatched(e, "a", 0, 100, &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 2);
    json_decref(l);

    static const char *const bad[] = {"", "0", "-1", "abc", "1x", "+1",
                                      "99999999999999999999999", " 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *o = (json_t *)1;
        assert_int_equal(dp_engine_unmatched_get(e, bad[i], &o), -ENOENT);
        assert_null(o);
        assert_int_equal(dp_engine_unmatched_ignore(e, bad[i], 1), -ENOENT);
    }
    assert_int_equal(dp_engine_unmatched_get(e, NULL, &one), -ENOENT);
    dp_engine_unmatched_clear(e, "a");
    assert_int_equal(dp_engine_unmatched_get(e, newest, &one), -ENOENT);
    dp_engine_close(e);
}

static void test_journal_of_one_mock(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64], b[64];
    snprintf(a, sizeof(a), "%s",
             t_put(e, "{\"http\":{\"route\":\"/a\"},\"response\":{}}"));
    snprintf(b, sizeof(b), "%s",
             t_put(e, "{\"http\":{\"route\":\"/b\"},\"response\":{}}"));
    const char *seq[] = {"/a", "/b", "/a", "/b", "/a"};
    for (size_t i = 0; i < 5; i++)
        dp_engine_reply_free(t_match(e, REQ(.path = seq[i])));
    json_t *l = NULL;
    assert_int_equal(dp_engine_mock_journal(e, a, 0, 2, &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 3);
    assert_true(json_is_true(json_object_get(l, "hasMore")));
    json_decref(l);
    size_t n = 0;
    dp_engine_mock_journal_clear(e, a, &n);
    assert_int_equal(n, 3);
    assert_int_equal(dp_engine_journal(e, NULL, 0, 100, &l), 0);
    json_t *items = json_object_get(l, "items");
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(items, i), "mockId")),
                            b);
    json_decref(l);
    /* the ring still takes new entries after the compaction */
    dp_engine_reply_free(t_match(e, REQ(.path = "/a")));
    assert_int_equal(dp_engine_mock_journal(e, a, 0, 10, &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
    json_decref(l);
    dp_engine_close(e);
}

static void test_patch_batch_all_or_nothing(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64], b[64];
    snprintf(a, sizeof(a), "%s",
             t_put(e, "{\"http\":{\"route\":\"/pa\"},\"tags\":[\"x\"],"
                      "\"response\":{}}"));
    snprintf(b, sizeof(b), "%s",
             t_put(e, "{\"http\":{\"route\":\"/pb\"},\"response\":{}}"));
    dp_engine_reply_free(t_match(e, REQ(.path = "/pa")));
    json_t *ids = json_pack("[ss]", a, b);
    /* the second patch is invalid: neither mock changes */
    json_t *bad = t_json("[{\"tags\":[\"y\"]},{\"http\":{\"route\":5}}]");
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_patch_batch(e, ids, bad, &out, &err),
                     -EINVAL);
    assert_string_equal(err.field, "[1].http.route");
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_get(e, a, &m, &err), 0);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(m, "tags"), 0)),
        "x");
    json_decref(m);
    json_decref(bad);
    /* a server field or a count mismatch is refused before any lookup */
    bad = t_json("[{\"useCounter\":9},{}]");
    assert_int_equal(dp_engine_mock_patch_batch(e, ids, bad, &out, &err),
                     -EINVAL);
    json_decref(bad);
    bad = t_json("[{}]");
    assert_int_equal(dp_engine_mock_patch_batch(e, ids, bad, &out, &err),
                     -EINVAL);
    json_decref(bad);
    /* a good batch: both change, the counter carries over */
    json_t *good = t_json("[{\"tags\":[\"y\"]},{\"namespace\":\"moved\"}]");
    assert_int_equal(dp_engine_mock_patch_batch(e, ids, good, &out, &err), 0);
    assert_int_equal(json_array_size(out), 2);
    json_decref(out);
    json_decref(good);
    assert_int_equal(dp_engine_mock_get(e, a, &m, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "useCounter")), 1);
    json_decref(m);
    assert_int_equal(dp_engine_mock_get(e, b, &m, &err), 0);
    assert_string_equal(json_string_value(json_object_get(m, "namespace")),
                        "moved");
    json_decref(m);
    json_decref(ids);
    dp_engine_close(e);
}

static void test_restore_and_copy_batches(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64];
    snprintf(a, sizeof(a), "%s",
             t_put(e, "{\"http\":{\"route\":\"/ra\"},\"chainId\":\"c1\","
                      "\"response\":{}}"));
    json_t *ids = json_pack("[s]", a);
    size_t n = 0;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_close_batch(e, ids, &n, &err), 0);
    json_t *two = json_pack("[ss]", a, "nope");
    assert_int_equal(dp_engine_mock_restore_batch(e, two, &n, &err), -ENOENT);
    assert_string_equal(t_who(e, REQ(.path = "/ra")), "");
    assert_int_equal(dp_engine_mock_restore_batch(e, ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(t_who(e, REQ(.path = "/ra")), a);

    json_t *out = NULL;
    assert_int_equal(dp_engine_mock_copy_batch(e, two, "other", &out, &err),
                     -ENOENT);
    assert_null(out);
    assert_int_equal(dp_engine_mock_count(e, 0), 1);
    assert_int_equal(dp_engine_mock_copy_batch(e, ids, "other", &out, &err),
                     0);
    json_t *cp = json_array_get(out, 0);
    assert_string_not_equal(json_string_value(json_object_get(cp, "id")), a);
    assert_string_equal(json_string_value(json_object_get(cp, "namespace")),
                        "other");
    assert_string_equal(json_string_value(json_object_get(cp, "chainId")),
                        "c1");
    assert_int_equal(json_integer_value(json_object_get(cp, "useCounter")), 0);
    json_decref(out);
    /* the chain filter of the list */
    dp_mock_query_t q = {.chain_id = "c1"};
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);
    q.chain_id = "c2";
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    json_t *names = NULL;
    assert_int_equal(dp_engine_namespaces(e, &names), 0);
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "other");
    assert_string_equal(json_string_value(json_array_get(names, 1)),
                        "sandbox");
    json_decref(names);
    json_decref(two);
    json_decref(ids);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unmatched_ids_ignore_and_get),
        cmocka_unit_test(test_journal_of_one_mock),
        cmocka_unit_test(test_patch_batch_all_or_nothing),
        cmocka_unit_test(test_restore_and_copy_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
