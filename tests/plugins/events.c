/*
 * Test plugin: subscribes to MOCK_CHANGED and STORE_CHANGED and reports, at
 * GET /test-events, what this copy (one per worker) has seen. Used by
 * tests/integration/test_events.py.
 */
#include <stdio.h>
#include <string.h>

#include "doppel/plugin.h"

typedef struct state {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    unsigned mock_events, store_events;
    unsigned last_change;
    char last_mock[128];
    char last_ns[128];
    char last_scope[160];
    char last_key[128];
} state_t;

static void copy_str(char *dst, size_t cap, doppel_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static int on_event(void *p, const doppel_event_t *ev)
{
    state_t *st = p;
    if (ev->id == DOPPEL_EVENT_MOCK_CHANGED && ev->data_version >= 1) {
        const doppel_mock_event_t *me = ev->data;
        st->mock_events++;
        st->last_change = me->change;
        copy_str(st->last_mock, sizeof(st->last_mock), me->mock_id);
        copy_str(st->last_ns, sizeof(st->last_ns), me->ns);
    } else if (ev->id == DOPPEL_EVENT_STORE_CHANGED && ev->data_version >= 1) {
        const doppel_store_event_t *se = ev->data;
        st->store_events++;
        copy_str(st->last_scope, sizeof(st->last_scope), se->scope);
        copy_str(st->last_key, sizeof(st->last_key), se->key);
    }
    return DOPPEL_OK;
}

static int report(void *p, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    state_t *st = p;
    char body[768];
    int n = snprintf(body, sizeof(body),
                     "{\"worker\":%u,\"mock\":%u,\"store\":%u,"
                     "\"lastMock\":\"%s\",\"lastNs\":\"%s\","
                     "\"lastChange\":%u,\"lastScope\":\"%s\","
                     "\"lastKey\":\"%s\"}",
                     st->svc->worker_index(st->ctx), st->mock_events,
                     st->store_events, st->last_mock, st->last_ns,
                     st->last_change, st->last_scope, st->last_key);
    doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                      DOPPEL_STR("application/json")};
    st->svc->http_respond(ex, 200, &ct, 1, body, (size_t)n);
    return 0;
}

static int init(doppel_ctx_t *ctx, const doppel_services_t *svc, void **out)
{
    state_t *st = svc->alloc(sizeof(*st));
    if (st == NULL)
        return -12; /* -ENOMEM */
    memset(st, 0, sizeof(*st));
    st->ctx = ctx;
    st->svc = svc;
    doppel_http_mount_t m = {sizeof(m), "/test-events", NULL, report, st, 0};
    int rc = svc->http_mount(ctx, &m);
    if (rc == 0)
        rc = svc->subscribe(ctx, DOPPEL_EVENT_MOCK_CHANGED);
    if (rc == 0)
        rc = svc->subscribe(ctx, DOPPEL_EVENT_STORE_CHANGED);
    if (rc < 0) {
        svc->free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void destroy(void *p)
{
    state_t *st = p;
    st->svc->free(st);
}

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "events",
    .version = "test",
    .summary = "reports the engine events each copy received (tests)",
    .kind = DOPPEL_KIND_FEATURE,
    .init = init,
    .destroy = destroy,
    .on_event = on_event,
};

DOPPEL_PLUGIN_DEFINE(desc)
