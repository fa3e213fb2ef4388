/*
 * Private interface between the parts of the GraphQL plugin:
 *   graphql_plugin.c  descriptor, options, instances, delayed answers
 *   graphql_schema.c  the shared SDL schemas per (namespace, path), the
 *                     mock section (check, schema files, describe,
 *                     explain_miss)
 *   graphql_op.c      one GraphQL operation: parse, validate, execute with
 *                     every top-level field matched by the engine (the
 *                     entry point a WebSocket transport calls too)
 *   graphql_http.c    GraphQL-over-HTTP on the host's front: classifier,
 *                     request forms, media types, status codes, batches
 *   graphql_ws.c      graphql-transport-ws (subscriptions over WebSocket)
 *                     and the section's actions publish / subscriptions
 *
 * Threading: one instance per worker (gqlp_inst_t, its loop thread only);
 * the shared state (gqlp_shared_t) is read by every worker and by the
 * section callbacks on any thread, under its rwlock. A built schema is
 * immutable: readers hold a reference (gqlp_schema_ref), so a request in
 * flight finishes on the schema it started with while an upload swaps it.
 */
#ifndef DOPPEL_GRAPHQL_PLUGIN_H
#define DOPPEL_GRAPHQL_PLUGIN_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/plugin.h"
#include "gql.h"

#define GQLP_NS_MAX 64
#define GQLP_PATH_MAX 512
#define GQLP_DEFAULT_NS "sandbox"
#define GQLP_DEFAULT_ENDPOINT "/graphql"
/* known paths (the endpoint, schema paths, paths mocks named): a bound on
 * what mock writers can make every request's classifier compare against */
#define GQLP_PATHS_MAX 4096
/* schema files of one namespace */
#define GQLP_FILES_PER_NS 1000

/* ---- shared state (svc->shared) ------------------------------------------ */

/* One SDL file: uploaded (ns, name) or named in plugins.conf. */
typedef struct gqlp_file {
    char *ns;
    char *name;    /* "api/v2/graphql.users.graphql" */
    char *path;    /* the path it serves: "/api/v2/graphql" */
    char *content; /* NUL-terminated copy */
    size_t len;
} gqlp_file_t;

/* The schema of one (namespace, path): every file of the pair built
 * together. Reference-counted; immutable once published. */
typedef struct gqlp_schema {
    int refs; /* __atomic */
    char *ns;
    char *path;
    gql_schema_t *s;
    char **files; /* names, for describe */
    size_t n_files;
} gqlp_schema_t;

typedef struct gqlp_shared {
    pthread_rwlock_t lock; /* everything below */
    char *endpoint;        /* the plugin's path (option endpoint) */
    char *cfg_ns;          /* namespace of the option `schema` files */
    gqlp_file_t *cfg;      /* files of the option `schema` */
    size_t n_cfg;
    char cfg_err[768];   /* why they could not be loaded, "" if they were */
    gql_limits_t limits; /* for SDL too: a schema is a document */
    gqlp_file_t *files;  /* committed uploads */
    size_t n_files;
    gqlp_file_t *pending; /* put since the last commit */
    size_t n_pending;
    gqlp_schema_t **schemas;
    size_t n_schemas;
    char **paths; /* known paths, the endpoint first */
    size_t n_paths;
    /* The WebSocket registry (graphql_ws.c), under reg_mu: each worker's
     * instance, for publish to reach it through svc->post, and the open
     * subscriptions counted per "ns\x1fpath\x1ffield". */
    pthread_mutex_t reg_mu;
    struct gqlp_inst **insts;
    unsigned n_insts;
    struct gqlp_subcount *subs;
    size_t n_subs, cap_subs;
    uint64_t next_conn; /* the last graphql-transport-ws connection id,
                           __atomic */
} gqlp_shared_t;

typedef struct gqlp_subcount {
    char *key;
    size_t count;
} gqlp_subcount_t;

/* The shared state of the plugin section, created on first use from the
 * section's options (endpoint, schema, namespace, limits). NULL: out of
 * memory. */
gqlp_shared_t *gqlp_shared(doppel_ctx_t *ctx, const doppel_services_t *svc);

/* The schema serving (ns, path) with a reference (release it with
 * gqlp_schema_unref), or NULL when none is loaded there. ns empty:
 * sandbox. */
gqlp_schema_t *gqlp_schema_ref(gqlp_shared_t *sh, doppel_str_t ns,
                               doppel_str_t path);
void gqlp_schema_unref(gqlp_schema_t *s);

/* 1 if GraphQL requests may arrive on path (any namespace). */
int gqlp_path_known(gqlp_shared_t *sh, const char *path, size_t len);

/* The path a schema file serves: "/" + the name without its last
 * segment's extension and ".part" infix ("api/graphql.users.graphql" ->
 * "/api/graphql"). Returns the length written, or -EINVAL when the name
 * is not a schema file name. */
int gqlp_file_path(const char *name, size_t len, char *out, size_t cap);

/* The mock section definition. */
extern const doppel_protocol_def_t gqlp_protocol_def;

/* ---- instances ----------------------------------------------------------- */

typedef struct gqlp_pending gqlp_pending_t;
typedef struct gqlp_ws_conn gqlp_ws_conn_t;

typedef struct gqlp_inst {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    gqlp_shared_t *sh;
    const char *stubs_prefix; /* host-owned option string */
    gql_limits_t limits;
    uint32_t max_batch;
    uint32_t max_values; /* of an answer (gql_exec_opts_t.max_values) */
    int fake_missing;
    int introspection;
    int draining; /* the host is stopping: answer delayed ones now */
    int stopping;
    int stop_waiting; /* stop_done is due when the last forward ends */
    size_t n_forwarding; /* requests waiting for the upstream */
    gqlp_pending_t *pending; /* delayed answers */
    /* graphql-transport-ws (graphql_ws.c) */
    uint32_t ws_init_timeout_ms; /* connection_init due within it */
    uint32_t ws_max_subscriptions; /* per connection */
    size_t ws_max_message;         /* bytes of one message */
    int ws_deflate;                /* accept permessage-deflate */
    gqlp_ws_conn_t *ws_conns;      /* switched connections */
    size_t n_ws; /* connections and switches not called back yet */
} gqlp_inst_t;

/* ---- one operation (graphql_op.c) ----------------------------------------
 * The transport-independent entry point: GraphQL-over-HTTP calls it once
 * per request (per item of a batch); a graphql-transport-ws transport
 * would call it once per "subscribe" message, with transport GQLP_T_WS. */

typedef enum gqlp_transport {
    GQLP_T_HTTP_GET = 1,  /* queries only (mutations: 405) */
    GQLP_T_HTTP_POST = 2, /* queries and mutations */
    GQLP_T_WS = 3         /* also subscriptions (their first answer) */
} gqlp_transport_t;

/* One GraphQL request, borrowed for the call. */
typedef struct gqlp_request {
    const char *query;
    size_t query_len;
    const char *operation_name; /* NULL or "": the only operation */
    const json_t *variables;    /* object or NULL */
    const json_t *extensions;   /* object or NULL (not interpreted) */
} gqlp_request_t;

/* Where it came from, for the engine's exchanges (borrowed). */
typedef struct gqlp_origin {
    doppel_str_t ns;             /* empty: sandbox */
    doppel_str_t path;           /* the request's path, the exchanges' target */
    const doppel_kv_t *metadata; /* HTTP headers */
    size_t n_metadata;
    doppel_str_t request_id;
    doppel_str_t remote_addr;
    gqlp_transport_t transport;
    /* Set for a subscription event (graphql_ws.c): the engine is not
     * asked; each top-level field's value is taken from this object
     * ({"FIELD": value}), so the event is shaped by the selection set as
     * the first answer was. */
    const json_t *event_data;
    /* The graphql-transport-ws connection the operation came on ("gql-3"),
     * empty over HTTP: the journal's "connection". */
    doppel_str_t connection;
} gqlp_origin_t;

/* A top-level field a record-and-replay service answered PROXY: the
 * request is forwarded whole once the document ran (graphql_http.c), and
 * the field is recorded from its share of the upstream's answer. */
typedef struct gqlp_proxied {
    doppel_reply_t *reply; /* the engine's; freed by gqlp_result_clear or
                              by whoever takes it over */
    char *operation;       /* "query.user": the exchange's operation */
    char *field;           /* "user" */
    char *key;             /* the response key: the alias, else the field */
    char *body;            /* the exchange's body (field_body), JSON text */
    size_t item;           /* index in a batch; 0 for a single request */
} gqlp_proxied_t;

typedef struct gqlp_result {
    json_t *body;      /* {"data", "errors"} or {"errors"}; owned */
    int request_error; /* no execution: syntax, validation, operation,
                          variables, subscription over HTTP */
    int not_allowed;   /* a mutation over GET (HTTP 405, Allow: POST) */
    int status;        /* the first mock's statusCode other than 200;
                          0: none */
    uint32_t delay_ms; /* the largest delay of the mocks that answered */
    json_t *headers;   /* object: the mocks' response headers merged
                          (the first mock naming a header wins); owned */
    gqlp_inst_t *in;   /* frees the replies below */
    gqlp_proxied_t *proxied; /* fields answered PROXY (never over WS) */
    size_t n_proxied;
    /* the operation that ran was a subscription (over WS only) */
    int subscription;
    char sub_field[128]; /* its top-level field */
    int sub_matched;     /* a mock answered it */
    json_t *sub_extra;   /* that mock's doppel response fields
                            (subscriptionEvents, keepOpen); owned */
} gqlp_result_t;

/* Runs one request. Returns 0 with *out filled (release it with
 * gqlp_result_clear), or -ENOMEM. Synchronous: every field's mock is
 * matched through svc->engine_match on the caller's loop. */
int gqlp_run(gqlp_inst_t *in, const gqlp_request_t *rq, const gqlp_origin_t *o,
             gqlp_result_t *out);
/* Frees what r holds, the PROXY replies still in it included (unreported:
 * report them first, or take them over). */
void gqlp_result_clear(gqlp_result_t *r);
/* Frees the strings of p and its reply (when not NULL). */
void gqlp_proxied_clear(gqlp_inst_t *in, gqlp_proxied_t *p);

/* ---- GraphQL-over-HTTP (graphql_http.c) ---------------------------------- */

int gqlp_http_classify(void *state, const doppel_http_request_t *req);
int gqlp_http_handler(void *state, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req);

/* ---- graphql-transport-ws (graphql_ws.c) -------------------------------- */

/* 1 when req asks to switch to WebSocket offering graphql-transport-ws
 * (or the old graphql-ws, refused by the handler with a reason). */
int gqlp_ws_wants(const doppel_http_request_t *req);
/* Handles such a request on (ns, path); always finishes ex. */
void gqlp_ws_handle(gqlp_inst_t *in, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req, doppel_str_t ns,
                    doppel_str_t path);
/* Registers the instance for publish (init) / forgets it (destroy). */
int gqlp_ws_attach(gqlp_inst_t *in);
void gqlp_ws_detach(gqlp_inst_t *in);
/* Closes every connection with 1001 (draining, stopping). */
void gqlp_ws_close_all(gqlp_inst_t *in);
/* Calls stop_done once stopping and nothing is left in flight. */
void gqlp_maybe_stop_done(gqlp_inst_t *in);

extern const doppel_protocol_action_t gqlp_actions[];
int gqlp_action(doppel_ctx_t *ctx, const doppel_services_t *svc,
                doppel_str_t ns, const char *name, const char *args,
                size_t args_len, char **out, size_t *out_len);

/* ---- answers (graphql_plugin.c) ------------------------------------------ */

/* Sends status, headers and body now, or after delay_ms (not while the
 * host drains). Takes nothing over: copies what it keeps. */
void gqlp_answer(gqlp_inst_t *in, doppel_http_exchange_t *ex, int status,
                 const doppel_kv_t *headers, size_t n_headers, const char *body,
                 size_t len, uint32_t delay_ms);

/* Adds 1 to doppel_plugin_calls_total{plugin="graphql",operation,field,
 * outcome}. */
void gqlp_count(gqlp_inst_t *in, const char *op, const char *field,
                const char *outcome);

/* Small helpers shared by the parts. */
const char *gqlp_op_name(gql_op_kind_t op); /* "query" ... */
/* Prints a type reference as SDL ("[User!]!") into out; returns out. */
char *gqlp_type_str(const gql_type_ref_t *t, char *out, size_t cap);

#endif /* DOPPEL_GRAPHQL_PLUGIN_H */
