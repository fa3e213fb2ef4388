/*
 * The WebSocket plugin's rules that need no host: which routes a path
 * takes, which Origins a namespace allows, and base64 for binary messages.
 * Pure functions, unit-tested in tests/unit/test_wsplugin_rules.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ws_rules.h"

int ws_route_match(const char *route, const char *path, size_t len)
{
    /* a trailing slash on the request is ignored, as on http */
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *r = route, *p = path, *pe = path + len;
    while (*r == '/' && p < pe && *p == '/') {
        r++;
        p++;
        const char *rs = strchr(r, '/');
        size_t rl = rs ? (size_t)(rs - r) : strlen(r);
        const char *ps = memchr(p, '/', (size_t)(pe - p));
        size_t pl = ps ? (size_t)(ps - p) : (size_t)(pe - p);
        if (rl == 1 && r[0] == '*' && rs == NULL)
            return pl > 0; /* the rest: one or more segments */
        if (pl == 0 && rl != 0)
            return 0;
        if (!((rl == 1 && r[0] == '*') || (rl > 1 && r[0] == ':') ||
              (rl == pl && memcmp(r, p, rl) == 0)))
            return 0;
        r += rl;
        p += pl;
    }
    return *r == '\0' && p == pe;
}

int ws_origin_allowed(const char *opt, doppel_str_t ns,
                      const doppel_str_t *origin)
{
    if (opt == NULL || opt[0] == '\0' || origin == NULL)
        return 1;
    const char *p = opt;
    while (*p) {
        const char *semi = strchr(p, ';');
        const char *e = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        while (p < e && *p == ' ')
            p++;
        if (eq && (size_t)(eq - p) == ns.len &&
            memcmp(p, ns.ptr, ns.len) == 0) {
            const char *o = eq + 1;
            while (o < e) {
                const char *comma = memchr(o, ',', (size_t)(e - o));
                const char *oe = comma ? comma : e;
                while (o < oe && *o == ' ')
                    o++;
                const char *t = oe;
                while (t > o && t[-1] == ' ')
                    t--;
                if ((t - o == 1 && *o == '*') ||
                    ((size_t)(t - o) == origin->len &&
                     strncasecmp(o, origin->ptr, origin->len) == 0))
                    return 1;
                o = oe + (comma != NULL);
            }
            return 0;
        }
        p = semi ? semi + 1 : e;
    }
    return 1;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t ws_query_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

static const char b64c[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ws_b64_encode(const uint8_t *d, size_t n, size_t *out_len)
{
    size_t ol = (n + 2) / 3 * 4;
    char *o = malloc(ol + 1);
    if (o == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        o[k++] = b64c[(v >> 18) & 63];
        o[k++] = b64c[(v >> 12) & 63];
        o[k++] = i + 1 < n ? b64c[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < n ? b64c[v & 63] : '=';
    }
    o[k] = '\0';
    if (out_len)
        *out_len = k;
    return o;
}

static int b64v(char ch)
{
    const char *p = ch ? strchr(b64c, ch) : NULL;
    return p ? (int)(p - b64c) : -1;
}

int ws_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
    if (n % 4 != 0)
        return -EINVAL;
    uint8_t *o = malloc(n / 4 * 3 + 1);
    if (o == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64v(s[i + j])) < 0) {
                free(o);
                return -EINVAL;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[k++] = (uint8_t)(w >> 16);
        if (pad < 2)
            o[k++] = (uint8_t)(w >> 8);
        if (pad < 1)
            o[k++] = (uint8_t)w;
    }
    *out = o;
    *out_len = k;
    return 0;
}
