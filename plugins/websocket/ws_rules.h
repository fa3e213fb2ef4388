/*
 * Rules of the WebSocket plugin that need no host (ws_rules.c): route
 * matching, the Origin allow list, base64. Any thread; nothing is kept.
 */
#ifndef DOPPEL_WS_RULES_H
#define DOPPEL_WS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "doppel/common.h"

/* 1 if route matches path[0..len), segment by segment as http routes do:
 * a static segment itself, ":name" any one segment, "*" one segment, and
 * "*" at the end one or more. A trailing '/' on the path is ignored. */
int ws_route_match(const char *route, const char *path, size_t len);

/* Whether a request with Origin `origin` (NULL: none) may open a
 * connection in namespace ns, by the option text opt: entries
 * "ns=origin,origin" separated by ';', "*" allowing any, origins compared
 * case-insensitively. A namespace opt does not name allows any origin, and
 * so does a request without Origin (not a browser). */
int ws_origin_allowed(const char *opt, doppel_str_t ns,
                      const doppel_str_t *origin);

/* Decodes one query component: %XX (a malformed escape stays as it is)
 * and '+' as a space, into out (room for n + 1 bytes, NUL-terminated).
 * Returns the length written. */
size_t ws_query_decode(const char *s, size_t n, char *out);

/* Base64 (RFC 4648, with padding): binary messages in bodies and mocks.
 * encode: malloc'd, NUL-terminated, NULL on ENOMEM; *out_len (may be
 * NULL) its length. decode: 0, -EINVAL (not base64), -ENOMEM; *out
 * malloc'd (the caller frees it). */
char *ws_b64_encode(const uint8_t *d, size_t n, size_t *out_len);
int ws_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len);

/* Whether text[0..len) (valid UTF-8) is one JSON value, as json_loadb
 * with JSON_DECODE_ANY would say, without building it (ws_json.c):
 * 1 yes, 0 no, -1 ask jansson (escapes, numbers it may refuse, deep
 * nesting). On 1, *event is the top-level object's "event" member when a
 * string, else its "type" member when a string (pointing into text,
 * *event_len long), else NULL. */
int ws_json_scan(const char *text, size_t len, const char **event,
                 size_t *event_len);

#endif /* DOPPEL_WS_RULES_H */
