/*
 * Introspection (spec section 4.2): the values of __schema and __type and
 * of every field of __Schema, __Type, __Field, __InputValue, __EnumValue
 * and __Directive, read from the built schema. The introspection types
 * are real schema types, so gql_exec.c shapes these answers like any
 * other (aliases, fragments, __typename); this file only says what each
 * field's value is.
 *
 * An object of these types is a marker {"\u0001k": kind, "\u0001p":
 * address of the schema element}. Markers never come from resolvers:
 * gql_exec.c reads them only below __schema / __type, whose values all
 * come from here.
 */
#include <stdint.h>
#include <string.h>

#include "gql_exec_int.h"
#include "gql_internal.h"

enum {
    M_SCHEMA = 1,
    M_TYPE,      /* gql_stype_t */
    M_WRAPPER,   /* gql_type_ref_t of kind LIST or NON_NULL */
    M_FIELD,     /* gql_sfield_t */
    M_INPUT,     /* gql_sarg_t */
    M_ENUM,      /* gql_senum_value_t */
    M_DIRECTIVE  /* gql_sdirective_t */
};

#define MK "\001k"
#define MP "\001p"

static json_t *marker(int kind, const void *p)
{
    if (!p)
        return json_null();
    return json_pack("{s:i,s:I}", MK, kind, MP, (json_int_t)(intptr_t)p);
}

int gql_intro_is_marker(const json_t *v)
{
    return json_is_object(v) && json_is_integer(json_object_get(v, MK)) &&
           json_is_integer(json_object_get(v, MP));
}

static const void *marker_ptr(const json_t *v, int *kind)
{
    if (!gql_intro_is_marker(v))
        return NULL;
    *kind = (int)json_integer_value(json_object_get(v, MK));
    return (const void *)(intptr_t)json_integer_value(json_object_get(v, MP));
}

/* A type reference: a wrapper marker, or the named type's marker. */
static json_t *typeref_marker(const gql_schema_t *s, const gql_type_ref_t *t)
{
    if (!t)
        return json_null();
    if (t->kind == GQL_T_NAMED)
        return marker(M_TYPE, gql_schema_type(s, t->name));
    return marker(M_WRAPPER, t);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int ref_names(const gql_type_ref_t *t, const char *name)
{
    while (t && t->kind != GQL_T_NAMED)
        t = t->of;
    return t && t->name && strcmp(t->name, name) == 0;
}

static int args_name(const gql_sarg_t *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (ref_names(a[i].type, name))
            return 1;
    return 0;
}

/* graphql-js's schema holds a standard scalar only when something refers
 * to it (String and Boolean always: the introspection types do), so
 * __schema.types and __type(name:) leave an unused Int, Float or ID out. */
static int type_listed(const gql_schema_t *s, const gql_stype_t *t)
{
    if (!t)
        return 0;
    if (t->kind != GQL_K_SCALAR || !t->builtin || strcmp(t->name, "String") == 0 ||
        strcmp(t->name, "Boolean") == 0)
        return 1;
    size_t n = 0;
    const gql_stype_t *const *ts = gql_schema_types(s, &n);
    for (size_t i = 0; i < n; i++) {
        const gql_stype_t *o = ts[i];
        for (size_t j = 0; j < o->n_fields; j++)
            if (ref_names(o->fields[j].type, t->name) ||
                args_name(o->fields[j].args, o->fields[j].n_args, t->name))
                return 1;
        if (args_name(o->input_fields, o->n_input_fields, t->name))
            return 1;
    }
    const gql_sdirective_t *const *ds = gql_schema_directives(s, &n);
    for (size_t i = 0; i < n; i++)
        if (args_name(ds[i]->args, ds[i]->n_args, t->name))
            return 1;
    return 0;
}

json_t *gql_intro_schema(const gql_schema_t *s)
{
    return marker(M_SCHEMA, s);
}

json_t *gql_intro_type_by_name(const gql_schema_t *s, const char *name)
{
    const gql_stype_t *t = name ? gql_schema_type(s, name) : NULL;
    return type_listed(s, t) ? marker(M_TYPE, t) : json_null();
}

static int include_deprecated(const json_t *args)
{
    return json_is_true(json_object_get(args, "includeDeprecated"));
}

static json_t *input_list(const gql_sarg_t *a, size_t n, const json_t *args)
{
    json_t *out = json_array();
    int all = include_deprecated(args);
    for (size_t i = 0; out && i < n; i++)
        if (all || !a[i].deprecation)
            json_array_append_new(out, marker(M_INPUT, &a[i]));
    return out;
}

static const char *kind_name(gql_kind_t k)
{
    switch (k) {
    case GQL_K_SCALAR: return "SCALAR";
    case GQL_K_OBJECT: return "OBJECT";
    case GQL_K_INTERFACE: return "INTERFACE";
    case GQL_K_UNION: return "UNION";
    case GQL_K_ENUM: return "ENUM";
    case GQL_K_INPUT_OBJECT: return "INPUT_OBJECT";
    }
    return "SCALAR";
}

static json_t *schema_field(const gql_schema_t *s, const char *f)
{
    if (strcmp(f, "description") == 0)
        return str_or_null(gql_schema_description(s));
    if (strcmp(f, "types") == 0) {
        size_t n = 0;
        const gql_stype_t *const *ts = gql_schema_types(s, &n);
        json_t *out = json_array();
        for (size_t i = 0; out && i < n; i++)
            if (type_listed(s, ts[i]))
                json_array_append_new(out, marker(M_TYPE, ts[i]));
        return out;
    }
    if (strcmp(f, "queryType") == 0)
        return marker(M_TYPE, gql_schema_root(s, GQL_OP_QUERY));
    if (strcmp(f, "mutationType") == 0)
        return marker(M_TYPE, gql_schema_root(s, GQL_OP_MUTATION));
    if (strcmp(f, "subscriptionType") == 0)
        return marker(M_TYPE, gql_schema_root(s, GQL_OP_SUBSCRIPTION));
    if (strcmp(f, "directives") == 0) {
        size_t n = 0;
        const gql_sdirective_t *const *ds = gql_schema_directives(s, &n);
        json_t *out = json_array();
        for (size_t i = 0; out && i < n; i++)
            json_array_append_new(out, marker(M_DIRECTIVE, ds[i]));
        return out;
    }
    return json_null();
}

static json_t *type_field(const gql_stype_t *t, const char *f, const json_t *args)
{
    int fieldful = t->kind == GQL_K_OBJECT || t->kind == GQL_K_INTERFACE;
    if (strcmp(f, "kind") == 0)
        return json_string(kind_name(t->kind));
    if (strcmp(f, "name") == 0)
        return str_or_null(t->name);
    if (strcmp(f, "description") == 0)
        return str_or_null(t->description);
    if (strcmp(f, "specifiedByURL") == 0 || strcmp(f, "specifiedByUrl") == 0)
        return t->kind == GQL_K_SCALAR ? str_or_null(t->specified_by) : json_null();
    if (strcmp(f, "fields") == 0) {
        if (!fieldful)
            return json_null();
        json_t *out = json_array();
        int all = include_deprecated(args);
        for (size_t i = 0; out && i < t->n_fields; i++)
            if (all || !t->fields[i].deprecation)
                json_array_append_new(out, marker(M_FIELD, &t->fields[i]));
        return out;
    }
    if (strcmp(f, "interfaces") == 0) {
        if (!fieldful)
            return json_null();
        json_t *out = json_array();
        for (size_t i = 0; out && i < t->n_interfaces; i++)
            json_array_append_new(out, marker(M_TYPE, t->interfaces[i]));
        return out;
    }
    if (strcmp(f, "possibleTypes") == 0) {
        if (t->kind != GQL_K_UNION && t->kind != GQL_K_INTERFACE)
            return json_null();
        json_t *out = json_array();
        for (size_t i = 0; out && i < t->n_possible; i++)
            json_array_append_new(out, marker(M_TYPE, t->possible[i]));
        return out;
    }
    if (strcmp(f, "enumValues") == 0) {
        if (t->kind != GQL_K_ENUM)
            return json_null();
        json_t *out = json_array();
        int all = include_deprecated(args);
        for (size_t i = 0; out && i < t->n_values; i++)
            if (all || !t->values[i].deprecation)
                json_array_append_new(out, marker(M_ENUM, &t->values[i]));
        return out;
    }
    if (strcmp(f, "inputFields") == 0) {
        if (t->kind != GQL_K_INPUT_OBJECT)
            return json_null();
        return input_list(t->input_fields, t->n_input_fields, args);
    }
    if (strcmp(f, "isOneOf") == 0)
        return t->kind == GQL_K_INPUT_OBJECT ? json_boolean(gql_stype_is_one_of(t))
                                             : json_null();
    return json_null(); /* ofType of a named type */
}

static json_t *wrapper_field(const gql_schema_t *s, const gql_type_ref_t *t,
                             const char *f)
{
    if (strcmp(f, "kind") == 0)
        return json_string(t->kind == GQL_T_LIST ? "LIST" : "NON_NULL");
    if (strcmp(f, "ofType") == 0)
        return typeref_marker(s, t->of);
    return json_null();
}

static json_t *deprecation_field(const char *reason, const char *f, int *done)
{
    *done = 1;
    if (strcmp(f, "isDeprecated") == 0)
        return json_boolean(reason != NULL);
    if (strcmp(f, "deprecationReason") == 0)
        return str_or_null(reason);
    *done = 0;
    return NULL;
}

static const char *const LOCATION_NAMES[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA", "SCALAR",
    "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INTERFACE", "UNION", "ENUM",
    "ENUM_VALUE", "INPUT_OBJECT", "INPUT_FIELD_DEFINITION", "DIRECTIVE_DEFINITION"};

/* The locations in the order the directive's definition wrote them
 * (graphql-js's order for the built-in ones); the set in the
 * specification's order if the schema has no order for it. */
static json_t *directive_locations(const gql_sdirective_t *d)
{
    uint32_t order[32];
    size_t n = gql_sdirective_locations(d, order, 32);
    json_t *out = json_array();
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = gql_dl_name(order[i]);
        if (name)
            json_array_append_new(out, json_string(name));
    }
    if (n == 0)
        for (unsigned i = 0; i < sizeof LOCATION_NAMES / sizeof *LOCATION_NAMES; i++)
            if (d->locations & (1u << i))
                json_array_append_new(out, json_string(LOCATION_NAMES[i]));
    return out;
}

json_t *gql_intro_field(const gql_schema_t *s, const json_t *parent,
                        const char *f, const json_t *args)
{
    int kind = 0, done = 0;
    const void *p = marker_ptr(parent, &kind);
    json_t *r;
    if (!p)
        return json_null();
    switch (kind) {
    case M_SCHEMA:
        return schema_field(s, f);
    case M_TYPE:
        return type_field(p, f, args);
    case M_WRAPPER:
        return wrapper_field(s, p, f);
    case M_FIELD: {
        const gql_sfield_t *fd = p;
        if (strcmp(f, "name") == 0)
            return json_string(fd->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(fd->description);
        if (strcmp(f, "args") == 0)
            return input_list(fd->args, fd->n_args, args);
        if (strcmp(f, "type") == 0)
            return typeref_marker(s, fd->type);
        r = deprecation_field(fd->deprecation, f, &done);
        return done ? r : json_null();
    }
    case M_INPUT: {
        const gql_sarg_t *a = p;
        if (strcmp(f, "name") == 0)
            return json_string(a->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(a->description);
        if (strcmp(f, "type") == 0)
            return typeref_marker(s, a->type);
        if (strcmp(f, "defaultValue") == 0) {
            if (!a->default_value)
                return json_null();
            gql_tbuf_t b = {0};
            r = gql_print_default(&b, s, a->type, a->default_value) == 0 && !b.oom
                    ? json_string(gql_tb_str(&b))
                    : json_null();
            gql_tb_free(&b);
            return r;
        }
        r = deprecation_field(a->deprecation, f, &done);
        return done ? r : json_null();
    }
    case M_ENUM: {
        const gql_senum_value_t *e = p;
        if (strcmp(f, "name") == 0)
            return json_string(e->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(e->description);
        r = deprecation_field(e->deprecation, f, &done);
        return done ? r : json_null();
    }
    case M_DIRECTIVE: {
        const gql_sdirective_t *d = p;
        if (strcmp(f, "name") == 0)
            return json_string(d->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(d->description);
        if (strcmp(f, "isRepeatable") == 0)
            return json_boolean(d->repeatable);
        if (strcmp(f, "args") == 0)
            return input_list(d->args, d->n_args, args);
        if (strcmp(f, "isDeprecated") == 0) /* the schema keeps no reason */
            return json_false();
        if (strcmp(f, "locations") == 0)
            return directive_locations(d);
        return json_null();
    }
    }
    return json_null();
}
