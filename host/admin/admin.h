/*
 * The admin REST API (/api/v1): mocks, stores, journal, unmatched list and
 * reset, as JSON over the host's HTTP front. Reference: docs/admin-api.md.
 *
 * Threading: the API is mounted once per worker router. Its handler runs on
 * that worker's loop thread and only queues the call; the work (dispatch,
 * authorisation, the engine call, the audit row) runs on the libuv thread
 * pool (the calls of one connection one at a time, in arrival order), and
 * the answer is sent from the completion callback on the loop thread. So an
 * admin write (index rebuild, fsync) or a large list never stalls the loop's
 * other exchanges. Everything the work touches is shared across workers and
 * safe from any thread (the engine, the auth); nothing per worker is touched
 * off the loop.
 */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include "doppel/http.h"
#include "engine/dp_error.h"
#include "http/http_front.h"

struct dp_engine;
struct dp_auth;
struct dp_auth_principal;

/* Registers the host route with prefix "/api/v1" on r (owner "host").
 * e and a are borrowed and must outlive the router; a NULL auth allows
 * everything (used by tests of the API alone). Returns 0 or a negative
 * errno from dp_router_add. */
int dp_admin_mount(dp_router_t *r, struct dp_engine *e, struct dp_auth *a);

/* What the server-wide endpoints read of the host; every member may be
 * NULL (an empty answer for it). Called on the worker's loop, any thread;
 * ud is borrowed and must outlive the router. */
typedef struct dp_admin_server_info {
    const char *(*version)(void);
    double (*uptime)(void *ud);     /* seconds since start */
    const char *(*state)(void *ud); /* "ok", "starting" or "draining" */
    /* [{name, plugin, version, kind, state}], a new reference or NULL */
    struct json_t *(*plugins)(void *ud);
    void *ud;
} dp_admin_server_info_t;

/* Registers GET /api/v1/status, GET /api/v1/features,
 * POST|DELETE /__admin/reset and POST /api/v1/namespaces/copy-mocks as
 * host routes on r (admin_server.c); e, a
 * and info->ud as for dp_admin_mount, info is copied. 0 or a negative
 * errno. */
int dp_admin_server_mount(dp_router_t *r, struct dp_engine *e,
                          struct dp_auth *a,
                          const dp_admin_server_info_t *info);

/* What an admin request asks for, as seen by dp_admin_authorize. */
typedef struct dp_admin_op {
    const char *name; /* stable operation name, "mocks.create", ... */
    int write;        /* changes state (mocks, stores, journal, reset) */
} dp_admin_op_t;

/*
 * The authentication and authorisation point. Every admin request passes
 * through it once, after its route and namespace were resolved and before
 * anything is read or changed:
 *   a    the auth of the process (NULL: allow everything),
 *   req  the HTTP request (headers for tokens, address for the limiter),
 *   op   the operation, NULL for a path that names no endpoint (so that an
 *        unauthenticated caller cannot probe which endpoints exist),
 *   ns   the namespace the request targets; NULL when it spans every
 *        namespace (only a system admin may),
 *   who  receives the caller, for the audit log.
 * Returns 0 to allow, or a negative errno with err filled (401
 * unauthorized, 403 forbidden, 429 rate_limit). Operations that touch more
 * namespaces (batches, by-id operations) call dp_admin_authorize_more for
 * each further namespace with the caller already known.
 */
int dp_admin_authorize(struct dp_auth *a, const doppel_http_request_t *req,
                       const dp_admin_op_t *op, const char *ns,
                       struct dp_auth_principal *who, dp_err_t *err);
int dp_admin_authorize_more(struct dp_auth *a,
                            const struct dp_auth_principal *who,
                            const dp_admin_op_t *op, const char *ns,
                            dp_err_t *err);
/* Writes one audit row for a successful change. Returns 0 (also when there
 * is nothing to audit) or the negative errno of the failed write. */
int dp_admin_audit(struct dp_auth *a, const struct dp_auth_principal *who,
                   const dp_admin_op_t *op, const char *ns, const char *target);
/* The same with a short detail (may be NULL; never a secret), for the
 * further namespaces a change reaches. */
int dp_admin_audit_detail(struct dp_auth *a,
                          const struct dp_auth_principal *who,
                          const dp_admin_op_t *op, const char *ns,
                          const char *target, const char *detail);
/* Seconds for the Retry-After header of a 429 (at least 1). */
unsigned dp_admin_retry_after(struct dp_auth *a,
                              const doppel_http_request_t *req);

/* Checks a namespace name: [A-Za-z0-9._-]{1,64}. Returns 1 if valid. */
int dp_admin_ns_valid(const char *ns, size_t len);

#endif
