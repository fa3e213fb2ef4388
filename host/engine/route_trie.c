/*
 * Routes and the route trie.
 *
 * A trie node has a hash of static children, one "any segment" child shared
 * by ":param" and middle "*" routes (they differ only in what they capture
 * and in specificity, which the mock's own dp_route_t records), the mocks
 * whose route ends at the node, and the mocks whose route ends with a tail
 * "*" below the node. Collecting candidates walks at most two children per
 * path segment, so its cost follows the path and the routes on it, never
 * the number of mocks. A walk budget bounds pathological tries.
 *
 * Trees are immutable once built and read by any number of threads.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/*
 * A value index over one node list: many mocks on one route told apart by
 * "body value at P equals <string>" (an order id, a kind, an operation
 * name). Positions are indexes into the list, ascending, so the mocks a
 * request keeps are still in match order. Pruning is exact, never a guess:
 * such a condition holds only for a found string with the same bytes (see
 * dp_cond_string_equals), so a mock keyed by another string, or any keyed
 * mock when P is absent, cannot match.
 */
#define VINDEX_MIN 8 /* lists shorter than this are scanned */

typedef struct poslist {
    uint32_t *v;
    uint16_t *cond; /* buckets: the keyed condition of each (m->conds) */
    size_t n, cap;
} poslist_t;

typedef struct vindex {
    dp_jpath_t *jp;      /* P */
    dp_smap_t buckets;   /* expected string -> poslist_t* */
    poslist_t unkeyed;   /* mocks without such a condition on P */
} vindex_t;

typedef struct tnode {
    dp_smap_t kids; /* static segment -> struct tnode* */
    struct tnode *any;
    dp_mock_t **end;
    size_t n_end, cap_end;
    dp_mock_t **rest;
    size_t n_rest, cap_rest;
    vindex_t *end_ix, *rest_ix; /* built by dp_trie_seal, may be NULL */
} tnode_t;

/* A trie of one literal route and nothing else (an operation's mocks on
 * one path, as SOAP and GraphQL mocks are): dp_trie_seal keeps that route
 * here, each segment as its length byte and its bytes, with the mocks of
 * its node, so that a request compares its path with these bytes instead
 * of walking one node per segment. With thousands of operations, each
 * its own trie, the walk was a cache miss per node. */
#define LIT_MAX 40

struct dp_trie {
    dp_mock_t **lit_end;
    size_t lit_n;
    const vindex_t *lit_ix;
    uint8_t has_lit;
    uint8_t lit_segs;
    uint8_t lit_len;
    char lit[LIT_MAX];
    tnode_t root;
};

#define WALK_BUDGET 4096

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes src[0..len) into dst (in place allowed); invalid escapes
 * and %00 stay literal. Returns the decoded length. */
static size_t pct_decode(char *dst, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 &&
            hexval(src[i + 2]) >= 0) {
            int v = hexval(src[i + 1]) * 16 + hexval(src[i + 2]);
            if (v != 0) {
                dst[o++] = (char)v;
                i += 2;
                continue;
            }
        }
        dst[o++] = src[i];
    }
    return o;
}

int dp_path_split(const char *p, size_t len, dp_path_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *q = memchr(p, '?', len);
    if (q)
        len = (size_t)(q - p);
    out->buf = malloc(len + 1);
    if (out->buf == NULL)
        return -ENOMEM;
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && p[i] != '/')
            i++;
        if (memchr(p + s, '\0', i - s) != NULL || out->n == DP_MAX_SEGS) {
            /* a raw NUL could never equal a route's text: match nothing */
            out->too_long = 1;
            break;
        }
        size_t dl = pct_decode(out->buf + o, p + s, i - s);
        out->seg[out->n] = out->buf + o;
        out->len[out->n] = dl;
        out->n++;
        o += dl;
        out->buf[o++] = '\0';
    }
    return 0;
}

void dp_path_free(dp_path_t *p)
{
    free(p->buf);
    p->buf = NULL;
}

static int route_parse(const char *src, dp_route_t *out, char *why, size_t wlen,
                       int literal)
{
    memset(out, 0, sizeof(*out));
    if (src[0] != '/') {
        snprintf(why, wlen, "must start with '/'");
        return -EINVAL;
    }
    size_t len = strlen(src);
    if (strpbrk(src, "?#") != NULL) {
        snprintf(why, wlen, "must not hold a query string or fragment");
        return -EINVAL;
    }
    dp_path_t p;
    if (dp_path_split(src, len, &p) < 0)
        return -ENOMEM;
    if (p.too_long) {
        snprintf(why, wlen, "more than %d segments", DP_MAX_SEGS);
        dp_path_free(&p);
        return -EINVAL;
    }
    out->segs = calloc(p.n ? p.n : 1, sizeof(dp_seg_t));
    if (out->segs == NULL) {
        dp_path_free(&p);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < p.n && rc == 0; i++) {
        const char *s = p.seg[i];
        size_t sl = p.len[i];
        dp_seg_t *sg = &out->segs[i];
        out->n++;
        if (literal) {
            sg->kind = DP_SEG_STATIC;
            sg->text = strdup(s);
            out->n_static++;
        } else if (s[0] == ':') {
            if (sl < 2) {
                snprintf(why, wlen, "segment %zu: empty parameter name", i + 1);
                rc = -EINVAL;
                break;
            }
            for (size_t k = 1; k < sl; k++) {
                if (!isalnum((unsigned char)s[k]) && s[k] != '_' &&
                    s[k] != '-') {
                    snprintf(why, wlen,
                             "segment %zu: parameter names use letters, "
                             "digits, '_' and '-'",
                             i + 1);
                    rc = -EINVAL;
                    break;
                }
            }
            if (rc)
                break;
            for (size_t k = 0; k < i; k++) {
                if (out->segs[k].kind == DP_SEG_PARAM &&
                    strcmp(out->segs[k].text, s + 1) == 0) {
                    snprintf(why, wlen, "parameter :%s appears twice", s + 1);
                    rc = -EINVAL;
                    break;
                }
            }
            if (rc)
                break;
            sg->kind = DP_SEG_PARAM;
            sg->text = strdup(s + 1);
            out->n_param++;
        } else if (strcmp(s, "*") == 0) {
            sg->kind = (i + 1 == p.n) ? DP_SEG_REST : DP_SEG_STAR;
            out->n_wild++;
        } else if (memchr(s, '*', sl) != NULL) {
            snprintf(why, wlen,
                     "segment %zu: '*' must be a whole segment", i + 1);
            rc = -EINVAL;
            break;
        } else {
            sg->kind = DP_SEG_STATIC;
            sg->text = strdup(s);
            out->n_static++;
        }
        if (sg->kind != DP_SEG_STAR && sg->kind != DP_SEG_REST &&
            sg->text == NULL)
            rc = -ENOMEM;
    }
    dp_path_free(&p);
    if (rc)
        dp_route_free(out);
    return rc;
}

int dp_route_parse(const char *src, dp_route_t *out, char *why, size_t wlen)
{
    return route_parse(src, out, why, wlen, 0);
}

int dp_route_parse_literal(const char *src, dp_route_t *out, char *why,
                           size_t wlen)
{
    return route_parse(src, out, why, wlen, 1);
}

void dp_route_free(dp_route_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->segs[i].text);
    free(r->segs);
    memset(r, 0, sizeof(*r));
}

dp_trie_t *dp_trie_new(void)
{
    size_t size = (sizeof(dp_trie_t) + 63) & ~(size_t)63;
    dp_trie_t *t = aligned_alloc(64, size); /* the fast path: two lines */
    if (t)
        memset(t, 0, size);
    return t;
}

static int push(dp_mock_t ***arr, size_t *n, size_t *cap, dp_mock_t *m)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 2;
        dp_mock_t **na = realloc(*arr, nc * sizeof(*na));
        if (na == NULL)
            return -ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = m;
    return 0;
}

int dp_trie_insert(dp_trie_t *t, const dp_route_t *r, dp_mock_t *m)
{
    tnode_t *nd = &t->root;
    for (size_t i = 0; i < r->n; i++) {
        const dp_seg_t *s = &r->segs[i];
        if (s->kind == DP_SEG_REST)
            return push(&nd->rest, &nd->n_rest, &nd->cap_rest, m);
        tnode_t *next;
        if (s->kind == DP_SEG_STATIC) {
            next = dp_smap_get(&nd->kids, s->text);
            if (next == NULL) {
                next = calloc(1, sizeof(*next));
                if (next == NULL)
                    return -ENOMEM;
                if (dp_smap_put(&nd->kids, s->text, next, NULL) < 0) {
                    free(next);
                    return -ENOMEM;
                }
            }
        } else {
            if (nd->any == NULL && (nd->any = calloc(1, sizeof(*nd))) == NULL)
                return -ENOMEM;
            next = nd->any;
        }
        nd = next;
    }
    return push(&nd->end, &nd->n_end, &nd->cap_end, m);
}

/* ---- value indexes --------------------------------------------------------- */

/* cond: the keyed condition's index, or -1 for the unkeyed list. */
static int pos_push(poslist_t *l, uint32_t pos, int cond)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        uint32_t *nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        l->v = nv;
        if (cond >= 0) {
            uint16_t *ncd = realloc(l->cond, nc * sizeof(*ncd));
            if (ncd == NULL)
                return -ENOMEM;
            l->cond = ncd;
        }
        l->cap = nc;
    }
    if (cond >= 0)
        l->cond[l->n] = (uint16_t)cond;
    l->v[l->n++] = pos;
    return 0;
}

/* Most expected strings are one mock's: such a bucket holds its position
 * and condition in the map's value itself (odd, so never a pointer), and a
 * request that finds it reads no list (one cache miss fewer per request
 * at 10,000 mocks). Only where a pointer holds 49 bits. */
#define ONE_OK (UINTPTR_MAX >> 48 != 0)

static void *one_enc(uint32_t pos, uint16_t cond)
{
    return (void *)(((uintptr_t)pos << 17) | ((uintptr_t)cond << 1) | 1u);
}

static int one_dec(const void *v, uint32_t *pos, uint16_t *cond)
{
    uintptr_t u = (uintptr_t)v;
    if (!(u & 1u))
        return 0;
    *pos = (uint32_t)(u >> 17);
    *cond = (uint16_t)(u >> 1);
    return 1;
}

static void vindex_free(vindex_t *ix)
{
    if (ix == NULL)
        return;
    DP_SMAP_FOREACH(&ix->buckets, i)
    {
        poslist_t *l = ix->buckets.ents[i].val;
        uint32_t pos;
        uint16_t cond;
        if (one_dec(l, &pos, &cond))
            continue;
        free(l->v);
        free(l->cond);
        free(l);
    }
    dp_smap_free(&ix->buckets);
    free(ix->unkeyed.v);
    dp_jpath_free(ix->jp);
    free(ix);
}

/* The string m expects at path P, or NULL (also for strings holding NUL,
 * which the map cannot key: those mocks stay unkeyed, always candidates).
 * *cond: which of m->conds says so. */
static const char *key_of(const dp_mock_t *m, const char *path, int *cond)
{
    for (size_t c = 0; c < m->n_conds && c <= UINT16_MAX; c++) {
        const char *p, *v;
        size_t len;
        if (m->conds[c].where == DP_COND_BODY &&
            dp_cond_string_equals(m->conds[c].c, &p, &v, &len) &&
            strcmp(p, path) == 0) {
            *cond = (int)c;
            return strlen(v) == len ? v : NULL;
        }
    }
    return NULL;
}

/* Picks the path most mocks of the list key on; NULL if too few do. */
static const char *pick_path(dp_mock_t *const *arr, size_t n)
{
    const char *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < n && i < 64; i++) { /* sample the first 64 */
        for (size_t c = 0; c < arr[i]->n_conds; c++) {
            const char *p, *v;
            size_t len;
            if (arr[i]->conds[c].where != DP_COND_BODY ||
                !dp_cond_string_equals(arr[i]->conds[c].c, &p, &v, &len))
                continue;
            if (best && strcmp(p, best) == 0)
                continue;
            size_t k = 0;
            int ci;
            for (size_t j = 0; j < n; j++)
                k += key_of(arr[j], p, &ci) != NULL;
            if (k > best_n) {
                best = p;
                best_n = k;
            }
        }
    }
    return best_n >= VINDEX_MIN / 2 ? best : NULL;
}

/* NULL when the list is short or has nothing to key on (or on ENOMEM: an
 * index only saves work, a list without one is still correct). */
static vindex_t *vindex_build(dp_mock_t *const *arr, size_t n)
{
    if (n < VINDEX_MIN || n > UINT32_MAX)
        return NULL;
    const char *path = pick_path(arr, n);
    if (path == NULL)
        return NULL;
    vindex_t *ix = calloc(1, sizeof(*ix));
    if (ix == NULL || dp_jpath_compile(path, "", &ix->jp, NULL) < 0) {
        free(ix);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int ci = -1;
        const char *key = key_of(arr[i], path, &ci);
        poslist_t *l = &ix->unkeyed;
        if (key != NULL) {
            l = dp_smap_get(&ix->buckets, key);
            uint32_t p1;
            uint16_t c1;
            if (l == NULL && ONE_OK) {
                if (dp_smap_put(&ix->buckets, key, one_enc((uint32_t)i,
                                                          (uint16_t)ci),
                                NULL) < 0) {
                    vindex_free(ix);
                    return NULL;
                }
                continue;
            }
            int had_one = l != NULL && one_dec(l, &p1, &c1);
            if (l == NULL || had_one) {
                l = calloc(1, sizeof(*l));
                if (l == NULL || (had_one && pos_push(l, p1, c1) < 0) ||
                    dp_smap_put(&ix->buckets, key, l, NULL) < 0) {
                    if (l) {
                        free(l->v);
                        free(l->cond);
                    }
                    free(l);
                    vindex_free(ix);
                    return NULL;
                }
            }
        }
        if (pos_push(l, (uint32_t)i, key ? ci : -1) < 0) {
            vindex_free(ix);
            return NULL;
        }
    }
    return ix;
}

static int seal_node(tnode_t *nd)
{
    nd->end_ix = vindex_build(nd->end, nd->n_end);
    nd->rest_ix = vindex_build(nd->rest, nd->n_rest);
    DP_SMAP_FOREACH(&nd->kids, i)
    seal_node(nd->kids.ents[i].val);
    if (nd->any)
        seal_node(nd->any);
    return 0;
}

/* The literal route the trie consists of, if it is one (see dp_trie). */
static void seal_literal(dp_trie_t *t)
{
    const tnode_t *nd = &t->root;
    size_t len = 0, segs = 0;
    for (;;) {
        if (nd->any != NULL || nd->n_rest != 0)
            return;
        if (nd->kids.n == 0)
            break;
        if (nd->kids.n != 1 || nd->n_end != 0)
            return;
        const dp_smap_ent_t *e = NULL;
        DP_SMAP_FOREACH(&nd->kids, i)
        e = &nd->kids.ents[i];
        if (e->len > UINT8_MAX || len + 1 + e->len > LIT_MAX ||
            segs == UINT8_MAX)
            return;
        t->lit[len] = (char)e->len;
        memcpy(t->lit + len + 1, e->key, e->len);
        len += 1 + e->len;
        segs++;
        nd = e->val;
    }
    if (nd->n_end == 0)
        return;
    t->lit_end = nd->end;
    t->lit_n = nd->n_end;
    t->lit_ix = nd->end_ix;
    t->lit_segs = (uint8_t)segs;
    t->lit_len = (uint8_t)len;
    t->has_lit = 1;
}

void dp_trie_seal(dp_trie_t *t)
{
    if (t) {
        seal_node(&t->root);
        seal_literal(t);
    }
}

/* ---- collecting -------------------------------------------------------- */

typedef struct walk {
    const dp_path_t *p;
    dp_mock_t **out;
    size_t cap, found;
    int budget;
    dp_collect_t *cc;
} walk_t;

static void put(walk_t *w, dp_mock_t *m)
{
    if (w->found < w->cap)
        w->out[w->found] = m;
    w->found++;
}

static void add_all(walk_t *w, dp_mock_t *const *arr, size_t n,
                    const vindex_t *ix)
{
    if (n == 0)
        return;
    if (w->cc)
        w->cc->runs++;
    const json_t *found = NULL;
    int use_ix = 0;
    if (ix != NULL && w->cc != NULL && w->cc->rc != NULL) {
        const json_t *doc = arr[0]->proto->doc(w->cc->rc, DP_COND_BODY);
        found = doc ? dp_jpath_get(ix->jp, doc) : NULL;
        /* absent: only unkeyed mocks can hold; a string: its bucket and
         * the unkeyed; anything else (a number may loosely equal "1e2"):
         * everything */
        use_ix = found == NULL ||
                 (json_is_string(found) &&
                  strlen(json_string_value(found)) ==
                      json_string_length(found));
    }
    if (!use_ix) {
        for (size_t i = 0; i < n; i++)
            put(w, arr[i]);
        return;
    }
    const poslist_t *b =
        found ? dp_smap_get(&ix->buckets, json_string_value(found)) : NULL;
    uint32_t one_pos;
    uint16_t one_cond;
    poslist_t one = {&one_pos, &one_cond, 1, 1};
    if (b && one_dec(b, &one_pos, &one_cond))
        b = &one;
    const poslist_t *u = &ix->unkeyed;
    size_t bi = 0, ui = 0, kept = 0;
    dp_collect_t *cc = w->cc;
    while ((b && bi < b->n) || ui < u->n) { /* merge: stay in match order */
        uint32_t pos;
        if (b && bi < b->n && (ui >= u->n || b->v[bi] < u->v[ui])) {
            pos = b->v[bi];
            if (cc->n_proven < DP_COLLECT_PROVEN) {
                cc->proven[cc->n_proven].m = arr[pos];
                cc->proven[cc->n_proven++].cond = b->cond[bi];
            }
            bi++;
        } else {
            pos = u->v[ui++];
        }
        put(w, arr[pos]);
        kept++;
    }
    if (kept < n)
        w->cc->pruned = 1;
}

static void walk(walk_t *w, const tnode_t *nd, size_t i)
{
    if (--w->budget < 0)
        return;
    if (i == w->p->n) {
        add_all(w, nd->end, nd->n_end, nd->end_ix);
        return;
    }
    add_all(w, nd->rest, nd->n_rest, nd->rest_ix);
    const tnode_t *k = dp_smap_getn(&nd->kids, w->p->seg[i], w->p->len[i]);
    if (k)
        walk(w, k, i + 1);
    if (nd->any)
        walk(w, nd->any, i + 1);
}

size_t dp_trie_collect(const dp_trie_t *t, const dp_path_t *p,
                       dp_mock_t **out, size_t cap, dp_collect_t *cc)
{
    if (t == NULL || p->too_long)
        return 0;
    walk_t w = {p, out, cap, 0, WALK_BUDGET, cc};
    if (t->has_lit) {
        if (p->n != t->lit_segs)
            return 0;
        size_t off = 0;
        for (size_t i = 0; i < p->n; i++) {
            size_t l = (uint8_t)t->lit[off];
            if (p->len[i] != l || memcmp(p->seg[i], t->lit + off + 1, l) != 0)
                return 0;
            off += 1 + l;
        }
        add_all(&w, t->lit_end, t->lit_n, t->lit_ix);
        return w.found;
    }
    walk(&w, &t->root, 0);
    return w.found;
}

static void node_free(tnode_t *nd)
{
    DP_SMAP_FOREACH(&nd->kids, i)
    {
        node_free(nd->kids.ents[i].val);
        free(nd->kids.ents[i].val);
    }
    dp_smap_free(&nd->kids);
    if (nd->any) {
        node_free(nd->any);
        free(nd->any);
    }
    free(nd->end);
    free(nd->rest);
    vindex_free(nd->end_ix);
    vindex_free(nd->rest_ix);
}

void dp_trie_free(dp_trie_t *t)
{
    if (t == NULL)
        return;
    node_free(&t->root);
    free(t);
}
