/*
 * The host's HTTP/1.1 front: listener, connections, parsing (llhttp),
 * keep-alive, pipelining, chunked bodies, limits, timeouts, drain, and the
 * router that dispatches whole requests to host routes and plugin mounts.
 *
 * Threading: one dp_http_server per worker loop; everything here runs on
 * that loop's thread. Several workers bind the same address with
 * SO_REUSEPORT.
 */
#ifndef DP_HTTP_FRONT_H
#define DP_HTTP_FRONT_H

#include <stdint.h>
#include <uv.h>

#include "doppel/http.h"
#include "metrics.h"

typedef struct dp_http_limits {
    size_t max_header_bytes;  /* request line + headers; over -> 431 */
    size_t max_body_bytes;    /* over -> 413 (Content-Length checked early) */
    uint64_t idle_timeout_ms; /* keep-alive connection with no request */
    uint64_t header_timeout_ms; /* whole head must arrive within this */
    uint64_t body_timeout_ms;   /* whole body must arrive within this */
    unsigned max_pipeline;    /* parsed-but-unanswered requests per conn */
    /* Client connections one listening server holds at once; 0: no cap.
     * At the cap the oldest idle connection (keep-alive, or no request
     * yet) is closed for a newcomer; with none idle the listener pauses
     * until a connection closes or goes idle. */
    size_t max_connections;
} dp_http_limits_t;

/* Fills the defaults: 16 KiB headers, 8 MiB body, 60 s idle, 10 s head,
 * 30 s body, 64 pipelined, no connection cap. */
void dp_http_limits_default(dp_http_limits_t *l);

/* ---- Router ----------------------------------------------------------- */

typedef struct dp_router dp_router_t;

dp_router_t *dp_router_new(void);
void dp_router_free(dp_router_t *r);

/* Adds a route. host_route: matched before every plugin mount (used for
 * /health, /metrics, /api/v1). owner names the mount in metrics ("host",
 * or the plugin instance name); it must outlive the router. The mount is
 * copied. Returns 0, -EINVAL (no handler, neither prefix nor classifier,
 * prefix not starting with '/'), -EEXIST (same prefix twice without a
 * classifier at the same priority). */
int dp_router_add(dp_router_t *r, const doppel_http_mount_t *m, int host_route,
                  const char *owner);

/* Calls fn(data) when the router is freed: state that host routes keep per
 * router (one per worker) is released with it. 0 or -ENOMEM. */
int dp_router_on_free(dp_router_t *r, void (*fn)(void *data), void *data);

/* ---- Server ----------------------------------------------------------- */

typedef struct dp_http_server dp_http_server_t;

/* A prefix of a connection's first bytes that takes the connection away
 * from the HTTP/1.1 parser (ABI 1.2 conn_claim). */
typedef struct dp_http_claim {
    const uint8_t *prefix; /* borrowed, outlives the server */
    size_t len;            /* 1..DP_HTTP_CLAIM_MAX */
} dp_http_claim_t;

#define DP_HTTP_CLAIM_MAX 64
/* The claim index a raw server (cfg.raw) hands its connections over with. */
#define DP_HTTP_RAW ((size_t)-1)

/* Takes a connection over: fd is a connected non-blocking socket, the
 * callee's from now on (it closes it); buf/len the bytes the front read
 * from it already (borrowed for the call; none for a raw server). The
 * connection keeps its slot in the server's connection count (and in the
 * connections gauge) until the callee calls dp_http_server_release(s),
 * exactly once, which it must do before the server is freed. */
typedef void (*dp_http_handoff_fn)(void *arg, dp_http_server_t *s,
                                   size_t claim, uv_os_sock_t fd,
                                   const uint8_t *buf, size_t len);

/* ABI 1.2 protocol switch (dp_http_upgrade): the connection of a request
 * whose 101 is out. fd >= 0: as for dp_http_handoff_fn (the callee's
 * socket; buf/len the bytes the client sent after its request; the callee
 * calls dp_http_server_release(s) once). fd -1: the switch will not happen
 * (the connection was lost first); buf is NULL and nothing is to be
 * released. token is dp_http_upgrade's; called exactly once per token. */
typedef void (*dp_http_upgrade_fn)(void *arg, dp_http_server_t *s,
                                   uv_os_sock_t fd, const uint8_t *buf,
                                   size_t len, void *token);

typedef struct dp_http_server_cfg {
    const char *host; /* bind address, "127.0.0.1", "::1", "0.0.0.0" */
    int port;         /* 0: ephemeral */
    int reuseport;    /* set SO_REUSEPORT (workers > 1) */
    dp_http_limits_t limits;
    dp_router_t *router;        /* borrowed, outlives the server */
    dp_metrics_worker_t *metrics; /* this worker's counters, borrowed */
    /* ABI 1.2. A connection whose first bytes equal claims[i].prefix, on
     * its first read, before llhttp sees a byte, goes to handoff with
     * claim i (a connection that sent part of a prefix waits for more,
     * up to header_timeout_ms). Never a connection that began an HTTP
     * request. */
    const dp_http_claim_t *claims; /* borrowed, outlives the server */
    size_t n_claims;
    dp_http_handoff_fn handoff;
    void *handoff_arg; /* also upgrade's */
    /* Protocol switches accepted by handlers (NULL: dp_http_upgrade
     * answers -ENOTSUP). */
    dp_http_upgrade_fn upgrade;
    /* A raw listener: every accepted connection goes to handoff
     * (DP_HTTP_RAW) at once, with the same accept loop, cap and descriptor
     * handling as an HTTP listener; router may be NULL. */
    int raw;
} dp_http_server_cfg_t;

/* Gives back the connection slot of a connection handed over (see
 * dp_http_handoff_fn). Loop thread only. */
void dp_http_server_release(dp_http_server_t *s);

/* Stops accepting for good (closes the listening socket); connections
 * stay. */
void dp_http_server_close_listener(dp_http_server_t *s);

/* Binds and listens on loop. Returns 0 or a negative errno (-EADDRINUSE,
 * -EACCES, ...).
 * Descriptor exhaustion: when accept fails with EMFILE or ENFILE (or the
 * kernel is out of socket memory), idle connections are closed oldest
 * first and accept retried; with none to close the listener stops being
 * polled and resumes when one of its connections closes or after a short
 * back-off (50 ms doubling to 1 s). The warnings this causes are logged at
 * most once per 5 s per server, with the count of those left out. */
int dp_http_server_start(uv_loop_t *loop, const dp_http_server_cfg_t *cfg,
                         dp_http_server_t **out);

/* The port actually bound (useful after port 0). */
int dp_http_server_port(const dp_http_server_t *s);

/* Graceful drain: stop accepting, close idle keep-alive connections, let
 * in-flight exchanges finish (their connections close after the response),
 * then call done(data) once no connection is left, or after timeout_ms
 * (remaining connections are closed). */
void dp_http_server_drain(dp_http_server_t *s, uint64_t timeout_ms,
                          void (*done)(void *data), void *data);

/* Closes the listener and every connection. The memory goes from the close
 * callbacks, so the loop must run afterwards (uv_run until it has no
 * handle left); exchanges still held by handlers keep it alive until they
 * are finished (their answers return -ENOTCONN). No drain callback is
 * called after this. */
void dp_http_server_free(dp_http_server_t *s);

/* ---- In-process exchanges (svc->admin_call) --------------------------- */

/* A request given in memory. Everything is copied by dp_http_local_call. */
typedef struct dp_http_local_req {
    doppel_str_t method;        /* [A-Z-]{1,24}; empty: GET */
    doppel_str_t target;        /* origin-form, "/api/v1/mocks?x=1" */
    const doppel_kv_t *headers; /* as a client would send them */
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *remote_addr; /* what handlers see; NULL: "in-process" */
} dp_http_local_req_t;

/* Makes an in-process server on loop: no listener and no connections, only
 * cfg's router, limits and metrics (host and port are ignored). Requests
 * it runs count in the metrics like requests from a socket. Free it with
 * dp_http_server_free, which calls back every call not yet called back:
 * answered calls with their answer, the others with -ECANCELED; exchanges
 * a handler still holds stay alive until it answers (nobody hears it).
 * Returns 0, -EINVAL or -ENOMEM. */
int dp_http_local_new(uv_loop_t *loop, const dp_http_server_cfg_t *cfg,
                      dp_http_server_t **out);

/* Runs one request through the server's router and handlers, exactly as if
 * it had come from a socket (same routing, limits with 431/413, request id,
 * handlers, answers). host_routes_only: anything but a host route is a 404.
 * Returns 0 and calls cb once, later, on the loop (never from inside this
 * call or from inside the handler's answer), with rc 0 and the answer
 * (status, headers except the framing ones the front owns, plus
 * X-Request-Id, and the body; streamed answers are collected until
 * stream_end); or with -ECANCELED when the server is freed first. Returns
 * -EINVAL (bad method, target, header), -ENOMEM or -ECANCELED (the server
 * is being freed) and never calls cb. Loop thread only. */
int dp_http_local_call(dp_http_server_t *s, const dp_http_local_req_t *req,
                       int host_routes_only, doppel_fetch_cb cb, void *data);

/* Number of open connections and of unfinished exchanges. */
size_t dp_http_server_connections(const dp_http_server_t *s);
size_t dp_http_server_inflight(const dp_http_server_t *s);

/* ---- Answering (these back the services-table entries) ---------------- */

/* All of these run on the exchange's loop thread only.
 * respond: status 200..599; headers may not hold CR, LF or NUL. The front
 * owns Content-Length, Transfer-Encoding, Connection, Date, Server and
 * X-Request-Id (such headers from the caller are dropped). Invalid
 * arguments: the client gets a 500, the exchange is released and -EINVAL
 * returned. Client gone: -ENOTCONN, the exchange is released. A second
 * answer to the same exchange is a use after free (as with free()).
 * stream_start/stream_write: -EINVAL / -ENOTCONN without releasing; only
 * stream_end (or respond never, once streaming) releases. */

int dp_http_respond(doppel_http_exchange_t *ex, int status,
                    const doppel_kv_t *headers, size_t n_headers,
                    const void *body, size_t body_len);
int dp_http_stream_start(doppel_http_exchange_t *ex, int status,
                         const doppel_kv_t *headers, size_t n_headers);
int dp_http_stream_write(doppel_http_exchange_t *ex, const void *data,
                         size_t len);
int dp_http_stream_end(doppel_http_exchange_t *ex);
/* Switches protocols (ABI 1.2 http_upgrade): ex is an HTTP/1.1 request
 * that asked to (Upgrade with Connection: upgrade), still held by its
 * handler; headers hold Upgrade and the new protocol's own (none the
 * front owns). The front queues "101 Switching Protocols" with
 * Connection: Upgrade and those headers after every earlier answer of the
 * connection, then hands the socket to the server's upgrade function with
 * token once they are written. Returns 0 (ex is finished; the upgrade
 * function gets token exactly once, also when the connection is lost
 * first), -EINVAL (not such a request, already answered, bad headers: ex
 * is untouched and still needs an answer; token not taken), -ENOTSUP (no
 * upgrade function: the same), -ENOTCONN / -ENOMEM (the client is gone:
 * ex is finished; token not taken). */
int dp_http_upgrade(doppel_http_exchange_t *ex, const doppel_kv_t *headers,
                    size_t n_headers, void *token);

/* Convenience for host code: a JSON body with Content-Type
 * application/json. */
int dp_http_respond_json(doppel_http_exchange_t *ex, int status,
                         const char *json, size_t len);

/* The worker loop an exchange belongs to (to post delayed replies). */
uv_loop_t *dp_http_exchange_loop(doppel_http_exchange_t *ex);

/* The id of the connection an exchange came on, unique in the process (no
 * later connection gets it again), so that a handler that works off the
 * loop can keep a connection's requests in order. 0 for an in-process
 * exchange and once the connection is gone. Loop thread only. */
uint64_t dp_http_exchange_conn_id(const doppel_http_exchange_t *ex);

#endif
