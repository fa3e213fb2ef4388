/*
 * Test plugin for the ABI 1.1 host services, used by
 * tests/integration/test_plugin_services.py:
 *
 *   /svc/admin/<target>  runs svc->admin_call(<target>) with the caller's
 *                        method, credentials (Authorization, X-API-Key),
 *                        X-Namespace, Content-Type and body, and answers
 *                        with what came back: the API's status and body,
 *                        X-Test-Rc (the callback's rc) and X-Test-Sync
 *                        (1 if the callback ran inside admin_call, which
 *                        the host must never do). A refused call (rc < 0
 *                        from admin_call itself) answers 502 {"rc": rc}.
 *   /svc/info            this copy's worker, the copies alive according to
 *                        the shared state, and which 1.1 services exist.
 *   /svc/siblings        posts to every other copy of the section (from
 *                        this worker's thread to theirs) and answers once
 *                        each reported back whether it ran on its own
 *                        thread.
 *   /own (on `listen`)   answers {"own": true, "worker": i}, on the
 *                        instance's own listener only.
 *
 * Options: listen (address for svc->http_listen; none: no listener),
 * shared_log (a file the shared state's destructor appends one line to).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "doppel/plugin.h"

#define MAX_COPIES 64

typedef struct state state_t;

/* Shared by every copy of the section (svc->shared). */
typedef struct shared {
    pthread_mutex_t mu;
    unsigned alive;              /* copies between init and destroy */
    state_t *copies[MAX_COPIES]; /* by worker index; NULL when gone */
    char log[512];
} shared_t;

struct state {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    shared_t *sh;
    unsigned worker;
    pthread_t thread; /* the loop thread, set by start */
    int in_call;      /* inside svc->admin_call */
    /* one /svc/siblings exchange at a time */
    doppel_http_exchange_t *sib_ex;
    unsigned sib_wait, sib_ok, sib_sent;
};

static const doppel_kv_t json_ct = {DOPPEL_STR("Content-Type"),
                                    DOPPEL_STR("application/json")};

static void *shared_create(void *arg)
{
    shared_t *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return NULL;
    pthread_mutex_init(&sh->mu, NULL);
    if (arg != NULL)
        snprintf(sh->log, sizeof(sh->log), "%s", (const char *)arg);
    return sh;
}

static void shared_destroy(void *p)
{
    shared_t *sh = p;
    if (sh->log[0]) {
        FILE *f = fopen(sh->log, "a");
        if (f != NULL) {
            fprintf(f, "destroyed alive=%u\n", sh->alive);
            fclose(f);
        }
    }
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

static void respond_json(state_t *st, doppel_http_exchange_t *ex, int status,
                         const char *body, size_t len)
{
    st->svc->http_respond(ex, status, &json_ct, 1, body, len);
}

/* ---- /svc/admin ------------------------------------------------------- */

typedef struct admin_req {
    state_t *st;
    doppel_http_exchange_t *ex;
} admin_req_t;

static void admin_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    admin_req_t *ar = data;
    state_t *st = ar->st;
    char rcs[16], sync[4];
    snprintf(rcs, sizeof(rcs), "%d", rc);
    snprintf(sync, sizeof(sync), "%d", st->in_call);
    doppel_kv_t hs[3] = {
        json_ct,
        {DOPPEL_STR("X-Test-Rc"), {rcs, strlen(rcs)}},
        {DOPPEL_STR("X-Test-Sync"), {sync, strlen(sync)}},
    };
    if (rc == 0) {
        st->svc->http_respond(ar->ex, res->status, hs, 3, res->body,
                              res->body_len);
    } else {
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"rc\":%d}", rc);
        st->svc->http_respond(ar->ex, 503, hs, 3, body, (size_t)n);
    }
    free(ar);
}

static int pass_header(const doppel_kv_t *kv)
{
    static const char *const names[] = {"authorization", "x-api-key",
                                        "x-namespace", "content-type",
                                        "x-doppel-client-address"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t l = strlen(names[i]);
        if (kv->name.len == l && strncasecmp(kv->name.ptr, names[i], l) == 0)
            return 1;
    }
    return 0;
}

static int on_admin(void *p, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req)
{
    state_t *st = p;
    static const char prefix[] = "/svc/admin";
    doppel_str_t target = req->target;
    if (target.len >= sizeof(prefix) - 1) {
        target.ptr += sizeof(prefix) - 1;
        target.len -= sizeof(prefix) - 1;
    }
    doppel_kv_t hs[16];
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers && n < 16; i++)
        if (pass_header(&req->headers[i]))
            hs[n++] = req->headers[i];
    admin_req_t *ar = malloc(sizeof(*ar));
    if (ar == NULL)
        return -ENOMEM;
    ar->st = st;
    ar->ex = ex;
    doppel_fetch_t f = {
        .size = sizeof(f),
        .method = req->method,
        .url = target,
        .headers = hs,
        .n_headers = n,
        .body = req->body,
        .body_len = req->body_len,
    };
    st->in_call = 1;
    int rc = st->svc->admin_call(st->ctx, &f, admin_done, ar);
    st->in_call = 0;
    if (rc < 0) {
        free(ar);
        char body[64];
        int len = snprintf(body, sizeof(body), "{\"rc\":%d}", rc);
        respond_json(st, ex, 502, body, (size_t)len);
    }
    return 0;
}

/* ---- /svc/info -------------------------------------------------------- */

static int on_info(void *p, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req)
{
    state_t *st = p;
    const doppel_services_t *svc = st->svc;
    (void)req;
    pthread_mutex_lock(&st->sh->mu);
    unsigned alive = st->sh->alive;
    pthread_mutex_unlock(&st->sh->mu);
    char body[512];
    int n =
        snprintf(body, sizeof(body),
                 "{\"worker\":%u,\"workers\":%u,\"alive\":%u,\"abi\":\"%u.%u\","
                 "\"has\":{\"engine_record\":%s,\"admin_call\":%s,"
                 "\"http_listen\":%s,\"shared\":%s}}",
                 st->worker, svc->worker_count(st->ctx), alive, svc->abi_major,
                 svc->abi_minor,
                 DOPPEL_HAS_SERVICE(svc, engine_record) ? "true" : "false",
                 DOPPEL_HAS_SERVICE(svc, admin_call) ? "true" : "false",
                 DOPPEL_HAS_SERVICE(svc, http_listen) ? "true" : "false",
                 DOPPEL_HAS_SERVICE(svc, shared) ? "true" : "false");
    respond_json(st, ex, 200, body, (size_t)n);
    return 0;
}

/* ---- /svc/siblings ---------------------------------------------------- */

typedef struct sib_msg {
    state_t *from; /* the asking copy */
    state_t *to;   /* the copy this runs on */
    int ok;
} sib_msg_t;

static void sib_finish(state_t *st)
{
    if (st->sib_wait > 0 || st->sib_ex == NULL)
        return;
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"sent\":%u,\"ok\":%u}",
                     st->sib_sent, st->sib_ok);
    doppel_http_exchange_t *ex = st->sib_ex;
    st->sib_ex = NULL;
    respond_json(st, ex, 200, body, (size_t)n);
}

/* Back on the asking copy's thread. */
static void sib_back(void *data)
{
    sib_msg_t *m = data;
    state_t *st = m->from;
    if (m->ok && pthread_equal(pthread_self(), st->thread))
        st->sib_ok++;
    free(m);
    st->sib_wait--;
    sib_finish(st);
}

static void sib_visit(void *data)
{
    sib_msg_t *m = data;
    m->ok = pthread_equal(pthread_self(), m->to->thread);
    if (m->to->svc->post(m->from->ctx, sib_back, m) < 0)
        free(m); /* the asker is stopping; its exchange is gone with it */
}

static int on_siblings(void *p, doppel_http_exchange_t *ex,
                       const doppel_http_request_t *req)
{
    state_t *st = p;
    (void)req;
    if (st->sib_ex != NULL) {
        respond_json(st, ex, 409, "{\"error\":\"busy\"}", 16);
        return 0;
    }
    st->sib_ex = ex;
    st->sib_wait = 1; /* held while posting */
    st->sib_ok = st->sib_sent = 0;
    pthread_mutex_lock(&st->sh->mu);
    for (unsigned i = 0; i < MAX_COPIES; i++) {
        state_t *o = st->sh->copies[i];
        if (o == NULL || o == st)
            continue;
        sib_msg_t *m = malloc(sizeof(*m));
        if (m == NULL)
            continue;
        *m = (sib_msg_t){st, o, 0};
        if (st->svc->post(o->ctx, sib_visit, m) < 0) {
            free(m);
            continue;
        }
        st->sib_wait++;
        st->sib_sent++;
    }
    pthread_mutex_unlock(&st->sh->mu);
    st->sib_wait--;
    sib_finish(st);
    return 0;
}

/* ---- own listener ------------------------------------------------------ */

static int on_own(void *p, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    state_t *st = p;
    (void)req;
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"own\":true,\"worker\":%u}",
                     st->worker);
    respond_json(st, ex, 200, body, (size_t)n);
    return 0;
}

/* "/svc/block?ms=N": holds the worker's loop thread for N ms before it
 * answers, as a plugin stuck in a blocking call would (for the bounded-stop
 * test). */
static int on_block(void *p, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req)
{
    state_t *st = p;
    char q[64];
    snprintf(q, sizeof(q), "%.*s", (int)req->query.len, req->query.ptr);
    const char *v = strstr(q, "ms=");
    long ms = v ? strtol(v + 3, NULL, 10) : 0;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    respond_json(st, ex, 200, "{\"blocked\":true}", 16);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int init(doppel_ctx_t *ctx, const doppel_services_t *svc, void **out)
{
    if (!DOPPEL_HAS_SERVICE(svc, admin_call) ||
        !DOPPEL_HAS_SERVICE(svc, http_listen) ||
        !DOPPEL_HAS_SERVICE(svc, shared))
        return -ENOSYS;
    state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->ctx = ctx;
    st->svc = svc;
    st->worker = svc->worker_index(ctx);
    const char *log = svc->option_str(ctx, "shared_log");
    st->sh = svc->shared(ctx, shared_create, shared_destroy, (void *)log);
    if (st->sh == NULL || st->worker >= MAX_COPIES) {
        free(st);
        return -ENOMEM;
    }
    doppel_http_mount_t m1 = {sizeof(m1), "/svc/admin", NULL, on_admin, st, 0};
    doppel_http_mount_t m2 = {sizeof(m2), "/svc/info", NULL, on_info, st, 0};
    doppel_http_mount_t m3 = {
        sizeof(m3), "/svc/siblings", NULL, on_siblings, st, 0};
    doppel_http_mount_t m4 = {sizeof(m4), "/own", NULL, on_own, st, 0};
    int rc = svc->http_mount(ctx, &m1);
    if (rc == 0)
        rc = svc->http_mount(ctx, &m2);
    if (rc == 0)
        rc = svc->http_mount(ctx, &m3);
    doppel_http_mount_t m5 = {sizeof(m5), "/svc/block", NULL, on_block, st, 0};
    if (rc == 0)
        rc = svc->http_mount(ctx, &m5);
    const char *listen = svc->option_str(ctx, "listen");
    if (rc == 0 && listen != NULL && listen[0])
        rc = svc->http_listen(ctx, listen, &m4);
    if (rc < 0) {
        free(st);
        return rc;
    }
    pthread_mutex_lock(&st->sh->mu);
    st->sh->alive++;
    st->sh->copies[st->worker] = st;
    pthread_mutex_unlock(&st->sh->mu);
    *out = st;
    return 0;
}

static int start(void *p)
{
    state_t *st = p;
    st->thread = pthread_self();
    return 0;
}

static void destroy(void *p)
{
    state_t *st = p;
    pthread_mutex_lock(&st->sh->mu);
    st->sh->alive--;
    st->sh->copies[st->worker] = NULL;
    pthread_mutex_unlock(&st->sh->mu);
    free(st);
}

static const doppel_option_t options[] = {
    {"listen",
     DOPPEL_OPT_STRING,
     0,
     NULL,
     "own listener address",
     1,
     0,
     {NULL, NULL}},
    {"shared_log",
     DOPPEL_OPT_STRING,
     0,
     NULL,
     "file the shared state's destructor appends to",
     1,
     0,
     {NULL, NULL}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {NULL, NULL}},
};

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "host_services",
    .version = "1.0.0",
    .summary = "test plugin: admin_call, http_listen, shared, cross-post",
    .kind = DOPPEL_KIND_FEATURE,
    .options = options,
    .init = init,
    .start = start,
    .destroy = destroy,
};

DOPPEL_PLUGIN_DEFINE(desc)
