/* The small codecs of gRPC over HTTP/2: grpc-timeout, the percent-encoding
 * of grpc-message, unpadded base64 of -bin metadata, metadata keys and the
 * HTTP to gRPC status mapping. */
#include <errno.h>
#include <string.h>

#include "grpc_wire.h"

int gw_parse_timeout(const char *s, size_t len, uint64_t *ms)
{
    /* TimeoutValue: 1..8 ASCII digits; TimeoutUnit: one of H M S m u n */
    if (len < 2 || len > 9)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    switch (s[len - 1]) {
    case 'H': *ms = v * 3600000u; break;
    case 'M': *ms = v * 60000u; break;
    case 'S': *ms = v * 1000u; break;
    case 'm': *ms = v; break;
    case 'u': *ms = (v + 999u) / 1000u; break;
    case 'n': *ms = (v + 999999u) / 1000000u; break;
    default: return -EINVAL;
    }
    return 0;
}

size_t gw_format_timeout(uint64_t ms, char *out)
{
    static const struct { char unit; uint64_t per; } units[] = {
        {'m', 1}, {'S', 1000}, {'M', 60000}, {'H', 3600000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t v = (ms + units[i].per - 1) / units[i].per;
        if (v <= 99999999u || i + 1 == sizeof(units) / sizeof(units[0])) {
            if (v > 99999999u)
                v = 99999999u;
            char tmp[12];
            size_t n = 0;
            do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            for (size_t k = 0; k < n; k++)
                out[k] = tmp[n - 1 - k];
            out[n] = units[i].unit;
            out[n + 1] = '\0';
            return n + 1;
        }
    }
    return 0; /* not reached */
}

static const char gw_hex[] = "0123456789ABCDEF";

size_t gw_pct_encode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch >= 0x20 && ch <= 0x7E && ch != '%') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = gw_hex[ch >> 4];
            out[o++] = gw_hex[ch & 15];
        }
    }
    return o;
}

static int gw_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t gw_pct_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len && (hi = gw_hexval(in[i + 1])) >= 0 &&
            (lo = gw_hexval(in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

size_t gw_b64_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

size_t gw_b64_encode(const uint8_t *in, size_t len, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }
    return o;
}

static int gw_b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '-' ||
           ch == '_';
}

int gw_b64_valid(const char *s, size_t len)
{
    size_t n = len;
    while (n > 0 && len - n < 2 && s[n - 1] == '=')
        n--;
    if (n < len && len % 4 != 0)
        return 0; /* padding only on a whole quantum */
    if (n % 4 == 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!gw_b64_char(s[i]))
            return 0;
    return 1;
}

size_t gw_b64_canon(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len && s[i] != '='; i++)
        out[n++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4 != 0)
        out[n++] = '=';
    return n;
}

int gw_md_key_valid(const char *key, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = key[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

int gw_status_from_http(int http_status)
{
    switch (http_status) {
    case 400: return GW_INTERNAL;
    case 401: return GW_UNAUTHENTICATED;
    case 403: return GW_PERMISSION_DENIED;
    case 404: return GW_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return GW_UNAVAILABLE;
    default: return GW_UNKNOWN;
    }
}

const char *gw_status_name(int code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
        "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED"};
    if (code < 0 || code > 16)
        return "UNKNOWN";
    return names[code];
}
