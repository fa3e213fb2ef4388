/*
 * ABI fixture "frozen_1_1": a plugin exactly as a third party built it
 * against ABI 1.1. It does NOT include today's SDK headers: the structs
 * below are a frozen copy of the 1.1 layout (doppel_plugin_t,
 * doppel_option_t, doppel_services_t up to engine_forwarded, and the HTTP
 * and fetch structs the services it calls take). Never edit them. When the
 * host moves to 1.2, 1.3, ... this object must keep loading and working.
 *
 * At init it checks that the host has every 1.1 service (the
 * DOPPEL_HAS_SERVICE test on its own struct copy; init fails with
 * -ENOTSUP otherwise), takes the section's shared state and mounts
 * /frozen-1-1. GET /frozen-1-1/whoami calls the admin API in process
 * (admin_call GET /api/v1/whoami with the caller's Authorization or
 * X-API-Key header) and answers
 *   {"copies": <copies that took the shared state>, "adminStatus": <status>,
 *    "admin": <the API's JSON body>}
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FROZEN_EXPORT __attribute__((visibility("default")))

#define F_ENOMEM 12
#define F_ENOTSUP 95

struct f_str {
    const char *ptr;
    size_t len;
};

struct f_kv {
    struct f_str name;
    struct f_str value;
};

struct f_option {
    const char *name;
    uint32_t type;
    uint32_t flags;
    const char *default_value;
    const char *help;
    int64_t min;
    int64_t max;
    void *reserved[2];
};

struct f_http_request {
    uint32_t size;
    struct f_str method;
    struct f_str target;
    struct f_str path;
    struct f_str query;
    struct f_str rest;
    const struct f_kv *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    struct f_str remote_addr;
    struct f_str request_id;
    uint16_t http_major;
    uint16_t http_minor;
    const struct f_str *(*header)(const struct f_http_request *req,
                                  const char *name);
};

typedef int (*f_handler_fn)(void *state, void *ex,
                            const struct f_http_request *req);

struct f_http_mount {
    uint32_t size;
    const char *prefix;
    int (*classify)(void *state, const struct f_http_request *req);
    f_handler_fn handler;
    void *state;
    int priority;
};

struct f_fetch {
    uint32_t size;
    struct f_str method;
    struct f_str url;
    const struct f_kv *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    uint32_t timeout_ms;
    uint32_t flags; /* 1.1 */
};

struct f_fetch_result {
    uint32_t size;
    int status;
    const struct f_kv *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    struct f_str error;
};

typedef void (*f_fetch_cb)(void *data, int rc,
                           const struct f_fetch_result *res);

/* doppel_services_t of ABI 1.1, every member in order. Types the fixture
 * never calls are kept as pointers of the same size. */
struct f_services {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    /* 1.0 */
    void (*log)(void *ctx, int level, const char *fmt, ...);
    void *(*alloc)(size_t n);
    void (*free)(void *p);
    const char *(*option_str)(void *ctx, const char *name);
    int64_t (*option_int)(void *ctx, const char *name);
    int (*option_bool)(void *ctx, const char *name);
    const char *(*instance_name)(void *ctx);
    unsigned (*worker_index)(void *ctx);
    unsigned (*worker_count)(void *ctx);
    void *(*loop)(void *ctx);
    int (*post)(void *ctx, void (*fn)(void *), void *data);
    int (*queue_work)(void *ctx, void (*work)(void *), void (*after)(void *),
                      void *data);
    int (*subscribe)(void *ctx, uint32_t event_id);
    int (*http_mount)(void *ctx, const struct f_http_mount *mount);
    int (*http_respond)(void *ex, int status, const struct f_kv *headers,
                        size_t n_headers, const void *body, size_t body_len);
    int (*http_stream_start)(void *ex, int status, const struct f_kv *headers,
                             size_t n_headers);
    int (*http_stream_write)(void *ex, const void *data, size_t len);
    int (*http_stream_end)(void *ex);
    int (*engine_match)(void *ctx, const void *x, void **reply);
    void (*engine_reply_free)(void *ctx, void *reply);
    int (*metric_add)(void *ctx, const char *name, const char *labels,
                      uint64_t value);
    void (*stop_done)(void *ctx);
    int (*http_fetch)(void *ctx, const struct f_fetch *req, f_fetch_cb cb,
                      void *data);
    /* 1.1 */
    int (*engine_record)(void *ctx, const void *x, const void *reply,
                         const struct f_fetch_result *res);
    int (*admin_call)(void *ctx, const struct f_fetch *req, f_fetch_cb cb,
                      void *data);
    int (*http_listen)(void *ctx, const char *address,
                       const struct f_http_mount *mount);
    void *(*shared)(void *ctx, void *(*create)(void *arg),
                    void (*destroy)(void *state), void *arg);
    int (*engine_forwarded)(void *ctx, void *reply, int status,
                            const char *reason, uint32_t flags);
};

#define F_HAS(svc, member)                                                     \
    ((svc) != NULL &&                                                          \
     offsetof(struct f_services, member) + sizeof((svc)->member) <=            \
         (svc)->size &&                                                        \
     (svc)->member != NULL)

struct f_plugin {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;
    const char *version;
    const char *summary;
    uint32_t kind;
    uint32_t flags;
    const struct f_option *options;
    int (*init)(void *ctx, const struct f_services *svc, void **state);
    int (*start)(void *state);
    int (*stop)(void *state);
    void (*destroy)(void *state);
    int (*on_event)(void *state, const void *ev);
    void *reserved[8];
};

/* ---- the fixture ----------------------------------------------------------
 */

struct f_shared {
    int copies; /* atomically incremented by each copy's init */
};

struct f_state {
    void *ctx;
    const struct f_services *svc;
    struct f_shared *shared;
};

static void *shared_create(void *arg)
{
    (void)arg;
    return calloc(1, sizeof(struct f_shared));
}

static void shared_destroy(void *state)
{
    free(state);
}

static void respond_text(struct f_state *st, void *ex, int status,
                         const char *json)
{
    struct f_kv h = {{"Content-Type", 12}, {"application/json", 16}};
    st->svc->http_respond(ex, status, &h, 1, json, strlen(json));
}

struct f_call {
    struct f_state *st;
    void *ex;
};

static void whoami_done(void *data, int rc, const struct f_fetch_result *res)
{
    struct f_call *c = data;
    struct f_state *st = c->st;
    if (rc < 0 || res == NULL) {
        respond_text(st, c->ex, 500, "{\"error\":\"admin_call failed\"}");
        free(c);
        return;
    }
    size_t blen = res->body_len ? res->body_len : 4;
    size_t cap = blen + 96;
    char *out = malloc(cap);
    if (out == NULL) {
        respond_text(st, c->ex, 500, "{\"error\":\"out of memory\"}");
        free(c);
        return;
    }
    int copies = __atomic_load_n(&st->shared->copies, __ATOMIC_SEQ_CST);
    int n =
        snprintf(out, cap, "{\"copies\":%d,\"adminStatus\":%d,\"admin\":%.*s}",
                 copies, res->status, (int)blen,
                 res->body_len ? (const char *)res->body : "null");
    struct f_kv h = {{"Content-Type", 12}, {"application/json", 16}};
    st->svc->http_respond(c->ex, 200, &h, 1, out, (size_t)n);
    free(out);
    free(c);
}

static int handler(void *state, void *ex, const struct f_http_request *req)
{
    struct f_state *st = state;
    if (req->rest.len != 7 || memcmp(req->rest.ptr, "/whoami", 7) != 0) {
        respond_text(st, ex, 404, "{\"error\":\"try /whoami\"}");
        return 0;
    }
    /* the caller's credentials, passed on as they came */
    struct f_kv h[1];
    size_t nh = 0;
    const struct f_str *v = req->header(req, "Authorization");
    if (v != NULL)
        h[nh++] = (struct f_kv){{"Authorization", 13}, *v};
    else if ((v = req->header(req, "X-API-Key")) != NULL)
        h[nh++] = (struct f_kv){{"X-API-Key", 9}, *v};
    struct f_call *c = malloc(sizeof(*c));
    if (c == NULL) {
        respond_text(st, ex, 500, "{\"error\":\"out of memory\"}");
        return 0;
    }
    c->st = st;
    c->ex = ex;
    struct f_fetch f = {
        .size = sizeof(f),
        .method = {"GET", 3},
        .url = {"/api/v1/whoami", 14},
        .headers = h,
        .n_headers = nh,
    };
    int rc = st->svc->admin_call(st->ctx, &f, whoami_done, c);
    if (rc < 0) {
        free(c);
        respond_text(st, ex, 500, "{\"error\":\"admin_call refused\"}");
    }
    return 0;
}

static int frozen_init(void *ctx, const struct f_services *svc, void **state)
{
    if (svc == NULL || svc->abi_major != 1 || svc->abi_minor < 1 ||
        !F_HAS(svc, http_mount) || !F_HAS(svc, http_respond) ||
        !F_HAS(svc, engine_record) || !F_HAS(svc, admin_call) ||
        !F_HAS(svc, http_listen) || !F_HAS(svc, shared) ||
        !F_HAS(svc, engine_forwarded))
        return -F_ENOTSUP;
    struct f_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -F_ENOMEM;
    st->ctx = ctx;
    st->svc = svc;
    st->shared = svc->shared(ctx, shared_create, shared_destroy, NULL);
    if (st->shared == NULL) {
        free(st);
        return -F_ENOMEM;
    }
    __atomic_add_fetch(&st->shared->copies, 1, __ATOMIC_SEQ_CST);
    struct f_http_mount m = {
        .size = sizeof(m),
        .prefix = "/frozen-1-1",
        .handler = handler,
        .state = st,
    };
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void frozen_destroy(void *state)
{
    free(state);
}

static const struct f_plugin frozen_plugin = {
    .size = sizeof(struct f_plugin),
    .abi_major = 1,
    .abi_minor = 1,
    .name = "frozen_1_1",
    .version = "1.1.0",
    .summary = "ABI fixture: a plugin built against ABI 1.1",
    .kind = 2, /* feature */
    .init = frozen_init,
    .destroy = frozen_destroy,
};

FROZEN_EXPORT const void *doppel_plugin_entry(void);
FROZEN_EXPORT const void *doppel_plugin_entry(void)
{
    return &frozen_plugin;
}
