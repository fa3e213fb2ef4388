/*
 * Test plugin: a protocol plugin that adds a mock section of its own
 * (ABI 1.2, doppel/protocol.h), driven over HTTP so that a test needs no
 * client of a new protocol. Used by tests/integration/test_protocol_sections.py.
 *
 * The section:
 *   "toy": {"op": "get", "route": "/items/:id", "conditions": [...],
 *           "meta": [...]}
 *   op      the exchange operation (required; "bad" is refused naming
 *           toy.op, as a plugin refuses what its schema does not know)
 *   route   the target route (optional: none matches any target)
 *   conditions / meta   engine conditions on the message / the metadata
 * Response fields: "note" (rendered by the engine into reply->extra);
 * statusCode 0..99, default 7.
 * The check stores a normalised section: "checked": true is added.
 *
 * Traffic (one JSON answer each, see reply_json):
 *   POST /toy/<op>[/target...]            one exchange (engine_match)
 *   POST /toy-session/open                opens a session (metadata: the
 *                                         request headers); answers {"sid"}
 *   POST /toy-session/<sid>/<op>[/...]    one message of the session
 *   POST /toy-session/<sid>/close         closes it
 *   GET /toy-stats                        {"checks": N}: the checks made,
 *                                         counted in svc->shared's state
 *                                         (the section ctx and the copies
 *                                         see the same one)
 * Headers become the metadata; X-Doppel-Namespace the namespace.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "doppel/plugin.h"

#define MAX_SESSIONS 16

/* What the section's callbacks and its copies share (svc->shared). */
typedef struct shared {
    const doppel_services_t *svc;
    pthread_mutex_t mu;
    unsigned checks;
} shared_t;

static void *shared_create(void *arg)
{
    const doppel_services_t *svc = arg;
    shared_t *sh = svc->alloc(sizeof(*sh));
    if (sh == NULL)
        return NULL;
    sh->svc = svc;
    pthread_mutex_init(&sh->mu, NULL);
    sh->checks = 0;
    return sh;
}

static void shared_destroy(void *p)
{
    shared_t *sh = p;
    pthread_mutex_destroy(&sh->mu);
    sh->svc->free(sh);
}

static shared_t *shared_of(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    return svc->shared(ctx, shared_create, shared_destroy, (void *)svc);
}

typedef struct state {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    shared_t *shared;
    doppel_session_t *sessions[MAX_SESSIONS];
} state_t;

/* ---- the section ----------------------------------------------------------
 * The engine hands the section as compact JSON (no spaces), so finding a
 * string member is a search for "key":"... */
static int str_member(doppel_str_t json, const char *key, char *out,
                      size_t cap)
{
    char pat[64];
    int n = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *end = json.ptr + json.len;
    for (const char *p = json.ptr; p && p + n <= end; p++) {
        p = memchr(p, '"', (size_t)(end - p));
        if (p == NULL || p + n > end)
            return 0;
        if (memcmp(p, pat, (size_t)n) != 0)
            continue;
        const char *v = p + n, *q = v;
        while (q < end && *q != '"')
            q++;
        if ((size_t)(q - v) >= cap)
            return -1;
        memcpy(out, v, (size_t)(q - v));
        out[q - v] = '\0';
        return 1;
    }
    return 0;
}

static int toy_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                     doppel_check_error_t *err)
{
    shared_t *sh = shared_of(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    sh->checks++;
    pthread_mutex_unlock(&sh->mu);
    char op[64], path[256];
    int has = str_member(mock->section, "op", op, sizeof(op));
    if (has <= 0) {
        snprintf(err->field, sizeof(err->field), "toy.op");
        snprintf(err->message, sizeof(err->message),
                 "required: the operation (a string of at most 63 bytes)");
        return -EINVAL;
    }
    if (strcmp(op, "bad") == 0) {
        snprintf(err->field, sizeof(err->field), "toy.op");
        snprintf(err->message, sizeof(err->message),
                 "unknown operation bad (the toy schema has get, put, chat)");
        return -EINVAL;
    }
    /* every answer of a oneOf is checked: refuse a note that says so */
    if (memmem(mock->response.ptr, mock->response.len, "\"note\":\"refuse\"",
               15)) {
        snprintf(err->field, sizeof(err->field), "oneOf.responses[%u].note",
                 (unsigned)mock->answer);
        snprintf(err->message, sizeof(err->message), "note refused");
        return -EINVAL;
    }
    size_t o = 0;
    memcpy(key->buf, op, strlen(op));
    key->operation = (doppel_str_t){key->buf, strlen(op)};
    o = strlen(op);
    if (str_member(mock->section, "route", path, sizeof(path)) > 0) {
        memcpy(key->buf + o, path, strlen(path));
        key->target = (doppel_str_t){key->buf + o, strlen(path)};
        o += strlen(path);
    }
    /* the normalised section: the written one with "checked": true */
    if (memmem(mock->section.ptr, mock->section.len, "\"checked\":", 10) ==
            NULL &&
        mock->section.len > 2 &&
        o + mock->section.len + 16 < DOPPEL_MOCK_KEY_BUF) {
        char *s = key->buf + o;
        memcpy(s, mock->section.ptr, mock->section.len - 1);
        size_t l = mock->section.len - 1;
        memcpy(s + l, ",\"checked\":true}", 16);
        key->section = (doppel_str_t){s, l + 16};
    }
    return 0;
}

static int toy_explain(doppel_ctx_t *ctx, const doppel_services_t *svc,
                       const doppel_exchange_t *x, char *out, size_t len)
{
    (void)ctx;
    (void)svc;
    snprintf(out, len, "toy has no answer for %.*s", (int)x->operation.len,
             x->operation.ptr);
    return 1;
}

static const char *const body_conds[] = {"conditions", NULL};
static const char *const meta_conds[] = {"meta", NULL};
static const char *const resp_fields[] = {"note", NULL};

static const doppel_protocol_def_t toy_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "toy",
    .flags = DOPPEL_PROTO_F_EXACT_OP,
    .body_conditions = body_conds,
    .meta_conditions = meta_conds,
    .response_fields = resp_fields,
    .status_min = 0,
    .status_max = 99,
    .status_default = 7,
    .check = toy_check,
    .explain_miss = toy_explain,
};

/* ---- traffic ------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 256) + n;
        char *np = realloc(b->p, nc);
        if (np == NULL)
            return;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void put_jstr(buf_t *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

static void respond(state_t *st, doppel_http_exchange_t *ex, int status,
                    buf_t *b)
{
    doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                      DOPPEL_STR("application/json")};
    st->svc->http_respond(ex, status, &ct, 1, b->p ? b->p : "{}",
                          b->p ? b->len : 2);
    free(b->p);
}

/* {"kind", "status", "mock", "body" (text), "extra" (JSON or null),
 *  "headers": {name: value}, "count"} */
static void reply_json(buf_t *b, const doppel_reply_t *r)
{
    char num[64];
    snprintf(num, sizeof(num), "{\"kind\":%u,\"status\":%d,\"mock\":",
             r->kind, r->status);
    puts_(b, num);
    put_jstr(b, r->mock_id.ptr ? r->mock_id.ptr : "", r->mock_id.len);
    puts_(b, ",\"body\":");
    put_jstr(b, (const char *)r->body, r->body_len);
    puts_(b, ",\"extra\":");
    /* the 1.2 member: there only when the reply is that large */
    if (r->size >= offsetof(doppel_reply_t, extra) + sizeof(r->extra) &&
        r->extra.len > 0)
        put(b, r->extra.ptr, r->extra.len);
    else
        puts_(b, "null");
    puts_(b, ",\"headers\":{");
    for (size_t i = 0; i < r->n_headers; i++) {
        if (i)
            puts_(b, ",");
        put_jstr(b, r->headers[i].name.ptr, r->headers[i].name.len);
        puts_(b, ":");
        put_jstr(b, r->headers[i].value.ptr, r->headers[i].value.len);
    }
    puts_(b, "}}");
}

/* The exchange of one message: operation and target from rest
 * ("/<op>/a/b" -> "op", "/a/b"), namespace from X-Doppel-Namespace. */
static void exchange_of(const doppel_http_request_t *req, doppel_str_t rest,
                        doppel_exchange_t *x)
{
    memset(x, 0, sizeof(*x));
    x->size = sizeof(*x);
    x->protocol = DOPPEL_STR("toy");
    const char *p = rest.ptr + (rest.len && rest.ptr[0] == '/');
    const char *end = rest.ptr + rest.len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    x->operation = (doppel_str_t){p, (size_t)((slash ? slash : end) - p)};
    x->target = slash ? (doppel_str_t){slash, (size_t)(end - slash)}
                      : DOPPEL_STR("/");
    const doppel_str_t *ns = req->header(req, "x-doppel-namespace");
    if (ns)
        x->ns = *ns;
    x->metadata = req->headers;
    x->n_metadata = req->n_headers;
    x->body = req->body;
    x->body_len = req->body_len;
    x->content_type = DOPPEL_STR("application/json");
    x->request_id = req->request_id;
    x->remote_addr = req->remote_addr;
}

static int send_one(void *p, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req)
{
    state_t *st = p;
    doppel_exchange_t x;
    exchange_of(req, req->rest, &x);
    doppel_reply_t *r = NULL;
    buf_t b = {0};
    int rc = st->svc->engine_match(st->ctx, &x, &r);
    if (rc < 0) {
        puts_(&b, "{\"error\":\"engine_match failed\"}");
        respond(st, ex, 500, &b);
        return 0;
    }
    reply_json(&b, r);
    st->svc->engine_reply_free(st->ctx, r);
    respond(st, ex, 200, &b);
    return 0;
}

static int session_call(void *p, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    state_t *st = p;
    buf_t b = {0};
    doppel_str_t rest = req->rest;
    if (rest.len == 5 && memcmp(rest.ptr, "/open", 5) == 0) {
        int sid = -1;
        for (int i = 0; i < MAX_SESSIONS && sid < 0; i++)
            if (st->sessions[i] == NULL)
                sid = i;
        doppel_exchange_t x;
        exchange_of(req, DOPPEL_STR("/"), &x);
        x.operation = (doppel_str_t){"", 0};
        int rc = sid < 0 ? -ENOSPC
                         : st->svc->engine_session_open(st->ctx, &x,
                                                        &st->sessions[sid]);
        char out[64];
        snprintf(out, sizeof(out), rc == 0 ? "{\"sid\":%d}" : "{\"error\":%d}",
                 rc == 0 ? sid : rc);
        puts_(&b, out);
        respond(st, ex, rc == 0 ? 200 : 500, &b);
        return 0;
    }
    /* "/<sid>/close" or "/<sid>/<op>[/...]" */
    char *endp = NULL;
    long sid = rest.len > 1 ? strtol(rest.ptr + 1, &endp, 10) : -1;
    if (sid < 0 || sid >= MAX_SESSIONS || endp == NULL || *endp != '/' ||
        st->sessions[sid] == NULL) {
        puts_(&b, "{\"error\":\"no such session\"}");
        respond(st, ex, 404, &b);
        return 0;
    }
    doppel_str_t tail = {endp, (size_t)(rest.ptr + rest.len - endp)};
    if (tail.len == 6 && memcmp(tail.ptr, "/close", 6) == 0) {
        st->svc->engine_session_close(st->sessions[sid]);
        st->sessions[sid] = NULL;
        puts_(&b, "{\"closed\":true}");
        respond(st, ex, 200, &b);
        return 0;
    }
    doppel_exchange_t x;
    exchange_of(req, tail, &x);
    x.n_metadata = 0; /* the session's, given at open */
    x.metadata = NULL;
    x.ns = (doppel_str_t){"", 0};
    doppel_reply_t *r = NULL;
    int rc = st->svc->engine_session_match(st->sessions[sid], &x, &r);
    if (rc < 0) {
        puts_(&b, "{\"error\":\"engine_session_match failed\"}");
        respond(st, ex, 500, &b);
        return 0;
    }
    reply_json(&b, r);
    st->svc->engine_reply_free(st->ctx, r);
    respond(st, ex, 200, &b);
    return 0;
}

static int stats(void *p, doppel_http_exchange_t *ex,
                 const doppel_http_request_t *req)
{
    (void)req;
    state_t *st = p;
    char out[64];
    pthread_mutex_lock(&st->shared->mu);
    snprintf(out, sizeof(out), "{\"checks\":%u}", st->shared->checks);
    pthread_mutex_unlock(&st->shared->mu);
    buf_t b = {0};
    puts_(&b, out);
    respond(st, ex, 200, &b);
    return 0;
}

static int init(doppel_ctx_t *ctx, const doppel_services_t *svc, void **out)
{
    if (!DOPPEL_HAS_SERVICE(svc, engine_session_close))
        return -ENOTSUP;
    state_t *st = svc->alloc(sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    memset(st, 0, sizeof(*st));
    st->ctx = ctx;
    st->svc = svc;
    st->shared = shared_of(ctx, svc);
    if (st->shared == NULL) {
        svc->free(st);
        return -ENOMEM;
    }
    doppel_http_mount_t m3 = {sizeof(m3), "/toy-stats", NULL, stats, st, 0};
    doppel_http_mount_t m1 = {sizeof(m1), "/toy", NULL, send_one, st, 0};
    doppel_http_mount_t m2 = {sizeof(m2), "/toy-session", NULL, session_call,
                              st, 0};
    int rc = svc->http_mount(ctx, &m1);
    if (rc == 0)
        rc = svc->http_mount(ctx, &m2);
    if (rc == 0)
        rc = svc->http_mount(ctx, &m3);
    if (rc < 0) {
        svc->free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void destroy(void *p)
{
    state_t *st = p;
    for (int i = 0; i < MAX_SESSIONS; i++)
        st->svc->engine_session_close(st->sessions[i]);
    st->svc->free(st);
}

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "toy_section",
    .version = "test",
    .summary = "a protocol section of its own, driven over HTTP (tests)",
    .kind = DOPPEL_KIND_PROTOCOL,
    .init = init,
    .destroy = destroy,
    .protocol = &toy_def,
};

DOPPEL_PLUGIN_DEFINE(desc)
