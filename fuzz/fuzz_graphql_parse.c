/*
 * The GraphQL lexer, parser and schema builder (plugins/graphql/gql): the
 * bytes are parsed as a document (default limits, then small ones, so the
 * limit paths run too) and every node of the AST is walked; then a schema
 * is built from the same bytes as SDL and every type's members are looked
 * up through the hash tables. Checks, beyond "no crash, no UB, no leak":
 * positions are 1-based and inside the input's lines, string values are
 * NUL-terminated at their length, a parse error always has a message, and
 * a lookup by name finds the very member it was named after.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"
#include "gql_internal.h"

static uint32_t n_lines;

static void check_loc(gql_loc_t l)
{
    if (l.line < 1 || l.line > n_lines || l.column < 1)
        abort();
}

static void walk_value(const gql_value_t *v)
{
    check_loc(v->loc);
    switch (v->kind) {
    case GQL_V_LIST:
        for (size_t i = 0; i < v->n_items; i++)
            walk_value(v->items[i]);
        break;
    case GQL_V_OBJECT:
        for (size_t i = 0; i < v->n_fields; i++) {
            check_loc(v->fields[i].loc);
            if (!v->fields[i].name[0])
                abort();
            walk_value(v->fields[i].value);
        }
        break;
    default:
        if (!v->text || v->text[v->len] != '\0')
            abort();
        if (v->kind != GQL_V_STRING && strlen(v->text) != v->len)
            abort();
    }
}

static void walk_type(const gql_type_ref_t *t)
{
    for (; t; t = t->of) {
        check_loc(t->loc);
        if (t->kind == GQL_T_NAMED) {
            if (!t->name || !t->name[0] || t->of)
                abort();
            return;
        }
        if (!t->of)
            abort();
    }
}

static void walk_dirs(const gql_directive_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check_loc(d[i].loc);
        for (size_t j = 0; j < d[i].n_args; j++)
            walk_value(d[i].args[j].value);
    }
}

static void walk_set(const gql_selection_set_t *set)
{
    if (!set->n)
        abort(); /* the grammar has no empty selection set */
    for (size_t i = 0; i < set->n; i++) {
        const gql_selection_t *s = set->items[i];
        check_loc(s->loc);
        for (size_t j = 0; j < s->n_args; j++)
            walk_value(s->args[j].value);
        walk_dirs(s->dirs, s->n_dirs);
        if (s->kind == GQL_SEL_INLINE_FRAGMENT && !s->set)
            abort();
        if (s->set)
            walk_set(s->set);
    }
}

static void walk_inputs(const gql_input_value_def_t *iv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        walk_type(iv[i].type);
        if (iv[i].default_value)
            walk_value(iv[i].default_value);
        walk_dirs(iv[i].dirs, iv[i].n_dirs);
    }
}

static void walk_doc(const gql_doc_t *doc)
{
    size_t n;
    const gql_definition_t *d = gql_doc_defs(doc, &n);
    if (!n)
        abort();
    for (size_t i = 0; i < n; i++) {
        check_loc(d[i].loc);
        walk_dirs(d[i].dirs, d[i].n_dirs);
        for (size_t j = 0; j < d[i].n_vars; j++) {
            walk_type(d[i].vars[j].type);
            if (d[i].vars[j].default_value)
                walk_value(d[i].vars[j].default_value);
        }
        if (d[i].set)
            walk_set(d[i].set);
        for (size_t j = 0; j < d[i].n_fields; j++) {
            walk_type(d[i].fields[j].type);
            walk_inputs(d[i].fields[j].args, d[i].fields[j].n_args);
        }
        walk_inputs(d[i].inputs, d[i].n_inputs);
    }
    gql_error_t err;
    gql_doc_operation(doc, NULL, &err);
}

static void check_schema(const gql_schema_t *s)
{
    size_t n;
    const gql_stype_t *const *types = gql_schema_types(s, &n);
    for (size_t i = 0; i < n; i++) {
        const gql_stype_t *t = types[i];
        if (gql_schema_type(s, t->name) != t)
            abort();
        for (size_t j = 0; j < t->n_fields; j++)
            if (gql_stype_field(t, t->fields[j].name) != &t->fields[j] ||
                !gql_schema_named(s, t->fields[j].type))
                abort();
        for (size_t j = 0; j < t->n_input_fields; j++)
            if (gql_stype_input_field(t, t->input_fields[j].name) != &t->input_fields[j])
                abort();
        for (size_t j = 0; j < t->n_values; j++)
            if (gql_stype_enum_value(t, t->values[j].name) != &t->values[j])
                abort();
        for (size_t j = 0; j < t->n_possible; j++)
            if (!gql_schema_possible(t, t->possible[j]))
                abort();
    }
    if (!gql_schema_root(s, GQL_OP_QUERY))
        abort();
    const gql_sdirective_t *const *dirs = gql_schema_directives(s, &n);
    for (size_t i = 0; i < n; i++)
        if (gql_schema_directive(s, dirs[i]->name) != dirs[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy without a NUL after it, so a read past the end is caught */
    char *src = malloc(size ? size : 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    n_lines = 1;
    for (size_t i = 0; i < size; i++)
        if (src[i] == '\n' || (src[i] == '\r' && !(i + 1 < size && src[i + 1] == '\n')))
            n_lines++;

    gql_error_t err;
    gql_doc_t *doc = gql_parse(src, size, NULL, &err);
    if (doc) {
        walk_doc(doc);
        gql_doc_free(doc);
    } else if (!err.message[0]) {
        abort();
    }
    gql_limits_t small = {.max_bytes = 2048, .max_tokens = 64, .max_depth = 4};
    doc = gql_parse(src, size, &small, &err);
    if (doc) {
        walk_doc(doc);
        gql_doc_free(doc);
    } else if (!err.message[0]) {
        abort();
    }

    gql_source_t s = {"fuzz.graphql", src, size};
    gql_schema_t *schema = gql_schema_build(&s, 1, NULL, &err);
    if (schema) {
        check_schema(schema);
        gql_schema_free(schema);
    } else if (!err.message[0]) {
        abort();
    }
    free(src);
    return 0;
}
