/*
 * The protocol registry: the handlers of the mocks' protocol sections.
 * http and mcp are built in (slots 0 and 1); a protocol plugin adds its
 * section (doppel_plugin_t.protocol, ABI 1.2) through dp_protos_add before
 * the engine opens, so there is no fixed maximum: the index sizes its
 * per-namespace arrays by the registry.
 *
 * Also the placeholders of dormant mocks: a stored mock whose section has
 * no handler in this process (the plugin is disabled) is kept, listed and
 * managed, never matched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel/protocol.h"
#include "engine_internal.h"

static const dp_proto_t *const builtin_v[] = {&dp_proto_http, &dp_proto_mcp};
static const dp_protos_t builtin = {(const dp_proto_t **)builtin_v, 2, 2};

const dp_protos_t *dp_protos_builtin(void) { return &builtin; }

dp_protos_t *dp_protos_new(void)
{
    dp_protos_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cap = 4;
    r->v = calloc(r->cap, sizeof(*r->v));
    if (r->v == NULL) {
        free(r);
        return NULL;
    }
    r->v[r->n++] = &dp_proto_http;
    r->v[r->n++] = &dp_proto_mcp;
    return r;
}

const dp_proto_t *dp_protos_find(const dp_protos_t *reg, const char *name,
                                 size_t len)
{
    if (reg == NULL)
        reg = &builtin;
    for (size_t i = 0; i < reg->n; i++)
        if (strlen(reg->v[i]->name) == len &&
            memcmp(reg->v[i]->name, name, len) == 0)
            return reg->v[i];
    return NULL;
}

static int section_name_ok(const char *s)
{
    if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 32 || !((s[n] >= 'a' && s[n] <= 'z') ||
                         (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return 0;
    return 1;
}

/* Top-level mock members a section may not be named after. */
static const char *const reserved_names[] = {
    "id",      "namespace", "priority", "ttl",     "tags",    "webhooks",
    "response", "proxy",    "extract",  "service", "session", NULL};

int dp_protos_add(dp_protos_t *r, const doppel_protocol_def_t *def,
                  struct doppel_ctx *ctx, const struct doppel_services *svc,
                  const char *owner, char *err, size_t errlen)
{
    if (owner == NULL)
        owner = "a plugin";
    if (r == NULL || def == NULL ||
        def->size < offsetof(doppel_protocol_def_t, check) + sizeof(void *)) {
        snprintf(err, errlen, "%s: protocol definition too small", owner);
        return -EINVAL;
    }
    if (!section_name_ok(def->section)) {
        snprintf(err, errlen,
                 "%s: protocol section name is not valid: expected "
                 "[a-z][a-z0-9_]*, at most 32 characters",
                 owner);
        return -EINVAL;
    }
    for (size_t i = 0; reserved_names[i]; i++)
        if (strcmp(reserved_names[i], def->section) == 0) {
            snprintf(err, errlen,
                     "%s: protocol section '%s' is a mock field's name",
                     owner, def->section);
            return -EINVAL;
        }
    if (def->check == NULL) {
        snprintf(err, errlen, "%s: protocol section '%s' has no check", owner,
                 def->section);
        return -EINVAL;
    }
    if (def->status_min > def->status_max ||
        def->status_default < def->status_min ||
        def->status_default > def->status_max) {
        snprintf(err, errlen,
                 "%s: protocol section '%s': status_default %d is not "
                 "within status_min %d .. status_max %d",
                 owner, def->section, def->status_default, def->status_min,
                 def->status_max);
        return -EINVAL;
    }
    const dp_proto_t *had =
        dp_protos_find(r, def->section, strlen(def->section));
    if (had) {
        const char *by = had->owner ? had->owner : "the engine (built in)";
        snprintf(err, errlen,
                 "%s: protocol section '%s' is already registered by %s "
                 "(enable one of them)",
                 owner, def->section, by);
        return -EEXIST;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap * 2;
        const dp_proto_t **nv = realloc(r->v, nc * sizeof(*nv));
        if (nv == NULL)
            goto oom;
        r->v = nv;
        r->cap = nc;
    }
    dp_proto_t *p = dp_proto_plugin_new(def, ctx, svc, owner);
    if (p == NULL)
        goto oom;
    p->slot = (unsigned)r->n;
    r->v[r->n++] = p;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

const doppel_protocol_def_t *dp_protos_def(const dp_protos_t *r,
                                           const char *section,
                                           struct doppel_ctx **ctx)
{
    const dp_proto_t *p =
        section ? dp_protos_find(r, section, strlen(section)) : NULL;
    if (ctx)
        *ctx = p ? p->ctx : NULL;
    return p ? p->def : NULL;
}

void dp_protos_free(dp_protos_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 2; i < r->n; i++)
        dp_proto_plugin_free((dp_proto_t *)r->v[i]);
    free(r->v);
    free(r);
}

void dp_proto_status_range(const dp_proto_t *p, int *lo, int *hi, int *def)
{
    if (p == NULL || p->def == NULL) {
        *lo = 100, *hi = 599, *def = 200;
        return;
    }
    *lo = p->status_min, *hi = p->status_max, *def = p->status_default;
}

/* ---- dormant mocks ------------------------------------------------------- */

static int dormant_compile(const dp_proto_t *self, const json_t *sec,
                           const char *field, dp_mock_t *m, dp_err_t *err)
{
    (void)self, (void)sec, (void)field, (void)m, (void)err;
    return 0;
}

static const json_t *dormant_doc(dp_reqctx_t *rc, dp_cond_target_t where)
{
    (void)rc, (void)where;
    return NULL;
}

#define DORMANT(n)                                                             \
    {.name = n,                                                                \
     .compile = dormant_compile,                                               \
     .doc = dormant_doc,                                                       \
     .flags = DP_PROTO_F_DORMANT}
static const dp_proto_t dormant[] = {
    DORMANT("http"),     DORMANT("grpc"), DORMANT("graphql"),
    DORMANT("soap"),     DORMANT("sse"),  DORMANT("socket"),
    DORMANT("kafka"),    DORMANT("rabbitmq"), DORMANT("mcp"),
};

const dp_proto_t *dp_proto_dormant(const char *name)
{
    for (size_t i = 0; i < sizeof(dormant) / sizeof(dormant[0]); i++)
        if (strcmp(dormant[i].name, name) == 0)
            return &dormant[i];
    return NULL;
}
