/*
 * The HTTP side of both servers.
 *
 * Streamable HTTP (the control server at <path>, mock servers at
 * <stubs_prefix>/<ns>/mcp[/<server>]):
 *   POST    one JSON-RPC message (or a batch, for 2024-11-05/2025-03-26);
 *           answers application/json or one text/event-stream event, 202
 *           when only notifications/responses came;
 *   DELETE  ends the session named by Mcp-Session-Id (204);
 *   GET     405: this server sends nothing unasked, so it opens no
 *           server-to-client stream (the spec allows that answer).
 * The older HTTP+SSE transport (2024-11-05), control server only:
 *   GET  <path>/sse                     an event stream; its first event
 *                                       ("endpoint") names the POST URL;
 *   POST <path>/message?sessionId=<id>  202 at once; the answer goes out on
 *                                       the stream as an "message" event,
 *                                       from whichever worker holds it.
 *
 * The order of checks: Origin (control), method, Content-Type, Accept,
 * size, then the credential (control: svc->admin_call GET /api/v1/whoami
 * with the client's X-API-Key or Authorization), then the JSON, then the
 * session and the MCP-Protocol-Version header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/origin.h"
#include "mcp_server.h"

struct mcp_stream {
    mcp_inst_t *inst;
    doppel_http_exchange_t *ex;
    char session[MCP_SID_LEN + 1];
    uint64_t last_write_ms;
    mcp_stream_t *prev, *next;
};

/* ---- Answers ------------------------------------------------------------- */

void mcp_http_error(mcp_inst_t *inst, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req, int status, int code,
                    const char *message, json_t *id, const doppel_kv_t *extra)
{
    json_t *e = mcp_rpc_error(id, code, message, NULL);
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    doppel_kv_t h[2 + MCP_CORS_MAX] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
    };
    size_t n = 1;
    if (extra)
        h[n++] = *extra;
    n += mcp_cors_headers(inst, req, h + n);
    static const char fallback[] =
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
        "\"message\":\"out of memory\"}}";
    const char *body = text ? text : fallback;
    inst->svc->http_respond(ex, status, h, n, body, strlen(body));
    free(text);
}

/* Fails a call before any message ran: answers c->ex and frees c. The id
 * of a single request is echoed when the body was already parsed. */
static void fail(mcp_call_t *c, int status, int code, const char *message,
                 const doppel_kv_t *extra)
{
    json_t *id = NULL;
    if (c->msgs && json_is_object(c->msgs)) {
        id = json_object_get(c->msgs, "id");
        if (!json_is_string(id) && !json_is_number(id))
            id = NULL;
    }
    if (c->ex)
        mcp_http_error(c->inst, c->ex, c->req, status, code, message, id,
                       extra);
    c->ex = NULL;
    mcp_call_free(c);
}

static int plain_error(mcp_inst_t *inst, doppel_http_exchange_t *ex,
                       const doppel_http_request_t *req, int status, int code,
                       const char *message, const doppel_kv_t *extra)
{
    mcp_http_error(inst, ex, req, status, code, message, NULL, extra);
    return 0;
}

/* ---- Header checks ------------------------------------------------------- */

static int str_is(doppel_str_t s, const char *lit)
{
    size_t l = strlen(lit);
    return s.len == l && strncasecmp(s.ptr, lit, l) == 0;
}

static int method_is(const doppel_http_request_t *req, const char *m)
{
    size_t l = strlen(m);
    return req->method.len == l && memcmp(req->method.ptr, m, l) == 0;
}

/* Trims spaces and tabs off both ends of [*p, *e). */
static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* 1 if the parameters [p, e) of a media range hold q=0 (or 0.0...). */
static int q_is_zero(const char *p, const char *e)
{
    while (p < e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        const char *pe = semi ? semi : e, *ps = p;
        trim(&ps, &pe);
        if (pe - ps >= 2 && (ps[0] == 'q' || ps[0] == 'Q') && ps[1] == '=') {
            if (pe - ps == 2)
                return 0;
            for (const char *v = ps + 2; v < pe; v++)
                if (*v != '0' && *v != '.')
                    return 0;
            return 1;
        }
        p = semi ? semi + 1 : e;
    }
    return 0;
}

/* 1 if the Accept header allows type ("application/json"): an absent
 * header allows everything; type/any, any/any and q>0 count. */
static int accepts(const doppel_http_request_t *req, const char *type)
{
    const doppel_str_t *a = req->header(req, "Accept");
    if (a == NULL || a->len == 0)
        return 1;
    const char *slash = strchr(type, '/');
    size_t major = (size_t)(slash - type);
    const char *p = a->ptr, *end = a->ptr + a->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        const char *semi = memchr(p, ';', (size_t)(ie - p));
        const char *te = semi ? semi : ie;
        const char *ts = p;
        trim(&ts, &te);
        doppel_str_t t = {ts, (size_t)(te - ts)};
        int match = str_is(t, type) || str_is(t, "*/*") ||
                    (t.len == major + 2 && strncasecmp(ts, type, major) == 0 &&
                     ts[major] == '/' && ts[major + 1] == '*');
        if (match && semi && q_is_zero(semi + 1, ie))
            match = 0; /* q=0 means "not acceptable" */
        if (match)
            return 1;
        p = ie + (ie < end);
    }
    return 0;
}

static int content_type_json(const doppel_http_request_t *req)
{
    const doppel_str_t *ct = req->header(req, "Content-Type");
    if (ct == NULL)
        return 0;
    const char *p = ct->ptr, *e = ct->ptr + ct->len;
    const char *semi = memchr(p, ';', ct->len);
    if (semi)
        e = semi;
    trim(&p, &e);
    return str_is((doppel_str_t){p, (size_t)(e - p)}, "application/json");
}

/* Browsers send Origin; a page on another site reaching a local server
 * through DNS rebinding shows up with its own origin. Non-browser clients
 * send none. */
static int origin_allowed(mcp_inst_t *inst, const doppel_http_request_t *req)
{
    const doppel_str_t *o = req->header(req, "Origin");
    if (o == NULL)
        return 1;
    const char *list = inst->origins ? inst->origins : "";
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *s = p;
        trim(&s, &e);
        doppel_str_t item = {s, (size_t)(e - s)};
        if (str_is(item, "*") ||
            (item.len == o->len && strncasecmp(s, o->ptr, o->len) == 0))
            return 1;
        p = comma ? comma + 1 : e;
    }
    /* strictly scheme "://" host [":" port]: "http://[::1].evil" and
     * "http://localhost:80@evil" are other hosts, not loopback */
    return dp_origin_text_is_loopback(o->ptr, o->len);
}

/* CORS, for browser clients such as the MCP Inspector. A page whose Origin
 * passes origin_allowed gets its origin echoed on every answer, and
 * Mcp-Session-Id exposed to its scripts (without that the browser hides
 * the session id and the client cannot continue after initialize). Any
 * other Origin gets no CORS headers: the browser then keeps the answer
 * from the page, and the control server refuses the request anyway. */
size_t mcp_cors_headers(mcp_inst_t *inst, const doppel_http_request_t *req,
                        doppel_kv_t *h)
{
    const doppel_str_t *o = req ? req->header(req, "Origin") : NULL;
    if (o == NULL || !origin_allowed(inst, req))
        return 0;
    h[0] = (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Origin"), *o};
    h[1] = (doppel_kv_t){DOPPEL_STR("Access-Control-Expose-Headers"),
                         DOPPEL_STR("Mcp-Session-Id")};
    h[2] = (doppel_kv_t){DOPPEL_STR("Vary"), DOPPEL_STR("Origin")};
    return MCP_CORS_MAX;
}

/* Answers OPTIONS: a CORS preflight from an allowed Origin gets 204 with
 * the methods and request headers the MCP transports use (GET included,
 * so the client's GET reaches the server and reads its 405 rather than
 * failing as a network error); a preflight from any other Origin 403;
 * OPTIONS without Origin (not a browser) 204 with Allow. */
static int preflight(mcp_inst_t *inst, doppel_http_exchange_t *ex,
                     const doppel_http_request_t *req, const char *allow)
{
    if (!origin_allowed(inst, req))
        return plain_error(inst, ex, req, 403, RPC_SERVER_ERROR,
                           "Forbidden: Origin not allowed (see the "
                           "allowed_origins option)",
                           NULL);
    doppel_kv_t h[4 + MCP_CORS_MAX] = {
        {DOPPEL_STR("Allow"), {allow, strlen(allow)}},
    };
    size_t n = 1;
    size_t nc = mcp_cors_headers(inst, req, h + n);
    n += nc;
    if (nc) {
        h[n++] = (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Methods"),
                               DOPPEL_STR("GET, POST, DELETE, OPTIONS")};
        h[n++] = (doppel_kv_t){
            DOPPEL_STR("Access-Control-Allow-Headers"),
            DOPPEL_STR("Content-Type, Accept, Authorization, X-API-Key, "
                       "Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, "
                       "X-Doppel-Namespace")};
        h[n++] = (doppel_kv_t){DOPPEL_STR("Access-Control-Max-Age"),
                               DOPPEL_STR("600")};
    }
    inst->svc->http_respond(ex, 204, h, n, NULL, 0);
    return 0;
}

/* ---- Authentication ------------------------------------------------------ */

static char *dup_str(doppel_str_t s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static char *dup_json_str(json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static const char *body_message(json_t *body, const char *dflt)
{
    json_t *e = json_is_object(body) ? json_object_get(body, "error") : NULL;
    return json_is_string(e) ? json_string_value(e) : dflt;
}

static void on_whoami(void *data, int rc, const doppel_fetch_result_t *res)
{
    mcp_call_t *c = data;
    if (rc < 0 || res == NULL) {
        fail(c, 503, RPC_SERVER_ERROR,
             "cannot check the credential right now (the server is "
             "stopping or busy)",
             NULL);
        return;
    }
    json_t *body =
        res->body_len ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (res->status == 401) {
        static const doppel_kv_t www = {DOPPEL_STR("WWW-Authenticate"),
                                        DOPPEL_STR("Bearer realm=\"doppel\"")};
        char msg[300];
        snprintf(msg, sizeof(msg), "Unauthorized: %s",
                 body_message(body, "a doppel user token is required (send "
                                    "it as X-API-Key or Authorization: "
                                    "Bearer)"));
        json_decref(body);
        fail(c, 401, RPC_SERVER_ERROR, msg, &www);
        return;
    }
    if (res->status == 403) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Forbidden: %s",
                 body_message(body, "this token may not use the MCP server; "
                                    "a user token (mk_...) is needed"));
        json_decref(body);
        fail(c, 403, RPC_SERVER_ERROR, msg, NULL);
        return;
    }
    if (res->status == 429) {
        doppel_kv_t ra = {DOPPEL_STR("Retry-After"), DOPPEL_STR("1")};
        for (size_t i = 0; i < res->n_headers; i++)
            if (str_is(res->headers[i].name, "Retry-After"))
                ra.value = res->headers[i].value;
        json_decref(body);
        fail(c, 429, RPC_SERVER_ERROR,
             "Too many failed authentications; retry later", &ra);
        return;
    }
    if (res->status != 200 || !json_is_object(body)) {
        json_decref(body);
        fail(c, 502, RPC_SERVER_ERROR, "cannot check the credential", NULL);
        return;
    }
    c->pinned_ns = dup_json_str(json_object_get(body, "pinnedNamespace"));
    json_t *ms = json_object_get(json_object_get(body, "user"), "memberships");
    c->first_ns =
        dup_json_str(json_object_get(json_array_get(ms, 0), "namespace"));
    json_decref(body);
    c->caller.pinned_ns = c->pinned_ns;
    c->caller.first_ns = c->first_ns;
    c->after_auth(c);
}

/* Reads the credential and namespace headers into c, then asks the admin
 * API who that is; continues with c->after_auth. Stub calls need none. */
static void authenticate(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_http_request_t *req = c->req;
    const doppel_str_t *auth = req->header(req, "Authorization");
    const doppel_str_t *key = req->header(req, "X-API-Key");
    doppel_str_t secret = {"", 0};
    if (auth != NULL) {
        c->cred_name = strdup("Authorization");
        c->cred_value = dup_str(*auth);
        secret = *auth;
        if (secret.len > 7 && strncasecmp(secret.ptr, "Bearer ", 7) == 0) {
            secret.ptr += 7;
            secret.len -= 7;
        }
    } else if (key != NULL) {
        c->cred_name = strdup("X-API-Key");
        c->cred_value = dup_str(*key);
        secret = *key;
    }
    /* Mock servers are open: their sessions are bound to no credential
     * (an agent under test may send one, or not). */
    c->token =
        dup_str(c->kind == MCP_KIND_STUB ? (doppel_str_t){"", 0} : secret);
    const doppel_str_t *nsh = req->header(req, "X-Doppel-Namespace");
    if (nsh != NULL)
        c->ns_header = dup_str(*nsh);
    if (c->token == NULL ||
        ((auth || key) && (!c->cred_name || !c->cred_value)) ||
        (nsh && !c->ns_header)) {
        fail(c, 500, RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    if (c->cred_name) {
        c->caller.credential.name =
            (doppel_str_t){c->cred_name, strlen(c->cred_name)};
        c->caller.credential.value =
            (doppel_str_t){c->cred_value, strlen(c->cred_value)};
    }
    c->caller.ns_header = c->ns_header;
    c->caller.answer_max = c->inst->tool_answer_bytes;
    if (c->kind == MCP_KIND_STUB) {
        c->after_auth(c);
        return;
    }
    if (!DOPPEL_HAS_SERVICE(inst->svc, admin_call)) {
        fail(c, 503, RPC_SERVER_ERROR,
             "this host cannot check credentials (no admin_call service)",
             NULL);
        return;
    }
    /* The client's address goes along for the host's rate limiter on
     * failed authentications. */
    doppel_kv_t h[2] = {
        {DOPPEL_STR("X-Doppel-Client-Address"), req->remote_addr},
    };
    size_t nh = 1;
    if (c->cred_name)
        h[nh++] = c->caller.credential;
    doppel_fetch_t f = {
        .size = sizeof(f),
        .method = DOPPEL_STR("GET"),
        .url = DOPPEL_STR("/api/v1/whoami"),
        .headers = h,
        .n_headers = nh,
    };
    int rc = inst->svc->admin_call(inst->ctx, &f, on_whoami, c);
    if (rc < 0)
        fail(c, 503, RPC_SERVER_ERROR, "cannot check the credential", NULL);
}

/* ---- Streamable HTTP ----------------------------------------------------- */

static const doppel_kv_t allow_post_delete = {
    DOPPEL_STR("Allow"), DOPPEL_STR("POST, DELETE, OPTIONS")};

/* Parses the request body into c->msgs; on a syntax error answers the
 * JSON-RPC parse error (400) and returns -1. */
static int parse_body(mcp_call_t *c)
{
    json_error_t jerr;
    c->msgs = json_loadb((const char *)c->req->body, c->req->body_len,
                         JSON_DECODE_ANY, &jerr);
    if (c->msgs != NULL)
        return 0;
    char msg[220];
    snprintf(msg, sizeof(msg), "Parse error: %.180s", jerr.text);
    fail(c, 400, RPC_PARSE_ERROR, msg, NULL);
    return -1;
}

/* After auth: parse, find the session, check the version header, run. */
static void post_run(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_http_request_t *req = c->req;
    if (parse_body(c) < 0)
        return;
    c->batch = json_is_array(c->msgs);
    if (c->batch && json_array_size(c->msgs) == 0) {
        fail(c, 400, RPC_INVALID_REQUEST, "Invalid Request: empty batch", NULL);
        return;
    }
    if (!c->batch && !json_is_object(c->msgs)) {
        fail(c, 400, RPC_INVALID_REQUEST,
             "Invalid Request: a message is a JSON object", NULL);
        return;
    }
    json_t *m = c->batch ? NULL : json_object_get(c->msgs, "method");
    int is_init = json_is_string(m) &&
                  strcmp(json_string_value(m), "initialize") == 0 &&
                  json_object_get(c->msgs, "id") != NULL;
    if (!is_init) {
        const doppel_str_t *sid = req->header(req, "Mcp-Session-Id");
        if (sid == NULL) {
            fail(c, 400, RPC_SERVER_ERROR,
                 "Bad Request: Mcp-Session-Id header is required (send "
                 "initialize first)",
                 NULL);
            return;
        }
        char id[MCP_SID_LEN + 1] = "";
        int legacy = 0;
        if (sid->len == MCP_SID_LEN)
            memcpy(id, sid->ptr, MCP_SID_LEN);
        if (mcp_sessions_use(inst->sessions, id, c->token, c->scope,
                             mcp_now_ms(inst), c->version, &legacy) < 0 ||
            legacy) {
            fail(c, 404, RPC_SESSION_NOT_FOUND,
                 "Session not found: it ended, expired or never existed; "
                 "initialize a new one",
                 NULL);
            return;
        }
        memcpy(c->session, id, sizeof(id));
        const doppel_str_t *pv = req->header(req, "MCP-Protocol-Version");
        if (pv != NULL) {
            char v[MCP_VERSION_MAX] = "";
            if (pv->len < sizeof(v))
                memcpy(v, pv->ptr, pv->len);
            if (!mcp_version_supported(v)) {
                char msg[200];
                snprintf(msg, sizeof(msg),
                         "Bad Request: unsupported MCP-Protocol-Version "
                         "(supported: 2024-11-05, 2025-03-26, 2025-06-18, "
                         "%s)",
                         mcp_latest_version);
                fail(c, 400, RPC_SERVER_ERROR, msg, NULL);
                return;
            }
            memcpy(c->version, v, sizeof(v));
        }
    }
    if (c->batch && json_array_size(c->msgs) > c->inst->max_batch) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Invalid Request: a batch holds at most %zu messages "
                 "(max_batch); this one has %zu",
                 c->inst->max_batch, json_array_size(c->msgs));
        fail(c, 400, RPC_INVALID_REQUEST, msg, NULL);
        return;
    }
    if (c->batch && !mcp_version_allows_batch(c->version)) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "Invalid Request: protocol version %s has no JSON-RPC "
                 "batches",
                 c->version);
        fail(c, 400, RPC_INVALID_REQUEST, msg, NULL);
        return;
    }
    mcp_call_run(c);
}

static void delete_run(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_str_t *sid = c->req->header(c->req, "Mcp-Session-Id");
    if (sid == NULL) {
        fail(c, 400, RPC_SERVER_ERROR,
             "Bad Request: Mcp-Session-Id header is required", NULL);
        return;
    }
    char id[MCP_SID_LEN + 1] = "";
    if (sid->len == MCP_SID_LEN)
        memcpy(id, sid->ptr, MCP_SID_LEN);
    if (mcp_sessions_end(inst->sessions, id, c->token, c->scope) < 0) {
        fail(c, 404, RPC_SESSION_NOT_FOUND, "Session not found", NULL);
        return;
    }
    doppel_kv_t h[MCP_CORS_MAX];
    size_t n = mcp_cors_headers(inst, c->req, h);
    inst->svc->http_respond(c->ex, 204, h, n, NULL, 0);
    c->ex = NULL;
    mcp_call_free(c);
}

/* Decides the answer's media type: -1 when the client accepts neither. */
static int wants_sse(mcp_inst_t *inst, const doppel_http_request_t *req)
{
    int json = accepts(req, "application/json");
    int sse = accepts(req, "text/event-stream");
    if (!json && !sse)
        return -1;
    if (!json)
        return 1;
    if (!sse)
        return 0;
    return inst->sse_mode == MCP_SSE_ALWAYS;
}

static int streamable(mcp_inst_t *inst, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req, int kind,
                      const char *ns, const char *server)
{
    int post = method_is(req, "POST"), del = method_is(req, "DELETE");
    if (method_is(req, "OPTIONS"))
        return preflight(inst, ex, req, "POST, DELETE, OPTIONS");
    if (!post && !del)
        return plain_error(inst, ex, req, 405, RPC_SERVER_ERROR,
                           "Method not allowed: POST a JSON-RPC message, "
                           "DELETE to end a session (no GET stream here)",
                           &allow_post_delete);
    int sse = 0;
    if (post) {
        if (!content_type_json(req))
            return plain_error(inst, ex, req, 415, RPC_SERVER_ERROR,
                               "Unsupported Media Type: Content-Type must "
                               "be application/json",
                               NULL);
        sse = wants_sse(inst, req);
        if (sse < 0)
            return plain_error(inst, ex, req, 406, RPC_SERVER_ERROR,
                               "Not Acceptable: Accept must allow "
                               "application/json or text/event-stream",
                               NULL);
        if (req->body_len > inst->max_message_bytes) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "Message too large: at most %zu bytes "
                     "(max_message_bytes)",
                     inst->max_message_bytes);
            return plain_error(inst, ex, req, 413, RPC_INVALID_REQUEST, msg,
                               NULL);
        }
    }
    mcp_call_t *c = mcp_call_new(inst, kind, ex, req);
    if (c == NULL)
        return -ENOMEM;
    c->want_sse = sse;
    if (kind == MCP_KIND_STUB) {
        snprintf(c->ns, sizeof(c->ns), "%s", ns);
        snprintf(c->server, sizeof(c->server), "%s", server);
        snprintf(c->scope, sizeof(c->scope), "%s/%s", ns, server);
    }
    c->after_auth = post ? post_run : delete_run;
    authenticate(c);
    return 0;
}

/* ---- HTTP+SSE (2024-11-05) ----------------------------------------------- */

static void stream_free(mcp_stream_t *s, int remove_session)
{
    mcp_inst_t *inst = s->inst;
    if (remove_session)
        mcp_sessions_remove(inst->sessions, s->session);
    inst->svc->http_stream_end(s->ex);
    if (s->prev)
        s->prev->next = s->next;
    else
        inst->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static int stream_write(mcp_stream_t *s, const char *text, size_t len)
{
    int rc = s->inst->svc->http_stream_write(s->ex, text, len);
    if (rc < 0) {
        /* The client left (or cannot keep up): the session ends with it. */
        stream_free(s, 1);
        return rc;
    }
    s->last_write_ms = mcp_now_ms(s->inst);
    return 0;
}

void mcp_stream_send(mcp_inst_t *inst, const char *session, const char *text)
{
    for (mcp_stream_t *s = inst->streams; s; s = s->next) {
        if (strcmp(s->session, session) != 0)
            continue;
        size_t len = strlen(text) + 32;
        char *ev = malloc(len);
        if (ev == NULL)
            return;
        int l = snprintf(ev, len, "event: message\ndata: %s\n\n", text);
        stream_write(s, ev, (size_t)l);
        free(ev);
        return;
    }
}

void mcp_streams_tick(mcp_inst_t *inst)
{
    static const char ka[] = ": keep-alive\n\n";
    uint64_t now = mcp_now_ms(inst);
    mcp_stream_t *s = inst->streams;
    while (s) {
        mcp_stream_t *next = s->next;
        if (now - s->last_write_ms >= inst->keepalive_ms)
            stream_write(s, ka, sizeof(ka) - 1);
        s = next;
    }
}

void mcp_streams_close_all(mcp_inst_t *inst)
{
    mcp_sessions_drop_owner(inst->sessions, inst);
    while (inst->streams)
        stream_free(inst->streams, 0);
}

static void sse_open(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_services_t *svc = inst->svc;
    mcp_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        fail(c, 500, RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    mcp_session_new_t n = {
        .kind = MCP_KIND_CONTROL,
        .token = c->token,
        .scope = "",
        .version = "2024-11-05",
        .owner = inst,
        .now_ms = mcp_now_ms(inst),
    };
    int max;
    mcp_session_limits(inst, &max, &n.max_per_token);
    int rc = mcp_sessions_create(inst->sessions, &n, max, s->session);
    if (rc < 0) {
        free(s);
        fail(c, 503, RPC_SERVER_ERROR,
             rc == -EBUSY ? "too many sessions; retry later"
                          : "cannot create a session",
             NULL);
        return;
    }
    doppel_kv_t h[2 + MCP_CORS_MAX] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("text/event-stream")},
        {DOPPEL_STR("Cache-Control"), DOPPEL_STR("no-cache")},
    };
    size_t nh = 2 + mcp_cors_headers(inst, c->req, h + 2);
    s->inst = inst;
    s->ex = c->ex;
    c->ex = NULL;
    rc = svc->http_stream_start(s->ex, 200, h, nh);
    s->next = inst->streams;
    if (inst->streams)
        inst->streams->prev = s;
    inst->streams = s;
    mcp_call_free(c);
    if (rc < 0) {
        stream_free(s, 1);
        return;
    }
    char ev[300];
    int l = snprintf(ev, sizeof(ev),
                     "event: endpoint\ndata: %s/message?sessionId=%s\n\n",
                     inst->path, s->session);
    stream_write(s, ev, (size_t)l);
}

/* The value of name in a raw query string, copied into out (cap). */
static int query_param(doppel_str_t q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = q.ptr, *end = q.ptr + q.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if ((size_t)(pe - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = (size_t)(pe - p) - nl - 1;
            if (vl >= cap)
                return -EINVAL;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -ENOENT;
}

static void message_run(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_http_request_t *req = c->req;
    char id[MCP_SID_LEN + 1] = "";
    int legacy = 0;
    if (query_param(req->query, "sessionId", id, sizeof(id)) == -ENOENT) {
        fail(c, 400, RPC_SERVER_ERROR,
             "Bad Request: the sessionId query parameter is required", NULL);
        return;
    }
    if (mcp_sessions_use(inst->sessions, id, c->token, "", mcp_now_ms(inst),
                         c->version, &legacy) < 0 ||
        !legacy) {
        fail(c, 404, RPC_SESSION_NOT_FOUND, "Session not found", NULL);
        return;
    }
    memcpy(c->session, id, sizeof(id));
    if (parse_body(c) < 0)
        return;
    c->batch = json_is_array(c->msgs);
    if ((c->batch && (json_array_size(c->msgs) == 0 ||
                      json_array_size(c->msgs) > inst->max_batch ||
                      !mcp_version_allows_batch(c->version))) ||
        (!c->batch && !json_is_object(c->msgs))) {
        fail(c, 400, RPC_INVALID_REQUEST,
             "Invalid Request: a JSON-RPC message (object) or a non-empty "
             "batch",
             NULL);
        return;
    }
    doppel_kv_t h[1 + MCP_CORS_MAX] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("text/plain")},
    };
    size_t nh = 1 + mcp_cors_headers(inst, req, h + 1);
    inst->svc->http_respond(c->ex, 202, h, nh, "Accepted", 8);
    c->ex = NULL;
    c->req = NULL;
    c->legacy = 1;
    mcp_call_run(c);
}

/* ---- Mounts -------------------------------------------------------------- */

static const char shutting_down[] = "Service Unavailable: shutting down";

int mcp_control_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    mcp_inst_t *inst = state;
    if (inst->stopping)
        return plain_error(inst, ex, req, 503, RPC_SERVER_ERROR, shutting_down,
                           NULL);
    if (!origin_allowed(inst, req))
        return plain_error(inst, ex, req, 403, RPC_SERVER_ERROR,
                           "Forbidden: Origin not allowed (see the "
                           "allowed_origins option)",
                           NULL);
    doppel_str_t rest = req->rest;
    if (rest.len == 0 || str_is(rest, "/"))
        return streamable(inst, ex, req, MCP_KIND_CONTROL, "", "");
    if (str_is(rest, "/sse") || str_is(rest, "/message")) {
        int get = str_is(rest, "/sse");
        if (method_is(req, "OPTIONS"))
            return preflight(inst, ex, req,
                             get ? "GET, OPTIONS" : "POST, OPTIONS");
        if (!method_is(req, get ? "GET" : "POST")) {
            doppel_kv_t allow = {DOPPEL_STR("Allow"),
                                 get ? DOPPEL_STR("GET, OPTIONS")
                                     : DOPPEL_STR("POST, OPTIONS")};
            return plain_error(inst, ex, req, 405, RPC_SERVER_ERROR,
                               "Method not allowed", &allow);
        }
        if (get && !accepts(req, "text/event-stream"))
            return plain_error(inst, ex, req, 406, RPC_SERVER_ERROR,
                               "Not Acceptable: Accept must allow "
                               "text/event-stream",
                               NULL);
        if (!get && !content_type_json(req))
            return plain_error(inst, ex, req, 415, RPC_SERVER_ERROR,
                               "Unsupported Media Type: Content-Type must "
                               "be application/json",
                               NULL);
        if (!get && req->body_len > inst->max_message_bytes)
            return plain_error(inst, ex, req, 413, RPC_INVALID_REQUEST,
                               "Message too large (max_message_bytes)", NULL);
        mcp_call_t *c = mcp_call_new(inst, MCP_KIND_CONTROL, ex, req);
        if (c == NULL)
            return -ENOMEM;
        c->after_auth = get ? sse_open : message_run;
        authenticate(c);
        return 0;
    }
    return plain_error(inst, ex, req, 404, RPC_SERVER_ERROR,
                       "Not Found: the MCP endpoint is the mount path itself "
                       "(and /sse, /message for the HTTP+SSE transport)",
                       NULL);
}

/* Splits <stubs_prefix>/<ns>/mcp[/<server>] into ns and server; 0 or -1. */
static int stub_path(mcp_inst_t *inst, doppel_str_t path, char *ns,
                     char *server)
{
    size_t pl = strlen(inst->stubs_prefix);
    if (path.len <= pl + 1 || memcmp(path.ptr, inst->stubs_prefix, pl) != 0 ||
        path.ptr[pl] != '/')
        return -1;
    const char *p = path.ptr + pl + 1, *end = path.ptr + path.len;
    const char *seg[3];
    size_t len[3], n = 0;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (n == 3)
            return -1;
        seg[n] = p;
        len[n++] = (size_t)(e - p);
        p = slash ? slash + 1 : end;
        if (slash && p == end)
            return -1; /* trailing slash */
    }
    if (n < 2 || len[1] != 3 || memcmp(seg[1], "mcp", 3) != 0 ||
        !doppel_name_valid(seg[0], len[0], MCP_NAME_MAX))
        return -1;
    if (n == 3 && !doppel_name_valid(seg[2], len[2], MCP_NAME_MAX))
        return -1;
    memcpy(ns, seg[0], len[0]);
    ns[len[0]] = '\0';
    server[0] = '\0';
    if (n == 3) {
        memcpy(server, seg[2], len[2]);
        server[len[2]] = '\0';
    }
    return 0;
}

int mcp_stubs_classify(void *state, const doppel_http_request_t *req)
{
    char ns[MCP_NAME_MAX + 1], server[MCP_NAME_MAX + 1];
    return stub_path(state, req->path, ns, server) == 0;
}

int mcp_stubs_handler(void *state, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req)
{
    mcp_inst_t *inst = state;
    char ns[MCP_NAME_MAX + 1], server[MCP_NAME_MAX + 1];
    if (inst->stopping)
        return plain_error(inst, ex, req, 503, RPC_SERVER_ERROR, shutting_down,
                           NULL);
    if (stub_path(inst, req->path, ns, server) < 0)
        return plain_error(inst, ex, req, 404, RPC_SERVER_ERROR, "Not Found",
                           NULL);
    return streamable(inst, ex, req, MCP_KIND_STUB, ns, server);
}
