/*
 * The outbound HTTP client: the one way doppel makes HTTP requests of its
 * own (record/replay proxy, the agents' http_request tool). It runs libcurl's
 * multi-socket interface on the caller's libuv loop, reuses connections
 * across requests, never follows redirects, never decompresses unless asked,
 * ignores http_proxy & co. from the environment, and refuses to connect to
 * internal addresses (loopback, private, link-local, cloud metadata, ...)
 * unless allow_private is set. The address check runs after DNS resolution,
 * on the very address curl is about to connect to, so a public name that
 * resolves to a private address is refused too. See docs/outbound.md.
 *
 * Threads: a dp_outbound_t belongs to the thread running its loop. Every
 * function below except dp_outbound_cfg_init, dp_outbound_env_allow_private
 * and dp_outbound_addr_allowed must be called on that thread, and every
 * callback runs on it.
 */
#ifndef DP_OUTBOUND_H
#define DP_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

typedef struct dp_outbound dp_outbound_t;

typedef struct dp_outbound_cfg {
    long connect_timeout_ms;       /* TCP + TLS connect; default 5000 */
    long total_timeout_ms;         /* whole exchange; default 30000 */
    size_t max_response_bytes;     /* body limit, larger -> -EFBIG; 8 MiB */
    int verify_tls;                /* check peer certificate + name; 1 */
    int allow_private;             /* skip the address guard; 0 */
    long max_connections_per_host; /* 0 = unlimited; default 16 */
    const char *user_agent;        /* NULL -> "doppel/<version>"; copied */
} dp_outbound_cfg_t;

/* Fills *cfg with the defaults above. Start from this, then change fields:
 * a zeroed struct would mean verify_tls off. */
void dp_outbound_cfg_init(dp_outbound_cfg_t *cfg);

/* 1 when the environment variable ALLOW_PROXY_TO_PRIVATE_IPS is "true"
 * (or "1", "yes"; case-insensitive), else 0. The host calls this when it
 * builds the config: cfg.allow_private |= dp_outbound_env_allow_private(). */
int dp_outbound_env_allow_private(void);

/* The address guard. Returns 1 when a connection to sa is allowed, 0 when
 * refused (and then, when why is not NULL, a NUL-terminated reason naming
 * the address and its class, e.g. "127.0.0.1 is a loopback address", is
 * written to why, truncated to len). With allow_private every IPv4/IPv6
 * address is allowed; other families are always refused. Any thread. */
int dp_outbound_addr_allowed(const struct sockaddr *sa, int allow_private,
                             char *why, size_t len);

/* Creates a client on loop (cfg NULL = defaults; cfg is copied). Returns
 * NULL when out of memory or when libcurl cannot be initialised. */
dp_outbound_t *dp_outbound_new(uv_loop_t *loop, const dp_outbound_cfg_t *cfg);

typedef void (*dp_outbound_close_cb)(void *data);

/* Starts the asynchronous close: every request still in flight gets its
 * callback with -ECANCELED, exactly once, before this returns (or, when
 * called from inside a request callback, right after that callback
 * returns); then curl's connections and the uv handles are closed and, when
 * the last uv close callback has run, done(data) is called (done may be
 * NULL) and o is freed. Keep the loop running until then. After this call
 * o accepts no new request (dp_outbound_request returns -ECANCELED).
 * Returns 0, or -EALREADY when o is already closing. Loop thread only. */
int dp_outbound_close(dp_outbound_t *o, dp_outbound_close_cb done, void *data);

/* dp_outbound_close(o, NULL, NULL); NULL is a no-op. */
void dp_outbound_free(dp_outbound_t *o);

typedef struct dp_outbound_header {
    const char *name;
    const char *value;
} dp_outbound_header_t;

typedef struct dp_outbound_req {
    const char *method;                  /* NULL -> "GET"; an HTTP token */
    const char *url;                     /* absolute http:// or https:// URL */
    const dp_outbound_header_t *headers; /* sent in order, as given */
    size_t n_headers;
    const void *body; /* NULL or body_len bytes (may hold NULs) */
    size_t body_len;
    long timeout_ms; /* whole exchange; 0 -> cfg.total_timeout_ms */
    int decompress;  /* 1: advertise and decode gzip/deflate/br/zstd */
    int insecure;    /* 1: skip TLS verification for this request only (a
                        service with tlsVerify false); cfg.verify_tls off
                        skips it for every request */
} dp_outbound_req_t;

/* What a finished request reports. Everything here is owned by the client
 * and valid only during the callback: copy what you keep. */
typedef struct dp_outbound_resp {
    int status;                          /* HTTP status; 0 on error */
    const dp_outbound_header_t *headers; /* in received order */
    size_t n_headers;
    const char *body; /* body_len bytes, NUL-terminated for convenience */
    size_t body_len;
    uint64_t total_us;      /* start to end, microseconds */
    const char *primary_ip; /* address connected to; "" if none */
    const char *error;      /* "" on success, else a readable reason */
} dp_outbound_resp_t;

/* err is 0 (resp->status is set) or a negative errno:
 *   -ETIMEDOUT     connect or total timeout
 *   -ECONNREFUSED  nothing listens on the port
 *   -EHOSTUNREACH  no route, or the name does not resolve
 *   -EACCES        refused by the address guard (resp->error names it)
 *   -EFBIG         response body larger than max_response_bytes
 *   -EPROTO        TLS failure (handshake, certificate) or broken HTTP
 *   -ECONNRESET    the peer closed or reset the connection mid-exchange
 *   -ECANCELED     the client was closed first
 *   -ENOMEM, -EIO  out of memory, anything else
 * resp is never NULL. */
typedef void (*dp_outbound_cb)(int err, const dp_outbound_resp_t *resp,
                               void *data);

/* Starts one request; *req and everything it points to is copied, so the
 * caller may free it on return. Returns 0 and later calls cb exactly once
 * (never from inside this call), or returns a negative errno and never
 * calls cb: -EINVAL for a NULL/unparsable URL, a scheme other than http or
 * https, a method that is not an HTTP token, a header name that is not a
 * token, or a header value that is NULL or holds CR or LF (an empty value
 * is sent as such); -ECANCELED when o is closing; -ENOMEM. */
int dp_outbound_request(dp_outbound_t *o, const dp_outbound_req_t *req,
                        dp_outbound_cb cb, void *data);

/* Requests started and not yet called back. */
size_t dp_outbound_in_flight(const dp_outbound_t *o);

#endif
