/*
 * The "sse" mock section: check (validation and index key) and the
 * eventPaths mocks named, which the classifier of every worker reads.
 * check runs on any thread (admin writes, start-up loading).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_plugin.h"

/* ---- shared state -------------------------------------------------------- */

static void shared_destroy(void *state)
{
    sse_shared_t *sh = state;
    if (sh == NULL)
        return;
    for (size_t i = 0; i < sh->n_paths; i++)
        free(sh->paths[i]);
    free(sh->paths);
    for (size_t i = 0; i < sh->n_subs; i++)
        free(sh->subs[i].key);
    free(sh->subs);
    free(sh->insts);
    pthread_mutex_destroy(&sh->reg_mu);
    pthread_rwlock_destroy(&sh->lock);
    free(sh);
}

static void *shared_create(void *arg)
{
    (void)arg;
    sse_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh != NULL && pthread_rwlock_init(&sh->lock, NULL) != 0) {
        free(sh);
        sh = NULL;
    } else if (sh != NULL && pthread_mutex_init(&sh->reg_mu, NULL) != 0) {
        pthread_rwlock_destroy(&sh->lock);
        free(sh);
        sh = NULL;
    }
    return sh;
}

sse_shared_t *sse_shared(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    return svc->shared(ctx, shared_create, shared_destroy, NULL);
}

/* Returns 0 (added or known), -ENOSPC (too many) or -ENOMEM. */
static int paths_add(sse_shared_t *sh, const char *p)
{
    int rc = 0;
    pthread_rwlock_wrlock(&sh->lock);
    size_t i;
    for (i = 0; i < sh->n_paths; i++)
        if (strcmp(sh->paths[i], p) == 0)
            break;
    if (i == sh->n_paths) {
        char **v = sh->n_paths < SSE_PATHS_MAX
                       ? realloc(sh->paths, (sh->n_paths + 1) * sizeof(*v))
                       : NULL;
        if (sh->n_paths >= SSE_PATHS_MAX)
            rc = -ENOSPC;
        else if (v == NULL)
            rc = -ENOMEM;
        else if ((sh->paths = v, v[sh->n_paths] = strdup(p)) == NULL)
            rc = -ENOMEM;
        else
            sh->n_paths++;
    }
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

int sse_path_known(sse_shared_t *sh, const char *path, size_t len)
{
    int found = 0;
    pthread_rwlock_rdlock(&sh->lock);
    for (size_t i = 0; i < sh->n_paths && !found; i++)
        found = sse_route_matches(sh->paths[i], path, len);
    pthread_rwlock_unlock(&sh->lock);
    return found;
}

/* ---- check --------------------------------------------------------------- */

static int set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static int set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                   ...)
{
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* An eventPath: absolute, no query, fragment, '%', whitespace, "//" or
 * trailing '/' (except "/"); ":name" and "*" segments are route
 * parameters, as on http. */
static int path_ok(const char *p)
{
    size_t l = strlen(p);
    if (l == 0 || l > SSE_PATH_MAX || p[0] != '/')
        return 0;
    if ((l > 1 && p[l - 1] == '/') || strstr(p, "//") != NULL)
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == '?' || c == '#' || c == '%' || c == '\\' ||
            c >= 0x7f)
            return 0;
    }
    return 1;
}

static const char *const section_keys[] = {
    "eventPath",        "eventName",  "description", "conditions",
    "headerConditions", "serverName", "onStoreChange", NULL};

static int check_section(const json_t *sec, doppel_check_error_t *err)
{
    if (!json_is_object(sec))
        return set_err(err, "sse",
                       "expected an object {eventPath, "
                       "eventName, description, conditions, "
                       "headerConditions}");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sec, k, v)
    {
        int known = 0;
        for (size_t i = 0; section_keys[i] && !known; i++)
            known = strcmp(k, section_keys[i]) == 0;
        char f[256];
        snprintf(f, sizeof(f), "sse.%.200s", k);
        if (!known)
            return set_err(err, f,
                           "unknown member (expected one of "
                           "eventPath, eventName, description, "
                           "conditions, headerConditions, "
                           "serverName, onStoreChange)");
        if (json_is_null(v))
            continue;
        if (strcmp(k, "onStoreChange") == 0) {
            char msg[256];
            if (sse_rules_check(v, f, sizeof(f), msg, sizeof(msg)) < 0)
                return set_err(err, f, "%s", msg);
            continue;
        }
        if (strcmp(k, "conditions") == 0 ||
            strcmp(k, "headerConditions") == 0) {
            /* header conditions may also be {"Name": "value"} */
            if (json_is_object(v) && k[0] == 'h')
                continue;
            if (!json_is_array(v))
                return set_err(err, f,
                               "expected an array of conditions "
                               "{path, assertAction, value}");
            size_t i;
            json_t *c;
            json_array_foreach(v, i, c) if (!json_is_object(c))
            {
                snprintf(f, sizeof(f), "sse.%s[%zu]", k, i);
                return set_err(err, f,
                               "expected a condition {path, "
                               "assertAction, value}");
            }
            continue;
        }
        if (!json_is_string(v))
            return set_err(err, f, "expected a string");
        const char *s = json_string_value(v);
        if (strcmp(k, "eventPath") == 0 && !path_ok(s))
            return set_err(err, f,
                           "expected an absolute path such as "
                           "/events/deploy or /events/:id (no "
                           "query, '%%' or trailing '/')");
        if (strcmp(k, "eventName") == 0 &&
            (strpbrk(s, "\r\n") != NULL || json_string_length(v) > 256 ||
             strlen(s) != json_string_length(v)))
            return set_err(err, f, "at most 256 bytes without CR, LF or NUL");
    }
    return 0;
}

/* The answer: a stream (sseEventChain), or a plain answer when statusCode
 * says something other than 200 (an auth failure, a 503). */
/* The answer: a stream (sseEventChain), or a plain answer when statusCode
 * says something other than 200 (an auth failure, a 503). answer > 0 is
 * an item of oneOf.responses, named so in the error. */
static int check_response(const json_t *resp, uint32_t answer,
                          doppel_check_error_t *err)
{
    if (!json_is_object(resp))
        return set_err(err, "response",
                       "expected an object with "
                       "sseEventChain");
    const json_t *st = json_object_get(resp, "statusCode");
    const json_t *chain = json_object_get(resp, "sseEventChain");
    if (json_is_integer(st) && json_integer_value(st) != 200 &&
        (chain == NULL || json_is_null(chain)))
        return 0;
    const json_t *ptp = json_object_get(resp, "payloadTemplatePath");
    sse_chain_err_t ce;
    if (sse_chain_check(chain,
                        json_is_string(ptp) ? json_string_value(ptp) : NULL,
                        &ce) == 0)
        return 0;
    /* no answer at all: a mock with only a proxy, which a stream cannot
     * use */
    if (json_object_size(resp) == 0)
        snprintf(ce.message + strlen(ce.message),
                 sizeof(ce.message) - strlen(ce.message),
                 " (event streams are not proxied)");
    if (answer > 0 && strncmp(ce.field, "response", 8) == 0) {
        char f[sizeof(err->field)];
        snprintf(f, sizeof(f), "oneOf.responses[%u]%.200s", answer,
                 ce.field + 8);
        return set_err(err, f, "%s", ce.message);
    }
    return set_err(err, ce.field, "%s", ce.message);
}

static int check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                 const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                 doppel_check_error_t *err)
{
    sse_shared_t *sh = sse_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, NULL);
    json_t *resp = json_loadb(mock->response.ptr, mock->response.len, 0, NULL);
    int rc = check_section(sec, err);
    if (rc == 0)
        rc = check_response(resp, mock->answer, err);
    const json_t *path = json_object_get(sec, "eventPath");
    const json_t *srv = json_object_get(sec, "serverName");
    size_t used = 0;
    if (rc == 0 && json_is_string(path)) {
        used = (size_t)snprintf(key->buf, sizeof(key->buf), "%s",
                                json_string_value(path));
        key->target = (doppel_str_t){key->buf, used};
        used++;
    }
    if (rc == 0 && json_is_string(srv) && json_string_length(srv) > 0) {
        if (json_string_length(srv) + used + 1 > sizeof(key->buf)) {
            rc = set_err(err, "sse.serverName", "too long");
        } else {
            int n = snprintf(key->buf + used, sizeof(key->buf) - used, "%s",
                             json_string_value(srv));
            key->server = (doppel_str_t){key->buf + used, (size_t)n};
        }
    }
    if (rc == 0 && !json_is_string(path))
        __atomic_store_n(&sh->any_path, 1, __ATOMIC_RELAXED);
    if (rc == 0 && mock->answer == 0 && json_is_string(path)) {
        int prc = paths_add(sh, json_string_value(path));
        if (prc == -ENOSPC)
            rc = set_err(err, "sse.eventPath",
                         "more than %d distinct SSE "
                         "paths",
                         SSE_PATHS_MAX);
        else if (prc < 0)
            rc = prc;
    }
    json_decref(sec);
    json_decref(resp);
    return rc;
}

static int explain_miss(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        const doppel_exchange_t *x, char *out, size_t out_len)
{
    sse_shared_t *sh = sse_shared(ctx, svc);
    if (sh == NULL || x->target.ptr == NULL ||
        __atomic_load_n(&sh->any_path, __ATOMIC_RELAXED) ||
        sse_path_known(sh, x->target.ptr, x->target.len))
        return 0;
    snprintf(out, out_len, "no sse mock has an eventPath matching %.*s",
             (int)(x->target.len > 300 ? 300 : x->target.len), x->target.ptr);
    return 1;
}

static const char *const body_conds[] = {"conditions", NULL};
static const char *const meta_conds[] = {"headerConditions", NULL};
static const char *const resp_fields[] = {"sseEventChain", NULL};
/* handed over as written: their data templates render at each change */
static const char *const sec_fields[] = {"onStoreChange", NULL};

const doppel_protocol_def_t sse_protocol_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "sse",
    .flags = DOPPEL_PROTO_F_NO_PROXY,
    .body_conditions = body_conds,
    .meta_conditions = meta_conds,
    .response_fields = resp_fields,
    .status_min = 200,
    .status_max = 599,
    .status_default = 200,
    .check = check,
    .explain_miss = explain_miss,
    .actions = sse_actions,
    .action = sse_action,
    .section_fields = sec_fields,
};
