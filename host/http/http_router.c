/*
 * The HTTP router: host routes, then classifier mounts by priority, then
 * prefix mounts longest prefix first (segment boundaries), "/" catch-all.
 *
 * Routes live in three arrays kept sorted at insertion so that a lookup is a
 * linear scan that stops at the first hit; route counts are small (a few
 * per plugin), so this beats a trie on both code size and cache behaviour.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_router.h"

typedef struct dp_route_list {
    dp_route_t **v;
    size_t n, cap;
} dp_route_list_t;

typedef struct dp_router_cleanup {
    void (*fn)(void *data);
    void *data;
    struct dp_router_cleanup *next;
} dp_router_cleanup_t;

struct dp_router {
    dp_route_list_t host;     /* host routes, longest prefix first */
    dp_route_list_t classify; /* plugin classifier mounts, priority desc */
    dp_route_list_t prefix;   /* plugin prefix mounts, length then priority */
    dp_router_cleanup_t *cleanups;
};

dp_router_t *dp_router_new(void)
{
    return calloc(1, sizeof(dp_router_t));
}

static void list_free(dp_route_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]->prefix);
        free(l->v[i]);
    }
    free(l->v);
}

void dp_router_free(dp_router_t *r)
{
    if (r == NULL)
        return;
    list_free(&r->host);
    list_free(&r->classify);
    list_free(&r->prefix);
    while (r->cleanups) {
        dp_router_cleanup_t *c = r->cleanups;
        r->cleanups = c->next;
        c->fn(c->data);
        free(c);
    }
    free(r);
}

int dp_router_on_free(dp_router_t *r, void (*fn)(void *data), void *data)
{
    dp_router_cleanup_t *c = malloc(sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->fn = fn;
    c->data = data;
    c->next = r->cleanups;
    r->cleanups = c;
    return 0;
}

size_t dp_router_count(const dp_router_t *r)
{
    return r->host.n + r->classify.n + r->prefix.n;
}

/* Orders routes: longer prefix first, then higher priority; equal keys keep
 * insertion order (first mounted wins). */
static int before_by_prefix(const dp_route_t *a, const dp_route_t *b)
{
    if (a->prefix_len != b->prefix_len)
        return a->prefix_len > b->prefix_len;
    return a->mount.priority > b->mount.priority;
}

static int before_by_priority(const dp_route_t *a, const dp_route_t *b)
{
    return a->mount.priority > b->mount.priority;
}

static int list_insert(dp_route_list_t *l, dp_route_t *rt,
                       int (*before)(const dp_route_t *, const dp_route_t *))
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        dp_route_t **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    size_t i = l->n;
    while (i > 0 && before(rt, l->v[i - 1])) {
        l->v[i] = l->v[i - 1];
        i--;
    }
    l->v[i] = rt;
    l->n++;
    return 0;
}

static int prefix_taken(const dp_route_list_t *l, const char *p, size_t len,
                        int priority)
{
    for (size_t i = 0; i < l->n; i++) {
        const dp_route_t *o = l->v[i];
        if (o->mount.classify == NULL && o->prefix_len == len &&
            o->mount.priority == priority && memcmp(o->prefix, p, len) == 0)
            return 1;
    }
    return 0;
}

int dp_router_add(dp_router_t *r, const doppel_http_mount_t *m, int host_route,
                  const char *owner)
{
    if (r == NULL || m == NULL || m->handler == NULL ||
        (m->prefix == NULL && m->classify == NULL) ||
        (m->prefix != NULL && m->prefix[0] != '/'))
        return -EINVAL;
    if (m->size != 0 && m->size < offsetof(doppel_http_mount_t, priority) +
                                       sizeof(int))
        return -EINVAL;

    size_t plen = 0;
    if (m->prefix != NULL) {
        plen = strlen(m->prefix);
        while (plen > 1 && m->prefix[plen - 1] == '/')
            plen--; /* "/api/" means the segment "/api" */
        if (memchr(m->prefix, '?', plen) != NULL)
            return -EINVAL;
        dp_route_list_t *l = host_route ? &r->host : &r->prefix;
        if (m->classify == NULL && prefix_taken(l, m->prefix, plen, m->priority))
            return -EEXIST;
    }

    dp_route_t *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return -ENOMEM;
    /* a mount from an older plugin may be shorter: copy what it has */
    size_t msz = m->size ? m->size : sizeof(*m);
    memcpy(&rt->mount, m, msz < sizeof(*m) ? msz : sizeof(*m));
    if (m->prefix != NULL) {
        rt->prefix = strndup(m->prefix, plen);
        if (rt->prefix == NULL) {
            free(rt);
            return -ENOMEM;
        }
        rt->prefix_len = plen;
    }
    rt->mount.prefix = rt->prefix;
    rt->host_route = host_route != 0;
    rt->owner = owner ? owner : "host";
    atomic_init(&rt->metrics_slot, -1);
    atomic_init(&rt->metrics_of, NULL);

    int rc;
    if (host_route)
        rc = list_insert(&r->host, rt, before_by_prefix);
    else if (m->classify != NULL)
        rc = list_insert(&r->classify, rt, before_by_priority);
    else
        rc = list_insert(&r->prefix, rt, before_by_prefix);
    if (rc < 0) {
        free(rt->prefix);
        free(rt);
    }
    return rc;
}

/* "/mcp" matches "/mcp" and "/mcp/..." but not "/mcpx"; "/" matches every
 * path that starts with '/'. */
static int prefix_matches(const dp_route_t *rt, const doppel_str_t *path)
{
    if (rt->prefix_len == 1)
        return path->len >= 1 && path->ptr[0] == '/';
    if (path->len < rt->prefix_len ||
        memcmp(path->ptr, rt->prefix, rt->prefix_len) != 0)
        return 0;
    return path->len == rt->prefix_len || path->ptr[rt->prefix_len] == '/';
}

static size_t rest_offset(const dp_route_t *rt)
{
    return (rt->prefix == NULL || rt->prefix_len == 1) ? 0 : rt->prefix_len;
}

static const dp_route_t *scan(const dp_route_list_t *l,
                              const doppel_http_request_t *req,
                              size_t *rest_off)
{
    for (size_t i = 0; i < l->n; i++) {
        const dp_route_t *rt = l->v[i];
        if (rt->prefix != NULL && !prefix_matches(rt, &req->path))
            continue;
        if (rt->mount.classify != NULL &&
            !rt->mount.classify(rt->mount.state, req))
            continue;
        *rest_off = rest_offset(rt);
        return rt;
    }
    return NULL;
}

const dp_route_t *dp_router_match(const dp_router_t *r,
                                  const doppel_http_request_t *req,
                                  size_t *rest_off)
{
    const dp_route_t *rt;
    *rest_off = 0;
    if (r == NULL)
        return NULL;
    if ((rt = scan(&r->host, req, rest_off)) != NULL)
        return rt;
    if ((rt = scan(&r->classify, req, rest_off)) != NULL)
        return rt;
    return scan(&r->prefix, req, rest_off);
}
