/*
 * Host routes for orchestrators and scrapers: /health, /health/live,
 * /health/ready and /metrics.
 *
 * Only reads host state through host.h, so it runs on any worker thread.
 * JSON is written by hand: the documents are small and fixed, and this
 * keeps the routes free of allocation-heavy builders on every probe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "engine/dp_error.h"
#include "engine/engine.h"
#include "host.h"

#define INSTANCES_ON_STACK 32

typedef struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
} jbuf_t;

static void jb_raw(jbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* A string literal, length taken by the compiler. */
#define jb_lit(b, lit) jb_raw((b), (lit), sizeof(lit) - 1)

static void jb_fmt(jbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void jb_fmt(jbuf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        jb_raw(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string; NULL becomes null. Control characters, quotes and
 * backslashes are escaped; other bytes pass through (names are UTF-8). */
static void jb_str(jbuf_t *b, const char *s)
{
    if (s == NULL) {
        jb_raw(b, "null", 4);
        return;
    }
    jb_raw(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        jb_raw(b, run, (size_t)(s - run));
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            jb_raw(b, e, 2);
        } else {
            jb_fmt(b, "\\u%04x", ch);
        }
        run = s + 1;
    }
    jb_raw(b, run, (size_t)(s - run));
    jb_raw(b, "\"", 1);
}

static const char *host_status(dp_host_t *h)
{
    if (dp_host_draining(h))
        return "draining";
    return dp_host_ready(h) ? "ok" : "starting";
}

/* The health-check response format's status of one plugin instance
 * (draft-inadarei-api-health-check): serving on every worker is "pass",
 * on the way up or down "warn", failed "fail". */
static const char *check_status(const char *state)
{
    if (strcmp(state, "started") == 0)
        return "pass";
    return strcmp(state, "failed") == 0 ? "fail" : "warn";
}

/* Uptime as the SDKs read it: Go's time.Duration text truncated to the
 * second ("12s", "5m0s", "72h15m30s"). */
static void jb_uptime(jbuf_t *b, double seconds)
{
    unsigned long long t = seconds > 0 ? (unsigned long long)seconds : 0;
    unsigned long long hh = t / 3600, mm = t / 60 % 60, ss = t % 60;
    if (hh)
        jb_fmt(b, "\"%lluh%llum%llus\"", hh, mm, ss);
    else if (mm)
        jb_fmt(b, "\"%llum%llus\"", mm, ss);
    else
        jb_fmt(b, "\"%llus\"", ss);
}

/* dp_http_respond finishes the exchange whatever it returns (a gone client
 * included), so a handler that called it has nothing left to report. */
static int answered(int rc)
{
    (void)rc;
    return 0;
}

static int respond_jbuf(doppel_http_exchange_t *ex, int status, jbuf_t *b)
{
    if (b->oom) {
        free(b->p);
        static const char oom[] = "{\"error\":\"out of memory\","
                                  "\"code\":\"internal\"}";
        return answered(dp_http_respond_json(ex, 500, oom, sizeof(oom) - 1));
    }
    int rc = dp_http_respond_json(ex, status, b->p, b->len);
    free(b->p);
    return answered(rc);
}

static int send_health(dp_host_t *h, doppel_http_exchange_t *ex)
{
    dp_inst_info_t stack[INSTANCES_ON_STACK];
    dp_inst_info_t *inst = stack;
    size_t n = dp_host_instances(h, stack, INSTANCES_ON_STACK);
    if (n > INSTANCES_ON_STACK) {
        inst = calloc(n, sizeof(*inst));
        if (inst == NULL)
            return answered(dp_http_respond_json(ex, 500, "{\"code\":\"internal\"}", 19));
        size_t m = dp_host_instances(h, inst, n);
        n = m < n ? m : n; /* instances do not come and go, but be safe */
    }
    /* One document for both kinds of reader: the health-check format the
     * SDKs and load balancers read (status, releaseId, uptime, checks),
     * and doppel's own (state, version, uptimeSeconds, plugins). */
    const char *state = host_status(h), *overall = "pass";
    for (size_t i = 0; i < n; i++) {
        const char *cs = check_status(inst[i].state);
        if (strcmp(cs, "fail") == 0)
            overall = "fail";
        else if (strcmp(cs, "warn") == 0 && strcmp(overall, "pass") == 0)
            overall = "warn";
    }
    if (strcmp(state, "ok") != 0 && strcmp(overall, "pass") == 0)
        overall = "warn";
    jbuf_t b = {0};
    jb_lit(&b, "{\"status\":");
    jb_str(&b, overall);
    jb_lit(&b, ",\"state\":");
    jb_str(&b, state);
    jb_lit(&b, ",\"releaseId\":");
    jb_str(&b, dp_host_version());
    jb_lit(&b, ",\"version\":");
    jb_str(&b, dp_host_version());
    jb_lit(&b, ",\"uptime\":");
    jb_uptime(&b, dp_host_uptime(h));
    jb_fmt(&b, ",\"uptimeSeconds\":%.3f,\"checks\":{", dp_host_uptime(h));
    for (size_t i = 0; i < n; i++) {
        const dp_inst_info_t *p = &inst[i];
        char key[192];
        snprintf(key, sizeof(key), "plugin:%s", p->name);
        if (i > 0)
            jb_lit(&b, ",");
        jb_str(&b, key);
        jb_lit(&b, ":[{\"componentId\":");
        jb_str(&b, p->name);
        jb_lit(&b, ",\"componentType\":");
        jb_str(&b, p->kind);
        jb_lit(&b, ",\"status\":");
        jb_str(&b, check_status(p->state));
        jb_lit(&b, ",\"observedValue\":");
        jb_str(&b, p->state);
        jb_fmt(&b, ",\"workers\":%u,\"workersStarted\":%u}]", p->workers,
               p->workers_started);
    }
    jb_lit(&b, "},\"plugins\":[");
    for (size_t i = 0; i < n; i++) {
        const dp_inst_info_t *p = &inst[i];
        if (i > 0)
            jb_lit(&b, ",");
        jb_lit(&b, "{\"name\":");
        jb_str(&b, p->name);
        jb_lit(&b, ",\"plugin\":");
        jb_str(&b, p->plugin);
        jb_lit(&b, ",\"version\":");
        jb_str(&b, p->version);
        jb_lit(&b, ",\"kind\":");
        jb_str(&b, p->kind);
        jb_lit(&b, ",\"state\":");
        jb_str(&b, p->state);
        jb_fmt(&b, ",\"workers\":%u,\"workersStarted\":%u}", p->workers,
               p->workers_started);
    }
    jb_lit(&b, "]}");
    if (inst != stack)
        free(inst);
    /* the format's rule: "fail" is answered with a 5xx */
    return respond_jbuf(ex, strcmp(overall, "fail") == 0 ? 503 : 200, &b);
}

static int method_is(const doppel_http_request_t *req, const char *m)
{
    size_t n = strlen(m);
    return req->method.len == n && memcmp(req->method.ptr, m, n) == 0;
}

static int not_allowed(doppel_http_exchange_t *ex,
                       const doppel_http_request_t *req)
{
    static const doppel_kv_t hdr[] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
        {DOPPEL_STR("Allow"), DOPPEL_STR("GET, HEAD")}};
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":\"method not allowed\",\"code\":"
                     "\"method_not_allowed\",\"request_id\":\"%.*s\"}",
                     (int)req->request_id.len, req->request_id.ptr);
    return answered(dp_http_respond(ex, 405, hdr, 2, body, (size_t)n));
}

static int not_found(doppel_http_exchange_t *ex,
                     const doppel_http_request_t *req)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":\"no route\",\"code\":\"not_found\","
                     "\"request_id\":\"%.*s\"}",
                     (int)req->request_id.len, req->request_id.ptr);
    return answered(dp_http_respond_json(ex, 404, body, (size_t)n));
}

static int rest_is(const doppel_http_request_t *req, const char *s)
{
    size_t n = strlen(s);
    return req->rest.len == n && memcmp(req->rest.ptr, s, n) == 0;
}

static int health_handler(void *state, doppel_http_exchange_t *ex,
                          const doppel_http_request_t *req)
{
    dp_host_t *h = state;
    int known = rest_is(req, "/") || rest_is(req, "/live") ||
                rest_is(req, "/ready");
    if (!known)
        return not_found(ex, req);
    if (!method_is(req, "GET") && !method_is(req, "HEAD"))
        return not_allowed(ex, req);
    if (rest_is(req, "/live")) {
        static const char ok[] = "{\"status\":\"ok\"}";
        return answered(dp_http_respond_json(ex, 200, ok, sizeof(ok) - 1));
    }
    if (rest_is(req, "/ready")) {
        if (dp_host_ready(h)) {
            static const char ok[] = "{\"status\":\"ok\"}";
            return answered(dp_http_respond_json(ex, 200, ok, sizeof(ok) - 1));
        }
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}",
                         host_status(h));
        return answered(dp_http_respond_json(ex, 503, body, (size_t)n));
    }
    return send_health(h, ex);
}

/* {error, code, request_id} for a refused scrape (401, 429). */
static int refuse(doppel_http_exchange_t *ex, const doppel_http_request_t *req,
                  const dp_err_t *err)
{
    jbuf_t b = {0};
    char rid[160];
    snprintf(rid, sizeof(rid), "%.*s", (int)req->request_id.len,
             req->request_id.ptr ? req->request_id.ptr : "");
    jb_lit(&b, "{\"error\":");
    jb_str(&b, err->message);
    jb_lit(&b, ",\"code\":");
    jb_str(&b, err->code[0] ? err->code : "unauthorized");
    jb_lit(&b, ",\"request_id\":");
    jb_str(&b, rid);
    jb_lit(&b, "}");
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    int rc = dp_http_respond_json(ex, err->status ? err->status : 401, b.p,
                                  b.len);
    free(b.p);
    return answered(rc);
}

/* ---- the engine's series under the mock platforms' names ---------------
 * mockarty_mock_requests_total{mock_id, namespace, protocol}: requests each
 * mock answered (mocks that answered none are left out, as Prometheus
 * counters that never moved usually are); mockarty_mocks_total{namespace,
 * protocol}: mocks that can match now. */

typedef struct usage_acc {
    dp_sbuf_t *b;
    char **groups; /* "namespace\x1fprotocol" of each live mock */
    size_t n, cap;
    int oom;
} usage_acc_t;

static void usage_one(void *ud, const char *id, const char *ns,
                      const char *protocol, int64_t uses, int live)
{
    usage_acc_t *a = ud;
    if (uses > 0)
        dp_sb_printf(a->b,
                     "mockarty_mock_requests_total{mock_id=\"%s\","
                     "namespace=\"%s\",protocol=\"%s\"} %lld\n",
                     id, ns, protocol, (long long)uses);
    if (!live || a->oom)
        return;
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 64;
        char **g = realloc(a->groups, nc * sizeof(*g));
        if (g == NULL) {
            a->oom = 1;
            return;
        }
        a->groups = g;
        a->cap = nc;
    }
    size_t nl = strlen(ns), pl = strlen(protocol);
    char *k = malloc(nl + pl + 2);
    if (k == NULL) {
        a->oom = 1;
        return;
    }
    memcpy(k, ns, nl);
    k[nl] = '\x1f';
    memcpy(k + nl + 1, protocol, pl + 1);
    a->groups[a->n++] = k;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Mock ids, namespaces and protocol names are [A-Za-z0-9._-]: label values
 * that need no escaping. */
static void render_engine_series(struct dp_engine *e, dp_sbuf_t *b)
{
    usage_acc_t a = {.b = b};
    dp_sb_str(b, "# HELP mockarty_mock_requests_total Requests answered by "
                 "each mock.\n# TYPE mockarty_mock_requests_total counter\n");
    dp_engine_mock_usage(e, usage_one, &a);
    dp_sb_str(b, "# HELP mockarty_mocks_total Mocks that can match now.\n"
                 "# TYPE mockarty_mocks_total gauge\n");
    if (a.n > 0) /* qsort's array must not be NULL, even for 0 items */
        qsort(a.groups, a.n, sizeof(*a.groups), cmp_str);
    for (size_t i = 0, run = 1; i < a.n; i++, run++) {
        if (i + 1 < a.n && strcmp(a.groups[i], a.groups[i + 1]) == 0)
            continue;
        char *sep = strchr(a.groups[i], '\x1f');
        dp_sb_printf(b,
                     "mockarty_mocks_total{namespace=\"%.*s\","
                     "protocol=\"%s\"} %zu\n",
                     (int)(sep - a.groups[i]), a.groups[i], sep + 1, run);
        run = 0;
    }
    if (a.oom)
        b->oom = 1;
    for (size_t i = 0; i < a.n; i++)
        free(a.groups[i]);
    free(a.groups);
}

static int metrics_handler(void *state, doppel_http_exchange_t *ex,
                           const doppel_http_request_t *req)
{
    dp_host_t *h = state;
    if (!rest_is(req, "/"))
        return not_found(ex, req);
    if (!method_is(req, "GET") && !method_is(req, "HEAD"))
        return not_allowed(ex, req);
    dp_err_t err = {0};
    if (dp_host_metrics_check(h, req, &err) < 0)
        return refuse(ex, req, &err);
    dp_metrics_t *m = dp_host_metrics(h);
    if (m == NULL)
        return -ENODEV;
    /* gauges that only make sense at scrape time */
    dp_metrics_gauge_set(m, "doppel_uptime_seconds", NULL, dp_host_uptime(h));
    dp_metrics_gauge_set(m, "doppel_ready", NULL, dp_host_ready(h) ? 1 : 0);
    size_t len = 0;
    char *text = dp_metrics_render(m, &len);
    if (text == NULL)
        return -ENOMEM;
    dp_sbuf_t b = {.p = text, .len = len, .cap = len + 1};
    struct dp_engine *e = dp_host_engine(h);
    if (e != NULL)
        render_engine_series(e, &b);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    static const doppel_kv_t ct = {
        DOPPEL_STR("Content-Type"),
        DOPPEL_STR("text/plain; version=0.0.4; charset=utf-8")};
    int rc = dp_http_respond(ex, 200, &ct, 1, b.p, b.len);
    free(b.p);
    return answered(rc);
}

int dp_health_mount(dp_router_t *r, dp_host_t *h)
{
    if (r == NULL || h == NULL)
        return -EINVAL;
    doppel_http_mount_t health = {
        .size = sizeof(health),
        .prefix = "/health",
        .handler = health_handler,
        .state = h,
    };
    doppel_http_mount_t metrics = {
        .size = sizeof(metrics),
        .prefix = "/metrics",
        .handler = metrics_handler,
        .state = h,
    };
    int rc = dp_router_add(r, &health, 1, "host");
    if (rc == 0)
        rc = dp_router_add(r, &metrics, 1, "host");
    return rc;
}
