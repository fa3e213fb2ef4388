/*
 * Test plugin: a protocol section "acted" with operator actions (ABI 1.2
 * `actions` / `action`), for /api/v1/protocols/acted/actions/NAME and the
 * MCP tool protocol_action in tests/integration/test_protocol_actions.py.
 *   count    (read)  {"namespace", "count", "args"}: the namespace's counter
 *                    and the arguments as the host passed them
 *   bump     (write) adds args.by (an integer, default 1) to the counter;
 *                    400 naming "by" when it is not an integer
 *   fail     (write) returns -EIO (the host answers 500)
 *   garbage  (read)  answers 200 with text that is not JSON
 *   teapot   (read)  answers 418 without a "code" (the host adds one)
 * and one action with an invalid name, which the host must not offer.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "doppel/plugin.h"

#define MAX_NS 16

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char ns[72];
    long long count;
} counters[MAX_NS];

/* The counter of ns, created on first use; NULL when the table is full. */
static long long *counter(doppel_str_t ns)
{
    for (size_t i = 0; i < MAX_NS; i++) {
        if (counters[i].ns[0] == '\0' && ns.len < sizeof(counters[i].ns)) {
            memcpy(counters[i].ns, ns.ptr, ns.len);
            counters[i].ns[ns.len] = '\0';
            return &counters[i].count;
        }
        if (strlen(counters[i].ns) == ns.len &&
            memcmp(counters[i].ns, ns.ptr, ns.len) == 0)
            return &counters[i].count;
    }
    return NULL;
}

static int answer(const doppel_services_t *svc, json_t *o, int status,
                  char **out, size_t *out_len)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt == NULL)
        return -ENOMEM;
    size_t len = strlen(txt);
    *out = svc->alloc(len + 1);
    if (*out == NULL) {
        free(txt);
        return -ENOMEM;
    }
    memcpy(*out, txt, len + 1);
    *out_len = len;
    free(txt);
    return status;
}

static int acted_action(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        doppel_str_t ns, const char *name, const char *args,
                        size_t args_len, char **out, size_t *out_len)
{
    (void)ctx;
    json_t *a = json_loadb(args, args_len, 0, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return -EPROTO; /* the host promised an object */
    }
    int rc;
    if (strcmp(name, "fail") == 0) {
        rc = -EIO;
    } else if (strcmp(name, "garbage") == 0) {
        *out = svc->alloc(8);
        rc = *out ? 200 : -ENOMEM;
        if (*out) {
            memcpy(*out, "not json", 8);
            *out_len = 8;
        }
    } else if (strcmp(name, "teapot") == 0) {
        rc = answer(svc, json_pack("{s:s}", "error", "short and stout"), 418,
                    out, out_len);
    } else {
        json_t *by = json_object_get(a, "by");
        if (strcmp(name, "bump") == 0 && by != NULL && !json_is_integer(by)) {
            rc = answer(svc,
                        json_pack("{s:s, s:s}", "error",
                                  "by: expected an integer", "field", "by"),
                        400, out, out_len);
            json_decref(a);
            return rc;
        }
        pthread_mutex_lock(&mu);
        long long *c = counter(ns);
        long long v = 0;
        if (c != NULL) {
            if (strcmp(name, "bump") == 0)
                *c += by ? json_integer_value(by) : 1;
            v = *c;
        }
        pthread_mutex_unlock(&mu);
        rc = c == NULL ? -ENOSPC
                       : answer(svc,
                                json_pack("{s:s%, s:I, s:O}", "namespace",
                                          ns.ptr, ns.len, "count",
                                          (json_int_t)v, "args", a),
                                200, out, out_len);
    }
    json_decref(a);
    return rc;
}

static int acted_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                       const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                       doppel_check_error_t *err)
{
    (void)ctx;
    (void)svc;
    (void)mock;
    (void)err;
    key->operation = (doppel_str_t){"", 0};
    key->target = (doppel_str_t){"", 0};
    key->server = (doppel_str_t){"", 0};
    key->section = (doppel_str_t){"", 0};
    key->owned_section = NULL;
    return 0;
}

static int acted_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      void **out)
{
    (void)ctx;
    (void)svc;
    *out = NULL;
    return 0;
}

static void acted_destroy(void *state)
{
    (void)state;
}

static const doppel_protocol_action_t acted_actions[] = {
    {"count", 0, "the namespace's counter"},
    {"bump", 1, "adds by (default 1) to the counter"},
    {"fail", 1, "fails"},
    {"garbage", 0, "answers text that is not JSON"},
    {"teapot", 0, "answers 418"},
    {"Bad-Name", 0, "never offered: not a valid action name"},
    {NULL, 0, NULL},
};

static const char *const body_conditions[] = {"conditions", NULL};

static const doppel_protocol_def_t acted_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "acted",
    .body_conditions = body_conditions,
    .status_min = 100,
    .status_max = 599,
    .status_default = 200,
    .check = acted_check,
    .actions = acted_actions,
    .action = acted_action,
};

static const doppel_plugin_t desc = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "section_actions",
    .version = "test",
    .summary = "a protocol section with operator actions (tests)",
    .kind = DOPPEL_KIND_PROTOCOL,
    .init = acted_init,
    .destroy = acted_destroy,
    .protocol = &acted_def,
};

DOPPEL_PLUGIN_DEFINE(desc)
