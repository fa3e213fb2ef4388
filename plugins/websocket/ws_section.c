/*
 * The "socket" mock section, the shared state and the operator actions.
 *
 * check accepts {"serverName", "event", "namespace", "conditions"} (the
 * platforms' wire contract) and doppel's own "path" (the WebSocket path,
 * a route as on http: ":name" one segment, "*" one segment, or at the end
 * one or more); every other member is a 400 naming it. The mock is indexed
 * under operation = event ("message" when absent) and target = the path
 * (the option `endpoint` when absent), and the path joins the known
 * routes the classifier compares upgrades with. The response members
 * messages, close, broadcast, schedule, join and leave are checked for
 * their shapes (strings may be templates, rendered per message).
 *
 * Actions (connections, send, close) run on admin threads: they read the
 * registry under sh->mu and hand sends and closes to the loops that own
 * the connections as jobs (svc->post), waiting at most ACTION_WAIT_MS for
 * them to say how many connections they reached.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_json.h"
#include "sio_server.h"

#define ACTION_WAIT_MS 2000

static void set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

static void set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                    ...)
{
    if (e == NULL)
        return;
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* ---- routes -----------------------------------------------------------------
 */

/* A path a WebSocket mock may name: absolute, no query, no whitespace, no
 * "//", not ending in '/' (except "/" itself). */
static int path_ok(const char *p)
{
    size_t l = strlen(p);
    if (l == 0 || l > WS_PATH_MAX || p[0] != '/')
        return 0;
    if (l > 1 && p[l - 1] == '/')
        return 0;
    if (strstr(p, "//") != NULL || strstr(p, "/../") != NULL)
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == '?' || c == '#' || c == '%' || c == '\\' ||
            c >= 0x7f)
            return 0;
    }
    return 1;
}

int ws_route_known(ws_shared_t *sh, const char *path, size_t len)
{
    int found = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < sh->n_routes && !found; i++)
        found = ws_route_match(sh->routes[i], path, len);
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static int route_add(ws_shared_t *sh, const char *p)
{
    int rc = 0;
    pthread_mutex_lock(&sh->mu);
    size_t i = 0;
    while (i < sh->n_routes && strcmp(sh->routes[i], p) != 0)
        i++;
    if (i == sh->n_routes) {
        char **v = sh->n_routes < WS_ROUTES_MAX
                       ? realloc(sh->routes, (sh->n_routes + 1) * sizeof(*v))
                       : NULL;
        char *d = v ? strdup(p) : NULL;
        if (v)
            sh->routes = v;
        if (d)
            sh->routes[sh->n_routes++] = d;
        else
            rc = sh->n_routes >= WS_ROUTES_MAX ? -ENOSPC : -ENOMEM;
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- shared state -----------------------------------------------------------
 */

static void shared_destroy(void *state)
{
    ws_shared_t *sh = state;
    if (sh == NULL)
        return;
    for (size_t i = 0; i < sh->n_routes; i++)
        free(sh->routes[i]);
    free(sh->routes);
    for (size_t i = 0; i < sh->n_sio_nsps; i++)
        free(sh->sio_nsps[i]);
    free(sh->sio_nsps);
    free(sh->endpoint);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

static void *shared_create(void *arg)
{
    const char *endpoint = arg;
    ws_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return NULL;
    pthread_mutex_init(&sh->mu, NULL);
    sh->endpoint =
        strdup(endpoint && endpoint[0] ? endpoint : WS_DEFAULT_ENDPOINT);
    if (sh->endpoint == NULL) {
        shared_destroy(sh);
        return NULL;
    }
    if (!path_ok(sh->endpoint))
        snprintf(sh->cfg_err, sizeof(sh->cfg_err),
                 "endpoint '%s': expected an absolute path like /ws (no "
                 "query, no trailing '/')",
                 sh->endpoint);
    else if (route_add(sh, sh->endpoint) < 0) {
        shared_destroy(sh);
        return NULL;
    }
    return sh;
}

ws_shared_t *ws_shared(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    return svc->shared(ctx, shared_create, shared_destroy,
                       (void *)svc->option_str(ctx, "endpoint"));
}

/* ---- jobs -------------------------------------------------------------------
 */

void ws_wait_unref(ws_wait_t *w)
{
    pthread_mutex_lock(&w->mu);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        free(w);
    }
}

static void job_free(ws_job_t *j)
{
    free(j->data);
    free(j->t.path);
    free(j->t.room);
    free(j->t.nsp);
    free(j->event);
    free(j);
}

static ws_job_t *job_copy(const ws_job_t *src)
{
    ws_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    *j = *src;
    j->data = NULL;
    j->t.path = src->t.path ? strdup(src->t.path) : NULL;
    j->t.room = src->t.room ? strdup(src->t.room) : NULL;
    j->t.nsp = src->t.nsp ? strdup(src->t.nsp) : NULL;
    j->event = src->event ? strdup(src->event) : NULL;
    if (src->len)
        j->data = malloc(src->len);
    if ((src->t.path && !j->t.path) || (src->t.room && !j->t.room) ||
        (src->t.nsp && !j->t.nsp) || (src->event && !j->event) ||
        (src->len && !j->data)) {
        job_free(j);
        return NULL;
    }
    if (src->len)
        memcpy(j->data, src->data, src->len);
    return j;
}

static void job_done(ws_wait_t *w, long n)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->count += n;
    w->pending--;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    ws_wait_unref(w);
}

static void job_run(void *data)
{
    ws_job_t *j = data;
    pthread_mutex_lock(&j->sh->mu);
    ws_inst_t *in = j->sh->insts[j->worker];
    pthread_mutex_unlock(&j->sh->mu);
    /* in, if still there, is this loop's own instance: destroy runs here */
    long n = in ? ws_conn_serve_job(in, j) + sio_serve_job(in, j) : 0;
    job_done(j->wait, n);
    job_free(j);
}

long ws_jobs_post(ws_shared_t *sh, const doppel_services_t *svc,
                  ws_inst_t *self, const ws_job_t *job)
{
    pthread_mutex_lock(&sh->mu);
    for (unsigned w = 0; w < WS_WORKERS_MAX; w++) {
        ws_inst_t *in = sh->insts[w];
        if (in == NULL || in == self)
            continue;
        ws_job_t *j = job_copy(job);
        if (j == NULL)
            continue;
        j->sh = sh;
        j->worker = w;
        if (j->wait) {
            pthread_mutex_lock(&j->wait->mu);
            j->wait->pending++;
            j->wait->refs++;
            pthread_mutex_unlock(&j->wait->mu);
        }
        if (svc->post(in->ctx, job_run, j) < 0) {
            job_done(j->wait, 0);
            job_free(j);
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return self ? ws_conn_serve_job(self, job) + sio_serve_job(self, job) : 0;
}

/* ---- the mock section
 * -------------------------------------------------------- */

static int check_cond_shape(const json_t *v, doppel_check_error_t *err)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        set_err(err, "socket.conditions", "%s",
                "expected an array of conditions {path, assertAction, "
                "value}");
        return -EINVAL;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(v, i, c) if (!json_is_object(c))
    {
        char f[48];
        snprintf(f, sizeof(f), "socket.conditions[%zu]", i);
        set_err(err, f, "%s",
                "expected a condition {path, assertAction, value}");
        return -EINVAL;
    }
    return 0;
}

/* A number of milliseconds (or a template string) at least min. */
static int ms_ok(const json_t *v, long long min)
{
    if (v == NULL || json_is_string(v))
        return 1;
    return json_is_integer(v) && json_integer_value(v) >= min &&
           json_integer_value(v) <= 86400000LL;
}

static int b64_ok(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    if (strchr(s, '$') != NULL) /* a template: checked when it is sent */
        return 1;
    uint8_t *d = NULL;
    size_t l;
    int rc = ws_b64_decode(s, json_string_length(v), &d, &l);
    free(d);
    return rc == 0;
}

/* A message member {data | binary, delay}; f is its field name. */
static int check_message(const json_t *m, const char *f, int delay,
                         doppel_check_error_t *err)
{
    char g[96];
    if (!json_is_object(m)) {
        set_err(err, f, "%s", "expected an object {data, delay, binary}");
        return -EINVAL;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (strcmp(k, "data") == 0 || (delay && strcmp(k, "delay") == 0) ||
            strcmp(k, "binary") == 0 || strcmp(k, "event") == 0 ||
            (!delay && (strcmp(k, "every") == 0 || strcmp(k, "count") == 0)))
            continue;
        snprintf(g, sizeof(g), "%s.%s", f, k);
        set_err(err, g, "unknown member: expected %s",
                delay ? "data, delay, binary, event"
                      : "every, count, data, binary, event");
        return -EINVAL;
    }
    const json_t *bin = json_object_get(m, "binary");
    if (bin && json_object_get(m, "data")) {
        snprintf(g, sizeof(g), "%s.binary", f);
        set_err(err, g, "%s", "either data or binary, not both");
        return -EINVAL;
    }
    if (bin && !b64_ok(bin)) {
        snprintf(g, sizeof(g), "%s.binary", f);
        set_err(err, g, "%s", "expected the message's bytes in base64");
        return -EINVAL;
    }
    if (!bin && json_object_get(m, "data") == NULL) {
        snprintf(g, sizeof(g), "%s.data", f);
        set_err(err, g, "%s", "required: the message to send (or binary)");
        return -EINVAL;
    }
    const json_t *ev = json_object_get(m, "event");
    if (ev && (!json_is_string(ev) || json_string_length(ev) == 0 ||
               json_string_length(ev) > 128)) {
        snprintf(g, sizeof(g), "%s.event", f);
        set_err(err, g, "%s", "the socket.io event name (1 to 128 bytes)");
        return -EINVAL;
    }
    if (!ms_ok(json_object_get(m, "delay"), 0)) {
        snprintf(g, sizeof(g), "%s.delay", f);
        set_err(err, g, "%s", "milliseconds, 0 to 86400000");
        return -EINVAL;
    }
    return 0;
}

static int check_rooms(const json_t *v, const char *f,
                       doppel_check_error_t *err)
{
    if (v == NULL)
        return 0;
    int ok = json_is_string(v) && json_string_length(v) > 0 &&
             json_string_length(v) <= WS_ROOM_MAX;
    if (json_is_array(v)) {
        size_t i;
        const json_t *r;
        ok = json_array_size(v) <= WS_ROOMS_MAX;
        json_array_foreach(v, i, r) ok = ok && json_is_string(r) &&
                                         json_string_length(r) > 0 &&
                                         json_string_length(r) <= WS_ROOM_MAX;
    }
    if (!ok)
        set_err(err, f, "a room name (1 to %d bytes) or an array of them",
                WS_ROOM_MAX);
    return ok ? 0 : -EINVAL;
}

static int check_schedule(const json_t *s, const char *f,
                          doppel_check_error_t *err)
{
    char g[96];
    if (check_message(s, f, 0, err) < 0)
        return -EINVAL;
    const json_t *every = json_object_get(s, "every");
    if (every == NULL || !ms_ok(every, WS_EVERY_MIN)) {
        snprintf(g, sizeof(g), "%s.every", f);
        set_err(err, g,
                "required: the period in milliseconds, %d to "
                "86400000",
                WS_EVERY_MIN);
        return -EINVAL;
    }
    const json_t *count = json_object_get(s, "count");
    if (count && !json_is_string(count) &&
        !(json_is_integer(count) && json_integer_value(count) >= 0)) {
        snprintf(g, sizeof(g), "%s.count", f);
        set_err(err, g, "%s",
                "pushes in all, 0 (the default) until the "
                "connection ends");
        return -EINVAL;
    }
    return 0;
}

static int check_response(const json_t *resp, doppel_check_error_t *err)
{
    if (!json_is_object(resp))
        return 0;
    const json_t *ev = json_object_get(resp, "event");
    if (ev && (!json_is_string(ev) || json_string_length(ev) == 0 ||
               json_string_length(ev) > 128)) {
        set_err(err, "response.event", "%s",
                "the socket.io event the payload is emitted as (1 to 128 "
                "bytes)");
        return -EINVAL;
    }
    const json_t *msgs = json_object_get(resp, "messages");
    if (msgs && !json_is_array(msgs)) {
        set_err(err, "response.messages", "%s",
                "expected an array of {data, delay, binary}");
        return -EINVAL;
    }
    size_t i;
    const json_t *m;
    char f[64];
    json_array_foreach(msgs, i, m)
    {
        snprintf(f, sizeof(f), "response.messages[%zu]", i);
        if (check_message(m, f, 1, err) < 0)
            return -EINVAL;
    }
    const json_t *cl = json_object_get(resp, "close");
    if (cl) {
        const json_t *code = json_object_get(cl, "code");
        const json_t *why = json_object_get(cl, "reason");
        if (!json_is_object(cl)) {
            set_err(err, "response.close", "%s", "expected {code, reason}");
            return -EINVAL;
        }
        if (code && !json_is_string(code) &&
            !(json_is_integer(code) &&
              ws_close_code_valid((unsigned)json_integer_value(code)))) {
            set_err(err, "response.close.code", "%s",
                    "a close code a server may send: 1000-1003, 1007-1011, "
                    "3000-4999");
            return -EINVAL;
        }
        if (why && (!json_is_string(why) || json_string_length(why) > 123)) {
            set_err(err, "response.close.reason", "%s",
                    "a string of at most 123 bytes");
            return -EINVAL;
        }
        if (!ms_ok(json_object_get(cl, "delay"), 0)) {
            set_err(err, "response.close.delay", "%s",
                    "milliseconds, 0 to 86400000");
            return -EINVAL;
        }
    }
    const json_t *bc = json_object_get(resp, "broadcast");
    if (bc && !json_is_boolean(bc) &&
        !(json_is_object(bc) && json_object_size(bc) == 1 &&
          json_is_string(json_object_get(bc, "room")))) {
        set_err(err, "response.broadcast", "%s",
                "true (every connection of the path) or {\"room\": name}");
        return -EINVAL;
    }
    const json_t *sch = json_object_get(resp, "schedule");
    if (json_is_array(sch)) {
        if (json_array_size(sch) > WS_SCHEDULES_MAX) {
            set_err(err, "response.schedule", "at most %d schedules",
                    WS_SCHEDULES_MAX);
            return -EINVAL;
        }
        json_array_foreach(sch, i, m)
        {
            snprintf(f, sizeof(f), "response.schedule[%zu]", i);
            if (check_schedule(m, f, err) < 0)
                return -EINVAL;
        }
    } else if (sch && check_schedule(sch, "response.schedule", err) < 0) {
        return -EINVAL;
    }
    if (check_rooms(json_object_get(resp, "join"), "response.join", err) < 0 ||
        check_rooms(json_object_get(resp, "leave"), "response.leave", err) < 0)
        return -EINVAL;
    return 0;
}

static int check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                 const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                 doppel_check_error_t *err)
{
    ws_shared_t *sh = ws_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, NULL);
    json_t *resp = json_loadb(mock->response.ptr, mock->response.len, 0, NULL);
    int rc = -EINVAL;
    if (!json_is_object(sec)) {
        set_err(err, "socket", "%s",
                "expected an object {path, event, conditions, serverName, "
                "namespace}");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(sec, k, v)
    {
        static const char *const known[] = {"serverName", "event", "namespace",
                                            "conditions", "path",  NULL};
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (known[i] == NULL) {
            char f[160];
            snprintf(f, sizeof(f), "socket.%.120s", k);
            set_err(err, f, "%s",
                    "unknown member: expected path, event, conditions, "
                    "serverName, namespace");
            goto out;
        }
    }
    int bad = 0;
    const char *event = dpj_opt_string(sec, "event", &bad);
    if (bad || (event && strlen(event) > 128)) {
        set_err(err, "socket.event", "%s",
                "the message kind the mock answers (1 to 128 bytes): the "
                "message's \"event\" or \"type\", \"message\", \"connect\" "
                "or \"close\"");
        goto out;
    }
    const char *path = dpj_opt_string(sec, "path", &bad);
    if (bad || (path && !path_ok(path))) {
        set_err(err, "socket.path", "%s",
                "the WebSocket path, absolute (\"/ws/chat\", \"/rooms/:id\"), "
                "without a query or a trailing '/'");
        goto out;
    }
    (void)dpj_opt_string(sec, "serverName", &bad);
    if (bad) {
        set_err(err, "socket.serverName", "%s", "a non-empty string");
        goto out;
    }
    const char *nsp = dpj_opt_string(sec, "namespace", &bad);
    char nspb[SIO_NSP_MAX + 2];
    if (!bad && nsp) {
        /* "chat" is taken as "/chat", the name socket.io clients send */
        snprintf(nspb, sizeof(nspb), "%s%s", nsp[0] == '/' ? "" : "/", nsp);
        nsp = nspb;
    }
    if (bad || (nsp && !sio_nsp_name_ok(nsp))) {
        set_err(err, "socket.namespace", "%s",
                "a socket.io namespace such as \"/chat\" (\"/\" then "
                "segments of A-Z a-z 0-9 . _ ~ -)");
        goto out;
    }
    if (nsp && path) {
        set_err(err, "socket.path", "%s",
                "a socket.io mock (with namespace) takes no path: path is "
                "the plain WebSocket's");
        goto out;
    }
    if (check_cond_shape(json_object_get(sec, "conditions"), err) < 0 ||
        check_response(resp, err) < 0)
        goto out;
    if (event == NULL)
        event = "message";
    char target[WS_PATH_MAX + SIO_NSP_MAX + 4];
    const char *sio_path = svc->option_str(ctx, "socketio_path");
    if (nsp && strcmp(nsp, "/") != 0) {
        if (sio_nsp_target(sh->endpoint, sio_path ? sio_path : SIO_DEFAULT_PATH,
                           nsp, target, sizeof(target)) == 0) {
            set_err(err, "socket.namespace", "%s", "too long");
            goto out;
        }
        path = target;
    }
    /* the mocks of socket.io's main namespace are those of the endpoint */
    int main_nsp = path == NULL;
    if (path == NULL)
        path = sh->endpoint;
    int n = snprintf(key->buf, sizeof(key->buf), "%s", event);
    int tn = snprintf(key->buf + n + 1, sizeof(key->buf) - (size_t)n - 1, "%s",
                      path);
    key->operation = (doppel_str_t){key->buf, (size_t)n};
    key->target = (doppel_str_t){key->buf + n + 1, (size_t)tn};
    const char *srv = json_string_value(json_object_get(sec, "serverName"));
    size_t used = (size_t)n + 1 + (size_t)tn + 1;
    if (srv && strlen(srv) < sizeof(key->buf) - used) {
        memcpy(key->buf + used, srv, strlen(srv) + 1);
        key->server = (doppel_str_t){key->buf + used, strlen(srv)};
    }
    if (mock->answer == 0 && (nsp || main_nsp)) {
        int ar = sio_nsp_add(sh, nsp ? nsp : "/");
        if (ar == -ENOSPC) {
            set_err(err, "socket.namespace", "%s",
                    "too many distinct socket.io namespaces");
            goto out;
        }
        if (ar < 0) {
            rc = ar;
            goto out;
        }
    }
    if (mock->answer == 0 && !(nsp && strcmp(nsp, "/") != 0)) {
        int ar = route_add(sh, path);
        if (ar == -ENOSPC) {
            set_err(err, "socket.path",
                    "more than %d distinct WebSocket "
                    "paths",
                    WS_ROUTES_MAX);
            goto out;
        }
        if (ar < 0) {
            rc = ar;
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(sec);
    json_decref(resp);
    return rc;
}

/* ---- actions ----------------------------------------------------------------
 */

/* The connection id of args (a number, or digits as a GET gives them);
 * 0: none; -1: malformed. */
static long long arg_id(const json_t *a)
{
    const json_t *v = json_object_get(a, "connection");
    if (v == NULL)
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
    if (!json_is_string(v))
        return -1;
    char *end;
    long long x = strtoll(json_string_value(v), &end, 10);
    return *end == '\0' && x > 0 ? x : -1;
}

static int act_connections(const doppel_services_t *svc, ws_shared_t *sh,
                           const ws_target_t *t, char **out, size_t *out_len)
{
    json_t *list = json_array();
    if (list == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    for (ws_conn_t *c = sh->conns; c; c = ws_conn_reg_next(c))
        if (t->nsp == NULL && ws_conn_targeted(c, t))
            json_array_append_new(list, ws_conn_describe(c));
    sio_describe(sh, t, list);
    pthread_mutex_unlock(&sh->mu);
    return dpj_answer(svc, json_pack("{s:o}", "connections", list), 200, out,
                       out_len);
}

/* Posts job to every loop and waits (bounded) for the count. */
static long run_jobs(const doppel_services_t *svc, ws_shared_t *sh,
                     ws_job_t *job)
{
    ws_wait_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->refs = 1;
    job->wait = w;
    (void)ws_jobs_post(sh, svc, NULL, job);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ACTION_WAIT_MS / 1000;
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0 &&
           pthread_cond_timedwait(&w->cond, &w->mu, &until) == 0)
        ;
    long n = w->count;
    pthread_mutex_unlock(&w->mu);
    ws_wait_unref(w);
    return n;
}

static int action(doppel_ctx_t *ctx, const doppel_services_t *svc,
                  doppel_str_t ns, const char *name, const char *args,
                  size_t args_len, char **out, size_t *out_len)
{
    ws_shared_t *sh = ws_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *a = json_loadb(args, args_len, 0, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return dpj_refuse(svc, "", "expected a JSON object", out, out_len);
    }
    int rc;
    ws_job_t job = {0};
    snprintf(job.t.ns, sizeof(job.t.ns), "%.*s", (int)ns.len, ns.ptr);
    const json_t *path = json_object_get(a, "path");
    long long id = arg_id(a);
    if (path && !json_is_string(path)) {
        rc = dpj_refuse(svc, "path", "path: expected the WebSocket path", out,
                     out_len);
        goto out;
    }
    if (id < 0) {
        rc = dpj_refuse(svc, "connection",
                     "connection: expected an id from the connections "
                     "action",
                     out, out_len);
        goto out;
    }
    job.t.path = path ? (char *)json_string_value(path) : NULL;
    job.t.id = (uint64_t)id;
    /* socket.io: nsp (a socket.io namespace) picks sockets, event names
     * what send emits, drop makes close end the whole connection */
    const json_t *nsp = json_object_get(a, "nsp");
    const json_t *event = json_object_get(a, "event");
    const json_t *drop = json_object_get(a, "drop");
    if (nsp && (!json_is_string(nsp) ||
                !sio_nsp_valid(json_string_value(nsp), json_string_length(nsp)))) {
        rc = dpj_refuse(svc, "nsp", "nsp: a socket.io namespace such as \"/chat\"",
                        out, out_len);
        goto out;
    }
    if (event && (!json_is_string(event) || json_string_length(event) == 0 ||
                  json_string_length(event) > 128)) {
        rc = dpj_refuse(svc, "event", "event: the event name (1 to 128 bytes)",
                        out, out_len);
        goto out;
    }
    if (drop && !json_is_boolean(drop)) {
        rc = dpj_refuse(svc, "drop", "drop: true or false", out, out_len);
        goto out;
    }
    job.t.nsp = nsp ? (char *)json_string_value(nsp) : NULL;
    job.event = event ? (char *)json_string_value(event) : NULL;
    job.drop = json_is_true(drop);
    if (strcmp(name, "connections") == 0) {
        rc = act_connections(svc, sh, &job.t, out, out_len);
        goto out;
    }
    if (path == NULL && id == 0 && nsp == NULL) {
        rc = dpj_refuse(svc, "path",
                     "path, nsp or connection: which connections to reach", out,
                     out_len);
        goto out;
    }
    if (strcmp(name, "send") == 0) {
        const json_t *bin = json_object_get(a, "binary");
        const json_t *data = json_object_get(a, "data");
        uint8_t *d = NULL;
        size_t len = 0;
        if (bin) {
            if (!json_is_string(bin) ||
                ws_b64_decode(json_string_value(bin), json_string_length(bin),
                              &d, &len) < 0) {
                rc = dpj_refuse(svc, "binary",
                             "binary: expected the message's bytes in base64",
                             out, out_len);
                goto out;
            }
            job.opcode = WS_OP_BINARY;
        } else if (data) {
            char *t = json_is_string(data)
                          ? strdup(json_string_value(data))
                          : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
            if (t == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            d = (uint8_t *)t;
            len = json_is_string(data) ? json_string_length(data) : strlen(t);
            job.opcode = WS_OP_TEXT;
        } else {
            rc = dpj_refuse(svc, "data", "data (or binary): the message to send",
                         out, out_len);
            goto out;
        }
        job.kind = WS_JOB_SEND;
        job.data = d;
        job.len = len;
        long n = run_jobs(svc, sh, &job);
        free(d);
        rc = n < 0 ? (int)n
                   : dpj_answer(svc, json_pack("{s:I}", "sent", (json_int_t)n),
                                 200, out, out_len);
    } else {
        const json_t *code = json_object_get(a, "code");
        const json_t *why = json_object_get(a, "reason");
        long long cv = WS_CLOSE_NORMAL;
        if (json_is_integer(code))
            cv = json_integer_value(code);
        else if (json_is_string(code))
            cv = strtoll(json_string_value(code), NULL, 10);
        else if (code)
            cv = -1;
        if (cv < 0 || cv > 4999 || !ws_close_code_valid((unsigned)cv)) {
            rc = dpj_refuse(svc, "code",
                         "code: a close code a server may send: 1000-1003, "
                         "1007-1011, 3000-4999",
                         out, out_len);
            goto out;
        }
        if (why && (!json_is_string(why) || json_string_length(why) > 123)) {
            rc = dpj_refuse(svc, "reason", "reason: at most 123 bytes of text",
                         out, out_len);
            goto out;
        }
        job.kind = WS_JOB_CLOSE;
        job.code = (unsigned)cv;
        snprintf(job.reason, sizeof(job.reason), "%s",
                 why ? json_string_value(why) : "");
        long n = run_jobs(svc, sh, &job);
        rc = n < 0
                 ? (int)n
                 : dpj_answer(svc, json_pack("{s:I}", "closed", (json_int_t)n),
                               200, out, out_len);
    }
out:
    json_decref(a);
    return rc;
}

static const doppel_protocol_action_t ws_actions[] = {
    {"connections", 0,
     "the open WebSocket connections and socket.io sockets of the "
     "namespace (args: path, nsp, connection)"},
    {"send", 1,
     "sends a message to connections (args: path, nsp or connection, data "
     "or binary base64; event: the socket.io event name)"},
    {"close", 1,
     "closes connections with a close frame, socket.io sockets with a "
     "DISCONNECT (args: path, nsp or connection, code, reason; drop: end "
     "the socket.io connection itself)"},
    {NULL, 0, NULL},
};

static const char *const body_conds[] = {"conditions", NULL};
static const char *const resp_fields[] = {
    "messages", "close", "broadcast", "schedule", "join", "leave", "event",
    NULL};

const doppel_protocol_def_t ws_protocol_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "socket",
    .flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_NO_PROXY,
    .body_conditions = body_conds,
    .response_fields = resp_fields,
    .status_min = 100,
    .status_max = 599,
    .status_default = 200,
    .check = check,
    .actions = ws_actions,
    .action = action,
};
