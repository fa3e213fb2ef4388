/*
 * Option values: parsing by schema type and validation of a plugins.conf
 * section against a plugin's option schema (loader.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* Host-reserved keys of a plugin section; never checked against a schema. */
static const char *const reserved_keys[] = {"enabled", "plugin", "path"};

/* Longest option array the host walks; a schema without its NULL-name
 * terminator is caught here instead of read forever. */
#define MAX_OPTIONS 256

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *dp_option_type_name(uint32_t type)
{
    switch (type) {
    case DOPPEL_OPT_STRING:
        return "string";
    case DOPPEL_OPT_INT:
        return "int";
    case DOPPEL_OPT_BOOL:
        return "bool";
    case DOPPEL_OPT_SIZE:
        return "size";
    case DOPPEL_OPT_DURATION:
        return "duration";
    default:
        return "?";
    }
}

/* Decimal digits only, into an unsigned value; -ERANGE on overflow. Returns
 * the number of digits consumed (0 = none). */
static int parse_digits(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    int n = 0;

    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
        p++;
        n++;
    }
    *pp = p;
    *out = v;
    return n;
}

static int parse_scaled(const char *text, int size, int64_t *num)
{
    const char *p = text;
    uint64_t v, mul = 1;
    int n = parse_digits(&p, &v);

    if (n < 0)
        return n;
    if (n == 0)
        return -EINVAL;
    if (size) {
        switch (tolower((unsigned char)*p)) {
        case '\0':
            break;
        case 'k':
            mul = 1024ull;
            p++;
            break;
        case 'm':
            mul = 1024ull * 1024;
            p++;
            break;
        case 'g':
            mul = 1024ull * 1024 * 1024;
            p++;
            break;
        default:
            return -EINVAL;
        }
    } else {
        if (strcmp(p, "ms") == 0) {
            p += 2;
        } else if (strcmp(p, "s") == 0) {
            mul = 1000;
            p++;
        } else if (strcmp(p, "m") == 0) {
            mul = 60000;
            p++;
        }
    }
    if (*p != '\0')
        return -EINVAL;
    if (v > (uint64_t)INT64_MAX / mul)
        return -ERANGE;
    *num = (int64_t)(v * mul);
    return 0;
}

int dp_option_parse(const doppel_option_t *o, const char *text, int64_t *num)
{
    int64_t v = 0;
    int rc;

    if (o == NULL || text == NULL || num == NULL)
        return -EINVAL;
    *num = 0;
    switch (o->type) {
    case DOPPEL_OPT_STRING:
        return 0;
    case DOPPEL_OPT_BOOL:
        rc = dp_conf_bool(text);
        if (rc < 0)
            return -EINVAL;
        *num = rc;
        return 0;
    case DOPPEL_OPT_INT: {
        const char *p = text;
        uint64_t u;
        int neg = 0;
        if (*p == '-') {
            neg = 1;
            p++;
        }
        rc = parse_digits(&p, &u);
        if (rc < 0)
            return rc;
        if (rc == 0 || *p != '\0')
            return -EINVAL;
        if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
            return -ERANGE;
        v = neg ? (int64_t)(0 - u) : (int64_t)u;
        break;
    }
    case DOPPEL_OPT_SIZE:
    case DOPPEL_OPT_DURATION:
        rc = parse_scaled(text, o->type == DOPPEL_OPT_SIZE, &v);
        if (rc != 0)
            return rc;
        break;
    default:
        return -EINVAL;
    }
    if (o->min <= o->max && (v < o->min || v > o->max))
        return -ERANGE;
    *num = v;
    return 0;
}

void dp_option_expects(const doppel_option_t *o, char *buf, size_t len)
{
    char range[64] = "";

    if (o->min <= o->max)
        snprintf(range, sizeof(range), " in [%" PRId64 ", %" PRId64 "]", o->min,
                 o->max);
    switch (o->type) {
    case DOPPEL_OPT_STRING:
        snprintf(buf, len, "a string");
        break;
    case DOPPEL_OPT_INT:
        snprintf(buf, len, "an integer%s", range);
        break;
    case DOPPEL_OPT_BOOL:
        snprintf(buf, len, "a boolean (true/false, yes/no, on/off, 1/0)");
        break;
    case DOPPEL_OPT_SIZE:
        snprintf(buf, len, "a size %s bytes (suffixes k, m, g)",
                 range[0] ? range + 1 : "in");
        break;
    case DOPPEL_OPT_DURATION:
        snprintf(buf, len, "a duration %s ms (suffixes ms, s, m)",
                 range[0] ? range + 1 : "in");
        break;
    default:
        snprintf(buf, len, "a value of unknown type %u", (unsigned)o->type);
        break;
    }
}

/* Same filter as config.c: values are the user's text, shown but never
 * trusted to be printable. */
static void quote_for_msg(char *dst, size_t dstlen, const char *s)
{
    size_t j = 0;

    for (size_t i = 0; s[i] != '\0' && j + 4 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 60) {
            memcpy(dst + j, "...", 3);
            j += 3;
            break;
        }
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

static int is_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]);
         i++)
        if (strcmp(key, reserved_keys[i]) == 0)
            return 1;
    return 0;
}

static size_t count_options(const doppel_option_t *opts)
{
    size_t n = 0;

    if (opts == NULL)
        return 0;
    while (n < MAX_OPTIONS && opts[n].name != NULL)
        n++;
    return n;
}

static void known_list(const doppel_option_t *opts, size_t n, char *buf,
                       size_t len)
{
    size_t j = 0;

    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, len, "none");
        return;
    }
    for (size_t i = 0; i < n && j < len; i++) {
        int w = snprintf(buf + j, len - j, "%s%s", i ? ", " : "", opts[i].name);
        if (w < 0)
            break;
        j += (size_t)w;
    }
}

void dp_options_free(dp_options_t *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].text);
    free(o->v);
    free(o);
}

int dp_options_validate(const doppel_plugin_t *desc, const dp_conf_section_t *s,
                        const char *conf_name, dp_options_t **out, char *err,
                        size_t errlen)
{
    const doppel_option_t *opts;
    const char *pname, *iname;
    dp_options_t *o = NULL;
    char q[80], expects[160];
    size_t n;

    if (out != NULL)
        *out = NULL;
    if (desc == NULL || s == NULL || out == NULL)
        return -EINVAL;
    if (conf_name == NULL)
        conf_name = "(config)";
    opts = desc->options;
    n = count_options(opts);
    pname = desc->name ? desc->name : "?";
    iname = s->name;

    for (size_t k = 0; k < s->n_kv; k++) {
        const dp_conf_kv_t *kv = &s->kv[k];
        const doppel_option_t *opt = NULL;
        int64_t num;
        int rc;

        if (is_reserved(kv->key))
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(opts[i].name, kv->key) == 0)
                opt = &opts[i];
        if (opt == NULL) {
            char known[400];
            known_list(opts, n, known, sizeof(known));
            set_err(err, errlen,
                    "%s:%d: plugin '%s' instance '%s': unknown option '%s' "
                    "(known: %s)",
                    conf_name, kv->line, pname, iname, kv->key, known);
            return -EINVAL;
        }
        rc = dp_option_parse(opt, kv->value, &num);
        if (rc != 0) {
            dp_option_expects(opt, expects, sizeof(expects));
            quote_for_msg(q, sizeof(q), kv->value);
            set_err(err, errlen,
                    "%s:%d: plugin '%s' instance '%s': option '%s' expects "
                    "%s, found '%s'",
                    conf_name, kv->line, pname, iname, opt->name, expects, q);
            return -EINVAL;
        }
    }

    o = calloc(1, sizeof(*o));
    if (o == NULL)
        goto nomem;
    if (n > 0) {
        o->v = calloc(n, sizeof(*o->v));
        if (o->v == NULL)
            goto nomem;
    }
    o->n = n;
    for (size_t i = 0; i < n; i++) {
        const dp_conf_kv_t *kv = dp_conf_get(s, opts[i].name);
        const char *text = kv ? kv->value : opts[i].default_value;
        dp_option_value_t *v = &o->v[i];

        v->opt = &opts[i];
        if (text == NULL) {
            if (opts[i].flags & DOPPEL_OPT_REQUIRED) {
                set_err(err, errlen,
                        "%s:%d: plugin '%s' instance '%s': missing required "
                        "option '%s'",
                        conf_name, s->line, pname, iname, opts[i].name);
                dp_options_free(o);
                return -EINVAL;
            }
            continue;
        }
        if (dp_option_parse(&opts[i], text, &v->num) != 0) {
            /* Only a default can get here (values were checked above);
             * dp_loader_open refuses such schemas, hand-made ones too. */
            dp_option_expects(&opts[i], expects, sizeof(expects));
            quote_for_msg(q, sizeof(q), text);
            set_err(err, errlen,
                    "%s:%d: plugin '%s' instance '%s': default of option '%s' "
                    "expects %s, found '%s'",
                    conf_name, s->line, pname, iname, opts[i].name, expects, q);
            dp_options_free(o);
            return -EINVAL;
        }
        v->text = strdup(text);
        if (v->text == NULL)
            goto nomem;
        v->set = 1;
    }
    *out = o;
    return 0;
nomem:
    dp_options_free(o);
    set_err(err, errlen, "%s: out of memory", conf_name);
    return -ENOMEM;
}

const dp_option_value_t *dp_options_get(const dp_options_t *o, const char *name)
{
    if (o == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].opt->name, name) == 0)
            return &o->v[i];
    return NULL;
}
