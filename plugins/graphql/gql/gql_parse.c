/*
 * Recursive descent over the whole Document grammar (October 2021), with
 * graphql-js 16's productions and messages. Recursion happens only where
 * the grammar nests (selection sets, list and object values, list types),
 * and each of those counts against the depth limit first, so the stack is
 * bounded by max_depth whatever the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"

/* The locations of one directive definition in the order written (the
 * AST keeps them as a set; introspection lists them as written). */
typedef struct dl_order {
    struct dl_order *next;
    size_t def;        /* index in defs */
    uint8_t bits[20];  /* bit numbers of GQL_DL_* */
    size_t n;
} dl_order_t;

struct gql_doc {
    gql_arena_t arena;
    gql_definition_t *defs;
    size_t n_defs;
    dl_order_t *orders;
};

typedef struct parser {
    gql_lexer_t lx;
    gql_token_t tok;   /* the current token */
    gql_token_t ahead; /* one token of lookahead, when has_ahead */
    int has_ahead;
    gql_arena_t *a;
    gql_error_t *err;
    uint32_t n_tokens, max_tokens;
    uint32_t depth, max_depth;
    gql_doc_t *doc;
} parser_t;

#define TRY(x)                                                                 \
    do {                                                                       \
        if ((x) < 0)                                                           \
            return -1;                                                         \
    } while (0)

static int oom(parser_t *p)
{
    gql_set_error(p->err, p->tok.loc, "Syntax Error: Out of memory.");
    return -1;
}

/* Makes room for arr[n]; -1 when out of memory. */
#define PUSH(p, arr, n, cap)                                                   \
    ((n) < (cap) ? 0                                                           \
     : ((arr) = gql_arena_grow((p)->a, (arr), &(cap), (n), sizeof(*(arr))))   \
         ? 0                                                                   \
         : oom(p))

static void *alloc(parser_t *p, size_t n)
{
    void *m = gql_arena_alloc(p->a, n);
    if (!m)
        oom(p);
    return m;
}

static int lex_one(parser_t *p, gql_token_t *t)
{
    TRY(gql_lex_next(&p->lx, t));
    if (t->kind != GQL_TOK_EOF && ++p->n_tokens > p->max_tokens) {
        gql_set_error(p->err, t->loc,
                      "Syntax Error: Document exceeds the token limit (%u).",
                      p->max_tokens);
        return -1;
    }
    return 0;
}

static int advance(parser_t *p)
{
    if (p->has_ahead) {
        p->tok = p->ahead;
        p->has_ahead = 0;
        return 0;
    }
    return lex_one(p, &p->tok);
}

static const gql_token_t *lookahead(parser_t *p)
{
    if (!p->has_ahead) {
        if (p->tok.kind == GQL_TOK_EOF)
            return &p->tok;
        if (lex_one(p, &p->ahead) < 0)
            return NULL;
        p->has_ahead = 1;
    }
    return &p->ahead;
}

static int peek(const parser_t *p, gql_tok_kind_t k)
{
    return p->tok.kind == k;
}

static int peek_keyword(const parser_t *p, const char *kw)
{
    return p->tok.kind == GQL_TOK_NAME && strcmp(p->tok.value, kw) == 0;
}

static int unexpected(parser_t *p, const gql_token_t *t)
{
    char d[480];
    gql_tok_desc(t ? t : &p->tok, d, sizeof(d));
    gql_set_error(p->err, (t ? t : &p->tok)->loc, "Syntax Error: Unexpected %s.", d);
    return -1;
}

static int expect(parser_t *p, gql_tok_kind_t k)
{
    if (p->tok.kind == k)
        return advance(p);
    char d[480];
    gql_tok_desc(&p->tok, d, sizeof(d));
    gql_set_error(p->err, p->tok.loc, "Syntax Error: Expected %s, found %s.",
                  gql_tok_kind_desc(k), d);
    return -1;
}

/* 1 and consumed, 0 if the token is another, -1 on error. */
static int optional(parser_t *p, gql_tok_kind_t k)
{
    if (p->tok.kind != k)
        return 0;
    TRY(advance(p));
    return 1;
}

static int expect_keyword(parser_t *p, const char *kw)
{
    if (peek_keyword(p, kw))
        return advance(p);
    char d[480];
    gql_tok_desc(&p->tok, d, sizeof(d));
    gql_set_error(p->err, p->tok.loc, "Syntax Error: Expected \"%s\", found %s.",
                  kw, d);
    return -1;
}

static int optional_keyword(parser_t *p, const char *kw)
{
    if (!peek_keyword(p, kw))
        return 0;
    TRY(advance(p));
    return 1;
}

static int enter(parser_t *p)
{
    if (p->depth >= p->max_depth) {
        gql_set_error(p->err, p->tok.loc,
                      "Syntax Error: Document exceeds the depth limit (%u).",
                      p->max_depth);
        return -1;
    }
    p->depth++;
    return 0;
}

static void leave(parser_t *p)
{
    p->depth--;
}

static int parse_name(parser_t *p, const char **name, gql_loc_t *loc)
{
    if (loc)
        *loc = p->tok.loc;
    if (p->tok.kind == GQL_TOK_NAME)
        *name = p->tok.value;
    return expect(p, GQL_TOK_NAME);
}

/* ---- Values ---------------------------------------------------------------- */

static int parse_value(parser_t *p, int is_const, gql_value_t **out);

static int parse_list_value(parser_t *p, int is_const, gql_value_t *v)
{
    size_t cap = 0;
    TRY(enter(p));
    TRY(expect(p, GQL_TOK_BRACKET_L));
    while (!peek(p, GQL_TOK_BRACKET_R)) {
        TRY(PUSH(p, v->items, v->n_items, cap));
        TRY(parse_value(p, is_const, &v->items[v->n_items]));
        v->n_items++;
    }
    TRY(advance(p));
    leave(p);
    return 0;
}

static int parse_object_value(parser_t *p, int is_const, gql_value_t *v)
{
    size_t cap = 0;
    TRY(enter(p));
    TRY(expect(p, GQL_TOK_BRACE_L));
    while (!peek(p, GQL_TOK_BRACE_R)) {
        TRY(PUSH(p, v->fields, v->n_fields, cap));
        gql_object_field_t *f = &v->fields[v->n_fields];
        TRY(parse_name(p, &f->name, &f->loc));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_value(p, is_const, &f->value));
        v->n_fields++;
    }
    TRY(advance(p));
    leave(p);
    return 0;
}

static int parse_variable(parser_t *p, const char **name, gql_loc_t *loc)
{
    *loc = p->tok.loc;
    TRY(expect(p, GQL_TOK_DOLLAR));
    return parse_name(p, name, NULL);
}

static int parse_value(parser_t *p, int is_const, gql_value_t **out)
{
    gql_value_t *v = alloc(p, sizeof(*v));
    if (!v)
        return -1;
    *out = v;
    v->loc = p->tok.loc;
    gql_token_t t = p->tok;
    switch (t.kind) {
    case GQL_TOK_BRACKET_L:
        v->kind = GQL_V_LIST;
        return parse_list_value(p, is_const, v);
    case GQL_TOK_BRACE_L:
        v->kind = GQL_V_OBJECT;
        return parse_object_value(p, is_const, v);
    case GQL_TOK_INT:
    case GQL_TOK_FLOAT:
        v->kind = t.kind == GQL_TOK_INT ? GQL_V_INT : GQL_V_FLOAT;
        v->text = t.value;
        v->len = t.len;
        return advance(p);
    case GQL_TOK_STRING:
    case GQL_TOK_BLOCK_STRING:
        v->kind = GQL_V_STRING;
        v->block = t.kind == GQL_TOK_BLOCK_STRING;
        v->text = t.value;
        v->len = t.len;
        return advance(p);
    case GQL_TOK_NAME:
        if (strcmp(t.value, "true") == 0 || strcmp(t.value, "false") == 0) {
            v->kind = GQL_V_BOOLEAN;
            v->boolean = t.value[0] == 't';
        } else if (strcmp(t.value, "null") == 0) {
            v->kind = GQL_V_NULL;
        } else {
            v->kind = GQL_V_ENUM;
        }
        v->text = t.value;
        v->len = t.len;
        return advance(p);
    case GQL_TOK_DOLLAR:
        if (is_const) {
            TRY(advance(p));
            if (p->tok.kind == GQL_TOK_NAME) {
                gql_set_error(p->err, t.loc,
                              "Syntax Error: Unexpected variable \"$%.200s\" in "
                              "constant value.",
                              p->tok.value);
                return -1;
            }
            return unexpected(p, &t);
        }
        v->kind = GQL_V_VARIABLE;
        TRY(parse_variable(p, &v->text, &v->loc));
        v->len = strlen(v->text);
        return 0;
    default:
        return unexpected(p, NULL);
    }
}

/* ---- Directives, arguments, types ------------------------------------------ */

static int parse_arguments(parser_t *p, int is_const, gql_argument_t **args,
                           size_t *n)
{
    size_t cap = 0;
    if (!peek(p, GQL_TOK_PAREN_L))
        return 0;
    TRY(advance(p));
    do {
        TRY(PUSH(p, *args, *n, cap));
        gql_argument_t *a = &(*args)[*n];
        TRY(parse_name(p, &a->name, &a->loc));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_value(p, is_const, &a->value));
        (*n)++;
    } while (!peek(p, GQL_TOK_PAREN_R));
    return advance(p);
}

static int parse_directives(parser_t *p, int is_const, gql_directive_t **dirs,
                            size_t *n)
{
    size_t cap = 0;
    while (peek(p, GQL_TOK_AT)) {
        TRY(PUSH(p, *dirs, *n, cap));
        gql_directive_t *d = &(*dirs)[*n];
        d->loc = p->tok.loc;
        TRY(advance(p));
        TRY(parse_name(p, &d->name, NULL));
        TRY(parse_arguments(p, is_const, &d->args, &d->n_args));
        (*n)++;
    }
    return 0;
}

static int parse_type(parser_t *p, gql_type_ref_t **out)
{
    gql_type_ref_t *t = alloc(p, sizeof(*t));
    if (!t)
        return -1;
    t->loc = p->tok.loc;
    if (peek(p, GQL_TOK_BRACKET_L)) {
        TRY(enter(p));
        TRY(advance(p));
        t->kind = GQL_T_LIST;
        TRY(parse_type(p, &t->of));
        TRY(expect(p, GQL_TOK_BRACKET_R));
        leave(p);
    } else {
        t->kind = GQL_T_NAMED;
        TRY(parse_name(p, &t->name, NULL));
    }
    if (peek(p, GQL_TOK_BANG)) {
        TRY(advance(p));
        gql_type_ref_t *nn = alloc(p, sizeof(*nn));
        if (!nn)
            return -1;
        nn->kind = GQL_T_NON_NULL;
        nn->loc = t->loc;
        nn->of = t;
        t = nn;
    }
    *out = t;
    return 0;
}

static int parse_description(parser_t *p, const char **desc)
{
    if (peek(p, GQL_TOK_STRING) || peek(p, GQL_TOK_BLOCK_STRING)) {
        *desc = p->tok.value;
        return advance(p);
    }
    return 0;
}

/* ---- Executable definitions ------------------------------------------------ */

static int parse_selection_set(parser_t *p, gql_selection_set_t **out);

static int parse_fragment_name(parser_t *p, const char **name, gql_loc_t *loc)
{
    if (peek_keyword(p, "on"))
        return unexpected(p, NULL);
    return parse_name(p, name, loc);
}

static int parse_field(parser_t *p, gql_selection_t *s)
{
    s->kind = GQL_SEL_FIELD;
    TRY(parse_name(p, &s->name, NULL));
    if (peek(p, GQL_TOK_COLON)) {
        TRY(advance(p));
        s->alias = s->name;
        TRY(parse_name(p, &s->name, NULL));
    }
    TRY(parse_arguments(p, 0, &s->args, &s->n_args));
    TRY(parse_directives(p, 0, &s->dirs, &s->n_dirs));
    if (peek(p, GQL_TOK_BRACE_L))
        TRY(parse_selection_set(p, &s->set));
    return 0;
}

static int parse_fragment(parser_t *p, gql_selection_t *s)
{
    TRY(expect(p, GQL_TOK_SPREAD));
    int has_cond = optional_keyword(p, "on");
    TRY(has_cond);
    if (!has_cond && peek(p, GQL_TOK_NAME)) {
        s->kind = GQL_SEL_FRAGMENT_SPREAD;
        TRY(parse_fragment_name(p, &s->name, NULL));
        return parse_directives(p, 0, &s->dirs, &s->n_dirs);
    }
    s->kind = GQL_SEL_INLINE_FRAGMENT;
    if (has_cond)
        TRY(parse_name(p, &s->type_condition, NULL));
    TRY(parse_directives(p, 0, &s->dirs, &s->n_dirs));
    return parse_selection_set(p, &s->set);
}

static int parse_selection_set(parser_t *p, gql_selection_set_t **out)
{
    gql_selection_set_t *set = alloc(p, sizeof(*set));
    if (!set)
        return -1;
    *out = set;
    set->loc = p->tok.loc;
    size_t cap = 0;
    TRY(enter(p));
    TRY(expect(p, GQL_TOK_BRACE_L));
    do {
        TRY(PUSH(p, set->items, set->n, cap));
        gql_selection_t *s = alloc(p, sizeof(*s));
        if (!s)
            return -1;
        s->loc = p->tok.loc;
        if (peek(p, GQL_TOK_SPREAD))
            TRY(parse_fragment(p, s));
        else
            TRY(parse_field(p, s));
        set->items[set->n++] = s;
    } while (!peek(p, GQL_TOK_BRACE_R));
    TRY(advance(p));
    leave(p);
    return 0;
}

static int parse_operation_type(parser_t *p, gql_op_kind_t *op)
{
    gql_token_t t = p->tok;
    TRY(expect(p, GQL_TOK_NAME));
    if (strcmp(t.value, "query") == 0)
        *op = GQL_OP_QUERY;
    else if (strcmp(t.value, "mutation") == 0)
        *op = GQL_OP_MUTATION;
    else if (strcmp(t.value, "subscription") == 0)
        *op = GQL_OP_SUBSCRIPTION;
    else
        return unexpected(p, &t);
    return 0;
}

static int parse_variable_defs(parser_t *p, gql_definition_t *d)
{
    size_t cap = 0;
    if (!peek(p, GQL_TOK_PAREN_L))
        return 0;
    TRY(advance(p));
    do {
        TRY(PUSH(p, d->vars, d->n_vars, cap));
        gql_variable_def_t *v = &d->vars[d->n_vars];
        const char *desc = NULL; /* graphql-js 16.15 reads one; unused */
        TRY(parse_description(p, &desc));
        TRY(parse_variable(p, &v->name, &v->loc));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_type(p, &v->type));
        int eq = optional(p, GQL_TOK_EQUALS);
        TRY(eq);
        if (eq)
            TRY(parse_value(p, 1, &v->default_value));
        TRY(parse_directives(p, 1, &v->dirs, &v->n_dirs));
        d->n_vars++;
    } while (!peek(p, GQL_TOK_PAREN_R));
    return advance(p);
}

static int parse_operation(parser_t *p, gql_definition_t *d)
{
    d->kind = GQL_DEF_OPERATION;
    d->op = GQL_OP_QUERY;
    if (peek(p, GQL_TOK_BRACE_L))
        return parse_selection_set(p, &d->set);
    TRY(parse_operation_type(p, &d->op));
    if (peek(p, GQL_TOK_NAME))
        TRY(parse_name(p, &d->name, NULL));
    TRY(parse_variable_defs(p, d));
    TRY(parse_directives(p, 0, &d->dirs, &d->n_dirs));
    return parse_selection_set(p, &d->set);
}

static int parse_fragment_def(parser_t *p, gql_definition_t *d)
{
    d->kind = GQL_DEF_FRAGMENT;
    TRY(expect_keyword(p, "fragment"));
    TRY(parse_fragment_name(p, &d->name, NULL));
    TRY(expect_keyword(p, "on"));
    TRY(parse_name(p, &d->type_condition, NULL));
    TRY(parse_directives(p, 0, &d->dirs, &d->n_dirs));
    return parse_selection_set(p, &d->set);
}

/* ---- Type system ------------------------------------------------------------- */

static int parse_input_value_defs(parser_t *p, gql_tok_kind_t open,
                                  gql_tok_kind_t close,
                                  gql_input_value_def_t **out, size_t *n)
{
    size_t cap = 0;
    if (!peek(p, open))
        return 0;
    TRY(advance(p));
    do {
        TRY(PUSH(p, *out, *n, cap));
        gql_input_value_def_t *iv = &(*out)[*n];
        iv->loc = p->tok.loc;
        TRY(parse_description(p, &iv->description));
        TRY(parse_name(p, &iv->name, NULL));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_type(p, &iv->type));
        int eq = optional(p, GQL_TOK_EQUALS);
        TRY(eq);
        if (eq)
            TRY(parse_value(p, 1, &iv->default_value));
        TRY(parse_directives(p, 1, &iv->dirs, &iv->n_dirs));
        (*n)++;
    } while (!peek(p, close));
    return advance(p);
}

static int parse_fields_def(parser_t *p, gql_definition_t *d)
{
    size_t cap = 0;
    if (!peek(p, GQL_TOK_BRACE_L))
        return 0;
    TRY(advance(p));
    do {
        TRY(PUSH(p, d->fields, d->n_fields, cap));
        gql_field_def_t *f = &d->fields[d->n_fields];
        f->loc = p->tok.loc;
        TRY(parse_description(p, &f->description));
        TRY(parse_name(p, &f->name, NULL));
        TRY(parse_input_value_defs(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &f->args,
                                   &f->n_args));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_type(p, &f->type));
        TRY(parse_directives(p, 1, &f->dirs, &f->n_dirs));
        d->n_fields++;
    } while (!peek(p, GQL_TOK_BRACE_R));
    return advance(p);
}

/* delimitedMany: an optional leading delimiter, then names joined by it. */
static int parse_named_list(parser_t *p, gql_tok_kind_t delim, const char ***names,
                            gql_loc_t **locs, size_t *n)
{
    size_t cap = 0, lcap = 0;
    TRY(optional(p, delim));
    for (;;) {
        TRY(PUSH(p, *names, *n, cap));
        TRY(PUSH(p, *locs, *n, lcap));
        TRY(parse_name(p, &(*names)[*n], &(*locs)[*n]));
        (*n)++;
        int more = optional(p, delim);
        TRY(more);
        if (!more)
            return 0;
    }
}

static int parse_implements(parser_t *p, gql_definition_t *d)
{
    int has = optional_keyword(p, "implements");
    TRY(has);
    if (!has)
        return 0;
    return parse_named_list(p, GQL_TOK_AMP, &d->interfaces, &d->interface_locs,
                            &d->n_interfaces);
}

static int parse_union_members(parser_t *p, gql_definition_t *d)
{
    int eq = optional(p, GQL_TOK_EQUALS);
    TRY(eq);
    if (!eq)
        return 0;
    return parse_named_list(p, GQL_TOK_PIPE, &d->members, &d->member_locs,
                            &d->n_members);
}

static int parse_enum_values(parser_t *p, gql_definition_t *d)
{
    size_t cap = 0;
    if (!peek(p, GQL_TOK_BRACE_L))
        return 0;
    TRY(advance(p));
    do {
        TRY(PUSH(p, d->values, d->n_values, cap));
        gql_enum_value_def_t *v = &d->values[d->n_values];
        v->loc = p->tok.loc;
        TRY(parse_description(p, &v->description));
        if (peek_keyword(p, "true") || peek_keyword(p, "false") ||
            peek_keyword(p, "null")) {
            gql_set_error(p->err, p->tok.loc,
                          "Syntax Error: Name \"%s\" is reserved and cannot be "
                          "used for an enum value.",
                          p->tok.value);
            return -1;
        }
        TRY(parse_name(p, &v->name, NULL));
        TRY(parse_directives(p, 1, &v->dirs, &v->n_dirs));
        d->n_values++;
    } while (!peek(p, GQL_TOK_BRACE_R));
    return advance(p);
}

static int parse_root_ops(parser_t *p, gql_definition_t *d, int required)
{
    size_t cap = 0;
    if (!peek(p, GQL_TOK_BRACE_L)) {
        if (required)
            return expect(p, GQL_TOK_BRACE_L);
        return 0;
    }
    TRY(advance(p));
    do {
        TRY(PUSH(p, d->roots, d->n_roots, cap));
        gql_root_op_def_t *r = &d->roots[d->n_roots];
        r->loc = p->tok.loc;
        TRY(parse_operation_type(p, &r->op));
        TRY(expect(p, GQL_TOK_COLON));
        TRY(parse_name(p, &r->type, NULL));
        d->n_roots++;
    } while (!peek(p, GQL_TOK_BRACE_R));
    return advance(p);
}

static int parse_directive_def(parser_t *p, gql_definition_t *d)
{
    d->kind = GQL_DEF_DIRECTIVE;
    TRY(expect(p, GQL_TOK_AT));
    TRY(parse_name(p, &d->name, NULL));
    TRY(parse_input_value_defs(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &d->inputs,
                               &d->n_inputs));
    int rep = optional_keyword(p, "repeatable");
    TRY(rep);
    d->repeatable = rep;
    TRY(expect_keyword(p, "on"));
    TRY(optional(p, GQL_TOK_PIPE));
    dl_order_t *o = alloc(p, sizeof(*o));
    if (!o)
        return -1;
    o->def = p->doc->n_defs;
    o->next = p->doc->orders;
    p->doc->orders = o;
    for (;;) {
        gql_token_t t = p->tok;
        const char *name = NULL;
        TRY(parse_name(p, &name, NULL));
        uint32_t bit = gql_dl_from_name(name);
        if (!bit)
            return unexpected(p, &t);
        if (!(d->locations & bit) && o->n < sizeof(o->bits))
            o->bits[o->n++] = (uint8_t)__builtin_ctz(bit);
        d->locations |= bit;
        int more = optional(p, GQL_TOK_PIPE);
        TRY(more);
        if (!more)
            return 0;
    }
}

/* The body of a type definition or extension after its keyword. */
static int parse_type_body(parser_t *p, const char *kw, gql_definition_t *d)
{
    if (strcmp(kw, "schema") == 0) {
        d->kind = GQL_DEF_SCHEMA;
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        TRY(parse_root_ops(p, d, !d->extension));
        if (d->extension && !d->n_dirs && !d->n_roots)
            return unexpected(p, NULL);
        return 0;
    }
    if (strcmp(kw, "directive") == 0)
        return parse_directive_def(p, d);
    TRY(parse_name(p, &d->name, NULL));
    int empty;
    if (strcmp(kw, "scalar") == 0) {
        d->kind = GQL_DEF_SCALAR;
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        empty = !d->n_dirs;
    } else if (strcmp(kw, "type") == 0 || strcmp(kw, "interface") == 0) {
        d->kind = kw[0] == 't' ? GQL_DEF_OBJECT : GQL_DEF_INTERFACE;
        TRY(parse_implements(p, d));
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        TRY(parse_fields_def(p, d));
        empty = !d->n_interfaces && !d->n_dirs && !d->n_fields;
    } else if (strcmp(kw, "union") == 0) {
        d->kind = GQL_DEF_UNION;
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        TRY(parse_union_members(p, d));
        empty = !d->n_dirs && !d->n_members;
    } else if (strcmp(kw, "enum") == 0) {
        d->kind = GQL_DEF_ENUM;
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        TRY(parse_enum_values(p, d));
        empty = !d->n_dirs && !d->n_values;
    } else { /* input */
        d->kind = GQL_DEF_INPUT;
        TRY(parse_directives(p, 1, &d->dirs, &d->n_dirs));
        TRY(parse_input_value_defs(p, GQL_TOK_BRACE_L, GQL_TOK_BRACE_R, &d->inputs,
                                   &d->n_inputs));
        empty = !d->n_dirs && !d->n_inputs;
    }
    /* "extend type T" must extend something */
    if (d->extension && empty)
        return unexpected(p, NULL);
    return 0;
}

static int is_type_keyword(const char *v, int with_directive)
{
    static const char *const kws[] = {"schema", "scalar", "type", "interface",
                                      "union", "enum", "input", "directive"};
    size_t n = sizeof(kws) / sizeof(kws[0]) - (with_directive ? 0 : 1);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, kws[i]) == 0)
            return 1;
    return 0;
}

static int parse_definition(parser_t *p, gql_definition_t *d)
{
    d->loc = p->tok.loc;
    if (peek(p, GQL_TOK_BRACE_L))
        return parse_operation(p, d);
    int has_desc = peek(p, GQL_TOK_STRING) || peek(p, GQL_TOK_BLOCK_STRING);
    const gql_token_t *kw = has_desc ? lookahead(p) : &p->tok;
    if (!kw)
        return -1;
    if (has_desc && kw->kind == GQL_TOK_BRACE_L) {
        gql_set_error(p->err, p->tok.loc,
                      "Syntax Error: Unexpected description, descriptions are not "
                      "supported on shorthand queries.");
        return -1;
    }
    if (kw->kind == GQL_TOK_NAME) {
        if (is_type_keyword(kw->value, 1)) {
            const char *k = kw->value;
            TRY(parse_description(p, &d->description));
            TRY(advance(p)); /* the keyword */
            return parse_type_body(p, k, d);
        }
        /* graphql-js 16.15 also reads descriptions of operations and
         * fragments */
        if (strcmp(kw->value, "query") == 0 || strcmp(kw->value, "mutation") == 0 ||
            strcmp(kw->value, "subscription") == 0) {
            TRY(parse_description(p, &d->description));
            return parse_operation(p, d);
        }
        if (strcmp(kw->value, "fragment") == 0) {
            TRY(parse_description(p, &d->description));
            return parse_fragment_def(p, d);
        }
        if (has_desc) {
            gql_set_error(p->err, p->tok.loc,
                          "Syntax Error: Unexpected description, only GraphQL "
                          "definitions support descriptions.");
            return -1;
        }
        if (strcmp(kw->value, "extend") == 0) {
            const gql_token_t *k = lookahead(p);
            if (!k)
                return -1;
            if (k->kind != GQL_TOK_NAME || !is_type_keyword(k->value, 0)) {
                gql_token_t copy = *k;
                return unexpected(p, &copy);
            }
            const char *kwv = k->value;
            d->extension = 1;
            TRY(advance(p)); /* extend */
            TRY(advance(p)); /* the keyword */
            return parse_type_body(p, kwv, d);
        }
    }
    gql_token_t copy = *kw;
    return unexpected(p, &copy);
}

/* ---- Documents --------------------------------------------------------------- */

gql_doc_t *gql_parse(const char *src, size_t len, const gql_limits_t *lim,
                     gql_error_t *err)
{
    gql_limits_t l = gql_limits_resolve(lim);
    gql_error_t scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof(*err));
    if (len > l.max_bytes) {
        gql_loc_t none = {0, 0};
        gql_set_error(err, none, "Syntax Error: Document exceeds the size limit (%zu bytes).",
                      l.max_bytes);
        return NULL;
    }
    if (!src)
        src = "";
    gql_doc_t *doc = calloc(1, sizeof(*doc));
    if (!doc) {
        gql_loc_t none = {0, 0};
        gql_set_error(err, none, "Syntax Error: Out of memory.");
        return NULL;
    }
    /* Every token makes a few nodes and every byte at most a few bytes of
     * decoded strings: bound the arena by both. */
    gql_arena_init(&doc->arena, l.max_bytes * 4 + (size_t)l.max_tokens * 1024 +
                                    (1u << 20));
    parser_t p;
    memset(&p, 0, sizeof(p));
    p.a = &doc->arena;
    p.doc = doc;
    p.err = err;
    p.max_tokens = l.max_tokens;
    p.max_depth = l.max_depth;
    gql_lexer_init(&p.lx, src, len, p.a, err);
    size_t cap = 0;
    if (advance(&p) < 0)
        goto fail;
    do {
        if (PUSH(&p, doc->defs, doc->n_defs, cap) < 0)
            goto fail;
        gql_definition_t *d = &doc->defs[doc->n_defs];
        memset(d, 0, sizeof(*d));
        if (parse_definition(&p, d) < 0)
            goto fail;
        doc->n_defs++;
    } while (!peek(&p, GQL_TOK_EOF));
    return doc;
fail:
    gql_doc_free(doc);
    return NULL;
}

void gql_doc_free(gql_doc_t *doc)
{
    if (!doc)
        return;
    gql_arena_free(&doc->arena);
    free(doc);
}

const gql_definition_t *gql_doc_defs(const gql_doc_t *doc, size_t *n)
{
    if (!doc) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = doc->n_defs;
    return doc->defs;
}

const gql_definition_t *gql_doc_operation(const gql_doc_t *doc,
                                          const char *name, gql_error_t *err)
{
    gql_loc_t none = {0, 0};
    const gql_definition_t *op = NULL;
    if (name && !*name)
        name = NULL;
    for (size_t i = 0; doc && i < doc->n_defs; i++) {
        const gql_definition_t *d = &doc->defs[i];
        if (d->kind != GQL_DEF_OPERATION)
            continue;
        if (!name) {
            if (op) {
                gql_set_error(err, none, "Must provide operation name if query "
                                         "contains multiple operations.");
                return NULL;
            }
            op = d;
        } else if (d->name && strcmp(d->name, name) == 0) {
            op = d;
        }
    }
    if (!op) {
        if (name)
            gql_set_error(err, none, "Unknown operation named \"%.400s\".", name);
        else
            gql_set_error(err, none, "Must provide an operation.");
    }
    return op;
}

size_t gql_doc_directive_locations(const gql_doc_t *doc, const gql_definition_t *d,
                                   uint32_t *out, size_t max)
{
    if (!doc || !d || d < doc->defs || d >= doc->defs + doc->n_defs)
        return 0;
    size_t idx = (size_t)(d - doc->defs);
    for (const dl_order_t *o = doc->orders; o; o = o->next)
        if (o->def == idx) {
            size_t n = o->n < max ? o->n : max;
            for (size_t i = 0; i < n; i++)
                out[i] = 1u << o->bits[i];
            return n;
        }
    return 0;
}
