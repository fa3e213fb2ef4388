/*
 * The handler of a protocol section a plugin registered (ABI 1.2,
 * doppel_protocol_def_t in doppel/protocol.h).
 *
 * What is common to every protocol stays here: the engine asks the plugin's
 * check, once per answer of the mock, whether the section is valid and how
 * the mock is indexed (operation, target route, server), stores the
 * normalised section the check may return instead of the one written, and
 * compiles the condition arrays the definition names (body_conditions on
 * the message, meta_conditions on the metadata) with the engine's own
 * condition compiler, so every path spelling, assertAction and the
 * near-miss report work as on http. The response members the definition
 * lists (response_fields) are compiled by mock_model.c as templates and
 * rendered into reply->extra.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel/http.h"
#include "doppel/protocol.h"
#include "engine_internal.h"

/* a def member is there when the def's size covers it */
#define DEF_HAS(d, member)                                                     \
    ((d)->size >= offsetof(doppel_protocol_def_t, member) +                    \
                      sizeof((d)->member))

static int oom(dp_err_t *err, const char *field)
{
    dp_err_set(err, 500, "internal", field, "out of memory");
    return -ENOMEM;
}

static char *dupn(doppel_str_t s)
{
    char *o = malloc(s.len + 1);
    if (o) {
        if (s.len)
            memcpy(o, s.ptr, s.len);
        o[s.len] = '\0';
    }
    return o;
}

/* Copies check's strings out of the key: op (upper-cased unless the
 * protocol compares it as sent), target route, server. */
static int key_text(doppel_str_t s)
{
    return s.ptr != NULL && memchr(s.ptr, 0, s.len) == NULL;
}

static int take_key(const dp_proto_t *self, const doppel_mock_key_t *k,
                    dp_mock_t *m, dp_err_t *err)
{
    const char *f = self->name;
    char why[160];
    if ((k->operation.len && !key_text(k->operation)) ||
        (k->target.len && !key_text(k->target)) ||
        (k->server.len && !key_text(k->server))) {
        dp_err_set(err, 500, "internal", f,
                   "the %s plugin's check returned a key that is not text",
                   self->name);
        return -EPROTO;
    }
    if (k->operation.len) {
        if ((m->op = dupn(k->operation)) == NULL)
            return oom(err, f);
        if (!(self->flags & DP_PROTO_F_EXACT_OP))
            for (char *p = m->op; *p; p++)
                *p = (char)toupper((unsigned char)*p);
    }
    if (k->target.len) {
        if ((m->route_src = dupn(k->target)) == NULL)
            return oom(err, f);
        int rc = dp_route_parse(m->route_src, &m->route, why, sizeof(why));
        if (rc == -EINVAL) {
            dp_err_invalid(err, f, "target route %s: %s", m->route_src, why);
            return rc;
        }
        if (rc < 0)
            return oom(err, f);
    } else {
        /* no target: any target, as a routePattern that takes every path */
        m->re = calloc(1, sizeof(regex_t));
        m->route_src = strdup("");
        if (m->re == NULL || m->route_src == NULL ||
            regcomp(m->re, "^", REG_EXTENDED | REG_NOSUB) != 0) {
            free(m->re);
            m->re = NULL;
            return oom(err, f);
        }
    }
    if (k->server.len && (m->server = dupn(k->server)) == NULL)
        return oom(err, f);
    return 0;
}

/* The normalised section check returned, in place of the one written. */
static int take_section(const dp_proto_t *self, const doppel_mock_key_t *k,
                        json_t *o, dp_err_t *err)
{
    if (k->section.len == 0)
        return 0;
    json_t *v = k->section.ptr ? json_loadb(k->section.ptr, k->section.len,
                                            0, NULL)
                               : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        dp_err_set(err, 500, "internal", self->name,
                   "the %s plugin's check returned a section that is not a "
                   "JSON object",
                   self->name);
        return -EPROTO;
    }
    if (json_object_set_new(o, self->name, v) < 0)
        return oom(err, self->name);
    return 0;
}

/* The answers check sees: response, every oneOf response, or "{}" for a
 * proxy (and a mock without any, which the model refuses later). */
static size_t answers(const json_t *o, const json_t **out, size_t cap)
{
    const json_t *resp = json_object_get(o, "response");
    const json_t *one = json_object_get(o, "oneOf");
    const json_t *rs = json_is_object(one) ? json_object_get(one, "responses")
                                           : NULL;
    if (resp && !one) {
        out[0] = resp;
        return 1;
    }
    if (json_is_array(rs) && json_array_size(rs) > 0) {
        size_t n = json_array_size(rs);
        for (size_t i = 0; i < n && i < cap; i++)
            out[i] = json_array_get(rs, i);
        return n;
    }
    out[0] = NULL;
    return 1;
}

#define MAX_ANSWERS 1024

static int plugin_prepare(const dp_proto_t *self, json_t *o, dp_mock_t *m,
                          dp_err_t *err)
{
    const doppel_protocol_def_t *def = self->def;
    const json_t *sec = json_object_get(o, self->name);
    if (!json_is_object(sec)) {
        dp_err_invalid(err, self->name, "expected an object");
        return -EINVAL;
    }
    const json_t *nsv = json_object_get(o, "namespace");
    const char *ns = json_is_string(nsv) ? json_string_value(nsv) : "sandbox";
    char *sec_txt = json_dumps(sec, JSON_COMPACT);
    const json_t *ans[MAX_ANSWERS];
    size_t na = answers(o, ans, MAX_ANSWERS);
    if (na > MAX_ANSWERS) {
        free(sec_txt);
        dp_err_invalid(err, "oneOf.responses", "at most %d responses",
                       MAX_ANSWERS);
        return -EINVAL;
    }
    doppel_mock_key_t *key = malloc(sizeof(*key));
    doppel_check_error_t *ce = malloc(sizeof(*ce));
    int rc = 0;
    if (sec_txt == NULL || key == NULL || ce == NULL) {
        rc = oom(err, self->name);
        goto out;
    }
    for (size_t i = 0; i < na && rc == 0; i++) {
        char *resp_txt = ans[i] ? json_dumps(ans[i], JSON_COMPACT | JSON_ENCODE_ANY)
                                : strdup("{}");
        if (resp_txt == NULL) {
            rc = oom(err, self->name);
            break;
        }
        doppel_mock_view_t view = {
            .size = sizeof(view),
            .ns = {ns, strlen(ns)},
            .section = {sec_txt, strlen(sec_txt)},
            .response = {resp_txt, strlen(resp_txt)},
            .answer = (uint32_t)i,
        };
        memset(key, 0, sizeof(*key));
        key->size = sizeof(*key);
        memset(ce, 0, sizeof(*ce));
        ce->size = sizeof(*ce);
        int crc = def->check(self->ctx, self->svc, &view, key, ce);
        free(resp_txt);
        ce->field[sizeof(ce->field) - 1] = '\0';
        ce->message[sizeof(ce->message) - 1] = '\0';
        if (crc == -EINVAL) {
            dp_err_invalid(err, ce->field[0] ? ce->field : self->name, "%s",
                           ce->message[0] ? ce->message
                                          : "refused by the protocol plugin");
            rc = -EINVAL;
        } else if (crc < 0) {
            dp_err_set(err, 500, "internal", self->name,
                       "the %s plugin could not check the mock: %s",
                       self->name, strerror(-crc));
            rc = crc;
        } else if (i == 0) {
            /* the first answer's key indexes the mock; its normalised
             * section is the one stored */
            rc = take_key(self, key, m, err);
            if (rc == 0)
                rc = take_section(self, key, o, err);
        }
        free(key->owned_section);
        key->owned_section = NULL;
    }
out:
    free(sec_txt);
    free(key);
    free(ce);
    return rc;
}

static int cond_lists(const char *const *keys, const json_t *sec,
                      dp_cond_target_t where, const char *field, dp_mock_t *m,
                      dp_err_t *err)
{
    char f[256];
    for (size_t i = 0; keys && keys[i]; i++) {
        snprintf(f, sizeof(f), "%s.%s", field, keys[i]);
        const json_t *v = json_object_get(sec, keys[i]);
        int rc = where == DP_COND_HEADER
                     ? dp_proto_conds_obj(v, where, f, m, err)
                     : dp_proto_conds(v, where, f, m, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int plugin_compile(const dp_proto_t *self, const json_t *sec,
                          const char *field, dp_mock_t *m, dp_err_t *err)
{
    if (!json_is_object(sec)) {
        dp_err_invalid(err, field, "expected an object");
        return -EINVAL;
    }
    int rc = cond_lists(self->def->body_conditions, sec, DP_COND_BODY, field,
                        m, err);
    if (rc == 0)
        rc = cond_lists(self->def->meta_conditions, sec, DP_COND_HEADER,
                        field, m, err);
    return rc;
}

/* The plugin's sentence on a miss, as the report's "reason". */
static void plugin_miss(const dp_proto_t *self, const dp_proto_ix_t *pi,
                        const doppel_exchange_t *x, const dp_path_t *path,
                        int64_t now, json_t *report)
{
    (void)pi, (void)path, (void)now;
    const doppel_protocol_def_t *def = self->def;
    json_t *req = json_object_get(report, "request");
    if (json_is_object(req))
        json_object_set_new(req, "protocol", json_string(self->name));
    if (!DEF_HAS(def, explain_miss) || def->explain_miss == NULL)
        return;
    char out[512];
    out[0] = '\0';
    if (def->explain_miss(self->ctx, self->svc, x, out, sizeof(out)) == 1) {
        out[sizeof(out) - 1] = '\0';
        json_t *s = json_string(out);
        if (s)
            json_object_set_new(report, "reason", s);
    }
}

dp_proto_t *dp_proto_plugin_new(const doppel_protocol_def_t *def,
                                struct doppel_ctx *ctx,
                                const struct doppel_services *svc,
                                const char *owner)
{
    dp_proto_t *p = calloc(1, sizeof(*p));
    char *own = strdup(owner ? owner : "a plugin");
    if (p == NULL || own == NULL) {
        free(p);
        free(own);
        return NULL;
    }
    p->name = def->section;
    p->compile = plugin_compile;
    p->doc = dp_reqctx_doc;
    p->miss = plugin_miss;
    p->prepare = plugin_prepare;
    p->flags = (def->flags & DOPPEL_PROTO_F_EXACT_OP ? DP_PROTO_F_EXACT_OP : 0) |
               (def->flags & DOPPEL_PROTO_F_NO_PROXY ? DP_PROTO_F_NO_PROXY : 0) |
               (def->flags & DOPPEL_PROTO_F_HTTP_PATH ? DP_PROTO_F_HTTP_PATH : 0);
    p->status_min = def->status_min;
    p->status_max = def->status_max;
    p->status_default = def->status_default;
    p->def = def;
    p->ctx = ctx;
    p->svc = svc;
    p->owner = own;
    p->response_fields = def->response_fields;
    if (def->size >= offsetof(doppel_protocol_def_t, section_fields) +
                         sizeof(def->section_fields))
        p->section_fields = def->section_fields;
    return p;
}

void dp_proto_plugin_free(dp_proto_t *p)
{
    if (p == NULL)
        return;
    free((char *)p->owner);
    free(p);
}

/* The JSON object a plugin wrote (svc->alloc'd text, freed here). */
static json_t *plugin_object(const dp_proto_t *p, char *text, size_t len)
{
    json_t *o = NULL;
    if (text != NULL) {
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        free(text); /* svc->alloc is malloc */
    }
    if (o != NULL && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

int dp_proto_plugin_record(const dp_proto_t *p, const doppel_exchange_t *x,
                           const doppel_fetch_result_t *res, json_t **section,
                           json_t **response, dp_err_t *err)
{
    *section = *response = NULL;
    const doppel_protocol_def_t *def = p ? p->def : NULL;
    if (def == NULL || !(p->flags & DP_PROTO_F_HTTP_PATH) ||
        !DEF_HAS(def, record) || def->record == NULL)
        return -ENOTSUP;
    char *st = NULL, *rt = NULL;
    size_t sl = 0, rl = 0;
    int rc = def->record(p->ctx, p->svc, x, res, &st, &sl, &rt, &rl);
    json_t *sec = plugin_object(p, st, sl);
    json_t *resp = plugin_object(p, rt, rl);
    if (rc < 0 || sec == NULL || resp == NULL) {
        json_decref(sec);
        json_decref(resp);
        if (rc == -ENOMEM)
            return oom(err, p->name);
        dp_err_invalid(err, p->name,
                       rc < 0 ? "the %s plugin cannot record this exchange"
                              : "the %s plugin recorded no section and "
                                "response objects",
                       p->name);
        return rc < 0 ? rc : -EINVAL;
    }
    *section = sec;
    *response = resp;
    return 0;
}
