/* Response template files: payloadTemplatePath and valueFromFile compile
 * from the file, a replace recompiles the mocks that use it (all or
 * nothing), a delete of a file in use is refused, and files survive a
 * reopen. */
#include "test_engine_util.h"

static void t_file(dp_engine_t *e, const char *ns, const char *name,
                   const char *content, int mode)
{
    dp_err_t err = {0};
    json_t *out = NULL;
    int rc = dp_engine_tfile_put(e, ns, name, content, strlen(content), mode,
                                 &out, &err);
    if (rc != 0)
        fail_msg("tfile put %s: %s: %s", name, err.field, err.message);
    json_decref(out);
}

static char *body_of(dp_engine_t *e, const t_req_t *r, int *status)
{
    doppel_reply_t *rp = t_match(e, r);
    char *b = t_body(rp);
    if (status)
        *status = rp->status;
    dp_engine_reply_free(rp);
    return b;
}

static void test_payload_template_path(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    /* before the file exists, the mock is refused naming the field */
    t_put_fails(e,
                "{\"http\":{\"route\":\"/u\"},\"response\":{"
                "\"payloadTemplatePath\":\"user.json\"}}",
                "response.payloadTemplatePath");
    t_file(e, NULL, "user.json", "{\"id\": \"$.req.id\", \"kind\": \"user\"}",
           DP_TFILE_CREATE);
    t_file(e, NULL, "hello.txt", "Hello $.req.name!", DP_TFILE_CREATE);
    t_put(e, "{\"http\":{\"route\":\"/u\",\"httpMethod\":\"POST\"},"
             "\"response\":{\"payloadTemplatePath\":\"user.json\"}}");
    t_put(e, "{\"http\":{\"route\":\"/h\",\"httpMethod\":\"POST\"},"
             "\"oneOf\":{\"responses\":[{\"payloadTemplatePath\":"
             "\"hello.txt\"},{\"payload\":\"second\"}]}}");
    doppel_reply_t *rp =
        t_match(e, REQ(.method = "POST", .path = "/u", .body = "{\"id\":7}",
                       .h = {"Content-Type", "application/json"}));
    char *b = t_body(rp);
    assert_string_equal(b, "{\"id\":7,\"kind\":\"user\"}");
    assert_non_null(strstr(t_header(rp, "Content-Type"), "application/json"));
    free(b);
    dp_engine_reply_free(rp);
    b = body_of(e,
                REQ(.method = "POST", .path = "/h",
                    .body = "{\"name\":\"Bob\"}",
                    .h = {"Content-Type", "application/json"}),
                NULL);
    assert_string_equal(b, "Hello Bob!");
    free(b);
    /* both payload and the file: refused */
    t_put_fails(e,
                "{\"http\":{\"route\":\"/x\"},\"response\":{\"payload\":1,"
                "\"payloadTemplatePath\":\"user.json\"}}",
                "response.payloadTemplatePath");
    /* a name that reads as a path */
    t_put_fails(e,
                "{\"http\":{\"route\":\"/x\"},\"response\":{"
                "\"payloadTemplatePath\":\"../etc/passwd\"}}",
                "response.payloadTemplatePath");
    t_put_fails(e,
                "{\"http\":{\"route\":\"/x\"},\"oneOf\":{\"responses\":[{},{"
                "\"payloadTemplatePath\":\"nope\"}]}}",
                "oneOf.responses[1].payloadTemplatePath");
    /* files are per namespace */
    t_put_fails(e,
                "{\"namespace\":\"other\",\"http\":{\"route\":\"/x\"},"
                "\"response\":{\"payloadTemplatePath\":\"user.json\"}}",
                "response.payloadTemplatePath");
    /* "" is the SDKs' unset field: an empty body as before */
    t_put(e, "{\"http\":{\"route\":\"/e\"},\"response\":{"
             "\"payloadTemplatePath\":\"\"}}");
    dp_engine_close(e);
}

static void test_value_from_file(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_put_fails(e,
                "{\"http\":{\"route\":\"/v\",\"conditions\":[{\"path\":"
                "\"$.order\",\"valueFromFile\":\"order.json\"}]},"
                "\"response\":{}}",
                "http.conditions[0].valueFromFile");
    t_file(e, NULL, "order.json", "{\"sku\": \"A1\", \"qty\": 2}",
           DP_TFILE_CREATE);
    t_file(e, NULL, "token.txt", "secret-token", DP_TFILE_CREATE);
    const char *id =
        t_put(e, "{\"http\":{\"route\":\"/v\",\"httpMethod\":\"POST\","
                 "\"conditions\":[{\"path\":\"$.order\",\"valueFromFile\":"
                 "\"order.json\"}],\"header\":[{\"path\":\"X-Token\","
                 "\"valueFromFile\":\"token.txt\"}]},"
                 "\"response\":{\"payload\":\"ok\"}}");
    char mid[64];
    snprintf(mid, sizeof(mid), "%s", id);
    assert_string_equal(
        t_who(e, REQ(.method = "POST", .path = "/v",
                     .body = "{\"order\":{\"qty\":2,\"sku\":\"A1\"}}",
                     .h = {"Content-Type", "application/json", "X-Token",
                           "secret-token"})),
        mid);
    assert_string_equal(
        t_who(e, REQ(.method = "POST", .path = "/v",
                     .body = "{\"order\":{\"qty\":3,\"sku\":\"A1\"}}",
                     .h = {"Content-Type", "application/json", "X-Token",
                           "secret-token"})),
        "");
    t_put_fails(e,
                "{\"http\":{\"route\":\"/v\",\"conditions\":[{\"path\":"
                "\"a\",\"value\":1,\"valueFromFile\":\"order.json\"}]},"
                "\"response\":{}}",
                "http.conditions[0].valueFromFile");
    /* the stored mock keeps what the client sent */
    json_t *got = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_get(e, mid, &got, &err), 0);
    json_t *c0 = json_array_get(
        json_object_get(json_object_get(got, "http"), "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "valueFromFile")),
                        "order.json");
    assert_null(json_object_get(c0, "value"));
    json_decref(got);
    dp_engine_close(e);
}

static void test_replace_recompiles(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_file(e, NULL, "t.json", "{\"v\": 1}", DP_TFILE_CREATE);
    t_file(e, NULL, "want.txt", "A", DP_TFILE_CREATE);
    t_put(e, "{\"http\":{\"route\":\"/t\"},\"useLimiter\":100,"
             "\"response\":{\"payloadTemplatePath\":\"t.json\"}}");
    char mid[64];
    snprintf(mid, sizeof(mid), "%s",
             t_put(e, "{\"http\":{\"route\":\"/w\",\"queryParams\":[{"
                      "\"path\":\"q\",\"valueFromFile\":\"want.txt\"}]},"
                      "\"response\":{\"payload\":\"hit\"}}"));
    char *b = body_of(e, REQ(.path = "/t"), NULL);
    assert_string_equal(b, "{\"v\":1}");
    free(b);
    assert_string_equal(t_who(e, REQ(.path = "/w", .q = {"q", "A"})), mid);
    /* a create of a taken name is a conflict, a replace of a missing one
     * a 404 */
    dp_err_t err = {0};
    assert_int_equal(dp_engine_tfile_put(e, NULL, "t.json", "x", 1,
                                         DP_TFILE_CREATE, NULL, &err),
                     -EEXIST);
    assert_int_equal(err.status, 409);
    assert_int_equal(dp_engine_tfile_put(e, NULL, "none", "x", 1,
                                         DP_TFILE_REPLACE, NULL, &err),
                     -ENOENT);
    assert_int_equal(err.status, 404);

    json_t *out = NULL;
    assert_int_equal(dp_engine_tfile_put(e, NULL, "t.json", "{\"v\": 2}", 8,
                                         DP_TFILE_REPLACE, &out, &err),
                     0);
    assert_int_equal(json_array_size(json_object_get(out, "recompiled")), 1);
    json_decref(out);
    b = body_of(e, REQ(.path = "/t"), NULL);
    assert_string_equal(b, "{\"v\":2}");
    free(b);
    t_file(e, NULL, "want.txt", "B", DP_TFILE_REPLACE);
    assert_string_equal(t_who(e, REQ(.path = "/w", .q = {"q", "A"})), "");
    assert_string_equal(t_who(e, REQ(.path = "/w", .q = {"q", "B"})), mid);

    /* a content a user mock cannot compile with changes nothing */
    const char *bad = "{\"v\": \"$.fake.NoSuchFaker\"}";
    assert_int_equal(dp_engine_tfile_put(e, NULL, "t.json", bad, strlen(bad),
                                         DP_TFILE_REPLACE, NULL, &err),
                     -EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.field, "content");
    assert_non_null(strstr(err.message, "does not compile"));
    b = body_of(e, REQ(.path = "/t"), NULL);
    assert_string_equal(b, "{\"v\":2}");
    free(b);
    json_t *g = NULL;
    assert_int_equal(dp_engine_tfile_get(e, "sandbox", "t.json", &g, &err), 0);
    assert_string_equal(json_string_value(json_object_get(g, "content")),
                        "{\"v\": 2}");
    assert_int_equal(json_array_size(json_object_get(g, "usedBy")), 1);
    json_decref(g);
    /* the counters of a recompiled mock carry over */
    json_t *list = NULL;
    dp_mock_query_t q = {.ns = "sandbox"};
    assert_int_equal(dp_engine_mock_list(e, &q, &list, &err), 0);
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        if (json_object_get(it, "useLimiter")) {
            assert_int_equal(
                json_integer_value(json_object_get(it, "useCounter")), 3);
            found = 1;
        }
    }
    assert_true(found);
    json_decref(list);
    dp_engine_close(e);
}

static void test_delete_in_use(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    t_file(e, NULL, "d.txt", "body", DP_TFILE_CREATE);
    char mid[64];
    snprintf(mid, sizeof(mid), "%s",
             t_put(e, "{\"http\":{\"route\":\"/d\"},\"response\":{"
                      "\"payloadTemplatePath\":\"d.txt\"}}"));
    dp_err_t err = {0};
    assert_int_equal(dp_engine_tfile_delete(e, NULL, "d.txt", &err), -EBUSY);
    assert_int_equal(err.status, 409);
    assert_non_null(strstr(err.message, mid));
    /* soft-deleted mocks can come back: still in use */
    assert_int_equal(dp_engine_mock_close(e, mid, NULL, &err), 0);
    assert_int_equal(dp_engine_tfile_delete(e, NULL, "d.txt", &err), -EBUSY);
    assert_int_equal(dp_engine_mock_purge(e, mid, &err), 0);
    assert_int_equal(dp_engine_tfile_delete(e, NULL, "d.txt", &err), 0);
    assert_int_equal(dp_engine_tfile_delete(e, NULL, "d.txt", &err), -ENOENT);
    assert_int_equal(err.status, 404);
    json_t *l = NULL;
    assert_int_equal(dp_engine_tfile_list(e, NULL, &l, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    dp_engine_close(e);
}

static void test_names_and_limits(void **state)
{
    (void)state;
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.tfile_max = 16;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    const char *bad[] = {"", "a/b", "..", ".hidden", "render", "a b", "x\\y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(dp_engine_tfile_put(e, NULL, bad[i], "x", 1,
                                             DP_TFILE_CREATE, NULL, &err),
                         -EINVAL);
        assert_string_equal(err.field, "name");
    }
    char longname[128 + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(dp_engine_tfile_put(e, NULL, longname, "x", 1,
                                         DP_TFILE_CREATE, NULL, &err),
                     -EINVAL);
    assert_int_equal(dp_engine_tfile_put(e, NULL, "big", "0123456789abcdefg",
                                         17, DP_TFILE_CREATE, NULL, &err),
                     -EFBIG);
    assert_int_equal(err.status, 413);
    assert_int_equal(dp_engine_tfile_put(e, NULL, "nul", "a\0b", 3,
                                         DP_TFILE_CREATE, NULL, &err),
                     -EINVAL);
    assert_string_equal(err.field, "content");
    assert_int_equal(dp_engine_tfile_put(e, NULL, "utf", "\xff\xfe", 2,
                                         DP_TFILE_CREATE, NULL, &err),
                     -EINVAL);
    json_t *l = NULL;
    assert_int_equal(dp_engine_tfile_list(e, NULL, &l, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    t_file(e, "b", "z.txt", "z", DP_TFILE_CREATE);
    t_file(e, "b", "a.txt", "aa", DP_TFILE_CREATE);
    t_file(e, NULL, "s.txt", "s", DP_TFILE_CREATE);
    assert_int_equal(dp_engine_tfile_list(e, "b", &l, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 2);
    json_t *first = json_array_get(json_object_get(l, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")),
                        "a.txt");
    assert_int_equal(json_integer_value(json_object_get(first, "size")), 2);
    assert_string_equal(json_string_value(json_object_get(first, "namespace")),
                        "b");
    json_decref(l);
    dp_engine_close(e);
}

/* Files and the mocks that use them come back after a reopen (SQLite). */
static void test_reopen(void **state)
{
    (void)state;
    char dir[] = "/tmp/doppel-tfiles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96], err_s[256];
    snprintf(path, sizeof(path), "%s/t.db", dir);
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    for (int round = 0; round < 2; round++) {
        dp_storage_t *st = NULL;
        assert_int_equal(
            dp_storage_sqlite_open(path, &st, err_s, sizeof(err_s)), 0);
        dp_engine_t *e = NULL;
        dp_err_t err = {0};
        assert_int_equal(dp_engine_open(&cfg, st, &e, &err), 0);
        if (round == 0) {
            t_file(e, NULL, "r.txt", "persisted $.queryParam.x",
                   DP_TFILE_CREATE);
            t_put(e, "{\"http\":{\"route\":\"/r\"},\"response\":{"
                     "\"payloadTemplatePath\":\"r.txt\"}}");
        }
        char *b = body_of(e, REQ(.path = "/r", .q = {"x", "yes"}), NULL);
        assert_string_equal(b, "persisted yes");
        free(b);
        json_t *g = NULL;
        assert_int_equal(dp_engine_tfile_get(e, "sandbox", "r.txt", &g, &err),
                         0);
        assert_string_equal(json_string_value(json_object_get(g, "content")),
                            "persisted $.queryParam.x");
        json_decref(g);
        dp_engine_close(e);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_template_path),
        cmocka_unit_test(test_value_from_file),
        cmocka_unit_test(test_replace_recompiles),
        cmocka_unit_test(test_delete_in_use),
        cmocka_unit_test(test_names_and_limits),
        cmocka_unit_test(test_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
