/*
 * Forwarding a request of the HTTP front upstream (forward.h).
 */
#include "forward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int name_eq(doppel_str_t n, const char *s)
{
    return strlen(s) == n.len && strncasecmp(s, n.ptr, n.len) == 0;
}

/* Headers that describe one hop, not the message: never forwarded either
 * way. Host comes from the target URL; the front sets Content-Length; every
 * Proxy-* header (Proxy-Authorization, Proxy-Connection, ...) is for the
 * proxy, which doppel is; X-Forwarded-* are rebuilt by dpf_start. */
static int hop_by_hop(doppel_str_t n)
{
    static const char *const names[] = {
        "connection", "keep-alive",        "te",
        "trailer",    "transfer-encoding", "upgrade",
        "host",       "content-length",    "expect"};
    if (n.len >= 6 && strncasecmp(n.ptr, "proxy-", 6) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (name_eq(n, names[i]))
            return 1;
    return 0;
}

/* Whether a Connection header of hs names n (RFC 9110 7.6.1: the headers
 * it lists are hop-by-hop too). */
static int connection_listed(const doppel_kv_t *hs, size_t nh, doppel_str_t n)
{
    for (size_t i = 0; i < nh; i++) {
        if (!name_eq(hs[i].name, "connection"))
            continue;
        const char *v = hs[i].value.ptr, *end = v + hs[i].value.len;
        while (v && v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *t = v;
            while (v < end && *v != ',' && *v != ' ' && *v != '\t')
                v++;
            if ((size_t)(v - t) == n.len && n.len &&
                strncasecmp(t, n.ptr, n.len) == 0)
                return 1;
        }
    }
    return 0;
}

/* Not to be passed on: hop-by-hop by name or listed in Connection. */
static int drop_header(const doppel_kv_t *hs, size_t nh, doppel_str_t n)
{
    return hop_by_hop(n) || connection_listed(hs, nh, n);
}

/* The header carries doppel's own credential (the host says which), so
 * it never goes upstream: by name, every instance of it. */
static int doppel_credential(const doppel_reply_t *r, doppel_str_t n)
{
    return ((r->flags & DOPPEL_REPLY_F_DROP_AUTHORIZATION) &&
            name_eq(n, "authorization")) ||
           ((r->flags & DOPPEL_REPLY_F_DROP_X_API_KEY) &&
            name_eq(n, "x-api-key"));
}

int dpf_service_reply(const doppel_reply_t *r)
{
    return r->size >=
               offsetof(doppel_reply_t, proxy_flags) + sizeof(uint32_t) &&
           r->service.ptr != NULL && r->service.len > 0;
}

const char *dpf_fail_reason(int rc)
{
    switch (rc) {
    case -EACCES:
        return "guard";
    case -ETIMEDOUT:
        return "timeout";
    case -ECONNREFUSED:
        return "refused";
    case -EHOSTUNREACH:
        return "unreachable";
    case -EPROTO:
        return "protocol";
    case -EFBIG:
        return "too_large";
    case -ECONNRESET:
        return "reset";
    case -ECANCELED:
        return "stopping";
    default:
        return "error";
    }
}

int dpf_fail_status(int rc)
{
    return rc == -ETIMEDOUT ? 504 : 502;
}

size_t dpf_json_escape(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len && o + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

int dpf_start(doppel_ctx_t *ctx, const doppel_services_t *svc,
              const doppel_http_request_t *req, doppel_str_t path,
              const doppel_reply_t *r, doppel_fetch_cb cb, void *data)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_fetch))
        return -ENOTSUP;
    int is_svc = dpf_service_reply(r);
    if (is_svc)
        path = (doppel_str_t){"", 0};
    doppel_str_t base = r->proxy_target;
    if (base.len && base.ptr[base.len - 1] == '/' && path.len &&
        path.ptr[0] == '/')
        base.len--;
    size_t ulen = base.len + path.len + 1 + req->query.len + 1;
    /* X-Forwarded-For: the client's chain (every X-Forwarded-For it sent,
     * in order) then the client's address, as nginx and most proxies do */
    size_t xff_len = req->remote_addr.len + 1;
    for (size_t i = 0; i < req->n_headers; i++)
        if (name_eq(req->headers[i].name, "x-forwarded-for"))
            xff_len += req->headers[i].value.len + 2;
    char *url = malloc(ulen);
    char *xff = malloc(xff_len);
    doppel_kv_t *h = malloc((req->n_headers + 3) * sizeof(*h));
    if (url == NULL || xff == NULL || h == NULL) {
        free(url);
        free(xff);
        free(h);
        return -ENOMEM;
    }
    int ul = snprintf(url, ulen, "%.*s%.*s%s%.*s", (int)base.len,
                      base.ptr ? base.ptr : "", (int)path.len,
                      path.ptr ? path.ptr : "", req->query.len ? "?" : "",
                      (int)req->query.len, req->query.ptr ? req->query.ptr : "");
    size_t n = 0, xl = 0;
    int has_proto = 0, has_host = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        doppel_str_t nm = req->headers[i].name;
        if (drop_header(req->headers, req->n_headers, nm) ||
            doppel_credential(r, nm))
            continue;
        if (name_eq(nm, "x-forwarded-for")) {
            memcpy(xff + xl, req->headers[i].value.ptr,
                   req->headers[i].value.len);
            xl += req->headers[i].value.len;
            memcpy(xff + xl, ", ", 2);
            xl += 2;
            continue;
        }
        /* a client behind another proxy keeps what that proxy said */
        has_proto |= name_eq(nm, "x-forwarded-proto");
        has_host |= name_eq(nm, "x-forwarded-host");
        h[n++] = req->headers[i];
    }
    if (req->remote_addr.len) {
        memcpy(xff + xl, req->remote_addr.ptr, req->remote_addr.len);
        xl += req->remote_addr.len;
    }
    if (req->remote_addr.len)
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Forwarded-For"), {xff, xl}};
    if (!has_proto)
        h[n++] =
            (doppel_kv_t){DOPPEL_STR("X-Forwarded-Proto"), DOPPEL_STR("http")};
    const doppel_str_t *fh = req->header(req, "Host");
    if (!has_host && fh && fh->len)
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Forwarded-Host"), *fh};
    doppel_fetch_t f = {
        .size = sizeof(f),
        .method = req->method,
        .url = {url, ul > 0 ? (size_t)ul : 0},
        .headers = h,
        .n_headers = n,
        .body = req->body,
        .body_len = req->body_len,
        .timeout_ms = is_svc ? r->proxy_timeout_ms : 0,
        .flags = is_svc ? r->proxy_flags : 0,
    };
    int rc = svc->http_fetch(ctx, &f, cb, data);
    free(url);
    free(xff);
    free(h);
    return rc;
}

void dpf_report(doppel_ctx_t *ctx, const doppel_services_t *svc,
                doppel_reply_t *r, int status, const char *reason)
{
    if (!DOPPEL_HAS_SERVICE(svc, engine_forwarded))
        return; /* an older host journalled r at match time */
    int rc = svc->engine_forwarded(ctx, r, status, reason, 0);
    if (rc < 0)
        svc->log(ctx, DOPPEL_LOG_WARN, "engine_forwarded failed: %s",
                 strerror(-rc));
}

int dpf_respond(const doppel_services_t *svc, doppel_http_exchange_t *ex,
                const doppel_reply_t *r, const doppel_fetch_result_t *res)
{
    size_t n = 0;
    doppel_kv_t stack[48];
    doppel_kv_t *h = res->n_headers + 1 <= 48
                         ? stack
                         : malloc((res->n_headers + 1) * sizeof(*h));
    size_t cap = 47; /* room for our own header at the end */
    if (h == NULL)
        h = stack; /* the first 47 headers, then */
    else if (h != stack)
        cap = res->n_headers;
    for (size_t i = 0; i < res->n_headers && n < cap; i++)
        if (!drop_header(res->headers, res->n_headers, res->headers[i].name))
            h[n++] = res->headers[i];
    if (dpf_service_reply(r))
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Service"), r->service};
    else
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Mock-Id"), r->mock_id};
    int rc = svc->http_respond(ex, res->status, h, n, res->body, res->body_len);
    if (h != stack)
        free(h);
    return rc;
}
