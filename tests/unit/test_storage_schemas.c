/*
 * Schema file rows (dp_schema_row_t, migration 6) on both back ends, and
 * dp_engine_storage_tx, the transaction the admin API writes them in with
 * its audit rows (host/admin/admin_schemas.c).
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "engine/engine.h"
#include "engine/storage.h"
#include "storage_sqlite.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/doppel-schemas-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static dp_storage_t *open_sqlite(const fixture_t *f)
{
    char err[256] = "";
    dp_storage_t *st = NULL;
    assert_int_equal(dp_storage_sqlite_open(f->path, &st, err, sizeof(err)), 0);
    return st;
}

/* Every row a load gave, "section|ns|name|content|at", in order. */
typedef struct rows {
    char *line[32];
    size_t n;
} rows_t;

static int load_row(void *arg, const dp_schema_row_t *r)
{
    rows_t *rs = arg;
    assert_true(rs->n < 32);
    assert_true(asprintf(&rs->line[rs->n++], "%s|%s|%s|%s|%lld", r->section,
                         r->ns, r->name, r->content,
                         (long long)r->updated_at) > 0);
    return 0;
}

static void rows_load(dp_storage_t *st, rows_t *rs)
{
    memset(rs, 0, sizeof(*rs));
    assert_int_equal(st->ops->schemas_load(st, load_row, rs), 0);
}

static void rows_free(rows_t *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->line[i]);
    rs->n = 0;
}

static int stop_at_second(void *arg, const dp_schema_row_t *r)
{
    (void)r;
    return ++*(int *)arg == 2 ? 42 : 0;
}

/* Upsert, delete, all or nothing, ordered by section, namespace, name,
 * untouched by a namespace reset. */
static void rows_on(dp_storage_t *st, int reopen_sqlite, const fixture_t *f)
{
    assert_non_null(st->ops->schemas_put);
    assert_non_null(st->ops->schemas_load);
    dp_schema_row_t put[] = {
        {"grpc", "shop", "shop/v1/order.proto", "syntax = \"proto3\";", 10},
        {"grpc", "shop", "a.proto", "A", 11},
        {"grpc", "bank", "z.proto", "Z", 12},
        {"toy", "shop", "a.proto", "toy A", 13},
    };
    assert_int_equal(st->ops->schemas_put(st, put, 4), 0);
    dp_schema_row_t upd[] = {
        {"grpc", "shop", "a.proto", "A2", 20},
        {"toy", "shop", "a.proto", NULL, 0},
        {"toy", "shop", "never.proto", NULL, 0}, /* absent: ignored */
    };
    assert_int_equal(st->ops->schemas_put(st, upd, 3), 0);
    /* a row without a name fails the whole call */
    dp_schema_row_t bad[] = {
        {"grpc", "shop", "b.proto", "B", 1},
        {"grpc", "shop", NULL, "C", 1},
    };
    assert_int_equal(st->ops->schemas_put(st, bad, 2), -EINVAL);
    dp_schema_row_t nosec[] = {{NULL, "shop", "b.proto", "B", 1}};
    assert_int_equal(st->ops->schemas_put(st, nosec, 1), -EINVAL);
    assert_int_equal(st->ops->reset_ns(st, "shop"), 0);
    if (reopen_sqlite) {
        st->ops->close(st);
        st = open_sqlite(f);
    }
    rows_t rs;
    rows_load(st, &rs);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.line[0], "grpc|bank|z.proto|Z|12");
    assert_string_equal(rs.line[1], "grpc|shop|a.proto|A2|20");
    assert_string_equal(rs.line[2], "grpc|shop|shop/v1/order.proto|syntax = "
                                    "\"proto3\";|10");
    rows_free(&rs);
    /* a callback's non-zero return stops the load and is returned */
    int seen = 0;
    assert_int_equal(st->ops->schemas_load(st, stop_at_second, &seen), 42);
    assert_int_equal(seen, 2);
    st->ops->close(st);
}

static void test_memory_rows(void **state)
{
    rows_on(dp_storage_memory_new(), 0, *state);
}

static void test_sqlite_rows(void **state)
{
    fixture_t *f = *state;
    rows_on(open_sqlite(f), 1, f);
}

/* ---- dp_engine_storage_tx ------------------------------------------------ */

typedef struct tx_arg {
    const dp_schema_row_t *rows;
    size_t n;
    int fail; /* return this after writing */
} tx_arg_t;

static int write_rows(dp_storage_t *st, void *arg)
{
    tx_arg_t *a = arg;
    int rc = st->ops->schemas_put(st, a->rows, a->n);
    return rc < 0 ? rc : a->fail;
}

static void sql(const fixture_t *f, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", text, msg);
    sqlite3_close(db);
}

static size_t count_rows(dp_storage_t *st)
{
    rows_t rs;
    rows_load(st, &rs);
    size_t n = rs.n;
    rows_free(&rs);
    return n;
}

/* The rows and this thread's audit rows commit together; a failure of
 * either leaves neither. */
static void test_tx_with_audit(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = open_sqlite(f);
    /* the auth store makes this table in the same file */
    sql(f, "CREATE TABLE auth_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, "
           "at_ms INTEGER, actor TEXT, actor_id TEXT, action TEXT, ns TEXT, "
           "target TEXT, detail TEXT)");
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, st, &e, &err), 0);

    dp_schema_row_t row = {"grpc", "shop", "a.proto", "A", 1};
    dp_audit_row_t au_row = {
        1,   "user:ann", "", "schemas.put", "shop", "/schemas/grpc/a.proto",
        NULL};
    dp_engine_audit_t au = {.rows = &au_row, .n_rows = 1};
    tx_arg_t arg = {&row, 1, 0};
    dp_engine_audit_begin(&au);
    assert_int_equal(dp_engine_storage_tx(e, write_rows, &arg, &err), 0);
    dp_engine_audit_end();
    assert_int_equal(au.written, 1);

    /* fn's failure rolls its rows back, audit rows are not written */
    dp_schema_row_t row2 = {"grpc", "shop", "b.proto", "B", 2};
    arg = (tx_arg_t){&row2, 1, -EIO};
    dp_engine_audit_begin(&au);
    assert_true(dp_engine_storage_tx(e, write_rows, &arg, &err) < 0);
    dp_engine_audit_end();
    assert_int_equal(au.written, 0);

    /* an audit row that cannot be written takes the rows with it */
    sql(f, "CREATE TRIGGER no_audit BEFORE INSERT ON auth_audit BEGIN "
           "SELECT RAISE(ABORT, 'no'); END");
    arg = (tx_arg_t){&row2, 1, 0};
    memset(&err, 0, sizeof(err));
    dp_engine_audit_begin(&au);
    assert_true(dp_engine_storage_tx(e, write_rows, &arg, &err) < 0);
    dp_engine_audit_end();
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.message, "audit"));
    sql(f, "DROP TRIGGER no_audit");

    /* without an admin call on the thread: just the rows */
    arg = (tx_arg_t){&row2, 1, 0};
    assert_int_equal(dp_engine_storage_tx(e, write_rows, &arg, &err), 0);
    assert_int_equal(dp_engine_storage_tx(NULL, write_rows, &arg, &err),
                     -EINVAL);
    assert_int_equal(dp_engine_storage_tx(e, NULL, &arg, &err), -EINVAL);
    dp_engine_close(e);

    st = open_sqlite(f);
    rows_t rs;
    rows_load(st, &rs);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.line[0], "grpc|shop|a.proto|A|1");
    assert_string_equal(rs.line[1], "grpc|shop|b.proto|B|2");
    rows_free(&rs);
    st->ops->close(st);
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*), min(action) FROM "
                                        "auth_audit",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    assert_string_equal((const char *)sqlite3_column_text(q, 1), "schemas.put");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* On the memory back end (no groups) fn's rows are its own transaction. */
static void test_tx_memory(void **state)
{
    (void)state;
    dp_storage_t *st = dp_storage_memory_new();
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, st, &e, &err), 0);
    dp_schema_row_t row = {"grpc", "shop", "a.proto", "A", 1};
    tx_arg_t arg = {&row, 1, 0};
    assert_int_equal(dp_engine_storage_tx(e, write_rows, &arg, &err), 0);
    assert_int_equal(count_rows(st), 1);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_with_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
