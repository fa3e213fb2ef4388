/*
 * Tags: the distinct tags of the stored mocks with their counts, and tags
 * registered ahead of any mock, persisted as settings rows of kind "tag"
 * (namespace, name, {"name", "createdAt"}). The registered set lives in
 * e->tags under the writer lock; counts are computed from the mocks' JSON
 * at each call (no index to keep in step with every write).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int dp_catalog_load_row(dp_engine_t *e, const dp_config_row_t *r)
{
    if (strcmp(r->kind, "folder") == 0) {
        json_t *f = json_loads(r->json, 0, NULL);
        if (!json_is_object(f)) {
            json_decref(f);
            return 0; /* not ours to judge: skipped */
        }
        return json_object_set_new(e->folders, r->name, f) < 0 ? -ENOMEM : 0;
    }
    json_t *n = json_object_get(e->tags, r->ns);
    if (n == NULL) {
        n = json_object();
        if (n == NULL || json_object_set_new(e->tags, r->ns, n) < 0)
            return -ENOMEM;
    }
    json_t *v = json_loads(r->json, 0, NULL);
    json_t *at = json_object_get(v, "createdAt");
    int rc =
        json_object_set_new(n, r->name, json_integer(json_integer_value(at)));
    json_decref(v);
    return rc < 0 ? -ENOMEM : 0;
}

/* Adds one to counts[ns][tag]. */
static int count_tag(json_t *counts, const char *ns, const char *tag)
{
    json_t *n = json_object_get(counts, ns);
    if (n == NULL) {
        n = json_object();
        if (n == NULL || json_object_set_new(counts, ns, n) < 0)
            return -ENOMEM;
    }
    json_int_t c = json_integer_value(json_object_get(n, tag));
    return json_object_set_new(n, tag, json_integer(c + 1)) < 0 ? -ENOMEM : 0;
}

int dp_engine_tag_counts(dp_engine_t *e, const char *ns, json_t **out)
{
    *out = NULL;
    json_t *counts = json_object();
    if (counts == NULL)
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&e->wmu);
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        const dp_mock_t *m = e->mocks.ents[i].val;
        if ((ns && strcmp(m->ns, ns) != 0) || atomic_load(&m->closed_at))
            continue;
        json_t *o = json_loads(m->json, 0, NULL);
        size_t k;
        json_t *t;
        /* a tag written twice on one mock counts once */
        json_t *seen = json_object();
        json_array_foreach(json_object_get(o, "tags"), k, t)
        {
            const char *s = json_string_value(t);
            if (rc == 0 && s && seen && !json_object_get(seen, s)) {
                json_object_set_new(seen, s, json_true());
                rc = count_tag(counts, m->ns, s);
            }
        }
        if (seen == NULL)
            rc = -ENOMEM;
        json_decref(seen);
        json_decref(o);
        if (rc < 0)
            break;
    }
    const char *rns;
    json_t *reg;
    json_object_foreach(e->tags, rns, reg)
    {
        if (rc < 0 || (ns && strcmp(rns, ns) != 0))
            continue;
        const char *tag;
        json_t *v;
        json_object_foreach(reg, tag, v)
        {
            json_t *n = json_object_get(counts, rns);
            if (n && json_object_get(n, tag))
                continue;
            if (n == NULL) {
                n = json_object();
                if (n == NULL || json_object_set_new(counts, rns, n) < 0) {
                    rc = -ENOMEM;
                    break;
                }
            }
            if (json_object_set_new(n, tag, json_integer(0)) < 0)
                rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&e->wmu);
    if (rc < 0) {
        json_decref(counts);
        return rc;
    }
    *out = counts;
    return 0;
}

static int folder_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    static const char *const keys[] = {"namespace", "name", "id"};
    for (int i = 0; i < 3; i++) {
        int c = strcmp(json_string_value(json_object_get(x, keys[i])),
                       json_string_value(json_object_get(y, keys[i])));
        if (c)
            return c;
    }
    return 0;
}

/* 1 to 128 bytes of valid UTF-8 (jansson checked it) with no control
 * character. */
static int tag_name_ok(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 128)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int dp_engine_tag_register(dp_engine_t *e, const char *ns, const char *name,
                           int *created, dp_err_t *err)
{
    *created = 0;
    if (!tag_name_ok(name)) {
        dp_err_invalid(err, "name",
                       "name: expected a tag of 1 to 128 characters with no "
                       "control character");
        return -EINVAL;
    }
    if (ns == NULL || *ns == '\0')
        ns = "sandbox";
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    json_t *n = json_object_get(e->tags, ns);
    if (n && json_object_get(n, name))
        goto out; /* registered already */
    if (json_object_size(n) >= DP_TAGS_MAX) {
        dp_err_set(err, 409, "conflict", "name",
                   "namespace %s has %d registered tags, the most it keeps", ns,
                   DP_TAGS_MAX);
        rc = -ENOSPC;
        goto out;
    }
    int64_t now = dp_engine_now(e);
    json_t *v =
        json_pack("{s:s, s:I}", "name", name, "createdAt", (json_int_t)now);
    char *txt = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (txt == NULL) {
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    dp_config_row_t row = {ns, "tag", name, txt};
    rc = e->st->ops->config_put ? e->st->ops->config_put(e->st, &row, 1)
                                : -ENOTSUP;
    free(txt);
    if (rc < 0) {
        dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                   strerror(-rc));
        goto out;
    }
    if (n == NULL) {
        n = json_object();
        if (n == NULL || json_object_set_new(e->tags, ns, n) < 0) {
            rc = -ENOMEM; /* stored; loaded again at the next start */
            dp_err_set(err, 500, "internal", "", "out of memory");
            goto out;
        }
    }
    json_object_set_new(n, name, json_integer((json_int_t)now));
    *created = 1;
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- folders --------------------------------------------------------------
 */

static int name_ok(const char *s)
{
    return tag_name_ok(s);
}

static int folder_err(dp_err_t *err, int status, const char *field,
                      const char *what, const char *id)
{
    dp_err_set(err, status, status == 404 ? "not_found" : "conflict", field,
               "%s %.80s", what, id ? id : "(null)");
    return status == 404 ? -ENOENT : -EEXIST;
}

/* Persists folder f (NULL: deletes id) as one settings row. */
static int folder_put(dp_engine_t *e, const char *ns, const char *id,
                      const json_t *f, dp_err_t *err)
{
    char *txt = f ? json_dumps(f, JSON_COMPACT) : NULL;
    if (f && txt == NULL) {
        dp_err_set(err, 500, "internal", "", "out of memory");
        return -ENOMEM;
    }
    dp_config_row_t row = {ns, "folder", id, txt};
    int rc = e->st->ops->config_put ? e->st->ops->config_put(e->st, &row, 1)
                                    : -ENOTSUP;
    free(txt);
    if (rc < 0)
        dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                   strerror(-rc));
    return rc;
}

static const char *fns(const json_t *f)
{
    return json_string_value(json_object_get(f, "namespace"));
}

static const char *fparent(const json_t *f)
{
    return json_string_value(json_object_get(f, "parentId"));
}

int dp_engine_folders(dp_engine_t *e, const char *ns, json_t **out)
{
    *out = NULL;
    json_t *items = json_array();
    if (items == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&e->wmu);
    const char *id;
    json_t *f;
    json_object_foreach(e->folders, id, f)
    {
        if (ns == NULL || strcmp(fns(f), ns) == 0)
            json_array_append(items, f);
    }
    pthread_mutex_unlock(&e->wmu);
    size_t n = json_array_size(items);
    json_t **arr = calloc(n ? n : 1, sizeof(*arr));
    if (arr == NULL) {
        json_decref(items);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        arr[i] = json_deep_copy(json_array_get(items, i));
    json_decref(items);
    qsort(arr, n, sizeof(*arr), folder_cmp);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, arr[i]);
    free(arr);
    *out = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)n);
    return *out ? 0 : -ENOMEM;
}

int dp_engine_folder_get(dp_engine_t *e, const char *id, json_t **out,
                         dp_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&e->wmu);
    json_t *f = id ? json_object_get(e->folders, id) : NULL;
    if (f)
        *out = json_deep_copy(f);
    pthread_mutex_unlock(&e->wmu);
    if (f == NULL)
        return folder_err(err, 404, "id", "no folder with id", id);
    return *out ? 0 : -ENOMEM;
}

/* The parent a folder of ns may have: NULL or a folder of ns. */
static int parent_ok(dp_engine_t *e, const char *ns, const char *parent_id,
                     dp_err_t *err)
{
    if (parent_id == NULL)
        return 0;
    json_t *p = json_object_get(e->folders, parent_id);
    if (p == NULL || strcmp(fns(p), ns) != 0)
        return folder_err(err, 404, "parentId",
                          "no folder in this namespace with id", parent_id);
    return 0;
}

int dp_engine_folder_create(dp_engine_t *e, const char *ns, const char *name,
                            const char *parent_id, json_t **out, dp_err_t *err)
{
    *out = NULL;
    if (!name_ok(name)) {
        dp_err_invalid(err, "name",
                       "name: expected 1 to 128 characters with no control "
                       "character");
        return -EINVAL;
    }
    if (ns == NULL || *ns == '\0')
        ns = "sandbox";
    pthread_mutex_lock(&e->wmu);
    int rc = parent_ok(e, ns, parent_id, err);
    size_t in_ns = 0;
    const char *k;
    json_t *v;
    json_object_foreach(e->folders, k, v) in_ns += strcmp(fns(v), ns) == 0;
    if (rc == 0 && in_ns >= DP_FOLDERS_MAX) {
        dp_err_set(err, 409, "conflict", "",
                   "namespace %s has %d folders, "
                   "the most it keeps",
                   ns, DP_FOLDERS_MAX);
        rc = -ENOSPC;
    }
    char id[37];
    dp_uuid4(id);
    json_t *f = rc == 0
                    ? json_pack("{s:s, s:s, s:s?, s:s, s:I}", "id", id, "name",
                                name, "parentId", parent_id, "namespace", ns,
                                "createdAt", (json_int_t)dp_engine_now(e))
                    : NULL;
    if (rc == 0 && f == NULL) {
        dp_err_set(err, 500, "internal", "", "out of memory");
        rc = -ENOMEM;
    }
    if (rc == 0)
        rc = folder_put(e, ns, id, f, err);
    if (rc == 0) {
        *out = json_deep_copy(f);
        json_object_set_new(e->folders, id, f);
        f = NULL;
    }
    json_decref(f);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* Replaces folder id with a copy changed by (name, parent) and persists
 * it; caller holds wmu and checked the change. */
static int folder_change(dp_engine_t *e, json_t *f, const char *name,
                         int set_parent, const char *parent, json_t **out,
                         dp_err_t *err)
{
    json_t *nf = json_deep_copy(f);
    if (nf == NULL)
        return -ENOMEM;
    if (name)
        json_object_set_new(nf, "name", json_string(name));
    if (set_parent)
        json_object_set_new(nf, "parentId",
                            parent ? json_string(parent) : json_null());
    const char *id = json_string_value(json_object_get(nf, "id"));
    int rc = folder_put(e, fns(nf), id, nf, err);
    if (rc < 0) {
        json_decref(nf);
        return rc;
    }
    *out = json_deep_copy(nf);
    json_object_set_new(e->folders, id, nf);
    return 0;
}

int dp_engine_folder_rename(dp_engine_t *e, const char *id, const char *name,
                            json_t **out, dp_err_t *err)
{
    *out = NULL;
    if (!name_ok(name)) {
        dp_err_invalid(err, "name",
                       "name: expected 1 to 128 characters with no control "
                       "character");
        return -EINVAL;
    }
    pthread_mutex_lock(&e->wmu);
    json_t *f = id ? json_object_get(e->folders, id) : NULL;
    int rc = f ? folder_change(e, f, name, 0, NULL, out, err)
               : folder_err(err, 404, "id", "no folder with id", id);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_folder_move(dp_engine_t *e, const char *id, const char *parent_id,
                          json_t **out, dp_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&e->wmu);
    int rc;
    json_t *f = id ? json_object_get(e->folders, id) : NULL;
    if (f == NULL) {
        rc = folder_err(err, 404, "id", "no folder with id", id);
        goto out;
    }
    if ((rc = parent_ok(e, fns(f), parent_id, err)) < 0)
        goto out;
    /* walk up from the new parent: meeting id is a cycle */
    size_t depth = 0;
    for (const char *p = parent_id; p; depth++) {
        if (strcmp(p, id) == 0 || depth > DP_FOLDERS_MAX) {
            rc = folder_err(err, 409, "parentId",
                            "a folder cannot move under itself or its own "
                            "descendant:",
                            parent_id);
            goto out;
        }
        p = fparent(json_object_get(e->folders, p));
    }
    rc = folder_change(e, f, NULL, 1, parent_id, out, err);
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* Collects into sub the ids of id's subtree (id included). */
static void subtree(dp_engine_t *e, const char *id, json_t *sub)
{
    json_object_set_new(sub, id, json_true());
    for (int grew = 1; grew;) {
        grew = 0;
        const char *k;
        json_t *f;
        json_object_foreach(e->folders, k, f)
        {
            const char *p = fparent(f);
            if (p && json_object_get(sub, p) && !json_object_get(sub, k)) {
                json_object_set_new(sub, k, json_true());
                grew = 1;
            }
        }
    }
}

/* The ids of the mocks of ns whose folderId is in sub; caller holds wmu. */
static json_t *mocks_in(dp_engine_t *e, const char *ns, const json_t *sub)
{
    json_t *ids = json_array();
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        const dp_mock_t *m = e->mocks.ents[i].val;
        if (ids == NULL || strcmp(m->ns, ns) != 0 ||
            strstr(m->json, "\"folderId\"") == NULL)
            continue;
        json_t *o = json_loads(m->json, 0, NULL);
        const char *fid = json_string_value(json_object_get(o, "folderId"));
        if (fid && json_object_get(sub, fid))
            json_array_append_new(ids, json_string(m->id));
        json_decref(o);
    }
    return ids;
}

int dp_engine_folder_delete(dp_engine_t *e, const char *id, int recursive,
                            size_t *moved, dp_err_t *err)
{
    *moved = 0;
    json_t *sub = json_object(), *ids = NULL;
    if (sub == NULL)
        return -ENOMEM;
    char ns[256] = ""; /* namespace names are shorter (admin: 64) */
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    json_t *f = id ? json_object_get(e->folders, id) : NULL;
    if (f == NULL) {
        rc = folder_err(err, 404, "id", "no folder with id", id);
        goto unlock;
    }
    snprintf(ns, sizeof(ns), "%s", fns(f));
    subtree(e, id, sub);
    ids = mocks_in(e, ns, sub);
    if (ids == NULL) {
        rc = -ENOMEM;
        goto unlock;
    }
    if (!recursive && (json_object_size(sub) > 1 || json_array_size(ids))) {
        dp_err_set(err, 409, "conflict", "recursive",
                   "folder %.80s holds %zu subfolders and %zu mocks; "
                   "?recursive=true deletes them (its mocks leave the "
                   "folder)",
                   id, json_object_size(sub) - 1, json_array_size(ids));
        rc = -EEXIST;
    }
unlock:
    pthread_mutex_unlock(&e->wmu);
    if (rc == 0 && json_array_size(ids)) {
        /* the mocks first, in one commit: a failure leaves every folder */
        json_t *patches = json_array();
        for (size_t i = 0; patches && i < json_array_size(ids); i++)
            json_array_append_new(patches, json_pack("{s:n}", "folderId"));
        json_t *out = NULL;
        rc = patches ? dp_engine_mock_patch_batch(e, ids, patches, &out, err)
                     : -ENOMEM;
        json_decref(out);
        json_decref(patches);
        if (rc == 0)
            *moved = json_array_size(ids);
    }
    if (rc == 0) {
        /* then the folders, in one transaction */
        size_t n = json_object_size(sub), k = 0;
        dp_config_row_t *rows = calloc(n ? n : 1, sizeof(*rows));
        const char *fid;
        json_t *v;
        if (rows == NULL) {
            rc = -ENOMEM;
        } else {
            json_object_foreach(sub, fid, v) rows[k++] =
                (dp_config_row_t){ns, "folder", fid, NULL};
            pthread_mutex_lock(&e->wmu);
            rc = e->st->ops->config_put ? e->st->ops->config_put(e->st, rows, n)
                                        : -ENOTSUP;
            if (rc == 0)
                json_object_foreach(sub, fid, v)
                    json_object_del(e->folders, fid);
            else
                dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                           strerror(-rc));
            pthread_mutex_unlock(&e->wmu);
            free(rows);
        }
    }
    if (rc == -ENOMEM)
        dp_err_set(err, 500, "internal", "", "out of memory");
    json_decref(sub);
    json_decref(ids);
    return rc;
}
