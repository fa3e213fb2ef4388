/*
 * libFuzzer target: how `doppel mcp --stdio` (host/mcp_stdio.c) reads a
 * server's answer. One stdin line goes through handle_line, whose libcurl
 * transfer is replaced by a fake that plays back an answer made from the
 * input: status line and headers (each a separate header callback, as
 * libcurl makes them), then the body in chunks of a size the input picks,
 * through the bridge's own header and body callbacks: the SSE parser
 * (dp_sse_feed), the JSON body, error_text, the session and protocol
 * version bookkeeping.
 *
 * Input: a flag byte, the stdin line up to the first LF, then the body.
 *
 * Asserted (abort): every line written to stdout is one JSON value; every
 * request id of the stdin line is answered (by a message of the server or
 * by the bridge's -32000 error), so a client never waits forever; the SSE
 * parser, fed the body whole, gives the same events as fed byte by byte.
 * ASan/UBSan/LSan catch the rest.
 *
 * mcp_stdio.c is compiled into this file so that its static functions can
 * be reached; the three libcurl calls it makes on a transfer are macros
 * here (CURL_DISABLE_TYPECHECK lets them be redefined).
 */
#define _GNU_SOURCE /* open_memstream */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CURLcode fake_setopt(CURL *c, CURLoption opt, ...);
static CURLcode fake_perform(CURL *c);
static CURLcode fake_getinfo(CURL *c, CURLINFO info, ...);
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt fake_setopt
#define curl_easy_perform fake_perform
#define curl_easy_getinfo fake_getinfo

#include "mcp_stdio.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* ---- The fake transfer --------------------------------------------------- */

static struct {
    curl_write_callback header_fn, write_fn;
    void *header_data, *write_data;
    /* the answer to play back */
    long status;
    int transport_error;
    const char *ctype; /* NULL: no Content-Type */
    const char *session;
    const char *body;
    size_t body_len, chunk;
} fk;

static CURLcode fake_setopt(CURL *c, CURLoption opt, ...)
{
    (void)c;
    va_list ap;
    va_start(ap, opt);
    switch (opt) {
    case CURLOPT_HEADERFUNCTION:
        fk.header_fn = va_arg(ap, curl_write_callback);
        break;
    case CURLOPT_HEADERDATA:
        fk.header_data = va_arg(ap, void *);
        break;
    case CURLOPT_WRITEFUNCTION:
        fk.write_fn = va_arg(ap, curl_write_callback);
        break;
    case CURLOPT_WRITEDATA:
        fk.write_data = va_arg(ap, void *);
        break;
    default:
        break;
    }
    va_end(ap);
    return CURLE_OK;
}

static CURLcode fake_getinfo(CURL *c, CURLINFO info, ...)
{
    (void)c;
    va_list ap;
    va_start(ap, info);
    if (info == CURLINFO_RESPONSE_CODE)
        *va_arg(ap, long *) = fk.status;
    va_end(ap);
    return CURLE_OK;
}

static int header(const char *fmt, const char *v)
{
    char line[512];
    int n = snprintf(line, sizeof(line), fmt, v);
    /* libcurl hands the callback a buffer it owns: a copy, so ASan sees
     * any read past the line */
    char *copy = malloc((size_t)n);
    check(copy != NULL);
    memcpy(copy, line, (size_t)n);
    size_t got = fk.header_fn(copy, 1, (size_t)n, fk.header_data);
    free(copy);
    return got == (size_t)n ? 0 : -1;
}

static CURLcode fake_perform(CURL *c)
{
    (void)c;
    if (fk.transport_error)
        return CURLE_COULDNT_CONNECT;
    char st[16];
    snprintf(st, sizeof(st), "%ld", fk.status);
    if (header("HTTP/1.1 %s X\r\n", st) < 0 ||
        (fk.ctype && header("Content-Type: %s\r\n", fk.ctype) < 0) ||
        (fk.session && header("Mcp-Session-Id: %s\r\n", fk.session) < 0) ||
        header("%s", "\r\n") < 0)
        return CURLE_WRITE_ERROR;
    for (size_t o = 0; o < fk.body_len;) {
        size_t n = fk.body_len - o < fk.chunk ? fk.body_len - o : fk.chunk;
        char *copy = malloc(n);
        check(copy != NULL);
        memcpy(copy, fk.body + o, n);
        size_t got = fk.write_fn(copy, 1, n, fk.write_data);
        free(copy);
        if (got != n)
            return CURLE_WRITE_ERROR;
        o += n;
    }
    return CURLE_OK;
}

/* ---- Properties ---------------------------------------------------------- */

typedef struct events {
    size_t n;
    char *all; /* the events, each followed by a 0x01 byte */
    size_t len;
} events_t;

static void collect(void *ud, const char *d, size_t len)
{
    events_t *e = ud;
    check(d[len] == '\0');
    char *n = realloc(e->all, e->len + len + 1);
    check(n != NULL);
    memcpy(n + e->len, d, len);
    n[e->len + len] = 1;
    e->all = n;
    e->len += len + 1;
    e->n++;
}

/* Whole, then one byte at a time, then in two halves: same events. */
static void sse_same_events(const char *body, size_t len)
{
    events_t a = {0}, b = {0}, h = {0};
    dp_sse_t p;
    dp_sse_init(&p, 64, collect, &a); /* a small cap: the drop path too */
    check(dp_sse_feed(&p, body, len) == 0);
    dp_sse_free(&p);
    dp_sse_init(&p, 64, collect, &b);
    for (size_t i = 0; i < len; i++)
        check(dp_sse_feed(&p, body + i, 1) == 0);
    dp_sse_free(&p);
    dp_sse_init(&p, 64, collect, &h);
    check(dp_sse_feed(&p, body, len / 2) == 0);
    check(dp_sse_feed(&p, body + len / 2, len - len / 2) == 0);
    dp_sse_free(&p);
    check(a.n == b.n && a.len == b.len &&
          (a.len == 0 || memcmp(a.all, b.all, a.len) == 0));
    check(a.n == h.n && a.len == h.len &&
          (a.len == 0 || memcmp(a.all, h.all, a.len) == 0));
    free(a.all);
    free(b.all);
    free(h.all);
}

/* Takes id off want when it is there. */
static void answered(json_t *want, json_t *id)
{
    size_t k;
    json_t *p;
    json_array_foreach(want, k, p)
    {
        if (json_equal(p, id)) {
            json_array_remove(want, k);
            return;
        }
    }
}

/*
 * data[0]: bits 0-1 the status (200, 202, 404, 500); bits 2-3 the
 *   Content-Type (JSON, SSE, text/plain, none); bit 4 a transport error;
 *   bit 5 an Mcp-Session-Id; bits 6-7 the body chunk size (1, 3, 64, all).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        dp_log_set_level(DP_LOG_ERROR);
        quiet = 1;
    }
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    const char *rest = (const char *)data + 1;
    size_t rest_len = size - 1;
    const char *lf = memchr(rest, '\n', rest_len);
    size_t line_len = lf ? (size_t)(lf - rest) : rest_len;
    if (line_len == 0)
        return 0; /* the run loop skips blank lines */
    /* The run loop hands handle_line a getline buffer: NUL-terminated. */
    char *line = malloc(line_len + 1);
    check(line != NULL);
    memcpy(line, rest, line_len);
    line[line_len] = '\0';

    static const long statuses[] = {200, 202, 404, 500};
    static const char *const ctypes[] = {
        "application/json", "text/event-stream; charset=utf-8",
        "text/plain", NULL};
    static const size_t chunks[] = {1, 3, 64, SIZE_MAX};
    memset(&fk, 0, sizeof(fk));
    fk.status = statuses[f & 3];
    fk.ctype = ctypes[(f >> 2) & 3];
    fk.transport_error = (f >> 4) & 1;
    fk.session = f & 32 ? "fz-session-1" : NULL;
    fk.body = lf ? lf + 1 : "";
    fk.body_len = lf ? rest_len - line_len - 1 : 0;
    fk.chunk = chunks[f >> 6];

    sse_same_events(fk.body, fk.body_len);

    char *out_text = NULL;
    size_t out_len = 0;
    FILE *out = open_memstream(&out_text, &out_len);
    check(out != NULL);
    dp_mcp_stdio_cfg_t cfg = {.url = "http://127.0.0.1:9/mcp"};
    static char dummy_handle;
    bridge_t b = {.cfg = &cfg, .out = out, .curl = (CURL *)&dummy_handle};
    handle_line(&b, line, line_len);
    check(fclose(out) == 0);

    /* What the stdin line asked. */
    json_t *want = json_array();
    int is_init = 0;
    json_t *msg = json_loadb(line, line_len, 0, NULL);
    if (json_is_object(msg) || json_is_array(msg))
        request_ids(msg, want, &is_init);
    json_decref(msg);

    /* Every stdout line is one JSON value; ids answered come off want. */
    check(out_len == 0 || out_text[out_len - 1] == '\n');
    for (char *p = out_text; p < out_text + out_len;) {
        char *e = memchr(p, '\n', (size_t)(out_text + out_len - p));
        check(e != NULL);
        json_t *m = json_loadb(p, (size_t)(e - p), JSON_ALLOW_NUL, NULL);
        check(m != NULL);
        size_t n = json_is_array(m) ? json_array_size(m) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_is_array(m) ? json_array_get(m, i) : m;
            json_t *id = json_object_get(it, "id");
            if (id != NULL && json_object_get(it, "method") == NULL)
                answered(want, id);
        }
        json_decref(m);
        p = e + 1;
    }
    check(json_array_size(want) == 0);
    /* the session id is kept only from a 2xx answer */
    check(b.session[0] == '\0' ||
          (fk.session && fk.status < 300 && !fk.transport_error));
    json_decref(want);
    free(out_text);
    free(line);
    return 0;
}
