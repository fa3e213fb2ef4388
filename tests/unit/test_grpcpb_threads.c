/* dp_grpcpb: a frozen pool is read by many threads at once (the plugin's
 * worker loops share it), and a reference held by a call in flight keeps a
 * swapped-out pool alive. Run under ASan and TSan. */
#include <pthread.h>

#include "test_grpcpb_util.h"

#define NTHREADS 4
#define ROUNDS 300

static gpb_pool_t *shared;

static void *worker(void *arg)
{
    long id = (long)arg;
    gpb_pool_t *pool = shared; /* the reference taken for this thread */
    char err[GPB_ERR_MAX];
    long failures = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"orderId\": \"t%ld-%d\", \"items\": [{\"sku\": \"s\","
                 " \"qty\": %d}], \"createdAt\": \"2024-01-02T03:04:05Z\","
                 " \"attachment\": {\"@type\": \"type.googleapis.com/"
                 "shop.v1.Item\", \"qty\": 1}}",
                 id, i, i);
        uint8_t *bin = NULL;
        size_t bl;
        if (gpb_encode_from_json(pool, "shop.v1.Order", json, strlen(json), 0,
                                 &bin, &bl, err, sizeof(err)) != 0) {
            failures++;
            continue;
        }
        char *out = NULL;
        size_t ol;
        char want[64];
        snprintf(want, sizeof(want), "\"orderId\":\"t%ld-%d\"", id, i);
        if (gpb_decode_to_json(pool, "shop.v1.Order", bin, bl, &out, &ol, err,
                               sizeof(err)) != 0 ||
            strstr(out, want) == NULL)
            failures++;
        free(out);
        free(bin);
        if (gpb_check_json(pool, "shop.v1.Order", json, strlen(json), "payload",
                           0, err, sizeof(err)) != 0)
            failures++;
        char path[64];
        if (gpb_field_path_normalise(pool, "shop.v1.Order", "items.0.sku", 0,
                                     path, sizeof(path), err, sizeof(err)) != 0)
            failures++;
        gpb_method_info_t mi;
        if (gpb_method_find(pool, "shop.v1.OrderService", "Watch", &mi, err,
                            sizeof(err)) != 0 ||
            !mi.server_streaming)
            failures++;
        gpb_blobs_t b;
        if (gpb_reflect_file_containing_symbol(pool, "shop.v1.Item", &b, err,
                                               sizeof(err)) != 0)
            failures++;
        gpb_blobs_free(&b);
        /* one text shared by every thread: the encode cache's slots */
        const char *same = "{\"sku\": \"same\", \"qty\": 1}";
        uint8_t *sb = NULL;
        size_t sl0;
        if (gpb_encode_from_json(pool, "shop.v1.Item", same, strlen(same), 0,
                                 &sb, &sl0, err, sizeof(err)) != 0 ||
            sl0 != 8 || memcmp(sb, "\x0a\x04same\x10\x01", 8) != 0)
            failures++;
        free(sb);
        uint8_t *st = NULL;
        size_t sl;
        const char *det = "[{\"type\": \"debugInfo\", \"details\": "
                          "{\"detail\": \"d\"}}]";
        if (gpb_status_details_bin(pool, 5, "x", det, strlen(det), &st, &sl,
                                   err, sizeof(err)) != 0)
            failures++;
        free(st);
    }
    gpb_pool_unref(pool);
    return (void *)failures;
}

static void test_many_readers(void **st)
{
    (void)st;
    shared = shop_pool();
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++) {
        gpb_pool_ref(shared); /* one per call in flight, dropped by it */
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)i), 0);
    }
    /* the plugin swaps pools while calls run: drop our reference now */
    gpb_pool_unref(shared);
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_int_equal((long)r, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
