/*
 * Engine.IO v4 and Socket.IO v5 packets (sio_codec.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio_codec.h"
#include "ws_internal.h"
#include "ws_rules.h"

#define SIO_RS 0x1e /* record separator between polling packets */

const sio_limits_t sio_default_limits = {
    .max_packet = 1000000,
    .max_packets = 256,
    .max_attachments = 10,
    .max_depth = 32,
};

static int refuse(const char **why, const char *msg, int rc)
{
    if (why)
        *why = msg;
    return rc;
}

/* ---- Engine.IO --------------------------------------------------------- */

void sio_eio_packets_free(sio_eio_packet_t *p, size_t n)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        if (p[i].owned)
            free((void *)p[i].data);
    free(p);
}

/* One text packet "<type><data>" of a payload or a frame. */
static int decode_one(const uint8_t *s, size_t len, const sio_limits_t *lim,
                      sio_eio_packet_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return refuse(why, "empty packet", -EINVAL);
    if (len - 1 > lim->max_packet)
        return refuse(why, "packet over maxPayload", -E2BIG);
    if (s[0] == 'b') {
        uint8_t *d = NULL;
        size_t dl = 0;
        int rc = ws_b64_decode((const char *)s + 1, len - 1, &d, &dl);
        if (rc == -EINVAL)
            return refuse(why, "binary packet: not base64", -EINVAL);
        if (rc < 0)
            return rc;
        *out = (sio_eio_packet_t){SIO_EIO_MESSAGE, 1, d, dl, 1};
        return 0;
    }
    if (s[0] < '0' || s[0] > '6')
        return refuse(why, "unknown packet type", -EINVAL);
    out->type = s[0] - '0';
    out->data = s + 1;
    out->len = len - 1;
    /* only messages and probes carry text; the client sends no open */
    if (out->type == SIO_EIO_OPEN)
        return refuse(why, "a client does not send open", -EINVAL);
    if (!ws_utf8_valid(out->data, out->len))
        return refuse(why, "packet is not UTF-8", -EINVAL);
    return 0;
}

int sio_eio_decode_payload(const uint8_t *body, size_t len,
                           const sio_limits_t *lim, sio_eio_packet_t **out,
                           size_t *n_out, const char **why)
{
    *out = NULL;
    *n_out = 0;
    if (len == 0)
        return refuse(why, "empty payload", -EINVAL);
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        if (body[i] == SIO_RS && ++n > lim->max_packets)
            return refuse(why, "too many packets in one payload", -E2BIG);
    sio_eio_packet_t *p = calloc(n, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && body[i] != SIO_RS)
            continue;
        int rc = decode_one(body + start, i - start, lim, &p[k], why);
        if (rc < 0) {
            sio_eio_packets_free(p, k);
            return rc;
        }
        k++;
        start = i + 1;
    }
    *out = p;
    *n_out = k;
    return 0;
}

int sio_eio_decode_frame(const uint8_t *frame, size_t len, int binary,
                         const sio_limits_t *lim, sio_eio_packet_t *out,
                         const char **why)
{
    memset(out, 0, sizeof(*out));
    if (binary) {
        if (len > lim->max_packet)
            return refuse(why, "packet over maxPayload", -E2BIG);
        *out = (sio_eio_packet_t){SIO_EIO_MESSAGE, 1, frame, len, 0};
        return 0;
    }
    if (len > 0 && frame[0] == 'b')
        return refuse(why, "base64 packets are for polling only", -EINVAL);
    return decode_one(frame, len, lim, out, why);
}

static int encode_text(const sio_eio_packet_t *p, ws_buf_t *out)
{
    char t = (char)('0' + p->type);
    if (ws__buf_append(out, &t, 1) < 0 ||
        (p->len && ws__buf_append(out, p->data, p->len) < 0))
        return -ENOMEM;
    return 0;
}

int sio_eio_encode_payload(const sio_eio_packet_t *p, size_t n, ws_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        char rs = SIO_RS;
        if (i > 0 && ws__buf_append(out, &rs, 1) < 0)
            return -ENOMEM;
        if (!p[i].binary) {
            if (encode_text(&p[i], out) < 0)
                return -ENOMEM;
            continue;
        }
        size_t bl;
        char *b = ws_b64_encode(p[i].data, p[i].len, &bl);
        int rc = b && ws__buf_append(out, "b", 1) == 0 &&
                         ws__buf_append(out, b, bl) == 0
                     ? 0
                     : -ENOMEM;
        free(b);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sio_eio_encode_frame(const sio_eio_packet_t *p, ws_buf_t *out)
{
    if (p->binary)
        return p->len && ws__buf_append(out, p->data, p->len) < 0 ? -ENOMEM : 0;
    return encode_text(p, out);
}

char *sio_eio_open_json(const char *sid, int can_upgrade, uint64_t ping_ms,
                        uint64_t timeout_ms, uint64_t max_payload)
{
    json_t *o = json_pack("{s:s, s:[], s:I, s:I, s:I}", "sid", sid, "upgrades",
                          "pingInterval", (json_int_t)ping_ms, "pingTimeout",
                          (json_int_t)timeout_ms, "maxPayload",
                          (json_int_t)max_payload);
    if (o && can_upgrade)
        json_array_append_new(json_object_get(o, "upgrades"),
                              json_string("websocket"));
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

/* ---- Socket.IO --------------------------------------------------------- */

int sio_buf_append(ws_buf_t *b, const void *data, size_t len)
{
    return ws__buf_append(b, data, len);
}

int sio_nsp_valid(const char *s, size_t len)
{
    if (len == 0 || len > SIO_NSP_MAX || s[0] != '/')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == ',' || s[i] == 0x7f)
            return 0;
    return 1;
}

/* The deepest nesting of arrays and objects in JSON text, counted before
 * jansson parses it (its own bound is far above what we accept). Brackets
 * inside strings do not count. */
static size_t json_depth(const char *s, size_t len)
{
    size_t d = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++d > max)
                max = d;
        } else if ((c == ']' || c == '}') && d > 0) {
            d--;
        }
    }
    return max;
}

void sio_packet_clear(sio_packet_t *p)
{
    json_decref(p->data);
    for (size_t i = 0; p->bins && i < p->n_have; i++)
        free(p->bins[i]);
    free(p->bins);
    free(p->bin_lens);
    memset(p, 0, sizeof(*p));
    p->id = -1;
}

/* Whether data has the shape socket.io requires of the type. */
static const char *shape_error(int type, const json_t *data)
{
    switch (type) {
    case SIO_CONNECT:
        return data && !json_is_object(data) ? "CONNECT: expected an object"
                                             : NULL;
    case SIO_DISCONNECT:
        return data ? "DISCONNECT carries no data" : NULL;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (!json_is_array(data) || json_array_size(data) == 0 ||
            !json_is_string(json_array_get(data, 0)))
            return "EVENT: expected [\"name\", ...args]";
        return NULL;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(data) ? NULL : "ACK: expected an array";
    case SIO_CONNECT_ERROR:
        return json_is_object(data) || json_is_string(data)
                   ? NULL
                   : "CONNECT_ERROR: expected an object or a string";
    }
    return "unknown packet type";
}

/* Reads decimal digits at s[*i] into *v (at most 15 of them, so that the
 * value fits everywhere a JavaScript number goes). 0, or -1 for none or
 * too many. */
static int read_int(const char *s, size_t len, size_t *i, int64_t *v)
{
    size_t start = *i;
    int64_t x = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (*i - start >= 15)
            return -1;
        x = x * 10 + (s[*i] - '0');
        (*i)++;
    }
    if (*i == start)
        return -1;
    *v = x;
    return 0;
}

int sio_packet_decode(const char *s, size_t len, const sio_limits_t *lim,
                      sio_packet_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->id = -1;
    if (len == 0)
        return refuse(why, "empty packet", -EINVAL);
    if (len > lim->max_packet)
        return refuse(why, "packet over maxPayload", -E2BIG);
    if (s[0] < '0' || s[0] > '6')
        return refuse(why, "unknown packet type", -EINVAL);
    out->type = s[0] - '0';
    size_t i = 1;
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        int64_t n;
        if (read_int(s, len, &i, &n) < 0 || i >= len || s[i] != '-')
            return refuse(why, "binary packet: expected <count>-", -EINVAL);
        i++;
        if (n < 1 || (uint64_t)n > lim->max_attachments)
            return refuse(why, "binary packet: attachment count out of range",
                          -E2BIG);
        out->n_attach = (size_t)n;
    }
    if (i < len && s[i] == '/') {
        size_t start = i;
        while (i < len && s[i] != ',')
            i++;
        if (!sio_nsp_valid(s + start, i - start))
            return refuse(why, "invalid namespace", -EINVAL);
        memcpy(out->nsp, s + start, i - start);
        out->nsp[i - start] = '\0';
        if (i < len)
            i++; /* the ',' */
    } else {
        strcpy(out->nsp, "/");
    }
    if (i < len && s[i] >= '0' && s[i] <= '9' &&
        read_int(s, len, &i, &out->id) < 0)
        return refuse(why, "ack id too long", -EINVAL);
    if (out->id >= 0 && out->type != SIO_EVENT &&
        out->type != SIO_BINARY_EVENT && out->type != SIO_ACK &&
        out->type != SIO_BINARY_ACK)
        return refuse(why, "ack id on a packet that takes none", -EINVAL);
    if ((out->type == SIO_ACK || out->type == SIO_BINARY_ACK) && out->id < 0)
        return refuse(why, "ACK without an id", -EINVAL);
    if (i < len) {
        if (json_depth(s + i, len - i) > lim->max_depth)
            return refuse(why, "JSON nested too deeply", -E2BIG);
        json_error_t e;
        out->data = json_loadb(s + i, len - i, JSON_DECODE_ANY, &e);
        if (out->data == NULL)
            return refuse(why, "data is not JSON", -EINVAL);
    }
    const char *bad = shape_error(out->type, out->data);
    if (bad) {
        sio_packet_clear(out);
        return refuse(why, bad, -EINVAL);
    }
    if (out->n_attach) {
        out->bins = calloc(out->n_attach, sizeof(*out->bins));
        out->bin_lens = calloc(out->n_attach, sizeof(*out->bin_lens));
        if (out->bins == NULL || out->bin_lens == NULL) {
            sio_packet_clear(out);
            return -ENOMEM;
        }
    }
    return 0;
}

int sio_packet_incomplete(const sio_packet_t *p)
{
    return p->n_have < p->n_attach;
}

/* Replaces every {"_placeholder": true, "num": i} below v (in place).
 * Returns 0, -EINVAL or -ENOMEM. */
static int resolve(json_t *v, const sio_packet_t *p, size_t depth)
{
    if (depth > 64)
        return -EINVAL;
    size_t i;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            json_t *num = json_object_get(x, "num");
            if (json_is_true(json_object_get(x, "_placeholder"))) {
                if (!json_is_integer(num) || json_integer_value(num) < 0 ||
                    (size_t)json_integer_value(num) >= p->n_attach)
                    return -EINVAL;
                size_t k = (size_t)json_integer_value(num);
                char *b = ws_b64_encode(p->bins[k], p->bin_lens[k], NULL);
                json_t *o = b ? json_pack("{s:s}", "binary", b) : NULL;
                free(b);
                if (o == NULL || json_array_set_new(v, i, o) < 0)
                    return -ENOMEM;
            } else if (resolve(x, p, depth + 1) < 0) {
                return -EINVAL;
            }
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    const char *k;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, x)
    {
        json_t *num = json_object_get(x, "num");
        if (json_is_true(json_object_get(x, "_placeholder"))) {
            if (!json_is_integer(num) || json_integer_value(num) < 0 ||
                (size_t)json_integer_value(num) >= p->n_attach)
                return -EINVAL;
            size_t n = (size_t)json_integer_value(num);
            char *b = ws_b64_encode(p->bins[n], p->bin_lens[n], NULL);
            json_t *o = b ? json_pack("{s:s}", "binary", b) : NULL;
            free(b);
            if (o == NULL || json_object_set_new(v, k, o) < 0)
                return -ENOMEM;
        } else if (resolve(x, p, depth + 1) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

int sio_packet_attach(sio_packet_t *p, const uint8_t *bin, size_t len)
{
    if (p->n_have >= p->n_attach)
        return -EINVAL;
    uint8_t *c = malloc(len ? len : 1);
    if (c == NULL)
        return -ENOMEM;
    memcpy(c, bin, len);
    p->bins[p->n_have] = c;
    p->bin_lens[p->n_have] = len;
    p->n_have++;
    if (p->n_have < p->n_attach)
        return 0;
    int rc = resolve(p->data, p, 0);
    return rc < 0 ? rc : 1;
}

int sio_packet_encode(const sio_packet_t *p, ws_buf_t *out)
{
    if (p->type < SIO_CONNECT || p->type > SIO_CONNECT_ERROR)
        return -EINVAL;
    char head[SIO_NSP_MAX + 32];
    int n = snprintf(head, sizeof(head), "%d", p->type);
    if (strcmp(p->nsp, "/") != 0 && p->nsp[0] != '\0')
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%s,", p->nsp);
    if (p->id >= 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%lld",
                      (long long)p->id);
    if (ws__buf_append(out, head, (size_t)n) < 0)
        return -ENOMEM;
    if (p->data == NULL)
        return 0;
    char *t = json_dumps(p->data, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = t && ws__buf_append(out, t, strlen(t)) == 0 ? 0 : -ENOMEM;
    free(t);
    return rc;
}
