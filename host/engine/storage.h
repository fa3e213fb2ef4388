/*
 * The persistence interface of the engine. Back ends: memory (tests),
 * SQLite (embedded default, storage/storage_sqlite.c), PostgreSQL (later).
 * The same engine test suite runs against each.
 *
 * Durability contract: when a call returns 0 its effect survives kill -9 of
 * the process (SQLite: WAL with synchronous=FULL). Every call is one
 * transaction: all of it or none of it.
 *
 * Threading: the engine calls a back end from one thread at a time (under its
 * writer lock); back ends need no locking of their own.
 */
#ifndef DP_STORAGE_H
#define DP_STORAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dp_storage dp_storage_t;

typedef struct dp_stored_mock {
    const char *id;
    const char *ns;
    const char *json; /* the full stored mock, compact JSON */
} dp_stored_mock_t;

/* One kept version of a mock (schema v5): json is the mock as that write
 * stored it. */
typedef struct dp_mock_version {
    const char *id;
    int64_t version;
    const char *ns;
    const char *json;
    int64_t created_at;  /* unix ms of the write; the back end sets it */
    const char *who;     /* NULL: unknown */
    const char *summary; /* NULL: none */
} dp_mock_version_t;

typedef struct dp_store_entry {
    const char *ns;
    const char *scope; /* "global", "chain:<chainId>", "mock:<id>" */
    const char *key;
    const char *json;  /* value as JSON text; NULL in a put means delete */
} dp_store_entry_t;

/* How much a mock was used: written often (by dp_engine_flush), so kept
 * apart from the mock's JSON. A usage row overrides the counters in the
 * stored JSON when the engine loads. */
typedef struct dp_mock_usage {
    const char *id;
    int64_t use_counter;
    int64_t last_use; /* unix seconds, 0: never */
} dp_mock_usage_t;

/* Record-and-replay settings of a namespace (schema v3): kind "service"
 * (name = the service's name, json = the service) or kind "mode" (name "",
 * json = {"mode": "LEARN"}). */
typedef struct dp_config_row {
    const char *ns;
    const char *kind;
    const char *name;
    const char *json; /* NULL in a put means delete */
} dp_config_row_t;

/* One row of the audit log (the auth's auth_audit table in the same
 * database), written by the engine inside the transaction of the change it
 * records (see group_begin below). Strings are borrowed. */
typedef struct dp_audit_row {
    int64_t at_ms;
    const char *actor;    /* "user:alice", "anonymous", ... */
    const char *actor_id; /* token id, "" when none */
    const char *action;   /* "mocks.create" */
    const char *ns;       /* may be NULL */
    const char *target;   /* may be NULL */
    const char *detail;   /* may be NULL */
} dp_audit_row_t;

/* A response template file (schema v4): content is text (no NUL byte),
 * written by the admin API only. */
typedef struct dp_tfile_row {
    const char *ns;
    const char *name;
    const char *content; /* NULL in a put means delete */
    int64_t updated_at;  /* unix seconds */
} dp_tfile_row_t;

/* A protocol plugin's schema file (schema v6; protocol.h, "Schema files"):
 * section is the plugin's mock section ("grpc"), name a relative path
 * ("shop/v1/order.proto"), content UTF-8 text (no NUL byte), written by
 * the admin API only (host/admin/admin_schemas.c). */
typedef struct dp_schema_row {
    const char *section;
    const char *ns;
    const char *name;
    const char *content; /* NULL in a put means delete */
    int64_t updated_at;  /* unix seconds */
} dp_schema_row_t;

typedef int (*dp_tfile_load_cb)(void *arg, const dp_tfile_row_t *r);
typedef int (*dp_schema_load_cb)(void *arg, const dp_schema_row_t *r);
typedef int (*dp_config_load_cb)(void *arg, const dp_config_row_t *r);
typedef int (*dp_mock_load_cb)(void *arg, const dp_stored_mock_t *m);
typedef int (*dp_usage_load_cb)(void *arg, const dp_mock_usage_t *u);
typedef int (*dp_store_load_cb)(void *arg, const dp_store_entry_t *e);
typedef int (*dp_version_load_cb)(void *arg, const dp_mock_version_t *v);

typedef struct dp_storage_ops {
    const char *name; /* "memory", "sqlite", "postgres" */
    /* Inserts or replaces mocks by id; one transaction. Drops their usage
     * rows (the JSON carries the counters it was written with). */
    int (*mocks_put)(dp_storage_t *s, const dp_stored_mock_t *m, size_t n);
    /* Removes mocks, and their usage rows and versions, for good (purge);
     * absent ids are ignored. */
    int (*mocks_delete)(dp_storage_t *s, const char *const *ids, size_t n);
    /* Calls cb for every stored mock; a non-zero cb return stops and is
     * returned. */
    int (*mocks_load)(dp_storage_t *s, dp_mock_load_cb cb, void *arg);
    /* Upserts or (json == NULL) deletes store entries; one transaction. */
    int (*store_put)(dp_storage_t *s, const dp_store_entry_t *e, size_t n);
    int (*store_load)(dp_storage_t *s, dp_store_load_cb cb, void *arg);
    /* Removes every mock (with its usage and versions) and store entry of
     * a namespace. */
    int (*reset_ns)(dp_storage_t *s, const char *ns);
    void (*close)(dp_storage_t *s);
    /* Upserts usage rows of stored mocks; one transaction. May be NULL:
     * the engine then rewrites the mocks' JSON instead. */
    int (*usage_put)(dp_storage_t *s, const dp_mock_usage_t *u, size_t n);
    int (*usage_load)(dp_storage_t *s, dp_usage_load_cb cb, void *arg);
    /* Upserts or (json == NULL) deletes settings rows; one transaction.
     * A namespace reset leaves them alone (they are configuration). */
    int (*config_put)(dp_storage_t *s, const dp_config_row_t *r, size_t n);
    int (*config_load)(dp_storage_t *s, dp_config_load_cb cb, void *arg);

    /* -- Grouping (may all be NULL) --
     * group_begin opens one transaction: the calls that follow until
     * group_end join it instead of running their own, so a mock, its
     * store rows and its audit row commit together. group_end commits when
     * err is 0 and otherwise rolls back everything since group_begin;
     * returns err, or the commit's error. Groups do not nest (-EBUSY). */
    int (*group_begin)(dp_storage_t *s);
    int (*group_end)(dp_storage_t *s, int err);
    /* Appends one audit row, keeping the newest keep rows (0: all); inside
     * a group it commits with it. */
    int (*audit_put)(dp_storage_t *s, const dp_audit_row_t *r, size_t keep);

    /* Upserts or (content == NULL) deletes template files; one
     * transaction. A namespace reset leaves them alone (configuration,
     * like services). May be NULL (both): the back end keeps none, and
     * the engine refuses to store any. */
    int (*tfiles_put)(dp_storage_t *s, const dp_tfile_row_t *r, size_t n);
    int (*tfiles_load)(dp_storage_t *s, dp_tfile_load_cb cb, void *arg);

    /* Versions of mocks (written by mocks_put; removed with their mock by
     * mocks_delete and reset_ns). May be NULL: the engine keeps none.
     * versions_load calls cb for every kept version of mock id, newest
     * first; id NULL: only the newest version of every mock (at open, to
     * number the next writes). */
    int (*versions_load)(dp_storage_t *s, const char *id, dp_version_load_cb cb,
                         void *arg);
    /* mocks_put, and in the same transaction keeps the versions v[0..nv)
     * (a version number written again replaces the one kept), then keeps
     * only the newest `keep` versions of each mock in v (0: all). NULL
     * when versions_load is. */
    int (*mocks_put_versions)(dp_storage_t *s, const dp_stored_mock_t *m,
                              size_t n, const dp_mock_version_t *v, size_t nv,
                              unsigned keep);

    /* Upserts or (content == NULL) deletes schema files; one transaction
     * (or part of the open group). A namespace reset leaves them alone
     * (configuration, like template files). schemas_load calls cb for
     * every stored file, ordered by section, namespace and name. May be
     * NULL (both): the back end keeps none, and the admin API refuses to
     * store any. */
    int (*schemas_put)(dp_storage_t *s, const dp_schema_row_t *r, size_t n);
    int (*schemas_load)(dp_storage_t *s, dp_schema_load_cb cb, void *arg);
} dp_storage_ops_t;

/* Back ends embed this as their first member. */
struct dp_storage {
    const dp_storage_ops_t *ops;
};

/* In-memory back end (nothing survives the process). */
dp_storage_t *dp_storage_memory_new(void);

/* SQLite back end at path (created if absent, parent directory must exist).
 * On error returns a negative errno and a one-line message. */
int dp_storage_sqlite_open(const char *path, dp_storage_t **out, char *err,
                           size_t errlen);

#endif
