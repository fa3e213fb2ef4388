/*
 * A small open-addressing string hash map (linear probing, backward-shift
 * deletion). Not thread-safe: each map is owned by one structure whose rules
 * say who may touch it (immutable index: read by anyone; mock table: under
 * the writer mutex).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

uint32_t dp_smap_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static size_t find_slot(const dp_smap_t *m, const char *key, size_t len,
                        uint32_t h)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->ents[i].key != NULL) {
        const dp_smap_ent_t *e = &m->ents[i];
        if (e->hash == h && e->len == len &&
            memcmp(len < sizeof(e->ik) ? e->ik : e->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *dp_smap_getn(const dp_smap_t *m, const char *key, size_t len)
{
    if (m->cap == 0)
        return NULL;
    size_t i = find_slot(m, key, len, dp_smap_hash(key, len));
    return m->ents[i].key ? m->ents[i].val : NULL;
}

void *dp_smap_get(const dp_smap_t *m, const char *key)
{
    return dp_smap_getn(m, key, strlen(key));
}

static int grow(dp_smap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 2; /* most trie nodes have one child */
    /* on cache lines: no slot straddles two, so a lookup that decides on
     * the slot reads one line per probe */
    dp_smap_ent_t *ne = aligned_alloc(64, ncap * sizeof(*ne));
    if (ne == NULL)
        return -ENOMEM;
    memset(ne, 0, ncap * sizeof(*ne));
    for (size_t i = 0; i < m->cap; i++) {
        if (m->ents[i].key == NULL)
            continue;
        size_t j = m->ents[i].hash & (ncap - 1);
        while (ne[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ne[j] = m->ents[i];
    }
    free(m->ents);
    m->ents = ne;
    m->cap = ncap;
    return 0;
}

int dp_smap_put(dp_smap_t *m, const char *key, void *val, void **old)
{
    if (old)
        *old = NULL;
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -ENOMEM;
    size_t len = strlen(key);
    if (len > UINT32_MAX)
        return -EINVAL;
    uint32_t h = dp_smap_hash(key, len);
    size_t i = find_slot(m, key, len, h);
    if (m->ents[i].key != NULL) {
        if (old)
            *old = m->ents[i].val;
        m->ents[i].val = val;
        return 0;
    }
    char *k = strdup(key);
    if (k == NULL)
        return -ENOMEM;
    m->ents[i].key = k;
    m->ents[i].hash = h;
    m->ents[i].len = (uint32_t)len;
    memset(m->ents[i].ik, 0, sizeof(m->ents[i].ik));
    if (len < sizeof(m->ents[i].ik))
        memcpy(m->ents[i].ik, key, len);
    m->ents[i].val = val;
    m->n++;
    return 0;
}

void *dp_smap_del(dp_smap_t *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t len = strlen(key);
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, len, dp_smap_hash(key, len));
    if (m->ents[i].key == NULL)
        return NULL;
    void *val = m->ents[i].val;
    free(m->ents[i].key);
    m->ents[i].key = NULL;
    m->n--;
    /* backward-shift: move later entries of the run into the hole */
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (m->ents[j].key != NULL) {
        size_t home = m->ents[j].hash & mask;
        /* may entry j live at hole? yes when home is not in (hole, j] */
        int move = (hole <= j) ? (home <= hole || home > j)
                               : (home <= hole && home > j);
        if (move) {
            m->ents[hole] = m->ents[j];
            m->ents[j].key = NULL;
            hole = j;
        }
        j = (j + 1) & mask;
    }
    return val;
}

void dp_smap_free(dp_smap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->ents[i].key);
    free(m->ents);
    m->ents = NULL;
    m->cap = m->n = 0;
}
