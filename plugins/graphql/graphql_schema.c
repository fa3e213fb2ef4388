/*
 * The GraphQL plugin's schemas and its mock section.
 *
 * Schemas: SDL files uploaded per namespace (PUT /api/v1/schemas/graphql/
 * NAME, the MCP put_schema tool) or named by the option `schema`. The
 * file's name says which path it serves (gqlp_file_path); every file of
 * one (namespace, path) builds one schema. A commit rebuilds the schemas
 * of the pairs it touches, all or nothing: a file that breaks its schema
 * is refused with its "name:line:column: message" and the old schemas
 * stay. Published schemas are immutable and reference-counted.
 *
 * The schema callbacks are serialised by the host (one at a time per
 * section), and they alone change files and pending: those are read and
 * written without the lock, and only the publication (schemas, paths)
 * takes it for writing. check, explain_miss and describe run on any
 * thread and only read under the read lock.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql_plugin.h"
#include "plugin_json.h"

/* SDL documents are bounded like requests, with room for big schemas
 * (a schema of 10,000 fields is about 60,000 tokens). */
#define SDL_MAX_BYTES (32u << 20)
#define SDL_MAX_TOKENS 4000000u
#define CFG_FILE_MAX (32u << 20)

/* ---- small helpers ------------------------------------------------------- */

const char *gqlp_op_name(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION       ? "mutation"
           : op == GQL_OP_SUBSCRIPTION ? "subscription"
                                       : "query";
}

char *gqlp_type_str(const gql_type_ref_t *t, char *out, size_t cap)
{
    if (cap == 0)
        return out;
    out[0] = '\0';
    if (t == NULL)
        return out;
    char inner[256];
    switch (t->kind) {
    case GQL_T_NAMED:
        snprintf(out, cap, "%s", t->name ? t->name : "");
        break;
    case GQL_T_LIST:
        snprintf(out, cap, "[%s]", gqlp_type_str(t->of, inner, sizeof(inner)));
        break;
    case GQL_T_NON_NULL:
        snprintf(out, cap, "%s!", gqlp_type_str(t->of, inner, sizeof(inner)));
        break;
    }
    return out;
}

static void set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

static void set_err(doppel_check_error_t *e, const char *field, const char *fmt,
                    ...)
{
    if (e == NULL)
        return;
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static doppel_str_t ns_or_default(doppel_str_t ns)
{
    return ns.len ? ns : (doppel_str_t){GQLP_DEFAULT_NS, 7};
}

static int str_is(const char *s, doppel_str_t v)
{
    return s != NULL && strlen(s) == v.len && memcmp(s, v.ptr, v.len) == 0;
}

static int is_name(const char *s)
{
    if (s == NULL || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; s[i]; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return strlen(s) <= 128;
}

/* A path a GraphQL endpoint may have: absolute, no query or fragment, no
 * whitespace, no "//", not ending in '/' (except "/" itself). */
static int path_ok(const char *p)
{
    size_t l = strlen(p);
    if (l == 0 || l > GQLP_PATH_MAX || p[0] != '/')
        return 0;
    if (l > 1 && p[l - 1] == '/')
        return 0;
    if (strstr(p, "//") != NULL || strstr(p, "/../") != NULL)
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == '?' || c == '#' || c == '%' || c == '\\' ||
            c >= 0x7f)
            return 0;
    }
    return 1;
}

/* ---- file names ---------------------------------------------------------- */

static int has_ext(const char *s, size_t len, const char *ext)
{
    size_t el = strlen(ext);
    return len > el && memcmp(s + len - el, ext, el) == 0;
}

int gqlp_file_path(const char *name, size_t len, char *out, size_t cap)
{
    if (len == 0 || len > 256 || name[0] == '/' || name[len - 1] == '/')
        return -EINVAL;
    if (!has_ext(name, len, ".graphql") && !has_ext(name, len, ".graphqls") &&
        !has_ext(name, len, ".gql"))
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' ||
              c == '/'))
            return -EINVAL;
        if (c == '/' && i + 1 < len && name[i + 1] == '/')
            return -EINVAL;
        if (c == '.' && (i == 0 || name[i - 1] == '/'))
            return -EINVAL; /* no "..", no hidden segments */
    }
    const char *last = name;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '/')
            last = name + i + 1;
    /* the last segment's stem: before its first '.' (drops both the
     * extension and a ".users" part infix) */
    const char *dot = memchr(last, '.', (size_t)(name + len - last));
    size_t dir = (size_t)(last - name);
    size_t stem = (size_t)(dot - last);
    if (stem == 0 || dir + stem + 2 > cap)
        return -EINVAL;
    out[0] = '/';
    memcpy(out + 1, name, dir + stem);
    out[1 + dir + stem] = '\0';
    return (int)(1 + dir + stem);
}

/* ---- shared state -------------------------------------------------------- */

typedef struct shared_arg {
    const char *endpoint;
    const char *schema;
    const char *ns;
} shared_arg_t;

static void file_clear(gqlp_file_t *f)
{
    free(f->ns);
    free(f->name);
    free(f->path);
    free(f->content);
    memset(f, 0, sizeof(*f));
}

static void files_free(gqlp_file_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        file_clear(&f[i]);
    free(f);
}

static void schema_free(gqlp_schema_t *s)
{
    if (s == NULL)
        return;
    gql_schema_free(s->s);
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i]);
    free(s->files);
    free(s->ns);
    free(s->path);
    free(s);
}

void gqlp_schema_unref(gqlp_schema_t *s)
{
    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        schema_free(s);
}

static int paths_add_locked(gqlp_shared_t *sh, const char *p, size_t len)
{
    for (size_t i = 0; i < sh->n_paths; i++)
        if (strlen(sh->paths[i]) == len && memcmp(sh->paths[i], p, len) == 0)
            return 0;
    if (sh->n_paths >= GQLP_PATHS_MAX)
        return -ENOSPC;
    char **v = realloc(sh->paths, (sh->n_paths + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    sh->paths = v;
    if ((v[sh->n_paths] = strndup(p, len)) == NULL)
        return -ENOMEM;
    sh->n_paths++;
    return 0;
}

static int paths_add(gqlp_shared_t *sh, const char *p)
{
    pthread_rwlock_wrlock(&sh->lock);
    int rc = paths_add_locked(sh, p, strlen(p));
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

int gqlp_path_known(gqlp_shared_t *sh, const char *p, size_t len)
{
    int found = 0;
    pthread_rwlock_rdlock(&sh->lock);
    for (size_t i = 0; i < sh->n_paths && !found; i++)
        found =
            strlen(sh->paths[i]) == len && memcmp(sh->paths[i], p, len) == 0;
    pthread_rwlock_unlock(&sh->lock);
    return found;
}

gqlp_schema_t *gqlp_schema_ref(gqlp_shared_t *sh, doppel_str_t ns,
                               doppel_str_t path)
{
    ns = ns_or_default(ns);
    gqlp_schema_t *found = NULL;
    pthread_rwlock_rdlock(&sh->lock);
    for (size_t i = 0; i < sh->n_schemas && !found; i++) {
        gqlp_schema_t *s = sh->schemas[i];
        if (str_is(s->ns, ns) && str_is(s->path, path)) {
            __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
            found = s;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    return found;
}

/* The files that build (ns, path): the configured ones when the pair is
 * the option's, then the uploads (a[0..na) with b[0..nb) replacing those
 * of the same name; skip: a name left out, for a delete). */
typedef struct group {
    const gqlp_file_t **f;
    size_t n;
} group_t;

static int same_file(const gqlp_file_t *x, const gqlp_file_t *y)
{
    return strcmp(x->ns, y->ns) == 0 && strcmp(x->name, y->name) == 0;
}

static int group_collect(const gqlp_shared_t *sh, const char *ns,
                         const char *path, const gqlp_file_t *a, size_t na,
                         const gqlp_file_t *b, size_t nb,
                         const gqlp_file_t *skip, group_t *g)
{
    g->n = 0;
    g->f = calloc(sh->n_cfg + na + nb + 1, sizeof(*g->f));
    if (g->f == NULL)
        return -ENOMEM;
    if (strcmp(ns, sh->cfg_ns) == 0 && strcmp(path, sh->endpoint) == 0)
        for (size_t i = 0; i < sh->n_cfg; i++)
            g->f[g->n++] = &sh->cfg[i];
    for (size_t i = 0; i < na; i++) {
        const gqlp_file_t *f = &a[i];
        if (strcmp(f->ns, ns) || strcmp(f->path, path))
            continue;
        if (skip && same_file(f, skip))
            continue;
        int replaced = 0;
        for (size_t j = 0; j < nb && !replaced; j++)
            replaced = same_file(f, &b[j]);
        if (!replaced)
            g->f[g->n++] = f;
    }
    for (size_t j = 0; j < nb; j++) {
        const gqlp_file_t *f = &b[j];
        if (strcmp(f->ns, ns) || strcmp(f->path, path))
            continue;
        int later = 0; /* a batch naming a file twice: the last wins */
        for (size_t l = j + 1; l < nb && !later; l++)
            later = same_file(f, &b[l]);
        if (!later)
            g->f[g->n++] = f;
    }
    return 0;
}

/* Builds the schema of a group; NULL *out for an empty group. */
static int group_build(const gqlp_shared_t *sh, const char *ns,
                       const char *path, const group_t *g, gqlp_schema_t **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (g->n == 0)
        return 0;
    gql_source_t *src = calloc(g->n, sizeof(*src));
    gqlp_schema_t *s = calloc(1, sizeof(*s));
    if (src == NULL || s == NULL) {
        free(src);
        free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < g->n; i++)
        src[i] = (gql_source_t){g->f[i]->name, g->f[i]->content, g->f[i]->len};
    gql_error_t ge;
    memset(&ge, 0, sizeof(ge));
    gql_limits_t lim = {SDL_MAX_BYTES, SDL_MAX_TOKENS, sh->limits.max_depth};
    s->s = gql_schema_build(src, g->n, &lim, &ge);
    free(src);
    if (s->s == NULL) {
        free(s);
        ge.message[sizeof(ge.message) - 1] = '\0';
        snprintf(err, errlen, "%s",
                 ge.message[0] ? ge.message : "the schema cannot be built");
        return -EINVAL;
    }
    s->refs = 1;
    s->ns = strdup(ns);
    s->path = strdup(path);
    s->files = calloc(g->n, sizeof(*s->files));
    int rc = s->ns && s->path && s->files ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < g->n; i++) {
        if ((s->files[i] = strdup(g->f[i]->name)) == NULL)
            rc = -ENOMEM;
        else
            s->n_files++;
    }
    if (rc < 0) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Puts s in place of the schema of (ns, path) (s NULL: removes it) and
 * makes the path known. Takes the caller's reference of s. */
static int publish(gqlp_shared_t *sh, const char *ns, const char *path,
                   gqlp_schema_t *s)
{
    gqlp_schema_t *old = NULL;
    int rc = 0;
    pthread_rwlock_wrlock(&sh->lock);
    size_t at = sh->n_schemas;
    for (size_t i = 0; i < sh->n_schemas; i++)
        if (strcmp(sh->schemas[i]->ns, ns) == 0 &&
            strcmp(sh->schemas[i]->path, path) == 0)
            at = i;
    if (at < sh->n_schemas) {
        old = sh->schemas[at];
        if (s != NULL) {
            sh->schemas[at] = s;
        } else {
            sh->schemas[at] = sh->schemas[sh->n_schemas - 1];
            sh->n_schemas--;
        }
    } else if (s != NULL) {
        gqlp_schema_t **v =
            realloc(sh->schemas, (sh->n_schemas + 1) * sizeof(*v));
        if (v == NULL) {
            rc = -ENOMEM;
        } else {
            sh->schemas = v;
            v[sh->n_schemas++] = s;
        }
    }
    if (rc == 0 && s != NULL)
        (void)paths_add_locked(sh, path, strlen(path));
    pthread_rwlock_unlock(&sh->lock);
    if (rc < 0)
        gqlp_schema_unref(s);
    gqlp_schema_unref(old);
    return rc;
}

static char *read_file(const char *fn, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(fn, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "schema file %.400s: %s", fn, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CFG_FILE_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad || n > CFG_FILE_MAX) {
        snprintf(err, errlen, "schema file %.400s: %s", fn,
                 buf == NULL ? "out of memory"
                 : bad       ? "read error"
                             : "larger than 32 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The option `schema`: colon-separated files for (cfg_ns, endpoint). A
 * failure is kept in cfg_err: the instances refuse to start with it. */
static void load_cfg(gqlp_shared_t *sh, const char *list)
{
    if (list == NULL || list[0] == '\0')
        return;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l > 0) {
            char fn[1024];
            snprintf(fn, sizeof(fn), "%.*s", (int)l, p);
            gqlp_file_t *v = realloc(sh->cfg, (sh->n_cfg + 1) * sizeof(*v));
            if (v == NULL) {
                snprintf(sh->cfg_err, sizeof(sh->cfg_err), "out of memory");
                return;
            }
            sh->cfg = v;
            gqlp_file_t *f = &v[sh->n_cfg];
            memset(f, 0, sizeof(*f));
            f->content =
                read_file(fn, &f->len, sh->cfg_err, sizeof(sh->cfg_err));
            if (f->content == NULL)
                return;
            f->ns = strdup(sh->cfg_ns);
            f->name = strdup(fn);
            f->path = strdup(sh->endpoint);
            sh->n_cfg++;
            if (!f->ns || !f->name || !f->path) {
                snprintf(sh->cfg_err, sizeof(sh->cfg_err), "out of memory");
                return;
            }
        }
        p += l;
        if (*p == ':')
            p++;
    }
    group_t g;
    if (group_collect(sh, sh->cfg_ns, sh->endpoint, NULL, 0, NULL, 0, NULL,
                      &g) < 0) {
        snprintf(sh->cfg_err, sizeof(sh->cfg_err), "out of memory");
        return;
    }
    gqlp_schema_t *s = NULL;
    char msg[600];
    int rc =
        group_build(sh, sh->cfg_ns, sh->endpoint, &g, &s, msg, sizeof(msg));
    free(g.f);
    if (rc < 0)
        snprintf(sh->cfg_err, sizeof(sh->cfg_err), "option schema: %s",
                 rc == -EINVAL ? msg : strerror(-rc));
    else if (s != NULL)
        publish(sh, sh->cfg_ns, sh->endpoint, s);
}

static void shared_destroy(void *state)
{
    gqlp_shared_t *sh = state;
    if (sh == NULL)
        return;
    for (size_t i = 0; i < sh->n_schemas; i++)
        gqlp_schema_unref(sh->schemas[i]);
    free(sh->schemas);
    for (size_t i = 0; i < sh->n_paths; i++)
        free(sh->paths[i]);
    free(sh->paths);
    files_free(sh->cfg, sh->n_cfg);
    files_free(sh->files, sh->n_files);
    files_free(sh->pending, sh->n_pending);
    free(sh->endpoint);
    free(sh->cfg_ns);
    for (size_t i = 0; i < sh->n_subs; i++)
        free(sh->subs[i].key);
    free(sh->subs);
    free(sh->insts);
    pthread_mutex_destroy(&sh->reg_mu);
    pthread_rwlock_destroy(&sh->lock);
    free(sh);
}

static void *shared_create(void *arg)
{
    const shared_arg_t *a = arg;
    gqlp_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return NULL;
    pthread_rwlock_init(&sh->lock, NULL);
    pthread_mutex_init(&sh->reg_mu, NULL);
    sh->endpoint = strdup(
        a->endpoint && a->endpoint[0] ? a->endpoint : GQLP_DEFAULT_ENDPOINT);
    sh->cfg_ns = strdup(a->ns && a->ns[0] ? a->ns : GQLP_DEFAULT_NS);
    if (sh->endpoint == NULL || sh->cfg_ns == NULL) {
        shared_destroy(sh);
        return NULL;
    }
    if (!path_ok(sh->endpoint))
        snprintf(sh->cfg_err, sizeof(sh->cfg_err),
                 "endpoint '%s': expected an absolute path like /graphql "
                 "(no query, no trailing '/')",
                 sh->endpoint);
    else if (!doppel_name_valid(sh->cfg_ns, strlen(sh->cfg_ns), GQLP_NS_MAX))
        snprintf(sh->cfg_err, sizeof(sh->cfg_err),
                 "namespace '%s': expected 1 to 64 characters of A-Z a-z "
                 "0-9 . _ -",
                 sh->cfg_ns);
    if (paths_add(sh, sh->endpoint) < 0) {
        shared_destroy(sh);
        return NULL;
    }
    sh->limits.max_depth = 64;
    if (sh->cfg_err[0] == '\0')
        load_cfg(sh, a->schema);
    return sh;
}

gqlp_shared_t *gqlp_shared(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    shared_arg_t a = {svc->option_str(ctx, "endpoint"),
                      svc->option_str(ctx, "schema"),
                      svc->option_str(ctx, "namespace")};
    return svc->shared(ctx, shared_create, shared_destroy, &a);
}

/* ---- schema files -------------------------------------------------------- */

static int schema_put(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      doppel_str_t ns, doppel_str_t name,
                      const uint8_t *content, size_t len,
                      doppel_check_error_t *err)
{
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    char path[GQLP_PATH_MAX + 2];
    if (gqlp_file_path(name.ptr, name.len, path, sizeof(path)) < 0) {
        set_err(err, "name", "%s",
                "a GraphQL schema file name is a relative path of "
                "[A-Za-z0-9._-] segments ending in .graphql (or .graphqls, "
                ".gql); it serves the path \"/\" + the name without its "
                "extension and part infix: graphql.graphql and "
                "graphql.users.graphql serve /graphql, api/v2/graphql.graphql "
                "serves /api/v2/graphql");
        return -EINVAL;
    }
    if (memchr(content, '\0', len) != NULL) {
        set_err(err, "content",
                "%.*s: a GraphQL schema is text, without NUL "
                "bytes",
                (int)name.len, name.ptr);
        return -EINVAL;
    }
    ns = ns_or_default(ns);
    size_t in_ns = 0;
    for (size_t i = 0; i < sh->n_files; i++)
        in_ns += str_is(sh->files[i].ns, ns);
    if (in_ns + sh->n_pending >= GQLP_FILES_PER_NS) {
        set_err(err, "name", "at most %d GraphQL schema files per namespace",
                GQLP_FILES_PER_NS);
        return -EINVAL;
    }
    /* Syntax now, so that the error names this file even in a batch. */
    gql_error_t ge;
    memset(&ge, 0, sizeof(ge));
    gql_limits_t lim = {SDL_MAX_BYTES, SDL_MAX_TOKENS, sh->limits.max_depth};
    gql_doc_t *doc = gql_parse((const char *)content, len, &lim, &ge);
    if (doc == NULL) {
        ge.message[sizeof(ge.message) - 1] = '\0';
        set_err(err, "content", "%.*s:%u:%u: %s", (int)name.len, name.ptr,
                ge.loc.line, ge.loc.column, ge.message);
        return -EINVAL;
    }
    gql_doc_free(doc);
    gqlp_file_t *v = realloc(sh->pending, (sh->n_pending + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    sh->pending = v;
    gqlp_file_t *f = &v[sh->n_pending];
    memset(f, 0, sizeof(*f));
    f->ns = strndup(ns.ptr, ns.len);
    f->name = strndup(name.ptr, name.len);
    f->path = strdup(path);
    f->content = malloc(len + 1);
    if (!f->ns || !f->name || !f->path || !f->content) {
        file_clear(f);
        return -ENOMEM;
    }
    memcpy(f->content, content, len);
    f->content[len] = '\0';
    f->len = len;
    sh->n_pending++;
    return 0;
}

/* The (ns, path) pairs the pending files touch, once each. */
static size_t touched(const gqlp_shared_t *sh, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < sh->n_pending; i++) {
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(sh->pending[idx[k]].ns, sh->pending[i].ns) == 0 &&
                   strcmp(sh->pending[idx[k]].path, sh->pending[i].path) == 0;
        if (!seen)
            idx[n++] = i;
    }
    return n;
}

/* Files with the pending ones merged in (ownership moved). */
static int merge_pending(gqlp_shared_t *sh)
{
    gqlp_file_t *v = calloc(sh->n_files + sh->n_pending + 1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < sh->n_files; i++) {
        int replaced = 0;
        for (size_t j = 0; j < sh->n_pending && !replaced; j++)
            replaced = same_file(&sh->files[i], &sh->pending[j]);
        if (replaced)
            file_clear(&sh->files[i]);
        else
            v[k++] = sh->files[i];
    }
    for (size_t j = 0; j < sh->n_pending; j++) {
        int later = 0;
        for (size_t l = j + 1; l < sh->n_pending && !later; l++)
            later = same_file(&sh->pending[j], &sh->pending[l]);
        if (later)
            file_clear(&sh->pending[j]);
        else
            v[k++] = sh->pending[j];
    }
    free(sh->files);
    free(sh->pending);
    sh->files = v;
    sh->n_files = k;
    sh->pending = NULL;
    sh->n_pending = 0;
    return 0;
}

static void drop_pending(gqlp_shared_t *sh)
{
    files_free(sh->pending, sh->n_pending);
    sh->pending = NULL;
    sh->n_pending = 0;
}

static int schema_commit(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, int keep, doppel_check_error_t *err)
{
    (void)ns; /* pending files carry their namespace */
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    if (sh->n_pending == 0)
        return 0;
    if (!keep) {
        drop_pending(sh);
        return 0;
    }
    size_t *idx = calloc(sh->n_pending, sizeof(*idx));
    gqlp_schema_t **built = calloc(sh->n_pending, sizeof(*built));
    int rc = idx && built ? 0 : -ENOMEM;
    size_t n = rc == 0 ? touched(sh, idx) : 0;
    /* build every touched schema first: all or nothing */
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const gqlp_file_t *p = &sh->pending[idx[k]];
        group_t g;
        rc = group_collect(sh, p->ns, p->path, sh->files, sh->n_files,
                           sh->pending, sh->n_pending, NULL, &g);
        char msg[700];
        if (rc == 0)
            rc = group_build(sh, p->ns, p->path, &g, &built[k], msg,
                             sizeof(msg));
        free(g.f);
        if (rc == -EINVAL)
            set_err(err, "content", "%s (the schema of %s in namespace %s)",
                    msg, p->path, p->ns);
    }
    if (rc == 0) {
        /* publish takes the built references; the paths first, as merging
         * moves the pending files */
        char **nsv = calloc(n + 1, sizeof(*nsv)),
             **pv = calloc(n + 1, sizeof(*pv));
        for (size_t k = 0; nsv && pv && k < n; k++) {
            nsv[k] = strdup(sh->pending[idx[k]].ns);
            pv[k] = strdup(sh->pending[idx[k]].path);
        }
        rc = nsv && pv ? merge_pending(sh) : -ENOMEM;
        for (size_t k = 0; k < n; k++) {
            if (rc == 0 && nsv[k] && pv[k])
                publish(sh, nsv[k], pv[k], built[k]);
            else
                gqlp_schema_unref(built[k]);
            built[k] = NULL;
            if (nsv)
                free(nsv[k]);
            if (pv)
                free(pv[k]);
        }
        free(nsv);
        free(pv);
    }
    for (size_t k = 0; built && k < n; k++)
        gqlp_schema_unref(built[k]);
    drop_pending(sh);
    free(idx);
    free(built);
    return rc;
}

/* 1 if a file of g defines the schema's root: a schema definition or a
 * type Query (not an extension). */
static int group_has_root(const gqlp_shared_t *sh, const group_t *g)
{
    gql_limits_t lim = {SDL_MAX_BYTES, SDL_MAX_TOKENS, sh->limits.max_depth};
    int found = 0;
    for (size_t i = 0; i < g->n && !found; i++) {
        gql_error_t ge;
        gql_doc_t *doc = gql_parse(g->f[i]->content, g->f[i]->len, &lim, &ge);
        size_t n = 0;
        const gql_definition_t *d = doc ? gql_doc_defs(doc, &n) : NULL;
        for (size_t k = 0; k < n && !found; k++)
            found =
                !d[k].extension && (d[k].kind == GQL_DEF_SCHEMA ||
                                    (d[k].kind == GQL_DEF_OBJECT && d[k].name &&
                                     strcmp(d[k].name, "Query") == 0));
        gql_doc_free(doc);
    }
    return found;
}

/* Removing a file rebuilds its path's schema from the rest. Refused
 * (-EBUSY) when the rest still has its root (type Query or a schema
 * definition) but does not build without the file: other files use what
 * it defines. When the rest has no root (the file with Query went first),
 * the path has no schema until a root comes back: so every set of files
 * can be taken apart, root first, as .proto files are, importers first. */
static int schema_delete(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, doppel_str_t name,
                         doppel_check_error_t *err)
{
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    ns = ns_or_default(ns);
    size_t at = sh->n_files;
    for (size_t i = 0; i < sh->n_files; i++)
        if (str_is(sh->files[i].ns, ns) && str_is(sh->files[i].name, name))
            at = i;
    if (at == sh->n_files)
        return -ENOENT;
    gqlp_file_t *f = &sh->files[at];
    group_t g;
    int rc = group_collect(sh, f->ns, f->path, sh->files, sh->n_files, NULL, 0,
                           f, &g);
    gqlp_schema_t *s = NULL;
    char msg[700];
    if (rc == 0)
        rc = group_build(sh, f->ns, f->path, &g, &s, msg, sizeof(msg));
    if (rc == -EINVAL && !group_has_root(sh, &g))
        rc = 0; /* s NULL: no schema at the path for now */
    free(g.f);
    if (rc == -EINVAL) {
        set_err(err, "name", "the schema of %s without %s does not build: %s",
                f->path, f->name, msg);
        return -EBUSY;
    }
    if (rc < 0)
        return rc;
    rc = publish(sh, f->ns, f->path, s); /* s NULL: no schema left there */
    if (rc < 0)
        return rc;
    file_clear(f);
    memmove(&sh->files[at], &sh->files[at + 1],
            (sh->n_files - at - 1) * sizeof(*sh->files));
    sh->n_files--;
    return 0;
}

/* ---- suggestions ("did you mean") ---------------------------------------- */

/* Optimal string alignment distance of the lower-cased words, as
 * graphql-js's suggestionList; a case-only difference counts 1. */
static size_t word_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 1000;
    char x[65], y[65];
    for (size_t i = 0; i <= la; i++)
        x[i] = (char)tolower((unsigned char)a[i]);
    for (size_t i = 0; i <= lb; i++)
        y[i] = (char)tolower((unsigned char)b[i]);
    if (strcmp(x, y) == 0)
        return strcmp(a, b) == 0 ? 0 : 1;
    size_t d[66][66];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = x[i - 1] == y[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && x[i - 1] == y[j - 2] &&
                x[i - 2] == y[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* "; did you mean \"a\", \"b\", or \"c\"?" for the fields of t close to
 * word, or "" when none is. */
static void suggest(const gql_stype_t *t, const char *word, char *out,
                    size_t cap)
{
    out[0] = '\0';
    const char *best[5];
    size_t dist[5], n = 0;
    size_t threshold = strlen(word) * 4 / 10 + 1;
    for (size_t i = 0; t && i < t->n_fields; i++) {
        const char *name = t->fields[i].name;
        size_t dd = word_distance(word, name);
        if (dd > threshold)
            continue;
        /* insertion into the five closest, by distance then name */
        size_t at = n;
        while (at > 0 &&
               (dist[at - 1] > dd ||
                (dist[at - 1] == dd && strcmp(best[at - 1], name) > 0)))
            at--;
        if (at >= 5)
            continue;
        size_t last = n < 5 ? n : 4;
        for (size_t k = last; k > at; k--) {
            best[k] = best[k - 1];
            dist[k] = dist[k - 1];
        }
        best[at] = name;
        dist[at] = dd;
        if (n < 5)
            n++;
    }
    if (n == 0)
        return;
    size_t o = (size_t)snprintf(out, cap, "; did you mean ");
    for (size_t i = 0; i < n && o < cap; i++) {
        const char *sep = i == 0 ? "" : (n > 2 ? ", " : " ");
        const char *or_ = i > 0 && i == n - 1 ? "or " : "";
        o +=
            (size_t)snprintf(out + o, cap - o, "%s%s\"%s\"", sep, or_, best[i]);
    }
    if (o < cap)
        snprintf(out + o, cap - o, "?");
}

/* ---- the mock section ---------------------------------------------------- */

static int op_parse(const char *s, gql_op_kind_t *op)
{
    if (strcmp(s, "query") == 0)
        *op = GQL_OP_QUERY;
    else if (strcmp(s, "mutation") == 0)
        *op = GQL_OP_MUTATION;
    else if (strcmp(s, "subscription") == 0)
        *op = GQL_OP_SUBSCRIPTION;
    else
        return -EINVAL;
    return 0;
}

/* Which root type of s (operation kind) has `field`; refuses with the
 * message the user needs. have_op: *op is given. */
static int resolve_root(const gql_schema_t *s, const char *path, const char *ns,
                        int have_op, gql_op_kind_t *op, const char *type,
                        const char *field, doppel_check_error_t *err)
{
    static const gql_op_kind_t ops[] = {GQL_OP_QUERY, GQL_OP_MUTATION,
                                        GQL_OP_SUBSCRIPTION};
    const gql_stype_t *root = NULL;
    if (have_op) {
        root = gql_schema_root(s, *op);
        if (root == NULL) {
            set_err(err, "graphql.operation",
                    "the schema of %s in namespace %s has no %s root type",
                    path, ns, gqlp_op_name(*op));
            return -EINVAL;
        }
        if (type && strcmp(type, root->name) != 0) {
            set_err(err, "graphql.type",
                    "the %s root type of the schema of %s is %s, not %s",
                    gqlp_op_name(*op), path, root->name, type);
            return -EINVAL;
        }
    } else if (type) {
        for (size_t i = 0; i < 3 && root == NULL; i++) {
            const gql_stype_t *r = gql_schema_root(s, ops[i]);
            if (r && strcmp(r->name, type) == 0) {
                root = r;
                *op = ops[i];
            }
        }
        if (root == NULL) {
            set_err(err, "graphql.type",
                    "%s is not a root type (query, mutation, subscription) "
                    "of the schema of %s in namespace %s",
                    type, path, ns);
            return -EINVAL;
        }
    } else {
        for (size_t i = 0; i < 3 && root == NULL; i++) {
            const gql_stype_t *r = gql_schema_root(s, ops[i]);
            if (r && gql_stype_field(r, field)) {
                root = r;
                *op = ops[i];
            }
        }
        if (root == NULL) {
            root = gql_schema_root(s, GQL_OP_QUERY);
            *op = GQL_OP_QUERY;
        }
    }
    if (root == NULL || gql_stype_field(root, field) == NULL) {
        char hint[400];
        suggest(root, field, hint, sizeof(hint));
        set_err(err, "graphql.field", "%s has no field \"%s\"%s",
                root ? root->name : "Query", field, hint);
        return -EINVAL;
    }
    return 0;
}

static int check_cond_shape(const json_t *sec, const char *key,
                            doppel_check_error_t *err)
{
    const json_t *v = json_object_get(sec, key);
    if (v == NULL || json_is_null(v))
        return 0;
    char f[64];
    snprintf(f, sizeof(f), "graphql.%s", key);
    /* header conditions may also be written {"name": "value"}: the engine
     * compiles both; body conditions are a list */
    if (json_is_array(v) || (json_is_object(v) && strcmp(key, "header") == 0)) {
        size_t i;
        json_t *c;
        if (json_is_array(v))
            json_array_foreach(v, i, c) if (!json_is_object(c))
            {
                snprintf(f, sizeof(f), "graphql.%s[%zu]", key, i);
                set_err(err, f, "%s",
                        "expected a condition {path, assertAction, value}");
                return -EINVAL;
            }
        return 0;
    }
    set_err(err, f, "%s",
            "expected an array of conditions {path, "
            "assertAction, value}");
    return -EINVAL;
}

static int check_errors(const json_t *ge, doppel_check_error_t *err)
{
    if (ge == NULL || json_is_null(ge))
        return 0;
    if (!json_is_array(ge)) {
        set_err(err, "response.graphqlErrors", "%s",
                "expected an array of GraphQL errors {message, path, "
                "locations, extensions}");
        return -EINVAL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(ge, i, e)
    {
        char f[96];
        snprintf(f, sizeof(f), "response.graphqlErrors[%zu]", i);
        if (!json_is_object(e)) {
            set_err(err, f, "%s",
                    "expected {message, path, locations, "
                    "extensions}");
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v)
        {
            char f2[160];
            snprintf(f2, sizeof(f2), "%s.%s", f, k);
            if (strcmp(k, "message") == 0) {
                if (!json_is_string(v)) {
                    set_err(err, f2, "%s", "the error's message, a string");
                    return -EINVAL;
                }
            } else if (strcmp(k, "path") == 0) {
                size_t j;
                json_t *p;
                if (!json_is_array(v)) {
                    set_err(err, f2, "%s",
                            "the response path, an array of field names and "
                            "list indices ([\"user\", \"friends\", 0])");
                    return -EINVAL;
                }
                json_array_foreach(v, j, p) if (!json_is_string(p) &&
                                                !json_is_integer(p))
                {
                    set_err(err, f2, "%s",
                            "path items are strings and integers");
                    return -EINVAL;
                }
            } else if (strcmp(k, "locations") == 0) {
                size_t j;
                json_t *p;
                if (!json_is_array(v)) {
                    set_err(err, f2, "%s", "an array of {line, column}");
                    return -EINVAL;
                }
                json_array_foreach(
                    v, j, p) if (!json_is_object(p) ||
                                 !json_is_integer(json_object_get(p, "line")) ||
                                 !json_is_integer(json_object_get(p, "column")))
                {
                    set_err(err, f2, "%s",
                            "each location is {\"line\": N, \"column\": N}");
                    return -EINVAL;
                }
            } else if (strcmp(k, "extensions") == 0) {
                if (!json_is_object(v)) {
                    set_err(err, f2, "%s", "an object");
                    return -EINVAL;
                }
            } else {
                set_err(err, f2, "%s",
                        "unknown member of a GraphQL error (message, path, "
                        "locations, extensions)");
                return -EINVAL;
            }
        }
        if (!json_is_string(json_object_get(e, "message"))) {
            snprintf(f, sizeof(f), "response.graphqlErrors[%zu].message", i);
            set_err(err, f, "%s", "required: the error's message");
            return -EINVAL;
        }
    }
    return 0;
}

/* Most events one subscription mock may list, and the longest delay of
 * one: a mock is a test fixture, not a stream without end. */
#define GQLP_EVENTS_MAX 10000
#define GQLP_EVENT_DELAY_MAX 3600000

/* subscriptionEvents: [{"payload": {"data": {...}}, "delay": ms}], and
 * keepOpen: a boolean (graphql_ws.c serves them). */
static int check_events(const json_t *resp, doppel_check_error_t *err)
{
    const json_t *ko = json_object_get(resp, "keepOpen");
    if (ko != NULL && !json_is_boolean(ko)) {
        set_err(err, "response.keepOpen", "%s",
                "true keeps a subscription open after its events (for the "
                "publish action), false completes it");
        return -EINVAL;
    }
    const json_t *ev = json_object_get(resp, "subscriptionEvents");
    if (ev == NULL || json_is_null(ev))
        return 0;
    if (!json_is_array(ev) || json_array_size(ev) > GQLP_EVENTS_MAX) {
        set_err(err, "response.subscriptionEvents", "%s",
                "a list of at most 10000 events [{\"payload\": {\"data\": "
                "{\"FIELD\": ...}}, \"delay\": ms}]");
        return -EINVAL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        char f[128];
        snprintf(f, sizeof(f), "response.subscriptionEvents[%zu]", i);
        if (!json_is_object(e)) {
            set_err(err, f, "%s",
                    "an event {\"payload\": {\"data\": {\"FIELD\": ...}}, "
                    "\"delay\": ms}");
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v)
        {
            if (strcmp(k, "payload") && strcmp(k, "delay")) {
                snprintf(f, sizeof(f), "response.subscriptionEvents[%zu].%.40s",
                         i, k);
                set_err(err, f, "%s",
                        "unknown member (an event has payload and delay)");
                return -EINVAL;
            }
        }
        const json_t *d = json_object_get(e, "delay");
        if (d != NULL && (!json_is_integer(d) || json_integer_value(d) < 0 ||
                          json_integer_value(d) > GQLP_EVENT_DELAY_MAX)) {
            snprintf(f, sizeof(f), "response.subscriptionEvents[%zu].delay", i);
            set_err(err, f, "%s",
                    "milliseconds after the previous event, 0 to 3600000");
            return -EINVAL;
        }
        const json_t *pl = json_object_get(e, "payload");
        const json_t *data = json_object_get(pl, "data");
        if (!json_is_object(pl) || !json_is_object(data) ||
            json_object_size(pl) != 1) {
            snprintf(f, sizeof(f), "response.subscriptionEvents[%zu].payload",
                     i);
            set_err(err, f, "%s",
                    "required: {\"data\": {\"FIELD\": ...}}, as the mock's "
                    "payload");
            return -EINVAL;
        }
    }
    return 0;
}

static int check_response(const json_t *resp, doppel_check_error_t *err)
{
    if (!json_is_object(resp))
        return 0;
    const json_t *pl = json_object_get(resp, "payload");
    if (pl != NULL && !json_is_null(pl)) {
        if (!json_is_object(pl)) {
            set_err(err, "response.payload", "%s",
                    "the GraphQL response, {\"data\": {\"FIELD\": ...}}");
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)pl, k, v)
        {
            if (strcmp(k, "data") == 0)
                continue;
            char f[128];
            snprintf(f, sizeof(f), "response.payload.%s", k);
            set_err(err, f, "%s",
                    strcmp(k, "errors") == 0
                        ? "GraphQL errors go in response.graphqlErrors"
                        : "the payload holds only \"data\": {\"FIELD\": ...}");
            return -EINVAL;
        }
        const json_t *d = json_object_get(pl, "data");
        if (d == NULL) {
            set_err(err, "response.payload.data", "%s",
                    "required: {\"data\": {\"FIELD\": ...}}");
            return -EINVAL;
        }
        if (!json_is_object(d) && !json_is_null(d)) {
            set_err(err, "response.payload.data", "%s",
                    "an object holding the field's value under its name");
            return -EINVAL;
        }
    }
    if (check_events(resp, err) < 0)
        return -EINVAL;
    return check_errors(json_object_get(resp, "graphqlErrors"), err);
}

static int check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                 const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                 doppel_check_error_t *err)
{
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, NULL);
    json_t *resp = json_loadb(mock->response.ptr, mock->response.len, 0, NULL);
    json_t *norm = NULL;
    gqlp_schema_t *sch = NULL;
    int rc = -EINVAL;
    if (!json_is_object(sec)) {
        set_err(err, "graphql", "%s",
                "expected an object {operation, field, path, conditions, "
                "header}");
        goto out;
    }
    int bad = 0;
    const char *field = dpj_opt_string(sec, "field", &bad);
    if (bad || field == NULL || !is_name(field) ||
        strncmp(field, "__", 2) == 0) {
        set_err(err, "graphql.field", "%s",
                field && strncmp(field, "__", 2) == 0
                    ? "__typename, __schema and __type are answered by "
                      "doppel itself, not by mocks"
                    : "required: the top-level field the mock answers "
                      "(a GraphQL name such as \"users\")");
        goto out;
    }
    const char *ops = dpj_opt_string(sec, "operation", &bad);
    gql_op_kind_t op = GQL_OP_QUERY;
    if (bad || (ops && op_parse(ops, &op) < 0)) {
        set_err(err, "graphql.operation", "%s",
                "one of query, mutation, subscription");
        goto out;
    }
    const char *type = dpj_opt_string(sec, "type", &bad);
    if (bad || (type && !is_name(type))) {
        set_err(err, "graphql.type", "%s",
                "the root type's name (\"Query\", \"Mutation\")");
        goto out;
    }
    const char *path = dpj_opt_string(sec, "path", &bad);
    if (bad || (path && !path_ok(path))) {
        set_err(err, "graphql.path", "%s",
                "the endpoint's path, absolute (\"/graphql\"), without a "
                "query or a trailing '/'");
        goto out;
    }
    if (path == NULL)
        path = sh->endpoint;
    if (check_cond_shape(sec, "conditions", err) < 0 ||
        check_cond_shape(sec, "header", err) < 0)
        goto out;
    char nsb[GQLP_NS_MAX + 1];
    doppel_str_t ns = ns_or_default(mock->ns);
    snprintf(nsb, sizeof(nsb), "%.*s", (int)ns.len, ns.ptr);
    sch = gqlp_schema_ref(sh, ns, (doppel_str_t){path, strlen(path)});
    if (sch != NULL) {
        if (resolve_root(sch->s, path, nsb, ops != NULL, &op, type, field,
                         err) < 0)
            goto out;
    } else if (ops == NULL && type != NULL) {
        /* no schema: the conventional root names */
        if (strcmp(type, "Mutation") == 0)
            op = GQL_OP_MUTATION;
        else if (strcmp(type, "Subscription") == 0)
            op = GQL_OP_SUBSCRIPTION;
    }
    if (check_response(resp, err) < 0)
        goto out;
    /* key: operation "query.users", target the path */
    int n =
        snprintf(key->buf, sizeof(key->buf), "%s.%s", gqlp_op_name(op), field);
    int tn = snprintf(key->buf + n + 1, sizeof(key->buf) - (size_t)n - 1, "%s",
                      path);
    if (n < 0 || tn < 0 || (size_t)(n + 1 + tn) >= sizeof(key->buf)) {
        set_err(err, "graphql.path", "%s", "too long");
        goto out;
    }
    key->operation = (doppel_str_t){key->buf, (size_t)n};
    key->target = (doppel_str_t){key->buf + n + 1, (size_t)tn};
    const json_t *srv = json_object_get(sec, "serverName");
    char *sp = key->buf + n + 1 + tn + 1;
    size_t room = sizeof(key->buf) - (size_t)(n + 1 + tn + 1);
    if (json_is_string(srv) && json_string_length(srv) > 0 &&
        json_string_length(srv) < room) {
        int sn = snprintf(sp, room, "%s", json_string_value(srv));
        key->server = (doppel_str_t){sp, (size_t)sn};
    }
    /* the stored section says which operation the mock answers, so that
     * a schema uploaded later does not change what it means */
    norm = json_deep_copy(sec);
    if (norm == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    json_object_set_new(norm, "operation", json_string(gqlp_op_name(op)));
    char *txt = json_dumps(norm, JSON_COMPACT);
    if (txt == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t l = strlen(txt);
    char *own = svc->alloc(l + 1);
    if (own != NULL) {
        memcpy(own, txt, l + 1);
        key->owned_section = own;
        key->section = (doppel_str_t){own, l};
    }
    free(txt);
    if (mock->answer == 0 && paths_add(sh, path) == -ENOSPC) {
        set_err(err, "graphql.path", "more than %d distinct GraphQL paths",
                GQLP_PATHS_MAX);
        goto out;
    }
    rc = 0;
out:
    gqlp_schema_unref(sch);
    json_decref(norm);
    json_decref(sec);
    json_decref(resp);
    return rc;
}

/* "unknown field" when the path's schema lacks the exchange's field (a
 * request answered without validation cannot get here with one; a
 * WebSocket transport or a schema swapped between the two can). */
static int explain_miss(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        const doppel_exchange_t *x, char *out, size_t out_len)
{
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return 0;
    char opf[256];
    snprintf(opf, sizeof(opf), "%.*s", (int)x->operation.len,
             x->operation.ptr ? x->operation.ptr : "");
    char *dot = strchr(opf, '.');
    gql_op_kind_t op;
    if (dot == NULL)
        return 0;
    *dot = '\0';
    if (op_parse(opf, &op) < 0)
        return 0;
    gqlp_schema_t *s = gqlp_schema_ref(sh, x->ns, x->target);
    if (s == NULL) {
        snprintf(out, out_len,
                 "no mock answers %s %s at %.*s (no schema is loaded there: "
                 "only mocks answer)",
                 opf, dot + 1, (int)x->target.len, x->target.ptr);
        return 1;
    }
    const gql_stype_t *root = gql_schema_root(s->s, op);
    int wrote = 0;
    if (root == NULL) {
        snprintf(out, out_len,
                 "unknown field: the schema of %.*s has no %s "
                 "root type",
                 (int)x->target.len, x->target.ptr, opf);
        wrote = 1;
    } else if (gql_stype_field(root, dot + 1) == NULL) {
        snprintf(out, out_len, "unknown field: %s has no field \"%s\"",
                 root->name, dot + 1);
        wrote = 1;
    }
    gqlp_schema_unref(s);
    return wrote;
}

/* ---- describe ------------------------------------------------------------ */

static json_t *describe_fields(const gql_stype_t *t)
{
    json_t *a = json_array();
    char ty[256];
    for (size_t i = 0; a && t && i < t->n_fields; i++) {
        const gql_sfield_t *f = &t->fields[i];
        json_t *args = json_array();
        for (size_t k = 0; args && k < f->n_args; k++)
            json_array_append_new(
                args,
                json_pack("{s:s, s:s}", "name", f->args[k].name, "type",
                          gqlp_type_str(f->args[k].type, ty, sizeof(ty))));
        json_t *o = json_pack("{s:s, s:s, s:o}", "name", f->name, "type",
                              gqlp_type_str(f->type, ty, sizeof(ty)), "args",
                              args ? args : json_array());
        if (o && f->description)
            json_object_set_new(o, "description", json_string(f->description));
        if (o && f->deprecation)
            json_object_set_new(o, "deprecated", json_string(f->deprecation));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *describe_schema(const gqlp_schema_t *s)
{
    json_t *files = json_array();
    for (size_t i = 0; files && i < s->n_files; i++)
        json_array_append_new(files, json_string(s->files[i]));
    json_t *o = json_pack("{s:s, s:o}", "path", s->path, "files",
                          files ? files : json_array());
    static const char *const keys[] = {"query", "mutation", "subscription"};
    for (int op = 0; o && op < 3; op++) {
        const gql_stype_t *r = gql_schema_root(s->s, (gql_op_kind_t)op);
        if (r == NULL)
            continue;
        json_object_set_new(o, keys[op],
                            json_pack("{s:s, s:o}", "type", r->name, "fields",
                                      describe_fields(r)));
    }
    return o;
}

static int describe(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    doppel_str_t ns, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    gqlp_shared_t *sh = gqlp_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    ns = ns_or_default(ns);
    json_t *schemas = json_array();
    json_t *paths = json_array();
    pthread_rwlock_rdlock(&sh->lock);
    for (size_t i = 0; schemas && i < sh->n_schemas; i++)
        if (str_is(sh->schemas[i]->ns, ns))
            json_array_append_new(schemas, describe_schema(sh->schemas[i]));
    for (size_t i = 0; paths && i < sh->n_paths; i++)
        json_array_append_new(paths, json_string(sh->paths[i]));
    pthread_rwlock_unlock(&sh->lock);
    json_t *o = json_pack("{s:s, s:o, s:o}", "endpoint", sh->endpoint, "paths",
                          paths ? paths : json_array(), "schemas",
                          schemas ? schemas : json_array());
    return dpj_give(svc, o, out, out_len);
}

/* ---- recording (LEARN) ---------------------------------------------------
 * One top-level field of a forwarded request becomes one mock: its section
 * keys on every argument and variable the exchange carried, its response
 * is the upstream's value for the field (and the errors about it). */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Equality conditions on the members of the field's body, in name order
 * so that the same request makes the same section (the mock's id is a
 * hash of it) whatever order its variables came in. "variables" is the
 * copy of the variables every member already covers. The members are
 * coerced argument and variable names, GraphQL names that a "$.name" path
 * holds as written; anything else is skipped rather than mis-keyed. */
static json_t *record_conditions(const json_t *body)
{
    size_t n = json_object_size(body), k = 0;
    const char **names = malloc((n ? n : 1) * sizeof(*names));
    json_t *conds = json_array();
    if (names == NULL || conds == NULL) {
        free(names);
        json_decref(conds);
        return NULL;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)body, name, v)
    {
        if (strcmp(name, "variables") != 0 && is_name(name))
            names[k++] = name;
    }
    qsort(names, k, sizeof(*names), cmp_str);
    for (size_t i = 0; i < k; i++) {
        char path[140];
        snprintf(path, sizeof(path), "$.%s", names[i]);
        json_t *c = json_pack("{s:s, s:s, s:O}", "path", path, "assertAction",
                              "equals", "value",
                              json_object_get(body, names[i]));
        if (c == NULL || json_array_append_new(conds, c) < 0) {
            json_decref(conds);
            conds = NULL;
            break;
        }
    }
    free(names);
    return conds;
}

/* One upstream error as a graphqlErrors entry check accepts: message,
 * path (when it goes below the field: a path of the field alone is what
 * replay fills in, with the response key of the query replayed) and
 * extensions. locations are dropped: they point into the recorded
 * document, and replay gives the field's place in the one it answers.
 * The path's first item becomes the field's name, which replay maps to
 * the response key. NULL: out of memory. */
static json_t *record_error(const json_t *e, const char *field)
{
    const json_t *msg = json_object_get(e, "message");
    json_t *o = json_pack("{s:s}", "message",
                          json_is_string(msg) ? json_string_value(msg)
                                              : "Error from the upstream");
    if (o == NULL)
        return NULL;
    const json_t *path = json_object_get(e, "path");
    if (json_is_array(path) && json_array_size(path) > 1) {
        json_t *p = json_array();
        int ok = p != NULL && json_array_append_new(p, json_string(field)) == 0;
        int shaped = 1; /* a response path: names and indices */
        for (size_t i = 1; ok && shaped && i < json_array_size(path); i++) {
            json_t *it = json_array_get(path, i);
            shaped = json_is_string(it) || json_is_integer(it);
            if (shaped)
                ok = json_array_append(p, it) == 0;
        }
        if (ok && shaped)
            json_object_set_new(o, "path", p);
        else
            json_decref(p);
    }
    const json_t *ext = json_object_get(e, "extensions");
    if (json_is_object(ext))
        json_object_set(o, "extensions", (json_t *)ext);
    return o;
}

static int out_text(const doppel_services_t *svc, const json_t *j, char **out,
                    size_t *len)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt == NULL)
        return -ENOMEM;
    size_t l = strlen(txt);
    *out = svc->alloc(l + 1);
    if (*out != NULL) {
        memcpy(*out, txt, l + 1);
        *len = l;
    }
    free(txt);
    return *out ? 0 : -ENOMEM;
}

/* The response of the recording: res->body is the field's share of the
 * upstream's answer, {"data": {FIELD: value}, "errors": [...]} (see
 * graphql_http.c). NULL with *rc set when it cannot be recorded. */
static json_t *record_response(const struct doppel_fetch_result *res,
                               const char *field, int *rc)
{
    json_t *up = res->body && res->body_len
                     ? json_loadb(res->body, res->body_len, 0, NULL)
                     : NULL;
    json_t *resp = NULL;
    *rc = -EINVAL;
    if (!json_is_object(up))
        goto out;
    json_t *data = json_object_get(up, "data");
    json_t *v = json_is_object(data) ? json_object_get(data, field) : NULL;
    *rc = -ENOMEM;
    resp = json_pack("{s:i, s:{s:{s:O}}}", "statusCode", res->status,
                     "payload", "data", field, v ? v : json_null());
    if (resp == NULL)
        goto out;
    json_t *errs = json_object_get(up, "errors");
    if (json_is_array(errs) && json_array_size(errs) > 0) {
        json_t *ge = json_array();
        size_t i;
        json_t *e;
        if (json_object_set_new(resp, "graphqlErrors", ge) < 0)
            goto fail;
        json_array_foreach(errs, i, e)
        {
            if (!json_is_object(e))
                continue;
            if (json_array_append_new(ge, record_error(e, field)) < 0)
                goto fail;
        }
    }
    *rc = 0;
    goto out;
fail:
    json_decref(resp);
    resp = NULL;
out:
    json_decref(up);
    return resp;
}

static int record(doppel_ctx_t *ctx, const doppel_services_t *svc,
                  const doppel_exchange_t *x,
                  const struct doppel_fetch_result *res, char **section,
                  size_t *section_len, char **response, size_t *response_len)
{
    (void)ctx;
    *section = *response = NULL;
    *section_len = *response_len = 0;
    /* the exchange's operation: "query.user" */
    char op[16], field[130], path[GQLP_PATH_MAX + 1];
    const char *dot = x->operation.ptr
                          ? memchr(x->operation.ptr, '.', x->operation.len)
                          : NULL;
    if (dot == NULL)
        return -EINVAL;
    size_t ol = (size_t)(dot - x->operation.ptr);
    size_t fl = x->operation.len - ol - 1;
    gql_op_kind_t kind;
    if (ol >= sizeof(op) || fl >= sizeof(field) || x->target.ptr == NULL ||
        x->target.len >= sizeof(path))
        return -EINVAL;
    memcpy(op, x->operation.ptr, ol);
    op[ol] = '\0';
    memcpy(field, dot + 1, fl);
    field[fl] = '\0';
    memcpy(path, x->target.ptr, x->target.len);
    path[x->target.len] = '\0';
    if (op_parse(op, &kind) < 0 || !is_name(field) || !path_ok(path))
        return -EINVAL;
    json_t *body = x->body && x->body_len
                       ? json_loadb((const char *)x->body, x->body_len, 0, NULL)
                       : NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        return -EINVAL;
    }
    int rc = -ENOMEM;
    json_t *conds = record_conditions(body);
    json_t *sec = conds ? json_pack("{s:s, s:s, s:s, s:o}", "operation", op,
                                    "field", field, "path", path,
                                    "conditions", conds)
                        : NULL;
    json_t *resp = sec ? record_response(res, field, &rc) : NULL;
    if (resp != NULL) {
        rc = out_text(svc, sec, section, section_len);
        if (rc == 0)
            rc = out_text(svc, resp, response, response_len);
    }
    if (rc < 0) {
        if (*section)
            svc->free(*section);
        *section = NULL;
        *section_len = 0;
    }
    json_decref(body);
    json_decref(sec);
    json_decref(resp);
    return rc;
}

static const char *const body_conds[] = {"conditions", NULL};
static const char *const meta_conds[] = {"header", NULL};
static const char *const resp_fields[] = {"graphqlErrors",
                                          "subscriptionEvents", "keepOpen",
                                          NULL};

const doppel_protocol_def_t gqlp_protocol_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "graphql",
    /* NO_PROXY refuses a mock's own proxy answer; record-and-replay
     * services forward by path (HTTP_PATH), the whole request at once */
    .flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_NO_PROXY |
             DOPPEL_PROTO_F_HTTP_PATH,
    .body_conditions = body_conds,
    .meta_conditions = meta_conds,
    .response_fields = resp_fields,
    .status_min = 100,
    .status_max = 599,
    .status_default = 200,
    .check = check,
    .schema_kind = "graphql",
    .schema_put = schema_put,
    .schema_commit = schema_commit,
    .schema_delete = schema_delete,
    .explain_miss = explain_miss,
    .describe = describe,
    .record = record,
    .actions = gqlp_actions,
    .action = gqlp_action,
};
