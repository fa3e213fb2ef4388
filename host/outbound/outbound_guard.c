/*
 * The address guard: classifies one resolved socket address as allowed
 * (public unicast) or refused (loopback, private, link-local, ...). IPv6
 * forms that embed an IPv4 address (mapped, translated, compatible, NAT64,
 * 6to4) are judged by the embedded IPv4 address, so ::ffff:127.0.0.1 cannot
 * slip by; local-use NAT64 (64:ff9b:1::/48) is refused whole.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "outbound.h"

typedef struct v4_range {
    uint32_t net;
    int prefix;
    const char *what;
} v4_range_t;

/* Order matters only for the reason given: the first match names it. */
static const v4_range_t v4_refused[] = {
    {0x00000000u, 8, "an unspecified (this-network) address"},
    {0x7f000000u, 8, "a loopback address"},
    {0x0a000000u, 8, "a private address"},
    {0xac100000u, 12, "a private address"},
    {0xc0a80000u, 16, "a private address"},
    {0xa9fea9feu, 32, "the cloud metadata address"},
    {0xa9fe0000u, 16, "a link-local address"},
    {0x64400000u, 10, "a carrier-grade NAT address"},
    {0xc0000000u, 24, "an IETF protocol assignment address"},
    {0xe0000000u, 4, "a multicast address"},
    {0xffffffffu, 32, "the broadcast address"},
    {0xf0000000u, 4, "a reserved address"},
};

static const char *v4_refusal(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4_refused / sizeof v4_refused[0]; i++) {
        const v4_range_t *r = &v4_refused[i];
        uint32_t mask = r->prefix ? ~0u << (32 - r->prefix) : 0;
        if ((a & mask) == r->net)
            return r->what;
    }
    return NULL;
}

static int prefix_eq(const uint8_t *a, const uint8_t *p, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, p, (size_t)bytes) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((a[bytes] & mask) != (p[bytes] & mask))
            return 0;
    }
    return 1;
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Returns the reason an IPv6 address is refused, or NULL. */
static const char *v6_refusal(const uint8_t *a)
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t translated[12] = {0, 0, 0,    0,    0, 0,
                                           0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
    static const uint8_t six_to_four[2] = {0x20, 0x02};
    static const uint8_t ula[1] = {0xfc};
    static const uint8_t linklocal[2] = {0xfe, 0x80};
    static const uint8_t sitelocal[2] = {0xfe, 0xc0};

    if (memcmp(a, zero, 16) == 0)
        return "an unspecified address";
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return "a loopback address";
    /* Embedded IPv4: judged as the IPv4 address it reaches. Mapped
     * (::ffff:0:0/96), translated (::ffff:0:0:0/96, RFC 2765),
     * compatible (::/96) and the NAT64 well-known prefix (64:ff9b::/96). */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 ||
        memcmp(a, nat64, 12) == 0 || memcmp(a, zero, 12) == 0)
        return v4_refusal(be32_at(a + 12));
    /* Local-use NAT64 (64:ff9b:1::/48, RFC 8215): the site's own
     * translator, with a prefix length (and so an IPv4 position) only the
     * site knows; whatever it reaches is inside that site. */
    if (memcmp(a, nat64_local, 6) == 0)
        return "a local-use NAT64 address";
    if (prefix_eq(a, six_to_four, 16))
        return v4_refusal(be32_at(a + 2));
    if (prefix_eq(a, ula, 7))
        return "a private (unique local) address";
    if (prefix_eq(a, linklocal, 10))
        return "a link-local address";
    if (prefix_eq(a, sitelocal, 10))
        return "a site-local address";
    if (a[0] == 0xff)
        return "a multicast address";
    return NULL;
}

int dp_outbound_addr_allowed(const struct sockaddr *sa, int allow_private,
                             char *why, size_t len)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const char *refusal;

    if (!sa) {
        refusal = "not an address";
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        refusal = allow_private ? NULL : v4_refusal(ntohl(in->sin_addr.s_addr));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        refusal = allow_private ? NULL : v6_refusal(in6->sin6_addr.s6_addr);
    } else {
        refusal = "not an IPv4 or IPv6 address";
    }
    if (!refusal)
        return 1;
    if (why && len)
        snprintf(why, len,
                 "%s is %s; outbound requests to internal addresses are "
                 "refused (the operator may allow them: "
                 "allow_private_upstreams = on, or "
                 "ALLOW_PROXY_TO_PRIVATE_IPS=true)",
                 text, refusal);
    return 0;
}

int dp_outbound_env_allow_private(void)
{
    const char *v = getenv("ALLOW_PROXY_TO_PRIVATE_IPS");
    if (!v)
        return 0;
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
           strcasecmp(v, "yes") == 0;
}
