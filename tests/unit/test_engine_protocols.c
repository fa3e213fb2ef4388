/*
 * Protocol sections registered by plugins (ABI 1.2): the registry, the
 * adapter around a doppel_protocol_def_t (check per answer, the key, the
 * normalised section, conditions, status range, response_fields into
 * reply->extra, explain_miss), dormant mocks of a section that is not
 * enabled, and engine sessions (store scope 's', $.session.count,
 * per-session oneOf cursors).
 */
#define _GNU_SOURCE /* memmem */
#include "test_engine_util.h"

#include <pthread.h>
#include <unistd.h>

#include "doppel/http.h"
#include "doppel/plugin.h"
#include "doppel/protocol.h"

/* ---- a toy section --------------------------------------------------------
 * "toy": {"op": "...", "target": "...", "server": "...", "conditions",
 * "meta"}; op "bad" is refused, op "boom" fails (-EIO); the check records
 * what it saw. */

typedef struct seen {
    int calls;
    char ns[64];
    char section[512];
    char response[8][256];
    unsigned answers[8];
} seen_t;

static seen_t seen;
static int normalise; /* the check returns a normalised section */

static size_t str_member(doppel_str_t j, const char *key, char *out,
                         size_t cap)
{
    char pat[64];
    int n = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = memmem(j.ptr, j.len, pat, (size_t)n);
    if (p == NULL)
        return 0;
    p += n;
    const char *q = memchr(p, '"', (size_t)(j.ptr + j.len - p));
    size_t l = q ? (size_t)(q - p) : 0;
    if (l >= cap)
        l = cap - 1;
    memcpy(out, p, l);
    out[l] = '\0';
    return l;
}

static int toy_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     const doppel_mock_view_t *m, doppel_mock_key_t *k,
                     doppel_check_error_t *err)
{
    assert_ptr_equal(ctx, (doppel_ctx_t *)&seen);
    assert_ptr_equal(svc, (const doppel_services_t *)&normalise);
    assert_int_equal(m->size, sizeof(*m));
    assert_int_equal(k->size, sizeof(*k));
    if (seen.calls < 8) {
        snprintf(seen.response[seen.calls], sizeof(seen.response[0]), "%.*s",
                 (int)m->response.len, m->response.ptr);
        seen.answers[seen.calls] = m->answer;
    }
    seen.calls++;
    snprintf(seen.ns, sizeof(seen.ns), "%.*s", (int)m->ns.len, m->ns.ptr);
    snprintf(seen.section, sizeof(seen.section), "%.*s",
             (int)(m->section.len < 500 ? m->section.len : 500),
             m->section.ptr);
    char op[64] = "", tg[128] = "", sv[64] = "";
    str_member(m->section, "op", op, sizeof(op));
    if (strcmp(op, "bad") == 0) {
        snprintf(err->field, sizeof(err->field), "toy.op");
        snprintf(err->message, sizeof(err->message), "no such op");
        return -EINVAL;
    }
    if (strcmp(op, "boom") == 0)
        return -EIO;
    size_t o = 0;
    size_t l = strlen(op);
    memcpy(k->buf, op, l);
    k->operation = (doppel_str_t){k->buf, l};
    o += l;
    if ((l = str_member(m->section, "target", tg, sizeof(tg)))) {
        memcpy(k->buf + o, tg, l);
        k->target = (doppel_str_t){k->buf + o, l};
        o += l;
    }
    if ((l = str_member(m->section, "server", sv, sizeof(sv)))) {
        k->server = (doppel_str_t){"static-server", 13};
    }
    if (normalise) {
        /* through owned_section, which the engine frees */
        char *s = malloc(128);
        snprintf(s, 128, "{\"op\":\"%s\",\"norm\":1}", op);
        k->owned_section = s;
        k->section = (doppel_str_t){s, strlen(s)};
    }
    return 0;
}

static int toy_explain(doppel_ctx_t *ctx, const doppel_services_t *svc,
                       const doppel_exchange_t *x, char *out, size_t len)
{
    (void)ctx;
    (void)svc;
    snprintf(out, len, "no toy op %.*s", (int)x->operation.len,
             x->operation.ptr);
    return 1;
}

static const char *const body_c[] = {"conditions", NULL};
static const char *const meta_c[] = {"meta", NULL};
static const char *const fields[] = {"note", "stream", NULL};

static doppel_protocol_def_t toy_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "toy",
    .flags = DOPPEL_PROTO_F_EXACT_OP,
    .body_conditions = body_c,
    .meta_conditions = meta_c,
    .response_fields = fields,
    .status_min = 0,
    .status_max = 16,
    .status_default = 0,
    .check = toy_check,
    .explain_miss = toy_explain,
};

/* "grpc" with the same callbacks: a known section */
static doppel_protocol_def_t grpc_def;

static dp_protos_t *toy_registry(void)
{
    dp_protos_t *r = dp_protos_new();
    char err[256];
    assert_non_null(r);
    assert_int_equal(dp_protos_add(r, &toy_def, (doppel_ctx_t *)&seen,
                                   (const doppel_services_t *)&normalise,
                                   "instance 'toy'", err, sizeof(err)),
                     0);
    grpc_def = toy_def;
    grpc_def.section = "grpc";
    grpc_def.flags = 0;
    assert_int_equal(dp_protos_add(r, &grpc_def, (doppel_ctx_t *)&seen,
                                   (const doppel_services_t *)&normalise,
                                   "instance 'grpc'", err, sizeof(err)),
                     0);
    return r;
}

static dp_engine_t *open_with(const dp_protos_t *r, dp_storage_t *st)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.seed = 42;
    cfg.protos = r;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_open(&cfg, st ? st : t_storage(), &e, &err);
    if (rc != 0)
        fail_msg("open: %s", err.message);
    return e;
}

typedef struct msg {
    const char *protocol, *ns, *op, *target, *body;
    const char *hname, *hvalue;
} msg_t;

#define M(...) M_(__VA_ARGS__, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
#define M_(a, b, c, d, e, f, g, ...) ((msg_t){a, b, c, d, e, f, g})

static doppel_reply_t *send_x(dp_engine_t *e, dp_session_t *s, msg_t m)
{
    doppel_kv_t h = {{m.hname, m.hname ? strlen(m.hname) : 0},
                     {m.hvalue, m.hvalue ? strlen(m.hvalue) : 0}};
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = {m.protocol, m.protocol ? strlen(m.protocol) : 0},
        .ns = {m.ns, m.ns ? strlen(m.ns) : 0},
        .operation = {m.op, m.op ? strlen(m.op) : 0},
        .target = {m.target, m.target ? strlen(m.target) : 0},
        .metadata = m.hname ? &h : NULL,
        .n_metadata = m.hname ? 1 : 0,
        .body = (const uint8_t *)m.body,
        .body_len = m.body ? strlen(m.body) : 0,
    };
    doppel_reply_t *r = NULL;
    int rc = s ? dp_engine_session_match(s, &x, 0, &r)
               : dp_engine_match(e, &x, &r);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    return r;
}

static void body_is(const doppel_reply_t *r, const char *want)
{
    if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len))
        fail_msg("body %.*s, want %s", (int)r->body_len, r->body, want);
}

static void extra_is(const doppel_reply_t *r, const char *want)
{
    assert_true(r->size >= offsetof(doppel_reply_t, extra) + sizeof(r->extra));
    if (r->extra.len != strlen(want) || memcmp(r->extra.ptr, want,
                                               r->extra.len))
        fail_msg("extra %.*s, want %s", (int)r->extra.len, r->extra.ptr, want);
    assert_int_equal(r->extra.ptr[r->extra.len], '\0');
}

/* ---- the registry --------------------------------------------------------- */

static void test_registry(void **st)
{
    (void)st;
    char err[256];
    dp_protos_t *r = toy_registry();
    assert_int_equal(dp_protos_add(r, &toy_def, NULL, NULL, "instance 'b'",
                                   err, sizeof(err)),
                     -EEXIST);
    assert_string_equal(err, "instance 'b': protocol section 'toy' is "
                             "already registered by instance 'toy' (enable "
                             "one of them)");
    doppel_protocol_def_t d = toy_def;
    d.section = "http";
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "x", err, sizeof(err)),
                     -EEXIST);
    assert_non_null(strstr(err, "built in"));
    d.section = "Bad";
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "x", err, sizeof(err)),
                     -EINVAL);
    d.section = "response";
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "x", err, sizeof(err)),
                     -EINVAL);
    d.section = "okay";
    d.status_default = 17;
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "x", err, sizeof(err)),
                     -EINVAL);
    d.status_default = 0;
    d.check = NULL;
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "x", err, sizeof(err)),
                     -EINVAL);
    doppel_ctx_t *ctx = NULL;
    assert_ptr_equal(dp_protos_def(r, "toy", &ctx), &toy_def);
    assert_ptr_equal(ctx, (doppel_ctx_t *)&seen);
    assert_null(dp_protos_def(r, "http", &ctx)); /* built in: no def */
    assert_null(dp_protos_def(r, "nope", NULL));
    dp_protos_free(r);
}

/* No fixed maximum: 40 sections, each with a mock that answers. */
static void test_many_sections(void **st)
{
    (void)st;
    enum { N = 40 };
    static char names[N][8];
    static doppel_protocol_def_t defs[N];
    dp_protos_t *r = dp_protos_new();
    char err[256];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "p%02d", i);
        defs[i] = toy_def;
        defs[i].section = names[i];
        assert_int_equal(dp_protos_add(r, &defs[i], (doppel_ctx_t *)&seen,
                                       (const doppel_services_t *)&normalise,
                                       "t", err, sizeof(err)),
                         0);
    }
    dp_engine_t *e = open_with(r, NULL);
    for (int i = 0; i < N; i++) {
        char m[1024];
        snprintf(m, sizeof(m),
                 "{\"namespace\":\"n\",\"%s\":{\"op\":\"go\"},"
                 "\"response\":{\"payload\":\"%s\"}}",
                 names[i], names[i]);
        t_put(e, m);
    }
    for (int i = 0; i < N; i++) {
        doppel_reply_t *rp = send_x(e, NULL, M(names[i], "n", "go", "/"));
        assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
        body_is(rp, names[i]);
        dp_engine_reply_free(rp);
    }
    dp_engine_close(e);
    dp_protos_free(r);
}

/* ---- the adapter ---------------------------------------------------------- */

static void test_check_per_answer_and_errors(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, NULL);
    memset(&seen, 0, sizeof(seen));
    t_put(e, "{\"namespace\":\"shop\",\"toy\":{\"op\":\"a\"},"
             "\"oneOf\":{\"responses\":[{\"payload\":1},{\"note\":\"x\"},"
             "{\"statusCode\":3}]}}");
    assert_int_equal(seen.calls, 3);
    assert_string_equal(seen.ns, "shop");
    assert_string_equal(seen.section, "{\"op\":\"a\"}");
    assert_string_equal(seen.response[0], "{\"payload\":1}");
    assert_string_equal(seen.response[1], "{\"note\":\"x\"}");
    assert_int_equal(seen.answers[2], 2);
    /* a proxy (refused later or not) is checked with "{}" */
    memset(&seen, 0, sizeof(seen));
    t_put(e, "{\"toy\":{\"op\":\"p\"},\"response\":{}}");
    assert_string_equal(seen.ns, "sandbox");

    t_put_fails(e, "{\"toy\":{\"op\":\"bad\"},\"response\":{}}", "toy.op");
    /* another errno: a 500, nothing stored */
    json_t *m = t_json("{\"toy\":{\"op\":\"boom\"},\"response\":{}}");
    dp_err_t err = {0};
    json_t *out = NULL;
    assert_int_equal(dp_engine_mock_put(e, m, NULL, &out, NULL, &err), -EIO);
    assert_int_equal(err.status, 500);
    json_decref(m);
    t_put_fails(e, "{\"toy\":[1],\"response\":{}}", "toy");
    /* status range of the section: 0..16, default 0 */
    t_put_fails(e, "{\"toy\":{\"op\":\"a\"},\"response\":{\"statusCode\":17}}",
                "response.statusCode");
    t_put_fails(e, "{\"toy\":{\"op\":\"a\"},\"response\":{\"statusCode\":-1}}",
                "response.statusCode");
    t_put_fails(e, "{\"toy\":{\"op\":\"a\",\"conditions\":{\"x\":1}},"
                   "\"response\":{}}",
                "toy.conditions");
    t_put_fails(e, "{\"toy\":{\"op\":\"a\",\"target\":\"nope\"},"
                   "\"response\":{}}",
                "toy");
    /* http keeps its own range */
    t_put_fails(e, "{\"http\":{\"route\":\"/a\"},\"response\":{\"statusCode\":"
                   "0}}",
                "response.statusCode");
    dp_engine_close(e);
    dp_protos_free(r);
}

static void test_key_conditions_status_extra(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, NULL);
    char id[64];
    snprintf(id, sizeof(id), "%s",
             t_put(e, "{\"namespace\":\"s\",\"toy\":{\"op\":\"Get\","
                      "\"target\":\"/svc/:m\","
                      "\"conditions\":[{\"path\":\"$.body.a.b\","
                      "\"assertAction\":\"equals\",\"value\":1}],"
                      "\"meta\":[{\"path\":\"X-T\",\"assertAction\":"
                      "\"equals\",\"value\":\"acme\"}]},"
                      "\"response\":{\"payload\":{\"m\":\"$.pathParam.m\"},"
                      "\"note\":\"n $.req.a.b\",\"stream\":[{\"payload\":"
                      "{\"k\":\"$.pathParam.m\"},\"delay\":5},{\"payload\":"
                      "\"static\"}],\"other\":\"not a field\"}}"));
    doppel_reply_t *rp = send_x(e, NULL, M("toy", "s", "Get",
                                                 "/svc/Do", "{\"a\":{\"b\":1}}",
                                                 "x-t", "acme"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(rp->status, 0); /* the section's default */
    body_is(rp, "{\"m\":\"Do\"}");
    extra_is(rp, "{\"note\":\"n 1\",\"stream\":[{\"payload\":{\"k\":\"Do\"},"
                 "\"delay\":5},{\"payload\":\"static\"}]}");
    assert_int_equal((int)rp->mock_id.len, (int)strlen(id));
    dp_engine_reply_free(rp);
    /* the operation compared as sent (EXACT_OP) */
    rp = send_x(e, NULL, M("toy", "s", "GET", "/svc/Do",
                                 "{\"a\":{\"b\":1}}", "x-t", "acme"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(rp);
    /* meta differs: a near miss naming it, and the plugin's sentence */
    rp = send_x(e, NULL, M("toy", "s", "Get", "/svc/Do",
                                 "{\"a\":{\"b\":1}}", "X-T", "other"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_NO_MATCH);
    json_t *rep = json_loadb((const char *)rp->body, rp->body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(rep, "reason")),
                        "no toy op Get");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(rep, "request"), "protocol")),
                        "toy");
    json_t *f0 = json_array_get(
        json_object_get(json_array_get(json_object_get(rep, "nearMisses"), 0),
                        "failed"),
        0);
    assert_string_equal(json_string_value(json_object_get(f0, "path")), "X-T");
    json_decref(rep);
    extra_is(rp, "");
    dp_engine_reply_free(rp);
    /* the unmatched list keeps the sentence */
    json_t *un = NULL;
    assert_int_equal(dp_engine_unmatched(e, "s", 0, 1, &un), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(un, "items"), 0),
                            "reason")),
                        "no toy op Get");
    json_decref(un);
    /* an http mock's reply has an empty extra */
    t_put(e, "{\"namespace\":\"s\",\"http\":{\"route\":\"/h\"},"
             "\"response\":{\"note\":\"ignored\"}}");
    rp = send_x(e, NULL, M("http", "s", "GET", "/h"));
    assert_int_equal(rp->status, 200);
    extra_is(rp, "");
    dp_engine_reply_free(rp);
    /* operations longer than an HTTP method (gRPC method names) */
    static const char longop[] = "ListOrdersByCustomerAndDateRangeWithPagingStream"
                                 "ingAndFiltersV2";
    char mk[512];
    snprintf(mk, sizeof(mk),
             "{\"namespace\":\"s\",\"toy\":{\"op\":\"%s\"},"
             "\"response\":{\"payload\":\"long\"}}",
             longop);
    t_put(e, mk);
    rp = send_x(e, NULL, M("toy", "s", longop, "/x"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
    body_is(rp, "long");
    dp_engine_reply_free(rp);
    /* a non-EXACT_OP section upper-cases both sides, like http methods */
    t_put(e, "{\"namespace\":\"s\",\"grpc\":{\"op\":\"Get\",\"server\":\"x\"},"
             "\"response\":{\"statusCode\":5,\"note\":\"static\"}}");
    rp = send_x(e, NULL, M("grpc", "s", "gEt", "/any/target"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(rp->status, 5);
    extra_is(rp, "{\"note\":\"static\"}");
    dp_engine_reply_free(rp);
    dp_engine_close(e);
    dp_protos_free(r);
}

static void test_normalised_section_is_stored(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, NULL);
    normalise = 1;
    char id[64];
    snprintf(id, sizeof(id), "%s",
             t_put(e, "{\"toy\":{\"op\":\"n\",\"extra\":true},"
                      "\"response\":{}}"));
    normalise = 0;
    json_t *got = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_get(e, id, &got, &err), 0);
    json_t *want = t_json("{\"op\":\"n\",\"norm\":1}");
    assert_true(json_equal(json_object_get(got, "toy"), want));
    json_decref(want);
    json_decref(got);
    dp_engine_close(e);
    dp_protos_free(r);
}

/* ---- dormant mocks -------------------------------------------------------- */

static char db_dir[64];

static dp_storage_t *file_storage(const char *name)
{
    if (db_dir[0] == '\0') {
        snprintf(db_dir, sizeof(db_dir), "/tmp/doppel-proto-test-XXXXXX");
        assert_non_null(mkdtemp(db_dir));
    }
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/%s.db", db_dir, name);
    dp_storage_t *s = NULL;
    if (dp_storage_sqlite_open(path, &s, err, sizeof(err)) != 0)
        fail_msg("sqlite: %s", err);
    return s;
}

static void test_dormant_mocks_survive(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, file_storage("dormant"));
    char gid[64], tid[64];
    snprintf(gid, sizeof(gid), "%s",
             t_put(e, "{\"namespace\":\"d\",\"grpc\":{\"op\":\"A\"},"
                      "\"response\":{\"payload\":\"g\"}}"));
    snprintf(tid, sizeof(tid), "%s",
             t_put(e, "{\"namespace\":\"d\",\"toy\":{\"op\":\"a\"},"
                      "\"tags\":[\"t\"],\"response\":{\"payload\":\"t\"}}"));
    t_put(e, "{\"namespace\":\"d\",\"http\":{\"route\":\"/h\"},"
             "\"response\":{}}");
    dp_engine_close(e);

    /* neither plugin enabled */
    e = open_with(NULL, file_storage("dormant"));
    assert_int_equal(dp_engine_mock_count(e, 0), 3);
    assert_int_equal(dp_engine_mock_count(e, 1), 1); /* only http is live */
    dp_mock_query_t q = {.ns = "d"};
    json_t *lst = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_list(e, &q, &lst, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(lst, "total")), 3);
    json_decref(lst);
    doppel_reply_t *rp = send_x(e, NULL, M("grpc", "d", "A", "/"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(rp);
    /* writes of the section say how to enable it; the dormant mock is not
     * patched into something unchecked, but can be closed and restored */
    t_put_fails(e, "{\"namespace\":\"d\",\"grpc\":{\"op\":\"B\"},"
                   "\"response\":{}}",
                "grpc");
    json_t *patch = t_json("{\"priority\":2}"), *out = NULL;
    assert_int_equal(dp_engine_mock_patch(e, gid, patch, &out, &err), -EINVAL);
    json_decref(patch);
    assert_int_equal(dp_engine_mock_close(e, tid, &out, &err), 0);
    json_decref(out);
    assert_int_equal(dp_engine_mock_restore(e, tid, &out, &err), 0);
    json_decref(out);
    dp_engine_close(e);

    /* enabled again: both answer */
    e = open_with(r, file_storage("dormant"));
    rp = send_x(e, NULL, M("grpc", "d", "A", "/"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
    body_is(rp, "g");
    dp_engine_reply_free(rp);
    rp = send_x(e, NULL, M("toy", "d", "a", "/"));
    body_is(rp, "t");
    dp_engine_reply_free(rp);
    dp_engine_close(e);

    dp_protos_free(r);
}

static int refuse_all(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      const doppel_mock_view_t *m, doppel_mock_key_t *k,
                      doppel_check_error_t *err)
{
    (void)ctx, (void)svc, (void)m, (void)k;
    snprintf(err->field, sizeof(err->field), "toy.op");
    snprintf(err->message, sizeof(err->message), "gone");
    return -EINVAL;
}

static void test_refused_at_load_is_kept(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, file_storage("refused"));
    t_put(e, "{\"namespace\":\"d\",\"toy\":{\"op\":\"a\"},\"response\":{}}");
    dp_engine_close(e);
    dp_protos_free(r);
    doppel_protocol_def_t strict = toy_def;
    strict.check = refuse_all;
    r = dp_protos_new();
    char err[256];
    assert_int_equal(dp_protos_add(r, &strict, NULL, NULL, "s", err,
                                   sizeof(err)),
                     0);
    e = open_with(r, file_storage("refused"));
    assert_int_equal(dp_engine_mock_count(e, 0), 1);
    assert_int_equal(dp_engine_mock_count(e, 1), 0);
    doppel_reply_t *rp = send_x(e, NULL, M("toy", "d", "a", "/"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(rp);
    dp_engine_close(e);
    dp_protos_free(r);
}

/* A check that returns what a plugin must not: a key with a NUL byte, a
 * normalised section that is not an object, a huge error. The writer gets
 * a 500 (the plugin's fault, not the mock's), never a crash. */
static int bad_mode;

static int bad_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     const doppel_mock_view_t *m, doppel_mock_key_t *k,
                     doppel_check_error_t *err)
{
    (void)ctx, (void)svc, (void)m;
    switch (bad_mode) {
    case 0:
        k->operation = (doppel_str_t){"a\0b", 3};
        return 0;
    case 1:
        k->section = (doppel_str_t){"[1,2]", 5};
        return 0;
    case 2:
        k->section = (doppel_str_t){"{not json", 9};
        return 0;
    case 3:
        k->target = (doppel_str_t){NULL, 4};
        return 0;
    default:
        /* unterminated, as long as the buffers */
        memset(err->field, 'f', sizeof(err->field));
        memset(err->message, 'm', sizeof(err->message));
        return -EINVAL;
    }
}

static void test_hostile_checks(void **st)
{
    (void)st;
    doppel_protocol_def_t d = toy_def;
    d.check = bad_check;
    dp_protos_t *r = dp_protos_new();
    char why[256];
    assert_int_equal(dp_protos_add(r, &d, NULL, NULL, "t", why, sizeof(why)),
                     0);
    dp_engine_t *e = open_with(r, NULL);
    for (bad_mode = 0; bad_mode < 5; bad_mode++) {
        json_t *m = t_json("{\"toy\":{\"op\":\"x\"},\"response\":{}}");
        json_t *out = NULL;
        dp_err_t err = {0};
        int rc = dp_engine_mock_put(e, m, NULL, &out, NULL, &err);
        json_decref(m);
        assert_true(rc < 0);
        assert_null(out);
        if (bad_mode < 4) {
            assert_int_equal(err.status, 500);
        } else {
            assert_int_equal(err.status, 400);
            assert_true(strlen(err.field) < sizeof(err.field));
            assert_int_equal(err.field[0], 'f');
            assert_int_equal(err.message[0], 'm');
        }
    }
    assert_int_equal(dp_engine_mock_count(e, 0), 0);
    dp_engine_close(e);
    dp_protos_free(r);
}

/* ---- sessions ------------------------------------------------------------- */

static dp_session_t *open_s(dp_engine_t *e, const char *op)
{
    doppel_kv_t h = {DOPPEL_STR("x-who"), DOPPEL_STR("alice")};
    doppel_exchange_t x = {.size = sizeof(x),
                           .protocol = DOPPEL_STR("toy"),
                           .ns = DOPPEL_STR("ss"),
                           .operation = {op, strlen(op)},
                           .target = DOPPEL_STR("/chat"),
                           .metadata = &h,
                           .n_metadata = 1};
    dp_session_t *s = NULL;
    assert_int_equal(dp_engine_session_open(e, &x, &s), 0);
    assert_non_null(s);
    return s;
}

static void test_sessions(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, NULL);
    t_put(e, "{\"namespace\":\"ss\",\"toy\":{\"op\":\"chat\"},"
             "\"extract\":{\"sStore\":{\"last\":\"$.req.t\"},"
             "\"gStore\":{\"g\":\"$.req.t\"}},"
             "\"oneOf\":{\"offset\":1,\"responses\":["
             "{\"payload\":{\"a\":0,\"n\":\"$.session.count\"}},"
             "{\"payload\":{\"a\":1,\"n\":\"$.session.count\","
             "\"last\":\"$.sS.last\",\"c\":\"$.increment($.sS.c)\"}}]}}");
    /* the session's metadata is the default of its messages */
    t_put(e, "{\"namespace\":\"ss\",\"priority\":3,\"toy\":{\"op\":\"chat\","
             "\"meta\":[{\"path\":\"x-who\",\"assertAction\":\"equals\","
             "\"value\":\"alice\"}],\"conditions\":[{\"path\":"
             "\"$.session.store.last\",\"assertAction\":\"equals\","
             "\"value\":\"stop\"}]},"
             "\"response\":{\"payload\":\"stopped at $.session.count\"}}");
    dp_session_t *a = open_s(e, "chat"), *b = open_s(e, "chat");
    doppel_reply_t *rp;
    /* operation, target, ns and metadata come from the session */
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"x\"}"));
    body_is(rp, "{\"a\":1,\"n\":1,\"last\":\"x\",\"c\":1}");
    dp_engine_reply_free(rp);
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"y\"}"));
    body_is(rp, "{\"a\":0,\"n\":2}");
    dp_engine_reply_free(rp);
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"z\"}"));
    body_is(rp, "{\"a\":1,\"n\":3,\"last\":\"z\",\"c\":2}");
    dp_engine_reply_free(rp);
    assert_int_equal(dp_engine_session_count(a), 3);
    /* b has its own count, store and cursor (starting at offset 1) */
    rp = send_x(e, b, M(NULL, NULL, NULL, NULL, "{\"t\":\"q\"}"));
    body_is(rp, "{\"a\":1,\"n\":1,\"last\":\"q\",\"c\":1}");
    dp_engine_reply_free(rp);
    /* a's store says stop: the condition on the session store holds */
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"stop\"}"));
    body_is(rp, "{\"a\":0,\"n\":4}");
    dp_engine_reply_free(rp);
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"more\"}"));
    body_is(rp, "stopped at 5");
    dp_engine_reply_free(rp);
    rp = send_x(e, b, M(NULL, NULL, NULL, NULL, "{\"t\":\"r\"}"));
    body_is(rp, "{\"a\":0,\"n\":2}");
    dp_engine_reply_free(rp);
    /* a message's own metadata replaces the session's: no alice, no stop */
    rp = send_x(e, a, M(NULL, NULL, NULL, NULL, "{\"t\":\"w\"}",
                              "x-who", "bob"));
    body_is(rp, "{\"a\":1,\"n\":6,\"last\":\"w\",\"c\":3}");
    dp_engine_reply_free(rp);
    /* the session store is never the namespace's: only gStore is there */
    json_t *g = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_store_get(e, "ss", 'g', NULL, NULL, &g, &err),
                     0);
    assert_null(json_object_get(g, "last"));
    assert_non_null(json_object_get(g, "g"));
    json_decref(g);
    /* a match without a session: no session state, the global cursor */
    rp = send_x(e, NULL, M("toy", "ss", "chat", "/", "{\"t\":\"n\"}"));
    body_is(rp, "{\"a\":1,\"n\":null,\"last\":null,\"c\":0}");
    dp_engine_reply_free(rp);
    dp_engine_session_close(a);
    dp_engine_session_close(b);
    dp_engine_session_close(NULL);
    doppel_exchange_t x = {.size = sizeof(x)};
    assert_int_equal(dp_engine_session_open(NULL, &x, &a), -EINVAL);
    assert_int_equal(dp_engine_session_open(e, NULL, &a), -EINVAL);
    dp_engine_close(e);
    dp_protos_free(r);
}

/* A session's extract is all or none with the other stores: a response
 * refused for its size takes the session's writes back too. */
static void test_session_extract_undone(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.protos = r;
    cfg.response_max = 64;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    t_put(e, "{\"namespace\":\"ss\",\"toy\":{\"op\":\"big\"},"
             "\"extract\":{\"sStore\":{\"k\":\"$.req.t\"}},"
             "\"response\":{\"payload\":\"$.req.t\"}}");
    t_put(e, "{\"namespace\":\"ss\",\"toy\":{\"op\":\"read\"},"
             "\"response\":{\"payload\":\"k=$.sS.k\"}}");
    dp_session_t *s = open_s(e, "big");
    char body[200];
    snprintf(body, sizeof(body), "{\"t\":\"%0100d\"}", 7);
    doppel_reply_t *rp = send_x(e, s, M(NULL, NULL, NULL, NULL, body));
    assert_int_equal(rp->status, 500); /* response_max */
    dp_engine_reply_free(rp);
    rp = send_x(e, s, M(NULL, NULL, "read", NULL, "{}"));
    body_is(rp, "k=");
    dp_engine_reply_free(rp);
    rp = send_x(e, s, M(NULL, NULL, NULL, NULL, "{\"t\":\"ok\"}"));
    body_is(rp, "ok");
    dp_engine_reply_free(rp);
    rp = send_x(e, s, M(NULL, NULL, "read", NULL, "{}"));
    body_is(rp, "k=ok");
    dp_engine_reply_free(rp);
    dp_engine_session_close(s);
    dp_engine_close(e);
    dp_protos_free(r);
}

/* Sessions on threads of their own, at once, over one mock: each sees
 * only its own count, store and cursor. */
typedef struct sthread {
    dp_engine_t *e;
    int id;
    int bad;
} sthread_t;

static void *session_thread(void *arg)
{
    sthread_t *t = arg;
    dp_session_t *s = open_s(t->e, "par");
    for (int i = 1; i <= 200 && !t->bad; i++) {
        char body[64], want[128];
        snprintf(body, sizeof(body), "{\"t\":\"%d-%d\"}", t->id, i);
        doppel_exchange_t x = {.size = sizeof(x),
                               .body = (const uint8_t *)body,
                               .body_len = strlen(body)};
        doppel_reply_t *r = NULL;
        if (dp_engine_session_match(s, &x, 0, &r) != 0) {
            t->bad = 1;
            break;
        }
        /* the previous message's value, this message's count, answers
         * alternating from this session's own cursor */
        if (i == 1)
            snprintf(want, sizeof(want), "{\"a\":0,\"n\":1,\"prev\":null}");
        else
            snprintf(want, sizeof(want), "{\"a\":%d,\"n\":%d,\"prev\":\"%d-%d\"}",
                     (i - 1) % 2, i, t->id, i - 1);
        if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len))
            t->bad = 1;
        dp_engine_reply_free(r);
    }
    dp_engine_session_close(s);
    return NULL;
}

static void test_sessions_on_threads(void **st)
{
    (void)st;
    dp_protos_t *r = toy_registry();
    dp_engine_t *e = open_with(r, NULL);
    /* extract renders every value before it stores any: prev gets what the
     * previous message stored as cur */
    t_put(e, "{\"namespace\":\"ss\",\"toy\":{\"op\":\"par\"},"
             "\"extract\":{\"sStore\":{\"prev\":\"$.sS.cur\","
             "\"cur\":\"$.req.t\"}},"
             "\"oneOf\":{\"responses\":["
             "{\"payload\":{\"a\":0,\"n\":\"$.session.count\","
             "\"prev\":\"$.sS.prev\"}},"
             "{\"payload\":{\"a\":1,\"n\":\"$.session.count\","
             "\"prev\":\"$.sS.prev\"}}]}}");
    enum { T = 4 };
    pthread_t th[T];
    sthread_t ts[T];
    for (int i = 0; i < T; i++) {
        ts[i] = (sthread_t){e, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, session_thread, &ts[i]),
                         0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].bad, 0);
    }
    dp_engine_close(e);
    dp_protos_free(r);
}

/* ---- record/replay for a section on the HTTP front ----------------------
 * "web" rides on HTTP (DOPPEL_PROTO_F_HTTP_PATH): services apply to its
 * paths and LEARN records through its record callback, which makes a
 * section that matches the exchange (op, target, the body as an equality
 * condition) and a response carrying the upstream's body. */

static int web_records; /* record calls */

static char *dup_text(const char *s, size_t *len)
{
    *len = strlen(s);
    return strdup(s); /* the host's svc->alloc is malloc */
}

static int web_record(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      const doppel_exchange_t *x,
                      const doppel_fetch_result_t *res, char **section,
                      size_t *section_len, char **response,
                      size_t *response_len)
{
    (void)ctx;
    (void)svc;
    web_records++;
    if (x->operation.len == 3 && memcmp(x->operation.ptr, "Bad", 3) == 0)
        return -EINVAL;
    json_t *body = json_loadb((const char *)x->body, x->body_len, 0, NULL);
    json_t *sec = json_pack("{s:s%, s:s%, s:[{s:s, s:s, s:o}]}", "op",
                            x->operation.ptr, x->operation.len, "target",
                            x->target.ptr, x->target.len, "conditions",
                            "path", "$", "assertAction", "equals", "value",
                            body ? body : json_null());
    json_t *resp = json_pack("{s:i, s:s%}", "statusCode", 0, "payload",
                             (const char *)res->body, res->body_len);
    char *st = json_dumps(sec, JSON_COMPACT);
    char *rt = json_dumps(resp, JSON_COMPACT);
    *section = dup_text(st, section_len);
    *response = dup_text(rt, response_len);
    free(st);
    free(rt);
    json_decref(sec);
    json_decref(resp);
    return 0;
}

static doppel_reply_t *web_send(dp_engine_t *e, const char *proto,
                                const char *op, const char *target,
                                const char *body)
{
    return send_x(e, NULL, M(proto, NULL, op, target, body));
}

static int web_learn(dp_engine_t *e, const char *op, const char *body,
                     const char *answer, dp_err_t *err)
{
    doppel_reply_t *r = web_send(e, "web", op, "/ws/acct", body);
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_true(r->flags & DOPPEL_REPLY_F_RECORD);
    /* the service's target and the path after its prefix */
    assert_int_equal(r->proxy_target.len, strlen("http://up.example/acct"));
    assert_memory_equal(r->proxy_target.ptr, "http://up.example/acct",
                        r->proxy_target.len);
    doppel_kv_t x_h = {DOPPEL_STR("X-Up"), DOPPEL_STR("1")};
    doppel_fetch_result_t res = {.size = sizeof(res), .status = 200,
                                 .headers = &x_h, .n_headers = 1,
                                 .body = answer, .body_len = strlen(answer)};
    doppel_exchange_t x = {
        .size = sizeof(x), .protocol = DOPPEL_STR("web"),
        .operation = {op, strlen(op)}, .target = DOPPEL_STR("/ws/acct"),
        .body = (const uint8_t *)body, .body_len = strlen(body)};
    memset(err, 0, sizeof(*err));
    int rc = dp_engine_record(e, &x, r, &res, err);
    dp_engine_reply_free(r);
    return rc;
}

/* section_fields reach the plugin in reply->extra as written (their
 * templates unrendered), beside the rendered response_fields; a
 * definition whose size ends before the member has none. */
static const char *const raw_fields[] = {"rules", NULL};

static void test_section_fields_as_written(void **st)
{
    (void)st;
    dp_protos_t *reg = toy_registry();
    doppel_protocol_def_t raw = toy_def, old = toy_def;
    raw.section = "raw";
    raw.section_fields = raw_fields;
    old.section = "old";
    old.section_fields = raw_fields;
    old.size = (uint32_t)offsetof(doppel_protocol_def_t, section_fields);
    char msg[256];
    assert_int_equal(dp_protos_add(reg, &raw, (doppel_ctx_t *)&seen,
                                   (const doppel_services_t *)&normalise,
                                   "instance 'raw'", msg, sizeof(msg)),
                     0);
    assert_int_equal(dp_protos_add(reg, &old, (doppel_ctx_t *)&seen,
                                   (const doppel_services_t *)&normalise,
                                   "instance 'old'", msg, sizeof(msg)),
                     0);
    dp_engine_t *e = open_with(reg, NULL);
    t_put(e, "{\"namespace\":\"s\",\"raw\":{\"op\":\"Get\",\"rules\":"
             "[{\"d\":\"$.gS.x\"}]},\"response\":{\"note\":\"n $.req.a\"}}");
    t_put(e, "{\"namespace\":\"s\",\"raw\":{\"op\":\"Static\","
             "\"rules\":{\"k\":1}},\"response\":{}}");
    t_put(e, "{\"namespace\":\"s\",\"raw\":{\"op\":\"None\"},"
             "\"response\":{\"note\":\"x\"}}");
    t_put(e, "{\"namespace\":\"s\",\"old\":{\"op\":\"Get\",\"rules\":"
             "[1]},\"response\":{\"note\":\"o\"}}");
    doppel_reply_t *rp = send_x(e, NULL, M("raw", "s", "Get", "",
                                           "{\"a\":\"z\"}"));
    assert_int_equal(rp->kind, DOPPEL_REPLY_RESPONSE);
    extra_is(rp, "{\"note\":\"n z\",\"rules\":[{\"d\":\"$.gS.x\"}]}");
    dp_engine_reply_free(rp);
    rp = send_x(e, NULL, M("raw", "s", "Static", "", "{}"));
    extra_is(rp, "{\"rules\":{\"k\":1}}");
    dp_engine_reply_free(rp);
    rp = send_x(e, NULL, M("raw", "s", "None", "", "{}"));
    extra_is(rp, "{\"note\":\"x\"}");
    dp_engine_reply_free(rp);
    rp = send_x(e, NULL, M("old", "s", "Get", "", "{}"));
    extra_is(rp, "{\"note\":\"o\"}");
    dp_engine_reply_free(rp);
    dp_engine_close(e);
    dp_protos_free(reg);
}

static void test_http_path_section_records_and_replays(void **st)
{
    (void)st;
    dp_protos_t *reg = toy_registry();
    doppel_protocol_def_t web = toy_def;
    web.section = "web";
    web.flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_HTTP_PATH;
    web.record = web_record;
    char msg[256];
    assert_int_equal(dp_protos_add(reg, &web, (doppel_ctx_t *)&seen,
                                   (const doppel_services_t *)&normalise,
                                   "instance 'web'", msg, sizeof(msg)),
                     0);
    dp_engine_t *e = open_with(reg, NULL);
    dp_err_t err = {0};
    json_t *out = NULL;
    json_t *b = json_pack("{s:s, s:s, s:s}", "name", "acct", "target",
                          "http://up.example", "pathPrefix", "/ws");
    assert_int_equal(dp_engine_service_create(e, NULL, b, &out, &err), 0);
    json_decref(b);
    json_decref(out);
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "acct", "LEARN", &out, &err), 0);
    json_decref(out);

    web_records = 0;
    assert_int_equal(web_learn(e, "Get", "{\"id\":1}", "one", &err), 0);
    assert_int_equal(web_learn(e, "Get", "{\"id\":1}", "two", &err), 0);
    assert_int_equal(web_learn(e, "Get", "{\"id\":2}", "$.req.id costs $5", &err),
                     0);
    assert_int_equal(web_records, 3);
    /* the plugin refusing is the caller's error, nothing stored */
    assert_int_equal(web_learn(e, "Bad", "{}", "x", &err), -EINVAL);
    assert_string_equal(err.field, "web");

    const char *tags[] = {"recorded"};
    dp_mock_query_t q = {.tags = tags, .n_tags = 1, .limit = 100};
    assert_int_equal(dp_engine_mock_list(e, &q, &out, &err), 0);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    int seq = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *m = json_array_get(items, i);
        assert_non_null(json_object_get(m, "web"));
        assert_string_equal(json_string_value(json_object_get(m, "service")),
                            "acct");
        json_t *rs = json_object_get(json_object_get(m, "oneOf"), "responses");
        if (rs) { /* id 1: the same request twice, an ordered sequence */
            seq++;
            assert_int_equal(json_array_size(rs), 2);
        }
    }
    assert_int_equal(seq, 1);
    json_decref(out);

    /* MOCK replays the recording in order; a request never recorded is a
     * miss and the upstream is not asked */
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "acct", "MOCK", &out, &err), 0);
    json_decref(out);
    doppel_reply_t *r = web_send(e, "web", "Get", "/ws/acct", "{\"id\":1}");
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    body_is(r, "one");
    dp_engine_reply_free(r);
    r = web_send(e, "web", "Get", "/ws/acct", "{\"id\":1}");
    body_is(r, "two");
    dp_engine_reply_free(r);
    /* the upstream's text is replayed literally, not as a template */
    r = web_send(e, "web", "Get", "/ws/acct", "{\"id\":2}");
    body_is(r, "$.req.id costs $5");
    dp_engine_reply_free(r);
    r = web_send(e, "web", "Get", "/ws/acct", "{\"id\":3}");
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_true(r->flags & DOPPEL_REPLY_F_MISS);
    dp_engine_reply_free(r);

    /* a section that is not on the HTTP front ignores services: grpc on
     * the same path is matched as always (no mock: no match, no proxy) */
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "acct", "PASSTHROUGH", &out, &err),
        0);
    json_decref(out);
    r = web_send(e, "grpc", "Get", "/ws/acct", "{}");
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_false(r->flags & DOPPEL_REPLY_F_MISS);
    dp_engine_reply_free(r);
    r = web_send(e, "web", "Get", "/ws/acct", "{}");
    assert_int_equal(r->kind, DOPPEL_REPLY_PROXY);
    assert_false(r->flags & DOPPEL_REPLY_F_RECORD);
    dp_engine_reply_free(r);

    /* a section on the HTTP front without a record callback cannot learn */
    web.record = NULL;
    assert_int_equal(
        dp_engine_service_set_mode(e, NULL, "acct", "LEARN", &out, &err), 0);
    json_decref(out);
    assert_int_equal(web_learn(e, "Get", "{\"id\":9}", "z", &err), -EINVAL);
    assert_string_equal(err.field, "protocol");
    dp_engine_close(e);
    dp_protos_free(reg);
}

static void cleanup(void)
{
    if (db_dir[0]) {
        char cmd[96];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", db_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", db_dir);
    }
}

int main(void)
{
    atexit(cleanup);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_many_sections),
        cmocka_unit_test(test_check_per_answer_and_errors),
        cmocka_unit_test(test_key_conditions_status_extra),
        cmocka_unit_test(test_normalised_section_is_stored),
        cmocka_unit_test(test_dormant_mocks_survive),
        cmocka_unit_test(test_refused_at_load_is_kept),
        cmocka_unit_test(test_hostile_checks),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_session_extract_undone),
        cmocka_unit_test(test_sessions_on_threads),
        cmocka_unit_test(test_http_path_section_records_and_replays),
        cmocka_unit_test(test_section_fields_as_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
