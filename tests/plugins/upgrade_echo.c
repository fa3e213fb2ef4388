/*
 * Test plugin: the ABI 1.2 protocol switch (svc->http_upgrade), for
 * tests/integration/test_http_upgrade.py. On /echo:
 *   a request with Upgrade: x-echo switches: 101 with Upgrade: x-echo and
 *     X-Echo-Via; the connection then answers every byte upper-cased
 *     ("QUIT" closes it; "INFO" writes the connection's via and the
 *     number of switches taken so far);
 *   ?later=MS switches only after MS milliseconds (a timer), so that the
 *     client can leave first: http_upgrade then says -ENOTCONN, logged
 *     as "echo: client gone";
 *   ?slow=MS (no Upgrade) answers 200 "slow" after MS milliseconds: an
 *     upgrade pipelined behind it waits, and a client that leaves then
 *     loses the switch: on_accept gets NULL, logged as "echo: switch
 *     lost";
 *   ?refuse answers 403 instead (the connection closes after it);
 *   ?bad asks for a switch with a header the front owns, which must fail
 *     (-EINVAL) and leave the exchange to answer: 500 {"rc": N};
 *   without Upgrade: http_upgrade refuses (-EINVAL) and the plugin
 *     answers 426 with the code.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <doppel/plugin.h>

typedef struct later later_t;

typedef struct echo {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    later_t *pending; /* timers not fired yet: answered at stop */
} echo_t;

/* over every instance (one per worker), __atomic */
static unsigned long switched, lost;

struct later {
    echo_t *e;
    int slow;
    doppel_http_exchange_t *ex;
    doppel_timer_t *t;
    later_t *next;
};

static void later_unlink(later_t *l)
{
    for (later_t **pp = &l->e->pending; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            return;
        }
}

static const doppel_kv_t up_headers[] = {
    {DOPPEL_STR("Upgrade"), DOPPEL_STR("x-echo")},
    {DOPPEL_STR("X-Echo-Via"), DOPPEL_STR("upgrade_echo")},
};

static void on_read(void *data, doppel_conn_t *c, const uint8_t *buf,
                    size_t len)
{
    echo_t *e = data;
    if (len >= 4 && memcmp(buf, "QUIT", 4) == 0) {
        e->svc->conn_close(c, DOPPEL_CONN_CLOSE_FLUSH);
        return;
    }
    if (len >= 4 && memcmp(buf, "INFO", 4) == 0) {
        char out[96];
        int n = snprintf(out, sizeof(out), "switched=%lu lost=%lu\n",
                         __atomic_load_n(&switched, __ATOMIC_RELAXED),
                         __atomic_load_n(&lost, __ATOMIC_RELAXED));
        (void)e->svc->conn_write(c, out, (size_t)n, NULL, NULL);
        return;
    }
    char *up = malloc(len);
    if (up == NULL)
        return;
    for (size_t i = 0; i < len; i++)
        up[i] = (char)toupper(buf[i]);
    (void)e->svc->conn_write(c, up, len, NULL, NULL);
    free(up);
}

static void on_end(void *data, doppel_conn_t *c, int rc)
{
    echo_t *e = data;
    (void)rc;
    e->svc->conn_close(c, DOPPEL_CONN_CLOSE_NOW);
}

static int on_accept(void *state, doppel_conn_t *c,
                     const doppel_conn_info_t *info)
{
    echo_t *e = state;
    if (c == NULL) {
        __atomic_fetch_add(&lost, 1, __ATOMIC_RELAXED);
        e->svc->log(e->ctx, DOPPEL_LOG_INFO, "echo: switch lost");
        return 0;
    }
    if (info->via != DOPPEL_CONN_VIA_UPGRADE)
        return -EPROTO;
    __atomic_fetch_add(&switched, 1, __ATOMIC_RELAXED);
    doppel_conn_cbs_t cbs = {.size = sizeof(cbs), .on_read = on_read,
                             .on_end = on_end};
    return e->svc->conn_start(c, &cbs, e);
}

static int has_param(const doppel_http_request_t *req, const char *name)
{
    size_t n = strlen(name);
    const char *q = req->query.ptr;
    return q && req->query.len >= n && strncmp(q, name, n) == 0;
}

static void later_fire(void *data)
{
    later_t *l = data;
    echo_t *e = l->e;
    e->svc->timer_stop(l->t);
    later_unlink(l);
    if (l->slow) {
        e->svc->http_respond(l->ex, 200, NULL, 0, "slow", 4);
        free(l);
        return;
    }
    int rc = e->svc->http_upgrade(e->ctx, l->ex, up_headers, 2, on_accept, e);
    if (rc == -ENOTCONN)
        e->svc->log(e->ctx, DOPPEL_LOG_INFO, "echo: client gone");
    else if (rc < 0 && rc != -ENOMEM)
        e->svc->http_respond(l->ex, 500, NULL, 0, NULL, 0);
    free(l);
}

static int handler(void *state, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req)
{
    echo_t *e = state;
    char body[64];
    if (has_param(req, "refuse"))
        return e->svc->http_respond(ex, 403, NULL, 0, "no", 2) < 0 ? 0 : 0;
    if (has_param(req, "bad")) {
        static const doppel_kv_t bad[] = {
            {DOPPEL_STR("Upgrade"), DOPPEL_STR("x-echo")},
            {DOPPEL_STR("Content-Length"), DOPPEL_STR("0")}};
        int rc = e->svc->http_upgrade(e->ctx, ex, bad, 2, on_accept, e);
        int n = snprintf(body, sizeof(body), "{\"rc\": %d}", rc);
        e->svc->http_respond(ex, 500, NULL, 0, body, (size_t)n);
        return 0;
    }
    if (has_param(req, "later=") || has_param(req, "slow=")) {
        later_t *l = calloc(1, sizeof(*l));
        if (l == NULL)
            return -ENOMEM;
        l->e = e;
        l->ex = ex;
        l->slow = has_param(req, "slow=");
        long ms = strtol(req->query.ptr + (l->slow ? 5 : 6), NULL, 10);
        if (e->svc->timer_start(e->ctx, (uint64_t)(ms > 0 ? ms : 1), 0,
                                later_fire, l, &l->t) < 0) {
            free(l);
            return -ENOMEM;
        }
        l->next = e->pending;
        e->pending = l;
        return 0;
    }
    int rc = e->svc->http_upgrade(e->ctx, ex, up_headers, 2, on_accept, e);
    if (rc == -EINVAL) {
        int n = snprintf(body, sizeof(body), "{\"rc\": %d}", rc);
        e->svc->http_respond(ex, 426, NULL, 0, body, (size_t)n);
    }
    return 0;
}

static int init(doppel_ctx_t *ctx, const doppel_services_t *svc, void **out)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_upgrade))
        return -ENOTSUP;
    echo_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    e->ctx = ctx;
    e->svc = svc;
    doppel_http_mount_t m = {.size = sizeof(m), .prefix = "/echo",
                             .handler = handler, .state = e};
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int stop(void *p)
{
    echo_t *e = p;
    while (e->pending != NULL) {
        later_t *l = e->pending;
        e->pending = l->next;
        e->svc->timer_stop(l->t);
        e->svc->http_respond(l->ex, 503, NULL, 0, NULL, 0);
        free(l);
    }
    e->svc->stop_done(e->ctx);
    return 0;
}

static void destroy(void *p)
{
    free(p);
}

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "upgrade_echo",
    .version = "test",
    .summary = "switches /echo to an upper-casing echo (tests)",
    .kind = DOPPEL_KIND_FEATURE,
    .init = init,
    .stop = stop,
    .destroy = destroy,
};

DOPPEL_PLUGIN_DEFINE(desc)
