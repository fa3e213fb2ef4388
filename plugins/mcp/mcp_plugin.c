/*
 * The MCP plugin: a control server through which AI agents operate doppel
 * (tools in mcp_tools.c), and mock MCP servers built from mocks with an
 * "mcp" section, for agents under test.
 *
 * Mounts:
 *   <endpoint> (default /mcp) on the main port (main_port = true) and on the
 *   plugin's own listener (listen, default 127.0.0.1:5772): the control
 *   server, Streamable HTTP, plus <endpoint>/sse and /message for the
 *   older HTTP+SSE transport;
 *   a classifier for <stubs_prefix>/<ns>/mcp[/<server>] (stubs = true),
 *   above the http plugin's <stubs_prefix> prefix mount: mock MCP servers.
 *
 * Threading: one instance per worker; each runs on its loop thread. The
 * session table is shared by the instances (svc->shared) under its lock.
 * This file holds the descriptor, options and lifecycle; see mcp_server.h
 * for the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "mcp_server.h"

doppel_ctx_t *mcp_inst_ctx(mcp_inst_t *inst)
{
    return inst->ctx;
}

const doppel_services_t *mcp_inst_svc(mcp_inst_t *inst)
{
    return inst->svc;
}

uint64_t mcp_now_ms(mcp_inst_t *inst)
{
    uv_loop_t *loop = inst->svc->loop(inst->ctx);
    return loop ? uv_now(loop) : 0;
}

void mcp_session_limits(mcp_inst_t *inst, int *max, int *per_token)
{
    int64_t m = inst->svc->option_int(inst->ctx, "max_sessions");
    int64_t pct = inst->svc->option_int(inst->ctx, "session_share");
    if (m <= 0)
        m = 1000;
    if (pct <= 0 || pct > 100)
        pct = 25;
    int64_t share = m * pct / 100;
    *max = (int)m;
    *per_token = (int)(share < 1 ? 1 : share);
}

void mcp_inst_maybe_stopped(mcp_inst_t *inst)
{
    if (inst->stop_waiting && inst->calls == NULL &&
        inst->n_delay_handles == 0) {
        inst->stop_waiting = 0;
        inst->svc->stop_done(inst->ctx);
    }
}

static int prefix_valid(const char *p)
{
    size_t l = p ? strlen(p) : 0;
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

static int read_options(mcp_inst_t *inst)
{
    const doppel_services_t *svc = inst->svc;
    doppel_ctx_t *ctx = inst->ctx;
    inst->listen = svc->option_str(ctx, "listen");
    if (inst->listen &&
        (strcmp(inst->listen, "off") == 0 || inst->listen[0] == '\0'))
        inst->listen = NULL;
    inst->path = svc->option_str(ctx, "endpoint");
    inst->stubs_prefix = svc->option_str(ctx, "stubs_prefix");
    inst->main_port = svc->option_bool(ctx, "main_port");
    inst->stubs = svc->option_bool(ctx, "stubs");
    inst->max_message_bytes = (size_t)svc->option_int(ctx, "max_message_bytes");
    inst->page_size = (size_t)svc->option_int(ctx, "page_size");
    inst->max_batch = (size_t)svc->option_int(ctx, "max_batch");
    inst->batch_answer_bytes =
        (size_t)svc->option_int(ctx, "batch_answer_bytes");
    inst->batch_time_ms = (uint64_t)svc->option_int(ctx, "batch_time_budget");
    inst->tool_answer_bytes = (size_t)svc->option_int(ctx, "tool_answer_bytes");
    inst->idle_timeout_ms =
        (uint64_t)svc->option_int(ctx, "session_idle_timeout");
    inst->origins = svc->option_str(ctx, "allowed_origins");
    inst->keepalive_ms = (uint64_t)svc->option_int(ctx, "sse_keepalive");
    const char *sse = svc->option_str(ctx, "sse_answers");
    if (sse == NULL || strcmp(sse, "auto") == 0)
        inst->sse_mode = MCP_SSE_AUTO;
    else if (strcmp(sse, "always") == 0)
        inst->sse_mode = MCP_SSE_ALWAYS;
    else if (strcmp(sse, "never") == 0)
        inst->sse_mode = MCP_SSE_NEVER;
    else {
        svc->log(ctx, DOPPEL_LOG_ERROR,
                 "sse_answers '%s': expected auto, always or never", sse);
        return -EINVAL;
    }
    if (inst->path == NULL)
        inst->path = "/mcp";
    if (inst->stubs_prefix == NULL)
        inst->stubs_prefix = "/stubs";
    if (!prefix_valid(inst->path) || !prefix_valid(inst->stubs_prefix)) {
        svc->log(ctx, DOPPEL_LOG_ERROR,
                 "endpoint '%s' / stubs_prefix '%s': expected a path like /mcp "
                 "(starts with '/', no trailing '/')",
                 inst->path, inst->stubs_prefix);
        return -EINVAL;
    }
    if (inst->max_message_bytes == 0)
        inst->max_message_bytes = 4u << 20;
    /* a host that does not know an option answers 0: the defaults */
    if (inst->max_batch == 0 || inst->max_batch > MCP_MAX_BATCH)
        inst->max_batch = 100;
    if (inst->batch_answer_bytes == 0)
        inst->batch_answer_bytes = 8u << 20;
    if (inst->batch_time_ms == 0)
        inst->batch_time_ms = 5000;
    if (inst->tool_answer_bytes == 0)
        inst->tool_answer_bytes = 1u << 20;
    return 0;
}

static int mount_all(mcp_inst_t *inst)
{
    const doppel_services_t *svc = inst->svc;
    doppel_ctx_t *ctx = inst->ctx;
    int rc = 0;
    if (inst->main_port) {
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .prefix = inst->path,
            .handler = mcp_control_handler,
            .state = inst,
        };
        rc = svc->http_mount(ctx, &m);
        if (rc < 0) {
            svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount %s: %s", inst->path,
                     strerror(-rc));
            return rc;
        }
    }
    if (inst->stubs) {
        /* A classifier mount is tried before every prefix mount, so it
         * takes /stubs/<ns>/mcp from the http plugin's /stubs prefix. */
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .classify = mcp_stubs_classify,
            .handler = mcp_stubs_handler,
            .state = inst,
            .priority = 10,
        };
        rc = svc->http_mount(ctx, &m);
        if (rc < 0) {
            svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount the mock servers: %s",
                     strerror(-rc));
            return rc;
        }
    }
    if (inst->listen) {
        if (!DOPPEL_HAS_SERVICE(svc, http_listen)) {
            svc->log(ctx, DOPPEL_LOG_ERROR,
                     "listen = %s needs a host with http_listen (ABI 1.1); "
                     "set listen = off",
                     inst->listen);
            return -ENOTSUP;
        }
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .prefix = inst->path,
            .handler = mcp_control_handler,
            .state = inst,
        };
        rc = svc->http_listen(ctx, inst->listen, &m);
        if (rc < 0) {
            svc->log(ctx, DOPPEL_LOG_ERROR, "cannot listen on %s: %s",
                     inst->listen, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static int mcp_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond) ||
        !DOPPEL_HAS_SERVICE(svc, http_stream_start) ||
        !DOPPEL_HAS_SERVICE(svc, engine_match) ||
        !DOPPEL_HAS_SERVICE(svc, engine_reply_free) ||
        !DOPPEL_HAS_SERVICE(svc, loop) || !DOPPEL_HAS_SERVICE(svc, post) ||
        !DOPPEL_HAS_SERVICE(svc, subscribe) ||
        !DOPPEL_HAS_SERVICE(svc, stop_done))
        return -ENOTSUP;
    mcp_inst_t *inst = calloc(1, sizeof(*inst));
    if (inst == NULL)
        return -ENOMEM;
    inst->ctx = ctx;
    inst->svc = svc;
    int rc = read_options(inst);
    if (rc < 0) {
        free(inst);
        return rc;
    }
    /* Without svc->shared (an ABI 1.0 host) each worker keeps its own
     * table: fine with one worker; with more, a session is only known to
     * the worker whose connection created it. */
    if (DOPPEL_HAS_SERVICE(svc, shared))
        inst->sessions =
            svc->shared(ctx, mcp_sessions_new, mcp_sessions_free, inst);
    else {
        inst->sessions = mcp_sessions_new(inst);
        inst->own_sessions = 1;
    }
    if (inst->sessions == NULL) {
        free(inst);
        return -ENOMEM;
    }
    rc = mount_all(inst);
    if (rc == 0)
        rc = svc->subscribe(ctx, DOPPEL_EVENT_TICK);
    /* ABI 1.1 (an older host refuses the number: stop then ends the
     * streams, after the drain timeout). */
    if (rc == 0)
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
    if (rc < 0) {
        if (inst->own_sessions)
            mcp_sessions_free(inst->sessions);
        free(inst);
        return rc;
    }
    *state = inst;
    return 0;
}

static int mcp_start(void *state)
{
    (void)state;
    return 0; /* the host owns the listeners */
}

/* The host is stopping: new requests are refused (503), the HTTP+SSE
 * streams end (an open stream would hold the host's drain for
 * drain_timeout) and delayed stub answers go out at once as the "server is
 * stopping" error. Calls waiting for a tool or a credential check finish.
 * On DOPPEL_EVENT_DRAINING (ABI 1.1), else at stop; idempotent. */
static void mcp_drain(mcp_inst_t *inst)
{
    inst->stopping = 1;
    mcp_streams_close_all(inst);
    mcp_delays_cancel_all(inst);
}

/* stop_done follows when the calls still waiting for a tool or a
 * credential check are answered and the timer handles are closed. */
static int mcp_stop(void *state)
{
    mcp_inst_t *inst = state;
    mcp_drain(inst);
    inst->stop_waiting = 1;
    mcp_inst_maybe_stopped(inst);
    return 0;
}

static void mcp_destroy(void *state)
{
    mcp_inst_t *inst = state;
    /* After a failed start stop never ran: streams cannot exist then (no
     * request was served), and calls neither. */
    if (inst->own_sessions)
        mcp_sessions_free(inst->sessions);
    free(inst);
}

static int mcp_on_event(void *state, const doppel_event_t *ev)
{
    mcp_inst_t *inst = state;
    if (ev->id == DOPPEL_EVENT_DRAINING) {
        mcp_drain(inst);
        return DOPPEL_OK;
    }
    if (ev->id != DOPPEL_EVENT_TICK || inst->stopping)
        return DOPPEL_DECLINED;
    mcp_streams_tick(inst);
    /* One worker sweeps the shared table; each sweeps its own table. */
    if (inst->own_sessions || inst->svc->worker_index(inst->ctx) == 0)
        mcp_sessions_expire(inst->sessions, mcp_now_ms(inst),
                            inst->idle_timeout_ms);
    return DOPPEL_OK;
}

static const doppel_option_t mcp_options[] = {
    {.name = "listen",
     .type = DOPPEL_OPT_STRING,
     .default_value = "127.0.0.1:5772",
     .help = "own listener for the control server (HOST:PORT), or off",
     .min = 1,
     .max = 0},
    {.name = "main_port",
     .type = DOPPEL_OPT_BOOL,
     .default_value = "true",
     .help = "also serve the control server at <endpoint> on the main port",
     .min = 1,
     .max = 0},
    {.name = "endpoint",
     .type = DOPPEL_OPT_STRING,
     .default_value = "/mcp",
     .help = "path of the control server (and <endpoint>/sse, /message)",
     .min = 1,
     .max = 0},
    {.name = "stubs",
     .type = DOPPEL_OPT_BOOL,
     .default_value = "true",
     .help = "serve mock MCP servers at <stubs_prefix>/<ns>/mcp[/<server>]",
     .min = 1,
     .max = 0},
    {.name = "stubs_prefix",
     .type = DOPPEL_OPT_STRING,
     .default_value = "/stubs",
     .help = "path prefix of the mock MCP servers (as the http plugin's)",
     .min = 1,
     .max = 0},
    {.name = "max_sessions",
     .type = DOPPEL_OPT_INT,
     .default_value = "1000",
     .help = "sessions kept at most; when full the least recently used "
             "idle one of the same server kind, of the credential holding "
             "the most, is dropped",
     .min = 1,
     .max = 1000000},
    {.name = "session_share",
     .type = DOPPEL_OPT_INT,
     .default_value = "25",
     .help = "percent of max_sessions (per server kind) one credential may "
             "hold; at its share a new session drops that credential's own "
             "least recently used idle one, never another's",
     .min = 1,
     .max = 100},
    {.name = "session_idle_timeout",
     .type = DOPPEL_OPT_DURATION,
     .default_value = "30m",
     .help = "a session unused this long ends",
     .min = 1000,
     .max = 7LL * 24 * 3600 * 1000},
    {.name = "max_message_bytes",
     .type = DOPPEL_OPT_SIZE,
     .default_value = "4m",
     .help = "largest JSON-RPC message (POST body) accepted; larger: 413",
     .min = 64,
     .max = 1LL << 30},
    {.name = "max_batch",
     .type = DOPPEL_OPT_INT,
     .default_value = "100",
     .help = "messages in one JSON-RPC batch at most; more: 400, -32600",
     .min = 1,
     .max = 1000},
    {.name = "batch_answer_bytes",
     .type = DOPPEL_OPT_SIZE,
     .default_value = "8m",
     .help = "bytes of the answers of one batch; an answer past it, and "
             "every call not started yet, gets a -32000 error naming it",
     .min = 1024,
     .max = 1LL << 30},
    {.name = "batch_time_budget",
     .type = DOPPEL_OPT_DURATION,
     .default_value = "5s",
     .help = "time a batch may run: calls not started when it is spent get "
             "a -32000 error naming it (a control server batch runs its "
             "calls one after another)",
     .min = 10,
     .max = 3600000},
    {.name = "tool_answer_bytes",
     .type = DOPPEL_OPT_SIZE,
     .default_value = "1m",
     .help = "largest tools/call result; a list is cut to fit (truncated, "
             "nextOffset), any other answer over it is an isError result",
     .min = 1024,
     .max = 1LL << 30},
    {.name = "page_size",
     .type = DOPPEL_OPT_INT,
     .default_value = "50",
     .help = "entries per page of tools/list (and resources, prompts)",
     .min = 1,
     .max = 10000},
    {.name = "sse_answers",
     .type = DOPPEL_OPT_STRING,
     .default_value = "auto",
     .help = "answer POSTs as text/event-stream: auto (only when the "
             "client accepts nothing else), always (when accepted), never",
     .min = 1,
     .max = 0},
    {.name = "sse_keepalive",
     .type = DOPPEL_OPT_DURATION,
     .default_value = "15s",
     .help = "comment line on a quiet HTTP+SSE stream this often (a failed "
             "write ends the session)",
     .min = 1000,
     .max = 3600000},
    {.name = "allowed_origins",
     .type = DOPPEL_OPT_STRING,
     .default_value = "",
     .help = "browser Origins allowed besides loopback ones (comma "
             "separated, * for any)",
     .min = 1,
     .max = 0},
    {.name = NULL},
};

static const doppel_plugin_t mcp_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "mcp",
    .version = MCP_PLUGIN_VERSION,
    .summary = "MCP: a control server for AI agents and mock MCP servers",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = mcp_options,
    .init = mcp_init,
    .start = mcp_start,
    .stop = mcp_stop,
    .destroy = mcp_destroy,
    .on_event = mcp_on_event,
};

DOPPEL_PLUGIN_DEFINE(mcp_plugin)
