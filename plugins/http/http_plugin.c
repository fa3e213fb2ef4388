/*
 * The HTTP mock protocol plugin: serves mocks whose protocol section is
 * "http" on the host's HTTP/1.1 front.
 *
 * Mounts (through svc->http_mount):
 *   "/"              catch-all (option root = true): namespace from the
 *                    X-Namespace header, else "sandbox"; target = the path.
 *   "<stubs_prefix>" (default "/stubs"): /stubs/<namespace>/<rest...>:
 *                    namespace from the path, target = "/<rest...>".
 * Each request becomes a doppel_exchange_t matched by svc->engine_match;
 * the reply's status, headers and body are sent with svc->http_respond,
 * after reply->delay_ms on a libuv timer when the mock asks for a delay. A
 * proxy reply forwards the request through svc->http_fetch (the host's
 * outbound client and address guard) and passes the answer back; for a
 * service in LEARN mode the answer is also recorded (svc->engine_record).
 * A MOCK-mode miss is an ordinary no-match reply whose status and headers
 * (X-Doppel-Miss) the engine chose. However a forward ends (answered,
 * refused, failed, stopping), the plugin tells the engine with
 * svc->engine_forwarded (ABI 1.1), before it answers, which journals the
 * request with the status the client gets.
 *
 * Stop: on DOPPEL_EVENT_DRAINING (ABI 1.1) delayed replies are sent at
 * once, without the rest of their delay, and later ones are not delayed,
 * so a long delay never holds the host's drain; proxied requests finish
 * (bounded by their timeout and the drain timeout).
 *
 * Threading: one instance per worker; everything runs on that worker's loop
 * thread, so the instance needs no locks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "doppel/plugin.h"
#include "forward.h"

#define DEFAULT_NS "sandbox"
#define NS_MAX 64

typedef struct http_state http_state_t;

/* A reply waiting for its delay. Owned by the instance's pending list from
 * creation until its timer handle is closed. */
typedef struct pending {
    uv_timer_t timer;
    http_state_t *st;
    doppel_http_exchange_t *ex;
    doppel_reply_t *reply; /* engine-owned, freed with engine_reply_free */
    int answered;
    struct pending *prev, *next;
} pending_t;

struct http_state {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    const char *stubs_prefix; /* host-owned option string */
    int root;
    int draining; /* the host is stopping: no more delays */
    int stopping;
    int stop_waiting; /* stop_done is due when the last handle closes */
    size_t n_open;    /* pending timers not yet closed + proxied requests
                         not yet called back */
    pending_t *pending;
};

/* ---- Answers ------------------------------------------------------------ */

static void respond_json(http_state_t *st, doppel_http_exchange_t *ex,
                         int status, const char *json, const char *match)
{
    doppel_kv_t h[2] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
        {DOPPEL_STR("X-Doppel-Match"), {match, strlen(match)}},
    };
    st->svc->http_respond(ex, status, h, match[0] ? 2 : 1, json,
                          strlen(json));
}

static int has_header(const doppel_reply_t *r, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (r->headers[i].name.len == l &&
            strncasecmp(r->headers[i].name.ptr, name, l) == 0)
            return 1;
    return 0;
}

/* Sends an engine reply (response or no match) and frees it. */
static void send_reply(http_state_t *st, doppel_http_exchange_t *ex,
                       doppel_reply_t *r)
{
    const doppel_services_t *svc = st->svc;
    size_t n = r->n_headers;
    doppel_kv_t stack[16];
    doppel_kv_t *h = n + 2 <= 16 ? stack : malloc((n + 2) * sizeof(*h));
    if (h == NULL) {
        svc->engine_reply_free(st->ctx, r);
        respond_json(st, ex, 500,
                     "{\"error\":\"out of memory\",\"code\":\"internal\"}",
                     "");
        return;
    }
    if (n > 0)
        memcpy(h, r->headers, n * sizeof(*h));
    if (r->kind == DOPPEL_REPLY_NO_MATCH) {
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Match"), DOPPEL_STR("miss")};
        if (!has_header(r, "Content-Type"))
            h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("application/json")};
    } else {
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Mock-Id"), r->mock_id};
    }
    svc->http_respond(ex, r->status, h, n, r->body, r->body_len);
    if (h != stack)
        free(h);
    svc->engine_reply_free(st->ctx, r);
}

/* ---- Delayed replies ---------------------------------------------------- */

/* One delayed reply or proxied request is over; a waiting stop may end. */
static void one_closed(http_state_t *st)
{
    st->n_open--;
    if (st->n_open == 0 && st->stop_waiting) {
        st->stop_waiting = 0;
        st->svc->stop_done(st->ctx);
    }
}

static void pending_closed(uv_handle_t *handle)
{
    pending_t *p = handle->data;
    http_state_t *st = p->st;
    if (p->prev)
        p->prev->next = p->next;
    else
        st->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
    one_closed(st);
}

static void pending_fire(uv_timer_t *t)
{
    pending_t *p = t->data;
    p->answered = 1;
    send_reply(p->st, p->ex, p->reply);
    p->reply = NULL;
    uv_close((uv_handle_t *)&p->timer, pending_closed);
}

/* Returns 0 when the reply was scheduled (and is now owned by the timer). */
static int schedule(http_state_t *st, doppel_http_exchange_t *ex,
                    doppel_reply_t *r)
{
    uv_loop_t *loop = st->svc->loop(st->ctx);
    pending_t *p = calloc(1, sizeof(*p));
    if (loop == NULL || p == NULL) {
        free(p);
        return -ENOMEM;
    }
    int rc = uv_timer_init(loop, &p->timer);
    if (rc < 0) {
        free(p);
        return rc;
    }
    p->timer.data = p;
    p->st = st;
    p->ex = ex;
    p->reply = r;
    p->next = st->pending;
    if (st->pending)
        st->pending->prev = p;
    st->pending = p;
    st->n_open++;
    rc = uv_timer_start(&p->timer, pending_fire, r->delay_ms, 0);
    if (rc < 0) {
        /* The handle exists: close it; the caller still owns r. */
        p->reply = NULL;
        p->answered = 1;
        uv_close((uv_handle_t *)&p->timer, pending_closed);
        return rc;
    }
    return 0;
}

static const char shutting_down[] =
    "{\"error\":\"shutting down\",\"code\":\"unavailable\"}";

/* The host began to stop: every delayed reply goes out now. */
static void answer_delayed_now(http_state_t *st)
{
    for (pending_t *p = st->pending; p != NULL; p = p->next) {
        if (p->answered)
            continue;
        uv_timer_stop(&p->timer);
        pending_fire(&p->timer);
    }
}

/* ---- Proxied replies ------------------------------------------------------
 * Two kinds of PROXY reply: a mock with proxy: {target} (the request's path
 * is appended to the target), and a record-and-replay service (ABI 1.1:
 * reply->service set; proxy_target is already the full URL for the path,
 * with the service's timeout and TLS flags). A LEARN reply carries
 * DOPPEL_REPLY_F_RECORD: the upstream's answer goes to svc->engine_record
 * before it is sent back, and the client gets its answer even when the
 * recording fails. */

typedef struct proxied {
    http_state_t *st;
    doppel_http_exchange_t *ex;
    char mock_id[72];
    char service[72];
    doppel_reply_t *reply; /* the engine's, owned here: engine_forwarded
                              and engine_record need it at the end */
    /* recording only: the exchange as matched (its strings point into the
     * request, which lives until we respond, and into params_mem, owned
     * here) */
    int record;
    doppel_exchange_t x;
    void *params_mem;
} proxied_t;

static void proxied_free(http_state_t *st, proxied_t *pr)
{
    if (pr->reply)
        st->svc->engine_reply_free(st->ctx, pr->reply);
    free(pr->params_mem);
    free(pr);
}

static void report_forwarded(http_state_t *st, doppel_reply_t *r, int status,
                             const char *reason)
{
    dpf_report(st->ctx, st->svc, r, status, reason);
}

static void proxied_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    proxied_t *pr = data;
    http_state_t *st = pr->st;
    if (rc < 0) {
        char why[256], svcs[96], body[560];
        dpf_json_escape(why, sizeof(why), res->error.ptr ? res->error.ptr : "",
                        res->error.len);
        svcs[0] = '\0';
        if (pr->service[0])
            snprintf(svcs, sizeof(svcs), ",\"service\":\"%s\"", pr->service);
        snprintf(body, sizeof(body),
                 "{\"error\":\"upstream: %s\",\"code\":\"unavailable\","
                 "\"reason\":\"%s\"%s}",
                 why[0] ? why : strerror(-rc), dpf_fail_reason(rc), svcs);
        int status = dpf_fail_status(rc);
        report_forwarded(st, pr->reply, status, dpf_fail_reason(rc));
        respond_json(st, pr->ex, status, body, "");
    } else {
        if (pr->record && DOPPEL_HAS_SERVICE(st->svc, engine_record)) {
            /* before responding: the request's memory lives until then */
            int rrc = st->svc->engine_record(st->ctx, &pr->x, pr->reply, res);
            if (rrc < 0)
                st->svc->log(st->ctx, DOPPEL_LOG_WARN,
                             "service %s: request %.*s not recorded: %s",
                             pr->service, (int)pr->x.request_id.len,
                             pr->x.request_id.ptr ? pr->x.request_id.ptr : "",
                             strerror(-rrc));
        }
        report_forwarded(st, pr->reply, res->status, NULL);
        dpf_respond(st->svc, pr->ex, pr->reply, res);
    }
    proxied_free(st, pr);
    one_closed(st);
}

/* Forwards the request: to the mock's proxy target + the request's path
 * (after /stubs/<ns> when addressed that way) + its query, or to a
 * service's URL + the query. Returns 0 when the exchange is now the
 * fetch's to finish and r (and, when recording, x's params_mem) are taken;
 * else a negative errno and the caller still owns r. */
static int forward(http_state_t *st, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req, doppel_str_t path,
                   doppel_reply_t *r, const doppel_exchange_t *x,
                   void **params_mem)
{
    if (st->stopping)
        return -ENOTSUP;
    proxied_t *pr = calloc(1, sizeof(*pr));
    if (pr == NULL)
        return -ENOMEM;
    int is_svc = dpf_service_reply(r);
    pr->st = st;
    pr->ex = ex;
    snprintf(pr->mock_id, sizeof(pr->mock_id), "%.*s", (int)r->mock_id.len,
             r->mock_id.ptr ? r->mock_id.ptr : "");
    if (is_svc)
        snprintf(pr->service, sizeof(pr->service), "%.*s", (int)r->service.len,
                 r->service.ptr);
    int rc = dpf_start(st->ctx, st->svc, req, path, r, proxied_done, pr);
    if (rc < 0) {
        free(pr);
        return rc;
    }
    pr->reply = r;
    if (is_svc && (r->flags & DOPPEL_REPLY_F_RECORD)) {
        pr->record = 1;
        pr->x = *x;
        pr->params_mem = *params_mem;
        *params_mem = NULL;
    }
    st->n_open++;
    return 0;
}

/* ---- Request decoding --------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX and '+' in place-order into out; returns the length. A bad
 * escape or %00 stays as written (lenient, like most servers). */
static size_t qdecode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len) {
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                out[o++] = s[i];
                continue;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* The engine splits a target on '/' and percent-decodes each segment; the
 * front hands the plugin a path it has decoded already. Each '%' of that
 * path is escaped again ("%25") for the engine, so the path is decoded
 * exactly once: "/a%2541" reaches the route trie as the segment "a%41",
 * never as "aA". Returns the bytes escape_path writes (with its NUL). */
static size_t escaped_path_len(const doppel_str_t *path, size_t *n_pct)
{
    size_t n = 0;
    for (size_t i = 0; i < path->len; i++)
        n += path->ptr[i] == '%';
    *n_pct = n;
    return n ? path->len + 2 * n + 1 : 0;
}

static size_t escape_path(const doppel_str_t *path, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < path->len; i++) {
        out[o++] = path->ptr[i];
        if (path->ptr[i] == '%') {
            out[o++] = '2';
            out[o++] = '5';
        }
    }
    out[o] = '\0';
    return o;
}

/* Decodes the query string into name/value pairs, and the engine's form of
 * the path (*target: path itself, or its escaped copy), in one allocation
 * that the caller frees (*mem, NULL when nothing needed one). */
static int decode_params(const doppel_str_t *q, const doppel_str_t *path,
                         doppel_kv_t **out, size_t *n, doppel_str_t *target,
                         void **mem)
{
    *out = NULL;
    *n = 0;
    *mem = NULL;
    *target = *path;
    size_t n_pct;
    size_t path_bytes = escaped_path_len(path, &n_pct);
    int has_q = q->ptr != NULL && q->len > 0;
    if (!has_q && path_bytes == 0)
        return 0;
    size_t count = 1;
    for (size_t i = 0; has_q && i < q->len; i++)
        count += q->ptr[i] == '&';
    /* Each pair decodes into at most its own length plus two NULs. */
    size_t q_bytes =
        has_q ? count * sizeof(doppel_kv_t) + q->len + 2 * count + 1 : 0;
    char *buf = malloc(q_bytes + path_bytes);
    if (buf == NULL)
        return -ENOMEM;
    if (path_bytes) {
        char *tp = buf + q_bytes;
        *target = (doppel_str_t){tp, escape_path(path, tp)};
    }
    *mem = buf;
    if (!has_q)
        return 0;
    doppel_kv_t *kv = (doppel_kv_t *)buf;
    char *text = buf + count * sizeof(doppel_kv_t);
    const char *p = q->ptr, *end = q->ptr + q->len;
    size_t k = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            const char *ne = eq ? eq : pe;
            const char *v = eq ? eq + 1 : pe;
            kv[k].name.ptr = text;
            kv[k].name.len = qdecode(p, (size_t)(ne - p), text);
            text += kv[k].name.len + 1;
            kv[k].value.ptr = text;
            kv[k].value.len = qdecode(v, (size_t)(pe - v), text);
            text += kv[k].value.len + 1;
            k++;
        }
        p = pe + 1;
    }
    *out = kv;
    *n = k;
    return 0;
}

/* ---- The handler -------------------------------------------------------- */

static int serve(http_state_t *st, doppel_http_exchange_t *ex,
                 const doppel_http_request_t *req, doppel_str_t ns,
                 doppel_str_t target)
{
    const doppel_services_t *svc = st->svc;
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = ns,
        .operation = req->method,
        .metadata = req->headers,
        .n_metadata = req->n_headers,
        .body = req->body,
        .body_len = req->body_len,
        .request_id = req->request_id,
        .remote_addr = req->remote_addr,
    };
    const doppel_str_t *ct = req->header(req, "Content-Type");
    if (ct != NULL)
        x.content_type = *ct;
    void *mem = NULL;
    doppel_kv_t *params = NULL;
    if (decode_params(&req->query, &target, &params, &x.n_params, &x.target,
                      &mem) < 0)
        return -ENOMEM;
    x.params = params;

    doppel_reply_t *r = NULL;
    int rc = svc->engine_match(st->ctx, &x, &r);
    if (rc == 0 && r != NULL && r->kind == DOPPEL_REPLY_PROXY) {
        /* a recording keeps the exchange (and its params) until the
         * upstream answered */
        int frc = forward(st, ex, req, target, r, &x, &mem);
        free(mem);
        if (frc == -EINVAL) {
            report_forwarded(st, r, 502, "url");
            respond_json(st, ex, 502,
                         "{\"code\":\"unavailable\",\"reason\":\"url\","
                         "\"error\":\"the proxy target is not a valid "
                         "http(s) URL\"}",
                         "");
        } else if (frc < 0) {
            report_forwarded(st, r, 503, "stopping");
            respond_json(st, ex, 503, shutting_down, "");
        }
        if (frc < 0)
            svc->engine_reply_free(st->ctx, r);
        return 0;
    }
    free(mem); /* the exchange was borrowed for the call only */
    if (rc < 0 || r == NULL) {
        svc->log(st->ctx, DOPPEL_LOG_ERROR, "engine_match failed: %d", rc);
        respond_json(st, ex, 500,
                     "{\"error\":\"matching failed\",\"code\":\"internal\"}",
                     "");
        return 0;
    }
    if (r->kind == DOPPEL_REPLY_RESPONSE && r->delay_ms > 0 && !st->draining &&
        schedule(st, ex, r) == 0)
        return 0;
    send_reply(st, ex, r);
    return 0;
}

static int refuse(http_state_t *st, doppel_http_exchange_t *ex, int status,
                  const char *json)
{
    respond_json(st, ex, status, json, "");
    return 0;
}

static int root_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    http_state_t *st = state;
    if (st->stopping)
        return refuse(st, ex, 503, shutting_down);
    doppel_str_t ns = DOPPEL_STR(DEFAULT_NS);
    const doppel_str_t *h = req->header(req, "X-Namespace");
    if (h != NULL) {
        if (!doppel_name_valid(h->ptr, h->len, NS_MAX))
            return refuse(st, ex, 400,
                          "{\"error\":\"invalid X-Namespace: expected 1 to 64 "
                          "characters of A-Z a-z 0-9 . _ -\","
                          "\"code\":\"validation\",\"field\":\"namespace\"}");
        ns = *h;
    }
    return serve(st, ex, req, ns, req->path);
}

static int stubs_handler(void *state, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req)
{
    http_state_t *st = state;
    if (st->stopping)
        return refuse(st, ex, 503, shutting_down);
    /* rest is "/<namespace>/<target...>" */
    const char *p = req->rest.ptr, *end = p + req->rest.len;
    while (p < end && *p == '/')
        p++;
    const char *s = p;
    while (p < end && *p != '/')
        p++;
    doppel_str_t ns = {s, (size_t)(p - s)};
    if (ns.len == 0)
        return refuse(st, ex, 404,
                      "{\"error\":\"expected <prefix>/<namespace>/<path>\","
                      "\"code\":\"not_found\"}");
    if (!doppel_name_valid(ns.ptr, ns.len, NS_MAX))
        return refuse(st, ex, 400,
                      "{\"error\":\"invalid namespace in the path: expected 1 "
                      "to 64 characters of A-Z a-z 0-9 . _ -\","
                      "\"code\":\"validation\",\"field\":\"namespace\"}");
    doppel_str_t target = {p, (size_t)(end - p)};
    if (target.len == 0)
        target = DOPPEL_STR("/");
    return serve(st, ex, req, ns, target);
}

/* ---- Lifecycle ---------------------------------------------------------- */

static int prefix_valid(const char *p)
{
    size_t l = strlen(p);
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

static int http_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond) ||
        !DOPPEL_HAS_SERVICE(svc, engine_match) ||
        !DOPPEL_HAS_SERVICE(svc, engine_reply_free) ||
        !DOPPEL_HAS_SERVICE(svc, loop) || !DOPPEL_HAS_SERVICE(svc, stop_done))
        return -ENOTSUP;
    http_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->ctx = ctx;
    st->svc = svc;
    st->root = svc->option_bool(ctx, "root");
    st->stubs_prefix = svc->option_str(ctx, "stubs_prefix");
    if (st->stubs_prefix == NULL)
        st->stubs_prefix = "/stubs";
    if (!prefix_valid(st->stubs_prefix)) {
        svc->log(ctx, DOPPEL_LOG_ERROR,
                 "stubs_prefix '%s': expected a path like /stubs (starts "
                 "with '/', no trailing '/')",
                 st->stubs_prefix);
        free(st);
        return -EINVAL;
    }
    doppel_http_mount_t stubs = {
        .size = sizeof(stubs),
        .prefix = st->stubs_prefix,
        .handler = stubs_handler,
        .state = st,
    };
    /* ABI 1.1: told when the host starts to stop, so that long delays do
     * not hold its drain; an older host does not know the event. */
    if (DOPPEL_HAS_SERVICE(svc, subscribe))
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
    int rc = svc->http_mount(ctx, &stubs);
    if (rc == 0 && st->root) {
        doppel_http_mount_t root = {
            .size = sizeof(root),
            .prefix = "/",
            .handler = root_handler,
            .state = st,
        };
        rc = svc->http_mount(ctx, &root);
    }
    if (rc < 0) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount: %s", strerror(-rc));
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int http_start(void *state)
{
    (void)state;
    return 0; /* the host's front owns the listener */
}

/* Delayed replies still waiting (DRAINING sent them already, unless the
 * host never drained: a failed start) are answered 503 at once, then
 * stop_done follows when their timer handles have closed and the proxied
 * requests were called back. */
static int http_stop(void *state)
{
    http_state_t *st = state;
    st->stopping = 1;
    for (pending_t *p = st->pending; p != NULL; p = p->next) {
        if (p->answered)
            continue;
        p->answered = 1;
        uv_timer_stop(&p->timer);
        st->svc->engine_reply_free(st->ctx, p->reply);
        p->reply = NULL;
        respond_json(st, p->ex, 503, shutting_down, "");
        uv_close((uv_handle_t *)&p->timer, pending_closed);
    }
    if (st->n_open == 0)
        st->svc->stop_done(st->ctx);
    else
        st->stop_waiting = 1;
    return 0;
}

static int http_on_event(void *state, const doppel_event_t *ev)
{
    http_state_t *st = state;
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    st->draining = 1;
    answer_delayed_now(st);
    return DOPPEL_OK;
}

static void http_destroy(void *state)
{
    /* Every pending handle was closed before stop_done (or none existed:
     * destroy after a failed start). */
    free(state);
}

static const doppel_option_t http_options[] = {
    {.name = "root",
     .type = DOPPEL_OPT_BOOL,
     .default_value = "true",
     .help = "serve mocks at the root of the port (catch-all mount \"/\")",
     .min = 1,
     .max = 0},
    {.name = "stubs_prefix",
     .type = DOPPEL_OPT_STRING,
     .default_value = "/stubs",
     .help = "path prefix serving <prefix>/<namespace>/<path>",
     .min = 1,
     .max = 0},
    {.name = NULL},
};

static const doppel_plugin_t http_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "http",
    .version = "0.1.0",
    .summary = "HTTP mocks: serves mocks with an http section",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = http_options,
    .init = http_init,
    .start = http_start,
    .stop = http_stop,
    .destroy = http_destroy,
    .on_event = http_on_event,
};

DOPPEL_PLUGIN_DEFINE(http_plugin)
