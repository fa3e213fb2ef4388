/*
 * The strict Origin and Host parsers (host/base/origin.c) that keep pages
 * of other sites away from local mode and from the MCP endpoint. Checks,
 * beyond "no crash, no UB": a loopback answer implies a parse, the parsed
 * parts lie inside the input and cover it, and neither check accepts
 * anything after the authority.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/origin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy without a NUL after it, so a read past the end is caught */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    dp_origin_t o;
    int parsed = dp_origin_parse(s, size, &o) == 0;
    if (dp_origin_text_is_loopback(s, size) && !parsed)
        abort();
    if (parsed) {
        const char *end = s + size;
        if (o.scheme != s || o.scheme_len == 0 || o.host_len == 0 ||
            o.host < s + o.scheme_len + 3 || o.host + o.host_len > end)
            abort();
        /* host [":" port] is the whole rest */
        size_t rest = (size_t)(end - (o.host + o.host_len));
        if ((o.port < 0) != (rest == 0) || o.port > 65535)
            abort();
        if (memchr(s, '/', size) != s + o.scheme_len + 1)
            abort(); /* only the two slashes of "://" */
    }
    /* the Host form: never more than a loopback authority */
    if (dp_authority_is_loopback(s, size) &&
        (memchr(s, '/', size) != NULL || memchr(s, '@', size) != NULL))
        abort();
    free(s);
    return 0;
}
