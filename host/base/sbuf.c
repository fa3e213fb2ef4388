#include "sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dp_sb_reserve(dp_sbuf_t *b, size_t extra)
{
    if (b->oom)
        return -ENOMEM;
    if (extra >= (size_t)-1 - b->len - 1) {
        b->oom = 1;
        return -ENOMEM;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1)
        cap = cap > ((size_t)-1) / 2 ? b->len + extra + 1 : cap * 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void dp_sb_add(dp_sbuf_t *b, const void *s, size_t n)
{
    if (dp_sb_reserve(b, n) < 0)
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dp_sb_str(dp_sbuf_t *b, const char *s) { dp_sb_add(b, s, strlen(s)); }

void dp_sb_putc(dp_sbuf_t *b, char c) { dp_sb_add(b, &c, 1); }

void dp_sb_printf(dp_sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (dp_sb_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
