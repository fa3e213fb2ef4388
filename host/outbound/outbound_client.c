/*
 * The outbound client: libcurl's multi-socket interface driven by one
 * uv_timer_t and one uv_poll_t per socket curl asks us to watch. One multi
 * handle per dp_outbound_t, so connections are reused across its requests.
 *
 * User callbacks run only from complete_done_requests() (after
 * curl_multi_socket_action returned) and from the close path, never from
 * inside a curl callback, so a user callback may start requests or close
 * the client.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/log.h"
#include "outbound.h"

#ifndef DOPPEL_VERSION
#define DOPPEL_VERSION "0"
#endif

#define LOG_COMP "outbound"

typedef struct ob_sock ob_sock_t;
typedef struct ob_req ob_req_t;

struct dp_outbound {
    uv_loop_t *loop;
    dp_outbound_cfg_t cfg;
    char *user_agent;
    CURLM *multi;
    uv_timer_t timer;
    ob_req_t *reqs; /* in flight, doubly linked */
    size_t n_reqs;
    ob_sock_t *socks; /* watched sockets, doubly linked */
    int closing;
    int dispatching;       /* inside complete_done_requests */
    int teardown_deferred; /* close called while dispatching */
    int pending_closes;    /* uv handles whose close cb has not run */
    dp_outbound_close_cb done;
    void *done_data;
};

struct ob_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    dp_outbound_t *o;
    ob_sock_t *prev, *next;
};

struct ob_req {
    dp_outbound_t *o;
    CURL *easy;
    struct curl_slist *hdrs;
    dp_outbound_cb cb;
    void *data;
    ob_req_t *prev, *next;
    /* response being received */
    dp_outbound_header_t *rh; /* name/value strings owned here */
    size_t n_rh, cap_rh;
    size_t header_bytes;
    char *body;
    size_t body_len, body_cap;
    int status;
    int too_big;       /* body crossed max_response_bytes */
    int guard_refused; /* the guard refused an address */
    int oom;
    char guard_why[256];
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- process-wide libcurl init ------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- config ------------------------------------------------------------- */

void dp_outbound_cfg_init(dp_outbound_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 5000;
    cfg->total_timeout_ms = 30000;
    cfg->max_response_bytes = (size_t)8 << 20;
    cfg->verify_tls = 1;
    cfg->allow_private = 0;
    cfg->max_connections_per_host = 16;
    cfg->user_agent = NULL;
}

/* ---- request memory ----------------------------------------------------- */

static void req_free(ob_req_t *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    for (size_t i = 0; i < r->n_rh; i++) {
        free((char *)r->rh[i].name);
        free((char *)r->rh[i].value);
    }
    free(r->rh);
    free(r->body);
    free(r);
}

static void req_link(dp_outbound_t *o, ob_req_t *r)
{
    r->prev = NULL;
    r->next = o->reqs;
    if (o->reqs)
        o->reqs->prev = r;
    o->reqs = r;
    o->n_reqs++;
}

static void req_unlink(dp_outbound_t *o, ob_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        o->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    o->n_reqs--;
}

/* ---- curl data callbacks (run inside curl_multi_socket_action) ---------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
    ob_req_t *r = userp;
    size_t n = size * nmemb;
    size_t max = r->o->cfg.max_response_bytes;

    if (n > max || r->body_len > max - n) {
        r->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            r->oom = 1;
            return 0;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, ptr, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void clear_resp_headers(ob_req_t *r)
{
    for (size_t i = 0; i < r->n_rh; i++) {
        free((char *)r->rh[i].name);
        free((char *)r->rh[i].value);
    }
    r->n_rh = 0;
}

static char *dup_trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == '\n'))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Appends a folded continuation line to the last header's value. */
static int append_folded(ob_req_t *r, const char *line, size_t n)
{
    if (!r->n_rh)
        return 0; /* nothing to continue; ignore */
    char *more = dup_trimmed(line, n);
    if (!more)
        return -ENOMEM;
    dp_outbound_header_t *h = &r->rh[r->n_rh - 1];
    size_t a = strlen(h->value), b = strlen(more);
    char *v = realloc((char *)h->value, a + b + 2);
    if (!v) {
        free(more);
        return -ENOMEM;
    }
    v[a] = ' ';
    memcpy(v + a + 1, more, b + 1);
    h->value = v;
    free(more);
    return 0;
}

static int add_resp_header(ob_req_t *r, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return 0; /* not a header line; ignore */
    if (r->n_rh == r->cap_rh) {
        size_t cap = r->cap_rh ? r->cap_rh * 2 : 16;
        dp_outbound_header_t *nh = realloc(r->rh, cap * sizeof *nh);
        if (!nh)
            return -ENOMEM;
        r->rh = nh;
        r->cap_rh = cap;
    }
    char *name = dup_trimmed(line, (size_t)(colon - line));
    char *value = dup_trimmed(colon + 1, n - (size_t)(colon - line) - 1);
    if (!name || !value) {
        free(name);
        free(value);
        return -ENOMEM;
    }
    r->rh[r->n_rh].name = name;
    r->rh[r->n_rh].value = value;
    r->n_rh++;
    return 0;
}

/* curl hands one complete header line per call, status lines included.
 * Interim responses (100 Continue, 103 Early Hints) start a new header
 * block: only the final block is reported. */
static size_t on_header(char *line, size_t size, size_t nitems, void *userp)
{
    ob_req_t *r = userp;
    size_t n = size * nitems;
    int rc = 0;

    r->header_bytes += n;
    if (r->header_bytes > r->o->cfg.max_response_bytes) {
        r->too_big = 1;
        return 0;
    }
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        clear_resp_headers(r);
        const char *sp = memchr(line, ' ', n);
        r->status = sp ? atoi(sp + 1) : 0;
    } else if (n && (line[0] == ' ' || line[0] == '\t')) {
        rc = append_folded(r, line, n);
    } else if (n > 2) {
        rc = add_resp_header(r, line, n);
    }
    if (rc < 0) {
        r->oom = 1;
        return 0;
    }
    return n;
}

/* The guard: curl resolved the name and is about to open a socket for this
 * address. Refusing here means no byte ever leaves for it. Every socket
 * curl opens comes through here, whatever its purpose. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    ob_req_t *r = clientp;
    if (!dp_outbound_addr_allowed(&addr->addr, r->o->cfg.allow_private,
                                  r->guard_why, sizeof r->guard_why)) {
        r->guard_refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* ---- uv <-> curl multi glue ------------------------------------------- */

static void complete_done_requests(dp_outbound_t *o);
static void teardown(dp_outbound_t *o);

static void handle_closed(uv_handle_t *h)
{
    dp_outbound_t *o = h->data;
    if (h->type == UV_POLL)
        free(h); /* the ob_sock_t, whose first member is the poll */
    if (--o->pending_closes == 0 && o->closing) {
        dp_outbound_close_cb done = o->done;
        void *done_data = o->done_data;
        free(o->user_agent);
        free(o);
        if (done)
            done(done_data);
    }
}

static void sock_close(dp_outbound_t *o, ob_sock_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        o->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    s->poll.data = o;
    o->pending_closes++;
    uv_close((uv_handle_t *)&s->poll, handle_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    ob_sock_t *s = h->data;
    dp_outbound_t *o = s->o;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* s may be freed by the socket callback inside this call. */
    curl_multi_socket_action(o->multi, s->fd, flags, &running);
    complete_done_requests(o);
}

static void on_timer(uv_timer_t *t)
{
    dp_outbound_t *o = t->data;
    int running;
    curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    complete_done_requests(o);
}

static int on_multi_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                           void *socketp)
{
    dp_outbound_t *o = userp;
    ob_sock_t *s = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            /* During curl_multi_cleanup the multi is going away: no calls
             * back into it. */
            if (!o->closing)
                curl_multi_assign(o->multi, fd, NULL);
            sock_close(o, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(o->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->o = o;
        s->poll.data = s;
        s->next = o->socks;
        if (o->socks)
            o->socks->prev = s;
        o->socks = s;
        curl_multi_assign(o->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    s->poll.data = s;
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static int on_multi_timer(CURLM *multi, long timeout_ms, void *userp)
{
    dp_outbound_t *o = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&o->timer);
    else
        uv_timer_start(&o->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- completion ----------------------------------------------------- */

/* A failed TLS handshake or certificate check: -EPROTO like other protocol
 * errors, but the text says TLS so that a user sees which layer refused. */
static int tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
        return 1;
    default:
        return 0;
    }
}

static int map_curl_error(ob_req_t *r, CURLcode rc)
{
    long os_err = 0;

    if (r->guard_refused &&
        (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST))
        return -EACCES;
    if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return -EFBIG;
    if (r->oom || rc == CURLE_OUT_OF_MEMORY)
        return -ENOMEM;
    if (tls_error(rc))
        return -EPROTO;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_err);
        if (os_err == EHOSTUNREACH || os_err == ENETUNREACH)
            return -EHOSTUNREACH;
        if (os_err == ETIMEDOUT)
            return -ETIMEDOUT;
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EPROTO;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

static void error_text(ob_req_t *r, int err, CURLcode rc, char *out, size_t len)
{
    if (err == -EPROTO && tls_error(rc))
        snprintf(out, len, "TLS: %s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    else if (err == -EACCES)
        snprintf(out, len, "%s", r->guard_why);
    else if (err == -EFBIG)
        snprintf(out, len, "response larger than max_response_bytes (%zu)",
                 r->o->cfg.max_response_bytes);
    else if (err == -ECANCELED)
        snprintf(out, len, "request canceled: the client was closed");
    else
        snprintf(out, len, "%s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
}

/* Calls r's callback and frees r. r must be unlinked and out of the multi
 * handle already. */
static void finish(ob_req_t *r, int err, CURLcode rc)
{
    dp_outbound_resp_t resp;
    char ip[64] = "";
    char msg[CURL_ERROR_SIZE + 256] = "";
    char *pip = NULL;
    curl_off_t total = 0;

    curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &pip);
    if (pip)
        snprintf(ip, sizeof ip, "%s", pip);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &total);
    if (err < 0)
        error_text(r, err, rc, msg, sizeof msg);

    memset(&resp, 0, sizeof resp);
    resp.status = err < 0 ? 0 : r->status;
    resp.headers = err < 0 ? NULL : r->rh;
    resp.n_headers = err < 0 ? 0 : r->n_rh;
    resp.body = err < 0 || !r->body ? "" : r->body;
    resp.body_len = err < 0 ? 0 : r->body_len;
    resp.total_us = total > 0 ? (uint64_t)total : 0;
    resp.primary_ip = ip;
    resp.error = msg;
    if (err < 0)
        dp_debug(LOG_COMP, "request failed: %s", msg);
    r->cb(err, &resp, r->data);
    req_free(r);
}

static void complete_done_requests(dp_outbound_t *o)
{
    CURLMsg *m;
    int left;

    if (o->closing)
        return;
    o->dispatching++;
    while (!o->closing && (m = curl_multi_info_read(o->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        ob_req_t *r = (ob_req_t *)priv;
        curl_multi_remove_handle(o->multi, m->easy_handle);
        req_unlink(o, r);
        finish(r, rc == CURLE_OK ? 0 : map_curl_error(r, rc), rc);
    }
    o->dispatching--;
    if (o->teardown_deferred && !o->dispatching) {
        o->teardown_deferred = 0;
        teardown(o);
    }
}

/* ---- lifecycle -------------------------------------------------------- */

dp_outbound_t *dp_outbound_new(uv_loop_t *loop, const dp_outbound_cfg_t *cfg)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        dp_error(LOG_COMP, "libcurl init failed: %s",
                 curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    dp_outbound_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->loop = loop;
    if (cfg)
        o->cfg = *cfg;
    else
        dp_outbound_cfg_init(&o->cfg);
    if (o->cfg.connect_timeout_ms <= 0)
        o->cfg.connect_timeout_ms = 5000;
    if (o->cfg.total_timeout_ms <= 0)
        o->cfg.total_timeout_ms = 30000;
    if (o->cfg.max_response_bytes == 0)
        o->cfg.max_response_bytes = (size_t)8 << 20;
    if (o->cfg.max_connections_per_host < 0)
        o->cfg.max_connections_per_host = 0;
    if (o->cfg.user_agent)
        o->user_agent = strdup(o->cfg.user_agent);
    else
        o->user_agent = strdup("doppel/" DOPPEL_VERSION);
    o->cfg.user_agent = o->user_agent;
    o->multi = curl_multi_init();
    if (!o->user_agent || !o->multi)
        goto fail;
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_multi_socket);
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_multi_timer);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      o->cfg.max_connections_per_host);
    if (uv_timer_init(loop, &o->timer) != 0)
        goto fail;
    o->timer.data = o;
    return o;
fail:
    if (o->multi)
        curl_multi_cleanup(o->multi);
    free(o->user_agent);
    free(o);
    return NULL;
}

/* Cancels what is in flight, drops curl's state and closes every uv
 * handle; the last close callback frees o. */
static void teardown(dp_outbound_t *o)
{
    o->dispatching++; /* a cancel callback calling close gets -EALREADY */
    while (o->reqs) {
        ob_req_t *r = o->reqs;
        curl_multi_remove_handle(o->multi, r->easy);
        req_unlink(o, r);
        finish(r, -ECANCELED, CURLE_ABORTED_BY_CALLBACK);
    }
    o->dispatching--;
    /* Cleanup may still report sockets through the socket callback; any
     * left afterwards are closed by hand. */
    curl_multi_cleanup(o->multi);
    o->multi = NULL;
    while (o->socks)
        sock_close(o, o->socks);
    uv_timer_stop(&o->timer);
    o->pending_closes++;
    uv_close((uv_handle_t *)&o->timer, handle_closed);
}

int dp_outbound_close(dp_outbound_t *o, dp_outbound_close_cb done, void *data)
{
    if (!o)
        return -EINVAL;
    if (o->closing)
        return -EALREADY;
    o->closing = 1;
    o->done = done;
    o->done_data = data;
    if (o->dispatching)
        o->teardown_deferred = 1;
    else
        teardown(o);
    return 0;
}

void dp_outbound_free(dp_outbound_t *o)
{
    if (o)
        dp_outbound_close(o, NULL, NULL);
}

size_t dp_outbound_in_flight(const dp_outbound_t *o)
{
    return o ? o->n_reqs : 0;
}

/* ---- starting a request --------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

static int is_field_value(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

/* Only absolute http/https URLs with a host; parsed by curl itself so that
 * what we check is what curl will use. */
static int check_url(const char *url)
{
    char *scheme = NULL, *host = NULL;
    int rc = -EINVAL;
    CURLU *u = curl_url();

    if (!u)
        return -ENOMEM;
    if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
        host[0])
        rc = 0;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int has_header(const dp_outbound_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return 1;
    return 0;
}

static int append_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return -ENOMEM;
    *list = n;
    return 0;
}

/* The request's header list. curl adds Accept, Expect and (with a body)
 * Content-Type on its own; a proxy must send what the client sent, so
 * those are switched off unless the caller set them. */
static int build_headers(const dp_outbound_req_t *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    int rc = 0;

    for (size_t i = 0; i < req->n_headers && rc == 0; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        size_t len = strlen(name) + strlen(value) + 3;
        char *line = malloc(len);
        if (!line) {
            rc = -ENOMEM;
            break;
        }
        /* "Name;" is curl's way to send a header with an empty value. */
        if (value[0])
            snprintf(line, len, "%s: %s", name, value);
        else
            snprintf(line, len, "%s;", name);
        rc = append_header(&list, line);
        free(line);
    }
    if (rc == 0 && !has_header(req, "Accept"))
        rc = append_header(&list, "Accept:");
    if (rc == 0 && !has_header(req, "Expect"))
        rc = append_header(&list, "Expect:");
    if (rc == 0 && !has_header(req, "Content-Type"))
        rc = append_header(&list, "Content-Type:");
    if (rc < 0) {
        curl_slist_free_all(list);
        return rc;
    }
    *out = list;
    return 0;
}

static int validate(const dp_outbound_req_t *req)
{
    if (!req || (req->method && !is_token(req->method)))
        return -EINVAL;
    if (req->n_headers && !req->headers)
        return -EINVAL;
    if (req->body_len && !req->body)
        return -EINVAL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (!is_token(req->headers[i].name) ||
            !is_field_value(req->headers[i].value))
            return -EINVAL;
    return check_url(req->url);
}

#define SETOPT(e, opt, val)                                                    \
    do {                                                                       \
        if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)                   \
            ok = 0;                                                            \
    } while (0)

static int configure_easy(dp_outbound_t *o, ob_req_t *r,
                          const dp_outbound_req_t *req)
{
    CURL *e = r->easy;
    const char *method = req->method ? req->method : "GET";
    long timeout =
        req->timeout_ms > 0 ? req->timeout_ms : o->cfg.total_timeout_ms;
    int ok = 1;

    SETOPT(e, CURLOPT_URL, req->url);
    SETOPT(e, CURLOPT_PRIVATE, (char *)r);
    SETOPT(e, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* No proxy, whatever http_proxy/https_proxy/ALL_PROXY say. */
    SETOPT(e, CURLOPT_PROXY, "");
    SETOPT(e, CURLOPT_NOPROXY, "*");
    SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SETOPT(e, CURLOPT_OPENSOCKETDATA, r);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(e, CURLOPT_WRITEDATA, r);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, r);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, o->cfg.connect_timeout_ms);
    SETOPT(e, CURLOPT_TIMEOUT_MS, timeout);
    SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->cfg.max_response_bytes);
    /* curl keys reused connections on these options too, so an insecure
     * request never rides on (or leaves behind) a verified connection */
    int verify = o->cfg.verify_tls && !req->insecure;
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    SETOPT(e, CURLOPT_USERAGENT, o->user_agent);
    SETOPT(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (req->decompress)
        SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    /* Without it curl decodes nothing: the body arrives as sent. */
    SETOPT(e, CURLOPT_HTTP_CONTENT_DECODING, req->decompress ? 1L : 0L);
    SETOPT(e, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
    if (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)
        SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    else
        SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);

    if (strcmp(method, "HEAD") == 0) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || req->body_len) {
        SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
        if (req->body_len || strcmp(method, "POST") == 0 ||
            strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
            SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SETOPT(e, CURLOPT_COPYPOSTFIELDS,
                   req->body_len ? (const char *)req->body : "");
        }
    }
    return ok ? 0 : -ENOMEM;
}

int dp_outbound_request(dp_outbound_t *o, const dp_outbound_req_t *req,
                        dp_outbound_cb cb, void *data)
{
    int rc;

    if (!o || !cb)
        return -EINVAL;
    if (o->closing)
        return -ECANCELED;
    rc = validate(req);
    if (rc < 0)
        return rc;
    ob_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->o = o;
    r->cb = cb;
    r->data = data;
    r->easy = curl_easy_init();
    if (!r->easy) {
        req_free(r);
        return -ENOMEM;
    }
    rc = build_headers(req, &r->hdrs);
    if (rc == 0)
        rc = configure_easy(o, r, req);
    if (rc == 0 && curl_multi_add_handle(o->multi, r->easy) != CURLM_OK)
        rc = -ENOMEM;
    if (rc < 0) {
        req_free(r);
        return rc;
    }
    req_link(o, r);
    return 0;
}
