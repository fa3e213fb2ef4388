/*
 * JSON-RPC for both servers: one call is the messages of one POST (a
 * single message or, for protocol versions that allow it, a batch). Each
 * request gets a slot in c->answers; the methods answer their slot now or
 * later (tools, delayed mock answers); when the last slot is in, the call
 * answers on its transport and is freed.
 *
 * The control server's methods live here (initialize, ping, tools/list,
 * tools/call); a mock server's calls go to mcp_stubs.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_server.h"

static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                       "2025-11-25", NULL};
const char *const mcp_latest_version = "2025-11-25";

int mcp_version_supported(const char *v)
{
    for (size_t i = 0; v && versions[i]; i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

/* JSON-RPC batches were in the protocol until 2025-06-18 removed them. */
int mcp_version_allows_batch(const char *v)
{
    return v && (strcmp(v, "2024-11-05") == 0 || strcmp(v, "2025-03-26") == 0);
}

/* ---- Messages ------------------------------------------------------------ */

json_t *mcp_rpc_result(json_t *id, json_t *result)
{
    json_t *o = json_object();
    json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set(o, "id", id ? id : json_null());
    json_object_set_new(o, "result", result ? result : json_object());
    return o;
}

json_t *mcp_rpc_error(json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", json_string(message));
    if (data)
        json_object_set_new(e, "data", data);
    json_t *o = json_object();
    json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set(o, "id", id ? id : json_null());
    json_object_set_new(o, "error", e);
    return o;
}

/* ---- Cursors ------------------------------------------------------------- */

/* Cursors are opaque to clients; this one is "p" + the offset in hex +
 * a check character, so a made-up or truncated cursor is refused rather
 * than read as some other page. */
static char check_char(size_t offset)
{
    return (char)('g' + (offset * 7 + 3) % 20);
}

void mcp_cursor_encode(size_t offset, char *out, size_t cap)
{
    snprintf(out, cap, "p%zx%c", offset, check_char(offset));
}

int mcp_cursor_decode(const char *cursor, size_t *offset)
{
    size_t len = cursor ? strlen(cursor) : 0;
    if (len < 3 || len > 18 || cursor[0] != 'p')
        return -EINVAL;
    size_t v = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        char ch = cursor[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                         : -1;
        if (d < 0)
            return -EINVAL;
        v = v * 16 + (size_t)d;
    }
    if (cursor[len - 1] != check_char(v))
        return -EINVAL;
    *offset = v;
    return 0;
}

int mcp_page(mcp_inst_t *inst, json_t *params, json_t *array, const char *key,
             json_t *result)
{
    size_t off = 0, n = json_array_size(array);
    json_t *cur = params ? json_object_get(params, "cursor") : NULL;
    if (cur != NULL && !json_is_null(cur)) {
        if (!json_is_string(cur) ||
            mcp_cursor_decode(json_string_value(cur), &off) < 0 || off == 0 ||
            off >= n)
            return -EINVAL;
    }
    size_t size = inst->page_size ? inst->page_size : n;
    json_t *page = json_array();
    for (size_t i = off; i < n && i < off + size; i++)
        json_array_append(page, json_array_get(array, i));
    json_object_set_new(result, key, page);
    if (off + size < n) {
        char next[32];
        mcp_cursor_encode(off + size, next, sizeof(next));
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    return 0;
}

/* ---- The call ------------------------------------------------------------ */

mcp_call_t *mcp_call_new(mcp_inst_t *inst, int kind, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req)
{
    mcp_call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->inst = inst;
    c->kind = kind;
    c->ex = ex;
    c->req = req;
    c->next = inst->calls;
    if (inst->calls)
        inst->calls->prev = c;
    inst->calls = c;
    return c;
}

void mcp_call_free(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    if (c->prev)
        c->prev->next = c->next;
    else
        inst->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    json_decref(c->msgs);
    json_decref(c->answers);
    free(c->token);
    free(c->cred_name);
    free(c->cred_value);
    free(c->ns_header);
    free(c->pinned_ns);
    free(c->first_ns);
    free(c);
    mcp_inst_maybe_stopped(inst);
}

/* Sends the answers: 202 when there are none (only notifications and
 * responses came), else one object or an array, as JSON or as one SSE
 * event; on the HTTP+SSE transport, as an event on the session's stream. */
static void finish(mcp_call_t *c)
{
    mcp_inst_t *inst = c->inst;
    const doppel_services_t *svc = inst->svc;
    json_t *out = NULL;
    if (c->batch) {
        out = json_array();
        for (size_t i = 0; i < json_array_size(c->answers); i++) {
            json_t *a = json_array_get(c->answers, i);
            if (!json_is_null(a))
                json_array_append(out, a);
        }
        if (json_array_size(out) == 0) {
            json_decref(out);
            out = NULL;
        }
    } else {
        json_t *a = json_array_get(c->answers, 0);
        if (a && !json_is_null(a))
            out = json_incref(a);
    }
    int has_out = out != NULL;
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);

    if (c->legacy) {
        if (text &&
            mcp_sessions_deliver(inst->sessions, inst, c->session, text) < 0)
            svc->log(inst->ctx, DOPPEL_LOG_DEBUG,
                     "answer for a closed HTTP+SSE session dropped");
    } else if (c->ex != NULL) {
        doppel_kv_t h[3 + MCP_CORS_MAX];
        size_t n = mcp_cors_headers(inst, c->req, h);
        if (c->new_session)
            h[n++] = (doppel_kv_t){DOPPEL_STR("Mcp-Session-Id"),
                                   {c->session, strlen(c->session)}};
        if (!has_out) {
            svc->http_respond(c->ex, 202, h, n, NULL, 0);
        } else if (text == NULL) {
            mcp_http_error(inst, c->ex, c->req, 500, RPC_INTERNAL_ERROR,
                           "out of memory", NULL, NULL);
        } else if (c->want_sse) {
            h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("text/event-stream")};
            h[n++] = (doppel_kv_t){DOPPEL_STR("Cache-Control"),
                                   DOPPEL_STR("no-cache")};
            size_t len = strlen(text) + 32;
            char *ev = malloc(len);
            if (ev == NULL) {
                mcp_http_error(inst, c->ex, c->req, 500, RPC_INTERNAL_ERROR,
                               "out of memory", NULL, NULL);
            } else {
                int l = snprintf(ev, len, "event: message\ndata: %s\n\n", text);
                svc->http_respond(c->ex, 200, h, n, ev, (size_t)l);
                free(ev);
            }
        } else {
            h[n++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("application/json")};
            svc->http_respond(c->ex, c->bad_single ? 400 : 200, h, n, text,
                              strlen(text));
        }
        c->ex = NULL;
    }
    free(text);
    mcp_call_free(c);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A -32000 error for a budget of the batch; data names it and its
 * limit, so a client can tell which one and split its batch. */
static json_t *budget_error(json_t *id, const char *budget, uint64_t limit,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static json_t *budget_error(json_t *id, const char *budget, uint64_t limit,
                            const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mcp_rpc_error(
        id, RPC_SERVER_ERROR, msg,
        json_pack("{s:s, s:I}", "budget", budget, "limit", (json_int_t)limit));
}

/* Puts an answer (taken) in its slot. In a batch, an answer that would
 * take the answers past batch_answer_bytes is replaced by an error, and
 * calls not started yet will not start. */
static void set_answer(mcp_call_t *c, size_t slot, json_t *answer)
{
    if (answer == NULL)
        answer = json_null();
    if (c->batch && !json_is_null(answer)) {
        size_t max = c->inst->batch_answer_bytes;
        size_t len = json_dumpb(answer, NULL, 0, JSON_COMPACT);
        if (max && c->answer_bytes + len > max) {
            json_t *err = budget_error(
                json_object_get(answer, "id"), "batch_answer_bytes", max,
                "Answer dropped: the batch's answers would pass "
                "batch_answer_bytes (%zu bytes; this one is %zu); send "
                "this call again on its own",
                max, len);
            json_decref(answer);
            answer = err;
            c->bytes_spent = 1;
            len = json_dumpb(answer, NULL, 0, JSON_COMPACT);
        }
        c->answer_bytes += len;
    }
    json_array_set_new(c->answers, slot, answer);
}

static void dispatch(mcp_call_t *c);

void mcp_call_answer(mcp_call_t *c, size_t slot, json_t *answer)
{
    set_answer(c, slot, answer);
    if (--c->pending == 0)
        finish(c);
    else if (c->holding && !c->dispatching && c->pending == 1)
        dispatch(c); /* the call in flight answered: start the next */
}

/* ---- Control server methods ---------------------------------------------- */

typedef struct tool_wait {
    mcp_call_t *c;
    size_t slot;
    json_t *id;   /* reference */
    json_t *args; /* reference, lent to the tool until done */
} tool_wait_t;

static void tool_done(void *data, json_t *result)
{
    tool_wait_t *w = data;
    json_t *ans;
    if (!json_is_object(result)) {
        json_decref(result);
        ans = mcp_rpc_error(w->id, RPC_INTERNAL_ERROR,
                            "the tool gave no result", NULL);
    } else {
        ans = mcp_rpc_result(w->id, result);
    }
    mcp_call_t *c = w->c;
    size_t slot = w->slot;
    json_decref(w->id);
    json_decref(w->args);
    free(w);
    mcp_call_answer(c, slot, ans);
}

static json_t *tools_call(mcp_call_t *c, size_t slot, json_t *id,
                          json_t *params)
{
    json_t *name = json_object_get(params, "name");
    json_t *args = json_object_get(params, "arguments");
    if (!json_is_string(name))
        return mcp_rpc_error(id, RPC_INVALID_PARAMS,
                             "params.name must be a string (the tool's name)",
                             NULL);
    if (args != NULL && !json_is_null(args) && !json_is_object(args))
        return mcp_rpc_error(id, RPC_INVALID_PARAMS,
                             "params.arguments must be an object", NULL);
    tool_wait_t *w = calloc(1, sizeof(*w));
    json_t *own_args = json_is_object(args) ? json_incref(args) : json_object();
    if (w == NULL || own_args == NULL) {
        free(w);
        json_decref(own_args);
        return mcp_rpc_error(id, RPC_INTERNAL_ERROR, "out of memory", NULL);
    }
    w->c = c;
    w->slot = slot;
    w->id = json_incref(id);
    w->args = own_args;
    const char *why = NULL;
    c->pending++;
    int rc = mcp_tool_call(c->inst, &c->caller, json_string_value(name),
                           own_args, tool_done, w, &why);
    /* args were borrowed until done; done may already have run */
    if (rc < 0) {
        c->pending--;
        json_decref(w->id);
        free(w);
        json_decref(own_args);
        char msg[256];
        if (rc == -ENOENT)
            snprintf(msg, sizeof(msg), "Unknown tool: %s",
                     json_string_value(name));
        else if (rc == -EINVAL)
            snprintf(msg, sizeof(msg), "Invalid arguments for tool %s: %s",
                     json_string_value(name), why ? why : "invalid");
        else
            snprintf(msg, sizeof(msg), "Tool %s failed to start: %s",
                     json_string_value(name), strerror(-rc));
        return mcp_rpc_error(id,
                             rc == -ENOENT || rc == -EINVAL
                                 ? RPC_INVALID_PARAMS
                                 : RPC_INTERNAL_ERROR,
                             msg, NULL);
    }
    return NULL; /* w (and args) belong to tool_done now */
}

static const char instructions[] =
    "doppel is a multi-protocol mock server. These tools act with the "
    "rights of your token: list, create, update and delete mocks; read the "
    "request journal and the unmatched list (get_unmatched shows requests "
    "no mock answered, with near misses) to find and close gaps; read and "
    "write stores. Tools take an optional namespace; without it the "
    "X-Doppel-Namespace header, the token's pinned namespace or your first "
    "namespace is used.";

static json_t *initialize(mcp_call_t *c, json_t *id, json_t *params)
{
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_string(pv))
        return mcp_rpc_error(id, RPC_INVALID_PARAMS,
                             "params.protocolVersion must be a string", NULL);
    const char *want = json_string_value(pv);
    const char *v = mcp_version_supported(want) ? want : mcp_latest_version;
    mcp_inst_t *inst = c->inst;

    if (c->legacy) {
        mcp_sessions_set_version(inst->sessions, c->session, v);
    } else {
        mcp_session_new_t n = {
            .kind = c->kind,
            .token = c->token,
            .scope = c->scope,
            .version = v,
            .now_ms = mcp_now_ms(inst),
        };
        int max;
        mcp_session_limits(inst, &max, &n.max_per_token);
        int rc = mcp_sessions_create(inst->sessions, &n, max, c->session);
        if (rc < 0)
            return mcp_rpc_error(id, RPC_SERVER_ERROR,
                                 rc == -EBUSY
                                     ? "too many sessions; end one (DELETE) "
                                       "or retry later"
                                     : "cannot create a session",
                                 NULL);
        c->new_session = 1;
    }
    snprintf(c->version, sizeof(c->version), "%s", v);

    json_t *caps = json_object();
    json_t *info;
    if (c->kind == MCP_KIND_CONTROL) {
        json_object_set_new(caps, "tools",
                            json_pack("{s:b}", "listChanged", 0));
        info = json_pack("{s:s,s:s,s:s}", "name", "doppel", "title",
                         "doppel mock server", "version", MCP_PLUGIN_VERSION);
    } else {
        json_object_set_new(caps, "tools",
                            json_pack("{s:b}", "listChanged", 0));
        json_object_set_new(
            caps, "resources",
            json_pack("{s:b,s:b}", "listChanged", 0, "subscribe", 0));
        json_object_set_new(caps, "prompts",
                            json_pack("{s:b}", "listChanged", 0));
        info = json_pack("{s:s,s:s}", "name", c->server[0] ? c->server : c->ns,
                         "version", MCP_PLUGIN_VERSION);
    }
    json_t *res = json_pack("{s:s,s:o,s:o}", "protocolVersion", v,
                            "capabilities", caps, "serverInfo", info);
    if (c->kind == MCP_KIND_CONTROL)
        json_object_set_new(res, "instructions", json_string(instructions));
    else {
        char text[200];
        snprintf(text, sizeof(text),
                 "A mock MCP server served by doppel (namespace %s%s%s).",
                 c->ns, c->server[0] ? ", server " : "", c->server);
        json_object_set_new(res, "instructions", json_string(text));
    }
    return mcp_rpc_result(id, res);
}

/* Runs one request; returns its answer, or NULL when it answers later. */
static json_t *request(mcp_call_t *c, size_t slot, const char *method,
                       json_t *id, json_t *params)
{
    if (strcmp(method, "initialize") == 0)
        return initialize(c, id, params);
    if (strcmp(method, "ping") == 0)
        return mcp_rpc_result(id, json_object());
    if (c->kind == MCP_KIND_STUB) {
        mcp_stub_request(c, slot, method, id, params);
        return NULL;
    }
    if (strcmp(method, "tools/list") == 0) {
        json_t *all = mcp_tools_list();
        json_t *res = json_object();
        int rc =
            mcp_page(c->inst, params, all ? all : json_array(), "tools", res);
        json_decref(all);
        if (rc < 0) {
            json_decref(res);
            return mcp_rpc_error(id, RPC_INVALID_PARAMS, "invalid cursor",
                                 NULL);
        }
        return mcp_rpc_result(id, res);
    }
    if (strcmp(method, "tools/call") == 0)
        return tools_call(c, slot, id, params);
    char msg[200];
    snprintf(msg, sizeof(msg), "Method not found: %.120s", method);
    return mcp_rpc_error(id, RPC_METHOD_NOT_FOUND, msg, NULL);
}

static int valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || json_is_real(id);
}

/* Checks one message. Returns 1 for a request (method and id set), 0 for
 * a notification or a response from the client (no answer), or -1 with
 * *err set to the error answer. */
static int classify(json_t *m, const char **method, json_t **id,
                    json_t **params, json_t **err)
{
    *err = NULL;
    if (!json_is_object(m)) {
        *err =
            mcp_rpc_error(NULL, RPC_INVALID_REQUEST,
                          "Invalid Request: a message is a JSON object", NULL);
        return -1;
    }
    json_t *jv = json_object_get(m, "jsonrpc");
    json_t *mid = json_object_get(m, "id");
    json_t *answer_id = valid_id(mid) ? mid : NULL;
    if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0) {
        *err = mcp_rpc_error(answer_id, RPC_INVALID_REQUEST,
                             "Invalid Request: jsonrpc must be \"2.0\"", NULL);
        return -1;
    }
    json_t *jm = json_object_get(m, "method");
    if (jm == NULL) {
        /* A response to a request of ours: we send none, so it is dropped,
         * but it must at least look like one. */
        if (mid != NULL && (json_object_get(m, "result") != NULL ||
                            json_object_get(m, "error") != NULL))
            return 0;
        *err = mcp_rpc_error(answer_id, RPC_INVALID_REQUEST,
                             "Invalid Request: no method", NULL);
        return -1;
    }
    if (!json_is_string(jm) || json_string_length(jm) == 0) {
        *err = mcp_rpc_error(answer_id, RPC_INVALID_REQUEST,
                             "Invalid Request: method must be a non-empty "
                             "string",
                             NULL);
        return -1;
    }
    if (mid != NULL && !valid_id(mid)) {
        *err = mcp_rpc_error(NULL, RPC_INVALID_REQUEST,
                             "Invalid Request: id must be a string or a "
                             "number",
                             NULL);
        return -1;
    }
    json_t *p = json_object_get(m, "params");
    if (p != NULL && !json_is_object(p)) {
        if (mid == NULL)
            return 0; /* a notification gets no answer, not even an error */
        *err = mcp_rpc_error(mid, RPC_INVALID_PARAMS,
                             "Invalid params: params must be an object", NULL);
        return -1;
    }
    *method = json_string_value(jm);
    *id = mid;
    *params = p;
    return mid != NULL;
}

/* Why message i, a request, may not start (an error answer), or NULL. */
static json_t *not_started(mcp_call_t *c, json_t *id)
{
    if (c->inst->stopping)
        return mcp_rpc_error(id, RPC_SERVER_ERROR,
                             "Not started: the server is stopping", NULL);
    if (c->bytes_spent)
        return budget_error(id, "batch_answer_bytes",
                            c->inst->batch_answer_bytes,
                            "Not started: the batch's answers reached "
                            "batch_answer_bytes (%zu bytes); send this call "
                            "in another batch",
                            c->inst->batch_answer_bytes);
    uint64_t budget = c->inst->batch_time_ms;
    if (budget && mono_ms() - c->started_ms > budget)
        return budget_error(id, "batch_time_budget", budget,
                            "Not started: the batch ran past "
                            "batch_time_budget (%llu ms); send this call "
                            "in another batch",
                            (unsigned long long)budget);
    return NULL;
}

static void start_one(mcp_call_t *c, size_t i)
{
    json_t *m = c->batch ? json_array_get(c->msgs, i) : c->msgs;
    const char *method = NULL;
    json_t *id = NULL, *params = NULL, *err = NULL;
    int kind = classify(m, &method, &id, &params, &err);
    if (kind < 0) {
        c->bad_single =
            !c->batch &&
            json_integer_value(json_object_get(json_object_get(err, "error"),
                                               "code")) == RPC_INVALID_REQUEST;
        set_answer(c, i, err);
        return;
    }
    if (kind == 0)
        return; /* notifications/initialized and friends */
    if (c->batch && strcmp(method, "initialize") == 0) {
        set_answer(c, i,
                   mcp_rpc_error(id, RPC_INVALID_REQUEST,
                                 "Invalid Request: initialize must not be "
                                 "part of a batch",
                                 NULL));
        return;
    }
    if (c->batch && i > 0 && (err = not_started(c, id)) != NULL) {
        set_answer(c, i, err);
        return;
    }
    json_t *empty = NULL;
    if (params == NULL)
        params = empty = json_object();
    json_t *ans = request(c, i, method, id, params);
    json_decref(empty);
    if (ans != NULL)
        set_answer(c, i, ans);
}

/* Starts messages in order: all of them, or for a sequential call until
 * one is in flight (its answer calls dispatch again). Releases the hold,
 * and so may finish and free c, once every message has started. */
static void dispatch(mcp_call_t *c)
{
    size_t n = c->batch ? json_array_size(c->msgs) : 1;
    c->dispatching = 1;
    while (c->next_msg < n && !(c->sequential && c->pending > 1))
        start_one(c, c->next_msg++);
    c->dispatching = 0;
    if (c->next_msg == n && c->holding) {
        c->holding = 0;
        if (--c->pending == 0)
            finish(c);
    }
}

void mcp_call_run(mcp_call_t *c)
{
    size_t n = c->batch ? json_array_size(c->msgs) : 1;
    c->answers = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(c->answers, json_null());
    c->pending = 1; /* held until every message has started */
    c->holding = 1;
    c->started_ms = mono_ms();
    /* a control server's calls do real work (admin API, outbound
     * requests); a mock server's are answered by the engine or a timer */
    c->sequential = c->batch && c->kind == MCP_KIND_CONTROL;
    dispatch(c);
}
