/*
 * Test plugin: the return codes of the ABI 1.2 connection, timer and watch
 * services, and what the host cleans up after a copy that leaves things
 * behind (tests/integration/test_plugin_conn_services.py).
 *
 * GET /conn-probe answers with the codes recorded at init and start as
 * JSON ({"name": rc, ...}). Connections to its own port are refused by
 * on_accept (-EPERM). At start it leaves a repeating timer, a one-shot
 * timer that already fired and a watch on a pipe to the host, never
 * stopping them: the host must free them after destroy (a leak shows
 * under ASan; a handle left open shows as "left libuv handles open").
 * The option `hold` keeps one connection claimed by "PROBE" open
 * through the stop without ever closing it, for the host to close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <doppel/plugin.h>

#define MAX_CODES 48

typedef struct probe {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    struct {
        const char *name;
        int rc;
    } codes[MAX_CODES];
    int n;
    int pipe_fd[2];
    doppel_timer_t *rep, *once, *t2;
    doppel_watch_t *watch;
    unsigned long ticks;
    int fired_once;
    int hold;
    doppel_conn_t *held;
} probe_t;

static void rec(probe_t *p, const char *name, int rc)
{
    if (p->n < MAX_CODES) {
        p->codes[p->n].name = name;
        p->codes[p->n].rc = rc;
        p->n++;
    }
}

static int refuse(void *state, doppel_conn_t *c, const doppel_conn_info_t *i)
{
    (void)state;
    (void)c;
    (void)i;
    return -EPERM;
}

static void held_read(void *d, doppel_conn_t *c, const uint8_t *b, size_t n)
{
    probe_t *p = d;
    (void)b;
    (void)n;
    (void)p->svc->conn_write(c, "held\n", 5, NULL, NULL);
}

static void held_close(void *d, doppel_conn_t *c)
{
    probe_t *p = d;
    (void)c;
    p->held = NULL;
}

static const doppel_conn_cbs_t held_cbs = {
    .size = sizeof(doppel_conn_cbs_t),
    .on_read = held_read,
    .on_close = held_close,
};

static int hold_accept(void *state, doppel_conn_t *c,
                       const doppel_conn_info_t *i)
{
    probe_t *p = state;
    (void)i;
    if (p->held != NULL)
        return -EBUSY;
    int rc = p->svc->conn_start(c, &held_cbs, p);
    if (rc == 0)
        p->held = c;
    return rc;
}

static void on_tick(void *data)
{
    probe_t *p = data;
    p->ticks++;
}

static void on_once(void *data)
{
    probe_t *p = data;
    p->fired_once = 1;
}

static void on_pipe(void *data, int fd, uint32_t revents, int status)
{
    (void)data;
    (void)fd;
    (void)revents;
    (void)status;
}

static int handle(void *state, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    probe_t *p = state;
    (void)req;
    char body[4096];
    size_t len = 0;
    len += (size_t)snprintf(body + len, sizeof(body) - len, "{");
    for (int i = 0; i < p->n && len < sizeof(body) - 64; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\"%s\":%d",
                                i ? "," : "", p->codes[i].name, p->codes[i].rc);
    len += (size_t)snprintf(body + len, sizeof(body) - len,
                            ",\"fired_once\":%d,\"ticking\":%d,\"now\":%d}",
                            p->fired_once, p->ticks > 0,
                            p->svc->now_ms(p->ctx) > 0);
    static const doppel_kv_t ct[] = {
        {{"Content-Type", 12}, {"application/json", 16}}};
    (void)p->svc->http_respond(ex, 200, ct, 1, body, len);
    return 0;
}

static int probe_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, fd_watch_stop))
        return -ENOTSUP;
    probe_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->ctx = ctx;
    p->svc = svc;
    p->hold = svc->option_bool(ctx, "hold");
    if (pipe2(p->pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(p);
        return -errno;
    }
    doppel_conn_listener_t l = {
        .size = sizeof(l), .on_accept = refuse, .state = p};
    doppel_conn_listener_t bad = {.size = sizeof(bad), .on_accept = NULL};
    rec(p, "listen_null_address", svc->conn_listen(ctx, NULL, &l));
    rec(p, "listen_bad_address", svc->conn_listen(ctx, "nowhere", &l));
    rec(p, "listen_no_accept", svc->conn_listen(ctx, "127.0.0.1:0", &bad));
    rec(p, "listen_null", svc->conn_listen(ctx, "127.0.0.1:0", NULL));
    rec(p, "listen", svc->conn_listen(ctx, "127.0.0.1:0", &l));
    rec(p, "port_before_start", svc->conn_listen_port(ctx, 0));
    rec(p, "port_no_such", svc->conn_listen_port(ctx, 1));

    doppel_conn_claim_t c = {.size = sizeof(c),
                             .prefix = (const uint8_t *)"PROBE",
                             .prefix_len = 5,
                             .on_accept = p->hold ? hold_accept : refuse,
                             .state = p};
    doppel_conn_claim_t c0 = c, c65 = c, shorter = c, longer = c, other = c;
    c0.prefix_len = 0;
    c65.prefix_len = 65;
    shorter.prefix_len = 3; /* "PRO" */
    longer.prefix = (const uint8_t *)"PROBEX";
    longer.prefix_len = 6;
    other.prefix = (const uint8_t *)"OTHER";
    rec(p, "claim_empty", svc->conn_claim(ctx, &c0));
    rec(p, "claim_too_long", svc->conn_claim(ctx, &c65));
    rec(p, "claim_null", svc->conn_claim(ctx, NULL));
    rec(p, "claim", svc->conn_claim(ctx, &c));
    rec(p, "claim_shorter_overlap", svc->conn_claim(ctx, &shorter));
    rec(p, "claim_longer_overlap", svc->conn_claim(ctx, &longer));
    rec(p, "claim_other", svc->conn_claim(ctx, &other));

    doppel_timer_t *t = NULL;
    rec(p, "timer_no_fn", svc->timer_start(ctx, 1, 0, NULL, p, &t));
    rec(p, "timer_no_out", svc->timer_start(ctx, 1, 0, on_tick, p, NULL));
    doppel_watch_t *w = NULL;
    rec(p, "watch_bad_fd",
        svc->fd_watch(ctx, -1, DOPPEL_FD_READ, on_pipe, p, &w));
    rec(p, "watch_bad_events",
        svc->fd_watch(ctx, p->pipe_fd[0], 0x80, on_pipe, p, &w));
    rec(p, "conn_start_null", svc->conn_start(NULL, NULL, NULL));
    rec(p, "conn_write_null", svc->conn_write(NULL, "x", 1, NULL, NULL));
    rec(p, "conn_pause_null", svc->conn_pause(NULL, 1));
    svc->conn_close(NULL, 0); /* harmless */
    svc->timer_stop(NULL);
    svc->fd_watch_stop(NULL);
    rec(p, "watch_update_null", svc->fd_watch_update(NULL, 0));

    doppel_http_mount_t m = {.size = sizeof(m),
                             .prefix = "/conn-probe",
                             .handler = handle,
                             .state = p};
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        close(p->pipe_fd[0]);
        close(p->pipe_fd[1]);
        free(p);
        return rc;
    }
    *state = p;
    return 0;
}

static int probe_start(void *state)
{
    probe_t *p = state;
    const doppel_services_t *svc = p->svc;
    doppel_conn_listener_t l = {.size = sizeof(l), .on_accept = refuse};
    doppel_conn_claim_t c = {.size = sizeof(c),
                             .prefix = (const uint8_t *)"LATE",
                             .prefix_len = 4,
                             .on_accept = refuse};
    rec(p, "listen_after_init", svc->conn_listen(p->ctx, "127.0.0.1:0", &l));
    rec(p, "claim_after_init", svc->conn_claim(p->ctx, &c));
    int port = svc->conn_listen_port(p->ctx, 0);
    rec(p, "port_positive", port > 0 ? 0 : port);
    rec(p, "port", port);
    /* left to the host: never stopped */
    rec(p, "timer_repeat", svc->timer_start(p->ctx, 5, 5, on_tick, p, &p->rep));
    rec(p, "timer_once", svc->timer_start(p->ctx, 1, 0, on_once, p, &p->once));
    /* a timer stopped at once never fires */
    rec(p, "timer_stopped",
        svc->timer_start(p->ctx, 1, 0, on_once, NULL, &p->t2));
    svc->timer_stop(p->t2);
    rec(p, "watch",
        svc->fd_watch(p->ctx, p->pipe_fd[0], DOPPEL_FD_READ, on_pipe, p,
                      &p->watch));
    doppel_watch_t *w2 = NULL;
    rec(p, "watch_again",
        svc->fd_watch(p->ctx, p->pipe_fd[0], DOPPEL_FD_READ, on_pipe, p, &w2));
    rec(p, "watch_update",
        svc->fd_watch_update(p->watch, DOPPEL_FD_WRITE | DOPPEL_FD_READ));
    rec(p, "watch_update_bad", svc->fd_watch_update(p->watch, 0x40));
    rec(p, "watch_update_off", svc->fd_watch_update(p->watch, 0));
    return 0;
}

static void probe_destroy(void *state)
{
    probe_t *p = state;
    doppel_timer_t *t = NULL;
    /* the loop is stopping: no new timers */
    int rc = p->svc->timer_start(p->ctx, 1, 0, on_tick, p, &t);
    if (rc != -ESHUTDOWN)
        p->svc->log(p->ctx, DOPPEL_LOG_ERROR,
                    "timer_start in destroy returned %d", rc);
    /* The watch, the timers and a held connection are left for the host,
     * which stops them after this returns. The pipe must stay open until
     * the watch is stopped, so a plugin that leaves its watch to the host
     * leaves the descriptor too: these two are not closed. */
    free(p);
}

static const doppel_option_t probe_options[] = {
    {.name = "hold",
     .type = DOPPEL_OPT_BOOL,
     .default_value = "false",
     .help = "keep one connection claimed by PROBE open through the stop",
     .min = 1,
     .max = 0},
    {.name = NULL},
};

static const doppel_plugin_t probe_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "conn_probe",
    .version = "1.0.0",
    .summary = "test: ABI 1.2 connection service return codes",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = probe_options,
    .init = probe_init,
    .start = probe_start,
    .destroy = probe_destroy,
};

DOPPEL_PLUGIN_DEFINE(probe_plugin)
