/*
 * Mock operations the platforms' SDKs call on many mocks at once: batch
 * restore, tags and move, copies into another namespace, the mocks of one
 * chainId, and the journal entries of one mock. Reference: docs/admin-api.md,
 * "Compatibility with the platforms' SDKs".
 *
 * Every batch is all or nothing: every id must be one the caller may act
 * on (an id it cannot read answers 404 as an unknown one), and the engine
 * changes every mock in one commit or none. The id checks are made here
 * (admin_mock_batch_authorize, reached through admin_compat_authorize);
 * chains and logs use the route table's checks. Same thread rules as every
 * admin handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

#define MAX_IDS 1000 /* ids of one batch, as a page of GET /mocks */
#define MAX_TAGS 64

static int may(admin_call_t *c, const char *op_name, int write, const char *ns)
{
    dp_admin_op_t op = {op_name, write};
    dp_err_t err = {0};
    return dp_admin_authorize_more(c->auth, &c->who, &op, ns, &err) == 0;
}

static void audit_also(admin_call_t *c, const char *ns, const char *detail)
{
    if (c->audit_also == NULL)
        c->audit_also = json_object();
    if (c->audit_also != NULL && json_object_get(c->audit_also, ns) == NULL)
        json_object_set_new(c->audit_also, ns,
                            detail ? json_string(detail) : json_null());
}

/* The body's "ids": a non-empty array of at most MAX_IDS strings. Answers
 * 400 itself. */
static json_t *body_ids(admin_call_t *c)
{
    json_t *ids = json_object_get(c->body, "ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0 ||
        json_array_size(ids) > MAX_IDS) {
        admin_reply_error(c, 400, "validation", "ids",
                          "ids: expected an array of 1 to %d mock ids",
                          MAX_IDS);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > 128) {
            char f[32];
            snprintf(f, sizeof(f), "ids[%zu]", i);
            admin_reply_error(c, 400, "validation", f,
                              "%s: expected a mock id string", f);
            return NULL;
        }
    }
    return ids;
}

/* Only these keys in the body; answers 400 itself. */
static int only_keys(admin_call_t *c, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        int ok = 0;
        for (size_t i = 0; keys[i] && !ok; i++)
            ok = strcmp(keys[i], k) == 0;
        if (!ok) {
            admin_reply_error(c, 400, "validation", k, "%s: unknown field", k);
            return -EINVAL;
        }
    }
    return 0;
}

/* The body's target "namespace" (required); answers 400 itself. */
static const char *body_target(admin_call_t *c)
{
    json_t *v = json_object_get(c->body, "namespace");
    if (!json_is_string(v) ||
        !dp_admin_ns_valid(json_string_value(v), json_string_length(v))) {
        admin_reply_error(c, 400, "validation", "namespace",
                          "namespace: expected 1 to 64 characters of A-Z a-z "
                          "0-9 . _ -");
        return NULL;
    }
    return json_string_value(v);
}

/* The namespace a stored mock lives in; "" when there is no such mock. */
static void mock_ns(admin_call_t *c, const char *id, char out[ADMIN_NS_MAX + 1])
{
    json_t *m = NULL;
    dp_err_t err = {0};
    out[0] = '\0';
    if (dp_engine_mock_get(c->engine, id, &m, &err) == 0) {
        const char *ns = json_string_value(json_object_get(m, "namespace"));
        if (ns != NULL)
            snprintf(out, ADMIN_NS_MAX + 1, "%s", ns);
    }
    json_decref(m);
}

/* ---- Authorisation --------------------------------------------------- */

int admin_mock_batch_owns(const char *op_name)
{
    static const char *const owned[] = {
        "mocks.batch_restore",
        "mocks.batch_tags",
        "mocks.batch_move",
        "mocks.copy_to_namespace",
    };
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(owned[i], op_name) == 0)
            return 1;
    return 0;
}

int admin_mock_batch_authorize(admin_call_t *c, const dp_admin_op_t *op,
                               char ns_out[ADMIN_NS_MAX + 1])
{
    int copy = strcmp(op->name, "mocks.copy_to_namespace") == 0;
    int move = strcmp(op->name, "mocks.batch_move") == 0;
    /* malformed bodies are the handler's 400, before any id is looked up */
    json_t *ids = json_object_get(c->body, "ids");
    if (!json_is_array(ids) || json_array_size(ids) > MAX_IDS)
        return 0;
    const char *to = NULL;
    if (copy || move) {
        json_t *v = json_object_get(c->body, "namespace");
        if (!json_is_string(v) ||
            !dp_admin_ns_valid(json_string_value(v), json_string_length(v)))
            return 0;
        to = json_string_value(v);
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        if (id == NULL)
            return 0;
        char ns[ADMIN_NS_MAX + 1];
        mock_ns(c, id, ns);
        if (ns[0] == '\0' || !may(c, "mocks.get", 0, ns)) {
            admin_reply_error(c, 404, "not_found", "id", "no mock with id %s",
                              id);
            return -ENOENT;
        }
        /* a copy only reads its sources */
        if (!copy) {
            dp_err_t err = {0};
            int rc = dp_admin_authorize_more(c->auth, &c->who, op, ns, &err);
            if (rc < 0) {
                admin_reply_dp_err(c, rc, &err);
                return rc;
            }
            if (ns_out[0] == '\0')
                snprintf(ns_out, ADMIN_NS_MAX + 1, "%s", ns);
            else if (strcmp(ns_out, ns) != 0)
                audit_also(c, ns, NULL);
        }
    }
    if (to != NULL) {
        dp_err_t err = {0};
        int rc = dp_admin_authorize_more(c->auth, &c->who, op, to, &err);
        if (rc < 0) {
            admin_reply_dp_err(c, rc, &err);
            return rc;
        }
        if (copy)
            snprintf(ns_out, ADMIN_NS_MAX + 1, "%s", to);
        else if (strcmp(ns_out, to) != 0)
            audit_also(c, to, "mocks moved here");
    }
    return 0;
}

/* ---- Batches ----------------------------------------------------------- */

void compat_mocks_batch_restore(admin_call_t *c)
{
    static const char *const keys[] = {"ids", NULL};
    json_t *ids;
    if (only_keys(c, keys) < 0 || (ids = body_ids(c)) == NULL)
        return;
    size_t n = 0;
    dp_err_t err = {0};
    int rc = dp_engine_mock_restore_batch(c->engine, ids, &n, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200, json_pack("{s:I}", "restored", (json_int_t)n));
}

/* The tags of mock m after mode (add, remove, set) with tags. */
static json_t *new_tags(const json_t *m, const json_t *tags, const char *mode)
{
    json_t *out = json_array();
    const json_t *cur = json_object_get(m, "tags");
    size_t i, k;
    json_t *t, *u;
    if (strcmp(mode, "set") != 0) {
        json_array_foreach(cur, i, t)
        {
            int drop = 0;
            if (strcmp(mode, "remove") == 0)
                json_array_foreach(tags, k, u) drop |= json_equal(t, u);
            if (!drop)
                json_array_append(out, t);
        }
    }
    if (strcmp(mode, "remove") == 0)
        return out;
    json_array_foreach(tags, i, t)
    {
        int seen = 0;
        json_array_foreach(out, k, u) seen |= json_equal(t, u);
        if (!seen)
            json_array_append(out, t);
    }
    return out;
}

static void reply_patched(admin_call_t *c, int rc, const char *count,
                          json_t *mocks, const dp_err_t *err)
{
    if (rc < 0) {
        json_decref(mocks);
        admin_reply_dp_err(c, rc, err);
        return;
    }
    admin_reply_json(c, 200,
                     json_pack("{s:I,s:o}", count,
                               (json_int_t)json_array_size(mocks), "mocks",
                               mocks ? mocks : json_array()));
}

void compat_mocks_batch_tags(admin_call_t *c)
{
    static const char *const keys[] = {"ids", "tags", "mode", NULL};
    json_t *ids;
    if (only_keys(c, keys) < 0 || (ids = body_ids(c)) == NULL)
        return;
    json_t *tags = json_object_get(c->body, "tags");
    if (!json_is_array(tags) || json_array_size(tags) > MAX_TAGS) {
        admin_reply_error(c, 400, "validation", "tags",
                          "tags: expected an array of at most %d strings",
                          MAX_TAGS);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!json_is_string(t) || json_string_length(t) == 0 ||
            json_string_length(t) > 128) {
            char f[32];
            snprintf(f, sizeof(f), "tags[%zu]", i);
            admin_reply_error(c, 400, "validation", f,
                              "%s: expected a non-empty string", f);
            return;
        }
    }
    json_t *m = json_object_get(c->body, "mode");
    const char *mode = m ? json_string_value(m) : "add";
    if (mode == NULL ||
        (strcmp(mode, "add") != 0 && strcmp(mode, "remove") != 0 &&
         strcmp(mode, "set") != 0)) {
        admin_reply_error(c, 400, "validation", "mode",
                          "mode: expected add, remove or set");
        return;
    }
    json_t *patches = json_array();
    dp_err_t err = {0};
    int rc = patches ? 0 : -ENOMEM;
    json_array_foreach(ids, i, t)
    {
        json_t *cur = NULL;
        if (rc < 0 || (rc = dp_engine_mock_get(c->engine, json_string_value(t),
                                               &cur, &err)) < 0)
            break;
        json_array_append_new(
            patches, json_pack("{s:o}", "tags", new_tags(cur, tags, mode)));
        json_decref(cur);
    }
    json_t *out = NULL;
    if (rc == 0)
        rc = dp_engine_mock_patch_batch(c->engine, ids, patches, &out, &err);
    json_decref(patches);
    reply_patched(c, rc, "updated", out, &err);
}

void compat_mocks_batch_move(admin_call_t *c)
{
    static const char *const keys[] = {"ids", "namespace", NULL};
    json_t *ids;
    const char *to;
    if (only_keys(c, keys) < 0 || (ids = body_ids(c)) == NULL ||
        (to = body_target(c)) == NULL)
        return;
    json_t *patches = json_array();
    for (size_t i = 0; patches && i < json_array_size(ids); i++)
        json_array_append_new(patches, json_pack("{s:s}", "namespace", to));
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = patches ? dp_engine_mock_patch_batch(c->engine, ids, patches, &out,
                                                  &err)
                     : -ENOMEM;
    json_decref(patches);
    reply_patched(c, rc, "moved", out, &err);
}

void compat_mocks_copy(admin_call_t *c)
{
    static const char *const keys[] = {"ids", "namespace", NULL};
    json_t *ids;
    const char *to;
    if (only_keys(c, keys) < 0 || (ids = body_ids(c)) == NULL ||
        (to = body_target(c)) == NULL)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_copy_batch(c->engine, ids, to, &out, &err);
    if (rc < 0) {
        json_decref(out);
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 201,
                     json_pack("{s:I,s:s,s:o}", "copied",
                               (json_int_t)json_array_size(out), "namespace",
                               to, "mocks", out));
}

/* ---- Chains ------------------------------------------------------------ */

void compat_chain_get(admin_call_t *c)
{
    dp_mock_query_t q = {.ns = c->ns[0] ? c->ns : NULL, .chain_id = c->seg[2]};
    if (admin_query_bool(c, "includeClosed", 0, &q.include_closed) < 0 ||
        admin_query_size(c, "offset", 0, 0, 1000000000, &q.offset) < 0 ||
        admin_query_size(c, "limit", 100, 1, 1000, &q.limit) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_list(c->engine, &q, &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    json_object_set_new(out, "chainId", json_string(c->seg[2]));
    json_object_set(out, "mocks", json_object_get(out, "items"));
    admin_reply_json(c, 200, out);
}

void compat_chain_close(admin_call_t *c)
{
    dp_mock_query_t q = {
        .ns = c->ns[0] ? c->ns : NULL, .chain_id = c->seg[2], .limit = 1000};
    json_t *ids = json_array();
    dp_err_t err = {0};
    int rc = ids ? 0 : -ENOMEM;
    /* every live mock of the chain, page by page, then one close */
    for (int more = 1; rc == 0 && more; q.offset += q.limit) {
        json_t *page = NULL;
        if ((rc = dp_engine_mock_list(c->engine, &q, &page, &err)) < 0)
            break;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(page, "items"), i, m)
            json_array_append(ids, json_object_get(m, "id"));
        more = json_is_true(json_object_get(page, "hasMore"));
        json_decref(page);
    }
    size_t n = 0;
    if (rc == 0 && json_array_size(ids) > 0)
        rc = dp_engine_mock_close_batch(c->engine, ids, &n, &err);
    json_decref(ids);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(
        c, 200,
        json_pack("{s:s,s:I}", "chainId", c->seg[2], "closed", (json_int_t)n));
}

/* ---- The journal entries of one mock ---------------------------------- */

void compat_mock_logs(admin_call_t *c)
{
    size_t off, lim;
    if (admin_query_size(c, "offset", 0, 0, 1000000000, &off) < 0 ||
        admin_query_size(c, "limit", 100, 1, 1000, &lim) < 0)
        return;
    json_t *out = NULL;
    if (dp_engine_mock_journal(c->engine, c->seg[1], off, lim, &out) < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    json_object_set_new(out, "mockId", json_string(c->seg[1]));
    json_object_set(out, "logs", json_object_get(out, "items"));
    admin_reply_json(c, 200, out);
}

void compat_mock_logs_clear(admin_call_t *c)
{
    size_t n = 0;
    dp_engine_mock_journal_clear(c->engine, c->seg[1], &n);
    admin_reply_json(
        c, 200,
        json_pack("{s:s,s:I}", "mockId", c->seg[1], "removed", (json_int_t)n));
}
