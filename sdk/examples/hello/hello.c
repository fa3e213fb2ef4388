/*
 * hello: an example third-party feature plugin for doppel.
 *
 * What it shows:
 *   - a descriptor with an option schema (the host validates plugins.conf
 *     against it before anything starts, and `doppel plugins` prints it);
 *   - per-instance state: no globals, every configured instance (and every
 *     worker's copy of it) gets its own hello_t from init;
 *   - checking that a host service exists (DOPPEL_HAS_SERVICE) before
 *     calling it, so the plugin also runs on hosts whose table is smaller;
 *   - mounting an HTTP handler on the host's front (GET /hello);
 *   - subscribing to an event (DOPPEL_EVENT_TICK, once a second per worker);
 *   - the lifecycle: init, start, stop, destroy.
 *
 * plugins.conf:
 *   [hello]
 *   path = /path/to/doppel_hello.so   (or install it into the plugin dir)
 *   enabled = true
 *   greeting = "hello, world"
 *   repeat = 2
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <doppel/plugin.h>

/* One instance's state. Everything here is touched only from the
 * instance's own loop thread (see the threading rules in plugin.h), so it
 * needs no locks. */
typedef struct hello {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    char *body; /* the greeting repeated, owned by us */
    size_t body_len;
    unsigned long ticks; /* DOPPEL_EVENT_TICK events seen */
    unsigned long served;
} hello_t;

/* The option schema: the host refuses unknown keys, wrong types and values
 * out of range with "plugins.conf:LINE: ..." before calling init, so init
 * can trust what it reads. */
static const doppel_option_t hello_options[] = {
    {
        .name = "greeting",
        .type = DOPPEL_OPT_STRING,
        .default_value = "hello",
        .help = "text GET /hello answers with",
        .min = 1,
        .max = 0, /* min > max: no range (strings have none) */
    },
    {
        .name = "repeat",
        .type = DOPPEL_OPT_INT,
        .default_value = "1",
        .help = "how many times the greeting is repeated, one per line",
        .min = 1,
        .max = 10,
    },
    {.name = NULL}, /* terminator */
};

/* GET /hello. The request is borrowed; the exchange must be finished with
 * http_respond (now, or later from this loop thread). */
static int hello_handle(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    hello_t *h = state;
    static const doppel_kv_t headers[] = {
        {{"Content-Type", 12}, {"text/plain; charset=utf-8", 25}},
    };

    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0) {
        static const char msg[] = "only GET\n";
        (void)h->svc->http_respond(ex, 405, headers, 1, msg, sizeof(msg) - 1);
        return 0;
    }
    h->served++;
    /* -ENOTCONN means the client left; the exchange is released anyway. */
    (void)h->svc->http_respond(ex, 200, headers, 1, h->body, h->body_len);
    return 0;
}

static int hello_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      void **state)
{
    const char *greeting = "hello";
    int64_t repeat = 1;
    hello_t *h;

    /* Without these services the plugin cannot do its job: refuse cleanly
     * rather than crash on an older or smaller host. */
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond))
        return -ENOTSUP;

    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->ctx = ctx;
    h->svc = svc;

    /* Option strings are owned by the host and live until destroy. */
    if (DOPPEL_HAS_SERVICE(svc, option_str) &&
        svc->option_str(ctx, "greeting") != NULL)
        greeting = svc->option_str(ctx, "greeting");
    if (DOPPEL_HAS_SERVICE(svc, option_int))
        repeat = svc->option_int(ctx, "repeat");
    if (repeat < 1)
        repeat = 1;

    size_t glen = strlen(greeting);
    h->body_len = (glen + 1) * (size_t)repeat;
    h->body = malloc(h->body_len + 1);
    if (h->body == NULL) {
        free(h);
        return -ENOMEM;
    }
    for (int64_t i = 0; i < repeat; i++) {
        memcpy(h->body + (size_t)i * (glen + 1), greeting, glen);
        h->body[(size_t)i * (glen + 1) + glen] = '\n';
    }
    h->body[h->body_len] = '\0';

    /* The mount struct is copied by the host; the prefix string is a
     * literal, so it outlives the instance as required. */
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .prefix = "/hello",
        .handler = hello_handle,
        .state = h,
    };
    int rc = svc->http_mount(ctx, &m);
    if (rc == 0 && DOPPEL_HAS_SERVICE(svc, subscribe))
        rc = svc->subscribe(ctx, DOPPEL_EVENT_TICK);
    if (rc != 0) {
        /* On error the host ignores *state and never calls destroy: free
         * here. */
        free(h->body);
        free(h);
        return rc;
    }
    *state = h;
    return 0;
}

/* Nothing to open: the host's front already listens. */
static int hello_start(void *state)
{
    hello_t *h = state;

    if (DOPPEL_HAS_SERVICE(h->svc, log))
        h->svc->log(h->ctx, DOPPEL_LOG_INFO, "serving GET /hello");
    return 0;
}

/* No request of ours outlives its handler, so the drain is immediate. */
static int hello_stop(void *state)
{
    hello_t *h = state;

    if (DOPPEL_HAS_SERVICE(h->svc, log))
        h->svc->log(h->ctx, DOPPEL_LOG_INFO,
                    "stopping after %lu ticks, %lu requests", h->ticks,
                    h->served);
    if (DOPPEL_HAS_SERVICE(h->svc, stop_done))
        h->svc->stop_done(h->ctx);
    return 0;
}

static void hello_destroy(void *state)
{
    hello_t *h = state;

    free(h->body);
    free(h);
}

static int hello_on_event(void *state, const doppel_event_t *ev)
{
    hello_t *h = state;

    if (ev->id != DOPPEL_EVENT_TICK)
        return DOPPEL_DECLINED;
    h->ticks++;
    return DOPPEL_OK;
}

static const doppel_plugin_t hello_plugin = {
    .size = sizeof(doppel_plugin_t), /* the size WE compiled against */
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "hello",
    .version = "1.0.0",
    .summary = "example plugin: answers GET /hello with a greeting",
    .kind = DOPPEL_KIND_FEATURE,
    .options = hello_options,
    .init = hello_init,
    .start = hello_start,
    .stop = hello_stop,
    .destroy = hello_destroy,
    .on_event = hello_on_event,
};

/* Exports doppel_plugin_entry, the one symbol the host looks up. */
DOPPEL_PLUGIN_DEFINE(hello_plugin)
