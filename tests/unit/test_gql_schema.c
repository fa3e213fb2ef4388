/*
 * Schemas built from SDL (plugins/graphql/gql/gql_schema.c): types and
 * their members, extensions merged over several sources, interfaces and
 * their implementations, unions, root types, the built-in scalars,
 * directives and introspection types, and every build error (the messages
 * in the table are graphql-js 16.15's buildSchema / validateSchema first
 * error for the same SDL).
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers under -std=c11 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gql.h"
#include "gql_internal.h"

static gql_schema_t *build1(const char *sdl, gql_error_t *err)
{
    gql_source_t src = {"s.graphql", sdl, strlen(sdl)};
    return gql_schema_build(&src, 1, NULL, err);
}

static gql_schema_t *must_build(const char *sdl)
{
    gql_error_t err;
    gql_schema_t *s = build1(sdl, &err);
    if (!s)
        fail_msg("%s", err.message);
    return s;
}

typedef struct schema_case {
    const char *sdl;
    const char *message; /* graphql-js's; ours is "s.graphql:L:C: " + it */
} schema_case_t;

static const schema_case_t cases[] = {
    {"type Query { a: Prodct }",
     "Unknown type \"Prodct\"."},
    {"type Query { a: Int } type Query { b: Int }",
     "There can be only one type named \"Query\"."},
    {"type Query { a: Int } directive @d on FIELD directive @d on QUERY",
     "There can be only one directive named \"@d\"."},
    {"type Query { a: Int } extend type Nope { b: Int }",
     "Cannot extend type \"Nope\" because it is not defined."},
    {"type Query { a: Int } scalar S extend type S { b: Int }",
     "Cannot extend non-object type \"S\"."},
    {"type Query { a: Int } extend input Query { b: Int }",
     "Cannot extend non-input object type \"Query\"."},
    {"type Query { a: Int a: String }",
     "Field \"Query.a\" can only be defined once."},
    {"type Query { a(x: Int, x: Int): Int }",
     "Argument \"Query.a(x:)\" can only be defined once."},
    {"type Query { a: Int } enum E { A A }",
     "Enum value \"E.A\" can only be defined once."},
    {"type Query { a: Int } input I { a: Int a: Int }",
     "Field \"I.a\" can only be defined once."},
    {"schema { query: Q } schema { query: Q } type Q { a: Int }",
     "Must provide only one schema definition."},
    {"schema { query: Q query: Q } type Q { a: Int }",
     "There can be only one query type in schema."},
    {"schema { query: Nope }",
     "Unknown type \"Nope\"."},
    {"type Foo { a: Int }",
     "Query root type must be provided."},
    {"schema { query: I } input I { a: Int }",
     "Query root type must be Object type, it cannot be I."},
    {"type Query { a: Int } schema { query: Query mutation: I } input I { a: Int }",
     "Mutation root type must be Object type if provided, it cannot be I."},
    {"type Query { a: Int } type __Bad { a: Int }",
     "Name \"__Bad\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query { __a: Int }",
     "Name \"__a\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query { a(__x: Int): Int }",
     "Name \"__x\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query { a: Int } enum E { __A }",
     "Name \"__A\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query { a: Int } directive @__d on FIELD",
     "Name \"__d\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query",
     "Type Query must define one or more fields."},
    {"type Query { a: Int } union U",
     "Union type U must define one or more member types."},
    {"type Query { a: Int } enum E",
     "Enum type E must define one or more values."},
    {"type Query { a: Int } input I",
     "Input Object type I must define one or more fields."},
    {"type Query { a: I } input I { a: Int }",
     "The type of Query.a must be Output Type but got: I."},
    {"type Query { a(x: Query): Int }",
     "The type of Query.a(x:) must be Input Type but got: Query."},
    {"type Query { a: Int } input I { a: Query }",
     "The type of I.a must be Input Type but got: Query."},
    {"type Query { a: Int } directive @d(x: Query) on FIELD",
     "The type of @d(x:) must be Input Type but got: Query."},
    {"type Query implements Query { a: Int }",
     "Type Query must only implement Interface types, it cannot implement Query."},
    {"type Query implements I & I { a: Int } interface I { a: Int }",
     "Type Query can only implement I once."},
    {"type Query implements S { a: Int } scalar S",
     "Type Query must only implement Interface types, it cannot implement S."},
    {"type Query implements I { a: Int } interface I implements J { a: Int } interface J { a: Int }",
     "Type Query must implement J because it is implemented by I."},
    {"type Query { a: Int } interface I implements J { a: Int } interface J implements I { a: Int }",
     "Type I cannot implement J because it would create a circular reference."},
    {"type Query implements I { b: Int } interface I { a: Int }",
     "Interface field I.a expected but Query does not provide it."},
    {"type Query implements I { a: String } interface I { a: Int }",
     "Interface field I.a expects type Int but Query.a is type String."},
    {"type Query implements I { a: Int } interface I { a(x: Int): Int }",
     "Interface field argument I.a(x:) expected but Query.a does not provide it."},
    {"type Query implements I { a(x: String): Int } interface I { a(x: Int): Int }",
     "Interface field argument I.a(x:) expects type Int but Query.a(x:) is type String."},
    {"type Query implements I { a(y: Int!): Int } interface I { a: Int }",
     "Object field Query.a includes required argument y that is missing from the Interface field I.a."},
    {"type Query { a: Int } union U = Query | Query",
     "Union type U can only include type Query once."},
    {"type Query { a: Int } union U = Query | S scalar S",
     "Union type U can only include Object types, it cannot include S."},
    {"type Query { a: Int } union U = Nope",
     "Unknown type \"Nope\"."},
    {"type Query { a(x: Int! @deprecated): Int }",
     "Required argument Query.a(x:) cannot be deprecated."},
    {"type Query { a: Int } input I { a: Int! @deprecated }",
     "Required input field I.a cannot be deprecated."},
    {"type Query { a: Int } directive @d(x: Int! @deprecated) on FIELD",
     "Required argument @d(x:) cannot be deprecated."},
    {"type Query { a: Int } input I { b: J! } input J { c: I! }",
     "Cannot reference Input Object \"I\" within itself through a series of non-null fields: \"b.c\"."},
    {"type Query { a: Int } input I { b: I! }",
     "Cannot reference Input Object \"I\" within itself through a series of non-null fields: \"b\"."},
    {"type Query { a: Int } input I @oneOf { a: Int! b: Int }",
     "OneOf input field I.a must be nullable."},
    {"type Query { a: Int } input I @oneOf { a: Int = 1 b: Int }",
     "OneOf input field I.a cannot have a default value."},
    {"type Query { a: Int } extend schema { mutation: Query } extend schema { mutation: Query }",
     "There can be only one mutation type in schema."},
    {"type Query { a: Int } interface I { a: Int } type T implements I",
     "Type T must define one or more fields."},
    {"type Query { a: Strin }",
     "Unknown type \"Strin\". Did you mean \"String\"?"},
    {"type Query { a: Product } type Produc { a: Int } type Products { a: Int } type Prod { a: Int }",
     "Unknown type \"Product\". Did you mean \"Produc\", \"Products\", or \"Prod\"?"},
    {"type Query { a: Int } extend type Querx { b: Int }",
     "Cannot extend type \"Querx\" because it is not defined. Did you mean \"Query\"?"},
    {"type Query { a: Int } extend type Strin { b: Int }",
     "Cannot extend type \"Strin\" because it is not defined."},
    {"type Query { a: __Typ }",
     "Unknown type \"__Typ\". Did you mean \"__Type\"?"},
    {"type Query { a: T } type T12 { a: Int } type T3 { a: Int } type T1 { a: Int } type T10 { a: Int } type T2 { a: Int } type T11 { a: Int } type T20 { a: Int }",
     "Unknown type \"T\". Did you mean \"T1\", \"T2\", or \"T3\"?"},
    {"type Query { a: TT } type tt { a: Int } type Tt { a: Int } type TTT { a: Int }",
     "Unknown type \"TT\". Did you mean \"TTT\", \"Tt\", or \"tt\"?"},
    {"type Query implements Nod { a: Int } interface Node { a: Int }",
     "Unknown type \"Nod\". Did you mean \"Node\" or \"ID\"?"},
    {"type Query { a: Int } union U = Quer",
     "Unknown type \"Quer\". Did you mean \"Query\"?"},
    {"schema { query: Qery } type Query { a: Int }",
     "Unknown type \"Qery\". Did you mean \"Query\"?"},
    {"type Query { a: Int @nope }",
     "Unknown directive \"@nope\"."},
    {"type Query @deprecated { a: Int }",
     "Directive \"@deprecated\" may not be used on OBJECT."},
    {"type Query { a: Int @skip(if: true) }",
     "Directive \"@skip\" may not be used on FIELD_DEFINITION."},
    {"type Query { a: Int @deprecated(reason: \"x\", reason: \"y\") }",
     "There can be only one argument named \"reason\"."},
    {"type Query { a: Int @deprecated(reasn: \"x\") }",
     "Unknown argument \"reasn\" on directive \"@deprecated\". Did you mean \"reason\"?"},
    {"type Query { a: Int @deprecated @deprecated }",
     "The directive \"@deprecated\" can only be used once at this location."},
    {"type Query @key { a: Int } extend type Query @key directive @key on OBJECT",
     "The directive \"@key\" can only be used once at this location."},
    {"scalar D @specifiedBy type Query { a: Int }",
     "Directive \"@specifiedBy\" argument \"url\" of type \"String!\" is required, but it was not provided."},
    {"type Query { a(x: In = {a: 1, a: 2}): Int } input In { a: Int }",
     "There can be only one input field named \"a\"."},
    {"type Query { a: Int } directive @d(x: In @d2(v: {b: [{c: 1, c: 2}]})) on FIELD input In { a: Int } directive @d2(v: In) on ARGUMENT_DEFINITION",
     "There can be only one input field named \"c\"."},
    {"type Query { a: Int } input In { a: Int @specifiedBy(url: \"u\") }",
     "Directive \"@specifiedBy\" may not be used on INPUT_FIELD_DEFINITION."},
    {"type Query { a: Int } enum E { A @d } directive @d on ENUM",
     "Directive \"@d\" may not be used on ENUM_VALUE."},
    {"schema @d { query: Query } extend schema @d directive @d on SCHEMA type Query { a: Int }",
     "The directive \"@d\" can only be used once at this location."},
    {"type Query { a(x: Int @d): Int } directive @d on FIELD_DEFINITION",
     "Directive \"@d\" may not be used on ARGUMENT_DEFINITION."},
    {"type Query { a: Int } input I { x: Int @d } directive @d on ARGUMENT_DEFINITION",
     "Directive \"@d\" may not be used on INPUT_FIELD_DEFINITION."},
    {"type Query { a: Int } directive @d(x: Int @d) on FIELD",
     "Directive \"@d\" may not be used on ARGUMENT_DEFINITION."},
    {"type Query { a: Int } directive @d(x: Int!) on OBJECT type T @d { a: Int }",
     "Directive \"@d\" argument \"x\" of type \"Int!\" is required, but it was not provided."},
    {"type Query { a: Int } directive @d(x: Int! = 1, y: [Int]!) on OBJECT type T @d(x: 2) { a: Int }",
     "Directive \"@d\" argument \"y\" of type \"[Int]!\" is required, but it was not provided."},
    {"type Query { a: Int } scalar JSON @specifiedBy(url: \"https://json.org\") extend scalar JSON @specifiedBy(url: \"x\")",
     "The directive \"@specifiedBy\" can only be used once at this location."},
    {"type Query { __typename: String }",
     "Name \"__typename\" must not begin with \"__\", which is reserved by GraphQL introspection."},
    {"type Query{a:String} extend scalar String @specifiedBy(url: \"x\")",
     "Cannot extend type \"String\" because it is not defined."},
    {"type Query{a:Int} extend type __Schema { x: Int }",
     "Cannot extend type \"__Schema\" because it is not defined."},
    {"type Query{a:String} scalar String @nope",
     "Unknown directive \"@nope\"."},
    {"type Query{a:String} scalar String scalar String",
     "There can be only one type named \"String\"."},
    {"type Query{a:String} scalar String @specifiedBy(url: \"x\") extend scalar String @specifiedBy(url: \"y\")",
     "The directive \"@specifiedBy\" can only be used once at this location."},
    {"type Query{a:String} extend scalar Strin @d",
     "Cannot extend type \"Strin\" because it is not defined."},
};

static void errors_match_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gql_error_t err;
        gql_schema_t *s = build1(cases[i].sdl, &err);
        if (s)
            fail_msg("case %zu %s: built, expected %s", i, cases[i].sdl, cases[i].message);
        char want[600];
        if (err.loc.line)
            snprintf(want, sizeof(want), "s.graphql:%u:%u: %s", err.loc.line,
                     err.loc.column, cases[i].message);
        else
            snprintf(want, sizeof(want), "s.graphql: %s", cases[i].message);
        if (strcmp(err.message, want) != 0)
            fail_msg("case %zu %s:\n got  %s\n want %s", i, cases[i].sdl, err.message, want);
    }
}

/* SDL that graphql-js 16.15 builds and validates without an error. */
static const char *const valid[] = {
    "type Query implements I { a(y: Int! = 1): Int!, b: [B!]! } interface I { a: Int, b: [A] } interface A { x: Int } type B implements A { x: Int }",
    "type Query { a: Int } input I { b: [I!]! c: I }",
    "scalar String type Query { a: String }",
    "directive @skip(if: Boolean!) on FIELD type Query { a: Int }",
    "type Query @key { a: Int } extend type Query @key directive @key repeatable on OBJECT",
    "type Query { a: Int } enum E { A @d } directive @d on ENUM_VALUE",
    "type Query { a(x: Int = 1, y: [String!] = [\"a\"], z: In = {a: 1, b: {a: 2}}): Int } input In { a: Int b: In }",
    "type Query { node(id: ID!): Node } interface Node { id: ID! } interface Entity implements Node { id: ID! name: String } type User implements Entity & Node { id: ID! name: String friends(first: Int): [User!]! }",
    "schema { query: Q subscription: S } type Q { a: Int } type S { tick: Int! }",
    "type Query { a: Int @deprecated(reason: null) }",
    "\"\"\"doc\"\"\" type Query { \"f\" a(\"arg\" x: Int): Int } extend type Query { b: Int }",
    "type Query { a: E } enum E { A B @deprecated(reason: \"no\") } extend enum E { C }",
    "type Query { u: U } union U = A | B type A { a: Int } type B { b: Int } extend union U = C type C { c: Int }",
    "type Query { a(i: I): Int } input I @oneOf { a: Int b: String }",
    "directive @auth(role: Role = USER) repeatable on OBJECT | FIELD_DEFINITION enum Role { USER ADMIN } type Query @auth @auth(role: ADMIN) { a: Int @auth }",
    "type Query{a:String} scalar String extend scalar String @specifiedBy(url: \"x\")",
    "type Query{a:String} scalar String @specifiedBy(url: \"x\")",
};

static void valid_schemas_build(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        gql_error_t err;
        gql_schema_t *s = build1(valid[i], &err);
        if (!s)
            fail_msg("case %zu %s: %s", i, valid[i], err.message);
        gql_schema_free(s);
    }
}

static void executable_definitions_are_rejected(void **state)
{
    (void)state;
    gql_error_t err;
    assert_null(build1("type Query { a: Int }\nquery { a }", &err));
    assert_string_equal(err.message,
                        "s.graphql:2:1: Operation definitions are not allowed in a schema.");
    assert_null(build1("type Query { a: Int } fragment F on Query { a }", &err));
    assert_string_equal(err.message,
                        "s.graphql:1:23: Fragment definitions are not allowed in a schema.");
}

static void errors_name_the_source_and_position(void **state)
{
    (void)state;
    gql_source_t srcs[] = {
        {"a.graphql", "type Query {\n  p: Product\n}\n", 0},
        {"shop.graphql", "type Product {\n  id: ID\n  x: [Prodct!]\n}\n", 0},
    };
    for (size_t i = 0; i < 2; i++)
        srcs[i].len = strlen(srcs[i].text);
    gql_error_t err;
    assert_null(gql_schema_build(srcs, 2, NULL, &err));
    assert_string_equal(err.message,
                        "shop.graphql:3:7: Unknown type \"Prodct\". Did you mean \"Product\"?");
    assert_int_equal(err.loc.line, 3);
    assert_int_equal(err.loc.column, 7);
    /* a syntax error keeps graphql-js's message behind the position */
    srcs[1].text = "type Product {\n  id: ID\n";
    srcs[1].len = strlen(srcs[1].text);
    assert_null(gql_schema_build(srcs, 2, NULL, &err));
    assert_string_equal(err.message,
                        "shop.graphql:3:1: Syntax Error: Expected Name, found <EOF>.");
    /* a source's limits apply */
    gql_limits_t lim = {.max_tokens = 3};
    assert_null(gql_schema_build(srcs, 1, &lim, &err));
    assert_string_equal(err.message,
                        "a.graphql:2:3: Syntax Error: Document exceeds the token limit (3).");
}

static void types_and_members_are_found(void **state)
{
    (void)state;
    gql_schema_t *s = must_build(
        "\"\"\"The shop\"\"\" schema { query: Shop mutation: Edit }\n"
        "\"Root\" type Shop { products(first: Int = 10, after: String): [Product!]! "
        "old: Int @deprecated new: Int @deprecated(reason: \"use x\") "
        "nulled: Int @deprecated(reason: null) }\n"
        "type Edit { add(in: ProductInput!): Product }\n"
        "type Product { id: ID! kind: Kind }\n"
        "enum Kind { BOOK \"d\" FOOD @deprecated }\n"
        "input ProductInput { name: String! tags: [String!] = [] old: Int @deprecated(reason: \"r\") }\n"
        "scalar Date @specifiedBy(url: \"https://example.com/date\")\n"
        "type Query { unused: Int }\n");
    assert_string_equal(gql_schema_description(s), "The shop");
    const gql_stype_t *shop = gql_schema_root(s, GQL_OP_QUERY);
    assert_non_null(shop);
    /* a schema definition names the roots: the type Query is not one */
    assert_string_equal(shop->name, "Shop");
    assert_string_equal(shop->description, "Root");
    assert_string_equal(gql_schema_root(s, GQL_OP_MUTATION)->name, "Edit");
    assert_null(gql_schema_root(s, GQL_OP_SUBSCRIPTION));
    assert_null(gql_schema_root(s, (gql_op_kind_t)7));

    const gql_sfield_t *f = gql_stype_field(shop, "products");
    assert_non_null(f);
    assert_int_equal(f->n_args, 2);
    assert_string_equal(f->args[0].name, "first");
    assert_string_equal(f->args[0].default_value->text, "10");
    assert_null(f->args[1].default_value);
    assert_int_equal(f->type->kind, GQL_T_NON_NULL);
    assert_string_equal(gql_schema_named(s, f->type)->name, "Product");
    assert_null(f->deprecation);
    assert_string_equal(gql_stype_field(shop, "old")->deprecation, "No longer supported");
    assert_string_equal(gql_stype_field(shop, "new")->deprecation, "use x");
    assert_null(gql_stype_field(shop, "nulled")->deprecation); /* as graphql-js */
    assert_null(gql_stype_field(shop, "nope"));
    assert_null(gql_stype_field(shop, "__typename"));

    const gql_stype_t *kind = gql_schema_type(s, "Kind");
    assert_int_equal(kind->kind, GQL_K_ENUM);
    assert_int_equal(kind->n_values, 2);
    assert_string_equal(kind->values[1].description, "d");
    assert_string_equal(kind->values[1].deprecation, "No longer supported");
    assert_ptr_equal(gql_stype_enum_value(kind, "FOOD"), &kind->values[1]);
    assert_null(gql_stype_enum_value(kind, "food"));
    assert_null(gql_stype_field(kind, "BOOK"));

    const gql_stype_t *in = gql_schema_type(s, "ProductInput");
    assert_int_equal(in->kind, GQL_K_INPUT_OBJECT);
    assert_int_equal(in->n_input_fields, 3);
    assert_ptr_equal(gql_stype_input_field(in, "tags"), &in->input_fields[1]);
    assert_int_equal(gql_stype_input_field(in, "tags")->default_value->kind, GQL_V_LIST);
    assert_string_equal(gql_stype_input_field(in, "old")->deprecation, "r");
    assert_null(gql_stype_input_field(in, "id"));
    assert_null(gql_stype_input_field(shop, "products"));
    assert_false(gql_stype_is_one_of(in));

    const gql_stype_t *date = gql_schema_type(s, "Date");
    assert_string_equal(date->specified_by, "https://example.com/date");
    assert_false(date->builtin);
    assert_null(gql_schema_type(s, "date"));
    assert_null(gql_schema_type(s, ""));
    gql_schema_free(s);
}

static void builtins_are_real_types(void **state)
{
    (void)state;
    gql_schema_t *s = must_build("type Query { a: Int }");
    static const char *const names[] = {"Int", "Float", "String", "Boolean", "ID",
                                        "__Schema", "__Type", "__Field", "__InputValue",
                                        "__EnumValue", "__Directive", "__TypeKind",
                                        "__DirectiveLocation"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const gql_stype_t *t = gql_schema_type(s, names[i]);
        if (!t)
            fail_msg("no type %s", names[i]);
        assert_true(t->builtin);
        assert_non_null(t->description);
    }
    const gql_stype_t *ty = gql_schema_type(s, "__Type");
    const gql_sfield_t *fields = gql_stype_field(ty, "fields");
    assert_non_null(fields);
    assert_string_equal(fields->args[0].name, "includeDeprecated");
    assert_string_equal(fields->args[0].default_value->text, "false");
    assert_string_equal(gql_schema_named(s, gql_stype_field(ty, "kind")->type)->name,
                        "__TypeKind");
    assert_int_equal(gql_schema_type(s, "__TypeKind")->n_values, 8);
    assert_int_equal(gql_schema_type(s, "__DirectiveLocation")->n_values, 20);

    size_t n;
    const gql_stype_t *const *all = gql_schema_types(s, &n);
    assert_int_equal(n, 14);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(all[i - 1]->name, all[i]->name) < 0);

    const gql_sdirective_t *dep = gql_schema_directive(s, "deprecated");
    assert_non_null(dep);
    assert_true(dep->builtin);
    assert_string_equal(dep->args[0].name, "reason");
    assert_string_equal(dep->args[0].default_value->text, "No longer supported");
    assert_int_equal(dep->locations, GQL_DL_FIELD_DEFINITION | GQL_DL_ARGUMENT_DEFINITION |
                                         GQL_DL_INPUT_FIELD_DEFINITION | GQL_DL_ENUM_VALUE |
                                         GQL_DL_DIRECTIVE_DEFINITION);
    /* as graphql-js lists them, whatever the bits' order */
    uint32_t order[20];
    assert_int_equal(gql_sdirective_locations(dep, order, 20), 5);
    assert_int_equal(order[0], GQL_DL_FIELD_DEFINITION);
    assert_int_equal(order[1], GQL_DL_ARGUMENT_DEFINITION);
    assert_int_equal(order[2], GQL_DL_INPUT_FIELD_DEFINITION);
    assert_int_equal(order[3], GQL_DL_ENUM_VALUE);
    assert_int_equal(order[4], GQL_DL_DIRECTIVE_DEFINITION);
    assert_int_equal(gql_sdirective_locations(dep, order, 2), 2);
    const gql_sdirective_t *skip = gql_schema_directive(s, "skip");
    assert_int_equal(skip->locations,
                     GQL_DL_FIELD | GQL_DL_FRAGMENT_SPREAD | GQL_DL_INLINE_FRAGMENT);
    assert_string_equal(skip->args[0].name, "if");
    assert_non_null(gql_schema_directive(s, "include"));
    assert_string_equal(gql_schema_directive(s, "specifiedBy")->args[0].name, "url");
    assert_null(gql_schema_directive(s, "nope"));
    const gql_sdirective_t *const *dirs = gql_schema_directives(s, &n);
    assert_int_equal(n, 5); /* deprecated include oneOf skip specifiedBy */
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(dirs[i - 1]->name, dirs[i]->name) < 0);
    gql_schema_free(s);

    /* the standard scalars may be declared; they stay the built-in ones */
    s = must_build("scalar String\n\"mine\" scalar ID\ntype Query { a: String }");
    assert_true(gql_schema_type(s, "ID")->builtin);
    assert_string_not_equal(gql_schema_type(s, "ID")->description, "mine");
    gql_schema_free(s);
    /* and what the SDL says about them has no effect (graphql-js) */
    s = must_build("scalar String @specifiedBy(url: \"x\")\n"
                   "extend scalar ID @specifiedBy(url: \"y\") scalar ID\ntype Query { a: String }");
    assert_null(gql_schema_type(s, "String")->specified_by);
    assert_null(gql_schema_type(s, "ID")->specified_by);
    gql_schema_free(s);
    /* a specified directive may be redefined: the schema's wins */
    s = must_build("directive @skip(if: Boolean!, why: String) on FIELD\ntype Query { a: Int }");
    assert_false(gql_schema_directive(s, "skip")->builtin);
    assert_int_equal(gql_schema_directive(s, "skip")->n_args, 2);
    assert_int_equal(gql_schema_directive(s, "skip")->locations, GQL_DL_FIELD);
    gql_schema_free(s);
    /* a schema's own directive: its locations as written, each once */
    s = must_build("directive @d on | OBJECT | FIELD | QUERY | FIELD\ntype Query { a: Int }");
    assert_int_equal(gql_sdirective_locations(gql_schema_directive(s, "d"), order, 20), 3);
    assert_int_equal(order[0], GQL_DL_OBJECT);
    assert_int_equal(order[1], GQL_DL_FIELD);
    assert_int_equal(order[2], GQL_DL_QUERY);
    assert_int_equal(gql_schema_directive(s, "d")->locations,
                     GQL_DL_OBJECT | GQL_DL_FIELD | GQL_DL_QUERY);
    gql_schema_free(s);
}

static void extensions_merge_across_sources(void **state)
{
    (void)state;
    gql_source_t srcs[] = {
        {"ext.graphql",
         "extend type Query { b: String }\n"
         "extend enum Color { BLUE }\n"
         "extend union Thing = Bike\n"
         "extend input Filter { max: Int }\n"
         "extend interface Node implements Named { name: String }\n"
         "extend scalar When @specifiedBy(url: \"u\")\n"
         "extend schema { mutation: M }\n"
         "extend type Car implements Named { name: String }\n",
         0},
        {"base.graphql",
         "schema { query: Query }\n"
         "type Query { a: Int }\n"
         "enum Color { RED }\n"
         "union Thing = Car\n"
         "input Filter { min: Int }\n"
         "interface Named { name: String }\n"
         "interface Node { id: ID! }\n"
         "type Car implements Node { id: ID! }\n"
         "type Bike implements Node & Named { id: ID! name: String }\n"
         "scalar When\n"
         "type M { m: Int }\n",
         0},
    };
    for (size_t i = 0; i < 2; i++)
        srcs[i].len = strlen(srcs[i].text);
    gql_error_t err;
    gql_schema_t *s = gql_schema_build(srcs, 2, NULL, &err);
    if (!s)
        fail_msg("%s", err.message);
    const gql_stype_t *q = gql_schema_type(s, "Query");
    assert_int_equal(q->n_fields, 2);
    assert_string_equal(q->fields[0].name, "a"); /* the definition's first */
    assert_string_equal(q->fields[1].name, "b");
    assert_non_null(gql_stype_field(q, "b"));
    assert_int_equal(gql_schema_type(s, "Color")->n_values, 2);
    assert_non_null(gql_stype_enum_value(gql_schema_type(s, "Color"), "BLUE"));
    const gql_stype_t *thing = gql_schema_type(s, "Thing");
    assert_int_equal(thing->n_possible, 2);
    assert_string_equal(thing->possible[1]->name, "Bike");
    assert_non_null(gql_stype_input_field(gql_schema_type(s, "Filter"), "max"));
    const gql_stype_t *node = gql_schema_type(s, "Node");
    assert_int_equal(node->n_fields, 2);
    assert_int_equal(node->n_interfaces, 1);
    assert_string_equal(node->interfaces[0]->name, "Named");
    assert_string_equal(gql_schema_type(s, "When")->specified_by, "u");
    assert_string_equal(gql_schema_root(s, GQL_OP_MUTATION)->name, "M");
    const gql_stype_t *car = gql_schema_type(s, "Car");
    assert_int_equal(car->n_fields, 2);
    assert_int_equal(car->n_interfaces, 2);
    assert_string_equal(car->interfaces[1]->name, "Named");
    assert_int_equal(gql_schema_type(s, "Named")->n_possible, 2);
    gql_schema_free(s);
}

static void possible_types_of_abstract_types(void **state)
{
    (void)state;
    gql_schema_t *s = must_build(
        "type Query { n: Node u: U }\n"
        "interface Node { id: ID }\n"
        "interface Res implements Node { id: ID url: String }\n"
        "type A implements Node { id: ID }\n"
        "type B implements Res & Node { id: ID url: String }\n"
        "type C { x: Int }\n"
        "union U = | C | A\n");
    const gql_stype_t *node = gql_schema_type(s, "Node"), *res = gql_schema_type(s, "Res");
    const gql_stype_t *a = gql_schema_type(s, "A"), *b = gql_schema_type(s, "B"),
                      *c = gql_schema_type(s, "C"), *u = gql_schema_type(s, "U");
    /* the object types implementing it, in definition order */
    assert_int_equal(node->n_possible, 2);
    assert_ptr_equal(node->possible[0], a);
    assert_ptr_equal(node->possible[1], b);
    assert_int_equal(res->n_possible, 1);
    assert_ptr_equal(res->possible[0], b);
    assert_int_equal(u->n_possible, 2);
    assert_ptr_equal(u->possible[0], c);
    assert_true(gql_schema_possible(node, a));
    assert_true(gql_schema_possible(node, b));
    assert_false(gql_schema_possible(node, c));
    assert_false(gql_schema_possible(res, a));
    assert_true(gql_schema_possible(u, c));
    assert_false(gql_schema_possible(u, b));
    assert_true(gql_schema_possible(a, a));
    assert_false(gql_schema_possible(a, b));
    assert_false(gql_schema_possible(node, res)); /* an interface is not an object */
    assert_false(gql_schema_possible(NULL, a));
    gql_schema_free(s);
}

static void root_types_by_name(void **state)
{
    (void)state;
    /* as graphql-js: without a schema definition the names decide, even
     * over an "extend schema"; what the names leave open it may name */
    static const struct {
        const char *sdl, *query, *mutation;
    } roots[] = {
        {"type Query{a:Int} directive @d on SCHEMA extend schema @d", "Query", NULL},
        {"type Query{a:Int} type M {b:Int} extend schema { mutation: M }", "Query", "M"},
        {"type Query{a:Int} type M {b:Int} type Mutation {c:Int} extend schema { mutation: M }",
         "Query", "Mutation"},
        {"type Q{a:Int} extend schema { query: Q }", "Q", NULL},
        {"type Query{a:Int} type Q{a:Int} extend schema { query: Q }", "Query", NULL},
        {"schema { query: Q } type Query{a:Int} type Q{a:Int} type Mutation {c:Int}", "Q", NULL},
    };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        gql_schema_t *s = must_build(roots[i].sdl);
        assert_string_equal(gql_schema_root(s, GQL_OP_QUERY)->name, roots[i].query);
        const gql_stype_t *m = gql_schema_root(s, GQL_OP_MUTATION);
        if (roots[i].mutation)
            assert_string_equal(m->name, roots[i].mutation);
        else
            assert_null(m);
        gql_schema_free(s);
    }

    gql_schema_t *s = must_build("type Query { a: Int } type Mutation { b: Int } "
                                 "type Subscription { c: Int }");
    assert_string_equal(gql_schema_root(s, GQL_OP_QUERY)->name, "Query");
    assert_string_equal(gql_schema_root(s, GQL_OP_MUTATION)->name, "Mutation");
    assert_string_equal(gql_schema_root(s, GQL_OP_SUBSCRIPTION)->name, "Subscription");
    assert_null(gql_schema_description(s));
    gql_schema_free(s);
}

static void covariant_implementations_are_accepted(void **state)
{
    (void)state;
    /* the graphql-js rules: a field may narrow its type (non-null, a list
     * of a subtype, an object of the interface), add optional arguments */
    gql_schema_t *s = must_build(
        "type Query implements I { a(y: Int! = 1, z: Int): Int!, b: [B!]!, c: B, d: U }\n"
        "interface I { a: Int, b: [A], c: A, d: U }\n"
        "interface A { x: Int }\n"
        "type B implements A { x: Int }\n"
        "union U = B\n"
        "input I2 { self: I2, list: [I2!]! }\n");
    gql_schema_free(s);
}

static void many_types_are_fast_to_find(void **state)
{
    (void)state;
    /* 5000 types of 20 fields each; then every field looked up */
    size_t cap = 8u << 20, n = 0;
    char *sdl = malloc(cap);
    assert_non_null(sdl);
    n += (size_t)snprintf(sdl + n, cap - n, "type Query { t0: T0 }\n");
    for (int t = 0; t < 5000; t++) {
        n += (size_t)snprintf(sdl + n, cap - n, "type T%d {", t);
        for (int f = 0; f < 20; f++)
            n += (size_t)snprintf(sdl + n, cap - n, " f%d: T%d", f, (t + f) % 5000);
        n += (size_t)snprintf(sdl + n, cap - n, " }\n");
    }
    gql_source_t src = {"big.graphql", sdl, n};
    gql_limits_t lim = {.max_bytes = cap, .max_tokens = 1u << 22};
    gql_error_t err;
    gql_schema_t *s = gql_schema_build(&src, 1, &lim, &err);
    if (!s)
        fail_msg("%s", err.message);
    char name[32];
    for (int t = 0; t < 5000; t++) {
        snprintf(name, sizeof(name), "T%d", t);
        const gql_stype_t *ty = gql_schema_type(s, name);
        assert_non_null(ty);
        for (int f = 0; f < 20; f++) {
            snprintf(name, sizeof(name), "f%d", f);
            const gql_sfield_t *fd = gql_stype_field(ty, name);
            assert_non_null(fd);
            assert_ptr_equal(fd, &ty->fields[f]);
        }
    }
    size_t nt;
    gql_schema_types(s, &nt);
    assert_int_equal(nt, 5001 + 13);
    gql_schema_free(s);
    free(sdl);
}

static void wide_interfaces_and_unions(void **state)
{
    (void)state;
    /* 20,000 objects implementing one interface and members of one union */
    enum { N = 20000 };
    size_t cap = 4u << 20, n = 0;
    char *sdl = malloc(cap);
    assert_non_null(sdl);
    n += (size_t)snprintf(sdl + n, cap - n, "type Query { n: Node u: U }\n"
                                            "interface Node { id: ID }\nunion U =");
    for (int t = 0; t < N; t++)
        n += (size_t)snprintf(sdl + n, cap - n, " | O%d", t);
    n += (size_t)snprintf(sdl + n, cap - n, "\n");
    for (int t = 0; t < N; t++)
        n += (size_t)snprintf(sdl + n, cap - n, "type O%d implements Node { id: ID }\n", t);
    gql_source_t src = {"wide.graphql", sdl, n};
    gql_limits_t lim = {.max_bytes = cap, .max_tokens = 1u << 22};
    gql_error_t err;
    gql_schema_t *s = gql_schema_build(&src, 1, &lim, &err);
    if (!s)
        fail_msg("%s", err.message);
    const gql_stype_t *node = gql_schema_type(s, "Node"), *u = gql_schema_type(s, "U");
    assert_int_equal(node->n_possible, N);
    assert_int_equal(u->n_possible, N);
    assert_string_equal(node->possible[N - 1]->name, "O19999");
    assert_true(gql_schema_possible(node, gql_schema_type(s, "O777")));
    assert_true(gql_schema_possible(u, gql_schema_type(s, "O777")));
    gql_schema_free(s);
    free(sdl);
}

static void long_lists_find_their_duplicates(void **state)
{
    (void)state;
    /* past the short-list comparison: the hashed search must find the
     * first repeated name, wherever it is */
    char sdl[8192];
    size_t n;
    gql_error_t err;
    for (int where = 0; where < 3; where++) {
        n = (size_t)snprintf(sdl, sizeof(sdl), "type Query { f(");
        for (int i = 0; i < 40; i++)
            n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "a%d: Int ", i);
        /* the repeat: of the first, a middle or the last name */
        n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "a%d: Int, a%d: Int): Int }",
                              where == 0 ? 0 : where == 1 ? 17 : 39, 100);
        assert_null(build1(sdl, &err));
        char want[100];
        snprintf(want, sizeof(want), "Argument \"Query.f(a%d:)\" can only be defined once.",
                 where == 0 ? 0 : where == 1 ? 17 : 39);
        if (!strstr(err.message, want))
            fail_msg("%s", err.message);
    }
    n = (size_t)snprintf(sdl, sizeof(sdl), "type Query { f(x: In = {");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "k%d: 1 ", i);
    snprintf(sdl + n, sizeof(sdl) - n, "k29: 2 k3: 3}): Int } input In { a: Int }");
    assert_null(build1(sdl, &err));
    assert_non_null(strstr(err.message, "There can be only one input field named \"k29\"."));
    n = (size_t)snprintf(sdl, sizeof(sdl), "directive @d(");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "k%d: Int ", i);
    n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, ") on OBJECT type Query @d(");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "k%d: 1 ", 29 - i);
    snprintf(sdl + n, sizeof(sdl) - n, "k5: 1) { a: Int }");
    assert_null(build1(sdl, &err));
    assert_non_null(strstr(err.message, "There can be only one argument named \"k5\"."));
    /* 30 distinct names pass */
    n = (size_t)snprintf(sdl, sizeof(sdl), "type Query { f(");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(sdl + n, sizeof(sdl) - n, "a%d: Int ", i);
    snprintf(sdl + n, sizeof(sdl) - n, "): Int }");
    gql_schema_t *s = build1(sdl, &err);
    if (!s)
        fail_msg("%s", err.message);
    assert_int_equal(gql_stype_field(gql_schema_root(s, GQL_OP_QUERY), "f")->n_args, 30);
    gql_schema_free(s);
}

typedef struct suggest_case {
    const char *input;
    const char *options[16]; /* NULL-terminated */
    const char *want[16];    /* graphql-js suggestionList, NULL-terminated */
    const char *hint, *hint_sub; /* didYouMean(list), didYouMean("the enum value", list) */
} suggest_case_t;

/* What graphql-js 16.15's suggestionList and didYouMean answer. */
static const suggest_case_t suggestions[] = {
    {"abc", {"a", "ab", "abc", "abd", "xbc", "ABC", "bac", "abcd", "abcde", "zzz", NULL},
     {"abc", "ABC", "ab", "abcd", "abd", "bac", "xbc", "a", "abcde", NULL},
     " Did you mean \"abc\", \"ABC\", \"ab\", \"abcd\", or \"abd\"?", " Did you mean the enum value \"abc\", \"ABC\", \"ab\", \"abcd\", or \"abd\"?"},
    {"Prodct", {"Product", "Produce", "Products", "product", "Prod", "Pro", NULL},
     {"Product", "product", "Prod", "Produce", "Products", "Pro", NULL},
     " Did you mean \"Product\", \"product\", \"Prod\", \"Produce\", or \"Products\"?", " Did you mean the enum value \"Product\", \"product\", \"Prod\", \"Produce\", or \"Products\"?"},
    {"t", {"T1", "t2", "t10", "t", "tt", "ttt", NULL},
     {"t", "T1", "t2", "tt", NULL},
     " Did you mean \"t\", \"T1\", \"t2\", or \"tt\"?", " Did you mean the enum value \"t\", \"T1\", \"t2\", or \"tt\"?"},
    {"a1", {"a10", "a2", "a1b", "A1", "a01", "a001", NULL},
     {"A1", "a01", "a1b", "a2", "a10", NULL},
     " Did you mean \"A1\", \"a01\", \"a1b\", \"a2\", or \"a10\"?", " Did you mean the enum value \"A1\", \"a01\", \"a1b\", \"a2\", or \"a10\"?"},
    {"", {"a", "", NULL},
     {"", "a", NULL},
     " Did you mean \"\" or \"a\"?", " Did you mean the enum value \"\" or \"a\"?"},
    {"longername", {"longernames", "longername2", "shortname", "l", NULL},
     {"longername2", "longernames", NULL},
     " Did you mean \"longername2\" or \"longernames\"?", " Did you mean the enum value \"longername2\" or \"longernames\"?"},
    {"x", {NULL},
     {NULL},
     "", ""},
    {"node", {"Node", "NODE", "nodes", "nod", "no", "mode", "code", "nope", "none", NULL},
     {"NODE", "Node", "code", "mode", "nod", "nodes", "none", "nope", "no", NULL},
     " Did you mean \"NODE\", \"Node\", \"code\", \"mode\", or \"nod\"?", " Did you mean the enum value \"NODE\", \"Node\", \"code\", \"mode\", or \"nod\"?"},
    {"id", {"id", "id", "ID", NULL},
     {"id", "ID", NULL},
     " Did you mean \"id\" or \"ID\"?", " Did you mean the enum value \"id\" or \"ID\"?"},
};

static void suggestions_match_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(suggestions) / sizeof(suggestions[0]); i++) {
        const suggest_case_t *c = &suggestions[i];
        size_t n = 0, w = 0;
        while (c->options[n])
            n++;
        while (c->want[w])
            w++;
        const char *got[16];
        size_t k = gql_suggest(c->input, c->options, n, got, 16);
        assert_int_equal(k, w);
        for (size_t j = 0; j < k; j++)
            assert_string_equal(got[j], c->want[j]);
        char hint[300] = "", hint_sub[300] = "";
        gql_did_you_mean(hint, sizeof(hint), NULL, got, k);
        gql_did_you_mean(hint_sub, sizeof(hint_sub), "the enum value", got, k);
        assert_string_equal(hint, c->hint);
        assert_string_equal(hint_sub, c->hint_sub);
        /* max cuts the list */
        if (k > 2)
            assert_int_equal(gql_suggest(c->input, c->options, n, got, 2), 2);
    }
    assert_true(gql_natural_compare("a2", "a10") < 0);
    assert_true(gql_natural_compare("a10", "a2") > 0);
    assert_true(gql_natural_compare("a01", "a1") < 0);
    assert_int_equal(gql_natural_compare("x", "x"), 0);
    /* a hint appends to what the buffer holds, and stays in its bounds */
    char small[20] = "Unknown.";
    const char *names[] = {"aaaaaaaa", "bbbbbbbb"};
    gql_did_you_mean(small, sizeof(small), NULL, names, 2);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "Unknown. Did you me", 19);
}

/* Schemas are built on several threads at once (run first in this
 * program, so that the shared built-in SDL is parsed while they race),
 * and a built schema is read by many threads at once. */
static const gql_schema_t *shared_schema;
static pthread_barrier_t built, shared_ready;

static void *reader(void *arg)
{
    long bad = 0;
    gql_error_t err;
    gql_schema_t *own = build1("type Query { mine: Int } interface I { a: Int } "
                               "type T implements I { a: Int }", &err);
    if (!own || !gql_schema_type(own, "__Schema") || !gql_schema_directive(own, "skip"))
        bad++;
    gql_schema_free(own);
    pthread_barrier_wait(&built);
    pthread_barrier_wait(&shared_ready);
    for (int i = 0; i < 20000; i++) {
        const gql_stype_t *q = gql_schema_root(shared_schema, GQL_OP_QUERY);
        const gql_stype_t *t = gql_schema_type(shared_schema, i % 2 ? "A" : "B");
        if (!q || !t || !gql_stype_field(q, "n") || !gql_stype_field(t, "id") ||
            !gql_schema_possible(gql_schema_type(shared_schema, "Node"), t))
            bad++;
    }
    (void)arg;
    return (void *)bad;
}

static void threads_build_and_read_at_once(void **state)
{
    (void)state;
    enum { N = 4 };
    assert_int_equal(pthread_barrier_init(&built, NULL, N + 1), 0);
    assert_int_equal(pthread_barrier_init(&shared_ready, NULL, N + 1), 0);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
    pthread_barrier_wait(&built);
    gql_schema_t *s = must_build("type Query { n: Node } interface Node { id: ID } "
                                 "type A implements Node { id: ID } "
                                 "type B implements Node { id: ID }");
    shared_schema = s;
    pthread_barrier_wait(&shared_ready);
    for (int i = 0; i < N; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_null(bad);
    }
    gql_schema_free(s);
    pthread_barrier_destroy(&built);
    pthread_barrier_destroy(&shared_ready);
}

static void type_references_print_as_written(void **state)
{
    (void)state;
    gql_error_t err;
    /* the deepest reference the parser allows: 1000 lists, each non-null */
    size_t n = 0, cap = 16384;
    char *sdl = malloc(cap);
    assert_non_null(sdl);
    n += (size_t)snprintf(sdl + n, cap - n, "type Query { a(x: ");
    for (int i = 0; i < 999; i++)
        n += (size_t)snprintf(sdl + n, cap - n, "[");
    n += (size_t)snprintf(sdl + n, cap - n, "Int!");
    for (int i = 0; i < 999; i++)
        n += (size_t)snprintf(sdl + n, cap - n, "]!");
    n += (size_t)snprintf(sdl + n, cap - n, "): Int }");
    gql_source_t src = {"deep.graphql", sdl, n};
    gql_limits_t lim = {.max_depth = 1000};
    gql_schema_t *s = gql_schema_build(&src, 1, &lim, &err);
    if (!s)
        fail_msg("%s", err.message);
    const gql_sfield_t *f = gql_stype_field(gql_schema_root(s, GQL_OP_QUERY), "a");
    char *buf = malloc(cap);
    assert_non_null(buf);
    buf[0] = '\0';
    gql_type_ref_str(f->args[0].type, buf, cap);
    const char *start = strstr(sdl, "x: ") + 3;
    assert_int_equal(strlen(buf), strlen(start) - strlen("): Int }"));
    assert_memory_equal(buf, start, strlen(buf));
    /* a small buffer gets the beginning, NUL-terminated */
    char small[8] = "";
    gql_type_ref_str(f->args[0].type, small, sizeof(small));
    assert_string_equal(small, "[[[[[[[");
    free(buf);
    free(sdl);
    gql_schema_free(s);
}

/* graphql-js 16 does not check a schema's default values: one its
 * valueFromAST cannot read is left out, as if none were written. The
 * third column is whether graphql-js 16.15 keeps it. */
static const struct {
    const char *type, *literal;
    int kept;
} defaults[] = {
    {"Int", "1", 1},
    {"Int", "-2147483648", 1},
    {"Int", "2147483648", 0},
    {"Int", "1.5", 0},
    {"Int", "\"1\"", 0},
    {"Int", "null", 1},
    {"Int!", "null", 0},
    {"Float", "1", 1},
    {"Float", "1.5e3", 1},
    {"Float", "\"x\"", 0},
    {"String", "\"s\"", 1},
    {"String", "\"\"\"b\"\"\"", 1},
    {"String", "1", 0},
    {"Boolean", "true", 1},
    {"Boolean", "0", 0},
    {"ID", "\"x\"", 1},
    {"ID", "7", 1},
    {"ID", "7.5", 0},
    {"E", "A", 1},
    {"E", "C", 0},
    {"E", "\"A\"", 0},
    {"S", "{a: [1, \"x\"]}", 1},
    {"S", "ENUMISH", 1},
    {"[Int]", "[1, 2]", 1},
    {"[Int]", "1", 1},
    {"[Int]", "[1, \"x\"]", 0},
    {"[Int!]", "[1, null]", 0},
    {"[Int]", "[1, null]", 1},
    {"[[Int]]", "[[1], 2]", 1},
    {"In", "{r: 1}", 1},
    {"In", "{o: \"x\"}", 0},
    {"In", "{r: 1, zz: 2}", 1},
    {"In", "{r: null}", 0},
    {"In", "[{r: 1}]", 0},
    {"[In]", "{r: 1}", 1},
    {"One", "{a: 1}", 1},
    {"One", "{a: 1, b: \"x\"}", 0},
    {"One", "{a: null}", 0},
    {"One", "{}", 0},
    {"Deep", "{n: [{r: 1}, {r: 2, d: 3}]}", 1},
    {"Deep", "{n: [{r: 1}, {o: \"x\"}]}", 0},
    {"Deep", "{e: C}", 0},
    {"In!", "{r: 2}", 1},
};

static void unreadable_defaults_are_left_out(void **state)
{
    (void)state;
    gql_error_t err;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        char sdl[600];
        snprintf(sdl, sizeof(sdl),
                 "enum E { A B } scalar S input In { r: Int! o: String d: Int = 5 } "
                 "input One @oneOf { a: Int b: String } input Deep { n: [In!] e: E = B } "
                 "type Query { a(x: %s = %s): Int }",
                 defaults[i].type, defaults[i].literal);
        gql_schema_t *s = build1(sdl, &err);
        if (!s)
            fail_msg("%s = %s: %s", defaults[i].type, defaults[i].literal, err.message);
        const gql_sarg_t *x = &gql_stype_field(gql_schema_root(s, GQL_OP_QUERY), "a")->args[0];
        if ((x->default_value != NULL) != defaults[i].kept)
            fail_msg("%s = %s: default %s, graphql-js %s", defaults[i].type,
                     defaults[i].literal, x->default_value ? "kept" : "left out",
                     defaults[i].kept ? "keeps it" : "leaves it out");
        gql_schema_free(s);
    }
    /* defaults leading to defaults: 40 levels of two each are judged
     * once each, not 2^40 times */
    char *sdl = malloc(1 << 16);
    assert_non_null(sdl);
    size_t n = (size_t)snprintf(sdl, 1 << 16, "type Query { a(x: L0 = {}): Int }\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(sdl + n, (1 << 16) - n, "input L%d { a: L%d = {} b: L%d = {} }\n",
                              i, i + 1, i + 1);
    snprintf(sdl + n, (1 << 16) - n, "input L40 { z: Int = \"bad\" }\n");
    gql_schema_t *deep = build1(sdl, &err);
    if (!deep)
        fail_msg("%s", err.message);
    assert_non_null(gql_stype_field(gql_schema_root(deep, GQL_OP_QUERY), "a")->args[0].default_value);
    assert_null(gql_schema_type(deep, "L40")->input_fields[0].default_value);
    gql_schema_free(deep);
    /* a default that needs itself is not read */
    deep = build1("type Query { a(x: C = {}): Int } input C { c: C = {} }", &err);
    if (!deep)
        fail_msg("%s", err.message);
    gql_schema_free(deep);
    free(sdl);
    /* a required argument whose default is left out is required (and
     * then may not be deprecated, as graphql-js says) */
    assert_null(build1("type Query { a(x: Int! = \"no\" @deprecated): Int }", &err));
    assert_non_null(strstr(err.message, "Required argument Query.a(x:) cannot be deprecated."));
}

static void bad_arguments_are_refused(void **state)
{
    (void)state;
    gql_error_t err;
    assert_null(gql_schema_build(NULL, 0, NULL, &err));
    assert_string_equal(err.message, "Query root type must be provided.");
    gql_source_t empty = {NULL, "", 0};
    assert_null(gql_schema_build(&empty, 1, NULL, &err));
    assert_string_equal(err.message, "schema:1:1: Syntax Error: Unexpected <EOF>.");
    gql_schema_free(NULL);
    assert_null(gql_schema_type(NULL, "Int"));
    size_t n = 3;
    assert_null(gql_schema_types(NULL, &n));
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_build_and_read_at_once), /* first: see there */
        cmocka_unit_test(errors_match_graphql_js),
        cmocka_unit_test(valid_schemas_build),
        cmocka_unit_test(executable_definitions_are_rejected),
        cmocka_unit_test(errors_name_the_source_and_position),
        cmocka_unit_test(types_and_members_are_found),
        cmocka_unit_test(builtins_are_real_types),
        cmocka_unit_test(extensions_merge_across_sources),
        cmocka_unit_test(possible_types_of_abstract_types),
        cmocka_unit_test(root_types_by_name),
        cmocka_unit_test(covariant_implementations_are_accepted),
        cmocka_unit_test(many_types_are_fast_to_find),
        cmocka_unit_test(wide_interfaces_and_unions),
        cmocka_unit_test(long_lists_find_their_duplicates),
        cmocka_unit_test(suggestions_match_graphql_js),
        cmocka_unit_test(type_references_print_as_written),
        cmocka_unit_test(unreadable_defaults_are_left_out),
        cmocka_unit_test(bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
