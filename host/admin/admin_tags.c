/*
 * Tags under the platforms' SDK paths: GET /tags (the distinct tags of the
 * mocks the caller may read, with counts) and POST /tags (register a tag
 * before any mock uses it). docs/admin-api.md, "Tags". GET without a
 * namespace spans every namespace the caller may read (authorised like
 * GET /counts, through admin_compat_authorize); POST is an ordinary write
 * in the body's namespace. Same thread rules as every admin handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

static int may_read(admin_call_t *c, const char *ns)
{
    dp_admin_op_t op = {"tags.list", 0};
    dp_err_t err = {0};
    return dp_admin_authorize_more(c->auth, &c->who, &op, ns, &err) == 0;
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

void admin_tags_list(admin_call_t *c)
{
    json_t *counts = NULL;
    const char *only = c->ns[0] ? c->ns : NULL;
    if (dp_engine_tag_counts(c->engine, only, &counts) < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    json_t *sum = json_object(); /* tag -> count over the namespaces read */
    const char *ns;
    json_t *tags;
    json_object_foreach(counts, ns, tags)
    {
        if (only == NULL && !may_read(c, ns))
            continue;
        const char *tag;
        json_t *n;
        json_object_foreach(tags, tag, n)
        {
            json_int_t had = json_integer_value(json_object_get(sum, tag));
            json_object_set_new(sum, tag,
                                json_integer(had + json_integer_value(n)));
        }
    }
    json_decref(counts);
    size_t total = json_object_size(sum);
    json_t **arr = calloc(total ? total : 1, sizeof(*arr));
    json_t *items = json_array();
    if (sum == NULL || arr == NULL || items == NULL) {
        json_decref(sum);
        json_decref(items);
        free(arr);
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    size_t k = 0;
    const char *tag;
    json_t *n;
    json_object_foreach(sum, tag, n)
    {
        arr[k] = json_pack("{s:s, s:O}", "name", tag, "count", n);
        if (arr[k] != NULL)
            k++;
    }
    qsort(arr, k, sizeof(*arr), by_name);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(items, arr[i]);
    free(arr);
    json_decref(sum);
    json_t *out = json_pack("{s:O, s:o, s:I, s:s?}", "tags", items, "items",
                            items, "total", (json_int_t)k, "namespace", only);
    admin_reply_json(c, 200, out);
}

void admin_tags_create(admin_call_t *c)
{
    const char *key;
    json_t *v;
    json_object_foreach(c->body, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "namespace") != 0) {
            admin_reply_error(c, 400, "validation", key,
                              "%.64s: unknown key (a tag is {name[, "
                              "namespace]})",
                              key);
            return;
        }
    }
    json_t *name = json_object_get(c->body, "name");
    if (!json_is_string(name)) {
        admin_reply_error(c, 400, "validation", "name",
                          "name: expected a string");
        return;
    }
    const char *ns = c->ns[0] ? c->ns : "sandbox";
    int created = 0;
    dp_err_t err = {0};
    int rc = dp_engine_tag_register(c->engine, ns, json_string_value(name),
                                    &created, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, created ? 201 : 200,
                     json_pack("{s:O, s:s, s:b}", "name", name, "namespace", ns,
                               "created", created));
}
