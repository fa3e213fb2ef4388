/* ABI fixture "bad_name": a name outside [a-z][a-z0-9_-]*. */
#include <stdlib.h>

#include "doppel/plugin.h"

static int fx_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                   void **state)
{
    (void)ctx;
    (void)svc;
    *state = NULL;
    return 0;
}

static void fx_destroy(void *state)
{
    free(state);
}

static const doppel_plugin_t fx_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "Bad Name",
    .version = "0.0.1",
    .summary = "ABI fixture: bad_name",
    .kind = DOPPEL_KIND_FEATURE,
    .init = fx_init,
    .destroy = fx_destroy,
};

DOPPEL_PLUGIN_DEFINE(fx_plugin)
