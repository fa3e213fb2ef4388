/*
 * The compiled match index and its publication.
 *
 * Structure: namespace (hash) -> protocol (slot in the registry) ->
 * operation (hash of method -> route trie, plus one "any operation" trie)
 * and a list of regex-routed mocks per (namespace, protocol). The index
 * holds one reference to each mock it contains and is never changed once
 * published.
 *
 * Publication is a small grace-period scheme (a two-counter SRCU):
 *   reader: slot = gp & 1; readers[slot]++; ix = cur; ... readers[slot]--;
 *   writer: cur = new; then twice { gp++; wait until readers[old slot]
 *           == 0 }; free the old index.
 * With sequentially consistent atomics, a reader that incremented a counter
 * after the writer saw it at zero loads cur after the writer stored the new
 * index, so it can only hold the new one; waiting on both slots (two flips)
 * covers readers that entered on either parity. Readers never block; a writer
 * waits only for readers already inside (each a single match).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static dp_proto_ix_t *proto_ix(dp_index_t *ix, const char *ns,
                               const dp_proto_t *p)
{
    dp_ns_ix_t *n = dp_smap_get(&ix->ns, ns);
    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        if (n)
            n->protos = calloc(ix->n_protos, sizeof(*n->protos));
        if (n == NULL || n->protos == NULL ||
            dp_smap_put(&ix->ns, ns, n, NULL) < 0) {
            if (n)
                free(n->protos);
            free(n);
            return NULL;
        }
        n->n_protos = ix->n_protos;
    }
    size_t slot = p->slot;
    if (slot >= n->n_protos)
        return NULL;
    if (n->protos[slot] == NULL)
        n->protos[slot] = calloc(1, sizeof(dp_proto_ix_t));
    return n->protos[slot];
}

/* Appends m to the list of its server (lists stay in match order). */
static int add_to_server(dp_proto_ix_t *pi, dp_mock_t *m)
{
    dp_mlist_t *l = dp_smap_get(&pi->servers, m->server);
    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL || dp_smap_put(&pi->servers, m->server, l, NULL) < 0) {
            free(l);
            return -ENOMEM;
        }
    }
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        dp_mock_t **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = m;
    return 0;
}

static int add_mock(dp_index_t *ix, dp_mock_t *m)
{
    if (m->dormant)
        return 0; /* listed from ix->mocks, never matched */
    dp_proto_ix_t *pi = proto_ix(ix, m->ns, m->proto);
    if (pi == NULL)
        return -ENOMEM;
    if (m->server && add_to_server(pi, m) < 0)
        return -ENOMEM;
    if (m->re) {
        if (pi->n_regex == pi->cap_regex) {
            size_t nc = pi->cap_regex ? pi->cap_regex * 2 : 4;
            dp_mock_t **na = realloc(pi->regex, nc * sizeof(*na));
            if (na == NULL)
                return -ENOMEM;
            pi->regex = na;
            pi->cap_regex = nc;
        }
        pi->regex[pi->n_regex++] = m;
        return 0;
    }
    dp_trie_t *t;
    if (m->op == NULL) {
        if (pi->any == NULL && (pi->any = dp_trie_new()) == NULL)
            return -ENOMEM;
        t = pi->any;
    } else {
        t = dp_smap_get(&pi->ops, m->op);
        if (t == NULL) {
            t = dp_trie_new();
            if (t == NULL || dp_smap_put(&pi->ops, m->op, t, NULL) < 0) {
                dp_trie_free(t);
                return -ENOMEM;
            }
        }
    }
    return dp_trie_insert(t, &m->route, m);
}

/* Builds the value indexes of every trie, once all mocks are in. */
static void seal(dp_index_t *ix)
{
    DP_SMAP_FOREACH(&ix->ns, i)
    {
        dp_ns_ix_t *n = ix->ns.ents[i].val;
        for (size_t k = 0; k < n->n_protos; k++) {
            dp_proto_ix_t *pi = n->protos[k];
            if (pi == NULL)
                continue;
            DP_SMAP_FOREACH(&pi->ops, j)
            dp_trie_seal(pi->ops.ents[j].val);
            dp_trie_seal(pi->any);
        }
    }
}

dp_index_t *dp_index_build(dp_mock_t **mocks, size_t n, size_t n_protos)
{
    dp_index_t *ix = calloc(1, sizeof(*ix));
    if (ix == NULL)
        return NULL;
    ix->n_protos = n_protos ? n_protos : 2;
    ix->mocks = malloc((n ? n : 1) * sizeof(dp_mock_t *));
    if (ix->mocks == NULL) {
        free(ix);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        dp_mock_ref(mocks[i]);
        ix->mocks[ix->n_mocks++] = mocks[i];
    }
    /* Inserted in match order, every trie node and regex list is sorted once
     * here, so a request whose candidates come from one node sorts nothing. */
    qsort(ix->mocks, ix->n_mocks, sizeof(ix->mocks[0]), dp_mock_cmp);
    for (size_t i = 0; i < ix->n_mocks; i++) {
        if (add_mock(ix, ix->mocks[i]) < 0 ||
            dp_smap_put(&ix->ids, ix->mocks[i]->id, ix->mocks[i], NULL) < 0) {
            dp_index_free(ix);
            return NULL;
        }
    }
    seal(ix);
    return ix;
}

static void proto_ix_free(dp_proto_ix_t *pi)
{
    DP_SMAP_FOREACH(&pi->ops, i)
    dp_trie_free(pi->ops.ents[i].val);
    dp_smap_free(&pi->ops);
    dp_trie_free(pi->any);
    free(pi->regex);
    DP_SMAP_FOREACH(&pi->servers, i)
    {
        dp_mlist_t *l = pi->servers.ents[i].val;
        free(l->v);
        free(l);
    }
    dp_smap_free(&pi->servers);
    free(pi);
}

void dp_index_free(dp_index_t *ix)
{
    if (ix == NULL)
        return;
    DP_SMAP_FOREACH(&ix->ns, i)
    {
        dp_ns_ix_t *n = ix->ns.ents[i].val;
        for (size_t k = 0; k < n->n_protos; k++)
            if (n->protos[k])
                proto_ix_free(n->protos[k]);
        free(n->protos);
        free(n);
    }
    dp_smap_free(&ix->ns);
    dp_smap_free(&ix->ids);
    for (size_t i = 0; i < ix->n_mocks; i++)
        dp_mock_unref(ix->mocks[i]);
    free(ix->mocks);
    free(ix);
}

dp_index_t *dp_index_enter(dp_engine_t *e, unsigned *slot)
{
    unsigned s = atomic_load(&e->gp) & 1u;
    atomic_fetch_add(&e->readers[s], 1);
    *slot = s;
    return atomic_load(&e->cur);
}

void dp_index_leave(dp_engine_t *e, unsigned slot)
{
    atomic_fetch_sub(&e->readers[slot], 1);
}

void dp_engine_wait_readers(dp_engine_t *e)
{
    for (int flip = 0; flip < 2; flip++) {
        unsigned old = atomic_fetch_add(&e->gp, 1) & 1u;
        while (atomic_load(&e->readers[old]) != 0)
            sched_yield();
    }
}

dp_index_t *dp_index_from_table(dp_engine_t *e)
{
    dp_mock_t **arr = malloc((e->mocks.n ? e->mocks.n : 1) * sizeof(*arr));
    if (arr == NULL)
        return NULL;
    size_t n = 0;
    DP_SMAP_FOREACH(&e->mocks, i)
    arr[n++] = e->mocks.ents[i].val;
    dp_index_t *ix = dp_index_build(arr, n, e->protos->n);
    free(arr);
    return ix;
}

void dp_index_swap(dp_engine_t *e, dp_index_t *ix)
{
    dp_index_t *old = atomic_exchange(&e->cur, ix);
    dp_engine_wait_readers(e);
    dp_index_free(old);
}
