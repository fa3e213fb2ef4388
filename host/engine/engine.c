/*
 * The engine: lifecycle, the mock table and its writes, stores through the
 * admin API, journal access, reset, flush.
 *
 * Every write runs under the writer mutex wmu in the same order: compile
 * (no side effect) -> change the mock table -> build the new index ->
 * persist through storage -> publish the index. A failure at any step rolls
 * the table back and frees the new index, so a rejected or failed write
 * changes nothing. Admin reads (get, list, stores) also take wmu because the
 * JSON text of a mock is writer-owned; the request path never does.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"
#include "engine_internal.h"

#define LOGC "engine"

void dp_engine_cfg_default(dp_engine_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->journal_size = 10000;
    c->unmatched_size = 10000;
    c->journal_body_max = 4096;
    c->seed = 0;
    c->default_mode = DP_MODE_SPY;
    c->record_body_max = 1024 * 1024;
    c->record_sequence_max = 100;
    c->coverage_miss_max = 1000;
    c->store_value_max = 1024 * 1024;
    c->store_total_max = 64 * 1024 * 1024;
    c->response_max = 16 * 1024 * 1024;
    c->journal_bytes_max = 64 * 1024 * 1024;
    c->redact_headers = NULL;
    c->tfile_max = 1024 * 1024;
    c->mock_versions_max = 20;
}

/* The writer of this thread's writes (see dp_engine_set_actor). */
static _Thread_local const char *tl_actor;

void dp_engine_set_actor(const char *who)
{
    tl_actor = who && *who ? who : NULL;
}

int64_t dp_engine_now(dp_engine_t *e)
{
    if (e->clock)
        return e->clock(e->clock_ud);
    return (int64_t)time(NULL);
}

void dp_engine_set_clock(dp_engine_t *e, int64_t (*clock)(void *ud), void *ud)
{
    pthread_mutex_lock(&e->wmu);
    e->clock = clock;
    e->clock_ud = ud;
    pthread_mutex_unlock(&e->wmu);
}

static int oom(dp_err_t *err)
{
    dp_err_set(err, 500, "internal", "", "out of memory");
    return -ENOMEM;
}

static int storage_failed(dp_err_t *err, int rc)
{
    dp_err_set(err, 500, "internal", "", "storage write failed: %s",
               strerror(rc < 0 ? -rc : rc));
    return rc < 0 ? rc : -EIO;
}

/* ---- one transaction per write, with its audit rows ------------------ */

static _Thread_local dp_engine_audit_t *tl_audit;

void dp_engine_audit_begin(dp_engine_audit_t *a)
{
    if (a != NULL)
        a->written = 0;
    tl_audit = a;
}

void dp_engine_audit_end(void)
{
    tl_audit = NULL;
}

/* Opens the transaction of one write (under wmu): the storage calls up to
 * tx_end commit together, with this thread's audit row if any. A back end
 * that cannot group runs each call in its own transaction. */
static int tx_begin(dp_engine_t *e, dp_err_t *err)
{
    if (e->st->ops->group_begin == NULL)
        return 0;
    int rc = e->st->ops->group_begin(e->st);
    return rc < 0 ? storage_failed(err, rc) : 0;
}

/* Ends it: rc is the first storage error of the write (0: none). Adds the
 * audit row, commits or rolls back, and fills err on failure. Returns 0
 * when everything (with the audit row) is committed. */
static int tx_end(dp_engine_t *e, int rc, dp_err_t *err)
{
    const dp_storage_ops_t *o = e->st->ops;
    if (o->group_begin == NULL)
        return rc < 0 ? storage_failed(err, rc) : 0;
    dp_engine_audit_t *a = tl_audit;
    int audited = 0, arc = 0;
    if (rc == 0 && a != NULL && !a->written && o->audit_put != NULL) {
        for (size_t i = 0; arc == 0 && i < a->n_rows; i++)
            arc = o->audit_put(e->st, &a->rows[i], a->keep);
        if (arc < 0)
            rc = arc;
        else
            audited = 1;
    }
    int grc = o->group_end(e->st, rc);
    if (arc < 0) {
        dp_err_set(err, 500, "internal", "",
                   "audit write failed (%s): nothing was changed",
                   strerror(-arc));
        dp_error(LOGC, "audit write failed (%s): %s; rolled back",
                 a->rows[0].action, strerror(-arc));
        return arc;
    }
    if (grc < 0)
        return storage_failed(err, grc);
    if (audited)
        a->written = 1;
    return 0;
}

int dp_engine_storage_tx(dp_engine_t *e, dp_engine_storage_fn fn, void *arg,
                         dp_err_t *err)
{
    if (e == NULL || fn == NULL)
        return -EINVAL;
    pthread_mutex_lock(&e->wmu);
    int rc = tx_begin(e, err);
    if (rc == 0)
        rc = tx_end(e, fn(e->st, arg), err);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- views of a mock ------------------------------------------------------ */

static void set_time(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, v ? json_integer(v) : json_null());
}

/* The stored object of text txt (m's JSON text, writer side or a reader's
 * reference) with the runtime fields as of now. */
static json_t *stored_obj_of(const dp_mock_t *m, const char *txt)
{
    json_t *o = json_loads(txt, 0, NULL);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "useCounter",
                        json_integer(atomic_load(&m->use_counter)));
    set_time(o, "lastUse", atomic_load(&m->last_use));
    set_time(o, "closedAt", atomic_load(&m->closed_at));
    return o;
}

/* The same, writer side (under wmu, so m->json stays put). */
static json_t *stored_obj(const dp_mock_t *m)
{
    return stored_obj_of(m, m->json);
}

/* A reference to m's JSON text, for a reader that does not hold wmu. */
static char *json_ref(dp_engine_t *e, const dp_mock_t *m)
{
    pthread_mutex_lock(&e->jmu);
    char *t = dp_jtext_ref(m->json);
    pthread_mutex_unlock(&e->jmu);
    return t;
}

/* Writer side (under wmu): publishes txt as m's JSON text and returns the
 * text it replaces (the caller unrefs it). */
static char *json_swap(dp_engine_t *e, dp_mock_t *m, char *txt)
{
    pthread_mutex_lock(&e->jmu);
    char *old = m->json;
    m->json = txt;
    pthread_mutex_unlock(&e->jmu);
    return old;
}

/* What reads return: the stored object plus the "_meta" mirror. txt: m's
 * JSON text (see stored_obj_of). */
static json_t *view_of(const dp_mock_t *m, const char *txt)
{
    json_t *o = stored_obj_of(m, txt);
    if (o == NULL)
        return NULL;
    json_t *meta = json_object();
    static const char *const f[] = {"createdAt", "lastUse", "expireAt",
                                    "closedAt", "useCounter", NULL};
    for (size_t i = 0; meta && f[i]; i++) {
        json_t *v = json_object_get(o, f[i]);
        json_object_set(meta, f[i], v ? v : json_null());
    }
    json_object_set_new(o, "_meta", meta);
    return o;
}

/* Writer side. */
static json_t *read_view(const dp_mock_t *m)
{
    return view_of(m, m->json);
}

/* Reader side, without wmu. */
static json_t *read_view_shared(dp_engine_t *e, const dp_mock_t *m)
{
    char *t = json_ref(e, m);
    json_t *o = view_of(m, t);
    dp_jtext_unref(t);
    return o;
}

/* The JSON text of m with its runtime state (a dp_jtext), NULL on ENOMEM. */
static char *json_now(const dp_mock_t *m)
{
    json_t *o = stored_obj(m);
    char *txt = o ? dp_jtext_take(json_dumps(o, JSON_COMPACT)) : NULL;
    json_decref(o);
    return txt;
}

/* Rewrites m->json from its runtime state (under wmu); 0 or -ENOMEM. */
static int refresh_json(dp_engine_t *e, dp_mock_t *m)
{
    char *txt = json_now(m);
    if (txt == NULL)
        return -ENOMEM;
    dp_jtext_unref(json_swap(e, m, txt));
    return 0;
}

/* ---- change notifications ------------------------------------------------- */

void dp_engine_set_listener(dp_engine_t *e, const dp_engine_listener_t *l)
{
    if (l)
        e->listener = *l;
    else
        memset(&e->listener, 0, sizeof(e->listener));
}

void dp_engine_mock_changed(dp_engine_t *e, const char *ns, const char *id,
                            unsigned change)
{
    if (e->listener.mock_changed)
        e->listener.mock_changed(e->listener.ud, ns, id, change);
}

void dp_engine_store_changed(dp_engine_t *e, const char *ns,
                             const char *scope, const char *key)
{
    if (e->listener.store_changed)
        e->listener.store_changed(e->listener.ud, ns, scope, key);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* A usage row is newer than the counters in the mock's JSON. */
static int load_usage(void *arg, const dp_mock_usage_t *u)
{
    dp_engine_t *e = arg;
    dp_mock_t *m = dp_smap_get(&e->mocks, u->id);
    if (m != NULL) {
        atomic_store(&m->use_counter, u->use_counter);
        atomic_store(&m->last_use, u->last_use);
    }
    return 0;
}

/* The newest kept version of a mock numbers its next write. */
static int load_version_head(void *arg, const dp_mock_version_t *v)
{
    dp_engine_t *e = arg;
    dp_mock_t *m = dp_smap_get(&e->mocks, v->id);
    if (m != NULL)
        m->version = v->version;
    return 0;
}

typedef struct loadctx {
    dp_engine_t *e;
    dp_mock_t **arr;
    size_t n, cap;
} loadctx_t;

static int load_mock(void *arg, const dp_stored_mock_t *sm)
{
    loadctx_t *lc = arg;
    json_t *o = sm->json ? json_loads(sm->json, 0, NULL) : NULL;
    dp_err_t err = {0};
    dp_mock_t *m = NULL;
    if (o == NULL || dp_model_compile_stored(
                                 lc->e->protos, o, &lc->e->tfiles,
                                 DP_COMPILE_DORMANT | DP_COMPILE_KEEP_REFUSED,
                                 &m, &err) < 0) {
        /* a mock this build cannot compile is kept in storage, not served */
        dp_warn(LOGC, "skipping stored mock %s: %s%s%s", sm->id,
                err.field[0] ? err.field : "", err.field[0] ? ": " : "",
                o ? err.message : "invalid JSON");
        json_decref(o);
        return 0;
    }
    json_decref(o);
    if (lc->n == lc->cap) {
        size_t nc = lc->cap ? lc->cap * 2 : 64;
        dp_mock_t **na = realloc(lc->arr, nc * sizeof(*na));
        if (na == NULL) {
            dp_mock_unref(m);
            return -ENOMEM;
        }
        lc->arr = na;
        lc->cap = nc;
    }
    lc->arr[lc->n++] = m;
    return 0;
}

static int load_store(void *arg, const dp_store_entry_t *se)
{
    dp_engine_t *e = arg;
    json_t *v = se->json ? json_loads(se->json, JSON_DECODE_ANY, NULL) : NULL;
    if (v == NULL) {
        dp_warn(LOGC, "skipping store entry %s/%s/%s: invalid JSON", se->ns,
                se->scope, se->key);
        return 0;
    }
    return dp_stores_set(e->stores, se->ns, se->scope, se->key, v, 0);
}

static int by_created(const void *a, const void *b)
{
    const dp_mock_t *x = *(dp_mock_t *const *)a;
    const dp_mock_t *y = *(dp_mock_t *const *)b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Splits cfg.redact_headers ("X-Token, X-Secret") into e->redact. */
static int parse_redact(dp_engine_t *e, const char *list)
{
    if (list == NULL)
        return 0;
    char *copy = strdup(list);
    if (copy == NULL)
        return -ENOMEM;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    e->redact = calloc(cap, sizeof(char *));
    if (e->redact == NULL) {
        free(copy);
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t l = strlen(t);
        while (l && (t[l - 1] == ' ' || t[l - 1] == '\t'))
            t[--l] = '\0';
        if (l == 0)
            continue;
        for (size_t i = 0; i < l; i++)
            t[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] - 'A' + 'a' : t[i]);
        if ((e->redact[e->n_redact] = strdup(t)) == NULL) {
            free(copy);
            return -ENOMEM;
        }
        e->n_redact++;
    }
    free(copy);
    return 0;
}

static void engine_free(dp_engine_t *e)
{
    dp_rr_snap_free(atomic_load(&e->rr));
    json_decref(e->rr_conf);
    json_decref(e->cov_miss);
    json_decref(e->tags);
    json_decref(e->folders);
    for (size_t i = 0; i < e->n_redact; i++)
        free(e->redact[i]);
    free(e->redact);
    pthread_mutex_destroy(&e->rmu);
    pthread_mutex_destroy(&e->cov_mu);
    dp_index_free(atomic_load(&e->cur));
    DP_SMAP_FOREACH(&e->mocks, i)
    dp_mock_unref(e->mocks.ents[i].val);
    dp_smap_free(&e->mocks);
    DP_SMAP_FOREACH(&e->tfiles, i)
    dp_tfile_free(e->tfiles.ents[i].val);
    dp_smap_free(&e->tfiles);
    dp_stores_free(e->stores);
    dp_ring_destroy(&e->journal);
    dp_ring_destroy(&e->unmatched);
    if (e->st)
        e->st->ops->close(e->st);
    pthread_mutex_destroy(&e->wmu);
    pthread_mutex_destroy(&e->jmu);
    free(e);
}

int dp_engine_open(const dp_engine_cfg_t *cfg, dp_storage_t *st,
                   dp_engine_t **out, dp_err_t *err)
{
    *out = NULL;
    dp_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        if (st)
            st->ops->close(st);
        return oom(err);
    }
    e->st = st;
    pthread_mutex_init(&e->wmu, NULL);
    pthread_mutex_init(&e->jmu, NULL);
    pthread_mutex_init(&e->rmu, NULL);
    pthread_mutex_init(&e->cov_mu, NULL);
    if (cfg)
        e->cfg = *cfg;
    else
        dp_engine_cfg_default(&e->cfg);
    e->protos = e->cfg.protos ? e->cfg.protos : dp_protos_builtin();
    dp_engine_cfg_t def;
    dp_engine_cfg_default(&def);
    if (e->cfg.journal_size == 0)
        e->cfg.journal_size = def.journal_size;
    if (e->cfg.unmatched_size == 0)
        e->cfg.unmatched_size = def.unmatched_size;
    if (e->cfg.default_mode < DP_MODE_PASSTHROUGH ||
        e->cfg.default_mode > DP_MODE_SPY)
        e->cfg.default_mode = def.default_mode;
    if (e->cfg.record_body_max == 0)
        e->cfg.record_body_max = def.record_body_max;
    if (e->cfg.record_sequence_max == 0)
        e->cfg.record_sequence_max = def.record_sequence_max;
    if (e->cfg.coverage_miss_max == 0)
        e->cfg.coverage_miss_max = def.coverage_miss_max;
    if (e->cfg.store_value_max == 0)
        e->cfg.store_value_max = def.store_value_max;
    if (e->cfg.store_total_max == 0)
        e->cfg.store_total_max = def.store_total_max;
    if (e->cfg.response_max == 0)
        e->cfg.response_max = def.response_max;
    if (e->cfg.tfile_max == 0)
        e->cfg.tfile_max = def.tfile_max;
    if (e->cfg.journal_bytes_max == 0)
        e->cfg.journal_bytes_max = def.journal_bytes_max;
    e->cfg.redact_headers = NULL; /* borrowed: parsed below, not kept */
    if (e->cfg.mock_versions_max < 0)
        e->cfg.mock_versions_max = 0;
    if (e->cfg.mock_versions_max > 1000)
        e->cfg.mock_versions_max = 1000;
    e->versions_max =
        st && st->ops->versions_load && st->ops->mocks_put_versions
            ? (unsigned)e->cfg.mock_versions_max
            : 0;
    uint64_t seed = e->cfg.seed;
    if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
    atomic_init(&e->rng_seed, seed ? seed : 1);
    if (st == NULL) {
        engine_free(e);
        dp_err_set(err, 500, "internal", "", "no storage");
        return -EINVAL;
    }
    e->stores =
        dp_stores_new(e->cfg.store_value_max, e->cfg.store_total_max);
    e->rr_conf = json_object();
    e->cov_miss = json_object();
    e->tags = json_object();
    e->folders = json_object();
    if (!e->rr_conf || !e->cov_miss || !e->tags || !e->folders ||
        parse_redact(e, cfg ? cfg->redact_headers : NULL) < 0) {
        engine_free(e);
        return oom(err);
    }
    if (!e->stores ||
        dp_ring_init(&e->journal, e->cfg.journal_size,
                     e->cfg.journal_bytes_max) < 0 ||
        dp_ring_init(&e->unmatched, e->cfg.unmatched_size,
                     e->cfg.journal_bytes_max) < 0) {
        engine_free(e);
        return oom(err);
    }
    loadctx_t lc = {e, NULL, 0, 0};
    /* the template files first: mocks compile with them */
    int rc = st->ops->tfiles_load ? st->ops->tfiles_load(st, dp_tfile_load, e)
                                  : 0;
    if (rc == 0)
        rc = st->ops->mocks_load(st, load_mock, &lc);
    if (rc == 0) {
        if (lc.n > 1)
            qsort(lc.arr, lc.n, sizeof(*lc.arr), by_created);
        for (size_t i = 0; i < lc.n; i++) {
            lc.arr[i]->seq = ++e->next_seq;
            dp_mock_t *old = NULL;
            if (dp_smap_put(&e->mocks, lc.arr[i]->id, lc.arr[i],
                            (void **)&old) < 0) {
                rc = -ENOMEM;
                dp_mock_unref(lc.arr[i]);
                for (size_t k = i + 1; k < lc.n; k++)
                    dp_mock_unref(lc.arr[k]);
                break;
            }
            dp_mock_unref(old);
        }
    } else {
        for (size_t i = 0; i < lc.n; i++)
            dp_mock_unref(lc.arr[i]);
    }
    free(lc.arr);
    if (rc == 0 && st->ops->usage_load)
        rc = st->ops->usage_load(st, load_usage, e);
    if (rc == 0 && st->ops->versions_load)
        rc = st->ops->versions_load(st, NULL, load_version_head, e);
    if (rc == 0)
        rc = st->ops->store_load(st, load_store, e);
    if (rc == 0)
        rc = dp_rr_load(e);
    if (rc != 0) {
        engine_free(e);
        dp_err_set(err, 500, "internal", "", "loading from storage failed: %s",
                   strerror(rc < 0 ? -rc : EIO));
        return rc < 0 ? rc : -EIO;
    }
    dp_index_t *ix = dp_index_from_table(e);
    if (ix == NULL) {
        engine_free(e);
        return oom(err);
    }
    atomic_store(&e->cur, ix);
    if (e->mocks.n)
        dp_info(LOGC, "loaded %zu mocks from %s storage", e->mocks.n,
                st->ops->name);
    *out = e;
    return 0;
}

void dp_engine_close(dp_engine_t *e)
{
    if (e == NULL)
        return;
    e->flush_all = 1; /* everything, whatever its turn */
    int rc = dp_engine_flush(e);
    if (rc < 0)
        dp_error(LOGC, "final flush failed: %s", strerror(-rc));
    engine_free(e);
}

int dp_engine_flush(dp_engine_t *e)
{
    int rc = 0;
    pthread_mutex_lock(&e->wmu);
    /* counters and lastUse: usage rows (cheap upserts, one transaction),
     * or, for a back end without them, the mocks' JSON rewritten */
    size_t n = 0;
    size_t cap = e->mocks.n ? e->mocks.n : 1;
    dp_stored_mock_t *sm = malloc(cap * sizeof(*sm));
    dp_mock_usage_t *us = malloc(cap * sizeof(*us));
    dp_mock_t **dm = malloc(cap * sizeof(*dm));
    if (sm == NULL || us == NULL || dm == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    int by_usage = e->st->ops->usage_put != NULL;
    /* Counters of mocks with a useLimiter gate matching: written every
     * flush (a crash loses at most a second of uses). The others are
     * informational (useCounter, lastUse): written every
     * DP_USAGE_FLUSH_EVERY flushes and at close, so thousands of busy mocks
     * do not cost thousands of writes a second. */
    int all = e->flush_all || e->flushes++ % DP_USAGE_FLUSH_EVERY == 0;
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        dp_mock_t *m = e->mocks.ents[i].val;
        if (!all && m->use_limit == 0)
            continue;
        if (!atomic_exchange(&m->dirty, 0))
            continue;
        if (by_usage) {
            us[n] = (dp_mock_usage_t){m->id, atomic_load(&m->use_counter),
                                      atomic_load(&m->last_use)};
        } else if (refresh_json(e, m) < 0) {
            atomic_store(&m->dirty, 1);
            continue;
        } else {
            sm[n] = (dp_stored_mock_t){m->id, m->ns, m->json};
        }
        dm[n++] = m;
    }
    if (n) {
        rc = by_usage ? e->st->ops->usage_put(e->st, us, n)
                      : e->st->ops->mocks_put(e->st, sm, n);
        if (rc < 0)
            for (size_t i = 0; i < n; i++)
                atomic_store(&dm[i]->dirty, 1);
    }
    /* request-driven store changes */
    json_t *d = dp_stores_take_dirty(e->stores);
    size_t nd = json_array_size(d);
    if (nd) {
        dp_store_entry_t *se = calloc(nd, sizeof(*se));
        char **txt = calloc(nd, sizeof(char *));
        int src = (se && txt) ? 0 : -ENOMEM;
        for (size_t i = 0; src == 0 && i < nd; i++) {
            json_t *it = json_array_get(d, i);
            json_t *v = json_array_get(it, 3);
            if (v)
                txt[i] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (v && txt[i] == NULL)
                src = -ENOMEM;
            se[i] = (dp_store_entry_t){
                json_string_value(json_array_get(it, 0)),
                json_string_value(json_array_get(it, 1)),
                json_string_value(json_array_get(it, 2)), txt[i]};
        }
        if (src == 0)
            src = e->st->ops->store_put(e->st, se, nd);
        if (src < 0) {
            dp_stores_remark(e->stores, d);
            rc = src;
        }
        for (size_t i = 0; txt && i < nd; i++)
            free(txt[i]);
        free(txt);
        free(se);
    }
    json_decref(d);
out:
    free(sm);
    free(us);
    free(dm);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- writes ------------------------------------------------------------- */

typedef struct undo {
    char *id;
    dp_mock_t *old; /* NULL: the id was new */
} undo_t;

static void prefix_err(dp_err_t *err, size_t i)
{
    if (err == NULL)
        return;
    char f[sizeof(err->field) + 32];
    if (err->field[0])
        snprintf(f, sizeof(f), "[%zu].%s", i, err->field);
    else
        snprintf(f, sizeof(f), "[%zu]", i);
    size_t l = strlen(f);
    if (l >= sizeof(err->field))
        l = sizeof(err->field) - 1;
    memcpy(err->field, f, l);
    err->field[l] = '\0';
}

/* Writes the initial mock stores (mStore) of the given mocks: in storage
 * (one transaction) and then in memory. Replaces a mock store wholesale. */
static int mstore_entries(dp_engine_t *e, json_t *const *norm, size_t n,
                          json_t **rows_out)
{
    /* rows: [ns, scope, key, valuetext-or-null] */
    json_t *rows = json_array();
    if (rows == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *ms = json_object_get(norm[i], "mStore");
        if (!json_is_object(ms))
            continue;
        const char *ns = json_string_value(json_object_get(norm[i], "namespace"));
        char sc[200];
        dp_scope_name(sc, sizeof(sc), 'm',
                      json_string_value(json_object_get(norm[i], "id")));
        json_t *keys = dp_stores_keys(e->stores, ns, sc);
        size_t k;
        json_t *it;
        json_array_foreach(keys, k, it)
        {
            const char *key = json_string_value(json_array_get(it, 2));
            if (json_object_get(ms, key) == NULL)
                json_array_append_new(rows, json_pack("[sssn]", ns, sc, key));
        }
        json_decref(keys);
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)ms, key, v)
        {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (t == NULL) {
                json_decref(rows);
                return -ENOMEM;
            }
            json_array_append_new(rows, json_pack("[ssss]", ns, sc, key, t));
            free(t);
        }
    }
    *rows_out = rows;
    return 0;
}

static int persist_store_rows(dp_engine_t *e, const json_t *rows)
{
    size_t n = json_array_size(rows);
    if (n == 0)
        return 0;
    dp_store_entry_t *se = calloc(n, sizeof(*se));
    if (se == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i);
        se[i] = (dp_store_entry_t){json_string_value(json_array_get(r, 0)),
                                   json_string_value(json_array_get(r, 1)),
                                   json_string_value(json_array_get(r, 2)),
                                   json_string_value(json_array_get(r, 3))};
    }
    int rc = e->st->ops->store_put(e->st, se, n);
    free(se);
    return rc;
}

static void apply_store_rows(dp_engine_t *e, const json_t *rows)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *ns = json_string_value(json_array_get(r, 0));
        const char *sc = json_string_value(json_array_get(r, 1));
        const char *key = json_string_value(json_array_get(r, 2));
        const char *t = json_string_value(json_array_get(r, 3));
        if (t)
            dp_stores_set(e->stores, ns, sc, key,
                          json_loads(t, JSON_DECODE_ANY, NULL), 0);
        else
            dp_stores_del(e->stores, ns, sc, key);
    }
}

/* What a mock stored before versions were kept gets as version 1. */
#define PRE_VERSION_SUMMARY "as stored before versions were kept"

/* Numbers the version one write of m keeps (old: its previous form,
 * NULL for a new id; old_json the stored JSON of that form; json the
 * stored JSON m is written with, which may not be m->json yet: a close
 * swaps it in only once committed) and fills its version rows into v: one
 * of the old form first when it has none (a mock stored before versions
 * were kept). Returns the rows used (0 to 2). The rows borrow the strings
 * until the put. Caller holds wmu; rolls m->version back itself on
 * failure. */
static size_t version_rows(dp_engine_t *e, dp_mock_t *m, const dp_mock_t *old,
                           const char *old_json, const char *json,
                           const char *summary, dp_mock_version_t *v)
{
    if (e->versions_max == 0)
        return 0;
    size_t k = 0;
    int64_t prev = old ? old->version : 0;
    if (old && prev == 0) {
        v[k++] = (dp_mock_version_t){.id = old->id,
                                     .version = 1,
                                     .ns = old->ns,
                                     .json = old_json,
                                     .summary = PRE_VERSION_SUMMARY};
        prev = 1;
    }
    m->version = prev + 1;
    v[k++] = (dp_mock_version_t){.id = m->id,
                                 .version = m->version,
                                 .ns = m->ns,
                                 .json = json,
                                 .who = tl_actor,
                                 .summary = summary};
    return k;
}

/* One storage transaction: the mocks and their versions. */
static int put_with_versions(dp_engine_t *e, const dp_stored_mock_t *sm,
                             size_t n, const dp_mock_version_t *v, size_t nv)
{
    if (nv == 0)
        return e->st->ops->mocks_put(e->st, sm, n);
    return e->st->ops->mocks_put_versions(e->st, sm, n, v, nv, e->versions_max);
}

/* 1 when this thread's admin call declared (by an audit row) that it may
 * write namespace ns, or when no admin call is on this thread. */
static int audit_covers(const char *ns)
{
    const dp_engine_audit_t *a = tl_audit;
    if (a == NULL)
        return 1;
    for (size_t i = 0; i < a->n_rows; i++)
        if (a->rows[i].ns != NULL && strcmp(a->rows[i].ns, ns) == 0)
            return 1;
    return 0;
}

/* The admin API authorises a write by id before calling the engine, and
 * names every namespace it may touch in the call's audit rows. An id can
 * move to another namespace between that check and this write (another
 * call created it there meanwhile): replacing it now would touch a
 * namespace nobody authorised. Checked under wmu, before any change;
 * -EACCES (403 forbidden, field "[i]") for the first such mock. */
static int check_reach(dp_engine_t *e, dp_mock_t **cm, size_t n, dp_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const dp_mock_t *old = dp_smap_get(&e->mocks, cm[i]->id);
        if (old != NULL && strcmp(old->ns, cm[i]->ns) != 0 &&
            !audit_covers(old->ns)) {
            char f[32];
            snprintf(f, sizeof(f), "[%zu]", i);
            dp_err_set(err, 403, "forbidden", f,
                       "the mock's id lives in a namespace this call may not "
                       "write");
            return -EACCES;
        }
    }
    return 0;
}

/* Compiled mocks cm[0..n) (with their normalised objects) replace or join
 * the table; all or nothing. Takes the references in cm. summary: what
 * the kept versions say (NULL: "created" or "replaced"). The mocks, their
 * store rows, their versions and the call's audit row: one transaction. */
static int commit_mocks(dp_engine_t *e, dp_mock_t **cm, json_t **norm, size_t n,
                        int *overwritten, const char *summary, dp_err_t *err)
{
    int reach = check_reach(e, cm, n, err);
    if (reach < 0) {
        for (size_t i = 0; i < n; i++) /* as on every failure below */
            dp_mock_unref(cm[i]);
        return reach;
    }
    undo_t *u = calloc(n ? n : 1, sizeof(*u));
    dp_stored_mock_t *sm = calloc(n ? n : 1, sizeof(*sm));
    /* two versions per mock at most: see version_rows */
    dp_mock_version_t *vr = calloc(n ? 2 * n : 1, sizeof(*vr));
    json_t *rows = NULL;
    int rc = 0;
    size_t applied = 0, nv = 0;
    if (u == NULL || sm == NULL || vr == NULL) {
        rc = oom(err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        dp_mock_t *old = NULL;
        if (dp_smap_put(&e->mocks, cm[i]->id, cm[i], (void **)&old) < 0) {
            rc = oom(err);
            goto fail;
        }
        u[i].id = cm[i]->id;
        u[i].old = old;
        applied = i + 1;
        sm[i] = (dp_stored_mock_t){cm[i]->id, cm[i]->ns, cm[i]->json};
        nv += version_rows(e, cm[i], old, old ? old->json : NULL, cm[i]->json,
                           summary ? summary : (old ? "replaced" : "created"),
                           vr + nv);
        if (overwritten && old)
            *overwritten = 1;
    }
    dp_index_t *ix = dp_index_from_table(e);
    if (ix == NULL) {
        rc = oom(err);
        goto fail;
    }
    if ((rc = mstore_entries(e, norm, n, &rows)) < 0) {
        dp_index_free(ix);
        rc = oom(err);
        goto fail;
    }
    /* the mocks, their store rows and the audit row: one transaction */
    if ((rc = tx_begin(e, err)) < 0) {
        dp_index_free(ix);
        goto fail;
    }
    rc = persist_store_rows(e, rows);
    if (rc == 0)
        rc = put_with_versions(e, sm, n, vr, nv);
    if ((rc = tx_end(e, rc, err)) < 0) {
        dp_index_free(ix);
        goto fail;
    }
    dp_index_swap(e, ix);
    apply_store_rows(e, rows);
    json_decref(rows);
    for (size_t i = 0; i < n; i++)
        dp_engine_mock_changed(e, cm[i]->ns, cm[i]->id, u[i].old ? 2 : 1);
    for (size_t i = 0; i < n; i++) {
        /* a replaced mock's counters start over; its id keeps nothing */
        if (u[i].old && u[i].old != cm[i])
            dp_mock_unref(u[i].old);
    }
    free(u);
    free(sm);
    free(vr);
    return 0;
fail:
    /* undo in reverse so duplicate ids in a batch come back right */
    for (size_t i = applied; i-- > 0;) {
        if (u[i].old)
            dp_smap_put(&e->mocks, u[i].id, u[i].old, NULL);
        else
            dp_smap_del(&e->mocks, u[i].id);
    }
    /* the table no longer points at cm[]; the caller's refs are dropped */
    for (size_t i = 0; i < n; i++)
        dp_mock_unref(cm[i]);
    json_decref(rows);
    free(u);
    free(sm);
    free(vr);
    return rc;
}

static int put_many(dp_engine_t *e, const json_t *const *mocks, size_t n,
                    const char *ns, int batch, json_t **stored,
                    int *overwritten, dp_err_t *err)
{
    if (overwritten)
        *overwritten = 0;
    if (stored)
        *stored = NULL;
    dp_mock_t **cm = calloc(n ? n : 1, sizeof(*cm));
    json_t **norm = calloc(n ? n : 1, sizeof(*norm));
    if (cm == NULL || norm == NULL) {
        free(cm);
        free(norm);
        return oom(err);
    }
    pthread_mutex_lock(&e->wmu);
    int64_t now = dp_engine_now(e);
    int rc = 0;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        rc = dp_model_compile(e->protos, mocks[i], ns, NULL, now, &e->tfiles, &norm[i],
                              &cm[i], err);
        if (rc < 0) {
            if (batch)
                prefix_err(err, i);
            break;
        }
        done = i + 1;
        /* keep only what commit needs (mStore), so a big batch does not
         * hold two trees per mock at its peak */
        json_t *slim = json_pack("{s:s, s:s}", "id", cm[i]->id, "namespace",
                                 cm[i]->ns);
        json_t *ms = json_object_get(norm[i], "mStore");
        if (slim && ms)
            json_object_set(slim, "mStore", ms);
        if (slim) {
            json_decref(norm[i]);
            norm[i] = slim;
        }
    }
    if (rc < 0) {
        for (size_t i = 0; i < done; i++)
            dp_mock_unref(cm[i]);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        cm[i]->seq = ++e->next_seq;
    /* duplicate ids in one batch: the last one wins */
    for (size_t i = 0; i < n; i++)
        dp_mock_ref(cm[i]); /* one for the table, one for the output */
    rc = commit_mocks(e, cm, norm, n, overwritten, NULL, err);
    if (rc == 0 && stored) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(arr, read_view(cm[i]));
        *stored = batch ? arr : json_incref(json_array_get(arr, 0));
        if (!batch)
            json_decref(arr);
    }
    for (size_t i = 0; i < n; i++)
        dp_mock_unref(cm[i]);
out:
    pthread_mutex_unlock(&e->wmu);
    for (size_t i = 0; i < n; i++)
        json_decref(norm[i]);
    free(norm);
    free(cm);
#ifdef __GLIBC__
    /* a big batch leaves its transient trees as holes between the compiled
     * mocks; hand the free pages back */
    if (n >= 1000)
        malloc_trim(0);
#endif
    return rc;
}

int dp_engine_mock_put(dp_engine_t *e, const json_t *mock, const char *ns,
                       json_t **stored, int *overwritten, dp_err_t *err)
{
    return put_many(e, &mock, 1, ns, 0, stored, overwritten, err);
}

int dp_engine_mock_put_batch(dp_engine_t *e, const json_t *mocks,
                             const char *ns, json_t **stored, dp_err_t *err)
{
    if (stored)
        *stored = NULL;
    if (!json_is_array(mocks)) {
        dp_err_invalid(err, "", "a batch is a JSON array of mocks");
        return -EINVAL;
    }
    size_t n = json_array_size(mocks);
    const json_t **arr = malloc((n ? n : 1) * sizeof(*arr));
    if (arr == NULL)
        return oom(err);
    for (size_t i = 0; i < n; i++)
        arr[i] = json_array_get(mocks, i);
    int rc = put_many(e, arr, n, ns, 1, stored, NULL, err);
    free(arr);
    return rc;
}

int dp_engine_mock_validate(dp_engine_t *e, const json_t *mock, const char *ns,
                            dp_err_t *err)
{
    json_t *norm = NULL;
    dp_mock_t *m = NULL;
    int64_t now = e ? dp_engine_now(e) : (int64_t)time(NULL);
    /* the template files are writer-side state */
    if (e)
        pthread_mutex_lock(&e->wmu);
    int rc = dp_model_compile(e ? e->protos : NULL, mock, ns, NULL, now,
                              e ? &e->tfiles : NULL,
                              &norm, &m, err);
    if (e)
        pthread_mutex_unlock(&e->wmu);
    json_decref(norm);
    dp_mock_unref(m);
    return rc;
}

static dp_mock_t *find(dp_engine_t *e, const char *id, dp_err_t *err)
{
    dp_mock_t *m = id ? dp_smap_get(&e->mocks, id) : NULL;
    if (m == NULL)
        dp_err_set(err, 404, "not_found", "id", "no mock with id %s",
                   id ? id : "(null)");
    return m;
}

/* Admin reads come from the published index, not the writer's table: they
 * never take wmu, so they never wait for a write's storage commit, and they
 * see only what was committed. The mocks a read needs are referenced inside
 * a short reader section; their views are built after it. */
int dp_engine_mock_get(dp_engine_t *e, const char *id, json_t **out,
                       dp_err_t *err)
{
    *out = NULL;
    unsigned slot;
    dp_index_t *ix = dp_index_enter(e, &slot);
    dp_mock_t *m = id && ix ? dp_smap_get(&ix->ids, id) : NULL;
    if (m)
        dp_mock_ref(m);
    dp_index_leave(e, slot);
    if (m == NULL) {
        dp_err_set(err, 404, "not_found", "id", "no mock with id %s",
                   id ? id : "(null)");
        return -ENOENT;
    }
    *out = read_view_shared(e, m);
    dp_mock_unref(m);
    return *out ? 0 : oom(err);
}

/* RFC 7386 */
static json_t *merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target)
                                         : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (out == NULL)
            return NULL;
        if (json_is_null(v)) {
            json_object_del(out, k);
        } else {
            json_t *m = merge_patch(json_object_get(out, k), v);
            if (m == NULL) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, m);
        }
    }
    return out;
}

int dp_engine_mock_patch(dp_engine_t *e, const char *id, const json_t *patch,
                         json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    if (!json_is_object(patch)) {
        dp_err_invalid(err, "", "a patch is a JSON object (RFC 7386)");
        return -EINVAL;
    }
    const json_t *pid = json_object_get(patch, "id");
    if (pid && !(json_is_string(pid) && id &&
                 strcmp(json_string_value(pid), id) == 0)) {
        dp_err_invalid(err, "id", "id cannot be patched");
        return -EINVAL;
    }
    for (size_t i = 0; dp_server_fields[i]; i++) {
        if (json_object_get(patch, dp_server_fields[i])) {
            dp_err_invalid(err, dp_server_fields[i],
                           "server-set fields cannot be patched");
            return -EINVAL;
        }
    }
    pthread_mutex_lock(&e->wmu);
    int rc;
    dp_mock_t *old = find(e, id, err);
    if (old == NULL) {
        rc = -ENOENT;
        goto out;
    }
    json_t *cur = stored_obj(old);
    json_t *merged = cur ? merge_patch(cur, patch) : NULL;
    if (merged == NULL) {
        json_decref(cur);
        rc = oom(err);
        goto out;
    }
    int64_t snap = atomic_load(&old->use_counter);
    json_t *norm = NULL;
    dp_mock_t *nm = NULL;
    rc = dp_model_compile(e->protos, merged, old->ns, cur, dp_engine_now(e), &e->tfiles,
                          &norm, &nm, err);
    json_decref(merged);
    json_decref(cur);
    if (rc < 0)
        goto out;
    nm->seq = old->seq;
    dp_mock_ref(old); /* keep it to carry over uses made meanwhile */
    dp_mock_ref(nm);
    rc = commit_mocks(e, &nm, &norm, 1, NULL, "patched", err);
    if (rc == 0) {
        /* after the swap no reader holds old: its late uses are final */
        int64_t delta = atomic_load(&old->use_counter) - snap;
        if (delta) {
            atomic_fetch_add(&nm->use_counter, delta);
            atomic_store(&nm->dirty, 1);
        }
        if (out)
            *out = read_view(nm);
    }
    dp_mock_unref(old);
    dp_mock_unref(nm);
    json_decref(norm);
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* The JSON text of m with closedAt = closed_at (a dp_jtext), NULL on
 * ENOMEM. Writer side. */
static char *json_closed(const dp_mock_t *m, int64_t closed_at)
{
    json_t *o = stored_obj(m);
    if (o == NULL)
        return NULL;
    set_time(o, "closedAt", closed_at);
    char *txt = dp_jtext_take(json_dumps(o, JSON_COMPACT));
    json_decref(o);
    return txt;
}

/* Persists the new closedAt of each mock in one transaction, then sets it:
 * on failure nothing changed. The index keeps closed mocks (near misses
 * report them), so no rebuild is needed: matching reads closed_at. */
static int set_closed(dp_engine_t *e, dp_mock_t **ms, size_t n, int64_t when,
                      dp_err_t *err)
{
    int64_t *nv = calloc(n ? n : 1, sizeof(*nv));
    int64_t *prevver = calloc(n ? n : 1, sizeof(*prevver));
    char **txt = calloc(n ? n : 1, sizeof(char *));
    dp_stored_mock_t *sm = calloc(n ? n : 1, sizeof(*sm));
    dp_mock_version_t *vr = calloc(n ? 2 * n : 1, sizeof(*vr));
    int rc = 0;
    size_t k = 0, nver = 0;
    if (!nv || !prevver || !txt || !sm || !vr) {
        rc = oom(err);
        goto out;
    }
    for (; k < n; k++) {
        int64_t prev = atomic_load(&ms[k]->closed_at);
        nv[k] = when ? (prev ? prev : when) : 0;
        if ((txt[k] = json_closed(ms[k], nv[k])) == NULL) {
            rc = oom(err);
            break;
        }
        sm[k] = (dp_stored_mock_t){ms[k]->id, ms[k]->ns, txt[k]};
        /* numbered now, under wmu as every reader of version is; put back
         * below when the commit fails */
        prevver[k] = ms[k]->version;
        nver += version_rows(e, ms[k], ms[k], ms[k]->json, txt[k],
                             when ? "closed" : "restored", vr + nver);
    }
    if (rc == 0 && (rc = tx_begin(e, err)) == 0)
        rc = tx_end(e, put_with_versions(e, sm, n, vr, nver), err);
    if (rc < 0) {
        for (size_t i = k; i-- > 0;)
            ms[i]->version = prevver[i];
        goto out;
    }
    /* committed: only now do matching and reads see it */
    for (size_t i = 0; i < n; i++) {
        dp_jtext_unref(json_swap(e, ms[i], txt[i]));
        txt[i] = NULL;
        atomic_store(&ms[i]->closed_at, nv[i]);
        dp_engine_mock_changed(e, ms[i]->ns, ms[i]->id, when ? 3 : 4);
    }
out:
    for (size_t i = 0; txt && i < k; i++)
        dp_jtext_unref(txt[i]);
    free(nv);
    free(prevver);
    free(txt);
    free(sm);
    free(vr);
    return rc;
}

static int close_or_restore(dp_engine_t *e, const char *id, int close,
                            json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    pthread_mutex_lock(&e->wmu);
    dp_mock_t *m = find(e, id, err);
    int rc = -ENOENT;
    if (m)
        rc = set_closed(e, &m, 1, close ? dp_engine_now(e) : 0, err);
    if (rc == 0 && out)
        *out = read_view(m);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_mock_close(dp_engine_t *e, const char *id, json_t **out,
                         dp_err_t *err)
{
    return close_or_restore(e, id, 1, out, err);
}

int dp_engine_mock_restore(dp_engine_t *e, const char *id, json_t **out,
                           dp_err_t *err)
{
    return close_or_restore(e, id, 0, out, err);
}

/* Finds every id of the array into ms (n entries); caller holds wmu. */
static int find_all(dp_engine_t *e, const json_t *ids, dp_mock_t **ms,
                    dp_err_t *err)
{
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id == NULL) {
            char f[32];
            snprintf(f, sizeof(f), "[%zu]", i);
            dp_err_invalid(err, f, "expected a mock id string");
            return -EINVAL;
        }
        if ((ms[i] = find(e, id, err)) == NULL)
            return -ENOENT;
    }
    return 0;
}

static int close_or_restore_batch(dp_engine_t *e, const json_t *ids,
                                  int close, size_t *count, dp_err_t *err)
{
    if (count)
        *count = 0;
    if (!json_is_array(ids)) {
        dp_err_invalid(err, "", "expected an array of mock ids");
        return -EINVAL;
    }
    size_t n = json_array_size(ids);
    dp_mock_t **ms = calloc(n ? n : 1, sizeof(*ms));
    if (ms == NULL)
        return oom(err);
    pthread_mutex_lock(&e->wmu);
    int rc = find_all(e, ids, ms, err);
    if (rc == 0)
        rc = set_closed(e, ms, n, close ? dp_engine_now(e) : 0, err);
    if (rc == 0 && count)
        *count = n;
    pthread_mutex_unlock(&e->wmu);
    free(ms);
    return rc;
}

int dp_engine_mock_close_batch(dp_engine_t *e, const json_t *ids,
                               size_t *closed, dp_err_t *err)
{
    return close_or_restore_batch(e, ids, 1, closed, err);
}

int dp_engine_mock_restore_batch(dp_engine_t *e, const json_t *ids,
                                 size_t *restored, dp_err_t *err)
{
    return close_or_restore_batch(e, ids, 0, restored, err);
}

int dp_engine_mock_patch_batch(dp_engine_t *e, const json_t *ids,
                               const json_t *patches, json_t **out,
                               dp_err_t *err)
{
    if (out)
        *out = NULL;
    size_t n = json_array_size(ids);
    if (!json_is_array(ids) || !json_is_array(patches) ||
        json_array_size(patches) != n) {
        dp_err_invalid(err, "", "expected one patch per mock id");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(patches, i);
        int bad = !json_is_object(p) || json_object_get(p, "id");
        for (size_t k = 0; !bad && dp_server_fields[k]; k++)
            bad = json_object_get(p, dp_server_fields[k]) != NULL;
        if (bad) {
            char f[32];
            snprintf(f, sizeof(f), "[%zu]", i);
            dp_err_invalid(err, f, "not a patch of client fields");
            return -EINVAL;
        }
    }
    dp_mock_t **old = calloc(n ? n : 1, sizeof(*old));
    dp_mock_t **nm = calloc(n ? n : 1, sizeof(*nm));
    json_t **norm = calloc(n ? n : 1, sizeof(*norm));
    int64_t *snap = calloc(n ? n : 1, sizeof(*snap));
    if (!old || !nm || !norm || !snap) {
        free(old);
        free(nm);
        free(norm);
        free(snap);
        return oom(err);
    }
    pthread_mutex_lock(&e->wmu);
    int rc = find_all(e, ids, old, err);
    size_t done = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (size_t k = 0; k < i; k++)
            if (old[k] == old[i]) {
                char f[32];
                snprintf(f, sizeof(f), "[%zu]", i);
                dp_err_invalid(err, f, "the same mock id twice");
                rc = -EINVAL;
            }
        if (rc < 0)
            break;
        json_t *cur = stored_obj(old[i]);
        json_t *merged =
            cur ? merge_patch(cur, json_array_get(patches, i)) : NULL;
        if (merged == NULL) {
            json_decref(cur);
            rc = oom(err);
            break;
        }
        snap[i] = atomic_load(&old[i]->use_counter);
        rc = dp_model_compile(e->protos, merged, old[i]->ns, cur, dp_engine_now(e),
                              &e->tfiles, &norm[i], &nm[i], err);
        json_decref(merged);
        json_decref(cur);
        if (rc < 0) {
            prefix_err(err, i);
            break;
        }
        nm[i]->seq = old[i]->seq;
        done = i + 1;
    }
    if (rc < 0) {
        for (size_t i = 0; i < done; i++) {
            dp_mock_unref(nm[i]);
            json_decref(norm[i]);
        }
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        dp_mock_ref(old[i]); /* to carry over uses made meanwhile */
        dp_mock_ref(nm[i]);
    }
    rc = commit_mocks(e, nm, norm, n, NULL, "patched", err);
    json_t *arr = rc == 0 && out ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            int64_t delta = atomic_load(&old[i]->use_counter) - snap[i];
            if (delta) {
                atomic_fetch_add(&nm[i]->use_counter, delta);
                atomic_store(&nm[i]->dirty, 1);
            }
            if (arr)
                json_array_append_new(arr, read_view(nm[i]));
        }
        dp_mock_unref(old[i]);
        dp_mock_unref(nm[i]);
        json_decref(norm[i]);
    }
    if (out)
        *out = arr;
out:
    pthread_mutex_unlock(&e->wmu);
    free(old);
    free(nm);
    free(norm);
    free(snap);
    return rc;
}

int dp_engine_mock_copy_batch(dp_engine_t *e, const json_t *ids,
                              const char *ns, json_t **out, dp_err_t *err)
{
    *out = NULL;
    if (!json_is_array(ids)) {
        dp_err_invalid(err, "", "expected an array of mock ids");
        return -EINVAL;
    }
    size_t n = json_array_size(ids);
    dp_mock_t **ms = calloc(n ? n : 1, sizeof(*ms));
    json_t *copies = json_array();
    if (ms == NULL || copies == NULL) {
        free(ms);
        json_decref(copies);
        return oom(err);
    }
    /* a snapshot of the sources, then an ordinary batch put */
    pthread_mutex_lock(&e->wmu);
    int rc = find_all(e, ids, ms, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *o = json_loads(ms[i]->json, 0, NULL);
        if (o == NULL) {
            rc = oom(err);
            break;
        }
        json_object_del(o, "id");
        for (size_t k = 0; dp_server_fields[k]; k++)
            json_object_del(o, dp_server_fields[k]);
        json_object_set_new(o, "namespace", json_string(ns));
        json_array_append_new(copies, o);
    }
    pthread_mutex_unlock(&e->wmu);
    free(ms);
    if (rc == 0)
        rc = dp_engine_mock_put_batch(e, copies, ns, out, err);
    json_decref(copies);
    return rc;
}

int dp_engine_mock_purge(dp_engine_t *e, const char *id, dp_err_t *err)
{
    pthread_mutex_lock(&e->wmu);
    int rc = -ENOENT;
    dp_mock_t *m = find(e, id, err);
    if (m == NULL)
        goto out;
    dp_smap_del(&e->mocks, m->id);
    dp_index_t *ix = dp_index_from_table(e);
    if (ix == NULL) {
        dp_smap_put(&e->mocks, m->id, m, NULL);
        rc = oom(err);
        goto out;
    }
    char sc[200];
    dp_scope_name(sc, sizeof(sc), 'm', m->id);
    json_t *keys = dp_stores_keys(e->stores, m->ns, sc);
    const char *ids[1] = {m->id};
    /* the mock and its mock store go together, with the audit row */
    rc = tx_begin(e, err);
    if (rc == 0) {
        rc = e->st->ops->mocks_delete(e->st, ids, 1);
        if (rc == 0 && json_array_size(keys)) {
            json_t *rows = json_array();
            size_t i;
            json_t *it;
            json_array_foreach(keys, i, it)
            {
                json_array_append_new(
                    rows, json_pack("[sssn]", m->ns, sc,
                                    json_string_value(json_array_get(it, 2))));
            }
            rc = rows ? persist_store_rows(e, rows) : -ENOMEM;
            json_decref(rows);
        }
        rc = tx_end(e, rc, err);
    }
    json_decref(keys);
    if (rc < 0) {
        dp_index_free(ix);
        dp_smap_put(&e->mocks, m->id, m, NULL);
        goto out;
    }
    dp_index_swap(e, ix);
    dp_stores_drop(e->stores, m->ns, sc);
    dp_engine_mock_changed(e, m->ns, m->id, 5);
    dp_mock_unref(m);
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- versions ------------------------------------------------------------ */

typedef struct version_pick {
    int64_t want;  /* 0: every version into items */
    json_t *items; /* list: [{version, createdAt, changedBy, summary}] */
    json_t *found; /* pick: the mock JSON of version want */
    int64_t current;
} version_pick_t;

static int version_cb(void *arg, const dp_mock_version_t *v)
{
    version_pick_t *p = arg;
    if (p->want) {
        if (v->version != p->want)
            return 0;
        p->found = json_loads(v->json, 0, NULL);
        return p->found ? 1 : -ENOMEM;
    }
    json_t *it = json_pack(
        "{s:I, s:I, s:s?, s:s?, s:b}", "version", (json_int_t)v->version,
        "createdAt", (json_int_t)v->created_at, "changedBy", v->who, "summary",
        v->summary, "current", v->version == p->current);
    if (it == NULL || json_array_append_new(p->items, it) < 0)
        return -ENOMEM;
    return 0;
}

/* Version `version` of m (new ref in *out); caller holds wmu. */
static int version_find(dp_engine_t *e, const dp_mock_t *m, int64_t version,
                        json_t **out, dp_err_t *err)
{
    *out = NULL;
    version_pick_t p = {.want = version};
    int rc = version > 0 && e->st->ops->versions_load
                 ? e->st->ops->versions_load(e->st, m->id, version_cb, &p)
                 : 0;
    if (rc < 0)
        return rc == -ENOMEM ? oom(err) : storage_failed(err, rc);
    if (p.found == NULL) {
        dp_err_set(err, 404, "not_found", "version",
                   "mock %s keeps no version %lld", m->id, (long long)version);
        return -ENOENT;
    }
    *out = p.found;
    return 0;
}

int dp_engine_mock_versions(dp_engine_t *e, const char *id, json_t **out,
                            dp_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&e->wmu);
    int rc = -ENOENT;
    dp_mock_t *m = find(e, id, err);
    if (m == NULL)
        goto out;
    version_pick_t p = {.items = json_array(), .current = m->version};
    if (p.items == NULL) {
        rc = oom(err);
        goto out;
    }
    rc = e->st->ops->versions_load
             ? e->st->ops->versions_load(e->st, m->id, version_cb, &p)
             : 0;
    if (rc < 0) {
        json_decref(p.items);
        rc = rc == -ENOMEM ? oom(err) : storage_failed(err, rc);
        goto out;
    }
    *out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "id", m->id, "namespace",
                     m->ns, "current", (json_int_t)m->version, "versionsMax",
                     (json_int_t)e->versions_max, "total",
                     (json_int_t)json_array_size(p.items), "items", p.items);
    rc = *out ? 0 : oom(err);
out:
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_mock_version_get(dp_engine_t *e, const char *id, int64_t version,
                               json_t **out, dp_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&e->wmu);
    int rc = -ENOENT;
    dp_mock_t *m = find(e, id, err);
    if (m != NULL)
        rc = version_find(e, m, version, out, err);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

int dp_engine_mock_version_restore(dp_engine_t *e, const char *id,
                                   int64_t version, json_t **out, dp_err_t *err)
{
    if (out)
        *out = NULL;
    pthread_mutex_lock(&e->wmu);
    int rc = -ENOENT;
    json_t *vo = NULL, *cur = NULL, *norm = NULL;
    dp_mock_t *nm = NULL;
    dp_mock_t *old = find(e, id, err);
    if (old == NULL)
        goto out;
    if ((rc = version_find(e, old, version, &vo, err)) < 0)
        goto out;
    /* the content comes back; the mock stays where it lives now */
    json_object_set_new(vo, "namespace", json_string(old->ns));
    cur = stored_obj(old);
    if (cur == NULL) {
        rc = oom(err);
        goto out;
    }
    int64_t snap = atomic_load(&old->use_counter);
    rc = dp_model_compile(e->protos, vo, old->ns, cur, dp_engine_now(e), &e->tfiles,
                          &norm, &nm, err);
    if (rc < 0)
        goto out;
    nm->seq = old->seq;
    char summary[64];
    snprintf(summary, sizeof(summary), "restored version %lld",
             (long long)version);
    dp_mock_ref(old); /* to carry over uses made meanwhile */
    dp_mock_ref(nm);
    rc = commit_mocks(e, &nm, &norm, 1, NULL, summary, err);
    if (rc == 0) {
        int64_t delta = atomic_load(&old->use_counter) - snap;
        if (delta) {
            atomic_fetch_add(&nm->use_counter, delta);
            atomic_store(&nm->dirty, 1);
        }
        if (out)
            *out = read_view(nm);
    }
    dp_mock_unref(old);
    dp_mock_unref(nm);
out:
    pthread_mutex_unlock(&e->wmu);
    json_decref(vo);
    json_decref(cur);
    json_decref(norm);
    return rc;
}

/* ---- list ----------------------------------------------------------------- */

static int tags_match(const json_t *o, const dp_mock_query_t *q)
{
    const json_t *tags = json_object_get(o, "tags");
    for (size_t i = 0; i < q->n_tags; i++) {
        int found = 0;
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t) if (json_is_string(t) &&
                                           strcmp(json_string_value(t),
                                                  q->tags[i]) == 0) found = 1;
        if (!found)
            return 0;
    }
    return 1;
}

static int search_match(const dp_mock_t *m, const json_t *o, const char *s)
{
    if (strstr(m->id, s) || (m->route_src && strstr(m->route_src, s)))
        return 1;
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(o, "tags"), k, t) if (
        json_is_string(t) && strstr(json_string_value(t), s)) return 1;
    return 0;
}

static int method_match(const json_t *o, const char *method)
{
    const json_t *http = json_object_get(o, "http");
    if (!json_is_object(http))
        return 0;
    const char *m = json_string_value(json_object_get(http, "httpMethod"));
    return m == NULL || m[0] == '\0' || strcmp(m, "*") == 0 ||
           strcasecmp(m, "ANY") == 0 || strcasecmp(m, method) == 0;
}

static int service_match(const json_t *o, const dp_mock_query_t *q)
{
    const char *own = json_string_value(json_object_get(o, "service"));
    for (size_t i = 0; i < q->n_services; i++) {
        if (own != NULL && strcmp(own, q->services[i]) == 0)
            return 1;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(o, "tags"), k, t)
        {
            const char *s = json_string_value(t);
            if (s != NULL && strncmp(s, "service:", 8) == 0 &&
                strcmp(s + 8, q->services[i]) == 0)
                return 1;
        }
    }
    return 0;
}

static int list_cmp(const void *a, const void *b)
{
    return by_created(a, b);
}

int dp_engine_mock_list(dp_engine_t *e, const dp_mock_query_t *q, json_t **out,
                        dp_err_t *err)
{
    *out = NULL;
    dp_mock_query_t dq = {0};
    if (q == NULL)
        q = &dq;
    size_t limit = q->limit ? q->limit : 100;
    if (limit > 1000)
        limit = 1000;
    unsigned slot;
    dp_index_t *ix = dp_index_enter(e, &slot);
    size_t cand = ix ? ix->n_mocks : 0;
    dp_mock_t **sel = malloc((cand ? cand : 1) * sizeof(*sel));
    if (sel == NULL) {
        dp_index_leave(e, slot);
        return oom(err);
    }
    size_t n = 0;
    for (size_t i = 0; i < cand; i++) {
        dp_mock_t *m = ix->mocks[i];
        if (q->ns && strcmp(q->ns, m->ns) != 0)
            continue;
        if (!q->include_closed && atomic_load(&m->closed_at) != 0)
            continue;
        dp_mock_ref(m);
        sel[n++] = m;
    }
    dp_index_leave(e, slot);
    if (q->n_tags || (q->search && q->search[0]) || q->chain_id ||
        q->method || q->n_services) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            dp_mock_t *m = sel[i];
            char *t = json_ref(e, m);
            json_t *o = json_loads(t, 0, NULL);
            dp_jtext_unref(t);
            const char *chain =
                json_string_value(json_object_get(o, "chainId"));
            int ok = o && tags_match(o, q) &&
                     (!q->method || method_match(o, q->method)) &&
                     (!q->n_services || service_match(o, q)) &&
                     (!q->chain_id || (chain && strcmp(chain, q->chain_id) == 0)) &&
                     (!q->search || !q->search[0] ||
                      search_match(m, o, q->search));
            json_decref(o);
            if (ok)
                sel[kept++] = m;
            else
                dp_mock_unref(m);
        }
        n = kept;
    }
    qsort(sel, n, sizeof(*sel), list_cmp);
    json_t *items = json_array();
    for (size_t i = q->offset; items && i < n && i < q->offset + limit; i++)
        json_array_append_new(items, read_view_shared(e, sel[i]));
    for (size_t i = 0; i < n; i++)
        dp_mock_unref(sel[i]);
    free(sel);
    if (items == NULL)
        return oom(err);
    *out = json_pack("{s:o, s:I, s:I, s:I, s:b}", "items", items, "total",
                     (json_int_t)n, "offset", (json_int_t)q->offset, "limit",
                     (json_int_t)limit, "hasMore", q->offset + limit < n);
    return *out ? 0 : oom(err);
}

size_t dp_engine_mock_count(dp_engine_t *e, int live_only)
{
    unsigned slot;
    dp_index_t *ix = dp_index_enter(e, &slot);
    size_t n = 0;
    int64_t now = dp_engine_now(e);
    for (size_t i = 0; i < ix->n_mocks; i++)
        n += !live_only || dp_mock_live(ix->mocks[i], now);
    dp_index_leave(e, slot);
    return n;
}

void dp_engine_mock_usage(dp_engine_t *e, dp_engine_usage_fn fn, void *ud)
{
    unsigned slot;
    dp_index_t *ix = dp_index_enter(e, &slot);
    int64_t now = dp_engine_now(e);
    for (size_t i = 0; i < ix->n_mocks; i++) {
        const dp_mock_t *m = ix->mocks[i];
        fn(ud, m->id, m->ns, m->proto->name, atomic_load(&m->use_counter),
           dp_mock_live(m, now));
    }
    dp_index_leave(e, slot);
}

/* ---- stores through the admin API --------------------------------------- */

static int scope_arg(char scope, const char *owner, char *buf, size_t len,
                     dp_err_t *err)
{
    if (scope != DP_SCOPE_GLOBAL && scope != DP_SCOPE_CHAIN &&
        scope != DP_SCOPE_MOCK) {
        dp_err_invalid(err, "scope", "expected global, chain or mock");
        return -EINVAL;
    }
    if (scope != DP_SCOPE_GLOBAL && (owner == NULL || owner[0] == '\0' ||
                                     strlen(owner) > 128)) {
        dp_err_invalid(err, "owner",
                       scope == DP_SCOPE_CHAIN ? "a chain store needs a chainId"
                                               : "a mock store needs a mock id");
        return -EINVAL;
    }
    dp_scope_name(buf, len, scope, owner);
    return 0;
}

/* The admin API's answer to a store write past a limit: 413 for a value
 * over store_value_max (the request carries it), 507 when the namespace's
 * stores are full (the server cannot store it; RFC 4918 11.5). */
static void limit_err(const dp_engine_t *e, dp_err_t *err, int rc)
{
    if (rc == -EFBIG)
        dp_err_set(err, 413, "limit_exceeded", "value",
                   "the entry is larger than store_value_max (%zu bytes)",
                   e->cfg.store_value_max);
    else
        dp_err_set(err, 507, "limit_exceeded", "value",
                   "the namespace's stores would hold more than "
                   "store_total_max (%zu bytes)",
                   e->cfg.store_total_max);
}

static const char *ns_or_default(const char *ns)
{
    return ns && ns[0] ? ns : "sandbox";
}

int dp_engine_store_get(dp_engine_t *e, const char *ns, char scope,
                        const char *owner, const char *key, json_t **out,
                        dp_err_t *err)
{
    *out = NULL;
    char sc[200];
    int rc = scope_arg(scope, owner, sc, sizeof(sc), err);
    if (rc < 0)
        return rc;
    ns = ns_or_default(ns);
    if (key == NULL)
        *out = dp_stores_get_all(e->stores, ns, sc);
    else
        *out = dp_stores_get(e->stores, ns, sc, key);
    if (*out == NULL) {
        dp_err_set(err, 404, "not_found", "key", "no key %s in the %s store",
                   key ? key : "", sc);
        return -ENOENT;
    }
    return 0;
}

int dp_engine_store_set(dp_engine_t *e, const char *ns, char scope,
                        const char *owner, const char *key,
                        const json_t *value, dp_err_t *err)
{
    char sc[200];
    int rc = scope_arg(scope, owner, sc, sizeof(sc), err);
    if (rc < 0)
        return rc;
    if (key == NULL || key[0] == '\0' || strlen(key) > 256) {
        dp_err_invalid(err, "key", "expected a non-empty key");
        return -EINVAL;
    }
    if (value == NULL) {
        dp_err_invalid(err, "value", "required");
        return -EINVAL;
    }
    ns = ns_or_default(ns);
    char *txt = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *copy = json_deep_copy(value);
    if (txt == NULL || copy == NULL) {
        free(txt);
        json_decref(copy);
        return oom(err);
    }
    pthread_mutex_lock(&e->wmu);
    /* checked before anything is written, so a refusal changes nothing */
    rc = dp_stores_check(e->stores, ns, sc, key, copy);
    if (rc == -EFBIG || rc == -ENOSPC) {
        pthread_mutex_unlock(&e->wmu);
        limit_err(e, err, rc);
        free(txt);
        json_decref(copy);
        return rc;
    }
    dp_store_entry_t se = {ns, sc, key, txt};
    rc = tx_begin(e, err);
    if (rc == 0)
        rc = tx_end(e, e->st->ops->store_put(e->st, &se, 1), err);
    if (rc == 0 && (rc = dp_stores_set(e->stores, ns, sc, key, copy, 0)) < 0)
        oom(err);
    else if (rc < 0)
        json_decref(copy);
    if (rc == 0)
        dp_engine_store_changed(e, ns, sc, key);
    pthread_mutex_unlock(&e->wmu);
    free(txt);
    return rc;
}

int dp_engine_store_delete(dp_engine_t *e, const char *ns, char scope,
                           const char *owner, const char *key, dp_err_t *err)
{
    char sc[200];
    int rc = scope_arg(scope, owner, sc, sizeof(sc), err);
    if (rc < 0)
        return rc;
    ns = ns_or_default(ns);
    pthread_mutex_lock(&e->wmu);
    json_t *keys;
    if (key) {
        json_t *v = dp_stores_get(e->stores, ns, sc, key);
        keys = v ? json_pack("[[sss]]", ns, sc, key) : json_array();
        json_decref(v);
    } else {
        keys = dp_stores_keys(e->stores, ns, sc);
    }
    size_t n = json_array_size(keys);
    if (n == 0) {
        dp_err_set(err, 404, "not_found", "key", "no key %s in the %s store",
                   key ? key : "", sc);
        rc = -ENOENT;
    } else {
        dp_store_entry_t *se = calloc(n, sizeof(*se));
        rc = se ? 0 : -ENOMEM;
        for (size_t i = 0; se && i < n; i++)
            se[i] = (dp_store_entry_t){
                ns, sc, json_string_value(json_array_get(json_array_get(keys, i), 2)),
                NULL};
        if (rc < 0)
            oom(err);
        else if ((rc = tx_begin(e, err)) == 0)
            rc = tx_end(e, e->st->ops->store_put(e->st, se, n), err);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) {
                dp_stores_del(e->stores, ns, sc, se[i].key);
                dp_engine_store_changed(e, ns, sc, se[i].key);
            }
        }
        free(se);
    }
    json_decref(keys);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}

/* ---- journal -------------------------------------------------------------- */

int dp_engine_journal(dp_engine_t *e, const char *ns, size_t offset,
                      size_t limit, json_t **out)
{
    *out = dp_ring_list(&e->journal, ns, offset, limit);
    return *out ? 0 : -ENOMEM;
}

int dp_engine_journal_conn(dp_engine_t *e, const char *ns, const char *conn,
                           size_t offset, size_t limit, json_t **out)
{
    *out = dp_ring_list_conn(&e->journal, ns, conn, offset, limit);
    return *out ? 0 : -ENOMEM;
}

/* A stream's end reason: [a-z_]{1,15}, as the metrics label it. */
static int note_reason_ok(doppel_str_t r)
{
    if (r.ptr == NULL || r.len == 0 || r.len > 15)
        return 0;
    for (size_t i = 0; i < r.len; i++)
        if (!((r.ptr[i] >= 'a' && r.ptr[i] <= 'z') || r.ptr[i] == '_'))
            return 0;
    return 1;
}

int dp_engine_journal_note(dp_engine_t *e, const doppel_journal_note_t *n)
{
    if (e == NULL || n == NULL ||
        n->size < offsetof(doppel_journal_note_t, reason) + sizeof(n->reason) ||
        n->protocol.ptr == NULL || n->protocol.len == 0 ||
        n->protocol.len > 32 || (n->body_len && n->body == NULL) ||
        (n->kind != DOPPEL_NOTE_SENT && n->kind != DOPPEL_NOTE_END))
        return -EINVAL;
    int end = n->kind == DOPPEL_NOTE_END;
    if (end && !note_reason_ok(n->reason))
        return -EINVAL;
    char ns[65]; /* namespaces are at most 64 bytes */
    if (n->ns.ptr == NULL || n->ns.len == 0)
        dp_strncpyz(ns, sizeof(ns), "sandbox", 7);
    else if (doppel_name_valid(n->ns.ptr, n->ns.len, 64))
        dp_strncpyz(ns, sizeof(ns), n->ns.ptr, n->ns.len);
    else
        return -EINVAL;
    /* the entry is built as an exchange's, so that it reads (and is cut,
     * bounded and listed) like every other */
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = n->protocol,
        .operation = end ? DOPPEL_STR("end") : n->event,
        .body = end ? NULL : n->body,
        .body_len = end ? 0 : n->body_len,
        .connection = n->connection,
    };
    doppel_str_t path = n->path.ptr ? n->path : DOPPEL_STR("");
    char reason[16];
    dp_strncpyz(reason, sizeof(reason), end ? n->reason.ptr : "",
                end ? n->reason.len : 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    dp_jrec_t *r = dp_jrec_build(e, &x, ns, path, e->cfg.journal_body_max,
                                 now, 0, NULL, NULL);
    if (r == NULL)
        return -ENOMEM;
    dp_jrec_set_note(r, end, reason);
    dp_ring_push(&e->journal, r);
    return 0;
}

void dp_engine_journal_clear(dp_engine_t *e, const char *ns)
{
    dp_ring_clear(&e->journal, ns);
}

int dp_engine_unmatched(dp_engine_t *e, const char *ns, size_t offset,
                        size_t limit, json_t **out)
{
    *out = dp_ring_list(&e->unmatched, ns, offset, limit);
    return *out ? 0 : -ENOMEM;
}

void dp_engine_unmatched_clear(dp_engine_t *e, const char *ns)
{
    dp_ring_clear(&e->unmatched, ns);
}

int dp_engine_unmatched_ex(dp_engine_t *e, const char *ns, int include_ignored,
                           size_t offset, size_t limit, json_t **out)
{
    *out = dp_ring_list_ex(&e->unmatched, ns, include_ignored, offset, limit);
    return *out ? 0 : -ENOMEM;
}

/* Ids are what dp_ring_push gives: decimal, never 0. */
static int parse_entry_id(const char *s, uint64_t *id)
{
    if (s == NULL || s[0] < '1' || s[0] > '9' || strlen(s) > 20)
        return -ENOENT;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -ENOENT;
    *id = (uint64_t)v;
    return 0;
}

int dp_engine_unmatched_get(dp_engine_t *e, const char *id, json_t **out)
{
    uint64_t n;
    *out = NULL;
    if (parse_entry_id(id, &n) < 0)
        return -ENOENT;
    *out = dp_ring_get(&e->unmatched, n);
    return *out ? 0 : -ENOENT;
}

int dp_engine_unmatched_ignore(dp_engine_t *e, const char *id, int ignored)
{
    uint64_t n;
    if (parse_entry_id(id, &n) < 0)
        return -ENOENT;
    return dp_ring_set_ignored(&e->unmatched, n, ignored);
}

int dp_engine_mock_journal(dp_engine_t *e, const char *id, size_t offset,
                           size_t limit, json_t **out)
{
    *out = dp_ring_list_mock(&e->journal, id, offset, limit);
    return *out ? 0 : -ENOMEM;
}

void dp_engine_mock_journal_clear(dp_engine_t *e, const char *id,
                                  size_t *removed)
{
    *removed = dp_ring_clear_mock(&e->journal, id);
}

int dp_engine_journal_counts(dp_engine_t *e, json_t **out)
{
    *out = dp_ring_ns_counts(&e->journal);
    return *out ? 0 : -ENOMEM;
}

int dp_engine_unmatched_counts(dp_engine_t *e, json_t **out)
{
    *out = dp_ring_ns_counts(&e->unmatched);
    return *out ? 0 : -ENOMEM;
}

void dp_engine_request_totals(dp_engine_t *e, uint64_t *journal,
                              uint64_t *unmatched)
{
    pthread_mutex_lock(&e->journal.mu);
    *journal = e->journal.total_seen;
    pthread_mutex_unlock(&e->journal.mu);
    pthread_mutex_lock(&e->unmatched.mu);
    *unmatched = e->unmatched.total_seen;
    pthread_mutex_unlock(&e->unmatched.mu);
}

static void add_mock_ns(void *ud, const char *id, const char *ns,
                        const char *protocol, int64_t uses, int live)
{
    (void)id;
    (void)protocol;
    (void)uses;
    (void)live;
    json_object_set_new(ud, ns, json_true());
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int dp_engine_namespaces(dp_engine_t *e, json_t **out)
{
    *out = NULL;
    json_t *set = json_object();
    json_t *j = dp_ring_ns_counts(&e->journal);
    json_t *u = dp_ring_ns_counts(&e->unmatched);
    int rc = -ENOMEM;
    if (set == NULL || j == NULL || u == NULL)
        goto out;
    dp_engine_mock_usage(e, add_mock_ns, set);
    dp_stores_namespaces(e->stores, set);
    json_object_update(set, j);
    json_object_update(set, u);
    size_t n = json_object_size(set), i = 0;
    const char **names = malloc((n ? n : 1) * sizeof(*names));
    if (names == NULL)
        goto out;
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) names[i++] = k;
    qsort(names, n, sizeof(*names), cmp_names);
    *out = json_array();
    for (i = 0; *out != NULL && i < n; i++)
        json_array_append_new(*out, json_string(names[i]));
    free(names);
    rc = *out ? 0 : -ENOMEM;
out:
    json_decref(set);
    json_decref(j);
    json_decref(u);
    return rc;
}

int dp_engine_reset(dp_engine_t *e, const char *ns, dp_err_t *err)
{
    if (ns == NULL || ns[0] == '\0') {
        dp_err_invalid(err, "namespace", "required");
        return -EINVAL;
    }
    pthread_mutex_lock(&e->wmu);
    int rc = 0;
    size_t n = 0;
    dp_mock_t **gone = malloc((e->mocks.n ? e->mocks.n : 1) * sizeof(*gone));
    if (gone == NULL) {
        rc = oom(err);
        goto out;
    }
    DP_SMAP_FOREACH(&e->mocks, i)
    {
        dp_mock_t *m = e->mocks.ents[i].val;
        if (strcmp(m->ns, ns) == 0)
            gone[n++] = m;
    }
    for (size_t i = 0; i < n; i++)
        dp_smap_del(&e->mocks, gone[i]->id);
    dp_index_t *ix = dp_index_from_table(e);
    if (ix == NULL)
        rc = oom(err);
    else if ((rc = tx_begin(e, err)) < 0 ||
             (rc = tx_end(e, e->st->ops->reset_ns(e->st, ns), err)) < 0)
        dp_index_free(ix);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            dp_smap_put(&e->mocks, gone[i]->id, gone[i], NULL);
        goto out;
    }
    dp_index_swap(e, ix);
    for (size_t i = 0; i < n; i++) {
        dp_engine_mock_changed(e, gone[i]->ns, gone[i]->id, 5);
        dp_mock_unref(gone[i]);
    }
    dp_stores_drop(e->stores, ns, NULL);
    dp_ring_clear(&e->journal, ns);
    dp_ring_clear(&e->unmatched, ns);
    dp_rr_clear_misses(e, ns);
out:
    free(gone);
    pthread_mutex_unlock(&e->wmu);
    return rc;
}
