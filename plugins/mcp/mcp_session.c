/*
 * The session table: one per plugin section, shared by the instances of
 * every worker (svc->shared), because a client's next request may land on
 * another worker's connection. A mutex guards it; every operation is a
 * short scan or hash lookup, and nothing calls out of the plugin while the
 * lock is held except svc->post, which only queues.
 *
 * A session is bound to the credential that created it (the token's secret,
 * compared in constant time) and to its scope (the control server, or one
 * mock server's namespace and name): any other caller presenting the id is
 * told "not found", exactly as for an id that never existed.
 *
 * Each credential holds at most a share of the table per server kind
 * (mcp_session_new_t.max_per_token): at its share, a new session evicts
 * that credential's own least recently used idle session, never another
 * credential's. Sessions without a credential ("") are one holder. The
 * holders are counted in a hash table beside the sessions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mcp_server.h"

#define N_BUCKETS 1024

/* One credential's sessions; freed with its last session. */
typedef struct holder {
    char *token;         /* owned */
    size_t n[2];         /* sessions per mcp_kind_t */
    struct holder *next; /* bucket chain */
} holder_t;

typedef struct session {
    char id[MCP_SID_LEN + 1];
    int kind;
    holder_t *holder; /* its credential; the token is holder->token */
    char scope[MCP_SCOPE_MAX];
    char version[MCP_VERSION_MAX];
    mcp_inst_t *owner; /* HTTP+SSE stream holder, NULL for Streamable HTTP */
    doppel_ctx_t *owner_ctx;
    uint64_t last_used_ms; /* for idle expiry */
    uint64_t used_seq;     /* for eviction: the loop clock has ties */
    struct session *next;  /* bucket chain */
} session_t;

/* A message on its way to another instance's loop. Linked here until that
 * loop takes it, so a post the host drops at shutdown is still freed. */
typedef struct delivery {
    mcp_shared_t *t;
    mcp_inst_t *inst;
    char session[MCP_SID_LEN + 1];
    char *text;
    struct delivery *prev, *next;
} delivery_t;

struct mcp_shared {
    pthread_mutex_t lock;
    session_t *buckets[N_BUCKETS];
    holder_t *holders[N_BUCKETS];
    size_t n;
    uint64_t seq; /* bumped at every create and use */
    delivery_t *deliveries;
};

void *mcp_sessions_new(void *arg)
{
    (void)arg;
    mcp_shared_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % N_BUCKETS);
}

/* Constant-time string equality: the time depends on the lengths only. */
static int secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la > lb ? la : lb;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < la ? (unsigned char)a[i] : 0;
        unsigned char y = i < lb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* The holder of token, created with no sessions when new; NULL when out of
 * memory. Under t->lock. */
static holder_t *holder_get(mcp_shared_t *t, const char *token)
{
    holder_t **pp = &t->holders[bucket_of(token)];
    for (; *pp; pp = &(*pp)->next)
        if (secret_equal((*pp)->token, token))
            return *pp;
    holder_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->token = strdup(token)) == NULL) {
        free(h);
        return NULL;
    }
    *pp = h;
    return h;
}

/* Frees h once it holds nothing. Under t->lock. */
static void holder_put(mcp_shared_t *t, holder_t *h)
{
    if (h->n[0] || h->n[1])
        return;
    holder_t **pp = &t->holders[bucket_of(h->token)];
    while (*pp != h)
        pp = &(*pp)->next;
    *pp = h->next;
    free(h->token);
    free(h);
}

/* Unlinks *pp from its bucket and frees it. Under t->lock. */
static void session_drop(mcp_shared_t *t, session_t **pp)
{
    session_t *s = *pp;
    *pp = s->next;
    t->n--;
    s->holder->n[s->kind]--;
    holder_put(t, s->holder);
    free(s);
}

void mcp_sessions_free(void *table)
{
    mcp_shared_t *t = table;
    if (t == NULL)
        return;
    for (size_t b = 0; b < N_BUCKETS; b++)
        while (t->buckets[b])
            session_drop(t, &t->buckets[b]);
    while (t->deliveries) {
        delivery_t *d = t->deliveries;
        t->deliveries = d->next;
        free(d->text);
        free(d);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static session_t **find(mcp_shared_t *t, const char *id)
{
    session_t **pp = &t->buckets[bucket_of(id)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* The session if it exists and token and scope are the ones bound to it. */
static session_t **find_bound(mcp_shared_t *t, const char *id,
                              const char *token, const char *scope)
{
    if (id == NULL || strlen(id) != MCP_SID_LEN)
        return NULL;
    session_t **pp = find(t, id);
    if (*pp == NULL ||
        !secret_equal((*pp)->holder->token, token ? token : "") ||
        strcmp((*pp)->scope, scope ? scope : "") != 0)
        return NULL;
    return pp;
}

/* Evicts the least recently used session of kind without a stream, of
 * holder only when holder is not NULL, else of the holders with the most
 * sessions of that kind that have one to give. */
static int evict_one(mcp_shared_t *t, int kind, holder_t *holder)
{
    size_t most = 0;
    if (holder == NULL)
        for (size_t b = 0; b < N_BUCKETS; b++)
            for (session_t *s = t->buckets[b]; s; s = s->next)
                if (s->kind == kind && s->owner == NULL &&
                    s->holder->n[kind] > most)
                    most = s->holder->n[kind];
    session_t **victim = NULL;
    for (size_t b = 0; b < N_BUCKETS; b++)
        for (session_t **pp = &t->buckets[b]; *pp; pp = &(*pp)->next)
            if ((*pp)->kind == kind && (*pp)->owner == NULL &&
                (holder ? (*pp)->holder == holder
                        : (*pp)->holder->n[kind] == most) &&
                (victim == NULL || (*pp)->used_seq < (*victim)->used_seq))
                victim = pp;
    if (victim == NULL)
        return -EBUSY;
    session_drop(t, victim);
    return 0;
}

int mcp_sessions_create(mcp_shared_t *t, const mcp_session_new_t *n,
                        int max_sessions, char *id)
{
    unsigned char rnd[MCP_SID_LEN / 2];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -EIO;
    if (n->kind != MCP_KIND_CONTROL && n->kind != MCP_KIND_STUB)
        return -EINVAL;
    session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    s->kind = n->kind;
    snprintf(s->scope, sizeof(s->scope), "%s", n->scope ? n->scope : "");
    snprintf(s->version, sizeof(s->version), "%s",
             n->version ? n->version : "");
    s->owner = n->owner;
    s->owner_ctx = n->owner ? n->owner->ctx : NULL;
    s->last_used_ms = n->now_ms;

    size_t share = n->max_per_token > 0 && n->max_per_token < max_sessions
                       ? (size_t)n->max_per_token
                       : (size_t)max_sessions;
    pthread_mutex_lock(&t->lock);
    holder_t *hd = holder_get(t, n->token ? n->token : "");
    if (hd == NULL) {
        pthread_mutex_unlock(&t->lock);
        free(s);
        return -ENOMEM;
    }
    int at_share = hd->n[n->kind] >= share, rc = 0;
    /* counted now, so that evicting its last session cannot free hd */
    hd->n[n->kind]++;
    /* at its share: its own oldest goes; else a full table takes from the
     * biggest holder, so no credential can empty the others' */
    if (at_share)
        rc = evict_one(t, n->kind, hd);
    else if (t->n >= (size_t)max_sessions)
        rc = evict_one(t, n->kind, NULL);
    if (rc == 0 && *find(t, s->id) != NULL)
        rc = -EIO; /* 128 random bits colliding: refuse, never merge */
    if (rc < 0) {
        hd->n[n->kind]--;
        holder_put(t, hd);
        pthread_mutex_unlock(&t->lock);
        free(s);
        return rc;
    }
    session_t **pp = find(t, s->id);
    s->holder = hd;
    s->used_seq = ++t->seq;
    *pp = s;
    t->n++;
    /* copied under the lock: once it is released another worker may
     * evict or expire s */
    memcpy(id, s->id, MCP_SID_LEN + 1);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int mcp_sessions_use(mcp_shared_t *t, const char *id, const char *token,
                     const char *scope, uint64_t now_ms, char *version,
                     int *legacy)
{
    pthread_mutex_lock(&t->lock);
    session_t **pp = find_bound(t, id, token, scope);
    if (pp == NULL) {
        pthread_mutex_unlock(&t->lock);
        return -ENOENT;
    }
    (*pp)->last_used_ms = now_ms;
    (*pp)->used_seq = ++t->seq;
    if (version)
        memcpy(version, (*pp)->version, MCP_VERSION_MAX);
    if (legacy)
        *legacy = (*pp)->owner != NULL;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void mcp_sessions_set_version(mcp_shared_t *t, const char *id,
                              const char *version)
{
    pthread_mutex_lock(&t->lock);
    session_t **pp = find(t, id);
    if (*pp)
        snprintf((*pp)->version, sizeof((*pp)->version), "%s", version);
    pthread_mutex_unlock(&t->lock);
}

int mcp_sessions_end(mcp_shared_t *t, const char *id, const char *token,
                     const char *scope)
{
    pthread_mutex_lock(&t->lock);
    session_t **pp = find_bound(t, id, token, scope);
    if (pp == NULL || (*pp)->owner != NULL) {
        /* An HTTP+SSE session ends with its stream, not by DELETE. */
        pthread_mutex_unlock(&t->lock);
        return -ENOENT;
    }
    session_drop(t, pp);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void mcp_sessions_remove(mcp_shared_t *t, const char *id)
{
    pthread_mutex_lock(&t->lock);
    session_t **pp = find(t, id);
    if (*pp)
        session_drop(t, pp);
    pthread_mutex_unlock(&t->lock);
}

static void deliver_on_owner(void *data)
{
    delivery_t *d = data;
    mcp_shared_t *t = d->t;
    pthread_mutex_lock(&t->lock);
    if (d->prev)
        d->prev->next = d->next;
    else
        t->deliveries = d->next;
    if (d->next)
        d->next->prev = d->prev;
    pthread_mutex_unlock(&t->lock);
    mcp_stream_send(d->inst, d->session, d->text);
    free(d->text);
    free(d);
}

int mcp_sessions_deliver(mcp_shared_t *t, mcp_inst_t *from, const char *id,
                         const char *text)
{
    delivery_t *d = calloc(1, sizeof(*d));
    char *copy = strdup(text);
    if (d == NULL || copy == NULL) {
        free(d);
        free(copy);
        return -ENOMEM;
    }
    d->t = t;
    d->text = copy;
    snprintf(d->session, sizeof(d->session), "%s", id);
    pthread_mutex_lock(&t->lock);
    session_t *s = *find(t, id);
    if (s == NULL || s->owner == NULL) {
        pthread_mutex_unlock(&t->lock);
        free(copy);
        free(d);
        return -ENOENT;
    }
    d->inst = s->owner;
    if (s->owner == from) {
        pthread_mutex_unlock(&t->lock);
        mcp_stream_send(from, id, copy);
        free(copy);
        free(d);
        return 0;
    }
    /* Posted under the lock: the owner removes its sessions under it when
     * it stops, so owner_ctx is alive here. */
    d->next = t->deliveries;
    if (t->deliveries)
        t->deliveries->prev = d;
    t->deliveries = d;
    int rc = from->svc->post(s->owner_ctx, deliver_on_owner, d);
    if (rc < 0) {
        t->deliveries = d->next;
        if (d->next)
            d->next->prev = NULL;
        free(copy);
        free(d);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void mcp_sessions_expire(mcp_shared_t *t, uint64_t now_ms, uint64_t idle_ms)
{
    if (idle_ms == 0 || now_ms < idle_ms)
        return;
    uint64_t before = now_ms - idle_ms;
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < N_BUCKETS; b++) {
        session_t **pp = &t->buckets[b];
        while (*pp) {
            session_t *s = *pp;
            if (s->owner == NULL && s->last_used_ms < before)
                session_drop(t, pp);
            else
                pp = &s->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void mcp_sessions_drop_owner(mcp_shared_t *t, mcp_inst_t *inst)
{
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < N_BUCKETS; b++) {
        session_t **pp = &t->buckets[b];
        while (*pp) {
            session_t *s = *pp;
            if (s->owner == inst)
                session_drop(t, pp);
            else
                pp = &s->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

size_t mcp_sessions_count(mcp_shared_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}
