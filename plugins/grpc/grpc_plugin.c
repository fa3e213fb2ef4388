/*
 * The gRPC mock protocol plugin: serves mocks whose protocol section is
 * "grpc" over HTTP/2 (h2c, prior knowledge), on a port of its own
 * (svc->conn_listen, default 127.0.0.1:4770) and on the host's main port
 * (svc->conn_claim of the HTTP/2 client preface).
 *
 * Layers:
 *   grpc_wire (h2_conn.c, grpc_call.c): nghttp2 server session + gRPC
 *     framing, transport-agnostic; fed by this file from the connection;
 *   pb/ (C++): the .proto pools, binary <-> proto3 JSON, write-time checks,
 *     google.rpc.Status, reflection descriptors;
 *   grpc_schema.c: the pools shared by the section's instances, uploads,
 *     and the mock section check the engine calls;
 *   grpc_builtin.c: server reflection and health;
 *   this file: instances, connections, calls: each call becomes one engine
 *     exchange (unary, server-stream: the request message; client-stream:
 *     the document of every message, at half-close) or one engine session
 *     (bidirectional: every message matched in it), and the reply becomes
 *     headers, messages on timers, and trailers.
 *
 * Threading: one instance per worker; all of it runs on that worker's loop.
 * The shared pools are read under references (grpc_schema.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc_plugin.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
/* bytes of client-stream messages one call may collect */
#define CLIENT_STREAM_MAX ((size_t)64 << 20)
/* the near misses in a NOT_FOUND grpc-message */
#define MISS_TEXT_MAX 1024

typedef struct grpc_conn {
    grpc_inst_t *in;
    doppel_conn_t *conn;
    gw_conn_t *gw;
    int closing;
    int dirty; /* queued frames wait for a flush */
    size_t held; /* bytes of answers queued on timers for this client */
    struct grpc_conn *prev, *next;
    struct grpc_conn *dirty_next;
    char remote[64];
} grpc_conn_t;

/* One answer step on a timer: a message to send, or the end of the call. */
typedef struct grpc_send {
    grpc_call_t *gc;
    doppel_timer_t *timer;
    char *json;      /* message JSON (NULL: finish) */
    size_t len;
    int code;        /* finish: status */
    char *message;   /* finish: grpc-message */
    uint8_t *details; /* finish: serialised google.rpc.Status */
    size_t details_len;
    gw_md_t *trailers;
    size_t n_trailers;
    char *trailer_mem;
    int counted; /* len is in the connection's held bytes */
    uint64_t delay; /* ms after the step before it (the first: after the
                       answer was chosen) */
    struct grpc_send *next;
} grpc_send_t;

static const doppel_option_t grpc_options[] = {
    {"listen", DOPPEL_OPT_STRING, 0, "127.0.0.1:4770",
     "own HTTP/2 (h2c) listener, HOST:PORT, or off", 0, -1, {0}},
    {"main_port", DOPPEL_OPT_BOOL, 0, "true",
     "also take HTTP/2 prior-knowledge connections on the main port", 0, -1,
     {0}},
    {"proto_path", DOPPEL_OPT_STRING, 0, NULL,
     "colon-separated directories of .proto files, loaded at start", 0, -1,
     {0}},
    {"namespace", DOPPEL_OPT_STRING, 0, "sandbox",
     "namespace of calls without x-doppel-namespace metadata", 0, -1, {0}},
    {"max_message_size", DOPPEL_OPT_SIZE, 0, "4m",
     "largest request message; larger: RESOURCE_EXHAUSTED", 1024,
     (int64_t)1 << 30, {0}},
    {"max_concurrent_streams", DOPPEL_OPT_INT, 0, "100",
     "calls in flight per connection (SETTINGS_MAX_CONCURRENT_STREAMS)", 1,
     100000, {0}},
    {"max_header_list_size", DOPPEL_OPT_SIZE, 0, "16k",
     "largest request header block (metadata)", 1024, 16 << 20, {0}},
    {"reflection", DOPPEL_OPT_BOOL, 0, "true",
     "serve grpc.reflection.v1 and v1alpha", 0, -1, {0}},
    {"health", DOPPEL_OPT_BOOL, 0, "true", "serve grpc.health.v1", 0, -1,
     {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

/* ---- connections -------------------------------------------------------- */

static int wire_send(void *ud, const uint8_t *bytes, size_t len)
{
    grpc_conn_t *c = ud;
    int rc = c->in->svc->conn_write(c->conn, bytes, len, NULL, NULL);
    return rc == 0 ? 0 : -ENOBUFS;
}

static size_t wire_pending(void *ud)
{
    grpc_conn_t *c = ud;
    return c->in->svc->conn_pending(c->conn);
}

static void conn_check_done(grpc_conn_t *c);
static void conn_resume_blocked(grpc_conn_t *c);

/* Queued frames go out in one write: every place that produced frames
 * outside gw_conn_feed calls this after it. */
static void conn_flush(grpc_conn_t *c)
{
    if (c == NULL || c->gw == NULL)
        return;
    c->dirty = 0;
    gw_conn_flush(c->gw);
    conn_check_done(c);
}

static void wire_wake(void *ud)
{
    grpc_conn_t *c = ud;
    c->dirty = 1;
}

static uint64_t wire_now(void *ud)
{
    grpc_conn_t *c = ud;
    return c->in->svc->now_ms(c->in->ctx);
}

static const gw_conn_ops_t wire_ops = {
    .send = wire_send,
    .pending = wire_pending,
    .wake = wire_wake,
    .now_ms = wire_now,
};

static void conn_on_close(void *data, doppel_conn_t *dc)
{
    (void)dc;
    grpc_conn_t *c = data;
    grpc_inst_t *in = c->in;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    in->n_conns--;
    if (c->gw)
        gw_conn_free(c->gw); /* calls still held get on_cancel */
    for (grpc_call_t *gc = in->calls; gc; gc = gc->next)
        if (gc->conn == c)
            gc->conn = NULL; /* finished, not yet released */
    free(c);
    if (in->stop_waiting && in->n_conns == 0 && in->calls == NULL) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

static void conn_close(grpc_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->in->svc->conn_close(c->conn, DOPPEL_CONN_CLOSE_FLUSH);
}

static void conn_check_done(grpc_conn_t *c)
{
    if (!c->closing && c->gw && gw_conn_done(c->gw))
        conn_close(c);
}

static void conn_on_read(void *data, doppel_conn_t *dc, const uint8_t *buf,
                         size_t len)
{
    (void)dc;
    grpc_conn_t *c = data;
    if (c->closing)
        return;
    int rc = gw_conn_feed(c->gw, buf, len);
    c->dirty = 0;
    if (rc == -ENOMEM) {
        conn_close(c);
        return;
    }
    conn_resume_blocked(c);
    conn_check_done(c);
}

static void conn_on_end(void *data, doppel_conn_t *dc, int rc)
{
    (void)dc;
    (void)rc;
    conn_close(data);
}

static void conn_on_drain(void *data, doppel_conn_t *dc)
{
    (void)dc;
    grpc_conn_t *c = data;
    if (c->closing)
        return;
    gw_conn_on_drain(c->gw);
    conn_flush(c);
    if (!c->closing)
        conn_resume_blocked(c);
}

static const doppel_conn_cbs_t conn_cbs = {
    .size = sizeof(doppel_conn_cbs_t),
    .on_read = conn_on_read,
    .on_end = conn_on_end,
    .on_drain = conn_on_drain,
    .on_close = conn_on_close,
};

static int on_accept(void *state, doppel_conn_t *dc,
                     const doppel_conn_info_t *info)
{
    grpc_inst_t *in = state;
    if (in->stopping)
        return -ESHUTDOWN;
    grpc_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->in = in;
    c->conn = dc;
    if (info && info->remote_addr.ptr)
        snprintf(c->remote, sizeof(c->remote), "%.*s",
                 (int)info->remote_addr.len, info->remote_addr.ptr);
    c->gw = gw_conn_new(&in->wire_cfg, &wire_ops, c);
    if (c->gw == NULL) {
        free(c);
        return -ENOMEM;
    }
    int rc = in->svc->conn_start(dc, &conn_cbs, c);
    if (rc < 0) {
        gw_conn_free(c->gw);
        free(c);
        return rc;
    }
    c->next = in->conns;
    if (in->conns)
        in->conns->prev = c;
    in->conns = c;
    in->n_conns++;
    if (in->draining)
        gw_conn_drain(c->gw);
    return 0;
}

/* ---- calls -------------------------------------------------------------- */

static void call_stop_sends(grpc_call_t *gc);

void grpc_count(grpc_call_t *gc, int code)
{
    char labels[512];
    const char *sv = gc->service ? gc->service : "";
    const char *m = gc->method ? gc->method : "";
    /* label values: the names come from the request path, so quote-safe
     * characters only */
    char s2[200], m2[120];
    size_t k = 0;
    for (size_t i = 0; sv[i] && k + 1 < sizeof(s2); i++)
        s2[k++] = (sv[i] == '"' || sv[i] == '\\' || sv[i] == '\n') ? '_' : sv[i];
    s2[k] = '\0';
    k = 0;
    for (size_t i = 0; m[i] && k + 1 < sizeof(m2); i++)
        m2[k++] = (m[i] == '"' || m[i] == '\\' || m[i] == '\n') ? '_' : m[i];
    m2[k] = '\0';
    snprintf(labels, sizeof(labels),
             "service=\"%s\",method=\"%s\",code=\"%s\"", s2, m2,
             gw_status_name(code));
    gc->in->svc->metric_add(gc->in->ctx, "calls", labels, 1);
}

static void call_unlink(grpc_call_t *gc)
{
    grpc_inst_t *in = gc->in;
    if (gc->prev)
        gc->prev->next = gc->next;
    else if (in->calls == gc)
        in->calls = gc->next;
    if (gc->next)
        gc->next->prev = gc->prev;
    gc->prev = gc->next = NULL;
}

/* Frees the call's memory once it is finished or cancelled, and no timer
 * holds it. */
static void call_free(grpc_call_t *gc)
{
    grpc_inst_t *in = gc->in;
    call_stop_sends(gc);
    if (gc->deadline_timer) {
        in->svc->timer_stop(gc->deadline_timer);
        gc->deadline_timer = NULL;
    }
    if (gc->session) {
        in->svc->engine_session_close(gc->session);
        gc->session = NULL;
    }
    call_unlink(gc);
    if (gc->call)
        gw_call_release(gc->call);
    gpb_pool_unref(gc->pool);
    free(gc->service);
    free(gc->method);
    free(gc->req_json);
    free(gc->msgs);
    free(gc->first_msg);
    free(gc);
    if (in->stop_waiting && in->n_conns == 0 && in->calls == NULL) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

static grpc_conn_t *call_conn(grpc_call_t *gc) { return gc->conn; }
static grpc_inst_t *in_of(grpc_call_t *gc) { return gc->in; }

void grpc_finish(grpc_call_t *gc, int code, const char *message)
{
    if (gc->finished)
        return;
    gc->finished = 1;
    gw_call_finish(gc->call, code, message, NULL, 0, NULL, 0);
    grpc_count(gc, code);
    conn_flush(call_conn(gc));
}

int grpc_send_json(grpc_call_t *gc, const char *type, const char *json,
                   size_t len, char *err, size_t errlen)
{
    uint8_t *bin = NULL;
    size_t bl = 0;
    int rc = gpb_encode_from_json(gc->pool, type, json, len, GPB_ENC_COERCE,
                                  &bin, &bl, err, errlen);
    if (rc < 0)
        return rc;
    if (bl > gc->in->wire_cfg.max_message_size) {
        snprintf(err, errlen,
                 "the response message (%zu bytes) is larger than "
                 "max_message_size (%u bytes)",
                 bl, (unsigned)gc->in->wire_cfg.max_message_size);
        free(bin);
        return -EMSGSIZE;
    }
    rc = gw_call_send_message(gc->call, bin, bl);
    free(bin);
    return rc;
}

/* Bytes of rendered answers one connection's calls may hold waiting for
 * their timers or for the client to read. A call whose answer would pass
 * it ends with RESOURCE_EXHAUSTED: the other calls and connections keep
 * their memory. */
#define CONN_HELD_MAX ((size_t)32 << 20)

static void send_free(grpc_send_t *s)
{
    if (s->counted && s->gc->conn && s->gc->conn->held >= s->len)
        s->gc->conn->held -= s->len;
    free(s->json);
    free(s->message);
    free(s->details);
    free(s->trailers);
    free(s->trailer_mem);
    free(s);
}

static void call_stop_sends(grpc_call_t *gc)
{
    grpc_send_t *s = gc->sends;
    while (s) {
        grpc_send_t *n = s->next;
        if (s->timer)
            gc->in->svc->timer_stop(s->timer);
        send_free(s);
        s = n;
    }
    gc->sends = NULL;
}

/* Runs the first queued step; the next one gets its own timer. */
static void send_fire(void *data);
static void steps_pump(grpc_call_t *gc, int due);

static int sends_schedule(grpc_call_t *gc, grpc_send_t *s, uint64_t delay_ms)
{
    int rc = gc->in->svc->timer_start(gc->in->ctx, delay_ms, 0, send_fire, s,
                                      &s->timer);
    return rc;
}

/* Response bytes one call may leave unsent (the client does not read, or
 * its window is shut) before its next message waits: a reader that stops
 * costs at most this per call, plus one message. */
#define CALL_UNSENT_MAX ((size_t)1 << 20)


/* Calls of c whose next message waits for the client to read. */
static void conn_resume_blocked(grpc_conn_t *c)
{
    grpc_call_t *gc = c->in->calls;
    while (gc) {
        grpc_call_t *n = gc->next;
        if (gc->conn == c && gc->blocked && gc->sends &&
            gw_call_unsent(gc->call) < CALL_UNSENT_MAX) {
            gc->blocked = 0;
            steps_pump(gc, 1);
            conn_flush(c);
            if (gc->sends == NULL && gc->finished)
                call_free(gc);
        }
        gc = n;
    }
}

/* Runs the head step now: a message, or the end of the call. Returns 0
 * when it must wait for the client to read (the head stays). Never frees
 * the call. */
static int step_run(grpc_call_t *gc)
{
    grpc_send_t *s = gc->sends;
    if (s->json != NULL && !gc->finished &&
        gw_call_unsent(gc->call) >= CALL_UNSENT_MAX) {
        /* resumed when the connection drains or the client's window
         * opens (conn_resume_blocked) */
        gc->blocked = 1;
        return 0;
    }
    gc->sends = s->next;
    if (!gc->finished) {
        if (s->json != NULL) {
            char err[GPB_ERR_MAX];
            int src = grpc_send_json(gc, gc->mi.output_type, s->json, s->len,
                                     err, sizeof(err));
            if (src < 0 && !gc->finished) {
                char m[GPB_ERR_MAX + 64];
                if (src == -EMSGSIZE)
                    snprintf(m, sizeof(m), "%s", err);
                else
                    snprintf(m, sizeof(m), "response does not fit %s: %s",
                             gc->mi.output_type, err);
                call_stop_sends(gc);
                grpc_finish(gc, src == -EMSGSIZE ? GW_RESOURCE_EXHAUSTED
                                                 : GW_INTERNAL,
                            m);
            }
        } else {
            gc->finished = 1;
            gw_call_finish(gc->call, s->code, s->message, s->details,
                           s->details_len, s->trailers, s->n_trailers);
            grpc_count(gc, s->code);
        }
    }
    send_free(s);
    return 1;
}

/* Runs every step that is due (due: the head's delay has passed), then
 * arms a timer for the next one that has a delay. Answers without a delay
 * go out inline, in the same write as the request's other frames. Never
 * frees the call. */
static void steps_pump(grpc_call_t *gc, int due)
{
    while (gc->sends != NULL && !gc->blocked) {
        grpc_send_t *h = gc->sends;
        if (h->timer != NULL)
            return; /* already waiting */
        if (!due && h->delay > 0) {
            if (sends_schedule(gc, h, h->delay) < 0) {
                call_stop_sends(gc);
                grpc_finish(gc, GW_INTERNAL, "out of timers");
            }
            return;
        }
        due = 0;
        if (!step_run(gc))
            return;
    }
}

static void send_fire(void *data)
{
    grpc_send_t *s = data;
    grpc_call_t *gc = s->gc;
    gc->in->svc->timer_stop(s->timer);
    s->timer = NULL;
    steps_pump(gc, 1);
    conn_flush(call_conn(gc));
    if (gc->sends == NULL && gc->finished)
        call_free(gc);
}

/* 1 when a finishing step is already queued. */
static int ends_queued(const grpc_call_t *gc)
{
    for (const grpc_send_t *s = gc->sends; s; s = s->next)
        if (s->json == NULL)
            return 1;
    return 0;
}

static grpc_send_t *step_new(grpc_call_t *gc)
{
    grpc_send_t *s = calloc(1, sizeof(*s));
    if (s)
        s->gc = gc;
    return s;
}

static void steps_append(grpc_call_t *gc, grpc_send_t *s)
{
    grpc_send_t **pp = &gc->sends;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
}

/* Metadata from a JSON object {"k": "v"} (values: strings, numbers as
 * text). mem holds the copies. */
static int md_from_json(const char *obj_text, gw_md_t **out, size_t *n,
                        char **mem)
{
    *out = NULL;
    *n = 0;
    *mem = NULL;
    json_t *o = json_loads(obj_text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    size_t cnt = json_object_size(o), total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        total += strlen(k) + 1;
        total += json_is_string(v) ? json_string_length(v) + 1 : 32;
    }
    gw_md_t *md = calloc(cnt ? cnt : 1, sizeof(*md));
    char *m = malloc(total + 1);
    if (md == NULL || m == NULL) {
        free(md);
        free(m);
        json_decref(o);
        return -ENOMEM;
    }
    size_t at = 0, i = 0;
    json_object_foreach(o, k, v)
    {
        size_t kl = strlen(k);
        for (size_t j = 0; j < kl; j++)
            m[at + j] = (char)((k[j] >= 'A' && k[j] <= 'Z') ? k[j] + 32 : k[j]);
        md[i].key = m + at;
        md[i].key_len = kl;
        at += kl + 1;
        if (json_is_string(v)) {
            size_t vl = json_string_length(v);
            memcpy(m + at, json_string_value(v), vl);
            md[i].value = m + at;
            md[i].value_len = vl;
            at += vl + 1;
        } else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
            int w = json_is_integer(v)
                        ? snprintf(m + at, 32, "%" JSON_INTEGER_FORMAT,
                                   json_integer_value(v))
                    : json_is_real(v) ? snprintf(m + at, 32, "%g", json_real_value(v))
                                      : snprintf(m + at, 32, "%s",
                                                 json_is_true(v) ? "true" : "false");
            md[i].value = m + at;
            md[i].value_len = (size_t)w;
            at += (size_t)w + 1;
        } else {
            continue;
        }
        if (!gw_md_key_valid(md[i].key, md[i].key_len))
            continue;
        i++;
    }
    json_decref(o);
    *out = md;
    *n = i;
    *mem = m;
    return 0;
}

/* The reply's response headers as gRPC initial metadata. */
static void send_reply_headers(grpc_call_t *gc, const doppel_reply_t *r)
{
    gw_md_t stack[32];
    size_t n = 0;
    for (size_t i = 0; i < r->n_headers && n < 32; i++) {
        const doppel_kv_t *h = &r->headers[i];
        /* the engine's own Content-Type is HTTP's, not gRPC metadata */
        if (h->name.len == 12 && strncasecmp(h->name.ptr, "content-type", 12) == 0)
            continue;
        if (!gw_md_key_valid(h->name.ptr, h->name.len)) {
            /* metadata keys are lower case: keep names that lower to valid */
            continue;
        }
        stack[n++] = (gw_md_t){h->name.ptr, h->name.len, h->value.ptr,
                               h->value.len};
    }
    gw_call_send_headers(gc->call, stack, n);
}

static json_t *reply_extra(const doppel_reply_t *r)
{
    if (r->size < offsetof(doppel_reply_t, extra) + sizeof(r->extra) ||
        r->extra.len == 0)
        return NULL;
    return json_loadb(r->extra.ptr, r->extra.len, 0, NULL);
}

/* Queues what a matched reply says: headers now (unless a status error),
 * then its messages, each after its delay, then (end) the status. The
 * first step waits the reply's delay. A step past the deadline is never
 * queued: the deadline timer ends the call first. */
static int queue_reply(grpc_call_t *gc, const doppel_reply_t *r, int end)
{
    json_t *ex = reply_extra(r);
    int code = r->status;
    if (code < 0 || code > 16)
        code = GW_UNKNOWN;
    uint64_t first_delay = r->delay_ms;
    int rc = 0;
    /* A unary (or client-stream) error is a status without a message; a
     * stream sends its messages, then the status, whatever it is. */
    int streams = gc->kind == GRPC_KIND_SERVER_STREAM ||
                  gc->kind == GRPC_KIND_BIDI;
    int with_msgs = code == GW_OK || !end || streams;
    if (with_msgs)
        send_reply_headers(gc, r);
    /* messages */
    json_t *sr = ex ? json_object_get(ex, "streamResponses") : NULL;
    int n_msgs = 0;
    if (with_msgs) {
        if (json_is_array(sr)) {
            size_t i;
            json_t *it;
            json_array_foreach(sr, i, it)
            {
                json_t *pl = json_object_get(it, "payload");
                json_t *d = json_object_get(it, "delay");
                grpc_send_t *s = step_new(gc);
                if (s == NULL)
                    return -ENOMEM;
                s->json = json_dumps(pl ? pl : json_object(), JSON_COMPACT | JSON_ENCODE_ANY);
                s->len = s->json ? strlen(s->json) : 0;
                uint64_t dl = json_is_integer(d) && json_integer_value(d) > 0
                                  ? (uint64_t)json_integer_value(d)
                                  : 0;
                if (n_msgs == 0)
                    dl += first_delay;
                s->delay = dl;
                steps_append(gc, s);
                n_msgs++;
            }
        } else if (r->body_len > 0) {
            grpc_send_t *s = step_new(gc);
            if (s == NULL)
                return -ENOMEM;
            s->json = strndup((const char *)r->body, r->body_len);
            s->len = r->body_len;
            s->delay = first_delay;
            steps_append(gc, s);
            n_msgs++;
        } else if (gc->kind == GRPC_KIND_UNARY ||
                   gc->kind == GRPC_KIND_CLIENT_STREAM) {
            /* a unary answer is one message: an empty one when the mock
             * gave no payload */
            grpc_send_t *s = step_new(gc);
            if (s == NULL)
                return -ENOMEM;
            s->json = strdup("{}");
            s->len = 2;
            s->delay = first_delay;
            steps_append(gc, s);
            n_msgs++;
        }
    }
    if (end) {
        grpc_send_t *s = step_new(gc);
        if (s == NULL)
            return -ENOMEM;
        s->code = code;
        json_t *em = ex ? json_object_get(ex, "error") : NULL;
        if (json_is_string(em) && code != GW_OK)
            s->message = strdup(json_string_value(em));
        json_t *ed = ex ? json_object_get(ex, "errorDetails") : NULL;
        if (code != GW_OK && json_is_array(ed) && json_array_size(ed) > 0) {
            char *dt = json_dumps(ed, JSON_COMPACT);
            char err[GPB_ERR_MAX];
            if (dt && gpb_status_details_bin(gc->pool, code,
                                             s->message ? s->message : "", dt,
                                             strlen(dt), &s->details,
                                             &s->details_len, err,
                                             sizeof(err)) < 0) {
                free(s->message);
                s->code = GW_INTERNAL;
                size_t ml = strlen(err) + 64;
                s->message = malloc(ml);
                if (s->message)
                    snprintf(s->message, ml, "errorDetails: %s", err);
                s->details = NULL;
                s->details_len = 0;
            }
            free(dt);
        }
        json_t *tr = ex ? json_object_get(ex, "trailers") : NULL;
        if (json_is_object(tr)) {
            char *tt = json_dumps(tr, JSON_COMPACT);
            if (tt)
                md_from_json(tt, &s->trailers, &s->n_trailers,
                             &s->trailer_mem);
            free(tt);
        }
        if (n_msgs == 0 && gc->sends == NULL)
            s->delay = first_delay; /* an error answer waits its delay */
        steps_append(gc, s);
    }
    json_decref(ex);
    size_t add = 0;
    for (grpc_send_t *q = gc->sends; q; q = q->next)
        if (!q->counted) {
            q->counted = 1;
            add += q->len;
        }
    if (gc->conn) {
        gc->conn->held += add;
        if (gc->conn->held > CONN_HELD_MAX) {
            call_stop_sends(gc);
            grpc_finish(gc, GW_RESOURCE_EXHAUSTED,
                        "the answers waiting for this client pass 32 MiB: "
                        "it is not reading them");
            return 0;
        }
    }
    steps_pump(gc, 0);
    return rc;
}

/* "no mock matched ... near misses: ..." from the engine's report. */
static void miss_text(const doppel_reply_t *r, const char *what, char *out,
                      size_t n)
{
    int w = snprintf(out, n, "no mock matched %s", what);
    json_t *rep = r->body_len ? json_loadb((const char *)r->body, r->body_len,
                                           0, NULL)
                              : NULL;
    json_t *near = json_object_get(rep, "nearMisses");
    size_t i;
    json_t *it;
    int first = 1;
    json_array_foreach(near, i, it)
    {
        if (w < 0 || (size_t)w >= n)
            break;
        const char *id = json_string_value(json_object_get(it, "mockId"));
        json_t *failed = json_object_get(it, "failed");
        json_t *f0 = json_array_get(failed, 0);
        w += snprintf(out + w, n - (size_t)w, "%s mock %s", first ? "; near misses:" : ",",
                      id ? id : "?");
        if (f0 && (size_t)w < n)
            w += snprintf(out + w, n - (size_t)w, " (%s %s: %s)",
                          json_string_value(json_object_get(f0, "where")) ?: "",
                          json_string_value(json_object_get(f0, "path")) ?: "",
                          json_string_value(json_object_get(f0, "reason")) ?: "");
        first = 0;
    }
    json_t *reason = json_object_get(rep, "reason");
    if (json_is_string(reason) && w >= 0 && (size_t)w < n)
        snprintf(out + w, n - (size_t)w, "; %s", json_string_value(reason));
    json_decref(rep);
}

static void build_exchange(grpc_call_t *gc, doppel_exchange_t *x,
                           doppel_kv_t *kv, size_t kv_max, size_t *n_kv,
                           const char *target, size_t tlen,
                           const char *body, size_t blen)
{
    size_t n_md = 0;
    const gw_md_t *md = gw_call_metadata(gc->call, &n_md);
    size_t k = 0;
    for (size_t i = 0; i < n_md && k < kv_max; i++)
        kv[k++] = (doppel_kv_t){{md[i].key, md[i].key_len},
                                {md[i].value, md[i].value_len}};
    *n_kv = k;
    memset(x, 0, sizeof(*x));
    x->size = sizeof(*x);
    x->protocol = DOPPEL_STR("grpc");
    x->ns = (doppel_str_t){gc->ns, strlen(gc->ns)};
    x->operation = (doppel_str_t){gc->method, strlen(gc->method)};
    x->target = (doppel_str_t){target, tlen};
    x->metadata = kv;
    x->n_metadata = k;
    x->body = (const uint8_t *)body;
    x->body_len = blen;
    x->content_type = DOPPEL_STR("application/json");
    x->remote_addr = (doppel_str_t){gc->conn ? gc->conn->remote : "",
                                    gc->conn ? strlen(gc->conn->remote) : 0};
}

/* Matches one exchange (through the session for bidirectional calls) and
 * answers it. end: the reply's status ends the call. quiet_miss: a miss
 * is journalled but answered with nothing (a bidirectional message). */
static void match_and_answer(grpc_call_t *gc, const char *suffix,
                             const char *body, size_t blen, int end,
                             int quiet_miss)
{
    grpc_inst_t *in = gc->in;
    char target[600];
    int tl = snprintf(target, sizeof(target), "/%s/%s%s", gc->service,
                      gc->method, suffix);
    if (tl < 0 || (size_t)tl >= sizeof(target)) {
        grpc_finish(gc, GW_INVALID_ARGUMENT, "method name too long");
        return;
    }
    doppel_exchange_t x;
    doppel_kv_t kv[64];
    size_t nkv;
    build_exchange(gc, &x, kv, 64, &nkv, target, (size_t)tl, body, blen);
    doppel_reply_t *r = NULL;
    int rc = gc->session
                 ? in->svc->engine_session_match(gc->session, &x, &r)
                 : in->svc->engine_match(in->ctx, &x, &r);
    if (rc < 0 || r == NULL) {
        if (!quiet_miss)
            grpc_finish(gc, rc == -EACCES || rc == -EPERM ? GW_PERMISSION_DENIED
                                                          : GW_INTERNAL,
                        "the engine refused the call");
        return;
    }
    if (r->kind == DOPPEL_REPLY_NO_MATCH) {
        if (r->status == 401 || r->status == 403 || r->status == 429) {
            grpc_finish(gc, r->status == 429 ? GW_RESOURCE_EXHAUSTED
                                             : r->status == 401 ? GW_UNAUTHENTICATED
                                                                : GW_PERMISSION_DENIED,
                        r->status == 429 ? "rate limited" : "not allowed");
        } else if (quiet_miss) {
            /* an unmatched message of a stream: journalled, no reply */
        } else if (suffix[0] && strcmp(suffix, "/@close") == 0) {
            grpc_finish(gc, GW_OK, NULL);
        } else {
            char m[MISS_TEXT_MAX];
            char what[600];
            snprintf(what, sizeof(what), "%s/%s", gc->service, gc->method);
            miss_text(r, what, m, sizeof(m));
            grpc_finish(gc, GW_NOT_FOUND, m);
        }
        in->svc->engine_reply_free(in->ctx, r);
        return;
    }
    if (r->kind == DOPPEL_REPLY_PROXY) {
        if (in->svc->engine_forwarded)
            in->svc->engine_forwarded(in->ctx, r, 501, "grpc", 0);
        in->svc->engine_reply_free(in->ctx, r);
        grpc_finish(gc, GW_UNIMPLEMENTED, "proxy answers are not supported for gRPC");
        return;
    }
    if (queue_reply(gc, r, end) < 0)
        grpc_finish(gc, GW_INTERNAL, "out of memory");
    in->svc->engine_reply_free(in->ctx, r);
}

static void on_deadline(void *data)
{
    grpc_call_t *gc = data;
    gc->in->svc->timer_stop(gc->deadline_timer);
    gc->deadline_timer = NULL;
    call_stop_sends(gc);
    if (!gc->finished)
        grpc_finish(gc, GW_DEADLINE_EXCEEDED, "deadline exceeded");
    call_free(gc);
}

static void wire_call_start(gw_call_t *call, const char *path, size_t plen,
                            const gw_md_t *md, size_t n_md,
                            uint64_t deadline_ms);
static void wire_message(gw_call_t *call, const uint8_t *msg, size_t len);
static void wire_half_close(gw_call_t *call);
static void wire_cancel(gw_call_t *call);

static const gw_call_cb_t wire_cb = {
    .on_call_start = wire_call_start,
    .on_message = wire_message,
    .on_half_close = wire_half_close,
    .on_cancel = wire_cancel,
};

static void ns_of_call(grpc_inst_t *in, const gw_md_t *md, size_t n_md,
                       char *out)
{
    for (size_t i = 0; i < n_md; i++) {
        if (md[i].key_len == 18 && memcmp(md[i].key, "x-doppel-namespace", 18) == 0 &&
            doppel_name_valid(md[i].value, md[i].value_len, GRPC_NS_MAX)) {
            memcpy(out, md[i].value, md[i].value_len);
            out[md[i].value_len] = '\0';
            return;
        }
    }
    snprintf(out, GRPC_NS_MAX + 1, "%s", in->ns_default);
}

static void wire_call_start(gw_call_t *call, const char *path, size_t plen,
                            const gw_md_t *md, size_t n_md,
                            uint64_t deadline_ms)
{
    grpc_conn_t *c = gw_conn_user(gw_call_conn(call));
    grpc_inst_t *in = c->in;
    grpc_call_t *gc = calloc(1, sizeof(*gc));
    if (gc == NULL) {
        gw_call_finish(call, GW_RESOURCE_EXHAUSTED, "out of memory", NULL, 0,
                       NULL, 0);
        gw_call_release(call);
        return;
    }
    gc->in = in;
    gc->conn = c;
    gc->call = call;
    gc->started_ms = in->svc->now_ms(in->ctx);
    gc->deadline_ms = deadline_ms;
    gw_call_set_data(call, gc);
    gc->next = in->calls;
    if (in->calls)
        in->calls->prev = gc;
    in->calls = gc;
    ns_of_call(in, md, n_md, gc->ns);

    /* "/pkg.Service/Method" */
    const char *slash = plen > 1 ? memchr(path + 1, '/', plen - 1) : NULL;
    if (path[0] != '/' || slash == NULL || slash == path + 1 ||
        (size_t)(slash - path) + 1 >= plen ||
        memchr(slash + 1, '/', plen - (size_t)(slash - path) - 1)) {
        gc->service = strdup("");
        gc->method = strndup(path, plen);
        grpc_finish(gc, GW_UNIMPLEMENTED, "malformed method path");
        call_free(gc);
        return;
    }
    gc->service = strndup(path + 1, (size_t)(slash - path) - 1);
    gc->method = strndup(slash + 1, plen - (size_t)(slash - path) - 1);
    if (gc->service == NULL || gc->method == NULL) {
        grpc_finish(gc, GW_RESOURCE_EXHAUSTED, "out of memory");
        call_free(gc);
        return;
    }
    char err[GPB_ERR_MAX];
    gc->pool = grpc_pool_for(in->sh, gc->ns, strlen(gc->ns), err, sizeof(err));
    if (gc->pool == NULL) {
        grpc_finish(gc, GW_UNAVAILABLE, err);
        call_free(gc);
        return;
    }
    if (grpc_builtin_start(gc, gc->service, gc->method))
        goto armed;
    if (grpc_builtin_disabled(gc, gc->service)) {
        char m[300];
        snprintf(m, sizeof(m), "%s is turned off on this server",
                 gc->service);
        grpc_finish(gc, GW_UNIMPLEMENTED, m);
        call_free(gc);
        return;
    }
    if (gpb_method_find(gc->pool, gc->service, gc->method, &gc->mi, err,
                        sizeof(err)) < 0) {
        /* journalled and listed as unmatched like any miss */
        gc->kind = GRPC_KIND_UNARY;
        char target[600];
        int tl = snprintf(target, sizeof(target), "/%s/%s", gc->service,
                          gc->method);
        doppel_exchange_t x;
        doppel_kv_t kv[64];
        size_t nkv;
        build_exchange(gc, &x, kv, 64, &nkv, target,
                       tl > 0 && (size_t)tl < sizeof(target) ? (size_t)tl : 0,
                       NULL, 0);
        doppel_reply_t *r = NULL;
        if (in->svc->engine_match(in->ctx, &x, &r) == 0 && r)
            in->svc->engine_reply_free(in->ctx, r);
        grpc_finish(gc, GW_UNIMPLEMENTED, err);
        call_free(gc);
        return;
    }
    gc->kind = gc->mi.client_streaming && gc->mi.server_streaming ? GRPC_KIND_BIDI
               : gc->mi.client_streaming                          ? GRPC_KIND_CLIENT_STREAM
               : gc->mi.server_streaming                          ? GRPC_KIND_SERVER_STREAM
                                                                  : GRPC_KIND_UNARY;
    if (gc->kind == GRPC_KIND_BIDI) {
        char target[600];
        int tl = snprintf(target, sizeof(target), "/%s/%s", gc->service,
                          gc->method);
        doppel_exchange_t x;
        doppel_kv_t kv[64];
        size_t nkv;
        build_exchange(gc, &x, kv, 64, &nkv, target, (size_t)tl, NULL, 0);
        if (in->svc->engine_session_open(in->ctx, &x, &gc->session) < 0) {
            grpc_finish(gc, GW_INTERNAL, "cannot open an engine session");
            call_free(gc);
            return;
        }
        /* open: a mock with streamEvent open pushes its messages now; no
         * such mock is no error (and not asked for when none was written) */
        if (grpc_event_known(in->sh, gc->ns, target, "open"))
            match_and_answer(gc, "/@open", "{}", 2, 0, 1);
        if (gc->finished && gc->sends == NULL) {
            call_free(gc);
            return;
        }
    }
armed:
    if (deadline_ms != 0 && !gc->finished) {
        uint64_t now = in->svc->now_ms(in->ctx);
        uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
        if (in->svc->timer_start(in->ctx, left, 0, on_deadline, gc,
                                 &gc->deadline_timer) < 0)
            gc->deadline_timer = NULL;
    }
}

static void call_message(grpc_call_t *gc, const uint8_t *msg, size_t len);

static void wire_message(gw_call_t *call, const uint8_t *msg, size_t len)
{
    grpc_call_t *gc = gw_call_data(call);
    if (gc == NULL || gc->finished)
        return;
    if (gc->builtin)
        grpc_builtin_message(gc, msg, len);
    else
        call_message(gc, msg, len);
    /* a call that ended here (a bad message, too many, too big) is
     * released now: nothing else will come for it */
    if (gc->finished && gc->sends == NULL)
        call_free(gc);
}

static void call_message(grpc_call_t *gc, const uint8_t *msg, size_t len)
{
    char *json = NULL;
    size_t jl = 0;
    char err[GPB_ERR_MAX];
    if (gpb_decode_to_json(gc->pool, gc->mi.input_type, msg, len, &json, &jl,
                           err, sizeof(err)) < 0) {
        char m[GPB_ERR_MAX + 64];
        snprintf(m, sizeof(m), "bad request message (%s): %s",
                 gc->mi.input_type, err);
        call_stop_sends(gc);
        grpc_finish(gc, GW_INTERNAL, m);
        return;
    }
    gc->n_msgs++;
    switch (gc->kind) {
    case GRPC_KIND_UNARY:
    case GRPC_KIND_SERVER_STREAM:
        if (gc->n_msgs > 1) {
            free(json);
            grpc_finish(gc, GW_UNIMPLEMENTED,
                        "more than one request message for a method "
                        "that takes one");
            return;
        }
        gc->req_json = json;
        gc->req_len = jl;
        return;
    case GRPC_KIND_CLIENT_STREAM: {
        if (gc->msgs_len + jl + 2 > CLIENT_STREAM_MAX) {
            free(json);
            grpc_finish(gc, GW_RESOURCE_EXHAUSTED,
                        "the messages of this call passed 64 MiB");
            return;
        }
        if (gc->msgs_len + jl + 2 > gc->msgs_cap) {
            size_t cap = (gc->msgs_cap ? gc->msgs_cap * 2 : 1024);
            while (cap < gc->msgs_len + jl + 2)
                cap *= 2;
            char *nm = realloc(gc->msgs, cap);
            if (nm == NULL) {
                free(json);
                grpc_finish(gc, GW_RESOURCE_EXHAUSTED, "out of memory");
                return;
            }
            gc->msgs = nm;
            gc->msgs_cap = cap;
        }
        if (gc->msgs_len)
            gc->msgs[gc->msgs_len++] = ',';
        memcpy(gc->msgs + gc->msgs_len, json, jl);
        gc->msgs_len += jl;
        if (gc->first_msg == NULL) {
            gc->first_msg = json;
            gc->first_len = jl;
        } else {
            free(gc->req_json);
            gc->req_json = json; /* the last one */
            gc->req_len = jl;
        }
        return;
    }
    case GRPC_KIND_BIDI:
        match_and_answer(gc, "", json, jl, 0, 1);
        free(json);
        return;
    }
    free(json);
}

static void wire_half_close(gw_call_t *call)
{
    grpc_call_t *gc = gw_call_data(call);
    if (gc == NULL || gc->finished) {
        return;
    }
    gc->half_closed = 1;
    if (gc->builtin) {
        grpc_builtin_half_close(gc);
        if (gc->finished && gc->sends == NULL)
            call_free(gc);
        return;
    }
    switch (gc->kind) {
    case GRPC_KIND_UNARY:
    case GRPC_KIND_SERVER_STREAM:
        if (gc->req_json == NULL) {
            grpc_finish(gc, GW_UNIMPLEMENTED,
                        "no request message: this method takes one");
            break;
        }
        match_and_answer(gc, "", gc->req_json, gc->req_len, 1, 0);
        break;
    case GRPC_KIND_CLIENT_STREAM: {
        /* {"messages":[...],"count":N,"first":m1,"last":mN} */
        const char *first = gc->first_msg ? gc->first_msg : "null";
        const char *last = gc->req_json ? gc->req_json : first;
        size_t need = gc->msgs_len + strlen(first) + strlen(last) + 96;
        char *doc = malloc(need);
        if (doc == NULL) {
            grpc_finish(gc, GW_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        int dl = snprintf(doc, need,
                          "{\"messages\":[%.*s],\"count\":%zu,\"first\":%s,"
                          "\"last\":%s}",
                          (int)gc->msgs_len, gc->msgs ? gc->msgs : "",
                          gc->n_msgs, first, last);
        match_and_answer(gc, "", doc, (size_t)dl, 1, 0);
        free(doc);
        break;
    }
    case GRPC_KIND_BIDI: {
        char target[600];
        snprintf(target, sizeof(target), "/%s/%s", gc->service, gc->method);
        if (grpc_event_known(in_of(gc)->sh, gc->ns, target, "close"))
            match_and_answer(gc, "/@close", "{}", 2, 1, 0);
        if (!gc->finished && !ends_queued(gc)) {
            if (gc->sends == NULL) {
                grpc_finish(gc, GW_OK, NULL);
            } else {
                /* the replies still on their timers go first */
                grpc_send_t *s = step_new(gc);
                if (s == NULL) {
                    call_stop_sends(gc);
                    grpc_finish(gc, GW_INTERNAL, "out of memory");
                } else {
                    s->code = GW_OK;
                    steps_append(gc, s);
                }
            }
        }
        break;
    }
    }
    if (gc->finished && gc->sends == NULL)
        call_free(gc);
}

static void wire_cancel(gw_call_t *call)
{
    grpc_call_t *gc = gw_call_data(call);
    if (gc == NULL)
        return;
    if (!gc->finished)
        grpc_count(gc, GW_CANCELLED);
    gc->finished = 1;
    call_free(gc); /* stops its timers; the session is closed */
}

/* ---- the instance --------------------------------------------------------- */

static int grpc_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, engine_session_close))
        return -ENOTSUP;
    grpc_inst_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->ctx = ctx;
    in->svc = svc;
    in->sh = grpc_shared(ctx, svc);
    if (in->sh == NULL) {
        free(in);
        return -ENOMEM;
    }
    if (in->sh->base == NULL) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot load .proto files: %s",
                 in->sh->base_err);
        free(in);
        return -ENOENT;
    }
    if (in->sh->base_err[0] && svc->worker_index(ctx) == 0)
        svc->log(ctx, DOPPEL_LOG_WARN, "proto_path: %s", in->sh->base_err);
    in->ns_default = svc->option_str(ctx, "namespace");
    if (in->ns_default == NULL ||
        !doppel_name_valid(in->ns_default, strlen(in->ns_default), GRPC_NS_MAX))
        in->ns_default = "sandbox";
    in->reflection = svc->option_bool(ctx, "reflection");
    in->health = svc->option_bool(ctx, "health");
    in->wire_cfg.cb = wire_cb;
    in->wire_cfg.max_message_size = (uint32_t)svc->option_int(ctx, "max_message_size");
    in->wire_cfg.max_concurrent_streams =
        (uint32_t)svc->option_int(ctx, "max_concurrent_streams");
    in->wire_cfg.max_header_list_size =
        (uint32_t)svc->option_int(ctx, "max_header_list_size");
    const char *listen = svc->option_str(ctx, "listen");
    doppel_conn_listener_t l = {sizeof(l), on_accept, in};
    int rc = 0;
    if (listen && strcmp(listen, "off") != 0 && listen[0])
        rc = svc->conn_listen(ctx, listen, &l);
    if (rc == 0 && svc->option_bool(ctx, "main_port")) {
        doppel_conn_claim_t c = {sizeof(c), (const uint8_t *)H2_PREFACE,
                                 sizeof(H2_PREFACE) - 1, on_accept, in};
        rc = svc->conn_claim(ctx, &c);
    }
    if (rc == 0)
        rc = svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
    if (rc < 0) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot listen: %s", strerror(-rc));
        free(in);
        return rc;
    }
    if (svc->worker_index(ctx) == 0) {
        size_t ns = gpb_service_count(in->sh->base), user = 0;
        for (size_t i = 0; i < ns; i++)
            user += !gpb_service_is_builtin(in->sh->base, i);
        svc->log(ctx, DOPPEL_LOG_INFO,
                 "gRPC: %zu service%s from proto_path, h2c on %s%s", user,
                 user == 1 ? "" : "s",
                 listen && strcmp(listen, "off") ? listen : "(no own port)",
                 svc->option_bool(ctx, "main_port") ? " and the main port" : "");
    }
    *state = in;
    return 0;
}

static int grpc_start(void *state)
{
    (void)state;
    return 0;
}

static int grpc_on_event(void *state, const doppel_event_t *ev)
{
    grpc_inst_t *in = state;
    if (ev->id == DOPPEL_EVENT_DRAINING && !in->draining) {
        in->draining = 1;
        grpc_builtin_draining(in);
        for (grpc_conn_t *c = in->conns; c; c = c->next) {
            gw_conn_drain(c->gw);
            conn_flush(c);
        }
    }
    return DOPPEL_OK;
}

static int grpc_stop(void *state)
{
    grpc_inst_t *in = state;
    in->stopping = 1;
    /* calls still running (long delays, open streams) end now */
    grpc_call_t *gc = in->calls;
    while (gc) {
        grpc_call_t *n = gc->next;
        call_stop_sends(gc);
        if (!gc->finished)
            grpc_finish(gc, GW_UNAVAILABLE, "the server is stopping");
        call_free(gc);
        gc = n;
    }
    for (grpc_conn_t *c = in->conns; c; c = c->next) {
        gw_conn_drain(c->gw);
        conn_flush(c);
        conn_close(c);
    }
    if (in->n_conns == 0 && in->calls == NULL)
        in->svc->stop_done(in->ctx);
    else
        in->stop_waiting = 1;
    return 0;
}

static void grpc_destroy(void *state)
{
    grpc_inst_t *in = state;
    while (in->calls) {
        grpc_call_t *gc = in->calls;
        gc->finished = 1;
        call_free(gc);
    }
    free(in);
}

static const doppel_plugin_t grpc_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "grpc",
    .version = "0.1.0",
    .summary = "gRPC mocks over HTTP/2 from .proto files: all four call "
               "kinds, reflection, health",
    .kind = DOPPEL_KIND_PROTOCOL,
    .flags = 0,
    .options = grpc_options,
    .init = grpc_init,
    .start = grpc_start,
    .stop = grpc_stop,
    .destroy = grpc_destroy,
    .on_event = grpc_on_event,
    .protocol = &grpc_protocol_def,
};

DOPPEL_PLUGIN_DEFINE(grpc_plugin)
