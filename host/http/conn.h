/*
 * Connections, timers and descriptor watches a plugin copy owns (ABI 1.2,
 * sdk/include/doppel/conn.h): the host side of doppel_conn_t,
 * doppel_timer_t and doppel_watch_t.
 *
 * A dp_conn_set holds everything of that kind that one plugin copy made on
 * one loop, so that what the copy leaves behind is closed (without
 * callbacks) when it is destroyed. The set knows nothing of workers or
 * plugin contexts: host/conn_services.c maps a doppel_ctx_t to its set.
 *
 * Threading: everything here runs on the set's loop thread.
 */
#ifndef DP_HTTP_CONN_H
#define DP_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "doppel/conn.h"
#include "doppel/plugin.h"

typedef struct dp_conn_set dp_conn_set_t;

/* A set on loop; NULL on ENOMEM. */
dp_conn_set_t *dp_conn_set_new(uv_loop_t *loop);

/* From now on timer_start, fd_watch and adopt refuse (-ESHUTDOWN): the copy
 * is about to be destroyed. What exists keeps working. */
void dp_conn_set_shutdown(dp_conn_set_t *s);

/* Closes every connection, timer and watch still in the set without any
 * callback (write callbacks, on_close and timer functions are not called:
 * their owner is gone) and frees the set once their handles closed, so the
 * loop must run afterwards. NULL is a no-op. */
void dp_conn_set_free(dp_conn_set_t *s);

/* What the set holds now (connections not yet closed, timers not stopped,
 * watches not stopped). For tests and the stop log. */
size_t dp_conn_set_connections(const dp_conn_set_t *s);
size_t dp_conn_set_timers(const dp_conn_set_t *s);
size_t dp_conn_set_watches(const dp_conn_set_t *s);

/* Called once when a connection's descriptor is closed: the slot it held in
 * the server that accepted it (max_connections). */
typedef void (*dp_conn_release_fn)(void *arg);

/* Makes a doppel_conn_t of a connected, non-blocking socket fd (owned from
 * this call on, closed on every path) and calls accept(state, conn, info).
 * pre/pre_len: bytes already read from the socket (copied), delivered as
 * the connection's first on_read from the loop after conn_start. release
 * (may be NULL) is called with release_arg once the descriptor is closed.
 * Returns 0 when accept kept the connection, or a negative errno: accept
 * refused it (its return value) or the connection could not be made
 * (-ENOMEM, -ESHUTDOWN); then fd is closed, release was called, and no
 * connection callback follows. */
int dp_conn_adopt(dp_conn_set_t *s, uv_os_sock_t fd, uint32_t via,
                  const void *pre, size_t pre_len, doppel_conn_accept_fn accept,
                  void *state, dp_conn_release_fn release, void *release_arg);

/* The services of conn.h / plugin.h, with the contracts written there. */
int dp_conn_start(doppel_conn_t *c, const doppel_conn_cbs_t *cbs, void *data);
int dp_conn_write(doppel_conn_t *c, const void *buf, size_t len,
                  doppel_write_cb cb, void *data);
size_t dp_conn_pending(doppel_conn_t *c);
int dp_conn_pause(doppel_conn_t *c, int paused);
void dp_conn_close(doppel_conn_t *c, uint32_t flags);

int dp_timer_start(dp_conn_set_t *s, uint64_t timeout_ms, uint64_t repeat_ms,
                   doppel_fn_t fn, void *data, doppel_timer_t **out);
void dp_timer_stop(doppel_timer_t *t);

int dp_fd_watch(dp_conn_set_t *s, int fd, uint32_t events, doppel_watch_cb cb,
                void *data, doppel_watch_t **out);
int dp_fd_watch_update(doppel_watch_t *w, uint32_t events);
void dp_fd_watch_stop(doppel_watch_t *w);

/* How long CLOSE_FLUSH waits for the queue to go out (conn.h: 5 s). */
#define DP_CONN_FLUSH_MS 5000

#endif
