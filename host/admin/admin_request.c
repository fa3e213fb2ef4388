/*
 * Request parsing and answers of the admin API: path segments, query
 * parameters, JSON bodies, namespace resolution, and the JSON error shape
 * {"error", "code", "request_id", "field"?} that every failure uses.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pct_decode.h"
#include "admin_internal.h"
#include "base/log.h"

#define API_PREFIX "/api/v1"



static int add_seg(admin_call_t *c, const char *p, size_t len, int decode)
{
    if (len == 0)
        return 0; /* "//" and a trailing "/" add nothing */
    if (c->nseg == ADMIN_MAX_SEGS)
        return -E2BIG;
    char *s = decode ? dp_pct_decode(p, len, 0) : strndup(p, len);
    if (s == NULL)
        return -EINVAL;
    c->seg[c->nseg++] = s;
    return 0;
}

int admin_split_path(admin_call_t *c)
{
    /* Segments come from the raw target so that an encoded '/' ("%2F") in a
     * store key or mock id stays inside its segment. */
    const char *t = c->req->target.ptr;
    size_t tlen = c->req->target.len;
    const char *q = memchr(t, '?', tlen);
    if (q != NULL)
        tlen = (size_t)(q - t);
    const char *h = memchr(t, '#', tlen);
    if (h != NULL)
        tlen = (size_t)(h - t);
    size_t plen = sizeof(API_PREFIX) - 1;
    int decode = 1;
    if (tlen < plen || memcmp(t, API_PREFIX, plen) != 0 ||
        (tlen > plen && t[plen] != '/')) {
        /* Absolute-form or encoded prefix: fall back on the front's decoded
         * remainder. */
        t = c->req->rest.ptr;
        tlen = c->req->rest.len;
        plen = 0;
        decode = 0;
    }
    const char *p = t + plen, *end = t + tlen;
    while (p < end) {
        if (*p == '/') {
            p++;
            continue;
        }
        const char *s = p;
        while (p < end && *p != '/')
            p++;
        int rc = add_seg(c, s, (size_t)(p - s), decode);
        if (rc < 0)
            return rc;
        /* /schemas/SECTION/NAME: a schema file's name is a relative path
         * ("shop/v1/order.proto"), so what follows the section is one
         * segment with its slashes, as sent (admin_schemas.c checks it) */
        if (c->nseg == 2 && strcmp(c->seg[0], "schemas") == 0 && p < end)
            return add_seg(c, p + 1, (size_t)(end - p - 1), decode);
    }
    return 0;
}

char *admin_query(const admin_call_t *c, const char *name, int *bad)
{
    const char *q = c->req->query.ptr;
    size_t len = c->req->query.len, nlen = strlen(name);
    *bad = 0;
    if (q == NULL)
        return NULL;
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : pe;
            char *out = dp_pct_decode(v, (size_t)(pe - v), 1);
            if (out == NULL)
                *bad = 1;
            return out;
        }
        p = pe + 1;
    }
    return NULL;
}

int admin_query_size(admin_call_t *c, const char *name, size_t dflt,
                     size_t min, size_t max, size_t *out)
{
    int bad;
    char *v = admin_query(c, name, &bad);
    *out = dflt;
    if (v == NULL && !bad)
        return 0;
    char *end = NULL;
    unsigned long long n = 0;
    int ok = v != NULL && v[0] >= '0' && v[0] <= '9';
    if (ok) {
        errno = 0;
        n = strtoull(v, &end, 10);
        ok = errno == 0 && *end == '\0' && n >= min && n <= max;
    }
    free(v);
    if (!ok) {
        admin_reply_error(c, 400, "validation", name,
                          "%s: expected an integer between %zu and %zu", name,
                          min, max);
        return -EINVAL;
    }
    *out = (size_t)n;
    return 0;
}

int admin_query_bool(admin_call_t *c, const char *name, int dflt, int *out)
{
    int bad;
    char *v = admin_query(c, name, &bad);
    *out = dflt;
    if (v == NULL && !bad)
        return 0;
    int ok = 1;
    if (v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
                      v[0] == '\0'))
        *out = 1; /* a bare "?includeClosed" means true */
    else if (v != NULL && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0))
        *out = 0;
    else
        ok = 0;
    free(v);
    if (!ok) {
        admin_reply_error(c, 400, "validation", name,
                          "%s: expected true or false", name);
        return -EINVAL;
    }
    return 0;
}

int admin_parse_body(admin_call_t *c)
{
    const doppel_http_request_t *r = c->req;
    size_t n = r->body_len;
    const char *b = (const char *)r->body;
    /* A body of only whitespace counts as no body. */
    size_t i = 0;
    while (i < n && isspace((unsigned char)b[i]))
        i++;
    if (b == NULL || i == n)
        return 0;
    json_error_t je;
    c->body = json_loadb(b, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (c->body == NULL) {
        admin_reply_error(c, 400, "validation", "",
                          "malformed JSON at line %d, column %d (byte %d): %s",
                          je.line, je.column, je.position, je.text);
        return -EINVAL;
    }
    return 0;
}

int dp_admin_ns_valid(const char *ns, size_t len)
{
    return doppel_name_valid(ns, len, ADMIN_NS_MAX);
}

static int set_ns(admin_call_t *c, const char *v, size_t len, const char *src)
{
    if (!dp_admin_ns_valid(v, len)) {
        admin_reply_error(c, 400, "validation", "namespace",
                          "invalid namespace %s: expected 1 to 64 characters "
                          "of A-Z a-z 0-9 . _ -",
                          src);
        return -EINVAL;
    }
    memcpy(c->ns, v, len);
    c->ns[len] = '\0';
    return 0;
}

int admin_resolve_ns(admin_call_t *c, int use_body)
{
    c->ns[0] = '\0';
    if (use_body && json_is_object(c->body)) {
        json_t *v = json_object_get(c->body, "namespace");
        if (v != NULL && !json_is_null(v)) {
            if (!json_is_string(v)) {
                admin_reply_error(c, 400, "validation", "namespace",
                                  "namespace: expected a string");
                return -EINVAL;
            }
            return set_ns(c, json_string_value(v), json_string_length(v),
                          "in the body");
        }
    }
    int bad;
    char *q = admin_query(c, "namespace", &bad);
    if (q != NULL || bad) {
        int rc = set_ns(c, q ? q : "", q ? strlen(q) : 0, "in ?namespace=");
        free(q);
        return rc;
    }
    const doppel_str_t *h = c->req->header(c->req, "X-Namespace");
    if (h != NULL)
        return set_ns(c, h->ptr, h->len, "in the X-Namespace header");
    return 0;
}

/* ---- Answers ----------------------------------------------------------- */

/* Records the call's answer; the first answer wins. A body that cannot
 * be copied turns the answer into a bare 500 (nothing was said yet). */
static void keep(admin_call_t *c, int status, int json, const char *hname,
                 const char *hval, const char *body, size_t len)
{
    if (c->answered)
        return;
    c->answered = 1;
    c->status = status;
    c->held = c->hold && status >= 200 && status <= 299;
    c->out_json = json;
    c->out_hname = hname;
    snprintf(c->out_hval, sizeof(c->out_hval), "%s", hval ? hval : "");
    c->out_body = NULL;
    c->out_len = 0;
    if (len == 0)
        return;
    c->out_body = malloc(len);
    if (c->out_body == NULL) {
        c->status = 500;
        c->held = 0;
        c->out_json = 0;
        c->out_hname = NULL;
        return;
    }
    memcpy(c->out_body, body, len);
    c->out_len = len;
}

static void send_text(admin_call_t *c, int status, const char *json,
                      size_t len, const char *allow)
{
    if (c->answered)
        return;
    char ra[16];
    const char *hname = NULL, *hval = NULL;
    if (allow != NULL) {
        hname = "Allow";
        hval = allow;
    } else if (status == 429) {
        /* a rate-limited client learns when it may try again */
        snprintf(ra, sizeof(ra), "%u",
                 dp_admin_retry_after(c->auth, c->req));
        hname = "Retry-After";
        hval = ra;
    }
    keep(c, status, 1, hname, hval, json, len);
}

void admin_reply_json(admin_call_t *c, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    if (s == NULL) {
        static const char oom[] =
            "{\"error\":\"cannot encode the answer\",\"code\":\"internal\"}";
        send_text(c, 500, oom, sizeof(oom) - 1, NULL);
        return;
    }
    send_text(c, status, s, strlen(s), NULL);
    free(s);
}

void admin_release(admin_call_t *c)
{
    c->held = 0;
}

void admin_fail_held(admin_call_t *c, const char *msg)
{
    if (!c->held)
        return;
    free(c->out_body);
    c->out_body = NULL;
    c->answered = c->held = c->hold = 0;
    admin_reply_error(c, 500, "internal", NULL, "%s", msg);
}

void admin_send(admin_call_t *c)
{
    if (!c->answered || c->held) {
        /* no answer, or a success whose audit row was never stored */
        static const char none[] =
            "{\"error\":\"no answer\",\"code\":\"internal\"}";
        dp_http_respond_json(c->ex, 500, none, sizeof(none) - 1);
    } else {
        doppel_kv_t h[2];
        size_t nh = 0;
        if (c->out_json)
            h[nh++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                    DOPPEL_STR("application/json")};
        if (c->out_hname != NULL)
            h[nh++] = (doppel_kv_t){{c->out_hname, strlen(c->out_hname)},
                                    {c->out_hval, strlen(c->out_hval)}};
        dp_http_respond(c->ex, c->status, h, nh, c->out_body, c->out_len);
    }
    free(c->out_body);
    c->out_body = NULL;
}

void admin_reply_empty(admin_call_t *c, int status)
{
    keep(c, status, 0, NULL, NULL, "", 0);
}

void admin_reply_text(admin_call_t *c, int status, const char *ctype,
                      const char *body, size_t len)
{
    keep(c, status, 0, "Content-Type", ctype, body, len);
}

static void reply_error_v(admin_call_t *c, int status, const char *code,
                          const char *field, const char *allow,
                          const char *fmt, va_list ap)
{
    char msg[640];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    json_object_set_new(o, "code", json_string(code));
    json_object_set_new(o, "request_id",
                        json_stringn(c->req->request_id.ptr
                                         ? c->req->request_id.ptr
                                         : "",
                                     c->req->request_id.len));
    if (field != NULL && *field != '\0')
        json_object_set_new(o, "field", json_string(field));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL) {
        static const char oom[] =
            "{\"error\":\"out of memory\",\"code\":\"internal\"}";
        send_text(c, 500, oom, sizeof(oom) - 1, NULL);
        return;
    }
    send_text(c, status, s, strlen(s), allow);
    free(s);
}

void admin_reply_error(admin_call_t *c, int status, const char *code,
                       const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, status, code, field, NULL, fmt, ap);
    va_end(ap);
}

static void reply_error_allow(admin_call_t *c, const char *allow,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error_allow(admin_call_t *c, const char *allow,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, 405, "validation", NULL, allow, fmt, ap);
    va_end(ap);
}

void admin_reply_405(admin_call_t *c, const char *allow)
{
    reply_error_allow(c, allow, "method %.*s not allowed here (allowed: %s)",
                      (int)c->req->method.len, c->req->method.ptr, allow);
}

static const char *code_for_status(int status)
{
    switch (status) {
    case 400:
    case 405:
    case 413:
    case 422:
        return "validation";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 409:
        return "conflict";
    case 429:
        return "rate_limit";
    case 503:
        return "unavailable";
    default:
        return "internal";
    }
}

void admin_reply_dp_err(admin_call_t *c, int rc, const dp_err_t *err)
{
    int status = err->status;
    const char *code = err->code;
    const char *msg = err->message;
    if (status < 400 || status > 599) {
        /* The engine failed without saying why: derive it from errno. */
        status = rc == -ENOENT ? 404 : rc == -EINVAL ? 400
                 : rc == -EEXIST ? 409 : rc == -EBUSY ? 503 : 500;
        code = "";
        msg = "";
    }
    if (code[0] == '\0')
        code = code_for_status(status);
    if (msg[0] == '\0')
        msg = rc < 0 ? strerror(-rc) : "error";
    if (status >= 500)
        dp_error("admin", "%.*s %.*s: %s", (int)c->req->method.len,
                 c->req->method.ptr, (int)c->req->path.len, c->req->path.ptr,
                 msg);
    admin_reply_error(c, status, code, err->field, "%s", msg);
}
