/*
 * lines: an example third-party protocol plugin that owns its connections
 * (ABI 1.2: conn.h).
 *
 * A line protocol served two ways at once:
 *   - on a port of its own (conn_listen, option `listen`);
 *   - on the host's main port (and every http_listen port): connections
 *     that start with "LINES\n" are handed over by the HTTP front
 *     (conn_claim); HTTP/1.1 on the same port is untouched.
 *
 * Every connection is greeted with "hello listen\n" or "hello claim\n";
 * then each line it sends is answered:
 *   tick N      a repeating timer sends "tick 1\n" .. "tick N\n" (timer_start)
 *   slow N      N MiB of 'x' lines, produced only as fast as the peer reads
 *               (conn_pending / on_drain), then "slow done\n"
 *   flood       writes without looking at back-pressure until the host
 *               refuses (-ENOBUFS), then closes the connection
 *   burst N     N KiB, then a CLOSE_FLUSH: the peer gets every byte, then EOF
 *   drop        15 MiB, then a CLOSE_NOW: queued writes are cancelled
 *   thread      a thread of the plugin's own posts back to the loop (post)
 *   pipe TEXT   TEXT goes through a pipe the plugin watches (fd_watch) and
 *               comes back as "pipe: TEXT\n"
 *   hold N      "holding\n", stops reading for N ms (conn_pause), then
 *               "resumed\n" and what arrived meanwhile is read
 *   stats       "stats: open=A cancelled=B refused=C\n" (this worker's copy)
 *   bye         "bye\n", then a CLOSE_FLUSH
 *   call CMD JSON  matched through the engine (protocol sections, below):
 *               "answer: <the mock's rendered payload>\n" or "no mock\n"
 *   anything    "echo: <line>\n"
 * On DRAINING every connection gets "draining\n"; stop closes them (FLUSH)
 * and reports stop_done once the last on_close came.
 *
 * The plugin also adds a mock section (ABI 1.2: protocol.h), so mocks can
 * answer its lines:
 *   {"lines": {"command": "ask", "conditions": [...]},
 *    "response": {"payload": "n=$.session.count q=$.req.q"}}
 * answers the line `call ask {"q": 1}`.
 * check() refuses a command that is empty or holds a space (400 naming
 * lines.command) and indexes the mock under operation LINE, target
 * /<command>. Each connection is one engine session: "call" lines are
 * matched in it with their JSON as the body, so $.session.count and the
 * session store (extract sStore, $.sS) live as long as the connection.
 *
 * plugins.conf:
 *   [lines]
 *   path = /path/to/doppel_lines.so
 *   enabled = true
 *   listen = 127.0.0.1:4771
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <doppel/plugin.h>
#include <jansson.h>

#define LINE_MAX_BYTES 4096
#define CLAIM_PREFIX "LINES\n"
#define MAX_THREADS 16

typedef struct lines lines_t;

/* One connection. refs: the connection itself (until on_close) and every
 * post in flight from a thread (atomic: a thread may drop its reference
 * when post fails). */
typedef struct line_conn {
    lines_t *L;
    doppel_conn_t *conn; /* NULL after on_close */
    struct line_conn *prev, *next;
    _Atomic int refs;
    size_t skip; /* claimed: the prefix is in the first bytes */
    char line[LINE_MAX_BYTES];
    size_t line_len;
    doppel_timer_t *tick;
    unsigned tick_n, tick_sent;
    size_t slow_left;     /* bytes "slow" still has to produce */
    doppel_timer_t *hold; /* "hold N": reading paused until it fires */
    int closing;
    doppel_session_t *session; /* the engine session of this connection */
} line_conn_t;

struct lines {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    line_conn_t *conns;
    unsigned open;
    unsigned long cancelled; /* write callbacks with -ECANCELED */
    unsigned long refused;   /* writes refused with -ENOBUFS */
    int pipe_fd[2];
    doppel_watch_t *watch;
    pthread_t threads[MAX_THREADS];
    unsigned n_threads;
    int stopping;
};

static const doppel_option_t lines_options[] = {
    {.name = "listen",
     .type = DOPPEL_OPT_STRING,
     .default_value = "127.0.0.1:4771",
     .help = "own listener (HOST:PORT; port 0: ephemeral)",
     .min = 1,
     .max = 0},
    {.name = "claim",
     .type = DOPPEL_OPT_BOOL,
     .default_value = "true",
     .help = "also take connections starting with LINES\\n on the main port",
     .min = 1,
     .max = 0},
    {.name = NULL},
};

static void lc_unref(line_conn_t *lc)
{
    if (atomic_fetch_sub(&lc->refs, 1) == 1)
        free(lc);
}

static int say(line_conn_t *lc, const char *s, size_t n)
{
    if (lc->conn == NULL || lc->closing)
        return -ENOTCONN;
    return lc->L->svc->conn_write(lc->conn, s, n, NULL, NULL);
}

static void sayf(line_conn_t *lc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sayf(line_conn_t *lc, const char *fmt, ...)
{
    char buf[LINE_MAX_BYTES + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)say(lc, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
}

static void lc_close(line_conn_t *lc, uint32_t flags)
{
    if (lc->conn == NULL || lc->closing)
        return;
    lc->closing = 1;
    if (lc->tick != NULL) {
        lc->L->svc->timer_stop(lc->tick);
        lc->tick = NULL;
    }
    if (lc->hold != NULL) {
        lc->L->svc->timer_stop(lc->hold);
        lc->hold = NULL;
    }
    lc->L->svc->conn_close(lc->conn, flags);
}

/* ---- tick N: a repeating timer ------------------------------------------ */

static void on_tick(void *data)
{
    line_conn_t *lc = data;
    sayf(lc, "tick %u\n", ++lc->tick_sent);
    if (lc->tick_sent >= lc->tick_n) {
        lc->L->svc->timer_stop(lc->tick); /* allowed from inside fn */
        lc->tick = NULL;
    }
}

/* ---- hold N: flow control towards the peer ------------------------------ */

static void on_hold_over(void *data)
{
    line_conn_t *lc = data;
    lc->L->svc->timer_stop(lc->hold);
    lc->hold = NULL;
    sayf(lc, "resumed\n");
    if (lc->conn != NULL && !lc->closing)
        (void)lc->L->svc->conn_pause(lc->conn, 0);
}

static void hold(line_conn_t *lc, uint64_t ms)
{
    if (lc->hold != NULL)
        return;
    if (lc->L->svc->timer_start(lc->L->ctx, ms, 0, on_hold_over, lc,
                                &lc->hold) < 0) {
        sayf(lc, "error: no timer\n");
        return;
    }
    sayf(lc, "holding\n");
    /* bytes already read are still handled; the next ones wait */
    (void)lc->L->svc->conn_pause(lc->conn, 1);
}

/* ---- slow N: output at the pace the peer reads -------------------------- */

static void slow_pump(line_conn_t *lc)
{
    static char chunk[64 * 1024];
    if (chunk[0] != 'x') {
        memset(chunk, 'x', sizeof(chunk));
        for (size_t i = 63; i < sizeof(chunk); i += 64)
            chunk[i] = '\n';
    }
    const doppel_services_t *svc = lc->L->svc;
    while (lc->slow_left > 0 && lc->conn != NULL && !lc->closing &&
           svc->conn_pending(lc->conn) < DOPPEL_CONN_HIGH_WATER) {
        size_t n =
            lc->slow_left < sizeof(chunk) ? lc->slow_left : sizeof(chunk);
        if (say(lc, chunk, n) < 0)
            return;
        lc->slow_left -= n;
        if (lc->slow_left == 0)
            sayf(lc, "slow done\n");
    }
    /* otherwise on_drain calls again once the queue emptied */
}

/* ---- flood: ignore back-pressure until the host refuses ----------------- */

static void flood(line_conn_t *lc)
{
    static char chunk[1024 * 1024];
    for (int i = 0; i < 64; i++) {
        int rc = say(lc, chunk, sizeof(chunk));
        if (rc == -ENOBUFS) {
            lc->L->refused++;
            lc->L->svc->log(lc->L->ctx, DOPPEL_LOG_INFO,
                            "flood: peer does not read, %zu bytes queued: "
                            "closing",
                            lc->L->svc->conn_pending(lc->conn));
            lc_close(lc, DOPPEL_CONN_CLOSE_NOW);
            return;
        }
        if (rc < 0)
            return;
    }
}

/* ---- burst / drop: closing with writes queued --------------------------- */

static void on_counted_write(void *data, int status)
{
    lines_t *L = data;
    if (status == -ECANCELED)
        L->cancelled++;
}

static void burst(line_conn_t *lc, size_t n, uint32_t flags)
{
    static char chunk[64 * 1024];
    memset(chunk, 'b', sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        if (lc->L->svc->conn_write(lc->conn, chunk, k, on_counted_write,
                                   lc->L) < 0)
            break;
        n -= k;
    }
    lc_close(lc, flags);
}

/* ---- thread: a foreign thread posts back -------------------------------- */

typedef struct post_msg {
    line_conn_t *lc;
    const doppel_services_t *svc;
    doppel_ctx_t *ctx;
} post_msg_t;

static void on_posted(void *data)
{
    post_msg_t *m = data;
    sayf(m->lc, "thread: posted\n");
    lc_unref(m->lc);
    free(m);
}

static void *thread_main(void *arg)
{
    post_msg_t *m = arg;
    usleep(10 * 1000);
    /* post: any thread, also this one the host did not create */
    if (m->svc->post(m->ctx, on_posted, m) < 0) {
        lc_unref(m->lc); /* the loop is stopping: never called */
        free(m);
    }
    return NULL;
}

static void start_thread(line_conn_t *lc)
{
    lines_t *L = lc->L;
    if (L->n_threads >= MAX_THREADS) {
        sayf(lc, "thread: too many\n");
        return;
    }
    post_msg_t *m = malloc(sizeof(*m));
    if (m == NULL)
        return;
    m->lc = lc;
    m->svc = L->svc;
    m->ctx = L->ctx;
    atomic_fetch_add(&lc->refs, 1);
    if (pthread_create(&L->threads[L->n_threads], NULL, thread_main, m) != 0) {
        lc_unref(lc);
        free(m);
        sayf(lc, "thread: cannot start\n");
        return;
    }
    L->n_threads++;
}

/* ---- pipe TEXT: through a descriptor the plugin watches ----------------- */

static void on_pipe(void *data, int fd, uint32_t revents, int status)
{
    lines_t *L = data;
    if (status < 0 || !(revents & DOPPEL_FD_READ))
        return;
    char buf[LINE_MAX_BYTES];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0)
        return;
    /* whole lines only: a pipe write of at most PIPE_BUF bytes is atomic */
    for (line_conn_t *lc = L->conns; lc != NULL; lc = lc->next) {
        char out[LINE_MAX_BYTES + 8];
        int k = snprintf(out, sizeof(out), "pipe: %.*s", (int)n, buf);
        if (k > 0)
            (void)say(lc, out,
                      (size_t)k < sizeof(out) ? (size_t)k : sizeof(out) - 1);
    }
}

/* ---- call CMD JSON: a mock of the "lines" section answers ---------------------- */

/* "call CMD JSON": s points after "call ". */
static void call(line_conn_t *lc, const char *s, size_t n)
{
    lines_t *L = lc->L;
    const char *sp = memchr(s, ' ', n);
    size_t cl = sp ? (size_t)(sp - s) : n;
    char target[80];
    if (cl == 0 || cl > 64 || lc->session == NULL) {
        sayf(lc, "error: call CMD JSON\n");
        return;
    }
    int tl = snprintf(target, sizeof(target), "/%.*s", (int)cl, s);
    const char *json = sp ? sp + 1 : "{}";
    size_t len = sp ? n - cl - 1 : 2;
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("lines"),
        .operation = DOPPEL_STR("LINE"),
        .target = {target, (size_t)tl},
        .body = (const uint8_t *)json,
        .body_len = len,
        .content_type = DOPPEL_STR("application/json"),
    };
    doppel_reply_t *r = NULL;
    if (L->svc->engine_session_match(lc->session, &x, &r) < 0 || r == NULL) {
        sayf(lc, "error: engine\n");
        return;
    }
    if (r->kind == DOPPEL_REPLY_RESPONSE)
        sayf(lc, "answer: %.*s\n", (int)r->body_len, (const char *)r->body);
    else
        sayf(lc, "no mock\n");
    L->svc->engine_reply_free(L->ctx, r);
}

/* The section check: any thread, possibly before any init (protocol.h). */
static int lines_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                       const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                       doppel_check_error_t *err)
{
    (void)ctx;
    (void)svc;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, NULL);
    const char *cmd = json_string_value(json_object_get(sec, "command"));
    int rc = 0;
    if (cmd == NULL || cmd[0] == '\0' || strchr(cmd, ' ') != NULL ||
        strlen(cmd) > 64) {
        snprintf(err->field, sizeof(err->field), "lines.command");
        snprintf(err->message, sizeof(err->message),
                 "required: the command word the line starts with (1 to 64 "
                 "characters, no space)");
        rc = -EINVAL;
    } else {
        int k = snprintf(key->buf, sizeof(key->buf), "/%s", cmd);
        key->operation = DOPPEL_STR("LINE");
        key->target = (doppel_str_t){key->buf, (size_t)k};
    }
    json_decref(sec);
    return rc;
}

static const char *const lines_body_conditions[] = {"conditions", NULL};

static const doppel_protocol_def_t lines_protocol = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "lines",
    .flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_NO_PROXY,
    .body_conditions = lines_body_conditions,
    .status_min = 0,
    .status_max = 0,
    .status_default = 0,
    .check = lines_check,
};

/* ---- lines --------------------------------------------------------------- */

static void on_line(line_conn_t *lc, char *s, size_t n)
{
    lines_t *L = lc->L;
    unsigned long v;
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
    if (sscanf(s, "tick %lu", &v) == 1 && v > 0 && v <= 1000) {
        if (lc->tick != NULL)
            L->svc->timer_stop(lc->tick);
        lc->tick = NULL;
        lc->tick_n = (unsigned)v;
        lc->tick_sent = 0;
        if (L->svc->timer_start(L->ctx, 10, 10, on_tick, lc, &lc->tick) < 0)
            sayf(lc, "error: no timer\n");
    } else if (sscanf(s, "slow %lu", &v) == 1 && v > 0 && v <= 1024) {
        lc->slow_left = v * 1024 * 1024;
        slow_pump(lc);
    } else if (strcmp(s, "flood") == 0) {
        flood(lc);
    } else if (sscanf(s, "burst %lu", &v) == 1 && v <= 15 * 1024) {
        burst(lc, v * 1024, DOPPEL_CONN_CLOSE_FLUSH);
    } else if (strcmp(s, "drop") == 0) {
        burst(lc, 15 * 1024 * 1024, DOPPEL_CONN_CLOSE_NOW);
    } else if (strcmp(s, "thread") == 0) {
        start_thread(lc);
    } else if (strncmp(s, "pipe ", 5) == 0) {
        char msg[LINE_MAX_BYTES];
        int k = snprintf(msg, sizeof(msg), "%s\n", s + 5);
        if (k > 0 && (size_t)k < 512 &&
            write(L->pipe_fd[1], msg, (size_t)k) < 0)
            sayf(lc, "error: pipe\n");
    } else if (sscanf(s, "hold %lu", &v) == 1 && v <= 10000) {
        hold(lc, v);
    } else if (strcmp(s, "stats") == 0) {
        sayf(lc, "stats: open=%u cancelled=%lu refused=%lu\n", L->open,
             L->cancelled, L->refused);
    } else if (strncmp(s, "call ", 5) == 0) {
        call(lc, s + 5, n - 5);
    } else if (strcmp(s, "bye") == 0) {
        sayf(lc, "bye\n");
        lc_close(lc, DOPPEL_CONN_CLOSE_FLUSH);
    } else {
        sayf(lc, "echo: %.*s\n", (int)n, s);
    }
}

static void on_read(void *data, doppel_conn_t *c, const uint8_t *buf,
                    size_t len)
{
    line_conn_t *lc = data;
    (void)c;
    if (lc->skip > 0) { /* the claimed prefix: ours, not a line */
        size_t k = len < lc->skip ? len : lc->skip;
        buf += k;
        len -= k;
        lc->skip -= k;
    }
    for (size_t i = 0; i < len && !lc->closing; i++) {
        if (buf[i] == '\n') {
            lc->line[lc->line_len] = '\0';
            on_line(lc, lc->line, lc->line_len);
            lc->line_len = 0;
        } else if (lc->line_len + 1 < sizeof(lc->line)) {
            lc->line[lc->line_len++] = (char)buf[i];
        } else {
            sayf(lc, "error: line too long\n");
            lc_close(lc, DOPPEL_CONN_CLOSE_FLUSH);
        }
    }
}

static void on_end(void *data, doppel_conn_t *c, int rc)
{
    (void)c;
    (void)rc;
    lc_close(data, DOPPEL_CONN_CLOSE_FLUSH); /* the peer is done */
}

static void on_drain(void *data, doppel_conn_t *c)
{
    (void)c;
    slow_pump(data);
}

static void on_close(void *data, doppel_conn_t *c)
{
    line_conn_t *lc = data;
    lines_t *L = lc->L;
    (void)c;
    if (lc->tick != NULL)
        L->svc->timer_stop(lc->tick);
    lc->tick = NULL;
    if (lc->hold != NULL)
        L->svc->timer_stop(lc->hold);
    lc->hold = NULL;
    L->svc->engine_session_close(lc->session);
    lc->session = NULL;
    lc->conn = NULL;
    if (lc->prev)
        lc->prev->next = lc->next;
    else
        L->conns = lc->next;
    if (lc->next)
        lc->next->prev = lc->prev;
    L->open--;
    lc_unref(lc);
    if (L->stopping && L->open == 0)
        L->svc->stop_done(L->ctx);
}

static const doppel_conn_cbs_t conn_cbs = {
    .size = sizeof(doppel_conn_cbs_t),
    .on_read = on_read,
    .on_end = on_end,
    .on_drain = on_drain,
    .on_close = on_close,
};

static int on_accept(void *state, doppel_conn_t *c,
                     const doppel_conn_info_t *info)
{
    lines_t *L = state;
    if (L->stopping)
        return -ESHUTDOWN; /* the host closes it */
    line_conn_t *lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        return -ENOMEM;
    lc->L = L;
    lc->conn = c;
    atomic_init(&lc->refs, 1);
    lc->skip = info->via == DOPPEL_CONN_VIA_CLAIM ? strlen(CLAIM_PREFIX) : 0;
    doppel_exchange_t x = {.size = sizeof(x),
                           .protocol = DOPPEL_STR("lines"),
                           .operation = DOPPEL_STR("LINE"),
                           .target = DOPPEL_STR("/"),
                           .remote_addr = info->remote_addr};
    if (L->svc->engine_session_open(L->ctx, &x, &lc->session) < 0)
        lc->session = NULL; /* ask lines then answer "error: no session" */
    int rc = L->svc->conn_start(c, &conn_cbs, lc);
    if (rc < 0) {
        L->svc->engine_session_close(lc->session);
        free(lc);
        return rc;
    }
    lc->next = L->conns;
    if (L->conns)
        L->conns->prev = lc;
    L->conns = lc;
    L->open++;
    sayf(lc, "hello %s\n",
         info->via == DOPPEL_CONN_VIA_CLAIM ? "claim" : "listen");
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------
 */

static int lines_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, fd_watch_stop))
        return -ENOTSUP; /* a host older than ABI 1.2 */
    lines_t *L = calloc(1, sizeof(*L));
    if (L == NULL)
        return -ENOMEM;
    L->ctx = ctx;
    L->svc = svc;
    L->pipe_fd[0] = L->pipe_fd[1] = -1;
    if (pipe2(L->pipe_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        free(L);
        return -errno;
    }
    doppel_conn_listener_t l = {
        .size = sizeof(l), .on_accept = on_accept, .state = L};
    int rc = svc->conn_listen(ctx, svc->option_str(ctx, "listen"), &l);
    if (rc == 0 && svc->option_bool(ctx, "claim")) {
        doppel_conn_claim_t cl = {.size = sizeof(cl),
                                  .prefix = (const uint8_t *)CLAIM_PREFIX,
                                  .prefix_len = strlen(CLAIM_PREFIX),
                                  .on_accept = on_accept,
                                  .state = L};
        rc = svc->conn_claim(ctx, &cl);
    }
    if (rc < 0) {
        close(L->pipe_fd[0]);
        close(L->pipe_fd[1]);
        free(L);
        return rc;
    }
    *state = L;
    return 0;
}

static int lines_start(void *state)
{
    lines_t *L = state;
    int port = L->svc->conn_listen_port(L->ctx, 0);
    if (port < 0)
        return port;
    L->svc->log(L->ctx, DOPPEL_LOG_DEBUG, "line protocol on port %d", port);
    return L->svc->fd_watch(L->ctx, L->pipe_fd[0], DOPPEL_FD_READ, on_pipe, L,
                            &L->watch);
}

static int lines_on_event(void *state, const doppel_event_t *ev)
{
    lines_t *L = state;
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    for (line_conn_t *lc = L->conns; lc != NULL; lc = lc->next)
        sayf(lc, "draining\n");
    return DOPPEL_OK;
}

static int lines_stop(void *state)
{
    lines_t *L = state;
    L->stopping = 1;
    line_conn_t *lc = L->conns;
    while (lc != NULL) {
        line_conn_t *next = lc->next; /* on_close comes later, not here */
        lc_close(lc, DOPPEL_CONN_CLOSE_FLUSH);
        lc = next;
    }
    if (L->open == 0)
        L->svc->stop_done(L->ctx);
    return 0;
}

static void lines_destroy(void *state)
{
    lines_t *L = state;
    for (unsigned i = 0; i < L->n_threads; i++)
        pthread_join(L->threads[i], NULL); /* they only sleep and post */
    if (L->watch != NULL)
        L->svc->fd_watch_stop(L->watch); /* before closing the descriptor */
    close(L->pipe_fd[0]);
    close(L->pipe_fd[1]);
    /* connections still open (a stop cut short) are closed by the host
     * without callbacks after this returns: their state is freed here */
    line_conn_t *lc = L->conns;
    while (lc != NULL) {
        line_conn_t *next = lc->next;
        L->svc->engine_session_close(lc->session);
        lc->session = NULL;
        lc_unref(lc);
        lc = next;
    }
    free(L);
}

static int lines_init_events(doppel_ctx_t *ctx, const doppel_services_t *svc,
                             void **state)
{
    int rc = lines_init(ctx, svc, state);
    if (rc == 0 && (rc = svc->subscribe(ctx, DOPPEL_EVENT_DRAINING)) < 0)
        lines_destroy(*state);
    return rc;
}

static const doppel_plugin_t lines_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "lines",
    .version = "1.0.0",
    .summary = "example: a line protocol on its own port and on the main port",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = lines_options,
    .init = lines_init_events,
    .start = lines_start,
    .stop = lines_stop,
    .destroy = lines_destroy,
    .on_event = lines_on_event,
    .protocol = &lines_protocol,
};

DOPPEL_PLUGIN_DEFINE(lines_plugin)
