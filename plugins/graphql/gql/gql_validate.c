/*
 * gql_validate: the specification's validation rules (the rules of
 * graphql-js 16's specifiedRules, with its messages and locations).
 *
 * graphql-js visits the document once and runs every rule at each node
 * (visitInParallel), with a TypeInfo that tracks the parent type, field,
 * argument and input type. This walker does the same in one recursive
 * descent, calling the rules at each node in specifiedRules order so the
 * errors come out in graphql-js's order. Rules that need the whole
 * document (variable usages through fragments) read what a first, quiet
 * pass of the same walker collected.
 *
 * This file: the document, operations, fragments and variables (and the
 * entry point). Values are in gql_validate_values.c, directives and type
 * names in gql_validate_directives.c, selections in
 * gql_validate_selections.c, OverlappingFieldsCanBeMerged in
 * gql_validate_overlap.c, the shared helpers in gql_validate_util.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_validate_internal.h"

/* ---- locations the AST does not carry -------------------------------- */

static const char *op_keyword(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION       ? "mutation"
           : op == GQL_OP_SUBSCRIPTION ? "subscription"
                                       : "query";
}

static gql_loc_t op_name_loc(const gql_definition_t *d)
{
    return gqlv_loc_plus(d->loc, strlen(op_keyword(d->op)) + 1);
}

static gql_loc_t frag_name_loc(const gql_definition_t *d)
{
    return gqlv_loc_plus(d->loc, strlen("fragment "));
}

static gql_loc_t frag_cond_loc(const gql_definition_t *d)
{
    return gqlv_loc_plus(d->loc, strlen("fragment ") + strlen(d->name) +
                                     strlen(" on "));
}

static gql_loc_t var_name_loc(const gql_variable_def_t *v)
{
    return gqlv_loc_plus(v->loc, 1);
}

/* ---- small helpers ------------------------------------------------------ */

static uint32_t op_location(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION       ? GQL_DL_MUTATION
           : op == GQL_OP_SUBSCRIPTION ? GQL_DL_SUBSCRIPTION
                                       : GQL_DL_QUERY;
}

/* ---- per-definition info: spreads (graphql-js getFragmentSpreads) ----- */

static gqlv_def_info_t *info_of(gqlv_ctx_t *c, const gql_definition_t *d)
{
    return &c->info[d - c->defs];
}

/* Every spread under a selection set, in graphql-js's order: the spreads
 * of a set first, then nested sets last-in first-out. */
static const gqlv_vec_t *spreads_of(gqlv_ctx_t *c, const gql_definition_t *d)
{
    gqlv_def_info_t *in = info_of(c, d);
    if (in->spreads_done || !d->set)
        return &in->spreads;
    in->spreads_done = 1;
    gqlv_vec_t stack = {0};
    if (gqlv_vec_push(c, &stack, (void *)d->set) < 0)
        return &in->spreads;
    while (stack.n && !c->aborted) {
        const gql_selection_set_t *set = stack.items[--stack.n];
        for (size_t i = 0; i < set->n; i++) {
            const gql_selection_t *s = set->items[i];
            if (s->kind == GQL_SEL_FRAGMENT_SPREAD)
                gqlv_vec_push(c, &in->spreads, (void *)s);
            else if (s->set)
                gqlv_vec_push(c, &stack, (void *)s->set);
        }
    }
    return &in->spreads;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* getRecursivelyReferencedFragmentsForOperations: the fragments reached
 * from the spreads of `ops`, cached by the set of names spread directly
 * (as graphql-js's SetMap), charging graphql-js's fragment work. */
static const gqlv_vec_t *
referenced_fragments(gqlv_ctx_t *c, const gql_definition_t **ops, size_t n_ops)
{
    gqlv_vec_t names = {0};
    gqlv_map_t seen = {0};
    for (size_t o = 0; o < n_ops; o++) {
        const gqlv_vec_t *sp = spreads_of(c, ops[o]);
        for (size_t i = 0; i < sp->n; i++) {
            const char *nm = ((const gql_selection_t *)sp->items[i])->name;
            int found;
            gqlv_map_get(&seen, NULL, NULL, nm, &found);
            if (!found) {
                gqlv_map_put(c, &seen, NULL, NULL, nm, (void *)nm);
                gqlv_vec_push(c, &names, (void *)nm);
            }
        }
    }
    if (c->aborted)
        return NULL;
    /* the cache key: the sorted names */
    const char **sorted = gqlv_alloc(c, (names.n + 1) * sizeof(*sorted));
    if (!sorted)
        return NULL;
    if (names.n) {
        memcpy(sorted, names.items, names.n * sizeof(*sorted));
        qsort(sorted, names.n, sizeof(*sorted), cmp_str);
    }
    gqlv_str_t key;
    gqlv_str_init(&key, c);
    gqlv_str_add(&key, "\x01");
    for (size_t i = 0; i < names.n; i++) {
        gqlv_str_add(&key, sorted[i]);
        gqlv_str_add(&key, ",");
    }
    if (key.truncated) {
        /* too long to key on: compute without caching */
    } else {
        gqlv_vec_t *hit =
            gqlv_map_get(&c->frag_sets, NULL, NULL, gqlv_str_get(&key), NULL);
        if (hit)
            return hit;
    }
    gqlv_vec_t *frags = gqlv_alloc(c, sizeof(*frags));
    if (!frags || !gqlv_spend_fragment_work(c, (long)names.n))
        return NULL;
    for (size_t i = 0; i < names.n && !c->aborted; i++) {
        const gql_definition_t *f = gqlv_fragment(c, names.items[i]);
        if (!f)
            continue;
        gqlv_vec_push(c, frags, (void *)f);
        const gqlv_vec_t *sp = spreads_of(c, f);
        if (!gqlv_spend_fragment_work(c, (long)sp->n))
            return NULL;
        for (size_t k = 0; k < sp->n; k++) {
            const char *nm = ((const gql_selection_t *)sp->items[k])->name;
            int found;
            gqlv_map_get(&seen, NULL, NULL, nm, &found);
            if (!found) {
                gqlv_map_put(c, &seen, NULL, NULL, nm, (void *)nm);
                gqlv_vec_push(c, &names, (void *)nm);
            }
        }
    }
    if (c->aborted)
        return NULL;
    if (!key.truncated)
        gqlv_map_put(c, &c->frag_sets, NULL, NULL, gqlv_str_get(&key), frags);
    return frags;
}

/* getRecursiveVariableUsages: the operation's own, then its fragments'.
 * The fragments' usages are gathered once per fragment list (operations
 * spreading the same fragments share it), charging work as graphql-js. */
static gqlv_vec_t *recursive_usages(gqlv_ctx_t *c, const gql_definition_t *op)
{
    const gql_definition_t *ops[1] = {op};
    const gqlv_vec_t *frags = referenced_fragments(c, ops, 1);
    if (!frags)
        return NULL;
    gqlv_vec_t *fu = gqlv_map_get(&c->frag_sets, frags, NULL, NULL, NULL);
    if (!fu) {
        fu = gqlv_alloc(c, sizeof(*fu));
        if (!fu || !gqlv_spend_fragment_work(c, (long)frags->n))
            return NULL;
        for (size_t f = 0; f < frags->n; f++) {
            const gqlv_vec_t *u = &info_of(c, frags->items[f])->usages;
            if (!gqlv_spend_fragment_work(c, (long)u->n))
                return NULL;
            for (size_t i = 0; i < u->n; i++)
                gqlv_vec_push(c, fu, u->items[i]);
        }
        gqlv_map_put(c, &c->frag_sets, frags, NULL, NULL, fu);
    }
    gqlv_vec_t *out = gqlv_alloc(c, sizeof(*out));
    if (!out || !gqlv_spend_fragment_work(c, (long)fu->n))
        return NULL;
    const gqlv_vec_t *own = &info_of(c, op)->usages;
    for (size_t i = 0; i < own->n; i++)
        gqlv_vec_push(c, out, own->items[i]);
    for (size_t i = 0; i < fu->n; i++)
        gqlv_vec_push(c, out, fu->items[i]);
    return c->aborted ? NULL : out;
}

/* ---- operations -----------------------------------------------------------
 */

/* SingleFieldSubscriptions' collectFields: response keys of the root
 * selection, following fragments whose condition the root type meets,
 * honoring literal @skip/@include. */
typedef struct sub_key {
    const char *key;
    gqlv_vec_t fields; /* const gql_selection_t* */
} sub_key_t;

static int literal_excluded(const gql_directive_t *dirs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int skip = strcmp(dirs[i].name, "skip") == 0;
        if (!skip && strcmp(dirs[i].name, "include") != 0)
            continue;
        for (size_t k = 0; k < dirs[i].n_args; k++) {
            const gql_value_t *v = dirs[i].args[k].value;
            if (strcmp(dirs[i].args[k].name, "if") != 0 || !v ||
                v->kind != GQL_V_BOOLEAN)
                continue;
            if (skip == v->boolean)
                return 1;
        }
    }
    return 0;
}

static int cond_matches(gqlv_ctx_t *c, const char *cond,
                        const gql_stype_t *root)
{
    if (!cond)
        return 1;
    const gql_stype_t *t = gql_schema_type(c->s, cond);
    if (!t)
        return 0;
    if (t == root || strcmp(t->name, root->name) == 0)
        return 1;
    return gqlv_is_abstract(t) && gqlv_is_subtype(t, root);
}

static void sub_collect(gqlv_ctx_t *c, const gql_stype_t *root,
                        const gql_selection_set_t *set, gqlv_vec_t *keys,
                        gqlv_map_t *index, gqlv_map_t *visited, int rec)
{
    if (!set || !gqlv_spend_fragment_work(c, (long)set->n))
        return;
    if (rec > GQLV_MAX_FRAGMENT_RECURSION) {
        gqlv_abort(c);
        return;
    }
    for (size_t i = 0; i < set->n && !c->aborted; i++) {
        const gql_selection_t *s = set->items[i];
        if (!gqlv_spend_fragment_work(c, (long)s->n_dirs))
            return;
        if (literal_excluded(s->dirs, s->n_dirs))
            continue;
        if (s->kind == GQL_SEL_FIELD) {
            const char *key = s->alias ? s->alias : s->name;
            sub_key_t *k = gqlv_map_get(index, NULL, NULL, key, NULL);
            if (!k) {
                k = gqlv_alloc(c, sizeof(*k));
                if (!k)
                    return;
                k->key = key;
                gqlv_vec_push(c, keys, k);
                gqlv_map_put(c, index, NULL, NULL, key, k);
            }
            gqlv_vec_push(c, &k->fields, (void *)s);
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (cond_matches(c, s->type_condition, root))
                sub_collect(c, root, s->set, keys, index, visited, rec + 1);
        } else {
            int found;
            gqlv_map_get(visited, NULL, NULL, s->name, &found);
            if (found)
                continue;
            gqlv_map_put(c, visited, NULL, NULL, s->name, (void *)s->name);
            const gql_definition_t *f = gqlv_fragment(c, s->name);
            if (f && cond_matches(c, f->type_condition, root))
                sub_collect(c, root, f->set, keys, index, visited, rec + 1);
        }
    }
}

static void single_field_subscriptions(gqlv_ctx_t *c,
                                       const gql_definition_t *op)
{
    const gql_stype_t *root = gql_schema_root(c->s, GQL_OP_SUBSCRIPTION);
    if (op->op != GQL_OP_SUBSCRIPTION || !root || !op->set || c->quiet)
        return;
    gqlv_vec_t keys = {0};
    gqlv_map_t index = {0}, visited = {0};
    if (!gqlv_spend_fragment_work(c, (long)c->n_defs))
        return;
    sub_collect(c, root, op->set, &keys, &index, &visited, 0);
    if (c->aborted)
        return;
    if (keys.n > 1) {
        size_t n = 0;
        for (size_t j = 1; j < keys.n; j++)
            n += ((sub_key_t *)keys.items[j])->fields.n;
        gql_loc_t *locs = gqlv_alloc(c, (n + 1) * sizeof(*locs));
        if (!locs)
            return;
        size_t m = 0;
        for (size_t j = 1; j < keys.n; j++) {
            const sub_key_t *k = keys.items[j];
            for (size_t i = 0; i < k->fields.n; i++)
                locs[m++] = ((const gql_selection_t *)k->fields.items[i])->loc;
        }
        if (op->name)
            gqlv_reportf(c, locs, m,
                         "Subscription \"%s\" must select only one top level "
                         "field.",
                         op->name);
        else
            gqlv_report(c,
                        "Anonymous Subscription must select only one top "
                        "level field.",
                        locs, m);
    }
    for (size_t j = 0; j < keys.n && !c->aborted; j++) {
        const sub_key_t *k = keys.items[j];
        const gql_selection_t *first = k->fields.items[0];
        if (strncmp(first->name, "__", 2) != 0)
            continue;
        gql_loc_t *locs = gqlv_alloc(c, (k->fields.n + 1) * sizeof(*locs));
        if (!locs)
            return;
        for (size_t i = 0; i < k->fields.n; i++)
            locs[i] = ((const gql_selection_t *)k->fields.items[i])->loc;
        if (op->name)
            gqlv_reportf(c, locs, k->fields.n,
                         "Subscription \"%s\" must not select an introspection "
                         "top level field.",
                         op->name);
        else
            gqlv_report(c,
                        "Anonymous Subscription must not select an "
                        "introspection top level field.",
                        locs, k->fields.n);
    }
}

static void unique_variables(gqlv_ctx_t *c, const gql_definition_t *op)
{
    if (c->quiet || op->n_vars < 2)
        return;
    const char **names = gqlv_alloc(c, op->n_vars * sizeof(*names));
    gqlv_groups_t g;
    if (!names)
        return;
    for (size_t i = 0; i < op->n_vars; i++)
        names[i] = op->vars[i].name;
    if (gqlv_group_names(c, names, op->n_vars, &g) < 0)
        return;
    for (size_t i = 0; i < op->n_vars && !c->aborted; i++) {
        if (g.first[i] != i || g.count[i] < 2)
            continue;
        gql_loc_t *locs = gqlv_alloc(c, g.count[i] * sizeof(*locs));
        if (!locs)
            return;
        size_t m = 0;
        for (size_t k = i; k < op->n_vars; k = g.next[k])
            locs[m++] = var_name_loc(&op->vars[k]);
        gqlv_reportf(c, locs, m,
                     "There can be only one variable named \"$%s\".", names[i]);
    }
}

static void walk_variable_def(gqlv_ctx_t *c, const gql_variable_def_t *v)
{
    /* VariablesAreInputTypes */
    const gql_stype_t *t = gqlv_named(c, v->type);
    if (t && !gqlv_is_input(t) && !c->quiet)
        gqlv_reportf(c, &v->type->loc, 1,
                     "Variable \"$%s\" cannot be non-input type \"%s\".",
                     v->name, gqlv_type_str(c, v->type));
    gqlv_unique_directives(c, v->dirs, v->n_dirs);
    gqlv_known_type_ref(c, v->type);
    /* variables in a definition are not usages (getVariableUsages skips
     * VariableDefinition) */
    int collect = c->collect;
    c->collect = 0;
    if (v->default_value)
        gqlv_walk_value(c, v->default_value,
                        t && gqlv_is_input(t) ? v->type : NULL, NULL, 0, 1);
    gqlv_walk_directives(c, v->dirs, v->n_dirs, GQL_DL_VARIABLE_DEFINITION);
    c->collect = collect;
}

/* VariablesInAllowedPosition's isTypeSubTypeOf for input types. */
static int ref_subtype(gqlv_ctx_t *c, const gql_type_ref_t *sub,
                       const gql_type_ref_t *super)
{
    if (gqlv_type_equal(sub, super))
        return 1;
    if (super->kind == GQL_T_NON_NULL)
        return sub->kind == GQL_T_NON_NULL &&
               ref_subtype(c, sub->of, super->of);
    if (sub->kind == GQL_T_NON_NULL)
        return ref_subtype(c, sub->of, super);
    if (super->kind == GQL_T_LIST)
        return sub->kind == GQL_T_LIST && ref_subtype(c, sub->of, super->of);
    if (sub->kind == GQL_T_LIST)
        return 0;
    const gql_stype_t *sp = gqlv_named(c, super), *sb = gqlv_named(c, sub);
    return gqlv_is_abstract(sp) && sb &&
           (sb->kind == GQL_K_OBJECT || sb->kind == GQL_K_INTERFACE) &&
           gqlv_is_subtype(sp, sb);
}

static int allowed_usage(gqlv_ctx_t *c, const gql_variable_def_t *vd,
                         const gqlv_usage_t *u)
{
    const gql_type_ref_t *vt = vd->type, *lt = u->type;
    if (lt->kind == GQL_T_NON_NULL && vt->kind != GQL_T_NON_NULL) {
        int var_default =
            vd->default_value && vd->default_value->kind != GQL_V_NULL;
        if (!var_default && !u->has_default)
            return 0;
        return ref_subtype(c, vt, lt->of);
    }
    return ref_subtype(c, vt, lt);
}

/* The operation's variable definitions by name: the last of a repeated
 * name, as graphql-js's varDefMap. */
static int var_map(gqlv_ctx_t *c, const gql_definition_t *op, gqlv_map_t *m)
{
    *m = (gqlv_map_t){0};
    for (size_t i = 0; i < op->n_vars; i++)
        if (gqlv_map_put(c, m, NULL, NULL, op->vars[i].name,
                         (void *)&op->vars[i]) < 0)
            return -1;
    return 0;
}

static void operation_leave(gqlv_ctx_t *c, const gql_definition_t *op)
{
    gqlv_vec_t *usages = recursive_usages(c, op);
    gqlv_map_t vars, used = {0};
    if (!usages || var_map(c, op, &vars) < 0)
        return;
    /* NoUndefinedVariables */
    for (size_t i = 0; i < usages->n && !c->aborted; i++) {
        const gqlv_usage_t *u = usages->items[i];
        gqlv_map_put(c, &used, NULL, NULL, u->var->text, (void *)1);
        if (gqlv_map_get(&vars, NULL, NULL, u->var->text, NULL))
            continue;
        gql_loc_t locs[2] = {u->var->loc, op->loc};
        if (op->name)
            gqlv_reportf(c, locs, 2,
                         "Variable \"$%s\" is not defined by operation \"%s\".",
                         u->var->text, op->name);
        else
            gqlv_reportf(c, locs, 2, "Variable \"$%s\" is not defined.",
                         u->var->text);
    }
    /* NoUnusedVariables */
    for (size_t i = 0; i < op->n_vars && !c->aborted; i++) {
        const gql_variable_def_t *v = &op->vars[i];
        if (gqlv_map_get(&used, NULL, NULL, v->name, NULL))
            continue;
        if (op->name)
            gqlv_reportf(c, &v->loc, 1,
                         "Variable \"$%s\" is never used in operation \"%s\".",
                         v->name, op->name);
        else
            gqlv_reportf(c, &v->loc, 1, "Variable \"$%s\" is never used.",
                         v->name);
    }
    /* VariablesInAllowedPosition */
    for (size_t i = 0; i < usages->n && !c->aborted; i++) {
        const gqlv_usage_t *u = usages->items[i];
        const gql_variable_def_t *vd =
            gqlv_map_get(&vars, NULL, NULL, u->var->text, NULL);
        if (!vd || !u->type || !gqlv_type_resolves(c, vd->type))
            continue;
        gql_loc_t locs[2] = {vd->loc, u->var->loc};
        if (!allowed_usage(c, vd, u))
            gqlv_reportf(c, locs, 2,
                         "Variable \"$%s\" of type \"%s\" used in position "
                         "expecting type \"%s\".",
                         u->var->text, gqlv_type_str(c, vd->type),
                         gqlv_type_str(c, u->type));
        if (u->one_of && vd->type->kind != GQL_T_NON_NULL)
            gqlv_reportf(c, locs, 2,
                         "Variable \"$%s\" is of type \"%s\" but must be "
                         "non-nullable to be used for OneOf Input Object "
                         "\"%s\".",
                         u->var->text, gqlv_type_str(c, vd->type),
                         u->one_of->name);
    }
}

static void walk_operation(gqlv_ctx_t *c, const gql_definition_t *op)
{
    /* UniqueOperationNames */
    const gql_definition_t *first =
        op->name
            ? gqlv_map_get(&c->first_def, (void *)(uintptr_t)GQL_DEF_OPERATION,
                           NULL, op->name, NULL)
            : NULL;
    if (first && first != op && !c->quiet) {
        gql_loc_t locs[2] = {op_name_loc(first), op_name_loc(op)};
        gqlv_reportf(c, locs, 2,
                     "There can be only one operation named \"%s\".", op->name);
    }
    /* LoneAnonymousOperation */
    if (!op->name && c->n_ops > 1 && !c->quiet)
        gqlv_report(c,
                    "This anonymous operation must be the only defined "
                    "operation.",
                    &op->loc, 1);
    single_field_subscriptions(c, op);
    unique_variables(c, op);
    gqlv_unique_directives(c, op->dirs, op->n_dirs);
    for (size_t i = 0; i < op->n_vars && !c->aborted; i++)
        walk_variable_def(c, &op->vars[i]);
    gqlv_walk_directives(c, op->dirs, op->n_dirs, op_location(op->op));
    if (op->set)
        gqlv_walk_set(c, op->set, gql_schema_root(c->s, op->op), 0);
    if (!c->quiet && !c->aborted)
        operation_leave(c, op);
}

/* ---- fragments -------------------------------------------------------- */

/* NoFragmentCycles: graphql-js's depth-first search, shared across
 * fragments so each is entered once. Iterative (an explicit stack), so a
 * chain of thousands of fragments costs heap, not C stack. */
typedef struct cycle_state {
    gqlv_map_t visited;
    gqlv_map_t index; /* name -> position in path + 1 */
    gqlv_vec_t path;  /* spreads */
    gqlv_vec_t frames;
} cycle_state_t;

typedef struct cycle_frame {
    const gql_definition_t *f;
    const gqlv_vec_t *spreads;
    size_t next;
} cycle_frame_t;

/* Marks f visited; pushes a frame when it spreads anything. */
static int cycle_enter(gqlv_ctx_t *c, cycle_state_t *st,
                       const gql_definition_t *f)
{
    int found;
    gqlv_map_get(&st->visited, NULL, NULL, f->name, &found);
    if (found)
        return 0;
    gqlv_map_put(c, &st->visited, NULL, NULL, f->name, (void *)f);
    const gqlv_vec_t *sp = spreads_of(c, f);
    if (!sp->n)
        return 0;
    cycle_frame_t *fr = gqlv_alloc(c, sizeof(*fr));
    if (!fr)
        return 0;
    fr->f = f;
    fr->spreads = sp;
    gqlv_map_put(c, &st->index, NULL, NULL, f->name,
                 (void *)(intptr_t)(st->path.n + 1));
    gqlv_vec_push(c, &st->frames, fr);
    return 1;
}

static void report_cycle(gqlv_ctx_t *c, cycle_state_t *st, size_t from,
                         const char *name)
{
    size_t n = st->path.n - from;
    gql_loc_t *locs = gqlv_alloc(c, n * sizeof(*locs));
    if (!locs)
        return;
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_str_addf(&b, "Cannot spread fragment \"%s\" within itself", name);
    for (size_t k = 0; k < n; k++) {
        const gql_selection_t *p = st->path.items[from + k];
        locs[k] = p->loc;
        if (k + 1 < n)
            gqlv_str_addf(&b, "%s\"%s\"", k ? ", " : " via ", p->name);
    }
    gqlv_str_add(&b, ".");
    gqlv_report(c, gqlv_str_get(&b), locs, n);
}

static void detect_cycles(gqlv_ctx_t *c, cycle_state_t *st,
                          const gql_definition_t *root)
{
    cycle_enter(c, st, root);
    while (st->frames.n && !c->aborted) {
        cycle_frame_t *fr = st->frames.items[st->frames.n - 1];
        if (fr->next == fr->spreads->n) {
            gqlv_map_put(c, &st->index, NULL, NULL, fr->f->name, (void *)0);
            st->frames.n--;
            if (st->frames.n)
                st->path.n--; /* the spread that led into fr */
            continue;
        }
        const gql_selection_t *s = fr->spreads->items[fr->next++];
        intptr_t at =
            (intptr_t)gqlv_map_get(&st->index, NULL, NULL, s->name, NULL);
        if (gqlv_vec_push(c, &st->path, (void *)s) < 0)
            return;
        if (!at) {
            const gql_definition_t *g = gqlv_fragment(c, s->name);
            if (g && cycle_enter(c, st, g))
                continue; /* s stays on the path while g is searched */
        } else {
            report_cycle(c, st, (size_t)at - 1, s->name);
        }
        st->path.n--;
    }
}

static void walk_fragment(gqlv_ctx_t *c, const gql_definition_t *f,
                          cycle_state_t *cycles)
{
    /* FragmentsOnCompositeTypes */
    const gql_stype_t *t =
        f->type_condition ? gql_schema_type(c->s, f->type_condition) : NULL;
    if (t && !gqlv_is_composite(t) && !c->quiet) {
        gql_loc_t l = frag_cond_loc(f);
        gqlv_reportf(c, &l, 1,
                     "Fragment \"%s\" cannot condition on non composite type "
                     "\"%s\".",
                     f->name, f->type_condition);
    }
    /* UniqueFragmentNames */
    const gql_definition_t *first =
        gqlv_map_get(&c->first_def, (void *)(uintptr_t)GQL_DEF_FRAGMENT, NULL,
                     f->name, NULL);
    if (first && first != f && !c->quiet) {
        gql_loc_t locs[2] = {frag_name_loc(first), frag_name_loc(f)};
        gqlv_reportf(c, locs, 2, "There can be only one fragment named \"%s\".",
                     f->name);
    }
    if (!c->quiet)
        detect_cycles(c, cycles, f);
    gqlv_unique_directives(c, f->dirs, f->n_dirs);
    gqlv_known_type(c, f->type_condition, frag_cond_loc(f));
    gqlv_walk_directives(c, f->dirs, f->n_dirs, GQL_DL_FRAGMENT_DEFINITION);
    if (f->set)
        gqlv_walk_set(c, f->set, gqlv_is_output(t) ? t : NULL, 0);
}

/* ---- the document ----------------------------------------------------- */

static void executable_definitions(gqlv_ctx_t *c)
{
    for (size_t i = 0; i < c->n_defs && !c->aborted; i++) {
        const gql_definition_t *d = &c->defs[i];
        if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT)
            continue;
        if (d->kind == GQL_DEF_SCHEMA || !d->name)
            gqlv_report(c, "The schema definition is not executable.", &d->loc,
                        1);
        else
            gqlv_reportf(c, &d->loc, 1,
                         "The \"%s\" definition is not executable.", d->name);
    }
}

/* Type-system definitions that came with a query: graphql-js still visits
 * them, so KnownTypeNames and KnownDirectives (with
 * UniqueDirectivesPerLocation) speak about their contents, in visiting
 * order. */
static void sdl_directives(gqlv_ctx_t *c, const gql_directive_t *dirs, size_t n,
                           uint32_t location)
{
    gqlv_unique_directives(c, dirs, n);
    gqlv_walk_directives(c, dirs, n, location);
}

static void sdl_named(gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    gqlv_known_type_ref(c, t);
}

static void sdl_input_values(gqlv_ctx_t *c, const gql_input_value_def_t *iv,
                             size_t n, uint32_t location)
{
    for (size_t i = 0; i < n && !c->aborted; i++) {
        sdl_named(c, iv[i].type);
        sdl_directives(c, iv[i].dirs, iv[i].n_dirs, location);
    }
}

static uint32_t sdl_location(const gql_definition_t *d)
{
    switch (d->kind) {
    case GQL_DEF_SCHEMA:
        return GQL_DL_SCHEMA;
    case GQL_DEF_SCALAR:
        return GQL_DL_SCALAR;
    case GQL_DEF_OBJECT:
        return GQL_DL_OBJECT;
    case GQL_DEF_INTERFACE:
        return GQL_DL_INTERFACE;
    case GQL_DEF_UNION:
        return GQL_DL_UNION;
    case GQL_DEF_ENUM:
        return GQL_DL_ENUM;
    case GQL_DEF_INPUT:
        return GQL_DL_INPUT_OBJECT;
    default:
        return 0;
    }
}

static void sdl_definition(gqlv_ctx_t *c, const gql_definition_t *d)
{
    for (size_t i = 0; i < d->n_interfaces && !c->aborted; i++)
        gqlv_known_type(c, d->interfaces[i],
                        d->interface_locs ? d->interface_locs[i] : d->loc);
    if (d->kind == GQL_DEF_DIRECTIVE) {
        sdl_input_values(c, d->inputs, d->n_inputs, GQL_DL_ARGUMENT_DEFINITION);
        sdl_directives(c, d->dirs, d->n_dirs, GQL_DL_DIRECTIVE_DEFINITION);
        return;
    }
    sdl_directives(c, d->dirs, d->n_dirs, sdl_location(d));
    for (size_t i = 0; i < d->n_roots && !c->aborted; i++)
        gqlv_known_type(c, d->roots[i].type, d->roots[i].loc);
    for (size_t i = 0; i < d->n_fields && !c->aborted; i++) {
        const gql_field_def_t *f = &d->fields[i];
        gqlv_unique_directives(c, f->dirs, f->n_dirs);
        sdl_input_values(c, f->args, f->n_args, GQL_DL_ARGUMENT_DEFINITION);
        sdl_named(c, f->type);
        gqlv_walk_directives(c, f->dirs, f->n_dirs, GQL_DL_FIELD_DEFINITION);
    }
    for (size_t i = 0; i < d->n_members && !c->aborted; i++)
        gqlv_known_type(c, d->members[i],
                        d->member_locs ? d->member_locs[i] : d->loc);
    for (size_t i = 0; i < d->n_values && !c->aborted; i++)
        sdl_directives(c, d->values[i].dirs, d->values[i].n_dirs,
                       GQL_DL_ENUM_VALUE);
    if (d->kind == GQL_DEF_INPUT)
        sdl_input_values(c, d->inputs, d->n_inputs,
                         GQL_DL_INPUT_FIELD_DEFINITION);
}

/* NoUnusedFragments (document leave). */
static void unused_fragments(gqlv_ctx_t *c)
{
    size_t n_ops = c->n_ops;
    const gql_definition_t **ops = gqlv_alloc(c, (n_ops + 1) * sizeof(*ops));
    if (!ops)
        return;
    size_t m = 0;
    for (size_t i = 0; i < c->n_defs; i++)
        if (c->defs[i].kind == GQL_DEF_OPERATION)
            ops[m++] = &c->defs[i];
    const gqlv_vec_t *used = referenced_fragments(c, ops, m);
    if (!used)
        return;
    gqlv_map_t names = {0};
    for (size_t i = 0; i < used->n; i++)
        gqlv_map_put(c, &names, NULL, NULL,
                     ((const gql_definition_t *)used->items[i])->name,
                     (void *)1);
    for (size_t i = 0; i < c->n_defs && !c->aborted; i++) {
        const gql_definition_t *d = &c->defs[i];
        if (d->kind != GQL_DEF_FRAGMENT)
            continue;
        int found;
        gqlv_map_get(&names, NULL, NULL, d->name, &found);
        if (!found)
            gqlv_reportf(c, &d->loc, 1, "Fragment \"%s\" is never used.",
                         d->name);
    }
}

static void walk_document(gqlv_ctx_t *c, cycle_state_t *cycles)
{
    if (!c->quiet)
        executable_definitions(c);
    for (size_t i = 0; i < c->n_defs && !c->aborted; i++) {
        const gql_definition_t *d = &c->defs[i];
        c->cur_info = &c->info[i];
        if (d->kind == GQL_DEF_OPERATION)
            walk_operation(c, d);
        else if (d->kind == GQL_DEF_FRAGMENT)
            walk_fragment(c, d, cycles);
        else if (!c->quiet)
            sdl_definition(c, d);
    }
    c->cur_info = NULL;
    if (!c->quiet && !c->aborted)
        unused_fragments(c);
}

/* The lookups every rule shares, built once: fragments by name (the last
 * wins, as graphql-js's getFragment), the first operation and fragment
 * of each name, type names the document defines, the operation count. */
static void index_definition(gqlv_ctx_t *c, const gql_definition_t *d)
{
    if (d->kind == GQL_DEF_OPERATION)
        c->n_ops++;
    if (!d->name)
        return;
    if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT) {
        const void *kind = (const void *)(uintptr_t)d->kind;
        int found;
        gqlv_map_get(&c->first_def, kind, NULL, d->name, &found);
        if (!found)
            gqlv_map_put(c, &c->first_def, kind, NULL, d->name, (void *)d);
    }
    if (d->kind == GQL_DEF_FRAGMENT)
        gqlv_map_put(c, &c->frags, NULL, NULL, d->name, (void *)d);
    if (d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT && !d->extension)
        gqlv_map_put(c, &c->sdl_types, NULL, NULL, d->name, (void *)d);
}

size_t gql_validate(const gql_schema_t *s, const gql_doc_t *doc, json_t *errors,
                    size_t max_errors)
{
    if (!s || !doc || !errors)
        return 0;
    gqlv_ctx_t c = {
        .s = s,
        .errors = errors,
        .max_errors = max_errors ? max_errors : 100,
        .frag_work = GQLV_FRAGMENT_WORK,
        .overlap_budget = GQLV_OVERLAP_BUDGET,
    };
    size_t before = json_array_size(errors);
    c.defs = gql_doc_defs(doc, &c.n_defs);
    c.info = gqlv_alloc(&c, (c.n_defs + 1) * sizeof(*c.info));
    for (size_t i = 0; i < c.n_defs && !c.aborted; i++)
        index_definition(&c, &c.defs[i]);
    cycle_state_t cycles = {0};
    if (!c.aborted) {
        /* pass 1: variable usages of every definition, nothing reported */
        c.quiet = 1;
        c.collect = 1;
        walk_document(&c, &cycles);
        c.quiet = 0;
        c.collect = 0;
    }
    if (!c.aborted)
        walk_document(&c, &cycles);
    gqlv_arena_free(&c);
    return json_array_size(errors) - before;
}
