/*
 * The admin REST API: the route table and one handler per endpoint.
 * Reference for users: docs/admin-api.md.
 *
 * A request goes: split the path -> find the route (404 / 405 with Allow)
 * -> parse the body -> resolve the namespace -> dp_admin_authorize ->
 * handler. Handlers run synchronously on the worker's loop and always
 * finish the exchange (admin_reply_*).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "base/log.h"
#include "engine/expr.h" /* DP_SCOPE_* */
#include "schemas.h"

#define DEFAULT_NS "sandbox"

typedef void (*admin_fn)(admin_call_t *c);

enum ns_mode {
    NS_NONE,        /* operation by id: no namespace */
    NS_FILTER,      /* optional filter from query/header; none = all */
    NS_DEFAULT,     /* query/header, default "sandbox" */
    NS_BODY,        /* body > query > header, default applied by engine */
    NS_REQUIRED,    /* body > query > header, must be given */
    NS_BODY_SANDBOX /* body > query > header, default "sandbox" applied
                       before authorisation (read-only dry runs) */
};

enum body_mode {
    BODY_NONE,     /* ignored */
    BODY_OBJECT,   /* required, a JSON object */
    BODY_VALUE,    /* required, any JSON value */
    BODY_BATCH,    /* required, array or object */
    BODY_OPTIONAL, /* optional object */
    BODY_TEMPLATE  /* required, a JSON object or a multipart/form-data
                      upload (admin_templates.c) */
};

typedef struct admin_route {
    const char *path; /* segments; "*" matches one segment */
    const char *method;
    dp_admin_op_t op;
    enum ns_mode ns;
    enum body_mode body;
    admin_fn fn;
} admin_route_t;

/* ---- Helpers ------------------------------------------------------------ */

static const char *ns_or_null(const admin_call_t *c)
{
    return c->ns[0] ? c->ns : NULL;
}

static const char *ns_or_default(const admin_call_t *c)
{
    return c->ns[0] ? c->ns : DEFAULT_NS;
}

/* Sends the engine's answer, or its error. */
static void reply_engine(admin_call_t *c, int rc, int status, json_t *out,
                         const dp_err_t *err)
{
    if (rc < 0) {
        json_decref(out);
        admin_reply_dp_err(c, rc, err);
    } else {
        admin_reply_json(c, status, out);
    }
}

static int paging(admin_call_t *c, size_t *offset, size_t *limit)
{
    if (admin_query_size(c, "offset", 0, 0, 1000000000, offset) < 0)
        return -EINVAL;
    return admin_query_size(c, "limit", 100, 1, 1000, limit);
}

/* Rejects an id the path could not address. */
static int check_mock_id(admin_call_t *c, const json_t *mock, const char *field)
{
    json_t *id = json_object_get(mock, "id");
    if (json_is_string(id) &&
        (strcmp(json_string_value(id), "batch") == 0 ||
         strcmp(json_string_value(id), "validate") == 0 ||
         strcmp(json_string_value(id), "chains") == 0 ||
         strcmp(json_string_value(id), "copy-to-namespace") == 0)) {
        admin_reply_error(c, 400, "validation", field,
                          "%s: \"%s\" is reserved by the API", field,
                          json_string_value(id));
        return -EINVAL;
    }
    return 0;
}

/* ---- Mocks -------------------------------------------------------------- */

static void mocks_list(admin_call_t *c)
{
    dp_mock_query_t q = {.ns = ns_or_null(c)};
    int bad;
    char *tags = admin_query(c, "tags", &bad);
    char *search = NULL, *method = NULL, *service = NULL;
    const char *tagv[64], *svcv[64];
    size_t ntags = 0;
    if (bad) {
        admin_reply_error(c, 400, "validation", "tags", "tags: bad escape");
        goto out;
    }
    search = admin_query(c, "search", &bad);
    if (bad) {
        admin_reply_error(c, 400, "validation", "search", "search: bad escape");
        goto out;
    }
    if (tags != NULL) {
        char *save = NULL;
        for (char *t = strtok_r(tags, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            size_t l = strlen(t);
            while (l > 0 && t[l - 1] == ' ')
                t[--l] = '\0';
            if (l == 0)
                continue;
            if (ntags == sizeof(tagv) / sizeof(tagv[0])) {
                admin_reply_error(c, 400, "validation", "tags",
                                  "tags: at most 64 tags");
                goto out;
            }
            tagv[ntags++] = t;
        }
    }
    q.tags = tagv;
    q.n_tags = ntags;
    q.search = (search && *search) ? search : NULL;
    if (admin_list_filters(c, &method, &service, svcv, 64, &q) < 0)
        goto out;
    if (admin_query_bool(c, "includeClosed", 0, &q.include_closed) < 0 ||
        paging(c, &q.offset, &q.limit) < 0)
        goto out;
    json_t *res = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_list(c->engine, &q, &res, &err);
    reply_engine(c, rc, 200, res, &err);
out:
    free(tags);
    free(search);
    free(method);
    free(service);
}

static int deny_mock_write(admin_call_t *c, const dp_admin_op_t *op,
                           const char *ns, const char *field);

static void mocks_create(admin_call_t *c)
{
    if (check_mock_id(c, c->body, "id") < 0)
        return;
    json_t *stored = NULL;
    int overwritten = 0;
    dp_err_t err = {0};
    int rc = dp_engine_mock_put(c->engine, c->body, ns_or_null(c), &stored,
                                &overwritten, &err);
    if (rc == -EACCES) {
        /* the id moved to a namespace we may not write since it was
         * checked: the same answer as that check gives */
        static const dp_admin_op_t op = {"mocks.create", 1};
        json_decref(stored);
        deny_mock_write(c, &op, ns_or_default(c), NULL);
        return;
    }
    if (rc < 0) {
        reply_engine(c, rc, 0, stored, &err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "overwritten", json_boolean(overwritten));
    json_object_set_new(o, "mock", stored ? stored : json_null());
    admin_reply_json(c, overwritten ? 200 : 201, o);
}

static void mocks_batch_create(admin_call_t *c)
{
    json_t *list = c->body;
    const char *field = "";
    if (json_is_object(c->body)) {
        list = json_object_get(c->body, "mocks");
        field = "mocks";
    }
    if (!json_is_array(list)) {
        admin_reply_error(c, 400, "validation", field[0] ? field : NULL,
                          "%s: expected an array of mocks",
                          field[0] ? field : "body");
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        char f[48];
        snprintf(f, sizeof(f), "%s[%zu].id", field, i);
        if (check_mock_id(c, m, f) < 0)
            return;
    }
    json_t *stored = NULL;
    dp_err_t err = {0};
    int rc = 0;
    if (json_array_size(list) > 0)
        rc = dp_engine_mock_put_batch(c->engine, list, ns_or_null(c), &stored,
                                      &err);
    else
        stored = json_array();
    if (rc == -EACCES) {
        /* an id moved out of reach since it was checked (err.field names
         * the item): the same answer as that check gives */
        static const dp_admin_op_t op = {"mocks.batch_create", 1};
        size_t bi = (size_t)strtoul(err.field + 1, NULL, 10);
        const char *ins = json_string_value(
            json_object_get(json_array_get(list, bi), "namespace"));
        char f[48];
        snprintf(f, sizeof(f), "%s[%zu]", field, bi);
        json_decref(stored);
        deny_mock_write(c, &op, ins ? ins : ns_or_default(c), f);
        return;
    }
    if (rc < 0) {
        /* The engine names fields "[3].http.route"; under {"mocks": [...]}
         * the client's path is "mocks[3].http.route". */
        if (field[0] && err.field[0] == '[') {
            size_t fl = strlen(field), el = strlen(err.field);
            if (fl + el < sizeof(err.field)) {
                memmove(err.field + fl, err.field, el + 1);
                memcpy(err.field, field, fl);
            }
        }
        reply_engine(c, rc, 0, stored, &err);
        return;
    }
    size_t n = json_array_size(stored);
    json_t *o = json_object();
    json_object_set_new(o, "created", json_integer((json_int_t)n));
    json_object_set_new(o, "mocks", stored ? stored : json_array());
    admin_reply_json(c, 201, o);
    c->trim = n >= 256;
}

static void mocks_batch_close(admin_call_t *c)
{
    json_t *ids = json_object_get(c->body, "ids");
    if (!json_is_array(ids)) {
        admin_reply_error(c, 400, "validation", "ids",
                          "ids: expected an array of mock ids");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v)) {
            char f[32];
            snprintf(f, sizeof(f), "ids[%zu]", i);
            admin_reply_error(c, 400, "validation", f, "%s: expected a string",
                              f);
            return;
        }
    }
    size_t closed = 0;
    dp_err_t err = {0};
    int rc = json_array_size(ids) > 0
                 ? dp_engine_mock_close_batch(c->engine, ids, &closed, &err)
                 : 0;
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200, json_pack("{s:I}", "closed", (json_int_t)closed));
}

static void mock_get(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_get(c->engine, c->seg[1], &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

/* The patched mock's fields at the top level (doppel's answer), and the
 * platforms' {mock, overwritten} beside them, which their SDKs read. */
static void mock_patch(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_patch(c->engine, c->seg[1], c->body, &out, &err);
    if (rc == 0) {
        json_t *copy = json_deep_copy(out);
        if (copy == NULL || json_object_set_new(out, "mock", copy) < 0 ||
            json_object_set_new(out, "overwritten", json_true()) < 0) {
            json_decref(out);
            admin_reply_error(c, 500, "internal", NULL, "out of memory");
            return;
        }
    }
    reply_engine(c, rc, 200, out, &err);
}

static void mock_close(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_close(c->engine, c->seg[1], &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void mock_restore(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_restore(c->engine, c->seg[1], &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void mock_purge(admin_call_t *c)
{
    dp_err_t err = {0};
    int rc = dp_engine_mock_purge(c->engine, c->seg[1], &err);
    if (rc < 0)
        admin_reply_dp_err(c, rc, &err);
    else
        admin_reply_empty(c, 204);
}

/* ---- Stores ------------------------------------------------------------- */

/* /stores/global[/key] or /stores/chain/<chainId>[/key]. */
static void store_target(const admin_call_t *c, char *scope,
                         const char **owner, const char **key)
{
    if (strcmp(c->seg[1], "global") == 0) {
        *scope = DP_SCOPE_GLOBAL;
        *owner = NULL;
        *key = c->nseg > 2 ? c->seg[2] : NULL;
    } else {
        *scope = DP_SCOPE_CHAIN;
        *owner = c->seg[2];
        *key = c->nseg > 3 ? c->seg[3] : NULL;
    }
}

static void store_get(admin_call_t *c)
{
    char scope;
    const char *owner, *key;
    store_target(c, &scope, &owner, &key);
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_store_get(c->engine, ns_or_default(c), scope, owner, key,
                                 &out, &err);
    if (rc == 0 && out == NULL && key != NULL) {
        admin_reply_error(c, 404, "not_found", NULL, "no store key '%s'", key);
        return;
    }
    if (rc == 0 && out == NULL)
        out = json_object();
    reply_engine(c, rc, 200, out, &err);
}

static void store_put(admin_call_t *c)
{
    char scope;
    const char *owner, *key;
    store_target(c, &scope, &owner, &key);
    dp_err_t err = {0};
    int rc = dp_engine_store_set(c->engine, ns_or_default(c), scope, owner, key,
                                 c->body, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200, json_incref(c->body));
}

static void store_delete(admin_call_t *c)
{
    char scope;
    const char *owner, *key;
    store_target(c, &scope, &owner, &key);
    const char *ns = ns_or_default(c);
    dp_err_t err = {0};
    int rc = 0;
    if (key != NULL) {
        rc = dp_engine_store_delete(c->engine, ns, scope, owner, key, &err);
    } else {
        /* The whole store: delete key by key (each one persisted). */
        json_t *all = NULL;
        rc = dp_engine_store_get(c->engine, ns, scope, owner, NULL, &all, &err);
        const char *k;
        json_t *v;
        if (rc == 0 && json_is_object(all)) {
            json_object_foreach(all, k, v)
            {
                rc = dp_engine_store_delete(c->engine, ns, scope, owner, k,
                                            &err);
                if (rc < 0 && rc != -ENOENT)
                    break;
                rc = 0;
            }
        }
        json_decref(all);
    }
    if (rc < 0)
        admin_reply_dp_err(c, rc, &err);
    else
        admin_reply_empty(c, 204);
}

/* ---- Journal, unmatched, reset ----------------------------------------- */

static void journal_get(admin_call_t *c)
{
    size_t off, lim;
    if (paging(c, &off, &lim) < 0)
        return;
    int bad;
    char *conn = admin_query(c, "connection", &bad);
    if (bad || (conn != NULL && (conn[0] == '\0' || strlen(conn) > 64))) {
        free(conn);
        admin_reply_error(c, 400, "validation", "connection",
                          "connection: a connection id, 1 to 64 bytes");
        return;
    }
    json_t *out = NULL;
    int rc = conn ? dp_engine_journal_conn(c->engine, ns_or_null(c), conn, off,
                                           lim, &out)
                  : dp_engine_journal(c->engine, ns_or_null(c), off, lim, &out);
    free(conn);
    dp_err_t err = {0};
    reply_engine(c, rc, 200, out, &err);
}

static void journal_clear(admin_call_t *c)
{
    dp_engine_journal_clear(c->engine, ns_or_null(c));
    admin_reply_empty(c, 204);
}

static void unmatched_get(admin_call_t *c)
{
    size_t off, lim;
    if (paging(c, &off, &lim) < 0)
        return;
    json_t *out = NULL;
    int rc = dp_engine_unmatched(c->engine, ns_or_null(c), off, lim, &out);
    dp_err_t err = {0};
    reply_engine(c, rc, 200, out, &err);
}

static void unmatched_clear(admin_call_t *c)
{
    dp_engine_unmatched_clear(c->engine, ns_or_null(c));
    admin_reply_empty(c, 204);
}

static void reset_ns(admin_call_t *c)
{
    dp_err_t err = {0};
    int rc = dp_engine_reset(c->engine, c->ns, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200,
                     json_pack("{s:b,s:s}", "reset", 1, "namespace", c->ns));
    c->trim = 1;
}

/* ---- Record and replay: services, modes, coverage ----------------------
 * docs/record-replay.md. Mode names are case-insensitive on input and
 * upper-case on output. Every write is audited by dispatch(). */

/* The body's "mode": a string, or null when allow_null. Answers 400 itself
 * on anything else, or on a key other than mode and namespace. */
static int body_mode(admin_call_t *c, int allow_null, const char **mode)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "mode") != 0 && strcmp(k, "namespace") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected mode)", k);
            return -EINVAL;
        }
    }
    v = json_object_get(c->body, "mode");
    *mode = json_string_value(v);
    if ((*mode != NULL && dp_mode_parse(*mode) != 0) ||
        (allow_null && json_is_null(v)))
        return 0;
    admin_reply_error(c, 400, "validation", "mode",
                      "mode: expected PASSTHROUGH, LEARN, MOCK or SPY%s",
                      allow_null ? " (or null: the namespace's)" : "");
    return -EINVAL;
}

static void services_list(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_service_list(c->engine, ns_or_default(c), &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void services_create(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_service_create(c->engine, ns_or_default(c), c->body,
                                      &out, &err);
    reply_engine(c, rc, 201, out, &err);
}

static void service_get(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_service_get(c->engine, ns_or_default(c), c->seg[1], &out,
                                   &err);
    reply_engine(c, rc, 200, out, &err);
}

static void service_delete(admin_call_t *c)
{
    dp_err_t err = {0};
    int rc =
        dp_engine_service_delete(c->engine, ns_or_default(c), c->seg[1], &err);
    if (rc < 0)
        admin_reply_dp_err(c, rc, &err);
    else
        admin_reply_empty(c, 204);
}

static void service_set_mode(admin_call_t *c)
{
    const char *mode = NULL;
    if (body_mode(c, 1, &mode) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_service_set_mode(c->engine, ns_or_default(c), c->seg[1],
                                        mode, &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void mode_get(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mode_get(c->engine, ns_or_default(c), &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void mode_set(admin_call_t *c)
{
    const char *mode = NULL;
    if (body_mode(c, 0, &mode) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mode_set(c->engine, ns_or_default(c), mode, &out, &err);
    reply_engine(c, rc, 200, out, &err);
}

static void coverage_get(admin_call_t *c)
{
    int bad = 0;
    char *svc = admin_query(c, "service", &bad);
    if (bad) {
        admin_reply_error(c, 400, "validation", "service",
                          "service: bad escape");
        free(svc);
        return;
    }
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_coverage(c->engine, ns_or_default(c),
                                svc && svc[0] ? svc : NULL, &out, &err);
    free(svc);
    reply_engine(c, rc, 200, out, &err);
}

/* ---- Dry runs for agents (the MCP tools validate_mock, render_template) -- */

/* POST /mocks/validate: what POST /mocks would answer, nothing stored. */
static void mocks_validate(admin_call_t *c)
{
    if (check_mock_id(c, c->body, "id") < 0)
        return;
    dp_err_t err = {0};
    int rc = dp_engine_mock_validate(c->engine, c->body, ns_or_null(c), &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "valid", json_true());
    admin_reply_json(c, 200, o);
}

/* POST /templates/render {template, request}: the template rendered against
 * the sample request, read-only. */
static void templates_render(admin_call_t *c)
{
    const json_t *tmpl = json_object_get(c->body, "template");
    if (tmpl == NULL) {
        admin_reply_error(c, 400, "validation", "template",
                          "template is required (a string or any JSON value "
                          "whose strings may hold expressions)");
        return;
    }
    const json_t *req = json_object_get(c->body, "request");
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_render_template(c->engine, ns_or_default(c), tmpl, req,
                                       &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "output", out);
    admin_reply_json(c, 200, o);
}

/* ---- Route table --------------------------------------------------------
 * Literal segments before "*" so that /mocks/batch is not read as the mock
 * "batch". Routes with the same path are grouped for 405's Allow header. */

#define W 1
#define R 0
static const admin_route_t routes[] = {
    {"mocks", "GET", {"mocks.list", R}, NS_FILTER, BODY_NONE, mocks_list},
    {"mocks", "POST", {"mocks.create", W}, NS_BODY, BODY_OBJECT, mocks_create},
    {"mocks/batch",
     "POST",
     {"mocks.batch_create", W},
     NS_BODY,
     BODY_BATCH,
     mocks_batch_create},
    {"mocks/batch",
     "DELETE",
     {"mocks.batch_close", W},
     NS_NONE,
     BODY_OBJECT,
     mocks_batch_close},
    /* under the platforms' SDK paths (admin_mock_batch.c); before the
     * by-id routes */
    {"mocks/batch/restore",
     "POST",
     {"mocks.batch_restore", W},
     NS_NONE,
     BODY_OBJECT,
     compat_mocks_batch_restore},
    {"mocks/batch/tags",
     "PATCH",
     {"mocks.batch_tags", W},
     NS_NONE,
     BODY_OBJECT,
     compat_mocks_batch_tags},
    {"mocks/batch/move",
     "PATCH",
     {"mocks.batch_move", W},
     NS_NONE,
     BODY_OBJECT,
     compat_mocks_batch_move},
    {"mocks/copy-to-namespace",
     "POST",
     {"mocks.copy_to_namespace", W},
     NS_NONE,
     BODY_OBJECT,
     compat_mocks_copy},
    {"mocks/chains/*",
     "GET",
     {"mocks.chain_get", R},
     NS_FILTER,
     BODY_NONE,
     compat_chain_get},
    {"mocks/chains/*",
     "DELETE",
     {"mocks.chain_close", W},
     NS_FILTER,
     BODY_NONE,
     compat_chain_close},
    {"mocks/*/logs",
     "GET",
     {"mocks.logs", R},
     NS_NONE,
     BODY_NONE,
     compat_mock_logs},
    {"mocks/*/logs",
     "DELETE",
     {"mocks.logs_clear", W},
     NS_NONE,
     BODY_NONE,
     compat_mock_logs_clear},
    {"mocks/*/versions", "GET", {"mocks.versions", R}, NS_NONE, BODY_NONE,
     admin_mock_versions},
    {"mocks/*/versions/*", "GET", {"mocks.version_get", R}, NS_NONE,
     BODY_NONE, admin_mock_version_get},
    {"mocks/*/versions/*/restore", "POST", {"mocks.version_restore", W},
     NS_NONE, BODY_OPTIONAL, admin_mock_version_restore},
    /* dry runs (read-only), grouped; before the by-id routes */
    {"mocks/validate",
     "POST",
     {"mocks.validate", R},
     NS_BODY_SANDBOX,
     BODY_OBJECT,
     mocks_validate},
    {"templates/render",
     "POST",
     {"templates.render", R},
     NS_BODY_SANDBOX,
     BODY_OBJECT,
     templates_render},
    /* response template files (admin_templates.c); "render" above is a
     * reserved name */
    {"templates",
     "GET",
     {"templates.list", R},
     NS_DEFAULT,
     BODY_NONE,
     tfiles_list},
    {"templates",
     "POST",
     {"templates.create", W},
     NS_BODY,
     BODY_TEMPLATE,
     tfiles_create},
    {"templates/*",
     "GET",
     {"templates.get", R},
     NS_DEFAULT,
     BODY_NONE,
     tfiles_get},
    {"templates/*",
     "POST",
     {"templates.replace", W},
     NS_BODY,
     BODY_TEMPLATE,
     tfiles_replace},
    {"templates/*",
     "DELETE",
     {"templates.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     tfiles_delete},
    /* protocol plugins' schema files (admin_schemas.c); the NAME segment
     * is the rest of the path, slashes kept (admin_split_path) */
    {"schemas/*",
     "GET",
     {"schemas.list", R},
     NS_DEFAULT,
     BODY_NONE,
     admin_schemas_list},
    {"schemas/*",
     "POST",
     {"schemas.batch", W},
     NS_BODY,
     BODY_OBJECT,
     admin_schemas_batch},
    {"schemas/*/*",
     "GET",
     {"schemas.get", R},
     NS_DEFAULT,
     BODY_NONE,
     admin_schemas_get},
    {"schemas/*/*",
     "PUT",
     {"schemas.put", W},
     NS_DEFAULT,
     BODY_NONE,
     admin_schemas_put},
    {"schemas/*/*",
     "DELETE",
     {"schemas.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     admin_schemas_delete},
    /* what each mock section's schemas define (admin_schemas.c) */
    {"protocols",
     "GET",
     {"protocols.list", R},
     NS_DEFAULT,
     BODY_NONE,
     admin_protocols_list},
    {"protocols/*",
     "GET",
     {"protocols.get", R},
     NS_DEFAULT,
     BODY_NONE,
     admin_protocols_get},
    {"protocols/*/actions/*",
     "GET",
     {"protocols.action_read", R},
     NS_DEFAULT,
     BODY_NONE,
     admin_protocols_action},
    {"protocols/*/actions/*",
     "POST",
     {"protocols.action", W},
     NS_DEFAULT,
     BODY_OPTIONAL,
     admin_protocols_action},
    {"mocks/*", "GET", {"mocks.get", R}, NS_NONE, BODY_NONE, mock_get},
    {"mocks/*", "PATCH", {"mocks.patch", W}, NS_NONE, BODY_OBJECT, mock_patch},
    {"mocks/*", "DELETE", {"mocks.close", W}, NS_NONE, BODY_NONE, mock_close},
    {"mocks/*/restore",
     "POST",
     {"mocks.restore", W},
     NS_NONE,
     BODY_NONE,
     mock_restore},
    {"mocks/*/purge",
     "DELETE",
     {"mocks.purge", W},
     NS_NONE,
     BODY_NONE,
     mock_purge},
    {"stores/global",
     "GET",
     {"stores.get", R},
     NS_DEFAULT,
     BODY_NONE,
     store_get},
    {"stores/global",
     "DELETE",
     {"stores.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     store_delete},
    {"stores/global/*",
     "GET",
     {"stores.get", R},
     NS_DEFAULT,
     BODY_NONE,
     store_get},
    {"stores/global/*",
     "PUT",
     {"stores.put", W},
     NS_DEFAULT,
     BODY_VALUE,
     store_put},
    {"stores/global/*",
     "DELETE",
     {"stores.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     store_delete},
    {"stores/chain/*",
     "GET",
     {"stores.get", R},
     NS_DEFAULT,
     BODY_NONE,
     store_get},
    {"stores/chain/*",
     "DELETE",
     {"stores.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     store_delete},
    {"stores/chain/*/*",
     "GET",
     {"stores.get", R},
     NS_DEFAULT,
     BODY_NONE,
     store_get},
    {"stores/chain/*/*",
     "PUT",
     {"stores.put", W},
     NS_DEFAULT,
     BODY_VALUE,
     store_put},
    {"stores/chain/*/*",
     "DELETE",
     {"stores.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     store_delete},
    {"requests", "GET", {"journal.list", R}, NS_FILTER, BODY_NONE, journal_get},
    {"requests",
     "DELETE",
     {"journal.clear", W},
     NS_FILTER,
     BODY_NONE,
     journal_clear},
    {"unmatched",
     "GET",
     {"unmatched.list", R},
     NS_FILTER,
     BODY_NONE,
     unmatched_get},
    {"unmatched",
     "DELETE",
     {"unmatched.clear", W},
     NS_FILTER,
     BODY_NONE,
     unmatched_clear},
    {"reset", "POST", {"reset", W}, NS_REQUIRED, BODY_OPTIONAL, reset_ns},
    /* under the platforms' SDK paths (admin_compat.c) */
    {"stores/global",
     "POST",
     {"stores.put", W},
     NS_BODY,
     BODY_OBJECT,
     compat_store_post},
    {"stores/chain/*",
     "POST",
     {"stores.put", W},
     NS_BODY,
     BODY_OBJECT,
     compat_store_post},
    {"undefined-requests",
     "GET",
     {"unmatched.list", R},
     NS_FILTER,
     BODY_NONE,
     compat_undefined_list},
    {"undefined-requests",
     "DELETE",
     {"unmatched.clear", W},
     NS_FILTER,
     BODY_NONE,
     compat_undefined_clear},
    {"undefined-requests/all",
     "DELETE",
     {"unmatched.clear_all", W},
     NS_NONE,
     BODY_NONE,
     compat_undefined_clear_all},
    {"undefined-requests/*/create-mock",
     "POST",
     {"unmatched.create_mock", W},
     NS_NONE,
     BODY_OPTIONAL,
     compat_undefined_create_mock},
    {"undefined-requests/*/ignore",
     "PATCH",
     {"unmatched.ignore", W},
     NS_NONE,
     BODY_OPTIONAL,
     compat_undefined_ignore},
    {"counts", "GET", {"counts.get", R}, NS_FILTER, BODY_NONE, compat_counts},
    {"tags", "GET", {"tags.list", R}, NS_FILTER, BODY_NONE, admin_tags_list},
    {"tags", "POST", {"tags.create", W}, NS_BODY, BODY_OBJECT,
     admin_tags_create},
    {"mock-folders", "GET", {"folders.list", R}, NS_FILTER, BODY_NONE,
     admin_folders_list},
    {"mock-folders", "POST", {"folders.create", W}, NS_BODY, BODY_OBJECT,
     admin_folders_create},
    {"mock-folders/*", "PUT", {"folders.update", W}, NS_NONE, BODY_OBJECT,
     admin_folders_update},
    {"mock-folders/*", "DELETE", {"folders.delete", W}, NS_NONE, BODY_NONE,
     admin_folders_delete},
    {"mock-folders/*/move", "PATCH", {"folders.move", W}, NS_NONE,
     BODY_OBJECT, admin_folders_move},
    {"stats", "GET", {"stats.get", R}, NS_FILTER, BODY_NONE, compat_stats},
    /* record and replay (docs/record-replay.md) */
    {"services",
     "GET",
     {"services.list", R},
     NS_DEFAULT,
     BODY_NONE,
     services_list},
    {"services",
     "POST",
     {"services.create", W},
     NS_BODY,
     BODY_OBJECT,
     services_create},
    {"services/*",
     "GET",
     {"services.get", R},
     NS_DEFAULT,
     BODY_NONE,
     service_get},
    {"services/*",
     "DELETE",
     {"services.delete", W},
     NS_DEFAULT,
     BODY_NONE,
     service_delete},
    {"services/*/mode",
     "PUT",
     {"services.set_mode", W},
     NS_BODY,
     BODY_OBJECT,
     service_set_mode},
    {"mode", "GET", {"mode.get", R}, NS_DEFAULT, BODY_NONE, mode_get},
    {"mode", "PUT", {"mode.set", W}, NS_BODY, BODY_OBJECT, mode_set},
    {"coverage",
     "GET",
     {"coverage.get", R},
     NS_DEFAULT,
     BODY_NONE,
     coverage_get},
};
#undef W
#undef R

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static int path_matches(const char *pat, const admin_call_t *c)
{
    size_t i = 0;
    const char *p = pat;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (i >= c->nseg)
            return 0;
        if (!(len == 1 && p[0] == '*') &&
            (strlen(c->seg[i]) != len || memcmp(c->seg[i], p, len) != 0))
            return 0;
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == c->nseg;
}

static int method_is(const doppel_http_request_t *r, const char *m)
{
    size_t l = strlen(m);
    return r->method.len == l && memcmp(r->method.ptr, m, l) == 0;
}

/* Finds the route; *path_found tells 405 from 404, allow lists the
 * methods of the matching path. */
static const admin_route_t *find_route(const admin_call_t *c, int *path_found,
                                       char *allow, size_t allowlen)
{
    const char *path = NULL;
    *path_found = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (path == NULL) {
            if (!path_matches(routes[i].path, c))
                continue;
            path = routes[i].path;
            *path_found = 1;
        } else if (strcmp(routes[i].path, path) != 0) {
            continue;
        }
        const doppel_http_request_t *r = c->req;
        if (method_is(r, routes[i].method) ||
            (method_is(r, "HEAD") && strcmp(routes[i].method, "GET") == 0))
            return &routes[i];
        size_t used = strlen(allow);
        snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
                 routes[i].method);
    }
    return NULL;
}

static int check_body(admin_call_t *c, enum body_mode mode)
{
    if (mode == BODY_NONE)
        return 0;
    if (mode == BODY_TEMPLATE && admin_templates_is_form(c))
        return admin_templates_form_body(c);
    if (admin_parse_body(c) < 0)
        return -EINVAL;
    if (c->body == NULL) {
        if (mode == BODY_OPTIONAL)
            return 0;
        admin_reply_error(c, 400, "validation", NULL,
                          "a JSON request body is required");
        return -EINVAL;
    }
    if ((mode == BODY_OBJECT || mode == BODY_OPTIONAL ||
         mode == BODY_TEMPLATE) &&
        !json_is_object(c->body)) {
        admin_reply_error(c, 400, "validation", NULL,
                          "the request body must be a JSON object");
        return -EINVAL;
    }
    if (mode == BODY_BATCH && !json_is_object(c->body) &&
        !json_is_array(c->body)) {
        admin_reply_error(c, 400, "validation", NULL,
                          "the request body must be an array of mocks or "
                          "{\"mocks\": [...]}");
        return -EINVAL;
    }
    return 0;
}

static int deny(admin_call_t *c, int rc, dp_err_t *err)
{
    if (err->status == 0)
        dp_err_set(err, 403, "forbidden", NULL, "not allowed");
    admin_reply_dp_err(c, rc, err);
    return rc;
}

static int authorize(admin_call_t *c, const dp_admin_op_t *op, const char *ns)
{
    dp_err_t err = {0};
    int rc = dp_admin_authorize(c->auth, c->req, op, ns, &c->who, &err);
    return rc < 0 ? deny(c, rc, &err) : 0;
}

static int authorize_more(admin_call_t *c, const dp_admin_op_t *op,
                          const char *ns, const char *done)
{
    if (done != NULL && strcmp(ns, done) == 0)
        return 0;
    dp_err_t err = {0};
    int rc = dp_admin_authorize_more(c->auth, &c->who, op, ns, &err);
    return rc < 0 ? deny(c, rc, &err) : 0;
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

/* ---- Authorisation of mock writes -----------------------------------------
 * Mock ids are one space shared by every namespace, so a write can reach a
 * mock of a namespace other than the one the request names: an id reused
 * by a create, a PATCH of "namespace", a batch close. The rules (see
 * docs/security.md, "Mock ids and namespaces"):
 *  - writing a mock needs editor in its namespace and in the namespace of
 *    any mock whose id it replaces or moves; each namespace touched gets its
 *    own audit row;
 *  - a refused create says the same whatever the reason (no role, or an id
 *    that lives in a namespace the caller cannot write), so that a refusal
 *    never tells which ids exist elsewhere;
 *  - an operation by id on a mock the caller cannot read answers exactly as
 *    for an id that does not exist (404).
 * Checked before the engine call; a concurrent write between the check and
 * the engine call could still change where an id lives (see the docs). */

/* Without answering: may the caller do op_name (write or not) in ns? */
static int may(admin_call_t *c, const char *op_name, int write, const char *ns)
{
    dp_admin_op_t op = {op_name, write};
    dp_err_t err = {0};
    return dp_admin_authorize_more(c->auth, &c->who, &op, ns, &err) == 0;
}

/* The one refusal of a mock create or batch create in ns (the namespace
 * the request or the item names); field names the item of a batch. */
static int deny_mock_write(admin_call_t *c, const dp_admin_op_t *op,
                           const char *ns, const char *field)
{
    admin_reply_error(c, 403, "forbidden", field,
                      "%s in namespace '%s' refused for user '%s': writing "
                      "a mock needs role editor in its namespace and in the "
                      "namespace of any existing mock whose id it reuses",
                      op->name, ns, c->who.user_name);
    return -EPERM;
}

/* What an unknown id answers (the engine's own 404). */
static int no_such_mock(admin_call_t *c, const char *id)
{
    admin_reply_error(c, 404, "not_found", "id", "no mock with id %s", id);
    return -ENOENT;
}

/* Notes that the write also reaches ns, for an audit row there (detail may
 * be NULL). c->audit_also maps namespace -> detail and is freed by
 * dispatch(). */
static void audit_also(admin_call_t *c, const char *ns, const char *detail)
{
    if (c->audit_also == NULL)
        c->audit_also = json_object();
    if (c->audit_also != NULL && json_object_get(c->audit_also, ns) == NULL)
        json_object_set_new(c->audit_also, ns,
                            detail ? json_string(detail) : json_null());
}

/* A new mock for namespace ns, maybe with the id of an existing one. */
static int authorize_put(admin_call_t *c, const dp_admin_op_t *op,
                         const char *ns, const json_t *mock, const char *field)
{
    if (!may(c, op->name, 1, ns))
        return deny_mock_write(c, op, ns, field);
    const char *id = json_string_value(json_object_get(mock, "id"));
    if (id == NULL)
        return 0;
    char old[ADMIN_NS_MAX + 1];
    mock_ns(c, id, old);
    if (old[0] == '\0' || strcmp(old, ns) == 0)
        return 0;
    if (!may(c, op->name, 1, old))
        return deny_mock_write(c, op, ns, field);
    char detail[ADMIN_NS_MAX + 160];
    snprintf(detail, sizeof(detail), "mock %.80s moved to namespace %s", id,
             ns);
    audit_also(c, old, detail);
    return 0;
}

/* Answers 400 itself for an item's namespace the API could not address. */
static int check_item_ns(admin_call_t *c, const json_t *mock, const char *field)
{
    json_t *v = json_object_get(mock, "namespace");
    if (v == NULL || json_is_null(v) ||
        (json_is_string(v) &&
         dp_admin_ns_valid(json_string_value(v), json_string_length(v))))
        return 0;
    admin_reply_error(c, 400, "validation", field,
                      "%s: expected 1 to 64 characters of A-Z a-z 0-9 . _ -",
                      field);
    return -EINVAL;
}

static int authorize_batch_create(admin_call_t *c, const admin_route_t *rt)
{
    const char *dflt = ns_or_default(c);
    int wrapped = !json_is_array(c->body);
    json_t *list = wrapped ? json_object_get(c->body, "mocks") : c->body;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        char f[48];
        snprintf(f, sizeof(f), "%s[%zu].namespace", wrapped ? "mocks" : "", i);
        if (json_is_object(v) && check_item_ns(c, v, f) < 0)
            return -EINVAL;
    }
    if (!may(c, rt->op.name, 1, dflt))
        return deny_mock_write(c, &rt->op, dflt, NULL);
    json_array_foreach(list, i, v)
    {
        const char *ns = json_string_value(json_object_get(v, "namespace"));
        char f[32];
        snprintf(f, sizeof(f), "%s[%zu]", wrapped ? "mocks" : "", i);
        if (ns == NULL)
            ns = dflt;
        if (authorize_put(c, &rt->op, ns, v, f) < 0)
            return -EPERM;
        if (strcmp(ns, dflt) != 0)
            audit_also(c, ns, NULL);
    }
    return 0;
}

/* By id: the caller must see the mock (else 404, as for no mock), then
 * have the operation's role in its namespace; moving it by PATCH also needs
 * the role in the new namespace. id_ns receives the mock's namespace. */
static int authorize_by_id(admin_call_t *c, const admin_route_t *rt,
                           char id_ns[ADMIN_NS_MAX + 1])
{
    const char *id = c->seg[1];
    mock_ns(c, id, id_ns);
    if (id_ns[0] == '\0' || !may(c, "mocks.get", 0, id_ns))
        return no_such_mock(c, id);
    if (authorize_more(c, &rt->op, id_ns, NULL) < 0)
        return -EPERM;
    if (strcmp(rt->op.name, "mocks.patch") != 0)
        return 0;
    json_t *to = json_object_get(c->body, "namespace");
    if (to == NULL || json_is_null(to))
        return 0;
    if (check_item_ns(c, c->body, "namespace") < 0)
        return -EINVAL;
    if (strcmp(json_string_value(to), id_ns) == 0)
        return 0;
    if (authorize_more(c, &rt->op, json_string_value(to), NULL) < 0)
        return -EPERM;
    char detail[ADMIN_NS_MAX + 40];
    snprintf(detail, sizeof(detail), "moved from namespace %s", id_ns);
    audit_also(c, json_string_value(to), detail);
    return 0;
}

/* All or nothing: every id must be one the caller may close. The first
 * namespace is the audit row's, the others get one each. */
static int authorize_batch_close(admin_call_t *c, const admin_route_t *rt,
                                 char first[ADMIN_NS_MAX + 1])
{
    size_t i;
    json_t *v;
    first[0] = '\0';
    json_array_foreach(json_object_get(c->body, "ids"), i, v)
    {
        char ns[ADMIN_NS_MAX + 1];
        if (!json_is_string(v))
            continue; /* the handler answers 400 */
        mock_ns(c, json_string_value(v), ns);
        if (ns[0] == '\0' || !may(c, "mocks.get", 0, ns))
            return no_such_mock(c, json_string_value(v));
        if (authorize_more(c, &rt->op, ns, NULL) < 0)
            return -EPERM;
        if (first[0] == '\0')
            memcpy(first, ns, sizeof(ns));
        else if (strcmp(first, ns) != 0)
            audit_also(c, ns, NULL);
    }
    return 0;
}

/* The authorisation of the /mocks routes (see above). ns_out receives the
 * namespace the operation acts in, for the audit row ("" for the one the
 * request resolved). Answers itself on refusal. */
static int authorize_mocks(admin_call_t *c, const admin_route_t *rt,
                           char ns_out[ADMIN_NS_MAX + 1])
{
    ns_out[0] = '\0';
    if (authorize(c, NULL, NULL) < 0) /* the token: 401, 429 */
        return -EACCES;
    int rc;
    if (strncmp(rt->path, "mocks/*", 7) == 0)
        rc = authorize_by_id(c, rt, ns_out);
    else if (strcmp(rt->op.name, "mocks.create") == 0)
        rc = authorize_put(c, &rt->op, ns_or_default(c), c->body, NULL);
    else if (strcmp(rt->op.name, "mocks.batch_create") == 0)
        rc = authorize_batch_create(c, rt);
    else if (strcmp(rt->op.name, "mocks.batch_close") == 0)
        rc = authorize_batch_close(c, rt, ns_out);
    else
        rc = authorize(c, &rt->op, ns_or_null(c));
    if (rc < 0) {
        json_decref(c->audit_also);
        c->audit_also = NULL;
    }
    return rc;
}

static int mock_route(const admin_route_t *rt)
{
    return strncmp(rt->op.name, "mocks.", 6) == 0 &&
           strcmp(rt->op.name, "mocks.validate") != 0 &&
           strcmp(rt->op.name, "mocks.list") != 0;
}

/* Runs the handler of a write with its audit rows (the operation's, and
 * one for each further namespace it reaches, c->audit_also): the engine
 * writes them in the transaction of the change, so rows that cannot be
 * written fail the request with nothing changed. A change the engine made
 * without them (services, modes, journal clears: no transaction of the
 * engine's) is audited afterwards, and a failure then fails the request
 * (the change stays, and the log says why). */
static void run_audited(admin_call_t *c, const admin_route_t *rt,
                        const char *ns)
{
    char target[160], actor[DP_AUTH_ACTOR_MAX];
    snprintf(target, sizeof(target), "%.*s", (int)c->req->rest.len,
             c->req->rest.ptr ? c->req->rest.ptr : "");
    size_t n = 1 + json_object_size(c->audit_also);
    dp_audit_row_t one, *rows = n > 1 ? calloc(n, sizeof(*rows)) : &one;
    dp_engine_audit_t au = {0};
    if (c->hold && rows != NULL) {
        int64_t at;
        dp_auth_audit_meta(c->auth, &c->who, actor, &at, &au.keep);
        rows[0] = (dp_audit_row_t){
            at, actor, c->who.token_id, rt->op.name, ns, target, NULL};
        size_t i = 1;
        const char *also;
        json_t *detail;
        json_object_foreach(c->audit_also, also, detail)
        {
            rows[i] = rows[0];
            rows[i].ns = also;
            rows[i++].detail = json_string_value(detail);
        }
        au.rows = rows;
        au.n_rows = n;
        dp_engine_audit_begin(&au);
    }
    rt->fn(c);
    if (c->hold && rows != NULL)
        dp_engine_audit_end();
    if (rows != &one)
        free(rows);
    if (c->status < 200 || c->status > 299 || au.written)
        return;
    int rc = dp_admin_audit(c->auth, &c->who, &rt->op, ns, target);
    const char *also;
    json_t *detail;
    json_object_foreach(c->audit_also, also, detail)
    {
        if (rc == 0)
            rc = dp_admin_audit_detail(c->auth, &c->who, &rt->op, also, target,
                                       json_string_value(detail));
    }
    if (rc < 0)
        admin_fail_held(c, "the change was made, but its audit row could "
                           "not be written");
}

static void dispatch(admin_call_t *c)
{
    int rc = admin_split_path(c);
    if (rc == -EINVAL) {
        admin_reply_error(c, 400, "validation", NULL,
                          "bad percent-encoding in the path");
        return;
    }
    char allow[96];
    int path_found = 0;
    const admin_route_t *rt =
        rc < 0 ? NULL : find_route(c, &path_found, allow, sizeof(allow));
    if (rt == NULL) {
        if (authorize(c, NULL, NULL) < 0)
            return;
        if (path_found)
            admin_reply_405(c, allow);
        else
            admin_reply_error(c, 404, "not_found", NULL,
                              "no admin endpoint %.*s %.*s",
                              (int)c->req->method.len, c->req->method.ptr,
                              (int)c->req->path.len, c->req->path.ptr);
        return;
    }
    if (check_body(c, rt->body) < 0)
        return;
    if (rt->ns != NS_NONE &&
        admin_resolve_ns(c, rt->ns == NS_BODY || rt->ns == NS_REQUIRED ||
                                rt->ns == NS_BODY_SANDBOX) < 0)
        return;
    if (rt->ns == NS_BODY_SANDBOX && c->ns[0] == '\0')
        snprintf(c->ns, sizeof(c->ns), "%s", DEFAULT_NS);
    if (rt->ns == NS_REQUIRED && c->ns[0] == '\0') {
        admin_reply_error(c, 400, "validation", "namespace",
                          "namespace is required (body \"namespace\", "
                          "?namespace= or X-Namespace)");
        return;
    }
    /* Mock writes may reach other namespaces than the request's; by-id
     * operations act in the namespace the mock lives in. */
    const char *ns = ns_or_null(c);
    char id_ns[ADMIN_NS_MAX + 1] = "";
    if (c->auth != NULL && admin_compat_owns(rt->op.name)) {
        if (admin_compat_authorize(c, &rt->op, id_ns) < 0)
            return;
        if (id_ns[0])
            ns = id_ns;
    } else if (c->auth != NULL && mock_route(rt)) {
        if (authorize_mocks(c, rt, id_ns) < 0)
            return;
        if (id_ns[0])
            ns = id_ns;
    } else if (authorize(c, &rt->op, ns) < 0) {
        return;
    }
    c->hold = rt->op.write && c->auth != NULL;
    /* the versions this call's writes keep name who made them; set on
     * this (pool) thread, the one the route handler and the engine's
     * write run on, as the actor is thread-local */
    dp_engine_set_actor(c->who.user_name[0] ? c->who.user_name
                                            : c->who.token_name);
    run_audited(c, rt, ns ? ns : (rt->ns == NS_FILTER ? NULL : DEFAULT_NS));
    dp_engine_set_actor(NULL);
    json_decref(c->audit_also);
    c->audit_also = NULL;
    admin_release(c); /* acknowledged only now that the row is stored */
}

/* ---- Off the loop ---------------------------------------------------------
 * Admin work (validation, compilation, the index rebuild, fsyncs, audit
 * rows, serialising lists) takes from microseconds to seconds, so it never
 * runs on the worker loop that received it: the handler queues the call,
 * dispatch() runs on the libuv thread pool, and the answer is sent from the
 * completion callback on the loop thread. The calls of one connection run
 * one at a time, in arrival order, so a client that pipelines a write and
 * then a read sees them applied in that order (as a server that handles a
 * connection's requests one by one would); calls of different connections,
 * and in-process calls, run side by side, so a read is not held up by
 * another client's long write (reads take no writer lock, writes queue on
 * the engine's). */

/* Calls of one worker on the pool at once: libuv's pool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise) is shared by every worker and by the
 * other off-loop work. */
#define ADMIN_MAX_RUNNING 2

typedef struct admin_job admin_job_t;

/* A queue of one mount: shared by every request of one worker (its
 * listener and its in-process server), touched on that worker's loop
 * thread only. Freed with the router, after the loop ran to its end, which
 * is after every job's completion callback (a job on the pool keeps the
 * loop alive, and a waiting one is started by the completion before it). */
struct admin_queue {
    struct dp_engine *engine;
    struct dp_auth *auth;
    admin_job_t *head, *tail; /* every call not yet answered, in arrival
                                 order */
    unsigned running;         /* of them on the pool */
};
typedef admin_queue_t admin_state_t;

struct admin_job {
    uv_work_t work;
    admin_job_t *next, *prev;
    admin_state_t *st;
    admin_run_fn run; /* on the pool: decides the answer */
    void *arg;
    uint64_t conn; /* the connection's id (dp_http_exchange_conn_id); 0:
                      in-process, ordered with nothing */
    int started;
    admin_call_t c; /* its exchange (and so its request) stays valid until
                       admin_send answers it */
};

/* Thread pool: everything but answering. */
static void job_run(uv_work_t *w)
{
    admin_job_t *j = w->data;
    admin_call_t *c = &j->c;
    j->run(c, j->arg);
    if (!c->answered)
        admin_reply_error(c, 500, "internal", NULL, "no answer");
    for (size_t i = 0; i < c->nseg; i++)
        free(c->seg[i]);
    c->nseg = 0;
    json_decref(c->body);
    c->body = NULL;
    /* A large batch or reset parses, copies and serialises megabytes of JSON
     * that are all freed by now; glibc would keep that heap mapped, so the
     * process would keep its peak as RSS for good. Hand it back. */
    if (c->trim || c->req->body_len >= (1u << 20))
        malloc_trim(0);
}

static void job_start(admin_state_t *st);

static void job_unlink(admin_state_t *st, admin_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        st->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        st->tail = j->prev;
}

/* Loop thread: the answer goes out, the calls that waited for this one (or
 * for a free slot) start. */
static void job_done(uv_work_t *w, int status)
{
    admin_job_t *j = w->data;
    admin_state_t *st = j->st;
    (void)status; /* a job is never cancelled (uv_cancel is not used) */
    job_unlink(st, j);
    st->running--;
    admin_send(&j->c);
    free(j);
    job_start(st);
}

/* 1 when an earlier call of the same connection is not answered yet. */
static int job_must_wait(const admin_job_t *j)
{
    if (j->conn == 0)
        return 0;
    for (const admin_job_t *o = j->prev; o != NULL; o = o->prev)
        if (o->conn == j->conn)
            return 1;
    return 0;
}

static void job_start(admin_state_t *st)
{
    admin_job_t *j = st->head;
    while (j != NULL && st->running < ADMIN_MAX_RUNNING) {
        admin_job_t *next = j->next;
        if (!j->started && !job_must_wait(j)) {
            j->started = 1;
            st->running++;
            j->work.data = j;
            if (uv_queue_work(dp_http_exchange_loop(j->c.ex), &j->work, job_run,
                              job_done) < 0) {
                /* Cannot happen with both callbacks set; answer rather
                 * than hang. */
                st->running--;
                job_unlink(st, j);
                admin_reply_error(&j->c, 503, "unavailable", NULL,
                                  "the admin work queue is unavailable");
                admin_send(&j->c);
                free(j);
            }
        }
        j = next;
    }
}

int admin_queue_call(admin_queue_t *st, doppel_http_exchange_t *ex,
                     const doppel_http_request_t *req, admin_run_fn run,
                     void *arg)
{
    admin_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM; /* the front answers 500 */
    j->st = st;
    j->run = run;
    j->arg = arg;
    j->conn = dp_http_exchange_conn_id(ex);
    j->c = (admin_call_t){
        .ex = ex, .req = req, .engine = st->engine, .auth = st->auth};
    j->prev = st->tail;
    if (st->tail != NULL)
        st->tail->next = j;
    else
        st->head = j;
    st->tail = j;
    job_start(st);
    return 0;
}

static void run_dispatch(admin_call_t *c, void *arg)
{
    (void)arg;
    dispatch(c);
}

static int admin_handler(void *state, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req)
{
    return admin_queue_call(state, ex, req, run_dispatch, NULL);
}

static void admin_state_free(void *p) { free(p); }

admin_queue_t *admin_queue_new(dp_router_t *r, struct dp_engine *e,
                               struct dp_auth *a)
{
    admin_queue_t *q = malloc(sizeof(*q));
    if (q == NULL)
        return NULL;
    *q = (admin_queue_t){.engine = e, .auth = a};
    if (dp_router_on_free(r, admin_state_free, q) < 0) {
        free(q);
        return NULL;
    }
    return q;
}

int dp_admin_mount(dp_router_t *r, struct dp_engine *e, struct dp_auth *a)
{
    admin_state_t *st = malloc(sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    *st = (admin_state_t){.engine = e, .auth = a};
    doppel_http_mount_t m = {
        .size = sizeof(m),
        .prefix = "/api/v1",
        .handler = admin_handler,
        .state = st,
    };
    int rc = dp_router_add(r, &m, 1, "host");
    if (rc == 0)
        rc = dp_router_on_free(r, admin_state_free, st);
    if (rc < 0)
        free(st); /* the route stays but is never served: start-up fails */
    return rc;
}
