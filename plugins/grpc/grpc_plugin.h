/*
 * Private interface between the parts of the gRPC plugin:
 *   grpc_plugin.c   descriptor, options, instances, connections, calls
 *   grpc_schema.c   the shared .proto pools and the mock section checks
 *   grpc_builtin.c  server reflection and health, answered by the plugin
 */
#ifndef DOPPEL_GRPC_PLUGIN_H
#define DOPPEL_GRPC_PLUGIN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/plugin.h"
#include "grpc_wire.h"
#include "pb/grpcpb.h"

#define GRPC_NS_MAX 64

/* ---- shared state (svc->shared): the .proto pools ---------------------- */

typedef struct grpc_file {
    char *name;
    char *content;
    size_t len;
} grpc_file_t;

/* The files uploaded to one namespace, and the pool built from the
 * directories and them. */
typedef struct grpc_ns_files {
    char *ns;
    grpc_file_t *files;
    size_t n;
    grpc_file_t *pending; /* put since the last commit */
    size_t n_pending;
    gpb_pool_t *pool; /* NULL: the namespace uses the base pool */
} grpc_ns_files_t;

typedef struct grpc_shared {
    pthread_mutex_t mu;
    char *proto_path;       /* colon list from plugins.conf, may be NULL */
    gpb_pool_t *base;       /* built-ins + proto_path; NULL if it failed */
    char base_err[GPB_ERR_MAX];
    grpc_ns_files_t *nss;
    size_t n_nss;
    /* "ns\x1f/pkg.Svc/Method\x1fopen": stream events some checked mock
     * answers (never shrinks: a deleted mock only costs a miss) */
    char **events;
    size_t n_events;
} grpc_shared_t;

/* The shared state of the plugin section (created on first use). */
grpc_shared_t *grpc_shared(doppel_ctx_t *ctx, const doppel_services_t *svc);
/* The pool that serves ns (a reference: gpb_pool_unref it), or NULL with
 * err set when no pool could be built. */
gpb_pool_t *grpc_pool_for(grpc_shared_t *sh, const char *ns, size_t ns_len,
                          char *err, size_t errlen);

/* 1 when a mock for the stream event (open, close) of ns/target was
 * written since start. */
int grpc_event_known(grpc_shared_t *sh, const char *ns, const char *target,
                     const char *event);

/* The mock section definition (grpc_schema.c). */
extern const doppel_protocol_def_t grpc_protocol_def;

/* ---- built-in services (grpc_builtin.c) -------------------------------- */

typedef struct grpc_inst grpc_inst_t;
typedef struct grpc_call grpc_call_t;

/* 1 when path names a service the plugin answers itself (reflection,
 * health) and the call was taken over, 0 otherwise. */
int grpc_builtin_start(grpc_call_t *gc, const char *svc_name,
                       const char *method);
/* 1 when svc_name is a built-in service the configuration turned off. */
int grpc_builtin_disabled(grpc_call_t *gc, const char *svc_name);
void grpc_builtin_message(grpc_call_t *gc, const uint8_t *msg, size_t len);
void grpc_builtin_half_close(grpc_call_t *gc);
/* The host is draining: health watchers hear NOT_SERVING. */
void grpc_builtin_draining(grpc_inst_t *in);

/* ---- what grpc_builtin.c needs of grpc_plugin.c ------------------------ */

struct grpc_call {
    grpc_inst_t *in;
    struct grpc_conn *conn;
    gw_call_t *call;
    gpb_pool_t *pool; /* reference */
    char ns[GRPC_NS_MAX + 1];
    char *service; /* "pkg.Svc" */
    char *method;  /* "Method" */
    gpb_method_info_t mi;
    int kind;      /* GRPC_KIND_* */
    int builtin;   /* 1: reflection, 2: health check, 3: health watch */
    int finished;  /* gw_call_finish done or cancelled */
    int half_closed;
    int blocked;   /* the next message waits for the client to read */
    uint64_t deadline_ms; /* absolute, loop clock; 0: none */
    uint64_t started_ms;
    doppel_timer_t *deadline_timer;
    /* unary / server-stream: the request message as JSON */
    char *req_json;
    size_t req_len;
    size_t n_msgs;
    /* client-stream: the messages so far, JSON texts joined by ',' */
    char *msgs;
    size_t msgs_len, msgs_cap;
    char *first_msg;
    size_t first_len;
    /* bidi: the engine session */
    doppel_session_t *session;
    /* answers in flight: a queue of timed sends */
    struct grpc_send *sends;
    size_t n_sends_open;
    struct grpc_call *prev, *next; /* instance's list of live calls */
    char watch_service[256];       /* health Watch */
    int watch_last;
};

enum {
    GRPC_KIND_UNARY = 0,
    GRPC_KIND_SERVER_STREAM = 1,
    GRPC_KIND_CLIENT_STREAM = 2,
    GRPC_KIND_BIDI = 3,
};

struct grpc_inst {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    grpc_shared_t *sh;
    const char *ns_default;
    int reflection, health;
    int draining, stopping, stop_waiting;
    gw_conn_cfg_t wire_cfg;
    struct grpc_conn *conns;
    size_t n_conns;
    grpc_call_t *calls;
    uint64_t seq;
};

/* Sends one message (JSON of type) on the call; 0 or a negative errno
 * (err set). */
int grpc_send_json(grpc_call_t *gc, const char *type, const char *json,
                   size_t len, char *err, size_t errlen);
/* Ends the call with a status (message may be NULL). */
void grpc_finish(grpc_call_t *gc, int code, const char *message);
/* Counts a finished call in the metrics. */
void grpc_count(grpc_call_t *gc, int code);

#endif
