/*
 * Is a request from this machine? Strict parsers of the Host header and of
 * the Origin header (RFC 6454 serialised origin), for the checks that keep
 * a browser page of another site away from a server that trusts loopback
 * (local mode: DNS rebinding shows up as a foreign Host, a cross-site
 * request as a foreign Origin).
 *
 * Self-contained (libc only) so that a plugin may compile this file in
 * rather than parse origins a second way. Pure functions, any thread.
 */
#ifndef DP_HTTP_ORIGIN_H
#define DP_HTTP_ORIGIN_H

#include <stddef.h>

/* 1 if s[0..len) is exactly a loopback authority, host[:port]: host is
 * "localhost" (any case), a dotted-quad IPv4 address in 127.0.0.0/8, or a
 * bracketed IPv6 literal equal to ::1; port, when present, is 1 to 5
 * digits of at most 65535. Anything else (userinfo, a path, a name that
 * merely starts with a loopback one, short IPv4 forms, hex, spaces) is 0. */
int dp_http_authority_is_loopback(const char *s, size_t len);

/* 1 if s[0..len) is the origin of a page on this machine:
 * "http://" or "https://" (any case) followed by a loopback authority and
 * nothing else. "null" and every other origin are 0. */
int dp_http_origin_is_loopback(const char *s, size_t len);

#endif
