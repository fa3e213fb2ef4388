/*
 * dp_gql: GraphQL (October 2021 specification) for the GraphQL plugin:
 * lexer and recursive-descent parser of whole documents (executable and
 * type-system definitions and extensions), the schema built from SDL
 * documents, the specification's validation rules, execution of an
 * operation against root-field answers (shaping by selection sets,
 * aliases, fragments, __typename, coercion to the schema's types), and
 * introspection (__schema, __type) answered from the schema.
 *
 * Independent of the doppel host: only jansson. Not thread-safe per object
 * (a document or an executing request belongs to one thread); a built
 * schema is immutable and may be read by many threads at once.
 *
 * Memory: a document owns every node, string and list of its AST (one
 * arena, freed by gql_doc_free). A schema keeps the SDL documents it was
 * built from alive and points into them; gql_schema_free frees both. All
 * strings are NUL-terminated UTF-8; string values also carry their length
 * (a GraphQL string may hold \u0000).
 */
#ifndef DOPPEL_GQL_H
#define DOPPEL_GQL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Source positions and errors -------------------------------------- */

typedef struct gql_loc {
    uint32_t line;   /* 1-based; 0: no position */
    uint32_t column; /* 1-based, in Unicode code points as graphql-js counts */
} gql_loc_t;

/* A syntax or schema error: "Syntax Error: Expected Name, found \"}\"."
 * (graphql-js wording where there is one) and where it is. */
typedef struct gql_error {
    char message[512];
    gql_loc_t loc;
} gql_error_t;

/* Bounds against hostile documents. A field left 0 takes the default. */
typedef struct gql_limits {
    size_t max_bytes;    /* source length; default 1 MiB */
    uint32_t max_tokens; /* lexical tokens; default 50,000 */
    uint32_t max_depth;  /* nesting of selection sets, lists, objects and
                            type references; default 64 */
} gql_limits_t;

/* ---- AST ----------------------------------------------------------------- */

typedef enum gql_value_kind {
    GQL_V_VARIABLE, /* text = variable name without '$' */
    GQL_V_INT,      /* text = the lexeme ("-12") */
    GQL_V_FLOAT,    /* text = the lexeme ("1.5e3") */
    GQL_V_STRING,   /* text/len = the decoded value (escapes, block strings) */
    GQL_V_BOOLEAN,  /* boolean */
    GQL_V_NULL,
    GQL_V_ENUM,     /* text = the name */
    GQL_V_LIST,     /* items */
    GQL_V_OBJECT    /* fields */
} gql_value_kind_t;

typedef struct gql_value gql_value_t;

typedef struct gql_object_field {
    const char *name;
    gql_value_t *value;
    gql_loc_t loc;
} gql_object_field_t;

struct gql_value {
    gql_value_kind_t kind;
    gql_loc_t loc;
    const char *text;
    size_t len;         /* of text */
    int boolean;
    int block;          /* GQL_V_STRING written as a """block string""" */
    gql_value_t **items;
    size_t n_items;
    gql_object_field_t *fields;
    size_t n_fields;
};

typedef enum gql_type_kind {
    GQL_T_NAMED,
    GQL_T_LIST,    /* [of] */
    GQL_T_NON_NULL /* of! (of is NAMED or LIST) */
} gql_type_kind_t;

typedef struct gql_type_ref {
    gql_type_kind_t kind;
    const char *name;         /* GQL_T_NAMED */
    struct gql_type_ref *of;  /* GQL_T_LIST, GQL_T_NON_NULL */
    gql_loc_t loc;
} gql_type_ref_t;

typedef struct gql_argument {
    const char *name;
    gql_value_t *value;
    gql_loc_t loc;
} gql_argument_t;

typedef struct gql_directive {
    const char *name;
    gql_argument_t *args;
    size_t n_args;
    gql_loc_t loc;
} gql_directive_t;

typedef enum gql_selection_kind {
    GQL_SEL_FIELD,
    GQL_SEL_FRAGMENT_SPREAD,
    GQL_SEL_INLINE_FRAGMENT
} gql_selection_kind_t;

typedef struct gql_selection gql_selection_t;

typedef struct gql_selection_set {
    gql_selection_t **items;
    size_t n;
    gql_loc_t loc; /* of '{' */
} gql_selection_set_t;

struct gql_selection {
    gql_selection_kind_t kind;
    gql_loc_t loc;              /* of the alias / name / "..." */
    const char *alias;          /* FIELD: NULL if none */
    const char *name;           /* FIELD name, FRAGMENT_SPREAD fragment name */
    gql_argument_t *args;       /* FIELD */
    size_t n_args;
    gql_directive_t *dirs;
    size_t n_dirs;
    const char *type_condition; /* INLINE_FRAGMENT: NULL if none */
    gql_selection_set_t *set;   /* FIELD: NULL for a leaf; INLINE_FRAGMENT */
};

typedef enum gql_op_kind {
    GQL_OP_QUERY,
    GQL_OP_MUTATION,
    GQL_OP_SUBSCRIPTION
} gql_op_kind_t;

typedef struct gql_variable_def {
    const char *name;            /* without '$' */
    gql_type_ref_t *type;
    gql_value_t *default_value;  /* NULL if none */
    gql_directive_t *dirs;
    size_t n_dirs;
    gql_loc_t loc;               /* of '$' */
} gql_variable_def_t;

typedef struct gql_input_value_def { /* argument or input field definition */
    const char *description;     /* NULL if none */
    const char *name;
    gql_type_ref_t *type;
    gql_value_t *default_value;
    gql_directive_t *dirs;
    size_t n_dirs;
    gql_loc_t loc;
} gql_input_value_def_t;

typedef struct gql_field_def {
    const char *description;
    const char *name;
    gql_input_value_def_t *args;
    size_t n_args;
    gql_type_ref_t *type;
    gql_directive_t *dirs;
    size_t n_dirs;
    gql_loc_t loc;
} gql_field_def_t;

typedef struct gql_enum_value_def {
    const char *description;
    const char *name;
    gql_directive_t *dirs;
    size_t n_dirs;
    gql_loc_t loc;
} gql_enum_value_def_t;

typedef struct gql_root_op_def {
    gql_op_kind_t op;
    const char *type;
    gql_loc_t loc;
} gql_root_op_def_t;

typedef enum gql_def_kind {
    GQL_DEF_OPERATION,  /* includes the query shorthand "{ ... }" */
    GQL_DEF_FRAGMENT,
    GQL_DEF_SCHEMA,     /* schema { query: Q } / extend schema */
    GQL_DEF_SCALAR,
    GQL_DEF_OBJECT,
    GQL_DEF_INTERFACE,
    GQL_DEF_UNION,
    GQL_DEF_ENUM,
    GQL_DEF_INPUT,
    GQL_DEF_DIRECTIVE
} gql_def_kind_t;

/* Directive locations (GQL_DEF_DIRECTIVE.locations), one bit each. */
enum {
    GQL_DL_QUERY = 1u << 0, GQL_DL_MUTATION = 1u << 1,
    GQL_DL_SUBSCRIPTION = 1u << 2, GQL_DL_FIELD = 1u << 3,
    GQL_DL_FRAGMENT_DEFINITION = 1u << 4, GQL_DL_FRAGMENT_SPREAD = 1u << 5,
    GQL_DL_INLINE_FRAGMENT = 1u << 6, GQL_DL_VARIABLE_DEFINITION = 1u << 7,
    GQL_DL_SCHEMA = 1u << 8, GQL_DL_SCALAR = 1u << 9, GQL_DL_OBJECT = 1u << 10,
    GQL_DL_FIELD_DEFINITION = 1u << 11, GQL_DL_ARGUMENT_DEFINITION = 1u << 12,
    GQL_DL_INTERFACE = 1u << 13, GQL_DL_UNION = 1u << 14, GQL_DL_ENUM = 1u << 15,
    GQL_DL_ENUM_VALUE = 1u << 16, GQL_DL_INPUT_OBJECT = 1u << 17,
    GQL_DL_INPUT_FIELD_DEFINITION = 1u << 18,
    /* graphql-js 16.15 lets @deprecated mark directive definitions */
    GQL_DL_DIRECTIVE_DEFINITION = 1u << 19
};

typedef struct gql_definition {
    gql_def_kind_t kind;
    gql_loc_t loc;
    int extension;              /* written "extend ..." */
    const char *description;    /* NULL if none */
    const char *name;           /* NULL: anonymous operation, schema */
    gql_directive_t *dirs;
    size_t n_dirs;
    /* OPERATION */
    gql_op_kind_t op;
    gql_variable_def_t *vars;
    size_t n_vars;
    /* OPERATION, FRAGMENT */
    gql_selection_set_t *set;
    const char *type_condition; /* FRAGMENT */
    /* OBJECT, INTERFACE: implements */
    const char **interfaces;
    size_t n_interfaces;
    gql_loc_t *interface_locs;
    /* OBJECT, INTERFACE */
    gql_field_def_t *fields;
    size_t n_fields;
    /* INPUT: input fields; DIRECTIVE: arguments */
    gql_input_value_def_t *inputs;
    size_t n_inputs;
    /* UNION */
    const char **members;
    size_t n_members;
    gql_loc_t *member_locs;
    /* ENUM */
    gql_enum_value_def_t *values;
    size_t n_values;
    /* SCHEMA */
    gql_root_op_def_t *roots;
    size_t n_roots;
    /* DIRECTIVE */
    int repeatable;
    uint32_t locations;         /* GQL_DL_* */
} gql_definition_t;

typedef struct gql_doc gql_doc_t; /* opaque: the arena */

/* Parses one whole document (any mix of executable and type-system
 * definitions and extensions, as the grammar allows; whether an executable
 * request may hold type-system definitions is a validation rule).
 * Returns the document, or NULL with *err filled (syntax error, a limit
 * exceeded: "Syntax Error: Document exceeds the token limit (50000).",
 * out of memory). lim may be NULL (defaults). */
gql_doc_t *gql_parse(const char *src, size_t len, const gql_limits_t *lim,
                     gql_error_t *err);
void gql_doc_free(gql_doc_t *doc);

/* The definitions, in source order; valid while the document lives. */
const gql_definition_t *gql_doc_defs(const gql_doc_t *doc, size_t *n);

/* The operation a request runs: the one named `name`, or the only one when
 * name is NULL or "". NULL with *err set ("Must provide operation name if
 * query contains multiple operations.", "Unknown operation named \"X\".",
 * "Must provide an operation.") otherwise. */
const gql_definition_t *gql_doc_operation(const gql_doc_t *doc,
                                          const char *name, gql_error_t *err);

/* ---- Schema ------------------------------------------------------------- */

typedef enum gql_kind {
    GQL_K_SCALAR,
    GQL_K_OBJECT,
    GQL_K_INTERFACE,
    GQL_K_UNION,
    GQL_K_ENUM,
    GQL_K_INPUT_OBJECT
} gql_kind_t;

typedef struct gql_stype gql_stype_t;

typedef struct gql_sarg { /* argument or input field */
    const char *name;
    const char *description;
    const gql_type_ref_t *type;
    const gql_value_t *default_value; /* NULL if none */
    const char *deprecation;          /* reason, NULL if not deprecated */
} gql_sarg_t;

typedef struct gql_sfield {
    const char *name;
    const char *description;
    const gql_type_ref_t *type;
    const gql_sarg_t *args;
    size_t n_args;
    const char *deprecation; /* reason ("No longer supported" when @deprecated
                                has none), NULL if not deprecated */
} gql_sfield_t;

typedef struct gql_senum_value {
    const char *name;
    const char *description;
    const char *deprecation;
} gql_senum_value_t;

struct gql_stype {
    gql_kind_t kind;
    const char *name;
    const char *description;
    const char *specified_by;        /* SCALAR @specifiedBy(url:) */
    int builtin;                     /* Int Float String Boolean ID and the
                                        introspection types */
    const gql_sfield_t *fields;      /* OBJECT, INTERFACE (extensions merged) */
    size_t n_fields;
    const gql_sarg_t *input_fields;  /* INPUT_OBJECT */
    size_t n_input_fields;
    const gql_stype_t *const *interfaces; /* OBJECT, INTERFACE */
    size_t n_interfaces;
    const gql_stype_t *const *possible;   /* UNION members; INTERFACE: the
                                             object types implementing it */
    size_t n_possible;
    const gql_senum_value_t *values; /* ENUM */
    size_t n_values;
};

typedef struct gql_sdirective {
    const char *name;
    const char *description;
    const gql_sarg_t *args;
    size_t n_args;
    int repeatable;
    uint32_t locations; /* GQL_DL_* */
    int builtin;        /* skip include deprecated specifiedBy */
} gql_sdirective_t;

typedef struct gql_schema gql_schema_t;

/* One SDL source of a schema (a file of an upload). */
typedef struct gql_source {
    const char *name; /* for errors: "shop.graphql" */
    const char *text;
    size_t len;
} gql_source_t;

/* Builds a schema from SDL sources (types, extensions and directives may
 * be spread over them; extensions are merged; the built-in scalars,
 * directives and the introspection types __Schema, __Type, __Field,
 * __InputValue, __EnumValue, __Directive, __TypeKind, __DirectiveLocation
 * are added). Checks what graphql-js's buildSchema/assertValidSchema
 * check: unknown types, duplicate names, root types that are objects,
 * interface implementations (fields, argument types, covariance), union
 * members that are objects, input types in input positions and output
 * types in output positions, executable definitions in SDL. Root types:
 * the schema definition's, or the types named Query, Mutation and
 * Subscription. NULL with *err ("shop.graphql:12:3: Unknown type
 * \"Prodct\".") on error. */
gql_schema_t *gql_schema_build(const gql_source_t *srcs, size_t n,
                               const gql_limits_t *lim, gql_error_t *err);
void gql_schema_free(gql_schema_t *s);

const gql_stype_t *gql_schema_type(const gql_schema_t *s, const char *name);
const gql_stype_t *gql_schema_root(const gql_schema_t *s, gql_op_kind_t op);
/* Every type (built-ins included), sorted by name. */
const gql_stype_t *const *gql_schema_types(const gql_schema_t *s, size_t *n);
const gql_sdirective_t *gql_schema_directive(const gql_schema_t *s,
                                             const char *name);
const gql_sdirective_t *const *gql_schema_directives(const gql_schema_t *s,
                                                     size_t *n);
const char *gql_schema_description(const gql_schema_t *s); /* NULL: none */
/* The field `name` of an object or interface type, NULL if it has none
 * (meta fields __typename, __schema, __type are not listed here). */
const gql_sfield_t *gql_stype_field(const gql_stype_t *t, const char *name);
const gql_sarg_t *gql_stype_input_field(const gql_stype_t *t,
                                        const char *name);
/* 1 if object type `obj` is a possible type of `abstract` (itself when
 * abstract is an object). */
int gql_schema_possible(const gql_stype_t *abstract, const gql_stype_t *obj);
/* The named type at the bottom of a reference. */
const gql_stype_t *gql_schema_named(const gql_schema_t *s,
                                    const gql_type_ref_t *t);

/* ---- Validation ----------------------------------------------------------- */

/* Runs every validation rule of the specification (section 5, the rules
 * graphql-js's specifiedRules implement) on an executable document against
 * the schema. Appends one object per error to `errors` (a JSON array):
 * {"message": "...", "locations": [{"line": L, "column": C}, ...]}, in
 * graphql-js 16's wording, at most max_errors of them (0: 100; past it a
 * last "Too many validation errors, error limit reached. Validation
 * aborted." as graphql-js). Returns the number of errors appended. */
size_t gql_validate(const gql_schema_t *s, const gql_doc_t *doc,
                    json_t *errors, size_t max_errors);

/* ---- Execution ------------------------------------------------------------ */

/* One top-level field of the running operation, as the resolver sees it. */
typedef struct gql_field_call {
    gql_op_kind_t op;
    const char *field;         /* field name ("users") */
    const char *response_key;  /* alias, or the name */
    const json_t *args;        /* the field's arguments, coerced, variables
                                  substituted, defaults applied (object) */
    const json_t *variables;   /* the operation's coerced variables (object) */
    gql_loc_t loc;
    const gql_sfield_t *def;   /* NULL without a schema */
    const gql_selection_t *sel;
} gql_field_call_t;

/* What a resolver says about one top-level field. */
enum {
    GQL_RESOLVED = 0, /* *value is the field's value (may be JSON null) */
    GQL_NO_ANSWER = 1 /* nothing for it: fake data or an error (opts) */
};

/* Returns GQL_RESOLVED with *value (a new reference; the full value of
 * the field, shaped afterwards by the selection set) and optionally
 * *errors (a new reference to an array of GraphQL error objects the mock
 * gave; their "path" is kept as given, or set to the field's path when
 * absent), GQL_NO_ANSWER, or a negative errno (an error "Internal error"
 * at the field's path). */
typedef int (*gql_resolve_fn)(void *ud, const gql_field_call_t *call,
                              json_t **value, json_t **errors);

typedef struct gql_exec_opts {
    int fake_missing;  /* 1: a field with no answer gets fake data from its
                          type; 0: null and an error "No mock for field
                          \"users\"." at its path */
    uint64_t seed;     /* fake data: the same seed gives the same data */
    uint32_t fake_list_len;  /* items of a faked list; 0: 2 */
    uint32_t max_depth;      /* of the answer; 0: 64 */
    uint32_t max_values;     /* values (objects, lists, leaves) of the answer,
                                past which it is cut with an error "Answer
                                exceeds the size limit (N values)."; 0:
                                500,000 */
} gql_exec_opts_t;

/* Runs `op` of `doc` (schema may be NULL: then answers are only shaped by
 * the selection sets, with no coercion, introspection or fake data).
 * variables: the request's raw variables (object or NULL), coerced
 * against the operation's variable definitions first. The resolver is
 * called once per top-level field (after @skip/@include and fragment
 * collection, fields of one response key merged). __typename, __schema
 * and __type are answered without it. Returns the response object
 * {"data": ..., "errors": [...]} ("errors" only when there are some);
 * when variables cannot be coerced, {"errors": [...]} without "data" and
 * *request_error = 1 (a GraphQL-over-HTTP 400 / 200 as the media type
 * says). Shaping: members the selection set asks for, in its order, under
 * their response keys; leaf values coerced to their scalar or enum type
 * (a value that cannot be coerced is null and an error at its path);
 * null in a non-null position propagates to the nearest nullable parent
 * with an error; abstract types resolved by the value's "__typename", or
 * the first possible type whose fields the value carries. */
json_t *gql_execute(const gql_schema_t *s, const gql_doc_t *doc,
                    const gql_definition_t *op, const json_t *variables,
                    const gql_exec_opts_t *opts, gql_resolve_fn resolve,
                    void *ud, int *request_error);

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_GQL_H */
