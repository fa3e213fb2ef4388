/*
 * Selections: ScalarLeafs, FieldsOnCorrectType (with its suggestions),
 * KnownArgumentNames and ProvidedRequiredArguments on fields,
 * KnownFragmentNames, PossibleFragmentSpreads, FragmentsOnCompositeTypes
 * on inline fragments, MaxIntrospectionDepth, and the walk of selection
 * sets with TypeInfo's parent types (OverlappingFieldsCanBeMerged is
 * called per set from here).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_validate_internal.h"

static gql_loc_t spread_name_loc(const gql_selection_t *s)
{
    return gqlv_loc_plus(s->loc, 3);
}

static gql_loc_t inline_cond_loc(const gql_selection_t *s)
{
    return gqlv_loc_plus(s->loc, strlen("... on "));
}

/* ---- selections --------------------------------------------------------- */

/* MaxIntrospectionDepth (graphql-js recommendedRules, part of
 * specifiedRules): lists of __Type nested three deep. */
typedef struct mid_state {
    gqlv_map_t visited;  /* fragment -> entry depth + 1 in this check */
    gqlv_map_t *checked; /* shared across checks */
    gqlv_map_t *exceeded;
    int rec;
} mid_state_t;

static int mid_check_sel(gqlv_ctx_t *c, mid_state_t *st,
                         const gql_selection_t *s, int depth);

static int mid_check_set(gqlv_ctx_t *c, mid_state_t *st,
                         const gql_selection_set_t *set, int depth)
{
    if (!set)
        return 0;
    for (size_t i = 0; i < set->n && !c->aborted; i++)
        if (mid_check_sel(c, st, set->items[i], depth))
            return 1;
    return 0;
}

static int mid_check_sel(gqlv_ctx_t *c, mid_state_t *st,
                         const gql_selection_t *s, int depth)
{
    if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
        const char *nm = s->name;
        int found;
        intptr_t ex =
            (intptr_t)gqlv_map_get(st->exceeded, NULL, NULL, nm, &found);
        if (found && ex <= depth)
            return 1;
        intptr_t vis =
            (intptr_t)gqlv_map_get(&st->visited, NULL, NULL, nm, &found);
        if (found && vis >= depth)
            return 0;
        intptr_t chk =
            (intptr_t)gqlv_map_get(st->checked, NULL, NULL, nm, &found);
        if (found && chk >= depth)
            return 0;
        const gql_definition_t *f = gqlv_fragment(c, nm);
        if (!f)
            return 0;
        if (++st->rec > GQLV_MAX_FRAGMENT_RECURSION) {
            gqlv_abort(c);
            return 0;
        }
        gqlv_map_put(c, &st->visited, NULL, NULL, nm, (void *)(intptr_t)depth);
        int r = mid_check_set(c, st, f->set, depth);
        st->rec--;
        gqlv_map_put(c, r ? st->exceeded : st->checked, NULL, NULL, nm,
                     (void *)(intptr_t)depth);
        return r;
    }
    if (s->kind == GQL_SEL_FIELD &&
        (strcmp(s->name, "fields") == 0 || strcmp(s->name, "interfaces") == 0 ||
         strcmp(s->name, "possibleTypes") == 0 ||
         strcmp(s->name, "inputFields") == 0)) {
        if (++depth >= 3)
            return 1;
    }
    return mid_check_set(c, st, s->set, depth);
}

typedef struct mid_shared {
    gqlv_map_t checked, exceeded;
} mid_shared_t;

static mid_shared_t *mid_shared(gqlv_ctx_t *c)
{
    static const char key[] = "\x02mid";
    mid_shared_t *m = gqlv_map_get(&c->frag_sets, NULL, NULL, key, NULL);
    if (!m) {
        m = gqlv_alloc(c, sizeof(*m));
        if (m)
            gqlv_map_put(c, &c->frag_sets, NULL, NULL, key, m);
    }
    return m;
}

static int max_introspection_depth(gqlv_ctx_t *c, const gql_selection_t *s)
{
    if (c->quiet || c->in_introspection_error ||
        (strcmp(s->name, "__schema") != 0 && strcmp(s->name, "__type") != 0))
        return 0;
    mid_shared_t *sh = mid_shared(c);
    if (!sh)
        return 0;
    mid_state_t st = {.checked = &sh->checked, .exceeded = &sh->exceeded};
    if (mid_check_sel(c, &st, s, 0)) {
        gqlv_report(c, "Maximum introspection depth exceeded", &s->loc, 1);
        return 1;
    }
    return 0;
}

static void scalar_leafs(gqlv_ctx_t *c, const gql_selection_t *s,
                         const gql_type_ref_t *type)
{
    const gql_stype_t *t = gqlv_named(c, type);
    if (c->quiet || !type || !t)
        return;
    if (gqlv_is_leaf(t)) {
        if (s->set)
            gqlv_reportf(c, &s->set->loc, 1,
                         "Field \"%s\" must not have a selection since type "
                         "\"%s\" has no subfields.",
                         s->name, gqlv_type_str(c, type));
    } else if (!s->set) {
        gqlv_reportf(c, &s->loc, 1,
                     "Field \"%s\" of type \"%s\" must have a selection of "
                     "subfields. Did you mean \"%s { ... }\"?",
                     s->name, gqlv_type_str(c, type), s->name);
    } else if (s->set->n == 0) {
        gqlv_reportf(c, &s->loc, 1,
                     "Field \"%s\" of type \"%s\" must have at least one field "
                     "selected.",
                     s->name, gqlv_type_str(c, type));
    }
}

/* FieldsOnCorrectType's "Did you mean to use an inline fragment on":
 * the possible types defining the field, and their interfaces that do,
 * most used first, interfaces before their implementations. */
typedef struct sugg_type {
    const gql_stype_t *t;
    int count;
} sugg_type_t;

static int sugg_before(const sugg_type_t *a, const sugg_type_t *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    if (a->t->kind == GQL_K_INTERFACE && gqlv_is_subtype(a->t, b->t))
        return 1;
    if (b->t->kind == GQL_K_INTERFACE && gqlv_is_subtype(b->t, a->t))
        return 0;
    return gqlv_natural_compare(a->t->name, b->t->name) < 0;
}

static void suggest_types(gqlv_ctx_t *c, gqlv_str_t *b,
                          const gql_stype_t *parent, const char *field)
{
    if (!gqlv_is_abstract(parent))
        return;
    size_t cap = 0;
    for (size_t i = 0; i < parent->n_possible; i++)
        cap += 1 + parent->possible[i]->n_interfaces;
    sugg_type_t *list = gqlv_alloc(c, (cap + 1) * sizeof(*list));
    if (!list)
        return;
    size_t n = 0;
    for (size_t i = 0; i < parent->n_possible; i++) {
        const gql_stype_t *p = parent->possible[i];
        if (!gql_stype_field(p, field))
            continue;
        list[n++] = (sugg_type_t){p, 1};
        for (size_t k = 0; k < p->n_interfaces; k++) {
            const gql_stype_t *in = p->interfaces[k];
            if (!gql_stype_field(in, field))
                continue;
            size_t j = 0;
            while (j < n && list[j].t != in)
                j++;
            if (j == n)
                list[n++] = (sugg_type_t){in, 0};
            list[j].count++;
        }
    }
    /* a stable insertion sort, as Array.prototype.sort is stable */
    for (size_t i = 1; i < n; i++) {
        sugg_type_t x = list[i];
        size_t j = i;
        while (j > 0 && sugg_before(&x, &list[j - 1])) {
            list[j] = list[j - 1];
            j--;
        }
        list[j] = x;
    }
    if (!n)
        return;
    gqlv_str_add(b, " Did you mean to use an inline fragment on ");
    size_t shown = n < 5 ? n : 5;
    for (size_t i = 0; i < shown; i++) {
        if (i && shown == 2)
            gqlv_str_add(b, " or ");
        else if (i && i == shown - 1)
            gqlv_str_add(b, ", or ");
        else if (i)
            gqlv_str_add(b, ", ");
        gqlv_str_addf(b, "\"%s\"", list[i].t->name);
    }
    gqlv_str_add(b, "?");
}

static void fields_on_correct_type(gqlv_ctx_t *c, const gql_selection_t *s,
                                   const gql_stype_t *parent,
                                   const gql_sfield_t *def)
{
    if (c->quiet || !parent || def)
        return;
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_str_addf(&b, "Cannot query field \"%s\" on type \"%s\".", s->name,
                  parent->name);
    size_t before = b.len;
    suggest_types(c, &b, parent, s->name);
    if (b.len == before &&
        (parent->kind == GQL_K_OBJECT || parent->kind == GQL_K_INTERFACE)) {
        const char **names =
            gqlv_alloc(c, (parent->n_fields + 1) * sizeof(*names));
        if (names) {
            for (size_t i = 0; i < parent->n_fields; i++)
                names[i] = parent->fields[i].name;
            gqlv_did_you_mean(&b, NULL, s->name, names, parent->n_fields);
        }
    }
    gqlv_report(c, gqlv_str_get(&b), &s->loc, 1);
}

static void walk_field(gqlv_ctx_t *c, const gql_selection_t *s,
                       const gql_stype_t *parent)
{
    const gql_sfield_t *def = gqlv_field_def(c, parent, s->name);
    const gql_type_ref_t *type = def ? def->type : NULL;
    scalar_leafs(c, s, type);
    fields_on_correct_type(c, s, parent, def);
    gqlv_unique_directives(c, s->dirs, s->n_dirs);
    gqlv_unique_arguments(c, s->args, s->n_args);
    int mid = max_introspection_depth(c, s);
    if (mid)
        c->in_introspection_error++;
    const gql_sfield_t *outer = c->cur_field;
    c->cur_field = def;
    for (size_t i = 0; i < s->n_args && !c->aborted; i++) {
        const gql_argument_t *a = &s->args[i];
        const gql_sarg_t *ad =
            def ? gqlv_find_arg(def->args, def->n_args, a->name) : NULL;
        /* KnownArgumentNames */
        if (!ad && def && parent && !c->quiet) {
            gqlv_str_t b;
            gqlv_str_init(&b, c);
            gqlv_str_addf(&b, "Unknown argument \"%s\" on field \"%s.%s\".",
                          a->name, parent->name, def->name);
            const char **names = gqlv_arg_names(c, def->args, def->n_args);
            if (names)
                gqlv_did_you_mean(&b, NULL, a->name, names, def->n_args);
            gqlv_report(c, gqlv_str_get(&b), &a->loc, 1);
        }
        const gql_type_ref_t *t =
            ad && gqlv_is_input_ref(c, ad->type) ? ad->type : NULL;
        gqlv_walk_value(c, a->value, t, NULL, ad && ad->default_value, 1);
    }
    gqlv_walk_directives(c, s->dirs, s->n_dirs, GQL_DL_FIELD);
    if (s->set)
        gqlv_walk_set(c, s->set, gqlv_named(c, type), 0);
    c->cur_field = outer;
    if (mid)
        c->in_introspection_error--;
    /* ProvidedRequiredArguments (leave) */
    if (def && !c->quiet)
        for (size_t i = 0; i < def->n_args && !c->aborted; i++) {
            const gql_sarg_t *a = &def->args[i];
            if (!gqlv_is_required(a))
                continue;
            int given = 0;
            for (size_t k = 0; k < s->n_args && !given; k++)
                given = strcmp(s->args[k].name, a->name) == 0;
            if (!given)
                gqlv_reportf(c, &s->loc, 1,
                             "Field \"%s\" argument \"%s\" of type \"%s\" is "
                             "required, but it was not provided.",
                             def->name, a->name, gqlv_type_str(c, a->type));
        }
}

static const gql_stype_t *composite_of_cond(gqlv_ctx_t *c, const char *cond)
{
    const gql_stype_t *t = cond ? gql_schema_type(c->s, cond) : NULL;
    return gqlv_is_composite(t) ? t : NULL;
}

static void walk_spread(gqlv_ctx_t *c, const gql_selection_t *s,
                        const gql_stype_t *parent)
{
    const gql_definition_t *f = gqlv_fragment(c, s->name);
    /* KnownFragmentNames */
    if (!f && !c->quiet) {
        gql_loc_t l = spread_name_loc(s);
        gqlv_reportf(c, &l, 1, "Unknown fragment \"%s\".", s->name);
    }
    /* PossibleFragmentSpreads */
    const gql_stype_t *ft = f ? composite_of_cond(c, f->type_condition) : NULL;
    if (ft && parent && !c->quiet && !gqlv_types_overlap(ft, parent))
        gqlv_reportf(c, &s->loc, 1,
                     "Fragment \"%s\" cannot be spread here as objects of type "
                     "\"%s\" can never be of type \"%s\".",
                     s->name, parent->name, ft->name);
    gqlv_unique_directives(c, s->dirs, s->n_dirs);
    gqlv_walk_directives(c, s->dirs, s->n_dirs, GQL_DL_FRAGMENT_SPREAD);
}

static void walk_inline(gqlv_ctx_t *c, const gql_selection_t *s,
                        const gql_stype_t *parent, const gql_stype_t *cur)
{
    const gql_stype_t *t =
        s->type_condition ? gql_schema_type(c->s, s->type_condition) : cur;
    /* FragmentsOnCompositeTypes */
    if (s->type_condition && t && !gqlv_is_composite(t) && !c->quiet) {
        gql_loc_t l = inline_cond_loc(s);
        gqlv_reportf(c, &l, 1,
                     "Fragment cannot condition on non composite type \"%s\".",
                     s->type_condition);
    }
    /* PossibleFragmentSpreads */
    if (gqlv_is_composite(t) && gqlv_is_composite(parent) && !c->quiet &&
        !gqlv_types_overlap(t, parent))
        gqlv_reportf(c, &s->loc, 1,
                     "Fragment cannot be spread here as objects of type \"%s\" "
                     "can never be of type \"%s\".",
                     parent->name, t->name);
    gqlv_unique_directives(c, s->dirs, s->n_dirs);
    if (s->type_condition)
        gqlv_known_type(c, s->type_condition, inline_cond_loc(s));
    gqlv_walk_directives(c, s->dirs, s->n_dirs, GQL_DL_INLINE_FRAGMENT);
    if (s->set)
        gqlv_walk_set(c, s->set, gqlv_is_output(t) ? t : NULL, 1);
}

/* `type`: the named type whose selection set this is (TypeInfo's type),
 * NULL if unknown; the parent type of its fields when composite. */
void gqlv_walk_set(gqlv_ctx_t *c, const gql_selection_set_t *set,
                   const gql_stype_t *type, int of_inline)
{
    const gql_stype_t *parent = gqlv_is_composite(type) ? type : NULL;
    if (!of_inline && !c->quiet &&
        (set->n > 1 ||
         (set->n == 1 && set->items[0]->kind == GQL_SEL_INLINE_FRAGMENT)))
        gqlv_overlap_check(c, parent, set);
    for (size_t i = 0; i < set->n && !c->aborted; i++) {
        const gql_selection_t *s = set->items[i];
        switch (s->kind) {
        case GQL_SEL_FIELD:
            walk_field(c, s, parent);
            break;
        case GQL_SEL_FRAGMENT_SPREAD:
            walk_spread(c, s, parent);
            break;
        case GQL_SEL_INLINE_FRAGMENT:
            walk_inline(c, s, parent, type);
            break;
        }
    }
}
