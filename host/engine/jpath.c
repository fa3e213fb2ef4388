/*
 * JSON paths: compiled once into key/index segments, walked without
 * allocating. See expr.h for the accepted forms.
 */
#include "expr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dp_jseg {
    char *key;    /* NULL for an index segment */
    size_t index; /* array index when key is NULL, or when the key is a
                     number: "messages.0.item" reads element 0 of an
                     array (and key "0" of an object) */
    int numeric;  /* key is digits only, index is its value */
} dp_jseg_t;

struct dp_jpath {
    char *src; /* as written, for messages */
    size_t nseg;
    dp_jseg_t *seg;
};

static void jpath_destroy(dp_jpath_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nseg; i++)
        free(p->seg[i].key);
    free(p->seg);
    free(p->src);
    free(p);
}

void dp_jpath_free(dp_jpath_t *p)
{
    jpath_destroy(p);
}

static int push_seg(dp_jpath_t *p, size_t *cap, char *key, size_t index)
{
    if (p->nseg == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        dp_jseg_t *n = realloc(p->seg, ncap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        p->seg = n;
        *cap = ncap;
    }
    p->seg[p->nseg].key = key;
    p->seg[p->nseg].index = index;
    p->seg[p->nseg].numeric = 0;
    if (key != NULL && key[0] != '\0' && strlen(key) <= 9 &&
        strspn(key, "0123456789") == strlen(key)) {
        p->seg[p->nseg].numeric = 1;
        p->seg[p->nseg].index = (size_t)strtoul(key, NULL, 10);
    }
    p->nseg++;
    return 0;
}

/* Parses one bracket group starting at s[*i] == '['. */
static int parse_bracket(const char *s, size_t len, size_t *i, char **key,
                         size_t *index, char *msg, size_t msglen)
{
    size_t j = *i + 1;
    *key = NULL;
    if (j < len && (s[j] == '\'' || s[j] == '"')) {
        char q = s[j];
        size_t start = j + 1;
        /* The key ends at the first quote followed by ']', so a key may
         * itself hold the other quote or a lone quote. */
        for (size_t k = start; k + 1 < len; k++) {
            if (s[k] == q && s[k + 1] == ']') {
                if (k == start) {
                    snprintf(msg, msglen, "empty key in brackets");
                    return -EINVAL;
                }
                *key = strndup(s + start, k - start);
                if (*key == NULL)
                    return -ENOMEM;
                *i = k + 2;
                return 0;
            }
        }
        snprintf(msg, msglen, "unclosed bracket");
        return -EINVAL;
    }
    if (j < len && s[j] == '-') {
        snprintf(msg, msglen, "negative index");
        return -EINVAL;
    }
    size_t v = 0, ndig = 0;
    while (j < len && s[j] >= '0' && s[j] <= '9') {
        size_t d = (size_t)(s[j] - '0');
        if (v > (SIZE_MAX - d) / 10) {
            snprintf(msg, msglen, "index too large");
            return -EINVAL;
        }
        v = v * 10 + d;
        ndig++;
        j++;
    }
    if (j >= len) {
        snprintf(msg, msglen, "unclosed bracket");
        return -EINVAL;
    }
    if (s[j] != ']' || ndig == 0) {
        snprintf(msg, msglen,
                 "index must be a non-negative integer or a quoted key");
        return -EINVAL;
    }
    *index = v;
    *i = j + 1;
    return 0;
}

int dp_jpath_parse_rel(const char *s, size_t len, dp_jpath_t **out, char *msg,
                       size_t msglen)
{
    *out = NULL;
    dp_jpath_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->src = strndup(s, len);
    if (p->src == NULL) {
        free(p);
        return -ENOMEM;
    }
    size_t cap = 0, i = 0;
    int rc = 0;
    int want_key = 0; /* right after a '.' */
    while (i < len) {
        if (s[i] == '[' && !want_key) {
            char *key;
            size_t index = 0;
            rc = parse_bracket(s, len, &i, &key, &index, msg, msglen);
            if (rc == 0 && (rc = push_seg(p, &cap, key, index)) != 0)
                free(key);
            if (rc != 0)
                goto fail;
        } else if (i > 0 && s[i] == '.' && !want_key) {
            want_key = 1;
            i++;
            continue;
        } else {
            if (i > 0 && !want_key) {
                /* "a[0]b": a segment must start after '.' or '['. */
                snprintf(msg, msglen, "expected '.' or '[' at offset %zu", i);
                rc = -EINVAL;
                goto fail;
            }
            size_t start = i;
            while (i < len && s[i] != '.' && s[i] != '[' && s[i] != ']')
                i++;
            if (i < len && s[i] == ']') {
                snprintf(msg, msglen, "unexpected ']' at offset %zu", i);
                rc = -EINVAL;
                goto fail;
            }
            if (i == start) {
                snprintf(msg, msglen, "empty segment at offset %zu", start);
                rc = -EINVAL;
                goto fail;
            }
            char *key = strndup(s + start, i - start);
            if (key == NULL || (rc = push_seg(p, &cap, key, 0)) != 0) {
                free(key);
                rc = -ENOMEM;
                goto fail;
            }
        }
        want_key = 0;
    }
    if (want_key) {
        snprintf(msg, msglen, "empty segment at offset %zu", len);
        rc = -EINVAL;
        goto fail;
    }
    *out = p;
    return 0;
fail:
    if (rc == -ENOMEM)
        snprintf(msg, msglen, "out of memory");
    jpath_destroy(p);
    return rc;
}

int dp_jpath_compile(const char *src, const char *field, dp_jpath_t **out,
                     dp_err_t *err)
{
    *out = NULL;
    if (src == NULL || src[0] == '\0') {
        dp_err_invalid(err, field, "empty path");
        return -EINVAL;
    }
    const char *rel = src;
    char msg[160] = "";
    if (src[0] == '$') {
        if (src[1] == '\0') {
            rel = src + 1;
        } else if (src[1] == '.') {
            rel = src + 2;
            /* "$.body" is the document itself: mocks written against
             * platforms that wrap the request say $.body.x for x. */
            if (strncmp(rel, "body", 4) == 0 &&
                (rel[4] == '\0' || rel[4] == '.' || rel[4] == '['))
                rel += 4;
            if (rel[0] == '.')
                rel++;
            if (rel == src + 2 && rel[0] == '\0') {
                dp_err_invalid(err, field, "invalid path '%s': empty segment",
                               src);
                return -EINVAL;
            }
            if (rel > src + 2 && rel[-1] == '.' && rel[0] == '\0') {
                dp_err_invalid(err, field, "invalid path '%s': empty segment",
                               src);
                return -EINVAL;
            }
        } else if (src[1] == '[') {
            rel = src + 1;
        } else {
            dp_err_invalid(err, field,
                           "invalid path '%s': expected '.' or '[' after '$'",
                           src);
            return -EINVAL;
        }
    }
    dp_jpath_t *p;
    int rc = dp_jpath_parse_rel(rel, strlen(rel), &p, msg, sizeof(msg));
    if (rc != 0) {
        dp_err_invalid(err, field, "invalid path '%s': %s", src, msg);
        return rc;
    }
    char *full = strdup(src);
    if (full == NULL) {
        jpath_destroy(p);
        dp_err_set(err, 500, "internal", field, "out of memory");
        return -ENOMEM;
    }
    free(p->src);
    p->src = full;
    *out = p;
    return 0;
}

const json_t *dp_jpath_get_from(const dp_jpath_t *p, size_t first,
                                const json_t *doc)
{
    const json_t *cur = doc;
    for (size_t i = first; i < p->nseg && cur != NULL; i++) {
        const dp_jseg_t *sg = &p->seg[i];
        if (sg->key != NULL && sg->numeric && json_is_array(cur))
            cur = json_array_get(cur, sg->index);
        else if (sg->key != NULL)
            cur = json_is_object(cur) ? json_object_get(cur, sg->key) : NULL;
        else
            cur = json_is_array(cur) ? json_array_get(cur, sg->index) : NULL;
    }
    return cur;
}

const json_t *dp_jpath_get(const dp_jpath_t *p, const json_t *doc)
{
    if (p == NULL)
        return NULL;
    return dp_jpath_get_from(p, 0, doc);
}

size_t dp_jpath_nseg(const dp_jpath_t *p)
{
    return p->nseg;
}

int dp_jpath_seg_key(const dp_jpath_t *p, size_t i, const char **key,
                     size_t *index)
{
    if (p->seg[i].key != NULL) {
        *key = p->seg[i].key;
        return 1;
    }
    *index = p->seg[i].index;
    return 0;
}

/* Text form shared by templates and condition reasons. */
size_t dp_json_text(const json_t *v, char *buf, size_t len)
{
    if (len > 0)
        buf[0] = '\0';
    if (v == NULL)
        return 0;
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (len > 0) {
            size_t c = n < len - 1 ? n : len - 1;
            memcpy(buf, json_string_value(v), c);
            buf[c] = '\0';
        }
        return n;
    }
    if (json_is_real(v)) {
        /* Shortest text that reads back as the same double: a price of
         * 9.95 interpolates as "9.95", not "9.9499999999999993". */
        char tmp[40];
        double d = json_real_value(v);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        if (strspn(tmp, "-0123456789") == strlen(tmp))
            strcat(tmp, ".0"); /* keep it reading as a real, like jansson */
        size_t n = strlen(tmp);
        if (len > 0) {
            size_t c = n < len - 1 ? n : len - 1;
            memcpy(buf, tmp, c);
            buf[c] = '\0';
        }
        return n;
    }
    size_t n = json_dumpb(v, buf, len > 0 ? len - 1 : 0,
                          JSON_COMPACT | JSON_ENCODE_ANY);
    if (len > 0)
        buf[n < len - 1 ? n : len - 1] = '\0';
    return n;
}
