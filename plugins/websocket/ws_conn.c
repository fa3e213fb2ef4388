/*
 * One WebSocket connection after the switch (docs/websocket.md).
 *
 * Bytes in go through the codec's parser; each text or binary message is
 * matched through the connection's engine session (event = the message's
 * "event" or "type" member, else "message"; body = the message as JSON),
 * and the mock's answer becomes a script: the payload, then `messages`,
 * then `close`, each item after its delay on a one-shot host timer, so the
 * loop never waits. `broadcast` sends the items to every connection of the
 * path (or of a room) on every worker; `schedule` pushes on a repeating
 * timer; `join` / `leave` change the connection's rooms.
 *
 * Close: the peer's close frame is answered with its code and the
 * connection flushed and closed; ours (an answer, an action, the drain)
 * waits WS_CLOSE_WAIT_MS for the peer's, then drops the connection. A
 * protocol error is answered with the codec's close code. The "close"
 * event is matched once per connection, whichever way it ended, so that
 * the journal shows it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws_plugin.h"

enum { ST_OPEN = 0, ST_CLOSING = 1, ST_DONE = 2 };
enum { IT_MSG = 1, IT_CLOSE = 2 };
enum { TO_SELF = 0, TO_PATH = 1, TO_ROOM = 2 };

typedef struct ws_item {
    int kind;
    int opcode;
    uint8_t *data;
    size_t len;
    uint64_t delay; /* ms after the item before */
    unsigned code;
    char reason[124];
} ws_item_t;

/* One answer being sent. */
typedef struct ws_script {
    ws_conn_t *c;
    ws_item_t *items;
    size_t n, next;
    int waited; /* items[next]'s delay has passed */
    int to;     /* TO_* */
    char *room;
    doppel_timer_t *timer;
    struct ws_script *prev, *nxt;
} ws_script_t;

/* One `schedule`: pushes every `every` ms, `left` more times (0: until
 * the connection ends). */
typedef struct ws_sched {
    ws_conn_t *c;
    doppel_timer_t *timer;
    int opcode;
    uint8_t *data;
    size_t len;
    long left;
    struct ws_sched *prev, *nxt;
} ws_sched_t;

struct ws_conn {
    ws_inst_t *in;
    doppel_conn_t *conn;
    uint64_t id;
    char id_text[24]; /* id in decimal, for every journal entry */
    char ns[WS_NS_MAX + 1];
    char *path;
    char *query;
    char *protocol;
    char remote[64];
    int64_t opened_ms; /* wall clock */
    int deflate;
    ws_parser_t *parser;
    ws_encoder_t *enc;
    doppel_session_t *session;
    ws_script_t *scripts;
    size_t n_scripts;
    ws_sched_t *scheds;
    size_t n_scheds;
    int state;
    int close_matched;
    uint64_t close_deadline;
    uint64_t last_rx;
    uint64_t ping_at; /* when the ping awaiting its pong went out, 0: none */
    int paused;       /* reading stopped until the answers drain */
    uint8_t *rx;      /* bytes read but not parsed yet (paused) */
    size_t rx_len;
    /* sh->mu (written by the owner's loop, read by actions) */
    char *rooms[WS_ROOMS_MAX];
    size_t n_rooms;
    uint64_t msgs_in, msgs_out; /* __atomic */
    ws_conn_t *reg_prev, *reg_next;
    /* the owner's loop */
    ws_conn_t *prev, *next;
};

/* ---- small helpers --------------------------------------------------------
 */

void ws_count(ws_inst_t *in, const char *name, const char *ns, uint64_t n)
{
    char labels[WS_NS_MAX + 16];
    /* namespaces are [A-Za-z0-9._-]: quote-safe; built by hand, since
     * every message is counted */
    const char *v = ns && ns[0] ? ns : WS_DEFAULT_NS;
    size_t vl = strnlen(v, WS_NS_MAX);
    memcpy(labels, "namespace=\"", 11);
    memcpy(labels + 11, v, vl);
    labels[11 + vl] = '"';
    labels[12 + vl] = '\0';
    (void)in->svc->metric_add(in->ctx, name, labels, n);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_ms(ws_conn_t *c)
{
    return c->in->svc->now_ms(c->in->ctx);
}

void ws_accept_free(ws_accept_t *a)
{
    if (a == NULL)
        return;
    if (a->session)
        a->in->svc->engine_session_close(a->session);
    free(a->path);
    free(a->query);
    free(a->protocol);
    free(a);
}

/* ---- writing ---------------------------------------------------------------
 */

static void drop(ws_conn_t *c, unsigned code, const char *why);

/* Queues encoded bytes; a reader that lets max_backlog pile up is dropped
 * (a close frame behind its backlog would never be read). */
static int put(ws_conn_t *c, const ws_buf_t *b)
{
    ws_inst_t *in = c->in;
    int rc = in->svc->conn_write(c->conn, b->data, b->len, NULL, NULL);
    if (rc == -ENOBUFS ||
        (rc == 0 && in->svc->conn_pending(c->conn) > in->max_backlog)) {
        ws_count(in, "slow_readers", c->ns, 1);
        drop(c, WS_CLOSE_POLICY, "slow reader");
        return -ENOBUFS;
    }
    /* a client that sends faster than it reads: read no more of it until
     * its answers drain (on_drain), so it cannot make us queue without end */
    if (rc == 0 && !c->paused &&
        in->svc->conn_pending(c->conn) >= DOPPEL_CONN_HIGH_WATER &&
        in->svc->conn_pause(c->conn, 1) == 0)
        c->paused = 1;
    return rc;
}

static void event_of(const json_t *j, char *out, size_t cap);
static int kind_of(const char *text, size_t len, int any, char *event,
                   size_t cap);

/* The journal entry of a message sent ("direction": "out"), its method
 * the message's event as for one received (only a JSON object names
 * one, so nothing else is parsed). */
static void journal_sent(ws_conn_t *c, int opcode, const uint8_t *d,
                         size_t len)
{
    char event[129] = "message";
    if (opcode == WS_OP_TEXT && len > 0 && d[0] == '{')
        kind_of((const char *)d, len, 0, event, sizeof(event));
    const char *id = c->id_text;
    doppel_journal_note_t n = {
        .size = sizeof(n),
        .kind = DOPPEL_NOTE_SENT,
        .protocol = DOPPEL_STR("socket"),
        .ns = {c->ns, strlen(c->ns)},
        .event = {event, strlen(event)},
        .path = {c->path, strlen(c->path)},
        .connection = {id, strlen(id)},
        .body = d,
        .body_len = len,
    };
    (void)c->in->svc->engine_journal(c->in->ctx, &n);
}

/* Sends one message (text that is not UTF-8 goes as binary). */
static int send_message(ws_conn_t *c, int opcode, const uint8_t *d, size_t len)
{
    if (c->state != ST_OPEN)
        return -ENOTCONN;
    ws_buf_t b = {0};
    int rc = ws_encode_message(c->enc, opcode, d, len, 0, 0, &b);
    if (rc == -EILSEQ)
        rc = ws_encode_message(c->enc, WS_OP_BINARY, d, len, 0, 0, &b);
    if (rc == 0)
        rc = put(c, &b);
    ws_buf_free(&b);
    if (rc == 0) {
        __atomic_fetch_add(&c->msgs_out, 1, __ATOMIC_RELAXED);
        ws_count(c->in, "messages_out", c->ns, 1);
        if (c->in->journal_sent)
            journal_sent(c, opcode, d, len);
    }
    return rc;
}

static void send_control(ws_conn_t *c, int opcode, const uint8_t *d, size_t len)
{
    ws_buf_t b = {0};
    if (ws_encode_control(c->enc, opcode, d, len, &b) == 0)
        (void)put(c, &b);
    ws_buf_free(&b);
}

static void send_close(ws_conn_t *c, unsigned code, const char *reason)
{
    ws_buf_t b = {0};
    const char *r = reason ? reason : "";
    if (code != 0 && !ws_close_code_valid(code))
        code = WS_CLOSE_NORMAL;
    if (ws_encode_close(c->enc, code, r, strlen(r), &b) == 0)
        (void)c->in->svc->conn_write(c->conn, b.data, b.len, NULL, NULL);
    ws_buf_free(&b);
}

/* ---- scripts and schedules ------------------------------------------------
 */

static void items_free(ws_item_t *it, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(it[i].data);
    free(it);
}

static void script_free(ws_script_t *s)
{
    ws_conn_t *c = s->c;
    if (s->timer)
        c->in->svc->timer_stop(s->timer);
    if (s->prev)
        s->prev->nxt = s->nxt;
    else
        c->scripts = s->nxt;
    if (s->nxt)
        s->nxt->prev = s->prev;
    c->n_scripts--;
    items_free(s->items, s->n);
    free(s->room);
    free(s);
}

static void sched_free(ws_sched_t *s)
{
    ws_conn_t *c = s->c;
    if (s->timer)
        c->in->svc->timer_stop(s->timer);
    if (s->prev)
        s->prev->nxt = s->nxt;
    else
        c->scheds = s->nxt;
    if (s->nxt)
        s->nxt->prev = s->prev;
    c->n_scheds--;
    free(s->data);
    free(s);
}

static void broadcast(ws_conn_t *c, int to, const char *room, int opcode,
                      const uint8_t *d, size_t len)
{
    ws_job_t job = {.kind = WS_JOB_SEND,
                    .opcode = opcode,
                    .data = (uint8_t *)d,
                    .len = len};
    snprintf(job.t.ns, sizeof(job.t.ns), "%s", c->ns);
    if (to == TO_ROOM)
        job.t.room = (char *)room;
    else
        job.t.path = c->path;
    (void)ws_jobs_post(c->in->sh, c->in->svc, c->in, &job);
}

static void script_fire(void *data);

/* Runs the items whose delay has passed; returns once it waits on a timer
 * or the script is done (then freed). */
static void script_run(ws_script_t *s)
{
    ws_conn_t *c = s->c;
    while (s->next < s->n) {
        if (c->state != ST_OPEN) {
            script_free(s);
            return;
        }
        ws_item_t *it = &s->items[s->next];
        if (it->delay > 0 && !s->waited) {
            if (c->in->svc->timer_start(c->in->ctx, it->delay, 0, script_fire,
                                        s, &s->timer) == 0)
                return;
            /* no timer (the loop is stopping): send it now */
        }
        s->waited = 0;
        s->next++;
        if (it->kind == IT_CLOSE)
            ws_conn_shutdown(c, it->code, it->reason);
        else if (s->to == TO_SELF)
            (void)send_message(c, it->opcode, it->data, it->len);
        else
            broadcast(c, s->to, s->room, it->opcode, it->data, it->len);
    }
    script_free(s);
}

static void script_fire(void *data)
{
    ws_script_t *s = data;
    s->c->in->svc->timer_stop(s->timer);
    s->timer = NULL;
    s->waited = 1;
    script_run(s);
}

static void sched_fire(void *data)
{
    ws_sched_t *s = data;
    ws_conn_t *c = s->c;
    if (c->state != ST_OPEN) {
        sched_free(s);
        return;
    }
    (void)send_message(c, s->opcode, s->data, s->len);
    /* the send may have dropped the connection, which freed s */
    if (c->state == ST_OPEN && s->left > 0 && --s->left == 0)
        sched_free(s);
}

/* ---- answers ----------------------------------------------------------------
 */

/* A delay from a mock: a number, or a string a template rendered. */
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

/* The bytes and opcode of a message member {data | binary}: text for a
 * string (as is) or any other JSON (compact), binary for base64. Returns
 * 0, 1 (nothing to send), or -ENOMEM. */
static int data_of(const json_t *m, int *opcode, uint8_t **d, size_t *len)
{
    const json_t *bin = json_object_get(m, "binary");
    if (json_is_string(bin)) {
        *opcode = WS_OP_BINARY;
        int rc = ws_b64_decode(json_string_value(bin), json_string_length(bin),
                               d, len);
        return rc == -EINVAL ? 1 : rc;
    }
    const json_t *v = json_object_get(m, "data");
    if (v == NULL)
        return 1;
    *opcode = WS_OP_TEXT;
    if (json_is_string(v)) {
        *len = json_string_length(v);
        *d = malloc(*len + 1);
        if (*d == NULL)
            return -ENOMEM;
        memcpy(*d, json_string_value(v), *len);
        return 0;
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t == NULL)
        return -ENOMEM;
    *d = (uint8_t *)t;
    *len = strlen(t);
    return 0;
}

static void room_set(ws_shared_t *sh, char **rooms, size_t *n,
                     const char *room, int join)
{
    if (room == NULL || room[0] == '\0' || strlen(room) > WS_ROOM_MAX)
        return;
    pthread_mutex_lock(&sh->mu);
    size_t i = 0;
    while (i < *n && strcmp(rooms[i], room) != 0)
        i++;
    if (join && i == *n && *n < WS_ROOMS_MAX) {
        char *r = strdup(room);
        if (r)
            rooms[(*n)++] = r;
    } else if (!join && i < *n) {
        free(rooms[i]);
        rooms[i] = rooms[--*n];
    }
    pthread_mutex_unlock(&sh->mu);
}

void ws_rooms_apply(ws_shared_t *sh, char **rooms, size_t *n,
                    const json_t *v, int join)
{
    if (json_is_string(v)) {
        room_set(sh, rooms, n, json_string_value(v), join);
        return;
    }
    size_t i;
    const json_t *r;
    if (json_is_array(v))
        json_array_foreach(v, i, r) if (json_is_string(r))
            room_set(sh, rooms, n, json_string_value(r), join);
}

static void schedule_one(ws_conn_t *c, const json_t *s)
{
    if (!json_is_object(s) || c->n_scheds >= WS_SCHEDULES_MAX)
        return;
    uint64_t every = ms_of(json_object_get(s, "every"));
    if (every < WS_EVERY_MIN)
        every = WS_EVERY_MIN;
    ws_sched_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return;
    sc->c = c;
    sc->left = (long)ms_of(json_object_get(s, "count"));
    if (data_of(s, &sc->opcode, &sc->data, &sc->len) != 0 ||
        c->in->svc->timer_start(c->in->ctx, every, every, sched_fire, sc,
                                &sc->timer) < 0) {
        free(sc->data);
        free(sc);
        return;
    }
    sc->nxt = c->scheds;
    if (c->scheds)
        c->scheds->prev = sc;
    c->scheds = sc;
    c->n_scheds++;
}

static int item_add(ws_item_t *items, size_t *n, const json_t *m,
                    uint64_t delay)
{
    ws_item_t *it = &items[*n];
    memset(it, 0, sizeof(*it));
    it->kind = IT_MSG;
    it->delay = delay;
    int rc = data_of(m, &it->opcode, &it->data, &it->len);
    if (rc == 0)
        (*n)++;
    return rc < 0 ? rc : 0;
}

static void script_drop(ws_script_t *s)
{
    items_free(s->items, s->n);
    free(s->room);
    free(s);
}

/* The payload as the first item, after the answer's delay. */
static int script_payload(ws_script_t *s, const doppel_reply_t *r)
{
    /* no payload (or an empty one): no first message */
    if (r->body == NULL || r->body_len == 0)
        return 0;
    ws_item_t *it = &s->items[s->n];
    it->kind = IT_MSG;
    it->opcode = WS_OP_TEXT;
    it->delay = r->delay_ms;
    it->data = malloc(r->body_len);
    if (it->data == NULL)
        return -ENOMEM;
    memcpy(it->data, r->body, r->body_len);
    it->len = r->body_len;
    s->n++;
    return 1;
}

static void script_close(ws_script_t *s, const json_t *cl, uint64_t lead)
{
    ws_item_t *it = &s->items[s->n++];
    it->kind = IT_CLOSE;
    it->delay = lead + ms_of(json_object_get(cl, "delay"));
    uint64_t code = ms_of(json_object_get(cl, "code"));
    it->code = code && code <= 4999 && ws_close_code_valid((unsigned)code)
                   ? (unsigned)code
                   : WS_CLOSE_NORMAL;
    const json_t *why = json_object_get(cl, "reason");
    snprintf(it->reason, sizeof(it->reason), "%s",
             json_is_string(why) ? json_string_value(why) : "");
}

/* The items of an answer: payload, messages, close, each with its delay
 * after the one before (the answer's own delay before the first), and
 * where they go. NULL: out of memory. */
static ws_script_t *script_build(ws_conn_t *c, const doppel_reply_t *r,
                                 const json_t *ex)
{
    const json_t *msgs = json_object_get(ex, "messages");
    const json_t *cl = json_object_get(ex, "close");
    const json_t *bc = json_object_get(ex, "broadcast");
    size_t cap = 2 + (json_is_array(msgs) ? json_array_size(msgs) : 0);
    ws_script_t *s = calloc(1, sizeof(*s));
    ws_item_t *items = calloc(cap, sizeof(*items));
    if (s == NULL || items == NULL) {
        free(s);
        free(items);
        return NULL;
    }
    s->c = c;
    s->items = items;
    int rc = script_payload(s, r);
    uint64_t lead = rc == 1 ? 0 : r->delay_ms;
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        size_t before = s->n;
        uint64_t delay = lead + ms_of(json_object_get(m, "delay"));
        if (rc >= 0 && json_is_object(m))
            rc = item_add(items, &s->n, m, delay);
        if (s->n > before)
            lead = 0;
    }
    if (json_is_object(cl))
        script_close(s, cl, lead);
    if (json_is_true(bc)) {
        s->to = TO_PATH;
    } else if (json_is_string(json_object_get(bc, "room"))) {
        s->to = TO_ROOM;
        s->room = strdup(json_string_value(json_object_get(bc, "room")));
        if (s->room == NULL)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        script_drop(s);
        return NULL;
    }
    return s;
}

/* Turns a reply into rooms, a script and schedules, and starts them. */
static void answer(ws_conn_t *c, const doppel_reply_t *r)
{
    json_t *ex = NULL;
    if (r->extra.len > 0)
        ex = json_loadb(r->extra.ptr, r->extra.len, 0, NULL);
    ws_rooms_apply(c->in->sh, c->rooms, &c->n_rooms,
                   json_object_get(ex, "join"), 1);
    ws_rooms_apply(c->in->sh, c->rooms, &c->n_rooms,
                   json_object_get(ex, "leave"), 0);
    ws_script_t *s = NULL;
    if (c->n_scripts < WS_SCRIPTS_MAX) {
        s = script_build(c, r, ex);
    } else {
        if (!c->in->warned_full)
            c->in->svc->log(c->in->ctx, DOPPEL_LOG_WARN,
                            "connection %llu: %d answers in flight, "
                            "dropping more",
                            (unsigned long long)c->id, WS_SCRIPTS_MAX);
        c->in->warned_full = 1;
        ws_count(c->in, "answers_dropped", c->ns, 1);
    }
    if (s != NULL) {
        s->nxt = c->scripts;
        if (c->scripts)
            c->scripts->prev = s;
        c->scripts = s;
        c->n_scripts++;
    }
    const json_t *sch = json_object_get(ex, "schedule");
    size_t i;
    const json_t *m;
    if (json_is_array(sch)) {
        json_array_foreach(sch, i, m) schedule_one(c, m);
    } else {
        schedule_one(c, sch);
    }
    if (s != NULL)
        script_run(s);
    json_decref(ex);
}

/* ---- matching ---------------------------------------------------------------
 */

/* Matches one message of the connection (or its connect / close event).
 * quiet: journal only, send nothing. */
static void match(ws_conn_t *c, const char *event, const char *body,
                  size_t blen, int quiet)
{
    ws_inst_t *in = c->in;
    const char *id = c->id_text;
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("socket"),
        .ns = {c->ns, strlen(c->ns)},
        .operation = {event, strlen(event)},
        .target = {c->path, strlen(c->path)},
        .body = (const uint8_t *)body,
        .body_len = blen,
        .content_type = DOPPEL_STR("application/json"),
        .remote_addr = {c->remote, strlen(c->remote)},
        .connection = {id, strlen(id)},
    };
    doppel_reply_t *r = NULL;
    if (in->svc->engine_session_match(c->session, &x, &r) < 0 || r == NULL)
        return;
    if (r->kind == DOPPEL_REPLY_RESPONSE && !quiet) {
        answer(c, r);
    } else if (r->kind == DOPPEL_REPLY_PROXY) {
        if (DOPPEL_HAS_SERVICE(in->svc, engine_forwarded))
            (void)in->svc->engine_forwarded(in->ctx, r, 501, "websocket", 0);
    } else if (r->kind == DOPPEL_REPLY_NO_MATCH && !quiet) {
        if (r->status == 401 || r->status == 403) {
            ws_conn_shutdown(c, WS_CLOSE_POLICY, "not allowed");
        } else if (in->error_frames && strcmp(event, "connect") != 0) {
            json_t *e =
                json_pack("{s:s, s:s}", "error", "no mock matched this message",
                          "event", event);
            char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
            if (t)
                (void)send_message(c, WS_OP_TEXT, (uint8_t *)t, strlen(t));
            free(t);
            json_decref(e);
        }
    }
    in->svc->engine_reply_free(in->ctx, r);
}

/* The close event, once: code and reason of the close that ended it. */
static void match_close(ws_conn_t *c, unsigned code, const char *reason)
{
    if (c->close_matched)
        return;
    c->close_matched = 1;
    json_t *b = json_pack("{s:s, s:i, s:s}", "event", "close", "code",
                          (int)code, "reason", reason ? reason : "");
    char *t = b ? json_dumps(b, JSON_COMPACT) : NULL;
    if (t)
        match(c, "close", t, strlen(t), 1);
    free(t);
    json_decref(b);
}

/* The kind of a message: its "event" or "type" member when a string. */
static void event_of(const json_t *j, char *out, size_t cap)
{
    const json_t *e = json_object_get(j, "event");
    if (!json_is_string(e))
        e = json_object_get(j, "type");
    size_t l = json_is_string(e) ? json_string_length(e) : 0;
    const char *v = json_string_value(e);
    if (l == 0 || l >= cap || memchr(v, 0, l) != NULL) {
        v = "message";
        l = 7;
    }
    memcpy(out, v, l);
    out[l] = '\0';
}

/* The kind of a text message into event (as event_of says it), and
 * whether it is JSON (1) or not (0). JSON_DECODE_ANY when any: any value,
 * else objects only. */
static int kind_of(const char *text, size_t len, int any, char *event,
                   size_t cap)
{
    const char *e = NULL;
    size_t el = 0;
    int sc = ws_json_scan(text, len, &e, &el);
    if (sc == 1 && !any && text[0] != '{' && text[0] != '[')
        sc = 0; /* jansson without DECODE_ANY: no top-level scalar */
    if (sc >= 0) {
        if (e == NULL || el == 0 || el >= cap) {
            e = "message";
            el = 7;
        }
        memcpy(event, e, el);
        event[el] = '\0';
        return sc;
    }
    json_t *j = json_loadb(text, len, any ? JSON_DECODE_ANY : 0, NULL);
    event_of(j, event, cap);
    json_decref(j);
    return j != NULL;
}

static void on_message(ws_conn_t *c, const ws_event_t *ev)
{
    __atomic_fetch_add(&c->msgs_in, 1, __ATOMIC_RELAXED);
    ws_count(c->in, "messages_in", c->ns, 1);
    char event[129];
    char *own = NULL;
    const char *body = (const char *)ev->data;
    size_t blen = ev->len;
    if (ev->opcode == WS_OP_TEXT) {
        if (!kind_of(body, blen, 1, event, sizeof(event))) {
            /* text that is not JSON: one JSON string, so that conditions
             * with path "" or "$" see it whole */
            json_t *s = json_stringn(body, blen);
            own = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            json_decref(s);
            if (own == NULL)
                return;
            body = own;
            blen = strlen(own);
        }
    } else {
        char *b64 = ws_b64_encode(ev->data, ev->len, NULL);
        json_t *o = b64 ? json_pack("{s:s}", "binary", b64) : NULL;
        own = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        free(b64);
        if (own == NULL)
            return;
        body = own;
        blen = strlen(own);
        snprintf(event, sizeof(event), "message");
    }
    match(c, event, body, blen, 0);
    free(own);
}

/* ---- the close and the end --------------------------------------------------
 */

/* Stops every timer of the connection. The scripts and schedules stay
 * until on_close frees them, since one of them may be what is running
 * now (its send dropped the connection). */
static void stop_timers(ws_conn_t *c)
{
    for (ws_script_t *s = c->scripts; s; s = s->nxt)
        if (s->timer) {
            c->in->svc->timer_stop(s->timer);
            s->timer = NULL;
        }
    for (ws_sched_t *s = c->scheds; s; s = s->nxt)
        if (s->timer) {
            c->in->svc->timer_stop(s->timer);
            s->timer = NULL;
        }
}

static void free_all(ws_conn_t *c)
{
    while (c->scripts)
        script_free(c->scripts);
    while (c->scheds)
        sched_free(c->scheds);
}

/* conn_close; on_close frees. */
static void finish(ws_conn_t *c, uint32_t flags)
{
    if (c->state == ST_DONE)
        return;
    c->state = ST_DONE;
    stop_timers(c);
    c->in->svc->conn_close(c->conn, flags);
}

/* Ends the connection without waiting for the peer. */
static void drop(ws_conn_t *c, unsigned code, const char *why)
{
    if (c->state == ST_DONE)
        return;
    match_close(c, code ? code : WS_CLOSE_ABNORMAL, why);
    finish(c, DOPPEL_CONN_CLOSE_NOW);
}

void ws_conn_shutdown(ws_conn_t *c, unsigned code, const char *reason)
{
    if (c->state != ST_OPEN)
        return;
    if (code == 0) {
        drop(c, WS_CLOSE_ABNORMAL, reason);
        return;
    }
    c->state = ST_CLOSING;
    stop_timers(c);
    send_close(c, code, reason);
    match_close(c, code, reason);
    c->close_deadline = now_ms(c) + WS_CLOSE_WAIT_MS;
    /* stopping: no time to wait for the peer's answer */
    if (c->in->stopping)
        finish(c, DOPPEL_CONN_CLOSE_FLUSH);
}

static void on_event(void *ud, const ws_event_t *ev)
{
    ws_conn_t *c = ud;
    if (c->state == ST_DONE)
        return;
    switch (ev->type) {
    case WS_EV_MESSAGE:
        if (c->state == ST_OPEN)
            on_message(c, ev);
        break;
    case WS_EV_PING:
        if (c->state == ST_OPEN)
            send_control(c, WS_OP_PONG, ev->data, ev->len);
        break;
    case WS_EV_PONG:
        c->ping_at = 0;
        break;
    case WS_EV_CLOSE: {
        char reason[124];
        snprintf(reason, sizeof(reason), "%.*s", (int)ev->len,
                 (const char *)ev->data);
        if (c->state == ST_OPEN) {
            /* echo the peer's code (RFC 6455 5.5.1); none: none */
            send_close(c, ev->code == WS_CLOSE_NO_STATUS ? 0 : ev->code,
                       ev->code == WS_CLOSE_NO_STATUS ? "" : reason);
            match_close(c, ev->code, reason);
        }
        finish(c, DOPPEL_CONN_CLOSE_FLUSH);
        break;
    }
    case WS_EV_ERROR: {
        const char *why = (const char *)ev->data;
        ws_count(c->in, "protocol_errors", c->ns, 1);
        if (c->state == ST_OPEN)
            send_close(c, ev->code, why);
        match_close(c, ev->code, why);
        finish(c, DOPPEL_CONN_CLOSE_FLUSH);
        break;
    }
    }
}

/* Feeds the parser a slice at a time, so that a burst of small messages
 * stops being parsed once their answers pile up (put pauses the
 * connection); what is left waits in c->rx for on_drain. Returns 0 or
 * -ENOMEM (the rest could not be kept: the connection is dropped). */
static int feed(ws_conn_t *c, const uint8_t *buf, size_t len)
{
    while (len > 0 && !c->paused && c->state != ST_DONE) {
        size_t n = len < WS_FEED_SLICE ? len : WS_FEED_SLICE;
        (void)ws_parser_feed(c->parser, buf, n);
        buf += n;
        len -= n;
    }
    if (len == 0 || c->state == ST_DONE)
        return 0;
    uint8_t *rx = malloc(len);
    if (rx == NULL) {
        drop(c, WS_CLOSE_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    memcpy(rx, buf, len);
    free(c->rx);
    c->rx = rx;
    c->rx_len = len;
    return 0;
}

static void on_read(void *data, doppel_conn_t *conn, const uint8_t *buf,
                    size_t len)
{
    (void)conn;
    ws_conn_t *c = data;
    c->last_rx = now_ms(c);
    if (c->rx != NULL) {
        /* read before the pause took effect: keep the order */
        uint8_t *rx = realloc(c->rx, c->rx_len + len);
        if (rx == NULL) {
            drop(c, WS_CLOSE_INTERNAL, "out of memory");
            return;
        }
        memcpy(rx + c->rx_len, buf, len);
        c->rx = rx;
        c->rx_len += len;
        return;
    }
    (void)feed(c, buf, len);
}

static void on_drain(void *data, doppel_conn_t *conn)
{
    ws_conn_t *c = data;
    if (!c->paused || c->state == ST_DONE)
        return;
    c->paused = 0;
    uint8_t *rx = c->rx;
    size_t len = c->rx_len;
    c->rx = NULL;
    c->rx_len = 0;
    if (rx != NULL)
        (void)feed(c, rx, len); /* may pause again and keep a new rest */
    free(rx);
    if (!c->paused && c->state != ST_DONE &&
        c->in->svc->conn_pause(conn, 0) < 0)
        c->paused = 1;
}

static void on_end(void *data, doppel_conn_t *conn, int rc)
{
    (void)conn;
    (void)rc;
    drop(data, WS_CLOSE_ABNORMAL, "connection lost");
}

static void on_close(void *data, doppel_conn_t *conn)
{
    (void)conn;
    ws_conn_t *c = data;
    ws_inst_t *in = c->in;
    ws_shared_t *sh = in->sh;
    pthread_mutex_lock(&sh->mu);
    if (c->reg_prev)
        c->reg_prev->reg_next = c->reg_next;
    else
        sh->conns = c->reg_next;
    if (c->reg_next)
        c->reg_next->reg_prev = c->reg_prev;
    pthread_mutex_unlock(&sh->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    in->n_conns--;
    free_all(c);
    ws_count(in, "connections_closed", c->ns, 1);
    in->svc->engine_session_close(c->session);
    ws_parser_free(c->parser);
    ws_encoder_free(c->enc);
    free(c->rx);
    for (size_t i = 0; i < c->n_rooms; i++)
        free(c->rooms[i]);
    free(c->path);
    free(c->query);
    free(c->protocol);
    free(c);
    if (in->stop_waiting && in->n_conns == 0 && in->n_upgrading == 0) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

/* ---- the start --------------------------------------------------------------
 */

/* {"event": "connect", "path", "query": {name: value}, "subprotocol"} */
static char *connect_body(const ws_conn_t *c)
{
    json_t *q = json_object();
    const char *p = c->query;
    while (q && p && *p) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        size_t nl = eq ? (size_t)(eq - p) : l;
        char name[128];
        char *val = malloc(eq ? l - nl : 1);
        if (nl > 0 && nl < sizeof(name) && val) {
            size_t vl = eq ? ws_query_decode(eq + 1, l - nl - 1, val) : 0;
            val[vl] = '\0';
            /* the first of a repeated name; names and values that are not
             * UTF-8 are left out (json_stringn refuses them) */
            if (ws_query_decode(p, nl, name) > 0 &&
                json_object_get(q, name) == NULL)
                json_object_set_new(q, name, json_stringn(val, vl));
        }
        free(val);
        p = amp ? amp + 1 : p + l;
    }
    json_t *o = q ? json_pack("{s:s, s:s, s:o}", "event", "connect", "path",
                              c->path, "query", q)
                  : NULL;
    if (o && c->protocol)
        json_object_set_new(o, "subprotocol", json_string(c->protocol));
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

static void conn_free_early(ws_conn_t *c)
{
    ws_parser_free(c->parser);
    ws_encoder_free(c->enc);
    free(c->path);
    free(c->query);
    free(c->protocol);
    free(c);
}

int ws_conn_accept(void *state, doppel_conn_t *conn,
                   const doppel_conn_info_t *info)
{
    ws_accept_t *a = state;
    ws_inst_t *in = a->in;
    in->n_upgrading--;
    (void)info;
    if (conn == NULL) {
        ws_accept_free(a);
        if (in->stop_waiting && in->n_conns == 0 && in->n_upgrading == 0) {
            in->stop_waiting = 0;
            in->svc->stop_done(in->ctx);
        }
        return 0;
    }
    ws_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ws_accept_free(a);
        return -ENOMEM;
    }
    c->in = in;
    c->conn = conn;
    memcpy(c->ns, a->ns, sizeof(c->ns));
    memcpy(c->remote, a->remote, sizeof(c->remote));
    c->path = a->path;
    c->query = a->query;
    c->protocol = a->protocol;
    c->session = a->session;
    a->path = a->query = a->protocol = NULL;
    a->session = NULL;
    /* the codec copies it, but only when the parser and encoder are made */
    ws_deflate_params_t dp = a->deflate;
    ws_accept_free(a);
    c->deflate = dp.enabled;
    ws_parser_cfg_t pc = {.client = 0,
                          .max_message = in->max_message,
                          .deflate = &dp,
                          .on_event = on_event,
                          .ud = c};
    ws_encoder_cfg_t ec = {.client = 0, .deflate = &dp};
    doppel_conn_cbs_t cbs = {.size = sizeof(cbs),
                             .on_read = on_read,
                             .on_end = on_end,
                             .on_drain = on_drain,
                             .on_close = on_close};
    if (ws_parser_new(&pc, &c->parser) < 0 ||
        ws_encoder_new(&ec, &c->enc) < 0 ||
        in->svc->conn_start(conn, &cbs, c) < 0) {
        in->svc->engine_session_close(c->session);
        conn_free_early(c);
        return -ENOMEM;
    }
    /* from here on_close frees c */
    c->opened_ms = wall_ms();
    c->last_rx = now_ms(c);
    ws_shared_t *sh = in->sh;
    pthread_mutex_lock(&sh->mu);
    c->id = ++sh->next_id;
    snprintf(c->id_text, sizeof(c->id_text), "%llu", (unsigned long long)c->id);
    c->reg_next = sh->conns;
    if (sh->conns)
        sh->conns->reg_prev = c;
    sh->conns = c;
    pthread_mutex_unlock(&sh->mu);
    c->next = in->conns;
    if (in->conns)
        in->conns->prev = c;
    in->conns = c;
    in->n_conns++;
    ws_count(in, "connections_opened", c->ns, 1);
    if (in->draining || in->stopping) {
        ws_conn_shutdown(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        return 0;
    }
    char *b = connect_body(c);
    if (b)
        match(c, "connect", b, strlen(b), 0);
    free(b);
    return 0;
}

/* ---- jobs, ticks, the registry ----------------------------------------------
 */

int ws_conn_targeted(const ws_conn_t *c, const ws_target_t *t)
{
    /* a socket.io namespace names socket.io sockets only */
    if (t->nsp || strcmp(c->ns, t->ns) != 0 || (t->id && c->id != t->id) ||
        (t->skip && c->id == t->skip))
        return 0;
    if (t->path && strcmp(c->path, t->path) != 0)
        return 0;
    if (t->room) {
        for (size_t i = 0; i < c->n_rooms; i++)
            if (strcmp(c->rooms[i], t->room) == 0)
                return 1;
        return 0;
    }
    return 1;
}

long ws_conn_serve_job(ws_inst_t *in, const ws_job_t *job)
{
    long n = 0;
    ws_conn_t *next;
    for (ws_conn_t *c = in->conns; c; c = next) {
        next = c->next;
        if (c->state != ST_OPEN || !ws_conn_targeted(c, &job->t))
            continue;
        if (job->kind == WS_JOB_CLOSE) {
            ws_conn_shutdown(c, job->code, job->reason);
            n++;
        } else if (send_message(c, job->opcode, job->data, job->len) == 0) {
            n++;
        }
    }
    return n;
}

void ws_conn_close_all(ws_inst_t *in, unsigned code, const char *reason)
{
    ws_conn_t *next;
    for (ws_conn_t *c = in->conns; c; c = next) {
        next = c->next;
        if (c->state == ST_OPEN)
            ws_conn_shutdown(c, code, reason);
        else if (in->stopping)
            finish(c, DOPPEL_CONN_CLOSE_FLUSH);
    }
}

void ws_conn_tick(ws_inst_t *in)
{
    ws_conn_t *next;
    for (ws_conn_t *c = in->conns; c; c = next) {
        next = c->next;
        uint64_t now = now_ms(c);
        if (c->state == ST_CLOSING && now >= c->close_deadline) {
            finish(c, DOPPEL_CONN_CLOSE_NOW);
        } else if (c->state == ST_OPEN && c->ping_at &&
                   now - c->ping_at >= in->pong_timeout_ms) {
            ws_count(in, "pong_timeouts", c->ns, 1);
            drop(c, WS_CLOSE_ABNORMAL, "no pong");
        } else if (c->state == ST_OPEN && in->ping_interval_ms && !c->ping_at &&
                   now - c->last_rx >= in->ping_interval_ms) {
            c->ping_at = now;
            c->last_rx = now;
            send_control(c, WS_OP_PING, (const uint8_t *)"doppel", 6);
        }
    }
}

ws_conn_t *ws_conn_reg_next(const ws_conn_t *c)
{
    return c->reg_next;
}

json_t *ws_conn_describe(const ws_conn_t *c)
{
    char id[24], at[32];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
    time_t secs = (time_t)(c->opened_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at + k, sizeof(at) - k, ".%03dZ", (int)(c->opened_ms % 1000));
    json_t *rooms = json_array();
    for (size_t i = 0; rooms && i < c->n_rooms; i++)
        json_array_append_new(rooms, json_string(c->rooms[i]));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:b, s:i}", "id", id, "path",
        c->path, "remote", c->remote, "openedAt", at, "messagesIn",
        (json_int_t)__atomic_load_n(&c->msgs_in, __ATOMIC_RELAXED),
        "messagesOut",
        (json_int_t)__atomic_load_n(&c->msgs_out, __ATOMIC_RELAXED), "rooms",
        rooms ? rooms : json_array(), "compressed", c->deflate, "worker",
        (int)c->in->worker);
    if (o && c->protocol)
        json_object_set_new(o, "subprotocol", json_string(c->protocol));
    return o;
}
