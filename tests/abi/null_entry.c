/* ABI fixture "null_entry": the entry function returns no descriptor. */
#include "doppel/plugin.h"

DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void);
DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void)
{
    return NULL;
}
