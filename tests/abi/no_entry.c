/* ABI fixture "no_entry": a shared object that exports a function, but not
 * doppel_plugin_entry. */
#include "doppel/plugin.h"

DOPPEL_PLUGIN_EXPORT int doppel_not_the_entry(void);
DOPPEL_PLUGIN_EXPORT int doppel_not_the_entry(void)
{
    return 42;
}
