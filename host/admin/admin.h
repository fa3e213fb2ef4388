/*
 * The admin REST API (/api/v1): mocks, stores, journal, unmatched list and
 * reset, as JSON over the host's HTTP front. Reference: docs/admin-api.md.
 *
 * Threading: the API is mounted once per worker router and runs on that
 * worker's loop thread. It calls the engine's functions, which are safe from
 * any thread; engine writes persist to SQLite before they return (fsync), so
 * an admin write blocks its worker loop for the duration of one commit. That
 * is accepted for admin traffic; mock traffic on other workers is not
 * affected, since the serving path never waits on a writer.
 */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include "doppel/http.h"
#include "engine/dp_error.h"
#include "http/http_front.h"

struct dp_engine;

/* Registers the host route with prefix "/api/v1" on r (owner "host").
 * e is borrowed and must outlive the router. Returns 0 or a negative errno
 * from dp_router_add. */
int dp_admin_mount(dp_router_t *r, struct dp_engine *e);

/* What an admin request asks for, as seen by dp_admin_authorize. */
typedef struct dp_admin_op {
    const char *name; /* stable operation name, "mocks.create", ... */
    int write;        /* changes state (mocks, stores, journal, reset) */
} dp_admin_op_t;

/*
 * The authentication and authorisation hook. Every admin request passes
 * through it exactly once, after its route and namespace were resolved and
 * before anything is read or changed:
 *   req  the HTTP request (headers for tokens),
 *   op   the operation, NULL for a path that names no endpoint (so that an
 *        unauthenticated caller cannot probe which endpoints exist once
 *        authentication is on),
 *   ns   the namespace the request targets, NULL when none applies (list
 *        over every namespace, operations by mock id).
 * Returns 0 to allow, or a negative errno with err filled (401
 * unauthorized, 403 forbidden, 429 rate_limit), which is sent as the error
 * answer. It allows everything for now: the token, role and namespace
 * checks land here.
 */
int dp_admin_authorize(const doppel_http_request_t *req,
                       const dp_admin_op_t *op, const char *ns, dp_err_t *err);

/* Checks a namespace name: [A-Za-z0-9._-]{1,64}. Returns 1 if valid. */
int dp_admin_ns_valid(const char *ns, size_t len);

#endif
