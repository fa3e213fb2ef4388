/*
 * Loopback Host and Origin parsers (see http_origin.h). A parser that
 * accepts a prefix ("http://localhost:80@evil.example") or looks for a
 * closing bracket anywhere ("http://[::1].evil.example") lets the page
 * through, so each part is matched in full: scheme, host, optional port,
 * end of string.
 */
#include "http_origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* ":" 1*5DIGIT with a value <= 65535, and nothing after. */
static int port_ok(const char *p, size_t len)
{
    if (len < 2 || len > 6 || p[0] != ':')
        return 0;
    unsigned v = 0;
    for (size_t i = 1; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 65535;
}

/* A host without brackets: "localhost" or 127.x.y.z in dotted-quad form
 * (inet_pton takes nothing else: no short forms, no hex, no octal). */
static int name_or_v4_ok(const char *h, size_t len)
{
    if (len == 9 && strncasecmp(h, "localhost", 9) == 0)
        return 1;
    char buf[INET_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, h, len);
    buf[len] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return 0;
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* "[" IPv6 "]" equal to ::1 (any spelling inet_pton accepts). */
static int v6_ok(const char *h, size_t len)
{
    char buf[INET6_ADDRSTRLEN];
    if (len < 2 || h[0] != '[' || h[len - 1] != ']' || len - 2 >= sizeof(buf))
        return 0;
    memcpy(buf, h + 1, len - 2);
    buf[len - 2] = '\0';
    struct in6_addr a;
    if (inet_pton(AF_INET6, buf, &a) != 1)
        return 0;
    return memcmp(&a, &in6addr_loopback, sizeof(a)) == 0;
}

int dp_http_authority_is_loopback(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return 0;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            return 0;
        hl = (size_t)(rb - s) + 1;
        if (!v6_ok(s, hl))
            return 0;
    } else {
        const char *colon = memchr(s, ':', len);
        hl = colon ? (size_t)(colon - s) : len;
        if (!name_or_v4_ok(s, hl))
            return 0;
    }
    return hl == len || port_ok(s + hl, len - hl);
}

int dp_http_origin_is_loopback(const char *s, size_t len)
{
    if (s == NULL)
        return 0;
    size_t skip;
    if (len > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return 0;
    return dp_http_authority_is_loopback(s + skip, len - skip);
}
