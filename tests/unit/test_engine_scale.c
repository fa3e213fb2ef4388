/* 10,000 mocks: one batch, every one reachable by its own path, replaced
 * and purged. Prints (never asserts) the times and RSS it saw, for the
 * report in docs/engine.md. */
#include <malloc.h>
#include <time.h>

#include "test_engine_util.h"

#define N 10000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void test_ten_thousand(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *batch = json_array();
    for (int i = 0; i < N; i++)
        json_array_append_new(
            batch,
            json_pack("{s:s%, s:{s:s%, s:s}, s:{s:i, s:{s:i}}}", "id", "", 0,
                      "http", "route", "", 0, "httpMethod", "GET", "response",
                      "statusCode", 200, "payload", "n", i));
    for (int i = 0; i < N; i++) {
        char id[32], route[48];
        snprintf(id, sizeof(id), "m-%d", i);
        snprintf(route, sizeof(route), "/api/v1/items/%d/detail", i);
        json_t *m = json_array_get(batch, (size_t)i);
        json_object_set_new(m, "id", json_string(id));
        json_object_set_new(json_object_get(m, "http"), "route",
                            json_string(route));
    }
    long rss0 = rss_kib();
    double t0 = now_ms();
    json_t *stored = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put_batch(e, batch, NULL, &stored, &err),
                     0);
    double t1 = now_ms();
    assert_int_equal(json_array_size(stored), N);
    json_decref(stored);
    json_decref(batch);
    fprintf(stderr, "after batch: in use %zu KiB + mmapped %zu KiB, RSS %ld KiB\n",
            mallinfo2().uordblks / 1024, mallinfo2().hblkhd / 1024, rss_kib());
    assert_int_equal(dp_engine_mock_count(e, 1), N);

    for (int i = 0; i < N; i += 997) {
        char path[64], id[32];
        snprintf(path, sizeof(path), "/api/v1/items/%d/detail", i);
        snprintf(id, sizeof(id), "m-%d", i);
        assert_string_equal(t_who(e, REQ(.path = path)), id);
    }
    double t2 = now_ms();
    for (int i = 0; i < 20000; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/v1/items/%d/detail", (i * 7) % N);
        doppel_reply_t *r = t_match(e, REQ(.path = path));
        assert_int_equal(r->status, 200);
        dp_engine_reply_free(r);
    }
    double t3 = now_ms();
    /* one write rebuilds the whole index */
    json_t *one = t_json("{\"id\":\"m-5\",\"http\":{\"route\":\"/x\"},"
                         "\"response\":{}}");
    int ow = 0;
    double t4 = now_ms();
    assert_int_equal(dp_engine_mock_put(e, one, NULL, NULL, &ow, &err), 0);
    double t5 = now_ms();
    json_decref(one);
    assert_int_equal(ow, 1);
    assert_string_equal(t_who(e, REQ(.path = "/api/v1/items/5/detail")), "");
    assert_string_equal(t_who(e, REQ(.path = "/x")), "m-5");
    long rss1 = rss_kib();
    fprintf(stderr, "in use %zu KiB + mmapped %zu KiB\n",
            mallinfo2().uordblks / 1024, mallinfo2().hblkhd / 1024);
    fprintf(stderr,
            "scale: batch of %d in %.1f ms; %.2f us per match; one write "
            "(index rebuild) %.1f ms; RSS %ld -> %ld KiB\n",
            N, t1 - t0, (t3 - t2) * 1000.0 / 20000, t5 - t4, rss0, rss1);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
