/*
 * dp_engine_render_template: the admin API's POST /templates/render. A
 * template rendered against a sample request, as a mock's response would
 * be, with the namespace's global store readable and nothing written.
 * Kept out of template.c so the expression layer does not depend on the
 * engine.
 */
#include "engine_internal.h"
#include "expr_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dp_engine_render_template (the admin API's templates/render) -------- */

typedef struct preview_env {
    dp_engine_t *e;
    const char *ns;
} preview_env_t;

static json_t *preview_store_get(void *ud, dp_store_scope_t scope,
                                 const char *key)
{
    preview_env_t *pe = ud;
    char sc[64];
    /* a sample request belongs to no mock and no chain: only the global
     * store has something to show */
    if (key == NULL || pe->e == NULL || scope != DP_SCOPE_GLOBAL)
        return NULL;
    dp_scope_name(sc, sizeof(sc), (char)scope, NULL);
    return dp_stores_get(pe->e->stores, pe->ns, sc, key);
}

/* Read-only: the value $.increment would store, without storing it. */
static int64_t preview_store_incr(void *ud, dp_store_scope_t scope,
                                  const char *key, int64_t step)
{
    json_t *v = preview_store_get(ud, scope, key);
    int64_t cur = dp_store_counter(v, NULL);
    json_decref(v);
    return dp_i64_sat_add(cur, step, NULL);
}

/* An object of name -> string (numbers and booleans as text; an array gives
 * its first element), or NULL with err set. lower: names lower-cased and
 * values kept as arrays of strings (the headers' shape). */
static json_t *preview_params(const json_t *in, const char *field, int lower,
                              dp_err_t *err)
{
    json_t *out = json_object();
    if (out == NULL) {
        dp_err_set(err, 500, "internal", field, "out of memory");
        return NULL;
    }
    if (in == NULL || json_is_null(in))
        return out;
    if (!json_is_object(in)) {
        json_decref(out);
        dp_err_invalid(err, field, "%s must be an object", field);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        json_t *vals = json_array();
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n && vals != NULL; i++) {
            const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            json_t *s = NULL;
            if (json_is_string(x))
                s = json_string(json_string_value(x));
            else if (json_is_integer(x))
                s = json_sprintf("%" JSON_INTEGER_FORMAT,
                                 json_integer_value(x));
            else if (json_is_real(x))
                s = json_sprintf("%g", json_real_value(x));
            else if (json_is_boolean(x))
                s = json_string(json_is_true(x) ? "true" : "false");
            if (s == NULL) {
                json_decref(vals);
                json_decref(out);
                dp_err_invalid(err, field,
                               "%s.%s: expected a string, a number, a boolean "
                               "or an array of them",
                               field, k);
                return NULL;
            }
            json_array_append_new(vals, s);
        }
        char name[256];
        snprintf(name, sizeof(name), "%s", k);
        if (lower)
            for (char *p = name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        json_t *val = lower ? vals : json_incref(json_array_get(vals, 0));
        if (!lower)
            json_decref(vals);
        if (val == NULL)
            val = json_string("");
        json_object_set_new(out, name, val);
    }
    return out;
}

int dp_engine_render_template(dp_engine_t *e, const char *ns,
                              const json_t *tmpl, const json_t *request,
                              json_t **out, dp_err_t *err)
{
    *out = NULL;
    if (request != NULL && !json_is_null(request) && !json_is_object(request)) {
        dp_err_invalid(err, "request", "request must be an object");
        return -EINVAL;
    }
    static const char *const strs[] = {"method", "path"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(request, strs[i]);
        if (v != NULL && !json_is_string(v)) {
            dp_err_invalid(err, strs[i], "request.%s must be a string",
                           strs[i]);
            return -EINVAL;
        }
    }
    dp_tmpl_t *t = NULL;
    int rc = dp_tmpl_compile(tmpl, "template", &t, err);
    if (rc < 0)
        return rc;
    json_t *q = preview_params(json_object_get(request, "query"),
                               "request.query", 0, err);
    json_t *pp = q ? preview_params(json_object_get(request, "pathParams"),
                                    "request.pathParams", 0, err)
                   : NULL;
    json_t *h = pp ? preview_params(json_object_get(request, "headers"),
                                    "request.headers", 1, err)
                   : NULL;
    if (h == NULL) {
        json_decref(q);
        json_decref(pp);
        dp_tmpl_free(t);
        return -EINVAL;
    }
    uint64_t rng = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL | 1;
    preview_env_t pe = {e, ns ? ns : "sandbox"};
    dp_tmpl_env_t env = {
        .req = json_object_get(request, "body"),
        .path_params = pp,
        .query_params = q,
        .headers = h,
        .store_get = preview_store_get,
        .store_incr = preview_store_incr,
        .ud = &pe,
        .rng = &rng,
        .now = e ? dp_engine_now(e) : (int64_t)time(NULL),
        /* what the same template could send as a mock's answer */
        .max_bytes = e ? e->cfg.response_max : 0,
    };
    rc = dp_tmpl_render_ex(t, &env, out);
    json_decref(q);
    json_decref(pp);
    json_decref(h);
    dp_tmpl_free(t);
    if (rc == -EFBIG) {
        dp_err_set(err, 500, "limit_exceeded", "template",
                   "the rendered template would pass response_max (%zu "
                   "bytes)",
                   e->cfg.response_max);
        return rc;
    }
    if (rc < 0) {
        dp_err_set(err, 500, "internal", "template", "out of memory");
        return -ENOMEM;
    }
    return 0;
}
