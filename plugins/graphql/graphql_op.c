/*
 * One GraphQL operation, whatever carried it: parse (bounded) -> validate
 * against the schema of (namespace, path) when one is loaded -> choose
 * the operation -> execute, asking the engine for every top-level field.
 *
 * Each top-level field is one exchange: protocol "graphql", operation
 * "<query|mutation|subscription>.<field>", target the request's path,
 * metadata the HTTP headers, body the field's coerced arguments merged
 * over the operation's coerced variables (arguments win), plus the
 * variables themselves under "variables" when no argument or variable
 * has that name. So one mock answers one field, conditions address
 * arguments and variables by name, and the journal and the unmatched
 * list hold one entry per field, with the engine's near misses.
 *
 * A record-and-replay service answers a field PROXY (PASSTHROUGH, LEARN,
 * SPY without a mock): the field is left unanswered here and kept in the
 * result with what recording it needs, for the transport to forward the
 * whole request (graphql_http.c). A WebSocket subscription cannot be
 * forwarded: its PROXY is journalled 501 and the field is unanswered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graphql_plugin.h"

typedef struct run {
    gqlp_inst_t *in;
    const gqlp_origin_t *o;
    gqlp_result_t *out;
    json_t *misses; /* response key -> the engine's near-miss summary */
} run_t;

void gqlp_proxied_clear(gqlp_inst_t *in, gqlp_proxied_t *p)
{
    if (p->reply != NULL)
        in->svc->engine_reply_free(in->ctx, p->reply);
    free(p->operation);
    free(p->field);
    free(p->key);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

void gqlp_result_clear(gqlp_result_t *r)
{
    for (size_t i = 0; i < r->n_proxied; i++)
        gqlp_proxied_clear(r->in, &r->proxied[i]);
    free(r->proxied);
    json_decref(r->body);
    json_decref(r->headers);
    json_decref(r->sub_extra);
    memset(r, 0, sizeof(*r));
}

static json_t *error_at(const char *msg, gql_loc_t loc)
{
    json_t *e = json_pack("{s:s}", "message", msg);
    if (e != NULL && loc.line > 0)
        json_object_set_new(e, "locations",
                            json_pack("[{s:i, s:i}]", "line", (int)loc.line,
                                      "column", (int)loc.column));
    return e;
}

/* {"errors": [one]}: a request error (no "data"). */
static int request_error(gqlp_result_t *out, json_t *e)
{
    out->request_error = 1;
    out->body = e ? json_pack("{s:[o]}", "errors", e) : NULL;
    return out->body ? 0 : -ENOMEM;
}

/* ---- the resolver: one engine match per top-level field ------------------ */

static json_t *reply_json(const uint8_t *p, size_t len)
{
    return p && len ? json_loadb((const char *)p, len, 0, NULL) : NULL;
}

static json_t *field_body(const gql_field_call_t *call)
{
    json_t *b = json_is_object(call->variables)
                    ? json_deep_copy(call->variables)
                    : json_object();
    if (b == NULL)
        return NULL;
    if (json_is_object(call->args))
        json_object_update(b, (json_t *)call->args);
    if (json_object_get(b, "variables") == NULL)
        json_object_set_new(b, "variables",
                            json_is_object(call->variables)
                                ? json_deep_copy(call->variables)
                                : json_object());
    return b;
}

/* The first mock that names a header wins; the plugin sets Content-Type
 * and the front Content-Length. */
static void merge_headers(json_t *into, const doppel_reply_t *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        char name[128];
        doppel_str_t n = r->headers[i].name;
        if (n.len == 0 || n.len >= sizeof(name))
            continue;
        memcpy(name, n.ptr, n.len);
        name[n.len] = '\0';
        if (strcasecmp(name, "content-type") == 0 ||
            strcasecmp(name, "content-length") == 0 ||
            strcasecmp(name, "transfer-encoding") == 0)
            continue;
        const char *k;
        json_t *v;
        int seen = 0;
        json_object_foreach(into, k, v) seen |= strcasecmp(k, name) == 0;
        if (!seen)
            json_object_set_new(
                into, name,
                json_stringn(r->headers[i].value.ptr, r->headers[i].value.len));
    }
}

/* The mock's graphqlErrors, each with the field's location when it gave
 * none, and a path that starts at the field's response key. */
static json_t *mock_errors(const doppel_reply_t *r,
                           const gql_field_call_t *call)
{
    if (r->size < offsetof(doppel_reply_t, extra) + sizeof(r->extra))
        return NULL;
    json_t *ex = reply_json((const uint8_t *)r->extra.ptr, r->extra.len);
    json_t *ge = json_object_get(ex, "graphqlErrors");
    json_t *out = NULL;
    if (json_is_array(ge) && json_array_size(ge) > 0) {
        out = json_deep_copy(ge);
        size_t i;
        json_t *e;
        json_array_foreach(out, i, e)
        {
            if (!json_is_object(e))
                continue;
            if (!json_is_string(json_object_get(e, "message")))
                json_object_set_new(e, "message",
                                    json_string("Error from the mock"));
            if (json_object_get(e, "locations") == NULL && call->loc.line)
                json_object_set_new(e, "locations",
                                    json_pack("[{s:i, s:i}]", "line",
                                              (int)call->loc.line, "column",
                                              (int)call->loc.column));
            json_t *path = json_object_get(e, "path");
            if (path == NULL)
                json_object_set_new(e, "path",
                                    json_pack("[s]", call->response_key));
            else if (json_is_array(path) &&
                     json_is_string(json_array_get(path, 0)) &&
                     strcmp(json_string_value(json_array_get(path, 0)),
                            call->field) == 0)
                /* a path written (or recorded) from the field's name
                 * starts at its response key when the query aliases it */
                json_array_set_new(path, 0, json_string(call->response_key));
        }
    }
    json_decref(ex);
    return out;
}

/* What the error of an unanswered field carries in extensions.doppel:
 * the engine's reason and near misses. */
static json_t *miss_summary(const doppel_reply_t *r, const char *op)
{
    json_t *rep = reply_json(r->body, r->body_len);
    json_t *s = json_pack("{s:s}", "operation", op);
    if (s == NULL) {
        json_decref(rep);
        return NULL;
    }
    json_t *why = json_object_get(rep, "reason");
    if (json_is_string(why))
        json_object_set(s, "reason", why);
    json_t *near = json_object_get(rep, "nearMisses");
    json_object_set(s, "nearMisses", json_is_array(near) ? near : json_array());
    json_decref(rep);
    return s;
}

static char *dup_str(const char *s)
{
    size_t l = strlen(s);
    char *d = malloc(l + 1);
    if (d != NULL)
        memcpy(d, s, l + 1);
    return d;
}

/* Keeps a PROXY reply r for the field in the result (taking r and txt
 * over, whatever happens). Returns 0 or -ENOMEM (r freed). */
static int keep_proxied(run_t *run, const gql_field_call_t *call,
                        const char *op, doppel_reply_t *r, char *txt)
{
    gqlp_result_t *out = run->out;
    gqlp_inst_t *in = run->in;
    gqlp_proxied_t *grown =
        realloc(out->proxied, (out->n_proxied + 1) * sizeof(*grown));
    if (grown == NULL) {
        in->svc->engine_reply_free(in->ctx, r);
        free(txt);
        return -ENOMEM;
    }
    out->proxied = grown;
    gqlp_proxied_t *p = &grown[out->n_proxied];
    *p = (gqlp_proxied_t){
        .reply = r,
        .operation = dup_str(op),
        .field = dup_str(call->field),
        .key = dup_str(call->response_key),
        .body = txt,
    };
    if (p->operation == NULL || p->field == NULL || p->key == NULL) {
        gqlp_proxied_clear(in, p);
        return -ENOMEM;
    }
    out->n_proxied++;
    return 0;
}

static int resolve(void *ud, const gql_field_call_t *call, json_t **value,
                   json_t **errors)
{
    run_t *run = ud;
    gqlp_inst_t *in = run->in;
    const doppel_services_t *svc = in->svc;
    const gqlp_origin_t *o = run->o;
    const char *opn = gqlp_op_name(call->op);
    if (o->event_data != NULL) {
        /* a subscription event: its value is given, no mock is asked */
        json_t *v = json_object_get(o->event_data, call->field);
        if (v == NULL)
            v = json_object_get(o->event_data, call->response_key);
        *value = v ? json_incref(v) : json_null();
        return GQL_RESOLVED;
    }
    if (call->op == GQL_OP_SUBSCRIPTION && run->out->sub_field[0] == '\0')
        snprintf(run->out->sub_field, sizeof(run->out->sub_field), "%s",
                 call->field);
    char op[200];
    snprintf(op, sizeof(op), "%s.%s", opn, call->field);
    json_t *body = field_body(call);
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (txt == NULL)
        return -ENOMEM;
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("graphql"),
        .ns = o->ns,
        .operation = {op, strlen(op)},
        .target = o->path,
        .metadata = o->metadata,
        .n_metadata = o->n_metadata,
        .body = (const uint8_t *)txt,
        .body_len = strlen(txt),
        .content_type = DOPPEL_STR("application/json"),
        .request_id = o->request_id,
        .remote_addr = o->remote_addr,
        .connection = o->connection,
    };
    doppel_reply_t *r = NULL;
    int rc = svc->engine_match(in->ctx, &x, &r);
    if (rc == 0 && r != NULL && r->kind == DOPPEL_REPLY_PROXY &&
        o->transport != GQLP_T_WS) {
        /* forwarded with the whole request once the document ran; counted
         * then */
        rc = keep_proxied(run, call, op, r, txt);
        return rc < 0 ? rc : GQL_NO_ANSWER;
    }
    free(txt);
    if (rc < 0 || r == NULL) {
        svc->log(in->ctx, DOPPEL_LOG_ERROR, "engine_match failed: %d", rc);
        gqlp_count(in, opn, call->field, "error");
        return rc < 0 ? rc : -EIO;
    }
    if (r->kind == DOPPEL_REPLY_RESPONSE) {
        json_t *pl = reply_json(r->body, r->body_len);
        json_t *data = json_object_get(pl, "data");
        json_t *v = json_object_get(data, call->field);
        if (v == NULL)
            v = json_object_get(data, call->response_key);
        *value = v ? json_incref(v) : json_null();
        json_decref(pl);
        *errors = mock_errors(r, call);
        if (r->status != 200 && run->out->status == 0)
            run->out->status = r->status;
        if (r->delay_ms > run->out->delay_ms)
            run->out->delay_ms = r->delay_ms;
        merge_headers(run->out->headers, r);
        if (call->op == GQL_OP_SUBSCRIPTION && !run->out->sub_matched) {
            run->out->sub_matched = 1;
            if (r->size >= offsetof(doppel_reply_t, extra) + sizeof(r->extra))
                run->out->sub_extra =
                    reply_json((const uint8_t *)r->extra.ptr, r->extra.len);
        }
        gqlp_count(in, opn, call->field, "matched");
        svc->engine_reply_free(in->ctx, r);
        return GQL_RESOLVED;
    }
    if (r->kind == DOPPEL_REPLY_NO_MATCH) {
        json_t *s = miss_summary(r, op);
        if (s)
            json_object_set_new(run->misses, call->response_key, s);
    } else if (r->kind == DOPPEL_REPLY_PROXY &&
               DOPPEL_HAS_SERVICE(svc, engine_forwarded)) {
        /* a subscription over WebSocket cannot be forwarded: journalled
         * as not forwarded */
        (void)svc->engine_forwarded(in->ctx, r, 501, "unsupported", 0);
    }
    gqlp_count(in, opn, call->field, "unmatched");
    svc->engine_reply_free(in->ctx, r);
    return GQL_NO_ANSWER;
}

/* The error of a field no mock answered gets the engine's near misses. */
static void annotate_misses(json_t *body, json_t *misses)
{
    json_t *errs = json_object_get(body, "errors");
    if (!json_is_array(errs) || json_object_size(misses) == 0)
        return;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        json_t *path = json_object_get(e, "path");
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (!json_is_array(path) || json_array_size(path) != 1 || msg == NULL ||
            strstr(msg, "No mock") == NULL)
            continue;
        json_t *s = json_object_get(
            misses, json_string_value(json_array_get(path, 0))
                        ? json_string_value(json_array_get(path, 0))
                        : "");
        if (s == NULL)
            continue;
        json_t *ext = json_object_get(e, "extensions");
        if (!json_is_object(ext)) {
            ext = json_object();
            json_object_set_new(e, "extensions", ext);
        }
        if (ext && json_object_get(ext, "doppel") == NULL)
            json_object_set(ext, "doppel", s);
    }
}

/* ---- introspection turned off -------------------------------------------- */

static const gql_selection_t *find_meta(const gql_selection_set_t *set)
{
    for (size_t i = 0; set && i < set->n; i++) {
        const gql_selection_t *s = set->items[i];
        if (s->kind == GQL_SEL_FIELD && s->name &&
            (strcmp(s->name, "__schema") == 0 ||
             strcmp(s->name, "__type") == 0))
            return s;
        const gql_selection_t *in = find_meta(s->set);
        if (in)
            return in;
    }
    return NULL;
}

/* Like Apollo Server's rule: any __schema or __type field, anywhere. */
static const gql_selection_t *introspection_field(const gql_doc_t *doc)
{
    size_t n = 0;
    const gql_definition_t *defs = gql_doc_defs(doc, &n);
    for (size_t i = 0; i < n; i++) {
        if (defs[i].kind != GQL_DEF_OPERATION &&
            defs[i].kind != GQL_DEF_FRAGMENT)
            continue;
        const gql_selection_t *s = find_meta(defs[i].set);
        if (s)
            return s;
    }
    return NULL;
}

/* ---- the operation ------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int run_doc(gqlp_inst_t *in, const gqlp_request_t *rq,
                   const gqlp_origin_t *o, gqlp_result_t *out, gql_doc_t *doc,
                   gqlp_schema_t *sch)
{
    if (sch != NULL) {
        json_t *errs = json_array();
        if (errs == NULL)
            return -ENOMEM;
        if (gql_validate(sch->s, doc, errs, 0) > 0) {
            out->request_error = 1;
            out->body = json_pack("{s:o}", "errors", errs);
            return out->body ? 0 : -ENOMEM;
        }
        json_decref(errs);
    }
    if (!in->introspection) {
        const gql_selection_t *s = introspection_field(doc);
        if (s != NULL) {
            json_t *e = error_at(
                "GraphQL introspection is not allowed by this server, but the "
                "query contained __schema or __type. To enable it, set "
                "introspection = true in the [graphql] section of "
                "plugins.conf.",
                s->loc);
            if (e)
                json_object_set_new(
                    e, "extensions",
                    json_pack("{s:s}", "code", "GRAPHQL_VALIDATION_FAILED"));
            return request_error(out, e);
        }
    }
    gql_error_t ge;
    memset(&ge, 0, sizeof(ge));
    const gql_definition_t *op =
        gql_doc_operation(doc, rq->operation_name, &ge);
    if (op == NULL) {
        ge.message[sizeof(ge.message) - 1] = '\0';
        return request_error(out, error_at(ge.message, ge.loc));
    }
    if (op->kind == GQL_DEF_OPERATION && op->op == GQL_OP_SUBSCRIPTION &&
        o->transport != GQLP_T_WS)
        return request_error(
            out, error_at("Subscriptions are served over graphql-transport-ws "
                          "(WebSocket).",
                          op->loc));
    if (op->op != GQL_OP_QUERY && o->transport == GQLP_T_HTTP_GET) {
        int rc = request_error(
            out, error_at("Can only perform a mutation operation from a POST "
                          "request.",
                          op->loc));
        out->not_allowed = 1;
        return rc;
    }
    out->subscription = op->op == GQL_OP_SUBSCRIPTION;
    run_t run = {in, o, out, json_object()};
    if (run.misses == NULL)
        return -ENOMEM;
    gql_exec_opts_t opts = {
        .fake_missing = in->fake_missing,
        .seed = fnv1a(rq->query, rq->query_len),
        .max_depth = in->limits.max_depth,
        .max_values = in->max_values,
    };
    int req_err = 0;
    out->body = gql_execute(sch ? sch->s : NULL, doc, op, rq->variables, &opts,
                            resolve, &run, &req_err);
    out->request_error = req_err;
    if (out->body != NULL)
        annotate_misses(out->body, run.misses);
    json_decref(run.misses);
    return out->body ? 0 : -ENOMEM;
}

int gqlp_run(gqlp_inst_t *in, const gqlp_request_t *rq, const gqlp_origin_t *o,
             gqlp_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->in = in;
    out->headers = json_object();
    if (out->headers == NULL)
        return -ENOMEM;
    gql_error_t ge;
    memset(&ge, 0, sizeof(ge));
    gql_doc_t *doc = gql_parse(rq->query, rq->query_len, &in->limits, &ge);
    if (doc == NULL) {
        ge.message[sizeof(ge.message) - 1] = '\0';
        gqlp_count(in, "unknown", "", "rejected");
        return request_error(
            out, error_at(ge.message[0] ? ge.message : "Syntax Error", ge.loc));
    }
    gqlp_schema_t *sch = gqlp_schema_ref(in->sh, o->ns, o->path);
    int rc = run_doc(in, rq, o, out, doc, sch);
    if (rc == 0 && out->request_error)
        gqlp_count(in, "unknown", "", "rejected");
    gqlp_schema_unref(sch);
    gql_doc_free(doc);
    return rc;
}
