/*
 * The WebSocket transport core (plugins/websocket, dp_wscodec). Beyond
 * "no crash, no leak, no UB":
 *   - the parser gives the same events whatever the split of its input
 *     (one shot against pieces of pseudo-random sizes);
 *   - what it hands up keeps its promises: text is UTF-8, messages stay
 *     under the limit, close codes are valid, memory stays bounded;
 *   - encoding the input as a message (text when it is UTF-8), a ping and
 *     a close, and parsing that back on the other side, gives it back;
 *   - a permessage-deflate answer of ours, offered back, is accepted.
 *
 * Input: byte 0 = flags, byte 1 = seed of the splits and frame sizes,
 * then the bytes.
 *   flags & 1:  permessage-deflate negotiated
 *   flags & 2:  the parser is on the client side (frames unmasked)
 *   flags & 4:  a small message limit (300 bytes)
 *   flags & 8:  no context takeover, both directions
 *   flags & 16: also read the bytes as a Sec-WebSocket-Extensions offer
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_codec.h"

typedef struct digest {
    uint64_t h;
    size_t n;
    size_t max;
} digest_t;

static void mix(digest_t *d, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 0x100000001b3ull;
}

static void on_event(void *ud, const ws_event_t *ev)
{
    digest_t *d = ud;
    d->n++;
    mix(d, &ev->type, sizeof ev->type);
    mix(d, &ev->opcode, sizeof ev->opcode);
    mix(d, &ev->compressed, sizeof ev->compressed);
    mix(d, &ev->code, sizeof ev->code);
    mix(d, &ev->len, sizeof ev->len);
    mix(d, ev->data, ev->len);
    if (ev->type == WS_EV_MESSAGE) {
        if (ev->len > d->max)
            abort();
        if (ev->opcode == WS_OP_TEXT && !ws_utf8_valid(ev->data, ev->len))
            abort();
    }
    if (ev->type == WS_EV_CLOSE && ev->code != WS_CLOSE_NO_STATUS &&
        !ws_close_code_valid(ev->code))
        abort();
    if (ev->type == WS_EV_ERROR &&
        (!ws_close_code_valid(ev->code) || ev->len == 0))
        abort();
}

static uint32_t next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

/* Parses buf in pieces (step 0: at once); the digest of its events. */
static digest_t parse(const ws_parser_cfg_t *base, const uint8_t *buf,
                      size_t len, uint32_t seed, int split)
{
    digest_t d = {0xcbf29ce484222325ull, 0, base->max_message};
    ws_parser_cfg_t cfg = *base;
    cfg.on_event = on_event;
    cfg.ud = &d;
    ws_parser_t *p;
    if (ws_parser_new(&cfg, &p) != 0)
        abort();
    size_t off = 0;
    int rc = 0;
    while (off < len && rc == 0) {
        size_t k = split ? 1 + next(&seed) % 64 : len - off;
        if (k > len - off)
            k = len - off;
        rc = ws_parser_feed(p, buf + off, k);
        off += k;
        /* the message buffer, one control payload and zlib: no more */
        if (ws_parser_memory(p) > base->max_message + 1 + 64 * 1024)
            abort();
    }
    mix(&d, &rc, sizeof rc);
    ws_parser_free(p);
    return d;
}

typedef struct expect {
    const uint8_t *data;
    size_t len;
    int opcode;
    unsigned code;
    int seen, bad;
} expect_t;

static void on_echo(void *ud, const ws_event_t *ev)
{
    expect_t *x = ud;
    x->seen++;
    if (ev->type == WS_EV_ERROR) {
        x->bad = 1;
        return;
    }
    int want = x->opcode == WS_OP_PING    ? WS_EV_PING
               : x->opcode == WS_OP_CLOSE ? WS_EV_CLOSE
                                          : WS_EV_MESSAGE;
    if ((int)ev->type != want || ev->len != x->len ||
        (ev->len && memcmp(ev->data, x->data, ev->len) != 0))
        x->bad = 1;
    if (want == WS_EV_MESSAGE && ev->opcode != x->opcode)
        x->bad = 1;
    if (want == WS_EV_CLOSE && ev->code != x->code)
        x->bad = 1;
}

/* The other side's parser (one for the whole exchange: the encoder may
 * take its context over from message to message) must give back exactly
 * what was encoded. */
static void echo(ws_parser_t *p, expect_t *cur, const ws_buf_t *frames,
                 expect_t x)
{
    *cur = x;
    if (ws_parser_feed(p, frames->data, frames->len) != 0 || cur->seen != 1 ||
        cur->bad)
        abort();
}

static void round_trips(const ws_deflate_params_t *d, int enc_client,
                        const uint8_t *data, size_t len, uint32_t seed)
{
    ws_encoder_cfg_t ecfg = {enc_client, NULL, NULL, d, (int)(seed % 10)};
    ws_encoder_t *e;
    if (ws_encoder_new(&ecfg, &e) != 0)
        abort();
    expect_t cur = {0};
    ws_parser_cfg_t pcfg = {!enc_client, 1u << 20, d, on_echo, &cur};
    ws_parser_t *p;
    if (ws_parser_new(&pcfg, &p) != 0)
        abort();
    ws_buf_t b = {0};
    size_t max_frame = seed & 1 ? 0 : 1 + (seed >> 1) % 200;
    int text = ws_utf8_valid(data, len);
    for (int round = 0; round < 3; round++) { /* context takeover */
        int op = text && round != 1 ? WS_OP_TEXT : WS_OP_BINARY;
        unsigned flags = round == 2 ? WS_ENC_NO_COMPRESS : 0;
        b.len = 0;
        if (ws_encode_message(e, op, data, len, max_frame, flags, &b) != 0)
            abort();
        echo(p, &cur, &b, (expect_t){data, len, op, 0, 0, 0});
    }
    b.len = 0;
    size_t plen = len > 125 ? 125 : len;
    if (ws_encode_control(e, WS_OP_PING, data, plen, &b) != 0)
        abort();
    echo(p, &cur, &b, (expect_t){data, plen, WS_OP_PING, 0, 0, 0});
    if (text && len <= 123) {
        unsigned code = 3000 + seed % 2000;
        b.len = 0;
        if (ws_encode_close(e, code, (const char *)data, len, &b) != 0)
            abort();
        echo(p, &cur, &b, (expect_t){data, len, WS_OP_CLOSE, code, 0, 0});
    }
    ws_parser_free(p);
    ws_buf_free(&b);
    ws_encoder_free(e);
}

typedef struct one_header {
    const char *ext;
    size_t ext_len;
} one_header_t;

static const char *hdr(void *ud, const char *name, size_t idx, size_t *len)
{
    const one_header_t *h = ud;
    static const char *fixed[][2] = {
        {"Host", "h"},
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
    };
    if (idx != 0)
        return NULL;
    if (strcmp(name, "Sec-WebSocket-Extensions") == 0) {
        *len = h->ext_len;
        return h->ext;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (strcmp(name, fixed[i][0]) == 0) {
            *len = strlen(fixed[i][1]);
            return fixed[i][1];
        }
    }
    return NULL;
}

static void offers(const uint8_t *data, size_t len, uint32_t seed)
{
    ws_handshake_cfg_t cfg = {
        NULL,
        0,
        {1, seed & 1, seed & 2, (int)(seed >> 2) % 17, (int)(seed >> 7) % 17}};
    one_header_t h = {(const char *)data, len};
    ws_handshake_t hs;
    int rc = ws_handshake_check(&cfg, "GET", 3, 1, 1, hdr, &h, &hs);
    if (rc != 0 || !hs.deflate.enabled)
        return;
    ws_handshake_t again;
    char answer[WS_EXT_ANSWER_MAX];
    memcpy(answer, hs.extensions, sizeof answer);
    h.ext = answer;
    h.ext_len = strlen(answer);
    if (ws_handshake_check(&cfg, "GET", 3, 1, 1, hdr, &h, &again) != 0 ||
        !again.deflate.enabled)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
    if (n < 2)
        return 0;
    unsigned flags = in[0];
    uint32_t seed = in[1];
    const uint8_t *data = in + 2;
    size_t len = n - 2;

    ws_deflate_params_t d = {1, 0, 0, 15, 15};
    if (flags & 8)
        d.server_no_context_takeover = d.client_no_context_takeover = 1;
    ws_parser_cfg_t cfg = {(flags & 2) != 0, flags & 4 ? 300 : 1u << 20,
                           flags & 1 ? &d : NULL, NULL, NULL};
    digest_t whole = parse(&cfg, data, len, seed, 0);
    digest_t split = parse(&cfg, data, len, seed, 1);
    if (whole.h != split.h || whole.n != split.n)
        abort();

    round_trips(flags & 1 ? &d : NULL, (flags & 2) != 0, data, len, seed);
    if (flags & 16)
        offers(data, len, seed);
    return 0;
}
