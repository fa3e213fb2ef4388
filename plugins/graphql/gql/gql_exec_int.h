/*
 * Internal interface between the execution parts of dp_gql: gql_exec.c
 * (gql_execute, shaping), gql_coerce.c (input coercion of variables and
 * arguments, result coercion of leaves, printing of values),
 * gql_introspect.c (__schema, __type) and gql_fake.c (fake answers).
 * Not part of the public contract (gql.h).
 */
#ifndef DOPPEL_GQL_EXEC_INT_H
#define DOPPEL_GQL_EXEC_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gql.h"

/* ---- Small text buffer (messages, printed values) ------------------------ */

/* Bounded growable text: stops growing at GQL_TBUF_MAX bytes (the rest is
 * dropped), so a hostile value cannot make a message huge. */
#define GQL_TBUF_MAX (64u * 1024u)

typedef struct gql_tbuf {
    char *p;
    size_t len, cap;
    int oom; /* an allocation failed: the text is incomplete */
} gql_tbuf_t;

void gql_tb_putn(gql_tbuf_t *b, const char *s, size_t n);
void gql_tb_puts(gql_tbuf_t *b, const char *s);
void gql_tb_printf(gql_tbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The text (never NULL, "" when empty); the buffer keeps owning it. */
const char *gql_tb_str(gql_tbuf_t *b);
void gql_tb_free(gql_tbuf_t *b);

/* A number as JavaScript's String(n) writes it ("1.5", "100", "1e+21"). */
void gql_tb_jsnum(gql_tbuf_t *b, double v);
/* A JSON value as graphql-js's inspect() writes it in messages:
 * "\"x\"", "{ a: 1 }", "[1, 2]", "null". */
void gql_tb_inspect(gql_tbuf_t *b, const json_t *v);
/* A type reference as GraphQL writes it: "[ID!]!". */
void gql_tb_typeref(gql_tbuf_t *b, const gql_type_ref_t *t);
/* A string as a GraphQL string literal, escaped as graphql-js's
 * printString. */
void gql_tb_gqlstring(gql_tbuf_t *b, const char *s, size_t len);

/* ---- Input coercion (gql_coerce.c) ---------------------------------------- */

/* Error sink of input coercion: messages are appended as GraphQL errors
 * {"message", "locations"} to `errors`. */
typedef struct gql_cerr {
    json_t *errors;   /* array */
    size_t max;       /* past it, one "Too many errors" and stop */
    int aborted;
} gql_cerr_t;

/* CoerceVariableValues (spec 6.1.2) of `op` against `raw` (object or NULL).
 * Returns the coerced variables (a new object; never NULL unless out of
 * memory); errors are appended to err->errors. Without a schema, values
 * pass through as given and defaults are the literals converted to JSON. */
json_t *gql_coerce_variables(const gql_schema_t *s, const gql_definition_t *op,
                             const json_t *raw, gql_cerr_t *err);

/* CoerceArgumentValues (spec 6.4.1) of one field or directive: the
 * arguments `given` (from the selection) against the definitions `defs`
 * (NULL without a schema: every given argument converted untyped).
 * Returns a new object, or NULL with msg filled (the error of graphql-js's
 * getArgumentValues). */
json_t *gql_coerce_arguments(const gql_schema_t *s, const gql_sarg_t *defs,
                             size_t n_defs, const gql_argument_t *given,
                             size_t n_given, const json_t *vars,
                             gql_tbuf_t *msg);

/* A literal converted to JSON without a type (custom scalars, no schema):
 * Int -> integer (real when it does not fit), Float -> real, enum ->
 * string, variables substituted (absent -> null). New reference. */
json_t *gql_literal_untyped(const gql_value_t *v, const json_t *vars,
                            unsigned depth);

/* valueFromAST: a literal coerced to an input type. Returns a new
 * reference, or NULL when the literal is invalid for the type (and
 * *absent = 0) or when it is a variable that was not provided
 * (*absent = 1). vars may be NULL (default values: constants only). */
json_t *gql_literal_coerce(const gql_schema_t *s, const gql_type_ref_t *t,
                           const gql_value_t *v, const json_t *vars,
                           int *absent, unsigned depth);

/* A default value printed as graphql-js's introspection prints it
 * (print(astFromValue(coerced default, type))): "\"x\"", "[1, 2]",
 * "{a: 1}", "RED". Appended to b; returns 0, or -1 if it cannot be
 * printed (an invalid literal). */
int gql_print_default(gql_tbuf_t *b, const gql_schema_t *s,
                      const gql_type_ref_t *t, const gql_value_t *v);

/* ---- Result coercion (gql_coerce.c) --------------------------------------- */

/* serialize() of a leaf type (scalar or enum) for a result value. Returns
 * a new reference, or NULL with msg filled ("Int cannot represent
 * non-integer value: \"x\""). */
json_t *gql_serialize_leaf(const gql_stype_t *t, const json_t *v,
                           gql_tbuf_t *msg);

/* ---- Fake data (gql_fake.c) ------------------------------------------------ */

/* A deterministic fake value for a field of type `t` named `field` (NULL
 * at list items): the same seed gives the same value. Objects are {} (and
 * abstract types {"__typename": first possible type}); their fields are
 * faked by the shaping, member by member. New reference, NULL when out of
 * memory. */
json_t *gql_fake_value(const gql_schema_t *s, const gql_type_ref_t *t,
                       const char *field, uint64_t seed, uint32_t list_len);
/* A fake leaf of named type `t` (scalar or enum). */
json_t *gql_fake_leaf(const gql_stype_t *t, const char *field, uint64_t seed);
/* Mixes a string into a 64-bit seed (FNV-1a then splitmix64). */
uint64_t gql_fake_mix(uint64_t seed, const char *s, size_t len);
/* Mixes a list index into a seed. */
uint64_t gql_fake_mix_index(uint64_t seed, size_t index);

/* ---- Introspection (gql_introspect.c) -------------------------------------- */

/* Introspection values are JSON objects that stand for a schema element
 * (a marker: {"\u0001k": kind, "\u0001p": pointer}); they are produced
 * only by this file and read only inside __schema / __type answers, never
 * taken from resolver data. Leaves are plain JSON. */
json_t *gql_intro_schema(const gql_schema_t *s);
/* __type(name:) : the type, or JSON null. */
json_t *gql_intro_type_by_name(const gql_schema_t *s, const char *name);
/* The value of field `field` of introspection object `parent` (a marker of
 * schema type `ptype`), arguments coerced. New reference (JSON null for
 * nothing). */
json_t *gql_intro_field(const gql_schema_t *s, const json_t *parent,
                        const char *field, const json_t *args);
/* 1 if v is an introspection marker object. */
int gql_intro_is_marker(const json_t *v);

#endif /* DOPPEL_GQL_EXEC_INT_H */
