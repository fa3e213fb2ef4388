/*
 * Prometheus metrics: per-worker request counters and latency histograms
 * (single writer, relaxed atomics), plus plugin counters and host gauges
 * behind one mutex (rare writes, off the request path).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "base/sbuf.h"

#define STATUS_MIN 100
#define STATUS_N 500 /* 100..599 */

/* Upper bounds in microseconds; +Inf is implied by the count. */
static const uint64_t bucket_us[DP_METRICS_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000,
    5000000};
static const char *const bucket_le[DP_METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01",   "0.025",   "0.05",   "0.1",   "1",      "5"};

typedef struct owner_stats {
    _Atomic uint64_t status[STATUS_N];
    _Atomic uint64_t other; /* status outside 100..599 (never sent) */
    _Atomic uint64_t bucket[DP_METRICS_BUCKETS]; /* not cumulative */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} owner_stats_t;

struct dp_metrics_worker {
    dp_metrics_t *parent;
    _Atomic int64_t conns_open;
    _Atomic uint64_t conns_shed;
    _Atomic uint64_t accept_pauses;
    /* calloc'd: pages of owners never used stay untouched zero pages. */
    owner_stats_t owners[DP_METRICS_MAX_OWNERS];
};

typedef struct series {
    struct series *next;  /* insertion order, for the exposition */
    struct series *hnext; /* same bucket of the lookup table */
    uint32_t hash;
    char *name;   /* full metric name */
    char *labels; /* may be NULL */
    int is_gauge;
    uint64_t count;
    double value;
} series_t;

struct dp_metrics {
    unsigned n_workers;
    dp_metrics_worker_t **workers;
    pthread_mutex_t lock; /* owners registration, series list */
    char *owner_names[DP_METRICS_MAX_OWNERS];
    _Atomic int n_owners;
    series_t *series; /* insertion order */
    series_t **series_tail;
    /* Lookup by (name, labels): plugins count every request into a series,
     * and walking a list of them all made the cost of a request grow with
     * the number of series (one per operation, field, topic...). */
    series_t **buckets;
    size_t n_buckets; /* a power of two, or 0 before the first series */
    size_t n_series;
};

dp_metrics_t *dp_metrics_new(unsigned workers)
{
    if (workers == 0)
        workers = 1;
    dp_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->workers = calloc(workers, sizeof(*m->workers));
    if (m->workers == NULL) {
        free(m);
        return NULL;
    }
    m->n_workers = workers;
    for (unsigned i = 0; i < workers; i++) {
        m->workers[i] = calloc(1, sizeof(dp_metrics_worker_t));
        if (m->workers[i] == NULL) {
            dp_metrics_free(m);
            return NULL;
        }
        m->workers[i]->parent = m;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->series_tail = &m->series;
    return m;
}

void dp_metrics_free(dp_metrics_t *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_workers; i++)
        free(m->workers[i]);
    free(m->workers);
    for (int i = 0; i < DP_METRICS_MAX_OWNERS; i++)
        free(m->owner_names[i]);
    series_t *s = m->series;
    while (s != NULL) {
        series_t *n = s->next;
        free(s->name);
        free(s->labels);
        free(s);
        s = n;
    }
    free(m->buckets);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

dp_metrics_worker_t *dp_metrics_worker(dp_metrics_t *m, unsigned worker)
{
    if (m == NULL || worker >= m->n_workers)
        return NULL;
    return m->workers[worker];
}

dp_metrics_t *dp_metrics_of(dp_metrics_worker_t *w)
{
    return w ? w->parent : NULL;
}

/* Owner names go into a label value: keep them to a safe alphabet so the
 * exposition never needs escaping. */
static int valid_label_word(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return 0;
    return 1;
}

int dp_metrics_owner(dp_metrics_t *m, const char *name)
{
    if (m == NULL || !valid_label_word(name))
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    int n = atomic_load_explicit(&m->n_owners, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        if (strcmp(m->owner_names[i], name) == 0) {
            pthread_mutex_unlock(&m->lock);
            return i;
        }
    }
    int rc = -ENOSPC;
    if (n < DP_METRICS_MAX_OWNERS) {
        m->owner_names[n] = strdup(name);
        if (m->owner_names[n] == NULL) {
            rc = -ENOMEM;
        } else {
            /* release: a renderer that sees the count sees the name */
            atomic_store_explicit(&m->n_owners, n + 1, memory_order_release);
            rc = n;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
    /* single writer: a relaxed load+store is enough and avoids a locked
     * instruction on the request path */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

void dp_metrics_request(dp_metrics_worker_t *w, int owner, int status,
                        uint64_t latency_us)
{
    if (w == NULL || owner < 0 || owner >= DP_METRICS_MAX_OWNERS)
        return;
    owner_stats_t *o = &w->owners[owner];
    if (status >= STATUS_MIN && status < STATUS_MIN + STATUS_N)
        bump(&o->status[status - STATUS_MIN], 1);
    else
        bump(&o->other, 1);
    int b = 0;
    while (b < DP_METRICS_BUCKETS && latency_us > bucket_us[b])
        b++;
    if (b < DP_METRICS_BUCKETS)
        bump(&o->bucket[b], 1);
    bump(&o->count, 1);
    bump(&o->sum_us, latency_us);
}

static int valid_metric_name(const char *s)
{
    if (s == NULL || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = 0;
    for (; *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return n <= 128;
}

/* A label set as the exposition writes it: name="value" pairs separated by
 * commas. Values may hold escaped quotes and backslashes but no raw
 * newline; checked strictly so a plugin cannot break the scrape. */
static int valid_labels(const char *s)
{
    if (s == NULL || *s == '\0')
        return 1;
    if (strlen(s) > 1024)
        return 0;
    for (;;) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              *s == '_'))
            return 0;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
               (*s >= '0' && *s <= '9') || *s == '_')
            s++;
        if (*s++ != '=' || *s++ != '"')
            return 0;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n' || *s == '\r')
                return 0;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    return 0;
            }
            s++;
        }
        s++;
        if (*s == '\0')
            return 1;
        if (*s++ != ',')
            return 0;
    }
}

/* FNV-1a over the name, a separator no name holds, and the labels. */
static uint32_t series_hash(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = labels ? labels : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* Doubles the lookup table (m->lock held). On ENOMEM the old one stays:
 * longer chains, still correct. */
static void series_grow(dp_metrics_t *m)
{
    size_t n = m->n_buckets ? m->n_buckets * 2 : 64;
    series_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (series_t *s = m->series; s != NULL; s = s->next) {
        s->hnext = b[s->hash & (n - 1)];
        b[s->hash & (n - 1)] = s;
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

static series_t *series_get(dp_metrics_t *m, const char *name,
                            const char *labels, int is_gauge)
{
    if (labels != NULL && *labels == '\0')
        labels = NULL;
    uint32_t h = series_hash(name, labels);
    series_t *s = m->n_buckets ? m->buckets[h & (m->n_buckets - 1)] : NULL;
    for (; s != NULL; s = s->hnext) {
        if (s->hash != h || strcmp(s->name, name) != 0)
            continue;
        if ((s->labels == NULL) != (labels == NULL))
            continue;
        if (labels != NULL && strcmp(s->labels, labels) != 0)
            continue;
        return s->is_gauge == is_gauge ? s : NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->name = strdup(name);
    s->labels = labels ? strdup(labels) : NULL;
    if (s->name == NULL || (labels != NULL && s->labels == NULL)) {
        free(s->name);
        free(s->labels);
        free(s);
        return NULL;
    }
    s->is_gauge = is_gauge;
    s->hash = h;
    *m->series_tail = s;
    m->series_tail = &s->next;
    if (++m->n_series > m->n_buckets)
        series_grow(m); /* relinks s too */
    else {
        s->hnext = m->buckets[h & (m->n_buckets - 1)];
        m->buckets[h & (m->n_buckets - 1)] = s;
    }
    return s;
}

/* FNV-1a over pieces, as series_hash over their concatenations: name is
 * np[0..nn), the labels lp[0..nl). */
static uint32_t fnv_more(uint32_t h, const char *p)
{
    for (; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* 1 if s is the concatenation of the n pieces. */
static int parts_eq(const char *s, const char *const *pc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(pc[i]);
        if (strncmp(s, pc[i], l) != 0)
            return 0;
        s += l;
    }
    return *s == '\0';
}

/* The series of a plugin counter, found without building its name and
 * labels (m->lock held): a plugin counts every message it handles, and
 * formatting the two strings was most of what counting cost. NULL when
 * it does not exist yet. */
static series_t *plugin_series_find(dp_metrics_t *m, const char *plugin,
                                    const char *name, const char *labels)
{
    if (m->n_buckets == 0)
        return NULL;
    int more = labels && *labels;
    const char *np[] = {"doppel_plugin_", name, "_total"};
    const char *lp[] = {"plugin=\"", plugin, "\"", more ? "," : "",
                        more ? labels : ""};
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < 3; i++)
        h = fnv_more(h, np[i]);
    h = (h ^ 0xffu) * 16777619u;
    for (size_t i = 0; i < 5; i++)
        h = fnv_more(h, lp[i]);
    for (series_t *s = m->buckets[h & (m->n_buckets - 1)]; s; s = s->hnext)
        if (s->hash == h && !s->is_gauge && s->labels &&
            parts_eq(s->name, np, 3) && parts_eq(s->labels, lp, 5))
            return s;
    return NULL;
}

int dp_metrics_plugin_add(dp_metrics_t *m, const char *plugin,
                          const char *name, const char *labels, uint64_t v)
{
    if (m == NULL || plugin == NULL || name == NULL)
        return -EINVAL;
    /* an existing series was checked when it was made: what finds it is
     * valid */
    pthread_mutex_lock(&m->lock);
    series_t *found = plugin_series_find(m, plugin, name, labels);
    if (found)
        found->count += v;
    pthread_mutex_unlock(&m->lock);
    if (found)
        return 0;
    if (!valid_label_word(plugin) || !valid_metric_name(name) ||
        !valid_labels(labels))
        return -EINVAL;
    char full[192];
    snprintf(full, sizeof(full), "doppel_plugin_%s_total", name);
    /* the plugin label comes first so that two plugins with the same
     * counter name stay distinct series */
    size_t ll = strlen(plugin) + (labels ? strlen(labels) : 0) + 16;
    char *lab = malloc(ll);
    if (lab == NULL)
        return -ENOMEM;
    snprintf(lab, ll, "plugin=\"%s\"%s%s", plugin,
             (labels && *labels) ? "," : "", labels ? labels : "");
    pthread_mutex_lock(&m->lock);
    series_t *s = series_get(m, full, lab, 0);
    int rc = -ENOMEM;
    if (s != NULL) {
        s->count += v;
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    free(lab);
    return rc;
}

int dp_metrics_gauge_set(dp_metrics_t *m, const char *name, const char *labels,
                         double v)
{
    if (m == NULL || !valid_metric_name(name) || !valid_labels(labels))
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    series_t *s = series_get(m, name, labels, 1);
    int rc = -EINVAL; /* NULL also when the name is already a counter */
    if (s != NULL) {
        s->value = v;
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

void dp_metrics_conn_open(dp_metrics_worker_t *w, int delta)
{
    if (w != NULL)
        atomic_fetch_add_explicit(&w->conns_open, delta, memory_order_relaxed);
}

void dp_metrics_conn_shed(dp_metrics_worker_t *w, uint64_t n)
{
    if (w != NULL)
        atomic_fetch_add_explicit(&w->conns_shed, n, memory_order_relaxed);
}

void dp_metrics_accept_paused(dp_metrics_worker_t *w)
{
    if (w != NULL)
        atomic_fetch_add_explicit(&w->accept_pauses, 1, memory_order_relaxed);
}

/* ---- rendering -------------------------------------------------------- */

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The front's request counters and latency histogram are rendered twice:
 * as doppel's own families and, for the dashboards built for the mock
 * platforms doppel is compatible with, under their "mockarty_" names
 * (same labels and values). */
static void render_requests(dp_metrics_t *m, dp_sbuf_t *b, int n_owners,
                            const char *family)
{
    dp_sb_printf(b, "# HELP %s_http_requests_total HTTP requests answered "
                 "by the front, by route owner and status.\n"
                 "# TYPE %s_http_requests_total counter\n", family, family);
    for (int o = 0; o < n_owners; o++) {
        for (int s = 0; s < STATUS_N; s++) {
            uint64_t v = 0;
            for (unsigned w = 0; w < m->n_workers; w++)
                v += load(&m->workers[w]->owners[o].status[s]);
            if (v != 0)
                dp_sb_printf(b,
                          "%s_http_requests_total{owner=\"%s\","
                          "status=\"%d\"} %" PRIu64 "\n",
                          family, m->owner_names[o], s + STATUS_MIN, v);
        }
    }
}

static void render_latency(dp_metrics_t *m, dp_sbuf_t *b, int n_owners,
                           const char *family)
{
    dp_sb_printf(b, "# HELP %s_http_request_duration_seconds Time from the "
                 "first byte of a request to its answer.\n"
                 "# TYPE %s_http_request_duration_seconds histogram\n",
                 family, family);
    for (int o = 0; o < n_owners; o++) {
        uint64_t count = 0, sum = 0, bk[DP_METRICS_BUCKETS] = {0};
        for (unsigned w = 0; w < m->n_workers; w++) {
            owner_stats_t *st = &m->workers[w]->owners[o];
            count += load(&st->count);
            sum += load(&st->sum_us);
            for (int i = 0; i < DP_METRICS_BUCKETS; i++)
                bk[i] += load(&st->bucket[i]);
        }
        if (count == 0)
            continue;
        const char *name = m->owner_names[o];
        uint64_t cum = 0;
        for (int i = 0; i < DP_METRICS_BUCKETS; i++) {
            cum += bk[i];
            /* workers are read one after another: never let a bucket
             * exceed the total */
            if (cum > count)
                cum = count;
            dp_sb_printf(b,
                      "%s_http_request_duration_seconds_bucket{owner="
                      "\"%s\",le=\"%s\"} %" PRIu64 "\n",
                      family, name, bucket_le[i], cum);
        }
        dp_sb_printf(b,
                  "%s_http_request_duration_seconds_bucket{owner=\"%s\","
                  "le=\"+Inf\"} %" PRIu64 "\n"
                  "%s_http_request_duration_seconds_sum{owner=\"%s\"} "
                  "%.6f\n"
                  "%s_http_request_duration_seconds_count{owner=\"%s\"} "
                  "%" PRIu64 "\n",
                  family, name, count, family, name, (double)sum / 1e6,
                  family, name, count);
    }
}

/* Answers of one status range [lo, hi], per owner, as one counter family. */
static void render_status_family(dp_metrics_t *m, dp_sbuf_t *b, int n_owners,
                                 const char *name, const char *help, int lo,
                                 int hi)
{
    dp_sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int o = 0; o < n_owners; o++) {
        uint64_t v = 0;
        for (int s = lo - STATUS_MIN; s <= hi - STATUS_MIN; s++)
            for (unsigned w = 0; w < m->n_workers; w++)
                v += load(&m->workers[w]->owners[o].status[s]);
        if (v != 0)
            dp_sb_printf(b, "%s{owner=\"%s\"} %" PRIu64 "\n", name,
                         m->owner_names[o], v);
    }
}

static void render_connections(dp_metrics_t *m, dp_sbuf_t *b)
{
    int64_t open = 0;
    uint64_t shed = 0, pauses = 0;
    for (unsigned w = 0; w < m->n_workers; w++) {
        open += atomic_load_explicit(&m->workers[w]->conns_open,
                                     memory_order_relaxed);
        shed += load(&m->workers[w]->conns_shed);
        pauses += load(&m->workers[w]->accept_pauses);
    }
    dp_sb_printf(b,
                 "# HELP doppel_http_connections Client connections open.\n"
                 "# TYPE doppel_http_connections gauge\n"
                 "doppel_http_connections %" PRId64 "\n"
                 "# HELP doppel_http_connections_shed_total Idle connections "
                 "closed to make room (max_connections reached, or no "
                 "descriptors left).\n"
                 "# TYPE doppel_http_connections_shed_total counter\n"
                 "doppel_http_connections_shed_total %" PRIu64 "\n"
                 "# HELP doppel_http_accept_pauses_total Times a listener "
                 "stopped accepting (at the cap with none idle, or out of "
                 "descriptors).\n"
                 "# TYPE doppel_http_accept_pauses_total counter\n"
                 "doppel_http_accept_pauses_total %" PRIu64 "\n",
                 open < 0 ? 0 : open, shed, pauses);
}

static void render_series(dp_metrics_t *m, dp_sbuf_t *b)
{
    /* group by name: one TYPE line per family, series in insertion order */
    for (series_t *s = m->series; s != NULL; s = s->next) {
        int seen = 0;
        for (series_t *p = m->series; p != s; p = p->next)
            if (strcmp(p->name, s->name) == 0) {
                seen = 1;
                break;
            }
        if (seen)
            continue;
        dp_sb_printf(b, "# TYPE %s %s\n", s->name,
                  s->is_gauge ? "gauge" : "counter");
        for (series_t *q = s; q != NULL; q = q->next) {
            if (strcmp(q->name, s->name) != 0)
                continue;
            if (q->labels)
                dp_sb_printf(b, "%s{%s} ", q->name, q->labels);
            else
                dp_sb_printf(b, "%s ", q->name);
            if (q->is_gauge)
                dp_sb_printf(b, "%.17g\n", q->value);
            else
                dp_sb_printf(b, "%" PRIu64 "\n", q->count);
        }
    }
}

char *dp_metrics_render(dp_metrics_t *m, size_t *len)
{
    if (m == NULL)
        return NULL;
    dp_sbuf_t b = {0};
    if (dp_sb_reserve(&b, 4096) < 0)
        return NULL;
    b.p[0] = '\0';
    int n_owners = atomic_load_explicit(&m->n_owners, memory_order_acquire);
    render_requests(m, &b, n_owners, "doppel");
    render_latency(m, &b, n_owners, "doppel");
    render_connections(m, &b);
    render_requests(m, &b, n_owners, "mockarty");
    render_latency(m, &b, n_owners, "mockarty");
    render_status_family(m, &b, n_owners, "mockarty_errors_total",
                         "Answers with a 5xx status, by route owner.", 500,
                         STATUS_MIN + STATUS_N - 1);
    render_status_family(m, &b, n_owners, "mockarty_rate_limit_hits_total",
                         "Requests refused with 429 (rate limits), by route "
                         "owner.", 429, 429);
    pthread_mutex_lock(&m->lock);
    render_series(m, &b);
    pthread_mutex_unlock(&m->lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
