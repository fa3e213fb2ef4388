/*
 * The control server's tools: what tools/list shows and what tools/call
 * does. Reference for users: docs/mcp.md ("## Tools", generated from
 * tools/list by scripts/gen_mcp_tool_docs.py).
 *
 * Every tool but http_request is one call of the admin REST API through
 * svc->admin_call, with the caller's own credential header, so that an
 * agent gets exactly the rights, validation and audit trail of its token;
 * nothing here decides who may do what. http_request goes through
 * svc->http_fetch, the host's outbound client with its address guard, and
 * never carries the caller's credential.
 *
 * A call: look the tool up (-ENOENT), check the arguments against its
 * input schema (-EINVAL), resolve the namespace (argument, X-Doppel-
 * Namespace header, the token's pinned namespace, the user's first
 * namespace), build the request target with every path segment and query
 * value percent-encoded, send it, and turn the API's answer into a
 * CallToolResult. A failure the API reports becomes isError with the
 * API's message plus a hint the agent can act on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mcp_internal.h"
#include "mcp_schema.h"

#define NS_MAX 64                  /* the host's namespace rule */
#define TEXT_BODY_MAX (256u << 10) /* http_request: body shown to the agent */

/* ---- Growing strings (request targets) ---------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Percent-encodes everything but the RFC 3986 unreserved characters minus
 * '.', so that an id like "../x" or "a/b" stays one segment and can never
 * become a dot segment or a second segment of the request target. */
static void sb_pct(sbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '~') {
            sb_add(b, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_add(b, e, 3);
        }
    }
}

/* Appends "/" and the encoded segment. */
static void sb_seg(sbuf_t *b, const char *s)
{
    sb_add(b, "/", 1);
    sb_pct(b, s, strlen(s));
}

/* Appends "?name=value" or "&name=value"; a NULL value adds nothing. */
static void sb_query(sbuf_t *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    sb_add(b, memchr(b->p ? b->p : "", '?', b->len) ? "&" : "?", 1);
    sb_str(b, name);
    sb_add(b, "=", 1);
    sb_pct(b, value, strlen(value));
}

/* ---- One call in flight ---------------------------------------------- */

/* Where the namespace of a call came from, for the agent's 403 hint. */
static const char *const ns_sources[] = {
    "",
    "the tool's namespace argument",
    "the mock's own namespace field",
    "the X-Doppel-Namespace header of the MCP session",
    "the namespace the token is pinned to",
    "the first namespace the token's user is a member of",
};

enum ns_source { NS_NONE = 0, NS_ARG, NS_MOCK, NS_HEADER, NS_PINNED, NS_FIRST };

typedef struct tool_def tool_def_t;

/* Owned by mcp_tool_call until done has run; args and who are borrowed. */
typedef struct tool_call {
    mcp_inst_t *inst;
    const doppel_services_t *svc;
    const tool_def_t *def;
    json_t *args;
    const mcp_caller_t *who;
    mcp_tool_done_fn done;
    void *data;
    char ns[NS_MAX + 1]; /* "" when no namespace was resolved */
    enum ns_source ns_from;
    int by_id;        /* acts on one mock by id (its own namespace) */
    int dry_run;      /* validate_mock: a 400 is the answer, not a fault */
    json_t *on_empty; /* structuredContent for a 204 answer, owned */
    json_t *own_args; /* args made here when the client sent none */
    json_t *partial;  /* test_mock: the result while the journal is read */
    char rid[32];     /* test_mock: the requestId of its exchange */
} tool_call_t;

typedef int (*tool_run_fn)(tool_call_t *t, const char **why);

#define H_RO 0x1u
#define H_DESTRUCTIVE 0x2u
#define H_IDEMPOTENT 0x4u
#define H_OPEN 0x8u

struct tool_def {
    const char *name;
    const char *title;
    const char *description;
    /* The inputSchema as JSON text written with ' for the JSON quotes (so
     * the table stays readable); a " in it is a quote inside a
     * description, and descriptions never use an apostrophe.
     * test_mcptools_tools checks that every one parses. */
    const char *schema;
    unsigned hints;
    tool_run_fn run;
};

static void call_free(tool_call_t *t)
{
    json_decref(t->on_empty);
    json_decref(t->own_args);
    json_decref(t->partial);
    free(t);
}

static json_t *text_content(const char *text)
{
    return json_pack("[{s:s,s:s}]", "type", "text", "text", text);
}

static size_t answer_max(const tool_call_t *t)
{
    return t->who ? t->who->answer_max : 0;
}

/* The CallToolResult for structured (stolen) and text (NULL: structured
 * as compact JSON). */
static json_t *tool_result(json_t *structured, const char *text, int is_error)
{
    char *dumped = NULL;
    if (text == NULL && structured != NULL)
        dumped = json_dumps(structured, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *s = text ? text : dumped ? dumped : "";
    json_t *res = json_object();
    json_object_set_new(res, "content", text_content(s));
    if (structured != NULL)
        json_object_set_new(res, "structuredContent", structured);
    json_object_set_new(res, "isError", json_boolean(is_error));
    free(dumped);
    return res;
}

/* An isError result saying that an answer of size bytes is over the
 * budget. */
static json_t *over_budget(const tool_call_t *t, size_t size)
{
    char msg[400], text[640];
    snprintf(msg, sizeof(msg),
             "the answer (%zu bytes) is over the tool_answer_bytes budget "
             "of %zu bytes",
             size, answer_max(t));
    const char *hint = "Ask for less (a smaller limit, a filter, one item); "
                       "the operator may raise tool_answer_bytes in the "
                       "[mcp] section.";
    snprintf(text, sizeof(text), "%s failed: %s Hint: %s", t->def->name, msg,
             hint);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I}", "error", msg, "hint", hint, "budget",
                  "tool_answer_bytes", "limit", (json_int_t)answer_max(t));
    return tool_result(o, text, 1);
}

/* Hands the result to the caller and ends the call. structured is
 * stolen; text NULL means "structured as compact JSON". A result over
 * the caller's answer_max is replaced by an error naming the budget. */
static void finish(tool_call_t *t, json_t *structured, const char *text,
                   int is_error)
{
    json_t *res = tool_result(structured, text, is_error);
    size_t size;
    if (answer_max(t) &&
        (size = json_dumpb(res, NULL, 0, JSON_COMPACT)) > answer_max(t)) {
        json_decref(res);
        res = over_budget(t, size);
    }
    mcp_tool_done_fn done = t->done;
    void *data = t->data;
    call_free(t);
    done(data, res);
}

/* A failure found before or instead of an API answer. */
static void finish_error(tool_call_t *t, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish_error(tool_call_t *t, const char *hint, const char *fmt, ...)
{
    char msg[768], text[1280];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(text, sizeof(text), "%s failed: %s%s%s", t->def->name, msg,
             hint ? " Hint: " : "", hint ? hint : "");
    json_t *o = json_pack("{s:s}", "error", msg);
    if (hint != NULL)
        json_object_set_new(o, "hint", json_string(hint));
    finish(t, o, text, 1);
}

/* ---- Arguments ------------------------------------------------------- */

static const char *arg_str(const tool_call_t *t, const char *name)
{
    return json_string_value(json_object_get(t->args, name));
}

/* Integer arguments as query values; the schema bounded them. */
static void query_int(sbuf_t *b, const tool_call_t *t, const char *name)
{
    json_t *v = json_object_get(t->args, name);
    if (v == NULL)
        return;
    char num[32];
    json_int_t n = json_is_integer(v) ? json_integer_value(v)
                                      : (json_int_t)json_number_value(v);
    snprintf(num, sizeof(num), "%lld", (long long)n);
    sb_query(b, name, num);
}

/* Resolves the namespace in the documented order. Returns 0, or -EINVAL
 * after finishing the call with an error (a namespace that breaks the
 * host's name rule never reaches a URL). */
static int resolve_ns(tool_call_t *t, const json_t *mock)
{
    const char *cand[] = {
        arg_str(t, "namespace"),
        json_string_value(json_object_get(mock, "namespace")),
        t->who ? t->who->ns_header : NULL,
        t->who ? t->who->pinned_ns : NULL,
        t->who ? t->who->first_ns : NULL,
    };
    const char *ns = NULL;
    enum ns_source from = NS_NONE;
    for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
        if (cand[i] != NULL && cand[i][0] != '\0') {
            ns = cand[i];
            from = (enum ns_source)(i + 1);
            break;
        }
    }
    if (cand[0] != NULL && cand[1] != NULL && strcmp(cand[0], cand[1]) != 0) {
        finish_error(t,
                     "Give the namespace once: either the namespace argument "
                     "or the mock's namespace field.",
                     "the namespace argument '%.64s' and the mock's namespace "
                     "field '%.64s' differ",
                     cand[0], cand[1]);
        return -EINVAL;
    }
    if (ns == NULL)
        return 0;
    if (!doppel_name_valid(ns, strlen(ns), NS_MAX)) {
        finish_error(t,
                     "Namespaces are 1 to 64 characters of A-Z a-z 0-9 . _ - "
                     "(list_namespaces shows the ones you can use).",
                     "invalid namespace '%.80s' (from %s)", ns,
                     ns_sources[from]);
        return -EINVAL;
    }
    snprintf(t->ns, sizeof(t->ns), "%s", ns);
    t->ns_from = from;
    return 0;
}

/* ---- Answers --------------------------------------------------------- */

/* What an agent should do next, by status and tool. */
static const char *hint_for(const tool_call_t *t, int status, const char *code,
                            const char *msg, char *buf, size_t len)
{
    const char *tool = t->def->name;
    int mock_write =
        strcmp(tool, "create_mock") == 0 || strcmp(tool, "update_mock") == 0;
    switch (status) {
    case 400:
    case 422:
        if (mock_write)
            return "Call validate_mock with the mock to check it before "
                   "creating or updating it; field is the JSON path of the "
                   "fault (docs/mock-format.md describes every field).";
        if (strcmp(tool, "put_schema") == 0)
            return "The plugin refused the file at the file:line:column the "
                   "error names; nothing was stored. Fix it and upload "
                   "again (files importing each other go in one call).";
        return "Fix the argument the field names and call again.";
    case 401:
        return "The credential this MCP session was opened with was "
               "refused: reconnect with a valid user token (X-API-Key or "
               "Authorization: Bearer mk_...).";
    case 403:
        if (t->ns[0] != '\0') {
            snprintf(buf, len,
                     "The call used namespace '%s', taken from %s. The token "
                     "has no sufficient role there: pass a namespace argument "
                     "where it has one (list_namespaces shows them with your "
                     "role), or ask a namespace admin for the role.",
                     t->ns, ns_sources[t->ns_from]);
            return buf;
        }
        if (t->by_id)
            return "The mock lives in a namespace where the token has no "
                   "sufficient role (viewer to read, editor to change).";
        return "The call named no namespace, which means every namespace and "
               "needs an unpinned system-admin token: pass a namespace "
               "argument (list_namespaces shows yours).";
    case 404:
    case 405:
        if (status == 405 ||
            (msg != NULL && strstr(msg, "no admin endpoint") != NULL))
            return "This server does not offer that endpoint (the feature "
                   "may not be part of this build yet).";
        if (t->by_id)
            return "No mock has this id: list_mocks shows the ids (with "
                   "includeClosed true also the soft-deleted ones).";
        if (strstr(tool, "schema") != NULL)
            return "No such file in this namespace (list_schemas shows "
                   "them), or the section's plugin is not enabled.";
        if (strstr(tool, "store") != NULL)
            return "No such key: get_store without a key shows the whole "
                   "store.";
        if (strstr(tool, "mode") != NULL || strstr(tool, "coverage") != NULL)
            return "No such service in this namespace, or the mode and "
                   "coverage API is not part of this build.";
        return "Check the names and ids in the arguments.";
    case 409:
        if (strstr(tool, "schema") != NULL)
            return "Other files import this one: delete or change them "
                   "first (the error names them).";
        return "The change conflicts with the current state: read it again "
               "and retry.";
    case 413:
        if (strstr(tool, "schema") != NULL)
            return "A file is over the server's template_file_max: split "
                   "it, or ask the operator to raise the limit.";
        return "The request is over the server's max_body_bytes: send less "
               "(several smaller mocks instead of one huge one).";
    case 429:
        return "Too many failed authentications from this address: wait a "
               "minute and retry with a valid token.";
    default:
        if (status >= 500)
            return "The server failed (its log says why); nothing was "
                   "changed. Retry later.";
        return NULL;
    }
}

static void finish_api_error(tool_call_t *t, int status, json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "error"));
    const char *code = json_string_value(json_object_get(body, "code"));
    const char *field = json_string_value(json_object_get(body, "field"));
    char hbuf[512];
    const char *hint = hint_for(t, status, code, msg, hbuf, sizeof(hbuf));
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "error", json_string(msg ? msg : "no message"));
    if (code != NULL)
        json_object_set_new(o, "code", json_string(code));
    if (field != NULL)
        json_object_set_new(o, "field", json_string(field));
    if (t->ns[0] != '\0') {
        json_object_set_new(o, "namespace", json_string(t->ns));
        json_object_set_new(o, "namespaceSource",
                            json_string(ns_sources[t->ns_from]));
    }
    if (hint != NULL)
        json_object_set_new(o, "hint", json_string(hint));
    char text[1536];
    snprintf(
        text, sizeof(text), "%s failed (HTTP %d%s%s): %.600s%s%.100s%s%s%s",
        t->def->name, status, code ? " " : "", code ? code : "",
        msg ? msg : "no message", field ? " (field: " : "", field ? field : "",
        field ? ")" : "", hint ? " Hint: " : "", hint ? hint : "");
    json_decref(body);
    finish(t, o, text, 1);
}

/* structuredContent must be an object: wrap anything else. */
static json_t *as_object(json_t *v)
{
    if (json_is_object(v))
        return v;
    json_t *o = json_object();
    json_object_set_new(o, json_is_array(v) ? "items" : "value", v);
    return o;
}

/* Cuts a list answer (an object with an items array, as the admin API's
 * lists are) so that its CallToolResult fits answer_max, and marks it:
 * truncated, truncatedBy, hasMore and nextOffset (the offset to ask for
 * next). Returns 1 when cut, 0 when it fits or is no list, -1 when not
 * even its first item fits (o is then cut to no items). The text part
 * of a result repeats the JSON with its quotes escaped, so a first guess
 * keeps items worth 40% of the budget, then shrinks until it fits. */
static int cut_list(const tool_call_t *t, json_t *o)
{
    json_t *items = json_object_get(o, "items");
    size_t max = answer_max(t), n = json_array_size(items);
    if (max == 0 || !json_is_array(items) || n == 0)
        return 0;
    json_t *probe = tool_result(json_incref(o), NULL, 0);
    size_t sz = json_dumpb(probe, NULL, 0, JSON_COMPACT);
    json_decref(probe);
    if (sz <= max)
        return 0;
    json_incref(items); /* o's reference goes when the cut list replaces it */
    size_t keep = 0, acc = 0;
    while (keep < n) {
        size_t one =
            json_dumpb(json_array_get(items, keep), NULL, 0, JSON_COMPACT) + 1;
        if (acc + one > max * 2 / 5)
            break;
        acc += one;
        keep++;
    }
    json_int_t off = json_integer_value(json_object_get(o, "offset"));
    json_t *cut = json_array();
    for (size_t i = 0; i < keep; i++)
        json_array_append(cut, json_array_get(items, i));
    json_object_set_new(o, "items", cut);
    json_object_set_new(o, "truncated", json_true());
    json_object_set_new(o, "truncatedBy", json_string("tool_answer_bytes"));
    json_object_set_new(o, "hasMore", json_true());
    for (;;) {
        if (keep == 0) { /* an empty page would send the agent round */
            json_decref(items);
            return -1;
        }
        json_object_set_new(o, "nextOffset",
                            json_integer(off + (json_int_t)keep));
        probe = tool_result(json_incref(o), NULL, 0);
        sz = json_dumpb(probe, NULL, 0, JSON_COMPACT);
        json_decref(probe);
        if (sz <= max)
            break;
        keep = keep * 3 / 4;
        json_array_clear(cut);
        for (size_t i = 0; i < keep; i++)
            json_array_append(cut, json_array_get(items, i));
    }
    json_decref(items);
    return 1;
}

static void admin_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    if (rc < 0 || res == NULL) {
        finish_error(t, "Retry; if it persists, the server log says why.",
                     "the admin API call failed: %s",
                     res && res->error.len ? res->error.ptr : strerror(-rc));
        return;
    }
    json_t *body = NULL;
    if (res->body_len > 0) {
        json_error_t je;
        body = json_loadb(res->body, res->body_len, JSON_DECODE_ANY, &je);
    }
    int status = res->status;
    if (status >= 200 && status < 300) {
        if (body == NULL) {
            json_t *o = t->on_empty ? json_incref(t->on_empty) : json_object();
            json_object_set_new(o, "ok", json_true());
            if (t->dry_run)
                json_object_set_new(o, "valid", json_true());
            finish(t, o, NULL, 0);
            return;
        }
        int cut = json_is_object(body) ? cut_list(t, body) : 0;
        if (cut > 0) {
            finish(t, body, NULL, 0); /* the text says what was kept */
            return;
        }
        if (cut < 0) {
            json_int_t off =
                json_integer_value(json_object_get(body, "offset"));
            json_decref(body);
            finish_error(t,
                         "Read that item on its own (get_mock), or go on "
                         "after it with offset + 1.",
                         "the item at offset %lld alone is over the "
                         "tool_answer_bytes budget of %zu bytes",
                         (long long)off, answer_max(t));
            return;
        }
        char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_t *o = as_object(body);
        /* validate_mock promises {valid}: an accepted dry run is valid. */
        if (t->dry_run && json_object_get(o, "valid") == NULL)
            json_object_set_new(o, "valid", json_true());
        finish(t, o, text, 0);
        free(text);
        return;
    }
    if (t->dry_run && status == 400 && json_is_object(body)) {
        /* validate_mock: the API's refusal is the answer to the question. */
        json_t *o = json_object();
        json_object_set_new(o, "valid", json_false());
        json_t *err = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "request_id") != 0)
                json_object_set(err, k, v);
        }
        json_object_set_new(o, "errors", json_pack("[o]", err));
        json_decref(body);
        finish(t, o, NULL, 0);
        return;
    }
    if (body == NULL && res->body_len > 0) {
        /* Not JSON (the front's own 413, say): quote what came back. */
        char msg[256];
        snprintf(msg, sizeof(msg), "%.*s",
                 (int)(res->body_len < 200 ? res->body_len : 200),
                 (const char *)res->body);
        body = json_pack("{s:s}", "error", msg);
    }
    finish_api_error(t, status, body);
}

/* Sends one admin API request; url and body are consumed, and cb gets
 * the answer. Returns 0: the call is finished (now or later) either
 * way. */
static int admin_send_cb(tool_call_t *t, const char *method, sbuf_t *url,
                         json_t *body, doppel_fetch_cb cb)
{
    char *btext = NULL;
    if (body != NULL)
        btext = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (url->oom || (body != NULL && btext == NULL)) {
        free(url->p);
        free(btext);
        finish_error(t, NULL, "out of memory");
        return 0;
    }
    if (!DOPPEL_HAS_SERVICE(t->svc, admin_call)) {
        free(url->p);
        free(btext);
        finish_error(t, "Upgrade doppel: the host must offer ABI 1.1.",
                     "this host has no in-process admin API");
        return 0;
    }
    doppel_kv_t h[2];
    size_t nh = 0;
    const mcp_caller_t *who = t->who;
    if (who != NULL && who->credential.name.len > 0)
        h[nh++] = who->credential;
    if (btext != NULL)
        h[nh++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                DOPPEL_STR("application/json")};
    doppel_fetch_t req = {
        .size = sizeof(req),
        .method = {method, strlen(method)},
        .url = {url->p, url->len},
        .headers = h,
        .n_headers = nh,
        .body = btext,
        .body_len = btext ? strlen(btext) : 0,
    };
    int rc = t->svc->admin_call(mcp_inst_ctx(t->inst), &req, cb, t);
    /* The request was copied (or refused): ours can go. */
    free(url->p);
    free(btext);
    if (rc < 0)
        finish_error(t, "Retry; if it persists, the server log says why.",
                     "the admin API refused the call: %s", strerror(-rc));
    return 0;
}

/* admin_send_cb with the generic answer: the API's JSON is the result. */
static int admin_send(tool_call_t *t, const char *method, sbuf_t *url,
                      json_t *body)
{
    return admin_send_cb(t, method, url, body, admin_done);
}

static void url_api(sbuf_t *b, const char *path)
{
    sb_str(b, "/api/v1");
    sb_str(b, path);
}

static void query_ns(sbuf_t *b, const tool_call_t *t)
{
    if (t->ns[0] != '\0')
        sb_query(b, "namespace", t->ns);
}

/* ---- The tools ------------------------------------------------------- */

static int run_list_mocks(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/mocks");
    query_ns(&u, t);
    sb_query(&u, "tags", arg_str(t, "tag"));
    sb_query(&u, "search", arg_str(t, "search"));
    json_t *ic = json_object_get(t->args, "includeClosed");
    if (ic != NULL)
        sb_query(&u, "includeClosed", json_is_true(ic) ? "true" : "false");
    query_int(&u, t, "offset");
    query_int(&u, t, "limit");
    sb_query(&u, "method", arg_str(t, "method"));
    /* service_ids: names (the host's name rule, so never a comma) joined
     * for ?service=, which keeps a mock of any of them. */
    json_t *ids = json_object_get(t->args, "service_ids");
    sbuf_t joined = {0};
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *name = json_string_value(v);
        if (!doppel_name_valid(name, strlen(name), NS_MAX)) {
            free(u.p);
            free(joined.p);
            *why = "service_ids: a service name is 1 to 64 characters of "
                   "A-Z a-z 0-9 . _ - (list_services shows them)";
            return -EINVAL;
        }
        if (i > 0)
            sb_add(&joined, ",", 1);
        sb_str(&joined, name);
    }
    if (json_array_size(ids) > 0) {
        if (joined.oom)
            u.oom = 1;
        else
            sb_query(&u, "service", joined.p);
    }
    free(joined.p);
    return admin_send(t, "GET", &u, NULL);
}

static int run_get_mock(tool_call_t *t, const char **why)
{
    sbuf_t u = {0};
    t->by_id = 1;
    url_api(&u, "/mocks");
    sb_seg(&u, arg_str(t, "id"));
    return admin_send(t, "GET", &u, NULL);
}

/* The flat arguments of create_mock, in the two shapes other control
 * servers use: request_method/request_uri/response_status/... and
 * route/method/responseHttp. */
static const char *const flat_a[] = {"request_method", "request_uri",
                                     "response_status", "response_body",
                                     "response_headers"};
static const char *const flat_b[] = {"route", "method", "responseHttp"};

static int has_any(const json_t *args, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_get(args, names[i]) != NULL)
            return 1;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A percent-decoded copy of s[0..n) ('+' is a space, as in a form
 * query), or NULL on a bad escape, a NUL or invalid UTF-8. */
static json_t *query_part(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    size_t o = 0;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                return NULL;
            }
            d[o++] = (char)(hi << 4 | lo);
            i += 2;
            continue;
        }
        d[o++] = s[i] == '+' ? ' ' : s[i];
    }
    json_t *j = json_stringn(d, o);
    free(d);
    return j;
}

/* "a=1&b=x" as the queryParams object {name: value} (each an equals
 * condition); NULL with *why on a malformed or repeated parameter. */
static json_t *query_conditions(const char *q, const char **why)
{
    json_t *o = json_object();
    const char *p = q;
    while (o != NULL && *p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;
        json_t *name = nl ? query_part(p, nl) : NULL;
        json_t *val = eq ? query_part(eq + 1, len - nl - 1) : json_string("");
        if (name == NULL || val == NULL ||
            json_object_get(o, json_string_value(name)) != NULL) {
            json_decref(name);
            json_decref(val);
            json_decref(o);
            *why = "request_uri: the query must be name=value pairs "
                   "joined by &, each name once, with valid %XX escapes";
            return NULL;
        }
        json_object_set_new(o, json_string_value(name), val);
        json_decref(name);
        p += len + (amp ? 1 : 0);
    }
    return o;
}

/* The mock the flat arguments describe (new reference), or NULL with
 * *why: the shapes may not be mixed, and each needs its path. */
static json_t *flat_mock(const tool_call_t *t, const char **why)
{
    const json_t *a = t->args;
    int sa = has_any(a, flat_a, sizeof(flat_a) / sizeof(flat_a[0]));
    int sb = has_any(a, flat_b, sizeof(flat_b) / sizeof(flat_b[0]));
    if (sa && sb) {
        *why = "give one argument shape: request_method/request_uri/"
               "response_status/response_body/response_headers, or route/"
               "method/responseHttp, not both";
        return NULL;
    }
    const char *path = arg_str(t, sa ? "request_uri" : "route");
    if (path == NULL) {
        *why = sa ? "request_uri is required with the request_* and "
                    "response_* arguments"
                  : "route is required with method and responseHttp";
        return NULL;
    }
    const char *method = arg_str(t, sa ? "request_method" : "method");
    const json_t *rh = json_object_get(a, "responseHttp");
    const json_t *status = sa ? json_object_get(a, "response_status")
                              : json_object_get(rh, "code");
    const json_t *body =
        sa ? json_object_get(a, "response_body") : json_object_get(rh, "body");
    const json_t *headers = sa ? json_object_get(a, "response_headers")
                               : json_object_get(rh, "headers");
    json_t *http = json_object();
    const char *qm = strchr(path, '?');
    json_object_set_new(http, "route",
                        qm ? json_stringn(path, (size_t)(qm - path))
                           : json_string(path));
    if (qm != NULL && qm[1] != '\0') {
        json_t *qc = query_conditions(qm + 1, why);
        if (qc == NULL) {
            json_decref(http);
            return NULL;
        }
        json_object_set_new(http, "queryParams", qc);
    }
    if (method != NULL)
        json_object_set_new(http, "httpMethod", json_string(method));
    json_t *resp = json_object();
    json_object_set_new(
        resp, "statusCode",
        status ? json_integer((json_int_t)json_number_value(status))
               : json_integer(200));
    if (body != NULL)
        json_object_set(resp, "payload", (json_t *)body);
    if (headers != NULL)
        json_object_set(resp, "headers", (json_t *)headers);
    return json_pack("{s:o, s:o}", "http", http, "response", resp);
}

static int run_create_mock(tool_call_t *t, const char **why)
{
    json_t *mock = json_object_get(t->args, "mock");
    int flat = has_any(t->args, flat_a, sizeof(flat_a) / sizeof(flat_a[0])) ||
               has_any(t->args, flat_b, sizeof(flat_b) / sizeof(flat_b[0]));
    if (mock != NULL && flat) {
        *why = "give either mock (the doppel mock format) or the flat "
               "arguments (request_uri, ... or route, ...), not both";
        return -EINVAL;
    }
    if (mock == NULL && !flat) {
        *why = "give mock (the doppel mock format), or request_uri with "
               "request_method and response_status, or route with method "
               "and responseHttp";
        return -EINVAL;
    }
    mock = mock ? json_incref(mock) : flat_mock(t, why);
    if (mock == NULL)
        return -EINVAL;
    if (resolve_ns(t, mock) < 0) {
        json_decref(mock);
        return 0;
    }
    sbuf_t u = {0};
    /* The query carries the namespace; a namespace field in the mock
     * itself wins in the API and was checked to agree above. */
    url_api(&u, t->dry_run ? "/mocks/validate" : "/mocks");
    query_ns(&u, t);
    return admin_send(t, "POST", &u, mock);
}

static int run_validate_mock(tool_call_t *t, const char **why)
{
    t->dry_run = 1;
    return run_create_mock(t, why);
}

static int run_update_mock(tool_call_t *t, const char **why)
{
    sbuf_t u = {0};
    t->by_id = 1;
    url_api(&u, "/mocks");
    sb_seg(&u, arg_str(t, "id"));
    return admin_send(t, "PATCH", &u,
                      json_incref(json_object_get(t->args, "patch")));
}

static int run_delete_mock(tool_call_t *t, const char **why)
{
    const char *id = arg_str(t, "id");
    int purge = json_is_true(json_object_get(t->args, "purge"));
    sbuf_t u = {0};
    t->by_id = 1;
    url_api(&u, "/mocks");
    sb_seg(&u, id);
    if (purge) {
        sb_str(&u, "/purge");
        t->on_empty = json_pack("{s:s,s:b}", "id", id, "purged", 1);
    }
    return admin_send(t, "DELETE", &u, NULL);
}

static int run_list_namespaces(tool_call_t *t, const char **why)
{
    sbuf_t u = {0};
    url_api(&u, "/namespaces");
    return admin_send(t, "GET", &u, NULL);
}

/* /stores/global[/key] or /stores/chain/<chain>[/key], with the
 * namespace. -EINVAL when scope chain comes without its chain. */
static int store_url(tool_call_t *t, sbuf_t *u, const char **why)
{
    const char *scope = arg_str(t, "scope");
    const char *chain = arg_str(t, "chain");
    const char *key = arg_str(t, "key");
    if (strcmp(scope, "chain") == 0 && chain == NULL) {
        *why = "scope \"chain\" needs the chain argument (the chainId)";
        return -EINVAL;
    }
    if (strcmp(scope, "global") == 0 && chain != NULL) {
        *why = "the chain argument is only for scope \"chain\"";
        return -EINVAL;
    }
    url_api(u, "/stores/");
    sb_str(u, scope);
    if (chain != NULL)
        sb_seg(u, chain);
    if (key != NULL)
        sb_seg(u, key);
    return 0;
}

static int run_store(tool_call_t *t, const char *method, json_t *body,
                     const char **why)
{
    sbuf_t u = {0};
    int rc = store_url(t, &u, why);
    if (rc < 0) {
        free(u.p);
        json_decref(body);
        return rc;
    }
    if (resolve_ns(t, NULL) < 0) {
        free(u.p);
        json_decref(body);
        return 0;
    }
    query_ns(&u, t);
    return admin_send(t, method, &u, body);
}

static int run_get_store(tool_call_t *t, const char **why)
{
    return run_store(t, "GET", NULL, why);
}

static int run_set_store(tool_call_t *t, const char **why)
{
    return run_store(t, "PUT", json_incref(json_object_get(t->args, "value")),
                     why);
}

static int run_delete_store(tool_call_t *t, const char **why)
{
    const char *key = arg_str(t, "key");
    t->on_empty = json_pack("{s:s,s:s?,s:s?}", "scope", arg_str(t, "scope"),
                            "chain", arg_str(t, "chain"), "key", key);
    json_object_set_new(t->on_empty, "deleted",
                        json_string(key ? "key" : "whole store"));
    return run_store(t, "DELETE", NULL, why);
}

static int run_ring(tool_call_t *t, const char *path)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, path);
    query_ns(&u, t);
    query_int(&u, t, "offset");
    query_int(&u, t, "limit");
    return admin_send(t, "GET", &u, NULL);
}

static int run_get_requests(tool_call_t *t, const char **why)
{
    return run_ring(t, "/requests");
}

static int run_get_unmatched(tool_call_t *t, const char **why)
{
    return run_ring(t, "/unmatched");
}

static int run_get_coverage(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/coverage");
    query_ns(&u, t);
    sb_query(&u, "service", arg_str(t, "service"));
    return admin_send(t, "GET", &u, NULL);
}

/* /mode, or /services/<name>[/mode] when a service is named. */
static void mode_url(tool_call_t *t, sbuf_t *u, int set)
{
    const char *service = arg_str(t, "service");
    if (service != NULL) {
        url_api(u, "/services");
        sb_seg(u, service);
        if (set)
            sb_str(u, "/mode");
    } else {
        url_api(u, "/mode");
    }
    query_ns(u, t);
}

static int run_get_mode(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    mode_url(t, &u, 0);
    return admin_send(t, "GET", &u, NULL);
}

static int run_set_mode(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    mode_url(t, &u, 1);
    return admin_send(
        t, "PUT", &u,
        json_pack("{s:O}", "mode", json_object_get(t->args, "mode")));
}

static int run_render_template(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/templates/render");
    query_ns(&u, t);
    json_t *body =
        json_pack("{s:O}", "template", json_object_get(t->args, "template"));
    json_t *req = json_object_get(t->args, "request");
    if (req != NULL)
        json_object_set(body, "request", req);
    return admin_send(t, "POST", &u, body);
}

/* ---- Schema files (/schemas/<section>, docs/admin-api.md) ------------- */

/* /api/v1/schemas/<section>[/<name>]?namespace=: the name travels as one
 * encoded segment, which the API reads back with its slashes. */
static int schema_url(tool_call_t *t, sbuf_t *u, const char *name)
{
    if (resolve_ns(t, NULL) < 0)
        return -EINVAL;
    url_api(u, "/schemas");
    sb_seg(u, arg_str(t, "section"));
    if (name != NULL)
        sb_seg(u, name);
    query_ns(u, t);
    return 0;
}

/* put_schema: one file (name, content) or several (files), one batch
 * either way, so that files importing each other go in together. */
static int run_put_schema(tool_call_t *t, const char **why)
{
    const char *name = arg_str(t, "name");
    json_t *content = json_object_get(t->args, "content");
    json_t *files = json_object_get(t->args, "files");
    if ((name != NULL) != (content != NULL)) {
        *why = "name and content go together (one file); for several "
               "files give files instead";
        return -EINVAL;
    }
    if ((name != NULL) == (files != NULL)) {
        *why = "give either name and content (one file) or files (several), "
               "not both and not neither";
        return -EINVAL;
    }
    if (files != NULL && json_object_size(files) == 0) {
        *why = "files is empty: give at least one file";
        return -EINVAL;
    }
    sbuf_t u = {0};
    if (schema_url(t, &u, NULL) < 0) {
        free(u.p);
        return 0;
    }
    json_t *body = files != NULL
                       ? json_pack("{s:O}", "files", files)
                       : json_pack("{s:{s:O}}", "files", name, content);
    return admin_send(t, "POST", &u, body);
}

static int run_list_schemas(tool_call_t *t, const char **why)
{
    (void)why;
    sbuf_t u = {0};
    if (schema_url(t, &u, NULL) < 0) {
        free(u.p);
        return 0;
    }
    return admin_send(t, "GET", &u, NULL);
}

/* The file comes back as text/plain: the result is {section, namespace,
 * name, content}. */
static void schema_get_done(void *data, int rc,
                            const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    if (rc < 0 || res == NULL || res->status != 200) {
        admin_done(data, rc, res);
        return;
    }
    /* t->on_empty holds {section, name}, copied when the call was made
     * (the arguments are the caller's until the call returns) */
    json_t *o = json_deep_copy(t->on_empty);
    json_t *content =
        json_stringn(res->body ? (const char *)res->body : "", res->body_len);
    if (o == NULL || content == NULL ||
        json_object_set_new(o, "namespace",
                            json_string(t->ns[0] ? t->ns : "sandbox")) < 0 ||
        json_object_set_new(o, "content", content) < 0) {
        if (o == NULL)
            json_decref(content);
        json_decref(o);
        finish_error(t, NULL, "the file is not UTF-8 text, or out of memory");
        return;
    }
    finish(t, o, NULL, 0);
}

static int run_get_schema(tool_call_t *t, const char **why)
{
    (void)why;
    sbuf_t u = {0};
    if (schema_url(t, &u, arg_str(t, "name")) < 0) {
        free(u.p);
        return 0;
    }
    t->on_empty = json_pack("{s:s, s:s}", "section", arg_str(t, "section"),
                            "name", arg_str(t, "name"));
    return admin_send_cb(t, "GET", &u, NULL, schema_get_done);
}

static int run_delete_schema(tool_call_t *t, const char **why)
{
    (void)why;
    sbuf_t u = {0};
    if (schema_url(t, &u, arg_str(t, "name")) < 0) {
        free(u.p);
        return 0;
    }
    t->on_empty = json_pack("{s:s, s:s, s:b}", "section", arg_str(t, "section"),
                            "name", arg_str(t, "name"), "deleted", 1);
    return admin_send(t, "DELETE", &u, NULL);
}

/* describe_protocol: GET /protocols/SECTION, whose answer is the result */
static int run_describe_protocol(tool_call_t *t, const char **why)
{
    (void)why;
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/protocols");
    sb_seg(&u, arg_str(t, "section"));
    query_ns(&u, t);
    return admin_send(t, "GET", &u, NULL);
}

/* protocol_action: GET /protocols/SECTION says whether the action reads
 * (GET, arguments as query parameters) or writes (POST, arguments as the
 * body); then the action itself, whose answer is the result. */
static void action_lookup_done(void *data, int rc,
                               const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    if (rc < 0 || res == NULL || res->status != 200) {
        admin_done(data, rc, res); /* its error, as for any call */
        return;
    }
    json_t *body = json_loadb(res->body ? (const char *)res->body : "",
                              res->body_len, 0, NULL);
    const char *name = arg_str(t, "action");
    json_t *list = json_object_get(body, "actions"), *a, *found = NULL;
    size_t i;
    char names[512];
    size_t nl = 0;
    names[0] = '\0';
    json_array_foreach(list, i, a)
    {
        const char *n = json_string_value(json_object_get(a, "name"));
        if (n == NULL)
            continue;
        if (name && strcmp(n, name) == 0)
            found = a;
        if (nl + strlen(n) + 3 < sizeof(names))
            nl += (size_t)snprintf(names + nl, sizeof(names) - nl, "%s%s",
                                   nl ? ", " : "", n);
    }
    if (found == NULL) {
        finish_error(t,
                     "describe_protocol lists the actions of a section "
                     "(its actions member).",
                     "section %s has no action '%s'%s%s",
                     arg_str(t, "section"), name ? name : "",
                     nl ? "; it has: " : "; it has none", names);
        json_decref(body);
        return;
    }
    int writes = json_is_true(json_object_get(found, "writes"));
    json_decref(body);
    sbuf_t u = {0};
    url_api(&u, "/protocols");
    sb_seg(&u, arg_str(t, "section"));
    sb_str(&u, "/actions");
    sb_seg(&u, name);
    query_ns(&u, t);
    json_t *args = json_object_get(t->args, "args");
    if (writes) {
        admin_send(t, "POST", &u, args ? json_incref(args) : json_object());
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        char *txt = json_is_string(v) ? NULL
                                      : json_dumps(v, JSON_COMPACT |
                                                          JSON_ENCODE_ANY);
        sb_query(&u, k, json_is_string(v) ? json_string_value(v) : txt);
        free(txt);
    }
    admin_send(t, "GET", &u, NULL);
}

static int run_protocol_action(tool_call_t *t, const char **why)
{
    (void)why;
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/protocols");
    sb_seg(&u, arg_str(t, "section"));
    query_ns(&u, t);
    return admin_send_cb(t, "GET", &u, NULL, action_lookup_done);
}

static int run_list_services(tool_call_t *t, const char **why)
{
    if (resolve_ns(t, NULL) < 0)
        return 0;
    sbuf_t u = {0};
    url_api(&u, "/services");
    query_ns(&u, t);
    return admin_send(t, "GET", &u, NULL);
}

static int run_create_mock_from_unmatched(tool_call_t *t, const char **why)
{
    sbuf_t u = {0};
    url_api(&u, "/undefined-requests");
    sb_seg(&u, arg_str(t, "id"));
    sb_str(&u, "/create-mock");
    json_t *body = json_object();
    json_t *resp = json_object_get(t->args, "response");
    json_t *tags = json_object_get(t->args, "tags");
    if (resp != NULL)
        json_object_set(body, "response", resp);
    if (tags != NULL)
        json_object_set(body, "tags", tags);
    return admin_send(t, "POST", &u, body);
}

/* ---- http_request ------------------------------------------------------ */

static char *base64(const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The body for the agent: text when it is UTF-8 (cut at a character
 * boundary), base64 otherwise; JSON also parsed when it is whole. */
static void fetch_body(json_t *o, const doppel_fetch_result_t *res)
{
    size_t n = res->body_len;
    const char *b = res->body;
    int truncated = n > TEXT_BODY_MAX;
    if (truncated) {
        n = TEXT_BODY_MAX;
        while (n > 0 && ((unsigned char)b[n] & 0xC0) == 0x80)
            n--;
    }
    json_t *s = json_stringn(b ? b : "", n);
    if (s != NULL) {
        json_object_set_new(o, "body", s);
        if (!truncated && n > 0) {
            json_error_t je;
            json_t *j = json_loadb(b, n, JSON_DECODE_ANY, &je);
            if (j != NULL)
                json_object_set_new(o, "json", j);
        }
    } else {
        char *enc = base64((const unsigned char *)b, n);
        json_object_set_new(o, "bodyBase64",
                            enc ? json_string(enc) : json_null());
        free(enc);
    }
    json_object_set_new(o, "bodyBytes",
                        json_integer((json_int_t)res->body_len));
    json_object_set_new(o, "truncated", json_boolean(truncated));
}

static void fetch_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    if (rc < 0) {
        char reason[512];
        snprintf(reason, sizeof(reason), "%.*s",
                 res && res->error.len ? (int)res->error.len : 0,
                 res && res->error.ptr ? res->error.ptr : "");
        const char *hint;
        switch (rc) {
        case -EACCES:
            hint = "The outbound address guard refused this address "
                   "(loopback, private, link-local and cloud-metadata "
                   "addresses are refused after DNS resolution). An "
                   "operator allows private upstreams with "
                   "allow_private_upstreams = on in the [server] section "
                   "of plugins.conf, or ALLOW_PROXY_TO_PRIVATE_IPS=true in "
                   "the server's environment.";
            break;
        case -ETIMEDOUT:
            hint = "The upstream did not answer in time: retry, or raise "
                   "timeoutMs.";
            break;
        case -EHOSTUNREACH:
            hint = "The host name does not resolve or cannot be reached: "
                   "check the URL.";
            break;
        case -ECONNREFUSED:
            hint = "Nothing listens at that address and port: check the URL.";
            break;
        case -EFBIG:
            hint = "The answer is over the server's response size limit.";
            break;
        default:
            hint = NULL;
        }
        finish_error(t, hint, "the request failed (%s)%s%s", strerror(-rc),
                     reason[0] ? ": " : "", reason);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(res->status));
    json_t *hs = json_object();
    for (size_t i = 0; i < res->n_headers; i++) {
        char name[128];
        const doppel_kv_t *kv = &res->headers[i];
        size_t nl =
            kv->name.len < sizeof(name) - 1 ? kv->name.len : sizeof(name) - 1;
        for (size_t k = 0; k < nl; k++) {
            char ch = kv->name.ptr[k];
            name[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        name[nl] = '\0';
        json_t *v =
            json_stringn(kv->value.ptr ? kv->value.ptr : "", kv->value.len);
        if (v == NULL)
            continue; /* not UTF-8: leave it out */
        json_t *prev = json_object_get(hs, name);
        if (json_is_string(prev)) {
            /* Repeated headers joined as HTTP allows (RFC 9110 5.3). */
            size_t pl = json_string_length(prev), vl = json_string_length(v);
            char *j = malloc(pl + vl + 3);
            if (j != NULL) {
                memcpy(j, json_string_value(prev), pl);
                memcpy(j + pl, ", ", 2);
                memcpy(j + pl + 2, json_string_value(v), vl);
                json_object_set_new(hs, name, json_stringn(j, pl + vl + 2));
                free(j);
            }
            json_decref(v);
        } else {
            json_object_set_new(hs, name, v);
        }
    }
    json_object_set_new(o, "headers", hs);
    fetch_body(o, res);
    finish(t, o, NULL, 0);
}

static int run_http_request(tool_call_t *t, const char **why)
{
    const char *url = arg_str(t, "url");
    const char *method = arg_str(t, "method");
    const char *body = arg_str(t, "body");
    json_t *headers = json_object_get(t->args, "headers");
    json_t *tmo = json_object_get(t->args, "timeoutMs");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        *why = "url must be an absolute http:// or https:// URL";
        return -EINVAL;
    }
    if (!DOPPEL_HAS_SERVICE(t->svc, http_fetch)) {
        finish_error(t, NULL, "this host has no outbound HTTP client");
        return 0;
    }
    size_t nh = json_object_size(headers);
    doppel_kv_t *h = calloc(nh ? nh : 1, sizeof(*h));
    if (h == NULL) {
        finish_error(t, NULL, "out of memory");
        return 0;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v)
    {
        h[i].name = (doppel_str_t){k, strlen(k)};
        h[i].value =
            (doppel_str_t){json_string_value(v), json_string_length(v)};
        i++;
    }
    doppel_fetch_t req = {
        .size = sizeof(req),
        .method = {method ? method : "GET", method ? strlen(method) : 3},
        .url = {url, strlen(url)},
        .headers = h,
        .n_headers = nh,
        .body = body,
        .body_len =
            body ? json_string_length(json_object_get(t->args, "body")) : 0,
        .timeout_ms = tmo ? (uint32_t)json_number_value(tmo) : 0,
    };
    int rc = t->svc->http_fetch(mcp_inst_ctx(t->inst), &req, fetch_done, t);
    free(h);
    if (rc == -EINVAL)
        finish_error(t,
                     "Check the URL (absolute http or https, with a host), "
                     "the method and the header names and values (no CR or "
                     "LF).",
                     "the request was refused before sending: invalid URL, "
                     "method or header");
    else if (rc < 0)
        finish_error(t, NULL, "the request could not start: %s", strerror(-rc));
    return 0;
}

/* ---- test_mock ---------------------------------------------------------
 * The request goes through svc->engine_match, the path a mock request of
 * the HTTP plugin takes, so it matches, counts, extracts and is journaled
 * as such a request would be; a proxy or LEARN answer is shown, never
 * forwarded, and a delay is reported, not waited for. Mock traffic needs
 * no admin role, but this is an admin tool: a GET /mocks of the namespace
 * first proves the caller's viewer role there (which also covers a
 * namespace whose mock traffic needs a token). */

/* Numbers the requestId of each test exchange; the loop thread only. */
static unsigned long test_seq;

/* The engine's answer as a result object: status, headers, body as text
 * (and parsed when JSON), delayMs. */
static json_t *reply_json(const doppel_reply_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(r->status));
    json_t *hs = json_object();
    for (size_t i = 0; i < r->n_headers; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)r->headers[i].name.len,
                 r->headers[i].name.ptr ? r->headers[i].name.ptr : "");
        json_t *v =
            json_stringn(r->headers[i].value.ptr ? r->headers[i].value.ptr : "",
                         r->headers[i].value.len);
        if (v != NULL)
            json_object_set_new(hs, name, v);
    }
    json_object_set_new(o, "headers", hs);
    doppel_fetch_result_t fr = {.body = (const char *)r->body,
                                .body_len = r->body_len};
    fetch_body(o, &fr);
    if (r->delay_ms)
        json_object_set_new(o, "delayMs", json_integer(r->delay_ms));
    return o;
}

/* The mock's logs answered: add the entry of our exchange, if there. */
static void test_journal_done(void *data, int rc,
                              const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    json_t *result = t->partial;
    t->partial = NULL;
    if (rc == 0 && res != NULL && res->status == 200 && res->body_len > 0) {
        json_error_t je;
        json_t *b = json_loadb(res->body, res->body_len, 0, &je);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(b, "items"), i, e)
        {
            const char *r = json_string_value(json_object_get(e, "requestId"));
            if (r != NULL && strcmp(r, t->rid) == 0) {
                json_object_set(result, "journal", e);
                break;
            }
        }
        json_decref(b);
    }
    finish(t, result, NULL, 0);
}

/* The exchange's name/value pairs: headers first, then query. */
static void kv_fill(doppel_kv_t *kv, size_t *i, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        kv[*i].name = (doppel_str_t){k, strlen(k)};
        kv[*i].value =
            (doppel_str_t){json_string_value(v), json_string_length(v)};
        (*i)++;
    }
}

/* Adds what the engine answered (or why nothing matched) to o. Returns
 * 1 when a mock matched (its id in mock_id). */
static int test_outcome(json_t *o, const doppel_reply_t *r, char *mock_id,
                        size_t len)
{
    if (r->kind == DOPPEL_REPLY_NO_MATCH) {
        json_error_t je;
        json_t *report =
            r->body_len ? json_loadb((const char *)r->body, r->body_len, 0, &je)
                        : NULL;
        json_object_set_new(o, "matched", json_false());
        json_object_set_new(o, "status", json_integer(r->status));
        json_t *nm = json_object_get(report, "nearMisses");
        json_object_set_new(o, "nearMisses",
                            nm ? json_incref(nm) : json_array());
        json_decref(report);
        return 0;
    }
    snprintf(mock_id, len, "%.*s", (int)r->mock_id.len,
             r->mock_id.ptr ? r->mock_id.ptr : "");
    json_object_set_new(o, "matched", json_true());
    json_object_set_new(o, "mockId", json_string(mock_id));
    if (r->kind == DOPPEL_REPLY_PROXY) {
        json_object_set_new(
            o, "proxy",
            json_stringn(r->proxy_target.ptr ? r->proxy_target.ptr : "",
                         r->proxy_target.len));
        json_object_set_new(o, "forwarded", json_false());
    } else {
        json_object_set_new(o, "response", reply_json(r));
    }
    return mock_id[0] != '\0';
}

/* Builds the exchange from the arguments and matches it. */
static void test_match(tool_call_t *t)
{
    const char *ns = t->ns[0] ? t->ns : "sandbox";
    const char *method = arg_str(t, "method");
    const char *path = arg_str(t, "path");
    json_t *q = json_object_get(t->args, "query");
    json_t *h = json_object_get(t->args, "headers");
    json_t *bv = json_object_get(t->args, "body");
    char *body = NULL;
    size_t body_len = 0;
    if (json_is_string(bv)) {
        body_len = json_string_length(bv);
        if ((body = malloc(body_len + 1)) != NULL)
            memcpy(body, json_string_value(bv), body_len + 1);
    } else if (bv != NULL) {
        body = json_dumps(bv, JSON_COMPACT | JSON_ENCODE_ANY);
        body_len = body ? strlen(body) : 0;
    }
    size_t nq = json_object_size(q), nh = json_object_size(h), n = 0;
    doppel_kv_t *kv = calloc(nq + nh + 1, sizeof(*kv));
    if (kv == NULL || (bv != NULL && body == NULL)) {
        free(kv);
        free(body);
        finish_error(t, NULL, "out of memory");
        return;
    }
    kv_fill(kv, &n, h);
    kv_fill(kv, &n, q);
    const char *ctype = NULL;
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(kv[i].name.ptr, "Content-Type") == 0)
            ctype = kv[i].value.ptr;
    if (ctype == NULL && bv != NULL && !json_is_string(bv))
        ctype = "application/json";
    snprintf(t->rid, sizeof(t->rid), "mcp-test-%lu", ++test_seq);
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = {ns, strlen(ns)},
        .operation = {method ? method : "GET", method ? strlen(method) : 3},
        .target = {path, strlen(path)},
        .metadata = kv,
        .n_metadata = nh,
        .params = kv + nh,
        .n_params = nq,
        .body = (const uint8_t *)body,
        .body_len = body_len,
        .content_type = {ctype ? ctype : "", ctype ? strlen(ctype) : 0},
        .request_id = {t->rid, strlen(t->rid)},
        .remote_addr = DOPPEL_STR("in-process"),
    };
    doppel_reply_t *r = NULL;
    int rc = t->svc->engine_match(mcp_inst_ctx(t->inst), &x, &r);
    free(kv);
    free(body);
    if (rc < 0 || r == NULL) {
        finish_error(t, "Retry; if it persists, the server log says why.",
                     "matching failed: %s", strerror(rc < 0 ? -rc : EIO));
        return;
    }
    json_t *o = json_pack("{s:s, s:s}", "namespace", ns, "requestId", t->rid);
    char mock_id[160] = "";
    int matched = test_outcome(o, r, mock_id, sizeof(mock_id));
    t->svc->engine_reply_free(mcp_inst_ctx(t->inst), r);
    if (!matched) {
        finish(t, o, NULL, 0);
        return;
    }
    /* The mock's newest journal entries hold ours unless 20 other
     * requests of the same mock came in between; then there is none. */
    t->partial = o;
    sbuf_t u = {0};
    url_api(&u, "/mocks");
    sb_seg(&u, mock_id);
    sb_str(&u, "/logs?limit=20");
    admin_send_cb(t, "GET", &u, NULL, test_journal_done);
}

/* The role check answered: match on success, else the API's refusal. */
static void test_role_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    tool_call_t *t = data;
    if (rc == 0 && res != NULL && res->status == 200) {
        test_match(t);
        return;
    }
    admin_done(data, rc, res);
}

static int run_test_mock(tool_call_t *t, const char **why)
{
    const char *path = arg_str(t, "path");
    if (path[0] != '/' || strchr(path, '?') != NULL) {
        *why = "path must start with / and hold no query (give the query "
               "as the query object)";
        return -EINVAL;
    }
    if (resolve_ns(t, NULL) < 0)
        return 0;
    /* The arguments are read again when the role check answers. */
    if (t->own_args == NULL)
        t->own_args = json_incref(t->args);
    sbuf_t u = {0};
    url_api(&u, "/mocks");
    sb_query(&u, "namespace", t->ns[0] ? t->ns : "sandbox");
    sb_query(&u, "limit", "1");
    return admin_send_cb(t, "GET", &u, NULL, test_role_done);
}

/* ---- The table --------------------------------------------------------- */

#define NS_PROP                                                                \
    "'namespace': {'type': 'string', 'minLength': 1, 'maxLength': 64, "        \
    "'description': 'Namespace to act in (1 to 64 of A-Z a-z 0-9 . _ -). "     \
    "Default: the X-Doppel-Namespace header of the session, else the "         \
    "namespace the token is pinned to, else the first namespace of the "       \
    "token user.'}"
#define PAGING_PROPS                                                           \
    "'offset': {'type': 'integer', 'minimum': 0, 'maximum': 1000000000, "      \
    "'description': 'Entries to skip (default 0).'}, "                         \
    "'limit': {'type': 'integer', 'minimum': 1, 'maximum': 1000, "             \
    "'description': 'Entries to return, 1 to 1000 (default 100).'}"
#define MOCK_ID_PROP(what)                                                     \
    "'id': {'type': 'string', 'minLength': 1, 'maxLength': 128, "              \
    "'description': 'The id of the mock " what " (the id field of "            \
    "list_mocks or create_mock results).'}"
#define STORE_PROPS                                                            \
    "'scope': {'type': 'string', 'enum': ['global', 'chain'], "                \
    "'description': 'global: the store of the namespace; chain: the store "    \
    "of one chainId (give chain).'}, "                                         \
    "'chain': {'type': 'string', 'minLength': 1, 'maxLength': 128, "           \
    "'description': 'The chainId whose store to use; only with scope "         \
    "chain.'}"
#define SERVICE_PROP(what)                                                     \
    "'service': {'type': 'string', 'minLength': 1, 'maxLength': 64, "          \
    "'description': '" what "'}"
#define MODES "['LEARN', 'MOCK', 'PASSTHROUGH', 'SPY']"
#define SCHEMA_SECTION_PROP                                                    \
    "'section': {'type': 'string', 'minLength': 1, 'maxLength': 64, "          \
    "'description': 'The mock section the files belong to: grpc for .proto "   \
    "files, graphql for SDL, soap for WSDL (its plugin must be "               \
    "enabled).'}"
#define SCHEMA_NAME_PROP(what)                                                 \
    "'name': {'type': 'string', 'minLength': 1, 'maxLength': 256, "            \
    "'description': 'The name of the file " what ": a relative path such "     \
    "as shop/v1/order.proto, as import lines name it.'}"

static const tool_def_t tools[] = {
    {"list_mocks", "List mocks",
     "Lists the mocks of a namespace, newest last, with paging "
     "({items, total, offset, limit, hasMore}). Filter by tag or by a "
     "search string (substring of id, route or tags). Soft-deleted mocks "
     "appear only with includeClosed true.",
     "{'type': 'object', 'properties': {" NS_PROP ", "
     "'tag': {'type': 'string', 'minLength': 1, 'maxLength': 256, "
     "'description': 'Only mocks carrying this tag (several: "
     "comma-separated, all must be present).'}, "
     "'search': {'type': 'string', 'minLength': 1, 'maxLength': 256, "
     "'description': 'Substring of the id, the route or a tag.'}, "
     "'includeClosed': {'type': 'boolean', 'description': 'Also list "
     "soft-deleted (closed) mocks. Default false.'}, "
     "'method': {'type': 'string', 'minLength': 1, 'maxLength': 16, "
     "'description': 'Only the HTTP mocks that answer this method "
     "(case-insensitive; a mock without httpMethod answers every "
     "method).'}, "
     "'service_ids': {'type': 'array', 'maxItems': 64, 'items': {'type': "
     "'string', 'minLength': 1, 'maxLength': 64}, 'description': 'Only the "
     "mocks of one of these services (their names, as list_services shows "
     "them): recordings and mocks tagged service:NAME.'}, " PAGING_PROPS
     "}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_list_mocks},
    {"get_mock", "Get a mock",
     "Returns one mock by id, with its server-set fields (createdAt, "
     "lastUse, useCounter, closedAt).",
     "{'type': 'object', 'properties': {" MOCK_ID_PROP(
         "to read") "}, 'required': ['id'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_mock},
    {"create_mock", "Create a mock",
     "Stores a mock (the doppel mock format: a protocol section such as "
     "{\"http\": {\"route\": \"/orders/:id\", \"httpMethod\": \"GET\"}} and "
     "one answer: response, oneOf or proxy). It serves requests at once. A "
     "mock whose id already exists is replaced, if you may write both its "
     "namespace and the new one; else the call is refused as any write "
     "without the role. Returns {overwritten, mock} "
     "with the generated id. Use validate_mock first when unsure: an "
     "invalid mock is refused with the JSON path of the fault and nothing "
     "is stored. Instead of mock, an HTTP mock can be given flat, in one "
     "of two shapes (never mixed, never with mock): request_method, "
     "request_uri (a route, with an optional ?query that must match), "
     "response_status, response_body, response_headers; or route, method "
     "and responseHttp {code, body, headers}. Mocks of other protocols go "
     "in mock with their section, e.g. {\"grpc\": {\"service\": "
     "\"shop.v1.Orders\", \"method\": \"GetOrder\"}, \"response\": "
     "{\"payload\": {...}}} (describe_protocol lists the services and "
     "methods there are).",
     "{'type': 'object', 'properties': {"
     "'mock': {'type': 'object', 'description': 'The mock, e.g. {\"http\": "
     "{\"route\": \"/hello\", \"httpMethod\": \"GET\"}, \"response\": "
     "{\"statusCode\": 200, \"payload\": {\"message\": \"hi\"}}}. Its own "
     "namespace field, if any, must agree with the namespace "
     "argument.'}, " NS_PROP ", "
     "'request_method': {'type': 'string', 'minLength': 1, 'maxLength': 16, "
     "'description': 'Flat shape: the HTTP method (default: any).'}, "
     "'request_uri': {'type': 'string', 'minLength': 1, 'maxLength': 8192, "
     "'description': 'Flat shape: the path, a doppel route (/users/:id), "
     "optionally with ?name=value pairs the query must carry.'}, "
     "'response_status': {'type': 'integer', 'minimum': 100, 'maximum': "
     "599, 'description': 'Flat shape: the status (default 200).'}, "
     "'response_body': {'description': 'Flat shape: the body, a string or "
     "any JSON (templates allowed, as in payload).'}, "
     "'response_headers': {'type': 'object', 'maxProperties': 64, "
     "'additionalProperties': {'type': 'string', 'maxLength': 8192}, "
     "'description': 'Flat shape: response headers, name to value.'}, "
     "'route': {'type': 'string', 'minLength': 1, 'maxLength': 8192, "
     "'description': 'Second flat shape: the route, as request_uri.'}, "
     "'method': {'type': 'string', 'minLength': 1, 'maxLength': 16, "
     "'description': 'Second flat shape: the HTTP method.'}, "
     "'responseHttp': {'type': 'object', 'properties': {"
     "'code': {'type': 'integer', 'minimum': 100, 'maximum': 599}, "
     "'body': {'description': 'A string or any JSON.'}, "
     "'headers': {'type': 'object', 'maxProperties': 64, "
     "'additionalProperties': {'type': 'string', 'maxLength': 8192}}}, "
     "'additionalProperties': false, 'description': 'Second flat shape: "
     "the answer {code, body, headers}.'}"
     "}, 'additionalProperties': false}",
     0, run_create_mock},
    {"create_mock_from_unmatched", "Create a mock from an unmatched request",
     "Turns one unmatched request (its id from get_unmatched) into a mock "
     "in one call, in its namespace, answering response: an http request "
     "becomes a mock of its method and literal path; a graphql one a mock "
     "of its operation and top-level field (default answer data.<field> "
     "null); a soap one a mock of its service, operation and path "
     "(default an empty <OperationResponse/>); a grpc one a mock of its "
     "service and method (default status 0, empty message). Other "
     "protocols are refused. Returns {mock, overwritten, unmatchedId}; "
     "the entry stays in the unmatched list.",
     "{'type': 'object', 'properties': {"
     "'id': {'type': 'string', 'minLength': 1, 'maxLength': 64, "
     "'description': 'The id of the unmatched request.'}, "
     "'response': {'type': 'object', 'description': 'The answer, as a "
     "mock response: {\"statusCode\": 200, \"payload\": {...}, "
     "\"headers\": {...}} (default: per protocol, see above).'}, "
     "'tags': {'type': 'array', 'maxItems': 64, 'items': {'type': "
     "'string', 'minLength': 1, 'maxLength': 256}, 'description': 'Tags "
     "of the new mock.'}"
     "}, 'required': ['id'], 'additionalProperties': false}",
     0, run_create_mock_from_unmatched},
    {"update_mock", "Update a mock",
     "Changes a mock with a JSON merge patch (RFC 7386): keys set to null "
     "are removed, objects are merged, anything else is replaced. The "
     "result is validated as a whole; id and server-set fields cannot be "
     "patched. Returns the updated mock.",
     "{'type': 'object', 'properties': {" MOCK_ID_PROP(
         "to change") ", "
                      "'patch': {'type': 'object', 'description': 'The merge "
                      "patch, e.g. "
                      "{\"response\": {\"statusCode\": 500}, \"tags\": "
                      "[\"broken\"]}.'}"
                      "}, 'required': ['id', 'patch'], 'additionalProperties': "
                      "false}",
     H_DESTRUCTIVE | H_IDEMPOTENT, run_update_mock},
    {"delete_mock", "Delete a mock",
     "Deletes a mock. By default a soft delete: the mock stops matching "
     "but stays stored (closedAt is set) and can be restored through the "
     "REST API. With purge true it is removed for good.",
     "{'type': 'object', 'properties': {" MOCK_ID_PROP(
         "to delete") ", "
                      "'purge': {'type': 'boolean', 'description': 'Remove the "
                      "mock for "
                      "good instead of closing it. Default false.'}"
                      "}, 'required': ['id'], 'additionalProperties': false}",
     H_DESTRUCTIVE | H_IDEMPOTENT, run_delete_mock},
    {"list_services", "List services",
     "Lists the services of a namespace (the named upstreams of record and "
     "replay): name, target, pathPrefix, mode. Their names are the "
     "service_ids of list_mocks and the service of get_coverage and "
     "set_mode.",
     "{'type': 'object', 'properties': {" NS_PROP
     "}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_list_services},
    {"test_mock", "Test a mock",
     "Sends an HTTP request through the matching engine as a client of the "
     "mock port would (it counts, extracts and is journaled like one) and "
     "shows what happened: {matched: true, mockId, response {status, "
     "headers, body, json}, journal} or {matched: false, status, "
     "nearMisses: the closest mocks and what failed in each}. A proxy "
     "answer is shown (proxy), not forwarded; a delay is reported "
     "(delayMs), not waited for. Needs the viewer role in the namespace.",
     "{'type': 'object', 'properties': {"
     "'method': {'type': 'string', 'minLength': 1, 'maxLength': 16, "
     "'description': 'Default GET.'}, "
     "'path': {'type': 'string', 'minLength': 1, 'maxLength': 8192, "
     "'description': 'The request path, e.g. /orders/7 (no query).'}, "
     "'query': {'type': 'object', 'maxProperties': 64, "
     "'additionalProperties': {'type': 'string', 'maxLength': 8192}, "
     "'description': 'Query parameters, name to value (decoded).'}, "
     "'headers': {'type': 'object', 'maxProperties': 64, "
     "'additionalProperties': {'type': 'string', 'maxLength': 8192}, "
     "'description': 'Request headers, name to value.'}, "
     "'body': {'description': 'The request body: a string as is, any "
     "other JSON value sent as JSON.'}, " NS_PROP
     "}, 'required': ['path'], 'additionalProperties': false}",
     0, run_test_mock},
    {"list_namespaces", "List namespaces",
     "Lists the namespaces the token may see: their names under "
     "'namespaces', and under 'items' each with the role the token has "
     "there (viewer, editor, admin). Use it to pick the namespace argument "
     "of other tools.",
     "{'type': 'object', 'properties': {}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_list_namespaces},
    {"get_store", "Read a store",
     "Reads a store of a namespace: one key, or without key the whole "
     "store as an object. Mocks read stores in templates ($.gS, $.cS) and "
     "write them with extract.",
     "{'type': 'object', 'properties': {" STORE_PROPS ", "
     "'key': {'type': 'string', 'minLength': 1, 'maxLength': 256, "
     "'description': 'The key to read; omit for the whole store.'}, " NS_PROP
     "}, 'required': ['scope'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_store},
    {"set_store", "Write a store key",
     "Sets one key of a store to a JSON value (any JSON: number, string, "
     "object, ...). What is set is exactly what get_store returns.",
     "{'type': 'object', 'properties': {" STORE_PROPS ", "
     "'key': {'type': 'string', 'minLength': 1, 'maxLength': 256, "
     "'description': 'The key to write.'}, "
     "'value': {'description': 'The JSON value to store.'}, " NS_PROP
     "}, 'required': ['scope', 'key', 'value'], "
     "'additionalProperties': false}",
     H_DESTRUCTIVE | H_IDEMPOTENT, run_set_store},
    {"delete_store", "Delete store keys",
     "Deletes one key of a store, or without key every key of the store.",
     "{'type': 'object', 'properties': {" STORE_PROPS ", "
     "'key': {'type': 'string', 'minLength': 1, 'maxLength': 256, "
     "'description': 'The key to delete; omit to empty the whole "
     "store.'}, " NS_PROP
     "}, 'required': ['scope'], 'additionalProperties': false}",
     H_DESTRUCTIVE | H_IDEMPOTENT, run_delete_store},
    {"get_requests", "Read the request journal",
     "Lists the requests mocks answered, newest first: time, protocol, "
     "method, path, query, headers (credentials redacted), body, status, "
     "mockId, latencyUs.",
     "{'type': 'object', 'properties': {" NS_PROP ", " PAGING_PROPS
     "}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_requests},
    {"get_unmatched", "Read the unmatched requests",
     "Lists the requests no mock answered, newest first, each with its "
     "nearMisses: the closest mocks and what failed in each (route, "
     "method, header, query, body or state). Close a gap with create_mock.",
     "{'type': 'object', 'properties': {" NS_PROP ", " PAGING_PROPS
     "}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_unmatched},
    {"get_coverage", "Read coverage",
     "Per service and endpoint: recorded mocks, hits, last seen, and the "
     "endpoints seen in MOCK mode with no mock.",
     "{'type': 'object', 'properties': {" SERVICE_PROP(
         "Only this service (its name).") ", " NS_PROP
                                          "}, 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_coverage},
    {"get_mode", "Read the mode",
     "Returns the record and replay mode of the namespace (LEARN, MOCK, "
     "PASSTHROUGH or SPY), or with service the service (including its "
     "mode override).",
     "{'type': 'object', 'properties': {" SERVICE_PROP(
         "A service name: read that service and its mode.") ", " NS_PROP "}, "
                                                            "'additionalPropert"
                                                            "ies': false}",
     H_RO | H_IDEMPOTENT, run_get_mode},
    {"set_mode", "Switch the mode",
     "Switches the record and replay mode of the namespace, or of one "
     "service. PASSTHROUGH forwards and records nothing; LEARN forwards and "
     "records each exchange as a mock; MOCK never contacts the upstream "
     "(a miss is a 404 and enters the unmatched list); SPY answers from "
     "mocks and forwards the rest.",
     "{'type': 'object', 'properties': {"
     "'mode': {'type': 'string', 'enum': " MODES ", "
     "'description': 'The new mode.'}, " SERVICE_PROP(
         "Switch only this service (a per-service override).") ", " NS_PROP
                                                               "}, 'required': "
                                                               "['mode'], "
                                                               "'additionalProp"
                                                               "erties': "
                                                               "false}",
     H_IDEMPOTENT, run_set_mode},
    {"validate_mock", "Validate a mock",
     "Checks a mock without storing it: answers {valid: true} or {valid: "
     "false, errors: [{error, field, code}]}, the errors create_mock would "
     "give (field is the JSON path of the fault, e.g. http.route).",
     "{'type': 'object', 'properties': {"
     "'mock': {'type': 'object', 'description': 'The mock to check, as for "
     "create_mock.'}, " NS_PROP
     "}, 'required': ['mock'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_validate_mock},
    {"render_template", "Render a template",
     "Shows what a response template produces for a sample request, "
     "without storing anything: the same expressions mocks use in their "
     "payload ($.pathParam.id, $.queryParam.name, $.req.field, "
     "$.reqHeader.name, $.fake.*, $.gS.key).",
     "{'type': 'object', 'properties': {"
     "'template': {'description': 'The template: a string such as "
     "\"Hello $.queryParam.name\" or a JSON payload whose values are "
     "templates.'}, "
     "'request': {'type': 'object', 'description': 'The sample request the "
     "template sees; every member optional: {\"method\": \"GET\", "
     "\"path\": \"/users/7\", \"pathParams\": {\"id\": \"7\"}, "
     "\"query\": {\"name\": \"Ann\"}, \"headers\": {\"X-Id\": \"1\"}, "
     "\"body\": {}} (body is what $.req reads).'}, " NS_PROP
     "}, 'required': ['template'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_render_template},
    {"put_schema", "Upload schema files",
     "Stores schema files of a protocol plugin (.proto files for section "
     "grpc, SDL .graphql files for graphql, WSDL .wsdl files for soap, "
     "which also get one mock per operation) in a namespace, replacing "
     "files of the same name: one file "
     "(name and content) or several at once (files), all or nothing, so "
     "that files importing each other go in together. The plugin checks "
     "each file: one it refuses is an error naming file:line:column, and "
     "nothing is stored. Mocks written later are checked against them.",
     "{'type': 'object', 'properties': {" SCHEMA_SECTION_PROP ", " NS_PROP
     ", " SCHEMA_NAME_PROP("to store") ", "
     "'content': {'type': 'string', 'maxLength': 16777216, 'description': "
     "'The text of the file named by name.'}, "
     "'files': {'type': 'object', 'maxProperties': 1000, "
     "'additionalProperties': {'type': 'string'}, 'description': 'Several "
     "files: {\"shop/v1/order.proto\": \"syntax = ...\", ...}; instead of "
     "name and content.'}"
     "}, 'required': ['section'], 'additionalProperties': false}",
     H_IDEMPOTENT, run_put_schema},
    {"list_schemas", "List schema files",
     "Lists the schema files of a protocol plugin section in a namespace: "
     "name, size, updatedAt, and loaded (false: stored, but the plugin "
     "refused it at start-up).",
     "{'type': 'object', 'properties': {" SCHEMA_SECTION_PROP ", " NS_PROP
     "}, 'required': ['section'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_list_schemas},
    {"get_schema", "Read a schema file",
     "Returns the text of one schema file as {section, namespace, name, "
     "content}.",
     "{'type': 'object', 'properties': {" SCHEMA_SECTION_PROP ", " NS_PROP
     ", " SCHEMA_NAME_PROP("to read")
     "}, 'required': ['section', 'name'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_get_schema},
    {"delete_schema", "Delete a schema file",
     "Removes one schema file from the plugin and the store. A file that "
     "other files still import is refused (the error names them): delete "
     "or change the importers first.",
     "{'type': 'object', 'properties': {" SCHEMA_SECTION_PROP ", " NS_PROP
     ", " SCHEMA_NAME_PROP("to delete")
     "}, 'required': ['section', 'name'], 'additionalProperties': false}",
     H_DESTRUCTIVE | H_IDEMPOTENT, run_delete_schema},
    {"describe_protocol", "Describe a protocol section",
     "Says what a mock section accepts in a namespace, from the schema "
     "files its plugin holds there (its own and proto_path): for grpc, "
     "{section, namespace, schemaKind, defines: {services: [{name, "
     "builtin, file, methods: [{name, methodType, input, output}]}]}}, "
     "the services and methods a mock can name (grpc.service, "
     "grpc.method, grpc.methodType) and their message types; for graphql "
     "the schemas per path with their root fields; for soap the WSDL "
     "services, operations and actions. defines is null for a section "
     "whose plugin describes nothing (http, mcp). actions lists the "
     "section's operator actions (protocol_action). An unknown or "
     "disabled section is an error saying how to enable it.",
     "{'type': 'object', 'properties': {"
     "'section': {'type': 'string', 'minLength': 1, 'maxLength': 64, "
     "'description': 'The mock section to describe, e.g. grpc (its plugin "
     "must be enabled).'}, " NS_PROP
     "}, 'required': ['section'], 'additionalProperties': false}",
     H_RO | H_IDEMPOTENT, run_describe_protocol},
    {"protocol_action", "Run an action of a protocol section",
     "Runs one of the operator actions a protocol plugin offers on its live "
     "traffic in a namespace, such as publishing an event to the "
     "subscribers of a path or sending a message to open connections "
     "(describe_protocol lists a section's actions, each with what it "
     "does and whether it writes). args are the action's arguments. The "
     "result is the action's answer; an action that writes needs the "
     "editor role and is audited.",
     "{'type': 'object', 'properties': {"
     "'section': {'type': 'string', 'minLength': 1, 'maxLength': 64, "
     "'description': 'The mock section, e.g. sse.'}, "
     "'action': {'type': 'string', 'minLength': 1, 'maxLength': 32, "
     "'description': 'The action name, from describe_protocol.'}, "
     "'args': {'type': 'object', 'description': 'The action arguments.'}, "
     NS_PROP "}, 'required': ['section', 'action'], "
     "'additionalProperties': false}",
     0, run_protocol_action},
    {"http_request", "Make an HTTP request",
     "Calls a URL from the doppel server and returns status, headers and "
     "body (also parsed as json when it is JSON). Any HTTP status is a "
     "result, not an error. Loopback, private, link-local and cloud "
     "metadata addresses are refused unless the operator allowed them. "
     "Use it to check what a mocked endpoint answers or to look at a real "
     "upstream.",
     "{'type': 'object', 'properties': {"
     "'url': {'type': 'string', 'minLength': 8, 'maxLength': 8192, "
     "'description': 'Absolute http:// or https:// URL.'}, "
     "'method': {'type': 'string', 'enum': ['GET', 'HEAD', 'POST', 'PUT', "
     "'PATCH', 'DELETE', 'OPTIONS'], 'description': 'Default GET.'}, "
     "'headers': {'type': 'object', 'maxProperties': 64, "
     "'additionalProperties': {'type': 'string', 'maxLength': 8192}, "
     "'description': 'Request headers, name to value.'}, "
     "'body': {'type': 'string', 'maxLength': 1048576, 'description': "
     "'Request body as text.'}, "
     "'timeoutMs': {'type': 'integer', 'minimum': 1, 'maximum': 120000, "
     "'description': 'Timeout of the whole exchange in milliseconds "
     "(default: the server default, 30000).'}"
     "}, 'required': ['url'], 'additionalProperties': false}",
     H_DESTRUCTIVE | H_OPEN, run_http_request},
};

#define N_TOOLS (sizeof(tools) / sizeof(tools[0]))

/* The schema text with ' turned into " and " into \", parsed. New
 * reference, or NULL (out of memory; the texts themselves are checked by
 * the unit tests). */
static json_t *schema_json(const tool_def_t *d)
{
    size_t n = strlen(d->schema);
    char *s = malloc(2 * n + 1), *o = s;
    if (s == NULL)
        return NULL;
    for (const char *p = d->schema; *p; p++) {
        if (*p == '"')
            *o++ = '\\';
        *o++ = *p == '\'' ? '"' : *p;
    }
    *o = '\0';
    json_error_t je;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    free(s);
    return j;
}

json_t *mcp_tools_list(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < N_TOOLS; i++) {
        const tool_def_t *d = &tools[i];
        json_t *schema = schema_json(d);
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:o*,s:{s:s,s:b,s:b,s:b,s:b}}", "name",
                      d->name, "title", d->title, "description", d->description,
                      "inputSchema", schema, "annotations", "title", d->title,
                      "readOnlyHint", (d->hints & H_RO) != 0, "destructiveHint",
                      (d->hints & H_DESTRUCTIVE) != 0, "idempotentHint",
                      (d->hints & H_IDEMPOTENT) != 0, "openWorldHint",
                      (d->hints & H_OPEN) != 0);
        if (o == NULL || schema == NULL) {
            json_decref(o);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* A NUL inside a string argument would cut it short in a C string, so
 * that "a\u0000b" could address the mock "a": refuse it. Only the
 * top-level strings and header values become C strings; nested values
 * (a mock) travel as JSON, where \u0000 is harmless. */
static int check_strings(const json_t *args, const char **why)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v)
    {
        if (json_is_string(v) && strcmp(k, "body") != 0 &&
            strlen(json_string_value(v)) != json_string_length(v)) {
            *why = "a string argument contains a NUL character";
            return -EINVAL;
        }
    }
    /* Header and query objects of every shape become name/value pairs. */
    static const char *const pairs[] = {"headers", "response_headers", "query"};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        json_object_foreach(json_object_get(args, pairs[i]), k, v)
        {
            if (strlen(json_string_value(v)) != json_string_length(v) ||
                k[0] == '\0') {
                *why = "a header or query name is empty, or a name or "
                       "value contains a NUL character";
                return -EINVAL;
            }
        }
    }
    return 0;
}

int mcp_tool_call(mcp_inst_t *inst, const mcp_caller_t *who, const char *name,
                  json_t *args, mcp_tool_done_fn done, void *data,
                  const char **why)
{
    const tool_def_t *d = NULL;
    for (size_t i = 0; name != NULL && i < N_TOOLS; i++)
        if (strcmp(tools[i].name, name) == 0)
            d = &tools[i];
    if (d == NULL)
        return -ENOENT;
    json_t *empty = NULL;
    if (args == NULL)
        args = empty = json_object(); /* "arguments" may be omitted */
    json_t *schema = schema_json(d);
    int rc = schema ? mcp_schema_check(schema, args, NULL, 0, why) : -ENOMEM;
    json_decref(schema);
    if (rc == 0)
        rc = check_strings(args, why);
    tool_call_t *t = NULL;
    if (rc == 0 && (t = calloc(1, sizeof(*t))) == NULL)
        rc = -ENOMEM;
    if (rc < 0) {
        if (rc == -ENOMEM)
            *why = "out of memory";
        json_decref(empty);
        return rc;
    }
    t->inst = inst;
    t->svc = mcp_inst_svc(inst);
    t->def = d;
    t->args = args;
    t->own_args = empty; /* freed with the call */
    t->who = who;
    t->done = done;
    t->data = data;
    rc = d->run(t, why);
    if (rc < 0)
        call_free(t);
    return rc < 0 ? rc : 0;
}
