/*
 * The "http" protocol handler: compiles a mock's http section into the
 * protocol-neutral target (operation, route or regex, conditions) and serves
 * the documents its conditions read (shared by every handler). The handlers
 * themselves are listed by the registry (proto_registry.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "engine_internal.h"

/* ---- request documents (shared by handlers) ---------------------------- */

const json_t *dp_reqctx_body(dp_reqctx_t *rc)
{
    if (!rc->body_tried) {
        rc->body_tried = 1;
        if (rc->x->body && rc->x->body_len > 0)
            rc->body = json_loadb((const char *)rc->x->body, rc->x->body_len,
                                  JSON_DECODE_ANY, NULL);
    }
    return rc->body;
}

/* Length of the UTF-8 sequence at p (at most n bytes), 0 if none starts
 * there (RFC 3629: no overlong form, no surrogate, nothing past
 * U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

json_t *dp_json_lossy(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)(p ? p : "");
    size_t i = 0, bad = 0;
    while (i < n) {
        size_t l = utf8_len(s + i, n - i);
        bad += l == 0;
        i += l ? l : 1;
    }
    if (bad == 0)
        return json_stringn_nocheck((const char *)s, n);
    char *o = malloc(n + 2 * bad + 1);
    if (o == NULL)
        return NULL;
    size_t k = 0;
    for (i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 0) {
            memcpy(o + k, "\xEF\xBF\xBD", 3); /* U+FFFD */
            k += 3;
            i++;
        } else {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        }
    }
    json_t *v = json_stringn_nocheck(o, k);
    free(o);
    return v;
}

static char *lower_dup(doppel_str_t s)
{
    char *o = malloc(s.len + 1);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < s.len; i++)
        o[i] = (char)tolower((unsigned char)s.ptr[i]);
    o[s.len] = '\0';
    return o;
}

static void build_headers(dp_reqctx_t *rc)
{
    rc->hdr_first = json_object();
    rc->hdr_all = json_object();
    if (!rc->hdr_first || !rc->hdr_all)
        return;
    for (size_t i = 0; i < rc->x->n_metadata; i++) {
        const doppel_kv_t *kv = &rc->x->metadata[i];
        char *name = lower_dup(kv->name);
        if (name == NULL || memchr(kv->name.ptr, 0, kv->name.len)) {
            free(name);
            continue;
        }
        json_t *val = dp_json_lossy(kv->value.ptr, kv->value.len);
        if (json_object_get(rc->hdr_first, name) == NULL)
            json_object_set(rc->hdr_first, name, val);
        json_t *arr = json_object_get(rc->hdr_all, name);
        if (arr == NULL) {
            arr = json_array();
            json_object_set_new(rc->hdr_all, name, arr);
        }
        json_array_append(arr, val);
        json_decref(val);
        free(name);
    }
}

const json_t *dp_reqctx_headers_first(dp_reqctx_t *rc)
{
    if (rc->hdr_first == NULL)
        build_headers(rc);
    return rc->hdr_first;
}

const json_t *dp_reqctx_headers_all(dp_reqctx_t *rc)
{
    if (rc->hdr_all == NULL)
        build_headers(rc);
    return rc->hdr_all;
}

const json_t *dp_reqctx_query(dp_reqctx_t *rc)
{
    if (rc->query == NULL) {
        rc->query = json_object();
        for (size_t i = 0; rc->query && i < rc->x->n_params; i++) {
            const doppel_kv_t *kv = &rc->x->params[i];
            if (kv->name.ptr == NULL || memchr(kv->name.ptr, 0, kv->name.len))
                continue;
            char *name = strndup(kv->name.ptr, kv->name.len);
            if (name && json_object_get(rc->query, name) == NULL)
                json_object_set_new(
                    rc->query, name,
                    dp_json_lossy(kv->value.ptr, kv->value.len));
            free(name);
        }
    }
    return rc->query;
}

/* Every value: a repeated name keeps its values in arrival order, so
 * a=1&a=2, a=2&a=1 and a=1&a=3 are three different queries. */
const json_t *dp_reqctx_query_all(dp_reqctx_t *rc)
{
    if (rc->query_all != NULL)
        return rc->query_all;
    rc->query_all = json_object();
    for (size_t i = 0; rc->query_all && i < rc->x->n_params; i++) {
        const doppel_kv_t *kv = &rc->x->params[i];
        if (kv->name.ptr == NULL || memchr(kv->name.ptr, 0, kv->name.len))
            continue;
        char *name = strndup(kv->name.ptr, kv->name.len);
        json_t *val = dp_json_lossy(kv->value.ptr, kv->value.len);
        if (name && val)
            dp_query_add(rc->query_all, name, val);
        json_decref(val);
        free(name);
    }
    return rc->query_all;
}

void dp_query_add(json_t *q, const char *name, json_t *val)
{
    json_t *had = json_object_get(q, name);
    if (had == NULL) {
        json_object_set(q, name, val);
    } else if (json_is_array(had)) {
        json_array_append(had, val);
    } else {
        json_t *arr = json_array();
        if (arr && json_array_append(arr, had) == 0 &&
            json_array_append(arr, val) == 0)
            json_object_set_new(q, name, arr);
        else
            json_decref(arr);
    }
}

const json_t *dp_reqctx_session(dp_reqctx_t *rc)
{
    if (rc->sess_doc == NULL) {
        json_t *d = rc->sess ? dp_session_doc(rc->sess) : json_null();
        rc->sess_doc = json_pack("{s:o}", "session", d ? d : json_null());
    }
    return rc->sess_doc;
}

void dp_reqctx_free(dp_reqctx_t *rc)
{
    json_decref(rc->sess_doc);
    json_decref(rc->body);
    json_decref(rc->hdr_first);
    json_decref(rc->hdr_all);
    json_decref(rc->query);
    json_decref(rc->query_all);
}

/* ---- http section -------------------------------------------------------- */

static int add_cond(dp_mock_t *m, const json_t *spec, dp_cond_target_t where,
                    const char *field, dp_err_t *err)
{
    dp_mcond_t *nc = realloc(m->conds, (m->n_conds + 1) * sizeof(*nc));
    if (nc == NULL) {
        dp_err_set(err, 500, "internal", field, "out of memory");
        return -ENOMEM;
    }
    m->conds = nc;
    dp_cond_t *c = NULL;
    int rc = dp_cond_compile(spec, where, field, &c, err);
    if (rc < 0)
        return rc;
    m->conds[m->n_conds].c = c;
    /* queryParams "$" compares the whole query, every value of it;
     * "$.session.count", "$.session.store.k": the engine session's state */
    const char *path = json_string_value(json_object_get(spec, "path"));
    dp_cond_target_t w = where;
    if (where == DP_COND_QUERY && path && strcmp(path, "$") == 0)
        w = DP_COND_QUERY_ALL;
    else if (where == DP_COND_BODY && path &&
             strncmp(path, "$.session.", 10) == 0)
        w = DP_COND_SESSION;
    m->conds[m->n_conds++].where = w;
    if (w == DP_COND_SESSION)
        return 0;
    if (where == DP_COND_BODY)
        m->needs_body = 1;
    else if (where == DP_COND_HEADER)
        m->needs_headers = 1;
    else
        m->needs_query = 1;
    return 0;
}

/* An array of condition specs, or (header, queryParams) an object of
 * name: value meaning equals. */
static int compile_conds(const json_t *v, dp_cond_target_t where,
                         const char *field, int allow_object, dp_mock_t *m,
                         dp_err_t *err)
{
    char f[256];
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *spec;
        json_array_foreach(v, i, spec)
        {
            snprintf(f, sizeof(f), "%s[%zu]", field, i);
            int rc = add_cond(m, spec, where, f, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (allow_object && json_is_object(v)) {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val)
        {
            snprintf(f, sizeof(f), "%s.%s", field, k);
            json_t *spec = json_pack("{s:s, s:s, s:O}", "path", k,
                                     "assertAction", "equals", "value", val);
            if (spec == NULL) {
                dp_err_set(err, 500, "internal", f, "out of memory");
                return -ENOMEM;
            }
            int rc = add_cond(m, spec, where, f, err);
            json_decref(spec);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    dp_err_invalid(err, field,
                   allow_object ? "expected an array of conditions or an "
                                  "object of name: value"
                                : "expected an array of conditions");
    return -EINVAL;
}

/* "rawBody": {"text": "..."} or {"base64": "..."}: the request body must
 * be exactly these bytes (what a recording keys a non-JSON body on). */
static int compile_raw_body(const json_t *v, const char *field, dp_mock_t *m,
                            dp_err_t *err)
{
    char f[256];
    snprintf(f, sizeof(f), "%s.rawBody", field);
    if (v == NULL || json_is_null(v))
        return 0;
    const json_t *t = json_object_get(v, "text");
    const json_t *b = json_object_get(v, "base64");
    if (!json_is_object(v) || json_object_size(v) != 1 ||
        !(json_is_string(t) || json_is_string(b))) {
        dp_err_invalid(err, f,
                       "expected {\"text\": string} or "
                       "{\"base64\": string}");
        return -EINVAL;
    }
    if (t) {
        m->raw_body_len = json_string_length(t);
        m->raw_body = malloc(m->raw_body_len + 1);
        if (m->raw_body)
            memcpy(m->raw_body, json_string_value(t), m->raw_body_len + 1);
    } else {
        unsigned char *raw = NULL;
        int rc = dp_b64_decode(json_string_value(b), json_string_length(b),
                               &raw, &m->raw_body_len);
        if (rc == -EINVAL) {
            snprintf(f, sizeof(f), "%s.rawBody.base64", field);
            dp_err_invalid(err, f, "not valid base64");
            return rc;
        }
        m->raw_body = (char *)raw;
        if (raw == NULL && m->raw_body_len == 0)
            m->raw_body = calloc(1, 1);
    }
    if (m->raw_body == NULL) {
        dp_err_set(err, 500, "internal", f, "out of memory");
        return -ENOMEM;
    }
    m->has_raw_body = 1;
    return 0;
}

int dp_proto_conds(const json_t *v, dp_cond_target_t where,
                   const char *field, dp_mock_t *m, dp_err_t *err)
{
    return compile_conds(v, where, field, 0, m, err);
}

int dp_proto_conds_obj(const json_t *v, dp_cond_target_t where,
                       const char *field, dp_mock_t *m, dp_err_t *err)
{
    return compile_conds(v, where, field, 1, m, err);
}

static int http_compile(const dp_proto_t *self, const json_t *sec,
                        const char *field, dp_mock_t *m, dp_err_t *err)
{
    (void)self;
    char f[256], why[160];
    if (!json_is_object(sec)) {
        dp_err_invalid(err, field, "expected an object");
        return -EINVAL;
    }
    const json_t *route = json_object_get(sec, "route");
    const json_t *pat = json_object_get(sec, "routePattern");
    if (json_is_null(route))
        route = NULL;
    if (json_is_null(pat))
        pat = NULL;
    snprintf(f, sizeof(f), "%s.route", field);
    if (route && pat) {
        dp_err_invalid(err, f, "give route or routePattern, not both");
        return -EINVAL;
    }
    if (!route && !pat) {
        dp_err_invalid(err, f, "required (or routePattern)");
        return -EINVAL;
    }
    const json_t *lit = json_object_get(sec, "routeLiteral");
    if (lit && !json_is_null(lit) && !json_is_boolean(lit)) {
        snprintf(f, sizeof(f), "%s.routeLiteral", field);
        dp_err_invalid(err, f, "expected true or false");
        return -EINVAL;
    }
    if (json_is_true(lit) && pat) {
        snprintf(f, sizeof(f), "%s.routeLiteral", field);
        dp_err_invalid(err, f, "applies to route, not routePattern");
        return -EINVAL;
    }
    if (route) {
        if (!json_is_string(route) ||
            strlen(json_string_value(route)) != json_string_length(route)) {
            dp_err_invalid(err, f, "expected a string starting with '/'");
            return -EINVAL;
        }
        int rc = json_is_true(lit)
                     ? dp_route_parse_literal(json_string_value(route),
                                              &m->route, why, sizeof(why))
                     : dp_route_parse(json_string_value(route), &m->route, why,
                                      sizeof(why));
        if (rc == -EINVAL) {
            dp_err_invalid(err, f, "%s", why);
            return rc;
        }
        if (rc < 0) {
            dp_err_set(err, 500, "internal", f, "out of memory");
            return rc;
        }
        m->route_src = strdup(json_string_value(route));
    } else {
        snprintf(f, sizeof(f), "%s.routePattern", field);
        if (!json_is_string(pat) || json_string_length(pat) == 0 ||
            strlen(json_string_value(pat)) != json_string_length(pat)) {
            dp_err_invalid(err, f, "expected a regular expression");
            return -EINVAL;
        }
        const char *src = json_string_value(pat);
        const char *cost = dp_regex_too_costly(src);
        if (cost) {
            dp_err_invalid(err, f, "regular expression too costly: %s", cost);
            return -EINVAL;
        }
        size_t l = strlen(src);
        char *anch = malloc(l + 5);
        m->re = calloc(1, sizeof(regex_t));
        if (!anch || !m->re) {
            free(anch);
            dp_err_set(err, 500, "internal", f, "out of memory");
            return -ENOMEM;
        }
        /* anchored: the pattern must match the whole path */
        snprintf(anch, l + 5, "^(%s)$", src);
        int rc = regcomp(m->re, anch, REG_EXTENDED | REG_NOSUB);
        free(anch);
        if (rc != 0) {
            regerror(rc, m->re, why, sizeof(why));
            free(m->re);
            m->re = NULL;
            dp_err_invalid(err, f, "invalid regular expression: %s", why);
            return -EINVAL;
        }
        m->route_src = strdup(src);
    }
    if (m->route_src == NULL) {
        dp_err_set(err, 500, "internal", f, "out of memory");
        return -ENOMEM;
    }

    const json_t *meth = json_object_get(sec, "httpMethod");
    if (meth && !json_is_null(meth)) {
        snprintf(f, sizeof(f), "%s.httpMethod", field);
        const char *s = json_is_string(meth) ? json_string_value(meth) : "";
        size_t l = strlen(s);
        int ok = l > 0 && l <= 32;
        for (size_t i = 0; ok && i < l; i++)
            ok = isalpha((unsigned char)s[i]) || s[i] == '-' || s[i] == '_';
        if (strcmp(s, "*") == 0 || strcasecmp(s, "ANY") == 0) {
            ok = 1; /* any method */
        } else if (ok) {
            m->op = strdup(s);
            if (m->op == NULL) {
                dp_err_set(err, 500, "internal", f, "out of memory");
                return -ENOMEM;
            }
            for (char *p = m->op; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        }
        if (!ok) {
            dp_err_invalid(err, f, "expected an HTTP method such as GET");
            return -EINVAL;
        }
    }
    int rc;
    if ((rc = compile_raw_body(json_object_get(sec, "rawBody"), field, m,
                               err)) < 0)
        return rc;
    snprintf(f, sizeof(f), "%s.conditions", field);
    if ((rc = compile_conds(json_object_get(sec, "conditions"), DP_COND_BODY,
                            f, 0, m, err)) < 0)
        return rc;
    snprintf(f, sizeof(f), "%s.header", field);
    if ((rc = compile_conds(json_object_get(sec, "header"), DP_COND_HEADER, f,
                            1, m, err)) < 0)
        return rc;
    snprintf(f, sizeof(f), "%s.queryParams", field);
    if ((rc = compile_conds(json_object_get(sec, "queryParams"),
                            DP_COND_QUERY, f, 1, m, err)) < 0)
        return rc;
    return 0;
}

const json_t *dp_reqctx_doc(dp_reqctx_t *rc, dp_cond_target_t where)
{
    switch (where) {
    case DP_COND_BODY:
        return dp_reqctx_body(rc);
    case DP_COND_HEADER:
        return dp_reqctx_headers_first(rc);
    case DP_COND_QUERY:
        return dp_reqctx_query(rc);
    case DP_COND_QUERY_ALL:
        return dp_reqctx_query_all(rc);
    case DP_COND_SESSION:
        return dp_reqctx_session(rc);
    }
    return NULL;
}

const dp_proto_t dp_proto_http = {
    .name = "http",
    .compile = http_compile,
    .doc = dp_reqctx_doc,
    .slot = 0,
};
