/*
 * Strict parsing of a browser Origin header (RFC 6454 section 6.2, the
 * serialisation browsers send): scheme "://" host [":" port] and nothing
 * else: no path, no user info, no query, no whitespace. Used by the MCP
 * plugin (linked into it as its own copy, see plugins/mcp/CMakeLists.txt)
 * and available to host code that checks Origin (the admin API).
 *
 * Pure functions, no allocation, safe from any thread.
 */
#ifndef DP_ORIGIN_H
#define DP_ORIGIN_H

#include <stddef.h>

/* A parsed Origin; the pointers borrow the parsed text. */
typedef struct dp_origin {
    const char *scheme; /* letters, digits, + - . ; starts with a letter */
    size_t scheme_len;
    const char *host; /* a DNS name or IPv4 literal, or "[IPv6]" with its
                         brackets */
    size_t host_len;
    int port; /* 0..65535, or -1 when the Origin names none */
} dp_origin_t;

/* Parses s[0..len) into *out. The host is a non-empty DNS name (letters,
 * digits, '-' and '.') or a bracketed IPv6 literal that inet_pton accepts
 * and that ends the host; the port is 1 to 5 digits, at most 65535.
 * Returns 0, or -EINVAL for anything else ("null", "http://[::1].evil",
 * "http://localhost:80@evil", "http://a/"), leaving *out unspecified. */
int dp_origin_parse(const char *s, size_t len, dp_origin_t *out);

/* 1 when o is http or https on a loopback host: "localhost", an IPv4
 * literal in 127.0.0.0/8 (four decimal parts) or the IPv6 loopback;
 * else 0. */
int dp_origin_is_loopback(const dp_origin_t *o);

/* dp_origin_parse then dp_origin_is_loopback: 0 for text that does not
 * parse. */
int dp_origin_text_is_loopback(const char *s, size_t len);

/* 1 when s[0..len) is exactly a loopback authority as a Host header
 * carries it, host [":" port], with the host and port rules above
 * ("localhost", 127.0.0.0/8 as four decimal parts, [::1]); anything else
 * (user info, a path, a name that only starts like one) is 0. For local
 * mode's DNS-rebinding check. */
int dp_authority_is_loopback(const char *s, size_t len);

#endif
