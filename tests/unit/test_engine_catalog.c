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
            json_t *f = NULL;
            assert_int_equal(
                dp_engine_folder_create(e, "a", "kept", NULL, &f, &derr), 0);
            json_decref(f);
        } else {
            json_t *c = NULL;
            assert_int_equal(dp_engine_tag_counts(e, NULL, &c), 0);
            assert_int_equal(count(c, "a", "kept"), 0);
            json_decref(c);
            assert_int_equal(dp_engine_folders(e, "a", &c), 0);
            assert_string_equal(
                json_string_value(json_object_get(
                    json_array_get(json_object_get(c, "items"), 0), "name")),
                "kept");
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

static char *mkfolder(dp_engine_t *e, const char *ns, const char *name,
                      const char *parent)
{
    json_t *f = NULL;
    dp_err_t err = {0};
    if (dp_engine_folder_create(e, ns, name, parent, &f, &err) != 0)
        fail_msg("folder: %s: %s", err.field, err.message);
    char *id = strdup(json_string_value(json_object_get(f, "id")));
    assert_string_equal(json_string_value(json_object_get(f, "namespace")), ns);
    json_decref(f);
    return id;
}

static void t_folders(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char *root = mkfolder(e, "a", "root", NULL);
    char *kid = mkfolder(e, "a", "kid", root);
    char *grandkid = mkfolder(e, "a", "gk", kid);
    char *other = mkfolder(e, "b", "elsewhere", NULL);
    json_t *f = NULL, *l = NULL;
    dp_err_t err = {0};
    /* a parent of another namespace, or none such */
    assert_int_equal(dp_engine_folder_create(e, "a", "x", other, &f, &err),
                     -ENOENT);
    assert_string_equal(err.field, "parentId");
    assert_int_equal(dp_engine_folder_create(e, "a", "", NULL, &f, &err),
                     -EINVAL);
    /* under itself or its descendant: 409 */
    assert_int_equal(dp_engine_folder_move(e, root, grandkid, &f, &err),
                     -EEXIST);
    assert_int_equal(err.status, 409);
    assert_int_equal(dp_engine_folder_move(e, root, root, &f, &err), -EEXIST);
    assert_int_equal(dp_engine_folder_move(e, grandkid, NULL, &f, &err), 0);
    assert_true(json_is_null(json_object_get(f, "parentId")));
    json_decref(f);
    assert_int_equal(dp_engine_folder_move(e, grandkid, kid, &f, &err), 0);
    json_decref(f);
    assert_int_equal(dp_engine_folder_rename(e, kid, "renamed", &f, &err), 0);
    assert_string_equal(json_string_value(json_object_get(f, "name")),
                        "renamed");
    json_decref(f);
    assert_int_equal(dp_engine_folders(e, "a", &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 3);
    json_decref(l);

    /* a mock in the grandchild: deleting root needs recursive */
    char mock[256];
    snprintf(mock, sizeof(mock),
             "{\"id\":\"fm\",\"namespace\":\"a\",\"folderId\":\"%s\","
             "\"http\":{\"route\":\"/f\"},\"response\":{}}",
             grandkid);
    t_put(e, mock);
    size_t moved = 9;
    assert_int_equal(dp_engine_folder_delete(e, grandkid, 0, &moved, &err),
                     -EEXIST);
    assert_int_equal(dp_engine_folder_delete(e, root, 0, &moved, &err),
                     -EEXIST);
    assert_int_equal(err.status, 409);
    assert_int_equal(dp_engine_folders(e, "a", &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 3);
    json_decref(l);
    assert_int_equal(dp_engine_folder_delete(e, root, 1, &moved, &err), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(dp_engine_folders(e, "a", &l), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_get(e, "fm", &m, &err), 0);
    assert_null(json_object_get(m, "folderId"));
    json_decref(m);
    /* an empty folder goes without recursive */
    assert_int_equal(dp_engine_folder_delete(e, other, 0, &moved, &err), 0);
    assert_int_equal(dp_engine_folder_get(e, other, &f, &err), -ENOENT);
    free(root);
    free(kid);
    free(grandkid);
    free(other);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_counts),
        cmocka_unit_test(t_register),
        cmocka_unit_test(t_registered_tags_persist),
        cmocka_unit_test(t_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
