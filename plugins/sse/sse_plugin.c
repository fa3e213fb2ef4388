/*
 * The Server-Sent Events mock protocol plugin: serves mocks whose protocol
 * section is "sse" as text/event-stream answers on the host's HTTP front
 * (docs/sse.md).
 *
 * One instance per worker, each with the same classifier mount: a GET on
 * a path an sse mock's eventPath names (also below
 * <stubs_prefix>/<namespace>), or, once some sse mock has no eventPath
 * (it answers every path), any GET whose Accept asks for
 * text/event-stream, except below the `exclude` prefixes (the MCP
 * endpoint answers its own GETs). Until then such GETs stay with the HTTP
 * plugin, so an http mock serving text/event-stream keeps working. The
 * classifier's priority is below the GraphQL, SOAP and MCP ones, so what
 * they claim stays theirs.
 *
 * Streams live on the instance's loop (sse_stream.c). On
 * DOPPEL_EVENT_DRAINING every open stream ends cleanly at once, so the
 * host's drain waits for nothing; stop ends what is left (nothing, after
 * a drain) and is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sse_plugin.h"

static int prefix_valid(const char *p)
{
    size_t l = strlen(p);
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

/* ---- classifier ---------------------------------------------------------- */

/* 1 if list (colon separated prefixes) has one that path starts with at a
 * segment boundary. */
static int excluded(const char *list, doppel_str_t path)
{
    const char *p = list;
    while (p && *p) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l > 0 && path.len >= l && memcmp(path.ptr, p, l) == 0 &&
            (path.len == l || path.ptr[l] == '/' || (l == 1 && p[0] == '/')))
            return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

static int accepts_event_stream(const doppel_http_request_t *req)
{
    const doppel_str_t *a = req->header(req, "Accept");
    static const char t[] = "text/event-stream";
    if (a == NULL)
        return 0;
    for (size_t i = 0; i + sizeof(t) - 1 <= a->len; i++)
        if (strncasecmp(a->ptr + i, t, sizeof(t) - 1) == 0)
            return 1;
    return 0;
}

/* The path without <stubs_prefix>/<namespace>, when it has them. */
static doppel_str_t mock_path(const sse_inst_t *in, doppel_str_t path)
{
    size_t pl = strlen(in->stubs_prefix);
    if (path.len > pl + 1 && memcmp(path.ptr, in->stubs_prefix, pl) == 0 &&
        path.ptr[pl] == '/') {
        const char *s = path.ptr + pl + 1, *end = path.ptr + path.len;
        const char *slash = memchr(s, '/', (size_t)(end - s));
        if (slash != NULL)
            return (doppel_str_t){slash, (size_t)(end - slash)};
    }
    return path;
}

static int classify(void *state, const doppel_http_request_t *req)
{
    sse_inst_t *in = state;
    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0)
        return 0;
    doppel_str_t p = mock_path(in, req->path);
    if (sse_path_known(in->sh, p.ptr, p.len))
        return 1;
    return __atomic_load_n(&in->sh->any_path, __ATOMIC_RELAXED) &&
           accepts_event_stream(req) && !excluded(in->exclude, req->path);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int sse_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond) ||
        !DOPPEL_HAS_SERVICE(svc, http_stream_end) ||
        !DOPPEL_HAS_SERVICE(svc, engine_match) ||
        !DOPPEL_HAS_SERVICE(svc, engine_reply_free) ||
        !DOPPEL_HAS_SERVICE(svc, shared) ||
        !DOPPEL_HAS_SERVICE(svc, stop_done) ||
        !DOPPEL_HAS_SERVICE(svc, timer_start) ||
        !DOPPEL_HAS_SERVICE(svc, now_ms))
        return -ENOTSUP;
    sse_inst_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->ctx = ctx;
    in->svc = svc;
    in->sh = sse_shared(ctx, svc);
    if (in->sh == NULL) {
        free(in);
        return -ENOMEM;
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
    in->max_streams = (uint32_t)svc->option_int(ctx, "max_streams");
    in->exclude = svc->option_str(ctx, "exclude");
    if (in->exclude == NULL)
        in->exclude = "";
    in->journal = DOPPEL_HAS_SERVICE(svc, engine_journal);
    in->journal_sent = in->journal && svc->option_bool(ctx, "journal_sent");
    if (DOPPEL_HAS_SERVICE(svc, subscribe)) {
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
        (void)svc->subscribe(ctx, DOPPEL_EVENT_TICK);
        /* onStoreChange: rendering needs engine_render */
        if (DOPPEL_HAS_SERVICE(svc, engine_render))
            (void)svc->subscribe(ctx, DOPPEL_EVENT_STORE_CHANGED);
    }
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .classify = classify,
        .handler = sse_subscribe,
        .state = in,
        .priority = 1,
    };
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount: %s", strerror(-rc));
        free(in);
        return rc;
    }
    if (sse_registry_attach(in) < 0) {
        free(in);
        return -ENOMEM;
    }
    *state = in;
    return 0;
}

static int sse_start(void *state)
{
    (void)state;
    return 0; /* the host's front owns the listener */
}

static int sse_stop(void *state)
{
    sse_inst_t *in = state;
    in->stopping = 1;
    sse_end_all(in, SSE_END_DRAIN);
    in->svc->stop_done(in->ctx);
    return 0;
}

static int sse_on_event(void *state, const doppel_event_t *ev)
{
    sse_inst_t *in = state;
    if (ev->id == DOPPEL_EVENT_TICK) {
        sse_probe_all(in);
        return DOPPEL_OK;
    }
    if (ev->id == DOPPEL_EVENT_STORE_CHANGED) {
        if (ev->data != NULL)
            sse_store_changed(in, ev->data);
        return DOPPEL_OK;
    }
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    in->draining = 1;
    if (in->n_streams > 0)
        in->svc->log(in->ctx, DOPPEL_LOG_INFO,
                     "draining: ending %zu event "
                     "stream(s)",
                     in->n_streams);
    sse_end_all(in, SSE_END_DRAIN);
    return DOPPEL_OK;
}

static void sse_destroy(void *state)
{
    sse_inst_t *in = state;
    sse_end_all(in, SSE_END_DRAIN); /* a failed start: nothing stopped them */
    sse_registry_detach(in);
    free(in);
}

static const doppel_option_t sse_options[] = {
    {"stubs_prefix",
     DOPPEL_OPT_STRING,
     0,
     "/stubs",
     "prefix addressing a namespace: <prefix>/<namespace>/<path>",
     0,
     -1,
     {0}},
    {"max_streams",
     DOPPEL_OPT_INT,
     0,
     "10000",
     "most open event streams per worker; past it a subscription gets 503",
     1,
     1000000,
     {0}},
    {"exclude",
     DOPPEL_OPT_STRING,
     0,
     "/mcp",
     "colon-separated path prefixes whose GETs asking for text/event-stream "
     "are left to other plugins (eventPaths are still served)",
     0,
     -1,
     {0}},
    {"journal_sent",
     DOPPEL_OPT_BOOL,
     0,
     "true",
     "journal every event sent (the stream's end is journalled always)",
     0,
     -1,
     {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

static const doppel_plugin_t sse_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "sse",
    .version = "0.1.0",
    .summary = "Server-Sent Events mocks: text/event-stream answers from "
               "mocks with an sse section",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = sse_options,
    .init = sse_init,
    .start = sse_start,
    .stop = sse_stop,
    .destroy = sse_destroy,
    .on_event = sse_on_event,
    .protocol = &sse_protocol_def,
};

DOPPEL_PLUGIN_DEFINE(sse_plugin)
