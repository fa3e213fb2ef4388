/*
 * ABI 1.2 services: connections the plugin owns, timers, descriptor
 * watches. The machinery is host/http/conn.c; this file maps a plugin
 * copy's context to its set and refuses contexts without a loop (the
 * section contexts the engine passes to protocol callbacks have no
 * worker).
 */
#include <errno.h>

#include "conn_services.h"

static int has_loop(const doppel_ctx_t *ctx)
{
    return ctx != NULL && ctx->worker != NULL;
}

dp_conn_set_t *dp_ctx_conn_set(doppel_ctx_t *ctx)
{
    if (!has_loop(ctx))
        return NULL;
    if (ctx->io == NULL)
        ctx->io = dp_conn_set_new(dp_worker_loop(ctx->worker));
    return ctx->io;
}

void dp_ctx_conn_release(doppel_ctx_t *ctx)
{
    if (ctx == NULL || ctx->io == NULL)
        return;
    dp_conn_set_free(ctx->io);
    ctx->io = NULL;
}

int dp_svc_conn_listen(doppel_ctx_t *ctx, const char *address,
                       const doppel_conn_listener_t *l)
{
    if (!has_loop(ctx) || address == NULL || l == NULL)
        return -EINVAL;
    return dp_worker_conn_listen(ctx, address, l);
}

int dp_svc_conn_listen_port(doppel_ctx_t *ctx, unsigned i)
{
    if (!has_loop(ctx))
        return -EINVAL;
    return dp_worker_conn_port(ctx, i);
}

int dp_svc_conn_claim(doppel_ctx_t *ctx, const doppel_conn_claim_t *c)
{
    if (!has_loop(ctx) || c == NULL)
        return -EINVAL;
    return dp_worker_claim(ctx, c);
}

int dp_svc_http_upgrade(doppel_ctx_t *ctx, doppel_http_exchange_t *ex,
                        const doppel_kv_t *headers, size_t n_headers,
                        doppel_conn_accept_fn on_accept, void *state)
{
    if (!has_loop(ctx) || ex == NULL || on_accept == NULL)
        return -EINVAL;
    return dp_worker_upgrade(ctx, ex, headers, n_headers, on_accept, state);
}

int dp_svc_timer_start(doppel_ctx_t *ctx, uint64_t timeout_ms,
                       uint64_t repeat_ms, doppel_fn_t fn, void *data,
                       doppel_timer_t **out)
{
    if (!has_loop(ctx) || fn == NULL || out == NULL)
        return -EINVAL;
    dp_conn_set_t *s = dp_ctx_conn_set(ctx);
    return s ? dp_timer_start(s, timeout_ms, repeat_ms, fn, data, out)
             : -ENOMEM;
}

uint64_t dp_svc_now_ms(doppel_ctx_t *ctx)
{
    return has_loop(ctx) ? uv_now(dp_worker_loop(ctx->worker)) : 0;
}

int dp_svc_fd_watch(doppel_ctx_t *ctx, int fd, uint32_t events,
                    doppel_watch_cb cb, void *data, doppel_watch_t **out)
{
    if (!has_loop(ctx) || cb == NULL || out == NULL)
        return -EINVAL;
    dp_conn_set_t *s = dp_ctx_conn_set(ctx);
    return s ? dp_fd_watch(s, fd, events, cb, data, out) : -ENOMEM;
}
