/*
 * One subscription: a GET becomes one engine exchange (protocol "sse",
 * target the path, metadata the headers, params and a JSON object body
 * made of the query parameters); the matched mock's rendered
 * sseEventChain is framed once, then played on the stream with host
 * timers: per-event delays, loops, heartbeats, maxLoops and maxTime.
 *
 * A stream ends (http_stream_end, so the chunked body is terminated
 * cleanly) when the chain is over, at its bounds, on drain, or when a
 * write fails: the client went away (-ENOTCONN) or let 4 MiB pile up
 * unread (-ENOBUFS, the host closed the connection). Other subscribers
 * never wait for one: every write goes to the host's queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sse_plugin.h"

struct sse_stream {
    sse_inst_t *in;
    doppel_http_exchange_t *ex;
    sse_chain_t chain;
    size_t pos;             /* the event the timer sends next */
    uint32_t loops;         /* passes through the chain completed */
    uint32_t wait_extra_ms; /* the mock's response.delay, before the first */
    uint64_t deadline_ms;   /* maxTime, on the loop's clock */
    uint64_t sent;          /* events sent */
    uint64_t unreported;    /* sent, not yet added to the metric */
    int expire;             /* the pending timer ends the stream */
    doppel_timer_t *timer;  /* the next event (or the deadline) */
    doppel_timer_t *hb;     /* heartbeats, NULL when off */
    char mock_id[72];
    char id[24];    /* the journal's "connection" */
    char ns[SSE_NS_MAX + 1];
    char *full_path; /* the request path, for the journal */
    char path[128]; /* for logs */
    char *key;      /* "ns\x1fpath": the registry's, for publish */
    sse_rule_t *rules; /* onStoreChange, NULL: none */
    size_t n_rules;
    sse_stream_t *prev, *next;
};

static const char *const end_names[] = {"done",  "max_loops",   "max_time",
                                        "drain", "client_gone", "slow_reader",
                                        "error"};

/* ---- answers that are not streams ---------------------------------------- */

static void respond_json(sse_inst_t *in, doppel_http_exchange_t *ex, int status,
                         const char *json)
{
    doppel_kv_t h[2] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
        {DOPPEL_STR("Retry-After"), DOPPEL_STR("1")},
    };
    in->svc->http_respond(ex, status, h, status == 503 ? 2 : 1, json,
                          strlen(json));
}

/* Response headers a mock may not set on a stream: the host frames it. */
static int framing_header(doppel_str_t n)
{
    static const char *const names[] = {"Content-Type", "Content-Length",
                                        "Transfer-Encoding", "Connection",
                                        NULL};
    for (size_t i = 0; names[i]; i++)
        if (n.len == strlen(names[i]) &&
            strncasecmp(n.ptr, names[i], n.len) == 0)
            return 1;
    return 0;
}

/* The engine's answer as it is (a miss with its near misses, or a mock's
 * non-200 answer), then the reply is freed. */
static void respond_reply(sse_inst_t *in, doppel_http_exchange_t *ex,
                          doppel_reply_t *r)
{
    const doppel_services_t *svc = in->svc;
    size_t n = r->n_headers;
    doppel_kv_t *h = malloc((n + 2) * sizeof(*h));
    if (h == NULL) {
        svc->engine_reply_free(in->ctx, r);
        respond_json(in, ex, 500,
                     "{\"error\":\"out of memory\","
                     "\"code\":\"internal\"}");
        return;
    }
    int has_ct = 0;
    for (size_t i = 0; i < n; i++) {
        h[i] = r->headers[i];
        has_ct |= h[i].name.len == 12 &&
                  strncasecmp(h[i].name.ptr, "Content-Type", 12) == 0;
    }
    if (r->kind == DOPPEL_REPLY_NO_MATCH)
        h[n++] =
            (doppel_kv_t){DOPPEL_STR("X-Doppel-Match"), DOPPEL_STR("miss")};
    else
        h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Mock-Id"), r->mock_id};
    if (!has_ct)
        h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                               DOPPEL_STR("application/json")};
    svc->http_respond(ex, r->status, h, n, r->body, r->body_len);
    free(h);
    svc->engine_reply_free(in->ctx, r);
}

/* ---- the stream ---------------------------------------------------------- */

/* A journal note of the stream: kind DOPPEL_NOTE_SENT with the frame as
 * sent, or DOPPEL_NOTE_END with the reason. */
static void journal(const sse_stream_t *s, uint32_t kind, const char *frame,
                    size_t len, const char *reason)
{
    /* the method: the frame's event name, else "message" (what an
     * EventSource dispatches it as) */
    doppel_str_t ev = DOPPEL_STR("message");
    if (kind == DOPPEL_NOTE_SENT && len > 7 && memcmp(frame, "event: ", 7) == 0) {
        const char *nl = memchr(frame + 7, '\n', len - 7);
        if (nl != NULL && nl > frame + 7)
            ev = (doppel_str_t){frame + 7, (size_t)(nl - frame - 7)};
    }
    doppel_journal_note_t n = {
        .size = sizeof(n),
        .kind = kind,
        .protocol = DOPPEL_STR("sse"),
        .ns = {s->ns, strlen(s->ns)},
        .event = ev,
        .path = {s->full_path, strlen(s->full_path)},
        .connection = {s->id, strlen(s->id)},
        .body = (const uint8_t *)frame,
        .body_len = len,
        .reason = {reason, reason ? strlen(reason) : 0},
    };
    (void)s->in->svc->engine_journal(s->in->ctx, &n);
}

static void journal_sent(const sse_stream_t *s, const char *frame, size_t len)
{
    if (s->in->journal_sent)
        journal(s, DOPPEL_NOTE_SENT, frame, len, NULL);
}

static void report_events(sse_stream_t *s)
{
    if (s->unreported == 0)
        return;
    sse_inst_t *in = s->in;
    (void)in->svc->metric_add(in->ctx, "events", NULL, s->unreported);
    s->unreported = 0;
}

static void stop_timers(sse_stream_t *s)
{
    const doppel_services_t *svc = s->in->svc;
    if (s->timer != NULL)
        svc->timer_stop(s->timer);
    if (s->hb != NULL)
        svc->timer_stop(s->hb);
    s->timer = s->hb = NULL;
}

void sse_stream_end(sse_stream_t *s, sse_end_t why)
{
    sse_inst_t *in = s->in;
    const doppel_services_t *svc = in->svc;
    stop_timers(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        in->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    in->n_streams--;
    /* after a failed write the host closed the connection: this only
     * releases the exchange (-ENOTCONN) */
    (void)svc->http_stream_end(s->ex);
    if (in->journal)
        journal(s, DOPPEL_NOTE_END, NULL, 0, end_names[why]);
    report_events(s);
    char labels[48];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", end_names[why]);
    (void)svc->metric_add(in->ctx, "streams_closed", labels, 1);
    svc->log(in->ctx, why == SSE_END_SLOW ? DOPPEL_LOG_WARN : DOPPEL_LOG_DEBUG,
             "stream %s (mock %s) ended: %s, %" PRIu64 " events sent%s",
             s->path, s->mock_id, end_names[why], s->sent,
             why == SSE_END_SLOW ? " (the client stopped reading: its "
                                   "backlog passed 4 MiB)"
                                 : "");
    sse_chain_free(&s->chain);
    if (s->n_rules > 0)
        in->n_rule_streams--;
    sse_rules_free(s->rules, s->n_rules);
    sse_sub_del(in->sh, s->key);
    free(s->key);
    free(s->full_path);
    free(s);
}

void sse_end_all(sse_inst_t *in, sse_end_t why)
{
    while (in->streams != NULL)
        sse_stream_end(in->streams, why);
}

/* Writes or ends the stream; returns -1 when s is gone. */
static int put(sse_stream_t *s, const char *p, size_t n)
{
    int rc = s->in->svc->http_stream_write(s->ex, p, n);
    if (rc == 0)
        return 0;
    sse_stream_end(s, rc == -ENOBUFS    ? SSE_END_SLOW
                      : rc == -ENOTCONN ? SSE_END_GONE
                                        : SSE_END_ERROR);
    return -1;
}

void sse_probe_all(sse_inst_t *in)
{
    sse_stream_t *s = in->streams;
    while (s != NULL) {
        sse_stream_t *next = s->next;
        (void)put(s, "", 0);
        s = next;
    }
}

size_t sse_push_key(sse_inst_t *in, const char *key, const char *frame,
                    size_t len)
{
    size_t n = 0;
    sse_stream_t *s = in->streams;
    while (s != NULL) {
        sse_stream_t *next = s->next;
        if (strcmp(s->key, key) == 0 && put(s, frame, len) == 0) {
            journal_sent(s, frame, len);
            s->sent++;
            s->unreported++;
            n++;
        }
        s = next;
    }
    return n;
}

/* The renderings of one store change, by rule: streams of one mock share
 * theirs. A small table, searched in order; past it, rules render anew. */
#define SSE_RENDER_CACHE 16
typedef struct rendered {
    const char *tmpl, *event, *id; /* the rule's, borrowed for the change */
    sse_buf_t frame;
    int ok;
} rendered_t;

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The frame rule r sends now (NULL: it cannot be rendered). The table
 * keeps copies of nothing but the frames: the rules' strings stay valid
 * while their streams live, and a stream that ends takes its entries
 * with it (forget_rules). */
static const sse_buf_t *render_rule(sse_inst_t *in, const sse_stream_t *s,
                                    const sse_rule_t *r, rendered_t *tab,
                                    size_t *n, sse_buf_t *spare)
{
    for (size_t i = 0; i < *n; i++)
        if (same_str(tab[i].tmpl, r->tmpl) && same_str(tab[i].event, r->event) &&
            same_str(tab[i].id, r->id))
            return tab[i].ok ? &tab[i].frame : NULL;
    rendered_t one = {r->tmpl, r->event, r->id, {0}, 0};
    rendered_t *slot = *n < SSE_RENDER_CACHE ? &tab[(*n)++] : &one;
    *slot = one;
    slot->ok = sse_rule_frame(in, s->ns, r, &slot->frame) == 0;
    if (!slot->ok)
        in->svc->log(in->ctx, DOPPEL_LOG_DEBUG,
                     "stream %s (mock %s): the onStoreChange event of %s "
                     "could not be rendered",
                     s->path, s->mock_id, r->key);
    if (slot == &one) {
        sse_buf_free(spare);
        *spare = one.frame;
        return one.ok ? spare : NULL;
    }
    return slot->ok ? &slot->frame : NULL;
}

/* A stream is ending: its rules' strings go, so must the entries naming
 * them (their frames are kept under no name: freed at the end). */
static void forget_rules(const sse_stream_t *s, rendered_t *tab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < s->n_rules; k++)
            if (tab[i].tmpl == s->rules[k].tmpl)
                tab[i].tmpl = tab[i].event = tab[i].id = NULL;
}

void sse_store_changed(sse_inst_t *in, const doppel_store_event_t *ev)
{
    if (in->n_rule_streams == 0 || in->draining || in->stopping ||
        ev->key.ptr == NULL || ev->scope.len != 6 ||
        memcmp(ev->scope.ptr, "global", 6) != 0)
        return;
    doppel_str_t ns = ev->ns.len ? ev->ns : DOPPEL_STR("sandbox");
    rendered_t tab[SSE_RENDER_CACHE];
    size_t n = 0;
    sse_buf_t spare = {0};
    sse_stream_t *s = in->streams;
    while (s != NULL) {
        sse_stream_t *next = s->next;
        if (s->n_rules == 0 || strlen(s->ns) != ns.len ||
            memcmp(s->ns, ns.ptr, ns.len) != 0) {
            s = next;
            continue;
        }
        for (size_t i = 0; i < s->n_rules; i++) {
            const sse_rule_t *r = &s->rules[i];
            if (strlen(r->key) != ev->key.len ||
                memcmp(r->key, ev->key.ptr, ev->key.len) != 0)
                continue;
            const sse_buf_t *f = render_rule(in, s, r, tab, &n, &spare);
            if (f == NULL)
                continue;
            int rc = in->svc->http_stream_write(s->ex, f->p, f->len);
            if (rc != 0) {
                forget_rules(s, tab, n);
                sse_stream_end(s, rc == -ENOBUFS    ? SSE_END_SLOW
                                  : rc == -ENOTCONN ? SSE_END_GONE
                                                    : SSE_END_ERROR);
                break;
            }
            journal_sent(s, f->p, f->len);
            s->sent++;
            s->unreported++;
        }
        s = next;
    }
    for (size_t i = 0; i < n; i++)
        sse_buf_free(&tab[i].frame);
    sse_buf_free(&spare);
}

static void on_timer(void *data);

/* Arms the timer for the event at s->pos (or the next pass), or ends the
 * stream when the chain is over. Returns -1 when s is gone. */
static int schedule(sse_stream_t *s)
{
    sse_inst_t *in = s->in;
    const sse_chain_t *c = &s->chain;
    uint64_t wait = s->wait_extra_ms;
    s->wait_extra_ms = 0;
    if (s->pos >= c->n) {
        s->loops++;
        if (!c->loop) {
            sse_stream_end(s, SSE_END_DONE);
            return -1;
        }
        if (c->max_loops > 0 && s->loops >= c->max_loops) {
            sse_stream_end(s, SSE_END_MAX_LOOPS);
            return -1;
        }
        s->pos = 0;
        wait += c->loop_delay_ms;
    }
    wait += c->ev[s->pos].delay_ms;
    uint64_t now = in->svc->now_ms(in->ctx);
    s->expire = now + wait >= s->deadline_ms;
    if (s->expire)
        wait = s->deadline_ms > now ? s->deadline_ms - now : 0;
    if (in->svc->timer_start(in->ctx, wait, 0, on_timer, s, &s->timer) < 0) {
        s->timer = NULL;
        sse_stream_end(s, SSE_END_ERROR);
        return -1;
    }
    return 0;
}

static void on_timer(void *data)
{
    sse_stream_t *s = data;
    sse_inst_t *in = s->in;
    in->svc->timer_stop(s->timer);
    s->timer = NULL;
    if (s->expire) {
        sse_stream_end(s, SSE_END_MAX_TIME);
        return;
    }
    const sse_event_t *e = &s->chain.ev[s->pos];
    if (put(s, s->chain.frames + e->off, e->len) < 0)
        return;
    journal_sent(s, s->chain.frames + e->off, e->len);
    s->pos++;
    s->sent++;
    s->unreported++;
    if (s->sent % s->chain.log_batch == 0) {
        report_events(s);
        in->svc->log(in->ctx, DOPPEL_LOG_DEBUG,
                     "stream %s (mock %s): %" PRIu64 " events sent", s->path,
                     s->mock_id, s->sent);
    }
    (void)schedule(s);
}

static void on_heartbeat(void *data)
{
    sse_stream_t *s = data;
    sse_inst_t *in = s->in;
    if (in->svc->now_ms(in->ctx) >= s->deadline_ms) {
        sse_stream_end(s, SSE_END_MAX_TIME);
        return;
    }
    static const char beat[] = ": heartbeat\n\n";
    (void)put(s, beat, sizeof(beat) - 1);
}

/* ---- the exchange -------------------------------------------------------- */

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

/* %XX and '+' decoded into out (room for len + 1); returns the length. A
 * bad escape or %00 stays as written. */
static size_t qdecode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi = s[i] == '%' && i + 2 < len ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* What the exchange borrows and this file owns for the match. */
typedef struct decoded {
    doppel_kv_t *params;
    size_t n_params;
    char *text;   /* the params' names and values */
    char *body;   /* {"name": "value"}: the first value of each name */
    char *target; /* the path with '%' escaped for the engine */
} decoded_t;

static void decoded_free(decoded_t *d)
{
    free(d->params);
    free(d->text);
    free(d->body);
    free(d->target);
}

static int decode_query(doppel_str_t q, decoded_t *d)
{
    json_t *o = json_object();
    if (o == NULL)
        return -ENOMEM;
    size_t count = 1;
    for (size_t i = 0; i < q.len; i++)
        count += q.ptr[i] == '&';
    if (q.len > 0) {
        d->params = calloc(count, sizeof(*d->params));
        d->text = malloc(q.len + 2 * count + 1);
        if (d->params == NULL || d->text == NULL) {
            json_decref(o);
            return -ENOMEM;
        }
    }
    char *t = d->text;
    const char *p = q.ptr, *end = q.len ? q.ptr + q.len : q.ptr;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            const char *ne = eq ? eq : pe, *v = eq ? eq + 1 : pe;
            doppel_kv_t *kv = &d->params[d->n_params++];
            kv->name = (doppel_str_t){t, qdecode(p, (size_t)(ne - p), t)};
            t += kv->name.len + 1;
            kv->value = (doppel_str_t){t, qdecode(v, (size_t)(pe - v), t)};
            t += kv->value.len + 1;
            /* a name or value that is not UTF-8 stays in the params
             * ($.queryParam) and out of the JSON body */
            json_t *val = json_stringn(kv->value.ptr, kv->value.len);
            if (val != NULL &&
                json_object_getn(o, kv->name.ptr, kv->name.len) == NULL)
                (void)json_object_setn_new(o, kv->name.ptr, kv->name.len, val);
            else
                json_decref(val);
        }
        p = pe + 1;
    }
    d->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return d->body ? 0 : -ENOMEM;
}

/* The engine splits the target on '/' and percent-decodes each segment,
 * and the front decoded the path already: every '%' is escaped once more
 * so that the path is decoded exactly once (as the HTTP plugin does). */
static int escape_target(doppel_str_t path, decoded_t *d)
{
    d->target = malloc(path.len * 3 + 1);
    if (d->target == NULL)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < path.len; i++) {
        d->target[o++] = path.ptr[i];
        if (path.ptr[i] == '%') {
            d->target[o++] = '2';
            d->target[o++] = '5';
        }
    }
    d->target[o] = '\0';
    return 0;
}

/* ---- starting a stream --------------------------------------------------- */

/* The chain the mock rendered, framed. Returns 0, -EINVAL (*why) or
 * -ENOMEM; *absent when the reply carries none. */
static int reply_chain(const doppel_reply_t *r, sse_chain_t *c, int *absent,
                       sse_chain_err_t *why)
{
    *absent = 0;
    const char *x =
        r->size >= offsetof(doppel_reply_t, extra) + sizeof(r->extra)
            ? r->extra.ptr
            : NULL;
    json_t *o = x && r->extra.len ? json_loadb(x, r->extra.len, 0, NULL) : NULL;
    const json_t *v = json_object_get(o, "sseEventChain");
    if (v == NULL) {
        json_decref(o);
        *absent = 1;
        return 0;
    }
    int rc =
        sse_chain_build(v, NULL, (const char *)r->body, r->body_len, c, why);
    json_decref(o);
    return rc;
}

/* The section's onStoreChange rules the engine handed over as written
 * (section_fields); none when there are none, or out of memory (the
 * stream still serves its chain). */
static void reply_rules(const doppel_reply_t *r, sse_rule_t **rules,
                        size_t *n)
{
    *rules = NULL;
    *n = 0;
    if (r->size < offsetof(doppel_reply_t, extra) + sizeof(r->extra) ||
        r->extra.len == 0 ||
        strstr(r->extra.ptr, "\"onStoreChange\"") == NULL)
        return;
    json_t *o = json_loadb(r->extra.ptr, r->extra.len, 0, NULL);
    (void)sse_rules_parse(json_object_get(o, "onStoreChange"), rules, n);
    json_decref(o);
}

static void copy_str(char *out, size_t cap, doppel_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(out, s.ptr, n);
    out[n] = '\0';
}

/* Sends the stream's headers and arms its timers; the stream is linked
 * into the instance. On failure everything is released (the exchange
 * answered). */
static void start_stream(sse_inst_t *in, doppel_http_exchange_t *ex,
                         doppel_reply_t *r, sse_chain_t *chain, doppel_str_t ns,
                         doppel_str_t path, size_t pos, const char *id)
{
    const doppel_services_t *svc = in->svc;
    sse_stream_t *s = calloc(1, sizeof(*s));
    doppel_kv_t *h = calloc(r->n_headers + 4, sizeof(*h));
    char *key = sse_key(ns, path);
    char *full = malloc(path.len + 1);
    if (s == NULL || h == NULL || key == NULL || full == NULL) {
        free(full);
        free(key);
        free(s);
        free(h);
        sse_chain_free(chain);
        svc->engine_reply_free(in->ctx, r);
        respond_json(in, ex, 500,
                     "{\"error\":\"out of memory\","
                     "\"code\":\"internal\"}");
        return;
    }
    s->in = in;
    s->ex = ex;
    s->key = key;
    memcpy(full, path.ptr, path.len);
    full[path.len] = '\0';
    s->full_path = full;
    copy_str(s->ns, sizeof(s->ns), ns);
    snprintf(s->id, sizeof(s->id), "%s", id);
    sse_sub_add(in->sh, key);
    s->chain = *chain;
    s->pos = pos;
    s->wait_extra_ms = r->delay_ms;
    copy_str(s->mock_id, sizeof(s->mock_id), r->mock_id);
    copy_str(s->path, sizeof(s->path), path);
    size_t n = 0;
    h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                           DOPPEL_STR("text/event-stream")};
    h[n++] = (doppel_kv_t){DOPPEL_STR("Cache-Control"), DOPPEL_STR("no-cache")};
    h[n++] = (doppel_kv_t){DOPPEL_STR("X-Accel-Buffering"), DOPPEL_STR("no")};
    h[n++] = (doppel_kv_t){DOPPEL_STR("X-Doppel-Mock-Id"),
                           {s->mock_id, strlen(s->mock_id)}};
    for (size_t i = 0; i < r->n_headers; i++)
        if (!framing_header(r->headers[i].name) &&
            !(r->headers[i].name.len == 13 &&
              strncasecmp(r->headers[i].name.ptr, "Cache-Control", 13) == 0))
            h[n++] = r->headers[i];
    sse_rule_t *rules = NULL;
    size_t n_rules = 0;
    reply_rules(r, &rules, &n_rules);
    int rc = svc->http_stream_start(ex, 200, h, n);
    free(h);
    svc->engine_reply_free(in->ctx, r);
    /* linked first: sse_stream_end unlinks */
    s->next = in->streams;
    if (in->streams)
        in->streams->prev = s;
    in->streams = s;
    in->n_streams++;
    (void)svc->metric_add(in->ctx, "streams_opened", NULL, 1);
    s->deadline_ms =
        svc->now_ms(in->ctx) + (uint64_t)s->chain.max_time_s * 1000;
    if (rc == -EINVAL) {
        /* a header the front refused: not streaming yet */
        sse_chain_free(&s->chain);
        in->streams = s->next;
        if (s->next)
            s->next->prev = NULL;
        in->n_streams--;
        sse_sub_del(in->sh, s->key);
        sse_rules_free(rules, n_rules);
        free(s->key);
        free(s->full_path);
        free(s);
        respond_json(in, ex, 500,
                     "{\"error\":\"the mock's response headers "
                     "were refused\",\"code\":\"internal\"}");
        return;
    }
    s->rules = rules;
    s->n_rules = n_rules;
    if (n_rules > 0)
        in->n_rule_streams++;
    if (rc < 0) {
        sse_stream_end(s, SSE_END_GONE);
        return;
    }
    if (s->chain.heartbeat_ms > 0 &&
        svc->timer_start(in->ctx, s->chain.heartbeat_ms, s->chain.heartbeat_ms,
                         on_heartbeat, s, &s->hb) < 0) {
        s->hb = NULL;
        sse_stream_end(s, SSE_END_ERROR);
        return;
    }
    (void)schedule(s);
}

/* Serves a matched mock: a stream, a 204 when Last-Event-ID names the
 * last event of a chain that does not loop, or the mock's own non-200
 * answer. Takes r. */
static void serve_reply(sse_inst_t *in, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req, doppel_reply_t *r,
                        doppel_str_t ns, doppel_str_t path, const char *id)
{
    sse_chain_t chain;
    sse_chain_err_t why;
    int absent = 0;
    if (r->status != 200) {
        respond_reply(in, ex, r);
        return;
    }
    int rc = reply_chain(r, &chain, &absent, &why);
    if (rc < 0 || absent) {
        char body[900];
        if (rc == -EINVAL)
            snprintf(body, sizeof(body),
                     "{\"error\":\"the rendered sseEventChain is invalid: "
                     "%.300s: %.400s\",\"code\":\"internal\"}",
                     why.field, why.message);
        else
            snprintf(body, sizeof(body),
                     "{\"error\":\"%s\",\"code\":"
                     "\"internal\"}",
                     absent ? "the mock has no sseEventChain"
                            : "out of memory");
        in->svc->engine_reply_free(in->ctx, r);
        respond_json(in, ex, 500, body);
        return;
    }
    const doppel_str_t *last = req->header(req, "Last-Event-ID");
    size_t pos =
        last && last->len ? sse_chain_resume(&chain, last->ptr, last->len) : 0;
    if (pos >= chain.n && !chain.loop) {
        /* the client has every event: 204 tells an EventSource to stop
         * reconnecting (HTML, 9.2.3) */
        sse_chain_free(&chain);
        doppel_kv_t h = {DOPPEL_STR("X-Doppel-Mock-Id"), r->mock_id};
        in->svc->http_respond(ex, 204, &h, 1, NULL, 0);
        in->svc->engine_reply_free(in->ctx, r);
        return;
    }
    start_stream(in, ex, r, &chain, ns, path, pos, id);
}

/* The namespace and the path: "<stubs>/<ns>/rest" -> (ns, "/rest");
 * else the X-Namespace header (or sandbox) and the path. Returns 0, or
 * -EINVAL for an invalid namespace. */
static int split_target(const sse_inst_t *in, const doppel_http_request_t *req,
                        doppel_str_t *ns, doppel_str_t *path)
{
    *ns = DOPPEL_STR("sandbox");
    *path = req->path;
    size_t pl = strlen(in->stubs_prefix);
    const char *p = req->path.ptr;
    if (req->path.len > pl + 1 && memcmp(p, in->stubs_prefix, pl) == 0 &&
        p[pl] == '/') {
        const char *s = p + pl + 1, *end = p + req->path.len;
        const char *slash = memchr(s, '/', (size_t)(end - s));
        if (slash == NULL || slash == s)
            return -EINVAL;
        *ns = (doppel_str_t){s, (size_t)(slash - s)};
        *path = (doppel_str_t){slash, (size_t)(end - slash)};
    } else {
        const doppel_str_t *h = req->header(req, "X-Namespace");
        if (h != NULL)
            *ns = *h;
    }
    return doppel_name_valid(ns->ptr, ns->len, SSE_NS_MAX) ? 0 : -EINVAL;
}

int sse_subscribe(void *state, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    sse_inst_t *in = state;
    const doppel_services_t *svc = in->svc;
    if (in->draining || in->stopping) {
        respond_json(in, ex, 503,
                     "{\"error\":\"shutting down\","
                     "\"code\":\"unavailable\"}");
        return 0;
    }
    doppel_str_t ns, path;
    if (split_target(in, req, &ns, &path) < 0) {
        respond_json(in, ex, 400,
                     "{\"error\":\"invalid namespace: expected "
                     "1 to 64 characters of A-Z a-z 0-9 . _ -\","
                     "\"code\":\"validation\","
                     "\"field\":\"namespace\"}");
        return 0;
    }
    if (in->n_streams >= in->max_streams) {
        char body[200];
        snprintf(body, sizeof(body),
                 "{\"error\":\"too many open event streams (max_streams "
                 "%u)\",\"code\":\"unavailable\"}",
                 in->max_streams);
        respond_json(in, ex, 503, body);
        return 0;
    }
    decoded_t d = {0};
    if (decode_query(req->query, &d) < 0 || escape_target(path, &d) < 0) {
        decoded_free(&d);
        return -ENOMEM;
    }
    /* the stream's id, named by its subscription's journal entry and by
     * every note of the stream */
    char id[24];
    snprintf(id, sizeof(id), "sse-%" PRIu64,
             __atomic_add_fetch(&in->sh->next_id, 1, __ATOMIC_RELAXED));
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("sse"),
        .ns = ns,
        .operation = req->method,
        .target = {d.target, strlen(d.target)},
        .metadata = req->headers,
        .n_metadata = req->n_headers,
        .params = d.params,
        .n_params = d.n_params,
        .body = (const uint8_t *)d.body,
        .body_len = strlen(d.body),
        .content_type = DOPPEL_STR("application/json"),
        .request_id = req->request_id,
        .remote_addr = req->remote_addr,
        .connection = {id, strlen(id)},
    };
    doppel_reply_t *r = NULL;
    int rc = svc->engine_match(in->ctx, &x, &r);
    decoded_free(&d);
    if (rc < 0 || r == NULL) {
        svc->log(in->ctx, DOPPEL_LOG_ERROR, "engine_match failed: %d", rc);
        respond_json(in, ex, 500,
                     "{\"error\":\"matching failed\","
                     "\"code\":\"internal\"}");
        return 0;
    }
    if (r->kind == DOPPEL_REPLY_PROXY) {
        /* the section refuses proxies; a record/replay service cannot
         * forward a stream */
        if (DOPPEL_HAS_SERVICE(svc, engine_forwarded))
            (void)svc->engine_forwarded(in->ctx, r, 502, "unsupported", 0);
        svc->engine_reply_free(in->ctx, r);
        respond_json(in, ex, 502,
                     "{\"error\":\"event streams are not "
                     "forwarded\",\"code\":\"unavailable\"}");
        return 0;
    }
    if (r->kind != DOPPEL_REPLY_RESPONSE) {
        respond_reply(in, ex, r);
        return 0;
    }
    serve_reply(in, ex, req, r, ns, path, id);
    return 0;
}
