/*
 * The host side of the server-wide admin endpoints (admin_server.c):
 * what GET /api/v1/status and /api/v1/features read of the host, handed
 * over as callbacks so that the admin component does not depend on the
 * host's internals.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "admin/admin.h"
#include "host.h"
#include "runtime.h" /* h->engine, h->auth */

static double uptime(void *ud)
{
    return dp_host_uptime(ud);
}

static const char *state(void *ud)
{
    if (dp_host_draining(ud))
        return "draining";
    return dp_host_ready(ud) ? "ok" : "starting";
}

static json_t *plugins(void *ud)
{
    size_t cap = dp_host_instances(ud, NULL, 0);
    dp_inst_info_t *inst = calloc(cap ? cap : 1, sizeof(*inst));
    if (inst == NULL)
        return NULL;
    size_t n = dp_host_instances(ud, inst, cap);
    if (n > cap)
        n = cap; /* instances do not come and go, but be safe */
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", inst[i].name,
                         "plugin", inst[i].plugin, "version", inst[i].version,
                         "kind", inst[i].kind, "state", inst[i].state));
    free(inst);
    return a;
}

int dp_server_routes_mount(dp_router_t *r, dp_host_t *h)
{
    dp_admin_server_info_t info = {
        .version = dp_host_version,
        .uptime = uptime,
        .state = state,
        .plugins = plugins,
        .ud = h,
    };
    return dp_admin_server_mount(r, h->engine, h->auth, &info);
}
