/*
 * The GraphQL lexer and parser (plugins/graphql/gql/gql_lex.c, gql_parse.c):
 * every construct of the grammar, the values tokens decode to (escapes,
 * block strings), graphql-js 16's messages and positions for malformed
 * input (the table below is what graphql-js 16.15 answers for the same
 * text), and the limits on size, tokens and depth against hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gql.h"
#include "gql_internal.h"

typedef struct parse_case {
    const char *src;
    const char *message; /* NULL: parses */
    unsigned line, column;
} parse_case_t;

/* graphql-js 16.15 parse() of each text: its message and first location. */
static const parse_case_t cases[] = {
    {"{",
     "Syntax Error: Expected Name, found <EOF>.", 1, 2},
    {"{ a",
     "Syntax Error: Expected Name, found <EOF>.", 1, 4},
    {"{}",
     "Syntax Error: Expected Name, found \"}\".", 1, 2},
    {"query { a(x: ) }",
     "Syntax Error: Unexpected \")\".", 1, 14},
    {"\"\"\"x",
     "Syntax Error: Unterminated string.", 1, 5},
    {"\"abc",
     "Syntax Error: Unterminated string.", 1, 5},
    {"\"a\\qb\"",
     "Syntax Error: Invalid character escape sequence: \"\\q\".", 1, 3},
    {"\"\\u12G4\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u12G4\".", 1, 2},
    {"\"\\uD800\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\uD800\".", 1, 2},
    {"\"\\uD83D\\uDE00\"",
     "Syntax Error: Unexpected <EOF>.", 1, 15},
    {"\"\\u{1F600}\"",
     "Syntax Error: Unexpected <EOF>.", 1, 12},
    {"\"\\u{}\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{}\".", 1, 2},
    {"\"\\u{110000}\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\".", 1, 2},
    {"{ a(x: 01) }",
     "Syntax Error: Invalid number, unexpected digit after 0: \"1\".", 1, 9},
    {"{ a(x: 1.) }",
     "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 10},
    {"{ a(x: 1e) }",
     "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 10},
    {"{ a(x: 1.2.3) }",
     "Syntax Error: Invalid number, expected digit but got: \".\".", 1, 11},
    {"{ a(x: 12abc) }",
     "Syntax Error: Invalid number, expected digit but got: \"a\".", 1, 10},
    {"{ a(x: -) }",
     "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 9},
    {"{ a(x: 0x1) }",
     "Syntax Error: Invalid number, expected digit but got: \"x\".", 1, 9},
    {"?",
     "Syntax Error: Unexpected character: \"?\".", 1, 1},
    {"{ a }?",
     "Syntax Error: Unexpected character: \"?\".", 1, 6},
    {"\x01",
     "Syntax Error: Unexpected character: U+0001.", 1, 1},
    {"'a'",
     "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?", 1, 1},
    {"{ ..on }",
     "Syntax Error: Unexpected character: \".\".", 1, 3},
    {"fragment on on T { a }",
     "Syntax Error: Unexpected Name \"on\".", 1, 10},
    {"fragment F T { a }",
     "Syntax Error: Expected \"on\", found Name \"T\".", 1, 12},
    {"\"desc\" query { a }", NULL, 0, 0},
    {"extend foo",
     "Syntax Error: Unexpected Name \"foo\".", 1, 8},
    {"extend type T",
     "Syntax Error: Unexpected <EOF>.", 1, 14},
    {"extend scalar S",
     "Syntax Error: Unexpected <EOF>.", 1, 16},
    {"extend schema",
     "Syntax Error: Unexpected <EOF>.", 1, 14},
    {"enum E { true }",
     "Syntax Error: Name \"true\" is reserved and cannot be used for an enum value.", 1, 10},
    {"directive @d on FOO",
     "Syntax Error: Unexpected Name \"FOO\".", 1, 17},
    {"query Q($a: Int = $b) { a }",
     "Syntax Error: Unexpected variable \"$b\" in constant value.", 1, 19},
    {"{ a(x: $) }",
     "Syntax Error: Expected Name, found \")\".", 1, 9},
    {"{ a }}",
     "Syntax Error: Unexpected \"}\".", 1, 6},
    {"query { ... }",
     "Syntax Error: Expected \"{\", found \"}\".", 1, 13},
    {".",
     "Syntax Error: Unexpected character: \".\".", 1, 1},
    {"..",
     "Syntax Error: Unexpected character: \".\".", 1, 1},
    {"{ a(x: \"\"\"a\"\"\") }", NULL, 0, 0},
    {"type T { a: [Int }",
     "Syntax Error: Expected \"]\", found \"}\".", 1, 18},
    {"schema { foo: Q }",
     "Syntax Error: Unexpected Name \"foo\".", 1, 10},
    {"{ a(x: {a 1}) }",
     "Syntax Error: Expected \":\", found Int \"1\".", 1, 11},
    {"{ \xf0\x9f\x98\x80 }",
     "Syntax Error: Unexpected character: U+1F600.", 1, 3},
    {"  \xf0\x9f\x98\x80x ?",
     "Syntax Error: Unexpected character: U+1F600.", 1, 3},
    {"{ a(x:\"\xc3\xa9\x01\") } ?",
     "Syntax Error: Unexpected character: \"?\".", 1, 15},
    {"union U = | A | B", NULL, 0, 0},
    {"type T implements & A & B { a: Int }", NULL, 0, 0},
    {"interface I implements J & K { a: Int }", NULL, 0, 0},
    {"input I { a: Int = 1 @d }", NULL, 0, 0},
    {"directive @d(a: Int) repeatable on | FIELD | QUERY", NULL, 0, 0},
    {"query Q($v: [Int!]! = [1] @d) @x { a }", NULL, 0, 0},
    {"subscription S { a }", NULL, 0, 0},
    {"mutation { a }", NULL, 0, 0},
    {"{ a: b: c }",
     "Syntax Error: Expected Name, found \":\".", 1, 7},
    {"{ a(b: c, b: d) @x(y: [1, {z: $v}]) }", NULL, 0, 0},
    {"extend type T @d", NULL, 0, 0},
    {"extend union U = A", NULL, 0, 0},
    {"extend enum E { A }", NULL, 0, 0},
    {"extend input I { a: Int }", NULL, 0, 0},
    {"extend interface I implements J", NULL, 0, 0},
    {"extend schema @d", NULL, 0, 0},
    {"extend schema { query: Q }", NULL, 0, 0},
    {"scalar S @specifiedBy(url: \"x\")", NULL, 0, 0},
    {"\"\"\"  a\n    b\n  c\n\n\"\"\" type T { a: Int }", NULL, 0, 0},
    {"{ a(x: \"\"\"\n\n    hello\n      world\n\n  \"\"\") }", NULL, 0, 0},
    {"{ a(x: \"\"\"\\\"\"\" \"\"\") }", NULL, 0, 0},
    {"# comment\n{ a }", NULL, 0, 0},
    {"\xef\xbb\xbf{ a }", NULL, 0, 0},
    {"{ a(x: null, y: true, z: false, e: ENUM) }", NULL, 0, 0},
    {"\"a\" \"b\"",
     "Syntax Error: Unexpected String \"b\".", 1, 5},
    {"query query { a }", NULL, 0, 0},
    {"{ a(x: 1.5e-3, y: -0, z: 0.0) }", NULL, 0, 0},
    {"{ a(x: 00) }",
     "Syntax Error: Invalid number, unexpected digit after 0: \"0\".", 1, 9},
    {"{ a(x: -01) }",
     "Syntax Error: Invalid number, unexpected digit after 0: \"1\".", 1, 10},
    {"{ a(x: 1E+5) }", NULL, 0, 0},
    {"\"d\" { a }",
     "Syntax Error: Unexpected description, descriptions are not supported on shorthand queries.", 1, 1},
    {"\"d\" extend type T @a",
     "Syntax Error: Unexpected description, only GraphQL definitions support descriptions.", 1, 1},
    {"\"d\" fragment F on T { a }", NULL, 0, 0},
    {"query ($a: Int, \"x\" $b: Int) { a }", NULL, 0, 0},
    {"{ a\r\n b(x: ?) }",
     "Syntax Error: Unexpected character: \"?\".", 2, 7},
    {"{\r a\r\r  ?}",
     "Syntax Error: Unexpected character: \"?\".", 4, 3},
    {"{\n  a(x: \"\"\"\n  \n  \"\"\") \xc3\xa9\xf0\x9f\x98\x80 ?",
     "Syntax Error: Unexpected character: U+00E9.", 4, 8},
    {"\"\"\"\n\xf0\x9f\x98\x80\n  \"\"\" ?",
     "Syntax Error: Unexpected character: \"?\".", 3, 7},
    {"\"\\u{1F600\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{1F600\"\".", 1, 2},
    {"\"\\u{12345678}\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{12345678}\".", 1, 2},
    {"\"\\uD83Dx\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\".", 1, 2},
    {"\"\\uDE00\"",
     "Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\".", 1, 2},
    {"{ a(x: \"\\u00\") }",
     "Syntax Error: Invalid Unicode escape sequence: \"\\u00\")\".", 1, 9},
    {"{ a(x: \"\\\n\") }",
     "Syntax Error: Invalid character escape sequence: \"\\\n\".", 1, 9},
    {"{ a(x: \"\\",
     "Syntax Error: Invalid character escape sequence: \"\\\".", 1, 9},
    {"{ a(x: 1.e1) }",
     "Syntax Error: Invalid number, expected digit but got: \"e\".", 1, 10},
    {"{ a(x: .5) }",
     "Syntax Error: Unexpected character: \".\".", 1, 8},
    {"{ a(x: -.5) }",
     "Syntax Error: Invalid number, expected digit but got: \".\".", 1, 9},
    {"{ a(x: 1e1e1) }",
     "Syntax Error: Invalid number, expected digit but got: \"e\".", 1, 11},
    {"{ a(x: 1_000) }",
     "Syntax Error: Invalid number, expected digit but got: \"_\".", 1, 9},
    {"{ a(x: \"\xf0\x9f\x98\x80\") b ? }",
     "Syntax Error: Unexpected character: \"?\".", 1, 16},
    {"query Q on { a }",
     "Syntax Error: Expected \"{\", found Name \"on\".", 1, 9},
    {"{ ... on T { a } ... F @d ... @d { b } ... { c } }", NULL, 0, 0},
    {"type T { f(a: Int = $x): Int }",
     "Syntax Error: Unexpected variable \"$x\" in constant value.", 1, 21},
    {"{ f(a: [1, 2, {b: [$x]}]) }", NULL, 0, 0},
    {"schema @d { query: Q mutation: M subscription: S }", NULL, 0, 0},
    {"schema { }",
     "Syntax Error: Expected Name, found \"}\".", 1, 10},
    {"type T {}",
     "Syntax Error: Expected Name, found \"}\".", 1, 9},
    {"enum E {}",
     "Syntax Error: Expected Name, found \"}\".", 1, 9},
    {"input I {}",
     "Syntax Error: Expected Name, found \"}\".", 1, 10},
    {"union U =",
     "Syntax Error: Expected Name, found <EOF>.", 1, 10},
    {"union U = |",
     "Syntax Error: Expected Name, found <EOF>.", 1, 12},
    {"type T implements { a: Int }",
     "Syntax Error: Expected Name, found \"{\".", 1, 19},
    {"type T implements A & { a: Int }",
     "Syntax Error: Expected Name, found \"{\".", 1, 23},
    {"directive @d on",
     "Syntax Error: Expected Name, found <EOF>.", 1, 16},
    {"directive @d repeatable FIELD",
     "Syntax Error: Expected \"on\", found Name \"FIELD\".", 1, 25},
    {"{ a @ }",
     "Syntax Error: Expected Name, found \"}\".", 1, 7},
    {"{ a(b: c d: e) }", NULL, 0, 0},
    {"query ($a) { a }",
     "Syntax Error: Expected \":\", found \")\".", 1, 10},
    {"query ($a: ) { a }",
     "Syntax Error: Expected Name, found \")\".", 1, 12},
    {"query ($a: Int!!) { a }",
     "Syntax Error: Expected \"$\", found \"!\".", 1, 16},
    {"query ($a: [Int]!) { a }", NULL, 0, 0},
    {"mutation M @d { a }", NULL, 0, 0},
    {"{ alias: field(arg: ENUM_VALUE) { nested } }", NULL, 0, 0},
    {"subscription { a }", NULL, 0, 0},
    {"extend type T implements I", NULL, 0, 0},
    {"extend type T { a: Int }", NULL, 0, 0},
    {"extend input I @d", NULL, 0, 0},
    {"extend enum E @d", NULL, 0, 0},
    {"extend union U @d", NULL, 0, 0},
    {"extend interface I { a: Int }", NULL, 0, 0},
    {"extend interface I @d", NULL, 0, 0},
    {"extend scalar S @d", NULL, 0, 0},
    {"\"\"\"d\"\"\" schema { query: Q }", NULL, 0, 0},
    {"\"d\" directive @d on FIELD", NULL, 0, 0},
    {"{ a(x: \"\"\"a\\nb\"\"\") }", NULL, 0, 0},
};

/* ---- A canonical text of the AST (tests/node-free: the expected texts
 * below are what the same printer over graphql-js 16.15's AST gives) ---- */

typedef struct out {
    char *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof(tmp));
    if (o->n + (size_t)k + 1 > o->cap) {
        o->cap = (o->n + (size_t)k + 1) * 2;
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    memcpy(o->p + o->n, tmp, (size_t)k + 1);
    o->n += (size_t)k;
}

static void put_str(out_t *o, const char *s, size_t len)
{
    put(o, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            put(o, "\\x%02x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

static void put_desc(out_t *o, const char *d)
{
    if (d) {
        put_str(o, d, strlen(d));
        put(o, " ");
    }
}

static void put_value(out_t *o, const gql_value_t *v)
{
    switch (v->kind) {
    case GQL_V_VARIABLE: put(o, "$%s", v->text); break;
    case GQL_V_INT:
    case GQL_V_FLOAT:
    case GQL_V_ENUM: put(o, "%s", v->text); break;
    case GQL_V_STRING:
        put(o, "%s", v->block ? "B" : "");
        put_str(o, v->text, v->len);
        break;
    case GQL_V_BOOLEAN: put(o, "%s", v->boolean ? "true" : "false"); break;
    case GQL_V_NULL: put(o, "null"); break;
    case GQL_V_LIST:
        put(o, "[");
        for (size_t i = 0; i < v->n_items; i++) {
            put(o, "%s", i ? "," : "");
            put_value(o, v->items[i]);
        }
        put(o, "]");
        break;
    case GQL_V_OBJECT:
        put(o, "{");
        for (size_t i = 0; i < v->n_fields; i++) {
            put(o, "%s%s:", i ? "," : "", v->fields[i].name);
            put_value(o, v->fields[i].value);
        }
        put(o, "}");
        break;
    }
}

static void put_type(out_t *o, const gql_type_ref_t *t)
{
    if (t->kind == GQL_T_NAMED) {
        put(o, "%s", t->name);
    } else if (t->kind == GQL_T_LIST) {
        put(o, "[");
        put_type(o, t->of);
        put(o, "]");
    } else {
        put_type(o, t->of);
        put(o, "!");
    }
}

static void put_args(out_t *o, const gql_argument_t *a, size_t n)
{
    if (!n)
        return;
    put(o, "(");
    for (size_t i = 0; i < n; i++) {
        put(o, "%s%s:", i ? "," : "", a[i].name);
        put_value(o, a[i].value);
    }
    put(o, ")");
}

static void put_dirs(out_t *o, const gql_directive_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put(o, "@%s", d[i].name);
        put_args(o, d[i].args, d[i].n_args);
    }
}

static void put_set(out_t *o, const gql_selection_set_t *set)
{
    put(o, "{");
    for (size_t i = 0; i < set->n; i++) {
        const gql_selection_t *s = set->items[i];
        put(o, "%s", i ? " " : "");
        if (s->kind == GQL_SEL_FIELD) {
            if (s->alias)
                put(o, "%s:", s->alias);
            put(o, "%s", s->name);
            put_args(o, s->args, s->n_args);
            put_dirs(o, s->dirs, s->n_dirs);
            if (s->set)
                put_set(o, s->set);
        } else if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
            put(o, "...%s", s->name);
            put_dirs(o, s->dirs, s->n_dirs);
        } else {
            put(o, "...");
            if (s->type_condition)
                put(o, "on %s", s->type_condition);
            put_dirs(o, s->dirs, s->n_dirs);
            put_set(o, s->set);
        }
    }
    put(o, "}");
}

static void put_ivs(out_t *o, const gql_input_value_def_t *iv, size_t n,
                    const char *open, const char *close)
{
    if (!n)
        return;
    put(o, "%s", open);
    for (size_t i = 0; i < n; i++) {
        put(o, "%s", i ? " " : "");
        put_desc(o, iv[i].description);
        put(o, "%s:", iv[i].name);
        put_type(o, iv[i].type);
        if (iv[i].default_value) {
            put(o, "=");
            put_value(o, iv[i].default_value);
        }
        put_dirs(o, iv[i].dirs, iv[i].n_dirs);
    }
    put(o, "%s", close);
}

static void put_names(out_t *o, const char *lead, const char *const *names,
                      size_t n, const char *sep)
{
    if (!n)
        return;
    put(o, "%s", lead);
    for (size_t i = 0; i < n; i++)
        put(o, "%s%s", i ? sep : "", names[i]);
}

static const char *const op_word[] = {"query", "mutation", "subscription"};
static const char *const dl_word[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA",
    "SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INTERFACE",
    "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT", "INPUT_FIELD_DEFINITION",
    "DIRECTIVE_DEFINITION"};

static void put_def(out_t *o, const gql_definition_t *d)
{
    static const char *const kw[] = {
        [GQL_DEF_SCALAR] = "scalar", [GQL_DEF_OBJECT] = "type",
        [GQL_DEF_INTERFACE] = "interface", [GQL_DEF_UNION] = "union",
        [GQL_DEF_ENUM] = "enum", [GQL_DEF_INPUT] = "input"};
    put_desc(o, d->description);
    switch (d->kind) {
    case GQL_DEF_OPERATION:
        put(o, "%s%s%s", op_word[d->op], d->name ? " " : "", d->name ? d->name : "");
        if (d->n_vars) {
            put(o, "(");
            for (size_t i = 0; i < d->n_vars; i++) {
                put(o, "%s$%s:", i ? "," : "", d->vars[i].name);
                put_type(o, d->vars[i].type);
                if (d->vars[i].default_value) {
                    put(o, "=");
                    put_value(o, d->vars[i].default_value);
                }
                put_dirs(o, d->vars[i].dirs, d->vars[i].n_dirs);
            }
            put(o, ")");
        }
        put_dirs(o, d->dirs, d->n_dirs);
        put_set(o, d->set);
        return;
    case GQL_DEF_FRAGMENT:
        put(o, "fragment %s on %s", d->name, d->type_condition);
        put_dirs(o, d->dirs, d->n_dirs);
        put_set(o, d->set);
        return;
    case GQL_DEF_SCHEMA:
        put(o, "%sschema", d->extension ? "extend " : "");
        put_dirs(o, d->dirs, d->n_dirs);
        if (d->n_roots) {
            put(o, "{");
            for (size_t i = 0; i < d->n_roots; i++)
                put(o, "%s%s:%s", i ? " " : "", op_word[d->roots[i].op], d->roots[i].type);
            put(o, "}");
        }
        return;
    case GQL_DEF_DIRECTIVE:
        put(o, "directive @%s", d->name);
        put_ivs(o, d->inputs, d->n_inputs, "(", ")");
        put(o, "%s on ", d->repeatable ? " repeatable" : "");
        for (unsigned b = 0, first = 1; b < 20; b++)
            if (d->locations & (1u << b)) {
                put(o, "%s%s", first ? "" : "|", dl_word[b]);
                first = 0;
            }
        return;
    default:
        break;
    }
    put(o, "%s%s %s", d->extension ? "extend " : "", kw[d->kind], d->name);
    put_names(o, " implements ", d->interfaces, d->n_interfaces, "&");
    put_dirs(o, d->dirs, d->n_dirs);
    if (d->kind == GQL_DEF_UNION)
        put_names(o, "=", d->members, d->n_members, "|");
    if (d->kind == GQL_DEF_ENUM && d->n_values) {
        put(o, "{");
        for (size_t i = 0; i < d->n_values; i++) {
            put(o, "%s", i ? " " : "");
            put_desc(o, d->values[i].description);
            put(o, "%s", d->values[i].name);
            put_dirs(o, d->values[i].dirs, d->values[i].n_dirs);
        }
        put(o, "}");
    }
    if (d->kind == GQL_DEF_INPUT)
        put_ivs(o, d->inputs, d->n_inputs, "{", "}");
    if (d->n_fields) {
        put(o, "{");
        for (size_t i = 0; i < d->n_fields; i++) {
            const gql_field_def_t *f = &d->fields[i];
            put(o, "%s", i ? " " : "");
            put_desc(o, f->description);
            put(o, "%s", f->name);
            put_ivs(o, f->args, f->n_args, "(", ")");
            put(o, ":");
            put_type(o, f->type);
            put_dirs(o, f->dirs, f->n_dirs);
        }
        put(o, "}");
    }
}

/* The canonical text of a document (caller frees), NULL with *err if it
 * does not parse. */
static char *dump_src(const char *src, size_t len, const gql_limits_t *lim,
                      gql_error_t *err)
{
    gql_doc_t *doc = gql_parse(src, len, lim, err);
    if (!doc)
        return NULL;
    out_t o = {0};
    size_t n;
    const gql_definition_t *defs = gql_doc_defs(doc, &n);
    for (size_t i = 0; i < n; i++) {
        put_def(&o, &defs[i]);
        put(&o, "\n");
    }
    gql_doc_free(doc);
    return o.p;
}

typedef struct doc_case {
    const char *name, *src, *dump;
} doc_case_t;

/* graphql-js's kitchen sinks and documents of escapes, block strings and
 * line terminators, with the dump of graphql-js 16.15's AST of each. */
static const doc_case_t docs[] = {
    {"kitchen-sink",
     "query queryName($foo: ComplexType, $site: Site = MOBILE) @onQuery {\n"
     "  whoever123is: node(id: [123, 456]) {\n"
     "    id\n"
     "    ... on User @onInlineFragment {\n"
     "      field2 {\n"
     "        id\n"
     "        alias: field1(first: 10, after: $foo) @include(if: $foo) {\n"
     "          id\n"
     "          ...frag @onFragmentSpread\n"
     "        }\n"
     "      }\n"
     "    }\n"
     "    ... @skip(unless: $foo) {\n"
     "      id\n"
     "    }\n"
     "    ... {\n"
     "      id\n"
     "    }\n"
     "  }\n"
     "}\n"
     "\n"
     "mutation likeStory @onMutation {\n"
     "  like(story: 123) @onField {\n"
     "    story {\n"
     "      id @onField\n"
     "    }\n"
     "  }\n"
     "}\n"
     "\n"
     "subscription StoryLikeSubscription(\n"
     "  $input: StoryLikeSubscribeInput @onVariableDefinition\n"
     ")\n"
     "  @onSubscription {\n"
     "  storyLikeSubscribe(input: $input) {\n"
     "    story {\n"
     "      likers {\n"
     "        count\n"
     "      }\n"
     "      likeSentence {\n"
     "        text\n"
     "      }\n"
     "    }\n"
     "  }\n"
     "}\n"
     "\n"
     "fragment frag on Friend @onFragmentDefinition {\n"
     "  foo(\n"
     "    size: $size\n"
     "    bar: $b\n"
     "    obj: {\n"
     "      key: \"value\"\n"
     "      block: \"\"\"\n"
     "      block string uses \\\"\"\"\n"
     "      \"\"\"\n"
     "    }\n"
     "  )\n"
     "}\n"
     "\n"
     "{\n"
     "  unnamed(truthy: true, falsy: false, nullish: null)\n"
     "  query\n"
     "}\n"
     "\n"
     "query {\n"
     "  __typename\n"
     "}\n",
     /* graphql-js: */
     "query queryName($foo:ComplexType,$site:Site=MOBILE)@onQuery{whoever123is:node(id:[123,456]){id ...on User@onInlineFragment{field2{id alias:field1(first:10,after:$foo)@include(if:$foo){id ...frag@onFragmentSpread}}} ...@skip(unless:$foo){id} ...{id}}}\n"
     "mutation likeStory@onMutation{like(story:123)@onField{story{id@onField}}}\n"
     "subscription StoryLikeSubscription($input:StoryLikeSubscribeInput@onVariableDefinition)@onSubscription{storyLikeSubscribe(input:$input){story{likers{count} likeSentence{text}}}}\n"
     "fragment frag on Friend@onFragmentDefinition{foo(size:$size,bar:$b,obj:{key:\"value\",block:B\"block string uses \\x22\\x22\\x22\"})}\n"
     "query{unnamed(truthy:true,falsy:false,nullish:null) query}\n"
     "query{__typename}\n"},
    {"schema-kitchen-sink",
     "\"\"\"This is a description of the schema as a whole.\"\"\"\n"
     "schema {\n"
     "  query: QueryType\n"
     "  mutation: MutationType\n"
     "}\n"
     "\n"
     "\"\"\"\n"
     "This is a description\n"
     "of the `Foo` type.\n"
     "\"\"\"\n"
     "type Foo implements Bar & Baz & Two {\n"
     "  \"Description of the `one` field.\"\n"
     "  one: Type\n"
     "  \"\"\"This is a description of the `two` field.\"\"\"\n"
     "  two(\n"
     "    \"\"\"This is a description of the `argument` argument.\"\"\"\n"
     "    argument: InputType!\n"
     "  ): Type\n"
     "  \"\"\"This is a description of the `three` field.\"\"\"\n"
     "  three(argument: InputType, other: String): Int\n"
     "  four(argument: String = \"string\"): String\n"
     "  five(argument: [String] = [\"string\", \"string\"]): String\n"
     "  six(argument: InputType = {key: \"value\"}): Type\n"
     "  seven(argument: Int = null): Type\n"
     "}\n"
     "\n"
     "type AnnotatedObject @onObject(arg: \"value\") {\n"
     "  annotatedField(arg: Type = \"default\" @onArgumentDefinition): Type @onField\n"
     "}\n"
     "\n"
     "type UndefinedType\n"
     "\n"
     "extend type Foo {\n"
     "  seven(argument: [String]): Type\n"
     "}\n"
     "\n"
     "extend type Foo @onType\n"
     "\n"
     "interface Bar {\n"
     "  one: Type\n"
     "  four(argument: String = \"string\"): String\n"
     "}\n"
     "\n"
     "interface AnnotatedInterface @onInterface {\n"
     "  annotatedField(arg: Type @onArgumentDefinition): Type @onField\n"
     "}\n"
     "\n"
     "interface UndefinedInterface\n"
     "\n"
     "extend interface Bar implements Two {\n"
     "  two(argument: InputType!): Type\n"
     "}\n"
     "\n"
     "extend interface Bar @onInterface\n"
     "\n"
     "interface Baz implements Bar & Two {\n"
     "  one: Type\n"
     "  two(argument: InputType!): Type\n"
     "  four(argument: String = \"string\"): String\n"
     "}\n"
     "\n"
     "union Feed =\n"
     "  | Story\n"
     "  | Article\n"
     "  | Advert\n"
     "\n"
     "union AnnotatedUnion @onUnion = A | B\n"
     "\n"
     "union AnnotatedUnionTwo @onUnion = | A | B\n"
     "\n"
     "union UndefinedUnion\n"
     "\n"
     "extend union Feed = Photo | Video\n"
     "\n"
     "extend union Feed @onUnion\n"
     "\n"
     "scalar CustomScalar\n"
     "\n"
     "scalar AnnotatedScalar @onScalar\n"
     "\n"
     "extend scalar CustomScalar @onScalar\n"
     "\n"
     "enum Site {\n"
     "  \"\"\"This is a description of the `DESKTOP` value\"\"\"\n"
     "  DESKTOP\n"
     "\n"
     "  \"\"\"This is a description of the `MOBILE` value\"\"\"\n"
     "  MOBILE\n"
     "\n"
     "  \"This is a description of the `WEB` value\"\n"
     "  WEB\n"
     "}\n"
     "\n"
     "enum AnnotatedEnum @onEnum {\n"
     "  ANNOTATED_VALUE @onEnumValue\n"
     "  OTHER_VALUE\n"
     "}\n"
     "\n"
     "enum UndefinedEnum\n"
     "\n"
     "extend enum Site {\n"
     "  VR\n"
     "}\n"
     "\n"
     "extend enum Site @onEnum\n"
     "\n"
     "input InputType {\n"
     "  key: String!\n"
     "  answer: Int = 42\n"
     "}\n"
     "\n"
     "input AnnotatedInput @onInputObject {\n"
     "  annotatedField: Type @onInputFieldDefinition\n"
     "}\n"
     "\n"
     "input UndefinedInput\n"
     "\n"
     "extend input InputType {\n"
     "  other: Float = 1.23e4 @onInputFieldDefinition\n"
     "}\n"
     "\n"
     "extend input InputType @onInputObject\n"
     "\n"
     "\"\"\"\n"
     "This is a description of the `@include` directive.\n"
     "\"\"\"\n"
     "directive @include(\n"
     "  \"\"\"This is a description of the `if` argument.\"\"\"\n"
     "  if: Boolean! @onArgumentDefinition\n"
     ") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
     "\n"
     "directive @include2(if: Boolean!) on\n"
     "  | FIELD\n"
     "  | FRAGMENT_SPREAD\n"
     "  | INLINE_FRAGMENT\n"
     "\n"
     "directive @myRepeatableDir(name: String!) repeatable on\n"
     "  | OBJECT\n"
     "  | INTERFACE\n"
     "\n"
     "extend schema @onSchema\n"
     "\n"
     "extend schema @onSchema {\n"
     "  subscription: SubscriptionType\n"
     "}\n",
     /* graphql-js: */
     "\"This is a description of the schema as a whole.\" schema{query:QueryType mutation:MutationType}\n"
     "\"This is a description\\x0aof the `Foo` type.\" type Foo implements Bar&Baz&Two{\"Description of the `one` field.\" one:Type \"This is a description of the `two` field.\" two(\"This is a description of the `argument` argument.\" argument:InputType!):Type \"This is a description of the `three` field.\" three(argument:InputType other:String):Int four(argument:String=\"string\"):String five(argument:[String]=[\"string\",\"string\"]):String six(argument:InputType={key:\"value\"}):Type seven(argument:Int=null):Type}\n"
     "type AnnotatedObject@onObject(arg:\"value\"){annotatedField(arg:Type=\"default\"@onArgumentDefinition):Type@onField}\n"
     "type UndefinedType\n"
     "extend type Foo{seven(argument:[String]):Type}\n"
     "extend type Foo@onType\n"
     "interface Bar{one:Type four(argument:String=\"string\"):String}\n"
     "interface AnnotatedInterface@onInterface{annotatedField(arg:Type@onArgumentDefinition):Type@onField}\n"
     "interface UndefinedInterface\n"
     "extend interface Bar implements Two{two(argument:InputType!):Type}\n"
     "extend interface Bar@onInterface\n"
     "interface Baz implements Bar&Two{one:Type two(argument:InputType!):Type four(argument:String=\"string\"):String}\n"
     "union Feed=Story|Article|Advert\n"
     "union AnnotatedUnion@onUnion=A|B\n"
     "union AnnotatedUnionTwo@onUnion=A|B\n"
     "union UndefinedUnion\n"
     "extend union Feed=Photo|Video\n"
     "extend union Feed@onUnion\n"
     "scalar CustomScalar\n"
     "scalar AnnotatedScalar@onScalar\n"
     "extend scalar CustomScalar@onScalar\n"
     "enum Site{\"This is a description of the `DESKTOP` value\" DESKTOP \"This is a description of the `MOBILE` value\" MOBILE \"This is a description of the `WEB` value\" WEB}\n"
     "enum AnnotatedEnum@onEnum{ANNOTATED_VALUE@onEnumValue OTHER_VALUE}\n"
     "enum UndefinedEnum\n"
     "extend enum Site{VR}\n"
     "extend enum Site@onEnum\n"
     "input InputType{key:String! answer:Int=42}\n"
     "input AnnotatedInput@onInputObject{annotatedField:Type@onInputFieldDefinition}\n"
     "input UndefinedInput\n"
     "extend input InputType{other:Float=1.23e4@onInputFieldDefinition}\n"
     "extend input InputType@onInputObject\n"
     "\"This is a description of the `@include` directive.\" directive @include(\"This is a description of the `if` argument.\" if:Boolean!@onArgumentDefinition) on FIELD|FRAGMENT_SPREAD|INLINE_FRAGMENT\n"
     "directive @include2(if:Boolean!) on FIELD|FRAGMENT_SPREAD|INLINE_FRAGMENT\n"
     "directive @myRepeatableDir(name:String!) repeatable on OBJECT|INTERFACE\n"
     "extend schema@onSchema\n"
     "extend schema@onSchema{subscription:SubscriptionType}\n"},
    {"strings",
     "{ a(s: \"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u{1F600} \\uD83D\\uDE00 \\u0000 end\", t: \"\"\"\n"
     "    first\n"
     "      second\\\"\"\"\n"
     "\ttab\n"
     "\n"
     "\"\"\", e: \"\"\"\"\"\", f: \"\"\"   \"\"\", g: \"\"\"  x\"\"\", h: \"\", i: \"\\u{0}\\u{00000041}\") }\n"
     "\"op desc\" query Q(\"var desc\" $a: Int) { b }\n"
     "\"\"\"frag desc\"\"\" fragment F on T { c }\n",
     /* graphql-js: */
     "query{a(s:\"esc \\x22 \\x5c / \\x08 \\x0c \\x0a \\x0d \\x09 \xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80 \\x00 end\",t:B\"   first\\x0a     second\\x22\\x22\\x22\\x0atab\",e:B\"\",f:B\"\",g:B\"  x\",h:\"\",i:\"\\x00A\")}\n"
     "\"op desc\" query Q($a:Int){b}\n"
     "\"frag desc\" fragment F on T{c}\n"},
    {"lines",
     "\xef\xbb\xbf# bom\r\n"
     "{ a\r b\n"
     " c }, ,,\t\r\n",
     /* graphql-js: */
     "query{a b c}\n"},
};

static void documents_match_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        gql_error_t err;
        char *got = dump_src(docs[i].src, strlen(docs[i].src), NULL, &err);
        if (!got)
            fail_msg("%s: %s (%u:%u)", docs[i].name, err.message, err.loc.line,
                     err.loc.column);
        if (strcmp(got, docs[i].dump) != 0)
            fail_msg("%s:\n got  %s\n want %s", docs[i].name, got, docs[i].dump);
        free(got);
    }
}

static void errors_match_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const parse_case_t *c = &cases[i];
        gql_error_t err;
        gql_doc_t *doc = gql_parse(c->src, strlen(c->src), NULL, &err);
        if (!c->message) {
            if (!doc)
                fail_msg("case %zu %s: %s", i, c->src, err.message);
            gql_doc_free(doc);
            continue;
        }
        if (doc)
            fail_msg("case %zu %s: parsed, expected %s", i, c->src, c->message);
        if (strcmp(err.message, c->message) != 0 || err.loc.line != c->line ||
            err.loc.column != c->column)
            fail_msg("case %zu %s:\n got  %s (%u:%u)\n want %s (%u:%u)", i, c->src,
                     err.message, err.loc.line, err.loc.column, c->message, c->line,
                     c->column);
    }
}

typedef struct string_case {
    const char *src;
    const char *value; /* NULL: an error */
    size_t len;
    const char *error; /* "message @line:column" */
} string_case_t;

/* String and block string values as graphql-js 16.15 decodes them:
 * escapes, surrogate pairs, the \u{...} form, line terminators and the
 * BlockStringValue dedent. */
static const string_case_t strings[] = {
    {"{ a(x: \"simple\") }",
     "simple", 6, NULL},
    {"{ a(x: \" white space \") }",
     " white space ", 13, NULL},
    {"{ a(x: \"quote \\\"\") }",
     "quote \"", 7, NULL},
    {"{ a(x: \"escaped \\n\\r\\b\\t\\f\") }",
     "escaped \n\r\x08\t\x0c", 13, NULL},
    {"{ a(x: \"slashes \\\\ \\/\") }",
     "slashes \\ /", 11, NULL},
    {"{ a(x: \"unicode \\u1234\\u5678\\u90AB\\uCDEF\") }",
     "unicode \xe1\x88\xb4\xe5\x99\xb8\xe9\x82\xab\xec\xb7\xaf", 20, NULL},
    {"{ a(x: \"\\u{1234}\\u{00000041}\\u{10FFFF}\\u{0}\") }",
     "\xe1\x88\xb4""A\xf4\x8f\xbf\xbf\x00", 9, NULL},
    {"{ a(x: \"\\uD83D\\uDE00\") }",
     "\xf0\x9f\x98\x80", 4, NULL},
    {"{ a(x: \"\\uDE00\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\". @1:9"},
    {"{ a(x: \"\\uD83D\\u0041\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\". @1:9"},
    {"{ a(x: \"\\uD83Dx\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\". @1:9"},
    {"{ a(x: \"\\u{D800}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{D800}\". @1:9"},
    {"{ a(x: \"\\u{DFFF}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{DFFF}\". @1:9"},
    {"{ a(x: \"\\u{110000}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\". @1:9"},
    {"{ a(x: \"\\u{FFFFFFFF}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{FFFFFFFF\". @1:9"},
    {"{ a(x: \"\\u{123456789}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{123456789\". @1:9"},
    {"{ a(x: \"\\u{}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{}\". @1:9"},
    {"{ a(x: \"\\u{G}\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{G\". @1:9"},
    {"{ a(x: \"\\u{1F600\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u{1F600\"\". @1:9"},
    {"{ a(x: \"\\u00\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u00\")\". @1:9"},
    {"{ a(x: \"\\u00G0\") }", NULL, 0,
     "Syntax Error: Invalid Unicode escape sequence: \"\\u00G0\". @1:9"},
    {"{ a(x: \"\\x\") }", NULL, 0,
     "Syntax Error: Invalid character escape sequence: \"\\x\". @1:9"},
    {"{ a(x: \"\\\") }", NULL, 0,
     "Syntax Error: Unterminated string. @1:14"},
    {"{ a(x: \"unterminated) }", NULL, 0,
     "Syntax Error: Unterminated string. @1:24"},
    {"{ a(x: \"line\nbreak\") }", NULL, 0,
     "Syntax Error: Unterminated string. @1:13"},
    {"{ a(x: \"cr\rbreak\") }", NULL, 0,
     "Syntax Error: Unterminated string. @1:11"},
    {"{ a(x: \"\xc3\xa9\xf0\x9f\x98\x80\xef\xbb\xbf\") }",
     "\xc3\xa9\xf0\x9f\x98\x80\xef\xbb\xbf", 9, NULL},
    {"{ a(x: \"\x01\x1f\x7f\") }",
     "\x01\x1f\x7f", 3, NULL},
    {"{ a(x: \"tab\there\") }",
     "tab\there", 8, NULL},
    {"{ a(x: \"\") }",
     "", 0, NULL},
    {"{ a(x: \"\"\"simple\"\"\") }",
     "simple", 6, NULL},
    {"{ a(x: \"\"\" white space \"\"\") }",
     " white space ", 13, NULL},
    {"{ a(x: \"\"\"contains \" quote\"\"\") }",
     "contains \" quote", 16, NULL},
    {"{ a(x: \"\"\"contains \\\"\"\" triplequote\"\"\") }",
     "contains \"\"\" triplequote", 24, NULL},
    {"{ a(x: \"\"\"multi\nline\"\"\") }",
     "multi\nline", 10, NULL},
    {"{ a(x: \"\"\"multi\r\nline\r\nnormalized\"\"\") }",
     "multi\nline\nnormalized", 21, NULL},
    {"{ a(x: \"\"\"multi\rline\rnormalized\"\"\") }",
     "multi\nline\nnormalized", 21, NULL},
    {"{ a(x: \"\"\"unescaped \\n\\r\\b\\t\\f\\u1234\"\"\") }",
     "unescaped \\n\\r\\b\\t\\f\\u1234", 26, NULL},
    {"{ a(x: \"\"\"slashes \\\\ \\/\"\"\") }",
     "slashes \\\\ \\/", 13, NULL},
    {"{ a(x: \"\"\"\n\n        spans\n          multiple\n            lines\n\n        \"\"\") }",
     "spans\n  multiple\n    lines", 26, NULL},
    {"{ a(x: \"\"\"\n  \t  first\n\t  second\n\"\"\") }",
     "  first\nsecond", 14, NULL},
    {"{ a(x: \"\"\"   \n  \n   a\n  \n\"\"\") }",
     "a", 1, NULL},
    {"{ a(x: \"\"\"\n\n\n\"\"\") }",
     "", 0, NULL},
    {"{ a(x: \"\"\"  \"\"\") }",
     "", 0, NULL},
    {"{ a(x: \"\"\"x\n  y\n    z\"\"\") }",
     "x\ny\n  z", 7, NULL},
    {"{ a(x: \"\"\"\t\tx\n\t\ty\"\"\") }",
     "\t\tx\ny", 5, NULL},
    {"{ a(x: \"\"\"a\n \n  b\n\"\"\") }",
     "a\n\nb", 4, NULL},
    {"{ a(x: \"\"\"\"\"\") }",
     "", 0, NULL},
    {"{ a(x: \"\"\"\\\"\"\"\\\"\"\"\"\"\") }",
     "\"\"\"\"\"\"", 6, NULL},
    {"{ a(x: \"\"\"\\\\\"\"\") }", NULL, 0,
     "Syntax Error: Unterminated string. @1:19"},
    {"{ a(x: \"\"\"unterminated) }", NULL, 0,
     "Syntax Error: Unterminated string. @1:26"},
    {"{ a(x: \"\"\"\xc3\xa9\n \xf0\x9f\x98\x80\n\"\"\") }",
     "\xc3\xa9\n\xf0\x9f\x98\x80", 7, NULL},
};

static void string_values_match_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        const string_case_t *c = &strings[i];
        gql_error_t err;
        gql_doc_t *doc = gql_parse(c->src, strlen(c->src), NULL, &err);
        if (!c->value) {
            char got[600];
            if (doc)
                fail_msg("case %zu %s: parsed, expected %s", i, c->src, c->error);
            snprintf(got, sizeof(got), "%s @%u:%u", err.message, err.loc.line, err.loc.column);
            if (strcmp(got, c->error) != 0)
                fail_msg("case %zu %s:\n got  %s\n want %s", i, c->src, got, c->error);
            continue;
        }
        if (!doc)
            fail_msg("case %zu %s: %s", i, c->src, err.message);
        const gql_value_t *v = gql_doc_defs(doc, NULL)->set->items[0]->args[0].value;
        assert_int_equal(v->kind, GQL_V_STRING);
        if (v->len != c->len || memcmp(v->text, c->value, c->len) != 0 || v->text[v->len])
            fail_msg("case %zu %s: got %zu bytes \"%s\", want %zu \"%s\"", i, c->src, v->len,
                     v->text, c->len, c->value);
        assert_int_equal(v->block, strstr(c->src, "\"\"\"") != NULL);
        gql_doc_free(doc);
    }
}

/* ---- Limits ------------------------------------------------------------- */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void expect_error(const char *src, size_t len, const gql_limits_t *lim,
                         const char *message)
{
    gql_error_t err;
    gql_doc_t *doc = gql_parse(src, len, lim, &err);
    if (doc)
        fail_msg("parsed, expected %s", message);
    if (strcmp(err.message, message) != 0)
        fail_msg("got %s, want %s", err.message, message);
}

static void expect_ok(const char *src, size_t len, const gql_limits_t *lim)
{
    gql_error_t err;
    gql_doc_t *doc = gql_parse(src, len, lim, &err);
    if (!doc)
        fail_msg("%s (%u:%u)", err.message, err.loc.line, err.loc.column);
    gql_doc_free(doc);
}

static void size_limit_is_exact(void **state)
{
    (void)state;
    const char *q = "{ a }"; /* 5 bytes */
    gql_limits_t lim = {.max_bytes = 5};
    expect_ok(q, 5, &lim);
    lim.max_bytes = 4;
    expect_error(q, 5, &lim, "Syntax Error: Document exceeds the size limit (4 bytes).");
    /* the default is 1 MiB */
    char *big = repeat("{", " ", 1024 * 1024, "a}");
    expect_error(big, strlen(big), NULL,
                 "Syntax Error: Document exceeds the size limit (1048576 bytes).");
    free(big);
}

static void token_limit_is_exact(void **state)
{
    (void)state;
    /* "{ a a a }": 2 braces + 3 names; EOF does not count (graphql-js) */
    gql_limits_t lim = {.max_tokens = 5};
    expect_ok("{ a a a }", 9, &lim);
    lim.max_tokens = 4;
    gql_error_t err;
    assert_null(gql_parse("{ a a a }", 9, &lim, &err));
    assert_string_equal(err.message, "Syntax Error: Document exceeds the token limit (4).");
    assert_int_equal(err.loc.line, 1);
    assert_int_equal(err.loc.column, 9); /* the 5th token */
    /* the default: 50,000 */
    char *many = repeat("{", " a", 49998, " }");
    expect_ok(many, strlen(many), NULL);
    free(many);
    many = repeat("{", " a", 49999, " }");
    expect_error(many, strlen(many), NULL,
                 "Syntax Error: Document exceeds the token limit (50000).");
    free(many);
    /* a huge count of tokens under a raised limit: linear, no recursion */
    lim.max_tokens = 600002; /* 6 tokens a field, and the braces */
    lim.max_bytes = 4u << 20;
    many = repeat("{", " a(b: 1)", 100000, "}");
    expect_ok(many, strlen(many), &lim);
    free(many);
}

static void depth_limit_counts_sets_values_and_types(void **state)
{
    (void)state;
    gql_limits_t lim = {.max_depth = 3};
    expect_ok("{ a { b { c } } }", 17, &lim);
    expect_error("{ a { b { c { d } } } }", 23, &lim,
                 "Syntax Error: Document exceeds the depth limit (3).");
    /* a list in an object in a list: 3, inside a selection set: 4 */
    expect_ok("query ($v: [[[Int]]]) { a }", 27, &lim);
    expect_error("query ($v: [[[[Int]]]]) { a }", 29, &lim,
                 "Syntax Error: Document exceeds the depth limit (3).");
    lim.max_depth = 4;
    expect_ok("{ a(x: [{y: [1]}]) }", 20, &lim);
    lim.max_depth = 3;
    expect_error("{ a(x: [{y: [1]}]) }", 20, &lim,
                 "Syntax Error: Document exceeds the depth limit (3).");
    expect_error("type T { f(a: [[[[Int]]]]): Int }", 33, &lim,
                 "Syntax Error: Document exceeds the depth limit (3).");
    /* the default is 64: 64 nested sets parse, 65 do not */
    char *s = repeat("", "{ a ", 64, "");
    char *q = repeat(s, "}", 64, "");
    expect_ok(q, strlen(q), NULL);
    free(s);
    free(q);
    s = repeat("", "{ a ", 65, "");
    q = repeat(s, "}", 65, "");
    expect_error(q, strlen(q), NULL, "Syntax Error: Document exceeds the depth limit (64).");
    free(s);
    free(q);
}

static void hostile_nesting_fails_cleanly(void **state)
{
    (void)state;
    /* 100k of each opener, even with every limit raised as far as it
     * goes: the depth bound stops the recursion long before the stack. */
    gql_limits_t lim = {.max_bytes = 1u << 20, .max_tokens = 1u << 30,
                        .max_depth = 1u << 30};
    char *s = repeat("", "{a", 100000, "");
    expect_error(s, strlen(s), &lim, "Syntax Error: Document exceeds the depth limit (1000).");
    free(s);
    s = repeat("{ a(x: ", "[", 100000, "");
    expect_error(s, strlen(s), &lim, "Syntax Error: Document exceeds the depth limit (1000).");
    free(s);
    s = repeat("{ a(x: ", "{a: ", 100000, "");
    expect_error(s, strlen(s), &lim, "Syntax Error: Document exceeds the depth limit (1000).");
    free(s);
    s = repeat("query ($v: ", "[", 100000, "");
    expect_error(s, strlen(s), &lim, "Syntax Error: Document exceeds the depth limit (1000).");
    free(s);
    s = repeat("{ a { ", "... { ", 100000, "");
    expect_error(s, strlen(s), &lim, "Syntax Error: Document exceeds the depth limit (1000).");
    free(s);
    /* one line of 40,000 strings (a document's arena must not grow with
     * the square of the line's length) */
    s = repeat("{ a(x: [", "\"t12345\", ", 40000, "]) }");
    expect_ok(s, strlen(s), NULL);
    free(s);
    /* a long string, a long comment, a long name: fine */
    s = repeat("{ a(x: \"", "x", 500000, "\") } # end");
    expect_ok(s, strlen(s), NULL);
    free(s);
    s = repeat("{ ", "n", 500000, " }");
    expect_ok(s, strlen(s), NULL);
    free(s);
}

static void bytes_that_are_not_utf8_are_rejected(void **state)
{
    (void)state;
    expect_error("{ a(x: \"\xff\") }", 14, NULL, "Syntax Error: Invalid UTF-8 sequence within String.");
    expect_error("{ a(x: \"\xed\xa0\x80\") }", 16, NULL,
                 "Syntax Error: Invalid UTF-8 sequence within String.");
    expect_error("{ a(x: \"\xc0\xaf\") }", 15, NULL,
                 "Syntax Error: Invalid UTF-8 sequence within String.");
    expect_error("{ a }\xe2\x82", 8, NULL, "Syntax Error: Invalid UTF-8 sequence.");
    expect_error("# \xff\n{ a }", 10, NULL, "Syntax Error: Invalid UTF-8 sequence.");
    expect_error("{ a(x: \"\"\"\xf5\"\"\") }", 18, NULL,
                 "Syntax Error: Invalid UTF-8 sequence within String.");
    /* a NUL byte is a character like any other control character */
    expect_error("{ a }\0", 6, NULL, "Syntax Error: Unexpected character: U+0000.");
    /* inside a string it is kept, with the length */
    gql_error_t err;
    gql_doc_t *doc = gql_parse("{ a(x: \"a\0b\") }", 15, NULL, &err);
    assert_non_null(doc);
    const gql_definition_t *d = gql_doc_defs(doc, NULL);
    const gql_value_t *v = d->set->items[0]->args[0].value;
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->text, "a\0b", 3);
    gql_doc_free(doc);
}

/* ---- Positions and the AST's details ------------------------------------ */

static void locations_are_graphql_js_columns(void **state)
{
    (void)state;
    /* columns count UTF-16 units: é one, the emoji two */
    const char *src = "# é😀\n"
                      "query Q($v: [Int!] = [1]) {\r\n"
                      "  \"é😀\" \n"
                      "}";
    gql_error_t err;
    gql_doc_t *doc = gql_parse(src, strlen(src), NULL, &err);
    assert_null(doc);
    assert_string_equal(err.message, "Syntax Error: Expected Name, found String \"é😀\".");
    assert_int_equal(err.loc.line, 3);
    assert_int_equal(err.loc.column, 3);

    src = "\"é😀\" type T { f(a: Int = 1): [X!]! @d }\r"
          "extend union U = A | 😀";
    assert_null(gql_parse(src, strlen(src), NULL, &err));
    assert_string_equal(err.message, "Syntax Error: Unexpected character: U+1F600.");
    assert_int_equal(err.loc.line, 2);
    assert_int_equal(err.loc.column, 22);

    src = "query Q($v: [Int!] = [1]) {\n  al: f(a: {b: $v}) @d { ...F ... on T { x } }\n}\n"
          "\"d\" type T { f(a: Int): [X!]! }";
    doc = gql_parse(src, strlen(src), NULL, &err);
    assert_non_null(doc);
    size_t n;
    const gql_definition_t *d = gql_doc_defs(doc, &n);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].loc.line, 1);
    assert_int_equal(d[0].loc.column, 1);
    assert_int_equal(d[0].vars[0].loc.column, 9);
    assert_int_equal(d[0].vars[0].type->loc.column, 13);
    assert_int_equal(d[0].vars[0].type->kind, GQL_T_LIST);
    assert_int_equal(d[0].vars[0].type->of->kind, GQL_T_NON_NULL);
    assert_int_equal(d[0].vars[0].type->of->of->loc.column, 14);
    assert_int_equal(d[0].vars[0].default_value->loc.column, 22);
    assert_int_equal(d[0].set->loc.column, 27);
    const gql_selection_t *f = d[0].set->items[0];
    assert_int_equal(f->loc.line, 2);
    assert_int_equal(f->loc.column, 3);
    assert_string_equal(f->alias, "al");
    assert_string_equal(f->name, "f");
    assert_int_equal(f->args[0].loc.column, 9);
    assert_int_equal(f->args[0].value->loc.column, 12);
    assert_int_equal(f->args[0].value->fields[0].loc.column, 13);
    assert_int_equal(f->args[0].value->fields[0].value->loc.column, 16);
    assert_int_equal(f->dirs[0].loc.column, 21);
    assert_int_equal(f->set->items[0]->kind, GQL_SEL_FRAGMENT_SPREAD);
    assert_int_equal(f->set->items[0]->loc.column, 26);
    assert_int_equal(f->set->items[1]->kind, GQL_SEL_INLINE_FRAGMENT);
    assert_int_equal(f->set->items[1]->loc.column, 31);
    assert_string_equal(f->set->items[1]->type_condition, "T");
    /* a type definition starts at its description */
    assert_int_equal(d[1].loc.line, 4);
    assert_int_equal(d[1].loc.column, 1);
    assert_int_equal(d[1].fields[0].loc.column, 14);
    assert_int_equal(d[1].fields[0].type->loc.column, 25);
    gql_doc_free(doc);
}

/* 1 if s is well-formed UTF-8 (a message goes into JSON as it is). */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (!n)
            return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static void long_tokens_in_messages_stay_utf8(void **state)
{
    (void)state;
    /* the token's text is cut to fit the message, never inside a character */
    for (size_t lead = 0; lead < 4; lead++) {
        char head[8] = "{ \"";
        memset(head + 3, 'x', lead); /* shifts where the cut falls */
        char *s = repeat(head, "\xc3\xa9\xf0\x9f\x98\x80", 300, "\" }");
        gql_error_t err;
        assert_null(gql_parse(s, strlen(s), NULL, &err));
        assert_non_null(strstr(err.message, "Syntax Error: Expected Name, found String \""));
        assert_true(valid_utf8(err.message));
        assert_true(strlen(err.message) > 400);
        free(s);
    }
    /* an operation name a request gave, cut the same way */
    char *name = repeat("", "\xe2\x82\xac", 300, "");
    gql_error_t err;
    gql_doc_t *doc = gql_parse("{ a }", 5, NULL, &err);
    assert_null(gql_doc_operation(doc, name + 1, &err)); /* starts mid-character */
    assert_true(valid_utf8(err.message));
    assert_non_null(strstr(err.message, "Unknown operation named \""));
    gql_doc_free(doc);
    free(name);
}

static void offsets_become_positions(void **state)
{
    (void)state;
    const char *s = "ab\ncd\r\nef\rg\xc3\xa9\xf0\x9f\x98\x80h";
    size_t len = strlen(s);
    static const struct {
        size_t off;
        uint32_t line, col;
    } want[] = {{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {5, 2, 3}, {6, 2, 4}, {7, 3, 1},
                {10, 4, 1}, {11, 4, 2}, {13, 4, 3}, {17, 4, 5}, {18, 4, 6}, {99, 4, 6}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        gql_loc_t l = gql_loc_at(s, len, want[i].off);
        if (l.line != want[i].line || l.column != want[i].col)
            fail_msg("offset %zu: %u:%u, want %u:%u", want[i].off, l.line, l.column,
                     want[i].line, want[i].col);
    }
}

static void operation_is_chosen_as_graphql_js_does(void **state)
{
    (void)state;
    gql_error_t err;
    const char *src = "query A { a } mutation B { b } fragment F on T { c }";
    gql_doc_t *doc = gql_parse(src, strlen(src), NULL, &err);
    assert_non_null(doc);
    const gql_definition_t *op = gql_doc_operation(doc, "B", &err);
    assert_non_null(op);
    assert_int_equal(op->op, GQL_OP_MUTATION);
    assert_null(gql_doc_operation(doc, NULL, &err));
    assert_string_equal(err.message,
                        "Must provide operation name if query contains multiple operations.");
    assert_null(gql_doc_operation(doc, "", &err));
    assert_null(gql_doc_operation(doc, "F", &err));
    assert_string_equal(err.message, "Unknown operation named \"F\".");
    gql_doc_free(doc);

    doc = gql_parse("{ a } fragment F on T { c }", 27, NULL, &err);
    assert_non_null(doc);
    op = gql_doc_operation(doc, "", &err);
    assert_non_null(op);
    assert_null(op->name);
    assert_int_equal(op->op, GQL_OP_QUERY);
    assert_null(gql_doc_operation(doc, "a", &err));
    gql_doc_free(doc);

    doc = gql_parse("fragment F on T { c }", 21, NULL, &err);
    assert_non_null(doc);
    assert_null(gql_doc_operation(doc, NULL, &err));
    assert_string_equal(err.message, "Must provide an operation.");
    gql_doc_free(doc);
}

static void empty_documents_are_errors(void **state)
{
    (void)state;
    expect_error("", 0, NULL, "Syntax Error: Unexpected <EOF>.");
    expect_error(NULL, 0, NULL, "Syntax Error: Unexpected <EOF>.");
    expect_error(" ,\n# c\n\xef\xbb\xbf", 10, NULL, "Syntax Error: Unexpected <EOF>.");
    /* no error pointer: still NULL, no crash */
    assert_null(gql_parse("{", 1, NULL, NULL));
    gql_doc_free(NULL);
    size_t n = 7;
    assert_null(gql_doc_defs(NULL, &n));
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(errors_match_graphql_js),
        cmocka_unit_test(documents_match_graphql_js),
        cmocka_unit_test(string_values_match_graphql_js),
        cmocka_unit_test(size_limit_is_exact),
        cmocka_unit_test(token_limit_is_exact),
        cmocka_unit_test(depth_limit_counts_sets_values_and_types),
        cmocka_unit_test(hostile_nesting_fails_cleanly),
        cmocka_unit_test(bytes_that_are_not_utf8_are_rejected),
        cmocka_unit_test(locations_are_graphql_js_columns),
        cmocka_unit_test(long_tokens_in_messages_stay_utf8),
        cmocka_unit_test(offsets_become_positions),
        cmocka_unit_test(operation_is_chosen_as_graphql_js_does),
        cmocka_unit_test(empty_documents_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
