/*
 * ABI fixture "good": a valid minimal feature plugin with one option of
 * every type. The unit tests also call its callbacks with a fake services
 * table, so init really reads its options and keeps what it read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "doppel/plugin.h"

typedef struct good_state {
    uint32_t magic;  /* 0x600d600d: lets the tests recognise it */
    char label[64];  /* option label */
    int64_t count;   /* option count */
    int verbose;     /* option verbose */
    int64_t buffer;  /* option buffer (bytes) */
    int64_t timeout; /* option timeout (ms) */
    unsigned ticks;  /* DOPPEL_EVENT_TICK received */
    const doppel_services_t *svc;
    doppel_ctx_t *ctx;
} good_state_t;

static const doppel_option_t good_options[] = {
    {"label",
     DOPPEL_OPT_STRING,
     DOPPEL_OPT_REQUIRED,
     NULL,
     "a name for this instance",
     1,
     0,
     {NULL, NULL}},
    {"count", DOPPEL_OPT_INT, 0, "3", "how many", 1, 100, {NULL, NULL}},
    {"verbose", DOPPEL_OPT_BOOL, 0, "false", "log more", 1, 0, {NULL, NULL}},
    {"buffer",
     DOPPEL_OPT_SIZE,
     0,
     "64k",
     "buffer size",
     1024,
     1048576,
     {NULL, NULL}},
    {"timeout",
     DOPPEL_OPT_DURATION,
     0,
     "5s",
     "how long to wait",
     10,
     60000,
     {NULL, NULL}},
    {"note",
     DOPPEL_OPT_STRING,
     0,
     NULL,
     "free text, unset by default",
     1,
     0,
     {NULL, NULL}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {NULL, NULL}},
};

static int good_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     void **state)
{
    good_state_t *st = calloc(1, sizeof(*st));
    const char *label = NULL;

    if (st == NULL)
        return -ENOMEM;
    st->magic = 0x600d600du;
    st->svc = svc;
    st->ctx = ctx;
    if (DOPPEL_HAS_SERVICE(svc, option_str))
        label = svc->option_str(ctx, "label");
    if (label != NULL) {
        strncpy(st->label, label, sizeof(st->label) - 1);
    }
    if (DOPPEL_HAS_SERVICE(svc, option_int)) {
        st->count = svc->option_int(ctx, "count");
        st->buffer = svc->option_int(ctx, "buffer");
        st->timeout = svc->option_int(ctx, "timeout");
    }
    if (DOPPEL_HAS_SERVICE(svc, option_bool))
        st->verbose = svc->option_bool(ctx, "verbose");
    if (DOPPEL_HAS_SERVICE(svc, subscribe)) {
        int rc = svc->subscribe(ctx, DOPPEL_EVENT_TICK);
        if (rc != 0) {
            free(st);
            return rc;
        }
    }
    *state = st;
    return 0;
}

static int good_start(void *state)
{
    (void)state;
    return 0;
}

static int good_stop(void *state)
{
    good_state_t *st = state;

    if (DOPPEL_HAS_SERVICE(st->svc, stop_done))
        st->svc->stop_done(st->ctx);
    return 0;
}

static void good_destroy(void *state)
{
    free(state);
}

static int good_on_event(void *state, const doppel_event_t *ev)
{
    good_state_t *st = state;

    if (ev->id != DOPPEL_EVENT_TICK)
        return DOPPEL_DECLINED;
    st->ticks++;
    return DOPPEL_OK;
}

static const doppel_plugin_t good_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "good",
    .version = "1.2.3",
    .summary = "ABI fixture: a valid feature plugin",
    .kind = DOPPEL_KIND_FEATURE,
    .options = good_options,
    .init = good_init,
    .start = good_start,
    .stop = good_stop,
    .destroy = good_destroy,
    .on_event = good_on_event,
};

DOPPEL_PLUGIN_DEFINE(good_plugin)
