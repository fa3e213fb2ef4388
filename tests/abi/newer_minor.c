/* ABI fixture "newer_minor": claims ABI 1.3, newer than the host's minor. */
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
    .abi_minor = 3,
    .name = "newer_minor",
    .version = "0.0.1",
    .summary = "ABI fixture: newer_minor",
    .kind = DOPPEL_KIND_FEATURE,
    .init = fx_init,
    .destroy = fx_destroy,
};

DOPPEL_PLUGIN_DEFINE(fx_plugin)
