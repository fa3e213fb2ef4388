/*
 * The single authorisation point of the admin API (see dp_admin_authorize
 * in admin.h): tokens, roles and per-namespace grants are checked here, and
 * only here, so no endpoint can forget them. The policy itself (which role
 * each operation needs) is host/auth/auth_policy.c.
 */
#include "admin.h"
#include "auth/auth.h"

int dp_admin_authorize(struct dp_auth *a, const doppel_http_request_t *req,
                       const dp_admin_op_t *op, const char *ns,
                       struct dp_auth_principal *who, dp_err_t *err)
{
    if (a == NULL)
        return 0;
    return dp_auth_admin_check(a, req, op ? op->name : NULL,
                               op ? op->write : 0, ns, who, err);
}

int dp_admin_authorize_more(struct dp_auth *a,
                            const struct dp_auth_principal *who,
                            const dp_admin_op_t *op, const char *ns,
                            dp_err_t *err)
{
    if (a == NULL)
        return 0;
    return dp_auth_authorize(a, who, op->name, op->write, ns, err);
}

int dp_admin_audit(struct dp_auth *a, const struct dp_auth_principal *who,
                   const dp_admin_op_t *op, const char *ns, const char *target)
{
    return dp_admin_audit_detail(a, who, op, ns, target, NULL);
}

int dp_admin_audit_detail(struct dp_auth *a,
                          const struct dp_auth_principal *who,
                          const dp_admin_op_t *op, const char *ns,
                          const char *target, const char *detail)
{
    if (a != NULL && op != NULL && op->write)
        return dp_auth_audit(a, who, op->name, ns, target, detail);
    return 0;
}

unsigned dp_admin_retry_after(struct dp_auth *a,
                              const doppel_http_request_t *req)
{
    unsigned s = a ? dp_auth_retry_after_req(a, req) : 0;
    return s ? s : 1;
}
