/*
 * The defences around tokens: the failed-authentication limiter, the
 * bootstrap of the first admin token, the loopback rule of local mode,
 * label normalisation, and the bounded audit log.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_auth_util.h"

/* ---- Rate limiter ---------------------------------------------------------
 */

static void test_rate_limit(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char good[96], uid[DP_AUTH_ID_MAX + 1];
    make_user_token(f, "ok", 1, NULL, good, uid);
    dp_err_t err = {0};
    dp_auth_principal_t who;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(dp_auth_check_token(f->a, "mk_wrong", "10.9.9.9",
                                             "mocks.list", 0, "sandbox", &who,
                                             &err),
                         -EACCES);
        assert_int_equal(err.status, 401);
    }
    /* The 11th attempt is refused before the token is looked at, even a
     * good one, from that address only. */
    assert_int_equal(dp_auth_check_token(f->a, good, "10.9.9.9", "mocks.list",
                                         0, "sandbox", &who, &err),
                     -EAGAIN);
    assert_int_equal(err.status, 429);
    assert_string_equal(err.code, "rate_limit");
    assert_non_null(strstr(err.message, "retry in 60 s"));
    assert_int_equal(dp_auth_check_token(f->a, good, "10.9.9.8", "mocks.list",
                                         0, "sandbox", &who, &err),
                     0);
    /* Successes do not count; missing tokens do not count. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(dp_auth_check_token(f->a, NULL, "10.9.9.7",
                                             "mocks.list", 0, "sandbox", &who,
                                             &err),
                         -EACCES);
    assert_int_equal(dp_auth_check_token(f->a, good, "10.9.9.7", "mocks.list",
                                         0, "sandbox", &who, &err),
                     0);
    /* The window ends. */
    f->now_ms += 30000;
    assert_int_equal(dp_auth_check_token(f->a, good, "10.9.9.9", "mocks.list",
                                         0, "sandbox", &who, &err),
                     -EAGAIN);
    assert_non_null(strstr(err.message, "retry in 30 s"));
    f->now_ms += 30001;
    assert_int_equal(dp_auth_check_token(f->a, good, "10.9.9.9", "mocks.list",
                                         0, "sandbox", &who, &err),
                     0);
    tfix_free(f);
}

static void test_limiter_bounded(void **state)
{
    (void)state;
    dp_auth_limiter_t *l = dp_auth_limiter_new(16, 3, 60);
    assert_non_null(l);
    int64_t now = 1000000;
    /* 10000 addresses through 16 slots: no growth, no crash. The newest
     * address is still tracked (it evicted an older one). */
    char addr[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255,
                 i & 255);
        dp_auth_limiter_fail(l, addr, now);
        dp_auth_limiter_fail(l, addr, now);
        dp_auth_limiter_fail(l, addr, now);
    }
    assert_true(dp_auth_limiter_check(l, addr, now) > 0);
    /* A long address is truncated consistently, not overflowed. */
    char longaddr[300];
    memset(longaddr, 'x', sizeof(longaddr) - 1);
    longaddr[sizeof(longaddr) - 1] = '\0';
    for (int i = 0; i < 3; i++)
        dp_auth_limiter_fail(l, longaddr, now);
    assert_true(dp_auth_limiter_check(l, longaddr, now) > 0);
    assert_int_equal(dp_auth_limiter_check(l, "192.168.1.1", now), 0);
    assert_int_equal(dp_auth_limiter_check(l, longaddr, now + 60000), 0);
    dp_auth_limiter_free(l);
}

/* ---- Bootstrap ------------------------------------------------------------
 */

/* Runs bootstrap with stderr captured into out. */
static int bootstrap_capture(tfix_t *f, const char *env, char *out, size_t cap,
                             char *err, size_t errlen)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/stderr.txt", f->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = dp_auth_bootstrap(f->a, f->dir, env, err, errlen);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    unsigned char *buf = read_all(path, &len);
    snprintf(out, cap, "%.*s", (int)len, buf ? (char *)buf : "");
    free(buf);
    return rc;
}

static void test_bootstrap_once(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char out[4096], err[256];
    assert_int_equal(
        bootstrap_capture(f, NULL, out, sizeof(out), err, sizeof(err)), 1);
    const char *line = strstr(out, "doppel: bootstrap admin token (shown "
                                   "once): mk_");
    assert_non_null(line);
    char secret[96];
    assert_int_equal(sscanf(strstr(line, "mk_"), "%95s", secret), 1);

    char path[160];
    snprintf(path, sizeof(path), "%s/admin-token", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t len;
    unsigned char *file = read_all(path, &len);
    assert_int_equal(len, strlen(secret) + 1);
    assert_memory_equal(file, secret, strlen(secret));
    free(file);

    dp_auth_principal_t who;
    dp_err_t e = {0};
    assert_int_equal(dp_auth_check_token(f->a, secret, NULL,
                                         "namespaces.create", 1, NULL, &who,
                                         &e),
                     0);
    assert_int_equal(dp_auth_role_in(f->a, &who, NULL), DP_ROLE_SYSTEM);

    /* Never again: neither now nor after a restart. */
    assert_int_equal(
        bootstrap_capture(f, NULL, out, sizeof(out), err, sizeof(err)), 0);
    assert_null(strstr(out, "mk_"));
    tfix_reopen(f);
    assert_int_equal(
        bootstrap_capture(f, NULL, out, sizeof(out), err, sizeof(err)), 0);
    assert_null(strstr(out, "mk_"));
    assert_int_equal(dp_auth_check_token(f->a, secret, NULL, "users.create", 1,
                                         NULL, &who, &e),
                     0);
    tfix_free(f);
}

static void test_bootstrap_env(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc",
        "mk_short",
        "mki_0123456789012345678901234567890123456789",
        "mk_0123456789012345678901234567890!",
        "MK_0123456789012345678901234567890123456789",
    };
    tfix_t *f = tfix_new();
    char out[4096], err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            bootstrap_capture(f, bad[i], out, sizeof(out), err, sizeof(err)),
            -EINVAL);
        assert_non_null(strstr(err, "DOPPEL_ADMIN_TOKEN"));
    }
    pthread_rwlock_rdlock(&f->a->lock);
    assert_int_equal(f->a->model.n_tokens, 0); /* nothing half-made */
    pthread_rwlock_unlock(&f->a->lock);

    const char *env = "mk_testAdminToken0123456789abcdefghijklmnop";
    assert_int_equal(
        bootstrap_capture(f, env, out, sizeof(out), err, sizeof(err)), 1);
    assert_null(strstr(out, env)); /* the operator knows it: not printed */
    char path[160];
    snprintf(path, sizeof(path), "%s/admin-token", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    dp_auth_principal_t who;
    dp_err_t e = {0};
    assert_int_equal(
        dp_auth_check_token(f->a, env, NULL, "users.create", 1, NULL, &who, &e),
        0);
    /* Same env on restart: nothing new. */
    tfix_reopen(f);
    assert_int_equal(
        bootstrap_capture(f, env, out, sizeof(out), err, sizeof(err)), 0);
    pthread_rwlock_rdlock(&f->a->lock);
    assert_int_equal(f->a->model.n_tokens, 1);
    pthread_rwlock_unlock(&f->a->lock);
    /* A revoked env token is refused, not silently re-added. */
    assert_int_equal(dp_auth_token_revoke(f->a, who.token_id), 0);
    assert_int_equal(
        bootstrap_capture(f, env, out, sizeof(out), err, sizeof(err)), -EACCES);
    tfix_free(f);
}

/* ---- Local mode ------------------------------------------------------------
 */

static void test_local_mode_loopback(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "127.0.0.1", "127.1.2.3",       "::1", "[::1]", "localhost",
        "LOCALHOST", "::ffff:127.0.0.1"};
    static const char *const no[] = {
        "0.0.0.0",   "10.0.0.1",        "::",
        "",          "192.168.1.10",    "example.com",
        "128.0.0.1", "::ffff:10.0.0.1", "localhost.evil.com"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!dp_auth_local_mode_allowed(ok[i]))
            fail_msg("%s should allow local mode", ok[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (dp_auth_local_mode_allowed(no[i]))
            fail_msg("%s should refuse local mode", no[i]);
    assert_int_equal(dp_auth_local_mode_allowed(NULL), 0);
}

static void test_local_mode_acts_as_admin(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    dp_auth_close(f->a);
    f->a = NULL;
    f->cfg.local_mode = 1;
    tfix_open(f);
    dp_auth_principal_t who;
    dp_err_t e = {0};
    assert_int_equal(dp_auth_check_token(f->a, NULL, NULL, "namespaces.create",
                                         1, NULL, &who, &e),
                     0);
    assert_int_equal(who.kind, DP_AUTH_KIND_LOCAL);
    char out[16], err[64];
    (void)out;
    assert_int_equal(dp_auth_bootstrap(f->a, f->dir, NULL, err, sizeof(err)),
                     0);
    tfix_free(f);
}

/* ---- Labels ----------------------------------------------------------------
 */

static void test_labels(void **state)
{
    (void)state;
    char out[DP_AUTH_NAME_MAX + 1];
    assert_int_equal(dp_auth_label_normalize("Team-A.v2_x", out), 0);
    assert_string_equal(out, "team-a.v2_x");
    assert_int_equal(dp_auth_label_normalize("ABC", out), 0);
    assert_string_equal(out, "abc");
    char max[65];
    memset(max, 'Q', 64);
    max[64] = '\0';
    assert_int_equal(dp_auth_label_normalize(max, out), 0);
    assert_int_equal(strlen(out), 64);
    assert_int_equal(out[0], 'q');
    char over[66];
    memset(over, 'a', 65);
    over[65] = '\0';
    assert_int_equal(dp_auth_label_normalize(over, out), -EINVAL);
    assert_int_equal(dp_auth_label_normalize("", out), -EINVAL);
    assert_int_equal(dp_auth_label_normalize("has space", out), -EINVAL);
    assert_int_equal(dp_auth_label_normalize("slash/no", out), -EINVAL);
    assert_int_equal(dp_auth_label_normalize("caf\xc3\xa9", out), -EINVAL);
    assert_int_equal(dp_auth_label_normalize(NULL, out), -EINVAL);
}

/* ---- Audit -----------------------------------------------------------------
 */

static void test_audit_written_and_bounded(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    dp_auth_close(f->a);
    f->a = NULL;
    f->cfg.audit_keep = 5;
    tfix_open(f);
    char secret[96], uid[DP_AUTH_ID_MAX + 1];
    make_user_token(f, "auditor", 1, NULL, secret, uid);
    dp_auth_principal_t who;
    dp_err_t e = {0};
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &e), 0);
    for (int i = 0; i < 12; i++) {
        char target[16];
        snprintf(target, sizeof(target), "m%d", i);
        assert_int_equal(
            dp_auth_audit(f->a, &who, "mocks.create", "ns-x", target, NULL), 0);
    }
    assert_int_equal(dp_auth_audit(f->a, NULL, "reset", NULL, NULL, "x"), 0);
    json_t *rows = NULL;
    size_t total = 0;
    assert_int_equal(
        f->a->store->ops->audit_list(f->a->store, NULL, 0, 100, &rows, &total),
        0);
    assert_int_equal(total, 5);
    assert_int_equal(json_array_size(rows), 5);
    json_t *first = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(first, "action")),
                        "reset");
    assert_string_equal(json_string_value(json_object_get(first, "actor")),
                        "anonymous");
    json_t *second = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(second, "actor")),
                        "auditor");
    assert_string_equal(json_string_value(json_object_get(second, "target")),
                        "m11");
    assert_string_equal(json_string_value(json_object_get(second, "namespace")),
                        "ns-x");
    assert_string_equal(json_string_value(json_object_get(second, "actorId")),
                        who.token_id);
    /* No secret anywhere in the log. */
    char *dump = json_dumps(rows, 0);
    assert_null(strstr(dump, secret));
    assert_null(strstr(dump, secret + 3));
    free(dump);
    json_decref(rows);
    /* Filter by namespace. */
    assert_int_equal(
        f->a->store->ops->audit_list(f->a->store, "ns-x", 1, 2, &rows, &total),
        0);
    assert_int_equal(total, 4);
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rows, 0), "target")),
        "m10");
    json_decref(rows);
    assert_int_equal(dp_auth_audit(f->a, NULL, NULL, NULL, NULL, NULL),
                     -EINVAL);
    tfix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_limiter_bounded),
        cmocka_unit_test(test_bootstrap_once),
        cmocka_unit_test(test_bootstrap_env),
        cmocka_unit_test(test_local_mode_loopback),
        cmocka_unit_test(test_local_mode_acts_as_admin),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_audit_written_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
