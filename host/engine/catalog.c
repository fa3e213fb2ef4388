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
