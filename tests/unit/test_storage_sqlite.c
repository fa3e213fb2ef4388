/*
 * The SQLite back end of dp_storage_t, against real files in a temp dir.
 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "engine/storage.h"
#include "storage_sqlite.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    dp_storage_t *st;
} fixture_t;

/* Everything a load returned, in order, as "id|ns|json" or
 * "ns|scope|key|json" lines. */
typedef struct rows {
    char **line;
    size_t n;
} rows_t;

static void rows_add(rows_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rows_add(rows_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    r->line = realloc(r->line, (r->n + 1) * sizeof(char *));
    assert_non_null(r->line);
    r->line[r->n++] = s;
}

static void rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->line[i]);
    free(r->line);
    r->line = NULL;
    r->n = 0;
}

static int has_row(const rows_t *r, const char *line)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->line[i], line) == 0)
            return 1;
    return 0;
}

static int mock_cb(void *arg, const dp_stored_mock_t *m)
{
    rows_add(arg, "%s|%s|%s", m->id, m->ns, m->json);
    return 0;
}

static int store_cb(void *arg, const dp_store_entry_t *e)
{
    rows_add(arg, "%s|%s|%s|%s", e->ns, e->scope, e->key, e->json);
    return 0;
}

static rows_t load_mocks(dp_storage_t *st)
{
    rows_t r = {0};
    assert_int_equal(st->ops->mocks_load(st, mock_cb, &r), 0);
    return r;
}

static rows_t load_stores(dp_storage_t *st)
{
    rows_t r = {0};
    assert_int_equal(st->ops->store_load(st, store_cb, &r), 0);
    return r;
}

static void open_ok(fixture_t *f)
{
    char err[256];
    int rc = dp_storage_sqlite_open(f->path, &f->st, err, sizeof(err));
    if (rc != 0)
        fail_msg("open %s: %d %s", f->path, rc, err);
    assert_non_null(f->st);
    assert_string_equal(f->st->ops->name, "sqlite");
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/dp-storage-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/doppel.db", f->dir);
    open_ok(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->st)
        f->st->ops->close(f->st);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void reopen(fixture_t *f)
{
    f->st->ops->close(f->st);
    f->st = NULL;
    open_ok(f);
}

static void test_mock_round_trip(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_stored_mock_t m[] = {
        {"a", "sandbox", "{\"id\":\"a\",\"v\":1}"},
        {"b", "team1", "{\"id\":\"b\"}"},
        {"c", "sandbox", "{\"id\":\"c\"}"},
    };
    assert_int_equal(st->ops->mocks_put(st, m, 3), 0);
    rows_t r = load_mocks(st);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.line[0], "a|sandbox|{\"id\":\"a\",\"v\":1}");
    assert_string_equal(r.line[1], "b|team1|{\"id\":\"b\"}");
    assert_string_equal(r.line[2], "c|sandbox|{\"id\":\"c\"}");
    rows_free(&r);

    /* Replace by id: new json and namespace, same number of rows. */
    dp_stored_mock_t a2 = {"a", "team2", "{\"id\":\"a\",\"v\":2}"};
    assert_int_equal(st->ops->mocks_put(st, &a2, 1), 0);
    r = load_mocks(st);
    assert_int_equal(r.n, 3);
    assert_true(has_row(&r, "a|team2|{\"id\":\"a\",\"v\":2}"));
    assert_false(has_row(&r, "a|sandbox|{\"id\":\"a\",\"v\":1}"));
    rows_free(&r);

    /* Delete: absent ids are ignored. */
    const char *ids[] = {"b", "nope"};
    assert_int_equal(st->ops->mocks_delete(st, ids, 2), 0);
    r = load_mocks(st);
    assert_int_equal(r.n, 2);
    assert_false(has_row(&r, "b|team1|{\"id\":\"b\"}"));
    assert_true(has_row(&r, "c|sandbox|{\"id\":\"c\"}"));
    rows_free(&r);
}

static int stop_after_one(void *arg, const dp_stored_mock_t *m)
{
    (*(int *)arg)++;
    return 42;
}

static void test_load_callback_stops(void **state)
{
    fixture_t *f = *state;
    dp_stored_mock_t m[] = {{"a", "x", "{}"}, {"b", "x", "{}"}};
    assert_int_equal(f->st->ops->mocks_put(f->st, m, 2), 0);
    int calls = 0;
    assert_int_equal(f->st->ops->mocks_load(f->st, stop_after_one, &calls), 42);
    assert_int_equal(calls, 1);
    /* The statement was reset: a second load sees everything again. */
    rows_t r = load_mocks(f->st);
    assert_int_equal(r.n, 2);
    rows_free(&r);
}

static void test_store_round_trip(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_store_entry_t e[] = {
        {"sandbox", "global", "user", "{\"name\":\"Ann\"}"},
        {"sandbox", "chain:c1", "step", "3"},
        {"team1", "global", "user", "\"x\""},
        {"sandbox", "mock:m1", "n", "[1,2]"},
    };
    assert_int_equal(st->ops->store_put(st, e, 4), 0);
    rows_t r = load_stores(st);
    assert_int_equal(r.n, 4);
    assert_true(has_row(&r, "sandbox|global|user|{\"name\":\"Ann\"}"));
    assert_true(has_row(&r, "sandbox|chain:c1|step|3"));
    assert_true(has_row(&r, "team1|global|user|\"x\""));
    assert_true(has_row(&r, "sandbox|mock:m1|n|[1,2]"));
    rows_free(&r);

    /* Upsert one, delete another (json NULL), in one call. */
    dp_store_entry_t e2[] = {
        {"sandbox", "global", "user", "null"},
        {"sandbox", "chain:c1", "step", NULL},
    };
    assert_int_equal(st->ops->store_put(st, e2, 2), 0);
    r = load_stores(st);
    assert_int_equal(r.n, 3);
    assert_true(has_row(&r, "sandbox|global|user|null"));
    assert_false(has_row(&r, "sandbox|chain:c1|step|3"));
    assert_true(has_row(&r, "team1|global|user|\"x\""));
    rows_free(&r);

    /* A missing key is refused and changes nothing. */
    dp_store_entry_t bad[] = {{"sandbox", "global", "k2", "1"},
                              {"sandbox", "global", NULL, "1"}};
    assert_int_equal(st->ops->store_put(st, bad, 2), -EINVAL);
    r = load_stores(st);
    assert_int_equal(r.n, 3);
    rows_free(&r);
}

static void test_reset_ns(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_stored_mock_t m[] = {{"a", "one", "{}"}, {"b", "two", "{}"},
                            {"c", "one", "{}"}};
    dp_store_entry_t e[] = {{"one", "global", "k", "1"},
                            {"two", "global", "k", "2"}};
    assert_int_equal(st->ops->mocks_put(st, m, 3), 0);
    assert_int_equal(st->ops->store_put(st, e, 2), 0);
    assert_int_equal(st->ops->reset_ns(st, "one"), 0);
    rows_t r = load_mocks(st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "b|two|{}");
    rows_free(&r);
    r = load_stores(st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "two|global|k|2");
    rows_free(&r);
    /* Resetting an empty namespace is fine. */
    assert_int_equal(st->ops->reset_ns(st, "nothing"), 0);
}

static int usage_cb(void *arg, const dp_mock_usage_t *u)
{
    rows_add(arg, "%s|%lld|%lld", u->id, (long long)u->use_counter,
             (long long)u->last_use);
    return 0;
}

static rows_t load_usage(dp_storage_t *st)
{
    rows_t r = {0};
    assert_int_equal(st->ops->usage_load(st, usage_cb, &r), 0);
    return r;
}

/* Usage rows overlay the counters of stored mocks; a write of the mock
 * itself, a purge and a reset drop them; rows for unknown mocks are not
 * kept; they survive a reopen. */
static void test_usage_rows(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_stored_mock_t m[] = {{"a", "one", "{}"}, {"b", "one", "{}"},
                            {"c", "two", "{}"}, {"d", "two", "{}"}};
    assert_int_equal(st->ops->mocks_put(st, m, 4), 0);
    dp_mock_usage_t u[] = {{"a", 3, 100}, {"b", 1, 50}, {"c", 7, 70},
                           {"d", 2, 20}, {"ghost", 9, 90}};
    assert_int_equal(st->ops->usage_put(st, u, 5), 0);
    dp_mock_usage_t again = {"a", 4, 101};
    assert_int_equal(st->ops->usage_put(st, &again, 1), 0);
    reopen(f);
    st = f->st;
    rows_t r = load_usage(st);
    assert_int_equal(r.n, 4);
    assert_true(has_row(&r, "a|4|101"));
    assert_true(has_row(&r, "b|1|50"));
    assert_false(has_row(&r, "ghost|9|90"));
    rows_free(&r);
    /* the mock written again carries its counters itself */
    assert_int_equal(st->ops->mocks_put(st, &m[1], 1), 0);
    const char *purge[] = {"c"};
    assert_int_equal(st->ops->mocks_delete(st, purge, 1), 0);
    r = load_usage(st);
    assert_int_equal(r.n, 2);
    assert_true(has_row(&r, "a|4|101"));
    assert_true(has_row(&r, "d|2|20"));
    rows_free(&r);
    assert_int_equal(st->ops->reset_ns(st, "two"), 0);
    r = load_usage(st);
    assert_int_equal(r.n, 1);
    assert_true(has_row(&r, "a|4|101"));
    rows_free(&r);
    /* a purged mock stored again starts without the old row */
    assert_int_equal(st->ops->mocks_put(st, &m[2], 1), 0);
    r = load_usage(st);
    assert_false(has_row(&r, "c|7|70"));
    rows_free(&r);
}

static void test_failing_batch_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_stored_mock_t old = {"m3", "sandbox", "{\"old\":true}"};
    assert_int_equal(st->ops->mocks_put(st, &old, 1), 0);

    /* Constraint failure in the middle: the NULL json of item 5. */
    dp_stored_mock_t m[10];
    char ids[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        m[i] = (dp_stored_mock_t){ids[i], "sandbox", "{\"new\":true}"};
    }
    m[5].json = NULL;
    assert_int_equal(st->ops->mocks_put(st, m, 10), -EINVAL);
    rows_t r = load_mocks(st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "m3|sandbox|{\"old\":true}");
    rows_free(&r);

    /* Injected I/O failure on the 7th write. */
    m[5].json = "{\"new\":true}";
    dp_storage_sqlite_fail_after(st, 7);
    assert_int_equal(st->ops->mocks_put(st, m, 10), -EIO);
    r = load_mocks(st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "m3|sandbox|{\"old\":true}");
    rows_free(&r);

    /* The connection is still usable and the same batch now passes. */
    assert_int_equal(st->ops->mocks_put(st, m, 10), 0);
    r = load_mocks(st);
    assert_int_equal(r.n, 10);
    assert_true(has_row(&r, "m3|sandbox|{\"new\":true}"));
    rows_free(&r);

    /* A failing delete batch deletes nothing. */
    const char *del[] = {"m0", "m1", "m2"};
    dp_storage_sqlite_fail_after(st, 3);
    assert_int_equal(st->ops->mocks_delete(st, del, 3), -EIO);
    r = load_mocks(st);
    assert_int_equal(r.n, 10);
    rows_free(&r);

    /* Same for stores and reset. */
    dp_store_entry_t e[] = {{"sandbox", "global", "a", "1"},
                            {"sandbox", "global", "b", "2"}};
    dp_storage_sqlite_fail_after(st, 2);
    assert_int_equal(st->ops->store_put(st, e, 2), -EIO);
    r = load_stores(st);
    assert_int_equal(r.n, 0);
    rows_free(&r);
    assert_int_equal(st->ops->store_put(st, e, 2), 0);
    dp_storage_sqlite_fail_after(st, 2); /* mocks go, stores fail */
    assert_int_equal(st->ops->reset_ns(st, "sandbox"), -EIO);
    r = load_mocks(st);
    assert_int_equal(r.n, 10);
    rows_free(&r);
    r = load_stores(st);
    assert_int_equal(r.n, 2);
    rows_free(&r);

    /* Nothing of the failures reached the file either. */
    reopen(f);
    r = load_mocks(f->st);
    assert_int_equal(r.n, 10);
    rows_free(&r);
}

/* A group is one transaction: a mock, its store rows and an audit row go
 * in together or not at all (the admin API's writes). */
static int count_audit(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM auth_audit", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void test_group_is_one_transaction(void **state)
{
    fixture_t *f = *state;
    dp_storage_t *st = f->st;
    dp_audit_row_t row = {1,      "alice",  "tok1", "mocks.create",
                          "shop", "/mocks", NULL};
    /* The audit table belongs to the auth store: without it the row (and
     * so the group) fails. */
    assert_int_equal(st->ops->group_begin(st), 0);
    assert_int_equal(st->ops->group_begin(st), -EBUSY); /* no nesting */
    dp_stored_mock_t m = {"g1", "shop", "{\"g\":1}"};
    assert_int_equal(st->ops->mocks_put(st, &m, 1), 0);
    int rc = st->ops->audit_put(st, &row, 0);
    assert_true(rc < 0);
    assert_int_equal(st->ops->group_end(st, rc), rc);
    rows_t r = load_mocks(st);
    assert_int_equal(r.n, 0);
    rows_free(&r);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE auth_audit (id INTEGER PRIMARY KEY "
                     "AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT "
                     "NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL, ns "
                     "TEXT, target TEXT, detail TEXT)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    /* all three commit together */
    dp_store_entry_t e = {"shop", "mock:g1", "k", "1"};
    assert_int_equal(st->ops->group_begin(st), 0);
    assert_int_equal(st->ops->mocks_put(st, &m, 1), 0);
    assert_int_equal(st->ops->store_put(st, &e, 1), 0);
    assert_int_equal(st->ops->audit_put(st, &row, 0), 0);
    assert_int_equal(st->ops->group_end(st, 0), 0);
    assert_int_equal(count_audit(f->path), 1);

    /* a failure anywhere in the group rolls back all of it */
    dp_stored_mock_t m2 = {"g2", "shop", "{\"g\":2}"};
    dp_store_entry_t e2 = {"shop", "mock:g2", "k", "2"};
    assert_int_equal(st->ops->group_begin(st), 0);
    assert_int_equal(st->ops->mocks_put(st, &m2, 1), 0);
    assert_int_equal(st->ops->audit_put(st, &row, 0), 0);
    dp_storage_sqlite_fail_after(st, 1);
    rc = st->ops->store_put(st, &e2, 1);
    assert_int_equal(rc, -EIO);
    assert_int_equal(st->ops->group_end(st, rc), -EIO);
    r = load_mocks(st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "g1|shop|{\"g\":1}");
    rows_free(&r);
    r = load_stores(st);
    assert_int_equal(r.n, 1);
    rows_free(&r);
    assert_int_equal(count_audit(f->path), 1);

    /* the log keeps its newest rows */
    for (int i = 0; i < 5; i++)
        assert_int_equal(st->ops->audit_put(st, &row, 3), 0);
    assert_int_equal(count_audit(f->path), 3);
    /* and everything survives a reopen */
    reopen(f);
    r = load_mocks(f->st);
    assert_int_equal(r.n, 1);
    rows_free(&r);
}

static void test_reopen_keeps_everything(void **state)
{
    fixture_t *f = *state;
    dp_stored_mock_t m[] = {{"a", "sandbox", "{\"id\":\"a\"}"},
                            {"b", "ns2", "{\"id\":\"b\"}"}};
    dp_store_entry_t e[] = {{"sandbox", "global", "k", "{\"deep\":[1]}"}};
    assert_int_equal(f->st->ops->mocks_put(f->st, m, 2), 0);
    assert_int_equal(f->st->ops->store_put(f->st, e, 1), 0);
    reopen(f);
    rows_t r = load_mocks(f->st);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.line[0], "a|sandbox|{\"id\":\"a\"}");
    assert_string_equal(r.line[1], "b|ns2|{\"id\":\"b\"}");
    rows_free(&r);
    r = load_stores(f->st);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "sandbox|global|k|{\"deep\":[1]}");
    rows_free(&r);
}

static void test_schema_and_pragmas(void **state)
{
    fixture_t *f = *state;
    f->st->ops->close(f->st);
    f->st = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0),
                     dp_storage_sqlite_schema_version());
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    /* A file from a newer doppel is refused with a clear message. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256] = "";
    dp_storage_t *st = NULL;
    assert_int_equal(dp_storage_sqlite_open(f->path, &st, err, sizeof(err)),
                     -EPROTO);
    assert_null(st);
    assert_non_null(strstr(err, "schema version 999 is newer"));
}

static int load_config_row(void *arg, const dp_config_row_t *r)
{
    rows_add(arg, "%s|%s|%s|%s", r->ns, r->kind, r->name, r->json);
    return 0;
}

/* Record-and-replay settings (schema v3): upsert, delete, one transaction
 * per call, kept across a reopen. */
static void test_config_rows(void **state)
{
    fixture_t *f = *state;
    dp_config_row_t put[] = {
        {"a", "service", "users", "{\"target\":\"http://u\"}"},
        {"a", "mode", "", "{\"mode\":\"LEARN\"}"},
        {"b", "service", "users", "{\"target\":\"http://b\"}"},
    };
    assert_int_equal(f->st->ops->config_put(f->st, put, 3), 0);
    dp_config_row_t upd[] = {
        {"a", "mode", "", "{\"mode\":\"MOCK\"}"},
        {"b", "service", "users", NULL},
    };
    assert_int_equal(f->st->ops->config_put(f->st, upd, 2), 0);
    /* a row without a namespace fails the whole call */
    dp_config_row_t bad[] = {
        {"c", "mode", "", "{\"mode\":\"SPY\"}"},
        {NULL, "mode", "", "{}"},
    };
    assert_int_equal(f->st->ops->config_put(f->st, bad, 2), -EINVAL);
    f->st->ops->close(f->st);
    char err[256];
    assert_int_equal(dp_storage_sqlite_open(f->path, &f->st, err, sizeof(err)),
                     0);
    rows_t r = {0};
    assert_int_equal(f->st->ops->config_load(f->st, load_config_row, &r), 0);
    assert_int_equal(r.n, 2);
    assert_true(has_row(&r, "a|mode||{\"mode\":\"MOCK\"}"));
    assert_true(has_row(&r, "a|service|users|{\"target\":\"http://u\"}"));
    rows_free(&r);
    /* a namespace reset leaves settings alone */
    assert_int_equal(f->st->ops->reset_ns(f->st, "a"), 0);
    assert_int_equal(f->st->ops->config_load(f->st, load_config_row, &r), 0);
    assert_int_equal(r.n, 2);
    rows_free(&r);
}

static int load_mock_row(void *arg, const dp_stored_mock_t *m)
{
    rows_add(arg, "%s|%s|%s", m->id, m->ns, m->json);
    return 0;
}

/* A database written by a build of schema v2 opens, keeps its rows and is
 * migrated to the current version. */
static void test_migrates_v2(void **state)
{
    fixture_t *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/v2.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *v2 =
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE mocks (id TEXT PRIMARY KEY NOT NULL, ns TEXT NOT NULL,"
        " json TEXT NOT NULL, updated_at INTEGER NOT NULL);"
        "CREATE INDEX mocks_ns ON mocks(ns);"
        "CREATE TABLE stores (ns TEXT NOT NULL, scope TEXT NOT NULL,"
        " key TEXT NOT NULL, json TEXT NOT NULL, updated_at INTEGER NOT NULL,"
        " PRIMARY KEY (ns, scope, key)) WITHOUT ROWID;"
        "CREATE TABLE usage (id TEXT PRIMARY KEY NOT NULL,"
        " use_counter INTEGER NOT NULL, last_use INTEGER NOT NULL)"
        " WITHOUT ROWID;"
        "INSERT INTO mocks VALUES ('m1', 'sandbox', '{\"id\":\"m1\"}', 1);"
        "PRAGMA user_version = 2;";
    assert_int_equal(sqlite3_exec(db, v2, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256] = "";
    dp_storage_t *st = NULL;
    assert_int_equal(dp_storage_sqlite_open(path, &st, err, sizeof(err)), 0);
    rows_t r = {0};
    assert_int_equal(st->ops->mocks_load(st, load_mock_row, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.line[0], "m1|sandbox|{\"id\":\"m1\"}");
    rows_free(&r);
    assert_int_equal(st->ops->config_load(st, load_config_row, &r), 0);
    assert_int_equal(r.n, 0);
    dp_config_row_t row = {"sandbox", "mode", "", "{\"mode\":\"MOCK\"}"};
    assert_int_equal(st->ops->config_put(st, &row, 1), 0);
    st->ops->close(st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0),
                     dp_storage_sqlite_schema_version());
    assert_int_equal(dp_storage_sqlite_schema_version(), 6);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static int load_tfile_row(void *arg, const dp_tfile_row_t *r)
{
    rows_add(arg, "%s|%s|%s|%lld", r->ns, r->name, r->content,
             (long long)r->updated_at);
    return 0;
}

/* Template files: upsert, delete, all or nothing, kept across a reopen and
 * a namespace reset. */
static void test_tfile_rows(void **state)
{
    fixture_t *f = *state;
    dp_tfile_row_t put[] = {
        {"a", "user.json", "{\"id\": \"$.req.id\"}", 10},
        {"a", "plain.txt", "hello $.req.name", 11},
        {"b", "user.json", "{}", 12},
    };
    assert_int_equal(f->st->ops->tfiles_put(f->st, put, 3), 0);
    dp_tfile_row_t upd[] = {
        {"a", "plain.txt", "bye", 20},
        {"b", "user.json", NULL, 0},
    };
    assert_int_equal(f->st->ops->tfiles_put(f->st, upd, 2), 0);
    /* a row without a name fails the whole call */
    dp_tfile_row_t bad[] = {
        {"c", "x", "y", 1},
        {"c", NULL, "z", 1},
    };
    assert_int_equal(f->st->ops->tfiles_put(f->st, bad, 2), -EINVAL);
    reopen(f);
    rows_t r = {0};
    assert_int_equal(f->st->ops->tfiles_load(f->st, load_tfile_row, &r), 0);
    assert_int_equal(r.n, 2);
    assert_true(has_row(&r, "a|user.json|{\"id\": \"$.req.id\"}|10"));
    assert_true(has_row(&r, "a|plain.txt|bye|20"));
    rows_free(&r);
    assert_int_equal(f->st->ops->reset_ns(f->st, "a"), 0);
    assert_int_equal(f->st->ops->tfiles_load(f->st, load_tfile_row, &r), 0);
    assert_int_equal(r.n, 2);
    rows_free(&r);
}

static void test_not_a_database(void **state)
{
    fixture_t *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not a sqlite file at all ", fp);
    fclose(fp);
    char err[256] = "";
    dp_storage_t *st = NULL;
    int rc = dp_storage_sqlite_open(path, &st, err, sizeof(err));
    assert_true(rc < 0);
    assert_null(st);
    assert_non_null(strstr(err, path));

    snprintf(path, sizeof(path), "%s/no/such/dir/x.db", f->dir);
    assert_int_equal(dp_storage_sqlite_open(path, &st, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "No such file"));
}

static void test_file_mode_0600(void **state)
{
    fixture_t *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
    mode_t old = umask(022);
    dp_storage_t *st = NULL;
    char err[256];
    assert_int_equal(dp_storage_sqlite_open(path, &st, err, sizeof(err)), 0);
    dp_stored_mock_t m = {"a", "x", "{}"};
    assert_int_equal(st->ops->mocks_put(st, &m, 1), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* SQLite gives the WAL the database file's permissions. */
    char wal[192];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    st->ops->close(st);
    umask(old);
}

static void test_big_batch(void **state)
{
    fixture_t *f = *state;
    enum { N = 10000 };
    dp_stored_mock_t *m = calloc(N, sizeof(*m));
    char (*ids)[16] = calloc(N, 16);
    char (*js)[96] = calloc(N, 96);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 16, "mock-%05d", i);
        snprintf(js[i], 96,
                 "{\"id\":\"mock-%05d\",\"http\":{\"route\":\"/p/%d\"}}", i, i);
        m[i] = (dp_stored_mock_t){ids[i], "sandbox", js[i]};
    }
    assert_int_equal(f->st->ops->mocks_put(f->st, m, N), 0);
    reopen(f);
    rows_t r = load_mocks(f->st);
    assert_int_equal(r.n, N);
    assert_string_equal(r.line[N - 1], "mock-09999|sandbox|{\"id\":\"mock-09999\","
                                       "\"http\":{\"route\":\"/p/9999\"}}");
    rows_free(&r);
    free(m);
    free(ids);
    free(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mock_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_callback_stops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_ns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_batch_leaves_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_is_one_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_and_pragmas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tfile_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
