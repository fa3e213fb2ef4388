/*
 * The request path: candidate lookup, ordering, conditions, state checks,
 * the use-limit compare-and-swap, rendering, extract, the reply, and the
 * journal / unmatched entries with near misses.
 *
 * Runs on any thread at once; never takes the writer mutex. It pins the
 * published index for the duration of one call (match_index.c), reads the
 * immutable compiled mocks, and changes only their atomics, the stores
 * (short mutex) and the rings (short mutex).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "doppel/protocol.h"
#include "engine_internal.h"

#define MAX_CANDS 256
#define MAX_NEAR 5

/* ---- ordering ------------------------------------------------------------ */

/* priority (higher first), specificity (more static segments, then more
 * params, then fewer wildcards; regex routes last), createdAt (newer first),
 * then insertion order (newer first). */
int dp_mock_cmp(const void *a, const void *b)
{
    const dp_mock_t *x = *(dp_mock_t *const *)a;
    const dp_mock_t *y = *(dp_mock_t *const *)b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    int xr = x->re != NULL, yr = y->re != NULL;
    if (xr != yr)
        return xr - yr;
    if (x->route.n_static != y->route.n_static)
        return x->route.n_static > y->route.n_static ? -1 : 1;
    if (x->route.n_param != y->route.n_param)
        return x->route.n_param > y->route.n_param ? -1 : 1;
    if (x->route.n_wild != y->route.n_wild)
        return x->route.n_wild < y->route.n_wild ? -1 : 1;
    if (x->created_at != y->created_at)
        return x->created_at > y->created_at ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq > y->seq ? -1 : 1;
    return 0;
}

/* ---- per-thread random numbers ----------------------------------------- */

static _Thread_local uint64_t tl_rng;

static uint64_t *thread_rng(dp_engine_t *e)
{
    if (tl_rng == 0) {
        uint64_t s = atomic_fetch_add(&e->rng_seed, 0x9e3779b97f4a7c15ull);
        tl_rng = s ? s : 0x2545f4914f6cdd1dull;
    }
    return &tl_rng;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ---- state -------------------------------------------------------------- */

/* NULL when the mock may match now, else why not. */
static const char *state_block(const dp_mock_t *m, int64_t now)
{
    if (m->dormant)
        return "protocol not enabled";
    if (atomic_load_explicit(&m->closed_at, memory_order_relaxed) != 0)
        return "closed";
    if (m->expire_at && now >= m->expire_at)
        return "expired (ttl)";
    if (m->use_limit &&
        atomic_load_explicit(&m->use_counter, memory_order_relaxed) >=
            m->use_limit)
        return "used up (useLimiter)";
    return NULL;
}

int dp_mock_live(const dp_mock_t *m, int64_t now)
{
    return state_block(m, now) == NULL;
}

/* Takes one use; 0 when the limit was reached by someone else first. */
static int take_use(dp_mock_t *m)
{
    if (m->use_limit == 0) {
        atomic_fetch_add(&m->use_counter, 1);
        return 1;
    }
    int64_t cur = atomic_load(&m->use_counter);
    while (cur < m->use_limit) {
        if (atomic_compare_exchange_weak(&m->use_counter, &cur, cur + 1))
            return 1;
    }
    return 0;
}

/* No reason text here: most candidates fail, and formatting why each one
 * did would cost more than the match. Near misses recompute theirs. */
static int raw_body_holds(const dp_mock_t *m, const doppel_exchange_t *x)
{
    size_t bl = x->body ? x->body_len : 0;
    return !m->has_raw_body ||
           (bl == m->raw_body_len &&
            (bl == 0 || memcmp(x->body, m->raw_body, bl) == 0));
}

/* skip: the index of a condition known to hold (dp_collect_t.proven), or
 * -1. */
static int conds_hold(const dp_mock_t *m, dp_reqctx_t *rc, long skip)
{
    if (!raw_body_holds(m, rc->x))
        return 0;
    for (size_t i = 0; i < m->n_conds; i++) {
        if ((long)i == skip)
            continue;
        const json_t *doc = m->proto->doc(rc, m->conds[i].where);
        if (!dp_cond_eval(m->conds[i].c, doc, NULL, 0))
            return 0;
    }
    return 1;
}

/* ---- template environment ---------------------------------------------- */

typedef struct menv {
    dp_engine_t *e;
    const char *ns;
    const dp_mock_t *m;
    int saturated; /* an $.increment clamped at the int64 range */
    struct dp_session *sess; /* scope 's'; NULL: no session */
} menv_t;

static int scope_of(const menv_t *me, dp_store_scope_t scope, char *buf,
                    size_t len)
{
    if (scope == DP_SCOPE_CHAIN && me->m->chain_id == NULL)
        return -1;
    dp_scope_name(buf, len, (char)scope,
                  scope == DP_SCOPE_CHAIN ? me->m->chain_id : me->m->id);
    return 0;
}

static json_t *env_store_get(void *ud, dp_store_scope_t scope,
                             const char *key)
{
    menv_t *me = ud;
    char sc[200];
    if (key != NULL && scope == DP_SCOPE_SESSION)
        return me->sess ? dp_session_store_get(me->sess, key) : NULL;
    if (key == NULL || scope_of(me, scope, sc, sizeof(sc)) < 0)
        return NULL;
    return dp_stores_get(me->e->stores, me->ns, sc, key);
}

static int64_t env_store_incr(void *ud, dp_store_scope_t scope,
                              const char *key, int64_t step)
{
    menv_t *me = ud;
    char sc[200];
    if (key != NULL && scope == DP_SCOPE_SESSION)
        return me->sess ? dp_session_store_incr(me->sess, key, step,
                                                &me->saturated)
                        : 0;
    if (key == NULL || scope_of(me, scope, sc, sizeof(sc)) < 0)
        return 0;
    int64_t v =
        dp_stores_incr(me->e->stores, me->ns, sc, key, step, &me->saturated);
    dp_engine_store_changed(me->e, me->ns, sc, key);
    return v;
}

static json_t *path_params(const dp_mock_t *m, const dp_path_t *p)
{
    json_t *o = json_object();
    if (o == NULL || m->re)
        return o;
    for (size_t i = 0; i < m->route.n && i < p->n; i++) {
        const dp_seg_t *s = &m->route.segs[i];
        if (s->kind == DP_SEG_PARAM) {
            json_object_set_new(o, s->text,
                                dp_json_lossy(p->seg[i], p->len[i]));
        } else if (s->kind == DP_SEG_REST) {
            /* the rest of the path, decoded segments joined by '/' */
            size_t tot = 0;
            for (size_t k = i; k < p->n; k++)
                tot += p->len[k] + 1;
            char *buf = malloc(tot + 1);
            if (buf) {
                size_t o2 = 0;
                for (size_t k = i; k < p->n; k++) {
                    if (k > i)
                        buf[o2++] = '/';
                    memcpy(buf + o2, p->seg[k], p->len[k]);
                    o2 += p->len[k];
                }
                json_object_set_new(o, "*", dp_json_lossy(buf, o2));
                free(buf);
            }
        }
    }
    return o;
}

/* ---- the reply ----------------------------------------------------------- */

typedef struct reply_mem {
    doppel_reply_t r;
    doppel_kv_t *hdrs;
    char *arena;
    char svc[72]; /* reply.service */
    /* A PROXY reply whose plugin reports the forward's end
     * (DP_MATCH_DEFER_FORWARD): its journal entry, owned here until
     * dp_engine_forwarded or the free pushes it to e's journal, and when
     * the match began (monotonic us). */
    dp_engine_t *e;
    dp_jrec_t *pending;
    int64_t t0;
    char *extra; /* r.extra's text (malloc'd), or NULL */
} reply_mem_t;

typedef struct hdr_src {
    const char *name, *value;
} hdr_src_t;

static char *put(char **p, const char *s, size_t len)
{
    char *start = *p;
    if (len)
        memcpy(start, s, len);
    start[len] = '\0';
    *p += len + 1;
    return start;
}

static reply_mem_t *reply_new(uint32_t kind, int status, const hdr_src_t *h,
                              size_t nh, const char *body, size_t blen,
                              const char *mock_id, const char *proxy)
{
    size_t need = blen + 1;
    for (size_t i = 0; i < nh; i++)
        need += strlen(h[i].name) + strlen(h[i].value) + 2;
    need += (mock_id ? strlen(mock_id) : 0) + 1;
    need += (proxy ? strlen(proxy) : 0) + 1;
    reply_mem_t *rm = calloc(1, sizeof(*rm));
    if (rm == NULL)
        return NULL;
    rm->arena = malloc(need);
    rm->hdrs = calloc(nh ? nh : 1, sizeof(doppel_kv_t));
    if (!rm->arena || !rm->hdrs) {
        free(rm->arena);
        free(rm->hdrs);
        free(rm);
        return NULL;
    }
    char *p = rm->arena;
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(h[i].name), vl = strlen(h[i].value);
        rm->hdrs[i].name.ptr = put(&p, h[i].name, nl);
        rm->hdrs[i].name.len = nl;
        rm->hdrs[i].value.ptr = put(&p, h[i].value, vl);
        rm->hdrs[i].value.len = vl;
    }
    rm->r.size = sizeof(doppel_reply_t);
    rm->r.kind = kind;
    rm->r.status = status;
    rm->r.headers = rm->hdrs;
    rm->r.n_headers = nh;
    rm->r.body = (const uint8_t *)put(&p, body ? body : "", blen);
    rm->r.body_len = blen;
    size_t ml = mock_id ? strlen(mock_id) : 0;
    rm->r.mock_id.ptr = put(&p, mock_id ? mock_id : "", ml);
    rm->r.mock_id.len = ml;
    size_t pl = proxy ? strlen(proxy) : 0;
    rm->r.proxy_target.ptr = put(&p, proxy ? proxy : "", pl);
    rm->r.proxy_target.len = pl;
    rm->r.extra = (doppel_str_t){"", 0};
    return rm;
}

int dp_engine_reply_error(int status, const char *code, const char *message,
                          doppel_str_t request_id, doppel_reply_t **out)
{
    return dp_engine_reply_refusal(status, code, message, request_id, 0, out);
}

int dp_engine_reply_refusal(int status, const char *code, const char *message,
                            doppel_str_t request_id, unsigned retry_after_s,
                            doppel_reply_t **out)
{
    json_t *o = json_pack("{s:s, s:s, s:s%}", "error", message, "code", code,
                          "request_id",
                          request_id.ptr ? request_id.ptr : "",
                          request_id.ptr ? request_id.len : 0);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt == NULL)
        return -ENOMEM;
    char secs[16];
    snprintf(secs, sizeof(secs), "%u", retry_after_s);
    hdr_src_t h[2] = {{"Content-Type", "application/json"},
                      {"Retry-After", secs}};
    reply_mem_t *rm =
        reply_new(DOPPEL_REPLY_NO_MATCH, status, h, retry_after_s ? 2 : 1, txt,
                  strlen(txt), NULL, NULL);
    free(txt);
    if (rm == NULL)
        return -ENOMEM;
    *out = &rm->r;
    return 0;
}

void dp_engine_reply_free(doppel_reply_t *r)
{
    reply_mem_t *rm = (reply_mem_t *)r;
    if (rm == NULL)
        return;
    /* never reported: journalled as a 1.0 plugin's would be (status 0) */
    if (rm->pending)
        dp_ring_push(&rm->e->journal, rm->pending);
    free(rm->arena);
    free(rm->hdrs);
    free(rm->extra);
    free(rm);
}

/* ---- record and replay --------------------------------------------------- */

static void set_service(reply_mem_t *rm, const dp_rr_svc_t *svc)
{
    if (rm == NULL || svc == NULL)
        return;
    int n = snprintf(rm->svc, sizeof(rm->svc), "%s", svc->name);
    rm->r.service = (doppel_str_t){rm->svc, (size_t)n};
}

/* A PROXY reply to the service's upstream: target + the path after the
 * service's prefix (the plugin appends the query). */
static reply_mem_t *service_proxy(const dp_rr_svc_t *svc, int record,
                                  const char *path, size_t len)
{
    char *url = dp_rr_url(svc, path, len);
    if (url == NULL)
        return NULL;
    reply_mem_t *rm =
        reply_new(DOPPEL_REPLY_PROXY, 0, NULL, 0, NULL, 0, NULL, url);
    free(url);
    if (rm == NULL)
        return NULL;
    set_service(rm, svc);
    rm->r.proxy_timeout_ms = svc->timeout_ms;
    rm->r.proxy_flags = svc->tls_verify ? 0 : DOPPEL_FETCH_F_INSECURE;
    if (record)
        rm->r.flags |= DOPPEL_REPLY_F_RECORD;
    return rm;
}

static json_t *str_json(doppel_str_t s)
{
    json_t *v = s.ptr ? json_stringn(s.ptr, s.len) : json_string("");
    return v ? v : json_string("");
}

/* The answer to a matched request that hit a limit: the error JSON
 * {error, code: "limit_exceeded", limit, max, request_id} with status 507
 * for a store limit (the server cannot store what the mock's extract
 * made; RFC 4918 11.5) and 500 for response_max (the mock made an answer
 * the server will not send; nothing is wrong with the request). */
static reply_mem_t *limit_reply(const dp_engine_t *e, const dp_mock_t *m,
                                const dp_reqctx_t *rc, const char *limit)
{
    int store = strcmp(limit, "response_max") != 0;
    size_t max = strcmp(limit, "store_value_max") == 0 ? e->cfg.store_value_max
                 : store ? e->cfg.store_total_max
                         : e->cfg.response_max;
    char msg[160];
    snprintf(msg, sizeof(msg),
             store ? "the mock's extract would pass %s (%zu bytes): nothing "
                     "was stored"
                   : "the rendered answer would pass %s (%zu bytes)",
             limit, max);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o}", "error", msg, "code",
                          "limit_exceeded", "limit", limit, "max",
                          (json_int_t)max, "request_id",
                          str_json(rc->x->request_id));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt == NULL)
        return NULL;
    hdr_src_t h = {"Content-Type", "application/json"};
    reply_mem_t *rm = reply_new(DOPPEL_REPLY_RESPONSE, store ? 507 : 500, &h,
                                1, txt, strlen(txt), m->id, NULL);
    free(txt);
    return rm;
}

/* The extract writes of one request, held until the answer is known. */
typedef struct ext_buf {
    size_t n; /* entries put */
    char (*sc)[200];
    const char **scopes, **keys;
    json_t **vals, **olds;
    /* scope 's' (the session's store): put after the others */
    size_t ns_put;
    const char **skeys;
    json_t **svals, **solds;
} ext_buf_t;

static void ext_buf_free(ext_buf_t *b)
{
    for (size_t i = 0; b->olds && i < b->n; i++)
        json_decref(b->olds[i]);
    for (size_t i = 0; b->solds && i < b->ns_put; i++)
        json_decref(b->solds[i]);
    free(b->sc);
    free(b->scopes);
    free(b->keys);
    free(b->vals);
    free(b->olds);
    free(b->skeys);
    free(b->svals);
    free(b->solds);
}

/* Takes back what an extract stored (the answer was refused). */
static void ext_undo(dp_engine_t *e, const char *ns, menv_t *me, ext_buf_t *b)
{
    dp_stores_undo(e->stores, ns, b->n, b->scopes, b->keys, b->olds);
    b->n = 0;
    for (size_t i = b->ns_put; i-- > 0;) {
        dp_session_store_undo(me->sess, b->skeys[i], b->solds[i]);
        b->solds[i] = NULL;
    }
    b->ns_put = 0;
}

/* Renders the extract values of m and stores them, all or none, each
 * within the store limits. 0 (b->n entries put, their old values in
 * b->olds for an undo), -EFBIG / -ENOSPC (a limit: *limit names it,
 * nothing stored), -ENOMEM. */
static int apply_extract(dp_engine_t *e, const char *ns, const dp_mock_t *m,
                         menv_t *me, dp_tmpl_env_t *env, ext_buf_t *b,
                         const char **limit)
{
    size_t cap = m->n_ext;
    b->sc = calloc(cap, sizeof(*b->sc));
    b->scopes = calloc(cap, sizeof(*b->scopes));
    b->keys = calloc(cap, sizeof(*b->keys));
    b->vals = calloc(cap, sizeof(*b->vals));
    b->olds = calloc(cap, sizeof(*b->olds));
    b->skeys = calloc(cap, sizeof(*b->skeys));
    b->svals = calloc(cap, sizeof(*b->svals));
    b->solds = calloc(cap, sizeof(*b->solds));
    if (!b->sc || !b->scopes || !b->keys || !b->vals || !b->olds ||
        !b->skeys || !b->svals || !b->solds)
        return -ENOMEM;
    size_t n = 0, ns_n = 0;
    int rc = 0;
    /* a value is refused while it renders, before it is allocated whole */
    env->max_bytes = e->cfg.store_value_max;
    for (size_t i = 0; i < m->n_ext; i++) {
        const dp_extract_t *x = &m->ext[i];
        if (x->scope == DP_SCOPE_SESSION) {
            if (me->sess == NULL)
                continue; /* no session: nothing to keep it in */
            rc = dp_tmpl_render_ex(x->t, env, &b->svals[ns_n]);
            if (rc < 0)
                break;
            b->skeys[ns_n++] = x->key;
            continue;
        }
        if (scope_of(me, (dp_store_scope_t)x->scope, b->sc[n],
                     sizeof(b->sc[n])) < 0)
            continue;
        rc = dp_tmpl_render_ex(x->t, env, &b->vals[n]);
        if (rc < 0)
            break;
        b->scopes[n] = b->sc[n];
        b->keys[n] = x->key;
        n++;
    }
    env->max_bytes = 0;
    if (rc == 0) {
        size_t which = 0;
        rc = dp_stores_put_many(e->stores, ns, n, b->scopes, b->keys, b->vals,
                                b->olds, &which);
        if (rc == 0)
            b->n = n;
    } else {
        for (size_t i = 0; i < n; i++)
            json_decref(b->vals[i]);
    }
    for (size_t i = 0; i < ns_n; i++) {
        json_t *v = b->svals[i];
        b->svals[i] = NULL;
        if (rc == 0 &&
            dp_session_store_put(me->sess, b->skeys[i], v, &b->solds[i]) == 0)
            b->ns_put = i + 1;
        else if (rc == 0) {
            rc = -ENOMEM;
            ext_undo(e, ns, me, b);
        } else {
            json_decref(v);
        }
    }
    if (rc == -EFBIG)
        *limit = "store_value_max";
    else if (rc == -ENOSPC)
        *limit = "store_total_max";
    return rc;
}

/* Renders r's protocol extra (reply->extra): malloc'd compact JSON in
 * *out, NULL when there is none. 0, -EFBIG past response_max, -ENOMEM. */
static int render_extra(dp_engine_t *e, const dp_resp_t *r,
                        dp_tmpl_env_t *env, char **out)
{
    *out = NULL;
    if (r->xtmpl == NULL) {
        if (r->extra && (*out = strdup(r->extra)) == NULL)
            return -ENOMEM;
        return 0;
    }
    json_t *v = NULL;
    env->max_bytes = e->cfg.response_max;
    int rc = dp_tmpl_render_ex(r->xtmpl, env, &v);
    env->max_bytes = 0;
    if (rc < 0)
        return rc;
    *out = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return *out ? 0 : -ENOMEM;
}

/* Adds the section's members as written (m->sec_extra, an object's
 * members without braces) to the rendered extra (NULL: none): both are
 * compact objects with disjoint names. 0 or -ENOMEM. */
static int splice_sec_extra(const char *sec, char **extra)
{
    const char *x = *extra ? *extra : "{}";
    size_t xl = strlen(x), sl = strlen(sec);
    char *o = malloc(xl + sl + 2);
    if (o == NULL)
        return -ENOMEM;
    /* x is "{}" or "{...}": drop its closing brace */
    memcpy(o, x, xl - 1);
    size_t k = xl - 1;
    if (xl > 2)
        o[k++] = ',';
    memcpy(o + k, sec, sl);
    k += sl;
    o[k++] = '}';
    o[k] = '\0';
    free(*extra);
    *extra = o;
    return 0;
}

/* Renders the winner's reply. NULL on ENOMEM; a limit hit gives the
 * limit's error answer and names it in *limit (for the journal). */
static reply_mem_t *render(dp_engine_t *e, const char *ns, dp_mock_t *m,
                           dp_reqctx_t *rc, const dp_path_t *path,
                           int64_t now, const char **limit)
{
    if (m->kind == DP_REPLY_PROXY)
        return reply_new(DOPPEL_REPLY_PROXY, 0, NULL, 0, NULL, 0, m->id,
                         m->proxy_target);
    uint64_t *rng = thread_rng(e);
    const dp_resp_t *r = &m->resps[0];
    if (m->kind == DP_REPLY_ONEOF) {
        /* an ordered oneOf advances per session inside a session */
        uint64_t i = m->random ? rng_next(rng)
                     : rc->sess ? dp_session_next_answer(rc->sess, m)
                                : atomic_fetch_add(&((dp_mock_t *)m)->cursor,
                                                   1);
        r = &m->resps[i % m->n_resps];
    }
    if (r->tmpl == NULL && r->body_len > e->cfg.response_max) {
        *limit = "response_max";
        return limit_reply(e, m, rc, *limit);
    }

    json_t *pp = NULL;
    menv_t me = {e, ns, m, 0, rc->sess};
    dp_tmpl_env_t env = {0};
    if (r->tmpl || r->xtmpl || m->n_ext) {
        pp = path_params(m, path);
        env.req = m->needs_body ? dp_reqctx_body(rc) : NULL;
        env.path_params = pp;
        env.query_params = dp_reqctx_query(rc);
        env.headers = dp_reqctx_headers_all(rc);
        env.session = rc->sess ? json_object_get(dp_reqctx_session(rc),
                                                 "session")
                               : NULL;
        env.store_get = env_store_get;
        env.store_incr = env_store_incr;
        env.ud = &me;
        env.rng = rng;
        env.now = now;
    }
    /* extract first, so the response can show what this request stored */
    ext_buf_t xb = {0};
    int erc = m->n_ext ? apply_extract(e, ns, m, &me, &env, &xb, limit) : 0;
    if (erc < 0) {
        ext_buf_free(&xb);
        json_decref(pp);
        return erc == -ENOMEM ? NULL : limit_reply(e, m, rc, *limit);
    }
    /* the session document as this message left it, for $.session.* */
    if (rc->sess && xb.ns_put) {
        json_decref(rc->sess_doc);
        rc->sess_doc = NULL;
        env.session = json_object_get(dp_reqctx_session(rc), "session");
    }

    char *dyn = NULL, *extra = NULL;
    size_t blen = r->body_len;
    const char *body = r->body;
    const char *ctype = r->ctype;
    int trc = 0;
    if (r->tmpl) {
        json_t *v = NULL;
        env.max_bytes = e->cfg.response_max;
        trc = dp_tmpl_render_ex(r->tmpl, &env, &v);
        if (trc == 0 && dp_payload_bytes(v, &dyn, &blen, &ctype) < 0)
            trc = -ENOMEM;
        /* escapes may have made the text longer than the budget counted */
        if (trc == 0 && blen > e->cfg.response_max)
            trc = -EFBIG;
        json_decref(v);
        body = dyn;
    }
    if (trc == 0)
        trc = render_extra(e, r, &env, &extra);
    if (trc == 0 && m->sec_extra)
        trc = splice_sec_extra(m->sec_extra, &extra);
    if (trc == 0 && extra && strlen(extra) + blen > e->cfg.response_max)
        trc = -EFBIG;
    json_decref(pp);
    if (trc < 0) {
        /* the request is refused as a whole: its extract is taken back */
        ext_undo(e, ns, &me, &xb);
        ext_buf_free(&xb);
        free(dyn);
        free(extra);
        if (trc == -ENOMEM)
            return NULL;
        *limit = "response_max";
        return limit_reply(e, m, rc, *limit);
    }
    for (size_t i = 0; i < xb.n; i++)
        dp_engine_store_changed(e, ns, xb.scopes[i], xb.keys[i]);
    ext_buf_free(&xb);
    if (me.saturated)
        *limit = "int64_range";

    hdr_src_t stackh[16];
    size_t nh = r->n_headers + 1;
    hdr_src_t *h = nh <= 16 ? stackh : malloc(nh * sizeof(*h));
    reply_mem_t *rm = NULL;
    if (h) {
        size_t k = 0;
        for (size_t i = 0; i < r->n_headers; i++)
            h[k++] = (hdr_src_t){r->hname[i], r->hvalue[i]};
        if (!r->has_ctype && ctype)
            h[k++] = (hdr_src_t){"Content-Type", ctype};
        rm = reply_new(DOPPEL_REPLY_RESPONSE, r->status, h, k, body, blen,
                       m->id, NULL);
        if (rm) {
            rm->r.delay_ms = r->delay_ms;
            if (r->is_error)
                rm->r.flags |= DOPPEL_REPLY_F_IS_ERROR;
            rm->extra = extra;
            extra = NULL;
            if (rm->extra)
                rm->r.extra = (doppel_str_t){rm->extra, strlen(rm->extra)};
        }
        if (h != stackh)
            free(h);
    }
    free(dyn);
    free(extra);
    return rm;
}

/* ---- journal entries ------------------------------------------------------ */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t since_us(int64_t t0)
{
    int64_t d = mono_us() - t0;
    return d < 0 ? 0 : d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* The entry of a forwarded request: journalled now with status 0 (the
 * upstream has not answered; a plugin built against ABI 1.0 reports
 * nothing more), or kept in the reply until the plugin reports how the
 * forward ended (DP_MATCH_DEFER_FORWARD, dp_engine_forwarded). */
static void journal_proxy(dp_engine_t *e, reply_mem_t *rm, dp_jrec_t *je,
                          unsigned flags, int64_t t0)
{
    if (je == NULL)
        return;
    dp_jrec_set_latency(je, since_us(t0));
    if (rm != NULL && (flags & DP_MATCH_DEFER_FORWARD)) {
        rm->e = e;
        rm->pending = je;
        rm->t0 = t0;
    } else {
        dp_ring_push(&e->journal, je);
    }
}

/* [a-z_]{1,15}: a word for the journal's forwardError. */
static int reason_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 15 || !((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
            return 0;
    return n > 0;
}

int dp_engine_forwarded(doppel_reply_t *r, int status, const char *reason)
{
    reply_mem_t *rm = (reply_mem_t *)r;
    if (rm == NULL || r->kind != DOPPEL_REPLY_PROXY || status < 100 ||
        status > 599 || (reason && reason[0] && !reason_valid(reason)))
        return -EINVAL;
    if (rm->pending == NULL)
        return -EALREADY;
    dp_jrec_t *je = rm->pending;
    rm->pending = NULL;
    dp_jrec_set_latency(je, since_us(rm->t0));
    dp_jrec_forwarded(je, status, reason);
    dp_ring_push(&rm->e->journal, je);
    return 0;
}

/* ---- near misses ------------------------------------------------------- */

static json_t *near_item(const dp_mock_t *m)
{
    return json_pack("{s:s, s:s, s:I, s:[]}", "mockId", m->id, "route",
                     m->route_src ? m->route_src : "", "priority",
                     (json_int_t)m->priority, "failed");
}

static void add_failed(json_t *item, const char *where, const char *path,
                       const char *reason)
{
    json_t *f = json_pack("{s:s, s:s, s:s}", "where", where, "path",
                          path ? path : "", "reason", reason ? reason : "");
    json_array_append_new(json_object_get(item, "failed"), f);
}

static const char *where_name(dp_cond_target_t w)
{
    return w == DP_COND_HEADER                             ? "header"
           : w == DP_COND_QUERY || w == DP_COND_QUERY_ALL ? "query"
                                                                : "body";
}

static json_t *cond_miss(const dp_mock_t *m, dp_reqctx_t *rc)
{
    json_t *it = near_item(m);
    if (it == NULL)
        return NULL;
    if (!raw_body_holds(m, rc->x))
        add_failed(it, "body", "$", "the body differs from rawBody");
    for (size_t i = 0; i < m->n_conds; i++) {
        char why[256] = "";
        const json_t *doc = m->proto->doc(rc, m->conds[i].where);
        if (!dp_cond_eval(m->conds[i].c, doc, why, sizeof(why)))
            add_failed(it, where_name(m->conds[i].where),
                       dp_cond_path(m->conds[i].c), why);
    }
    return it;
}

/* ---- answers without a mock (protocol handlers: mcp lists) ------------- */

/* 1 when the handler answered x (*out and the journal entry made), 0 when x
 * is for the matcher, negative errno on failure. */
static int proto_answer(dp_engine_t *e, const dp_proto_t *proto,
                        const dp_proto_ix_t *pi, const doppel_exchange_t *x,
                        const char *ns, doppel_str_t jpath, int64_t now,
                        int64_t t0, reply_mem_t **out)
{
    char *body = NULL;
    size_t len = 0;
    int h = proto->answer(pi, x, now, &body, &len);
    if (h <= 0)
        return h;
    hdr_src_t ct = {"Content-Type", "application/json"};
    *out = reply_new(DOPPEL_REPLY_RESPONSE, 200, &ct, 1, body, len, NULL,
                     NULL);
    free(body);
    if (*out == NULL)
        return -ENOMEM;
    dp_jrec_t *entry = dp_jrec_build(e, x, ns, jpath, e->cfg.journal_body_max,
                                     wall_ms(), 200, NULL, NULL);
    if (entry) {
        dp_jrec_set_latency(entry, (uint32_t)(mono_us() - t0));
        dp_ring_push(&e->journal, entry);
    }
    return 1;
}

/* ---- the match ----------------------------------------------------------- */

/* Collects the candidates of one request into c (capacity cap). Returns how
 * many there are, which may exceed cap (then call again with more room).
 * cc->runs counts the sorted runs they came in: every trie node and the
 * regex list hold their mocks in match order already (dp_index_build
 * sorts), so one run needs no sorting. With cc->rc set, value indexes leave
 * out mocks that cannot match (cc->pruned). */
static size_t gather(const dp_proto_ix_t *pi, const char *op, size_t oplen,
                     const dp_path_t *path, const char *rawpath,
                     dp_mock_t **c, size_t cap, dp_collect_t *cc)
{
    size_t n = 0;
    cc->runs = 0;
    cc->pruned = 0;
    cc->n_proven = 0;
    const dp_trie_t *t = op ? dp_smap_getn(&pi->ops, op, oplen) : NULL;
    if (t)
        n += dp_trie_collect(t, path, c, cap, cc);
    if (pi->any)
        n += dp_trie_collect(pi->any, path, c + (n < cap ? n : cap),
                             n < cap ? cap - n : 0, cc);
    size_t before = n;
    for (size_t i = 0; i < pi->n_regex; i++) {
        const dp_mock_t *m = pi->regex[i];
        if (m->op && (op == NULL || strlen(m->op) != oplen ||
                      memcmp(m->op, op, oplen) != 0))
            continue;
        if (regexec(m->re, rawpath, 0, NULL, 0) == 0) {
            if (n < cap)
                c[n] = pi->regex[i];
            n++;
        }
    }
    if (n > before)
        cc->runs++;
    return n;
}

/* Candidates of the request in match order: into stack (MAX_CANDS long),
 * or into a heap array when more share the path, which the caller frees
 * when *cands is not stack. Returns the count, or (size_t)-1 on ENOMEM. */
static size_t candidates(const dp_proto_ix_t *pi, const char *op,
                         size_t oplen, const dp_path_t *path,
                         const char *rawpath, dp_mock_t **stack,
                         dp_mock_t ***cands, dp_collect_t *cc)
{
    *cands = stack;
    size_t nc = gather(pi, op, oplen, path, rawpath, stack, MAX_CANDS, cc);
    if (nc > MAX_CANDS) {
        /* More mocks share this path than the stack holds: every one of
         * them is still a candidate. */
        *cands = malloc(nc * sizeof(**cands));
        if (*cands == NULL) {
            *cands = stack;
            return (size_t)-1;
        }
        nc = gather(pi, op, oplen, path, rawpath, *cands, nc, cc);
    }
    if (nc > 1 && cc->runs > 1)
        qsort(*cands, nc, sizeof((*cands)[0]), dp_mock_cmp);
    return nc;
}

int dp_engine_match(dp_engine_t *e, const doppel_exchange_t *x,
                    doppel_reply_t **out)
{
    return dp_engine_match_ex(e, x, 0, out);
}

int dp_engine_match_ex(dp_engine_t *e, const doppel_exchange_t *x,
                       unsigned flags, doppel_reply_t **out)
{
    return dp_engine_match_session(e, x, flags, NULL, out);
}

int dp_engine_match_session(dp_engine_t *e, const doppel_exchange_t *x,
                            unsigned flags, struct dp_session *sess,
                            doppel_reply_t **out)
{
    *out = NULL;
    if (e == NULL || x == NULL)
        return -EINVAL;
    int64_t t0 = mono_us();
    int64_t now = dp_engine_now(e);
    char nsbuf[160];
    const char *ns = "sandbox";
    if (x->ns.ptr && x->ns.len) {
        if (x->ns.len >= sizeof(nsbuf) || memchr(x->ns.ptr, 0, x->ns.len))
            return -EINVAL;
        memcpy(nsbuf, x->ns.ptr, x->ns.len);
        nsbuf[x->ns.len] = '\0';
        ns = nsbuf;
    }
    const dp_proto_t *proto =
        x->protocol.ptr
            ? dp_protos_find(e->protos, x->protocol.ptr, x->protocol.len)
            : NULL;
    const char *tp = x->target.ptr ? x->target.ptr : "";
    size_t tl = x->target.ptr ? x->target.len : 0;
    const char *qm = proto && proto->req_path ? NULL : memchr(tp, '?', tl);
    if (qm)
        tl = (size_t)(qm - tp);
    char *rawpath = strndup(tp, tl);
    dp_path_t path;
    if (rawpath == NULL ||
        (proto && proto->req_path ? proto->req_path(x, &path)
                                  : dp_path_split(tp, tl, &path)) < 0) {
        free(rawpath);
        return -ENOMEM;
    }
    int exact_op = proto && (proto->flags & DP_PROTO_F_EXACT_OP);
    /* methods compare upper-case; a registered section's operations (gRPC
     * method names) are as long as its check's key allows */
    char opbuf[DOPPEL_MOCK_KEY_BUF];
    const char *op = NULL;
    size_t oplen = 0;
    if (x->operation.ptr && x->operation.len &&
        x->operation.len < sizeof(opbuf)) {
        for (size_t i = 0; i < x->operation.len; i++) {
            char ch = x->operation.ptr[i];
            opbuf[i] =
                (!exact_op && ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        oplen = x->operation.len;
        opbuf[oplen] = '\0';
        op = opbuf;
    }

    dp_reqctx_t rc = {.x = x, .sess = sess};
    dp_mock_t *cands_stack[MAX_CANDS];
    dp_mock_t **cands = cands_stack;
    size_t nc = 0;
    unsigned slot;
    dp_index_t *ix = dp_index_enter(e, &slot);
    const dp_proto_ix_t *pi = NULL;
    if (proto) {
        const dp_ns_ix_t *nsx = dp_smap_get(&ix->ns, ns);
        if (nsx && proto->slot < nsx->n_protos)
            pi = nsx->protos[proto->slot];
    }
    /* A request under a service's pathPrefix follows the service's mode
     * (docs/record-replay.md); outside every service nothing changes. */
    int rr_mode = DP_MODE_NONE;
    const dp_rr_svc_t *svc =
        proto == &dp_proto_http || (proto && proto->flags & DP_PROTO_F_HTTP_PATH)
            ? dp_rr_find(e, atomic_load(&e->rr), ns, rawpath, tl, &rr_mode)
            : NULL;
    if (svc && (rr_mode == DP_MODE_PASSTHROUGH || rr_mode == DP_MODE_LEARN)) {
        reply_mem_t *fw = service_proxy(svc, rr_mode == DP_MODE_LEARN, tp, tl);
        dp_index_leave(e, slot); /* svc is gone from here on: fw->svc */
        dp_jrec_t *je =
            fw ? dp_jrec_build_proxy(e, x, ns, (doppel_str_t){tp, tl},
                                     e->cfg.journal_body_max, wall_ms(), NULL,
                                     fw->svc)
               : NULL;
        journal_proxy(e, fw, je, flags, t0);
        dp_reqctx_free(&rc);
        dp_path_free(&path);
        free(rawpath);
        if (fw == NULL)
            return -ENOMEM;
        *out = &fw->r;
        return 0;
    }
    dp_collect_t cc = {.rc = &rc};
    if (proto && proto->answer) {
        reply_mem_t *arm = NULL;
        int h = proto_answer(e, proto, pi, x, ns, (doppel_str_t){tp, tl}, now,
                             t0, &arm);
        if (h != 0) {
            dp_index_leave(e, slot);
            dp_reqctx_free(&rc);
            dp_path_free(&path);
            free(rawpath);
            if (h < 0)
                return h;
            *out = &arm->r;
            return 0;
        }
    }
    if (pi) {
        nc = candidates(pi, op, oplen, &path, rawpath, cands_stack, &cands,
                        &cc);
        if (nc == (size_t)-1) {
            dp_index_leave(e, slot);
            dp_reqctx_free(&rc);
            dp_path_free(&path);
            free(rawpath);
            return -ENOMEM;
        }
    }

    dp_mock_t *win = NULL;
    const dp_mock_t *cond_fail[MAX_NEAR];
    const dp_mock_t *state_fail[MAX_NEAR];
    const char *state_why[MAX_NEAR];
    size_t ncf = 0, nsf = 0;
    for (size_t i = 0; i < nc && win == NULL; i++) {
        dp_mock_t *m = cands[i];
        const char *blk = state_block(m, now);
        if (blk) {
            if (nsf < MAX_NEAR) {
                state_why[nsf] = blk;
                state_fail[nsf++] = m;
            }
            continue;
        }
        long skip = -1;
        for (unsigned k = 0; k < cc.n_proven; k++)
            if (cc.proven[k].m == m)
                skip = cc.proven[k].cond;
        if (!conds_hold(m, &rc, skip)) {
            if (ncf < MAX_NEAR)
                cond_fail[ncf++] = m;
            continue;
        }
        if (!take_use(m)) {
            if (nsf < MAX_NEAR) {
                state_why[nsf] = "used up (useLimiter)";
                state_fail[nsf++] = m;
            }
            continue;
        }
        win = m;
    }

    if (win == NULL && cc.pruned && ncf < MAX_NEAR) {
        /* A value index left out mocks that could not match; the near-miss
         * report still names the closest of them ("kind: expected k7, found
         * k9"), so look at the whole list once more on this miss. */
        dp_mock_t *all_stack[MAX_CANDS];
        dp_mock_t **all = NULL;
        dp_collect_t full = {.rc = NULL};
        size_t na = candidates(pi, op, oplen, &path, rawpath, all_stack, &all,
                               &full);
        for (size_t i = 0; na != (size_t)-1 && i < na && ncf < MAX_NEAR;
             i++) {
            dp_mock_t *m = all[i];
            int seen = 0;
            for (size_t k = 0; k < ncf; k++)
                seen |= cond_fail[k] == m;
            if (!seen && !state_block(m, now) && !conds_hold(m, &rc, -1))
                cond_fail[ncf++] = m;
        }
        if (all != all_stack)
            free(all);
    }

    reply_mem_t *rm = NULL;
    dp_jrec_t *entry = NULL;
    int win_ring = win != NULL; /* the journal, not the unmatched list */
    doppel_str_t jpath = {tp, tl};
    if (win) {
        atomic_store_explicit(&win->last_use, now, memory_order_relaxed);
        atomic_store_explicit(&win->dirty, 1, memory_order_release);
        const char *limit = NULL;
        rm = render(e, ns, win, &rc, &path, now, &limit);
        /* A proxy mock forwards to its own target + the request's path; a
         * service name on its reply would tell the plugin the target is
         * already the whole URL (a service forward), dropping the path. */
        if (rm && rm->r.kind != DOPPEL_REPLY_PROXY)
            set_service(rm, svc);
        if (rm && rm->r.kind == DOPPEL_REPLY_PROXY) /* a proxy mock */
            entry =
                dp_jrec_build_proxy(e, x, ns, jpath, e->cfg.journal_body_max,
                                    wall_ms(), win->id, NULL);
        else
            entry = dp_jrec_build(e, x, ns, jpath, e->cfg.journal_body_max,
                                  wall_ms(), rm ? rm->r.status : 500, win->id,
                                  NULL);
        dp_jrec_set_limit(entry, limit);
    } else if (svc && rr_mode == DP_MODE_SPY) {
        /* no mock: the upstream answers (nothing recorded) */
        rm = service_proxy(svc, 0, tp, tl);
        entry =
            rm ? dp_jrec_build_proxy(e, x, ns, jpath, e->cfg.journal_body_max,
                                     wall_ms(), NULL, svc->name)
               : NULL;
        win_ring = 1;
    } else {
        json_t *near = json_array();
        for (size_t i = 0; near && i < ncf; i++)
            json_array_append_new(near, cond_miss(cond_fail[i], &rc));
        /* same path, another method */
        if (pi && op && json_array_size(near) < MAX_NEAR) {
            DP_SMAP_FOREACH(&pi->ops, k)
            {
                const char *other = pi->ops.ents[k].key;
                if (strcmp(other, op) == 0)
                    continue;
                dp_mock_t *oc[MAX_NEAR];
                size_t f = dp_trie_collect(pi->ops.ents[k].val, &path, oc,
                                           MAX_NEAR, NULL);
                for (size_t j = 0; j < f && j < MAX_NEAR &&
                                   json_array_size(near) < MAX_NEAR;
                     j++) {
                    json_t *it = near_item(oc[j]);
                    char why[192];
                    snprintf(why, sizeof(why), "expects %.80s, got %.80s",
                             other, op);
                    add_failed(it, "method", "", why);
                    json_array_append_new(near, it);
                }
            }
        }
        for (size_t i = 0; near && i < nsf && json_array_size(near) < MAX_NEAR;
             i++) {
            json_t *it = near_item(state_fail[i]);
            add_failed(it, "state", "", state_why[i]);
            json_array_append_new(near, it);
        }
        if (near == NULL)
            near = json_array();
        json_t *body = json_pack(
            "{s:s, s:s, s:o, s:{s:o, s:o}, s:O}", "error", "no mock matched",
            "code", "not_found", "request_id", str_json(x->request_id),
            "request", "method", str_json(x->operation), "path",
            str_json((doppel_str_t){tp, tl}), "nearMisses", near);
        if (body && proto && proto->miss)
            proto->miss(proto, pi, x, &path, now, body);
        /* a registered section's sentence on the miss, for the list too */
        const char *why = json_string_value(json_object_get(body, "reason"));
        char *reason = why ? strdup(why) : NULL;
        char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        /* MOCK mode: the service's miss status, marked as a miss */
        int miss = svc ? svc->miss_status : 404;
        if (txt) {
            hdr_src_t h[2] = {{"Content-Type", "application/json"},
                              {"X-Doppel-Miss", "true"}};
            rm = reply_new(DOPPEL_REPLY_NO_MATCH, miss, h, svc ? 2 : 1, txt,
                           strlen(txt), NULL, NULL);
            free(txt);
            if (rm && svc) {
                rm->r.flags |= DOPPEL_REPLY_F_MISS;
                set_service(rm, svc);
            }
        }
        if (svc)
            dp_rr_note_miss(e, ns, svc->name, op ? op : "", tp, tl, now);
        char *near_txt = near ? json_dumps(near, JSON_COMPACT) : NULL;
        json_decref(near);
        entry = dp_jrec_build(e, x, ns, jpath, e->cfg.journal_body_max,
                              wall_ms(), miss, NULL, near_txt);
        dp_jrec_set_reason(entry, reason);
        free(reason);
    }
    dp_index_leave(e, slot);

    if (entry && rm && rm->r.kind == DOPPEL_REPLY_PROXY) {
        journal_proxy(e, rm, entry, flags, t0);
    } else if (entry) {
        dp_jrec_set_latency(entry, since_us(t0));
        dp_ring_push(win_ring ? &e->journal : &e->unmatched, entry);
    }
    dp_reqctx_free(&rc);
    dp_path_free(&path);
    free(rawpath);
    if (cands != cands_stack)
        free(cands);
    if (rm == NULL)
        return -ENOMEM;
    *out = &rm->r;
    return 0;
}
