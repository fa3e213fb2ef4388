/*
 * Private interface between the parts of the WebSocket plugin:
 *   ws_plugin.c   descriptor, options, instances, the upgrade (classifier
 *                 and handler on the host's HTTP front), drain and stop
 *   ws_section.c  the "socket" mock section (check), the known routes,
 *                 the shared state and the operator actions
 *   ws_conn.c     one connection: frames in (ws_codec), messages matched
 *                 through its engine session, answers out with their
 *                 delays, broadcasts, schedules, the close handshake
 *
 * Threading: one instance per worker (ws_inst_t, its loop thread only).
 * The shared state (ws_shared_t, svc->shared) is read by every worker, by
 * the section callbacks and by the actions on any thread, under its mutex:
 * the routes, the instances by worker, and the registry of open
 * connections (the members of ws_conn_t marked "sh->mu"). A connection is
 * used by its own loop only; other threads reach it through a job posted
 * to that loop (ws_job_t).
 */
#ifndef DOPPEL_WS_PLUGIN_H
#define DOPPEL_WS_PLUGIN_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/plugin.h"
#include "ws_codec.h"
#include "ws_rules.h"

#define WS_NS_MAX 64
#define WS_PATH_MAX 512
#define WS_DEFAULT_NS "sandbox"
#define WS_DEFAULT_ENDPOINT "/ws"
/* distinct routes mocks may name: every upgrade is compared with them */
#define WS_ROUTES_MAX 4096
#define WS_WORKERS_MAX 256
/* rooms of one connection, and a room name's length */
#define WS_ROOMS_MAX 32
#define WS_ROOM_MAX 128
/* answers still being sent (timers) and schedules of one connection:
 * past them a new answer is dropped (counted, logged once) */
#define WS_SCRIPTS_MAX 256
#define WS_SCHEDULES_MAX 32
/* shortest schedule period */
#define WS_EVERY_MIN 10
/* bytes parsed at a time, so that parsing can stop between slices once
 * the answers pile up */
#define WS_FEED_SLICE 256
/* how long we wait for the peer's close frame after ours */
#define WS_CLOSE_WAIT_MS 5000

typedef struct ws_inst ws_inst_t;
typedef struct ws_conn ws_conn_t;

/* ---- shared state (ws_section.c) ----------------------------------------- */

typedef struct ws_shared {
    pthread_mutex_t mu; /* everything below, and the sh->mu members of
                           every registered ws_conn_t */
    char *endpoint;     /* the path of mocks without socket.path */
    char **routes;      /* known routes, the endpoint first */
    size_t n_routes;
    ws_inst_t *insts[WS_WORKERS_MAX]; /* by worker index, NULL when gone */
    ws_conn_t *conns;                 /* every open connection */
    uint64_t next_id;
    char cfg_err[256]; /* why the options are wrong, "" if they are not */
    /* socket.io (sio_server.h): sessions, sockets, known namespaces */
    struct sio_sess *sio_sessions;
    struct sio_sock *sio_socks;
    char **sio_nsps;
    size_t n_sio_nsps;
} ws_shared_t;

ws_shared_t *ws_shared(doppel_ctx_t *ctx, const doppel_services_t *svc);

/* "<stubs>/<ns>/rest" -> (ns, "/rest"); else (empty, the path). Returns 1
 * for the stubs form, 0 otherwise, -1 for a stubs path without a valid
 * namespace (ws_plugin.c). */
int ws_split_target(const ws_inst_t *in, const doppel_http_request_t *req,
                    doppel_str_t *ns, doppel_str_t *path);

/* 1 if some known route matches path (segments; :name and * as on http). */
int ws_route_known(ws_shared_t *sh, const char *path, size_t len);

extern const doppel_protocol_def_t ws_protocol_def;

/* ---- jobs: work for the loop that owns connections ----------------------- */

/* Someone waiting for jobs to finish (an action on an admin thread). */
typedef struct ws_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int pending; /* jobs not finished */
    int refs;    /* the waiter and every job not finished */
    long count;  /* connections the jobs reached */
} ws_wait_t;

enum { WS_JOB_SEND = 1, WS_JOB_CLOSE = 2 };

/* Which connections: of namespace ns, and of path (NULL: any), of room
 * (NULL: any), the one with id (0: any); skip is one to leave out (0:
 * none). nsp names socket.io sockets of that socket.io namespace (NULL:
 * plain WebSocket connections, and a socket.io socket only by id). */
typedef struct ws_target {
    char ns[WS_NS_MAX + 1];
    char *path;
    char *nsp;
    char *room;
    uint64_t id;
    uint64_t skip;
} ws_target_t;

typedef struct ws_job {
    ws_shared_t *sh;
    unsigned worker;
    int kind;
    ws_target_t t;
    int opcode; /* SEND: WS_OP_TEXT or WS_OP_BINARY */
    uint8_t *data;
    size_t len;
    unsigned code; /* CLOSE */
    char reason[124];
    char *event; /* SEND to socket.io: the event name (NULL: "message") */
    int drop;    /* CLOSE of socket.io: end the whole connection */
    ws_wait_t *wait; /* NULL, or counted and signalled when done */
} ws_job_t;

/* Copies the job for every worker and posts it (the caller's worker, if
 * self is not NULL, is served now, on the caller's thread). Returns the
 * number of connections served now; the others are counted into
 * job->wait when there is one. job is the caller's (copied). */
long ws_jobs_post(ws_shared_t *sh, const doppel_services_t *svc,
                  ws_inst_t *self, const ws_job_t *job);
void ws_wait_unref(ws_wait_t *w);

/* ---- instances ----------------------------------------------------------- */

struct ws_inst {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    ws_shared_t *sh;
    unsigned worker;
    const char *stubs_prefix; /* host-owned option string */
    const char *origins;      /* option: "ns=origin,origin;ns2=*" */
    const char *subprotocols; /* option: "a,b" or "*" */
    int deflate;              /* option permessage_deflate */
    size_t max_message;
    size_t max_backlog;
    uint64_t ping_interval_ms; /* 0: no pings */
    uint64_t pong_timeout_ms;
    int error_frames; /* answer a message no mock matched with an error */
    int journal_sent; /* journal the messages sent (engine_journal) */
    int draining;
    int stopping;
    int stop_waiting;
    size_t n_upgrading; /* http_upgrade calls whose on_accept is due */
    ws_conn_t *conns;   /* this loop's connections */
    size_t n_conns;
    int warned_full;
    struct sio_inst *sio; /* socket.io (sio_server.h), NULL when off */
};

/* ---- connections (ws_conn.c) --------------------------------------------- */

/* What the handshake settled, kept from the handler to on_accept. */
typedef struct ws_accept {
    ws_inst_t *in;
    char ns[WS_NS_MAX + 1];
    char *path;
    char *query;    /* raw, may be empty */
    char *protocol; /* chosen subprotocol, NULL: none */
    char remote[64];
    ws_deflate_params_t deflate;
    doppel_session_t *session;
} ws_accept_t;

void ws_accept_free(ws_accept_t *a);
/* on_accept of svc->http_upgrade (state: a ws_accept_t, taken over). */
int ws_conn_accept(void *state, doppel_conn_t *conn,
                   const doppel_conn_info_t *info);

/* Starts the close handshake with code and reason (code 0: drop the
 * connection without one). */
void ws_conn_shutdown(ws_conn_t *c, unsigned code, const char *reason);
/* Starts the close handshake on every connection of this loop. */
void ws_conn_close_all(ws_inst_t *in, unsigned code, const char *reason);
/* Serves a job on this loop: returns the connections it reached. */
long ws_conn_serve_job(ws_inst_t *in, const ws_job_t *job);
/* Once a second: pings, pong and close timeouts. */
void ws_conn_tick(ws_inst_t *in);
/* One line of the registry, for the `connections` action (sh->mu held). */
json_t *ws_conn_describe(const ws_conn_t *c);
/* 1 if c is one t names (sh->mu held or the owner's loop). */
int ws_conn_targeted(const ws_conn_t *c, const ws_target_t *t);
/* Joins (join 1) or leaves the room or rooms v names (a string or an
 * array of strings) in the set rooms[0..*n) of a connection or socket,
 * under sh->mu (the registry reads rooms); at most WS_ROOMS_MAX. */
void ws_rooms_apply(ws_shared_t *sh, char **rooms, size_t *n,
                    const json_t *v, int join);
/* Next in the registry (sh->mu held). */
ws_conn_t *ws_conn_reg_next(const ws_conn_t *c);

void ws_count(ws_inst_t *in, const char *name, const char *ns, uint64_t n);

#endif /* DOPPEL_WS_PLUGIN_H */
