/*
 * Process-wide host state that host routes (/health, /metrics, admin API)
 * read. One dp_host_t per process; workers share it read-only except for the
 * atomically updated instance states.
 */
#ifndef DP_HOST_H
#define DP_HOST_H

#include <stddef.h>

#include "http/http_front.h"
#include "http/metrics.h"

struct dp_engine;

typedef struct dp_host dp_host_t;

/* One configured plugin instance (all of its per-worker copies). */
typedef struct dp_inst_info {
    const char *name;    /* instance (section) name */
    const char *plugin;  /* plugin name */
    const char *version; /* plugin version */
    const char *kind;    /* "protocol" or "feature" */
    unsigned abi_major, abi_minor;
    unsigned workers;         /* copies configured */
    unsigned workers_started; /* copies whose start returned 0 */
    const char *state; /* "loaded", "starting", "started", "stopping",
                          "stopped", "failed" */
} dp_inst_info_t;

/* Fills up to cap entries, returns the number of instances. Any thread. */
size_t dp_host_instances(dp_host_t *h, dp_inst_info_t *out, size_t cap);
/* 1 once every instance on every worker has started, 0 before and while
 * draining. Any thread. */
int dp_host_ready(dp_host_t *h);
double dp_host_uptime(dp_host_t *h); /* seconds since start */
/* 1 once the host began its orderly stop (SIGTERM), else 0. Any thread.
 * (Added by the HTTP front for /health's "draining" status.) */
int dp_host_draining(dp_host_t *h);
const char *dp_host_version(void);
struct dp_engine *dp_host_engine(dp_host_t *h);
dp_metrics_t *dp_host_metrics(dp_host_t *h);

/* /metrics with metrics_auth on: 0 when req carries a valid token, else a
 * negative errno with err filled (401/429). Any thread. */
struct dp_err;
int dp_host_metrics_check(dp_host_t *h, const doppel_http_request_t *req,
                          struct dp_err *err);

/* Mounts /health, /health/live, /health/ready and /metrics as host routes.
 * /metrics asks dp_host_metrics_check first. */
int dp_health_mount(dp_router_t *r, dp_host_t *h);

/* Mounts GET /api/v1/status, GET /api/v1/features and /__admin/reset
 * (host/admin/admin_server.c) with what they read of h
 * (server_routes.c). */
int dp_server_routes_mount(dp_router_t *r, dp_host_t *h);

#endif
