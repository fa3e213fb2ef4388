/*
 * Internals of host/auth shared by its files. Not for other components.
 *
 * The model (users, namespaces, memberships, tokens) lives in dp_auth_t
 * behind a->lock; every change goes: write lock -> store transaction ->
 * change memory only after the commit succeeded -> unlock, so memory and
 * disk never disagree and a failed write leaves no partial state.
 */
#ifndef DP_AUTH_INTERNAL_H
#define DP_AUTH_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "auth.h"
#include "auth_store.h"

#define DP_AUTH_HASH_LEN 32     /* SHA-256 */
#define DP_AUTH_SECRET_CHARS 43 /* base62 of 32 random bytes */
#define DP_AUTH_DISPLAY_LEN 8   /* public prefix kept for display */

/* ---- Secrets (auth_secret.c) ------------------------------------------ */

/* Writes prefix ("mk_" or "mki_") + 43 base62 characters from 32 bytes of
 * getrandom(2) into out (cap >= 48). Returns 0 or -EIO. */
int dp_auth_secret_new(const char *prefix, char *out, size_t cap);
/* SHA-256 of the secret. */
void dp_auth_secret_hash(const char *secret, size_t len,
                         uint8_t out[DP_AUTH_HASH_LEN]);
/* Constant-time comparison of two hashes (CRYPTO_memcmp); 1 if equal. */
int dp_auth_hash_equal(const uint8_t *a, const uint8_t *b);
/* How many times dp_auth_hash_equal ran (tests prove it is used). */
unsigned long dp_auth_hash_compares(void);
/* A random id: prefix + 16 base62 characters. */
int dp_auth_id_new(const char *prefix, char *out, size_t cap);
/* 1 if s is a well-formed env/bootstrap user token. */
int dp_auth_secret_wellformed(const char *s, const char *prefix);

/* ---- Rate limiter (auth_ratelimit.c) ---------------------------------- */

typedef struct dp_auth_limiter dp_auth_limiter_t;

dp_auth_limiter_t *dp_auth_limiter_new(size_t slots, unsigned limit,
                                       unsigned window_s);
void dp_auth_limiter_free(dp_auth_limiter_t *l);
/* Returns 0 when addr may try, or the seconds to wait (> 0). */
unsigned dp_auth_limiter_check(dp_auth_limiter_t *l, const char *addr,
                               int64_t now_ms);
/* Records one failed authentication from addr. */
void dp_auth_limiter_fail(dp_auth_limiter_t *l, const char *addr,
                          int64_t now_ms);

/* ---- The model --------------------------------------------------------- */

struct dp_auth {
    dp_auth_cfg_t cfg;
    dp_auth_store_t *store;
    pthread_rwlock_t lock; /* guards model below */
    dp_auth_model_t model;
    /* token hash -> index in model.tokens; open addressing, rebuilt after
     * every change (changes are rare, lookups are every admin request). */
    size_t *index;
    size_t index_cap;
    dp_auth_limiter_t *limiter;
    /* Serialises every use of store; taken after lock, never before. */
    pthread_mutex_t store_lock;
};

int64_t dp_auth_now(const dp_auth_t *a);

/* Model lookups; caller holds a->lock (read or write). */
dp_auth_user_t *dp_auth_find_user(dp_auth_model_t *m, const char *id_or_name);
dp_auth_ns_t *dp_auth_find_ns(dp_auth_model_t *m, const char *name);
dp_auth_token_t *dp_auth_find_token(dp_auth_model_t *m, const char *id);
dp_auth_role_t dp_auth_member_role(dp_auth_model_t *m, const char *ns,
                                   const char *user_id);
/* Rebuilds a->index from a->model.tokens. Returns 0 or -ENOMEM. */
int dp_auth_reindex(dp_auth_t *a);
/* Finds the token whose hash matches (caller holds the lock). */
dp_auth_token_t *dp_auth_lookup_hash(dp_auth_t *a,
                                     const uint8_t hash[DP_AUTH_HASH_LEN]);

/* dp_auth_authorize and dp_auth_role_in for a caller that holds a->lock
 * (read or write). */
int dp_auth_authorize_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                             const char *op_name, int write, const char *ns,
                             dp_err_t *err);
dp_auth_role_t dp_auth_role_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                                   const char *ns);

/* Authenticates an HTTP request (rate limit, token, verify); the local
 * principal in local mode. Takes the read lock itself. */
int dp_auth_authenticate_request(dp_auth_t *a, const doppel_http_request_t *req,
                                 dp_auth_principal_t *who, dp_err_t *err);

/* Checks a name: [A-Za-z0-9._-]{1,64}. Returns 1 if valid. */
int dp_auth_name_valid(const char *s);

/* Verifies a raw secret without rate limiting: fills who, or returns
 * -EACCES with err (401) for an unknown, revoked or expired token. Takes
 * the read lock itself. */
int dp_auth_verify(dp_auth_t *a, const char *secret, dp_auth_principal_t *who,
                   dp_err_t *err);

/* Extracts the token from Authorization: Bearer or X-API-Key into out.
 * Returns 1 found, 0 absent, -EINVAL malformed (too long, bad scheme). */
int dp_auth_token_from_request(const doppel_http_request_t *req, char *out,
                               size_t cap);

/* Fills an error the way the admin API shows it (no dp_engine link). */
void dp_auth_err(dp_err_t *e, int status, const char *code, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

/* Low level create used by the API and the bootstrap; caller holds the
 * write lock and a transaction; fills t (id, hash, prefix, times) and the
 * secret. */
int dp_auth_token_create_locked(dp_auth_t *a, dp_auth_token_t *t,
                                const char *given_secret, char *secret,
                                size_t secret_cap);

/* Appends an audit row inside the caller's transaction. */
int dp_auth_audit_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                         const char *action, const char *ns, const char *target,
                         const char *detail);

/* One store transaction under the store lock: begin takes the lock (and
 * releases it if begin fails); end commits when rc is 0, else rolls back,
 * releases the lock and returns the outcome. */
int dp_auth_tx_begin(dp_auth_t *a);
int dp_auth_tx_end(dp_auth_t *a, int rc);

#endif
