/*
 * Helpers shared by the engine's unit tests: an engine on memory storage,
 * mocks from JSON text, and exchanges built from a few strings.
 */
#ifndef TEST_ENGINE_UTIL_H
#define TEST_ENGINE_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine.h"
#include "storage.h"

/* The storage back end the suite runs on: memory by default, or a fresh
 * SQLite file with DOPPEL_TEST_STORAGE=sqlite (ctest runs the engine suites
 * both ways, so every back end passes the same tests). */
static char t_storage_dir[64];

static inline void t_storage_cleanup(void)
{
    char cmd[96];
    if (t_storage_dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_storage_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t_storage_dir);
}

static inline dp_storage_t *t_storage(void)
{
    const char *kind = getenv("DOPPEL_TEST_STORAGE");
    if (kind == NULL || strcmp(kind, "memory") == 0)
        return dp_storage_memory_new();
    if (strcmp(kind, "sqlite") != 0)
        fail_msg("DOPPEL_TEST_STORAGE=%s: expected memory or sqlite", kind);
    static int files;
    if (t_storage_dir[0] == '\0') {
        snprintf(t_storage_dir, sizeof(t_storage_dir),
                 "/tmp/doppel-engine-test-XXXXXX");
        if (mkdtemp(t_storage_dir) == NULL)
            fail_msg("mkdtemp failed");
        atexit(t_storage_cleanup);
    }
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/%d.db", t_storage_dir, files++);
    dp_storage_t *st = NULL;
    if (dp_storage_sqlite_open(path, &st, err, sizeof(err)) != 0)
        fail_msg("sqlite storage: %s", err);
    return st;
}

static inline dp_engine_t *t_open(void)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.seed = 42;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    assert_non_null(e);
    return e;
}

static inline json_t *t_json(const char *txt)
{
    json_error_t je;
    json_t *v = json_loads(txt, JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON: %s (%s)", je.text, txt);
    return v;
}

/* Puts a mock; returns its id (static buffer, copy it if needed). */
static inline const char *t_put(dp_engine_t *e, const char *txt)
{
    static char id[160];
    json_t *m = t_json(txt);
    json_t *st = NULL;
    int ow = -1;
    dp_err_t err = {0};
    int rc = dp_engine_mock_put(e, m, NULL, &st, &ow, &err);
    if (rc != 0)
        fail_msg("put failed: %s: %s", err.field, err.message);
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(st, "id")));
    json_decref(st);
    json_decref(m);
    return id;
}

/* Expects a put to fail with status 400 naming field. */
static inline void t_put_fails(dp_engine_t *e, const char *txt,
                               const char *field)
{
    json_t *m = t_json(txt);
    json_t *st = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_put(e, m, NULL, &st, NULL, &err);
    json_decref(m);
    if (rc == 0) {
        json_decref(st);
        fail_msg("put of %s succeeded, expected an error on %s", txt, field);
    }
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "validation");
    if (strcmp(err.field, field) != 0)
        fail_msg("expected field %s, got %s (%s)", field, err.field,
                 err.message);
}

typedef struct t_req {
    const char *method, *path, *ns, *body;
    const char *h[16]; /* name, value, name, value, ... NULL */
    const char *q[16];
} t_req_t;

static inline doppel_reply_t *t_match(dp_engine_t *e, const t_req_t *r)
{
    doppel_kv_t hk[8], qk[8];
    size_t nh = 0, nq = 0;
    for (size_t i = 0; r->h[i] && nh < 8; i += 2, nh++)
        hk[nh] = (doppel_kv_t){{r->h[i], strlen(r->h[i])},
                               {r->h[i + 1], strlen(r->h[i + 1])}};
    for (size_t i = 0; r->q[i] && nq < 8; i += 2, nq++)
        qk[nq] = (doppel_kv_t){{r->q[i], strlen(r->q[i])},
                               {r->q[i + 1], strlen(r->q[i + 1])}};
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("http");
    if (r->ns)
        x.ns = (doppel_str_t){r->ns, strlen(r->ns)};
    x.operation = (doppel_str_t){r->method ? r->method : "GET",
                                 strlen(r->method ? r->method : "GET")};
    x.target = (doppel_str_t){r->path, strlen(r->path)};
    x.metadata = hk;
    x.n_metadata = nh;
    x.params = qk;
    x.n_params = nq;
    if (r->body) {
        x.body = (const uint8_t *)r->body;
        x.body_len = strlen(r->body);
    }
    x.request_id = DOPPEL_STR("req-1");
    doppel_reply_t *out = NULL;
    assert_int_equal(dp_engine_match(e, &x, &out), 0);
    assert_non_null(out);
    return out;
}

/* The id of the mock that answers, or "" on no match (static buffer). */
static inline const char *t_who(dp_engine_t *e, const t_req_t *r)
{
    static char id[160];
    doppel_reply_t *rp = t_match(e, r);
    snprintf(id, sizeof(id), "%.*s", (int)rp->mock_id.len, rp->mock_id.ptr);
    dp_engine_reply_free(rp);
    return id;
}

/* The reply body as a string (malloc'd). */
static inline char *t_body(const doppel_reply_t *r)
{
    char *s = malloc(r->body_len + 1);
    memcpy(s, r->body, r->body_len);
    s[r->body_len] = '\0';
    return s;
}

static inline const char *t_header(const doppel_reply_t *r, const char *name)
{
    static char v[256];
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name.len == strlen(name) &&
            strncasecmp(r->headers[i].name.ptr, name, strlen(name)) == 0) {
            snprintf(v, sizeof(v), "%.*s", (int)r->headers[i].value.len,
                     r->headers[i].value.ptr);
            return v;
        }
    }
    return NULL;
}

#define REQ(...) (&(t_req_t){__VA_ARGS__})

#endif
