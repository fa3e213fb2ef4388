/*
 * The auth REST API: /api/v1/{whoami,users,tokens,integrations,namespaces,
 * audit}. Reference for users: docs/security.md.
 *
 * A request goes: split the path -> authenticate (rate limit, token) ->
 * refuse integration tokens -> route -> handler. A handler that changes
 * state takes the write lock, checks permissions and conflicts against the
 * model, writes one store transaction (with its audit row), and changes
 * memory only after the commit: a failure leaves nothing behind. Handlers
 * always answer.
 *
 * Threads: a handler's store transaction fsyncs, so calls run off the
 * worker's loop, on the libuv thread pool, one at a time per worker in
 * arrival order (so a connection's pipelined write and read keep their
 * order); the answer is recorded in the call and sent from the job's
 * completion on the loop thread, as the admin API does.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "base/pct_decode.h"
#include "auth_internal.h"
#include "base/log.h"

#define MAX_SEGS 5

typedef struct call {
    dp_auth_t *a;
    doppel_http_exchange_t *ex;
    const doppel_http_request_t *req;
    char *seg[MAX_SEGS]; /* decoded segments after /api/v1, owned */
    size_t nseg;
    json_t *body; /* owned, NULL when none */
    dp_auth_principal_t who;
    int answered;
    /* the answer, recorded on the pool thread and sent by send_answer on
     * the loop thread; the first one wins */
    int out_status;
    char *out_body; /* owned, NULL: none */
    size_t out_len;
    int out_json;
    const char *out_hname; /* one more header (Retry-After, Allow) */
    char out_hval[96];
} call_t;

/* Records an answer; body is copied (a failed copy becomes a bare 500). */
static void keep(call_t *c, int status, int json, const char *hname,
                 const char *hval, const char *body, size_t len)
{
    if (c->out_status != 0)
        return;
    c->answered = 1;
    c->out_status = status;
    c->out_json = json;
    c->out_hname = hname;
    snprintf(c->out_hval, sizeof(c->out_hval), "%s", hval ? hval : "");
    if (len == 0)
        return;
    if ((c->out_body = malloc(len)) == NULL) {
        c->out_status = 500;
        c->out_json = 0;
        c->out_hname = NULL;
        return;
    }
    memcpy(c->out_body, body, len);
    c->out_len = len;
}

/* Loop thread: sends what the call recorded. */
static void send_answer(call_t *c)
{
    doppel_kv_t h[2];
    size_t nh = 0;
    if (c->out_json)
        h[nh++] = (doppel_kv_t){DOPPEL_STR("Content-Type"),
                                DOPPEL_STR("application/json")};
    if (c->out_hname != NULL)
        h[nh++] = (doppel_kv_t){{c->out_hname, strlen(c->out_hname)},
                                {c->out_hval, strlen(c->out_hval)}};
    dp_http_respond(c->ex, c->out_status ? c->out_status : 500, h, nh,
                    c->out_body, c->out_len);
    free(c->out_body);
    c->out_body = NULL;
}

/* ---- Answers ------------------------------------------------------------- */

static void reply_json(call_t *c, int status, json_t *v)
{
    char *txt = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (txt == NULL) {
        static const char oom[] =
            "{\"error\":\"out of memory\",\"code\":\"internal\"}";
        keep(c, 500, 1, NULL, NULL, oom, sizeof(oom) - 1);
        return;
    }
    keep(c, status, 1, NULL, NULL, txt, strlen(txt));
    free(txt);
}

static void reply_empty(call_t *c, int status)
{
    keep(c, status, 0, NULL, NULL, NULL, 0);
}

static void reply_err_retry(call_t *c, const dp_err_t *e, unsigned retry)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(e->message));
    json_object_set_new(o, "code", json_string(e->code));
    json_object_set_new(
        o, "request_id",
        json_stringn(c->req->request_id.ptr ? c->req->request_id.ptr : "",
                     c->req->request_id.len));
    if (e->field[0])
        json_object_set_new(o, "field", json_string(e->field));
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", retry);
    keep(c, e->status ? e->status : 500, 1, retry ? "Retry-After" : NULL, ra,
         txt, txt ? strlen(txt) : 0);
    free(txt);
}

static void reply_err(call_t *c, const dp_err_t *e)
{
    reply_err_retry(c, e, 0);
}

static void reply_error(call_t *c, int status, const char *code,
                        const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void reply_error(call_t *c, int status, const char *code,
                        const char *field, const char *fmt, ...)
{
    dp_err_t e = {.status = status};
    snprintf(e.code, sizeof(e.code), "%s", code);
    snprintf(e.field, sizeof(e.field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    reply_err(c, &e);
}

static void reply_store_err(call_t *c, int rc)
{
    if (rc == -EEXIST)
        reply_error(c, 409, "conflict", NULL, "conflict: %s",
                    c->a->store->errmsg);
    else
        reply_error(c, 500, "internal", NULL, "the auth store failed: %s",
                    c->a->store->errmsg);
}

/* ---- Request parsing ----------------------------------------------------- */



/* Splits the path after "/api/v1/" (already decoded by the front). */
static int split_path(call_t *c)
{
    const char *p = c->req->path.ptr;
    size_t len = c->req->path.len;
    static const char base[] = "/api/v1";
    if (len < sizeof(base) - 1 || memcmp(p, base, sizeof(base) - 1) != 0)
        return -EINVAL;
    p += sizeof(base) - 1;
    len -= sizeof(base) - 1;
    while (len > 0) {
        while (len > 0 && *p == '/') {
            p++;
            len--;
        }
        if (len == 0)
            break;
        const char *e = memchr(p, '/', len);
        size_t sl = e ? (size_t)(e - p) : len;
        if (c->nseg == MAX_SEGS)
            return -E2BIG;
        c->seg[c->nseg] = strndup(p, sl);
        if (c->seg[c->nseg] == NULL || memchr(p, '\0', sl) != NULL)
            return -EINVAL;
        c->nseg++;
        p += sl;
        len -= sl;
    }
    return 0;
}

/* First ?name= value, decoded (caller frees), NULL when absent; *bad set
 * for an undecodable value. */
static char *query(const call_t *c, const char *name, int *bad)
{
    const char *q = c->req->query.ptr;
    size_t len = c->req->query.len, nl = strlen(name);
    *bad = 0;
    while (q != NULL && len > 0) {
        const char *amp = memchr(q, '&', len);
        size_t pl = amp ? (size_t)(amp - q) : len;
        if (pl > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            char *v = dp_pct_decode(q + nl + 1, pl - nl - 1, 1);
            if (v == NULL)
                *bad = 1;
            return v;
        }
        if (pl == nl && memcmp(q, name, nl) == 0)
            return strdup("");
        if (amp == NULL)
            break;
        q = amp + 1;
        len -= pl + 1;
    }
    return NULL;
}

static int query_size(call_t *c, const char *name, size_t dflt, size_t max,
                      size_t *out)
{
    int bad;
    char *v = query(c, name, &bad);
    *out = dflt;
    if (v == NULL && !bad)
        return 0;
    char *end = NULL;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    int ok = v && v[0] >= '0' && v[0] <= '9' && *end == '\0' && n <= max;
    free(v);
    if (!ok) {
        reply_error(c, 400, "validation", name,
                    "%s: expected an integer from 0 to %zu", name, max);
        return -EINVAL;
    }
    *out = (size_t)n;
    return 0;
}

/* ?namespace= into out ("" when absent). Answers 400 itself. */
static int query_ns(call_t *c, char out[DP_AUTH_NAME_MAX + 1])
{
    int bad;
    char *v = query(c, "namespace", &bad);
    out[0] = '\0';
    if (v == NULL && !bad)
        return 0;
    if (bad || !dp_auth_name_valid(v)) {
        free(v);
        reply_error(c, 400, "validation", "namespace",
                    "namespace: expected [A-Za-z0-9._-]{1,64}");
        return -EINVAL;
    }
    snprintf(out, DP_AUTH_NAME_MAX + 1, "%s", v);
    free(v);
    return 0;
}

/* Requires a JSON object body (optional: an absent body is {}). */
static int parse_body(call_t *c, int optional)
{
    if (c->req->body_len == 0) {
        if (optional) {
            c->body = json_object();
            return 0;
        }
        reply_error(c, 400, "validation", NULL,
                    "a JSON object request body is required");
        return -EINVAL;
    }
    json_error_t je;
    c->body = json_loadb((const char *)c->req->body, c->req->body_len,
                         JSON_REJECT_DUPLICATES, &je);
    if (c->body == NULL) {
        reply_error(c, 400, "validation", NULL,
                    "malformed JSON at line %d column %d: %s", je.line,
                    je.column, je.text);
        return -EINVAL;
    }
    if (!json_is_object(c->body)) {
        reply_error(c, 400, "validation", NULL,
                    "the request body must be a JSON object");
        return -EINVAL;
    }
    return 0;
}

/* Rejects body fields this endpoint does not know (typos must not silently
 * drop an expiry or a namespace). */
static int only_fields(call_t *c, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], k) == 0)
                ok = 1;
        if (!ok) {
            reply_error(c, 400, "validation", k, "%s: unknown field", k);
            return -EINVAL;
        }
    }
    return 0;
}

/* Optional string field with the name rule; "" in out when absent. */
static int body_name(call_t *c, const char *field, int required,
                     char out[DP_AUTH_NAME_MAX + 1])
{
    json_t *v = json_object_get(c->body, field);
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        reply_error(c, 400, "validation", field, "%s is required", field);
        return -EINVAL;
    }
    if (!json_is_string(v) || !dp_auth_name_valid(json_string_value(v))) {
        reply_error(c, 400, "validation", field,
                    "%s: expected a string of [A-Za-z0-9._-]{1,64}", field);
        return -EINVAL;
    }
    snprintf(out, DP_AUTH_NAME_MAX + 1, "%s", json_string_value(v));
    return 0;
}

static int body_bool(call_t *c, const char *field, int dflt, int *out)
{
    json_t *v = json_object_get(c->body, field);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        reply_error(c, 400, "validation", field, "%s: expected true or false",
                    field);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

/* "2026-11-21T18:30:00Z" or with ".123" and/or "+01:00"; ms since epoch. */
static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -EINVAL;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
            return -EINVAL;
        off = sign * (hh * 3600 + mm * 60);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = ((int64_t)t - off) * 1000 + ms;
    return 0;
}

#define TTL_MAX_S (10LL * 366 * 24 * 3600)

/* expiresAt (RFC 3339 string) or ttl (seconds): the expiry in ms, 0 for
 * none. Answers 400 itself. */
static int body_expiry(call_t *c, int64_t now, int64_t *out)
{
    json_t *at = json_object_get(c->body, "expiresAt");
    json_t *ttl = json_object_get(c->body, "ttl");
    *out = 0;
    if (at != NULL && !json_is_null(at) && ttl != NULL && !json_is_null(ttl)) {
        reply_error(c, 400, "validation", "ttl",
                    "give expiresAt or ttl, not both");
        return -EINVAL;
    }
    if (at != NULL && !json_is_null(at)) {
        int64_t ms;
        if (!json_is_string(at) || parse_time(json_string_value(at), &ms) < 0) {
            reply_error(c, 400, "validation", "expiresAt",
                        "expiresAt: expected an RFC 3339 time such as "
                        "2030-01-31T12:00:00Z");
            return -EINVAL;
        }
        if (ms <= now) {
            reply_error(c, 400, "validation", "expiresAt",
                        "expiresAt: must be in the future");
            return -EINVAL;
        }
        *out = ms;
    } else if (ttl != NULL && !json_is_null(ttl)) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) <= 0 ||
            json_integer_value(ttl) > TTL_MAX_S) {
            reply_error(c, 400, "validation", "ttl",
                        "ttl: expected seconds, an integer from 1 to %lld",
                        TTL_MAX_S);
            return -EINVAL;
        }
        *out = now + (int64_t)json_integer_value(ttl) * 1000;
    }
    return 0;
}

/* ---- JSON views ---------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    return (s && s[0]) ? json_string(s) : json_null();
}

/* Caller holds the lock. Never includes the secret or its hash. */
static json_t *token_json(dp_auth_t *a, const dp_auth_token_t *t, int64_t now)
{
    int integ = t->kind == DP_AUTH_KIND_INTEGRATION;
    const dp_auth_user_t *u = dp_auth_find_user(&a->model, t->user_id);
    const char *state = t->revoked_ms                             ? "revoked"
                        : (t->expires_ms && now >= t->expires_ms) ? "expired"
                                                                  : "active";
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "kind", json_string(integ ? "integration" : "user"));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "prefix", json_string(t->display));
    json_object_set_new(o, "namespace", str_or_null(t->ns));
    json_object_set_new(o, integ ? "createdBy" : "userId",
                        json_string(t->user_id));
    json_object_set_new(o, integ ? "createdByName" : "user",
                        u ? json_string(u->name) : json_null());
    if (integ) {
        json_object_set_new(o, "type", json_string(t->type));
        json_t *l = json_array();
        for (size_t i = 0; i < t->n_labels; i++)
            json_array_append_new(l, json_string(t->labels[i]));
        json_object_set_new(o, "labels", l);
    }
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "enabled", json_boolean(t->revoked_ms == 0));
    json_object_set_new(o, "createdAt", time_json(t->created_ms));
    json_object_set_new(o, "expiresAt", time_json(t->expires_ms));
    json_object_set_new(
        o, "lastUsedAt",
        time_json(__atomic_load_n(&t->last_used_ms, __ATOMIC_RELAXED)));
    json_object_set_new(o, "revokedAt", time_json(t->revoked_ms));
    return o;
}

static json_t *user_json(dp_auth_t *a, const dp_auth_user_t *u)
{
    json_t *ms = json_array();
    for (size_t i = 0; i < a->model.n_members; i++) {
        const dp_auth_member_t *m = &a->model.members[i];
        if (strcmp(m->user_id, u->id) == 0)
            json_array_append_new(ms, json_pack("{s:s,s:s}", "namespace", m->ns,
                                                "role",
                                                dp_auth_role_name(m->role)));
    }
    json_t *o = json_pack("{s:s,s:s,s:b,s:o}", "id", u->id, "name", u->name,
                          "systemAdmin", u->system_admin, "memberships", ms);
    json_object_set_new(o, "createdAt", time_json(u->created_ms));
    return o;
}

static json_t *ns_json(const dp_auth_ns_t *n, dp_auth_role_t caller)
{
    json_t *o = json_pack("{s:s,s:b}", "name", n->name, "requireToken",
                          n->require_token);
    json_object_set_new(o, "createdAt", time_json(n->created_ms));
    json_object_set_new(o, "yourRole",
                        caller ? json_string(dp_auth_role_name(caller))
                               : json_null());
    return o;
}

/* ---- Transactions -------------------------------------------------------- */

/* Permission check under the held lock; answers itself. */
static int allow(call_t *c, const char *op, const char *ns)
{
    dp_err_t e = {0};
    if (dp_auth_authorize_locked(c->a, &c->who, op, 1, ns, &e) == 0)
        return 0;
    reply_err(c, &e);
    return -EPERM;
}

static int is_system(call_t *c)
{
    return dp_auth_role_locked(c->a, &c->who, NULL) == DP_ROLE_SYSTEM;
}

static void wrlock(call_t *c)
{
    pthread_rwlock_wrlock(&c->a->lock);
}

static void rdlock(call_t *c)
{
    pthread_rwlock_rdlock(&c->a->lock);
}

static void unlock(call_t *c)
{
    pthread_rwlock_unlock(&c->a->lock);
}

/* ---- whoami ---------------------------------------------------------------
 */

static void whoami(call_t *c)
{
    rdlock(c);
    json_t *o = json_object();
    json_object_set_new(
        o, "kind",
        json_string(c->who.kind == DP_AUTH_KIND_LOCAL ? "local" : "user"));
    dp_auth_user_t *u = dp_auth_find_user(&c->a->model, c->who.user_id);
    if (u != NULL) {
        json_object_set_new(o, "user", user_json(c->a, u));
        dp_auth_token_t *t = dp_auth_find_token(&c->a->model, c->who.token_id);
        if (t != NULL)
            json_object_set_new(o, "token",
                                token_json(c->a, t, dp_auth_now(c->a)));
    } else {
        json_object_set_new(
            o, "user",
            json_pack("{s:s,s:b}", "name", c->who.user_name, "systemAdmin", 1));
    }
    json_object_set_new(o, "pinnedNamespace", str_or_null(c->who.pinned_ns));
    json_object_set_new(o, "systemAdmin", json_boolean(is_system(c)));
    unlock(c);
    reply_json(c, 200, o);
}

/* ---- Users ----------------------------------------------------------------
 */

static void users_create(call_t *c)
{
    static const char *const fields[] = {"name", "systemAdmin", NULL};
    dp_auth_user_t u;
    memset(&u, 0, sizeof(u));
    if (parse_body(c, 0) < 0 || only_fields(c, fields) < 0 ||
        body_name(c, "name", 1, u.name) < 0 ||
        body_bool(c, "systemAdmin", 0, &u.system_admin) < 0)
        return;
    wrlock(c);
    if (allow(c, "users.create", NULL) < 0)
        goto out;
    if (dp_auth_find_user(&c->a->model, u.name) != NULL) {
        reply_error(c, 409, "conflict", "name", "user '%s' already exists",
                    u.name);
        goto out;
    }
    u.created_ms = dp_auth_now(c->a);
    int rc = dp_auth_id_new("usr_", u.id, sizeof(u.id));
    if (rc == 0 && (rc = dp_auth_tx_begin(c->a)) == 0) {
        rc = c->a->store->ops->user_put(c->a->store, &u);
        if (rc == 0)
            rc = dp_auth_audit_locked(c->a, &c->who, "users.create", NULL, u.id,
                                      u.system_admin ? "system admin" : NULL);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_user(&c->a->model, &u);
    if (rc < 0)
        reply_store_err(c, rc);
    else
        reply_json(c, 201, user_json(c->a, &u));
out:
    unlock(c);
}

static void users_list(call_t *c)
{
    rdlock(c);
    if (allow(c, "users.list", NULL) == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->a->model.n_users; i++)
            json_array_append_new(arr, user_json(c->a, &c->a->model.users[i]));
        reply_json(c, 200, json_pack("{s:o}", "users", arr));
    }
    unlock(c);
}

static void users_get(call_t *c)
{
    rdlock(c);
    dp_auth_user_t *u = dp_auth_find_user(&c->a->model, c->seg[1]);
    if (u != NULL && strcmp(u->id, c->who.user_id) == 0)
        reply_json(c, 200, user_json(c->a, u));
    else if (allow(c, "users.list", NULL) < 0)
        ;
    else if (u == NULL)
        reply_error(c, 404, "not_found", NULL, "no user '%s'", c->seg[1]);
    else
        reply_json(c, 200, user_json(c->a, u));
    unlock(c);
}

/* ---- Tokens and integrations ----------------------------------------------
 */

/* May the caller manage (see, revoke, delete, relabel) t? Caller holds the
 * lock. Own user tokens, tokens and integrations pinned to a namespace
 * where the caller is namespace admin, and everything for system admins. */
static int may_manage(call_t *c, const dp_auth_token_t *t)
{
    if (is_system(c))
        return 1;
    if (t->kind == DP_AUTH_KIND_USER &&
        strcmp(t->user_id, c->who.user_id) == 0 &&
        (c->who.pinned_ns[0] == '\0' || strcmp(c->who.pinned_ns, t->ns) == 0))
        return 1;
    return t->ns[0] &&
           dp_auth_role_locked(c->a, &c->who, t->ns) >= DP_ROLE_NS_ADMIN;
}

static int parse_labels(call_t *c, json_t *v, const char *field,
                        dp_auth_token_t *t)
{
    if (!json_is_array(v) || json_array_size(v) > DP_AUTH_MAX_LABELS) {
        reply_error(c, 400, "validation", field,
                    "%s: expected an array of at most %d labels", field,
                    DP_AUTH_MAX_LABELS);
        return -EINVAL;
    }
    size_t i;
    json_t *l;
    t->n_labels = 0;
    json_array_foreach(v, i, l)
    {
        char norm[DP_AUTH_NAME_MAX + 1];
        if (!json_is_string(l) ||
            dp_auth_label_normalize(json_string_value(l), norm) < 0) {
            char f[64];
            snprintf(f, sizeof(f), "%s[%zu]", field, i);
            reply_error(c, 400, "validation", f,
                        "%s: a label is 1 to 64 characters of [a-z0-9._-] "
                        "(upper case is lowered)",
                        f);
            return -EINVAL;
        }
        int dup = 0;
        for (size_t k = 0; k < t->n_labels; k++)
            if (strcmp(t->labels[k], norm) == 0)
                dup = 1;
        if (!dup)
            memcpy(t->labels[t->n_labels++], norm, sizeof(norm));
    }
    return 0;
}

static const char *const integration_types[] = {"mock_resolver", "test_runner",
                                                "orchestrator", NULL};

/* POST /tokens, POST /users/{id}/tokens, POST /integrations. */
static void token_create(call_t *c, int integ, const char *path_user)
{
    static const char *const tfields[] = {"name", "namespace", "expiresAt",
                                          "ttl",  "user",      NULL};
    static const char *const ifields[] = {
        "name", "namespace", "expiresAt", "ttl", "type", "labels", NULL};
    dp_auth_token_t t;
    memset(&t, 0, sizeof(t));
    t.kind = integ ? DP_AUTH_KIND_INTEGRATION : DP_AUTH_KIND_USER;
    char user[DP_AUTH_NAME_MAX + 1] = "";
    int64_t now = dp_auth_now(c->a);
    if (parse_body(c, 0) < 0 || only_fields(c, integ ? ifields : tfields) < 0 ||
        body_name(c, "name", 1, t.name) < 0 ||
        body_name(c, "namespace", 0, t.ns) < 0 ||
        body_expiry(c, now, &t.expires_ms) < 0)
        return;
    if (integ) {
        json_t *ty = json_object_get(c->body, "type");
        int ok = 0;
        for (size_t i = 0; json_is_string(ty) && integration_types[i]; i++)
            if (strcmp(json_string_value(ty), integration_types[i]) == 0)
                ok = 1;
        if (!ok) {
            reply_error(c, 400, "validation", "type",
                        "type: expected mock_resolver, test_runner or "
                        "orchestrator");
            return;
        }
        snprintf(t.type, sizeof(t.type), "%s", json_string_value(ty));
        json_t *l = json_object_get(c->body, "labels");
        if (l != NULL && parse_labels(c, l, "labels", &t) < 0)
            return;
    } else if (path_user != NULL) {
        snprintf(user, sizeof(user), "%s", path_user);
    } else if (body_name(c, "user", 0, user) < 0) {
        return;
    }

    wrlock(c);
    /* A pinned caller only creates what is pinned to its own namespace, so
     * no token can be used to mint a wider one. */
    if (c->who.pinned_ns[0]) {
        if (t.ns[0] == '\0')
            snprintf(t.ns, sizeof(t.ns), "%s", c->who.pinned_ns);
        if (strcmp(t.ns, c->who.pinned_ns) != 0) {
            reply_error(c, 403, "forbidden", "namespace",
                        "token '%s' is pinned to namespace '%s' and cannot "
                        "create credentials for '%s'",
                        c->who.token_name, c->who.pinned_ns, t.ns);
            goto out;
        }
    }
    /* A token acts, and is audited, as its owner: whoever could mint one
     * for someone else could act as them. Only a system admin may; the
     * answer is the same whether or not that user exists. */
    if (!integ && user[0] && strcmp(user, c->who.user_id) != 0 &&
        strcmp(user, c->who.user_name) != 0 && !is_system(c)) {
        reply_error(c, 403, "forbidden", "user",
                    "tokens are created only for oneself: a token for user "
                    "'%s' needs a system admin token that is not pinned to "
                    "a namespace",
                    user);
        goto out;
    }
    const dp_auth_user_t *owner = NULL;
    if (!integ) {
        owner = user[0] ? dp_auth_find_user(&c->a->model, user)
                        : dp_auth_find_user(&c->a->model, c->who.user_id);
        if (owner == NULL && user[0] == '\0' &&
            c->who.kind == DP_AUTH_KIND_LOCAL) {
            reply_error(c, 400, "validation", "user",
                        "in local mode there is no caller user: give "
                        "\"user\"");
            goto out;
        }
        if (owner == NULL) {
            /* Only system admins learn whether a user exists. */
            if (allow(c, "tokens.manage", NULL) == 0)
                reply_error(c, 404, "not_found", "user", "no user '%s'", user);
            goto out;
        }
    }
    int self = owner && strcmp(owner->id, c->who.user_id) == 0;
    if (self && t.ns[0] == '\0') {
        /* An unpinned token for oneself: as much as one already has. */
    } else if (self) {
        if (dp_auth_role_locked(c->a, &c->who, t.ns) < DP_ROLE_VIEWER) {
            reply_error(c, 403, "forbidden", "namespace",
                        "user '%s' has no role in namespace '%s'",
                        c->who.user_name, t.ns);
            goto out;
        }
    } else if (allow(c, integ ? "integrations.manage" : "tokens.manage",
                     t.ns[0] ? t.ns : NULL) < 0) {
        goto out;
    }
    if (t.ns[0] && dp_auth_find_ns(&c->a->model, t.ns) == NULL) {
        reply_error(c, 404, "not_found", "namespace", "no namespace '%s'",
                    t.ns);
        goto out;
    }
    snprintf(t.user_id, sizeof(t.user_id), "%s",
             owner ? owner->id : c->who.user_id);
    char secret[96];
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc =
            dp_auth_token_create_locked(c->a, &t, NULL, secret, sizeof(secret));
        char detail[DP_AUTH_NAME_MAX + 32];
        if (integ)
            snprintf(detail, sizeof(detail), "type %s", t.type);
        else
            snprintf(detail, sizeof(detail), "for user %s", owner->name);
        if (rc == 0)
            rc = dp_auth_audit_locked(
                c->a, &c->who, integ ? "integrations.create" : "tokens.create",
                t.ns[0] ? t.ns : NULL, t.id, detail);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_token(&c->a->model, &t);
    if (rc == 0)
        rc = dp_auth_reindex(c->a);
    if (rc < 0) {
        reply_store_err(c, rc);
    } else {
        json_t *o = json_object();
        json_object_set_new(o, integ ? "integration" : "token",
                            token_json(c->a, &t, now));
        json_object_set_new(o, "secret", json_string(secret));
        /* the platforms' SDKs read an integration's one-time secret under
         * "token" ("secret" stays, doppel's own name); a user token's
         * answer already has its object there */
        if (integ)
            json_object_set_new(o, "token", json_string(secret));
        reply_json(c, 201, o);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
out:
    unlock(c);
}

static void token_list(call_t *c, int integ)
{
    char ns[DP_AUTH_NAME_MAX + 1];
    int bad;
    char *user = query(c, "user", &bad);
    if (bad) {
        reply_error(c, 400, "validation", "user", "user: bad escape");
        return;
    }
    if (query_ns(c, ns) < 0) {
        free(user);
        return;
    }
    rdlock(c);
    int64_t now = dp_auth_now(c->a);
    const dp_auth_user_t *fu =
        user ? dp_auth_find_user(&c->a->model, user) : NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < c->a->model.n_tokens; i++) {
        const dp_auth_token_t *t = &c->a->model.tokens[i];
        if ((t->kind == DP_AUTH_KIND_INTEGRATION) != integ ||
            (ns[0] && strcmp(t->ns, ns) != 0) ||
            (user && (fu == NULL || strcmp(t->user_id, fu->id) != 0)) ||
            !may_manage(c, t))
            continue;
        json_array_append_new(arr, token_json(c->a, t, now));
    }
    unlock(c);
    free(user);
    reply_json(c, 200,
               json_pack("{s:o}", integ ? "integrations" : "tokens", arr));
}

/* Finds seg[1] among what the caller may manage; answers 404 itself (also
 * for one it may not see, so ids cannot be probed). Caller holds the lock. */
static dp_auth_token_t *token_target(call_t *c, int integ)
{
    dp_auth_token_t *t = dp_auth_find_token(&c->a->model, c->seg[1]);
    if (t == NULL || (t->kind == DP_AUTH_KIND_INTEGRATION) != integ ||
        !may_manage(c, t)) {
        reply_error(c, 404, "not_found", NULL, "no %s '%s'",
                    integ ? "integration" : "token", c->seg[1]);
        return NULL;
    }
    return t;
}

static void token_get(call_t *c, int integ)
{
    rdlock(c);
    dp_auth_token_t *t = token_target(c, integ);
    if (t != NULL)
        reply_json(c, 200, token_json(c->a, t, dp_auth_now(c->a)));
    unlock(c);
}

/* Writes the changed copy nt of *t, then replaces *t. */
static int token_update(call_t *c, dp_auth_token_t *t, dp_auth_token_t *nt,
                        const char *action, const char *detail)
{
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = c->a->store->ops->token_put(c->a->store, nt);
        if (rc == 0)
            rc =
                dp_auth_audit_locked(c->a, &c->who, action,
                                     nt->ns[0] ? nt->ns : NULL, nt->id, detail);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc == 0) {
        nt->last_used_saved_ms = nt->last_used_ms;
        *t = *nt;
    }
    return rc;
}

static void token_revoke(call_t *c, int integ)
{
    wrlock(c);
    dp_auth_token_t *t = token_target(c, integ);
    if (t == NULL)
        goto out;
    int64_t now = dp_auth_now(c->a);
    int rc = 0;
    if (t->revoked_ms == 0) {
        dp_auth_token_t nt = *t;
        nt.last_used_ms = __atomic_load_n(&t->last_used_ms, __ATOMIC_RELAXED);
        nt.revoked_ms = now;
        rc = token_update(
            c, t, &nt, integ ? "integrations.revoke" : "tokens.revoke", NULL);
    }
    if (rc < 0)
        reply_store_err(c, rc);
    else
        reply_json(c, 200, token_json(c->a, t, now));
out:
    unlock(c);
}

static void token_delete(call_t *c, int integ)
{
    wrlock(c);
    dp_auth_token_t *t = token_target(c, integ);
    if (t == NULL)
        goto out;
    dp_auth_token_t copy = *t;
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = c->a->store->ops->token_delete(c->a->store, &copy);
        if (rc == 0)
            rc = dp_auth_audit_locked(
                c->a, &c->who, integ ? "integrations.delete" : "tokens.delete",
                copy.ns[0] ? copy.ns : NULL, copy.id, NULL);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc < 0) {
        reply_store_err(c, rc);
        goto out;
    }
    dp_auth_model_t *m = &c->a->model;
    size_t i = (size_t)(t - m->tokens);
    memmove(&m->tokens[i], &m->tokens[i + 1],
            (m->n_tokens - i - 1) * sizeof(*t));
    m->n_tokens--;
    if (dp_auth_reindex(c->a) < 0) {
        /* The old index may point past the array end: lookups check the
         * bound, and a stale slot only fails to find a token. */
        dp_error("auth", "token index rebuild failed: out of memory");
    }
    reply_empty(c, 204);
out:
    unlock(c);
}

static void integration_labels(call_t *c)
{
    static const char *const fields[] = {"labels", "add", "remove", NULL};
    if (parse_body(c, 0) < 0 || only_fields(c, fields) < 0)
        return;
    json_t *set = json_object_get(c->body, "labels");
    json_t *add = json_object_get(c->body, "add");
    json_t *rem = json_object_get(c->body, "remove");
    if (set == NULL && add == NULL && rem == NULL) {
        reply_error(c, 400, "validation", "labels",
                    "give labels (replace), add and/or remove");
        return;
    }
    dp_auth_token_t scratch;
    if ((set && parse_labels(c, set, "labels", &scratch) < 0) ||
        (add && parse_labels(c, add, "add", &scratch) < 0) ||
        (rem && parse_labels(c, rem, "remove", &scratch) < 0))
        return;
    wrlock(c);
    dp_auth_token_t *t = token_target(c, 1);
    if (t == NULL)
        goto out;
    dp_auth_token_t nt = *t;
    nt.last_used_ms = __atomic_load_n(&t->last_used_ms, __ATOMIC_RELAXED);
    if (set)
        parse_labels(c, set, "labels", &nt); /* validated above */
    if (rem) {
        parse_labels(c, rem, "remove", &scratch);
        size_t k = 0;
        for (size_t i = 0; i < nt.n_labels; i++) {
            int drop = 0;
            for (size_t j = 0; j < scratch.n_labels; j++)
                if (strcmp(nt.labels[i], scratch.labels[j]) == 0)
                    drop = 1;
            if (!drop)
                memmove(nt.labels[k++], nt.labels[i], sizeof(nt.labels[0]));
        }
        nt.n_labels = k;
    }
    if (add) {
        parse_labels(c, add, "add", &scratch);
        for (size_t j = 0; j < scratch.n_labels; j++) {
            int have = 0;
            for (size_t i = 0; i < nt.n_labels; i++)
                if (strcmp(nt.labels[i], scratch.labels[j]) == 0)
                    have = 1;
            if (have)
                continue;
            if (nt.n_labels == DP_AUTH_MAX_LABELS) {
                reply_error(c, 400, "validation", "add",
                            "an integration has at most %d labels",
                            DP_AUTH_MAX_LABELS);
                goto out;
            }
            memcpy(nt.labels[nt.n_labels++], scratch.labels[j],
                   sizeof(nt.labels[0]));
        }
    }
    int rc = token_update(c, t, &nt, "integrations.labels", NULL);
    if (rc < 0)
        reply_store_err(c, rc);
    else
        reply_json(c, 200, token_json(c->a, t, dp_auth_now(c->a)));
out:
    unlock(c);
}

/* ---- Namespaces and members -----------------------------------------------
 */

static void ns_create(call_t *c)
{
    static const char *const fields[] = {"name", "requireToken", NULL};
    dp_auth_ns_t n;
    memset(&n, 0, sizeof(n));
    if (parse_body(c, 0) < 0 || only_fields(c, fields) < 0 ||
        body_name(c, "name", 1, n.name) < 0 ||
        body_bool(c, "requireToken", 0, &n.require_token) < 0)
        return;
    wrlock(c);
    if (allow(c, "namespaces.create", NULL) < 0)
        goto out;
    if (dp_auth_find_ns(&c->a->model, n.name) != NULL) {
        reply_error(c, 409, "conflict", "name", "namespace '%s' already exists",
                    n.name);
        goto out;
    }
    n.created_ms = dp_auth_now(c->a);
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = c->a->store->ops->ns_put(c->a->store, &n);
        if (rc == 0)
            rc = dp_auth_audit_locked(c->a, &c->who, "namespaces.create",
                                      n.name, n.name,
                                      n.require_token ? "requireToken" : NULL);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_ns(&c->a->model, &n);
    if (rc < 0)
        reply_store_err(c, rc);
    else
        reply_json(c, 201,
                   ns_json(&n, dp_auth_role_locked(c->a, &c->who, n.name)));
out:
    unlock(c);
}

/* {"namespaces": [names], "items": [{name, requireToken, yourRole, ...}]}:
 * the platforms' SDKs read "namespaces" as a list of names; doppel's own
 * objects go under "items". */
static void ns_list(call_t *c)
{
    rdlock(c);
    json_t *names = json_array(), *items = json_array();
    for (size_t i = 0; i < c->a->model.n_nss; i++) {
        const dp_auth_ns_t *n = &c->a->model.nss[i];
        dp_auth_role_t r = dp_auth_role_locked(c->a, &c->who, n->name);
        if (r >= DP_ROLE_VIEWER) {
            json_array_append_new(names, json_string(n->name));
            json_array_append_new(items, ns_json(n, r));
        }
    }
    unlock(c);
    reply_json(c, 200,
               json_pack("{s:o,s:o}", "namespaces", names, "items", items));
}

/* The namespace of seg[1] after checking op in it; answers itself. Caller
 * holds the lock. */
static dp_auth_ns_t *ns_target(call_t *c, const char *op)
{
    if (!dp_auth_name_valid(c->seg[1])) {
        reply_error(c, 400, "validation", "namespace",
                    "namespace: expected [A-Za-z0-9._-]{1,64}");
        return NULL;
    }
    if (allow(c, op, c->seg[1]) < 0)
        return NULL;
    dp_auth_ns_t *n = dp_auth_find_ns(&c->a->model, c->seg[1]);
    if (n == NULL)
        reply_error(c, 404, "not_found", NULL, "no namespace '%s'", c->seg[1]);
    return n;
}

static void ns_get(call_t *c)
{
    rdlock(c);
    dp_auth_ns_t *n = ns_target(c, "namespaces.get");
    if (n != NULL)
        reply_json(c, 200,
                   ns_json(n, dp_auth_role_locked(c->a, &c->who, n->name)));
    unlock(c);
}

static void ns_patch(call_t *c)
{
    static const char *const fields[] = {"requireToken", NULL};
    int req_tok;
    if (parse_body(c, 0) < 0 || only_fields(c, fields) < 0 ||
        body_bool(c, "requireToken", -1, &req_tok) < 0)
        return;
    if (req_tok < 0) {
        reply_error(c, 400, "validation", "requireToken",
                    "requireToken is required");
        return;
    }
    wrlock(c);
    dp_auth_ns_t *n = ns_target(c, "namespaces.update");
    if (n == NULL)
        goto out;
    dp_auth_ns_t nn = *n;
    nn.require_token = req_tok;
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = c->a->store->ops->ns_put(c->a->store, &nn);
        if (rc == 0)
            rc = dp_auth_audit_locked(
                c->a, &c->who, "namespaces.update", nn.name, nn.name,
                req_tok ? "requireToken=true" : "requireToken=false");
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc < 0) {
        reply_store_err(c, rc);
        goto out;
    }
    *n = nn;
    reply_json(c, 200, ns_json(n, dp_auth_role_locked(c->a, &c->who, n->name)));
out:
    unlock(c);
}

static void ns_delete(call_t *c)
{
    wrlock(c);
    if (!dp_auth_name_valid(c->seg[1])) {
        reply_error(c, 400, "validation", "namespace",
                    "namespace: expected [A-Za-z0-9._-]{1,64}");
        goto out;
    }
    if (allow(c, "namespaces.delete", c->seg[1]) < 0)
        goto out;
    dp_auth_model_t *m = &c->a->model;
    dp_auth_ns_t *n = dp_auth_find_ns(m, c->seg[1]);
    if (n == NULL) {
        reply_error(c, 404, "not_found", NULL, "no namespace '%s'", c->seg[1]);
        goto out;
    }
    if (strcmp(n->name, "sandbox") == 0) {
        reply_error(c, 409, "conflict", NULL,
                    "namespace 'sandbox' always exists and cannot be "
                    "deleted");
        goto out;
    }
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = c->a->store->ops->ns_delete(c->a->store, n->name);
        if (rc == 0)
            rc = dp_auth_audit_locked(c->a, &c->who, "namespaces.delete",
                                      n->name, n->name, NULL);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc < 0) {
        reply_store_err(c, rc);
        goto out;
    }
    char name[DP_AUTH_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", n->name);
    size_t i = (size_t)(n - m->nss);
    memmove(&m->nss[i], &m->nss[i + 1], (m->n_nss - i - 1) * sizeof(*n));
    m->n_nss--;
    size_t k = 0;
    for (size_t j = 0; j < m->n_members; j++)
        if (strcmp(m->members[j].ns, name) != 0)
            m->members[k++] = m->members[j];
    m->n_members = k;
    reply_empty(c, 204);
out:
    unlock(c);
}

static json_t *member_json(dp_auth_t *a, const dp_auth_member_t *mb)
{
    const dp_auth_user_t *u = dp_auth_find_user(&a->model, mb->user_id);
    return json_pack("{s:s,s:s,s:s,s:s}", "namespace", mb->ns, "userId",
                     mb->user_id, "user", u ? u->name : "", "role",
                     dp_auth_role_name(mb->role));
}

/* users_key: the platforms' SDK path (/namespaces/{ns}/users), which
 * answers the same list under "users" too. */
static void members_list(call_t *c, int users_key)
{
    rdlock(c);
    dp_auth_ns_t *n = ns_target(c, "members.list");
    if (n != NULL) {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->a->model.n_members; i++)
            if (strcmp(c->a->model.members[i].ns, n->name) == 0)
                json_array_append_new(
                    arr, member_json(c->a, &c->a->model.members[i]));
        json_t *o =
            json_pack("{s:s,s:o}", "namespace", n->name, "members", arr);
        if (o != NULL && users_key)
            json_object_set(o, "users", arr);
        reply_json(c, 200, o);
    }
    unlock(c);
}

static dp_auth_member_t *find_member(dp_auth_model_t *m, const char *ns,
                                     const char *user_id)
{
    for (size_t i = 0; i < m->n_members; i++)
        if (strcmp(m->members[i].ns, ns) == 0 &&
            strcmp(m->members[i].user_id, user_id) == 0)
            return &m->members[i];
    return NULL;
}

/* GET/PUT/DELETE /namespaces/{ns}/members/{user}. */
static void member_one(call_t *c, const char *method)
{
    int get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0;
    dp_auth_role_t role = DP_ROLE_NONE;
    if (put) {
        static const char *const fields[] = {"role", NULL};
        if (parse_body(c, 0) < 0 || only_fields(c, fields) < 0)
            return;
        json_t *r = json_object_get(c->body, "role");
        if (!json_is_string(r) ||
            dp_auth_role_parse(json_string_value(r), &role) < 0) {
            reply_error(c, 400, "validation", "role",
                        "role: expected viewer, editor or admin");
            return;
        }
    }
    if (get)
        rdlock(c);
    else
        wrlock(c);
    dp_auth_ns_t *n = ns_target(c, get   ? "members.list"
                                   : put ? "members.put"
                                         : "members.delete");
    if (n == NULL)
        goto out;
    dp_auth_model_t *m = &c->a->model;
    dp_auth_user_t *u = dp_auth_find_user(m, c->seg[3]);
    if (u == NULL) {
        reply_error(c, 404, "not_found", NULL, "no user '%s'", c->seg[3]);
        goto out;
    }
    dp_auth_member_t *mb = find_member(m, n->name, u->id);
    if (get || (!put && mb == NULL)) {
        if (mb == NULL)
            reply_error(c, 404, "not_found", NULL,
                        "user '%s' is not a member of '%s'", u->name, n->name);
        else
            reply_json(c, 200, member_json(c->a, mb));
        goto out;
    }
    dp_auth_member_t nm = {.role = role};
    snprintf(nm.ns, sizeof(nm.ns), "%s", n->name);
    snprintf(nm.user_id, sizeof(nm.user_id), "%s", u->id);
    int rc = dp_auth_tx_begin(c->a);
    if (rc == 0) {
        rc = put ? c->a->store->ops->member_put(c->a->store, &nm)
                 : c->a->store->ops->member_delete(c->a->store, nm.ns,
                                                   nm.user_id);
        char detail[DP_AUTH_NAME_MAX + 16];
        snprintf(detail, sizeof(detail), "%s%s", u->name,
                 put ? (role == DP_ROLE_VIEWER   ? " viewer"
                        : role == DP_ROLE_EDITOR ? " editor"
                                                 : " admin")
                     : "");
        if (rc == 0)
            rc = dp_auth_audit_locked(c->a, &c->who,
                                      put ? "members.put" : "members.delete",
                                      nm.ns, u->id, detail);
        rc = dp_auth_tx_end(c->a, rc);
    }
    if (rc < 0) {
        reply_store_err(c, rc);
        goto out;
    }
    if (!put) {
        *mb = m->members[m->n_members - 1];
        m->n_members--;
        reply_empty(c, 204);
        goto out;
    }
    int created = mb == NULL;
    if (mb != NULL)
        mb->role = role;
    else if ((rc = dp_auth_model_add_member(m, &nm)) < 0) {
        reply_store_err(c, rc);
        goto out;
    }
    reply_json(c, created ? 201 : 200, member_json(c->a, &nm));
out:
    unlock(c);
}

/* ---- Runner labels --------------------------------------------------------
 */

static int cmp_label(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* GET /runners/labels: the distinct labels of the enabled, unexpired
 * integrations of type test_runner the caller may see (as in GET
 * /integrations), sorted, and how many such runners there are. */
static void runner_labels(call_t *c)
{
    rdlock(c);
    int64_t now = dp_auth_now(c->a);
    const dp_auth_model_t *m = &c->a->model;
    size_t cap = 0, n = 0, runners = 0;
    for (size_t i = 0; i < m->n_tokens; i++)
        cap += m->tokens[i].n_labels;
    const char **all = malloc((cap ? cap : 1) * sizeof(*all));
    if (all == NULL) {
        unlock(c);
        reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    for (size_t i = 0; i < m->n_tokens; i++) {
        const dp_auth_token_t *t = &m->tokens[i];
        if (t->kind != DP_AUTH_KIND_INTEGRATION ||
            strcmp(t->type, "test_runner") != 0 || t->revoked_ms ||
            (t->expires_ms && now >= t->expires_ms) || !may_manage(c, t))
            continue;
        runners++;
        for (size_t k = 0; k < t->n_labels; k++)
            all[n++] = t->labels[k];
    }
    qsort(all, n, sizeof(*all), cmp_label);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (i == 0 || strcmp(all[i], all[i - 1]) != 0)
            json_array_append_new(arr, json_string(all[i]));
    unlock(c); /* the strings were copied into arr */
    free(all);
    reply_json(
        c, 200,
        json_pack("{s:o,s:I}", "labels", arr, "runners", (json_int_t)runners));
}

/* ---- Audit ----------------------------------------------------------------
 */

static void audit_list(call_t *c)
{
    char ns[DP_AUTH_NAME_MAX + 1];
    size_t off, lim;
    if (query_ns(c, ns) < 0 ||
        query_size(c, "offset", 0, 1000000000, &off) < 0 ||
        query_size(c, "limit", 100, 1000, &lim) < 0)
        return;
    if (lim == 0)
        lim = 1;
    rdlock(c);
    int ok = allow(c, "audit.list", ns[0] ? ns : NULL) == 0;
    unlock(c);
    if (!ok)
        return;
    json_t *rows = NULL;
    size_t total = 0;
    pthread_mutex_lock(&c->a->store_lock);
    int rc = c->a->store->ops->audit_list(c->a->store, ns[0] ? ns : NULL, off,
                                          lim, &rows, &total);
    pthread_mutex_unlock(&c->a->store_lock);
    if (rc < 0) {
        reply_store_err(c, rc);
        return;
    }
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)total, "offset",
                  (json_int_t)off, "limit", (json_int_t)lim, "entries", rows);
    json_object_set_new(o, "namespace", str_or_null(ns));
    reply_json(c, 200, o);
}

/* ---- Routing --------------------------------------------------------------
 */

static int is(const call_t *c, size_t i, const char *s)
{
    return i < c->nseg && strcmp(c->seg[i], s) == 0;
}

static int method_is(const call_t *c, const char *m)
{
    size_t l = strlen(m);
    return c->req->method.len == l && memcmp(c->req->method.ptr, m, l) == 0;
}

/* Returns 0 when it answered, -ENOENT for no such route (404), or
 * -EOPNOTSUPP with allow filled (405). */
static int route(call_t *c, const char **allow_out)
{
    int get = method_is(c, "GET") || method_is(c, "HEAD");
    int post = method_is(c, "POST"), del = method_is(c, "DELETE");
    int put = method_is(c, "PUT"), patch = method_is(c, "PATCH");
    size_t n = c->nseg;
    *allow_out = NULL;
#define ALLOW(a) (*allow_out = (a), -EOPNOTSUPP)
    if (is(c, 0, "whoami") && n == 1) {
        if (!get)
            return ALLOW("GET");
        whoami(c);
    } else if (is(c, 0, "users") && n == 1) {
        if (post)
            users_create(c);
        else if (get)
            users_list(c);
        else
            return ALLOW("GET, POST");
    } else if (is(c, 0, "users") && n == 2) {
        if (!get)
            return ALLOW("GET");
        users_get(c);
    } else if (is(c, 0, "users") && n == 3 && is(c, 2, "tokens")) {
        if (!post)
            return ALLOW("POST");
        token_create(c, 0, c->seg[1]);
    } else if ((is(c, 0, "tokens") || is(c, 0, "integrations")) && n == 1) {
        int integ = is(c, 0, "integrations");
        if (post)
            token_create(c, integ, NULL);
        else if (get)
            token_list(c, integ);
        else
            return ALLOW("GET, POST");
    } else if ((is(c, 0, "tokens") || is(c, 0, "integrations")) && n == 2) {
        int integ = is(c, 0, "integrations");
        if (get)
            token_get(c, integ);
        else if (del)
            token_delete(c, integ);
        else
            return ALLOW("DELETE, GET");
    } else if ((is(c, 0, "tokens") || is(c, 0, "integrations")) && n == 3 &&
               is(c, 2, "revoke")) {
        if (!post)
            return ALLOW("POST");
        token_revoke(c, is(c, 0, "integrations"));
    } else if (is(c, 0, "integrations") && n == 3 && is(c, 2, "labels")) {
        if (!patch)
            return ALLOW("PATCH");
        integration_labels(c);
    } else if (is(c, 0, "namespaces") && n == 1) {
        if (post)
            ns_create(c);
        else if (get)
            ns_list(c);
        else
            return ALLOW("GET, POST");
    } else if (is(c, 0, "namespaces") && n == 2) {
        if (get)
            ns_get(c);
        else if (patch)
            ns_patch(c);
        else if (del)
            ns_delete(c);
        else
            return ALLOW("DELETE, GET, PATCH");
    } else if (is(c, 0, "namespaces") && n == 3 &&
               (is(c, 2, "members") || is(c, 2, "users"))) {
        if (!get)
            return ALLOW("GET");
        members_list(c, is(c, 2, "users"));
    } else if (is(c, 0, "namespaces") && n == 5 && is(c, 2, "users") &&
               is(c, 4, "role")) {
        /* the platforms' SDKs set a member's role here */
        if (!put)
            return ALLOW("PUT");
        member_one(c, "PUT");
    } else if (is(c, 0, "runners") && n == 2 && is(c, 1, "labels")) {
        if (!get)
            return ALLOW("GET");
        runner_labels(c);
    } else if (is(c, 0, "namespaces") && n == 4 &&
               (is(c, 2, "members") || is(c, 2, "users"))) {
        if (get)
            member_one(c, "GET");
        else if (put)
            member_one(c, "PUT");
        else if (del)
            member_one(c, "DELETE");
        else
            return ALLOW("DELETE, GET, PUT");
    } else if (is(c, 0, "audit") && n == 1) {
        if (!get)
            return ALLOW("GET");
        audit_list(c);
    } else {
        return -ENOENT;
    }
#undef ALLOW
    return 0;
}

static void dispatch(call_t *c)
{
    dp_err_t e = {0};
    int rc = split_path(c);
    /* Authenticate first: without a token nobody learns which paths exist. */
    if (dp_auth_authenticate_request(c->a, c->req, &c->who, &e) < 0) {
        unsigned retry = 0;
        if (e.status == 429) {
            retry = dp_auth_retry_after_req(c->a, c->req);
            if (retry == 0)
                retry = 1;
        }
        reply_err_retry(c, &e, retry);
        return;
    }
    if (c->who.kind == DP_AUTH_KIND_INTEGRATION) {
        dp_auth_authorize(c->a, &c->who, "whoami", 0, NULL, &e);
        reply_err(c, &e);
        return;
    }
    if (rc < 0) {
        reply_error(c, rc == -E2BIG ? 404 : 400,
                    rc == -E2BIG ? "not_found" : "validation", NULL,
                    rc == -E2BIG ? "no such endpoint" : "bad path");
        return;
    }
    const char *allow = NULL;
    rc = route(c, &allow);
    if (rc == -EOPNOTSUPP) {
        json_t *o =
            json_pack("{s:s,s:s,s:s%}", "error", "method not allowed", "code",
                      "validation", "request_id",
                      c->req->request_id.ptr ? c->req->request_id.ptr : "",
                      c->req->request_id.len);
        char *txt = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        keep(c, 405, 1, "Allow", allow, txt, txt ? strlen(txt) : 0);
        free(txt);
    } else if (rc == -ENOENT) {
        reply_error(c, 404, "not_found", NULL, "no endpoint %.*s %.*s",
                    (int)c->req->method.len, c->req->method.ptr,
                    (int)c->req->path.len, c->req->path.ptr);
    }
}

/* ---- The work queue: one call at a time per worker ------------------- */

typedef struct auth_job auth_job_t;

/* One per mount (per worker router), loop thread only; freed with the
 * router, after the loop ran to its end (a job on the pool keeps it alive,
 * and waiting ones are started by the completion before it). */
typedef struct auth_queue {
    dp_auth_t *a;
    auth_job_t *head, *tail; /* calls not answered yet, in arrival order */
    int running;             /* the head is on the pool */
} auth_queue_t;

struct auth_job {
    uv_work_t work;
    auth_job_t *next;
    auth_queue_t *q;
    call_t c; /* its exchange (and request) stay valid until answered */
};

static void job_run(uv_work_t *w)
{
    auth_job_t *j = w->data;
    call_t *c = &j->c;
    dispatch(c);
    if (!c->answered)
        reply_error(c, 500, "internal", NULL, "no answer");
    for (size_t i = 0; i < c->nseg; i++)
        free(c->seg[i]);
    c->nseg = 0;
    json_decref(c->body);
    c->body = NULL;
}

static void job_next(auth_queue_t *q);

static void job_done(uv_work_t *w, int status)
{
    auth_job_t *j = w->data;
    auth_queue_t *q = j->q;
    (void)status; /* never cancelled */
    q->head = j->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->running = 0;
    send_answer(&j->c);
    free(j);
    job_next(q);
}

static void job_next(auth_queue_t *q)
{
    while (!q->running && q->head != NULL) {
        auth_job_t *j = q->head;
        j->work.data = j;
        q->running = 1;
        if (uv_queue_work(dp_http_exchange_loop(j->c.ex), &j->work, job_run,
                          job_done) == 0)
            return;
        /* cannot happen with both callbacks set: answer rather than hang */
        q->running = 0;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        reply_error(&j->c, 503, "unavailable", NULL,
                    "the auth work queue is unavailable");
        send_answer(&j->c);
        free(j);
    }
}

static int auth_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req)
{
    auth_queue_t *q = state;
    auth_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM; /* the front answers 500 */
    j->q = q;
    j->c = (call_t){.a = q->a, .ex = ex, .req = req};
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    job_next(q);
    return 0;
}

static void auth_queue_free(void *p) { free(p); }

int dp_auth_mount(dp_router_t *r, dp_auth_t *a)
{
    auth_queue_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    q->a = a;
    int frc = dp_router_on_free(r, auth_queue_free, q);
    if (frc < 0) {
        free(q);
        return frc;
    }
    static const char *const prefixes[] = {
        "/api/v1/tokens", "/api/v1/integrations", "/api/v1/namespaces",
        "/api/v1/users",  "/api/v1/audit",        "/api/v1/whoami",
        "/api/v1/runners",
    };
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .prefix = prefixes[i],
            .handler = auth_handler,
            .state = q,
        };
        int rc = dp_router_add(r, &m, 1, "host");
        if (rc < 0)
            return rc;
    }
    return 0;
}
