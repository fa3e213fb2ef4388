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
 * OverlappingFieldsCanBeMerged lives in gql_validate_overlap.c; the
 * shared helpers in gql_validate_util.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_validate_internal.h"

/* ---- locations the AST does not carry -------------------------------- */

/* graphql-js reports some errors at a name node that follows a keyword
 * ("query Name", "fragment Name", "...Name", "on Type"); the AST records
 * where the construct starts. These assume the usual single space. */
static gql_loc_t loc_plus(gql_loc_t l, size_t n)
{
    if (l.line)
        l.column += (uint32_t)n;
    return l;
}

static const char *op_keyword(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION       ? "mutation"
           : op == GQL_OP_SUBSCRIPTION ? "subscription"
                                       : "query";
}

static gql_loc_t op_name_loc(const gql_definition_t *d)
{
    return loc_plus(d->loc, strlen(op_keyword(d->op)) + 1);
}

static gql_loc_t frag_name_loc(const gql_definition_t *d)
{
    return loc_plus(d->loc, strlen("fragment "));
}

static gql_loc_t frag_cond_loc(const gql_definition_t *d)
{
    return loc_plus(d->loc, strlen("fragment ") + strlen(d->name) +
                                strlen(" on "));
}

static gql_loc_t spread_name_loc(const gql_selection_t *s)
{
    return loc_plus(s->loc, 3);
}

static gql_loc_t inline_cond_loc(const gql_selection_t *s)
{
    return loc_plus(s->loc, strlen("... on "));
}

static gql_loc_t var_name_loc(const gql_variable_def_t *v)
{
    return loc_plus(v->loc, 1);
}

/* ---- small helpers ------------------------------------------------------ */

static const char *dl_name(uint32_t bit)
{
    const char *n = gql_dl_name(bit);
    return n ? n : "UNKNOWN";
}

static uint32_t op_location(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION       ? GQL_DL_MUTATION
           : op == GQL_OP_SUBSCRIPTION ? GQL_DL_SUBSCRIPTION
                                       : GQL_DL_QUERY;
}

static const gql_type_ref_t *nullable(const gql_type_ref_t *t)
{
    return t && t->kind == GQL_T_NON_NULL ? t->of : t;
}

static const gql_type_ref_t *innermost(const gql_type_ref_t *t)
{
    while (t && t->kind != GQL_T_NAMED)
        t = t->of;
    return t;
}

static int is_input_ref(const gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    return gqlv_is_input(gqlv_named(c, t));
}

static const gql_sarg_t *find_arg(const gql_sarg_t *args, size_t n,
                                  const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].name, name) == 0)
            return &args[i];
    return NULL;
}

static int is_required(const gql_sarg_t *a)
{
    return a->type && a->type->kind == GQL_T_NON_NULL && !a->default_value;
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
static const gqlv_vec_t *referenced_fragments(gqlv_ctx_t *c,
                                              const gql_definition_t **ops,
                                              size_t n_ops)
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
    if (key.len >= GQLV_MSG_MAX) {
        /* too long to key on: compute without caching */
    } else {
        gqlv_vec_t *hit = gqlv_map_get(&c->frag_sets, NULL, NULL,
                                       gqlv_str_get(&key), NULL);
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
    if (key.len < GQLV_MSG_MAX)
        gqlv_map_put(c, &c->frag_sets, NULL, NULL, gqlv_str_get(&key),
                     frags);
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

/* ---- values (ValuesOfCorrectType, UniqueInputFieldNames) -------------- */

static int int_in_range(const char *text)
{
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE)
        return 0;
    return v >= -2147483648LL && v <= 2147483647LL;
}

/* The built-in scalars' parseLiteral; custom scalars accept any literal
 * (buildSchema gives them graphql-js's default, valueFromASTUntyped). */
static const char *builtin_scalar_error(gqlv_ctx_t *c, const gql_stype_t *t,
                                        const gql_value_t *v)
{
    const char *n = t->name;
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    if (strcmp(n, "Int") == 0) {
        if (v->kind != GQL_V_INT)
            gqlv_str_add(&b, "Int cannot represent non-integer value: ");
        else if (!int_in_range(v->text))
            gqlv_str_add(&b,
                         "Int cannot represent non 32-bit signed integer "
                         "value: ");
        else
            return NULL;
    } else if (strcmp(n, "Float") == 0) {
        if (v->kind == GQL_V_INT || v->kind == GQL_V_FLOAT)
            return NULL;
        gqlv_str_add(&b, "Float cannot represent non numeric value: ");
    } else if (strcmp(n, "String") == 0) {
        if (v->kind == GQL_V_STRING)
            return NULL;
        gqlv_str_add(&b, "String cannot represent a non string value: ");
    } else if (strcmp(n, "Boolean") == 0) {
        if (v->kind == GQL_V_BOOLEAN)
            return NULL;
        gqlv_str_add(&b, "Boolean cannot represent a non boolean value: ");
    } else if (strcmp(n, "ID") == 0) {
        if (v->kind == GQL_V_STRING || v->kind == GQL_V_INT)
            return NULL;
        gqlv_str_add(&b, "ID cannot represent a non-string and non-integer "
                         "value: ");
    } else {
        return NULL;
    }
    gqlv_print_value(&b, v);
    return gqlv_str_get(&b);
}

static const char *enum_error(gqlv_ctx_t *c, const gql_stype_t *t,
                              const gql_value_t *v)
{
    if (v->kind == GQL_V_ENUM)
        for (size_t i = 0; i < t->n_values; i++)
            if (strcmp(t->values[i].name, v->text) == 0)
                return NULL;
    const char *vs = gqlv_value_str(c, v);
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    if (v->kind != GQL_V_ENUM)
        gqlv_str_addf(&b, "Enum \"%s\" cannot represent non-enum value: %s.",
                      t->name, vs);
    else
        gqlv_str_addf(&b, "Value \"%s\" does not exist in \"%s\" enum.", vs,
                      t->name);
    const char **names = gqlv_alloc(c, (t->n_values + 1) * sizeof(*names));
    if (names) {
        for (size_t i = 0; i < t->n_values; i++)
            names[i] = t->values[i].name;
        gqlv_did_you_mean(&b, "the enum value", vs, names, t->n_values);
    }
    return gqlv_str_get(&b);
}

/* isValidValueNode: a literal in a position of type `loc_type`. */
static void check_literal(gqlv_ctx_t *c, const gql_value_t *v,
                          const gql_type_ref_t *loc_type)
{
    if (!loc_type)
        return;
    const gql_stype_t *t = gqlv_named(c, loc_type);
    if (!t)
        return;
    if (!gqlv_is_leaf(t)) {
        gqlv_reportf(c, &v->loc, 1, "Expected value of type \"%s\", found %s.",
                     gqlv_type_str(c, loc_type), gqlv_value_str(c, v));
        return;
    }
    const char *msg = NULL;
    if (t->kind == GQL_K_ENUM)
        msg = enum_error(c, t, v);
    else if (t->builtin)
        msg = builtin_scalar_error(c, t, v);
    if (msg)
        gqlv_report(c, msg, &v->loc, 1);
}

static void record_usage(gqlv_ctx_t *c, const gql_value_t *v,
                         const gql_type_ref_t *type,
                         const gql_type_ref_t *parent, int has_default)
{
    if (!c->collect || !c->cur_info)
        return;
    gqlv_usage_t *u = gqlv_alloc(c, sizeof(*u));
    if (!u)
        return;
    u->var = v;
    u->type = type;
    u->has_default = has_default;
    /* graphql-js tests the parent input type as it is on TypeInfo's stack:
     * a non-null wrapper hides the input object */
    if (parent && parent->kind == GQL_T_NAMED) {
        const gql_stype_t *pt = gqlv_named(c, parent);
        if (pt && pt->kind == GQL_K_INPUT_OBJECT && gql_stype_is_one_of(pt))
            u->one_of = pt;
    }
    gqlv_vec_push(c, &c->cur_info->usages, u);
}

static void unique_input_fields(gqlv_ctx_t *c, const gql_value_t *v,
                                size_t upto)
{
    const gql_object_field_t *f = &v->fields[upto];
    for (size_t k = 0; k < upto; k++)
        if (strcmp(v->fields[k].name, f->name) == 0) {
            gql_loc_t locs[2] = {v->fields[k].loc, f->loc};
            gqlv_reportf(c, locs, 2,
                         "There can be only one input field named \"%s\".",
                         f->name);
            return;
        }
}

/* ValuesOfCorrectType on a @oneOf input object: exactly one key, and
 * not null (the last value given for it, as graphql-js's keyMap). */
static void one_of_object(gqlv_ctx_t *c, const gql_value_t *v,
                          const gql_stype_t *t)
{
    size_t keys = 0;
    for (size_t i = 0; i < v->n_fields; i++) {
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(v->fields[k].name, v->fields[i].name) == 0;
        keys += !dup;
    }
    if (keys != 1) {
        gqlv_reportf(c, &v->loc, 1,
                     "OneOf Input Object \"%s\" must specify exactly one key.",
                     t->name);
        return;
    }
    const gql_value_t *last = v->fields[v->n_fields - 1].value;
    if (!last || last->kind == GQL_V_NULL)
        gqlv_reportf(c, &v->loc, 1, "Field \"%s.%s\" must be non-null.",
                     t->name, v->fields[0].name);
}

/* One value with TypeInfo's input type `type` (NULL: unknown); voct: 0
 * once ValuesOfCorrectType stopped descending. */
static void walk_value(gqlv_ctx_t *c, const gql_value_t *v,
                       const gql_type_ref_t *type,
                       const gql_type_ref_t *parent, int has_default,
                       int voct)
{
    if (!v || c->aborted)
        return;
    switch (v->kind) {
    case GQL_V_VARIABLE:
        record_usage(c, v, type, parent, has_default);
        return;
    case GQL_V_LIST: {
        const gql_type_ref_t *lt = nullable(type);
        const gql_type_ref_t *item =
            lt && lt->kind == GQL_T_LIST ? lt->of : lt;
        if (!item || !is_input_ref(c, item))
            item = NULL;
        if (voct && !(lt && lt->kind == GQL_T_LIST)) {
            check_literal(c, v, item);
            voct = 0;
        }
        for (size_t i = 0; i < v->n_items && !c->aborted; i++)
            walk_value(c, v->items[i], item, type, 0, voct);
        return;
    }
    case GQL_V_OBJECT: {
        const gql_stype_t *t = gqlv_named(c, type);
        int is_obj = t && t->kind == GQL_K_INPUT_OBJECT;
        if (voct) {
            if (!is_obj) {
                check_literal(c, v, type);
                voct = 0;
            } else {
                for (size_t i = 0; i < t->n_input_fields; i++) {
                    const gql_sarg_t *fd = &t->input_fields[i];
                    int given = 0;
                    for (size_t k = 0; k < v->n_fields && !given; k++)
                        given = strcmp(v->fields[k].name, fd->name) == 0;
                    if (!given && is_required(fd))
                        gqlv_reportf(c, &v->loc, 1,
                                     "Field \"%s.%s\" of required type \"%s\" "
                                     "was not provided.",
                                     t->name, fd->name,
                                     gqlv_type_str(c, fd->type));
                }
                if (gql_stype_is_one_of(t))
                    one_of_object(c, v, t);
            }
        }
        for (size_t i = 0; i < v->n_fields && !c->aborted; i++) {
            const gql_object_field_t *f = &v->fields[i];
            const gql_sarg_t *fd =
                is_obj ? gql_stype_input_field(t, f->name) : NULL;
            const gql_type_ref_t *ft =
                fd && is_input_ref(c, fd->type) ? fd->type : NULL;
            if (voct && !ft && is_obj) {
                gqlv_str_t b;
                gqlv_str_init(&b, c);
                gqlv_str_addf(&b, "Field \"%s\" is not defined by type \"%s\".",
                              f->name, t->name);
                const char **names =
                    gqlv_alloc(c, (t->n_input_fields + 1) * sizeof(*names));
                if (names) {
                    for (size_t k = 0; k < t->n_input_fields; k++)
                        names[k] = t->input_fields[k].name;
                    gqlv_did_you_mean(&b, NULL, f->name, names,
                                      t->n_input_fields);
                }
                gqlv_report(c, gqlv_str_get(&b), &f->loc, 1);
            }
            unique_input_fields(c, v, i);
            walk_value(c, f->value, ft, type, fd && fd->default_value, voct);
        }
        return;
    }
    case GQL_V_NULL:
        if (voct && type && type->kind == GQL_T_NON_NULL)
            gqlv_reportf(c, &v->loc, 1,
                         "Expected value of type \"%s\", found null.",
                         gqlv_type_str(c, type));
        return;
    default:
        if (voct)
            check_literal(c, v, type);
        return;
    }
}

/* ---- arguments and directives ------------------------------------------ */

/* UniqueArgumentNames: one error per repeated name, at every use. */
static void unique_arguments(gqlv_ctx_t *c, const gql_argument_t *args,
                             size_t n)
{
    for (size_t i = 0; i < n && !c->aborted; i++) {
        int first = 1, count = 1;
        for (size_t k = 0; k < i && first; k++)
            if (strcmp(args[k].name, args[i].name) == 0)
                first = 0;
        if (!first)
            continue;
        for (size_t k = i + 1; k < n; k++)
            count += strcmp(args[k].name, args[i].name) == 0;
        if (count < 2)
            continue;
        gql_loc_t *locs = gqlv_alloc(c, (size_t)count * sizeof(*locs));
        if (!locs)
            return;
        size_t m = 0;
        for (size_t k = i; k < n; k++)
            if (strcmp(args[k].name, args[i].name) == 0)
                locs[m++] = args[k].loc;
        gqlv_reportf(c, locs, m, "There can be only one argument named \"%s\".",
                     args[i].name);
    }
}

static const char **arg_names(gqlv_ctx_t *c, const gql_sarg_t *args, size_t n)
{
    const char **names = gqlv_alloc(c, (n + 1) * sizeof(*names));
    if (names)
        for (size_t i = 0; i < n; i++)
            names[i] = args[i].name;
    return names;
}

static void walk_directive(gqlv_ctx_t *c, const gql_directive_t *d,
                           uint32_t location)
{
    const gql_sdirective_t *dd = gql_schema_directive(c->s, d->name);
    /* KnownDirectives */
    if (!dd)
        gqlv_reportf(c, &d->loc, 1, "Unknown directive \"@%s\".", d->name);
    else if (location && !(dd->locations & location))
        gqlv_reportf(c, &d->loc, 1, "Directive \"@%s\" may not be used on %s.",
                     d->name, dl_name(location));
    /* KnownArgumentNames, on directives */
    if (dd)
        for (size_t i = 0; i < d->n_args && !c->aborted; i++) {
            if (find_arg(dd->args, dd->n_args, d->args[i].name))
                continue;
            gqlv_str_t b;
            gqlv_str_init(&b, c);
            gqlv_str_addf(&b, "Unknown argument \"%s\" on directive \"@%s\".",
                          d->args[i].name, d->name);
            const char **names = arg_names(c, dd->args, dd->n_args);
            if (names)
                gqlv_did_you_mean(&b, NULL, d->args[i].name, names,
                                  dd->n_args);
            gqlv_report(c, gqlv_str_get(&b), &d->args[i].loc, 1);
        }
    unique_arguments(c, d->args, d->n_args);
    for (size_t i = 0; i < d->n_args && !c->aborted; i++) {
        /* TypeInfo looks an unknown directive's arguments up on the
         * enclosing field, so graphql-js checks them against its types */
        const gql_sarg_t *ad =
            dd ? find_arg(dd->args, dd->n_args, d->args[i].name)
            : c->cur_field ? find_arg(c->cur_field->args,
                                      c->cur_field->n_args, d->args[i].name)
                           : NULL;
        const gql_type_ref_t *t =
            ad && is_input_ref(c, ad->type) ? ad->type : NULL;
        walk_value(c, d->args[i].value, t, NULL, ad && ad->default_value, 1);
    }
    /* ProvidedRequiredArguments, on directives (leave) */
    if (dd)
        for (size_t i = 0; i < dd->n_args && !c->aborted; i++) {
            const gql_sarg_t *a = &dd->args[i];
            if (!is_required(a))
                continue;
            int given = 0;
            for (size_t k = 0; k < d->n_args && !given; k++)
                given = strcmp(d->args[k].name, a->name) == 0;
            if (!given)
                gqlv_reportf(c, &d->loc, 1,
                             "Directive \"@%s\" argument \"%s\" of type \"%s\" "
                             "is required, but it was not provided.",
                             d->name, a->name, gqlv_type_str(c, a->type));
        }
}

/* UniqueDirectivesPerLocation (on the node that carries them). */
static void unique_directives(gqlv_ctx_t *c, const gql_directive_t *dirs,
                              size_t n)
{
    for (size_t i = 0; i < n && !c->aborted; i++) {
        const gql_sdirective_t *dd = gql_schema_directive(c->s, dirs[i].name);
        if (!dd || dd->repeatable)
            continue;
        for (size_t k = 0; k < i; k++)
            if (strcmp(dirs[k].name, dirs[i].name) == 0) {
                gql_loc_t locs[2] = {dirs[k].loc, dirs[i].loc};
                gqlv_reportf(c, locs, 2,
                             "The directive \"@%s\" can only be used once at "
                             "this location.",
                             dirs[i].name);
                break;
            }
    }
}

static void walk_directives(gqlv_ctx_t *c, const gql_directive_t *dirs,
                            size_t n, uint32_t location)
{
    for (size_t i = 0; i < n && !c->aborted; i++)
        walk_directive(c, &dirs[i], location);
}

/* KnownTypeNames on a NamedType node. */
static void known_type(gqlv_ctx_t *c, const char *name, gql_loc_t loc)
{
    if (!name || gql_schema_type(c->s, name))
        return;
    for (size_t i = 0; i < c->n_defs; i++) {
        const gql_definition_t *d = &c->defs[i];
        if (d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT &&
            !d->extension && d->name && strcmp(d->name, name) == 0)
            return;
    }
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_str_addf(&b, "Unknown type \"%s\".", name);
    size_t n;
    const gql_stype_t *const *types = gql_schema_types(c->s, &n);
    const char **names = gqlv_alloc(c, (n + c->n_defs + 1) * sizeof(*names));
    if (names) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            names[m++] = types[i]->name;
        for (size_t i = 0; i < c->n_defs; i++) {
            const gql_definition_t *d = &c->defs[i];
            if (d->kind >= GQL_DEF_SCALAR && d->kind <= GQL_DEF_INPUT &&
                !d->extension && d->name)
                names[m++] = d->name;
        }
        gqlv_did_you_mean(&b, NULL, name, names, m);
    }
    gqlv_report(c, gqlv_str_get(&b), &loc, 1);
}

static void known_type_ref(gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    const gql_type_ref_t *n = innermost(t);
    if (n)
        known_type(c, n->name, n->loc);
}

/* ---- selections --------------------------------------------------------- */

static void walk_set(gqlv_ctx_t *c, const gql_selection_set_t *set,
                     const gql_stype_t *type, int of_inline);

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
        intptr_t ex = (intptr_t)gqlv_map_get(st->exceeded, NULL, NULL, nm,
                                             &found);
        if (found && ex <= depth)
            return 1;
        intptr_t vis = (intptr_t)gqlv_map_get(&st->visited, NULL, NULL, nm,
                                              &found);
        if (found && vis >= depth)
            return 0;
        intptr_t chk = (intptr_t)gqlv_map_get(st->checked, NULL, NULL, nm,
                                              &found);
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
    if (c->in_introspection_error || (strcmp(s->name, "__schema") != 0 &&
                                      strcmp(s->name, "__type") != 0))
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
    if (!type || !t)
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
    if (!parent || def)
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
    unique_directives(c, s->dirs, s->n_dirs);
    unique_arguments(c, s->args, s->n_args);
    int mid = max_introspection_depth(c, s);
    if (mid)
        c->in_introspection_error++;
    const gql_sfield_t *outer = c->cur_field;
    c->cur_field = def;
    for (size_t i = 0; i < s->n_args && !c->aborted; i++) {
        const gql_argument_t *a = &s->args[i];
        const gql_sarg_t *ad = def ? find_arg(def->args, def->n_args, a->name)
                                   : NULL;
        /* KnownArgumentNames */
        if (!ad && def && parent) {
            gqlv_str_t b;
            gqlv_str_init(&b, c);
            gqlv_str_addf(&b, "Unknown argument \"%s\" on field \"%s.%s\".",
                          a->name, parent->name, def->name);
            const char **names = arg_names(c, def->args, def->n_args);
            if (names)
                gqlv_did_you_mean(&b, NULL, a->name, names, def->n_args);
            gqlv_report(c, gqlv_str_get(&b), &a->loc, 1);
        }
        const gql_type_ref_t *t =
            ad && is_input_ref(c, ad->type) ? ad->type : NULL;
        walk_value(c, a->value, t, NULL, ad && ad->default_value, 1);
    }
    walk_directives(c, s->dirs, s->n_dirs, GQL_DL_FIELD);
    if (s->set)
        walk_set(c, s->set, gqlv_named(c, type), 0);
    c->cur_field = outer;
    if (mid)
        c->in_introspection_error--;
    /* ProvidedRequiredArguments (leave) */
    if (def)
        for (size_t i = 0; i < def->n_args && !c->aborted; i++) {
            const gql_sarg_t *a = &def->args[i];
            if (!is_required(a))
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
    if (!f) {
        gql_loc_t l = spread_name_loc(s);
        gqlv_reportf(c, &l, 1, "Unknown fragment \"%s\".", s->name);
    }
    /* PossibleFragmentSpreads */
    const gql_stype_t *ft = f ? composite_of_cond(c, f->type_condition) : NULL;
    if (ft && parent && !gqlv_types_overlap(ft, parent))
        gqlv_reportf(c, &s->loc, 1,
                     "Fragment \"%s\" cannot be spread here as objects of type "
                     "\"%s\" can never be of type \"%s\".",
                     s->name, parent->name, ft->name);
    unique_directives(c, s->dirs, s->n_dirs);
    walk_directives(c, s->dirs, s->n_dirs, GQL_DL_FRAGMENT_SPREAD);
}

static int is_output(const gql_stype_t *t)
{
    return t && t->kind != GQL_K_INPUT_OBJECT;
}

static void walk_inline(gqlv_ctx_t *c, const gql_selection_t *s,
                        const gql_stype_t *parent, const gql_stype_t *cur)
{
    const gql_stype_t *t =
        s->type_condition ? gql_schema_type(c->s, s->type_condition) : cur;
    /* FragmentsOnCompositeTypes */
    if (s->type_condition && t && !gqlv_is_composite(t)) {
        gql_loc_t l = inline_cond_loc(s);
        gqlv_reportf(c, &l, 1,
                     "Fragment cannot condition on non composite type \"%s\".",
                     s->type_condition);
    }
    /* PossibleFragmentSpreads */
    if (gqlv_is_composite(t) && gqlv_is_composite(parent) &&
        !gqlv_types_overlap(t, parent))
        gqlv_reportf(c, &s->loc, 1,
                     "Fragment cannot be spread here as objects of type \"%s\" "
                     "can never be of type \"%s\".",
                     parent->name, t->name);
    unique_directives(c, s->dirs, s->n_dirs);
    if (s->type_condition)
        known_type(c, s->type_condition, inline_cond_loc(s));
    walk_directives(c, s->dirs, s->n_dirs, GQL_DL_INLINE_FRAGMENT);
    if (s->set)
        walk_set(c, s->set, is_output(t) ? t : NULL, 1);
}

/* `type`: the named type whose selection set this is (TypeInfo's type),
 * NULL if unknown; the parent type of its fields when composite. */
static void walk_set(gqlv_ctx_t *c, const gql_selection_set_t *set,
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

/* ---- operations ----------------------------------------------------------- */

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
                        gqlv_map_t *visited, int rec)
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
            sub_key_t *k = NULL;
            for (size_t j = 0; j < keys->n && !k; j++)
                if (strcmp(((sub_key_t *)keys->items[j])->key, key) == 0)
                    k = keys->items[j];
            if (!k) {
                k = gqlv_alloc(c, sizeof(*k));
                if (!k)
                    return;
                k->key = key;
                gqlv_vec_push(c, keys, k);
            }
            gqlv_vec_push(c, &k->fields, (void *)s);
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (cond_matches(c, s->type_condition, root))
                sub_collect(c, root, s->set, keys, visited, rec + 1);
        } else {
            int found;
            gqlv_map_get(visited, NULL, NULL, s->name, &found);
            if (found)
                continue;
            gqlv_map_put(c, visited, NULL, NULL, s->name, (void *)s->name);
            const gql_definition_t *f = gqlv_fragment(c, s->name);
            if (f && cond_matches(c, f->type_condition, root))
                sub_collect(c, root, f->set, keys, visited, rec + 1);
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
    gqlv_map_t visited = {0};
    if (!gqlv_spend_fragment_work(c, (long)c->n_defs))
        return;
    sub_collect(c, root, op->set, &keys, &visited, 0);
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
            gqlv_report(c, "Anonymous Subscription must select only one top "
                           "level field.", locs, m);
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
            gqlv_report(c, "Anonymous Subscription must not select an "
                           "introspection top level field.",
                        locs, k->fields.n);
    }
}

static void unique_variables(gqlv_ctx_t *c, const gql_definition_t *op)
{
    for (size_t i = 0; i < op->n_vars && !c->aborted; i++) {
        const char *nm = op->vars[i].name;
        int first = 1;
        size_t count = 0;
        for (size_t k = 0; k < op->n_vars; k++)
            if (strcmp(op->vars[k].name, nm) == 0) {
                if (k < i)
                    first = 0;
                count++;
            }
        if (!first || count < 2)
            continue;
        gql_loc_t *locs = gqlv_alloc(c, count * sizeof(*locs));
        if (!locs)
            return;
        size_t m = 0;
        for (size_t k = i; k < op->n_vars; k++)
            if (strcmp(op->vars[k].name, nm) == 0)
                locs[m++] = var_name_loc(&op->vars[k]);
        gqlv_reportf(c, locs, m, "There can be only one variable named \"$%s\".",
                     nm);
    }
}

static void walk_variable_def(gqlv_ctx_t *c, const gql_variable_def_t *v)
{
    /* VariablesAreInputTypes */
    const gql_stype_t *t = gqlv_named(c, v->type);
    if (t && !gqlv_is_input(t))
        gqlv_reportf(c, &v->type->loc, 1,
                     "Variable \"$%s\" cannot be non-input type \"%s\".",
                     v->name, gqlv_type_str(c, v->type));
    unique_directives(c, v->dirs, v->n_dirs);
    known_type_ref(c, v->type);
    /* variables in a definition are not usages (getVariableUsages skips
     * VariableDefinition) */
    int collect = c->collect;
    c->collect = 0;
    if (v->default_value)
        walk_value(c, v->default_value,
                   t && gqlv_is_input(t) ? v->type : NULL, NULL, 0, 1);
    walk_directives(c, v->dirs, v->n_dirs, GQL_DL_VARIABLE_DEFINITION);
    c->collect = collect;
}

/* VariablesInAllowedPosition's isTypeSubTypeOf for input types. */
static int ref_subtype(gqlv_ctx_t *c, const gql_type_ref_t *sub,
                       const gql_type_ref_t *super)
{
    if (gqlv_type_equal(sub, super))
        return 1;
    if (super->kind == GQL_T_NON_NULL)
        return sub->kind == GQL_T_NON_NULL && ref_subtype(c, sub->of, super->of);
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
        int var_default = vd->default_value &&
                          vd->default_value->kind != GQL_V_NULL;
        if (!var_default && !u->has_default)
            return 0;
        return ref_subtype(c, vt, lt->of);
    }
    return ref_subtype(c, vt, lt);
}

static const gql_variable_def_t *find_var(const gql_definition_t *op,
                                          const char *name, int last)
{
    const gql_variable_def_t *found = NULL;
    for (size_t i = 0; i < op->n_vars; i++)
        if (strcmp(op->vars[i].name, name) == 0) {
            found = &op->vars[i];
            if (!last)
                break;
        }
    return found;
}

static void operation_leave(gqlv_ctx_t *c, const gql_definition_t *op)
{
    gqlv_vec_t *usages = recursive_usages(c, op);
    if (!usages)
        return;
    /* NoUndefinedVariables */
    for (size_t i = 0; i < usages->n && !c->aborted; i++) {
        const gqlv_usage_t *u = usages->items[i];
        if (find_var(op, u->var->text, 0))
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
        int used = 0;
        for (size_t k = 0; k < usages->n && !used; k++)
            used = strcmp(((const gqlv_usage_t *)usages->items[k])->var->text,
                          v->name) == 0;
        if (used)
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
        const gql_variable_def_t *vd = find_var(op, u->var->text, 1);
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

static size_t count_operations(const gqlv_ctx_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_defs; i++)
        n += c->defs[i].kind == GQL_DEF_OPERATION;
    return n;
}

static void walk_operation(gqlv_ctx_t *c, const gql_definition_t *op)
{
    /* UniqueOperationNames */
    if (op->name)
        for (const gql_definition_t *d = c->defs; d < op; d++)
            if (d->kind == GQL_DEF_OPERATION && d->name &&
                strcmp(d->name, op->name) == 0) {
                gql_loc_t locs[2] = {op_name_loc(d), op_name_loc(op)};
                gqlv_reportf(c, locs, 2,
                             "There can be only one operation named \"%s\".",
                             op->name);
                break;
            }
    /* LoneAnonymousOperation */
    if (!op->name && count_operations(c) > 1)
        gqlv_report(c, "This anonymous operation must be the only defined "
                       "operation.", &op->loc, 1);
    single_field_subscriptions(c, op);
    unique_variables(c, op);
    unique_directives(c, op->dirs, op->n_dirs);
    for (size_t i = 0; i < op->n_vars && !c->aborted; i++)
        walk_variable_def(c, &op->vars[i]);
    walk_directives(c, op->dirs, op->n_dirs, op_location(op->op));
    if (op->set)
        walk_set(c, op->set, gql_schema_root(c->s, op->op), 0);
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
        intptr_t at = (intptr_t)gqlv_map_get(&st->index, NULL, NULL, s->name,
                                             NULL);
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
    if (t && !gqlv_is_composite(t)) {
        gql_loc_t l = frag_cond_loc(f);
        gqlv_reportf(c, &l, 1,
                     "Fragment \"%s\" cannot condition on non composite type "
                     "\"%s\".",
                     f->name, f->type_condition);
    }
    /* UniqueFragmentNames */
    for (const gql_definition_t *d = c->defs; d < f; d++)
        if (d->kind == GQL_DEF_FRAGMENT && d->name &&
            strcmp(d->name, f->name) == 0) {
            gql_loc_t locs[2] = {frag_name_loc(d), frag_name_loc(f)};
            gqlv_reportf(c, locs, 2,
                         "There can be only one fragment named \"%s\".",
                         f->name);
            break;
        }
    if (!c->quiet)
        detect_cycles(c, cycles, f);
    unique_directives(c, f->dirs, f->n_dirs);
    known_type(c, f->type_condition, frag_cond_loc(f));
    walk_directives(c, f->dirs, f->n_dirs, GQL_DL_FRAGMENT_DEFINITION);
    if (f->set)
        walk_set(c, f->set, is_output(t) ? t : NULL, 0);
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
static void sdl_directives(gqlv_ctx_t *c, const gql_directive_t *dirs,
                           size_t n, uint32_t location)
{
    unique_directives(c, dirs, n);
    walk_directives(c, dirs, n, location);
}

static void sdl_named(gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    known_type_ref(c, t);
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
    case GQL_DEF_SCHEMA: return GQL_DL_SCHEMA;
    case GQL_DEF_SCALAR: return GQL_DL_SCALAR;
    case GQL_DEF_OBJECT: return GQL_DL_OBJECT;
    case GQL_DEF_INTERFACE: return GQL_DL_INTERFACE;
    case GQL_DEF_UNION: return GQL_DL_UNION;
    case GQL_DEF_ENUM: return GQL_DL_ENUM;
    case GQL_DEF_INPUT: return GQL_DL_INPUT_OBJECT;
    default: return 0;
    }
}

static void sdl_definition(gqlv_ctx_t *c, const gql_definition_t *d)
{
    for (size_t i = 0; i < d->n_interfaces && !c->aborted; i++)
        known_type(c, d->interfaces[i],
                   d->interface_locs ? d->interface_locs[i] : d->loc);
    if (d->kind == GQL_DEF_DIRECTIVE) {
        sdl_input_values(c, d->inputs, d->n_inputs,
                         GQL_DL_ARGUMENT_DEFINITION);
        sdl_directives(c, d->dirs, d->n_dirs, GQL_DL_DIRECTIVE_DEFINITION);
        return;
    }
    sdl_directives(c, d->dirs, d->n_dirs, sdl_location(d));
    for (size_t i = 0; i < d->n_roots && !c->aborted; i++)
        known_type(c, d->roots[i].type, d->roots[i].loc);
    for (size_t i = 0; i < d->n_fields && !c->aborted; i++) {
        const gql_field_def_t *f = &d->fields[i];
        unique_directives(c, f->dirs, f->n_dirs);
        sdl_input_values(c, f->args, f->n_args, GQL_DL_ARGUMENT_DEFINITION);
        sdl_named(c, f->type);
        walk_directives(c, f->dirs, f->n_dirs, GQL_DL_FIELD_DEFINITION);
    }
    for (size_t i = 0; i < d->n_members && !c->aborted; i++)
        known_type(c, d->members[i],
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
    size_t n_ops = count_operations(c);
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

size_t gql_validate(const gql_schema_t *s, const gql_doc_t *doc,
                    json_t *errors, size_t max_errors)
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
    for (size_t i = 0; i < c.n_defs && !c.aborted; i++) {
        const gql_definition_t *d = &c.defs[i];
        if (d->kind != GQL_DEF_FRAGMENT || !d->name)
            continue;
        /* getFragment: the last definition of a name wins */
        gqlv_map_put(&c, &c.frags, NULL, NULL, d->name, (void *)d);
    }
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
