/*
 * Endpoints of the admin API under the names the platforms' SDKs call:
 * the unmatched list as /undefined-requests, stores written by POST with
 * {key, value[, namespace]}, and the mock counts and request stats.
 * Reference for users: docs/admin-api.md, "Compatibility with the
 * platforms' SDKs".
 *
 * Most of these act on objects whose namespace the request does not name
 * (an unmatched entry by id, every namespace the caller may see), so they
 * authorise here (admin_compat_authorize, called by dispatch() instead of
 * the route's single check) and name the namespaces they touch for the
 * audit rows. Runs like every admin handler: on the worker's loop, one
 * admin_call_t per request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "engine/expr.h" /* DP_SCOPE_* */

#define DEFAULT_NS "sandbox"

/* ---- Authorisation --------------------------------------------------- */

static int deny(admin_call_t *c, int rc, dp_err_t *err)
{
    if (err->status == 0)
        dp_err_set(err, 403, "forbidden", NULL, "not allowed");
    admin_reply_dp_err(c, rc, err);
    return rc;
}

/* Without answering: may the caller do op_name (write or not) in ns (NULL:
 * every namespace, which only a system admin may)? */
static int may(admin_call_t *c, const char *op_name, int write, const char *ns)
{
    dp_admin_op_t op = {op_name, write};
    dp_err_t err = {0};
    return dp_admin_authorize_more(c->auth, &c->who, &op, ns, &err) == 0;
}

static int no_such_entry(admin_call_t *c, const char *id)
{
    admin_reply_error(c, 404, "not_found", "id",
                      "no unmatched request with id %.64s", id);
    return -ENOENT;
}

/* The namespace of unmatched entry id into ns; answers 404 itself when
 * the list holds no such entry or the caller may not read its namespace
 * (the same answer, so that ids of other namespaces stay unseen). */
static int entry_ns(admin_call_t *c, const char *id, char ns[ADMIN_NS_MAX + 1])
{
    json_t *e = NULL;
    ns[0] = '\0';
    if (dp_engine_unmatched_get(c->engine, id, &e) == 0) {
        const char *s = json_string_value(json_object_get(e, "namespace"));
        if (s != NULL && strlen(s) <= ADMIN_NS_MAX)
            memcpy(ns, s, strlen(s) + 1);
    }
    json_decref(e);
    if (ns[0] == '\0' || !may(c, "unmatched.list", 0, ns))
        return no_such_entry(c, id);
    return 0;
}

/* Notes a further namespace the call reaches, for its own audit row. */
static void audit_also(admin_call_t *c, const char *ns)
{
    if (c->audit_also == NULL)
        c->audit_also = json_object();
    if (c->audit_also != NULL && json_object_get(c->audit_also, ns) == NULL)
        json_object_set_new(c->audit_also, ns, json_null());
}

/* DELETE /undefined-requests/all: every namespace whose entries the caller
 * sees, all or nothing: when it sees entries of a namespace it may not
 * write, nothing is cleared (403). A system admin clears every one. */
static int authorize_clear_all(admin_call_t *c, const dp_admin_op_t *op,
                               char ns_out[ADMIN_NS_MAX + 1])
{
    if (may(c, op->name, 1, NULL))
        return 0;
    json_t *counts = NULL;
    if (dp_engine_unmatched_counts(c->engine, &counts) < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return -ENOMEM;
    }
    const char *ns;
    json_t *v;
    int rc = 0;
    json_object_foreach(counts, ns, v)
    {
        if (!may(c, "unmatched.list", 0, ns))
            continue;
        dp_err_t err = {0};
        rc = dp_admin_authorize_more(c->auth, &c->who, op, ns, &err);
        if (rc < 0) {
            deny(c, rc, &err);
            break;
        }
        if (ns_out[0] == '\0') {
            /* the handler reads the first one from c->ns */
            snprintf(ns_out, ADMIN_NS_MAX + 1, "%s", ns);
            snprintf(c->ns, sizeof(c->ns), "%s", ns);
        } else
            audit_also(c, ns);
    }
    json_decref(counts);
    return rc;
}

static int is_op(const dp_admin_op_t *op, const char *name)
{
    return strcmp(op->name, name) == 0;
}

int admin_compat_owns(const char *op_name)
{
    static const char *const owned[] = {
        "unmatched.create_mock",
        "unmatched.ignore",
        "unmatched.clear_all",
        "counts.get",
        "stats.get",
        "tags.list", /* admin_tags.c: spans the namespaces read */
    };
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(owned[i], op_name) == 0)
            return 1;
    return admin_mock_batch_owns(op_name) || admin_folders_owns(op_name);
}

int admin_compat_authorize(admin_call_t *c, const dp_admin_op_t *op,
                           char ns_out[ADMIN_NS_MAX + 1])
{
    ns_out[0] = '\0';
    dp_err_t err = {0};
    /* The token first (401, 429), whatever the namespaces. */
    int rc = dp_admin_authorize(c->auth, c->req, NULL, NULL, &c->who, &err);
    if (rc < 0)
        return deny(c, rc, &err);
    if (is_op(op, "unmatched.create_mock") || is_op(op, "unmatched.ignore")) {
        if (entry_ns(c, c->seg[1], ns_out) < 0)
            return -ENOENT;
        rc = dp_admin_authorize_more(c->auth, &c->who, op, ns_out, &err);
        return rc < 0 ? deny(c, rc, &err) : 0;
    }
    if (admin_mock_batch_owns(op->name)) {
        rc = admin_mock_batch_authorize(c, op, ns_out);
        if (rc < 0) {
            json_decref(c->audit_also);
            c->audit_also = NULL;
        }
        return rc;
    }
    if (admin_folders_owns(op->name))
        return admin_folders_authorize(c, op, ns_out);
    if (is_op(op, "unmatched.clear_all")) {
        rc = authorize_clear_all(c, op, ns_out);
        if (rc < 0) {
            json_decref(c->audit_also);
            c->audit_also = NULL;
        }
        return rc;
    }
    /* counts and stats: one namespace when the request names one, else
     * every namespace the caller may read (the handlers filter). */
    if (c->ns[0] != '\0') {
        rc = dp_admin_authorize_more(c->auth, &c->who, op, c->ns, &err);
        return rc < 0 ? deny(c, rc, &err) : 0;
    }
    return 0;
}

/* ---- Unmatched requests under the SDKs' name ------------------------- */

void compat_undefined_list(admin_call_t *c)
{
    size_t off, lim;
    int incl = 0;
    if (admin_query_size(c, "offset", 0, 0, 1000000000, &off) < 0 ||
        admin_query_size(c, "limit", 100, 1, 1000, &lim) < 0 ||
        admin_query_bool(c, "includeIgnored", 0, &incl) < 0)
        return;
    json_t *out = NULL;
    int rc = dp_engine_unmatched_ex(c->engine, c->ns[0] ? c->ns : NULL, incl,
                                    off, lim, &out);
    if (rc < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    /* The SDKs read the entries under "requests"; "items" stays doppel's. */
    json_object_set(out, "requests", json_object_get(out, "items"));
    admin_reply_json(c, 200, out);
}

void compat_undefined_clear(admin_call_t *c)
{
    dp_engine_unmatched_clear(c->engine, c->ns[0] ? c->ns : NULL);
    admin_reply_empty(c, 204);
}

void compat_undefined_clear_all(admin_call_t *c)
{
    json_t *counts = NULL;
    if (dp_engine_unmatched_counts(c->engine, &counts) < 0) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    json_t *names = json_array();
    json_int_t cleared = 0;
    const char *ns;
    json_t *v;
    int all = may(c, "unmatched.clear_all", 1, NULL);
    json_object_foreach(counts, ns, v)
    {
        /* the namespaces authorize_clear_all let through */
        int ok = all || strcmp(ns, c->ns) == 0 ||
                 (c->audit_also && json_object_get(c->audit_also, ns));
        if (!ok)
            continue;
        dp_engine_unmatched_clear(c->engine, ns);
        cleared += json_integer_value(v);
        json_array_append_new(names, json_string(ns));
    }
    json_decref(counts);
    admin_reply_json(
        c, 200,
        json_pack("{s:I,s:o}", "cleared", cleared, "namespaces", names));
}

void compat_undefined_ignore(admin_call_t *c)
{
    int ignored = 1;
    if (c->body != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach(c->body, k, v)
        {
            if (strcmp(k, "ignored") != 0) {
                admin_reply_error(c, 400, "validation", k,
                                  "%s: unknown field (expected ignored)", k);
                return;
            }
            if (!json_is_boolean(v)) {
                admin_reply_error(c, 400, "validation", "ignored",
                                  "ignored: expected true or false");
                return;
            }
            ignored = json_is_true(v);
        }
    }
    if (dp_engine_unmatched_ignore(c->engine, c->seg[1], ignored) < 0) {
        no_such_entry(c, c->seg[1]); /* dropped since it was authorised */
        return;
    }
    json_t *out = NULL;
    if (dp_engine_unmatched_get(c->engine, c->seg[1], &out) < 0) {
        no_such_entry(c, c->seg[1]);
        return;
    }
    admin_reply_json(c, 200, out);
}

/* ---- A mock made from an unmatched entry ----------------------------- *
 * One maker per protocol turns what the entry recorded (its method, path
 * and, for SOAP, server) into that protocol's section, literal (no
 * conditions), and names the answer a mock gives when the call brings
 * none. A maker that cannot read the entry answers the 400 itself. */

typedef struct made {
    json_t *section;  /* the protocol section (owned) */
    json_t *fallback; /* the answer without a body's response (owned) */
} made_t;

typedef int (*maker_fn)(admin_call_t *c, const json_t *entry, made_t *out);

static const char *entry_str(const json_t *entry, const char *key)
{
    const char *s = json_string_value(json_object_get(entry, key));
    return s ? s : "";
}

static int unusable(admin_call_t *c, const char *proto, const char *why)
{
    admin_reply_error(c, 400, "validation", "id",
                      "unmatched %s request %.64s cannot be made into a "
                      "mock: %s",
                      proto, c->seg[1], why);
    return -EINVAL;
}

static int made_or_oom(made_t *out)
{
    if (out->section != NULL && out->fallback != NULL)
        return 0;
    json_decref(out->section);
    json_decref(out->fallback);
    out->section = out->fallback = NULL;
    return -ENOMEM;
}

/* http: the method and the path, matched literally (":" and "*" in it
 * mean nothing); 200 and {}. */
static int make_http(admin_call_t *c, const json_t *entry, made_t *out)
{
    (void)c;
    out->section = json_pack("{s:s,s:s,s:b}", "route", entry_str(entry, "path"),
                             "httpMethod", entry_str(entry, "method"),
                             "routeLiteral", 1);
    out->fallback = json_pack("{s:i,s:{}}", "statusCode", 200, "payload");
    return made_or_oom(out);
}

/* Whether a plugin section's path (which the engine reads as a route,
 * with no literal form) would match more than itself: a segment that is a
 * parameter (":id") or a wildcard ("*"). */
static int path_is_pattern(const char *path)
{
    for (const char *seg = path; seg != NULL;
         seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        if (seg[0] == ':' || (seg[0] == '*' && (seg[1] == '/' || !seg[1])))
            return 1;
    return 0;
}

/* graphql: the entry's method is "<operation>.<field>" (graphql_op.c), one
 * entry per top-level field; the field is null by default. */
static int make_graphql(admin_call_t *c, const json_t *entry, made_t *out)
{
    const char *m = entry_str(entry, "method");
    const char *dot = strchr(m, '.');
    static const char *const ops[] = {"query", "mutation", "subscription"};
    int known = 0;
    for (size_t i = 0; dot && i < sizeof(ops) / sizeof(ops[0]); i++)
        known |= strlen(ops[i]) == (size_t)(dot - m) &&
                 strncmp(m, ops[i], (size_t)(dot - m)) == 0;
    if (!known || dot[1] == '\0')
        return unusable(c, "graphql", "its method is not "
                                      "<operation>.<field>");
    const char *field = dot + 1;
    if (path_is_pattern(entry_str(entry, "path")))
        return unusable(c, "graphql", "its path would be a route pattern "
                                      "(a ':' or '*' segment)");
    out->section = json_pack("{s:s%,s:s,s:s}", "operation", m,
                             (size_t)(dot - m), "field", field, "path",
                             entry_str(entry, "path"));
    out->fallback = json_pack("{s:i,s:{s:{s:n}}}", "statusCode", 200,
                              "payload", "data", field);
    return made_or_oom(out);
}

/* Whether s can name an XML element: an NCName (ASCII checked; other
 * bytes are UTF-8 the request's parser already accepted). */
static int xml_name(const char *s)
{
    if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9') || s[0] == '-' ||
        s[0] == '.')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x80 && !(*p == '_' || *p == '-' || *p == '.' ||
                           (*p >= '0' && *p <= '9') ||
                           (*p >= 'a' && *p <= 'z') ||
                           (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

/* The request's path from a SOAP entry's: the plugin hands the engine
 * each '%' of the path as "%25" (so that the route splitter reads it back
 * as the '%' it was), and soap.path is compared with the request's path
 * as it came. A new string, NULL on ENOMEM. */
static char *soap_request_path(const char *target)
{
    size_t n = strlen(target);
    char *o = malloc(n + 1);
    if (o == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        o[k++] = target[i];
        if (target[i] == '%' && strncmp(target + i + 1, "25", 2) == 0)
            i += 2;
    }
    o[k] = '\0';
    return o;
}

/* soap: the operation (the entry's method), the path and, when the WSDL
 * named it, the service (the entry's server); the default answer is an
 * empty <MethodResponse/> in the Body, which the plugin wraps in an
 * envelope of the request's version. */
static int make_soap(admin_call_t *c, const json_t *entry, made_t *out)
{
    const char *m = entry_str(entry, "method");
    if (m[0] == '\0')
        return unusable(c, "soap", "its Body was empty (no operation)");
    if (!xml_name(m))
        return unusable(c, "soap", "its operation is not an XML name");
    char *path = soap_request_path(entry_str(entry, "path"));
    if (path != NULL && path_is_pattern(path)) {
        free(path);
        return unusable(c, "soap", "its path would be a route pattern "
                                   "(a ':' or '*' segment)");
    }
    out->section = path ? json_pack("{s:s,s:s}", "method", m, "path", path)
                        : NULL;
    free(path);
    const char *svc = entry_str(entry, "server");
    if (out->section != NULL && svc[0] != '\0' &&
        json_object_set_new(out->section, "service", json_string(svc)) < 0) {
        json_decref(out->section);
        out->section = NULL;
    }
    size_t len = strlen(m) + sizeof("<Response/>");
    char *xml = malloc(len);
    if (xml != NULL) {
        snprintf(xml, len, "<%sResponse/>", m);
        out->fallback =
            json_pack("{s:i,s:s}", "statusCode", 200, "payload", xml);
        free(xml);
    }
    return made_or_oom(out);
}

/* grpc: the service and method from the entry's path
 * "/<service>/<method>" (a bidirectional call's open and close events end
 * in "/@open", "/@close"); status 0 (OK) and an empty message. */
static int make_grpc(admin_call_t *c, const json_t *entry, made_t *out)
{
    const char *p = entry_str(entry, "path");
    const char *svc_end = p[0] == '/' ? strchr(p + 1, '/') : NULL;
    if (svc_end == NULL || svc_end == p + 1 || svc_end[1] == '\0')
        return unusable(c, "grpc", "its path is not /<service>/<method>");
    const char *meth = svc_end + 1;
    const char *meth_end = strchr(meth, '/');
    const char *event = NULL;
    if (meth_end != NULL) {
        if (strcmp(meth_end, "/@open") == 0)
            event = "open";
        else if (strcmp(meth_end, "/@close") == 0)
            event = "close";
        else
            return unusable(c, "grpc", "its path is not /<service>/<method>");
    } else
        meth_end = meth + strlen(meth);
    out->section = json_pack("{s:s%,s:s%}", "service", p + 1,
                             (size_t)(svc_end - p - 1), "method", meth,
                             (size_t)(meth_end - meth));
    if (out->section != NULL && event != NULL &&
        json_object_set_new(out->section, "streamEvent", json_string(event)) <
            0) {
        json_decref(out->section);
        out->section = NULL;
    }
    out->fallback = json_pack("{s:i,s:{}}", "statusCode", 0, "payload");
    return made_or_oom(out);
}

static const struct {
    const char *protocol;
    maker_fn make;
} makers[] = {
    {"http", make_http},
    {"graphql", make_graphql},
    {"soap", make_soap},
    {"grpc", make_grpc},
};

/* The mock that answers what the entry asked, in its namespace, with the
 * body's response or the protocol's default: 0 and *out, or a negative
 * errno (the call answered, except on ENOMEM). */
static int mock_for_entry(admin_call_t *c, const json_t *entry, json_t **out)
{
    *out = NULL;
    const char *proto = entry_str(entry, "protocol");
    maker_fn make = NULL;
    for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++)
        if (strcmp(makers[i].protocol, proto) == 0)
            make = makers[i].make;
    if (make == NULL) {
        admin_reply_error(c, 400, "validation", "id",
                          "unmatched request %.64s is a %.32s request; a mock "
                          "is made in one call from http, graphql, soap and "
                          "grpc requests only",
                          c->seg[1], proto[0] ? proto : "?");
        return -EINVAL;
    }
    made_t made = {NULL, NULL};
    int rc = make(c, entry, &made);
    if (rc < 0)
        return rc;
    json_t *resp = json_object_get(c->body, "response");
    json_t *m = json_pack("{s:O,s:o,s:o}", "namespace",
                          json_object_get(entry, "namespace"), proto,
                          made.section, "response",
                          resp ? json_deep_copy(resp) : json_incref(made.fallback));
    json_decref(made.fallback);
    json_t *tags = json_object_get(c->body, "tags");
    if (m != NULL && tags != NULL && json_object_set(m, "tags", tags) < 0) {
        json_decref(m);
        m = NULL;
    }
    if (m == NULL)
        return -ENOMEM;
    *out = m;
    return 0;
}

void compat_undefined_create_mock(admin_call_t *c)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "response") != 0 && strcmp(k, "tags") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected response, tags)", k);
            return;
        }
    }
    v = json_object_get(c->body, "response");
    if (v != NULL && !json_is_object(v)) {
        admin_reply_error(c, 400, "validation", "response",
                          "response: expected an object {statusCode, "
                          "payload, headers}");
        return;
    }
    json_t *entry = NULL;
    if (dp_engine_unmatched_get(c->engine, c->seg[1], &entry) < 0) {
        no_such_entry(c, c->seg[1]);
        return;
    }
    json_t *mock = NULL;
    int made = mock_for_entry(c, entry, &mock);
    json_decref(entry);
    if (made == -ENOMEM)
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
    if (made < 0)
        return;
    json_t *stored = NULL;
    int overwritten = 0;
    dp_err_t err = {0};
    int rc =
        dp_engine_mock_put(c->engine, mock, NULL, &stored, &overwritten, &err);
    json_decref(mock);
    if (rc < 0) {
        json_decref(stored);
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "mock", stored ? stored : json_null());
    json_object_set_new(o, "overwritten", json_false());
    json_object_set_new(o, "unmatchedId", json_string(c->seg[1]));
    admin_reply_json(c, 201, o);
}

/* ---- Stores written by POST {key, value[, namespace]} ---------------- */

void compat_store_post(admin_call_t *c)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "key") != 0 && strcmp(k, "value") != 0 &&
            strcmp(k, "namespace") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected key, value, "
                              "namespace)",
                              k);
            return;
        }
    }
    json_t *key = json_object_get(c->body, "key");
    if (!json_is_string(key) || json_string_length(key) == 0 ||
        strlen(json_string_value(key)) != json_string_length(key)) {
        admin_reply_error(c, 400, "validation", "key",
                          "key: expected a non-empty string");
        return;
    }
    json_t *value = json_object_get(c->body, "value");
    if (value == NULL) {
        admin_reply_error(c, 400, "validation", "value",
                          "value is required (any JSON value)");
        return;
    }
    int chain = strcmp(c->seg[1], "chain") == 0;
    const char *ns = c->ns[0] ? c->ns : DEFAULT_NS;
    dp_err_t err = {0};
    int rc = dp_engine_store_set(
        c->engine, ns, chain ? DP_SCOPE_CHAIN : DP_SCOPE_GLOBAL,
        chain ? c->seg[2] : NULL, json_string_value(key), value, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    json_t *o =
        json_pack("{s:s,s:O,s:O}", "namespace", ns, "key", key, "value", value);
    if (o != NULL && chain)
        json_object_set_new(o, "chainId", json_string(c->seg[2]));
    admin_reply_json(c, 200, o);
}

/* ---- Counts and stats ------------------------------------------------ */

typedef struct counts_acc {
    admin_call_t *c;
    json_t *by_ns; /* ns -> {live, closed, byProtocol: {p: {live, closed}}} */
    json_t *by_proto; /* p -> {live, closed} */
    json_int_t live, closed;
    int stats; /* stats.get: sums the uses instead */
} counts_acc_t;

/* Adds one to live or closed of o (creating o's counters). */
static void bump(json_t *parent, const char *key, int live)
{
    json_t *o = json_object_get(parent, key);
    if (o == NULL) {
        o = json_pack("{s:I,s:I}", "live", (json_int_t)0, "closed",
                      (json_int_t)0);
        if (o == NULL || json_object_set_new(parent, key, o) < 0)
            return;
    }
    json_t *n = json_object_get(o, live ? "live" : "closed");
    json_integer_set(n, json_integer_value(n) + 1);
}

/* Whether the caller may see ns; memoised in the accumulator's map. */
static int visible(counts_acc_t *a, const char *ns)
{
    admin_call_t *c = a->c;
    if (c->ns[0] != '\0')
        return strcmp(c->ns, ns) == 0;
    return may(c, a->stats ? "stats.get" : "counts.get", 0, ns);
}

static void count_one(void *ud, const char *id, const char *ns,
                      const char *protocol, int64_t uses, int live)
{
    (void)id;
    counts_acc_t *a = ud;
    json_t *n = json_object_get(a->by_ns, ns);
    if (n == NULL) {
        if (!visible(a, ns)) {
            /* null: seen and not the caller's; dropped before the answer */
            json_object_set_new(a->by_ns, ns, json_null());
            return;
        }
        n = a->stats ? json_pack("{s:I,s:I,s:I}", "requests", (json_int_t)0,
                                 "matched", (json_int_t)0, "unmatched",
                                 (json_int_t)0)
                     : json_pack("{s:I,s:I,s:{}}", "live", (json_int_t)0,
                                 "closed", (json_int_t)0, "byProtocol");
        if (n == NULL || json_object_set_new(a->by_ns, ns, n) < 0)
            return;
    } else if (json_is_null(n)) {
        return;
    }
    if (a->stats) {
        json_t *m = json_object_get(n, "matched");
        json_integer_set(m, json_integer_value(m) + uses);
        return;
    }
    json_t *l = json_object_get(n, live ? "live" : "closed");
    json_integer_set(l, json_integer_value(l) + 1);
    bump(json_object_get(n, "byProtocol"), protocol, live);
    bump(a->by_proto, protocol, live);
    if (live)
        a->live++;
    else
        a->closed++;
}

/* Drops the namespaces count_one marked as not the caller's. */
static void drop_hidden(json_t *by_ns)
{
    const char *ns;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(by_ns, tmp, ns, v)
    {
        if (json_is_null(v))
            json_object_del(by_ns, ns);
    }
}

void compat_counts(admin_call_t *c)
{
    counts_acc_t a = {
        .c = c, .by_ns = json_object(), .by_proto = json_object()};
    if (a.by_ns == NULL || a.by_proto == NULL) {
        json_decref(a.by_ns);
        json_decref(a.by_proto);
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    dp_engine_mock_usage(c->engine, count_one, &a);
    drop_hidden(a.by_ns);
    admin_reply_json(c, 200,
                     json_pack("{s:I,s:I,s:I,s:o,s:o}", "total",
                               a.live + a.closed, "live", a.live, "closed",
                               a.closed, "byProtocol", a.by_proto,
                               "byNamespace", a.by_ns));
}

void compat_stats(admin_call_t *c)
{
    counts_acc_t a = {.c = c, .by_ns = json_object(), .stats = 1};
    json_t *unm = NULL;
    if (a.by_ns == NULL || dp_engine_unmatched_counts(c->engine, &unm) < 0) {
        json_decref(a.by_ns);
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    dp_engine_mock_usage(c->engine, count_one, &a);
    const char *ns;
    json_t *v;
    json_object_foreach(unm, ns, v)
    {
        json_t *n = json_object_get(a.by_ns, ns);
        if (json_is_null(n))
            continue;
        if (n == NULL) {
            if (!visible(&a, ns))
                continue;
            n = json_pack("{s:I,s:I,s:I}", "requests", (json_int_t)0, "matched",
                          (json_int_t)0, "unmatched", (json_int_t)0);
            if (n == NULL || json_object_set_new(a.by_ns, ns, n) < 0)
                continue;
        }
        json_integer_set(json_object_get(n, "unmatched"),
                         json_integer_value(v));
    }
    json_decref(unm);
    drop_hidden(a.by_ns);
    json_int_t matched = 0, unmatched = 0;
    json_object_foreach(a.by_ns, ns, v)
    {
        json_int_t m = json_integer_value(json_object_get(v, "matched"));
        json_int_t u = json_integer_value(json_object_get(v, "unmatched"));
        json_integer_set(json_object_get(v, "requests"), m + u);
        matched += m;
        unmatched += u;
    }
    admin_reply_json(c, 200,
                     json_pack("{s:I,s:I,s:I,s:o}", "requests",
                               matched + unmatched, "matched", matched,
                               "unmatched", unmatched, "namespaces", a.by_ns));
}
