/*
 * ABI 1.2: connections, timers and descriptor watches for plugins that own
 * their transport (gRPC over HTTP/2, WebSocket after the upgrade, Kafka and
 * RabbitMQ client libraries with sockets of their own).
 *
 * Everything here runs on the instance's own loop thread: the services are
 * called from it, and every callback arrives on it. Nothing here blocks.
 *
 * Connections
 *   A plugin gets raw byte streams two ways:
 *   - conn_listen: a listener of its own ("127.0.0.1:4770"), bound per
 *     worker with SO_REUSEPORT like the main port; every accepted
 *     connection is handed to listener->on_accept;
 *   - conn_claim: connections of the host's HTTP front (the main port and
 *     every http_listen port) whose first bytes equal a prefix (the HTTP/2
 *     client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") are taken away
 *     from the HTTP/1.1 parser and handed to claim->on_accept; the bytes the
 *     front already read (the prefix and whatever followed it) are the first
 *     on_read of the connection.
 *   Connections of both kinds count towards the host's max_connections;
 *   the front's idle shedding does not apply to them (the plugin owns
 *   their lifetime and its own idle rules).
 *
 * Lifetime of a doppel_conn_t
 *   on_accept -> conn_start (callbacks set, reading begins; bytes the front
 *   already read are delivered from the loop soon after, never inside
 *   conn_start) -> on_read* -> (on_end once: the peer closed or an error) ->
 *   conn_close -> on_close (last callback; the handle is freed after it).
 *   The plugin must call conn_close on every connection it accepted, also
 *   after on_end, and when the instance stops. A connection the plugin has
 *   not closed by destroy is closed by the host without callbacks.
 */
#ifndef DOPPEL_CONN_H
#define DOPPEL_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "doppel/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct doppel_conn doppel_conn_t;

/* How a connection came to the plugin. */
#define DOPPEL_CONN_VIA_LISTEN 1u  /* the plugin's own conn_listen port */
#define DOPPEL_CONN_VIA_CLAIM 2u   /* handed over by the host's HTTP front */
#define DOPPEL_CONN_VIA_UPGRADE 3u /* switched from HTTP (svc->http_upgrade) */

typedef struct doppel_conn_info {
    uint32_t size;
    uint32_t via;             /* DOPPEL_CONN_VIA_* */
    doppel_str_t remote_addr; /* "127.0.0.1", NUL-terminated */
    int remote_port;
    doppel_str_t local_addr;
    int local_port;
} doppel_conn_info_t;

/* A new connection (borrowed info, valid during the call). Return 0 after
 * calling conn_start to keep it; a negative errno makes the host close it
 * (no callback follows). For svc->http_upgrade only, conn and info are
 * NULL when the switch did not happen (the connection was lost before
 * the 101 was out, or the instance is stopping): free what was kept for
 * it; the return value is ignored. */
typedef int (*doppel_conn_accept_fn)(void *state, doppel_conn_t *conn,
                                     const doppel_conn_info_t *info);

typedef struct doppel_conn_listener {
    uint32_t size;
    doppel_conn_accept_fn on_accept; /* required */
    void *state;
} doppel_conn_listener_t;

#define DOPPEL_CONN_CLAIM_PREFIX_MAX 64

typedef struct doppel_conn_claim {
    uint32_t size;
    const uint8_t *prefix; /* 1..DOPPEL_CONN_CLAIM_PREFIX_MAX bytes, copied */
    size_t prefix_len;
    doppel_conn_accept_fn on_accept; /* required */
    void *state;
} doppel_conn_claim_t;

typedef struct doppel_conn_cbs {
    uint32_t size;
    /* Bytes arrived (borrowed for the call, len > 0). */
    void (*on_read)(void *data, doppel_conn_t *c, const uint8_t *buf,
                    size_t len);
    /* The peer closed its side (rc 0) or the connection failed (negative
     * errno: -ECONNRESET, -ETIMEDOUT, a write's -EPIPE, ...). Once; no
     * on_read after it. Writes may still succeed after rc 0 (the peer
     * half-closed). May be NULL. The plugin still calls conn_close. */
    void (*on_end)(void *data, doppel_conn_t *c, int rc);
    /* The write queue emptied after conn_pending had reached
     * DOPPEL_CONN_HIGH_WATER: produce more now. May be NULL. */
    void (*on_drain)(void *data, doppel_conn_t *c);
    /* After conn_close, when the socket is closed: the last callback. Write
     * callbacks still pending were called with -ECANCELED before it. May be
     * NULL. */
    void (*on_close)(void *data, doppel_conn_t *c);
} doppel_conn_cbs_t;

/* Completion of one conn_write: 0 when the bytes were handed to the
 * kernel, a negative errno when they never will be (-ECANCELED after
 * conn_close, -EPIPE, -ECONNRESET). */
typedef void (*doppel_write_cb)(void *data, int status);

/* conn_pending at or above this: stop producing until on_drain. */
#define DOPPEL_CONN_HIGH_WATER (256u * 1024u)
/* conn_write refuses (-ENOBUFS) a write that would queue more than this. */
#define DOPPEL_CONN_QUEUE_MAX (16u * 1024u * 1024u)

/* conn_close flags */
#define DOPPEL_CONN_CLOSE_NOW 0x0u   /* drop queued writes (-ECANCELED) */
#define DOPPEL_CONN_CLOSE_FLUSH 0x1u /* send queued writes first (bounded
                                        by 5 s), then close */

/* Timers (timer_start). */
typedef struct doppel_timer doppel_timer_t;

/* Descriptor watches (fd_watch). */
typedef struct doppel_watch doppel_watch_t;
#define DOPPEL_FD_READ 0x1u
#define DOPPEL_FD_WRITE 0x2u
/* status 0 with revents the ready subset of the watched events, or a
 * negative errno (the descriptor is bad; the watch stays until
 * fd_watch_stop). */
typedef void (*doppel_watch_cb)(void *data, int fd, uint32_t revents,
                                int status);

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_CONN_H */
