/*
 * The frame writer: server frames (unmasked) and client frames (masked),
 * with permessage-deflate compression (RFC 7692 7.2.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <zlib.h>

#include "ws_internal.h"

/* A compression scratch buffer larger than this is released after its
 * message. */
#define WS__KEEP_ZBUF 4096

struct ws_encoder {
    ws_encoder_cfg_t cfg;
    ws_deflate_params_t deflate;
    z_stream z;
    int z_live;
    size_t z_bytes; /* what zlib holds now */
    ws_buf_t zbuf;  /* the compressed payload of the message being sent */
};

int ws_encoder_new(const ws_encoder_cfg_t *cfg, ws_encoder_t **out)
{
    *out = NULL;
    if (cfg == NULL || cfg->level < 0 || cfg->level > 9)
        return -EINVAL;
    ws_encoder_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    e->cfg = *cfg;
    if (cfg->deflate && cfg->deflate->enabled)
        e->deflate = *cfg->deflate;
    e->cfg.deflate = NULL;
    *out = e;
    return 0;
}

static void ws__zend(ws_encoder_t *e)
{
    if (e->z_live)
        deflateEnd(&e->z);
    e->z_live = 0;
}

void ws_encoder_free(ws_encoder_t *e)
{
    if (e == NULL)
        return;
    ws__zend(e);
    ws_buf_free(&e->zbuf);
    free(e);
}

size_t ws_encoder_memory(const ws_encoder_t *e)
{
    return sizeof *e + e->zbuf.cap + e->z_bytes;
}

int ws_frame_write(ws_buf_t *out, uint8_t b0, const uint8_t *mask,
                   const uint8_t *data, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    uint8_t mbit = mask ? 0x80 : 0x00;
    h[n++] = b0;
    if (len < 126) {
        h[n++] = mbit | (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[n++] = mbit | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    if (len > SIZE_MAX - n)
        return -ENOMEM;
    int rc = ws__buf_reserve(out, n + len);
    if (rc != 0)
        return rc;
    memcpy(out->data + out->len, h, n);
    if (len)
        memcpy(out->data + out->len + n, data, len);
    if (mask)
        ws__mask(out->data + out->len + n, len, mask, 0);
    out->len += n + len;
    return 0;
}

/* One frame of this side: masked with a fresh key on the client side. */
static int ws__frame(ws_encoder_t *e, ws_buf_t *out, uint8_t b0,
                     const uint8_t *data, size_t len)
{
    if (!e->cfg.client)
        return ws_frame_write(out, b0, NULL, data, len);
    uint8_t key[4];
    if (e->cfg.mask_key)
        e->cfg.mask_key(e->cfg.mask_ud, key);
    else if (RAND_bytes(key, sizeof key) != 1)
        return -EIO;
    return ws_frame_write(out, b0, key, data, len);
}

/* This side's own context takeover and window. */
static int ws__own_no_takeover(const ws_encoder_t *e)
{
    return e->cfg.client ? e->deflate.client_no_context_takeover
                         : e->deflate.server_no_context_takeover;
}

static int ws__own_bits(const ws_encoder_t *e)
{
    int bits = e->cfg.client ? e->deflate.client_max_window_bits
                             : e->deflate.server_max_window_bits;
    if (bits <= 0 || bits > 15)
        return 15;
    /* zlib's raw deflate does not do 8 (it would silently use 9, which a
     * peer holding us to 8 could not read); the server never agrees to
     * 8 for itself, and a client told 8 uses 9 here (test use only). */
    return bits < 9 ? 9 : bits;
}

/* Compresses a whole message into e->zbuf, the 00 00 ff ff tail
 * stripped (7.2.1). */
static int ws__compress(ws_encoder_t *e, const uint8_t *data, size_t len)
{
    if (!e->z_live) {
        memset(&e->z, 0, sizeof e->z);
        e->z.zalloc = ws__zalloc;
        e->z.zfree = ws__zfree;
        e->z.opaque = &e->z_bytes;
        int level = e->cfg.level ? e->cfg.level : Z_DEFAULT_COMPRESSION;
        int zrc = deflateInit2(&e->z, level, Z_DEFLATED, -ws__own_bits(e), 8,
                               Z_DEFAULT_STRATEGY);
        if (zrc != Z_OK)
            return zrc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
        e->z_live = 1;
    }
    e->zbuf.len = 0;
    if (len == 0) {
        /* zlib will not repeat a sync flush with no input in between, so
         * the empty message is written as RFC 7692 7.2.3.6 says: an empty
         * stored block, tail stripped, is the single byte 0x00. */
        return ws__buf_append(&e->zbuf, "", 1);
    }
    e->z.next_in = (Bytef *)data;
    size_t left = len;
    for (;;) {
        /* Feed in uInt-sized pieces; flush only with the last one. */
        uInt piece = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
        e->z.avail_in = piece;
        left -= piece;
        int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            int rc = ws__buf_reserve(&e->zbuf, 4096);
            if (rc != 0)
                return rc;
            size_t room = e->zbuf.cap - e->zbuf.len;
            if (room > UINT32_MAX)
                room = UINT32_MAX;
            e->z.next_out = e->zbuf.data + e->zbuf.len;
            e->z.avail_out = (uInt)room;
            int zrc = deflate(&e->z, flush);
            if (zrc != Z_OK && zrc != Z_BUF_ERROR)
                return -EIO;
            e->zbuf.len += room - e->z.avail_out;
        } while (e->z.avail_in > 0 || e->z.avail_out == 0);
        if (left == 0)
            break;
    }
    /* A sync flush always ends on an empty stored block. */
    if (e->zbuf.len < 4 ||
        memcmp(e->zbuf.data + e->zbuf.len - 4, "\x00\x00\xff\xff", 4) != 0)
        return -EIO;
    e->zbuf.len -= 4;
    return 0;
}

/* After a message: drop or keep the compressor's context as negotiated.
 * Without takeover the whole zlib state goes (about 256 KiB at window 15),
 * so an idle connection holds none. */
static void ws__after_message(ws_encoder_t *e)
{
    if (ws__own_no_takeover(e))
        ws__zend(e);
    if (e->zbuf.cap > WS__KEEP_ZBUF)
        ws_buf_free(&e->zbuf);
}

int ws_encode_message(ws_encoder_t *e, int opcode, const uint8_t *data,
                      size_t len, size_t max_frame, unsigned flags,
                      ws_buf_t *out)
{
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)
        return -EINVAL;
    if (len > 0 && data == NULL)
        return -EINVAL;
    if (opcode == WS_OP_TEXT && !ws_utf8_valid(data, len))
        return -EILSEQ;
    int z = e->deflate.enabled && !(flags & WS_ENC_NO_COMPRESS);
    const uint8_t *payload = data;
    size_t plen = len;
    if (z) {
        int rc = ws__compress(e, data, len);
        if (rc != 0) {
            /* The stream is in an unknown state: start over. */
            ws__zend(e);
            return rc;
        }
        payload = e->zbuf.data;
        plen = e->zbuf.len;
    }
    size_t mark = out->len;
    size_t step = max_frame ? max_frame : plen;
    size_t off = 0;
    int rc = 0;
    do {
        size_t k = plen - off < step ? plen - off : step;
        uint8_t b0 = off == 0 ? (uint8_t)opcode : WS_OP_CONT;
        if (off == 0 && z)
            b0 |= WS_RSV1;
        if (off + k == plen)
            b0 |= WS_FIN;
        rc = ws__frame(e, out, b0, payload + off, k);
        off += k;
    } while (rc == 0 && off < plen);
    if (rc != 0) {
        out->len = mark;
        /* The peer never sees this message, so our window must not hold
         * it: a fresh stream is always readable by the peer's. */
        if (z)
            ws__zend(e);
    }
    if (z)
        ws__after_message(e);
    return rc;
}

int ws_encode_control(ws_encoder_t *e, int opcode, const uint8_t *data,
                      size_t len, ws_buf_t *out)
{
    if (opcode != WS_OP_PING && opcode != WS_OP_PONG)
        return -EINVAL;
    if (len > 125)
        return -EMSGSIZE;
    if (len > 0 && data == NULL)
        return -EINVAL;
    return ws__frame(e, out, WS_FIN | (uint8_t)opcode, data, len);
}

int ws_encode_close(ws_encoder_t *e, unsigned code, const char *reason,
                    size_t reason_len, ws_buf_t *out)
{
    if (code == 0)
        return ws__frame(e, out, WS_FIN | WS_OP_CLOSE, NULL, 0);
    if (!ws_close_code_valid(code))
        return -EINVAL;
    if (reason_len > 0 && reason == NULL)
        return -EINVAL;
    const uint8_t *r = (const uint8_t *)reason;
    if (!ws_utf8_valid(r, reason_len))
        return -EILSEQ;
    /* Cut at a character boundary: back off continuation bytes. */
    size_t n = reason_len > 123 ? 123 : reason_len;
    if (n < reason_len)
        while (n > 0 && (r[n] & 0xC0) == 0x80)
            n--;
    uint8_t p[125];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (n)
        memcpy(p + 2, r, n);
    return ws__frame(e, out, WS_FIN | WS_OP_CLOSE, p, n + 2);
}
