/*
 * Response templates. Each string of the template value is scanned once, at
 * compile time, into literal text and expressions; sub-trees without any
 * expression are folded into constants. Rendering walks the compiled tree and
 * never parses.
 *
 * Thread rules: a compiled template is immutable; dp_tmpl_render may run on
 * many threads at once, each with its own env (rng state, stores).
 */
#include "expr_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum ex_kind {
    EX_FAKE,
    EX_PATH_PARAM,
    EX_QUERY_PARAM,
    EX_HEADER,
    EX_REQ,
    EX_STORE,
    EX_INCR,
    EX_SESSION,
    EX_NONE
} ex_kind_t;

static const struct {
    const char *word;
    ex_kind_t kind;
} ex_words[] = {
    {"fake", EX_FAKE},         {"pathParam", EX_PATH_PARAM},
    {"queryParam", EX_QUERY_PARAM}, {"reqHeader", EX_HEADER},
    {"req", EX_REQ},           {"body", EX_REQ},
    {"gS", EX_STORE},          {"cS", EX_STORE},
    {"mS", EX_STORE},          {"increment", EX_INCR},
    {"sS", EX_STORE},          {"session", EX_SESSION},
};

typedef struct expr {
    ex_kind_t kind;
    int faker;            /* EX_FAKE: faker index */
    json_t *args;         /* EX_FAKE: array of literal arguments, or NULL */
    char *key;            /* param / header (lower-case) / store key */
    long index;           /* EX_HEADER: value index, -1 for the first */
    dp_jpath_t *path;     /* EX_REQ: path in body; EX_STORE: key + path */
    dp_store_scope_t scope;
    int64_t step;         /* EX_INCR */
} expr_t;

typedef struct part {
    char *lit; /* literal text, or NULL for an expression */
    size_t len;
    expr_t *ex;
} part_t;

typedef enum node_kind { N_CONST, N_OBJECT, N_ARRAY, N_WHOLE, N_INTERP } node_kind_t;

typedef struct node {
    node_kind_t kind;
    json_t *constant;    /* N_CONST */
    size_t csize;        /* N_CONST: bytes of its compact JSON text */
    size_t n;            /* N_OBJECT, N_ARRAY: children; N_INTERP: parts */
    char **keys;         /* N_OBJECT */
    size_t *keylens;     /* N_OBJECT */
    struct node **kids;  /* N_OBJECT, N_ARRAY */
    expr_t *ex;          /* N_WHOLE */
    part_t *parts;       /* N_INTERP */
} node_t;

struct dp_tmpl {
    node_t *root;
    int needs_body; /* some expression reads $.req / $.body */
};

/* ---- freeing ----------------------------------------------------------- */

static void expr_free(expr_t *e)
{
    if (e == NULL)
        return;
    json_decref(e->args);
    free(e->key);
    dp_jpath_free(e->path);
    free(e);
}

static void node_free(node_t *nd)
{
    if (nd == NULL)
        return;
    json_decref(nd->constant);
    if (nd->kind == N_OBJECT || nd->kind == N_ARRAY) {
        for (size_t i = 0; i < nd->n; i++) {
            if (nd->keys)
                free(nd->keys[i]);
            node_free(nd->kids ? nd->kids[i] : NULL);
        }
    }
    if (nd->kind == N_INTERP) {
        for (size_t i = 0; i < nd->n; i++) {
            free(nd->parts[i].lit);
            expr_free(nd->parts[i].ex);
        }
    }
    free(nd->keys);
    free(nd->keylens);
    free(nd->kids);
    expr_free(nd->ex);
    free(nd->parts);
    free(nd);
}

void dp_tmpl_free(dp_tmpl_t *t)
{
    if (t == NULL)
        return;
    node_free(t->root);
    free(t);
}

int dp_tmpl_is_static(const dp_tmpl_t *t)
{
    return t == NULL || t->root->kind == N_CONST;
}

int dp_tmpl_needs_body(const dp_tmpl_t *t)
{
    return t != NULL && t->needs_body;
}

/* ---- compile: expressions ------------------------------------------------ */

typedef struct cctx {
    char field[512]; /* field path of the string being compiled */
    size_t flen;
    dp_err_t *err;
    int needs_body;
} cctx_t;

static int is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static int cerr(cctx_t *cx, int rc, const char *fmt, const char *a,
                const char *b)
{
    if (rc == -ENOMEM)
        dp_err_set(cx->err, 500, "internal", cx->field, "out of memory");
    else
        dp_err_invalid(cx->err, cx->field, fmt, a, b);
    return rc;
}

static void skip_spaces(const char *s, size_t n, size_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
}

/* One literal faker argument: a number or a quoted string. */
static int parse_arg(const char *s, size_t n, size_t *i, json_t **out)
{
    size_t j = *i;
    *out = NULL;
    if (j < n && (s[j] == '"' || s[j] == '\'')) {
        char q = s[j++];
        char *buf = malloc(n - j + 1);
        size_t o = 0;
        if (buf == NULL)
            return -ENOMEM;
        while (j < n && s[j] != q) {
            if (s[j] == '\\' && j + 1 < n)
                j++;
            buf[o++] = s[j++];
        }
        if (j >= n) {
            free(buf);
            return -EINVAL;
        }
        *out = json_stringn(buf, o);
        free(buf);
        *i = j + 1;
        return *out ? 0 : -EINVAL;
    }
    size_t start = j;
    int real = 0;
    if (j < n && (s[j] == '-' || s[j] == '+'))
        j++;
    while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.' ||
                     s[j] == 'e' || s[j] == 'E' ||
                     ((s[j] == '-' || s[j] == '+') &&
                      (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        if (!isdigit((unsigned char)s[j]))
            real = 1;
        j++;
    }
    if (j == start || j - start > 64)
        return -EINVAL;
    char num[72], *end;
    memcpy(num, s + start, j - start);
    num[j - start] = '\0';
    errno = 0;
    if (real) {
        double d = strtod(num, &end);
        if (*end != '\0' || errno != 0)
            return -EINVAL;
        *out = json_real(d);
    } else {
        long long v = strtoll(num, &end, 10);
        if (*end != '\0' || errno != 0)
            return -EINVAL;
        *out = json_integer(v);
    }
    if (*out == NULL)
        return -EINVAL; /* json_real refuses NaN and infinities */
    *i = j;
    return 0;
}

/* $.fake.Name or $.fake.Name(args); s[*i] is just after "fake". */
static int parse_fake(cctx_t *cx, const char *s, size_t n, size_t *i,
                      expr_t *e)
{
    size_t j = *i;
    char nm[64] = "";
    if (j >= n || s[j] != '.' || j + 1 >= n || !is_word(s[j + 1]))
        return cerr(cx, -EINVAL, "expected a faker name after '$.fake.'%s%s",
                    "", "");
    size_t ns = ++j;
    while (j < n && is_word(s[j]))
        j++;
    snprintf(nm, sizeof(nm), "%.*s", (int)(j - ns), s + ns);
    e->faker = dp_faker_find(s + ns, j - ns);
    if (e->faker < 0)
        return cerr(cx, -EINVAL, "unknown faker '%s'%s", nm, "");
    if (j < n && s[j] == '(') {
        if (memchr(s + j, ')', n - j) == NULL)
            return cerr(cx, -EINVAL, "unclosed parenthesis in $.fake.%s(...)%s",
                        nm, "");
        e->args = json_array();
        if (e->args == NULL)
            return cerr(cx, -ENOMEM, "", "", "");
        j++;
        skip_spaces(s, n, &j);
        if (j < n && s[j] == ')') {
            j++;
        } else {
            for (;;) {
                json_t *a;
                skip_spaces(s, n, &j);
                if (j >= n)
                    return cerr(cx, -EINVAL,
                                "unclosed parenthesis in $.fake.%s(...)%s",
                                nm, "");
                int rc = parse_arg(s, n, &j, &a);
                if (rc == -ENOMEM)
                    return cerr(cx, rc, "", "", "");
                if (rc != 0)
                    return cerr(cx, -EINVAL,
                                j >= n ? "unclosed parenthesis in "
                                         "$.fake.%s(...)%s"
                                       : "bad argument to $.fake.%s%s: "
                                         "expected a number or a quoted "
                                         "string",
                                nm, "");
                if (json_array_append_new(e->args, a) != 0)
                    return cerr(cx, -ENOMEM, "", "", "");
                skip_spaces(s, n, &j);
                if (j >= n)
                    return cerr(cx, -EINVAL,
                                "unclosed parenthesis in $.fake.%s(...)%s",
                                nm, "");
                if (s[j] == ')') {
                    j++;
                    break;
                }
                if (s[j] != ',')
                    return cerr(cx, -EINVAL,
                                "expected ',' or ')' in $.fake.%s(...)%s", nm,
                                "");
                j++;
            }
        }
    }
    char msg[160];
    if (dp_faker_validate(e->faker, e->args, msg, sizeof(msg)) != 0)
        return cerr(cx, -EINVAL, "%s%s", msg, "");
    *i = j;
    return 0;
}

/* $.increment($.gS.k[, step]), or the platforms' bare $.increment(k[, step])
 * for a global store key; s[*i] is just after "increment". */
static int parse_incr(cctx_t *cx, const char *s, size_t n, size_t *i,
                      expr_t *e)
{
    static const char *usage = "expected $.increment($.gS.key[, step]) with "
                               "a gS, cS, mS or sS key%s%s";
    size_t j = *i;
    if (j >= n || s[j] != '(')
        return cerr(cx, -EINVAL, usage, "", "");
    if (memchr(s + j, ')', n - j) == NULL)
        return cerr(cx, -EINVAL, "unclosed parenthesis in $.increment(...)%s%s",
                    "", "");
    j++;
    skip_spaces(s, n, &j);
    int dollar = j + 1 < n && s[j] == '$' && s[j + 1] == '.';
    if (dollar)
        j += 2;
    if (j + 3 <= n && s[j + 1] == 'S' && s[j + 2] == '.' &&
        (s[j] == 'g' || s[j] == 'c' || s[j] == 'm' || s[j] == 's')) {
        e->scope = (dp_store_scope_t)s[j];
        j += 3;
    } else if (!dollar && j < n && (is_word(s[j]) || s[j] == '-')) {
        e->scope = DP_SCOPE_GLOBAL; /* the bare form: a gS key */
    } else {
        return cerr(cx, -EINVAL, j >= n ? "unclosed parenthesis in "
                                          "$.increment(...)%s%s"
                                        : usage, "", "");
    }
    size_t ks = j;
    while (j < n && (is_word(s[j]) || s[j] == '-'))
        j++;
    if (j == ks)
        return cerr(cx, -EINVAL, usage, "", "");
    e->key = strndup(s + ks, j - ks);
    if (e->key == NULL)
        return cerr(cx, -ENOMEM, "", "", "");
    e->step = 1;
    skip_spaces(s, n, &j);
    if (j < n && s[j] == ',') {
        json_t *a;
        j++;
        skip_spaces(s, n, &j);
        int rc = parse_arg(s, n, &j, &a);
        if (rc == -ENOMEM)
            return cerr(cx, rc, "", "", "");
        if (rc != 0 || !json_is_integer(a)) {
            json_decref(a);
            return cerr(cx, -EINVAL, j >= n ? "unclosed parenthesis in "
                                              "$.increment(...)%s%s"
                                            : "increment step must be an "
                                              "integer%s%s",
                        "", "");
        }
        e->step = json_integer_value(a);
        json_decref(a);
        skip_spaces(s, n, &j);
    }
    if (j >= n)
        return cerr(cx, -EINVAL, "unclosed parenthesis in $.increment(...)%s%s",
                    "", "");
    if (s[j] != ')')
        return cerr(cx, -EINVAL, usage, "", "");
    *i = j + 1;
    return 0;
}

/* Extent of a path-like expression tail: [A-Za-z0-9_.] and bracket groups
 * ([n], ['key'], ["key"]), plus '-' for header names; trailing dots belong
 * to the text around it. */
static size_t scan_tail(const char *s, size_t n, size_t j, int dash)
{
    while (j < n) {
        char c = s[j];
        if (is_word(c) || c == '.' || (dash && c == '-')) {
            j++;
        } else if (c == '[') {
            size_t k = j + 1;
            if (k < n && (s[k] == '\'' || s[k] == '"')) {
                char q = s[k++];
                while (k + 1 < n && !(s[k] == q && s[k + 1] == ']'))
                    k++;
                if (k + 1 >= n)
                    break;
                j = k + 2;
            } else {
                while (k < n && isdigit((unsigned char)s[k]))
                    k++;
                if (k == j + 1 || k >= n || s[k] != ']')
                    break;
                j = k + 1;
            }
        } else {
            break;
        }
    }
    while (j > 0 && s[j - 1] == '.')
        j--;
    return j;
}

static int parse_tail(cctx_t *cx, const char *w, const char *s, size_t n,
                      size_t *i, expr_t *e)
{
    size_t start = *i;
    size_t end = scan_tail(s, n, start, e->kind == EX_HEADER);
    /* The word was followed by something else than a path. */
    if (end < start)
        end = start;
    const char *t = s + start;
    size_t tl = end - start;
    char msg[160] = "";
    int rc;
    *i = end;
    switch (e->kind) {
    case EX_REQ:
    case EX_SESSION:
        if (e->kind == EX_REQ)
            cx->needs_body = 1;
        if (tl > 0 && t[0] == '.') {
            t++;
            tl--;
        }
        rc = dp_jpath_parse_rel(t, tl, &e->path, msg, sizeof(msg));
        if (rc != 0)
            return cerr(cx, rc, "invalid path in $.%s: %s", w, msg);
        return 0;
    case EX_PATH_PARAM:
    case EX_QUERY_PARAM:
        if (tl < 2 || t[0] != '.')
            return cerr(cx, -EINVAL, "expected a name after $.%s.%s", w, "");
        if (memchr(t, '[', tl) != NULL)
            return cerr(cx, -EINVAL, "$.%s takes a plain name, no index%s", w,
                        "");
        e->key = strndup(t + 1, tl - 1);
        return e->key ? 0 : cerr(cx, -ENOMEM, "", "", "");
    case EX_HEADER:
    case EX_STORE: {
        dp_jpath_t *p = NULL;
        const char *k;
        size_t idx = 0;
        /* "$.gS.k" or "$.reqHeader['X-Id']" */
        size_t skip = tl > 0 && t[0] == '.' ? 1 : 0;
        if (tl < 2 || (t[0] != '.' && t[0] != '['))
            return cerr(cx, -EINVAL, "expected a name after $.%s.%s", w, "");
        rc = dp_jpath_parse_rel(t + skip, tl - skip, &p, msg, sizeof(msg));
        if (rc != 0)
            return cerr(cx, rc, "invalid path in $.%s: %s", w, msg);
        if (!dp_jpath_seg_key(p, 0, &k, &idx)) {
            dp_jpath_free(p);
            return cerr(cx, -EINVAL, "expected a name after $.%s.%s", w, "");
        }
        e->key = strdup(k);
        if (e->key == NULL) {
            dp_jpath_free(p);
            return cerr(cx, -ENOMEM, "", "", "");
        }
        if (e->kind == EX_STORE) {
            e->path = p; /* segment 0 is the key, the rest goes inside */
            return 0;
        }
        for (char *c = e->key; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        e->index = -1;
        size_t ns = dp_jpath_nseg(p);
        int ok = ns == 1 || (ns == 2 && !dp_jpath_seg_key(p, 1, &k, &idx) &&
                             idx <= (size_t)INT32_MAX);
        dp_jpath_free(p);
        if (!ok)
            return cerr(cx, -EINVAL, "expected $.reqHeader.Name or "
                                     "$.reqHeader.Name[n]%s%s", "", "");
        if (ns == 2)
            e->index = (long)idx;
        return 0;
    }
    default:
        return 0;
    }
}

/* Tries to read an expression at s[*i] == '$', s[*i + 1] == '.'. Returns 0
 * with *out NULL when the word is not one of ours (the text is literal). */
static int parse_expr(cctx_t *cx, const char *s, size_t n, size_t *i,
                      expr_t **out)
{
    size_t ws = *i + 2, we = ws;
    *out = NULL;
    while (we < n && is_word(s[we]))
        we++;
    ex_kind_t kind = EX_NONE;
    char w[16] = "";
    for (size_t k = 0; k < sizeof(ex_words) / sizeof(ex_words[0]); k++) {
        if (strlen(ex_words[k].word) == we - ws &&
            memcmp(ex_words[k].word, s + ws, we - ws) == 0) {
            kind = ex_words[k].kind;
            snprintf(w, sizeof(w), "%s", ex_words[k].word);
            break;
        }
    }
    if (kind == EX_NONE)
        return 0;
    expr_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return cerr(cx, -ENOMEM, "", "", "");
    e->kind = kind;
    if (kind == EX_STORE)
        e->scope = (dp_store_scope_t)w[0];
    size_t j = we;
    int rc;
    if (kind == EX_FAKE)
        rc = parse_fake(cx, s, n, &j, e);
    else if (kind == EX_INCR)
        rc = parse_incr(cx, s, n, &j, e);
    else
        rc = parse_tail(cx, w, s, n, &j, e);
    if (rc != 0) {
        expr_free(e);
        return rc;
    }
    *i = j;
    *out = e;
    return 0;
}

/* ---- compile: strings and values ------------------------------------------ */

typedef struct lbuf {
    char *p;
    size_t n, cap;
} lbuf_t;

static int lb_put(lbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int push_part(node_t *nd, size_t *cap, char *lit, size_t len,
                     expr_t *ex)
{
    if (nd->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        part_t *p = realloc(nd->parts, nc * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        nd->parts = p;
        *cap = nc;
    }
    nd->parts[nd->n].lit = lit;
    nd->parts[nd->n].len = len;
    nd->parts[nd->n].ex = ex;
    nd->n++;
    return 0;
}

/* Moves the pending literal text into a part. */
static int flush_lit(node_t *nd, size_t *cap, lbuf_t *lit)
{
    if (lit->n == 0)
        return 0;
    char *p = malloc(lit->n + 1);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, lit->p, lit->n + 1);
    if (push_part(nd, cap, p, lit->n, NULL) != 0) {
        free(p);
        return -ENOMEM;
    }
    lit->n = 0;
    return 0;
}

static int compile_string(cctx_t *cx, const json_t *v, node_t **out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), i = 0, cap = 0;
    lbuf_t lit = {0};
    int rc = 0;
    node_t *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return cerr(cx, -ENOMEM, "", "", "");
    nd->kind = N_INTERP;
    while (i < n) {
        if (s[i] == '$' && i + 1 < n && s[i + 1] == '$') {
            rc = lb_put(&lit, "$", 1);
            i += 2;
        } else if (s[i] == '$' && i + 1 < n && s[i + 1] == '.') {
            expr_t *e;
            size_t j = i;
            rc = parse_expr(cx, s, n, &j, &e);
            if (rc != 0)
                goto fail;
            if (e == NULL) {
                rc = lb_put(&lit, "$", 1);
                i++;
            } else {
                rc = flush_lit(nd, &cap, &lit);
                if (rc == 0)
                    rc = push_part(nd, &cap, NULL, 0, e);
                if (rc != 0)
                    expr_free(e);
                i = j;
            }
        } else {
            /* Copy the run up to the next '$' in one go. */
            const char *d = memchr(s + i + 1, '$', n - i - 1);
            size_t run = d ? (size_t)(d - (s + i)) : n - i;
            rc = lb_put(&lit, s + i, run);
            i += run;
        }
        if (rc != 0)
            goto fail;
    }
    if ((rc = flush_lit(nd, &cap, &lit)) != 0)
        goto fail;
    free(lit.p);
    lit.p = NULL;
    if (nd->n == 1 && nd->parts[0].ex != NULL) {
        /* Exactly one expression: renders as the value with its type. */
        nd->kind = N_WHOLE;
        nd->ex = nd->parts[0].ex;
        free(nd->parts);
        nd->parts = NULL;
        nd->n = 0;
    } else if (nd->n <= 1) {
        /* Text only ("$$" already unescaped). */
        json_t *c = nd->n ? json_stringn_nocheck(nd->parts[0].lit,
                                                 nd->parts[0].len)
                          : json_string("");
        if (c == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        node_free(nd);
        nd = calloc(1, sizeof(*nd));
        if (nd == NULL) {
            json_decref(c);
            return cerr(cx, -ENOMEM, "", "", "");
        }
        nd->kind = N_CONST;
        nd->constant = c;
    }
    *out = nd;
    return 0;
fail:
    free(lit.p);
    node_free(nd);
    if (rc == -ENOMEM)
        cerr(cx, rc, "", "", "");
    return rc;
}

static int compile_node(cctx_t *cx, const json_t *v, node_t **out);

/* Appends ".key" or "[i]" to the field path; returns the old length. */
static size_t field_push(cctx_t *cx, const char *key, size_t idx)
{
    size_t old = cx->flen;
    size_t room = sizeof(cx->field) - cx->flen;
    int w;
    if (key != NULL)
        w = snprintf(cx->field + cx->flen, room, "%s%s",
                     cx->flen ? "." : "", key);
    else
        w = snprintf(cx->field + cx->flen, room, "[%zu]", idx);
    cx->flen += (w < 0 || (size_t)w >= room) ? room - 1 : (size_t)w;
    return old;
}

static void field_pop(cctx_t *cx, size_t old)
{
    cx->flen = old;
    cx->field[old] = '\0';
}

static int compile_container(cctx_t *cx, const json_t *v, node_t **out)
{
    int obj = json_is_object(v);
    size_t n = obj ? json_object_size(v) : json_array_size(v);
    node_t *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return cerr(cx, -ENOMEM, "", "", "");
    nd->kind = obj ? N_OBJECT : N_ARRAY;
    nd->kids = calloc(n ? n : 1, sizeof(*nd->kids));
    if (obj) {
        nd->keys = calloc(n ? n : 1, sizeof(*nd->keys));
        nd->keylens = calloc(n ? n : 1, sizeof(*nd->keylens));
    }
    if (nd->kids == NULL || (obj && (!nd->keys || !nd->keylens))) {
        node_free(nd);
        return cerr(cx, -ENOMEM, "", "", "");
    }
    int all_const = 1, rc = 0;
    if (obj) {
        const char *k;
        size_t kl;
        json_t *x;
        json_object_keylen_foreach((json_t *)v, k, kl, x) {
            size_t old = field_push(cx, k, 0);
            rc = compile_node(cx, x, &nd->kids[nd->n]);
            field_pop(cx, old);
            if (rc != 0)
                break;
            nd->keys[nd->n] = malloc(kl + 1);
            nd->keylens[nd->n] = kl;
            nd->n++;
            if (nd->keys[nd->n - 1] == NULL) {
                rc = cerr(cx, -ENOMEM, "", "", "");
                break;
            }
            memcpy(nd->keys[nd->n - 1], k, kl + 1);
            all_const &= nd->kids[nd->n - 1]->kind == N_CONST;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t old = field_push(cx, NULL, i);
            rc = compile_node(cx, json_array_get(v, i), &nd->kids[i]);
            field_pop(cx, old);
            if (rc != 0)
                break;
            nd->n++;
            all_const &= nd->kids[i]->kind == N_CONST;
        }
    }
    if (rc != 0) {
        node_free(nd);
        return rc;
    }
    if (all_const) {
        /* No expression below: keep one constant and copy it per render.
         * Built from the children so "$$" stays unescaped. */
        json_t *c = obj ? json_object() : json_array();
        for (size_t i = 0; c != NULL && i < nd->n; i++) {
            json_t *kid = json_incref(nd->kids[i]->constant);
            int r = obj ? json_object_setn_new_nocheck(c, nd->keys[i],
                                                       nd->keylens[i], kid)
                        : json_array_append_new(c, kid);
            if (r != 0) {
                json_decref(c);
                c = NULL;
            }
        }
        node_free(nd);
        if (c == NULL)
            return cerr(cx, -ENOMEM, "", "", "");
        nd = calloc(1, sizeof(*nd));
        if (nd == NULL) {
            json_decref(c);
            return cerr(cx, -ENOMEM, "", "", "");
        }
        nd->kind = N_CONST;
        nd->constant = c;
    }
    *out = nd;
    return 0;
}

static int compile_node(cctx_t *cx, const json_t *v, node_t **out)
{
    *out = NULL;
    if (json_is_string(v))
        return compile_string(cx, v, out);
    if (json_is_object(v) || json_is_array(v))
        return compile_container(cx, v, out);
    node_t *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return cerr(cx, -ENOMEM, "", "", "");
    nd->kind = N_CONST;
    nd->constant = json_deep_copy(v);
    if (nd->constant == NULL) {
        free(nd);
        return cerr(cx, -ENOMEM, "", "", "");
    }
    *out = nd;
    return 0;
}

/* Fills csize of every constant once, so a render's budget never walks a
 * constant to count it. */
static void size_consts(node_t *nd)
{
    if (nd->kind == N_CONST)
        nd->csize = json_dumpb(nd->constant, NULL, 0,
                               JSON_COMPACT | JSON_ENCODE_ANY);
    if (nd->kind == N_OBJECT || nd->kind == N_ARRAY)
        for (size_t i = 0; i < nd->n; i++)
            size_consts(nd->kids[i]);
}

int dp_tmpl_compile(const json_t *value, const char *field, dp_tmpl_t **out,
                    dp_err_t *err)
{
    *out = NULL;
    cctx_t *cx = calloc(1, sizeof(*cx));
    dp_tmpl_t *t = calloc(1, sizeof(*t));
    if (cx == NULL || t == NULL) {
        free(cx);
        free(t);
        dp_err_set(err, 500, "internal", field, "out of memory");
        return -ENOMEM;
    }
    snprintf(cx->field, sizeof(cx->field), "%s", field ? field : "");
    cx->flen = strlen(cx->field);
    cx->err = err;
    int rc;
    if (value == NULL) {
        dp_err_invalid(err, field, "missing template value");
        rc = -EINVAL;
    } else {
        rc = compile_node(cx, value, &t->root);
    }
    t->needs_body = cx->needs_body;
    free(cx);
    if (rc != 0) {
        free(t);
        return rc;
    }
    size_consts(t->root);
    *out = t;
    return 0;
}

/* ---- render ----------------------------------------------------------------- */

/* One render: the env, what is left of its output budget, and the store
 * values it read. */
typedef struct rctx {
    const dp_tmpl_env_t *env;
    size_t left; /* bytes still allowed; unused when env->max_bytes is 0 */
    int over;    /* the budget ran out: the render is refused */
    /* "<scope><key>" -> the value store_get gave (owned), or JSON false in
     * missing for a key it had none for; NULL until the first read */
    json_t *seen, *missing;
} rctx_t;

/* The store value of scope/key for this render: read once, then served
 * from the render's own copy (a read copies the value out whole, and a
 * template may name the same large value many times). Borrowed, valid
 * until the render ends or the key is incremented; NULL when absent. */
static const json_t *store_read(rctx_t *rc, dp_store_scope_t scope,
                                const char *key)
{
    char stack[128];
    size_t kl = strlen(key);
    char *ck = kl + 2 <= sizeof(stack) ? stack : malloc(kl + 2);
    if (ck == NULL)
        return NULL;
    ck[0] = (char)scope;
    memcpy(ck + 1, key, kl + 1);
    const json_t *v = NULL;
    if (rc->seen == NULL) {
        rc->seen = json_object();
        rc->missing = json_object();
    }
    if ((v = json_object_get(rc->seen, ck)) == NULL &&
        json_object_get(rc->missing, ck) == NULL) {
        json_t *got = rc->env->store_get(rc->env->ud, scope, key);
        if (got == NULL)
            json_object_set_new(rc->missing, ck, json_false());
        else if (json_object_set_new(rc->seen, ck, got) == 0)
            v = got;
    }
    if (ck != stack)
        free(ck);
    return v;
}

/* An increment changed scope/key: the next read goes to the store. */
static void store_forget(rctx_t *rc, dp_store_scope_t scope, const char *key)
{
    char stack[128];
    size_t kl = strlen(key);
    char *ck = kl + 2 <= sizeof(stack) ? stack : malloc(kl + 2);
    if (ck == NULL || rc->seen == NULL) {
        if (ck != stack)
            free(ck);
        return;
    }
    ck[0] = (char)scope;
    memcpy(ck + 1, key, kl + 1);
    json_object_del(rc->seen, ck);
    json_object_del(rc->missing, ck);
    if (ck != stack)
        free(ck);
}

/* Evaluates e. Returns a borrowed value valid while *hold lives (the caller
 * decrefs *hold), or NULL when the data is missing. */
static const json_t *eval_expr(const expr_t *e, rctx_t *rc, json_t **hold)
{
    const dp_tmpl_env_t *env = rc->env;
    const json_t *v;
    *hold = NULL;
    switch (e->kind) {
    case EX_FAKE:
        *hold = dp_faker_call_idx(e->faker, e->args, env->rng, env->now);
        return *hold;
    case EX_PATH_PARAM:
        return json_is_object(env->path_params)
                   ? json_object_get(env->path_params, e->key)
                   : NULL;
    case EX_QUERY_PARAM:
        return json_is_object(env->query_params)
                   ? json_object_get(env->query_params, e->key)
                   : NULL;
    case EX_HEADER:
        v = json_is_object(env->headers) ? json_object_get(env->headers, e->key)
                                         : NULL;
        if (json_is_array(v))
            return json_array_get(v, e->index < 0 ? 0 : (size_t)e->index);
        /* Tolerate a name -> string header object. */
        return e->index <= 0 ? v : NULL;
    case EX_REQ:
        return env->req ? dp_jpath_get(e->path, env->req) : NULL;
    case EX_SESSION:
        return env->session ? dp_jpath_get(e->path, env->session) : NULL;
    case EX_STORE:
        if (env->store_get == NULL)
            return NULL;
        v = store_read(rc, e->scope, e->key);
        return v ? dp_jpath_get_from(e->path, 1, v) : NULL;
    case EX_INCR:
        if (env->store_incr == NULL)
            return NULL;
        *hold = json_integer(env->store_incr(env->ud, e->scope, e->key,
                                             e->step));
        store_forget(rc, e->scope, e->key);
        return *hold;
    default:
        return NULL;
    }
}


/* Takes n bytes of the budget; 0, or -1 (and over) when they are not there.
 * Charged before anything of that size is allocated. */
static int charge(rctx_t *rc, size_t n)
{
    if (rc->env->max_bytes == 0)
        return 0;
    if (rc->over || n > rc->left) {
        rc->over = 1;
        return -1;
    }
    rc->left -= n;
    return 0;
}

/* Bytes of v as compact JSON text, counted without building it. */
static size_t json_size(const json_t *v)
{
    return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

static json_t *render_whole(const expr_t *e, rctx_t *rc)
{
    json_t *hold;
    const json_t *v = eval_expr(e, rc, &hold);
    json_t *r;
    if (charge(rc, v ? json_size(v) : 4) < 0)
        r = NULL;
    else if (v == NULL)
        r = json_null();
    else if (v == hold && hold->refcount == 1)
        return hold; /* freshly made (faker, increment, private store copy) */
    else
        r = json_deep_copy(v); /* never share request or store data */
    json_decref(hold);
    return r;
}

static json_t *render_interp(const node_t *nd, rctx_t *rc)
{
    char stack[256];
    char *buf = stack;
    size_t len = 0, cap = sizeof(stack);
    json_t *r = NULL;
    if (charge(rc, 2) < 0) /* the quotes */
        return NULL;
    for (size_t i = 0; i < nd->n; i++) {
        const part_t *p = &nd->parts[i];
        json_t *hold = NULL;
        const json_t *v = NULL;
        const char *src = p->lit;
        size_t sl = p->len;
        if (p->ex != NULL) {
            v = eval_expr(p->ex, rc, &hold);
            if (v == NULL) {
                json_decref(hold);
                continue;
            }
            if (json_is_string(v)) {
                src = json_string_value(v);
                sl = json_string_length(v);
            } else {
                src = NULL;
                sl = dp_json_text(v, NULL, 0);
            }
        }
        if (charge(rc, sl) < 0) {
            json_decref(hold);
            goto out;
        }
        if (len + sl + 1 > cap) {
            size_t nc = cap * 2;
            while (nc < len + sl + 1)
                nc *= 2;
            char *nb = buf == stack ? malloc(nc) : realloc(buf, nc);
            if (nb == NULL) {
                json_decref(hold);
                goto out;
            }
            if (buf == stack)
                memcpy(nb, stack, len);
            buf = nb;
            cap = nc;
        }
        if (src != NULL)
            memcpy(buf + len, src, sl);
        else
            dp_json_text(v, buf + len, sl + 1);
        len += sl;
        json_decref(hold);
    }
    r = json_stringn_nocheck(len ? buf : "", len);
out:
    if (buf != stack)
        free(buf);
    return r;
}

static json_t *render_node(const node_t *nd, rctx_t *rc)
{
    switch (nd->kind) {
    case N_CONST:
        if (charge(rc, nd->csize) < 0)
            return NULL;
        return json_deep_copy(nd->constant);
    case N_WHOLE:
        return render_whole(nd->ex, rc);
    case N_INTERP:
        return render_interp(nd, rc);
    case N_OBJECT:
    case N_ARRAY: {
        if (charge(rc, 2) < 0) /* brackets */
            return NULL;
        json_t *c = nd->kind == N_OBJECT ? json_object() : json_array();
        for (size_t i = 0; c != NULL && i < nd->n; i++) {
            /* separator, and a key with its quotes and colon */
            size_t extra = 1 + (nd->kind == N_OBJECT ? nd->keylens[i] + 3 : 0);
            json_t *kid = charge(rc, extra) < 0 ? NULL
                                                : render_node(nd->kids[i], rc);
            int r = kid == NULL ? -1
                    : nd->kind == N_OBJECT
                        ? json_object_setn_new_nocheck(c, nd->keys[i],
                                                       nd->keylens[i], kid)
                        : json_array_append_new(c, kid);
            if (r != 0) {
                json_decref(c);
                c = NULL;
            }
        }
        return c;
    }
    }
    return NULL;
}

int dp_tmpl_render_ex(const dp_tmpl_t *t, const dp_tmpl_env_t *env,
                      json_t **out)
{
    static const dp_tmpl_env_t empty;
    *out = NULL;
    if (t == NULL)
        return -EINVAL;
    rctx_t rc = {env ? env : &empty, env ? env->max_bytes : 0, 0, NULL, NULL};
    *out = render_node(t->root, &rc);
    json_decref(rc.seen);
    json_decref(rc.missing);
    if (rc.over) {
        json_decref(*out);
        *out = NULL;
        return -EFBIG;
    }
    return *out ? 0 : -ENOMEM;
}

json_t *dp_tmpl_render(const dp_tmpl_t *t, const dp_tmpl_env_t *env)
{
    json_t *out = NULL;
    dp_tmpl_render_ex(t, env, &out);
    return out;
}
