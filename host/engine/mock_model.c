/*
 * The mock model: validation of a mock JSON object, its normalised stored
 * form (server-set fields filled in) and its compiled form (dp_mock_t).
 *
 * Every rule reports the field path at fault ("response.statusCode",
 * "oneOf.responses[1].payload.user") so that a client can point at it.
 * Compilation happens once, when a mock is stored or loaded; the request
 * path only evaluates what is compiled here.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base/base64.h"
#include "base/log.h"
#include "doppel/common.h"
#include "engine_internal.h"

const char *const dp_server_fields[] = {"createdAt", "lastUse", "expireAt",
                                        "closedAt", "useCounter", "_meta",
                                        NULL};

const char *const dp_proto_sections[] = {"http", "grpc", "graphql", "soap",
                                         "sse", "socket", "kafka",
                                         "rabbitmq", "mcp", NULL};

#define MAX_ID 128
#define MAX_NS 64 /* the admin API's namespace names */
#define MAX_PREFIX 256  /* pathPrefix */
#define MAX_SERVER 64   /* serverName, as mcp.serverName */
#define MAX_DELAY_MS 300000

void dp_uuid4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* getrandom on Linux >= 3.17 does not fail for 16 bytes; keep a
         * fallback that is still unique within the process */
        static _Atomic uint64_t ctr;
        uint64_t v = atomic_fetch_add(&ctr, 1) ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &v, 8);
        memcpy(b + 8, &v, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    out[o] = '\0';
}

void dp_mock_ref(dp_mock_t *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

static void resp_free(dp_resp_t *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    free(r->hname);
    free(r->hvalue);
    dp_tmpl_free(r->tmpl);
    free(r->body);
    dp_tmpl_free(r->xtmpl);
    free(r->extra);
}

static void mock_free(dp_mock_t *m)
{
    free(m->sec_extra);
    free(m->id);
    free(m->ns);
    free(m->chain_id);
    free(m->op);
    free(m->route_src);
    free(m->raw_body);
    dp_route_free(&m->route);
    if (m->re) {
        regfree(m->re);
        free(m->re);
    }
    for (size_t i = 0; i < m->n_conds; i++)
        dp_cond_free(m->conds[i].c);
    free(m->conds);
    for (size_t i = 0; i < m->n_resps; i++)
        resp_free(&m->resps[i]);
    free(m->resps);
    free(m->proxy_target);
    for (size_t i = 0; i < m->n_ext; i++) {
        free(m->ext[i].key);
        dp_tmpl_free(m->ext[i].t);
    }
    free(m->ext);
    free(m->server);
    if (m->pdata && m->proto && m->proto->free_data)
        m->proto->free_data(m->pdata);
    for (size_t i = 0; i < m->n_tfiles; i++)
        free(m->tfiles[i]);
    free(m->tfiles);
    dp_jtext_unref(m->json);
    free(m);
}

/* ---- refcounted JSON text ------------------------------------------------ */

typedef struct jtext {
    atomic_int refs;
    char s[];
} jtext_t;

static jtext_t *jtext_of(char *t)
{
    return (jtext_t *)(void *)(t - offsetof(jtext_t, s));
}

char *dp_jtext_dup(const char *s, size_t len)
{
    jtext_t *j = malloc(sizeof(*j) + len + 1);
    if (j == NULL)
        return NULL;
    atomic_init(&j->refs, 1);
    memcpy(j->s, s, len);
    j->s[len] = '\0';
    return j->s;
}

char *dp_jtext_take(char *malloced)
{
    if (malloced == NULL)
        return NULL;
    char *t = dp_jtext_dup(malloced, strlen(malloced));
    free(malloced);
    return t;
}

char *dp_jtext_ref(char *t)
{
    if (t != NULL)
        atomic_fetch_add(&jtext_of(t)->refs, 1);
    return t;
}

void dp_jtext_unref(char *t)
{
    if (t != NULL && atomic_fetch_sub(&jtext_of(t)->refs, 1) == 1)
        free(jtext_of(t));
}

void dp_mock_unref(dp_mock_t *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        mock_free(m);
}

/* ---- small validators --------------------------------------------------- */

/* "prefix.name" (or "name"), truncated to len - 1 bytes. */
static void join(char *buf, size_t len, const char *prefix, const char *name)
{
    size_t o = 0;
    const char *parts[3] = {prefix && prefix[0] ? prefix : "",
                            prefix && prefix[0] ? "." : "", name};
    for (int p = 0; p < 3; p++)
        for (const char *c = parts[p]; *c && o + 1 < len; c++)
            buf[o++] = *c;
    buf[o] = '\0';
}

/* Looks up template file `name` (a string at field f) of m's namespace and
 * records that m uses it. 400 naming f when the name is bad or no such
 * file exists. */
static int use_tfile(const dp_smap_t *files, dp_mock_t *m, const json_t *name,
                     const char *f, const dp_tfile_t **out, dp_err_t *err)
{
    const char *n = json_is_string(name) ? json_string_value(name) : NULL;
    if (n == NULL || !dp_tfile_name_valid(n, json_string_length(name))) {
        dp_err_invalid(err, f, "expected a template file name (1 to %d "
                               "characters of A-Z a-z 0-9 . _ -)",
                       DP_TFILE_NAME_MAX);
        return -EINVAL;
    }
    *out = dp_tfile_find(files, m->ns, n);
    if (*out == NULL) {
        dp_err_invalid(err, f, "no template file \"%s\" in namespace %s "
                               "(upload it with POST /api/v1/templates)",
                       n, m->ns);
        return -EINVAL;
    }
    for (size_t i = 0; i < m->n_tfiles; i++)
        if (strcmp(m->tfiles[i], n) == 0)
            return 0;
    char **nv = realloc(m->tfiles, (m->n_tfiles + 1) * sizeof(*nv));
    if (nv == NULL)
        goto oom;
    m->tfiles = nv;
    if ((m->tfiles[m->n_tfiles] = strdup(n)) == NULL)
        goto oom;
    m->n_tfiles++;
    return 0;
oom:
    dp_err_set(err, 500, "internal", f, "out of memory");
    return -ENOMEM;
}

/* "" and null are how the SDKs send an unset file field. */
static int tfile_field_set(const json_t *v)
{
    return v != NULL && !json_is_null(v) &&
           !(json_is_string(v) && json_string_length(v) == 0);
}

static int get_int(const json_t *o, const char *key, const char *prefix,
                   int64_t lo, int64_t hi, int64_t def, int64_t *out,
                   dp_err_t *err)
{
    char f[256];
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (v == NULL || json_is_null(v))
        return 0;
    join(f, sizeof(f), prefix, key);
    if (!json_is_integer(v)) {
        dp_err_invalid(err, f, "expected an integer");
        return -EINVAL;
    }
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        dp_err_invalid(err, f, "must be between %lld and %lld",
                       (long long)lo, (long long)hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return 1;
    return 0;
}

static int is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return 0;
    }
    return 1;
}


/* ---- responses ---------------------------------------------------------- */

static int add_header(dp_resp_t *r, const char *name, const char *value)
{
    char **hn = realloc(r->hname, (r->n_headers + 1) * sizeof(char *));
    if (hn == NULL)
        return -ENOMEM;
    r->hname = hn;
    char **hv = realloc(r->hvalue, (r->n_headers + 1) * sizeof(char *));
    if (hv == NULL)
        return -ENOMEM;
    r->hvalue = hv;
    r->hname[r->n_headers] = strdup(name);
    r->hvalue[r->n_headers] = strdup(value);
    r->n_headers++;
    if (!r->hname[r->n_headers - 1] || !r->hvalue[r->n_headers - 1])
        return -ENOMEM;
    if (strcasecmp(name, "content-type") == 0)
        r->has_ctype = 1;
    return 0;
}

static int compile_headers(const json_t *h, const char *prefix, dp_resp_t *r,
                           dp_err_t *err)
{
    char f[256];
    join(f, sizeof(f), prefix, "headers");
    if (h == NULL || json_is_null(h))
        return 0;
    if (!json_is_object(h)) {
        dp_err_invalid(err, f, "expected an object of name: value");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v)
    {
        char hf[256];
        join(hf, sizeof(hf), f, k);
        if (!is_token(k)) {
            dp_err_invalid(err, hf, "not a valid header name");
            return -EINVAL;
        }
        size_t nv = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < nv; i++) {
            const json_t *it = json_is_array(v) ? json_array_get(v, i) : v;
            char buf[64];
            const char *s;
            if (json_is_string(it))
                s = json_string_value(it);
            else if (json_is_integer(it)) {
                snprintf(buf, sizeof(buf), "%lld",
                         (long long)json_integer_value(it));
                s = buf;
            } else {
                dp_err_invalid(err, hf, "expected a string or an array of "
                                        "strings");
                return -EINVAL;
            }
            if (has_ctl(s)) {
                dp_err_invalid(err, hf, "control characters are not allowed "
                                        "in header values");
                return -EINVAL;
            }
            if (add_header(r, k, s) < 0) {
                dp_err_set(err, 500, "internal", hf, "out of memory");
                return -ENOMEM;
            }
        }
    }
    return 0;
}

/* Serialises a rendered payload into body bytes; the Content-Type default
 * follows its JSON type. */
int dp_payload_bytes(const json_t *v, char **body, size_t *len,
                     const char **ctype)
{
    if (v == NULL || json_is_null(v)) {
        *body = NULL;
        *len = 0;
        *ctype = v ? "application/json" : NULL;
        if (v) {
            *body = strdup("null");
            *len = 4;
            return *body ? 0 : -ENOMEM;
        }
        return 0;
    }
    if (json_is_string(v)) {
        *len = json_string_length(v);
        *body = malloc(*len + 1);
        if (*body == NULL)
            return -ENOMEM;
        memcpy(*body, json_string_value(v), *len);
        (*body)[*len] = '\0';
        *ctype = "text/plain; charset=utf-8";
        return 0;
    }
    *body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*body == NULL)
        return -ENOMEM;
    *len = strlen(*body);
    *ctype = "application/json";
    return 0;
}

/* The protocol's response_fields of o as one template object (rendered
 * into reply->extra), or its compact text when nothing in it varies. */
static int compile_extra(const json_t *o, const char *prefix, dp_resp_t *r,
                         dp_mock_t *m, dp_err_t *err)
{
    const char *const *fl = m->proto ? m->proto->response_fields : NULL;
    if (fl == NULL)
        return 0;
    json_t *x = json_object();
    if (x == NULL)
        goto oom;
    for (size_t i = 0; fl[i]; i++) {
        json_t *v = json_object_get(o, fl[i]);
        if (v != NULL && !json_is_null(v) && json_object_set(x, fl[i], v) < 0)
            goto oom;
    }
    if (json_object_size(x) == 0) {
        json_decref(x);
        return 0;
    }
    int rc = dp_tmpl_compile(x, prefix, &r->xtmpl, err);
    if (rc < 0) {
        json_decref(x);
        r->xtmpl = NULL;
        if (err && err->status == 0)
            dp_err_invalid(err, prefix, "invalid template");
        return rc;
    }
    if (dp_tmpl_is_static(r->xtmpl)) {
        uint64_t rng = 0x9e3779b97f4a7c15ull;
        dp_tmpl_env_t env = {0};
        env.rng = &rng;
        json_t *out = dp_tmpl_render(r->xtmpl, &env);
        r->extra = out ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        dp_tmpl_free(r->xtmpl);
        r->xtmpl = NULL;
        if (r->extra == NULL) {
            json_decref(x);
            goto oom;
        }
    } else if (dp_tmpl_needs_body(r->xtmpl)) {
        m->needs_body = 1;
    }
    json_decref(x);
    return 0;
oom:
    json_decref(x);
    dp_err_set(err, 500, "internal", prefix, "out of memory");
    return -ENOMEM;
}

/* The protocol's section_fields of sec as written (m->sec_extra): the
 * compact text of one object without its braces, NULL when sec has none
 * of them. */
static int compile_sec_extra(const json_t *sec, dp_mock_t *m, dp_err_t *err)
{
    const char *const *fl = m->proto ? m->proto->section_fields : NULL;
    if (fl == NULL || !json_is_object(sec))
        return 0;
    json_t *x = json_object();
    int failed = x == NULL;
    for (size_t i = 0; !failed && fl[i]; i++) {
        json_t *v = json_object_get(sec, fl[i]);
        if (v != NULL && !json_is_null(v))
            failed = json_object_set(x, fl[i], v) < 0;
    }
    if (!failed && json_object_size(x) == 0) {
        json_decref(x);
        return 0;
    }
    char *t = failed ? NULL : json_dumps(x, JSON_COMPACT);
    json_decref(x);
    if (t == NULL) {
        dp_err_set(err, 500, "internal", m->proto->name, "out of memory");
        return -ENOMEM;
    }
    /* "{...}" with at least one member: keep what is between the braces */
    size_t n = strlen(t);
    memmove(t, t + 1, n - 2);
    t[n - 2] = '\0';
    m->sec_extra = t;
    return 0;
}

static int compile_response(const json_t *o, const char *prefix, dp_resp_t *r,
                            const dp_smap_t *files, dp_mock_t *m,
                            dp_err_t *err)
{
    memset(r, 0, sizeof(*r));
    int rc0;
    if (!json_is_object(o)) {
        dp_err_invalid(err, prefix, "expected an object");
        return -EINVAL;
    }
    int64_t v;
    int slo, shi, sdef;
    dp_proto_status_range(m->proto, &slo, &shi, &sdef);
    if (get_int(o, "statusCode", prefix, slo, shi, sdef, &v, err) < 0)
        return -EINVAL;
    r->status = (int)v;
    if ((rc0 = compile_extra(o, prefix, r, m, err)) < 0)
        return rc0;
    if (get_int(o, "delay", prefix, 0, MAX_DELAY_MS, 0, &v, err) < 0)
        return -EINVAL;
    r->delay_ms = (uint32_t)v;
    /* isError, or mcpIsError as the mock platforms' SDKs send it */
    static const char *const err_keys[] = {"isError", "mcpIsError"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *ie = json_object_get(o, err_keys[i]);
        if (ie && !json_is_boolean(ie) && !json_is_null(ie)) {
            char f[256];
            join(f, sizeof(f), prefix, err_keys[i]);
            dp_err_invalid(err, f, "expected a boolean");
            return -EINVAL;
        }
        r->is_error |= json_is_true(ie);
    }
    int rc = compile_headers(json_object_get(o, "headers"), prefix, r, err);
    if (rc < 0)
        return rc;

    char f[256];
    const json_t *payload = json_object_get(o, "payload");
    const json_t *dec = json_object_get(o, "decode");
    /* payloadTemplatePath: the body is a template file, compiled here
     * like a payload (its JSON when it is JSON, else its text) */
    json_t *file_payload = NULL;
    const json_t *ptp = json_object_get(o, "payloadTemplatePath");
    if (tfile_field_set(ptp)) {
        join(f, sizeof(f), prefix, "payloadTemplatePath");
        if (payload != NULL && !json_is_null(payload)) {
            dp_err_invalid(err, f, "give payload or payloadTemplatePath, "
                                   "not both");
            return -EINVAL;
        }
        if (dec && !json_is_null(dec)) {
            dp_err_invalid(err, f, "decode applies to payload only");
            return -EINVAL;
        }
        const dp_tfile_t *tf = NULL;
        if ((rc = use_tfile(files, m, ptp, f, &tf, err)) < 0)
            return rc;
        if ((file_payload = dp_tfile_value(tf)) == NULL) {
            dp_err_set(err, 500, "internal", f, "out of memory");
            return -ENOMEM;
        }
        payload = file_payload;
    }
    if (dec && !json_is_null(dec)) {
        join(f, sizeof(f), prefix, "decode");
        if (!json_is_string(dec) ||
            strcmp(json_string_value(dec), "base64") != 0) {
            dp_err_invalid(err, f, "the only decoding is \"base64\"");
            return -EINVAL;
        }
        join(f, sizeof(f), prefix, "payload");
        if (!json_is_string(payload)) {
            dp_err_invalid(err, f, "decode base64 needs a base64 string");
            return -EINVAL;
        }
        unsigned char *raw = NULL;
        rc = dp_b64_decode(json_string_value(payload),
                           json_string_length(payload), &raw, &r->body_len);
        r->body = (char *)raw;
        if (rc == -EINVAL) {
            dp_err_invalid(err, f, "not valid base64");
            return rc;
        }
        if (rc < 0) {
            dp_err_set(err, 500, "internal", f, "out of memory");
            return rc;
        }
        r->ctype = "application/octet-stream";
        return 0;
    }
    if (payload == NULL)
        return 0; /* empty body */
    if (file_payload == NULL)
        join(f, sizeof(f), prefix, "payload");
    rc = dp_tmpl_compile(payload, f, &r->tmpl, err);
    json_decref(file_payload);
    if (rc < 0) {
        r->tmpl = NULL;
        if (err && err->status == 0)
            dp_err_invalid(err, f, "invalid template");
        return rc;
    }
    if (dp_tmpl_is_static(r->tmpl)) {
        /* rendered once: a static template may still hold "$$" escapes */
        uint64_t rng = 0x9e3779b97f4a7c15ull;
        dp_tmpl_env_t env = {0};
        env.rng = &rng;
        json_t *out = dp_tmpl_render(r->tmpl, &env);
        if (out == NULL) {
            dp_err_set(err, 500, "internal", f, "out of memory");
            return -ENOMEM;
        }
        rc = dp_payload_bytes(out, &r->body, &r->body_len, &r->ctype);
        json_decref(out);
        dp_tmpl_free(r->tmpl);
        r->tmpl = NULL;
        if (rc < 0) {
            dp_err_set(err, 500, "internal", f, "out of memory");
            return rc;
        }
    }
    return 0;
}

/* ---- the whole mock ----------------------------------------------------- */

/* The fields a match touches fit the first two cache lines (see dp_mock_t). */
_Static_assert(offsetof(dp_mock_t, random) + sizeof(int) <= 128,
               "the hot fields of dp_mock_t outgrew two cache lines");

static dp_mock_t *mock_new(void)
{
    size_t size = (sizeof(dp_mock_t) + 63) & ~(size_t)63;
    dp_mock_t *m = aligned_alloc(64, size);
    if (m == NULL)
        return NULL;
    memset(m, 0, size);
    atomic_init(&m->refs, 1);
    return m;
}

static int oom(dp_err_t *err)
{
    dp_err_set(err, 500, "internal", "", "out of memory");
    return -ENOMEM;
}

static int compile_reply(const json_t *o, dp_mock_t *m,
                         const dp_smap_t *files, dp_err_t *err)
{
    const json_t *resp = json_object_get(o, "response");
    const json_t *one = json_object_get(o, "oneOf");
    const json_t *proxy = json_object_get(o, "proxy");
    int n = (resp != NULL) + (one != NULL) + (proxy != NULL);
    if (n != 1) {
        dp_err_invalid(err, n ? (one ? "oneOf" : "proxy") : "response",
                       "a mock needs exactly one of response, oneOf, proxy");
        return -EINVAL;
    }
    if (resp) {
        m->kind = DP_REPLY_ONE;
        m->resps = calloc(1, sizeof(dp_resp_t));
        if (m->resps == NULL)
            return oom(err);
        m->n_resps = 1;
        return compile_response(resp, "response", &m->resps[0], files, m,
                                err);
    }
    if (proxy) {
        m->kind = DP_REPLY_PROXY;
        const json_t *t = json_object_get(proxy, "target");
        if (!json_is_object(proxy)) {
            dp_err_invalid(err, "proxy", "expected an object {target}");
            return -EINVAL;
        }
        if (!json_is_string(t) ||
            (strncmp(json_string_value(t), "http://", 7) != 0 &&
             strncmp(json_string_value(t), "https://", 8) != 0) ||
            has_ctl(json_string_value(t))) {
            dp_err_invalid(err, "proxy.target",
                           "expected an http:// or https:// URL");
            return -EINVAL;
        }
        m->proxy_target = strdup(json_string_value(t));
        return m->proxy_target ? 0 : oom(err);
    }
    m->kind = DP_REPLY_ONEOF;
    if (!json_is_object(one)) {
        dp_err_invalid(err, "oneOf", "expected an object {order, responses}");
        return -EINVAL;
    }
    const json_t *ord = json_object_get(one, "order");
    if (ord && !json_is_null(ord)) {
        const char *s = json_is_string(ord) ? json_string_value(ord) : "";
        if (strcmp(s, "random") == 0)
            m->random = 1;
        else if (strcmp(s, "order") != 0) {
            dp_err_invalid(err, "oneOf.order",
                           "expected \"order\" or \"random\"");
            return -EINVAL;
        }
    }
    const json_t *rs = json_object_get(one, "responses");
    if (!json_is_array(rs) || json_array_size(rs) == 0) {
        dp_err_invalid(err, "oneOf.responses",
                       "expected a non-empty array of responses");
        return -EINVAL;
    }
    size_t nr = json_array_size(rs);
    /* offset (the platforms' field): the response an ordered oneOf starts
     * with, counted from 0 and taken modulo the number of responses */
    int64_t offset;
    int orc = get_int(one, "offset", "oneOf", 0, INT32_MAX, 0, &offset, err);
    if (orc < 0)
        return orc;
    m->offset = (uint64_t)offset % nr;
    atomic_init(&m->cursor, m->offset);
    m->resps = calloc(nr, sizeof(dp_resp_t));
    if (m->resps == NULL)
        return oom(err);
    for (size_t i = 0; i < nr; i++) {
        char f[64];
        snprintf(f, sizeof(f), "oneOf.responses[%zu]", i);
        m->n_resps = i + 1;
        int rc = compile_response(json_array_get(rs, i), f, &m->resps[i],
                                  files, m, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The platforms' top-level fields that shape a protocol section:
 * pathPrefix (http: prepended to route or routePattern) and serverName
 * (the server of an mcp mock that names none in its section; where both
 * are given they must agree). Sets *sec to the section to compile: the
 * mock's own, or *copy (a changed copy the caller frees). The stored JSON
 * keeps what the client sent. */
/* The condition lists of a protocol section (sortArray defaults and
 * valueFromFile apply to each). */
static const char *const cond_lists[] = {"conditions", "header", "headers",
                                         "meta", "queryParams",
                                         "headerConditions", NULL};

/* Replaces valueFromFile in the conditions of *copy (made from *sec when
 * needed) with the file's value. */
static int expand_value_files(const char *name, const json_t **sec,
                              json_t **copy, const dp_smap_t *files,
                              dp_mock_t *m, dp_err_t *err)
{
    if (!json_is_object(*sec))
        return 0;
    for (size_t l = 0; cond_lists[l]; l++) {
        const json_t *arr = json_object_get(*sec, cond_lists[l]), *c;
        size_t i;
        if (!json_is_array(arr))
            continue;
        json_array_foreach(arr, i, c)
        {
            const json_t *vf =
                json_is_object(c) ? json_object_get(c, "valueFromFile") : NULL;
            if (vf == NULL)
                continue;
            char f[160];
            snprintf(f, sizeof(f), "%s.%s[%zu].valueFromFile", name,
                     cond_lists[l], i);
            json_t *val = NULL;
            if (tfile_field_set(vf)) {
                const json_t *v = json_object_get(c, "value");
                if (v != NULL && !json_is_null(v)) {
                    dp_err_invalid(err, f, "give value or valueFromFile, not "
                                           "both");
                    return -EINVAL;
                }
                const dp_tfile_t *tf = NULL;
                int rc = use_tfile(files, m, vf, f, &tf, err);
                if (rc < 0)
                    return rc;
                if ((val = dp_tfile_value(tf)) == NULL)
                    return oom(err);
            }
            if (*copy == NULL && (*copy = json_deep_copy(*sec)) == NULL) {
                json_decref(val);
                return oom(err);
            }
            *sec = *copy;
            json_t *cc = json_array_get(json_object_get(*copy, cond_lists[l]),
                                        i);
            json_object_del(cc, "valueFromFile");
            if (val)
                json_object_set_new(cc, "value", val);
        }
    }
    return 0;
}

static int effective_section(const json_t *o, const char *name,
                             const json_t **sec, json_t **copy,
                             const dp_smap_t *files, dp_mock_t *m,
                             dp_err_t *err)
{
    *copy = NULL;
    const json_t *pp = json_object_get(o, "pathPrefix");
    const json_t *sv = json_object_get(o, "serverName");
    if (pp && !json_is_null(pp)) {
        const char *p = json_is_string(pp) ? json_string_value(pp) : NULL;
        size_t l = p ? strlen(p) : 0;
        if (p == NULL || l != json_string_length(pp) || l > MAX_PREFIX ||
            (l > 0 && p[0] != '/') || strpbrk(p, "?# \t") || has_ctl(p)) {
            dp_err_invalid(err, "pathPrefix",
                           "expected a path starting with '/' (at most %d "
                           "characters, no '?', '#' or spaces)",
                           MAX_PREFIX);
            return -EINVAL;
        }
        if (strcmp(name, "http") != 0) {
            dp_err_invalid(err, "pathPrefix", "applies to http mocks only");
            return -EINVAL;
        }
        while (l > 0 && p[l - 1] == '/')
            l--; /* "/api/" + "/users" is "/api/users" */
        const json_t *route = json_object_get(*sec, "route");
        const json_t *pat = json_object_get(*sec, "routePattern");
        if (l > 0 && json_is_object(*sec) &&
            (json_is_string(route) || json_is_string(pat))) {
            if ((*copy = json_deep_copy(*sec)) == NULL)
                return oom(err);
            int is_route = json_is_string(route);
            const char *r = json_string_value(is_route ? route : pat);
            /* a pattern gets the prefix with its metacharacters escaped */
            size_t rl = strlen(r), o2 = 0;
            char *joined = malloc(2 * l + rl + 2);
            if (joined == NULL)
                return oom(err);
            for (size_t i = 0; i < l; i++) {
                if (!is_route && strchr(".[]()*+?{}|^$\\", p[i]))
                    joined[o2++] = '\\';
                joined[o2++] = p[i];
            }
            if (is_route && r[0] != '/')
                joined[o2++] = '/';
            memcpy(joined + o2, r, rl + 1);
            json_object_set_new(*copy, is_route ? "route" : "routePattern",
                                json_string(joined));
            free(joined);
            *sec = *copy;
        }
    }
    const json_t *sa = json_is_object(*sec) ? json_object_get(*sec, "sortArray")
                                            : NULL;
    if (sa && !json_is_null(sa)) {
        if (!json_is_boolean(sa)) {
            char f[64];
            snprintf(f, sizeof(f), "%s.sortArray", name);
            dp_err_invalid(err, f, "expected true or false");
            return -EINVAL;
        }
        /* the section's default for its conditions that set none */
        const char *const *lists = cond_lists;
        if (json_is_true(sa)) {
            if (*copy == NULL && (*copy = json_deep_copy(*sec)) == NULL)
                return oom(err);
            for (size_t l = 0; lists[l]; l++) {
                json_t *arr = json_object_get(*copy, lists[l]), *c;
                size_t i;
                if (json_is_array(arr))
                    json_array_foreach(arr, i, c) if (
                        json_is_object(c) &&
                        json_object_get(c, "sortArray") == NULL)
                        json_object_set_new(c, "sortArray", json_true());
            }
            *sec = *copy;
        }
    }
    if (sv && !json_is_null(sv)) {
        size_t sl = json_is_string(sv) ? json_string_length(sv) : 0;
        if (!json_is_string(sv) || strlen(json_string_value(sv)) != sl ||
            (sl > 0 &&
             !doppel_name_valid(json_string_value(sv), sl, MAX_SERVER))) {
            dp_err_invalid(err, "serverName",
                           "expected a name of at most %d characters "
                           "[A-Za-z0-9._-]",
                           MAX_SERVER);
            return -EINVAL;
        }
        const json_t *own = json_is_object(*sec)
                                ? json_object_get(*sec, "serverName")
                                : NULL;
        if (strcmp(name, "mcp") == 0 && own && !json_is_null(own) &&
            !json_equal(own, sv)) {
            dp_err_invalid(err, "serverName",
                           "differs from mcp.serverName (give one, or the "
                           "same in both)");
            return -EINVAL;
        }
        if (strcmp(name, "mcp") == 0 && (own == NULL || json_is_null(own)) &&
            json_is_object(*sec)) {
            if (*copy == NULL && (*copy = json_deep_copy(*sec)) == NULL)
                return oom(err);
            json_object_set(*copy, "serverName", (json_t *)sv);
            *sec = *copy;
        }
    }
    return expand_value_files(name, sec, copy, files, m, err);
}

static int compile_extract(const json_t *o, dp_mock_t *m, dp_err_t *err)
{
    const json_t *ex = json_object_get(o, "extract");
    if (ex == NULL || json_is_null(ex))
        return 0;
    if (!json_is_object(ex)) {
        dp_err_invalid(err, "extract", "expected an object {gStore, cStore, "
                                       "mStore, sStore}");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ex, k, v)
    {
        char scope;
        char f[256];
        join(f, sizeof(f), "extract", k);
        if (!strcmp(k, "gStore") || !strcmp(k, "gS"))
            scope = 'g';
        else if (!strcmp(k, "cStore") || !strcmp(k, "cS"))
            scope = 'c';
        else if (!strcmp(k, "mStore") || !strcmp(k, "mS"))
            scope = 'm';
        else if (!strcmp(k, "sStore") || !strcmp(k, "sS"))
            scope = 's';
        else {
            dp_err_invalid(err, f, "unknown store (gStore, cStore, mStore, "
                                   "sStore)");
            return -EINVAL;
        }
        if (!json_is_object(v)) {
            dp_err_invalid(err, f, "expected an object of key: template");
            return -EINVAL;
        }
        if (scope == 'c' && m->chain_id == NULL) {
            dp_err_invalid(err, f, "the chain store needs a chainId");
            return -EINVAL;
        }
        const char *kk;
        json_t *tv;
        json_object_foreach(v, kk, tv)
        {
            char tf[256];
            join(tf, sizeof(tf), f, kk);
            if (kk[0] == '\0') {
                dp_err_invalid(err, tf, "empty store key");
                return -EINVAL;
            }
            dp_extract_t *ne = realloc(m->ext, (m->n_ext + 1) * sizeof(*ne));
            if (ne == NULL)
                return oom(err);
            m->ext = ne;
            dp_extract_t *x = &m->ext[m->n_ext];
            memset(x, 0, sizeof(*x));
            x->scope = scope;
            x->key = strdup(kk);
            m->n_ext++;
            if (x->key == NULL)
                return oom(err);
            int rc = dp_tmpl_compile(tv, tf, &x->t, err);
            if (rc < 0) {
                x->t = NULL;
                return rc;
            }
            if (dp_tmpl_needs_body(x->t))
                m->needs_body = 1;
        }
    }
    return 0;
}

static int str_field(const json_t *o, const char *key, int required,
                     size_t maxlen, const char **out, dp_err_t *err)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            dp_err_invalid(err, key, "required");
            return -EINVAL;
        }
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > maxlen ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        has_ctl(json_string_value(v))) {
        dp_err_invalid(err, key, "expected a non-empty string of at most %zu "
                                 "characters",
                       maxlen);
        return -EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}

static int64_t int_or(const json_t *o, const char *key, int64_t def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* Members of a mock that are not a protocol section, whatever their
 * value (a dormant mock's unknown section is told apart from them). */
static const char *const not_sections[] = {
    "response", "oneOf", "proxy", "extract", "mStore", "webhooks", "_meta",
    NULL};

static int is_word_name(const char *k)
{
    if (!(k[0] >= 'a' && k[0] <= 'z'))
        return 0;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

/* The one object member of o that can be the section of a plugin that is
 * not loaded, or NULL when none or several could. */
static const char *unknown_section(const json_t *o)
{
    const char *found = NULL, *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_object(v) || !is_word_name(k))
            continue;
        int skip = 0;
        for (size_t i = 0; not_sections[i] && !skip; i++)
            skip = strcmp(k, not_sections[i]) == 0;
        if (skip)
            continue;
        if (found)
            return NULL;
        found = k;
    }
    return found;
}

/* The placeholder of a dormant mock of a section no build knows: freed
 * with the mock (its free_data frees itself). */
static void dormant_free(void *p)
{
    dp_proto_t *d = p;
    free((char *)d->name);
    free(d);
}

static const dp_proto_t *dormant_new(const char *name, dp_mock_t *m)
{
    dp_proto_t *d = calloc(1, sizeof(*d));
    char *n = strdup(name);
    const dp_proto_t *tmpl = dp_proto_dormant("http");
    if (d == NULL || n == NULL || tmpl == NULL) {
        free(d);
        free(n);
        return NULL;
    }
    *d = *tmpl;
    d->name = n;
    d->free_data = dormant_free;
    m->pdata = d;
    return d;
}

static int is_known_section(const char *name)
{
    for (size_t k = 0; dp_proto_sections[k]; k++)
        if (strcmp(dp_proto_sections[k], name) == 0)
            return 1;
    return 0;
}

static int one_section(const json_t *o, const char *name, const char **sec,
                       dp_err_t *err)
{
    if (json_object_get(o, name) == NULL)
        return 0;
    if (*sec) {
        dp_err_invalid(err, name,
                       "a mock has exactly one protocol section (found %s "
                       "and %s)",
                       *sec, name);
        return -EINVAL;
    }
    *sec = name;
    return 0;
}

/* The mock's protocol section: exactly one of the known names and the
 * names plugins registered. *out NULL: none. */
static int find_section(const dp_protos_t *reg, const json_t *o,
                        const char **out, dp_err_t *err)
{
    *out = NULL;
    for (size_t i = 0; dp_proto_sections[i]; i++)
        if (one_section(o, dp_proto_sections[i], out, err) < 0)
            return -EINVAL;
    for (size_t i = 0; reg && i < reg->n; i++)
        if (!is_known_section(reg->v[i]->name) &&
            one_section(o, reg->v[i]->name, out, err) < 0)
            return -EINVAL;
    return 0;
}

int dp_model_compile_stored(const dp_protos_t *reg, json_t *o,
                            const dp_smap_t *files, unsigned flags,
                            dp_mock_t **out, dp_err_t *err)
{
    *out = NULL;
    if (!json_is_object(o)) {
        dp_err_invalid(err, "", "a mock is a JSON object");
        return -EINVAL;
    }
    dp_mock_t *m = mock_new();
    if (m == NULL)
        return oom(err);
    int rc;
    const char *s;
    int64_t v;
    if ((rc = str_field(o, "id", 1, MAX_ID, &s, err)) < 0)
        goto fail;
    m->id = strdup(s);
    if ((rc = str_field(o, "namespace", 1, MAX_ID, &s, err)) < 0)
        goto fail;
    m->ns = strdup(s);
    /* chainId "" (the SDKs' zero value) is no chain */
    const json_t *cid = json_object_get(o, "chainId");
    if (json_is_string(cid) && json_string_length(cid) == 0)
        s = NULL;
    else if ((rc = str_field(o, "chainId", 0, MAX_ID, &s, err)) < 0)
        goto fail;
    if (s)
        m->chain_id = strdup(s);
    if (!m->id || !m->ns || (s && !m->chain_id)) {
        rc = oom(err);
        goto fail;
    }
    if ((rc = get_int(o, "priority", "", INT32_MIN, INT32_MAX, 0, &v, err)) < 0)
        goto fail;
    m->priority = v;
    /* 0 is "no limit" for both, as the platforms' SDKs send it */
    if ((rc = get_int(o, "ttl", "", 0, INT32_MAX, 0, &v, err)) < 0)
        goto fail;
    int64_t ttl = v;
    if ((rc = get_int(o, "useLimiter", "", 0, INT64_MAX, 0, &v, err)) < 0)
        goto fail;
    m->use_limit = v;
    const json_t *tags = json_object_get(o, "tags");
    if (tags && !json_is_null(tags)) {
        size_t i;
        json_t *t;
        int ok = json_is_array(tags);
        if (ok)
            json_array_foreach(tags, i, t) if (!json_is_string(t)) ok = 0;
        if (!ok) {
            dp_err_invalid(err, "tags", "expected an array of strings");
            rc = -EINVAL;
            goto fail;
        }
    }
    const json_t *wh = json_object_get(o, "webhooks");
    if (wh && !json_is_null(wh) && !json_is_array(wh) && !json_is_object(wh)) {
        dp_err_invalid(err, "webhooks", "expected an array or an object");
        rc = -EINVAL;
        goto fail;
    }
    const json_t *ms = json_object_get(o, "mStore");
    if (ms && !json_is_null(ms) && !json_is_object(ms)) {
        dp_err_invalid(err, "mStore", "expected an object (the initial mock "
                                      "store)");
        rc = -EINVAL;
        goto fail;
    }

    /* exactly one protocol section */
    const char *sec = NULL;
    if ((rc = find_section(reg, o, &sec, err)) < 0)
        goto fail;
    int dormant = 0;
    if (sec == NULL && (flags & DP_COMPILE_DORMANT) &&
        (sec = unknown_section(o)) != NULL) {
        dormant = 1; /* the section of a plugin that is not loaded */
        if (dormant_new(sec, m) == NULL) {
            rc = oom(err);
            goto fail;
        }
        m->proto = m->pdata;
    }
    if (sec == NULL) {
        dp_err_invalid(err, "http", "a mock needs one protocol section "
                                    "(http, grpc, graphql, soap, sse, socket, "
                                    "kafka, rabbitmq, mcp, or one a plugin "
                                    "adds)");
        rc = -EINVAL;
        goto fail;
    }
    if (!dormant)
        m->proto = dp_protos_find(reg, sec, strlen(sec));
    if (m->proto == NULL && (flags & DP_COMPILE_DORMANT)) {
        dormant = 1;
        m->proto = dp_proto_dormant(sec);
    }
    if (m->proto == NULL) {
        dp_err_invalid(err, sec, "protocol %s is not enabled: enable [%s] in "
                                 "plugins.conf",
                       sec, sec);
        rc = -EINVAL;
        goto fail;
    }
    if (!dormant && m->proto->prepare) {
        /* a registered section: the plugin checks it (and may normalise
         * it: the stored mock keeps the normalised section) */
        rc = m->proto->prepare(m->proto, o, m, err);
        if (rc < 0 && rc != -ENOMEM && (flags & DP_COMPILE_KEEP_REFUSED)) {
            dp_warn("engine", "stored %s mock %s: the plugin refuses it "
                              "(%s: %s); kept, not served",
                    sec, m->id, err->field, err->message);
            memset(err, 0, sizeof(*err));
            free(m->op);
            m->op = NULL;
            dormant = 1;
            rc = 0;
        }
        if (rc < 0)
            goto fail;
    }
    if (dormant) {
        /* listed and managed, never matched: nothing else is compiled */
        m->dormant = 1;
        m->kind = DP_REPLY_ONE;
        goto done;
    }
    const json_t *secv = json_object_get(o, sec);
    json_t *sec_copy = NULL;
    rc = effective_section(o, sec, &secv, &sec_copy, files, m, err);
    if (rc == 0)
        rc = m->proto->compile(m->proto, secv, sec, m, err);
    if (rc == 0)
        rc = compile_sec_extra(secv, m, err);
    json_decref(sec_copy);
    if (rc < 0)
        goto fail;
    if ((rc = compile_reply(o, m, files, err)) < 0)
        goto fail;
    if (m->kind == DP_REPLY_PROXY && (m->proto->flags & DP_PROTO_F_NO_PROXY)) {
        dp_err_invalid(err, "proxy", "proxy answers are not supported for %s "
                                     "mocks (use response or oneOf)",
                       sec);
        rc = -EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < m->n_resps; i++)
        if (m->resps[i].tmpl && dp_tmpl_needs_body(m->resps[i].tmpl))
            m->needs_body = 1;
    if ((rc = compile_extract(o, m, err)) < 0)
        goto fail;

done:
    m->created_at = int_or(o, "createdAt", 0);
    m->expire_at = ttl ? dp_i64_sat_add(m->created_at, ttl, NULL) : 0;
    atomic_init(&m->use_counter, int_or(o, "useCounter", 0));
    atomic_init(&m->last_use, int_or(o, "lastUse", 0));
    atomic_init(&m->closed_at, int_or(o, "closedAt", 0));
    m->json = dp_jtext_take(json_dumps(o, JSON_COMPACT));
    if (m->json == NULL) {
        rc = oom(err);
        goto fail;
    }
    *out = m;
    return 0;
fail:
    dp_mock_unref(m);
    return rc;
}

int dp_model_compile(const dp_protos_t *reg, const json_t *mock,
                     const char *ns, const json_t *keep, int64_t now,
                     const dp_smap_t *files, json_t **norm, dp_mock_t **out,
                     dp_err_t *err)
{
    *norm = NULL;
    *out = NULL;
    if (!json_is_object(mock)) {
        dp_err_invalid(err, "", "a mock is a JSON object");
        return -EINVAL;
    }
    json_t *o = json_deep_copy(mock);
    if (o == NULL)
        return oom(err);
    for (size_t i = 0; dp_server_fields[i]; i++)
        json_object_del(o, dp_server_fields[i]);
    if (keep) {
        json_object_set(o, "id", json_object_get(keep, "id"));
        static const char *const carry[] = {"createdAt", "lastUse", "closedAt",
                                            "useCounter", NULL};
        for (size_t i = 0; carry[i]; i++) {
            json_t *v = json_object_get(keep, carry[i]);
            if (v)
                json_object_set(o, carry[i], v);
        }
    } else {
        json_t *id = json_object_get(o, "id");
        /* "" is how the platforms' SDKs send "no id": generate one */
        if (id == NULL || json_is_null(id) ||
            (json_is_string(id) && json_string_length(id) == 0)) {
            char u[37];
            dp_uuid4(u);
            json_object_set_new(o, "id", json_string(u));
        }
        json_object_set_new(o, "createdAt", json_integer(now));
        json_object_set_new(o, "lastUse", json_null());
        json_object_set_new(o, "closedAt", json_null());
        json_object_set_new(o, "useCounter", json_integer(0));
    }
    json_t *nsv = json_object_get(o, "namespace");
    if (nsv == NULL || json_is_null(nsv))
        json_object_set_new(o, "namespace",
                            json_string(ns && ns[0] ? ns : "sandbox"));
    /* The one name rule of namespaces (the admin API's, the HTTP plugin's):
     * a name that the API could not address, or that reads as a path,
     * never gets stored, whether it came with a create, a batch item, a
     * patch or a recording. Mocks loaded from storage are not re-checked. */
    nsv = json_object_get(o, "namespace");
    if (json_is_string(nsv) &&
        !doppel_name_valid(json_string_value(nsv), json_string_length(nsv),
                           MAX_NS)) {
        json_decref(o);
        dp_err_invalid(err, "namespace",
                       "expected 1 to %d characters of A-Z a-z 0-9 . _ -",
                       MAX_NS);
        return -EINVAL;
    }
    /* expireAt before compiling, so the stored text is dumped once; an
     * invalid ttl is reported by the compiler */
    const json_t *ttl = json_object_get(o, "ttl");
    const json_t *ca = json_object_get(o, "createdAt");
    if (json_is_integer(ttl) && json_integer_value(ttl) > 0 &&
        json_integer_value(ttl) <= INT32_MAX && json_is_integer(ca))
        json_object_set_new(o, "expireAt",
                            json_integer(dp_i64_sat_add(
                                json_integer_value(ca),
                                json_integer_value(ttl), NULL)));
    else
        json_object_set_new(o, "expireAt", json_null());
    int rc = dp_model_compile_stored(reg, o, files, 0, out, err);
    if (rc < 0) {
        json_decref(o);
        return rc;
    }
    *norm = o;
    return 0;
}
