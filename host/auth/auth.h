/*
 * Authentication and tenant isolation: API tokens (mk_...) for people, CI
 * and agents, integration tokens (mki_...) for machines, namespaces with
 * members and roles, the audit log and the failed-authentication rate
 * limiter. Reference for users: docs/security.md.
 *
 * Persistence: its own tables (auth_*) in the store's SQLite file, through
 * its own connection (WAL, busy_timeout, synchronous=FULL), one transaction
 * per API call, behind the ops table of auth_store.h.
 *
 * Threading: one dp_auth_t per process, shared by every worker thread. All
 * functions below are safe from any thread. Users, namespaces, memberships
 * and token hashes live in memory behind a rwlock, loaded at open and
 * updated write-through, so a revocation or an expiry takes effect on the
 * next request on every worker.
 *
 * Secrets: a token's secret is returned once, by the call that creates it.
 * Only its SHA-256 and an 8-character display prefix are kept; nothing here
 * logs, audits or stores a secret.
 */
#ifndef DP_AUTH_H
#define DP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "doppel/http.h"
#include "engine/dp_error.h"
#include "http/http_front.h"

typedef struct dp_auth dp_auth_t;

/* Roles, ordered: a higher role can do everything a lower one can. */
typedef enum dp_auth_role {
    DP_ROLE_NONE = 0,
    DP_ROLE_VIEWER = 1,   /* reads mocks, stores, journal */
    DP_ROLE_EDITOR = 2,   /* + changes mocks and stores, reset */
    DP_ROLE_NS_ADMIN = 3, /* + members, tokens, integrations of the ns */
    DP_ROLE_SYSTEM = 4    /* system admin: everything, everywhere */
} dp_auth_role_t;

/* "viewer", "editor", "admin", "system" (NULL for out of range). */
const char *dp_auth_role_name(dp_auth_role_t r);
/* Parses a membership role: viewer, editor, admin. Returns -EINVAL else. */
int dp_auth_role_parse(const char *s, dp_auth_role_t *out);

typedef enum dp_auth_kind {
    DP_AUTH_KIND_NONE = 0,
    DP_AUTH_KIND_USER = 1,        /* mk_ token */
    DP_AUTH_KIND_INTEGRATION = 2, /* mki_ token */
    DP_AUTH_KIND_LOCAL = 3        /* local mode: no token, system admin */
} dp_auth_kind_t;

#define DP_AUTH_ID_MAX 32
#define DP_AUTH_NAME_MAX 64

/* Who made a request: a copy, valid after the call that filled it. */
typedef struct dp_auth_principal {
    dp_auth_kind_t kind;
    char token_id[DP_AUTH_ID_MAX + 1];
    char token_name[DP_AUTH_NAME_MAX + 1];
    char user_id[DP_AUTH_ID_MAX + 1];     /* user tokens */
    char user_name[DP_AUTH_NAME_MAX + 1]; /* user tokens; "local" */
    int system_admin;                     /* owner is a system admin */
    char pinned_ns[DP_AUTH_NAME_MAX + 1]; /* "" when not pinned */
    char integration_type[24];            /* integrations */
} dp_auth_principal_t;

/* Milliseconds since the epoch; tests inject a fake clock. */
typedef int64_t (*dp_auth_clock_fn)(void *ctx);

typedef struct dp_auth_cfg {
    int local_mode;         /* auth off: every call is system admin */
    unsigned fail_limit;    /* failed auths per address per window (10) */
    unsigned fail_window_s; /* window (60 s) */
    size_t limiter_slots;   /* addresses tracked (4096), evicts oldest */
    size_t audit_keep;      /* audit rows kept (100000) */
    dp_auth_clock_fn clock; /* NULL: CLOCK_REALTIME */
    void *clock_ctx;
} dp_auth_cfg_t;

void dp_auth_cfg_default(dp_auth_cfg_t *cfg);

/* Opens (creating or migrating the auth tables of) the SQLite file db_path
 * and loads the in-memory index; makes sure namespace "sandbox" exists.
 * cfg is copied; NULL means defaults. Returns 0 or a negative errno with a
 * message in err. Close with dp_auth_close (NULL is a no-op). */
int dp_auth_open(const char *db_path, const dp_auth_cfg_t *cfg, dp_auth_t **out,
                 char *err, size_t errlen);
void dp_auth_close(dp_auth_t *a);

int dp_auth_local_mode(const dp_auth_t *a);

/* 1 if bind_host is loopback (127.0.0.0/8, ::1, localhost), which is the
 * only place local mode (auth off) is allowed; 0 otherwise. */
int dp_auth_local_mode_allowed(const char *bind_host);

/*
 * First-start bootstrap. When no enabled, unpinned system-admin token
 * exists: uses (or creates, as "admin") a system-admin user and creates a
 * token for it. Without env_token (DOPPEL_ADMIN_TOKEN; NULL or "" means
 * none) the token is fresh: it is written to <data_dir>/admin-token (mode
 * 0600, before the commit, so a failure creates nothing) and printed once
 * to stderr ("doppel: bootstrap admin token (shown once): mk_..."). With
 * env_token (which must be mk_ followed by 32-128 characters of
 * [A-Za-z0-9_-], else -EINVAL) that token is registered, printed nowhere
 * and not written to a file; an env token is also registered on a later
 * start when it is unknown (rotation), and refused (-EACCES) when it was
 * revoked. Later starts with a working admin token do nothing. In local
 * mode it does nothing.
 * Returns 1 when it created a token, 0 when none was needed, or a negative
 * errno (-EINVAL for a bad env token) with a message in err.
 */
int dp_auth_bootstrap(dp_auth_t *a, const char *data_dir, const char *env_token,
                      char *err, size_t errlen);

/* ---- Checks (called by the lead's hooks) ------------------------------- */

/*
 * The admin API check, called from dp_admin_authorize:
 *   return dp_auth_admin_check(auth, req, op ? op->name : NULL,
 *                              op ? op->write : 0, ns, NULL, err);
 * It reads the token (Authorization: Bearer, or X-API-Key), applies the
 * rate limiter to req->remote_addr, refuses integration tokens, and checks
 * the role that op_name needs in ns (see auth_policy.c for the table; an
 * unknown name needs viewer for reads and editor for writes; op_name NULL,
 * a path that names no endpoint, only needs a valid token). ns NULL means
 * "every namespace" (needs system admin), except for the operations whose
 * engine default is "sandbox" (mocks.create, mocks.batch_create, stores.*),
 * where NULL is read as "sandbox". Operations by mock id (mocks.get,
 * mocks.patch, ...) should be passed the mock's namespace; with NULL they
 * need system admin.
 * who (may be NULL) receives the principal on success.
 * Returns 0, or a negative errno with err filled: 401 unauthorized (no or
 * bad, revoked, expired token), 403 forbidden, 429 rate_limit.
 */
int dp_auth_admin_check(dp_auth_t *a, const doppel_http_request_t *req,
                        const char *op_name, int write, const char *ns,
                        dp_auth_principal_t *who, dp_err_t *err);

/* For the Retry-After header of a 429 answer: seconds before the client
 * address of req may authenticate again (0: now). */
unsigned dp_auth_retry_after_req(dp_auth_t *a,
                                 const doppel_http_request_t *req);
unsigned dp_auth_retry_after(dp_auth_t *a, const char *addr);

/* The same check without an HTTP request (tests, other front ends):
 * token is the raw secret or NULL, addr the client address or NULL. */
int dp_auth_check_token(dp_auth_t *a, const char *token, const char *addr,
                        const char *op_name, int write, const char *ns,
                        dp_auth_principal_t *who, dp_err_t *err);

/* Authorisation alone, for a principal already authenticated. */
int dp_auth_authorize(dp_auth_t *a, const dp_auth_principal_t *who,
                      const char *op_name, int write, const char *ns,
                      dp_err_t *err);

/* The effective role of who in ns (pinning applied; ns NULL: the
 * system-wide role). */
dp_auth_role_t dp_auth_role_in(dp_auth_t *a, const dp_auth_principal_t *who,
                               const char *ns);

/*
 * Node endpoints (node-to-node links, resolvers, runners): only integration
 * tokens (mki_...) are accepted; a user token gets 403 forbidden with a
 * message saying an integration token is needed. type (NULL: any) limits
 * the accepted integration type ("mock_resolver", "test_runner",
 * "orchestrator"). Same return convention as dp_auth_admin_check.
 */
int dp_auth_node_check(dp_auth_t *a, const doppel_http_request_t *req,
                       const char *type, dp_auth_principal_t *who,
                       dp_err_t *err);

/* /metrics with [server] metrics_auth = true: any valid token (user or
 * integration) may read. Same return convention. */
int dp_auth_metrics_check(dp_auth_t *a, const doppel_http_request_t *req,
                          dp_err_t *err);

/* Mock traffic. dp_auth_namespace_requires_token returns 1 when namespace
 * ns has requireToken set (0 otherwise, also for an unknown namespace or in
 * local mode). dp_auth_traffic_check takes the value of the Authorization
 * header ("Bearer mk_...") or of X-API-Key ("mk_...") and the client
 * address addr (NULL or "": not limited), and returns 0 when the namespace
 * needs no token or the token may read it (a user token with viewer or
 * more in ns, or an integration token of ns or of no namespace), -EACCES
 * when the token is missing or invalid, -EPERM when it is valid but not
 * for ns, -EAGAIN when addr is held back by the failed-authentication
 * limiter (*retry_after, if not NULL, gets the seconds to wait, >= 1).
 * Invalid and malformed tokens count as failures of addr, as on the admin
 * API; a missing one does not. */
int dp_auth_namespace_requires_token(dp_auth_t *a, const char *ns);
int dp_auth_traffic_check(dp_auth_t *a, const char *ns,
                          const char *authorization_or_api_key,
                          const char *addr, unsigned *retry_after);

/* ---- Audit -------------------------------------------------------------- */

/* Appends one audit row, durable on return: who did action ("mocks.create")
 * on target (an id or name, may be NULL) in ns (may be NULL), with an
 * optional short detail. who NULL records "anonymous". Never pass secrets.
 * Keeps the last cfg.audit_keep rows. Returns 0 or a negative errno. */
int dp_auth_audit(dp_auth_t *a, const dp_auth_principal_t *who,
                  const char *action, const char *ns, const char *target,
                  const char *detail);

/* What dp_auth_audit would record for who now, for a write that stores its
 * audit row in its own transaction (the admin API's mock and store writes,
 * see dp_engine_audit_t): the actor's name in actor (DP_AUTH_ACTOR_MAX
 * bytes), the time, and how many rows the log keeps. */
#define DP_AUTH_ACTOR_MAX (DP_AUTH_NAME_MAX + 16)
void dp_auth_audit_meta(dp_auth_t *a, const dp_auth_principal_t *who,
                        char *actor, int64_t *at_ms, size_t *keep);

/* ---- Direct changes (no permission check) ------------------------------
 * For the host's own set-up code and tests; the REST API checks the
 * caller's permissions before making the same changes. Each is one durable
 * transaction with an audit row by "system". Return 0, -EINVAL (bad name,
 * role or kind), -EEXIST (name taken), -ENOENT (unknown user, namespace
 * or token) or another negative errno from the store. */
int dp_auth_user_add(dp_auth_t *a, const char *name, int system_admin,
                     char id_out[DP_AUTH_ID_MAX + 1]);
int dp_auth_ns_add(dp_auth_t *a, const char *name, int require_token);
/* Sets (adds or changes) the role of user_id in ns. */
int dp_auth_member_set(dp_auth_t *a, const char *ns, const char *user_id,
                       dp_auth_role_t role);
/* Creates a user token (kind USER, owned by user_id) or an integration
 * (kind INTEGRATION, type as given, created by user_id, may be NULL); ns
 * NULL or "" for none; expires_ms 0 for never. The secret is written to
 * secret_out (cap >= 48) and must be shown once and then wiped. */
int dp_auth_token_add(dp_auth_t *a, dp_auth_kind_t kind, const char *user_id,
                      const char *name, const char *ns, const char *type,
                      int64_t expires_ms, char *secret_out, size_t secret_cap,
                      char id_out[DP_AUTH_ID_MAX + 1]);
/* Revokes (soft: the row stays, the token stops working at once). */
int dp_auth_token_revoke(dp_auth_t *a, const char *id);

/* ---- The API ------------------------------------------------------------ */

/* Mounts /api/v1/{tokens,integrations,namespaces,users,audit,whoami} as
 * host routes on r. a is borrowed and must outlive the router. Returns 0 or
 * a negative errno from dp_router_add. */
int dp_auth_mount(dp_router_t *r, dp_auth_t *a);

/* Labels of integrations: lower-cased; [a-z0-9._-]{1,64} after that.
 * Writes the normalised label to out (65 bytes). Returns 0 or -EINVAL. */
int dp_auth_label_normalize(const char *in, char out[DP_AUTH_NAME_MAX + 1]);

#endif
