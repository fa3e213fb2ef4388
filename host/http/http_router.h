/*
 * Router internals shared by the front (http_front.c) and the router
 * (http_router.c). Not for plugins or other host parts: they use
 * dp_router_add from http_front.h.
 *
 * Threading: a router is built before its worker starts serving and is then
 * only read, on that worker's loop thread. The metrics slot cache is an
 * atomic so a router shared by several workers stays race-free.
 */
#ifndef DP_HTTP_ROUTER_H
#define DP_HTTP_ROUTER_H

#include <stdatomic.h>

#include "http_front.h"

typedef struct dp_route {
    doppel_http_mount_t mount; /* copied; mount.prefix points at prefix */
    char *prefix;              /* normalised (no trailing '/' except "/") */
    size_t prefix_len;
    int host_route;
    const char *owner;         /* borrowed, outlives the router */
    _Atomic int metrics_slot;  /* -1 until resolved for metrics_of */
    _Atomic(const void *) metrics_of;
} dp_route_t;

/* Finds the route for req (path already decoded). Sets *rest_off to the
 * number of path bytes the prefix consumed (0 for "/" and classifier
 * routes). Returns NULL when nothing matches (404). */
const dp_route_t *dp_router_match(const dp_router_t *r,
                                  const doppel_http_request_t *req,
                                  size_t *rest_off);

/* Number of routes (tests). */
size_t dp_router_count(const dp_router_t *r);

#endif
