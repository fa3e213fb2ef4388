/*
 * The HTTP/2 half of the transport core: one nghttp2 server session per
 * connection, fed from memory (mem_recv) and drained into one output
 * buffer per flush (mem_send), so that a loop turn makes one write.
 * The gRPC half (grpc_call.c) sees streams as calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc_wire_internal.h"

#define GW_OBUF_SPILL (64 * 1024) /* hand the buffer over past this */

static gw_call_t *gw__stream_call(nghttp2_session *s, int32_t sid)
{
    return nghttp2_session_get_stream_user_data(s, sid);
}

static int gw__on_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                                void *ud)
{
    gw_conn_t *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS ||
        f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    gw_call_t *call = gw__call_new(c, f->hd.stream_id);
    if (call == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST this stream */
    if (nghttp2_session_set_stream_user_data(s, f->hd.stream_id, call) != 0) {
        gw__call_detach(call, GW_CANCEL_CONN_GONE);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int gw__on_header(nghttp2_session *s, const nghttp2_frame *f,
                         const uint8_t *name, size_t nlen,
                         const uint8_t *value, size_t vlen, uint8_t flags,
                         void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS ||
        f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* client trailers carry nothing for gRPC */
    gw_call_t *call = gw__stream_call(s, f->hd.stream_id);
    if (call == NULL)
        return 0;
    if (gw__call_add_header(call, name, nlen, value, vlen) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int gw__on_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                             void *ud)
{
    (void)ud;
    gw_call_t *call;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        call = gw__stream_call(s, f->hd.stream_id);
        if (call == NULL)
            return 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
            gw__call_headers_done(call);
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
            gw__call_end_stream(call);
        break;
    case NGHTTP2_DATA:
        if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            break;
        call = gw__stream_call(s, f->hd.stream_id);
        if (call != NULL)
            gw__call_end_stream(call);
        break;
    default:
        break;
    }
    return 0;
}

static int gw__on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid,
                             const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    gw_call_t *call = gw__stream_call(s, sid);
    if (call != NULL)
        gw__call_data(call, data, len);
    return 0;
}

static int gw__on_stream_close(nghttp2_session *s, int32_t sid,
                               uint32_t error_code, void *ud)
{
    gw_conn_t *c = ud;
    if (c->freeing)
        return 0;
    gw_call_t *call = gw__stream_call(s, sid);
    if (call != NULL) {
        nghttp2_session_set_stream_user_data(s, sid, NULL);
        gw__call_closed(call, error_code);
    }
    return 0;
}

static int gw__on_frame_send(nghttp2_session *s, const nghttp2_frame *f,
                             void *ud)
{
    gw_conn_t *c = ud;
    if (f->hd.type == NGHTTP2_GOAWAY &&
        f->goaway.error_code != NGHTTP2_NO_ERROR)
        c->proto_err = 1;
    /* A complete response while the client still sends: ask it to stop
     * (RFC 9113 8.1), as the gRPC servers do. The call is over for us. */
    if (f->hd.type == NGHTTP2_HEADERS &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(s, f->hd.stream_id) == 0)
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static nghttp2_session_callbacks *gw__callbacks(void)
{
    /* Built once per connection; cheap next to the session itself. */
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                            gw__on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, gw__on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, gw__on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                              gw__on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                           gw__on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, gw__on_frame_send);
    return cbs;
}

static void gw__cfg_defaults(gw_conn_cfg_t *cfg)
{
    if (cfg->max_concurrent_streams == 0)
        cfg->max_concurrent_streams = 100;
    if (cfg->initial_window_size == 0)
        cfg->initial_window_size = 1u << 20;
    if (cfg->initial_window_size > NGHTTP2_MAX_WINDOW_SIZE)
        cfg->initial_window_size = NGHTTP2_MAX_WINDOW_SIZE;
    if (cfg->conn_window_size == 0)
        cfg->conn_window_size = 16u << 20;
    if (cfg->conn_window_size > NGHTTP2_MAX_WINDOW_SIZE)
        cfg->conn_window_size = NGHTTP2_MAX_WINDOW_SIZE;
    if (cfg->max_frame_size < (16u << 10))
        cfg->max_frame_size = (16u << 10);
    if (cfg->max_frame_size > ((1u << 24) - 1))
        cfg->max_frame_size = ((1u << 24) - 1);
    if (cfg->max_header_list_size == 0)
        cfg->max_header_list_size = 16u << 10;
    if (cfg->max_message_size == 0)
        cfg->max_message_size = 4u << 20;
    if (cfg->write_high_water == 0)
        cfg->write_high_water = 256u << 10;
}

gw_conn_t *gw_conn_new(const gw_conn_cfg_t *cfg, const gw_conn_ops_t *ops,
                       void *ud)
{
    if (cfg == NULL || ops == NULL || ops->send == NULL)
        return NULL;
    gw_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    gw__cfg_defaults(&c->cfg);
    c->ops = ops;
    c->ud = ud;

    nghttp2_session_callbacks *cbs = gw__callbacks();
    nghttp2_option *opt = NULL;
    if (cbs == NULL || nghttp2_option_new(&opt) != 0)
        goto fail;
    /* We never push; the peer's header table may not grow our memory. */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    int rc = nghttp2_session_server_new2(&c->s, cbs, c, opt);
    nghttp2_option_del(opt);
    opt = NULL;
    nghttp2_session_callbacks_del(cbs);
    cbs = NULL;
    if (rc != 0)
        goto fail;

    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->cfg.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->cfg.initial_window_size},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, c->cfg.max_frame_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->cfg.max_header_list_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv,
                                sizeof(iv) / sizeof(iv[0])) != 0)
        goto fail;
    if (c->cfg.conn_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE &&
        nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)c->cfg.conn_window_size) != 0)
        goto fail;
    return c;

fail:
    if (opt != NULL)
        nghttp2_option_del(opt);
    if (cbs != NULL)
        nghttp2_session_callbacks_del(cbs);
    if (c->s != NULL)
        nghttp2_session_del(c->s);
    free(c);
    return NULL;
}

uint64_t gw__conn_now(gw_conn_t *c)
{
    if (c->ops->now_ms != NULL)
        return c->ops->now_ms(c->ud);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void gw__conn_touch(gw_conn_t *c)
{
    if (c->depth > 0 || c->woken || c->broken)
        return; /* a flush follows anyway, or nothing can be sent */
    c->woken = 1;
    if (c->ops->wake != NULL)
        c->ops->wake(c->ud);
}

/* The connection cannot go on: nothing more is sent, gw_conn_done turns
 * true, and the calls still open get on_cancel at gw_conn_free. */
static void gw__conn_break(gw_conn_t *c)
{
    c->broken = 1;
    c->olen = 0;
}

static int gw__conn_out(gw_conn_t *c)
{
    if (c->olen == 0)
        return 0;
    int rc = c->ops->send(c->ud, c->obuf, c->olen);
    c->olen = 0;
    if (rc != 0) {
        gw__conn_break(c);
        return rc < 0 ? rc : -EIO;
    }
    return 0;
}

static int gw__conn_append(gw_conn_t *c, const uint8_t *p, size_t n)
{
    if (c->olen + n > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 16384;
        while (cap < c->olen + n)
            cap *= 2;
        uint8_t *nb = realloc(c->obuf, cap);
        if (nb == NULL)
            return -ENOMEM;
        c->obuf = nb;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, p, n);
    c->olen += n;
    return 0;
}

int gw_conn_flush(gw_conn_t *c)
{
    if (c->depth > 0)
        return 0; /* the feed that runs us flushes at its end */
    c->woken = 0;
    if (c->broken)
        return -EPIPE;
    int rc = 0;
    for (;;) {
        size_t pending = c->ops->pending ? c->ops->pending(c->ud) : 0;
        if (pending + c->olen >= c->cfg.write_high_water)
            break; /* resumed by gw_conn_on_drain */
        const uint8_t *p;
        c->depth++;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        c->depth--;
        if (n < 0) {
            gw__conn_break(c);
            return -EPROTO;
        }
        if (n == 0)
            break;
        if ((rc = gw__conn_append(c, p, (size_t)n)) != 0) {
            gw__conn_break(c);
            return rc;
        }
        if (c->olen >= GW_OBUF_SPILL && (rc = gw__conn_out(c)) != 0)
            return rc;
    }
    rc = gw__conn_out(c);
    /* give back a buffer that grew for one big burst */
    if (c->ocap > 4 * GW_OBUF_SPILL) {
        free(c->obuf);
        c->obuf = NULL;
        c->ocap = 0;
    }
    return rc;
}

int gw_conn_on_drain(gw_conn_t *c)
{
    return gw_conn_flush(c);
}

int gw_conn_feed(gw_conn_t *c, const uint8_t *bytes, size_t len)
{
    if (c->broken)
        return -EPIPE;
    if (c->proto_err)
        return -EPROTO; /* the GOAWAY is out; nothing more is read */
    c->depth++;
    ssize_t n = nghttp2_session_mem_recv(c->s, bytes, len);
    c->depth--;
    if (n < 0) {
        if (n == NGHTTP2_ERR_NOMEM) {
            gw__conn_break(c);
            return -ENOMEM;
        }
        /* Bad preface, flooding, a failed callback: tell the peer why
         * before the connection goes. */
        nghttp2_session_terminate_session(c->s, NGHTTP2_PROTOCOL_ERROR);
        c->proto_err = 1;
    }
    int rc = gw_conn_flush(c);
    if (c->proto_err)
        return -EPROTO;
    return rc;
}

int gw_conn_drain(gw_conn_t *c)
{
    if (c->broken)
        return -EPIPE;
    int32_t last = nghttp2_session_get_last_proc_stream_id(c->s);
    if (nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR,
                              NULL, 0) != 0)
        return -ENOMEM;
    gw__conn_touch(c);
    return 0;
}

int gw_conn_done(const gw_conn_t *c)
{
    if (c->broken)
        return 1;
    return !nghttp2_session_want_read(c->s) &&
           !nghttp2_session_want_write(c->s) && c->olen == 0;
}

void *gw_conn_user(const gw_conn_t *c)
{
    return c->ud;
}

size_t gw_conn_active_calls(const gw_conn_t *c)
{
    return c->ncalls;
}

void gw_conn_free(gw_conn_t *c)
{
    if (c == NULL)
        return;
    c->freeing = 1;
    while (c->calls != NULL)
        gw__call_detach(c->calls, GW_CANCEL_CONN_GONE);
    nghttp2_session_del(c->s);
    free(c->obuf);
    free(c);
}
