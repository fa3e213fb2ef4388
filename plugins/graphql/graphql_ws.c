/*
 * GraphQL over WebSocket: the graphql-transport-ws protocol
 * (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) on the
 * GraphQL paths, and the section's actions publish and subscriptions.
 *
 * A GET with Upgrade: websocket on a GraphQL path (the classifier's known
 * paths, also below the stubs prefix) offering the graphql-transport-ws
 * subprotocol is checked with the codec (ws_codec.h: 400 / 426 refusals,
 * permessage-deflate) and switched with svc->http_upgrade. A client that
 * offers only graphql-ws (the older subscriptions-transport-ws protocol,
 * same name as the graphql-ws library but another protocol) gets a 400
 * saying so: its messages (start, data, stop) are not spoken here.
 *
 * Every "subscribe" is one gqlp_run with transport GQLP_T_WS, so each of
 * its top-level fields is one engine exchange (journal: protocol graphql,
 * operation subscription.FIELD). Queries and mutations answer one "next"
 * and "complete". A subscription answered by a mock sends the mock's
 * payload as its first event, then each of response.subscriptionEvents
 * after its delay, then "complete" unless response.keepOpen is true.
 * Every event after the first runs the operation again with the event's
 * data as the field's value (origin.event_data: no engine exchange), so
 * it is shaped by the selection set, aliases and fragments as the first
 * answer was. A subscription no mock answers is an "error" message with
 * the engine's near misses when fake_missing is off; with it on, one fake
 * event and "complete", as a query would get fake data.
 *
 * Threads: a connection lives on its worker's loop. The registry in the
 * shared state (reg_mu) knows each worker's instance and counts the open
 * subscriptions per (namespace, path, field); publish reaches each worker
 * through svc->post.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graphql_plugin.h"
#include "ws_codec.h"
#include "plugin_json.h"

#define WS_PROTO "graphql-transport-ws"
#define WS_PROTO_LEGACY "graphql-ws"

/* Close codes of graphql-transport-ws (PROTOCOL.md). */
enum {
    GQLWS_INTERNAL = 4500,
    GQLWS_BAD_MESSAGE = 4400,
    GQLWS_UNAUTHORIZED = 4401,
    GQLWS_INIT_TIMEOUT = 4408,
    GQLWS_DUPLICATE = 4409,
    GQLWS_TOO_MANY_INIT = 4429,
};

/* One operation in flight ("subscribe" until "complete"). */
typedef struct ws_sub {
    gqlp_ws_conn_t *c;
    char *id;
    char *key; /* registry key of a subscription, else NULL */
    char *query;
    size_t query_len;
    char *op_name;
    json_t *vars;
    json_t *first;  /* the first "next" payload, until sent */
    json_t *events; /* subscriptionEvents, or NULL */
    size_t idx;     /* next of events */
    int keep_open;
    doppel_timer_t *timer;
    struct ws_sub *next;
} ws_sub_t;

struct gqlp_ws_conn {
    gqlp_inst_t *in;
    doppel_conn_t *conn;
    ws_parser_t *parser;
    ws_encoder_t *enc;
    ws_buf_t out;
    char ns[GQLP_NS_MAX + 1];
    char *path;
    doppel_kv_t *meta; /* the upgrade request's headers, into meta_mem */
    size_t n_meta;
    char *meta_mem;
    char *request_id;
    char *remote;
    char id[24]; /* the journal's "connection" */
    int init_seen;
    int closing;
    json_t *init_payload;
    doppel_timer_t *init_timer;
    ws_sub_t *subs;
    size_t n_subs;
    gqlp_ws_conn_t *prev, *next;
};

/* ---- the registry -------------------------------------------------------- */

int gqlp_ws_attach(gqlp_inst_t *in)
{
    gqlp_shared_t *sh = in->sh;
    const doppel_services_t *svc = in->svc;
    unsigned n =
        DOPPEL_HAS_SERVICE(svc, worker_count) ? svc->worker_count(in->ctx) : 1;
    unsigned i =
        DOPPEL_HAS_SERVICE(svc, worker_index) ? svc->worker_index(in->ctx) : 0;
    int rc = 0;
    if (n == 0)
        n = 1;
    pthread_mutex_lock(&sh->reg_mu);
    if (sh->insts == NULL) {
        sh->insts = calloc(n, sizeof(*sh->insts));
        sh->n_insts = sh->insts ? n : 0;
    }
    if (i < sh->n_insts)
        sh->insts[i] = in;
    else
        rc = -ENOMEM;
    pthread_mutex_unlock(&sh->reg_mu);
    return rc;
}

void gqlp_ws_detach(gqlp_inst_t *in)
{
    gqlp_shared_t *sh = in->sh;
    pthread_mutex_lock(&sh->reg_mu);
    for (unsigned i = 0; i < sh->n_insts; i++)
        if (sh->insts[i] == in)
            sh->insts[i] = NULL;
    pthread_mutex_unlock(&sh->reg_mu);
}

static gqlp_subcount_t *count_find(gqlp_shared_t *sh, const char *key)
{
    for (size_t i = 0; i < sh->n_subs; i++)
        if (strcmp(sh->subs[i].key, key) == 0)
            return &sh->subs[i];
    return NULL;
}

/* Counts one more open subscription under key. -ENOMEM: not counted. */
static int count_add(gqlp_shared_t *sh, const char *key)
{
    int rc = 0;
    pthread_mutex_lock(&sh->reg_mu);
    gqlp_subcount_t *e = count_find(sh, key);
    if (e == NULL && sh->n_subs == sh->cap_subs) {
        size_t cap = sh->cap_subs ? sh->cap_subs * 2 : 16;
        gqlp_subcount_t *p = realloc(sh->subs, cap * sizeof(*p));
        if (p != NULL) {
            sh->subs = p;
            sh->cap_subs = cap;
        }
    }
    if (e == NULL && sh->n_subs < sh->cap_subs) {
        char *k = strdup(key);
        if (k != NULL) {
            e = &sh->subs[sh->n_subs++];
            *e = (gqlp_subcount_t){k, 0};
        }
    }
    if (e != NULL)
        e->count++;
    else
        rc = -ENOMEM;
    pthread_mutex_unlock(&sh->reg_mu);
    return rc;
}

static void count_del(gqlp_shared_t *sh, const char *key)
{
    pthread_mutex_lock(&sh->reg_mu);
    gqlp_subcount_t *e = count_find(sh, key);
    if (e != NULL && --e->count == 0) {
        free(e->key);
        *e = sh->subs[--sh->n_subs]; /* order is not kept */
    }
    pthread_mutex_unlock(&sh->reg_mu);
}

/* "ns\x1fpath\x1ffield" */
static char *sub_key(const char *ns, size_t nl, const char *path, size_t pl,
                     const char *field)
{
    size_t fl = strlen(field);
    char *k = malloc(nl + pl + fl + 3);
    if (k == NULL)
        return NULL;
    memcpy(k, ns, nl);
    k[nl] = '\x1f';
    memcpy(k + nl + 1, path, pl);
    k[nl + 1 + pl] = '\x1f';
    memcpy(k + nl + pl + 2, field, fl + 1);
    return k;
}

/* ---- writing ------------------------------------------------------------- */

static void drop_now(gqlp_ws_conn_t *c);

/* Writes what c->out holds. A client that does not read while events
 * keep coming (publish, short delays) fills the host's queue: past
 * DOPPEL_CONN_QUEUE_MAX the connection is dropped rather than holding
 * ever more memory or losing events silently. */
static void flush_out(gqlp_ws_conn_t *c)
{
    int rc = 0;
    if (c->out.len > 0)
        rc = c->in->svc->conn_write(c->conn, c->out.data, c->out.len, NULL,
                                    NULL);
    c->out.len = 0;
    if (rc == -ENOBUFS) {
        c->in->svc->log(c->in->ctx, DOPPEL_LOG_WARN,
                        "graphql-transport-ws client %s on %s does not read "
                        "its events: dropped",
                        c->remote, c->path);
        drop_now(c);
    }
}

static void close_with(gqlp_ws_conn_t *c, unsigned code, const char *reason);

/* The journal entry of a message sent ("direction": "out", method its
 * type: next, complete, error, connection_ack, pong). */
static void journal_sent(gqlp_ws_conn_t *c, const json_t *msg,
                         const char *txt)
{
    const doppel_services_t *svc = c->in->svc;
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!DOPPEL_HAS_SERVICE(svc, engine_journal) || type == NULL)
        return;
    doppel_journal_note_t n = {
        .size = sizeof(n),
        .kind = DOPPEL_NOTE_SENT,
        .protocol = DOPPEL_STR("graphql"),
        .ns = {c->ns, strlen(c->ns)},
        .event = {type, strlen(type)},
        .path = {c->path, strlen(c->path)},
        .connection = {c->id, strlen(c->id)},
        .body = (const uint8_t *)txt,
        .body_len = strlen(txt),
    };
    (void)svc->engine_journal(c->in->ctx, &n);
}

/* Sends one protocol message (takes msg over). */
static void send_msg(gqlp_ws_conn_t *c, json_t *msg)
{
    if (c->closing) {
        json_decref(msg);
        return;
    }
    char *txt = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (txt != NULL)
        journal_sent(c, msg, txt);
    json_decref(msg);
    if (txt == NULL ||
        ws_encode_message(c->enc, WS_OP_TEXT, (const uint8_t *)txt, strlen(txt),
                          0, 0, &c->out) < 0) {
        free(txt);
        close_with(c, GQLWS_INTERNAL, "Internal error: out of memory");
        return;
    }
    free(txt);
    flush_out(c);
}

static void send_next(gqlp_ws_conn_t *c, const char *id, json_t *payload)
{
    send_msg(c, json_pack("{s:s, s:s, s:O}", "type", "next", "id", id,
                          "payload", payload));
}

static void send_complete(gqlp_ws_conn_t *c, const char *id)
{
    send_msg(c, json_pack("{s:s, s:s}", "type", "complete", "id", id));
}

static void send_error(gqlp_ws_conn_t *c, const char *id, json_t *errors)
{
    send_msg(c, json_pack("{s:s, s:s, s:O}", "type", "error", "id", id,
                          "payload", errors));
}

/* ---- operations ---------------------------------------------------------- */

static void sub_free(ws_sub_t *s)
{
    gqlp_inst_t *in = s->c->in;
    if (s->timer != NULL)
        in->svc->timer_stop(s->timer);
    if (s->key != NULL)
        count_del(in->sh, s->key);
    free(s->id);
    free(s->key);
    free(s->query);
    free(s->op_name);
    json_decref(s->vars);
    json_decref(s->first);
    json_decref(s->events);
    free(s);
}

static void sub_remove(ws_sub_t *s)
{
    gqlp_ws_conn_t *c = s->c;
    for (ws_sub_t **pp = &c->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            c->n_subs--;
            break;
        }
    sub_free(s);
}

static void subs_clear(gqlp_ws_conn_t *c)
{
    while (c->subs != NULL)
        sub_remove(c->subs);
}

static ws_sub_t *sub_find(gqlp_ws_conn_t *c, const char *id)
{
    for (ws_sub_t *s = c->subs; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static gqlp_origin_t conn_origin(const gqlp_ws_conn_t *c)
{
    return (gqlp_origin_t){
        .ns = {c->ns, strlen(c->ns)},
        .path = {c->path, strlen(c->path)},
        .metadata = c->meta,
        .n_metadata = c->n_meta,
        .request_id = {c->request_id, strlen(c->request_id)},
        .remote_addr = {c->remote, strlen(c->remote)},
        .transport = GQLP_T_WS,
        .connection = {c->id, strlen(c->id)},
    };
}

/* The operation run again with data ({"FIELD": value}) as its fields'
 * values: the event shaped by the selection set. NULL: out of memory. */
static json_t *shape_event(ws_sub_t *s, const json_t *data)
{
    gqlp_request_t rq = {
        .query = s->query,
        .query_len = s->query_len,
        .operation_name = s->op_name,
        .variables = s->vars,
    };
    gqlp_origin_t o = conn_origin(s->c);
    o.event_data = data;
    gqlp_result_t r;
    if (gqlp_run(s->c->in, &rq, &o, &r) < 0)
        return NULL;
    json_t *b = json_incref(r.body);
    gqlp_result_clear(&r);
    return b;
}

static void sub_step(ws_sub_t *s);

static void sub_fire(void *data)
{
    ws_sub_t *s = data;
    s->c->in->svc->timer_stop(s->timer);
    s->timer = NULL;
    sub_step(s);
}

/* Waits delay_ms before the next step; 0 (or no timer): steps now.
 * Returns 1 when a timer was set. */
static int sub_wait(ws_sub_t *s, uint32_t delay_ms)
{
    gqlp_inst_t *in = s->c->in;
    if (delay_ms == 0 || in->draining || in->stopping ||
        !DOPPEL_HAS_SERVICE(in->svc, timer_start))
        return 0;
    return in->svc->timer_start(in->ctx, delay_ms, 0, sub_fire, s, &s->timer) ==
           0;
}

static uint32_t event_delay(const json_t *ev)
{
    json_int_t d = json_integer_value(json_object_get(ev, "delay"));
    return d > 0 ? (uint32_t)d : 0;
}

/* Sends what is due: the first answer, then the events one by one (each
 * after its delay), then "complete" unless the subscription stays open. */
static void sub_step(ws_sub_t *s)
{
    gqlp_ws_conn_t *c = s->c;
    for (;;) {
        if (c->closing)
            return;
        if (s->first != NULL) {
            json_t *f = s->first;
            s->first = NULL;
            send_next(c, s->id, f);
            json_decref(f);
        } else if (s->idx < json_array_size(s->events)) {
            json_t *ev = json_array_get(s->events, s->idx++);
            json_t *data =
                json_object_get(json_object_get(ev, "payload"), "data");
            json_t *b = shape_event(s, data);
            if (b == NULL) {
                close_with(c, GQLWS_INTERNAL, "Internal error: out of memory");
                return;
            }
            send_next(c, s->id, b);
            json_decref(b);
        }
        if (c->closing)
            return;
        if (s->idx < json_array_size(s->events)) {
            if (sub_wait(s, event_delay(json_array_get(s->events, s->idx))))
                return;
            continue;
        }
        if (!s->keep_open) {
            send_complete(c, s->id);
            if (!c->closing) /* else dropped, s with the rest */
                sub_remove(s);
        }
        return;
    }
}

/* The errors of a result as an "error" message's payload. */
static void send_result_errors(gqlp_ws_conn_t *c, const char *id,
                               const json_t *body)
{
    json_t *errs = json_object_get(body, "errors");
    if (json_is_array(errs) && json_array_size(errs) > 0) {
        send_error(c, id, errs);
        return;
    }
    json_t *e = json_pack("[{s:s}]", "message", "The operation failed.");
    send_error(c, id, e);
    json_decref(e);
}

static void send_message_error(gqlp_ws_conn_t *c, const char *id,
                               const char *msg)
{
    json_t *e = json_pack("[{s:s}]", "message", msg);
    if (e == NULL) {
        close_with(c, GQLWS_INTERNAL, "Internal error: out of memory");
        return;
    }
    send_error(c, id, e);
    json_decref(e);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A new operation for the result r of id (r's members taken over as
 * needed). -ENOMEM: nothing kept. */
static int sub_start(gqlp_ws_conn_t *c, const char *id,
                     const gqlp_request_t *rq, gqlp_result_t *r)
{
    ws_sub_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->c = c;
    s->id = strdup(id);
    s->first = json_incref(r->body);
    if (s->id == NULL) {
        sub_free(s);
        return -ENOMEM;
    }
    if (r->subscription && r->sub_matched) {
        json_t *ev = json_object_get(r->sub_extra, "subscriptionEvents");
        if (json_is_array(ev) && json_array_size(ev) > 0)
            s->events = json_incref(ev);
        s->keep_open = json_is_true(json_object_get(r->sub_extra, "keepOpen"));
    }
    if (r->subscription) {
        /* later events need the operation again, and publish (and the
         * count) its key */
        s->query = dup_n(rq->query, rq->query_len);
        s->query_len = rq->query_len;
        s->op_name = rq->operation_name ? strdup(rq->operation_name) : NULL;
        s->vars = rq->variables ? json_deep_copy(rq->variables) : NULL;
        s->key = sub_key(c->ns, strlen(c->ns), c->path, strlen(c->path),
                         r->sub_field);
        if (s->query == NULL || s->key == NULL ||
            (rq->operation_name && s->op_name == NULL) ||
            (rq->variables && s->vars == NULL) ||
            count_add(c->in->sh, s->key) < 0) {
            free(s->key);
            s->key = NULL; /* not counted */
            sub_free(s);
            return -ENOMEM;
        }
    }
    s->next = c->subs;
    c->subs = s;
    c->n_subs++;
    if (!sub_wait(s, r->delay_ms))
        sub_step(s);
    return 0;
}

/* "subscribe": {id, payload: {query, variables, operationName,
 * extensions}}. */
static void on_subscribe(gqlp_ws_conn_t *c, const json_t *msg)
{
    gqlp_inst_t *in = c->in;
    if (!c->init_seen) {
        close_with(c, GQLWS_UNAUTHORIZED, "Unauthorized");
        return;
    }
    const json_t *id = json_object_get(msg, "id");
    const json_t *pl = json_object_get(msg, "payload");
    const json_t *q = json_object_get(pl, "query");
    const json_t *vars = json_object_get(pl, "variables");
    const json_t *on = json_object_get(pl, "operationName");
    const json_t *ext = json_object_get(pl, "extensions");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        strlen(json_string_value(id)) != json_string_length(id) ||
        !json_is_object(pl) || !json_is_string(q) ||
        (vars && !json_is_null(vars) && !json_is_object(vars)) ||
        (on && !json_is_null(on) && !json_is_string(on)) ||
        (ext && !json_is_null(ext) && !json_is_object(ext))) {
        close_with(c, GQLWS_BAD_MESSAGE, "Invalid message received");
        return;
    }
    const char *ids = json_string_value(id);
    if (sub_find(c, ids) != NULL) {
        char why[160];
        snprintf(why, sizeof(why), "Subscriber for %.80s already exists", ids);
        close_with(c, GQLWS_DUPLICATE, why);
        return;
    }
    if (c->n_subs >= in->ws_max_subscriptions) {
        char why[200];
        snprintf(why, sizeof(why),
                 "Too many operations in flight on this connection (at most "
                 "%u: option ws_max_subscriptions).",
                 in->ws_max_subscriptions);
        send_message_error(c, ids, why);
        return;
    }
    gqlp_request_t rq = {
        .query = json_string_value(q),
        .query_len = json_string_length(q),
        .operation_name = json_is_string(on) ? json_string_value(on) : NULL,
        .variables = json_is_object(vars) ? vars : NULL,
        .extensions = json_is_object(ext) ? ext : NULL,
    };
    gqlp_origin_t o = conn_origin(c);
    gqlp_result_t r;
    if (gqlp_run(in, &rq, &o, &r) < 0) {
        close_with(c, GQLWS_INTERNAL, "Internal error: out of memory");
        return;
    }
    if (r.request_error ||
        (r.subscription && !r.sub_matched && !in->fake_missing))
        send_result_errors(c, ids, r.body);
    else if (sub_start(c, ids, &rq, &r) < 0)
        close_with(c, GQLWS_INTERNAL, "Internal error: out of memory");
    gqlp_result_clear(&r);
}

static void init_fire(void *data)
{
    gqlp_ws_conn_t *c = data;
    c->in->svc->timer_stop(c->init_timer);
    c->init_timer = NULL;
    if (!c->init_seen)
        close_with(c, GQLWS_INIT_TIMEOUT, "Connection initialisation timeout");
}

static void on_message(gqlp_ws_conn_t *c, const uint8_t *p, size_t len)
{
    json_t *msg = json_loadb((const char *)p, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type == NULL) {
        json_decref(msg);
        close_with(c, GQLWS_BAD_MESSAGE, "Invalid message received");
        return;
    }
    const json_t *pl = json_object_get(msg, "payload");
    if (strcmp(type, "connection_init") == 0) {
        if (c->init_seen) {
            close_with(c, GQLWS_TOO_MANY_INIT,
                       "Too many initialisation requests");
        } else if (pl && !json_is_null(pl) && !json_is_object(pl)) {
            close_with(c, GQLWS_BAD_MESSAGE, "Invalid message received");
        } else {
            c->init_seen = 1;
            c->init_payload = pl ? json_incref((json_t *)pl) : NULL;
            if (c->init_timer != NULL) {
                c->in->svc->timer_stop(c->init_timer);
                c->init_timer = NULL;
            }
            send_msg(c, json_pack("{s:s}", "type", "connection_ack"));
        }
    } else if (strcmp(type, "ping") == 0) {
        json_t *pong = json_pack("{s:s}", "type", "pong");
        if (pong && json_is_object(pl))
            json_object_set(pong, "payload", (json_t *)pl);
        send_msg(c, pong);
    } else if (strcmp(type, "pong") == 0) {
        /* an answer to nothing we sent, or a keep-alive: allowed */
    } else if (strcmp(type, "subscribe") == 0) {
        on_subscribe(c, msg);
    } else if (strcmp(type, "complete") == 0) {
        const char *id = json_string_value(json_object_get(msg, "id"));
        ws_sub_t *s = id ? sub_find(c, id) : NULL;
        if (id == NULL)
            close_with(c, GQLWS_BAD_MESSAGE, "Invalid message received");
        else if (s != NULL)
            sub_remove(s); /* the client stopped it: nothing more is sent */
    } else {
        close_with(c, GQLWS_BAD_MESSAGE, "Invalid message received");
    }
    json_decref(msg);
}

/* ---- the connection ------------------------------------------------------ */

/* Sends a close frame with code and reason, then closes once it is out.
 * Everything in flight stops. */
static void close_with(gqlp_ws_conn_t *c, unsigned code, const char *reason)
{
    if (c->closing)
        return;
    const char *r = reason ? reason : "";
    if (ws_encode_close(c->enc, code, r, strlen(r), &c->out) == 0)
        flush_out(c);
    c->out.len = 0;
    if (c->closing) /* dropped: the close frame did not fit */
        return;
    c->closing = 1;
    if (c->init_timer != NULL) {
        c->in->svc->timer_stop(c->init_timer);
        c->init_timer = NULL;
    }
    subs_clear(c);
    c->in->svc->conn_close(c->conn, DOPPEL_CONN_CLOSE_FLUSH);
}

static void on_event(void *ud, const ws_event_t *ev)
{
    gqlp_ws_conn_t *c = ud;
    if (c->closing)
        return;
    switch (ev->type) {
    case WS_EV_MESSAGE:
        if (ev->opcode != WS_OP_TEXT)
            close_with(c, GQLWS_BAD_MESSAGE,
                       "Invalid message received: graphql-transport-ws "
                       "messages are JSON text");
        else
            on_message(c, ev->data, ev->len);
        break;
    case WS_EV_PING:
        if (ws_encode_control(c->enc, WS_OP_PONG, ev->data, ev->len, &c->out) ==
            0)
            flush_out(c);
        c->out.len = 0;
        break;
    case WS_EV_PONG:
        break;
    case WS_EV_CLOSE:
        /* the peer's code goes back, as RFC 6455 5.5.1 suggests */
        close_with(c, ws_close_code_valid(ev->code) ? ev->code : 0, NULL);
        break;
    case WS_EV_ERROR:
        close_with(c, ev->code, (const char *)ev->data);
        break;
    }
}

static void on_read(void *data, doppel_conn_t *conn, const uint8_t *buf,
                    size_t len)
{
    gqlp_ws_conn_t *c = data;
    (void)conn;
    if (!c->closing)
        (void)ws_parser_feed(c->parser, buf, len);
}

/* Closes at once, nothing more sent: the peer is gone or not reading. */
static void drop_now(gqlp_ws_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->init_timer != NULL) {
        c->in->svc->timer_stop(c->init_timer);
        c->init_timer = NULL;
    }
    subs_clear(c);
    c->in->svc->conn_close(c->conn, DOPPEL_CONN_CLOSE_NOW);
}

static void on_end(void *data, doppel_conn_t *conn, int rc)
{
    (void)conn;
    (void)rc;
    drop_now(data);
}

static void conn_free(gqlp_ws_conn_t *c)
{
    subs_clear(c);
    if (c->init_timer != NULL)
        c->in->svc->timer_stop(c->init_timer);
    ws_parser_free(c->parser);
    ws_encoder_free(c->enc);
    ws_buf_free(&c->out);
    json_decref(c->init_payload);
    free(c->path);
    free(c->meta);
    free(c->meta_mem);
    free(c->request_id);
    free(c->remote);
    free(c);
}

static void conn_unlink(gqlp_ws_conn_t *c)
{
    gqlp_inst_t *in = c->in;
    if (c->prev)
        c->prev->next = c->next;
    else if (in->ws_conns == c)
        in->ws_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_gone(gqlp_ws_conn_t *c)
{
    gqlp_inst_t *in = c->in;
    conn_unlink(c);
    conn_free(c);
    in->n_ws--;
    gqlp_maybe_stop_done(in);
}

static void on_close(void *data, doppel_conn_t *conn)
{
    (void)conn;
    conn_gone(data);
}

static int on_accept(void *state, doppel_conn_t *conn,
                     const doppel_conn_info_t *info)
{
    gqlp_ws_conn_t *c = state;
    gqlp_inst_t *in = c->in;
    (void)info;
    if (conn == NULL) { /* the switch was lost */
        conn_gone(c);
        return 0;
    }
    c->conn = conn;
    c->next = in->ws_conns;
    if (in->ws_conns)
        in->ws_conns->prev = c;
    in->ws_conns = c;
    doppel_conn_cbs_t cbs = {
        .size = sizeof(cbs),
        .on_read = on_read,
        .on_end = on_end,
        .on_close = on_close,
    };
    int rc = in->svc->conn_start(conn, &cbs, c);
    if (rc < 0) { /* the host closes it, without callbacks */
        conn_gone(c);
        return rc;
    }
    if (in->draining || in->stopping) {
        close_with(c, WS_CLOSE_GOING_AWAY, "The server is going away");
        return 0;
    }
    if (in->svc->timer_start(in->ctx, in->ws_init_timeout_ms, 0, init_fire, c,
                             &c->init_timer) < 0)
        c->init_timer = NULL; /* no timer: the client is trusted to init */
    return 0;
}

void gqlp_ws_close_all(gqlp_inst_t *in)
{
    /* close_with leaves c in the list until on_close */
    for (gqlp_ws_conn_t *c = in->ws_conns; c; c = c->next)
        close_with(c, WS_CLOSE_GOING_AWAY, "The server is going away");
}

/* ---- the switch ---------------------------------------------------------- */

static const char *req_header(void *ud, const char *name, size_t idx,
                              size_t *len)
{
    const doppel_http_request_t *req = ud;
    size_t nl = strlen(name), seen = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *h = &req->headers[i];
        if (h->name.len == nl && strncasecmp(h->name.ptr, name, nl) == 0 &&
            seen++ == idx) {
            *len = h->value.len;
            return h->value.ptr;
        }
    }
    return NULL;
}

/* Whether the Sec-WebSocket-Protocol lists offer token. */
static int offers(const doppel_http_request_t *req, const char *token)
{
    size_t tl = strlen(token), len;
    const char *v;
    for (size_t i = 0;
         (v = req_header((void *)req, "Sec-WebSocket-Protocol", i, &len));
         i++) {
        const char *p = v, *end = v + len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            const char *te = e;
            while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
                te--;
            if ((size_t)(te - p) == tl && memcmp(p, token, tl) == 0)
                return 1;
            p = comma ? comma + 1 : end;
        }
    }
    return 0;
}

int gqlp_ws_wants(const doppel_http_request_t *req)
{
    return ws_handshake_is_upgrade(req_header, (void *)req) &&
           (offers(req, WS_PROTO) || offers(req, WS_PROTO_LEGACY));
}

static void refuse(gqlp_inst_t *in, doppel_http_exchange_t *ex, int status,
                   const char *why)
{
    doppel_kv_t h[2] = {
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("text/plain; charset=utf-8")},
        {DOPPEL_STR("Sec-WebSocket-Version"), DOPPEL_STR("13")},
    };
    in->svc->http_respond(ex, status, h, status == 426 ? 2 : 1, why,
                          strlen(why));
}

/* The connection's state, with copies of what the request lent. */
static gqlp_ws_conn_t *conn_new(gqlp_inst_t *in,
                                const doppel_http_request_t *req,
                                doppel_str_t ns, doppel_str_t path,
                                const ws_deflate_params_t *deflate)
{
    gqlp_ws_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->in = in;
    snprintf(c->id, sizeof(c->id), "gql-%llu",
             (unsigned long long)__atomic_add_fetch(&in->sh->next_conn, 1,
                                                    __ATOMIC_RELAXED));
    if (ns.len == 0)
        ns = DOPPEL_STR(GQLP_DEFAULT_NS);
    snprintf(c->ns, sizeof(c->ns), "%.*s", (int)ns.len, ns.ptr);
    c->path = dup_n(path.ptr, path.len);
    c->request_id = dup_n(req->request_id.ptr ? req->request_id.ptr : "",
                          req->request_id.len);
    c->remote = dup_n(req->remote_addr.ptr ? req->remote_addr.ptr : "",
                      req->remote_addr.len);
    size_t bytes = 1;
    for (size_t i = 0; i < req->n_headers; i++)
        bytes += req->headers[i].name.len + req->headers[i].value.len + 2;
    c->meta = calloc(req->n_headers + 1, sizeof(*c->meta));
    c->meta_mem = malloc(bytes);
    ws_parser_cfg_t pc = {
        .client = 0,
        .max_message = in->ws_max_message,
        .deflate = deflate,
        .on_event = on_event,
        .ud = c,
    };
    ws_encoder_cfg_t ec = {.client = 0, .deflate = deflate};
    if (c->path == NULL || c->request_id == NULL || c->remote == NULL ||
        c->meta == NULL || c->meta_mem == NULL ||
        ws_parser_new(&pc, &c->parser) < 0 ||
        ws_encoder_new(&ec, &c->enc) < 0) {
        conn_free(c);
        return NULL;
    }
    char *m = c->meta_mem;
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *h = &req->headers[i];
        memcpy(m, h->name.ptr, h->name.len);
        m[h->name.len] = '\0';
        c->meta[i].name = (doppel_str_t){m, h->name.len};
        m += h->name.len + 1;
        memcpy(m, h->value.ptr, h->value.len);
        m[h->value.len] = '\0';
        c->meta[i].value = (doppel_str_t){m, h->value.len};
        m += h->value.len + 1;
    }
    c->n_meta = req->n_headers;
    return c;
}

void gqlp_ws_handle(gqlp_inst_t *in, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req, doppel_str_t ns,
                    doppel_str_t path)
{
    const doppel_services_t *svc = in->svc;
    if (in->draining || in->stopping) {
        refuse(in, ex, 503, "The server is shutting down.");
        return;
    }
    if (!DOPPEL_HAS_SERVICE(svc, http_upgrade) ||
        !DOPPEL_HAS_SERVICE(svc, conn_start) ||
        !DOPPEL_HAS_SERVICE(svc, timer_start)) {
        refuse(in, ex, 501, "This host cannot switch to WebSocket.");
        return;
    }
    static const char *const protos[] = {WS_PROTO};
    ws_handshake_cfg_t cfg = {
        .protocols = protos,
        .n_protocols = 1,
        .deflate = {.enabled = in->ws_deflate},
    };
    ws_handshake_t hs;
    if (ws_handshake_check(&cfg, req->method.ptr, req->method.len,
                           req->http_major, req->http_minor, req_header,
                           (void *)req, &hs) < 0) {
        refuse(in, ex, hs.status, hs.reason ? hs.reason : "Bad upgrade");
        return;
    }
    if (hs.protocol < 0) {
        refuse(in, ex, 400,
               "This GraphQL endpoint speaks the graphql-transport-ws "
               "subprotocol (the graphql-ws library's protocol). The "
               "graphql-ws subprotocol of subscriptions-transport-ws is "
               "not supported: offer Sec-WebSocket-Protocol: "
               "graphql-transport-ws.");
        return;
    }
    gqlp_ws_conn_t *c = conn_new(in, req, ns, path, &hs.deflate);
    const char *names[WS_ANSWER_HEADERS_MAX], *values[WS_ANSWER_HEADERS_MAX];
    int n = c ? ws_handshake_answer_headers(&hs, protos[0], names, values)
              : -ENOMEM;
    if (n < 0) {
        if (c)
            conn_free(c);
        refuse(in, ex, 500, "Internal error: out of memory.");
        return;
    }
    doppel_kv_t h[WS_ANSWER_HEADERS_MAX];
    for (int i = 0; i < n; i++)
        h[i] = (doppel_kv_t){{names[i], strlen(names[i])},
                             {values[i], strlen(values[i])}};
    int rc = svc->http_upgrade(in->ctx, ex, h, (size_t)n, on_accept, c);
    if (rc == 0) {
        in->n_ws++; /* on_accept follows, once */
        return;
    }
    conn_free(c);
    if (rc == -EINVAL || rc == -ENOTSUP)
        refuse(in, ex, rc == -ENOTSUP ? 501 : 500,
               "The switch to WebSocket failed.");
}

/* ---- actions ------------------------------------------------------------- */

const doppel_protocol_action_t gqlp_actions[] = {
    {"subscriptions", 0,
     "the open GraphQL subscriptions (graphql-transport-ws) of the namespace "
     "per path and field (?path=, ?field= to keep some)"},
    {"publish", 1,
     "sends one event {path, field, payload: {data}} to every open "
     "subscription of that field on the path"},
    {NULL, 0, NULL},
};

static int path_arg_ok(const json_t *p)
{
    const char *s = json_string_value(p);
    size_t n = json_string_length(p);
    return s != NULL && n > 0 && n <= GQLP_PATH_MAX && s[0] == '/' &&
           strlen(s) == n;
}

static int name_ok(const json_t *f)
{
    const char *s = json_string_value(f);
    size_t n = json_string_length(f);
    if (s == NULL || n == 0 || n > 100 || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alpha =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return 0;
    }
    return 1;
}

static int list_subscriptions(const doppel_services_t *svc, gqlp_shared_t *sh,
                              doppel_str_t ns, const json_t *args, char **out,
                              size_t *out_len)
{
    const json_t *only_p = json_object_get(args, "path");
    const json_t *only_f = json_object_get(args, "field");
    if (only_p != NULL && !path_arg_ok(only_p))
        return dpj_refuse(svc, "path",
                          "path: expected a request path starting with /", out,
                          out_len);
    if (only_f != NULL && !name_ok(only_f))
        return dpj_refuse(svc, "field", "field: expected a GraphQL field name",
                          out, out_len);
    json_t *list = json_array();
    json_int_t total = 0;
    pthread_mutex_lock(&sh->reg_mu);
    for (size_t i = 0; list && i < sh->n_subs; i++) {
        const char *k = sh->subs[i].key, *s1 = strchr(k, '\x1f');
        const char *s2 = s1 ? strchr(s1 + 1, '\x1f') : NULL;
        if (s2 == NULL || (size_t)(s1 - k) != ns.len ||
            memcmp(k, ns.ptr, ns.len) != 0)
            continue;
        size_t pl = (size_t)(s2 - s1 - 1);
        if (only_p && (json_string_length(only_p) != pl ||
                       memcmp(json_string_value(only_p), s1 + 1, pl) != 0))
            continue;
        if (only_f && strcmp(json_string_value(only_f), s2 + 1) != 0)
            continue;
        total += (json_int_t)sh->subs[i].count;
        json_array_append_new(
            list, json_pack("{s:s%, s:s, s:I}", "path", s1 + 1, pl, "field",
                            s2 + 1, "count", (json_int_t)sh->subs[i].count));
    }
    pthread_mutex_unlock(&sh->reg_mu);
    return dpj_answer(svc,
                  list
                      ? json_pack("{s:s%, s:I, s:o}", "namespace", ns.ptr,
                                  ns.len, "total", total, "subscriptions", list)
                      : NULL,
                  200, out, out_len);
}

/* One published event on its way to one worker's instance. */
typedef struct delivery {
    gqlp_shared_t *sh;
    unsigned worker;
    char *key;
    char *data; /* JSON text: a json_t is not shared between threads */
} delivery_t;

static void delivery_free(delivery_t *d)
{
    free(d->key);
    free(d->data);
    free(d);
}

/* On the worker's loop; the instance is looked up again (destroy runs on
 * this loop too, so it cannot go meanwhile). */
static void deliver(void *arg)
{
    delivery_t *d = arg;
    gqlp_inst_t *in = NULL;
    pthread_mutex_lock(&d->sh->reg_mu);
    if (d->worker < d->sh->n_insts)
        in = d->sh->insts[d->worker];
    pthread_mutex_unlock(&d->sh->reg_mu);
    json_t *data = json_loads(d->data, 0, NULL);
    for (gqlp_ws_conn_t *c = in && !in->stopping ? in->ws_conns : NULL;
         c && data; c = c->next) {
        for (ws_sub_t *s = c->subs; s && !c->closing; s = s->next) {
            if (s->key == NULL || strcmp(s->key, d->key) != 0)
                continue;
            json_t *b = shape_event(s, data);
            if (b == NULL)
                break;
            send_next(c, s->id, b);
            json_decref(b);
            if (c->closing) /* its operations are gone */
                break;
        }
    }
    json_decref(data);
    delivery_free(d);
}

static int publish(const doppel_services_t *svc, gqlp_shared_t *sh,
                   doppel_str_t ns, const json_t *args, char **out,
                   size_t *out_len)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v)
    {
        if (strcmp(k, "path") && strcmp(k, "field") && strcmp(k, "payload") &&
            strcmp(k, "data")) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "%.64s: unknown member (expected path, field, payload or "
                     "data)",
                     k);
            return dpj_refuse(svc, k, msg, out, out_len);
        }
    }
    const json_t *path = json_object_get(args, "path");
    const json_t *field = json_object_get(args, "field");
    const json_t *pl = json_object_get(args, "payload");
    const json_t *data = json_object_get(args, "data");
    if (path != NULL && !path_arg_ok(path))
        return dpj_refuse(svc, "path",
                          "path: the GraphQL path of the subscriptions "
                          "(\"/graphql\", the default endpoint when absent)",
                          out, out_len);
    if (!name_ok(field))
        return dpj_refuse(svc, "field",
                          "field: required, the subscription's top-level "
                          "field (\"orderUpdated\")",
                          out, out_len);
    if (pl != NULL && data != NULL)
        return dpj_refuse(svc, "data", "give payload or data, not both", out,
                          out_len);
    if (pl != NULL) {
        data = json_object_get(pl, "data");
        if (!json_is_object(pl) || json_object_size(pl) != 1 ||
            !json_is_object(data))
            return dpj_refuse(svc, "payload",
                              "payload: {\"data\": {\"FIELD\": ...}}", out,
                              out_len);
    } else if (!json_is_object(data)) {
        return dpj_refuse(svc, "data",
                          "data: required (or payload): {\"FIELD\": ...}, "
                          "the event's data",
                          out, out_len);
    }
    char pbuf[GQLP_PATH_MAX + 1];
    pthread_rwlock_rdlock(&sh->lock);
    snprintf(pbuf, sizeof(pbuf), "%s",
             path ? json_string_value(path) : sh->endpoint);
    pthread_rwlock_unlock(&sh->lock);
    const char *fs = json_string_value(field);
    char *key = sub_key(ns.ptr, ns.len, pbuf, strlen(pbuf), fs);
    char *text = json_dumps(data, JSON_COMPACT);
    if (key == NULL || text == NULL) {
        free(key);
        free(text);
        return -ENOMEM;
    }
    json_int_t open = 0;
    pthread_mutex_lock(&sh->reg_mu);
    gqlp_subcount_t *e = count_find(sh, key);
    open = e ? (json_int_t)e->count : 0;
    for (unsigned w = 0; open > 0 && w < sh->n_insts; w++) {
        gqlp_inst_t *in = sh->insts[w];
        if (in == NULL)
            continue;
        delivery_t *d = calloc(1, sizeof(*d));
        if (d != NULL && (d->key = strdup(key)) != NULL &&
            (d->data = strdup(text)) != NULL) {
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
    free(text);
    return dpj_answer(svc,
                  json_pack("{s:s%, s:s, s:s, s:I}", "namespace", ns.ptr,
                            ns.len, "path", pbuf, "field", fs, "subscriptions",
                            open),
                  200, out, out_len);
}

int gqlp_action(doppel_ctx_t *ctx, const doppel_services_t *svc,
                doppel_str_t ns, const char *name, const char *args,
                size_t args_len, char **out, size_t *out_len)
{
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *a = json_loadb(args, args_len, 0, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return dpj_refuse(svc, "", "the arguments are one JSON object", out,
                          out_len);
    }
    int rc;
    if (strcmp(name, "publish") == 0)
        rc = publish(svc, sh, ns, a, out, out_len);
    else if (strcmp(name, "subscriptions") == 0)
        rc = list_subscriptions(svc, sh, ns, a, out, out_len);
    else
        rc = dpj_refuse(svc, "name", "unknown action", out, out_len);
    json_decref(a);
    return rc;
}
