/*
 * Admin reads (get, list, stores) come from the published snapshot and never
 * wait for a write: a storage back end that blocks inside a write (as an
 * fsync can) holds the writer mutex, and reads must still return.
 */
#include <pthread.h>
#include <time.h>

#include "test_engine_util.h"

/* A back end that forwards to another one, except that a mocks_put (or
 * store_put) blocks once armed, until released. */
typedef struct slow_storage {
    dp_storage_t base;
    dp_storage_ops_t ops;
    dp_storage_t *inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed;   /* the next write blocks */
    int blocked; /* a write is blocked now */
    int release; /* let it go */
} slow_storage_t;

static slow_storage_t *slow_of(dp_storage_t *s)
{
    return (slow_storage_t *)s;
}

static void slow_block(slow_storage_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->armed) {
        s->armed = 0;
        s->blocked = 1;
        pthread_cond_broadcast(&s->cv);
        while (!s->release)
            pthread_cond_wait(&s->cv, &s->mu);
        s->blocked = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

static int slow_mocks_put(dp_storage_t *st, const dp_stored_mock_t *m, size_t n)
{
    slow_storage_t *s = slow_of(st);
    slow_block(s);
    return s->inner->ops->mocks_put(s->inner, m, n);
}

static int slow_store_put(dp_storage_t *st, const dp_store_entry_t *e, size_t n)
{
    slow_storage_t *s = slow_of(st);
    slow_block(s);
    return s->inner->ops->store_put(s->inner, e, n);
}

static void slow_close(dp_storage_t *st)
{
    slow_storage_t *s = slow_of(st);
    s->inner->ops->close(s->inner);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

#define FWD(name, ...) static int slow_##name(dp_storage_t *st, __VA_ARGS__)

FWD(mocks_delete, const char *const *ids, size_t n)
{
    slow_storage_t *s = slow_of(st);
    return s->inner->ops->mocks_delete(s->inner, ids, n);
}
FWD(mocks_load, dp_mock_load_cb cb, void *arg)
{
    slow_storage_t *s = slow_of(st);
    return s->inner->ops->mocks_load(s->inner, cb, arg);
}
FWD(store_load, dp_store_load_cb cb, void *arg)
{
    slow_storage_t *s = slow_of(st);
    return s->inner->ops->store_load(s->inner, cb, arg);
}
FWD(reset_ns, const char *ns)
{
    slow_storage_t *s = slow_of(st);
    return s->inner->ops->reset_ns(s->inner, ns);
}

static int slow_mocks_put_versions(dp_storage_t *st, const dp_stored_mock_t *m,
                                   size_t n, const dp_mock_version_t *v,
                                   size_t nv, unsigned keep)
{
    slow_storage_t *s = slow_of(st);
    slow_block(s); /* a mock write that keeps versions is a mock write */
    return s->inner->ops->mocks_put_versions(s->inner, m, n, v, nv, keep);
}
FWD(versions_load, const char *id, dp_version_load_cb cb, void *arg)
{
    slow_storage_t *s = slow_of(st);
    return s->inner->ops->versions_load(s->inner, id, cb, arg);
}

static dp_storage_t *slow_new(void)
{
    slow_storage_t *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->inner = t_storage();
    s->ops = *s->inner->ops;
    s->ops.name = "slow";
    s->ops.mocks_put = slow_mocks_put;
    s->ops.store_put = slow_store_put;
    s->ops.mocks_delete = slow_mocks_delete;
    s->ops.mocks_load = slow_mocks_load;
    s->ops.store_load = slow_store_load;
    s->ops.reset_ns = slow_reset_ns;
    s->ops.close = slow_close;
    /* usage and config rows: the inner back end's own, or none */
    s->ops.usage_put = NULL;
    s->ops.usage_load = NULL;
    s->ops.config_put = NULL;
    s->ops.config_load = NULL;
    /* every op copied from the inner back end above would get this one as
     * its storage: forward the ones the engine writes mocks with, drop the
     * others (grouping, template files: none) */
    if (s->inner->ops->mocks_put_versions) {
        s->ops.mocks_put_versions = slow_mocks_put_versions;
        s->ops.versions_load = slow_versions_load;
    }
    s->ops.group_begin = NULL;
    s->ops.group_end = NULL;
    s->ops.audit_put = NULL;
    s->ops.tfiles_put = NULL;
    s->ops.tfiles_load = NULL;
    s->base.ops = &s->ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return &s->base;
}

static dp_engine_t *open_slow(slow_storage_t **out)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.seed = 42;
    dp_storage_t *st = slow_new();
    *out = slow_of(st);
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, st, &e, &err), 0);
    return e;
}

/* ---- the write that blocks, on its own thread ---------------------------- */

enum { W_MOCK, W_STORE, W_FLUSH };

typedef struct writer {
    dp_engine_t *e;
    int what; /* W_MOCK, W_STORE or W_FLUSH */
    int rc;
} writer_t;

static void *write_main(void *arg)
{
    writer_t *w = arg;
    dp_err_t err = {0};
    if (w->what == W_FLUSH) {
        w->rc = dp_engine_flush(w->e);
    } else if (w->what == W_STORE) {
        json_t *v = json_integer(2);
        w->rc = dp_engine_store_set(w->e, "reads", 'g', NULL, "k", v, &err);
        json_decref(v);
    } else {
        json_t *m = t_json("{\"id\":\"slow\",\"namespace\":\"reads\","
                           "\"http\":{\"route\":\"/slow\"},"
                           "\"response\":{\"payload\":1}}");
        json_t *stored = NULL;
        w->rc = dp_engine_mock_put(w->e, m, NULL, &stored, NULL, &err);
        json_decref(stored);
        json_decref(m);
    }
    return NULL;
}

/* ---- the reads, on another thread, with a deadline ----------------------- */

typedef struct reader {
    dp_engine_t *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int get_rc, list_rc, store_rc;
    json_t *got, *list, *store;
} reader_t;

static void *read_main(void *arg)
{
    reader_t *r = arg;
    dp_err_t err = {0};
    r->get_rc = dp_engine_mock_get(r->e, "one", &r->got, &err);
    dp_mock_query_t q = {.ns = "reads", .limit = 10};
    r->list_rc = dp_engine_mock_list(r->e, &q, &r->list, &err);
    r->store_rc =
        dp_engine_store_get(r->e, "reads", 'g', NULL, "k", &r->store, &err);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void reads_while_a_write_blocks(int what)
{
    slow_storage_t *s;
    dp_engine_t *e = open_slow(&s);
    dp_err_t err = {0};
    json_t *m = t_json("{\"id\":\"one\",\"namespace\":\"reads\","
                       "\"tags\":[\"t\"],\"http\":{\"route\":\"/one\"},"
                       "\"response\":{\"payload\":1}}");
    json_t *stored = NULL;
    assert_int_equal(dp_engine_mock_put(e, m, NULL, &stored, NULL, &err), 0);
    json_decref(stored);
    json_decref(m);
    json_t *v = json_integer(1);
    assert_int_equal(dp_engine_store_set(e, "reads", 'g', NULL, "k", v, &err),
                     0);
    json_decref(v);
    /* a request uses the mock: its counters are for the flush to write */
    t_req_t req = {.path = "/one", .ns = "reads"};
    assert_string_equal(t_who(e, &req), "one");

    /* a write stuck in storage, holding the writer mutex */
    pthread_mutex_lock(&s->mu);
    s->armed = 1;
    pthread_mutex_unlock(&s->mu);
    writer_t w = {.e = e, .what = what};
    pthread_t wt, rt;
    assert_int_equal(pthread_create(&wt, NULL, write_main, &w), 0);
    pthread_mutex_lock(&s->mu);
    while (!s->blocked)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);

    reader_t r = {.e = e};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    assert_int_equal(pthread_create(&rt, NULL, read_main, &r), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3;
    pthread_mutex_lock(&r.mu);
    while (!r.done)
        if (pthread_cond_timedwait(&r.cv, &r.mu, &dl) != 0)
            break;
    int done_in_time = r.done;
    pthread_mutex_unlock(&r.mu);

    /* let the write finish whatever happened, so that nothing hangs */
    pthread_mutex_lock(&s->mu);
    s->release = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);

    assert_true(done_in_time); /* the reads did not wait for the write */
    assert_int_equal(w.rc, 0);
    assert_int_equal(r.get_rc, 0);
    assert_string_equal(json_string_value(json_object_get(r.got, "id")), "one");
    assert_int_equal(r.list_rc, 0);
    /* what the reads saw is what was committed: not the write in flight */
    json_t *items = json_object_get(r.list, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "id")),
        "one");
    assert_int_equal(r.store_rc, 0);
    assert_int_equal(json_integer_value(r.store), 1);
    json_decref(r.got);
    json_decref(r.list);
    json_decref(r.store);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);

    /* and afterwards the write is visible */
    json_t *got = NULL;
    int rc = dp_engine_mock_get(e, what == W_MOCK ? "slow" : "one", &got, &err);
    assert_int_equal(rc, 0);
    json_decref(got);
    dp_engine_close(e);
}

static void test_reads_while_a_mock_write_blocks(void **state)
{
    (void)state;
    reads_while_a_write_blocks(W_MOCK);
}

static void test_reads_while_a_store_write_blocks(void **state)
{
    (void)state;
    reads_while_a_write_blocks(W_STORE);
}

/* The once-a-second flush writes under the writer mutex too. */
static void test_reads_while_the_flush_blocks(void **state)
{
    (void)state;
    reads_while_a_write_blocks(W_FLUSH);
}

/* A list with a tag filter and a search reads the mocks' JSON text from the
 * snapshot too, and sees closes and purges once they are committed. */
static void test_list_and_get_follow_commits(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_err_t err = {0};
    for (int i = 0; i < 5; i++) {
        char txt[256];
        snprintf(
            txt, sizeof(txt),
            "{\"id\":\"m%d\",\"namespace\":\"reads\",\"tags\":[\"%s\"],"
            "\"http\":{\"route\":\"/r/%d\"},\"response\":{\"payload\":%d}}",
            i, i % 2 ? "odd" : "even", i, i);
        json_t *m = t_json(txt);
        assert_int_equal(dp_engine_mock_put(e, m, NULL, NULL, NULL, &err), 0);
        json_decref(m);
    }
    const char *tags[] = {"odd"};
    dp_mock_query_t q = {.ns = "reads", .tags = tags, .n_tags = 1};
    json_t *out = NULL;
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);
    dp_mock_query_t s = {.ns = "reads", .search = "/r/3"};
    assert_int_equal(dp_engine_mock_list(e, &s, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);

    assert_int_equal(dp_engine_mock_close(e, "m1", NULL, &err), 0);
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    json_t *got = NULL;
    assert_int_equal(dp_engine_mock_get(e, "m1", &got, &err), 0);
    assert_false(json_is_null(json_object_get(got, "closedAt")));
    json_decref(got);

    assert_int_equal(dp_engine_mock_purge(e, "m3", &err), 0);
    assert_int_equal(dp_engine_mock_get(e, "m3", &got, &err), -ENOENT);
    assert_int_equal(err.status, 404);
    dp_mock_query_t all = {.ns = "reads", .include_closed = 1};
    assert_int_equal(dp_engine_mock_list(e, &all, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    json_decref(out);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_while_a_mock_write_blocks),
        cmocka_unit_test(test_reads_while_a_store_write_blocks),
        cmocka_unit_test(test_reads_while_the_flush_blocks),
        cmocka_unit_test(test_list_and_get_follow_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
