/*
 * Test plugin: a protocol definition with schema files of kind "toy"
 * (ABI 1.2, protocol.h "Schema files"), for tests/integration/
 * test_admin_schemas.py.
 *
 *   - schema_put refuses a file containing "BAD" with
 *     "NAME:LINE:COL: unexpected token BAD" and accepts any other;
 *   - a line "import OTHER" (or import "OTHER";) needs OTHER in the same
 *     namespace, committed
 *     already or put in the same batch: schema_commit(ns, 1) refuses
 *     otherwise (and keeps the batch pending: the host then commits 0);
 *   - schema_delete refuses (-EBUSY) a file another file imports, naming
 *     the importers.
 *
 * GET /toy-schemas shows what the plugin holds (committed files and call
 * counters), so that a test can see what the host handed it, e.g. after a
 * restart.
 *
 * The files live in the section's shared state (svc->shared), which the
 * section callbacks reach before any copy's init (the start-up replay)
 * and every copy's HTTP mount shows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel/plugin.h"

#ifndef TOY_SECTION
#define TOY_SECTION "toy"
#define TOY_PLUGIN "schema_toy"
#define TOY_SCHEMA_KIND "toy"
#endif

#define MAX_FILES 4096

typedef struct toy_file {
    char *ns, *name, *content;
    size_t len;
    int pending; /* put since the last commit of its namespace */
} toy_file_t;

typedef struct toy {
    pthread_mutex_t mu;
    toy_file_t files[MAX_FILES]; /* committed and pending; name unique per
                                    (ns, pending) */
    size_t n;
    unsigned puts, commits, deletes;
} toy_t;

static char *dup_str(doppel_str_t s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static int str_is(const char *a, doppel_str_t b)
{
    return strlen(a) == b.len && memcmp(a, b.ptr, b.len) == 0;
}

static void file_free(toy_file_t *f)
{
    free(f->ns);
    free(f->name);
    free(f->content);
}

static void *toy_new(void *arg)
{
    (void)arg;
    toy_t *t = calloc(1, sizeof(*t));
    if (t != NULL)
        pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void toy_free(void *p)
{
    toy_t *t = p;
    for (size_t i = 0; i < t->n; i++)
        file_free(&t->files[i]);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The section's state: the same for the section callbacks and every copy. */
static toy_t *toy_of(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    return DOPPEL_HAS_SERVICE(svc, shared)
               ? svc->shared(ctx, toy_new, toy_free, NULL)
               : NULL;
}

static void file_drop(toy_t *t, size_t i)
{
    file_free(&t->files[i]);
    t->files[i] = t->files[--t->n];
}

static toy_file_t *find(toy_t *t, doppel_str_t ns, const char *name,
                        int pending)
{
    for (size_t i = 0; i < t->n; i++)
        if (str_is(t->files[i].ns, ns) && strcmp(t->files[i].name, name) == 0 &&
            t->files[i].pending == pending)
            return &t->files[i];
    return NULL;
}

/* Calls fn(arg, target) for every "import TARGET" line of content; stops
 * at a non-zero return and returns it. line receives its number. */
static int each_import(const char *content,
                       int (*fn)(void *, const char *, int), void *arg)
{
    int line = 1;
    for (const char *p = content; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > 7 && memcmp(p, "import ", 7) == 0) {
            char target[256];
            size_t tl = l - 7 < sizeof(target) - 1 ? l - 7 : sizeof(target) - 1;
            memcpy(target, p + 7, tl);
            target[tl] = '\0';
            /* "import X", or as .proto files say it: import "X"; */
            while (tl > 0 && (target[tl - 1] == ' ' || target[tl - 1] == '\r' ||
                              target[tl - 1] == ';' || target[tl - 1] == '"'))
                target[--tl] = '\0';
            const char *t = target[0] == '"' ? target + 1 : target;
            int rc = fn(arg, t, line);
            if (rc)
                return rc;
        }
        if (e == NULL)
            break;
        p = e + 1;
        line++;
    }
    return 0;
}

static int toy_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                     doppel_check_error_t *err)
{
    (void)ctx;
    (void)svc;
#ifdef TOY_SCHEMA_MOCKS
    static const char refuse[] = "\"refuse\":true";
    for (size_t i = 0; i + sizeof(refuse) - 1 <= mock->section.len; i++)
        if (memcmp(mock->section.ptr + i, refuse, sizeof(refuse) - 1) == 0) {
            snprintf(err->field, sizeof(err->field), "refuse");
            snprintf(err->message, sizeof(err->message),
                     "this section refuses mocks with refuse: true");
            return -EINVAL;
        }
#else
    (void)mock;
    (void)err;
#endif
    key->operation = (doppel_str_t){"", 0};
    key->target = (doppel_str_t){"", 0};
    key->server = (doppel_str_t){"", 0};
    key->section = (doppel_str_t){"", 0};
    key->owned_section = NULL;
    return 0;
}

static int toy_put(doppel_ctx_t *ctx, const doppel_services_t *svc,
                   doppel_str_t ns, doppel_str_t name, const uint8_t *content,
                   size_t len, doppel_check_error_t *err)
{
    toy_t *toy = toy_of(ctx, svc);
    if (toy == NULL)
        return -ENOMEM;
    const char *bad = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (memcmp(content + i, "BAD", 3) == 0) {
            bad = (const char *)content + i;
            break;
        }
    if (bad != NULL) {
        int line = 1, col = 1;
        for (const char *p = (const char *)content; p < bad; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(err->field, sizeof(err->field), "content");
        snprintf(err->message, sizeof(err->message),
                 "%.*s:%d:%d: unexpected token BAD", (int)name.len, name.ptr,
                 line, col);
        return -EINVAL;
    }
    pthread_mutex_lock(&toy->mu);
    int rc = 0;
    char *n = dup_str(name);
    toy_file_t *old = n ? find(toy, ns, n, 1) : NULL;
    toy_file_t nf = {dup_str(ns), n, malloc(len + 1), len, 1};
    if (!nf.ns || !nf.name || !nf.content ||
        (old == NULL && toy->n == MAX_FILES)) {
        file_free(&nf);
        rc = -ENOMEM;
    } else {
        memcpy(nf.content, content, len);
        nf.content[len] = '\0';
        if (old) {
            file_free(old);
            *old = nf;
        } else {
            toy->files[toy->n++] = nf;
        }
        toy->puts++;
    }
    pthread_mutex_unlock(&toy->mu);
    return rc;
}

typedef struct import_ctx {
    toy_t *toy;
    doppel_str_t ns;
    const char *from;
    doppel_check_error_t *err;
} import_ctx_t;

static int import_known(void *arg, const char *target, int line)
{
    import_ctx_t *ic = arg;
    if (find(ic->toy, ic->ns, target, 1) || find(ic->toy, ic->ns, target, 0))
        return 0;
    snprintf(ic->err->field, sizeof(ic->err->field), "content");
    snprintf(ic->err->message, sizeof(ic->err->message),
             "%s:%d:1: import \"%s\" not found", ic->from, line, target);
    return -EINVAL;
}

static int toy_commit(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      doppel_str_t ns, int keep, doppel_check_error_t *err)
{
    toy_t *toy = toy_of(ctx, svc);
    if (toy == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&toy->mu);
    int rc = 0;
    toy->commits++;
    if (keep) {
        for (size_t i = 0; rc == 0 && i < toy->n; i++) {
            toy_file_t *f = &toy->files[i];
            if (!f->pending || !str_is(f->ns, ns))
                continue;
            import_ctx_t ic = {toy, ns, f->name, err};
            rc = each_import(f->content, import_known, &ic);
        }
        if (rc < 0)
            goto out;
    }
    /* keep: the committed files the batch replaces go first; drop: the
     * batch goes. Downwards, so that the entry file_drop moves into i was
     * looked at already. */
    for (size_t i = toy->n; i-- > 0;) {
        toy_file_t *f = &toy->files[i];
        if (!str_is(f->ns, ns))
            continue;
        if (keep ? !f->pending && find(toy, ns, f->name, 1) != NULL
                 : f->pending)
            file_drop(toy, i);
    }
    for (size_t i = 0; keep && i < toy->n; i++)
        if (str_is(toy->files[i].ns, ns))
            toy->files[i].pending = 0;
out:
    pthread_mutex_unlock(&toy->mu);
    return rc;
}

typedef struct importers {
    const char *target;
    int hit;
} importers_t;

static int imports_target(void *arg, const char *target, int line)
{
    importers_t *im = arg;
    (void)line;
    if (strcmp(target, im->target) == 0)
        im->hit = 1;
    return 0;
}

static int toy_delete(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      doppel_str_t ns, doppel_str_t name,
                      doppel_check_error_t *err)
{
    toy_t *toy = toy_of(ctx, svc);
    char *n = dup_str(name);
    if (n == NULL || toy == NULL) {
        free(n);
        return -ENOMEM;
    }
    pthread_mutex_lock(&toy->mu);
    int rc = 0;
    toy_file_t *f = find(toy, ns, n, 0);
    if (f == NULL) {
        rc = -ENOENT;
        goto out;
    }
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < toy->n; i++) {
        toy_file_t *o = &toy->files[i];
        if (o->pending || !str_is(o->ns, ns) || o == f)
            continue;
        importers_t im = {n, 0};
        each_import(o->content, imports_target, &im);
        if (im.hit && used + strlen(o->name) + 3 < sizeof(list))
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                     used ? ", " : "", o->name);
    }
    if (used > 0) {
        snprintf(err->field, sizeof(err->field), "name");
        snprintf(err->message, sizeof(err->message), "%s is imported by %s", n,
                 list);
        rc = -EBUSY;
        goto out;
    }
    file_drop(toy, (size_t)(f - toy->files));
    toy->deletes++;
out:
    pthread_mutex_unlock(&toy->mu);
    free(n);
    return rc;
}

/* ---- GET /toy-schemas -----------------------------------------------------
 */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put_bytes(buf_t *b, const char *s, size_t n)
{
    if (b->p == NULL)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            free(b->p);
            b->p = NULL;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_json_str(buf_t *b, const char *s)
{
    put_bytes(b, "\"", 1);
    for (; *s; s++) {
        char esc[8];
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put_bytes(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put_bytes(b, esc, 6);
        } else {
            put_bytes(b, s, 1);
        }
    }
    put_bytes(b, "\"", 1);
}

typedef struct state {
    const doppel_services_t *svc;
    toy_t *toy;
} state_t;

static int report(void *p, doppel_http_exchange_t *ex,
                  const doppel_http_request_t *req)
{
    state_t *st = p;
    (void)req;
    buf_t b = {malloc(256), 0, 256};
    char num[128];
    toy_t *toy = st->toy;
    pthread_mutex_lock(&toy->mu);
    snprintf(num, sizeof(num),
             "{\"puts\":%u,\"commits\":%u,\"deletes\":%u,\"files\":{",
             toy->puts, toy->commits, toy->deletes);
    put_bytes(&b, num, strlen(num));
    int first = 1;
    for (size_t i = 0; i < toy->n; i++) {
        const toy_file_t *f = &toy->files[i];
        if (f->pending)
            continue;
        char key[600];
        snprintf(key, sizeof(key), "%s/%s", f->ns, f->name);
        if (!first)
            put_bytes(&b, ",", 1);
        first = 0;
        put_json_str(&b, key);
        put_bytes(&b, ":", 1);
        put_json_str(&b, f->content);
    }
    pthread_mutex_unlock(&toy->mu);
    put_bytes(&b, "}}", 2);
    doppel_kv_t ct = {DOPPEL_STR("Content-Type"),
                      DOPPEL_STR("application/json")};
    if (b.p == NULL)
        return -ENOMEM;
    st->svc->http_respond(ex, 200, &ct, 1, b.p, b.len);
    free(b.p);
    return 0;
}

static int init(doppel_ctx_t *ctx, const doppel_services_t *svc, void **out)
{
    state_t *st = svc->alloc(sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->svc = svc;
    st->toy = toy_of(ctx, svc);
    if (st->toy == NULL) {
        svc->free(st);
        return -ENOMEM;
    }
    doppel_http_mount_t m = {
        sizeof(m), "/" TOY_SECTION "-schemas", NULL, report, st, 0};
    int rc = svc->http_mount(ctx, &m);
    if (rc < 0) {
        svc->free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void destroy(void *p)
{
    state_t *st = p;
    st->svc->free(st);
}

static const char *const body_conditions[] = {"conditions", NULL};

#ifdef TOY_DESCRIBE
/* describe (section_describe.c, section_olddef.c): {"namespace": NS,
 * "files": [committed names, in put order]}, except for namespace
 * "describe-fails" (-EIO) and "describe-garbage" (not JSON). */
static int toy_describe(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        doppel_str_t ns, char **out, size_t *out_len)
{
#ifdef TOY_DESCRIBE_ABORTS
    /* a host must not call a member its def's size does not cover */
    abort();
#endif
    *out = NULL;
    *out_len = 0;
    if (str_is("describe-fails", ns))
        return -EIO;
    toy_t *t = toy_of(ctx, svc);
    if (t == NULL)
        return -ENOMEM;
    size_t cap = 64 + ns.len, len = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++)
        cap += strlen(t->files[i].name) + 3;
    char *b = svc->alloc(cap);
    if (b == NULL) {
        pthread_mutex_unlock(&t->mu);
        return -ENOMEM;
    }
    if (str_is("describe-garbage", ns)) {
        len = (size_t)snprintf(b, cap, "{\"files\": [");
    } else {
        /* names are [A-Za-z0-9._/-], the namespace [A-Za-z0-9._-]: no
         * escaping needed */
        len = (size_t)snprintf(b, cap, "{\"namespace\":\"%.*s\",\"files\":[",
                               (int)ns.len, ns.ptr);
        int first = 1;
        for (size_t i = 0; i < t->n; i++) {
            if (t->files[i].pending || !str_is(t->files[i].ns, ns))
                continue;
            len += (size_t)snprintf(b + len, cap - len, "%s\"%s\"",
                                    first ? "" : ",", t->files[i].name);
            first = 0;
        }
        len += (size_t)snprintf(b + len, cap - len, "]}");
    }
    pthread_mutex_unlock(&t->mu);
    *out = b;
    *out_len = len;
    return 0;
}
#endif

#ifdef TOY_SCHEMA_MOCKS
/* schema_mocks (section_mocks.c): one mock per line "mock ID" of the
 * committed file, {"id": ID, SECTION: {"file": NAME}, "response":
 * {"payload": {"file": NAME, "id": ID}}}; a line "mock-refused ID" gives a
 * mock whose section the check refuses ({"refuse": true}); a line
 * "mocks-fail" makes the call fail (-EIO), "mocks-garbage" answer text
 * that is not JSON. IDs and names need no JSON escaping in the tests. */
static int toy_schema_mocks(doppel_ctx_t *ctx, const doppel_services_t *svc,
                            doppel_str_t ns, doppel_str_t name, char **out,
                            size_t *out_len)
{
#ifdef TOY_SCHEMA_MOCKS_ABORTS
    /* a host must not call a member its def's size does not cover */
    abort();
#endif
    *out = NULL;
    *out_len = 0;
    toy_t *t = toy_of(ctx, svc);
    char *n = dup_str(name);
    if (t == NULL || n == NULL) {
        free(n);
        return -ENOMEM;
    }
    pthread_mutex_lock(&t->mu);
    toy_file_t *f = find(t, ns, n, 0);
    int rc = 0;
    buf_t b = {malloc(256), 0, 256};
    put_bytes(&b, "[", 1);
    int first = 1;
    for (const char *p = f ? f->content : ""; rc == 0 && *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char line[300];
        snprintf(line, sizeof(line), "%.*s", (int)(l < 299 ? l : 299), p);
        if (strcmp(line, "mocks-fail") == 0) {
            rc = -EIO;
        } else if (strcmp(line, "mocks-garbage") == 0) {
            put_bytes(&b, "{not json", 9);
        } else if (strncmp(line, "mock ", 5) == 0 ||
                   strncmp(line, "mock-refused ", 13) == 0) {
            int refused = line[4] == '-';
            const char *id = line + (refused ? 13 : 5);
            char m[1024];
            snprintf(m, sizeof(m),
                     "%s{\"id\":\"%s\",\"%s\":{\"file\":\"%s\"%s},"
                     "\"response\":{\"payload\":{\"file\":\"%s\","
                     "\"id\":\"%s\"}}}",
                     first ? "" : ",", id, TOY_SECTION, n,
                     refused ? ",\"refuse\":true" : "", n, id);
            put_bytes(&b, m, strlen(m));
            first = 0;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    pthread_mutex_unlock(&t->mu);
    put_bytes(&b, "]", 1);
    free(n);
    if (rc < 0 || b.p == NULL) {
        free(b.p);
        return rc < 0 ? rc : -ENOMEM;
    }
    char *o = svc->alloc(b.len + 1);
    if (o == NULL) {
        free(b.p);
        return -ENOMEM;
    }
    memcpy(o, b.p, b.len + 1);
    free(b.p);
    *out = o;
    *out_len = b.len;
    return 0;
}
#endif

#ifndef TOY_DEF_SIZE
#define TOY_DEF_SIZE sizeof(doppel_protocol_def_t)
#endif

static const doppel_protocol_def_t toy_def = {
    .size = TOY_DEF_SIZE,
    .section = TOY_SECTION,
    .body_conditions = body_conditions,
    .status_min = 0,
    .status_max = 16,
    .status_default = 0,
    .check = toy_check,
    .schema_kind = TOY_SCHEMA_KIND,
    .schema_put = toy_put,
    .schema_commit = toy_commit,
    .schema_delete = toy_delete,
#ifdef TOY_DESCRIBE
    .describe = toy_describe,
#endif
#ifdef TOY_SCHEMA_MOCKS
    .schema_mocks = toy_schema_mocks,
#endif
};

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = TOY_PLUGIN,
    .version = "test",
    .summary = "a protocol section with toy schema files (tests)",
    .kind = DOPPEL_KIND_PROTOCOL,
    .init = init,
    .destroy = destroy,
    .protocol = &toy_def,
};

DOPPEL_PLUGIN_DEFINE(desc)
