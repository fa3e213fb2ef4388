/*
 * HTTP mounts on the host's HTTP/1.1 front.
 *
 * The host owns the listener, parsing, keep-alive, pipelining, limits and
 * timeouts. A plugin mounts a handler by path prefix and/or a classifier;
 * the host calls it once a whole request (headers and body) has arrived.
 *
 * Routing order for a request: host routes (/health*, /metrics, /api/v1),
 * then mounts with a classifier that accepts the request (higher priority
 * first), then prefix mounts (longest prefix first, then higher priority).
 * A prefix matches at a segment boundary: "/mcp" matches "/mcp" and
 * "/mcp/x" but not "/mcpx". Prefix "/" is the catch-all.
 */
#ifndef DOPPEL_HTTP_H
#define DOPPEL_HTTP_H

#include "doppel/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle of one request/response exchange. Valid from the handler
 * call until the plugin finishes it (http_respond or http_stream_end). A
 * plugin must finish every exchange it was handed, even if the client went
 * away (the call then returns -ENOTCONN and releases it). */
typedef struct doppel_http_exchange doppel_http_exchange_t;

/* A parsed request. All memory is borrowed from the exchange and stays
 * valid until the exchange is finished. Strings are NUL-terminated. */
typedef struct doppel_http_request {
    uint32_t size;
    doppel_str_t method;  /* "GET" */
    doppel_str_t target;  /* raw request target, "/a/b?x=1" */
    doppel_str_t path;    /* percent-decoded path, "/a/b" */
    doppel_str_t query;   /* raw query without '?', may be empty */
    doppel_str_t rest;    /* path after the mount prefix, starts with '/' */
    const doppel_kv_t *headers; /* in arrival order, names as sent */
    size_t n_headers;
    const uint8_t *body;  /* de-chunked; NUL-terminated for convenience */
    size_t body_len;
    doppel_str_t remote_addr; /* "127.0.0.1" */
    doppel_str_t request_id;  /* also sent back as X-Request-Id */
    uint16_t http_major;
    uint16_t http_minor;
    /* Returns the first header with this name (case-insensitive), or NULL. */
    const doppel_str_t *(*header)(const struct doppel_http_request *req,
                                  const char *name);
} doppel_http_request_t;

/* Returns 0 when it took the exchange (and will finish it), or a negative
 * errno, in which case the host answers 500 and finishes it. */
typedef int (*doppel_http_handler_fn)(void *state, doppel_http_exchange_t *ex,
                                      const doppel_http_request_t *req);

/* Returns non-zero if the mount wants this request. Called with a request
 * whose body has arrived; must not keep pointers into it. */
typedef int (*doppel_http_classify_fn)(void *state,
                                       const doppel_http_request_t *req);

typedef struct doppel_http_mount {
    uint32_t size;
    const char *prefix;               /* NULL if classifier only */
    doppel_http_classify_fn classify; /* NULL if prefix only */
    doppel_http_handler_fn handler;   /* required */
    void *state;                      /* passed to classify and handler */
    int priority;                     /* higher wins among equals */
} doppel_http_mount_t;

/* ---- Outbound requests (svc->http_fetch) ----------------------------- */

/* A request a plugin makes of its own (a proxy forwarding to an upstream).
 * Borrowed by http_fetch for the call only: it copies what it needs. */
typedef struct doppel_fetch {
    uint32_t size;
    doppel_str_t method;        /* empty: GET */
    doppel_str_t url;           /* absolute http:// or https:// URL */
    const doppel_kv_t *headers; /* sent as given; Host comes from url */
    size_t n_headers;
    const void *body;
    size_t body_len;
    uint32_t timeout_ms;        /* whole exchange; 0: the host's default */
    /* -- ABI 1.1 -- */
    uint32_t flags;             /* DOPPEL_FETCH_F_* */
} doppel_fetch_t;

/* ABI 1.1: do not verify the upstream's TLS certificate (a service
 * configured with tlsVerify false). Verification is on by default. */
#define DOPPEL_FETCH_F_INSECURE 0x1u

/* What came back; borrowed during the callback only. */
typedef struct doppel_fetch_result {
    uint32_t size;
    int status;                 /* 0 when rc < 0 */
    const doppel_kv_t *headers; /* in received order */
    size_t n_headers;
    const void *body;
    size_t body_len;
    doppel_str_t error;         /* readable reason when rc < 0, else empty */
} doppel_fetch_result_t;

/* rc: 0, or -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH (also: the name does
 * not resolve), -EACCES (refused by the host's address guard), -EFBIG
 * (response over the host's limit), -EPROTO (TLS or HTTP failure),
 * -ECONNRESET, -ECANCELED (the host is stopping), -ENOMEM, -EIO. */
typedef void (*doppel_fetch_cb)(void *data, int rc,
                                const doppel_fetch_result_t *res);

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_HTTP_H */
