/*
 * Tags: counts of the tags of live mocks per namespace, and tags
 * registered ahead of any mock (persisted; a reset keeps them).
 */
#include "test_engine_util.h"

#include <unistd.h>

static json_int_t count(json_t *c, const char *ns, const char *tag)
{
    json_t *v = json_object_get(json_object_get(c, ns), tag);
    return v ? json_integer_value(v) : -1;
}

static void t_counts(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/1\"},"
             "\"tags\":[\"x\",\"y\",\"x\"],\"response\":{}}");
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/2\"},"
             "\"tags\":[\"x\"],\"response\":{}}");
    t_put(e, "{\"namespace\":\"b\",\"http\":{\"route\":\"/3\"},"
             "\"tags\":[\"x\"],\"response\":{}}");
    char closed[160];
    snprintf(closed, sizeof(closed), "%s",
             t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/4\"},"
                      "\"tags\":[\"gone\"],\"response\":{}}"));
    json_t *m = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_close(e, closed, &m, &err), 0);
    json_decref(m);
    json_t *c = NULL;
    assert_int_equal(dp_engine_tag_counts(e, NULL, &c), 0);
    assert_int_equal(count(c, "a", "x"), 2);
    assert_int_equal(count(c, "a", "y"), 1);
    assert_int_equal(count(c, "b", "x"), 1);
    assert_int_equal(count(c, "a", "gone"), -1);
    json_decref(c);
    assert_int_equal(dp_engine_tag_counts(e, "b", &c), 0);
    assert_null(json_object_get(c, "a"));
    assert_int_equal(count(c, "b", "x"), 1);
    json_decref(c);
    dp_engine_close(e);
}

static void t_register(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    int created = -1;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_tag_register(e, "a", "smoke", &created, &err),
                     0);
    assert_int_equal(created, 1);
    assert_int_equal(dp_engine_tag_register(e, "a", "smoke", &created, &err),
                     0);
    assert_int_equal(created, 0);
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/1\"},"
             "\"tags\":[\"smoke\"],\"response\":{}}");
    json_t *c = NULL;
    assert_int_equal(dp_engine_tag_register(e, "a", "v2", &created, &err), 0);
    assert_int_equal(dp_engine_tag_counts(e, "a", &c), 0);
    assert_int_equal(count(c, "a", "smoke"), 1);
    assert_int_equal(count(c, "a", "v2"), 0);
    json_decref(c);
    /* a reset keeps registered tags (configuration, as services) */
    assert_int_equal(dp_engine_reset(e, "a", &err), 0);
    assert_int_equal(dp_engine_tag_counts(e, "a", &c), 0);
    assert_int_equal(count(c, "a", "smoke"), 0);
    json_decref(c);
    const char *bad[] = {"", "a\nb", "tab\there", NULL};
    for (size_t i = 0; i < 4; i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(dp_engine_tag_register(e, "a", bad[i], &created, &err),
                         -EINVAL);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.field, "name");
    }
    char longname[130];
    memset(longname, 'n', 129);
    longname[129] = '\0';
    assert_int_equal(dp_engine_tag_register(e, "a", longname, &created, &err),
                     -EINVAL);
    longname[128] = '\0';
    assert_int_equal(dp_engine_tag_register(e, "a", longname, &created, &err),
                     0);
    dp_engine_close(e);
}

static void t_registered_tags_persist(void **state)
{
    (void)state;
    char path[96], err[256];
    snprintf(path, sizeof(path), "/tmp/doppel-catalog-%d.db", (int)getpid());
    unlink(path);
    for (int round = 0; round < 2; round++) {
        dp_storage_t *st = NULL;
        assert_int_equal(dp_storage_sqlite_open(path, &st, err, sizeof(err)),
                         0);
        dp_engine_t *e = NULL;
        dp_err_t derr = {0};
        assert_int_equal(dp_engine_open(NULL, st, &e, &derr), 0);
        if (round == 0) {
            int created = 0;
            assert_int_equal(
                dp_engine_tag_register(e, "a", "kept", &created, &derr), 0);
        } else {
            json_t *c = NULL;
            assert_int_equal(dp_engine_tag_counts(e, NULL, &c), 0);
            assert_int_equal(count(c, "a", "kept"), 0);
            json_decref(c);
        }
        dp_engine_close(e);
    }
    unlink(path);
    char side[128];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_counts),
        cmocka_unit_test(t_register),
        cmocka_unit_test(t_registered_tags_persist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
