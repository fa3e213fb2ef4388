/*
 * In-process exchanges (dp_http_local_new / dp_http_local_call): a request
 * given in memory runs through the router and handlers like one from a
 * socket, and the answer comes back through the callback on a later loop
 * iteration; pending calls are cancelled when the server is freed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "http/http_front.h"

typedef struct result {
    int calls;
    int rc;
    int status;
    char body[4096];
    size_t body_len;
    char ctype[64];
    char rid[160];
    int in_call; /* set by the test around dp_http_local_call */
    int reentrant;
} result_t;

static void on_result(void *data, int rc, const doppel_fetch_result_t *res)
{
    result_t *r = data;
    r->calls++;
    r->reentrant |= r->in_call;
    r->rc = rc;
    r->status = res->status;
    r->body_len = res->body_len < sizeof(r->body) - 1 ? res->body_len
                                                      : sizeof(r->body) - 1;
    memcpy(r->body, res->body ? res->body : "", r->body_len);
    r->body[r->body_len] = '\0';
    r->ctype[0] = r->rid[0] = '\0';
    for (size_t i = 0; i < res->n_headers; i++) {
        const doppel_kv_t *kv = &res->headers[i];
        if (kv->name.len == 12 &&
            strncmp(kv->name.ptr, "Content-Type", 12) == 0)
            snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)kv->value.len,
                     kv->value.ptr);
        if (kv->name.len == 12 &&
            strncmp(kv->name.ptr, "X-Request-Id", 12) == 0)
            snprintf(r->rid, sizeof(r->rid), "%.*s", (int)kv->value.len,
                     kv->value.ptr);
        /* the framing headers the front owns never show */
        assert_false(kv->name.len == 14 &&
                     strncmp(kv->name.ptr, "Content-Length", 14) == 0);
    }
}

/* ---- handlers ------------------------------------------------------------ */

/* Echoes what it saw: method, path, rest, query, a header, body, remote. */
static int echo(void *state, doppel_http_exchange_t *ex,
                const doppel_http_request_t *req)
{
    (void)state;
    char out[2048];
    const doppel_str_t *h = req->header(req, "x-test");
    int n = snprintf(out, sizeof(out), "%.*s|%.*s|%.*s|%.*s|%.*s|%.*s|%s",
                     (int)req->method.len, req->method.ptr, (int)req->path.len,
                     req->path.ptr, (int)req->rest.len, req->rest.ptr,
                     (int)req->query.len, req->query.ptr, h ? (int)h->len : 0,
                     h ? h->ptr : "", (int)req->remote_addr.len,
                     req->remote_addr.ptr, (const char *)req->body);
    doppel_kv_t hs[2] = {{DOPPEL_STR("Content-Type"), DOPPEL_STR("text/plain")},
                         {DOPPEL_STR("Content-Length"), DOPPEL_STR("999")}};
    return dp_http_respond(ex, 200, hs, 2, out, (size_t)n);
}

/* Holds the exchange; the test answers it later. */
static doppel_http_exchange_t *held;
static int hold(void *state, doppel_http_exchange_t *ex,
                const doppel_http_request_t *req)
{
    (void)state;
    (void)req;
    held = ex;
    return 0;
}

static int failing(void *state, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req)
{
    (void)state;
    (void)ex;
    (void)req;
    return -EIO;
}

static int stream(void *state, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    (void)state;
    (void)req;
    doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                      DOPPEL_STR("text/event-stream")};
    assert_int_equal(dp_http_stream_start(ex, 200, &ct, 1), 0);
    assert_int_equal(dp_http_stream_write(ex, "data: a\n\n", 9), 0);
    assert_int_equal(dp_http_stream_write(ex, "data: b\n\n", 9), 0);
    return dp_http_stream_end(ex);
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    dp_router_t *router;
    dp_http_server_t *srv;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->router = dp_router_new();
    doppel_http_mount_t m = {sizeof(m), "/api/v1", NULL, echo, NULL, 0};
    assert_int_equal(dp_router_add(f->router, &m, 1, "host"), 0);
    doppel_http_mount_t m2 = {sizeof(m2), "/api/v1/hold", NULL, hold, NULL, 0};
    assert_int_equal(dp_router_add(f->router, &m2, 1, "host"), 0);
    doppel_http_mount_t m3 = {sizeof(m3), "/api/v1/fail", NULL,
                              failing,    NULL,           0};
    assert_int_equal(dp_router_add(f->router, &m3, 1, "host"), 0);
    doppel_http_mount_t m4 = {sizeof(m4), "/api/v1/stream", NULL, stream, NULL,
                              0};
    assert_int_equal(dp_router_add(f->router, &m4, 1, "host"), 0);
    doppel_http_mount_t m5 = {sizeof(m5), "/plugin", NULL, echo, NULL, 0};
    assert_int_equal(dp_router_add(f->router, &m5, 0, "p"), 0);
    dp_http_server_cfg_t cfg = {.router = f->router};
    dp_http_limits_default(&cfg.limits);
    cfg.limits.max_body_bytes = 1024;
    cfg.limits.max_header_bytes = 512;
    assert_int_equal(dp_http_local_new(&f->loop, &cfg, &f->srv), 0);
    held = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->srv)
        dp_http_server_free(f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    dp_router_free(f->router);
    free(f);
    return 0;
}

static int call(fx_t *f, const char *method, const char *target,
                const doppel_kv_t *hs, size_t n, const char *body, result_t *r)
{
    dp_http_local_req_t req = {
        .method = {method, strlen(method)},
        .target = {target, strlen(target)},
        .headers = hs,
        .n_headers = n,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    r->in_call = 1;
    int rc = dp_http_local_call(f->srv, &req, 1, on_result, r);
    r->in_call = 0;
    return rc;
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_answer_arrives_later_with_request_seen_whole(void **state)
{
    fx_t *f = *state;
    result_t r = {0};
    doppel_kv_t hs[2] = {{DOPPEL_STR("X-Test"), DOPPEL_STR("yes")},
                         {DOPPEL_STR("X-Request-Id"), DOPPEL_STR("rid-1")}};
    assert_int_equal(
        call(f, "POST", "/api/v1/a%20b/c?x=1&y=2", hs, 2, "{\"k\":1}", &r), 0);
    /* never from inside the call, even though the handler answered */
    assert_int_equal(r.calls, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_false(r.reentrant);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body,
                        "POST|/api/v1/a b/c|/a b/c|x=1&y=2|yes|in-process|"
                        "{\"k\":1}");
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.rid, "rid-1");
    /* the exchange was released: a second call works the same */
    result_t r2 = {0};
    assert_int_equal(call(f, "GET", "/api/v1/x", NULL, 0, NULL, &r2), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r2.calls, 1);
    assert_string_equal(r2.body, "GET|/api/v1/x|/x|||in-process|");
    assert_int_equal(strlen(r2.rid), 16); /* generated */
}

static void test_asynchronous_answer(void **state)
{
    fx_t *f = *state;
    result_t r = {0};
    assert_int_equal(call(f, "GET", "/api/v1/hold", NULL, 0, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    assert_non_null(held);
    assert_int_equal(dp_http_server_inflight(f->srv), 1);
    assert_int_equal(dp_http_respond_json(held, 202, "{\"later\":true}", 14),
                     0);
    assert_int_equal(r.calls, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"later\":true}");
    assert_string_equal(r.ctype, "application/json");
    assert_int_equal(dp_http_server_inflight(f->srv), 0);
}

static void test_streamed_answer_is_collected(void **state)
{
    fx_t *f = *state;
    result_t r = {0};
    assert_int_equal(call(f, "GET", "/api/v1/stream", NULL, 0, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "data: a\n\ndata: b\n\n");
    assert_string_equal(r.ctype, "text/event-stream");
}

static void test_refusals_like_the_socket(void **state)
{
    fx_t *f = *state;
    result_t r = {0};
    /* a plugin route is not reachable with host_routes_only */
    assert_int_equal(call(f, "GET", "/plugin/x", NULL, 0, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"code\":\"not_found\""));
    /* nothing at all */
    memset(&r, 0, sizeof(r));
    assert_int_equal(call(f, "GET", "/nothing", NULL, 0, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.status, 404);
    /* body over the limit: 413 before any handler */
    char big[2048];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(&r, 0, sizeof(r));
    assert_int_equal(call(f, "POST", "/api/v1/hold", NULL, 0, big, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.status, 413);
    assert_null(held);
    /* head over the limit: 431 */
    doppel_kv_t hs[1] = {{DOPPEL_STR("X-Big"), {big, 600}}};
    memset(&r, 0, sizeof(r));
    assert_int_equal(call(f, "GET", "/api/v1/hold", hs, 1, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.status, 431);
    assert_null(held);
    /* a failing handler: 500 */
    memset(&r, 0, sizeof(r));
    assert_int_equal(call(f, "GET", "/api/v1/fail", NULL, 0, NULL, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 500);
    /* a bad percent escape in the path: 400 is not even possible, the
     * call is refused outright */
    memset(&r, 0, sizeof(r));
    assert_int_equal(call(f, "GET", "/api/v1/%zz", NULL, 0, NULL, &r), -EINVAL);
}

static void test_invalid_arguments_never_call_back(void **state)
{
    fx_t *f = *state;
    result_t r = {0};
    const char *targets[] = {"",
                             "api/v1",
                             "/api/v1/a b",
                             "/api/v1/\r\nX: y",
                             "http://x/api/v1",
                             "/api/v1/#frag",
                             "/api/v1/%00"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        assert_int_equal(call(f, "GET", targets[i], NULL, 0, NULL, &r),
                         -EINVAL);
    assert_int_equal(call(f, "get", "/api/v1/x", NULL, 0, NULL, &r), -EINVAL);
    assert_int_equal(call(f, "G T", "/api/v1/x", NULL, 0, NULL, &r), -EINVAL);
    doppel_kv_t bad_name[1] = {{DOPPEL_STR("X Bad"), DOPPEL_STR("v")}};
    assert_int_equal(call(f, "GET", "/api/v1/x", bad_name, 1, NULL, &r),
                     -EINVAL);
    doppel_kv_t bad_value[1] = {{DOPPEL_STR("X-Ok"), DOPPEL_STR("a\r\nb")}};
    assert_int_equal(call(f, "GET", "/api/v1/x", bad_value, 1, NULL, &r),
                     -EINVAL);
    dp_http_local_req_t req = {.target = DOPPEL_STR("/api/v1/x")};
    assert_int_equal(dp_http_local_call(f->srv, &req, 1, NULL, &r), -EINVAL);
    assert_int_equal(dp_http_local_call(NULL, &req, 1, on_result, &r), -EINVAL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    /* empty method means GET */
    assert_int_equal(dp_http_local_call(f->srv, &req, 1, on_result, &r), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_string_equal(r.body, "GET|/api/v1/x|/x|||in-process|");
}

/* Freeing the server: answered calls are delivered, pending ones get
 * -ECANCELED, and a handler answering afterwards is harmless. */
static void test_free_cancels_pending(void **state)
{
    fx_t *f = *state;
    result_t done = {0}, pending = {0};
    assert_int_equal(call(f, "GET", "/api/v1/hold", NULL, 0, NULL, &pending),
                     0);
    doppel_http_exchange_t *ex = held;
    assert_non_null(ex);
    assert_int_equal(call(f, "GET", "/api/v1/now", NULL, 0, NULL, &done), 0);
    dp_http_server_free(f->srv);
    f->srv = NULL;
    assert_int_equal(done.calls, 1);
    assert_int_equal(done.rc, 0);
    assert_int_equal(done.status, 200);
    assert_int_equal(pending.calls, 1);
    assert_int_equal(pending.rc, -ECANCELED);
    assert_int_equal(pending.status, 0);
    /* the handler still owns its exchange; its late answer goes nowhere */
    assert_int_equal(dp_http_respond_json(ex, 200, "{}", 2), -ENOTCONN);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(pending.calls, 1);
}

/* A callback that calls again while the server is being freed is refused. */
static dp_http_server_t *again_srv;
static int again_rc = 1;
static void call_again(void *data, int rc, const doppel_fetch_result_t *res)
{
    (void)data;
    (void)rc;
    (void)res;
    dp_http_local_req_t req = {.target = DOPPEL_STR("/api/v1/x")};
    again_rc = dp_http_local_call(again_srv, &req, 1, call_again, NULL);
}

static void test_call_from_callback_during_free(void **state)
{
    fx_t *f = *state;
    dp_http_local_req_t req = {.target = DOPPEL_STR("/api/v1/hold")};
    again_srv = f->srv;
    assert_int_equal(dp_http_local_call(f->srv, &req, 1, call_again, NULL), 0);
    doppel_http_exchange_t *ex = held;
    dp_http_server_free(f->srv);
    f->srv = NULL;
    assert_int_equal(again_rc, -ECANCELED);
    dp_http_respond_json(ex, 200, "{}", 2);
}

/* A callback that calls again in normal operation gets its answer on a
 * later iteration, not in the same delivery run. */
static int chain_left;
static fx_t *chain_fx;
static void chain(void *data, int rc, const doppel_fetch_result_t *res)
{
    int *n = data;
    (void)res;
    assert_int_equal(rc, 0);
    (*n)++;
    if (chain_left-- > 0) {
        dp_http_local_req_t req = {.target = DOPPEL_STR("/api/v1/x")};
        assert_int_equal(
            dp_http_local_call(chain_fx->srv, &req, 1, chain, data), 0);
    }
}

static void test_calls_from_callbacks(void **state)
{
    fx_t *f = *state;
    int n = 0;
    chain_left = 3;
    chain_fx = f;
    dp_http_local_req_t req = {.target = DOPPEL_STR("/api/v1/x")};
    assert_int_equal(dp_http_local_call(f->srv, &req, 1, chain, &n), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(n, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(n, 2);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(n, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_answer_arrives_later_with_request_seen_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asynchronous_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_streamed_answer_is_collected,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_like_the_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments_never_call_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_from_callback_during_free,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_from_callbacks, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
