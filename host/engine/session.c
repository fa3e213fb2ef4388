/*
 * Engine sessions (ABI 1.2): the state one long-lived stream keeps across
 * its messages. See engine.h ("Engine sessions") for the contract.
 *
 * A session is owned by one thread at a time (the loop that opened it), so
 * its state takes no lock: the store is a JSON object, the oneOf cursors a
 * map from mock id to a counter. Nothing of it is persisted; closing the
 * session frees all of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

struct dp_session {
    dp_engine_t *e;
    doppel_exchange_t x; /* the defaults of every message; strings in arena */
    doppel_kv_t *meta;
    char *arena;
    uint64_t count;  /* messages given to dp_engine_session_match */
    json_t *store;   /* scope 's': key -> value */
    dp_smap_t cursors; /* mock id -> uint64_t * (malloc'd) */
};

static size_t str_need(doppel_str_t s) { return s.ptr ? s.len + 1 : 1; }

static doppel_str_t put(char **p, doppel_str_t s)
{
    char *o = *p;
    if (s.ptr && s.len)
        memcpy(o, s.ptr, s.len);
    o[s.ptr ? s.len : 0] = '\0';
    *p += (s.ptr ? s.len : 0) + 1;
    return (doppel_str_t){o, s.ptr ? s.len : 0};
}

int dp_engine_session_open(dp_engine_t *e, const doppel_exchange_t *x,
                           dp_session_t **out)
{
    if (out)
        *out = NULL;
    if (e == NULL || x == NULL || out == NULL ||
        (x->n_metadata && x->metadata == NULL))
        return -EINVAL;
    dp_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    size_t need = str_need(x->protocol) + str_need(x->ns) +
                  str_need(x->operation) + str_need(x->target) +
                  str_need(x->remote_addr) + str_need(x->request_id);
    for (size_t i = 0; i < x->n_metadata; i++)
        need += str_need(x->metadata[i].name) + str_need(x->metadata[i].value);
    s->arena = malloc(need);
    s->meta = calloc(x->n_metadata ? x->n_metadata : 1, sizeof(*s->meta));
    s->store = json_object();
    if (s->arena == NULL || s->meta == NULL || s->store == NULL) {
        dp_engine_session_close(s);
        return -ENOMEM;
    }
    char *p = s->arena;
    s->e = e;
    s->x.size = sizeof(s->x);
    s->x.protocol = put(&p, x->protocol);
    s->x.ns = put(&p, x->ns);
    s->x.operation = put(&p, x->operation);
    s->x.target = put(&p, x->target);
    s->x.remote_addr = put(&p, x->remote_addr);
    s->x.request_id = put(&p, x->request_id);
    for (size_t i = 0; i < x->n_metadata; i++) {
        s->meta[i].name = put(&p, x->metadata[i].name);
        s->meta[i].value = put(&p, x->metadata[i].value);
    }
    s->x.metadata = s->meta;
    s->x.n_metadata = x->n_metadata;
    *out = s;
    return 0;
}

static doppel_str_t or_default(doppel_str_t v, doppel_str_t d)
{
    return v.ptr && v.len ? v : d;
}

int dp_engine_session_match(dp_session_t *s, const doppel_exchange_t *x,
                            unsigned flags, doppel_reply_t **out)
{
    if (out)
        *out = NULL;
    if (s == NULL || x == NULL || out == NULL)
        return -EINVAL;
    doppel_exchange_t m = *x;
    m.size = sizeof(m);
    m.protocol = or_default(x->protocol, s->x.protocol);
    m.ns = or_default(x->ns, s->x.ns);
    m.operation = or_default(x->operation, s->x.operation);
    m.target = or_default(x->target, s->x.target);
    m.remote_addr = or_default(x->remote_addr, s->x.remote_addr);
    m.request_id = or_default(x->request_id, s->x.request_id);
    if (x->n_metadata == 0) {
        m.metadata = s->x.metadata;
        m.n_metadata = s->x.n_metadata;
    }
    s->count++;
    return dp_engine_match_session(s->e, &m, flags, s, out);
}

uint64_t dp_engine_session_count(const dp_session_t *s)
{
    return s ? s->count : 0;
}

const doppel_exchange_t *dp_engine_session_exchange(const dp_session_t *s)
{
    return &s->x;
}

void dp_engine_session_close(dp_session_t *s)
{
    if (s == NULL)
        return;
    DP_SMAP_FOREACH(&s->cursors, i)
    free(s->cursors.ents[i].val);
    dp_smap_free(&s->cursors);
    json_decref(s->store);
    free(s->meta);
    free(s->arena);
    free(s);
}

/* ---- the engine's side (match.c) ----------------------------------------- */

json_t *dp_session_doc(dp_session_t *s)
{
    json_t *st = json_deep_copy(s->store);
    return st ? json_pack("{s:I, s:o}", "count", (json_int_t)s->count,
                          "store", st)
              : NULL;
}

uint64_t dp_session_next_answer(dp_session_t *s, const dp_mock_t *m)
{
    uint64_t *c = dp_smap_get(&s->cursors, m->id);
    if (c == NULL) {
        c = malloc(sizeof(*c));
        if (c == NULL || dp_smap_put(&s->cursors, m->id, c, NULL) < 0) {
            free(c);
            return m->offset; /* out of memory: the first answer */
        }
        *c = m->offset;
    }
    return (*c)++;
}

json_t *dp_session_store_get(dp_session_t *s, const char *key)
{
    json_t *v = json_object_get(s->store, key);
    return v ? json_deep_copy(v) : NULL;
}

int dp_session_store_put(dp_session_t *s, const char *key, json_t *value,
                         json_t **old)
{
    json_t *had = json_object_get(s->store, key);
    *old = had ? json_incref(had) : NULL;
    if (json_object_set_new(s->store, key, value) < 0) {
        json_decref(*old);
        *old = NULL;
        return -ENOMEM;
    }
    return 0;
}

void dp_session_store_undo(dp_session_t *s, const char *key, json_t *old)
{
    if (old)
        json_object_set_new(s->store, key, old);
    else
        json_object_del(s->store, key);
}

int64_t dp_session_store_incr(dp_session_t *s, const char *key, int64_t step,
                              int *saturated)
{
    int64_t cur = dp_store_counter(json_object_get(s->store, key), saturated);
    int64_t v = dp_i64_sat_add(cur, step, saturated);
    json_object_set_new(s->store, key, json_integer(v));
    return v;
}
