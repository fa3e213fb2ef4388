/* The WebSocket transport core (plugins/websocket, dp_wscodec): the
 * opening handshake and its negotiations, the frame parser with every
 * close code RFC 6455 names, the encoder, and permessage-deflate with the
 * RFC 7692 examples. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ws_codec.h"

/* ------------------------------------------------------------------ */
/* A request's headers, for the handshake                              */
/* ------------------------------------------------------------------ */

typedef struct req {
    const char *h[24][2];
    size_t n;
} req_t;

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a;
        int y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static const char *req_header(void *ud, const char *name, size_t idx,
                              size_t *len)
{
    req_t *r = ud;
    for (size_t i = 0; i < r->n; i++) {
        if (ieq(r->h[i][0], name) && idx-- == 0) {
            *len = strlen(r->h[i][1]);
            return r->h[i][1];
        }
    }
    return NULL;
}

static void req_set(req_t *r, const char *name, const char *value)
{
    for (size_t i = 0; i < r->n; i++) {
        if (ieq(r->h[i][0], name)) {
            if (value) {
                r->h[i][1] = value;
            } else {
                memmove(&r->h[i], &r->h[i + 1],
                        (r->n - i - 1) * sizeof r->h[0]);
                r->n--;
            }
            return;
        }
    }
    if (value) {
        r->h[r->n][0] = name;
        r->h[r->n][1] = value;
        r->n++;
    }
}

static void req_add(req_t *r, const char *name, const char *value)
{
    r->h[r->n][0] = name;
    r->h[r->n][1] = value;
    r->n++;
}

/* The request of RFC 6455 1.2 / 1.3. */
static req_t rfc_request(void)
{
    req_t r = {.n = 0};
    req_add(&r, "Host", "server.example.com");
    req_add(&r, "Upgrade", "websocket");
    req_add(&r, "Connection", "Upgrade");
    req_add(&r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    req_add(&r, "Origin", "http://example.com");
    req_add(&r, "Sec-WebSocket-Version", "13");
    return r;
}

static int check(const ws_handshake_cfg_t *cfg, req_t *r, ws_handshake_t *hs)
{
    return ws_handshake_check(cfg, "GET", 3, 1, 1, req_header, r, hs);
}

/* ------------------------------------------------------------------ */
/* Parser events, recorded                                             */
/* ------------------------------------------------------------------ */

typedef struct rec_ev {
    ws_event_type_t type;
    int opcode, compressed;
    unsigned code;
    uint8_t *data;
    size_t len;
} rec_ev_t;

typedef struct rec {
    rec_ev_t ev[64];
    size_t n;
} rec_t;

static void on_event(void *ud, const ws_event_t *ev)
{
    rec_t *r = ud;
    assert_true(r->n < 64);
    rec_ev_t *e = &r->ev[r->n++];
    e->type = ev->type;
    e->opcode = ev->opcode;
    e->compressed = ev->compressed;
    e->code = ev->code;
    e->len = ev->len;
    assert_non_null(ev->data);
    e->data = malloc(ev->len + 1);
    assert_non_null(e->data);
    memcpy(e->data, ev->data, ev->len);
    e->data[ev->len] = 0;
}

static void rec_clear(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ev[i].data);
    r->n = 0;
}

static void rec_equal(const rec_t *a, const rec_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].opcode, b->ev[i].opcode);
        assert_int_equal(a->ev[i].compressed, b->ev[i].compressed);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

static const ws_deflate_params_t deflate_on = {1, 0, 0, 15, 15};

typedef struct side {
    int client;
    size_t max;
    const ws_deflate_params_t *deflate;
} side_t;

/* Feeds bytes in pieces of step (0 = all at once); returns the last rc. */
static int feed(side_t s, const uint8_t *b, size_t n, size_t step, rec_t *r)
{
    ws_parser_t *p;
    ws_parser_cfg_t cfg = {s.client, s.max, s.deflate, on_event, r};
    assert_int_equal(ws_parser_new(&cfg, &p), 0);
    int rc = 0;
    size_t off = 0;
    if (step == 0)
        step = n ? n : 1;
    while (off < n && rc == 0) {
        size_t k = n - off < step ? n - off : step;
        rc = ws_parser_feed(p, b + off, k);
        off += k;
    }
    if (n == 0)
        rc = ws_parser_feed(p, b, 0);
    ws_parser_free(p);
    return rc;
}

#define SERVER ((side_t){0, 0, NULL})
#define CLIENT ((side_t){1, 0, NULL})
#define SERVER_Z ((side_t){0, 0, &deflate_on})
#define CLIENT_Z ((side_t){1, 0, &deflate_on})

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A masked frame, as a client sends it. */
static ws_buf_t cframe(ws_buf_t b, uint8_t b0, const void *d, size_t n)
{
    assert_int_equal(ws_frame_write(&b, b0, key, d, n), 0);
    return b;
}

static void fixed_key(void *ud, uint8_t k[4])
{
    (void)ud;
    memcpy(k, key, 4);
}

/* Expects exactly one error event with code after feeding b. */
static void expect_error(side_t s, const uint8_t *b, size_t n, unsigned code)
{
    for (size_t step = 0; step <= 1; step++) {
        rec_t r = {.n = 0};
        assert_int_equal(feed(s, b, n, step, &r), -EPROTO);
        assert_true(r.n >= 1);
        assert_int_equal(r.ev[r.n - 1].type, WS_EV_ERROR);
        assert_int_equal(r.ev[r.n - 1].code, code);
        assert_true(r.ev[r.n - 1].len > 0);
        rec_clear(&r);
    }
}

static void expect_error_frame(side_t s, uint8_t b0, const void *d, size_t n,
                               unsigned code)
{
    ws_buf_t b = cframe((ws_buf_t){0}, b0, d, n);
    expect_error(s, b.data, b.len, code);
    ws_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */
/* ------------------------------------------------------------------ */

static void test_accept_key_rfc(void **st)
{
    (void)st;
    char out[29];
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key("", 0, out), -EINVAL);
}

static void test_handshake_accepts_rfc_request(void **st)
{
    (void)st;
    req_t r = rfc_request();
    ws_handshake_t hs;
    assert_int_equal(check(NULL, &r, &hs), 0);
    assert_int_equal(hs.status, 101);
    assert_null(hs.reason);
    assert_string_equal(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(hs.protocol, -1);
    assert_int_equal(hs.deflate.enabled, 0);
    ws_buf_t out = {0};
    assert_int_equal(ws_handshake_write_101(&hs, NULL, &out), 0);
    const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    assert_int_equal(ws_handshake_write_refusal(&hs, &out), -EINVAL);
    ws_buf_free(&out);
}

static void test_handshake_tolerates_token_forms(void **st)
{
    (void)st;
    ws_handshake_t hs;
    req_t r = rfc_request();
    req_set(&r, "Upgrade", "WebSocket");
    req_set(&r, "Connection", "keep-alive, Upgrade");
    req_set(&r, "Sec-WebSocket-Version", " 13 ");
    assert_int_equal(check(NULL, &r, &hs), 0);
    req_set(&r, "Upgrade", "h2c,  websocket ");
    req_set(&r, "Connection", "upgrade,keep-alive");
    assert_int_equal(check(NULL, &r, &hs), 0);
    assert_true(ws_handshake_is_upgrade(req_header, &r));
    req_set(&r, "Upgrade", "h2c");
    assert_false(ws_handshake_is_upgrade(req_header, &r));
}

static void expect_refused(req_t *r, int rc, int status)
{
    ws_handshake_t hs;
    assert_int_equal(check(NULL, r, &hs), rc);
    assert_int_equal(hs.status, status);
    assert_non_null(hs.reason);
    assert_string_equal(hs.accept, "");
    ws_buf_t out = {0};
    assert_int_equal(ws_handshake_write_101(&hs, NULL, &out), -EINVAL);
    assert_int_equal(ws_handshake_write_refusal(&hs, &out), 0);
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    assert_memory_equal(out.data, line, strlen(line));
    int has_version = memmem(out.data, out.len,
                             "\r\nSec-WebSocket-Version: 13\r\n", 29) != NULL;
    assert_int_equal(has_version, status == 426);
    assert_non_null(memmem(out.data, out.len, hs.reason, strlen(hs.reason)));
    ws_buf_free(&out);
}

static void test_handshake_negatives(void **st)
{
    (void)st;
    req_t r = rfc_request();
    req_set(&r, "Sec-WebSocket-Key", NULL);
    expect_refused(&r, -EINVAL, 400); /* missing key */

    r = rfc_request();
    req_set(&r, "Sec-WebSocket-Version", "8");
    expect_refused(&r, -EPROTONOSUPPORT, 426); /* wrong version */
    req_set(&r, "Sec-WebSocket-Version", "13, 8");
    expect_refused(&r, -EPROTONOSUPPORT, 426);
    req_set(&r, "Sec-WebSocket-Version", NULL);
    expect_refused(&r, -EPROTONOSUPPORT, 426);

    const char *bad_keys[] = {
        "dGhlIHNhbXBsZQ==",             /* 10 bytes */
        "dGhlIHNhbXBsZSBub25jZSE=",     /* 17 bytes */
        "dGhlIHNhbXBsZSBub25jZQ",       /* no padding */
        "dGhlIHNhbXBsZSBub25jZ*==",     /* not base64 */
        "dGhlIHNhbXBsZSBub25jZQ==dGhl", /* too long */
        "",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        r = rfc_request();
        req_set(&r, "Sec-WebSocket-Key", bad_keys[i]);
        expect_refused(&r, -EINVAL, 400);
    }
    r = rfc_request();
    req_add(&r, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==");
    expect_refused(&r, -EINVAL, 400); /* two keys */

    r = rfc_request();
    req_set(&r, "Upgrade", "h2c");
    expect_refused(&r, -EINVAL, 400); /* no websocket token */
    req_set(&r, "Upgrade", NULL);
    expect_refused(&r, -EINVAL, 400);
    r = rfc_request();
    req_set(&r, "Connection", "keep-alive");
    expect_refused(&r, -EINVAL, 400); /* no upgrade token */
    req_set(&r, "Connection", "upgrades");
    expect_refused(&r, -EINVAL, 400);
    r = rfc_request();
    req_set(&r, "Host", NULL);
    expect_refused(&r, -EINVAL, 400);

    ws_handshake_t hs;
    r = rfc_request();
    assert_int_equal(
        ws_handshake_check(NULL, "POST", 4, 1, 1, req_header, &r, &hs),
        -EINVAL);
    assert_int_equal(
        ws_handshake_check(NULL, "get", 3, 1, 1, req_header, &r, &hs), -EINVAL);
    assert_int_equal(
        ws_handshake_check(NULL, "GET", 3, 1, 0, req_header, &r, &hs), -EINVAL);
    assert_int_equal(hs.status, 400);
    assert_int_equal(
        ws_handshake_check(NULL, "GET", 3, 2, 0, req_header, &r, &hs), 0);
}

static void test_handshake_subprotocol(void **st)
{
    (void)st;
    const char *mine[] = {"chat", "superchat"};
    ws_handshake_cfg_t cfg = {mine, 2, {0}};
    ws_handshake_t hs;
    req_t r = rfc_request();
    assert_int_equal(check(&cfg, &r, &hs), 0);
    assert_int_equal(hs.protocol, -1); /* the client asked for none */

    /* the server's preference wins over the client's order */
    req_add(&r, "Sec-WebSocket-Protocol", "superchat, chat");
    assert_int_equal(check(&cfg, &r, &hs), 0);
    assert_int_equal(hs.protocol, 0);
    ws_buf_t out = {0};
    assert_int_equal(ws_handshake_write_101(&hs, mine[hs.protocol], &out), 0);
    assert_non_null(
        memmem(out.data, out.len, "\r\nSec-WebSocket-Protocol: chat\r\n", 32));
    ws_buf_free(&out);

    /* the list may span header lines */
    r = rfc_request();
    req_add(&r, "Sec-WebSocket-Protocol", "v1.x");
    req_add(&r, "Sec-WebSocket-Protocol", "mqtt,superchat");
    assert_int_equal(check(&cfg, &r, &hs), 0);
    assert_int_equal(hs.protocol, 1);

    /* names compare exactly; none in common is not an error */
    r = rfc_request();
    req_add(&r, "Sec-WebSocket-Protocol", "Chat, chat2, superchat2");
    assert_int_equal(check(&cfg, &r, &hs), 0);
    assert_int_equal(hs.protocol, -1);
}

/* Negotiates ext under policy; returns the answer ("" = declined). */
static const char *negotiate(ws_deflate_policy_t pol, const char *ext,
                             const char *ext2, ws_deflate_params_t *d)
{
    static ws_handshake_t hs;
    ws_handshake_cfg_t cfg = {NULL, 0, pol};
    req_t r = rfc_request();
    req_add(&r, "Sec-WebSocket-Extensions", ext);
    if (ext2)
        req_add(&r, "Sec-WebSocket-Extensions", ext2);
    int rc = check(&cfg, &r, &hs);
    if (rc != 0)
        return NULL;
    if (d)
        *d = hs.deflate;
    assert_int_equal(hs.deflate.enabled, hs.extensions[0] != 0);
    return hs.extensions;
}

static void test_extension_negotiation(void **st)
{
    (void)st;
    ws_deflate_policy_t on = {1, 0, 0, 0, 0};
    ws_deflate_params_t d;

    /* what browsers send */
    assert_string_equal(
        negotiate(on, "permessage-deflate; client_max_window_bits", NULL, &d),
        "permessage-deflate");
    assert_int_equal(d.server_max_window_bits, 15);
    assert_int_equal(d.client_max_window_bits, 15);
    assert_int_equal(d.server_no_context_takeover, 0);

    /* the server caps the client's window only when it was offered */
    ws_deflate_policy_t cap = {1, 0, 0, 0, 10};
    assert_string_equal(
        negotiate(cap, "permessage-deflate; client_max_window_bits", NULL, &d),
        "permessage-deflate; client_max_window_bits=10");
    assert_int_equal(d.client_max_window_bits, 10);
    assert_string_equal(
        negotiate(cap, "permessage-deflate; client_max_window_bits=9", NULL,
                  &d),
        "permessage-deflate; client_max_window_bits=9");
    assert_string_equal(negotiate(cap, "permessage-deflate", NULL, &d),
                        "permessage-deflate");
    assert_int_equal(d.client_max_window_bits, 15);

    /* server_max_window_bits: honoured, smaller of ours and theirs */
    assert_string_equal(
        negotiate(on, "permessage-deflate; server_max_window_bits=10", NULL,
                  &d),
        "permessage-deflate; server_max_window_bits=10");
    assert_int_equal(d.server_max_window_bits, 10);
    ws_deflate_policy_t small = {1, 0, 0, 12, 0};
    assert_string_equal(negotiate(small, "permessage-deflate", NULL, &d),
                        "permessage-deflate; server_max_window_bits=12");
    assert_string_equal(
        negotiate(small, "permessage-deflate; server_max_window_bits=14", NULL,
                  &d),
        "permessage-deflate; server_max_window_bits=12");
    assert_string_equal(
        negotiate(on, "permessage-deflate; server_max_window_bits=\"11\"", NULL,
                  &d),
        "permessage-deflate; server_max_window_bits=11");

    /* context takeover, theirs echoed and ours added */
    assert_string_equal(
        negotiate(on,
                  "permessage-deflate; server_no_context_takeover; "
                  "client_no_context_takeover",
                  NULL, &d),
        "permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover");
    assert_int_equal(d.server_no_context_takeover, 1);
    assert_int_equal(d.client_no_context_takeover, 1);
    ws_deflate_policy_t nct = {1, 1, 1, 0, 0};
    assert_string_equal(negotiate(nct, "permessage-deflate", NULL, &d),
                        "permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover");

    /* declined offers: bad values, values where none belong, repeats,
     * unknown parameters */
    const char *declined[] = {
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1O",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=\"\\31\\30x\"",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; client_no_context_takeover; "
        "client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; "
        "server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; mux",
        "x-webkit-deflate-frame",
    };
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        const char *a = negotiate(on, declined[i], NULL, &d);
        if (a == NULL) /* the quoted value that is no token: malformed */
            continue;
        assert_string_equal(a, "");
        assert_int_equal(d.enabled, 0);
    }
    /* "1\0" unescapes to the token 10: a valid quoted value */
    assert_string_equal(
        negotiate(on, "permessage-deflate; client_max_window_bits=\"1\\0\"",
                  NULL, &d),
        "permessage-deflate");
    assert_int_equal(d.client_max_window_bits, 10);

    /* the first acceptable offer wins; fallbacks and other extensions */
    assert_string_equal(
        negotiate(on,
                  "permessage-deflate; mux, permessage-deflate; "
                  "server_no_context_takeover, permessage-deflate",
                  NULL, &d),
        "permessage-deflate; server_no_context_takeover");
    assert_string_equal(
        negotiate(on, "x-foo; a=1, , permessage-deflate", NULL, &d),
        "permessage-deflate");
    assert_string_equal(negotiate(on, "x-foo",
                                  "PerMessage-Deflate; Client_Max_Window_Bits",
                                  &d),
                        "permessage-deflate");

    /* a server that does not deflate declines every offer */
    ws_deflate_policy_t off = {0};
    assert_string_equal(negotiate(off, "permessage-deflate", NULL, &d), "");
    assert_int_equal(d.enabled, 0);

    /* malformed headers are refused */
    const char *malformed[] = {
        "permessage-deflate; =3",        "permessage-deflate;",
        "permessage-deflate x",          "; a",
        "permessage-deflate; a=",        "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"b c\"",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_null(negotiate(on, malformed[i], NULL, &d));
    assert_null(negotiate(off, "permessage-deflate x", NULL, &d));

    /* the headers a front that writes the 101 itself is given */
    ws_handshake_cfg_t pcfg = {(const char *[]){"chat"}, 1, on};
    ws_handshake_t phs;
    req_t pr = rfc_request();
    req_add(&pr, "Sec-WebSocket-Protocol", "chat");
    req_add(&pr, "Sec-WebSocket-Extensions", "permessage-deflate");
    assert_int_equal(check(&pcfg, &pr, &phs), 0);
    const char *names[WS_ANSWER_HEADERS_MAX], *values[WS_ANSWER_HEADERS_MAX];
    assert_int_equal(ws_handshake_answer_headers(&phs, "chat", names, values),
                     4);
    const char *want[4][2] = {
        {"Upgrade", "websocket"},
        {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
        {"Sec-WebSocket-Protocol", "chat"},
        {"Sec-WebSocket-Extensions", "permessage-deflate"},
    };
    for (int i = 0; i < 4; i++) {
        assert_string_equal(names[i], want[i][0]);
        assert_string_equal(values[i], want[i][1]);
    }
    assert_int_equal(ws_handshake_answer_headers(&phs, NULL, names, values), 3);
    assert_string_equal(names[2], "Sec-WebSocket-Extensions");
    pr = rfc_request();
    req_set(&pr, "Sec-WebSocket-Version", "7");
    assert_int_equal(check(&pcfg, &pr, &phs), -EPROTONOSUPPORT);
    assert_int_equal(ws_handshake_answer_headers(&phs, NULL, names, values),
                     -EINVAL);

    /* the 101 carries the answer */
    ws_handshake_t hs;
    ws_handshake_cfg_t cfg = {NULL, 0, on};
    req_t r = rfc_request();
    req_add(&r, "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits");
    assert_int_equal(check(&cfg, &r, &hs), 0);
    ws_buf_t out = {0};
    assert_int_equal(ws_handshake_write_101(&hs, NULL, &out), 0);
    assert_non_null(memmem(out.data, out.len,
                           "\r\nSec-WebSocket-Extensions: "
                           "permessage-deflate\r\n\r\n",
                           48));
    ws_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Frames: RFC 6455 5.7                                                */
/* ------------------------------------------------------------------ */

static void expect_one(side_t s, const uint8_t *b, size_t n,
                       ws_event_type_t type, int opcode, const void *data,
                       size_t len)
{
    rec_t r = {.n = 0};
    assert_int_equal(feed(s, b, n, 0, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, type);
    assert_int_equal(r.ev[0].opcode, opcode);
    assert_int_equal(r.ev[0].len, len);
    assert_memory_equal(r.ev[0].data, data, len);
    rec_clear(&r);
}

static void test_rfc6455_examples_parse(void **st)
{
    (void)st;
    const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    expect_one(CLIENT, hello, sizeof hello, WS_EV_MESSAGE, WS_OP_TEXT, "Hello",
               5);
    const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                              0x7f, 0x9f, 0x4d, 0x51, 0x58};
    expect_one(SERVER, masked, sizeof masked, WS_EV_MESSAGE, WS_OP_TEXT,
               "Hello", 5);
    const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
                            0x80, 0x02, 0x6c, 0x6f};
    expect_one(CLIENT, frag, sizeof frag, WS_EV_MESSAGE, WS_OP_TEXT, "Hello",
               5);
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    expect_one(CLIENT, ping, sizeof ping, WS_EV_PING, WS_OP_PING, "Hello", 5);
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                            0x7f, 0x9f, 0x4d, 0x51, 0x58};
    expect_one(SERVER, pong, sizeof pong, WS_EV_PONG, WS_OP_PONG, "Hello", 5);

    /* 256 bytes: the 16-bit length; 64 KiB: the 64-bit length */
    size_t sizes[] = {256, 65536};
    const uint8_t heads[2][10] = {
        {0x82, 0x7E, 0x01, 0x00},
        {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00},
    };
    for (int i = 0; i < 2; i++) {
        size_t hl = i ? 10 : 4;
        uint8_t *b = malloc(hl + sizes[i]);
        assert_non_null(b);
        memcpy(b, heads[i], hl);
        for (size_t j = 0; j < sizes[i]; j++)
            b[hl + j] = (uint8_t)(j * 7);
        expect_one(CLIENT, b, hl + sizes[i], WS_EV_MESSAGE, WS_OP_BINARY,
                   b + hl, sizes[i]);
        free(b);
    }
    /* a non-minimal length encoding is accepted (RFC 6455 5.2 allows it
     * to be read; only senders must be minimal) */
    const uint8_t loose[] = {0x82, 0x7E, 0x00, 0x02, 0xAA, 0xBB};
    expect_one(CLIENT, loose, sizeof loose, WS_EV_MESSAGE, WS_OP_BINARY,
               "\xAA\xBB", 2);
    const uint8_t loose64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 1, 0xCC};
    expect_one(CLIENT, loose64, sizeof loose64, WS_EV_MESSAGE, WS_OP_BINARY,
               "\xCC", 1);
}

static void test_rfc6455_examples_encode(void **st)
{
    (void)st;
    ws_encoder_t *srv, *cli;
    ws_encoder_cfg_t scfg = {0, NULL, NULL, NULL, 0};
    ws_encoder_cfg_t ccfg = {1, fixed_key, NULL, NULL, 0};
    assert_int_equal(ws_encoder_new(&scfg, &srv), 0);
    assert_int_equal(ws_encoder_new(&ccfg, &cli), 0);
    ws_buf_t b = {0};

    assert_int_equal(ws_encode_message(srv, WS_OP_TEXT,
                                       (const uint8_t *)"Hello", 5, 0, 0, &b),
                     0);
    const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    assert_int_equal(b.len, sizeof hello);
    assert_memory_equal(b.data, hello, b.len);

    b.len = 0;
    assert_int_equal(ws_encode_message(cli, WS_OP_TEXT,
                                       (const uint8_t *)"Hello", 5, 0, 0, &b),
                     0);
    const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                              0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_int_equal(b.len, sizeof masked);
    assert_memory_equal(b.data, masked, b.len);

    b.len = 0;
    assert_int_equal(ws_encode_message(srv, WS_OP_TEXT,
                                       (const uint8_t *)"Hello", 5, 3, 0, &b),
                     0);
    const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
                            0x80, 0x02, 0x6c, 0x6f};
    assert_int_equal(b.len, sizeof frag);
    assert_memory_equal(b.data, frag, b.len);

    b.len = 0;
    assert_int_equal(
        ws_encode_control(srv, WS_OP_PING, (const uint8_t *)"Hello", 5, &b), 0);
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    assert_memory_equal(b.data, ping, sizeof ping);
    b.len = 0;
    assert_int_equal(
        ws_encode_control(cli, WS_OP_PONG, (const uint8_t *)"Hello", 5, &b), 0);
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                            0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_memory_equal(b.data, pong, sizeof pong);

    uint8_t *big = calloc(1, 65536);
    assert_non_null(big);
    b.len = 0;
    assert_int_equal(ws_encode_message(srv, WS_OP_BINARY, big, 256, 0, 0, &b),
                     0);
    assert_int_equal(b.len, 4 + 256);
    assert_memory_equal(b.data, "\x82\x7E\x01\x00", 4);
    b.len = 0;
    assert_int_equal(ws_encode_message(srv, WS_OP_BINARY, big, 65536, 0, 0, &b),
                     0);
    assert_int_equal(b.len, 10 + 65536);
    assert_memory_equal(b.data, "\x82\x7F\0\0\0\0\0\x01\0\0", 10);
    /* 125 is the largest 7-bit length, 126 the smallest 16-bit one */
    b.len = 0;
    assert_int_equal(ws_encode_message(srv, WS_OP_BINARY, big, 125, 0, 0, &b),
                     0);
    assert_int_equal(b.data[1], 125);
    b.len = 0;
    assert_int_equal(ws_encode_message(srv, WS_OP_BINARY, big, 126, 0, 0, &b),
                     0);
    assert_memory_equal(b.data, "\x82\x7E\x00\x7E", 4);
    free(big);
    ws_buf_free(&b);
    ws_encoder_free(srv);
    ws_encoder_free(cli);
}

static void test_encoder_refusals_and_close(void **st)
{
    (void)st;
    ws_encoder_t *e;
    ws_encoder_cfg_t cfg = {0, NULL, NULL, NULL, 0};
    assert_int_equal(ws_encoder_new(&cfg, &e), 0);
    ws_buf_t b = {0};
    uint8_t big[200] = {0};
    assert_int_equal(ws_encode_control(e, WS_OP_PING, big, 126, &b), -EMSGSIZE);
    assert_int_equal(ws_encode_control(e, WS_OP_TEXT, big, 1, &b), -EINVAL);
    assert_int_equal(ws_encode_message(e, WS_OP_PING, big, 1, 0, 0, &b),
                     -EINVAL);
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT,
                                       (const uint8_t *)"\xc0\xaf", 2, 0, 0,
                                       &b),
                     -EILSEQ);
    assert_int_equal(ws_encode_close(e, 1005, NULL, 0, &b), -EINVAL);
    assert_int_equal(ws_encode_close(e, 999, NULL, 0, &b), -EINVAL);
    assert_int_equal(ws_encode_close(e, 1000, "\xff", 1, &b), -EILSEQ);
    assert_int_equal(b.len, 0); /* nothing written by a refusal */

    assert_int_equal(ws_encode_close(e, 0, "ignored", 7, &b), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\x88\x00", 2);
    b.len = 0;
    assert_int_equal(ws_encode_close(e, 4001, "bye", 3, &b), 0);
    assert_memory_equal(b.data,
                        "\x88\x05\x0f\xa1"
                        "bye",
                        7);

    /* 61 two-byte characters (122 bytes) and one more: the reason is cut
     * at 122, not inside the 62nd character */
    char reason[130];
    for (int i = 0; i < 62; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    b.len = 0;
    assert_int_equal(ws_encode_close(e, 1001, reason, 124, &b), 0);
    assert_int_equal(b.data[1], 2 + 122);
    rec_t r = {.n = 0};
    assert_int_equal(feed(CLIENT, b.data, b.len, 0, &r), 0);
    assert_int_equal(r.ev[0].type, WS_EV_CLOSE);
    assert_int_equal(r.ev[0].code, 1001);
    assert_int_equal(r.ev[0].len, 122);
    rec_clear(&r);
    ws_buf_free(&b);
    ws_encoder_free(e);
}

/* ------------------------------------------------------------------ */
/* Every error, with its close code                                    */
/* ------------------------------------------------------------------ */

static void test_errors_protocol(void **st)
{
    (void)st;
    const side_t Z = SERVER_Z;
    /* reserved opcodes */
    for (int op = 3; op <= 0xF; op++)
        if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
            expect_error_frame(SERVER, WS_FIN | (uint8_t)op, "x", 1, 1002);
    /* masking, both ways */
    const uint8_t unmasked[] = {0x81, 0x01, 'x'};
    expect_error(SERVER, unmasked, sizeof unmasked, 1002);
    expect_error_frame(CLIENT, 0x81, "x", 1, 1002);
    /* RSV bits */
    expect_error_frame(SERVER, WS_FIN | WS_RSV1 | WS_OP_TEXT, "x", 1, 1002);
    expect_error_frame(Z, WS_FIN | WS_RSV2 | WS_OP_TEXT, "x", 1, 1002);
    expect_error_frame(Z, WS_FIN | WS_RSV3 | WS_OP_BINARY, "x", 1, 1002);
    expect_error_frame(Z, WS_FIN | WS_RSV1 | WS_OP_PING, "", 0, 1002);
    ws_buf_t b = cframe((ws_buf_t){0}, WS_RSV1 | WS_OP_TEXT, "\xf2\x48", 2);
    b = cframe(b, WS_FIN | WS_RSV1 | WS_OP_CONT, "\xcd\xc9\xc9\x07\x00", 5);
    expect_error(Z, b.data, b.len, 1002); /* RSV1 on a continuation */
    ws_buf_free(&b);
    /* control frames: at most 125 bytes, never fragmented */
    uint8_t big[126] = {0};
    expect_error_frame(SERVER, WS_FIN | WS_OP_PING, big, 126, 1002);
    expect_error_frame(SERVER, WS_FIN | WS_OP_CLOSE, big, 126, 1002);
    expect_error_frame(SERVER, WS_OP_PING, "x", 1, 1002);
    expect_error_frame(SERVER, WS_OP_PONG, "", 0, 1002);
    /* sequencing */
    expect_error_frame(SERVER, WS_FIN | WS_OP_CONT, "x", 1, 1002);
    b = cframe((ws_buf_t){0}, WS_OP_TEXT, "a", 1);
    b = cframe(b, WS_FIN | WS_OP_BINARY, "b", 1);
    expect_error(SERVER, b.data, b.len, 1002);
    b.len = 0;
    b = cframe(b, WS_FIN | WS_OP_TEXT, "a", 1);
    b = cframe(b, WS_FIN | WS_OP_CONT, "b", 1);
    expect_error(SERVER, b.data, b.len, 1002);
    ws_buf_free(&b);
    /* 64-bit length with its most significant bit set */
    const uint8_t msb[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_error(SERVER, msb, sizeof msb, 1002);
}

static void test_errors_close_frames(void **st)
{
    (void)st;
    expect_error_frame(SERVER, WS_FIN | WS_OP_CLOSE, "\x03", 1, 1002);
    const unsigned bad[] = {0,    999,  1004, 1005, 1006, 1012,
                            1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        expect_error_frame(SERVER, WS_FIN | WS_OP_CLOSE, p, 2, 1002);
    }
    expect_error_frame(SERVER, WS_FIN | WS_OP_CLOSE, "\x03\xe8\xce\xba\xe1", 5,
                       1007);
    expect_error_frame(SERVER, WS_FIN | WS_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5,
                       1007);

    const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008,
                             1009, 1010, 1011, 3000, 3999, 4999};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        uint8_t p[8] = {(uint8_t)(good[i] >> 8),
                        (uint8_t)good[i],
                        'b',
                        0xce,
                        0xba,
                        'y',
                        'e'};
        ws_buf_t b = cframe((ws_buf_t){0}, WS_FIN | WS_OP_CLOSE, p, 7);
        b = cframe(b, WS_FIN | WS_OP_TEXT, "after", 5); /* ignored */
        rec_t r = {.n = 0};
        assert_int_equal(feed(SERVER, b.data, b.len, 0, &r), 0);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, WS_EV_CLOSE);
        assert_int_equal(r.ev[0].code, good[i]);
        assert_int_equal(r.ev[0].len, 5);
        assert_memory_equal(r.ev[0].data, "b\xce\xbaye", 5);
        rec_clear(&r);
        ws_buf_free(&b);
    }
    ws_buf_t b = cframe((ws_buf_t){0}, WS_FIN | WS_OP_CLOSE, NULL, 0);
    rec_t r = {.n = 0};
    assert_int_equal(feed(SERVER, b.data, b.len, 0, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].code, WS_CLOSE_NO_STATUS);
    assert_int_equal(r.ev[0].len, 0);
    rec_clear(&r);
    ws_buf_free(&b);
}

static void test_errors_utf8(void **st)
{
    (void)st;
    const char *bad[] = {
        "\xff",         "\x80",         "\xc0\xaf",         "\xc1\xbf",
        "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "a\xe2\x82",    "\xce",         "\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect_error_frame(SERVER, WS_FIN | WS_OP_TEXT, bad[i], strlen(bad[i]),
                           1007);
        assert_false(ws_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));
    }
    const char *good[] = {"",
                          "\x7f",
                          "\xc2\x80",
                          "\xdf\xbf",
                          "\xe0\xa0\x80",
                          "\xed\x9f\xbf",
                          "\xee\x80\x80",
                          "\xef\xbf\xbf",
                          "\xf0\x90\x80\x80",
                          "\xf4\x8f\xbf\xbf",
                          "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(ws_utf8_valid((const uint8_t *)good[i], strlen(good[i])));

    /* a character split across fragments is fine */
    ws_buf_t b = cframe((ws_buf_t){0}, WS_OP_TEXT, "\xe2", 1);
    b = cframe(b, WS_OP_CONT, "\x82", 1);
    b = cframe(b, WS_FIN | WS_OP_CONT, "\xac!", 2);
    expect_one(SERVER, b.data, b.len, WS_EV_MESSAGE, WS_OP_TEXT,
               "\xe2\x82\xac!", 4);
    /* binary is not checked */
    b.len = 0;
    b = cframe(b, WS_FIN | WS_OP_BINARY, "\xff\xfe", 2);
    expect_one(SERVER, b.data, b.len, WS_EV_MESSAGE, WS_OP_BINARY, "\xff\xfe",
               2);
    /* fail fast: the error comes with the first fragment, before the
     * message is complete */
    b.len = 0;
    b = cframe(b, WS_OP_TEXT, "ok\xc0", 3);
    rec_t r = {.n = 0};
    assert_int_equal(feed(SERVER, b.data, b.len, 0, &r), -EPROTO);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].code, 1007);
    rec_clear(&r);
    /* a message ending inside a character */
    b.len = 0;
    b = cframe(b, WS_OP_TEXT, "\xf0\x9f", 2);
    b = cframe(b, WS_FIN | WS_OP_CONT, "\x98", 1);
    expect_error(SERVER, b.data, b.len, 1007);
    ws_buf_free(&b);
}

static void test_errors_size_limit(void **st)
{
    (void)st;
    side_t s = {0, 10, NULL};
    uint8_t d[11] = "0123456789";
    ws_buf_t b = cframe((ws_buf_t){0}, WS_FIN | WS_OP_BINARY, d, 10);
    expect_one(s, b.data, b.len, WS_EV_MESSAGE, WS_OP_BINARY, d, 10);

    /* the header alone (2 + 4 bytes of key) is enough to refuse */
    b.len = 0;
    b = cframe(b, WS_FIN | WS_OP_BINARY, d, 11);
    rec_t r = {.n = 0};
    assert_int_equal(feed(s, b.data, 6, 0, &r), -EPROTO);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].code, 1009);
    rec_clear(&r);

    /* across fragments, counted from the start of the message */
    b.len = 0;
    b = cframe(b, WS_OP_TEXT, d, 6);
    b = cframe(b, WS_FIN | WS_OP_CONT, d, 5);
    expect_error(s, b.data, b.len, 1009);
    /* a 64-bit length far over the limit, never buffered */
    const uint8_t huge[] = {0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_error(s, huge, sizeof huge, 1009);
    /* control frames and other messages do not count */
    b.len = 0;
    b = cframe(b, WS_OP_TEXT, d, 5);
    b = cframe(b, WS_FIN | WS_OP_PING, d, 10);
    b = cframe(b, WS_FIN | WS_OP_CONT, d, 5);
    b = cframe(b, WS_FIN | WS_OP_TEXT, d, 10);
    assert_int_equal(feed(s, b.data, b.len, 0, &r), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.ev[0].type, WS_EV_PING);
    assert_int_equal(r.ev[1].len, 10);
    assert_int_equal(r.ev[2].len, 10);
    rec_clear(&r);
    ws_buf_free(&b);
}

static void test_after_error_and_close(void **st)
{
    (void)st;
    rec_t r = {.n = 0};
    ws_parser_t *p;
    ws_parser_cfg_t cfg = {0, 0, NULL, on_event, &r};
    assert_int_equal(ws_parser_new(&cfg, &p), 0);
    const uint8_t unmasked[] = {0x81, 0x01, 'x'};
    assert_int_equal(ws_parser_feed(p, unmasked, sizeof unmasked), -EPROTO);
    ws_buf_t b = cframe((ws_buf_t){0}, WS_FIN | WS_OP_TEXT, "ok", 2);
    assert_int_equal(ws_parser_feed(p, b.data, b.len), -EPROTO);
    assert_int_equal(r.n, 1); /* one error, nothing after it */
    ws_parser_free(p);
    rec_clear(&r);

    cfg.on_event = NULL;
    assert_int_equal(ws_parser_new(&cfg, &p), -EINVAL);
    assert_null(p);
    ws_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* permessage-deflate: RFC 7692 7.2.3                                  */
/* ------------------------------------------------------------------ */

static void test_rfc7692_examples_parse(void **st)
{
    (void)st;
    const uint8_t one[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
                           0xc9, 0xc9, 0x07, 0x00};
    expect_one(CLIENT_Z, one, sizeof one, WS_EV_MESSAGE, WS_OP_TEXT, "Hello",
               5);
    /* 7.2.3.1, fragmented */
    const uint8_t frag[] = {0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80,
                            0x04, 0xc9, 0xc9, 0x07, 0x00};
    expect_one(CLIENT_Z, frag, sizeof frag, WS_EV_MESSAGE, WS_OP_TEXT, "Hello",
               5);
    /* 7.2.3.3: a stored block */
    const uint8_t stored[] = {0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff,
                              0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
    expect_one(CLIENT_Z, stored, sizeof stored, WS_EV_MESSAGE, WS_OP_TEXT,
               "Hello", 5);
    /* 7.2.3.5: two blocks in one message */
    const uint8_t two[] = {0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00,
                           0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    expect_one(CLIENT_Z, two, sizeof two, WS_EV_MESSAGE, WS_OP_TEXT, "Hello",
               5);
    /* 7.2.3.6: the single 0x00 is an empty message */
    const uint8_t empty[] = {0xc1, 0x01, 0x00};
    expect_one(CLIENT_Z, empty, sizeof empty, WS_EV_MESSAGE, WS_OP_TEXT, "", 0);

    /* 7.2.3.2: the second "Hello" uses the first one's window */
    const uint8_t shared[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
                              0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00};
    rec_t r = {.n = 0};
    assert_int_equal(feed(CLIENT_Z, shared, sizeof shared, 0, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal((char *)r.ev[1].data, "Hello");
    assert_int_equal(r.ev[1].compressed, 1);
    rec_clear(&r);

    /* 7.2.3.4: BFINAL set; the stream then starts over, so a message
     * after it still decodes */
    const uint8_t bfinal[] = {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9,
                              0x07, 0x00, 0x00, 0xc1, 0x07, 0xf2, 0x48,
                              0xcd, 0xc9, 0xc9, 0x07, 0x00};
    assert_int_equal(feed(CLIENT_Z, bfinal, sizeof bfinal, 0, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal((char *)r.ev[0].data, "Hello");
    assert_string_equal((char *)r.ev[1].data, "Hello");
    rec_clear(&r);

    /* an uncompressed message on a deflate connection: RSV1 clear */
    const uint8_t plain[] = {0x81, 0x02, 'h', 'i'};
    assert_int_equal(feed(CLIENT_Z, plain, sizeof plain, 0, &r), 0);
    assert_int_equal(r.ev[0].compressed, 0);
    assert_string_equal((char *)r.ev[0].data, "hi");
    rec_clear(&r);

    /* garbage deflate data, and inflated text that is not UTF-8 */
    const uint8_t junk[] = {0xc1, 0x02, 0xff, 0xff};
    expect_error(CLIENT_Z, junk, sizeof junk, 1007);
    /* a stored block holding 0xff */
    const uint8_t badtext[] = {0xc1, 0x07, 0x00, 0x01, 0x00,
                               0xfe, 0xff, 0xff, 0x00};
    expect_error(CLIENT_Z, badtext, sizeof badtext, 1007);
    const uint8_t badbin[] = {0xc2, 0x07, 0x00, 0x01, 0x00,
                              0xfe, 0xff, 0xff, 0x00};
    expect_one(CLIENT_Z, badbin, sizeof badbin, WS_EV_MESSAGE, WS_OP_BINARY,
               "\xff", 1);
}

static void test_rfc7692_examples_encode(void **st)
{
    (void)st;
    const uint8_t one[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
                           0xc9, 0xc9, 0x07, 0x00};
    const uint8_t second[] = {0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00};
    const uint8_t *hello = (const uint8_t *)"Hello";

    ws_encoder_t *e;
    ws_encoder_cfg_t cfg = {0, NULL, NULL, &deflate_on, 0};
    assert_int_equal(ws_encoder_new(&cfg, &e), 0);
    ws_buf_t b = {0};
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT, hello, 5, 0, 0, &b), 0);
    assert_int_equal(b.len, sizeof one);
    assert_memory_equal(b.data, one, sizeof one);
    b.len = 0;
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT, hello, 5, 0, 0, &b), 0);
    assert_int_equal(b.len, sizeof second); /* context taken over */
    assert_memory_equal(b.data, second, sizeof second);
    /* the empty message is the single 0x00 */
    b.len = 0;
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT, NULL, 0, 0, 0, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\xc1\x01\x00", 3);
    /* opting out: plain frame, RSV1 clear */
    b.len = 0;
    assert_int_equal(
        ws_encode_message(e, WS_OP_TEXT, hello, 5, 0, WS_ENC_NO_COMPRESS, &b),
        0);
    assert_memory_equal(b.data, "\x81\x05Hello", 7);
    /* fragmented: RSV1 on the first frame only */
    b.len = 0;
    assert_int_equal(ws_encode_message(e, WS_OP_BINARY, hello, 5, 2, 0, &b), 0);
    assert_int_equal(b.data[0], WS_RSV1 | WS_OP_BINARY);
    assert_int_equal(b.data[1], 2);
    assert_int_equal(b.data[4] & 0x7F, WS_OP_CONT);
    ws_encoder_free(e);

    /* without context takeover every message is the same */
    ws_deflate_params_t nct = deflate_on;
    nct.server_no_context_takeover = 1;
    cfg.deflate = &nct;
    assert_int_equal(ws_encoder_new(&cfg, &e), 0);
    for (int i = 0; i < 3; i++) {
        b.len = 0;
        assert_int_equal(ws_encode_message(e, WS_OP_TEXT, hello, 5, 0, 0, &b),
                         0);
        assert_int_equal(b.len, sizeof one);
        assert_memory_equal(b.data, one, sizeof one);
    }
    ws_encoder_free(e);
    ws_buf_free(&b);
}

/* Client encoder -> server parser and back, compressed, with and without
 * takeover, fragmented or not. */
static void test_deflate_round_trips(void **st)
{
    (void)st;
    size_t n = 300000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) /* compressible, not trivially */
        data[i] = (uint8_t)("abcdefgh"[(i * 31 / 7) % 8] + (i % 97 == 0));
    for (int nct = 0; nct < 4; nct++) {
        ws_deflate_params_t d = {1, nct & 1, (nct >> 1) & 1, 10, 12};
        for (int client = 0; client < 2; client++) {
            ws_encoder_t *e;
            ws_encoder_cfg_t ecfg = {client, NULL, NULL, &d, 1 + nct};
            assert_int_equal(ws_encoder_new(&ecfg, &e), 0);
            ws_buf_t b = {0};
            const size_t lens[] = {0, 1, 100, 5000, n, 7, n / 2};
            for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
                assert_int_equal(ws_encode_message(e, WS_OP_BINARY, data,
                                                   lens[i], i % 2 ? 1000 : 0, 0,
                                                   &b),
                                 0);
            assert_true(b.len < n); /* it did compress */
            rec_t r = {.n = 0};
            side_t s = {!client, 0, &d};
            assert_int_equal(feed(s, b.data, b.len, 4093, &r), 0);
            assert_int_equal(r.n, sizeof lens / sizeof *lens);
            for (size_t i = 0; i < r.n; i++) {
                assert_int_equal(r.ev[i].type, WS_EV_MESSAGE);
                assert_int_equal(r.ev[i].compressed, 1);
                assert_int_equal(r.ev[i].len, lens[i]);
                assert_memory_equal(r.ev[i].data, data, lens[i]);
            }
            rec_clear(&r);
            ws_buf_free(&b);
            ws_encoder_free(e);
        }
    }
    free(data);
}

static void test_deflate_bomb(void **st)
{
    (void)st;
    /* 64 MiB of zeros deflate to about 64 KiB */
    size_t n = 64u << 20;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    ws_encoder_t *e;
    ws_encoder_cfg_t ecfg = {1, fixed_key, NULL, &deflate_on, 9};
    assert_int_equal(ws_encoder_new(&ecfg, &e), 0);
    ws_buf_t b = {0};
    assert_int_equal(ws_encode_message(e, WS_OP_BINARY, zeros, n, 0, 0, &b), 0);
    free(zeros);
    assert_true(b.len < 200 * 1024);

    rec_t r = {.n = 0};
    ws_parser_t *p;
    ws_parser_cfg_t cfg = {0, 0, &deflate_on, on_event, &r};
    assert_int_equal(ws_parser_new(&cfg, &p), 0);
    assert_int_equal(ws_parser_feed(p, b.data, b.len), -EPROTO);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, WS_EV_ERROR);
    assert_int_equal(r.ev[0].code, 1009);
    /* the buffer stopped at the limit */
    assert_true(ws_parser_memory(p) <= WS_DEFAULT_MAX_MESSAGE + 64 * 1024);
    ws_parser_free(p);
    rec_clear(&r);
    ws_buf_free(&b);
    ws_encoder_free(e);

    /* exactly the limit inflates; one byte more does not */
    uint8_t text[1001];
    memset(text, 'a', sizeof text);
    for (int extra = 0; extra < 2; extra++) {
        assert_int_equal(ws_encoder_new(&ecfg, &e), 0);
        assert_int_equal(ws_encode_message(e, WS_OP_TEXT, text,
                                           1000 + (size_t)extra, 0, 0, &b),
                         0);
        side_t s = {0, 1000, &deflate_on};
        int rc = feed(s, b.data, b.len, 0, &r);
        assert_int_equal(rc, extra ? -EPROTO : 0);
        assert_int_equal(r.ev[0].type, extra ? WS_EV_ERROR : WS_EV_MESSAGE);
        assert_int_equal(extra ? r.ev[0].code : r.ev[0].len,
                         extra ? 1009 : 1000);
        rec_clear(&r);
        b.len = 0;
        ws_encoder_free(e);
    }
    ws_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Splits and memory                                                   */
/* ------------------------------------------------------------------ */

/* A stream with everything in it: fragments with a ping between them,
 * 16- and 64-bit lengths, compressed and plain messages, a pong, a close. */
static ws_buf_t mixed_stream(int deflate)
{
    ws_deflate_params_t d = deflate_on;
    ws_encoder_t *e;
    ws_encoder_cfg_t cfg = {1, fixed_key, NULL, deflate ? &d : NULL, 0};
    assert_int_equal(ws_encoder_new(&cfg, &e), 0);
    ws_buf_t b = cframe((ws_buf_t){0}, WS_OP_TEXT, "frag\xe2", 5);
    b = cframe(b, WS_FIN | WS_OP_PING, "p", 1);
    b = cframe(b, WS_OP_CONT, "\x82", 1);
    b = cframe(b, WS_FIN | WS_OP_CONT, "\xac end", 5);
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i ^ (i >> 8));
    assert_int_equal(ws_encode_message(e, WS_OP_BINARY, big, 300, 0, 0, &b), 0);
    assert_int_equal(
        ws_encode_message(e, WS_OP_BINARY, big, sizeof big, 999, 0, &b), 0);
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT, (const uint8_t *)"plain",
                                       5, 0, WS_ENC_NO_COMPRESS, &b),
                     0);
    assert_int_equal(ws_encode_message(e, WS_OP_TEXT,
                                       (const uint8_t *)"zz zz zz zz", 11, 3, 0,
                                       &b),
                     0);
    assert_int_equal(ws_encode_control(e, WS_OP_PONG, NULL, 0, &b), 0);
    assert_int_equal(ws_encode_message(e, WS_OP_BINARY, NULL, 0, 0, 0, &b), 0);
    assert_int_equal(ws_encode_close(e, 1000, "done", 4, &b), 0);
    ws_encoder_free(e);
    return b;
}

static void test_splits_equal_one_shot(void **st)
{
    (void)st;
    for (int z = 0; z < 2; z++) {
        ws_buf_t b = mixed_stream(z);
        side_t s = {0, 0, z ? &deflate_on : NULL};
        rec_t whole = {.n = 0};
        assert_int_equal(feed(s, b.data, b.len, 0, &whole), 0);
        assert_int_equal(whole.n, 9);
        assert_int_equal(whole.ev[0].type, WS_EV_PING);
        assert_string_equal((char *)whole.ev[1].data, "frag\xe2\x82\xac end");
        assert_int_equal(whole.ev[3].len, 70000);
        assert_int_equal(whole.ev[3].compressed, z);
        assert_int_equal(whole.ev[6].type, WS_EV_PONG);
        assert_int_equal(whole.ev[8].type, WS_EV_CLOSE);
        assert_int_equal(whole.ev[8].code, 1000);
        const size_t steps[] = {1, 2, 3, 5, 7, 13, 64, 1000};
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
            rec_t part = {.n = 0};
            assert_int_equal(feed(s, b.data, b.len, steps[i], &part), 0);
            rec_equal(&whole, &part);
            rec_clear(&part);
        }
        /* an error found byte by byte is the same error */
        b.data[1] &= 0x7F; /* the first frame unmasked */
        rec_t e1 = {.n = 0}, e2 = {.n = 0};
        assert_int_equal(feed(s, b.data, b.len, 0, &e1), -EPROTO);
        assert_int_equal(feed(s, b.data, b.len, 1, &e2), -EPROTO);
        rec_equal(&e1, &e2);
        rec_clear(&e1);
        rec_clear(&e2);
        rec_clear(&whole);
        ws_buf_free(&b);
    }
}

static void noop_event(void *ud, const ws_event_t *ev)
{
    (void)ev;
    ++*(int *)ud;
}

static void test_memory_returns_after_messages(void **st)
{
    (void)st;
    int events = 0;
    ws_deflate_params_t d = deflate_on;
    d.client_no_context_takeover = 1;
    ws_parser_t *p;
    ws_parser_cfg_t cfg = {0, 0, &d, noop_event, &events};
    assert_int_equal(ws_parser_new(&cfg, &p), 0);
    size_t idle = ws_parser_memory(p);
    assert_true(idle < 2048);

    ws_encoder_t *e;
    ws_encoder_cfg_t ecfg = {1, fixed_key, NULL, &d, 0};
    assert_int_equal(ws_encoder_new(&ecfg, &e), 0);
    static uint8_t big[500000];
    ws_buf_t b = {0};
    assert_int_equal(
        ws_encode_message(e, WS_OP_BINARY, big, sizeof big, 0, 0, &b), 0);
    assert_int_equal(ws_encode_message(e, WS_OP_BINARY, big, sizeof big, 0,
                                       WS_ENC_NO_COMPRESS, &b),
                     0);
    /* half of the second message: the buffer holds what came */
    size_t first = b.len - (sizeof big + 14);
    assert_int_equal(ws_parser_feed(p, b.data, first + 14 + 1000), 0);
    assert_int_equal(events, 1);
    assert_true(ws_parser_memory(p) < idle + 8192);
    assert_int_equal(ws_parser_feed(p, b.data + first + 14 + 1000,
                                    b.len - first - 14 - 1000),
                     0);
    assert_int_equal(events, 2);
    /* nothing kept: no big buffer, no zlib stream (no takeover) */
    assert_int_equal(ws_parser_memory(p), idle);
    ws_parser_free(p);
    ws_encoder_free(e);
    ws_buf_free(&b);
}

/* What zlib holds is counted: an inflate stream lives while the client
 * takes over its context, a deflate stream while we take over ours, and
 * neither outlives a message otherwise. */
static void test_memory_counts_zlib(void **st)
{
    (void)st;
    for (int takeover = 0; takeover < 2; takeover++) {
        ws_deflate_params_t d = deflate_on;
        d.server_no_context_takeover = d.client_no_context_takeover = !takeover;
        int events = 0;
        ws_parser_t *p;
        ws_parser_cfg_t cfg = {0, 0, &d, noop_event, &events};
        assert_int_equal(ws_parser_new(&cfg, &p), 0);
        ws_encoder_t *cli, *srv;
        ws_encoder_cfg_t ccfg = {1, fixed_key, NULL, &d, 0};
        ws_encoder_cfg_t scfg = {0, NULL, NULL, &d, 0};
        assert_int_equal(ws_encoder_new(&ccfg, &cli), 0);
        assert_int_equal(ws_encoder_new(&scfg, &srv), 0);
        size_t p0 = ws_parser_memory(p), s0 = ws_encoder_memory(srv);
        ws_buf_t b = {0};
        const uint8_t *hi = (const uint8_t *)"hello hello hello";
        assert_int_equal(ws_encode_message(cli, WS_OP_TEXT, hi, 17, 0, 0, &b),
                         0);
        assert_int_equal(ws_parser_feed(p, b.data, b.len), 0);
        assert_int_equal(events, 1);
        assert_int_equal(ws_encode_message(srv, WS_OP_TEXT, hi, 17, 0, 0, &b),
                         0);
        size_t pz = ws_parser_memory(p) - p0, sz = ws_encoder_memory(srv) - s0;
        if (takeover) {
            /* inflate: its state and a 32 KiB window; deflate: window and
             * hash tables, about 256 KiB at window 15 */
            assert_in_range(pz, 32 * 1024, 48 * 1024);
            assert_in_range(sz, 200 * 1024, 300 * 1024);
        } else { /* at most the small buffers kept for the next one */
            assert_true(pz <= 4096);
            assert_true(sz <= 4096);
        }
        ws_parser_free(p);
        ws_encoder_free(cli);
        ws_encoder_free(srv);
        ws_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc),
        cmocka_unit_test(test_handshake_accepts_rfc_request),
        cmocka_unit_test(test_handshake_tolerates_token_forms),
        cmocka_unit_test(test_handshake_negatives),
        cmocka_unit_test(test_handshake_subprotocol),
        cmocka_unit_test(test_extension_negotiation),
        cmocka_unit_test(test_rfc6455_examples_parse),
        cmocka_unit_test(test_rfc6455_examples_encode),
        cmocka_unit_test(test_encoder_refusals_and_close),
        cmocka_unit_test(test_errors_protocol),
        cmocka_unit_test(test_errors_close_frames),
        cmocka_unit_test(test_errors_utf8),
        cmocka_unit_test(test_errors_size_limit),
        cmocka_unit_test(test_after_error_and_close),
        cmocka_unit_test(test_rfc7692_examples_parse),
        cmocka_unit_test(test_rfc7692_examples_encode),
        cmocka_unit_test(test_deflate_round_trips),
        cmocka_unit_test(test_deflate_bomb),
        cmocka_unit_test(test_splits_equal_one_shot),
        cmocka_unit_test(test_memory_returns_after_messages),
        cmocka_unit_test(test_memory_counts_zlib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
