/*
 * Host routes /health, /health/live, /health/ready and /metrics (from
 * host/health.c) on a real front, with the host state faked below: the
 * runtime that implements host.h is not part of dp_http.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "health.c" /* the unit under test, compiled into this program */

/* ---- fake host ---------------------------------------------------------- */

struct dp_host {
    _Atomic int ready;
    _Atomic int draining;
    dp_metrics_t *metrics;
    size_t n_inst;
    dp_inst_info_t inst[40];
    double uptime; /* 0: 12.5 */
};

size_t dp_host_instances(dp_host_t *h, dp_inst_info_t *out, size_t cap)
{
    for (size_t i = 0; i < h->n_inst && i < cap; i++)
        out[i] = h->inst[i];
    return h->n_inst;
}
int dp_host_ready(dp_host_t *h) { return h->ready; }
int dp_host_draining(dp_host_t *h) { return h->draining; }
int dp_host_metrics_check(dp_host_t *h, const doppel_http_request_t *req,
                          struct dp_err *err)
{
    return 0;
}
double dp_host_uptime(dp_host_t *h) { return h->uptime ? h->uptime : 12.5; }
const char *dp_host_version(void) { return "9.8.7"; }
struct dp_engine *dp_host_engine(dp_host_t *h) { return NULL; }
/* Never called (the fake host has no engine), but referenced by health.c:
 * without optimisation (Debug, the sanitizer builds) the link needs it. */
void dp_engine_mock_usage(dp_engine_t *e, dp_engine_usage_fn fn, void *ud)
{
    (void)e;
    (void)fn;
    (void)ud;
}
dp_metrics_t *dp_host_metrics(dp_host_t *h) { return h->metrics; }

/* ---- server thread ------------------------------------------------------ */

static struct dp_host host;
static uv_loop_t loop;
static uv_async_t stop_async;
static dp_http_server_t *srv;
static dp_router_t *router;
static int port;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_stop(uv_async_t *a)
{
    dp_http_server_free(srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop_async, on_stop);
    dp_http_server_cfg_t cfg = {.host = "127.0.0.1",
                                .router = router,
                                .metrics = dp_metrics_worker(host.metrics, 0)};
    dp_http_limits_default(&cfg.limits);
    int rc = dp_http_server_start(&loop, &cfg, &srv);
    pthread_mutex_lock(&mu);
    port = rc == 0 ? dp_http_server_port(srv) : -1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return NULL;
}

static int setup(void **st)
{
    memset(&host, 0, sizeof(host));
    host.metrics = dp_metrics_new(1);
    router = dp_router_new();
    if (dp_health_mount(router, &host) != 0)
        return -1;
    port = 0;
    pthread_create(&thread, NULL, server_main, NULL);
    pthread_mutex_lock(&mu);
    while (port == 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return port > 0 ? 0 : -1;
}

static int teardown(void **st)
{
    uv_async_send(&stop_async);
    pthread_join(thread, NULL);
    dp_router_free(router);
    dp_metrics_free(host.metrics);
    return 0;
}

/* Sends one request with Connection: close and reads until EOF. */
static char *fetch(const char *method, const char *path, int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     method, path);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = recv(fd, buf + len, cap - len - 1, 0)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    *status = atoi(buf + 9);
    return buf;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

static void test_live_and_ready(void **st)
{
    int status;
    char *r = fetch("GET", "/health/live", &status);
    assert_int_equal(status, 200);
    assert_string_equal(body_of(r), "{\"status\":\"ok\"}");
    assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
    free(r);

    r = fetch("GET", "/health/ready", &status);
    assert_int_equal(status, 503);
    assert_string_equal(body_of(r), "{\"status\":\"starting\"}");
    free(r);
    host.ready = 1;
    r = fetch("GET", "/health/ready", &status);
    assert_int_equal(status, 200);
    assert_string_equal(body_of(r), "{\"status\":\"ok\"}");
    free(r);
    host.ready = 0;
    host.draining = 1;
    r = fetch("GET", "/health/ready", &status);
    assert_int_equal(status, 503);
    assert_string_equal(body_of(r), "{\"status\":\"draining\"}");
    free(r);
}

static void test_health_document(void **st)
{
    host.ready = 1;
    host.n_inst = 2;
    host.inst[0] = (dp_inst_info_t){.name = "http", .plugin = "http",
                                    .version = "1.0.0", .kind = "protocol",
                                    .workers = 2, .workers_started = 2,
                                    .state = "started"};
    host.inst[1] = (dp_inst_info_t){.name = "odd \"name\"\n", .plugin = "chaos",
                                    .version = "0.1", .kind = "feature",
                                    .workers = 2, .workers_started = 1,
                                    .state = "failed"};
    int status;
    char *r = fetch("GET", "/health", &status);
    assert_int_equal(status, 503); /* a failed instance: "fail", a 5xx */
    assert_string_equal(
        body_of(r),
        "{\"status\":\"fail\",\"state\":\"ok\",\"releaseId\":\"9.8.7\","
        "\"version\":\"9.8.7\",\"uptime\":\"12s\",\"uptimeSeconds\":12.500,"
        "\"checks\":{\"plugin:http\":[{\"componentId\":\"http\","
        "\"componentType\":\"protocol\",\"status\":\"pass\","
        "\"observedValue\":\"started\",\"workers\":2,\"workersStarted\":2}],"
        "\"plugin:odd \\\"name\\\"\\u000a\":[{\"componentId\":"
        "\"odd \\\"name\\\"\\u000a\",\"componentType\":\"feature\","
        "\"status\":\"fail\",\"observedValue\":\"failed\",\"workers\":2,"
        "\"workersStarted\":1}]},"
        "\"plugins\":[{\"name\":\"http\",\"plugin\":\"http\",\"version\":"
        "\"1.0.0\",\"kind\":\"protocol\",\"state\":\"started\",\"workers\":2,"
        "\"workersStarted\":2},{\"name\":\"odd \\\"name\\\"\\u000a\","
        "\"plugin\":\"chaos\",\"version\":\"0.1\",\"kind\":\"feature\","
        "\"state\":\"failed\",\"workers\":2,\"workersStarted\":1}]}");
    free(r);
    host.ready = 0;
    host.inst[1].state = "started";
    r = fetch("GET", "/health", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(body_of(r), "\"status\":\"warn\",\"state\":"
                                       "\"starting\""));
    free(r);
    host.ready = 1;
    host.uptime = 72 * 3600 + 15 * 60 + 30.9;
    r = fetch("GET", "/health", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(body_of(r), "\"status\":\"pass\",\"state\":"
                                       "\"ok\""));
    assert_non_null(strstr(body_of(r), "\"uptime\":\"72h15m30s\""));
    free(r);
    host.uptime = 300;
    r = fetch("GET", "/health", &status);
    assert_non_null(strstr(body_of(r), "\"uptime\":\"5m0s\""));
    free(r);
}

static void test_many_instances(void **st)
{
    host.n_inst = 40; /* more than fit on the handler's stack array */
    for (size_t i = 0; i < 40; i++)
        host.inst[i] = (dp_inst_info_t){.name = "x", .plugin = "p",
                                        .version = "1", .kind = "feature",
                                        .state = "started"};
    int status;
    char *r = fetch("GET", "/health", &status);
    assert_int_equal(status, 200);
    int count = 0;
    for (const char *p = body_of(r); (p = strstr(p, "\"name\":\"x\"")); p++)
        count++;
    assert_int_equal(count, 40);
    free(r);
}

static void test_metrics_route(void **st)
{
    int status;
    char *r = fetch("GET", "/health/live", &status);
    free(r);
    r = fetch("GET", "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    const char *b = body_of(r);
    assert_non_null(strstr(
        b, "doppel_http_requests_total{owner=\"host\",status=\"200\"} 1\n"));
    assert_non_null(strstr(b, "doppel_uptime_seconds 12.5\n"));
    assert_non_null(strstr(b, "# TYPE doppel_ready gauge\n"));
    free(r);
}

static void test_methods_and_unknown(void **st)
{
    int status;
    char *r = fetch("POST", "/health", &status);
    assert_int_equal(status, 405);
    assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
    free(r);
    r = fetch("HEAD", "/health/live", &status);
    assert_int_equal(status, 200);
    assert_string_equal(body_of(r), ""); /* HEAD: no body on the wire */
    free(r);
    r = fetch("GET", "/health/nope", &status);
    assert_int_equal(status, 404);
    free(r);
    r = fetch("GET", "/metrics/x", &status);
    assert_int_equal(status, 404);
    free(r);
    /* segment boundary: /healthz is not a host route, and nothing else is
     * mounted here */
    r = fetch("GET", "/healthz", &status);
    assert_int_equal(status, 404);
    assert_non_null(strstr(body_of(r), "\"code\":\"not_found\""));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_unknown, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
