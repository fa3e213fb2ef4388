/*
 * Direct changes to the auth model without a permission check, for the
 * host's own set-up code and the tests (the REST API checks permissions
 * first, in auth_api.c). Each call is one transaction with its audit row
 * (actor "system"), and changes memory only after the commit.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth_internal.h"

static const dp_auth_principal_t system_actor = {
    .kind = DP_AUTH_KIND_LOCAL,
    .user_name = "system",
};

int dp_auth_tx_begin(dp_auth_t *a)
{
    pthread_mutex_lock(&a->store_lock);
    int rc = a->store->ops->begin(a->store);
    if (rc < 0)
        pthread_mutex_unlock(&a->store_lock);
    return rc;
}

int dp_auth_tx_end(dp_auth_t *a, int rc)
{
    if (rc == 0)
        rc = a->store->ops->commit(a->store);
    if (rc < 0)
        a->store->ops->rollback(a->store);
    pthread_mutex_unlock(&a->store_lock);
    return rc;
}

int dp_auth_user_add(dp_auth_t *a, const char *name, int system_admin,
                     char id_out[DP_AUTH_ID_MAX + 1])
{
    if (!dp_auth_name_valid(name))
        return -EINVAL;
    dp_auth_user_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "%s", name);
    u.system_admin = system_admin != 0;
    pthread_rwlock_wrlock(&a->lock);
    int rc = dp_auth_find_user(&a->model, name) ? -EEXIST : 0;
    u.created_ms = dp_auth_now(a);
    if (rc == 0)
        rc = dp_auth_id_new("usr_", u.id, sizeof(u.id));
    if (rc == 0 && (rc = dp_auth_tx_begin(a)) == 0) {
        rc = a->store->ops->user_put(a->store, &u);
        if (rc == 0)
            rc = dp_auth_audit_locked(a, &system_actor, "users.create", NULL,
                                      u.id, NULL);
        rc = dp_auth_tx_end(a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_user(&a->model, &u);
    pthread_rwlock_unlock(&a->lock);
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, u.id, sizeof(u.id));
    return rc;
}

int dp_auth_ns_add(dp_auth_t *a, const char *name, int require_token)
{
    if (!dp_auth_name_valid(name))
        return -EINVAL;
    dp_auth_ns_t n;
    memset(&n, 0, sizeof(n));
    snprintf(n.name, sizeof(n.name), "%s", name);
    n.require_token = require_token != 0;
    pthread_rwlock_wrlock(&a->lock);
    n.created_ms = dp_auth_now(a);
    int rc = dp_auth_find_ns(&a->model, name) ? -EEXIST : dp_auth_tx_begin(a);
    if (rc == 0) {
        rc = a->store->ops->ns_put(a->store, &n);
        if (rc == 0)
            rc = dp_auth_audit_locked(a, &system_actor, "namespaces.create",
                                      n.name, n.name, NULL);
        rc = dp_auth_tx_end(a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_ns(&a->model, &n);
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

int dp_auth_member_set(dp_auth_t *a, const char *ns, const char *user_id,
                       dp_auth_role_t role)
{
    if (role < DP_ROLE_VIEWER || role > DP_ROLE_NS_ADMIN)
        return -EINVAL;
    dp_auth_member_t mb = {.role = role};
    snprintf(mb.ns, sizeof(mb.ns), "%s", ns);
    snprintf(mb.user_id, sizeof(mb.user_id), "%s", user_id);
    pthread_rwlock_wrlock(&a->lock);
    int rc = (dp_auth_find_ns(&a->model, ns) == NULL ||
              dp_auth_find_user(&a->model, user_id) == NULL)
                 ? -ENOENT
                 : dp_auth_tx_begin(a);
    if (rc == 0) {
        rc = a->store->ops->member_put(a->store, &mb);
        if (rc == 0)
            rc = dp_auth_audit_locked(a, &system_actor, "members.put", ns,
                                      user_id, dp_auth_role_name(role));
        rc = dp_auth_tx_end(a, rc);
    }
    if (rc == 0) {
        int found = 0;
        for (size_t i = 0; i < a->model.n_members; i++) {
            dp_auth_member_t *m = &a->model.members[i];
            if (strcmp(m->ns, ns) == 0 && strcmp(m->user_id, user_id) == 0) {
                m->role = role;
                found = 1;
            }
        }
        if (!found)
            rc = dp_auth_model_add_member(&a->model, &mb);
    }
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

int dp_auth_token_add(dp_auth_t *a, dp_auth_kind_t kind, const char *user_id,
                      const char *name, const char *ns, const char *type,
                      int64_t expires_ms, char *secret_out, size_t secret_cap,
                      char id_out[DP_AUTH_ID_MAX + 1])
{
    if ((kind != DP_AUTH_KIND_USER && kind != DP_AUTH_KIND_INTEGRATION) ||
        !dp_auth_name_valid(name) || (ns && ns[0] && !dp_auth_name_valid(ns)))
        return -EINVAL;
    dp_auth_token_t t;
    memset(&t, 0, sizeof(t));
    t.kind = kind;
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.user_id, sizeof(t.user_id), "%s", user_id ? user_id : "");
    snprintf(t.ns, sizeof(t.ns), "%s", ns ? ns : "");
    snprintf(t.type, sizeof(t.type), "%s", type ? type : "");
    t.expires_ms = expires_ms;
    pthread_rwlock_wrlock(&a->lock);
    int rc = 0;
    if (kind == DP_AUTH_KIND_USER &&
        dp_auth_find_user(&a->model, t.user_id) == NULL)
        rc = -ENOENT;
    if (rc == 0 && t.ns[0] && dp_auth_find_ns(&a->model, t.ns) == NULL)
        rc = -ENOENT;
    if (rc == 0 && (rc = dp_auth_tx_begin(a)) == 0) {
        rc = dp_auth_token_create_locked(a, &t, NULL, secret_out, secret_cap);
        if (rc == 0)
            rc = dp_auth_audit_locked(a, &system_actor,
                                      kind == DP_AUTH_KIND_USER
                                          ? "tokens.create"
                                          : "integrations.create",
                                      t.ns[0] ? t.ns : NULL, t.id, NULL);
        rc = dp_auth_tx_end(a, rc);
    }
    if (rc == 0)
        rc = dp_auth_model_add_token(&a->model, &t);
    if (rc == 0)
        rc = dp_auth_reindex(a);
    pthread_rwlock_unlock(&a->lock);
    if (rc < 0 && secret_out != NULL && secret_cap > 0)
        OPENSSL_cleanse(secret_out, secret_cap);
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, t.id, sizeof(t.id));
    return rc;
}

int dp_auth_token_revoke(dp_auth_t *a, const char *id)
{
    pthread_rwlock_wrlock(&a->lock);
    dp_auth_token_t *t = dp_auth_find_token(&a->model, id);
    int rc = t == NULL ? -ENOENT : 0;
    if (rc == 0 && t->revoked_ms == 0) {
        dp_auth_token_t nt = *t;
        nt.last_used_ms = __atomic_load_n(&t->last_used_ms, __ATOMIC_RELAXED);
        nt.revoked_ms = dp_auth_now(a);
        if ((rc = dp_auth_tx_begin(a)) == 0) {
            rc = a->store->ops->token_put(a->store, &nt);
            if (rc == 0)
                rc = dp_auth_audit_locked(a, &system_actor, "tokens.revoke",
                                          nt.ns[0] ? nt.ns : NULL, nt.id, NULL);
            rc = dp_auth_tx_end(a, rc);
        }
        if (rc == 0) {
            nt.last_used_saved_ms = nt.last_used_ms;
            *t = nt;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return rc;
}
