/*
 * The opening handshake, server side (RFC 6455 4.2) and the
 * permessage-deflate negotiation (RFC 7692 5 and 7.1). The front has
 * parsed the HTTP request already; here we only judge its headers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws_internal.h"

/* ---- lexing (RFC 7230 3.2.6 tokens, OWS, quoted-string) ---- */

static int ws__is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int ws__lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ws__ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (ws__lower((unsigned char)a[i]) != ws__lower((unsigned char)b[i]))
            return 0;
    return 1;
}

typedef struct ws__lex {
    const char *p, *end;
} ws__lex_t;

static void ws__ows(ws__lex_t *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t'))
        l->p++;
}

static size_t ws__token(ws__lex_t *l, const char **tok)
{
    *tok = l->p;
    while (l->p < l->end && ws__is_tchar((unsigned char)*l->p))
        l->p++;
    return (size_t)(l->p - *tok);
}

/*
 * Whether some element of the comma-separated lists in every header
 * called name equals want (case-insensitively when icase). Elements are
 * trimmed of OWS; empty elements are skipped (RFC 7230 7).
 */
static int ws__list_has(ws_header_fn header, void *ud, const char *name,
                        const char *want, size_t want_len, int icase)
{
    size_t vlen;
    const char *v;
    for (size_t idx = 0; (v = header(ud, name, idx, &vlen)) != NULL; idx++) {
        const char *end = v + vlen, *p = v;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end;
            const char *s = p;
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
            const char *t = e;
            while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            size_t n = (size_t)(t - s);
            if (n == want_len) {
                int eq = 1;
                for (size_t i = 0; i < n && eq; i++)
                    eq = icase ? ws__lower((unsigned char)s[i]) ==
                                     ws__lower((unsigned char)want[i])
                               : s[i] == want[i];
                if (eq)
                    return 1;
            }
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    return 0;
}

/* The single value of a header that must appear once, trimmed; NULL when
 * it is missing or repeated. */
static const char *ws__single(ws_header_fn header, void *ud, const char *name,
                              size_t *len)
{
    size_t vlen, other;
    const char *v = header(ud, name, 0, &vlen);
    if (v == NULL || header(ud, name, 1, &other) != NULL)
        return NULL;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    *len = vlen;
    return v;
}

/* ---- key and accept ---- */

static int ws__is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 of 16 bytes is exactly 22 symbols and "==" (RFC 6455 4.1). */
static int ws__key_ok(const char *key, size_t len)
{
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!ws__is_b64((unsigned char)key[i]))
            return 0;
    return 1;
}

int ws_accept_key(const char *key, size_t key_len, char out[29])
{
    char buf[256 + sizeof WS__GUID];
    if (key_len == 0 || key_len > 256)
        return -EINVAL;
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, WS__GUID, sizeof WS__GUID - 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, key_len + sizeof WS__GUID - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    out[28] = '\0';
    return 0;
}

/* ---- permessage-deflate offers ---- */

typedef struct ws__pmd_offer {
    int snct, cnct;      /* no_context_takeover parameters seen */
    int smwb_seen, smwb; /* server_max_window_bits, its value */
    int cmwb_seen, cmwb; /* client_max_window_bits, 0 = without value */
    int bad;             /* an unknown, repeated or ill-valued parameter */
} ws__pmd_offer_t;

/* "8".."15", without leading zeros (RFC 7692 7.1.2.1); -1 otherwise. */
static int ws__window_bits(const char *v, size_t n)
{
    if (n == 1 && (v[0] == '8' || v[0] == '9'))
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + (v[1] - '0');
    return -1;
}

static void ws__pmd_param(ws__pmd_offer_t *o, const char *name, size_t nlen,
                          const char *val, size_t vlen, int has_val)
{
    if (ws__ieq(name, nlen, "server_no_context_takeover")) {
        o->bad |= o->snct || has_val;
        o->snct = 1;
    } else if (ws__ieq(name, nlen, "client_no_context_takeover")) {
        o->bad |= o->cnct || has_val;
        o->cnct = 1;
    } else if (ws__ieq(name, nlen, "server_max_window_bits")) {
        int bits = has_val ? ws__window_bits(val, vlen) : -1;
        /* 8 is declined too: zlib's raw deflate cannot keep to it. */
        o->bad |= o->smwb_seen || bits < 9;
        o->smwb_seen = 1;
        o->smwb = bits;
    } else if (ws__ieq(name, nlen, "client_max_window_bits")) {
        int bits = has_val ? ws__window_bits(val, vlen) : 0;
        o->bad |= o->cmwb_seen || bits < 0;
        o->cmwb_seen = 1;
        o->cmwb = bits;
    } else {
        o->bad = 1;
    }
}

static int ws__clamp_bits(int bits)
{
    if (bits <= 0 || bits > 15)
        return 15;
    return bits < 9 ? 9 : bits;
}

static int ws__min(int a, int b)
{
    return a < b ? a : b;
}

/* Accepts an offer: the parameters in force and the answer's value. */
static void ws__pmd_accept(const ws_deflate_policy_t *pol,
                           const ws__pmd_offer_t *o, ws_handshake_t *hs)
{
    ws_deflate_params_t *d = &hs->deflate;
    char *a = hs->extensions;
    size_t cap = sizeof hs->extensions, n = 0;
    d->enabled = 1;
    /* Echoing a client's own no_context_takeover is what accepting it
     * means (7.1.1.1); the server may add either on its own. */
    d->server_no_context_takeover = o->snct || pol->server_no_context_takeover;
    d->client_no_context_takeover = o->cnct || pol->client_no_context_takeover;
    int ours = ws__clamp_bits(pol->server_max_window_bits);
    d->server_max_window_bits = o->smwb_seen ? ws__min(o->smwb, ours) : ours;
    int limit = pol->client_max_window_bits
                    ? ws__clamp_bits(pol->client_max_window_bits)
                    : 0;
    int cbits = 0; /* what we answer; only when the client offered it */
    if (o->cmwb_seen && limit)
        cbits = o->cmwb ? ws__min(o->cmwb, limit) : limit;
    d->client_max_window_bits = cbits ? cbits : (o->cmwb ? o->cmwb : 15);

    n += (size_t)snprintf(a + n, cap - n, "permessage-deflate");
    if (d->server_no_context_takeover)
        n += (size_t)snprintf(a + n, cap - n, "; server_no_context_takeover");
    if (d->client_no_context_takeover)
        n += (size_t)snprintf(a + n, cap - n, "; client_no_context_takeover");
    if (o->smwb_seen || d->server_max_window_bits < 15)
        n += (size_t)snprintf(a + n, cap - n, "; server_max_window_bits=%d",
                              d->server_max_window_bits);
    if (cbits)
        snprintf(a + n, cap - n, "; client_max_window_bits=%d", cbits);
}

/* A quoted-string value (RFC 7230 3.2.6); its unescaped content must be a
 * token (RFC 6455 9.1) of at most cap bytes, copied to out. */
static int ws__quoted(ws__lex_t *l, char *out, size_t cap, size_t *n)
{
    *n = 0;
    l->p++; /* the opening quote */
    while (l->p < l->end && *l->p != '"') {
        char c = *l->p++;
        if (c == '\\') {
            if (l->p == l->end)
                return -1;
            c = *l->p++;
        }
        if (!ws__is_tchar((unsigned char)c) || *n == cap)
            return -1;
        out[(*n)++] = c;
    }
    if (l->p == l->end)
        return -1;
    l->p++;
    return *n > 0 ? 0 : -1;
}

/*
 * One Sec-WebSocket-Extensions header value: a list of extensions with
 * parameters (RFC 6455 9.1). The first acceptable permessage-deflate offer
 * is accepted (the client lists them by preference). -1 on bad syntax.
 */
static int ws__ext_header(const ws_deflate_policy_t *pol, const char *v,
                          size_t vlen, ws_handshake_t *hs)
{
    ws__lex_t l = {v, v + vlen};
    for (;;) {
        ws__ows(&l);
        if (l.p == l.end)
            return 0;
        if (*l.p == ',') { /* an empty element */
            l.p++;
            continue;
        }
        const char *name;
        size_t nlen = ws__token(&l, &name);
        if (nlen == 0)
            return -1;
        int pmd = ws__ieq(name, nlen, "permessage-deflate");
        ws__pmd_offer_t o = {0};
        for (;;) {
            ws__ows(&l);
            if (l.p == l.end || *l.p != ';')
                break;
            l.p++;
            ws__ows(&l);
            const char *pname;
            size_t plen = ws__token(&l, &pname);
            if (plen == 0)
                return -1;
            ws__ows(&l);
            char qbuf[64];
            const char *val = NULL;
            size_t vl = 0;
            int has_val = 0;
            if (l.p < l.end && *l.p == '=') {
                l.p++;
                ws__ows(&l);
                has_val = 1;
                if (l.p < l.end && *l.p == '"') {
                    if (ws__quoted(&l, qbuf, sizeof qbuf, &vl) != 0)
                        return -1;
                    val = qbuf;
                } else if ((vl = ws__token(&l, &val)) == 0) {
                    return -1;
                }
            }
            if (pmd)
                ws__pmd_param(&o, pname, plen, val, vl, has_val);
        }
        if (l.p < l.end && *l.p != ',')
            return -1;
        if (pmd && !o.bad && !hs->deflate.enabled)
            ws__pmd_accept(pol, &o, hs);
    }
}

static int ws__extensions(const ws_deflate_policy_t *pol, ws_header_fn header,
                          void *ud, ws_handshake_t *hs)
{
    size_t vlen;
    const char *v;
    for (size_t idx = 0;
         (v = header(ud, "Sec-WebSocket-Extensions", idx, &vlen)) != NULL;
         idx++) {
        if (ws__ext_header(pol, v, vlen, hs) != 0)
            return -1;
    }
    if (!pol->enabled) { /* parsed for validity only */
        memset(&hs->deflate, 0, sizeof hs->deflate);
        hs->extensions[0] = '\0';
    }
    return 0;
}

/* ---- the check ---- */

static int ws__refuse(ws_handshake_t *hs, int status, const char *why)
{
    hs->status = status;
    hs->reason = why;
    hs->accept[0] = '\0';
    hs->protocol = -1;
    memset(&hs->deflate, 0, sizeof hs->deflate);
    hs->extensions[0] = '\0';
    return status == 426 ? -EPROTONOSUPPORT : -EINVAL;
}

int ws_handshake_is_upgrade(ws_header_fn header, void *ud)
{
    return ws__list_has(header, ud, "Upgrade", "websocket", 9, 1);
}

static int ws__choose_protocol(const ws_handshake_cfg_t *cfg,
                               ws_header_fn header, void *ud)
{
    for (size_t i = 0; i < cfg->n_protocols; i++) {
        const char *p = cfg->protocols[i];
        if (p && *p &&
            ws__list_has(header, ud, "Sec-WebSocket-Protocol", p, strlen(p), 0))
            return (int)i;
    }
    return -1;
}

int ws_handshake_check(const ws_handshake_cfg_t *cfg, const char *method,
                       size_t method_len, int http_major, int http_minor,
                       ws_header_fn header, void *ud, ws_handshake_t *hs)
{
    memset(hs, 0, sizeof *hs);
    hs->protocol = -1;
    if (method == NULL || method_len != 3 || memcmp(method, "GET", 3) != 0)
        return ws__refuse(hs, 400, "a WebSocket upgrade must be a GET");
    if (http_major < 1 || (http_major == 1 && http_minor < 1))
        return ws__refuse(hs, 400, "a WebSocket upgrade needs HTTP/1.1");
    size_t n;
    if (header(ud, "Host", 0, &n) == NULL)
        return ws__refuse(hs, 400, "missing Host");
    if (!ws_handshake_is_upgrade(header, ud))
        return ws__refuse(hs, 400, "Upgrade does not name websocket");
    if (!ws__list_has(header, ud, "Connection", "upgrade", 7, 1))
        return ws__refuse(hs, 400, "Connection does not name upgrade");
    const char *ver = ws__single(header, ud, "Sec-WebSocket-Version", &n);
    if (ver == NULL || n != 2 || memcmp(ver, "13", 2) != 0)
        return ws__refuse(hs, 426, "only Sec-WebSocket-Version 13 is spoken");
    const char *key = ws__single(header, ud, "Sec-WebSocket-Key", &n);
    if (key == NULL)
        return ws__refuse(hs, 400, "missing or repeated Sec-WebSocket-Key");
    if (!ws__key_ok(key, n))
        return ws__refuse(hs, 400,
                          "Sec-WebSocket-Key is not base64 of 16 bytes");
    ws_deflate_policy_t none = {0};
    if (ws__extensions(cfg ? &cfg->deflate : &none, header, ud, hs) != 0)
        return ws__refuse(hs, 400, "malformed Sec-WebSocket-Extensions");
    if (ws_accept_key(key, n, hs->accept) != 0)
        return ws__refuse(hs, 400, "bad Sec-WebSocket-Key");
    hs->protocol = cfg ? ws__choose_protocol(cfg, header, ud) : -1;
    hs->status = 101;
    hs->reason = NULL;
    return 0;
}

/* ---- the answers ---- */

static int ws__put(ws_buf_t *out, const char *s)
{
    return ws__buf_append(out, s, strlen(s));
}

int ws_handshake_answer_headers(const ws_handshake_t *hs, const char *protocol,
                                const char *names[WS_ANSWER_HEADERS_MAX],
                                const char *values[WS_ANSWER_HEADERS_MAX])
{
    if (hs->status != 101)
        return -EINVAL;
    int n = 0;
    names[n] = "Upgrade";
    values[n++] = "websocket";
    names[n] = "Sec-WebSocket-Accept";
    values[n++] = hs->accept;
    if (protocol != NULL && *protocol) {
        names[n] = "Sec-WebSocket-Protocol";
        values[n++] = protocol;
    }
    if (hs->extensions[0]) {
        names[n] = "Sec-WebSocket-Extensions";
        values[n++] = hs->extensions;
    }
    return n;
}

int ws_handshake_write_101(const ws_handshake_t *hs, const char *protocol,
                           ws_buf_t *out)
{
    const char *names[WS_ANSWER_HEADERS_MAX], *values[WS_ANSWER_HEADERS_MAX];
    int n = ws_handshake_answer_headers(hs, protocol, names, values);
    if (n < 0)
        return n;
    size_t mark = out->len;
    /* Upgrade first, then Connection, as a front writes them. */
    int rc = ws__put(out, "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n");
    for (int i = 1; i < n && rc == 0; i++) {
        rc = ws__put(out, names[i]);
        rc = rc ? rc : ws__put(out, ": ");
        rc = rc ? rc : ws__put(out, values[i]);
        rc = rc ? rc : ws__put(out, "\r\n");
    }
    rc = rc ? rc : ws__put(out, "\r\n");
    if (rc != 0)
        out->len = mark;
    return rc;
}

int ws_handshake_write_refusal(const ws_handshake_t *hs, ws_buf_t *out)
{
    if (hs->status == 101)
        return -EINVAL;
    const char *why = hs->reason ? hs->reason : "bad WebSocket upgrade";
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: close\r\n"
                 "%s\r\n",
                 hs->status == 426 ? "426 Upgrade Required" : "400 Bad Request",
                 strlen(why) + 1,
                 hs->status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    size_t mark = out->len;
    int rc = ws__buf_append(out, head, (size_t)n);
    rc = rc ? rc : ws__put(out, why);
    rc = rc ? rc : ws__put(out, "\n");
    if (rc != 0)
        out->len = mark;
    return rc;
}
