/*
 * The "mcp" protocol handler: mock MCP servers.
 *
 * A mock's mcp section names a method (tools/call, resources/read,
 * prompts/get), its target (tool name, resource URI, prompt name), the
 * server within the namespace (serverName, "" for the default server), the
 * fields the list answers show (description, inputSchema, ...) and
 * conditions on the arguments. It compiles to the neutral target: operation
 * = the method (compared as sent), route = two static segments (server,
 * target), conditions on the body (the plugin passes the arguments as the
 * body). So calls are matched by the shared index and matcher like HTTP,
 * and the request is split into those two segments verbatim (a URI keeps
 * its slashes and its '?').
 *
 * The list methods (tools/list, resources/list, prompts/list) are answered
 * here from the index's per-server mock lists (dp_proto_ix_t.servers), so a
 * list costs the mocks of that namespace and server, never all mocks. The
 * contract with the plugin is in docs/engine.md ("MCP").
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "base/sbuf.h"

#define MAX_NAME 256  /* tool and prompt names, resource names */
#define MAX_URI 4096  /* resource URIs */
#define MAX_SERVER 64 /* serverName: [A-Za-z0-9._-]{0,64} */
#define MAX_MIME 255
#define NEAR_STACK 64

/* The value types of the fields the list answers show. */
enum { F_TEXT, F_NAME, F_MIME, F_SCHEMA, F_OBJECT, F_ARGS };

typedef struct lfield {
    const char *key;
    int type;
} lfield_t;

#define MAX_LFIELDS 5

/* One mcp method a mock can answer, and the list that shows it. */
typedef struct kind {
    const char *method; /* "tools/call" */
    const char *key;    /* the section key naming the target: "tool" */
    size_t max_target;
    const char *list;             /* "tools/list" */
    const char *list_key;         /* "tools" */
    const char *name_key;         /* the target's key in a list entry: "name" */
    lfield_t fields[MAX_LFIELDS]; /* in output order */
} kind_t;

/* clang-format off */
static const kind_t kinds[] = {
    {"tools/call", "tool", MAX_NAME, "tools/list", "tools", "name",
     {{"title", F_TEXT},
      {"description", F_TEXT},
      {"inputSchema", F_SCHEMA},
      {"outputSchema", F_SCHEMA},
      {"annotations", F_OBJECT}}},
    {"resources/read", "resource", MAX_URI, "resources/list", "resources",
     "uri",
     {{"name", F_NAME},
      {"title", F_TEXT},
      {"description", F_TEXT},
      {"mimeType", F_MIME},
      {NULL, 0}}},
    {"prompts/get", "prompt", MAX_NAME, "prompts/list", "prompts", "name",
     {{"title", F_TEXT},
      {"description", F_TEXT},
      {"arguments", F_ARGS},
      {NULL, 0},
      {NULL, 0}}},
};
/* clang-format on */
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Compiled list data of one mock (dp_mock_t.pdata), immutable: JSON texts,
 * so list answers on any thread only copy bytes. */
typedef struct mcp_data {
    const kind_t *kind;
    char *name;               /* the target as a JSON string */
    char *field[MAX_LFIELDS]; /* kind->fields[i] as JSON text, or NULL */
} mcp_data_t;

static void mcp_free_data(void *p)
{
    mcp_data_t *d = p;
    if (d == NULL)
        return;
    free(d->name);
    for (size_t i = 0; i < MAX_LFIELDS; i++)
        free(d->field[i]);
    free(d);
}

/* ---- validation --------------------------------------------------------- */

static int oom(dp_err_t *err, const char *field)
{
    dp_err_set(err, 500, "internal", field, "out of memory");
    return -ENOMEM;
}

static int has_nul(const json_t *s)
{
    return strlen(json_string_value(s)) != json_string_length(s);
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int server_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_SERVER)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A JSON Schema for an object, as MCP requires of input/output schemas. */
static int schema_ok(const json_t *v)
{
    const json_t *t = json_object_get(v, "type");
    return json_is_object(v) && json_is_string(t) &&
           strcmp(json_string_value(t), "object") == 0;
}

static int args_ok(const json_t *v, const char *field, dp_err_t *err)
{
    char f[320];
    if (!json_is_array(v)) {
        dp_err_invalid(err, field,
                       "expected an array of {name, "
                       "description, required}");
        return -EINVAL;
    }
    size_t i;
    const json_t *a;
    json_array_foreach(v, i, a)
    {
        snprintf(f, sizeof(f), "%s[%zu]", field, i);
        if (!json_is_object(a)) {
            dp_err_invalid(err, f,
                           "expected an object {name, description, "
                           "required}");
            return -EINVAL;
        }
        const json_t *n = json_object_get(a, "name");
        const json_t *d = json_object_get(a, "description");
        const json_t *r = json_object_get(a, "required");
        snprintf(f, sizeof(f), "%s[%zu].name", field, i);
        if (!json_is_string(n) || json_string_length(n) == 0 ||
            json_string_length(n) > MAX_NAME || has_nul(n) ||
            has_ctl(json_string_value(n))) {
            dp_err_invalid(err, f,
                           "expected a non-empty string of at most "
                           "%d characters",
                           MAX_NAME);
            return -EINVAL;
        }
        snprintf(f, sizeof(f), "%s[%zu].description", field, i);
        if (d && !json_is_null(d) && (!json_is_string(d) || has_nul(d))) {
            dp_err_invalid(err, f, "expected a string");
            return -EINVAL;
        }
        snprintf(f, sizeof(f), "%s[%zu].required", field, i);
        if (r && !json_is_null(r) && !json_is_boolean(r)) {
            dp_err_invalid(err, f, "expected a boolean");
            return -EINVAL;
        }
    }
    return 0;
}

static int field_ok(const json_t *v, int type, const char *f, dp_err_t *err)
{
    switch (type) {
    case F_TEXT:
        if (json_is_string(v) && !has_nul(v))
            return 0;
        dp_err_invalid(err, f, "expected a string");
        return -EINVAL;
    case F_NAME:
    case F_MIME: {
        size_t max = type == F_NAME ? MAX_NAME : MAX_MIME;
        if (json_is_string(v) && json_string_length(v) > 0 &&
            json_string_length(v) <= max && !has_nul(v) &&
            !has_ctl(json_string_value(v)))
            return 0;
        dp_err_invalid(err, f,
                       "expected a non-empty string of at most %zu "
                       "characters",
                       max);
        return -EINVAL;
    }
    case F_SCHEMA:
        if (schema_ok(v))
            return 0;
        dp_err_invalid(err, f,
                       "expected a JSON Schema object with "
                       "\"type\": \"object\"");
        return -EINVAL;
    case F_OBJECT:
        if (json_is_object(v))
            return 0;
        dp_err_invalid(err, f, "expected an object");
        return -EINVAL;
    case F_ARGS:
        return args_ok(v, f, err);
    }
    return -EINVAL;
}

/* The kind (method) a list-field key belongs to when it is not k's. */
static const kind_t *owner_of(const char *key, const kind_t *k)
{
    for (size_t i = 0; i < N_KINDS; i++) {
        if (strcmp(kinds[i].key, key) == 0 && &kinds[i] != k)
            return &kinds[i];
        for (size_t j = 0; j < MAX_LFIELDS && kinds[i].fields[j].key; j++) {
            if (strcmp(kinds[i].fields[j].key, key) != 0)
                continue;
            /* a field of k itself is fine wherever else it appears */
            for (size_t l = 0; l < MAX_LFIELDS && k->fields[l].key; l++)
                if (strcmp(k->fields[l].key, key) == 0)
                    return NULL;
            return &kinds[i];
        }
    }
    return NULL;
}

static char *dump_text(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Mocks written for the Go SDK address the call's params object
 * ({name, arguments}): "$.body.arguments.x" is "x" of the arguments, which
 * is the document conditions of mcp mocks look at. Returns a new reference
 * to conds, or to a copy with those paths rewritten; NULL for NULL (or on
 * ENOMEM, when conds was not NULL). */
static json_t *go_style_paths(const json_t *conds)
{
    static const char pre[] = "$.body.arguments";
    const size_t pl = sizeof(pre) - 1;
    if (conds == NULL)
        return NULL;
    json_t *out = json_is_array(conds) ? json_deep_copy(conds)
                                       : json_incref((json_t *)conds);
    size_t i;
    json_t *c;
    if (out == NULL || !json_is_array(out))
        return out;
    json_array_foreach(out, i, c)
    {
        const char *p = json_string_value(json_object_get(c, "path"));
        if (p == NULL || strncmp(p, pre, pl) != 0 ||
            (p[pl] != '\0' && p[pl] != '.' && p[pl] != '['))
            continue;
        /* "$.body.arguments" is the whole document: "$" */
        size_t rl = strlen(p + pl);
        char *np = malloc(rl + 2);
        if (np == NULL) {
            json_decref(out);
            return NULL;
        }
        np[0] = '$';
        memcpy(np + 1, p + pl, rl + 1);
        json_object_set_new(c, "path", json_string(np));
        free(np);
    }
    return out;
}

static int mcp_compile(const dp_proto_t *self, const json_t *sec,
                       const char *field, dp_mock_t *m, dp_err_t *err)
{
    (void)self;
    char f[256];
    if (!json_is_object(sec)) {
        dp_err_invalid(err, field, "expected an object");
        return -EINVAL;
    }
    snprintf(f, sizeof(f), "%s.method", field);
    const json_t *meth = json_object_get(sec, "method");
    if (meth == NULL || json_is_null(meth)) {
        dp_err_invalid(err, f,
                       "required (tools/call, resources/read or "
                       "prompts/get)");
        return -EINVAL;
    }
    const kind_t *k = NULL;
    for (size_t i = 0; json_is_string(meth) && i < N_KINDS; i++)
        if (strcmp(json_string_value(meth), kinds[i].method) == 0 &&
            !has_nul(meth))
            k = &kinds[i];
    if (k == NULL) {
        dp_err_invalid(err, f,
                       "expected tools/call, resources/read or "
                       "prompts/get");
        return -EINVAL;
    }

    /* keys that belong to another method are a mistake worth naming */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)sec, key, v)
    {
        const kind_t *o = owner_of(key, k);
        if (o && !json_is_null(v)) {
            snprintf(f, sizeof(f), "%s.%s", field, key);
            dp_err_invalid(err, f, "only for %s mocks (this one is %s)",
                           o->method, k->method);
            return -EINVAL;
        }
    }

    snprintf(f, sizeof(f), "%s.%s", field, k->key);
    const json_t *tv = json_object_get(sec, k->key);
    if (tv == NULL || json_is_null(tv)) {
        dp_err_invalid(err, f, "required for %s", k->method);
        return -EINVAL;
    }
    if (!json_is_string(tv) || json_string_length(tv) == 0 ||
        json_string_length(tv) > k->max_target || has_nul(tv) ||
        has_ctl(json_string_value(tv))) {
        dp_err_invalid(err, f,
                       "expected a non-empty string of at most %zu "
                       "characters, without control characters",
                       k->max_target);
        return -EINVAL;
    }
    const char *target = json_string_value(tv);

    snprintf(f, sizeof(f), "%s.serverName", field);
    const json_t *sv = json_object_get(sec, "serverName");
    const char *server = "";
    if (sv && !json_is_null(sv)) {
        if (!json_is_string(sv) || has_nul(sv) ||
            !server_name_ok(json_string_value(sv))) {
            dp_err_invalid(err, f,
                           "expected a name of at most %d characters "
                           "[A-Za-z0-9._-] (empty: the default "
                           "server)",
                           MAX_SERVER);
            return -EINVAL;
        }
        server = json_string_value(sv);
    }

    mcp_data_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return oom(err, field);
    m->pdata = d; /* freed with the mock, also on a later error */
    d->kind = k;
    for (size_t i = 0; i < MAX_LFIELDS && k->fields[i].key; i++) {
        const json_t *fv = json_object_get(sec, k->fields[i].key);
        if (fv == NULL || json_is_null(fv))
            continue;
        snprintf(f, sizeof(f), "%s.%s", field, k->fields[i].key);
        int rc = field_ok(fv, k->fields[i].type, f, err);
        if (rc < 0)
            return rc;
        if ((d->field[i] = dump_text(fv)) == NULL)
            return oom(err, f);
    }
    d->name = dump_text(tv);

    /* the neutral target: operation, (server, target), conditions */
    m->op = strdup(k->method);
    m->route_src = strdup(target);
    m->server = strdup(server);
    m->route.segs = calloc(2, sizeof(dp_seg_t));
    if (!d->name || !m->op || !m->route_src || !m->server || !m->route.segs)
        return oom(err, field);
    m->route.n = 2;
    m->route.n_static = 2;
    m->route.segs[0].kind = DP_SEG_STATIC;
    m->route.segs[1].kind = DP_SEG_STATIC;
    m->route.segs[0].text = strdup(server);
    m->route.segs[1].text = strdup(target);
    if (!m->route.segs[0].text || !m->route.segs[1].text)
        return oom(err, field);

    snprintf(f, sizeof(f), "%s.conditions", field);
    json_t *conds = go_style_paths(json_object_get(sec, "conditions"));
    if (conds == NULL && json_object_get(sec, "conditions") != NULL)
        return oom(err, f);
    int rc = dp_proto_conds(conds, DP_COND_BODY, f, m, err);
    json_decref(conds);
    if (rc < 0)
        return rc;
    /* header conditions on the HTTP request that carried the call */
    snprintf(f, sizeof(f), "%s.header", field);
    return dp_proto_conds(json_object_get(sec, "header"), DP_COND_HEADER, f,
                          m, err);
}

/* ---- the request -------------------------------------------------------- */

static doppel_str_t server_of(const doppel_exchange_t *x)
{
    /* plugins built before the server field existed pass a shorter struct */
    if (x->size < offsetof(doppel_exchange_t, server) + sizeof(x->server) ||
        x->server.ptr == NULL)
        return (doppel_str_t){"", 0};
    return x->server;
}

/* The request as two verbatim segments: server, target. */
static int mcp_req_path(const doppel_exchange_t *x, dp_path_t *out)
{
    memset(out, 0, sizeof(*out));
    doppel_str_t s = server_of(x);
    doppel_str_t t = x->target.ptr ? x->target : (doppel_str_t){"", 0};
    out->seg[0] = s.ptr;
    out->len[0] = s.len;
    out->seg[1] = t.ptr;
    out->len[1] = t.len;
    out->n = 2;
    /* a NUL could never equal a mock's text: match nothing */
    if (memchr(s.ptr, 0, s.len) || memchr(t.ptr, 0, t.len))
        out->too_long = 1;
    return 0;
}

static int str_is(doppel_str_t s, const char *lit)
{
    return s.ptr && s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* ---- list answers ------------------------------------------------------- */


typedef struct entry {
    const dp_mock_t *m;
    size_t pos; /* in match order */
} entry_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = strcmp(x->m->route_src, y->m->route_src);
    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One list entry per distinct target, each field from the first mock (in
 * match order) of that target that has it. */
static void list_entries(dp_sbuf_t *b, const kind_t *k, const entry_t *es,
                         size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(es[j].m->route_src, es[i].m->route_src) == 0)
            j++;
        const mcp_data_t *d0 = es[i].m->pdata;
        dp_sb_str(b, i ? ",{\"" : "{\"");
        dp_sb_str(b, k->name_key);
        dp_sb_str(b, "\":");
        dp_sb_str(b, d0->name);
        for (size_t f = 0; f < MAX_LFIELDS && k->fields[f].key; f++) {
            const char *txt = NULL;
            for (size_t g = i; g < j && txt == NULL; g++)
                txt = ((const mcp_data_t *)es[g].m->pdata)->field[f];
            if (txt == NULL && k->fields[f].type == F_SCHEMA &&
                strcmp(k->fields[f].key, "inputSchema") == 0)
                txt = "{\"type\":\"object\"}";
            if (txt == NULL && strcmp(k->fields[f].key, "name") == 0)
                txt = d0->name; /* a resource is named by its URI */
            if (txt == NULL)
                continue;
            dp_sb_str(b, ",\"");
            dp_sb_str(b, k->fields[f].key);
            dp_sb_str(b, "\":");
            dp_sb_str(b, txt);
        }
        dp_sb_str(b, "}");
        i = j;
    }
}

static int mcp_answer(const dp_proto_ix_t *pi, const doppel_exchange_t *x,
                      int64_t now, char **body, size_t *len)
{
    const kind_t *k = NULL;
    for (size_t i = 0; i < N_KINDS; i++)
        if (str_is(x->operation, kinds[i].list))
            k = &kinds[i];
    if (k == NULL)
        return 0; /* a call (or an unknown method): for the matcher */

    doppel_str_t s = server_of(x);
    const dp_mlist_t *l = NULL;
    if (pi && memchr(s.ptr, 0, s.len) == NULL)
        l = dp_smap_getn(&pi->servers, s.ptr, s.len);
    entry_t *es = NULL;
    size_t n = 0;
    if (l && l->n) {
        es = malloc(l->n * sizeof(*es));
        if (es == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
            const dp_mock_t *m = l->v[i];
            if (strcmp(m->op, k->method) == 0 && dp_mock_live(m, now))
                es[n++] = (entry_t){m, i};
        }
        qsort(es, n, sizeof(*es), entry_cmp);
    }
    dp_sbuf_t b = {0};
    dp_sb_str(&b, "{\"");
    dp_sb_str(&b, k->list_key);
    dp_sb_str(&b, "\":[");
    list_entries(&b, k, es, n);
    dp_sb_str(&b, "]}");
    free(es);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *body = b.p;
    *len = b.len;
    return 1;
}

/* ---- misses ------------------------------------------------------------- */

/* Whether a live mock answers this method and target on this server:
 * exactly when the list answer shows it. */
static int known(const dp_proto_ix_t *pi, const doppel_exchange_t *x,
                 const dp_path_t *path, int64_t now)
{
    if (pi == NULL || x->operation.ptr == NULL)
        return 0;
    const dp_trie_t *t =
        dp_smap_getn(&pi->ops, x->operation.ptr, x->operation.len);
    if (t == NULL)
        return 0;
    dp_mock_t *stack[NEAR_STACK];
    dp_mock_t **c = stack;
    size_t n = dp_trie_collect(t, path, stack, NEAR_STACK, NULL);
    if (n > NEAR_STACK) {
        c = malloc(n * sizeof(*c));
        if (c == NULL) {
            c = stack;
            n = NEAR_STACK; /* the first ones are better than none */
        } else {
            n = dp_trie_collect(t, path, c, n, NULL);
        }
    }
    int live = 0;
    for (size_t i = 0; i < n && !live; i++)
        live = dp_mock_live(c[i], now);
    if (c != stack)
        free(c);
    return live;
}

static void mcp_miss(const dp_proto_t *self, const dp_proto_ix_t *pi,
                     const doppel_exchange_t *x, const dp_path_t *path,
                     int64_t now, json_t *report)
{
    (void)self;
    doppel_str_t s = server_of(x);
    json_t *req = json_object_get(report, "request");
    json_t *sv = json_stringn(s.ptr, s.len);
    if (req && sv)
        json_object_set(req, "server", sv);
    json_decref(sv);
    json_object_set_new(report, "known", json_boolean(known(pi, x, path, now)));
}

const dp_proto_t dp_proto_mcp = {
    .name = "mcp",
    .compile = mcp_compile,
    .doc = dp_reqctx_doc,
    .flags = DP_PROTO_F_EXACT_OP | DP_PROTO_F_NO_PROXY,
    .free_data = mcp_free_data,
    .req_path = mcp_req_path,
    .answer = mcp_answer,
    .miss = mcp_miss,
    .slot = 1,
};
