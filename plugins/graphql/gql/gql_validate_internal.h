/*
 * Internals shared by the validation files (gql_validate*.c): one context
 * per gql_validate call, an arena that holds everything the rules build
 * (freed in one go when validation ends), a small hash map, messages in
 * graphql-js 16's wording, and the type helpers graphql-js keeps in
 * utilities/typeComparators and type/definition.
 *
 * Nothing here outlives one gql_validate call; nothing is shared between
 * threads.
 */
#ifndef DOPPEL_GQL_VALIDATE_INTERNAL_H
#define DOPPEL_GQL_VALIDATE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "gql.h"

/* graphql-js's budgets: past them validation stops with "Validation
 * aborted." instead of spending unbounded time on a hostile document. */
#define GQLV_FRAGMENT_WORK 50000L
#define GQLV_OVERLAP_BUDGET 500000L
/* Recursion through fragment spreads (introspection depth, field
 * merging, subscription fields) is capped to keep the C stack bounded on
 * a worker thread; a document past it is aborted the same way. (Cycle
 * detection and fragment collection are iterative and need no cap.) */
#define GQLV_MAX_FRAGMENT_RECURSION 2000

typedef struct gqlv_blk gqlv_blk_t;

/* A key of the map: a pair of pointers and/or a string. */
typedef struct gqlv_slot {
    const void *a, *b;
    const char *s;
    void *val;
    int used;
} gqlv_slot_t;

typedef struct gqlv_map {
    gqlv_slot_t *slots;
    size_t cap, n;
} gqlv_map_t;

/* A growable array of pointers in the arena. */
typedef struct gqlv_vec {
    void **items;
    size_t n, cap;
} gqlv_vec_t;

/* One variable usage (graphql-js getVariableUsages): where, and the input
 * type and default of the position it is used in. */
typedef struct gqlv_usage {
    const gql_value_t *var;
    const gql_type_ref_t *type; /* NULL: position has no known input type */
    int has_default;
    const gql_stype_t *one_of; /* parent input object is @oneOf */
} gqlv_usage_t;

/* Per definition of the document. */
typedef struct gqlv_def_info {
    gqlv_vec_t usages;  /* gqlv_usage_t*, this definition only */
    gqlv_vec_t spreads; /* const gql_selection_t* (spreads), graphql-js order */
    int spreads_done;
} gqlv_def_info_t;

typedef struct gqlv_ctx {
    const gql_schema_t *s;
    const gql_definition_t *defs;
    size_t n_defs;
    gqlv_def_info_t *info; /* n_defs */
    gqlv_map_t frags;      /* name -> fragment (the last, as getFragment) */
    gqlv_map_t first_def;  /* (kind, name) -> first operation / fragment */
    gqlv_map_t sdl_types;  /* type names defined by the document itself */
    size_t n_ops;
    gqlv_map_t frag_sets; /* caches: sorted fragment names -> fragments,
                             fragment list -> their usages */
    json_t *errors;
    size_t max_errors, count;
    int aborted; /* stop everything: limit, budget, memory */
    int quiet;   /* first pass: collect, report nothing */
    int collect; /* record variable usages into cur_info */
    gqlv_def_info_t *cur_info;
    long frag_work;      /* remaining fragment work */
    long overlap_budget; /* remaining OverlappingFieldsCanBeMerged work */
    int in_introspection_error;    /* MaxIntrospectionDepth skipped subtree */
    const gql_sfield_t *cur_field; /* TypeInfo's field definition */
    gqlv_blk_t *arena;
    size_t arena_bytes;
    void *overlap; /* gql_validate_overlap.c's state */
} gqlv_ctx_t;

/* ---- memory (gql_validate_util.c) ---- */
void *gqlv_alloc(gqlv_ctx_t *c, size_t n); /* zeroed; NULL: c aborted */
void gqlv_arena_free(gqlv_ctx_t *c);
int gqlv_vec_push(gqlv_ctx_t *c, gqlv_vec_t *v, void *item);
/* Map keyed by (a, b, s): s compared by content, a and b by identity. */
void *gqlv_map_get(const gqlv_map_t *m, const void *a, const void *b,
                   const char *s, int *found);
int gqlv_map_put(gqlv_ctx_t *c, gqlv_map_t *m, const void *a, const void *b,
                 const char *s, void *val);

/* For names[0..n) (NULL entries are skipped): first[i] = the index of
 * the first equal name (i itself for a new one), next[i] = the index of
 * the next equal name after i (n: none), count[i] = how many there are
 * (at first indexes). Linear, so that hostile documents with thousands of
 * arguments, fields or variables stay cheap. 0, or -1 when out of memory. */
typedef struct gqlv_groups {
    size_t *first, *next, *count;
} gqlv_groups_t;
int gqlv_group_names(gqlv_ctx_t *c, const char *const *names, size_t n,
                     gqlv_groups_t *g);

/* ---- messages ---- */
/* A growable string in the arena, capped (truncated past GQLV_MSG_MAX). */
#define GQLV_MSG_MAX 16384
typedef struct gqlv_str {
    char *p;
    size_t len, cap;
    gqlv_ctx_t *c;
    int truncated; /* something past GQLV_MSG_MAX was dropped */
} gqlv_str_t;
void gqlv_str_init(gqlv_str_t *b, gqlv_ctx_t *c);
void gqlv_str_add(gqlv_str_t *b, const char *s);
void gqlv_str_addn(gqlv_str_t *b, const char *s, size_t n);
void gqlv_str_addf(gqlv_str_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *gqlv_str_get(gqlv_str_t *b); /* "" when empty or out of memory */

/* Reports one error at the given locations (entries with line 0 are left
 * out). Honors quiet, aborted and the error limit. */
void gqlv_report(gqlv_ctx_t *c, const char *msg, const gql_loc_t *locs,
                 size_t n_locs);
void gqlv_reportf(gqlv_ctx_t *c, const gql_loc_t *locs, size_t n_locs,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Stops validation with graphql-js's "Validation aborted." (budgets). */
void gqlv_abort(gqlv_ctx_t *c);
/* Charges fragment work; 0 when the budget is spent (then aborted). */
int gqlv_spend_fragment_work(gqlv_ctx_t *c, long cost);

/* graphql-js print() of a value and of a type reference. */
void gqlv_print_value(gqlv_str_t *b, const gql_value_t *v);
void gqlv_print_type(gqlv_str_t *b, const gql_type_ref_t *t);
const char *gqlv_type_str(gqlv_ctx_t *c, const gql_type_ref_t *t);
const char *gqlv_value_str(gqlv_ctx_t *c, const gql_value_t *v);

/* suggestionList + didYouMean: appends " Did you mean [sub ]"a", "b", or
 * "c"?" (nothing when no option is close to input). */
void gqlv_did_you_mean(gqlv_str_t *b, const char *sub, const char *input,
                       const char *const *options, size_t n_options);
int gqlv_natural_compare(const char *a, const char *b);

/* ---- types ---- */
const gql_stype_t *gqlv_named(const gqlv_ctx_t *c, const gql_type_ref_t *t);
int gqlv_is_composite(const gql_stype_t *t);
int gqlv_is_leaf(const gql_stype_t *t);
int gqlv_is_abstract(const gql_stype_t *t);
int gqlv_is_input(const gql_stype_t *t);
/* schema.isSubType(abstract, maybe): maybe is a member of union abstract,
 * or implements interface abstract. */
int gqlv_is_subtype(const gql_stype_t *abstract, const gql_stype_t *maybe);
int gqlv_types_overlap(const gql_stype_t *a, const gql_stype_t *b);
int gqlv_type_equal(const gql_type_ref_t *a, const gql_type_ref_t *b);
/* typeFromAST: 1 when the named type at the bottom exists. */
int gqlv_type_resolves(const gqlv_ctx_t *c, const gql_type_ref_t *t);
/* getFieldDef of TypeInfo: the schema field or a meta field. */
const gql_sfield_t *gqlv_field_def(const gqlv_ctx_t *c,
                                   const gql_stype_t *parent, const char *name);
const gql_definition_t *gqlv_fragment(const gqlv_ctx_t *c, const char *name);

/* ---- small helpers the rule files share ---- */
/* graphql-js reports some errors at a name node that follows a keyword
 * ("query Name", "fragment Name", "...Name", "on Type"); the AST records
 * where the construct starts. These assume the usual single space. */
static inline gql_loc_t gqlv_loc_plus(gql_loc_t l, size_t n)
{
    if (l.line)
        l.column += (uint32_t)n;
    return l;
}

static inline const gql_type_ref_t *gqlv_nullable(const gql_type_ref_t *t)
{
    return t && t->kind == GQL_T_NON_NULL ? t->of : t;
}

static inline const gql_type_ref_t *gqlv_innermost(const gql_type_ref_t *t)
{
    while (t && t->kind != GQL_T_NAMED)
        t = t->of;
    return t;
}

static inline int gqlv_is_input_ref(const gqlv_ctx_t *c,
                                    const gql_type_ref_t *t)
{
    return gqlv_is_input(gqlv_named(c, t));
}

static inline const gql_sarg_t *gqlv_find_arg(const gql_sarg_t *args, size_t n,
                                              const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].name, name) == 0)
            return &args[i];
    return NULL;
}

static inline int gqlv_is_required(const gql_sarg_t *a)
{
    return a->type && a->type->kind == GQL_T_NON_NULL && !a->default_value;
}

static inline int gqlv_is_output(const gql_stype_t *t)
{
    return t && t->kind != GQL_K_INPUT_OBJECT;
}

/* ---- the walk, across files ---- */
/* One value with TypeInfo's input type `type` (NULL: unknown) and the
 * parent input type; has_default: the position has a default; voct: 0
 * once ValuesOfCorrectType stopped descending (gql_validate_values.c). */
void gqlv_walk_value(gqlv_ctx_t *c, const gql_value_t *v,
                     const gql_type_ref_t *type, const gql_type_ref_t *parent,
                     int has_default, int voct);
/* gql_validate_directives.c */
void gqlv_unique_arguments(gqlv_ctx_t *c, const gql_argument_t *args, size_t n);
const char **gqlv_arg_names(gqlv_ctx_t *c, const gql_sarg_t *args, size_t n);
void gqlv_unique_directives(gqlv_ctx_t *c, const gql_directive_t *dirs,
                            size_t n);
void gqlv_walk_directives(gqlv_ctx_t *c, const gql_directive_t *dirs, size_t n,
                          uint32_t location);
void gqlv_known_type(gqlv_ctx_t *c, const char *name, gql_loc_t loc);
void gqlv_known_type_ref(gqlv_ctx_t *c, const gql_type_ref_t *t);
/* gql_validate_selections.c: a selection set whose TypeInfo type is
 * `type` (NULL: unknown); of_inline: it belongs to an inline fragment. */
void gqlv_walk_set(gqlv_ctx_t *c, const gql_selection_set_t *set,
                   const gql_stype_t *type, int of_inline);

/* ---- OverlappingFieldsCanBeMerged (gql_validate_overlap.c) ---- */
void gqlv_overlap_check(gqlv_ctx_t *c, const gql_stype_t *parent,
                        const gql_selection_set_t *set);

#endif /* DOPPEL_GQL_VALIDATE_INTERNAL_H */
