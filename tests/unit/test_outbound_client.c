/*
 * The outbound client over real sockets on 127.0.0.1 only. Each test runs
 * one uv loop holding both the client and a tiny HTTP/1.1 upstream written
 * here (it counts connections and requests and answers by path). Every wait
 * is bounded by a watchdog timer, so a broken client fails instead of
 * hanging; uv_loop_close() must succeed at the end of each test, so a leaked
 * uv handle fails the test (and ASan/LSan catches leaked memory).
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "outbound/outbound.h"

/* ---- the upstream ---------------------------------------------------- */

typedef struct up_conn up_conn_t;

typedef struct upstream {
    uv_tcp_t listener;
    int port;
    int connections;
    int requests;
    up_conn_t *conns;
} upstream_t;

struct up_conn {
    uv_tcp_t tcp;
    upstream_t *up;
    char *buf;
    size_t len, cap;
    int closing;
    up_conn_t *next;
};

static uv_loop_t loop;
static upstream_t up;
static dp_outbound_t *client;
static int client_closed;

/* Every callback that moves a test forward stops the loop, so that
 * run_until() re-checks its condition at once instead of sleeping in the
 * poll phase until the next timer. */
static void wake(void)
{
    uv_stop(&loop);
}

static void conn_closed(uv_handle_t *h)
{
    up_conn_t *c = h->data;
    free(c->buf);
    free(c);
}

static void conn_close(up_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    for (up_conn_t **p = &c->up->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
}

static void conn_send(up_conn_t *c, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof *w);
    char *copy = malloc(len);
    assert_non_null(w);
    assert_non_null(copy);
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    assert_int_equal(uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written), 0);
}

/* Value of header name in the raw head, or "-" when absent. */
static void head_value(const char *head, const char *name, char *out,
                       size_t len)
{
    size_t n = strlen(name);
    snprintf(out, len, "-");
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r';
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, len, "%.*s", (int)(e - v), v);
            return;
        }
    }
}

static void respond(up_conn_t *c, const char *head, const char *body,
                    size_t body_len)
{
    char method[16] = "", path[256] = "", xtest[256], ct[128], ua[128],
         accept[64];
    char out[1024];
    sscanf(head, "%15s %255s", method, path);
    head_value(head, "X-Test", xtest, sizeof xtest);
    head_value(head, "Content-Type", ct, sizeof ct);
    head_value(head, "User-Agent", ua, sizeof ua);
    head_value(head, "Accept", accept, sizeof accept);

    if (strcmp(path, "/silent") == 0)
        return; /* never answers */
    if (strcmp(path, "/echo") == 0) {
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 201 Created\r\nX-Method: %s\r\n"
                         "X-Path: %s\r\nX-Test: %s\r\nX-CT: %s\r\nX-UA: %s\r\n"
                         "X-Accept: %s\r\nX-Multi: a\r\nX-Multi: b\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         method, path, xtest, ct, ua, accept, body_len);
        conn_send(c, out, (size_t)n);
        if (body_len)
            conn_send(c, body, body_len);
    } else if (strcmp(path, "/redirect") == 0) {
        static const char r[] = "HTTP/1.1 302 Found\r\nLocation: /echo\r\n"
                                "Content-Length: 0\r\n\r\n";
        conn_send(c, r, sizeof r - 1);
    } else if (strcmp(path, "/big-cl") == 0) {
        char big[4096];
        memset(big, 'x', sizeof big);
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 200 OK\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         sizeof big);
        conn_send(c, out, (size_t)n);
        conn_send(c, big, sizeof big);
    } else if (strcmp(path, "/big-chunked") == 0) {
        char chunk[1024 + 16];
        static const char h[] = "HTTP/1.1 200 OK\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n";
        conn_send(c, h, sizeof h - 1);
        for (int i = 0; i < 4; i++) {
            int n = snprintf(chunk, sizeof chunk, "400\r\n");
            memset(chunk + n, 'y', 1024);
            memcpy(chunk + n + 1024, "\r\n", 2);
            conn_send(c, chunk, (size_t)n + 1026);
        }
        conn_send(c, "0\r\n\r\n", 5);
    } else {
        static const char r[] = "HTTP/1.1 404 Not Found\r\n"
                                "Content-Length: 0\r\n\r\n";
        conn_send(c, r, sizeof r - 1);
    }
}

/* Handles every complete request in c->buf. */
static void conn_process(up_conn_t *c)
{
    if (c->len && (unsigned char)c->buf[0] == 0x16) {
        /* A TLS ClientHello on a plain-HTTP port. */
        static const char r[] =
            "HTTP/1.1 400 Bad Request\r\n"
            "Connection: close\r\nContent-Length: 0\r\n\r\n";
        conn_send(c, r, sizeof r - 1);
        conn_close(c);
        return;
    }
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t head_len = (size_t)(end - c->buf) + 4;
        char head[8192], cl[32];
        if (head_len >= sizeof head) {
            conn_close(c);
            return;
        }
        memcpy(head, c->buf, head_len);
        head[head_len] = '\0';
        head_value(head, "Content-Length", cl, sizeof cl);
        size_t body_len = strcmp(cl, "-") ? strtoul(cl, NULL, 10) : 0;
        if (c->len < head_len + body_len)
            return;
        c->up->requests++;
        wake();
        respond(c, head, c->buf + head_len, body_len);
        memmove(c->buf, c->buf + head_len + body_len,
                c->len - head_len - body_len);
        c->len -= head_len + body_len;
    }
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    up_conn_t *c = h->data;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 65536 * 2;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    up_conn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    conn_process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    upstream_t *u = server->data;
    assert_int_equal(status, 0);
    up_conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->up = u;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    c->next = u->conns;
    u->conns = c;
    u->connections++;
    wake();
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void upstream_start(void)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    memset(&up, 0, sizeof up);
    assert_int_equal(uv_tcp_init(&loop, &up.listener), 0);
    up.listener.data = &up;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&up.listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&up.listener, 128, on_connection),
                     0);
    uv_tcp_getsockname(&up.listener, (struct sockaddr *)&bound, &len);
    up.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

/* ---- waiting ------------------------------------------------------- */

static int watchdog_fired;

static void on_watchdog(uv_timer_t *t)
{
    watchdog_fired = 1;
    wake();
}

/* Runs the loop until *flag >= want or ms pass; returns whether it got
 * there. */
static int run_until(const int *flag, int want, int ms)
{
    uv_timer_t dog;
    watchdog_fired = 0;
    uv_timer_init(&loop, &dog);
    uv_timer_start(&dog, on_watchdog, (uint64_t)ms, 0);
    while (*flag < want && !watchdog_fired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&dog, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return *flag >= want;
}

/* ---- results ------------------------------------------------------- */

#define MAX_H 32

typedef struct result {
    int calls;
    int err;
    int status;
    char *body;
    size_t body_len;
    char names[MAX_H][64];
    char values[MAX_H][256];
    size_t n_headers;
    char ip[64];
    char error[512];
    int *counter; /* incremented on each call when set */
} result_t;

static void on_result(int err, const dp_outbound_resp_t *resp, void *data)
{
    result_t *r = data;
    r->calls++;
    r->err = err;
    r->status = resp->status;
    free(r->body);
    r->body = malloc(resp->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, resp->body, resp->body_len);
    r->body[resp->body_len] = '\0';
    r->body_len = resp->body_len;
    r->n_headers = 0;
    for (size_t i = 0; i < resp->n_headers && i < MAX_H; i++) {
        snprintf(r->names[i], sizeof r->names[i], "%s", resp->headers[i].name);
        snprintf(r->values[i], sizeof r->values[i], "%s",
                 resp->headers[i].value);
        r->n_headers++;
    }
    snprintf(r->ip, sizeof r->ip, "%s", resp->primary_ip);
    snprintf(r->error, sizeof r->error, "%s", resp->error);
    if (r->counter)
        (*r->counter)++;
    wake();
}

static const char *header(const result_t *r, const char *name, int nth)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->names[i], name) == 0 && nth-- == 0)
            return r->values[i];
    return NULL;
}

static void result_clear(result_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- fixture ------------------------------------------------------- */

static void on_client_closed(void *data)
{
    (*(int *)data)++;
    wake();
}

static void client_start(int allow_private, size_t max_bytes)
{
    dp_outbound_cfg_t cfg;
    dp_outbound_cfg_init(&cfg);
    cfg.allow_private = allow_private;
    cfg.connect_timeout_ms = 3000;
    cfg.total_timeout_ms = 8000;
    if (max_bytes)
        cfg.max_response_bytes = max_bytes;
    client = dp_outbound_new(&loop, &cfg);
    assert_non_null(client);
    client_closed = 0;
}

static int setup(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    upstream_start();
    client = NULL;
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        fail_msg("uv handle of type %s left open",
                 uv_handle_type_name(h->type));
}

static int teardown(void **state)
{
    if (client && !client_closed) {
        assert_int_equal(
            dp_outbound_close(client, on_client_closed, &client_closed), 0);
        assert_true(run_until(&client_closed, 1, 5000));
    }
    client = NULL;
    while (up.conns)
        conn_close(up.conns);
    uv_close((uv_handle_t *)&up.listener, NULL);
    while (uv_run(&loop, UV_RUN_DEFAULT) != 0)
        ;
    uv_walk(&loop, walk_close, NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void url(char *out, size_t len, const char *host, const char *path)
{
    snprintf(out, len, "http://%s:%d%s", host, up.port, path);
}

/* Starts req and waits for its callback. */
static void request_and_wait(const dp_outbound_req_t *req, result_t *res)
{
    assert_int_equal(dp_outbound_request(client, req, on_result, res), 0);
    assert_int_equal(res->calls, 0); /* never called back synchronously */
    assert_true(run_until(&res->calls, 1, 10000));
}

/* ---- tests with allow_private on ----------------------------------- */

static void test_get_echo(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_header_t h[] = {{"X-Test", "hello there"}};
    dp_outbound_req_t req = {.url = u, .headers = h, .n_headers = 1};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, 0);
    assert_string_equal(res.error, "");
    assert_int_equal(res.status, 201);
    assert_string_equal(header(&res, "X-Method", 0), "GET");
    assert_string_equal(header(&res, "X-Path", 0), "/echo");
    assert_string_equal(header(&res, "X-Test", 0), "hello there");
    assert_string_equal(header(&res, "X-Accept", 0), "-"); /* none added */
    assert_non_null(strstr(header(&res, "X-UA", 0), "doppel/"));
    /* Repeated headers keep their order. */
    assert_string_equal(header(&res, "X-Multi", 0), "a");
    assert_string_equal(header(&res, "X-Multi", 1), "b");
    assert_string_equal(header(&res, "Content-Length", 0), "0");
    assert_int_equal(res.body_len, 0);
    assert_string_equal(res.ip, "127.0.0.1");
    assert_int_equal(dp_outbound_in_flight(client), 0);
    result_clear(&res);
}

static void test_post_binary_body(void **state)
{
    char u[128];
    result_t res = {0};
    static const char body[] = "hello\0world\r\n\r\nafter";
    dp_outbound_header_t h[] = {{"Content-Type", "application/octet-stream"},
                                {"X-Test", "post"}};
    dp_outbound_req_t req = {.method = "POST",
                             .url = u,
                             .headers = h,
                             .n_headers = 2,
                             .body = body,
                             .body_len = sizeof body - 1};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.status, 201);
    assert_string_equal(header(&res, "X-Method", 0), "POST");
    assert_string_equal(header(&res, "X-CT", 0), "application/octet-stream");
    assert_string_equal(header(&res, "X-Test", 0), "post");
    assert_int_equal(res.body_len, sizeof body - 1);
    assert_memory_equal(res.body, body, sizeof body - 1);
    result_clear(&res);
}

static void test_put_without_content_type(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {
        .method = "PUT", .url = u, .body = "{}", .body_len = 2};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, 0);
    assert_string_equal(header(&res, "X-Method", 0), "PUT");
    /* curl's default form Content-Type must not be invented. */
    assert_string_equal(header(&res, "X-CT", 0), "-");
    assert_string_equal(res.body, "{}");
    result_clear(&res);
}

static void test_connection_reused(void **state)
{
    char u[128];
    result_t a = {0}, b = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    request_and_wait(&req, &a);
    request_and_wait(&req, &b);
    assert_int_equal(a.status, 201);
    assert_int_equal(b.status, 201);
    assert_int_equal(up.requests, 2);
    assert_int_equal(up.connections, 1);
    result_clear(&a);
    result_clear(&b);
}

static void test_redirect_not_followed(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/redirect");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.status, 302);
    assert_string_equal(header(&res, "Location", 0), "/echo");
    assert_int_equal(up.requests, 1);
    result_clear(&res);
}

static void test_timeout(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u, .timeout_ms = 300};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/silent");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, -ETIMEDOUT);
    assert_int_equal(res.status, 0);
    assert_string_not_equal(res.error, "");
    assert_int_equal(up.requests, 1);
    result_clear(&res);
}

/* A port that was just bound and released: nothing listens there. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_connection_refused(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 0);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", closed_port());
    request_and_wait(&req, &res);
    assert_int_equal(res.err, -ECONNREFUSED);
    result_clear(&res);
}

static void test_proxy_env_ignored(void **state)
{
    char u[128], proxy[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    /* If the client honoured these, the upstream would see the request. */
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", up.port);
    setenv("http_proxy", proxy, 1);
    setenv("HTTP_PROXY", proxy, 1);
    setenv("ALL_PROXY", proxy, 1);
    client_start(1, 0);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", closed_port());
    request_and_wait(&req, &res);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("ALL_PROXY");
    assert_int_equal(res.err, -ECONNREFUSED);
    assert_int_equal(up.connections, 0);
    result_clear(&res);
}

static void test_too_big_content_length(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 1024);
    url(u, sizeof u, "127.0.0.1", "/big-cl");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, -EFBIG);
    assert_int_equal(res.body_len, 0);
    assert_non_null(strstr(res.error, "max_response_bytes"));
    result_clear(&res);
}

static void test_too_big_chunked(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 1024);
    url(u, sizeof u, "127.0.0.1", "/big-chunked");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, -EFBIG);
    result_clear(&res);
}

static void test_chunked_within_limit(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    client_start(1, 4096); /* exactly the body size */
    url(u, sizeof u, "127.0.0.1", "/big-chunked");
    request_and_wait(&req, &res);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.body_len, 4096);
    assert_int_equal(res.body[0], 'y');
    assert_int_equal(res.body[4095], 'y');
    result_clear(&res);
}

static void test_invalid_requests_rejected(void **state)
{
    char ok_url[128];
    result_t res = {0};
    static const char *bad_urls[] = {
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "dict://127.0.0.1/",
        "not a url",
        "http://",
        "",
        "/relative/path",
        "javascript:alert(1)",
        "http://127.0.0.1/a\r\nX-Injected: 1",
        "http://127.0.0.1/a b",
        "HTTP://",
    };

    client_start(1, 0);
    url(ok_url, sizeof ok_url, "127.0.0.1", "/echo");
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        dp_outbound_req_t req = {.url = bad_urls[i]};
        if (dp_outbound_request(client, &req, on_result, &res) != -EINVAL)
            fail_msg("URL \"%s\" not rejected with -EINVAL", bad_urls[i]);
    }
    dp_outbound_req_t no_url = {.url = NULL};
    assert_int_equal(dp_outbound_request(client, &no_url, on_result, &res),
                     -EINVAL);
    dp_outbound_req_t bad_method = {.method = "GE T", .url = ok_url};
    assert_int_equal(dp_outbound_request(client, &bad_method, on_result, &res),
                     -EINVAL);
    dp_outbound_header_t inj[] = {{"X-A", "v\r\nX-Injected: 1"}};
    dp_outbound_req_t bad_value = {
        .url = ok_url, .headers = inj, .n_headers = 1};
    assert_int_equal(dp_outbound_request(client, &bad_value, on_result, &res),
                     -EINVAL);
    dp_outbound_header_t badname[] = {{"X A", "v"}};
    dp_outbound_req_t bad_name = {
        .url = ok_url, .headers = badname, .n_headers = 1};
    assert_int_equal(dp_outbound_request(client, &bad_name, on_result, &res),
                     -EINVAL);
    assert_int_equal(dp_outbound_request(client, NULL, on_result, &res),
                     -EINVAL);
    assert_int_equal(dp_outbound_in_flight(client), 0);
    /* Let the loop turn: nothing may call back, nothing may connect. */
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(res.calls, 0);
    assert_int_equal(up.connections, 0);
    result_clear(&res);
}

#define MANY 50

static void test_many_concurrent(void **state)
{
    char u[128];
    static result_t res[MANY];
    char tags[MANY][16];
    dp_outbound_header_t h[MANY][1];
    int done = 0;

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    for (int i = 0; i < MANY; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].counter = &done;
        snprintf(tags[i], sizeof tags[i], "req-%d", i);
        h[i][0].name = "X-Test";
        h[i][0].value = tags[i];
        dp_outbound_req_t req = {.url = u, .headers = h[i], .n_headers = 1};
        assert_int_equal(dp_outbound_request(client, &req, on_result, &res[i]),
                         0);
    }
    assert_int_equal(dp_outbound_in_flight(client), MANY);
    assert_true(run_until(&done, MANY, 20000));
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].err, 0);
        assert_int_equal(res[i].status, 201);
        assert_string_equal(header(&res[i], "X-Test", 0), tags[i]);
        result_clear(&res[i]);
    }
    assert_int_equal(up.requests, MANY);
    assert_int_equal(dp_outbound_in_flight(client), 0);
}

/* A cancel callback may try to start another request: refused. */
static int late_rc;
static char late_url[128];

static void on_cancel_try_again(int err, const dp_outbound_resp_t *resp,
                                void *data)
{
    dp_outbound_req_t req = {.url = late_url};
    on_result(err, resp, data);
    late_rc = dp_outbound_request(client, &req, on_result, data);
}

static void test_close_cancels_in_flight(void **state)
{
    char u[128];
    result_t res[5];
    int closed = 0;
    dp_outbound_req_t req = {.url = u};

    client_start(1, 0);
    url(u, sizeof u, "127.0.0.1", "/silent");
    url(late_url, sizeof late_url, "127.0.0.1", "/echo");
    memset(res, 0, sizeof res);
    for (int i = 0; i < 5; i++)
        assert_int_equal(dp_outbound_request(
                             client, &req,
                             i == 0 ? on_cancel_try_again : on_result, &res[i]),
                         0);
    /* Wait until all five are really on the wire. */
    assert_true(run_until(&up.requests, 5, 5000));
    late_rc = 1;
    assert_int_equal(dp_outbound_close(client, on_client_closed, &closed), 0);
    assert_int_equal(dp_outbound_close(client, on_client_closed, &closed),
                     -EALREADY);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].err, -ECANCELED);
    }
    assert_int_equal(late_rc, -ECANCELED);
    assert_int_equal(closed, 0); /* freed only after the uv closes */
    assert_true(run_until(&closed, 1, 5000));
    client_closed = 1;
    /* Still exactly one call each. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(res[i].calls, 1);
        result_clear(&res[i]);
    }
    assert_int_equal(closed, 1);
}

/* Closing from inside a completion callback cancels the others. */
static int closed_from_cb;

static void on_done_then_close(int err, const dp_outbound_resp_t *resp,
                               void *data)
{
    on_result(err, resp, data);
    assert_int_equal(
        dp_outbound_close(client, on_client_closed, &closed_from_cb), 0);
}

static void test_close_from_callback(void **state)
{
    char fast[128], slow[128];
    result_t a = {0}, b = {0};
    dp_outbound_req_t fr = {.url = fast}, sr = {.url = slow};

    closed_from_cb = 0;
    client_start(1, 0);
    url(fast, sizeof fast, "127.0.0.1", "/echo");
    url(slow, sizeof slow, "127.0.0.1", "/silent");
    assert_int_equal(dp_outbound_request(client, &sr, on_result, &b), 0);
    assert_int_equal(dp_outbound_request(client, &fr, on_done_then_close, &a),
                     0);
    assert_true(run_until(&closed_from_cb, 1, 10000));
    client_closed = 1;
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.status, 201);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, -ECANCELED);
    result_clear(&a);
    result_clear(&b);
}

static void test_tls_failure(void **state)
{
    char u[128];
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    /* The upstream speaks plain HTTP: the TLS handshake must fail. */
    client_start(1, 0);
    snprintf(u, sizeof u, "https://127.0.0.1:%d/echo", up.port);
    request_and_wait(&req, &res);
    assert_int_equal(res.err, -EPROTO);
    assert_string_not_equal(res.error, "");
    result_clear(&res);
}

/* ---- the guard (allow_private off) ---------------------------------- */

static void expect_refused(const char *u, const char *addr, const char *word)
{
    result_t res = {0};
    dp_outbound_req_t req = {.url = u};

    request_and_wait(&req, &res);
    if (res.err != -EACCES)
        fail_msg("%s: expected -EACCES, got %d (%s)", u, res.err, res.error);
    if (!strstr(res.error, addr) || !strstr(res.error, word))
        fail_msg("%s: error \"%s\" lacks \"%s\"/\"%s\"", u, res.error, addr,
                 word);
    assert_int_equal(res.status, 0);
    result_clear(&res);
}

static void test_guard_loopback(void **state)
{
    char u[128];
    client_start(0, 0);
    url(u, sizeof u, "127.0.0.1", "/echo");
    expect_refused(u, "127.0.0.1", "loopback");
    snprintf(u, sizeof u, "http://[::1]:%d/echo", up.port);
    expect_refused(u, "::1", "loopback");
    snprintf(u, sizeof u, "http://[::ffff:127.0.0.1]:%d/echo", up.port);
    expect_refused(u, "127.0.0.1", "loopback");
    /* A name that resolves to loopback. */
    url(u, sizeof u, "localhost", "/echo");
    expect_refused(u, "", "loopback");
    /* Not a single connection reached the upstream. */
    assert_int_equal(up.connections, 0);
    assert_int_equal(up.requests, 0);
}

static void test_guard_private_and_metadata(void **state)
{
    client_start(0, 0);
    /* Refused by the guard, by its message, before any connect attempt:
     * no route exists to these here, so an attempt would end otherwise. */
    expect_refused("http://10.1.2.3/", "10.1.2.3", "private");
    expect_refused("http://169.254.169.254/latest/meta-data", "169.254.169.254",
                   "metadata");
    expect_refused("http://[fd00:ec2::254]/latest/meta-data", "fd00:ec2::254",
                   "private");
    expect_refused("http://192.168.0.1:8080/", "192.168.0.1", "private");
    expect_refused("http://100.64.1.1/", "100.64.1.1", "carrier-grade NAT");
    expect_refused("http://0.0.0.0/", "0.0.0.0", "unspecified");
    /* Numeric forms curl normalises still meet the guard. */
    expect_refused("http://2130706433/", "127.0.0.1", "loopback");
    expect_refused("http://0x7f.1/", "127.0.0.1", "loopback");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_binary_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_without_content_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connection_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redirect_not_followed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_env_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_big_content_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_big_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_within_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_private_and_metadata, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
