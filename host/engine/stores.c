/*
 * The stores: global (per namespace), chain (per namespace + chainId) and
 * mock (per mock id). One mutex guards them all; every critical section is a
 * hash lookup and a small JSON change, so request threads never wait long.
 * Values are copied in and out (jansson values are not thread-safe).
 *
 * Writes from request traffic (extract, $.increment) are marked dirty and
 * handed to dp_engine_flush by dp_stores_take_dirty; admin writes are
 * persisted by the engine before it calls in here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

struct dp_stores {
    pthread_mutex_t mu;
    json_t *all;   /* "ns\x1fscope" -> {key: value} */
    json_t *dirty; /* "ns\x1fscope" -> {key: true} */
};

#define SEP "\x1f"

void dp_scope_name(char *buf, size_t len, char scope, const char *owner)
{
    if (scope == DP_SCOPE_CHAIN)
        snprintf(buf, len, "chain:%s", owner ? owner : "");
    else if (scope == DP_SCOPE_MOCK)
        snprintf(buf, len, "mock:%s", owner ? owner : "");
    else
        snprintf(buf, len, "global");
}

static char *skey(const char *ns, const char *scope)
{
    size_t l = strlen(ns) + strlen(scope) + 2;
    char *k = malloc(l);
    if (k)
        snprintf(k, l, "%s" SEP "%s", ns, scope);
    return k;
}

dp_stores_t *dp_stores_new(void)
{
    dp_stores_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->all = json_object();
    s->dirty = json_object();
    if (!s->all || !s->dirty) {
        dp_stores_free(s);
        return NULL;
    }
    return s;
}

void dp_stores_free(dp_stores_t *s)
{
    if (s == NULL)
        return;
    json_decref(s->all);
    json_decref(s->dirty);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

json_t *dp_stores_get(dp_stores_t *s, const char *ns, const char *scope,
                      const char *key)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return NULL;
    pthread_mutex_lock(&s->mu);
    json_t *v = json_object_get(json_object_get(s->all, k), key);
    json_t *out = v ? json_deep_copy(v) : NULL;
    pthread_mutex_unlock(&s->mu);
    free(k);
    return out;
}

json_t *dp_stores_get_all(dp_stores_t *s, const char *ns, const char *scope)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return NULL;
    pthread_mutex_lock(&s->mu);
    json_t *v = json_object_get(s->all, k);
    json_t *out = v ? json_deep_copy(v) : json_object();
    pthread_mutex_unlock(&s->mu);
    free(k);
    return out;
}

static void mark_dirty(dp_stores_t *s, const char *k, const char *key)
{
    json_t *d = json_object_get(s->dirty, k);
    if (d == NULL) {
        d = json_object();
        json_object_set_new(s->dirty, k, d);
    }
    json_object_set_new(d, key, json_true());
}

/* under mu */
static json_t *store_obj(dp_stores_t *s, const char *k)
{
    json_t *o = json_object_get(s->all, k);
    if (o == NULL) {
        o = json_object();
        if (o == NULL || json_object_set_new(s->all, k, o) < 0)
            return NULL;
    }
    return o;
}

int dp_stores_set(dp_stores_t *s, const char *ns, const char *scope,
                  const char *key, json_t *value, int dirty)
{
    char *k = skey(ns, scope);
    if (k == NULL || value == NULL) {
        free(k);
        json_decref(value);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    json_t *o = store_obj(s, k);
    int rc = o ? json_object_set_new(o, key, value) : -1;
    if (o == NULL)
        json_decref(value);
    if (rc == 0 && dirty)
        mark_dirty(s, k, key);
    pthread_mutex_unlock(&s->mu);
    free(k);
    return rc == 0 ? 0 : -ENOMEM;
}

int dp_stores_del(dp_stores_t *s, const char *ns, const char *scope,
                  const char *key)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&s->mu);
    json_t *o = json_object_get(s->all, k);
    int rc = (o && json_object_del(o, key) == 0) ? 0 : -ENOENT;
    if (o && json_object_size(o) == 0)
        json_object_del(s->all, k);
    json_t *d = json_object_get(s->dirty, k);
    if (d)
        json_object_del(d, key);
    pthread_mutex_unlock(&s->mu);
    free(k);
    return rc;
}

int64_t dp_stores_incr(dp_stores_t *s, const char *ns, const char *scope,
                       const char *key, int64_t step)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return 0;
    pthread_mutex_lock(&s->mu);
    json_t *o = store_obj(s, k);
    int64_t nv = step;
    if (o) {
        json_t *cur = json_object_get(o, key);
        if (json_is_integer(cur))
            nv = json_integer_value(cur) + step;
        else if (json_is_real(cur))
            nv = (int64_t)json_real_value(cur) + step;
        else if (json_is_string(cur))
            nv = strtoll(json_string_value(cur), NULL, 10) + step;
        json_object_set_new(o, key, json_integer(nv));
        mark_dirty(s, k, key);
    }
    pthread_mutex_unlock(&s->mu);
    free(k);
    return nv;
}

void dp_stores_drop(dp_stores_t *s, const char *ns, const char *scope)
{
    size_t nl = strlen(ns);
    pthread_mutex_lock(&s->mu);
    json_t *objs[2] = {s->all, s->dirty};
    for (int w = 0; w < 2; w++) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(objs[w], tmp, k, v)
        {
            if (strncmp(k, ns, nl) != 0 || k[nl] != SEP[0])
                continue;
            if (scope == NULL || strcmp(k + nl + 1, scope) == 0)
                json_object_del(objs[w], k);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

json_t *dp_stores_keys(dp_stores_t *s, const char *ns, const char *scope)
{
    json_t *out = json_array();
    char *k = skey(ns, scope);
    if (k == NULL || out == NULL) {
        free(k);
        json_decref(out);
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    json_t *o = json_object_get(s->all, k);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    json_array_append_new(out, json_pack("[sss]", ns, scope, key));
    pthread_mutex_unlock(&s->mu);
    free(k);
    return out;
}

json_t *dp_stores_take_dirty(dp_stores_t *s)
{
    json_t *out = json_array();
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&s->mu);
    const char *k;
    json_t *keys;
    json_object_foreach(s->dirty, k, keys)
    {
        const char *sep = strchr(k, SEP[0]);
        if (sep == NULL)
            continue;
        char *ns = strndup(k, (size_t)(sep - k));
        json_t *o = json_object_get(s->all, k);
        const char *key;
        json_t *t;
        json_object_foreach(keys, key, t)
        {
            json_t *v = json_object_get(o, key);
            /* The flush serialises the value after the lock is released
             * while requests go on changing the store: hand it a copy of
             * its own, never the live value (sharing it raced with the
             * in-place changes and the last decref; ThreadSanitizer). */
            json_t *cp = v ? json_deep_copy(v) : NULL;
            /* no value: the key was removed since it was marked */
            json_array_append_new(
                out, v ? (cp ? json_pack("[ssso]", ns ? ns : "", sep + 1, key,
                                         cp)
                             : json_pack("[sssO]", ns ? ns : "", sep + 1,
                                         key, v))
                       : json_pack("[sss]", ns ? ns : "", sep + 1, key));
        }
        free(ns);
    }
    json_object_clear(s->dirty);
    pthread_mutex_unlock(&s->mu);
    return out;
}

void dp_stores_remark(dp_stores_t *s, const json_t *entries)
{
    size_t i;
    json_t *it;
    pthread_mutex_lock(&s->mu);
    json_array_foreach(entries, i, it)
    {
        char *k = skey(json_string_value(json_array_get(it, 0)),
                       json_string_value(json_array_get(it, 1)));
        if (k)
            mark_dirty(s, k, json_string_value(json_array_get(it, 2)));
        free(k);
    }
    pthread_mutex_unlock(&s->mu);
}
