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
    json_t *used;  /* "ns" -> bytes its stores hold (entry_size sums) */
    size_t value_max, total_max; /* 0: no limit */
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

/* What an entry costs against the limits: its key and its compact JSON
 * text. json_dumpb without a buffer only counts, so nothing is allocated
 * however large the value. */
static size_t entry_size(const char *key, const json_t *v)
{
    return strlen(key) +
           (v ? json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) : 0);
}

static size_t used_get(const dp_stores_t *s, const char *ns)
{
    return (size_t)json_integer_value(json_object_get(s->used, ns));
}

/* under mu: adds add and takes away sub from the namespace's bytes */
static void used_adjust(dp_stores_t *s, const char *ns, size_t add,
                        size_t sub)
{
    size_t u = used_get(s, ns) + add;
    u = u > sub ? u - sub : 0;
    if (u == 0)
        json_object_del(s->used, ns);
    else
        json_object_set_new(s->used, ns, json_integer((json_int_t)u));
}

dp_stores_t *dp_stores_new(size_t value_max, size_t total_max)
{
    dp_stores_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->value_max = value_max;
    s->total_max = total_max;
    s->all = json_object();
    s->dirty = json_object();
    s->used = json_object();
    if (!s->all || !s->dirty || !s->used) {
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
    json_decref(s->used);
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

/* under mu: 0 when replacing old (size osz) by an entry of nsz bytes keeps
 * ns within the limits, else which limit it breaks */
static int within(const dp_stores_t *s, const char *ns, size_t nsz,
                  size_t osz)
{
    if (s->value_max && nsz > s->value_max)
        return -EFBIG;
    if (s->total_max && nsz > osz &&
        used_get(s, ns) + (nsz - osz) > s->total_max)
        return -ENOSPC;
    return 0;
}

/* under mu: puts value (stolen) at key of store k; the caller checked the
 * limits when it wanted them */
static int put_locked(dp_stores_t *s, const char *k, const char *ns,
                      const char *key, json_t *value, size_t nsz, int dirty)
{
    json_t *o = store_obj(s, k);
    if (o == NULL) {
        json_decref(value);
        return -ENOMEM;
    }
    size_t osz = 0;
    json_t *old = json_object_get(o, key);
    if (old)
        osz = entry_size(key, old);
    if (json_object_set_new(o, key, value) < 0)
        return -ENOMEM;
    used_adjust(s, ns, nsz, osz);
    if (dirty)
        mark_dirty(s, k, key);
    return 0;
}

int dp_stores_check(dp_stores_t *s, const char *ns, const char *scope,
                    const char *key, const json_t *value)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return -ENOMEM;
    size_t nsz = entry_size(key, value);
    pthread_mutex_lock(&s->mu);
    json_t *old = json_object_get(json_object_get(s->all, k), key);
    int rc = within(s, ns, nsz, old ? entry_size(key, old) : 0);
    pthread_mutex_unlock(&s->mu);
    free(k);
    return rc;
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
    size_t nsz = entry_size(key, value);
    pthread_mutex_lock(&s->mu);
    int rc = put_locked(s, k, ns, key, value, nsz, dirty);
    pthread_mutex_unlock(&s->mu);
    free(k);
    return rc;
}

int dp_stores_put_many(dp_stores_t *s, const char *ns, size_t n,
                       const char *const *scopes, const char *const *keys,
                       json_t **values, json_t **olds, size_t *which)
{
    char **ks = calloc(n ? n : 1, sizeof(*ks));
    size_t *sz = calloc(n ? n : 1, sizeof(*sz));
    int rc = ks && sz ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        olds[i] = NULL;
        ks[i] = skey(ns, scopes[i]);
        if (ks[i] == NULL || values[i] == NULL)
            rc = -ENOMEM;
        else
            sz[i] = entry_size(keys[i], values[i]);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        /* every check first: the writes go in together or not at all */
        size_t grow = 0, shrink = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            json_t *old = json_object_get(json_object_get(s->all, ks[i]),
                                          keys[i]);
            size_t osz = old ? entry_size(keys[i], old) : 0;
            rc = within(s, ns, sz[i], osz);
            grow += sz[i];
            shrink += osz;
            if (rc == 0 && s->total_max && grow > shrink &&
                used_get(s, ns) + (grow - shrink) > s->total_max)
                rc = -ENOSPC;
            if (rc < 0 && which)
                *which = i;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            json_t *old = json_object_get(json_object_get(s->all, ks[i]),
                                          keys[i]);
            olds[i] = old ? json_incref(old) : NULL;
            rc = put_locked(s, ks[i], ns, keys[i], values[i], sz[i], 1);
            values[i] = NULL; /* stolen */
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(values[i]);
        values[i] = NULL;
        if (ks)
            free(ks[i]);
    }
    free(ks);
    free(sz);
    return rc;
}

void dp_stores_undo(dp_stores_t *s, const char *ns, size_t n,
                    const char *const *scopes, const char *const *keys,
                    json_t **olds)
{
    for (size_t i = n; i-- > 0;) {
        if (olds[i])
            dp_stores_set(s, ns, scopes[i], keys[i], olds[i], 1);
        else
            dp_stores_del_dirty(s, ns, scopes[i], keys[i]);
        olds[i] = NULL;
    }
}

static int del(dp_stores_t *s, const char *ns, const char *scope,
               const char *key, int dirty)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&s->mu);
    json_t *o = json_object_get(s->all, k);
    json_t *old = o ? json_object_get(o, key) : NULL;
    int rc = -ENOENT;
    if (old) {
        used_adjust(s, ns, 0, entry_size(key, old));
        json_object_del(o, key);
        rc = 0;
    }
    if (o && json_object_size(o) == 0)
        json_object_del(s->all, k);
    if (dirty) {
        /* the flush sees a marked key without a value: a delete */
        mark_dirty(s, k, key);
    } else {
        json_t *d = json_object_get(s->dirty, k);
        if (d)
            json_object_del(d, key);
    }
    pthread_mutex_unlock(&s->mu);
    free(k);
    return rc;
}

int dp_stores_del(dp_stores_t *s, const char *ns, const char *scope,
                  const char *key)
{
    return del(s, ns, scope, key, 0);
}

int dp_stores_del_dirty(dp_stores_t *s, const char *ns, const char *scope,
                        const char *key)
{
    return del(s, ns, scope, key, 1);
}

int64_t dp_i64_sat_add(int64_t a, int64_t b, int *saturated)
{
    int64_t r;
    if (!__builtin_add_overflow(a, b, &r))
        return r;
    if (saturated)
        *saturated = 1;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

int64_t dp_i64_of_double(double d, int *saturated)
{
    /* 0x1p63 is the first double past INT64_MAX; -0x1p63 is INT64_MIN
     * itself. Casting anything outside [-2^63, 2^63) is undefined. */
    if (d >= 0x1p63 || d < -0x1p63 || d != d) {
        if (saturated)
            *saturated = 1;
        return d != d ? 0 : d > 0 ? INT64_MAX : INT64_MIN;
    }
    return (int64_t)d;
}

int64_t dp_store_counter(const json_t *v, int *saturated)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return dp_i64_of_double(json_real_value(v), saturated);
    if (json_is_string(v)) {
        errno = 0;
        long long n = strtoll(json_string_value(v), NULL, 10);
        if (errno == ERANGE && saturated)
            *saturated = 1; /* strtoll already clamped it */
        return n;
    }
    return 0;
}

int64_t dp_stores_incr(dp_stores_t *s, const char *ns, const char *scope,
                       const char *key, int64_t step, int *saturated)
{
    char *k = skey(ns, scope);
    if (k == NULL)
        return 0;
    pthread_mutex_lock(&s->mu);
    json_t *o = store_obj(s, k);
    int64_t nv = step;
    if (o) {
        json_t *cur = json_object_get(o, key);
        size_t osz = cur ? entry_size(key, cur) : 0;
        nv = dp_i64_sat_add(dp_store_counter(cur, saturated), step, saturated);
        json_t *v = json_integer(nv);
        /* a counter is at most 20 digits: it is accounted, never refused */
        size_t nsz = entry_size(key, v);
        if (v && json_object_set_new(o, key, v) == 0) {
            used_adjust(s, ns, nsz, osz);
            mark_dirty(s, k, key);
        }
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
            if (scope != NULL && strcmp(k + nl + 1, scope) != 0)
                continue;
            if (w == 0) {
                const char *key;
                json_t *x;
                size_t sz = 0;
                json_object_foreach(v, key, x)
                {
                    sz += entry_size(key, x);
                }
                used_adjust(s, ns, 0, sz);
            }
            json_object_del(objs[w], k);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

size_t dp_stores_used(dp_stores_t *s, const char *ns)
{
    pthread_mutex_lock(&s->mu);
    size_t u = used_get(s, ns);
    pthread_mutex_unlock(&s->mu);
    return u;
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
