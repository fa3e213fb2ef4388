/*
 * libFuzzer target: arbitrary bytes as a mock JSON document, through the
 * whole validation and compilation of the mock model
 * (dp_engine_mock_validate), then, when the mock is valid, one put and a
 * few requests against it on an in-memory engine. Must never crash or leak.
 * A section registered like a plugin's (ABI 1.2, "toy": its check takes
 * op, target and server from the section and may return a normalised
 * section) is matched once plainly and three times in an engine session.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "doppel/protocol.h"
#include "engine.h"

static size_t copy_member(const json_t *sec, const char *k, char *buf,
                          size_t off, doppel_str_t *out)
{
    const json_t *v = json_object_get(sec, k);
    size_t l = json_is_string(v) ? json_string_length(v) : 0;
    if (l == 0 || off + l > DOPPEL_MOCK_KEY_BUF)
        return off;
    memcpy(buf + off, json_string_value(v), l);
    *out = (doppel_str_t){buf + off, l};
    return off + l;
}

static int toy_check(struct doppel_ctx *ctx, const struct doppel_services *svc,
                     const doppel_mock_view_t *m, doppel_mock_key_t *k,
                     doppel_check_error_t *err)
{
    (void)ctx;
    (void)svc;
    json_t *sec = json_loadb(m->section.ptr, m->section.len, 0, NULL);
    if (!json_is_object(sec)) {
        json_decref(sec);
        return -EIO;
    }
    int rc = 0;
    if (json_is_true(json_object_get(sec, "refuse"))) {
        /* fields and messages as long as they come */
        memset(err->field, 'f', sizeof(err->field));
        memset(err->message, 'm', sizeof(err->message));
        rc = -EINVAL;
    } else {
        size_t o = copy_member(sec, "op", k->buf, 0, &k->operation);
        o = copy_member(sec, "target", k->buf, o, &k->target);
        o = copy_member(sec, "server", k->buf, o, &k->server);
        if (json_is_true(json_object_get(sec, "normalise")) ||
            json_is_string(json_object_get(sec, "raw"))) {
            /* a normalised section: the same without "normalise", or
             * whatever text "raw" holds (not always an object) */
            const json_t *raw = json_object_get(sec, "raw");
            json_object_del(sec, "normalise");
            char *t = json_is_string(raw) ? strdup(json_string_value(raw))
                                          : json_dumps(sec, JSON_COMPACT);
            if (t) {
                k->owned_section = t;
                k->section = (doppel_str_t){t, strlen(t)};
            }
        }
    }
    json_decref(sec);
    return rc;
}

static int toy_explain(struct doppel_ctx *ctx,
                       const struct doppel_services *svc,
                       const doppel_exchange_t *x, char *out, size_t len)
{
    (void)ctx;
    (void)svc;
    (void)x;
    memset(out, 'r', len); /* unterminated on purpose */
    return 1;
}

static const char *const toy_body[] = {"conditions", NULL};
static const char *const toy_meta[] = {"meta", NULL};
static const char *const toy_fields[] = {"note", "stream", NULL};
static const doppel_protocol_def_t toy_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "toy",
    .body_conditions = toy_body,
    .meta_conditions = toy_meta,
    .response_fields = toy_fields,
    .status_min = 0,
    .status_max = 16,
    .status_default = 0,
    .check = toy_check,
    .explain_miss = toy_explain,
};

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
        static dp_protos_t *reg;
        char why[256];
        reg = dp_protos_new();
        if (reg == NULL || dp_protos_add(reg, &toy_def, NULL, NULL, "fuzz",
                                         why, sizeof(why)) != 0)
            __builtin_trap();
        cfg.protos = reg;
        dp_err_t err;
        if (dp_engine_open(&cfg, dp_storage_memory_new(), &e, &err) != 0)
            __builtin_trap();
    }
    return e;
}

static void hit(dp_engine_t *e, const char *method, const char *path,
                const uint8_t *body, size_t blen)
{
    doppel_kv_t h[] = {{DOPPEL_STR("X-Key"), DOPPEL_STR("abc")},
                       {DOPPEL_STR("Authorization"), DOPPEL_STR("Bearer t")}};
    doppel_kv_t q[] = {{DOPPEL_STR("id"), DOPPEL_STR("42")}};
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("http");
    x.operation = (doppel_str_t){method, strlen(method)};
    x.target = (doppel_str_t){path, strlen(path)};
    x.metadata = h;
    x.n_metadata = 2;
    x.params = q;
    x.n_params = 1;
    x.body = body;
    x.body_len = blen;
    doppel_reply_t *r = NULL;
    if (dp_engine_match(e, &x, &r) == 0)
        dp_engine_reply_free(r);
}

/* An MCP call (or list, target NULL) on the mock's server. */
static void hit_mcp(dp_engine_t *e, const char *method, const char *server,
                    const char *target, const uint8_t *body, size_t blen)
{
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("mcp");
    x.ns = DOPPEL_STR("fuzz");
    x.operation = (doppel_str_t){method, strlen(method)};
    x.server = (doppel_str_t){server, strlen(server)};
    x.target = (doppel_str_t){target ? target : "",
                              target ? strlen(target) : 0};
    x.body = body;
    x.body_len = blen;
    doppel_reply_t *r = NULL;
    if (dp_engine_match(e, &x, &r) == 0)
        dp_engine_reply_free(r);
}

/* The toy section's mock: once plainly, then three messages of a session
 * (the first with the session's metadata, the others their own). */
static void hit_toy(dp_engine_t *e, const json_t *sec, const uint8_t *body,
                    size_t blen)
{
    const char *op = json_string_value(json_object_get(sec, "op"));
    const char *tg = json_string_value(json_object_get(sec, "target"));
    doppel_kv_t h[] = {{DOPPEL_STR("x-key"), DOPPEL_STR("abc")}};
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("toy");
    x.ns = DOPPEL_STR("fuzz");
    x.operation = (doppel_str_t){op ? op : "", op ? strlen(op) : 0};
    x.target = (doppel_str_t){tg ? tg : "/", tg ? strlen(tg) : 1};
    x.metadata = h;
    x.n_metadata = 1;
    x.body = body;
    x.body_len = blen;
    doppel_reply_t *r = NULL;
    if (dp_engine_match(e, &x, &r) == 0)
        dp_engine_reply_free(r);
    dp_session_t *s = NULL;
    if (dp_engine_session_open(e, &x, &s) != 0)
        return;
    for (int i = 0; i < 3; i++) {
        doppel_exchange_t m = {0};
        m.size = sizeof(m);
        m.body = body;
        m.body_len = blen;
        if (i == 2) {
            m.metadata = h;
            m.n_metadata = 1;
        }
        if (dp_engine_session_match(s, &m, 0, &r) == 0)
            dp_engine_reply_free(r);
    }
    dp_engine_session_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *m = json_loadb((const char *)data, size, 0, NULL);
    if (m == NULL)
        return 0;
    dp_engine_t *e = engine();
    dp_err_t err;
    if (dp_engine_mock_validate(e, m, NULL, &err) == 0) {
        json_t *stored = NULL;
        if (dp_engine_mock_put(e, m, "fuzz", &stored, NULL, &err) == 0) {
            const char *route = json_string_value(
                json_object_get(json_object_get(stored, "http"), "route"));
            const char *id = json_string_value(json_object_get(stored, "id"));
            hit(e, "GET", route ? route : "/", data, size);
            hit(e, "POST", "/a/b/c", (const uint8_t *)"{\"a\":1}", 7);
            const json_t *mcp = json_object_get(stored, "mcp");
            const char *meth = json_string_value(json_object_get(mcp,
                                                                 "method"));
            if (meth) {
                static const char *const keys[] = {"tool", "resource",
                                                   "prompt"};
                static const char *const lists[] = {
                    "tools/list", "resources/list", "prompts/list"};
                const char *srv = json_string_value(
                    json_object_get(mcp, "serverName"));
                for (size_t i = 0; i < 3; i++) {
                    const char *t = json_string_value(
                        json_object_get(mcp, keys[i]));
                    if (t)
                        hit_mcp(e, meth, srv ? srv : "", t, data, size);
                    hit_mcp(e, lists[i], srv ? srv : "", NULL, NULL, 0);
                }
            }
            const json_t *toy = json_object_get(stored, "toy");
            if (toy)
                hit_toy(e, toy, data, size);
            if (id)
                dp_engine_mock_purge(e, id, &err);
            json_decref(stored);
        }
    }
    json_decref(m);
    return 0;
}
