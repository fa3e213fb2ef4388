/*
 * The services table handed to every plugin copy at init. Append-only: new
 * entries go at the end of doppel_services_t with the minor that added them.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "auth/auth.h"
#include "base/log.h"
#include "conn_services.h"
#include "outbound/outbound.h"
#include "runtime.h"

static void svc_log(doppel_ctx_t *ctx, doppel_log_level_t level,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if ((int)level < DOPPEL_LOG_ERROR || (int)level > DOPPEL_LOG_DEBUG)
        level = DOPPEL_LOG_INFO;
    dp_logv((dp_log_level_t)level, ctx ? ctx->inst->name : "plugin", fmt, ap);
    va_end(ap);
}

static void *svc_alloc(size_t n) { return malloc(n); }
static void svc_free(void *p) { free(p); }

static const dp_option_value_t *opt(doppel_ctx_t *ctx, const char *name)
{
    return ctx && name ? dp_options_get(ctx->inst->opts, name) : NULL;
}

static const char *svc_option_str(doppel_ctx_t *ctx, const char *name)
{
    const dp_option_value_t *v = opt(ctx, name);
    return v && v->set ? v->text : NULL;
}

static int64_t svc_option_int(doppel_ctx_t *ctx, const char *name)
{
    const dp_option_value_t *v = opt(ctx, name);
    return v && v->set ? v->num : 0;
}

static int svc_option_bool(doppel_ctx_t *ctx, const char *name)
{
    const dp_option_value_t *v = opt(ctx, name);
    return v && v->set ? v->num != 0 : 0;
}

static const char *svc_instance_name(doppel_ctx_t *ctx)
{
    return ctx->inst->name;
}

/* A section ctx (ABI 1.2, protocol.h) has no worker: the services that
 * need a loop refuse it. */
#define NO_LOOP(ctx) ((ctx) == NULL || (ctx)->worker == NULL)

static unsigned svc_worker_index(doppel_ctx_t *ctx)
{
    return NO_LOOP(ctx) ? 0 : dp_worker_index(ctx->worker);
}

static unsigned svc_worker_count(doppel_ctx_t *ctx)
{
    return NO_LOOP(ctx) ? 0 : dp_worker_host(ctx->worker)->n_workers;
}

static void *svc_loop(doppel_ctx_t *ctx)
{
    return NO_LOOP(ctx) ? NULL : dp_worker_loop(ctx->worker);
}

/* Any thread, also one the host did not create: the queue is a mutex and
 * a uv_async_send, both safe from anywhere. */
static int svc_post(doppel_ctx_t *ctx, doppel_fn_t fn, void *data)
{
    if (NO_LOOP(ctx) || fn == NULL)
        return -EINVAL;
    return dp_worker_post(ctx->worker, fn, data);
}

typedef struct work_req {
    uv_work_t req;
    doppel_fn_t work;
    doppel_fn_t after;
    void *data;
} work_req_t;

static void work_cb(uv_work_t *r)
{
    work_req_t *w = r->data;
    w->work(w->data);
}

static void after_work_cb(uv_work_t *r, int status)
{
    work_req_t *w = r->data;
    (void)status; /* cancelled work still gets its after callback */
    if (w->after)
        w->after(w->data);
    free(w);
}

static int svc_queue_work(doppel_ctx_t *ctx, doppel_fn_t work,
                          doppel_fn_t after, void *data)
{
    if (NO_LOOP(ctx) || work == NULL)
        return -EINVAL;
    work_req_t *w = malloc(sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->req.data = w;
    w->work = work;
    w->after = after;
    w->data = data;
    int rc = uv_queue_work(dp_worker_loop(ctx->worker), &w->req, work_cb,
                           after_work_cb);
    if (rc < 0)
        free(w);
    return rc;
}

static int svc_subscribe(doppel_ctx_t *ctx, uint32_t id)
{
    return NO_LOOP(ctx) ? -EINVAL : dp_worker_subscribe(ctx, id);
}

static int svc_http_mount(doppel_ctx_t *ctx, const doppel_http_mount_t *m)
{
    if (NO_LOOP(ctx) || m == NULL || m->size < sizeof(uint32_t))
        return -EINVAL;
    /* Mounts are taken during init only: the router is read by the server
     * once the worker serves. */
    if (ctx->initialised)
        return -EBUSY;
    return dp_router_add(dp_worker_router(ctx->worker), m, 0,
                         ctx->inst->name);
}

/* The value of a header of x (case-insensitive), copied into buf; NULL when
 * absent or too long. */
static const char *meta_value(const doppel_exchange_t *x, const char *name,
                              char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < x->n_metadata; i++) {
        const doppel_kv_t *kv = &x->metadata[i];
        if (kv->name.len == nl && strncasecmp(kv->name.ptr, name, nl) == 0 &&
            kv->value.len < cap) {
            memcpy(buf, kv->value.ptr, kv->value.len);
            buf[kv->value.len] = '\0';
            return buf;
        }
    }
    return NULL;
}

/* Namespaces may require a token for mock traffic (auth's requireToken):
 * 0 to go on, or 1 with *reply set to the refusal. */
static int traffic_refused(dp_host_t *h, const doppel_exchange_t *x,
                           doppel_reply_t **reply)
{
    char ns[160];
    if (h->auth == NULL || x->ns.len >= sizeof(ns))
        return 0;
    if (x->ns.len) {
        memcpy(ns, x->ns.ptr, x->ns.len);
        ns[x->ns.len] = '\0';
    } else {
        strcpy(ns, "sandbox");
    }
    if (!dp_auth_namespace_requires_token(h->auth, ns))
        return 0;
    char buf[512];
    const char *v = meta_value(x, "authorization", buf, sizeof(buf));
    if (v == NULL)
        v = meta_value(x, "x-api-key", buf, sizeof(buf));
    char addr[64];
    snprintf(addr, sizeof(addr), "%.*s", (int)x->remote_addr.len,
             x->remote_addr.ptr ? x->remote_addr.ptr : "");
    unsigned wait = 0;
    int rc = dp_auth_traffic_check(h->auth, ns, v, addr, &wait);
    if (rc == 0)
        return 0;
    if (rc == -EAGAIN) {
        char why[96];
        snprintf(why, sizeof(why),
                 "too many failed authentications from this address; retry "
                 "in %u s",
                 wait);
        rc = dp_engine_reply_refusal(429, "rate_limit", why, x->request_id,
                                     wait, reply);
    } else if (rc == -EPERM) {
        rc = dp_engine_reply_error(403, "forbidden",
                                   "this token may not call mocks of this "
                                   "namespace",
                                   x->request_id, reply);
    } else {
        rc = dp_engine_reply_error(401, "unauthorized",
                                   "this namespace requires a token "
                                   "(Authorization: Bearer or X-API-Key)",
                                   x->request_id, reply);
    }
    return rc == 0 ? 1 : rc;
}

/* 1 when v (a credential header's value) carries a doppel token: mk_ or
 * mki_, bare or after "Bearer ", spaces and tabs around it ignored. Every
 * value dp_auth_traffic_check accepts has this form. */
static int is_doppel_token(doppel_str_t v)
{
    const char *p = v.ptr ? v.ptr : "";
    size_t n = v.len;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    if (n >= 7 && strncasecmp(p, "Bearer ", 7) == 0)
        p += 7, n -= 7;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    return (n >= 3 && memcmp(p, "mk_", 3) == 0) ||
           (n >= 4 && memcmp(p, "mki_", 4) == 0);
}

/* The DOPPEL_REPLY_F_DROP_* bits for a forward of x: doppel's credentials
 * are for doppel, never for an upstream that any editor may choose. In a
 * requireToken namespace the header that authenticated (Authorization,
 * else X-API-Key: the order traffic_refused checks them in) is dropped
 * whatever its form; in any namespace, a header carrying a doppel token. */
static uint32_t credential_drop_flags(dp_host_t *h, const doppel_exchange_t *x)
{
    uint32_t f = 0;
    int has_auth = 0, has_key = 0;
    for (size_t i = 0; i < x->n_metadata; i++) {
        const doppel_kv_t *kv = &x->metadata[i];
        int a = kv->name.len == 13 &&
                strncasecmp(kv->name.ptr, "authorization", 13) == 0;
        int k =
            kv->name.len == 9 && strncasecmp(kv->name.ptr, "x-api-key", 9) == 0;
        has_auth |= a;
        has_key |= k;
        if (a && is_doppel_token(kv->value))
            f |= DOPPEL_REPLY_F_DROP_AUTHORIZATION;
        if (k && is_doppel_token(kv->value))
            f |= DOPPEL_REPLY_F_DROP_X_API_KEY;
    }
    char ns[160];
    if ((has_auth || has_key) && h->auth != NULL && x->ns.len < sizeof(ns)) {
        snprintf(ns, sizeof(ns), "%.*s", (int)x->ns.len,
                 x->ns.len ? x->ns.ptr : "");
        if (dp_auth_namespace_requires_token(h->auth, ns[0] ? ns : "sandbox"))
            f |= has_auth ? DOPPEL_REPLY_F_DROP_AUTHORIZATION
                          : DOPPEL_REPLY_F_DROP_X_API_KEY;
    }
    return f;
}

static int svc_engine_match(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                            doppel_reply_t **reply)
{
    if (NO_LOOP(ctx) || x == NULL || reply == NULL)
        return -EINVAL;
    dp_worker_t *w = ctx->worker;
    int refused = traffic_refused(dp_worker_host(w), x, reply);
    if (refused != 0)
        return refused > 0 ? 0 : refused;
    dp_worker_emit(w, DOPPEL_EVENT_RECEIVED, x);
    /* A plugin built against 1.1 or later reports how a forward ended
     * (engine_forwarded), so its PROXY replies are journalled then; a 1.0
     * plugin's are journalled now, with status 0. */
    unsigned flags =
        ctx->inst->lib->desc->abi_minor >= 1 ? DP_MATCH_DEFER_FORWARD : 0;
    int rc = dp_engine_match_ex(dp_worker_host(w)->engine, x, flags, reply);
    if (rc == 0 && (*reply)->kind == DOPPEL_REPLY_PROXY)
        (*reply)->flags |= credential_drop_flags(dp_worker_host(w), x);
    if (rc == 0) {
        doppel_match_event_t me = {sizeof(me), x, *reply};
        dp_worker_emit(w, DOPPEL_EVENT_MATCHED, &me);
    }
    return rc;
}

/* ABI 1.1: the engine checks the reply and serialises recordings itself;
 * err is not passed on (its message may name request details). */
static int svc_engine_record(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                             const doppel_reply_t *reply,
                             const doppel_fetch_result_t *res)
{
    if (NO_LOOP(ctx) || x == NULL || reply == NULL || res == NULL ||
        res->size < offsetof(doppel_fetch_result_t, error))
        return -EINVAL;
    dp_err_t err = {0};
    return dp_engine_record(dp_worker_host(ctx->worker)->engine, x, reply, res,
                            &err);
}

/* ABI 1.1: the end of a forward, for the journal. */
static int svc_engine_forwarded(doppel_ctx_t *ctx, doppel_reply_t *reply,
                                int status, const char *reason, uint32_t flags)
{
    if (ctx == NULL || reply == NULL || flags != 0) /* none defined yet */
        return -EINVAL;
    return dp_engine_forwarded(reply, status, reason);
}

/* ---- ABI 1.2: engine sessions ------------------------------------------- */

/* The plugin's handle: the engine's session and the copy that opened it
 * (its worker's loop runs every match of the session). */
struct doppel_session {
    doppel_ctx_t *ctx;
    dp_session_t *es;
};

static int svc_engine_session_open(doppel_ctx_t *ctx,
                                   const doppel_exchange_t *x,
                                   doppel_session_t **out)
{
    if (out)
        *out = NULL;
    if (NO_LOOP(ctx) || x == NULL || out == NULL)
        return -EINVAL;
    doppel_session_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->ctx = ctx;
    int rc = dp_engine_session_open(dp_worker_host(ctx->worker)->engine, x,
                                    &s->es);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static doppel_str_t str_or(doppel_str_t v, doppel_str_t d)
{
    return v.ptr && v.len ? v : d;
}

/* The plugin's exchange in the host's shape: a plugin built against an
 * older header passes a shorter struct, whose missing members read as
 * empty (copying sizeof would read past its end). */
static void exchange_in(doppel_exchange_t *m, const doppel_exchange_t *x)
{
    size_t n = x->size < sizeof(*m) ? x->size : sizeof(*m);
    memset(m, 0, sizeof(*m));
    memcpy(m, x, n);
    m->size = sizeof(*m);
}

/* As svc_engine_match (namespace tokens, events, deferred forwards), on
 * the message with the session's defaults filled in. */
static int svc_engine_session_match(doppel_session_t *s,
                                    const doppel_exchange_t *x,
                                    doppel_reply_t **reply)
{
    if (reply)
        *reply = NULL;
    if (s == NULL || x == NULL || reply == NULL)
        return -EINVAL;
    dp_worker_t *w = s->ctx->worker;
    const doppel_exchange_t *d = dp_engine_session_exchange(s->es);
    doppel_exchange_t m;
    exchange_in(&m, x);
    m.protocol = str_or(x->protocol, d->protocol);
    m.ns = str_or(x->ns, d->ns);
    m.operation = str_or(x->operation, d->operation);
    m.target = str_or(x->target, d->target);
    m.remote_addr = str_or(x->remote_addr, d->remote_addr);
    m.request_id = str_or(x->request_id, d->request_id);
    if (x->n_metadata == 0) {
        m.metadata = d->metadata;
        m.n_metadata = d->n_metadata;
    }
    int refused = traffic_refused(dp_worker_host(w), &m, reply);
    if (refused != 0)
        return refused > 0 ? 0 : refused;
    dp_worker_emit(w, DOPPEL_EVENT_RECEIVED, &m);
    unsigned flags =
        s->ctx->inst->lib->desc->abi_minor >= 1 ? DP_MATCH_DEFER_FORWARD : 0;
    int rc = dp_engine_session_match(s->es, &m, flags, reply);
    if (rc == 0 && (*reply)->kind == DOPPEL_REPLY_PROXY)
        (*reply)->flags |= credential_drop_flags(dp_worker_host(w), &m);
    if (rc == 0) {
        doppel_match_event_t me = {sizeof(me), &m, *reply};
        dp_worker_emit(w, DOPPEL_EVENT_MATCHED, &me);
    }
    return rc;
}

static void svc_engine_session_close(doppel_session_t *s)
{
    if (s == NULL)
        return;
    dp_engine_session_close(s->es);
    free(s);
}

/* ---- ABI 1.2: the journal of streams, rendering ----------------------- */

static int svc_engine_journal(doppel_ctx_t *ctx, const doppel_journal_note_t *n)
{
    if (NO_LOOP(ctx) || n == NULL)
        return -EINVAL;
    return dp_engine_journal_note(dp_worker_host(ctx->worker)->engine, n);
}

static int svc_engine_render(doppel_ctx_t *ctx, doppel_str_t ns,
                             const char *tmpl, size_t tmpl_len, char **out,
                             size_t *out_len)
{
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (NO_LOOP(ctx) || tmpl == NULL || out == NULL || out_len == NULL)
        return -EINVAL;
    char nsb[65];
    if (ns.ptr == NULL || ns.len == 0)
        snprintf(nsb, sizeof(nsb), "sandbox");
    else if (doppel_name_valid(ns.ptr, ns.len, 64))
        snprintf(nsb, sizeof(nsb), "%.*s", (int)ns.len, ns.ptr);
    else
        return -EINVAL;
    json_t *t = json_loadb(tmpl, tmpl_len, JSON_DECODE_ANY, NULL);
    if (t == NULL)
        return -EINVAL;
    json_t *v = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_render_template(dp_worker_host(ctx->worker)->engine,
                                       nsb, t, NULL, &v, &err);
    json_decref(t);
    if (rc < 0)
        return rc == -EFBIG || rc == -ENOMEM ? rc : -EINVAL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    size_t len = text ? strlen(text) : 0;
    char *o = text ? malloc(len + 1) : NULL;
    if (o)
        memcpy(o, text, len + 1);
    free(text);
    if (o == NULL)
        return -ENOMEM;
    *out = o;
    *out_len = len;
    return 0;
}

static void svc_engine_reply_free(doppel_ctx_t *ctx, doppel_reply_t *reply)
{
    (void)ctx;
    dp_engine_reply_free(reply);
}

static int svc_metric_add(doppel_ctx_t *ctx, const char *name,
                          const char *labels, uint64_t v)
{
    if (NO_LOOP(ctx) || name == NULL)
        return -EINVAL;
    return dp_metrics_plugin_add(dp_worker_host(ctx->worker)->metrics,
                                 ctx->inst->lib->desc->name, name, labels, v);
}

static void svc_stop_done(doppel_ctx_t *ctx)
{
    if (!NO_LOOP(ctx))
        dp_worker_copy_stopped(ctx);
}

/* ---- outbound requests ----------------------------------------------------- */

typedef struct fetch_call {
    doppel_fetch_cb cb;
    void *data;
} fetch_call_t;

static void fetch_done(int err, const dp_outbound_resp_t *resp, void *arg)
{
    fetch_call_t *fc = arg;
    doppel_kv_t stack[32];
    size_t n = resp->n_headers;
    doppel_kv_t *h = n <= 32 ? stack : malloc(n * sizeof(*h));
    if (h == NULL)
        n = 0, h = stack; /* answer without headers rather than not at all */
    for (size_t i = 0; i < n; i++)
        h[i] = (doppel_kv_t){{resp->headers[i].name,
                              strlen(resp->headers[i].name)},
                             {resp->headers[i].value,
                              strlen(resp->headers[i].value)}};
    doppel_fetch_result_t res = {
        .size = sizeof(res),
        .status = resp->status,
        .headers = h,
        .n_headers = n,
        .body = resp->body,
        .body_len = resp->body_len,
        .error = {resp->error, strlen(resp->error)},
    };
    fc->cb(fc->data, err, &res);
    if (h != stack)
        free(h);
    free(fc);
}

/* NUL-terminated copy of s into the arena at *p. */
static const char *arena_str(char **p, doppel_str_t s)
{
    char *out = *p;
    if (s.len)
        memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    *p += s.len + 1;
    return out;
}

static int svc_http_fetch(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                          doppel_fetch_cb cb, void *data)
{
    if (NO_LOOP(ctx) || req == NULL || cb == NULL ||
        req->size < offsetof(doppel_fetch_t, timeout_ms) + sizeof(uint32_t))
        return -EINVAL;
    dp_outbound_t *o = dp_worker_outbound(ctx->worker);
    if (o == NULL)
        return -ECANCELED;
    /* the client copies everything; strings only need to be C strings for
     * the duration of this call */
    size_t bytes = req->method.len + req->url.len + 2;
    for (size_t i = 0; i < req->n_headers; i++)
        bytes += req->headers[i].name.len + req->headers[i].value.len + 2;
    char *arena = malloc(bytes);
    dp_outbound_header_t *hs =
        malloc((req->n_headers ? req->n_headers : 1) * sizeof(*hs));
    fetch_call_t *fc = malloc(sizeof(*fc));
    if (arena == NULL || hs == NULL || fc == NULL) {
        free(arena);
        free(hs);
        free(fc);
        return -ENOMEM;
    }
    char *p = arena;
    dp_outbound_req_t oreq = {
        .method = req->method.len ? arena_str(&p, req->method) : NULL,
        .url = arena_str(&p, req->url),
        .headers = hs,
        .n_headers = req->n_headers,
        .body = req->body,
        .body_len = req->body_len,
        .timeout_ms = (long)req->timeout_ms,
        /* ABI 1.1: flags exist only in a request struct that covers them */
        .insecure =
            req->size >= offsetof(doppel_fetch_t, flags) + sizeof(uint32_t) &&
            (req->flags & DOPPEL_FETCH_F_INSECURE) != 0,
    };
    for (size_t i = 0; i < req->n_headers; i++) {
        hs[i].name = arena_str(&p, req->headers[i].name);
        hs[i].value = arena_str(&p, req->headers[i].value);
    }
    fc->cb = cb;
    fc->data = data;
    int rc = dp_outbound_request(o, &oreq, fetch_done, fc);
    if (rc < 0)
        free(fc);
    free(arena);
    free(hs);
    return rc;
}

/* ---- ABI 1.1: in-process admin calls ------------------------------------ */

#define ADMIN_PREFIX "/api/v1/"
/* The address the caller's own client connected from, for the admin API's
 * failed-authentication limiter; honoured on in-process calls only. */
#define CLIENT_ADDR_HEADER "X-Doppel-Client-Address"

static int client_addr_ok(doppel_str_t v)
{
    if (v.len == 0 || v.len >= 46) /* INET6_ADDRSTRLEN */
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
              (ch >= 'A' && ch <= 'F') || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static int svc_admin_call(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                          doppel_fetch_cb cb, void *data)
{
    if (NO_LOOP(ctx) || req == NULL || cb == NULL ||
        req->size < offsetof(doppel_fetch_t, timeout_ms) + sizeof(uint32_t) ||
        (req->n_headers > 0 && req->headers == NULL) ||
        (req->url.len > 0 && req->url.ptr == NULL))
        return -EINVAL;
    if (req->url.len < sizeof(ADMIN_PREFIX) - 1 ||
        memcmp(req->url.ptr, ADMIN_PREFIX, sizeof(ADMIN_PREFIX) - 1) != 0)
        return -EINVAL;
    dp_http_server_t *s = dp_worker_local(ctx->worker);
    if (s == NULL)
        return -ECANCELED;
    /* The client-address header is ours: taken out, never seen by the API. */
    doppel_kv_t stack[32];
    doppel_kv_t *hs = stack;
    if (req->n_headers > 32 &&
        (hs = malloc(req->n_headers * sizeof(*hs))) == NULL)
        return -ENOMEM;
    char addr[46] = "in-process";
    size_t n = 0;
    size_t hl = sizeof(CLIENT_ADDR_HEADER) - 1;
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *kv = &req->headers[i];
        if (kv->name.len == hl && kv->name.ptr != NULL &&
            strncasecmp(kv->name.ptr, CLIENT_ADDR_HEADER, hl) == 0) {
            if (client_addr_ok(kv->value)) {
                memcpy(addr, kv->value.ptr, kv->value.len);
                addr[kv->value.len] = '\0';
            }
            continue;
        }
        hs[n++] = *kv;
    }
    dp_http_local_req_t lr = {
        .method = req->method,
        .target = req->url,
        .headers = hs,
        .n_headers = n,
        .body = req->body,
        .body_len = req->body_len,
        .remote_addr = addr,
    };
    int rc = dp_http_local_call(s, &lr, 1, cb, data);
    if (hs != stack)
        free(hs);
    return rc;
}

/* ---- ABI 1.1: own listeners --------------------------------------------- */

static int svc_http_listen(doppel_ctx_t *ctx, const char *address,
                           const doppel_http_mount_t *m)
{
    if (NO_LOOP(ctx) || address == NULL || m == NULL ||
        m->size < sizeof(uint32_t))
        return -EINVAL;
    return dp_worker_listen(ctx, address, m);
}

/* ---- ABI 1.1: state shared by a section's copies ------------------------ */

/* One host mutex for every section: creation and the last destroy are
 * rare, and create runs under it so two workers never both create. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void *svc_shared(doppel_ctx_t *ctx, void *(*create)(void *arg),
                        void (*destroy)(void *state), void *arg)
{
    if (ctx == NULL || create == NULL)
        return NULL;
    dp_instance_t *in = ctx->inst;
    pthread_mutex_lock(&shared_lock);
    if (in->shared == NULL) {
        in->shared = create(arg);
        in->shared_destroy = in->shared ? destroy : NULL;
    }
    void *st = in->shared;
    pthread_mutex_unlock(&shared_lock);
    return st;
}

void dp_instance_copy_born(dp_instance_t *in)
{
    pthread_mutex_lock(&shared_lock);
    in->live_copies++;
    pthread_mutex_unlock(&shared_lock);
}

/* Takes the section's state out under the lock; the destructor runs
 * outside it (it is the plugin's code and may take its own time). */
static void shared_take(dp_instance_t *in, void **st, void (**fn)(void *))
{
    *st = in->shared;
    *fn = in->shared_destroy;
    in->shared = NULL;
    in->shared_destroy = NULL;
}

void dp_instance_copy_gone(dp_instance_t *in)
{
    void *st = NULL;
    void (*fn)(void *) = NULL;
    pthread_mutex_lock(&shared_lock);
    if (in->live_copies > 0 && --in->live_copies == 0)
        shared_take(in, &st, &fn);
    pthread_mutex_unlock(&shared_lock);
    if (st != NULL && fn != NULL)
        fn(st);
}

void dp_instance_shared_release(dp_instance_t *in)
{
    void *st = NULL;
    void (*fn)(void *) = NULL;
    pthread_mutex_lock(&shared_lock);
    shared_take(in, &st, &fn);
    pthread_mutex_unlock(&shared_lock);
    if (st != NULL && fn != NULL)
        fn(st);
}

const doppel_services_t dp_services = {
    .size = sizeof(doppel_services_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .log = svc_log,
    .alloc = svc_alloc,
    .free = svc_free,
    .option_str = svc_option_str,
    .option_int = svc_option_int,
    .option_bool = svc_option_bool,
    .instance_name = svc_instance_name,
    .worker_index = svc_worker_index,
    .worker_count = svc_worker_count,
    .loop = svc_loop,
    .post = svc_post,
    .queue_work = svc_queue_work,
    .subscribe = svc_subscribe,
    .http_mount = svc_http_mount,
    .http_respond = dp_http_respond,
    .http_stream_start = dp_http_stream_start,
    .http_stream_write = dp_http_stream_write,
    .http_stream_end = dp_http_stream_end,
    .engine_match = svc_engine_match,
    .engine_reply_free = svc_engine_reply_free,
    .metric_add = svc_metric_add,
    .stop_done = svc_stop_done,
    .http_fetch = svc_http_fetch,
    /* ABI 1.1 */
    .engine_record = svc_engine_record,
    .admin_call = svc_admin_call,
    .http_listen = svc_http_listen,
    .shared = svc_shared,
    .engine_forwarded = svc_engine_forwarded,
    /* ABI 1.2: connections, timers, watches (conn_services.c) */
    .conn_listen = dp_svc_conn_listen,
    .conn_listen_port = dp_svc_conn_listen_port,
    .conn_claim = dp_svc_conn_claim,
    .conn_start = dp_conn_start,
    .conn_write = dp_conn_write,
    .conn_pending = dp_conn_pending,
    .conn_pause = dp_conn_pause,
    .conn_close = dp_conn_close,
    .timer_start = dp_svc_timer_start,
    .timer_stop = dp_timer_stop,
    .now_ms = dp_svc_now_ms,
    .fd_watch = dp_svc_fd_watch,
    .fd_watch_update = dp_fd_watch_update,
    .fd_watch_stop = dp_fd_watch_stop,
    /* ABI 1.2: engine sessions */
    .engine_session_open = svc_engine_session_open,
    .engine_session_match = svc_engine_session_match,
    .engine_session_close = svc_engine_session_close,
    .http_upgrade = dp_svc_http_upgrade,
    /* ABI 1.2: the journal of streams, rendering */
    .engine_journal = svc_engine_journal,
    .engine_render = svc_engine_render,
};
