/*
 * Connections, timers and descriptor watches of one plugin copy (ABI 1.2).
 *
 * A connection is three libuv handles: the socket, a timer (the bound of
 * CLOSE_FLUSH and of the linger after it) and an idle handle that runs
 * what must not happen inside a service call (the bytes the HTTP front
 * already read, write callbacks of writes the kernel took at once). Its
 * memory goes after the last of the three closed; on_close comes then.
 *
 * Writes: uv_try_write first when nothing is queued; what the kernel did
 * not take is copied once into the write request that uv_write sends.
 * Every write that has a callback, or bytes queued, is a record in the
 * connection's FIFO; callbacks are delivered from its head only, so they
 * come in write order whichever way each write went.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

#define READ_BUF_SIZE (64 * 1024)
/* After a CLOSE_FLUSH sent everything and its FIN: how long the peer's
 * late input is read and dropped, so that closing with unread input does
 * not make the kernel answer with a RST that destroys what we sent. */
#define LINGER_MS 2000

typedef struct wreq {
    uv_write_t req;
    doppel_conn_t *c;
    doppel_write_cb cb;
    void *data;
    int status;
    unsigned done : 1;
    struct wreq *next;
    char buf[];
} wreq_t;

struct doppel_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_idle_t idle;
    dp_conn_set_t *set;
    doppel_conn_t *prev, *next; /* the set's list, until freed */
    doppel_conn_cbs_t cbs;
    void *data;
    uint8_t *pre; /* read by the HTTP front, not delivered yet */
    size_t pre_len;
    wreq_t *wq_head, *wq_tail;
    unsigned n_queued; /* uv_write requests not completed */
    unsigned handles_open;
    uint64_t flush_deadline;
    dp_conn_release_fn release;
    void *release_arg;
    unsigned started : 1;
    unsigned paused : 1;
    unsigned reading : 1;
    unsigned ended : 1;   /* on_end was due (EOF or error) */
    unsigned closing : 1; /* conn_close called (or the host closes it) */
    unsigned closed : 1;  /* uv_close called */
    unsigned silent : 1;  /* no callback of any kind any more */
    unsigned high : 1;    /* pending reached DOPPEL_CONN_HIGH_WATER */
    unsigned lingering : 1;
    unsigned delivering : 1;
    unsigned write_failed : 1;
    unsigned in_read : 1; /* inside cbs.on_read: writes are corked */
    /* Bytes written (without a callback) while the plugin handles one read:
     * they go out in one write when on_read returns, so that a read of
     * sixteen messages is answered with one system call, not sixteen. */
    uint8_t *cork;
    size_t cork_len, cork_cap;
};

/* Past this much corked, the cork is written at once. */
#define DP_CONN_CORK_MAX (64 * 1024)

struct doppel_timer {
    uv_timer_t t;
    dp_conn_set_t *set;
    doppel_fn_t fn;
    void *data;
    doppel_timer_t *prev, *next;
    int stopped;
};

struct doppel_watch {
    uv_poll_t p;
    dp_conn_set_t *set;
    int fd;
    doppel_watch_cb cb;
    void *data;
    doppel_watch_t *prev, *next;
    int stopped;
};

struct dp_conn_set {
    uv_loop_t *loop;
    doppel_conn_t *conns;
    size_t n_open; /* connections not closing */
    doppel_timer_t *timers;
    size_t n_timers;
    doppel_watch_t *watches;
    size_t n_watches;
    size_t handles; /* libuv handles open or closing */
    int shutdown;
    int freeing;
    /* reads are delivered synchronously, so one buffer serves every
     * connection of the set (on_read's bytes are borrowed for the call) */
    char rbuf[READ_BUF_SIZE];
};

/* Doubly linked list helpers for the three kinds. */
#define LIST_PUSH(head, e)                                                     \
    do {                                                                       \
        (e)->prev = NULL;                                                      \
        (e)->next = (head);                                                    \
        if (head)                                                              \
            (head)->prev = (e);                                                \
        (head) = (e);                                                          \
    } while (0)
#define LIST_UNLINK(head, e)                                                   \
    do {                                                                       \
        if ((e)->prev)                                                         \
            (e)->prev->next = (e)->next;                                       \
        else                                                                   \
            (head) = (e)->next;                                                \
        if ((e)->next)                                                         \
            (e)->next->prev = (e)->prev;                                       \
        (e)->prev = (e)->next = NULL;                                          \
    } while (0)

/* ---- the set ----------------------------------------------------------- */

dp_conn_set_t *dp_conn_set_new(uv_loop_t *loop)
{
    if (loop == NULL)
        return NULL;
    dp_conn_set_t *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->loop = loop;
    return s;
}

void dp_conn_set_shutdown(dp_conn_set_t *s)
{
    if (s != NULL)
        s->shutdown = 1;
}

static void set_maybe_free(dp_conn_set_t *s)
{
    if (s->freeing && s->handles == 0 && s->conns == NULL)
        free(s);
}

static void set_handle_gone(dp_conn_set_t *s)
{
    s->handles--;
    set_maybe_free(s);
}

size_t dp_conn_set_connections(const dp_conn_set_t *s)
{
    return s ? s->n_open : 0;
}

size_t dp_conn_set_timers(const dp_conn_set_t *s)
{
    return s ? s->n_timers : 0;
}

size_t dp_conn_set_watches(const dp_conn_set_t *s)
{
    return s ? s->n_watches : 0;
}

/* ---- connections: closing ---------------------------------------------- */

static void conn_mark_closing(doppel_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->set->n_open--;
}

/* Delivers the write callbacks at the head of the queue that are due. */
static void conn_deliver_writes(doppel_conn_t *c)
{
    if (c->delivering)
        return; /* a callback wrote or closed; the outer loop goes on */
    c->delivering = 1;
    wreq_t *r;
    while ((r = c->wq_head) != NULL && r->done) {
        c->wq_head = r->next;
        if (c->wq_head == NULL)
            c->wq_tail = NULL;
        if (r->cb != NULL && !c->silent)
            r->cb(r->data, r->status);
        free(r);
    }
    c->delivering = 0;
}

static void conn_finish(doppel_conn_t *c)
{
    dp_conn_set_t *s = c->set;
    /* every uv_write was called back (ECANCELED) by the socket's close */
    for (wreq_t *r = c->wq_head; r != NULL; r = r->next)
        if (!r->done) {
            r->done = 1;
            r->status = -ECANCELED;
        }
    conn_deliver_writes(c);
    if (!c->silent && c->cbs.on_close != NULL) {
        c->silent = 1; /* nothing after the last callback */
        c->cbs.on_close(c->data, c);
    }
    LIST_UNLINK(s->conns, c);
    free(c->cork);
    free(c->pre);
    free(c);
    set_maybe_free(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    doppel_conn_t *c = h->data;
    c->set->handles--;
    if (--c->handles_open == 0)
        conn_finish(c);
}

/* Closes the descriptor now: queued writes are called back -ECANCELED by
 * libuv, on_close follows once the three handles closed. */
static void conn_do_close(doppel_conn_t *c)
{
    if (c->closed)
        return;
    conn_mark_closing(c);
    c->closed = 1;
    c->reading = 0;
    if (c->release != NULL) {
        dp_conn_release_fn fn = c->release;
        c->release = NULL;
        fn(c->release_arg);
    }
    uv_timer_stop(&c->timer);
    uv_idle_stop(&c->idle);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
}

/* ---- connections: reading ---------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    doppel_conn_t *c = h->data;
    (void)suggested;
    buf->base = c->set->rbuf;
    buf->len = READ_BUF_SIZE;
}

/* The peer closed (rc 0) or the connection failed: on_end, once. */
static void conn_end(doppel_conn_t *c, int rc)
{
    if (c->ended)
        return;
    c->ended = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    if (!c->closing && !c->silent && c->cbs.on_end != NULL)
        c->cbs.on_end(c->data, c, rc);
}

static int write_now(doppel_conn_t *c, const void *buf, size_t len,
                     doppel_write_cb cb, void *data);

/* Writes what was corked. A failure is the connection's end, as a failed
 * uv_write is: the plugin was told 0 for these bytes already. */
static void conn_uncork(doppel_conn_t *c)
{
    if (c->cork_len == 0)
        return;
    size_t n = c->cork_len;
    c->cork_len = 0;
    if (c->closing || c->write_failed)
        return;
    int rc = write_now(c, c->cork, n, NULL, NULL);
    if (rc < 0) {
        c->write_failed = 1;
        conn_end(c, rc);
    }
}

/* Hands one read to the plugin with writes corked, then writes them. */
static void deliver_read(doppel_conn_t *c, const uint8_t *p, size_t n)
{
    c->in_read = 1;
    c->cbs.on_read(c->data, c, p, n);
    c->in_read = 0;
    conn_uncork(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    doppel_conn_t *c = st->data;
    if (c->closing) {
        /* lingering after CLOSE_FLUSH: input is dropped, EOF ends it */
        if (nread < 0)
            conn_do_close(c);
        return;
    }
    if (nread > 0) {
        deliver_read(c, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    if (nread < 0)
        conn_end(c, nread == UV_EOF ? 0 : (int)nread);
}

static void conn_start_reading(doppel_conn_t *c)
{
    if (!c->started || c->paused || c->ended || c->closing || c->reading ||
        c->pre != NULL)
        return;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        conn_end(c, rc);
        return;
    }
    c->reading = 1;
}

static void on_idle(uv_idle_t *h)
{
    doppel_conn_t *c = h->data;
    uv_idle_stop(h);
    conn_deliver_writes(c);
    if (c->closing || !c->started || c->paused || c->ended)
        return;
    if (c->pre != NULL) {
        uint8_t *p = c->pre;
        size_t n = c->pre_len;
        c->pre = NULL;
        c->pre_len = 0;
        deliver_read(c, p, n);
        free(p);
    }
    conn_start_reading(c);
}

static void conn_kick(doppel_conn_t *c)
{
    if (!c->closed)
        uv_idle_start(&c->idle, on_idle);
}

/* ---- connections: adopt, start, pause ---------------------------------- */

static void sock_name(const struct sockaddr_storage *ss, char *buf, size_t cap,
                      int *port)
{
    buf[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, buf, cap);
        *port = ntohs(a->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, buf, cap);
        *port = ntohs(a->sin_port);
    }
}

int dp_conn_adopt(dp_conn_set_t *s, uv_os_sock_t fd, uint32_t via,
                  const void *pre, size_t pre_len, doppel_conn_accept_fn accept,
                  void *state, dp_conn_release_fn release, void *release_arg)
{
    int rc = 0;
    doppel_conn_t *c = NULL;
    if (s == NULL || fd < 0 || accept == NULL || (pre_len > 0 && pre == NULL))
        rc = -EINVAL;
    else if (s->shutdown || s->freeing)
        rc = -ESHUTDOWN;
    else if ((c = calloc(1, sizeof(*c))) == NULL ||
             (pre_len > 0 && (c->pre = malloc(pre_len)) == NULL))
        rc = -ENOMEM;
    if (rc < 0) {
        if (c != NULL)
            free(c);
        if (fd >= 0)
            close(fd);
        if (release != NULL)
            release(release_arg);
        return rc;
    }
    if (pre_len > 0) {
        memcpy(c->pre, pre, pre_len);
        c->pre_len = pre_len;
    }
    c->set = s;
    c->release = release;
    c->release_arg = release_arg;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    uv_idle_init(s->loop, &c->idle);
    c->tcp.data = c->timer.data = c->idle.data = c;
    c->handles_open = 3;
    s->handles += 3;
    s->n_open++;
    LIST_PUSH(s->conns, c);
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd);
        c->silent = 1;
        conn_do_close(c);
        return rc;
    }
    uv_tcp_nodelay(&c->tcp, 1);

    struct sockaddr_storage peer, self;
    int pl = sizeof(peer), sl = sizeof(self);
    memset(&peer, 0, sizeof(peer));
    memset(&self, 0, sizeof(self));
    char ra[INET6_ADDRSTRLEN], la[INET6_ADDRSTRLEN];
    doppel_conn_info_t info = {.size = sizeof(info), .via = via};
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &pl) != 0)
        peer.ss_family = AF_UNSPEC;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&self, &sl) != 0)
        self.ss_family = AF_UNSPEC;
    sock_name(&peer, ra, sizeof(ra), &info.remote_port);
    sock_name(&self, la, sizeof(la), &info.local_port);
    info.remote_addr = (doppel_str_t){ra, strlen(ra)};
    info.local_addr = (doppel_str_t){la, strlen(la)};

    rc = accept(state, c, &info);
    if (rc < 0) {
        /* refused: closed by the host, and no callback follows */
        c->silent = 1;
        conn_do_close(c);
        return rc;
    }
    return 0;
}

int dp_conn_start(doppel_conn_t *c, const doppel_conn_cbs_t *cbs, void *data)
{
    if (c == NULL || cbs == NULL ||
        cbs->size < offsetof(doppel_conn_cbs_t, on_read) + sizeof(cbs->on_read))
        return -EINVAL;
    if (c->started)
        return -EALREADY;
    if (c->closing)
        return -ENOTCONN;
    doppel_conn_cbs_t cp;
    memset(&cp, 0, sizeof(cp));
    memcpy(&cp, cbs, cbs->size < sizeof(cp) ? cbs->size : sizeof(cp));
    if (cp.on_read == NULL)
        return -EINVAL;
    cp.size = sizeof(cp);
    c->cbs = cp;
    c->data = data;
    c->started = 1;
    if (c->pre != NULL)
        conn_kick(c); /* the front's bytes first, from the loop */
    else
        conn_start_reading(c);
    return 0;
}

int dp_conn_pause(doppel_conn_t *c, int paused)
{
    if (c == NULL)
        return -EINVAL;
    if (c->closing)
        return -ENOTCONN;
    if (paused) {
        c->paused = 1;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        return 0;
    }
    c->paused = 0;
    if (c->pre != NULL)
        conn_kick(c);
    else
        conn_start_reading(c);
    return 0;
}

/* ---- connections: writing ---------------------------------------------- */

static void wq_append(doppel_conn_t *c, wreq_t *r)
{
    r->next = NULL;
    if (c->wq_tail)
        c->wq_tail->next = r;
    else
        c->wq_head = r;
    c->wq_tail = r;
}

static void on_write(uv_write_t *req, int status)
{
    wreq_t *r = (wreq_t *)req;
    doppel_conn_t *c = r->c;
    r->done = 1;
    r->status = status;
    c->n_queued--;
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        c->write_failed = 1;
        conn_end(c, status);
    }
    conn_deliver_writes(c);
    if (c->closing || c->silent || !c->high || c->n_queued > 0 ||
        c->tcp.write_queue_size > 0)
        return;
    c->high = 0;
    if (c->cbs.on_drain != NULL)
        c->cbs.on_drain(c->data, c);
}

/* Appends to the cork: 1 when taken, 0 when the bytes must go now. */
static int cork_take(doppel_conn_t *c, const void *buf, size_t len)
{
    if (c->cork_len + len > DP_CONN_CORK_MAX)
        return 0;
    if (c->cork_len + len > c->cork_cap) {
        size_t cap = c->cork_cap ? c->cork_cap : 4096;
        while (cap < c->cork_len + len)
            cap *= 2;
        uint8_t *nb = realloc(c->cork, cap);
        if (nb == NULL)
            return 0; /* written now instead */
        c->cork = nb;
        c->cork_cap = cap;
    }
    memcpy(c->cork + c->cork_len, buf, len);
    c->cork_len += len;
    return 1;
}

int dp_conn_write(doppel_conn_t *c, const void *buf, size_t len,
                  doppel_write_cb cb, void *data)
{
    if (c == NULL || (len > 0 && buf == NULL))
        return -EINVAL;
    if (c->closing || c->write_failed)
        return -ENOTCONN;
    if (len > DOPPEL_CONN_QUEUE_MAX ||
        c->tcp.write_queue_size + c->cork_len + len > DOPPEL_CONN_QUEUE_MAX)
        return -ENOBUFS;
    if (c->in_read && cb == NULL && len > 0 && cork_take(c, buf, len))
        return 0;
    conn_uncork(c); /* what was corked goes first */
    if (c->closing || c->write_failed)
        return -ENOTCONN;
    return write_now(c, buf, len, cb, data);
}

static int write_now(doppel_conn_t *c, const void *buf, size_t len,
                     doppel_write_cb cb, void *data)
{
    size_t pending = c->tcp.write_queue_size;
    if (len > DOPPEL_CONN_QUEUE_MAX || pending + len > DOPPEL_CONN_QUEUE_MAX)
        return -ENOBUFS;
    size_t off = 0;
    if (c->n_queued == 0 && len > 0) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n >= 0)
            off = (size_t)n;
        else if (n != UV_EAGAIN)
            return n; /* -EPIPE, -ECONNRESET: nothing will go out */
    }
    if (off == len) {
        if (cb == NULL)
            return 0;
        wreq_t *r = malloc(sizeof(*r));
        if (r == NULL)
            return -ENOMEM; /* the bytes went out; only the call back fails */
        memset(r, 0, sizeof(*r));
        r->c = c;
        r->cb = cb;
        r->data = data;
        r->done = 1;
        wq_append(c, r);
        conn_kick(c);
        return 0;
    }
    size_t rest = len - off;
    wreq_t *r = malloc(sizeof(*r) + rest);
    if (r == NULL)
        return -ENOMEM;
    memset(r, 0, sizeof(*r));
    memcpy(r->buf, (const char *)buf + off, rest);
    r->c = c;
    r->cb = cb;
    r->data = data;
    uv_buf_t b = uv_buf_init(r->buf, (unsigned)rest);
    int rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(r);
        return rc;
    }
    c->n_queued++;
    wq_append(c, r);
    if (c->tcp.write_queue_size >= DOPPEL_CONN_HIGH_WATER)
        c->high = 1;
    return 0;
}

size_t dp_conn_pending(doppel_conn_t *c)
{
    return c != NULL && !c->closed ? c->tcp.write_queue_size + c->cork_len
                                   : 0;
}

/* ---- connections: close ------------------------------------------------ */

static void on_conn_timer(uv_timer_t *t)
{
    conn_do_close(t->data); /* flush bound or linger over */
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    doppel_conn_t *c = req->data;
    free(req);
    if (c->closed)
        return;
    if (status < 0 || c->ended) {
        conn_do_close(c);
        return;
    }
    /* everything is out and the FIN sent: read and drop what the peer
     * still sends until it closes, for a short while */
    uint64_t now = uv_now(c->set->loop);
    uint64_t left = c->flush_deadline > now ? c->flush_deadline - now : 0;
    if (left > LINGER_MS)
        left = LINGER_MS;
    if (left == 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_do_close(c);
        return;
    }
    c->lingering = 1;
    uv_timer_start(&c->timer, on_conn_timer, left, 0);
}

void dp_conn_close(doppel_conn_t *c, uint32_t flags)
{
    if (c == NULL || c->closing)
        return;
    if (flags & DOPPEL_CONN_CLOSE_FLUSH) {
        conn_uncork(c); /* may end the connection, and close it */
    } else if (c->cork_len > 0 && c->n_queued == 0 && !c->write_failed) {
        /* what a write without the cork would have handed to the kernel
         * already: the same, once, never queued */
        uv_buf_t b = uv_buf_init((char *)c->cork, (unsigned)c->cork_len);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    c->cork_len = 0;
    if (c->closing)
        return;
    conn_mark_closing(c);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    free(c->pre);
    c->pre = NULL;
    c->pre_len = 0;
    if (!(flags & DOPPEL_CONN_CLOSE_FLUSH) || c->write_failed) {
        conn_do_close(c);
        return;
    }
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL ||
        uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        conn_do_close(c);
        return;
    }
    req->data = c;
    c->flush_deadline = uv_now(c->set->loop) + DP_CONN_FLUSH_MS;
    uv_timer_start(&c->timer, on_conn_timer, DP_CONN_FLUSH_MS, 0);
}

/* ---- timers ------------------------------------------------------------ */

static void on_timer_fire(uv_timer_t *h)
{
    doppel_timer_t *t = h->data;
    if (!t->stopped && !t->set->freeing)
        t->fn(t->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    doppel_timer_t *t = h->data;
    dp_conn_set_t *s = t->set;
    free(t);
    set_handle_gone(s);
}

int dp_timer_start(dp_conn_set_t *s, uint64_t timeout_ms, uint64_t repeat_ms,
                   doppel_fn_t fn, void *data, doppel_timer_t **out)
{
    if (s == NULL || fn == NULL || out == NULL)
        return -EINVAL;
    if (s->shutdown || s->freeing)
        return -ESHUTDOWN;
    doppel_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->set = s;
    t->fn = fn;
    t->data = data;
    uv_timer_init(s->loop, &t->t);
    t->t.data = t;
    s->handles++;
    s->n_timers++;
    LIST_PUSH(s->timers, t);
    uv_timer_start(&t->t, on_timer_fire, timeout_ms, repeat_ms);
    *out = t;
    return 0;
}

void dp_timer_stop(doppel_timer_t *t)
{
    if (t == NULL || t->stopped)
        return;
    t->stopped = 1;
    LIST_UNLINK(t->set->timers, t);
    t->set->n_timers--;
    uv_timer_stop(&t->t);
    uv_close((uv_handle_t *)&t->t, on_timer_closed);
}

/* ---- descriptor watches ------------------------------------------------ */

#define FD_EVENTS (DOPPEL_FD_READ | DOPPEL_FD_WRITE)

static int uv_events(uint32_t ev)
{
    return ((ev & DOPPEL_FD_READ) ? UV_READABLE : 0) |
           ((ev & DOPPEL_FD_WRITE) ? UV_WRITABLE : 0);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    doppel_watch_t *w = h->data;
    if (w->stopped || w->set->freeing)
        return;
    if (status < 0) {
        w->cb(w->data, w->fd, 0, status);
        return;
    }
    uint32_t rev = ((events & UV_READABLE) ? DOPPEL_FD_READ : 0) |
                   ((events & UV_WRITABLE) ? DOPPEL_FD_WRITE : 0);
    w->cb(w->data, w->fd, rev, 0);
}

static void on_watch_closed(uv_handle_t *h)
{
    doppel_watch_t *w = h->data;
    dp_conn_set_t *s = w->set;
    free(w);
    set_handle_gone(s);
}

int dp_fd_watch(dp_conn_set_t *s, int fd, uint32_t events, doppel_watch_cb cb,
                void *data, doppel_watch_t **out)
{
    if (s == NULL || fd < 0 || cb == NULL || out == NULL ||
        (events & ~FD_EVENTS) != 0)
        return -EINVAL;
    if (s->shutdown || s->freeing)
        return -ESHUTDOWN;
    for (doppel_watch_t *w = s->watches; w != NULL; w = w->next)
        if (w->fd == fd)
            return -EEXIST;
    doppel_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    int rc = uv_poll_init(s->loop, &w->p, fd);
    if (rc < 0) {
        free(w);
        return rc; /* -EEXIST: the loop watches fd for someone else */
    }
    w->set = s;
    w->fd = fd;
    w->cb = cb;
    w->data = data;
    w->p.data = w;
    s->handles++;
    s->n_watches++;
    LIST_PUSH(s->watches, w);
    if (events != 0 &&
        (rc = uv_poll_start(&w->p, uv_events(events), on_poll)) < 0) {
        dp_fd_watch_stop(w);
        return rc;
    }
    *out = w;
    return 0;
}

int dp_fd_watch_update(doppel_watch_t *w, uint32_t events)
{
    if (w == NULL || w->stopped || (events & ~FD_EVENTS) != 0)
        return -EINVAL;
    if (events == 0)
        return uv_poll_stop(&w->p);
    return uv_poll_start(&w->p, uv_events(events), on_poll);
}

void dp_fd_watch_stop(doppel_watch_t *w)
{
    if (w == NULL || w->stopped)
        return;
    w->stopped = 1;
    LIST_UNLINK(w->set->watches, w);
    w->set->n_watches--;
    uv_close((uv_handle_t *)&w->p, on_watch_closed); /* fd stays open */
}

/* ---- freeing the set --------------------------------------------------- */

void dp_conn_set_free(dp_conn_set_t *s)
{
    if (s == NULL || s->freeing)
        return;
    s->shutdown = 1;
    s->freeing = 1;
    for (doppel_conn_t *c = s->conns; c != NULL; c = c->next) {
        c->silent = 1;
        conn_do_close(c);
    }
    while (s->timers != NULL)
        dp_timer_stop(s->timers);
    while (s->watches != NULL)
        dp_fd_watch_stop(s->watches);
    set_maybe_free(s);
}
