/*
 * `doppel mcp --stdio`: newline-delimited JSON-RPC on stdin and stdout,
 * Streamable HTTP towards the server (see mcp_stdio.h).
 *
 * Per stdin line: parse it (only to learn the ids of its requests and
 * whether it is initialize), POST it as is, then write every JSON-RPC
 * message of the answer as one compact line: the JSON body, or each SSE
 * event as it arrives (a progress notification is not held back until the
 * final answer). A request whose answer never came (HTTP error, transport
 * failure, a stream that ended without it) gets a JSON-RPC error -32000,
 * so the client never waits forever.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/log.h"
#include "mcp_stdio.h"

#define LOG_COMP "mcp-stdio"
#define BODY_MAX (64u * 1024 * 1024) /* an answer larger is refused */
#define SESSION_MAX 256

/* ---- server-sent events ------------------------------------------------- */

void dp_sse_init(dp_sse_t *p, size_t max, dp_sse_event_fn fn, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->max = max ? max : BODY_MAX;
    p->fn = fn;
    p->ud = ud;
}

void dp_sse_free(dp_sse_t *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof(*p));
}

static int grow(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *n = realloc(*b, c);
    if (n == NULL)
        return -ENOMEM;
    *b = n;
    *cap = c;
    return 0;
}

/* One complete line (without its end). */
static int sse_line(dp_sse_t *p)
{
    const char *l = p->line ? p->line : "";
    size_t n = p->line_len;
    if (n == 0) { /* blank line: dispatch */
        if (p->has_data && !p->overflow) {
            if (grow(&p->data, &p->data_cap, p->data_len + 1) < 0)
                return -ENOMEM;
            p->data[p->data_len] = '\0';
            p->fn(p->ud, p->data, p->data_len);
        }
        p->data_len = 0;
        p->has_data = 0;
        p->overflow = 0;
        return 0;
    }
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4) != 0)
        return 0; /* event, id, retry and unknown fields: nothing to do */
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    size_t need = p->data_len + (p->has_data ? 1 : 0) + vl + 1;
    if (need > p->max) {
        p->overflow = 1;
        return 0;
    }
    if (grow(&p->data, &p->data_cap, need) < 0)
        return -ENOMEM;
    if (p->has_data)
        p->data[p->data_len++] = '\n';
    memcpy(p->data + p->data_len, v, vl);
    p->data_len += vl;
    p->has_data = 1;
    return 0;
}

int dp_sse_feed(dp_sse_t *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n' && p->after_cr) {
            p->after_cr = 0;
            continue; /* the LF of a CRLF */
        }
        p->after_cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            int rc = sse_line(p);
            p->line_len = 0;
            if (rc < 0)
                return rc;
            continue;
        }
        if (p->line_len + 1 > p->max) {
            p->overflow = 1; /* the event this line belongs to is dropped */
            continue;
        }
        if (grow(&p->line, &p->line_cap, p->line_len + 1) < 0)
            return -ENOMEM;
        p->line[p->line_len++] = ch;
    }
    return 0;
}

/* ---- the bridge ---------------------------------------------------------- */

typedef struct bridge {
    const dp_mcp_stdio_cfg_t *cfg;
    FILE *out;
    CURL *curl;
    char session[SESSION_MAX + 1]; /* Mcp-Session-Id, "" before one */
    char proto[64];                /* MCP-Protocol-Version once negotiated */
    int out_failed;
} bridge_t;

/* One HTTP exchange. */
typedef struct exch {
    bridge_t *b;
    long status;
    char ctype[128];
    char session[SESSION_MAX + 1];
    int sse; /* decided at the first body byte */
    int body_started;
    char *body;
    size_t body_len, body_cap;
    int too_big;
    dp_sse_t parser;
    int is_initialize;
    json_t *pending; /* ids of requests without an answer yet */
} exch_t;

static void write_line(bridge_t *b, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL) {
        dp_error(LOG_COMP, "out of memory writing a message");
        return;
    }
    if (fputs(s, b->out) == EOF || fputc('\n', b->out) == EOF ||
        fflush(b->out) == EOF)
        b->out_failed = 1;
    free(s);
}

/* msg as a JSON string, whatever its bytes: an error text quotes the
 * server's body (cut at a byte count, maybe inside a UTF-8 sequence, or
 * not UTF-8 at all), and jansson refuses invalid UTF-8: without this the
 * -32000 line was silently not written and the client waited forever.
 * A cut tail is dropped; other bytes that do not make UTF-8 become '?'. */
static json_t *message_string(const char *msg)
{
    size_t len = strlen(msg);
    for (size_t cut = 0; cut < 4 && cut <= len; cut++) {
        json_t *s = json_stringn(msg, len - cut);
        if (s != NULL)
            return s;
    }
    char *copy = strdup(msg);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    json_t *s = json_string(copy);
    free(copy);
    return s;
}

static void write_error(bridge_t *b, json_t *id, int code, const char *msg,
                        long status)
{
    json_t *err = json_pack("{s:i, s:o}", "code", code, "message",
                            message_string(msg));
    if (err != NULL && status > 0)
        json_object_set_new(err, "data",
                            json_pack("{s:i}", "status", (int)status));
    json_t *m = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
                          id ? id : json_null(), "error", err);
    if (m != NULL)
        write_line(b, m);
    json_decref(m);
}

/* A message of the answer: written as one line; an answer to a pending
 * request takes it off the list. */
static void emit(exch_t *x, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(data, len, 0, &jerr);
    if (m == NULL) {
        dp_warn(LOG_COMP,
                "the server sent something that is not JSON "
                "(dropped): %s",
                jerr.text);
        return;
    }
    json_t *items = json_is_array(m) ? m : NULL;
    size_t n = items ? json_array_size(items) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *it = items ? json_array_get(items, i) : m;
        json_t *id = json_object_get(it, "id");
        if (id == NULL || json_object_get(it, "method") != NULL)
            continue; /* a notification or a request of the server's */
        size_t k;
        json_t *p;
        json_array_foreach(x->pending, k, p)
        {
            if (json_equal(p, id)) {
                json_array_remove(x->pending, k);
                break;
            }
        }
        const char *pv = json_string_value(
            json_object_get(json_object_get(it, "result"), "protocolVersion"));
        if (x->is_initialize && pv != NULL && strlen(pv) < sizeof(x->b->proto))
            snprintf(x->b->proto, sizeof(x->b->proto), "%s", pv);
    }
    write_line(x->b, m);
    json_decref(m);
}

static void on_sse_event(void *ud, const char *data, size_t len)
{
    emit(ud, data, len);
}

static int is_2xx(long s)
{
    return s >= 200 && s < 300;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    exch_t *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response head (after 100 Continue, redirects are off) */
        x->ctype[0] = x->session[0] = '\0';
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (colon == NULL)
        return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
                      v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (nl == 12 && strncasecmp(buf, "content-type", 12) == 0 &&
        vl < sizeof(x->ctype)) {
        memcpy(x->ctype, v, vl);
        x->ctype[vl] = '\0';
    } else if (nl == 14 && strncasecmp(buf, "mcp-session-id", 14) == 0 &&
               vl > 0 && vl <= SESSION_MAX) {
        /* visible ASCII only (the MCP rule), so it is safe to send back */
        for (size_t i = 0; i < vl; i++)
            if (v[i] < 0x21 || v[i] > 0x7e)
                return len;
        memcpy(x->session, v, vl);
        x->session[vl] = '\0';
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    exch_t *x = ud;
    size_t len = size * n;
    if (!x->body_started) {
        x->body_started = 1;
        curl_easy_getinfo(x->b->curl, CURLINFO_RESPONSE_CODE, &x->status);
        x->sse = is_2xx(x->status) &&
                 strncasecmp(x->ctype, "text/event-stream", 17) == 0;
    }
    if (x->sse) {
        if (dp_sse_feed(&x->parser, buf, len) < 0)
            return 0; /* out of memory: abort the transfer */
        return x->b->out_failed ? 0 : len;
    }
    if (x->too_big || x->body_len + len > BODY_MAX) {
        x->too_big = 1;
        return len;
    }
    if (grow(&x->body, &x->body_cap, x->body_len + len + 1) < 0)
        return 0;
    memcpy(x->body + x->body_len, buf, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return len;
}

static size_t discard(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf;
    (void)ud;
    return size * n;
}

static int header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return 0;
    return 1;
}

/* The request headers every call carries. NULL on ENOMEM. */
static struct curl_slist *base_headers(bridge_t *b, int with_body)
{
    struct curl_slist *h = NULL, *t;
    char line[1024];
    const dp_mcp_stdio_cfg_t *c = b->cfg;
#define ADD(s)                                                                 \
    do {                                                                       \
        if ((t = curl_slist_append(h, (s))) == NULL)                           \
            goto oom;                                                          \
        h = t;                                                                 \
    } while (0)
    if (with_body)
        ADD("Content-Type: application/json");
    ADD("Accept: application/json, text/event-stream");
    if (c->token != NULL && c->token[0]) {
        if (strncasecmp(c->token, "Bearer ", 7) == 0)
            snprintf(line, sizeof(line), "Authorization: Bearer %s",
                     c->token + 7);
        else
            snprintf(line, sizeof(line), "X-API-Key: %s", c->token);
        ADD(line);
    }
    if (c->ns != NULL && c->ns[0]) {
        snprintf(line, sizeof(line), "X-Doppel-Namespace: %s", c->ns);
        ADD(line);
    }
    if (b->session[0]) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", b->session);
        ADD(line);
    }
    if (b->proto[0]) {
        snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", b->proto);
        ADD(line);
    }
    ADD("Expect:"); /* no 100-continue round trip */
#undef ADD
    return h;
oom:
    curl_slist_free_all(h);
    return NULL;
}

/* The message of an HTTP error: the body's JSON-RPC error message, or its
 * "error"/"message" string, or the start of the body. */
static void error_text(const exch_t *x, char *out, size_t cap)
{
    json_t *j = x->body_len ? json_loadb(x->body, x->body_len, 0, NULL) : NULL;
    const char *m = NULL;
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e))
        m = json_string_value(json_object_get(e, "message"));
    if (m == NULL)
        m = json_string_value(e);
    if (m == NULL)
        m = json_string_value(json_object_get(j, "message"));
    if (m != NULL)
        snprintf(out, cap, "HTTP %ld: %s", x->status, m);
    else if (x->body_len && !x->too_big)
        snprintf(out, cap, "HTTP %ld: %.200s", x->status, x->body);
    else
        snprintf(out, cap, "HTTP %ld", x->status);
    json_decref(j);
}

/* Collects the ids of the requests in a message (object or batch). */
static void request_ids(json_t *msg, json_t *ids, int *is_init)
{
    size_t n = json_is_array(msg) ? json_array_size(msg) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_is_array(msg) ? json_array_get(msg, i) : msg;
        const char *method = json_string_value(json_object_get(it, "method"));
        json_t *id = json_object_get(it, "id");
        if (method != NULL && id != NULL && !json_is_null(id))
            json_array_append(ids, id);
        if (method != NULL && strcmp(method, "initialize") == 0)
            *is_init = 1;
    }
}

static void handle_line(bridge_t *b, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, 0, &jerr);
    if (msg == NULL || (!json_is_object(msg) && !json_is_array(msg))) {
        char why[256];
        snprintf(why, sizeof(why), "Parse error: %s",
                 msg ? "not a JSON-RPC message" : jerr.text);
        write_error(b, NULL, -32700, why, 0);
        json_decref(msg);
        return;
    }
    exch_t x = {.b = b};
    x.pending = json_array();
    if (x.pending == NULL) {
        json_decref(msg);
        return;
    }
    request_ids(msg, x.pending, &x.is_initialize);
    json_decref(msg);
    dp_sse_init(&x.parser, BODY_MAX, on_sse_event, &x);

    struct curl_slist *hs = base_headers(b, 1);
    CURL *c = b->curl;
    curl_easy_setopt(c, CURLOPT_URL, b->cfg->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, line);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    CURLcode rc = hs ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hs);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);

    char why[512];
    size_t k;
    json_t *id;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && b->out_failed)) {
        snprintf(why, sizeof(why), "cannot reach %s: %s", b->cfg->url,
                 curl_easy_strerror(rc));
        dp_warn(LOG_COMP, "%s", why);
    } else if (is_2xx(x.status)) {
        if (x.session[0] && strcmp(x.session, b->session) != 0)
            snprintf(b->session, sizeof(b->session), "%s", x.session);
        if (!x.sse && x.too_big) {
            snprintf(why, sizeof(why), "the server's answer is over %u bytes",
                     BODY_MAX);
        } else {
            if (!x.sse && x.body_len > 0 && x.status != 202)
                emit(&x, x.body, x.body_len);
            snprintf(why, sizeof(why),
                     "the server's answer (HTTP %ld) held "
                     "no response to this request",
                     x.status);
        }
    } else {
        error_text(&x, why, sizeof(why));
        dp_warn(LOG_COMP, "%s", why);
        if (x.status == 404 && b->session[0]) {
            /* the session is gone: the client starts a new one with
             * initialize, which must go without the old id */
            b->session[0] = '\0';
            b->proto[0] = '\0';
        }
    }
    json_array_foreach(x.pending, k, id)
        write_error(b, id, -32000, why, x.status);
    json_decref(x.pending);
    dp_sse_free(&x.parser);
    free(x.body);
}

/* Ends the session (DELETE with its id); 405 (not supported) is fine. */
static void end_session(bridge_t *b)
{
    if (!b->session[0])
        return;
    struct curl_slist *hs = base_headers(b, 0);
    if (hs == NULL)
        return;
    CURL *c = b->curl;
    curl_easy_setopt(c, CURLOPT_URL, b->cfg->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        dp_warn(LOG_COMP, "ending the session: %s", curl_easy_strerror(rc));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hs);
}

int dp_mcp_stdio_run(const dp_mcp_stdio_cfg_t *cfg, FILE *in, FILE *out)
{
    if ((cfg->token && !header_safe(cfg->token)) ||
        (cfg->ns && !header_safe(cfg->ns))) {
        dp_error(LOG_COMP, "the token and the namespace may not hold control "
                           "characters");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error, not a kill */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    bridge_t b = {.cfg = cfg, .out = out};
    b.curl = curl_easy_init();
    if (b.curl == NULL) {
        curl_global_cleanup();
        return 1;
    }
    curl_easy_setopt(b.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b.curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(b.curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(b.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(b.curl, CURLOPT_USERAGENT,
                     "doppel-mcp-stdio/" DOPPEL_VERSION);
    dp_info(LOG_COMP, "bridging stdin/stdout to %s", cfg->url);

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!b.out_failed && (n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        size_t start = 0;
        while (start < len && (line[start] == ' ' || line[start] == '\t'))
            start++;
        if (start == len)
            continue; /* blank line */
        handle_line(&b, line + start, len - start);
    }
    free(line);
    end_session(&b);
    curl_easy_cleanup(b.curl);
    curl_global_cleanup();
    if (b.out_failed)
        dp_error(LOG_COMP, "cannot write to stdout");
    return b.out_failed ? 1 : 0;
}
