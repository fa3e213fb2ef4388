/*
 * Versions of a mock: every write keeps the mock as written, bounded per
 * mock, in the same transaction as the mock; restore writes one back; a
 * purge or reset drops them; they survive a reopen. Runs on memory and on
 * SQLite (DOPPEL_TEST_STORAGE); the reopen and fault cases always use a
 * SQLite file of their own.
 */
#include "test_engine_util.h"

#include <unistd.h>

#include "storage_sqlite.h"

static dp_engine_t *open_max(int max)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.seed = 42;
    cfg.mock_versions_max = max;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    return e;
}

static json_t *versions(dp_engine_t *e, const char *id)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_versions(e, id, &out, &err), 0);
    return out;
}

static json_t *item(json_t *list, size_t i)
{
    return json_array_get(json_object_get(list, "items"), i);
}

static json_int_t inum(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *istr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void patch(dp_engine_t *e, const char *id, const char *txt)
{
    json_t *p = t_json(txt);
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_patch(e, id, p, &out, &err), 0);
    json_decref(out);
    json_decref(p);
}

static int64_t status_of(json_t *mock)
{
    return json_integer_value(
        json_object_get(json_object_get(mock, "response"), "status"));
}

#define MOCK                                                                   \
    "{\"id\":\"v1\",\"http\":{\"route\":\"/v\"},\"tags\":[\"a\"],"             \
    "\"response\":{\"status\":200}}"

static void t_every_write_keeps_a_version(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_actor("alice");
    t_put(e, MOCK);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 1);
    assert_int_equal(inum(l, "total"), 1);
    assert_string_equal(istr(item(l, 0), "summary"), "created");
    assert_string_equal(istr(item(l, 0), "changedBy"), "alice");
    assert_true(json_is_true(json_object_get(item(l, 0), "current")));
    assert_true(inum(item(l, 0), "createdAt") > 0);
    json_decref(l);

    dp_engine_set_actor(NULL);
    patch(e, "v1", "{\"response\":{\"status\":201}}");
    dp_err_t err = {0};
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_close(e, "v1", &m, &err), 0);
    json_decref(m);
    assert_int_equal(dp_engine_mock_restore(e, "v1", &m, &err), 0);
    json_decref(m);
    t_put(e, MOCK); /* a put over the id */
    json_t *ids = t_json("[\"v1\"]");
    size_t n = 0;
    assert_int_equal(dp_engine_mock_close_batch(e, ids, &n, &err), 0);
    json_decref(ids);

    l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 6);
    assert_int_equal(inum(l, "total"), 6);
    static const char *const want[] = {"closed", "replaced", "restored",
                                       "closed", "patched",  "created"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(inum(item(l, i), "version"), 6 - (json_int_t)i);
        assert_string_equal(istr(item(l, i), "summary"), want[i]);
    }
    /* no actor: changedBy is null */
    assert_true(json_is_null(json_object_get(item(l, 4), "changedBy")));
    assert_true(json_is_false(json_object_get(item(l, 1), "current")));
    json_decref(l);

    json_t *v = NULL;
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 2, &v, &err), 0);
    assert_int_equal(status_of(v), 201);
    json_decref(v);
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 1, &v, &err), 0);
    assert_int_equal(status_of(v), 200);
    json_decref(v);
    dp_engine_close(e);
}

static void t_unknown_mock_or_version_is_404(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, MOCK);
    json_t *v = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 7, &v, &err), -ENOENT);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.field, "version");
    assert_null(v);
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 0, &v, &err), -ENOENT);
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_engine_mock_versions(e, "nope", &v, &err), -ENOENT);
    assert_int_equal(err.status, 404);
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_engine_mock_version_restore(e, "v1", 9, &v, &err),
                     -ENOENT);
    assert_string_equal(err.field, "version");
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 1); /* nothing written */
    json_decref(l);
    dp_engine_close(e);
}

static void t_restore_writes_a_new_version(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, MOCK);
    patch(e, "v1",
          "{\"response\":{\"status\":418},\"tags\":[\"b\"],"
          "\"namespace\":\"other\"}");
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_version_restore(e, "v1", 1, &out, &err), 0);
    assert_int_equal(status_of(out), 200);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(out, "tags"), 0)),
        "a");
    /* the mock stays in the namespace it lives in now */
    assert_string_equal(istr(out, "namespace"), "other");
    json_decref(out);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 3);
    assert_string_equal(istr(item(l, 0), "summary"), "restored version 1");
    json_decref(l);
    /* and it serves the restored answer */
    doppel_reply_t *r = t_match(e, &(t_req_t){.path = "/v", .ns = "other"});
    assert_int_equal(r->status, 200);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void t_versions_are_bounded(void **state)
{
    (void)state;
    dp_engine_t *e = open_max(3);
    t_put(e, MOCK);
    for (int i = 0; i < 4; i++)
        patch(e, "v1", i % 2 ? "{\"tags\":[\"x\"]}" : "{\"tags\":[\"y\"]}");
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 5);
    assert_int_equal(inum(l, "total"), 3);
    assert_int_equal(inum(l, "versionsMax"), 3);
    assert_int_equal(inum(item(l, 2), "version"), 3);
    json_decref(l);
    json_t *v = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 2, &v, &err), -ENOENT);
    dp_engine_close(e);
}

static void t_zero_keeps_none(void **state)
{
    (void)state;
    dp_engine_t *e = open_max(0);
    t_put(e, MOCK);
    patch(e, "v1", "{\"tags\":[\"z\"]}");
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 0);
    assert_int_equal(inum(l, "current"), 0);
    json_decref(l);
    dp_engine_close(e);
}

static void t_purge_and_reset_drop_versions(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, MOCK);
    patch(e, "v1", "{\"tags\":[\"z\"]}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_purge(e, "v1", &err), 0);
    t_put(e, MOCK); /* the id again: its history starts over */
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 1);
    assert_int_equal(inum(l, "current"), 1);
    json_decref(l);
    patch(e, "v1", "{\"tags\":[\"z\"]}");
    assert_int_equal(dp_engine_reset(e, "sandbox", &err), 0);
    t_put(e, MOCK);
    l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 1);
    json_decref(l);
    dp_engine_close(e);
}

static void t_batch_writes_keep_versions(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *b =
        t_json("[{\"id\":\"b1\",\"http\":{\"route\":\"/1\"},\"response\":{}},"
               "{\"id\":\"b2\",\"http\":{\"route\":\"/2\"},\"response\":{}},"
               "{\"id\":\"b1\",\"http\":{\"route\":\"/3\"},\"response\":{}}]");
    json_t *out = NULL;
    dp_err_t err = {0};
    if (dp_engine_mock_put_batch(e, b, NULL, &out, &err) != 0)
        fail_msg("batch: %s: %s", err.field, err.message);
    json_decref(out);
    json_decref(b);
    /* the same id twice in one batch: two versions */
    json_t *l = versions(e, "b1");
    assert_int_equal(inum(l, "current"), 2);
    assert_string_equal(istr(item(l, 0), "summary"), "replaced");
    json_decref(l);
    json_t *ids = t_json("[\"b1\",\"b2\"]");
    json_t *ps = t_json("[{\"tags\":[\"t\"]},{\"tags\":[\"t\"]}]");
    assert_int_equal(dp_engine_mock_patch_batch(e, ids, ps, &out, &err), 0);
    json_decref(out);
    json_decref(ids);
    json_decref(ps);
    l = versions(e, "b2");
    assert_int_equal(inum(l, "current"), 2);
    assert_string_equal(istr(item(l, 0), "summary"), "patched");
    json_decref(l);
    dp_engine_close(e);
}

/* ---- on a SQLite file of its own ---------------------------------------- */

static char t_db[128];

/* A template file replace recompiles the mocks that use it without writing
 * them: no version, and the mock's next write numbers on after the ones
 * kept (it does not start over and overwrite version 1). */
static void t_template_recompile_keeps_the_numbering(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_err_t err = {0};
    const char *a = "{\"v\":1}", *b = "{\"v\":2}";
    assert_int_equal(dp_engine_tfile_put(e, NULL, "t.json", a, strlen(a),
                                         DP_TFILE_CREATE, NULL, &err),
                     0);
    t_put(e, "{\"id\":\"v1\",\"http\":{\"route\":\"/v\"},"
             "\"response\":{\"status\":200,\"payloadTemplatePath\":"
             "\"t.json\"}}");
    patch(e, "v1", "{\"tags\":[\"b\"]}");
    json_t *out = NULL;
    assert_int_equal(dp_engine_tfile_put(e, NULL, "t.json", b, strlen(b),
                                         DP_TFILE_REPLACE, &out, &err),
                     0);
    assert_int_equal(json_array_size(json_object_get(out, "recompiled")), 1);
    json_decref(out);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 2);
    assert_int_equal(inum(l, "total"), 2);
    json_decref(l);
    patch(e, "v1", "{\"tags\":[\"c\"]}");
    l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 3);
    assert_int_equal(inum(l, "total"), 3);
    static const char *const want[] = {"patched", "patched", "created"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(inum(item(l, i), "version"), 3 - (json_int_t)i);
        assert_string_equal(istr(item(l, i), "summary"), want[i]);
    }
    json_decref(l);
    dp_engine_close(e);
}

static dp_engine_t *open_file(int max, dp_storage_t **stp)
{
    char err[256];
    dp_storage_t *st = NULL;
    assert_int_equal(dp_storage_sqlite_open(t_db, &st, err, sizeof(err)), 0);
    if (stp)
        *stp = st;
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.mock_versions_max = max;
    dp_engine_t *e = NULL;
    dp_err_t derr = {0};
    assert_int_equal(dp_engine_open(&cfg, st, &e, &derr), 0);
    return e;
}

static void rm_db(void)
{
    char side[160];
    unlink(t_db);
    snprintf(side, sizeof(side), "%s-wal", t_db);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", t_db);
    unlink(side);
}

static void new_db(void)
{
    snprintf(t_db, sizeof(t_db), "/tmp/doppel-versions-%d.db", (int)getpid());
    rm_db();
}

static void t_versions_survive_a_reopen(void **state)
{
    (void)state;
    new_db();
    dp_engine_t *e = open_file(20, NULL);
    t_put(e, MOCK);
    patch(e, "v1", "{\"response\":{\"status\":202}}");
    dp_engine_close(e);
    e = open_file(20, NULL);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 2);
    assert_int_equal(inum(l, "total"), 2);
    json_decref(l);
    patch(e, "v1", "{\"response\":{\"status\":203}}"); /* numbered on */
    l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 3);
    json_decref(l);
    dp_engine_close(e);
    rm_db();
}

static void t_mock_stored_before_versions(void **state)
{
    (void)state;
    new_db();
    dp_engine_t *e = open_file(0, NULL);
    t_put(e, MOCK);
    dp_engine_close(e);
    e = open_file(20, NULL);
    patch(e, "v1", "{\"response\":{\"status\":204}}");
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 2);
    assert_string_equal(istr(item(l, 1), "summary"),
                        "as stored before versions were kept");
    json_decref(l);
    json_t *v = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_version_get(e, "v1", 1, &v, &err), 0);
    assert_int_equal(status_of(v), 200);
    json_decref(v);
    dp_engine_close(e);
    rm_db();
}

/* The version goes in the mock's transaction: when keeping it fails, the
 * mock write fails too and nothing changed. */
static void t_failed_version_write_changes_nothing(void **state)
{
    (void)state;
    new_db();
    dp_storage_t *st = NULL;
    dp_engine_t *e = open_file(20, &st);
    t_put(e, MOCK);
    /* statement 1: the mock row, 2: its usage row, 3: the version */
    dp_storage_sqlite_fail_after(st, 3);
    json_t *p = t_json("{\"response\":{\"status\":500}}");
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_true(dp_engine_mock_patch(e, "v1", p, &out, &err) < 0);
    json_decref(p);
    dp_storage_sqlite_fail_after(st, 0);
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_get(e, "v1", &m, &err), 0);
    assert_int_equal(status_of(m), 200);
    json_decref(m);
    dp_engine_close(e);
    e = open_file(20, NULL); /* and nothing of it reached the file */
    assert_int_equal(dp_engine_mock_get(e, "v1", &m, &err), 0);
    assert_int_equal(status_of(m), 200);
    json_decref(m);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 1);
    json_decref(l);
    dp_engine_close(e);
    rm_db();
}

/* An admin call's audit row goes in the same transaction as the mock and
 * its versions: when the row cannot be written, neither the mock write nor
 * its version is kept, in memory or in the file. */
static void t_failed_audit_row_keeps_no_version(void **state)
{
    (void)state;
    new_db();
    dp_engine_t *e = open_file(20, NULL);
    t_put(e, MOCK);
    /* an audit row without an action is refused by the back end */
    dp_audit_row_t row = {.at_ms = 1, .ns = "sandbox", .target = "mocks/v1"};
    dp_engine_audit_t au = {.rows = &row, .n_rows = 1};
    dp_engine_audit_begin(&au);
    json_t *p = t_json("{\"response\":{\"status\":500}}");
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_patch(e, "v1", p, &out, &err);
    dp_engine_audit_end();
    json_decref(p);
    assert_true(rc < 0);
    assert_int_equal(err.status, 500);
    assert_false(au.written);
    json_t *l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 1);
    assert_int_equal(inum(l, "total"), 1);
    json_decref(l);
    dp_engine_close(e);
    e = open_file(20, NULL);
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_get(e, "v1", &m, &err), 0);
    assert_int_equal(status_of(m), 200);
    json_decref(m);
    l = versions(e, "v1");
    assert_int_equal(inum(l, "total"), 1);
    json_decref(l);
    patch(e, "v1", "{\"response\":{\"status\":201}}"); /* numbered 2 */
    l = versions(e, "v1");
    assert_int_equal(inum(l, "current"), 2);
    json_decref(l);
    dp_engine_close(e);
    rm_db();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_every_write_keeps_a_version),
        cmocka_unit_test(t_unknown_mock_or_version_is_404),
        cmocka_unit_test(t_restore_writes_a_new_version),
        cmocka_unit_test(t_versions_are_bounded),
        cmocka_unit_test(t_zero_keeps_none),
        cmocka_unit_test(t_purge_and_reset_drop_versions),
        cmocka_unit_test(t_batch_writes_keep_versions),
        cmocka_unit_test(t_versions_survive_a_reopen),
        cmocka_unit_test(t_mock_stored_before_versions),
        cmocka_unit_test(t_failed_version_write_changes_nothing),
        cmocka_unit_test(t_failed_audit_row_keeps_no_version),
        cmocka_unit_test(t_template_recompile_keeps_the_numbering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
