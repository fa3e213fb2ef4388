/* Private to the transport core (h2_conn.c, grpc_call.c): the connection
 * and call structures and the functions the two halves share. */
#ifndef DOPPEL_GRPC_WIRE_INTERNAL_H
#define DOPPEL_GRPC_WIRE_INTERNAL_H

#include <nghttp2/nghttp2.h>

#include "grpc_wire.h"

#define GW_HDR_INLINE 1024 /* request header bytes kept in the call itself */
#define GW_MD_INLINE 16    /* metadata entries kept in the call itself */

/* A request header while the header block is still arriving: offsets into
 * the call's header arena, which may move as it grows. */
typedef struct gw_md_off {
    uint32_t koff, klen, voff, vlen;
} gw_md_off_t;

struct gw_call {
    gw_conn_t *conn; /* NULL once detached (stream closed or conn freed) */
    gw_call_t *prev, *next; /* in conn->calls while attached */
    int32_t sid;
    unsigned refs; /* 1 for the stream (while attached) + 1 for the layer */
    void *data;

    unsigned started : 1;   /* on_call_start fired: the layer holds a ref */
    unsigned rejected : 1;  /* the core answered the headers itself */
    unsigned submitted : 1; /* response HEADERS submitted */
    unsigned finished : 1;  /* trailers decided (layer or core) */
    unsigned cancelled : 1; /* on_cancel fired (or would have) */
    unsigned released : 1;  /* the layer dropped its reference */
    unsigned deferred : 1;  /* the data source returned DEFERRED */
    unsigned half_closed : 1;
    unsigned is_post : 1;
    unsigned hdr_overflow : 1;
    unsigned bad_bin : 1;
    unsigned has_path : 1;
    gw_cancel_reason_t reason;

    /* request headers: name/value bytes, NUL-terminated, in one arena */
    char *hb;
    size_t hb_len, hb_cap;
    size_t hdr_list; /* the HTTP/2 header list size so far */
    uint32_t path_off, path_len;
    int32_t ct_idx, enc_idx, tmo_idx; /* index in mdo, -1 if absent */
    gw_md_off_t *mdo;
    gw_md_t *md;
    size_t nmd, md_cap;

    /* request message reassembly */
    uint8_t pfx[5];
    uint8_t pfx_have;
    uint32_t need;
    uint8_t *msg;
    size_t msg_have, msg_cap;

    /* response bytes not yet taken by nghttp2 */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    /* trailers waiting for the last DATA: one block, nv + strings */
    nghttp2_nv *trl;
    size_t ntrl;

    char hb_inline[GW_HDR_INLINE];
    gw_md_off_t mdo_inline[GW_MD_INLINE];
    gw_md_t md_inline[GW_MD_INLINE];
};

struct gw_conn {
    nghttp2_session *s;
    gw_conn_cfg_t cfg;
    const gw_conn_ops_t *ops;
    void *ud;
    gw_call_t *calls;
    size_t ncalls;
    uint8_t *obuf;
    size_t olen, ocap;
    int depth;           /* > 0 inside nghttp2 (callbacks may run) */
    unsigned woken : 1;  /* ops->wake fired since the last flush */
    unsigned broken : 1; /* fatal error or send failure */
    unsigned proto_err : 1;
    unsigned freeing : 1;
};

/* grpc_call.c */
gw_call_t *gw__call_new(gw_conn_t *c, int32_t sid);
void gw__call_unref(gw_call_t *call);
int gw__call_add_header(gw_call_t *call, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen);
void gw__call_headers_done(gw_call_t *call);
void gw__call_data(gw_call_t *call, const uint8_t *data, size_t len);
void gw__call_end_stream(gw_call_t *call);
void gw__call_closed(gw_call_t *call, uint32_t error_code);
void gw__call_detach(gw_call_t *call, gw_cancel_reason_t reason);

/* h2_conn.c */
void gw__conn_touch(gw_conn_t *c);
uint64_t gw__conn_now(gw_conn_t *c);

#endif
