/*
 * libFuzzer target: arbitrary bytes as a mock JSON document, through the
 * whole validation and compilation of the mock model
 * (dp_engine_mock_validate), then, when the mock is valid, one put and a
 * few requests against it on an in-memory engine. Must never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "engine.h"

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
            if (id)
                dp_engine_mock_purge(e, id, &err);
            json_decref(stored);
        }
    }
    json_decref(m);
    return 0;
}
