/*
 * Arguments, directives and type names: KnownDirectives,
 * UniqueDirectivesPerLocation, KnownArgumentNames and
 * ProvidedRequiredArguments on directives, UniqueArgumentNames,
 * KnownTypeNames.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_validate_internal.h"

static const char *dl_name(uint32_t bit)
{
    const char *n = gql_dl_name(bit);
    return n ? n : "UNKNOWN";
}

/* ---- arguments and directives ------------------------------------------ */

/* UniqueArgumentNames: one error per repeated name, at every use. */
void gqlv_unique_arguments(gqlv_ctx_t *c, const gql_argument_t *args, size_t n)
{
    if (c->quiet || n < 2)
        return;
    const char **names = gqlv_alloc(c, n * sizeof(*names));
    gqlv_groups_t g;
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        names[i] = args[i].name;
    if (gqlv_group_names(c, names, n, &g) < 0)
        return;
    for (size_t i = 0; i < n && !c->aborted; i++) {
        if (g.first[i] != i || g.count[i] < 2)
            continue;
        gql_loc_t *locs = gqlv_alloc(c, g.count[i] * sizeof(*locs));
        if (!locs)
            return;
        size_t m = 0;
        for (size_t k = i; k < n; k = g.next[k])
            locs[m++] = args[k].loc;
        gqlv_reportf(c, locs, m, "There can be only one argument named \"%s\".",
                     args[i].name);
    }
}

const char **gqlv_arg_names(gqlv_ctx_t *c, const gql_sarg_t *args, size_t n)
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
    int rules = !c->quiet;
    /* KnownDirectives */
    if (!rules)
        ;
    else if (!dd)
        gqlv_reportf(c, &d->loc, 1, "Unknown directive \"@%s\".", d->name);
    else if (location && !(dd->locations & location))
        gqlv_reportf(c, &d->loc, 1, "Directive \"@%s\" may not be used on %s.",
                     d->name, dl_name(location));
    /* KnownArgumentNames, on directives */
    if (dd && rules)
        for (size_t i = 0; i < d->n_args && !c->aborted; i++) {
            if (gqlv_find_arg(dd->args, dd->n_args, d->args[i].name))
                continue;
            gqlv_str_t b;
            gqlv_str_init(&b, c);
            gqlv_str_addf(&b, "Unknown argument \"%s\" on directive \"@%s\".",
                          d->args[i].name, d->name);
            const char **names = gqlv_arg_names(c, dd->args, dd->n_args);
            if (names)
                gqlv_did_you_mean(&b, NULL, d->args[i].name, names, dd->n_args);
            gqlv_report(c, gqlv_str_get(&b), &d->args[i].loc, 1);
        }
    gqlv_unique_arguments(c, d->args, d->n_args);
    for (size_t i = 0; i < d->n_args && !c->aborted; i++) {
        /* TypeInfo looks an unknown directive's arguments up on the
         * enclosing field, so graphql-js checks them against its types */
        const gql_sarg_t *ad =
            dd ? gqlv_find_arg(dd->args, dd->n_args, d->args[i].name)
            : c->cur_field
                ? gqlv_find_arg(c->cur_field->args, c->cur_field->n_args,
                                d->args[i].name)
                : NULL;
        const gql_type_ref_t *t =
            ad && gqlv_is_input_ref(c, ad->type) ? ad->type : NULL;
        gqlv_walk_value(c, d->args[i].value, t, NULL, ad && ad->default_value,
                        1);
    }
    /* ProvidedRequiredArguments, on directives (leave) */
    if (dd && rules)
        for (size_t i = 0; i < dd->n_args && !c->aborted; i++) {
            const gql_sarg_t *a = &dd->args[i];
            if (!gqlv_is_required(a))
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

/* UniqueDirectivesPerLocation (on the node that carries them): each
 * repeat of a non-repeatable directive, with its first use. */
void gqlv_unique_directives(gqlv_ctx_t *c, const gql_directive_t *dirs,
                            size_t n)
{
    if (c->quiet || n < 2)
        return;
    const char **names = gqlv_alloc(c, n * sizeof(*names));
    gqlv_groups_t g;
    if (!names)
        return;
    for (size_t i = 0; i < n; i++) {
        const gql_sdirective_t *dd = gql_schema_directive(c->s, dirs[i].name);
        names[i] = dd && !dd->repeatable ? dirs[i].name : NULL;
    }
    if (gqlv_group_names(c, names, n, &g) < 0)
        return;
    for (size_t i = 0; i < n && !c->aborted; i++) {
        if (!names[i] || g.first[i] == i)
            continue;
        gql_loc_t locs[2] = {dirs[g.first[i]].loc, dirs[i].loc};
        gqlv_reportf(c, locs, 2,
                     "The directive \"@%s\" can only be used once at this "
                     "location.",
                     dirs[i].name);
    }
}

void gqlv_walk_directives(gqlv_ctx_t *c, const gql_directive_t *dirs, size_t n,
                          uint32_t location)
{
    for (size_t i = 0; i < n && !c->aborted; i++)
        walk_directive(c, &dirs[i], location);
}

/* KnownTypeNames on a NamedType node. */
void gqlv_known_type(gqlv_ctx_t *c, const char *name, gql_loc_t loc)
{
    if (c->quiet || !name || gql_schema_type(c->s, name))
        return;
    int found;
    gqlv_map_get(&c->sdl_types, NULL, NULL, name, &found);
    if (found)
        return;
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

void gqlv_known_type_ref(gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    const gql_type_ref_t *n = gqlv_innermost(t);
    if (n)
        gqlv_known_type(c, n->name, n->loc);
}
