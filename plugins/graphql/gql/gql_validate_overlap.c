/*
 * OverlappingFieldsCanBeMerged, as graphql-js 16 does it: fields that
 * share a response key must be the same field with the same arguments
 * (unless their parents can never be the same object) and return types
 * that can merge, recursively through sub-selections and fragments.
 *
 * Comparing every pair is exponential on hostile documents (fragments
 * spread into fragments). Like graphql-js: a selection set's fields are
 * collected once per parent type, compared fragment pairs and
 * field-fragment comparisons are remembered, pair reasons are memoized,
 * and every comparison charges a budget; when it runs out, validation
 * stops with "Validation aborted." instead of spinning.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gql_validate_internal.h"

#define MAX_CONFLICT_DETAIL_LENGTH 1000
#define MAX_CONFLICT_NODES 20

typedef struct ov_field { /* graphql-js fieldDetails */
    const gql_stype_t *parent;
    const gql_selection_t *node;
    const gql_sfield_t *def;
    int simple_leaf;
} ov_field_t;

typedef struct ov_group {
    const char *key;
    gqlv_vec_t fields; /* ov_field_t* */
} ov_group_t;

typedef struct ov_result { /* collectFieldsResult */
    gqlv_vec_t groups;     /* ov_group_t*, in insertion order */
    gqlv_map_t index;      /* key -> group */
    gqlv_vec_t frag_names; /* const char*, each once */
    gqlv_map_t frag_seen;
    gqlv_map_t compared; /* fragment name -> 1 (shared) / 2 (exclusive) */
    gqlv_map_t overlaps; /* other result -> gqlv_vec_t* of ov_overlap_t */
} ov_result_t;

typedef struct ov_overlap {
    const char *key;
    const ov_group_t *g1, *g2;
} ov_overlap_t;

typedef struct ov_conflict {
    const char *key;
    const char *reason;
    gqlv_vec_t f1, f2; /* const gql_selection_t* */
} ov_conflict_t;

typedef struct ov_state {
    gqlv_map_t collected; /* (parent, set) -> ov_result_t* */
    gqlv_map_t pairs;     /* (frag, frag) -> 1 shared / 2 exclusive */
    gqlv_map_t reasons;   /* (field, field) -> reason or &no_reason */
    int rec;
} ov_state_t;

static const char no_reason[] = "";

static ov_state_t *state(gqlv_ctx_t *c)
{
    if (!c->overlap)
        c->overlap = gqlv_alloc(c, sizeof(ov_state_t));
    return c->overlap;
}

static int spend(gqlv_ctx_t *c, long cost)
{
    c->overlap_budget -= cost;
    if (c->overlap_budget < 0) {
        gqlv_abort(c);
        return 0;
    }
    return !c->aborted;
}

static int enter(gqlv_ctx_t *c, ov_state_t *st)
{
    if (++st->rec > GQLV_MAX_FRAGMENT_RECURSION) {
        gqlv_abort(c);
        return 0;
    }
    return !c->aborted;
}

/* ---- collecting fields ------------------------------------------------- */

static void collect_impl(gqlv_ctx_t *c, ov_result_t *r,
                         const gql_stype_t *parent,
                         const gql_selection_set_t *set)
{
    for (size_t i = 0; set && i < set->n && !c->aborted; i++) {
        const gql_selection_t *s = set->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            const char *key = s->alias ? s->alias : s->name;
            ov_group_t *g = gqlv_map_get(&r->index, NULL, NULL, key, NULL);
            if (!g) {
                g = gqlv_alloc(c, sizeof(*g));
                if (!g)
                    return;
                g->key = key;
                gqlv_map_put(c, &r->index, NULL, NULL, key, g);
                gqlv_vec_push(c, &r->groups, g);
            }
            ov_field_t *f = gqlv_alloc(c, sizeof(*f));
            if (!f)
                return;
            f->parent = parent;
            f->node = s;
            if (parent && (parent->kind == GQL_K_OBJECT ||
                           parent->kind == GQL_K_INTERFACE))
                f->def = gql_stype_field(parent, s->name);
            f->simple_leaf = s->n_args == 0 && !s->set;
            gqlv_vec_push(c, &g->fields, f);
        } else if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
            int found;
            gqlv_map_get(&r->frag_seen, NULL, NULL, s->name, &found);
            if (!found) {
                gqlv_map_put(c, &r->frag_seen, NULL, NULL, s->name, (void *)1);
                gqlv_vec_push(c, &r->frag_names, (void *)s->name);
            }
        } else {
            const gql_stype_t *t =
                s->type_condition ? gql_schema_type(c->s, s->type_condition)
                                  : parent;
            collect_impl(c, r, t, s->set);
        }
    }
}

static ov_result_t *collect(gqlv_ctx_t *c, ov_state_t *st,
                            const gql_stype_t *parent,
                            const gql_selection_set_t *set)
{
    ov_result_t *r = gqlv_map_get(&st->collected, parent, set, NULL, NULL);
    if (r)
        return r;
    r = gqlv_alloc(c, sizeof(*r));
    if (!r)
        return NULL;
    collect_impl(c, r, parent, set);
    gqlv_map_put(c, &st->collected, parent, set, NULL, r);
    return c->aborted ? NULL : r;
}

static ov_result_t *collect_fragment(gqlv_ctx_t *c, ov_state_t *st,
                                     const gql_definition_t *f)
{
    const gql_stype_t *t =
        f->type_condition ? gql_schema_type(c->s, f->type_condition) : NULL;
    return collect(c, st, t, f->set);
}

/* ---- comparing ----------------------------------------------------------- */

static int values_equal(const gql_value_t *a, const gql_value_t *b);

static int cmp_field_name(const void *x, const void *y)
{
    const gql_object_field_t *a = *(const gql_object_field_t *const *)x;
    const gql_object_field_t *b = *(const gql_object_field_t *const *)y;
    int r = strcmp(a->name, b->name);
    /* keep source order between equal names, as a stable sort */
    return r ? r : (a < b ? -1 : a > b);
}

static int objects_equal(const gql_value_t *a, const gql_value_t *b)
{
    if (a->n_fields != b->n_fields)
        return 0;
    size_t n = a->n_fields;
    if (!n)
        return 1;
    const gql_object_field_t **sa = malloc(2 * n * sizeof(*sa));
    if (!sa)
        return 0;
    const gql_object_field_t **sb = sa + n;
    for (size_t i = 0; i < n; i++) {
        sa[i] = &a->fields[i];
        sb[i] = &b->fields[i];
    }
    qsort(sa, n, sizeof(*sa), cmp_field_name);
    qsort(sb, n, sizeof(*sb), cmp_field_name);
    int eq = 1;
    for (size_t i = 0; i < n && eq; i++)
        eq = strcmp(sa[i]->name, sb[i]->name) == 0 &&
             values_equal(sa[i]->value, sb[i]->value);
    free(sa);
    return eq;
}

/* What graphql-js's stringifyValue makes equal: same kind and value,
 * object fields in name order, strings with their block flag. */
static int values_equal(const gql_value_t *a, const gql_value_t *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case GQL_V_BOOLEAN:
        return !a->boolean == !b->boolean;
    case GQL_V_NULL:
        return 1;
    case GQL_V_STRING:
        return a->len == b->len && !a->block == !b->block &&
               (a->len == 0 || memcmp(a->text, b->text, a->len) == 0);
    case GQL_V_LIST:
        if (a->n_items != b->n_items)
            return 0;
        for (size_t i = 0; i < a->n_items; i++)
            if (!values_equal(a->items[i], b->items[i]))
                return 0;
        return 1;
    case GQL_V_OBJECT:
        return objects_equal(a, b);
    default:
        return a->text && b->text && strcmp(a->text, b->text) == 0;
    }
}

static int same_arguments(gqlv_ctx_t *c, const gql_selection_t *x,
                          const gql_selection_t *y)
{
    if (x->n_args == 0)
        return y->n_args == 0;
    if (x->n_args != y->n_args)
        return 0;
    for (size_t i = 0; i < x->n_args; i++) {
        if (!spend(c, 1))
            return 1;
        /* a Map of y's arguments: the last of a repeated name wins */
        const gql_value_t *v2 = NULL;
        for (size_t k = 0; k < y->n_args; k++)
            if (strcmp(y->args[k].name, x->args[i].name) == 0)
                v2 = y->args[k].value;
        if (!v2 || !values_equal(x->args[i].value, v2))
            return 0;
    }
    return 1;
}

/* graphql-js compares type objects by identity: a named type is one
 * object, a wrapper ([T], T!) one per place it is written. */
static int same_type_object(const gql_type_ref_t *a, const gql_type_ref_t *b)
{
    if (a == b)
        return 1;
    return a && b && a->kind == GQL_T_NAMED && b->kind == GQL_T_NAMED &&
           strcmp(a->name, b->name) == 0;
}

static int types_conflict(gqlv_ctx_t *c, const gql_type_ref_t *a,
                          const gql_type_ref_t *b)
{
    if (same_type_object(a, b))
        return 0;
    if (!spend(c, 1))
        return 0;
    if (a->kind == GQL_T_LIST)
        return b->kind == GQL_T_LIST ? types_conflict(c, a->of, b->of) : 1;
    if (b->kind == GQL_T_LIST)
        return 1;
    if (a->kind == GQL_T_NON_NULL)
        return b->kind == GQL_T_NON_NULL ? types_conflict(c, a->of, b->of) : 1;
    if (b->kind == GQL_T_NON_NULL)
        return 1;
    const gql_stype_t *ta = gql_schema_type(c->s, a->name);
    const gql_stype_t *tb = gql_schema_type(c->s, b->name);
    if (gqlv_is_leaf(ta) || gqlv_is_leaf(tb))
        return 1; /* names differ */
    return 0;
}

static const char *abbreviate(gqlv_ctx_t *c, const char *text)
{
    size_t n = strlen(text);
    if (n <= MAX_CONFLICT_DETAIL_LENGTH)
        return text;
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_str_addn(&b, text, MAX_CONFLICT_DETAIL_LENGTH);
    gqlv_str_add(&b, "...");
    return gqlv_str_get(&b);
}

static ov_conflict_t *new_conflict(gqlv_ctx_t *c, const char *key,
                                   const char *reason)
{
    ov_conflict_t *k = gqlv_alloc(c, sizeof(*k));
    if (k) {
        k->key = key;
        k->reason = reason;
    }
    return k;
}

static void collect_between(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                            int excl, ov_result_t *r1, ov_result_t *r2);
static void fields_and_fragment(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                                int excl, ov_result_t *r, const char *name);
static void between_fragments(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                              int excl, const char *n1, const char *n2);

static void
between_sub_selections(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out, int excl,
                       const gql_stype_t *p1, const gql_selection_set_t *s1,
                       const gql_stype_t *p2, const gql_selection_set_t *s2)
{
    ov_result_t *r1 = collect(c, st, p1, s1);
    ov_result_t *r2 = collect(c, st, p2, s2);
    if (!r1 || !r2)
        return;
    collect_between(c, st, out, excl, r1, r2);
    for (size_t i = 0; i < r2->frag_names.n && !c->aborted; i++)
        fields_and_fragment(c, st, out, excl, r1, r2->frag_names.items[i]);
    for (size_t i = 0; i < r1->frag_names.n && !c->aborted; i++)
        fields_and_fragment(c, st, out, excl, r2, r1->frag_names.items[i]);
    for (size_t i = 0; i < r1->frag_names.n && !c->aborted; i++)
        for (size_t k = 0; k < r2->frag_names.n && !c->aborted; k++)
            between_fragments(c, st, out, excl, r1->frag_names.items[i],
                              r2->frag_names.items[k]);
}

/* graphql-js collectConflictNodes: the enclosing field, then the deepest
 * nodes of the sub-conflicts, at most MAX_CONFLICT_NODES. */
static void conflict_nodes(gqlv_ctx_t *c, gqlv_vec_t *dst,
                           const gql_selection_t *node,
                           const gqlv_vec_t *conflicts, int side)
{
    gqlv_vec_push(c, dst, (void *)node);
    for (size_t i = 0; i < conflicts->n; i++) {
        const ov_conflict_t *k = conflicts->items[i];
        const gqlv_vec_t *src = side == 1 ? &k->f1 : &k->f2;
        size_t remaining = MAX_CONFLICT_NODES - dst->n;
        size_t from = src->n > remaining ? src->n - remaining : 0;
        for (size_t j = from; j < src->n; j++)
            gqlv_vec_push(c, dst, src->items[j]);
        if (dst->n == MAX_CONFLICT_NODES)
            break;
    }
}

static ov_conflict_t *sub_conflicts(gqlv_ctx_t *c, const gqlv_vec_t *conflicts,
                                    const char *key, const gql_selection_t *n1,
                                    const gql_selection_t *n2)
{
    if (!conflicts->n)
        return NULL;
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    for (size_t i = 0; i < conflicts->n; i++) {
        const ov_conflict_t *k = conflicts->items[i];
        gqlv_str_addf(&b, "%ssubfields \"%s\" conflict because %s",
                      b.len ? " and " : "", abbreviate(c, k->key), k->reason);
        if (b.len > MAX_CONFLICT_DETAIL_LENGTH)
            break;
    }
    ov_conflict_t *r = new_conflict(c, key, abbreviate(c, gqlv_str_get(&b)));
    if (!r)
        return NULL;
    conflict_nodes(c, &r->f1, n1, conflicts, 1);
    conflict_nodes(c, &r->f2, n2, conflicts, 2);
    return r;
}

static ov_conflict_t *find_conflict(gqlv_ctx_t *c, ov_state_t *st,
                                    int parents_excl, const char *key,
                                    const ov_field_t *f1, const ov_field_t *f2)
{
    int excl =
        parents_excl ||
        (f1->parent != f2->parent && f1->parent && f2->parent &&
         f1->parent->kind == GQL_K_OBJECT && f2->parent->kind == GQL_K_OBJECT);
    if (!spend(c, 2))
        return NULL;
    const gql_selection_t *n1 = f1->node, *n2 = f2->node;
    const gql_type_ref_t *t1 = f1->def ? f1->def->type : NULL;
    const gql_type_ref_t *t2 = f2->def ? f2->def->type : NULL;
    if (f1->simple_leaf && f2->simple_leaf && same_type_object(t1, t2) &&
        strcmp(n1->name, n2->name) == 0)
        return NULL;
    if (!excl) {
        const char *reason = gqlv_map_get(&st->reasons, f1, f2, NULL, NULL);
        if (!reason) {
            if (strcmp(n1->name, n2->name) != 0) {
                gqlv_str_t b;
                gqlv_str_init(&b, c);
                gqlv_str_addf(&b, "\"%s\" and \"%s\" are different fields",
                              abbreviate(c, n1->name), abbreviate(c, n2->name));
                reason = gqlv_str_get(&b);
            } else if (same_arguments(c, n1, n2)) {
                reason = no_reason;
            } else {
                reason = "they have differing arguments";
            }
            gqlv_map_put(c, &st->reasons, f1, f2, NULL, (void *)reason);
        }
        if (c->aborted)
            return NULL;
        if (reason != no_reason) {
            ov_conflict_t *k = new_conflict(c, key, reason);
            if (k) {
                gqlv_vec_push(c, &k->f1, (void *)n1);
                gqlv_vec_push(c, &k->f2, (void *)n2);
            }
            return k;
        }
    }
    if (t1 && t2 && types_conflict(c, t1, t2)) {
        gqlv_str_t b;
        gqlv_str_init(&b, c);
        gqlv_str_add(&b, "they return conflicting types \"");
        gqlv_print_type(&b, t1);
        gqlv_str_add(&b, "\" and \"");
        gqlv_print_type(&b, t2);
        gqlv_str_add(&b, "\"");
        ov_conflict_t *k = new_conflict(c, key, gqlv_str_get(&b));
        if (k) {
            gqlv_vec_push(c, &k->f1, (void *)n1);
            gqlv_vec_push(c, &k->f2, (void *)n2);
        }
        return k;
    }
    if (c->aborted || !n1->set || !n2->set)
        return NULL;
    if (!enter(c, st))
        return NULL;
    gqlv_vec_t subs = {0};
    between_sub_selections(c, st, &subs, excl, gqlv_named(c, t1), n1->set,
                           gqlv_named(c, t2), n2->set);
    st->rec--;
    return c->aborted ? NULL : sub_conflicts(c, &subs, key, n1, n2);
}

static const gqlv_vec_t *overlapping(gqlv_ctx_t *c, ov_result_t *r1,
                                     ov_result_t *r2)
{
    gqlv_vec_t *hit = gqlv_map_get(&r1->overlaps, r2, NULL, NULL, NULL);
    if (hit)
        return hit;
    gqlv_vec_t *v = gqlv_alloc(c, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < r1->groups.n; i++) {
        if (!spend(c, 1))
            return NULL;
        const ov_group_t *g1 = r1->groups.items[i];
        const ov_group_t *g2 =
            gqlv_map_get(&r2->index, NULL, NULL, g1->key, NULL);
        if (!g2)
            continue;
        ov_overlap_t *o = gqlv_alloc(c, sizeof(*o));
        if (!o)
            return NULL;
        *o = (ov_overlap_t){g1->key, g1, g2};
        gqlv_vec_push(c, v, o);
    }
    gqlv_map_put(c, &r1->overlaps, r2, NULL, NULL, v);
    return v;
}

static void collect_between(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                            int excl, ov_result_t *r1, ov_result_t *r2)
{
    if (!r1->groups.n || !r2->groups.n)
        return;
    const gqlv_vec_t *ov = overlapping(c, r1, r2);
    for (size_t i = 0; ov && i < ov->n && !c->aborted; i++) {
        const ov_overlap_t *o = ov->items[i];
        for (size_t a = 0; a < o->g1->fields.n && !c->aborted; a++)
            for (size_t b = 0; b < o->g2->fields.n && !c->aborted; b++) {
                ov_conflict_t *k =
                    find_conflict(c, st, excl, o->key, o->g1->fields.items[a],
                                  o->g2->fields.items[b]);
                if (k)
                    gqlv_vec_push(c, out, k);
            }
    }
}

static void collect_within(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                           ov_result_t *r)
{
    for (size_t i = 0; i < r->groups.n && !c->aborted; i++) {
        const ov_group_t *g = r->groups.items[i];
        for (size_t a = 0; a < g->fields.n && !c->aborted; a++)
            for (size_t b = a + 1; b < g->fields.n && !c->aborted; b++) {
                ov_conflict_t *k = find_conflict(
                    c, st, 0, g->key, g->fields.items[a], g->fields.items[b]);
                if (k)
                    gqlv_vec_push(c, out, k);
            }
    }
}

static void fields_and_fragment(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                                int excl, ov_result_t *r, const char *name)
{
    if (!spend(c, 1) || !r->groups.n)
        return;
    /* a shared (non-exclusive) comparison covers an exclusive one too */
    intptr_t seen =
        (intptr_t)gqlv_map_get(&r->compared, NULL, NULL, name, NULL);
    if (seen == 1 || (excl && seen == 2))
        return;
    gqlv_map_put(c, &r->compared, NULL, NULL, name,
                 (void *)(intptr_t)(excl ? 2 : 1));
    const gql_definition_t *f = gqlv_fragment(c, name);
    if (!f)
        return;
    ov_result_t *r2 = collect_fragment(c, st, f);
    if (!r2 || r2 == r)
        return;
    if (!enter(c, st))
        return;
    collect_between(c, st, out, excl, r, r2);
    for (size_t i = 0; i < r2->frag_names.n && !c->aborted; i++)
        fields_and_fragment(c, st, out, excl, r, r2->frag_names.items[i]);
    st->rec--;
}

static int pair_seen(const ov_state_t *st, const void *a, const void *b,
                     int excl)
{
    for (int flip = 0; flip < 2; flip++) {
        intptr_t v = (intptr_t)gqlv_map_get(&st->pairs, flip ? b : a,
                                            flip ? a : b, NULL, NULL);
        if (v && (excl || v == 1))
            return 1;
    }
    return 0;
}

static void between_fragments(gqlv_ctx_t *c, ov_state_t *st, gqlv_vec_t *out,
                              int excl, const char *n1, const char *n2)
{
    if (!spend(c, 2) || strcmp(n1, n2) == 0)
        return;
    const gql_definition_t *f1 = gqlv_fragment(c, n1);
    const gql_definition_t *f2 = gqlv_fragment(c, n2);
    if (!f1 || !f2 || pair_seen(st, f1, f2, excl))
        return;
    gqlv_map_put(c, &st->pairs, f1, f2, NULL, (void *)(intptr_t)(excl ? 2 : 1));
    ov_result_t *r1 = collect_fragment(c, st, f1);
    ov_result_t *r2 = collect_fragment(c, st, f2);
    if (!r1 || !r2 || !enter(c, st))
        return;
    collect_between(c, st, out, excl, r1, r2);
    for (size_t i = 0; i < r2->frag_names.n && !c->aborted; i++)
        between_fragments(c, st, out, excl, n1, r2->frag_names.items[i]);
    for (size_t i = 0; i < r1->frag_names.n && !c->aborted; i++)
        between_fragments(c, st, out, excl, r1->frag_names.items[i], n2);
    st->rec--;
}

static void report(gqlv_ctx_t *c, const ov_conflict_t *k)
{
    size_t n = k->f1.n + k->f2.n;
    gql_loc_t *locs = gqlv_alloc(c, (n + 1) * sizeof(*locs));
    if (!locs)
        return;
    size_t m = 0;
    for (size_t i = 0; i < k->f1.n; i++)
        locs[m++] = ((const gql_selection_t *)k->f1.items[i])->loc;
    for (size_t i = 0; i < k->f2.n; i++)
        locs[m++] = ((const gql_selection_t *)k->f2.items[i])->loc;
    gqlv_reportf(c, locs, m,
                 "Fields \"%s\" conflict because %s. Use different aliases on "
                 "the fields to fetch both if this was intentional.",
                 abbreviate(c, k->key), k->reason);
}

void gqlv_overlap_check(gqlv_ctx_t *c, const gql_stype_t *parent,
                        const gql_selection_set_t *set)
{
    ov_state_t *st = state(c);
    if (!st)
        return;
    ov_result_t *r = collect(c, st, parent, set);
    if (!r)
        return;
    gqlv_vec_t out = {0};
    collect_within(c, st, &out, r);
    if (r->frag_names.n && (r->groups.n || r->frag_names.n > 1))
        for (size_t i = 0; i < r->frag_names.n && !c->aborted; i++) {
            fields_and_fragment(c, st, &out, 0, r, r->frag_names.items[i]);
            for (size_t k = i + 1; k < r->frag_names.n && !c->aborted; k++)
                between_fragments(c, st, &out, 0, r->frag_names.items[i],
                                  r->frag_names.items[k]);
        }
    for (size_t i = 0; i < out.n && !c->aborted; i++)
        report(c, out.items[i]);
}
