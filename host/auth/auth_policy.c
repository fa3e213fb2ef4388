/*
 * Who may do what: the role each operation needs, and the effective role of
 * a principal in a namespace (its owner's membership or system-admin flag,
 * narrowed to the token's pinned namespace). The table is the one place to
 * change a permission; docs/security.md shows it to users.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth_internal.h"

#define SANDBOX "sandbox"

typedef struct op_rule {
    const char *name;
    dp_auth_role_t need;
    int null_is_sandbox; /* the admin API applies "sandbox" when no ns */
} op_rule_t;

static const op_rule_t rules[] = {
    /* The admin API (host/admin/admin_api.c). */
    {"mocks.list", DP_ROLE_VIEWER, 0},
    {"mocks.get", DP_ROLE_VIEWER, 0},
    {"stores.get", DP_ROLE_VIEWER, 1},
    {"journal.list", DP_ROLE_VIEWER, 0},
    {"unmatched.list", DP_ROLE_VIEWER, 0},
    {"mocks.create", DP_ROLE_EDITOR, 1},
    {"mocks.batch_create", DP_ROLE_EDITOR, 1},
    {"mocks.batch_close", DP_ROLE_EDITOR, 0},
    {"mocks.patch", DP_ROLE_EDITOR, 0},
    {"mocks.close", DP_ROLE_EDITOR, 0},
    {"mocks.restore", DP_ROLE_EDITOR, 0},
    {"mocks.purge", DP_ROLE_EDITOR, 0},
    {"stores.put", DP_ROLE_EDITOR, 1},
    {"stores.delete", DP_ROLE_EDITOR, 1},
    {"journal.clear", DP_ROLE_EDITOR, 0},
    {"unmatched.clear", DP_ROLE_EDITOR, 0},
    {"reset", DP_ROLE_EDITOR, 0},
    /* record and replay (docs/record-replay.md) */
    {"services.list", DP_ROLE_VIEWER, 1},
    {"services.get", DP_ROLE_VIEWER, 1},
    {"mode.get", DP_ROLE_VIEWER, 1},
    {"coverage.get", DP_ROLE_VIEWER, 1},
    {"services.create", DP_ROLE_EDITOR, 1},
    {"services.delete", DP_ROLE_EDITOR, 1},
    {"services.set_mode", DP_ROLE_EDITOR, 1},
    {"mode.set", DP_ROLE_EDITOR, 1},
    /* under the platforms' SDK paths (host/admin/admin_compat.c) */
    {"counts.get", DP_ROLE_VIEWER, 0},
    {"stats.get", DP_ROLE_VIEWER, 0},
    {"unmatched.ignore", DP_ROLE_EDITOR, 0},
    {"unmatched.create_mock", DP_ROLE_EDITOR, 0},
    {"unmatched.clear_all", DP_ROLE_EDITOR, 0},
    {"mocks.chain_get", DP_ROLE_VIEWER, 0},
    {"mocks.logs", DP_ROLE_VIEWER, 0},
    {"mocks.versions", DP_ROLE_VIEWER, 0},
    {"mocks.version_get", DP_ROLE_VIEWER, 0},
    {"mocks.version_restore", DP_ROLE_EDITOR, 0},
    {"tags.list", DP_ROLE_VIEWER, 0},
    {"tags.create", DP_ROLE_EDITOR, 1},
    {"folders.list", DP_ROLE_VIEWER, 0},
    {"folders.create", DP_ROLE_EDITOR, 1},
    {"folders.update", DP_ROLE_EDITOR, 0},
    {"folders.delete", DP_ROLE_EDITOR, 0},
    {"folders.move", DP_ROLE_EDITOR, 0},
    {"mocks.batch_restore", DP_ROLE_EDITOR, 0},
    {"mocks.batch_tags", DP_ROLE_EDITOR, 0},
    {"mocks.batch_move", DP_ROLE_EDITOR, 0},
    {"mocks.copy_to_namespace", DP_ROLE_EDITOR, 0},
    {"mocks.chain_close", DP_ROLE_EDITOR, 0},
    {"mocks.logs_clear", DP_ROLE_EDITOR, 0},
    {"namespaces.copy_mocks", DP_ROLE_EDITOR, 0},
    /* response template files (host/admin/admin_templates.c) */
    {"templates.list", DP_ROLE_VIEWER, 1},
    {"templates.get", DP_ROLE_VIEWER, 1},
    {"templates.create", DP_ROLE_EDITOR, 1},
    {"templates.replace", DP_ROLE_EDITOR, 1},
    {"templates.delete", DP_ROLE_EDITOR, 1},
    /* protocol plugins' schema files (host/admin/admin_schemas.c) */
    {"schemas.list", DP_ROLE_VIEWER, 1},
    {"schemas.get", DP_ROLE_VIEWER, 1},
    {"schemas.put", DP_ROLE_EDITOR, 1},
    {"schemas.batch", DP_ROLE_EDITOR, 1},
    {"schemas.delete", DP_ROLE_EDITOR, 1},
    /* what mock sections define (host/admin/admin_schemas.c) */
    {"protocols.list", DP_ROLE_VIEWER, 1},
    {"protocols.get", DP_ROLE_VIEWER, 1},
    /* operator actions of mock sections (publish, send, close) */
    {"protocols.action_read", DP_ROLE_VIEWER, 1},
    {"protocols.action", DP_ROLE_EDITOR, 1},
    /* This component's API (auth_api.c). */
    {"namespaces.get", DP_ROLE_VIEWER, 0},
    {"members.list", DP_ROLE_VIEWER, 0},
    {"namespaces.update", DP_ROLE_NS_ADMIN, 0},
    {"members.put", DP_ROLE_NS_ADMIN, 0},
    {"members.delete", DP_ROLE_NS_ADMIN, 0},
    {"tokens.manage", DP_ROLE_NS_ADMIN, 0},
    {"integrations.manage", DP_ROLE_NS_ADMIN, 0},
    {"audit.list", DP_ROLE_NS_ADMIN, 0},
    {"namespaces.create", DP_ROLE_SYSTEM, 0},
    {"namespaces.delete", DP_ROLE_SYSTEM, 0},
    {"users.create", DP_ROLE_SYSTEM, 0},
    {"users.list", DP_ROLE_SYSTEM, 0},
};

static const op_rule_t *rule_of(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].name, name) == 0)
            return &rules[i];
    return NULL;
}

const char *dp_auth_role_name(dp_auth_role_t r)
{
    switch (r) {
    case DP_ROLE_NONE:
        return "none";
    case DP_ROLE_VIEWER:
        return "viewer";
    case DP_ROLE_EDITOR:
        return "editor";
    case DP_ROLE_NS_ADMIN:
        return "admin";
    case DP_ROLE_SYSTEM:
        return "system";
    }
    return NULL;
}

int dp_auth_role_parse(const char *s, dp_auth_role_t *out)
{
    if (s == NULL)
        return -EINVAL;
    if (strcmp(s, "viewer") == 0)
        *out = DP_ROLE_VIEWER;
    else if (strcmp(s, "editor") == 0)
        *out = DP_ROLE_EDITOR;
    else if (strcmp(s, "admin") == 0)
        *out = DP_ROLE_NS_ADMIN;
    else
        return -EINVAL;
    return 0;
}

void dp_auth_err(dp_err_t *e, int status, const char *code, const char *fmt,
                 ...)
{
    if (e == NULL)
        return;
    va_list ap;
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    e->field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

dp_auth_role_t dp_auth_role_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                                   const char *ns)
{
    if (who->kind == DP_AUTH_KIND_LOCAL)
        return DP_ROLE_SYSTEM;
    if (who->kind != DP_AUTH_KIND_USER)
        return DP_ROLE_NONE;
    /* The owner's current flags, not the copy in who: demoting a user takes
     * effect on their next request. */
    dp_auth_user_t *u = dp_auth_find_user(&a->model, who->user_id);
    if (u == NULL || strcmp(u->id, who->user_id) != 0)
        return DP_ROLE_NONE;
    int pinned = who->pinned_ns[0] != '\0';
    if (ns == NULL)
        return (u->system_admin && !pinned) ? DP_ROLE_SYSTEM : DP_ROLE_NONE;
    if (pinned && strcmp(who->pinned_ns, ns) != 0)
        return DP_ROLE_NONE;
    dp_auth_role_t r = u->system_admin
                           ? DP_ROLE_SYSTEM
                           : dp_auth_member_role(&a->model, ns, u->id);
    /* A pinned token never reaches beyond its namespace, so it cannot hold
     * the system-wide role, even when its owner does. */
    if (pinned && r > DP_ROLE_NS_ADMIN)
        r = DP_ROLE_NS_ADMIN;
    return r;
}

dp_auth_role_t dp_auth_role_in(dp_auth_t *a, const dp_auth_principal_t *who,
                               const char *ns)
{
    if (who == NULL)
        return DP_ROLE_NONE;
    pthread_rwlock_rdlock(&a->lock);
    dp_auth_role_t r = dp_auth_role_locked(a, who, ns);
    pthread_rwlock_unlock(&a->lock);
    return r;
}

static const char *role_words(dp_auth_role_t r)
{
    switch (r) {
    case DP_ROLE_VIEWER:
        return "viewer";
    case DP_ROLE_EDITOR:
        return "editor";
    case DP_ROLE_NS_ADMIN:
        return "namespace admin";
    case DP_ROLE_SYSTEM:
        return "system admin";
    default:
        return "no role";
    }
}

int dp_auth_authorize(dp_auth_t *a, const dp_auth_principal_t *who,
                      const char *op_name, int write, const char *ns,
                      dp_err_t *err)
{
    pthread_rwlock_rdlock(&a->lock);
    int rc = dp_auth_authorize_locked(a, who, op_name, write, ns, err);
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

int dp_auth_authorize_locked(dp_auth_t *a, const dp_auth_principal_t *who,
                             const char *op_name, int write, const char *ns,
                             dp_err_t *err)
{
    if (who == NULL || who->kind == DP_AUTH_KIND_NONE) {
        dp_auth_err(err, 401, "unauthorized", "authentication required");
        return -EACCES;
    }
    if (who->kind == DP_AUTH_KIND_LOCAL)
        return 0;
    if (who->kind == DP_AUTH_KIND_INTEGRATION) {
        dp_auth_err(err, 403, "forbidden",
                    "this endpoint needs a user token (mk_...); integration "
                    "tokens (mki_...) are for node endpoints");
        return -EPERM;
    }
    if (op_name == NULL)
        return 0; /* no endpoint: any valid token learns it is a 404 */
    const op_rule_t *rule = rule_of(op_name);
    dp_auth_role_t need =
        rule ? rule->need : (write ? DP_ROLE_EDITOR : DP_ROLE_VIEWER);
    const char *eff = ns;
    if (eff == NULL && rule != NULL && rule->null_is_sandbox)
        eff = SANDBOX;
    if (eff == NULL || need == DP_ROLE_SYSTEM) {
        need = DP_ROLE_SYSTEM;
        eff = NULL;
    }
    dp_auth_role_t have = dp_auth_role_locked(a, who, eff);
    if (have >= need)
        return 0;
    if (eff == NULL)
        dp_auth_err(err, 403, "forbidden",
                    "%s needs a system admin token that is not pinned to a "
                    "namespace (token '%s' of user '%s')",
                    op_name, who->token_name, who->user_name);
    else if (who->pinned_ns[0] && strcmp(who->pinned_ns, eff) != 0)
        dp_auth_err(err, 403, "forbidden",
                    "token '%s' is pinned to namespace '%s' and cannot act "
                    "in '%s'",
                    who->token_name, who->pinned_ns, eff);
    else
        dp_auth_err(err, 403, "forbidden",
                    "%s in namespace '%s' needs role %s; user '%s' has %s "
                    "there",
                    op_name, eff, role_words(need), who->user_name,
                    role_words(have));
    return -EPERM;
}
