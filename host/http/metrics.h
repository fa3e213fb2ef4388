/*
 * Prometheus metrics of the host.
 *
 * Each worker owns a dp_metrics_worker_t and is its only writer (plain
 * relaxed atomic adds, no locks on the request path). A scrape sums every
 * worker's counters with relaxed loads; a scrape may see one worker's
 * counters a few requests apart from another's, which Prometheus tolerates.
 */
#ifndef DP_METRICS_H
#define DP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define DP_METRICS_MAX_OWNERS 64 /* distinct mount owners (plugins + host) */
#define DP_METRICS_BUCKETS 12

typedef struct dp_metrics dp_metrics_t;               /* process-wide */
typedef struct dp_metrics_worker dp_metrics_worker_t; /* one per worker */

dp_metrics_t *dp_metrics_new(unsigned workers);
void dp_metrics_free(dp_metrics_t *m);
dp_metrics_worker_t *dp_metrics_worker(dp_metrics_t *m, unsigned worker);
/* The process-wide metrics a worker's counters belong to. */
dp_metrics_t *dp_metrics_of(dp_metrics_worker_t *w);

/* Registers an owner name ("host", "http", "mcp") and returns its slot,
 * -ENOSPC when DP_METRICS_MAX_OWNERS are taken, -EINVAL for a name outside
 * [A-Za-z0-9._-]{1,64}. Same name, same slot. Any thread (the front
 * resolves a route's owner on its first request). */
int dp_metrics_owner(dp_metrics_t *m, const char *name);

/* One finished request: owner slot, HTTP status, latency in microseconds.
 * Only the worker's own thread. Latency buckets (seconds): 0.0001 0.00025
 * 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 1 5 +Inf. */
void dp_metrics_request(dp_metrics_worker_t *w, int owner, int status,
                        uint64_t latency_us);

/* Client connections of the worker's listening servers: delta +1 when one
 * is accepted, -1 when it closes; shed: idle connections closed to make
 * room (cap reached or descriptors exhausted); a listener that stopped
 * accepting for a while. Only the worker's own thread. */
void dp_metrics_conn_open(dp_metrics_worker_t *w, int delta);
void dp_metrics_conn_shed(dp_metrics_worker_t *w, uint64_t n);
void dp_metrics_accept_paused(dp_metrics_worker_t *w);

/* Plugin counters (svc->metric_add). Any worker; takes a short lock, off the
 * hot path of the host's own counters. */
int dp_metrics_plugin_add(dp_metrics_t *m, const char *plugin,
                          const char *name, const char *labels, uint64_t v);

/* Sets a host gauge, e.g. ("doppel_plugin_loaded", "plugin=\"http\"", 1) or
 * ("doppel_uptime_seconds", NULL, 12). Any thread; short lock. */
int dp_metrics_gauge_set(dp_metrics_t *m, const char *name, const char *labels,
                         double v);

/* Renders the Prometheus text exposition (version 0.0.4) into a malloc'd
 * string. Caller frees. */
char *dp_metrics_render(dp_metrics_t *m, size_t *len);

#endif
