/* The mock model: validation with field paths, put / get / patch / close /
 * restore / purge / list, batches, and reopening from storage. */
#include "test_engine_util.h"

#define OKR "\"response\":{}"

static size_t count(dp_engine_t *e)
{
    return dp_engine_mock_count(e, 0);
}

static void test_validation_field_paths(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    struct {
        const char *mock, *field;
    } cases[] = {
        {"[1,2]", ""},
        {"{" OKR "}", "http"},
        {"{\"http\":{\"route\":\"/a\"},\"grpc\":{}," OKR "}", "grpc"},
        {"{\"grpc\":{}," OKR "}", "grpc"},
        {"{\"http\":{\"route\":\"a\"}," OKR "}", "http.route"},
        {"{\"http\":{\"route\":\"/a/:\"}," OKR "}", "http.route"},
        {"{\"http\":{}," OKR "}", "http.route"},
        {"{\"http\":{\"routePattern\":\"(\"}," OKR "}", "http.routePattern"},
        /* found by fuzz_mock: glibc regcomp explodes on stacked repeats */
        {"{\"http\":{\"routePattern\":\"/a+++++++++++\"}," OKR "}",
         "http.routePattern"},
        {"{\"http\":{\"routePattern\":\"((a{60}){60}){60}\"}," OKR "}",
         "http.routePattern"},
        {"{\"http\":{\"route\":\"/a\",\"httpMethod\":\"G T\"}," OKR "}",
         "http.httpMethod"},
        {"{\"http\":{\"route\":\"/a\",\"conditions\":{}}," OKR "}",
         "http.conditions"},
        {"{\"http\":{\"route\":\"/a\",\"conditions\":[{\"path\":\"a\","
         "\"assertAction\":\"nope\"}]}," OKR "}",
         "http.conditions[0].assertAction"},
        {"{\"http\":{\"route\":\"/a\"},\"priority\":\"high\"," OKR "}",
         "priority"},
        {"{\"http\":{\"route\":\"/a\"},\"ttl\":-1," OKR "}", "ttl"},
        {"{\"http\":{\"route\":\"/a\"},\"useLimiter\":-1," OKR "}",
         "useLimiter"},
        {"{\"http\":{\"route\":\"/a\"},\"tags\":[1]," OKR "}", "tags"},
        {"{\"http\":{\"route\":\"/a\"},\"namespace\":\"\"," OKR "}",
         "namespace"},
        /* the name rule of namespaces everywhere (doppel_name_valid) */
        {"{\"http\":{\"route\":\"/a\"},\"namespace\":\"../../etc\"," OKR "}",
         "namespace"},
        {"{\"http\":{\"route\":\"/a\"},\"namespace\":\"a b/c\"," OKR "}",
         "namespace"},
        {"{\"http\":{\"route\":\"/a\"},\"id\":5," OKR "}", "id"},
        {"{\"http\":{\"route\":\"/a\"}}", "response"},
        {"{\"http\":{\"route\":\"/a\"}," OKR ",\"proxy\":{}}", "proxy"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"statusCode\":99}}",
         "response.statusCode"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"statusCode\":\"200\"}}",
         "response.statusCode"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"delay\":300001}}",
         "response.delay"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"headers\":{\"X\":"
         "\"a\\r\\nb\"}}}",
         "response.headers.X"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"decode\":\"base64\","
         "\"payload\":\"!!\"}}",
         "response.payload"},
        {"{\"http\":{\"route\":\"/a\"},\"response\":{\"payload\":{\"user\":"
         "{\"name\":\"$.fake.NoSuchFaker\"}}}}",
         "response.payload.user.name"},
        {"{\"http\":{\"route\":\"/a\"},\"oneOf\":{\"responses\":[]}}",
         "oneOf.responses"},
        {"{\"http\":{\"route\":\"/a\"},\"oneOf\":{\"order\":\"x\","
         "\"responses\":[{}]}}",
         "oneOf.order"},
        {"{\"http\":{\"route\":\"/a\"},\"oneOf\":{\"offset\":-1,"
         "\"responses\":[{}]}}",
         "oneOf.offset"},
        {"{\"http\":{\"route\":\"/a\"},\"oneOf\":{\"offset\":\"1\","
         "\"responses\":[{}]}}",
         "oneOf.offset"},
        {"{\"http\":{\"route\":\"/a\"},\"oneOf\":{\"responses\":[{},"
         "{\"statusCode\":1000}]}}",
         "oneOf.responses[1].statusCode"},
        {"{\"http\":{\"route\":\"/a\"},\"proxy\":{\"target\":\"ftp://x\"}}",
         "proxy.target"},
        {"{\"http\":{\"route\":\"/a\"},\"extract\":{\"cStore\":{\"k\":\"v\"}},"
         OKR "}",
         "extract.cStore"},
        {"{\"http\":{\"route\":\"/a\"},\"extract\":{\"xStore\":{}}," OKR "}",
         "extract.xStore"},
        {"{\"http\":{\"route\":\"/a\"},\"mStore\":[]," OKR "}", "mStore"},
        {"{\"http\":{\"route\":\"/a\"},\"webhooks\":5," OKR "}", "webhooks"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_put_fails(e, cases[i].mock, cases[i].field);
        /* the dry run gives the same answer */
        json_t *m = t_json(cases[i].mock);
        dp_err_t err = {0};
        assert_int_not_equal(dp_engine_mock_validate(e, m, NULL, &err), 0);
        assert_string_equal(err.field, cases[i].field);
        json_decref(m);
    }
    assert_int_equal(count(e), 0);
    dp_engine_close(e);
}

static void test_priority_message(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *m = t_json("{\"http\":{\"route\":\"/a\"},\"priority\":1.5," OKR "}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put(e, m, NULL, NULL, NULL, &err),
                     -EINVAL);
    assert_string_equal(err.field, "priority");
    assert_string_equal(err.message, "expected an integer");
    json_decref(m);
    dp_engine_close(e);
}

static void test_put_get_replace(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *m = t_json("{\"http\":{\"route\":\"/a\"},\"response\":{},"
                       "\"x-custom\":{\"kept\":true},\"createdAt\":1,"
                       "\"_meta\":{\"useCounter\":9}}");
    json_t *st = NULL;
    int ow = -1;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put(e, m, "team-a", &st, &ow, &err), 0);
    assert_int_equal(ow, 0);
    const char *id = json_string_value(json_object_get(st, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 36); /* generated UUID */
    assert_int_equal(id[14], '4');
    char idc[64];
    strcpy(idc, id);
    assert_string_equal(
        json_string_value(json_object_get(st, "namespace")), "team-a");
    json_decref(st);

    json_t *got = NULL;
    assert_int_equal(dp_engine_mock_get(e, idc, &got, &err), 0);
    /* unknown keys are kept */
    assert_true(json_is_true(
        json_object_get(json_object_get(got, "x-custom"), "kept")));
    /* server fields are the server's, mirrored under _meta */
    json_t *meta = json_object_get(got, "_meta");
    assert_non_null(meta);
    assert_int_equal(json_integer_value(json_object_get(meta, "useCounter")),
                     0);
    assert_true(json_integer_value(json_object_get(got, "createdAt")) > 1);
    assert_true(json_equal(json_object_get(meta, "createdAt"),
                           json_object_get(got, "createdAt")));
    assert_true(json_is_null(json_object_get(meta, "closedAt")));
    json_decref(got);

    /* same id again replaces it */
    json_t *m2 = json_pack("{s:s, s:{s:s}, s:{s:i}}", "id", idc, "http",
                           "route", "/b", "response", "statusCode", 201);
    assert_int_equal(dp_engine_mock_put(e, m2, NULL, &st, &ow, &err), 0);
    assert_int_equal(ow, 1);
    json_decref(st);
    assert_int_equal(count(e), 1);
    assert_string_equal(t_who(e, REQ(.path = "/a")), "");
    /* replaced mock keeps no namespace from before: default sandbox */
    assert_string_equal(t_who(e, REQ(.path = "/b")), idc);
    assert_int_equal(dp_engine_mock_get(e, "nope", &got, &err), -ENOENT);
    assert_int_equal(err.status, 404);
    json_decref(m);
    json_decref(m2);
    dp_engine_close(e);
}

static void test_patch(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/p\"},\"priority\":3,"
                        "\"tags\":[\"a\"],\"response\":{\"statusCode\":200}}"));
    assert_string_equal(t_who(e, REQ(.path = "/p")), id);
    json_t *patch = t_json("{\"response\":{\"statusCode\":202},\"tags\":null}");
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_patch(e, id, patch, &out, &err), 0);
    assert_null(json_object_get(out, "tags"));
    assert_int_equal(json_integer_value(json_object_get(out, "priority")), 3);
    /* the use made before the patch is kept */
    assert_int_equal(json_integer_value(json_object_get(out, "useCounter")),
                     1);
    json_decref(out);
    json_decref(patch);
    doppel_reply_t *r = t_match(e, REQ(.path = "/p"));
    assert_int_equal(r->status, 202);
    dp_engine_reply_free(r);

    /* an invalid patch changes nothing */
    patch = t_json("{\"http\":{\"route\":\"nope\"}}");
    assert_int_equal(dp_engine_mock_patch(e, id, patch, &out, &err), -EINVAL);
    assert_string_equal(err.field, "http.route");
    json_decref(patch);
    assert_string_equal(t_who(e, REQ(.path = "/p")), id);
    patch = t_json("{\"id\":\"other\"}");
    assert_int_equal(dp_engine_mock_patch(e, id, patch, &out, &err), -EINVAL);
    assert_string_equal(err.field, "id");
    json_decref(patch);
    patch = t_json("{\"namespace\":\"../../etc\"}");
    assert_int_equal(dp_engine_mock_patch(e, id, patch, &out, &err), -EINVAL);
    assert_string_equal(err.field, "namespace");
    json_decref(patch);
    patch = t_json("{\"useCounter\":0}");
    assert_int_equal(dp_engine_mock_patch(e, id, patch, &out, &err), -EINVAL);
    assert_string_equal(err.field, "useCounter");
    json_decref(patch);
    patch = t_json("{}");
    assert_int_equal(dp_engine_mock_patch(e, "missing", patch, &out, &err),
                     -ENOENT);
    json_decref(patch);
    dp_engine_close(e);
}

static int64_t fixed_now = 1000000;
static int64_t test_clock(void *ud)
{
    (void)ud;
    return fixed_now;
}

static void test_close_restore_purge(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, test_clock, NULL);
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/c\"}," OKR "}"));
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_close(e, id, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "closedAt")),
                     fixed_now);
    json_decref(out);
    assert_string_equal(t_who(e, REQ(.path = "/c")), "");
    assert_int_equal(dp_engine_mock_count(e, 1), 0);
    assert_int_equal(dp_engine_mock_count(e, 0), 1);
    assert_int_equal(dp_engine_mock_restore(e, id, &out, &err), 0);
    assert_true(json_is_null(json_object_get(out, "closedAt")));
    json_decref(out);
    assert_string_equal(t_who(e, REQ(.path = "/c")), id);

    /* close_batch is all or nothing */
    json_t *ids = json_pack("[s,s]", id, "unknown-id");
    size_t closed = 99;
    assert_int_equal(dp_engine_mock_close_batch(e, ids, &closed, &err),
                     -ENOENT);
    assert_int_equal(err.status, 404);
    assert_int_equal(closed, 0);
    assert_string_equal(t_who(e, REQ(.path = "/c")), id);
    json_decref(ids);
    ids = json_pack("[s]", id);
    assert_int_equal(dp_engine_mock_close_batch(e, ids, &closed, &err), 0);
    assert_int_equal(closed, 1);
    assert_string_equal(t_who(e, REQ(.path = "/c")), "");
    json_decref(ids);

    assert_int_equal(dp_engine_mock_purge(e, id, &err), 0);
    assert_int_equal(dp_engine_mock_get(e, id, &out, &err), -ENOENT);
    assert_int_equal(dp_engine_mock_purge(e, id, &err), -ENOENT);
    assert_int_equal(count(e), 0);
    dp_engine_close(e);
}

static void test_batch_all_or_nothing(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char keep[64];
    strcpy(keep, t_put(e, "{\"id\":\"keep\",\"http\":{\"route\":\"/k\"},"
                          "\"response\":{\"statusCode\":200}}"));
    json_t *batch = t_json(
        "[{\"id\":\"keep\",\"http\":{\"route\":\"/k2\"}," OKR "},"
        "{\"http\":{\"route\":\"/ok\"}," OKR "},"
        "{\"http\":{\"route\":\"/ok2\"}," OKR "},"
        "{\"http\":{\"route\":\"bad\"}," OKR "}]");
    json_t *st = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put_batch(e, batch, NULL, &st, &err),
                     -EINVAL);
    assert_null(st);
    assert_string_equal(err.field, "[3].http.route");
    assert_int_equal(count(e), 1);
    assert_string_equal(t_who(e, REQ(.path = "/k")), "keep");
    assert_string_equal(t_who(e, REQ(.path = "/ok")), "");
    json_decref(batch);

    batch = t_json("[{\"http\":{\"route\":\"/ok\"}," OKR "},"
                   "{\"http\":{\"route\":\"/ok2\"}," OKR "}]");
    assert_int_equal(dp_engine_mock_put_batch(e, batch, "ns2", &st, &err), 0);
    assert_int_equal(json_array_size(st), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(st, 1), "namespace")),
                        "ns2");
    json_decref(st);
    json_decref(batch);
    assert_int_equal(count(e), 3);
    assert_string_not_equal(t_who(e, REQ(.path = "/ok2", .ns = "ns2")), "");
    assert_string_equal(t_who(e, REQ(.path = "/ok2")), "");
    dp_engine_close(e);
}

static void test_list(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, test_clock, NULL);
    char buf[256];
    for (int i = 0; i < 12; i++) {
        fixed_now = 2000 + i;
        snprintf(buf, sizeof(buf),
                 "{\"id\":\"m%02d\",\"namespace\":\"%s\",\"tags\":[%s],"
                 "\"http\":{\"route\":\"/list/%d\"}," OKR "}",
                 i, i % 2 ? "odd" : "even",
                 i % 3 == 0 ? "\"three\",\"x\"" : "\"x\"", i);
        t_put(e, buf);
    }
    dp_err_t err;
    assert_int_equal(dp_engine_mock_close(e, "m00", NULL, &err), 0);
    json_t *out = NULL;
    dp_mock_query_t q = {.ns = "even", .limit = 2};
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 5);
    assert_true(json_is_true(json_object_get(out, "hasMore")));
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    /* sorted by createdAt: m02 then m04 (m00 is closed) */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "id")),
        "m02");
    json_decref(out);
    q.offset = 4;
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_true(json_is_false(json_object_get(out, "hasMore")));
    json_decref(out);
    const char *tags[] = {"three"};
    dp_mock_query_t q2 = {.tags = tags, .n_tags = 1, .include_closed = 1};
    assert_int_equal(dp_engine_mock_list(e, &q2, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    json_decref(out);
    dp_mock_query_t q3 = {.search = "/list/1"};
    assert_int_equal(dp_engine_mock_list(e, &q3, &out, &err), 0);
    /* /list/1, /list/10, /list/11 */
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    json_decref(out);
    dp_engine_close(e);
}

/* A storage wrapper whose close keeps the data: a process restart. */
typedef struct keep_storage {
    dp_storage_t base;
    dp_storage_t *inner;
    int closes;
    int fail_puts;
    int usage_puts;
} keep_storage_t;

static keep_storage_t *ks_of(dp_storage_t *s)
{
    return (keep_storage_t *)s;
}
static int ks_mocks_put(dp_storage_t *s, const dp_stored_mock_t *m, size_t n)
{
    if (ks_of(s)->fail_puts)
        return -EIO;
    return ks_of(s)->inner->ops->mocks_put(ks_of(s)->inner, m, n);
}
static int ks_mocks_delete(dp_storage_t *s, const char *const *ids, size_t n)
{
    return ks_of(s)->inner->ops->mocks_delete(ks_of(s)->inner, ids, n);
}
static int ks_mocks_load(dp_storage_t *s, dp_mock_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->mocks_load(ks_of(s)->inner, cb, arg);
}
static int ks_store_put(dp_storage_t *s, const dp_store_entry_t *e, size_t n)
{
    if (ks_of(s)->fail_puts)
        return -EIO;
    return ks_of(s)->inner->ops->store_put(ks_of(s)->inner, e, n);
}
static int ks_store_load(dp_storage_t *s, dp_store_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->store_load(ks_of(s)->inner, cb, arg);
}
static int ks_reset_ns(dp_storage_t *s, const char *ns)
{
    return ks_of(s)->inner->ops->reset_ns(ks_of(s)->inner, ns);
}
static void ks_close(dp_storage_t *s)
{
    ks_of(s)->closes++;
}
static int ks_usage_put(dp_storage_t *s, const dp_mock_usage_t *u, size_t n)
{
    keep_storage_t *ks = ks_of(s);
    if (ks->fail_puts)
        return -EIO;
    ks->usage_puts++;
    return ks->inner->ops->usage_put(ks->inner, u, n);
}
static int ks_usage_load(dp_storage_t *s, dp_usage_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->usage_load(ks_of(s)->inner, cb, arg);
}
static int ks_config_put(dp_storage_t *s, const dp_config_row_t *r, size_t n)
{
    return ks_of(s)->inner->ops->config_put(ks_of(s)->inner, r, n);
}
static int ks_config_load(dp_storage_t *s, dp_config_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->config_load(ks_of(s)->inner, cb, arg);
}
static int ks_tfiles_put(dp_storage_t *s, const dp_tfile_row_t *r, size_t n)
{
    keep_storage_t *ks = ks_of(s);
    if (ks->fail_puts)
        return -EIO;
    return ks->inner->ops->tfiles_put(ks->inner, r, n);
}
static int ks_tfiles_load(dp_storage_t *s, dp_tfile_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->tfiles_load(ks_of(s)->inner, cb, arg);
}
static int ks_versions_load(dp_storage_t *s, const char *id,
                            dp_version_load_cb cb, void *arg)
{
    return ks_of(s)->inner->ops->versions_load(ks_of(s)->inner, id, cb, arg);
}
static int ks_mocks_put_versions(dp_storage_t *s, const dp_stored_mock_t *m,
                                 size_t n, const dp_mock_version_t *v,
                                 size_t nv, unsigned keep)
{
    keep_storage_t *ks = ks_of(s);
    if (ks->fail_puts)
        return -EIO;
    return ks->inner->ops->mocks_put_versions(ks->inner, m, n, v, nv, keep);
}
/* positional: the order of dp_storage_ops_t; no grouping (NULL) */
static const dp_storage_ops_t ks_ops = {
    "keep",           ks_mocks_put,         ks_mocks_delete, ks_mocks_load,
    ks_store_put,     ks_store_load,        ks_reset_ns,     ks_close,
    ks_usage_put,     ks_usage_load,        ks_config_put,   ks_config_load,
    NULL,             NULL,                 NULL,            ks_tfiles_put,
    ks_tfiles_load,   ks_versions_load,     ks_mocks_put_versions,
    NULL,             NULL};

static dp_engine_t *open_on(keep_storage_t *ks)
{
    ks->base.ops = &ks_ops;
    dp_engine_t *e = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_open(NULL, &ks->base, &e, &err), 0);
    return e;
}

static void test_reopen_keeps_everything(void **state)
{
    (void)state;
    keep_storage_t ks = {.inner = t_storage()};
    dp_engine_t *e = open_on(&ks);
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/r\"},\"useLimiter\":5,"
                        "\"mStore\":{\"seed\":1},"
                        "\"extract\":{\"gStore\":{\"last\":\"$.queryParam.v\"}},"
                        OKR "}"));
    dp_err_t err;
    json_t *v = json_integer(7);
    assert_int_equal(dp_engine_store_set(e, NULL, 'g', NULL, "admin", v, &err),
                     0);
    json_decref(v);
    assert_string_equal(t_who(e, REQ(.path = "/r", .q = {"v", "abc"})), id);
    assert_string_equal(t_who(e, REQ(.path = "/r", .q = {"v", "def"})), id);
    dp_engine_close(e); /* flushes counters and request-driven stores */
    assert_int_equal(ks.closes, 1);
    /* counters were persisted as usage rows, not by rewriting the mock */
    assert_true(ks.usage_puts >= 1);

    e = open_on(&ks);
    json_t *got = NULL;
    assert_int_equal(dp_engine_mock_get(e, id, &got, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "useCounter")),
                     2);
    assert_true(json_integer_value(json_object_get(got, "lastUse")) > 0);
    json_decref(got);
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, "last", &got,
                                         &err),
                     0);
    assert_string_equal(json_string_value(got), "def");
    json_decref(got);
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, "admin", &got,
                                         &err),
                     0);
    assert_int_equal(json_integer_value(got), 7);
    json_decref(got);
    assert_int_equal(dp_engine_store_get(e, NULL, 'm', id, "seed", &got, &err),
                     0);
    assert_int_equal(json_integer_value(got), 1);
    json_decref(got);
    assert_string_equal(t_who(e, REQ(.path = "/r")), id);
    dp_engine_close(e);
    ks.inner->ops->close(ks.inner);
}

static int usage_of_cb(void *arg, const dp_mock_usage_t *u)
{
    json_t *o = arg;
    json_object_set_new(o, u->id, json_integer(u->use_counter));
    return 0;
}

/* Stored use counters by mock id, read straight from the storage. */
static json_t *stored_usage(keep_storage_t *ks)
{
    json_t *o = json_object();
    assert_int_equal(ks->inner->ops->usage_load(ks->inner, usage_of_cb, o), 0);
    return o;
}

/* Counters that gate matching (useLimiter) are written at every flush; the
 * informational ones every DP_USAGE_FLUSH_EVERY flushes and at close. */
static void test_flush_writes_limited_counters_first(void **state)
{
    (void)state;
    keep_storage_t ks = {.inner = t_storage()};
    dp_engine_t *e = open_on(&ks);
    t_put(e, "{\"id\":\"lim\",\"http\":{\"route\":\"/l\"},"
             "\"useLimiter\":100," OKR "}");
    t_put(e, "{\"id\":\"free\",\"http\":{\"route\":\"/f\"}," OKR "}");
    t_who(e, REQ(.path = "/l"));
    t_who(e, REQ(.path = "/f"));
    assert_int_equal(dp_engine_flush(e), 0); /* the first flush: all */
    json_t *u = stored_usage(&ks);
    assert_int_equal(json_integer_value(json_object_get(u, "lim")), 1);
    assert_int_equal(json_integer_value(json_object_get(u, "free")), 1);
    json_decref(u);
    t_who(e, REQ(.path = "/l"));
    t_who(e, REQ(.path = "/f"));
    for (int i = 1; i < 10; i++)
        assert_int_equal(dp_engine_flush(e), 0);
    u = stored_usage(&ks);
    assert_int_equal(json_integer_value(json_object_get(u, "lim")), 2);
    assert_int_equal(json_integer_value(json_object_get(u, "free")), 1);
    json_decref(u);
    assert_int_equal(dp_engine_flush(e), 0); /* the tenth after: all */
    u = stored_usage(&ks);
    assert_int_equal(json_integer_value(json_object_get(u, "free")), 2);
    json_decref(u);
    t_who(e, REQ(.path = "/f"));
    dp_engine_close(e); /* close writes everything */
    u = stored_usage(&ks);
    assert_int_equal(json_integer_value(json_object_get(u, "free")), 3);
    json_decref(u);
    ks.inner->ops->close(ks.inner);
}

/* A template file write the store refuses changes neither the file nor
 * the mocks compiled from it; files and their mocks survive a reopen. */
static void test_tfile_storage_failure_and_reopen(void **state)
{
    (void)state;
    keep_storage_t ks = {.inner = t_storage()};
    dp_engine_t *e = open_on(&ks);
    dp_err_t err = {0};
    assert_int_equal(dp_engine_tfile_put(e, NULL, "f.txt", "one", 3,
                                         DP_TFILE_CREATE, NULL, &err),
                     0);
    t_put(e, "{\"http\":{\"route\":\"/f\"},\"response\":{"
             "\"payloadTemplatePath\":\"f.txt\"}}");
    ks.fail_puts = 1;
    assert_int_equal(dp_engine_tfile_put(e, NULL, "f.txt", "two", 3,
                                         DP_TFILE_REPLACE, NULL, &err),
                     -EIO);
    assert_int_equal(err.status, 500);
    assert_int_equal(dp_engine_tfile_put(e, NULL, "g.txt", "new", 3,
                                         DP_TFILE_CREATE, NULL, &err),
                     -EIO);
    ks.fail_puts = 0;
    doppel_reply_t *rp = t_match(e, REQ(.path = "/f"));
    char *b = t_body(rp);
    assert_string_equal(b, "one");
    free(b);
    dp_engine_reply_free(rp);
    json_t *g = NULL;
    assert_int_equal(dp_engine_tfile_get(e, "sandbox", "g.txt", &g, &err),
                     -ENOENT);
    assert_int_equal(dp_engine_tfile_put(e, NULL, "f.txt", "two", 3,
                                         DP_TFILE_REPLACE, NULL, &err),
                     0);
    dp_engine_close(e);
    e = open_on(&ks);
    rp = t_match(e, REQ(.path = "/f"));
    b = t_body(rp);
    assert_string_equal(b, "two");
    free(b);
    dp_engine_reply_free(rp);
    dp_engine_close(e);
    ks.inner->ops->close(ks.inner);
}

static void test_storage_failure_changes_nothing(void **state)
{
    (void)state;
    keep_storage_t ks = {.inner = t_storage()};
    dp_engine_t *e = open_on(&ks);
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/s\"}," OKR "}"));
    ks.fail_puts = 1;
    json_t *m = t_json("{\"http\":{\"route\":\"/s2\"}," OKR "}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put(e, m, NULL, NULL, NULL, &err), -EIO);
    assert_int_equal(err.status, 500);
    json_decref(m);
    assert_string_equal(t_who(e, REQ(.path = "/s2")), "");
    assert_int_equal(dp_engine_mock_close(e, id, NULL, &err), -EIO);
    assert_string_equal(t_who(e, REQ(.path = "/s")), id);
    ks.fail_puts = 0;
    assert_int_equal(count(e), 1);
    dp_engine_close(e);
    ks.inner->ops->close(ks.inner);
}

/* An admin call names the namespaces it may write in its audit rows; a
 * replace of an id that lives in another namespace (it moved there after
 * the admin layer's check) is refused under the writer lock, and nothing
 * changes. */
static void test_replace_outside_the_audited_namespaces(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"id\":\"shared-id\",\"namespace\":\"b\",\"http\":"
             "{\"route\":\"/b\"},\"response\":{\"payload\":\"b\"}}");
    json_t *m = t_json("{\"id\":\"shared-id\",\"namespace\":\"a\","
                       "\"http\":{\"route\":\"/a\"},\"response\":{}}");
    json_t *two = t_json("[{\"id\":\"fresh\",\"namespace\":\"a\",\"http\":"
                         "{\"route\":\"/f\"},\"response\":{}},{\"id\":"
                         "\"shared-id\",\"namespace\":\"a\",\"http\":{"
                         "\"route\":\"/a\"},\"response\":{}}]");
    dp_audit_row_t rows[1] = {
        {1, "user:ann", "tok", "mocks.create", "a", NULL, NULL}};
    json_t *st = NULL, *got = NULL;
    dp_err_t err = {0};

    /* a call that may write only "a" */
    dp_engine_audit_t au = {.rows = rows, .n_rows = 1};
    dp_engine_audit_begin(&au);
    assert_int_equal(dp_engine_mock_put(e, m, NULL, &st, NULL, &err),
                     -EACCES);
    assert_int_equal(err.status, 403);
    assert_null(st);
    /* a batch is refused whole, naming the item */
    assert_int_equal(dp_engine_mock_put_batch(e, two, NULL, &st, &err),
                     -EACCES);
    assert_string_equal(err.field, "[1]");
    assert_null(st);
    dp_engine_audit_end();
    assert_int_equal(au.written, 0);
    assert_int_equal(dp_engine_mock_get(e, "fresh", &got, &err), -ENOENT);
    assert_int_equal(dp_engine_mock_get(e, "shared-id", &got, &err), 0);
    assert_string_equal(json_string_value(json_object_get(got, "namespace")),
                        "b");
    json_decref(got);

    /* a write that is not an admin call is not held to audit rows (the
     * admin path that names both namespaces is test_auth_tenancy's) */
    assert_int_equal(dp_engine_mock_put(e, m, NULL, &st, NULL, &err), 0);
    json_decref(st);
    assert_int_equal(dp_engine_mock_get(e, "shared-id", &got, &err), 0);
    assert_string_equal(json_string_value(json_object_get(got, "namespace")),
                        "a");
    json_decref(got);
    json_decref(two);
    json_decref(m);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_outside_the_audited_namespaces),
        cmocka_unit_test(test_validation_field_paths),
        cmocka_unit_test(test_priority_message),
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_close_restore_purge),
        cmocka_unit_test(test_batch_all_or_nothing),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_reopen_keeps_everything),
        cmocka_unit_test(test_flush_writes_limited_counters_first),
        cmocka_unit_test(test_storage_failure_changes_nothing),
        cmocka_unit_test(test_tfile_storage_failure_and_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
