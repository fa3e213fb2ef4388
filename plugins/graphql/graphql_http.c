/*
 * GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/)
 * on the host's HTTP/1.1 front.
 *
 * The classifier takes, on a known path (the endpoint, a schema's path, a
 * path a mock named; also below <stubs_prefix>/<namespace>), the requests
 * that are GraphQL: POST with Content-Type application/json or
 * application/graphql, GET with a `query` parameter. Anything else on
 * those paths falls through to the HTTP plugin.
 *
 * Request forms: POST JSON {query, operationName, variables, extensions};
 * a JSON array of those (a batch, at most max_batch, answered with an
 * array); POST application/graphql (the body is the document; the URL
 * may carry operationName and variables); GET ?query=&operationName=
 * &variables=<JSON>&extensions=<JSON>, queries only.
 *
 * Media type by Accept: application/graphql-response+json when the client
 * accepts it (at least as much as application/json): then a request that
 * is not executed (syntax, validation, operation choice, variables) is a
 * 400; else application/json, 200 for every well-formed request, errors
 * in the body. No Accept: application/json. Neither accepted: 406. A
 * malformed request (bad JSON, no query, a member of the wrong type) is a
 * 400 under either; a mutation over GET is a 405 with Allow: POST.
 *
 * Record-and-replay services: when the engine answers any top-level field
 * of the request (of any item of a batch) PROXY, the whole HTTP request is
 * forwarded once, to the service of the first such field, and the client
 * gets the upstream's answer as it came: the fields mocks answered are not
 * used. So in SPY a document is answered by mocks only when they answer
 * every top-level field. In LEARN each PROXY field is then recorded from
 * its share of the upstream's answer (graphql_schema.c `record`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward.h"
#include "graphql_plugin.h"

enum { MT_NONE = 0, MT_JSON = 1, MT_GQL = 2 };

static const char ct_json[] = "application/json; charset=utf-8";
static const char ct_gql[] = "application/graphql-response+json; charset=utf-8";

/* ---- request target ------------------------------------------------------ */

/* The namespace and the path GraphQL sees: "<stubs>/<ns>/rest" -> (ns,
 * "/rest"); otherwise (empty, the path) and the namespace header decides.
 * Returns 1 for the stubs form, 0 otherwise, -1 for a stubs path without
 * a valid namespace. */
static int split_target(const gqlp_inst_t *in, const doppel_http_request_t *req,
                        doppel_str_t *ns, doppel_str_t *path)
{
    *ns = (doppel_str_t){NULL, 0};
    *path = req->path;
    size_t pl = strlen(in->stubs_prefix);
    const char *p = req->path.ptr;
    size_t len = req->path.len;
    if (len <= pl + 1 || memcmp(p, in->stubs_prefix, pl) != 0 || p[pl] != '/')
        return 0;
    const char *s = p + pl + 1, *end = p + len;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    if (slash == NULL || slash == s)
        return -1;
    *ns = (doppel_str_t){s, (size_t)(slash - s)};
    *path = (doppel_str_t){slash, (size_t)(end - slash)};
    return doppel_name_valid(ns->ptr, ns->len, GQLP_NS_MAX) ? 1 : -1;
}

/* ---- query parameters ---------------------------------------------------- */

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

/* Decodes %XX and '+' into out (room for len + 1); returns the length. */
static size_t qdecode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* The first parameter `name` of the raw query, decoded (malloc'd, *len
 * its length), or NULL when absent (*present 0) or out of memory. */
static char *qparam(doppel_str_t q, const char *name, size_t *len, int *present)
{
    *present = 0;
    const char *p = q.ptr, *end = q.ptr ? q.ptr + q.len : NULL;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ne = eq ? eq : pe;
        char nb[32];
        if ((size_t)(ne - p) < sizeof(nb)) {
            size_t dl = qdecode(p, (size_t)(ne - p), nb);
            if (dl == nl && memcmp(nb, name, nl) == 0) {
                const char *v = eq ? eq + 1 : pe;
                char *out = malloc((size_t)(pe - v) + 1);
                *present = 1;
                if (out)
                    *len = qdecode(v, (size_t)(pe - v), out);
                return out;
            }
        }
        p = pe + 1;
    }
    return NULL;
}

/* ---- classification ------------------------------------------------------ */

static int media_is(const doppel_str_t *ct, const char *type)
{
    if (ct == NULL)
        return 0;
    const char *p = ct->ptr, *end = ct->ptr + ct->len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *s = p;
    while (p < end && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    size_t l = strlen(type);
    return (size_t)(p - s) == l && strncasecmp(s, type, l) == 0;
}

static int method_is(const doppel_http_request_t *req, const char *m)
{
    return req->method.len == strlen(m) &&
           memcmp(req->method.ptr, m, req->method.len) == 0;
}

int gqlp_http_classify(void *state, const doppel_http_request_t *req)
{
    gqlp_inst_t *in = state;
    doppel_str_t ns, path;
    if (split_target(in, req, &ns, &path) < 0)
        return 0;
    int post = method_is(req, "POST"), get = method_is(req, "GET");
    if (!post && !get)
        return 0;
    if (!gqlp_path_known(in->sh, path.ptr, path.len))
        return 0;
    if (get && gqlp_ws_wants(req))
        return 1;
    if (post) {
        const doppel_str_t *ct = req->header(req, "Content-Type");
        return media_is(ct, "application/json") ||
               media_is(ct, "application/graphql");
    }
    int present = 0;
    size_t l;
    free(qparam(req->query, "query", &l, &present));
    return present;
}

/* ---- Accept -------------------------------------------------------------- */

/* q of one media range (1000 = 1.0), from its parameters. */
static int range_q(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi == NULL)
            break;
        p = semi + 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            int v = 0, digits = 0, whole = 1;
            if (p < end && (*p == '0' || *p == '1')) {
                whole = *p - '0';
                p++;
                if (p < end && *p == '.') {
                    p++;
                    while (p < end && *p >= '0' && *p <= '9' && digits < 3) {
                        v = v * 10 + (*p - '0');
                        digits++;
                        p++;
                    }
                }
                while (digits < 3) {
                    v *= 10;
                    digits++;
                }
                q = whole ? 1000 : v;
            }
        }
    }
    return q;
}

static int negotiate(const doppel_str_t *accept)
{
    if (accept == NULL || accept->len == 0)
        return MT_JSON;
    int q_gql = -1, q_json = -1;
    const char *p = accept->ptr, *end = p + accept->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        while (p < ie && (*p == ' ' || *p == '\t'))
            p++;
        const char *s = p;
        while (p < ie && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t l = (size_t)(p - s);
        int q = range_q(p, ie);
#define IS(lit) (l == sizeof(lit) - 1 && strncasecmp(s, lit, l) == 0)
        if (IS("application/graphql-response+json")) {
            if (q > q_gql)
                q_gql = q;
        } else if (IS("application/json") || IS("application/*") || IS("*/*")) {
            if (q > q_json)
                q_json = q;
        }
#undef IS
        p = comma ? comma + 1 : end;
    }
    if (q_gql > 0 && q_gql >= q_json)
        return MT_GQL;
    if (q_json > 0)
        return MT_JSON;
    return MT_NONE;
}

/* ---- answers ------------------------------------------------------------- */

static void respond_errors(gqlp_inst_t *in, doppel_http_exchange_t *ex,
                           int status, int mt, const char *msg)
{
    json_t *o = json_pack("{s:[{s:s}]}", "errors", "message", msg);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    doppel_kv_t h[1] = {
        {DOPPEL_STR("Content-Type"),
         mt == MT_GQL ? DOPPEL_STR(ct_gql) : DOPPEL_STR(ct_json)}};
    const char *b =
        txt ? txt : "{\"errors\":[{\"message\":\"out of memory\"}]}";
    gqlp_answer(in, ex, status, h, 1, b, strlen(b), 0);
    free(txt);
}

/* ---- request decoding ---------------------------------------------------- */

/* One item: its members checked. *why is set for a malformed one. */
static int item_request(const json_t *o, gqlp_request_t *rq, const char **why)
{
    memset(rq, 0, sizeof(*rq));
    if (!json_is_object(o)) {
        *why = "A GraphQL request is a JSON object {\"query\", "
               "\"operationName\", \"variables\", \"extensions\"}.";
        return -EINVAL;
    }
    const json_t *q = json_object_get(o, "query");
    const json_t *on = json_object_get(o, "operationName");
    const json_t *vars = json_object_get(o, "variables");
    const json_t *ext = json_object_get(o, "extensions");
    if (!json_is_string(q)) {
        *why = q == NULL || json_is_null(q)
                   ? "The request has no \"query\": a string holding the "
                     "GraphQL document."
                   : "\"query\" must be a string holding the GraphQL document.";
        return -EINVAL;
    }
    if (on != NULL && !json_is_null(on) && !json_is_string(on)) {
        *why = "\"operationName\" must be a string or null.";
        return -EINVAL;
    }
    if (vars != NULL && !json_is_null(vars) && !json_is_object(vars)) {
        *why = "\"variables\" must be an object or null.";
        return -EINVAL;
    }
    if (ext != NULL && !json_is_null(ext) && !json_is_object(ext)) {
        *why = "\"extensions\" must be an object or null.";
        return -EINVAL;
    }
    rq->query = json_string_value(q);
    rq->query_len = json_string_length(q);
    rq->operation_name = json_is_string(on) ? json_string_value(on) : NULL;
    rq->variables = json_is_object(vars) ? vars : NULL;
    rq->extensions = json_is_object(ext) ? ext : NULL;
    return 0;
}

/* GET (and application/graphql) parameters: JSON in a query parameter.
 * Returns 0 (*out NULL when absent or null), -EINVAL with *why. */
static int json_param(doppel_str_t q, const char *name, json_t **out,
                      const char **why, const char *msg)
{
    *out = NULL;
    int present;
    size_t len = 0;
    char *v = qparam(q, name, &len, &present);
    if (!present)
        return 0;
    if (v == NULL)
        return -ENOMEM;
    json_t *j = len ? json_loadb(v, len, 0, NULL) : NULL;
    free(v);
    if (len && json_is_null(j)) {
        json_decref(j);
        return 0;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *why = msg;
        return -EINVAL;
    }
    *out = j;
    return 0;
}

/* ---- the handler --------------------------------------------------------- */

/* One request on the heap: a forwarded one lives until the upstream's
 * callback, and so does the request (req, origin) it points into, since
 * the front keeps a request until it is answered. */
typedef struct http_call {
    gqlp_inst_t *in;
    doppel_http_exchange_t *ex;
    const doppel_http_request_t *req;
    int mt;
    gqlp_origin_t origin;
    int status;        /* the answer's, once decided */
    uint32_t delay_ms; /* largest of the items */
    json_t *headers;   /* merged over the items */
    int not_allowed;
    int batch;              /* the body was an array */
    int forwarding;         /* the fetch callback owns the call */
    gqlp_proxied_t *proxied; /* fields answered PROXY, every item's */
    size_t n_proxied;
} http_call_t;

/* Tells the engine how the forward of each PROXY field ended. */
static void report_each(http_call_t *c, int status, const char *reason)
{
    for (size_t i = 0; i < c->n_proxied; i++)
        dpf_report(c->in->ctx, c->in->svc, c->proxied[i].reply, status,
                   reason);
}

/* Frees the PROXY fields (their replies once, after reporting). */
static void release_proxied(http_call_t *c)
{
    for (size_t i = 0; i < c->n_proxied; i++)
        gqlp_proxied_clear(c->in, &c->proxied[i]);
    free(c->proxied);
    c->proxied = NULL;
    c->n_proxied = 0;
}

/* A call that kept PROXY fields it never forwarded (out of memory on the
 * way) still tells the engine. */
static void call_free(http_call_t *c)
{
    report_each(c, 500, "error");
    release_proxied(c);
    json_decref(c->headers);
    free(c);
}

/* Moves r's PROXY fields into the call, as batch item `item`. -ENOMEM:
 * they stay in r (gqlp_result_clear frees them). */
static int take_proxied(http_call_t *c, gqlp_result_t *r, size_t item)
{
    if (r->n_proxied == 0)
        return 0;
    gqlp_proxied_t *grown = realloc(
        c->proxied, (c->n_proxied + r->n_proxied) * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    c->proxied = grown;
    for (size_t i = 0; i < r->n_proxied; i++) {
        grown[c->n_proxied] = r->proxied[i];
        grown[c->n_proxied].item = item;
        c->n_proxied++;
    }
    free(r->proxied);
    r->proxied = NULL;
    r->n_proxied = 0;
    return 0;
}

static void take_result(http_call_t *c, gqlp_result_t *r)
{
    if (r->delay_ms > c->delay_ms)
        c->delay_ms = r->delay_ms;
    if (r->status && c->status == 0)
        c->status = r->status;
    const char *k;
    json_t *v;
    json_object_foreach(r->headers, k, v)
    {
        const char *k2;
        json_t *v2;
        int seen = 0;
        json_object_foreach(c->headers, k2, v2) seen |= strcasecmp(k, k2) == 0;
        if (!seen)
            json_object_set(c->headers, k, v);
    }
}

/* Sends body (an object, or an array for a batch) with the call's status,
 * headers and delay. */
static void finish(http_call_t *c, json_t *body, int status)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t nh = json_object_size(c->headers);
    doppel_kv_t stack[18];
    doppel_kv_t *h = nh + 2 <= 18 ? stack : malloc((nh + 2) * sizeof(*h));
    if (txt == NULL || h == NULL) {
        free(txt);
        if (h != stack)
            free(h);
        respond_errors(c->in, c->ex, 500, c->mt,
                       "Internal error: out of memory.");
        return;
    }
    size_t n = 0;
    h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                           c->mt == MT_GQL ? DOPPEL_STR(ct_gql)
                                           : DOPPEL_STR(ct_json)};
    if (status == 405)
        h[n++] = (doppel_kv_t){DOPPEL_STR("Allow"), DOPPEL_STR("POST")};
    const char *k;
    json_t *v;
    json_object_foreach(c->headers, k, v)
    {
        if (!json_is_string(v))
            continue;
        h[n++] = (doppel_kv_t){{k, strlen(k)},
                               {json_string_value(v), json_string_length(v)}};
    }
    gqlp_answer(c->in, c->ex, status, h, n, txt, strlen(txt), c->delay_ms);
    if (h != stack)
        free(h);
    free(txt);
}

/* Runs one request (item `item` of a batch); its body, or NULL (out of
 * memory). */
static json_t *run_one(http_call_t *c, const gqlp_request_t *rq, size_t item,
                       int *req_err)
{
    gqlp_result_t r;
    if (gqlp_run(c->in, rq, &c->origin, &r) < 0 ||
        take_proxied(c, &r, item) < 0) {
        gqlp_result_clear(&r);
        return NULL;
    }
    take_result(c, &r);
    *req_err = r.request_error;
    c->not_allowed |= r.not_allowed;
    json_t *b = json_incref(r.body);
    gqlp_result_clear(&r);
    return b;
}

/* ---- forwarding to a record-and-replay service ---------------------------- */

/* What a client gets when the request could not be forwarded: a GraphQL
 * error naming why (the journal's reason) and the service. */
static void respond_unavailable(http_call_t *c, int status, const char *why,
                                size_t why_len, const char *reason)
{
    const doppel_reply_t *r = c->proxied[0].reply;
    char msg[300];
    snprintf(msg, sizeof(msg), "upstream: %.*s", (int)why_len, why);
    json_t *ext = json_pack("{s:s, s:s, s:s%}", "code", "UPSTREAM_UNAVAILABLE",
                            "reason", reason, "service",
                            r->service.ptr ? r->service.ptr : "",
                            r->service.len);
    json_t *o = ext ? json_pack("{s:[{s:s, s:o}]}", "errors", "message", msg,
                                "extensions", ext)
                    : NULL;
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt == NULL) {
        respond_errors(c->in, c->ex, status, c->mt, msg);
        return;
    }
    doppel_kv_t h[1] = {
        {DOPPEL_STR("Content-Type"),
         c->mt == MT_GQL ? DOPPEL_STR(ct_gql) : DOPPEL_STR(ct_json)}};
    gqlp_answer(c->in, c->ex, status, h, 1, txt, strlen(txt), 0);
    free(txt);
}

/* The upstream's errors about response key `key` (path starting with it). */
static json_t *errors_of(const json_t *errs, const char *key)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        json_t *p0 = json_array_get(json_object_get(e, "path"), 0);
        if (out != NULL && json_is_string(p0) &&
            strcmp(json_string_value(p0), key) == 0 &&
            json_array_append(out, e) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Records field p from the upstream's answer up (the whole body, parsed):
 * x is the exchange the field was matched with, res carries the field's
 * share {"data": {FIELD: ...}, "errors": [...]}. */
static void record_field(http_call_t *c, const gqlp_proxied_t *p,
                         const json_t *up, const doppel_fetch_result_t *res)
{
    gqlp_inst_t *in = c->in;
    const doppel_services_t *svc = in->svc;
    const json_t *item = c->batch ? json_array_get(up, p->item) : up;
    const char *why = NULL;
    int rc = 0;
    if (!json_is_object(item)) {
        why = c->batch ? "the upstream's answer has no object for the item"
                       : "the upstream's answer is not a JSON object";
    } else {
        json_t *data = json_object_get(item, "data");
        json_t *v = json_is_object(data) ? json_object_get(data, p->key) : NULL;
        json_t *errs = errors_of(json_object_get(item, "errors"), p->key);
        json_t *part = errs ? json_pack("{s:{s:O}, s:o}", "data", p->field,
                                        v ? v : json_null(), "errors", errs)
                            : NULL;
        char *txt = part ? json_dumps(part, JSON_COMPACT) : NULL;
        json_decref(part);
        if (txt == NULL) {
            rc = -ENOMEM;
        } else {
            doppel_kv_t ct[1];
            size_t nct = 0;
            for (size_t i = 0; i < res->n_headers && nct == 0; i++)
                if (res->headers[i].name.len == 12 &&
                    strncasecmp(res->headers[i].name.ptr, "content-type", 12) ==
                        0)
                    ct[nct++] = res->headers[i];
            doppel_fetch_result_t share = {
                .size = sizeof(share),
                .status = res->status,
                .headers = ct,
                .n_headers = nct,
                .body = txt,
                .body_len = strlen(txt),
            };
            doppel_exchange_t x = {
                .size = sizeof(x),
                .protocol = DOPPEL_STR("graphql"),
                .ns = c->origin.ns,
                .operation = {p->operation, strlen(p->operation)},
                .target = c->origin.path,
                .metadata = c->origin.metadata,
                .n_metadata = c->origin.n_metadata,
                .body = (const uint8_t *)p->body,
                .body_len = strlen(p->body),
                .content_type = DOPPEL_STR("application/json"),
                .request_id = c->origin.request_id,
                .remote_addr = c->origin.remote_addr,
            };
            rc = svc->engine_record(in->ctx, &x, p->reply, &share);
            free(txt);
        }
    }
    if (why != NULL || rc < 0)
        svc->log(in->ctx, DOPPEL_LOG_WARN,
                 "service %.*s: field %s of request %.*s not recorded: %s",
                 (int)p->reply->service.len,
                 p->reply->service.ptr ? p->reply->service.ptr : "", p->key,
                 (int)c->origin.request_id.len,
                 c->origin.request_id.ptr ? c->origin.request_id.ptr : "",
                 why ? why : strerror(-rc));
}

/* LEARN: each recording field, from the upstream's JSON answer. */
static void record_fields(http_call_t *c, const doppel_fetch_result_t *res)
{
    gqlp_inst_t *in = c->in;
    size_t n = 0;
    for (size_t i = 0; i < c->n_proxied; i++)
        n += (c->proxied[i].reply->flags & DOPPEL_REPLY_F_RECORD) != 0;
    if (n == 0 || !DOPPEL_HAS_SERVICE(in->svc, engine_record))
        return;
    json_t *up = res->body && res->body_len
                     ? json_loadb(res->body, res->body_len, JSON_DECODE_ANY,
                                  NULL)
                     : NULL;
    if (up == NULL) {
        in->svc->log(in->ctx, DOPPEL_LOG_WARN,
                     "request %.*s: %zu GraphQL field(s) not recorded: the "
                     "upstream's answer is not JSON",
                     (int)c->origin.request_id.len,
                     c->origin.request_id.ptr ? c->origin.request_id.ptr : "",
                     n);
        return;
    }
    for (size_t i = 0; i < c->n_proxied; i++)
        if (c->proxied[i].reply->flags & DOPPEL_REPLY_F_RECORD)
            record_field(c, &c->proxied[i], up, res);
    json_decref(up);
}

static void forward_ended(gqlp_inst_t *in)
{
    in->n_forwarding--;
    gqlp_maybe_stop_done(in);
}

static void forwarded(void *data, int rc, const doppel_fetch_result_t *res)
{
    http_call_t *c = data;
    gqlp_inst_t *in = c->in;
    if (rc < 0 || res == NULL) {
        if (rc >= 0)
            rc = -EIO;
        const char *why = res && res->error.len ? res->error.ptr : NULL;
        size_t wl = why ? res->error.len : 0;
        if (why == NULL) {
            why = strerror(-rc);
            wl = strlen(why);
        }
        int status = dpf_fail_status(rc);
        /* the journal first, then the client (as dp_forward says) */
        report_each(c, status, dpf_fail_reason(rc));
        respond_unavailable(c, status, why, wl, dpf_fail_reason(rc));
    } else {
        /* before responding: the request's memory lives until then */
        record_fields(c, res);
        report_each(c, res->status, NULL);
        dpf_respond(in->svc, c->ex, c->proxied[0].reply, res);
    }
    release_proxied(c);
    call_free(c);
    forward_ended(in);
}

/* Forwards the whole request for the call's PROXY fields (all of one
 * service and path: the engine chose by the request's path). */
static void forward_call(http_call_t *c)
{
    gqlp_inst_t *in = c->in;
    int rc = in->stopping ? -ECANCELED
                          : dpf_start(in->ctx, in->svc, c->req, c->origin.path,
                                      c->proxied[0].reply, forwarded, c);
    if (rc == 0) {
        c->forwarding = 1;
        in->n_forwarding++;
        for (size_t i = 0; i < c->n_proxied; i++) {
            const char *dot = strchr(c->proxied[i].operation, '.');
            char opn[16];
            snprintf(opn, sizeof(opn), "%.*s",
                     dot ? (int)(dot - c->proxied[i].operation) : 0,
                     c->proxied[i].operation);
            gqlp_count(in, opn, c->proxied[i].field, "forwarded");
        }
        return;
    }
    if (rc == -EINVAL) {
        static const char why[] = "the service's target is not a valid "
                                  "http(s) URL";
        report_each(c, 502, "url");
        respond_unavailable(c, 502, why, sizeof(why) - 1, "url");
    } else if (rc == -ENOMEM) {
        report_each(c, 500, "error");
        respond_errors(in, c->ex, 500, c->mt, "Internal error: out of memory.");
    } else { /* stopping (or a host that cannot fetch) */
        report_each(c, 503, "stopping");
        respond_errors(in, c->ex, 503, c->mt, "The server is shutting down.");
    }
    release_proxied(c);
}

/* The call's answer: forwarded when a field was answered PROXY, else body
 * with status. */
static void conclude(http_call_t *c, json_t *body, int status)
{
    if (c->n_proxied > 0)
        forward_call(c);
    else
        finish(c, body, status);
}

static int single_status(const http_call_t *c, int req_err)
{
    if (c->not_allowed)
        return 405;
    if (req_err)
        return c->mt == MT_GQL ? 400 : 200;
    return c->status ? c->status : 200;
}

static void serve_one(http_call_t *c, const gqlp_request_t *rq)
{
    int req_err = 0;
    json_t *b = run_one(c, rq, 0, &req_err);
    if (b == NULL) {
        respond_errors(c->in, c->ex, 500, c->mt,
                       "Internal error: out of memory.");
        return;
    }
    conclude(c, b, single_status(c, req_err));
    json_decref(b);
}

static void serve_batch(http_call_t *c, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        respond_errors(c->in, c->ex, 400, c->mt,
                       "A batch is a non-empty array of GraphQL requests.");
        return;
    }
    if (n > c->in->max_batch) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "A batch holds at most %u requests (option max_batch); "
                 "this one holds %zu.",
                 c->in->max_batch, n);
        respond_errors(c->in, c->ex, 400, c->mt, msg);
        return;
    }
    c->batch = 1;
    json_t *out = json_array();
    for (size_t i = 0; out && i < n; i++) {
        gqlp_request_t rq;
        const char *why = NULL;
        json_t *b;
        int req_err = 0;
        if (item_request(json_array_get(arr, i), &rq, &why) < 0)
            b = json_pack("{s:[{s:s}]}", "errors", "message", why);
        else
            b = run_one(c, &rq, i, &req_err);
        if (b == NULL || json_array_append_new(out, b) < 0) {
            json_decref(out);
            out = NULL;
        }
    }
    if (out == NULL) {
        respond_errors(c->in, c->ex, 500, c->mt,
                       "Internal error: out of memory.");
        return;
    }
    /* each item carries its own errors; the status is the mocks' */
    c->not_allowed = 0;
    conclude(c, out, c->status ? c->status : 200);
    json_decref(out);
}

static void serve_get(http_call_t *c, const doppel_http_request_t *req,
                      int graphql_body)
{
    const char *why = NULL;
    json_t *vars = NULL, *ext = NULL;
    int present = 0;
    size_t qlen = 0, olen = 0;
    char *q = NULL;
    if (!graphql_body) {
        q = qparam(req->query, "query", &qlen, &present);
        if (q == NULL) {
            respond_errors(c->in, c->ex, present ? 500 : 400, c->mt,
                           present ? "Internal error: out of memory."
                                   : "The request has no \"query\" parameter.");
            return;
        }
    }
    char *on = qparam(req->query, "operationName", &olen, &present);
    int rc = json_param(req->query, "variables", &vars, &why,
                        "The \"variables\" parameter must be a JSON object.");
    if (rc == 0)
        rc = json_param(req->query, "extensions", &ext, &why,
                        "The \"extensions\" parameter must be a JSON object.");
    if (rc == -EINVAL) {
        respond_errors(c->in, c->ex, 400, c->mt, why);
    } else if (rc < 0) {
        respond_errors(c->in, c->ex, 500, c->mt,
                       "Internal error: out of memory.");
    } else {
        gqlp_request_t rq = {
            .query = graphql_body ? (const char *)req->body : q,
            .query_len = graphql_body ? req->body_len : qlen,
            .operation_name = on,
            .variables = vars,
            .extensions = ext,
        };
        serve_one(c, &rq);
    }
    free(q);
    free(on);
    json_decref(vars);
    json_decref(ext);
}

static void serve_json(http_call_t *c, const doppel_http_request_t *req)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)req->body, req->body_len,
                           JSON_DECODE_ANY, &je);
    if (j == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "The body is not valid JSON (line %d, column %d: %s).",
                 je.line, je.column, je.text);
        respond_errors(c->in, c->ex, 400, c->mt, msg);
        return;
    }
    if (json_is_array(j)) {
        serve_batch(c, j);
    } else {
        gqlp_request_t rq;
        const char *why = NULL;
        if (item_request(j, &rq, &why) < 0)
            respond_errors(c->in, c->ex, 400, c->mt, why);
        else
            serve_one(c, &rq);
    }
    json_decref(j);
}

int gqlp_http_handler(void *state, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req)
{
    gqlp_inst_t *in = state;
    if (in->stopping) {
        respond_errors(in, ex, 503, MT_JSON, "The server is shutting down.");
        return 0;
    }
    doppel_str_t ns, path;
    int form = split_target(in, req, &ns, &path);
    if (form < 0) {
        respond_errors(in, ex, 400, MT_JSON,
                       "Invalid namespace in the path: expected 1 to 64 "
                       "characters of A-Z a-z 0-9 . _ -");
        return 0;
    }
    if (form == 0) {
        const doppel_str_t *h = req->header(req, "X-Namespace");
        if (h != NULL) {
            if (!doppel_name_valid(h->ptr, h->len, GQLP_NS_MAX)) {
                respond_errors(in, ex, 400, MT_JSON,
                               "Invalid X-Namespace: expected 1 to 64 "
                               "characters of A-Z a-z 0-9 . _ -");
                return 0;
            }
            ns = *h;
        }
    }
    if (method_is(req, "GET") && gqlp_ws_wants(req)) {
        gqlp_ws_handle(in, ex, req, ns, path);
        return 0;
    }
    int mt = negotiate(req->header(req, "Accept"));
    if (mt == MT_NONE) {
        respond_errors(
            in, ex, 406, MT_JSON,
            "Not acceptable: GraphQL answers are "
            "application/graphql-response+json or application/json.");
        return 0;
    }
    http_call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    *c = (http_call_t){.in = in, .ex = ex, .req = req, .mt = mt};
    c->headers = json_object();
    if (c->headers == NULL) {
        free(c);
        return -ENOMEM;
    }
    int post = method_is(req, "POST");
    c->origin = (gqlp_origin_t){
        .ns = ns,
        .path = path,
        .metadata = req->headers,
        .n_metadata = req->n_headers,
        .request_id = req->request_id,
        .remote_addr = req->remote_addr,
        .transport = post ? GQLP_T_HTTP_POST : GQLP_T_HTTP_GET,
    };
    if (!post)
        serve_get(c, req, 0);
    else if (media_is(req->header(req, "Content-Type"), "application/graphql"))
        serve_get(c, req, 1);
    else
        serve_json(c, req);
    if (!c->forwarding)
        call_free(c);
    return 0;
}
