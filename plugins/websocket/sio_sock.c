/*
 * socket.io's Socket.IO side (sio_server.h): one socket per (Engine.IO
 * session, namespace), on the session's owner loop.
 *
 * CONNECT to a namespace some mock names (sh->sio_nsps) makes a socket
 * with its own engine session and answers 0{"sid"}; any other namespace
 * gets CONNECT_ERROR {"message": "Invalid namespace"}, as socket.io does.
 * Then the `connect` event is matched; EVENT ["name", ...args] is matched
 * with operation = name and target = the namespace's route
 * (sio_nsp_target); DISCONNECT, or the end of the session, matches
 * `disconnect` (journal only).
 *
 * The body conditions see: the first argument when it is an object, with
 * `args` (every argument) added unless it has its own; otherwise
 * {"data": first argument or null, "args": [...]}. A binary attachment is
 * {"binary": "<base64>"} where its placeholder was.
 *
 * The answer: `payload` goes back as the ACK when the client asked for
 * one (an id), else as an EVENT named response.event (default: the
 * incoming event's name; for `connect`, "message"); `messages` are EVENTs
 * (`event` each, else the same name) after their delays, `binary` ones as
 * BINARY_EVENT with one attachment; `broadcast` sends the EVENTs to every
 * socket of the namespace (or of a room) on every worker; `join` /
 * `leave` change the socket's rooms; `schedule` pushes EVENTs on a timer;
 * `close` sends DISCONNECT and ends the socket (not the connection).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sio_server.h"

enum { IT_MSG = 1, IT_CLOSE = 2 };

typedef struct sio_item {
    int kind;
    char *text; /* the Socket.IO packet */
    uint8_t *bin;
    size_t bin_len;
    int has_bin;
    uint64_t delay;
} sio_item_t;

typedef struct sio_script {
    sio_sock_t *k;
    sio_item_t *items;
    size_t n, next;
    int waited;
    int bcast;  /* items go to the namespace (or room) on every worker */
    char *room; /* NULL: the whole namespace */
    doppel_timer_t *timer;
    struct sio_script *prev, *nxt;
} sio_script_t;

/* One `schedule`: an event every `every` ms, `left` more times (0: until
 * the socket ends). */
typedef struct sio_sched {
    sio_sock_t *k;
    doppel_timer_t *timer;
    sio_item_t it;
    long left;
    struct sio_sched *next;
} sio_sched_t;

struct sio_sock {
    sio_sess_t *s;
    char nsp[SIO_NSP_MAX + 1];
    char target[WS_PATH_MAX + SIO_NSP_MAX + 4];
    char sid[SIO_SID_LEN + 1]; /* socket.io's id of the socket */
    uint64_t id;               /* the registry's (actions) */
    int64_t opened_ms;
    doppel_session_t *session;
    sio_script_t *scripts;
    size_t n_scripts;
    sio_sched_t *scheds;
    size_t n_scheds;
    int disc_matched;
    /* sh->mu */
    char *rooms[WS_ROOMS_MAX];
    size_t n_rooms;
    uint64_t msgs_in, msgs_out; /* __atomic */
    sio_sock_t *reg_prev, *reg_next;
    /* the owner's loop */
    sio_sock_t *next;
};

static const doppel_services_t *svc_of(const sio_sock_t *k)
{
    return k->s->si->in->svc;
}

/* ---- sending ------------------------------------------------------------ */

/* Sends one Socket.IO packet (text, then its attachment). */
static int send_packet(sio_sess_t *s, const char *text, const uint8_t *bin,
                       size_t bin_len, int has_bin)
{
    int rc = sio_sess_send(s, SIO_EIO_MESSAGE, (const uint8_t *)text,
                           strlen(text), 0);
    if (rc == 0 && has_bin)
        rc = sio_sess_send(s, SIO_EIO_MESSAGE, bin, bin_len, 1);
    return rc;
}

/* The journal entry of a packet sent to socket k ("direction": "out"):
 * method the event (an EVENT's first member; "ack", "disconnect" for
 * those), the body its arguments as the client decodes them. */
static void journal_sent(sio_sock_t *k, const char *text)
{
    ws_inst_t *in = k->s->si->in;
    if (!in->journal_sent)
        return;
    sio_packet_t p;
    const char *why = NULL;
    if (sio_packet_decode(text, strlen(text), &sio_default_limits, &p, &why) <
        0)
        return;
    const char *event = "message";
    json_t *args = p.data;
    if ((p.type == SIO_EVENT || p.type == SIO_BINARY_EVENT) &&
        json_is_array(p.data) && json_is_string(json_array_get(p.data, 0))) {
        event = json_string_value(json_array_get(p.data, 0));
        args = json_array();
        for (size_t i = 1; args && i < json_array_size(p.data); i++)
            json_array_append(args, json_array_get(p.data, i));
    } else if (p.type == SIO_ACK || p.type == SIO_BINARY_ACK) {
        event = "ack";
    } else if (p.type == SIO_DISCONNECT) {
        event = "disconnect";
    } else if (p.type == SIO_CONNECT) {
        event = "connect";
    } else if (p.type == SIO_CONNECT_ERROR) {
        event = "connect_error";
    }
    char *body = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char id[24];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)k->id);
    doppel_journal_note_t n = {
        .size = sizeof(n),
        .kind = DOPPEL_NOTE_SENT,
        .protocol = DOPPEL_STR("socket"),
        .ns = {k->s->ns, strlen(k->s->ns)},
        .event = {event, strlen(event)},
        .path = {k->target, strlen(k->target)},
        .connection = {id, strlen(id)},
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
    };
    (void)in->svc->engine_journal(in->ctx, &n);
    free(body);
    if (args != p.data)
        json_decref(args);
    sio_packet_clear(&p);
}

/* Sends one packet to socket k, counted and journalled. */
static int sock_send(sio_sock_t *k, const char *text, const uint8_t *bin,
                     size_t bin_len, int has_bin)
{
    int rc = send_packet(k->s, text, bin, bin_len, has_bin);
    if (rc == 0) {
        __atomic_fetch_add(&k->msgs_out, 1, __ATOMIC_RELAXED);
        ws_count(k->s->si->in, "messages_out", k->s->ns, 1);
        journal_sent(k, text);
    }
    return rc;
}

static char *encode(int type, const char *nsp, int64_t id, json_t *data)
{
    sio_packet_t p = {.type = type, .id = id, .data = data};
    snprintf(p.nsp, sizeof(p.nsp), "%s", nsp);
    ws_buf_t b = {0};
    char *t = NULL;
    if (sio_packet_encode(&p, &b) == 0 && sio_buf_append(&b, "", 1) == 0) {
        t = (char *)b.data;
        b.data = NULL;
    }
    ws_buf_free(&b);
    return t;
}

/* EVENT [event, arg] (arg taken), or BINARY_EVENT with one attachment
 * when bin is set (arg ignored). */
static char *event_text(const char *nsp, const char *event, json_t *arg,
                        int bin)
{
    if (bin) {
        json_decref(arg);
        json_t *a =
            json_pack("[s, {s:b, s:i}]", event, "_placeholder", 1, "num", 0);
        char *t = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        if (t == NULL)
            return NULL;
        size_t need = strlen(t) + strlen(nsp) + 8;
        char *o = malloc(need);
        if (o)
            snprintf(o, need, "51-%s%s%s", strcmp(nsp, "/") ? nsp : "",
                     strcmp(nsp, "/") ? "," : "", t);
        free(t);
        return o;
    }
    json_t *a = json_pack("[s, o?]", event, arg);
    if (a && arg == NULL)
        json_array_remove(a, 1);
    char *t = a ? encode(SIO_EVENT, nsp, -1, a) : NULL;
    json_decref(a);
    return t;
}

/* The rendered payload as one argument: its JSON, else the text. */
static json_t *arg_of(const uint8_t *d, size_t len)
{
    json_t *j = json_loadb((const char *)d, len, JSON_DECODE_ANY, NULL);
    return j ? j : json_stringn((const char *)d, len);
}

/* ---- the registry and rooms ---------------------------------------------- */

static void reg_add(sio_sock_t *k)
{
    ws_shared_t *sh = k->s->si->in->sh;
    pthread_mutex_lock(&sh->mu);
    k->id = ++sh->next_id;
    k->reg_next = sh->sio_socks;
    if (sh->sio_socks)
        sh->sio_socks->reg_prev = k;
    sh->sio_socks = k;
    pthread_mutex_unlock(&sh->mu);
}

static void reg_del(sio_sock_t *k)
{
    ws_shared_t *sh = k->s->si->in->sh;
    pthread_mutex_lock(&sh->mu);
    if (k->reg_prev)
        k->reg_prev->reg_next = k->reg_next;
    else
        sh->sio_socks = k->reg_next;
    if (k->reg_next)
        k->reg_next->reg_prev = k->reg_prev;
    for (size_t i = 0; i < k->n_rooms; i++)
        free(k->rooms[i]);
    k->n_rooms = 0;
    pthread_mutex_unlock(&sh->mu);
}

/* Whether k is in room (the owner's loop: rooms change only there). */
static int in_room(const sio_sock_t *k, const char *room)
{
    for (size_t i = 0; i < k->n_rooms; i++)
        if (strcmp(k->rooms[i], room) == 0)
            return 1;
    return 0;
}

/* ---- scripts ---------------------------------------------------------------
 */

static void items_free(sio_item_t *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].text);
        free(it[i].bin);
    }
    free(it);
}

static void script_free(sio_script_t *sc)
{
    sio_sock_t *k = sc->k;
    if (sc->timer)
        svc_of(k)->timer_stop(sc->timer);
    if (sc->prev)
        sc->prev->nxt = sc->nxt;
    else
        k->scripts = sc->nxt;
    if (sc->nxt)
        sc->nxt->prev = sc->prev;
    k->n_scripts--;
    items_free(sc->items, sc->n);
    free(sc->room);
    free(sc);
}

static void sock_kick(sio_sock_t *k, const char *reason, int send_disc);

static void bcast(sio_sock_t *k, const sio_script_t *sc, const sio_item_t *it)
{
    sio_job_t j = {.kind = SIO_J_BCAST,
                   .data = (uint8_t *)it->text,
                   .len = strlen(it->text) + 1,
                   .room = sc->room,
                   .bin = it->bin,
                   .bin_len = it->bin_len,
                   .has_bin = it->has_bin};
    snprintf(j.ns, sizeof(j.ns), "%s", k->s->ns);
    snprintf(j.nsp, sizeof(j.nsp), "%s", k->nsp);
    sio_job_post_all(k->s->si, &j);
}

static void script_fire(void *data);

static void script_run(sio_script_t *sc)
{
    sio_sock_t *k = sc->k;
    while (sc->next < sc->n) {
        sio_item_t *it = &sc->items[sc->next];
        if (it->delay > 0 && !sc->waited) {
            if (svc_of(k)->timer_start(k->s->si->in->ctx, it->delay, 0,
                                       script_fire, sc, &sc->timer) == 0)
                return;
        }
        sc->waited = 0;
        sc->next++;
        if (it->kind == IT_CLOSE) {
            script_free(sc);
            sock_kick(k, "server namespace disconnect", 1);
            return;
        }
        if (sc->bcast) {
            bcast(k, sc, it);
        } else {
            (void)sock_send(k, it->text, it->bin, it->bin_len, it->has_bin);
        }
    }
    script_free(sc);
}

static void script_fire(void *data)
{
    sio_script_t *sc = data;
    svc_of(sc->k)->timer_stop(sc->timer);
    sc->timer = NULL;
    sc->waited = 1;
    sio_sess_t *s = sc->k->s;
    script_run(sc);
    sio_sess_reap(s);
}

static void sched_free(sio_sched_t *sc)
{
    sio_sock_t *k = sc->k;
    sio_sched_t **pp = &k->scheds;
    while (*pp && *pp != sc)
        pp = &(*pp)->next;
    if (*pp)
        *pp = sc->next;
    k->n_scheds--;
    if (sc->timer)
        svc_of(k)->timer_stop(sc->timer);
    free(sc->it.text);
    free(sc->it.bin);
    free(sc);
}

static void sched_fire(void *data)
{
    sio_sched_t *sc = data;
    sio_sock_t *k = sc->k;
    if (sock_send(k, sc->it.text, sc->it.bin, sc->it.bin_len,
                  sc->it.has_bin) == 0) {
    }
    if (sc->left > 0 && --sc->left == 0)
        sched_free(sc);
}

static uint64_t ms_of(const json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) > 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) > 0)
        return (uint64_t)json_real_value(v);
    if (json_is_string(v)) {
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (end != json_string_value(v) && x > 0)
            return (uint64_t)x;
    }
    return 0;
}

/* One `messages` item as an EVENT (or BINARY_EVENT). 0, 1 (nothing to
 * send) or -ENOMEM. */
static int item_of(sio_sock_t *k, const json_t *m, const char *event,
                   sio_item_t *it)
{
    const json_t *ev = json_object_get(m, "event");
    if (json_is_string(ev))
        event = json_string_value(ev);
    const json_t *bin = json_object_get(m, "binary");
    if (json_is_string(bin)) {
        if (ws_b64_decode(json_string_value(bin), json_string_length(bin),
                          &it->bin, &it->bin_len) < 0)
            return 1;
        it->has_bin = 1;
        it->text = event_text(k->nsp, event, NULL, 1);
        return it->text ? 0 : -ENOMEM;
    }
    const json_t *d = json_object_get(m, "data");
    if (d == NULL)
        return 1;
    it->text = event_text(k->nsp, event, json_deep_copy(d), 0);
    return it->text ? 0 : -ENOMEM;
}

static void schedule_one(sio_sock_t *k, const json_t *m, const char *event)
{
    if (!json_is_object(m) || k->n_scheds >= WS_SCHEDULES_MAX)
        return;
    uint64_t every = ms_of(json_object_get(m, "every"));
    if (every < WS_EVERY_MIN)
        every = WS_EVERY_MIN;
    sio_sched_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return;
    sc->k = k;
    sc->left = (long)ms_of(json_object_get(m, "count"));
    if (item_of(k, m, event, &sc->it) != 0 ||
        svc_of(k)->timer_start(k->s->si->in->ctx, every, every, sched_fire, sc,
                               &sc->timer) < 0) {
        free(sc->it.text);
        free(sc->it.bin);
        free(sc);
        return;
    }
    sc->next = k->scheds;
    k->scheds = sc;
    k->n_scheds++;
}

static void schedules(sio_sock_t *k, const json_t *ex, const char *event)
{
    const json_t *sch = json_object_get(ex, "schedule");
    const json_t *rev = json_object_get(ex, "event");
    if (json_is_string(rev))
        event = json_string_value(rev);
    size_t i;
    const json_t *m;
    if (json_is_array(sch)) {
        json_array_foreach(sch, i, m) schedule_one(k, m, event);
    } else {
        schedule_one(k, sch, event);
    }
}

static sio_script_t *script_build(sio_sock_t *k, const doppel_reply_t *r,
                                  const json_t *ex, const char *event,
                                  int64_t ack)
{
    const json_t *msgs = json_object_get(ex, "messages");
    const json_t *cl = json_object_get(ex, "close");
    const json_t *bc = json_object_get(ex, "broadcast");
    const json_t *rev = json_object_get(ex, "event");
    if (json_is_string(rev))
        event = json_string_value(rev);
    size_t cap = 3 + (json_is_array(msgs) ? json_array_size(msgs) : 0);
    sio_script_t *sc = calloc(1, sizeof(*sc));
    sio_item_t *items = calloc(cap, sizeof(*items));
    if (sc == NULL || items == NULL) {
        free(sc);
        free(items);
        return NULL;
    }
    sc->k = k;
    sc->items = items;
    sc->bcast = json_is_true(bc) || json_is_string(json_object_get(bc, "room"));
    if (json_is_string(json_object_get(bc, "room")))
        sc->room = strdup(json_string_value(json_object_get(bc, "room")));
    int rc = 0;
    uint64_t lead = r->delay_ms;
    if (r->body && r->body_len > 0) {
        sio_item_t *it = &items[sc->n];
        it->kind = IT_MSG;
        it->delay = lead;
        if (ack >= 0 && !sc->bcast) {
            json_t *a = json_pack("[o]", arg_of(r->body, r->body_len));
            it->text = a ? encode(SIO_ACK, k->nsp, ack, a) : NULL;
            json_decref(a);
        } else {
            it->text =
                event_text(k->nsp, event, arg_of(r->body, r->body_len), 0);
        }
        if (it->text == NULL)
            rc = -ENOMEM;
        else
            sc->n++;
        lead = 0;
    }
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (rc < 0 || !json_is_object(m))
            continue;
        sio_item_t *it = &items[sc->n];
        it->kind = IT_MSG;
        it->delay = lead + ms_of(json_object_get(m, "delay"));
        int ir = item_of(k, m, event, it);
        if (ir < 0)
            rc = ir;
        if (ir == 0) {
            sc->n++;
            lead = 0;
        }
    }
    if (json_is_object(cl)) {
        sio_item_t *it = &items[sc->n++];
        it->kind = IT_CLOSE;
        it->delay = lead + ms_of(json_object_get(cl, "delay"));
    }
    if (rc < 0 || (sc->bcast && bc && json_is_object(bc) && sc->room == NULL)) {
        items_free(sc->items, sc->n);
        free(sc->room);
        free(sc);
        return NULL;
    }
    return sc;
}

/* ---- matching --------------------------------------------------------------
 */

static void answer(sio_sock_t *k, const doppel_reply_t *r, const char *event,
                   int64_t ack)
{
    json_t *ex = NULL;
    if (r->extra.len > 0)
        ex = json_loadb(r->extra.ptr, r->extra.len, 0, NULL);
    ws_shared_t *sh = k->s->si->in->sh;
    ws_rooms_apply(sh, k->rooms, &k->n_rooms, json_object_get(ex, "join"), 1);
    ws_rooms_apply(sh, k->rooms, &k->n_rooms, json_object_get(ex, "leave"),
                   0);
    sio_script_t *sc = NULL;
    if (k->n_scripts < WS_SCRIPTS_MAX)
        sc = script_build(k, r, ex, event, ack);
    else
        ws_count(k->s->si->in, "answers_dropped", k->s->ns, 1);
    schedules(k, ex, event);
    json_decref(ex);
    if (sc == NULL)
        return;
    sc->nxt = k->scripts;
    if (k->scripts)
        k->scripts->prev = sc;
    k->scripts = sc;
    k->n_scripts++;
    script_run(sc);
}

/* Matches one event of the socket. quiet: journal only. The socket may
 * be gone when it returns (an answer's close). Returns the reply's kind,
 * or -1. */
static int match(sio_sock_t *k, const char *event, const char *reply_event,
                 const char *body, int64_t ack, int quiet, int *status)
{
    ws_inst_t *in = k->s->si->in;
    char id[24];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)k->id);
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("socket"),
        .ns = {k->s->ns, strlen(k->s->ns)},
        .connection = {id, strlen(id)},
        .operation = {event, strlen(event)},
        .target = {k->target, strlen(k->target)},
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
        .content_type = DOPPEL_STR("application/json"),
        .remote_addr = {k->s->remote, strlen(k->s->remote)},
    };
    doppel_reply_t *r = NULL;
    if (in->svc->engine_session_match(k->session, &x, &r) < 0 || r == NULL)
        return -1;
    int kind = (int)r->kind;
    if (status)
        *status = r->status;
    if (r->kind == DOPPEL_REPLY_RESPONSE && !quiet)
        answer(k, r, reply_event, ack);
    in->svc->engine_reply_free(in->ctx, r);
    return kind;
}

static void match_disconnect(sio_sock_t *k, const char *reason)
{
    if (k->disc_matched)
        return;
    k->disc_matched = 1;
    json_t *b = json_pack("{s:s, s:s, s:s}", "event", "disconnect", "namespace",
                          k->nsp, "reason", reason);
    char *t = b ? json_dumps(b, JSON_COMPACT) : NULL;
    if (t)
        (void)match(k, "disconnect", "disconnect", t, -1, 1, NULL);
    free(t);
    json_decref(b);
}

/* ---- sockets
 * ----------------------------------------------------------------- */

static sio_sock_t *sock_find(sio_sess_t *s, const char *nsp)
{
    for (sio_sock_t *k = s->socks; k; k = k->next)
        if (strcmp(k->nsp, nsp) == 0)
            return k;
    return NULL;
}

static void sock_free(sio_sock_t *k)
{
    sio_sess_t *s = k->s;
    sio_sock_t **pp = &s->socks;
    while (*pp && *pp != k)
        pp = &(*pp)->next;
    if (*pp)
        *pp = k->next;
    while (k->scripts)
        script_free(k->scripts);
    while (k->scheds)
        sched_free(k->scheds);
    reg_del(k);
    s->si->in->svc->engine_session_close(k->session);
    ws_count(s->si->in, "connections_closed", s->ns, 1);
    free(k);
}

/* Ends one socket: its disconnect event, DISCONNECT to the client when
 * send_disc (the server's own disconnect). */
static void sock_kick(sio_sock_t *k, const char *reason, int send_disc)
{
    if (send_disc) {
        char *t = encode(SIO_DISCONNECT, k->nsp, -1, NULL);
        if (t)
            (void)send_packet(k->s, t, NULL, 0, 0);
        free(t);
    }
    match_disconnect(k, reason);
    sock_free(k);
}

void sio_sock_end_all(sio_sess_t *s, const char *reason)
{
    while (s->socks)
        sock_kick(s->socks, reason, 0);
}

/* {name: value} of the handshake's query (the first of a repeated name). */
static json_t *query_object(const char *q)
{
    json_t *o = json_object();
    const char *p = q;
    while (o && p && *p) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        size_t nl = eq ? (size_t)(eq - p) : l;
        char name[128];
        char *val = malloc(eq ? l - nl : 1);
        if (nl > 0 && nl < sizeof(name) && val) {
            size_t vl = eq ? ws_query_decode(eq + 1, l - nl - 1, val) : 0;
            val[vl] = '\0';
            if (ws_query_decode(p, nl, name) > 0 &&
                json_object_get(o, name) == NULL)
                json_object_set_new(o, name, json_stringn(val, vl));
        }
        free(val);
        p = amp ? amp + 1 : p + l;
    }
    return o;
}

static int nsp_known(ws_shared_t *sh, const char *nsp)
{
    int found = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < sh->n_sio_nsps && !found; i++)
        found = strcmp(sh->sio_nsps[i], nsp) == 0;
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static void connect_error(sio_sess_t *s, const char *nsp, const char *msg)
{
    json_t *d = json_pack("{s:s}", "message", msg);
    char *t = d ? encode(SIO_CONNECT_ERROR, nsp, -1, d) : NULL;
    if (t)
        (void)send_packet(s, t, NULL, 0, 0);
    free(t);
    json_decref(d);
}

static void on_connect(sio_sess_t *s, const sio_packet_t *p)
{
    sio_inst_t *si = s->si;
    ws_inst_t *in = si->in;
    if (sock_find(s, p->nsp) != NULL)
        return; /* connected already */
    if (!nsp_known(in->sh, p->nsp)) {
        connect_error(s, p->nsp, "Invalid namespace");
        return;
    }
    sio_sock_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return;
    k->s = s;
    snprintf(k->nsp, sizeof(k->nsp), "%s", p->nsp);
    const char *sio_path = in->svc->option_str(in->ctx, "socketio_path");
    if (sio_nsp_target(in->sh->endpoint, sio_path ? sio_path : SIO_DEFAULT_PATH,
                       k->nsp, k->target, sizeof(k->target)) == 0) {
        free(k);
        connect_error(s, p->nsp, "Invalid namespace");
        return;
    }
    sio_make_id(k->sid);
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("socket"),
        .ns = {s->ns, strlen(s->ns)},
        .operation = DOPPEL_STR("connect"),
        .target = {k->target, strlen(k->target)},
        .metadata = s->headers,
        .n_metadata = s->n_headers,
        .remote_addr = {s->remote, strlen(s->remote)},
    };
    if (in->svc->engine_session_open(in->ctx, &x, &k->session) < 0) {
        free(k);
        connect_error(s, p->nsp, "Server error");
        return;
    }
    k->opened_ms = sio_wall_ms();
    k->next = s->socks;
    s->socks = k;
    reg_add(k);
    ws_count(in, "connections_opened", s->ns, 1);
    json_t *ok = json_pack("{s:s}", "sid", k->sid);
    char *t = ok ? encode(SIO_CONNECT, k->nsp, -1, ok) : NULL;
    json_decref(ok);
    json_t *b = json_pack("{s:s, s:s, s:s, s:O?, s:o}", "event", "connect",
                          "namespace", k->nsp, "sid", k->sid, "auth", p->data,
                          "query", query_object(s->query));
    if (b && p->data == NULL)
        json_object_set_new(b, "auth", json_object());
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    /* the namespace's access (requireToken) decides before the answer */
    int status = 0;
    if (t && body) {
        (void)send_packet(s, t, NULL, 0, 0);
        int kind = match(k, "connect", "message", body, -1, 0, &status);
        if (kind == DOPPEL_REPLY_NO_MATCH && (status == 401 || status == 403)) {
            /* k is still there: a no-match sends nothing */
            sock_kick(k, "not allowed", 1);
        }
    }
    free(t);
    free(body);
}

/* The body of an event: see the head of the file. */
static char *event_body(const json_t *data)
{
    json_t *args = json_array();
    size_t n = json_array_size(data);
    for (size_t i = 1; args && i < n; i++)
        json_array_append(args, json_array_get(data, i));
    const json_t *first = n > 1 ? json_array_get(data, 1) : NULL;
    json_t *b;
    if (json_is_object(first)) {
        b = json_deep_copy(first);
        if (b && json_object_get(b, "args") == NULL)
            json_object_set(b, "args", args);
    } else {
        b = json_pack("{s:O?, s:O}", "data", first, "args", args);
        if (b && first == NULL)
            json_object_set_new(b, "data", json_null());
    }
    json_decref(args);
    char *t = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return t;
}

void sio_sock_packet(sio_sess_t *s, sio_packet_t *p)
{
    sio_sock_t *k = sock_find(s, p->nsp);
    switch (p->type) {
    case SIO_CONNECT:
        on_connect(s, p);
        return;
    case SIO_DISCONNECT:
        if (k)
            sock_kick(k, "client namespace disconnect", 0);
        return;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        break;
    default:
        return; /* acks of the client's, errors: nothing to answer */
    }
    if (k == NULL)
        return; /* not connected to that namespace: socket.io ignores it */
    const char *event = json_string_value(json_array_get(p->data, 0));
    /* doppel's own events are not the client's to send */
    if (event == NULL || strcmp(event, "connect") == 0 ||
        strcmp(event, "disconnect") == 0 || strlen(event) > 128)
        return;
    __atomic_fetch_add(&k->msgs_in, 1, __ATOMIC_RELAXED);
    ws_count(s->si->in, "messages_in", s->ns, 1);
    char *body = event_body(p->data);
    char ev[129];
    snprintf(ev, sizeof(ev), "%s", event);
    if (body)
        (void)match(k, ev, ev, body, p->id, 0, NULL);
    free(body);
}

/* ---- broadcasts and actions ------------------------------------------------
 */

void sio_sock_bcast(sio_inst_t *si, const sio_job_t *j)
{
    const char *text = (const char *)j->data;
    if (j->len == 0 || text[j->len - 1] != '\0')
        return;
    sio_sess_t *next;
    for (sio_sess_t *s = si->sessions; s; s = next) {
        next = s->next;
        if (s->closed || strcmp(s->ns, j->ns) != 0)
            continue;
        sio_sock_t *k = sock_find(s, j->nsp);
        if (k == NULL || (j->room && !in_room(k, j->room)))
            continue;
        (void)sock_send(k, text, j->bin, j->bin_len, j->has_bin);
    }
}

static int targeted(const sio_sock_t *k, const ws_target_t *t)
{
    if (strcmp(k->s->ns, t->ns) != 0 || (t->id && k->id != t->id) ||
        (t->skip && k->id == t->skip))
        return 0;
    /* a plain WebSocket path names no socket; an id alone names one */
    if (t->nsp ? strcmp(t->nsp, k->nsp) != 0 : (t->id == 0 || t->path))
        return 0;
    if (t->room && !in_room(k, t->room))
        return 0;
    return 1;
}

long sio_serve_job(ws_inst_t *in, const ws_job_t *job)
{
    sio_inst_t *si = in->sio;
    if (si == NULL)
        return 0;
    long n = 0;
    sio_sess_t *snext;
    for (sio_sess_t *s = si->sessions; s; s = snext) {
        snext = s->next;
        sio_sock_t *knext;
        for (sio_sock_t *k = s->socks; k && !s->closed; k = knext) {
            knext = k->next;
            if (!targeted(k, &job->t))
                continue;
            n++;
            if (job->kind == WS_JOB_CLOSE && job->drop) {
                sio_sess_close(s, "server drop");
            } else if (job->kind == WS_JOB_CLOSE) {
                sock_kick(k, "server namespace disconnect", 1);
            } else {
                int bin = job->opcode == WS_OP_BINARY;
                char *t =
                    event_text(k->nsp, job->event ? job->event : "message",
                               bin ? NULL : arg_of(job->data, job->len), bin);
                if (t == NULL || sock_send(k, t, job->data, job->len, bin) != 0)
                    n--;
                free(t);
            }
        }
        sio_sess_reap(s);
    }
    return n;
}

void sio_describe(ws_shared_t *sh, const ws_target_t *t, json_t *list)
{
    for (sio_sock_t *k = sh->sio_socks; k; k = k->reg_next) {
        /* listing: every socket of ns unless nsp or id narrow it */
        if (strcmp(k->s->ns, t->ns) != 0 || (t->id && k->id != t->id) ||
            (t->nsp && strcmp(t->nsp, k->nsp) != 0) || (t->path && !t->nsp))
            continue;
        char id[24], at[32];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)k->id);
        time_t secs = (time_t)(k->opened_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t l = strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(at + l, sizeof(at) - l, ".%03dZ", (int)(k->opened_ms % 1000));
        json_t *rooms = json_array();
        for (size_t i = 0; rooms && i < k->n_rooms; i++)
            json_array_append_new(rooms, json_string(k->rooms[i]));
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:i}", "id", id,
            "protocol", "socket.io", "nsp", k->nsp, "sid", k->sid, "transport",
            __atomic_load_n(&k->s->ws, __ATOMIC_RELAXED) ? "websocket"
                                                         : "polling",
            "remote", k->s->remote, "openedAt", at, "messagesIn",
            (json_int_t)__atomic_load_n(&k->msgs_in, __ATOMIC_RELAXED),
            "messagesOut",
            (json_int_t)__atomic_load_n(&k->msgs_out, __ATOMIC_RELAXED),
            "rooms", rooms ? rooms : json_array(), "worker",
            (int)k->s->si->in->worker);
        if (o)
            json_array_append_new(list, o);
    }
}
