/*
 * A worker: one thread, one libuv loop, one router and HTTP server, and one
 * copy of every enabled plugin instance. Every plugin callback of a copy runs
 * on this thread.
 *
 * Life: create (main thread) -> start (thread: init copies, bind, start
 * copies; main waits for the result) -> run -> shutdown (drain HTTP and
 * tell the copies (DRAINING), stop copies, wait for their stop_done,
 * destroy them, close handles) -> join.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "auth/auth.h"
#include "base/log.h"
#include "conn_services.h"
#include "outbound/outbound.h"
#include "runtime.h"

typedef struct post_item {
    void (*fn)(void *);
    void *data;
    struct post_item *next;
} post_item_t;

enum { PHASE_RUN = 0, PHASE_DRAIN, PHASE_STOP, PHASE_DONE };

/* The copies' stop gets what the HTTP drain left of drain_timeout, but at
 * least this, so that a drain cut off by its timeout still lets them
 * close their own connections. */
#define STOP_MIN_MS 1000

/* A listener of a plugin instance's own (svc->http_listen). */
typedef struct listen_ent {
    doppel_ctx_t *ctx;
    char host[256];
    int port;   /* as asked; 0: ephemeral (the first worker's is reused) */
    int bound;  /* the port actually bound */
    dp_router_t *router; /* only the instance's mount */
    dp_http_server_t *server;
} listen_ent_t;

/* ABI 1.2: a raw listener of a plugin instance's own (svc->conn_listen).
 * Allocated one by one: the server's handoff holds the pointer. */
typedef struct conn_listen_ent {
    dp_worker_t *w;
    doppel_ctx_t *ctx;
    char host[256];
    int port;  /* as asked; 0: ephemeral (the first worker's is reused) */
    int bound; /* the port actually bound */
    doppel_conn_accept_fn on_accept;
    void *state;
    dp_http_server_t *server;
} conn_listen_ent_t;

_Static_assert(DOPPEL_CONN_CLAIM_PREFIX_MAX <= DP_HTTP_CLAIM_MAX,
               "the front keeps at most DP_HTTP_CLAIM_MAX bytes of a prefix");

/* ABI 1.2: a claim of the front's connections (svc->conn_claim). */
typedef struct claim_ent {
    doppel_ctx_t *ctx;
    uint8_t prefix[DOPPEL_CONN_CLAIM_PREFIX_MAX];
    size_t len;
    doppel_conn_accept_fn on_accept;
    void *state;
} claim_ent_t;

struct dp_worker {
    dp_host_t *host;
    unsigned index;
    uv_loop_t loop;
    uv_thread_t thread;
    int thread_started;
    dp_router_t *router;
    dp_http_server_t *server;
    doppel_ctx_t *ctxs;
    size_t n_ctxs;
    /* union of the copies' subscriptions; written during init on this
     * worker's thread, read by other workers' broadcasts */
    _Atomic uint64_t events;

    uv_async_t async;
    uv_mutex_t qlock;
    post_item_t *qhead, *qtail;
    int qclosed;
    int shutdown_requested;

    uv_timer_t tick;
    uv_timer_t stop_timer;
    int phase;
    _Atomic int finished;
    dp_outbound_t *outbound; /* made on first http_fetch */
    dp_http_server_t *local; /* made on first admin_call */
    listen_ent_t *listens;   /* svc->http_listen, in call order */
    size_t n_listens;
    conn_listen_ent_t **conn_listens; /* svc->conn_listen, in call order */
    size_t n_conn_listens;
    claim_ent_t *claims; /* svc->conn_claim; fixed once the copies' init ran */
    dp_http_claim_t *claim_view; /* the same, as the front reads them */
    size_t n_claims;
    unsigned drains_pending; /* servers still draining, + 1 while starting */
    uint64_t stop_deadline;  /* loop ms: drain_timeout after the stop began */
    int joined;

    /* start-up handshake with the main thread */
    uv_mutex_t m;
    uv_cond_t cv;
    int start_done;
    int start_rc;
    int port;
};

static const char *comp(dp_worker_t *w) { return w->index ? "worker" : "host"; }

uv_loop_t *dp_worker_loop(dp_worker_t *w) { return &w->loop; }
unsigned dp_worker_index(dp_worker_t *w) { return w->index; }
dp_host_t *dp_worker_host(dp_worker_t *w) { return w->host; }
int dp_worker_port(dp_worker_t *w) { return w->port; }
dp_router_t *dp_worker_router(dp_worker_t *w) { return w->router; }

dp_outbound_t *dp_worker_outbound(dp_worker_t *w)
{
    if (w->outbound == NULL && w->phase < PHASE_DONE) {
        dp_outbound_cfg_t cfg;
        dp_outbound_cfg_init(&cfg);
        cfg.allow_private = w->host->settings.allow_private_upstreams ||
                            dp_outbound_env_allow_private();
        w->outbound = dp_outbound_new(&w->loop, &cfg);
    }
    return w->outbound;
}
int dp_worker_finished(dp_worker_t *w) { return w->finished; }

dp_http_server_t *dp_worker_local(dp_worker_t *w)
{
    if (w->local == NULL && w->phase < PHASE_DONE) {
        dp_http_server_cfg_t cfg = {
            .limits = w->host->settings.limits,
            .router = w->router,
            .metrics = dp_metrics_worker(w->host->metrics, w->index),
        };
        if (dp_http_local_new(&w->loop, &cfg, &w->local) < 0)
            w->local = NULL;
    }
    return w->local;
}

int dp_worker_listen(doppel_ctx_t *ctx, const char *address,
                     const doppel_http_mount_t *mount)
{
    dp_worker_t *w = ctx->worker;
    char host[256];
    int port;
    if (address == NULL || mount == NULL ||
        mount->size < offsetof(doppel_http_mount_t, priority) + sizeof(int) ||
        dp_conf_parse_listen(address, host, sizeof(host), &port) != 0)
        return -EINVAL;
    if (ctx->initialised)
        return -EBUSY; /* listeners are bound right after every init */
    listen_ent_t *v = realloc(w->listens, (w->n_listens + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    w->listens = v;
    listen_ent_t *e = &v[w->n_listens];
    memset(e, 0, sizeof(*e));
    e->router = dp_router_new();
    if (e->router == NULL)
        return -ENOMEM;
    int rc = dp_router_add(e->router, mount, 0, ctx->inst->name);
    if (rc < 0) {
        dp_router_free(e->router);
        return rc;
    }
    e->ctx = ctx;
    snprintf(e->host, sizeof(e->host), "%s", host);
    e->port = port;
    w->n_listens++;
    return 0;
}

int dp_worker_listener(dp_worker_t *w, size_t i, const char **host, int *port,
                       const char **instance)
{
    if (w == NULL)
        return -ENOENT;
    if (i >= w->n_listens) {
        /* the conn_listen listeners come after the http_listen ones */
        size_t k = i - w->n_listens;
        if (k >= w->n_conn_listens || w->conn_listens[k]->server == NULL)
            return -ENOENT;
        *host = w->conn_listens[k]->host;
        *port = w->conn_listens[k]->bound;
        *instance = w->conn_listens[k]->ctx->inst->name;
        return 0;
    }
    if (w->listens[i].server == NULL)
        return -ENOENT;
    *host = w->listens[i].host;
    *port = w->listens[i].bound;
    *instance = w->listens[i].ctx->inst->name;
    return 0;
}

/* ---- ABI 1.2: listeners and claims handing raw connections over --------- */

int dp_worker_conn_listen(doppel_ctx_t *ctx, const char *address,
                          const doppel_conn_listener_t *l)
{
    dp_worker_t *w = ctx->worker;
    char host[256];
    int port;
    if (l->size < offsetof(doppel_conn_listener_t, on_accept) +
                      sizeof(l->on_accept) ||
        l->on_accept == NULL ||
        dp_conf_parse_listen(address, host, sizeof(host), &port) != 0)
        return -EINVAL;
    if (ctx->initialised)
        return -EBUSY; /* bound right after every init */
    conn_listen_ent_t **v =
        realloc(w->conn_listens, (w->n_conn_listens + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    w->conn_listens = v;
    conn_listen_ent_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    e->w = w;
    e->ctx = ctx;
    snprintf(e->host, sizeof(e->host), "%s", host);
    e->port = port;
    e->on_accept = l->on_accept;
    e->state = l->size >= offsetof(doppel_conn_listener_t, state) +
                             sizeof(l->state)
                   ? l->state
                   : NULL;
    v[w->n_conn_listens++] = e;
    return 0;
}

int dp_worker_conn_port(doppel_ctx_t *ctx, unsigned i)
{
    dp_worker_t *w = ctx->worker;
    unsigned k = 0;
    for (size_t j = 0; j < w->n_conn_listens; j++) {
        conn_listen_ent_t *e = w->conn_listens[j];
        if (e->ctx != ctx)
            continue;
        if (k++ == i)
            return e->server != NULL ? e->bound : -EAGAIN;
    }
    return -ENOENT;
}

int dp_worker_claim(doppel_ctx_t *ctx, const doppel_conn_claim_t *c)
{
    dp_worker_t *w = ctx->worker;
    if (c->size < offsetof(doppel_conn_claim_t, on_accept) +
                      sizeof(c->on_accept) ||
        c->prefix == NULL || c->prefix_len == 0 ||
        c->prefix_len > DOPPEL_CONN_CLAIM_PREFIX_MAX || c->on_accept == NULL)
        return -EINVAL;
    if (ctx->initialised)
        return -EBUSY; /* the front's servers read the claims from start */
    for (size_t i = 0; i < w->n_claims; i++) {
        const claim_ent_t *o = &w->claims[i];
        size_t n = o->len < c->prefix_len ? o->len : c->prefix_len;
        if (memcmp(o->prefix, c->prefix, n) == 0)
            return -EEXIST; /* one is a prefix of the other */
    }
    claim_ent_t *v = realloc(w->claims, (w->n_claims + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    w->claims = v;
    claim_ent_t *e = &v[w->n_claims++];
    memset(e, 0, sizeof(*e));
    e->ctx = ctx;
    memcpy(e->prefix, c->prefix, c->prefix_len);
    e->len = c->prefix_len;
    e->on_accept = c->on_accept;
    e->state = c->size >= offsetof(doppel_conn_claim_t, state) +
                             sizeof(c->state)
                   ? c->state
                   : NULL;
    return 0;
}

/* The instance's gauge of the connections its copies own. */
static void conn_gauge(dp_host_t *h, dp_instance_t *in, long delta)
{
    char labels[160];
    long n = atomic_fetch_add(&in->conns, delta) + delta;
    snprintf(labels, sizeof(labels), "instance=\"%s\"", in->name);
    dp_metrics_gauge_set(h->metrics, "doppel_conn_connections", labels,
                         (double)n);
}

/* What a plugin connection gives back when its descriptor closes: its
 * slot in the server that accepted it, its place in the gauge. */
typedef struct conn_slot {
    dp_http_server_t *server;
    dp_host_t *host;
    dp_instance_t *inst;
} conn_slot_t;

static void release_slot(void *arg)
{
    conn_slot_t *sl = arg;
    dp_http_server_release(sl->server);
    conn_gauge(sl->host, sl->inst, -1);
    free(sl);
}

/* A connection for ctx: wrapped and offered to on_accept, or closed when
 * the copy is not serving. */
static void adopt(dp_http_server_t *s, doppel_ctx_t *ctx, uv_os_sock_t fd,
                  uint32_t via, const uint8_t *buf, size_t len,
                  doppel_conn_accept_fn on_accept, void *state)
{
    dp_conn_set_t *set = NULL;
    conn_slot_t *sl = NULL;
    if (ctx->started && !ctx->stopping && !ctx->stopped)
        set = dp_ctx_conn_set(ctx);
    if (set == NULL || (sl = malloc(sizeof(*sl))) == NULL) {
        close(fd);
        dp_http_server_release(s);
        return;
    }
    *sl = (conn_slot_t){s, ctx->worker->host, ctx->inst};
    conn_gauge(sl->host, sl->inst, 1);
    int rc = dp_conn_adopt(set, fd, via, buf, len, on_accept, state,
                           release_slot, sl);
    if (rc < 0)
        dp_debug(ctx->inst->name, "connection refused: %s", strerror(-rc));
}

static void on_claim_handoff(void *arg, dp_http_server_t *s, size_t claim,
                             uv_os_sock_t fd, const uint8_t *buf, size_t len)
{
    dp_worker_t *w = arg;
    if (claim >= w->n_claims) { /* cannot happen: the front's claims */
        close(fd);
        dp_http_server_release(s);
        return;
    }
    claim_ent_t *e = &w->claims[claim];
    adopt(s, e->ctx, fd, DOPPEL_CONN_VIA_CLAIM, buf, len, e->on_accept,
          e->state);
}

static void on_listen_handoff(void *arg, dp_http_server_t *s, size_t claim,
                              uv_os_sock_t fd, const uint8_t *buf, size_t len)
{
    conn_listen_ent_t *e = arg;
    (void)claim;
    adopt(s, e->ctx, fd, DOPPEL_CONN_VIA_LISTEN, buf, len, e->on_accept,
          e->state);
}

/* ---- ABI 1.2 protocol switch (svc->http_upgrade) ------------------------
 * The token of one accepted switch: whose on_accept gets the connection.
 * on_accept is called exactly once: with the connection, or with NULL
 * when it was lost before (or could not be wrapped), so that the plugin
 * frees what it kept for it. */
typedef struct upgrade_token {
    doppel_ctx_t *ctx;
    doppel_conn_accept_fn on_accept;
    void *state;
    int called;
} upgrade_token_t;

static int upgrade_accept(void *arg, doppel_conn_t *conn,
                          const doppel_conn_info_t *info)
{
    upgrade_token_t *t = arg;
    t->called = 1;
    return t->on_accept(t->state, conn, info);
}

static void on_upgrade_handoff(void *arg, dp_http_server_t *s, uv_os_sock_t fd,
                               const uint8_t *buf, size_t len, void *token)
{
    (void)arg;
    upgrade_token_t *t = token;
    if (fd >= 0)
        adopt(s, t->ctx, fd, DOPPEL_CONN_VIA_UPGRADE, buf, len, upgrade_accept,
              t);
    /* A switch still queued when the servers close (a drain that timed
     * out) comes here after the copies were destroyed: the plugin is gone
     * and must not be called. */
    if (!t->called && t->ctx->initialised)
        (void)t->on_accept(t->state, NULL, NULL);
    free(t);
}

int dp_worker_upgrade(doppel_ctx_t *ctx, doppel_http_exchange_t *ex,
                      const doppel_kv_t *headers, size_t n_headers,
                      doppel_conn_accept_fn on_accept, void *state)
{
    if (ctx == NULL || ctx->worker == NULL || on_accept == NULL)
        return -EINVAL;
    upgrade_token_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    *t = (upgrade_token_t){ctx, on_accept, state, 0};
    int rc = dp_http_upgrade(ex, headers, n_headers, t);
    if (rc < 0)
        free(t);
    return rc;
}

/* The claims as the front's servers read them; after every init. */
static int claims_freeze(dp_worker_t *w)
{
    if (w->n_claims == 0)
        return 0;
    w->claim_view = calloc(w->n_claims, sizeof(*w->claim_view));
    if (w->claim_view == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < w->n_claims; i++)
        w->claim_view[i] = (dp_http_claim_t){w->claims[i].prefix,
                                             w->claims[i].len};
    return 0;
}

static void claims_apply(dp_worker_t *w, dp_http_server_cfg_t *cfg)
{
    cfg->claims = w->claim_view;
    cfg->n_claims = w->claim_view ? w->n_claims : 0;
    cfg->handoff = on_claim_handoff;
    cfg->handoff_arg = w;
    cfg->upgrade = on_upgrade_handoff;
}

/* ---- posting across threads ------------------------------------------- */

static void drain_posts(uv_async_t *a)
{
    dp_worker_t *w = a->data;
    uv_mutex_lock(&w->qlock);
    post_item_t *it = w->qhead;
    w->qhead = w->qtail = NULL;
    uv_mutex_unlock(&w->qlock);
    while (it) {
        post_item_t *next = it->next;
        it->fn(it->data);
        free(it);
        it = next;
    }
}

int dp_worker_post(dp_worker_t *w, void (*fn)(void *), void *data)
{
    post_item_t *it = malloc(sizeof(*it));
    if (it == NULL)
        return -ENOMEM;
    it->fn = fn;
    it->data = data;
    it->next = NULL;
    uv_mutex_lock(&w->qlock);
    if (w->qclosed) {
        uv_mutex_unlock(&w->qlock);
        free(it);
        return -ESHUTDOWN;
    }
    if (w->qtail)
        w->qtail->next = it;
    else
        w->qhead = it;
    w->qtail = it;
    uv_async_send(&w->async);
    uv_mutex_unlock(&w->qlock);
    return 0;
}

/* ---- events ------------------------------------------------------------ */

void dp_worker_emit(dp_worker_t *w, uint32_t id, const void *data)
{
    if (id >= 64 || !(w->events & (UINT64_C(1) << id)))
        return;
    doppel_event_t ev = {.size = sizeof(ev), .id = id, .data_version = 1,
                         .data = data};
    for (size_t i = 0; i < w->n_ctxs; i++) {
        doppel_ctx_t *c = &w->ctxs[i];
        const doppel_plugin_t *d = c->inst->lib->desc;
        if (!c->started || c->stopped || !(c->events & (UINT64_C(1) << id)) ||
            d->on_event == NULL)
            continue;
        int rc = d->on_event(c->state, &ev);
        if (rc < 0)
            dp_warn(c->inst->name, "event %u handler failed: %s", id,
                    strerror(-rc));
    }
}

int dp_worker_subscribe(doppel_ctx_t *ctx, uint32_t id)
{
    if (id == 0 || id >= DOPPEL_EVENT_COUNT)
        return -EINVAL;
    ctx->events |= UINT64_C(1) << id;
    atomic_fetch_or(&ctx->worker->events, UINT64_C(1) << id);
    atomic_fetch_or(&ctx->worker->host->subscribed, UINT64_C(1) << id);
    return 0;
}

/* ---- engine changes, delivered on each worker's loop -------------------- */

typedef struct change_ev {
    dp_worker_t *w;
    uint32_t id; /* DOPPEL_EVENT_MOCK_CHANGED or _STORE_CHANGED */
    unsigned change;
    size_t l1, l2, l3;
    char s[]; /* three strings, NUL-separated */
} change_ev_t;

static void deliver_change(void *data)
{
    change_ev_t *ev = data;
    const char *a = ev->s, *b = a + ev->l1 + 1, *c = b + ev->l2 + 1;
    if (ev->id == DOPPEL_EVENT_MOCK_CHANGED) {
        doppel_mock_event_t me = {sizeof(me), {a, ev->l1}, {b, ev->l2},
                                  ev->change};
        dp_worker_emit(ev->w, ev->id, &me);
    } else {
        doppel_store_event_t se = {sizeof(se), {a, ev->l1}, {b, ev->l2},
                                   {c, ev->l3}};
        dp_worker_emit(ev->w, ev->id, &se);
    }
    free(ev);
}

static void broadcast(dp_host_t *h, uint32_t id, unsigned change,
                      const char *a, const char *b, const char *c)
{
    if (!(atomic_load(&h->subscribed) & (UINT64_C(1) << id)) ||
        h->workers == NULL)
        return;
    size_t l1 = strlen(a), l2 = strlen(b), l3 = c ? strlen(c) : 0;
    for (unsigned i = 0; i < h->n_workers; i++) {
        dp_worker_t *w = h->workers[i];
        if (w == NULL || !(w->events & (UINT64_C(1) << id)))
            continue;
        change_ev_t *ev = malloc(sizeof(*ev) + l1 + l2 + l3 + 3);
        if (ev == NULL)
            continue; /* an event lost to ENOMEM; the change itself stands */
        *ev = (change_ev_t){w, id, change, l1, l2, l3};
        memcpy(ev->s, a, l1 + 1);
        memcpy(ev->s + l1 + 1, b, l2 + 1);
        memcpy(ev->s + l1 + l2 + 2, c ? c : "", l3 + 1);
        if (dp_worker_post(w, deliver_change, ev) < 0)
            free(ev); /* the worker is stopping */
    }
}

void dp_host_broadcast_mock(dp_host_t *h, const char *ns, const char *id,
                            unsigned change)
{
    broadcast(h, DOPPEL_EVENT_MOCK_CHANGED, change, ns, id, NULL);
}

void dp_host_broadcast_store(dp_host_t *h, const char *ns, const char *scope,
                             const char *key)
{
    broadcast(h, DOPPEL_EVENT_STORE_CHANGED, 0, ns, scope, key);
}

static void on_tick(uv_timer_t *t)
{
    dp_worker_t *w = t->data;
    dp_worker_emit(w, DOPPEL_EVENT_TICK, NULL);
}

/* ---- creation and start-up --------------------------------------------- */

int dp_worker_create(dp_host_t *h, unsigned index, dp_worker_t **out)
{
    dp_worker_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->host = h;
    w->index = index;
    w->n_ctxs = h->n_instances;
    w->ctxs = calloc(w->n_ctxs ? w->n_ctxs : 1, sizeof(*w->ctxs));
    int rc = w->ctxs ? uv_loop_init(&w->loop) : -ENOMEM;
    if (rc < 0) {
        free(w->ctxs);
        free(w);
        return rc;
    }
    uv_mutex_init(&w->qlock);
    uv_mutex_init(&w->m);
    uv_cond_init(&w->cv);
    uv_async_init(&w->loop, &w->async, drain_posts);
    w->async.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_init(&w->loop, &w->stop_timer);
    w->stop_timer.data = w;
    for (size_t i = 0; i < w->n_ctxs; i++) {
        w->ctxs[i].inst = &h->instances[i];
        w->ctxs[i].worker = w;
    }
    *out = w;
    return 0;
}

static void destroy_copies(dp_worker_t *w)
{
    for (size_t i = w->n_ctxs; i-- > 0;) {
        doppel_ctx_t *c = &w->ctxs[i];
        if (!c->initialised)
            continue;
        const doppel_plugin_t *d = c->inst->lib->desc;
        dp_conn_set_shutdown(c->io); /* timers, watches: -ESHUTDOWN now */
        if (d->destroy)
            d->destroy(c->state);
        /* what the copy left open is closed without callbacks; before the
         * servers go, since a connection holds a slot in one of them */
        dp_ctx_conn_release(c);
        c->initialised = 0;
        c->state = NULL;
        dp_instance_copy_gone(c->inst);
    }
}

static void close_cb(uv_handle_t *hd) { (void)hd; }

/* Closes the worker's own handles so uv_run returns. */
static void close_worker_handles(dp_worker_t *w)
{
    uv_mutex_lock(&w->qlock);
    w->qclosed = 1;
    uv_mutex_unlock(&w->qlock);
    if (w->server) {
        dp_http_server_free(w->server);
        w->server = NULL;
    }
    for (size_t i = 0; i < w->n_listens; i++) {
        dp_http_server_free(w->listens[i].server);
        w->listens[i].server = NULL;
    }
    for (size_t i = 0; i < w->n_conn_listens; i++) {
        dp_http_server_free(w->conn_listens[i]->server);
        w->conn_listens[i]->server = NULL;
    }
    if (w->local) {
        dp_http_server_free(w->local);
        w->local = NULL;
    }
    uv_close((uv_handle_t *)&w->tick, close_cb);
    uv_close((uv_handle_t *)&w->stop_timer, close_cb);
    uv_close((uv_handle_t *)&w->async, close_cb);
}

static void stop_copies(dp_worker_t *w);

/* Binds the plugins' own listeners like the main port: per worker with
 * SO_REUSEPORT, the first worker probing that no other process holds the
 * port and choosing the port for "port 0". */
static int bind_listeners(dp_worker_t *w)
{
    dp_host_t *h = w->host;
    dp_worker_t *first = h->workers ? h->workers[0] : NULL;
    for (size_t i = 0; i < w->n_listens; i++) {
        listen_ent_t *e = &w->listens[i];
        int port = e->port;
        if (port == 0 && first != NULL && first != w && i < first->n_listens &&
            first->listens[i].ctx->inst == e->ctx->inst)
            port = first->listens[i].bound;
        int rc = 0;
        if (w->index == 0 && port != 0 && h->n_workers > 1)
            rc = dp_probe_port_free(e->host, port);
        if (rc == 0) {
            dp_http_server_cfg_t cfg = {
                .host = e->host,
                .port = port,
                .reuseport = h->n_workers > 1,
                .limits = h->settings.limits,
                .router = e->router,
                .metrics = dp_metrics_worker(h->metrics, w->index),
            };
            /* the same cap and descriptor handling as the main port */
            cfg.limits.max_connections =
                dp_settings_conn_share(&h->settings, h->n_workers);
            claims_apply(w, &cfg); /* every http_listen port is claimable */
            rc = dp_http_server_start(&w->loop, &cfg, &e->server);
        }
        if (rc < 0) {
            e->server = NULL;
            dp_error(e->ctx->inst->name,
                     "cannot listen on %s:%d (instance '%s'): %s", e->host,
                     port, e->ctx->inst->name, uv_strerror(rc));
            e->ctx->inst->failed = 1;
            return rc;
        }
        e->bound = dp_http_server_port(e->server);
    }
    for (size_t i = 0; i < w->n_conn_listens; i++) {
        conn_listen_ent_t *e = w->conn_listens[i];
        int port = e->port;
        if (port == 0 && first != NULL && first != w &&
            i < first->n_conn_listens &&
            first->conn_listens[i]->ctx->inst == e->ctx->inst)
            port = first->conn_listens[i]->bound;
        int rc = 0;
        if (w->index == 0 && port != 0 && h->n_workers > 1)
            rc = dp_probe_port_free(e->host, port);
        if (rc == 0) {
            dp_http_server_cfg_t cfg = {
                .host = e->host,
                .port = port,
                .reuseport = h->n_workers > 1,
                .limits = h->settings.limits,
                .metrics = dp_metrics_worker(h->metrics, w->index),
                .raw = 1,
                .handoff = on_listen_handoff,
                .handoff_arg = e,
            };
            cfg.limits.max_connections =
                dp_settings_conn_share(&h->settings, h->n_workers);
            rc = dp_http_server_start(&w->loop, &cfg, &e->server);
        }
        if (rc < 0) {
            e->server = NULL;
            dp_error(e->ctx->inst->name,
                     "cannot listen on %s:%d (instance '%s'): %s", e->host,
                     port, e->ctx->inst->name, uv_strerror(rc));
            e->ctx->inst->failed = 1;
            return rc;
        }
        e->bound = dp_http_server_port(e->server);
    }
    return 0;
}

/* Says once what the connection cap is and where it comes from, and warns
 * when a configured cap is more than the descriptors can back. */
static void log_connection_cap(dp_host_t *h, size_t share)
{
    const dp_settings_t *st = &h->settings;
    size_t fit = dp_settings_default_connections(st->nofile);
    dp_info("host",
            "connections: at most %zu per listener on each of %u worker%s "
            "(max_connections %zu%s; descriptor limit %llu)",
            share, h->n_workers, h->n_workers == 1 ? "" : "s",
            st->max_connections, st->max_connections_auto ? ", derived" : "",
            (unsigned long long)st->nofile);
    if (!st->max_connections_auto && st->max_connections > fit)
        dp_warn("host",
                "max_connections %zu is more than the descriptor limit %llu "
                "leaves room for (%zu): accept will fail with 'too many open "
                "files' first, and then closes idle connections or pauses",
                st->max_connections, (unsigned long long)st->nofile, fit);
}

static int start_in_thread(dp_worker_t *w)
{
    dp_host_t *h = w->host;
    int rc;
    w->router = dp_router_new();
    if (w->router == NULL)
        return -ENOMEM;
    if ((rc = dp_health_mount(w->router, h)) < 0 ||
        (rc = dp_admin_mount(w->router, h->engine, h->auth)) < 0 ||
        (rc = dp_auth_mount(w->router, h->auth)) < 0 ||
        (rc = dp_server_routes_mount(w->router, h)) < 0) {
        dp_error(comp(w), "cannot mount host routes: %s", strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < w->n_ctxs; i++) {
        doppel_ctx_t *c = &w->ctxs[i];
        const doppel_plugin_t *d = c->inst->lib->desc;
        dp_instance_copy_born(c->inst);
        rc = d->init(c, &dp_services, &c->state);
        if (rc < 0) {
            dp_instance_copy_gone(c->inst);
            dp_error(c->inst->name, "init failed on worker %u: %s", w->index,
                     strerror(-rc));
            c->inst->failed = 1;
            return rc;
        }
        c->initialised = 1;
    }
    if ((rc = claims_freeze(w)) < 0)
        return rc;
    if (w->index == 0) { /* the gauge is there, at 0, from the start */
        for (size_t i = 0; i < w->n_conn_listens; i++)
            conn_gauge(h, w->conn_listens[i]->ctx->inst, 0);
        for (size_t i = 0; i < w->n_claims; i++)
            conn_gauge(h, w->claims[i].ctx->inst, 0);
    }
    dp_http_server_cfg_t cfg = {
        .host = h->settings.listen_host,
        .port = w->port,
        .reuseport = h->n_workers > 1,
        .limits = h->settings.limits,
        .router = w->router,
        .metrics = dp_metrics_worker(h->metrics, w->index),
    };
    cfg.limits.max_connections =
        dp_settings_conn_share(&h->settings, h->n_workers);
    if (w->index == 0)
        log_connection_cap(h, cfg.limits.max_connections);
    claims_apply(w, &cfg);
    rc = dp_http_server_start(&w->loop, &cfg, &w->server);
    if (rc < 0) {
        dp_error(comp(w), "cannot listen on %s:%d: %s", cfg.host, cfg.port,
                 uv_strerror(rc));
        return rc;
    }
    w->port = dp_http_server_port(w->server);
    if ((rc = bind_listeners(w)) < 0)
        return rc;
    for (size_t i = 0; i < w->n_ctxs; i++) {
        doppel_ctx_t *c = &w->ctxs[i];
        const doppel_plugin_t *d = c->inst->lib->desc;
        rc = d->start ? d->start(c->state) : 0;
        if (rc < 0) {
            dp_error(c->inst->name, "start failed on worker %u: %s", w->index,
                     strerror(-rc));
            c->inst->failed = 1;
            return rc;
        }
        c->started = 1;
        atomic_fetch_add(&c->inst->started, 1);
    }
    uv_timer_start(&w->tick, on_tick, 1000, 1000);
    return 0;
}

static void worker_main(void *arg)
{
    dp_worker_t *w = arg;
    int rc = start_in_thread(w);
    uv_mutex_lock(&w->m);
    w->start_rc = rc;
    w->start_done = 1;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->m);
    if (rc < 0) {
        /* A failed start: copies that did start are stopped (no drain: the
         * server never served), then everything initialised is destroyed. */
        w->phase = PHASE_DRAIN;
        stop_copies(w);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    w->finished = 1;
}

int dp_worker_start(dp_worker_t *w, int port)
{
    w->port = port;
    int rc = uv_thread_create(&w->thread, worker_main, w);
    if (rc < 0)
        return rc;
    w->thread_started = 1;
    uv_mutex_lock(&w->m);
    while (!w->start_done)
        uv_cond_wait(&w->cv, &w->m);
    rc = w->start_rc;
    uv_mutex_unlock(&w->m);
    return rc;
}

/* ---- orderly stop ------------------------------------------------------ */

static void finish_stop(dp_worker_t *w)
{
    if (w->phase == PHASE_DONE)
        return;
    w->phase = PHASE_DONE;
    uv_timer_stop(&w->stop_timer);
    /* Functions posted to this loop and accepted run now, while the copies
     * they were posted for still exist; later posts get -ESHUTDOWN. */
    uv_mutex_lock(&w->qlock);
    w->qclosed = 1;
    uv_mutex_unlock(&w->qlock);
    drain_posts(&w->async);
    /* Outbound requests and in-process admin calls still in flight are
     * called back (-ECANCELED) now, while the copies that made them still
     * exist. */
    if (w->outbound) {
        dp_outbound_free(w->outbound);
        w->outbound = NULL;
    }
    if (w->local) {
        dp_http_server_free(w->local);
        w->local = NULL;
    }
    destroy_copies(w);
    close_worker_handles(w);
}

static int all_stopped(dp_worker_t *w)
{
    for (size_t i = 0; i < w->n_ctxs; i++)
        if (w->ctxs[i].started && !w->ctxs[i].stopped)
            return 0;
    return 1;
}

void dp_worker_copy_stopped(doppel_ctx_t *ctx)
{
    dp_worker_t *w = ctx->worker;
    if (ctx->stopped)
        return;
    ctx->stopped = 1;
    atomic_fetch_add(&ctx->inst->stopped, 1);
    if (w->phase == PHASE_STOP && all_stopped(w))
        finish_stop(w);
}

static void on_stop_timeout(uv_timer_t *t)
{
    dp_worker_t *w = t->data;
    for (size_t i = 0; i < w->n_ctxs; i++)
        if (w->ctxs[i].started && !w->ctxs[i].stopped)
            dp_warn(w->ctxs[i].inst->name,
                    "did not finish stopping in time on worker %u", w->index);
    finish_stop(w);
}

static void stop_copies(dp_worker_t *w)
{
    w->phase = PHASE_STOP;
    /* One budget for the whole stop: the drain and the copies' stop
     * together take drain_timeout (plus at most STOP_MIN_MS). */
    uint64_t t = w->host->settings.drain_timeout_ms;
    if (w->stop_deadline != 0) {
        uint64_t now = uv_now(&w->loop);
        t = w->stop_deadline > now ? w->stop_deadline - now : 0;
        if (t < STOP_MIN_MS)
            t = STOP_MIN_MS;
    }
    uv_timer_start(&w->stop_timer, on_stop_timeout, t ? t : 1, 0);
    /* ABI 1.2: the plugins' own listeners accept no more; the connections
     * they handed over stay the plugins' until they close them */
    for (size_t i = 0; i < w->n_conn_listens; i++)
        dp_http_server_close_listener(w->conn_listens[i]->server);
    for (size_t i = w->n_ctxs; i-- > 0;) {
        doppel_ctx_t *c = &w->ctxs[i];
        if (!c->started || c->stopping)
            continue;
        const doppel_plugin_t *d = c->inst->lib->desc;
        c->stopping = 1;
        int rc = d->stop ? d->stop(c->state) : 0;
        if (rc < 0)
            dp_warn(c->inst->name, "stop failed: %s", strerror(-rc));
        if (d->stop == NULL || rc < 0)
            dp_worker_copy_stopped(c);
    }
    if (all_stopped(w))
        finish_stop(w);
}

/* One server drained; the copies stop once every server did. */
static void on_drained(void *data)
{
    dp_worker_t *w = data;
    if (w->drains_pending > 0 && --w->drains_pending > 0)
        return;
    if (w->phase == PHASE_DRAIN)
        stop_copies(w);
}

static void begin_shutdown(void *data)
{
    dp_worker_t *w = data;
    if (w->phase != PHASE_RUN)
        return;
    w->phase = PHASE_DRAIN;
    uv_timer_stop(&w->tick);
    uint64_t t = w->host->settings.drain_timeout_ms;
    uv_update_time(&w->loop);
    w->stop_deadline = uv_now(&w->loop) + t;
    w->drains_pending = 1; /* held until every drain has begun */
    if (w->server) {
        w->drains_pending++;
        dp_http_server_drain(w->server, t, on_drained, w);
    }
    for (size_t i = 0; i < w->n_listens; i++) {
        if (w->listens[i].server == NULL)
            continue;
        w->drains_pending++;
        dp_http_server_drain(w->listens[i].server, t, on_drained, w);
    }
    /* ABI 1.1: the copies end their long-lived answers (event streams,
     * delays) now, so that those do not hold the drain for drain_timeout;
     * ordinary exchanges finish. Sent while drains_pending still holds
     * one, so no copy is stopped before every copy heard it. */
    dp_worker_emit(w, DOPPEL_EVENT_DRAINING, NULL);
    on_drained(w);
}

void dp_worker_shutdown(dp_worker_t *w)
{
    if (dp_worker_post(w, begin_shutdown, w) < 0)
        dp_debug("host", "worker %u already closed", w->index);
}

void dp_worker_join(dp_worker_t *w)
{
    if (w == NULL || !w->thread_started || w->joined)
        return;
    uv_thread_join(&w->thread);
    w->joined = 1;
}

void dp_worker_join_free(dp_worker_t *w)
{
    if (w == NULL)
        return;
    if (w->thread_started)
        dp_worker_join(w);
    else {
        close_worker_handles(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    /* Posts that raced with the close are dropped: their owners were
     * destroyed with the copies. */
    post_item_t *it = w->qhead;
    while (it) {
        post_item_t *next = it->next;
        free(it);
        it = next;
    }
    if (uv_loop_close(&w->loop) != 0)
        dp_warn("host", "worker %u: a plugin left libuv handles open",
                w->index);
    if (w->router)
        dp_router_free(w->router);
    for (size_t i = 0; i < w->n_listens; i++)
        dp_router_free(w->listens[i].router);
    free(w->listens);
    for (size_t i = 0; i < w->n_conn_listens; i++)
        free(w->conn_listens[i]);
    free(w->conn_listens);
    free(w->claims);
    free(w->claim_view);
    uv_mutex_destroy(&w->qlock);
    uv_mutex_destroy(&w->m);
    uv_cond_destroy(&w->cv);
    free(w->ctxs);
    free(w);
}
