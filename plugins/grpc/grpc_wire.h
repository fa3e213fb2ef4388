/*
 * grpc_wire: the gRPC transport core of the grpc plugin. HTTP/2 (nghttp2
 * server session) plus gRPC framing (the gRPC PROTOCOL-HTTP2 spec) plus one
 * call object per stream, over an abstract byte transport.
 *
 * Transport-agnostic and timer-free: the layer above moves the bytes
 * (gw_conn_ops_t.send, gw_conn_feed), runs the timers (deadlines come up as
 * absolute milliseconds) and decides what to answer (gw_call_cb_t).
 *
 * Threads: one connection and all its calls belong to one thread (the
 * loop that feeds it). Nothing here locks.
 *
 * Errors: 0 or a negative errno. A function that fails has no effect.
 *
 * Sending: gw_call_* only queue frames. Bytes reach ops->send in
 * gw_conn_flush (and at the end of gw_conn_feed), so that everything a
 * loop turn produced goes out in one write. When a call function queues
 * something outside of gw_conn_feed, the core calls ops->wake once; the
 * layer then calls gw_conn_flush before the loop sleeps.
 */
#ifndef DOPPEL_GRPC_WIRE_H
#define DOPPEL_GRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gw_conn gw_conn_t;
typedef struct gw_call gw_call_t;

/* gRPC status codes. */
enum {
    GW_OK = 0,
    GW_CANCELLED = 1,
    GW_UNKNOWN = 2,
    GW_INVALID_ARGUMENT = 3,
    GW_DEADLINE_EXCEEDED = 4,
    GW_NOT_FOUND = 5,
    GW_ALREADY_EXISTS = 6,
    GW_PERMISSION_DENIED = 7,
    GW_RESOURCE_EXHAUSTED = 8,
    GW_FAILED_PRECONDITION = 9,
    GW_ABORTED = 10,
    GW_OUT_OF_RANGE = 11,
    GW_UNIMPLEMENTED = 12,
    GW_INTERNAL = 13,
    GW_UNAVAILABLE = 14,
    GW_DATA_LOSS = 15,
    GW_UNAUTHENTICATED = 16,
};

/*
 * One metadata entry. Not NUL-terminated in general (incoming entries
 * happen to be). Keys are lower case. Values of keys ending in "-bin" are
 * base64 text in both directions: incoming, checked and rewritten to the
 * standard alphabet with padding ("AAE" and "AAE=" from two clients both
 * arrive as "AAE="), so that mocks compare one form; outgoing, a value that
 * is valid base64 is sent as is (padding stripped, as the spec asks), any
 * other value is taken as raw bytes and base64-encoded.
 */
typedef struct gw_md {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} gw_md_t;

/* Why a call ended without the layer finishing it (gw_call_cancel_reason). */
typedef enum {
    GW_CANCEL_NONE = 0,
    GW_CANCEL_RESET,     /* RST_STREAM from the client */
    GW_CANCEL_CONN_GONE, /* connection closed, freed or broken */
    GW_CANCEL_BAD_INPUT, /* the core answered with an error status: a bad
                            or oversized message, truncated input */
} gw_cancel_reason_t;

/*
 * The layer above. Every callback runs inside gw_conn_feed (on_cancel
 * also inside gw_conn_flush and gw_conn_free); from them the layer may
 * call any gw_call_* function, gw_conn_drain and gw_conn_done. gw_conn_flush
 * there does nothing (the running feed flushes at its end); gw_conn_feed
 * and gw_conn_free are not allowed.
 */
typedef struct gw_call_cb {
    /* A gRPC request's headers arrived and passed the checks. path is the
     * :path ("/pkg.Service/Method"); md holds every regular header
     * (content-type, user-agent, grpc-timeout, custom metadata; no pseudo
     * headers), valid until the call is freed. deadline_ms is absolute on
     * the ops->now_ms clock, 0 = no deadline. The layer now owns one
     * reference to call and must drop it with gw_call_release. */
    void (*on_call_start)(gw_call_t *call, const char *path, size_t path_len,
                          const gw_md_t *md, size_t n_md,
                          uint64_t deadline_ms);
    /* One complete request message (the 5-byte prefix removed). The bytes
     * are valid during the callback only. */
    void (*on_message)(gw_call_t *call, const uint8_t *msg, size_t len);
    /* The client half-closed (END_STREAM) after its last message. */
    void (*on_half_close)(gw_call_t *call);
    /* The call is over without the layer having finished it (see
     * gw_cancel_reason_t). After it, gw_call_* functions do nothing and
     * return -ECANCELED; the layer still calls gw_call_release.
     * gw_call_conn still answers inside it. Never fires after
     * gw_call_finish succeeded, not even when the connection goes later:
     * a layer that keeps a finished call unreleased (waiting for a timer)
     * sees that only as gw_call_conn returning NULL. */
    void (*on_cancel)(gw_call_t *call);
} gw_call_cb_t;

typedef struct gw_conn_ops {
    /* Queue bytes for the socket (copy them). 0, or -ENOBUFS: the
     * connection is then broken (calls cancelled, gw_conn_done true). */
    int (*send)(void *ud, const uint8_t *bytes, size_t len);
    /* Bytes given to send that have not reached the socket yet. Optional.
     * Over cfg.write_high_water the core stops pulling frames until
     * gw_conn_on_drain. */
    size_t (*pending)(void *ud);
    /* Something was queued outside gw_conn_feed: call gw_conn_flush soon
     * (once per loop turn is enough). Optional. Fires once until the next
     * flush. */
    void (*wake)(void *ud);
    /* Monotonic clock in ms, for deadlines. Optional (default
     * CLOCK_MONOTONIC). */
    uint64_t (*now_ms)(void *ud);
} gw_conn_ops_t;

/* Zero fields take the defaults given. */
typedef struct gw_conn_cfg {
    gw_call_cb_t cb;
    uint32_t max_concurrent_streams; /* 100 */
    uint32_t initial_window_size;    /* stream window we grant, 1 MiB */
    uint32_t conn_window_size;       /* connection window we grant, 16 MiB */
    uint32_t max_frame_size;         /* largest frame we accept, 16 KiB */
    uint32_t max_header_list_size;   /* 16 KiB: larger request headers get
                                        RESOURCE_EXHAUSTED */
    uint32_t max_message_size;       /* request message limit, 4 MiB */
    size_t write_high_water;         /* 256 KiB of unsent bytes */
} gw_conn_cfg_t;

/* A server connection. cfg is copied; ops must outlive the connection; ud
 * is passed to every op. NULL on out of memory. The server SETTINGS are
 * queued at once (the first flush sends them). */
gw_conn_t *gw_conn_new(const gw_conn_cfg_t *cfg, const gw_conn_ops_t *ops,
                       void *ud);

/* Bytes read from the socket, starting with the client connection preface
 * (which may arrive in any split). Runs the callbacks, then flushes.
 * 0, or -EPROTO after a protocol error (GOAWAY PROTOCOL_ERROR queued and
 * flushed; gw_conn_done becomes true once it is written), -ENOMEM. */
int gw_conn_feed(gw_conn_t *c, const uint8_t *bytes, size_t len);

/* Hands every queued frame to ops->send (up to the high-water mark).
 * 0, or the send error / -EPIPE once the connection is broken. */
int gw_conn_flush(gw_conn_t *c);

/* The transport wrote some of its backlog: pull more frames. */
int gw_conn_on_drain(gw_conn_t *c);

/* Graceful shutdown: GOAWAY(NO_ERROR, last stream processed); new streams
 * are refused, calls in flight run to their end. */
int gw_conn_drain(gw_conn_t *c);

/* 1 when the connection has nothing more to do: the peer or we said
 * GOAWAY and no stream is left, or it is broken, and nothing is left to
 * write. The layer then closes the socket and frees the connection. */
int gw_conn_done(const gw_conn_t *c);

/* Frees the connection. Calls the layer still holds get on_cancel (if not
 * finished) and become detached; their memory lives until
 * gw_call_release. Not from inside a callback. */
void gw_conn_free(gw_conn_t *c);

/* The ud given to gw_conn_new (for callbacks that start from a call:
 * gw_conn_user(gw_call_conn(call))). */
void *gw_conn_user(const gw_conn_t *c);

/* Number of calls the core still tracks on this connection. */
size_t gw_conn_active_calls(const gw_conn_t *c);

/* Per-call user pointer. */
void gw_call_set_data(gw_call_t *call, void *data);
void *gw_call_data(const gw_call_t *call);
/* The :path of the call, as in on_call_start (length in *len). */
const char *gw_call_path(const gw_call_t *call, size_t *len);
/* The request metadata, as in on_call_start. */
const gw_md_t *gw_call_metadata(const gw_call_t *call, size_t *n);
/* First value of a request metadata key (lower case), NULL if absent. */
const gw_md_t *gw_call_md_get(const gw_call_t *call, const char *key);
gw_cancel_reason_t gw_call_cancel_reason(const gw_call_t *call);
/* The connection the call runs on; NULL once the call is detached (its
 * stream closed or the connection freed; inside on_cancel it is still
 * set). */
gw_conn_t *gw_call_conn(const gw_call_t *call);

/* Response bytes (framed messages) queued on the call and not yet taken
 * by HTTP/2: the client is not reading while this grows (flow control).
 * A layer that streams many messages waits for it to fall. */
size_t gw_call_unsent(const gw_call_t *call);

/* Response headers (:status 200, content-type application/grpc, then md).
 * Optional: the first message or a finish sends them if not done. Once per
 * call: -EALREADY the second time. -ECANCELED after on_cancel or finish. */
int gw_call_send_headers(gw_call_t *call, const gw_md_t *md, size_t n);

/* One response message (uncompressed), copied. -ECANCELED after on_cancel
 * or finish, -ENOMEM. */
int gw_call_send_message(gw_call_t *call, const uint8_t *msg, size_t len);

/* Ends the call: trailers grpc-status code, grpc-message (percent-encoded
 * here; NULL or "" = none), grpc-status-details-bin (details: serialized
 * google.rpc.Status, raw bytes, base64-encoded here; NULL = none) and the
 * custom trailers. Sent after every queued message; with nothing sent
 * before, as a trailers-only response. -ECANCELED after on_cancel or a
 * previous finish, -EINVAL for a code outside 0..16. */
int gw_call_finish(gw_call_t *call, int code, const char *message,
                   const uint8_t *details, size_t details_len,
                   const gw_md_t *trailers, size_t n);

/* Drops the layer's reference. A call released before it was finished or
 * cancelled is reset (RST_STREAM CANCEL). */
void gw_call_release(gw_call_t *call);

/* --- helpers, exposed for the layer above and for the tests --- */

/* Splits a :path "/pkg.Service/Method" into its service and method (not
 * NUL-terminated, pointing into path). 0, or -EINVAL if the path is not of
 * that form (the core refuses such calls before on_call_start). */
int gw_path_split(const char *path, size_t len, const char **service,
                  size_t *service_len, const char **method,
                  size_t *method_len);

/* Parses a grpc-timeout value: 1..8 digits then one unit of H M S m u n.
 * *ms gets the timeout in ms, rounded up. 0, or -EINVAL. */
int gw_parse_timeout(const char *s, size_t len, uint64_t *ms);

/* Formats a timeout in ms as a grpc-timeout value (8 digits at most,
 * coarser units when needed) into out (at least 10 bytes); returns the
 * length. */
size_t gw_format_timeout(uint64_t ms, char *out);

/* Percent-encodes a grpc-message: bytes outside 0x20..0x7E and '%' become
 * %XX. out needs 3 * len bytes; returns the length written. */
size_t gw_pct_encode(const char *in, size_t len, char *out);

/* Decodes a percent-encoded grpc-message in place-safe fashion into out
 * (len bytes are enough); malformed escapes are kept as they are. */
size_t gw_pct_decode(const char *in, size_t len, char *out);

/* base64 (standard alphabet) without padding; out needs
 * gw_b64_len(len) bytes. */
size_t gw_b64_len(size_t len);
size_t gw_b64_encode(const uint8_t *in, size_t len, char *out);
/* 1 if s is base64 (standard or URL alphabet, padding optional). */
int gw_b64_valid(const char *s, size_t len);
/* Rewrites valid base64 (gw_b64_valid) to the standard alphabet with
 * padding; out needs len + 3 bytes. Returns the length written. */
size_t gw_b64_canon(const char *s, size_t len, char *out);

/* 1 if key is a valid metadata key: [0-9a-z_.-]+. */
int gw_md_key_valid(const char *key, size_t len);

/* The gRPC status a client derives from an HTTP status without
 * grpc-status (the spec's HTTP to gRPC status mapping). */
int gw_status_from_http(int http_status);

/* The canonical name of a status ("NOT_FOUND"), "UNKNOWN" when outside. */
const char *gw_status_name(int code);

#ifdef __cplusplus
}
#endif
#endif
