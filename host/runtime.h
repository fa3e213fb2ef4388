/*
 * The host runtime: settings, plugin instances, worker threads and their
 * event loops, the services table, start-up and drain.
 *
 * Threads
 *   main thread  parses the CLI and config, loads plugins, opens the engine,
 *                starts workers, then runs its own loop for signals and the
 *                once-a-second engine flush; joins workers at exit.
 *   worker i     owns uv loop i, its router, its HTTP server and one copy
 *                (dp_ctx) of every enabled plugin instance. Everything a
 *                plugin copy does runs on its worker's thread.
 * Shared across workers, read-only after start: settings, instance table,
 * plugin descriptors and options. Shared and internally synchronised: the
 * engine (immutable index swapped atomically; stores behind short locks),
 * metrics (per-worker counters), instance states (atomics).
 */
#ifndef DP_RUNTIME_H
#define DP_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"
#include "conf/loader.h"
#include "engine.h"
#include "host.h"
#include "http/http_front.h"
#include "http/metrics.h"

#define DP_DEFAULT_PORT 5770
#define DP_EXIT_CONFIG 78 /* EX_CONFIG: configuration or plugin refused */
#define DP_EXIT_USAGE 64  /* EX_USAGE */

typedef struct dp_settings {
    char *listen_host;
    int listen_port;
    unsigned workers;
    char *data_dir;
    dp_http_limits_t limits;
    uint64_t drain_timeout_ms;
    /* Client connections of the whole process (see dp_settings_conn_share);
     * [server] max_connections, or the default from the descriptor limit */
    size_t max_connections;
    int max_connections_auto; /* derived, not configured */
    uint64_t nofile;          /* RLIMIT_NOFILE (soft) at start */
    size_t journal_size;
    dp_engine_limits_conf_t engine_limits;
    int auth;         /* tokens required on /api/v1 */
    int metrics_auth; /* /metrics needs a token */
    int allow_private_upstreams; /* outbound guard lifted */
    char default_mode[16];       /* record/replay: "SPY" */
    char redact_headers[1024];   /* extra credential headers */
    size_t record_body_max;
    size_t record_sequence_max;
    unsigned mock_versions_max; /* versions kept per mock, 0: none */
} dp_settings_t;

/* Reads [server] of c into s (defaults for what is absent). Unknown keys and
 * bad values: -EINVAL and "FILE:LINE: ..." in err. */
int dp_settings_load(const dp_conf_t *c, dp_settings_t *s, char *err,
                     size_t errlen);
/* The connection cap of one listener on one worker: max_connections split
 * evenly across workers, at least 1. */
size_t dp_settings_conn_share(const dp_settings_t *s, unsigned workers);
/* The default max_connections for a descriptor limit: the limit less
 * max(64, limit / 4), kept for the store, the plugins' own sockets and
 * files, outbound connections and the loops' descriptors; half the limit
 * when that leaves less than that. */
size_t dp_settings_default_connections(uint64_t nofile);
/* Overrides the listen address ("HOST:PORT", "[V6]:PORT"); -EINVAL. */
int dp_settings_set_listen(dp_settings_t *s, const char *v);
void dp_settings_free(dp_settings_t *s);

/* One enabled plugins.conf section. */
typedef struct dp_instance {
    char *name;
    dp_plugin_lib_t *lib;
    dp_options_t *opts;
    int metrics_owner;
    _Atomic unsigned started;  /* copies whose start returned 0 */
    _Atomic unsigned stopped;  /* copies that finished stopping */
    _Atomic int failed;
    /* svc->shared: the section's state, its destructor, and the copies
     * alive (init called, destroy not yet returned). Under the host's
     * shared-state mutex (services.c). */
    void *shared;
    void (*shared_destroy)(void *state);
    unsigned live_copies;
    /* ABI 1.2: the ctx the protocol section's callbacks get (no worker),
     * when the plugin adds a section; owned, freed by dp_host_free. It
     * counts among live_copies from registration until the engine is
     * closed, so the shared state outlives every section callback. */
    struct doppel_ctx *section_ctx;
    /* ABI 1.2: connections its copies own (conn_listen, conn_claim), all
     * workers; the gauge doppel_conn_connections{instance=...} */
    _Atomic long conns;
} dp_instance_t;

/* A copy of in is about to be initialised / is gone (init failed or destroy
 * returned). The last one gone destroys the section's shared state. Any
 * thread. */
void dp_instance_copy_born(dp_instance_t *in);
void dp_instance_copy_gone(dp_instance_t *in);
/* Destroys shared state a section still holds (process exit). */
void dp_instance_shared_release(dp_instance_t *in);

typedef struct dp_worker dp_worker_t;

/* One copy of an instance on one worker; the services' doppel_ctx_t. A
 * section ctx (ABI 1.2: the ctx of protocol section callbacks, which run
 * on any thread) has inst set and worker NULL; services that need a loop
 * refuse it. */
struct doppel_ctx {
    dp_instance_t *inst;
    dp_worker_t *worker;
    void *state;
    uint64_t events; /* subscribed event numbers, bit per number */
    int initialised;
    int started;
    int stopping;
    int stopped;
    /* ABI 1.2: the connections, timers and watches this copy made (made
     * on first use, freed after destroy; host/conn_services.c) */
    struct dp_conn_set *io;
};

struct dp_host {
    dp_settings_t settings;
    dp_instance_t *instances;
    size_t n_instances;
    dp_worker_t **workers;
    unsigned n_workers;
    dp_engine_t *engine;
    dp_protos_t *protos; /* protocol sections (ABI 1.2), for the engine */
    dp_metrics_t *metrics;
    struct dp_auth *auth;
    _Atomic uint64_t subscribed; /* event numbers any copy subscribed to */
    uint64_t start_ms;
    _Atomic int ready;
    _Atomic int draining;
    uv_loop_t loop; /* main thread: signals, flush */
};

/* Worker life: created and run by dp_host_run. */
int dp_worker_create(dp_host_t *h, unsigned index, dp_worker_t **out);
/* Starts the thread: init plugin copies, bind (port given: 0 only for the
 * first worker), start copies. Blocks until that finished; returns 0 or a
 * negative errno with a message logged. */
int dp_worker_start(dp_worker_t *w, int port);
int dp_worker_port(dp_worker_t *w);
/* Listeners of plugin instances (svc->http_listen) on this worker: fills
 * the i-th one's bound address and instance name; -ENOENT past the end. */
int dp_worker_listener(dp_worker_t *w, size_t i, const char **host, int *port,
                       const char **instance);
/* Any thread: begin the orderly stop (drain HTTP, stop plugins, destroy
 * them, close the loop). */
void dp_worker_shutdown(dp_worker_t *w);
/* Waits for the worker's thread to end (idempotent). Join every worker
 * before freeing any: a copy may hold another worker's ctx (svc->post to a
 * sibling instance). */
void dp_worker_join(dp_worker_t *w);
void dp_worker_join_free(dp_worker_t *w);

extern const doppel_services_t dp_services;

/* Delivers event id with data to every copy on this worker that subscribed. */
void dp_worker_emit(dp_worker_t *w, uint32_t id, const void *data);
int dp_worker_subscribe(doppel_ctx_t *ctx, uint32_t id);

uv_loop_t *dp_worker_loop(dp_worker_t *w);
/* The worker's outbound HTTP client, made on first use; NULL on ENOMEM or
 * once the worker is stopping. Loop thread only. */
struct dp_outbound *dp_worker_outbound(dp_worker_t *w);
/* The worker's in-process HTTP server (svc->admin_call), made on first
 * use; NULL on ENOMEM or once the worker is stopping. Loop thread only. */
dp_http_server_t *dp_worker_local(dp_worker_t *w);
/* svc->http_listen: records a listener of ctx's own on address
 * ("HOST:PORT") serving only mount; bound by dp_worker_start. During init
 * only. 0, -EINVAL (bad address or mount), -EBUSY (after init), -ENOMEM. */
int dp_worker_listen(doppel_ctx_t *ctx, const char *address,
                     const doppel_http_mount_t *mount);
dp_router_t *dp_worker_router(dp_worker_t *w);
unsigned dp_worker_index(dp_worker_t *w);
dp_host_t *dp_worker_host(dp_worker_t *w);
/* Queue of functions posted from other threads. */
int dp_worker_post(dp_worker_t *w, void (*fn)(void *), void *data);
/* Delivers an engine change (mock or store) to every worker's subscribed
 * copies, on their own loops. Any thread; strings are copied. */
void dp_host_broadcast_mock(dp_host_t *h, const char *ns, const char *id,
                            unsigned change);
void dp_host_broadcast_store(dp_host_t *h, const char *ns, const char *scope,
                             const char *key);

/* Called by stop_done: one copy finished stopping. */
void dp_worker_copy_stopped(doppel_ctx_t *ctx);

/* True once the worker's thread has left its loop. Any thread. */
int dp_worker_finished(dp_worker_t *w);

/* What the command line says; NULL / 0 for "not given". */
typedef struct dp_cli {
    const char *config;
    const char *listen;
    const char *data;
    int workers;
    int no_auth; /* --no-auth: local mode */
    const char *mcp_listen; /* --mcp-listen: listen of every [mcp] section */
} dp_cli_t;

/* Whole-process life, used by main: prepare checks the configuration and
 * every enabled plugin before anything starts (returns 0 or an exit status,
 * the reason already printed); run starts the workers and returns when the
 * process drained (exit status); free releases what prepare made. */
int dp_host_prepare(dp_host_t *h, const dp_cli_t *cli);
int dp_host_run(dp_host_t *h);
void dp_host_free(dp_host_t *h);

uint64_t dp_now_ms(void);

/* Workers bind with SO_REUSEPORT, which would let a second doppel of the
 * same user silently share a port of a running one: binding once without
 * it first makes that an "address already in use" refusal. 0 or a
 * negative errno. */
int dp_probe_port_free(const char *host, int port);

#endif
