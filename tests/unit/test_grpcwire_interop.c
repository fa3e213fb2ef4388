/*
 * The gRPC transport core against a real gRPC client: the official Node
 * client (@grpc/grpc-js, tests/node/grpcwire_interop.mjs) calls an echo
 * layer served over TCP on 127.0.0.1 by a poll() loop in a thread. Skipped
 * when node or the client library is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "grpc_wire.h"

/* ---------- the echo layer (server thread only) ---------- */

typedef struct echo_call {
    uint8_t *got;
    size_t len;
    int messages;
    char tenant[64];
    char bin[64];
    int hold;
} echo_call_t;

static struct {
    int calls, cancels, held, held_with_deadline;
} stats; /* written by the server thread, read after it stopped */

static void echo_done(gw_call_t *call, int code, const char *msg,
                      const uint8_t *details, size_t dlen)
{
    echo_call_t *e = gw_call_data(call);
    gw_md_t trl[2] = {{"x-trace", 7, "t1", 2}};
    size_t n = 1;
    if (e != NULL && e->bin[0])
        trl[n++] = (gw_md_t){"x-bin-bin", 9, e->bin, strlen(e->bin)};
    gw_call_finish(call, code, msg, details, dlen, trl, n);
    if (e != NULL)
        free(e->got);
    free(e);
    gw_call_release(call);
}

static int method_is(gw_call_t *call, const char *m)
{
    size_t pl;
    const char *p = gw_call_path(call, &pl);
    const char *svc, *meth;
    size_t sl, ml;
    if (gw_path_split(p, pl, &svc, &sl, &meth, &ml) != 0)
        return 0;
    return sl == 9 && memcmp(svc, "echo.Echo", 9) == 0 && ml == strlen(m) &&
           memcmp(meth, m, ml) == 0;
}

static void copy_md(gw_call_t *call, const char *key, char *out, size_t cap)
{
    const gw_md_t *m = gw_call_md_get(call, key);
    if (m != NULL && m->value_len < cap) {
        memcpy(out, m->value, m->value_len);
        out[m->value_len] = 0;
    }
}

static void on_start(gw_call_t *call, const char *path, size_t path_len,
                     const gw_md_t *md, size_t n, uint64_t deadline)
{
    (void)path;
    (void)path_len;
    (void)md;
    (void)n;
    stats.calls++;
    static const char *const known[] = {"Unary", "Fail", "Stream", "Collect",
                                        "Bidi", "Hold"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= method_is(call, known[i]);
    if (!ok) {
        echo_done(call, GW_UNIMPLEMENTED, "unknown method", NULL, 0);
        return;
    }
    if (method_is(call, "Fail")) {
        static const uint8_t details[] = {8, 5, 18, 1, 'x'};
        echo_done(call, GW_NOT_FOUND, "not found: \xc3\xbc 100%", details,
                  sizeof(details));
        return;
    }
    echo_call_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        echo_done(call, GW_RESOURCE_EXHAUSTED, "oom", NULL, 0);
        return;
    }
    copy_md(call, "x-tenant", e->tenant, sizeof(e->tenant));
    copy_md(call, "x-bin-bin", e->bin, sizeof(e->bin));
    if (method_is(call, "Hold")) {
        e->hold = 1;
        stats.held++;
        if (deadline != 0)
            stats.held_with_deadline++;
    }
    gw_call_set_data(call, e);
}

static void on_message(gw_call_t *call, const uint8_t *msg, size_t len)
{
    echo_call_t *e = gw_call_data(call);
    if (method_is(call, "Bidi")) {
        gw_call_send_message(call, msg, len);
        return;
    }
    uint8_t *nb = realloc(e->got, e->len + len + 1);
    if (nb == NULL)
        return;
    e->got = nb;
    memcpy(e->got + e->len, msg, len);
    e->len += len;
    e->messages++;
}

static void on_half_close(gw_call_t *call)
{
    echo_call_t *e = gw_call_data(call);
    if (e->hold)
        return; /* until the client gives up */
    if (method_is(call, "Stream")) {
        gw_call_send_message(call, (const uint8_t *)"m1", 2);
        gw_call_send_message(call, (const uint8_t *)"m2", 2);
        gw_call_send_message(call, (const uint8_t *)"m3", 2);
    } else if (method_is(call, "Collect")) {
        char out[256];
        int n = snprintf(out, sizeof(out), "%d:%.*s", e->messages,
                         (int)(e->len < 200 ? e->len : 200),
                         e->got ? (const char *)e->got : "");
        gw_call_send_message(call, (const uint8_t *)out, (size_t)n);
    } else if (method_is(call, "Unary")) {
        gw_md_t hd[] = {{"x-tenant-echo", 13, e->tenant, strlen(e->tenant)}};
        gw_call_send_headers(call, hd, 1);
        gw_call_send_message(call, e->got ? e->got : (const uint8_t *)"",
                             e->len);
    }
    echo_done(call, GW_OK, NULL, NULL, 0);
}

static void on_cancel(gw_call_t *call)
{
    stats.cancels++;
    echo_call_t *e = gw_call_data(call);
    if (e != NULL)
        free(e->got);
    free(e);
    gw_call_release(call);
}

/* ---------- a poll() loop serving connections ---------- */

#define MAX_CONNS 16

typedef struct sconn {
    int fd;
    gw_conn_t *gw;
    uint8_t *wq;
    size_t wlen, woff, wcap;
    int dead;
} sconn_t;

static int sc_send(void *ud, const uint8_t *b, size_t len)
{
    sconn_t *sc = ud;
    if (sc->wlen == sc->woff) {
        sc->wlen = sc->woff = 0;
        while (len > 0) {
            ssize_t n = write(sc->fd, b, len);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                sc->dead = 1;
                return 0; /* the read side sees it too */
            }
            b += n;
            len -= (size_t)n;
        }
    }
    if (len == 0)
        return 0;
    if (sc->wlen + len > sc->wcap) {
        size_t cap = sc->wcap ? sc->wcap * 2 : 65536;
        while (cap < sc->wlen + len)
            cap *= 2;
        uint8_t *nb = realloc(sc->wq, cap);
        if (nb == NULL)
            return -ENOBUFS;
        sc->wq = nb;
        sc->wcap = cap;
    }
    memcpy(sc->wq + sc->wlen, b, len);
    sc->wlen += len;
    return 0;
}

static size_t sc_pending(void *ud)
{
    sconn_t *sc = ud;
    return sc->wlen - sc->woff;
}

static const gw_conn_ops_t sc_ops = {sc_send, sc_pending, NULL, NULL};

static struct {
    int lfd;
    int stop_pipe[2];
    sconn_t conns[MAX_CONNS];
} srv;

static void sc_close(sconn_t *sc)
{
    gw_conn_free(sc->gw);
    close(sc->fd);
    free(sc->wq);
    memset(sc, 0, sizeof(*sc));
    sc->fd = -1;
}

static void *serve(void *arg)
{
    (void)arg;
    gw_conn_cfg_t cfg = {.cb = {on_start, on_message, on_half_close, on_cancel}};
    for (int i = 0; i < MAX_CONNS; i++)
        srv.conns[i].fd = -1;
    for (;;) {
        struct pollfd pf[MAX_CONNS + 2];
        int map[MAX_CONNS + 2];
        int n = 0;
        pf[n++] = (struct pollfd){srv.stop_pipe[0], POLLIN, 0};
        pf[n++] = (struct pollfd){srv.lfd, POLLIN, 0};
        for (int i = 0; i < MAX_CONNS; i++) {
            sconn_t *sc = &srv.conns[i];
            if (sc->fd < 0)
                continue;
            map[n] = i;
            pf[n++] = (struct pollfd){
                sc->fd, (short)(POLLIN | (sc->wlen > sc->woff ? POLLOUT : 0)), 0};
        }
        if (poll(pf, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            break;
        if (pf[1].revents & POLLIN) {
            int fd = accept(srv.lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAX_CONNS && fd >= 0; i++)
                if (srv.conns[i].fd < 0) {
                    slot = i;
                    break;
                }
            if (slot < 0) {
                if (fd >= 0)
                    close(fd);
            } else {
                sconn_t *sc = &srv.conns[slot];
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                sc->fd = fd;
                sc->gw = gw_conn_new(&cfg, &sc_ops, sc);
                if (sc->gw == NULL)
                    sc_close(sc);
                else
                    gw_conn_flush(sc->gw); /* our SETTINGS */
            }
        }
        for (int k = 2; k < n; k++) {
            sconn_t *sc = &srv.conns[map[k]];
            if (pf[k].revents & POLLOUT) {
                ssize_t w = write(sc->fd, sc->wq + sc->woff, sc->wlen - sc->woff);
                if (w > 0)
                    sc->woff += (size_t)w;
                else if (w < 0 && errno != EAGAIN)
                    sc->dead = 1;
                if (sc->woff == sc->wlen)
                    gw_conn_on_drain(sc->gw);
            }
            if (pf[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[65536];
                ssize_t r = read(sc->fd, buf, sizeof(buf));
                if (r > 0) {
                    if (gw_conn_feed(sc->gw, buf, (size_t)r) != 0)
                        sc->dead = 1;
                } else if (r == 0 || errno != EAGAIN) {
                    sc->dead = 1;
                }
            }
            if (sc->dead || (gw_conn_done(sc->gw) && sc->woff == sc->wlen))
                sc_close(sc);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (srv.conns[i].fd >= 0)
            sc_close(&srv.conns[i]);
    return NULL;
}

/* ---------- the test ---------- */

static char script_dir[4096];

static int client_available(void)
{
    /* tests/unit/<this file> -> tests/node */
    snprintf(script_dir, sizeof(script_dir), "%s", __FILE__);
    char *slash = strrchr(script_dir, '/');
    if (slash == NULL)
        return 0;
    *slash = 0;
    slash = strrchr(script_dir, '/');
    if (slash == NULL)
        return 0;
    snprintf(slash, sizeof(script_dir) - (size_t)(slash - script_dir), "/node");
    char probe[4200];
    snprintf(probe, sizeof(probe),
             "cd '%s' && node -e \"require.resolve('@grpc/grpc-js')\" "
             ">/dev/null 2>&1", script_dir);
    return system(probe) == 0;
}

static void test_grpc_js_client(void **st)
{
    (void)st;
    if (!client_available()) {
        print_message("node or @grpc/grpc-js not installed: skipped\n");
        skip();
    }
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(srv.lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(srv.lfd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(pipe(srv.stop_pipe), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve, NULL), 0);

    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 60 node grpcwire_interop.mjs %d",
             script_dir, ntohs(a.sin_port));
    int rc = system(cmd);

    assert_int_equal(write(srv.stop_pipe[1], "x", 1), 1);
    pthread_join(th, NULL);
    close(srv.lfd);
    close(srv.stop_pipe[0]);
    close(srv.stop_pipe[1]);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
    /* 9 scenarios, 50 concurrent calls among them */
    assert_true(stats.calls >= 58);
    assert_int_equal(stats.held, 1);
    assert_int_equal(stats.held_with_deadline, 1); /* grpc-timeout came */
    assert_true(stats.cancels >= 1); /* the held call, at the deadline */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grpc_js_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
