/*
 * Validation of values: ValuesOfCorrectType (literals against the
 * built-in scalars, enums, input objects, @oneOf, lists with graphql-js's
 * list coercion) and UniqueInputFieldNames, with TypeInfo's input types;
 * the same walk records the variable usages the variable rules read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_validate_internal.h"

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
            gqlv_str_add(&b, "Int cannot represent non 32-bit signed integer "
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
    if (c->quiet || !loc_type)
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

/* UniqueInputFieldNames: each repeat, with the first of its name. */
static void unique_input_field(gqlv_ctx_t *c, const gql_value_t *v,
                               const gqlv_groups_t *g, size_t i)
{
    if (!g->first || g->first[i] == i)
        return;
    gql_loc_t locs[2] = {v->fields[g->first[i]].loc, v->fields[i].loc};
    gqlv_reportf(c, locs, 2, "There can be only one input field named \"%s\".",
                 v->fields[i].name);
}

static void group_fields(gqlv_ctx_t *c, const gql_value_t *v, gqlv_groups_t *g)
{
    *g = (gqlv_groups_t){0};
    const char **names = gqlv_alloc(c, (v->n_fields + 1) * sizeof(*names));
    if (!names)
        return;
    for (size_t i = 0; i < v->n_fields; i++)
        names[i] = v->fields[i].name;
    if (gqlv_group_names(c, names, v->n_fields, g) < 0)
        *g = (gqlv_groups_t){0};
}

/* ValuesOfCorrectType on a @oneOf input object: exactly one key, and
 * not null (the last value given for it, as graphql-js's keyMap). */
static void one_of_object(gqlv_ctx_t *c, const gql_value_t *v,
                          const gql_stype_t *t)
{
    size_t keys = 0;
    gqlv_groups_t g;
    group_fields(c, v, &g);
    if (!g.first)
        return;
    for (size_t i = 0; i < v->n_fields; i++)
        keys += g.first[i] == i;
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
void gqlv_walk_value(gqlv_ctx_t *c, const gql_value_t *v,
                     const gql_type_ref_t *type, const gql_type_ref_t *parent,
                     int has_default, int voct)
{
    if (!v || c->aborted)
        return;
    switch (v->kind) {
    case GQL_V_VARIABLE:
        record_usage(c, v, type, parent, has_default);
        return;
    case GQL_V_LIST: {
        const gql_type_ref_t *lt = gqlv_nullable(type);
        const gql_type_ref_t *item = lt && lt->kind == GQL_T_LIST ? lt->of : lt;
        if (!item || !gqlv_is_input_ref(c, item))
            item = NULL;
        if (voct && !(lt && lt->kind == GQL_T_LIST)) {
            check_literal(c, v, item);
            voct = 0;
        }
        for (size_t i = 0; i < v->n_items && !c->aborted; i++)
            gqlv_walk_value(c, v->items[i], item, type, 0, voct);
        return;
    }
    case GQL_V_OBJECT: {
        const gql_stype_t *t = gqlv_named(c, type);
        int is_obj = t && t->kind == GQL_K_INPUT_OBJECT;
        gqlv_groups_t g = {0};
        if (c->quiet)
            voct = 0; /* the first pass only collects variable usages */
        else if (v->n_fields > 1)
            group_fields(c, v, &g);
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
                    if (!given && gqlv_is_required(fd))
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
                fd && gqlv_is_input_ref(c, fd->type) ? fd->type : NULL;
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
            unique_input_field(c, v, &g, i);
            gqlv_walk_value(c, f->value, ft, type, fd && fd->default_value,
                            voct);
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
