/*
 * dp_auth_t: open/close, token verification, and the checks the host calls
 * (admin API, node endpoints, /metrics, mock traffic), plus the audit log.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_internal.h"
#include "base/log.h"
#include "base/origin.h"

#define TOKEN_MAX 256 /* longer presented tokens are refused unread */

void dp_auth_cfg_default(dp_auth_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->fail_limit = 10;
    cfg->fail_window_s = 60;
    cfg->limiter_slots = 4096;
    cfg->audit_keep = 100000;
}

int64_t dp_auth_now(const dp_auth_t *a)
{
    if (a->cfg.clock != NULL)
        return a->cfg.clock(a->cfg.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dp_auth_local_mode(const dp_auth_t *a)
{
    return a != NULL && a->cfg.local_mode;
}

static int ensure_sandbox(dp_auth_t *a, char *err, size_t errlen)
{
    if (dp_auth_find_ns(&a->model, "sandbox") != NULL)
        return 0;
    dp_auth_ns_t n = {.name = "sandbox", .created_ms = dp_auth_now(a)};
    dp_auth_store_t *s = a->store;
    int rc = s->ops->begin(s);
    if (rc == 0)
        rc = s->ops->ns_put(s, &n);
    if (rc == 0)
        rc = s->ops->commit(s);
    if (rc < 0) {
        s->ops->rollback(s);
        snprintf(err, errlen, "cannot create namespace sandbox: %s", s->errmsg);
        return rc;
    }
    return dp_auth_model_add_ns(&a->model, &n);
}

int dp_auth_open(const char *db_path, const dp_auth_cfg_t *cfg, dp_auth_t **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    dp_auth_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (cfg != NULL)
        a->cfg = *cfg;
    else
        dp_auth_cfg_default(&a->cfg);
    if (a->cfg.fail_limit == 0)
        a->cfg.fail_limit = 10;
    if (a->cfg.fail_window_s == 0)
        a->cfg.fail_window_s = 60;
    if (a->cfg.limiter_slots == 0)
        a->cfg.limiter_slots = 4096;
    if (a->cfg.audit_keep == 0)
        a->cfg.audit_keep = 100000;
    /* Writers first: a stream of token checks must not starve an admin
     * change (no code path takes the read lock twice). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&a->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&a->store_lock, NULL);
    int rc = dp_auth_store_sqlite_open(db_path, &a->store, err, errlen);
    if (rc == 0) {
        rc = a->store->ops->load(a->store, &a->model);
        if (rc < 0)
            snprintf(err, errlen, "cannot load the auth tables: %s",
                     a->store->errmsg);
    }
    if (rc == 0)
        rc = ensure_sandbox(a, err, errlen);
    if (rc == 0 && dp_auth_reindex(a) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc == 0) {
        a->limiter = dp_auth_limiter_new(
            a->cfg.limiter_slots, a->cfg.fail_limit, a->cfg.fail_window_s);
        if (a->limiter == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
        }
    }
    if (rc < 0) {
        dp_auth_close(a);
        return rc;
    }
    for (size_t i = 0; i < a->model.n_tokens; i++)
        a->model.tokens[i].last_used_saved_ms = a->model.tokens[i].last_used_ms;
    if (a->cfg.local_mode)
        dp_warn("auth", "local mode: authentication is OFF, every admin call "
                        "acts as system admin (loopback only)");
    else
        dp_info("auth",
                "%zu users, %zu namespaces, %zu tokens and "
                "integrations",
                a->model.n_users, a->model.n_nss, a->model.n_tokens);
    *out = a;
    return 0;
}

/* Writes the last-used times that changed since they were stored; they are
 * kept in memory per request so that verification never writes. */
static void flush_last_used(dp_auth_t *a)
{
    dp_auth_store_t *s = a->store;
    int began = 0;
    for (size_t i = 0; i < a->model.n_tokens; i++) {
        dp_auth_token_t *t = &a->model.tokens[i];
        int64_t lu = __atomic_load_n(&t->last_used_ms, __ATOMIC_RELAXED);
        if (lu == t->last_used_saved_ms)
            continue;
        if (!began) {
            if (s->ops->begin(s) < 0)
                return;
            began = 1;
        }
        if (s->ops->token_put(s, t) == 0)
            t->last_used_saved_ms = lu;
    }
    if (began && s->ops->commit(s) < 0)
        s->ops->rollback(s);
}

void dp_auth_close(dp_auth_t *a)
{
    if (a == NULL)
        return;
    if (a->store != NULL) {
        pthread_rwlock_wrlock(&a->lock);
        pthread_mutex_lock(&a->store_lock);
        flush_last_used(a);
        pthread_mutex_unlock(&a->store_lock);
        pthread_rwlock_unlock(&a->lock);
        a->store->ops->close(a->store);
    }
    dp_auth_limiter_free(a->limiter);
    dp_auth_model_free(&a->model);
    free(a->index);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->store_lock);
    free(a);
}

/* ---- Tokens ------------------------------------------------------------- */

int dp_auth_token_create_locked(dp_auth_t *a, dp_auth_token_t *t,
                                const char *given_secret, char *secret,
                                size_t secret_cap)
{
    int integ = t->kind == DP_AUTH_KIND_INTEGRATION;
    const char *prefix = integ ? "mki_" : "mk_";
    int rc = dp_auth_id_new(integ ? "int_" : "tok_", t->id, sizeof(t->id));
    if (rc < 0)
        return rc;
    if (given_secret != NULL) {
        if (strlen(given_secret) >= secret_cap)
            return -EINVAL;
        snprintf(secret, secret_cap, "%s", given_secret);
    } else if ((rc = dp_auth_secret_new(prefix, secret, secret_cap)) < 0) {
        return rc;
    }
    dp_auth_secret_hash(secret, strlen(secret), t->hash);
    size_t pl = strlen(prefix);
    snprintf(t->display, sizeof(t->display), "%s%.*s", prefix,
             DP_AUTH_DISPLAY_LEN, secret + pl);
    t->created_ms = dp_auth_now(a);
    t->last_used_ms = t->last_used_saved_ms = 0;
    t->revoked_ms = 0;
    return a->store->ops->token_put(a->store, t);
}

int dp_auth_verify(dp_auth_t *a, const char *secret, dp_auth_principal_t *who,
                   dp_err_t *err)
{
    size_t len = secret ? strlen(secret) : 0;
    if (len == 0 || len > TOKEN_MAX ||
        (strncmp(secret, "mk_", 3) != 0 && strncmp(secret, "mki_", 4) != 0)) {
        dp_auth_err(err, 401, "unauthorized",
                    "invalid token: doppel tokens start with mk_ (users) or "
                    "mki_ (integrations)");
        return -EACCES;
    }
    uint8_t h[DP_AUTH_HASH_LEN];
    dp_auth_secret_hash(secret, len, h);
    int64_t now = dp_auth_now(a);
    int rc = 0;
    pthread_rwlock_rdlock(&a->lock);
    dp_auth_token_t *t = dp_auth_lookup_hash(a, h);
    if (t == NULL) {
        dp_auth_err(err, 401, "unauthorized", "invalid token");
        rc = -EACCES;
    } else if (t->revoked_ms != 0) {
        dp_auth_err(err, 401, "unauthorized", "token '%s' (%s...) is revoked",
                    t->name, t->display);
        rc = -EACCES;
    } else if (t->expires_ms != 0 && now >= t->expires_ms) {
        dp_auth_err(err, 401, "unauthorized", "token '%s' (%s...) expired",
                    t->name, t->display);
        rc = -EACCES;
    } else {
        dp_auth_user_t *u = dp_auth_find_user(&a->model, t->user_id);
        if (t->kind == DP_AUTH_KIND_USER && u == NULL) {
            dp_auth_err(err, 401, "unauthorized",
                        "the owner of token '%s' no longer exists", t->name);
            rc = -EACCES;
        } else if (who != NULL) {
            memset(who, 0, sizeof(*who));
            who->kind = t->kind;
            snprintf(who->token_id, sizeof(who->token_id), "%s", t->id);
            snprintf(who->token_name, sizeof(who->token_name), "%s", t->name);
            snprintf(who->user_id, sizeof(who->user_id), "%s", t->user_id);
            snprintf(who->pinned_ns, sizeof(who->pinned_ns), "%s", t->ns);
            if (t->kind == DP_AUTH_KIND_USER) {
                snprintf(who->user_name, sizeof(who->user_name), "%s", u->name);
                who->system_admin = u->system_admin;
            } else {
                snprintf(who->integration_type, sizeof(who->integration_type),
                         "%s", t->type);
            }
        }
        if (rc == 0)
            __atomic_store_n(&t->last_used_ms, now, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

static int ieq_prefix(const char *s, size_t len, const char *p)
{
    size_t pl = strlen(p);
    return len >= pl && strncasecmp(s, p, pl) == 0;
}

/* Copies the token out of "Bearer <t>" (or a bare X-API-Key value),
 * trimming spaces. Returns 1, 0 for an empty value, -EINVAL otherwise. */
static int token_from_value(const char *v, size_t len, int bearer, char *out,
                            size_t cap)
{
    if (bearer) {
        if (!ieq_prefix(v, len, "Bearer "))
            return -EINVAL;
        v += 7;
        len -= 7;
    }
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return bearer ? -EINVAL : 0;
    if (len >= cap || memchr(v, '\0', len) != NULL)
        return -EINVAL;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

int dp_auth_token_from_request(const doppel_http_request_t *req, char *out,
                               size_t cap)
{
    const doppel_str_t *h = NULL;
    if (req->header != NULL)
        h = req->header(req, "Authorization");
    if (h != NULL && h->ptr != NULL)
        return token_from_value(h->ptr, h->len, 1, out, cap);
    if (req->header != NULL)
        h = req->header(req, "X-API-Key");
    if (h != NULL && h->ptr != NULL)
        return token_from_value(h->ptr, h->len, 0, out, cap);
    return 0;
}

static void local_principal(dp_auth_principal_t *who)
{
    memset(who, 0, sizeof(*who));
    who->kind = DP_AUTH_KIND_LOCAL;
    who->system_admin = 1;
    snprintf(who->user_name, sizeof(who->user_name), "local");
    snprintf(who->token_name, sizeof(who->token_name), "local-mode");
}

/* Rate limit, then verify. token NULL or "" is "missing". */
static int authenticate(dp_auth_t *a, const char *token, int malformed,
                        const char *addr, dp_auth_principal_t *who,
                        dp_err_t *err)
{
    int64_t now = dp_auth_now(a);
    unsigned wait = dp_auth_limiter_check(a->limiter, addr, now);
    if (wait > 0) {
        dp_auth_err(err, 429, "rate_limit",
                    "too many failed authentications from this address; "
                    "retry in %u s",
                    wait);
        return -EAGAIN;
    }
    if (malformed) {
        dp_auth_limiter_fail(a->limiter, addr, now);
        dp_auth_err(err, 401, "unauthorized",
                    "malformed credentials: send 'Authorization: Bearer "
                    "<token>' or 'X-API-Key: <token>'");
        return -EACCES;
    }
    if (token == NULL || token[0] == '\0') {
        dp_auth_err(err, 401, "unauthorized",
                    "a token is required: send 'Authorization: Bearer "
                    "<token>' or 'X-API-Key: <token>'");
        return -EACCES;
    }
    int rc = dp_auth_verify(a, token, who, err);
    if (rc < 0)
        dp_auth_limiter_fail(a->limiter, addr, now);
    return rc;
}

/* Local mode trusts whoever can reach the loopback listener, and a browser
 * on this machine can reach it for any page it shows: a cross-site form or
 * fetch (text/plain needs no preflight) brings the page's Origin, a DNS
 * rebinding attack the page's own name as Host. Neither carries a token, so
 * with authentication on there is nothing to check; in local mode both
 * must name this machine. A request without Origin (curl, SDKs) or without
 * Host (HTTP/1.0) is not from a browser. 0, or -EPERM with err filled. */
static int local_request_ok(const doppel_http_request_t *req, dp_err_t *err)
{
    const doppel_str_t *h = req->header ? req->header(req, "Host") : NULL;
    if (h != NULL && !dp_authority_is_loopback(h->ptr, h->len)) {
        dp_auth_err(err, 403, "forbidden",
                    "local mode (auth off) serves /api/v1 only to this "
                    "machine: Host '%.*s' is not a loopback name or address",
                    (int)(h->len > 100 ? 100 : h->len), h->ptr);
        return -EPERM;
    }
    const doppel_str_t *o = req->header ? req->header(req, "Origin") : NULL;
    if (o != NULL && !dp_origin_text_is_loopback(o->ptr, o->len)) {
        dp_auth_err(err, 403, "forbidden",
                    "local mode (auth off) serves /api/v1 only to pages of "
                    "this machine: Origin '%.*s' is not a loopback origin",
                    (int)(o->len > 100 ? 100 : o->len), o->ptr);
        return -EPERM;
    }
    return 0;
}

/* Reads the request's token and authenticates it; in local mode, the local
 * principal (for requests from this machine, see local_request_ok). */
int dp_auth_authenticate_request(dp_auth_t *a, const doppel_http_request_t *req,
                                 dp_auth_principal_t *who, dp_err_t *err)
{
    if (a->cfg.local_mode) {
        int rc = local_request_ok(req, err);
        if (rc == 0)
            local_principal(who);
        return rc;
    }
    char tok[TOKEN_MAX + 1];
    char addr[64];
    snprintf(addr, sizeof(addr), "%.*s", (int)req->remote_addr.len,
             req->remote_addr.ptr ? req->remote_addr.ptr : "");
    int found = dp_auth_token_from_request(req, tok, sizeof(tok));
    int rc = authenticate(a, found > 0 ? tok : NULL, found < 0, addr, who, err);
    OPENSSL_cleanse(tok, sizeof(tok));
    return rc;
}

unsigned dp_auth_retry_after(dp_auth_t *a, const char *addr)
{
    return dp_auth_limiter_check(a->limiter, addr, dp_auth_now(a));
}

unsigned dp_auth_retry_after_req(dp_auth_t *a, const doppel_http_request_t *req)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "%.*s", (int)req->remote_addr.len,
             req->remote_addr.ptr ? req->remote_addr.ptr : "");
    return dp_auth_retry_after(a, addr);
}

int dp_auth_admin_check(dp_auth_t *a, const doppel_http_request_t *req,
                        const char *op_name, int write, const char *ns,
                        dp_auth_principal_t *who, dp_err_t *err)
{
    dp_auth_principal_t p;
    int rc = dp_auth_authenticate_request(a, req, &p, err);
    if (rc == 0)
        rc = dp_auth_authorize(a, &p, op_name, write, ns, err);
    if (rc == 0 && who != NULL)
        *who = p;
    return rc;
}

int dp_auth_check_token(dp_auth_t *a, const char *token, const char *addr,
                        const char *op_name, int write, const char *ns,
                        dp_auth_principal_t *who, dp_err_t *err)
{
    dp_auth_principal_t p;
    int rc;
    if (a->cfg.local_mode) {
        local_principal(&p);
        rc = 0;
    } else {
        rc = authenticate(a, token, 0, addr, &p, err);
    }
    if (rc == 0)
        rc = dp_auth_authorize(a, &p, op_name, write, ns, err);
    if (rc == 0 && who != NULL)
        *who = p;
    return rc;
}

int dp_auth_node_check(dp_auth_t *a, const doppel_http_request_t *req,
                       const char *type, dp_auth_principal_t *who,
                       dp_err_t *err)
{
    dp_auth_principal_t p;
    int rc = dp_auth_authenticate_request(a, req, &p, err);
    if (rc < 0)
        return rc;
    if (p.kind == DP_AUTH_KIND_USER) {
        dp_auth_err(err, 403, "forbidden",
                    "this endpoint needs an integration token (mki_...); "
                    "user tokens (mk_...) are for the user API");
        return -EPERM;
    }
    if (p.kind == DP_AUTH_KIND_INTEGRATION && type != NULL &&
        strcmp(p.integration_type, type) != 0) {
        dp_auth_err(err, 403, "forbidden",
                    "this endpoint needs an integration of type %s; "
                    "integration '%s' is a %s",
                    type, p.token_name, p.integration_type);
        return -EPERM;
    }
    if (who != NULL)
        *who = p;
    return 0;
}

int dp_auth_metrics_check(dp_auth_t *a, const doppel_http_request_t *req,
                          dp_err_t *err)
{
    dp_auth_principal_t p;
    return dp_auth_authenticate_request(a, req, &p, err);
}

int dp_auth_namespace_requires_token(dp_auth_t *a, const char *ns)
{
    if (a == NULL || a->cfg.local_mode || ns == NULL)
        return 0;
    pthread_rwlock_rdlock(&a->lock);
    dp_auth_ns_t *n = dp_auth_find_ns(&a->model, ns);
    int r = n != NULL && n->require_token;
    pthread_rwlock_unlock(&a->lock);
    return r;
}

int dp_auth_traffic_check(dp_auth_t *a, const char *ns,
                          const char *authorization_or_api_key,
                          const char *addr, unsigned *retry_after)
{
    if (retry_after != NULL)
        *retry_after = 0;
    if (!dp_auth_namespace_requires_token(a, ns))
        return 0;
    const char *v = authorization_or_api_key;
    char tok[TOKEN_MAX + 1];
    int found = 0;
    if (v != NULL) {
        size_t len = strlen(v);
        found = token_from_value(v, len, ieq_prefix(v, len, "Bearer "), tok,
                                 sizeof(tok));
    }
    /* The admin API's limiter: a guess at a token is a guess wherever it
     * is made, so mock traffic counts failures and is refused with the
     * same window. */
    dp_auth_principal_t p;
    int rc = authenticate(a, found > 0 ? tok : NULL, found < 0, addr, &p, NULL);
    OPENSSL_cleanse(tok, sizeof(tok));
    if (rc == -EAGAIN) {
        if (retry_after != NULL) {
            *retry_after = dp_auth_retry_after(a, addr ? addr : "");
            if (*retry_after == 0)
                *retry_after = 1;
        }
        return -EAGAIN;
    }
    if (rc < 0)
        return -EACCES;
    if (p.kind == DP_AUTH_KIND_INTEGRATION)
        return (p.pinned_ns[0] == '\0' || strcmp(p.pinned_ns, ns) == 0)
                   ? 0
                   : -EPERM;
    return dp_auth_role_in(a, &p, ns) >= DP_ROLE_VIEWER ? 0 : -EPERM;
}

/* ---- Audit -------------------------------------------------------------- */

static void actor_of(const dp_auth_principal_t *who, char *actor, size_t cap)
{
    if (who == NULL)
        snprintf(actor, cap, "anonymous");
    else if (who->kind == DP_AUTH_KIND_LOCAL)
        snprintf(actor, cap, "local");
    else if (who->kind == DP_AUTH_KIND_INTEGRATION)
        snprintf(actor, cap, "integration:%s", who->token_name);
    else
        snprintf(actor, cap, "%s", who->user_name);
}

void dp_auth_audit_meta(dp_auth_t *a, const dp_auth_principal_t *who,
                        char *actor, int64_t *at_ms, size_t *keep)
{
    actor_of(who, actor, DP_AUTH_ACTOR_MAX);
    *at_ms = dp_auth_now(a);
    *keep = a->cfg.audit_keep;
}

int dp_auth_audit_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                         const char *action, const char *ns, const char *target,
                         const char *detail)
{
    char actor[DP_AUTH_NAME_MAX + 16];
    actor_of(who, actor, sizeof(actor));
    dp_auth_audit_row_t r = {
        .at_ms = dp_auth_now(a),
        .actor = actor,
        .actor_id = who ? who->token_id : "",
        .action = action ? action : "unknown",
        .ns = ns,
        .target = target,
        .detail = detail,
    };
    return a->store->ops->audit_append(a->store, &r, a->cfg.audit_keep);
}

int dp_auth_audit(dp_auth_t *a, const dp_auth_principal_t *who,
                  const char *action, const char *ns, const char *target,
                  const char *detail)
{
    if (a == NULL || action == NULL)
        return -EINVAL;
    dp_auth_store_t *s = a->store;
    pthread_mutex_lock(&a->store_lock);
    int rc = s->ops->begin(s);
    if (rc == 0)
        rc = dp_auth_audit_locked(a, who, action, ns, target, detail);
    if (rc == 0)
        rc = s->ops->commit(s);
    if (rc < 0) {
        s->ops->rollback(s);
        dp_error("auth", "audit write failed (%s): %s", action, s->errmsg);
    }
    pthread_mutex_unlock(&a->store_lock);
    return rc;
}
