/*
 * libFuzzer target for the SSE plugin's encoder and decoders
 * (plugins/sse: sse_chain.c, sse_route.c). The first byte picks the mode:
 *   0  the rest is an sseEventChain as JSON: checked, then built; a built
 *      chain keeps its promises (every frame inside frames, ending with a
 *      blank line, no CR anywhere, "data:" lines only where framing puts
 *      them, bounds as checked) and resumes within [0, n]
 *   1  the rest is split into event, id and data at NUL bytes and framed:
 *      the frame is well-formed (each line a known field, the last line
 *      blank, data split into one line per input line)
 *   2  the rest is a route and a path split at the first NUL, matched
 *      (no crash, no read past the path, an answer of 0 or 1)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sse_chain.h"

static void check_frame(const char *p, size_t len)
{
    if (len < 2 || p[len - 1] != '\n' || p[len - 2] != '\n')
        abort(); /* every frame is dispatched by a blank line */
    if (memchr(p, '\r', len) != NULL)
        abort(); /* CR would end a field early */
    const char *line = p, *end = p + len - 1; /* before the blank line */
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            abort();
        size_t n = (size_t)(nl - line);
        if (!(n >= 5 && memcmp(line, "data:", 5) == 0) &&
            !(n >= 6 && memcmp(line, "event:", 6) == 0) &&
            !(n >= 3 && memcmp(line, "id:", 3) == 0) &&
            !(n >= 6 && memcmp(line, "retry:", 6) == 0) &&
            !(n >= 1 && line[0] == ':'))
            abort(); /* no line the standard would read otherwise */
        line = nl + 1;
    }
}

static void chain_mode(const uint8_t *d, size_t n)
{
    json_t *v = json_loadb((const char *)d, n, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        return;
    sse_chain_err_t err;
    memset(&err, 0, sizeof(err));
    (void)sse_chain_check(v, NULL, &err);
    sse_chain_t c;
    memset(&c, 0, sizeof(c));
    /* a chain check accepts may still be refused here (a template string
     * where a number goes): only what is built is held to its promises */
    int built = sse_chain_build(v, "dflt", "{}", 2, &c, &err);
    if (built == 0) {
        if (c.max_time_s == 0 || c.log_batch == 0)
            abort();
        size_t total = 0;
        for (size_t i = 0; i < c.n; i++) {
            const sse_event_t *e = &c.ev[i];
            if (e->off + e->len > c.frames_len || e->off != total)
                abort();
            total += e->len;
            check_frame(c.frames + e->off, e->len);
            size_t at = sse_chain_resume(&c, e->id, strlen(e->id));
            if (at == 0 || at > c.n)
                abort(); /* resuming after a sent id moves forward */
        }
        if (total != c.frames_len)
            abort();
        if (sse_chain_resume(&c, "\xff no such id", 12) > c.n)
            abort();
        sse_chain_free(&c);
    }
    json_decref(v);
}

static void frame_mode(const uint8_t *d, size_t n)
{
    const char *s = (const char *)d, *end = s + n;
    const char *z1 = memchr(s, '\0', n);
    const char *ev = s, *id = NULL, *data;
    size_t evl, idl = 0, dl;
    if (z1 == NULL) {
        evl = 0;
        data = s;
        dl = n;
    } else {
        evl = (size_t)(z1 - s);
        const char *z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1));
        if (z2 == NULL) {
            data = z1 + 1;
            dl = (size_t)(end - data);
        } else {
            id = z1 + 1;
            idl = (size_t)(z2 - id);
            data = z2 + 1;
            dl = (size_t)(end - data);
        }
    }
    sse_buf_t b = {0};
    if (sse_frame_event(&b, ev, evl, id, idl, n % 3 == 0 ? -1 : (int64_t)n,
                        data, dl) == 0) {
        check_frame(b.p, b.len);
        /* one data line per line of data: LF, CRLF and CR each end one */
        size_t lines = 1;
        for (size_t i = 0; i < dl; i++)
            if (data[i] == '\n' ||
                (data[i] == '\r' && (i + 1 >= dl || data[i + 1] != '\n')))
                lines++;
        size_t got = 0;
        for (size_t i = 0; i + 5 <= b.len; i++)
            if ((i == 0 || b.p[i - 1] == '\n') && memcmp(b.p + i, "data:", 5) == 0)
                got++;
        if (got != lines)
            abort();
    }
    sse_buf_t c = {0};
    if (sse_frame_comment(&c, "heartbeat") == 0)
        check_frame(c.p, c.len);
    sse_buf_free(&b);
    sse_buf_free(&c);
}

static void route_mode(const uint8_t *d, size_t n)
{
    const char *s = (const char *)d;
    const char *z = memchr(s, '\0', n);
    if (z == NULL)
        return;
    char *route = strndup(s, (size_t)(z - s));
    if (route == NULL)
        return;
    const char *path = z + 1;
    size_t pl = n - (size_t)(z - s) - 1;
    int m = sse_route_matches(route, path, pl);
    if (m != 0 && m != 1)
        abort();
    free(route);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    switch (data[0] % 3) {
    case 0:
        chain_mode(data + 1, size - 1);
        break;
    case 1:
        frame_mode(data + 1, size - 1);
        break;
    default:
        route_mode(data + 1, size - 1);
        break;
    }
    return 0;
}
