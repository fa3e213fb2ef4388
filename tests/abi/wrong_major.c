/* ABI fixture "wrong_major": an ABI 2.0 descriptor: a host of major 1 must
 * refuse it. */
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
    .abi_major = 2,
    .abi_minor = 0,
    .name = "wrong_major",
    .version = "0.0.1",
    .summary = "ABI fixture: wrong_major",
    .kind = DOPPEL_KIND_FEATURE,
    .init = fx_init,
    .destroy = fx_destroy,
};

DOPPEL_PLUGIN_DEFINE(fx_plugin)
