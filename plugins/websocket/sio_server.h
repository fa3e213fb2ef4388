/*
 * Private interface of the socket.io server in the WebSocket plugin
 * (docs/websocket.md, "socket.io"):
 *   sio_eio.c    the Engine.IO side: the HTTP requests (handshake,
 *                long-polling GET and POST, CORS), the WebSocket
 *                transports (direct, and the upgrade from polling), the
 *                sessions with their packet queue and heartbeats
 *   sio_sock.c   the Socket.IO side: namespaces joined by CONNECT, events
 *                matched through an engine session per (connection,
 *                namespace), answers (events, acks, rooms, broadcasts,
 *                DISCONNECT), the operator actions' part
 *
 * Threading. An Engine.IO session spans several HTTP requests, which the
 * kernel spreads over the workers (SO_REUSEPORT). A session is owned by
 * the loop of the worker that took its handshake and used by that loop
 * only. Requests and WebSocket frames that reach another worker ("the
 * transport's worker") are posted to the owner as jobs (sio_job_t); the
 * owner answers through jobs posted back, since an HTTP exchange is
 * answered and a connection written only on its own loop. The transport's
 * worker keeps the exchange (a hold) or the connection (a sio_wst_t)
 * under a token the jobs name; a job that finds its token gone is
 * dropped. The registry of sessions (sid -> owner worker) and of sockets
 * (for the actions) is in the shared state, under sh->mu.
 */
#ifndef DOPPEL_SIO_SERVER_H
#define DOPPEL_SIO_SERVER_H

#include "sio_codec.h"
#include "ws_plugin.h"

#define SIO_SID_LEN 20
#define SIO_DEFAULT_PATH "/socket.io/"

typedef struct sio_inst sio_inst_t;
typedef struct sio_sess sio_sess_t;
typedef struct sio_sock sio_sock_t;

/* Per worker: the options, the holds and WebSocket transports of this
 * loop, and the sessions it owns. */
struct sio_inst {
    ws_inst_t *in;
    char path[WS_PATH_MAX + 2]; /* option socketio_path, with its '/' */
    size_t path_len;            /* without the trailing '/' */
    uint64_t ping_interval, ping_timeout, max_payload;
    sio_limits_t lim;
    uint64_t next_token;
    struct sio_hold *holds;
    struct sio_wst *wsts;
    sio_sess_t *sessions;
};

/* The jobs between loops. */
enum {
    SIO_J_POLL = 1, /* GET of sid, answered through hold `token` */
    SIO_J_POST,     /* POST of sid: data is the body */
    SIO_J_WS_OPEN,  /* a WebSocket transport `token` for sid */
    SIO_J_WS_IN,    /* a frame of it */
    SIO_J_WS_GONE,  /* it closed */
    SIO_J_RESPOND,  /* to the transport's worker: answer hold `token` */
    SIO_J_WS_OUT,   /* write frames on WebSocket `token` (close: then
                       close it) */
    SIO_J_BCAST,    /* packets to the sockets of ns/nsp (or a room) */
};

typedef struct sio_job {
    ws_shared_t *sh;
    unsigned worker; /* where it runs */
    int kind;
    char sid[SIO_SID_LEN + 1];
    unsigned from; /* the transport's worker */
    uint64_t token;
    uint8_t *data; /* owned */
    size_t len;
    int binary;
    int status; /* RESPOND */
    int close;  /* WS_OUT */
    /* BCAST: data is the packet's text, bin its attachment */
    char ns[WS_NS_MAX + 1];
    char nsp[SIO_NSP_MAX + 1];
    char *room;
    uint8_t *bin;
    size_t bin_len;
    int has_bin;
} sio_job_t;

/* Posts job (copied) to worker w, or runs it now when w is self's.
 * Returns 0 or a negative errno (the job is dropped). */
int sio_job_post(sio_inst_t *self, unsigned w, const sio_job_t *job);
/* Posts job to every worker (self's runs now). */
void sio_job_post_all(sio_inst_t *self, const sio_job_t *job);

/* ---- the hooks in the plugin ---------------------------------------- */

/* From ws_init: reads the options and mounts the socket.io handler.
 * 0 or a negative errno (logged). */
int sio_init(ws_inst_t *in);
/* Drain and stop: every session closed, every hold answered. */
void sio_close_all(ws_inst_t *in);
void sio_destroy(ws_inst_t *in);
/* A send / close job of the actions, on this loop: sockets reached. */
long sio_serve_job(ws_inst_t *in, const ws_job_t *job);
/* The sockets t names, appended to list (sh->mu held). */
void sio_describe(ws_shared_t *sh, const ws_target_t *t, json_t *list);
/* The target route of socket.io namespace nsp's events (mocks and
 * exchanges alike): the endpoint for "/", else <socketio_path><nsp>.
 * Returns the length written into out (cap bytes), 0 if it does not fit. */
size_t sio_nsp_target(const char *endpoint, const char *sio_path,
                      const char *nsp, char *out, size_t cap);
/* 1 if a mock with this socket.namespace may be written: "/" then
 * [A-Za-z0-9._~-] segments. */
int sio_nsp_name_ok(const char *nsp);
/* Notes that some mock names nsp (sh->mu taken). 0 or -ENOMEM/-ENOSPC. */
int sio_nsp_add(ws_shared_t *sh, const char *nsp);

/* ---- between sio_eio.c and sio_sock.c --------------------------------- */

struct sio_sess {
    sio_inst_t *si; /* the owner */
    char sid[SIO_SID_LEN + 1];
    char ns[WS_NS_MAX + 1];
    char remote[64];
    char *query;
    doppel_kv_t *headers; /* the handshake's (metadata of the matches) */
    size_t n_headers;
    char *header_buf; /* what headers point into */
    int ws;           /* the transport is a WebSocket */
    int upgrading;    /* a probe came on a WebSocket, "5" not yet */
    int closed;
    /* polling */
    int has_get;
    unsigned get_worker;
    uint64_t get_token;
    ws_buf_t queue; /* packets for the next GET, 0x1e between them */
    size_t n_queued;
    /* the WebSocket (bound, or probing) */
    int has_wst;
    unsigned wst_worker;
    uint64_t wst_token;
    /* heartbeats */
    doppel_timer_t *ping_timer, *pong_timer;
    /* a BINARY_* packet waiting for its attachments */
    sio_packet_t partial;
    int has_partial;
    sio_sock_t *socks;
    int64_t opened_ms;
    sio_sess_t *reg_prev, *reg_next; /* sh->mu */
    sio_sess_t *prev, *next;         /* the owner's list */
};

/* Sends one Engine.IO packet to the client (queued for the next GET, or
 * written on the WebSocket). 0 or a negative errno. */
int sio_sess_send(sio_sess_t *s, int type, const uint8_t *d, size_t len,
                  int binary);
/* Ends the session (reason for the journal's disconnect events). The
 * memory stays until sio_sess_reap, which the entry points (jobs, timers)
 * call last, since the code that closed it may still hold it. */
void sio_sess_close(sio_sess_t *s, const char *reason);
void sio_sess_reap(sio_sess_t *s);

/* A Socket.IO packet from the client (complete, attachments resolved);
 * p is the caller's. */
void sio_sock_packet(sio_sess_t *s, sio_packet_t *p);
/* The session ends: every socket gets its disconnect event and is freed. */
void sio_sock_end_all(sio_sess_t *s, const char *reason);
/* A broadcast job on this loop. */
void sio_sock_bcast(sio_inst_t *si, const sio_job_t *job);
/* A random id of SIO_SID_LEN base64url characters (sessions, sockets). */
void sio_make_id(char out[SIO_SID_LEN + 1]);
/* Wall-clock milliseconds. */
int64_t sio_wall_ms(void);

#endif /* DOPPEL_SIO_SERVER_H */
