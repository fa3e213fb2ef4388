/*
 * Who may do what, at the function level: each role x each kind of
 * operation x own/other namespace; pinned namespaces; integration tokens
 * on the user API and user tokens on node endpoints; namespace-less
 * operations; mock traffic in a namespace that requires a token.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "test_auth_util.h"

enum { R_NOBODY, R_VIEWER, R_EDITOR, R_NSADMIN, R_SYSTEM, N_ROLES };

typedef struct world {
    tfix_t *f;
    char secret[N_ROLES][96];
    char uid[N_ROLES][DP_AUTH_ID_MAX + 1];
} world_t;

/* ns-a and ns-b; a user per role with its role in ns-a only. */
static world_t *world_new(void)
{
    static const char *const names[N_ROLES] = {"nobody", "viewer", "editor",
                                               "nsadmin", "root"};
    static const dp_auth_role_t roles[N_ROLES] = {
        DP_ROLE_NONE, DP_ROLE_VIEWER, DP_ROLE_EDITOR, DP_ROLE_NS_ADMIN,
        DP_ROLE_NONE};
    world_t *w = calloc(1, sizeof(*w));
    w->f = tfix_new();
    assert_int_equal(dp_auth_ns_add(w->f->a, "ns-a", 0), 0);
    assert_int_equal(dp_auth_ns_add(w->f->a, "ns-b", 0), 0);
    for (int r = 0; r < N_ROLES; r++) {
        make_user_token(w->f, names[r], r == R_SYSTEM, NULL, w->secret[r],
                        w->uid[r]);
        if (roles[r] != DP_ROLE_NONE)
            assert_int_equal(
                dp_auth_member_set(w->f->a, "ns-a", w->uid[r], roles[r]), 0);
    }
    return w;
}

static void world_free(world_t *w)
{
    tfix_free(w->f);
    free(w);
}

typedef struct op {
    const char *name;
    int write;
    int need; /* R_VIEWER .. R_SYSTEM */
} op_t;

/* What the issue asks, written independently of auth_policy.c's table. */
static const op_t ops[] = {
    {"mocks.list", 0, R_VIEWER},           {"mocks.get", 0, R_VIEWER},
    {"stores.get", 0, R_VIEWER},           {"journal.list", 0, R_VIEWER},
    {"mocks.create", 1, R_EDITOR},         {"mocks.patch", 1, R_EDITOR},
    {"stores.put", 1, R_EDITOR},           {"stores.delete", 1, R_EDITOR},
    {"journal.clear", 1, R_EDITOR},        {"reset", 1, R_EDITOR},
    {"members.put", 1, R_NSADMIN},         {"tokens.manage", 1, R_NSADMIN},
    {"integrations.manage", 1, R_NSADMIN}, {"audit.list", 0, R_NSADMIN},
    {"namespaces.create", 1, R_SYSTEM},    {"namespaces.delete", 1, R_SYSTEM},
};

static void test_role_matrix(void **state)
{
    (void)state;
    world_t *w = world_new();
    static const char *const nss[] = {"ns-a", "ns-b"};
    int checked = 0;
    for (int r = 0; r < N_ROLES; r++)
        for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
            for (int n = 0; n < 2; n++) {
                int own = n == 0;
                int expect = r == R_SYSTEM || (own && ops[o].need != R_SYSTEM &&
                                               r >= ops[o].need);
                dp_auth_principal_t who;
                dp_err_t err = {0};
                int rc = dp_auth_check_token(w->f->a, w->secret[r], "10.1.1.1",
                                             ops[o].name, ops[o].write, nss[n],
                                             &who, &err);
                if ((rc == 0) != expect)
                    fail_msg("role %d op %s ns %s: rc %d, expected %s (%s)", r,
                             ops[o].name, nss[n], rc,
                             expect ? "allowed" : "forbidden", err.message);
                if (!expect) {
                    assert_int_equal(rc, -EPERM);
                    assert_int_equal(err.status, 403);
                    assert_string_equal(err.code, "forbidden");
                }
                checked++;
            }
    assert_int_equal(checked, N_ROLES * 16 * 2);
    world_free(w);
}

static void test_missing_and_bad_token(void **state)
{
    (void)state;
    world_t *w = world_new();
    dp_err_t err = {0};
    dp_auth_principal_t who;
    assert_int_equal(dp_auth_check_token(w->f->a, NULL, "10.1.1.2",
                                         "mocks.list", 0, "ns-a", &who, &err),
                     -EACCES);
    assert_int_equal(err.status, 401);
    assert_string_equal(err.code, "unauthorized");
    memset(&err, 0, sizeof(err));
    assert_int_equal(dp_auth_check_token(w->f->a, "mk_nope", "10.1.1.2",
                                         "mocks.list", 0, "ns-a", &who, &err),
                     -EACCES);
    assert_int_equal(err.status, 401);
    assert_string_equal(err.code, "unauthorized");
    world_free(w);
}

static void test_namespace_less_operations(void **state)
{
    (void)state;
    world_t *w = world_new();
    dp_err_t err = {0};
    dp_auth_principal_t who;
    /* A list over every namespace needs system admin. */
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_NSADMIN], NULL,
                                         "mocks.list", 0, NULL, &who, &err),
                     -EPERM);
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_SYSTEM], NULL,
                                         "mocks.list", 0, NULL, &who, &err),
                     0);
    /* stores.* and mocks.create default to sandbox, where the editor of
     * ns-a has no role; an editor of sandbox may. */
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_EDITOR], NULL,
                                         "stores.put", 1, NULL, &who, &err),
                     -EPERM);
    assert_int_equal(dp_auth_member_set(w->f->a, "sandbox", w->uid[R_EDITOR],
                                        DP_ROLE_EDITOR),
                     0);
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_EDITOR], NULL,
                                         "stores.put", 1, NULL, &who, &err),
                     0);
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_EDITOR], NULL,
                                         "mocks.create", 1, NULL, &who, &err),
                     0);
    /* ... but a by-id operation without its namespace does not. */
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_EDITOR], NULL,
                                         "mocks.patch", 1, NULL, &who, &err),
                     -EPERM);
    /* An unknown operation: by its write flag. */
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_VIEWER], NULL,
                                         "future.read", 0, "ns-a", &who, &err),
                     0);
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_VIEWER], NULL,
                                         "future.write", 1, "ns-a", &who, &err),
                     -EPERM);
    /* No endpoint (op NULL): any valid token, so the caller gets its 404. */
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_NOBODY], NULL,
                                         NULL, 0, NULL, &who, &err),
                     0);
    /* Role changes apply to existing tokens at once. */
    assert_int_equal(
        dp_auth_member_set(w->f->a, "ns-a", w->uid[R_VIEWER], DP_ROLE_EDITOR),
        0);
    assert_int_equal(dp_auth_check_token(w->f->a, w->secret[R_VIEWER], NULL,
                                         "mocks.create", 1, "ns-a", &who, &err),
                     0);
    world_free(w);
}

static void test_pinned_namespace(void **state)
{
    (void)state;
    world_t *w = world_new();
    tfix_t *f = w->f;
    char root_a[96], ed_b[96], tid[40];
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER,
                                       w->uid[R_SYSTEM], "pinned", "ns-a", NULL,
                                       0, root_a, 96, tid),
                     0);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER,
                                       w->uid[R_EDITOR], "pinned-b", "ns-b",
                                       NULL, 0, ed_b, 96, tid),
                     0);
    dp_err_t err = {0};
    dp_auth_principal_t who;
    /* The system admin's pinned token: full rights in ns-a only. */
    assert_int_equal(dp_auth_check_token(f->a, root_a, NULL, "members.put", 1,
                                         "ns-a", &who, &err),
                     0);
    assert_string_equal(who.pinned_ns, "ns-a");
    assert_int_equal(dp_auth_check_token(f->a, root_a, NULL, "mocks.list", 0,
                                         "ns-b", &who, &err),
                     -EPERM);
    assert_non_null(strstr(err.message, "pinned"));
    assert_int_equal(dp_auth_check_token(f->a, root_a, NULL,
                                         "namespaces.create", 1, "ns-a", &who,
                                         &err),
                     -EPERM);
    assert_int_equal(dp_auth_check_token(f->a, root_a, NULL, "mocks.list", 0,
                                         NULL, &who, &err),
                     -EPERM);
    /* The editor (of ns-a) pinned to ns-b: nothing anywhere. */
    assert_int_equal(dp_auth_check_token(f->a, ed_b, NULL, "mocks.list", 0,
                                         "ns-a", &who, &err),
                     -EPERM);
    assert_int_equal(dp_auth_check_token(f->a, ed_b, NULL, "mocks.list", 0,
                                         "ns-b", &who, &err),
                     -EPERM);
    assert_int_equal(dp_auth_verify(f->a, ed_b, &who, &err), 0);
    assert_int_equal(dp_auth_role_in(f->a, &who, "ns-a"), DP_ROLE_NONE);
    assert_int_equal(dp_auth_role_in(f->a, &who, "ns-b"), DP_ROLE_NONE);
    assert_int_equal(dp_auth_verify(f->a, root_a, &who, &err), 0);
    assert_int_equal(dp_auth_role_in(f->a, &who, "ns-a"), DP_ROLE_NS_ADMIN);
    world_free(w);
}

/* A minimal request for the HTTP-level checks. */
typedef struct fake_req {
    doppel_http_request_t r;
    doppel_kv_t h[2];
    doppel_str_t found;
} fake_req_t;

static const doppel_str_t *fake_header(const doppel_http_request_t *req,
                                       const char *name)
{
    fake_req_t *f = (fake_req_t *)req;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name.ptr, name) == 0)
            return &req->headers[i].value;
    (void)f;
    return NULL;
}

static void fake_init(fake_req_t *f, const char *hname, const char *hval,
                      const char *addr)
{
    memset(f, 0, sizeof(*f));
    f->r.size = sizeof(f->r);
    f->r.method = DOPPEL_STR("GET");
    f->r.path = DOPPEL_STR("/x");
    f->r.remote_addr = (doppel_str_t){addr, strlen(addr)};
    f->r.header = fake_header;
    f->r.headers = f->h;
    if (hname != NULL) {
        f->h[0].name = (doppel_str_t){hname, strlen(hname)};
        f->h[0].value = (doppel_str_t){hval, strlen(hval)};
        f->r.n_headers = 1;
    }
}

static void test_token_kinds(void **state)
{
    (void)state;
    world_t *w = world_new();
    tfix_t *f = w->f;
    char integ[96], tid[40], bearer[128];
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_INTEGRATION,
                                       w->uid[R_SYSTEM], "resolver", "ns-a",
                                       "mock_resolver", 0, integ, 96, tid),
                     0);
    dp_err_t err = {0};
    dp_auth_principal_t who;
    fake_req_t rq;

    /* Integration token on the user API. */
    snprintf(bearer, sizeof(bearer), "Bearer %s", integ);
    fake_init(&rq, "Authorization", bearer, "10.2.0.1");
    assert_int_equal(
        dp_auth_admin_check(f->a, &rq.r, "mocks.list", 0, "ns-a", &who, &err),
        -EPERM);
    assert_int_equal(err.status, 403);
    assert_string_equal(err.code, "forbidden");
    assert_string_equal(err.message,
                        "this endpoint needs a user token (mk_...); "
                        "integration tokens (mki_...) are for node endpoints");
    /* ... and accepted on a node endpoint, with its type checked. */
    assert_int_equal(dp_auth_node_check(f->a, &rq.r, NULL, &who, &err), 0);
    assert_int_equal(who.kind, DP_AUTH_KIND_INTEGRATION);
    assert_string_equal(who.integration_type, "mock_resolver");
    assert_int_equal(
        dp_auth_node_check(f->a, &rq.r, "mock_resolver", &who, &err), 0);
    assert_int_equal(
        dp_auth_node_check(f->a, &rq.r, "orchestrator", &who, &err), -EPERM);

    /* User token (as X-API-Key) on a node endpoint: the mirror message. */
    fake_init(&rq, "X-API-Key", w->secret[R_EDITOR], "10.2.0.1");
    assert_int_equal(dp_auth_node_check(f->a, &rq.r, NULL, &who, &err), -EPERM);
    assert_string_equal(err.message,
                        "this endpoint needs an integration token (mki_...); "
                        "user tokens (mk_...) are for the user API");
    assert_int_equal(
        dp_auth_admin_check(f->a, &rq.r, "mocks.create", 1, "ns-a", &who, &err),
        0);
    assert_string_equal(who.user_name, "editor");

    /* Authorization with another scheme is refused, not ignored. */
    fake_init(&rq, "Authorization", "Basic dXNlcjpwYXNz", "10.2.0.1");
    assert_int_equal(
        dp_auth_admin_check(f->a, &rq.r, "mocks.list", 0, "ns-a", &who, &err),
        -EACCES);
    assert_int_equal(err.status, 401);
    /* Metrics: any valid token, none refused. */
    fake_init(&rq, "Authorization", bearer, "10.2.0.1");
    assert_int_equal(dp_auth_metrics_check(f->a, &rq.r, &err), 0);
    fake_init(&rq, NULL, NULL, "10.2.0.1");
    assert_int_equal(dp_auth_metrics_check(f->a, &rq.r, &err), -EACCES);
    world_free(w);
}

static void test_traffic(void **state)
{
    (void)state;
    world_t *w = world_new();
    tfix_t *f = w->f;
    char integ_b[96], tid[40], hdr[128];
    assert_int_equal(dp_auth_ns_add(f->a, "locked", 1), 0);
    assert_int_equal(
        dp_auth_member_set(f->a, "locked", w->uid[R_VIEWER], DP_ROLE_VIEWER),
        0);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_INTEGRATION,
                                       w->uid[R_SYSTEM], "runner", "ns-b",
                                       "test_runner", 0, integ_b, 96, tid),
                     0);
    assert_int_equal(dp_auth_namespace_requires_token(f->a, "locked"), 1);
    assert_int_equal(dp_auth_namespace_requires_token(f->a, "ns-a"), 0);
    assert_int_equal(dp_auth_namespace_requires_token(f->a, "unknown"), 0);
    assert_int_equal(dp_auth_traffic_check(f->a, "ns-a", NULL, NULL, NULL), 0);
    assert_int_equal(dp_auth_traffic_check(f->a, "locked", NULL, NULL, NULL),
                     -EACCES);
    assert_int_equal(
        dp_auth_traffic_check(f->a, "locked", "Bearer mk_bad", NULL, NULL),
        -EACCES);
    snprintf(hdr, sizeof(hdr), "Bearer %s", w->secret[R_VIEWER]);
    assert_int_equal(dp_auth_traffic_check(f->a, "locked", hdr, NULL, NULL), 0);
    assert_int_equal(
        dp_auth_traffic_check(f->a, "locked", w->secret[R_VIEWER], NULL, NULL),
        0);
    assert_int_equal(
        dp_auth_traffic_check(f->a, "locked", w->secret[R_EDITOR], NULL, NULL),
        -EPERM);
    assert_int_equal(dp_auth_traffic_check(f->a, "locked", integ_b, NULL, NULL),
                     -EPERM);

    /* Bad tokens on mock traffic feed the failed-authentication limiter
     * of their address; a missing one does not. */
    unsigned wait = 99;
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            dp_auth_traffic_check(f->a, "locked", NULL, "10.0.0.9", &wait),
            -EACCES);
    assert_int_equal(wait, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(dp_auth_traffic_check(f->a, "locked", "mk_guess",
                                               "10.0.0.9", &wait),
                         -EACCES);
    assert_int_equal(
        dp_auth_traffic_check(f->a, "locked", hdr, "10.0.0.9", &wait), -EAGAIN);
    assert_true(wait >= 1);
    assert_true(dp_auth_retry_after(f->a, "10.0.0.9") >= 1);
    assert_int_equal(
        dp_auth_traffic_check(f->a, "locked", hdr, "10.0.0.8", &wait), 0);
    /* Open namespaces are never limited. */
    assert_int_equal(
        dp_auth_traffic_check(f->a, "ns-a", "mk_guess", "10.0.0.9", &wait), 0);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_matrix),
        cmocka_unit_test(test_missing_and_bad_token),
        cmocka_unit_test(test_namespace_less_operations),
        cmocka_unit_test(test_pinned_namespace),
        cmocka_unit_test(test_token_kinds),
        cmocka_unit_test(test_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
