/*
 * The operator actions of the sse section (protocol.h `actions`), served by
 * the host as /api/v1/protocols/sse/actions/NAME and the MCP tool
 * protocol_action:
 *   subscribers (GET)  {"namespace", "total", "paths": [{"path",
 *                      "subscribers"}]}: the open streams of the namespace
 *                      per request path (?path= keeps one)
 *   publish (POST)     {"path", "data", "event", "id", "retry"}: one event
 *                      to every open stream of that path in the namespace,
 *                      on every worker; answers {"namespace", "path",
 *                      "subscribers"} (the streams open when it was sent)
 * Streams live on the worker loops: the registry (sse_shared_t, under
 * reg_mu) counts them per (namespace, path) and knows each worker's
 * instance; an event goes to each instance through svc->post and is
 * written there between the events of the chains.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_plugin.h"
#include "plugin_json.h"

const doppel_protocol_action_t sse_actions[] = {
    {"subscribers", 0,
     "the open event streams of the namespace per path (?path= for one)"},
    {"publish", 1,
     "sends one event {path, data, event, id, retry} to every open stream "
     "of the path"},
    {NULL, 0, NULL},
};

char *sse_key(doppel_str_t ns, doppel_str_t path)
{
    char *k = malloc(ns.len + path.len + 2);
    if (k == NULL)
        return NULL;
    memcpy(k, ns.ptr, ns.len);
    k[ns.len] = '\x1f';
    memcpy(k + ns.len + 1, path.ptr, path.len);
    k[ns.len + 1 + path.len] = '\0';
    return k;
}

/* ---- the registry -------------------------------------------------------- */

int sse_registry_attach(sse_inst_t *in)
{
    sse_shared_t *sh = in->sh;
    unsigned n = in->svc->worker_count(in->ctx);
    unsigned i = in->svc->worker_index(in->ctx);
    int rc = 0;
    pthread_mutex_lock(&sh->reg_mu);
    if (sh->insts == NULL) {
        sh->insts = calloc(n ? n : 1, sizeof(*sh->insts));
        sh->n_insts = sh->insts ? (n ? n : 1) : 0;
    }
    if (i < sh->n_insts)
        sh->insts[i] = in;
    else
        rc = -ENOMEM;
    pthread_mutex_unlock(&sh->reg_mu);
    return rc;
}

void sse_registry_detach(sse_inst_t *in)
{
    sse_shared_t *sh = in->sh;
    pthread_mutex_lock(&sh->reg_mu);
    for (unsigned i = 0; i < sh->n_insts; i++)
        if (sh->insts[i] == in)
            sh->insts[i] = NULL;
    pthread_mutex_unlock(&sh->reg_mu);
}

/* The entry of key, or NULL (reg_mu held). */
static sse_sub_t *sub_find(sse_shared_t *sh, const char *key)
{
    for (size_t i = 0; i < sh->n_subs; i++)
        if (strcmp(sh->subs[i].key, key) == 0)
            return &sh->subs[i];
    return NULL;
}

void sse_sub_add(sse_shared_t *sh, const char *key)
{
    pthread_mutex_lock(&sh->reg_mu);
    sse_sub_t *e = sub_find(sh, key);
    if (e == NULL && sh->n_subs == sh->cap_subs) {
        size_t cap = sh->cap_subs ? sh->cap_subs * 2 : 16;
        sse_sub_t *p = realloc(sh->subs, cap * sizeof(*p));
        if (p != NULL) {
            sh->subs = p;
            sh->cap_subs = cap;
        }
    }
    if (e == NULL && sh->n_subs < sh->cap_subs) {
        char *k = strdup(key);
        if (k != NULL) {
            e = &sh->subs[sh->n_subs++];
            *e = (sse_sub_t){k, 0};
        }
    }
    if (e != NULL)
        e->count++;
    pthread_mutex_unlock(&sh->reg_mu);
}

void sse_sub_del(sse_shared_t *sh, const char *key)
{
    if (key == NULL)
        return;
    pthread_mutex_lock(&sh->reg_mu);
    sse_sub_t *e = sub_find(sh, key);
    if (e != NULL && --e->count == 0) {
        free(e->key);
        *e = sh->subs[--sh->n_subs]; /* order is not kept */
    }
    pthread_mutex_unlock(&sh->reg_mu);
}

/* ---- answers ------------------------------------------------------------- */

/* A request path as the plugin serves it: "/" then no NUL, at most
 * SSE_PATH_MAX bytes. */
static int path_ok(const json_t *p)
{
    const char *s = json_string_value(p);
    size_t n = json_string_length(p);
    return s != NULL && n > 0 && n <= SSE_PATH_MAX && s[0] == '/' &&
           strlen(s) == n;
}

/* ---- subscribers --------------------------------------------------------- */

static int subscribers(const doppel_services_t *svc, sse_shared_t *sh,
                       doppel_str_t ns, const json_t *args, char **out,
                       size_t *out_len)
{
    const json_t *only = json_object_get(args, "path");
    if (only != NULL && !path_ok(only))
        return dpj_refuse(svc, "path",
                      "path: expected a request path starting with /", out,
                      out_len);
    json_t *paths = json_array();
    json_int_t total = 0;
    pthread_mutex_lock(&sh->reg_mu);
    for (size_t i = 0; paths && i < sh->n_subs; i++) {
        const char *k = sh->subs[i].key, *sep = strchr(k, '\x1f');
        if (sep == NULL || (size_t)(sep - k) != ns.len ||
            memcmp(k, ns.ptr, ns.len) != 0)
            continue;
        if (only && strcmp(sep + 1, json_string_value(only)) != 0)
            continue;
        total += sh->subs[i].count;
        json_array_append_new(paths,
                              json_pack("{s:s, s:I}", "path", sep + 1,
                                        "subscribers",
                                        (json_int_t)sh->subs[i].count));
    }
    pthread_mutex_unlock(&sh->reg_mu);
    return dpj_answer(svc,
                  paths ? json_pack("{s:s%, s:I, s:o}", "namespace", ns.ptr,
                                    ns.len, "total", total, "paths", paths)
                        : NULL,
                  200, out, out_len);
}

/* ---- publish ------------------------------------------------------------- */

/* One event on its way to one worker's instance. */
typedef struct delivery {
    sse_shared_t *sh;
    unsigned worker;
    char *key;
    sse_buf_t frame;
} delivery_t;

static void delivery_free(delivery_t *d)
{
    free(d->key);
    sse_buf_free(&d->frame);
    free(d);
}

/* On the worker's loop: the instance is looked up again, since it may
 * have gone (destroy runs on this loop too, so it cannot go meanwhile). */
static void deliver(void *data)
{
    delivery_t *d = data;
    sse_shared_t *sh = d->sh;
    sse_inst_t *in = NULL;
    pthread_mutex_lock(&sh->reg_mu);
    if (d->worker < sh->n_insts)
        in = sh->insts[d->worker];
    pthread_mutex_unlock(&sh->reg_mu);
    if (in != NULL && !in->stopping) {
        size_t n = sse_push_key(in, d->key, d->frame.p, d->frame.len);
        if (n > 0)
            (void)in->svc->metric_add(in->ctx, "events", NULL, n);
    }
    delivery_free(d);
}

static int publish(const doppel_services_t *svc, sse_shared_t *sh,
                   doppel_str_t ns, const json_t *args, char **out,
                   size_t *out_len)
{
    const json_t *path = json_object_get(args, "path");
    const json_t *data = json_object_get(args, "data");
    const json_t *event = json_object_get(args, "event");
    const json_t *id = json_object_get(args, "id");
    const json_t *retry = json_object_get(args, "retry");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v)
    {
        if (strcmp(k, "path") && strcmp(k, "data") && strcmp(k, "event") &&
            strcmp(k, "id") && strcmp(k, "retry")) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "%.64s: unknown member (expected path, data, event, id, "
                     "retry)",
                     k);
            return dpj_refuse(svc, k, msg, out, out_len);
        }
    }
    if (!path_ok(path))
        return dpj_refuse(svc, "path",
                      "path: required, the request path of the streams "
                      "(\"/events/deploy\")",
                      out, out_len);
    if (data == NULL)
        return dpj_refuse(svc, "data", "data: required, any JSON (a string is "
                                   "sent as is)",
                      out, out_len);
    if (event != NULL && (!json_is_string(event) ||
                          json_string_length(event) > 256))
        return dpj_refuse(svc, "event", "event: expected a string of at most "
                                    "256 bytes",
                      out, out_len);
    if (id != NULL && (!json_is_string(id) ||
                       json_string_length(id) > SSE_ID_MAX))
        return dpj_refuse(svc, "id", "id: expected a string of at most 256 bytes",
                      out, out_len);
    if (retry != NULL && (!json_is_integer(retry) ||
                          json_integer_value(retry) < 0 ||
                          json_integer_value(retry) > 86400000))
        return dpj_refuse(svc, "retry", "retry: expected milliseconds, 0 to "
                                    "86400000",
                      out, out_len);
    size_t dlen = 0;
    char *text = sse_data_text(data, &dlen);
    if (text == NULL)
        return -ENOMEM;
    if (dlen > SSE_CHAIN_BYTES_MAX) {
        free(text);
        return dpj_refuse(svc, "data", "data: at most 8 MiB as text", out,
                      out_len);
    }
    sse_buf_t frame = {0};
    int rc = sse_frame_event(
        &frame, event ? json_string_value(event) : "",
        event ? json_string_length(event) : 0,
        id ? json_string_value(id) : NULL, id ? json_string_length(id) : 0,
        retry ? (int64_t)json_integer_value(retry) : -1, text, dlen);
    free(text);
    doppel_str_t p = {json_string_value(path), json_string_length(path)};
    char *key = rc == 0 ? sse_key(ns, p) : NULL;
    if (key == NULL) {
        sse_buf_free(&frame);
        return -ENOMEM;
    }
    json_int_t open = 0;
    pthread_mutex_lock(&sh->reg_mu);
    sse_sub_t *e = sub_find(sh, key);
    open = e ? e->count : 0;
    for (unsigned w = 0; open > 0 && w < sh->n_insts; w++) {
        sse_inst_t *in = sh->insts[w];
        if (in == NULL)
            continue;
        delivery_t *d = calloc(1, sizeof(*d));
        if (d != NULL && (d->key = strdup(key)) != NULL &&
            sse_buf_put(&d->frame, frame.p, frame.len) == 0) {
            d->sh = sh;
            d->worker = w;
            if (in->svc->post(in->ctx, deliver, d) == 0)
                continue;
        }
        if (d != NULL)
            delivery_free(d);
    }
    pthread_mutex_unlock(&sh->reg_mu);
    free(key);
    sse_buf_free(&frame);
    return dpj_answer(svc,
                  json_pack("{s:s%, s:s%, s:I}", "namespace", ns.ptr, ns.len,
                            "path", p.ptr, p.len, "subscribers", open),
                  200, out, out_len);
}

int sse_action(doppel_ctx_t *ctx, const doppel_services_t *svc,
               doppel_str_t ns, const char *name, const char *args,
               size_t args_len, char **out, size_t *out_len)
{
    sse_shared_t *sh = sse_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *a = json_loadb(args, args_len, 0, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return -EPROTO;
    }
    int rc = strcmp(name, "publish") == 0
                 ? publish(svc, sh, ns, a, out, out_len)
                 : subscribers(svc, sh, ns, a, out, out_len);
    json_decref(a);
    return rc;
}
