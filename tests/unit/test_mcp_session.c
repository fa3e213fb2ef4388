/*
 * The MCP plugin's session table (plugins/mcp/mcp_session.c): ids, binding
 * to a token and a scope, least-recently-used eviction, idle expiry,
 * handing HTTP+SSE messages to the instance that holds the stream (also
 * when that instance's loop refuses the post, or never runs it), and many
 * threads at once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp_server.h"

/* ---- Fakes: a services table whose post queues, and the stream sink ---- */

typedef struct posted {
    doppel_fn_t fn;
    void *data;
} posted_t;

static posted_t queue[64];
static size_t n_queued;
static int post_rc; /* what the fake post returns */

static int fake_post(doppel_ctx_t *ctx, doppel_fn_t fn, void *data)
{
    (void)ctx;
    if (post_rc < 0)
        return post_rc;
    assert_true(n_queued < 64);
    queue[n_queued++] = (posted_t){fn, data};
    return 0;
}

static void run_posted(void)
{
    for (size_t i = 0; i < n_queued; i++)
        queue[i].fn(queue[i].data);
    n_queued = 0;
}

static doppel_services_t fake_svc = {
    .size = sizeof(doppel_services_t),
    .post = fake_post,
};

static mcp_inst_t inst_a, inst_b;
static char sent_text[256];
static char sent_session[MCP_SID_LEN + 1];
static mcp_inst_t *sent_to;
static int n_sent;

void mcp_stream_send(mcp_inst_t *inst, const char *session, const char *text)
{
    sent_to = inst;
    snprintf(sent_session, sizeof(sent_session), "%s", session);
    snprintf(sent_text, sizeof(sent_text), "%s", text);
    n_sent++;
}

static int setup(void **state)
{
    memset(&inst_a, 0, sizeof(inst_a));
    memset(&inst_b, 0, sizeof(inst_b));
    inst_a.svc = inst_b.svc = &fake_svc;
    inst_a.ctx = (doppel_ctx_t *)&inst_a; /* any distinct non-NULL value */
    inst_b.ctx = (doppel_ctx_t *)&inst_b;
    n_queued = 0;
    post_rc = 0;
    n_sent = 0;
    sent_to = NULL;
    *state = mcp_sessions_new(NULL);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    mcp_sessions_free(*state);
    return 0;
}

static int make(mcp_shared_t *t, int kind, const char *token, const char *scope,
                mcp_inst_t *owner, uint64_t now, int max, char *id)
{
    mcp_session_new_t n = {.kind = kind,
                           .token = token,
                           .scope = scope,
                           .version = "2025-06-18",
                           .owner = owner,
                           .now_ms = now};
    return mcp_sessions_create(t, &n, max, id);
}

/* ---- Tests -------------------------------------------------------------- */

static void ids_are_random_hex_and_bound(void **state)
{
    mcp_shared_t *t = *state;
    char a[MCP_SID_LEN + 1], b[MCP_SID_LEN + 1], v[MCP_VERSION_MAX];
    assert_int_equal(make(t, MCP_KIND_CONTROL, "tok-a", "", NULL, 1, 10, a), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "tok-a", "", NULL, 1, 10, b), 0);
    assert_int_equal(strlen(a), MCP_SID_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), MCP_SID_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(mcp_sessions_count(t), 2);

    int legacy = -1;
    assert_int_equal(mcp_sessions_use(t, a, "tok-a", "", 2, v, &legacy), 0);
    assert_string_equal(v, "2025-06-18");
    assert_int_equal(legacy, 0);
    /* another token, a prefix of it, a longer one, no token, another
     * scope: all "not found", like an id that never existed */
    assert_int_equal(mcp_sessions_use(t, a, "tok-b", "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, "tok-", "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, "tok-aa", "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, "", "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, NULL, "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, "tok-a", "ns/x", 2, v, NULL),
                     -ENOENT);
    /* malformed ids */
    assert_int_equal(mcp_sessions_use(t, "", "tok-a", "", 2, v, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, NULL, "tok-a", "", 2, v, NULL),
                     -ENOENT);
    char shorter[MCP_SID_LEN];
    memcpy(shorter, a, MCP_SID_LEN - 1);
    shorter[MCP_SID_LEN - 1] = '\0';
    assert_int_equal(mcp_sessions_use(t, shorter, "tok-a", "", 2, v, NULL),
                     -ENOENT);

    mcp_sessions_set_version(t, a, "2024-11-05");
    assert_int_equal(mcp_sessions_use(t, a, "tok-a", "", 3, v, NULL), 0);
    assert_string_equal(v, "2024-11-05");
}

static void end_checks_binding(void **state)
{
    mcp_shared_t *t = *state;
    char a[MCP_SID_LEN + 1], s[MCP_SID_LEN + 1];
    assert_int_equal(make(t, MCP_KIND_STUB, "", "ns/srv", NULL, 1, 10, a), 0);
    assert_int_equal(mcp_sessions_end(t, a, "", "ns/other"), -ENOENT);
    assert_int_equal(mcp_sessions_end(t, a, "x", "ns/srv"), -ENOENT);
    assert_int_equal(mcp_sessions_end(t, a, "", "ns/srv"), 0);
    assert_int_equal(mcp_sessions_end(t, a, "", "ns/srv"), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, a, "", "ns/srv", 2, NULL, NULL),
                     -ENOENT);
    /* a stream session ends with its stream, not by DELETE */
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", &inst_a, 1, 10, s), 0);
    assert_int_equal(mcp_sessions_end(t, s, "k", ""), -ENOENT);
    int legacy = 0;
    assert_int_equal(mcp_sessions_use(t, s, "k", "", 2, NULL, &legacy), 0);
    assert_int_equal(legacy, 1);
    mcp_sessions_remove(t, s);
    assert_int_equal(mcp_sessions_count(t), 0);
    mcp_sessions_remove(t, s); /* twice is harmless */
}

static void full_table_evicts_lru_of_same_kind(void **state)
{
    mcp_shared_t *t = *state;
    char c1[MCP_SID_LEN + 1], c2[MCP_SID_LEN + 1], s1[MCP_SID_LEN + 1],
        c3[MCP_SID_LEN + 1], x[MCP_SID_LEN + 1];
    /* same clock value for all: the order of use decides, not the clock */
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 5, 3, c1), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 5, 3, c2), 0);
    assert_int_equal(make(t, MCP_KIND_STUB, "", "a/", NULL, 5, 3, s1), 0);
    assert_int_equal(mcp_sessions_use(t, c1, "k", "", 5, NULL, NULL), 0);
    /* full: a new control session evicts c2 (c1 was used since) */
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 5, 3, c3), 0);
    assert_int_equal(mcp_sessions_count(t), 3);
    assert_int_equal(mcp_sessions_use(t, c2, "k", "", 5, NULL, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, c1, "k", "", 5, NULL, NULL), 0);
    assert_int_equal(mcp_sessions_use(t, s1, "", "a/", 5, NULL, NULL), 0);
    /* a stub session evicts the only stub session, never a control one */
    assert_int_equal(make(t, MCP_KIND_STUB, "", "a/", NULL, 5, 3, x), 0);
    assert_int_equal(mcp_sessions_use(t, s1, "", "a/", 5, NULL, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, c1, "k", "", 5, NULL, NULL), 0);
    assert_int_equal(mcp_sessions_use(t, c3, "k", "", 5, NULL, NULL), 0);
}

static int make_shared(mcp_shared_t *t, const char *token, int max,
                       int per_token, char *id)
{
    mcp_session_new_t n = {.kind = MCP_KIND_CONTROL,
                           .token = token,
                           .scope = "",
                           .version = "2025-06-18",
                           .now_ms = 1,
                           .max_per_token = per_token};
    return mcp_sessions_create(t, &n, max, id);
}

static int alive(mcp_shared_t *t, const char *id, const char *token)
{
    return mcp_sessions_use(t, id, token, "", 1, NULL, NULL) == 0;
}

static void a_token_evicts_only_its_own(void **state)
{
    mcp_shared_t *t = *state;
    char b[MCP_SID_LEN + 1], c[MCP_SID_LEN + 1], a[40][MCP_SID_LEN + 1];
    /* 10 sessions at most, 3 per token */
    assert_int_equal(make_shared(t, "tok-b", 10, 3, b), 0);
    assert_int_equal(make_shared(t, "tok-c", 10, 3, c), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(make_shared(t, "tok-a", 10, 3, a[i]), 0);
    /* the flood kept its 3 newest, evicted its own older ones only */
    assert_int_equal(mcp_sessions_count(t), 5);
    assert_true(alive(t, b, "tok-b"));
    assert_true(alive(t, c, "tok-c"));
    for (int i = 0; i < 37; i++)
        assert_false(alive(t, a[i], "tok-a"));
    for (int i = 37; i < 40; i++)
        assert_true(alive(t, a[i], "tok-a"));
    /* tokens that are a prefix of another are other holders */
    char p[MCP_SID_LEN + 1];
    assert_int_equal(make_shared(t, "tok-", 10, 3, p), 0);
    assert_true(alive(t, a[39], "tok-a"));
    assert_int_equal(mcp_sessions_count(t), 6);
}

static void full_table_takes_from_the_biggest_holder(void **state)
{
    mcp_shared_t *t = *state;
    char id[12][MCP_SID_LEN + 1], n1[MCP_SID_LEN + 1], n2[MCP_SID_LEN + 1];
    /* 6 sessions at most, 3 per token: x holds 3, y 2, z 1 */
    const char *who[] = {"x", "y", "x", "z", "x", "y"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(make_shared(t, who[i], 6, 3, id[i]), 0);
    /* the table is full: a newcomer takes x's least recent session, not
     * y's or z's (id[0] of x is the oldest of all) */
    assert_int_equal(make_shared(t, "new", 6, 3, n1), 0);
    assert_int_equal(mcp_sessions_count(t), 6);
    assert_false(alive(t, id[0], "x"));
    assert_true(alive(t, id[1], "y"));
    assert_true(alive(t, id[3], "z"));
    /* x and y hold 2 each now: the least recently used of theirs goes
     * (y's id[1] was just used, x's id[2] is older), z keeps its one */
    assert_int_equal(make_shared(t, "new2", 6, 3, n2), 0);
    assert_false(alive(t, id[2], "x"));
    assert_true(alive(t, id[3], "z"));
    assert_true(alive(t, n1, "new"));
    assert_true(alive(t, n2, "new2"));
    /* the holders of ended sessions are freed (teardown under ASan) */
    mcp_sessions_expire(t, 1000000, 10);
    assert_int_equal(mcp_sessions_count(t), 0);
    assert_int_equal(make_shared(t, "x", 6, 3, n1), 0);
}

static void streams_are_never_evicted(void **state)
{
    mcp_shared_t *t = *state;
    char a[MCP_SID_LEN + 1], b[MCP_SID_LEN + 1], c[MCP_SID_LEN + 1];
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", &inst_a, 1, 2, a), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", &inst_b, 1, 2, b), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 1, 2, c), -EBUSY);
    assert_int_equal(mcp_sessions_count(t), 2);
    /* nor expired */
    mcp_sessions_expire(t, 1000000, 10);
    assert_int_equal(mcp_sessions_count(t), 2);
    mcp_sessions_drop_owner(t, &inst_a);
    assert_int_equal(mcp_sessions_count(t), 1);
    assert_int_equal(mcp_sessions_use(t, a, "k", "", 1, NULL, NULL), -ENOENT);
    assert_int_equal(mcp_sessions_use(t, b, "k", "", 1, NULL, NULL), 0);
}

static void idle_sessions_expire(void **state)
{
    mcp_shared_t *t = *state;
    char old[MCP_SID_LEN + 1], used[MCP_SID_LEN + 1];
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 1000, 9, old), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 1000, 9, used),
                     0);
    assert_int_equal(mcp_sessions_use(t, used, "k", "", 5000, NULL, NULL), 0);
    mcp_sessions_expire(t, 5500, 0);   /* 0: never */
    mcp_sessions_expire(t, 100, 1000); /* clock before the timeout */
    assert_int_equal(mcp_sessions_count(t), 2);
    mcp_sessions_expire(t, 5500, 1000);
    assert_int_equal(mcp_sessions_count(t), 1);
    assert_int_equal(mcp_sessions_use(t, old, "k", "", 5500, NULL, NULL),
                     -ENOENT);
    assert_int_equal(mcp_sessions_use(t, used, "k", "", 5500, NULL, NULL), 0);
}

static void deliver_goes_to_the_stream_owner(void **state)
{
    mcp_shared_t *t = *state;
    char s[MCP_SID_LEN + 1], plain[MCP_SID_LEN + 1];
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", &inst_a, 1, 9, s), 0);
    assert_int_equal(make(t, MCP_KIND_CONTROL, "k", "", NULL, 1, 9, plain), 0);
    /* from the owner itself: written at once */
    assert_int_equal(mcp_sessions_deliver(t, &inst_a, s, "one"), 0);
    assert_int_equal(n_sent, 1);
    assert_ptr_equal(sent_to, &inst_a);
    assert_string_equal(sent_text, "one");
    /* from another instance: posted to the owner's loop */
    assert_int_equal(mcp_sessions_deliver(t, &inst_b, s, "two"), 0);
    assert_int_equal(n_sent, 1);
    assert_int_equal(n_queued, 1);
    run_posted();
    assert_int_equal(n_sent, 2);
    assert_ptr_equal(sent_to, &inst_a);
    assert_string_equal(sent_session, s);
    assert_string_equal(sent_text, "two");
    /* the loop refuses the post (stopping): an error, nothing leaks */
    post_rc = -ESHUTDOWN;
    assert_int_equal(mcp_sessions_deliver(t, &inst_b, s, "three"), -ESHUTDOWN);
    post_rc = 0;
    /* no stream session, or none at all */
    assert_int_equal(mcp_sessions_deliver(t, &inst_b, plain, "x"), -ENOENT);
    assert_int_equal(mcp_sessions_deliver(t, &inst_b, "nope", "x"), -ENOENT);
    /* posted but never run (the host dropped it at shutdown): the table
     * frees it (teardown, under ASan's leak check) */
    assert_int_equal(mcp_sessions_deliver(t, &inst_b, s, "four"), 0);
    assert_int_equal(n_queued, 1);
    n_queued = 0;
    assert_int_equal(n_sent, 2);
}

/* ---- Threads ------------------------------------------------------------- */

typedef struct worker_arg {
    mcp_shared_t *t;
    int failures;
} worker_arg_t;

static void *hammer(void *p)
{
    worker_arg_t *w = p;
    char tok[32];
    snprintf(tok, sizeof(tok), "t-%p", p);
    for (int i = 0; i < 2000; i++) {
        char id[MCP_SID_LEN + 1];
        if (make(w->t, MCP_KIND_CONTROL, tok, "", NULL, (uint64_t)i, 64, id) <
            0) {
            w->failures++;
            continue;
        }
        /* an evicted session may be gone already: only errors other than
         * "not found" count */
        int rc = mcp_sessions_use(w->t, id, tok, "", (uint64_t)i, NULL, NULL);
        if (rc < 0 && rc != -ENOENT)
            w->failures++;
        if (i % 2)
            (void)mcp_sessions_end(w->t, id, tok, "");
        if (i % 100 == 0)
            mcp_sessions_expire(w->t, (uint64_t)i, 50);
    }
    return NULL;
}

static void many_threads_at_once(void **state)
{
    mcp_shared_t *t = *state;
    pthread_t th[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){t, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_true(mcp_sessions_count(t) <= 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ids_are_random_hex_and_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(end_checks_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(full_table_evicts_lru_of_same_kind,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_token_evicts_only_its_own, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            full_table_takes_from_the_biggest_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(streams_are_never_evicted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(idle_sessions_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(deliver_goes_to_the_stream_owner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_threads_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
