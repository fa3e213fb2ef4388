/*
 * The gRPC plugin's .proto pools and its mock section.
 *
 * One pool per namespace that has uploaded files (built-ins + proto_path +
 * that namespace's files), and one base pool (built-ins + proto_path) for
 * every other namespace. Pools are immutable once frozen; a change builds
 * a new one and swaps it under the shared mutex, and readers hold a
 * reference, so a call in flight finishes on the pool it started with.
 *
 * The section check (grpc_protocol_def.check) runs on any thread: it takes
 * a reference to the namespace's pool and reads only that.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_plugin.h"
#include "plugin_json.h"

/* ---- shared state ------------------------------------------------------- */

typedef struct shared_arg {
    const char *proto_path;
} shared_arg_t;

static void *shared_create(void *arg)
{
    const shared_arg_t *a = arg;
    grpc_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return NULL;
    pthread_mutex_init(&sh->mu, NULL);
    if (a->proto_path && a->proto_path[0])
        sh->proto_path = strdup(a->proto_path);
    gpb_pool_t *p = NULL;
    int rc = gpb_pool_new(&p, sh->base_err, sizeof(sh->base_err));
    if (rc == 0 && sh->proto_path)
        rc = gpb_pool_add_path(p, sh->proto_path, sh->base_err,
                               sizeof(sh->base_err));
    /* A file of proto_path that does not parse is reported (the files that
     * loaded stay usable); a missing built-in folder leaves no pool. */
    if (p != NULL) {
        gpb_pool_freeze(p);
        sh->base = p;
    }
    (void)rc;
    return sh;
}

static void files_free(grpc_file_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].content);
    }
    free(f);
}

static void shared_destroy(void *state)
{
    grpc_shared_t *sh = state;
    if (sh == NULL)
        return;
    for (size_t i = 0; i < sh->n_nss; i++) {
        free(sh->nss[i].ns);
        files_free(sh->nss[i].files, sh->nss[i].n);
        files_free(sh->nss[i].pending, sh->nss[i].n_pending);
        gpb_pool_unref(sh->nss[i].pool);
    }
    free(sh->nss);
    for (size_t i = 0; i < sh->n_events; i++)
        free(sh->events[i]);
    free(sh->events);
    gpb_pool_unref(sh->base);
    free(sh->proto_path);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

grpc_shared_t *grpc_shared(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    shared_arg_t a = {svc->option_str(ctx, "proto_path")};
    return svc->shared(ctx, shared_create, shared_destroy, &a);
}

static grpc_ns_files_t *ns_find(grpc_shared_t *sh, const char *ns,
                                size_t len)
{
    for (size_t i = 0; i < sh->n_nss; i++)
        if (strlen(sh->nss[i].ns) == len && memcmp(sh->nss[i].ns, ns, len) == 0)
            return &sh->nss[i];
    return NULL;
}

static grpc_ns_files_t *ns_get(grpc_shared_t *sh, const char *ns, size_t len)
{
    grpc_ns_files_t *f = ns_find(sh, ns, len);
    if (f != NULL)
        return f;
    grpc_ns_files_t *v = realloc(sh->nss, (sh->n_nss + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    sh->nss = v;
    f = &v[sh->n_nss];
    memset(f, 0, sizeof(*f));
    f->ns = strndup(ns, len);
    if (f->ns == NULL)
        return NULL;
    sh->n_nss++;
    return f;
}

gpb_pool_t *grpc_pool_for(grpc_shared_t *sh, const char *ns, size_t ns_len,
                          char *err, size_t errlen)
{
    if (ns_len == 0) {
        ns = "sandbox";
        ns_len = 7;
    }
    pthread_mutex_lock(&sh->mu);
    grpc_ns_files_t *f = ns_find(sh, ns, ns_len);
    gpb_pool_t *p = f && f->pool ? f->pool : sh->base;
    if (p != NULL)
        gpb_pool_ref(p);
    else
        snprintf(err, errlen, "no .proto files can be loaded: %s",
                 sh->base_err);
    pthread_mutex_unlock(&sh->mu);
    return p;
}

/* A pool of the base files plus files (all-or-nothing). */
static int build_pool(grpc_shared_t *sh, const grpc_file_t *a, size_t na,
                      const grpc_file_t *b, size_t nb, gpb_pool_t **out,
                      char *err, size_t errlen)
{
    gpb_pool_t *p = NULL;
    int rc = gpb_pool_new(&p, err, errlen);
    if (rc < 0)
        return rc;
    if (sh->proto_path) {
        char ignored[GPB_ERR_MAX];
        /* proto_path files that fail were reported at start-up. */
        (void)gpb_pool_add_path(p, sh->proto_path, ignored, sizeof(ignored));
    }
    size_t n = na + nb;
    gpb_source_t *src = calloc(n ? n : 1, sizeof(*src));
    if (src == NULL) {
        gpb_pool_unref(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < na; i++)
        src[i] = (gpb_source_t){a[i].name, a[i].content, a[i].len};
    for (size_t i = 0; i < nb; i++)
        src[na + i] = (gpb_source_t){b[i].name, b[i].content, b[i].len};
    rc = n ? gpb_pool_add_sources(p, src, n, err, errlen) : 0;
    free(src);
    if (rc < 0) {
        gpb_pool_unref(p);
        return rc;
    }
    gpb_pool_freeze(p);
    *out = p;
    return 0;
}

static void set_err(doppel_check_error_t *e, const char *field,
                    const char *fmt, const char *msg)
{
    if (e == NULL)
        return;
    snprintf(e->field, sizeof(e->field), "%s", field);
    snprintf(e->message, sizeof(e->message), fmt, msg);
}

static int name_ok(doppel_str_t name)
{
    if (name.len == 0 || name.len > 256 || name.ptr[0] == '/')
        return 0;
    if (name.len < 7 || memcmp(name.ptr + name.len - 6, ".proto", 6) != 0)
        return 0;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
              c == '/'))
            return 0;
        if (c == '.' && i + 1 < name.len && name.ptr[i + 1] == '.')
            return 0;
    }
    return 1;
}

static int schema_put(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      doppel_str_t ns, doppel_str_t name,
                      const uint8_t *content, size_t len,
                      doppel_check_error_t *err)
{
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    if (!name_ok(name)) {
        set_err(err, "name", "%s",
                "a .proto file name is a relative path of [A-Za-z0-9._-] "
                "segments ending in .proto, without '..'");
        return -EINVAL;
    }
    pthread_mutex_lock(&sh->mu);
    grpc_ns_files_t *f = ns_get(sh, ns.len ? ns.ptr : "sandbox",
                                ns.len ? ns.len : 7);
    grpc_file_t *v =
        f ? realloc(f->pending, (f->n_pending + 1) * sizeof(*v)) : NULL;
    int rc = -ENOMEM;
    if (v != NULL) {
        f->pending = v;
        grpc_file_t *nf = &v[f->n_pending];
        nf->name = strndup(name.ptr, name.len);
        nf->content = malloc(len + 1);
        nf->len = len;
        if (nf->name && nf->content) {
            memcpy(nf->content, content, len);
            nf->content[len] = '\0';
            f->n_pending++;
            rc = 0;
        } else {
            free(nf->name);
            free(nf->content);
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* Files of f with the pending ones replacing those of the same name. */
static int merged(const grpc_ns_files_t *f, grpc_file_t **out, size_t *n)
{
    grpc_file_t *v = calloc(f->n + f->n_pending + 1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < f->n_pending; j++)
            replaced |= strcmp(f->files[i].name, f->pending[j].name) == 0;
        if (!replaced)
            v[k++] = f->files[i];
    }
    for (size_t j = 0; j < f->n_pending; j++) {
        int later = 0; /* a batch naming a file twice: the last wins */
        for (size_t l = j + 1; l < f->n_pending; l++)
            later |= strcmp(f->pending[j].name, f->pending[l].name) == 0;
        if (!later)
            v[k++] = f->pending[j];
    }
    *out = v;
    *n = k;
    return 0;
}

static int schema_commit(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, int keep, doppel_check_error_t *err)
{
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    grpc_ns_files_t *f = ns_find(sh, ns.len ? ns.ptr : "sandbox",
                                 ns.len ? ns.len : 7);
    int rc = 0;
    if (f == NULL || f->n_pending == 0) {
        pthread_mutex_unlock(&sh->mu);
        return 0;
    }
    if (keep) {
        grpc_file_t *all = NULL;
        size_t n = 0;
        char msg[GPB_ERR_MAX] = "";
        gpb_pool_t *p = NULL;
        rc = merged(f, &all, &n);
        if (rc == 0)
            rc = build_pool(sh, all, n, NULL, 0, &p, msg, sizeof(msg));
        if (rc == 0) {
            /* the new file list: the merged view, with ownership moved */
            grpc_file_t *nv = calloc(n + 1, sizeof(*nv));
            if (nv == NULL) {
                gpb_pool_unref(p);
                rc = -ENOMEM;
            } else {
                for (size_t i = 0; i < n; i++) {
                    nv[i].name = strdup(all[i].name);
                    nv[i].content = malloc(all[i].len + 1);
                    nv[i].len = all[i].len;
                    if (nv[i].content)
                        memcpy(nv[i].content, all[i].content, all[i].len + 1);
                    if (!nv[i].name || !nv[i].content)
                        rc = -ENOMEM;
                }
                if (rc == 0) {
                    files_free(f->files, f->n);
                    f->files = nv;
                    f->n = n;
                    gpb_pool_unref(f->pool);
                    f->pool = p;
                } else {
                    files_free(nv, n);
                    gpb_pool_unref(p);
                }
            }
        } else if (rc == -EINVAL) {
            set_err(err, "content", "%s", msg);
        }
        free(all);
    }
    files_free(f->pending, f->n_pending);
    f->pending = NULL;
    f->n_pending = 0;
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static int schema_delete(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, doppel_str_t name,
                         doppel_check_error_t *err)
{
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    grpc_ns_files_t *f = ns_find(sh, ns.len ? ns.ptr : "sandbox",
                                 ns.len ? ns.len : 7);
    size_t at = (size_t)-1;
    for (size_t i = 0; f && i < f->n; i++)
        if (strlen(f->files[i].name) == name.len &&
            memcmp(f->files[i].name, name.ptr, name.len) == 0)
            at = i;
    if (at == (size_t)-1) {
        pthread_mutex_unlock(&sh->mu);
        return -ENOENT;
    }
    /* The pool without that file: refused when another file imports it. */
    grpc_file_t *rest = calloc(f->n, sizeof(*rest));
    size_t k = 0;
    int rc = rest ? 0 : -ENOMEM;
    for (size_t i = 0; rest && i < f->n; i++)
        if (i != at)
            rest[k++] = f->files[i];
    gpb_pool_t *p = NULL;
    char msg[GPB_ERR_MAX] = "";
    if (rc == 0)
        rc = k ? build_pool(sh, rest, k, NULL, 0, &p, msg, sizeof(msg)) : 0;
    if (rc == -EINVAL) {
        set_err(err, "name",
                "other files still import it: %s", msg);
        rc = -EBUSY;
    } else if (rc == 0) {
        free(f->files[at].name);
        free(f->files[at].content);
        memmove(&f->files[at], &f->files[at + 1],
                (f->n - at - 1) * sizeof(*f->files));
        f->n--;
        gpb_pool_unref(f->pool);
        f->pool = p; /* NULL when no file is left: the base pool serves */
    }
    free(rest);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- stream events with mocks ------------------------------------------ */

static int event_key(char *out, size_t n, const char *ns, size_t ns_len,
                     const char *target, const char *event)
{
    int w = snprintf(out, n, "%.*s\x1f%s\x1f%s", (int)ns_len, ns, target,
                     event);
    return w > 0 && (size_t)w < n ? 0 : -ENAMETOOLONG;
}

int grpc_event_known(grpc_shared_t *sh, const char *ns, const char *target,
                     const char *event)
{
    char k[800];
    if (event_key(k, sizeof(k), ns, strlen(ns), target, event) < 0)
        return 0;
    int found = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < sh->n_events && !found; i++)
        found = strcmp(sh->events[i], k) == 0;
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static void event_note(grpc_shared_t *sh, doppel_str_t ns, const char *target,
                       const char *event)
{
    char k[800];
    if (ns.len == 0)
        ns = (doppel_str_t){"sandbox", 7};
    if (event_key(k, sizeof(k), ns.ptr, ns.len, target, event) < 0)
        return;
    pthread_mutex_lock(&sh->mu);
    int found = 0;
    for (size_t i = 0; i < sh->n_events && !found; i++)
        found = strcmp(sh->events[i], k) == 0;
    if (!found) {
        char **v = realloc(sh->events, (sh->n_events + 1) * sizeof(*v));
        if (v != NULL) {
            sh->events = v;
            if ((v[sh->n_events] = strdup(k)) != NULL)
                sh->n_events++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

/* ---- the mock section ---------------------------------------------------- */

static const char *kind_name(int cs, int ss)
{
    return cs && ss ? "bidirectional"
           : cs     ? "client-stream"
           : ss     ? "server-stream"
                    : "unary";
}

/* Rewrites the condition paths of arr (section member key) to json names. */
static int norm_conds(const gpb_pool_t *p, const gpb_method_info_t *mi,
                      json_t *sec, const char *key, unsigned pflags,
                      doppel_check_error_t *err)
{
    json_t *arr = json_object_get(sec, key);
    if (arr == NULL || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return 0; /* the engine reports the shape */
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        json_t *pv = json_object_get(c, "path");
        if (!json_is_string(pv))
            continue;
        const char *path = json_string_value(pv);
        if (path[0] == '\0')
            continue;
        char out[1024], msg[GPB_ERR_MAX];
        int rc = gpb_field_path_normalise(p, mi->input_type, path, pflags,
                                          out, sizeof(out), msg, sizeof(msg));
        if (rc < 0) {
            char field[64];
            snprintf(field, sizeof(field), "grpc.%s[%zu].path", key, i);
            char m2[700];
            snprintf(m2, sizeof(m2), "%s (request type %s)", msg,
                     mi->input_type);
            set_err(err, field, "%s", m2);
            return -EINVAL;
        }
        if (strcmp(out, path) != 0)
            json_object_set_new(c, "path", json_string(out));
    }
    return 0;
}

static int check_payload(const gpb_pool_t *p, const char *type,
                         const json_t *v, const char *where,
                         doppel_check_error_t *err)
{
    if (v == NULL || json_is_null(v))
        return 0;
    char msg[GPB_ERR_MAX];
    /* A whole-payload template string ("{{...}}", "$.req") renders at serve
     * time; the flag accepts it. */
    int rc = gpb_check_value(p, type, v, where, GPB_CHECK_TEMPLATES, msg,
                             sizeof(msg));
    if (rc < 0) {
        const char *colon = strstr(msg, ": ");
        char field[256];
        size_t fl = colon && (size_t)(colon - msg) < sizeof(field)
                        ? (size_t)(colon - msg)
                        : strlen(where);
        snprintf(field, sizeof(field), "%.*s", (int)fl,
                 colon ? msg : where);
        set_err(err, field, "%s", msg);
        return -EINVAL;
    }
    return 0;
}

static int check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                 const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                 doppel_check_error_t *err)
{
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_error_t je;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, &je);
    json_t *resp = json_loadb(mock->response.ptr, mock->response.len, 0, &je);
    int rc = -EINVAL;
    gpb_pool_t *p = NULL;
    if (!json_is_object(sec)) {
        set_err(err, "grpc", "%s", "expected an object");
        goto out;
    }
    json_t *sv = json_object_get(sec, "service");
    if (sv == NULL)
        sv = json_object_get(sec, "serviceName");
    json_t *mv = json_object_get(sec, "method");
    if (!json_is_string(sv) || json_string_length(sv) == 0) {
        set_err(err, "grpc.service", "%s",
                "required: the full service name, with its package "
                "(\"order.v1.OrderService\")");
        goto out;
    }
    if (!json_is_string(mv) || json_string_length(mv) == 0) {
        set_err(err, "grpc.method", "%s", "required: the method name");
        goto out;
    }
    const char *service = json_string_value(sv);
    if (service[0] == '/' || strchr(service, '/')) {
        set_err(err, "grpc.service", "%s",
                "the service's full name, without '/'");
        goto out;
    }
    char msg[GPB_ERR_MAX];
    p = grpc_pool_for(sh, mock->ns.ptr, mock->ns.len, msg, sizeof(msg));
    if (p == NULL) {
        set_err(err, "grpc.service", "%s", msg);
        rc = -EINVAL;
        goto out;
    }
    gpb_method_info_t mi;
    if (gpb_method_find(p, service, json_string_value(mv), &mi, msg,
                        sizeof(msg)) < 0) {
        int svc_known = gpb_method_count(p, service) >= 0;
        char m2[700];
        snprintf(m2, sizeof(m2), "%s: no .proto file loaded for namespace "
                                 "%.*s defines it",
                 msg, (int)(mock->ns.len ? mock->ns.len : 7),
                 mock->ns.len ? mock->ns.ptr : "sandbox");
        set_err(err, svc_known ? "grpc.method" : "grpc.service", "%s", m2);
        goto out;
    }
    const char *kind = kind_name(mi.client_streaming, mi.server_streaming);
    json_t *mt = json_object_get(sec, "methodType");
    if (mt != NULL && !json_is_null(mt)) {
        if (!json_is_string(mt) || strcmp(json_string_value(mt), kind) != 0) {
            char m2[512];
            snprintf(m2, sizeof(m2),
                     "%s/%s is %s in its .proto file, the mock says %s",
                     service, mi.method, kind,
                     json_is_string(mt) ? json_string_value(mt) : "(not a string)");
            set_err(err, "grpc.methodType", "%s", m2);
            goto out;
        }
    }
    json_t *ev = json_object_get(sec, "streamEvent");
    const char *event = "message";
    if (ev != NULL && !json_is_null(ev)) {
        const char *e = json_is_string(ev) ? json_string_value(ev) : "";
        if (strcmp(e, "open") && strcmp(e, "message") && strcmp(e, "close")) {
            set_err(err, "grpc.streamEvent", "%s",
                    "one of open, message, close");
            goto out;
        }
        if (strcmp(e, "message") && !(mi.client_streaming && mi.server_streaming)) {
            set_err(err, "grpc.streamEvent", "%s",
                    "open and close are for bidirectional methods only");
            goto out;
        }
        event = e;
    }
    json_t *norm = json_deep_copy(sec);
    if (norm == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    json_object_set_new(norm, "service", json_string(service));
    json_object_del(norm, "serviceName");
    json_object_set_new(norm, "methodType", json_string(kind));
    unsigned pf = mi.client_streaming && !mi.server_streaming
                      ? GPB_PATH_CLIENT_STREAM
                      : 0;
    if (strcmp(event, "message") != 0 && json_array_size(json_object_get(norm, "conditions")) > 0) {
        set_err(err, "grpc.conditions", "%s",
                "open and close events carry no message: use meta");
        json_decref(norm);
        goto out;
    }
    rc = norm_conds(p, &mi, norm, "conditions", pf, err);
    /* the response: payload and each stream message fit the output type */
    if (rc == 0 && json_is_object(resp)) {
        rc = check_payload(p, mi.output_type, json_object_get(resp, "payload"),
                           "response.payload", err);
        json_t *sr = json_object_get(resp, "streamResponses");
        if (rc == 0 && sr != NULL && !json_is_null(sr)) {
            if (!json_is_array(sr)) {
                set_err(err, "response.streamResponses", "%s",
                        "expected an array of {payload, delay}");
                rc = -EINVAL;
            } else if (!mi.server_streaming) {
                set_err(err, "response.streamResponses", "%s",
                        "only server-stream and bidirectional methods send "
                        "several messages");
                rc = -EINVAL;
            }
            size_t i;
            json_t *it;
            json_array_foreach(sr, i, it)
            {
                if (rc < 0)
                    break;
                char where[64];
                snprintf(where, sizeof(where), "response.streamResponses[%zu]",
                         i);
                if (!json_is_object(it)) {
                    set_err(err, where, "%s", "expected {payload, delay}");
                    rc = -EINVAL;
                    break;
                }
                const char *k;
                json_t *vv;
                json_object_foreach(it, k, vv)
                {
                    if (strcmp(k, "payload") && strcmp(k, "delay")) {
                        char f2[96];
                        snprintf(f2, sizeof(f2), "%s.%s", where, k);
                        set_err(err, f2, "%s",
                                "unknown member (payload, delay)");
                        rc = -EINVAL;
                        break;
                    }
                }
                json_t *d = json_object_get(it, "delay");
                if (rc == 0 && d && !json_is_null(d) &&
                    (!json_is_integer(d) || json_integer_value(d) < 0 ||
                     json_integer_value(d) > 3600000)) {
                    char f2[96];
                    snprintf(f2, sizeof(f2), "%s.delay", where);
                    set_err(err, f2, "%s",
                            "milliseconds, an integer from 0 to 3600000");
                    rc = -EINVAL;
                }
                char w2[96];
                snprintf(w2, sizeof(w2), "%s.payload", where);
                if (rc == 0)
                    rc = check_payload(p, mi.output_type,
                                       json_object_get(it, "payload"), w2, err);
            }
        }
        json_t *ed = json_object_get(resp, "errorDetails");
        if (rc == 0 && ed != NULL && !json_is_null(ed)) {
            char m3[GPB_ERR_MAX];
            if (gpb_check_error_details(p, ed, "response.errorDetails",
                                        GPB_CHECK_TEMPLATES, m3,
                                        sizeof(m3)) < 0) {
                const char *colon = strstr(m3, ": ");
                char field[256];
                snprintf(field, sizeof(field), "%.*s",
                         colon ? (int)(colon - m3) : 21,
                         colon ? m3 : "response.errorDetails");
                set_err(err, field, "%s", m3);
                rc = -EINVAL;
            }
        }
        json_t *er = json_object_get(resp, "error");
        if (rc == 0 && er != NULL && !json_is_null(er) && !json_is_string(er)) {
            set_err(err, "response.error", "%s",
                    "the status message, a string");
            rc = -EINVAL;
        }
        json_t *tr = json_object_get(resp, "trailers");
        if (rc == 0 && tr != NULL && !json_is_null(tr) && !json_is_object(tr)) {
            set_err(err, "response.trailers", "%s",
                    "trailing metadata, an object of strings");
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        /* operation = the method; target = its :path, "/@open" and
         * "/@close" for the stream events of a bidirectional call */
        int n = snprintf(key->buf, sizeof(key->buf), "%s", mi.method);
        key->operation = (doppel_str_t){key->buf, (size_t)n};
        char *t = key->buf + n + 1;
        size_t room = sizeof(key->buf) - (size_t)n - 1;
        int tn = strcmp(event, "message") == 0
                     ? snprintf(t, room, "/%s/%s", service, mi.method)
                     : snprintf(t, room, "/%s/%s/@%s", service, mi.method,
                                event);
        if (tn < 0 || (size_t)tn >= room) {
            set_err(err, "grpc.service", "%s", "name too long");
            rc = -EINVAL;
        } else {
            key->target = (doppel_str_t){t, (size_t)tn};
            if (strcmp(event, "message") != 0) {
                char base[600];
                snprintf(base, sizeof(base), "/%s/%s", service, mi.method);
                event_note(sh, mock->ns, base, event);
            }
            json_t *srv = json_object_get(norm, "serverName");
            if (json_is_string(srv) && json_string_length(srv) > 0) {
                char *s = t + tn + 1;
                size_t r2 = room - (size_t)tn - 1;
                int sn = snprintf(s, r2, "%s", json_string_value(srv));
                if (sn > 0 && (size_t)sn < r2)
                    key->server = (doppel_str_t){s, (size_t)sn};
            }
            char *txt = json_dumps(norm, JSON_COMPACT);
            if (txt != NULL) {
                size_t l = strlen(txt);
                char *own = svc->alloc(l + 1);
                if (own != NULL) {
                    memcpy(own, txt, l + 1);
                    key->owned_section = own;
                    key->section = (doppel_str_t){own, l};
                }
                free(txt);
            }
        }
    }
    json_decref(norm);
out:
    gpb_pool_unref(p);
    json_decref(sec);
    json_decref(resp);
    return rc;
}

static int explain_miss(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        const doppel_exchange_t *x, char *out, size_t out_len)
{
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL || x->target.len < 2)
        return 0;
    char path[512];
    snprintf(path, sizeof(path), "%.*s", (int)x->target.len, x->target.ptr);
    char *slash = strchr(path + 1, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    char msg[GPB_ERR_MAX];
    gpb_pool_t *p = grpc_pool_for(sh, x->ns.ptr, x->ns.len, msg, sizeof(msg));
    if (p == NULL)
        return 0;
    gpb_method_info_t mi;
    char *m = slash + 1;
    char *at = strchr(m, '/');
    if (at)
        *at = '\0';
    int rc = gpb_method_find(p, path + 1, m, &mi, msg, sizeof(msg));
    gpb_pool_unref(p);
    if (rc < 0) {
        snprintf(out, out_len, "%s", msg);
        return 1;
    }
    return 0;
}

/* What the namespace's pool defines: {"services": [{"name", "builtin",
 * "file", "methods": [{"name", "methodType", "input", "output"}]}]}, by
 * service name, methods in declaration order. A namespace whose pool
 * cannot be built gets no services and the reason in "error". */
static json_t *describe_pool(const gpb_pool_t *p)
{
    json_t *services = json_array();
    json_t *o = json_pack("{s:o}", "services", services);
    if (o == NULL)
        return NULL;
    size_t n = gpb_service_count(p);
    for (size_t i = 0; i < n; i++) {
        const char *name = gpb_service_name(p, i);
        int nm = name ? gpb_method_count(p, name) : -ENOENT;
        if (nm < 0)
            continue;
        json_t *methods = json_array();
        const char *file = NULL;
        for (int k = 0; k < nm; k++) {
            gpb_method_info_t mi;
            if (gpb_method_at(p, name, (size_t)k, &mi) < 0)
                continue;
            file = mi.file;
            json_array_append_new(
                methods, json_pack("{s:s, s:s, s:s, s:s}", "name", mi.method,
                                   "methodType", gpb_method_kind(&mi),
                                   "input", mi.input_type, "output",
                                   mi.output_type));
        }
        json_t *svc = json_pack("{s:s, s:b, s:s?, s:o}", "name", name,
                                "builtin", gpb_service_is_builtin(p, i),
                                "file", file, "methods", methods);
        if (svc == NULL || json_array_append_new(services, svc) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int describe(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    doppel_str_t ns, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    grpc_shared_t *sh = grpc_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    char msg[GPB_ERR_MAX] = "";
    gpb_pool_t *p = grpc_pool_for(sh, ns.ptr, ns.len, msg, sizeof(msg));
    json_t *o = p ? describe_pool(p)
                  : json_pack("{s:[], s:s}", "services", "error", msg);
    gpb_pool_unref(p);
    return dpj_give(svc, o, out, out_len);
}

static const char *const body_conds[] = {"conditions", NULL};
static const char *const meta_conds[] = {"meta", NULL};
static const char *const resp_fields[] = {"error", "errorDetails", "trailers",
                                          "streamResponses", NULL};

const doppel_protocol_def_t grpc_protocol_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "grpc",
    .flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_NO_PROXY,
    .body_conditions = body_conds,
    .meta_conditions = meta_conds,
    .response_fields = resp_fields,
    .status_min = 0,
    .status_max = 16,
    .status_default = 0,
    .check = check,
    .schema_kind = "proto",
    .schema_put = schema_put,
    .schema_commit = schema_commit,
    .schema_delete = schema_delete,
    .explain_miss = explain_miss,
    .describe = describe,
};
