/*
 * The GraphQL mock protocol plugin: serves mocks whose protocol section is
 * "graphql" as GraphQL over HTTP on the host's front (docs/graphql.md).
 *
 * One instance per worker, each with the same classifier mount (see
 * graphql_http.c); the schemas and the known paths are the section's
 * shared state (graphql_schema.c). A request is answered synchronously
 * (every top-level field matched by the engine on this loop), then sent
 * now or after the largest delay its mocks asked for, on a host timer:
 * the loop is never blocked.
 *
 * Stop: on DOPPEL_EVENT_DRAINING delayed answers go out at once and later
 * ones are not delayed; stop answers what is still waiting with 503, and
 * is done once the requests forwarded to record-and-replay services were
 * called back.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql_plugin.h"

/* An answer waiting for its delay; owns copies of what it sends. */
struct gqlp_pending {
    gqlp_inst_t *in;
    doppel_http_exchange_t *ex;
    doppel_timer_t *timer;
    int status;
    doppel_kv_t *headers; /* names and values point into mem */
    size_t n_headers;
    char *body;
    size_t len;
    char *mem;
    gqlp_pending_t *prev, *next;
};

static void pending_unlink(gqlp_pending_t *p)
{
    gqlp_inst_t *in = p->in;
    if (p->prev)
        p->prev->next = p->next;
    else
        in->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_free(gqlp_pending_t *p)
{
    free(p->headers);
    free(p->body);
    free(p->mem);
    free(p);
}

/* Sends a waiting answer now (status: its own, or 503 when stopping). */
static void pending_send(gqlp_pending_t *p, int stopping)
{
    gqlp_inst_t *in = p->in;
    in->svc->timer_stop(p->timer);
    pending_unlink(p);
    if (stopping) {
        static const char b[] =
            "{\"errors\":[{\"message\":\"The server is shutting down.\"}]}";
        doppel_kv_t h = {DOPPEL_STR("Content-Type"),
                         DOPPEL_STR("application/json; charset=utf-8")};
        in->svc->http_respond(p->ex, 503, &h, 1, b, sizeof(b) - 1);
    } else {
        in->svc->http_respond(p->ex, p->status, p->headers, p->n_headers,
                              p->body, p->len);
    }
    pending_free(p);
}

static void pending_fire(void *data)
{
    pending_send(data, 0);
}

static gqlp_pending_t *pending_new(gqlp_inst_t *in, doppel_http_exchange_t *ex,
                                   int status, const doppel_kv_t *h, size_t nh,
                                   const char *body, size_t len)
{
    gqlp_pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < nh; i++)
        bytes += h[i].name.len + h[i].value.len + 2;
    p->headers = calloc(nh + 1, sizeof(*p->headers));
    p->mem = malloc(bytes + 1);
    p->body = malloc(len + 1);
    if (p->headers == NULL || p->mem == NULL || p->body == NULL) {
        pending_free(p);
        return NULL;
    }
    char *m = p->mem;
    for (size_t i = 0; i < nh; i++) {
        memcpy(m, h[i].name.ptr, h[i].name.len);
        m[h[i].name.len] = '\0';
        p->headers[i].name = (doppel_str_t){m, h[i].name.len};
        m += h[i].name.len + 1;
        memcpy(m, h[i].value.ptr, h[i].value.len);
        m[h[i].value.len] = '\0';
        p->headers[i].value = (doppel_str_t){m, h[i].value.len};
        m += h[i].value.len + 1;
    }
    p->n_headers = nh;
    memcpy(p->body, body, len);
    p->len = len;
    p->in = in;
    p->ex = ex;
    p->status = status;
    return p;
}

void gqlp_answer(gqlp_inst_t *in, doppel_http_exchange_t *ex, int status,
                 const doppel_kv_t *headers, size_t n_headers,
                 const char *body, size_t len, uint32_t delay_ms)
{
    const doppel_services_t *svc = in->svc;
    if (delay_ms > 0 && !in->draining && !in->stopping &&
        DOPPEL_HAS_SERVICE(svc, timer_start)) {
        gqlp_pending_t *p =
            pending_new(in, ex, status, headers, n_headers, body, len);
        if (p != NULL &&
            svc->timer_start(in->ctx, delay_ms, 0, pending_fire, p,
                             &p->timer) == 0) {
            p->next = in->pending;
            if (in->pending)
                in->pending->prev = p;
            in->pending = p;
            return;
        }
        if (p != NULL)
            pending_free(p);
        /* no timer: answered without the delay rather than not at all */
    }
    svc->http_respond(ex, status, headers, n_headers, body, len);
}

void gqlp_count(gqlp_inst_t *in, const char *op, const char *field,
                const char *outcome)
{
    char labels[400];
    /* field names are GraphQL names ([_A-Za-z0-9]): quote-safe */
    snprintf(labels, sizeof(labels),
             "operation=\"%s\",field=\"%.200s\",outcome=\"%s\"", op, field,
             outcome);
    (void)in->svc->metric_add(in->ctx, "calls", labels, 1);
}

/* dp_gql parses the built-in SDL once per process and keeps it for every
 * schema it builds (gql_schema.c): that cache lives as long as the process,
 * so this object must too. Marked RTLD_NODELETE when it is loaded, the
 * host's dlclose at exit leaves it mapped and the cache stays reachable
 * (not a leak to LeakSanitizer, no dangling pointer in a later load). */
__attribute__((constructor)) static void gql_pin_loaded(void)
{
    Dl_info info;
    if (dladdr((void *)&gql_pin_loaded, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int prefix_valid(const char *p)
{
    size_t l = strlen(p);
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

static int gql_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond) ||
        !DOPPEL_HAS_SERVICE(svc, engine_match) ||
        !DOPPEL_HAS_SERVICE(svc, engine_reply_free) ||
        !DOPPEL_HAS_SERVICE(svc, shared) || !DOPPEL_HAS_SERVICE(svc, stop_done))
        return -ENOTSUP;
    gqlp_inst_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->ctx = ctx;
    in->svc = svc;
    in->sh = gqlp_shared(ctx, svc);
    if (in->sh == NULL) {
        free(in);
        return -ENOMEM;
    }
    if (in->sh->cfg_err[0]) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "%s", in->sh->cfg_err);
        free(in);
        return -EINVAL;
    }
    in->stubs_prefix = svc->option_str(ctx, "stubs_prefix");
    if (in->stubs_prefix == NULL)
        in->stubs_prefix = "/stubs";
    if (!prefix_valid(in->stubs_prefix)) {
        svc->log(ctx, DOPPEL_LOG_ERROR,
                 "stubs_prefix '%s': expected a path like /stubs (starts "
                 "with '/', no trailing '/')",
                 in->stubs_prefix);
        free(in);
        return -EINVAL;
    }
    in->limits.max_bytes = (size_t)svc->option_int(ctx, "max_query_bytes");
    in->limits.max_depth = (uint32_t)svc->option_int(ctx, "max_depth");
    in->limits.max_tokens = (uint32_t)svc->option_int(ctx, "max_tokens");
    in->max_batch = (uint32_t)svc->option_int(ctx, "max_batch");
    in->max_values = (uint32_t)svc->option_int(ctx, "max_values");
    in->fake_missing = svc->option_bool(ctx, "fake_missing");
    in->introspection = svc->option_bool(ctx, "introspection");
    in->ws_init_timeout_ms =
        (uint32_t)svc->option_int(ctx, "connection_init_timeout");
    in->ws_max_subscriptions =
        (uint32_t)svc->option_int(ctx, "ws_max_subscriptions");
    in->ws_max_message = (size_t)svc->option_int(ctx, "ws_max_message");
    in->ws_deflate = svc->option_bool(ctx, "ws_deflate");
    if (gqlp_ws_attach(in) < 0) {
        free(in);
        return -ENOMEM;
    }
    if (DOPPEL_HAS_SERVICE(svc, subscribe))
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .classify = gqlp_http_classify,
        .handler = gqlp_http_handler,
        .state = in,
        .priority = 10,
    };
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount: %s", strerror(-rc));
        gqlp_ws_detach(in);
        free(in);
        return rc;
    }
    *state = in;
    return 0;
}

static int gql_start(void *state)
{
    (void)state;
    return 0; /* the host's front owns the listener */
}

void gqlp_maybe_stop_done(gqlp_inst_t *in)
{
    if (in->stop_waiting && in->n_forwarding == 0 && in->n_ws == 0) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

/* stop_done waits for the forwarded requests: the host calls them back
 * (-ECANCELED at the latest) before destroy, and each answers its client;
 * and for the WebSocket connections, closed here with 1001, to be called
 * back (on_close), so that none outlives the instance. */
static int gql_stop(void *state)
{
    gqlp_inst_t *in = state;
    in->stopping = 1;
    while (in->pending)
        pending_send(in->pending, 1);
    gqlp_ws_close_all(in);
    in->stop_waiting = 1;
    gqlp_maybe_stop_done(in);
    return 0;
}

static int gql_on_event(void *state, const doppel_event_t *ev)
{
    gqlp_inst_t *in = state;
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    in->draining = 1;
    while (in->pending)
        pending_send(in->pending, 0);
    gqlp_ws_close_all(in);
    return DOPPEL_OK;
}

static void gql_destroy(void *state)
{
    gqlp_inst_t *in = state;
    while (in->pending) /* a failed start: nothing drained them */
        pending_send(in->pending, 1);
    gqlp_ws_detach(in);
    free(in);
}

static const doppel_option_t gql_options[] = {
    {"endpoint", DOPPEL_OPT_STRING, 0, "/graphql",
     "path of mocks without graphql.path and of the `schema` files", 0, -1,
     {0}},
    {"schema", DOPPEL_OPT_STRING, 0, NULL,
     "colon-separated SDL files for the endpoint in `namespace`", 0, -1, {0}},
    {"namespace", DOPPEL_OPT_STRING, 0, "sandbox",
     "namespace of the `schema` files", 0, -1, {0}},
    {"stubs_prefix", DOPPEL_OPT_STRING, 0, "/stubs",
     "prefix addressing a namespace: <prefix>/<namespace>/<path>", 0, -1,
     {0}},
    {"fake_missing", DOPPEL_OPT_BOOL, 0, "true",
     "a field no mock answers gets fake data from its schema type (else an "
     "error)",
     0, -1, {0}},
    {"max_query_bytes", DOPPEL_OPT_SIZE, 0, "1m",
     "largest GraphQL document of a request", 64, (int64_t)64 << 20, {0}},
    {"max_depth", DOPPEL_OPT_INT, 0, "64",
     "deepest nesting of selections, lists and objects in a document", 2,
     1000, {0}},
    {"max_tokens", DOPPEL_OPT_INT, 0, "50000",
     "most lexical tokens in a document", 16, 10000000, {0}},
    {"max_batch", DOPPEL_OPT_INT, 0, "20",
     "most requests in one batch (a JSON array)", 1, 1000, {0}},
    {"max_values", DOPPEL_OPT_INT, 0, "500000",
     "most values (objects, lists, leaves) in one answer", 100, 100000000,
     {0}},
    {"introspection", DOPPEL_OPT_BOOL, 0, "true",
     "answer __schema and __type (off: a validation error)", 0, -1, {0}},
    {"connection_init_timeout", DOPPEL_OPT_INT, 0, "3000",
     "milliseconds a graphql-transport-ws client has to send "
     "connection_init (else close 4408)",
     1, 600000, {0}},
    {"ws_max_subscriptions", DOPPEL_OPT_INT, 0, "100",
     "most operations in flight on one graphql-transport-ws connection", 1,
     100000, {0}},
    {"ws_max_message", DOPPEL_OPT_SIZE, 0, "1m",
     "largest graphql-transport-ws message (else close 1009)", 1024,
     (int64_t)64 << 20, {0}},
    {"ws_deflate", DOPPEL_OPT_BOOL, 0, "true",
     "accept permessage-deflate on graphql-transport-ws", 0, -1, {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

static const doppel_plugin_t gql_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "graphql",
    .version = "0.1.0",
    .summary = "GraphQL mocks: GraphQL over HTTP from mocks with a graphql "
               "section and SDL schemas",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = gql_options,
    .init = gql_init,
    .start = gql_start,
    .stop = gql_stop,
    .destroy = gql_destroy,
    .on_event = gql_on_event,
    .protocol = &gqlp_protocol_def,
};

DOPPEL_PLUGIN_DEFINE(gql_plugin)
