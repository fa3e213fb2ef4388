/*
 * Server-wide endpoints the platforms' SDKs and test containers call:
 * GET /api/v1/status, GET /api/v1/features, the WireMock-style
 * POST|DELETE /__admin/reset, and POST /api/v1/namespaces/copy-mocks
 * (under the auth API's /namespaces prefix, so a route of its own that
 * takes that one request). Reference: docs/admin-api.md,
 * "Compatibility with the platforms' SDKs".
 *
 * Mounted as host routes of their own (dp_admin_server_mount), beside the
 * /api/v1 mount: /__admin is outside /api/v1, and status and features
 * read the host (version, uptime, plugins) through the callbacks the host
 * passes. Same token checks, error shape and audit rows as the admin API,
 * and the same work queue (admin_queue_call): each call runs on the
 * thread pool and is answered from the worker's loop, so a reset of every
 * namespace never holds the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

typedef struct server_state server_state_t;

/* One route of the state, as the argument of its queued calls. */
typedef struct server_route {
    server_state_t *st;
    int which; /* 0 status, 1 features, 2 __admin/reset, 3 copy-mocks */
} server_route_t;

struct server_state {
    struct dp_engine *engine;
    struct dp_auth *auth;
    dp_admin_server_info_t info;
    admin_queue_t *q; /* its calls run on the thread pool, like /api/v1 */
    server_route_t routes[4];
};

static int method_is(const doppel_http_request_t *r, const char *m)
{
    size_t l = strlen(m);
    return r->method.len == l && memcmp(r->method.ptr, m, l) == 0;
}

/* The request's remainder after the mount prefix is "" or "/". */
static int rest_empty(const doppel_http_request_t *r)
{
    return r->rest.len == 0 || (r->rest.len == 1 && r->rest.ptr[0] == '/');
}

static int authorize(admin_call_t *c, const dp_admin_op_t *op, const char *ns)
{
    dp_err_t err = {0};
    int rc = dp_admin_authorize(c->auth, c->req, op, ns, &c->who, &err);
    if (rc < 0) {
        if (err.status == 0)
            dp_err_set(&err, 403, "forbidden", NULL, "not allowed");
        admin_reply_dp_err(c, rc, &err);
    }
    return rc;
}

/* ---- GET /api/v1/status, GET /api/v1/features ------------------------- */

static json_t *plugins_of(const server_state_t *st)
{
    json_t *p = st->info.plugins ? st->info.plugins(st->info.ud) : NULL;
    return p ? p : json_array();
}

/* Go's time.Duration text truncated to the second, as /health's uptime
 * ("12s", "5m0s", "72h15m30s"). */
static const char *duration(double seconds, char *buf, size_t len)
{
    unsigned long long t = seconds > 0 ? (unsigned long long)seconds : 0;
    unsigned long long hh = t / 3600, mm = t / 60 % 60, ss = t % 60;
    if (hh)
        snprintf(buf, len, "%lluh%llum%llus", hh, mm, ss);
    else if (mm)
        snprintf(buf, len, "%llum%llus", mm, ss);
    else
        snprintf(buf, len, "%llus", ss);
    return buf;
}

static void status_get(admin_call_t *c, const server_state_t *st)
{
    char dur[48];
    const char *state = st->info.state ? st->info.state(st->info.ud) : "ok";
    double up = st->info.uptime ? st->info.uptime(st->info.ud) : 0;
    const char *version = st->info.version ? st->info.version() : "";
    json_t *plugins = plugins_of(st);
    size_t failed = 0, i;
    json_t *p;
    json_array_foreach(plugins, i, p)
    {
        const char *s = json_string_value(json_object_get(p, "state"));
        if (s != NULL && strcmp(s, "failed") == 0)
            failed++;
    }
    json_decref(plugins);
    /* "status" as /health's: pass, warn (starting, draining) or fail */
    const char *status = failed                     ? "fail"
                         : strcmp(state, "ok") == 0 ? "pass"
                                                    : "warn";
    admin_reply_json(c, 200,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:b}", "status",
                               status, "state", state, "version", version,
                               "releaseId", version, "uptime",
                               duration(up, dur, sizeof(dur)), "uptimeSeconds",
                               up, "ready", strcmp(state, "ok") == 0));
}

static void features_get(admin_call_t *c, const server_state_t *st)
{
    json_t *plugins = plugins_of(st);
    json_t *protocols = json_array(), *features = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(plugins, i, p)
    {
        const char *kind = json_string_value(json_object_get(p, "kind"));
        const char *name = json_string_value(json_object_get(p, "plugin"));
        json_t *to =
            kind && strcmp(kind, "protocol") == 0 ? protocols : features;
        int seen = 0;
        size_t k;
        json_t *q;
        json_array_foreach(to, k, q) seen |=
            name && strcmp(json_string_value(q), name) == 0;
        if (name != NULL && !seen)
            json_array_append_new(to, json_string(name));
    }
    const char *version = st->info.version ? st->info.version() : "";
    admin_reply_json(c, 200,
                     json_pack("{s:s,s:o,s:o,s:o}", "version", version,
                               "protocols", protocols, "features", features,
                               "plugins", plugins));
}

/* ---- POST|DELETE /__admin/reset ---------------------------------------- */

/* Resets ns, or every namespace that holds anything when ns is NULL. The
 * namespaces reset go to *done (a new array). Each namespace is its own
 * commit: on a failure the ones before it stay reset. */
static int reset(const server_state_t *st, const char *ns, json_t **done,
                 dp_err_t *err)
{
    json_t *names = NULL;
    *done = json_array();
    if (*done == NULL)
        return -ENOMEM;
    if (ns != NULL) {
        names = json_pack("[s]", ns);
    } else if (dp_engine_namespaces(st->engine, &names) < 0) {
        names = NULL;
    }
    if (names == NULL)
        return -ENOMEM;
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(names, i, v)
    {
        rc = dp_engine_reset(st->engine, json_string_value(v), err);
        if (rc < 0)
            break;
        json_array_append(*done, v);
    }
    json_decref(names);
    return rc;
}

static void reset_call(admin_call_t *c, const server_state_t *st)
{
    /* The namespace from ?namespace= or X-Namespace; a body is not read
     * (WireMock's reset has none). */
    if (admin_resolve_ns(c, 0) < 0)
        return;
    const char *ns = c->ns[0] ? c->ns : NULL;
    static const dp_admin_op_t op = {"reset", 1};
    if (authorize(c, &op, ns) < 0)
        return;
    c->hold = c->auth != NULL;
    json_t *done = NULL;
    dp_err_t err = {0};
    int rc = reset(st, ns, &done, &err);
    const char *name;
    size_t i;
    json_t *v;
    /* an audit row for every namespace reset, failure or not: each one
     * that was reset is a change that happened */
    json_array_foreach(done, i, v)
    {
        name = json_string_value(v);
        dp_admin_audit_detail(c->auth, &c->who, &op, name, "/__admin/reset",
                              ns ? NULL : "every namespace");
    }
    if (rc < 0) {
        json_decref(done);
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    if (ns == NULL && json_array_size(done) == 0)
        dp_admin_audit_detail(c->auth, &c->who, &op, NULL, "/__admin/reset",
                              "every namespace (none held anything)");
    admin_reply_json(c, 200,
                     json_pack("{s:b,s:s?,s:o}", "reset", 1, "namespace", ns,
                               "namespaces", done));
    c->trim = 1;
    admin_release(c);
}

/* ---- POST /api/v1/namespaces/copy-mocks {from, to} ---------------------- */

/* The live mocks of ns, as an array of ids (a new reference), or NULL. */
static json_t *live_ids(struct dp_engine *e, const char *ns, dp_err_t *err)
{
    dp_mock_query_t q = {.ns = ns, .limit = 1000};
    json_t *ids = json_array();
    for (int more = 1; ids != NULL && more; q.offset += q.limit) {
        json_t *page = NULL;
        if (dp_engine_mock_list(e, &q, &page, err) < 0) {
            json_decref(ids);
            return NULL;
        }
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(page, "items"), i, m)
            json_array_append(ids, json_object_get(m, "id"));
        more = json_is_true(json_object_get(page, "hasMore"));
        json_decref(page);
    }
    return ids;
}

/* The body's name under key, checked; answers 400 itself. */
static const char *body_ns(admin_call_t *c, const char *key)
{
    json_t *v = json_object_get(c->body, key);
    if (json_is_string(v) &&
        dp_admin_ns_valid(json_string_value(v), json_string_length(v)))
        return json_string_value(v);
    admin_reply_error(c, 400, "validation", key,
                      "%s: expected a namespace name, 1 to 64 characters of "
                      "A-Z a-z 0-9 . _ -",
                      key);
    return NULL;
}

static void copy_mocks(admin_call_t *c, const server_state_t *st)
{
    static const dp_admin_op_t op = {"namespaces.copy_mocks", 1};
    /* the token before the body: nobody learns anything without one */
    if (authorize(c, NULL, NULL) < 0 || admin_parse_body(c) < 0)
        return;
    if (!json_is_object(c->body)) {
        admin_reply_error(c, 400, "validation", NULL,
                          "the request body must be a JSON object "
                          "{\"from\", \"to\"}");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "from") != 0 && strcmp(k, "to") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected from, to)", k);
            return;
        }
    }
    const char *from = body_ns(c, "from"), *to = from ? body_ns(c, "to") : NULL;
    if (to == NULL)
        return;
    if (strcmp(from, to) == 0) {
        admin_reply_error(c, 400, "validation", "to",
                          "to: must differ from from");
        return;
    }
    static const dp_admin_op_t read = {"mocks.list", 0};
    dp_err_t err = {0};
    int rc = dp_admin_authorize_more(c->auth, &c->who, &read, from, &err);
    if (rc == 0)
        rc = dp_admin_authorize_more(c->auth, &c->who, &op, to, &err);
    if (rc < 0) {
        if (err.status == 0)
            dp_err_set(&err, 403, "forbidden", NULL, "not allowed");
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    c->hold = c->auth != NULL;
    json_t *ids = live_ids(st->engine, from, &err);
    json_t *out = NULL;
    rc = ids ? 0 : -ENOMEM;
    if (rc == 0 && json_array_size(ids) > 0)
        rc = dp_engine_mock_copy_batch(st->engine, ids, to, &out, &err);
    json_decref(ids);
    if (rc < 0) {
        json_decref(out);
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    if (out == NULL)
        out = json_array();
    char detail[160];
    snprintf(detail, sizeof(detail), "%zu mocks copied from namespace %s",
             json_array_size(out), from);
    admin_reply_json(c, 201,
                     json_pack("{s:I,s:s,s:s,s:o}", "copied",
                               (json_int_t)json_array_size(out), "from", from,
                               "to", to, "mocks", out));
    dp_admin_audit_detail(c->auth, &c->who, &op, to,
                          "/api/v1/namespaces/copy-mocks", detail);
    c->trim = 1;
    admin_release(c);
}

/* Takes only POST /api/v1/namespaces/copy-mocks: every other request
 * under that prefix stays the auth API's (a namespace may be named
 * copy-mocks). */
static int copy_mocks_classify(void *state, const doppel_http_request_t *req)
{
    (void)state;
    /* rest is set only once a route is chosen: compare the whole path */
    static const char path[] = "/api/v1/namespaces/copy-mocks";
    size_t l = sizeof(path) - 1, n = req->path.len;
    if (n == l + 1 && req->path.ptr[l] == '/')
        n = l;
    return method_is(req, "POST") && n == l &&
           memcmp(req->path.ptr, path, l) == 0;
}

/* ---- Routing ------------------------------------------------------------ */

static void route(admin_call_t *c, const server_state_t *st, int which)
{
    const doppel_http_request_t *r = c->req;
    static const char *const allow[] = {"GET, HEAD", "GET, HEAD",
                                        "DELETE, POST"};
    if (which == 3) { /* the classifier took POST on the exact path only */
        copy_mocks(c, st);
        return;
    }
    int ok_path =
        which == 2 ? (r->rest.len == 6 && memcmp(r->rest.ptr, "/reset", 6) == 0)
                   : rest_empty(r);
    if (!ok_path) {
        if (authorize(c, NULL, NULL) == 0)
            admin_reply_error(c, 404, "not_found", NULL,
                              "no admin endpoint %.*s %.*s", (int)r->method.len,
                              r->method.ptr, (int)r->path.len, r->path.ptr);
        return;
    }
    int get = method_is(r, "GET") || method_is(r, "HEAD");
    int write = method_is(r, "POST") || method_is(r, "DELETE");
    if ((which < 2 && !get) || (which == 2 && !write)) {
        if (authorize(c, NULL, NULL) == 0)
            admin_reply_405(c, allow[which]);
        return;
    }
    if (which == 2) {
        reset_call(c, st);
        return;
    }
    /* any valid user token: what /health shows without one, and the plugin
     * list */
    if (authorize(c, NULL, NULL) < 0)
        return;
    if (which == 0)
        status_get(c, st);
    else
        features_get(c, st);
}

/* On the thread pool (admin_queue_call); the queue's job answers. */
static void server_run(admin_call_t *c, void *arg)
{
    const server_route_t *r = arg;
    route(c, r->st, r->which);
    admin_release(c);
}

static int server_handler(int which, void *state, doppel_http_exchange_t *ex,
                          const doppel_http_request_t *req)
{
    server_state_t *st = state;
    return admin_queue_call(st->q, ex, req, server_run, &st->routes[which]);
}

static int status_handler(void *state, doppel_http_exchange_t *ex,
                          const doppel_http_request_t *req)
{
    return server_handler(0, state, ex, req);
}

static int features_handler(void *state, doppel_http_exchange_t *ex,
                            const doppel_http_request_t *req)
{
    return server_handler(1, state, ex, req);
}

static int reset_handler(void *state, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req)
{
    return server_handler(2, state, ex, req);
}

static int copy_mocks_handler(void *state, doppel_http_exchange_t *ex,
                              const doppel_http_request_t *req)
{
    return server_handler(3, state, ex, req);
}

static void server_state_free(void *p)
{
    free(p);
}

int dp_admin_server_mount(dp_router_t *r, struct dp_engine *e,
                          struct dp_auth *a, const dp_admin_server_info_t *info)
{
    server_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->engine = e;
    st->auth = a;
    if (info != NULL)
        st->info = *info;
    for (int i = 0; i < 4; i++)
        st->routes[i] = (server_route_t){st, i};
    st->q = admin_queue_new(r, e, a);
    if (st->q == NULL) {
        free(st);
        return -ENOMEM;
    }
    static const struct {
        const char *prefix;
        doppel_http_handler_fn fn;
        doppel_http_classify_fn classify;
    } mounts[] = {
        {"/api/v1/status", status_handler, NULL},
        {"/api/v1/features", features_handler, NULL},
        {"/__admin", reset_handler, NULL},
        {"/api/v1/namespaces/copy-mocks", copy_mocks_handler,
         copy_mocks_classify},
    };
    int rc = dp_router_on_free(r, server_state_free, st);
    if (rc < 0) {
        free(st);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .prefix = mounts[i].prefix,
            .classify = mounts[i].classify,
            .handler = mounts[i].fn,
            .state = st,
        };
        rc = dp_router_add(r, &m, 1, "host");
    }
    return rc;
}
