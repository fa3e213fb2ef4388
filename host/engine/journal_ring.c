/*
 * Bounded rings of exchange records (the journal and the unmatched list),
 * one ring per namespace (see "the ring" below).
 *
 * Bounded in entries per namespace and in bytes over all of them, so memory
 * stays flat however long the process serves; the oldest record is dropped
 * first. Recording sits on the request path, so a record is one malloc
 * filled with memcpy: no JSON is built until someone lists the ring. One
 * short mutex per list; a push is a map lookup, a few pointer stores and a
 * heap fix-up.
 *
 * Record layout after the fixed header: a sequence of fields, each a uint32
 * length, the bytes, and a NUL: namespace, protocol, method, path,
 * requestId, mockId, body (truncated to journal_body_max), then n_params
 * name/value pairs, then n_headers name/value pairs (names lower-cased,
 * credential values already replaced by "[REDACTED]": the engine's list,
 * built-in names plus [server] redact_headers, for every request), then,
 * for a forwarded request to a record-and-replay service, its name, then,
 * when the exchange names one, its server within the namespace (the SOAP
 * service of the WSDL, the MCP serverName): what a mock made from the
 * entry needs beside the operation and the path; then, for an exchange
 * that arrived on a connection (ABI 1.2) and for what a plugin sent on one
 * (engine_journal), the connection's id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"
#include "engine_internal.h"

struct dp_jrec {
    uint64_t id;         /* set by dp_ring_push, unique in the process */
    int64_t time_ms;
    int32_t status;
    uint32_t latency_us;
    uint64_t body_size;
    uint32_t n_params, n_headers;
    uint8_t truncated;
    uint8_t fwd;         /* JREC_FWD_* */
    uint8_t has_server;  /* the server field follows the service field */
    uint8_t ignored;     /* hidden from lists that skip ignored entries;
                            written under the ring's mutex */
    uint8_t has_conn;    /* the connection field follows the server field */
    uint8_t dir;         /* JREC_DIR_* */
    char end_reason[16]; /* how a stream ended (JREC_DIR_END) */
    char fwd_reason[16]; /* why forwarding failed, "" when it did not */
    char limit[24];      /* the limit the request hit, "" when none */
    uint64_t seq;        /* order of arrival in its ring (set by the push) */
    char *near; /* nearMisses as JSON text (unmatched records), or NULL */
    char *reason; /* a protocol plugin's sentence on the miss, or NULL */
    size_t len;
    char data[];
};

/* ---- building ---------------------------------------------------------- */

static size_t field_size(size_t len) { return 4 + len + 1; }

static char *put_field(char *p, const char *s, size_t len)
{
    uint32_t l = (uint32_t)len;
    memcpy(p, &l, 4);
    if (len)
        memcpy(p + 4, s, len);
    p[4 + len] = '\0';
    return p + 4 + len + 1;
}

static char *put_str(char *p, doppel_str_t s)
{
    return put_field(p, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

/* Which way an entry went: a plain request names no connection; an
 * exchange that arrived on one is "in"; what a plugin sent on one "out";
 * a stream's end is its own kind. */
#define JREC_DIR_NONE 0
#define JREC_DIR_IN 1
#define JREC_DIR_OUT 2
#define JREC_DIR_END 3

/* The forward's marks: the service field follows the headers; the
 * plugin reported the end (ABI 1.1 engine_forwarded). */
#define JREC_FWD_SERVICE 0x1u
#define JREC_FWD_REPORTED 0x2u

/* The exchange's server, empty when it names none or when its plugin was
 * built against an ABI whose exchange ends before the field. */
static doppel_str_t exchange_server(const doppel_exchange_t *x)
{
    doppel_str_t none = {NULL, 0};
    if (x->size < offsetof(doppel_exchange_t, server) + sizeof(x->server) ||
        x->server.ptr == NULL)
        return none;
    return x->server;
}

/* The connection the exchange arrived on, empty for a plain request or a
 * plugin whose exchange ends before the field; cut to JREC_CONN_MAX. */
#define JREC_CONN_MAX 64
static doppel_str_t exchange_connection(const doppel_exchange_t *x)
{
    doppel_str_t none = {NULL, 0};
    if (x->size <
            offsetof(doppel_exchange_t, connection) + sizeof(x->connection) ||
        x->connection.ptr == NULL || x->connection.len == 0)
        return none;
    doppel_str_t c = x->connection;
    if (c.len > JREC_CONN_MAX)
        c.len = JREC_CONN_MAX;
    return c;
}

static dp_jrec_t *jrec_build(const dp_engine_t *e, const doppel_exchange_t *x,
                             const char *ns, doppel_str_t path, size_t body_max,
                             int64_t time_ms, int status, const char *mock_id,
                             char *near, const char *service)
{
    size_t blen = x->body ? x->body_len : 0;
    int trunc = blen > body_max;
    if (trunc)
        blen = body_max;
    size_t nsl = strlen(ns), midl = mock_id ? strlen(mock_id) : 0;
    size_t n = field_size(nsl) + field_size(x->protocol.len) +
               field_size(x->operation.len) + field_size(path.len) +
               field_size(x->request_id.len) + field_size(midl) +
               field_size(blen);
    for (size_t i = 0; i < x->n_params; i++)
        n += field_size(x->params[i].name.len) +
             field_size(x->params[i].value.len);
    for (size_t i = 0; i < x->n_metadata; i++)
        n += field_size(x->metadata[i].name.len) +
             field_size(x->metadata[i].value.len > 12
                            ? x->metadata[i].value.len
                            : 12); /* room for "[REDACTED]" */
    size_t svl = service ? strlen(service) : 0;
    if (service)
        n += field_size(svl);
    doppel_str_t server = exchange_server(x);
    if (server.len)
        n += field_size(server.len);
    doppel_str_t conn = exchange_connection(x);
    if (conn.len)
        n += field_size(conn.len);
    dp_jrec_t *r = malloc(sizeof(*r) + n);
    if (r == NULL) {
        free(near);
        return NULL;
    }
    r->time_ms = time_ms;
    r->status = status;
    r->latency_us = 0;
    r->body_size = x->body ? x->body_len : 0;
    r->n_params = (uint32_t)x->n_params;
    r->n_headers = (uint32_t)x->n_metadata;
    r->truncated = (uint8_t)trunc;
    r->fwd = service ? JREC_FWD_SERVICE : 0;
    r->has_server = server.len > 0;
    r->has_conn = conn.len > 0;
    r->dir = conn.len > 0 ? JREC_DIR_IN : JREC_DIR_NONE;
    r->end_reason[0] = '\0';
    r->fwd_reason[0] = '\0';
    r->limit[0] = '\0';
    r->near = near;
    r->reason = NULL;
    char *p = r->data;
    p = put_field(p, ns, nsl);
    p = put_str(p, x->protocol);
    p = put_str(p, x->operation);
    p = put_str(p, path);
    p = put_str(p, x->request_id);
    p = put_field(p, mock_id ? mock_id : "", midl);
    p = put_field(p, (const char *)x->body, blen);
    for (size_t i = 0; i < x->n_params; i++) {
        p = put_str(p, x->params[i].name);
        p = put_str(p, x->params[i].value);
    }
    for (size_t i = 0; i < x->n_metadata; i++) {
        const doppel_kv_t *kv = &x->metadata[i];
        char *name = p + 4;
        p = put_str(p, kv->name);
        for (size_t k = 0; k < kv->name.len; k++)
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        if (dp_engine_header_redacted(e, name, kv->name.len))
            p = put_field(p, "[REDACTED]", 10);
        else
            p = put_str(p, kv->value);
    }
    if (service)
        p = put_field(p, service, svl);
    if (server.len)
        p = put_str(p, server);
    if (conn.len)
        p = put_str(p, conn);
    r->len = (size_t)(p - r->data);
    return r;
}

dp_jrec_t *dp_jrec_build(const dp_engine_t *e, const doppel_exchange_t *x,
                         const char *ns, doppel_str_t path, size_t body_max,
                         int64_t time_ms, int status, const char *mock_id,
                         char *near)
{
    return jrec_build(e, x, ns, path, body_max, time_ms, status, mock_id, near,
                      NULL);
}

dp_jrec_t *dp_jrec_build_proxy(const dp_engine_t *e, const doppel_exchange_t *x,
                               const char *ns, doppel_str_t path,
                               size_t body_max, int64_t time_ms,
                               const char *mock_id, const char *service)
{
    return jrec_build(e, x, ns, path, body_max, time_ms, 0, mock_id, NULL,
                      service && service[0] ? service : NULL);
}

void dp_jrec_set_note(dp_jrec_t *r, int end, const char *reason)
{
    if (r == NULL)
        return;
    r->dir = end ? JREC_DIR_END : JREC_DIR_OUT;
    const char *why = end && reason ? reason : "";
    dp_strncpyz(r->end_reason, sizeof(r->end_reason), why, strlen(why));
}

void dp_jrec_forwarded(dp_jrec_t *r, int status, const char *reason)
{
    if (r == NULL)
        return;
    r->status = status;
    r->fwd |= JREC_FWD_REPORTED;
    snprintf(r->fwd_reason, sizeof(r->fwd_reason), "%s", reason ? reason : "");
}

void dp_jrec_set_limit(dp_jrec_t *r, const char *limit)
{
    if (r && limit)
        snprintf(r->limit, sizeof(r->limit), "%s", limit);
}

void dp_jrec_set_reason(dp_jrec_t *r, const char *reason)
{
    if (r == NULL || reason == NULL || r->reason != NULL)
        return;
    r->reason = strdup(reason); /* none on ENOMEM: the entry stays */
}

void dp_jrec_set_latency(dp_jrec_t *r, uint32_t us)
{
    if (r)
        r->latency_us = us;
}

static void jrec_free(dp_jrec_t *r)
{
    if (r) {
        free(r->near);
        free(r->reason);
        free(r);
    }
}

/* ---- reading back ------------------------------------------------------ */

typedef struct field {
    const char *s;
    size_t len;
} field_t;

static const char *get_field(const char *p, field_t *f)
{
    uint32_t l;
    memcpy(&l, p, 4);
    f->s = p + 4;
    f->len = l;
    return p + 4 + l + 1;
}

/* A JSON string of valid UTF-8 (a cut multi-byte tail is shortened), or
 * NULL when the bytes are not text. */
static json_t *text_or_null(const char *s, size_t len)
{
    for (int back = 0; back < 4 && (size_t)back <= len; back++) {
        json_t *v = json_stringn(s, len - (size_t)back);
        if (v)
            return v;
    }
    return NULL;
}

static json_t *text_or_marker(field_t f)
{
    json_t *v = json_stringn(f.s, f.len);
    return v ? v : json_string("[binary]");
}


static json_t *jrec_json(const dp_jrec_t *r)
{
    json_t *j = json_object();
    if (j == NULL)
        return NULL;
    /* RFC 3339 with milliseconds for people, and the exact integer for
     * programs. */
    char iso[40];
    time_t secs = (time_t)(r->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t il = strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso + il, sizeof(iso) - il, ".%03dZ", (int)(r->time_ms % 1000));
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, r->id);
    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "ignored", json_boolean(r->ignored));
    json_object_set_new(j, "time", json_string(iso));
    json_object_set_new(j, "timeMs", json_integer(r->time_ms));

    field_t ns, proto, method, path, rid, mid, body;
    const char *p = r->data;
    p = get_field(p, &ns);
    p = get_field(p, &proto);
    p = get_field(p, &method);
    p = get_field(p, &path);
    p = get_field(p, &rid);
    p = get_field(p, &mid);
    p = get_field(p, &body);
    json_object_set_new(j, "namespace", text_or_marker(ns));
    json_object_set_new(j, "protocol", text_or_marker(proto));
    json_object_set_new(j, "method", text_or_marker(method));
    json_object_set_new(j, "path", text_or_marker(path));
    json_object_set_new(j, "requestId", text_or_marker(rid));

    json_t *qo = json_object();
    for (uint32_t i = 0; i < r->n_params; i++) {
        field_t n, v;
        p = get_field(p, &n);
        p = get_field(p, &v);
        /* the first value of a repeated parameter wins */
        if (qo && memchr(n.s, '\0', n.len) == NULL &&
            json_object_getn(qo, n.s, n.len) == NULL)
            json_object_setn_new(qo, n.s, n.len, text_or_marker(v));
    }
    json_object_set_new(j, "query", qo ? qo : json_object());

    json_t *ho = json_object();
    for (uint32_t i = 0; i < r->n_headers; i++) {
        field_t n, v;
        p = get_field(p, &n);
        p = get_field(p, &v);
        if (ho == NULL || memchr(n.s, '\0', n.len) != NULL)
            continue;
        json_t *val = text_or_marker(v);
        json_t *prev = json_object_getn(ho, n.s, n.len);
        if (prev == NULL)
            json_object_setn_new(ho, n.s, n.len, val);
        else if (json_is_array(prev))
            json_array_append_new(prev, val);
        else
            json_object_setn_new(ho, n.s, n.len, json_pack("[Oo]", prev, val));
    }
    json_object_set_new(j, "headers", ho ? ho : json_object());
    field_t svc = {NULL, 0};
    if (r->fwd & JREC_FWD_SERVICE)
        p = get_field(p, &svc);
    field_t server = {NULL, 0};
    if (r->has_server)
        p = get_field(p, &server);
    field_t conn = {NULL, 0};
    if (r->has_conn)
        p = get_field(p, &conn);

    json_t *b = text_or_null(body.s, body.len);
    if (b == NULL) {
        /* not text: keep the (truncated) bytes as base64 */
        char *enc = dp_b64_encode((const unsigned char *)body.s, body.len);
        b = enc ? json_string(enc) : NULL;
        free(enc);
        json_object_set_new(j, "bodyEncoding", json_string("base64"));
    }
    json_object_set_new(j, "body", b ? b : json_string(""));
    json_object_set_new(j, "bodySize", json_integer((json_int_t)r->body_size));
    json_object_set_new(j, "truncated", json_boolean(r->truncated));
    json_object_set_new(j, "status", json_integer(r->status));
    if (mid.len)
        json_object_set_new(j, "mockId", text_or_marker(mid));
    if (r->near) {
        json_t *near = json_loads(r->near, 0, NULL);
        json_object_set_new(j, "nearMisses", near ? near : json_array());
    }
    if (r->reason)
        json_object_set_new(j, "reason", json_string(r->reason));
    json_object_set_new(j, "latencyUs", json_integer(r->latency_us));
    if (r->limit[0])
        json_object_set_new(j, "limit", json_string(r->limit));
    if (svc.s)
        json_object_set_new(j, "service", text_or_marker(svc));
    if (server.s)
        json_object_set_new(j, "server", text_or_marker(server));
    if (conn.s)
        json_object_set_new(j, "connection", text_or_marker(conn));
    if (r->dir == JREC_DIR_IN || r->dir == JREC_DIR_OUT)
        json_object_set_new(j, "direction",
                            json_string(r->dir == JREC_DIR_IN ? "in" : "out"));
    else if (r->dir == JREC_DIR_END && !r->reason)
        json_object_set_new(j, "reason", json_string(r->end_reason));
    if (r->fwd & JREC_FWD_REPORTED) {
        json_object_set_new(j, "forwarded", json_true());
        if (r->fwd_reason[0])
            json_object_set_new(j, "forwardError", json_string(r->fwd_reason));
    }
    return j;
}

/* ---- the ring -----------------------------------------------------------
 * One ring per namespace, so one namespace's traffic never evicts
 * another's entries: a namespace past journal_size entries drops its own
 * oldest. Memory is bounded over every namespace by max_bytes: past it,
 * the namespace holding the most entries (the top of a max-heap; among
 * equals the one with the oldest entry) drops its oldest entry, again and
 * again, so a namespace is only ever cut back while it holds at least as
 * many as any other. A namespace ring that empties is
 * freed, and its bookkeeping (slots, name) is counted in its bytes, so the
 * number of namespaces cannot grow memory past the bound either. */

struct dp_nsring {
    char *ns;
    dp_jrec_t **items;       /* circular, cap slots */
    size_t cap, head, count; /* head: next write slot */
    size_t bytes;            /* records + this ring's own bookkeeping */
    size_t hpos;             /* index in the ring's heap */
};

/* What a record costs against max_bytes. */
static size_t jrec_cost(const dp_jrec_t *r)
{
    return sizeof(*r) + r->len + (r->near ? strlen(r->near) + 1 : 0) +
           (r->reason ? strlen(r->reason) + 1 : 0);
}

/* What a namespace ring costs besides its records: the struct, its name,
 * its slots, its heap and map entries. */
static size_t nsring_overhead(const dp_nsring_t *n)
{
    return sizeof(*n) + strlen(n->ns) + 1 + n->cap * sizeof(dp_jrec_t *) +
           sizeof(dp_nsring_t *) + sizeof(dp_smap_ent_t) * 2;
}

static uint64_t oldest_seq(const dp_nsring_t *n)
{
    return n->count ? n->items[(n->head + n->cap - n->count) % n->cap]->seq
                    : UINT64_MAX;
}

/* The ring that gives way first: the most entries, and among equals the
 * one with the oldest entry (so a flood over many namespaces of one entry
 * each drops the oldest requests, never the one that just arrived). */
static int heap_above(const dp_ring_t *r, size_t a, size_t b)
{
    const dp_nsring_t *x = r->heap[a], *y = r->heap[b];
    if (x->count != y->count)
        return x->count > y->count;
    return oldest_seq(x) < oldest_seq(y);
}

static void heap_swap(dp_ring_t *r, size_t a, size_t b)
{
    dp_nsring_t *t = r->heap[a];
    r->heap[a] = r->heap[b];
    r->heap[b] = t;
    r->heap[a]->hpos = a;
    r->heap[b]->hpos = b;
}

static void heap_fix(dp_ring_t *r, size_t i)
{
    while (i > 0 && heap_above(r, i, (i - 1) / 2)) {
        heap_swap(r, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->n_ns && heap_above(r, l, m))
            m = l;
        if (l + 1 < r->n_ns && heap_above(r, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        heap_swap(r, i, m);
        i = m;
    }
}

/* under mu: unlinks n from the heap and the map and frees it with its
 * records */
static void nsring_drop(dp_ring_t *r, dp_nsring_t *n)
{
    size_t i = n->hpos;
    r->n_ns--;
    if (i != r->n_ns) {
        heap_swap(r, i, r->n_ns);
        heap_fix(r, i);
    }
    dp_smap_del(&r->by_ns, n->ns);
    for (size_t k = 0; k < n->count; k++) {
        dp_jrec_t *it = n->items[(n->head + n->cap - 1 - k) % n->cap];
        r->bytes -= jrec_cost(it);
        jrec_free(it);
    }
    r->bytes -= nsring_overhead(n);
    r->count -= n->count;
    free(n->items);
    free(n->ns);
    free(n);
}

/* under mu: a new, empty ring for ns, or NULL on ENOMEM */
static dp_nsring_t *nsring_new(dp_ring_t *r, const char *ns)
{
    if (r->n_ns == r->heap_cap) {
        size_t nc = r->heap_cap ? r->heap_cap * 2 : 16;
        dp_nsring_t **h = realloc(r->heap, nc * sizeof(*h));
        if (h == NULL)
            return NULL;
        r->heap = h;
        r->heap_cap = nc;
    }
    dp_nsring_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->ns = strdup(ns);
    n->cap = r->per_ns < 16 ? r->per_ns : 16;
    n->items = calloc(n->cap, sizeof(*n->items));
    if (n->ns == NULL || n->items == NULL ||
        dp_smap_put(&r->by_ns, ns, n, NULL) < 0) {
        free(n->ns);
        free(n->items);
        free(n);
        return NULL;
    }
    n->bytes = nsring_overhead(n);
    r->bytes += n->bytes;
    n->hpos = r->n_ns;
    r->heap[r->n_ns++] = n;
    heap_fix(r, n->hpos);
    return n;
}

/* under mu: doubles the slots of n (at most per_ns), oldest first from 0;
 * 0 or -ENOMEM */
static int nsring_grow(dp_ring_t *r, dp_nsring_t *n)
{
    size_t nc = n->cap * 2 < r->per_ns ? n->cap * 2 : r->per_ns;
    dp_jrec_t **it = calloc(nc, sizeof(*it));
    if (it == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < n->count; k++)
        it[k] = n->items[(n->head + n->cap - n->count + k) % n->cap];
    size_t before = nsring_overhead(n);
    free(n->items);
    n->items = it;
    n->cap = nc;
    n->head = n->count % nc;
    n->bytes += nsring_overhead(n) - before;
    r->bytes += nsring_overhead(n) - before;
    return 0;
}

/* under mu: drops the oldest record of n (count > 0); frees n when it was
 * the last, unless keep (the caller is about to push into n). */
static void nsring_pop_oldest(dp_ring_t *r, dp_nsring_t *n, int keep)
{
    size_t i = (n->head + n->cap - n->count) % n->cap;
    dp_jrec_t *old = n->items[i];
    n->items[i] = NULL;
    n->count--;
    r->count--;
    size_t c = jrec_cost(old);
    n->bytes -= c;
    r->bytes -= c;
    jrec_free(old);
    if (n->count == 0 && !keep)
        nsring_drop(r, n);
    else
        heap_fix(r, n->hpos);
}

int dp_ring_init(dp_ring_t *r, size_t per_ns, size_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->per_ns = per_ns ? per_ns : 1;
    r->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
    pthread_mutex_init(&r->mu, NULL);
    r->inited = 1;
    return 0;
}

void dp_ring_destroy(dp_ring_t *r)
{
    if (!r->inited)
        return;
    while (r->n_ns > 0)
        nsring_drop(r, r->heap[r->n_ns - 1]);
    free(r->heap);
    dp_smap_free(&r->by_ns);
    pthread_mutex_destroy(&r->mu);
    r->inited = 0;
}

/* The namespace is the record's first field, NUL-terminated. */
static const char *rec_ns(const dp_jrec_t *rec)
{
    return rec->data + 4;
}

/* One sequence for every ring, so an id names one entry of the process
 * whichever list it is in; never 0. */
static _Atomic uint64_t jrec_seq;

void dp_ring_push(dp_ring_t *r, dp_jrec_t *rec)
{
    if (rec == NULL)
        return;
    rec->id = atomic_fetch_add(&jrec_seq, 1) + 1;
    rec->ignored = 0;
    size_t cost = jrec_cost(rec);
    pthread_mutex_lock(&r->mu);
    dp_nsring_t *n = dp_smap_get(&r->by_ns, rec_ns(rec));
    if (n == NULL)
        n = nsring_new(r, rec_ns(rec));
    if (n == NULL) {
        pthread_mutex_unlock(&r->mu);
        jrec_free(rec); /* ENOMEM: the entry is lost, nothing else */
        return;
    }
    /* its own share first: past journal_size it drops its own oldest */
    if (n->count == n->cap && (n->cap == r->per_ns || nsring_grow(r, n) < 0))
        nsring_pop_oldest(r, n, 1);
    rec->seq = r->seq++;
    n->items[n->head] = rec;
    n->head = (n->head + 1) % n->cap;
    n->count++;
    n->bytes += cost;
    r->count++;
    r->bytes += cost;
    r->total_seen++;
    heap_fix(r, n->hpos);
    /* then the bound over every namespace: the largest gives way */
    while (r->bytes > r->max_bytes && r->n_ns > 0)
        nsring_pop_oldest(r, r->heap[0], 0);
    pthread_mutex_unlock(&r->mu);
}

/* The k-th newest record of n (k < count). */
static const dp_jrec_t *nth_newest(const dp_nsring_t *n, size_t k)
{
    return n->items[(n->head + n->cap - 1 - k) % n->cap];
}

/* A cursor of the merge over every namespace: the next record of ring n. */
typedef struct cursor {
    const dp_nsring_t *n;
    size_t k;
} cursor_t;

static uint64_t cur_seq(const cursor_t *c)
{
    return nth_newest(c->n, c->k)->seq;
}

/* Max-heap of cursors on the sequence number of their next record. */
static void cur_down(cursor_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cur_seq(&h[l]) > cur_seq(&h[m]))
            m = l;
        if (l + 1 < n && cur_seq(&h[l + 1]) > cur_seq(&h[m]))
            m = l + 1;
        if (m == i)
            return;
        cursor_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

json_t *dp_ring_list(dp_ring_t *r, const char *ns, size_t offset,
                     size_t limit)
{
    if (limit == 0)
        limit = 100;
    if (limit > 1000)
        limit = 1000;
    json_t *items = json_array();
    if (items == NULL)
        return NULL;
    size_t total = 0;
    pthread_mutex_lock(&r->mu);
    if (ns != NULL) {
        const dp_nsring_t *n = dp_smap_get(&r->by_ns, ns);
        total = n ? n->count : 0;
        for (size_t k = offset; n && k < n->count && k < offset + limit; k++)
            json_array_append_new(items, jrec_json(nth_newest(n, k)));
    } else {
        /* every namespace, newest first: a merge of the rings on arrival
         * order that stops after offset + limit records */
        total = r->count;
        cursor_t *h = calloc(r->n_ns ? r->n_ns : 1, sizeof(*h));
        size_t nh = 0;
        for (size_t i = 0; h && i < r->n_ns; i++)
            h[nh++] = (cursor_t){r->heap[i], 0};
        for (size_t i = nh / 2; i-- > 0;)
            cur_down(h, nh, i);
        for (size_t k = 0; h && nh > 0 && k < offset + limit; k++) {
            if (k >= offset)
                json_array_append_new(items,
                                      jrec_json(nth_newest(h[0].n, h[0].k)));
            if (++h[0].k == h[0].n->count)
                h[0] = h[--nh];
            cur_down(h, nh, 0);
        }
        free(h);
    }
    pthread_mutex_unlock(&r->mu);
    return json_pack("{s:o, s:I, s:I, s:I, s:b}", "items", items, "total",
                     (json_int_t)total, "offset", (json_int_t)offset, "limit",
                     (json_int_t)limit, "hasMore", offset + limit < total);
}

void dp_ring_clear(dp_ring_t *r, const char *ns)
{
    pthread_mutex_lock(&r->mu);
    if (ns == NULL) {
        while (r->n_ns > 0)
            nsring_drop(r, r->heap[r->n_ns - 1]);
    } else {
        dp_nsring_t *n = dp_smap_get(&r->by_ns, ns);
        if (n)
            nsring_drop(r, n);
    }
    pthread_mutex_unlock(&r->mu);
}

size_t dp_ring_bytes(dp_ring_t *r, size_t *namespaces)
{
    pthread_mutex_lock(&r->mu);
    size_t b = r->bytes;
    if (namespaces)
        *namespaces = r->n_ns;
    pthread_mutex_unlock(&r->mu);
    return b;
}

/* ---- by id, by mock, ignored entries ------------------------------------ */

typedef int (*rec_pred_fn)(const dp_jrec_t *rec, const void *ctx);

/* dp_ring_list's answer over the records pred keeps (ns NULL: every
 * namespace, newest first by arrival). total counts every kept record, so
 * the whole ring (or namespace) is walked. */
static json_t *list_where(dp_ring_t *r, const char *ns, rec_pred_fn pred,
                          const void *ctx, size_t offset, size_t limit)
{
    if (limit == 0)
        limit = 100;
    if (limit > 1000)
        limit = 1000;
    json_t *items = json_array();
    if (items == NULL)
        return NULL;
    size_t total = 0;
    pthread_mutex_lock(&r->mu);
    if (ns != NULL) {
        const dp_nsring_t *n = dp_smap_get(&r->by_ns, ns);
        for (size_t k = 0; n && k < n->count; k++) {
            const dp_jrec_t *it = nth_newest(n, k);
            if (!pred(it, ctx))
                continue;
            if (total >= offset && total < offset + limit)
                json_array_append_new(items, jrec_json(it));
            total++;
        }
    } else {
        cursor_t *h = calloc(r->n_ns ? r->n_ns : 1, sizeof(*h));
        size_t nh = 0;
        for (size_t i = 0; h && i < r->n_ns; i++)
            h[nh++] = (cursor_t){r->heap[i], 0};
        for (size_t i = nh / 2; i-- > 0;)
            cur_down(h, nh, i);
        while (h && nh > 0) {
            const dp_jrec_t *it = nth_newest(h[0].n, h[0].k);
            if (pred(it, ctx)) {
                if (total >= offset && total < offset + limit)
                    json_array_append_new(items, jrec_json(it));
                total++;
            }
            if (++h[0].k == h[0].n->count)
                h[0] = h[--nh];
            cur_down(h, nh, 0);
        }
        free(h);
    }
    pthread_mutex_unlock(&r->mu);
    return json_pack("{s:o, s:I, s:I, s:I, s:b}", "items", items, "total",
                     (json_int_t)total, "offset", (json_int_t)offset, "limit",
                     (json_int_t)limit, "hasMore", offset + limit < total);
}

static int not_ignored(const dp_jrec_t *rec, const void *ctx)
{
    (void)ctx;
    return !rec->ignored;
}

json_t *dp_ring_list_ex(dp_ring_t *r, const char *ns, int include_ignored,
                        size_t offset, size_t limit)
{
    if (include_ignored)
        return dp_ring_list(r, ns, offset, limit);
    return list_where(r, ns, not_ignored, NULL, offset, limit);
}

/* The record's mockId (its sixth field) is ctx. */
static int mock_is(const dp_jrec_t *rec, const void *ctx)
{
    const char *id = ctx;
    const char *p = rec->data;
    field_t f;
    for (int i = 0; i < 6; i++)
        p = get_field(p, &f);
    return strlen(id) == f.len && memcmp(f.s, id, f.len) == 0;
}

/* The record's connection (the last field, when it has one) is ctx. */
static int conn_is(const dp_jrec_t *rec, const void *ctx)
{
    const char *id = ctx;
    if (!rec->has_conn)
        return 0;
    const char *p = rec->data;
    field_t f;
    size_t skip = 7 + 2 * (size_t)rec->n_params + 2 * (size_t)rec->n_headers +
                  ((rec->fwd & JREC_FWD_SERVICE) ? 1 : 0) +
                  (rec->has_server ? 1 : 0);
    for (size_t i = 0; i <= skip; i++)
        p = get_field(p, &f);
    return strlen(id) == f.len && memcmp(f.s, id, f.len) == 0;
}

json_t *dp_ring_list_conn(dp_ring_t *r, const char *ns, const char *conn,
                          size_t offset, size_t limit)
{
    return list_where(r, ns, conn_is, conn, offset, limit);
}

json_t *dp_ring_list_mock(dp_ring_t *r, const char *mock_id, size_t offset,
                          size_t limit)
{
    return list_where(r, NULL, mock_is, mock_id, offset, limit);
}

/* under mu: the record with that id, or NULL */
static dp_jrec_t *find_locked(dp_ring_t *r, uint64_t id)
{
    for (size_t i = 0; i < r->n_ns; i++) {
        const dp_nsring_t *n = r->heap[i];
        for (size_t k = 0; k < n->count; k++) {
            dp_jrec_t *it = n->items[(n->head + n->cap - 1 - k) % n->cap];
            if (it->id == id)
                return it;
        }
    }
    return NULL;
}

json_t *dp_ring_get(dp_ring_t *r, uint64_t id)
{
    pthread_mutex_lock(&r->mu);
    dp_jrec_t *it = find_locked(r, id);
    json_t *j = it ? jrec_json(it) : NULL;
    pthread_mutex_unlock(&r->mu);
    return j;
}

int dp_ring_set_ignored(dp_ring_t *r, uint64_t id, int ignored)
{
    pthread_mutex_lock(&r->mu);
    dp_jrec_t *it = find_locked(r, id);
    if (it != NULL)
        it->ignored = (uint8_t)(ignored != 0);
    pthread_mutex_unlock(&r->mu);
    return it ? 0 : -ENOENT;
}

/* under mu: removes n's records of mock_id, keeping the others in order;
 * returns how many went (n is freed when none is left). */
static size_t nsring_remove_mock(dp_ring_t *r, dp_nsring_t *n,
                                 const char *mock_id)
{
    size_t nk = 0, nd = 0, count = n->count;
    dp_jrec_t **tmp = malloc(count * sizeof(*tmp));
    if (tmp == NULL)
        return 0;
    for (size_t k = 0; k < count; k++) {
        /* oldest first */
        size_t i = (n->head + n->cap - count + k) % n->cap;
        dp_jrec_t *it = n->items[i];
        n->items[i] = NULL;
        if (!mock_is(it, mock_id)) {
            tmp[nk++] = it;
            continue;
        }
        size_t c = jrec_cost(it);
        n->bytes -= c;
        r->bytes -= c;
        jrec_free(it);
        nd++;
    }
    for (size_t k = 0; k < nk; k++)
        n->items[k] = tmp[k];
    free(tmp);
    n->count = nk;
    n->head = nk % n->cap;
    r->count -= nd;
    if (nk == 0)
        nsring_drop(r, n);
    else
        heap_fix(r, n->hpos);
    return nd;
}

size_t dp_ring_clear_mock(dp_ring_t *r, const char *mock_id)
{
    size_t removed = 0;
    pthread_mutex_lock(&r->mu);
    /* the rings first, since a ring that empties leaves the heap */
    dp_nsring_t **all = malloc((r->n_ns ? r->n_ns : 1) * sizeof(*all));
    size_t n = all ? r->n_ns : 0;
    for (size_t i = 0; i < n; i++)
        all[i] = r->heap[i];
    for (size_t i = 0; i < n; i++)
        removed += nsring_remove_mock(r, all[i], mock_id);
    free(all);
    pthread_mutex_unlock(&r->mu);
    return removed;
}

json_t *dp_ring_ns_counts(dp_ring_t *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_ns; i++)
        json_object_set_new(o, r->heap[i]->ns,
                            json_integer((json_int_t)r->heap[i]->count));
    pthread_mutex_unlock(&r->mu);
    return o;
}
