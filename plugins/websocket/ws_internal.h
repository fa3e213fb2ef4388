/*
 * What the parts of ws_codec share: the incremental UTF-8 check, masking,
 * buffer growth. Not for users of the library.
 */
#ifndef DOPPEL_WS_INTERNAL_H
#define DOPPEL_WS_INTERNAL_H

#include "ws_codec.h"

/* The RFC 6455 GUID appended to the key before hashing. */
#define WS__GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/*
 * UTF-8 checked a piece at a time: a character may be split across
 * fragments, frames or inflate outputs. need = continuation bytes still
 * expected, [lo, hi] the range the next one must fall in (narrower after
 * E0, ED, F0 and F4, which is how overlongs, surrogates and values above
 * U+10FFFF are refused).
 */
typedef struct ws__utf8 {
    uint8_t need;
    uint8_t lo, hi;
} ws__utf8_t;

/* 0, or -1 at the first byte that cannot be part of valid UTF-8. */
int ws__utf8_step(ws__utf8_t *u, const uint8_t *s, size_t n);
/* Whether the bytes so far end on a character boundary. */
static inline int ws__utf8_complete(const ws__utf8_t *u)
{
    return u->need == 0;
}

/* XORs n bytes with the key, starting at key offset off (0..3). */
void ws__mask(uint8_t *p, size_t n, const uint8_t key[4], size_t off);

/* Room for extra more bytes in b (geometric growth). 0 or -ENOMEM. */
int ws__buf_reserve(ws_buf_t *b, size_t extra);
int ws__buf_append(ws_buf_t *b, const void *data, size_t len);

/* zlib allocators that count what a stream holds in *(size_t *)opaque, so
 * that ws_parser_memory and ws_encoder_memory report real figures. */
void *ws__zalloc(void *opaque, unsigned items, unsigned size);
void ws__zfree(void *opaque, void *ptr);

#endif /* DOPPEL_WS_INTERNAL_H */
