/*
 * The frame parser (RFC 6455 5, with RFC 7692 7.2.2 inflating): a state
 * machine fed any split of the byte stream, producing whole messages.
 *
 * Checks are made as early as the bytes allow (fail fast, RFC 6455 10.7):
 * the first two bytes decide opcode, RSV and mask errors; the whole header
 * decides lengths and the message limit, before any payload is buffered;
 * text is checked for UTF-8 as it arrives, not at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ws_internal.h"

/* A message buffer larger than this is released after its message, so an
 * idle connection holds no more than this. */
#define WS__KEEP_BUF 4096
/* Unmasking compressed input happens in slices of this size. */
#define WS__SLICE 4096

static const uint8_t ws__tail[4] = {0x00, 0x00, 0xff, 0xff};

enum { WS__ST_HEADER, WS__ST_PAYLOAD, WS__ST_CLOSED, WS__ST_FAILED };

struct ws_parser {
    ws_parser_cfg_t cfg;
    ws_deflate_params_t deflate;
    size_t max;
    int state;

    /* the frame being read */
    uint8_t hdr[14];
    size_t hdr_len, hdr_need;
    uint8_t b0;
    int opcode, masked;
    uint8_t key[4];
    uint64_t remaining;
    size_t key_off;

    /* a control frame's payload */
    uint8_t ctl[125];
    size_t ctl_len;

    /* the message being assembled */
    int in_msg, msg_op, msg_z;
    ws_buf_t msg;
    ws__utf8_t utf8;
    size_t utf8_done; /* msg bytes already checked (compressed text) */

    /* inflating (lazily set up) */
    z_stream z;
    int z_live, z_ended;
    size_t z_bytes; /* what zlib holds now */
};

static void ws__emit(ws_parser_t *p, ws_event_type_t type, int opcode,
                     const uint8_t *data, size_t len, unsigned code)
{
    ws_event_t ev = {type, opcode, 0, data, len, code};
    if (type == WS_EV_MESSAGE)
        ev.compressed = p->msg_z;
    p->cfg.on_event(p->cfg.ud, &ev);
}

static int ws__fail(ws_parser_t *p, unsigned code, const char *why)
{
    p->state = WS__ST_FAILED;
    ws__emit(p, WS_EV_ERROR, 0, (const uint8_t *)why, strlen(why), code);
    return -EPROTO;
}

int ws_parser_new(const ws_parser_cfg_t *cfg, ws_parser_t **out)
{
    *out = NULL;
    if (cfg == NULL || cfg->on_event == NULL)
        return -EINVAL;
    ws_parser_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->cfg = *cfg;
    if (cfg->deflate && cfg->deflate->enabled)
        p->deflate = *cfg->deflate;
    p->cfg.deflate = NULL; /* not kept: the copy above is */
    p->max = cfg->max_message ? cfg->max_message : WS_DEFAULT_MAX_MESSAGE;
    if (p->max > SIZE_MAX / 2)
        p->max = SIZE_MAX / 2;
    p->state = WS__ST_HEADER;
    p->hdr_need = 2;
    p->utf8.lo = 0x80;
    p->utf8.hi = 0xBF;
    *out = p;
    return 0;
}

static void ws__z_end(ws_parser_t *p)
{
    if (p->z_live)
        inflateEnd(&p->z);
    p->z_live = 0;
    p->z_ended = 0;
}

void ws_parser_free(ws_parser_t *p)
{
    if (p == NULL)
        return;
    ws__z_end(p);
    ws_buf_free(&p->msg);
    free(p);
}

size_t ws_parser_memory(const ws_parser_t *p)
{
    return sizeof *p + p->msg.cap + p->z_bytes;
}

/* The peer's context takeover decides whether the inflater keeps its
 * window between messages. */
static int ws__peer_no_takeover(const ws_parser_t *p)
{
    return p->cfg.client ? p->deflate.server_no_context_takeover
                         : p->deflate.client_no_context_takeover;
}

/* ---- the header ---- */

/* The first two bytes: everything that does not need the length. */
static int ws__check_start(ws_parser_t *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    int op = b0 & 0x0F, fin = (b0 & WS_FIN) != 0;
    int control = op >= 0x8;
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY &&
        op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
        return ws__fail(p, WS_CLOSE_PROTOCOL, "reserved opcode");
    if (b0 & (WS_RSV2 | WS_RSV3))
        return ws__fail(p, WS_CLOSE_PROTOCOL, "RSV2 or RSV3 set");
    if (b0 & WS_RSV1) {
        if (!p->deflate.enabled)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "RSV1 set");
        if (control || op == WS_OP_CONT)
            return ws__fail(p, WS_CLOSE_PROTOCOL,
                            "RSV1 set outside a message's first frame");
    }
    int masked = (b1 & 0x80) != 0;
    if (!p->cfg.client && !masked)
        return ws__fail(p, WS_CLOSE_PROTOCOL, "client frame not masked");
    if (p->cfg.client && masked)
        return ws__fail(p, WS_CLOSE_PROTOCOL, "server frame masked");
    if (control) {
        if (!fin)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if ((b1 & 0x7F) > 125)
            return ws__fail(p, WS_CLOSE_PROTOCOL,
                            "control frame over 125 bytes");
    } else if (op == WS_OP_CONT && !p->in_msg) {
        return ws__fail(p, WS_CLOSE_PROTOCOL, "continuation without a message");
    } else if (op != WS_OP_CONT && p->in_msg) {
        return ws__fail(p, WS_CLOSE_PROTOCOL,
                        "new message inside a fragmented one");
    }
    p->b0 = b0;
    p->opcode = op;
    p->masked = masked;
    size_t len7 = b1 & 0x7F;
    p->hdr_need = 2 +
                  (len7 == 126   ? 2
                   : len7 == 127 ? 8
                                 : 0) +
                  (masked ? 4 : 0);
    return 0;
}

static int ws__z_start(ws_parser_t *p)
{
    if (p->z_live)
        return 0;
    memset(&p->z, 0, sizeof p->z);
    p->z.zalloc = ws__zalloc;
    p->z.zfree = ws__zfree;
    p->z.opaque = &p->z_bytes;
    /* A 32 KiB window reads whatever window the peer chose. */
    if (inflateInit2(&p->z, -15) != Z_OK)
        return -ENOMEM;
    p->z_live = 1;
    p->z_ended = 0;
    return 0;
}

/* The whole header is in: the length, the key, and the message limit. */
static int ws__header_done(ws_parser_t *p)
{
    const uint8_t *h = p->hdr;
    uint64_t len = h[1] & 0x7F;
    size_t at = 2;
    if (len == 126) {
        len = ((uint64_t)h[2] << 8) | h[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[2 + i];
        at = 10;
        if (len >> 63)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "64-bit length MSB set");
    }
    if (p->masked)
        memcpy(p->key, h + at, 4);
    p->remaining = len;
    p->key_off = 0;
    p->ctl_len = 0;
    if (p->opcode < 0x8) {
        if (p->opcode != WS_OP_CONT) {
            p->in_msg = 1;
            p->msg_op = p->opcode;
            p->msg_z = (p->b0 & WS_RSV1) != 0;
            p->msg.len = 0;
            p->utf8.need = 0;
            p->utf8_done = 0;
            if (p->msg_z && ws__z_start(p) != 0)
                return ws__fail(p, WS_CLOSE_INTERNAL, "out of memory");
        }
        /* Uncompressed, the frame's length is what the message grows by:
         * refuse it before buffering any of it. */
        if (!p->msg_z && len > p->max - p->msg.len)
            return ws__fail(p, WS_CLOSE_TOO_BIG, "message too big");
    }
    p->state = WS__ST_PAYLOAD;
    return 0;
}

/* ---- payload ---- */

/* Checks the text bytes inflating added since the last check. */
static int ws__check_text(ws_parser_t *p)
{
    if (p->msg_op != WS_OP_TEXT)
        return 0;
    size_t n = p->msg.len - p->utf8_done;
    if (ws__utf8_step(&p->utf8, p->msg.data + p->utf8_done, n) != 0)
        return ws__fail(p, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text");
    p->utf8_done = p->msg.len;
    return 0;
}

/* Grows the message buffer toward max + 1 (the extra byte is how
 * inflating tells "exactly max" from "more than max"). 0, -ENOSPC (at
 * that size already), -ENOMEM. */
static int ws__grow(ws_parser_t *p)
{
    size_t limit = p->max + 1;
    if (p->msg.cap >= limit)
        return -ENOSPC;
    size_t want = p->msg.cap ? p->msg.cap * 2 : 1024;
    if (want > limit)
        want = limit;
    uint8_t *d = realloc(p->msg.data, want);
    if (d == NULL)
        return -ENOMEM;
    p->msg.data = d;
    p->msg.cap = want;
    return 0;
}

static int ws__grow_fail(ws_parser_t *p, int rc)
{
    if (rc == -ENOSPC)
        return ws__fail(p, WS_CLOSE_TOO_BIG, "message too big");
    return ws__fail(p, WS_CLOSE_INTERNAL, "out of memory");
}

/* Inflates n compressed bytes into the message. */
static int ws__inflate(ws_parser_t *p, const uint8_t *in, size_t n)
{
    if (p->z_ended) /* after a BFINAL block the rest is padding */
        return 0;
    p->z.next_in = (Bytef *)in;
    p->z.avail_in = (uInt)n;
    for (;;) {
        if (p->msg.cap == p->msg.len) {
            int rc = ws__grow(p);
            if (rc != 0)
                return ws__grow_fail(p, rc);
        }
        size_t room = p->msg.cap - p->msg.len;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        p->z.next_out = p->msg.data + p->msg.len;
        p->z.avail_out = (uInt)room;
        int zrc = inflate(&p->z, Z_SYNC_FLUSH);
        p->msg.len += room - p->z.avail_out;
        if (p->msg.len > p->max)
            return ws__fail(p, WS_CLOSE_TOO_BIG, "message too big");
        if (ws__check_text(p) != 0)
            return -EPROTO;
        if (zrc == Z_STREAM_END) {
            p->z_ended = 1;
            return 0;
        }
        if (zrc == Z_MEM_ERROR)
            return ws__fail(p, WS_CLOSE_INTERNAL, "out of memory");
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return ws__fail(p, WS_CLOSE_INVALID_DATA,
                            "invalid compressed data");
        /* Output room left means inflate wants more input. */
        if (p->z.avail_out > 0)
            return 0;
    }
}

static int ws__payload_data(ws_parser_t *p, const uint8_t *in, size_t n)
{
    if (p->msg_z) {
        uint8_t slice[WS__SLICE];
        while (n > 0) {
            size_t k = n < sizeof slice ? n : sizeof slice;
            memcpy(slice, in, k);
            if (p->masked)
                ws__mask(slice, k, p->key, p->key_off);
            p->key_off = (p->key_off + k) & 3;
            if (ws__inflate(p, slice, k) != 0)
                return -EPROTO;
            in += k;
            n -= k;
        }
        return 0;
    }
    while (p->msg.cap - p->msg.len < n) {
        int rc = ws__grow(p);
        if (rc != 0)
            return ws__grow_fail(p, rc);
    }
    uint8_t *dst = p->msg.data + p->msg.len;
    memcpy(dst, in, n);
    if (p->masked)
        ws__mask(dst, n, p->key, p->key_off);
    p->key_off = (p->key_off + n) & 3;
    p->msg.len += n;
    if (p->msg_op == WS_OP_TEXT && ws__utf8_step(&p->utf8, dst, n) != 0)
        return ws__fail(p, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text");
    return 0;
}

static void ws__msg_reset(ws_parser_t *p)
{
    p->in_msg = 0;
    p->msg.len = 0;
    if (p->msg.cap > WS__KEEP_BUF) {
        ws_buf_free(&p->msg);
    }
}

/* The last frame of a data message is in. */
static int ws__msg_done(ws_parser_t *p)
{
    if (p->msg_z) {
        if (ws__inflate(p, ws__tail, sizeof ws__tail) != 0)
            return -EPROTO;
        /* A stream that ended (BFINAL) cannot go on; without takeover
         * the window is dropped, and with it zlib's memory. */
        if (ws__peer_no_takeover(p))
            ws__z_end(p);
        else if (p->z_ended) {
            inflateReset(&p->z);
            p->z_ended = 0;
        }
    }
    if (p->msg_op == WS_OP_TEXT && !ws__utf8_complete(&p->utf8))
        return ws__fail(p, WS_CLOSE_INVALID_DATA,
                        "text ends inside a "
                        "UTF-8 character");
    /* An empty message has no buffer; hand out a valid pointer anyway. */
    static const uint8_t empty[1];
    ws__emit(p, WS_EV_MESSAGE, p->msg_op, p->msg.len ? p->msg.data : empty,
             p->msg.len, 0);
    ws__msg_reset(p);
    return 0;
}

static int ws__control_done(ws_parser_t *p)
{
    const uint8_t *d = p->ctl;
    size_t n = p->ctl_len;
    if (p->opcode == WS_OP_PING) {
        ws__emit(p, WS_EV_PING, WS_OP_PING, d, n, 0);
        return 0;
    }
    if (p->opcode == WS_OP_PONG) {
        ws__emit(p, WS_EV_PONG, WS_OP_PONG, d, n, 0);
        return 0;
    }
    unsigned code = WS_CLOSE_NO_STATUS;
    if (n == 1)
        return ws__fail(p, WS_CLOSE_PROTOCOL, "close payload of one byte");
    if (n >= 2) {
        code = ((unsigned)d[0] << 8) | d[1];
        if (!ws_close_code_valid(code))
            return ws__fail(p, WS_CLOSE_PROTOCOL, "invalid close code");
        if (!ws_utf8_valid(d + 2, n - 2))
            return ws__fail(p, WS_CLOSE_INVALID_DATA,
                            "close reason is not UTF-8");
    }
    p->state = WS__ST_CLOSED;
    ws__emit(p, WS_EV_CLOSE, WS_OP_CLOSE, n >= 2 ? d + 2 : d,
             n >= 2 ? n - 2 : 0, code);
    return 0;
}

/* The frame's payload is all in. */
static int ws__frame_done(ws_parser_t *p)
{
    p->state = WS__ST_HEADER;
    p->hdr_len = 0;
    p->hdr_need = 2;
    if (p->opcode >= 0x8)
        return ws__control_done(p);
    if (p->b0 & WS_FIN)
        return ws__msg_done(p);
    return 0;
}

int ws_parser_feed(ws_parser_t *p, const uint8_t *buf, size_t len)
{
    while (len > 0 || p->state == WS__ST_PAYLOAD) {
        if (p->state == WS__ST_FAILED)
            return -EPROTO;
        if (p->state == WS__ST_CLOSED)
            return 0;
        if (p->state == WS__ST_HEADER) {
            if (len == 0)
                break;
            size_t k = p->hdr_need - p->hdr_len;
            if (k > len)
                k = len;
            memcpy(p->hdr + p->hdr_len, buf, k);
            p->hdr_len += k;
            buf += k;
            len -= k;
            if (p->hdr_len == 2 && p->hdr_need == 2 && ws__check_start(p) != 0)
                return -EPROTO;
            if (p->hdr_len == p->hdr_need && ws__header_done(p) != 0)
                return -EPROTO;
            continue;
        }
        /* WS__ST_PAYLOAD: an empty remainder ends the frame even with no
         * more input (a zero-length frame). */
        size_t k = p->remaining < len ? (size_t)p->remaining : len;
        if (k > 0) {
            int rc;
            if (p->opcode >= 0x8) {
                memcpy(p->ctl + p->ctl_len, buf, k);
                if (p->masked)
                    ws__mask(p->ctl + p->ctl_len, k, p->key, p->key_off);
                p->key_off = (p->key_off + k) & 3;
                p->ctl_len += k;
                rc = 0;
            } else {
                rc = ws__payload_data(p, buf, k);
            }
            if (rc != 0)
                return -EPROTO;
            buf += k;
            len -= k;
            p->remaining -= k;
        }
        if (p->remaining > 0)
            break;
        if (ws__frame_done(p) != 0)
            return -EPROTO;
    }
    return p->state == WS__ST_FAILED ? -EPROTO : 0;
}
