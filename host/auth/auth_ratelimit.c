/*
 * Failed-authentication limiter: a fixed window per client address
 * ("limit failures within window seconds, then refuse until the window
 * ends"). Memory is bounded: a fixed table, open addressing over a short
 * probe run, and a new address evicts the least recently seen entry of its
 * run. An attacker cycling addresses can only evict entries, never grow
 * memory. One mutex; held for a few dozen instructions per call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

#define PROBE 8
#define ADDR_MAX 64

typedef struct slot {
    char addr[ADDR_MAX]; /* "" = free */
    int64_t window_start_ms;
    int64_t last_seen_ms;
    unsigned failures;
} slot_t;

struct dp_auth_limiter {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t n;
    unsigned limit;
    int64_t window_ms;
};

dp_auth_limiter_t *dp_auth_limiter_new(size_t slots, unsigned limit,
                                       unsigned window_s)
{
    dp_auth_limiter_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->n = slots < PROBE ? PROBE : slots;
    l->slots = calloc(l->n, sizeof(slot_t));
    if (l->slots == NULL) {
        free(l);
        return NULL;
    }
    l->limit = limit ? limit : 1;
    l->window_ms = (int64_t)(window_s ? window_s : 1) * 1000;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void dp_auth_limiter_free(dp_auth_limiter_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}

static size_t hash_addr(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; s[i] != '\0' && i < ADDR_MAX - 1; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return (size_t)h;
}

/* Eviction rank: free slots first, then expired windows, then the least
 * recently seen. */
static int64_t rank(const dp_auth_limiter_t *l, const slot_t *s, int64_t now)
{
    if (s->addr[0] == '\0')
        return INT64_MIN;
    if (now - s->window_start_ms >= l->window_ms)
        return INT64_MIN + 1;
    return s->last_seen_ms;
}

/* The slot of addr, or NULL; with create, a free or evicted slot. */
static slot_t *find(dp_auth_limiter_t *l, const char *addr, int create,
                    int64_t now)
{
    size_t h = hash_addr(addr);
    slot_t *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &l->slots[(h + i) % l->n];
        if (s->addr[0] != '\0' && strncmp(s->addr, addr, ADDR_MAX - 1) == 0)
            return s;
        if (victim == NULL || rank(l, s, now) < rank(l, victim, now))
            victim = s;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    strncpy(victim->addr, addr, ADDR_MAX - 1);
    victim->window_start_ms = now;
    return victim;
}

unsigned dp_auth_limiter_check(dp_auth_limiter_t *l, const char *addr,
                               int64_t now_ms)
{
    if (l == NULL || addr == NULL || addr[0] == '\0')
        return 0;
    unsigned wait = 0;
    pthread_mutex_lock(&l->mu);
    slot_t *s = find(l, addr, 0, now_ms);
    if (s != NULL && s->failures >= l->limit &&
        now_ms - s->window_start_ms < l->window_ms) {
        int64_t left = s->window_start_ms + l->window_ms - now_ms;
        wait = (unsigned)((left + 999) / 1000);
        if (wait == 0)
            wait = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return wait;
}

void dp_auth_limiter_fail(dp_auth_limiter_t *l, const char *addr,
                          int64_t now_ms)
{
    if (l == NULL || addr == NULL || addr[0] == '\0')
        return;
    pthread_mutex_lock(&l->mu);
    slot_t *s = find(l, addr, 1, now_ms);
    if (now_ms - s->window_start_ms >= l->window_ms) {
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    if (s->failures < UINT32_MAX)
        s->failures++;
    s->last_seen_ms = now_ms;
    pthread_mutex_unlock(&l->mu);
}
