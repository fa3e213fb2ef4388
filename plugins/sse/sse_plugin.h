/*
 * Private interface between the parts of the SSE plugin:
 *   sse_chain.c    framing and event chains (dp_sse, no host services)
 *   sse_section.c  the "sse" mock section (check) and the paths mocks
 *                  named, shared by every instance of the section
 *   sse_stream.c   one subscription: the engine exchange, the answer, the
 *                  stream's timers, ends
 *   sse_plugin.c   descriptor, options, instances, classifier, drain
 *
 * Threading: one instance per worker (sse_inst_t and its streams, its loop
 * thread only); the known paths (sse_shared_t) are written by check on any
 * thread and read by every worker's classifier, under their rwlock.
 */
#ifndef DOPPEL_SSE_PLUGIN_H
#define DOPPEL_SSE_PLUGIN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/plugin.h"
#include "sse_chain.h"

#define SSE_NS_MAX 64
#define SSE_PATH_MAX 512
/* distinct eventPaths the classifier compares a GET against: a bound on
 * what mock writers can make every request pay */
#define SSE_PATHS_MAX 4096

/* ---- shared state (svc->shared) ------------------------------------------ */

struct sse_inst;

/* Open streams of one (namespace, path), for the actions. */
typedef struct sse_sub {
    char *key; /* "ns\x1fpath" */
    uint32_t count;
} sse_sub_t;

typedef struct sse_shared {
    pthread_rwlock_t lock;
    char **paths; /* eventPath routes ("/events/:id"), never removed */
    size_t n_paths;
    int any_path; /* some mock has no eventPath (it takes every path);
                     never cleared, __atomic */
    /* The registry the operator actions read (sse_publish.c), under
     * reg_mu: each worker's instance by worker index (NULL before init
     * and after destroy, which run on that worker's loop, as do the
     * deliveries that look it up), and the open streams per
     * (namespace, path). */
    pthread_mutex_t reg_mu;
    struct sse_inst **insts;
    unsigned n_insts;
    sse_sub_t *subs;
    size_t n_subs, cap_subs;
    /* the last stream id given (the journal's "connection"), __atomic */
    uint64_t next_id;
} sse_shared_t;

sse_shared_t *sse_shared(doppel_ctx_t *ctx, const doppel_services_t *svc);

/* 1 if path (a request path, no query) is one an sse mock's eventPath
 * names: segments equal, ":name" matching one non-empty segment, "*" the
 * rest of the path. */
int sse_path_known(sse_shared_t *sh, const char *path, size_t len);

/* ---- the registry and the operator actions (sse_publish.c) ---------------
 * Actions: `subscribers` (read) lists the open streams of a namespace per
 * path; `publish` (write) sends one event to every open stream of a path
 * in a namespace, on every worker, between the events of their chains. */
extern const doppel_protocol_action_t sse_actions[];
int sse_action(doppel_ctx_t *ctx, const doppel_services_t *svc,
               doppel_str_t ns, const char *name, const char *args,
               size_t args_len, char **out, size_t *out_len);
/* An instance joins (init) or leaves (destroy) the registry. 0 or
 * -ENOMEM. */
int sse_registry_attach(struct sse_inst *in);
void sse_registry_detach(struct sse_inst *in);
/* A stream of key ("ns\x1fpath") opened or ended. */
void sse_sub_add(sse_shared_t *sh, const char *key);
void sse_sub_del(sse_shared_t *sh, const char *key);
/* The streams' key for (ns, path), malloc'd; NULL when out of memory. */
char *sse_key(doppel_str_t ns, doppel_str_t path);

extern const doppel_protocol_def_t sse_protocol_def;

/* ---- events a store change sends (sse_store.c) ---------------------------
 * The section's onStoreChange: [{key, scope, eventName, id, data}]. */
#define SSE_RULES_MAX 16
#define SSE_RULE_KEY_MAX 128

typedef struct sse_rule {
    char *key;   /* the global store key that sends it */
    char *event; /* eventName, NULL: none */
    char *id;    /* NULL: none */
    char *tmpl;  /* the data template's JSON text */
} sse_rule_t;

/* 0, or -EINVAL with field ("sse.onStoreChange[1].key") and msg filled. */
int sse_rules_check(const json_t *v, char *field, size_t flen, char *msg,
                    size_t mlen);
/* The rules of a checked onStoreChange (NULL or not an array: none).
 * 0 or -ENOMEM. */
int sse_rules_parse(const json_t *v, sse_rule_t **out, size_t *n);
void sse_rules_free(sse_rule_t *rules, size_t n);

struct sse_inst;
/* The event rule r sends now, rendered in namespace ns, framed into
 * frame. 0, or a negative errno (nothing to send). Loop thread. */
int sse_rule_frame(struct sse_inst *in, const char *ns, const sse_rule_t *r,
                   sse_buf_t *frame);

/* ---- instances ----------------------------------------------------------- */

typedef struct sse_stream sse_stream_t;

typedef struct sse_inst {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    sse_shared_t *sh;
    const char *stubs_prefix; /* host-owned option strings */
    const char *exclude;
    uint32_t max_streams;
    int journal;      /* the host has engine_journal: stream ends */
    int journal_sent; /* and every event sent (option journal_sent) */
    int draining; /* the host is stopping: no new streams, open ones end */
    int stopping;
    size_t n_streams;
    size_t n_rule_streams; /* open streams that have onStoreChange rules */
    sse_stream_t *streams; /* open streams, a doubly linked list */
} sse_inst_t;

/* Why a stream ended, as the metric label and the log say it. */
typedef enum sse_end {
    SSE_END_DONE = 0,  /* the chain is over (no loop) */
    SSE_END_MAX_LOOPS, /* maxLoops reached */
    SSE_END_MAX_TIME,  /* maxTime reached */
    SSE_END_DRAIN,     /* the host is stopping */
    SSE_END_GONE,      /* the client went away */
    SSE_END_SLOW,      /* the client let the backlog pile up */
    SSE_END_ERROR      /* out of memory */
} sse_end_t;

/* Serves one subscription (the HTTP handler). */
int sse_subscribe(void *state, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req);

/* Ends a stream cleanly (its last bytes, then the chunked terminator) and
 * frees it. */
void sse_stream_end(sse_stream_t *s, sse_end_t why);

/* Ends every open stream (drain, stop). */
void sse_end_all(sse_inst_t *in, sse_end_t why);

/* Probes every open stream with an empty write, so that a client that went
 * away is noticed within a second even on a silent stream (TICK). */
void sse_probe_all(sse_inst_t *in);

/* Sends the events the rules of every open stream of ns ask for when the
 * global store key changes (DOPPEL_EVENT_STORE_CHANGED). Loop thread. */
void sse_store_changed(sse_inst_t *in, const doppel_store_event_t *ev);

/* Writes frame to every open stream of in whose key is key (a stream that
 * fails the write ends); returns how many took it. Loop thread. */
size_t sse_push_key(sse_inst_t *in, const char *key, const char *frame,
                    size_t len);

#endif /* DOPPEL_SSE_PLUGIN_H */
