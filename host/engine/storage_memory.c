/*
 * The in-memory storage back end: the engine tests' storage, and the model
 * the other back ends follow (each call all or nothing). Nothing survives the
 * process. Called under the engine's writer lock only, so no locking here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "storage.h"

typedef struct mem_storage {
    dp_storage_t base;
    json_t *mocks;  /* id -> [ns, json] */
    json_t *stores; /* "ns\x1fscope\x1fkey" -> [ns, scope, key, json] */
    json_t *usage;  /* id -> [use_counter, last_use] */
    json_t *config; /* "ns\x1fkind\x1fname" -> [ns, kind, name, json] */
    /* id -> [[version, ns, json, created_at, who, summary], ...], oldest
     * first; who and summary may be null */
    json_t *versions;
    json_t *tfiles; /* "ns\x1fname" -> [ns, name, content, updated_at] */
    /* "section\x1fns\x1fname" -> [section, ns, name, content, updated_at] */
    json_t *schemas;
} mem_storage_t;

static int64_t mem_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends version row r (an array as above) to the versions of id, then
 * keeps only the newest keep (0: all). */
static void mem_version_add(mem_storage_t *ms, const char *id, json_t *r,
                            unsigned keep)
{
    json_t *list = json_object_get(ms->versions, id);
    if (list == NULL) {
        list = json_array();
        if (list == NULL || json_object_set_new(ms->versions, id, list) < 0)
            return;
    }
    json_int_t v = json_integer_value(json_array_get(r, 0));
    /* a version written again replaces the one kept (as SQLite's REPLACE) */
    for (size_t i = json_array_size(list); i-- > 0;)
        if (json_integer_value(json_array_get(json_array_get(list, i), 0)) == v)
            json_array_remove(list, i);
    json_array_append(list, r);
    while (keep > 0 && json_array_size(list) > 0 &&
           json_integer_value(json_array_get(json_array_get(list, 0), 0)) <=
               v - (json_int_t)keep)
        json_array_remove(list, 0);
}

static int mem_mocks_put_versions(dp_storage_t *s, const dp_stored_mock_t *m,
                                  size_t n, const dp_mock_version_t *ver,
                                  size_t nv, unsigned keep)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    /* build everything first so a failure changes nothing */
    json_t *rows = json_array(), *vrows = json_array();
    int64_t ts = mem_now_ms();
    if (rows == NULL || vrows == NULL) {
        json_decref(rows);
        json_decref(vrows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!m[i].id || !m[i].ns || !m[i].json) {
            json_decref(rows);
            json_decref(vrows);
            return -EINVAL;
        }
        json_t *r = json_pack("[ss]", m[i].ns, m[i].json);
        if (r == NULL || json_array_append_new(rows, r) < 0) {
            json_decref(rows);
            json_decref(vrows);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < nv; i++) {
        if (!ver[i].id || !ver[i].ns || !ver[i].json || ver[i].version <= 0) {
            json_decref(rows);
            json_decref(vrows);
            return -EINVAL;
        }
        json_t *v =
            json_pack("[IssIs?s?]", (json_int_t)ver[i].version, ver[i].ns,
                      ver[i].json, (json_int_t)ts, ver[i].who, ver[i].summary);
        if (v == NULL || json_array_append_new(vrows, v) < 0) {
            json_decref(rows);
            json_decref(vrows);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_object_set(ms->mocks, m[i].id, json_array_get(rows, i));
        json_object_del(ms->usage, m[i].id);
    }
    for (size_t i = 0; i < nv; i++)
        mem_version_add(ms, ver[i].id, json_array_get(vrows, i), keep);
    json_decref(rows);
    json_decref(vrows);
    return 0;
}

static int mem_mocks_put(dp_storage_t *s, const dp_stored_mock_t *m, size_t n)
{
    return mem_mocks_put_versions(s, m, n, NULL, 0, 0);
}

static int mem_mocks_delete(dp_storage_t *s, const char *const *ids, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    for (size_t i = 0; i < n; i++) {
        json_object_del(ms->mocks, ids[i]);
        json_object_del(ms->usage, ids[i]);
        json_object_del(ms->versions, ids[i]);
    }
    return 0;
}

static int mem_mocks_load(dp_storage_t *s, dp_mock_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *id;
    json_t *r;
    json_object_foreach(ms->mocks, id, r)
    {
        dp_stored_mock_t m = {.id = id,
                              .ns = json_string_value(json_array_get(r, 0)),
                              .json = json_string_value(json_array_get(r, 1))};
        int rc = cb(arg, &m);
        if (rc)
            return rc;
    }
    return 0;
}

static char *entry_key(const dp_store_entry_t *e)
{
    size_t l = strlen(e->ns) + strlen(e->scope) + strlen(e->key) + 3;
    char *k = malloc(l);
    if (k) {
        strcpy(k, e->ns);
        strcat(k, "\x1f");
        strcat(k, e->scope);
        strcat(k, "\x1f");
        strcat(k, e->key);
    }
    return k;
}

static int mem_store_put(dp_storage_t *s, const dp_store_entry_t *e, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    for (size_t i = 0; i < n; i++)
        if (!e[i].ns || !e[i].scope || !e[i].key)
            return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char *k = entry_key(&e[i]);
        if (k == NULL)
            return -ENOMEM;
        if (e[i].json == NULL)
            json_object_del(ms->stores, k);
        else
            json_object_set_new(ms->stores, k,
                                json_pack("[ssss]", e[i].ns, e[i].scope,
                                          e[i].key, e[i].json));
        free(k);
    }
    return 0;
}

static int mem_store_load(dp_storage_t *s, dp_store_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *k;
    json_t *r;
    json_object_foreach(ms->stores, k, r)
    {
        dp_store_entry_t e = {json_string_value(json_array_get(r, 0)),
                              json_string_value(json_array_get(r, 1)),
                              json_string_value(json_array_get(r, 2)),
                              json_string_value(json_array_get(r, 3))};
        int rc = cb(arg, &e);
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_reset_ns(dp_storage_t *s, const char *ns)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    json_t *objs[2] = {ms->mocks, ms->stores};
    for (int w = 0; w < 2; w++) {
        const char *k;
        json_t *r;
        void *tmp;
        json_object_foreach_safe(objs[w], tmp, k, r)
        {
            const char *rns = json_string_value(json_array_get(r, 0));
            if (rns && strcmp(rns, ns) == 0) {
                if (w == 0) {
                    json_object_del(ms->usage, k);
                    json_object_del(ms->versions, k);
                }
                json_object_del(objs[w], k);
            }
        }
    }
    return 0;
}

static int mem_usage_put(dp_storage_t *s, const dp_mock_usage_t *u, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < n; i++) {
        json_t *r = u[i].id ? json_pack("[II]", (json_int_t)u[i].use_counter,
                                         (json_int_t)u[i].last_use)
                            : NULL;
        if (r == NULL || json_array_append_new(rows, r) < 0) {
            json_decref(rows);
            return u[i].id ? -ENOMEM : -EINVAL;
        }
    }
    if (rows == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) /* only mocks that are stored */
        if (json_object_get(ms->mocks, u[i].id))
            json_object_set(ms->usage, u[i].id, json_array_get(rows, i));
    json_decref(rows);
    return 0;
}

static int mem_usage_load(dp_storage_t *s, dp_usage_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *id;
    json_t *r;
    json_object_foreach(ms->usage, id, r)
    {
        dp_mock_usage_t u = {id, json_integer_value(json_array_get(r, 0)),
                             json_integer_value(json_array_get(r, 1))};
        int rc = cb(arg, &u);
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_config_put(dp_storage_t *s, const dp_config_row_t *r, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    /* build every row first so a failure changes nothing */
    json_t *keys = json_array(), *rows = json_array();
    int rc = (keys && rows) ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!r[i].ns || !r[i].kind || !r[i].name) {
            rc = -EINVAL;
            break;
        }
        json_t *k =
            json_sprintf("%s\x1f%s\x1f%s", r[i].ns, r[i].kind, r[i].name);
        json_t *row = r[i].json ? json_pack("[ssss]", r[i].ns, r[i].kind,
                                            r[i].name, r[i].json)
                                : json_null();
        if (k == NULL || row == NULL) {
            json_decref(k);
            json_decref(row);
            rc = -ENOMEM;
            break;
        }
        json_array_append_new(keys, k);
        json_array_append_new(rows, row);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *k = json_string_value(json_array_get(keys, i));
        json_t *row = json_array_get(rows, i);
        if (json_is_null(row))
            json_object_del(ms->config, k);
        else
            json_object_set(ms->config, k, row);
    }
    json_decref(keys);
    json_decref(rows);
    return rc;
}

static int mem_config_load(dp_storage_t *s, dp_config_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *k;
    json_t *r;
    json_object_foreach(ms->config, k, r)
    {
        dp_config_row_t row = {json_string_value(json_array_get(r, 0)),
                               json_string_value(json_array_get(r, 1)),
                               json_string_value(json_array_get(r, 2)),
                               json_string_value(json_array_get(r, 3))};
        int rc = cb(arg, &row);
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_versions_load(dp_storage_t *s, const char *id,
                             dp_version_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *k;
    json_t *list;
    json_object_foreach(ms->versions, k, list)
    {
        if (id && strcmp(k, id) != 0)
            continue;
        for (size_t i = json_array_size(list); i-- > 0;) {
            json_t *r = json_array_get(list, i);
            dp_mock_version_t v = {
                k,
                json_integer_value(json_array_get(r, 0)),
                json_string_value(json_array_get(r, 1)),
                json_string_value(json_array_get(r, 2)),
                json_integer_value(json_array_get(r, 3)),
                json_string_value(json_array_get(r, 4)),
                json_string_value(json_array_get(r, 5)),
            };
            int rc = cb(arg, &v);
            if (rc)
                return rc;
            if (id == NULL)
                break; /* the newest only */
        }
    }
    return 0;
}

static int mem_tfiles_put(dp_storage_t *s, const dp_tfile_row_t *r, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    /* build every row first so a failure changes nothing */
    json_t *keys = json_array(), *rows = json_array();
    int rc = (keys && rows) ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!r[i].ns || !r[i].name) {
            rc = -EINVAL;
            break;
        }
        json_t *k = json_sprintf("%s\x1f%s", r[i].ns, r[i].name);
        json_t *row = r[i].content
                          ? json_pack("[sssI]", r[i].ns, r[i].name,
                                      r[i].content, (json_int_t)r[i].updated_at)
                          : json_null();
        if (k == NULL || row == NULL) {
            json_decref(k);
            json_decref(row);
            rc = -ENOMEM;
            break;
        }
        json_array_append_new(keys, k);
        json_array_append_new(rows, row);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *k = json_string_value(json_array_get(keys, i));
        json_t *row = json_array_get(rows, i);
        if (json_is_null(row))
            json_object_del(ms->tfiles, k);
        else
            json_object_set(ms->tfiles, k, row);
    }
    json_decref(keys);
    json_decref(rows);
    return rc;
}

static int mem_tfiles_load(dp_storage_t *s, dp_tfile_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    const char *k;
    json_t *r;
    json_object_foreach(ms->tfiles, k, r)
    {
        dp_tfile_row_t row = {
            json_string_value(json_array_get(r, 0)),
            json_string_value(json_array_get(r, 1)),
            json_string_value(json_array_get(r, 2)),
            (int64_t)json_integer_value(json_array_get(r, 3))};
        int rc = cb(arg, &row);
        if (rc)
            return rc;
    }
    return 0;
}

static int mem_schemas_put(dp_storage_t *s, const dp_schema_row_t *r, size_t n)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    /* build every row first so a failure changes nothing */
    json_t *keys = json_array(), *rows = json_array();
    int rc = (keys && rows) ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!r[i].section || !r[i].ns || !r[i].name) {
            rc = -EINVAL;
            break;
        }
        json_t *k =
            json_sprintf("%s\x1f%s\x1f%s", r[i].section, r[i].ns, r[i].name);
        json_t *row = r[i].content ? json_pack("[ssssI]", r[i].section, r[i].ns,
                                               r[i].name, r[i].content,
                                               (json_int_t)r[i].updated_at)
                                   : json_null();
        if (k == NULL || row == NULL) {
            json_decref(k);
            json_decref(row);
            rc = -ENOMEM;
            break;
        }
        json_array_append_new(keys, k);
        json_array_append_new(rows, row);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *k = json_string_value(json_array_get(keys, i));
        json_t *row = json_array_get(rows, i);
        if (json_is_null(row))
            json_object_del(ms->schemas, k);
        else
            json_object_set(ms->schemas, k, row);
    }
    json_decref(keys);
    json_decref(rows);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int mem_schemas_load(dp_storage_t *s, dp_schema_load_cb cb, void *arg)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    size_t n = json_object_size(ms->schemas), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    const char *k;
    json_t *r;
    json_object_foreach(ms->schemas, k, r) keys[i++] = k;
    /* the order SQLite gives: section, namespace, name */
    qsort(keys, n, sizeof(*keys), cmp_str);
    int rc = 0;
    for (i = 0; rc == 0 && i < n; i++) {
        r = json_object_get(ms->schemas, keys[i]);
        dp_schema_row_t row = {
            json_string_value(json_array_get(r, 0)),
            json_string_value(json_array_get(r, 1)),
            json_string_value(json_array_get(r, 2)),
            json_string_value(json_array_get(r, 3)),
            (int64_t)json_integer_value(json_array_get(r, 4))};
        rc = cb(arg, &row);
    }
    free(keys);
    return rc;
}

static void mem_close(dp_storage_t *s)
{
    mem_storage_t *ms = (mem_storage_t *)s;
    if (ms == NULL)
        return;
    json_decref(ms->mocks);
    json_decref(ms->stores);
    json_decref(ms->usage);
    json_decref(ms->config);
    json_decref(ms->versions);
    json_decref(ms->tfiles);
    json_decref(ms->schemas);
    free(ms);
}

static const dp_storage_ops_t mem_ops = {
    .name = "memory",
    .mocks_put = mem_mocks_put,
    .mocks_delete = mem_mocks_delete,
    .mocks_load = mem_mocks_load,
    .store_put = mem_store_put,
    .store_load = mem_store_load,
    .reset_ns = mem_reset_ns,
    .close = mem_close,
    .usage_put = mem_usage_put,
    .usage_load = mem_usage_load,
    .config_put = mem_config_put,
    .config_load = mem_config_load,
    .tfiles_put = mem_tfiles_put,
    .tfiles_load = mem_tfiles_load,
    .versions_load = mem_versions_load,
    .mocks_put_versions = mem_mocks_put_versions,
    .schemas_put = mem_schemas_put,
    .schemas_load = mem_schemas_load,
};

dp_storage_t *dp_storage_memory_new(void)
{
    mem_storage_t *ms = calloc(1, sizeof(*ms));
    if (ms == NULL)
        return NULL;
    ms->base.ops = &mem_ops;
    ms->mocks = json_object();
    ms->stores = json_object();
    ms->usage = json_object();
    ms->config = json_object();
    ms->versions = json_object();
    ms->tfiles = json_object();
    ms->schemas = json_object();
    if (!ms->mocks || !ms->stores || !ms->usage || !ms->config ||
        !ms->versions || !ms->tfiles || !ms->schemas) {
        mem_close(&ms->base);
        return NULL;
    }
    return &ms->base;
}
