/*
 * dp_gql internals shared by its parts (lexer, parser, schema, validation,
 * execution): a bounded arena, error formatting, and the lexer the parser
 * drives. Not part of the plugin's API: only gql_*.c include it.
 */
#ifndef DOPPEL_GQL_INTERNAL_H
#define DOPPEL_GQL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gql.h"

#define GQL_DEFAULT_MAX_BYTES (1024u * 1024u)
#define GQL_DEFAULT_MAX_TOKENS 50000u
#define GQL_DEFAULT_MAX_DEPTH 64u
/* Whatever the caller asks for, the parser never nests deeper than this:
 * its recursion is bounded by the depth limit, and this keeps the stack
 * small enough for a worker thread. */
#define GQL_HARD_MAX_DEPTH 1000u

/* The limits with defaults filled in and the depth clamped. */
gql_limits_t gql_limits_resolve(const gql_limits_t *lim);

/* ---- Arena --------------------------------------------------------------- */

/* Memory handed out in blocks, freed all at once. Every allocation is zeroed
 * and aligned for any type; the total is bounded (a hostile document cannot
 * make the parser allocate without limit). Not thread-safe. */
typedef struct gql_arena_block gql_arena_block_t;
typedef struct gql_arena {
    gql_arena_block_t *head;
    size_t total;     /* bytes of every block */
    size_t max_total; /* 0: no bound */
} gql_arena_t;

void gql_arena_init(gql_arena_t *a, size_t max_total);
/* NULL when out of memory or past the bound. */
void *gql_arena_alloc(gql_arena_t *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *gql_arena_strndup(gql_arena_t *a, const char *s, size_t n);
/* Makes room for item n of an array of elem-sized items kept in the arena:
 * when n == *cap, returns a copy twice as large (the old one stays until the
 * arena goes), else arr. NULL when out of memory. */
void *gql_arena_grow(gql_arena_t *a, void *arr, size_t *cap, size_t n,
                     size_t elem);
void gql_arena_free(gql_arena_t *a);

/* ---- Errors -------------------------------------------------------------- */

void gql_set_error(gql_error_t *err, gql_loc_t loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The line and column of byte offset off of src[0..len), as graphql-js
 * counts them (\n, \r\n and \r end lines; columns in UTF-16 units).
 * Linear in off: for errors, not for every token. */
gql_loc_t gql_loc_at(const char *src, size_t len, size_t off);

/* ---- Lexer --------------------------------------------------------------- */

typedef enum gql_tok_kind {
    GQL_TOK_SOF,
    GQL_TOK_EOF,
    GQL_TOK_BANG,
    GQL_TOK_DOLLAR,
    GQL_TOK_AMP,
    GQL_TOK_PAREN_L,
    GQL_TOK_PAREN_R,
    GQL_TOK_SPREAD,
    GQL_TOK_COLON,
    GQL_TOK_EQUALS,
    GQL_TOK_AT,
    GQL_TOK_BRACKET_L,
    GQL_TOK_BRACKET_R,
    GQL_TOK_BRACE_L,
    GQL_TOK_PIPE,
    GQL_TOK_BRACE_R,
    GQL_TOK_NAME,
    GQL_TOK_INT,
    GQL_TOK_FLOAT,
    GQL_TOK_STRING,
    GQL_TOK_BLOCK_STRING
} gql_tok_kind_t;

typedef struct gql_token {
    gql_tok_kind_t kind;
    size_t start, end;  /* byte offsets of the lexeme in the source */
    gql_loc_t loc;      /* of start */
    const char *value;  /* NAME, INT, FLOAT: the lexeme; STRING and
                           BLOCK_STRING: the decoded value (arena) */
    size_t len;
} gql_token_t;

/* A lexer over one source. Positions are tracked incrementally, so lexing a
 * document is linear in its length however long its lines are. */
typedef struct gql_lexer {
    const char *src;
    size_t len;
    size_t pos;         /* next byte to read */
    uint32_t line;      /* of pos */
    size_t line_start;  /* byte offset where that line starts */
    size_t col_off;     /* column cache: offset on the current line ... */
    uint32_t col;       /* ... and its column */
    gql_arena_t *arena;
    gql_error_t *err;
} gql_lexer_t;

void gql_lexer_init(gql_lexer_t *lx, const char *src, size_t len,
                    gql_arena_t *arena, gql_error_t *err);
/* Reads the next token (EOF at the end, again and again). Returns 0, or -1
 * with lx->err set to graphql-js's wording ("Syntax Error: ..."). */
int gql_lex_next(gql_lexer_t *lx, gql_token_t *tok);
/* "Name", "\"{\"", "<EOF>": a kind as graphql-js names it in messages. */
const char *gql_tok_kind_desc(gql_tok_kind_t k);
/* `Name "foo"`, `"}"`, `<EOF>`: a token as graphql-js describes it. */
void gql_tok_desc(const gql_token_t *t, char *buf, size_t cap);

/* ---- Names ---------------------------------------------------------------- */

/* FNV-1a of a NUL-terminated string (for the hash tables). */
uint32_t gql_hash_str(const char *s);
/* GQL_DL_* bit of a location name ("FIELD_DEFINITION"), 0 if none. */
uint32_t gql_dl_from_name(const char *name);
/* The location name of one GQL_DL_* bit, NULL if not exactly one. */
const char *gql_dl_name(uint32_t bit);

/* ---- Suggestions (graphql-js suggestionList and didYouMean) ------------ */

#define GQL_MAX_SUGGESTIONS 5
/* The options close to input, best first, as graphql-js's suggestionList
 * orders them; up to max of them into out (pointers into options).
 * Returns how many. */
size_t gql_suggest(const char *input, const char *const *options, size_t n,
                   const char **out, size_t max);
/* Appends " Did you mean \"A\", \"B\", or \"C\"?" (at most five; nothing
 * when n is 0) to the NUL-terminated buf; sub: NULL or words to put before
 * the names ("the enum value"). */
void gql_did_you_mean(char *buf, size_t cap, const char *sub,
                      const char *const *names, size_t n);
/* graphql-js naturalCompare: strcmp, but runs of digits compare as numbers. */
int gql_natural_compare(const char *a, const char *b);

/* ---- Beyond gql.h --------------------------------------------------------- */

/* The GQL_DL_* bits of directive definition d (of doc) in the order its
 * text lists them (gql_definition_t.locations is the set); up to max into
 * out. Returns how many (0 if d is not a directive definition of doc). */
size_t gql_doc_directive_locations(const gql_doc_t *doc, const gql_definition_t *d,
                                   uint32_t *out, size_t max);
/* The same for a schema's directive: the order its definition wrote them
 * (the built-in ones: graphql-js's order). At most 20. */
size_t gql_sdirective_locations(const gql_sdirective_t *d, uint32_t *out, size_t max);

/* The value `name` of an enum type (hash lookup), NULL if none. */
const gql_senum_value_t *gql_stype_enum_value(const gql_stype_t *t,
                                              const char *name);
/* 1 if t is an input object type marked @oneOf (graphql-js 16.15). */
int gql_stype_is_one_of(const gql_stype_t *t);

/* Appends a type reference as GraphQL writes it ("[Int!]!") to buf. */
void gql_type_ref_str(const gql_type_ref_t *t, char *buf, size_t cap);

#endif /* DOPPEL_GQL_INTERNAL_H */
