/* Shared fixture of the expression fuzz targets: a request, headers,
 * parameters and a tiny in-memory store, all built once. */
#ifndef DP_FUZZ_ENV_H
#define DP_FUZZ_ENV_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "expr.h"

static json_t *fuzz_req, *fuzz_path, *fuzz_query, *fuzz_headers, *fuzz_store;

static json_t *fuzz_store_get(void *ud, dp_store_scope_t scope,
                              const char *key)
{
    (void)ud;
    (void)scope;
    return json_incref(json_object_get(fuzz_store, key));
}

static int64_t fuzz_store_incr(void *ud, dp_store_scope_t scope,
                               const char *key, int64_t step)
{
    (void)ud;
    (void)scope;
    /* Wraps instead of overflowing; keys stay few so memory stays flat. */
    const char *k = strlen(key) < 4 ? key : "long";
    json_t *cur = json_object_get(fuzz_store, k);
    uint64_t v = (uint64_t)json_integer_value(cur) + (uint64_t)step;
    json_object_set_new(fuzz_store, k, json_integer((json_int_t)v));
    return (int64_t)v;
}

static void fuzz_env_init(dp_tmpl_env_t *env, uint64_t *rng)
{
    if (fuzz_req == NULL) {
        fuzz_req = json_loads(
            "{\"name\": \"Bob\", \"age\": 42, \"user\": {\"id\": 7, "
            "\"roles\": [\"a\", \"b\"]}, \"items\": [{\"sku\": \"A1\"}], "
            "\"x.y\": 1, \"n\": null, \"b64\": \"eyJhIjpbMiwxXX0=\", "
            "\"f\": 1.5, \"t\": true}", 0, NULL);
        fuzz_path = json_loads("{\"id\": \"123\"}", 0, NULL);
        fuzz_query = json_loads("{\"q\": \"shoes\", \"a.b\": \"c\"}", 0,
                                NULL);
        fuzz_headers = json_loads("{\"x-api-key\": [\"k1\", \"k2\"], "
                                  "\"accept\": [\"*/*\"]}", 0, NULL);
        fuzz_store = json_loads("{\"k\": \"v\", \"count\": 5, \"user\": "
                                "{\"name\": \"Ann\"}}", 0, NULL);
    }
    memset(env, 0, sizeof(*env));
    env->req = fuzz_req;
    env->path_params = fuzz_path;
    env->query_params = fuzz_query;
    env->headers = fuzz_headers;
    env->store_get = fuzz_store_get;
    env->store_incr = fuzz_store_incr;
    env->rng = rng;
    env->now = 1700000000;
}

#endif
