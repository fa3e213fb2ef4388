/*
 * Response template files: named texts of a namespace that mocks use as
 * response.payloadTemplatePath and as a condition's valueFromFile. A mock
 * reads a file when it is compiled, so a request never looks one up; a
 * replaced file recompiles its mocks in the same write, and a file still
 * in use cannot be deleted (docs/templates.md, "Template files").
 *
 * Threading: everything here runs under the engine's writer mutex (the
 * table is writer-side state); readers only see the recompiled mocks
 * through the index swap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine_internal.h"

#define LOGC "engine"
/* files of one namespace: a bound on what one editor can make us hold
 * besides the per-file size */
#define TFILES_PER_NS 1000

int dp_tfile_name_valid(const char *name, size_t len)
{
    if (!doppel_name_valid(name, len, DP_TFILE_NAME_MAX) || name[0] == '.')
        return 0;
    /* the dry run of POST /templates/render keeps its path */
    return !(len == 6 && memcmp(name, "render", 6) == 0);
}

static char *tfile_key(const char *ns, const char *name)
{
    size_t a = strlen(ns), b = strlen(name);
    char *k = malloc(a + b + 2);
    if (k == NULL)
        return NULL;
    memcpy(k, ns, a);
    k[a] = '\x1f';
    memcpy(k + a + 1, name, b + 1);
    return k;
}

const dp_tfile_t *dp_tfile_find(const dp_smap_t *files, const char *ns,
                                const char *name)
{
    if (files == NULL || ns == NULL || name == NULL)
        return NULL;
    char *k = tfile_key(ns, name);
    const dp_tfile_t *f = k ? dp_smap_get(files, k) : NULL;
    free(k);
    return f;
}

json_t *dp_tfile_value(const dp_tfile_t *f)
{
    json_t *v = json_loadb(f->content, f->len, JSON_DECODE_ANY, NULL);
    return v ? v : json_stringn(f->content, f->len);
}

void dp_tfile_free(dp_tfile_t *f)
{
    if (f == NULL)
        return;
    free(f->ns);
    free(f->name);
    free(f->content);
    free(f);
}

static dp_tfile_t *tfile_new(const char *ns, const char *name,
                             const char *content, size_t len, int64_t at)
{
    dp_tfile_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->ns = strdup(ns);
    f->name = strdup(name);
    f->content = malloc(len + 1);
    if (!f->ns || !f->name || !f->content) {
        dp_tfile_free(f);
        return NULL;
    }
    memcpy(f->content, content, len);
    f->content[len] = '\0';
    f->len = len;
    f->updated_at = at;
    return f;
}

int dp_tfile_load(void *arg, const dp_tfile_row_t *r)
{
    dp_engine_t *e = arg;
    dp_tfile_t *f = tfile_new(r->ns, r->name, r->content, strlen(r->content),
                              r->updated_at);
    char *k = f ? tfile_key(r->ns, r->name) : NULL;
    dp_tfile_t *old = NULL;
    int rc = k ? dp_smap_put(&e->tfiles, k, f, (void **)&old) : -ENOMEM;
    free(k);
    if (rc < 0) {
        dp_tfile_free(f);
        return rc;
    }
    dp_tfile_free(old);
    return 0;
}

static int uses(const dp_mock_t *m, const char *ns, const char *name)
{
    if (strcmp(m->ns, ns) != 0)
        return 0;
    for (size_t i = 0; i < m->n_tfiles; i++)
        if (strcmp(m->tfiles[i], name) == 0)
            return 1;
    return 0;
}

/* The ids of the mocks that use ns/name, sorted (a new array). */
static json_t *users_of(dp_engine_t *e, const char *ns, const char *name)
{
    json_t *ids = json_array();
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        const dp_mock_t *m = e->mocks.ents[i].val;
        if (ids && uses(m, ns, name) &&
            json_array_append_new(ids, json_string(m->id)) < 0) {
            json_decref(ids);
            return NULL;
        }
    }
    size_t n = json_array_size(ids);
    /* few users per file: insertion sort keeps answers stable */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && strcmp(json_string_value(json_array_get(ids, j - 1)),
                             json_string_value(json_array_get(ids, j))) > 0;
             j--) {
            json_t *a = json_incref(json_array_get(ids, j - 1));
            json_array_set(ids, j - 1, json_array_get(ids, j));
            json_array_set_new(ids, j, a);
        }
    return ids;
}

static json_t *meta_of(const dp_tfile_t *f)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "name", f->name, "namespace",
                     f->ns, "size", (json_int_t)f->len, "updatedAt",
                     (json_int_t)f->updated_at);
}

static int oom(dp_err_t *err)
{
    dp_err_set(err, 500, "internal", "", "out of memory");
    return -ENOMEM;
}

int dp_engine_tfile_list(dp_engine_t *e, const char *ns, json_t **out,
                         dp_err_t *err)
{
    *out = NULL;
    if (ns == NULL)
        ns = "sandbox";
    json_t *items = json_array();
    if (items == NULL)
        return oom(err);
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    DP_SMAP_FOREACH(&e->tfiles, i)
    {
        const dp_tfile_t *f = e->tfiles.ents[i].val;
        if (strcmp(f->ns, ns) == 0 &&
            json_array_append_new(items, meta_of(f)) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    pthread_mutex_unlock(&e->wmu);
    size_t n = json_array_size(items);
    for (size_t i = 1; rc == 0 && i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(items, j - 1);
            json_t *b = json_array_get(items, j);
            if (strcmp(json_string_value(json_object_get(a, "name")),
                       json_string_value(json_object_get(b, "name"))) <= 0)
                break;
            json_incref(a);
            json_array_set(items, j - 1, b);
            json_array_set_new(items, j, a);
        }
    if (rc < 0) {
        json_decref(items);
        return oom(err);
    }
    *out = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)n);
    return *out ? 0 : oom(err);
}

int dp_engine_tfile_get(dp_engine_t *e, const char *ns, const char *name,
                        json_t **out, dp_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&e->wmu);
    const dp_tfile_t *f = dp_tfile_find(&e->tfiles, ns, name);
    json_t *o = f ? meta_of(f) : NULL;
    if (o) {
        json_object_set_new(o, "content", json_stringn(f->content, f->len));
        json_object_set_new(o, "usedBy", users_of(e, ns, name));
    }
    pthread_mutex_unlock(&e->wmu);
    if (f == NULL) {
        dp_err_set(err, 404, "not_found", "name",
                   "no template file \"%s\" in namespace %s", name, ns);
        return -ENOENT;
    }
    if (o == NULL || json_object_get(o, "content") == NULL ||
        json_object_get(o, "usedBy") == NULL) {
        json_decref(o);
        return oom(err);
    }
    *out = o;
    return 0;
}

static int check_input(dp_engine_t *e, const char *name, const char *content,
                       size_t len, dp_err_t *err)
{
    if (name == NULL || !dp_tfile_name_valid(name, strlen(name))) {
        dp_err_invalid(err, "name",
                       "expected 1 to %d characters of A-Z a-z 0-9 . _ -, "
                       "not starting with '.', and not \"render\"",
                       DP_TFILE_NAME_MAX);
        return -EINVAL;
    }
    if (content == NULL) {
        dp_err_invalid(err, "content",
                       "content is required (the template "
                       "text)");
        return -EINVAL;
    }
    if (len > e->cfg.tfile_max) {
        dp_err_set(err, 413, "limit_exceeded", "content",
                   "the template file is larger than template_file_max "
                   "(%zu bytes)",
                   e->cfg.tfile_max);
        return -EFBIG;
    }
    if (memchr(content, '\0', len) != NULL) {
        dp_err_invalid(err, "content",
                       "a template file is text: no NUL "
                       "byte");
        return -EINVAL;
    }
    /* jansson checks UTF-8 when it makes the string */
    json_t *probe = json_stringn(content, len);
    if (probe == NULL) {
        dp_err_invalid(err, "content", "a template file is UTF-8 text");
        return -EINVAL;
    }
    json_decref(probe);
    return 0;
}

/* A recompiled mock taking over from old: the runtime state carries over
 * (the stored JSON's counters may lag the live ones), and so does the
 * number of its newest kept version: a recompile writes no version, and
 * the mock's next write must number after the ones kept. */
static void carry_state(dp_mock_t *nm, const dp_mock_t *old)
{
    nm->seq = old->seq;
    nm->version = old->version;
    atomic_store(&nm->use_counter, atomic_load(&old->use_counter));
    atomic_store(&nm->last_use, atomic_load(&old->last_use));
    atomic_store(&nm->closed_at, atomic_load(&old->closed_at));
    atomic_store(&nm->cursor, atomic_load(&old->cursor));
    atomic_store(&nm->dirty, atomic_load(&old->dirty));
}

int dp_engine_tfile_put(dp_engine_t *e, const char *ns, const char *name,
                        const char *content, size_t len, int mode, json_t **out,
                        dp_err_t *err)
{
    if (out)
        *out = NULL;
    if (ns == NULL)
        ns = "sandbox";
    int rc = check_input(e, name, content, len, err);
    if (rc < 0)
        return rc;
    char *key = tfile_key(ns, name);
    if (key == NULL)
        return oom(err);
    pthread_mutex_lock(&e->wmu);
    dp_mock_t **olds = NULL, **news = NULL;
    size_t n = 0, applied = 0;
    dp_index_t *ix = NULL;
    dp_tfile_t *old = dp_smap_get(&e->tfiles, key);
    dp_tfile_t *nf = NULL;
    int in_table = 0;
    if (mode == DP_TFILE_CREATE && old != NULL) {
        dp_err_set(err, 409, "conflict", "name",
                   "template file \"%s\" exists in namespace %s (replace it "
                   "with POST /api/v1/templates/%s)",
                   name, ns, name);
        rc = -EEXIST;
        goto out;
    }
    if (mode == DP_TFILE_REPLACE && old == NULL) {
        dp_err_set(err, 404, "not_found", "name",
                   "no template file \"%s\" in namespace %s", name, ns);
        rc = -ENOENT;
        goto out;
    }
    if (old == NULL) {
        size_t have = 0;
        DP_SMAP_FOREACH(&e->tfiles, i)
        have += strcmp(((dp_tfile_t *)e->tfiles.ents[i].val)->ns, ns) == 0;
        if (have >= TFILES_PER_NS) {
            dp_err_set(err, 507, "limit_exceeded", "name",
                       "namespace %s holds %d template files, the most it "
                       "can",
                       ns, TFILES_PER_NS);
            rc = -ENOSPC;
            goto out;
        }
    }
    nf = tfile_new(ns, name, content, len, dp_engine_now(e));
    if (nf == NULL) {
        rc = oom(err);
        goto out;
    }
    /* the new content goes in the table first, so the mocks compile
     * with it; every exit below before the commit puts old back */
    if (dp_smap_put(&e->tfiles, key, nf, NULL) < 0) {
        dp_tfile_free(nf);
        rc = oom(err);
        goto out;
    }
    in_table = 1;
    size_t cap = e->mocks.n ? e->mocks.n : 1;
    olds = calloc(cap, sizeof(*olds));
    news = calloc(cap, sizeof(*news));
    if (olds == NULL || news == NULL) {
        rc = oom(err);
        goto undo;
    }
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        dp_mock_t *m = e->mocks.ents[i].val;
        if (old != NULL && uses(m, ns, name))
            olds[n++] = m;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(olds[i]->json, 0, NULL);
        dp_err_t cerr = {0};
        rc = o ? dp_model_compile_stored(e->protos, o, &e->tfiles,
                                         DP_COMPILE_DORMANT, &news[i], &cerr)
               : -ENOMEM;
        json_decref(o);
        if (rc == -ENOMEM) {
            oom(err);
            goto undo;
        }
        if (rc < 0) {
            dp_err_set(err, cerr.status ? cerr.status : 400,
                       cerr.code[0] ? cerr.code : "validation", "content",
                       "mock %s does not compile with this content: %s%s%s",
                       olds[i]->id, cerr.field, cerr.field[0] ? ": " : "",
                       cerr.message);
            goto undo;
        }
        carry_state(news[i], olds[i]);
    }
    for (; applied < n; applied++)
        if (dp_smap_put(&e->mocks, news[applied]->id, news[applied], NULL) <
            0) {
            rc = oom(err);
            goto undo;
        }
    if (n > 0 && (ix = dp_index_from_table(e)) == NULL) {
        rc = oom(err);
        goto undo;
    }
    dp_tfile_row_t row = {ns, name, nf->content, nf->updated_at};
    if ((rc = e->st->ops->tfiles_put ? e->st->ops->tfiles_put(e->st, &row, 1)
                                     : -ENOTSUP) < 0) {
        dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                   strerror(-rc));
        goto undo;
    }
    int64_t *snap = NULL;
    if (ix) {
        /* uses made through the old mocks until the swap carry over */
        snap = calloc(n, sizeof(*snap));
        for (size_t i = 0; snap && i < n; i++)
            snap[i] = atomic_load(&olds[i]->use_counter);
        for (size_t i = 0; i < n; i++)
            atomic_store(&news[i]->use_counter,
                         snap ? snap[i] : atomic_load(&olds[i]->use_counter));
        dp_index_swap(e, ix);
        for (size_t i = 0; snap && i < n; i++) {
            int64_t d = atomic_load(&olds[i]->use_counter) - snap[i];
            if (d) {
                atomic_fetch_add(&news[i]->use_counter, d);
                atomic_store(&news[i]->dirty, 1);
            }
        }
        free(snap);
    }
    dp_tfile_free(old);
    json_t *ids = out ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (ids)
            json_array_append_new(ids, json_string(news[i]->id));
        dp_engine_mock_changed(e, news[i]->ns, news[i]->id, 2);
        dp_mock_unref(olds[i]);
    }
    if (out) {
        *out = meta_of(nf);
        if (*out)
            json_object_set_new(*out, "recompiled", ids ? ids : json_array());
        else
            json_decref(ids);
    }
    rc = 0;
    goto out;
undo:
    /* an unpublished index holds references of its own */
    dp_index_free(ix);
    for (size_t i = applied; i-- > 0;)
        dp_smap_put(&e->mocks, olds[i]->id, olds[i], NULL);
    for (size_t i = 0; news && i < n; i++)
        dp_mock_unref(news[i]);
    if (in_table) {
        if (old)
            dp_smap_put(&e->tfiles, key, old, NULL);
        else
            dp_smap_del(&e->tfiles, key);
        dp_tfile_free(nf);
    }
out:
    pthread_mutex_unlock(&e->wmu);
    free(olds);
    free(news);
    free(key);
    return rc;
}

int dp_engine_tfile_delete(dp_engine_t *e, const char *ns, const char *name,
                           dp_err_t *err)
{
    if (ns == NULL)
        ns = "sandbox";
    char *key = name ? tfile_key(ns, name) : NULL;
    if (key == NULL)
        return oom(err);
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    dp_tfile_t *f = dp_smap_get(&e->tfiles, key);
    if (f == NULL) {
        dp_err_set(err, 404, "not_found", "name",
                   "no template file \"%s\" in namespace %s", name, ns);
        rc = -ENOENT;
        goto out;
    }
    json_t *ids = users_of(e, ns, name);
    if (ids == NULL) {
        rc = oom(err);
        goto out;
    }
    if (json_array_size(ids) > 0) {
        char list[320] = "";
        size_t used = 0, shown = 0;
        for (; shown < json_array_size(ids); shown++) {
            const char *id = json_string_value(json_array_get(ids, shown));
            if (used + strlen(id) + 3 >= sizeof(list))
                break;
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                     shown ? ", " : "", id);
        }
        dp_err_set(err, 409, "conflict", "name",
                   "template file \"%s\" is used by %zu mock(s): %s%s "
                   "(change or purge them first)",
                   name, json_array_size(ids), list,
                   shown < json_array_size(ids) ? ", ..." : "");
        json_decref(ids);
        rc = -EBUSY;
        goto out;
    }
    json_decref(ids);
    dp_tfile_row_t row = {ns, name, NULL, 0};
    if ((rc = e->st->ops->tfiles_put ? e->st->ops->tfiles_put(e->st, &row, 1)
                                     : -ENOTSUP) < 0) {
        dp_err_set(err, 500, "internal", "", "storage write failed: %s",
                   strerror(-rc));
        goto out;
    }
    dp_smap_del(&e->tfiles, key);
    dp_tfile_free(f);
out:
    pthread_mutex_unlock(&e->wmu);
    free(key);
    return rc;
}
