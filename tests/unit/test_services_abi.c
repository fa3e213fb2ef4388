/*
 * The services table the host hands to plugins (host/services.c), as seen
 * by plugins of each ABI minor: a 1.0 plugin finds every 1.0 service inside
 * the table's size, a 1.1 plugin finds the 1.1 services through
 * DOPPEL_HAS_SERVICE, and a table of a 1.0 host (size ending after
 * http_fetch) hides them; the same for 1.2 (engine sessions) against a 1.1
 * host's table. A section ctx (no worker: protocol section callbacks) is
 * refused by every service that needs a loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime.h"

/* End of the last ABI 1.0 member: the size a 1.0 host's table had. */
#define SERVICES_SIZE_1_0                                                      \
    (offsetof(doppel_services_t, http_fetch) + sizeof(void (*)(void)))

/* End of the last ABI 1.1 member: the size a 1.1 host's table had. */
#define SERVICES_SIZE_1_1                                                      \
    (offsetof(doppel_services_t, engine_forwarded) + sizeof(void (*)(void)))

static void test_host_says_1_2(void **st)
{
    (void)st;
    assert_int_equal(dp_services.abi_major, 1);
    assert_int_equal(dp_services.abi_minor, 2);
    assert_int_equal(dp_services.size, sizeof(doppel_services_t));
}

static void test_a_1_0_plugin_finds_every_1_0_service(void **st)
{
    (void)st;
    const doppel_services_t *svc = &dp_services;
    assert_true(svc->size >= SERVICES_SIZE_1_0);
    assert_true(DOPPEL_HAS_SERVICE(svc, log));
    assert_true(DOPPEL_HAS_SERVICE(svc, alloc));
    assert_true(DOPPEL_HAS_SERVICE(svc, free));
    assert_true(DOPPEL_HAS_SERVICE(svc, option_str));
    assert_true(DOPPEL_HAS_SERVICE(svc, option_int));
    assert_true(DOPPEL_HAS_SERVICE(svc, option_bool));
    assert_true(DOPPEL_HAS_SERVICE(svc, instance_name));
    assert_true(DOPPEL_HAS_SERVICE(svc, worker_index));
    assert_true(DOPPEL_HAS_SERVICE(svc, worker_count));
    assert_true(DOPPEL_HAS_SERVICE(svc, loop));
    assert_true(DOPPEL_HAS_SERVICE(svc, post));
    assert_true(DOPPEL_HAS_SERVICE(svc, queue_work));
    assert_true(DOPPEL_HAS_SERVICE(svc, subscribe));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_mount));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_respond));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_stream_start));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_stream_write));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_stream_end));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_match));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_reply_free));
    assert_true(DOPPEL_HAS_SERVICE(svc, metric_add));
    assert_true(DOPPEL_HAS_SERVICE(svc, stop_done));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_fetch));
    /* The 1.0 members did not move: offsets a frozen 1.0 plugin compiled
     * in (tests/abi/frozen_1_0.c reads option_int at this offset). */
    assert_int_equal(offsetof(doppel_services_t, log), 8);
    assert_int_equal(offsetof(doppel_services_t, option_int),
                     8 + 4 * sizeof(void *));
}

static void test_a_1_1_plugin_sees_the_new_services(void **st)
{
    (void)st;
    const doppel_services_t *svc = &dp_services;
    assert_true(DOPPEL_HAS_SERVICE(svc, admin_call));
    assert_true(DOPPEL_HAS_SERVICE(svc, http_listen));
    assert_true(DOPPEL_HAS_SERVICE(svc, shared));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_record));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_forwarded));
    /* the last 1.1 member where tests/abi/frozen_1_1.c expects it (28th
     * after the 8-byte head), and the table ends with it */
    assert_int_equal(offsetof(doppel_services_t, engine_forwarded),
                     8 + 27 * sizeof(void *));
    /* 1.2 appended after it */
    assert_true(sizeof(doppel_services_t) > 8 + 28 * sizeof(void *));
    assert_int_equal(SERVICES_SIZE_1_1, 8 + 28 * sizeof(void *));
}

static void test_a_1_2_plugin_sees_the_session_services(void **st)
{
    (void)st;
    const doppel_services_t *svc = &dp_services;
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_session_open));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_session_match));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_session_close));
    /* then the protocol switch */
    assert_true(DOPPEL_HAS_SERVICE(svc, http_upgrade));
    assert_int_equal(offsetof(doppel_services_t, http_upgrade),
                     offsetof(doppel_services_t, engine_session_close) +
                         sizeof(void *));
    /* then the journal of streams and rendering, which end the table */
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_journal));
    assert_true(DOPPEL_HAS_SERVICE(svc, engine_render));
    assert_int_equal(offsetof(doppel_services_t, engine_journal),
                     offsetof(doppel_services_t, http_upgrade) +
                         sizeof(void *));
    assert_int_equal(offsetof(doppel_services_t, engine_render) +
                         sizeof(void *),
                     sizeof(doppel_services_t));
}

/* A host whose table ends at http_upgrade (built before engine_journal):
 * a plugin that checks sees neither service, and keeps working. */
static void test_a_table_before_the_journal_services_hides_them(void **st)
{
    (void)st;
    doppel_services_t old;
    memcpy(&old, &dp_services, sizeof(old));
    old.size = (uint32_t)(offsetof(doppel_services_t, http_upgrade) +
                          sizeof(void *));
    assert_true(DOPPEL_HAS_SERVICE(&old, http_upgrade));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_journal));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_render));
}

/* Both need an instance's engine: a missing or section context, or a
 * missing argument, is -EINVAL and writes nothing. */
static void test_journal_and_render_refuse_without_an_instance(void **st)
{
    (void)st;
    const doppel_services_t *svc = &dp_services;
    doppel_journal_note_t n = {.size = sizeof(n),
                               .kind = DOPPEL_NOTE_SENT,
                               .protocol = DOPPEL_STR("socket")};
    assert_int_equal(svc->engine_journal(NULL, &n), -EINVAL);
    char *out = (char *)1;
    size_t len = 7;
    assert_int_equal(svc->engine_render(NULL, DOPPEL_STR("sandbox"), "1", 1,
                                        &out, &len),
                     -EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
}

static void test_a_1_1_host_table_hides_the_1_2_services(void **st)
{
    (void)st;
    doppel_services_t old;
    memcpy(&old, &dp_services, sizeof(old));
    old.size = (uint32_t)SERVICES_SIZE_1_1;
    old.abi_minor = 1;
    assert_true(DOPPEL_HAS_SERVICE(&old, engine_forwarded));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_session_open));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_session_match));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_session_close));
    assert_false(DOPPEL_HAS_SERVICE(&old, conn_listen));
}

static void *make_state(void *arg)
{
    (*(int *)arg)++;
    return arg;
}

/* What protocol section callbacks get: a ctx with an instance and no
 * worker. The services of the instance work; those of a loop refuse. */
static void test_section_ctx(void **st)
{
    (void)st;
    dp_instance_t in = {.name = "sec"};
    doppel_ctx_t ctx = {.inst = &in};
    const doppel_services_t *s = &dp_services;
    assert_string_equal(s->instance_name(&ctx), "sec");
    int made = 0;
    assert_ptr_equal(s->shared(&ctx, make_state, NULL, &made), &made);
    assert_ptr_equal(s->shared(&ctx, make_state, NULL, &made), &made);
    assert_int_equal(made, 1);
    void *p = s->alloc(8);
    assert_non_null(p);
    s->free(p);
    assert_null(s->loop(&ctx));
    assert_int_equal(s->worker_index(&ctx), 0);
    assert_int_equal(s->worker_count(&ctx), 0);
    assert_int_equal(s->post(&ctx, (doppel_fn_t)free, NULL), -EINVAL);
    assert_int_equal(s->subscribe(&ctx, DOPPEL_EVENT_TICK), -EINVAL);
    doppel_exchange_t x = {.size = sizeof(x), .protocol = DOPPEL_STR("toy")};
    doppel_reply_t *r = (doppel_reply_t *)&x;
    assert_int_equal(s->engine_match(&ctx, &x, &r), -EINVAL);
    doppel_session_t *sess = (doppel_session_t *)&x;
    assert_int_equal(s->engine_session_open(&ctx, &x, &sess), -EINVAL);
    assert_null(sess);
    assert_int_equal(s->metric_add(&ctx, "m", NULL, 1), -EINVAL);
    doppel_http_mount_t m = {sizeof(m), "/x", NULL, NULL, NULL, 0};
    assert_int_equal(s->http_mount(&ctx, &m), -EINVAL);
    assert_int_equal(s->http_listen(&ctx, "127.0.0.1:1", &m), -EINVAL);
    s->stop_done(&ctx); /* a no-op, not a crash */
    s->engine_session_close(NULL);
    assert_int_equal(s->engine_session_match(NULL, &x, &r), -EINVAL);
    assert_null(r);
    dp_instance_shared_release(&in);
}

static void test_a_1_0_host_table_hides_them(void **st)
{
    (void)st;
    doppel_services_t old;
    memcpy(&old, &dp_services, sizeof(old));
    old.size = (uint32_t)SERVICES_SIZE_1_0;
    old.abi_minor = 0;
    assert_true(DOPPEL_HAS_SERVICE(&old, http_fetch));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_record));
    assert_false(DOPPEL_HAS_SERVICE(&old, admin_call));
    assert_false(DOPPEL_HAS_SERVICE(&old, http_listen));
    assert_false(DOPPEL_HAS_SERVICE(&old, shared));
    assert_false(DOPPEL_HAS_SERVICE(&old, engine_forwarded));
    assert_false(DOPPEL_HAS_SERVICE((const doppel_services_t *)NULL, log));
}

/* Arguments the new services refuse without touching a worker. */
static void test_new_services_refuse_bad_arguments(void **st)
{
    (void)st;
    doppel_fetch_t f = {.size = sizeof(f), .url = DOPPEL_STR("/api/v1/x")};
    assert_int_equal(dp_services.admin_call(NULL, &f, NULL, NULL), -EINVAL);
    assert_int_equal(dp_services.http_listen(NULL, "127.0.0.1:1", NULL),
                     -EINVAL);
    assert_null(dp_services.shared(NULL, NULL, NULL, NULL));
    doppel_reply_t r = {.size = sizeof(r), .kind = DOPPEL_REPLY_PROXY};
    assert_int_equal(dp_services.engine_forwarded(NULL, &r, 200, NULL, 0),
                     -EINVAL);
    /* flags (none defined) are refused before the reply is looked at */
    assert_int_equal(
        dp_services.engine_forwarded((doppel_ctx_t *)&r, &r, 200, NULL, 0x1),
        -EINVAL);
    assert_int_equal(
        dp_services.engine_forwarded((doppel_ctx_t *)&r, NULL, 200, NULL, 0),
        -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_says_1_2),
        cmocka_unit_test(test_a_1_0_plugin_finds_every_1_0_service),
        cmocka_unit_test(test_a_1_1_plugin_sees_the_new_services),
        cmocka_unit_test(test_a_1_0_host_table_hides_them),
        cmocka_unit_test(test_new_services_refuse_bad_arguments),
        cmocka_unit_test(test_a_1_2_plugin_sees_the_session_services),
        cmocka_unit_test(test_a_table_before_the_journal_services_hides_them),
        cmocka_unit_test(test_journal_and_render_refuse_without_an_instance),
        cmocka_unit_test(test_a_1_1_host_table_hides_the_1_2_services),
        cmocka_unit_test(test_section_ctx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
