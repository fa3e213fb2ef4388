#include "origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The host's text form is checked before any address parser sees it, so a
 * lenient parser (inet_aton's "127.1") cannot widen what passes. */
static int dns_host_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha(h[i]) && !is_digit(h[i]) && h[i] != '-' && h[i] != '.')
            return 0;
    return 1;
}

static int v6_literal_ok(const char *h, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    struct in6_addr a;
    if (n < 2 || n - 2 >= sizeof(buf))
        return 0;
    memcpy(buf, h + 1, n - 2);
    buf[n - 2] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* host [":" port] filling end exactly; sets out's host and port. */
static int parse_authority(const char *h, const char *end, dp_origin_t *out)
{
    const char *he;
    if (h < end && *h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            return -EINVAL;
        he = rb + 1; /* the bracket ends the host: only ":" port may follow */
        if (!v6_literal_ok(h, (size_t)(he - h)))
            return -EINVAL;
    } else {
        he = h;
        while (he < end && *he != ':')
            he++;
        if (!dns_host_ok(h, (size_t)(he - h)))
            return -EINVAL;
    }
    out->host = h;
    out->host_len = (size_t)(he - h);
    out->port = -1;
    if (he == end)
        return 0;
    if (*he != ':')
        return -EINVAL;
    const char *q = he + 1;
    size_t nd = (size_t)(end - q);
    if (nd == 0 || nd > 5)
        return -EINVAL;
    long port = 0;
    for (; q < end; q++) {
        if (!is_digit(*q))
            return -EINVAL;
        port = port * 10 + (*q - '0');
    }
    if (port > 65535)
        return -EINVAL;
    out->port = (int)port;
    return 0;
}

int dp_origin_parse(const char *s, size_t len, dp_origin_t *out)
{
    if (s == NULL || out == NULL)
        return -EINVAL;
    const char *end = s + len, *p = s;
    if (p == end || !is_alpha(*p))
        return -EINVAL;
    while (p < end && (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' ||
                       *p == '.'))
        p++;
    if (end - p < 3 || memcmp(p, "://", 3) != 0)
        return -EINVAL;
    out->scheme = s;
    out->scheme_len = (size_t)(p - s);
    return parse_authority(p + 3, end, out);
}

static int host_is(const dp_origin_t *o, const char *name)
{
    return strlen(name) == o->host_len &&
           strncasecmp(o->host, name, o->host_len) == 0;
}

/* Four decimal parts of 1 to 3 digits, each <= 255, the first 127. */
static int v4_loopback(const char *h, size_t n)
{
    int parts = 0, val = 0, digits = 0, first = -1;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (digits == 0 || val > 255)
                return 0;
            if (parts == 0)
                first = val;
            parts++;
            val = digits = 0;
        } else if (is_digit(h[i]) && digits < 3) {
            val = val * 10 + (h[i] - '0');
            digits++;
        } else {
            return 0;
        }
    }
    return parts == 4 && first == 127;
}

/* The host of o names this machine: "localhost", 127.0.0.0/8, [::1]. */
static int host_is_loopback(const dp_origin_t *o)
{
    if (host_is(o, "localhost"))
        return 1;
    if (o->host_len && o->host[0] == '[') {
        char buf[INET6_ADDRSTRLEN + 1];
        struct in6_addr a;
        if (o->host_len - 2 >= sizeof(buf))
            return 0;
        memcpy(buf, o->host + 1, o->host_len - 2);
        buf[o->host_len - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a) == 1 &&
               memcmp(&a, &in6addr_loopback, sizeof(a)) == 0;
    }
    return v4_loopback(o->host, o->host_len);
}

int dp_origin_is_loopback(const dp_origin_t *o)
{
    if (o == NULL)
        return 0;
    int web = (o->scheme_len == 4 && strncasecmp(o->scheme, "http", 4) == 0) ||
              (o->scheme_len == 5 && strncasecmp(o->scheme, "https", 5) == 0);
    return web && host_is_loopback(o);
}

int dp_authority_is_loopback(const char *s, size_t len)
{
    dp_origin_t o = {0};
    return s != NULL && parse_authority(s, s + len, &o) == 0 &&
           host_is_loopback(&o);
}

int dp_origin_text_is_loopback(const char *s, size_t len)
{
    dp_origin_t o;
    return dp_origin_parse(s, len, &o) == 0 && dp_origin_is_loopback(&o);
}
