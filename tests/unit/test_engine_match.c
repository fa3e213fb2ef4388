/* Matching: order, conditions, templates, oneOf, ttl, useLimiter, stores,
 * near misses, the journal rings, reset, and concurrency. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_engine_util.h"

#define OKR "\"response\":{}"

static int64_t fake_now = 5000;
static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static void test_priority_then_newest(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char lo[64], hi[64], newer[64];
    strcpy(hi, t_put(e, "{\"http\":{\"route\":\"/p\"},\"priority\":5," OKR "}"));
    strcpy(lo, t_put(e, "{\"http\":{\"route\":\"/p\"},\"priority\":1," OKR "}"));
    assert_string_equal(t_who(e, REQ(.path = "/p")), hi);
    /* priority beats specificity: a low-priority static route loses to a
     * high-priority wildcard */
    char wild[64];
    strcpy(wild, t_put(e, "{\"http\":{\"route\":\"/*\"},\"priority\":9," OKR
                          "}"));
    assert_string_equal(t_who(e, REQ(.path = "/p")), wild);
    dp_err_t err;
    assert_int_equal(dp_engine_mock_purge(e, wild, &err), 0);
    /* equal priority: the newer mock wins */
    strcpy(newer,
           t_put(e, "{\"http\":{\"route\":\"/p\"},\"priority\":5," OKR "}"));
    assert_string_equal(t_who(e, REQ(.path = "/p")), newer);
    (void)lo;
    dp_engine_close(e);
}

static void test_conditions(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char body[64], hdr[64], qry[64], fallback[64];
    strcpy(fallback, t_put(e, "{\"http\":{\"route\":\"/c\"},\"priority\":0,"
                              OKR "}"));
    strcpy(body, t_put(e, "{\"http\":{\"route\":\"/c\",\"httpMethod\":\"POST\","
                          "\"conditions\":[{\"path\":\"$.amount\","
                          "\"assertAction\":\"equals\",\"value\":100}]},"
                          "\"priority\":3," OKR "}"));
    strcpy(hdr, t_put(e, "{\"http\":{\"route\":\"/c\","
                         "\"header\":{\"X-Key\":\"abc\"}},"
                         "\"priority\":2," OKR "}"));
    strcpy(qry, t_put(e, "{\"http\":{\"route\":\"/c\",\"queryParams\":"
                         "[{\"path\":\"v\",\"assertAction\":\"matches\","
                         "\"value\":\"^[0-9]+$\"}]},\"priority\":1," OKR "}"));
    assert_string_equal(
        t_who(e, REQ(.method = "POST", .path = "/c", .body = "{\"amount\":100}")),
        body);
    assert_string_equal(
        t_who(e, REQ(.method = "POST", .path = "/c", .body = "{\"amount\":5}")),
        fallback);
    assert_string_equal(t_who(e, REQ(.path = "/c", .h = {"x-KEY", "abc"})),
                        hdr);
    assert_string_equal(t_who(e, REQ(.path = "/c", .h = {"X-Key", "abd"})),
                        fallback);
    assert_string_equal(t_who(e, REQ(.path = "/c", .q = {"v", "123"})), qry);
    assert_string_equal(t_who(e, REQ(.path = "/c", .q = {"v", "12a"})),
                        fallback);
    /* a body that is not JSON simply fails body conditions */
    assert_string_equal(
        t_who(e, REQ(.method = "POST", .path = "/c", .body = "{not json")),
        fallback);
    dp_engine_close(e);
}

/* More mocks on one path than the matcher keeps on its stack: each is still
 * a candidate, in match order, whichever request names it. */
static void test_many_mocks_on_one_path(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *batch = json_array();
    for (int i = 0; i < 600; i++) {
        char txt[256];
        snprintf(txt, sizeof(txt),
                 "{\"id\":\"m%d\",\"http\":{\"route\":\"/orders\","
                 "\"httpMethod\":\"POST\",\"conditions\":[{\"path\":"
                 "\"kind\",\"value\":\"k%d\"}]}," OKR "}",
                 i, i);
        json_array_append_new(batch, t_json(txt));
    }
    json_t *stored = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put_batch(e, batch, NULL, &stored, &err),
                     0);
    json_decref(stored);
    json_decref(batch);
    static const int probe[] = {0, 255, 256, 300, 599};
    for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
        char body[64], want[16];
        snprintf(body, sizeof(body), "{\"kind\":\"k%d\"}", probe[i]);
        snprintf(want, sizeof(want), "m%d", probe[i]);
        assert_string_equal(
            t_who(e, REQ(.method = "POST", .path = "/orders", .body = body)),
            want);
    }
    dp_engine_close(e);
}

static json_t *reply_json(doppel_reply_t *r);

/* Many mocks on one path keyed by a body string: the value index may only
 * leave out mocks that cannot match. Loose equality, absent values, mocks
 * without the key and priority order must all come out as without it. */
static void test_value_index_is_exact(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    for (int i = 0; i < 20; i++) {
        char txt[256];
        snprintf(txt, sizeof(txt),
                 "{\"id\":\"k%d\",\"http\":{\"route\":\"/v\","
                 "\"httpMethod\":\"POST\",\"conditions\":[{\"path\":"
                 "\"kind\",\"value\":\"%d\"}]}," OKR "}",
                 i, i);
        t_put(e, txt);
    }
    /* not keyed: a number expected (a found "77" loosely equals 77) */
    t_put(e, "{\"id\":\"num\",\"http\":{\"route\":\"/v\",\"httpMethod\":"
             "\"POST\",\"conditions\":[{\"path\":\"kind\",\"value\":77}]},"
             OKR "}");
    /* not keyed: another condition; high priority wins over keyed ones */
    t_put(e, "{\"id\":\"vip\",\"priority\":5,\"http\":{\"route\":\"/v\","
             "\"httpMethod\":\"POST\",\"conditions\":[{\"path\":\"vip\","
             "\"value\":true}]}," OKR "}");
    /* not keyed, lowest priority: the fallback */
    t_put(e, "{\"id\":\"any\",\"priority\":-1,\"http\":{\"route\":"
             "\"/v\",\"httpMethod\":\"POST\"}," OKR "}");
#define WHO(b) t_who(e, REQ(.method = "POST", .path = "/v", .body = (b)))
    assert_string_equal(WHO("{\"kind\":\"7\"}"), "k7");
    /* a number found may equal the string "7" loosely: nothing pruned */
    assert_string_equal(WHO("{\"kind\":7}"), "k7");
    assert_string_equal(WHO("{\"kind\":\"77\"}"), "num");
    assert_string_equal(WHO("{\"kind\":\"7\",\"vip\":true}"), "vip");
    assert_string_equal(WHO("{\"kind\":\"nope\"}"), "any");
    assert_string_equal(WHO("{}"), "any");
    assert_string_equal(WHO("not json"), "any");
#undef WHO
    /* a miss still reports the keyed mocks it passed over */
    dp_err_t err;
    assert_int_equal(dp_engine_mock_purge(e, "any", &err), 0);
    doppel_reply_t *r = t_match(
        e, REQ(.method = "POST", .path = "/v", .body = "{\"kind\":\"x\"}"));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    json_t *j = reply_json(r);
    dp_engine_reply_free(r);
    json_t *nm = json_object_get(j, "nearMisses");
    assert_int_equal(json_array_size(nm), 5);
    int keyed = 0;
    for (size_t i = 0; i < json_array_size(nm); i++)
        keyed += json_string_value(json_object_get(json_array_get(nm, i),
                                                   "mockId"))[0] == 'k';
    assert_true(keyed >= 3);
    json_decref(j);
    dp_engine_close(e);
}

/* A mock the value index finds by its expected string still has its other
 * conditions checked, whichever place the keyed one has among them, also
 * when more mocks share one key than the match remembers as found. */
static void test_value_index_checks_the_other_conditions(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char txt[512];
    for (int i = 0; i < 12; i++) { /* keyed condition second */
        snprintf(txt, sizeof(txt),
                 "{\"id\":\"a%d\",\"http\":{\"route\":\"/w\",\"httpMethod\":"
                 "\"POST\",\"conditions\":[{\"path\":\"amount\",\"value\":%d},"
                 "{\"path\":\"kind\",\"value\":\"k%d\"}]}," OKR "}",
                 i, i, i);
        t_put(e, txt);
    }
    for (int i = 0; i < 12; i++) { /* keyed condition first */
        snprintf(txt, sizeof(txt),
                 "{\"id\":\"t%d\",\"http\":{\"route\":\"/w\",\"httpMethod\":"
                 "\"POST\",\"conditions\":[{\"path\":\"kind\",\"value\":"
                 "\"t%d\"},{\"path\":\"tier\",\"value\":\"gold\"}]}," OKR "}",
                 i, i);
        t_put(e, txt);
    }
    for (int i = 0; i < 12; i++) { /* one key, twelve mocks */
        snprintf(txt, sizeof(txt),
                 "{\"id\":\"d%d\",\"http\":{\"route\":\"/w\",\"httpMethod\":"
                 "\"POST\",\"conditions\":[{\"path\":\"kind\",\"value\":"
                 "\"dup\"},{\"path\":\"n\",\"value\":%d}]}," OKR "}",
                 i, i);
        t_put(e, txt);
    }
    t_put(e, "{\"id\":\"rest\",\"priority\":-1,\"http\":{\"route\":\"/w\","
             "\"httpMethod\":\"POST\"}," OKR "}");
#define WHO(b) t_who(e, REQ(.method = "POST", .path = "/w", .body = (b)))
    assert_string_equal(WHO("{\"kind\":\"k3\",\"amount\":3}"), "a3");
    assert_string_equal(WHO("{\"kind\":\"k3\",\"amount\":4}"), "rest");
    assert_string_equal(WHO("{\"kind\":\"k3\"}"), "rest");
    assert_string_equal(WHO("{\"kind\":\"t5\",\"tier\":\"gold\"}"), "t5");
    assert_string_equal(WHO("{\"kind\":\"t5\",\"tier\":\"silver\"}"), "rest");
    assert_string_equal(WHO("{\"kind\":\"dup\",\"n\":0}"), "d0");
    assert_string_equal(WHO("{\"kind\":\"dup\",\"n\":7}"), "d7");
    assert_string_equal(WHO("{\"kind\":\"dup\",\"n\":11}"), "d11");
    assert_string_equal(WHO("{\"kind\":\"dup\",\"n\":12}"), "rest");
#undef WHO
    dp_engine_close(e);
}

static void test_templates_and_content_types(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/t/:id\"},\"response\":{\"statusCode\":201,"
             "\"headers\":{\"X-A\":[\"1\",\"2\"]},\"payload\":{\"id\":"
             "\"$.pathParam.id\",\"q\":\"$.queryParam.x\",\"h\":"
             "\"$.reqHeader.X-Who\",\"name\":\"$.req.user.name\","
             "\"g\":\"$.gS.greeting\",\"s\":\"hi $.req.user.name!\"}}}");
    dp_err_t err;
    json_t *g = json_string("hello");
    assert_int_equal(dp_engine_store_set(e, NULL, 'g', NULL, "greeting", g,
                                         &err),
                     0);
    json_decref(g);
    doppel_reply_t *r = t_match(
        e, REQ(.method = "POST", .path = "/t/42", .q = {"x", "qv"},
               .h = {"X-Who", "me"}, .body = "{\"user\":{\"name\":\"ann\"}}"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(r->status, 201);
    assert_string_equal(t_header(r, "Content-Type"), "application/json");
    int xa = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        if (r->headers[i].name.len == 3 &&
            memcmp(r->headers[i].name.ptr, "X-A", 3) == 0)
            xa++;
    assert_int_equal(xa, 2);
    char *b = t_body(r);
    json_t *j = t_json(b);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
    assert_string_equal(json_string_value(json_object_get(j, "q")), "qv");
    assert_string_equal(json_string_value(json_object_get(j, "h")), "me");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "ann");
    assert_string_equal(json_string_value(json_object_get(j, "g")), "hello");
    assert_string_equal(json_string_value(json_object_get(j, "s")), "hi ann!");
    json_decref(j);
    free(b);
    dp_engine_reply_free(r);

    /* static text, explicit Content-Type, base64 bytes, proxy */
    t_put(e, "{\"http\":{\"route\":\"/txt\"},\"response\":{\"payload\":"
             "\"plain\",\"delay\":25}}");
    t_put(e, "{\"http\":{\"route\":\"/xml\"},\"response\":{\"headers\":"
             "{\"content-type\":\"application/xml\"},\"payload\":\"<a/>\"}}");
    t_put(e, "{\"http\":{\"route\":\"/bin\"},\"response\":{\"decode\":"
             "\"base64\",\"payload\":\"AAEC/w==\"}}");
    t_put(e, "{\"http\":{\"route\":\"/px\"},\"proxy\":{\"target\":"
             "\"https://example.invalid\"}}");
    r = t_match(e, REQ(.path = "/txt"));
    assert_string_equal(t_header(r, "Content-Type"),
                        "text/plain; charset=utf-8");
    assert_int_equal(r->delay_ms, 25);
    assert_int_equal(r->body_len, 5);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/xml"));
    assert_string_equal(t_header(r, "content-type"), "application/xml");
    size_t nct = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i].name.ptr, "content-type", 12) == 0)
            nct++;
    assert_int_equal(nct, 1);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/bin"));
    assert_int_equal(r->body_len, 4);
    assert_memory_equal(r->body, "\x00\x01\x02\xff", 4);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/px"));
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_int_equal(r->proxy_target.len, strlen("https://example.invalid"));
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_oneof(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/o\"},\"oneOf\":{\"order\":\"order\","
             "\"responses\":[{\"statusCode\":201},{\"statusCode\":202},"
             "{\"statusCode\":203}]}}");
    int want[] = {201, 202, 203, 201, 202};
    for (int i = 0; i < 5; i++) {
        doppel_reply_t *r = t_match(e, REQ(.path = "/o"));
        assert_int_equal(r->status, want[i]);
        dp_engine_reply_free(r);
    }
    t_put(e, "{\"http\":{\"route\":\"/r\"},\"oneOf\":{\"order\":\"random\","
             "\"responses\":[{\"statusCode\":201},{\"statusCode\":202}]}}");
    int seen[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        doppel_reply_t *r = t_match(e, REQ(.path = "/r"));
        assert_true(r->status == 201 || r->status == 202);
        seen[r->status - 201]++;
        dp_engine_reply_free(r);
    }
    /* both show up (200 fair draws missing one has odds 2^-199) */
    assert_true(seen[0] > 0 && seen[1] > 0);
    dp_engine_close(e);
}

static void test_ttl(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, fake_clock, NULL);
    fake_now = 5000;
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/ttl\"},\"ttl\":10," OKR "}"));
    json_t *got = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_mock_get(e, id, &got, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "expireAt")),
                     5010);
    json_decref(got);
    fake_now = 5009;
    assert_string_equal(t_who(e, REQ(.path = "/ttl")), id);
    fake_now = 5010;
    assert_string_equal(t_who(e, REQ(.path = "/ttl")), "");
    assert_int_equal(dp_engine_mock_count(e, 1), 0);
    dp_engine_close(e);
}

static void test_use_limiter(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/lim\"},\"useLimiter\":3,"
                        OKR "}"));
    for (int i = 0; i < 3; i++)
        assert_string_equal(t_who(e, REQ(.path = "/lim")), id);
    assert_string_equal(t_who(e, REQ(.path = "/lim")), "");
    json_t *got;
    dp_err_t err;
    assert_int_equal(dp_engine_mock_get(e, id, &got, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "useCounter")),
                     3);
    json_decref(got);
    dp_engine_close(e);
}

/* The platforms' bare $.increment(key[, step]) counts in the global store */
static void test_bare_increment(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/bare\"},\"response\":{\"payload\":"
             "{\"n\":\"$.increment(visits)\",\"m\":\"$.increment(big, 5)\","
             "\"same\":\"$.gS.visits\"}}}");
    for (int i = 1; i <= 2; i++) {
        doppel_reply_t *r = t_match(e, REQ(.path = "/bare"));
        char *b = t_body(r);
        json_t *j = t_json(b);
        assert_int_equal(json_integer_value(json_object_get(j, "n")), i);
        assert_int_equal(json_integer_value(json_object_get(j, "m")), 5 * i);
        assert_int_equal(json_integer_value(json_object_get(j, "same")), i);
        json_decref(j);
        free(b);
        dp_engine_reply_free(r);
    }
    t_put_fails(e, "{\"http\":{\"route\":\"/b2\"},\"response\":{\"payload\":"
                   "\"$.increment(xS.k)\"}}", "response.payload");
    t_put_fails(e, "{\"http\":{\"route\":\"/b2\"},\"response\":{\"payload\":"
                   "\"$.increment()\"}}", "response.payload");
    dp_engine_close(e);
}

/* A section's sortArray is the default of its conditions that set none */
static void test_section_sort_array_default(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64];
    strcpy(a, t_put(e, "{\"http\":{\"route\":\"/sa\",\"sortArray\":true,"
                       "\"conditions\":[{\"path\":\"tags\",\"assertAction\":"
                       "\"equals\",\"value\":[\"a\",\"b\"]}]}," OKR "}"));
    t_put(e, "{\"http\":{\"route\":\"/sb\",\"sortArray\":true,"
             "\"conditions\":[{\"path\":\"tags\",\"assertAction\":"
             "\"equals\",\"value\":[\"a\",\"b\"],\"sortArray\":false}]},"
             OKR "}");
    assert_string_equal(t_who(e, REQ(.method = "POST", .path = "/sa",
                                     .body = "{\"tags\":[\"b\",\"a\"]}")),
                        a);
    /* a condition's own sortArray wins */
    assert_string_equal(t_who(e, REQ(.method = "POST", .path = "/sb",
                                     .body = "{\"tags\":[\"b\",\"a\"]}")),
                        "");
    t_put_fails(e, "{\"http\":{\"route\":\"/sc\",\"sortArray\":\"yes\"},"
                   OKR "}", "http.sortArray");
    dp_engine_close(e);
}

/* pathPrefix (top level, as the platforms send it) goes before the route */
static void test_path_prefix(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64], b[64], c[64];
    strcpy(a, t_put(e, "{\"pathPrefix\":\"/api/v2/\",\"http\":{\"route\":"
                       "\"/users/:id\"}," OKR "}"));
    assert_string_equal(t_who(e, REQ(.path = "/api/v2/users/7")), a);
    assert_string_equal(t_who(e, REQ(.path = "/users/7")), "");
    strcpy(b, t_put(e, "{\"pathPrefix\":\"/v1.0\",\"http\":{"
                       "\"routePattern\":\"/items/[0-9]+\"}," OKR "}"));
    assert_string_equal(t_who(e, REQ(.path = "/v1.0/items/5")), b);
    /* the prefix is literal text, not a pattern */
    assert_string_equal(t_who(e, REQ(.path = "/v1x0/items/5")), "");
    strcpy(c, t_put(e, "{\"pathPrefix\":\"/p\",\"http\":{\"route\":"
                       "\"q\"}," OKR "}"));
    assert_string_equal(t_who(e, REQ(.path = "/p/q")), c);
    /* the stored mock keeps what was sent */
    json_t *got = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_mock_get(e, a, &got, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "http"),
                                          "route")),
        "/users/:id");
    assert_string_equal(json_string_value(json_object_get(got, "pathPrefix")),
                        "/api/v2/");
    json_decref(got);
    t_put_fails(e, "{\"pathPrefix\":\"api\",\"http\":{\"route\":\"/a\"},"
                   OKR "}", "pathPrefix");
    t_put_fails(e, "{\"pathPrefix\":\"/a?b\",\"http\":{\"route\":\"/a\"},"
                   OKR "}", "pathPrefix");
    t_put_fails(e, "{\"pathPrefix\":5,\"http\":{\"route\":\"/a\"}," OKR "}",
                "pathPrefix");
    dp_engine_close(e);
}

/* ttl 0 and useLimiter 0 are "no limit", as the platforms' SDKs send them */
static void test_zero_ttl_and_limit_mean_none(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, fake_clock, NULL);
    fake_now = 5000;
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/zero\"},\"ttl\":0,"
                        "\"useLimiter\":0," OKR "}"));
    json_t *got = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_mock_get(e, id, &got, &err), 0);
    assert_true(json_is_null(json_object_get(got, "expireAt")));
    json_decref(got);
    fake_now = 5000 + 10 * 365 * 86400;
    for (int i = 0; i < 50; i++)
        assert_string_equal(t_who(e, REQ(.path = "/zero")), id);
    assert_int_equal(dp_engine_mock_count(e, 1), 1);
    dp_engine_close(e);
}

typedef struct hammer {
    dp_engine_t *e;
    int iters;
    int hits;
} hammer_t;

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->iters; i++) {
        doppel_reply_t *r = t_match(h->e, REQ(.path = "/hot"));
        if (r->kind == DOPPEL_REPLY_RESPONSE)
            h->hits++;
        dp_engine_reply_free(r);
    }
    return NULL;
}

static void test_use_limiter_two_threads(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/hot\"},\"useLimiter\":500," OKR "}");
    hammer_t h[2] = {{e, 1000, 0}, {e, 1000, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hammer_run, &h[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(h[0].hits + h[1].hits, 500);
    dp_engine_close(e);
}

static void test_extract_and_increment(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char id[64];
    strcpy(id, t_put(e, "{\"chainId\":\"ch1\",\"http\":{\"route\":\"/x\"},"
                        "\"extract\":{\"gStore\":{\"user\":\"$.req.user\"},"
                        "\"cS\":{\"q\":\"$.queryParam.q\"},"
                        "\"mStore\":{\"h\":\"$.reqHeader.X-H\"}},"
                        "\"response\":{\"payload\":{\"n\":"
                        "\"$.increment($.gS.hits)\",\"c\":\"$.cS.q\"}}}"));
    for (int i = 1; i <= 3; i++) {
        doppel_reply_t *r =
            t_match(e, REQ(.method = "POST", .path = "/x", .q = {"q", "qq"},
                           .h = {"X-H", "hv"}, .body = "{\"user\":\"bob\"}"));
        char *b = t_body(r);
        json_t *j = t_json(b);
        assert_int_equal(json_integer_value(json_object_get(j, "n")), i);
        /* extract runs before the response is rendered */
        assert_string_equal(json_string_value(json_object_get(j, "c")), "qq");
        json_decref(j);
        free(b);
        dp_engine_reply_free(r);
    }
    json_t *v = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, "user", &v, &err),
                     0);
    assert_string_equal(json_string_value(v), "bob");
    json_decref(v);
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, "hits", &v, &err),
                     0);
    assert_int_equal(json_integer_value(v), 3);
    json_decref(v);
    assert_int_equal(dp_engine_store_get(e, NULL, 'c', "ch1", "q", &v, &err),
                     0);
    assert_string_equal(json_string_value(v), "qq");
    json_decref(v);
    assert_int_equal(dp_engine_store_get(e, NULL, 'm', id, "h", &v, &err), 0);
    assert_string_equal(json_string_value(v), "hv");
    json_decref(v);
    /* other namespaces do not see it */
    assert_int_equal(dp_engine_store_get(e, "other", 'g', NULL, "user", &v,
                                         &err),
                     -ENOENT);
    assert_int_equal(err.status, 404);
    /* delete through the admin API */
    assert_int_equal(dp_engine_store_delete(e, NULL, 'g', NULL, "user", &err),
                     0);
    assert_int_equal(dp_engine_store_get(e, NULL, 'g', NULL, "user", &v, &err),
                     -ENOENT);
    assert_int_equal(dp_engine_store_get(e, NULL, 'c', NULL, "q", &v, &err),
                     -EINVAL);
    assert_string_equal(err.field, "owner");
    dp_engine_close(e);
}

static json_t *reply_json(doppel_reply_t *r)
{
    char *b = t_body(r);
    json_t *j = t_json(b);
    free(b);
    return j;
}

static void test_near_misses(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char cond[64], meth[64], closed[64];
    strcpy(cond, t_put(e, "{\"http\":{\"route\":\"/n\",\"httpMethod\":\"GET\","
                          "\"header\":[{\"path\":\"X-T\",\"assertAction\":"
                          "\"equals\",\"value\":\"yes\"}],\"queryParams\":"
                          "{\"a\":\"1\"}}," OKR "}"));
    strcpy(meth, t_put(e, "{\"http\":{\"route\":\"/n\",\"httpMethod\":"
                          "\"POST\"}," OKR "}"));
    strcpy(closed, t_put(e, "{\"http\":{\"route\":\"/n\",\"httpMethod\":"
                            "\"GET\"},\"priority\":4," OKR "}"));
    t_put(e, "{\"http\":{\"route\":\"/elsewhere\"}," OKR "}");
    dp_err_t err;
    assert_int_equal(dp_engine_mock_close(e, closed, NULL, &err), 0);
    doppel_reply_t *r = t_match(e, REQ(.path = "/n", .h = {"X-T", "no"}));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(r->status, 404);
    assert_int_equal(r->mock_id.len, 0);
    json_t *j = reply_json(r);
    dp_engine_reply_free(r);
    assert_string_equal(json_string_value(json_object_get(j, "code")),
                        "not_found");
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "no mock matched");
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        "req-1");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "request"), "path")),
                        "/n");
    json_t *nm = json_object_get(j, "nearMisses");
    assert_int_equal(json_array_size(nm), 3);
    /* failed conditions first, with every failed condition listed */
    json_t *n0 = json_array_get(nm, 0);
    assert_string_equal(json_string_value(json_object_get(n0, "mockId")),
                        cond);
    assert_string_equal(json_string_value(json_object_get(n0, "route")), "/n");
    json_t *f = json_object_get(n0, "failed");
    assert_int_equal(json_array_size(f), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(f, 0), "where")),
        "header");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(f, 1), "where")),
        "query");
    assert_true(json_string_length(
                    json_object_get(json_array_get(f, 0), "reason")) > 0);
    /* then the same path with another method, then state */
    json_t *n1 = json_array_get(nm, 1);
    assert_string_equal(json_string_value(json_object_get(n1, "mockId")), meth);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(n1, "failed"), 0),
                            "where")),
                        "method");
    json_t *n2 = json_array_get(nm, 2);
    assert_string_equal(json_string_value(json_object_get(n2, "mockId")),
                        closed);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(n2, "failed"), 0),
                            "where")),
                        "state");
    json_decref(j);

    /* at most five */
    for (int i = 0; i < 8; i++)
        t_put(e, "{\"http\":{\"route\":\"/many\",\"queryParams\":{\"z\":\"1\"}},"
                 OKR "}");
    r = t_match(e, REQ(.path = "/many"));
    j = reply_json(r);
    assert_int_equal(json_array_size(json_object_get(j, "nearMisses")), 5);
    json_decref(j);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_journal_rings(void **state)
{
    (void)state;
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.journal_size = 4;
    cfg.unmatched_size = 3;
    cfg.journal_body_max = 8;
    dp_engine_t *e = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err),
                     0);
    char id[64];
    strcpy(id, t_put(e, "{\"http\":{\"route\":\"/j\"}," OKR "}"));
    t_put(e, "{\"namespace\":\"b\",\"http\":{\"route\":\"/j\"}," OKR "}");
    for (int i = 0; i < 6; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/j?i=%d", i);
        doppel_reply_t *r = t_match(
            e, REQ(.method = "POST", .path = "/j", .q = {"i", i == 5 ? "5" : "x"},
                   .h = {"Authorization", "Bearer s3cret", "Cookie", "c=1",
                         "X-API-Key", "k", "Proxy-Authorization", "p",
                         "X-Plain", "visible"},
                   .body = "0123456789abcdef"));
        dp_engine_reply_free(r);
    }
    dp_engine_reply_free(t_match(e, REQ(.path = "/j", .ns = "b")));
    for (int i = 0; i < 5; i++)
        dp_engine_reply_free(t_match(e, REQ(.path = "/missing")));

    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 0, &out), 0);
    /* bounded per namespace: 6 matched in sandbox, 4 kept, and b's one */
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 5);
    json_t *items = json_object_get(out, "items");
    json_t *first = json_array_get(items, 0);
    /* newest first: the namespace b request */
    assert_string_equal(json_string_value(json_object_get(first, "namespace")),
                        "b");
    json_t *second = json_array_get(items, 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(second, "query"), "i")),
                        "5");
    assert_string_equal(json_string_value(json_object_get(second, "mockId")),
                        id);
    assert_int_equal(json_integer_value(json_object_get(second, "status")),
                     200);
    json_t *h = json_object_get(second, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "authorization")),
                        "[REDACTED]");
    assert_string_equal(json_string_value(json_object_get(h, "cookie")),
                        "[REDACTED]");
    assert_string_equal(json_string_value(json_object_get(h, "x-api-key")),
                        "[REDACTED]");
    assert_string_equal(
        json_string_value(json_object_get(h, "proxy-authorization")),
        "[REDACTED]");
    assert_string_equal(json_string_value(json_object_get(h, "x-plain")),
                        "visible");
    assert_string_equal(json_string_value(json_object_get(second, "body")),
                        "01234567");
    assert_true(json_is_true(json_object_get(second, "truncated")));
    char *dump = json_dumps(out, 0);
    assert_null(strstr(dump, "s3cret"));
    free(dump);
    json_decref(out);

    assert_int_equal(dp_engine_journal(e, "b", 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    assert_int_equal(dp_engine_journal(e, NULL, 1, 2, &out), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    assert_true(json_is_true(json_object_get(out, "hasMore")));
    json_decref(out);

    assert_int_equal(dp_engine_unmatched(e, NULL, 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    first = json_array_get(json_object_get(out, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "path")),
                        "/missing");
    assert_true(json_is_array(json_object_get(first, "nearMisses")));
    json_decref(out);

    dp_engine_journal_clear(e, "b");
    assert_int_equal(dp_engine_journal(e, NULL, 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    json_decref(out);
    dp_engine_unmatched_clear(e, NULL);
    assert_int_equal(dp_engine_unmatched(e, NULL, 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    dp_engine_close(e);
}

static void test_reset(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/r\"}," OKR "}");
    char keep[64];
    strcpy(keep,
           t_put(e, "{\"namespace\":\"b\",\"http\":{\"route\":\"/r\"}," OKR "}"));
    dp_err_t err;
    json_t *v = json_true();
    assert_int_equal(dp_engine_store_set(e, "a", 'g', NULL, "k", v, &err), 0);
    assert_int_equal(dp_engine_store_set(e, "b", 'g', NULL, "k", v, &err), 0);
    json_decref(v);
    dp_engine_reply_free(t_match(e, REQ(.path = "/r", .ns = "a")));
    dp_engine_reply_free(t_match(e, REQ(.path = "/r", .ns = "b")));
    dp_engine_reply_free(t_match(e, REQ(.path = "/zz", .ns = "a")));
    assert_int_equal(dp_engine_reset(e, "a", &err), 0);
    assert_string_equal(t_who(e, REQ(.path = "/r", .ns = "a")), "");
    assert_string_equal(t_who(e, REQ(.path = "/r", .ns = "b")), keep);
    json_t *out;
    assert_int_equal(dp_engine_store_get(e, "a", 'g', NULL, "k", &out, &err),
                     -ENOENT);
    assert_int_equal(dp_engine_store_get(e, "b", 'g', NULL, "k", &out, &err),
                     0);
    json_decref(out);
    assert_int_equal(dp_engine_journal(e, "a", 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    /* the miss on /r in "a" after the reset is the only unmatched entry */
    assert_int_equal(dp_engine_unmatched(e, "a", 0, 0, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    assert_int_equal(dp_engine_mock_count(e, 0), 1);
    dp_engine_close(e);
}

typedef struct swapper {
    dp_engine_t *e;
    atomic_int stop;
    int errors;
} swapper_t;

static void *reader_run(void *arg)
{
    swapper_t *s = arg;
    for (int i = 0; i < 3000; i++) {
        doppel_reply_t *r = t_match(s->e, REQ(.path = "/stable"));
        if (r->kind != DOPPEL_REPLY_RESPONSE || r->status != 200)
            s->errors++;
        char *b = t_body(r);
        if (strcmp(b, "ok") != 0)
            s->errors++;
        free(b);
        dp_engine_reply_free(r);
        dp_engine_reply_free(t_match(s->e, REQ(.path = "/churn")));
    }
    atomic_store(&s->stop, 1);
    return NULL;
}

static void test_readers_during_swaps(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/stable\"},\"response\":{\"payload\":"
             "\"ok\",\"headers\":{\"content-type\":\"application/json\"}}}");
    swapper_t s = {.e = e};
    pthread_t t;
    pthread_create(&t, NULL, reader_run, &s);
    int writes = 0;
    dp_err_t err;
    /* bounded: stops when the reader is done or after 2000 writes */
    while (!atomic_load(&s.stop) && writes < 2000) {
        char id[64];
        strcpy(id, t_put(e, "{\"http\":{\"route\":\"/churn\"},\"response\":"
                            "{\"payload\":{\"big\":[1,2,3,4,5,6,7,8]}}}"));
        assert_int_equal(dp_engine_mock_purge(e, id, &err), 0);
        writes += 2;
    }
    pthread_join(t, NULL);
    assert_int_equal(s.errors, 0);
    assert_true(writes > 0);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_then_newest),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_many_mocks_on_one_path),
        cmocka_unit_test(test_value_index_is_exact),
        cmocka_unit_test(test_value_index_checks_the_other_conditions),
        cmocka_unit_test(test_templates_and_content_types),
        cmocka_unit_test(test_oneof),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_use_limiter),
        cmocka_unit_test(test_zero_ttl_and_limit_mean_none),
        cmocka_unit_test(test_path_prefix),
        cmocka_unit_test(test_section_sort_array_default),
        cmocka_unit_test(test_bare_increment),
        cmocka_unit_test(test_use_limiter_two_threads),
        cmocka_unit_test(test_extract_and_increment),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_journal_rings),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_readers_during_swaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
