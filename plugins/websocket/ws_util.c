/*
 * Small pieces every part of the codec uses: UTF-8, masking, close codes,
 * the output buffer.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

int ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1011)
        return 1;
    return code >= 3000 && code <= 4999;
}

/* The lead byte starts a sequence: set how many continuations follow and
 * the range of the first one. 0, or -1 for a byte that cannot lead. */
static int ws__utf8_lead(ws__utf8_t *u, uint8_t c)
{
    u->lo = 0x80;
    u->hi = 0xBF;
    if (c < 0xC2) /* a stray continuation, or C0/C1 (overlong ASCII) */
        return -1;
    if (c < 0xE0) {
        u->need = 1;
    } else if (c < 0xF0) {
        u->need = 2;
        if (c == 0xE0) /* below U+0800 would be overlong */
            u->lo = 0xA0;
        else if (c == 0xED) /* U+D800..U+DFFF are surrogates */
            u->hi = 0x9F;
    } else if (c < 0xF5) {
        u->need = 3;
        if (c == 0xF0) /* below U+10000 would be overlong */
            u->lo = 0x90;
        else if (c == 0xF4) /* above U+10FFFF */
            u->hi = 0x8F;
    } else {
        return -1;
    }
    return 0;
}

int ws__utf8_step(ws__utf8_t *u, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (u->need == 0) {
            /* Text is mostly ASCII: skip it eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == n)
                break;
            uint8_t c = s[i++];
            if (c < 0x80)
                continue;
            if (ws__utf8_lead(u, c) != 0)
                return -1;
        } else {
            uint8_t c = s[i++];
            if (c < u->lo || c > u->hi)
                return -1;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xBF;
        }
    }
    return 0;
}

int ws_utf8_valid(const uint8_t *s, size_t len)
{
    ws__utf8_t u = {0, 0x80, 0xBF};
    return ws__utf8_step(&u, s, len) == 0 && ws__utf8_complete(&u);
}

void ws__mask(uint8_t *p, size_t n, const uint8_t key[4], size_t off)
{
    uint8_t k8[8];
    for (size_t i = 0; i < 8; i++)
        k8[i] = key[(off + i) & 3];
    uint64_t k;
    memcpy(&k, k8, 8);
    size_t i = 0;
    /* Eight bytes keep the key phase (8 is a multiple of 4). */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= k8[i & 7];
}

int ws__buf_reserve(ws_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int ws__buf_append(ws_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = ws__buf_reserve(b, len);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void ws_buf_free(ws_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Each zlib block carries its size in front, aligned like malloc's. */
typedef union ws__zhdr {
    size_t size;
    max_align_t align;
} ws__zhdr_t;

void *ws__zalloc(void *opaque, unsigned items, unsigned size)
{
    size_t n = (size_t)items * size;
    if (size != 0 && n / size != items)
        return NULL;
    if (n > SIZE_MAX - sizeof(ws__zhdr_t))
        return NULL;
    ws__zhdr_t *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    *(size_t *)opaque += n;
    return h + 1;
}

void ws__zfree(void *opaque, void *ptr)
{
    if (ptr == NULL)
        return;
    ws__zhdr_t *h = (ws__zhdr_t *)ptr - 1;
    *(size_t *)opaque -= h->size;
    free(h);
}
