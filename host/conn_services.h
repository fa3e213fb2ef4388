/*
 * ABI 1.2 services of connections the plugin owns, timers and descriptor
 * watches (sdk/include/doppel/conn.h): the entries of dp_services, and the
 * worker's side of conn_listen and conn_claim.
 *
 * Threading: a copy's loop thread, like the copy.
 */
#ifndef DP_CONN_SERVICES_H
#define DP_CONN_SERVICES_H

#include "http/conn.h"
#include "runtime.h"

/* The copy's set, made on first use; NULL without a worker (a section
 * context) or on ENOMEM. */
dp_conn_set_t *dp_ctx_conn_set(doppel_ctx_t *ctx);
/* After the copy's destroy returned: closes what it left, without
 * callbacks. */
void dp_ctx_conn_release(doppel_ctx_t *ctx);

/* worker.c: svc->conn_listen, conn_listen_port, conn_claim for ctx's
 * worker (contracts in plugin.h). */
int dp_worker_conn_listen(doppel_ctx_t *ctx, const char *address,
                          const doppel_conn_listener_t *l);
int dp_worker_conn_port(doppel_ctx_t *ctx, unsigned i);
int dp_worker_claim(doppel_ctx_t *ctx, const doppel_conn_claim_t *c);
/* svc->http_upgrade for ctx's worker (contract in plugin.h). */
int dp_worker_upgrade(doppel_ctx_t *ctx, doppel_http_exchange_t *ex,
                      const doppel_kv_t *headers, size_t n_headers,
                      doppel_conn_accept_fn on_accept, void *state);

/* ABI 1.2 entries of dp_services. */
int dp_svc_conn_listen(doppel_ctx_t *ctx, const char *address,
                       const doppel_conn_listener_t *l);
int dp_svc_conn_listen_port(doppel_ctx_t *ctx, unsigned i);
int dp_svc_conn_claim(doppel_ctx_t *ctx, const doppel_conn_claim_t *c);
int dp_svc_http_upgrade(doppel_ctx_t *ctx, doppel_http_exchange_t *ex,
                        const doppel_kv_t *headers, size_t n_headers,
                        doppel_conn_accept_fn on_accept, void *state);
int dp_svc_timer_start(doppel_ctx_t *ctx, uint64_t timeout_ms,
                       uint64_t repeat_ms, doppel_fn_t fn, void *data,
                       doppel_timer_t **out);
uint64_t dp_svc_now_ms(doppel_ctx_t *ctx);
int dp_svc_fd_watch(doppel_ctx_t *ctx, int fd, uint32_t events,
                    doppel_watch_cb cb, void *data, doppel_watch_t **out);

#endif
