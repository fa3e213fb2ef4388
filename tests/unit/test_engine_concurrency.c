/* Concurrency: request threads matching, extracting into stores, counting
 * and journalling while an admin thread writes mocks and stores, reads the
 * journal and flushes. Built with DOPPEL_TSAN=ON it is the ThreadSanitizer
 * check of the index swap, the store locks and the journal rings; in every
 * build it checks that no update is lost and every reply is whole. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_engine_util.h"

#define ROUNDS 400

typedef struct shared {
    dp_engine_t *e;
    atomic_int stop;
    atomic_long hot_hits;   /* /hot answers seen by the request threads */
    atomic_long bad_replies; /* replies that are neither whole nor a miss */
} shared_t;

static void *request_run(void *p)
{
    shared_t *s = p;
    for (int i = 0; i < ROUNDS; i++) {
        doppel_reply_t *r = t_match(s->e, REQ(.method = "POST", .path = "/hot",
                                              .body = "{\"who\":\"t\"}"));
        if (r->mock_id.len > 0 && r->status == 200) {
            char *b = t_body(r);
            json_t *j = json_loads(b, 0, NULL);
            if (j == NULL || !json_is_integer(json_object_get(j, "n")))
                atomic_fetch_add(&s->bad_replies, 1);
            else
                atomic_fetch_add(&s->hot_hits, 1);
            json_decref(j);
            free(b);
        } else {
            atomic_fetch_add(&s->bad_replies, 1);
        }
        dp_engine_reply_free(r);
        /* a route that comes and goes under the writer: a whole answer or a
         * miss, never anything else */
        r = t_match(s->e, REQ(.path = "/churn", .ns = "other"));
        if (r->mock_id.len > 0) {
            char *b = t_body(r);
            if (strcmp(b, "{\"big\":[1,2,3,4,5,6,7,8]}") != 0)
                atomic_fetch_add(&s->bad_replies, 1);
            free(b);
        }
        dp_engine_reply_free(r);
    }
    return NULL;
}

static void *admin_run(void *p)
{
    shared_t *s = p;
    dp_err_t err;
    int n = 0;
    while (!atomic_load(&s->stop) && n < 4 * ROUNDS) {
        json_t *m = t_json("{\"namespace\":\"other\",\"http\":{\"route\":"
                           "\"/churn\"},\"response\":{\"payload\":{\"big\":"
                           "[1,2,3,4,5,6,7,8]}}}");
        json_t *st = NULL;
        if (dp_engine_mock_put(s->e, m, NULL, &st, NULL, &err) != 0)
            fail_msg("put: %s", err.message);
        char id[160];
        snprintf(id, sizeof(id), "%s",
                 json_string_value(json_object_get(st, "id")));
        json_decref(st);
        json_decref(m);
        json_t *v = json_integer(n);
        assert_int_equal(
            dp_engine_store_set(s->e, "other", 'g', NULL, "k", v, &err), 0);
        json_decref(v);
        if (n % 16 == 0)
            assert_int_equal(dp_engine_flush(s->e), 0);
        assert_int_equal(dp_engine_mock_purge(s->e, id, &err), 0);
        n++;
    }
    return NULL;
}

static void test_requests_and_writes_together(void **state)
{
    (void)state;
    shared_t s = {.e = t_open()};
    t_put(s.e, "{\"http\":{\"route\":\"/hot\",\"httpMethod\":\"POST\"},"
               "\"extract\":{\"gStore\":{\"who\":\"$.req.who\"}},"
               "\"response\":{\"payload\":{\"n\":"
               "\"$.increment($.gS.hits)\"}}}");
    pthread_t req[2], adm;
    for (int i = 0; i < 2; i++)
        pthread_create(&req[i], NULL, request_run, &s);
    pthread_create(&adm, NULL, admin_run, &s);
    /* the test thread reads what the others write */
    for (int i = 0; i < ROUNDS / 4; i++) {
        json_t *out = NULL;
        if (dp_engine_journal(s.e, NULL, 0, 20, &out) == 0)
            json_decref(out);
        out = NULL;
        if (dp_engine_unmatched(s.e, "other", 0, 20, &out) == 0)
            json_decref(out);
        dp_err_t err;
        json_t *v = NULL;
        if (dp_engine_store_get(s.e, NULL, 'g', NULL, "hits", &v, &err) == 0)
            json_decref(v);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(req[i], NULL);
    atomic_store(&s.stop, 1);
    pthread_join(adm, NULL);

    assert_int_equal(atomic_load(&s.bad_replies), 0);
    assert_int_equal(atomic_load(&s.hot_hits), 2 * ROUNDS);
    /* every increment landed: none lost between the two request threads */
    json_t *v = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_store_get(s.e, NULL, 'g', NULL, "hits", &v, &err),
                     0);
    assert_int_equal(json_integer_value(v), 2 * ROUNDS);
    json_decref(v);
    dp_engine_close(s.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_and_writes_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
