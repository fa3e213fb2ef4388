/*
 * Record and replay, the recording half: a forwarded LEARN exchange becomes
 * an ordinary mock (the model users write, editable afterwards), and the
 * coverage report reads the recorded mocks back.
 *
 * What a recording keys on: method, the exact path (a literal route, so ':'
 * and '*' in a recorded path are plain text), the query (every parameter,
 * first value of each, none extra), the body (JSON compared structurally;
 * other bodies byte for byte; an empty body must stay empty) and the
 * service's recordHeaders. The mock id is a hash of that key, so the same
 * request finds the same mock; a different answer turns its response into an
 * ordered oneOf, and every later answer is appended (bounded by
 * cfg.record_sequence_max), so a replay gives the answers in the order they
 * were recorded.
 *
 * Credential headers (dp_engine_header_redacted) never reach the store:
 * their values become "[REDACTED]". Bodies over cfg.record_body_max are
 * stored truncated and marked ("recording" field, X-Doppel-Truncated).
 *
 * Recordings are serialised by e->rmu (read the stored mock, decide, write),
 * so concurrent workers never lose each other's answers; the write itself
 * goes through the ordinary mock put/patch (validated, persisted before it
 * returns).
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "base/log.h"
#include "engine_internal.h"

#define LOGC "record"
#define REDACTED "[REDACTED]"

/* ---- small helpers ----------------------------------------------------------
 */

static int name_is(doppel_str_t n, const char *s)
{
    size_t l = strlen(s);
    return n.len == l && strncasecmp(n.ptr, s, l) == 0;
}

/* Not part of a recorded answer: hop-by-hop headers (every Proxy-* one
 * too), the headers the answer's Connection header lists (RFC 9110
 * 7.6.1), and what the replaying front sets itself: Content-Length, Date
 * and Server. A Date kept would also make two identical answers a second
 * apart "different", growing a oneOf sequence out of one answer. */
static int hop_by_hop(const doppel_kv_t *hs, size_t nh, doppel_str_t n)
{
    static const char *const names[] = {
        "connection", "keep-alive",     "te",   "trailer", "transfer-encoding",
        "upgrade",    "content-length", "date", "server",  NULL};
    if (n.len >= 6 && strncasecmp(n.ptr, "proxy-", 6) == 0)
        return 1;
    for (size_t i = 0; names[i]; i++)
        if (name_is(n, names[i]))
            return 1;
    for (size_t i = 0; i < nh; i++) {
        if (!name_is(hs[i].name, "connection") || hs[i].value.ptr == NULL)
            continue;
        const char *v = hs[i].value.ptr, *end = v + hs[i].value.len;
        while (v < end) {
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

static int is_token(doppel_str_t s)
{
    if (s.len == 0 || s.len > 256)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return 0;
    }
    return 1;
}

/* 1 when s can be a JSON string of the mock: no NUL, valid UTF-8. */
static int str_storable(doppel_str_t s)
{
    if (s.len == 0)
        return 1;
    if (s.ptr == NULL || memchr(s.ptr, '\0', s.len) != NULL)
        return 0;
    json_t *v = json_stringn(s.ptr, s.len);
    json_decref(v);
    return v != NULL;
}

static int has_ctl(doppel_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 && s.ptr[i] != '\t')
            return 1;
    return 0;
}

/* A copy of v in which every value that is not an array or object is
 * leaf(value) (new reference, NULL on ENOMEM): the walk under tmpl_escape
 * and num_canon. */
static json_t *json_map_leaves(const json_t *v,
                               json_t *(*leaf)(const json_t *v))
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *c = a ? json_map_leaves(x, leaf) : NULL;
            /* append_new takes c even when it fails */
            if (c == NULL || json_array_append_new(a, c) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            json_t *c = o ? json_map_leaves(x, leaf) : NULL;
            if (c == NULL || json_object_set_new(o, k, c) < 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return leaf(v);
}

/* Every string of v with '$' doubled, so templates read it literally (new
 * reference, NULL on ENOMEM). */
static json_t *tmpl_escape_leaf(const json_t *v)
{
    if (!json_is_string(v))
        return json_incref((json_t *)v);
    const char *s = json_string_value(v);
    size_t l = json_string_length(v), n = 0;
    for (size_t i = 0; i < l; i++)
        n += s[i] == '$';
    if (n == 0)
        return json_incref((json_t *)v);
    char *b = malloc(l + n + 1);
    if (b == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < l; i++) {
        b[o++] = s[i];
        if (s[i] == '$')
            b[o++] = '$';
    }
    json_t *r = json_stringn_nocheck(b, o);
    free(b);
    return r;
}

static json_t *tmpl_escape(const json_t *v)
{
    return json_map_leaves(v, tmpl_escape_leaf);
}

/* Text as a JSON string when it is valid UTF-8 without NUL, cut back up to
 * three bytes when cut is set (a truncated multi-byte tail). */
static json_t *text_value(const char *s, size_t len, int cut)
{
    if (memchr(s, '\0', len) != NULL)
        return NULL;
    for (int back = 0; back < (cut ? 4 : 1) && (size_t)back <= len; back++) {
        json_t *v = json_stringn(s, len - (size_t)back);
        if (v)
            return v;
    }
    return NULL;
}

/* Percent-encodes one decoded path segment so that the route parser (which
 * decodes once) gives the same bytes back. */
static void put_seg(char **o, const char *s, size_t len)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || strchr("-._~!$&'()*+,;=:@", c)) {
            *(*o)++ = (char)c;
        } else {
            *(*o)++ = '%';
            *(*o)++ = hx[c >> 4];
            *(*o)++ = hx[c & 15];
        }
    }
}

/* A literal route for path: its segments as the matcher splits them. */
static char *literal_route(const char *path, size_t len)
{
    dp_path_t p;
    if (dp_path_split(path, len, &p) < 0)
        return NULL;
    if (p.too_long) {
        dp_path_free(&p);
        errno = E2BIG;
        return NULL;
    }
    char *r = malloc(len * 3 + 2);
    if (r != NULL) {
        char *o = r;
        for (size_t i = 0; i < p.n; i++) {
            *o++ = '/';
            put_seg(&o, p.seg[i], p.len[i]);
        }
        if (p.n == 0)
            *o++ = '/';
        *o = '\0';
    }
    dp_path_free(&p);
    return r;
}

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- the request key
 * ---------------------------------------------------------- */

/* v with every number as a real (new reference, NULL on ENOMEM): the
 * matcher compares JSON numbers by value (1 equals 1.0), so the id of a
 * recording must not tell them apart either, or LEARN would make two mocks
 * that both match the same requests. */
static json_t *num_canon_leaf(const json_t *v)
{
    if (json_is_integer(v))
        return json_real((double)json_integer_value(v));
    return json_incref((json_t *)v);
}

static json_t *num_canon(const json_t *v)
{
    return json_map_leaves(v, num_canon_leaf);
}

typedef struct rkey {
    json_t *http;  /* the mock's http section */
    json_t *canon; /* what the id hashes */
    int body_truncated;
    char method[40];
} rkey_t;

static int build_key(dp_engine_t *e, const doppel_exchange_t *x, const char *ns,
                     const char *svc, const char *path, size_t plen,
                     const json_t *rec_headers, rkey_t *k)
{
    memset(k, 0, sizeof(*k));
    /* The whole method must be a token, and there must be one (found by
     * fuzz/fuzz_record): checking only the copy let "GET\0x" record as GET,
     * a 40-byte method recorded as GET, and so did none at all, which only
     * meets mocks naming no method (match.c); none of these mocks matched
     * its own request. Upper-casing a token keeps it one. */
    if (x->operation.len == 0 || x->operation.len >= sizeof(k->method) ||
        !is_token(x->operation))
        return -EINVAL;
    for (size_t i = 0; i < x->operation.len; i++)
        k->method[i] = (char)toupper((unsigned char)x->operation.ptr[i]);
    errno = 0;
    char *route = literal_route(path, plen);
    if (route == NULL)
        return errno == E2BIG ? -E2BIG : -ENOMEM;

    /* the query: every parameter with every value (a repeated name's
     * values in order), none missing, none extra */
    json_t *q = json_object();
    for (size_t i = 0; q && i < x->n_params; i++) {
        const doppel_kv_t *kv = &x->params[i];
        /* A name or value with NUL or not UTF-8 cannot be stored as the
         * JSON it is matched against: such a mock was stored broken (not
         * listed, never matched) or, a skipped name, never matched its
         * own request; refused (found by fuzz/fuzz_record). */
        if (!str_storable(kv->name) || !str_storable(kv->value)) {
            json_decref(q);
            free(route);
            return -EINVAL;
        }
        char *n = strndup(kv->name.ptr, kv->name.len);
        json_t *v =
            json_stringn(kv->value.ptr ? kv->value.ptr : "", kv->value.len);
        if (n && v)
            dp_query_add(q, n, v);
        json_decref(v);
        free(n);
    }

    json_t *http =
        json_pack("{s:s, s:b, s:s, s:[{s:s, s:s, s:O}]}", "route", route,
                  "routeLiteral", 1, "httpMethod", k->method, "queryParams",
                  "path", "$", "assertAction", "equals", "value", q);
    free(route);
    json_t *bodykey = NULL;
    if (http == NULL)
        goto nomem;

    /* the body */
    size_t blen = x->body ? x->body_len : 0;
    if (blen == 0) {
        /* exactly empty ("empty" would also let {} and [] through) */
        bodykey = json_null();
        json_object_set_new(http, "rawBody", json_pack("{s:s}", "text", ""));
    } else if (blen > e->cfg.record_body_max) {
        /* too big to keep: any body matches, and the mock says so */
        k->body_truncated = 1;
        bodykey = json_string("(not recorded: over record_body_max)");
    } else {
        json_t *jb =
            json_loadb((const char *)x->body, blen, JSON_DECODE_ANY, NULL);
        if (jb != NULL) {
            json_t *cj = num_canon(jb);
            bodykey = cj ? json_pack("{s:o}", "json", cj) : NULL;
            json_object_set_new(http, "conditions",
                                json_pack("[{s:s, s:s, s:o}]", "path", "$",
                                          "assertAction", "equals", "value",
                                          jb));
        } else {
            json_t *t = text_value((const char *)x->body, blen, 0);
            json_t *raw;
            if (t) {
                raw = json_pack("{s:o}", "text", t);
            } else {
                char *b64 = dp_b64_encode(x->body, blen);
                raw = b64 ? json_pack("{s:s}", "base64", b64) : NULL;
                free(b64);
            }
            bodykey = raw ? json_incref(raw) : NULL;
            json_object_set_new(http, "rawBody", raw);
        }
    }
    if (bodykey == NULL)
        goto nomem;

    /* the chosen request headers */
    json_t *hk = json_object();
    json_t *hc = json_array();
    int bad_header = 0;
    size_t i;
    json_t *hn;
    json_array_foreach(rec_headers, i, hn)
    {
        const char *name = json_string_value(hn);
        if (name == NULL || dp_engine_header_redacted(e, name, strlen(name)))
            continue;
        const doppel_kv_t *found = NULL;
        for (size_t j = 0; j < x->n_metadata && !found; j++)
            if (name_is(x->metadata[j].name, name))
                found = &x->metadata[j];
        if (found && (has_ctl(found->value) || !str_storable(found->value))) {
            /* recorded as "empty" (or stored broken), the mock would never
             * match its own request: refused (found by fuzz/fuzz_record) */
            bad_header = 1;
            break;
        }
        if (found) {
            json_t *v = json_stringn(found->value.ptr ? found->value.ptr : "",
                                     found->value.len);
            json_object_set(hk, name, v);
            json_array_append_new(hc, json_pack("{s:s, s:s, s:o}", "path", name,
                                                "assertAction", "equals",
                                                "value", v));
        } else {
            json_object_set_new(hk, name, json_null());
            json_array_append_new(hc, json_pack("{s:s, s:s}", "path", name,
                                                "assertAction", "empty"));
        }
    }
    if (bad_header) {
        json_decref(hk);
        json_decref(hc);
        json_decref(q);
        json_decref(http);
        json_decref(bodykey);
        return -EINVAL;
    }
    if (json_array_size(hc))
        json_object_set(http, "header", hc);
    json_decref(hc);
    k->canon = json_pack("[s, s, s, O, O, o, o]", ns, svc, k->method,
                         json_object_get(http, "route"), q, bodykey,
                         hk ? hk : json_object());
    json_decref(q);
    if (k->canon == NULL) {
        json_decref(http);
        return -ENOMEM;
    }
    k->http = http;
    return 0;
nomem:
    json_decref(q);
    json_decref(http);
    json_decref(bodykey);
    return -ENOMEM;
}

/* ---- the response
 * -------------------------------------------------------------- */

static json_t *build_response(dp_engine_t *e, const doppel_fetch_result_t *res,
                              int *truncated)
{
    json_t *h = json_object();
    const char *ctype = NULL;
    size_t ctl = 0;
    for (size_t i = 0; h && i < res->n_headers; i++) {
        doppel_kv_t kv = res->headers[i];
        if (hop_by_hop(res->headers, res->n_headers, kv.name) ||
            !is_token(kv.name) || has_ctl(kv.value))
            continue;
        char name[257];
        snprintf(name, sizeof(name), "%.*s", (int)kv.name.len, kv.name.ptr);
        json_t *v = dp_engine_header_redacted(e, kv.name.ptr, kv.name.len)
                        ? json_string(REDACTED)
                        : dp_json_lossy(kv.value.ptr, kv.value.len);
        if (name_is(kv.name, "content-type") && ctype == NULL) {
            ctype = kv.value.ptr;
            ctl = kv.value.len;
        }
        /* names compare case-insensitively: join repeats under the first
         * spelling */
        const char *ek;
        json_t *ev, *prev = NULL;
        json_object_foreach(h, ek, ev) if (strcasecmp(ek, name) == 0) prev = ev;
        if (prev == NULL)
            json_object_set_new(h, name, v);
        else if (json_is_array(prev))
            json_array_append_new(prev, v);
        else {
            const char *pk = NULL;
            json_object_foreach(h, ek, ev) if (ev == prev) pk = ek;
            json_object_set_new(h, pk, json_pack("[Oo]", prev, v));
        }
    }
    if (h == NULL)
        return NULL;

    size_t blen = res->body ? res->body_len : 0;
    size_t max = e->cfg.record_body_max;
    *truncated = blen > max;
    if (*truncated) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", blen);
        json_object_set_new(h, "X-Doppel-Truncated", json_string(n));
        blen = max;
    }
    json_t *payload = NULL;
    int b64 = 0;
    const char *body = res->body;
    int json_ct = ctype && ctl < 200 && (memmem(ctype, ctl, "json", 4) != NULL);
    if (blen > 0 && !*truncated && json_ct) {
        json_t *v = json_loadb(body, blen, JSON_DECODE_ANY, NULL);
        /* objects and arrays only: a JSON string or number payload would
         * not serialise back to the same bytes */
        if (json_is_object(v) || json_is_array(v))
            payload = tmpl_escape(v);
        json_decref(v);
    }
    if (payload == NULL && blen > 0) {
        json_t *t = text_value(body, blen, *truncated);
        if (t) {
            payload = tmpl_escape(t);
            json_decref(t);
        } else {
            char *enc = dp_b64_encode((const unsigned char *)body, blen);
            payload = enc ? json_string(enc) : NULL;
            free(enc);
            b64 = 1;
        }
        if (payload == NULL) {
            json_decref(h);
            return NULL;
        }
    }
    json_t *r =
        json_pack("{s:i, s:o}", "statusCode", res->status, "headers", h);
    if (r && payload)
        json_object_set_new(r, "payload", payload);
    else
        json_decref(payload);
    if (r && b64)
        json_object_set_new(r, "decode", json_string("base64"));
    return r;
}

/* ---- recording
 * ------------------------------------------------------------------ */

/* The recordHeaders of ns/svc (new ref), NULL when the service is gone. */
static json_t *service_headers(dp_engine_t *e, const char *ns, const char *svc)
{
    pthread_mutex_lock(&e->wmu);
    const json_t *sv = json_object_get(
        json_object_get(json_object_get(e->rr_conf, ns), "services"), svc);
    json_t *h =
        sv ? json_deep_copy(json_object_get(sv, "recordHeaders")) : NULL;
    if (sv && h == NULL)
        h = json_array();
    pthread_mutex_unlock(&e->wmu);
    return h;
}

/* The patch that adds answer to the stored mock cur, or NULL when nothing
 * changes (the same single answer again, a full sequence, a mock edited
 * into something else). */
static json_t *extend(dp_engine_t *e, const json_t *cur, const json_t *answer,
                      const char *id)
{
    const json_t *one = json_object_get(cur, "response");
    const json_t *seq = json_object_get(cur, "oneOf");
    if (one) {
        if (json_equal((json_t *)one, (json_t *)answer))
            return NULL;
        return json_pack("{s:n, s:{s:s, s:[OO]}}", "response", "oneOf", "order",
                         "order", "responses", one, answer);
    }
    const json_t *rs = json_object_get(seq, "responses");
    if (!json_is_array(rs)) {
        dp_info(LOGC,
                "mock %s is no longer a recording (proxy); not "
                "changed",
                id);
        return NULL;
    }
    size_t max = e->cfg.record_sequence_max ? e->cfg.record_sequence_max : 100;
    if (json_array_size(rs) >= max) {
        const json_t *rec = json_object_get(cur, "recording");
        if (json_is_true(json_object_get(rec, "sequenceFull")))
            return NULL;
        return json_pack("{s:{s:b}}", "recording", "sequenceFull", 1);
    }
    json_t *nrs = json_copy((json_t *)rs);
    if (nrs == NULL || json_array_append(nrs, (json_t *)answer) < 0) {
        json_decref(nrs);
        return NULL;
    }
    return json_pack("{s:{s:s, s:o}}", "oneOf", "order", "order", "responses",
                     nrs);
}

/* A recorded mock's id: "rec-" and two hashes of what identifies it. */
static int rec_id(const json_t *canon, char *id, size_t idlen)
{
    char *text =
        json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (text == NULL)
        return -ENOMEM;
    size_t cl = strlen(text);
    snprintf(id, idlen, "rec-%016llx%016llx",
             (unsigned long long)fnv1a(text, cl, 0xcbf29ce484222325ull),
             (unsigned long long)fnv1a(text, cl, 0x84222325cbf29ce4ull));
    free(text);
    return 0;
}

/* Stores answer under id: a new mock built by make(), or one more answer
 * of the mock already there (an ordered oneOf, as extend() says). */
static int rec_store(dp_engine_t *e, const char *id, const char *ns,
                     const json_t *answer, json_t *mock, dp_err_t *err)
{
    json_t *cur = NULL;
    dp_err_t gerr = {0};
    int rc;
    if (dp_engine_mock_get(e, id, &cur, &gerr) == 0) {
        json_t *patch = extend(e, cur, answer, id);
        rc = patch ? dp_engine_mock_patch(e, id, patch, NULL, err) : 0;
        json_decref(patch);
        json_decref(cur);
        return rc;
    }
    return dp_engine_mock_put(e, mock, ns, NULL, NULL, err);
}

/* LEARN for a registered section that rides on the HTTP front (GraphQL,
 * SOAP): the plugin says what section and response the exchange becomes
 * (doppel_protocol_def_t.record); the engine names and stores it. Called
 * with e->rmu held. */
static int record_section(dp_engine_t *e, const doppel_exchange_t *x,
                          const char *ns, const char *svc, const char *tp,
                          size_t tl, const doppel_fetch_result_t *res,
                          dp_err_t *err)
{
    const dp_proto_t *proto =
        dp_protos_find(e->protos, x->protocol.ptr, x->protocol.len);
    json_t *sec = NULL, *answer = NULL;
    int rc = proto ? dp_proto_plugin_record(proto, x, res, &sec, &answer, err)
                   : -ENOTSUP;
    if (rc == -ENOTSUP) {
        dp_err_invalid(err, "protocol", "section '%.*s' records no exchanges",
                       (int)(x->protocol.len > 64 ? 64 : x->protocol.len),
                       x->protocol.ptr);
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    /* what the upstream said is literal text, never a template */
    json_t *lit = tmpl_escape(answer);
    json_decref(answer);
    answer = lit;
    if (answer == NULL) {
        json_decref(sec);
        dp_err_set(err, 500, "internal", "", "out of memory");
        return -ENOMEM;
    }
    json_t *canon = json_pack("{s:s, s:s, s:s, s:O}", "namespace", ns,
                              "service", svc, "section", proto->name,
                              "mock", sec);
    char id[48], tag[96];
    json_t *mock = NULL;
    if (canon == NULL || rec_id(canon, id, sizeof(id)) < 0)
        goto nomem;
    snprintf(tag, sizeof(tag), "service:%s", svc);
    mock = json_pack("{s:s, s:s, s:s, s:[ss], s:O, s:O, s:{s:s, s:s, s:s%, "
                     "s:I}}",
                     "id", id, "namespace", ns, "service", svc, "tags",
                     "recorded", tag, proto->name, sec, "response", answer,
                     "recording", "service", svc, "protocol", proto->name,
                     "path", tp, tl, "recordedAt",
                     (json_int_t)dp_engine_now(e));
    if (mock == NULL)
        goto nomem;
    rc = rec_store(e, id, ns, answer, mock, err);
    goto out;
nomem:
    rc = -ENOMEM;
    dp_err_set(err, 500, "internal", "", "out of memory");
out:
    json_decref(canon);
    json_decref(mock);
    json_decref(sec);
    json_decref(answer);
    return rc;
}

int dp_engine_record(dp_engine_t *e, const doppel_exchange_t *x,
                     const doppel_reply_t *r, const doppel_fetch_result_t *res,
                     dp_err_t *err)
{
    dp_err_t dummy;
    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof(*err));
    if (e == NULL || x == NULL || r == NULL || res == NULL ||
        r->kind != DOPPEL_REPLY_PROXY || !(r->flags & DOPPEL_REPLY_F_RECORD) ||
        r->size < offsetof(doppel_reply_t, proxy_flags) ||
        r->service.ptr == NULL || r->service.len == 0 || r->service.len > 64) {
        dp_err_invalid(err, "", "not a recording proxy reply");
        return -EINVAL;
    }
    if (res->status < 100 || res->status > 599) {
        dp_err_invalid(err, "statusCode",
                       "upstream status %d cannot be "
                       "recorded",
                       res->status);
        return -EPROTO;
    }
    char ns[160], svc[80];
    if (x->ns.ptr && x->ns.len) {
        if (!doppel_name_valid(x->ns.ptr, x->ns.len, 128)) {
            dp_err_invalid(err, "namespace", "invalid namespace");
            return -EINVAL;
        }
        snprintf(ns, sizeof(ns), "%.*s", (int)x->ns.len, x->ns.ptr);
    } else {
        snprintf(ns, sizeof(ns), "sandbox");
    }
    snprintf(svc, sizeof(svc), "%.*s", (int)r->service.len, r->service.ptr);
    const char *tp = x->target.ptr ? x->target.ptr : "";
    size_t tl = x->target.ptr ? x->target.len : 0;
    const char *qm = memchr(tp, '?', tl);
    if (qm)
        tl = (size_t)(qm - tp);
    if (tl == 0 || tp[0] != '/' || memchr(tp, '\0', tl)) {
        dp_err_invalid(err, "path", "a recorded path starts with '/'");
        return -EINVAL;
    }

    pthread_mutex_lock(&e->rmu);
    int rc;
    json_t *mock = NULL, *answer = NULL, *cur = NULL, *patch = NULL;
    rkey_t k = {0};
    json_t *rh = service_headers(e, ns, svc);
    if (rh == NULL) {
        dp_err_set(err, 404, "not_found", "service",
                   "service %s of namespace %s is gone", svc, ns);
        rc = -ENOENT;
        goto out;
    }
    if (x->protocol.ptr && x->protocol.len && !name_is(x->protocol, "http")) {
        rc = record_section(e, x, ns, svc, tp, tl, res, err);
        goto out;
    }
    rc = build_key(e, x, ns, svc, tp, tl, rh, &k);
    if (rc < 0) {
        if (rc == -ENOMEM)
            dp_err_set(err, 500, "internal", "", "out of memory");
        else
            dp_err_invalid(err, "path",
                           "the request cannot be recorded (method, "
                           "path, query or a recorded header)");
        goto out;
    }
    char id[48];
    if (rec_id(k.canon, id, sizeof(id)) < 0) {
        rc = -ENOMEM;
        dp_err_set(err, 500, "internal", "", "out of memory");
        goto out;
    }

    int resp_trunc = 0;
    answer = build_response(e, res, &resp_trunc);
    if (answer == NULL) {
        rc = -ENOMEM;
        dp_err_set(err, 500, "internal", "", "out of memory");
        goto out;
    }
    dp_err_t gerr = {0};
    if (dp_engine_mock_get(e, id, &cur, &gerr) == 0) {
        patch = extend(e, cur, answer, id);
        if (patch && resp_trunc)
            json_object_set_new(patch, "recording",
                                json_pack("{s:b}", "responseBodyTruncated", 1));
        rc = patch ? dp_engine_mock_patch(e, id, patch, NULL, err) : 0;
        goto out;
    }
    char tag[96];
    snprintf(tag, sizeof(tag), "service:%s", svc);
    mock = json_pack("{s:s, s:s, s:s, s:[ss], s:O, s:O, s:{s:s, s:s, s:s%, "
                     "s:b, s:b, s:I}}",
                     "id", id, "namespace", ns, "service", svc, "tags",
                     "recorded", tag, "http", k.http, "response", answer,
                     "recording", "service", svc, "method", k.method, "path",
                     tp, tl, "requestBodyTruncated", k.body_truncated,
                     "responseBodyTruncated", resp_trunc, "recordedAt",
                     (json_int_t)dp_engine_now(e));
    if (mock == NULL) {
        rc = -ENOMEM;
        dp_err_set(err, 500, "internal", "", "out of memory");
        goto out;
    }
    rc = dp_engine_mock_put(e, mock, ns, NULL, NULL, err);
out:
    pthread_mutex_unlock(&e->rmu);
    json_decref(rh);
    json_decref(k.http);
    json_decref(k.canon);
    json_decref(answer);
    json_decref(cur);
    json_decref(patch);
    json_decref(mock);
    return rc;
}

/* ---- coverage
 * ------------------------------------------------------------------- */

static json_t *cov_service(json_t *map, const char *name, const char *mode)
{
    json_t *s = json_object_get(map, name);
    if (s == NULL) {
        s = json_pack("{s:s, s:s?, s:i, s:I, s:n, s:{}, s:[]}", "name", name,
                      "mode", mode, "recordedMocks", 0, "hits", (json_int_t)0,
                      "lastSeen", "endpoints", "misses");
        if (s && mode == NULL)
            json_object_set_new(s, "mode", json_null());
        if (s == NULL || json_object_set_new(map, name, s) < 0)
            return NULL;
    }
    return s;
}

static void max_time(json_t *o, int64_t t)
{
    json_t *cur = json_object_get(o, "lastSeen");
    if (t > 0 && (!json_is_integer(cur) || json_integer_value(cur) < t))
        json_object_set_new(o, "lastSeen", json_integer(t));
}

static void add_int(json_t *o, const char *k, json_int_t d)
{
    json_object_set_new(
        o, k, json_integer(json_integer_value(json_object_get(o, k)) + d));
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *kx = json_string_value(json_object_get(x, "path"));
    const char *ky = json_string_value(json_object_get(y, "path"));
    int c = strcmp(kx ? kx : "", ky ? ky : "");
    if (c)
        return c;
    kx = json_string_value(json_object_get(x, "method"));
    ky = json_string_value(json_object_get(y, "method"));
    return strcmp(kx ? kx : "", ky ? ky : "");
}

/* Object of objects -> array sorted by path, then method. */
static json_t *sorted_values(json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    json_t *arr = json_array();
    if (v == NULL || arr == NULL) {
        free(v);
        json_decref(arr);
        return NULL;
    }
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x) v[i++] = x;
    qsort(v, n, sizeof(*v), by_name);
    for (i = 0; i < n; i++)
        json_array_append(arr, v[i]);
    free(v);
    return arr;
}

int dp_engine_coverage(dp_engine_t *e, const char *ns, const char *service,
                       json_t **out, dp_err_t *err)
{
    *out = NULL;
    ns = ns && ns[0] ? ns : "sandbox";
    json_t *map = json_object();
    if (map == NULL)
        goto nomem;
    json_t *modes = NULL;
    if (dp_engine_mode_get(e, ns, &modes, err) < 0) {
        json_decref(map);
        return -ENOMEM;
    }
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(modes, "services"), i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        if (service && strcmp(service, name) != 0)
            continue;
        cov_service(map, name,
                    json_string_value(json_object_get(it, "effectiveMode")));
    }
    json_decref(modes);

    pthread_mutex_lock(&e->wmu);
    DP_SMAP_FOREACH(&e->mocks, mi)
    {
        dp_mock_t *m = e->mocks.ents[mi].val;
        if (strcmp(m->ns, ns) != 0 || atomic_load(&m->closed_at) != 0 ||
            strncmp(m->id, "rec-", 4) != 0)
            continue;
        json_t *o = json_loads(m->json, 0, NULL);
        const json_t *rec = json_object_get(o, "recording");
        const char *sv = json_string_value(json_object_get(rec, "service"));
        const char *meth = json_string_value(json_object_get(rec, "method"));
        const char *path = json_string_value(json_object_get(rec, "path"));
        if (sv && meth && path && (!service || strcmp(service, sv) == 0)) {
            json_t *s = cov_service(map, sv, NULL);
            json_t *eps = json_object_get(s, "endpoints");
            json_t *key = json_sprintf("%s %s", meth, path);
            json_t *ep =
                key ? json_object_get(eps, json_string_value(key)) : NULL;
            if (key && ep == NULL) {
                ep = json_pack("{s:s, s:s, s:i, s:i, s:I, s:n}", "method", meth,
                               "path", path, "recordedMocks", 0, "responses", 0,
                               "hits", (json_int_t)0, "lastSeen");
                json_object_set_new(eps, json_string_value(key), ep);
            }
            if (ep) {
                int64_t hits = atomic_load(&m->use_counter);
                int64_t last = atomic_load(&m->last_use);
                add_int(ep, "recordedMocks", 1);
                add_int(ep, "responses", (json_int_t)m->n_resps);
                add_int(ep, "hits", hits);
                max_time(ep, last);
                add_int(s, "recordedMocks", 1);
                add_int(s, "hits", hits);
                max_time(s, last);
            }
            json_decref(key);
        }
        json_decref(o);
    }
    pthread_mutex_unlock(&e->wmu);

    pthread_mutex_lock(&e->cov_mu);
    const char *k;
    json_t *v;
    size_t nsl = strlen(ns);
    json_object_foreach(e->cov_miss, k, v)
    {
        if (strncmp(k, ns, nsl) != 0 || k[nsl] != '\x1f')
            continue;
        const char *s1 = k + nsl + 1;
        const char *s2 = strchr(s1, '\x1f');
        const char *s3 = s2 ? strchr(s2 + 1, '\x1f') : NULL;
        if (s3 == NULL)
            continue;
        char sv[80], meth[40];
        snprintf(sv, sizeof(sv), "%.*s", (int)(s2 - s1), s1);
        snprintf(meth, sizeof(meth), "%.*s", (int)(s3 - s2 - 1), s2 + 1);
        if (service && strcmp(service, sv) != 0)
            continue;
        json_t *s = cov_service(map, sv, NULL);
        json_array_append_new(json_object_get(s, "misses"),
                              json_pack("{s:s, s:s, s:O, s:O}", "method", meth,
                                        "path", s3 + 1, "count",
                                        json_array_get(v, 0), "lastSeen",
                                        json_array_get(v, 1)));
    }
    pthread_mutex_unlock(&e->cov_mu);

    if (service && json_object_get(map, service) == NULL) {
        json_decref(map);
        dp_err_set(err, 404, "not_found", "service",
                   "no service %s in namespace %s", service, ns);
        return -ENOENT;
    }
    json_t *svcs = json_array();
    json_object_foreach(map, k, v)
    {
        json_t *eps = sorted_values(json_object_get(v, "endpoints"));
        json_object_set_new(v, "endpoints", eps ? eps : json_array());
        json_t *ms = json_object_get(v, "misses");
        size_t nm = json_array_size(ms);
        json_t **arr = calloc(nm ? nm : 1, sizeof(*arr));
        if (arr) {
            for (size_t j = 0; j < nm; j++)
                arr[j] = json_array_get(ms, j);
            qsort(arr, nm, sizeof(*arr), by_name);
            json_t *sorted = json_array();
            for (size_t j = 0; sorted && j < nm; j++)
                json_array_append(sorted, arr[j]);
            free(arr);
            if (sorted)
                json_object_set_new(v, "misses", sorted);
        }
        json_array_append(svcs, v);
    }
    json_decref(map);
    *out = json_pack("{s:s, s:o}", "namespace", ns, "services",
                     svcs ? svcs : json_array());
    return *out ? 0 : -ENOMEM;
nomem:
    dp_err_set(err, 500, "internal", "", "out of memory");
    return -ENOMEM;
}
