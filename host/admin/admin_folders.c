/*
 * Mock folders under the platforms' SDK paths: GET|POST /mock-folders,
 * PUT|DELETE /mock-folders/ID, PATCH /mock-folders/ID/move
 * (docs/admin-api.md, "Mock folders"). The engine keeps the tree
 * (catalog.c). A call by folder id acts in the folder's namespace (a
 * folder the caller cannot read answers 404 as an unknown id); GET without
 * a namespace spans the namespaces the caller may read. Reached through
 * admin_compat_authorize; same thread rules as every admin handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

static int may(admin_call_t *c, const char *op_name, int write, const char *ns)
{
    dp_admin_op_t op = {op_name, write};
    dp_err_t err = {0};
    return dp_admin_authorize_more(c->auth, &c->who, &op, ns, &err) == 0;
}

static int deny(admin_call_t *c, int rc, dp_err_t *err)
{
    if (err->status == 0)
        dp_err_set(err, 403, "forbidden", NULL, "not allowed");
    admin_reply_dp_err(c, rc, err);
    return rc;
}

int admin_folders_owns(const char *op_name)
{
    return strcmp(op_name, "folders.list") == 0 ||
           strcmp(op_name, "folders.update") == 0 ||
           strcmp(op_name, "folders.delete") == 0 ||
           strcmp(op_name, "folders.move") == 0;
}

int admin_folders_authorize(admin_call_t *c, const dp_admin_op_t *op,
                            char ns_out[ADMIN_NS_MAX + 1])
{
    dp_err_t err = {0};
    int rc;
    if (strcmp(op->name, "folders.list") == 0) {
        if (c->ns[0] == '\0')
            return 0; /* the handler keeps what the caller may read */
        rc = dp_admin_authorize_more(c->auth, &c->who, op, c->ns, &err);
        return rc < 0 ? deny(c, rc, &err) : 0;
    }
    json_t *f = NULL;
    const char *ns = NULL;
    if (dp_engine_folder_get(c->engine, c->seg[1], &f, &err) == 0)
        ns = json_string_value(json_object_get(f, "namespace"));
    if (ns == NULL || !may(c, "folders.list", 0, ns)) {
        json_decref(f);
        admin_reply_error(c, 404, "not_found", "id", "no folder with id %.80s",
                          c->seg[1]);
        return -ENOENT;
    }
    snprintf(ns_out, ADMIN_NS_MAX + 1, "%s", ns);
    json_decref(f);
    rc = dp_admin_authorize_more(c->auth, &c->who, op, ns_out, &err);
    return rc < 0 ? deny(c, rc, &err) : 0;
}

/* Every key of the body is one of keys (NULL-terminated). Answers 400. */
static int only_keys(admin_call_t *c, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        int ok = 0;
        for (size_t i = 0; keys[i] && !ok; i++)
            ok = strcmp(k, keys[i]) == 0;
        if (!ok) {
            admin_reply_error(c, 400, "validation", k, "%.64s: unknown key", k);
            return -EINVAL;
        }
    }
    return 0;
}

/* "parentId": absent, null or "" is the top level. Answers 400. */
static int parent_of(admin_call_t *c, const char **out)
{
    json_t *p = json_object_get(c->body, "parentId");
    *out = NULL;
    if (p == NULL || json_is_null(p))
        return 0;
    if (!json_is_string(p) || json_string_length(p) > 128) {
        admin_reply_error(c, 400, "validation", "parentId",
                          "parentId: expected a folder id or null");
        return -EINVAL;
    }
    if (json_string_length(p) > 0)
        *out = json_string_value(p);
    return 0;
}

static const char *name_of(admin_call_t *c)
{
    json_t *n = json_object_get(c->body, "name");
    if (!json_is_string(n)) {
        admin_reply_error(c, 400, "validation", "name",
                          "name: expected a string");
        return NULL;
    }
    return json_string_value(n);
}

static void reply(admin_call_t *c, int rc, int status, json_t *out,
                  const dp_err_t *err)
{
    if (rc < 0)
        admin_reply_dp_err(c, rc, err);
    else
        admin_reply_json(c, status, out);
}

void admin_folders_list(admin_call_t *c)
{
    json_t *all = NULL;
    if (dp_engine_folders(c->engine, c->ns[0] ? c->ns : NULL, &all) < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    json_t *items = json_array();
    json_t *seen = json_object(); /* namespace -> may read */
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(all, "items"), i, f)
    {
        const char *ns = json_string_value(json_object_get(f, "namespace"));
        json_t *ok = json_object_get(seen, ns);
        if (ok == NULL) {
            ok = json_boolean(c->ns[0] || may(c, "folders.list", 0, ns));
            json_object_set_new(seen, ns, ok);
        }
        if (json_is_true(ok))
            json_array_append(items, f);
    }
    json_decref(all);
    json_decref(seen);
    json_t *out = json_pack("{s:O, s:o, s:I}", "folders", items, "items", items,
                            "total", (json_int_t)json_array_size(items));
    admin_reply_json(c, 200, out);
}

void admin_folders_create(admin_call_t *c)
{
    static const char *const keys[] = {"name", "parentId", "namespace", NULL};
    const char *parent, *name;
    if (only_keys(c, keys) < 0 || (name = name_of(c)) == NULL ||
        parent_of(c, &parent) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_folder_create(c->engine, c->ns[0] ? c->ns : "sandbox",
                                     name, parent, &out, &err);
    reply(c, rc, 201, out, &err);
}

void admin_folders_update(admin_call_t *c)
{
    static const char *const keys[] = {"name", "id", NULL};
    const char *name;
    if (only_keys(c, keys) < 0 || (name = name_of(c)) == NULL)
        return;
    json_t *id = json_object_get(c->body, "id");
    if (id && !(json_is_string(id) &&
                strcmp(json_string_value(id), c->seg[1]) == 0)) {
        admin_reply_error(c, 400, "validation", "id", "id cannot change");
        return;
    }
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_folder_rename(c->engine, c->seg[1], name, &out, &err);
    reply(c, rc, 200, out, &err);
}

void admin_folders_move(admin_call_t *c)
{
    static const char *const keys[] = {"parentId", NULL};
    const char *parent;
    if (only_keys(c, keys) < 0 || parent_of(c, &parent) < 0)
        return;
    if (json_object_get(c->body, "parentId") == NULL) {
        admin_reply_error(c, 400, "validation", "parentId",
                          "parentId: required (null: the top level)");
        return;
    }
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_folder_move(c->engine, c->seg[1], parent, &out, &err);
    reply(c, rc, 200, out, &err);
}

void admin_folders_delete(admin_call_t *c)
{
    int recursive = 0;
    if (admin_query_bool(c, "recursive", 0, &recursive) < 0)
        return;
    size_t moved = 0;
    dp_err_t err = {0};
    int rc =
        dp_engine_folder_delete(c->engine, c->seg[1], recursive, &moved, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200,
                     json_pack("{s:s, s:b, s:I}", "id", c->seg[1], "deleted", 1,
                               "mocksMoved", (json_int_t)moved));
}
