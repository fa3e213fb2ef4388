/*
 * The embedded persistence back end: one SQLite file in WAL mode.
 *
 * Durability: synchronous=FULL in WAL mode syncs the WAL on every commit, so
 * once a call returned 0 its transaction survives kill -9 (and power loss,
 * as far as the disk honours fsync). Every call of the dp_storage_ops_t is
 * exactly one BEGIN IMMEDIATE ... COMMIT; any failure rolls back, so a call
 * that returns an error changed nothing. Inside a group (group_begin ..
 * group_end) the calls join the group's one transaction instead, and
 * group_end commits or rolls back all of them.
 *
 * Threading: the engine calls a back end from one thread at a time (under its
 * writer lock), so this file needs no locks. The connection is opened with
 * SQLITE_OPEN_NOMUTEX for the same reason.
 */
#include "storage_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define LOG_COMP "storage"

/* Migrations, applied in order; user_version is the number applied. Append
 * only: a released step is never edited, a change is a new step. */
static const char *const migrations[] = {
    /* 1: mocks and stores */
    "CREATE TABLE mocks ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  ns TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX mocks_ns ON mocks(ns);"
    "CREATE TABLE stores ("
    "  ns TEXT NOT NULL,"
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (ns, scope, key)) WITHOUT ROWID;",
    /* 2: use counters apart from the mocks' JSON (written every second) */
    "CREATE TABLE usage ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  use_counter INTEGER NOT NULL,"
    "  last_use INTEGER NOT NULL) WITHOUT ROWID;",
    /* 3: record and replay: services and modes per namespace */
    "CREATE TABLE rr_config ("
    "  ns TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (ns, kind, name)) WITHOUT ROWID;",
    /* 4: response template files (payloadTemplatePath, valueFromFile) */
    "CREATE TABLE template_files ("
    "  ns TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  content TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (ns, name)) WITHOUT ROWID;",
    /* 5: the kept versions of each mock, written with the mock */
    "CREATE TABLE mock_versions ("
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  ns TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  who TEXT,"
    "  summary TEXT,"
    "  PRIMARY KEY (id, version)) WITHOUT ROWID;",
    /* 6: protocol plugins' schema files (.proto), per section and
     * namespace, replayed into the plugin at start-up */
    "CREATE TABLE schemas ("
    "  section TEXT NOT NULL,"
    "  ns TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  content TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (section, ns, name)) WITHOUT ROWID;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_MOCK_PUT,
    ST_MOCK_DEL,
    ST_MOCK_LOAD,
    ST_STORE_PUT,
    ST_STORE_DEL,
    ST_STORE_LOAD,
    ST_RESET_MOCKS,
    ST_RESET_STORES,
    ST_USAGE_PUT,
    ST_USAGE_DEL,
    ST_USAGE_LOAD,
    ST_RESET_USAGE,
    ST_CONFIG_PUT,
    ST_CONFIG_DEL,
    ST_CONFIG_LOAD,
    ST_TFILE_PUT,
    ST_TFILE_DEL,
    ST_TFILE_LOAD,
    ST_VER_PUT,
    ST_VER_TRIM,
    ST_VER_DEL,
    ST_VER_LOAD,
    ST_VER_HEADS,
    ST_RESET_VERSIONS,
    ST_SCHEMA_PUT,
    ST_SCHEMA_DEL,
    ST_SCHEMA_LOAD,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_MOCK_PUT] = "INSERT INTO mocks (id, ns, json, updated_at) "
                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET "
                    "ns = excluded.ns, json = excluded.json, "
                    "updated_at = excluded.updated_at",
    [ST_MOCK_DEL] = "DELETE FROM mocks WHERE id = ?1",
    [ST_MOCK_LOAD] = "SELECT id, ns, json FROM mocks ORDER BY rowid",
    [ST_STORE_PUT] = "INSERT INTO stores (ns, scope, key, json, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ns, scope, key) "
                     "DO UPDATE SET json = excluded.json, "
                     "updated_at = excluded.updated_at",
    [ST_STORE_DEL] = "DELETE FROM stores WHERE ns = ?1 AND scope = ?2 AND "
                     "key = ?3",
    [ST_STORE_LOAD] = "SELECT ns, scope, key, json FROM stores "
                      "ORDER BY ns, scope, key",
    [ST_RESET_MOCKS] = "DELETE FROM mocks WHERE ns = ?1",
    [ST_RESET_STORES] = "DELETE FROM stores WHERE ns = ?1",
    /* only for mocks that are stored: a purge racing a flush leaves none */
    [ST_USAGE_PUT] = "INSERT INTO usage (id, use_counter, last_use) "
                     "SELECT ?1, ?2, ?3 WHERE EXISTS "
                     "(SELECT 1 FROM mocks WHERE id = ?1) "
                     "ON CONFLICT (id) DO UPDATE SET "
                     "use_counter = excluded.use_counter, "
                     "last_use = excluded.last_use",
    [ST_USAGE_DEL] = "DELETE FROM usage WHERE id = ?1",
    [ST_USAGE_LOAD] = "SELECT id, use_counter, last_use FROM usage",
    [ST_RESET_USAGE] = "DELETE FROM usage WHERE id IN "
                       "(SELECT id FROM mocks WHERE ns = ?1)",
    [ST_CONFIG_PUT] = "INSERT INTO rr_config (ns, kind, name, json, "
                      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT (ns, kind, name) DO UPDATE SET "
                      "json = excluded.json, updated_at = excluded.updated_at",
    [ST_CONFIG_DEL] = "DELETE FROM rr_config WHERE ns = ?1 AND kind = ?2 AND "
                      "name = ?3",
    [ST_CONFIG_LOAD] = "SELECT ns, kind, name, json FROM rr_config "
                       "ORDER BY ns, kind, name",
    [ST_TFILE_PUT] = "INSERT INTO template_files (ns, name, content, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (ns, name) DO UPDATE SET "
                     "content = excluded.content, "
                     "updated_at = excluded.updated_at",
    [ST_TFILE_DEL] = "DELETE FROM template_files WHERE ns = ?1 AND name = ?2",
    [ST_TFILE_LOAD] = "SELECT ns, name, content, updated_at FROM "
                      "template_files ORDER BY ns, name",
    [ST_VER_PUT] = "INSERT OR REPLACE INTO mock_versions (id, version, ns, "
                   "json, created_at, who, summary) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_VER_TRIM] = "DELETE FROM mock_versions WHERE id = ?1 AND "
                    "version <= ?2",
    [ST_VER_DEL] = "DELETE FROM mock_versions WHERE id = ?1",
    [ST_VER_LOAD] = "SELECT id, version, ns, json, created_at, who, summary "
                    "FROM mock_versions WHERE id = ?1 ORDER BY version DESC",
    [ST_VER_HEADS] = "SELECT id, MAX(version) FROM mock_versions GROUP BY id",
    [ST_RESET_VERSIONS] = "DELETE FROM mock_versions WHERE id IN "
                          "(SELECT id FROM mocks WHERE ns = ?1)",
    [ST_SCHEMA_PUT] = "INSERT INTO schemas (section, ns, name, content, "
                      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT (section, ns, name) DO UPDATE SET "
                      "content = excluded.content, "
                      "updated_at = excluded.updated_at",
    [ST_SCHEMA_DEL] = "DELETE FROM schemas WHERE section = ?1 AND ns = ?2 "
                      "AND name = ?3",
    [ST_SCHEMA_LOAD] = "SELECT section, ns, name, content, updated_at FROM "
                       "schemas ORDER BY section, ns, name",
};

typedef struct sqlite_storage {
    dp_storage_t base; /* first: the engine sees a dp_storage_t */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT]; /* prepared once, reset after each use */
    unsigned fail_after;        /* test fault injection, 0 = off */
    int group;                  /* a group's transaction is open */
    /* the audit log's statements: prepared on first use, since its table
     * is created by the auth store, which opens the file after us */
    sqlite3_stmt *audit_ins, *audit_trim;
} sqlite_storage_t;

int dp_storage_sqlite_schema_version(void)
{
    return N_MIGRATIONS;
}

void dp_storage_sqlite_fail_after(dp_storage_t *s, unsigned n)
{
    ((sqlite_storage_t *)s)->fail_after = n;
}

static int errno_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return -EINVAL;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    default:
        return -EIO;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs st, a statement that returns no rows, and resets it. inject: a row
 * write that the test fault injection counts. */
static int step_stmt(sqlite_storage_t *s, sqlite3_stmt *st, int inject,
                     const char *what)
{
    int rc;
    if (s->fail_after > 0 && inject && --s->fail_after == 0) {
        dp_error(LOG_COMP, "%s: injected I/O failure (test)", what);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return -EIO;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        dp_error(LOG_COMP, "%s: %s (%s)", what, sqlite3_errmsg(s->db),
                 sqlite3_errstr(rc));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (errno_of(rc) ?: -EIO);
}

/* Runs one of the prepared statements s->st[which]. */
static int step_done(sqlite_storage_t *s, int which, const char *what)
{
    return step_stmt(
        s, s->st[which],
        which != ST_BEGIN && which != ST_COMMIT && which != ST_ROLLBACK, what);
}

/* A call's own transaction; inside a group, the group's. */
static int tx_begin(sqlite_storage_t *s)
{
    return s->group ? 0 : step_done(s, ST_BEGIN, "begin transaction");
}

/* Commits on err == 0, otherwise rolls back; returns the first error.
 * Inside a group this is group_end's to do. */
static int tx_end(sqlite_storage_t *s, int err)
{
    if (s->group)
        return err;
    if (err == 0) {
        err = step_done(s, ST_COMMIT, "commit");
        if (err == 0)
            return 0;
    }
    /* A failed COMMIT may leave the transaction open; ROLLBACK is then
     * required. If SQLite already rolled back by itself, ROLLBACK fails
     * harmlessly ("no transaction is active"), so check autocommit first. */
    if (!sqlite3_get_autocommit(s->db))
        step_done(s, ST_ROLLBACK, "rollback");
    return err;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *v)
{
    if (v == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

/* Steps a row-returning statement to its end, handing each row to fn, and
 * resets it. Stops at the first non-zero from fn and returns it. */
static int each_row(sqlite_storage_t *s, int which, const char *what,
                    int (*fn)(sqlite3_stmt *st, void *ctx), void *ctx)
{
    sqlite3_stmt *st = s->st[which];
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(st, ctx);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        dp_error(LOG_COMP, "%s: %s", what, sqlite3_errmsg(s->db));
        ret = errno_of(rc) ?: -EIO;
    }
    sqlite3_reset(st);
    return ret;
}

/* A table whose rows are keyed by three text columns (?1..?3) and carry a
 * JSON text (?4) and a time stamp (?5): stores and rr_config. */
typedef struct keyed_table {
    int put, del;         /* statements: upsert, delete by key */
    const char *put_what; /* for the log */
    const char *del_what;
} keyed_table_t;

static const keyed_table_t stores_table = {ST_STORE_PUT, ST_STORE_DEL,
                                           "store entry", "delete store entry"};
static const keyed_table_t config_table = {ST_CONFIG_PUT, ST_CONFIG_DEL,
                                           "store setting", "delete setting"};

/* Writes one row of t, or deletes it when json is NULL (inside the caller's
 * transaction). A NULL key is -EINVAL. */
static int keyed_put(sqlite_storage_t *s, const keyed_table_t *t,
                     const char *k1, const char *k2, const char *k3,
                     const char *json, int64_t ts)
{
    if (k1 == NULL || k2 == NULL || k3 == NULL)
        return -EINVAL;
    int which = json ? t->put : t->del;
    sqlite3_stmt *st = s->st[which];
    bind_text(st, 1, k1);
    bind_text(st, 2, k2);
    bind_text(st, 3, k3);
    if (json) {
        bind_text(st, 4, json);
        sqlite3_bind_int64(st, 5, ts);
    }
    return step_done(s, which, json ? t->put_what : t->del_what);
}

/* Keeps version v (inside the caller's transaction) and drops the
 * versions of its mock older than the newest keep (0: none dropped). */
static int version_put(sqlite_storage_t *s, const dp_mock_version_t *v,
                       unsigned keep, int64_t ts)
{
    sqlite3_stmt *st = s->st[ST_VER_PUT];
    if (v->id == NULL || v->ns == NULL || v->json == NULL || v->version <= 0)
        return -EINVAL;
    bind_text(st, 1, v->id);
    sqlite3_bind_int64(st, 2, v->version);
    bind_text(st, 3, v->ns);
    bind_text(st, 4, v->json);
    sqlite3_bind_int64(st, 5, ts);
    bind_text(st, 6, v->who);
    bind_text(st, 7, v->summary);
    int err = step_done(s, ST_VER_PUT, "keep mock version");
    if (err == 0 && keep > 0 && v->version > (int64_t)keep) {
        bind_text(s->st[ST_VER_TRIM], 1, v->id);
        sqlite3_bind_int64(s->st[ST_VER_TRIM], 2, v->version - keep);
        err = step_done(s, ST_VER_TRIM, "drop old mock versions");
    }
    return err;
}

static int sq_mocks_put_versions(dp_storage_t *base, const dp_stored_mock_t *m,
                                 size_t n, const dp_mock_version_t *v,
                                 size_t nv, unsigned keep)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if ((n > 0 && m == NULL) || (nv > 0 && v == NULL))
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    int64_t ts = now_ms();
    sqlite3_stmt *st = s->st[ST_MOCK_PUT];
    for (size_t i = 0; i < n && err == 0; i++) {
        /* NULL fields bind as NULL and hit the NOT NULL constraints, which
         * rolls the whole batch back. */
        if (bind_text(st, 1, m[i].id) || bind_text(st, 2, m[i].ns) ||
            bind_text(st, 3, m[i].json) || sqlite3_bind_int64(st, 4, ts)) {
            sqlite3_reset(st);
            err = -ENOMEM;
            break;
        }
        err = step_done(s, ST_MOCK_PUT, "store mock");
        if (err == 0) { /* the JSON carries the counters now */
            bind_text(s->st[ST_USAGE_DEL], 1, m[i].id);
            err = step_done(s, ST_USAGE_DEL, "drop usage");
        }
    }
    for (size_t i = 0; i < nv && err == 0; i++)
        err = version_put(s, &v[i], keep, ts);
    return tx_end(s, err);
}

static int sq_mocks_put(dp_storage_t *base, const dp_stored_mock_t *m, size_t n)
{
    return sq_mocks_put_versions(base, m, n, NULL, 0, 0);
}

static int sq_mocks_delete(dp_storage_t *base, const char *const *ids, size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && ids == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    sqlite3_stmt *st = s->st[ST_MOCK_DEL];
    for (size_t i = 0; i < n && err == 0; i++) {
        if (ids[i] == NULL) {
            err = -EINVAL;
            break;
        }
        bind_text(st, 1, ids[i]);
        err = step_done(s, ST_MOCK_DEL, "delete mock");
        if (err == 0) {
            bind_text(s->st[ST_USAGE_DEL], 1, ids[i]);
            err = step_done(s, ST_USAGE_DEL, "drop usage");
        }
        if (err == 0) {
            bind_text(s->st[ST_VER_DEL], 1, ids[i]);
            err = step_done(s, ST_VER_DEL, "drop mock versions");
        }
    }
    return tx_end(s, err);
}

typedef struct mock_load {
    dp_mock_load_cb cb;
    void *arg;
} mock_load_t;

static int mock_row(sqlite3_stmt *st, void *ctx)
{
    const mock_load_t *l = ctx;
    dp_stored_mock_t m = {
        .id = (const char *)sqlite3_column_text(st, 0),
        .ns = (const char *)sqlite3_column_text(st, 1),
        .json = (const char *)sqlite3_column_text(st, 2),
    };
    if (m.id == NULL || m.ns == NULL || m.json == NULL)
        return -ENOMEM; /* column_text only fails on allocation */
    return l->cb(l->arg, &m);
}

static int sq_mocks_load(dp_storage_t *base, dp_mock_load_cb cb, void *arg)
{
    mock_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_MOCK_LOAD, "load mocks",
                    mock_row, &l);
}

static int sq_store_put(dp_storage_t *base, const dp_store_entry_t *e, size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && e == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    int64_t ts = now_ms();
    for (size_t i = 0; i < n && err == 0; i++)
        err = keyed_put(s, &stores_table, e[i].ns, e[i].scope, e[i].key,
                        e[i].json, ts);
    return tx_end(s, err);
}

typedef struct store_load {
    dp_store_load_cb cb;
    void *arg;
} store_load_t;

static int store_row(sqlite3_stmt *st, void *ctx)
{
    const store_load_t *l = ctx;
    dp_store_entry_t e = {
        .ns = (const char *)sqlite3_column_text(st, 0),
        .scope = (const char *)sqlite3_column_text(st, 1),
        .key = (const char *)sqlite3_column_text(st, 2),
        .json = (const char *)sqlite3_column_text(st, 3),
    };
    if (!e.ns || !e.scope || !e.key || !e.json)
        return -ENOMEM;
    return l->cb(l->arg, &e);
}

static int sq_store_load(dp_storage_t *base, dp_store_load_cb cb, void *arg)
{
    store_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_STORE_LOAD, "load stores",
                    store_row, &l);
}

static int sq_reset_ns(dp_storage_t *base, const char *ns)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (ns == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    bind_text(s->st[ST_RESET_USAGE], 1, ns);
    err = step_done(s, ST_RESET_USAGE, "reset usage");
    if (err == 0) {
        bind_text(s->st[ST_RESET_VERSIONS], 1, ns);
        err = step_done(s, ST_RESET_VERSIONS, "reset mock versions");
    }
    if (err == 0) {
        bind_text(s->st[ST_RESET_MOCKS], 1, ns);
        err = step_done(s, ST_RESET_MOCKS, "reset mocks");
    }
    if (err == 0) {
        bind_text(s->st[ST_RESET_STORES], 1, ns);
        err = step_done(s, ST_RESET_STORES, "reset stores");
    }
    return tx_end(s, err);
}

static int sq_usage_put(dp_storage_t *base, const dp_mock_usage_t *u, size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && u == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    sqlite3_stmt *st = s->st[ST_USAGE_PUT];
    for (size_t i = 0; i < n && err == 0; i++) {
        if (u[i].id == NULL) {
            err = -EINVAL;
            break;
        }
        bind_text(st, 1, u[i].id);
        sqlite3_bind_int64(st, 2, u[i].use_counter);
        sqlite3_bind_int64(st, 3, u[i].last_use);
        err = step_done(s, ST_USAGE_PUT, "store usage");
    }
    return tx_end(s, err);
}

typedef struct usage_load {
    dp_usage_load_cb cb;
    void *arg;
} usage_load_t;

static int usage_row(sqlite3_stmt *st, void *ctx)
{
    const usage_load_t *l = ctx;
    dp_mock_usage_t u = {
        .id = (const char *)sqlite3_column_text(st, 0),
        .use_counter = sqlite3_column_int64(st, 1),
        .last_use = sqlite3_column_int64(st, 2),
    };
    if (u.id == NULL)
        return -ENOMEM;
    return l->cb(l->arg, &u);
}

static int sq_usage_load(dp_storage_t *base, dp_usage_load_cb cb, void *arg)
{
    usage_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_USAGE_LOAD, "load usage",
                    usage_row, &l);
}

static int sq_config_put(dp_storage_t *base, const dp_config_row_t *r, size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && r == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    int64_t ts = now_ms();
    for (size_t i = 0; i < n && err == 0; i++)
        err = keyed_put(s, &config_table, r[i].ns, r[i].kind, r[i].name,
                        r[i].json, ts);
    return tx_end(s, err);
}

typedef struct config_load {
    dp_config_load_cb cb;
    void *arg;
} config_load_t;

static int config_row(sqlite3_stmt *st, void *ctx)
{
    const config_load_t *l = ctx;
    dp_config_row_t row = {
        .ns = (const char *)sqlite3_column_text(st, 0),
        .kind = (const char *)sqlite3_column_text(st, 1),
        .name = (const char *)sqlite3_column_text(st, 2),
        .json = (const char *)sqlite3_column_text(st, 3),
    };
    if (!row.ns || !row.kind || !row.name || !row.json)
        return -ENOMEM;
    return l->cb(l->arg, &row);
}

static int sq_config_load(dp_storage_t *base, dp_config_load_cb cb, void *arg)
{
    config_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_CONFIG_LOAD, "load settings",
                    config_row, &l);
}

typedef struct version_load {
    dp_version_load_cb cb;
    void *arg;
    int heads; /* rows of ST_VER_HEADS: id and version only */
} version_load_t;

static int version_row(sqlite3_stmt *st, void *ctx)
{
    const version_load_t *l = ctx;
    dp_mock_version_t v = {
        .id = (const char *)sqlite3_column_text(st, 0),
        .version = sqlite3_column_int64(st, 1),
    };
    if (v.id == NULL)
        return -ENOMEM;
    if (!l->heads) {
        v.ns = (const char *)sqlite3_column_text(st, 2);
        v.json = (const char *)sqlite3_column_text(st, 3);
        v.created_at = sqlite3_column_int64(st, 4);
        v.who = (const char *)sqlite3_column_text(st, 5);
        v.summary = (const char *)sqlite3_column_text(st, 6);
        if (v.ns == NULL || v.json == NULL)
            return -ENOMEM;
    }
    return l->cb(l->arg, &v);
}

static int sq_versions_load(dp_storage_t *base, const char *id,
                            dp_version_load_cb cb, void *arg)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    version_load_t l = {cb, arg, id == NULL};
    if (id == NULL)
        return each_row(s, ST_VER_HEADS, "load mock version numbers",
                        version_row, &l);
    bind_text(s->st[ST_VER_LOAD], 1, id);
    int rc = each_row(s, ST_VER_LOAD, "load mock versions", version_row, &l);
    sqlite3_clear_bindings(s->st[ST_VER_LOAD]);
    return rc;
}

static int sq_group_begin(dp_storage_t *base)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (s->group)
        return -EBUSY;
    int err = tx_begin(s);
    if (err == 0)
        s->group = 1;
    return err;
}

static int sq_group_end(dp_storage_t *base, int err)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (!s->group)
        return err < 0 ? err : -EINVAL;
    s->group = 0;
    return tx_end(s, err);
}

static int audit_prepare(sqlite_storage_t *s, sqlite3_stmt **st,
                         const char *sql)
{
    if (*st != NULL)
        return 0;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        dp_error(LOG_COMP, "audit log: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(*st);
        *st = NULL;
        return errno_of(rc) ?: -EIO;
    }
    return 0;
}

/* The same row, and the same trimming, as the auth store's own append
 * (host/auth/auth_store_sqlite.c), on this connection. */
static int sq_audit_put(dp_storage_t *base, const dp_audit_row_t *r,
                        size_t keep)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (r == NULL || r->action == NULL)
        return -EINVAL;
    int err = audit_prepare(s, &s->audit_ins,
                            "INSERT INTO auth_audit (at_ms, actor, actor_id,"
                            " action, ns, target, detail)"
                            " VALUES (?,?,?,?,?,?,?)");
    if (err == 0)
        err = audit_prepare(s, &s->audit_trim,
                            "DELETE FROM auth_audit WHERE id <= ?");
    if (err == 0)
        err = tx_begin(s);
    if (err)
        return err;
    sqlite3_stmt *st = s->audit_ins;
    sqlite3_bind_int64(st, 1, r->at_ms);
    bind_text(st, 2, r->actor ? r->actor : "anonymous");
    bind_text(st, 3, r->actor_id ? r->actor_id : "");
    bind_text(st, 4, r->action);
    bind_text(st, 5, r->ns);
    bind_text(st, 6, r->target);
    bind_text(st, 7, r->detail);
    err = step_stmt(s, st, 1, "audit row");
    sqlite3_int64 last = sqlite3_last_insert_rowid(s->db);
    if (err == 0 && keep > 0 && last > (sqlite3_int64)keep) {
        sqlite3_bind_int64(s->audit_trim, 1, last - (sqlite3_int64)keep);
        err = step_stmt(s, s->audit_trim, 1, "trim audit log");
    }
    return tx_end(s, err);
}

static int sq_tfiles_put(dp_storage_t *base, const dp_tfile_row_t *r, size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && r == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    for (size_t i = 0; i < n && err == 0; i++) {
        if (r[i].ns == NULL || r[i].name == NULL) {
            err = -EINVAL;
            break;
        }
        int which = r[i].content ? ST_TFILE_PUT : ST_TFILE_DEL;
        sqlite3_stmt *st = s->st[which];
        bind_text(st, 1, r[i].ns);
        bind_text(st, 2, r[i].name);
        if (r[i].content) {
            bind_text(st, 3, r[i].content);
            sqlite3_bind_int64(st, 4, r[i].updated_at);
        }
        err = step_done(s, which,
                        r[i].content ? "store template file"
                                     : "delete template file");
    }
    return tx_end(s, err);
}

typedef struct tfile_load {
    dp_tfile_load_cb cb;
    void *arg;
} tfile_load_t;

static int tfile_row(sqlite3_stmt *st, void *ctx)
{
    const tfile_load_t *l = ctx;
    dp_tfile_row_t row = {
        .ns = (const char *)sqlite3_column_text(st, 0),
        .name = (const char *)sqlite3_column_text(st, 1),
        .content = (const char *)sqlite3_column_text(st, 2),
        .updated_at = sqlite3_column_int64(st, 3),
    };
    if (!row.ns || !row.name || !row.content)
        return -ENOMEM;
    return l->cb(l->arg, &row);
}

static int sq_tfiles_load(dp_storage_t *base, dp_tfile_load_cb cb, void *arg)
{
    tfile_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_TFILE_LOAD,
                    "load template files", tfile_row, &l);
}

static int sq_schemas_put(dp_storage_t *base, const dp_schema_row_t *r,
                          size_t n)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (n > 0 && r == NULL)
        return -EINVAL;
    int err = tx_begin(s);
    if (err)
        return err;
    for (size_t i = 0; i < n && err == 0; i++) {
        if (r[i].section == NULL || r[i].ns == NULL || r[i].name == NULL) {
            err = -EINVAL;
            break;
        }
        int which = r[i].content ? ST_SCHEMA_PUT : ST_SCHEMA_DEL;
        sqlite3_stmt *st = s->st[which];
        bind_text(st, 1, r[i].section);
        bind_text(st, 2, r[i].ns);
        bind_text(st, 3, r[i].name);
        if (r[i].content) {
            bind_text(st, 4, r[i].content);
            sqlite3_bind_int64(st, 5, r[i].updated_at);
        }
        err = step_done(s, which,
                        r[i].content ? "store schema file"
                                     : "delete schema file");
    }
    return tx_end(s, err);
}

typedef struct schema_load {
    dp_schema_load_cb cb;
    void *arg;
} schema_load_t;

static int schema_row(sqlite3_stmt *st, void *ctx)
{
    const schema_load_t *l = ctx;
    dp_schema_row_t row = {
        .section = (const char *)sqlite3_column_text(st, 0),
        .ns = (const char *)sqlite3_column_text(st, 1),
        .name = (const char *)sqlite3_column_text(st, 2),
        .content = (const char *)sqlite3_column_text(st, 3),
        .updated_at = sqlite3_column_int64(st, 4),
    };
    if (!row.section || !row.ns || !row.name || !row.content)
        return -ENOMEM;
    return l->cb(l->arg, &row);
}

static int sq_schemas_load(dp_storage_t *base, dp_schema_load_cb cb, void *arg)
{
    schema_load_t l = {cb, arg};
    return each_row((sqlite_storage_t *)base, ST_SCHEMA_LOAD,
                    "load schema files", schema_row, &l);
}

static void sq_close(dp_storage_t *base)
{
    sqlite_storage_t *s = (sqlite_storage_t *)base;
    if (s == NULL)
        return;
    if (s->group) {
        dp_warn(LOG_COMP, "close: a group was left open; rolled back");
        sq_group_end(base, -ECANCELED);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_finalize(s->audit_ins);
    sqlite3_finalize(s->audit_trim);
    if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
        dp_warn(LOG_COMP, "close: %s", sqlite3_errmsg(s->db));
    free(s);
}

static const dp_storage_ops_t sqlite_ops = {
    .name = "sqlite",
    .mocks_put = sq_mocks_put,
    .mocks_delete = sq_mocks_delete,
    .mocks_load = sq_mocks_load,
    .store_put = sq_store_put,
    .store_load = sq_store_load,
    .reset_ns = sq_reset_ns,
    .close = sq_close,
    .usage_put = sq_usage_put,
    .usage_load = sq_usage_load,
    .config_put = sq_config_put,
    .config_load = sq_config_load,
    .group_begin = sq_group_begin,
    .group_end = sq_group_end,
    .audit_put = sq_audit_put,
    .tfiles_put = sq_tfiles_put,
    .tfiles_load = sq_tfiles_load,
    .versions_load = sq_versions_load,
    .mocks_put_versions = sq_mocks_put_versions,
    .schemas_put = sq_schemas_put,
    .schemas_load = sq_schemas_load,
};

/* Reads a one-integer pragma. */
static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Applies every migration step past the file's user_version, each in its
 * own transaction together with the new user_version. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int version = 0;
    int rc = pragma_int(db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read schema version: %s",
                 sqlite3_errmsg(db));
        return errno_of(rc) ?: -EIO;
    }
    if (version > N_MIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this doppel "
                 "supports (%d)",
                 version, N_MIGRATIONS);
        return -EPROTO;
    }
    for (int v = version; v < N_MIGRATIONS; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        char *msg = NULL;
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, bump, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "schema migration %d failed: %s", v + 1,
                     msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return errno_of(rc) ?: -EIO;
        }
    }
    return 0;
}

static int configure(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_busy_timeout(db, 5000);
    /* journal_mode returns the mode in effect; anything but "wal" means the
     * file system refused WAL (e.g. no shared memory), and the durability
     * and concurrency assumptions would not hold. */
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (mode == NULL || strcmp(mode, "wal") != 0) {
                snprintf(err, errlen, "cannot enable WAL mode (got %s)",
                         mode ? mode : "?");
                sqlite3_finalize(st);
                return -ENOTSUP;
            }
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return errno_of(rc) ?: -EIO;
    }
    return 0;
}

int dp_storage_sqlite_open(const char *path, dp_storage_t **out, char *err,
                           size_t errlen)
{
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (path == NULL || *path == '\0' || out == NULL) {
        snprintf(err, errlen, "no database path");
        return -EINVAL;
    }
    *out = NULL;

    /* SQLite would create the file 0644 (less umask); mocks and stores may
     * hold tokens, so create it private first. An existing file keeps its
     * mode: the operator may have chosen it. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    close(fd);

    sqlite_storage_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->base.ops = &sqlite_ops;
    int ret;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        ret = errno_of(rc) ?: -EIO;
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);

    char sub[384] = "";
    ret = configure(s->db, sub, sizeof(sub));
    if (ret == 0)
        ret = migrate(s->db, sub, sizeof(sub));
    if (ret != 0) {
        snprintf(err, errlen, "%s: %s", path, sub);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: prepare: %s", path,
                     sqlite3_errmsg(s->db));
            ret = errno_of(rc) ?: -EIO;
            goto fail;
        }
    }
    *out = &s->base;
    return 0;

fail:
    sq_close(&s->base);
    return ret;
}
