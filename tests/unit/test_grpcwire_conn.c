/*
 * The gRPC transport core (plugins/grpc/grpc_wire.h) against a real
 * nghttp2 client session in the same process, wired back to back through
 * memory: what a gRPC client sends goes into gw_conn_feed, what the core
 * hands to ops->send goes into the client's mem_recv.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "grpc_wire.h"

/* ---------- a growing byte buffer ---------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static const char *buf_cstr(buf_t *b)
{
    if (b->p == NULL)
        buf_add(b, "", 0);
    return (const char *)b->p;
}

static void buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* a gRPC message frame */
static void buf_msg(buf_t *b, const void *p, size_t n, uint8_t flag)
{
    uint8_t pfx[5] = {flag, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                      (uint8_t)(n >> 8), (uint8_t)n};
    buf_add(b, pfx, 5);
    buf_add(b, p, n);
}

/* ---------- the client side ---------- */

#define MAX_STREAMS 8

typedef struct cstream {
    int32_t sid;
    buf_t hdrs;     /* "name: value\n" of the response HEADERS */
    buf_t trailers; /* "name: value\n" of the trailing HEADERS */
    buf_t data;     /* response DATA bytes */
    int header_frames;
    int trailers_only; /* the response HEADERS ended the stream */
    int closed;
    uint32_t close_code;
    int rst_received;
    uint32_t rst_code;
    buf_t out; /* request body to send */
    size_t out_off;
    int eof;      /* half-close once out is sent */
    size_t chunk; /* at most this many bytes per DATA frame, 0 = any */
} cstream_t;

typedef struct pair {
    nghttp2_session *cli;
    gw_conn_t *srv;
    gw_conn_ops_t ops;
    buf_t s2c;            /* bytes the server sent, not yet read */
    size_t pending;       /* what ops->pending reports */
    int send_fail;
    int wakes;
    uint64_t now;
    cstream_t st[MAX_STREAMS];
    int nst;
    int ping_acks;
    int goaway;
    uint32_t goaway_code;
    int32_t goaway_last;
    int feed_rc;
} pair_t;

static cstream_t *cs_of(pair_t *p, int32_t sid)
{
    for (int i = 0; i < p->nst; i++)
        if (p->st[i].sid == sid)
            return &p->st[i];
    return NULL;
}

static int cli_on_header(nghttp2_session *s, const nghttp2_frame *f,
                         const uint8_t *name, size_t nlen,
                         const uint8_t *value, size_t vlen, uint8_t flags,
                         void *ud)
{
    (void)s;
    (void)flags;
    cstream_t *cs = cs_of(ud, f->hd.stream_id);
    if (cs == NULL)
        return 0;
    buf_t *b = f->headers.cat == NGHTTP2_HCAT_HEADERS ? &cs->trailers : &cs->hdrs;
    buf_add(b, name, nlen);
    buf_str(b, ": ");
    buf_add(b, value, vlen);
    buf_str(b, "\n");
    return 0;
}

static int cli_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                             void *ud)
{
    (void)s;
    pair_t *p = ud;
    cstream_t *cs = cs_of(p, f->hd.stream_id);
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (cs == NULL)
            break;
        cs->header_frames++;
        if (f->headers.cat == NGHTTP2_HCAT_RESPONSE &&
            (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            cs->trailers_only = 1;
        break;
    case NGHTTP2_RST_STREAM:
        if (cs != NULL) {
            cs->rst_received = 1;
            cs->rst_code = f->rst_stream.error_code;
        }
        break;
    case NGHTTP2_PING:
        if (f->hd.flags & NGHTTP2_FLAG_ACK)
            p->ping_acks++;
        break;
    case NGHTTP2_GOAWAY:
        p->goaway++;
        p->goaway_code = f->goaway.error_code;
        p->goaway_last = f->goaway.last_stream_id;
        break;
    default:
        break;
    }
    return 0;
}

static int cli_on_data(nghttp2_session *s, uint8_t flags, int32_t sid,
                       const uint8_t *data, size_t len, void *ud)
{
    (void)s;
    (void)flags;
    cstream_t *cs = cs_of(ud, sid);
    if (cs != NULL)
        buf_add(&cs->data, data, len);
    return 0;
}

static int cli_on_close(nghttp2_session *s, int32_t sid, uint32_t code,
                        void *ud)
{
    (void)s;
    cstream_t *cs = cs_of(ud, sid);
    if (cs != NULL) {
        cs->closed = 1;
        cs->close_code = code;
    }
    return 0;
}

static ssize_t cli_read(nghttp2_session *s, int32_t sid, uint8_t *out,
                        size_t length, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)sid;
    (void)ud;
    cstream_t *cs = src->ptr;
    size_t avail = cs->out.len - cs->out_off;
    if (avail == 0 && !cs->eof)
        return NGHTTP2_ERR_DEFERRED;
    size_t n = avail < length ? avail : length;
    if (cs->chunk && n > cs->chunk)
        n = cs->chunk;
    if (n > 0)
        memcpy(out, cs->out.p + cs->out_off, n);
    cs->out_off += n;
    if (cs->out_off == cs->out.len && cs->eof)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---------- the server side: the layer above, scripted per test ---------- */

typedef enum {
    APP_ECHO_AT_CLOSE, /* answer the messages after the half-close */
    APP_ECHO_NOW,      /* echo each message at once (bidi) */
    APP_STREAM3,       /* three messages then OK */
    APP_HOLD,          /* do nothing until the test says so */
    APP_BIG,           /* answer with a big message */
    APP_FAIL_AT_START, /* UNIMPLEMENTED from on_call_start */
    APP_STOP_AT_MSG,   /* finish at the first message */
    APP_DROP_AT_MSG,   /* release (no finish) at the first message */
} app_mode_t;

#define MAX_CALLS 8

typedef struct app_call {
    gw_call_t *call;
    char path[128];
    buf_t md; /* "key: value\n" */
    uint64_t deadline;
    int messages;
    buf_t got; /* every message, concatenated */
    size_t last_len;
    int half_closed;
    int cancelled;
    gw_cancel_reason_t reason;
    int released;
} app_call_t;

static struct app {
    app_mode_t mode;
    size_t big;
    app_call_t calls[MAX_CALLS];
    int ncalls;
    int started;
    const char *fail_message; /* finish with this status when set */
    int fail_code;
} app;

static app_call_t *app_of(gw_call_t *call)
{
    return gw_call_data(call);
}

static void app_finish(app_call_t *a, int code, const char *msg)
{
    gw_md_t trl[] = {{"x-trace", 7, "t1", 2}};
    assert_int_equal(gw_call_finish(a->call, code, msg, NULL, 0, trl, 1), 0);
    gw_call_release(a->call);
    a->released = 1;
}

static void app_on_start(gw_call_t *call, const char *path, size_t path_len,
                         const gw_md_t *md, size_t n, uint64_t deadline)
{
    assert_true(app.ncalls < MAX_CALLS);
    app_call_t *a = &app.calls[app.ncalls++];
    memset(a, 0, sizeof(*a));
    a->call = call;
    assert_true(path_len < sizeof(a->path));
    memcpy(a->path, path, path_len);
    assert_int_equal(strlen(path), path_len); /* NUL-terminated */
    for (size_t i = 0; i < n; i++) {
        buf_add(&a->md, md[i].key, md[i].key_len);
        buf_str(&a->md, ": ");
        buf_add(&a->md, md[i].value, md[i].value_len);
        buf_str(&a->md, "\n");
    }
    a->deadline = deadline;
    gw_call_set_data(call, a);
    app.started++;
    if (app.mode == APP_FAIL_AT_START)
        app_finish(a, GW_UNIMPLEMENTED, "unknown service s.S");
}

static void app_on_message(gw_call_t *call, const uint8_t *msg, size_t len)
{
    app_call_t *a = app_of(call);
    a->messages++;
    a->last_len = len;
    buf_add(&a->got, msg, len);
    if (app.mode == APP_STOP_AT_MSG) {
        app_finish(a, GW_OK, NULL);
        return;
    }
    if (app.mode == APP_DROP_AT_MSG) {
        gw_call_release(call);
        a->released = 1;
        return;
    }
    if (app.mode == APP_ECHO_NOW)
        assert_int_equal(gw_call_send_message(call, msg, len), 0);
}

static void app_on_half_close(gw_call_t *call)
{
    app_call_t *a = app_of(call);
    a->half_closed = 1;
    /* a flush from inside a callback waits for the feed's own */
    pair_t *p = gw_conn_user(gw_call_conn(call));
    size_t before = p->s2c.len;
    assert_int_equal(gw_conn_flush(gw_call_conn(call)), 0);
    assert_int_equal(p->s2c.len, before);
    if (app.fail_message != NULL) {
        app_finish(a, app.fail_code, app.fail_message);
        return;
    }
    switch (app.mode) {
    case APP_ECHO_AT_CLOSE: {
        gw_md_t hd[] = {{"x-served-by", 11, "doppel", 6}};
        assert_int_equal(gw_call_send_headers(call, hd, 1), 0);
        assert_int_equal(gw_call_send_headers(call, hd, 1), -EALREADY);
        assert_int_equal(gw_call_send_message(call, a->got.p, a->got.len), 0);
        app_finish(a, GW_OK, NULL);
        break;
    }
    case APP_ECHO_NOW:
        app_finish(a, GW_OK, NULL);
        break;
    case APP_STREAM3:
        for (int i = 1; i <= 3; i++) {
            char m[8];
            snprintf(m, sizeof(m), "m%d", i);
            assert_int_equal(gw_call_send_message(call, (uint8_t *)m, 2), 0);
        }
        app_finish(a, GW_OK, NULL);
        break;
    case APP_BIG: {
        uint8_t *big = malloc(app.big);
        assert_non_null(big);
        for (size_t i = 0; i < app.big; i++)
            big[i] = (uint8_t)(i * 7 + 3);
        assert_int_equal(gw_call_send_message(call, big, app.big), 0);
        free(big);
        app_finish(a, GW_OK, NULL);
        break;
    }
    case APP_HOLD:
    case APP_FAIL_AT_START:
    case APP_STOP_AT_MSG:
    case APP_DROP_AT_MSG:
        break;
    }
}

static void app_on_cancel(gw_call_t *call)
{
    app_call_t *a = app_of(call);
    a->cancelled = 1;
    a->reason = gw_call_cancel_reason(call);
    /* after on_cancel the call refuses everything */
    assert_int_equal(gw_call_send_message(call, (const uint8_t *)"x", 1),
                     -ECANCELED);
    assert_int_equal(gw_call_finish(call, 0, NULL, NULL, 0, NULL, 0),
                     -ECANCELED);
    gw_call_release(call);
    a->released = 1;
}

/* ---------- wiring ---------- */

static int srv_send(void *ud, const uint8_t *bytes, size_t len)
{
    pair_t *p = ud;
    if (p->send_fail)
        return -ENOBUFS;
    buf_add(&p->s2c, bytes, len);
    return 0;
}

static size_t srv_pending(void *ud)
{
    return ((pair_t *)ud)->pending;
}

static void srv_wake(void *ud)
{
    ((pair_t *)ud)->wakes++;
}

static uint64_t srv_now(void *ud)
{
    return ((pair_t *)ud)->now;
}

static void pair_open(pair_t *p, const gw_conn_cfg_t *base,
                      const nghttp2_settings_entry *civ, size_t nciv,
                      int manual_window)
{
    memset(p, 0, sizeof(*p));
    memset(&app, 0, sizeof(app)); /* a failed test left it behind */
    p->now = 1000000;
    p->ops = (gw_conn_ops_t){srv_send, srv_pending, srv_wake, srv_now};
    gw_conn_cfg_t cfg = {0};
    if (base != NULL)
        cfg = *base;
    cfg.cb = (gw_call_cb_t){app_on_start, app_on_message, app_on_half_close,
                            app_on_cancel};
    p->srv = gw_conn_new(&cfg, &p->ops, p);
    assert_non_null(p->srv);

    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
    nghttp2_option *opt;
    assert_int_equal(nghttp2_option_new(&opt), 0);
    if (manual_window)
        nghttp2_option_set_no_auto_window_update(opt, 1);
    assert_int_equal(nghttp2_session_client_new2(&p->cli, cbs, p, opt), 0);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(p->cli, NGHTTP2_FLAG_NONE, civ,
                                             nciv), 0);
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(pair_t *p)
{
    for (int round = 0; round < 10000; round++) {
        int moved = 0;
        const uint8_t *d;
        ssize_t n;
        buf_t c2s = {0};
        while ((n = nghttp2_session_mem_send(p->cli, &d)) > 0)
            buf_add(&c2s, d, (size_t)n);
        assert_true(n >= 0);
        if (c2s.len > 0) {
            moved = 1;
            p->feed_rc = gw_conn_feed(p->srv, c2s.p, c2s.len);
        }
        buf_free(&c2s);
        gw_conn_flush(p->srv);
        if (p->s2c.len > 0) {
            moved = 1;
            buf_t in = p->s2c;
            memset(&p->s2c, 0, sizeof(p->s2c));
            n = nghttp2_session_mem_recv(p->cli, in.p, in.len);
            buf_free(&in);
            assert_true(n >= 0);
        }
        if (!moved)
            return;
    }
    fail_msg("pump does not settle");
}

/* Forgets the streams and calls seen so far (they must be over). */
static void pair_forget(pair_t *p)
{
    for (int i = 0; i < p->nst; i++) {
        buf_free(&p->st[i].hdrs);
        buf_free(&p->st[i].trailers);
        buf_free(&p->st[i].data);
        buf_free(&p->st[i].out);
    }
    p->nst = 0;
    for (int i = 0; i < app.ncalls; i++) {
        buf_free(&app.calls[i].md);
        buf_free(&app.calls[i].got);
    }
    app.ncalls = 0;
}

static void pair_close(pair_t *p)
{
    gw_conn_free(p->srv);
    nghttp2_session_del(p->cli);
    buf_free(&p->s2c);
    pair_forget(p);
    memset(&app, 0, sizeof(app));
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0}

/* Opens a request stream: the usual gRPC headers plus extra ones. */
static cstream_t *call_open(pair_t *p, const char *path,
                            const nghttp2_nv *extra, size_t nextra)
{
    nghttp2_nv nv[64] = {
        NV(":method", "POST"), NV(":scheme", "http"),
        NV(":authority", "localhost"), NV(":path", ""),
        NV("content-type", "application/grpc"), NV("te", "trailers"),
    };
    nv[3].value = (uint8_t *)path;
    nv[3].valuelen = strlen(path);
    size_t n = 6;
    assert_true(nextra <= 64 - 6);
    for (size_t i = 0; i < nextra; i++) {
        /* an extra with a known name replaces the default */
        size_t j;
        for (j = 0; j < 6; j++)
            if (nv[j].namelen == extra[i].namelen &&
                memcmp(nv[j].name, extra[i].name, extra[i].namelen) == 0)
                break;
        if (j < 6)
            nv[j] = extra[i];
        else
            nv[n++] = extra[i];
    }
    assert_true(p->nst < MAX_STREAMS);
    cstream_t *cs = &p->st[p->nst++];
    memset(cs, 0, sizeof(*cs));
    nghttp2_data_provider prd = {.source.ptr = cs, .read_callback = cli_read};
    cs->sid = nghttp2_submit_request(p->cli, NULL, nv, n, &prd, cs);
    assert_true(cs->sid > 0);
    return cs;
}

static void call_send(pair_t *p, cstream_t *cs, const void *msg, size_t len,
                      int end)
{
    buf_msg(&cs->out, msg, len, 0);
    cs->eof = end;
    nghttp2_session_resume_data(p->cli, cs->sid);
}

static void call_send_raw(pair_t *p, cstream_t *cs, const void *b, size_t len,
                          int end)
{
    buf_add(&cs->out, b, len);
    cs->eof = end;
    nghttp2_session_resume_data(p->cli, cs->sid);
}

/* the n-th gRPC message of the response DATA (0-based), its length */
static const uint8_t *resp_msg(cstream_t *cs, int nth, size_t *len)
{
    size_t off = 0;
    for (int i = 0;; i++) {
        if (off + 5 > cs->data.len)
            return NULL;
        const uint8_t *q = cs->data.p + off;
        assert_int_equal(q[0], 0);
        size_t l = (size_t)q[1] << 24 | (size_t)q[2] << 16 |
                   (size_t)q[3] << 8 | q[4];
        if (off + 5 + l > cs->data.len)
            return NULL;
        if (i == nth) {
            *len = l;
            return q + 5;
        }
        off += 5 + l;
    }
}

static int resp_msgs(cstream_t *cs)
{
    size_t l = 0;
    int n = 0;
    while (resp_msg(cs, n, &l) != NULL)
        n++;
    return n;
}

/* the grpc-status a client would read: from trailers, or trailers-only */
static int resp_status(cstream_t *cs)
{
    const char *src = cs->trailers_only ? buf_cstr(&cs->hdrs)
                                        : buf_cstr(&cs->trailers);
    const char *s = strstr(src, "grpc-status: ");
    return s ? atoi(s + 13) : -1;
}

static void assert_has(buf_t *b, const char *needle)
{
    const char *s = buf_cstr(b);
    if (strstr(s, needle) == NULL)
        fail_msg("\"%s\" not in:\n%s", needle, s);
}

static void assert_lacks(buf_t *b, const char *needle)
{
    const char *s = buf_cstr(b);
    if (strstr(s, needle) != NULL)
        fail_msg("\"%s\" unexpectedly in:\n%s", needle, s);
}

/* ---------- tests ---------- */

static void test_unary_call(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    nghttp2_nv md[] = {NV("x-tenant", "acme"), NV("x-id-bin", "AAEC"),
                       NV("x-short-bin", "AAE"), NV("x-url-bin", "-_8")};
    cstream_t *cs = call_open(&p, "/order.v1.OrderService/GetOrder", md, 4);
    call_send(&p, cs, "hello", 5, 1);
    pump(&p);

    assert_int_equal(app.started, 1);
    app_call_t *a = &app.calls[0];
    assert_string_equal(a->path, "/order.v1.OrderService/GetOrder");
    assert_has(&a->md, "x-tenant: acme\n");
    assert_has(&a->md, "x-id-bin: AAEC\n");
    /* -bin values arrive in one form: standard alphabet, padded */
    assert_has(&a->md, "x-short-bin: AAE=\n");
    assert_has(&a->md, "x-url-bin: +/8=\n");
    assert_has(&a->md, "content-type: application/grpc\n");
    assert_lacks(&a->md, ":path");
    assert_int_equal(a->deadline, 0);
    assert_int_equal(a->messages, 1);
    assert_memory_equal(a->got.p, "hello", 5);
    assert_true(a->half_closed);
    assert_false(a->cancelled);

    assert_true(cs->closed);
    assert_int_equal(cs->close_code, NGHTTP2_NO_ERROR);
    assert_false(cs->trailers_only);
    assert_has(&cs->hdrs, ":status: 200\n");
    assert_has(&cs->hdrs, "content-type: application/grpc\n");
    assert_has(&cs->hdrs, "x-served-by: doppel\n");
    assert_int_equal(resp_msgs(cs), 1);
    size_t l = 0;
    const uint8_t *m = resp_msg(cs, 0, &l);
    assert_int_equal(l, 5);
    assert_memory_equal(m, "hello", 5);
    assert_int_equal(resp_status(cs), 0);
    assert_has(&cs->trailers, "x-trace: t1\n");
    assert_lacks(&cs->trailers, "grpc-message");
    assert_int_equal(gw_conn_active_calls(p.srv), 0);
    pair_close(&p);
}

static void test_server_streaming(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_STREAM3;
    cstream_t *cs = call_open(&p, "/s.S/List", NULL, 0);
    call_send(&p, cs, "q", 1, 1);
    pump(&p);
    assert_int_equal(resp_msgs(cs), 3);
    size_t l = 0;
    assert_memory_equal(resp_msg(cs, 0, &l), "m1", 2);
    assert_memory_equal(resp_msg(cs, 2, &l), "m3", 2);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_client_streaming_split_frames(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *cs = call_open(&p, "/s.S/Upload", NULL, 0);
    cs->chunk = 3; /* every prefix and message split over DATA frames */
    buf_msg(&cs->out, "first", 5, 0);
    buf_msg(&cs->out, "", 0, 0); /* an empty message is a message */
    buf_msg(&cs->out, "second!", 7, 0);
    cs->eof = 1;
    nghttp2_session_resume_data(p.cli, cs->sid);
    pump(&p);
    app_call_t *a = &app.calls[0];
    assert_int_equal(a->messages, 3);
    assert_int_equal(a->got.len, 12);
    assert_memory_equal(a->got.p, "firstsecond!", 12);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_bidirectional_echo(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_NOW;
    cstream_t *cs = call_open(&p, "/chat.Chat/Talk", NULL, 0);
    call_send(&p, cs, "one", 3, 0);
    pump(&p);
    /* the answer comes while the client stream is still open */
    assert_int_equal(resp_msgs(cs), 1);
    assert_false(cs->closed);
    call_send(&p, cs, "two", 3, 0);
    pump(&p);
    assert_int_equal(resp_msgs(cs), 2);
    size_t l = 0;
    assert_memory_equal(resp_msg(cs, 1, &l), "two", 3);
    cs->eof = 1;
    nghttp2_session_resume_data(p.cli, cs->sid);
    pump(&p);
    assert_true(cs->closed);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_flow_control_small_window(void **st)
{
    (void)st;
    pair_t p;
    nghttp2_settings_entry civ[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000}};
    pair_open(&p, NULL, civ, 1, 1);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/Big", NULL, 0);
    call_send(&p, cs, "go", 2, 1);
    pump(&p);
    gw_call_t *call = app.calls[0].call;
    uint8_t *big = malloc(10000);
    assert_non_null(big);
    for (size_t i = 0; i < 10000; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(gw_call_send_message(call, big, 10000), 0);
    free(big);
    assert_int_equal(gw_call_unsent(call), 10005);
    assert_int_equal(gw_call_finish(call, GW_OK, NULL, NULL, 0, NULL, 0), 0);
    pump(&p);
    /* the stream window is used up: no more DATA until the client reads */
    assert_int_equal(cs->data.len, 1000);
    assert_false(cs->closed);
    assert_int_equal(gw_call_unsent(call), 10005 - 1000);
    int rounds = 0;
    while (!cs->closed && rounds++ < 100) {
        size_t before = cs->data.len;
        nghttp2_session_consume(p.cli, cs->sid, 1000);
        pump(&p);
        assert_true(cs->data.len > before);
        assert_true(cs->data.len - before <= 1000);
    }
    assert_true(cs->closed);
    assert_true(rounds >= 9);
    assert_int_equal(gw_call_unsent(call), 0);
    gw_call_release(call);
    size_t l = 0;
    const uint8_t *m = resp_msg(cs, 0, &l);
    assert_non_null(m);
    assert_int_equal(l, 10000);
    for (size_t i = 0; i < l; i++)
        if (m[i] != (uint8_t)(i * 7 + 3))
            fail_msg("byte %zu differs", i);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_big_messages_both_ways(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_BIG;
    app.big = 300000; /* many DATA frames of 16 KiB */
    cstream_t *cs = call_open(&p, "/s.S/Big", NULL, 0);
    size_t n = 200000;
    uint8_t *req = malloc(n);
    assert_non_null(req);
    for (size_t i = 0; i < n; i++)
        req[i] = (uint8_t)(i % 251);
    call_send(&p, cs, req, n, 1);
    pump(&p);
    app_call_t *a = &app.calls[0];
    assert_int_equal(a->messages, 1);
    assert_int_equal(a->got.len, n);
    assert_memory_equal(a->got.p, req, n);
    size_t l = 0;
    assert_non_null(resp_msg(cs, 0, &l));
    assert_int_equal(l, 300000);
    assert_int_equal(resp_status(cs), 0);
    free(req);
    pair_close(&p);
}

static void test_oversized_message_other_stream_lives(void **st)
{
    (void)st;
    pair_t p;
    gw_conn_cfg_t cfg = {.max_message_size = 1000};
    pair_open(&p, &cfg, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *big = call_open(&p, "/s.S/A", NULL, 0);
    cstream_t *ok = call_open(&p, "/s.S/B", NULL, 0);
    uint8_t body[1001];
    memset(body, 'z', sizeof(body));
    call_send(&p, big, body, sizeof(body), 0); /* still sending */
    pump(&p);
    assert_int_equal(resp_status(big), GW_RESOURCE_EXHAUSTED);
    assert_has(big->trailers_only ? &big->hdrs : &big->trailers,
               "grpc-message: received message larger than max (1001 vs. 1000)");
    assert_true(big->closed);
    /* the client had not half-closed: the stream is reset after the status */
    assert_true(big->rst_received);
    assert_int_equal(big->rst_code, NGHTTP2_NO_ERROR);
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_BAD_INPUT);
    assert_int_equal(app.calls[0].messages, 0);

    call_send(&p, ok, body, 1000, 1); /* exactly the limit */
    pump(&p);
    assert_int_equal(resp_status(ok), 0);
    assert_int_equal(app.calls[1].messages, 1);
    assert_int_equal(p.goaway, 0);
    pair_close(&p);
}

static void test_bad_prefix_and_compressed_flag(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *a = call_open(&p, "/s.S/A", NULL, 0);
    cstream_t *b = call_open(&p, "/s.S/B", NULL, 0);
    const uint8_t bad[] = {2, 0, 0, 0, 1, 'x'};
    const uint8_t comp[] = {1, 0, 0, 0, 1, 'x'};
    call_send_raw(&p, a, bad, sizeof(bad), 1);
    call_send_raw(&p, b, comp, sizeof(comp), 1);
    pump(&p);
    assert_int_equal(resp_status(a), GW_INTERNAL);
    assert_has(&a->hdrs, "grpc-message: bad message prefix");
    assert_int_equal(resp_status(b), GW_INTERNAL);
    assert_has(&b->hdrs, "compressed message without grpc-encoding");
    assert_int_equal(app.calls[0].messages + app.calls[1].messages, 0);
    pair_close(&p);
}

static void test_truncated_message_at_end_of_stream(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    const uint8_t part[] = {0, 0, 0, 0, 9, 'a', 'b'};
    call_send_raw(&p, cs, part, sizeof(part), 1);
    pump(&p);
    assert_int_equal(resp_status(cs), GW_INTERNAL);
    assert_has(&cs->hdrs, "incomplete message");
    assert_false(app.calls[0].half_closed);
    assert_true(app.calls[0].cancelled);
    pair_close(&p);
}

static void test_unsupported_encoding(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    nghttp2_nv md[] = {NV("grpc-encoding", "gzip")};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 0);
    assert_true(cs->trailers_only);
    assert_int_equal(cs->header_frames, 1);
    assert_int_equal(cs->data.len, 0);
    assert_int_equal(resp_status(cs), GW_UNIMPLEMENTED);
    assert_has(&cs->hdrs, "grpc-accept-encoding: identity\n");
    assert_has(&cs->hdrs, "grpc-message: grpc-encoding gzip is not supported");
    /* identity is fine */
    nghttp2_nv id[] = {NV("grpc-encoding", "identity")};
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *ok = call_open(&p, "/s.S/A", id, 1);
    call_send(&p, ok, "x", 1, 1);
    pump(&p);
    assert_int_equal(resp_status(ok), 0);
    pair_close(&p);
}

static void test_non_grpc_requests(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    nghttp2_nv json[] = {NV("content-type", "application/json")};
    cstream_t *a = call_open(&p, "/s.S/A", json, 1);
    call_send(&p, a, "x", 1, 1);
    nghttp2_nv get[] = {NV(":method", "GET")};
    cstream_t *b = call_open(&p, "/s.S/A", get, 1);
    b->eof = 1;
    nghttp2_nv path[] = {NV(":path", "/nomethod")};
    cstream_t *c = call_open(&p, "/x", path, 1);
    c->eof = 1;
    nghttp2_nv plus[] = {NV("content-type", "application/grpc+proto")};
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *d = call_open(&p, "/s.S/A", plus, 1);
    call_send(&p, d, "x", 1, 1);
    pump(&p);
    assert_has(&a->hdrs, ":status: 415\n");
    assert_has(&b->hdrs, ":status: 405\n");
    assert_has(&c->hdrs, ":status: 200\n");
    assert_int_equal(resp_status(c), GW_UNIMPLEMENTED);
    assert_true(a->trailers_only && b->trailers_only && c->trailers_only);
    assert_int_equal(app.started, 1); /* only d */
    assert_int_equal(resp_status(d), 0);
    pair_close(&p);
}

static void test_timeout_gives_deadline(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    nghttp2_nv t1[] = {NV("grpc-timeout", "2S")};
    nghttp2_nv t2[] = {NV("grpc-timeout", "1500u")};
    nghttp2_nv bad[] = {NV("grpc-timeout", "123456789m")};
    call_open(&p, "/s.S/A", t1, 1)->eof = 1;
    call_open(&p, "/s.S/A", t2, 1)->eof = 1;
    cstream_t *cb = call_open(&p, "/s.S/A", bad, 1);
    cb->eof = 1;
    pump(&p);
    assert_int_equal(app.started, 2);
    assert_int_equal(app.calls[0].deadline, p.now + 2000);
    assert_int_equal(app.calls[1].deadline, p.now + 2);
    assert_int_equal(resp_status(cb), GW_INTERNAL);
    assert_has(&cb->hdrs, "malformed grpc-timeout");
    /* the layer answers at the deadline */
    assert_int_equal(gw_call_finish(app.calls[0].call, GW_DEADLINE_EXCEEDED,
                                    "deadline exceeded", NULL, 0, NULL, 0), 0);
    gw_call_release(app.calls[0].call);
    gw_call_release(app.calls[1].call);
    assert_true(p.wakes > 0);
    pump(&p);
    assert_int_equal(resp_status(&p.st[0]), GW_DEADLINE_EXCEEDED);
    /* released before a finish: the stream is reset */
    assert_true(p.st[1].closed);
    assert_int_equal(p.st[1].close_code, NGHTTP2_CANCEL);
    pair_close(&p);
}

static void test_status_message_and_details(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    gw_call_t *call = app.calls[0].call;
    const uint8_t details[] = {0x08, 0x05, 0x12, 0x01, 'x'}; /* 5 bytes */
    gw_md_t trl[] = {
        {"X-Upper", 7, "v", 1},           /* lower-cased */
        {"x-raw-bin", 9, "\x00\x01", 2},  /* raw bytes: encoded */
        {"x-b64-bin", 9, "AAEC", 4},      /* base64 already: as is */
        {"bad key", 7, "v", 1},           /* dropped */
        {"x-crlf", 6, "a\r\nb: c", 7},    /* dropped: no injection */
        {"grpc-status", 11, "0", 1},      /* reserved: dropped */
    };
    assert_int_equal(gw_call_finish(call, 99, "x", NULL, 0, NULL, 0), -EINVAL);
    assert_int_equal(gw_call_finish(call, GW_NOT_FOUND,
                                    "not found: \xc3\xbc 100%\n", details,
                                    sizeof(details), trl, 6), 0);
    assert_int_equal(gw_call_finish(call, 0, NULL, NULL, 0, NULL, 0),
                     -ECANCELED);
    gw_call_release(call);
    pump(&p);
    assert_true(cs->trailers_only);
    assert_int_equal(resp_status(cs), GW_NOT_FOUND);
    assert_has(&cs->hdrs, "grpc-message: not found: %C3%BC 100%25%0A\n");
    assert_has(&cs->hdrs, "grpc-status-details-bin: CAUSAXg\n");
    assert_has(&cs->hdrs, "x-upper: v\n");
    assert_has(&cs->hdrs, "x-raw-bin: AAE\n");
    assert_has(&cs->hdrs, "x-b64-bin: AAEC\n");
    assert_lacks(&cs->hdrs, "bad key");
    assert_lacks(&cs->hdrs, "x-crlf");
    assert_lacks(&cs->hdrs, "grpc-status: 0");
    pair_close(&p);
}

static void test_bad_binary_metadata(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    nghttp2_nv md[] = {NV("x-id-bin", "!!!")};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    cs->eof = 1;
    pump(&p);
    assert_int_equal(app.started, 0);
    assert_int_equal(resp_status(cs), GW_INTERNAL);
    assert_has(&cs->hdrs, "malformed binary metadata");
    pair_close(&p);
}

static void test_metadata_over_limit(void **st)
{
    (void)st;
    pair_t p;
    gw_conn_cfg_t cfg = {.max_header_list_size = 1024};
    pair_open(&p, &cfg, NULL, 0, 0);
    char big[2000];
    memset(big, 'a', sizeof(big));
    nghttp2_nv md[] = {{(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big), 0}};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    cs->eof = 1;
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *ok = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, ok, "x", 1, 1);
    pump(&p);
    assert_int_equal(resp_status(cs), GW_RESOURCE_EXHAUSTED);
    assert_int_equal(app.started, 1);
    assert_int_equal(resp_status(ok), 0);
    pair_close(&p);
}

static void test_client_reset_cancels(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 0);
    pump(&p);
    assert_int_equal(app.started, 1);
    assert_int_equal(gw_conn_active_calls(p.srv), 1);
    nghttp2_submit_rst_stream(p.cli, NGHTTP2_FLAG_NONE, cs->sid, NGHTTP2_CANCEL);
    pump(&p);
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_RESET);
    assert_true(app.calls[0].released);
    assert_int_equal(gw_conn_active_calls(p.srv), 0);
    pair_close(&p);
}

static void test_drain_lets_calls_finish(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *a = call_open(&p, "/s.S/A", NULL, 0);
    cstream_t *b = call_open(&p, "/s.S/B", NULL, 0);
    call_send(&p, a, "1", 1, 1);
    call_send(&p, b, "2", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 2);
    assert_int_equal(gw_conn_drain(p.srv), 0);
    pump(&p);
    assert_int_equal(p.goaway, 1);
    assert_int_equal(p.goaway_code, NGHTTP2_NO_ERROR);
    assert_int_equal(p.goaway_last, b->sid);
    assert_false(gw_conn_done(p.srv));
    /* the calls in flight still answer */
    assert_int_equal(gw_call_send_message(app.calls[0].call,
                                          (const uint8_t *)"r", 1), 0);
    app_finish(&app.calls[0], GW_OK, NULL);
    pump(&p);
    assert_int_equal(resp_status(a), 0);
    assert_int_equal(resp_msgs(a), 1);
    assert_false(gw_conn_done(p.srv));
    app_finish(&app.calls[1], GW_OK, NULL);
    pump(&p);
    assert_int_equal(resp_status(b), 0);
    assert_true(gw_conn_done(p.srv));
    assert_int_equal(app.started, 2);
    pair_close(&p);
}

static void test_garbage_after_preface(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    static const char junk[] = NGHTTP2_CLIENT_MAGIC
        "\x00\x00\x08\x07\x00\x00\x00\x00\x01garbage!garbage!garbage!";
    p.feed_rc = gw_conn_feed(p.srv, (const uint8_t *)junk, sizeof(junk) - 1);
    assert_int_equal(p.feed_rc, -EPROTO);
    /* the client session reads what the server said */
    ssize_t n = nghttp2_session_mem_recv(p.cli, p.s2c.p, p.s2c.len);
    assert_true(n >= 0);
    assert_int_equal(p.goaway, 1);
    assert_int_equal(p.goaway_code, NGHTTP2_PROTOCOL_ERROR);
    assert_true(gw_conn_done(p.srv));
    pair_close(&p);
}

static void test_bad_preface(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(gw_conn_feed(p.srv, (const uint8_t *)req, sizeof(req) - 1),
                     -EPROTO);
    assert_true(gw_conn_done(p.srv));
    /* nothing more is read */
    assert_int_equal(gw_conn_feed(p.srv, (const uint8_t *)req, 1), -EPROTO);
    pair_close(&p);
}

static void test_preface_in_one_byte_pieces(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "hi", 2, 1);
    const uint8_t *d;
    ssize_t n;
    buf_t c2s = {0};
    while ((n = nghttp2_session_mem_send(p.cli, &d)) > 0)
        buf_add(&c2s, d, (size_t)n);
    for (size_t i = 0; i < c2s.len; i++)
        assert_int_equal(gw_conn_feed(p.srv, c2s.p + i, 1), 0);
    buf_free(&c2s);
    pump(&p);
    assert_int_equal(resp_status(cs), 0);
    assert_int_equal(resp_msgs(cs), 1);
    pair_close(&p);
}

static void test_back_pressure(void **st)
{
    (void)st;
    pair_t p;
    gw_conn_cfg_t cfg = {.write_high_water = 4096};
    pair_open(&p, &cfg, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 0);
    pump(&p);
    p.pending = 10000; /* the socket is behind */
    uint8_t m[1000] = {0};
    assert_int_equal(gw_call_send_message(app.calls[0].call, m, sizeof(m)), 0);
    assert_int_equal(gw_conn_flush(p.srv), 0);
    assert_int_equal(p.s2c.len, 0);
    p.pending = 0;
    assert_int_equal(gw_conn_on_drain(p.srv), 0);
    assert_true(p.s2c.len > 1000);
    pump(&p);
    assert_int_equal(resp_msgs(cs), 1);
    app_finish(&app.calls[0], GW_OK, NULL);
    pump(&p);
    pair_close(&p);
}

static void test_conn_free_cancels_calls(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 0);
    pump(&p);
    assert_int_equal(app.started, 1);
    gw_conn_free(p.srv);
    p.srv = NULL;
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_CONN_GONE);
    nghttp2_session_del(p.cli);
    p.cli = NULL;
    p.srv = NULL;
    pair_close(&p);
}

static void test_send_failure_breaks_conn(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 0);
    pump(&p);
    p.send_fail = 1;
    assert_int_equal(gw_call_send_message(app.calls[0].call,
                                          (const uint8_t *)"y", 1), 0);
    assert_int_equal(gw_conn_flush(p.srv), -ENOBUFS);
    assert_true(gw_conn_done(p.srv));
    assert_int_equal(gw_call_send_message(app.calls[0].call,
                                          (const uint8_t *)"y", 1), -ECANCELED);
    assert_false(app.calls[0].cancelled);
    gw_conn_free(p.srv); /* cancels the call the layer still holds */
    p.srv = NULL;
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_CONN_GONE);
    pair_close(&p);
}


static void test_many_metadata_entries(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    /* past the inline room of the call: 40 entries, about 3 KiB */
    enum { N = 40 };
    char keys[N][16], vals[N][64];
    nghttp2_nv md[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "x-k%02d", i);
        memset(vals[i], 'a' + i % 26, 60);
        snprintf(vals[i] + 60, 4, "%02d", i);
        md[i] = (nghttp2_nv){(uint8_t *)keys[i], (uint8_t *)vals[i],
                             strlen(keys[i]), strlen(vals[i]), 0};
    }
    cstream_t *cs = call_open(&p, "/s.S/A", md, N);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 1);
    app_call_t *a = &app.calls[0];
    for (int i = 0; i < N; i++) {
        buf_t line = {0};
        buf_str(&line, keys[i]);
        buf_str(&line, ": ");
        buf_str(&line, vals[i]);
        buf_str(&line, "\n");
        assert_has(&a->md, buf_cstr(&line));
        buf_free(&line);
    }
    pair_close(&p);
}

static void test_metadata_lookup_while_held(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    nghttp2_nv md[] = {NV("x-tenant", "acme")};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    gw_call_t *call = app.calls[0].call;
    const gw_md_t *m = gw_call_md_get(call, "x-tenant");
    assert_non_null(m);
    assert_int_equal(m->value_len, 4);
    assert_memory_equal(m->value, "acme", 4);
    assert_null(gw_call_md_get(call, "x-none"));
    size_t n, pl;
    assert_true(gw_call_metadata(call, &n) != NULL && n >= 2);
    assert_string_equal(gw_call_path(call, &pl), "/s.S/A");
    assert_int_equal(pl, 6);
    assert_ptr_equal(gw_call_conn(call), p.srv);
    assert_ptr_equal(gw_conn_user(gw_call_conn(call)), &p);
    app_finish(&app.calls[0], GW_OK, NULL);
    pump(&p);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_client_trailers_half_close(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "abc", 3, 0);
    pump(&p);
    assert_false(app.calls[0].half_closed);
    nghttp2_nv trl[] = {NV("x-client-trailer", "1")};
    assert_int_equal(nghttp2_submit_trailer(p.cli, cs->sid, trl, 1), 0);
    pump(&p);
    assert_true(app.calls[0].half_closed);
    assert_int_equal(app.calls[0].messages, 1);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_finish_at_start_is_trailers_only(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_FAIL_AT_START;
    cstream_t *cs = call_open(&p, "/s.S/Nope", NULL, 0);
    call_send(&p, cs, "x", 1, 0); /* the client is still sending */
    pump(&p);
    assert_true(cs->trailers_only);
    assert_int_equal(resp_status(cs), GW_UNIMPLEMENTED);
    assert_has(&cs->hdrs, "grpc-message: unknown service s.S\n");
    assert_has(&cs->hdrs, "content-type: application/grpc\n");
    assert_has(&cs->hdrs, "x-trace: t1\n");
    assert_true(cs->rst_received);
    assert_int_equal(cs->rst_code, NGHTTP2_NO_ERROR);
    assert_int_equal(app.calls[0].messages, 0);
    assert_false(app.calls[0].cancelled);
    assert_int_equal(gw_conn_active_calls(p.srv), 0);
    pair_close(&p);
}

static void test_finish_inside_on_message_drops_the_rest(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_STOP_AT_MSG;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    buf_msg(&cs->out, "one", 3, 0);
    buf_msg(&cs->out, "two", 3, 0); /* same DATA frame */
    cs->eof = 1;
    nghttp2_session_resume_data(p.cli, cs->sid);
    pump(&p);
    assert_int_equal(app.calls[0].messages, 1);
    assert_false(app.calls[0].half_closed);
    assert_int_equal(resp_status(cs), 0);
    pair_close(&p);
}

static void test_max_concurrent_streams(void **st)
{
    (void)st;
    pair_t p;
    gw_conn_cfg_t cfg = {.max_concurrent_streams = 1};
    pair_open(&p, &cfg, NULL, 0, 0);
    app.mode = APP_HOLD;
    /* both sent before the client heard the server's SETTINGS */
    cstream_t *a = call_open(&p, "/s.S/A", NULL, 0);
    cstream_t *b = call_open(&p, "/s.S/B", NULL, 0);
    call_send(&p, a, "1", 1, 1);
    call_send(&p, b, "2", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 1);
    assert_true(b->closed);
    assert_true(b->close_code == NGHTTP2_REFUSED_STREAM ||
                b->close_code == NGHTTP2_PROTOCOL_ERROR);
    assert_int_equal(p.goaway, 0);
    app_finish(&app.calls[0], GW_OK, NULL);
    pump(&p);
    assert_int_equal(resp_status(a), 0);
    pair_close(&p);
}

static void test_ping_and_client_goaway(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    pump(&p);
    assert_false(gw_conn_done(p.srv));
    assert_int_equal(nghttp2_submit_ping(p.cli, NGHTTP2_FLAG_NONE, NULL), 0);
    pump(&p);
    assert_int_equal(p.ping_acks, 1);
    assert_false(gw_conn_done(p.srv));
    assert_int_equal(nghttp2_session_terminate_session(p.cli, NGHTTP2_NO_ERROR), 0);
    pump(&p);
    assert_true(gw_conn_done(p.srv));
    pair_close(&p);
}

static void test_headers_then_status_without_messages(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    gw_md_t hd[] = {{"x-h", 3, "1", 1}};
    assert_int_equal(gw_call_send_headers(app.calls[0].call, hd, 1), 0);
    pump(&p);
    assert_int_equal(cs->header_frames, 1); /* the headers go out at once */
    assert_false(cs->closed);
    app_finish(&app.calls[0], GW_ABORTED, "stop");
    pump(&p);
    assert_false(cs->trailers_only);
    assert_int_equal(cs->header_frames, 2);
    assert_has(&cs->hdrs, "x-h: 1\n");
    assert_int_equal(resp_status(cs), GW_ABORTED);
    assert_has(&cs->trailers, "grpc-message: stop\n");
    assert_int_equal(resp_msgs(cs), 0);
    assert_true(cs->closed);
    pair_close(&p);
}

static void test_stream_opened_after_drain_is_ignored(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *a = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, a, "1", 1, 1);
    pump(&p);
    assert_int_equal(gw_conn_drain(p.srv), 0);
    assert_int_equal(gw_conn_flush(p.srv), 0);
    buf_t held = p.s2c; /* the GOAWAY, not read by the client yet */
    memset(&p.s2c, 0, sizeof(p.s2c));
    cstream_t *late = call_open(&p, "/s.S/Late", NULL, 0);
    call_send(&p, late, "2", 1, 1);
    const uint8_t *d;
    ssize_t n;
    buf_t c2s = {0};
    while ((n = nghttp2_session_mem_send(p.cli, &d)) > 0)
        buf_add(&c2s, d, (size_t)n);
    assert_int_equal(gw_conn_feed(p.srv, c2s.p, c2s.len), 0);
    buf_free(&c2s);
    assert_int_equal(nghttp2_session_mem_recv(p.cli, held.p, held.len),
                     (ssize_t)held.len);
    buf_free(&held);
    pump(&p);
    assert_int_equal(app.started, 1); /* the late stream never started */
    assert_int_equal(p.goaway_last, a->sid);
    assert_true(late->closed); /* the client knows to retry it */
    app_finish(&app.calls[0], GW_OK, NULL);
    pump(&p);
    assert_int_equal(resp_status(a), 0);
    assert_true(gw_conn_done(p.srv));
    pair_close(&p);
}

static void test_layer_release_inside_on_cancel_of_conn_free(void **st)
{
    (void)st;
    /* two held calls; gw_conn_free cancels both and the layer releases
     * them from on_cancel (ASan checks nothing is touched after) */
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    call_send(&p, call_open(&p, "/s.S/A", NULL, 0), "1", 1, 0);
    call_send(&p, call_open(&p, "/s.S/B", NULL, 0), "2", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 2);
    assert_int_equal(gw_conn_active_calls(p.srv), 2);
    gw_conn_free(p.srv);
    p.srv = NULL;
    assert_true(app.calls[0].cancelled && app.calls[1].cancelled);
    assert_true(app.calls[0].released && app.calls[1].released);
    pair_close(&p);
}

static void test_metadata_far_over_limit_resets(void **st)
{
    (void)st;
    pair_t p;
    gw_conn_cfg_t cfg = {.max_header_list_size = 1024};
    pair_open(&p, &cfg, NULL, 0, 0);
    static char big[5000];
    memset(big, 'a', sizeof(big));
    nghttp2_nv md[] = {{(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big), 0}};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    cs->eof = 1;
    app.mode = APP_ECHO_AT_CLOSE;
    cstream_t *ok = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, ok, "x", 1, 1);
    pump(&p);
    assert_true(cs->closed);
    assert_true(cs->rst_received);
    assert_int_equal(resp_status(cs), -1); /* no answer, a reset */
    assert_int_equal(app.started, 1);
    assert_int_equal(resp_status(ok), 0); /* the connection lives */
    assert_int_equal(p.goaway, 0);
    pair_close(&p);
}

static void test_upper_case_header_name_is_refused(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    /* nghttp2 lower-cases the names it copies: this one goes as it is */
    nghttp2_nv md[] = {{(uint8_t *)"X-Tenant", (uint8_t *)"acme", 8, 4,
                        NGHTTP2_NV_FLAG_NO_COPY_NAME}};
    cstream_t *cs = call_open(&p, "/s.S/A", md, 1);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    assert_int_equal(app.started, 0);
    assert_true(cs->closed);
    assert_int_equal(cs->close_code, NGHTTP2_PROTOCOL_ERROR);
    pair_close(&p);
}

static void test_many_calls_on_one_connection(void **st)
{
    (void)st;
    /* calls come and go; nothing piles up in the core */
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_ECHO_AT_CLOSE;
    for (int round = 0; round < 200; round++) {
        /* the harness has room for a few streams and calls at a time */
        pair_forget(&p);
        cstream_t *cs[4];
        for (int i = 0; i < 4; i++) {
            cs[i] = call_open(&p, "/s.S/A", NULL, 0);
            call_send(&p, cs[i], "ping", 4, 1);
        }
        pump(&p);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(resp_status(cs[i]), 0);
            assert_int_equal(resp_msgs(cs[i]), 1);
        }
        assert_int_equal(gw_conn_active_calls(p.srv), 0);
    }
    assert_int_equal(app.started, 800);
    assert_int_equal(p.goaway, 0);
    pair_close(&p);
}

static void test_client_reset_while_blocked_by_flow_control(void **st)
{
    (void)st;
    pair_t p;
    nghttp2_settings_entry civ[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 100}};
    pair_open(&p, NULL, civ, 1, 1);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 1);
    pump(&p);
    gw_call_t *call = app.calls[0].call;
    uint8_t m[5000] = {1};
    assert_int_equal(gw_call_send_message(call, m, sizeof(m)), 0);
    pump(&p);
    assert_int_equal(cs->data.len, 100);
    assert_true(gw_call_unsent(call) > 0);
    nghttp2_submit_rst_stream(p.cli, NGHTTP2_FLAG_NONE, cs->sid, NGHTTP2_CANCEL);
    pump(&p);
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_RESET);
    assert_int_equal(gw_conn_active_calls(p.srv), 0);
    pair_close(&p);
}

static void test_release_inside_on_message_resets(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_DROP_AT_MSG;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    buf_msg(&cs->out, "one", 3, 0);
    buf_msg(&cs->out, "two", 3, 0);
    cs->eof = 1;
    nghttp2_session_resume_data(p.cli, cs->sid);
    pump(&p);
    assert_int_equal(app.calls[0].messages, 1);
    assert_false(app.calls[0].half_closed);
    assert_false(app.calls[0].cancelled);
    assert_true(cs->closed);
    assert_int_equal(cs->close_code, NGHTTP2_CANCEL);
    assert_int_equal(gw_conn_active_calls(p.srv), 0);
    pair_close(&p);
}

static void test_protocol_error_mid_connection(void **st)
{
    (void)st;
    pair_t p;
    pair_open(&p, NULL, NULL, 0, 0);
    app.mode = APP_HOLD;
    cstream_t *cs = call_open(&p, "/s.S/A", NULL, 0);
    call_send(&p, cs, "x", 1, 0);
    pump(&p);
    assert_int_equal(app.started, 1);
    /* DATA on stream 0 is a connection error (RFC 9113 6.1) */
    static const uint8_t bad[] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 'x'};
    assert_int_equal(gw_conn_feed(p.srv, bad, sizeof(bad)), -EPROTO);
    assert_true(nghttp2_session_mem_recv(p.cli, p.s2c.p, p.s2c.len) >= 0);
    assert_int_equal(p.goaway, 1);
    assert_int_equal(p.goaway_code, NGHTTP2_PROTOCOL_ERROR);
    assert_true(gw_conn_done(p.srv));
    assert_false(app.calls[0].cancelled);
    gw_conn_free(p.srv); /* the layer closes the socket, then frees */
    p.srv = NULL;
    assert_true(app.calls[0].cancelled);
    assert_int_equal(app.calls[0].reason, GW_CANCEL_CONN_GONE);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_call),
        cmocka_unit_test(test_server_streaming),
        cmocka_unit_test(test_client_streaming_split_frames),
        cmocka_unit_test(test_bidirectional_echo),
        cmocka_unit_test(test_flow_control_small_window),
        cmocka_unit_test(test_big_messages_both_ways),
        cmocka_unit_test(test_oversized_message_other_stream_lives),
        cmocka_unit_test(test_bad_prefix_and_compressed_flag),
        cmocka_unit_test(test_truncated_message_at_end_of_stream),
        cmocka_unit_test(test_unsupported_encoding),
        cmocka_unit_test(test_non_grpc_requests),
        cmocka_unit_test(test_timeout_gives_deadline),
        cmocka_unit_test(test_status_message_and_details),
        cmocka_unit_test(test_bad_binary_metadata),
        cmocka_unit_test(test_metadata_over_limit),
        cmocka_unit_test(test_client_reset_cancels),
        cmocka_unit_test(test_drain_lets_calls_finish),
        cmocka_unit_test(test_garbage_after_preface),
        cmocka_unit_test(test_bad_preface),
        cmocka_unit_test(test_preface_in_one_byte_pieces),
        cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_conn_free_cancels_calls),
        cmocka_unit_test(test_send_failure_breaks_conn),
        cmocka_unit_test(test_many_metadata_entries),
        cmocka_unit_test(test_metadata_lookup_while_held),
        cmocka_unit_test(test_client_trailers_half_close),
        cmocka_unit_test(test_finish_at_start_is_trailers_only),
        cmocka_unit_test(test_finish_inside_on_message_drops_the_rest),
        cmocka_unit_test(test_max_concurrent_streams),
        cmocka_unit_test(test_ping_and_client_goaway),
        cmocka_unit_test(test_headers_then_status_without_messages),
        cmocka_unit_test(test_stream_opened_after_drain_is_ignored),
        cmocka_unit_test(test_layer_release_inside_on_cancel_of_conn_free),
        cmocka_unit_test(test_metadata_far_over_limit_resets),
        cmocka_unit_test(test_upper_case_header_name_is_refused),
        cmocka_unit_test(test_many_calls_on_one_connection),
        cmocka_unit_test(test_client_reset_while_blocked_by_flow_control),
        cmocka_unit_test(test_release_inside_on_message_resets),
        cmocka_unit_test(test_protocol_error_mid_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
