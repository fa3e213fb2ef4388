/*
 * Mock MCP servers: the calls of /stubs/<ns>/mcp[/<server>] go to the
 * shared engine (svc->engine_match, protocol "mcp"; the contract is in
 * docs/engine.md, "MCP: the contract with the plugin"), and the engine's
 * reply becomes an MCP result or a JSON-RPC error here. A mock's delay
 * holds the answer on a libuv timer, never the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "mcp_server.h"

/* An answer waiting for its mock's delay. Owned by inst->delays from
 * creation until its timer handle is closed. */
struct mcp_delay {
    uv_timer_t timer;
    mcp_inst_t *inst;
    mcp_call_t *c;
    size_t slot;
    json_t *answer; /* taken by mcp_call_answer when it fires */
    int answered;
    mcp_delay_t *prev, *next;
};

static void delay_closed(uv_handle_t *h)
{
    mcp_delay_t *d = h->data;
    mcp_inst_t *inst = d->inst;
    if (d->prev)
        d->prev->next = d->next;
    else
        inst->delays = d->next;
    if (d->next)
        d->next->prev = d->prev;
    json_decref(d->answer);
    free(d);
    inst->n_delay_handles--;
    mcp_inst_maybe_stopped(inst);
}

static void delay_fire(uv_timer_t *t)
{
    mcp_delay_t *d = t->data;
    d->answered = 1;
    json_t *a = d->answer;
    d->answer = NULL;
    uv_close((uv_handle_t *)&d->timer, delay_closed);
    mcp_call_answer(d->c, d->slot, a);
}

/* Answers slot after ms; answers at once when no timer can be had. */
static void answer_after(mcp_call_t *c, size_t slot, json_t *answer,
                         uint32_t ms)
{
    mcp_inst_t *inst = c->inst;
    uv_loop_t *loop = inst->svc->loop(inst->ctx);
    mcp_delay_t *d = ms && loop ? calloc(1, sizeof(*d)) : NULL;
    if (d == NULL || uv_timer_init(loop, &d->timer) < 0) {
        free(d);
        mcp_call_answer(c, slot, answer);
        return;
    }
    d->timer.data = d;
    d->inst = inst;
    d->c = c;
    d->slot = slot;
    d->answer = answer;
    d->next = inst->delays;
    if (inst->delays)
        inst->delays->prev = d;
    inst->delays = d;
    inst->n_delay_handles++;
    if (uv_timer_start(&d->timer, delay_fire, ms, 0) < 0)
        delay_fire(&d->timer);
}

void mcp_delays_cancel_all(mcp_inst_t *inst)
{
    mcp_delay_t *d = inst->delays;
    while (d) {
        mcp_delay_t *next = d->next;
        if (!d->answered) {
            d->answered = 1;
            uv_timer_stop(&d->timer);
            json_t *id = json_object_get(d->answer, "id");
            json_t *a = mcp_rpc_error(id, RPC_SERVER_ERROR,
                                      "the server is stopping", NULL);
            mcp_call_t *c = d->c;
            size_t slot = d->slot;
            uv_close((uv_handle_t *)&d->timer, delay_closed);
            mcp_call_answer(c, slot, a);
        }
        d = next;
    }
}

/* ---- Shaping the engine's reply ------------------------------------------ */

static doppel_str_t reply_header(const doppel_reply_t *r, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (r->headers[i].name.len == l &&
            strncasecmp(r->headers[i].name.ptr, name, l) == 0)
            return r->headers[i].value;
    return (doppel_str_t){"", 0};
}

/* The reply's body as JSON when it says it is JSON, else NULL. */
static json_t *reply_json(const doppel_reply_t *r)
{
    doppel_str_t ct = reply_header(r, "Content-Type");
    if (r->body_len == 0 || ct.len < 16 ||
        strncasecmp(ct.ptr, "application/json", 16) != 0)
        return NULL;
    return json_loadb((const char *)r->body, r->body_len, JSON_DECODE_ANY,
                      NULL);
}

/* The body as text for a text content item: a JSON string's value, other
 * JSON as written, anything else as sent (if it is UTF-8). */
static json_t *reply_text(const doppel_reply_t *r, json_t *parsed)
{
    if (json_is_string(parsed))
        return json_incref(parsed);
    json_t *t = json_stringn((const char *)r->body, r->body_len);
    return t ? t : json_string("(the mock's payload is not UTF-8 text)");
}

static json_t *text_item(json_t *text)
{
    json_t *o = json_pack("{s:s}", "type", "text");
    json_object_set_new(o, "text", text);
    return o;
}

static json_t *shape_tool(const doppel_reply_t *r)
{
    json_t *v = reply_json(r);
    json_t *res;
    if (json_is_object(v) && json_is_array(json_object_get(v, "content"))) {
        res = json_incref(v);
    } else {
        res = json_object();
        json_t *items = json_array();
        json_array_append_new(items, text_item(reply_text(r, v)));
        json_object_set_new(res, "content", items);
        if (json_is_object(v))
            json_object_set(res, "structuredContent", v);
    }
    if (r->flags & DOPPEL_REPLY_F_IS_ERROR)
        json_object_set_new(res, "isError", json_true());
    json_decref(v);
    return res;
}

static json_t *shape_resource(const doppel_reply_t *r, const char *uri)
{
    json_t *v = reply_json(r);
    json_t *res;
    if (json_is_object(v) && json_is_array(json_object_get(v, "contents"))) {
        res = json_incref(v);
    } else {
        doppel_str_t ct = reply_header(r, "Content-Type");
        json_t *item = json_pack("{s:s}", "uri", uri);
        if (ct.len) {
            const char *semi = memchr(ct.ptr, ';', ct.len);
            size_t l = semi ? (size_t)(semi - ct.ptr) : ct.len;
            json_t *mt = json_stringn(ct.ptr, l);
            if (mt)
                json_object_set_new(item, "mimeType", mt);
        }
        json_object_set_new(item, "text", reply_text(r, v));
        res = json_object();
        json_t *arr = json_array();
        json_array_append_new(arr, item);
        json_object_set_new(res, "contents", arr);
    }
    json_decref(v);
    return res;
}

static json_t *shape_prompt(const doppel_reply_t *r)
{
    json_t *v = reply_json(r);
    json_t *res;
    if (json_is_object(v) && json_is_array(json_object_get(v, "messages"))) {
        res = json_incref(v);
    } else {
        json_t *msg = json_pack("{s:s}", "role", "user");
        json_object_set_new(msg, "content", text_item(reply_text(r, v)));
        res = json_object();
        json_t *arr = json_array();
        json_array_append_new(arr, msg);
        json_object_set_new(res, "messages", arr);
    }
    json_decref(v);
    return res;
}

/* "no mock matched tools/call get_weather: $.city: expected ..." */
static json_t *miss_text(const char *method, const char *target, json_t *rep)
{
    char buf[1200];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "No mock matched %s %s",
                                method, target);
    const char *sep = ": ";
    json_t *nm = json_object_get(rep, "nearMisses");
    for (size_t i = 0; i < json_array_size(nm) && o < sizeof(buf) - 1; i++) {
        json_t *failed = json_object_get(json_array_get(nm, i), "failed");
        for (size_t j = 0; j < json_array_size(failed); j++) {
            json_t *why = json_object_get(json_array_get(failed, j), "reason");
            if (!json_is_string(why) || o >= sizeof(buf) - 1)
                continue;
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", sep,
                                  json_string_value(why));
            sep = "; ";
        }
    }
    if (o >= sizeof(buf))
        o = sizeof(buf) - 1;
    json_t *t = json_stringn(buf, o);
    return t ? t : json_string("No mock matched");
}

/* ---- Requests ------------------------------------------------------------ */

typedef enum { OP_LIST, OP_TOOL, OP_RESOURCE, OP_PROMPT, OP_OTHER } op_t;

static json_t *answer_reply(mcp_call_t *c, op_t op, const char *method,
                            const char *target, json_t *id,
                            const char *list_key, json_t *params,
                            const doppel_reply_t *r)
{
    char msg[300];
    if (r->kind == DOPPEL_REPLY_PROXY)
        return mcp_rpc_error(id, RPC_INTERNAL_ERROR,
                             "proxy mocks are not supported on MCP", NULL);
    if (op == OP_LIST) {
        json_t *v = reply_json(r);
        json_t *arr = json_object_get(v, list_key);
        json_t *res = json_object();
        int rc = mcp_page(c->inst, params, json_is_array(arr) ? arr : NULL,
                          list_key, res);
        json_decref(v);
        if (rc < 0) {
            json_decref(res);
            return mcp_rpc_error(id, RPC_INVALID_PARAMS, "invalid cursor",
                                 NULL);
        }
        return mcp_rpc_result(id, res);
    }
    if (r->kind == DOPPEL_REPLY_NO_MATCH) {
        json_t *rep = json_loadb((const char *)r->body, r->body_len, 0, NULL);
        int known = json_is_true(json_object_get(rep, "known"));
        json_t *ans;
        if (op == OP_TOOL && known) {
            json_t *res = json_object();
            json_t *items = json_array();
            json_array_append_new(items,
                                  text_item(miss_text(method, target, rep)));
            json_object_set_new(res, "content", items);
            json_object_set_new(res, "isError", json_true());
            ans = mcp_rpc_result(id, res);
        } else if (op == OP_TOOL) {
            snprintf(msg, sizeof(msg), "Unknown tool: %.200s", target);
            ans = mcp_rpc_error(id, RPC_INVALID_PARAMS, msg, NULL);
        } else if (op == OP_RESOURCE && !known) {
            snprintf(msg, sizeof(msg), "Resource not found: %.200s", target);
            ans = mcp_rpc_error(id, RPC_RESOURCE_NOT_FOUND, msg,
                                json_pack("{s:s}", "uri", target));
        } else if (op == OP_PROMPT && !known) {
            snprintf(msg, sizeof(msg), "Unknown prompt: %.200s", target);
            ans = mcp_rpc_error(id, RPC_INVALID_PARAMS, msg, NULL);
        } else if (op == OP_OTHER) {
            snprintf(msg, sizeof(msg), "Method not found: %.120s", method);
            ans = mcp_rpc_error(id, RPC_METHOD_NOT_FOUND, msg, NULL);
        } else {
            json_t *text = miss_text(method, target, rep);
            ans = mcp_rpc_error(id, RPC_INVALID_PARAMS, json_string_value(text),
                                rep ? json_incref(rep) : NULL);
            json_decref(text);
        }
        json_decref(rep);
        return ans;
    }
    if (op == OP_TOOL)
        return mcp_rpc_result(id, shape_tool(r));
    if (op == OP_RESOURCE)
        return mcp_rpc_result(id, shape_resource(r, target));
    if (op == OP_PROMPT)
        return mcp_rpc_result(id, shape_prompt(r));
    snprintf(msg, sizeof(msg), "Method not found: %.120s", method);
    return mcp_rpc_error(id, RPC_METHOD_NOT_FOUND, msg, NULL);
}

/* Builds the engine exchange for one request, matches it and answers. */
static json_t *match(mcp_call_t *c, op_t op, const char *method,
                     const char *target, const char *body, json_t *id,
                     const char *list_key, json_t *params, uint32_t *delay)
{
    mcp_inst_t *inst = c->inst;
    const doppel_services_t *svc = inst->svc;
    const doppel_http_request_t *req = c->req;
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("mcp"),
        .ns = {c->ns, strlen(c->ns)},
        .operation = {method, strlen(method)},
        .target = {target, strlen(target)},
        .metadata = req ? req->headers : NULL,
        .n_metadata = req ? req->n_headers : 0,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .content_type = DOPPEL_STR("application/json"),
        .server = {c->server, strlen(c->server)},
    };
    if (req) {
        x.request_id = req->request_id;
        x.remote_addr = req->remote_addr;
    }
    doppel_reply_t *r = NULL;
    int rc = svc->engine_match(inst->ctx, &x, &r);
    if (rc < 0 || r == NULL) {
        svc->log(inst->ctx, DOPPEL_LOG_ERROR, "engine_match failed: %d", rc);
        return mcp_rpc_error(id, RPC_INTERNAL_ERROR, "matching failed", NULL);
    }
    json_t *ans = answer_reply(c, op, method, target, id, list_key, params, r);
    if (r->kind == DOPPEL_REPLY_RESPONSE)
        *delay = r->delay_ms;
    svc->engine_reply_free(inst->ctx, r);
    return ans;
}

static json_t *param_error(json_t *id, const char *msg)
{
    return mcp_rpc_error(id, RPC_INVALID_PARAMS, msg, NULL);
}

static json_t *run(mcp_call_t *c, const char *method, json_t *id,
                   json_t *params, uint32_t *delay)
{
    static const struct {
        const char *method, *key;
    } lists[] = {{"tools/list", "tools"},
                 {"resources/list", "resources"},
                 {"prompts/list", "prompts"}};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (strcmp(method, lists[i].method) == 0)
            return match(c, OP_LIST, method, "", NULL, id, lists[i].key, params,
                         delay);
    if (strcmp(method, "resources/templates/list") == 0)
        return mcp_rpc_result(id, json_pack("{s:[]}", "resourceTemplates"));

    op_t op = strcmp(method, "tools/call") == 0       ? OP_TOOL
              : strcmp(method, "resources/read") == 0 ? OP_RESOURCE
              : strcmp(method, "prompts/get") == 0    ? OP_PROMPT
                                                      : OP_OTHER;
    if (op == OP_OTHER)
        return match(c, op, method, "", NULL, id, NULL, params, delay);

    const char *field = op == OP_RESOURCE ? "uri" : "name";
    json_t *target = json_object_get(params, field);
    if (!json_is_string(target) || json_string_length(target) == 0)
        return param_error(id, op == OP_RESOURCE
                                   ? "params.uri must be a non-empty string"
                                   : "params.name must be a non-empty string");
    json_t *body;
    if (op == OP_RESOURCE) {
        body = json_pack("{s:O}", "uri", target);
    } else {
        json_t *args = json_object_get(params, "arguments");
        if (args != NULL && !json_is_null(args) && !json_is_object(args))
            return param_error(id, "params.arguments must be an object");
        body = json_is_object(args) ? json_incref(args) : json_object();
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return mcp_rpc_error(id, RPC_INTERNAL_ERROR, "out of memory", NULL);
    json_t *ans = match(c, op, method, json_string_value(target), text, id,
                        NULL, params, delay);
    free(text);
    return ans;
}

void mcp_stub_request(mcp_call_t *c, size_t slot, const char *method,
                      json_t *id, json_t *params)
{
    uint32_t delay = 0;
    c->pending++;
    json_t *ans = run(c, method, id, params, &delay);
    if (delay > 0 && !c->inst->stopping)
        answer_after(c, slot, ans, delay);
    else
        mcp_call_answer(c, slot, ans);
}
