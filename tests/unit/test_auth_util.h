/*
 * Shared helpers of the test_auth_*.c programs: a temp dir with a fresh
 * doppel.db, a fake clock, and file searching. Included by one .c each.
 */
#ifndef TEST_AUTH_UTIL_H
#define TEST_AUTH_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"

typedef struct tfix {
    char dir[64];
    char db[128];
    int64_t now_ms; /* the fake clock */
    dp_auth_cfg_t cfg;
    dp_auth_t *a;
} tfix_t;

static inline int64_t tfix_clock(void *ctx)
{
    return ((tfix_t *)ctx)->now_ms;
}

static inline void tfix_open(tfix_t *f)
{
    char err[256] = "";
    int rc = dp_auth_open(f->db, &f->cfg, &f->a, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "dp_auth_open: %s\n", err);
    assert_int_equal(rc, 0);
}

/* A new temp dir and an open dp_auth_t with the fake clock at 2026-01-01. */
static inline tfix_t *tfix_new(void)
{
    tfix_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/doppel-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/doppel.db", f->dir);
    f->now_ms = 1767225600000LL;
    dp_auth_cfg_default(&f->cfg);
    f->cfg.clock = tfix_clock;
    f->cfg.clock_ctx = f;
    tfix_open(f);
    return f;
}

static inline void tfix_reopen(tfix_t *f)
{
    dp_auth_close(f->a);
    f->a = NULL;
    tfix_open(f);
}

static inline void tfix_free(tfix_t *f)
{
    char cmd[128];
    dp_auth_close(f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

/* Reads a whole file; *len receives its size. NULL when absent. */
static inline unsigned char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    *len = 0;
    if (fp == NULL)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = fread(buf + *len, 1, cap - *len, fp);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(fp);
    return buf;
}

static inline int buf_has(const unsigned char *buf, size_t len,
                          const void *needle, size_t nlen)
{
    if (buf == NULL || nlen == 0 || nlen > len)
        return 0;
    for (size_t i = 0; i + nlen <= len; i++)
        if (memcmp(buf + i, needle, nlen) == 0)
            return 1;
    return 0;
}

/* A user with a token; returns the secret in secret (cap 96). */
static inline void make_user_token(tfix_t *f, const char *user, int sysadmin,
                                   const char *pin, char *secret, char *uid)
{
    char id[DP_AUTH_ID_MAX + 1];
    char tid[DP_AUTH_ID_MAX + 1];
    int rc = dp_auth_user_add(f->a, user, sysadmin, id);
    if (rc == -EEXIST) {
        pthread_rwlock_rdlock(&f->a->lock);
        dp_auth_user_t *u = dp_auth_find_user(&f->a->model, user);
        assert_non_null(u);
        memcpy(id, u->id, sizeof(id));
        pthread_rwlock_unlock(&f->a->lock);
    } else {
        assert_int_equal(rc, 0);
    }
    assert_int_equal(dp_auth_token_add(f->a, DP_AUTH_KIND_USER, id, "t", pin,
                                       NULL, 0, secret, 96, tid),
                     0);
    if (uid != NULL)
        memcpy(uid, id, sizeof(id));
}

#endif
