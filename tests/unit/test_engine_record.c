/* Record and replay in the engine: services and their validation, modes,
 * what each mode answers, recording keys, oneOf sequences, redaction,
 * truncation, coverage, persistence and concurrent recordings. Runs on
 * memory and on SQLite storage (tests/CMakeLists.txt). */
#include <pthread.h>
#include <unistd.h>

#include "test_engine_util.h"

/* An exchange built from a t_req_t, kept alive with its arrays. */
typedef struct t_x {
    doppel_exchange_t x;
    doppel_kv_t hk[8], qk[8];
} t_x_t;

static void t_build(t_x_t *t, const t_req_t *r)
{
    memset(t, 0, sizeof(*t));
    size_t nh = 0, nq = 0;
    for (size_t i = 0; r->h[i] && nh < 8; i += 2, nh++)
        t->hk[nh] = (doppel_kv_t){{r->h[i], strlen(r->h[i])},
                                  {r->h[i + 1], strlen(r->h[i + 1])}};
    for (size_t i = 0; r->q[i] && nq < 8; i += 2, nq++)
        t->qk[nq] = (doppel_kv_t){{r->q[i], strlen(r->q[i])},
                                  {r->q[i + 1], strlen(r->q[i + 1])}};
    doppel_exchange_t *x = &t->x;
    x->size = sizeof(*x);
    x->protocol = DOPPEL_STR("http");
    if (r->ns)
        x->ns = (doppel_str_t){r->ns, strlen(r->ns)};
    const char *m = r->method ? r->method : "GET";
    x->operation = (doppel_str_t){m, strlen(m)};
    x->target = (doppel_str_t){r->path, strlen(r->path)};
    x->metadata = t->hk;
    x->n_metadata = nh;
    x->params = t->qk;
    x->n_params = nq;
    if (r->body) {
        x->body = (const uint8_t *)r->body;
        x->body_len = strlen(r->body);
    }
    x->request_id = DOPPEL_STR("req-r");
}

static void svc_create(dp_engine_t *e, const char *ns, const char *body)
{
    json_t *b = t_json(body);
    dp_err_t err = {0};
    json_t *out = NULL;
    int rc = dp_engine_service_create(e, ns, b, &out, &err);
    if (rc != 0)
        fail_msg("service create: %d %s: %s", rc, err.field, err.message);
    json_decref(out);
    json_decref(b);
}

static void svc_fails(dp_engine_t *e, const char *body, int status,
                      const char *field)
{
    json_t *b = t_json(body);
    dp_err_t err = {0};
    json_t *out = NULL;
    int rc = dp_engine_service_create(e, NULL, b, &out, &err);
    json_decref(b);
    if (rc == 0)
        fail_msg("service %s was accepted, expected %d on %s", body, status,
                 field);
    assert_null(out);
    assert_int_equal(err.status, status);
    if (strcmp(err.field, field) != 0)
        fail_msg("%s: expected field %s, got %s (%s)", body, field, err.field,
                 err.message);
}

static void set_mode(dp_engine_t *e, const char *ns, const char *mode)
{
    dp_err_t err = {0};
    json_t *out = NULL;
    assert_int_equal(dp_engine_mode_set(e, ns, mode, &out, &err), 0);
    json_decref(out);
}

/* Matches r in LEARN mode and records the answer (status, one header, body);
 * returns dp_engine_record's result. */
static int learn(dp_engine_t *e, const t_req_t *r, int status,
                 const char *hname, const char *hval, const char *body)
{
    t_x_t t;
    t_build(&t, r);
    doppel_reply_t *rp = NULL;
    assert_int_equal(dp_engine_match(e, &t.x, &rp), 0);
    assert_int_equal(rp->kind, DOPPEL_REPLY_PROXY);
    assert_true(rp->flags & DOPPEL_REPLY_F_RECORD);
    doppel_kv_t h[2] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
        {{hname ? hname : "X-None", strlen(hname ? hname : "X-None")},
         {hval ? hval : "", strlen(hval ? hval : "")}}};
    doppel_fetch_result_t res = {
        .size = sizeof(res),
        .status = status,
        .headers = h,
        .n_headers = 2,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    dp_err_t err = {0};
    int rc = dp_engine_record(e, &t.x, rp, &res, &err);
    dp_engine_reply_free(rp);
    return rc;
}

static json_t *recorded(dp_engine_t *e)
{
    const char *tags[] = {"recorded"};
    dp_mock_query_t q = {.tags = tags, .n_tags = 1, .limit = 1000};
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    json_t *items = json_incref(json_object_get(out, "items"));
    json_decref(out);
    return items;
}

/* ---- services and modes ------------------------------------------------ */

static void test_service_crud_and_validation(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL,
               "{\"name\":\"users\",\"target\":\"https://u.example/"
               "v1/\",\"pathPrefix\":\"/users/\",\"recordHeaders\":"
               "[\"X-Tenant\",\"x-tenant\"]}");
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_service_get(e, "sandbox", "users", &out, &err),
                     0);
    /* normalised: no trailing slashes, lower-case unique header names,
     * defaults */
    assert_string_equal(json_string_value(json_object_get(out, "target")),
                        "https://u.example/v1");
    assert_string_equal(json_string_value(json_object_get(out, "pathPrefix")),
                        "/users");
    assert_int_equal(json_array_size(json_object_get(out, "recordHeaders")), 1);
    assert_int_equal(json_integer_value(json_object_get(out, "missStatus")),
                     404);
    assert_true(json_is_true(json_object_get(out, "tlsVerify")));
    assert_true(json_is_null(json_object_get(out, "mode")));
    assert_string_equal(
        json_string_value(json_object_get(out, "effectiveMode")), "SPY");
    json_decref(out);

    svc_fails(e,
              "{\"name\":\"users\",\"target\":\"http://x\",\"pathPrefix\":"
              "\"/o\"}",
              409, "name");
    svc_fails(e,
              "{\"name\":\"u2\",\"target\":\"http://x\",\"pathPrefix\":"
              "\"/users\"}",
              409, "pathPrefix");
    svc_fails(e, "{\"target\":\"http://x\"}", 400, "name");
    svc_fails(e, "{\"name\":\"a/b\",\"target\":\"http://x\"}", 400, "name");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"file:///etc/passwd\"}", 400,
              "target");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"http://\"}", 400, "target");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"http://a:b@h\"}", 400, "target");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"http://h/\\u0001x\"}", 400,
              "target");
    svc_fails(e,
              "{\"name\":\"n\",\"target\":\"http://h\",\"pathPrefix\":"
              "\"/a?b\"}",
              400, "pathPrefix");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"http://h\",\"mode\":\"rec\"}",
              400, "mode");
    svc_fails(e,
              "{\"name\":\"n\",\"target\":\"http://h\",\"timeoutMs\":"
              "600001}",
              400, "timeoutMs");
    svc_fails(e,
              "{\"name\":\"n\",\"target\":\"http://h\",\"recordHeaders\":"
              "[\"Cookie\"]}",
              400, "recordHeaders[0]");
    svc_fails(e,
              "{\"name\":\"n\",\"target\":\"http://h\",\"recordHeaders\":"
              "[\"a b\"]}",
              400, "recordHeaders[0]");
    svc_fails(e, "{\"name\":\"n\",\"target\":\"http://h\",\"bogus\":1}", 400,
              "bogus");
    svc_fails(e, "[]", 400, "");

    svc_create(e, NULL, "{\"name\":\"a-first\",\"target\":\"http://a\"}");
    assert_int_equal(dp_engine_service_list(e, NULL, &out, &err), 0);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "name")),
        "a-first");
    json_decref(out);
    /* other namespaces see nothing */
    assert_int_equal(dp_engine_service_list(e, "other", &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);

    assert_int_equal(dp_engine_service_delete(e, NULL, "users", &err), 0);
    assert_int_equal(dp_engine_service_delete(e, NULL, "users", &err), -ENOENT);
    assert_int_equal(err.status, 404);
    assert_int_equal(dp_engine_service_get(e, NULL, "users", &out, &err),
                     -ENOENT);
    dp_engine_close(e);
}

static void test_modes(void **state)
{
    (void)state;
    assert_int_equal(dp_mode_parse("learn"), DP_MODE_LEARN);
    assert_int_equal(dp_mode_parse("PassThrough"), DP_MODE_PASSTHROUGH);
    assert_int_equal(dp_mode_parse("record"), 0);
    assert_int_equal(dp_mode_parse(NULL), 0);
    assert_string_equal(dp_mode_name(DP_MODE_MOCK), "MOCK");
    assert_null(dp_mode_name(0));

    dp_engine_t *e = t_open();
    json_t *out = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mode_get(e, NULL, &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "mode")), "SPY");
    assert_true(json_is_false(json_object_get(out, "explicit")));
    json_decref(out);
    assert_int_equal(dp_engine_mode_set(e, NULL, "bogus", &out, &err), -EINVAL);
    assert_string_equal(err.field, "mode");
    assert_null(out);
    assert_int_equal(dp_engine_mode_set(e, NULL, "mock", &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "mode")),
                        "MOCK");
    assert_string_equal(json_string_value(json_object_get(out, "previous")),
                        "SPY");
    json_decref(out);
    /* a service override, and back to inherit */
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "s", "Learn", &out, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(out, "effectiveMode")), "LEARN");
    json_decref(out);
    assert_int_equal(dp_engine_service_set_mode(e, NULL, "s", "x", &out, &err),
                     -EINVAL);
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "nope", "MOCK", &out, &err),
        -ENOENT);
    assert_int_equal(dp_engine_service_set_mode(e, NULL, "s", NULL, &out, &err),
                     0);
    assert_string_equal(
        json_string_value(json_object_get(out, "effectiveMode")), "MOCK");
    json_decref(out);
    /* modes are per namespace */
    assert_int_equal(dp_engine_mode_get(e, "other", &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "mode")), "SPY");
    json_decref(out);
    dp_engine_close(e);
}

/* ---- what each mode answers -----------------------------------------------
 */

static void test_mode_replies(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL,
               "{\"name\":\"api\",\"target\":\"http://up.example:81/"
               "base\",\"pathPrefix\":\"/api\",\"timeoutMs\":1234,"
               "\"tlsVerify\":false,\"missStatus\":418}");
    svc_create(e, NULL,
               "{\"name\":\"v2\",\"target\":\"https://v2.example\","
               "\"pathPrefix\":\"/api/v2\"}");

    set_mode(e, NULL, "PASSTHROUGH");
    doppel_reply_t *r = t_match(e, REQ(.path = "/api/a b/c", .q = {"x", "1"}));
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_int_equal(r->flags & DOPPEL_REPLY_F_RECORD, 0);
    char *s = strndup(r->proxy_target.ptr, r->proxy_target.len);
    assert_string_equal(s, "http://up.example:81/base/a%20b/c");
    free(s);
    assert_int_equal(r->service.len, 3);
    assert_memory_equal(r->service.ptr, "api", 3);
    assert_int_equal(r->proxy_timeout_ms, 1234);
    assert_int_equal(r->proxy_flags, DOPPEL_FETCH_F_INSECURE);
    dp_engine_reply_free(r);
    /* longest prefix wins; the prefix is whole segments */
    r = t_match(e, REQ(.path = "/api/v2/x"));
    s = strndup(r->proxy_target.ptr, r->proxy_target.len);
    assert_string_equal(s, "https://v2.example/x");
    free(s);
    assert_int_equal(r->proxy_flags, 0);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/apix"));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(r->status, 404);
    assert_int_equal(r->service.len, 0);
    assert_null(t_header(r, "X-Doppel-Miss"));
    dp_engine_reply_free(r);
    /* other namespaces are not affected */
    r = t_match(e, REQ(.path = "/api/x", .ns = "other"));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);

    set_mode(e, NULL, "LEARN");
    r = t_match(e, REQ(.path = "/api"));
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_true(r->flags & DOPPEL_REPLY_F_RECORD);
    s = strndup(r->proxy_target.ptr, r->proxy_target.len);
    assert_string_equal(s, "http://up.example:81/base");
    free(s);
    dp_engine_reply_free(r);

    char mid[64];
    strcpy(mid, t_put(e, "{\"http\":{\"route\":\"/api/known\"},"
                         "\"response\":{\"payload\":{\"ok\":1}}}"));
    set_mode(e, NULL, "MOCK");
    r = t_match(e, REQ(.path = "/api/known"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(r->service.len, 3);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/api/unknown", .method = "DELETE"));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(r->status, 418);
    assert_true(r->flags & DOPPEL_REPLY_F_MISS);
    assert_string_equal(t_header(r, "X-Doppel-Miss"), "true");
    dp_engine_reply_free(r);
    json_t *um = NULL;
    assert_int_equal(dp_engine_unmatched(e, NULL, 0, 10, &um), 0);
    json_t *it = json_array_get(json_object_get(um, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "path")),
                        "/api/unknown");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 418);
    json_decref(um);
    json_t *cov = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_coverage(e, NULL, "api", &cov, &err), 0);
    json_t *svc = json_array_get(json_object_get(cov, "services"), 0);
    json_t *miss = json_array_get(json_object_get(svc, "misses"), 0);
    assert_string_equal(json_string_value(json_object_get(miss, "method")),
                        "DELETE");
    assert_string_equal(json_string_value(json_object_get(miss, "path")),
                        "/api/unknown");
    assert_int_equal(json_integer_value(json_object_get(miss, "count")), 1);
    json_decref(cov);
    assert_int_equal(dp_engine_coverage(e, NULL, "nope", &cov, &err), -ENOENT);

    set_mode(e, NULL, "SPY");
    r = t_match(e, REQ(.path = "/api/known"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    dp_engine_reply_free(r);
    r = t_match(e, REQ(.path = "/api/unknown"));
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_int_equal(r->flags & DOPPEL_REPLY_F_RECORD, 0);
    dp_engine_reply_free(r);
    /* deleting the service: requests behave as before services existed */
    assert_int_equal(dp_engine_service_delete(e, NULL, "api", &err), 0);
    r = t_match(e, REQ(.path = "/api/unknown"));
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(r->status, 404);
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

/* ---- recording keys ---------------------------------------------------------
 */

static void test_record_keys(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL,
               "{\"name\":\"s\",\"target\":\"http://h\","
               "\"recordHeaders\":[\"X-Tenant\"]}");
    set_mode(e, NULL, "LEARN");
    assert_int_equal(learn(e, REQ(.path = "/q", .q = {"a", "1", "b", "2"}), 200,
                           NULL, NULL, "{\"r\":\"q\"}"),
                     0);
    assert_int_equal(learn(e,
                           REQ(.method = "POST", .path = "/j",
                               .body = "{\"x\":1,\"y\":[1,2]}"),
                           201, NULL, NULL, "{\"r\":\"j\"}"),
                     0);
    assert_int_equal(
        learn(e, REQ(.method = "PUT", .path = "/t", .body = "plain text"), 200,
              NULL, NULL, "{\"r\":\"t\"}"),
        0);
    assert_int_equal(learn(e, REQ(.path = "/users/:id/*"), 200, NULL, NULL,
                           "{\"r\":\"lit\"}"),
                     0);
    assert_int_equal(learn(e, REQ(.path = "/h", .h = {"x-tenant", "a"}), 200,
                           NULL, NULL, "{\"r\":\"h\"}"),
                     0);
    json_t *recs = recorded(e);
    assert_int_equal(json_array_size(recs), 5);
    json_decref(recs);

    set_mode(e, NULL, "MOCK");
    /* query: order does not matter, every parameter must be there, none
     * extra */
    assert_string_not_equal(
        t_who(e, REQ(.path = "/q", .q = {"b", "2", "a", "1"})), "");
    assert_string_equal(t_who(e, REQ(.path = "/q", .q = {"a", "1"})), "");
    assert_string_equal(
        t_who(e, REQ(.path = "/q", .q = {"a", "1", "b", "2", "c", "3"})), "");
    assert_string_equal(t_who(e, REQ(.path = "/q")), "");
    /* JSON bodies compare structurally */
    assert_string_not_equal(
        t_who(e, REQ(.method = "POST", .path = "/j",
                     .body = " { \"y\" : [1, 2], \"x\" : 1 } ")),
        "");
    assert_string_equal(t_who(e, REQ(.method = "POST", .path = "/j",
                                     .body = "{\"x\":1,\"y\":[2,1]}")),
                        "");
    assert_string_equal(t_who(e, REQ(.method = "GET", .path = "/j")), "");
    /* other bodies byte for byte */
    assert_string_not_equal(
        t_who(e, REQ(.method = "PUT", .path = "/t", .body = "plain text")), "");
    assert_string_equal(
        t_who(e, REQ(.method = "PUT", .path = "/t", .body = "plain text ")),
        "");
    /* an empty body stays empty */
    assert_string_equal(
        t_who(e, REQ(.path = "/q", .q = {"a", "1", "b", "2"}, .body = "{}")),
        "");
    /* ':' and '*' in a recorded path are text */
    assert_string_not_equal(t_who(e, REQ(.path = "/users/:id/*")), "");
    assert_string_equal(t_who(e, REQ(.path = "/users/7/x")), "");
    /* recordHeaders */
    assert_string_not_equal(t_who(e, REQ(.path = "/h", .h = {"X-Tenant", "a"})),
                            "");
    assert_string_equal(t_who(e, REQ(.path = "/h", .h = {"X-Tenant", "b"})),
                        "");
    assert_string_equal(t_who(e, REQ(.path = "/h")), "");
    dp_engine_close(e);
}

static void test_sequences(void **state)
{
    (void)state;
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.record_sequence_max = 3;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    set_mode(e, NULL, "LEARN");
    const t_req_t *rq = REQ(.path = "/c");
    assert_int_equal(learn(e, rq, 200, NULL, NULL, "{\"n\":1}"), 0);
    /* the same answer again: nothing changes */
    assert_int_equal(learn(e, rq, 200, NULL, NULL, "{\"n\":1}"), 0);
    json_t *recs = recorded(e);
    assert_int_equal(json_array_size(recs), 1);
    char id[64];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_array_get(recs, 0), "id")));
    assert_non_null(json_object_get(json_array_get(recs, 0), "response"));
    json_decref(recs);
    /* different answers: an ordered sequence, bounded */
    assert_int_equal(learn(e, rq, 200, NULL, NULL, "{\"n\":2}"), 0);
    assert_int_equal(learn(e, rq, 500, NULL, NULL, "{\"n\":3}"), 0);
    assert_int_equal(learn(e, rq, 200, NULL, NULL, "{\"n\":4}"), 0);
    json_t *m = NULL;
    assert_int_equal(dp_engine_mock_get(e, id, &m, &err), 0);
    assert_null(json_object_get(m, "response"));
    json_t *rs = json_object_get(json_object_get(m, "oneOf"), "responses");
    assert_int_equal(json_array_size(rs), 3);
    assert_true(json_is_true(
        json_object_get(json_object_get(m, "recording"), "sequenceFull")));
    json_decref(m);
    set_mode(e, NULL, "MOCK");
    const char *want[] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":1}"};
    int status[] = {200, 200, 500, 200};
    for (int i = 0; i < 4; i++) {
        doppel_reply_t *r = t_match(e, rq);
        char *b = t_body(r);
        assert_string_equal(b, want[i]);
        assert_int_equal(r->status, status[i]);
        free(b);
        dp_engine_reply_free(r);
    }
    dp_engine_close(e);
}

/* ---- redaction, templates, truncation
 * ---------------------------------------- */

static void test_redaction_and_literal_bodies(void **state)
{
    (void)state;
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.redact_headers = " X-Secret ,x-other";
    cfg.record_body_max = 1024;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    assert_true(dp_engine_header_redacted(e, "SET-COOKIE", 10));
    assert_true(dp_engine_header_redacted(e, "x-secret", 8));
    assert_true(dp_engine_header_redacted(e, "X-Other", 7));
    assert_false(dp_engine_header_redacted(e, "X-Secre", 7));
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    set_mode(e, NULL, "LEARN");
    assert_int_equal(
        learn(e,
              REQ(.path = "/r", .h = {"Authorization", "Bearer SEKRIT1",
                                      "X-Secret", "SEKRIT2"}),
              200, "Set-Cookie", "sid=SEKRIT3",
              "{\"t\":\"$.pathParam.x costs $5\",\"$k\":[\"$$\"]}"),
        0);
    assert_int_equal(
        learn(e, REQ(.path = "/x"), 200, "X-Secret", "SEKRIT4", "{}"), 0);
    json_t *recs = recorded(e);
    char *txt = json_dumps(recs, 0);
    assert_null(strstr(txt, "SEKRIT"));
    assert_non_null(strstr(txt, "[REDACTED]"));
    free(txt);
    json_decref(recs);
    /* the journal of every request redacts the same names */
    json_t *j = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 100, &j), 0);
    txt = json_dumps(j, 0);
    assert_null(strstr(txt, "SEKRIT"));
    free(txt);
    json_decref(j);

    set_mode(e, NULL, "MOCK");
    doppel_reply_t *r = t_match(e, REQ(.path = "/r"));
    char *b = t_body(r);
    /* template syntax in a recorded body is text */
    json_t *got = t_json(b);
    json_t *exp = t_json("{\"t\":\"$.pathParam.x costs $5\",\"$k\":[\"$$\"]}");
    assert_true(json_equal(got, exp));
    json_decref(got);
    json_decref(exp);
    free(b);
    assert_string_equal(t_header(r, "Set-Cookie"), "[REDACTED]");
    dp_engine_reply_free(r);

    /* bodies over record_body_max: stored truncated and marked */
    set_mode(e, NULL, "LEARN");
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(learn(e,
                           REQ(.path = "/big", .method = "POST", .body = big),
                           200, NULL, NULL, big),
                     0);
    set_mode(e, NULL, "MOCK");
    /* the request body was too big to key on: any body matches */
    r = t_match(e, REQ(.path = "/big", .method = "POST", .body = "other"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(r->body_len, 1024);
    assert_string_equal(t_header(r, "X-Doppel-Truncated"), "2999");
    dp_engine_reply_free(r);
    dp_engine_close(e);
}

static void test_record_refusals(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    t_x_t t;
    t_build(&t, REQ(.path = "/a"));
    doppel_fetch_result_t res = {.size = sizeof(res), .status = 200};
    dp_err_t err = {0};
    /* not a recording reply */
    set_mode(e, NULL, "PASSTHROUGH");
    doppel_reply_t *r = NULL;
    assert_int_equal(dp_engine_match(e, &t.x, &r), 0);
    assert_int_equal(dp_engine_record(e, &t.x, r, &res, &err), -EINVAL);
    dp_engine_reply_free(r);
    set_mode(e, NULL, "LEARN");
    assert_int_equal(dp_engine_match(e, &t.x, &r), 0);
    res.status = 0;
    assert_int_equal(dp_engine_record(e, &t.x, r, &res, &err), -EPROTO);
    res.status = 200;
    /* Methods that are not whole tokens (found by fuzz/fuzz_record): a
     * NUL inside once recorded as the part before it, a method of 40
     * bytes or more or none as GET; no such mock matched its own
     * request. */
    static const char nul_method[] = "GET\0x";
    static const char long_method[] =
        "GETGETGETGETGETGETGETGETGETGETGETGETGETGETGET"; /* 45 */
    const doppel_str_t bad_methods[] = {
        {nul_method, sizeof(nul_method) - 1},
        {long_method, sizeof(long_method) - 1},
        DOPPEL_STR("GE T"),
        /* none at all: once recorded as GET, which a method-less request
         * never matches */
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]);
         i++) {
        t_x_t bad = t;
        bad.x.operation = bad_methods[i];
        assert_int_equal(dp_engine_record(e, &bad.x, r, &res, &err),
                         -EINVAL);
        assert_string_equal(err.field, "path");
    }
    /* Query names and values that are not NUL-free UTF-8 (found by
     * fuzz/fuzz_record): stored, such a mock was not listed and never
     * matched; a skipped name left a mock its request did not match. */
    static const char nul_value[] = "a\0b", latin1[] = "\xe9t\xe9";
    const doppel_kv_t bad_query[][1] = {
        {{DOPPEL_STR("x"), {nul_value, sizeof(nul_value) - 1}}},
        {{DOPPEL_STR("x"), {latin1, sizeof(latin1) - 1}}},
        {{{nul_value, sizeof(nul_value) - 1}, DOPPEL_STR("1")}},
    };
    for (size_t i = 0; i < sizeof(bad_query) / sizeof(bad_query[0]); i++) {
        t_x_t bad = t;
        bad.x.params = bad_query[i];
        bad.x.n_params = 1;
        assert_int_equal(dp_engine_record(e, &bad.x, r, &res, &err),
                         -EINVAL);
        assert_string_equal(err.field, "path");
    }
    /* the service went away meanwhile */
    assert_int_equal(dp_engine_service_delete(e, NULL, "s", &err), 0);
    assert_int_equal(dp_engine_record(e, &t.x, r, &res, &err), -ENOENT);
    dp_engine_reply_free(r);
    json_t *recs = recorded(e);
    assert_int_equal(json_array_size(recs), 0);
    json_decref(recs);
    dp_engine_close(e);
}

/* ---- coverage
 * ----------------------------------------------------------------- */

static void test_coverage_counts_hits(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL,
               "{\"name\":\"s\",\"target\":\"http://h\","
               "\"pathPrefix\":\"/s\"}");
    svc_create(e, NULL,
               "{\"name\":\"idle\",\"target\":\"http://i\","
               "\"pathPrefix\":\"/i\"}");
    set_mode(e, NULL, "LEARN");
    assert_int_equal(learn(e, REQ(.path = "/s/a"), 200, NULL, NULL, "{}"), 0);
    assert_int_equal(
        learn(e, REQ(.path = "/s/a", .q = {"p", "1"}), 200, NULL, NULL, "{}"),
        0);
    set_mode(e, NULL, "MOCK");
    for (int i = 0; i < 3; i++)
        dp_engine_reply_free(t_match(e, REQ(.path = "/s/a")));
    json_t *cov = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_coverage(e, NULL, NULL, &cov, &err), 0);
    json_t *svcs = json_object_get(cov, "services");
    assert_int_equal(json_array_size(svcs), 2);
    json_t *s = NULL, *idle = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(svcs, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (strcmp(n, "s") == 0)
            s = it;
        else
            idle = it;
    }
    assert_non_null(s);
    assert_non_null(idle);
    assert_int_equal(json_integer_value(json_object_get(s, "recordedMocks")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(s, "hits")), 3);
    json_t *ep = json_array_get(json_object_get(s, "endpoints"), 0);
    assert_string_equal(json_string_value(json_object_get(ep, "path")), "/s/a");
    assert_int_equal(json_integer_value(json_object_get(ep, "recordedMocks")),
                     2);
    assert_true(json_is_integer(json_object_get(ep, "lastSeen")));
    assert_int_equal(json_integer_value(json_object_get(idle, "recordedMocks")),
                     0);
    assert_true(json_is_null(json_object_get(idle, "lastSeen")));
    json_decref(cov);
    /* a reset forgets recordings and misses, keeps the services */
    dp_engine_reply_free(t_match(e, REQ(.path = "/s/none")));
    assert_int_equal(dp_engine_coverage(e, NULL, "s", &cov, &err), 0);
    s = json_array_get(json_object_get(cov, "services"), 0);
    assert_int_equal(json_array_size(json_object_get(s, "misses")), 1);
    json_decref(cov);
    assert_int_equal(dp_engine_reset(e, "sandbox", &err), 0);
    assert_int_equal(dp_engine_coverage(e, NULL, "s", &cov, &err), 0);
    s = json_array_get(json_object_get(cov, "services"), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "recordedMocks")),
                     0);
    assert_int_equal(json_array_size(json_object_get(s, "misses")), 0);
    json_decref(cov);
    dp_engine_close(e);
}

/* ---- concurrency
 * ---------------------------------------------------------------- */

typedef struct rec_arg {
    dp_engine_t *e;
    int base;
} rec_arg_t;

static void *recorder(void *p)
{
    rec_arg_t *a = p;
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof(body), "{\"n\":%d}", a->base + i);
        t_x_t t;
        t_build(&t, REQ(.path = "/same"));
        doppel_reply_t *rp = NULL;
        if (dp_engine_match(a->e, &t.x, &rp) != 0)
            return (void *)1;
        doppel_fetch_result_t res = {.size = sizeof(res),
                                     .status = 200,
                                     .body = body,
                                     .body_len = strlen(body)};
        dp_err_t err = {0};
        int rc = dp_engine_record(a->e, &t.x, rp, &res, &err);
        dp_engine_reply_free(rp);
        if (rc != 0)
            return (void *)2;
    }
    return NULL;
}

static void test_concurrent_recordings_lose_nothing(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    set_mode(e, NULL, "LEARN");
    pthread_t th[4];
    rec_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (rec_arg_t){e, i * 100};
        assert_int_equal(pthread_create(&th[i], NULL, recorder, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    json_t *recs = recorded(e);
    assert_int_equal(json_array_size(recs), 1);
    json_t *rs = json_object_get(
        json_object_get(json_array_get(recs, 0), "oneOf"), "responses");
    assert_int_equal(json_array_size(rs), 20);
    json_decref(recs);
    dp_engine_close(e);
}

/* ---- persistence
 * ------------------------------------------------------------------ */

static void test_settings_survive_reopen(void **state)
{
    (void)state;
    char dir[] = "/tmp/doppel-rr-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], serr[256];
    snprintf(path, sizeof(path), "%s/rr.db", dir);
    dp_storage_t *st = NULL;
    assert_int_equal(dp_storage_sqlite_open(path, &st, serr, sizeof(serr)), 0);
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(NULL, st, &e, &err), 0);
    svc_create(e, "team",
               "{\"name\":\"s\",\"target\":\"http://h\","
               "\"pathPrefix\":\"/s\",\"mode\":\"mock\"}");
    svc_create(e, "team", "{\"name\":\"gone\",\"target\":\"http://g\"}");
    set_mode(e, "team", "LEARN");
    assert_int_equal(dp_engine_service_delete(e, "team", "gone", &err), 0);
    dp_engine_close(e);

    assert_int_equal(dp_storage_sqlite_open(path, &st, serr, sizeof(serr)), 0);
    assert_int_equal(dp_engine_open(NULL, st, &e, &err), 0);
    json_t *out = NULL;
    assert_int_equal(dp_engine_mode_get(e, "team", &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "mode")),
                        "LEARN");
    json_decref(out);
    assert_int_equal(dp_engine_service_list(e, "team", &out, &err), 0);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "mode")),
        "MOCK");
    json_decref(out);
    /* and the snapshot serves it */
    doppel_reply_t *r = t_match(e, REQ(.path = "/s/x", .ns = "team"));
    assert_true(r->flags & DOPPEL_REPLY_F_MISS);
    dp_engine_reply_free(r);
    dp_engine_close(e);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Headers an answer's Connection header lists, and every Proxy-* header,
 * are hop-by-hop: not recorded. JSON numbers key by value (1 is 1.0), as
 * the matcher compares them, so both requests share one recording. */
static void test_hop_headers_and_number_keys(void **state)
{
    (void)state;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(NULL, t_storage(), &e, &err), 0);
    svc_create(e, NULL, "{\"name\":\"s\",\"target\":\"http://h\"}");
    set_mode(e, NULL, "LEARN");
    t_x_t t;
    t_build(&t, REQ(.path = "/hop"));
    doppel_reply_t *rp = NULL;
    assert_int_equal(dp_engine_match(e, &t.x, &rp), 0);
    doppel_kv_t h[] = {
        {DOPPEL_STR("Connection"), DOPPEL_STR("close, X-Hop ,x-other")},
        {DOPPEL_STR("x-hop"), DOPPEL_STR("1")},
        {DOPPEL_STR("X-Other"), DOPPEL_STR("2")},
        {DOPPEL_STR("Proxy-Foo"), DOPPEL_STR("3")},
        {DOPPEL_STR("Proxy-Authenticate"), DOPPEL_STR("Basic")},
        {DOPPEL_STR("Keep-Alive"), DOPPEL_STR("timeout=5")},
        {DOPPEL_STR("X-Hopper"), DOPPEL_STR("kept")},
        {DOPPEL_STR("Date"), DOPPEL_STR("Sat, 21 Nov 2026 21:09:05 GMT")},
        {DOPPEL_STR("Server"), DOPPEL_STR("nginx")},
    };
    doppel_fetch_result_t res = {.size = sizeof(res),
                                 .status = 200,
                                 .headers = h,
                                 .n_headers = sizeof(h) / sizeof(h[0]),
                                 .body = "x",
                                 .body_len = 1};
    assert_int_equal(dp_engine_record(e, &t.x, rp, &res, &err), 0);
    dp_engine_reply_free(rp);
    json_t *recs = recorded(e);
    assert_int_equal(json_array_size(recs), 1);
    json_t *hs = json_object_get(
        json_object_get(json_array_get(recs, 0), "response"), "headers");
    assert_int_equal(json_object_size(hs), 1);
    assert_string_equal(json_string_value(json_object_get(hs, "X-Hopper")),
                        "kept");
    json_decref(recs);
    /* the same answer a second later (another Date) is the same answer */
    h[7].value = DOPPEL_STR("Sat, 21 Nov 2026 21:09:06 GMT");
    assert_int_equal(dp_engine_match(e, &t.x, &rp), 0);
    assert_int_equal(dp_engine_record(e, &t.x, rp, &res, &err), 0);
    dp_engine_reply_free(rp);
    recs = recorded(e);
    assert_int_equal(json_array_size(recs), 1);
    assert_null(json_object_get(json_array_get(recs, 0), "oneOf"));
    json_decref(recs);

    assert_int_equal(learn(e,
                           REQ(.method = "POST", .path = "/n",
                               .body = "{\"a\":1.0,\"b\":[2]}"),
                           200, NULL, NULL, "{\"r\":1}"),
                     0);
    assert_int_equal(learn(e,
                           REQ(.method = "POST", .path = "/n",
                               .body = "{\"b\":[2.0],\"a\":1}"),
                           200, NULL, NULL, "{\"r\":2}"),
                     0);
    assert_int_equal(learn(e,
                           REQ(.method = "POST", .path = "/n",
                               .body = "{\"b\":[2],\"a\":1.5}"),
                           200, NULL, NULL, "{\"r\":3}"),
                     0);
    recs = recorded(e);
    assert_int_equal(json_array_size(recs), 3); /* /hop, /n a=1, /n a=1.5 */
    size_t seqs = 0, i;
    json_t *m;
    json_array_foreach(recs, i, m)
    {
        json_t *rs = json_object_get(json_object_get(m, "oneOf"), "responses");
        if (rs) {
            assert_int_equal(json_array_size(rs), 2);
            seqs++;
        }
    }
    assert_int_equal(seqs, 1);
    json_decref(recs);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_crud_and_validation),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_mode_replies),
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_redaction_and_literal_bodies),
        cmocka_unit_test(test_record_refusals),
        cmocka_unit_test(test_coverage_counts_hits),
        cmocka_unit_test(test_concurrent_recordings_lose_nothing),
        cmocka_unit_test(test_settings_survive_reopen),
        cmocka_unit_test(test_hop_headers_and_number_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
