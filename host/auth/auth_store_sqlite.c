/*
 * The SQLite back end of auth_store.h: tables auth_* in the store's file
 * (doppel.db), its own connection, WAL + synchronous=FULL, busy_timeout so
 * that it coexists with the engine's connection. The schema version lives
 * in auth_meta (PRAGMA user_version belongs to the engine's store).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_store.h"

typedef struct sqlite_store {
    dp_auth_store_t base; /* first: the ops see a dp_auth_store_t */
    sqlite3 *db;
} sqlite_store_t;

static sqlite3 *db_of(dp_auth_store_t *s)
{
    return ((sqlite_store_t *)s)->db;
}

static int fail(dp_auth_store_t *s, int rc)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(db_of(s)));
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return -EEXIST;
    if ((rc & 0xff) == SQLITE_NOMEM)
        return -ENOMEM;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return -EBUSY;
    return -EIO;
}

/* Each migration moves the schema from version i to i + 1; append only. */
static const char *const migrations[] = {
    "CREATE TABLE auth_users ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " system_admin INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE auth_namespaces ("
    " name TEXT PRIMARY KEY, require_token INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE auth_memberships ("
    " ns TEXT NOT NULL, user_id TEXT NOT NULL, role INTEGER NOT NULL,"
    " PRIMARY KEY (ns, user_id));"
    "CREATE TABLE auth_tokens ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, user_id TEXT NOT NULL,"
    " ns TEXT NOT NULL, hash BLOB NOT NULL UNIQUE, display TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " last_used_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL);"
    "CREATE TABLE auth_integrations ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,"
    " created_by TEXT NOT NULL, ns TEXT NOT NULL, labels TEXT NOT NULL,"
    " hash BLOB NOT NULL UNIQUE, display TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " last_used_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL);"
    "CREATE TABLE auth_audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,"
    " actor TEXT NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL,"
    " ns TEXT, target TEXT, detail TEXT);"
    "CREATE INDEX auth_audit_ns ON auth_audit (ns, id);",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static int exec(dp_auth_store_t *s, const char *sql)
{
    int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc);
}

static int st_begin(dp_auth_store_t *s)
{
    return exec(s, "BEGIN IMMEDIATE");
}

static int st_commit(dp_auth_store_t *s)
{
    return exec(s, "COMMIT");
}

static void st_rollback(dp_auth_store_t *s)
{
    sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(dp_auth_store_t *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(db_of(s), sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc);
}

/* Steps a write statement to completion and finalizes it. */
static int step_done(dp_auth_store_t *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    return out;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int schema_version(dp_auth_store_t *s, int *v)
{
    sqlite3_stmt *st;
    *v = 0;
    int rc = prepare(s,
                     "SELECT value FROM auth_meta WHERE key = "
                     "'schema_version'",
                     &st);
    if (rc < 0)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    else if (rc != SQLITE_DONE) {
        rc = fail(s, rc);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    return 0;
}

static int migrate(dp_auth_store_t *s, char *err, size_t errlen)
{
    int rc = exec(s, "CREATE TABLE IF NOT EXISTS auth_meta ("
                     " key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    int v = 0;
    if (rc == 0)
        rc = schema_version(s, &v);
    if (rc < 0) {
        snprintf(err, errlen, "auth schema: %s", s->errmsg);
        return rc;
    }
    if (v > (int)N_MIGRATIONS) {
        snprintf(err, errlen,
                 "the auth tables have schema version %d, newer than this "
                 "doppel knows (%zu); refusing to touch them",
                 v, N_MIGRATIONS);
        return -EPROTO;
    }
    for (; v < (int)N_MIGRATIONS; v++) {
        char bump[128];
        snprintf(bump, sizeof(bump),
                 "INSERT OR REPLACE INTO auth_meta VALUES "
                 "('schema_version', '%d')",
                 v + 1);
        rc = st_begin(s);
        if (rc == 0)
            rc = exec(s, migrations[v]);
        if (rc == 0)
            rc = exec(s, bump);
        if (rc == 0)
            rc = st_commit(s);
        if (rc < 0) {
            st_rollback(s);
            snprintf(err, errlen, "auth schema migration %d: %s", v + 1,
                     s->errmsg);
            return rc;
        }
    }
    return 0;
}

/* ---- Load ---------------------------------------------------------------- */

static int load_users(dp_auth_store_t *s, dp_auth_model_t *m)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "SELECT id, name, system_admin, created_ms FROM "
                     "auth_users ORDER BY created_ms, id",
                     &st);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dp_auth_user_t u = {0};
        copy_col(st, 0, u.id, sizeof(u.id));
        copy_col(st, 1, u.name, sizeof(u.name));
        u.system_admin = sqlite3_column_int(st, 2);
        u.created_ms = sqlite3_column_int64(st, 3);
        if (dp_auth_model_add_user(m, &u) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    return rc;
}

static int load_nss(dp_auth_store_t *s, dp_auth_model_t *m)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "SELECT name, require_token, created_ms FROM "
                     "auth_namespaces ORDER BY name",
                     &st);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dp_auth_ns_t n = {0};
        copy_col(st, 0, n.name, sizeof(n.name));
        n.require_token = sqlite3_column_int(st, 1);
        n.created_ms = sqlite3_column_int64(st, 2);
        if (dp_auth_model_add_ns(m, &n) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    return rc;
}

static int load_members(dp_auth_store_t *s, dp_auth_model_t *m)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "SELECT ns, user_id, role FROM auth_memberships "
                     "ORDER BY ns, user_id",
                     &st);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dp_auth_member_t mb = {0};
        copy_col(st, 0, mb.ns, sizeof(mb.ns));
        copy_col(st, 1, mb.user_id, sizeof(mb.user_id));
        int role = sqlite3_column_int(st, 2);
        if (role < DP_ROLE_VIEWER || role > DP_ROLE_NS_ADMIN)
            continue; /* unknown role from a newer writer: grants nothing */
        mb.role = (dp_auth_role_t)role;
        if (dp_auth_model_add_member(m, &mb) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    return rc;
}

static void labels_from_json(dp_auth_token_t *t, const char *txt)
{
    json_t *a = json_loads(txt ? txt : "[]", 0, NULL);
    size_t i;
    json_t *v;
    t->n_labels = 0;
    json_array_foreach(a, i, v)
    {
        if (t->n_labels == DP_AUTH_MAX_LABELS || !json_is_string(v))
            break;
        snprintf(t->labels[t->n_labels++], sizeof(t->labels[0]), "%s",
                 json_string_value(v));
    }
    json_decref(a);
}

static int load_tokens(dp_auth_store_t *s, dp_auth_model_t *m, int integ)
{
    sqlite3_stmt *st;
    const char *sql =
        integ ? "SELECT id, name, created_by, ns, hash, display, created_ms,"
                " expires_ms, last_used_ms, revoked_ms, type, labels"
                " FROM auth_integrations ORDER BY created_ms, id"
              : "SELECT id, name, user_id, ns, hash, display, created_ms,"
                " expires_ms, last_used_ms, revoked_ms"
                " FROM auth_tokens ORDER BY created_ms, id";
    int rc = prepare(s, sql, &st);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dp_auth_token_t t;
        memset(&t, 0, sizeof(t));
        t.kind = integ ? DP_AUTH_KIND_INTEGRATION : DP_AUTH_KIND_USER;
        copy_col(st, 0, t.id, sizeof(t.id));
        copy_col(st, 1, t.name, sizeof(t.name));
        copy_col(st, 2, t.user_id, sizeof(t.user_id));
        copy_col(st, 3, t.ns, sizeof(t.ns));
        if (sqlite3_column_bytes(st, 4) != (int)sizeof(t.hash))
            continue; /* damaged row: never matches anything */
        memcpy(t.hash, sqlite3_column_blob(st, 4), sizeof(t.hash));
        copy_col(st, 5, t.display, sizeof(t.display));
        t.created_ms = sqlite3_column_int64(st, 6);
        t.expires_ms = sqlite3_column_int64(st, 7);
        t.last_used_ms = sqlite3_column_int64(st, 8);
        t.revoked_ms = sqlite3_column_int64(st, 9);
        if (integ) {
            copy_col(st, 10, t.type, sizeof(t.type));
            labels_from_json(&t, (const char *)sqlite3_column_text(st, 11));
        }
        if (dp_auth_model_add_token(m, &t) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    return rc;
}

static int st_load(dp_auth_store_t *s, dp_auth_model_t *m)
{
    int rc = load_users(s, m);
    if (rc == 0)
        rc = load_nss(s, m);
    if (rc == 0)
        rc = load_members(s, m);
    if (rc == 0)
        rc = load_tokens(s, m, 0);
    if (rc == 0)
        rc = load_tokens(s, m, 1);
    return rc;
}

/* ---- Writes -------------------------------------------------------------- */

static int st_user_put(dp_auth_store_t *s, const dp_auth_user_t *u)
{
    sqlite3_stmt *st;
    int rc =
        prepare(s, "INSERT OR REPLACE INTO auth_users VALUES (?,?,?,?)", &st);
    if (rc < 0)
        return rc;
    bind_text(st, 1, u->id);
    bind_text(st, 2, u->name);
    sqlite3_bind_int(st, 3, u->system_admin ? 1 : 0);
    sqlite3_bind_int64(st, 4, u->created_ms);
    return step_done(s, st);
}

static int st_ns_put(dp_auth_store_t *s, const dp_auth_ns_t *n)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "INSERT OR REPLACE INTO auth_namespaces VALUES "
                     "(?,?,?)",
                     &st);
    if (rc < 0)
        return rc;
    bind_text(st, 1, n->name);
    sqlite3_bind_int(st, 2, n->require_token ? 1 : 0);
    sqlite3_bind_int64(st, 3, n->created_ms);
    return step_done(s, st);
}

static int delete_by(dp_auth_store_t *s, const char *sql, const char *a,
                     const char *b)
{
    sqlite3_stmt *st;
    int rc = prepare(s, sql, &st);
    if (rc < 0)
        return rc;
    bind_text(st, 1, a);
    if (b != NULL)
        bind_text(st, 2, b);
    return step_done(s, st);
}

static int st_ns_delete(dp_auth_store_t *s, const char *name)
{
    int rc =
        delete_by(s, "DELETE FROM auth_memberships WHERE ns = ?", name, NULL);
    if (rc == 0)
        rc = delete_by(s, "DELETE FROM auth_namespaces WHERE name = ?", name,
                       NULL);
    return rc;
}

static int st_member_put(dp_auth_store_t *s, const dp_auth_member_t *mb)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "INSERT OR REPLACE INTO auth_memberships VALUES "
                     "(?,?,?)",
                     &st);
    if (rc < 0)
        return rc;
    bind_text(st, 1, mb->ns);
    bind_text(st, 2, mb->user_id);
    sqlite3_bind_int(st, 3, (int)mb->role);
    return step_done(s, st);
}

static int st_member_delete(dp_auth_store_t *s, const char *ns,
                            const char *user_id)
{
    return delete_by(s,
                     "DELETE FROM auth_memberships WHERE ns = ? AND "
                     "user_id = ?",
                     ns, user_id);
}

static int st_token_put(dp_auth_store_t *s, const dp_auth_token_t *t)
{
    sqlite3_stmt *st;
    int integ = t->kind == DP_AUTH_KIND_INTEGRATION;
    int rc = prepare(s,
                     /* An upsert on id, not INSERT OR REPLACE: a clash
                      * on the hash must fail, never replace another
                      * (possibly revoked) row. */
                     integ ? "INSERT INTO auth_integrations (id,"
                             " name, created_by, ns, hash, display,"
                             " created_ms, expires_ms, last_used_ms,"
                             " revoked_ms, type, labels) VALUES"
                             " (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id)"
                             " DO UPDATE SET name = excluded.name,"
                             " ns = excluded.ns, expires_ms ="
                             " excluded.expires_ms, last_used_ms ="
                             " excluded.last_used_ms, revoked_ms ="
                             " excluded.revoked_ms, labels = excluded.labels"
                           : "INSERT INTO auth_tokens (id, name,"
                             " user_id, ns, hash, display, created_ms,"
                             " expires_ms, last_used_ms, revoked_ms) VALUES"
                             " (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id)"
                             " DO UPDATE SET name = excluded.name,"
                             " ns = excluded.ns, expires_ms ="
                             " excluded.expires_ms, last_used_ms ="
                             " excluded.last_used_ms, revoked_ms ="
                             " excluded.revoked_ms",
                     &st);
    if (rc < 0)
        return rc;
    bind_text(st, 1, t->id);
    bind_text(st, 2, t->name);
    bind_text(st, 3, t->user_id);
    bind_text(st, 4, t->ns);
    sqlite3_bind_blob(st, 5, t->hash, sizeof(t->hash), SQLITE_TRANSIENT);
    bind_text(st, 6, t->display);
    sqlite3_bind_int64(st, 7, t->created_ms);
    sqlite3_bind_int64(st, 8, t->expires_ms);
    sqlite3_bind_int64(st, 9, t->last_used_ms);
    sqlite3_bind_int64(st, 10, t->revoked_ms);
    if (integ) {
        json_t *a = json_array();
        for (size_t i = 0; i < t->n_labels; i++)
            json_array_append_new(a, json_string(t->labels[i]));
        char *txt = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (txt == NULL) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        bind_text(st, 11, t->type);
        bind_text(st, 12, txt);
        free(txt);
    }
    return step_done(s, st);
}

static int st_token_delete(dp_auth_store_t *s, const dp_auth_token_t *t)
{
    return delete_by(s,
                     t->kind == DP_AUTH_KIND_INTEGRATION
                         ? "DELETE FROM auth_integrations WHERE id = ?"
                         : "DELETE FROM auth_tokens WHERE id = ?",
                     t->id, NULL);
}

/* ---- Audit --------------------------------------------------------------- */

static int st_audit_append(dp_auth_store_t *s, const dp_auth_audit_row_t *r,
                           size_t keep)
{
    sqlite3_stmt *st;
    int rc = prepare(s,
                     "INSERT INTO auth_audit (at_ms, actor, actor_id,"
                     " action, ns, target, detail) VALUES (?,?,?,?,?,?,?)",
                     &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, r->at_ms);
    bind_text(st, 2, r->actor ? r->actor : "anonymous");
    bind_text(st, 3, r->actor_id ? r->actor_id : "");
    bind_text(st, 4, r->action);
    bind_text(st, 5, r->ns);
    bind_text(st, 6, r->target);
    bind_text(st, 7, r->detail);
    rc = step_done(s, st);
    if (rc < 0)
        return rc;
    /* Ids grow by one per row (AUTOINCREMENT, never reused), so "older than
     * the newest keep" is a range on the primary key. */
    sqlite3_int64 last = sqlite3_last_insert_rowid(db_of(s));
    if (keep == 0 || last <= (sqlite3_int64)keep)
        return 0;
    rc = prepare(s, "DELETE FROM auth_audit WHERE id <= ?", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, last - (sqlite3_int64)keep);
    return step_done(s, st);
}

static int st_audit_list(dp_auth_store_t *s, const char *ns, size_t offset,
                         size_t limit, json_t **out, size_t *total)
{
    sqlite3_stmt *st;
    *out = NULL;
    *total = 0;
    int rc = prepare(s,
                     ns ? "SELECT count(*) FROM auth_audit WHERE ns = ?"
                        : "SELECT count(*) FROM auth_audit",
                     &st);
    if (rc < 0)
        return rc;
    if (ns)
        bind_text(st, 1, ns);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *total = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    rc = prepare(s,
                 ns ? "SELECT id, at_ms, actor, actor_id, action, ns, target,"
                      " detail FROM auth_audit WHERE ns = ?1"
                      " ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                    : "SELECT id, at_ms, actor, actor_id, action, ns, target,"
                      " detail FROM auth_audit"
                      " ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                 &st);
    if (rc < 0)
        return rc;
    if (ns)
        bind_text(st, 1, ns);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)offset);
    json_t *arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "atMs",
                            json_integer(sqlite3_column_int64(st, 1)));
        static const char *const cols[] = {"actor",     "actorId", "action",
                                           "namespace", "target",  "detail"};
        for (int i = 0; i < 6; i++) {
            const unsigned char *t = sqlite3_column_text(st, 2 + i);
            json_object_set_new(o, cols[i],
                                t ? json_string((const char *)t) : json_null());
        }
        json_array_append_new(arr, o);
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc);
    sqlite3_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static void st_close(dp_auth_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_close(db_of(s));
    free(s);
}

static const dp_auth_store_ops_t sqlite_ops = {
    .begin = st_begin,
    .commit = st_commit,
    .rollback = st_rollback,
    .load = st_load,
    .user_put = st_user_put,
    .ns_put = st_ns_put,
    .ns_delete = st_ns_delete,
    .member_put = st_member_put,
    .member_delete = st_member_delete,
    .token_put = st_token_put,
    .token_delete = st_token_delete,
    .audit_append = st_audit_append,
    .audit_list = st_audit_list,
    .close = st_close,
};

int dp_auth_store_sqlite_open(const char *path, dp_auth_store_t **out,
                              char *err, size_t errlen)
{
    *out = NULL;
    sqlite_store_t *ss = calloc(1, sizeof(*ss));
    if (ss == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ss->base.ops = &sqlite_ops;
    int rc = sqlite3_open_v2(path, &ss->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 ss->db ? sqlite3_errmsg(ss->db) : "cannot open");
        st_close(&ss->base);
        return -EIO;
    }
    sqlite3_busy_timeout(ss->db, 5000);
    dp_auth_store_t *s = &ss->base;
    rc = exec(s, "PRAGMA journal_mode = WAL");
    if (rc == 0)
        rc = exec(s, "PRAGMA synchronous = FULL");
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, s->errmsg);
        st_close(s);
        return rc;
    }
    rc = migrate(s, err, errlen);
    if (rc < 0) {
        st_close(s);
        return rc;
    }
    *out = s;
    return 0;
}
