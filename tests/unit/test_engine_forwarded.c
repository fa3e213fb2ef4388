/* The journal of forwarded requests (PROXY replies): for a plugin that
 * reports how a forward ended (DP_MATCH_DEFER_FORWARD, ABI >= 1.1) the
 * entry is written at dp_engine_forwarded with the status the client got,
 * the latency up to then, "forwarded", the failure reason and the service;
 * for a 1.0 plugin it is written at match time with status 0, as before;
 * an unreported reply is journalled when freed. Bad reports are refused
 * and change nothing. */
#include <pthread.h>
#include <time.h>

#include "test_engine_util.h"

/* Matches r with flags; the exchange lives on the stack of this call only,
 * which is the point: the journal entry must not need it later. */
static doppel_reply_t *match_ex(dp_engine_t *e, const t_req_t *r,
                                unsigned flags)
{
    doppel_kv_t hk[8];
    size_t nh = 0;
    for (size_t i = 0; r->h[i] && nh < 8; i += 2, nh++)
        hk[nh] = (doppel_kv_t){{r->h[i], strlen(r->h[i])},
                               {r->h[i + 1], strlen(r->h[i + 1])}};
    const char *m = r->method ? r->method : "GET";
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = r->ns ? (doppel_str_t){r->ns, strlen(r->ns)}
                    : (doppel_str_t){NULL, 0},
        .operation = {m, strlen(m)},
        .target = {r->path, strlen(r->path)},
        .metadata = hk,
        .n_metadata = nh,
        .body = (const uint8_t *)r->body,
        .body_len = r->body ? strlen(r->body) : 0,
        .request_id = DOPPEL_STR("req-f"),
    };
    doppel_reply_t *out = NULL;
    assert_int_equal(dp_engine_match_ex(e, &x, flags, &out), 0);
    assert_non_null(out);
    return out;
}

/* The journal (newest first); a new reference. */
static json_t *journal(dp_engine_t *e)
{
    json_t *j = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 100, &j), 0);
    json_t *items = json_incref(json_object_get(j, "items"));
    json_decref(j);
    return items;
}

static size_t journal_len(dp_engine_t *e)
{
    json_t *items = journal(e);
    size_t n = json_array_size(items);
    json_decref(items);
    return n;
}

static json_int_t int_of(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void svc_create(dp_engine_t *e, const char *body)
{
    json_t *b = t_json(body);
    dp_err_t err = {0};
    json_t *out = NULL;
    assert_int_equal(dp_engine_service_create(e, NULL, b, &out, &err), 0);
    json_decref(out);
    json_decref(b);
}

static void set_mode(dp_engine_t *e, const char *mode)
{
    dp_err_t err = {0};
    json_t *out = NULL;
    assert_int_equal(dp_engine_mode_set(e, NULL, mode, &out, &err), 0);
    json_decref(out);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void test_proxy_mock_journalled_when_reported(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char id[160];
    snprintf(id, sizeof(id), "%s",
             t_put(e, "{\"http\":{\"route\":\"/p/*\"},"
                      "\"proxy\":{\"target\":\"http://up.example\"}}"));
    doppel_reply_t *r =
        match_ex(e,
                 REQ(.path = "/p/orders", .method = "POST", .body = "{}",
                     .h = {"Authorization", "Bearer SEKRIT", "X-Trace", "t1"}),
                 DP_MATCH_DEFER_FORWARD);
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    /* nothing yet: the upstream has not answered */
    assert_int_equal(journal_len(e), 0);
    sleep_ms(20);
    assert_int_equal(dp_engine_forwarded(r, 201, NULL), 0);
    json_t *items = journal(e);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(int_of(it, "status"), 201);
    assert_true(json_is_true(json_object_get(it, "forwarded")));
    assert_string_equal(str_of(it, "mockId"), id);
    assert_string_equal(str_of(it, "method"), "POST");
    assert_string_equal(str_of(it, "path"), "/p/orders");
    /* the latency runs up to the report, not just the match */
    assert_true(int_of(it, "latencyUs") >= 20000);
    assert_null(json_object_get(it, "forwardError"));
    assert_null(json_object_get(it, "service"));
    /* redacted like every entry */
    json_t *h = json_object_get(it, "headers");
    assert_string_equal(str_of(h, "authorization"), "[REDACTED]");
    assert_string_equal(str_of(h, "x-trace"), "t1");
    json_decref(items);
    /* once only; the free adds nothing */
    assert_int_equal(dp_engine_forwarded(r, 200, NULL), -EALREADY);
    dp_engine_reply_free(r);
    assert_int_equal(journal_len(e), 1);
    dp_engine_close(e);
}

static void test_abi_1_0_journals_at_match(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/p/*\"},"
             "\"proxy\":{\"target\":\"http://up.example\"}}");
    doppel_reply_t *r = match_ex(e, REQ(.path = "/p/x"), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    json_t *items = journal(e);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(int_of(it, "status"), 0);
    assert_null(json_object_get(it, "forwarded"));
    json_decref(items);
    /* already journalled: a report changes nothing */
    assert_int_equal(dp_engine_forwarded(r, 201, NULL), -EALREADY);
    dp_engine_reply_free(r);
    assert_int_equal(journal_len(e), 1);
    /* dp_engine_match is the 1.0 behaviour */
    r = t_match(e, REQ(.path = "/p/y"));
    assert_int_equal(journal_len(e), 2);
    dp_engine_reply_free(r);
    assert_int_equal(journal_len(e), 2);
    dp_engine_close(e);
}

static void test_services_and_failures(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, "{\"name\":\"shop\",\"target\":\"http://up.example\","
                  "\"pathPrefix\":\"/shop\"}");
    /* LEARN and PASSTHROUGH forward before any mock is looked at */
    set_mode(e, "LEARN");
    doppel_reply_t *r =
        match_ex(e, REQ(.path = "/shop/a"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_int_equal(dp_engine_forwarded(r, 502, "guard"), 0);
    dp_engine_reply_free(r);
    set_mode(e, "PASSTHROUGH");
    r = match_ex(e, REQ(.path = "/shop/b"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(dp_engine_forwarded(r, 504, "timeout"), 0);
    dp_engine_reply_free(r);
    /* SPY without a mock forwards too */
    set_mode(e, "SPY");
    r = match_ex(e, REQ(.path = "/shop/c"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_int_equal(dp_engine_forwarded(r, 200, ""), 0);
    dp_engine_reply_free(r);

    json_t *items = journal(e); /* newest first */
    assert_int_equal(json_array_size(items), 3);
    json_t *c = json_array_get(items, 0), *b = json_array_get(items, 1),
           *a = json_array_get(items, 2);
    assert_string_equal(str_of(a, "path"), "/shop/a");
    assert_int_equal(int_of(a, "status"), 502);
    assert_string_equal(str_of(a, "forwardError"), "guard");
    assert_string_equal(str_of(a, "service"), "shop");
    assert_true(json_is_true(json_object_get(a, "forwarded")));
    assert_int_equal(int_of(b, "status"), 504);
    assert_string_equal(str_of(b, "forwardError"), "timeout");
    assert_string_equal(str_of(b, "service"), "shop");
    assert_int_equal(int_of(c, "status"), 200);
    assert_null(json_object_get(c, "forwardError"));
    assert_string_equal(str_of(c, "service"), "shop");
    json_decref(items);
    dp_engine_close(e);
}

static void test_unreported_reply_is_journalled_at_free(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, "{\"name\":\"api\",\"target\":\"http://up.example\","
                  "\"pathPrefix\":\"/api\"}");
    set_mode(e, "PASSTHROUGH");
    doppel_reply_t *r =
        match_ex(e, REQ(.path = "/api/x"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(journal_len(e), 0);
    dp_engine_reply_free(r);
    json_t *items = journal(e);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(int_of(it, "status"), 0);
    assert_null(json_object_get(it, "forwarded"));
    assert_string_equal(str_of(it, "service"), "api");
    json_decref(items);
    dp_engine_close(e);
}

static void test_bad_reports_change_nothing(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/p\"},"
             "\"proxy\":{\"target\":\"http://up.example\"}}");
    t_put(e, "{\"http\":{\"route\":\"/m\"},\"response\":{\"statusCode\":200}}");
    /* an ordinary answer is journalled at match; it cannot be reported */
    doppel_reply_t *m = match_ex(e, REQ(.path = "/m"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(m->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(journal_len(e), 1);
    assert_int_equal(dp_engine_forwarded(m, 200, NULL), -EINVAL);
    dp_engine_reply_free(m);
    /* a miss neither */
    m = match_ex(e, REQ(.path = "/none"), DP_MATCH_DEFER_FORWARD);
    assert_int_equal(m->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(dp_engine_forwarded(m, 404, NULL), -EINVAL);
    dp_engine_reply_free(m);
    assert_int_equal(dp_engine_forwarded(NULL, 200, NULL), -EINVAL);

    doppel_reply_t *r = match_ex(e, REQ(.path = "/p"), DP_MATCH_DEFER_FORWARD);
    static const int bad_status[] = {0, 99, 600, -1, 1000000};
    for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++)
        assert_int_equal(dp_engine_forwarded(r, bad_status[i], NULL), -EINVAL);
    static const char *const bad_reason[] = {
        "Guard", "time-out", "a b",    "sixteen_chars_xx",
        "\"x\"", "\xc3\xa9", "guard\n"};
    for (size_t i = 0; i < sizeof(bad_reason) / sizeof(bad_reason[0]); i++)
        assert_int_equal(dp_engine_forwarded(r, 502, bad_reason[i]), -EINVAL);
    assert_int_equal(journal_len(e), 1); /* still only /m */
    /* the longest reason that fits, after all the refusals */
    assert_int_equal(dp_engine_forwarded(r, 599, "fifteen_chars_x"), 0);
    dp_engine_reply_free(r);
    json_t *items = journal(e);
    assert_int_equal(json_array_size(items), 2);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(int_of(it, "status"), 599);
    assert_string_equal(str_of(it, "forwardError"), "fifteen_chars_x");
    json_decref(items);
    dp_engine_close(e);
}

/* Many replies reported from several threads at once: every entry lands
 * once, with its own status. */
typedef struct fw_job {
    dp_engine_t *e;
    int base;
} fw_job_t;

static void *fw_thread(void *arg)
{
    fw_job_t *j = arg;
    for (int i = 0; i < 50; i++) {
        doppel_reply_t *r =
            match_ex(j->e, REQ(.path = "/p"), DP_MATCH_DEFER_FORWARD);
        if (dp_engine_forwarded(r, j->base + (i % 2), NULL) != 0)
            abort();
        dp_engine_reply_free(r);
    }
    return NULL;
}

static void test_concurrent_reports(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/p\"},"
             "\"proxy\":{\"target\":\"http://up.example\"}}");
    pthread_t th[4];
    fw_job_t jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (fw_job_t){e, 200 + 100 * i};
        assert_int_equal(pthread_create(&th[i], NULL, fw_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    json_t *j = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 1000, &j), 0);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 200);
    int count[600] = {0};
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it)
    {
        json_int_t s = int_of(it, "status");
        assert_true(s >= 200 && s < 600);
        count[s]++;
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(count[200 + 100 * i], 25);
        assert_int_equal(count[201 + 100 * i], 25);
    }
    json_decref(j);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_mock_journalled_when_reported),
        cmocka_unit_test(test_abi_1_0_journals_at_match),
        cmocka_unit_test(test_services_and_failures),
        cmocka_unit_test(test_unreported_reply_is_journalled_at_free),
        cmocka_unit_test(test_bad_reports_change_nothing),
        cmocka_unit_test(test_concurrent_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
