/*
 * ABI 1.2 connections, timers and watches (host/http/conn.c) and the
 * front's claims (host/http/http_front.c) over real loopback sockets.
 * Single-threaded: the test drives the uv loop with UV_RUN_NOWAIT between
 * its own non-blocking socket calls; every wait is bounded (a broken
 * implementation fails the test instead of hanging it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/conn.h"
#include "http/http_front.h"
#include "http/http_router.h"

static uv_loop_t loop;
static dp_conn_set_t *set;

/* ---- helpers ------------------------------------------------------------ */

/* Runs the loop until *flag is non-zero (or about 5 s passed). */
static void run_until(const int *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (!*flag)
            usleep(1000);
    }
    assert_true(*flag);
}

static void run_a_bit(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* A connected loopback TCP pair: *cli (blocking, the test's) and *srv
 * (non-blocking, for the code under test). */
static void tcp_pair(int *cli, int *srv)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*cli, (struct sockaddr *)&a, sizeof(a)), 0);
    *srv = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(*srv >= 0);
    close(l);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what arrives while the loop runs, until EOF, want bytes, or about
 * 5 s; returns the byte count (buf NUL-terminated when there is room). */
static size_t client_read_for(int fd, char *buf, size_t cap, size_t want,
                              int *eof, int rounds)
{
    size_t got = 0;
    *eof = 0;
    for (int i = 0; i < rounds && got < want && !*eof; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0) {
            size_t k = (size_t)n;
            if (buf != NULL && got < cap) {
                size_t c = k < cap - got ? k : cap - got;
                memcpy(buf + got, tmp, c);
            }
            got += k;
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            *eof = 1;
            break;
        }
        usleep(1000);
    }
    if (buf != NULL && got < cap)
        buf[got] = '\0';
    return got;
}

static size_t client_read(int fd, char *buf, size_t cap, size_t want, int *eof)
{
    return client_read_for(fd, buf, cap, want, eof, 5000);
}

/* ---- a recording plugin ------------------------------------------------- */

typedef struct rec {
    doppel_conn_t *conn;
    int accepted;
    int accept_rc; /* what on_accept returns */
    int start_in_accept;
    doppel_conn_info_t info;
    char remote[64];
    char log[8192]; /* "r:<bytes>|", "e:<rc>|", "d|", "w<tag>:<st>|", "c|" */
    size_t log_len;
    int in_start; /* conn_start is running */
    int read_in_start;
    int ended, end_rc, drained, closed;
    int released;
    size_t read_bytes;
    int close_on_read;
    int answer_on_read;  /* write A, B, C (with a callback), D */
    uint32_t answer_close; /* then close with these flags (+1; 0: none) */
    size_t pending_in_read;
} rec_t;

static rec_t R;

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(R.log + R.log_len, sizeof(R.log) - R.log_len, fmt, ap);
    va_end(ap);
    if (n > 0 && R.log_len + (size_t)n < sizeof(R.log))
        R.log_len += (size_t)n;
}

static void on_write_done(void *data, int status)
{
    logf_("w%s:%d|", (const char *)data, status);
}

static void rec_read(void *d, doppel_conn_t *c, const uint8_t *b, size_t n)
{
    assert_ptr_equal(d, &R);
    assert_ptr_equal(c, R.conn);
    assert_true(n > 0);
    if (R.in_start)
        R.read_in_start = 1;
    R.read_bytes += n;
    logf_("r:%.*s|", (int)(n < 64 ? n : 64), (const char *)b);
    if (R.answer_on_read) {
        assert_int_equal(dp_conn_write(c, "A", 1, NULL, NULL), 0);
        assert_int_equal(dp_conn_write(c, "B", 1, NULL, NULL), 0);
        R.pending_in_read = dp_conn_pending(c);
        assert_int_equal(dp_conn_write(c, "C", 1, on_write_done, "c"), 0);
        assert_int_equal(dp_conn_write(c, "D", 1, NULL, NULL), 0);
        if (R.answer_close)
            dp_conn_close(c, R.answer_close - 1);
    }
    if (R.close_on_read)
        dp_conn_close(c, DOPPEL_CONN_CLOSE_NOW);
}

static void rec_end(void *d, doppel_conn_t *c, int rc)
{
    (void)d;
    (void)c;
    R.ended++;
    R.end_rc = rc;
    logf_("e:%d|", rc);
}

static void rec_drain(void *d, doppel_conn_t *c)
{
    (void)d;
    (void)c;
    R.drained++;
    logf_("d|");
}

static void rec_close(void *d, doppel_conn_t *c)
{
    (void)d;
    assert_ptr_equal(c, R.conn);
    R.closed++;
    logf_("c|");
}

static const doppel_conn_cbs_t rec_cbs = {
    .size = sizeof(doppel_conn_cbs_t),
    .on_read = rec_read,
    .on_end = rec_end,
    .on_drain = rec_drain,
    .on_close = rec_close,
};

static int rec_accept(void *state, doppel_conn_t *c,
                      const doppel_conn_info_t *info)
{
    assert_ptr_equal(state, &R);
    R.conn = c;
    R.accepted++;
    R.info = *info;
    snprintf(R.remote, sizeof(R.remote), "%s", info->remote_addr.ptr);
    if (R.start_in_accept) {
        R.in_start = 1;
        assert_int_equal(dp_conn_start(c, &rec_cbs, &R), 0);
        R.in_start = 0;
    }
    return R.accept_rc;
}

static void rec_release(void *arg)
{
    assert_ptr_equal(arg, &R);
    R.released++;
}

static int setup(void **st)
{
    (void)st;
    memset(&R, 0, sizeof(R));
    R.start_in_accept = 1;
    assert_int_equal(uv_loop_init(&loop), 0);
    set = dp_conn_set_new(&loop);
    assert_non_null(set);
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **st)
{
    (void)st;
    dp_conn_set_free(set);
    set = NULL;
    /* a test that failed half-way may have left a server running: give it
     * a bounded chance to finish, then close whatever is left (leaking its
     * memory) so the next test still runs */
    for (int i = 0; i < 200 && uv_loop_alive(&loop); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_alive(&loop)) {
        uv_walk(&loop, close_any, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        fail_msg("the test left handles open");
    }
    assert_int_equal(uv_loop_close(&loop), 0); /* no handle left behind */
    return 0;
}

/* An adopted connection with pre-read bytes: on_accept sees the addresses,
 * the bytes come as the first on_read from the loop, never inside
 * conn_start, then what the peer sends next. */
static void test_adopt_pre_bytes_first(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    getsockname(cli, (struct sockaddr *)&me, &ml);
    assert_int_equal(dp_conn_adopt(set, srv, DOPPEL_CONN_VIA_CLAIM, "LINES\n",
                                   6, rec_accept, &R, rec_release, &R),
                     0);
    assert_int_equal(R.accepted, 1);
    assert_int_equal(R.info.via, DOPPEL_CONN_VIA_CLAIM);
    assert_string_equal(R.remote, "127.0.0.1");
    assert_int_equal(R.info.remote_port, ntohs(me.sin_port));
    assert_true(R.info.local_port > 0);
    assert_int_equal(R.read_bytes, 0); /* not inside conn_start */
    assert_int_equal(dp_conn_start(R.conn, &rec_cbs, &R), -EALREADY);
    assert_int_equal(dp_conn_set_connections(set), 1);
    send_all(cli, "hello");
    for (int i = 0; i < 1000 && R.read_bytes < 11; i++)
        run_a_bit(5);
    assert_string_equal(R.log, "r:LINES\n|r:hello|");
    assert_int_equal(R.read_in_start, 0);
    /* peer closes: on_end(0) once, then the plugin closes */
    shutdown(cli, SHUT_WR);
    run_until(&R.ended);
    assert_int_equal(R.end_rc, 0);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_NOW);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_NOW); /* twice: harmless */
    assert_int_equal(dp_conn_write(R.conn, "x", 1, NULL, NULL), -ENOTCONN);
    assert_int_equal(dp_conn_pause(R.conn, 1), -ENOTCONN);
    assert_int_equal(dp_conn_set_connections(set), 0);
    run_until(&R.closed);
    assert_int_equal(R.released, 1);
    assert_string_equal(R.log, "r:LINES\n|r:hello|e:0|c|");
    close(cli);
}

/* on_accept refusing: the host closes, the slot is given back, nothing
 * is called back, the peer sees EOF. */
static void test_adopt_refused(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    R.accept_rc = -EPERM;
    assert_int_equal(dp_conn_adopt(set, srv, DOPPEL_CONN_VIA_LISTEN, NULL, 0,
                                   rec_accept, &R, rec_release, &R),
                     -EPERM);
    assert_int_equal(R.released, 1);
    int eof;
    client_read(cli, NULL, 0, 1, &eof);
    assert_true(eof);
    run_a_bit(5);
    assert_int_equal(R.closed, 0);
    assert_int_equal(R.log_len, 0);
    close(cli);
    /* bad arguments close the descriptor and release too */
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, NULL, &R, rec_release, &R),
        -EINVAL);
    assert_int_equal(R.released, 2);
    client_read(cli, NULL, 0, 1, &eof);
    assert_true(eof);
    close(cli);
}

/* Writes arrive in order; callbacks come later, from the loop, in write
 * order, with 0. */
static void test_write_order_and_callbacks(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, NULL, NULL), 0);
    assert_int_equal(dp_conn_write(R.conn, "one ", 4, on_write_done, "1"), 0);
    assert_int_equal(dp_conn_write(R.conn, "two ", 4, NULL, NULL), 0);
    assert_int_equal(dp_conn_write(R.conn, "three", 5, on_write_done, "3"), 0);
    assert_int_equal(R.log_len, 0); /* never inside conn_write */
    char buf[64];
    int eof;
    assert_int_equal(client_read(cli, buf, sizeof(buf), 13, &eof), 13);
    assert_string_equal(buf, "one two three");
    run_a_bit(5);
    assert_string_equal(R.log, "w1:0|w3:0|");
    assert_int_equal(dp_conn_write(R.conn, NULL, 3, NULL, NULL), -EINVAL);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_FLUSH);
    run_until(&R.closed);
    close(cli);
}

/* A peer that does not read: the queue grows past the high-water mark,
 * a write past DOPPEL_CONN_QUEUE_MAX is refused with nothing queued, and
 * on_drain follows once the peer read everything. */
static void test_back_pressure(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, NULL, NULL), 0);
    /* one write longer than the queue may hold: refused, nothing sent */
    char *huge = calloc(1, DOPPEL_CONN_QUEUE_MAX + 1);
    assert_int_equal(dp_conn_write(R.conn, huge, DOPPEL_CONN_QUEUE_MAX + 1,
                                   on_write_done, "h"),
                     -ENOBUFS);
    free(huge);
    assert_int_equal(dp_conn_pending(R.conn), 0);
    size_t chunk = 1024 * 1024;
    char *big = malloc(chunk);
    memset(big, 'x', chunk);
    size_t sent = 0;
    int rc = 0;
    for (int i = 0; i < 64; i++) {
        rc = dp_conn_write(R.conn, big, chunk, NULL, NULL);
        if (rc < 0)
            break;
        sent += chunk;
    }
    assert_int_equal(rc, -ENOBUFS);
    size_t pend = dp_conn_pending(R.conn);
    assert_true(pend >= DOPPEL_CONN_HIGH_WATER);
    assert_true(pend <= DOPPEL_CONN_QUEUE_MAX);
    assert_true(pend + chunk > DOPPEL_CONN_QUEUE_MAX);
    /* refused means nothing queued */
    assert_int_equal(dp_conn_write(R.conn, big, chunk, NULL, NULL), -ENOBUFS);
    assert_int_equal(dp_conn_pending(R.conn), pend);
    assert_int_equal(R.drained, 0);
    int eof;
    assert_int_equal(client_read(cli, NULL, 0, sent, &eof), sent);
    run_until(&R.drained);
    assert_int_equal(R.drained, 1);
    assert_int_equal(R.log_len, 2); /* "d|": no callback of a refusal */
    assert_int_equal(dp_conn_pending(R.conn), 0);
    free(big);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_NOW);
    run_until(&R.closed);
    close(cli);
}

/* CLOSE_NOW with writes queued: their callbacks get -ECANCELED, on_close
 * comes last. */
static void test_close_now_cancels(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, NULL, NULL), 0);
    size_t chunk = 8 * 1024 * 1024;
    char *big = calloc(1, chunk);
    for (int i = 0; i < 4 && dp_conn_pending(R.conn) == 0; i++)
        assert_int_equal(dp_conn_write(R.conn, big, chunk, NULL, NULL), 0);
    assert_true(dp_conn_pending(R.conn) > 0);
    assert_int_equal(dp_conn_write(R.conn, big, 16, on_write_done, "a"), 0);
    assert_int_equal(dp_conn_write(R.conn, big, 16, on_write_done, "b"), 0);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_NOW);
    run_until(&R.closed);
    assert_string_equal(R.log, "wa:-125|wb:-125|c|");
    free(big);
    close(cli);
}

/* CLOSE_FLUSH: what was queued reaches the peer, then EOF; on_close. */
static void test_close_flush_delivers(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, NULL, NULL), 0);
    size_t chunk = 12 * 1024 * 1024;
    char *big = malloc(chunk);
    memset(big, 'y', chunk);
    assert_int_equal(dp_conn_write(R.conn, big, chunk, on_write_done, "f"), 0);
    dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_FLUSH);
    assert_int_equal(dp_conn_write(R.conn, "z", 1, NULL, NULL), -ENOTCONN);
    int eof;
    size_t got = client_read(cli, NULL, 0, chunk + 1, &eof);
    assert_int_equal(got, chunk);
    assert_true(eof);
    close(cli);
    run_until(&R.closed);
    assert_string_equal(R.log, "wf:0|c|");
    free(big);
}

/* Writes made while a read is handled go out together when it returns,
 * in the order they were made, a write with a callback included; they
 * count as pending meanwhile; a close in the handler still sends them. */
static void test_writes_in_a_read_are_corked(void **st)
{
    (void)st;
    static const uint32_t closes[] = {0, DOPPEL_CONN_CLOSE_FLUSH + 1,
                                      DOPPEL_CONN_CLOSE_NOW + 1};
    for (size_t k = 0; k < 3; k++) {
        int cli, srv;
        memset(&R, 0, sizeof(R));
        R.start_in_accept = 1;
        R.answer_on_read = 1;
        R.answer_close = closes[k];
        tcp_pair(&cli, &srv);
        assert_int_equal(
            dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, NULL, NULL),
            0);
        send_all(cli, "go");
        char buf[16] = {0};
        int eof = 0;
        size_t got = client_read(cli, buf, sizeof(buf) - 1, 4, &eof);
        assert_int_equal(got, 4);
        assert_string_equal(buf, "ABCD");
        assert_int_equal(R.pending_in_read, 2); /* A and B, corked */
        if (R.answer_close) {
            client_read(cli, NULL, 0, 1, &eof);
            assert_true(eof);
        } else {
            for (int i = 0; i < 100 && strstr(R.log, "wc:0|") == NULL; i++)
                run_a_bit(2);
            assert_non_null(strstr(R.log, "wc:0|"));
            dp_conn_close(R.conn, DOPPEL_CONN_CLOSE_NOW);
        }
        close(cli);
        run_until(&R.closed);
    }
}

/* Paused: no on_read; resumed: the bytes arrive. */
static void test_pause_resume(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    R.start_in_accept = 0;
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, "pre", 3, rec_accept, &R, NULL, NULL), 0);
    run_a_bit(5);
    assert_int_equal(R.read_bytes, 0); /* not started: nothing read */
    assert_int_equal(dp_conn_start(R.conn, &rec_cbs, &R), 0);
    assert_int_equal(dp_conn_pause(R.conn, 1), 0);
    send_all(cli, "later");
    run_a_bit(30);
    assert_int_equal(R.read_bytes, 0);
    assert_int_equal(dp_conn_pause(R.conn, 0), 0);
    for (int i = 0; i < 100 && R.read_bytes < 8; i++)
        run_a_bit(2);
    assert_string_equal(R.log, "r:pre|r:later|");
    dp_conn_close(R.conn, 0);
    run_until(&R.closed);
    close(cli);
}

/* The set freed with a connection still open: no callbacks, the slot is
 * given back at once, the peer sees EOF, every handle is gone (teardown
 * closes the loop). */
static void test_set_free_closes_silently(void **st)
{
    (void)st;
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(
        dp_conn_adopt(set, srv, 1, NULL, 0, rec_accept, &R, rec_release, &R),
        0);
    assert_int_equal(dp_conn_write(R.conn, "bye", 3, on_write_done, "x"), 0);
    dp_conn_set_free(set);
    set = NULL;
    assert_int_equal(R.released, 1);
    int eof;
    char buf[8];
    client_read(cli, buf, sizeof(buf), 10, &eof);
    assert_true(eof);
    run_a_bit(5);
    assert_int_equal(R.closed, 0);
    assert_int_equal(R.log_len, 0);
    close(cli);
}

/* ---- timers -------------------------------------------------------------- */

typedef struct tstate {
    int fired;
    int stop_at;
    doppel_timer_t *t;
} tstate_t;

static void on_tick(void *data)
{
    tstate_t *s = data;
    s->fired++;
    if (s->stop_at && s->fired == s->stop_at)
        dp_timer_stop(s->t); /* from inside fn */
}

static void test_timers(void **st)
{
    (void)st;
    tstate_t once = {0}, rep = {.stop_at = 3}, left = {0};
    assert_int_equal(dp_timer_start(set, 1, 0, on_tick, &once, &once.t), 0);
    assert_int_equal(dp_timer_start(set, 1, 1, on_tick, &rep, &rep.t), 0);
    assert_int_equal(dp_timer_start(set, 100000, 0, on_tick, &left, &left.t),
                     0);
    assert_int_equal(dp_timer_start(set, 1, 0, NULL, NULL, &left.t), -EINVAL);
    assert_int_equal(dp_conn_set_timers(set), 3);
    int three = 0;
    for (int i = 0; i < 2000 && !three; i++) {
        run_a_bit(1);
        three = rep.fired >= 3 && once.fired >= 1;
    }
    assert_true(three);
    run_a_bit(20);
    assert_int_equal(rep.fired, 3); /* never after timer_stop */
    assert_int_equal(once.fired, 1);
    dp_timer_stop(once.t); /* a fired one-shot is stopped too */
    assert_int_equal(dp_conn_set_timers(set), 1);
    dp_conn_set_shutdown(set);
    tstate_t late = {0};
    assert_int_equal(dp_timer_start(set, 1, 0, on_tick, &late, &late.t),
                     -ESHUTDOWN);
    /* `left` is left for dp_conn_set_free (teardown): freed, never fired */
    assert_int_equal(left.fired, 0);
}

/* ---- descriptor watches ------------------------------------------------ */

typedef struct wstate {
    int calls;
    uint32_t revents;
    int status;
    int fd;
} wstate_t;

static void on_watch(void *data, int fd, uint32_t revents, int status)
{
    wstate_t *s = data;
    s->calls++;
    s->revents = revents;
    s->status = status;
    s->fd = fd;
}

static void test_fd_watch(void **st)
{
    (void)st;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    wstate_t ws = {0};
    doppel_watch_t *w = NULL, *w2 = NULL;
    assert_int_equal(dp_fd_watch(set, p[0], DOPPEL_FD_READ, on_watch, &ws, &w),
                     0);
    assert_int_equal(dp_fd_watch(set, p[0], DOPPEL_FD_READ, on_watch, &ws, &w2),
                     -EEXIST);
    assert_int_equal(dp_fd_watch(set, p[1], 0x10, on_watch, &ws, &w2), -EINVAL);
    run_a_bit(10);
    assert_int_equal(ws.calls, 0); /* nothing to read yet */
    assert_int_equal(write(p[1], "x", 1), 1);
    int got = 0;
    for (int i = 0; i < 2000 && !got; i++) {
        run_a_bit(1);
        got = ws.calls > 0;
    }
    assert_true(got);
    assert_int_equal(ws.revents, DOPPEL_FD_READ);
    assert_int_equal(ws.status, 0);
    assert_int_equal(ws.fd, p[0]);
    /* switched off: no more calls although the byte is still unread */
    assert_int_equal(dp_fd_watch_update(w, 0), 0);
    int before = ws.calls;
    run_a_bit(10);
    assert_int_equal(ws.calls, before);
    /* the write end, watched for writing: ready at once */
    wstate_t ws2 = {0};
    assert_int_equal(
        dp_fd_watch(set, p[1], DOPPEL_FD_WRITE, on_watch, &ws2, &w2), 0);
    for (int i = 0; i < 2000 && !ws2.calls; i++)
        run_a_bit(1);
    assert_int_equal(ws2.revents, DOPPEL_FD_WRITE);
    dp_fd_watch_stop(w2);
    dp_fd_watch_stop(w);
    assert_int_equal(dp_conn_set_watches(set), 0);
    /* the host never closes the descriptor */
    assert_int_equal(write(p[1], "y", 1), 1);
    char b[4];
    assert_int_equal(read(p[0], b, sizeof(b)), 2);
    /* a watch left behind is freed with the set (teardown) */
    assert_int_equal(dp_fd_watch(set, p[0], DOPPEL_FD_READ, on_watch, &ws, &w),
                     0);
    close(p[1]);
    close(p[0]);
}

/* ---- claims in the HTTP front ------------------------------------------ */

typedef struct handoff {
    int calls;
    size_t claim;
    char bytes[256];
    size_t len;
    int fd;
    dp_http_server_t *srv;
} handoff_t;

static handoff_t H;

static void on_handoff(void *arg, dp_http_server_t *s, size_t claim,
                       uv_os_sock_t fd, const uint8_t *buf, size_t len)
{
    assert_ptr_equal(arg, &H);
    H.calls++;
    H.claim = claim;
    H.len = len < sizeof(H.bytes) ? len : sizeof(H.bytes) - 1;
    if (H.len > 0)
        memcpy(H.bytes, buf, H.len);
    H.bytes[H.len] = '\0';
    H.fd = fd;
    H.srv = s;
}

static const dp_http_claim_t claims[] = {
    {(const uint8_t *)"LINES\n", 6},
    {(const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24},
};

static dp_http_server_t *claim_server(dp_router_t **r, size_t max_conns)
{
    *r = dp_router_new();
    assert_non_null(*r);
    dp_http_server_cfg_t cfg = {.host = "127.0.0.1",
                                .router = *r,
                                .claims = claims,
                                .n_claims = 2,
                                .handoff = on_handoff,
                                .handoff_arg = &H};
    dp_http_limits_default(&cfg.limits);
    cfg.limits.header_timeout_ms = 300;
    cfg.limits.max_connections = max_conns;
    dp_http_server_t *s = NULL;
    assert_int_equal(dp_http_server_start(&loop, &cfg, &s), 0);
    return s;
}

static void free_server(dp_http_server_t *s, dp_router_t *r)
{
    dp_http_server_free(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    dp_router_free(r);
}

/* A connection whose first bytes are a claim's prefix leaves the front
 * with every byte read so far, also when the prefix comes in pieces; the
 * descriptor handed over is the same connection. */
static void test_claim_handover(void **st)
{
    (void)st;
    memset(&H, 0, sizeof(H));
    dp_router_t *r;
    dp_http_server_t *s = claim_server(&r, 0);
    int port = dp_http_server_port(s);
    int fd = connect_port(port);
    send_all(fd, "LIN");
    run_a_bit(50);
    assert_int_equal(H.calls, 0); /* might still be a claim: waits */
    send_all(fd, "ES\nhello\n");
    run_until(&H.calls);
    assert_int_equal(H.claim, 0);
    assert_string_equal(H.bytes, "LINES\nhello\n");
    assert_ptr_equal(H.srv, s);
    /* the duplicate is the client's connection, alive after the front
     * closed its own descriptor */
    run_a_bit(5);
    assert_int_equal(send(H.fd, "ok", 2, 0), 2);
    char b[8] = {0};
    assert_int_equal(recv(fd, b, 2, 0), 2);
    assert_string_equal(b, "ok");
    close(H.fd);
    dp_http_server_release(s);
    close(fd);

    /* the HTTP/2 preface, in one read */
    memset(&H, 0, sizeof(H));
    fd = connect_port(port);
    send_all(fd, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00");
    run_until(&H.calls);
    assert_int_equal(H.claim, 1);
    assert_int_equal(H.len, 24); /* the two NULs end the C string early */
    close(H.fd);
    dp_http_server_release(s);
    close(fd);
    free_server(s, r);
}

/* HTTP/1.1 on the same server still works; a connection that served a
 * request is never handed over; bytes that stop matching go to llhttp. */
static void test_claim_http_unaffected(void **st)
{
    (void)st;
    memset(&H, 0, sizeof(H));
    dp_router_t *r;
    dp_http_server_t *s = claim_server(&r, 0);
    int port = dp_http_server_port(s);
    char buf[1024];
    int eof;

    int fd = connect_port(port);
    send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    client_read(fd, buf, sizeof(buf), 12, &eof);
    assert_memory_equal(buf, "HTTP/1.1 404", 12);
    send_all(fd, "LINES\n");
    client_read(fd, buf, sizeof(buf), 12, &eof);
    assert_memory_equal(buf, "HTTP/1.1 400", 12);
    assert_int_equal(H.calls, 0);
    close(fd);

    /* "LI" then "GET": not a claim after all, the whole is HTTP's */
    fd = connect_port(port);
    send_all(fd, "L");
    run_a_bit(20);
    send_all(fd, "X / HTTP/1.1\r\nHost: a\r\n\r\n");
    client_read(fd, buf, sizeof(buf), 12, &eof);
    assert_int_equal(H.calls, 0);
    assert_memory_equal(buf, "HTTP/1.1 4", 10); /* LX is no method: 400 */
    close(fd);

    /* a partial prefix that never completes: closed after the head
     * timeout, not handed over */
    fd = connect_port(port);
    send_all(fd, "LINE");
    client_read(fd, buf, sizeof(buf), 1, &eof);
    assert_true(eof);
    assert_int_equal(H.calls, 0);
    close(fd);
    free_server(s, r);
}

/* A handed-over connection keeps its slot in max_connections until it is
 * released: with a cap of 1, the next client is not served before. */
static void test_claim_keeps_slot(void **st)
{
    (void)st;
    memset(&H, 0, sizeof(H));
    dp_router_t *r;
    dp_http_server_t *s = claim_server(&r, 1);
    int port = dp_http_server_port(s);
    int fd = connect_port(port);
    send_all(fd, "LINES\n");
    run_until(&H.calls);
    int fd2 = connect_port(port);
    send_all(fd2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    char buf[64];
    int eof;
    size_t n = client_read_for(fd2, buf, sizeof(buf), 1, &eof, 300);
    /* gave up after its bound, without an answer */
    assert_int_equal(n, 0);
    close(H.fd);
    dp_http_server_release(s);
    n = client_read(fd2, buf, sizeof(buf), 12, &eof);
    assert_true(n >= 12);
    assert_memory_equal(buf, "HTTP/1.1 404", 12);
    close(fd);
    close(fd2);
    free_server(s, r);
}

/* Every split of the HTTP/2 preface is handed over whole; a byte that
 * differs at any position makes the connection HTTP's (llhttp answers). */
static void test_claim_every_split_and_mismatch(void **st)
{
    (void)st;
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    dp_router_t *r;
    dp_http_server_t *s = claim_server(&r, 0);
    int port = dp_http_server_port(s);
    for (size_t k = 1; k < 24; k++) {
        memset(&H, 0, sizeof(H));
        int fd = connect_port(port);
        assert_int_equal(send(fd, pri, k, 0), (ssize_t)k);
        run_a_bit(3);
        assert_int_equal(H.calls, 0);
        assert_int_equal(send(fd, pri + k, 24 - k, 0), (ssize_t)(24 - k));
        run_until(&H.calls);
        assert_int_equal(H.claim, 1);
        assert_int_equal(H.len, 24);
        assert_memory_equal(H.bytes, pri, 24);
        close(H.fd);
        dp_http_server_release(s);
        close(fd);
    }
    for (size_t i = 0; i < 24; i++) {
        memset(&H, 0, sizeof(H));
        char bad[64];
        memcpy(bad, pri, 24);
        bad[i] = bad[i] == 'X' ? 'Y' : 'X';
        int fd = connect_port(port);
        assert_int_equal(send(fd, bad, i + 1, 0), (ssize_t)(i + 1));
        run_a_bit(3);
        assert_int_equal(send(fd, bad + i + 1, 24 - i - 1, 0),
                         (ssize_t)(24 - i - 1));
        char buf[256];
        int eof;
        size_t n = client_read_for(fd, buf, sizeof(buf), 12, &eof, 2000);
        assert_int_equal(H.calls, 0);
        /* never a hand-over: llhttp refuses it (400), or takes it for the
         * start of a head and closes it at the head timeout */
        if (n >= 12)
            assert_memory_equal(buf, "HTTP/1.1 4", 10);
        else
            assert_true(eof);
        close(fd);
        run_a_bit(2);
    }
    free_server(s, r);
}

/* A prefix sent a byte at a time does not push the head timeout back: the
 * connection is closed within header_timeout of its first byte. */
static void test_claim_slow_prefix_bounded(void **st)
{
    (void)st;
    memset(&H, 0, sizeof(H));
    dp_router_t *r;
    dp_http_server_t *s = claim_server(&r, 0); /* head timeout 300 ms */
    int fd = connect_port(dp_http_server_port(s));
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    int eof = 0;
    size_t i = 0;
    /* one byte every ~40 ms: 23 bytes would take ~900 ms */
    for (; i < 23 && !eof; i++) {
        if (send(fd, pri + i, 1, MSG_NOSIGNAL) != 1)
            break;
        char b[8];
        client_read_for(fd, b, sizeof(b), 1, &eof, 40);
    }
    if (!eof)
        client_read(fd, NULL, 0, 1, &eof);
    assert_true(eof);
    assert_true(i < 23); /* closed before the prefix could complete */
    assert_int_equal(H.calls, 0);
    close(fd);
    free_server(s, r);
}

/* A raw server hands every connection over at once. */
static void test_raw_server(void **st)
{
    (void)st;
    memset(&H, 0, sizeof(H));
    dp_http_server_cfg_t cfg = {.host = "127.0.0.1",
                                .raw = 1,
                                .handoff = on_handoff,
                                .handoff_arg = &H};
    dp_http_limits_default(&cfg.limits);
    dp_http_server_t *s = NULL;
    assert_int_equal(dp_http_server_start(&loop, &cfg, &s), 0);
    int fd = connect_port(dp_http_server_port(s));
    run_until(&H.calls);
    assert_int_equal(H.claim, DP_HTTP_RAW);
    assert_int_equal(H.len, 0);
    close(H.fd);
    dp_http_server_release(s);
    close(fd);
    cfg.handoff = NULL; /* a raw server needs its handoff */
    assert_int_equal(dp_http_server_start(&loop, &cfg, &s), -EINVAL);
    dp_http_server_free(s);
    uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adopt_pre_bytes_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adopt_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_order_and_callbacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_now_cancels, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_flush_delivers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writes_in_a_read_are_corked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_free_closes_silently, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_handover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_http_unaffected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claim_keeps_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_every_split_and_mismatch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_slow_prefix_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raw_server, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
