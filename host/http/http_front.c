/*
 * The HTTP/1.1 front: listener, connections, llhttp parsing, keep-alive,
 * pipelining, limits, timeouts, drain, and answering exchanges.
 *
 * Memory: request bytes are copied out of the (per-server, shared) read
 * buffer into the exchange's own arena as llhttp hands them over, so a
 * request never pins the read buffer and a pipelined burst is parsed
 * straight from one read. Exchanges are pooled per server together with
 * their buffers, so a keep-alive connection in steady state allocates
 * nothing per request.
 *
 * Ownership of an exchange: one reference while it sits in its
 * connection's queue (until its response bytes are handed to the socket or
 * the connection closes), one while a handler holds it (from the handler
 * call until respond/stream_end). It goes back to the pool when both are
 * gone. The connection pointer in an exchange is cleared when the
 * connection closes; answering then returns -ENOTCONN.
 *
 * Threading: everything runs on the server's loop thread.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "base/log.h"
#include "http_front.h"
#include "http_router.h"

#ifndef DOPPEL_VERSION
#define DOPPEL_VERSION "0.0.0"
#endif

#define READ_BUF_SIZE (64 * 1024)
#define POOL_MAX 256           /* pooled exchanges kept per server */
#define KEEP_BUF_MAX (64 * 1024) /* larger buffers are freed on recycle */
#define LINGER_MS 2000         /* read-and-discard after an error reply */
/* A client that pipelines without reading its responses stops being read
 * once this much response data waits in the socket's write queue. */
#define WRITE_HIGH_WATER (1024 * 1024)
/* Bytes a streamed answer may have waiting for a client that does not
 * read; past that stream_write closes the connection (-ENOBUFS). */
#define STREAM_BACKLOG_MAX (4 * 1024 * 1024)
/* bytes a client may send after asking to switch protocols, before the
 * answer (RFC 6455 clients send none) */
#define UPGRADE_REST_MAX (64 * 1024)
#define REQUEST_ID_MAX 128
#define LISTEN_BACKLOG 1024
/* Connections accepted per readiness callback: the loop's other handles
 * (reads, timers, the stop) get their turn in a connection flood. */
#define ACCEPT_BATCH 64
/* Idle connections closed at once when accept runs out of descriptors
 * (as nginx's ngx_drain_connections). */
#define SHED_BATCH 32
/* Idle connections looked at per shedding, at most. */
#define SHED_SCAN 256
/* A listener paused for want of descriptors is retried after this, doubled
 * up to ACCEPT_BACKOFF_MAX while descriptors stay short. */
#define ACCEPT_BACKOFF_MIN_MS 50
#define ACCEPT_BACKOFF_MAX_MS 1000
/* At most one warning of a kind per server in this interval. */
#define LOG_INTERVAL_MS 5000

static const char LOG_COMP[] = "http";

typedef struct dp_buf {
    char *p;
    size_t len, cap;
} dp_buf_t;

typedef struct hdr_off {
    size_t no, nl, vo, vl;
} hdr_off_t;

typedef struct dp_conn dp_conn_t;

enum ex_phase { PH_HEAD, PH_BODY, PH_READY };

struct doppel_http_exchange {
    dp_http_server_t *srv;
    dp_conn_t *conn; /* NULL once the connection is gone */
    struct doppel_http_exchange *next; /* queue of conn, or pool */
    int refs;
    enum ex_phase phase;
    unsigned handed : 1;    /* a handler holds it */
    unsigned finished : 1;  /* answered (respond or stream_end) */
    unsigned streaming : 1; /* stream_start called */
    unsigned chunked : 1;   /* stream uses chunked coding */
    unsigned out_done : 1;  /* every response byte is in out */
    unsigned keep_alive : 1;
    unsigned close_after : 1;
    unsigned need_continue : 1;
    unsigned is_head : 1;
    unsigned in_field : 1, in_value : 1, value_open : 1;
    unsigned local : 1; /* in-process (dp_http_local_call), no conn */
    unsigned upgrade_req : 1; /* asked to switch protocols (Upgrade) */
    unsigned switching : 1;   /* answered 101 (dp_http_upgrade) */
    void *up_token;           /* switching: the server's upgrade token */
    int status;
    uint64_t start_ns;
    const dp_route_t *route;

    /* The arena: url, header names and values, decoded path, each
     * NUL-terminated; offsets are resolved into pointers once the head is
     * complete, after which the buffer never moves. */
    dp_buf_t head;
    size_t url_off, url_len;
    hdr_off_t *hoff;
    size_t n_hdr, cap_hdr;
    doppel_kv_t *kv;
    size_t cap_kv;
    dp_buf_t body;
    dp_buf_t out; /* response bytes not yet handed to the socket */

    doppel_http_request_t req;

    /* In-process exchanges: the caller's callback (NULL once delivered or
     * cancelled), the server's list of calls not yet delivered, the queue
     * of answered calls waiting for delivery, and the answer's headers
     * ("name\0value\0" pairs at the start of out, the body after them). */
    doppel_fetch_cb lcb;
    void *ldata;
    struct doppel_http_exchange *lprev, *lnext;
    struct doppel_http_exchange *ldone;
    size_t lhdr_len, ln_hdr;

    char rid[REQUEST_ID_MAX + 1];
    char remote[INET6_ADDRSTRLEN];
};

enum timer_mode { TM_NONE, TM_IDLE, TM_HEAD, TM_BODY, TM_LINGER };

struct dp_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    dp_http_server_t *srv;
    dp_conn_t *prev, *next; /* server's connection list */
    dp_conn_t *resume_next; /* server's resume list */
    llhttp_t parser;
    doppel_http_exchange_t *cur; /* being parsed (also in the queue) */
    doppel_http_exchange_t *q_head, *q_tail;
    unsigned n_waiting; /* handed to handlers, not answered */
    unsigned q_len;     /* parsed requests whose response is not written */
    unsigned writes_pending;
    int err_status; /* set by a parser callback that refuses the request */
    const char *err_msg; /* its message for a 400 (static), NULL: generic */
    enum timer_mode tmode;
    uint64_t deadline; /* loop ms; the timer may fire earlier, see below */
    char *pend;        /* unparsed bytes kept while paused */
    size_t pend_len, pend_off;
    uint64_t head_raw; /* bytes fed while in a request head */
    const char *msg_at; /* where the current head's target began, this read */
    unsigned handles_open;
    unsigned closing : 1;
    unsigned stop_parsing : 1; /* no further request on this connection */
    unsigned read_paused : 1;  /* max_pipeline reached */
    unsigned in_resume : 1;
    unsigned close_after_write : 1;
    unsigned lingering : 1;
    unsigned read_eof : 1;
    unsigned processing : 1;
    unsigned in_idle : 1; /* in the server's idle list */
    dp_conn_t *idle_prev, *idle_next;
    uint64_t id; /* unique in the process (dp_http_exchange_conn_id) */
    /* ABI 1.2 claims: the first bytes, while they are a strict prefix of
     * a claim's prefix; claim_done once the connection is HTTP's for good
     * (no claim can match, or a request began); handed: taken over by a
     * claim, its slot in n_open kept for the new owner */
    uint8_t pre[DP_HTTP_CLAIM_MAX];
    size_t pre_len;
    unsigned claim_done : 1;
    unsigned handed : 1;
    /* ABI 1.2 protocol switch: after a request that asked to upgrade,
     * the bytes that follow it (the new protocol's, bounded) are kept
     * here until its answer is decided; up_token is the token of a 101
     * popped from the queue, handed over once the writes are out */
    unsigned upgrade_wait : 1;
    char *up_rest;
    size_t up_rest_len;
    void *up_token;
    char remote[INET6_ADDRSTRLEN];
};

/* Connection ids: every server of every worker draws from it. */
static _Atomic uint64_t next_conn_id = 1;

/* A warning logged at most once per LOG_INTERVAL_MS; the next one that is
 * logged says how many were left out. */
typedef struct log_limit {
    uint64_t next_ms;
    unsigned suppressed;
} log_limit_t;

enum accept_state { ACC_RUNNING, ACC_PAUSED_CAP, ACC_PAUSED_FD };

struct dp_http_server {
    uv_loop_t *loop;
    /* The listening socket is ours, not a uv_tcp_t: libuv's accept loop
     * calls back with EMFILE without end when its spare descriptor is gone
     * (two workers race for it), which spun a worker for good. Polled by
     * lpoll; accept4 runs in on_listen_ready. */
    uv_poll_t lpoll;
    uv_os_sock_t lfd;     /* -1 once closed */
    uv_os_sock_t held_fd; /* accepted at the cap, not yet a connection */
    int lclosing;
    uv_timer_t accept_timer; /* resumes a paused listener */
    enum accept_state accept_state;
    uint64_t backoff_ms;
    size_t n_open; /* connections not closing: each holds a descriptor */
    dp_conn_t *idle_head, *idle_tail; /* idle connections, oldest first */
    log_limit_t log_accept, log_shed;
    uv_timer_t drain_timer;
    uv_idle_t resume_idle;
    dp_http_limits_t limits;
    dp_router_t *router;
    dp_metrics_worker_t *metrics;
    int host_slot;
    int port;
    unsigned handles_open;
    dp_conn_t *conns;
    size_t n_conns;
    size_t inflight;  /* handed to handlers, not answered */
    size_t live_ex;   /* exchanges allocated and not in the pool */
    dp_conn_t *resume;
    doppel_http_exchange_t *pool;
    size_t pool_n;
    uint64_t rid_seed, rid_counter;
    int draining;
    int freeing;
    int drain_done_called;
    void (*drain_done)(void *);
    void *drain_data;
    /* In-process server (dp_http_local_new): no listener, no connections;
     * done_idle delivers answered calls on the next loop iteration. */
    int local;
    /* ABI 1.2: claims of the connections' first bytes, and the raw mode
     * of a plugin's own listener (conn_listen) */
    const dp_http_claim_t *claims;
    size_t n_claims;
    dp_http_handoff_fn handoff;
    void *handoff_arg;
    dp_http_upgrade_fn upgrade;
    int raw;
    uv_idle_t done_idle;
    doppel_http_exchange_t *local_live;            /* not yet delivered */
    doppel_http_exchange_t *done_head, *done_tail; /* answered, queued */
    time_t date_sec;
    char date[40]; /* "Sat, 21 Nov 2026 18:30:00 GMT" */
    char rbuf[READ_BUF_SIZE];
};

static llhttp_settings_t parser_settings;
static uv_once_t parser_settings_once = UV_ONCE_INIT;

static void conn_close(dp_conn_t *c);
static void conn_flush(dp_conn_t *c);
static void conn_process(dp_conn_t *c, const char *data, size_t len);
static void conn_after_flush(dp_conn_t *c);
static void conn_switch(dp_conn_t *c);
static int ex_handler_done(doppel_http_exchange_t *ex);
static void conn_schedule_resume(dp_conn_t *c);
static int conn_must_pause(const dp_conn_t *c);
static void server_maybe_free(dp_http_server_t *s);
static int ex_answer(doppel_http_exchange_t *ex, int status,
                     const doppel_kv_t *headers, size_t n_headers,
                     const void *body, size_t body_len, int stream);
static int local_answer(doppel_http_exchange_t *ex, int status,
                        const doppel_kv_t *headers, size_t n_headers,
                        const void *body, size_t body_len, int stream);
static int local_append(doppel_http_exchange_t *ex, const void *data,
                        size_t len);
static void local_done(doppel_http_exchange_t *ex);

/* ---- small helpers --------------------------------------------------- */

void dp_http_limits_default(dp_http_limits_t *l)
{
    l->max_header_bytes = 16 * 1024;
    l->max_body_bytes = 8 * 1024 * 1024;
    l->idle_timeout_ms = 60000;
    l->header_timeout_ms = 10000;
    l->body_timeout_ms = 30000;
    l->max_pipeline = 64;
}

static int buf_reserve(dp_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_append(dp_buf_t *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) < 0)
        return -ENOMEM;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

/* Appends without a capacity check; the caller reserved enough. */
static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static void buf_trim(dp_buf_t *b)
{
    b->len = 0;
    if (b->cap > KEEP_BUF_MAX) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static const char *server_date(dp_http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

static void gen_request_id(dp_http_server_t *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = splitmix64(s->rid_seed + ++s->rid_counter);
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
    out[16] = '\0';
}

/* ---- exchanges -------------------------------------------------------- */

static const doppel_str_t *req_header(const doppel_http_request_t *req,
                                      const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const doppel_kv_t *kv = &req->headers[i];
        if (kv->name.len == n && strncasecmp(kv->name.ptr, name, n) == 0)
            return &kv->value;
    }
    return NULL;
}

/* A clean exchange from the pool (buffers kept) or the heap. */
static doppel_http_exchange_t *ex_alloc(dp_http_server_t *s)
{
    doppel_http_exchange_t *ex = s->pool;
    if (ex != NULL) {
        s->pool = ex->next;
        s->pool_n--;
    } else {
        ex = calloc(1, sizeof(*ex));
        if (ex == NULL)
            return NULL;
    }
    /* keep buffers, reset everything else */
    dp_buf_t head = ex->head, body = ex->body, out = ex->out;
    hdr_off_t *hoff = ex->hoff;
    size_t cap_hdr = ex->cap_hdr;
    doppel_kv_t *kv = ex->kv;
    size_t cap_kv = ex->cap_kv;
    memset(ex, 0, offsetof(doppel_http_exchange_t, rid));
    ex->head = head;
    ex->body = body;
    ex->out = out;
    ex->hoff = hoff;
    ex->cap_hdr = cap_hdr;
    ex->kv = kv;
    ex->cap_kv = cap_kv;
    ex->rid[0] = '\0';
    ex->srv = s;
    ex->start_ns = uv_hrtime();
    s->live_ex++;
    return ex;
}

static doppel_http_exchange_t *ex_new(dp_http_server_t *s, dp_conn_t *c)
{
    doppel_http_exchange_t *ex = ex_alloc(s);
    if (ex == NULL)
        return NULL;
    ex->conn = c;
    ex->refs = 1; /* the connection's */
    memcpy(ex->remote, c->remote, sizeof(ex->remote));
    return ex;
}

static void ex_destroy(doppel_http_exchange_t *ex)
{
    free(ex->head.p);
    free(ex->body.p);
    free(ex->out.p);
    free(ex->hoff);
    free(ex->kv);
    free(ex);
}

static void ex_unref(doppel_http_exchange_t *ex)
{
    if (--ex->refs > 0)
        return;
    dp_http_server_t *s = ex->srv;
    s->live_ex--;
    if (s->freeing || s->pool_n >= POOL_MAX) {
        ex_destroy(ex);
        if (s->freeing)
            server_maybe_free(s);
        return;
    }
    buf_trim(&ex->head);
    buf_trim(&ex->body);
    buf_trim(&ex->out);
    ex->n_hdr = 0;
    ex->next = s->pool;
    s->pool = ex;
    s->pool_n++;
}

/* ---- timers ----------------------------------------------------------- */

static void on_conn_timer(uv_timer_t *t);

/* Sets the connection's deadline. The libuv timer is only re-armed when the
 * new deadline is earlier than the armed one: a busy keep-alive connection
 * moves its deadline several times per request, and the timer callback
 * re-arms itself for the real deadline when it fires early. */
static void conn_set_timer(dp_conn_t *c, enum timer_mode mode, uint64_t ms)
{
    c->tmode = mode;
    if (mode == TM_NONE || ms == 0) {
        c->tmode = TM_NONE;
        return;
    }
    uint64_t now = uv_now(c->srv->loop);
    c->deadline = now + ms;
    if (!uv_is_active((uv_handle_t *)&c->timer) ||
        uv_timer_get_due_in(&c->timer) > ms)
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

/* ---- idle connections and the accept pause ----------------------------
 * Idle: open and neither parsing nor answering a request (a keep-alive
 * connection between requests, or one that has sent nothing yet). These
 * are the connections shed, oldest first, for newcomers when the
 * connection cap is reached or descriptors run out, as nginx reuses its
 * "reusable" connections; a half-sent head is not idle (header_timeout
 * deals with it). */

static void server_kick_accept(dp_http_server_t *s);

static void conn_idle_leave(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    if (!c->in_idle)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        s->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        s->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->in_idle = 0;
}

/* Becomes the newest idle connection. A listener paused at the cap may now
 * shed it for a client that waits. */
static void conn_idle_enter(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    if (c->closing)
        return;
    conn_idle_leave(c);
    c->idle_prev = s->idle_tail;
    if (s->idle_tail)
        s->idle_tail->idle_next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
    c->in_idle = 1;
    server_kick_accept(s);
}

static void warn_limited(dp_http_server_t *s, log_limit_t *l, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

static void warn_limited(dp_http_server_t *s, log_limit_t *l, const char *fmt,
                         ...)
{
    uint64_t now = uv_now(s->loop);
    if (l->next_ms != 0 && now < l->next_ms) {
        l->suppressed++;
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->suppressed > 0)
        dp_warn(LOG_COMP, "%s (and %u more like this in the last %d s)", msg,
                l->suppressed, LOG_INTERVAL_MS / 1000);
    else
        dp_warn(LOG_COMP, "%s", msg);
    l->suppressed = 0;
    l->next_ms = now + LOG_INTERVAL_MS;
}

/* Whether an idle connection has bytes waiting that the loop has not read
 * yet (a request on its way: accepted in this round, or its read callback
 * not run yet). A client that closed (EOF waiting) or sent nothing is
 * fair game. */
static int conn_has_input(dp_conn_t *c)
{
    uv_os_fd_t fd;
    char b;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0)
        return 0;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Closes up to n idle connections, oldest first, passing over those with a
 * request waiting to be read (looking at no more than SHED_SCAN); returns
 * how many. Their descriptors are free when this returns (uv_close closes
 * the socket at once; only the memory waits for the close callbacks). */
static size_t shed_idle(dp_http_server_t *s, size_t n)
{
    size_t k = 0, looked = 0;
    dp_conn_t *c = s->idle_head;
    while (k < n && c != NULL && looked++ < SHED_SCAN) {
        dp_conn_t *next = c->idle_next;
        if (!conn_has_input(c)) {
            conn_close(c); /* leaves the idle list */
            k++;
        }
        c = next;
    }
    if (k > 0)
        dp_metrics_conn_shed(s->metrics, k);
    return k;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct write_req {
    uv_write_t req;
    dp_conn_t *conn;
    char data[];
} write_req_t;

static void conn_shutdown(dp_conn_t *c);

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    dp_conn_t *c = w->conn;
    free(w);
    c->writes_pending--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->read_paused && !conn_must_pause(c))
        conn_schedule_resume(c);
    if (c->writes_pending == 0)
        conn_after_flush(c);
}

/* Writes bytes in order: straight to the socket when nothing is queued,
 * otherwise (or for what the socket did not take) through a copied
 * uv_write. Returns 0 or a negative errno (the connection is closed). */
static int conn_write(dp_conn_t *c, const char *data, size_t len)
{
    if (c->closing)
        return -ENOTCONN;
    if (len == 0)
        return 0;
    if (c->writes_pending == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n >= 0 && (size_t)n == len)
            return 0;
        if (n < 0 && n != UV_EAGAIN) {
            conn_close(c);
            return n;
        }
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
    }
    write_req_t *w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        conn_close(c);
        return -ENOMEM;
    }
    memcpy(w->data, data, len);
    w->conn = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        conn_close(c);
        return rc;
    }
    c->writes_pending++;
    return 0;
}

static int conn_must_pause(const dp_conn_t *c)
{
    return c->q_len >= c->srv->limits.max_pipeline ||
           c->tcp.write_queue_size > WRITE_HIGH_WATER;
}

static void conn_queue_pop(dp_conn_t *c)
{
    doppel_http_exchange_t *ex = c->q_head;
    c->q_head = ex->next;
    if (c->q_head == NULL)
        c->q_tail = NULL;
    c->q_len--;
    ex->next = NULL;
    ex->conn = NULL;
    ex_unref(ex);
    if (c->read_paused && !c->closing && !conn_must_pause(c))
        conn_schedule_resume(c);
}

/* Hands the response bytes of the exchanges at the head of the queue to the
 * socket, strictly in request order: an exchange answered early waits in
 * its own out buffer until those before it are done. */
static void conn_flush(dp_conn_t *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    doppel_http_exchange_t *ex;
    while (!c->closing && (ex = c->q_head) != NULL) {
        if (ex->need_continue) {
            ex->need_continue = 0;
            if (ex->phase == PH_BODY && !ex->out_done &&
                conn_write(c, cont, sizeof(cont) - 1) < 0)
                return;
        }
        if (ex->out.len > 0) {
            int rc = conn_write(c, ex->out.p, ex->out.len);
            ex->out.len = 0;
            if (rc < 0)
                return;
        }
        if (!ex->out_done)
            break;
        if (ex->switching) {
            /* the 101 is written: the socket is the new owner's once
             * the writes are out (conn_after_flush) */
            c->up_token = ex->up_token;
            ex->up_token = NULL;
            c->stop_parsing = 1;
            conn_queue_pop(c);
            break;
        }
        int close = ex->close_after;
        conn_queue_pop(c);
        if (close) {
            c->close_after_write = 1;
            c->stop_parsing = 1;
            break;
        }
    }
    if (!c->closing && c->writes_pending == 0)
        conn_after_flush(c);
}

/* Everything written: close if asked to, else go idle or keep reading. */
static void conn_after_flush(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    if (c->closing || c->lingering)
        return;
    if (c->up_token != NULL) {
        conn_switch(c);
        return;
    }
    int idle = c->q_head == NULL && c->cur == NULL;
    if (c->close_after_write || (idle && (s->draining || c->read_eof))) {
        if (c->close_after_write)
            conn_shutdown(c);
        else
            conn_close(c);
        return;
    }
    if (idle && c->pend_len == c->pend_off) {
        if (c->stop_parsing) {
            conn_close(c);
        } else {
            conn_set_timer(c, TM_IDLE, s->limits.idle_timeout_ms);
            conn_idle_enter(c);
        }
    }
}

/* ---- closing ---------------------------------------------------------- */

static void conn_free(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    if (c->in_resume) {
        for (dp_conn_t **pp = &s->resume; *pp; pp = &(*pp)->resume_next)
            if (*pp == c) {
                *pp = c->resume_next;
                break;
            }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    free(c->pend);
    free(c->up_rest);
    free(c);
    if (s->draining && s->n_conns == 0 && !s->drain_done_called) {
        s->drain_done_called = 1;
        uv_timer_stop(&s->drain_timer);
        if (s->drain_done)
            s->drain_done(s->drain_data);
    }
    server_maybe_free(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    dp_conn_t *c = h->data;
    if (--c->handles_open == 0)
        conn_free(c);
}

/* Closes now. Exchanges still held by handlers stay alive (their answer
 * will return -ENOTCONN). */
static void conn_close(dp_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    conn_idle_leave(c);
    if (!c->handed) {
        c->srv->n_open--;
        dp_metrics_conn_open(c->srv->metrics, -1);
        server_kick_accept(c->srv); /* a descriptor and a slot are free */
    }
    while (c->q_head != NULL) {
        doppel_http_exchange_t *ex = c->q_head;
        if (ex->handed && !ex->finished)
            c->n_waiting--;
        if (ex->up_token != NULL) { /* a switch that will not happen */
            c->srv->upgrade(c->srv->handoff_arg, c->srv, -1, NULL, 0,
                            ex->up_token);
            ex->up_token = NULL;
        }
        conn_queue_pop(c);
    }
    if (c->up_token != NULL) {
        c->srv->upgrade(c->srv->handoff_arg, c->srv, -1, NULL, 0, c->up_token);
        c->up_token = NULL;
    }
    c->cur = NULL;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    dp_conn_t *c = req->data;
    free(req);
    if (c->closing)
        return;
    if (status < 0 || c->read_eof)
        conn_close(c);
}

static void on_linger_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dp_conn_t *c = st->data;
    if (nread < 0)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Sends FIN after the response, then reads and discards what the client
 * still sends for a short while: closing with unread input would make the
 * kernel answer with a RST that can destroy the response before the client
 * read it (the classic 413-while-uploading case). */
static void conn_shutdown(dp_conn_t *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = 1;
    c->stop_parsing = 1;
    conn_idle_leave(c);
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL ||
        uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        conn_close(c);
        return;
    }
    req->data = c;
    conn_set_timer(c, TM_LINGER, LINGER_MS);
    if (c->read_eof) {
        return; /* nothing more will come; the timer or shutdown closes */
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read);
}

static void on_conn_timer(uv_timer_t *t)
{
    dp_conn_t *c = t->data;
    if (c->closing || c->tmode == TM_NONE)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (now < c->deadline) {
        uv_timer_start(&c->timer, on_conn_timer, c->deadline - now, 0);
        return;
    }
    switch (c->tmode) {
    case TM_IDLE:
    case TM_LINGER:
        conn_close(c); /* idle keep-alive closes silently */
        break;
    case TM_HEAD:
    case TM_BODY: {
        doppel_http_exchange_t *ex = c->cur;
        c->tmode = TM_NONE;
        if (ex == NULL) {
            conn_close(c);
            break;
        }
        c->cur = NULL;
        c->stop_parsing = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        static const char msg[] = "request timeout";
        char json[160];
        ex->phase = PH_READY;
        if (ex->rid[0] == '\0')
            gen_request_id(c->srv, ex->rid);
        int n = snprintf(json, sizeof(json),
                         "{\"error\":\"%s\",\"code\":\"timeout\","
                         "\"request_id\":\"%s\"}",
                         msg, ex->rid);
        ex->close_after = 1;
        ex_answer(ex, 408, NULL, 0, json, (size_t)n, 0);
        break;
    }
    case TM_NONE:
        break;
    }
}

/* ---- parsing callbacks ------------------------------------------------ */

static inline dp_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

static int head_append(dp_conn_t *c, const char *at, size_t len)
{
    doppel_http_exchange_t *ex = c->cur;
    if (ex->head.len + len > c->srv->limits.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    if (buf_append(&ex->head, at, len) < 0) {
        c->err_status = 500;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = ex_new(c->srv, c);
    if (ex == NULL) {
        c->err_status = 500;
        return -1;
    }
    if (c->q_tail)
        c->q_tail->next = ex;
    else
        c->q_head = ex;
    c->q_tail = ex;
    c->q_len++;
    c->cur = ex;
    c->head_raw = 0;
    c->claim_done = 1; /* served HTTP: never handed over */
    conn_idle_leave(c);
    /* llhttp keeps the previous message's version until it parses this
     * one's; cleared, a 0.9 at on_url_complete can only be this message's */
    p->http_major = 0;
    p->http_minor = 0;
    conn_set_timer(c, TM_HEAD, c->srv->limits.header_timeout_ms);
    return 0;
}

/* Refuses the request being parsed with 400 and msg. */
static int bad_request(dp_conn_t *c, const char *msg)
{
    c->err_status = 400;
    c->err_msg = msg;
    return -1;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    dp_conn_t *c = conn_of(p);
    if (c->cur->head.len == 0)
        c->msg_at = at;
    return head_append(c, at, len);
}

static int on_url_complete(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    ex->url_off = 0;
    ex->url_len = ex->head.len;
    /* A request line without a version (HTTP/0.9): llhttp sets 0.9 before
     * this callback. Refused at once rather than left to wait for a head
     * that a 0.9 client never sends. */
    if (p->http_major == 0 && p->http_minor == 9)
        return bad_request(c, "request line without an HTTP version");
    return head_append(c, "", 1);
}

static int close_value(dp_conn_t *c)
{
    doppel_http_exchange_t *ex = c->cur;
    hdr_off_t *h = &ex->hoff[ex->n_hdr - 1];
    if (!ex->in_value)
        h->vo = ex->head.len;
    /* values arrive without leading whitespace; trailing OWS is trimmed */
    h->vl = ex->head.len - h->vo;
    while (h->vl > 0 &&
           (ex->head.p[h->vo + h->vl - 1] == ' ' ||
            ex->head.p[h->vo + h->vl - 1] == '\t'))
        h->vl--;
    ex->in_value = 0;
    ex->value_open = 0;
    ex->head.len = h->vo + h->vl;
    return head_append(c, "", 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    if (!ex->in_field) {
        if (ex->value_open && close_value(c) < 0)
            return -1;
        if (ex->n_hdr == ex->cap_hdr) {
            size_t cap = ex->cap_hdr ? ex->cap_hdr * 2 : 16;
            hdr_off_t *v = realloc(ex->hoff, cap * sizeof(*v));
            if (v == NULL) {
                c->err_status = 500;
                return -1;
            }
            ex->hoff = v;
            ex->cap_hdr = cap;
        }
        ex->hoff[ex->n_hdr++] = (hdr_off_t){.no = ex->head.len};
        ex->in_field = 1;
        /* each header costs its ": " and CRLF too */
        if (head_append(c, "", 0) < 0 ||
            ex->head.len + 4 * ex->n_hdr > c->srv->limits.max_header_bytes) {
            c->err_status = 431;
            return -1;
        }
    }
    return head_append(c, at, len);
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int on_header_field_complete(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    if (!ex->in_field || ex->n_hdr == 0)
        return bad_request(c, "empty header field name");
    hdr_off_t *h = &ex->hoff[ex->n_hdr - 1];
    h->nl = ex->head.len - h->no;
    /* RFC 9112 5.1: no whitespace between the name and the colon (llhttp
     * 8 lets a space into the name); a name is a token, never empty */
    if (h->nl == 0)
        return bad_request(c, "empty header field name");
    for (size_t i = 0; i < h->nl; i++)
        if (!is_tchar((unsigned char)ex->head.p[h->no + i]))
            return bad_request(c, "invalid header field name");
    ex->in_field = 0;
    ex->value_open = 1;
    return head_append(c, "", 1);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    if (!ex->value_open || ex->n_hdr == 0)
        return bad_request(c, "header value without a field name");
    if (!ex->in_value) {
        ex->hoff[ex->n_hdr - 1].vo = ex->head.len;
        ex->in_value = 1;
    }
    return head_append(c, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    if (!c->cur->value_open)
        return 0;
    return close_value(c);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Splits the target into path and query and appends the percent-decoded
 * path to the arena. Returns the decoded path's offset, or -1 for a target
 * that cannot be decoded (bad escape, encoded NUL). */
static long decode_target(doppel_http_exchange_t *ex, size_t *path_len,
                          size_t *q_off, size_t *q_len)
{
    const char *t = ex->head.p + ex->url_off;
    size_t n = ex->url_len, ps = 0;
    if (n >= 7 && (strncasecmp(t, "http://", 7) == 0 ||
                   (n >= 8 && strncasecmp(t, "https://", 8) == 0))) {
        /* absolute-form: the path starts after the authority */
        const char *a = memchr(t, ':', n) + 3;
        const char *sl = memchr(a, '/', n - (size_t)(a - t));
        const char *qm = memchr(a, '?', n - (size_t)(a - t));
        if (sl == NULL || (qm != NULL && qm < sl))
            ps = qm ? (size_t)(qm - t) : n; /* empty path means "/" */
        else
            ps = (size_t)(sl - t);
    }
    size_t pe = ps;
    while (pe < n && t[pe] != '?' && t[pe] != '#')
        pe++;
    *q_off = *q_len = 0;
    if (pe < n && t[pe] == '?') {
        size_t qe = pe + 1;
        while (qe < n && t[qe] != '#')
            qe++;
        *q_off = ex->url_off + pe + 1;
        *q_len = qe - pe - 1;
    }
    size_t need = pe - ps + 2;
    if (buf_reserve(&ex->head, need) < 0)
        return -1;
    t = ex->head.p + ex->url_off; /* may have moved */
    long off = (long)ex->head.len;
    char *o = ex->head.p + ex->head.len;
    if (pe == ps)
        *o++ = '/';
    for (size_t i = ps; i < pe; i++) {
        if (t[i] == '%') {
            if (i + 2 >= pe)
                return -1;
            int h1 = hexval(t[i + 1]), h2 = hexval(t[i + 2]);
            if (h1 < 0 || h2 < 0 || (h1 == 0 && h2 == 0))
                return -1;
            *o++ = (char)(h1 * 16 + h2);
            i += 2;
        } else {
            *o++ = t[i];
        }
    }
    *path_len = (size_t)(o - (ex->head.p + off));
    *o++ = '\0';
    ex->head.len = (size_t)(o - ex->head.p);
    return off;
}

/* What RFC 9112 asks of a head that llhttp leaves to us: a version this
 * front speaks (1.0 or 1.1; 2.0 gets 505 as from nginx), and exactly one
 * Host in HTTP/1.1, at most one in 1.0 (3.2). */
static int check_framing(dp_conn_t *c, llhttp_t *p)
{
    doppel_http_exchange_t *ex = c->cur;
    if (p->http_major == 0)
        return bad_request(c, "HTTP/0.9 is not supported");
    if (p->http_major > 1) {
        c->err_status = 505;
        return -1;
    }
    unsigned hosts = 0;
    for (size_t i = 0; i < ex->n_hdr; i++) {
        const hdr_off_t *h = &ex->hoff[i];
        if (h->nl == 4 && strncasecmp(ex->head.p + h->no, "host", 4) == 0)
            hosts++;
    }
    if (hosts > 1)
        return bad_request(c, "more than one Host header");
    if (hosts == 0 && p->http_minor >= 1)
        return bad_request(c, "missing Host header");
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    dp_http_server_t *s = c->srv;
    doppel_http_exchange_t *ex = c->cur;
    if (ex->value_open && close_value(c) < 0)
        return -1;
    int rc = check_framing(c, p);
    if (rc < 0)
        return rc;
    ex->phase = PH_BODY;
    /* no protocol switch on this front: an upgrade request is answered as
     * a plain request and the connection closes after it */
    ex->keep_alive = llhttp_should_keep_alive(p) != 0 && !p->upgrade;
    ex->is_head = p->method == HTTP_HEAD;
    /* a switch may be accepted by a handler (dp_http_upgrade) */
    ex->upgrade_req = p->upgrade && p->method != HTTP_CONNECT &&
                      p->http_major == 1 && p->http_minor == 1;

    size_t path_len, q_off, q_len;
    long path_off = decode_target(ex, &path_len, &q_off, &q_len);
    if (path_off < 0) {
        c->err_status = 400;
        return -1;
    }
    if (ex->n_hdr > ex->cap_kv) {
        doppel_kv_t *kv = realloc(ex->kv, ex->n_hdr * sizeof(*kv));
        if (kv == NULL) {
            c->err_status = 500;
            return -1;
        }
        ex->kv = kv;
        ex->cap_kv = ex->n_hdr;
    }
    /* the arena is final: resolve offsets into pointers */
    const char *base = ex->head.p;
    for (size_t i = 0; i < ex->n_hdr; i++) {
        hdr_off_t *h = &ex->hoff[i];
        ex->kv[i].name = (doppel_str_t){base + h->no, h->nl};
        ex->kv[i].value = (doppel_str_t){base + h->vo, h->vl};
    }
    doppel_http_request_t *r = &ex->req;
    r->size = sizeof(*r);
    const char *m = llhttp_method_name((llhttp_method_t)p->method);
    r->method = (doppel_str_t){m, strlen(m)};
    r->target = (doppel_str_t){base + ex->url_off, ex->url_len};
    r->path = (doppel_str_t){base + path_off, path_len};
    r->query = q_len ? (doppel_str_t){base + q_off, q_len}
                     : (doppel_str_t){"", 0};
    r->rest = r->path;
    r->headers = ex->kv;
    r->n_headers = ex->n_hdr;
    r->body = (const uint8_t *)"";
    r->body_len = 0;
    r->remote_addr = (doppel_str_t){ex->remote, strlen(ex->remote)};
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->header = req_header;

    const doppel_str_t *rid = req_header(r, "x-request-id");
    if (rid != NULL && doppel_name_valid(rid->ptr, rid->len, REQUEST_ID_MAX)) {
        memcpy(ex->rid, rid->ptr, rid->len);
        ex->rid[rid->len] = '\0';
    } else {
        gen_request_id(s, ex->rid);
    }
    r->request_id = (doppel_str_t){ex->rid, strlen(ex->rid)};

    if ((p->flags & F_CONTENT_LENGTH) &&
        p->content_length > s->limits.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    const doppel_str_t *expect = req_header(r, "expect");
    if (expect != NULL && expect->len == 12 &&
        strncasecmp(expect->ptr, "100-continue", 12) == 0 &&
        (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1)) &&
        ((p->flags & F_CHUNKED) || p->content_length > 0)) {
        ex->need_continue = 1;
        if (c->q_head == ex && c->writes_pending == 0) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            ex->need_continue = 0;
            conn_write(c, cont, sizeof(cont) - 1);
            if (c->closing) {
                c->err_status = -1;
                return -1;
            }
        }
    }
    conn_set_timer(c, TM_BODY, s->limits.body_timeout_ms);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    if (ex->body.len + len > c->srv->limits.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    if (buf_append(&ex->body, at, len) < 0) {
        c->err_status = 500;
        return -1;
    }
    return 0;
}

/* A chunk's size is known before its data: one that cannot fit in what is
 * left of the body limit is refused now, not after the client sent (or,
 * with 7fffffffffffffff, never sent) that much. Sizes past 64 bits are
 * llhttp's "chunk size overflow", a 400. */
static int on_chunk_header(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    size_t max = c->srv->limits.max_body_bytes;
    if (ex->body.len > max || p->content_length > max - ex->body.len) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    dp_conn_t *c = conn_of(p);
    doppel_http_exchange_t *ex = c->cur;
    if (buf_reserve(&ex->body, 1) < 0) {
        c->err_status = 500;
        return -1;
    }
    ex->body.p[ex->body.len] = '\0';
    ex->req.body = (const uint8_t *)ex->body.p;
    ex->req.body_len = ex->body.len;
    ex->phase = PH_READY;
    ex->need_continue = 0;
    c->tmode = TM_NONE;
    /* hand control back to conn_process, which dispatches outside of the
     * parser so that a handler may do anything, including closing us */
    return HPE_PAUSED;
}

static void parser_settings_init(void)
{
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_url_complete = on_url_complete;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_field_complete = on_header_field_complete;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_header_value_complete = on_header_value_complete;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_chunk_header = on_chunk_header;
    parser_settings.on_message_complete = on_message_complete;
}

/* ---- dispatch --------------------------------------------------------- */

static int owner_slot(dp_http_server_t *s, const dp_route_t *rt)
{
    if (s->metrics == NULL)
        return -1;
    if (rt == NULL)
        return s->host_slot;
    dp_metrics_t *m = dp_metrics_of(s->metrics);
    dp_route_t *w = (dp_route_t *)rt; /* only the cache is written */
    if (atomic_load_explicit(&w->metrics_of, memory_order_acquire) != m) {
        int slot = dp_metrics_owner(m, rt->owner);
        atomic_store_explicit(&w->metrics_slot, slot, memory_order_relaxed);
        atomic_store_explicit(&w->metrics_of, m, memory_order_release);
        return slot;
    }
    return atomic_load_explicit(&w->metrics_slot, memory_order_relaxed);
}

static void answer_error(doppel_http_exchange_t *ex, int status,
                         const char *msg, const char *code)
{
    char json[320];
    if (ex->rid[0] == '\0')
        gen_request_id(ex->srv, ex->rid);
    int n = snprintf(json, sizeof(json),
                     "{\"error\":\"%s\",\"code\":\"%s\",\"request_id\":\"%s\"}",
                     msg, code, ex->rid);
    ex_answer(ex, status, NULL, 0, json, (size_t)n, 0);
}

/* Hands ex to the handler of route rt (off: the length of the mount prefix
 * the router matched), for a connection and an in-process call alike. Drops
 * the caller's reference to ex. */
static void hand_over(dp_http_server_t *s, doppel_http_exchange_t *ex,
                      const dp_route_t *rt, size_t off)
{
    ex->route = rt;
    if (off > 0) {
        doppel_str_t *path = &ex->req.path;
        ex->req.rest = off < path->len
                           ? (doppel_str_t){path->ptr + off, path->len - off}
                           : (doppel_str_t){"/", 1};
    }
    ex->handed = 1;
    ex->refs += 2; /* the handler's, and ours for the duration of the call */
    s->inflight++;
    int rc = rt->mount.handler(rt->mount.state, ex, &ex->req);
    if (rc < 0 && !ex->finished) {
        dp_warn(LOG_COMP, "handler of %s failed: %s (request %s)", rt->owner,
                strerror(-rc), ex->rid);
        /* the handler declined, so its reference is ours to drop */
        int held = ex_handler_done(ex);
        answer_error(ex, 500, "handler failed", "internal");
        if (held)
            ex_unref(ex);
    } else if (rc < 0) {
        dp_warn(LOG_COMP, "handler of %s answered and failed (request %s)",
                rt->owner, ex->rid);
    }
    ex_unref(ex);
}

static void dispatch(dp_conn_t *c, doppel_http_exchange_t *ex)
{
    dp_http_server_t *s = c->srv;
    size_t off = 0;
    const dp_route_t *rt = dp_router_match(s->router, &ex->req, &off);
    if (rt == NULL) {
        answer_error(ex, 404, "no route", "not_found");
        return;
    }
    c->n_waiting++; /* before the call: the handler may answer inside it */
    hand_over(s, ex, rt, off);
}

static void conn_error(dp_conn_t *c, int status)
{
    doppel_http_exchange_t *ex = c->cur;
    if (ex == NULL) {
        ex = ex_new(c->srv, c);
        if (ex == NULL) {
            conn_close(c);
            return;
        }
        if (c->q_tail)
            c->q_tail->next = ex;
        else
            c->q_head = ex;
        c->q_tail = ex;
        c->q_len++;
    }
    c->cur = NULL;
    c->stop_parsing = 1;
    c->tmode = TM_NONE;
    conn_idle_leave(c);
    ex->phase = PH_READY;
    ex->close_after = 1;
    switch (status) {
    case 413:
        answer_error(ex, 413, "request body too large", "payload_too_large");
        break;
    case 431:
        answer_error(ex, 431, "request header fields too large",
                     "headers_too_large");
        break;
    case 500:
        answer_error(ex, 500, "out of memory", "internal");
        break;
    case 505:
        answer_error(ex, 505, "HTTP version not supported",
                     "http_version_not_supported");
        break;
    default:
        answer_error(ex, 400, c->err_msg ? c->err_msg : "malformed request",
                     "bad_request");
        break;
    }
}

static void conn_pause_reading(dp_conn_t *c, const char *data, size_t len)
{
    c->read_paused = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->pend != NULL && data >= c->pend && data <= c->pend + c->pend_len) {
        c->pend_off = (size_t)(data - c->pend); /* already ours */
        return;
    }
    char *p = malloc(len);
    if (p == NULL) {
        conn_close(c);
        return;
    }
    memcpy(p, data, len);
    free(c->pend);
    c->pend = p;
    c->pend_off = 0;
    c->pend_len = len;
}

/* Keeps bytes that follow a request that asked to switch protocols, for
 * the new owner. Returns 0, or -1 (over UPGRADE_REST_MAX, out of memory:
 * the connection is closed). */
static int up_keep(dp_conn_t *c, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    char *p = c->up_rest_len + len <= UPGRADE_REST_MAX
                  ? realloc(c->up_rest, c->up_rest_len + len)
                  : NULL;
    if (p == NULL) {
        conn_close(c);
        return -1;
    }
    memcpy(p + c->up_rest_len, data, len);
    c->up_rest = p;
    c->up_rest_len += len;
    return 0;
}

/* Feeds bytes to the parser, dispatching each complete request. Stops (and
 * keeps the rest) when the pipeline is full. */
static void conn_process(dp_conn_t *c, const char *data, size_t len)
{
    dp_http_server_t *s = c->srv;
    c->processing = 1;
    while (len > 0 && !c->closing && !c->stop_parsing && !c->lingering) {
        if (s->draining && c->cur == NULL) {
            c->stop_parsing = 1; /* no new request once draining */
            break;
        }
        if (conn_must_pause(c)) {
            conn_pause_reading(c, data, len);
            c->processing = 0;
            return;
        }
        c->err_status = 0;
        c->err_msg = NULL;
        c->msg_at = NULL;
        llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
        if (err == HPE_OK) {
            if (c->cur != NULL && c->cur->phase == PH_HEAD) {
                const char *from = c->msg_at ? c->msg_at : data;
                c->head_raw += (size_t)(data + len - from);
                /* whitespace and the like that the arena does not count */
                if (c->head_raw > 2 * s->limits.max_header_bytes + 1024)
                    conn_error(c, 431);
            }
            len = 0;
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            if (pos == NULL || pos < data || pos > data + len)
                pos = data + len;
            len -= (size_t)(pos - data);
            data = pos;
            doppel_http_exchange_t *ex = c->cur;
            c->cur = NULL;
            if (ex == NULL) { /* upgrade pause after our own pause */
                c->stop_parsing = 1;
                break;
            }
            if (err == HPE_PAUSED && !ex->upgrade_req) {
                llhttp_resume(&c->parser);
            } else {
                /* the last request of the connection: answered, then
                 * closed, unless its handler switches protocols
                 * (dp_http_upgrade), which gets the bytes after it */
                c->stop_parsing = 1;
                ex->keep_alive = 0;
                if (ex->upgrade_req && s->upgrade != NULL) {
                    c->upgrade_wait = 1;
                    if (up_keep(c, data, len) < 0)
                        break; /* closed, ex with it */
                    len = 0;
                }
            }
            if (!ex->keep_alive) {
                ex->close_after = 1;
                c->stop_parsing = 1;
            }
            dispatch(c, ex);
            continue;
        }
        if (c->err_status == -1 || c->closing)
            break;
        conn_error(c, c->err_status ? c->err_status : 400);
        break;
    }
    if (c->pend != NULL && !c->read_paused) {
        free(c->pend);
        c->pend = NULL;
        c->pend_len = c->pend_off = 0;
    }
    c->processing = 0;
    if (!c->closing && c->q_head == NULL && c->cur == NULL &&
        !c->lingering && !c->close_after_write && c->writes_pending == 0)
        conn_after_flush(c);
}

/* ---- ABI 1.2: claims ---------------------------------------------------
 * The check runs on a connection's first bytes, before llhttp sees any
 * (llhttp takes "PRI * HTTP/2.0" for an upgrade or an error). The socket
 * leaves the front as a duplicate descriptor: the connection object closes
 * its own (libuv takes it out of epoll first), the kernel's socket stays
 * open under the duplicate. */

static void conn_hand_over(dp_conn_t *c, size_t claim, const char *data,
                           size_t len)
{
    dp_http_server_t *s = c->srv;
    uv_os_fd_t fd;
    int nfd = -1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    size_t n = c->pre_len + len;
    uint8_t *all = NULL;
    if (nfd >= 0 && c->pre_len > 0 && (all = malloc(n)) != NULL) {
        memcpy(all, c->pre, c->pre_len);
        memcpy(all + c->pre_len, data, len);
    }
    if (nfd < 0 || (c->pre_len > 0 && all == NULL)) {
        if (nfd >= 0)
            close(nfd);
        warn_limited(s, &s->log_accept,
                     "port %d: cannot hand a claimed connection over: %s",
                     s->port, strerror(nfd < 0 ? errno : ENOMEM));
        conn_close(c);
        return;
    }
    c->handed = 1; /* the slot goes with the socket */
    conn_close(c);
    s->handoff(s->handoff_arg, s, claim, nfd,
               all ? all : (const uint8_t *)data, n);
    free(all);
}

/* The 101 and everything before it are out: the socket leaves the front
 * as a duplicate descriptor, as for a claim, with the bytes the client
 * sent after its request. */
static void conn_switch(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    void *token = c->up_token;
    c->up_token = NULL;
    uv_os_fd_t fd;
    int nfd = -1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (nfd < 0) {
        warn_limited(s, &s->log_accept,
                     "port %d: cannot hand a switched connection over: %s",
                     s->port, strerror(errno));
        conn_close(c);
        s->upgrade(s->handoff_arg, s, -1, NULL, 0, token);
        return;
    }
    char *rest = c->up_rest;
    size_t n = c->up_rest_len;
    c->up_rest = NULL;
    c->up_rest_len = 0;
    c->handed = 1; /* the slot goes with the socket */
    conn_close(c);
    s->upgrade(s->handoff_arg, s, nfd, (const uint8_t *)rest, n, token);
    free(rest);
}

/* 1 when the bytes were taken (handed over, kept while a claim may still
 * match, or the connection closed); 0 when they are HTTP's. */
static int conn_claim_check(dp_conn_t *c, const char *data, size_t len)
{
    dp_http_server_t *s = c->srv;
    size_t have = c->pre_len + len;
    int partial = 0;
    for (size_t i = 0; i < s->n_claims; i++) {
        const dp_http_claim_t *cl = &s->claims[i];
        size_t n = have < cl->len ? have : cl->len;
        size_t a = c->pre_len < n ? c->pre_len : n;
        if (memcmp(c->pre, cl->prefix, a) != 0 ||
            (n > a && memcmp(data, cl->prefix + a, n - a) != 0))
            continue;
        if (have >= cl->len) {
            conn_hand_over(c, i, data, len);
            return 1;
        }
        partial = 1; /* have < cl->len <= DP_HTTP_CLAIM_MAX */
    }
    if (partial && !s->draining) {
        /* the head timeout runs from the first byte: a client that sends
         * the prefix a byte at a time does not push it back */
        if (c->pre_len == 0)
            conn_set_timer(c, TM_HEAD, s->limits.header_timeout_ms);
        memcpy(c->pre + c->pre_len, data, len);
        c->pre_len = have;
        conn_idle_leave(c); /* not shed: it is sending */
        return 1;
    }
    c->claim_done = 1;
    if (c->pre_len == 0)
        return 0;
    char *all = malloc(have);
    if (all == NULL) {
        conn_close(c);
        return 1;
    }
    memcpy(all, c->pre, c->pre_len);
    memcpy(all + c->pre_len, data, len);
    c->pre_len = 0;
    conn_process(c, all, have); /* copies what it keeps */
    free(all);
    return 1;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dp_conn_t *c = st->data;
    if (nread > 0 && c->upgrade_wait) {
        /* the new protocol's, if the handler switches */
        up_keep(c, buf->base, (size_t)nread);
        return;
    }
    if (nread > 0) {
        if (!c->claim_done) {
            if (c->srv->n_claims == 0 || c->cur != NULL || c->q_head != NULL)
                c->claim_done = 1;
            else if (conn_claim_check(c, buf->base, (size_t)nread))
                return;
        }
        conn_process(c, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    /* EOF or error. A client that goes away while requests are still
     * unanswered has given up on them (as in nginx and Go): close, and the
     * handlers' late answers get -ENOTCONN. */
    c->read_eof = 1;
    uv_read_stop(st);
    if (nread != UV_EOF || c->n_waiting > 0) {
        conn_close(c);
        return;
    }
    if (c->cur != NULL || (c->q_head == NULL && c->writes_pending == 0))
        conn_close(c);
    /* else: answered responses are still being written; conn_after_flush
     * closes once they are out */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    dp_conn_t *c = h->data;
    /* reads are processed synchronously, so one buffer serves the whole
     * loop; bytes that must outlive the callback are copied */
    buf->base = c->srv->rbuf;
    buf->len = READ_BUF_SIZE;
}

/* Runs on the next loop iteration for connections whose pipeline has room
 * again; not inline in respond, so a handler is never re-entered from its
 * own respond call. */
static void on_resume_idle(uv_idle_t *h)
{
    dp_http_server_t *s = h->data;
    uv_idle_stop(h);
    while (s->resume != NULL) {
        dp_conn_t *c = s->resume;
        s->resume = c->resume_next;
        c->in_resume = 0;
        c->resume_next = NULL;
        if (c->closing || !c->read_paused)
            continue;
        c->read_paused = 0;
        if (c->pend_len > c->pend_off)
            conn_process(c, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (c->read_paused) {
            /* conn_process kept the tail: it points into pend already */
            continue;
        }
        if (!c->closing && !c->stop_parsing && !c->lingering && !c->read_eof)
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void conn_schedule_resume(dp_conn_t *c)
{
    dp_http_server_t *s = c->srv;
    if (c->in_resume || s->freeing)
        return;
    c->in_resume = 1;
    c->resume_next = s->resume;
    s->resume = c;
    uv_idle_start(&s->resume_idle, on_resume_idle);
}

/* ---- answering -------------------------------------------------------- */

static int header_ok(const doppel_kv_t *kv)
{
    if (kv->name.len == 0 || kv->name.ptr == NULL ||
        (kv->value.len > 0 && kv->value.ptr == NULL))
        return 0;
    for (size_t i = 0; i < kv->name.len; i++) {
        unsigned char ch = (unsigned char)kv->name.ptr[i];
        if (ch <= 32 || ch >= 127 || ch == ':')
            return 0;
    }
    for (size_t i = 0; i < kv->value.len; i++) {
        unsigned char ch = (unsigned char)kv->value.ptr[i];
        if (ch == '\r' || ch == '\n' || ch == '\0')
            return 0;
    }
    return 1;
}

/* Headers the front owns: framing and the ones it always sends. */
static int header_reserved(const doppel_str_t *n)
{
    static const char *const names[] = {"content-length", "transfer-encoding",
                                        "connection", "date", "server",
                                        "x-request-id"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t l = strlen(names[i]);
        if (n->len == l && strncasecmp(n->ptr, names[i], l) == 0)
            return 1;
    }
    return 0;
}

static void record(doppel_http_exchange_t *ex, int status)
{
    dp_http_server_t *s = ex->srv;
    if (s->metrics == NULL)
        return;
    uint64_t us = (uv_hrtime() - ex->start_ns) / 1000;
    dp_metrics_request(s->metrics, owner_slot(s, ex->route), status, us);
}

/* Builds status line and headers into ex->out and, unless streaming, the
 * body too; then flushes. stream: 1 to start a stream. */
static int ex_answer(doppel_http_exchange_t *ex, int status,
                     const doppel_kv_t *headers, size_t n_headers,
                     const void *body, size_t body_len, int stream)
{
    dp_conn_t *c = ex->conn;
    dp_http_server_t *s = ex->srv;
    ex->status = status;
    if (!stream) {
        ex->finished = 1;
        record(ex, status);
    }
    if (ex->local)
        return local_answer(ex, status, headers, n_headers, body, body_len,
                            stream);
    if (c == NULL || c->closing)
        return -ENOTCONN;

    int http10 = ex->req.http_major == 1 && ex->req.http_minor == 0;
    int no_body = ex->is_head || status == 204 || status == 304 ||
                  (status >= 100 && status < 200);
    if (ex->rid[0] == '\0')
        gen_request_id(s, ex->rid);
    if (stream && http10)
        ex->close_after = 1; /* no chunked coding: the close ends the body */
    if (!ex->keep_alive)
        ex->close_after = 1;
    /* the last answer on a connection that takes no further request */
    if ((c->stop_parsing || s->draining) && ex->next == NULL && c->cur == NULL)
        ex->close_after = 1;

    size_t need = 256 + (body_len && !no_body && !stream ? body_len : 0);
    for (size_t i = 0; i < n_headers; i++)
        need += headers[i].name.len + headers[i].value.len + 4;
    if (buf_reserve(&ex->out, need) < 0) {
        ex->out_done = 1;
        conn_close(c);
        return -ENOMEM;
    }
    const char *reason = reason_phrase(status);
    char *o = ex->out.p + ex->out.len;
    o = put(o, "HTTP/1.1 ", 9);
    o = put_u64(o, (uint64_t)status);
    *o++ = ' ';
    o = put(o, reason, strlen(reason));
    o = put(o, "\r\nServer: doppel/" DOPPEL_VERSION "\r\nDate: ",
            sizeof("\r\nServer: doppel/" DOPPEL_VERSION "\r\nDate: ") - 1);
    const char *date = server_date(s);
    o = put(o, date, strlen(date));
    o = put(o, "\r\nX-Request-Id: ", 16);
    o = put(o, ex->rid, strlen(ex->rid));
    if (stream) {
        if (!http10 && status >= 200 && status != 204 && status != 304) {
            ex->chunked = 1;
            o = put(o, "\r\nTransfer-Encoding: chunked", 28);
        }
    } else if (status >= 200 && status != 204) {
        o = put(o, "\r\nContent-Length: ", 18);
        o = put_u64(o, body_len);
    }
    if (ex->close_after)
        o = put(o, "\r\nConnection: close", 19);
    else if (http10)
        o = put(o, "\r\nConnection: keep-alive", 24);
    for (size_t i = 0; i < n_headers; i++) {
        if (header_reserved(&headers[i].name))
            continue;
        o = put(o, "\r\n", 2);
        o = put(o, headers[i].name.ptr, headers[i].name.len);
        o = put(o, ": ", 2);
        o = put(o, headers[i].value.ptr, headers[i].value.len);
    }
    o = put(o, "\r\n\r\n", 4);
    if (!stream && !no_body && body_len > 0)
        o = put(o, body, body_len);
    ex->out.len = (size_t)(o - ex->out.p);
    if (!stream)
        ex->out_done = 1;
    conn_flush(c);
    return 0;
}

/* The handler finished the exchange: count it out before its answer is
 * flushed (which may detach it from the connection). Returns whether the
 * caller must drop the handler's reference afterwards. */
static int ex_handler_done(doppel_http_exchange_t *ex)
{
    dp_conn_t *c = ex->conn;
    if (!ex->handed)
        return 0;
    ex->handed = 0;
    ex->srv->inflight--;
    if (c != NULL && !c->closing)
        c->n_waiting--;
    return 1;
}

static int validate_answer(doppel_http_exchange_t *ex, int status,
                           const doppel_kv_t *headers, size_t n_headers,
                           const void *body, size_t body_len)
{
    if (status < 200 || status > 599 || (n_headers > 0 && headers == NULL) ||
        (body_len > 0 && body == NULL))
        return -EINVAL;
    for (size_t i = 0; i < n_headers; i++)
        if (!header_ok(&headers[i]))
            return -EINVAL;
    return 0;
}

int dp_http_respond(doppel_http_exchange_t *ex, int status,
                    const doppel_kv_t *headers, size_t n_headers,
                    const void *body, size_t body_len)
{
    if (ex == NULL || ex->finished || ex->streaming)
        return -EINVAL;
    int rc = validate_answer(ex, status, headers, n_headers, body, body_len);
    int held = ex_handler_done(ex);
    if (rc < 0) {
        /* the exchange still gets an answer and is released */
        dp_warn(LOG_COMP, "invalid response (status %d) for request %s",
                status, ex->rid);
        answer_error(ex, 500, "invalid response", "internal");
    } else {
        rc = ex_answer(ex, status, headers, n_headers, body, body_len, 0);
    }
    if (held)
        ex_unref(ex);
    return rc;
}

int dp_http_respond_json(doppel_http_exchange_t *ex, int status,
                         const char *json, size_t len)
{
    static const doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                                   DOPPEL_STR("application/json")};
    return dp_http_respond(ex, status, &ct, 1, json, len);
}

int dp_http_stream_start(doppel_http_exchange_t *ex, int status,
                         const doppel_kv_t *headers, size_t n_headers)
{
    if (ex == NULL || ex->finished || ex->streaming)
        return -EINVAL;
    int rc = validate_answer(ex, status, headers, n_headers, NULL, 0);
    if (rc < 0)
        return rc;
    ex->streaming = 1;
    return ex_answer(ex, status, headers, n_headers, NULL, 0, 1);
}

int dp_http_stream_write(doppel_http_exchange_t *ex, const void *data,
                         size_t len)
{
    if (ex == NULL || !ex->streaming || ex->finished ||
        (len > 0 && data == NULL))
        return -EINVAL;
    if (ex->local)
        return ex->is_head ? 0 : local_append(ex, data, len);
    dp_conn_t *c = ex->conn;
    if (c == NULL || c->closing)
        return -ENOTCONN;
    if (len == 0 || ex->is_head)
        return 0;
    /* A client that never reads (or too slowly) must not make the server
     * buffer without end: the stream's writer is told and the connection
     * closed, which frees what was queued. */
    if (c->tcp.write_queue_size + ex->out.len + len > STREAM_BACKLOG_MAX) {
        conn_close(c);
        return -ENOBUFS;
    }
    if (buf_reserve(&ex->out, len + 32) < 0)
        return -ENOMEM;
    char *o = ex->out.p + ex->out.len;
    if (ex->chunked)
        o += sprintf(o, "%zx\r\n", len);
    o = put(o, data, len);
    if (ex->chunked)
        o = put(o, "\r\n", 2);
    ex->out.len = (size_t)(o - ex->out.p);
    if (c->q_head == ex)
        conn_flush(c);
    return ex->conn == NULL ? -ENOTCONN : 0;
}

int dp_http_stream_end(doppel_http_exchange_t *ex)
{
    if (ex == NULL || !ex->streaming || ex->finished)
        return -EINVAL;
    ex->finished = 1;
    record(ex, ex->status);
    int held = ex_handler_done(ex), rc = 0;
    dp_conn_t *c = ex->conn;
    if (ex->local) {
        local_done(ex);
    } else if (c == NULL || c->closing) {
        rc = -ENOTCONN;
    } else if (ex->chunked && !ex->is_head &&
               buf_append(&ex->out, "0\r\n\r\n", 5) < 0) {
        ex->out_done = 1;
        conn_close(c);
        rc = -ENOMEM;
    } else {
        ex->out_done = 1;
        conn_flush(c);
    }
    if (held)
        ex_unref(ex);
    return rc;
}

uv_loop_t *dp_http_exchange_loop(doppel_http_exchange_t *ex)
{
    return ex ? ex->srv->loop : NULL;
}

uint64_t dp_http_exchange_conn_id(const doppel_http_exchange_t *ex)
{
    return ex && ex->conn ? ex->conn->id : 0;
}

/* ---- in-process exchanges ---------------------------------------------
 * dp_http_local_call builds an exchange from a request given in memory and
 * dispatches it through the same router and handlers as a request from a
 * socket. The answer is captured into the exchange's out buffer and handed
 * to the caller's callback from done_idle, on the next loop iteration,
 * never from inside the call or the handler's answer. References: one for
 * the call (dropped once the callback ran or was cancelled), one for the
 * handler while it holds the exchange, as for a connection's exchanges. */

int dp_http_upgrade(doppel_http_exchange_t *ex, const doppel_kv_t *headers,
                    size_t n_headers, void *token)
{
    if (ex == NULL || ex->local || !ex->upgrade_req || ex->finished ||
        ex->streaming || !ex->handed || (n_headers > 0 && headers == NULL))
        return -EINVAL;
    dp_conn_t *c = ex->conn;
    dp_http_server_t *s = ex->srv;
    if (s->upgrade == NULL)
        return -ENOTSUP;
    int has_upgrade = 0;
    size_t need = 128;
    for (size_t i = 0; i < n_headers; i++) {
        if (!header_ok(&headers[i]) || header_reserved(&headers[i].name))
            return -EINVAL;
        has_upgrade |= headers[i].name.len == 7 &&
                       strncasecmp(headers[i].name.ptr, "upgrade", 7) == 0;
        need += headers[i].name.len + headers[i].value.len + 4;
    }
    if (!has_upgrade)
        return -EINVAL;
    int held = ex_handler_done(ex);
    ex->status = 101;
    ex->finished = 1;
    record(ex, 101);
    int rc = 0;
    if (c == NULL || c->closing) {
        rc = -ENOTCONN;
    } else if (buf_reserve(&ex->out, need) < 0) {
        ex->out_done = 1;
        conn_close(c);
        rc = -ENOMEM;
    } else {
        static const char line[] =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade";
        char *o = ex->out.p + ex->out.len;
        o = put(o, line, sizeof(line) - 1);
        for (size_t i = 0; i < n_headers; i++) {
            o = put(o, "\r\n", 2);
            o = put(o, headers[i].name.ptr, headers[i].name.len);
            o = put(o, ": ", 2);
            o = put(o, headers[i].value.ptr, headers[i].value.len);
        }
        o = put(o, "\r\n\r\n", 4);
        ex->out.len = (size_t)(o - ex->out.p);
        ex->out_done = 1;
        ex->switching = 1;
        ex->close_after = 0;
        ex->up_token = token;
        conn_flush(c);
    }
    if (held)
        ex_unref(ex);
    return rc;
}

static void local_unlink(doppel_http_exchange_t *ex)
{
    dp_http_server_t *s = ex->srv;
    if (ex->lprev)
        ex->lprev->lnext = ex->lnext;
    else if (s->local_live == ex)
        s->local_live = ex->lnext;
    if (ex->lnext)
        ex->lnext->lprev = ex->lprev;
    ex->lprev = ex->lnext = NULL;
}

static int local_append(doppel_http_exchange_t *ex, const void *data,
                        size_t len)
{
    if (len == 0)
        return 0;
    if (ex->lcb == NULL)
        return -ENOTCONN; /* cancelled: nobody reads it */
    return buf_append(&ex->out, data, len);
}

static int local_put_header(doppel_http_exchange_t *ex, doppel_str_t name,
                            doppel_str_t value)
{
    if (buf_reserve(&ex->out, name.len + value.len + 2) < 0)
        return -ENOMEM;
    char *o = ex->out.p + ex->out.len;
    o = put(o, name.ptr, name.len);
    *o++ = '\0';
    if (value.len)
        o = put(o, value.ptr, value.len);
    *o++ = '\0';
    ex->out.len = (size_t)(o - ex->out.p);
    ex->ln_hdr++;
    return 0;
}

static int local_answer(doppel_http_exchange_t *ex, int status,
                        const doppel_kv_t *headers, size_t n_headers,
                        const void *body, size_t body_len, int stream)
{
    int no_body = ex->is_head || status == 204 || status == 304;
    int rc = 0;
    ex->out.len = 0;
    ex->ln_hdr = 0;
    if (ex->rid[0] == '\0')
        gen_request_id(ex->srv, ex->rid);
    for (size_t i = 0; i < n_headers && rc == 0; i++)
        if (!header_reserved(&headers[i].name))
            rc = local_put_header(ex, headers[i].name, headers[i].value);
    if (rc == 0)
        rc = local_put_header(ex, (doppel_str_t)DOPPEL_STR("X-Request-Id"),
                              (doppel_str_t){ex->rid, strlen(ex->rid)});
    ex->lhdr_len = ex->out.len;
    if (rc == 0 && !stream && !no_body && body_len > 0)
        rc = buf_append(&ex->out, body, body_len);
    if (rc < 0) {
        /* an answer without what did not fit rather than none */
        ex->out.len = ex->lhdr_len;
    }
    if (!stream)
        local_done(ex);
    return ex->lcb == NULL ? -ENOTCONN : rc;
}

static void on_done_idle(uv_idle_t *h);

/* The answer is complete: queue it for delivery on the next iteration. */
static void local_done(doppel_http_exchange_t *ex)
{
    dp_http_server_t *s = ex->srv;
    if (ex->lcb == NULL)
        return; /* cancelled: the caller was told already */
    ex->ldone = NULL;
    if (s->done_tail)
        s->done_tail->ldone = ex;
    else
        s->done_head = ex;
    s->done_tail = ex;
    uv_idle_start(&s->done_idle, on_done_idle);
}

/* Calls the caller back once with rc and, for rc 0, the answer; drops the
 * call's reference. */
static void local_deliver(doppel_http_exchange_t *ex, int rc)
{
    doppel_fetch_cb cb = ex->lcb;
    void *data = ex->ldata;
    ex->lcb = NULL;
    local_unlink(ex);
    doppel_kv_t stack[16];
    doppel_kv_t *kv = stack;
    size_t n = rc == 0 ? ex->ln_hdr : 0;
    if (n > 16 && (kv = malloc(n * sizeof(*kv))) == NULL) {
        kv = stack;
        n = 0; /* the answer without headers rather than none */
    }
    const char *p = ex->out.p;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        kv[i] = (doppel_kv_t){{p, nl}, {v, vl}};
        p = v + vl + 1;
    }
    doppel_fetch_result_t res = {.size = sizeof(res), .error = {"", 0}};
    if (rc == 0) {
        res.status = ex->status;
        res.headers = kv;
        res.n_headers = n;
        res.body = ex->out.len > ex->lhdr_len ? ex->out.p + ex->lhdr_len : "";
        res.body_len = ex->out.len - ex->lhdr_len;
    } else {
        res.error = (doppel_str_t)DOPPEL_STR("the host is stopping");
    }
    if (cb != NULL)
        cb(data, rc, &res);
    if (kv != stack)
        free(kv);
    ex_unref(ex);
}

static void on_done_idle(uv_idle_t *h)
{
    dp_http_server_t *s = h->data;
    /* Only what was queued before this run: an answer a callback causes
     * waits for the next iteration, and a stop inside a callback (the
     * server freed) ends the run. */
    doppel_http_exchange_t *last = s->done_tail;
    while (s->done_head != NULL && !s->freeing) {
        doppel_http_exchange_t *ex = s->done_head;
        s->done_head = ex->ldone;
        if (s->done_head == NULL)
            s->done_tail = NULL;
        ex->ldone = NULL;
        local_deliver(ex, 0);
        if (ex == last)
            break;
    }
    if (s->done_head == NULL && !s->freeing)
        uv_idle_stop(h);
}

/* The fields a listening and an in-process server set alike from cfg. */
static void server_init(dp_http_server_t *s, uv_loop_t *loop,
                        const dp_http_server_cfg_t *cfg)
{
    s->loop = loop;
    s->limits = cfg->limits;
    if (s->limits.max_header_bytes == 0)
        dp_http_limits_default(&s->limits);
    s->router = cfg->router;
    s->metrics = cfg->metrics;
    s->host_slot = -1;
    if (s->metrics != NULL)
        s->host_slot = dp_metrics_owner(dp_metrics_of(s->metrics), "host");
    if (getrandom(&s->rid_seed, sizeof(s->rid_seed), GRND_NONBLOCK) !=
        sizeof(s->rid_seed))
        s->rid_seed =
            uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
}

int dp_http_local_new(uv_loop_t *loop, const dp_http_server_cfg_t *cfg,
                      dp_http_server_t **out)
{
    if (loop == NULL || cfg == NULL || out == NULL || cfg->router == NULL)
        return -EINVAL;
    dp_http_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    server_init(s, loop, cfg);
    s->local = 1;
    uv_idle_init(loop, &s->done_idle);
    s->done_idle.data = s;
    s->handles_open = 1;
    *out = s;
    return 0;
}

static int method_ok(doppel_str_t m)
{
    if (m.len == 0 || m.len > 24)
        return 0;
    for (size_t i = 0; i < m.len; i++)
        if (!(m.ptr[i] >= 'A' && m.ptr[i] <= 'Z') && m.ptr[i] != '-')
            return 0;
    return 1;
}

static int target_ok(doppel_str_t t)
{
    if (t.len == 0 || t.ptr == NULL || t.ptr[0] != '/')
        return 0;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char ch = (unsigned char)t.ptr[i];
        if (ch <= 32 || ch >= 127 || ch == '#')
            return 0;
    }
    return 1;
}

/* Copies the request into the exchange's arena the way the parser would
 * have: target, headers, decoded path. Returns 0, -ENOMEM, or -E2BIG when
 * the head is over max_header_bytes. */
static int local_fill(doppel_http_exchange_t *ex, const dp_http_local_req_t *r)
{
    size_t max = ex->srv->limits.max_header_bytes;
    size_t need = r->target.len + 1;
    for (size_t i = 0; i < r->n_headers; i++)
        need += r->headers[i].name.len + r->headers[i].value.len + 4;
    if (need > max)
        return -E2BIG;
    if (buf_reserve(&ex->head, need + r->method.len + 1) < 0)
        return -ENOMEM;
    if (r->n_headers > ex->cap_hdr) {
        hdr_off_t *v = realloc(ex->hoff, r->n_headers * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        ex->hoff = v;
        ex->cap_hdr = r->n_headers;
    }
    if (r->n_headers > ex->cap_kv) {
        doppel_kv_t *kv = realloc(ex->kv, r->n_headers * sizeof(*kv));
        if (kv == NULL)
            return -ENOMEM;
        ex->kv = kv;
        ex->cap_kv = r->n_headers;
    }
    ex->url_off = 0;
    ex->url_len = r->target.len;
    buf_append(&ex->head, r->target.ptr, r->target.len);
    buf_append(&ex->head, "", 1);
    size_t m_off = ex->head.len;
    buf_append(&ex->head, r->method.ptr, r->method.len);
    buf_append(&ex->head, "", 1);
    ex->n_hdr = r->n_headers;
    for (size_t i = 0; i < r->n_headers; i++) {
        hdr_off_t *h = &ex->hoff[i];
        h->no = ex->head.len;
        h->nl = r->headers[i].name.len;
        buf_append(&ex->head, r->headers[i].name.ptr, h->nl);
        buf_append(&ex->head, "", 1);
        h->vo = ex->head.len;
        h->vl = r->headers[i].value.len;
        if (h->vl)
            buf_append(&ex->head, r->headers[i].value.ptr, h->vl);
        buf_append(&ex->head, "", 1);
    }
    size_t path_len, q_off, q_len;
    long path_off = decode_target(ex, &path_len, &q_off, &q_len);
    if (path_off < 0)
        return -EINVAL;
    const char *base = ex->head.p; /* final from here on */
    for (size_t i = 0; i < ex->n_hdr; i++) {
        hdr_off_t *h = &ex->hoff[i];
        ex->kv[i].name = (doppel_str_t){base + h->no, h->nl};
        ex->kv[i].value = (doppel_str_t){base + h->vo, h->vl};
    }
    if (buf_reserve(&ex->body, r->body_len + 1) < 0)
        return -ENOMEM;
    if (r->body_len)
        memcpy(ex->body.p, r->body, r->body_len);
    ex->body.len = r->body_len;
    ex->body.p[ex->body.len] = '\0';

    doppel_http_request_t *q = &ex->req;
    q->size = sizeof(*q);
    q->method = (doppel_str_t){base + m_off, r->method.len};
    q->target = (doppel_str_t){base + ex->url_off, ex->url_len};
    q->path = (doppel_str_t){base + path_off, path_len};
    q->query =
        q_len ? (doppel_str_t){base + q_off, q_len} : (doppel_str_t){"", 0};
    q->rest = q->path;
    q->headers = ex->kv;
    q->n_headers = ex->n_hdr;
    q->body = (const uint8_t *)ex->body.p;
    q->body_len = ex->body.len;
    snprintf(ex->remote, sizeof(ex->remote), "%s",
             r->remote_addr && r->remote_addr[0] ? r->remote_addr
                                                 : "in-process");
    q->remote_addr = (doppel_str_t){ex->remote, strlen(ex->remote)};
    q->http_major = 1;
    q->http_minor = 1;
    q->header = req_header;
    const doppel_str_t *rid = req_header(q, "x-request-id");
    if (rid != NULL && doppel_name_valid(rid->ptr, rid->len, REQUEST_ID_MAX)) {
        memcpy(ex->rid, rid->ptr, rid->len);
        ex->rid[rid->len] = '\0';
    } else {
        gen_request_id(ex->srv, ex->rid);
    }
    q->request_id = (doppel_str_t){ex->rid, strlen(ex->rid)};
    return 0;
}

int dp_http_local_call(dp_http_server_t *s, const dp_http_local_req_t *r,
                       int host_routes_only, doppel_fetch_cb cb, void *data)
{
    if (s == NULL || r == NULL || cb == NULL || !s->local)
        return -EINVAL;
    if (s->freeing)
        return -ECANCELED;
    doppel_str_t method =
        r->method.len ? r->method : (doppel_str_t)DOPPEL_STR("GET");
    if (!method_ok(method) || !target_ok(r->target) ||
        (r->n_headers > 0 && r->headers == NULL) ||
        (r->body_len > 0 && r->body == NULL))
        return -EINVAL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (!header_ok(&r->headers[i]))
            return -EINVAL;
    doppel_http_exchange_t *ex = ex_alloc(s);
    if (ex == NULL)
        return -ENOMEM;
    ex->local = 1;
    ex->refs = 1; /* the call's, until the callback ran */
    ex->phase = PH_READY;
    ex->is_head = method.len == 4 && memcmp(method.ptr, "HEAD", 4) == 0;
    dp_http_local_req_t copy = *r;
    copy.method = method;
    int too_big = r->body_len > s->limits.max_body_bytes;
    if (too_big)
        copy.body_len = 0; /* refused below; not worth copying */
    int rc = local_fill(ex, &copy);
    if (rc == -ENOMEM || rc == -EINVAL) {
        ex->local = 0;
        ex_unref(ex);
        return rc;
    }
    ex->lcb = cb;
    ex->ldata = data;
    ex->lnext = s->local_live;
    if (s->local_live)
        s->local_live->lprev = ex;
    s->local_live = ex;
    /* From here on the caller hears of every outcome through cb, as a
     * client of the socket would: the same refusals, the same answers. */
    if (rc == -E2BIG) {
        answer_error(ex, 431, "request header fields too large",
                     "headers_too_large");
        return 0;
    }
    if (too_big) {
        answer_error(ex, 413, "request body too large", "payload_too_large");
        return 0;
    }
    size_t off = 0;
    const dp_route_t *rt = dp_router_match(s->router, &ex->req, &off);
    if (rt == NULL || (host_routes_only && !rt->host_route)) {
        answer_error(ex, 404, "no route", "not_found");
        return 0;
    }
    hand_over(s, ex, rt, off);
    return 0;
}

/* The server stops: answered calls are delivered, the others cancelled
 * (-ECANCELED); exchanges handlers still hold stay alive until answered. */
static void local_cancel_all(dp_http_server_t *s)
{
    while (s->done_head != NULL) {
        doppel_http_exchange_t *ex = s->done_head;
        s->done_head = ex->ldone;
        ex->ldone = NULL;
        local_deliver(ex, 0);
    }
    s->done_tail = NULL;
    while (s->local_live != NULL)
        local_deliver(s->local_live, -ECANCELED);
}

/* ---- listener --------------------------------------------------------- */

/* Makes a connection of an accepted socket; closes fd on failure. */
static void conn_open(dp_http_server_t *s, uv_os_sock_t fd)
{
    if (s->raw) {
        /* a plugin's own listener: the connection is the plugin's */
        s->n_open++;
        dp_metrics_conn_open(s->metrics, 1);
        s->handoff(s->handoff_arg, s, DP_HTTP_RAW, fd, NULL, 0);
        return;
    }
    dp_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->srv = s;
    c->id = atomic_fetch_add_explicit(&next_conn_id, 1, memory_order_relaxed);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->n_open++;
    dp_metrics_conn_open(s->metrics, 1);
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote,
                        sizeof(c->remote));
        else
            uv_ip4_name((struct sockaddr_in *)&ss, c->remote,
                        sizeof(c->remote));
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    conn_set_timer(c, TM_IDLE, s->limits.idle_timeout_ms);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    conn_idle_enter(c);
}

static void on_listen_ready(uv_poll_t *h, int status, int events);

static void on_accept_timer(uv_timer_t *t);

/* Stops polling the listener. At the cap (ACC_PAUSED_CAP) it resumes when
 * a connection closes or goes idle; short of descriptors (ACC_PAUSED_FD)
 * also after a back-off, since descriptors may come free elsewhere in the
 * process (another worker, the store, an upstream connection). */
static void accept_pause(dp_http_server_t *s, enum accept_state why)
{
    if (s->accept_state == ACC_RUNNING) {
        uv_poll_stop(&s->lpoll);
        dp_metrics_accept_paused(s->metrics);
    }
    s->accept_state = why;
    if (why == ACC_PAUSED_FD) {
        uint64_t ms = s->backoff_ms ? s->backoff_ms : ACCEPT_BACKOFF_MIN_MS;
        s->backoff_ms =
            ms * 2 > ACCEPT_BACKOFF_MAX_MS ? ACCEPT_BACKOFF_MAX_MS : ms * 2;
        uv_timer_start(&s->accept_timer, on_accept_timer, ms, 0);
    }
}

/* A paused listener gets another try on the next loop iteration (never
 * from inside conn_close or a handler's answer). */
static void server_kick_accept(dp_http_server_t *s)
{
    if (s->accept_state == ACC_RUNNING || s->lclosing || s->draining ||
        s->freeing)
        return;
    uv_timer_start(&s->accept_timer, on_accept_timer, 0, 0);
}

static int accept_fd_shortage(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Accepts up to ACCEPT_BATCH connections. At the cap the oldest idle
 * connection makes room; with none idle the newcomer is held (one
 * descriptor) and the listener paused. Out of descriptors, idle
 * connections are shed and accept retried; with none left to shed the
 * listener pauses. Never loops on an error. */
static void server_accept(dp_http_server_t *s)
{
    size_t cap = s->limits.max_connections;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (s->lclosing || s->draining || s->freeing)
            return;
        uv_os_sock_t fd = s->held_fd;
        s->held_fd = -1;
        if (fd < 0) {
            fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                if (err == EAGAIN || err == EWOULDBLOCK)
                    return;
                if (err == EINTR || err == ECONNABORTED || err == EPROTO ||
                    err == EPERM)
                    continue; /* that client only */
                if (accept_fd_shortage(err)) {
                    size_t open = s->n_open;
                    size_t shed = shed_idle(s, SHED_BATCH);
                    warn_limited(s, &s->log_shed,
                                 "accept on port %d: %s: %s (%zu "
                                 "connections open)",
                                 s->port, strerror(err),
                                 shed ? "closed idle connections, oldest "
                                        "first"
                                      : "listener paused",
                                 open);
                    if (shed > 0)
                        continue;
                } else {
                    warn_limited(s, &s->log_accept,
                                 "accept on port %d: %s: listener paused",
                                 s->port, strerror(err));
                }
                accept_pause(s, ACC_PAUSED_FD);
                return;
            }
            s->backoff_ms = 0;
        }
        if (cap > 0 && s->n_open >= cap) {
            if (shed_idle(s, 1) == 0) {
                s->held_fd = fd;
                warn_limited(s, &s->log_accept,
                             "port %d: %zu connections, the limit "
                             "(max_connections per worker): none idle, "
                             "new connections wait",
                             s->port, s->n_open);
                accept_pause(s, ACC_PAUSED_CAP);
                return;
            }
            warn_limited(s, &s->log_shed,
                         "port %d: %zu connections, the limit "
                         "(max_connections per worker): closing idle "
                         "connections, oldest first",
                         s->port, cap);
        }
        conn_open(s, fd);
    }
}

static void on_listen_ready(uv_poll_t *h, int status, int events)
{
    dp_http_server_t *s = h->data;
    (void)events;
    if (status < 0) {
        warn_limited(s, &s->log_accept, "listener on port %d: %s", s->port,
                     uv_strerror(status));
        accept_pause(s, ACC_PAUSED_FD);
        return;
    }
    server_accept(s);
}

static void on_accept_timer(uv_timer_t *t)
{
    dp_http_server_t *s = t->data;
    if (s->accept_state == ACC_RUNNING || s->lclosing || s->draining ||
        s->freeing)
        return;
    s->accept_state = ACC_RUNNING;
    uv_poll_start(&s->lpoll, UV_READABLE, on_listen_ready);
    server_accept(s);
}

static void on_lpoll_closed(uv_handle_t *h)
{
    dp_http_server_t *s = h->data;
    if (s->lfd >= 0)
        close(s->lfd);
    s->lfd = -1;
    s->handles_open--;
    server_maybe_free(s);
}

/* Stops accepting for good: connections still in the kernel's queue are
 * reset when the socket closes. */
static void server_close_listener(dp_http_server_t *s)
{
    if (s->lclosing)
        return;
    s->lclosing = 1;
    if (s->held_fd >= 0) {
        close(s->held_fd);
        s->held_fd = -1;
    }
    uv_timer_stop(&s->accept_timer);
    uv_close((uv_handle_t *)&s->lpoll, on_lpoll_closed);
}

void dp_http_server_close_listener(dp_http_server_t *s)
{
    if (s != NULL && !s->local)
        server_close_listener(s);
}

void dp_http_server_release(dp_http_server_t *s)
{
    if (s == NULL || s->n_open == 0)
        return;
    s->n_open--;
    dp_metrics_conn_open(s->metrics, -1);
    server_kick_accept(s); /* a descriptor and a slot are free */
}

/* A bound, listening, non-blocking socket. 0 or a negative errno. */
static int listen_socket(const struct sockaddr_storage *addr, int reuseport,
                         uv_os_sock_t *out)
{
    int fd =
        socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (reuseport &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        (addr->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)addr, len) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    dp_http_server_t *s = h->data;
    s->handles_open--;
    server_maybe_free(s);
}

static void server_maybe_free(dp_http_server_t *s)
{
    if (!s->freeing || s->handles_open > 0 || s->n_conns > 0 ||
        s->live_ex > 0)
        return;
    while (s->pool != NULL) {
        doppel_http_exchange_t *ex = s->pool;
        s->pool = ex->next;
        ex_destroy(ex);
    }
    free(s);
}

int dp_http_server_start(uv_loop_t *loop, const dp_http_server_cfg_t *cfg,
                         dp_http_server_t **out)
{
    if (loop == NULL || cfg == NULL || out == NULL || cfg->host == NULL ||
        cfg->port < 0 || cfg->port > 65535 ||
        ((cfg->raw || cfg->n_claims > 0) && cfg->handoff == NULL) ||
        (cfg->n_claims > 0 && cfg->claims == NULL))
        return -EINVAL;
    for (size_t i = 0; i < cfg->n_claims; i++)
        if (cfg->claims[i].len == 0 || cfg->claims[i].len > DP_HTTP_CLAIM_MAX ||
            cfg->claims[i].prefix == NULL)
            return -EINVAL;
    uv_once(&parser_settings_once, parser_settings_init);

    struct sockaddr_storage addr;
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr) != 0)
        return -EINVAL;

    dp_http_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    server_init(s, loop, cfg);
    if (s->limits.max_pipeline == 0)
        s->limits.max_pipeline = 1;
    s->claims = cfg->claims;
    s->n_claims = cfg->n_claims;
    s->handoff = cfg->handoff;
    s->handoff_arg = cfg->handoff_arg;
    s->upgrade = cfg->upgrade;
    s->raw = cfg->raw;

    s->lfd = -1;
    s->held_fd = -1;
    uv_timer_init(loop, &s->drain_timer);
    s->drain_timer.data = s;
    uv_idle_init(loop, &s->resume_idle);
    s->resume_idle.data = s;
    uv_timer_init(loop, &s->accept_timer);
    s->accept_timer.data = s;
    s->handles_open = 3;

    int rc = listen_socket(&addr, cfg->reuseport, &s->lfd);
    int polled = 0;
    if (rc == 0) {
        rc = uv_poll_init_socket(loop, &s->lpoll, s->lfd);
        if (rc == 0) {
            polled = 1;
            s->lpoll.data = s;
            s->handles_open++;
            rc = uv_poll_start(&s->lpoll, UV_READABLE, on_listen_ready);
        }
    }
    if (rc == 0) {
        struct sockaddr_storage b;
        socklen_t bl = sizeof(b);
        if (getsockname(s->lfd, (struct sockaddr *)&b, &bl) < 0)
            rc = -errno;
        else
            s->port = ntohs(b.ss_family == AF_INET6
                                ? ((struct sockaddr_in6 *)&b)->sin6_port
                                : ((struct sockaddr_in *)&b)->sin_port);
    }
    if (rc < 0) {
        s->freeing = 1;
        if (polled) {
            server_close_listener(s);
        } else if (s->lfd >= 0) {
            close(s->lfd);
            s->lfd = -1;
        }
        uv_close((uv_handle_t *)&s->drain_timer, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->resume_idle, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->accept_timer, on_server_handle_closed);
        return rc;
    }
    *out = s;
    return 0;
}

int dp_http_server_port(const dp_http_server_t *s)
{
    return s ? s->port : -1;
}

size_t dp_http_server_connections(const dp_http_server_t *s)
{
    return s ? s->n_conns : 0;
}

size_t dp_http_server_inflight(const dp_http_server_t *s)
{
    return s ? s->inflight : 0;
}

static void on_drain_timeout(uv_timer_t *t)
{
    dp_http_server_t *s = t->data;
    size_t n = s->n_conns;
    if (n > 0)
        dp_warn(LOG_COMP, "drain timeout: closing %zu connection(s)", n);
    dp_conn_t *c = s->conns;
    while (c != NULL) {
        dp_conn_t *next = c->next;
        conn_close(c);
        c = next;
    }
}

void dp_http_server_drain(dp_http_server_t *s, uint64_t timeout_ms,
                          void (*done)(void *data), void *data)
{
    if (s == NULL || s->draining)
        return;
    s->draining = 1;
    s->drain_done = done;
    s->drain_data = data;
    server_close_listener(s);
    dp_conn_t *c = s->conns;
    while (c != NULL) {
        dp_conn_t *next = c->next;
        if (c->q_head == NULL && c->cur == NULL)
            conn_close(c); /* idle keep-alive */
        else
            c->stop_parsing = c->stop_parsing || c->cur == NULL;
        c = next;
    }
    if (s->n_conns == 0) {
        s->drain_done_called = 1;
        if (done)
            done(data);
        return;
    }
    uv_timer_start(&s->drain_timer, on_drain_timeout, timeout_ms, 0);
}

void dp_http_server_free(dp_http_server_t *s)
{
    if (s == NULL || s->freeing)
        return;
    if (s->local) {
        /* freeing first: a callback that calls again gets -ECANCELED */
        s->freeing = 1;
        local_cancel_all(s);
        uv_close((uv_handle_t *)&s->done_idle, on_server_handle_closed);
        return;
    }
    s->freeing = 1;
    s->drain_done = NULL; /* a caller freeing us wants no late callback */
    s->drain_done_called = 1;
    server_close_listener(s);
    uv_close((uv_handle_t *)&s->drain_timer, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->resume_idle, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->accept_timer, on_server_handle_closed);
    dp_conn_t *c = s->conns;
    while (c != NULL) {
        dp_conn_t *next = c->next;
        conn_close(c);
        c = next;
    }
}
