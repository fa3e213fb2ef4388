/*
 * doppel plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * DOPPEL_PLUGIN_ENTRY_SYMBOL ("doppel_plugin_entry"), returning a pointer to a
 * const doppel_plugin_t that lives as long as the object stays loaded.
 * Build plugins with -fvisibility=hidden and mark only the entry with
 * DOPPEL_PLUGIN_EXPORT; the host loads them with RTLD_NOW | RTLD_LOCAL.
 *
 * Versioning
 *   - Every struct that crosses the boundary starts with uint32_t size.
 *   - abi_major must equal the host's DOPPEL_ABI_MAJOR.
 *   - abi_minor must be <= the host's DOPPEL_ABI_MINOR.
 *   - Within a major, structs and the services table only grow at the end;
 *     fields are never reordered, removed or renumbered. Each batch of new
 *     fields is labelled with the minor that added it.
 *   - A plugin checks that a host service exists before calling it:
 *     DOPPEL_HAS_SERVICE(svc, member).
 *
 * Errors
 *   Functions return 0 on success or a negative errno (-EINVAL, -ENOMEM, ...).
 *   A function that returns an error never also calls its callback.
 *
 * Threading
 *   The host runs `workers` event loops, one per thread. Each enabled plugin
 *   section gets one instance per worker; init, start, stop, destroy,
 *   on_event and every callback of an instance run on that instance's loop
 *   thread only, so instance state needs no locking. Services may be called
 *   only from the instance's own loop thread, except those marked
 *   "any thread".
 *
 * Ownership
 *   Data passed to a plugin callback is borrowed: valid until the callback
 *   returns, unless the callback's documentation says longer. Whoever
 *   allocates frees; strings returned by services are owned by the host.
 */
#ifndef DOPPEL_PLUGIN_H
#define DOPPEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "doppel/common.h"
#include "doppel/conn.h"
#include "doppel/engine.h"
#include "doppel/http.h"
#include "doppel/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DOPPEL_ABI_MAJOR 1
#define DOPPEL_ABI_MINOR 2

#define DOPPEL_PLUGIN_ENTRY_SYMBOL "doppel_plugin_entry"

#if defined(__GNUC__)
#define DOPPEL_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define DOPPEL_PLUGIN_EXPORT
#endif

/* Declares the entry function of a plugin:
 *   DOPPEL_PLUGIN_DEFINE(my_descriptor)
 * where my_descriptor is a `static const doppel_plugin_t`. */
#define DOPPEL_PLUGIN_DEFINE(desc)                                            \
    DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void);   \
    DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void)    \
    {                                                                         \
        return &(desc);                                                       \
    }

/* Return values of event handlers. */
#define DOPPEL_OK 0
#define DOPPEL_DECLINED 1

/* ---- Plugin kinds ------------------------------------------------------ */

typedef enum doppel_plugin_kind {
    DOPPEL_KIND_PROTOCOL = 1, /* speaks a wire protocol, feeds the engine */
    DOPPEL_KIND_FEATURE = 2   /* observes or alters traffic through events */
} doppel_plugin_kind_t;

/* ---- Option schema ----------------------------------------------------- */

typedef enum doppel_option_type {
    DOPPEL_OPT_STRING = 1,
    DOPPEL_OPT_INT = 2,   /* signed 64-bit, checked against [min, max] */
    DOPPEL_OPT_BOOL = 3,  /* true/false, yes/no, on/off, 1/0 */
    DOPPEL_OPT_SIZE = 4,  /* bytes; accepts suffixes k, m, g (powers of 1024) */
    DOPPEL_OPT_DURATION = 5 /* milliseconds; accepts suffixes ms, s, m */
} doppel_option_type_t;

#define DOPPEL_OPT_REQUIRED 0x1u

/*
 * One option a plugin accepts in its plugins.conf section. Options are an
 * array terminated by an entry whose name is NULL. The host validates every
 * key of a section against this schema before starting anything, rejects
 * unknown keys and wrong types with file:line, and generates `doppel plugins`
 * help from it. The key `enabled` is reserved by the host.
 *
 * This struct is frozen for ABI major 1 (arrays of it are indexed with the
 * plugin's sizeof); the reserved slots are for growth.
 */
typedef struct doppel_option {
    const char *name;
    doppel_option_type_t type;
    uint32_t flags;            /* DOPPEL_OPT_REQUIRED */
    const char *default_value; /* textual default, NULL for none */
    const char *help;          /* one line */
    int64_t min;               /* INT/SIZE/DURATION bounds; min > max: none */
    int64_t max;
    void *reserved[2];
} doppel_option_t;

/* ---- Events ------------------------------------------------------------ */

/* Event numbers are fixed forever; new events get new numbers.
 *
 * Delivered by a host of ABI 1.0:
 *   RECEIVED       before the engine matches an exchange a protocol plugin
 *                  submitted (svc->engine_match), on that plugin's worker
 *   MATCHED        after it matched (or not: reply->kind says), same worker
 *   STORE_CHANGED  a store key was set or deleted, by the admin API or by
 *                  mock traffic (extract, $.increment); on every worker
 *   MOCK_CHANGED   a mock was created, replaced, closed, restored or purged
 *                  (also by a namespace reset); on every worker
 *   TICK           once a second, on every worker
 * Delivered by a host of ABI 1.1:
 *   DRAINING       the host began to stop (SIGTERM/SIGINT), once, on every
 *                  worker: its HTTP front accepts no more connections and
 *                  waits (up to drain_timeout) for the exchanges in flight;
 *                  stop follows once they finished. End long-lived answers
 *                  now (event streams, long delays), finish ordinary ones.
 * Reserved, not delivered yet (subscribing succeeds, nothing arrives): the
 * hooks that produce them arrive with the features that need them:
 *   RESPONDING, COMPLETED   around a protocol plugin's answer (chaos,
 *                           webhooks); RELOAD  configuration reload. */
typedef enum doppel_event_id {
    DOPPEL_EVENT_RECEIVED = 1,      /* data: doppel_exchange_t */
    DOPPEL_EVENT_MATCHED = 2,       /* data: doppel_match_event_t */
    DOPPEL_EVENT_RESPONDING = 3,    /* data: doppel_match_event_t (reserved) */
    DOPPEL_EVENT_COMPLETED = 4,     /* data: doppel_match_event_t (reserved) */
    DOPPEL_EVENT_STORE_CHANGED = 5, /* data: doppel_store_event_t */
    DOPPEL_EVENT_MOCK_CHANGED = 6,  /* data: doppel_mock_event_t */
    DOPPEL_EVENT_TICK = 7,          /* data: NULL; once a second per worker */
    DOPPEL_EVENT_RELOAD = 8,        /* data: NULL (reserved) */
    DOPPEL_EVENT_DRAINING = 9       /* ABI 1.1; data: NULL */
} doppel_event_id_t;

/* highest event number + 1, grows with minors */
#define DOPPEL_EVENT_COUNT 10

typedef struct doppel_event {
    uint32_t size;
    uint32_t id;           /* doppel_event_id_t */
    uint32_t data_version; /* version of the struct behind data, starts at 1 */
    uint32_t reserved;
    const void *data;      /* borrowed for the duration of on_event */
} doppel_event_t;

typedef struct doppel_match_event {
    uint32_t size;
    const doppel_exchange_t *exchange;
    const doppel_reply_t *reply; /* NULL before a reply exists */
} doppel_match_event_t;

typedef struct doppel_mock_event {
    uint32_t size;
    doppel_str_t ns;
    doppel_str_t mock_id;
    uint32_t change; /* 1 created, 2 replaced, 3 closed, 4 restored, 5 purged */
} doppel_mock_event_t;

typedef struct doppel_store_event {
    uint32_t size;
    doppel_str_t ns;
    doppel_str_t scope; /* "global", "chain:<id>", "mock:<id>" */
    doppel_str_t key;
} doppel_store_event_t;

/* ---- Host services ------------------------------------------------------ */

/* Opaque per-instance context the host passes to init and to every service. */
typedef struct doppel_ctx doppel_ctx_t;

typedef enum doppel_log_level {
    DOPPEL_LOG_ERROR = 0,
    DOPPEL_LOG_WARN = 1,
    DOPPEL_LOG_INFO = 2,
    DOPPEL_LOG_DEBUG = 3
} doppel_log_level_t;

typedef void (*doppel_fn_t)(void *data);

typedef struct doppel_services {
    uint32_t size; /* sizeof the table the host provides */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* -- ABI 1.0 -------------------------------------------------------- */

    /* Any thread. Writes one line to the host log, prefixed with the
     * instance name. Never pass secrets. */
    void (*log)(doppel_ctx_t *ctx, doppel_log_level_t level, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

    /* Any thread. Host allocator; free what it returns with free. */
    void *(*alloc)(size_t n);
    void (*free)(void *p);

    /* Validated option values of this instance's section, defaults applied.
     * option_str returns NULL when the option is unset and has no default;
     * the string is owned by the host and lives until destroy. The numeric
     * getters return 0 / false for unset options. */
    const char *(*option_str)(doppel_ctx_t *ctx, const char *name);
    int64_t (*option_int)(doppel_ctx_t *ctx, const char *name);
    int (*option_bool)(doppel_ctx_t *ctx, const char *name);

    /* Name of this instance (its plugins.conf section). Host-owned. */
    const char *(*instance_name)(doppel_ctx_t *ctx);
    /* 0-based index of this instance's worker, and the worker count. */
    unsigned (*worker_index)(doppel_ctx_t *ctx);
    unsigned (*worker_count)(doppel_ctx_t *ctx);

    /* The libuv loop (uv_loop_t *) this instance runs on. Plugins that own
     * connections (gRPC, Kafka, RabbitMQ) open their handles on it. */
    void *(*loop)(doppel_ctx_t *ctx);

    /* Any thread. Runs fn(data) on this instance's loop thread soon.
     * Returns 0 or -ENOMEM / -ESHUTDOWN (loop stopping; fn is not called). */
    int (*post)(doppel_ctx_t *ctx, doppel_fn_t fn, void *data);

    /* Runs work(data) on the host's thread pool, then after(data) on this
     * instance's loop. work must not call services other than log/alloc/free. */
    int (*queue_work)(doppel_ctx_t *ctx, doppel_fn_t work, doppel_fn_t after,
                      void *data);

    /* Asks for on_event calls for one event number. -EINVAL for an unknown
     * number. */
    int (*subscribe)(doppel_ctx_t *ctx, uint32_t event_id);

    /* Mounts an HTTP handler on the host's HTTP/1.1 front. See http.h.
     * The mount struct is copied; strings in it must outlive the instance. */
    int (*http_mount)(doppel_ctx_t *ctx, const doppel_http_mount_t *mount);

    /* Responds to an exchange: status, headers, body. After this call the
     * exchange and the request it carried are gone. May be called later
     * than the handler's return (asynchronous reply), from this instance's
     * loop thread. Returns -ENOTCONN if the client went away (the exchange
     * is still released). */
    int (*http_respond)(doppel_http_exchange_t *ex, int status,
                        const doppel_kv_t *headers, size_t n_headers,
                        const void *body, size_t body_len);

    /* Streams a response: start sends status and headers with chunked
     * transfer coding, write sends a chunk, end finishes and releases the
     * exchange. For SSE and other long-lived answers. write fails with
     * -ENOBUFS (and the connection is closed) when the client has let
     * 4 MiB of the stream pile up unread. */
    int (*http_stream_start)(doppel_http_exchange_t *ex, int status,
                             const doppel_kv_t *headers, size_t n_headers);
    int (*http_stream_write)(doppel_http_exchange_t *ex, const void *data,
                             size_t len);
    int (*http_stream_end)(doppel_http_exchange_t *ex);

    /* Matches one normalised exchange against the shared engine (see
     * engine.h). On 0, *reply is set and must be released with
     * engine_reply_free. The reply may say "no match". */
    int (*engine_match)(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                        doppel_reply_t **reply);
    void (*engine_reply_free)(doppel_ctx_t *ctx, doppel_reply_t *reply);

    /* Adds to a counter exposed on /metrics as doppel_plugin_<name>_total
     * with the given label set (e.g. "topic=\"orders\"", may be NULL).
     * name must match [a-z_][a-z0-9_]*. */
    int (*metric_add)(doppel_ctx_t *ctx, const char *name, const char *labels,
                      uint64_t value);

    /* Marks the end of an asynchronous stop begun by the stop callback. */
    void (*stop_done)(doppel_ctx_t *ctx);

    /* Makes an HTTP request of the plugin's own through the host's
     * outbound client on this instance's loop: connections reused,
     * timeouts, no redirects followed, nothing decompressed, proxies from
     * the environment ignored, and the host's address guard (loopback,
     * private, link-local and cloud-metadata addresses refused after DNS
     * resolution, unless the operator allowed them). req is copied.
     * Returns 0 and calls cb once, later, on this loop; or returns a
     * negative errno (-EINVAL: bad URL, method or header; -ECANCELED: the
     * host is stopping) and never calls cb. When the host stops, requests
     * still in flight are called back with -ECANCELED before destroy. */
    int (*http_fetch)(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                      doppel_fetch_cb cb, void *data);

    /* -- ABI 1.1 -------------------------------------------------------- */

    /* Records one forwarded exchange: x is the request the plugin matched,
     * reply the engine's DOPPEL_REPLY_PROXY answer carrying
     * DOPPEL_REPLY_F_RECORD (LEARN mode), res what the upstream sent back.
     * The engine turns it into a mock of reply->service (keyed on method,
     * path, sorted query and structural JSON body; a repeated request with
     * a different answer extends an ordered oneOf), with credential headers
     * redacted and big bodies truncated. Any thread; borrowed arguments.
     * Returns 0, -EINVAL (reply is not a recording proxy reply) or another
     * negative errno (the recording was refused; nothing was stored). */
    int (*engine_record)(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                         const doppel_reply_t *reply,
                         const doppel_fetch_result_t *res);

    /* Calls the host's admin REST API in process, through the same code
     * path as a client of /api/v1 (authorisation, validation, audit):
     * req->url is the request target ("/api/v1/mocks?namespace=a"),
     * req->headers carry the caller's credentials (X-API-Key or
     * Authorization) and any other header the REST API reads. req is
     * copied. Returns 0 and calls cb once, later, on this instance's loop,
     * with rc 0 and the API's status, headers and JSON body; or returns
     * -EINVAL (url not under /api/v1/) / -ENOMEM / -ECANCELED and never
     * calls cb. The API's failed-authentication limiter counts the call
     * as address "in-process" unless req->headers carry
     * X-Doppel-Client-Address (the plugin's own client's IP address; taken
     * out before the API sees the request). */
    int (*admin_call)(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                      doppel_fetch_cb cb, void *data);

    /* Opens a listener of this instance's own on address ("HOST:PORT")
     * serving only mount (prefix and/or classifier as for http_mount; the
     * host's /health, /metrics and /api are not on it). Call from init;
     * every instance of the section (one per worker) calls it with the
     * same address and the host binds it per worker with SO_REUSEPORT, as
     * it does the main port. The mount struct is copied. Returns 0 or
     * -EINVAL (bad address); a port another process holds makes start-up
     * fail with a message naming the instance and the address. */
    int (*http_listen)(doppel_ctx_t *ctx, const char *address,
                       const doppel_http_mount_t *mount);

    /* Any thread. State shared by every instance of this plugin section
     * (one instance per worker): the first call creates it with
     * create(arg), every later call from any instance returns the same
     * pointer; destroy(state) runs once, after the last instance of the
     * section is destroyed. Returns NULL if create returned NULL (a later
     * call tries again). The state's own locking is the plugin's. With
     * it, an instance may hand work to another instance of its section
     * with post(other_ctx, ...), since post accepts any instance's ctx. */
    void *(*shared)(doppel_ctx_t *ctx, void *(*create)(void *arg),
                    void (*destroy)(void *state), void *arg);

    /* Reports how a forwarded exchange ended, for the journal. reply is
     * the engine's DOPPEL_REPLY_PROXY answer from engine_match, not yet
     * freed; status what the client was sent (the upstream's status, or
     * the plugin's own 502/504/503 when forwarding failed), 100 to 599;
     * reason NULL when the upstream answered, else a short word of
     * [a-z_] (at most 15 characters) naming why forwarding failed
     * ("guard", "timeout", ...); flags none defined yet, 0. The engine
     * writes the request's journal entry now, with that status, the
     * latency from the match to this call, "forwarded": true and the
     * failure reason, redacted like every entry.
     * For a plugin built against ABI 1.1 or later the engine does not
     * journal a PROXY reply at match time: call this once per PROXY
     * reply, on every way the exchange ends (answered, refused, timed
     * out, stopping), before engine_reply_free, and before sending the
     * answer (http_respond), so that a client that has its answer finds
     * the entry. A PROXY reply freed without it is journalled then, with
     * status 0 (as for a 1.0 plugin, whose PROXY replies are journalled
     * at match time with status 0). Any thread (the reply's owner's).
     * Returns 0, -EINVAL (not a PROXY reply, bad status, reason or flags;
     * nothing journalled) or -EALREADY (already reported or journalled). */
    int (*engine_forwarded)(doppel_ctx_t *ctx, doppel_reply_t *reply,
                            int status, const char *reason, uint32_t flags);

    /* -- ABI 1.2: connections the plugin owns (see conn.h) -------------- */

    /* The services of this block that take a ctx need its loop: for a ctx
     * without one (the section contexts of protocol callbacks, protocol.h)
     * they return -EINVAL (now_ms: 0). */

    /* Opens a listener of this instance's own on address ("HOST:PORT")
     * handing raw connections to l->on_accept. Call from init; every
     * instance of the section calls it with the same address and the host
     * binds it per worker with SO_REUSEPORT (port 0: one ephemeral port
     * shared by the workers, reported by conn_listen_port after start).
     * l is copied. Returns 0, -EINVAL (bad address or listener), -EBUSY
     * (called after init) or -ENOMEM. A port another process holds makes
     * start-up fail with a message naming the instance and the address.
     * Logged as "listening on HOST:PORT (instance)". The listener closes
     * when the instance's stop begins (after the HTTP drain); connections
     * it handed over stay the plugin's until it closes them. */
    int (*conn_listen)(doppel_ctx_t *ctx, const char *address,
                       const doppel_conn_listener_t *l);
    /* The port the i-th conn_listen of this instance is bound to (0-based,
     * in call order), or a negative errno (-ENOENT: no such listener;
     * -EAGAIN: not bound yet, before start). */
    int (*conn_listen_port)(doppel_ctx_t *ctx, unsigned i);

    /* Claims the host HTTP front's connections that start with c->prefix
     * (see conn.h). Call from init. c is copied. Returns 0, -EINVAL (bad
     * claim), -EEXIST (another section claimed a prefix that overlaps this
     * one) or -EBUSY (called after init). */
    int (*conn_claim)(doppel_ctx_t *ctx, const doppel_conn_claim_t *c);

    /* Sets a connection's callbacks and starts reading. Call once, from
     * on_accept or later on the loop. cbs is copied. Returns 0, -EINVAL
     * (no cbs or no on_read), -EALREADY (started before) or -ENOTCONN
     * (closed before it was started). */
    int (*conn_start)(doppel_conn_t *c, const doppel_conn_cbs_t *cbs,
                      void *data);

    /* Queues len bytes (copied) for writing: what the kernel takes at
     * once is not copied. Returns 0 and calls cb (may be NULL) once,
     * later, from the loop (never inside conn_write); or returns -ENOTCONN
     * (closed or closing, or an earlier write failed), -ENOBUFS (the queue
     * would pass DOPPEL_CONN_QUEUE_MAX: nothing was queued; a single write
     * longer than that always gets it), -EPIPE / -ECONNRESET (the
     * connection failed: nothing was sent) or -ENOMEM, and never calls cb.
     * A write that fails later ends the connection (on_end with the
     * error) and its cb gets the error. Writes without cb made inside
     * on_read are gathered and handed to the kernel together when on_read
     * returns (in order with every other write; conn_pending counts
     * them), so that answers to the messages of one read cost one system
     * call. */
    int (*conn_write)(doppel_conn_t *c, const void *buf, size_t len,
                      doppel_write_cb cb, void *data);
    /* Bytes queued and not yet handed to the kernel (0 once closed). */
    size_t (*conn_pending)(doppel_conn_t *c);
    /* Stops (paused 1) or resumes (0) on_read: flow control towards the
     * peer. Returns 0 or -ENOTCONN. */
    int (*conn_pause)(doppel_conn_t *c, int paused);
    /* Closes the connection (flags DOPPEL_CONN_CLOSE_*). on_close follows,
     * from the loop; apart from the write callbacks still due, nothing
     * else does. CLOSE_FLUSH stops reading, sends what is queued and a
     * FIN, then drops what the peer still sends until its EOF (at most
     * 2 s), all within 5 s. Calling it twice is harmless; the handle is
     * valid until on_close. */
    void (*conn_close)(doppel_conn_t *c, uint32_t flags);

    /* -- ABI 1.2: timers, descriptor watches ----------------------------- */

    /* Calls fn(data) on the loop after timeout_ms, then every repeat_ms if
     * repeat_ms > 0. *out is the handle: valid until timer_stop, which
     * must be called once for every timer (a fired one-shot included; from
     * inside fn is allowed). fn is never called after timer_stop. Timers
     * an instance leaves are stopped by the host after destroy. Returns 0
     * or -EINVAL / -ENOMEM / -ESHUTDOWN (loop stopping). */
    int (*timer_start)(doppel_ctx_t *ctx, uint64_t timeout_ms,
                       uint64_t repeat_ms, doppel_fn_t fn, void *data,
                       doppel_timer_t **out);
    void (*timer_stop)(doppel_timer_t *t);
    /* Milliseconds of the loop's monotonic clock (uv_now). */
    uint64_t (*now_ms)(doppel_ctx_t *ctx);

    /* Watches a descriptor the plugin (or a library it uses: librdkafka,
     * rabbitmq-c) owns: cb(data, fd, revents, status) on the loop when it
     * is ready for events (DOPPEL_FD_READ | DOPPEL_FD_WRITE). The host
     * never reads, writes or closes fd; call fd_watch_stop before closing
     * it. Returns 0 or -EINVAL / -EEXIST (fd already watched by this
     * instance, or by another instance of the same worker: a loop polls a
     * descriptor once) / -ESHUTDOWN (the instance is being destroyed) /
     * -ENOMEM. fd_watch_update with events 0 pauses the watch. Watches an
     * instance leaves are stopped by the host after destroy. */
    int (*fd_watch)(doppel_ctx_t *ctx, int fd, uint32_t events,
                    doppel_watch_cb cb, void *data, doppel_watch_t **out);
    int (*fd_watch_update)(doppel_watch_t *w, uint32_t events);
    void (*fd_watch_stop)(doppel_watch_t *w);

    /* post (ABI 1.0) is the way in from a foreign thread: it may be called
     * from any thread, also one the host did not create (a client
     * library's own thread), for any instance's ctx. */

    /* -- ABI 1.2: engine sessions (see protocol.h) ----------------------- */

    /* Opens a session for the stream that x starts (x borrowed for the
     * call: protocol, ns, operation, target, metadata, remote_addr,
     * request_id are kept). Returns 0 (*out set) or -EINVAL / -ENOMEM. */
    int (*engine_session_open)(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                               doppel_session_t **out);
    /* Matches one message of the session's stream, like engine_match
     * (events, journal, unmatched list, stores), with the session's state
     * (see protocol.h). x is the message: its body; operation, target and
     * metadata default to the session's when empty. Returns 0 (*reply set,
     * free with engine_reply_free) or a negative errno. */
    int (*engine_session_match)(doppel_session_t *s, const doppel_exchange_t *x,
                                doppel_reply_t **reply);
    /* Frees the session and its state. NULL is a no-op. */
    void (*engine_session_close)(doppel_session_t *s);

    /* -- ABI 1.2: a protocol switch on the HTTP front ------------------- */

    /* Takes the connection of ex over (WebSocket, and anything else that
     * starts with an HTTP/1.1 Upgrade): ex is a request that asked to
     * switch (Upgrade, with Connection: upgrade; not CONNECT) that the
     * plugin's handler still holds. The front answers "101 Switching
     * Protocols" with Connection: Upgrade and headers (which must hold
     * Upgrade, and may hold the protocol's own, e.g.
     * Sec-WebSocket-Accept; not Content-Length, Transfer-Encoding,
     * Connection, Date, Server or X-Request-Id) once every earlier answer
     * of the connection is out, then hands the socket to on_accept(state,
     * conn, info) on ctx's loop, with info->via DOPPEL_CONN_VIA_UPGRADE
     * and the bytes the client sent after its request as the first
     * on_read; from there on the connection is the plugin's, as one from
     * conn_claim (conn.h). Returns 0: ex is finished (no respond), and
     * on_accept is called exactly once, with conn NULL when the
     * connection was lost before the switch; only a switch still queued
     * behind an answer when the drain timed out is dropped without a
     * call, after the instance's destroy. -EINVAL: not such a request,
     * answered or streaming already, bad headers, or ctx has no loop: ex
     * is untouched and still needs an answer. -ENOTSUP: this front takes
     * no switches (the same). -ENOTCONN / -ENOMEM: the client is gone, ex
     * is finished, on_accept is never called. */
    int (*http_upgrade)(doppel_ctx_t *ctx, doppel_http_exchange_t *ex,
                        const doppel_kv_t *headers, size_t n_headers,
                        doppel_conn_accept_fn on_accept, void *state);

    /* -- ABI 1.2: the journal of streams, rendering ---------------------- */

    /* Journals what the plugin sent on a connection or stream it holds
     * (n->kind DOPPEL_NOTE_SENT: an answer, a push, a broadcast, an
     * event) or how it ended (DOPPEL_NOTE_END, with the reason). The
     * entry goes to the journal of n->ns (GET /api/v1/requests), bounded
     * by journal_size and journal_memory like every entry, with
     * "protocol", "method", "path", "body", "connection", and
     * "direction": "out" (SENT) or "method": "end" and "reason" (END);
     * its status is 0. Incoming exchanges that name the same connection
     * (doppel_exchange_t.connection) are listed with "direction": "in",
     * so the entries of one connection read as its conversation, in the
     * order they happened. A recording is one allocation and a short
     * lock; a plugin that sends at very high rates should let its
     * operator turn it off (an option). Any thread (the journal has its
     * own lock). Returns 0 or -EINVAL (no protocol, an invalid namespace,
     * an unknown kind, a bad reason; nothing journalled) / -ENOMEM. */
    int (*engine_journal)(doppel_ctx_t *ctx, const doppel_journal_note_t *n);

    /* Renders a template (tmpl: the text of one JSON value, whose strings
     * may hold expressions, docs/templates.md) with no request, the
     * global store of namespace ns (empty: "sandbox") as it is now, and
     * fakers, as POST /api/v1/templates/render does: nothing is stored
     * ($.increment yields what it would store), chain and mock stores
     * read empty. The template is compiled on every call: use it for
     * events (a store change), not per request. Writes the compact JSON
     * text of the result into *out (svc->alloc'd, the plugin frees it
     * with svc->free) and its length into *out_len. Any thread. Returns 0,
     * -EINVAL (not JSON, or an expression that does not compile: *out
     * NULL), -EFBIG (the result passes response_max) or -ENOMEM. */
    int (*engine_render)(doppel_ctx_t *ctx, doppel_str_t ns, const char *tmpl,
                         size_t tmpl_len, char **out, size_t *out_len);
} doppel_services_t;

/* True if the host's services table has `member` and it is set. */
#define DOPPEL_HAS_SERVICE(svc, member)                                       \
    ((svc) != NULL &&                                                         \
     offsetof(doppel_services_t, member) + sizeof((svc)->member) <=           \
         (svc)->size &&                                                       \
     (svc)->member != NULL)

/* ---- The descriptor ---------------------------------------------------- */

typedef struct doppel_plugin {
    uint32_t size;      /* sizeof(doppel_plugin_t) as the plugin compiled it */
    uint16_t abi_major; /* DOPPEL_ABI_MAJOR */
    uint16_t abi_minor; /* DOPPEL_ABI_MINOR */

    /* -- ABI 1.0 -------------------------------------------------------- */
    const char *name;    /* [a-z][a-z0-9_-]*, unique among installed plugins */
    const char *version; /* the plugin's own version, free form */
    const char *summary; /* one line for `doppel plugins` */
    uint32_t kind;       /* doppel_plugin_kind_t */
    uint32_t flags;      /* none defined yet; 0 */
    const doppel_option_t *options; /* NULL-name terminated, or NULL */

    /* Creates one instance. Read options, mount HTTP handlers, subscribe to
     * events. Must not start I/O yet. On error, *state is ignored and
     * destroy is not called. */
    int (*init)(doppel_ctx_t *ctx, const doppel_services_t *svc, void **state);

    /* Starts I/O (listeners, consumers). The instance counts as ready for
     * /health/ready once start returned 0. */
    int (*start)(void *state);

    /* Begins an orderly stop: stop accepting new work, finish what is in
     * flight, then call svc->stop_done(ctx), from the loop thread, now or
     * later. The host waits for stop_done (bounded by its drain timeout)
     * before destroy. NULL means "nothing to drain". The host calls it
     * after its HTTP front drained; a plugin that holds HTTP exchanges
     * open for long (streams, delays) ends them on DOPPEL_EVENT_DRAINING
     * (ABI 1.1), which comes first, or the drain waits drain_timeout. */
    int (*stop)(void *state);

    /* Frees the instance. Called once, after stop finished (or after a failed
     * start), on the loop thread. */
    void (*destroy)(void *state);

    /* Receives subscribed events. Returns DOPPEL_OK, DOPPEL_DECLINED or a
     * negative errno (logged). May be NULL. */
    int (*on_event)(void *state, const doppel_event_t *ev);

    void *reserved[8]; /* must be NULL */

    /* -- ABI 1.2 -------------------------------------------------------- */

    /* The mock section this protocol plugin adds (see protocol.h), or
     * NULL. Read once, when the plugin is loaded. */
    const doppel_protocol_def_t *protocol;
} doppel_plugin_t;

/* Smallest descriptor size that holds every ABI 1.0 field. A descriptor that
 * claims minor 0 with a smaller size is refused. */
#define DOPPEL_PLUGIN_SIZE_1_0 (offsetof(doppel_plugin_t, on_event) + sizeof(void *))
/* ABI 1.1 added services, not descriptor fields: the same smallest size. */
#define DOPPEL_PLUGIN_SIZE_1_1 DOPPEL_PLUGIN_SIZE_1_0
/* ABI 1.2 added the protocol field. A 1.2 descriptor smaller than this is
 * refused; a descriptor of an older minor has no protocol. */
#define DOPPEL_PLUGIN_SIZE_1_2                                                \
    (offsetof(doppel_plugin_t, protocol) + sizeof(void *))

typedef const doppel_plugin_t *(*doppel_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_PLUGIN_H */
