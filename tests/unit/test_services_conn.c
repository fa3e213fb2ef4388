/*
 * The ABI 1.2 connection, timer and watch entries of the services table
 * (host/services.c, host/conn_services.c): a 1.2 plugin finds them with
 * DOPPEL_HAS_SERVICE, a 1.1 host's table hides them, and a context without
 * a loop (the section contexts protocol callbacks get) is refused rather
 * than followed into a worker that does not exist.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime.h"

/* End of the last ABI 1.1 member: the size a 1.1 host's table had. */
#define SERVICES_SIZE_1_1                                                      \
    (offsetof(doppel_services_t, engine_forwarded) + sizeof(void (*)(void)))

static void test_a_1_2_plugin_finds_them(void **st)
{
    (void)st;
    const doppel_services_t *svc = &dp_services;
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_listen));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_listen_port));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_claim));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_start));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_write));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_pending));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_pause));
    assert_true(DOPPEL_HAS_SERVICE(svc, conn_close));
    assert_true(DOPPEL_HAS_SERVICE(svc, timer_start));
    assert_true(DOPPEL_HAS_SERVICE(svc, timer_stop));
    assert_true(DOPPEL_HAS_SERVICE(svc, now_ms));
    assert_true(DOPPEL_HAS_SERVICE(svc, fd_watch));
    assert_true(DOPPEL_HAS_SERVICE(svc, fd_watch_update));
    assert_true(DOPPEL_HAS_SERVICE(svc, fd_watch_stop));

    doppel_services_t old;
    memcpy(&old, &dp_services, sizeof(old));
    old.size = (uint32_t)SERVICES_SIZE_1_1;
    old.abi_minor = 1;
    assert_true(DOPPEL_HAS_SERVICE(&old, engine_forwarded));
    assert_false(DOPPEL_HAS_SERVICE(&old, conn_listen));
    assert_false(DOPPEL_HAS_SERVICE(&old, fd_watch_stop));
}

static int accept_none(void *state, doppel_conn_t *c,
                       const doppel_conn_info_t *info)
{
    (void)state;
    (void)c;
    (void)info;
    return -EPERM;
}

static void fn_none(void *data)
{
    (void)data;
}

static void watch_none(void *data, int fd, uint32_t revents, int status)
{
    (void)data;
    (void)fd;
    (void)revents;
    (void)status;
}

/* A section context: an instance, no worker. Everything that needs a loop
 * says -EINVAL (now_ms 0) and nothing is dereferenced past ctx. */
static void test_a_context_without_a_loop_is_refused(void **st)
{
    (void)st;
    dp_instance_t inst;
    memset(&inst, 0, sizeof(inst));
    inst.name = "sec";
    doppel_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.inst = &inst;
    const doppel_services_t *svc = &dp_services;
    doppel_conn_listener_t l = {.size = sizeof(l), .on_accept = accept_none};
    doppel_conn_claim_t c = {.size = sizeof(c),
                             .prefix = (const uint8_t *)"X",
                             .prefix_len = 1,
                             .on_accept = accept_none};
    doppel_timer_t *t = NULL;
    doppel_watch_t *w = NULL;
    assert_int_equal(svc->conn_listen(&ctx, "127.0.0.1:0", &l), -EINVAL);
    assert_int_equal(svc->conn_listen_port(&ctx, 0), -EINVAL);
    assert_int_equal(svc->conn_claim(&ctx, &c), -EINVAL);
    assert_int_equal(svc->timer_start(&ctx, 1, 0, fn_none, NULL, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(svc->now_ms(&ctx), 0);
    assert_int_equal(
        svc->fd_watch(&ctx, 0, DOPPEL_FD_READ, watch_none, NULL, &w), -EINVAL);
    assert_null(w);
    assert_int_equal(svc->post(&ctx, fn_none, NULL), -EINVAL);
    assert_null(ctx.io); /* no set was made for it */
    /* and NULL everywhere */
    assert_int_equal(svc->conn_listen(NULL, "127.0.0.1:0", &l), -EINVAL);
    assert_int_equal(svc->conn_listen_port(NULL, 0), -EINVAL);
    assert_int_equal(svc->conn_claim(NULL, &c), -EINVAL);
    assert_int_equal(svc->timer_start(NULL, 1, 0, fn_none, NULL, &t), -EINVAL);
    assert_int_equal(svc->now_ms(NULL), 0);
    assert_int_equal(svc->post(NULL, fn_none, NULL), -EINVAL);
    assert_int_equal(svc->conn_start(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(svc->conn_write(NULL, "x", 1, NULL, NULL), -EINVAL);
    assert_int_equal(svc->conn_pending(NULL), 0);
    assert_int_equal(svc->conn_pause(NULL, 0), -EINVAL);
    assert_int_equal(svc->fd_watch_update(NULL, 0), -EINVAL);
    svc->conn_close(NULL, 0);
    svc->timer_stop(NULL);
    svc->fd_watch_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_1_2_plugin_finds_them),
        cmocka_unit_test(test_a_context_without_a_loop_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
