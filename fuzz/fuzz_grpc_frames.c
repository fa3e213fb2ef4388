/*
 * The gRPC transport core (plugins/grpc: HTTP/2 via nghttp2, gRPC framing,
 * call objects): arbitrary bytes after the client connection preface into
 * a gw_conn with a trivial echo layer above. Beyond "no crash, no leak, no
 * UB": the layer's calls are balanced (every started call is released
 * exactly once, by the layer), and nothing is sent after the core said the
 * connection is done.
 *
 * Input: byte 0 = flags, byte 1 = chunk size (0 = all at once), then the
 * bytes that follow the preface.
 *   flags & 1: prepend an empty SETTINGS frame (so the fuzzer starts past
 *              the first-frame check)
 *   flags & 2: tiny limits (64-byte messages, 256-byte header list)
 *   flags & 4: the socket is "behind" (back-pressure) until the end
 *   flags & 8: graceful drain half-way
 *   flags & 16: the layer finishes each call at its start (trailers-only)
 *   flags & 32: the layer releases each call at its start (reset)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "grpc_wire.h"

static struct {
    unsigned flags;
    int started, released;
    size_t pending;
    size_t sent;
} st;

static void on_start(gw_call_t *call, const char *path, size_t path_len,
                     const gw_md_t *md, size_t n, uint64_t deadline)
{
    (void)deadline;
    st.started++;
    /* touch everything handed up, so ASan sees a bad pointer */
    volatile size_t sum = path_len ? (unsigned char)path[path_len - 1] : 0;
    for (size_t i = 0; i < n; i++)
        sum += md[i].key_len + md[i].value_len +
               (md[i].value_len ? (unsigned char)md[i].value[0] : 0);
    (void)sum;
    if (st.flags & 16) {
        gw_md_t trl[] = {{"x-t", 3, "v", 1}};
        gw_call_finish(call, GW_NOT_FOUND, "no \xff mock", NULL, 0, trl, 1);
        gw_call_release(call);
        st.released++;
    } else if (st.flags & 32) {
        gw_call_release(call);
        st.released++;
    } else {
        gw_call_set_data(call, (void *)(uintptr_t)1);
    }
}

static void on_message(gw_call_t *call, const uint8_t *msg, size_t len)
{
    if (len > 0 && msg[0] == 'F') { /* a message can end the call */
        const uint8_t details[] = {8, 3};
        if (gw_call_finish(call, GW_INVALID_ARGUMENT, "bad", details, 2, NULL,
                           0) == 0) {
            gw_call_release(call);
            st.released++;
        }
        return;
    }
    gw_call_send_message(call, msg, len);
}

static void on_half_close(gw_call_t *call)
{
    gw_md_t trl[] = {{"x-trace", 7, "t1", 2}, {"x-b-bin", 7, "\x01", 1}};
    if (gw_call_finish(call, GW_OK, NULL, NULL, 0, trl, 2) == 0) {
        gw_call_release(call);
        st.released++;
    }
}

static void on_cancel(gw_call_t *call)
{
    gw_call_release(call);
    st.released++;
}

static int op_send(void *ud, const uint8_t *b, size_t len)
{
    (void)ud;
    /* read it all, so ASan sees a bad buffer */
    volatile uint8_t x = 0;
    for (size_t i = 0; i < len; i += 64)
        x ^= b[i];
    (void)x;
    st.sent += len;
    return 0;
}

static size_t op_pending(void *ud)
{
    (void)ud;
    return st.pending;
}

static uint64_t op_now(void *ud)
{
    (void)ud;
    return 1000;
}

static const gw_conn_ops_t ops = {op_send, op_pending, NULL, op_now};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    memset(&st, 0, sizeof(st));
    st.flags = data[0];
    size_t chunk = data[1] ? data[1] : (size_t)-1;
    data += 2;
    size -= 2;

    gw_conn_cfg_t cfg = {.cb = {on_start, on_message, on_half_close, on_cancel}};
    if (st.flags & 2) {
        cfg.max_message_size = 64;
        cfg.max_header_list_size = 256;
    }
    if (st.flags & 4)
        st.pending = 1u << 30;
    gw_conn_t *c = gw_conn_new(&cfg, &ops, NULL);
    if (c == NULL)
        return 0;
    static const uint8_t magic[] = NGHTTP2_CLIENT_MAGIC;
    static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    gw_conn_feed(c, magic, sizeof(magic) - 1);
    if (st.flags & 1)
        gw_conn_feed(c, settings, sizeof(settings));
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (gw_conn_feed(c, data + off, n) != 0)
            break;
        off += n;
        if ((st.flags & 8) && off >= size / 2) {
            gw_conn_drain(c);
            st.flags &= ~8u;
        }
    }
    st.pending = 0;
    gw_conn_on_drain(c);
    if (gw_conn_done(c)) {
        size_t before = st.sent;
        gw_conn_flush(c);
        if (st.sent != before)
            abort(); /* done means nothing is left to write */
    }
    gw_conn_free(c);
    if (st.released != st.started)
        abort(); /* every call the layer got was released once */
    return 0;
}
