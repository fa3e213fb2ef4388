/*
 * socket.io's Engine.IO side (sio_server.h): the HTTP requests on
 * socketio_path, the WebSocket transports, the sessions.
 *
 * A request is ours when its path (after <stubs_prefix>/<namespace>) is
 * socketio_path, with or without its trailing '/', and the option
 * `socketio` is on. The handshake (GET, transport=polling, no sid) makes
 * a session owned by this loop and answers its open packet; a WebSocket
 * without sid makes one whose transport is that WebSocket. Every later
 * request names its sid: the registry says which worker owns it, and the
 * request goes there as a job, kept here as a hold until the owner's
 * answer comes back (RESPOND). Jobs are always posted, also to this loop,
 * so that they run in order and never inside the code that sent them.
 *
 * The upgrade: the client opens a WebSocket with the sid and sends
 * "2probe"; the owner answers "3probe" on it and releases the pending GET
 * with a noop; "5" switches the session to the WebSocket, which then gets
 * what was queued for polling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "sio_server.h"

/* polling packets queued for a client that does not come for them */
#define SIO_QUEUE_MAX (4u << 20)

typedef struct sio_hold {
    uint64_t token;
    doppel_http_exchange_t *ex;
    char *origin; /* the request's Origin, for CORS; NULL: none */
    struct sio_hold *prev, *next;
} sio_hold_t;

typedef struct sio_wst {
    sio_inst_t *si;
    doppel_conn_t *conn;
    uint64_t token;
    char sid[SIO_SID_LEN + 1];
    unsigned owner;
    ws_parser_t *parser;
    ws_encoder_t *enc;
    int closing;
    int gone_sent;
    struct sio_wst *prev, *next;
} sio_wst_t;

/* What the upgrade settled, from the handler to on_accept. */
typedef struct sio_acc {
    sio_inst_t *si;
    char sid[SIO_SID_LEN + 1];
    char ns[WS_NS_MAX + 1];
    char remote[64];
    char *query;
    doppel_kv_t *headers;
    size_t n_headers;
    char *header_buf;
} sio_acc_t;

/* Copies headers into one buffer (*buf) and an array into it (*out).
 * 0 or -ENOMEM (nothing to free then). */
static int headers_copy(const doppel_kv_t *h, size_t n, doppel_kv_t **out,
                        char **buf)
{
    *out = NULL;
    *buf = NULL;
    if (n == 0)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name.len + h[i].value.len + 2;
    *out = calloc(n, sizeof(**out));
    *buf = malloc(total);
    if (*out == NULL || *buf == NULL) {
        free(*out);
        free(*buf);
        *out = NULL;
        *buf = NULL;
        return -ENOMEM;
    }
    char *p = *buf;
    for (size_t i = 0; i < n; i++) {
        const doppel_str_t *parts[2] = {&h[i].name, &h[i].value};
        doppel_str_t *dst[2] = {&(*out)[i].name, &(*out)[i].value};
        for (int k = 0; k < 2; k++) {
            memcpy(p, parts[k]->ptr, parts[k]->len);
            p[parts[k]->len] = '\0';
            *dst[k] = (doppel_str_t){p, parts[k]->len};
            p += parts[k]->len + 1;
        }
    }
    return 0;
}

static void job_serve(sio_inst_t *si, sio_job_t *j);

int64_t sio_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs -------------------------------------------------------------- */

static void job_free(sio_job_t *j)
{
    free(j->data);
    free(j->room);
    free(j->bin);
    free(j);
}

static void job_run(void *data)
{
    sio_job_t *j = data;
    pthread_mutex_lock(&j->sh->mu);
    ws_inst_t *in = j->sh->insts[j->worker];
    pthread_mutex_unlock(&j->sh->mu);
    /* in, if still there, is this loop's own instance */
    if (in && in->sio)
        job_serve(in->sio, j);
    job_free(j);
}

static sio_job_t *job_copy(const sio_job_t *src)
{
    sio_job_t *j = malloc(sizeof(*j));
    if (j == NULL)
        return NULL;
    *j = *src;
    j->data = src->len ? malloc(src->len) : NULL;
    j->room = src->room ? strdup(src->room) : NULL;
    j->bin = src->has_bin ? malloc(src->bin_len ? src->bin_len : 1) : NULL;
    if ((src->len && !j->data) || (src->room && !j->room) ||
        (src->has_bin && !j->bin)) {
        job_free(j);
        return NULL;
    }
    if (src->len)
        memcpy(j->data, src->data, src->len);
    if (src->has_bin && src->bin_len)
        memcpy(j->bin, src->bin, src->bin_len);
    return j;
}

int sio_job_post(sio_inst_t *self, unsigned w, const sio_job_t *job)
{
    ws_shared_t *sh = self->in->sh;
    sio_job_t *j = job_copy(job);
    if (j == NULL)
        return -ENOMEM;
    j->sh = sh;
    j->worker = w;
    int rc = -ENOENT;
    pthread_mutex_lock(&sh->mu);
    ws_inst_t *in = w < WS_WORKERS_MAX ? sh->insts[w] : NULL;
    if (in == NULL && w == self->in->worker)
        in = self->in; /* during init, before it is registered */
    if (in)
        rc = self->in->svc->post(in->ctx, job_run, j);
    pthread_mutex_unlock(&sh->mu);
    if (rc < 0)
        job_free(j);
    return rc;
}

void sio_job_post_all(sio_inst_t *self, const sio_job_t *job)
{
    ws_shared_t *sh = self->in->sh;
    unsigned ws[WS_WORKERS_MAX];
    size_t n = 0;
    pthread_mutex_lock(&sh->mu);
    for (unsigned w = 0; w < WS_WORKERS_MAX; w++)
        if (sh->insts[w])
            ws[n++] = w;
    pthread_mutex_unlock(&sh->mu);
    for (size_t i = 0; i < n; i++)
        (void)sio_job_post(self, ws[i], job);
}

/* ---- holds: exchanges waiting for the owner's answer ------------------- */

static sio_hold_t *hold_new(sio_inst_t *si, doppel_http_exchange_t *ex,
                            const doppel_http_request_t *req)
{
    sio_hold_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    const doppel_str_t *o = req->header(req, "Origin");
    if (o && (h->origin = strndup(o->ptr, o->len)) == NULL) {
        free(h);
        return NULL;
    }
    h->token = ++si->next_token;
    h->ex = ex;
    h->next = si->holds;
    if (si->holds)
        si->holds->prev = h;
    si->holds = h;
    return h;
}

/* The CORS headers of an answer to a request with Origin (the origin was
 * allowed, or the request would have been refused). */
static size_t cors(const char *origin, doppel_kv_t *h, size_t n)
{
    if (origin == NULL)
        return n;
    h[n++] = (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Origin"),
                           {origin, strlen(origin)}};
    h[n++] = (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Credentials"),
                           DOPPEL_STR("true")};
    return n;
}

static void respond(sio_inst_t *si, doppel_http_exchange_t *ex,
                    const char *origin, int status, const void *body,
                    size_t len)
{
    doppel_kv_t h[4];
    int json = status >= 400 && len > 0 && ((const char *)body)[0] == '{';
    h[0] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                         json ? DOPPEL_STR("application/json")
                              : DOPPEL_STR("text/plain; charset=UTF-8")};
    size_t n = cors(origin, h, 1);
    (void)si->in->svc->http_respond(ex, status, h, n, body, len);
}

static void hold_answer(sio_inst_t *si, sio_hold_t *h, int status,
                        const void *body, size_t len)
{
    respond(si, h->ex, h->origin, status, body, len);
    if (h->prev)
        h->prev->next = h->next;
    else
        si->holds = h->next;
    if (h->next)
        h->next->prev = h->prev;
    free(h->origin);
    free(h);
}

static sio_hold_t *hold_find(sio_inst_t *si, uint64_t token)
{
    for (sio_hold_t *h = si->holds; h; h = h->next)
        if (h->token == token)
            return h;
    return NULL;
}

/* Answers the transport's worker's hold (a job back to it). */
static void answer(sio_inst_t *si, unsigned w, uint64_t token, int status,
                   const void *body, size_t len)
{
    sio_job_t j = {.kind = SIO_J_RESPOND,
                   .token = token,
                   .status = status,
                   .data = (uint8_t *)body,
                   .len = len};
    (void)sio_job_post(si, w, &j);
}

static const char E_SID[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";
static const char E_BAD[] = "{\"code\":3,\"message\":\"Bad request\"}";

/* ---- sessions ---------------------------------------------------------- */

void sio_make_id(char out[SIO_SID_LEN + 1])
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[SIO_SID_LEN];
    if (RAND_bytes(r, sizeof(r)) != 1) {
        /* no entropy: still unique, through the time and an address */
        uint64_t x = (uint64_t)sio_wall_ms() ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < sizeof(r); i++, x = x * 6364136223846793005u + 1)
            r[i] = (uint8_t)(x >> 33);
    }
    for (size_t i = 0; i < SIO_SID_LEN; i++)
        out[i] = abc[r[i] & 63];
    out[SIO_SID_LEN] = '\0';
}

/* The owner of sid: its worker, or -1 when no session has it. */
static int sid_owner(ws_shared_t *sh, const char *sid)
{
    int w = -1;
    pthread_mutex_lock(&sh->mu);
    for (sio_sess_t *s = sh->sio_sessions; s; s = s->reg_next)
        if (strcmp(s->sid, sid) == 0) {
            w = (int)s->si->in->worker;
            break;
        }
    pthread_mutex_unlock(&sh->mu);
    return w;
}

static sio_sess_t *sess_find(sio_inst_t *si, const char *sid)
{
    for (sio_sess_t *s = si->sessions; s; s = s->next)
        if (strcmp(s->sid, sid) == 0)
            return s;
    return NULL;
}

static void ping_fire(void *data);

static sio_sess_t *sess_new(sio_inst_t *si, const char *ns, const char *remote,
                            const char *query, const doppel_kv_t *hdrs,
                            size_t n_hdrs)
{
    sio_sess_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (headers_copy(hdrs, n_hdrs, &s->headers, &s->header_buf) < 0) {
        free(s);
        return NULL;
    }
    s->n_headers = n_hdrs;
    s->si = si;
    snprintf(s->ns, sizeof(s->ns), "%s", ns);
    snprintf(s->remote, sizeof(s->remote), "%s", remote);
    s->query = strdup(query ? query : "");
    s->opened_ms = sio_wall_ms();
    s->partial.id = -1;
    if (s->query == NULL ||
        si->in->svc->timer_start(si->in->ctx, si->ping_interval,
                                 si->ping_interval, ping_fire, s,
                                 &s->ping_timer) < 0) {
        free(s->query);
        free(s->headers);
        free(s->header_buf);
        free(s);
        return NULL;
    }
    ws_shared_t *sh = si->in->sh;
    pthread_mutex_lock(&sh->mu);
    sio_make_id(s->sid); /* 120 random bits: no two alike */
    s->reg_next = sh->sio_sessions;
    if (sh->sio_sessions)
        sh->sio_sessions->reg_prev = s;
    sh->sio_sessions = s;
    pthread_mutex_unlock(&sh->mu);
    s->next = si->sessions;
    if (si->sessions)
        si->sessions->prev = s;
    si->sessions = s;
    ws_count(si->in, "sio_sessions_opened", s->ns, 1);
    return s;
}

/* Frees a closed session (its callers' last step: never inside the code
 * that closed it, which may still hold it). */
void sio_sess_reap(sio_sess_t *s)
{
    if (s == NULL || !s->closed)
        return;
    sio_inst_t *si = s->si;
    if (s->prev)
        s->prev->next = s->next;
    else
        si->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->has_partial)
        sio_packet_clear(&s->partial);
    ws_buf_free(&s->queue);
    free(s->query);
    free(s->headers);
    free(s->header_buf);
    free(s);
}

static void ws_out(sio_sess_t *s, const uint8_t *d, size_t len, int binary,
                   int close)
{
    sio_job_t j = {.kind = SIO_J_WS_OUT,
                   .token = s->wst_token,
                   .data = (uint8_t *)d,
                   .len = len,
                   .binary = binary,
                   .close = close};
    (void)sio_job_post(s->si, s->wst_worker, &j);
}

/* Answers the pending GET with what is queued (or with pk alone). */
static void flush_get(sio_sess_t *s)
{
    if (!s->has_get || s->n_queued == 0)
        return;
    answer(s->si, s->get_worker, s->get_token, 200, s->queue.data,
           s->queue.len);
    s->has_get = 0;
    s->queue.len = 0;
    s->n_queued = 0;
}

static void release_get(sio_sess_t *s, const char *pk)
{
    if (!s->has_get)
        return;
    answer(s->si, s->get_worker, s->get_token, 200, pk, strlen(pk));
    s->has_get = 0;
}

int sio_sess_send(sio_sess_t *s, int type, const uint8_t *d, size_t len,
                  int binary)
{
    if (s->closed)
        return -ENOTCONN;
    sio_eio_packet_t pk = {type, binary, d, len, 0};
    ws_buf_t b = {0};
    int rc;
    if (s->ws) {
        rc = sio_eio_encode_frame(&pk, &b);
        if (rc == 0)
            ws_out(s, b.data, b.len, binary, 0);
        ws_buf_free(&b);
        return rc;
    }
    if (s->queue.len > SIO_QUEUE_MAX)
        return -ENOBUFS;
    if (s->n_queued > 0 && sio_buf_append(&s->queue, "\x1e", 1) < 0)
        return -ENOMEM;
    rc = sio_eio_encode_payload(&pk, 1, &s->queue);
    if (rc < 0)
        return rc;
    s->n_queued++;
    flush_get(s);
    return 0;
}

void sio_sess_close(sio_sess_t *s, const char *reason)
{
    if (s->closed)
        return;
    sio_sock_end_all(s, reason);
    s->closed = 1;
    sio_inst_t *si = s->si;
    if (s->ping_timer)
        si->in->svc->timer_stop(s->ping_timer);
    if (s->pong_timer)
        si->in->svc->timer_stop(s->pong_timer);
    s->ping_timer = s->pong_timer = NULL;
    release_get(s, "1");
    if (s->has_wst)
        ws_out(s, NULL, 0, 0, 1);
    ws_shared_t *sh = si->in->sh;
    pthread_mutex_lock(&sh->mu);
    if (s->reg_prev)
        s->reg_prev->reg_next = s->reg_next;
    else
        sh->sio_sessions = s->reg_next;
    if (s->reg_next)
        s->reg_next->reg_prev = s->reg_prev;
    pthread_mutex_unlock(&sh->mu);
    ws_count(si->in, "sio_sessions_closed", s->ns, 1);
}

static void pong_fire(void *data)
{
    sio_sess_t *s = data;
    ws_count(s->si->in, "pong_timeouts", s->ns, 1);
    sio_sess_close(s, "ping timeout");
    sio_sess_reap(s);
}

static void ping_fire(void *data)
{
    sio_sess_t *s = data;
    const doppel_services_t *svc = s->si->in->svc;
    if (s->pong_timer != NULL)
        return; /* the last ping is still unanswered: pong_fire decides */
    (void)sio_sess_send(s, SIO_EIO_PING, NULL, 0, 0);
    (void)svc->timer_start(s->si->in->ctx, s->si->ping_timeout, 0, pong_fire, s,
                           &s->pong_timer);
}

/* One Engine.IO packet of the client's. Returns 0, or -1 when it was
 * malformed (the session is closed then). */
static int sess_packet(sio_sess_t *s, const sio_eio_packet_t *pk)
{
    const char *why = NULL;
    switch (pk->type) {
    case SIO_EIO_PONG:
        if (s->pong_timer) {
            s->si->in->svc->timer_stop(s->pong_timer);
            s->pong_timer = NULL;
        }
        return 0;
    case SIO_EIO_CLOSE:
        sio_sess_close(s, "client close");
        return 0;
    case SIO_EIO_MESSAGE:
        break;
    default:
        return 0; /* ping, upgrade, noop: nothing to do */
    }
    if (pk->binary) {
        if (!s->has_partial)
            return 0; /* a binary message outside socket.io: ignored */
        int rc = sio_packet_attach(&s->partial, pk->data, pk->len);
        if (rc == 0)
            return 0;
        s->has_partial = 0;
        if (rc == 1)
            sio_sock_packet(s, &s->partial);
        sio_packet_clear(&s->partial);
        if (rc < 0) {
            sio_sess_close(s, "parse error");
            return -1;
        }
        return 0;
    }
    if (s->has_partial) {
        sio_sess_close(s, "parse error"); /* attachments expected */
        return -1;
    }
    sio_packet_t p;
    if (sio_packet_decode((const char *)pk->data, pk->len, &s->si->lim, &p,
                          &why) < 0) {
        s->si->in->svc->log(s->si->in->ctx, DOPPEL_LOG_DEBUG,
                            "socket.io session %s: %s", s->sid, why);
        sio_sess_close(s, "parse error");
        return -1;
    }
    if (sio_packet_incomplete(&p)) {
        s->partial = p;
        s->has_partial = 1;
        return 0;
    }
    sio_sock_packet(s, &p);
    sio_packet_clear(&p);
    return 0;
}

/* ---- the owner's side of the jobs --------------------------------------- */

static void on_poll(sio_inst_t *si, sio_sess_t *s, const sio_job_t *j)
{
    if (s == NULL) {
        answer(si, j->from, j->token, 400, E_SID, strlen(E_SID));
        return;
    }
    if (s->ws) {
        answer(si, j->from, j->token, 400, E_BAD, strlen(E_BAD));
        return;
    }
    if (s->has_get) {
        /* two GETs at once: engine.io closes the session */
        answer(si, j->from, j->token, 400, E_BAD, strlen(E_BAD));
        sio_sess_close(s, "transport error");
        return;
    }
    s->has_get = 1;
    s->get_worker = j->from;
    s->get_token = j->token;
    if (s->upgrading)
        release_get(s, "6");
    else
        flush_get(s);
}

static void on_post(sio_inst_t *si, sio_sess_t *s, const sio_job_t *j)
{
    if (s == NULL) {
        answer(si, j->from, j->token, 400, E_SID, strlen(E_SID));
        return;
    }
    sio_eio_packet_t *pk = NULL;
    size_t n = 0;
    const char *why = NULL;
    int rc = sio_eio_decode_payload(j->data, j->len, &si->lim, &pk, &n, &why);
    if (rc < 0) {
        si->in->svc->log(si->in->ctx, DOPPEL_LOG_DEBUG,
                         "socket.io session %s: %s", s->sid,
                         why ? why : "out of memory");
        answer(si, j->from, j->token, rc == -E2BIG ? 413 : 400, E_BAD,
               strlen(E_BAD));
        sio_sess_close(s, "parse error");
        return;
    }
    /* the packets first: one socket.io cannot parse makes the answer a
     * 400 (the session is over then, as with a malformed payload) */
    int bad = 0;
    for (size_t i = 0; i < n && !s->closed; i++)
        bad |= sess_packet(s, &pk[i]) < 0;
    sio_eio_packets_free(pk, n);
    if (bad)
        answer(si, j->from, j->token, 400, E_BAD, strlen(E_BAD));
    else
        answer(si, j->from, j->token, 200, "ok", 2);
}

/* Sends what was queued for polling on the WebSocket that took over. */
static void flush_to_ws(sio_sess_t *s)
{
    sio_eio_packet_t *pk = NULL;
    size_t n = 0;
    sio_limits_t lim = {SIZE_MAX, SIZE_MAX, 0, 0};
    if (s->n_queued > 0 && sio_eio_decode_payload(s->queue.data, s->queue.len,
                                                  &lim, &pk, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            (void)sio_sess_send(s, pk[i].type, pk[i].data, pk[i].len,
                                pk[i].binary);
    }
    sio_eio_packets_free(pk, n);
    s->queue.len = 0;
    s->n_queued = 0;
}

static void on_ws_in(sio_inst_t *si, sio_sess_t *s, const sio_job_t *j)
{
    if (s == NULL) {
        sio_job_t c = {.kind = SIO_J_WS_OUT, .token = j->token, .close = 1};
        (void)sio_job_post(si, j->from, &c);
        return;
    }
    int mine =
        s->has_wst && s->wst_worker == j->from && s->wst_token == j->token;
    if (!s->ws) {
        /* the probe of an upgrade */
        if (!j->binary && j->len == 6 && memcmp(j->data, "2probe", 6) == 0 &&
            (!s->has_wst || mine)) {
            s->has_wst = 1;
            s->wst_worker = j->from;
            s->wst_token = j->token;
            s->upgrading = 1;
            ws_out(s, (const uint8_t *)"3probe", 6, 0, 0);
            release_get(s, "6");
        } else if (mine && s->upgrading && !j->binary && j->len == 1 &&
                   j->data[0] == '5') {
            __atomic_store_n(&s->ws, 1, __ATOMIC_RELAXED); /* read by actions */
            s->upgrading = 0;
            release_get(s, "6");
            flush_to_ws(s);
        }
        return;
    }
    if (!mine)
        return;
    sio_eio_packet_t pk;
    const char *why = NULL;
    if (sio_eio_decode_frame(j->data, j->len, j->binary, &si->lim, &pk, &why) <
        0) {
        sio_sess_close(s, "parse error");
        return;
    }
    (void)sess_packet(s, &pk);
}

static void on_ws_gone(sio_sess_t *s, const sio_job_t *j)
{
    if (s == NULL || !s->has_wst || s->wst_worker != j->from ||
        s->wst_token != j->token)
        return;
    s->has_wst = 0;
    if (s->ws)
        sio_sess_close(s, "transport close");
    else
        s->upgrading = 0; /* the probe failed: polling goes on */
}

/* ---- WebSocket transports on this loop ----------------------------------- */

static sio_wst_t *wst_find(sio_inst_t *si, uint64_t token)
{
    for (sio_wst_t *w = si->wsts; w; w = w->next)
        if (w->token == token)
            return w;
    return NULL;
}

static void wst_gone(sio_wst_t *w)
{
    if (w->gone_sent || w->sid[0] == '\0')
        return;
    w->gone_sent = 1;
    sio_job_t j = {
        .kind = SIO_J_WS_GONE, .from = w->si->in->worker, .token = w->token};
    memcpy(j.sid, w->sid, sizeof(j.sid));
    (void)sio_job_post(w->si, w->owner, &j);
}

static void wst_close(sio_wst_t *w, unsigned code, uint32_t flags)
{
    if (w->closing)
        return;
    w->closing = 1;
    wst_gone(w);
    ws_buf_t b = {0};
    if (code && ws_encode_close(w->enc, code, "", 0, &b) == 0)
        (void)w->si->in->svc->conn_write(w->conn, b.data, b.len, NULL, NULL);
    ws_buf_free(&b);
    w->si->in->svc->conn_close(w->conn, flags);
}

static void wst_write(sio_wst_t *w, const uint8_t *d, size_t len, int binary)
{
    if (w->closing)
        return;
    const doppel_services_t *svc = w->si->in->svc;
    ws_buf_t b = {0};
    int rc = ws_encode_message(w->enc, binary ? WS_OP_BINARY : WS_OP_TEXT, d,
                               len, 0, 0, &b);
    if (rc == 0)
        rc = svc->conn_write(w->conn, b.data, b.len, NULL, NULL);
    ws_buf_free(&b);
    if (rc < 0 || svc->conn_pending(w->conn) > w->si->in->max_backlog) {
        ws_count(w->si->in, "slow_readers", "", 1);
        wst_close(w, 0, DOPPEL_CONN_CLOSE_NOW);
    }
}

static void wst_event(void *ud, const ws_event_t *ev)
{
    sio_wst_t *w = ud;
    if (w->closing)
        return;
    switch (ev->type) {
    case WS_EV_MESSAGE: {
        sio_job_t j = {.kind = SIO_J_WS_IN,
                       .from = w->si->in->worker,
                       .token = w->token,
                       .data = (uint8_t *)ev->data,
                       .len = ev->len,
                       .binary = ev->opcode == WS_OP_BINARY};
        memcpy(j.sid, w->sid, sizeof(j.sid));
        (void)sio_job_post(w->si, w->owner, &j);
        break;
    }
    case WS_EV_PING: {
        ws_buf_t b = {0};
        if (ws_encode_control(w->enc, WS_OP_PONG, ev->data, ev->len, &b) == 0)
            (void)w->si->in->svc->conn_write(w->conn, b.data, b.len, NULL,
                                             NULL);
        ws_buf_free(&b);
        break;
    }
    case WS_EV_PONG:
        break;
    case WS_EV_CLOSE:
        wst_close(w,
                  ev->code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->code,
                  DOPPEL_CONN_CLOSE_FLUSH);
        break;
    case WS_EV_ERROR:
        wst_close(w, ev->code, DOPPEL_CONN_CLOSE_FLUSH);
        break;
    }
}

static void wst_read(void *data, doppel_conn_t *conn, const uint8_t *buf,
                     size_t len)
{
    (void)conn;
    sio_wst_t *w = data;
    if (!w->closing)
        (void)ws_parser_feed(w->parser, buf, len);
}

static void wst_end(void *data, doppel_conn_t *conn, int rc)
{
    (void)conn;
    (void)rc;
    sio_wst_t *w = data;
    wst_gone(w);
    w->closing = 1;
    w->si->in->svc->conn_close(w->conn, DOPPEL_CONN_CLOSE_NOW);
}

static void stop_check(ws_inst_t *in)
{
    if (in->stop_waiting && in->n_conns == 0 && in->n_upgrading == 0) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

static void wst_on_close(void *data, doppel_conn_t *conn)
{
    (void)conn;
    sio_wst_t *w = data;
    sio_inst_t *si = w->si;
    wst_gone(w);
    if (w->prev)
        w->prev->next = w->next;
    else
        si->wsts = w->next;
    if (w->next)
        w->next->prev = w->prev;
    ws_parser_free(w->parser);
    ws_encoder_free(w->enc);
    free(w);
    si->in->n_conns--;
    stop_check(si->in);
}

static void acc_free(sio_acc_t *a)
{
    if (a) {
        free(a->query);
        free(a->headers);
        free(a->header_buf);
        free(a);
    }
}

static int wst_accept(void *state, doppel_conn_t *conn,
                      const doppel_conn_info_t *info)
{
    (void)info;
    sio_acc_t *a = state;
    sio_inst_t *si = a->si;
    ws_inst_t *in = si->in;
    in->n_upgrading--;
    if (conn == NULL) {
        acc_free(a);
        stop_check(in);
        return 0;
    }
    sio_wst_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        acc_free(a);
        return -ENOMEM;
    }
    w->si = si;
    w->conn = conn;
    w->token = ++si->next_token;
    ws_parser_cfg_t pc = {.client = 0,
                          .max_message = si->max_payload,
                          .on_event = wst_event,
                          .ud = w};
    ws_encoder_cfg_t ec = {.client = 0};
    doppel_conn_cbs_t cbs = {.size = sizeof(cbs),
                             .on_read = wst_read,
                             .on_end = wst_end,
                             .on_close = wst_on_close};
    if (ws_parser_new(&pc, &w->parser) < 0 ||
        ws_encoder_new(&ec, &w->enc) < 0 ||
        in->svc->conn_start(conn, &cbs, w) < 0) {
        ws_parser_free(w->parser);
        ws_encoder_free(w->enc);
        free(w);
        acc_free(a);
        return -ENOMEM;
    }
    /* from here wst_on_close frees w */
    in->n_conns++;
    w->next = si->wsts;
    if (si->wsts)
        si->wsts->prev = w;
    si->wsts = w;
    if (in->draining || in->stopping) {
        acc_free(a);
        wst_close(w, WS_CLOSE_GOING_AWAY, DOPPEL_CONN_CLOSE_FLUSH);
        return 0;
    }
    if (a->sid[0]) {
        int owner = sid_owner(in->sh, a->sid);
        memcpy(w->sid, a->sid, sizeof(w->sid));
        w->owner = owner < 0 ? in->worker : (unsigned)owner;
        acc_free(a);
        if (owner < 0)
            wst_close(w, WS_CLOSE_POLICY, DOPPEL_CONN_CLOSE_FLUSH);
        return 0;
    }
    /* a WebSocket from the start: the session is this loop's */
    sio_sess_t *s =
        sess_new(si, a->ns, a->remote, a->query, a->headers, a->n_headers);
    acc_free(a);
    if (s == NULL) {
        wst_close(w, WS_CLOSE_INTERNAL, DOPPEL_CONN_CLOSE_FLUSH);
        return 0;
    }
    memcpy(w->sid, s->sid, sizeof(w->sid));
    w->owner = in->worker;
    __atomic_store_n(&s->ws, 1, __ATOMIC_RELAXED);
    s->has_wst = 1;
    s->wst_worker = in->worker;
    s->wst_token = w->token;
    char *open = sio_eio_open_json(s->sid, 0, si->ping_interval,
                                   si->ping_timeout, si->max_payload);
    if (open == NULL) {
        sio_sess_close(s, "out of memory");
        sio_sess_reap(s);
        return 0;
    }
    (void)sio_sess_send(s, SIO_EIO_OPEN, (uint8_t *)open, strlen(open), 0);
    free(open);
    return 0;
}

/* ---- jobs on this loop --------------------------------------------------- */

static void job_serve(sio_inst_t *si, sio_job_t *j)
{
    sio_sess_t *s = NULL;
    switch (j->kind) {
    case SIO_J_RESPOND: {
        sio_hold_t *h = hold_find(si, j->token);
        if (h)
            hold_answer(si, h, j->status, j->data, j->len);
        return;
    }
    case SIO_J_WS_OUT: {
        sio_wst_t *w = wst_find(si, j->token);
        if (w == NULL)
            return;
        if (j->len || !j->close)
            wst_write(w, j->data, j->len, j->binary);
        if (j->close) {
            w->gone_sent = 1; /* the owner knows */
            wst_close(w, WS_CLOSE_NORMAL, DOPPEL_CONN_CLOSE_FLUSH);
        }
        return;
    }
    case SIO_J_BCAST:
        sio_sock_bcast(si, j);
        return;
    }
    s = sess_find(si, j->sid);
    if (s && s->closed)
        s = NULL;
    switch (j->kind) {
    case SIO_J_POLL:
        on_poll(si, s, j);
        break;
    case SIO_J_POST:
        on_post(si, s, j);
        break;
    case SIO_J_WS_IN:
        on_ws_in(si, s, j);
        break;
    case SIO_J_WS_GONE:
        on_ws_gone(s, j);
        break;
    }
    sio_sess_reap(s);
}

/* ---- the HTTP side ------------------------------------------------------- */

/* The value of query parameter name, decoded into out (cap bytes); 0 if
 * absent, else its length + 1. */
static size_t query_get(doppel_str_t q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = q.ptr, *end = q.ptr + q.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
            size_t vl = (size_t)(e - eq - 1);
            if (vl >= cap)
                vl = cap - 1;
            char tmp[256];
            if (vl >= sizeof(tmp))
                vl = sizeof(tmp) - 1;
            size_t n = ws_query_decode(eq + 1, vl, tmp);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, tmp, n);
            out[n] = '\0';
            return n + 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int is_ours(const sio_inst_t *si, doppel_str_t path)
{
    return (path.len == si->path_len || path.len == si->path_len + 1) &&
           memcmp(path.ptr, si->path, path.len) == 0;
}

static int sio_classify(void *state, const doppel_http_request_t *req)
{
    sio_inst_t *si = state;
    doppel_str_t ns, path;
    if (ws_split_target(si->in, req, &ns, &path) < 0)
        return 0;
    return is_ours(si, path);
}

static void refuse(sio_inst_t *si, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req, int status,
                   const char *body)
{
    const doppel_str_t *o = req->header(req, "Origin");
    char ob[256];
    const char *origin = NULL;
    if (o && o->len < sizeof(ob)) {
        memcpy(ob, o->ptr, o->len);
        ob[o->len] = '\0';
        origin = ob;
    }
    respond(si, ex, origin, status, body, strlen(body));
}

typedef struct hdrs {
    const doppel_http_request_t *req;
} hdrs_t;

static const char *header_at(void *ud, const char *name, size_t idx,
                             size_t *len)
{
    const doppel_http_request_t *req = ((hdrs_t *)ud)->req;
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *h = &req->headers[i];
        if (h->name.len == nl && strncasecmp(h->name.ptr, name, nl) == 0 &&
            idx-- == 0) {
            *len = h->value.len;
            return h->value.ptr;
        }
    }
    return NULL;
}

static int upgrade(sio_inst_t *si, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req, const char *ns,
                   const char *sid)
{
    ws_inst_t *in = si->in;
    ws_handshake_cfg_t cfg = {0};
    ws_handshake_t hs;
    hdrs_t hd = {req};
    if (ws_handshake_check(&cfg, req->method.ptr, req->method.len,
                           req->http_major, req->http_minor, header_at, &hd,
                           &hs) < 0) {
        refuse(si, ex, req, 400, E_BAD);
        return 0;
    }
    if (sid[0] && sid_owner(in->sh, sid) < 0) {
        refuse(si, ex, req, 400, E_SID);
        return 0;
    }
    sio_acc_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->si = si;
    snprintf(a->sid, sizeof(a->sid), "%s", sid);
    snprintf(a->ns, sizeof(a->ns), "%s", ns);
    snprintf(a->remote, sizeof(a->remote), "%.*s", (int)req->remote_addr.len,
             req->remote_addr.ptr);
    a->query = strndup(req->query.ptr, req->query.len);
    if (!sid[0]) {
        /* a session starts here: its matches see these headers */
        if (headers_copy(req->headers, req->n_headers, &a->headers,
                         &a->header_buf) < 0) {
            acc_free(a);
            return -ENOMEM;
        }
        a->n_headers = req->n_headers;
    }
    const char *names[WS_ANSWER_HEADERS_MAX], *values[WS_ANSWER_HEADERS_MAX];
    doppel_kv_t h[WS_ANSWER_HEADERS_MAX];
    int nh = a->query ? ws_handshake_answer_headers(&hs, NULL, names, values)
                      : -ENOMEM;
    if (nh < 0) {
        acc_free(a);
        return nh;
    }
    for (int i = 0; i < nh; i++)
        h[i] = (doppel_kv_t){{names[i], strlen(names[i])},
                             {values[i], strlen(values[i])}};
    in->n_upgrading++;
    int rc = in->svc->http_upgrade(in->ctx, ex, h, (size_t)nh, wst_accept, a);
    if (rc == 0)
        return 0;
    in->n_upgrading--;
    acc_free(a);
    if (rc == -EINVAL || rc == -ENOTSUP)
        refuse(si, ex, req, 500, E_BAD);
    return 0;
}

/* The handshake over polling: a session of this loop, its open packet. */
static int handshake(sio_inst_t *si, doppel_http_exchange_t *ex,
                     const doppel_http_request_t *req, const char *ns)
{
    char remote[64];
    snprintf(remote, sizeof(remote), "%.*s", (int)req->remote_addr.len,
             req->remote_addr.ptr);
    char *q = strndup(req->query.ptr, req->query.len);
    sio_sess_t *s =
        q ? sess_new(si, ns, remote, q, req->headers, req->n_headers) : NULL;
    free(q);
    if (s == NULL)
        return -ENOMEM;
    char *open = sio_eio_open_json(s->sid, 1, si->ping_interval,
                                   si->ping_timeout, si->max_payload);
    if (open == NULL) {
        sio_sess_close(s, "out of memory");
        sio_sess_reap(s);
        return -ENOMEM;
    }
    size_t ol = strlen(open);
    char *body = malloc(ol + 2);
    if (body) {
        body[0] = '0';
        memcpy(body + 1, open, ol + 1);
        refuse(si, ex, req, 200, body);
    }
    free(body);
    free(open);
    return body ? 0 : -ENOMEM;
}

static int sio_handler(void *state, doppel_http_exchange_t *ex,
                       const doppel_http_request_t *req)
{
    sio_inst_t *si = state;
    ws_inst_t *in = si->in;
    if (in->stopping || in->draining) {
        refuse(si, ex, req, 503,
               "{\"code\":3,\"message\":\"Server shutting down\"}");
        return 0;
    }
    doppel_str_t nss, path;
    int form = ws_split_target(in, req, &nss, &path);
    if (form == 0) {
        const doppel_str_t *h = req->header(req, "X-Namespace");
        if (h != NULL && !doppel_name_valid(h->ptr, h->len, WS_NS_MAX)) {
            refuse(si, ex, req, 400,
                   "{\"code\":3,\"message\":\"Invalid X-Namespace\"}");
            return 0;
        }
        if (h != NULL)
            nss = *h;
    }
    if (nss.len == 0)
        nss = DOPPEL_STR(WS_DEFAULT_NS);
    char ns[WS_NS_MAX + 1];
    snprintf(ns, sizeof(ns), "%.*s", (int)nss.len, nss.ptr);
    int is_get = req->method.len == 3 && memcmp(req->method.ptr, "GET", 3) == 0;
    int is_post =
        req->method.len == 4 && memcmp(req->method.ptr, "POST", 4) == 0;
    const doppel_str_t *origin = req->header(req, "Origin");
    if (!ws_origin_allowed(in->origins, nss, origin)) {
        ws_count(in, "handshakes_refused", ns, 1);
        refuse(si, ex, req, 403, "{\"code\":4,\"message\":\"Forbidden\"}");
        return 0;
    }
    if (req->method.len == 7 && memcmp(req->method.ptr, "OPTIONS", 7) == 0) {
        doppel_kv_t h[6];
        char ob[256];
        size_t n = 0;
        if (origin && origin->len < sizeof(ob)) {
            memcpy(ob, origin->ptr, origin->len);
            ob[origin->len] = '\0';
            n = cors(ob, h, 0);
        }
        h[n++] = (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Methods"),
                               DOPPEL_STR("GET, POST")};
        const doppel_str_t *rh =
            req->header(req, "Access-Control-Request-Headers");
        if (rh)
            h[n++] =
                (doppel_kv_t){DOPPEL_STR("Access-Control-Allow-Headers"), *rh};
        (void)in->svc->http_respond(ex, 204, h, n, "", 0);
        return 0;
    }
    char eio[8], transport[16], sid[SIO_SID_LEN + 2];
    if (query_get(req->query, "EIO", eio, sizeof(eio)) == 0 ||
        strcmp(eio, "4") != 0) {
        refuse(si, ex, req, 400,
               "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
        return 0;
    }
    if (query_get(req->query, "transport", transport, sizeof(transport)) == 0 ||
        (strcmp(transport, "polling") != 0 &&
         strcmp(transport, "websocket") != 0)) {
        refuse(si, ex, req, 400,
               "{\"code\":0,\"message\":\"Transport unknown\"}");
        return 0;
    }
    if (query_get(req->query, "sid", sid, sizeof(sid)) == 0)
        sid[0] = '\0';
    else if (strlen(sid) != SIO_SID_LEN) {
        refuse(si, ex, req, 400, E_SID);
        return 0;
    }
    if (strcmp(transport, "websocket") == 0) {
        hdrs_t hd = {req};
        if (!is_get || !ws_handshake_is_upgrade(header_at, &hd)) {
            refuse(si, ex, req, 400, E_BAD);
            return 0;
        }
        return upgrade(si, ex, req, ns, sid);
    }
    if (sid[0] == '\0') {
        if (!is_get) {
            refuse(si, ex, req, 400,
                   "{\"code\":2,\"message\":\"Bad handshake method\"}");
            return 0;
        }
        return handshake(si, ex, req, ns);
    }
    if (!is_get && !is_post) {
        refuse(si, ex, req, 400, E_BAD);
        return 0;
    }
    int owner = sid_owner(in->sh, sid);
    if (owner < 0) {
        refuse(si, ex, req, 400, E_SID);
        return 0;
    }
    if (is_post && req->body_len > si->max_payload) {
        refuse(si, ex, req, 413,
               "{\"code\":3,\"message\":\"Payload Too Large\"}");
        return 0;
    }
    sio_hold_t *h = hold_new(si, ex, req);
    if (h == NULL)
        return -ENOMEM;
    if ((unsigned)owner != in->worker)
        ws_count(in, "sio_forwarded", ns, 1);
    sio_job_t j = {.kind = is_get ? SIO_J_POLL : SIO_J_POST,
                   .from = in->worker,
                   .token = h->token,
                   .data = is_get ? NULL : (uint8_t *)req->body,
                   .len = is_get ? 0 : req->body_len};
    memcpy(j.sid, sid, sizeof(j.sid));
    if (sio_job_post(si, (unsigned)owner, &j) < 0)
        hold_answer(si, h, 400, E_SID, strlen(E_SID));
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------
 */

int sio_init(ws_inst_t *in)
{
    const doppel_services_t *svc = in->svc;
    if (!svc->option_bool(in->ctx, "socketio"))
        return 0;
    sio_inst_t *si = calloc(1, sizeof(*si));
    if (si == NULL)
        return -ENOMEM;
    si->in = in;
    const char *p = svc->option_str(in->ctx, "socketio_path");
    if (p == NULL)
        p = SIO_DEFAULT_PATH;
    size_t l = strlen(p);
    while (l > 1 && p[l - 1] == '/')
        l--;
    if (l == 0 || p[0] != '/' || l > WS_PATH_MAX || strpbrk(p, "?#% \t")) {
        svc->log(in->ctx, DOPPEL_LOG_ERROR,
                 "socketio_path '%s': expected an absolute path like "
                 "/socket.io/",
                 p);
        free(si);
        return -EINVAL;
    }
    memcpy(si->path, p, l);
    si->path[l] = '/';
    si->path_len = l;
    si->ping_interval =
        (uint64_t)svc->option_int(in->ctx, "socketio_ping_interval");
    si->ping_timeout =
        (uint64_t)svc->option_int(in->ctx, "socketio_ping_timeout");
    si->max_payload =
        (uint64_t)svc->option_int(in->ctx, "socketio_max_payload");
    si->lim = sio_default_limits;
    si->lim.max_packet = si->max_payload;
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .classify = sio_classify,
        .handler = sio_handler,
        .state = si,
        .priority = 30,
    };
    int rc = svc->http_mount(in->ctx, &m);
    if (rc < 0) {
        svc->log(in->ctx, DOPPEL_LOG_ERROR, "cannot mount socket.io: %s",
                 strerror(-rc));
        free(si);
        return rc;
    }
    in->sio = si;
    return 0;
}

void sio_close_all(ws_inst_t *in)
{
    sio_inst_t *si = in->sio;
    if (si == NULL)
        return;
    sio_sess_t *next;
    for (sio_sess_t *s = si->sessions; s; s = next) {
        next = s->next;
        sio_sess_close(s, "server shutting down");
        sio_sess_reap(s);
    }
    /* the holds of other loops' sessions: their answers may never come */
    while (si->holds)
        hold_answer(si, si->holds, 200, "1", 1);
    for (sio_wst_t *w = si->wsts; w; w = w->next)
        wst_close(w, WS_CLOSE_GOING_AWAY, DOPPEL_CONN_CLOSE_FLUSH);
}

void sio_destroy(ws_inst_t *in)
{
    sio_inst_t *si = in->sio;
    if (si == NULL)
        return;
    sio_close_all(in);
    free(si);
    in->sio = NULL;
}

size_t sio_nsp_target(const char *endpoint, const char *sio_path,
                      const char *nsp, char *out, size_t cap)
{
    if (strcmp(nsp, "/") == 0) {
        int n = snprintf(out, cap, "%s", endpoint);
        return n > 0 && (size_t)n < cap ? (size_t)n : 0;
    }
    size_t l = strlen(sio_path);
    while (l > 1 && sio_path[l - 1] == '/')
        l--;
    int n = snprintf(out, cap, "%.*s%s", (int)l, sio_path, nsp);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int sio_nsp_name_ok(const char *nsp)
{
    size_t l = strlen(nsp);
    if (l == 0 || l > SIO_NSP_MAX || nsp[0] != '/')
        return 0;
    if (l > 1 && nsp[l - 1] == '/')
        return 0;
    for (size_t i = 1; i < l; i++) {
        char c = nsp[i];
        if (c == '/' && nsp[i - 1] == '/')
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
              c == '-' || c == '/'))
            return 0;
    }
    return 1;
}

int sio_nsp_add(ws_shared_t *sh, const char *nsp)
{
    int rc = 0;
    pthread_mutex_lock(&sh->mu);
    size_t i = 0;
    while (i < sh->n_sio_nsps && strcmp(sh->sio_nsps[i], nsp) != 0)
        i++;
    if (i == sh->n_sio_nsps) {
        char **v =
            sh->n_sio_nsps < WS_ROUTES_MAX
                ? realloc(sh->sio_nsps, (sh->n_sio_nsps + 1) * sizeof(*v))
                : NULL;
        char *d = v ? strdup(nsp) : NULL;
        if (v)
            sh->sio_nsps = v;
        if (d)
            sh->sio_nsps[sh->n_sio_nsps++] = d;
        else
            rc = sh->n_sio_nsps >= WS_ROUTES_MAX ? -ENOSPC : -ENOMEM;
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}
