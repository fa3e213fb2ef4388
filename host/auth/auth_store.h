/*
 * Persistence of host/auth behind an ops table, so that a PostgreSQL back
 * end can implement the same calls later. The SQLite back end is
 * auth_store_sqlite.c.
 *
 * Contract: every write runs between begin and commit (one transaction per
 * API call, durable when commit returns 0); rollback undoes it. Callers
 * serialise all calls on one store (dp_auth_t holds its store_lock
 * around them). Errors are 0 or a negative errno (-EEXIST for a
 * uniqueness conflict, -EIO otherwise) with a message in s->errmsg.
 */
#ifndef DP_AUTH_STORE_H
#define DP_AUTH_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define DP_AUTH_MAX_LABELS 16

typedef struct dp_auth_user {
    char id[DP_AUTH_ID_MAX + 1];
    char name[DP_AUTH_NAME_MAX + 1];
    int system_admin;
    int64_t created_ms;
} dp_auth_user_t;

typedef struct dp_auth_ns {
    char name[DP_AUTH_NAME_MAX + 1];
    int require_token;
    int64_t created_ms;
} dp_auth_ns_t;

typedef struct dp_auth_member {
    char ns[DP_AUTH_NAME_MAX + 1];
    char user_id[DP_AUTH_ID_MAX + 1];
    dp_auth_role_t role; /* viewer, editor or ns admin */
} dp_auth_member_t;

/* A user token (kind USER, owned by user_id) or an integration (kind
 * INTEGRATION, created by user_id). */
typedef struct dp_auth_token {
    char id[DP_AUTH_ID_MAX + 1];
    dp_auth_kind_t kind;
    char name[DP_AUTH_NAME_MAX + 1];
    char user_id[DP_AUTH_ID_MAX + 1];
    char ns[DP_AUTH_NAME_MAX + 1]; /* pinned namespace, "" none */
    char type[24];                 /* integration type */
    char labels[DP_AUTH_MAX_LABELS][DP_AUTH_NAME_MAX + 1];
    size_t n_labels;
    uint8_t hash[32]; /* SHA-256 of the secret */
    char display[16]; /* "mk_AbCdEfGh": prefix + 8 chars */
    int64_t created_ms;
    int64_t expires_ms;   /* 0: never */
    int64_t last_used_ms; /* 0: never */
    int64_t revoked_ms;   /* 0: enabled */
    /* Memory only: last_used_ms as last written to the store. last_used_ms
     * changes under the read lock, so it is read and written atomically. */
    int64_t last_used_saved_ms;
} dp_auth_token_t;

typedef struct dp_auth_model {
    dp_auth_user_t *users;
    size_t n_users, cap_users;
    dp_auth_ns_t *nss;
    size_t n_nss, cap_nss;
    dp_auth_member_t *members;
    size_t n_members, cap_members;
    dp_auth_token_t *tokens;
    size_t n_tokens, cap_tokens;
} dp_auth_model_t;

void dp_auth_model_free(dp_auth_model_t *m);
/* Appends a copy; return 0 or -ENOMEM. */
int dp_auth_model_add_user(dp_auth_model_t *m, const dp_auth_user_t *u);
int dp_auth_model_add_ns(dp_auth_model_t *m, const dp_auth_ns_t *n);
int dp_auth_model_add_member(dp_auth_model_t *m, const dp_auth_member_t *mb);
int dp_auth_model_add_token(dp_auth_model_t *m, const dp_auth_token_t *t);

typedef struct dp_auth_audit_row {
    int64_t at_ms;
    const char *actor;    /* principal display name */
    const char *actor_id; /* token id, may be "" */
    const char *action;
    const char *ns;     /* may be NULL */
    const char *target; /* may be NULL */
    const char *detail; /* may be NULL */
} dp_auth_audit_row_t;

typedef struct dp_auth_store dp_auth_store_t;

typedef struct dp_auth_store_ops {
    int (*begin)(dp_auth_store_t *s);
    int (*commit)(dp_auth_store_t *s);
    void (*rollback)(dp_auth_store_t *s);
    /* Appends every stored row to m (empty on entry). */
    int (*load)(dp_auth_store_t *s, dp_auth_model_t *m);
    int (*user_put)(dp_auth_store_t *s, const dp_auth_user_t *u);
    int (*ns_put)(dp_auth_store_t *s, const dp_auth_ns_t *n);
    /* Deletes the namespace and its memberships. */
    int (*ns_delete)(dp_auth_store_t *s, const char *name);
    int (*member_put)(dp_auth_store_t *s, const dp_auth_member_t *mb);
    int (*member_delete)(dp_auth_store_t *s, const char *ns,
                         const char *user_id);
    /* Inserts or replaces by id. */
    int (*token_put)(dp_auth_store_t *s, const dp_auth_token_t *t);
    int (*token_delete)(dp_auth_store_t *s, const dp_auth_token_t *t);
    /* Appends a row and deletes all but the newest keep rows. */
    int (*audit_append)(dp_auth_store_t *s, const dp_auth_audit_row_t *r,
                        size_t keep);
    /* Newest first; *out is a JSON array of row objects (caller decrefs);
     * ns NULL: every row. */
    int (*audit_list)(dp_auth_store_t *s, const char *ns, size_t offset,
                      size_t limit, json_t **out, size_t *total);
    void (*close)(dp_auth_store_t *s);
} dp_auth_store_ops_t;

struct dp_auth_store {
    const dp_auth_store_ops_t *ops;
    char errmsg[256];
};

/* Opens the SQLite back end on path (creates or migrates the auth_*
 * tables). Returns 0 or a negative errno with a message in err. */
int dp_auth_store_sqlite_open(const char *path, dp_auth_store_t **out,
                              char *err, size_t errlen);

#endif
