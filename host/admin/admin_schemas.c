/*
 * Schema files under /api/v1/schemas (schemas.h; docs/admin-api.md,
 * "Schema files"): the registry of sections that take them, the start-up
 * replay into the plugins, and the admin handlers.
 *
 * A write goes: check the name and the content -> lock the section ->
 * schema_put each file -> schema_commit(ns, 1) -> store the rows with the
 * call's audit rows in one transaction (dp_engine_storage_tx) -> update
 * the table here. The plugin refusing a file (put or commit) is a 400 and
 * nothing is stored (schema_commit(ns, 0) drops what was put); a storage
 * failure after the plugin kept the files puts the plugin back as it was
 * (old contents put again, new files deleted) and answers 500. Then, for
 * a plugin with schema_mocks, the mocks the files imply that the namespace
 * lacks are stored through the engine's batch put (not in the files'
 * transaction: the engine writes mocks only itself); a refused mock or a
 * failing plugin undoes the files the same way.
 *
 * The table here (per section: namespace + name -> content) is what the
 * store holds for the enabled sections; reads answer from it. It lives as
 * long as the process (reachable from the static registry).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_internal.h"
#include "base/log.h"
#include "base/pct_decode.h"
#include "runtime.h"
#include "schemas.h"

#define LOGC "schemas"
/* what the section callbacks get besides their section context */
#define SVC (&dp_services)
#define DEFAULT_NS "sandbox"
/* files of one section and namespace: a bound on what one editor can make
 * the host and the plugin hold besides the per-file size */
#define SCHEMAS_PER_NS 1000

/* The def must be large enough to carry the schema callbacks. */
#define DEF_SIZE_SCHEMA                                                        \
    (offsetof(doppel_protocol_def_t, schema_delete) + sizeof(void *))

typedef struct sch_sec {
    dp_instance_t *inst;
    const doppel_protocol_def_t *def; /* NULL: the plugin defines none */
    doppel_ctx_t ctx;                 /* a section context of our own, */
    doppel_ctx_t *sctx;               /* unless the host made one: in->section_ctx */
    pthread_mutex_t mu;               /* one schema call at a time; files */
    /* "ns\x1fname" -> {"ns", "name", "content", "updatedAt", "loaded"} */
    json_t *files;
} sch_sec_t;

static struct {
    dp_host_t *h;
    sch_sec_t *secs; /* one per instance, in h->instances order */
    size_t n;
    size_t max_bytes;
} reg;

/* ---- the registry ------------------------------------------------------- */

/* The protocol definition of an instance, with the size and minor checks
 * of ABI 1.2 (an older descriptor has no protocol field). */
static const doppel_protocol_def_t *def_of(const dp_instance_t *in)
{
    const doppel_protocol_def_t *def =
        in->lib ? dp_loader_protocol(in->lib->desc) : NULL;
    if (def == NULL || def->section == NULL ||
        def->size < offsetof(doppel_protocol_def_t, section) + sizeof(void *))
        return NULL;
    return def;
}

/* The def takes schema files: kind set and every callback there. */
static int has_schemas(const doppel_protocol_def_t *def)
{
    return def != NULL && def->size >= DEF_SIZE_SCHEMA &&
           def->schema_kind != NULL && def->schema_put != NULL &&
           def->schema_commit != NULL && def->schema_delete != NULL;
}

static sch_sec_t *sec_find(const char *section)
{
    for (size_t i = 0; i < reg.n; i++)
        if (reg.secs[i].def && strcmp(reg.secs[i].def->section, section) == 0)
            return &reg.secs[i];
    return NULL;
}

const doppel_protocol_def_t *dp_schema_def(dp_host_t *h, const char *section,
                                           doppel_ctx_t **sctx)
{
    if (sctx)
        *sctx = NULL;
    if (h == NULL || h != reg.h || section == NULL)
        return NULL;
    sch_sec_t *s = sec_find(section);
    if (s == NULL)
        return NULL;
    if (sctx)
        *sctx = s->sctx;
    return s->def;
}

static int registry_init(dp_host_t *h)
{
    reg.secs = calloc(h->n_instances ? h->n_instances : 1, sizeof(*reg.secs));
    if (reg.secs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < h->n_instances; i++) {
        sch_sec_t *s = &reg.secs[i];
        s->inst = &h->instances[i];
        s->def = def_of(s->inst);
        s->ctx = (doppel_ctx_t){.inst = s->inst};
        s->sctx = s->inst->section_ctx ? s->inst->section_ctx : &s->ctx;
        pthread_mutex_init(&s->mu, NULL);
        s->files = json_object();
        if (s->files == NULL)
            return -ENOMEM;
        /* two enabled plugins claiming one section: the first one wins
         * here (the engine's registry refuses that at load) */
        for (size_t j = 0; s->def && j < i; j++)
            if (reg.secs[j].def &&
                strcmp(reg.secs[j].def->section, s->def->section) == 0)
                s->def = NULL;
    }
    reg.n = h->n_instances;
    reg.max_bytes = h->settings.engine_limits.template_file_max;
    reg.h = h;
    return 0;
}

/* ---- names, contents, the table ----------------------------------------- */

static char *file_key(const char *ns, const char *name)
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

static json_t *file_get(const sch_sec_t *s, const char *ns, const char *name)
{
    char *k = file_key(ns, name);
    json_t *f = k ? json_object_get(s->files, k) : NULL;
    free(k);
    return f;
}

/* Sets (content non-NULL) or removes one file of the table. */
static int file_set(sch_sec_t *s, const char *ns, const char *name,
                    const char *content, size_t len, int64_t at, int loaded)
{
    char *k = file_key(ns, name);
    if (k == NULL)
        return -ENOMEM;
    int rc = 0;
    if (content == NULL) {
        json_object_del(s->files, k);
    } else {
        json_t *f = json_pack("{s:s, s:s, s:s%, s:I, s:b}", "ns", ns, "name",
                              name, "content", content, len, "updatedAt",
                              (json_int_t)at, "loaded", loaded);
        rc = f && json_object_set_new(s->files, k, f) == 0 ? 0 : -ENOMEM;
    }
    free(k);
    return rc;
}

static size_t files_in_ns(const sch_sec_t *s, const char *ns)
{
    size_t n = 0;
    const char *k;
    json_t *f;
    json_object_foreach(s->files, k, f)
    {
        n += strcmp(json_string_value(json_object_get(f, "ns")), ns) == 0;
    }
    return n;
}

static const char *f_content(const json_t *f, size_t *len)
{
    const json_t *c = json_object_get(f, "content");
    if (len)
        *len = json_string_length(c);
    return json_string_value(c);
}

static doppel_str_t dstr(const char *s)
{
    return (doppel_str_t){s, strlen(s)};
}

static void err_init(doppel_check_error_t *e)
{
    memset(e, 0, sizeof(*e));
    e->size = sizeof(*e);
}

/* ---- start-up ----------------------------------------------------------- */

typedef struct replay {
    json_t *rows; /* [[section, ns, name, content, updatedAt], ...] */
} replay_t;

static int replay_row(void *arg, const dp_schema_row_t *r)
{
    replay_t *rp = arg;
    json_t *row = json_pack("[ssssI]", r->section, r->ns, r->name, r->content,
                            (json_int_t)r->updated_at);
    return row && json_array_append_new(rp->rows, row) == 0 ? 0 : -ENOMEM;
}

/* The row of one stored file during the replay:
 * [section, ns, name, content, updatedAt, loaded, left out]. */
enum { R_NAME = 2, R_CONTENT = 3, R_AT = 4, R_LOADED = 5, R_OUT = 6 };

static int row_flag(json_t *rows, size_t i, size_t k)
{
    return json_is_true(json_array_get(json_array_get(rows, i), k));
}

static void row_set(json_t *rows, size_t i, size_t k, int v)
{
    json_array_set_new(json_array_get(rows, i), k, json_boolean(v));
}

static const char *row_str(json_t *rows, size_t i, size_t k, size_t *len)
{
    json_t *v = json_array_get(json_array_get(rows, i), k);
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* Puts the files [from, to) of rows (one section and namespace) not left
 * out, as one batch. A file schema_put refuses is left out for good (its
 * content will not change). Returns 1 when the plugin kept the batch, 0
 * when nothing was put, or the commit was refused: then culprit is the
 * index of the file the plugin's message names (its "NAME:" prefix), or
 * to when it names none. */
static int replay_batch(sch_sec_t *s, const char *ns, json_t *rows, size_t from,
                        size_t to, size_t *culprit)
{
    doppel_check_error_t err;
    int put = 0;
    *culprit = to;
    for (size_t i = from; i < to; i++) {
        if (row_flag(rows, i, R_OUT))
            continue;
        size_t len;
        const char *name = row_str(rows, i, R_NAME, NULL);
        const char *content = row_str(rows, i, R_CONTENT, &len);
        err_init(&err);
        int rc = s->def->schema_put(s->sctx, SVC, dstr(ns), dstr(name),
                                    (const uint8_t *)content, len, &err);
        if (rc < 0) {
            dp_warn(LOGC,
                    "%s: stored schema file %s/%s refused (%s): %s; it stays "
                    "stored, unused",
                    s->def->section, ns, name, strerror(-rc), err.message);
            row_set(rows, i, R_OUT, 1);
            continue;
        }
        put++;
    }
    if (put == 0)
        return 0;
    err_init(&err);
    int rc = s->def->schema_commit(s->sctx, SVC, dstr(ns), 1, &err);
    if (rc < 0) {
        doppel_check_error_t e2;
        err_init(&e2);
        s->def->schema_commit(s->sctx, SVC, dstr(ns), 0, &e2);
        dp_warn(LOGC,
                "%s: stored schema files of namespace %s refused (%s): %s",
                s->def->section, ns, strerror(-rc), err.message);
        for (size_t i = from; i < to && *culprit == to; i++) {
            const char *name = row_str(rows, i, R_NAME, NULL);
            size_t l = strlen(name);
            if (!row_flag(rows, i, R_OUT) &&
                strncmp(err.message, name, l) == 0 && err.message[l] == ':')
                *culprit = i;
        }
        return 0;
    }
    for (size_t i = from; i < to; i++)
        if (!row_flag(rows, i, R_OUT))
            row_set(rows, i, R_LOADED, 1);
    return 1;
}

/* One (section, namespace): all files as one batch. While the plugin
 * refuses it naming a file, that file is left out and the rest tried
 * again (one round per bad file); when it names none, file by file,
 * repeated while some file gets in. */
static void replay_ns(sch_sec_t *s, const char *ns, json_t *rows, size_t from,
                      size_t to)
{
    for (size_t i = from; i < to; i++) {
        json_array_append_new(json_array_get(rows, i), json_false());
        json_array_append_new(json_array_get(rows, i), json_false());
    }
    size_t culprit;
    while (!replay_batch(s, ns, rows, from, to, &culprit) && culprit < to)
        row_set(rows, culprit, R_OUT, 1);
    if (culprit == to) {
        /* the plugin refused without naming a file: one at a time */
        for (int progress = 1; progress;) {
            progress = 0;
            for (size_t i = from; i < to; i++) {
                size_t c;
                if (row_flag(rows, i, R_LOADED) || row_flag(rows, i, R_OUT))
                    continue;
                if (replay_batch(s, ns, rows, i, i + 1, &c))
                    progress = 1;
            }
        }
    }
    size_t loaded = 0;
    for (size_t i = from; i < to; i++) {
        size_t len;
        const char *content = row_str(rows, i, R_CONTENT, &len);
        int ok = row_flag(rows, i, R_LOADED);
        loaded += ok;
        file_set(
            s, ns, row_str(rows, i, R_NAME, NULL), content, len,
            json_integer_value(json_array_get(json_array_get(rows, i), R_AT)),
            ok);
    }
    dp_info(LOGC, "%s: %zu of %zu schema file(s) of namespace %s loaded",
            s->def->section, loaded, to - from, ns);
}

int dp_schemas_replay(dp_host_t *h, dp_storage_t *st)
{
    if (h == NULL || st == NULL)
        return -EINVAL;
    int rc = registry_init(h);
    if (rc < 0) {
        dp_error(LOGC, "out of memory");
        return rc;
    }
    if (st->ops->schemas_load == NULL)
        return 0;
    replay_t rp = {json_array()};
    if (rp.rows == NULL)
        return -ENOMEM;
    rc = st->ops->schemas_load(st, replay_row, &rp);
    if (rc < 0) {
        dp_error(LOGC, "cannot read the stored schema files: %s",
                 strerror(-rc));
        json_decref(rp.rows);
        return rc;
    }
    /* rows come ordered by section, namespace, name: one group each */
    size_t n = json_array_size(rp.rows);
    for (size_t i = 0; i < n;) {
        json_t *r = json_array_get(rp.rows, i);
        const char *section = json_string_value(json_array_get(r, 0));
        const char *ns = json_string_value(json_array_get(r, 1));
        size_t j = i + 1;
        for (; j < n; j++) {
            json_t *q = json_array_get(rp.rows, j);
            if (strcmp(json_string_value(json_array_get(q, 0)), section) ||
                strcmp(json_string_value(json_array_get(q, 1)), ns))
                break;
        }
        sch_sec_t *s = sec_find(section);
        if (s == NULL || !has_schemas(s->def))
            dp_info(LOGC,
                    "%zu stored schema file(s) of section %s, namespace %s: "
                    "no enabled plugin takes them; kept, unused",
                    j - i, section, ns);
        else
            replay_ns(s, ns, rp.rows, i, j);
        i = j;
    }
    json_decref(rp.rows);
    return 0;
}

/* ---- answers ------------------------------------------------------------ */

static const char *ns_of(const admin_call_t *c)
{
    return c->ns[0] ? c->ns : DEFAULT_NS;
}

/* The plugin's refusal: 400 {error, code, field, message, file}, where
 * message is the plugin's "name:LINE:COL: ..." and field names what the
 * client sent ("content", or "files.NAME" in a batch). */
static void reply_refused(admin_call_t *c, int rc, const char *field,
                          const char *file, const doppel_check_error_t *e)
{
    char msg[sizeof(e->message)];
    snprintf(msg, sizeof(msg), "%s", e->message);
    if (msg[0] == '\0')
        snprintf(msg, sizeof(msg), "%s: refused (%s)", file, strerror(-rc));
    if (rc != -EINVAL) {
        admin_reply_error(c, 500, "internal", field,
                          "the plugin failed on %s: %s", file, msg);
        return;
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:s%, s:s, s:s, s:s}", "error", msg, "code", "validation",
        "request_id", c->req->request_id.ptr ? c->req->request_id.ptr : "",
        c->req->request_id.len, "field", field, "message", msg, "file", file);
    admin_reply_json(c, 400, o);
}

/* The section of the path (seg[1]), or a 404 saying why there is none. */
static sch_sec_t *section_or_404(admin_call_t *c)
{
    const char *section = c->seg[1];
    sch_sec_t *s = reg.h ? sec_find(section) : NULL;
    if (s == NULL) {
        admin_reply_error(c, 404, "not_found", "section",
                          "no enabled plugin has the mock section '%s': "
                          "enable its plugin in plugins.conf (for .proto "
                          "files, [grpc] enabled = true)",
                          section);
        return NULL;
    }
    if (!has_schemas(s->def)) {
        admin_reply_error(c, 404, "not_found", "section",
                          "section '%s' (plugin '%s') takes no schema files",
                          section, s->inst->lib->desc->name);
        return NULL;
    }
    return s;
}

static int check_name(admin_call_t *c, const char *name, const char *field)
{
    if (dp_schema_name_valid(name, strlen(name)))
        return 0;
    admin_reply_error(c, 400, "validation", field,
                      "%s: a schema file name is a relative path of 1 to %d "
                      "characters: segments of A-Z a-z 0-9 . _ - separated "
                      "by '/', none empty, \".\" or \"..\"",
                      field, DP_SCHEMA_NAME_MAX);
    return -EINVAL;
}

/* Text, within the size limit. */
static int check_content(admin_call_t *c, const char *content, size_t len,
                         const char *field)
{
    if (len > reg.max_bytes) {
        admin_reply_error(c, 413, "limit_exceeded", field,
                          "%s: the schema file is larger than "
                          "template_file_max (%zu bytes)",
                          field, reg.max_bytes);
        return -EFBIG;
    }
    if (len > 0 && memchr(content, '\0', len) != NULL) {
        admin_reply_error(c, 400, "validation", field,
                          "%s: a schema file is text: no NUL byte", field);
        return -EINVAL;
    }
    json_t *probe = json_stringn(content ? content : "", len);
    if (probe == NULL) {
        admin_reply_error(c, 400, "validation", field,
                          "%s: a schema file is UTF-8 text", field);
        return -EINVAL;
    }
    json_decref(probe);
    return 0;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static json_t *meta_of(const sch_sec_t *s, const json_t *f)
{
    size_t len = 0;
    f_content(f, &len);
    return json_pack("{s:s, s:O, s:O, s:I, s:O, s:O}", "section",
                     s->def->section, "namespace", json_object_get(f, "ns"),
                     "name", json_object_get(f, "name"), "size",
                     (json_int_t)len, "updatedAt",
                     json_object_get(f, "updatedAt"), "loaded",
                     json_object_get(f, "loaded"));
}

/* ---- writes ------------------------------------------------------------- */

/* One file of a write. */
typedef struct wfile {
    const char *name;
    const char *content;
    size_t len;
    json_t *old; /* the table's entry before the write (a reference) */
} wfile_t;

typedef struct wrows {
    const dp_schema_row_t *rows;
    size_t n;
} wrows_t;

static int write_rows(dp_storage_t *st, void *arg)
{
    const wrows_t *w = arg;
    if (st->ops->schemas_put == NULL)
        return -ENOTSUP;
    return st->ops->schemas_put(st, w->rows, w->n);
}

/* Stores rows with the call's audit rows. Answers 500 itself on failure. */
static int store(admin_call_t *c, const dp_schema_row_t *rows, size_t n)
{
    wrows_t w = {rows, n};
    dp_err_t err = {0};
    int rc = dp_engine_storage_tx(c->engine, write_rows, &w, &err);
    if (rc < 0)
        admin_reply_dp_err(c, rc, &err);
    return rc;
}

/* The plugin took files that could not be stored: back to what it had
 * (the old contents put again, new files deleted). The new files may
 * import each other in any order, so deletes go in passes until none
 * succeeds. Best effort: what cannot be undone is logged. */
static void plugin_undo(sch_sec_t *s, const char *ns, const wfile_t *fs,
                        size_t n)
{
    doppel_check_error_t e;
    int puts = 0;
    for (size_t i = 0; i < n; i++) {
        if (fs[i].old == NULL ||
            !json_is_true(json_object_get(fs[i].old, "loaded")))
            continue;
        size_t len = 0;
        const char *old = f_content(fs[i].old, &len);
        err_init(&e);
        int rc = s->def->schema_put(s->sctx, SVC, dstr(ns), dstr(fs[i].name),
                                    (const uint8_t *)old, len, &e);
        if (rc < 0)
            dp_error(LOGC, "%s: undoing %s/%s in the plugin failed (%s): %s",
                     s->def->section, ns, fs[i].name, strerror(-rc), e.message);
        puts += rc == 0;
    }
    err_init(&e);
    if (puts > 0 && s->def->schema_commit(s->sctx, SVC, dstr(ns), 1, &e) < 0)
        dp_error(LOGC, "%s: undoing a write in the plugin failed: %s",
                 s->def->section, e.message);
    char *gone = calloc(n, 1); /* 1: deleted, or nothing to delete */
    if (gone == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        gone[i] = fs[i].old != NULL &&
                  json_is_true(json_object_get(fs[i].old, "loaded"));
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < n; i++) {
            if (gone[i])
                continue;
            err_init(&e);
            int rc = s->def->schema_delete(s->sctx, SVC, dstr(ns),
                                           dstr(fs[i].name), &e);
            if (rc == 0 || rc == -ENOENT)
                gone[i] = progress = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!gone[i])
            dp_error(LOGC,
                     "%s: undoing %s/%s in the plugin failed: the "
                     "plugin keeps a file that is not stored",
                     s->def->section, ns, fs[i].name);
    free(gone);
}

/* ---- the mocks an upload implies (schema_mocks, ABI 1.2) ---------------- */

/* The def must be large enough to carry schema_mocks. */
#define DEF_SIZE_MOCKS                                                         \
    (offsetof(doppel_protocol_def_t, schema_mocks) + sizeof(void *))

static int has_schema_mocks(const doppel_protocol_def_t *def)
{
    return def->size >= DEF_SIZE_MOCKS && def->schema_mocks != NULL;
}

/* The id a schema mock gets in ns: its own, unless a mock of another
 * namespace holds it (ids are global), then "<id>-<ns>". *exists: a mock
 * of ns has that id already (kept, with whatever edits it has). */
static char *mock_id_in(dp_engine_t *e, const char *id, const char *ns,
                        int *exists)
{
    *exists = 0;
    for (int round = 0; round < 2; round++) {
        char *cand = NULL;
        if (round == 0) {
            cand = strdup(id);
        } else {
            size_t l = strlen(id) + strlen(ns) + 2;
            cand = malloc(l);
            if (cand)
                snprintf(cand, l, "%s-%s", id, ns);
        }
        if (cand == NULL)
            return NULL;
        json_t *m = NULL;
        dp_err_t err = {0};
        if (dp_engine_mock_get(e, cand, &m, &err) < 0)
            return cand; /* free */
        const char *mns = json_string_value(json_object_get(m, "namespace"));
        int same = mns && strcmp(mns, ns) == 0;
        json_decref(m);
        if (same) {
            *exists = 1;
            return cand;
        }
        free(cand);
    }
    return NULL; /* both taken elsewhere: left out, as if kept */
}

static int id_listed(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return 1;
    }
    return 0;
}

/* Asks the plugin for the mocks of each file just kept and stores the ones
 * that are new in ns through the same path as POST /api/v1/mocks/batch
 * (validated by the engine and the section check, all or none). *out:
 * {"created": [ids], "kept": [ids]}. On failure answers itself (500 for
 * the plugin, the engine's status for a refused mock) and returns < 0;
 * the caller undoes the files. */
static int store_schema_mocks(admin_call_t *c, sch_sec_t *s, const char *ns,
                              const wfile_t *fs, size_t n, json_t **out)
{
    *out = NULL;
    if (!has_schema_mocks(s->def))
        return 0;
    json_t *created = json_array(), *kept = json_array(), *todo = json_array();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        rc = s->def->schema_mocks(s->sctx, SVC, dstr(ns), dstr(fs[i].name),
                                  &text, &len);
        if (rc < 0 || text == NULL) {
            admin_reply_error(c, 500, "internal", "content",
                              "%s: the plugin could not list the mocks the "
                              "file implies (%s); the upload is undone",
                              fs[i].name, strerror(rc < 0 ? -rc : EIO));
            SVC->free(text);
            rc = rc < 0 ? rc : -EIO;
            break;
        }
        json_error_t jerr;
        json_t *arr = json_loadb(text, len, 0, &jerr);
        SVC->free(text);
        if (!json_is_array(arr)) {
            admin_reply_error(c, 500, "internal", "content",
                              "%s: the plugin's mocks are not a JSON array "
                              "(%s); the upload is undone",
                              fs[i].name, jerr.text);
            json_decref(arr);
            rc = -EIO;
            break;
        }
        size_t k;
        json_t *m;
        json_array_foreach(arr, k, m)
        {
            const char *id = json_string_value(json_object_get(m, "id"));
            if (!json_is_object(m) || id == NULL)
                continue; /* the contract: each has an id */
            int exists = 0;
            char *mid = mock_id_in(c->engine, id, ns, &exists);
            if (mid == NULL)
                continue;
            if (id_listed(created, mid) || id_listed(kept, mid)) {
                free(mid); /* two files of the batch imply it: once */
                continue;
            }
            if (exists) {
                json_array_append_new(kept, json_string(mid));
            } else {
                json_t *copy = json_deep_copy(m);
                json_object_set_new(copy, "id", json_string(mid));
                json_object_set_new(copy, "namespace", json_string(ns));
                json_array_append_new(todo, copy);
                json_array_append_new(created, json_string(mid));
            }
            free(mid);
        }
        json_decref(arr);
    }
    if (rc == 0 && json_array_size(todo) > 0) {
        json_t *stored = NULL;
        dp_err_t err = {0};
        rc = dp_engine_mock_put_batch(c->engine, todo, ns, &stored, &err);
        json_decref(stored);
        if (rc < 0) {
            /* "[3].soap.method" -> which generated mock it was */
            size_t bi = (size_t)strtoul(err.field[0] == '[' ? err.field + 1 : "0",
                                        NULL, 10);
            const char *bid = json_string_value(json_array_get(created, bi));
            char msg[sizeof(err.message) + 320];
            snprintf(msg, sizeof(msg), "mock %.200s, implied by the upload, "
                     "was refused (the upload is undone): %s",
                     bid ? bid : "?", err.message);
            memcpy(err.message, msg, sizeof(err.message) - 1);
            err.message[sizeof(err.message) - 1] = '\0';
            admin_reply_dp_err(c, rc, &err);
        }
    }
    json_decref(todo);
    if (rc < 0) {
        json_decref(created);
        json_decref(kept);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "created", created, "kept", kept);
    return 0;
}

/* The files were stored and kept by the plugin, but their mocks failed:
 * the store, the plugin and the table go back to what they held. */
static void undo_write(admin_call_t *c, sch_sec_t *s, const char *ns,
                       wfile_t *fs, size_t n)
{
    dp_schema_row_t *rows = calloc(n, sizeof(*rows));
    if (rows != NULL) {
        for (size_t i = 0; i < n; i++) {
            rows[i] = (dp_schema_row_t){s->def->section, ns, fs[i].name, NULL,
                                        0};
            if (fs[i].old) {
                rows[i].content = f_content(fs[i].old, NULL);
                rows[i].updated_at = (int64_t)json_integer_value(
                    json_object_get(fs[i].old, "updatedAt"));
            }
        }
        wrows_t w = {rows, n};
        dp_err_t err = {0};
        if (dp_engine_storage_tx(c->engine, write_rows, &w, &err) < 0)
            dp_error(LOGC, "%s: undoing an upload in the store failed: %s",
                     s->def->section, err.message);
        free(rows);
    }
    plugin_undo(s, ns, fs, n);
    for (size_t i = 0; i < n; i++) {
        if (fs[i].old == NULL) {
            file_set(s, ns, fs[i].name, NULL, 0, 0, 0);
        } else {
            size_t len = 0;
            const char *old = f_content(fs[i].old, &len);
            file_set(s, ns, fs[i].name, old, len,
                     (int64_t)json_integer_value(
                         json_object_get(fs[i].old, "updatedAt")),
                     json_is_true(json_object_get(fs[i].old, "loaded")));
        }
    }
}

/* The write of files fs[0..n) (checked) into section s, namespace of c:
 * answers itself. batch: the answer lists every file. */
static void write_files(admin_call_t *c, sch_sec_t *s, wfile_t *fs, size_t n,
                        int batch)
{
    const char *ns = ns_of(c);
    dp_schema_row_t *rows = calloc(n, sizeof(*rows));
    if (rows == NULL) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    int64_t at = now_s();
    doppel_check_error_t e;
    pthread_mutex_lock(&s->mu);
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        fs[i].old = json_incref(file_get(s, ns, fs[i].name));
        fresh += fs[i].old == NULL;
        rows[i] = (dp_schema_row_t){s->def->section, ns, fs[i].name,
                                    fs[i].content, at};
    }
    if (fresh > 0 && files_in_ns(s, ns) + fresh > SCHEMAS_PER_NS) {
        admin_reply_error(c, 507, "limit_exceeded", "name",
                          "namespace %s would hold more than %d schema files "
                          "of section %s",
                          ns, SCHEMAS_PER_NS, s->def->section);
        goto out;
    }
    /* the plugin: every file, then the commit */
    for (size_t i = 0; i < n; i++) {
        err_init(&e);
        int rc =
            s->def->schema_put(s->sctx, SVC, dstr(ns), dstr(fs[i].name),
                               (const uint8_t *)fs[i].content, fs[i].len, &e);
        if (rc < 0) {
            doppel_check_error_t e2;
            err_init(&e2);
            s->def->schema_commit(s->sctx, SVC, dstr(ns), 0, &e2);
            char field[DP_SCHEMA_NAME_MAX + 8];
            snprintf(field, sizeof(field), "files.%s", fs[i].name);
            reply_refused(c, rc, batch ? field : "content", fs[i].name, &e);
            goto out;
        }
    }
    err_init(&e);
    int rc = s->def->schema_commit(s->sctx, SVC, dstr(ns), 1, &e);
    if (rc < 0) {
        doppel_check_error_t e2;
        err_init(&e2);
        s->def->schema_commit(s->sctx, SVC, dstr(ns), 0, &e2);
        /* the plugin's message starts with the file it is about */
        const wfile_t *culprit = batch ? NULL : &fs[0];
        for (size_t i = 0; culprit == NULL && i < n; i++) {
            size_t l = strlen(fs[i].name);
            if (strncmp(e.message, fs[i].name, l) == 0 && e.message[l] == ':')
                culprit = &fs[i];
        }
        char field[DP_SCHEMA_NAME_MAX + 8];
        snprintf(field, sizeof(field), "files.%s",
                 culprit ? culprit->name : "");
        reply_refused(c, rc,
                      !batch    ? "content"
                      : culprit ? field
                                : "files",
                      culprit ? culprit->name : "the batch", &e);
        goto out;
    }
    if (store(c, rows, n) < 0) {
        plugin_undo(s, ns, fs, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (file_set(s, ns, fs[i].name, fs[i].content, fs[i].len, at, 1) < 0)
            dp_error(LOGC, "out of memory: %s/%s stored but not listed", ns,
                     fs[i].name);
    /* Mocks go right after the files, not in their transaction: the engine
     * stores mocks only through its own writes. A refused mock undoes the
     * files. */
    json_t *mocks = NULL;
    if (store_schema_mocks(c, s, ns, fs, n, &mocks) < 0) {
        undo_write(c, s, ns, fs, n);
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *m = meta_of(s, file_get(s, ns, fs[i].name));
        if (m && batch)
            json_object_set_new(m, "created", json_boolean(fs[i].old == NULL));
        json_array_append_new(items, m);
    }
    if (!batch) {
        json_t *one = json_incref(json_array_get(items, 0));
        if (mocks)
            json_object_set(one, "mocks", mocks);
        admin_reply_json(c, fs[0].old == NULL ? 201 : 200, one);
        json_decref(items);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "section",
                              s->def->section, "namespace", ns, "created",
                              (json_int_t)fresh, "files", items);
        if (o && mocks)
            json_object_set(o, "mocks", mocks);
        admin_reply_json(c, 200, o);
    }
    json_decref(mocks);
out:
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        json_decref(fs[i].old);
        fs[i].old = NULL;
    }
    free(rows);
}

/* PUT /schemas/SECTION/NAME, the body is the file */
void admin_schemas_put(admin_call_t *c)
{
    sch_sec_t *s = section_or_404(c);
    if (s == NULL || check_name(c, c->seg[2], "name") < 0)
        return;
    const char *body = (const char *)c->req->body;
    size_t len = c->req->body_len;
    if (check_content(c, body, len, "content") < 0)
        return;
    /* the table and the plugin get a NUL-terminated copy */
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    wfile_t f = {c->seg[2], copy, len, NULL};
    write_files(c, s, &f, 1, 0);
    free(copy);
}

/* POST /schemas/SECTION {"files": {NAME: CONTENT, ...}[, "namespace"]} */
void admin_schemas_batch(admin_call_t *c)
{
    sch_sec_t *s = section_or_404(c);
    if (s == NULL)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "files") != 0 && strcmp(k, "namespace") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected files, namespace)",
                              k);
            return;
        }
    }
    json_t *files = json_object_get(c->body, "files");
    size_t n = json_object_size(files);
    if (!json_is_object(files) || n == 0) {
        admin_reply_error(c, 400, "validation", "files",
                          "files is required: an object of file name -> "
                          "content (at least one)");
        return;
    }
    if (n > SCHEMAS_PER_NS) {
        admin_reply_error(c, 400, "validation", "files",
                          "files: at most %d files in one batch",
                          SCHEMAS_PER_NS);
        return;
    }
    wfile_t *fs = calloc(n, sizeof(*fs));
    if (fs == NULL) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    size_t i = 0;
    /* in the order given: a batch is put in that order */
    json_object_foreach(files, k, v)
    {
        char field[DP_SCHEMA_NAME_MAX + 64];
        snprintf(field, sizeof(field), "files.%.*s", DP_SCHEMA_NAME_MAX + 8, k);
        if (check_name(c, k, field) < 0)
            goto out;
        if (!json_is_string(v)) {
            admin_reply_error(c, 400, "validation", field,
                              "%s: expected the file's text, a string", field);
            goto out;
        }
        if (check_content(c, json_string_value(v), json_string_length(v),
                          field) < 0)
            goto out;
        fs[i++] =
            (wfile_t){k, json_string_value(v), json_string_length(v), NULL};
    }
    write_files(c, s, fs, n, 1);
out:
    free(fs);
}

/* GET /schemas/SECTION */
void admin_schemas_list(admin_call_t *c)
{
    sch_sec_t *s = section_or_404(c);
    if (s == NULL)
        return;
    const char *ns = ns_of(c);
    json_t *items = json_array();
    pthread_mutex_lock(&s->mu);
    const char *k;
    json_t *f;
    json_object_foreach(s->files, k, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "ns")), ns) == 0)
            json_array_append_new(items, meta_of(s, f));
    }
    pthread_mutex_unlock(&s->mu);
    size_t n = json_array_size(items);
    /* by name: insertion sort, as few files per namespace as a listing */
    for (size_t i = 1; i < n; i++)
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
    admin_reply_json(c, 200,
                     json_pack("{s:s, s:s, s:s, s:o, s:I}", "section",
                               s->def->section, "kind", s->def->schema_kind,
                               "namespace", ns, "items", items, "total",
                               (json_int_t)n));
}

/* GET /schemas/SECTION/NAME: the content as text/plain */
void admin_schemas_get(admin_call_t *c)
{
    sch_sec_t *s = section_or_404(c);
    if (s == NULL || check_name(c, c->seg[2], "name") < 0)
        return;
    const char *ns = ns_of(c);
    pthread_mutex_lock(&s->mu);
    const json_t *f = file_get(s, ns, c->seg[2]);
    if (f == NULL) {
        admin_reply_error(c, 404, "not_found", "name",
                          "no schema file \"%s\" of section %s in namespace "
                          "%s",
                          c->seg[2], s->def->section, ns);
    } else {
        size_t len = 0;
        const char *content = f_content(f, &len);
        admin_reply_text(c, 200, "text/plain; charset=utf-8", content, len);
    }
    pthread_mutex_unlock(&s->mu);
}

/* DELETE /schemas/SECTION/NAME */
void admin_schemas_delete(admin_call_t *c)
{
    sch_sec_t *s = section_or_404(c);
    if (s == NULL || check_name(c, c->seg[2], "name") < 0)
        return;
    const char *ns = ns_of(c), *name = c->seg[2];
    pthread_mutex_lock(&s->mu);
    json_t *f = file_get(s, ns, name);
    if (f == NULL) {
        admin_reply_error(c, 404, "not_found", "name",
                          "no schema file \"%s\" of section %s in namespace "
                          "%s",
                          name, s->def->section, ns);
        goto out;
    }
    doppel_check_error_t e;
    err_init(&e);
    int loaded = json_is_true(json_object_get(f, "loaded"));
    int rc = loaded
                 ? s->def->schema_delete(s->sctx, SVC, dstr(ns), dstr(name), &e)
                 : 0;
    if (rc == -EBUSY) {
        admin_reply_error(c, 409, "conflict", "name", "%s",
                          e.message[0] ? e.message
                                       : "other files still import it");
        goto out;
    }
    if (rc < 0 && rc != -ENOENT) {
        admin_reply_error(c, 500, "internal", "name",
                          "the plugin failed to delete %s: %s%s%s", name,
                          strerror(-rc), e.message[0] ? ": " : "", e.message);
        goto out;
    }
    dp_schema_row_t row = {s->def->section, ns, name, NULL, 0};
    if (store(c, &row, 1) < 0) {
        if (loaded && rc == 0) {
            /* the plugin lost a file the store still holds: put it back */
            size_t len = 0;
            const char *old = f_content(f, &len);
            err_init(&e);
            if (s->def->schema_put(s->sctx, SVC, dstr(ns), dstr(name),
                                   (const uint8_t *)old, len, &e) < 0 ||
                s->def->schema_commit(s->sctx, SVC, dstr(ns), 1, &e) < 0)
                dp_error(LOGC, "%s: undoing a delete of %s/%s failed: %s",
                         s->def->section, ns, name, e.message);
        }
        goto out;
    }
    file_set(s, ns, name, NULL, 0, 0, 0);
    admin_reply_empty(c, 204);
out:
    pthread_mutex_unlock(&s->mu);
}

/* ---- what the sections define (/api/v1/protocols) ----------------------- */

/* The def must be large enough to carry describe (appended in ABI 1.2). */
#define DEF_SIZE_DESCRIBE                                                      \
    (offsetof(doppel_protocol_def_t, describe) + sizeof(void *))

/* The sections the engine has built in: no plugin, no schema files. */
static const char *const builtin_sections[] = {"http", "mcp"};
#define N_BUILTIN (sizeof(builtin_sections) / sizeof(builtin_sections[0]))

static int is_builtin(const char *section)
{
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (strcmp(builtin_sections[i], section) == 0)
            return 1;
    return 0;
}

static int can_describe(const doppel_protocol_def_t *def)
{
    return def != NULL && def->size >= DEF_SIZE_DESCRIBE &&
           def->describe != NULL;
}

/* ---- operator actions (ABI 1.2 `actions`, `action`) ---------------------- */

#define DEF_SIZE_ACTION                                                        \
    (offsetof(doppel_protocol_def_t, action) + sizeof(void *))
#define ACTION_NAME_MAX 32
#define ACTIONS_MAX 64

static int action_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > ACTION_NAME_MAX || n[0] < 'a' || n[0] > 'z')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') ||
              n[i] == '_'))
            return 0;
    return 1;
}

/* The def's actions list, or NULL when it has none (too old, no callback). */
static const doppel_protocol_action_t *actions_of(
    const doppel_protocol_def_t *def)
{
    if (def == NULL || def->size < DEF_SIZE_ACTION || def->action == NULL)
        return NULL;
    return def->actions;
}

static const doppel_protocol_action_t *action_find(
    const doppel_protocol_def_t *def, const char *name)
{
    const doppel_protocol_action_t *a = actions_of(def);
    for (size_t i = 0; a && i < ACTIONS_MAX && a[i].name; i++)
        if (action_name_ok(a[i].name) && strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

/* [{"name", "method", "writes", "summary"}] (well-formed names only). */
static json_t *actions_json(const doppel_protocol_def_t *def)
{
    json_t *arr = json_array();
    const doppel_protocol_action_t *a = actions_of(def);
    for (size_t i = 0; arr && a && i < ACTIONS_MAX && a[i].name; i++) {
        if (!action_name_ok(a[i].name))
            continue;
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:b, s:s?}", "name", a[i].name,
                           "method", a[i].writes ? "POST" : "GET", "writes",
                           a[i].writes != 0, "summary", a[i].summary));
    }
    return arr;
}

/* A GET's query parameters as an object of strings (namespace left out);
 * NULL with *bad set on an undecodable or repeated one. */
static json_t *query_args(const admin_call_t *c, const char **bad)
{
    json_t *o = json_object();
    const char *q = c->req->query.ptr, *end = q ? q + c->req->query.len : q;
    *bad = NULL;
    while (o && q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eq ? eq : pe;
        char *k = dp_pct_decode(q, (size_t)(ke - q), 1);
        char *v = eq ? dp_pct_decode(eq + 1, (size_t)(pe - eq - 1), 1)
                     : dp_pct_decode("", 0, 1);
        if (k == NULL || v == NULL) {
            *bad = "a query parameter is not validly percent-encoded";
        } else if (k[0] != '\0' && strcmp(k, "namespace") != 0) {
            if (json_object_get(o, k) != NULL)
                *bad = "a query parameter is given twice";
            else
                json_object_set_new(o, k, json_string(v));
        }
        free(k);
        free(v);
        if (*bad) {
            json_decref(o);
            return NULL;
        }
        q = pe + 1;
    }
    return o;
}

/* GET|POST /protocols/SECTION/actions/NAME: the plugin's action for the
 * namespace; the route authorised the caller (viewer for GET, editor for
 * POST, which dispatch audits). */
void admin_protocols_action(admin_call_t *c)
{
    const char *section = c->seg[1], *name = c->seg[3], *ns = ns_of(c);
    sch_sec_t *s = reg.h ? sec_find(section) : NULL;
    const doppel_protocol_action_t *a =
        s ? action_find(s->def, name) : NULL;
    if (a == NULL) {
        admin_reply_error(c, 404, "not_found", "action",
                          s ? "section %s has no action '%.32s': GET "
                              "/api/v1/protocols/%s lists its actions"
                            : "no enabled plugin has the mock section "
                              "'%s%.0s': GET /api/v1/protocols lists them%.0s",
                          section, name, section);
        return;
    }
    int post = c->req->method.len == 4;
    if ((a->writes != 0) != post) {
        admin_reply_405(c, a->writes ? "POST" : "GET");
        return;
    }
    json_t *args = NULL;
    if (post) {
        args = c->body ? json_incref(c->body) : json_object();
    } else {
        const char *bad = NULL;
        args = query_args(c, &bad);
        if (args == NULL && bad) {
            admin_reply_error(c, 400, "validation", NULL, "%s", bad);
            return;
        }
    }
    char *txt = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (txt == NULL) {
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    char *out = NULL;
    size_t len = 0;
    int rc = s->def->action(s->sctx, SVC, dstr(ns), name, txt, strlen(txt),
                            &out, &len);
    free(txt);
    json_t *ans = NULL;
    if (rc >= 0 && out != NULL) {
        json_error_t je;
        ans = json_loadb(out, len, JSON_REJECT_DUPLICATES, &je);
    }
    SVC->free(out);
    if (rc >= 0 && (!json_is_object(ans) || rc < 200 || rc > 499 ||
                    (rc > 299 && rc < 400)))
        rc = -EPROTO;
    if (rc < 0) {
        json_decref(ans);
        dp_error(LOGC, "%s: action %s of namespace %s failed: %s", section,
                 name, ns,
                 rc == -EPROTO ? "not one JSON object with a 2xx or 4xx status"
                               : strerror(-rc));
        admin_reply_error(c, 500, "internal", "action",
                          "the plugin of section %s failed to run action %s: "
                          "%s",
                          section, name,
                          rc == -EPROTO ? "bad answer" : strerror(-rc));
        return;
    }
    if (rc >= 400 && json_object_get(ans, "code") == NULL)
        json_object_set_new(ans, "code",
                            json_string(rc == 404 ? "not_found"
                                        : rc == 409 ? "conflict"
                                                    : "validation"));
    admin_reply_json(c, rc, ans);
}

static json_t *protocol_entry(const char *section,
                              const doppel_protocol_def_t *def)
{
    const char *kind = has_schemas(def) ? def->schema_kind : NULL;
    return json_pack("{s:s, s:s?, s:b, s:o}", "section", section, "schemaKind",
                     kind, "describes", can_describe(def), "actions",
                     actions_json(def));
}

/* GET /protocols */
void admin_protocols_list(admin_call_t *c)
{
    json_t *items = json_array();
    for (size_t i = 0; i < N_BUILTIN; i++)
        json_array_append_new(items, protocol_entry(builtin_sections[i], NULL));
    for (size_t i = 0; reg.h && i < reg.n; i++) {
        const doppel_protocol_def_t *def = reg.secs[i].def;
        if (def && !is_builtin(def->section))
            json_array_append_new(items, protocol_entry(def->section, def));
    }
    admin_reply_json(c, 200, json_pack("{s:o}", "protocols", items));
}

/* GET /protocols/SECTION: what the section's schemas define for the
 * namespace, as the plugin's describe says (null without one). */
void admin_protocols_get(admin_call_t *c)
{
    const char *section = c->seg[1], *ns = ns_of(c);
    if (is_builtin(section)) {
        admin_reply_json(c, 200,
                         json_pack("{s:s, s:s, s:n, s:n, s:[]}", "section",
                                   section, "namespace", ns, "schemaKind",
                                   "defines", "actions"));
        return;
    }
    sch_sec_t *s = reg.h ? sec_find(section) : NULL;
    if (s == NULL) {
        admin_reply_error(c, 404, "not_found", "section",
                          "no enabled plugin has the mock section '%s': "
                          "enable its plugin in plugins.conf (for gRPC, "
                          "[grpc] enabled = true); GET /api/v1/protocols "
                          "lists the enabled ones",
                          section);
        return;
    }
    json_t *defines = NULL;
    if (can_describe(s->def)) {
        char *out = NULL;
        size_t len = 0;
        int rc = s->def->describe(s->sctx, SVC, dstr(ns), &out, &len);
        if (rc == 0 && out != NULL) {
            json_error_t je;
            defines = json_loadb(out, len, JSON_REJECT_DUPLICATES, &je);
            if (!json_is_object(defines)) {
                json_decref(defines);
                defines = NULL;
                rc = -EPROTO;
            }
        } else if (rc == 0) {
            rc = -EPROTO;
        }
        SVC->free(out);
        if (rc < 0) {
            dp_error(LOGC, "%s: describe of namespace %s failed: %s", section,
                     ns, rc == -EPROTO ? "not one JSON object" : strerror(-rc));
            admin_reply_error(c, 500, "internal", "section",
                              "the plugin of section %s failed to describe "
                              "namespace %s: %s",
                              section, ns,
                              rc == -EPROTO ? "not one JSON object"
                                            : strerror(-rc));
            return;
        }
    }
    const char *kind = has_schemas(s->def) ? s->def->schema_kind : NULL;
    admin_reply_json(c, 200,
                     json_pack("{s:s, s:s, s:s?, s:o?, s:o}", "section",
                               section, "namespace", ns, "schemaKind", kind,
                               "defines", defines, "actions",
                               actions_json(s->def)));
}
