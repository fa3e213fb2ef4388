/*
 * A growing NUL-terminated string for building answers (JSON lists,
 * Prometheus text, fake values). Appends after an allocation failure are
 * ignored and set oom, so a builder checks once, at the end.
 */
#ifndef DP_SBUF_H
#define DP_SBUF_H

#include <stddef.h>

typedef struct dp_sbuf {
    char *p;    /* NUL-terminated once anything was appended; owned */
    size_t len; /* bytes before the NUL */
    size_t cap;
    int oom;    /* an append failed; p holds what came before it */
} dp_sbuf_t;

/* Makes room for extra more bytes (and the NUL). 0 or -ENOMEM (sets oom). */
int dp_sb_reserve(dp_sbuf_t *b, size_t extra);
void dp_sb_add(dp_sbuf_t *b, const void *s, size_t n);
void dp_sb_str(dp_sbuf_t *b, const char *s);
void dp_sb_putc(dp_sbuf_t *b, char c);
void dp_sb_printf(dp_sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
