/*
 * SSE framing and event chains (sse_chain.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_chain.h"

/* ---- buffers ------------------------------------------------------------- */

void sse_buf_free(sse_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int sse_buf_put(sse_buf_t *b, const void *s, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int put_str(sse_buf_t *b, const char *s)
{
    return sse_buf_put(b, s, strlen(s));
}

/* ---- framing ------------------------------------------------------------- */

/* "name: value\n" with CR, LF (and NUL) left out of value: a field value
 * is one line. */
static int put_field(sse_buf_t *b, const char *name, const char *v, size_t n)
{
    int rc = put_str(b, name);
    size_t i = 0;
    while (rc == 0 && i < n) {
        size_t j = i;
        while (j < n && v[j] != '\r' && v[j] != '\n' && v[j] != '\0')
            j++;
        rc = sse_buf_put(b, v + i, j - i);
        i = j + 1;
    }
    return rc == 0 ? sse_buf_put(b, "\n", 1) : rc;
}

int sse_frame_event(sse_buf_t *b, const char *event, size_t event_len,
                    const char *id, size_t id_len, int64_t retry,
                    const char *data, size_t data_len)
{
    int rc = 0;
    if (event != NULL && event_len > 0)
        rc = put_field(b, "event: ", event, event_len);
    if (rc == 0 && id != NULL)
        rc = put_field(b, "id: ", id, id_len);
    if (rc == 0 && retry >= 0) {
        char r[32];
        snprintf(r, sizeof(r), "retry: %" PRId64 "\n", retry);
        rc = put_str(b, r);
    }
    /* one data line per line: the client joins them with LF again */
    const char *p = data ? data : "", *end = p + data_len;
    for (;;) {
        const char *q = p;
        while (q < end && *q != '\r' && *q != '\n')
            q++;
        if (rc == 0)
            rc = put_str(b, "data: ");
        if (rc == 0)
            rc = sse_buf_put(b, p, (size_t)(q - p));
        if (rc == 0)
            rc = sse_buf_put(b, "\n", 1);
        if (rc < 0 || q == end)
            break;
        p = q + ((*q == '\r' && q + 1 < end && q[1] == '\n') ? 2 : 1);
    }
    return rc == 0 ? sse_buf_put(b, "\n", 1) : rc;
}

int sse_frame_comment(sse_buf_t *b, const char *text)
{
    int rc = put_field(b, ": ", text, strlen(text));
    return rc == 0 ? sse_buf_put(b, "\n", 1) : rc;
}

char *sse_data_text(const json_t *data, size_t *len)
{
    char *t;
    if (json_is_string(data)) {
        *len = json_string_length(data);
        t = malloc(*len + 1);
        if (t != NULL) {
            memcpy(t, json_string_value(data), *len);
            t[*len] = '\0';
        }
        return t;
    }
    t = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    *len = t ? strlen(t) : 0;
    return t;
}

/* ---- checking ------------------------------------------------------------ */

#define CHAIN "response.sseEventChain"

static int refuse(sse_chain_err_t *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(sse_chain_err_t *e, const char *field, const char *fmt, ...)
{
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* An optional integer member within [lo, hi]; *out keeps def when absent
 * or null. */
static int get_uint(const json_t *o, const char *key, const char *prefix,
                    int64_t lo, int64_t hi, uint32_t def, uint32_t *out,
                    sse_chain_err_t *e)
{
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (v == NULL || json_is_null(v))
        return 0;
    char f[256];
    snprintf(f, sizeof(f), "%s.%s", prefix, key);
    if (!json_is_integer(v))
        return refuse(e, f, "expected an integer from %" PRId64 " to %" PRId64,
                      lo, hi);
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return refuse(
            e, f, "%" PRId64 " is out of range: from %" PRId64 " to %" PRId64,
            (int64_t)n, lo, hi);
    *out = (uint32_t)n;
    return 0;
}

static int only_keys(const json_t *o, const char *const *keys,
                     const char *prefix, sse_chain_err_t *e)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        int known = 0;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known) {
            char f[256];
            snprintf(f, sizeof(f), "%s.%.200s", prefix, k);
            return refuse(e, f, "unknown member (expected one of %s)",
                          strcmp(prefix, CHAIN) == 0
                              ? "events, loop, loopDelay, heartbeat, "
                                "maxLoops, maxTime, logBatch"
                              : "eventName, data, delay, id, retry, "
                                "templatePath");
        }
    }
    return 0;
}

static const char *const chain_keys[] = {"events",    "loop",     "loopDelay",
                                         "heartbeat", "maxLoops", "maxTime",
                                         "logBatch",  NULL};
static const char *const event_keys[] = {
    "eventName", "data", "delay", "id", "retry", "templatePath", NULL};

/* A string member without line breaks (they would end the field). */
static int get_line(const json_t *o, const char *key, const char *prefix,
                    size_t max, int allow_number, sse_chain_err_t *e)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    char f[256];
    snprintf(f, sizeof(f), "%s.%s", prefix, key);
    if (allow_number && json_is_integer(v))
        return 0;
    if (!json_is_string(v))
        return refuse(e, f, "expected a string%s",
                      allow_number ? " (or an integer)" : "");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max)
        return refuse(e, f, "longer than %zu bytes", max);
    if (memchr(s, '\n', n) || memchr(s, '\r', n) || strlen(s) != n)
        return refuse(e, f,
                      "must not hold CR, LF or NUL: they would end "
                      "the field");
    return 0;
}

/* tmpl_any: templatePath is not compared (a rendered chain: it was when
 * the mock was stored) */
static int check_event(const json_t *ev, size_t i, const char *tmpl,
                       int tmpl_any, sse_chain_err_t *e)
{
    char p[96];
    snprintf(p, sizeof(p), CHAIN ".events[%zu]", i);
    if (!json_is_object(ev))
        return refuse(e, p,
                      "expected an event {eventName, data, delay, id, "
                      "retry}");
    if (only_keys(ev, event_keys, p, e) < 0)
        return -EINVAL;
    uint32_t u;
    if (get_line(ev, "eventName", p, 256, 0, e) < 0 ||
        get_line(ev, "id", p, SSE_ID_MAX, 1, e) < 0 ||
        get_uint(ev, "delay", p, 0, SSE_DELAY_MAX, 0, &u, e) < 0 ||
        get_uint(ev, "retry", p, 0, INT32_MAX, 0, &u, e) < 0)
        return -EINVAL;
    const json_t *tp = json_object_get(ev, "templatePath");
    const json_t *data = json_object_get(ev, "data");
    char f[128];
    if (tp != NULL && !json_is_null(tp)) {
        snprintf(f, sizeof(f), "%s.templatePath", p);
        if (!json_is_string(tp) || json_string_length(tp) == 0)
            return refuse(e, f, "expected the name of a template file");
        if (data != NULL)
            return refuse(e, f, "give data or templatePath, not both");
        if (tmpl_any)
            return 0;
        if (tmpl != NULL && strcmp(tmpl, json_string_value(tp)) != 0)
            return refuse(e, f,
                          "must name the file of "
                          "response.payloadTemplatePath (\"%.200s\"): "
                          "its rendered text is the event's data",
                          tmpl);
        if (tmpl == NULL)
            return refuse(e, f,
                          "set response.payloadTemplatePath to the "
                          "same file: its rendered text is the "
                          "event's data");
        return 0;
    }
    if (data == NULL) {
        snprintf(f, sizeof(f), "%s.data", p);
        return refuse(e, f,
                      "required: what the event carries (any JSON; a "
                      "string is sent as is)");
    }
    return 0;
}

static int chain_check(const json_t *v, const char *payload_template,
                       int tmpl_any, sse_chain_err_t *e)
{
    if (!json_is_object(v))
        return refuse(e, CHAIN,
                      "required: an object {events, loop, "
                      "loopDelay, heartbeat, maxLoops, maxTime, "
                      "logBatch}");
    if (only_keys(v, chain_keys, CHAIN, e) < 0)
        return -EINVAL;
    const json_t *evs = json_object_get(v, "events");
    if (!json_is_array(evs))
        return refuse(e, CHAIN ".events", "expected an array of events");
    size_t n = json_array_size(evs);
    if (n == 0 || n > SSE_EVENTS_MAX)
        return refuse(e, CHAIN ".events", "expected 1 to %d events",
                      SSE_EVENTS_MAX);
    for (size_t i = 0; i < n; i++)
        if (check_event(json_array_get(evs, i), i, payload_template, tmpl_any,
                        e) < 0)
            return -EINVAL;
    const json_t *loop = json_object_get(v, "loop");
    if (loop != NULL && !json_is_null(loop) && !json_is_boolean(loop))
        return refuse(e, CHAIN ".loop", "expected true or false");
    uint32_t u;
    if (get_uint(v, "loopDelay", CHAIN, SSE_LOOP_DELAY_MIN, SSE_DELAY_MAX, 0,
                 &u, e) < 0 ||
        get_uint(v, "maxLoops", CHAIN, 0, INT32_MAX, 0, &u, e) < 0 ||
        get_uint(v, "maxTime", CHAIN, 0, SSE_MAX_TIME_MAX, 0, &u, e) < 0 ||
        get_uint(v, "logBatch", CHAIN, 1, INT32_MAX, 0, &u, e) < 0)
        return -EINVAL;
    if (get_uint(v, "heartbeat", CHAIN, 0, SSE_DELAY_MAX, 0, &u, e) < 0)
        return -EINVAL;
    if (u > 0 && u < SSE_HEARTBEAT_MIN)
        return refuse(e, CHAIN ".heartbeat",
                      "%u is out of range: 0 (off) or from %u to %u ms", u,
                      SSE_HEARTBEAT_MIN, SSE_DELAY_MAX);
    return 0;
}

int sse_chain_check(const json_t *v, const char *payload_template,
                    sse_chain_err_t *e)
{
    return chain_check(v, payload_template, 0, e);
}

/* ---- building ------------------------------------------------------------ */

void sse_chain_free(sse_chain_t *c)
{
    for (size_t i = 0; c->ev && i < c->n; i++)
        free(c->ev[i].id);
    free(c->ev);
    free(c->frames);
    memset(c, 0, sizeof(*c));
}

/* The id an event is sent with: its own (a string, or an integer in
 * decimal), else its 1-based position. */
static char *event_id(const json_t *ev, size_t i)
{
    const json_t *id = json_object_get(ev, "id");
    char num[32];
    if (json_is_string(id))
        return strdup(json_string_value(id));
    if (json_is_integer(id))
        snprintf(num, sizeof(num), "%" PRId64, (int64_t)json_integer_value(id));
    else
        snprintf(num, sizeof(num), "%zu", i + 1);
    return strdup(num);
}

static int build_event(const json_t *ev, size_t i, const char *def_event,
                       const char *payload, size_t payload_len, sse_buf_t *b,
                       sse_event_t *out)
{
    const json_t *name = json_object_get(ev, "eventName");
    const char *en = json_is_string(name) ? json_string_value(name) : def_event;
    const json_t *retry = json_object_get(ev, "retry");
    const json_t *data = json_object_get(ev, "data");
    const json_t *delay = json_object_get(ev, "delay");
    out->delay_ms =
        json_is_integer(delay) ? (uint32_t)json_integer_value(delay) : 0;
    out->id = event_id(ev, i);
    if (out->id == NULL)
        return -ENOMEM;
    size_t dl = 0;
    char *dt = NULL;
    if (data != NULL) {
        dt = sse_data_text(data, &dl);
        if (dt == NULL)
            return -ENOMEM;
    }
    out->off = b->len;
    int rc = sse_frame_event(
        b, en, en ? strlen(en) : 0, out->id, strlen(out->id),
        json_is_integer(retry) ? (int64_t)json_integer_value(retry) : -1,
        dt ? dt : (payload ? payload : ""), dt ? dl : payload_len);
    free(dt);
    out->len = b->len - out->off;
    return rc;
}

int sse_chain_build(const json_t *v, const char *default_event,
                    const char *payload, size_t payload_len, sse_chain_t *out,
                    sse_chain_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (chain_check(v, NULL, 1, err) < 0)
        return -EINVAL;
    const json_t *evs = json_object_get(v, "events");
    size_t n = json_array_size(evs);
    out->ev = calloc(n, sizeof(*out->ev));
    if (out->ev == NULL)
        return -ENOMEM;
    out->n = n;
    sse_buf_t b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = build_event(json_array_get(evs, i), i, default_event, payload,
                         payload_len, &b, &out->ev[i]);
        if (rc == 0 && b.len > SSE_CHAIN_BYTES_MAX)
            rc = refuse(err, CHAIN ".events", "the rendered events pass %u MiB",
                        SSE_CHAIN_BYTES_MAX >> 20);
    }
    out->frames = b.p;
    out->frames_len = b.len;
    if (rc < 0) {
        sse_chain_free(out);
        return rc;
    }
    out->loop = json_is_true(json_object_get(v, "loop"));
    sse_chain_err_t ignore;
    (void)get_uint(v, "loopDelay", CHAIN, SSE_LOOP_DELAY_MIN, SSE_DELAY_MAX,
                   SSE_LOOP_DELAY_DEFAULT, &out->loop_delay_ms, &ignore);
    (void)get_uint(v, "heartbeat", CHAIN, 0, SSE_DELAY_MAX, 0,
                   &out->heartbeat_ms, &ignore);
    (void)get_uint(v, "maxLoops", CHAIN, 0, INT32_MAX, SSE_MAX_LOOPS_DEFAULT,
                   &out->max_loops, &ignore);
    (void)get_uint(v, "maxTime", CHAIN, 0, SSE_MAX_TIME_MAX, 0,
                   &out->max_time_s, &ignore);
    if (out->max_time_s == 0)
        out->max_time_s = SSE_MAX_TIME_DEFAULT;
    (void)get_uint(v, "logBatch", CHAIN, 1, INT32_MAX, SSE_LOG_BATCH_DEFAULT,
                   &out->log_batch, &ignore);
    return 0;
}

size_t sse_chain_resume(const sse_chain_t *c, const char *last_id, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->ev[i].id) == len &&
            memcmp(c->ev[i].id, last_id, len) == 0)
            return i + 1;
    return 0;
}
