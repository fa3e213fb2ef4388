/*
 * The gRPC half of the transport core: one call per HTTP/2 stream. Checks
 * the request headers (gRPC PROTOCOL-HTTP2), reassembles length-prefixed
 * messages across DATA frames, frames the responses and ends the call with
 * trailers (or a trailers-only response when nothing was sent before).
 *
 * Ownership: the stream holds one reference while attached to its
 * connection, the layer one from on_call_start to gw_call_release; the
 * memory goes with the last.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc_wire_internal.h"

#define GW_MSG_KEEP (64 * 1024) /* reassembly buffer kept between messages */

static const char gw_ct_grpc[] = "application/grpc";

/* ---------- life cycle ---------- */

gw_call_t *gw__call_new(gw_conn_t *c, int32_t sid)
{
    gw_call_t *call = malloc(sizeof(*call));
    if (call == NULL)
        return NULL;
    /* everything but the inline arrays, which are written before read */
    memset(call, 0, offsetof(gw_call_t, hb_inline));
    call->conn = c;
    call->sid = sid;
    call->refs = 1;
    call->hb = call->hb_inline;
    call->hb_cap = GW_HDR_INLINE;
    call->mdo = call->mdo_inline;
    call->md = call->md_inline;
    call->md_cap = GW_MD_INLINE;
    call->ct_idx = call->enc_idx = call->tmo_idx = -1;
    call->next = c->calls;
    if (c->calls != NULL)
        c->calls->prev = call;
    c->calls = call;
    c->ncalls++;
    return call;
}

static void gw__call_free(gw_call_t *call)
{
    if (call->hb != call->hb_inline)
        free(call->hb);
    if (call->mdo != call->mdo_inline)
        free(call->mdo);
    if (call->md != call->md_inline)
        free(call->md);
    free(call->msg);
    free(call->out);
    free(call->trl);
    free(call);
}

void gw__call_unref(gw_call_t *call)
{
    if (--call->refs == 0)
        gw__call_free(call);
}

static void gw__call_unlink(gw_call_t *call)
{
    gw_conn_t *c = call->conn;
    if (c == NULL)
        return;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->ncalls--;
    call->conn = NULL;
}

/* The layer learns that the call is over without it. */
static void gw__call_cancel(gw_call_t *call, gw_conn_t *c,
                            gw_cancel_reason_t reason)
{
    if (!call->started || call->finished || call->cancelled)
        return;
    call->cancelled = 1;
    call->reason = reason;
    if (c->cfg.cb.on_cancel != NULL)
        c->cfg.cb.on_cancel(call);
}

void gw__call_detach(gw_call_t *call, gw_cancel_reason_t reason)
{
    gw_conn_t *c = call->conn;
    if (c == NULL)
        return;
    call->refs++; /* the layer may release inside on_cancel */
    gw__call_cancel(call, c, reason);
    gw__call_unlink(call);
    gw__call_unref(call); /* the stream's reference */
    gw__call_unref(call);
}

void gw__call_closed(gw_call_t *call, uint32_t error_code)
{
    /* Not finished by us, so the client reset it (or nghttp2 did, for a
     * protocol error on the stream): the same to the layer. */
    (void)error_code;
    gw__call_detach(call, GW_CANCEL_RESET);
}

/* ---------- header fields ---------- */

/* The header block being built: nv entries and their strings in one
 * allocation, so a submit (which copies) frees it with one free. */
typedef struct gw_nvb {
    nghttp2_nv *nv;
    size_t n;
    char *p;
} gw_nvb_t;

static void gw__nvb_add(gw_nvb_t *b, const char *k, size_t kl, const char *v,
                        size_t vl)
{
    nghttp2_nv *e = &b->nv[b->n++];
    memcpy(b->p, k, kl);
    e->name = (uint8_t *)b->p;
    e->namelen = kl;
    b->p += kl;
    memcpy(b->p, v, vl);
    e->value = (uint8_t *)b->p;
    e->valuelen = vl;
    b->p += vl;
    e->flags = NGHTTP2_NV_FLAG_NONE;
}

static int gw__is_bin_key(const char *k, size_t kl)
{
    return kl > 4 && memcmp(k + kl - 4, "-bin", 4) == 0;
}

static char gw__lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Custom metadata we may send: a gRPC key, not one the transport owns. */
static int gw__md_sendable(const gw_md_t *m)
{
    static const char *const reserved[] = {
        "content-type", "te", "connection", "transfer-encoding",
        "keep-alive", "upgrade", "proxy-connection", "host", "user-agent"};
    if (m->key == NULL || m->key_len == 0 || m->key_len > 256 ||
        (m->value == NULL && m->value_len > 0))
        return 0;
    char k[257];
    for (size_t i = 0; i < m->key_len; i++)
        k[i] = gw__lower(m->key[i]);
    if (!gw_md_key_valid(k, m->key_len))
        return 0;
    if (m->key_len >= 5 && memcmp(k, "grpc-", 5) == 0)
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strlen(reserved[i]) == m->key_len &&
            memcmp(reserved[i], k, m->key_len) == 0)
            return 0;
    if (gw__is_bin_key(k, m->key_len))
        return 1;
    for (size_t i = 0; i < m->value_len; i++) /* ASCII-Value */
        if ((unsigned char)m->value[i] < 0x20 ||
            (unsigned char)m->value[i] > 0x7E)
            return 0;
    return 1;
}

static void gw__nvb_add_md(gw_nvb_t *b, const gw_md_t *m)
{
    nghttp2_nv *e = &b->nv[b->n++];
    e->flags = NGHTTP2_NV_FLAG_NONE;
    e->name = (uint8_t *)b->p;
    e->namelen = m->key_len;
    for (size_t i = 0; i < m->key_len; i++)
        *b->p++ = gw__lower(m->key[i]);
    e->value = (uint8_t *)b->p;
    size_t vl = m->value_len;
    if (gw__is_bin_key(m->key, m->key_len)) {
        if (gw_b64_valid(m->value, vl)) {
            while (vl > 0 && m->value[vl - 1] == '=')
                vl--;
            memcpy(b->p, m->value, vl);
        } else {
            vl = gw_b64_encode((const uint8_t *)m->value, vl, b->p);
        }
    } else if (vl > 0) {
        memcpy(b->p, m->value, vl);
    }
    e->valuelen = vl;
    b->p += vl;
}

typedef struct gw_fields {
    const char *status;   /* ":status" value, NULL = none (trailers) */
    int code;             /* grpc-status, -1 = none (initial headers) */
    const char *message;  /* grpc-message before encoding */
    size_t message_len;
    const uint8_t *details;
    size_t details_len;
    const gw_md_t *md;
    size_t n_md;
    int accept_identity;  /* grpc-accept-encoding: identity */
} gw_fields_t;

/* One block with every field of f; NULL on out of memory. */
static nghttp2_nv *gw__fields_build(const gw_fields_t *f, size_t *n_out)
{
    size_t count = 0, bytes = 0;
    if (f->status != NULL) {
        count += 2;
        bytes += 7 + strlen(f->status) + 12 + sizeof(gw_ct_grpc);
    }
    if (f->code >= 0) {
        count++;
        bytes += 11 + 3;
        if (f->message_len > 0) {
            count++;
            bytes += 12 + 3 * f->message_len;
        }
        if (f->details != NULL) {
            count++;
            bytes += 23 + gw_b64_len(f->details_len);
        }
    }
    if (f->accept_identity) {
        count++;
        bytes += 20 + 8;
    }
    for (size_t i = 0; i < f->n_md; i++) {
        if (!gw__md_sendable(&f->md[i]))
            continue;
        count++;
        bytes += f->md[i].key_len + gw_b64_len(f->md[i].value_len) +
                 f->md[i].value_len;
    }
    nghttp2_nv *nv = malloc(count * sizeof(*nv) + bytes + 1);
    if (nv == NULL)
        return NULL;
    gw_nvb_t b = {nv, 0, (char *)(nv + count)};
    if (f->status != NULL) {
        gw__nvb_add(&b, ":status", 7, f->status, strlen(f->status));
        gw__nvb_add(&b, "content-type", 12, gw_ct_grpc, sizeof(gw_ct_grpc) - 1);
    }
    if (f->code >= 0) {
        char num[4];
        size_t nl = 0;
        if (f->code >= 10)
            num[nl++] = (char)('0' + f->code / 10);
        num[nl++] = (char)('0' + f->code % 10);
        gw__nvb_add(&b, "grpc-status", 11, num, nl);
        if (f->message_len > 0) {
            nghttp2_nv *e = &b.nv[b.n++];
            e->flags = NGHTTP2_NV_FLAG_NONE;
            e->name = (uint8_t *)b.p;
            e->namelen = 12;
            memcpy(b.p, "grpc-message", 12);
            b.p += 12;
            e->value = (uint8_t *)b.p;
            e->valuelen = gw_pct_encode(f->message, f->message_len, b.p);
            b.p += e->valuelen;
        }
        if (f->details != NULL) {
            nghttp2_nv *e = &b.nv[b.n++];
            e->flags = NGHTTP2_NV_FLAG_NONE;
            e->name = (uint8_t *)b.p;
            e->namelen = 23;
            memcpy(b.p, "grpc-status-details-bin", 23);
            b.p += 23;
            e->value = (uint8_t *)b.p;
            e->valuelen = gw_b64_encode(f->details, f->details_len, b.p);
            b.p += e->valuelen;
        }
    }
    if (f->accept_identity)
        gw__nvb_add(&b, "grpc-accept-encoding", 20, "identity", 8);
    for (size_t i = 0; i < f->n_md; i++)
        if (gw__md_sendable(&f->md[i]))
            gw__nvb_add_md(&b, &f->md[i]);
    *n_out = b.n;
    return nv;
}

/* ---------- request headers ---------- */

static int gw__hb_put(gw_call_t *call, const uint8_t *p, size_t n,
                      uint32_t *off)
{
    if (call->hb_len + n + 1 > call->hb_cap) {
        size_t cap = call->hb_cap * 2;
        while (cap < call->hb_len + n + 1)
            cap *= 2;
        char *nb;
        if (call->hb == call->hb_inline) {
            nb = malloc(cap);
            if (nb != NULL)
                memcpy(nb, call->hb, call->hb_len);
        } else {
            nb = realloc(call->hb, cap);
        }
        if (nb == NULL)
            return -ENOMEM;
        call->hb = nb;
        call->hb_cap = cap;
    }
    *off = (uint32_t)call->hb_len;
    if (n > 0 && p != NULL) /* p NULL: room only, the caller fills it */
        memcpy(call->hb + call->hb_len, p, n);
    call->hb[call->hb_len + n] = '\0';
    call->hb_len += n + 1;
    return 0;
}

static int gw__name_is(const uint8_t *name, size_t nlen, const char *lit)
{
    size_t l = strlen(lit);
    return nlen == l && memcmp(name, lit, l) == 0;
}

int gw__call_add_header(gw_call_t *call, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen)
{
    gw_conn_t *c = call->conn;
    /* RFC 9113 6.5.2: the size of a field is name + value + 32 */
    call->hdr_list += nlen + vlen + 32;
    if (call->hdr_list > c->cfg.max_header_list_size)
        call->hdr_overflow = 1;
    /* Far past the limit (a CONTINUATION flood): reset the stream rather
     * than decode the rest for a polite answer. */
    if (call->hdr_list > 4 * (size_t)c->cfg.max_header_list_size)
        return -EMSGSIZE;
    if (call->hdr_overflow)
        return 0;
    if (nlen > 0 && name[0] == ':') {
        if (gw__name_is(name, nlen, ":method")) {
            call->is_post = vlen == 4 && memcmp(value, "POST", 4) == 0;
        } else if (gw__name_is(name, nlen, ":path")) {
            if (gw__hb_put(call, value, vlen, &call->path_off) != 0)
                return -ENOMEM;
            call->path_len = (uint32_t)vlen;
            call->has_path = 1;
        }
        return 0;
    }
    if (call->nmd == call->md_cap) {
        size_t cap = call->md_cap * 2;
        gw_md_off_t *nm;
        if (call->mdo == call->mdo_inline) {
            nm = malloc(cap * sizeof(*nm));
            if (nm != NULL)
                memcpy(nm, call->mdo, call->nmd * sizeof(*nm));
        } else {
            nm = realloc(call->mdo, cap * sizeof(*nm));
        }
        if (nm == NULL)
            return -ENOMEM;
        call->mdo = nm;
        call->md_cap = cap;
    }
    gw_md_off_t *m = &call->mdo[call->nmd];
    if (gw__hb_put(call, name, nlen, &m->koff) != 0)
        return -ENOMEM;
    m->klen = (uint32_t)nlen;
    if (gw__is_bin_key((const char *)name, nlen) &&
        gw_b64_valid((const char *)value, vlen)) {
        /* one form for every client: standard alphabet, padded */
        if (gw__hb_put(call, NULL, vlen + 3, &m->voff) != 0)
            return -ENOMEM;
        char *v = call->hb + m->voff;
        size_t n = gw_b64_canon((const char *)value, vlen, v);
        v[n] = '\0';
        call->hb_len -= vlen + 3 - n; /* give back the unused room */
        m->vlen = (uint32_t)n;
    } else {
        if (gw__hb_put(call, value, vlen, &m->voff) != 0)
            return -ENOMEM;
        m->vlen = (uint32_t)vlen;
    }
    if (gw__name_is(name, nlen, "content-type"))
        call->ct_idx = (int32_t)call->nmd;
    else if (gw__name_is(name, nlen, "grpc-encoding"))
        call->enc_idx = (int32_t)call->nmd;
    else if (gw__name_is(name, nlen, "grpc-timeout"))
        call->tmo_idx = (int32_t)call->nmd;
    else if (gw__is_bin_key((const char *)name, nlen) &&
             !gw_b64_valid((const char *)value, vlen))
        call->bad_bin = 1;
    call->nmd++;
    return 0;
}

/* The core answers the request itself; the layer never sees it. */
static void gw__reject(gw_call_t *call, const char *http_status, int code,
                       const char *msg, int accept_identity)
{
    gw_conn_t *c = call->conn;
    call->rejected = 1;
    call->finished = 1;
    call->submitted = 1;
    gw_fields_t f = {.status = http_status, .code = code, .message = msg,
                     .message_len = strlen(msg),
                     .accept_identity = accept_identity};
    size_t n;
    nghttp2_nv *nv = gw__fields_build(&f, &n);
    if (nv == NULL ||
        nghttp2_submit_response(c->s, call->sid, nv, n, NULL) != 0)
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, call->sid,
                                  NGHTTP2_INTERNAL_ERROR);
    free(nv);
}

int gw_path_split(const char *p, size_t len, const char **service,
                  size_t *service_len, const char **method,
                  size_t *method_len)
{
    /* "/Service/Method": two non-empty parts */
    if (p == NULL || len < 4 || p[0] != '/')
        return -EINVAL;
    const char *slash = memchr(p + 1, '/', len - 1);
    if (slash == NULL || slash == p + 1 || slash == p + len - 1 ||
        memchr(slash + 1, '/', (size_t)(p + len - slash - 1)) != NULL)
        return -EINVAL;
    if (service != NULL) {
        *service = p + 1;
        *service_len = (size_t)(slash - p - 1);
    }
    if (method != NULL) {
        *method = slash + 1;
        *method_len = (size_t)(p + len - slash - 1);
    }
    return 0;
}

static int gw__path_ok(const char *p, size_t len)
{
    return gw_path_split(p, len, NULL, NULL, NULL, NULL) == 0;
}

/* application/grpc, application/grpc+proto, with parameters or not */
static int gw__ct_ok(const char *v, size_t len)
{
    size_t l = sizeof(gw_ct_grpc) - 1;
    if (len < l || strncasecmp(v, gw_ct_grpc, l) != 0)
        return 0;
    v += l;
    len -= l;
    if (len >= 6 && strncasecmp(v, "+proto", 6) == 0) {
        v += 6;
        len -= 6;
    }
    return len == 0 || v[0] == ';' || v[0] == ' ';
}

void gw__call_headers_done(gw_call_t *call)
{
    gw_conn_t *c = call->conn;
    if (call->started || call->rejected)
        return;
    if (call->md_cap > GW_MD_INLINE) {
        call->md = malloc(call->md_cap * sizeof(*call->md));
        if (call->md == NULL) {
            call->md = call->md_inline; /* freed as inline: nothing */
            call->nmd = 0;
            gw__reject(call, "200", GW_RESOURCE_EXHAUSTED, "out of memory", 0);
            return;
        }
    }
    for (size_t i = 0; i < call->nmd; i++) {
        const gw_md_off_t *o = &call->mdo[i];
        call->md[i] = (gw_md_t){call->hb + o->koff, o->klen,
                                call->hb + o->voff, o->vlen};
    }
    const gw_md_t *ct = call->ct_idx >= 0 ? &call->md[call->ct_idx] : NULL;
    const gw_md_t *enc = call->enc_idx >= 0 ? &call->md[call->enc_idx] : NULL;
    const gw_md_t *tmo = call->tmo_idx >= 0 ? &call->md[call->tmo_idx] : NULL;
    const char *path = call->hb + call->path_off;
    uint64_t ms = 0;

    if (call->hdr_overflow) {
        gw__reject(call, "200", GW_RESOURCE_EXHAUSTED,
                   "request metadata larger than the limit", 0);
        return;
    }
    if (!call->is_post) {
        gw__reject(call, "405", GW_INTERNAL, "gRPC requires method POST", 0);
        return;
    }
    if (ct == NULL || !gw__ct_ok(ct->value, ct->value_len)) {
        gw__reject(call, "415", GW_INVALID_ARGUMENT,
                   "content-type is not application/grpc", 0);
        return;
    }
    if (!call->has_path || !gw__path_ok(path, call->path_len)) {
        gw__reject(call, "200", GW_UNIMPLEMENTED, "malformed method name", 0);
        return;
    }
    if (enc != NULL && !(enc->value_len == 8 &&
                         memcmp(enc->value, "identity", 8) == 0)) {
        char m[96];
        snprintf(m, sizeof(m), "grpc-encoding %.40s is not supported",
                 enc->value);
        gw__reject(call, "200", GW_UNIMPLEMENTED, m, 1);
        return;
    }
    if (tmo != NULL && gw_parse_timeout(tmo->value, tmo->value_len, &ms) != 0) {
        gw__reject(call, "200", GW_INTERNAL, "malformed grpc-timeout", 0);
        return;
    }
    if (call->bad_bin) {
        gw__reject(call, "200", GW_INTERNAL, "malformed binary metadata", 0);
        return;
    }
    uint64_t deadline = 0;
    if (tmo != NULL) {
        deadline = gw__conn_now(c) + ms;
        if (deadline == 0)
            deadline = 1;
    }
    call->started = 1;
    call->refs++; /* the layer's, until gw_call_release */
    if (c->cfg.cb.on_call_start != NULL)
        c->cfg.cb.on_call_start(call, path, call->path_len, call->md,
                                call->nmd, deadline);
}

/* ---------- request messages ---------- */

static int gw__finish(gw_call_t *call, int code, const char *message,
                      const uint8_t *details, size_t details_len,
                      const gw_md_t *trailers, size_t n);

/* The core ends a started call with an error status of its own. */
static void gw__abort(gw_call_t *call, int code, const char *msg)
{
    gw_conn_t *c = call->conn;
    if (call->finished || call->cancelled)
        return;
    if (gw__finish(call, code, msg, NULL, 0, NULL, 0) != 0) {
        call->finished = 1;
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, call->sid,
                                  NGHTTP2_INTERNAL_ERROR);
    }
    call->cancelled = 1;
    call->reason = GW_CANCEL_BAD_INPUT;
    if (c->cfg.cb.on_cancel != NULL)
        c->cfg.cb.on_cancel(call);
}

static int gw__deliver(gw_call_t *call, const uint8_t *msg, size_t len)
{
    gw_conn_t *c = call->conn;
    if (c->cfg.cb.on_message != NULL)
        c->cfg.cb.on_message(call, msg, len);
    /* the layer may have finished the call or the conn may be gone */
    return call->conn == NULL || call->finished || call->cancelled ? -1 : 0;
}

void gw__call_data(gw_call_t *call, const uint8_t *data, size_t len)
{
    gw_conn_t *c = call->conn;
    if (!call->started || call->finished || call->cancelled)
        return;
    while (len > 0) {
        if (call->pfx_have < 5) {
            size_t take = 5 - call->pfx_have;
            if (take > len)
                take = len;
            memcpy(call->pfx + call->pfx_have, data, take);
            call->pfx_have = (uint8_t)(call->pfx_have + take);
            data += take;
            len -= take;
            if (call->pfx_have < 5)
                return;
            call->need = (uint32_t)call->pfx[1] << 24 |
                         (uint32_t)call->pfx[2] << 16 |
                         (uint32_t)call->pfx[3] << 8 | call->pfx[4];
            call->msg_have = 0;
            if (call->pfx[0] == 1) {
                gw__abort(call, GW_INTERNAL,
                          "compressed message without grpc-encoding");
                return;
            }
            if (call->pfx[0] != 0) {
                gw__abort(call, GW_INTERNAL, "bad message prefix");
                return;
            }
            if (call->need > c->cfg.max_message_size) {
                char m[96];
                snprintf(m, sizeof(m),
                         "received message larger than max (%u vs. %u)",
                         call->need, c->cfg.max_message_size);
                gw__abort(call, GW_RESOURCE_EXHAUSTED, m);
                return;
            }
            if (call->need == 0) {
                call->pfx_have = 0;
                if (gw__deliver(call, (const uint8_t *)"", 0) != 0)
                    return;
                continue;
            }
            if (len == 0)
                return; /* the body comes with the next chunk */
        }
        if (call->msg_have == 0 && len >= call->need) {
            /* the whole message in this chunk: no copy */
            size_t n = call->need;
            call->pfx_have = 0;
            if (gw__deliver(call, data, n) != 0)
                return;
            data += n;
            len -= n;
            continue;
        }
        size_t take = call->need - call->msg_have;
        if (take > len)
            take = len;
        if (call->msg_have + take > call->msg_cap) {
            /* grow with what arrived, not with what the prefix claims */
            size_t cap = call->msg_cap ? call->msg_cap : 4096;
            while (cap < call->msg_have + take)
                cap *= 2;
            if (cap > call->need)
                cap = call->need;
            uint8_t *nb = realloc(call->msg, cap);
            if (nb == NULL) {
                gw__abort(call, GW_RESOURCE_EXHAUSTED, "out of memory");
                return;
            }
            call->msg = nb;
            call->msg_cap = cap;
        }
        memcpy(call->msg + call->msg_have, data, take);
        call->msg_have += take;
        data += take;
        len -= take;
        if (call->msg_have == call->need) {
            size_t n = call->msg_have;
            call->pfx_have = 0;
            call->msg_have = 0;
            int stop = gw__deliver(call, call->msg, n);
            if (call->msg_cap > GW_MSG_KEEP) {
                free(call->msg);
                call->msg = NULL;
                call->msg_cap = 0;
            }
            if (stop)
                return;
        }
    }
}

void gw__call_end_stream(gw_call_t *call)
{
    gw_conn_t *c = call->conn;
    call->half_closed = 1;
    if (!call->started || call->finished || call->cancelled)
        return;
    if (call->pfx_have > 0) {
        gw__abort(call, GW_INTERNAL, "incomplete message at end of stream");
        return;
    }
    if (c->cfg.cb.on_half_close != NULL)
        c->cfg.cb.on_half_close(call);
}

/* ---------- responses ---------- */

static ssize_t gw__read_data(nghttp2_session *s, int32_t sid, uint8_t *buf,
                             size_t length, uint32_t *flags,
                             nghttp2_data_source *src, void *ud)
{
    (void)ud;
    gw_call_t *call = src->ptr;
    size_t avail = call->out_len - call->out_off;
    if (avail == 0 && !call->finished) {
        call->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = avail < length ? avail : length;
    if (n > 0) {
        memcpy(buf, call->out + call->out_off, n);
        call->out_off += n;
        if (call->out_off == call->out_len)
            call->out_off = call->out_len = 0;
    }
    if (call->out_len == 0 && call->finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        /* trailers follow the last DATA; without them (out of memory) the
         * DATA ends the stream and the client sees a missing status */
        if (call->trl != NULL &&
            nghttp2_submit_trailer(s, sid, call->trl, call->ntrl) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        free(call->trl);
        call->trl = NULL;
    }
    return (ssize_t)n;
}

static int gw__usable(const gw_call_t *call)
{
    return call != NULL && call->conn != NULL && !call->finished &&
           !call->cancelled && !call->released && !call->conn->broken;
}

static int gw__submit_headers(gw_call_t *call, const gw_md_t *md, size_t n)
{
    gw_conn_t *c = call->conn;
    gw_fields_t f = {.status = "200", .code = -1, .md = md, .n_md = n};
    size_t nn;
    nghttp2_nv *nv = gw__fields_build(&f, &nn);
    if (nv == NULL)
        return -ENOMEM;
    nghttp2_data_provider prd = {.source.ptr = call,
                                 .read_callback = gw__read_data};
    int rc = nghttp2_submit_response(c->s, call->sid, nv, nn, &prd);
    free(nv);
    if (rc != 0)
        return rc == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EPROTO;
    call->submitted = 1;
    gw__conn_touch(c);
    return 0;
}

int gw_call_send_headers(gw_call_t *call, const gw_md_t *md, size_t n)
{
    if (!gw__usable(call))
        return -ECANCELED;
    if (call->submitted)
        return -EALREADY;
    return gw__submit_headers(call, md, n);
}

static void gw__resume(gw_call_t *call)
{
    if (call->deferred) {
        call->deferred = 0;
        nghttp2_session_resume_data(call->conn->s, call->sid);
    }
    gw__conn_touch(call->conn);
}

int gw_call_send_message(gw_call_t *call, const uint8_t *msg, size_t len)
{
    if (!gw__usable(call))
        return -ECANCELED;
    if (len > UINT32_MAX)
        return -EMSGSIZE;
    int rc;
    if (!call->submitted && (rc = gw__submit_headers(call, NULL, 0)) != 0)
        return rc;
    size_t need = call->out_len + 5 + len;
    if (call->out_off > 0 && need > call->out_cap) {
        /* reclaim what nghttp2 already took */
        memmove(call->out, call->out + call->out_off,
                call->out_len - call->out_off);
        call->out_len -= call->out_off;
        call->out_off = 0;
        need = call->out_len + 5 + len;
    }
    if (need > call->out_cap) {
        size_t cap = call->out_cap ? call->out_cap : 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(call->out, cap);
        if (nb == NULL)
            return -ENOMEM;
        call->out = nb;
        call->out_cap = cap;
    }
    uint8_t *p = call->out + call->out_len;
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    if (len > 0)
        memcpy(p + 5, msg, len);
    call->out_len += 5 + len;
    gw__resume(call);
    return 0;
}

static int gw__finish(gw_call_t *call, int code, const char *message,
                      const uint8_t *details, size_t details_len,
                      const gw_md_t *trailers, size_t n)
{
    gw_conn_t *c = call->conn;
    gw_fields_t f = {.code = code, .message = message,
                     .message_len = message ? strlen(message) : 0,
                     .details = details, .details_len = details_len,
                     .md = trailers, .n_md = n};
    size_t nn;
    if (!call->submitted) {
        /* trailers-only: one HEADERS frame that ends the stream */
        f.status = "200";
        nghttp2_nv *nv = gw__fields_build(&f, &nn);
        if (nv == NULL)
            return -ENOMEM;
        int rc = nghttp2_submit_response(c->s, call->sid, nv, nn, NULL);
        free(nv);
        if (rc != 0)
            return rc == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EPROTO;
        call->submitted = 1;
        call->finished = 1;
        gw__conn_touch(c);
        return 0;
    }
    nghttp2_nv *nv = gw__fields_build(&f, &nn);
    if (nv == NULL)
        return -ENOMEM;
    free(call->trl);
    call->trl = nv;
    call->ntrl = nn;
    call->finished = 1;
    gw__resume(call);
    return 0;
}

int gw_call_finish(gw_call_t *call, int code, const char *message,
                   const uint8_t *details, size_t details_len,
                   const gw_md_t *trailers, size_t n)
{
    if (!gw__usable(call))
        return -ECANCELED;
    if (code < 0 || code > 16)
        return -EINVAL;
    return gw__finish(call, code, message, details, details_len, trailers, n);
}

void gw_call_release(gw_call_t *call)
{
    if (call == NULL || call->released || !call->started)
        return;
    call->released = 1;
    gw_conn_t *c = call->conn;
    if (c != NULL && !call->finished && !call->cancelled) {
        call->finished = 1;
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, call->sid,
                                  NGHTTP2_CANCEL);
        gw__conn_touch(c);
    }
    gw__call_unref(call);
}

/* ---------- accessors ---------- */

void gw_call_set_data(gw_call_t *call, void *data)
{
    call->data = data;
}

void *gw_call_data(const gw_call_t *call)
{
    return call->data;
}

const char *gw_call_path(const gw_call_t *call, size_t *len)
{
    if (len != NULL)
        *len = call->path_len;
    return call->hb + call->path_off;
}

const gw_md_t *gw_call_metadata(const gw_call_t *call, size_t *n)
{
    *n = call->nmd;
    return call->md;
}

const gw_md_t *gw_call_md_get(const gw_call_t *call, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < call->nmd; i++)
        if (call->md[i].key_len == kl && memcmp(call->md[i].key, key, kl) == 0)
            return &call->md[i];
    return NULL;
}

size_t gw_call_unsent(const gw_call_t *call)
{
    return call->out_len - call->out_off;
}

gw_cancel_reason_t gw_call_cancel_reason(const gw_call_t *call)
{
    return call->reason;
}

gw_conn_t *gw_call_conn(const gw_call_t *call)
{
    return call->conn;
}
