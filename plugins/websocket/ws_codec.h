/*
 * ws_codec: the WebSocket transport core (RFC 6455) with permessage-deflate
 * (RFC 7692), as a library with no I/O, no timers and no globals.
 *
 *   handshake  checks an upgrade request the host's HTTP front already
 *              parsed, negotiates the subprotocol and permessage-deflate,
 *              and writes the 101 (or the refusal);
 *   parser     turns the bytes that follow into events (messages, pings,
 *              pongs, the close, a protocol error with the close code the
 *              RFC names), fed in any split;
 *   encoder    writes frames (server side unmasked; client side masked,
 *              for tests and tools).
 *
 * Threads: an object belongs to the thread that uses it; nothing locks.
 * Errors: 0 or a negative errno. A function that fails leaves its output
 * buffer as it was.
 */
#ifndef DOPPEL_WS_CODEC_H
#define DOPPEL_WS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opcodes (RFC 6455 5.2). */
enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* First-byte bits, for ws_frame_write. */
#define WS_FIN 0x80u
#define WS_RSV1 0x40u
#define WS_RSV2 0x20u
#define WS_RSV3 0x10u

/* Close codes (RFC 6455 7.4.1). 1005, 1006 and 1015 are never on the wire. */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_EXTENSION = 1010,
    WS_CLOSE_INTERNAL = 1011,
};

/* Whether code may be sent in a close frame: 1000-1003, 1007-1011,
 * 3000-4999. */
int ws_close_code_valid(unsigned code);

/* Whether bytes are complete, well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int ws_utf8_valid(const uint8_t *s, size_t len);

/*
 * A growable byte buffer the encoder and the handshake append to. Start
 * it zeroed; the caller owns it and frees it with ws_buf_free. Functions
 * append (len grows) and never shrink what was there.
 */
typedef struct ws_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} ws_buf_t;

void ws_buf_free(ws_buf_t *b);

/* ------------------------------------------------------------------ */
/* Handshake (RFC 6455 4.2, RFC 7692 5 and 7.1)                        */
/* ------------------------------------------------------------------ */

/*
 * The request's headers, by name: the idx-th header (0-based, in arrival
 * order) whose name equals name case-insensitively, with *len set, or NULL
 * after the last one. Headers that may repeat (Sec-WebSocket-Protocol,
 * Sec-WebSocket-Extensions) are read as one comma-separated list, as
 * RFC 7230 3.2.2 says. The value is borrowed; it need not be
 * NUL-terminated.
 */
typedef const char *(*ws_header_fn)(void *ud, const char *name, size_t idx,
                                    size_t *len);

/* What the server accepts of permessage-deflate. */
typedef struct ws_deflate_policy {
    int enabled; /* accept client offers at all */
    /* Always reset the compressor after each message (less memory per
     * connection, worse ratio), and tell the client so. */
    int server_no_context_takeover;
    /* Ask the client to reset its compressor after each message, so that
     * our decompressor needs no memory between messages. */
    int client_no_context_takeover;
    /* Largest LZ77 window we compress with, 9..15; 0 = 15. (8 is not
     * offered: zlib's raw deflate silently uses 9 for it.) */
    int server_max_window_bits;
    /* Window to ask the client to limit itself to, 9..15, when its offer
     * allows it (client_max_window_bits in the offer); 0 = no limit. */
    int client_max_window_bits;
} ws_deflate_policy_t;

/* What was negotiated; the parser and the encoder of both sides take it. */
typedef struct ws_deflate_params {
    int enabled;
    int server_no_context_takeover;
    int client_no_context_takeover;
    int server_max_window_bits; /* 8..15 */
    int client_max_window_bits; /* 8..15 */
} ws_deflate_params_t;

typedef struct ws_handshake_cfg {
    /* Subprotocols the server speaks, in its order of preference (the
     * first of these the client offered is chosen). */
    const char *const *protocols;
    size_t n_protocols;
    ws_deflate_policy_t deflate;
} ws_handshake_cfg_t;

/* Longest Sec-WebSocket-Extensions answer we write, with its NUL. */
#define WS_EXT_ANSWER_MAX 160

typedef struct ws_handshake {
    /* 101 when accepted; else the answer to send: 400, or 426 for a
     * missing or unsupported Sec-WebSocket-Version. */
    int status;
    /* Why it was refused (a static string), NULL when accepted. */
    const char *reason;
    char accept[29]; /* Sec-WebSocket-Accept value, NUL-terminated */
    int protocol;    /* index into cfg->protocols, -1 = none */
    ws_deflate_params_t deflate;        /* .enabled = 0: none */
    char extensions[WS_EXT_ANSWER_MAX]; /* answer value, "" = none */
} ws_handshake_t;

/*
 * Checks an upgrade request. method is the request method (must be "GET"),
 * http_major/minor its version (1.1 or later). Fills *hs in every case.
 * Returns 0 (hs->status 101), -EINVAL (hs->status 400: not a valid
 * upgrade: method, version, Host, Upgrade, Connection, a missing or bad
 * Sec-WebSocket-Key, a malformed Sec-WebSocket-Extensions), or
 * -EPROTONOSUPPORT (hs->status 426: Sec-WebSocket-Version not 13).
 * Extension offers we cannot accept (unknown parameters, duplicates, bad
 * values) are declined, not refused.
 */
int ws_handshake_check(const ws_handshake_cfg_t *cfg, const char *method,
                       size_t method_len, int http_major, int http_minor,
                       ws_header_fn header, void *ud, ws_handshake_t *hs);

/* Whether the request asks for a WebSocket at all (an Upgrade header with
 * the websocket token), so that a front can tell an upgrade attempt from a
 * plain request before checking it. */
int ws_handshake_is_upgrade(ws_header_fn header, void *ud);

/* The Sec-WebSocket-Accept value for a key (RFC 6455 4.2.2 5.4): base64 of
 * the SHA-1 of the key and the GUID. out gets 28 characters and a NUL.
 * 0, or -EINVAL (key_len 0 or over 256). */
int ws_accept_key(const char *key, size_t key_len, char out[29]);

/* Most headers ws_handshake_answer_headers gives. */
#define WS_ANSWER_HEADERS_MAX 4

/*
 * The 101's headers for an accepted hs, for a front that writes the status
 * line and Connection itself (svc->http_upgrade): Upgrade: websocket,
 * Sec-WebSocket-Accept, then Sec-WebSocket-Protocol (protocol, when not
 * NULL) and Sec-WebSocket-Extensions when negotiated. names and values get
 * borrowed pointers (static strings, hs->accept, hs->extensions,
 * protocol), valid while hs and protocol are. Returns how many (2..4), or
 * -EINVAL (hs not accepted).
 */
int ws_handshake_answer_headers(const ws_handshake_t *hs, const char *protocol,
                                const char *names[WS_ANSWER_HEADERS_MAX],
                                const char *values[WS_ANSWER_HEADERS_MAX]);

/* Appends the 101 answer for an accepted hs: Upgrade, Connection,
 * Sec-WebSocket-Accept, and Sec-WebSocket-Protocol (protocol, when not
 * NULL: cfg->protocols[hs->protocol]) and Sec-WebSocket-Extensions when
 * negotiated. 0, -EINVAL (hs not accepted), -ENOMEM. */
int ws_handshake_write_101(const ws_handshake_t *hs, const char *protocol,
                           ws_buf_t *out);

/* Appends the refusal for a refused hs: status line, Content-Type,
 * Content-Length, Connection: close, Sec-WebSocket-Version: 13 for 426,
 * and hs->reason as the text body. 0, -EINVAL (hs accepted), -ENOMEM.
 * (On the host's front a refusal is an ordinary answer to the exchange:
 * hs->status, Sec-WebSocket-Version: 13 when it is 426, hs->reason.) */
int ws_handshake_write_refusal(const ws_handshake_t *hs, ws_buf_t *out);

/* ------------------------------------------------------------------ */
/* Parser                                                              */
/* ------------------------------------------------------------------ */

typedef struct ws_parser ws_parser_t;

typedef enum {
    WS_EV_MESSAGE = 1, /* a complete text or binary message */
    WS_EV_PING,
    WS_EV_PONG,
    WS_EV_CLOSE, /* the peer's close frame; the parser ignores what follows */
    WS_EV_ERROR, /* a protocol violation: send a close with code, then end */
} ws_event_type_t;

typedef struct ws_event {
    ws_event_type_t type;
    int opcode;     /* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    int compressed; /* MESSAGE: arrived compressed (permessage-deflate) */
    /* MESSAGE: the payload (inflated; text is valid UTF-8); PING, PONG:
     * the payload; CLOSE: the reason (valid UTF-8); ERROR: a short text
     * saying what was wrong (NUL-terminated, ASCII), fit for the close
     * reason. Borrowed: valid during the callback only. */
    const uint8_t *data;
    size_t len;
    /* CLOSE: the peer's code (WS_CLOSE_NO_STATUS when the frame had no
     * payload); ERROR: the close code to answer with. */
    unsigned code;
} ws_event_t;

/* Called from inside ws_parser_feed. It may use encoders and anything
 * else, but not feed or free this parser. */
typedef void (*ws_event_fn)(void *ud, const ws_event_t *ev);

/* Default per-message limit (after inflating). */
#define WS_DEFAULT_MAX_MESSAGE (1024u * 1024u)

typedef struct ws_parser_cfg {
    /* 0: server side: frames come from a client and must be masked.
     * 1: client side: frames must not be masked. */
    int client;
    /* Largest message (its whole payload, after inflating); 0 = the
     * default. Over it: WS_CLOSE_TOO_BIG, decided from the frame header
     * before anything is buffered (uncompressed) or as soon as inflating
     * passes it (compressed). */
    size_t max_message;
    /* Negotiated permessage-deflate, or NULL / .enabled = 0 for none
     * (RSV1 is then a protocol error). Copied. */
    const ws_deflate_params_t *deflate;
    ws_event_fn on_event; /* required */
    void *ud;
} ws_parser_cfg_t;

/* 0, -EINVAL (no on_event), -ENOMEM. */
int ws_parser_new(const ws_parser_cfg_t *cfg, ws_parser_t **out);
void ws_parser_free(ws_parser_t *p);

/*
 * Feeds the next bytes (any split: a frame may arrive a byte at a time).
 * Events fire in order from inside the call. Returns 0, or -EPROTO once
 * the input broke the protocol: the WS_EV_ERROR event fired exactly once,
 * at that point, and every later call returns -EPROTO and does nothing.
 * Out of memory is such an error too (WS_CLOSE_INTERNAL). After the
 * WS_EV_CLOSE event, later bytes are ignored (returns 0).
 *
 * Memory is bounded: the header (14 bytes), one control payload (125),
 * the message being assembled (at most max_message + 1; a buffer over
 * 4 KiB is released after its message), and with permessage-deflate one
 * zlib inflate stream (about 40 KiB, set up at the first compressed
 * message and released after each one when the peer does not take over
 * its context).
 */
int ws_parser_feed(ws_parser_t *p, const uint8_t *buf, size_t len);

/* Bytes the parser holds now (buffers and zlib state), for metrics and
 * for the tests that hold it to its bound. */
size_t ws_parser_memory(const ws_parser_t *p);

/* ------------------------------------------------------------------ */
/* Encoder                                                             */
/* ------------------------------------------------------------------ */

typedef struct ws_encoder ws_encoder_t;

typedef struct ws_encoder_cfg {
    /* 0: server side (frames unmasked). 1: client side: every frame is
     * masked with a fresh key from mask_key (or OpenSSL's RAND_bytes when
     * NULL). */
    int client;
    void (*mask_key)(void *ud, uint8_t key[4]);
    void *mask_ud;
    /* Negotiated permessage-deflate, or NULL. Copied. */
    const ws_deflate_params_t *deflate;
    /* Compression level 1..9; 0 = zlib's default (6). */
    int level;
} ws_encoder_cfg_t;

/* 0, -EINVAL, -ENOMEM. */
int ws_encoder_new(const ws_encoder_cfg_t *cfg, ws_encoder_t **out);
void ws_encoder_free(ws_encoder_t *e);

/* Bytes the encoder holds now: its scratch buffer and zlib's deflate
 * stream (about 256 KiB at window 15 while it lives: from the first
 * compressed message on with context takeover, during each message
 * without). */
size_t ws_encoder_memory(const ws_encoder_t *e);

/* ws_encode_message flags */
#define WS_ENC_NO_COMPRESS 0x1u /* send this one uncompressed */

/*
 * Appends one text or binary message. With permessage-deflate negotiated
 * it is compressed (unless WS_ENC_NO_COMPRESS), with or without context
 * takeover as negotiated for this side. max_frame > 0 splits the payload
 * (compressed, if it is) into frames of at most that many bytes; 0 = one
 * frame. 0, -EINVAL (opcode), -EILSEQ (text that is not UTF-8), -ENOMEM.
 */
int ws_encode_message(ws_encoder_t *e, int opcode, const uint8_t *data,
                      size_t len, size_t max_frame, unsigned flags,
                      ws_buf_t *out);

/* Appends a ping or pong. 0, -EINVAL (opcode), -EMSGSIZE (over 125 bytes),
 * -ENOMEM. */
int ws_encode_control(ws_encoder_t *e, int opcode, const uint8_t *data,
                      size_t len, ws_buf_t *out);

/*
 * Appends a close frame: code 0 = no payload (reason ignored); else a code
 * that ws_close_code_valid accepts, and a UTF-8 reason, cut at a character
 * boundary to fit the 125-byte control payload (123 bytes of reason).
 * 0, -EINVAL (code), -EILSEQ (reason not UTF-8), -ENOMEM.
 */
int ws_encode_close(ws_encoder_t *e, unsigned code, const char *reason,
                    size_t reason_len, ws_buf_t *out);

/*
 * Appends one raw frame: b0 is the first byte (WS_FIN, WS_RSV*, opcode),
 * mask the 4-byte masking key or NULL for an unmasked frame. Nothing is
 * checked, so tests and fuzzers can write frames the parser must refuse.
 * 0, -ENOMEM.
 */
int ws_frame_write(ws_buf_t *out, uint8_t b0, const uint8_t *mask,
                   const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_WS_CODEC_H */
