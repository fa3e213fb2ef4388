/*
 * Coercion of values (spec sections 3.5, 6.1.2, 6.4.1): request variables
 * and argument literals to the schema's input types, result leaves to
 * their scalar or enum type (graphql-js 16's serialize rules), and the
 * printing of values in messages (inspect) and in introspection
 * (defaultValue, as print(astFromValue(...))). Messages are graphql-js's.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_exec_int.h"
#include "gql_internal.h"

/* Nesting bound of input values (JSON variables, literals): the parser
 * bounds literals already; JSON variables come from jansson, whose own
 * bound is 2048. */
#define COERCE_MAX_DEPTH 128u
/* graphql-js's maxErrors of coerceVariableValues. */
#define VAR_MAX_ERRORS 50u

/* ---- Text buffer ---------------------------------------------------------- */

void gql_tb_putn(gql_tbuf_t *b, const char *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > GQL_TBUF_MAX)
        n = GQL_TBUF_MAX > b->len ? GQL_TBUF_MAX - b->len : 0;
    if (n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gql_tb_puts(gql_tbuf_t *b, const char *s)
{
    gql_tb_putn(b, s, strlen(s));
}

void gql_tb_printf(gql_tbuf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        gql_tb_putn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gql_tb_putn(b, big, (size_t)n);
    free(big);
}

const char *gql_tb_str(gql_tbuf_t *b)
{
    return b->p ? b->p : "";
}

void gql_tb_free(gql_tbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* ---- Printing --------------------------------------------------------------- */

/* Number.prototype.toString: the shortest digits that read back as the
 * same double, in plain notation for exponents in [-7, 21), else
 * d.ddde+X. */
void gql_tb_jsnum(gql_tbuf_t *b, double v)
{
    if (isnan(v)) {
        gql_tb_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        gql_tb_puts(b, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (v == 0) {
        gql_tb_puts(b, "0");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *s = e;
    if (*s == '-') {
        gql_tb_putn(b, "-", 1);
        s++;
    }
    char digits[24];
    size_t k = 0;
    for (; *s && *s != 'e'; s++)
        if (isdigit((unsigned char)*s) && k < sizeof digits - 1)
            digits[k++] = *s;
    digits[k] = '\0';
    while (k > 1 && digits[k - 1] == '0')
        digits[--k] = '\0';
    int n = (*s == 'e' ? atoi(s + 1) : 0) + 1; /* v = 0.digits x 10^n */
    if ((int)k <= n && n <= 21) {
        gql_tb_putn(b, digits, k);
        for (int i = (int)k; i < n; i++)
            gql_tb_putn(b, "0", 1);
    } else if (0 < n && n <= 21) {
        gql_tb_putn(b, digits, (size_t)n);
        gql_tb_putn(b, ".", 1);
        gql_tb_putn(b, digits + n, k - (size_t)n);
    } else if (-6 < n && n <= 0) {
        gql_tb_puts(b, "0.");
        for (int i = 0; i < -n; i++)
            gql_tb_putn(b, "0", 1);
        gql_tb_putn(b, digits, k);
    } else {
        gql_tb_putn(b, digits, 1);
        if (k > 1) {
            gql_tb_putn(b, ".", 1);
            gql_tb_putn(b, digits + 1, k - 1);
        }
        gql_tb_printf(b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
}

/* JSON.stringify of a string. */
static void tb_jsstring(gql_tbuf_t *b, const char *s, size_t len)
{
    gql_tb_putn(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': gql_tb_puts(b, "\\\""); break;
        case '\\': gql_tb_puts(b, "\\\\"); break;
        case '\b': gql_tb_puts(b, "\\b"); break;
        case '\f': gql_tb_puts(b, "\\f"); break;
        case '\n': gql_tb_puts(b, "\\n"); break;
        case '\r': gql_tb_puts(b, "\\r"); break;
        case '\t': gql_tb_puts(b, "\\t"); break;
        default:
            if (c < 0x20)
                gql_tb_printf(b, "\\u%04x", c);
            else
                gql_tb_putn(b, (const char *)&s[i], 1);
        }
    }
    gql_tb_putn(b, "\"", 1);
}

static void inspect_at(gql_tbuf_t *b, const json_t *v, unsigned depth)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        tb_jsstring(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        gql_tb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        gql_tb_jsnum(b, json_real_value(v));
        break;
    case JSON_TRUE: gql_tb_puts(b, "true"); break;
    case JSON_FALSE: gql_tb_puts(b, "false"); break;
    case JSON_NULL: gql_tb_puts(b, "null"); break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            gql_tb_puts(b, "[]");
            break;
        }
        if (depth > 2) {
            gql_tb_puts(b, "[Array]");
            break;
        }
        size_t shown = n < 10 ? n : 10;
        gql_tb_putn(b, "[", 1);
        for (size_t i = 0; i < shown; i++) {
            if (i)
                gql_tb_puts(b, ", ");
            inspect_at(b, json_array_get(v, i), depth + 1);
        }
        if (n - shown == 1)
            gql_tb_puts(b, ", ... 1 more item");
        else if (n > shown)
            gql_tb_printf(b, ", ... %zu more items", n - shown);
        gql_tb_putn(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            gql_tb_puts(b, "{}");
            break;
        }
        if (depth > 2) {
            gql_tb_puts(b, "[Object]");
            break;
        }
        gql_tb_puts(b, "{ ");
        const char *k;
        json_t *m;
        int first = 1;
        json_object_foreach((json_t *)v, k, m) {
            if (!first)
                gql_tb_puts(b, ", ");
            first = 0;
            gql_tb_puts(b, k);
            gql_tb_puts(b, ": ");
            inspect_at(b, m, depth + 1);
        }
        gql_tb_puts(b, " }");
        break;
    }
    }
}

void gql_tb_inspect(gql_tbuf_t *b, const json_t *v)
{
    if (!v)
        gql_tb_puts(b, "undefined");
    else
        inspect_at(b, v, 1);
}

/* Type references are bounded by the parser's depth limit. */
void gql_tb_typeref(gql_tbuf_t *b, const gql_type_ref_t *t)
{
    if (!t) {
        gql_tb_puts(b, "?");
        return;
    }
    switch (t->kind) {
    case GQL_T_NAMED:
        gql_tb_puts(b, t->name ? t->name : "?");
        break;
    case GQL_T_LIST:
        gql_tb_putn(b, "[", 1);
        gql_tb_typeref(b, t->of);
        gql_tb_putn(b, "]", 1);
        break;
    case GQL_T_NON_NULL:
        gql_tb_typeref(b, t->of);
        gql_tb_putn(b, "!", 1);
        break;
    }
}

/* printString: control characters, '"', '\' and U+007F..U+009F escaped. */
void gql_tb_gqlstring(gql_tbuf_t *b, const char *s, size_t len)
{
    static const char *const named[0x20] = {
        [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
    gql_tb_putn(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) {
            if (named[c])
                gql_tb_puts(b, named[c]);
            else
                gql_tb_printf(b, "\\u%04X", c);
        } else if (c == '"') {
            gql_tb_puts(b, "\\\"");
        } else if (c == '\\') {
            gql_tb_puts(b, "\\\\");
        } else if (c == 0x7f) {
            gql_tb_puts(b, "\\u007F");
        } else if (c == 0xc2 && i + 1 < len &&
                   (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            gql_tb_printf(b, "\\u00%02X", (unsigned char)s[i + 1]);
            i++;
        } else {
            gql_tb_putn(b, (const char *)&s[i], 1);
        }
    }
    gql_tb_putn(b, "\"", 1);
}

/* print() of a literal, for "Argument \"x\" has invalid value ...". */
static void tb_literal(gql_tbuf_t *b, const gql_value_t *v, unsigned depth)
{
    if (!v || depth > COERCE_MAX_DEPTH)
        return;
    switch (v->kind) {
    case GQL_V_VARIABLE: gql_tb_printf(b, "$%s", v->text); break;
    case GQL_V_INT:
    case GQL_V_FLOAT:
    case GQL_V_ENUM: gql_tb_puts(b, v->text ? v->text : ""); break;
    case GQL_V_STRING: gql_tb_gqlstring(b, v->text ? v->text : "", v->len); break;
    case GQL_V_BOOLEAN: gql_tb_puts(b, v->boolean ? "true" : "false"); break;
    case GQL_V_NULL: gql_tb_puts(b, "null"); break;
    case GQL_V_LIST:
        gql_tb_putn(b, "[", 1);
        for (size_t i = 0; i < v->n_items; i++) {
            if (i)
                gql_tb_puts(b, ", ");
            tb_literal(b, v->items[i], depth + 1);
        }
        gql_tb_putn(b, "]", 1);
        break;
    case GQL_V_OBJECT:
        gql_tb_putn(b, "{", 1);
        for (size_t i = 0; i < v->n_fields; i++) {
            if (i)
                gql_tb_puts(b, ", ");
            gql_tb_printf(b, "%s: ", v->fields[i].name);
            tb_literal(b, v->fields[i].value, depth + 1);
        }
        gql_tb_putn(b, "}", 1);
        break;
    }
}

/* ---- Numbers ------------------------------------------------------------------ */

/* JavaScript's Number(string): whitespace trimmed, "" -> 0, Infinity,
 * 0x / 0o / 0b integers, decimal literals; 0 when the result is NaN. */
static int js_number(const char *s, size_t len, double *out)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0) {
        *out = 0;
        return 1;
    }
    if (len > 400)
        return 0;
    char buf[408];
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (strcmp(p, "Infinity") == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    if (p == buf && p[0] == '0' && (p[1] == 'x' || p[1] == 'X' || p[1] == 'o' ||
                                    p[1] == 'O' || p[1] == 'b' || p[1] == 'B')) {
        int base = (p[1] == 'x' || p[1] == 'X') ? 16 : (p[1] == 'o' || p[1] == 'O') ? 8 : 2;
        if (!p[2])
            return 0;
        double r = 0;
        for (const char *q = p + 2; *q; q++) {
            int d = isdigit((unsigned char)*q) ? *q - '0'
                    : isxdigit((unsigned char)*q) ? tolower((unsigned char)*q) - 'a' + 10
                                                  : 99;
            if (d >= base)
                return 0;
            r = r * base + d;
        }
        *out = r;
        return 1;
    }
    /* decimal: digits [. digits] | . digits, then [eE][+-]digits */
    const char *q = p;
    int nd = 0;
    while (isdigit((unsigned char)*q)) {
        q++;
        nd++;
    }
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q)) {
            q++;
            nd++;
        }
    }
    if (nd == 0)
        return 0;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!isdigit((unsigned char)*q))
            return 0;
        while (isdigit((unsigned char)*q))
            q++;
    }
    if (*q)
        return 0;
    *out = strtod(buf, NULL);
    return 1;
}

/* The double of a JSON number; 0 if v is not a number. */
static int json_num(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return 1;
    }
    return 0;
}

/* Number.isInteger, without libm (dp_gql links only jansson): beyond
 * 2^53 every double is an integer. */
static int is_integral(double d)
{
    if (!isfinite(d))
        return 0;
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return 1;
    return (double)(long long)d == d;
}

static int in_int32(double d)
{
    return d >= -2147483648.0 && d <= 2147483647.0;
}

static json_t *json_jsnum_string(double d)
{
    gql_tbuf_t t = {0};
    gql_tb_jsnum(&t, d);
    json_t *r = t.oom ? NULL : json_string(gql_tb_str(&t));
    gql_tb_free(&t);
    return r;
}

static int name_is(const gql_stype_t *t, const char *n)
{
    return t && t->kind == GQL_K_SCALAR && t->name && strcmp(t->name, n) == 0;
}

/* graphql-js's didYouMean(suggestionList(input, names)), appended. */
static void tb_did_you_mean(gql_tbuf_t *m, const char *input, const char **names,
                            size_t n, const char *sub)
{
    const char *best[GQL_MAX_SUGGESTIONS];
    size_t k = gql_suggest(input, names, n, best, GQL_MAX_SUGGESTIONS);
    if (!k)
        return;
    char buf[1024] = "";
    gql_did_you_mean(buf, sizeof buf, sub, best, k);
    gql_tb_puts(m, buf);
}

/* didYouMeanEnumValue: the enum's values close to `input`. */
static void tb_suggest_enum(gql_tbuf_t *m, const gql_stype_t *t, const char *input)
{
    const char **names = t->n_values ? malloc(t->n_values * sizeof *names) : NULL;
    if (!names)
        return;
    for (size_t i = 0; i < t->n_values; i++)
        names[i] = t->values[i].name;
    tb_did_you_mean(m, input, names, t->n_values, "the enum value");
    free(names);
}

static void tb_suggest_field(gql_tbuf_t *m, const gql_stype_t *t, const char *input)
{
    const char **names =
        t->n_input_fields ? malloc(t->n_input_fields * sizeof *names) : NULL;
    if (!names)
        return;
    for (size_t i = 0; i < t->n_input_fields; i++)
        names[i] = t->input_fields[i].name;
    tb_did_you_mean(m, input, names, t->n_input_fields, NULL);
    free(names);
}

/* ---- Result coercion (serialize) ------------------------------------------------ */

static json_t *serialize_err(gql_tbuf_t *msg, const char *what, const json_t *v)
{
    gql_tb_puts(msg, what);
    gql_tb_inspect(msg, v);
    return NULL;
}

/* Int / Float serialize: booleans -> 1/0, non-empty strings through
 * Number(). */
static int serialize_number(const json_t *v, double *d)
{
    if (json_is_boolean(v)) {
        *d = json_is_true(v) ? 1 : 0;
        return 1;
    }
    if (json_is_string(v) && json_string_length(v) > 0)
        return js_number(json_string_value(v), json_string_length(v), d);
    return json_num(v, d);
}

json_t *gql_serialize_leaf(const gql_stype_t *t, const json_t *v,
                           gql_tbuf_t *msg)
{
    double d;
    if (t->kind == GQL_K_ENUM) {
        const gql_senum_value_t *ev =
            json_is_string(v) ? gql_stype_enum_value(t, json_string_value(v)) : NULL;
        if (ev)
            return json_string(ev->name);
        gql_tb_printf(msg, "Enum \"%s\" cannot represent value: ", t->name);
        gql_tb_inspect(msg, v);
        return NULL;
    }
    if (name_is(t, "Int")) {
        if (!serialize_number(v, &d) || !is_integral(d))
            return serialize_err(msg, "Int cannot represent non-integer value: ", v);
        if (!in_int32(d))
            return serialize_err(
                msg, "Int cannot represent non 32-bit signed integer value: ", v);
        return json_integer((json_int_t)d);
    }
    if (name_is(t, "Float")) {
        if (!serialize_number(v, &d) || !isfinite(d))
            return serialize_err(msg, "Float cannot represent non numeric value: ", v);
        return json_real(d);
    }
    if (name_is(t, "String")) {
        if (json_is_string(v))
            return json_stringn(json_string_value(v), json_string_length(v));
        if (json_is_boolean(v))
            return json_string(json_is_true(v) ? "true" : "false");
        if (json_num(v, &d))
            return json_is_integer(v)
                       ? json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v))
                       : json_jsnum_string(d);
        return serialize_err(msg, "String cannot represent value: ", v);
    }
    if (name_is(t, "Boolean")) {
        if (json_is_boolean(v))
            return json_boolean(json_is_true(v));
        if (json_num(v, &d))
            return json_boolean(d != 0);
        return serialize_err(msg, "Boolean cannot represent a non boolean value: ", v);
    }
    if (name_is(t, "ID")) {
        if (json_is_string(v))
            return json_stringn(json_string_value(v), json_string_length(v));
        if (json_is_integer(v))
            return json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (json_num(v, &d) && is_integral(d))
            return json_jsnum_string(d);
        return serialize_err(msg, "ID cannot represent value: ", v);
    }
    /* A custom scalar: whatever the answer holds. */
    return json_deep_copy(v);
}

/* ---- Input coercion of JSON values (coerceInputValue) --------------------------- */

/* A path inside a variable's value, innermost last. */
typedef struct ipath {
    const struct ipath *prev;
    const char *key; /* NULL: index */
    size_t index;
} ipath_t;

typedef struct icx {
    const gql_schema_t *s;
    const char *var;         /* the variable's name */
    const gql_variable_def_t *def;
    gql_cerr_t *err;
    int failed;
} icx_t;

static void tb_ipath(gql_tbuf_t *b, const ipath_t *p)
{
    if (!p)
        return;
    tb_ipath(b, p->prev);
    if (p->key)
        gql_tb_printf(b, ".%s", p->key);
    else
        gql_tb_printf(b, "[%zu]", p->index);
}

static json_t *error_obj(const char *message, gql_loc_t loc)
{
    json_t *e = json_pack("{s:s}", "message", message);
    if (e && loc.line)
        json_object_set_new(e, "locations",
                            json_pack("[{s:I,s:I}]", "line", (json_int_t)loc.line,
                                      "column", (json_int_t)loc.column));
    return e;
}

/* Appends one error to the sink; 0, or -1 once the limit is passed. */
static int cerr_add(gql_cerr_t *err, const char *message, gql_loc_t loc)
{
    if (err->aborted)
        return -1;
    size_t max = err->max ? err->max : VAR_MAX_ERRORS;
    if (json_array_size(err->errors) >= max) {
        gql_loc_t none = {0, 0};
        json_array_append_new(err->errors, error_obj(
            "Too many errors processing variables, error limit reached. "
            "Execution aborted.", none));
        err->aborted = 1;
        return -1;
    }
    json_array_append_new(err->errors, error_obj(message, loc));
    return 0;
}

/* onError of coerceVariableValues: the invalid value, where it is inside
 * the variable, and why. */
static void icx_error(icx_t *c, const ipath_t *path, const json_t *invalid,
                      const char *why)
{
    gql_tbuf_t m = {0};
    gql_tb_printf(&m, "Variable \"$%s\" got invalid value ", c->var);
    gql_tb_inspect(&m, invalid);
    if (path) {
        gql_tb_printf(&m, " at \"%s", c->var);
        tb_ipath(&m, path);
        gql_tb_putn(&m, "\"", 1);
    }
    gql_tb_printf(&m, "; %s", why);
    cerr_add(c->err, gql_tb_str(&m), c->def->loc);
    gql_tb_free(&m);
    c->failed = 1;
}

/* parseValue of a leaf type for a JSON input. NULL with msg filled. */
static json_t *parse_leaf_value(const gql_stype_t *t, const json_t *v,
                                gql_tbuf_t *msg)
{
    double d;
    if (t->kind == GQL_K_ENUM) {
        if (!json_is_string(v)) {
            gql_tbuf_t shown = {0};
            gql_tb_inspect(&shown, v);
            gql_tb_printf(msg, "Enum \"%s\" cannot represent non-string value: %s.",
                          t->name, gql_tb_str(&shown));
            tb_suggest_enum(msg, t, gql_tb_str(&shown));
            gql_tb_free(&shown);
            return NULL;
        }
        const gql_senum_value_t *ev = gql_stype_enum_value(t, json_string_value(v));
        if (ev)
            return json_string(ev->name);
        gql_tb_printf(msg, "Value \"%s\" does not exist in \"%s\" enum.",
                      json_string_value(v), t->name);
        tb_suggest_enum(msg, t, json_string_value(v));
        return NULL;
    }
    if (name_is(t, "Int")) {
        if (!json_num(v, &d) || !is_integral(d))
            return serialize_err(msg, "Int cannot represent non-integer value: ", v);
        if (!in_int32(d)) {
            gql_tb_puts(msg, "Int cannot represent non 32-bit signed integer value: ");
            gql_tb_jsnum(msg, d);
            return NULL;
        }
        return json_integer((json_int_t)d);
    }
    if (name_is(t, "Float")) {
        if (!json_num(v, &d) || !isfinite(d))
            return serialize_err(msg, "Float cannot represent non numeric value: ", v);
        return json_real(d);
    }
    if (name_is(t, "String")) {
        if (!json_is_string(v))
            return serialize_err(msg, "String cannot represent a non string value: ", v);
        return json_stringn(json_string_value(v), json_string_length(v));
    }
    if (name_is(t, "Boolean")) {
        if (!json_is_boolean(v))
            return serialize_err(msg, "Boolean cannot represent a non boolean value: ", v);
        return json_boolean(json_is_true(v));
    }
    if (name_is(t, "ID")) {
        if (json_is_string(v))
            return json_stringn(json_string_value(v), json_string_length(v));
        if (json_is_integer(v))
            return json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (json_num(v, &d) && is_integral(d))
            return json_jsnum_string(d);
        return serialize_err(msg, "ID cannot represent value: ", v);
    }
    return json_deep_copy(v);
}

static json_t *coerce_input(icx_t *c, const gql_type_ref_t *t, const json_t *v,
                            const ipath_t *path, unsigned depth);

static json_t *coerce_input_object(icx_t *c, const gql_stype_t *nt,
                                   const json_t *v, const ipath_t *path,
                                   unsigned depth)
{
    if (!json_is_object(v)) {
        gql_tbuf_t m = {0};
        gql_tb_printf(&m, "Expected type \"%s\" to be an object.", nt->name);
        icx_error(c, path, v, gql_tb_str(&m));
        gql_tb_free(&m);
        return NULL;
    }
    json_t *out = json_object();
    int bad = 0;
    for (size_t i = 0; i < nt->n_input_fields; i++) {
        const gql_sarg_t *f = &nt->input_fields[i];
        json_t *fv = json_object_get(v, f->name);
        if (!fv) {
            if (f->default_value) {
                int absent = 0;
                json_t *dv = gql_literal_coerce(c->s, f->type, f->default_value,
                                                NULL, &absent, 0);
                if (dv)
                    json_object_set_new(out, f->name, dv);
            } else if (f->type->kind == GQL_T_NON_NULL) {
                gql_tbuf_t m = {0};
                gql_tb_printf(&m, "Field \"%s\" of required type \"", f->name);
                gql_tb_typeref(&m, f->type);
                gql_tb_puts(&m, "\" was not provided.");
                icx_error(c, path, v, gql_tb_str(&m));
                gql_tb_free(&m);
                bad = 1;
            }
            continue;
        }
        ipath_t sub = {path, f->name, 0};
        json_t *cv = coerce_input(c, f->type, fv, &sub, depth + 1);
        if (!cv)
            bad = 1;
        else
            json_object_set_new(out, f->name, cv);
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        if (!gql_stype_input_field(nt, k)) {
            gql_tbuf_t t = {0};
            gql_tb_printf(&t, "Field \"%s\" is not defined by type \"%s\".", k,
                          nt->name);
            tb_suggest_field(&t, nt, k);
            icx_error(c, path, v, gql_tb_str(&t));
            gql_tb_free(&t);
            bad = 1;
        }
    }
    if (!bad && gql_stype_is_one_of(nt)) {
        if (json_object_size(out) != 1) {
            gql_tbuf_t t = {0};
            gql_tb_printf(&t, "Exactly one key must be specified for OneOf type \"%s\".",
                          nt->name);
            icx_error(c, path, v, gql_tb_str(&t));
            gql_tb_free(&t);
            bad = 1;
        } else {
            void *it = json_object_iter(out);
            if (json_is_null(json_object_iter_value(it))) {
                const char *key = json_object_iter_key(it);
                ipath_t sub = {path, key, 0};
                gql_tbuf_t t = {0};
                gql_tb_printf(&t, "Field \"%s\" must be non-null.", key);
                icx_error(c, &sub, json_object_iter_value(it), gql_tb_str(&t));
                gql_tb_free(&t);
                bad = 1;
            }
        }
    }
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *coerce_input(icx_t *c, const gql_type_ref_t *t, const json_t *v,
                            const ipath_t *path, unsigned depth)
{
    if (depth > COERCE_MAX_DEPTH) {
        icx_error(c, path, v, "Value is nested too deeply.");
        return NULL;
    }
    if (t->kind == GQL_T_NON_NULL) {
        if (json_is_null(v)) {
            gql_tbuf_t m = {0};
            gql_tb_puts(&m, "Expected non-nullable type \"");
            gql_tb_typeref(&m, t);
            gql_tb_puts(&m, "\" not to be null.");
            icx_error(c, path, v, gql_tb_str(&m));
            gql_tb_free(&m);
            return NULL;
        }
        return coerce_input(c, t->of, v, path, depth);
    }
    if (json_is_null(v))
        return json_null();
    if (t->kind == GQL_T_LIST) {
        json_t *out = json_array();
        if (!json_is_array(v)) { /* a single value is a list of one */
            json_t *one = coerce_input(c, t->of, v, path, depth + 1);
            if (!one) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, one);
            return out;
        }
        int bad = 0;
        for (size_t i = 0; i < json_array_size(v) && !c->err->aborted; i++) {
            ipath_t sub = {path, NULL, i};
            json_t *iv = coerce_input(c, t->of, json_array_get(v, i), &sub, depth + 1);
            if (!iv)
                bad = 1;
            else
                json_array_append_new(out, iv);
        }
        if (bad) {
            json_decref(out);
            return NULL;
        }
        return out;
    }
    const gql_stype_t *nt = gql_schema_type(c->s, t->name);
    if (!nt)
        return json_deep_copy(v);
    if (nt->kind == GQL_K_INPUT_OBJECT)
        return coerce_input_object(c, nt, v, path, depth);
    gql_tbuf_t m = {0};
    json_t *r = parse_leaf_value(nt, v, &m);
    if (!r)
        icx_error(c, path, v, gql_tb_str(&m));
    gql_tb_free(&m);
    return r;
}

static int is_input_type(const gql_stype_t *t)
{
    return t && (t->kind == GQL_K_SCALAR || t->kind == GQL_K_ENUM ||
                 t->kind == GQL_K_INPUT_OBJECT);
}

json_t *gql_coerce_variables(const gql_schema_t *s, const gql_definition_t *op,
                             const json_t *raw, gql_cerr_t *err)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    if (raw && !json_is_object(raw))
        raw = NULL;
    for (size_t i = 0; i < op->n_vars && !err->aborted; i++) {
        const gql_variable_def_t *vd = &op->vars[i];
        const json_t *given = raw ? json_object_get(raw, vd->name) : NULL;
        if (!s) { /* no types: values as given, literal defaults */
            if (given)
                json_object_set_new(out, vd->name, json_deep_copy(given));
            else if (vd->default_value)
                json_object_set_new(out, vd->name,
                                    gql_literal_untyped(vd->default_value, NULL, 0));
            continue;
        }
        gql_tbuf_t m = {0};
        const gql_stype_t *nt = gql_schema_named(s, vd->type);
        if (!is_input_type(nt)) {
            gql_tb_printf(&m, "Variable \"$%s\" expected value of type \"", vd->name);
            gql_tb_typeref(&m, vd->type);
            gql_tb_puts(&m, "\" which cannot be used as an input type.");
            cerr_add(err, gql_tb_str(&m), vd->type->loc.line ? vd->type->loc : vd->loc);
            gql_tb_free(&m);
            continue;
        }
        if (!given) {
            if (vd->default_value) {
                int absent = 0;
                json_t *dv = gql_literal_coerce(s, vd->type, vd->default_value, NULL,
                                                &absent, 0);
                if (dv)
                    json_object_set_new(out, vd->name, dv);
            } else if (vd->type->kind == GQL_T_NON_NULL) {
                gql_tb_printf(&m, "Variable \"$%s\" of required type \"", vd->name);
                gql_tb_typeref(&m, vd->type);
                gql_tb_puts(&m, "\" was not provided.");
                cerr_add(err, gql_tb_str(&m), vd->loc);
            }
            gql_tb_free(&m);
            continue;
        }
        if (json_is_null(given) && vd->type->kind == GQL_T_NON_NULL) {
            gql_tb_printf(&m, "Variable \"$%s\" of non-null type \"", vd->name);
            gql_tb_typeref(&m, vd->type);
            gql_tb_puts(&m, "\" must not be null.");
            cerr_add(err, gql_tb_str(&m), vd->loc);
            gql_tb_free(&m);
            continue;
        }
        gql_tb_free(&m);
        icx_t c = {s, vd->name, vd, err, 0};
        json_t *cv = coerce_input(&c, vd->type, given, NULL, 0);
        if (cv)
            json_object_set_new(out, vd->name, cv);
    }
    return out;
}

/* ---- Literals ---------------------------------------------------------------- */

json_t *gql_literal_untyped(const gql_value_t *v, const json_t *vars,
                            unsigned depth)
{
    if (!v || depth > COERCE_MAX_DEPTH)
        return json_null();
    switch (v->kind) {
    case GQL_V_VARIABLE: {
        json_t *x = vars ? json_object_get(vars, v->text) : NULL;
        return x ? json_deep_copy(x) : json_null();
    }
    case GQL_V_INT: {
        errno = 0;
        char *end;
        long long n = strtoll(v->text, &end, 10);
        if (errno == 0 && *end == '\0')
            return json_integer((json_int_t)n);
        return json_real(strtod(v->text, NULL));
    }
    case GQL_V_FLOAT: return json_real(strtod(v->text, NULL));
    case GQL_V_STRING: return json_stringn(v->text ? v->text : "", v->len);
    case GQL_V_BOOLEAN: return json_boolean(v->boolean);
    case GQL_V_NULL: return json_null();
    case GQL_V_ENUM: return json_string(v->text);
    case GQL_V_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->n_items; i++)
            json_array_append_new(a, gql_literal_untyped(v->items[i], vars, depth + 1));
        return a;
    }
    case GQL_V_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->n_fields; i++) {
            const gql_value_t *fv = v->fields[i].value;
            /* an absent variable leaves the field out (valueFromASTUntyped) */
            if (fv && fv->kind == GQL_V_VARIABLE &&
                !(vars && json_object_get(vars, fv->text)))
                continue;
            json_object_set_new(o, v->fields[i].name,
                                gql_literal_untyped(fv, vars, depth + 1));
        }
        return o;
    }
    }
    return json_null();
}

static int var_absent(const gql_value_t *v, const json_t *vars)
{
    return v && v->kind == GQL_V_VARIABLE && !(vars && json_object_get(vars, v->text));
}

/* parseLiteral of a leaf type; NULL when invalid. */
static json_t *parse_leaf_literal(const gql_schema_t *s, const gql_stype_t *t,
                                  const gql_value_t *v, const json_t *vars,
                                  unsigned depth)
{
    if (t->kind == GQL_K_ENUM) {
        if (v->kind != GQL_V_ENUM)
            return NULL;
        const gql_senum_value_t *ev = gql_stype_enum_value(t, v->text);
        return ev ? json_string(ev->name) : NULL;
    }
    if (name_is(t, "Int")) {
        if (v->kind != GQL_V_INT)
            return NULL;
        errno = 0;
        char *end;
        long long n = strtoll(v->text, &end, 10);
        if (errno || *end || n < -2147483648LL || n > 2147483647LL)
            return NULL;
        return json_integer((json_int_t)n);
    }
    if (name_is(t, "Float")) {
        if (v->kind != GQL_V_INT && v->kind != GQL_V_FLOAT)
            return NULL;
        double d = strtod(v->text, NULL);
        return isfinite(d) ? json_real(d) : NULL;
    }
    if (name_is(t, "String"))
        return v->kind == GQL_V_STRING ? json_stringn(v->text, v->len) : NULL;
    if (name_is(t, "Boolean"))
        return v->kind == GQL_V_BOOLEAN ? json_boolean(v->boolean) : NULL;
    if (name_is(t, "ID")) {
        if (v->kind == GQL_V_STRING)
            return json_stringn(v->text, v->len);
        return v->kind == GQL_V_INT ? json_string(v->text) : NULL;
    }
    (void)s;
    return gql_literal_untyped(v, vars, depth);
}

json_t *gql_literal_coerce(const gql_schema_t *s, const gql_type_ref_t *t,
                           const gql_value_t *v, const json_t *vars,
                           int *absent, unsigned depth)
{
    *absent = 0;
    if (!v || !t || depth > COERCE_MAX_DEPTH)
        return NULL;
    if (v->kind == GQL_V_VARIABLE) {
        json_t *x = vars ? json_object_get(vars, v->text) : NULL;
        if (!x) {
            *absent = 1;
            return NULL;
        }
        if (json_is_null(x) && t->kind == GQL_T_NON_NULL)
            return NULL;
        /* variables were coerced to their own (compatible) types */
        return json_deep_copy(x);
    }
    if (t->kind == GQL_T_NON_NULL) {
        if (v->kind == GQL_V_NULL)
            return NULL;
        return gql_literal_coerce(s, t->of, v, vars, absent, depth);
    }
    if (v->kind == GQL_V_NULL)
        return json_null();
    if (t->kind == GQL_T_LIST) {
        json_t *out = json_array();
        int a;
        if (v->kind != GQL_V_LIST) {
            json_t *one = gql_literal_coerce(s, t->of, v, vars, &a, depth + 1);
            if (!one) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, one);
            return out;
        }
        for (size_t i = 0; i < v->n_items; i++) {
            const gql_value_t *it = v->items[i];
            if (var_absent(it, vars)) {
                if (t->of->kind == GQL_T_NON_NULL) {
                    json_decref(out);
                    return NULL;
                }
                json_array_append_new(out, json_null());
                continue;
            }
            json_t *iv = gql_literal_coerce(s, t->of, it, vars, &a, depth + 1);
            if (!iv) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, iv);
        }
        return out;
    }
    const gql_stype_t *nt = s ? gql_schema_type(s, t->name) : NULL;
    if (!nt)
        return gql_literal_untyped(v, vars, depth);
    if (nt->kind == GQL_K_INPUT_OBJECT) {
        if (v->kind != GQL_V_OBJECT)
            return NULL;
        json_t *out = json_object();
        for (size_t i = 0; i < nt->n_input_fields; i++) {
            const gql_sarg_t *f = &nt->input_fields[i];
            const gql_value_t *fv = NULL;
            for (size_t j = 0; j < v->n_fields; j++)
                if (strcmp(v->fields[j].name, f->name) == 0) {
                    fv = v->fields[j].value;
                    break;
                }
            int a;
            if (!fv || var_absent(fv, vars)) {
                if (f->default_value) {
                    json_t *dv = gql_literal_coerce(s, f->type, f->default_value,
                                                    NULL, &a, depth + 1);
                    if (dv)
                        json_object_set_new(out, f->name, dv);
                } else if (f->type->kind == GQL_T_NON_NULL) {
                    json_decref(out);
                    return NULL;
                }
                continue;
            }
            json_t *cv = gql_literal_coerce(s, f->type, fv, vars, &a, depth + 1);
            if (!cv) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, f->name, cv);
        }
        if (gql_stype_is_one_of(nt) &&
            (json_object_size(out) != 1 ||
             json_is_null(json_object_iter_value(json_object_iter(out))))) {
            json_decref(out); /* not exactly one non-null field */
            return NULL;
        }
        return out;
    }
    if (nt->kind != GQL_K_SCALAR && nt->kind != GQL_K_ENUM)
        return NULL;
    return parse_leaf_literal(s, nt, v, vars, depth);
}

/* ---- Arguments (getArgumentValues) --------------------------------------------- */

static const gql_argument_t *find_arg(const gql_argument_t *given, size_t n,
                                      const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (given[i].name && strcmp(given[i].name, name) == 0)
            return &given[i];
    return NULL;
}

static json_t *arg_default(const gql_schema_t *s, const gql_sarg_t *d)
{
    int a;
    return gql_literal_coerce(s, d->type, d->default_value, NULL, &a, 0);
}

json_t *gql_coerce_arguments(const gql_schema_t *s, const gql_sarg_t *defs,
                             size_t n_defs, const gql_argument_t *given,
                             size_t n_given, const json_t *vars,
                             gql_tbuf_t *msg)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    if (!s) {
        for (size_t i = 0; i < n_given; i++) {
            if (var_absent(given[i].value, vars))
                continue;
            json_object_set_new(out, given[i].name,
                                gql_literal_untyped(given[i].value, vars, 0));
        }
        return out;
    }
    for (size_t i = 0; i < n_defs; i++) {
        const gql_sarg_t *d = &defs[i];
        const gql_argument_t *g = find_arg(given, n_given, d->name);
        int nonnull = d->type->kind == GQL_T_NON_NULL;
        if (!g || !g->value || var_absent(g->value, vars)) {
            if (d->default_value) {
                json_t *dv = arg_default(s, d);
                if (dv)
                    json_object_set_new(out, d->name, dv);
            } else if (nonnull) {
                gql_tb_printf(msg, "Argument \"%s\" of required type \"", d->name);
                gql_tb_typeref(msg, d->type);
                if (g && g->value)
                    gql_tb_printf(msg, "\" was provided the variable \"$%s\" which "
                                       "was not provided a runtime value.",
                                  g->value->text);
                else
                    gql_tb_puts(msg, "\" was not provided.");
                json_decref(out);
                return NULL;
            }
            continue;
        }
        int is_null = g->value->kind == GQL_V_NULL ||
                      (g->value->kind == GQL_V_VARIABLE &&
                       json_is_null(json_object_get(vars, g->value->text)));
        if (is_null && nonnull) {
            gql_tb_printf(msg, "Argument \"%s\" of non-null type \"", d->name);
            gql_tb_typeref(msg, d->type);
            gql_tb_puts(msg, "\" must not be null.");
            json_decref(out);
            return NULL;
        }
        int a;
        json_t *cv = gql_literal_coerce(s, d->type, g->value, vars, &a, 0);
        if (!cv) {
            gql_tb_printf(msg, "Argument \"%s\" has invalid value ", d->name);
            tb_literal(msg, g->value, 0);
            gql_tb_putn(msg, ".", 1);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, d->name, cv);
    }
    return out;
}

/* ---- Default values (astFromValue + print) ---------------------------------------- */

static int integer_string(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        return s[1] == '\0';
    if (!isdigit((unsigned char)*s))
        return 0;
    while (isdigit((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* A JSON value as GraphQL literal text with no type to guide it (custom
 * scalars holding lists or objects). */
static void print_untyped(gql_tbuf_t *b, const json_t *v, unsigned depth)
{
    if (depth > COERCE_MAX_DEPTH)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING: gql_tb_gqlstring(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: gql_tb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: gql_tb_jsnum(b, json_real_value(v)); break;
    case JSON_TRUE: gql_tb_puts(b, "true"); break;
    case JSON_FALSE: gql_tb_puts(b, "false"); break;
    case JSON_NULL: gql_tb_puts(b, "null"); break;
    case JSON_ARRAY:
        gql_tb_putn(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                gql_tb_puts(b, ", ");
            print_untyped(b, json_array_get(v, i), depth + 1);
        }
        gql_tb_putn(b, "]", 1);
        break;
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        int first = 1;
        gql_tb_putn(b, "{", 1);
        json_object_foreach((json_t *)v, k, m) {
            if (!first)
                gql_tb_puts(b, ", ");
            first = 0;
            gql_tb_printf(b, "%s: ", k);
            print_untyped(b, m, depth + 1);
        }
        gql_tb_putn(b, "}", 1);
        break;
    }
    }
}

/* astFromValue(v, t) printed; 0 if nothing was printed (astFromValue gave
 * null: a null under a non-null type). */
static int print_value(gql_tbuf_t *b, const gql_schema_t *s,
                       const gql_type_ref_t *t, const json_t *v, unsigned depth)
{
    if (depth > COERCE_MAX_DEPTH)
        return 0;
    if (t->kind == GQL_T_NON_NULL) {
        if (json_is_null(v))
            return 0;
        return print_value(b, s, t->of, v, depth);
    }
    if (json_is_null(v)) {
        gql_tb_puts(b, "null");
        return 1;
    }
    if (t->kind == GQL_T_LIST) {
        if (!json_is_array(v))
            return print_value(b, s, t->of, v, depth + 1);
        gql_tb_putn(b, "[", 1);
        int first = 1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            gql_tbuf_t item = {0};
            if (print_value(&item, s, t->of, json_array_get(v, i), depth + 1)) {
                if (!first)
                    gql_tb_puts(b, ", ");
                first = 0;
                gql_tb_putn(b, gql_tb_str(&item), item.len);
            }
            gql_tb_free(&item);
        }
        gql_tb_putn(b, "]", 1);
        return 1;
    }
    const gql_stype_t *nt = gql_schema_type(s, t->name);
    if (!nt) {
        print_untyped(b, v, depth);
        return 1;
    }
    if (nt->kind == GQL_K_INPUT_OBJECT) {
        if (!json_is_object(v))
            return 0;
        gql_tb_putn(b, "{", 1);
        int first = 1;
        for (size_t i = 0; i < nt->n_input_fields; i++) {
            const gql_sarg_t *f = &nt->input_fields[i];
            json_t *fv = json_object_get(v, f->name);
            if (!fv)
                continue;
            gql_tbuf_t item = {0};
            if (print_value(&item, s, f->type, fv, depth + 1)) {
                if (!first)
                    gql_tb_puts(b, ", ");
                first = 0;
                gql_tb_printf(b, "%s: ", f->name);
                gql_tb_putn(b, gql_tb_str(&item), item.len);
            }
            gql_tb_free(&item);
        }
        gql_tb_putn(b, "}", 1);
        return 1;
    }
    gql_tbuf_t m = {0};
    json_t *ser = gql_serialize_leaf(nt, v, &m);
    gql_tb_free(&m);
    if (!ser)
        return 0;
    double d;
    if (json_is_boolean(ser)) {
        gql_tb_puts(b, json_is_true(ser) ? "true" : "false");
    } else if (json_num(ser, &d)) {
        if (json_is_integer(ser))
            gql_tb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(ser));
        else
            gql_tb_jsnum(b, d);
    } else if (json_is_string(ser)) {
        if (nt->kind == GQL_K_ENUM)
            gql_tb_puts(b, json_string_value(ser));
        else if (name_is(nt, "ID") && integer_string(json_string_value(ser)))
            gql_tb_puts(b, json_string_value(ser));
        else
            gql_tb_gqlstring(b, json_string_value(ser), json_string_length(ser));
    } else {
        print_untyped(b, ser, depth);
    }
    json_decref(ser);
    return 1;
}

int gql_print_default(gql_tbuf_t *b, const gql_schema_t *s,
                      const gql_type_ref_t *t, const gql_value_t *v)
{
    int absent = 0;
    json_t *cv = gql_literal_coerce(s, t, v, NULL, &absent, 0);
    if (!cv)
        return -1;
    int r = print_value(b, s, t, cv, 0) ? 0 : -1;
    json_decref(cv);
    return r;
}
