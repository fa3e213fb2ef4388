/*
 * Record and replay, the configuration half: modes, services (named
 * upstreams of a namespace), their immutable snapshot for the request path,
 * the credential header list, and the coverage miss table.
 *
 * Writers (the admin API) change e->rr_conf under the engine's writer mutex
 * in one order: validate (no side effect) -> build the new configuration and
 * its snapshot -> persist the settings row -> swap both in, the old snapshot
 * freed after every reader that may hold it has left. A refused or failed
 * change leaves everything as it was. dp_engine_match reads the snapshot
 * inside its index reader section and never waits on a writer.
 * Reference: docs/record-replay.md.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "engine_internal.h"

#define LOGC "engine"
#define SVC_NAME_MAX 64
#define TARGET_MAX 2048
#define PREFIX_MAX 256
#define RECORD_HEADERS_MAX 32
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_TIMEOUT_MS 600000

/* ---- modes ----------------------------------------------------------------
 */

static const char *const mode_names[] = {NULL, "PASSTHROUGH", "LEARN", "MOCK",
                                         "SPY"};

const char *dp_mode_name(int mode)
{
    if (mode <= DP_MODE_NONE || mode > DP_MODE_SPY)
        return NULL;
    return mode_names[mode];
}

int dp_mode_parse(const char *s)
{
    if (s == NULL)
        return 0;
    for (int m = DP_MODE_PASSTHROUGH; m <= DP_MODE_SPY; m++)
        if (strcasecmp(s, mode_names[m]) == 0)
            return m;
    return 0;
}

static int default_mode(const dp_engine_t *e)
{
    return e->cfg.default_mode ? e->cfg.default_mode : DP_MODE_SPY;
}

static const char *ns_or_sandbox(const char *ns)
{
    return ns && ns[0] ? ns : "sandbox";
}

/* ---- credential headers -----------------------------------------------------
 */

static const char *const builtin_redacted[] = {
    "authorization", "proxy-authorization", "cookie",
    "set-cookie",    "x-api-key",           NULL};

int dp_engine_header_redacted(const dp_engine_t *e, const char *name,
                              size_t len)
{
    for (size_t i = 0; builtin_redacted[i]; i++)
        if (strlen(builtin_redacted[i]) == len &&
            strncasecmp(builtin_redacted[i], name, len) == 0)
            return 1;
    for (size_t i = 0; e && i < e->n_redact; i++)
        if (strlen(e->redact[i]) == len &&
            strncasecmp(e->redact[i], name, len) == 0)
            return 1;
    return 0;
}

/* ---- the snapshot
 * ------------------------------------------------------------ */

static void svc_free(dp_rr_svc_t *s)
{
    free(s->name);
    free(s->target);
    free(s->prefix);
}

static void rr_ns_free(dp_rr_ns_t *n)
{
    for (size_t i = 0; i < n->n; i++)
        svc_free(&n->svcs[i]);
    free(n->svcs);
    free(n);
}

void dp_rr_snap_free(dp_rr_snap_t *s)
{
    if (s == NULL)
        return;
    DP_SMAP_FOREACH(&s->ns, i)
    rr_ns_free(s->ns.ents[i].val);
    dp_smap_free(&s->ns);
    free(s);
}

static int by_prefix_len(const void *a, const void *b)
{
    const dp_rr_svc_t *x = a, *y = b;
    if (x->prefix_len != y->prefix_len)
        return x->prefix_len > y->prefix_len ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Compiles one namespace's configuration; NULL on ENOMEM. */
static dp_rr_ns_t *compile_ns(const json_t *nc)
{
    dp_rr_ns_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->mode = dp_mode_parse(json_string_value(json_object_get(nc, "mode")));
    const json_t *svcs = json_object_get(nc, "services");
    size_t cnt = json_object_size(svcs);
    n->svcs = calloc(cnt ? cnt : 1, sizeof(dp_rr_svc_t));
    if (n->svcs == NULL) {
        free(n);
        return NULL;
    }
    const char *name;
    json_t *sv;
    json_object_foreach((json_t *)svcs, name, sv)
    {
        dp_rr_svc_t *s = &n->svcs[n->n++];
        s->name = strdup(name);
        s->target = strdup(json_string_value(json_object_get(sv, "target")));
        const char *p = json_string_value(json_object_get(sv, "pathPrefix"));
        s->prefix = strdup(p ? p : "/");
        if (!s->name || !s->target || !s->prefix) {
            rr_ns_free(n);
            return NULL;
        }
        s->prefix_len = strcmp(s->prefix, "/") == 0 ? 0 : strlen(s->prefix);
        s->timeout_ms =
            (uint32_t)json_integer_value(json_object_get(sv, "timeoutMs"));
        s->tls_verify = !json_is_false(json_object_get(sv, "tlsVerify"));
        s->mode = dp_mode_parse(json_string_value(json_object_get(sv, "mode")));
        s->miss_status =
            (int)json_integer_value(json_object_get(sv, "missStatus"));
        if (s->miss_status == 0)
            s->miss_status = 404;
    }
    qsort(n->svcs, n->n, sizeof(*n->svcs), by_prefix_len);
    return n;
}

static dp_rr_snap_t *snap_build(const json_t *conf)
{
    dp_rr_snap_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    const char *ns;
    json_t *nc;
    json_object_foreach((json_t *)conf, ns, nc)
    {
        dp_rr_ns_t *n = compile_ns(nc);
        if (n == NULL || dp_smap_put(&s->ns, ns, n, NULL) < 0) {
            if (n)
                rr_ns_free(n);
            dp_rr_snap_free(s);
            return NULL;
        }
    }
    return s;
}

static void snap_swap(dp_engine_t *e, dp_rr_snap_t *s)
{
    dp_rr_snap_t *old = atomic_exchange(&e->rr, s);
    dp_engine_wait_readers(e);
    dp_rr_snap_free(old);
}

int dp_rr_publish(dp_engine_t *e)
{
    dp_rr_snap_t *s = snap_build(e->rr_conf);
    if (s == NULL)
        return -ENOMEM;
    snap_swap(e, s);
    return 0;
}

const dp_rr_svc_t *dp_rr_find(const dp_engine_t *e, const dp_rr_snap_t *s,
                              const char *ns, const char *path, size_t len,
                              int *mode)
{
    if (s == NULL || s->ns.n == 0)
        return NULL;
    const dp_rr_ns_t *n = dp_smap_get(&s->ns, ns);
    if (n == NULL)
        return NULL;
    for (size_t i = 0; i < n->n; i++) {
        const dp_rr_svc_t *sv = &n->svcs[i];
        size_t pl = sv->prefix_len;
        if (pl && (len < pl || memcmp(path, sv->prefix, pl) != 0 ||
                   (len > pl && path[pl] != '/')))
            continue;
        *mode = sv->mode ? sv->mode : n->mode ? n->mode : default_mode(e);
        return sv;
    }
    return NULL;
}

/* Bytes a URL path may carry as they are (RFC 3986 pchar and '/'). */
static int path_safe(unsigned char c)
{
    return isalnum(c) || strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

char *dp_rr_url(const dp_rr_svc_t *svc, const char *path, size_t len)
{
    const char *rest = path + svc->prefix_len;
    size_t rl = len - svc->prefix_len;
    size_t tl = strlen(svc->target);
    char *u = malloc(tl + rl * 3 + 2);
    if (u == NULL)
        return NULL;
    memcpy(u, svc->target, tl);
    size_t o = tl;
    if (rl && rest[0] != '/')
        u[o++] = '/';
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < rl; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (path_safe(c)) {
            u[o++] = (char)c;
        } else {
            u[o++] = '%';
            u[o++] = hx[c >> 4];
            u[o++] = hx[c & 15];
        }
    }
    u[o] = '\0';
    return u;
}

/* ---- validation
 * -------------------------------------------------------------- */

static int target_valid(const char *t, char *why, size_t wl)
{
    size_t len = strlen(t);
    size_t sl = strncmp(t, "http://", 7) == 0    ? 7
                : strncmp(t, "https://", 8) == 0 ? 8
                                                 : 0;
    if (sl == 0) {
        snprintf(why, wl, "expected an absolute http:// or https:// URL");
        return 0;
    }
    if (len > TARGET_MAX) {
        snprintf(why, wl, "at most %d characters", TARGET_MAX);
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#') {
            snprintf(why, wl,
                     "no spaces, control or non-ASCII characters, "
                     "query or fragment");
            return 0;
        }
    }
    const char *auth = t + sl;
    size_t al = strcspn(auth, "/");
    if (al == 0) {
        snprintf(why, wl, "the URL names no host");
        return 0;
    }
    if (memchr(auth, '@', al) != NULL) {
        /* credentials in a URL would end up in the store and in logs */
        snprintf(why, wl, "credentials in the URL are not allowed");
        return 0;
    }
    return 1;
}

static int token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static json_t *jstr_field(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

/* Validates a POST /services body and returns the stored service (new
 * ref), NULL with err filled. */
static json_t *service_from_body(dp_engine_t *e, const json_t *b,
                                 const char *ns, int64_t now, dp_err_t *err)
{
    static const char *const keys[] = {
        "name", "target",        "pathPrefix", "timeoutMs", "tlsVerify",
        "mode", "recordHeaders", "missStatus", "namespace", NULL};
    char why[160];
    if (!json_is_object(b)) {
        dp_err_invalid(err, "", "a service is a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (keys[i] == NULL) {
            dp_err_invalid(err, k,
                           "unknown field (expected name, target, "
                           "pathPrefix, timeoutMs, tlsVerify, mode, "
                           "recordHeaders, missStatus)");
            return NULL;
        }
    }
    v = jstr_field(b, "name");
    if (!json_is_string(v) ||
        !doppel_name_valid(json_string_value(v), json_string_length(v),
                           SVC_NAME_MAX)) {
        dp_err_invalid(err, "name",
                       "required: 1 to %d characters of "
                       "A-Z a-z 0-9 . _ -",
                       SVC_NAME_MAX);
        return NULL;
    }
    const char *name = json_string_value(v);
    v = jstr_field(b, "target");
    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        dp_err_invalid(err, "target",
                       "required: an absolute http:// or "
                       "https:// URL");
        return NULL;
    }
    if (!target_valid(json_string_value(v), why, sizeof(why))) {
        dp_err_invalid(err, "target", "%s", why);
        return NULL;
    }
    char target[TARGET_MAX + 1];
    snprintf(target, sizeof(target), "%s", json_string_value(v));
    size_t tl = strlen(target);
    size_t host_at = strncmp(target, "https", 5) == 0 ? 8 : 7;
    while (tl > host_at && target[tl - 1] == '/')
        target[--tl] = '\0';

    char prefix[PREFIX_MAX + 1] = "/";
    v = jstr_field(b, "pathPrefix");
    if (v) {
        const char *p = json_is_string(v) ? json_string_value(v) : "";
        size_t pl = strlen(p);
        int ok = json_is_string(v) && pl == json_string_length(v) &&
                 p[0] == '/' && pl <= PREFIX_MAX;
        for (size_t i = 0; ok && i < pl; i++) {
            unsigned char c = (unsigned char)p[i];
            ok = c > 0x20 && c != 0x7f && c != '?' && c != '#';
        }
        if (!ok) {
            dp_err_invalid(err, "pathPrefix",
                           "expected a path starting with '/' (at most %d "
                           "characters, no query or fragment)",
                           PREFIX_MAX);
            return NULL;
        }
        snprintf(prefix, sizeof(prefix), "%s", p);
        size_t l = strlen(prefix);
        while (l > 1 && prefix[l - 1] == '/')
            prefix[--l] = '\0';
    }
    json_int_t timeout = DEFAULT_TIMEOUT_MS;
    v = jstr_field(b, "timeoutMs");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_TIMEOUT_MS) {
            dp_err_invalid(err, "timeoutMs",
                           "expected an integer between 1 "
                           "and %d",
                           MAX_TIMEOUT_MS);
            return NULL;
        }
        timeout = json_integer_value(v);
    }
    int tls = 1;
    v = jstr_field(b, "tlsVerify");
    if (v) {
        if (!json_is_boolean(v)) {
            dp_err_invalid(err, "tlsVerify", "expected true or false");
            return NULL;
        }
        tls = json_is_true(v);
    }
    int mode = DP_MODE_NONE;
    v = jstr_field(b, "mode");
    if (v) {
        mode = json_is_string(v) ? dp_mode_parse(json_string_value(v)) : 0;
        if (mode == 0) {
            dp_err_invalid(err, "mode",
                           "expected PASSTHROUGH, LEARN, MOCK, "
                           "SPY or null");
            return NULL;
        }
    }
    json_int_t miss = 404;
    v = jstr_field(b, "missStatus");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 100 ||
            json_integer_value(v) > 599) {
            dp_err_invalid(err, "missStatus",
                           "expected an HTTP status "
                           "between 100 and 599");
            return NULL;
        }
        miss = json_integer_value(v);
    }
    json_t *rh = json_array();
    if (rh == NULL)
        goto nomem;
    v = jstr_field(b, "recordHeaders");
    if (v && (!json_is_array(v) || json_array_size(v) > RECORD_HEADERS_MAX)) {
        dp_err_invalid(err, "recordHeaders",
                       "expected an array of at most "
                       "%d header names",
                       RECORD_HEADERS_MAX);
        json_decref(rh);
        return NULL;
    }
    size_t i;
    json_t *h;
    json_array_foreach(v, i, h)
    {
        char f[48];
        snprintf(f, sizeof(f), "recordHeaders[%zu]", i);
        const char *s = json_string_value(h);
        size_t l = s ? strlen(s) : 0;
        int ok = s && l > 0 && l <= 128 && l == json_string_length(h);
        for (size_t c = 0; ok && c < l; c++)
            ok = token_char((unsigned char)s[c]);
        if (!ok) {
            dp_err_invalid(err, f, "expected a header name");
            json_decref(rh);
            return NULL;
        }
        if (dp_engine_header_redacted(e, s, l)) {
            dp_err_invalid(err, f,
                           "%s is a credential header: it is "
                           "redacted, so it cannot be a recording key",
                           s);
            json_decref(rh);
            return NULL;
        }
        char low[129];
        for (size_t c = 0; c <= l; c++)
            low[c] = (char)tolower((unsigned char)s[c]);
        int dup = 0;
        size_t j;
        json_t *x;
        json_array_foreach(rh, j, x) dup |=
            strcmp(json_string_value(x), low) == 0;
        if (!dup && json_array_append_new(rh, json_string(low)) < 0) {
            json_decref(rh);
            goto nomem;
        }
    }
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:b, s:s?, s:o, s:I, "
        "s:I}",
        "name", name, "namespace", ns, "target", target, "pathPrefix", prefix,
        "timeoutMs", timeout, "tlsVerify", tls, "mode", dp_mode_name(mode),
        "recordHeaders", rh, "missStatus", miss, "createdAt", (json_int_t)now);
    if (out == NULL)
        goto nomem;
    if (mode == DP_MODE_NONE)
        json_object_set_new(out, "mode", json_null());
    return out;
nomem:
    dp_err_set(err, 500, "internal", "", "out of memory");
    return NULL;
}

/* ---- committing a change
 * ------------------------------------------------------- */

/* The namespace object of conf, created when absent (writer side). */
static json_t *conf_ns(json_t *conf, const char *ns)
{
    json_t *n = json_object_get(conf, ns);
    if (n == NULL) {
        n = json_pack("{s:{}}", "services");
        if (n == NULL || json_object_set_new(conf, ns, n) < 0)
            return NULL;
    }
    return n;
}

/* Makes nconf (stolen) the configuration, persisting row first. Under
 * wmu. On failure nothing changed. */
static int commit(dp_engine_t *e, json_t *nconf, const dp_config_row_t *row,
                  dp_err_t *err)
{
    dp_rr_snap_t *s = nconf ? snap_build(nconf) : NULL;
    if (s == NULL) {
        json_decref(nconf);
        dp_err_set(err, 500, "internal", "", "out of memory");
        return -ENOMEM;
    }
    int rc = e->st->ops->config_put ? e->st->ops->config_put(e->st, row, 1)
                                    : -ENOTSUP;
    if (rc < 0) {
        dp_rr_snap_free(s);
        json_decref(nconf);
        dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                   strerror(-rc));
        return rc;
    }
    json_decref(e->rr_conf);
    e->rr_conf = nconf;
    snap_swap(e, s);
    return 0;
}

static int not_found(dp_err_t *err, const char *ns, const char *name)
{
    dp_err_set(err, 404, "not_found", "name", "no service %s in namespace %s",
               name ? name : "(null)", ns);
    return -ENOENT;
}

/* The stored service name of namespace ns (borrowed), NULL when there is
 * none or name is NULL (under wmu). */
static const json_t *service_of(const dp_engine_t *e, const char *ns,
                                const char *name)
{
    if (name == NULL)
        return NULL;
    return json_object_get(
        json_object_get(json_object_get(e->rr_conf, ns), "services"), name);
}

/* The view of a stored service: the stored fields plus effectiveMode. */
static json_t *service_view(const dp_engine_t *e, const json_t *nc,
                            const json_t *sv)
{
    json_t *o = json_deep_copy(sv);
    if (o == NULL)
        return NULL;
    int m = dp_mode_parse(json_string_value(json_object_get(sv, "mode")));
    if (m == 0)
        m = dp_mode_parse(json_string_value(json_object_get(nc, "mode")));
    if (m == 0)
        m = default_mode(e);
    json_object_set_new(o, "effectiveMode", json_string(dp_mode_name(m)));
    return o;
}

int dp_engine_service_create(dp_engine_t *e, const char *ns, const json_t *body,
                             json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    ns = ns_or_sandbox(ns);
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    json_t *sv = service_from_body(e, body, ns, dp_engine_now(e), err);
    if (sv == NULL) {
        rc = err && err->status == 500 ? -ENOMEM : -EINVAL;
        goto out;
    }
    const char *name = json_string_value(json_object_get(sv, "name"));
    const char *prefix = json_string_value(json_object_get(sv, "pathPrefix"));
    const json_t *nc = json_object_get(e->rr_conf, ns);
    const json_t *svcs = json_object_get(nc, "services");
    if (json_object_get(svcs, name)) {
        dp_err_set(err, 409, "conflict", "name",
                   "namespace %s already has a service %s", ns, name);
        rc = -EEXIST;
        goto out;
    }
    const char *k;
    json_t *o;
    json_object_foreach((json_t *)svcs, k, o)
    {
        const char *op = json_string_value(json_object_get(o, "pathPrefix"));
        if (op && strcmp(op, prefix) == 0) {
            dp_err_set(err, 409, "conflict", "pathPrefix",
                       "service %s already serves pathPrefix %s", k, prefix);
            rc = -EEXIST;
            goto out;
        }
    }
    char *txt = json_dumps(sv, JSON_COMPACT);
    json_t *nconf = json_deep_copy(e->rr_conf);
    json_t *nn = nconf ? conf_ns(nconf, ns) : NULL;
    if (txt == NULL || nn == NULL ||
        json_object_set(json_object_get(nn, "services"), name, sv) < 0) {
        free(txt);
        json_decref(nconf);
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    dp_config_row_t row = {ns, "service", name, txt};
    rc = commit(e, nconf, &row, err);
    free(txt);
    if (rc == 0 && out)
        *out = service_view(e, json_object_get(e->rr_conf, ns), sv);
out:
    pthread_mutex_unlock(&e->wmu);
    json_decref(sv);
    return rc;
}

int dp_engine_service_get(dp_engine_t *e, const char *ns, const char *name,
                          json_t **out, dp_err_t *err)
{
    *out = NULL;
    ns = ns_or_sandbox(ns);
    pthread_mutex_lock(&e->wmu);
    const json_t *nc = json_object_get(e->rr_conf, ns);
    const json_t *sv = service_of(e, ns, name);
    int rc = sv ? 0 : not_found(err, ns, name);
    if (sv && (*out = service_view(e, nc, sv)) == NULL) {
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_service_list(dp_engine_t *e, const char *ns, json_t **out,
                           dp_err_t *err)
{
    *out = NULL;
    ns = ns_or_sandbox(ns);
    json_t *items = json_array();
    pthread_mutex_lock(&e->wmu);
    const json_t *nc = json_object_get(e->rr_conf, ns);
    /* jansson keeps insertion order; list by name */
    const char **names = calloc(
        json_object_size(json_object_get(nc, "services")) + 1, sizeof(char *));
    size_t n = 0;
    const char *k;
    json_t *sv;
    json_object_foreach(json_object_get(nc, "services"), k, sv) if (names)
        names[n++] = k;
    for (size_t i = 1; names && i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; items && names && i < n; i++)
        json_array_append_new(
            items, service_view(e, nc,
                                json_object_get(json_object_get(nc, "services"),
                                                names[i])));
    pthread_mutex_unlock(&e->wmu);
    free(names);
    if (items == NULL || (n && names == NULL)) {
        json_decref(items);
        dp_err_set(err, 500, "internal", "", "out of memory");
        return -ENOMEM;
    }
    *out = json_pack("{s:s, s:o, s:I}", "namespace", ns, "items", items,
                     "total", (json_int_t)n);
    return *out ? 0 : -ENOMEM;
}

int dp_engine_service_delete(dp_engine_t *e, const char *ns, const char *name,
                             dp_err_t *err)
{
    ns = ns_or_sandbox(ns);
    pthread_mutex_lock(&e->wmu);
    int rc;
    if (service_of(e, ns, name) == NULL) {
        rc = not_found(err, ns, name);
        goto out;
    }
    json_t *nconf = json_deep_copy(e->rr_conf);
    if (nconf)
        json_object_del(json_object_get(json_object_get(nconf, ns), "services"),
                        name);
    dp_config_row_t row = {ns, "service", name, NULL};
    rc = commit(e, nconf, &row, err);
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_service_set_mode(dp_engine_t *e, const char *ns, const char *name,
                               const char *mode, json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    ns = ns_or_sandbox(ns);
    int m = mode ? dp_mode_parse(mode) : DP_MODE_NONE;
    if (mode && m == 0) {
        dp_err_invalid(err, "mode",
                       "expected PASSTHROUGH, LEARN, MOCK, SPY "
                       "or null");
        return -EINVAL;
    }
    pthread_mutex_lock(&e->wmu);
    int rc;
    if (service_of(e, ns, name) == NULL) {
        rc = not_found(err, ns, name);
        goto out;
    }
    json_t *nconf = json_deep_copy(e->rr_conf);
    json_t *sv = json_object_get(
        json_object_get(json_object_get(nconf, ns), "services"), name);
    char *txt = NULL;
    if (sv) {
        json_object_set_new(sv, "mode",
                            m ? json_string(dp_mode_name(m)) : json_null());
        txt = json_dumps(sv, JSON_COMPACT);
    }
    if (txt == NULL) {
        json_decref(nconf);
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    dp_config_row_t row = {ns, "service", name, txt};
    rc = commit(e, nconf, &row, err);
    free(txt);
    if (rc == 0 && out) {
        json_t *cur = json_object_get(e->rr_conf, ns);
        *out = service_view(
            e, cur, json_object_get(json_object_get(cur, "services"), name));
    }
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* {namespace, mode, explicit, default, services} (under wmu). */
static json_t *mode_view(const dp_engine_t *e, const char *ns)
{
    const json_t *nc = json_object_get(e->rr_conf, ns);
    int m = dp_mode_parse(json_string_value(json_object_get(nc, "mode")));
    json_t *svcs = json_array();
    const char *k;
    json_t *sv;
    json_object_foreach(json_object_get(nc, "services"), k, sv)
    {
        json_t *v = service_view(e, nc, sv);
        json_array_append_new(
            svcs, json_pack("{s:s, s:O, s:O}", "name", k, "mode",
                            json_object_get(sv, "mode"), "effectiveMode",
                            json_object_get(v, "effectiveMode")));
        json_decref(v);
    }
    return json_pack("{s:s, s:s, s:b, s:s, s:o}", "namespace", ns, "mode",
                     dp_mode_name(m ? m : default_mode(e)), "explicit", m != 0,
                     "default", dp_mode_name(default_mode(e)), "services",
                     svcs ? svcs : json_array());
}

int dp_engine_mode_get(dp_engine_t *e, const char *ns, json_t **out,
                       dp_err_t *err)
{
    ns = ns_or_sandbox(ns);
    pthread_mutex_lock(&e->wmu);
    *out = mode_view(e, ns);
    pthread_mutex_unlock(&e->wmu);
    if (*out == NULL) {
        dp_err_set(err, 500, "internal", "", "out of memory");
        return -ENOMEM;
    }
    return 0;
}

int dp_engine_mode_set(dp_engine_t *e, const char *ns, const char *mode,
                       json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    ns = ns_or_sandbox(ns);
    int m = dp_mode_parse(mode);
    if (m == 0) {
        dp_err_invalid(err, "mode", "expected PASSTHROUGH, LEARN, MOCK or SPY");
        return -EINVAL;
    }
    pthread_mutex_lock(&e->wmu);
    json_t *nconf = json_deep_copy(e->rr_conf);
    json_t *nn = nconf ? conf_ns(nconf, ns) : NULL;
    json_t *prev = json_object_get(json_object_get(e->rr_conf, ns), "mode");
    json_t *prevv = prev ? json_incref(prev) : NULL;
    char txt[64];
    snprintf(txt, sizeof(txt), "{\"mode\":\"%s\"}", dp_mode_name(m));
    int rc;
    if (nn == NULL ||
        json_object_set_new(nn, "mode", json_string(dp_mode_name(m))) < 0) {
        json_decref(nconf);
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
    } else {
        dp_config_row_t row = {ns, "mode", "", txt};
        rc = commit(e, nconf, &row, err);
    }
    if (rc == 0 && out) {
        *out = mode_view(e, ns);
        if (*out)
            json_object_set_new(
                *out, "previous",
                json_string(prevv ? json_string_value(prevv)
                                  : dp_mode_name(default_mode(e))));
    }
    json_decref(prevv);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- loading
 * ------------------------------------------------------------------- */

static int load_row(void *arg, const dp_config_row_t *r)
{
    dp_engine_t *e = arg;
    if (strcmp(r->kind, "tag") == 0 || strcmp(r->kind, "folder") == 0)
        /* not record and replay's */
        return dp_catalog_load_row(e, r);
    json_t *v = json_loads(r->json, 0, NULL);
    json_t *nn = conf_ns(e->rr_conf, r->ns);
    if (nn == NULL) {
        json_decref(v);
        return -ENOMEM;
    }
    if (strcmp(r->kind, "mode") == 0) {
        const char *m = json_string_value(json_object_get(v, "mode"));
        if (dp_mode_parse(m))
            json_object_set_new(nn, "mode",
                                json_string(dp_mode_name(dp_mode_parse(m))));
        else
            dp_warn(LOGC, "namespace %s: ignoring unknown stored mode", r->ns);
    } else if (strcmp(r->kind, "service") == 0 && json_is_object(v) &&
               json_is_string(json_object_get(v, "target"))) {
        json_object_set(json_object_get(nn, "services"), r->name, v);
    } else {
        dp_warn(LOGC, "namespace %s: ignoring stored setting %s/%s", r->ns,
                r->kind, r->name);
    }
    json_decref(v);
    return 0;
}

int dp_rr_load(dp_engine_t *e)
{
    if (e->st->ops->config_load == NULL)
        return dp_rr_publish(e);
    int rc = e->st->ops->config_load(e->st, load_row, e);
    if (rc < 0)
        return rc;
    return dp_rr_publish(e);
}

/* ---- the coverage miss table
 * ------------------------------------------------- */

void dp_rr_note_miss(dp_engine_t *e, const char *ns, const char *service,
                     const char *method, const char *path, size_t path_len,
                     int64_t now)
{
    size_t max = e->cfg.coverage_miss_max ? e->cfg.coverage_miss_max : 1000;
    json_t *key = json_sprintf("%s\x1f%s\x1f%s\x1f%.*s", ns, service, method,
                               (int)path_len, path);
    if (key == NULL)
        return;
    const char *k = json_string_value(key);
    pthread_mutex_lock(&e->cov_mu);
    json_t *ent = json_object_get(e->cov_miss, k);
    if (ent) {
        json_array_set_new(
            ent, 0,
            json_integer(json_integer_value(json_array_get(ent, 0)) + 1));
        json_array_set_new(ent, 1, json_integer(now));
    } else {
        if (json_object_size(e->cov_miss) >= max) {
            /* bounded: the endpoint seen longest ago makes room */
            const char *ok = NULL, *ik;
            json_int_t oldest = INT64_MAX;
            json_t *iv;
            json_object_foreach(e->cov_miss, ik, iv)
            {
                json_int_t t = json_integer_value(json_array_get(iv, 1));
                if (t < oldest) {
                    oldest = t;
                    ok = ik;
                }
            }
            char *victim = ok ? strdup(ok) : NULL;
            if (victim)
                json_object_del(e->cov_miss, victim);
            free(victim);
        }
        json_object_set_new(e->cov_miss, k,
                            json_pack("[iI]", 1, (json_int_t)now));
    }
    pthread_mutex_unlock(&e->cov_mu);
    json_decref(key);
}

void dp_rr_clear_misses(dp_engine_t *e, const char *ns)
{
    size_t nsl = strlen(ns);
    pthread_mutex_lock(&e->cov_mu);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(e->cov_miss, tmp, k, v)
    {
        if (strncmp(k, ns, nsl) == 0 && k[nsl] == '\x1f')
            json_object_del(e->cov_miss, k);
    }
    pthread_mutex_unlock(&e->cov_mu);
}
