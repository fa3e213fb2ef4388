/*
 * Bounded rings of JSON entries (the journal and the unmatched list). Fixed
 * capacity, so memory stays flat however long the process serves; the
 * oldest entry is dropped first. Entries are kept as compact JSON text (a
 * jansson tree costs several times more memory) and parsed back only when
 * listed. One short mutex per ring: a push is a pointer store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int dp_ring_init(dp_ring_t *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->cap = cap ? cap : 1;
    r->items = calloc(r->cap, sizeof(dp_ring_item_t));
    if (r->items == NULL)
        return -ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    return 0;
}

void dp_ring_destroy(dp_ring_t *r)
{
    if (r->items == NULL)
        return;
    for (size_t i = 0; i < r->cap; i++)
        free(r->items[i].text);
    free(r->items);
    r->items = NULL;
    pthread_mutex_destroy(&r->mu);
}

void dp_ring_push(dp_ring_t *r, json_t *item)
{
    if (item == NULL)
        return;
    /* text = <namespace> NUL <json> */
    const char *ns = json_string_value(json_object_get(item, "namespace"));
    size_t nl = ns ? strlen(ns) : 0;
    size_t jl = json_dumpb(item, NULL, 0, JSON_COMPACT);
    char *text = jl ? malloc(nl + 1 + jl + 1) : NULL;
    if (text) {
        memcpy(text, ns ? ns : "", nl);
        text[nl] = '\0';
        json_dumpb(item, text + nl + 1, jl, JSON_COMPACT);
        text[nl + 1 + jl] = '\0';
    }
    json_decref(item);
    if (text == NULL)
        return;
    char *old;
    pthread_mutex_lock(&r->mu);
    old = r->items[r->head].text;
    r->items[r->head].text = text;
    r->head = (r->head + 1) % r->cap;
    if (r->count < r->cap)
        r->count++;
    r->total_seen++;
    pthread_mutex_unlock(&r->mu);
    free(old);
}

static int ns_is(const char *text, const char *ns)
{
    return ns == NULL || strcmp(text, ns) == 0;
}

static json_t *item_json(const char *text)
{
    return json_loads(text + strlen(text) + 1, 0, NULL);
}

json_t *dp_ring_list(dp_ring_t *r, const char *ns, size_t offset,
                     size_t limit)
{
    if (limit == 0)
        limit = 100;
    if (limit > 1000)
        limit = 1000;
    json_t *items = json_array();
    if (items == NULL)
        return NULL;
    size_t total = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < r->count; k++) {
        /* newest first */
        size_t i = (r->head + r->cap - 1 - k) % r->cap;
        const char *it = r->items[i].text;
        if (!ns_is(it, ns))
            continue;
        if (total >= offset && total < offset + limit)
            json_array_append_new(items, item_json(it));
        total++;
    }
    pthread_mutex_unlock(&r->mu);
    return json_pack("{s:o, s:I, s:I, s:I, s:b}", "items", items, "total",
                     (json_int_t)total, "offset", (json_int_t)offset, "limit",
                     (json_int_t)limit, "hasMore", offset + limit < total);
}

void dp_ring_clear(dp_ring_t *r, const char *ns)
{
    char **keep = calloc(r->cap, sizeof(char *));
    char **drop = calloc(r->cap, sizeof(char *));
    if (keep == NULL || drop == NULL) {
        free(keep);
        free(drop);
        return;
    }
    size_t nk = 0, nd = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < r->count; k++) {
        /* oldest first, so the kept ones stay in order */
        size_t i = (r->head + r->cap - r->count + k) % r->cap;
        char *it = r->items[i].text;
        r->items[i].text = NULL;
        if (ns_is(it, ns))
            drop[nd++] = it;
        else
            keep[nk++] = it;
    }
    for (size_t k = 0; k < nk; k++)
        r->items[k].text = keep[k];
    r->count = nk;
    r->head = nk % r->cap;
    pthread_mutex_unlock(&r->mu);
    for (size_t k = 0; k < nd; k++)
        free(drop[k]);
    free(keep);
    free(drop);
}
