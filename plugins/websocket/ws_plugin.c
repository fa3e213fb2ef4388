/*
 * The WebSocket mock protocol plugin (docs/websocket.md): mocks whose
 * protocol section is "socket" answer the messages of WebSocket
 * connections upgraded on the host's HTTP front (the main port).
 *
 * The classifier takes a GET with "Upgrade: websocket" on a path some
 * socket mock names (or the endpoint), also below
 * <stubs_prefix>/<namespace>/; the namespace is that, else X-Namespace,
 * else sandbox. The handler checks the handshake with the codec (400, or
 * 426 for a version other than 13), the Origin against the namespace's
 * allow list (403), negotiates the subprotocol and permessage-deflate,
 * opens the connection's engine session and asks the front for the switch
 * (svc->http_upgrade). From there the connection is ws_conn.c's.
 *
 * Drain (DOPPEL_EVENT_DRAINING) and stop close every connection with 1001;
 * stop is done once the last one is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sio_server.h"

/* ---- request helpers -------------------------------------------------------
 */

typedef struct hdrs {
    const doppel_http_request_t *req;
} hdrs_t;

static const char *header_at(void *ud, const char *name, size_t idx,
                             size_t *len)
{
    const doppel_http_request_t *req = ((hdrs_t *)ud)->req;
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *h = &req->headers[i];
        if (h->name.len == nl && strncasecmp(h->name.ptr, name, nl) == 0 &&
            idx-- == 0) {
            *len = h->value.len;
            return h->value.ptr;
        }
    }
    return NULL;
}

/* "<stubs>/<ns>/rest" -> (ns, "/rest"); else (empty, the path). Returns 1
 * for the stubs form, 0 otherwise, -1 for a stubs path without a valid
 * namespace. */
static int split_target(const ws_inst_t *in, const doppel_http_request_t *req,
                        doppel_str_t *ns, doppel_str_t *path)
{
    *ns = (doppel_str_t){NULL, 0};
    *path = req->path;
    size_t pl = strlen(in->stubs_prefix);
    const char *p = req->path.ptr;
    size_t len = req->path.len;
    if (len <= pl + 1 || memcmp(p, in->stubs_prefix, pl) != 0 || p[pl] != '/')
        return 0;
    const char *s = p + pl + 1, *end = p + len;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    if (slash == NULL || slash == s)
        return -1;
    *ns = (doppel_str_t){s, (size_t)(slash - s)};
    *path = (doppel_str_t){slash, (size_t)(end - slash)};
    return doppel_name_valid(ns->ptr, ns->len, WS_NS_MAX) ? 1 : -1;
}

int ws_split_target(const ws_inst_t *in, const doppel_http_request_t *req,
                    doppel_str_t *ns, doppel_str_t *path)
{
    return split_target(in, req, ns, path);
}

static int ws_classify(void *state, const doppel_http_request_t *req)
{
    ws_inst_t *in = state;
    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0)
        return 0;
    hdrs_t h = {req};
    if (!ws_handshake_is_upgrade(header_at, &h))
        return 0;
    doppel_str_t ns, path;
    if (split_target(in, req, &ns, &path) < 0)
        return 0;
    return ws_route_known(in->sh, path.ptr, path.len);
}

static void respond_text(ws_inst_t *in, doppel_http_exchange_t *ex, int status,
                         const char *msg, int version_hdr)
{
    doppel_kv_t h[2] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("text/plain; charset=utf-8")},
        {DOPPEL_STR("Sec-WebSocket-Version"), DOPPEL_STR("13")},
    };
    in->svc->http_respond(ex, status, h, version_hdr ? 2 : 1, msg, strlen(msg));
}

/* ---- the handshake ----------------------------------------------------------
 */

/* The subprotocols to offer the codec: the option's list, or with "*" the
 * client's first offer (so that any client gets the one it asked for). */
static size_t protocols(ws_inst_t *in, const doppel_http_request_t *req,
                        char *buf, size_t cap, const char **list, size_t max)
{
    const char *opt = in->subprotocols ? in->subprotocols : "";
    if (strcmp(opt, "*") == 0) {
        const doppel_str_t *h = req->header(req, "Sec-WebSocket-Protocol");
        if (h == NULL)
            return 0;
        size_t i = 0;
        while (i < h->len && (h->ptr[i] == ' ' || h->ptr[i] == '\t'))
            i++;
        size_t s = i;
        while (i < h->len && h->ptr[i] != ',' && h->ptr[i] != ' ' &&
               h->ptr[i] != '\t')
            i++;
        if (i == s || i - s >= cap)
            return 0;
        memcpy(buf, h->ptr + s, i - s);
        buf[i - s] = '\0';
        list[0] = buf;
        return 1;
    }
    snprintf(buf, cap, "%s", opt);
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t && n < max;
         t = strtok_r(NULL, ", ", &save))
        list[n++] = t;
    return n;
}

static char *dup_str(doppel_str_t s)
{
    char *o = malloc(s.len + 1);
    if (o) {
        memcpy(o, s.ptr, s.len);
        o[s.len] = '\0';
    }
    return o;
}

static int ws_handler(void *state, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req)
{
    ws_inst_t *in = state;
    const doppel_services_t *svc = in->svc;
    if (in->stopping || in->draining) {
        respond_text(in, ex, 503, "The server is shutting down.", 0);
        return 0;
    }
    doppel_str_t ns, path;
    int form = split_target(in, req, &ns, &path);
    if (form < 0) {
        respond_text(in, ex, 400,
                     "Invalid namespace in the path: expected 1 to 64 "
                     "characters of A-Z a-z 0-9 . _ -",
                     0);
        return 0;
    }
    if (form == 0) {
        const doppel_str_t *h = req->header(req, "X-Namespace");
        if (h != NULL) {
            if (!doppel_name_valid(h->ptr, h->len, WS_NS_MAX)) {
                respond_text(in, ex, 400,
                             "Invalid X-Namespace: expected 1 to 64 "
                             "characters of A-Z a-z 0-9 . _ -",
                             0);
                return 0;
            }
            ns = *h;
        }
    }
    if (ns.len == 0)
        ns = DOPPEL_STR(WS_DEFAULT_NS);
    char nsb[WS_NS_MAX + 1]; /* ns may be a slice of the path */
    snprintf(nsb, sizeof(nsb), "%.*s", (int)ns.len, ns.ptr);
    char pbuf[512];
    const char *plist[16];
    ws_handshake_cfg_t cfg = {
        .protocols = plist,
        .n_protocols = protocols(in, req, pbuf, sizeof(pbuf), plist, 16),
        .deflate = {.enabled = in->deflate},
    };
    ws_handshake_t hs;
    hdrs_t hd = {req};
    int rc = ws_handshake_check(&cfg, req->method.ptr, req->method.len,
                                req->http_major, req->http_minor, header_at,
                                &hd, &hs);
    if (rc < 0) {
        ws_count(in, "handshakes_refused", nsb, 1);
        respond_text(in, ex, hs.status, hs.reason ? hs.reason : "Bad upgrade",
                     hs.status == 426);
        return 0;
    }
    if (!ws_origin_allowed(in->origins, ns, req->header(req, "Origin"))) {
        ws_count(in, "handshakes_refused", nsb, 1);
        respond_text(in, ex, 403, "Origin not allowed for this namespace.", 0);
        return 0;
    }
    ws_accept_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->in = in;
    memcpy(a->ns, nsb, sizeof(a->ns));
    snprintf(a->remote, sizeof(a->remote), "%.*s", (int)req->remote_addr.len,
             req->remote_addr.ptr);
    a->path = dup_str(path);
    a->query = dup_str(req->query);
    a->deflate = hs.deflate;
    if (hs.protocol >= 0)
        a->protocol = strdup(plist[hs.protocol]);
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("socket"),
        .ns = ns,
        .operation = DOPPEL_STR("message"),
        .target = path,
        .metadata = req->headers,
        .n_metadata = req->n_headers,
        .remote_addr = req->remote_addr,
        .request_id = req->request_id,
    };
    if (a->path == NULL || a->query == NULL ||
        (hs.protocol >= 0 && a->protocol == NULL) ||
        svc->engine_session_open(in->ctx, &x, &a->session) < 0) {
        ws_accept_free(a);
        return -ENOMEM;
    }
    const char *names[WS_ANSWER_HEADERS_MAX], *values[WS_ANSWER_HEADERS_MAX];
    doppel_kv_t h[WS_ANSWER_HEADERS_MAX];
    int nh = ws_handshake_answer_headers(&hs, a->protocol, names, values);
    if (nh < 0) {
        ws_accept_free(a);
        return nh;
    }
    for (int i = 0; i < nh; i++)
        h[i] = (doppel_kv_t){{names[i], strlen(names[i])},
                             {values[i], strlen(values[i])}};
    in->n_upgrading++;
    rc = svc->http_upgrade(in->ctx, ex, h, (size_t)nh, ws_conn_accept, a);
    if (rc == 0)
        return 0;
    in->n_upgrading--;
    ws_accept_free(a);
    if (rc == -EINVAL || rc == -ENOTSUP)
        respond_text(in, ex, 500, "The upgrade could not be made.", 0);
    return 0;
}

/* ---- lifecycle
 * ----------------------------------------------------------------- */

static int prefix_valid(const char *p)
{
    size_t l = strlen(p);
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

static int services_ok(const doppel_services_t *svc)
{
    return DOPPEL_HAS_SERVICE(svc, http_mount) &&
           DOPPEL_HAS_SERVICE(svc, http_respond) &&
           DOPPEL_HAS_SERVICE(svc, http_upgrade) &&
           DOPPEL_HAS_SERVICE(svc, conn_start) &&
           DOPPEL_HAS_SERVICE(svc, conn_pending) &&
           DOPPEL_HAS_SERVICE(svc, conn_pause) &&
           DOPPEL_HAS_SERVICE(svc, engine_session_open) &&
           DOPPEL_HAS_SERVICE(svc, engine_session_match) &&
           DOPPEL_HAS_SERVICE(svc, engine_session_close) &&
           DOPPEL_HAS_SERVICE(svc, timer_start) &&
           DOPPEL_HAS_SERVICE(svc, now_ms) && DOPPEL_HAS_SERVICE(svc, shared) &&
           DOPPEL_HAS_SERVICE(svc, post) && DOPPEL_HAS_SERVICE(svc, stop_done);
}

static int ws_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                   void **state)
{
    if (!services_ok(svc)) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "%s",
                 "this host lacks the ABI 1.2 services the plugin needs "
                 "(http_upgrade, connections, timers, engine sessions, "
                 "shared state, post)");
        return -ENOTSUP;
    }
    ws_inst_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->ctx = ctx;
    in->svc = svc;
    in->sh = ws_shared(ctx, svc);
    in->worker = svc->worker_index(ctx);
    if (in->sh == NULL) {
        free(in);
        return -ENOMEM;
    }
    if (in->sh->cfg_err[0] || in->worker >= WS_WORKERS_MAX) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "%s",
                 in->sh->cfg_err[0] ? in->sh->cfg_err
                                    : "too many workers for the plugin");
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
    in->origins = svc->option_str(ctx, "origins");
    in->subprotocols = svc->option_str(ctx, "subprotocols");
    in->deflate = svc->option_bool(ctx, "permessage_deflate");
    in->max_message = (size_t)svc->option_int(ctx, "max_message_bytes");
    in->max_backlog = (size_t)svc->option_int(ctx, "max_backlog_bytes");
    in->ping_interval_ms = (uint64_t)svc->option_int(ctx, "ping_interval");
    in->pong_timeout_ms = (uint64_t)svc->option_int(ctx, "pong_timeout");
    in->error_frames = svc->option_bool(ctx, "error_frames");
    in->journal_sent = svc->option_bool(ctx, "journal_sent") &&
                       DOPPEL_HAS_SERVICE(svc, engine_journal);
    if (DOPPEL_HAS_SERVICE(svc, subscribe)) {
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
        (void)svc->subscribe(ctx, DOPPEL_EVENT_TICK);
    }
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .classify = ws_classify,
        .handler = ws_handler,
        .state = in,
        .priority = 20,
    };
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount: %s", strerror(-rc));
        free(in);
        return rc;
    }
    rc = sio_init(in);
    if (rc < 0) {
        free(in);
        return rc;
    }
    pthread_mutex_lock(&in->sh->mu);
    in->sh->insts[in->worker] = in;
    pthread_mutex_unlock(&in->sh->mu);
    *state = in;
    return 0;
}

static int ws_start(void *state)
{
    (void)state;
    return 0; /* the host's front owns the listener */
}

static void close_all(ws_inst_t *in)
{
    ws_conn_close_all(in, WS_CLOSE_GOING_AWAY, "server shutting down");
    sio_close_all(in);
}

static int ws_stop(void *state)
{
    ws_inst_t *in = state;
    in->stopping = 1;
    close_all(in);
    if (in->n_conns == 0 && in->n_upgrading == 0)
        in->svc->stop_done(in->ctx);
    else
        in->stop_waiting = 1;
    return 0;
}

static int ws_on_event(void *state, const doppel_event_t *ev)
{
    ws_inst_t *in = state;
    if (ev->id == DOPPEL_EVENT_TICK) {
        ws_conn_tick(in);
        return DOPPEL_OK;
    }
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    in->draining = 1;
    close_all(in);
    return DOPPEL_OK;
}

static void ws_destroy(void *state)
{
    ws_inst_t *in = state;
    pthread_mutex_lock(&in->sh->mu);
    in->sh->insts[in->worker] = NULL;
    pthread_mutex_unlock(&in->sh->mu);
    sio_destroy(in);
    free(in);
}

static const doppel_option_t ws_options[] = {
    {"endpoint",
     DOPPEL_OPT_STRING,
     0,
     WS_DEFAULT_ENDPOINT,
     "path of socket mocks without socket.path",
     0,
     -1,
     {0}},
    {"stubs_prefix",
     DOPPEL_OPT_STRING,
     0,
     "/stubs",
     "prefix addressing a namespace: <prefix>/<namespace>/<path>",
     0,
     -1,
     {0}},
    {"origins",
     DOPPEL_OPT_STRING,
     0,
     NULL,
     "Origins allowed per namespace: \"sandbox=*;team=https://a.example,"
     "https://b.example\" (a namespace not named: any)",
     0,
     -1,
     {0}},
    {"subprotocols",
     DOPPEL_OPT_STRING,
     0,
     "*",
     "subprotocols spoken, in order of preference (comma separated); * "
     "accepts the client's first offer",
     0,
     -1,
     {0}},
    {"permessage_deflate",
     DOPPEL_OPT_BOOL,
     0,
     "true",
     "accept permessage-deflate (RFC 7692) when the client offers it",
     0,
     -1,
     {0}},
    {"max_message_bytes",
     DOPPEL_OPT_SIZE,
     0,
     "1m",
     "largest incoming message (after inflating); bigger ones close with "
     "1009",
     125,
     (int64_t)256 << 20,
     {0}},
    {"max_backlog_bytes",
     DOPPEL_OPT_SIZE,
     0,
     "4m",
     "unread bytes a client may let pile up before it is dropped",
     4096,
     (int64_t)15 << 20,
     {0}},
    {"ping_interval",
     DOPPEL_OPT_DURATION,
     0,
     "30s",
     "ping a connection silent this long (0: never)",
     0,
     86400000,
     {0}},
    {"pong_timeout",
     DOPPEL_OPT_DURATION,
     0,
     "10s",
     "drop a connection whose ping got no pong this long",
     1000,
     86400000,
     {0}},
    {"journal_sent",
     DOPPEL_OPT_BOOL,
     0,
     "true",
     "journal every message sent (answers, pushes, broadcasts, actions)",
     0,
     -1,
     {0}},
    {"error_frames",
     DOPPEL_OPT_BOOL,
     0,
     "false",
     "answer a message no mock matched with {\"error\", \"event\"} (else "
     "nothing)",
     0,
     -1,
     {0}},
    {"socketio",
     DOPPEL_OPT_BOOL,
     0,
     "true",
     "serve socket.io (Engine.IO v4) clients on socketio_path",
     0,
     -1,
     {0}},
    {"socketio_path",
     DOPPEL_OPT_STRING,
     0,
     SIO_DEFAULT_PATH,
     "path of socket.io's requests (also below <stubs_prefix>/<namespace>)",
     0,
     -1,
     {0}},
    {"socketio_ping_interval",
     DOPPEL_OPT_DURATION,
     0,
     "25000ms",
     "socket.io: the server pings every this long (pingInterval)",
     50,
     3600000,
     {0}},
    {"socketio_ping_timeout",
     DOPPEL_OPT_DURATION,
     0,
     "20000ms",
     "socket.io: drop a client whose pong is this late (pingTimeout)",
     50,
     3600000,
     {0}},
    {"socketio_max_payload",
     DOPPEL_OPT_SIZE,
     0,
     "1000000",
     "socket.io: largest packet and polling body (maxPayload)",
     1024,
     (int64_t)64 << 20,
     {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

static const doppel_plugin_t ws_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "websocket",
    .version = "0.1.0",
    .summary = "WebSocket mocks: connections upgraded on the main port, "
               "messages answered by mocks with a socket section",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = ws_options,
    .init = ws_init,
    .start = ws_start,
    .stop = ws_stop,
    .destroy = ws_destroy,
    .on_event = ws_on_event,
    .protocol = &ws_protocol_def,
};

DOPPEL_PLUGIN_DEFINE(ws_plugin)
