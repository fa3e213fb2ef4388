/* Routes, path splitting and the route trie; precedence through matching. */
#include "test_engine_util.h"

#include "engine_internal.h"

static void test_route_parse_kinds(void **state)
{
    (void)state;
    dp_route_t r;
    char why[128];
    assert_int_equal(dp_route_parse("/users/:id/files/*/x/*", &r, why,
                                    sizeof(why)),
                     0);
    assert_int_equal(r.n, 6);
    assert_int_equal(r.segs[0].kind, DP_SEG_STATIC);
    assert_string_equal(r.segs[0].text, "users");
    assert_int_equal(r.segs[1].kind, DP_SEG_PARAM);
    assert_string_equal(r.segs[1].text, "id");
    assert_int_equal(r.segs[3].kind, DP_SEG_STAR);
    assert_int_equal(r.segs[5].kind, DP_SEG_REST);
    assert_int_equal(r.n_static, 3);
    assert_int_equal(r.n_param, 1);
    assert_int_equal(r.n_wild, 2);
    dp_route_free(&r);
}

static void test_route_parse_errors(void **state)
{
    (void)state;
    dp_route_t r;
    char why[128];
    const char *bad[] = {"users", "/a/:", "/a/x*", "/a/:id/:id", "/a?b=1",
                         "/a/:i d", NULL};
    for (size_t i = 0; bad[i]; i++) {
        why[0] = '\0';
        if (dp_route_parse(bad[i], &r, why, sizeof(why)) != -EINVAL)
            fail_msg("route %s was accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
}

static void test_path_split_decodes(void **state)
{
    (void)state;
    dp_path_t p;
    assert_int_equal(dp_path_split("//a%20b/c%2Fd/%zz/%00/?q=1", 26, &p), 0);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.seg[0], "a b");
    assert_string_equal(p.seg[1], "c/d"); /* one segment, not two */
    assert_string_equal(p.seg[2], "%zz"); /* invalid escape kept */
    assert_string_equal(p.seg[3], "%00"); /* NUL never decoded */
    dp_path_free(&p);
    assert_int_equal(dp_path_split("/", 1, &p), 0);
    assert_int_equal(p.n, 0);
    dp_path_free(&p);
}

static void test_trie_collect(void **state)
{
    (void)state;
    dp_trie_t *t = dp_trie_new();
    const char *routes[] = {"/a/b", "/a/:x", "/a/*", "/a/b/c", "/z", NULL};
    dp_mock_t ms[5];
    dp_route_t rs[5];
    char why[64];
    for (size_t i = 0; routes[i]; i++) {
        memset(&ms[i], 0, sizeof(ms[i]));
        assert_int_equal(dp_route_parse(routes[i], &rs[i], why, sizeof(why)),
                         0);
        assert_int_equal(dp_trie_insert(t, &rs[i], &ms[i]), 0);
    }
    dp_mock_t *out[8];
    dp_path_t p;
    dp_path_split("/a/b", 4, &p);
    /* /a/b, /a/:x and the tail wildcard /a/ * */
    assert_int_equal(dp_trie_collect(t, &p, out, 8, NULL), 3);
    dp_path_free(&p);
    dp_path_split("/a/b/c", 6, &p);
    /* /a/b/c and /a/ * (rest) */
    assert_int_equal(dp_trie_collect(t, &p, out, 8, NULL), 2);
    dp_path_free(&p);
    dp_path_split("/a", 2, &p);
    /* the tail wildcard needs at least one segment */
    assert_int_equal(dp_trie_collect(t, &p, out, 8, NULL), 0);
    dp_path_free(&p);
    dp_path_split("/q", 2, &p);
    assert_int_equal(dp_trie_collect(t, &p, out, 8, NULL), 0);
    dp_path_free(&p);
    /* the cap bounds what is written, the count says how many matched */
    dp_path_split("/a/b", 4, &p);
    assert_int_equal(dp_trie_collect(t, &p, out, 1, NULL), 3);
    dp_path_free(&p);
    for (size_t i = 0; routes[i]; i++)
        dp_route_free(&rs[i]);
    dp_trie_free(t);
}

/* A sealed trie of one literal route answers from the route it keeps
 * (dp_trie); the same trie unsealed walks its nodes. Both must find the
 * same mocks for every path, whatever the route's shape. */
static void test_sealed_literal_route_agrees_with_the_walk(void **state)
{
    (void)state;
    const char *sets[][3] = {
        {"/ws/bench", NULL, NULL},
        {"/", NULL, NULL},
        {"/a%2Fb/c", NULL, NULL},
        {"/ws/bench", "/ws/bench", NULL}, /* two mocks, one route */
        {"/ws/bench", "/ws/:x", NULL},    /* not one literal route */
        {"/ws/bench", "/ws", NULL},       /* a mock on the way */
        {"/this-segment-is-long/and-this-one-is-longer-still/x", NULL, NULL},
    };
    const char *paths[] = {"/ws/bench", "/ws/bench/", "//ws//bench", "/ws",
                           "/ws/benc", "/ws/benchx", "/ws/bench/x", "/",
                           "/a%2Fb/c", "/a/b/c", "/wS/bench",
                           "/this-segment-is-long/and-this-one-is-longer-still/x",
                           NULL};
    for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
        dp_trie_t *sealed = dp_trie_new(), *walked = dp_trie_new();
        dp_mock_t ms[3];
        dp_route_t rs[3];
        char why[64];
        size_t n = 0;
        for (; n < 3 && sets[k][n]; n++) {
            memset(&ms[n], 0, sizeof(ms[n]));
            assert_int_equal(
                dp_route_parse(sets[k][n], &rs[n], why, sizeof(why)), 0);
            assert_int_equal(dp_trie_insert(sealed, &rs[n], &ms[n]), 0);
            assert_int_equal(dp_trie_insert(walked, &rs[n], &ms[n]), 0);
        }
        dp_trie_seal(sealed);
        for (size_t i = 0; paths[i]; i++) {
            dp_path_t p;
            assert_int_equal(dp_path_split(paths[i], strlen(paths[i]), &p), 0);
            dp_mock_t *a[4] = {0}, *b[4] = {0};
            size_t na = dp_trie_collect(sealed, &p, a, 4, NULL);
            size_t nb = dp_trie_collect(walked, &p, b, 4, NULL);
            if (na != nb || memcmp(a, b, sizeof(a)) != 0)
                fail_msg("routes %s,%s: %s found %zu sealed, %zu walked",
                         sets[k][0], sets[k][1] ? sets[k][1] : "-", paths[i],
                         na, nb);
            dp_path_free(&p);
        }
        /* and it does find its route */
        dp_path_t p;
        assert_int_equal(dp_path_split(sets[k][0], strlen(sets[k][0]), &p), 0);
        dp_mock_t *a[4];
        assert_true(dp_trie_collect(sealed, &p, a, 4, NULL) >= 1);
        dp_path_free(&p);
        for (size_t i = 0; i < n; i++)
            dp_route_free(&rs[i]);
        dp_trie_free(sealed);
        dp_trie_free(walked);
    }
}

static void test_precedence_static_param_wildcard(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char wild[64], param[64], stat[64], rest[64];
    strcpy(rest, t_put(e, "{\"http\":{\"route\":\"/u/*\"},\"response\":{}}"));
    strcpy(wild,
           t_put(e, "{\"http\":{\"route\":\"/u/*/x\"},\"response\":{}}"));
    strcpy(param,
           t_put(e, "{\"http\":{\"route\":\"/u/:id/x\"},\"response\":{}}"));
    strcpy(stat,
           t_put(e, "{\"http\":{\"route\":\"/u/me/x\"},\"response\":{}}"));
    assert_string_equal(t_who(e, REQ(.path = "/u/me/x")), stat);
    assert_string_equal(t_who(e, REQ(.path = "/u/42/x")), param);
    assert_string_equal(t_who(e, REQ(.path = "/u/42/y")), rest);
    assert_string_equal(t_who(e, REQ(.path = "/u/1/2/3")), rest);
    /* without the param route, the single-segment wildcard answers */
    dp_err_t err;
    assert_int_equal(dp_engine_mock_purge(e, param, &err), 0);
    assert_string_equal(t_who(e, REQ(.path = "/u/42/x")), wild);
    assert_string_equal(t_who(e, REQ(.path = "/u")), "");
    dp_engine_close(e);
}

static void test_trailing_slash_and_decoding(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char a[64], b[64];
    strcpy(a, t_put(e, "{\"http\":{\"route\":\"/users/\"},\"response\":{}}"));
    strcpy(b, t_put(e, "{\"http\":{\"route\":\"/files/a b/:name\"},"
                       "\"response\":{\"payload\":\"$.pathParam.name\"}}"));
    /* trailing and repeated slashes do not matter, both ways */
    assert_string_equal(t_who(e, REQ(.path = "/users")), a);
    assert_string_equal(t_who(e, REQ(.path = "/users/")), a);
    assert_string_equal(t_who(e, REQ(.path = "//users//")), a);
    assert_string_equal(t_who(e, REQ(.path = "/users?x=1")), a);
    /* percent-decoded segments, params captured decoded */
    doppel_reply_t *r = t_match(e, REQ(.path = "/files/a%20b/x%2Fy.txt"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    char *body = t_body(r);
    assert_string_equal(body, "x/y.txt");
    free(body);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_params_extracted(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put(e, "{\"http\":{\"route\":\"/u/:uid/o/:oid/*\"},\"response\":{"
             "\"payload\":{\"u\":\"$.pathParam.uid\",\"o\":\"$.pathParam.oid\"}}}");
    doppel_reply_t *r = t_match(e, REQ(.path = "/u/7/o/9/a/b"));
    char *body = t_body(r);
    json_t *j = t_json(body);
    assert_string_equal(json_string_value(json_object_get(j, "u")), "7");
    assert_string_equal(json_string_value(json_object_get(j, "o")), "9");
    json_decref(j);
    free(body);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_regex_route_last(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char re[64], st[64];
    strcpy(re, t_put(e, "{\"http\":{\"routePattern\":\"/v[0-9]+/items\"},"
                        "\"response\":{}}"));
    assert_string_equal(t_who(e, REQ(.path = "/v2/items")), re);
    /* anchored: the whole path must match */
    assert_string_equal(t_who(e, REQ(.path = "/v2/items/x")), "");
    strcpy(st, t_put(e, "{\"http\":{\"route\":\"/v2/items\"},\"response\":{}}"));
    assert_string_equal(t_who(e, REQ(.path = "/v2/items")), st);
    dp_engine_close(e);
}

static void test_methods(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char any[64], post[64];
    strcpy(any, t_put(e, "{\"http\":{\"route\":\"/m\"},\"response\":{}}"));
    strcpy(post, t_put(e, "{\"http\":{\"route\":\"/m\",\"httpMethod\":\"post\"},"
                          "\"response\":{}}"));
    assert_string_equal(t_who(e, REQ(.method = "POST", .path = "/m")), post);
    assert_string_equal(t_who(e, REQ(.method = "post", .path = "/m")), post);
    /* absent httpMethod means any method */
    assert_string_equal(t_who(e, REQ(.method = "DELETE", .path = "/m")), any);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_parse_kinds),
        cmocka_unit_test(test_route_parse_errors),
        cmocka_unit_test(test_path_split_decodes),
        cmocka_unit_test(test_trie_collect),
        cmocka_unit_test(test_sealed_literal_route_agrees_with_the_walk),
        cmocka_unit_test(test_precedence_static_param_wildcard),
        cmocka_unit_test(test_trailing_slash_and_decoding),
        cmocka_unit_test(test_params_extracted),
        cmocka_unit_test(test_regex_route_last),
        cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
