/*
 * Conditions: one assertion on the body, a header or a query parameter.
 * Compiled once (path, regex, normalised expected value); evaluation compares
 * in place and allocates only for decode and sortArray.
 */
#define _GNU_SOURCE /* memmem */
#include "base/base64.h"
#include "expr_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum cond_action {
    ACT_EQUALS,
    ACT_NOT_EQUALS,
    ACT_CONTAINS,
    ACT_NOT_CONTAINS,
    ACT_ANY,
    ACT_NOT_EMPTY,
    ACT_EMPTY,
    ACT_MATCHES
} cond_action_t;

static const struct {
    const char *name;
    cond_action_t act;
} cond_actions[] = {
    {"equals", ACT_EQUALS},       {"not_equals", ACT_NOT_EQUALS},
    {"contains", ACT_CONTAINS},   {"not_contains", ACT_NOT_CONTAINS},
    {"any", ACT_ANY},             {"notEmpty", ACT_NOT_EMPTY},
    {"empty", ACT_EMPTY},         {"matches", ACT_MATCHES},
};
#define COND_ACTIONS_LIST \
    "equals, not_equals, contains, not_contains, any, notEmpty, empty, matches"

struct dp_cond {
    char *path;            /* as written */
    dp_cond_target_t target;
    dp_jpath_t *jp;        /* DP_COND_BODY */
    char *key;             /* header (lower-cased) or query parameter name */
    cond_action_t act;
    json_t *value;         /* expected; arrays pre-sorted when sort */
    int sort;
    int decode_b64;
    int has_re;
    regex_t re;
    char expected[96];     /* text of value for reasons */
};

/* ---- comparison ---------------------------------------------------------- */

/* Compares the text of a string with a number or bool the way a header value
 * "100" should equal 100. */
static int str_scalar_eq(const json_t *s, const json_t *v)
{
    const char *t = json_string_value(s);
    size_t n = json_string_length(s);
    if (json_is_boolean(v)) {
        const char *w = json_is_true(v) ? "true" : "false";
        return n == strlen(w) && memcmp(t, w, n) == 0;
    }
    if (!json_is_number(v) || n == 0 || n > 64 || strlen(t) != n ||
        isspace((unsigned char)t[0]))
        return 0;
    char *end;
    if (json_is_integer(v)) {
        errno = 0;
        long long x = strtoll(t, &end, 10);
        if (*end == '\0' && errno == 0)
            return x == json_integer_value(v);
    }
    errno = 0;
    double d = strtod(t, &end);
    if (*end != '\0' || errno != 0)
        return 0;
    return d == json_number_value(v);
}

/* Deep equality with the loose rules of conditions: numbers compare by value
 * (1 == 1.0), a string equals a number or bool with the same text. */
static int loose_eq(const json_t *a, const json_t *b)
{
    if (a == b)
        return 1;
    if (a == NULL || b == NULL)
        return 0;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_is_string(a) && !json_is_string(b))
        return str_scalar_eq(a, b);
    if (json_is_string(b) && !json_is_string(a))
        return str_scalar_eq(b, a);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!loose_eq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            if (!loose_eq(v, json_object_get(b, k)))
                return 0;
        }
        return 1;
    }
    default: /* true, false, null: same type is enough */
        return 1;
    }
}

/* ---- sortArray normalisation ------------------------------------------- */

typedef struct sort_item {
    char *text;
    json_t *v;
} sort_item_t;

static int sort_item_cmp(const void *a, const void *b)
{
    return strcmp(((const sort_item_t *)a)->text,
                  ((const sort_item_t *)b)->text);
}

/* Returns a new value equal to v where every array (at any depth) has its
 * elements ordered by their canonical JSON text, so that comparing two
 * normalised values compares arrays as multisets. NULL on ENOMEM. */
static json_t *sorted_copy(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        if (o == NULL)
            return NULL;
        json_object_foreach((json_t *)v, k, x) {
            if (json_object_set_new(o, k, sorted_copy(x)) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    if (!json_is_array(v))
        return json_deep_copy(v);
    size_t n = json_array_size(v);
    sort_item_t *items = calloc(n ? n : 1, sizeof(*items));
    json_t *out = json_array();
    int ok = items != NULL && out != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        items[i].v = sorted_copy(json_array_get(v, i));
        items[i].text = items[i].v ? json_dumps(items[i].v,
                                                JSON_COMPACT | JSON_SORT_KEYS |
                                                    JSON_ENCODE_ANY)
                                   : NULL;
        ok = items[i].text != NULL;
    }
    if (ok)
        qsort(items, n, sizeof(*items), sort_item_cmp);
    for (size_t i = 0; items != NULL && i < n; i++) {
        if (ok && json_array_append_new(out, items[i].v) != 0)
            ok = 0;
        else if (!ok)
            json_decref(items[i].v);
        free(items[i].text);
    }
    free(items);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- contains / empty ---------------------------------------------------- */

static int contains(const json_t *found, const json_t *want)
{
    if (json_is_string(found)) {
        char buf[256];
        const char *needle;
        size_t nlen;
        if (json_is_string(want)) {
            needle = json_string_value(want);
            nlen = json_string_length(want);
        } else if (json_is_number(want) || json_is_boolean(want)) {
            nlen = dp_json_text(want, buf, sizeof(buf));
            needle = buf;
        } else {
            return 0;
        }
        if (nlen == 0)
            return 1;
        return memmem(json_string_value(found), json_string_length(found),
                      needle, nlen) != NULL;
    }
    if (json_is_array(found)) {
        size_t n = json_array_size(found);
        for (size_t i = 0; i < n; i++)
            if (loose_eq(json_array_get(found, i), want))
                return 1;
        /* An array value asks for every one of its elements. */
        if (json_is_array(want) && json_array_size(want) > 0) {
            size_t m = json_array_size(want);
            for (size_t j = 0; j < m; j++)
                if (!contains(found, json_array_get(want, j)))
                    return 0;
            return 1;
        }
        return 0;
    }
    if (json_is_object(found)) {
        if (!json_is_object(want))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v) {
            if (!loose_eq(json_object_get(found, k), v))
                return 0;
        }
        return 1;
    }
    if (json_is_number(found) || json_is_boolean(found)) {
        char fb[64], wb[64];
        if (!(json_is_string(want) || json_is_number(want)))
            return 0;
        size_t fl = dp_json_text(found, fb, sizeof(fb));
        size_t wl = dp_json_text(want, wb, sizeof(wb));
        if (fl >= sizeof(fb) || wl >= sizeof(wb))
            return 0;
        return strstr(fb, wb) != NULL;
    }
    return 0;
}

static int is_empty(const json_t *v)
{
    return v == NULL || json_is_null(v) ||
           (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

/* ---- base64 -------------------------------------------------------------- */


/* ---- compile ------------------------------------------------------------- */

static void cond_destroy(dp_cond_t *c)
{
    if (c == NULL)
        return;
    free(c->path);
    dp_jpath_free(c->jp);
    free(c->key);
    json_decref(c->value);
    if (c->has_re)
        regfree(&c->re);
    free(c);
}

void dp_cond_free(dp_cond_t *c)
{
    cond_destroy(c);
}

/* Sub-field name for errors: "http.conditions[2].assertAction". */
static const char *subfield(char *buf, size_t len, const char *field,
                            const char *key)
{
    snprintf(buf, len, "%s%s%s", field ? field : "",
             field && field[0] ? "." : "", key);
    return buf;
}

static void value_text(const json_t *v, char *buf, size_t len)
{
    size_t n;
    if (json_is_string(v)) {
        /* Quoted, so that "100" and 100 read differently in reasons. */
        char inner[80];
        n = dp_json_text(v, inner, sizeof(inner));
        snprintf(buf, len, "\"%s%s\"", inner, n >= sizeof(inner) ? "..." : "");
        return;
    }
    n = dp_json_text(v, buf, len);
    if (n >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}

int dp_cond_compile(const json_t *spec, dp_cond_target_t target,
                    const char *field, dp_cond_t **out, dp_err_t *err)
{
    char sf[256];
    *out = NULL;
    if (!json_is_object(spec)) {
        dp_err_invalid(err, field, "a condition must be an object with "
                                   "path, assertAction and value");
        return -EINVAL;
    }
    if (target != DP_COND_BODY && target != DP_COND_HEADER &&
        target != DP_COND_QUERY) {
        dp_err_invalid(err, field, "unknown condition target %d", (int)target);
        return -EINVAL;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)spec, k, x) {
        if (strcmp(k, "path") && strcmp(k, "assertAction") &&
            strcmp(k, "value") && strcmp(k, "sortArray") &&
            strcmp(k, "decode")) {
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, k),
                           "unknown key '%s' (expected path, assertAction, "
                           "value, sortArray, decode)", k);
            return -EINVAL;
        }
    }
    const json_t *jpath = json_object_get(spec, "path");
    const json_t *jact = json_object_get(spec, "assertAction");
    const json_t *jval = json_object_get(spec, "value");
    const json_t *jsort = json_object_get(spec, "sortArray");
    const json_t *jdec = json_object_get(spec, "decode");
    if (!json_is_string(jpath) || json_string_length(jpath) == 0) {
        dp_err_invalid(err, subfield(sf, sizeof(sf), field, "path"),
                       "path must be a non-empty string");
        return -EINVAL;
    }
    if (strlen(json_string_value(jpath)) != json_string_length(jpath)) {
        dp_err_invalid(err, subfield(sf, sizeof(sf), field, "path"),
                       "path must not contain NUL characters");
        return -EINVAL;
    }
    cond_action_t act = ACT_EQUALS;
    if (jact != NULL && !json_is_null(jact)) {
        size_t i, n = sizeof(cond_actions) / sizeof(cond_actions[0]);
        if (!json_is_string(jact)) {
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, "assertAction"),
                           "assertAction must be a string, one of "
                           COND_ACTIONS_LIST);
            return -EINVAL;
        }
        for (i = 0; i < n; i++)
            if (strcmp(json_string_value(jact), cond_actions[i].name) == 0)
                break;
        if (i == n) {
            char shown[64];
            value_text(jact, shown, sizeof(shown));
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, "assertAction"),
                           "unknown assertAction %s (valid: "
                           COND_ACTIONS_LIST ")", shown);
            return -EINVAL;
        }
        act = cond_actions[i].act;
    }
    int needs_value = act == ACT_EQUALS || act == ACT_NOT_EQUALS ||
                      act == ACT_CONTAINS || act == ACT_NOT_CONTAINS ||
                      act == ACT_MATCHES;
    if (needs_value && jval == NULL) {
        dp_err_invalid(err, subfield(sf, sizeof(sf), field, "value"),
                       "value is required for assertAction %s",
                       jact ? json_string_value(jact) : "equals");
        return -EINVAL;
    }
    if (act == ACT_MATCHES && !json_is_string(jval)) {
        dp_err_invalid(err, subfield(sf, sizeof(sf), field, "value"),
                       "matches needs a regular expression string as value");
        return -EINVAL;
    }
    if (jsort != NULL && !json_is_boolean(jsort) && !json_is_null(jsort)) {
        dp_err_invalid(err, subfield(sf, sizeof(sf), field, "sortArray"),
                       "sortArray must be true or false");
        return -EINVAL;
    }
    int b64 = 0;
    if (jdec != NULL && !json_is_null(jdec)) {
        if (!json_is_string(jdec) ||
            strcmp(json_string_value(jdec), "base64") != 0) {
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, "decode"),
                           "decode must be \"base64\"");
            return -EINVAL;
        }
        b64 = 1;
    }

    dp_cond_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->target = target;
    c->act = act;
    c->sort = json_is_true(jsort);
    c->decode_b64 = b64;
    c->path = strdup(json_string_value(jpath));
    if (c->path == NULL)
        goto nomem;
    if (target == DP_COND_BODY) {
        int rc = dp_jpath_compile(c->path, subfield(sf, sizeof(sf), field,
                                                    "path"),
                                  &c->jp, err);
        if (rc != 0) {
            cond_destroy(c);
            return rc;
        }
    } else {
        c->key = strdup(c->path);
        if (c->key == NULL)
            goto nomem;
        if (target == DP_COND_HEADER)
            for (char *p = c->key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
    }
    if (act == ACT_MATCHES) {
        const char *cost = dp_regex_too_costly(json_string_value(jval));
        if (cost != NULL) {
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, "value"),
                           "regular expression too costly: %s", cost);
            cond_destroy(c);
            return -EINVAL;
        }
        int rc = regcomp(&c->re, json_string_value(jval),
                         REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char rmsg[128];
            regerror(rc, &c->re, rmsg, sizeof(rmsg));
            dp_err_invalid(err, subfield(sf, sizeof(sf), field, "value"),
                           "invalid regular expression '%s': %s",
                           json_string_value(jval), rmsg);
            cond_destroy(c);
            return -EINVAL;
        }
        c->has_re = 1;
    }
    if (jval != NULL) {
        c->value = c->sort ? sorted_copy(jval) : json_deep_copy(jval);
        if (c->value == NULL)
            goto nomem;
        value_text(jval, c->expected, sizeof(c->expected));
    }
    *out = c;
    return 0;
nomem:
    cond_destroy(c);
    dp_err_set(err, 500, "internal", field, "out of memory");
    return -ENOMEM;
}

/* ---- eval ------------------------------------------------------------------ */

static int fail(const dp_cond_t *c, char *why, size_t whylen, const char *what,
                const json_t *found)
{
    if (why == NULL || whylen == 0)
        return 0;
    if (found == NULL) {
        snprintf(why, whylen, "%s: missing", c->path);
        return 0;
    }
    char ft[96];
    value_text(found, ft, sizeof(ft));
    if (what == NULL)
        snprintf(why, whylen, "%s: expected %s, found %s", c->path,
                 c->expected, ft);
    else if (what[0] == '\0')
        snprintf(why, whylen, "%s: found %s", c->path, ft);
    else
        snprintf(why, whylen, "%s: expected %s %s, found %s", c->path, what,
                 c->expected, ft);
    return 0;
}

static int apply(const dp_cond_t *c, const json_t *found, char *why,
                 size_t whylen)
{
    switch (c->act) {
    case ACT_EQUALS:
        if (found == NULL)
            return fail(c, why, whylen, NULL, NULL);
        return loose_eq(found, c->value) ? 1
                                         : fail(c, why, whylen, NULL, found);
    case ACT_NOT_EQUALS:
        return found == NULL || !loose_eq(found, c->value)
                   ? 1
                   : fail(c, why, whylen, "not", found);
    case ACT_CONTAINS:
        if (found == NULL)
            return fail(c, why, whylen, NULL, NULL);
        return contains(found, c->value)
                   ? 1
                   : fail(c, why, whylen, "to contain", found);
    case ACT_NOT_CONTAINS:
        return found == NULL || !contains(found, c->value)
                   ? 1
                   : fail(c, why, whylen, "not to contain", found);
    case ACT_ANY:
        return found != NULL ? 1 : fail(c, why, whylen, NULL, NULL);
    case ACT_NOT_EMPTY:
        if (found == NULL)
            return fail(c, why, whylen, NULL, NULL);
        if (!is_empty(found))
            return 1;
        if (why != NULL && whylen > 0) {
            char ft[96];
            value_text(found, ft, sizeof(ft));
            snprintf(why, whylen, "%s: expected not empty, found %s", c->path,
                     ft);
        }
        return 0;
    case ACT_EMPTY:
        if (is_empty(found))
            return 1;
        if (why != NULL && whylen > 0) {
            char ft[96];
            value_text(found, ft, sizeof(ft));
            snprintf(why, whylen, "%s: expected empty, found %s", c->path, ft);
        }
        return 0;
    case ACT_MATCHES: {
        if (found == NULL)
            return fail(c, why, whylen, NULL, NULL);
        char nb[64];
        const char *subject = NULL;
        if (json_is_string(found)) {
            /* regexec stops at NUL; a string with an embedded NUL is
             * matched up to it. */
            subject = json_string_value(found);
        } else if (json_is_number(found) || json_is_boolean(found)) {
            if (dp_json_text(found, nb, sizeof(nb)) < sizeof(nb))
                subject = nb;
        }
        if (subject != NULL && regexec(&c->re, subject, 0, NULL, 0) == 0)
            return 1;
        return fail(c, why, whylen, "to match", found);
    }
    }
    return 0;
}

int dp_cond_string_equals(const dp_cond_t *c, const char **path,
                          const char **value, size_t *len)
{
    if (c == NULL || c->target != DP_COND_BODY || c->act != ACT_EQUALS ||
        c->decode_b64 || c->sort || !json_is_string(c->value))
        return 0;
    *path = c->path;
    *value = json_string_value(c->value);
    *len = json_string_length(c->value);
    return 1;
}

int dp_cond_eval(const dp_cond_t *c, const json_t *doc, char *why,
                 size_t whylen)
{
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (c == NULL)
        return 0;
    const json_t *found;
    if (c->target == DP_COND_BODY) {
        found = doc ? dp_jpath_get(c->jp, doc) : NULL;
    } else if (c->target == DP_COND_QUERY && strcmp(c->key, "$") == 0) {
        /* the whole query: name -> first value (recordings compare it
         * with equals, so no parameter may be missing or extra) */
        found = json_is_object(doc) ? doc : NULL;
    } else {
        found = json_is_object(doc) ? json_object_get(doc, c->key) : NULL;
        /* Header documents may keep every value; conditions look at the
         * first, as the contract in expr.h says. */
        if (json_is_array(found))
            found = json_array_get(found, 0);
    }
    json_t *decoded = NULL, *sorted = NULL;
    if (c->decode_b64 && found != NULL) {
        if (!json_is_string(found)) {
            if (why != NULL && whylen > 0)
                snprintf(why, whylen, "%s: expected a base64 string",
                         c->path);
            return 0;
        }
        size_t dl = 0;
        unsigned char *raw = NULL;
        int brc = dp_b64_decode(json_string_value(found),
                                json_string_length(found), &raw, &dl);
        if (brc < 0) {
            if (why != NULL && whylen > 0)
                snprintf(why, whylen, "%s: %s", c->path,
                         brc == -EINVAL ? "invalid base64" : "out of memory");
            return 0;
        }
        decoded = json_loadb((const char *)raw, dl,
                             JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (decoded == NULL)
            decoded = json_stringn_nocheck((const char *)raw, dl);
        free(raw);
        if (decoded == NULL) {
            if (why != NULL && whylen > 0)
                snprintf(why, whylen, "%s: out of memory", c->path);
            return 0;
        }
        found = decoded;
    }
    if (c->sort && found != NULL &&
        (json_is_array(found) || json_is_object(found))) {
        sorted = sorted_copy(found);
        if (sorted == NULL) {
            json_decref(decoded);
            if (why != NULL && whylen > 0)
                snprintf(why, whylen, "%s: out of memory", c->path);
            return 0;
        }
        found = sorted;
    }
    int r = apply(c, found, why, whylen);
    json_decref(sorted);
    json_decref(decoded);
    return r;
}

const char *dp_cond_path(const dp_cond_t *c)
{
    return c ? c->path : "";
}
