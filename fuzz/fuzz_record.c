/*
 * libFuzzer target: the recording path (host/engine/record.c): request
 * keying (method, literal route with path escaping, sorted query,
 * structural JSON body, recordHeaders) and the response it stores, on an
 * in-memory engine with one service ("up", pathPrefix "/", recordHeaders
 * x-tenant and accept).
 *
 * Input: fields separated by 0xFF: method, target (path?query), query
 * parameters ("k=v&k2=v2", already decoded), request headers ("Name: v"
 * per line), request body, upstream status (decimal), upstream headers,
 * upstream body. Each input matches the exchange in LEARN mode, records
 * the upstream's answer, then, in MOCK mode, matches the same exchange
 * again.
 *
 * Asserted (abort), because a recording must replay: when the recording
 * succeeded, the same request matches the recorded mock, which answers the
 * recorded status and (when not truncated) the recorded body: the same
 * bytes, or the same JSON value for a JSON object or array. When the
 * recording was refused, no mock was stored. ASan/UBSan/LSan catch the
 * rest.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/log.h"
#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

#define BODY_MAX 64 /* cfg.record_body_max: small, so truncation runs */
#define MAX_KV 8

static dp_engine_t *engine(void)
{
    static dp_engine_t *e;
    if (e == NULL) {
        dp_log_set_level(DP_LOG_ERROR);
        dp_engine_cfg_t cfg;
        dp_engine_cfg_default(&cfg);
        cfg.journal_size = 16;
        cfg.unmatched_size = 16;
        cfg.seed = 1;
        cfg.record_body_max = BODY_MAX;
        cfg.redact_headers = "x-secret";
        dp_err_t err;
        check(dp_engine_open(&cfg, dp_storage_memory_new(), &e, &err) == 0);
        json_t *svc = json_loads(
            "{\"name\": \"up\", \"target\": \"http://up.example\", "
            "\"pathPrefix\": \"/\", \"recordHeaders\": [\"x-tenant\", "
            "\"accept\"]}",
            0, NULL);
        json_t *out = NULL;
        check(dp_engine_service_create(e, "sandbox", svc, &out, &err) == 0);
        json_decref(out);
        json_decref(svc);
    }
    return e;
}

static void set_mode(dp_engine_t *e, const char *mode)
{
    json_t *out = NULL;
    dp_err_t err;
    check(dp_engine_mode_set(e, "sandbox", mode, &out, &err) == 0);
    json_decref(out);
}

static size_t recorded_count(dp_engine_t *e)
{
    const char *tags[] = {"recorded"};
    dp_mock_query_t q = {.ns = "sandbox", .tags = tags, .n_tags = 1};
    json_t *out = NULL;
    dp_err_t err;
    check(dp_engine_mock_list(e, &q, &out, &err) == 0);
    size_t n = (size_t)json_integer_value(json_object_get(out, "total"));
    json_decref(out);
    return n;
}

/* Splits s into name/value pairs at sep (between pairs) and kv (within
 * one); a pair without kv has an empty value. Returns the count. */
static size_t split_kv(doppel_str_t s, char sep, char kv, doppel_kv_t *out)
{
    size_t n = 0;
    const char *p = s.ptr, *end = s.ptr + s.len;
    while (p < end && n < MAX_KV) {
        const char *e = memchr(p, sep, (size_t)(end - p));
        if (e == NULL)
            e = end;
        const char *m = memchr(p, kv, (size_t)(e - p));
        const char *ve = m ? m + 1 : e;
        while (kv == ':' && ve < e && *ve == ' ')
            ve++;
        out[n].name = (doppel_str_t){p, (size_t)((m ? m : e) - p)};
        out[n].value = (doppel_str_t){ve, (size_t)(e - ve)};
        n++;
        p = e + 1;
    }
    return n;
}

static int is_json_ct(const doppel_kv_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name.len == 12 &&
            strncasecmp(h[i].name.ptr, "content-type", 12) == 0)
            return h[i].value.len < 200 &&
                   memmem(h[i].value.ptr, h[i].value.len, "json", 4) != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The fields, NUL-terminated copies (the engine may read strings). */
    doppel_str_t fld[8] = {{0}};
    char *copy = malloc(size + 1);
    check(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    size_t nf = 0;
    char *p = copy, *end = copy + size;
    while (nf < 8) {
        char *e = memchr(p, 0xff, (size_t)(end - p));
        if (e == NULL || nf == 7)
            e = end;
        *e = '\0';
        fld[nf++] = (doppel_str_t){p, (size_t)(e - p)};
        if (e == end)
            break;
        p = e + 1;
    }
    for (size_t i = nf; i < 8; i++)
        fld[i] = (doppel_str_t){"", 0};

    doppel_kv_t q[MAX_KV], h[MAX_KV], rh[MAX_KV];
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("http");
    x.operation = fld[0];
    x.target = fld[1];
    x.params = q;
    x.n_params = split_kv(fld[2], '&', '=', q);
    x.metadata = h;
    x.n_metadata = split_kv(fld[3], '\n', ':', h);
    x.body = (const uint8_t *)fld[4].ptr;
    x.body_len = fld[4].len;
    x.request_id = DOPPEL_STR("fz-1");
    x.remote_addr = DOPPEL_STR("127.0.0.1");

    doppel_fetch_result_t res = {.size = sizeof(res)};
    res.status = atoi(fld[5].ptr);
    res.headers = rh;
    res.n_headers = split_kv(fld[6], '\n', ':', rh);
    res.body = fld[7].ptr;
    res.body_len = fld[7].len;

    dp_engine_t *e = engine();
    set_mode(e, "LEARN");
    doppel_reply_t *r = NULL;
    check(dp_engine_match(e, &x, &r) == 0);
    if (r->kind != DOPPEL_REPLY_PROXY || !(r->flags & DOPPEL_REPLY_F_RECORD)) {
        dp_engine_reply_free(r);
        free(copy);
        return 0;
    }
    dp_err_t err;
    int rc = dp_engine_record(e, &x, r, &res, &err);
    dp_engine_reply_free(r);
    if (rc != 0) {
        check(err.message[0] != '\0');
        check(recorded_count(e) == 0); /* a refusal stores nothing */
        free(copy);
        return 0;
    }
    check(recorded_count(e) == 1);

    /* The recording replays. */
    set_mode(e, "MOCK");
    r = NULL;
    check(dp_engine_match(e, &x, &r) == 0);
    if (r->kind != DOPPEL_REPLY_RESPONSE || r->mock_id.len < 4 ||
        memcmp(r->mock_id.ptr, "rec-", 4) != 0) {
        fprintf(stderr, "recorded mock does not match its request: kind %u "
                        "status %d body %.*s\n",
                r->kind, r->status, (int)r->body_len, (const char *)r->body);
        __builtin_trap();
    }
    check(r->status == res.status);
    if (res.body_len <= BODY_MAX) {
        json_t *want = NULL, *got = NULL;
        if (res.body_len && is_json_ct(rh, res.n_headers)) {
            want = json_loadb(res.body, res.body_len, JSON_DECODE_ANY, NULL);
            if (!json_is_object(want) && !json_is_array(want)) {
                json_decref(want);
                want = NULL;
            }
        }
        if (want) {
            got = json_loadb((const char *)r->body, r->body_len,
                             JSON_DECODE_ANY, NULL);
            check(got != NULL && json_equal(want, got));
        } else if (r->body_len != res.body_len ||
                   memcmp(r->body, res.body, res.body_len) != 0) {
            fprintf(stderr, "replayed body differs: %zu bytes, recorded %zu\n",
                    r->body_len, res.body_len);
            __builtin_trap();
        }
        json_decref(want);
        json_decref(got);
    }
    dp_engine_reply_free(r);
    check(dp_engine_reset(e, "sandbox", &err) == 0);
    check(recorded_count(e) == 0);
    free(copy);
    return 0;
}
