/*
 * libFuzzer target: the MCP plugin's JSON-RPC framing and dispatch
 * (plugins/mcp: mcp_http.c's POST checks, mcp_rpc.c, mcp_session.c, the
 * control server's tools in mcp_tools.c and the mock servers' shaping of
 * engine replies in mcp_stubs.c), driven through the plugin's own
 * descriptor and HTTP handlers by a fake host.
 *
 * Input: two flag bytes, then the POST body, then (after the first NUL) the
 * body of every canned answer the fake host gives: the engine's reply to a
 * mock server call (a mock payload is user data) and the admin API's answer
 * to a tool. Each input:
 *   1. initializes a session (unless flags say the body goes alone), at
 *      the protocol version the flags pick;
 *   2. POSTs the fuzz body on it, with or without MCP-Protocol-Version,
 *      accepting JSON or only SSE;
 *   3. ends the session(s) with DELETE.
 * The fake host answers admin_call and http_fetch later (queued, drained
 * after the handler returns), as the real one does.
 *
 * Asserted (abort): every exchange is answered exactly once; no call is
 * left in flight; every answer body is JSON-RPC (objects with jsonrpc
 * "2.0" and exactly one of result and error; as JSON or as one SSE event);
 * the engine is handed JSON bodies; the session created in step 1 can be
 * ended in step 3 unless the body's own initialize evicted it (max_sessions
 * is 1), and a session the body created can be ended. ASan/UBSan/LSan catch the rest.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "mcp_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The plugin's entry (DOPPEL_PLUGIN_DEFINE in mcp_plugin.c). */
const doppel_plugin_t *doppel_plugin_entry(void);

#define check(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* ---- The fake host ------------------------------------------------------- */

static struct fuzz_ctx {
    int unused;
} ctx_storage;
#define CTX ((doppel_ctx_t *)&ctx_storage)

/* What the current input makes the host answer. */
static struct {
    uint8_t flags;           /* second input byte: see LLVMFuzzerTestOneInput */
    const char *reply;       /* canned body */
    size_t reply_len;
    int whoami_status;
} canned;

/* The exchange in flight and its answer. */
static char ex_token;
#define EX ((doppel_http_exchange_t *)&ex_token)
static struct {
    int n;      /* http_respond calls */
    int status;
    char session[MCP_SID_LEN + 1];
    char ctype[64];
    char *body; /* owned */
    size_t body_len;
} answer;

static doppel_http_handler_fn control_handler, stubs_handler;
static doppel_http_classify_fn stubs_classify;
static void *plugin_state;

static void fake_log(doppel_ctx_t *ctx, doppel_log_level_t level,
                     const char *fmt, ...)
{
    (void)ctx;
    (void)level;
    /* Formats the message anyway: a bad format argument is a bug too. */
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
}

static const char *fake_option_str(doppel_ctx_t *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "listen") == 0)
        return "off";
    if (strcmp(name, "endpoint") == 0)
        return "/mcp";
    if (strcmp(name, "stubs_prefix") == 0)
        return "/stubs";
    if (strcmp(name, "sse_answers") == 0)
        return "auto";
    if (strcmp(name, "allowed_origins") == 0)
        return "";
    return NULL;
}

static int64_t fake_option_int(doppel_ctx_t *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "max_sessions") == 0)
        return 1; /* an initialize in the body evicts step 1's session */
    if (strcmp(name, "page_size") == 0)
        return 2; /* small, so lists page */
    if (strcmp(name, "max_message_bytes") == 0)
        return 1 << 16;
    if (strcmp(name, "session_idle_timeout") == 0)
        return 60000;
    if (strcmp(name, "sse_keepalive") == 0)
        return 15000;
    return 0;
}

static int fake_option_bool(doppel_ctx_t *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "main_port") == 0 || strcmp(name, "stubs") == 0;
}

static const char *fake_instance_name(doppel_ctx_t *ctx)
{
    (void)ctx;
    return "mcp";
}

static unsigned fake_worker_index(doppel_ctx_t *ctx)
{
    (void)ctx;
    return 0;
}

static unsigned fake_worker_count(doppel_ctx_t *ctx)
{
    (void)ctx;
    return 1;
}

/* No loop: delayed mock answers go out at once, the clock stays at 0. */
static void *fake_loop(doppel_ctx_t *ctx)
{
    (void)ctx;
    return NULL;
}

static int fake_post(doppel_ctx_t *ctx, doppel_fn_t fn, void *data)
{
    (void)ctx;
    (void)fn;
    (void)data;
    return -ESHUTDOWN;
}

static int fake_subscribe(doppel_ctx_t *ctx, uint32_t id)
{
    (void)ctx;
    (void)id;
    return 0;
}

static int fake_http_mount(doppel_ctx_t *ctx, const doppel_http_mount_t *m)
{
    (void)ctx;
    if (m->classify) {
        stubs_classify = m->classify;
        stubs_handler = m->handler;
    } else {
        control_handler = m->handler;
    }
    plugin_state = m->state;
    return 0;
}

static int fake_http_respond(doppel_http_exchange_t *ex, int status,
                             const doppel_kv_t *h, size_t n, const void *body,
                             size_t len)
{
    check(ex == EX);
    answer.n++;
    answer.status = status;
    for (size_t i = 0; i < n; i++) {
        check(h[i].name.ptr != NULL && h[i].value.ptr != NULL);
        if (strncasecmp(h[i].name.ptr, "Mcp-Session-Id", h[i].name.len) == 0 &&
            h[i].value.len == MCP_SID_LEN) {
            memcpy(answer.session, h[i].value.ptr, MCP_SID_LEN);
            answer.session[MCP_SID_LEN] = '\0';
        }
        if (strncasecmp(h[i].name.ptr, "Content-Type", h[i].name.len) == 0)
            snprintf(answer.ctype, sizeof(answer.ctype), "%.*s",
                     (int)h[i].value.len, h[i].value.ptr);
    }
    free(answer.body);
    answer.body = malloc(len + 1);
    check(answer.body != NULL);
    if (len)
        memcpy(answer.body, body, len);
    answer.body[len] = '\0';
    answer.body_len = len;
    return 0;
}

static int fake_stream_start(doppel_http_exchange_t *ex, int status,
                             const doppel_kv_t *h, size_t n)
{
    (void)ex;
    (void)status;
    (void)h;
    (void)n;
    __builtin_trap(); /* no GET /sse is ever made */
}

static int fake_stream_write(doppel_http_exchange_t *ex, const void *d,
                             size_t len)
{
    (void)ex;
    (void)d;
    (void)len;
    __builtin_trap();
}

static int fake_stream_end(doppel_http_exchange_t *ex)
{
    (void)ex;
    __builtin_trap();
}

typedef struct fake_reply {
    doppel_reply_t r;
    doppel_kv_t h[1];
} fake_reply_t;

/* The engine answers with the canned body, shaped by flags bits 0-4. */
static int fake_engine_match(doppel_ctx_t *ctx, const doppel_exchange_t *x,
                             doppel_reply_t **out)
{
    (void)ctx;
    check(x->size == sizeof(*x));
    check(x->protocol.len == 3 && memcmp(x->protocol.ptr, "mcp", 3) == 0);
    check(strlen(x->operation.ptr) == x->operation.len);
    check(strlen(x->target.ptr) == x->target.len);
    if (x->body != NULL) { /* the plugin hands the engine JSON text */
        json_t *b = json_loadb((const char *)x->body, x->body_len, 0, NULL);
        check(json_is_object(b));
        json_decref(b);
    }
    fake_reply_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    static const uint32_t kinds[] = {DOPPEL_REPLY_NO_MATCH,
                                     DOPPEL_REPLY_RESPONSE,
                                     DOPPEL_REPLY_PROXY, DOPPEL_REPLY_RESPONSE};
    f->r.size = sizeof(f->r);
    f->r.kind = kinds[canned.flags & 3];
    f->r.status = f->r.kind == DOPPEL_REPLY_NO_MATCH ? 404 : 200;
    f->h[0] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                            canned.flags & 4
                                ? DOPPEL_STR("text/plain; charset=utf-8")
                                : DOPPEL_STR("application/json")};
    f->r.headers = f->h;
    f->r.n_headers = 1;
    f->r.body = (const uint8_t *)canned.reply;
    f->r.body_len = canned.reply_len;
    f->r.flags = canned.flags & 8 ? DOPPEL_REPLY_F_IS_ERROR : 0;
    f->r.delay_ms = canned.flags & 16 ? 5 : 0;
    *out = &f->r;
    return 0;
}

static void fake_reply_free(doppel_ctx_t *ctx, doppel_reply_t *r)
{
    (void)ctx;
    free(r); /* r is the first member of a fake_reply_t */
}

static void fake_stop_done(doppel_ctx_t *ctx)
{
    (void)ctx;
}

/* admin_call and http_fetch answer later, as the real host does. */
typedef struct deferred {
    doppel_fetch_cb cb;
    void *data;
    int whoami;
    struct deferred *next;
} deferred_t;

static deferred_t *queue_head, **queue_tail = &queue_head;

static int defer(const doppel_fetch_t *req, doppel_fetch_cb cb, void *data)
{
    check(req->size >= offsetof(doppel_fetch_t, flags));
    check(req->url.ptr != NULL && req->n_headers < 64);
    deferred_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->cb = cb;
    d->data = data;
    d->whoami = req->url.len == 14 && memcmp(req->url.ptr, "/api/v1/whoami",
                                             14) == 0;
    *queue_tail = d;
    queue_tail = &d->next;
    return 0;
}

static int fake_admin_call(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                           doppel_fetch_cb cb, void *data)
{
    (void)ctx;
    return defer(req, cb, data);
}

static int fake_http_fetch(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                           doppel_fetch_cb cb, void *data)
{
    (void)ctx;
    return defer(req, cb, data);
}

/* Runs the queued callbacks (which may queue more) in order. */
static void drain(void)
{
    static const char whoami_ok[] =
        "{\"user\": {\"name\": \"fz\", \"memberships\": [{\"namespace\": "
        "\"default\", \"role\": \"admin\"}]}, \"pinnedNamespace\": null}";
    static const char refused[] = "{\"error\": \"no\"}";
    while (queue_head) {
        deferred_t *d = queue_head;
        queue_head = d->next;
        if (queue_head == NULL)
            queue_tail = &queue_head;
        doppel_kv_t h[] = {
            {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
            {DOPPEL_STR("Retry-After"), DOPPEL_STR("7")}};
        doppel_fetch_result_t res = {.size = sizeof(res),
                                     .headers = h,
                                     .n_headers = 2};
        int rc = 0;
        if (d->whoami) {
            res.status = canned.whoami_status;
            res.body = res.status == 200 ? whoami_ok : refused;
            res.body_len =
                res.status == 200 ? sizeof(whoami_ok) - 1 : sizeof(refused) - 1;
        } else if (canned.flags & 0x80) {
            rc = -ECONNREFUSED;
            res.status = 0;
            res.n_headers = 0;
            res.error = DOPPEL_STR("connection refused");
        } else {
            static const int statuses[] = {200, 201, 400, 404};
            res.status = statuses[(canned.flags >> 5) & 3];
            res.body = canned.reply;
            res.body_len = canned.reply_len;
        }
        d->cb(d->data, rc, rc < 0 ? NULL : &res);
        free(d);
    }
}

static doppel_services_t svc = {
    .size = sizeof(doppel_services_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .log = fake_log,
    .alloc = malloc,
    .free = free,
    .option_str = fake_option_str,
    .option_int = fake_option_int,
    .option_bool = fake_option_bool,
    .instance_name = fake_instance_name,
    .worker_index = fake_worker_index,
    .worker_count = fake_worker_count,
    .loop = fake_loop,
    .post = fake_post,
    .subscribe = fake_subscribe,
    .http_mount = fake_http_mount,
    .http_respond = fake_http_respond,
    .http_stream_start = fake_stream_start,
    .http_stream_write = fake_stream_write,
    .http_stream_end = fake_stream_end,
    .engine_match = fake_engine_match,
    .engine_reply_free = fake_reply_free,
    .stop_done = fake_stop_done,
    .http_fetch = fake_http_fetch,
    .admin_call = fake_admin_call,
    /* no shared: the instance owns its session table (an ABI 1.0 host) */
};

/* ---- Requests ------------------------------------------------------------ */

typedef struct fake_req {
    doppel_http_request_t r;
    doppel_kv_t h[8];
} fake_req_t;

static const doppel_str_t *req_header(const doppel_http_request_t *req,
                                      const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name.len == l &&
            strncasecmp(req->headers[i].name.ptr, name, l) == 0)
            return &req->headers[i].value;
    return NULL;
}

static void add_header(fake_req_t *q, const char *name, const char *value)
{
    q->h[q->r.n_headers++] = (doppel_kv_t){{name, strlen(name)},
                                           {value, strlen(value)}};
}

/* Sends one request to the mount the kind selects and waits for (drains
 * until) its answer. body must be NUL-terminated at body[len]. */
static void send(int stub, const char *method, const char *session,
                 const char *version, const char *accept, const char *body,
                 size_t len)
{
    fake_req_t q;
    memset(&q, 0, sizeof(q));
    q.r.size = sizeof(q.r);
    q.r.method = (doppel_str_t){method, strlen(method)};
    const char *path = stub ? "/stubs/fz/mcp/srv" : "/mcp";
    q.r.target = (doppel_str_t){path, strlen(path)};
    q.r.path = q.r.target;
    q.r.query = DOPPEL_STR("");
    q.r.rest = DOPPEL_STR("");
    q.r.headers = q.h;
    q.r.body = (const uint8_t *)body;
    q.r.body_len = len;
    q.r.remote_addr = DOPPEL_STR("127.0.0.1");
    q.r.request_id = DOPPEL_STR("fz-1");
    q.r.http_major = 1;
    q.r.http_minor = 1;
    q.r.header = req_header;
    add_header(&q, "Host", "127.0.0.1:5770");
    add_header(&q, "Content-Type", "application/json");
    add_header(&q, "Accept", accept);
    if (!stub)
        add_header(&q, "Authorization", "Bearer mk_fuzz");
    if (session)
        add_header(&q, "Mcp-Session-Id", session);
    if (version)
        add_header(&q, "MCP-Protocol-Version", version);

    free(answer.body);
    memset(&answer, 0, sizeof(answer));
    int rc;
    if (stub) {
        check(stubs_classify(plugin_state, &q.r));
        rc = stubs_handler(plugin_state, EX, &q.r);
    } else {
        rc = control_handler(plugin_state, EX, &q.r);
    }
    check(rc == 0);
    drain();
    check(answer.n == 1);
    check(((mcp_inst_t *)plugin_state)->calls == NULL);
}

/* One JSON-RPC response object. */
static void check_message(const json_t *m)
{
    check(json_is_object(m));
    const char *jv = json_string_value(json_object_get(m, "jsonrpc"));
    check(jv != NULL && strcmp(jv, "2.0") == 0);
    const json_t *id = json_object_get(m, "id");
    check(id != NULL && (json_is_null(id) || json_is_string(id) ||
                         json_is_number(id)));
    const json_t *res = json_object_get(m, "result");
    const json_t *err = json_object_get(m, "error");
    check((res != NULL) != (err != NULL));
    if (err) {
        check(json_is_integer(json_object_get(err, "code")));
        check(json_is_string(json_object_get(err, "message")));
    } else {
        check(json_is_object(res));
    }
}

static void check_answer(void)
{
    if (answer.status == 202 || answer.status == 204) {
        check(answer.body_len == 0 || answer.status == 202);
        return;
    }
    const char *text = answer.body;
    size_t len = answer.body_len;
    if (strcmp(answer.ctype, "text/event-stream") == 0) {
        static const char pre[] = "event: message\ndata: ";
        check(len > sizeof(pre) + 1 && memcmp(text, pre, sizeof(pre) - 1) == 0);
        check(memcmp(text + len - 2, "\n\n", 2) == 0);
        text += sizeof(pre) - 1;
        len -= sizeof(pre) - 1 + 2;
        check(memchr(text, '\n', len) == NULL); /* one data line */
    } else {
        check(strcmp(answer.ctype, "application/json") == 0);
    }
    /* \u0000 is valid JSON (a mock payload with a NUL byte as text) */
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    check(v != NULL);
    if (json_is_array(v)) {
        check(json_array_size(v) > 0);
        for (size_t i = 0; i < json_array_size(v); i++)
            check_message(json_array_get(v, i));
    } else {
        check_message(v);
    }
    json_decref(v);
}

static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                       "2025-11-25"};

/*
 * data[0]: bit 0 mock server (else the control server); bits 1-2 the
 *   protocol version; bit 3 send MCP-Protocol-Version; bit 4 accept only
 *   SSE; bit 5 send the body without a session (no initialize first);
 *   bits 6-7 the credential check's answer (200, 200, 401, 403/429).
 * data[1]: the canned answers (fake_engine_match, drain).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (plugin_state == NULL) {
        const doppel_plugin_t *p = doppel_plugin_entry();
        void *st = NULL;
        check(p->init(CTX, &svc, &st) == 0 && plugin_state == st);
        check(control_handler && stubs_handler && stubs_classify);
    }
    uint8_t f = data[0];
    canned.flags = data[1];
    const char *rest = (const char *)data + 2;
    size_t rest_len = size - 2;
    const char *nul = memchr(rest, '\0', rest_len);
    size_t blen = nul ? (size_t)(nul - rest) : rest_len;
    char *body = malloc(blen + 1);
    check(body != NULL);
    memcpy(body, rest, blen);
    body[blen] = '\0';
    canned.reply = nul ? nul + 1 : "";
    canned.reply_len = nul ? rest_len - blen - 1 : 0;

    int stub = f & 1;
    const char *version = versions[(f >> 1) & 3];
    const char *accept =
        f & 16 ? "text/event-stream" : "application/json, text/event-stream";
    char session[MCP_SID_LEN + 1] = "";
    canned.whoami_status = 200;
    if (!(f & 32)) {
        char init[256];
        int l = snprintf(init, sizeof(init),
                         "{\"jsonrpc\": \"2.0\", \"id\": 0, \"method\": "
                         "\"initialize\", \"params\": {\"protocolVersion\": "
                         "\"%s\", \"capabilities\": {}, \"clientInfo\": "
                         "{\"name\": \"fz\", \"version\": \"1\"}}}",
                         version);
        send(stub, "POST", NULL, NULL, "application/json", init, (size_t)l);
        check(answer.status == 200 && answer.session[0]);
        check_answer();
        memcpy(session, answer.session, sizeof(session));
    }

    static const int who[] = {200, 200, 401, 403};
    canned.whoami_status = who[f >> 6];
    if (canned.whoami_status == 403 && (canned.flags & 1))
        canned.whoami_status = 429;
    send(stub, "POST", session[0] ? session : NULL, f & 8 ? version : NULL,
         accept, body, blen);
    check_answer();
    char fresh[MCP_SID_LEN + 1];
    memcpy(fresh, answer.session, sizeof(fresh));

    /* With max_sessions 1, a session the body created (an initialize)
     * evicted the one of step 1. */
    canned.whoami_status = 200;
    if (session[0]) {
        send(stub, "DELETE", session, NULL, "application/json", "", 0);
        check(answer.status == (fresh[0] ? 404 : 204));
    }
    if (fresh[0]) {
        send(stub, "DELETE", fresh, NULL, "application/json", "", 0);
        check(answer.status == 204);
    }
    free(answer.body);
    memset(&answer, 0, sizeof(answer));
    free(body);
    return 0;
}
