/*
 * Token secrets: format and entropy, hash-only storage (the database file
 * is searched for the secret), verification with expiry and revocation
 * under a fake clock, constant-time comparison, persistence across reopen.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_auth_util.h"

static int is_b62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void check_format(const char *prefix)
{
    enum { N = 1000 };
    char *all[N];
    size_t pl = strlen(prefix);
    /* Over 1000 secrets every base62 character must show up somewhere:
     * a generator stuck on part of the alphabet fails. */
    int seen[128] = {0};
    for (int i = 0; i < N; i++) {
        char s[96];
        assert_int_equal(dp_auth_secret_new(prefix, s, sizeof(s)), 0);
        assert_int_equal(strlen(s), pl + 43);
        assert_memory_equal(s, prefix, pl);
        for (size_t k = pl; s[k]; k++) {
            assert_true(is_b62(s[k]));
            seen[(unsigned char)s[k]] = 1;
        }
        all[i] = strdup(s);
    }
    qsort(all, N, sizeof(all[0]), cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    int distinct = 0;
    for (int c = 0; c < 128; c++)
        distinct += seen[c];
    assert_int_equal(distinct, 62);
    for (int i = 0; i < N; i++)
        free(all[i]);
}

static void test_secret_format_and_entropy(void **state)
{
    (void)state;
    check_format("mk_");
    check_format("mki_");
    char small[10];
    assert_int_equal(dp_auth_secret_new("mk_", small, sizeof(small)), -ENOSPC);
}

static void test_ids_unique(void **state)
{
    (void)state;
    char a[40], b[40];
    assert_int_equal(dp_auth_id_new("tok_", a, sizeof(a)), 0);
    assert_int_equal(dp_auth_id_new("tok_", b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 4 + 16);
    assert_string_not_equal(a, b);
}

/* Base64 and hex of s, to search the file for encoded copies. */
static void encodings(const char *s, char *b64, char *hex_lo, char *hex_up)
{
    size_t n = strlen(s);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)s, (int)n);
    for (size_t i = 0; i < n; i++) {
        sprintf(hex_lo + 2 * i, "%02x", (unsigned char)s[i]);
        sprintf(hex_up + 2 * i, "%02X", (unsigned char)s[i]);
    }
}

static void search_store(tfix_t *f, const char *secret, const char *display)
{
    static const char *const suffixes[] = {"", "-wal", "-journal", "-shm"};
    char b64[256], hlo[256], hup[256];
    encodings(secret, b64, hlo, hup);
    const char *body = strchr(secret, '_') + 1;
    int display_found = 0;
    for (size_t i = 0; i < 4; i++) {
        char path[160];
        size_t len;
        snprintf(path, sizeof(path), "%s%s", f->db, suffixes[i]);
        unsigned char *buf = read_all(path, &len);
        if (buf == NULL)
            continue;
        assert_false(buf_has(buf, len, secret, strlen(secret)));
        assert_false(buf_has(buf, len, body, strlen(body)));
        /* The first 16 characters after the display prefix are secret. */
        assert_false(buf_has(buf, len, body + 8, 16));
        assert_false(buf_has(buf, len, b64, strlen(b64)));
        assert_false(buf_has(buf, len, hlo, strlen(hlo)));
        assert_false(buf_has(buf, len, hup, strlen(hup)));
        /* The search itself works: the public display prefix is there. */
        display_found |= buf_has(buf, len, display, strlen(display));
        free(buf);
    }
    assert_true(display_found);
}

static void test_store_holds_no_secret(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char uid[DP_AUTH_ID_MAX + 1], secret[96], isecret[96], tid[40];
    make_user_token(f, "alice", 0, NULL, secret, uid);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_INTEGRATION, uid,
                                       "runner", NULL, "test_runner", 0,
                                       isecret, sizeof(isecret), tid),
                     0);
    /* Use both so that last-used times are written at close. */
    dp_auth_principal_t who;
    dp_err_t err = {0};
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &err), 0);
    assert_int_equal(dp_auth_verify(f->a, isecret, &who, &err), 0);
    dp_auth_close(f->a);
    f->a = NULL;
    char disp[16];
    snprintf(disp, sizeof(disp), "%.11s", secret);
    search_store(f, secret, disp);
    snprintf(disp, sizeof(disp), "%.12s", isecret);
    search_store(f, isecret, disp);
    tfix_open(f);
    tfix_free(f);
}

static void test_verify_expiry_revoke(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char uid[DP_AUTH_ID_MAX + 1], secret[96], s2[96], tid[40], tid2[40];
    assert_int_equal(dp_auth_user_add(f->a, "bob", 0, uid), 0);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, uid, "short",
                                       NULL, NULL, f->now_ms + 10000, secret,
                                       sizeof(secret), tid),
                     0);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, uid, "long",
                                       NULL, NULL, 0, s2, sizeof(s2), tid2),
                     0);
    dp_auth_principal_t who;
    dp_err_t err = {0};
    unsigned long before = dp_auth_hash_compares();
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &err), 0);
    assert_true(dp_auth_hash_compares() > before); /* constant-time compare */
    assert_int_equal(who.kind, DP_AUTH_KIND_USER);
    assert_string_equal(who.user_name, "bob");
    assert_string_equal(who.token_id, tid);

    /* One millisecond before the expiry it works, at the expiry it does
     * not. */
    f->now_ms += 9999;
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &err), 0);
    f->now_ms += 1;
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &err), -EACCES);
    assert_int_equal(err.status, 401);
    assert_string_equal(err.code, "unauthorized");
    assert_non_null(strstr(err.message, "expired"));

    assert_int_equal(dp_auth_verify(f->a, s2, &who, &err), 0);
    assert_int_equal(dp_auth_token_revoke(f->a, tid2), 0);
    assert_int_equal(dp_auth_verify(f->a, s2, &who, &err), -EACCES);
    assert_non_null(strstr(err.message, "revoked"));
    assert_null(strstr(err.message, s2));

    /* A different secret with the right shape, and junk. */
    char other[96];
    assert_int_equal(dp_auth_secret_new("mk_", other, sizeof(other)), 0);
    assert_int_equal(dp_auth_verify(f->a, other, &who, &err), -EACCES);
    assert_int_equal(dp_auth_verify(f->a, "", &who, &err), -EACCES);
    assert_int_equal(dp_auth_verify(f->a, "Bearer x", &who, &err), -EACCES);
    char huge[600];
    memset(huge, 'a', sizeof(huge) - 1);
    memcpy(huge, "mk_", 3);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(dp_auth_verify(f->a, huge, &who, &err), -EACCES);
    /* One character changed. */
    char near[96];
    strcpy(near, s2);
    near[10] = near[10] == 'a' ? 'b' : 'a';
    assert_int_equal(dp_auth_token_revoke(f->a, "tok_missing"), -ENOENT);
    assert_int_equal(dp_auth_verify(f->a, near, &who, &err), -EACCES);

    /* Revocation and expiry survive a reopen. */
    tfix_reopen(f);
    assert_int_equal(dp_auth_verify(f->a, s2, &who, &err), -EACCES);
    assert_int_equal(dp_auth_verify(f->a, secret, &who, &err), -EACCES);
    tfix_free(f);
}

static void test_tokens_survive_reopen(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char secrets[40][96], uid[DP_AUTH_ID_MAX + 1];
    assert_int_equal(dp_auth_user_add(f->a, "carol", 0, uid), 0);
    for (int i = 0; i < 40; i++) {
        char tid[40];
        assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, uid, "t",
                                           NULL, NULL, 0, secrets[i], 96, tid),
                         0);
    }
    dp_auth_principal_t who;
    dp_err_t err;
    assert_int_equal(dp_auth_verify(f->a, secrets[3], &who, &err), 0);
    int64_t used_at = f->now_ms;
    f->now_ms += 5000;
    tfix_reopen(f);
    /* last-used was kept in memory and written at close. */
    pthread_rwlock_rdlock(&f->a->lock);
    dp_auth_token_t *t = dp_auth_find_token(&f->a->model, who.token_id);
    assert_non_null(t);
    assert_int_equal(t->last_used_ms, used_at);
    pthread_rwlock_unlock(&f->a->lock);
    for (int i = 0; i < 40; i++)
        assert_int_equal(dp_auth_verify(f->a, secrets[i], &who, &err), 0);
    tfix_free(f);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char id[DP_AUTH_ID_MAX + 1], s[96], tid[40];
    assert_int_equal(dp_auth_user_add(f->a, "bad name", 0, id), -EINVAL);
    assert_int_equal(dp_auth_user_add(f->a, "", 0, id), -EINVAL);
    assert_int_equal(dp_auth_user_add(f->a, "dave", 0, id), 0);
    assert_int_equal(dp_auth_user_add(f->a, "dave", 0, id), -EEXIST);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, "usr_nobody",
                                       "t", NULL, NULL, 0, s, sizeof(s), tid),
                     -ENOENT);
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, id, "t",
                                       "no-such-ns", NULL, 0, s, sizeof(s),
                                       tid),
                     -ENOENT);
    assert_int_equal(dp_auth_member_set(f->a, "sandbox", id, DP_ROLE_SYSTEM),
                     -EINVAL);
    assert_int_equal(dp_auth_ns_add(f->a, "sandbox", 0), -EEXIST);
    /* Nothing half-made: still one user besides none. */
    pthread_rwlock_rdlock(&f->a->lock);
    assert_int_equal(f->a->model.n_users, 1);
    assert_int_equal(f->a->model.n_tokens, 0);
    pthread_rwlock_unlock(&f->a->lock);
    tfix_free(f);
}

/* Readers verify on 4 threads while the main thread creates and revokes
 * tokens (index rebuilt under them). A revoked token must fail from the
 * moment dp_auth_token_revoke returns, on every thread. */
typedef struct reader {
    tfix_t *f;
    const char *stable; /* never revoked: must always verify */
    _Atomic int *stop;
    long ok, bad;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    dp_auth_principal_t who;
    dp_err_t err;
    do { /* at least once, however the threads are scheduled */
        if (dp_auth_verify(r->f->a, r->stable, &who, &err) == 0)
            r->ok++;
        else
            r->bad++;
    } while (!atomic_load(r->stop));
    return NULL;
}

static void test_concurrent_verify_and_revoke(void **state)
{
    (void)state;
    tfix_t *f = tfix_new();
    char stable[96], uid[DP_AUTH_ID_MAX + 1];
    make_user_token(f, "busy", 0, NULL, stable, uid);
    _Atomic int stop = 0;
    reader_t rd[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        rd[i] = (reader_t){.f = f, .stable = stable, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    for (int i = 0; i < 30; i++) {
        char s[96], tid[40];
        dp_auth_principal_t who;
        dp_err_t err;
        assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, uid, "x",
                                           NULL, NULL, 0, s, sizeof(s), tid),
                         0);
        assert_int_equal(dp_auth_verify(f->a, s, &who, &err), 0);
        assert_int_equal(dp_auth_token_revoke(f->a, tid), 0);
        assert_int_equal(dp_auth_verify(f->a, s, &who, &err), -EACCES);
    }
    atomic_store(&stop, 1);
    long ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rd[i].bad, 0);
        ok += rd[i].ok;
    }
    assert_true(ok > 0);
    tfix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_format_and_entropy),
        cmocka_unit_test(test_ids_unique),
        cmocka_unit_test(test_store_holds_no_secret),
        cmocka_unit_test(test_verify_expiry_revoke),
        cmocka_unit_test(test_tokens_survive_reopen),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_concurrent_verify_and_revoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
