/*
 * The lexical grammar of GraphQL (October 2021) as graphql-js 16 reads it:
 * the same tokens, the same error messages, columns counted the same way
 * (UTF-16 code units from the line's start, so a character outside the
 * BMP counts two). Plus the small shared pieces of gql_internal.h: the
 * arena, errors and name tables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"

/* ---- Limits ---------------------------------------------------------------- */

gql_limits_t gql_limits_resolve(const gql_limits_t *lim)
{
    gql_limits_t r = {GQL_DEFAULT_MAX_BYTES, GQL_DEFAULT_MAX_TOKENS,
                      GQL_DEFAULT_MAX_DEPTH};
    if (lim) {
        if (lim->max_bytes)
            r.max_bytes = lim->max_bytes;
        if (lim->max_tokens)
            r.max_tokens = lim->max_tokens;
        if (lim->max_depth)
            r.max_depth = lim->max_depth;
    }
    if (r.max_depth > GQL_HARD_MAX_DEPTH)
        r.max_depth = GQL_HARD_MAX_DEPTH;
    return r;
}

/* ---- Arena ----------------------------------------------------------------- */

struct gql_arena_block {
    gql_arena_block_t *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

#define ARENA_BLOCK (32u * 1024u)
#define ARENA_ALIGN (_Alignof(max_align_t))

void gql_arena_init(gql_arena_t *a, size_t max_total)
{
    a->head = NULL;
    a->total = 0;
    a->max_total = max_total;
}

void *gql_arena_alloc(gql_arena_t *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    gql_arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        /* Big requests get a block of their own; the current block stays
         * the head so its free space is still used. */
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        if (a->max_total && (a->total + cap > a->max_total))
            return NULL;
        gql_arena_block_t *nb = malloc(sizeof(*nb) + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        a->total += cap;
        if (b && cap != ARENA_BLOCK) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *gql_arena_strndup(gql_arena_t *a, const char *s, size_t n)
{
    char *p = gql_arena_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

void *gql_arena_grow(gql_arena_t *a, void *arr, size_t *cap, size_t n,
                     size_t elem)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 4;
    if (nc > SIZE_MAX / elem)
        return NULL;
    void *p = gql_arena_alloc(a, nc * elem);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, arr, n * elem);
    *cap = nc;
    return p;
}

void gql_arena_free(gql_arena_t *a)
{
    gql_arena_block_t *b = a->head;
    while (b) {
        gql_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- Errors ---------------------------------------------------------------- */

static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Drops what is not well-formed UTF-8 (a message cut to fit its buffer may
 * end inside a character, and messages go into JSON). */
static void utf8_clean(char *s)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k < 0) {
            i++;
            continue;
        }
        memmove(s + o, s + i, (size_t)k);
        o += (size_t)k;
        i += (size_t)k;
    }
    s[o] = '\0';
}

void gql_set_error(gql_error_t *err, gql_loc_t loc, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_clean(err->message);
    err->loc = loc;
}

/* ---- Names ----------------------------------------------------------------- */

uint32_t gql_hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static const char *const dl_names[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA",
    "SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION",
    "INTERFACE", "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION", "DIRECTIVE_DEFINITION"};

uint32_t gql_dl_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(dl_names) / sizeof(dl_names[0]); i++)
        if (strcmp(name, dl_names[i]) == 0)
            return 1u << i;
    return 0;
}

const char *gql_dl_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof(dl_names) / sizeof(dl_names[0]); i++)
        if (bit == 1u << i)
            return dl_names[i];
    return NULL;
}

void gql_type_ref_str(const gql_type_ref_t *t, char *buf, size_t cap)
{
    if (!cap)
        return;
    size_t n = strlen(buf);
    /* Walk down, writing '[' for each list; then back up for ']' and '!'.
     * Bounded by the parser's depth limit (a list and a non-null wrapper
     * per level, and the name), so a small stack suffices. */
    const gql_type_ref_t *stack[2 * GQL_HARD_MAX_DEPTH + 4];
    size_t depth = 0;
    for (const gql_type_ref_t *p = t; p && depth < sizeof(stack) / sizeof(stack[0]);
         p = p->of) {
        stack[depth++] = p;
        if (p->kind == GQL_T_LIST)
            n += (size_t)snprintf(buf + (n < cap ? n : cap - 1),
                                  n < cap ? cap - n : 1, "[");
        else if (p->kind == GQL_T_NAMED) {
            n += (size_t)snprintf(buf + (n < cap ? n : cap - 1),
                                  n < cap ? cap - n : 1, "%s", p->name);
            break;
        }
    }
    while (depth--) {
        const char *s = stack[depth]->kind == GQL_T_LIST       ? "]"
                        : stack[depth]->kind == GQL_T_NON_NULL ? "!"
                                                               : "";
        n += (size_t)snprintf(buf + (n < cap ? n : cap - 1),
                              n < cap ? cap - n : 1, "%s", s);
    }
}

/* ---- Lexer ----------------------------------------------------------------- */

static const char *const kind_desc[] = {
    [GQL_TOK_SOF] = "<SOF>",           [GQL_TOK_EOF] = "<EOF>",
    [GQL_TOK_BANG] = "\"!\"",          [GQL_TOK_DOLLAR] = "\"$\"",
    [GQL_TOK_AMP] = "\"&\"",           [GQL_TOK_PAREN_L] = "\"(\"",
    [GQL_TOK_PAREN_R] = "\")\"",       [GQL_TOK_SPREAD] = "\"...\"",
    [GQL_TOK_COLON] = "\":\"",         [GQL_TOK_EQUALS] = "\"=\"",
    [GQL_TOK_AT] = "\"@\"",            [GQL_TOK_BRACKET_L] = "\"[\"",
    [GQL_TOK_BRACKET_R] = "\"]\"",     [GQL_TOK_BRACE_L] = "\"{\"",
    [GQL_TOK_PIPE] = "\"|\"",          [GQL_TOK_BRACE_R] = "\"}\"",
    [GQL_TOK_NAME] = "Name",           [GQL_TOK_INT] = "Int",
    [GQL_TOK_FLOAT] = "Float",         [GQL_TOK_STRING] = "String",
    [GQL_TOK_BLOCK_STRING] = "BlockString"};

const char *gql_tok_kind_desc(gql_tok_kind_t k)
{
    return kind_desc[k];
}

void gql_tok_desc(const gql_token_t *t, char *buf, size_t cap)
{
    if (t->kind >= GQL_TOK_NAME)
        snprintf(buf, cap, "%s \"%.*s\"", kind_desc[t->kind],
                 (int)(t->len > 400 ? 400 : t->len), t->value);
    else
        snprintf(buf, cap, "%s", kind_desc[t->kind]);
}

void gql_lexer_init(gql_lexer_t *lx, const char *src, size_t len,
                    gql_arena_t *arena, gql_error_t *err)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->len = len;
    lx->line = 1;
    lx->col = 1;
    lx->arena = arena;
    lx->err = err;
}

/* The code point at s[0..n): its value and byte length, or -1 if the bytes
 * are not well-formed UTF-8 (overlong forms and surrogates included). */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return -1;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if ((size_t)len > n)
        return -1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    return len;
}

static int utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Column units of the bytes s[0..n): UTF-16 code units, as JavaScript
 * counts string positions. */
static uint32_t utf16_units(const char *s, size_t n)
{
    uint32_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80)
            u++;
        if (c >= 0xF0)
            u++;
    }
    return u;
}

gql_loc_t gql_loc_at(const char *src, size_t len, size_t off)
{
    uint32_t line = 1;
    size_t ls = 0;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            line++;
            ls = i + 1;
        } else if (src[i] == '\r') {
            if (i + 1 < len && src[i + 1] == '\n') {
                if (i + 1 == off)
                    break; /* between \r and \n: still the first line */
                i++;
            }
            line++;
            ls = i + 1;
        }
    }
    if (ls > off)
        ls = off;
    gql_loc_t l = {line, 1 + utf16_units(src + ls, off - ls)};
    return l;
}

/* The position of any offset, from the start (errors only: linear). */
static gql_loc_t loc_from_start(const gql_lexer_t *lx, size_t off)
{
    return gql_loc_at(lx->src, lx->len, off);
}

/* The position of a token start on the current line, from the column
 * cache (tokens come in order, so this is linear overall). */
static gql_loc_t loc_here(gql_lexer_t *lx, size_t off)
{
    if (lx->col_off < lx->line_start || lx->col_off > off) {
        lx->col_off = lx->line_start;
        lx->col = 1;
    }
    lx->col += utf16_units(lx->src + lx->col_off, off - lx->col_off);
    lx->col_off = off;
    gql_loc_t l = {lx->line, lx->col};
    return l;
}

static void new_line(gql_lexer_t *lx, size_t start)
{
    lx->line++;
    lx->line_start = start;
}

/* graphql-js's printCodePointAt: "a", '"', U+0001 or <EOF>. */
static void char_desc(const gql_lexer_t *lx, size_t pos, char *buf, size_t cap)
{
    uint32_t cp;
    if (pos >= lx->len) {
        snprintf(buf, cap, "<EOF>");
        return;
    }
    if (utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp) < 0)
        cp = 0xFFFD;
    if (cp == '"')
        snprintf(buf, cap, "'\"'");
    else if (cp >= 0x20 && cp <= 0x7E)
        snprintf(buf, cap, "\"%c\"", (char)cp);
    else
        snprintf(buf, cap, "U+%04X", (unsigned)cp);
}

static int syntax_error(gql_lexer_t *lx, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int syntax_error(gql_lexer_t *lx, size_t pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gql_set_error(lx->err, loc_from_start(lx, pos), "Syntax Error: %s", msg);
    return -1;
}

static int invalid_char(gql_lexer_t *lx, size_t pos, const char *what)
{
    char d[16];
    uint32_t cp;
    if (utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp) < 0)
        return syntax_error(lx, pos, "Invalid UTF-8 sequence%s.", what);
    char_desc(lx, pos, d, sizeof(d));
    return syntax_error(lx, pos, "Invalid character%s: %s.", what, d);
}

static int is_name_start(int c)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_name_continue(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int at(const gql_lexer_t *lx, size_t pos)
{
    return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int lexeme(gql_lexer_t *lx, gql_token_t *tok, gql_tok_kind_t kind,
                  size_t start, size_t end)
{
    tok->kind = kind;
    tok->start = start;
    tok->end = end;
    tok->len = end - start;
    tok->value = gql_arena_strndup(lx->arena, lx->src + start, end - start);
    if (!tok->value)
        return syntax_error(lx, start, "Out of memory.");
    lx->pos = end;
    return 0;
}

static int read_digits(gql_lexer_t *lx, size_t *pos)
{
    if (!is_digit(at(lx, *pos))) {
        char d[16];
        char_desc(lx, *pos, d, sizeof(d));
        return syntax_error(lx, *pos, "Invalid number, expected digit but got: %s.", d);
    }
    while (is_digit(at(lx, *pos)))
        (*pos)++;
    return 0;
}

static int read_number(gql_lexer_t *lx, gql_token_t *tok, size_t start)
{
    size_t pos = start;
    int is_float = 0;
    char d[16];
    if (at(lx, pos) == '-')
        pos++;
    if (at(lx, pos) == '0') {
        pos++;
        if (is_digit(at(lx, pos))) {
            char_desc(lx, pos, d, sizeof(d));
            return syntax_error(lx, pos,
                                "Invalid number, unexpected digit after 0: %s.", d);
        }
    } else if (read_digits(lx, &pos) < 0) {
        return -1;
    }
    if (at(lx, pos) == '.') {
        is_float = 1;
        pos++;
        if (read_digits(lx, &pos) < 0)
            return -1;
    }
    if (at(lx, pos) == 'e' || at(lx, pos) == 'E') {
        is_float = 1;
        pos++;
        if (at(lx, pos) == '+' || at(lx, pos) == '-')
            pos++;
        if (read_digits(lx, &pos) < 0)
            return -1;
    }
    /* "1.2.3", "0x1", "12abc": a number runs into something that is not a
     * separator. */
    if (at(lx, pos) == '.' || is_name_start(at(lx, pos))) {
        char_desc(lx, pos, d, sizeof(d));
        return syntax_error(lx, pos, "Invalid number, expected digit but got: %s.", d);
    }
    return lexeme(lx, tok, is_float ? GQL_TOK_FLOAT : GQL_TOK_INT, start, pos);
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const gql_lexer_t *lx, size_t pos)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_val(at(lx, pos + (size_t)i));
        if (h < 0)
            return -1;
        v = (v << 4) | h;
    }
    return v;
}

/* The source text of an escape for a message: `n` code points from pos. */
static int bad_escape(gql_lexer_t *lx, size_t pos, size_t units,
                      const char *what)
{
    size_t end = pos;
    for (size_t i = 0; i < units && end < lx->len; i++) {
        uint32_t cp;
        int n = utf8_decode((const unsigned char *)lx->src + end, lx->len - end, &cp);
        end += n > 0 ? (size_t)n : 1;
    }
    return syntax_error(lx, pos, "Invalid %s escape sequence: \"%.*s\".", what,
                        (int)(end - pos > 40 ? 40 : end - pos), lx->src + pos);
}

/* One escape at pos ('\\'): appends its UTF-8 to out, returns the bytes of
 * source it used, or -1. */
static long read_escape(gql_lexer_t *lx, size_t pos, char *out, size_t *n)
{
    int c = at(lx, pos + 1);
    if (c == 'u' && at(lx, pos + 2) == '{') {
        /* \u{1F600}: graphql-js 16 accepts the variable-width form */
        uint32_t point = 0;
        size_t size = 3;
        while (size < 12) {
            int ch = at(lx, pos + size++);
            if (ch == '}') {
                if (size < 5 || point > 0x10FFFF ||
                    (point >= 0xD800 && point <= 0xDFFF))
                    break;
                *n += (size_t)utf8_encode(point, out + *n);
                return (long)size;
            }
            int h = hex_val(ch);
            if (h < 0)
                break;
            point = (point << 4) | (uint32_t)h;
            /* graphql-js computes in 32-bit signed integers and stops
             * when the value turns negative */
            if (point & 0x80000000u)
                break;
        }
        return bad_escape(lx, pos, size, "Unicode");
    }
    if (c == 'u') {
        int code = hex4(lx, pos + 2);
        if (code >= 0 && (code < 0xD800 || code > 0xDFFF)) {
            *n += (size_t)utf8_encode((uint32_t)code, out + *n);
            return 6;
        }
        if (code >= 0xD800 && code <= 0xDBFF && at(lx, pos + 6) == '\\' &&
            at(lx, pos + 7) == 'u') {
            int trail = hex4(lx, pos + 8);
            if (trail >= 0xDC00 && trail <= 0xDFFF) {
                uint32_t cp = 0x10000 + (((uint32_t)code - 0xD800) << 10) +
                              ((uint32_t)trail - 0xDC00);
                *n += (size_t)utf8_encode(cp, out + *n);
                return 12;
            }
        }
        return bad_escape(lx, pos, 6, "Unicode");
    }
    char v;
    switch (c) {
    case '"': v = '"'; break;
    case '\\': v = '\\'; break;
    case '/': v = '/'; break;
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'n': v = '\n'; break;
    case 'r': v = '\r'; break;
    case 't': v = '\t'; break;
    default:
        return bad_escape(lx, pos, 2, "character");
    }
    out[(*n)++] = v;
    return 2;
}

static int read_string(gql_lexer_t *lx, gql_token_t *tok, size_t start)
{
    /* The decoded value is never longer than the source of the string, so
     * find where it ends first (its closing quote, else the line's end) and
     * size the buffer to that: sizing it to the line's end would make a
     * line of many strings cost the square of its length. */
    size_t bound = start + 1;
    while (bound < lx->len && lx->src[bound] != '\n' && lx->src[bound] != '\r' &&
           lx->src[bound] != '"') {
        if (lx->src[bound] == '\\' && bound + 1 < lx->len && lx->src[bound + 1] != '\n' &&
            lx->src[bound + 1] != '\r')
            bound++;
        bound++;
    }
    if (bound < lx->len && lx->src[bound] == '"')
        bound++; /* the decoding loop stops at the quote, inside the bound */
    char *out = gql_arena_alloc(lx->arena, bound - start);
    if (!out)
        return syntax_error(lx, start, "Out of memory.");
    size_t n = 0, pos = start + 1;
    while (pos < bound) {
        unsigned char c = (unsigned char)lx->src[pos];
        if (c == '"') {
            out[n] = '\0';
            tok->kind = GQL_TOK_STRING;
            tok->start = start;
            tok->end = pos + 1;
            tok->value = out;
            tok->len = n;
            lx->pos = pos + 1;
            return 0;
        }
        if (c == '\\') {
            long used = read_escape(lx, pos, out, &n);
            if (used < 0)
                return -1;
            pos += (size_t)used;
            continue;
        }
        uint32_t cp;
        int len = utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
        if (len < 0)
            return invalid_char(lx, pos, " within String");
        memcpy(out + n, lx->src + pos, (size_t)len);
        n += (size_t)len;
        pos += (size_t)len;
    }
    return syntax_error(lx, pos > bound ? bound : pos, "Unterminated string.");
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The spec's BlockStringValue: lines (already split on any line terminator
 * and joined with '\n' in raw[0..n)) lose their common indentation (the
 * first line excepted) and leading and trailing blank lines. */
static size_t block_dedent(const char *raw, size_t n, char *out)
{
    size_t common = SIZE_MAX;
    long first = -1, last = -1, idx = 0;
    for (size_t ls = 0; ls <= n; idx++) {
        size_t le = ls;
        while (le < n && raw[le] != '\n')
            le++;
        size_t indent = 0;
        while (ls + indent < le && is_ws(raw[ls + indent]))
            indent++;
        if (indent < le - ls) {
            if (first < 0)
                first = idx;
            last = idx;
            if (idx != 0 && indent < common)
                common = indent;
        }
        ls = le + 1;
    }
    size_t o = 0;
    idx = 0;
    int wrote = 0;
    for (size_t ls = 0; ls <= n; idx++) {
        size_t le = ls;
        while (le < n && raw[le] != '\n')
            le++;
        if (first >= 0 && idx >= first && idx <= last) {
            size_t s = ls;
            if (idx != 0) {
                size_t cut = common == SIZE_MAX ? 0 : common;
                s = ls + cut > le ? le : ls + cut;
            }
            if (wrote)
                out[o++] = '\n';
            memcpy(out + o, raw + s, le - s);
            o += le - s;
            wrote = 1;
        }
        ls = le + 1;
    }
    out[o] = '\0';
    return o;
}

static int read_block_string(gql_lexer_t *lx, gql_token_t *tok, size_t start)
{
    /* Find the end first (a \""" does not end it), then copy the lines. */
    size_t end = start + 3;
    while (end < lx->len) {
        if (lx->src[end] == '\\' && end + 3 < lx->len && lx->src[end + 1] == '"' &&
            lx->src[end + 2] == '"' && lx->src[end + 3] == '"') {
            end += 4;
            continue;
        }
        if (lx->src[end] == '"' && end + 2 < lx->len && lx->src[end + 1] == '"' &&
            lx->src[end + 2] == '"')
            break;
        end++;
    }
    char *raw = gql_arena_alloc(lx->arena, end - start + 1);
    char *out = gql_arena_alloc(lx->arena, end - start + 1);
    if (!raw || !out)
        return syntax_error(lx, start, "Out of memory.");
    size_t n = 0, pos = start + 3;
    uint32_t lines = 0;
    size_t last_ls = lx->line_start;
    while (pos < end) {
        unsigned char c = (unsigned char)lx->src[pos];
        if (c == '\\' && pos + 3 < lx->len && lx->src[pos + 1] == '"' &&
            lx->src[pos + 2] == '"' && lx->src[pos + 3] == '"') {
            memcpy(raw + n, "\"\"\"", 3);
            n += 3;
            pos += 4;
            continue;
        }
        if (c == '\n' || c == '\r') {
            pos += (c == '\r' && at(lx, pos + 1) == '\n') ? 2 : 1;
            raw[n++] = '\n';
            lines++;
            last_ls = pos;
            continue;
        }
        uint32_t cp;
        int len = utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
        if (len < 0)
            return invalid_char(lx, pos, " within String");
        memcpy(raw + n, lx->src + pos, (size_t)len);
        n += (size_t)len;
        pos += (size_t)len;
    }
    if (end >= lx->len)
        return syntax_error(lx, lx->len, "Unterminated string.");
    tok->kind = GQL_TOK_BLOCK_STRING;
    tok->start = start;
    tok->end = end + 3;
    tok->len = block_dedent(raw, n, out);
    tok->value = out;
    lx->pos = end + 3;
    lx->line += lines;
    lx->line_start = last_ls;
    return 0;
}

int gql_lex_next(gql_lexer_t *lx, gql_token_t *tok)
{
    memset(tok, 0, sizeof(*tok));
    for (;;) {
        size_t p = lx->pos;
        if (p >= lx->len) {
            tok->kind = GQL_TOK_EOF;
            tok->start = tok->end = lx->len;
            tok->loc = loc_here(lx, lx->len);
            tok->value = "";
            return 0;
        }
        unsigned char c = (unsigned char)lx->src[p];
        gql_tok_kind_t punct = GQL_TOK_SOF;
        switch (c) {
        case 0xEF: /* U+FEFF, the byte order mark, is ignored anywhere */
            if (at(lx, p + 1) == 0xBB && at(lx, p + 2) == 0xBF) {
                lx->pos += 3;
                continue;
            }
            break;
        case ' ':
        case '\t':
        case ',':
            lx->pos++;
            continue;
        case '\n':
            lx->pos++;
            new_line(lx, lx->pos);
            continue;
        case '\r':
            lx->pos += at(lx, p + 1) == '\n' ? 2 : 1;
            new_line(lx, lx->pos);
            continue;
        case '#':
            /* a comment runs to the line's end; a byte that is not UTF-8
             * ends it, to be reported as the next token */
            lx->pos++;
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n' &&
                   lx->src[lx->pos] != '\r') {
                uint32_t cp;
                int n = utf8_decode((const unsigned char *)lx->src + lx->pos,
                                    lx->len - lx->pos, &cp);
                if (n < 0)
                    break;
                lx->pos += (size_t)n;
            }
            continue;
        case '!': punct = GQL_TOK_BANG; break;
        case '$': punct = GQL_TOK_DOLLAR; break;
        case '&': punct = GQL_TOK_AMP; break;
        case '(': punct = GQL_TOK_PAREN_L; break;
        case ')': punct = GQL_TOK_PAREN_R; break;
        case ':': punct = GQL_TOK_COLON; break;
        case '=': punct = GQL_TOK_EQUALS; break;
        case '@': punct = GQL_TOK_AT; break;
        case '[': punct = GQL_TOK_BRACKET_L; break;
        case ']': punct = GQL_TOK_BRACKET_R; break;
        case '{': punct = GQL_TOK_BRACE_L; break;
        case '|': punct = GQL_TOK_PIPE; break;
        case '}': punct = GQL_TOK_BRACE_R; break;
        default: break;
        }
        tok->loc = loc_here(lx, p);
        if (punct != GQL_TOK_SOF) {
            tok->kind = punct;
            tok->start = p;
            tok->end = p + 1;
            tok->value = "";
            lx->pos = p + 1;
            return 0;
        }
        if (c == '.' && at(lx, p + 1) == '.' && at(lx, p + 2) == '.') {
            tok->kind = GQL_TOK_SPREAD;
            tok->start = p;
            tok->end = p + 3;
            tok->value = "";
            lx->pos = p + 3;
            return 0;
        }
        if (c == '"') {
            if (at(lx, p + 1) == '"' && at(lx, p + 2) == '"')
                return read_block_string(lx, tok, p);
            return read_string(lx, tok, p);
        }
        if (is_digit(c) || c == '-')
            return read_number(lx, tok, p);
        if (is_name_start(c)) {
            size_t e = p + 1;
            while (is_name_continue(at(lx, e)))
                e++;
            return lexeme(lx, tok, GQL_TOK_NAME, p, e);
        }
        if (c == '\'')
            return syntax_error(lx, p, "Unexpected single quote character ('), "
                                       "did you mean to use a double quote (\")?");
        uint32_t cp;
        if (utf8_decode((const unsigned char *)lx->src + p, lx->len - p, &cp) < 0)
            return syntax_error(lx, p, "Invalid UTF-8 sequence.");
        char d[16];
        char_desc(lx, p, d, sizeof(d));
        return syntax_error(lx, p, "Unexpected character: %s.", d);
    }
}
