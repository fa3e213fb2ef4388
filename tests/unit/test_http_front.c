/*
 * The HTTP/1.1 front over real sockets: a dp_http_server_t runs on its own
 * uv loop in a thread, bound to 127.0.0.1:0, with a test router; the tests
 * talk to it with plain blocking sockets (every read has a timeout, so a
 * broken server fails the test instead of hanging it).
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http_front.h"
#include "http/metrics.h"

/* ---- the server thread ------------------------------------------------ */

typedef struct fixture {
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t cmd_async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*cmd)(struct fixture *f, void *arg);
    void *cmd_arg;
    int cmd_done;
    int started, start_rc, port;
    dp_http_limits_t limits;
    dp_router_t *router;
    dp_metrics_t *metrics;
    dp_http_server_t *srv;
    /* test state, touched only on the loop thread or under mu */
    doppel_http_exchange_t *held;
    int held_rc;
    int drain_done;
} fixture_t;

static fixture_t *F;
static const char *bind_host = "127.0.0.1";

typedef struct delayed {
    uv_timer_t timer;
    doppel_http_exchange_t *ex;
    char body[256];
    size_t len;
} delayed_t;

static void on_delayed_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_delay(uv_timer_t *t)
{
    delayed_t *d = t->data;
    static const doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("text/plain")};
    dp_http_respond(d->ex, 200, &ct, 1, d->body, d->len);
    uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
}

static long query_int(const doppel_http_request_t *req, const char *key)
{
    char q[256];
    snprintf(q, sizeof(q), "%.*s", (int)req->query.len, req->query.ptr);
    char *p = strstr(q, key);
    return p ? strtol(p + strlen(key) + 1, NULL, 10) : 0;
}

/* "/echo": answers with what the front parsed. */
static int echo_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    char out[70000];
    const doppel_str_t *xt = req->header(req, "x-test");
    int n = snprintf(out, sizeof(out),
                     "method=%.*s\npath=%.*s\nrest=%.*s\nquery=%.*s\n"
                     "target=%.*s\nremote=%.*s\nversion=%u.%u\nx-test=%.*s\n"
                     "nul=%d\nbody=%.*s",
                     (int)req->method.len, req->method.ptr,
                     (int)req->path.len, req->path.ptr, (int)req->rest.len,
                     req->rest.ptr, (int)req->query.len, req->query.ptr,
                     (int)req->target.len, req->target.ptr,
                     (int)req->remote_addr.len, req->remote_addr.ptr,
                     req->http_major, req->http_minor,
                     xt ? (int)xt->len : 0, xt ? xt->ptr : "",
                     req->body[req->body_len] == '\0', (int)req->body_len,
                     (const char *)req->body);
    return dp_http_respond(ex, 200, NULL, 0, out, (size_t)n) == 0 ? 0 : 0;
}

/* "/async/<name>?delay=ms": answers "<name>" after the delay. */
static int async_handler(void *state, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req)
{
    delayed_t *d = calloc(1, sizeof(*d));
    d->ex = ex;
    d->len = (size_t)snprintf(d->body, sizeof(d->body), "%.*s",
                              (int)req->rest.len, req->rest.ptr);
    uv_timer_init(dp_http_exchange_loop(ex), &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_delay, (uint64_t)query_int(req, "delay"), 0);
    return 0;
}

static int fail_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    return -EIO;
}

/* "/hold": keeps the exchange; the test answers it later. */
static int hold_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    pthread_mutex_lock(&F->mu);
    F->held = ex;
    pthread_cond_broadcast(&F->cv);
    pthread_mutex_unlock(&F->mu);
    return 0;
}

static int stream_handler(void *state, doppel_http_exchange_t *ex,
                          const doppel_http_request_t *req)
{
    static const doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("text/event-stream")};
    dp_http_stream_start(ex, 200, &ct, 1);
    dp_http_stream_write(ex, "data: one\n\n", 11);
    dp_http_stream_write(ex, "data: two\n\n", 11);
    dp_http_stream_end(ex);
    return 0;
}

static int bad_header_handler(void *state, doppel_http_exchange_t *ex,
                              const doppel_http_request_t *req)
{
    static const doppel_kv_t evil = {DOPPEL_STR("X-Evil"),
                                     DOPPEL_STR("a\r\nSet-Cookie: x=1")};
    pthread_mutex_lock(&F->mu);
    F->held_rc = dp_http_respond(ex, 200, &evil, 1, "no", 2);
    pthread_mutex_unlock(&F->mu);
    return 0;
}

static void on_cmd(uv_async_t *a)
{
    fixture_t *f = a->data;
    pthread_mutex_lock(&f->mu);
    void (*cmd)(fixture_t *, void *) = f->cmd;
    void *arg = f->cmd_arg;
    pthread_mutex_unlock(&f->mu);
    if (cmd == NULL)
        return;
    cmd(f, arg);
    pthread_mutex_lock(&f->mu);
    f->cmd = NULL;
    f->cmd_done = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Runs fn on the loop thread and waits for it. */
static void on_loop(void (*fn)(fixture_t *, void *), void *arg)
{
    pthread_mutex_lock(&F->mu);
    F->cmd = fn;
    F->cmd_arg = arg;
    F->cmd_done = 0;
    uv_async_send(&F->cmd_async);
    while (!F->cmd_done)
        pthread_cond_wait(&F->cv, &F->mu);
    pthread_mutex_unlock(&F->mu);
}

static void mount(dp_router_t *r, const char *prefix,
                  doppel_http_handler_fn h, const char *owner)
{
    doppel_http_mount_t m = {.size = sizeof(m), .prefix = prefix,
                             .handler = h};
    assert_int_equal(dp_router_add(r, &m, 0, owner), 0);
}

static void *server_main(void *arg)
{
    fixture_t *f = arg;
    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->cmd_async, on_cmd);
    f->cmd_async.data = f;
    dp_http_server_cfg_t cfg = {.host = bind_host, .port = 0,
                                .limits = f->limits, .router = f->router,
                                .metrics = dp_metrics_worker(f->metrics, 0)};
    int rc = dp_http_server_start(&f->loop, &cfg, &f->srv);
    pthread_mutex_lock(&f->mu);
    f->start_rc = rc;
    f->port = rc == 0 ? dp_http_server_port(f->srv) : -1;
    f->started = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    return NULL;
}

static void fixture_start(const dp_http_limits_t *limits)
{
    fixture_t *f = calloc(1, sizeof(*f));
    F = f;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (limits)
        f->limits = *limits;
    else
        dp_http_limits_default(&f->limits);
    f->metrics = dp_metrics_new(1);
    f->router = dp_router_new();
    mount(f->router, "/echo", echo_handler, "echo");
    mount(f->router, "/async", async_handler, "async");
    mount(f->router, "/fail", fail_handler, "fail");
    mount(f->router, "/hold", hold_handler, "hold");
    mount(f->router, "/stream", stream_handler, "stream");
    mount(f->router, "/badheader", bad_header_handler, "bad");
    pthread_create(&f->thread, NULL, server_main, f);
    pthread_mutex_lock(&f->mu);
    while (!f->started)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(f->start_rc, 0);
    assert_true(f->port > 0);
}

static void stop_cmd(fixture_t *f, void *arg)
{
    dp_http_server_free(f->srv);
    uv_close((uv_handle_t *)&f->cmd_async, NULL);
}

static int fixture_stop(void **st)
{
    fixture_t *f = F;
    pthread_mutex_lock(&f->mu);
    f->cmd = stop_cmd;
    f->cmd_done = 0;
    uv_async_send(&f->cmd_async);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    dp_router_free(f->router);
    dp_metrics_free(f->metrics);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    F = NULL;
    return 0;
}

static int setup_default(void **st)
{
    fixture_start(NULL);
    return 0;
}

static int setup_small(void **st)
{
    dp_http_limits_t l;
    dp_http_limits_default(&l);
    l.max_header_bytes = 1024;
    l.max_body_bytes = 1000;
    l.header_timeout_ms = 300;
    l.body_timeout_ms = 300;
    l.idle_timeout_ms = 300;
    l.max_pipeline = 2;
    fixture_start(&l);
    return 0;
}

/* ---- the client ------------------------------------------------------- */

static int client(void)
{
    int v6 = strchr(bind_host, ':') != NULL;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)F->port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
                              .sin6_port = htons((uint16_t)F->port)};
    inet_pton(AF_INET, bind_host, &a.sin_addr);
    inet_pton(AF_INET6, bind_host, &a6.sin6_addr);
    if (v6)
        assert_int_equal(connect(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
    else
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

typedef struct resp {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
} resp_t;

/* Per-socket read-ahead, so pipelined responses can be read one by one. */
typedef struct conn_in {
    int fd;
    char buf[200000];
    size_t len;
    int eof;
} conn_in_t;

static int fill(conn_in_t *in)
{
    if (in->eof || in->len == sizeof(in->buf))
        return 0;
    ssize_t n = recv(in->fd, in->buf + in->len, sizeof(in->buf) - in->len, 0);
    if (n <= 0) {
        in->eof = 1;
        return 0;
    }
    in->len += (size_t)n;
    return 1;
}

static void consume(conn_in_t *in, size_t n)
{
    memmove(in->buf, in->buf + n, in->len - n);
    in->len -= n;
}

static const char *find_header(const resp_t *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p != NULL && p[2] != '\0') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(val, sizeof(val), "%.*s", (int)(e - v), v);
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Reads one response; returns 0, or -1 when the connection closed first.
 * head_only: the request was HEAD (no body whatever Content-Length says). */
static int read_resp(conn_in_t *in, resp_t *r, int head_only)
{
    char *end;
    memset(r, 0, sizeof(*r));
    for (;;) {
        in->buf[in->len < sizeof(in->buf) ? in->len : sizeof(in->buf) - 1] =
            '\0';
        end = memmem(in->buf, in->len, "\r\n\r\n", 4);
        if (end != NULL)
            break;
        if (!fill(in))
            return -1;
    }
    size_t hl = (size_t)(end - in->buf) + 4;
    assert_true(hl < sizeof(r->head));
    memcpy(r->head, in->buf, hl);
    r->head[hl] = '\0';
    consume(in, hl);
    r->status = atoi(r->head + 9);
    const char *cl = find_header(r, "Content-Length");
    const char *te = find_header(r, "Transfer-Encoding");
    r->body = calloc(1, 200000);
    if (head_only || r->status == 204 || r->status < 200)
        return 0;
    if (te != NULL && strcasecmp(te, "chunked") == 0) {
        for (;;) {
            char *le;
            while ((le = memmem(in->buf, in->len, "\r\n", 2)) == NULL)
                if (!fill(in))
                    return -1;
            size_t sz = strtoul(in->buf, NULL, 16);
            size_t need = (size_t)(le - in->buf) + 2 + sz + 2;
            while (in->len < need)
                if (!fill(in))
                    return -1;
            memcpy(r->body + r->body_len, le + 2, sz);
            r->body_len += sz;
            consume(in, need);
            if (sz == 0)
                return 0;
        }
    }
    assert_non_null(cl);
    size_t n = strtoul(cl, NULL, 10);
    while (in->len < n)
        if (!fill(in))
            return -1;
    memcpy(r->body, in->buf, n);
    r->body_len = n;
    consume(in, n);
    return 0;
}

static conn_in_t *open_conn(void)
{
    conn_in_t *in = calloc(1, sizeof(*in));
    in->fd = client();
    return in;
}

static void close_conn(conn_in_t *in)
{
    close(in->fd);
    free(in);
}

static void free_resp(resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* True when the server closed the connection (EOF) with nothing more. */
static int closed_by_server(conn_in_t *in)
{
    while (fill(in))
        ;
    return in->eof && in->len == 0;
}

/* One request on a fresh connection. */
static void roundtrip(const char *req, resp_t *r)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, req);
    assert_int_equal(read_resp(in, r, 0), 0);
    close_conn(in);
}

/* ---- tests ------------------------------------------------------------ */

static void test_basic_and_request_fields(void **st)
{
    resp_t r;
    roundtrip("GET /echo/a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: t\r\n"
              "X-Test:  spaced value  \r\n\r\n",
              &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "method=GET\n"));
    assert_non_null(strstr(r.body, "path=/echo/a b/c\n"));
    assert_non_null(strstr(r.body, "rest=/a b/c\n"));
    assert_non_null(strstr(r.body, "query=x=1&y=%41\n"));
    assert_non_null(strstr(r.body, "target=/echo/a%20b/c?x=1&y=%41\n"));
    assert_non_null(strstr(r.body, "remote=127.0.0.1\n"));
    assert_non_null(strstr(r.body, "version=1.1\n"));
    assert_non_null(strstr(r.body, "x-test=spaced value\n"));
    assert_non_null(strstr(r.body, "nul=1\n"));
    assert_non_null(find_header(&r, "Date"));
    assert_string_equal(find_header(&r, "Server"), "doppel/" DOPPEL_VERSION);
    assert_int_equal(atoi(find_header(&r, "Content-Length")), r.body_len);
    free_resp(&r);
    /* obs-fold (RFC 9112 5.2): the line break goes, the space stays; no
     * CR or LF ever reaches a handler inside a value */
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n"
              "X-Test: a\r\n b\r\n\r\n",
              &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "x-test=a b\n"));
    free_resp(&r);
    /* the mount itself gives rest "/" */
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_non_null(strstr(r.body, "rest=/\n"));
    free_resp(&r);
}

static void test_request_id(void **st)
{
    resp_t r;
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    char first[64];
    snprintf(first, sizeof(first), "%s", find_header(&r, "X-Request-Id"));
    assert_int_equal(strlen(first), 16);
    assert_int_equal(strspn(first, "0123456789abcdef"), 16);
    free_resp(&r);
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_not_equal(find_header(&r, "X-Request-Id"), first);
    free_resp(&r);
    /* a valid id from the client is reused */
    roundtrip(
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc.DEF_12-3\r\n\r\n",
        &r);
    assert_string_equal(find_header(&r, "X-Request-Id"), "abc.DEF_12-3");
    free_resp(&r);
    /* an invalid one is replaced */
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad id!\r\n\r\n",
              &r);
    assert_int_equal(strlen(find_header(&r, "X-Request-Id")), 16);
    free_resp(&r);
    /* 404 carries it in the body too */
    roundtrip(
        "GET /nowhere HTTP/1.1\r\nHost: t\r\nX-Request-Id: rid-404\r\n\r\n",
        &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(find_header(&r, "X-Request-Id"), "rid-404");
    assert_string_equal(r.body, "{\"error\":\"no route\",\"code\":"
                                "\"not_found\",\"request_id\":\"rid-404\"}");
    free_resp(&r);
}

static void test_keepalive(void **st)
{
    conn_in_t *in = open_conn();
    resp_t r;
    for (int i = 0; i < 3; i++) {
        send_str(in->fd, "GET /echo/k HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_resp(in, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_null(find_header(&r, "Connection"));
        free_resp(&r);
    }
    /* Connection: close is honoured */
    send_str(in->fd,
             "GET /echo/k HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_string_equal(find_header(&r, "Connection"), "close");
    free_resp(&r);
    assert_true(closed_by_server(in));
    close_conn(in);

    /* HTTP/1.0: closes by default, keeps alive on request */
    in = open_conn();
    send_str(in->fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_string_equal(find_header(&r, "Connection"), "keep-alive");
    free_resp(&r);
    send_str(in->fd, "GET /echo HTTP/1.0\r\n\r\n");
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_non_null(strstr(r.body, "version=1.0"));
    free_resp(&r);
    assert_true(closed_by_server(in));
    close_conn(in);
}

static void test_pipelining_out_of_order(void **st)
{
    conn_in_t *in = open_conn();
    /* the first answers last: responses must still come in order */
    send_str(in->fd, "GET /async/a?delay=150 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /async/b?delay=60 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /async/c?delay=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    const char *want[] = {"/a", "/b", "/c"};
    for (int i = 0; i < 3; i++) {
        resp_t r;
        assert_int_equal(read_resp(in, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want[i]);
        free_resp(&r);
    }
    close_conn(in);
}

static void test_pipeline_limit(void **st)
{
    /* max_pipeline is 2: the third request waits for room, then is served */
    conn_in_t *in = open_conn();
    send_str(in->fd, "GET /async/1?delay=50 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /async/2?delay=50 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /async/3?delay=10 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /async/4?delay=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    char want[8];
    for (int i = 1; i <= 4; i++) {
        resp_t r;
        assert_int_equal(read_resp(in, &r, 0), 0);
        snprintf(want, sizeof(want), "/%d", i);
        assert_string_equal(r.body, want);
        free_resp(&r);
    }
    /* a slow head with quick ones behind it: the quick answers wait (and
     * reading pauses at the limit), then all come in order */
    char burst[4096] = "GET /async/slow?delay=100 HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < 10; i++) {
        char one[64];
        snprintf(one, sizeof(one), "GET /echo/%d HTTP/1.1\r\nHost: t\r\n\r\n",
                 i);
        strcat(burst, one);
    }
    send_str(in->fd, burst);
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_string_equal(r.body, "/slow");
    free_resp(&r);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(read_resp(in, &r, 0), 0);
        snprintf(want, sizeof(want), "/%d", i);
        char needle[32];
        snprintf(needle, sizeof(needle), "rest=%s\n", want);
        assert_non_null(strstr(r.body, needle));
        free_resp(&r);
    }
    close_conn(in);
}

static void test_chunked_body(void **st)
{
    resp_t r;
    roundtrip(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
        &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "body=hello, world"));
    free_resp(&r);
}

static void test_expect_continue(void **st)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                     "Expect: 100-continue\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 100);
    free_resp(&r);
    send_str(in->fd, "ping");
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "body=ping"));
    free_resp(&r);
    close_conn(in);
}

static void test_head(void **st)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\nGET /echo/after "
                     "HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(in, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_true(atoi(find_header(&r, "Content-Length")) > 0);
    free_resp(&r);
    /* no body bytes on the wire: the next response starts right away */
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "rest=/after"));
    free_resp(&r);
    close_conn(in);
}

static void test_headers_too_large(void **st)
{
    conn_in_t *in = open_conn();
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    send_str(in->fd, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ");
    send_str(in->fd, big);
    send_str(in->fd, "\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 431);
    assert_string_equal(find_header(&r, "Connection"), "close");
    assert_non_null(strstr(r.body, "\"code\":\"headers_too_large\""));
    free_resp(&r);
    assert_true(closed_by_server(in));
    close_conn(in);
}

static void test_body_too_large(void **st)
{
    /* by Content-Length, before any body byte is sent */
    conn_in_t *in = open_conn();
    send_str(in->fd,
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 413);
    free_resp(&r);
    assert_true(closed_by_server(in));
    close_conn(in);

    /* by chunks that add up past the limit */
    in = open_conn();
    send_str(
        in->fd,
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[700];
    memset(chunk, 'x', sizeof(chunk));
    char line[16];
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof(line), "%zx\r\n", sizeof(chunk));
        send_str(in->fd, line);
        send(in->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        send_str(in->fd, "\r\n");
    }
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 413);
    free_resp(&r);
    close_conn(in);
}

static void test_malformed(void **st)
{
    const char *bad[] = {"GARBAGE\r\n\r\n", "GET /x HTTP/9.x\r\n\r\n",
                         "GET /echo/%zz HTTP/1.1\r\nHost: t\r\n\r\n",
                         "GET /echo/%00 HTTP/1.1\r\nHost: t\r\n\r\n",
                         "GET /echo HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        conn_in_t *in = open_conn();
        send_str(in->fd, bad[i]);
        resp_t r;
        assert_int_equal(read_resp(in, &r, 0), 0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "\"code\":\"bad_request\""));
        free_resp(&r);
        assert_true(closed_by_server(in));
        close_conn(in);
    }
}

static void test_slow_headers_timeout(void **st)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    /* keep trickling: the head never completes within 300 ms */
    for (int i = 0; i < 5; i++) {
        usleep(100 * 1000);
        if (send(in->fd, "a", 1, MSG_NOSIGNAL) != 1)
            break;
    }
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 408);
    free_resp(&r);
    assert_true(closed_by_server(in));
    close_conn(in);

    /* a body that stops arriving */
    in = open_conn();
    send_str(in->fd,
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
    assert_int_equal(read_resp(in, &r, 0), 0);
    assert_int_equal(r.status, 408);
    free_resp(&r);
    close_conn(in);
}

static void test_idle_close(void **st)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(in, &r, 0), 0);
    free_resp(&r);
    /* idle for longer than 300 ms: closed without a response */
    assert_true(closed_by_server(in));
    close_conn(in);
}

static void test_handler_error_is_500(void **st)
{
    resp_t r;
    roundtrip("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "\"code\":\"internal\""));
    free_resp(&r);
    /* header injection from a handler is refused and still answered */
    roundtrip("GET /badheader HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_null(find_header(&r, "Set-Cookie"));
    free_resp(&r);
    pthread_mutex_lock(&F->mu);
    assert_int_equal(F->held_rc, -EINVAL);
    pthread_mutex_unlock(&F->mu);
}

static void test_stream(void **st)
{
    resp_t r;
    roundtrip("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(find_header(&r, "Transfer-Encoding"), "chunked");
    assert_string_equal(r.body, "data: one\n\ndata: two\n\n");
    free_resp(&r);
}

static void wait_held(void)
{
    pthread_mutex_lock(&F->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    while (F->held == NULL)
        if (pthread_cond_timedwait(&F->cv, &F->mu, &ts) != 0)
            break;
    assert_non_null(F->held);
    pthread_mutex_unlock(&F->mu);
}

static void answer_held(fixture_t *f, void *arg)
{
    f->held_rc = dp_http_respond(f->held, 200, NULL, 0, "late", 4);
    f->held = NULL;
}

typedef struct counts {
    size_t conns, inflight;
} counts_t;

static void get_counts(fixture_t *f, void *arg)
{
    counts_t *c = arg;
    c->conns = dp_http_server_connections(f->srv);
    c->inflight = dp_http_server_inflight(f->srv);
}

static void test_respond_after_client_left(void **st)
{
    conn_in_t *in = open_conn();
    send_str(in->fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_held();
    close_conn(in);
    /* wait until the server noticed */
    counts_t c;
    for (int i = 0; i < 200; i++) {
        on_loop(get_counts, &c);
        if (c.conns == 0)
            break;
        usleep(10 * 1000);
    }
    assert_int_equal(c.conns, 0);
    assert_int_equal(c.inflight, 1); /* the handler still holds it */
    on_loop(answer_held, NULL);
    assert_int_equal(F->held_rc, -ENOTCONN);
    on_loop(get_counts, &c);
    assert_int_equal(c.inflight, 0);
}

static void drain_done(void *data)
{
    fixture_t *f = data;
    f->drain_done = 1;
}

static void start_drain(fixture_t *f, void *arg)
{
    dp_http_server_drain(f->srv, 5000, drain_done, f);
}

static void read_drain_done(fixture_t *f, void *arg)
{
    *(int *)arg = f->drain_done;
}

static void test_drain(void **st)
{
    /* one idle keep-alive connection and one with a request in flight */
    conn_in_t *idle = open_conn();
    send_str(idle->fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t r;
    assert_int_equal(read_resp(idle, &r, 0), 0);
    free_resp(&r);
    conn_in_t *busy = open_conn();
    send_str(busy->fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_held();

    on_loop(start_drain, NULL);
    assert_true(closed_by_server(idle)); /* idle: closed at once */
    int done = -1;
    on_loop(read_drain_done, &done);
    assert_int_equal(done, 0); /* the in-flight one keeps the drain open */

    on_loop(answer_held, NULL);
    assert_int_equal(F->held_rc, 0);
    assert_int_equal(read_resp(busy, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "late");
    assert_string_equal(find_header(&r, "Connection"), "close");
    free_resp(&r);
    assert_true(closed_by_server(busy));
    for (int i = 0; i < 200 && done != 1; i++) {
        usleep(10 * 1000);
        on_loop(read_drain_done, &done);
    }
    assert_int_equal(done, 1);
    close_conn(idle);
    close_conn(busy);

    /* nothing listens any more */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)F->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
}

/* ---- the connection cap ------------------------------------------------ */

static int setup_cap(void **st)
{
    dp_http_limits_t l;
    dp_http_limits_default(&l);
    l.max_connections = 2;
    fixture_start(&l);
    return 0;
}

static void wait_conns(size_t n)
{
    counts_t c = {0};
    for (int i = 0; i < 300; i++) {
        on_loop(get_counts, &c);
        if (c.conns == n)
            return;
        usleep(10 * 1000);
    }
    assert_int_equal(c.conns, n);
}

/* Until n requests are with their handlers (so their connections are not
 * idle any more). */
static void wait_inflight(size_t n)
{
    counts_t c = {0};
    for (int i = 0; i < 300; i++) {
        on_loop(get_counts, &c);
        if (c.inflight == n)
            return;
        usleep(10 * 1000);
    }
    assert_int_equal(c.inflight, n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_cap_sheds_oldest_idle(void **st)
{
    resp_t r;
    /* a: keep-alive after one request; b: has sent nothing yet */
    conn_in_t *a = open_conn();
    send_str(a->fd, "GET /echo/a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_resp(a, &r, 0), 0);
    free_resp(&r);
    conn_in_t *b = open_conn();
    wait_conns(2);
    /* a newcomer at the cap is served; the oldest idle one (a) makes room */
    conn_in_t *c = open_conn();
    send_str(c->fd, "GET /echo/c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    free_resp(&r);
    assert_true(closed_by_server(a));
    /* b, younger, is still served */
    send_str(b->fd, "GET /echo/b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_resp(b, &r, 0), 0);
    assert_int_equal(r.status, 200);
    free_resp(&r);
    wait_conns(2);
    close_conn(a);
    close_conn(b);
    close_conn(c);
}

static void test_cap_newcomer_waits_for_busy(void **st)
{
    resp_t r;
    double t0 = now_s();
    conn_in_t *a = open_conn();
    send_str(a->fd, "GET /async/a?delay=400 HTTP/1.1\r\nHost: t\r\n"
                    "Connection: close\r\n\r\n");
    conn_in_t *b = open_conn();
    send_str(b->fd, "GET /async/b?delay=400 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_conns(2);
    wait_inflight(2);
    /* neither is idle: the newcomer is not accepted until one closes */
    conn_in_t *c = open_conn();
    send_str(c->fd, "GET /echo/c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_resp(c, &r, 0), 0);
    double waited = now_s() - t0;
    assert_int_equal(r.status, 200);
    free_resp(&r);
    assert_true(waited >= 0.35);
    /* the busy ones were answered, not cut */
    assert_int_equal(read_resp(a, &r, 0), 0);
    assert_string_equal(r.body, "/a");
    free_resp(&r);
    assert_int_equal(read_resp(b, &r, 0), 0);
    assert_string_equal(r.body, "/b");
    free_resp(&r);
    close_conn(a);
    close_conn(b);
    close_conn(c);
}

static void test_cap_drain_with_waiting_newcomer(void **st)
{
    resp_t r;
    conn_in_t *a = open_conn();
    send_str(a->fd, "GET /async/a?delay=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    conn_in_t *b = open_conn();
    send_str(b->fd, "GET /async/b?delay=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_conns(2);
    wait_inflight(2);
    conn_in_t *c = open_conn(); /* waits at the cap */
    usleep(50 * 1000);
    double t0 = now_s();
    on_loop(start_drain, NULL);
    /* the waiting newcomer is let go at once (not after the 5 s read
     * timeout); the busy ones finish */
    assert_true(closed_by_server(c));
    assert_true(now_s() - t0 < 2.0);
    assert_int_equal(read_resp(a, &r, 0), 0);
    free_resp(&r);
    assert_int_equal(read_resp(b, &r, 0), 0);
    free_resp(&r);
    int done = 0;
    for (int i = 0; i < 200 && done != 1; i++) {
        usleep(10 * 1000);
        on_loop(read_drain_done, &done);
    }
    assert_int_equal(done, 1);
    close_conn(a);
    close_conn(b);
    close_conn(c);
}

static int setup_ipv6(void **st)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &a6.sin6_addr);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        skip(); /* no IPv6 loopback on this machine */
    bind_host = "::1";
    fixture_start(NULL);
    return 0;
}

static int teardown_ipv6(void **st)
{
    fixture_stop(st);
    bind_host = "127.0.0.1";
    return 0;
}

static void test_ipv6(void **st)
{
    resp_t r;
    roundtrip("GET /echo/v6 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "remote=::1\n"));
    free_resp(&r);
}

static void test_bad_bind(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    dp_router_t *r = dp_router_new();
    dp_http_server_cfg_t cfg = {.host = "not-an-address", .router = r};
    dp_http_limits_default(&cfg.limits);
    dp_http_server_t *s = NULL;
    assert_int_equal(dp_http_server_start(&loop, &cfg, &s), -EINVAL);
    assert_null(s);
    /* the port taken by a running server, without SO_REUSEPORT */
    fixture_start(NULL);
    cfg.host = "127.0.0.1";
    cfg.port = F->port;
    assert_int_equal(dp_http_server_start(&loop, &cfg, &s), UV_EADDRINUSE);
    uv_run(&loop, UV_RUN_DEFAULT); /* the failed server's close callbacks */
    assert_int_equal(uv_loop_close(&loop), 0);
    dp_router_free(r);
    fixture_stop(st);
}

static void test_metrics_series(void **st)
{
    resp_t r;
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    free_resp(&r);
    roundtrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    free_resp(&r);
    roundtrip("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    free_resp(&r);
    roundtrip("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    free_resp(&r);
    assert_int_equal(dp_metrics_plugin_add(F->metrics, "kafka", "messages",
                                           "topic=\"orders\"", 3),
                     0);
    assert_int_equal(dp_metrics_plugin_add(F->metrics, "kafka", "messages",
                                           "topic=\"orders\"", 2),
                     0);
    assert_int_equal(dp_metrics_plugin_add(F->metrics, "kafka", "Bad-Name",
                                           NULL, 1),
                     -EINVAL);
    assert_int_equal(dp_metrics_plugin_add(F->metrics, "kafka", "x",
                                           "a=\"1\"\nb", 1),
                     -EINVAL);
    assert_int_equal(dp_metrics_gauge_set(F->metrics, "doppel_plugin_loaded",
                                          "plugin=\"http\"", 1),
                     0);
    size_t len = 0;
    char *text = dp_metrics_render(F->metrics, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "# TYPE doppel_http_requests_total counter\n"));
    assert_non_null(strstr(
        text, "doppel_http_requests_total{owner=\"echo\",status=\"200\"} 2\n"));
    assert_non_null(strstr(
        text, "doppel_http_requests_total{owner=\"host\",status=\"404\"} 1\n"));
    assert_non_null(strstr(
        text, "doppel_http_requests_total{owner=\"fail\",status=\"500\"} 1\n"));
    assert_non_null(strstr(
        text, "# TYPE doppel_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "doppel_http_request_duration_seconds_bucket"
                                 "{owner=\"echo\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "doppel_http_request_duration_seconds_count"
                                 "{owner=\"echo\"} 2\n"));
    assert_non_null(strstr(text, "doppel_http_request_duration_seconds_sum"
                                 "{owner=\"echo\"} "));
    assert_non_null(strstr(text, "doppel_plugin_messages_total{plugin=\"kafka\","
                                 "topic=\"orders\"} 5\n"));
    assert_non_null(strstr(text, "# TYPE doppel_plugin_loaded gauge\n"
                                 "doppel_plugin_loaded{plugin=\"http\"} 1\n"));
    /* buckets are cumulative: the last finite one never exceeds +Inf */
    const char *b5 = strstr(text, "{owner=\"echo\",le=\"5\"} ");
    assert_non_null(b5);
    assert_true(atoi(b5 + strlen("{owner=\"echo\",le=\"5\"} ")) <= 2);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_and_request_fields,
                                        setup_default, fixture_stop),
        cmocka_unit_test_setup_teardown(test_request_id, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_keepalive, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_pipelining_out_of_order,
                                        setup_default, fixture_stop),
        cmocka_unit_test_setup_teardown(test_pipeline_limit, setup_small,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_chunked_body, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_head, setup_default, fixture_stop),
        cmocka_unit_test_setup_teardown(test_headers_too_large, setup_small,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_body_too_large, setup_small,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_malformed, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_slow_headers_timeout, setup_small,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_idle_close, setup_small,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_handler_error_is_500,
                                        setup_default, fixture_stop),
        cmocka_unit_test_setup_teardown(test_stream, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_respond_after_client_left,
                                        setup_default, fixture_stop),
        cmocka_unit_test_setup_teardown(test_drain, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_metrics_series, setup_default,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_cap_sheds_oldest_idle, setup_cap,
                                        fixture_stop),
        cmocka_unit_test_setup_teardown(test_cap_newcomer_waits_for_busy,
                                        setup_cap, fixture_stop),
        cmocka_unit_test_setup_teardown(test_cap_drain_with_waiting_newcomer,
                                        setup_cap, fixture_stop),
        cmocka_unit_test_setup_teardown(test_ipv6, setup_ipv6, teardown_ipv6),
        cmocka_unit_test(test_bad_bind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
