/*
 * ABI fixture "too_small": claims ABI 1.0 but its descriptor is only 24
 * bytes (size, major, minor, name, version). The object really is that
 * small, so a host that reads past `size` is caught by ASan.
 */
#include "doppel/plugin.h"

struct small_desc {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;
    const char *version;
};

static const struct small_desc small = {
    .size = sizeof(struct small_desc),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = 0,
    .name = "too_small",
    .version = "0.0.1",
};

DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void);
DOPPEL_PLUGIN_EXPORT const doppel_plugin_t *doppel_plugin_entry(void)
{
    return (const doppel_plugin_t *)(const void *)&small;
}
