/*
 * ABI fixture "frozen_1_0": a plugin exactly as a third party built it
 * against ABI 1.0. It does NOT include today's SDK headers: the structs
 * below are a frozen copy of the 1.0 layout (doppel_plugin_t,
 * doppel_option_t and the head of doppel_services_t). Never edit them. When
 * the host moves to 1.1, 1.2, ... this object must keep loading and
 * working; when a new minor ships, add a frozen_1_<minor>.c beside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define FROZEN_EXPORT __attribute__((visibility("default")))

struct frozen_option_1_0 {
    const char *name;
    uint32_t type; /* 1 string, 2 int, 3 bool, 4 size, 5 duration */
    uint32_t flags;
    const char *default_value;
    const char *help;
    int64_t min;
    int64_t max;
    void *reserved[2];
};

/* The first ABI 1.0 services, in order; a 1.0 plugin knows nothing else. */
struct frozen_services_1_0 {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    void (*log)(void *ctx, int level, const char *fmt, ...);
    void *(*alloc)(size_t n);
    void (*free)(void *p);
    const char *(*option_str)(void *ctx, const char *name);
    int64_t (*option_int)(void *ctx, const char *name);
};

struct frozen_plugin_1_0 {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;
    const char *version;
    const char *summary;
    uint32_t kind;
    uint32_t flags;
    const struct frozen_option_1_0 *options;
    int (*init)(void *ctx, const struct frozen_services_1_0 *svc, void **state);
    int (*start)(void *state);
    int (*stop)(void *state);
    void (*destroy)(void *state);
    int (*on_event)(void *state, const void *ev);
    void *reserved[8];
};

struct frozen_state {
    uint32_t magic; /* 0xf0f01010 */
    int64_t level;
};

static const struct frozen_option_1_0 frozen_options[] = {
    {"level", 2, 0, "1", "an integer option from ABI 1.0", 0, 9, {0, 0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0, 0}},
};

static int frozen_init(void *ctx, const struct frozen_services_1_0 *svc,
                       void **state)
{
    struct frozen_state *st = malloc(sizeof(*st));

    if (st == NULL)
        return -12; /* -ENOMEM */
    st->magic = 0xf0f01010u;
    st->level = -1;
    if (svc != NULL &&
        offsetof(struct frozen_services_1_0, option_int) +
                sizeof(svc->option_int) <=
            svc->size &&
        svc->option_int != NULL)
        st->level = svc->option_int(ctx, "level");
    *state = st;
    return 0;
}

static int frozen_start(void *state)
{
    (void)state;
    return 0;
}

static void frozen_destroy(void *state)
{
    free(state);
}

static const struct frozen_plugin_1_0 frozen_plugin = {
    .size = sizeof(struct frozen_plugin_1_0),
    .abi_major = 1,
    .abi_minor = 0,
    .name = "frozen_1_0",
    .version = "1.0.0",
    .summary = "ABI fixture: a plugin built against ABI 1.0",
    .kind = 2, /* feature */
    .options = frozen_options,
    .init = frozen_init,
    .start = frozen_start,
    .destroy = frozen_destroy,
};

FROZEN_EXPORT const void *doppel_plugin_entry(void);
FROZEN_EXPORT const void *doppel_plugin_entry(void)
{
    return &frozen_plugin;
}
