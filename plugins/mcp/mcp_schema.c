/*
 * The tool-argument checker (see mcp_schema.h for the keywords).
 */
#include "mcp_schema.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The fault's path is built while descending; it is only as deep as the
 * schema, so a small buffer is enough (longer paths are truncated). */
#define PATH_MAX_LEN 256

typedef struct check {
    char path[PATH_MAX_LEN];
    size_t len;
    const char *why;
} check_t;

static int refuse(check_t *c, const char *why)
{
    c->why = why;
    return -EINVAL;
}

/* Appends ".name" (or "name" at the top) or "[i]"; returns the old length
 * to restore. */
static size_t push_name(check_t *c, const char *name)
{
    size_t old = c->len;
    int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "%s%s",
                     c->len ? "." : "", name);
    if (n > 0)
        c->len += (size_t)n < sizeof(c->path) - c->len
                      ? (size_t)n
                      : sizeof(c->path) - c->len - 1;
    return old;
}

static size_t push_index(check_t *c, size_t i)
{
    size_t old = c->len;
    int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "[%zu]", i);
    if (n > 0)
        c->len += (size_t)n < sizeof(c->path) - c->len
                      ? (size_t)n
                      : sizeof(c->path) - c->len - 1;
    return old;
}

static void pop(check_t *c, size_t old)
{
    c->len = old;
    c->path[old] = '\0';
}

/* A JSON number without a fraction counts as an integer, so 5.0 from a
 * client that only has doubles is accepted. */
static int is_integer(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    /* Within +-2^53 every integral double converts exactly (and NaN
     * fails the range test); no libm needed. */
    if (!(d > -9007199254740992.0 && d < 9007199254740992.0))
        return 0;
    return d == (double)(long long)d;
}

static int type_is(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return is_integer(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return 0;
}

static int check_type(check_t *c, const json_t *type, const json_t *v)
{
    if (type == NULL)
        return 0;
    if (json_is_string(type))
        return type_is(json_string_value(type), v)
                   ? 0
                   : refuse(c, "an argument has the wrong type");
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t)
    {
        if (json_is_string(t) && type_is(json_string_value(t), v))
            return 0;
    }
    return refuse(c, "an argument has the wrong type");
}

/* Characters, not bytes: jansson strings are valid UTF-8, so counting the
 * bytes that do not continue a sequence counts the code points. */
static size_t utf8_chars(const json_t *s)
{
    const unsigned char *p = (const unsigned char *)json_string_value(s);
    size_t n = json_string_length(s), count = 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static int check_value(check_t *c, const json_t *schema, const json_t *v);

static int check_string(check_t *c, const json_t *schema, const json_t *v)
{
    const json_t *min = json_object_get(schema, "minLength");
    const json_t *max = json_object_get(schema, "maxLength");
    if (min == NULL && max == NULL)
        return 0;
    size_t n = utf8_chars(v);
    if (json_is_integer(min) && (json_int_t)n < json_integer_value(min))
        return refuse(c, "an argument is too short (empty or below its "
                         "minLength)");
    if (json_is_integer(max) && (json_int_t)n > json_integer_value(max))
        return refuse(c, "an argument is too long (over its maxLength)");
    return 0;
}

static int check_number(check_t *c, const json_t *schema, const json_t *v)
{
    const json_t *min = json_object_get(schema, "minimum");
    const json_t *max = json_object_get(schema, "maximum");
    double d = json_number_value(v);
    if (json_is_number(min) && d < json_number_value(min))
        return refuse(c, "a number argument is below its minimum");
    if (json_is_number(max) && d > json_number_value(max))
        return refuse(c, "a number argument is above its maximum");
    return 0;
}

static int check_object(check_t *c, const json_t *schema, const json_t *v)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const json_t *req = json_object_get(schema, "required");
    const json_t *maxp = json_object_get(schema, "maxProperties");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        const char *name = json_string_value(r);
        if (name != NULL && json_object_get(v, name) == NULL) {
            push_name(c, name); /* the path names the missing property */
            return refuse(c, "a required argument is missing");
        }
    }
    if (json_is_integer(maxp) &&
        (json_int_t)json_object_size(v) > json_integer_value(maxp))
        return refuse(c, "an object argument has too many properties");
    const char *k;
    json_t *pv;
    /* json_object_foreach needs a non-const object; nothing is changed. */
    json_object_foreach((json_t *)v, k, pv)
    {
        const json_t *ps = json_object_get(props, k);
        size_t old = push_name(c, k);
        int rc = 0;
        if (ps != NULL)
            rc = check_value(c, ps, pv);
        else if (json_is_false(addl))
            rc = refuse(c, "unknown argument (the tool's inputSchema does not "
                           "allow additional properties)");
        else if (json_is_object(addl))
            rc = check_value(c, addl, pv);
        if (rc < 0)
            return rc;
        pop(c, old);
    }
    return 0;
}

static int check_array(check_t *c, const json_t *schema, const json_t *v)
{
    const json_t *items = json_object_get(schema, "items");
    const json_t *maxi = json_object_get(schema, "maxItems");
    if (json_is_integer(maxi) &&
        (json_int_t)json_array_size(v) > json_integer_value(maxi))
        return refuse(c, "an array argument has too many items");
    if (!json_is_object(items))
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        size_t old = push_index(c, i);
        int rc = check_value(c, items, e);
        if (rc < 0)
            return rc;
        pop(c, old);
    }
    return 0;
}

static int check_enum(check_t *c, const json_t *en, const json_t *v)
{
    if (!json_is_array(en))
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(en, i, e)
    {
        if (json_equal(e, (json_t *)v))
            return 0;
    }
    return refuse(c, "an argument is not one of the values its enum allows");
}

static int check_value(check_t *c, const json_t *schema, const json_t *v)
{
    if (!json_is_object(schema))
        return 0; /* true / {} : anything */
    int rc = check_type(c, json_object_get(schema, "type"), v);
    if (rc == 0)
        rc = check_enum(c, json_object_get(schema, "enum"), v);
    if (rc < 0)
        return rc;
    if (json_is_string(v))
        return check_string(c, schema, v);
    if (json_is_number(v))
        return check_number(c, schema, v);
    if (json_is_object(v))
        return check_object(c, schema, v);
    if (json_is_array(v))
        return check_array(c, schema, v);
    return 0;
}

int mcp_schema_check(const json_t *schema, const json_t *value, char *path,
                     size_t pathlen, const char **why)
{
    check_t c;
    c.path[0] = '\0';
    c.len = 0;
    c.why = NULL;
    int rc = value == NULL ? refuse(&c, "arguments are missing")
                           : check_value(&c, schema, value);
    if (why != NULL)
        *why = rc < 0 ? c.why : NULL;
    if (path != NULL && pathlen > 0)
        snprintf(path, pathlen, "%s", rc < 0 ? c.path : "");
    return rc;
}
