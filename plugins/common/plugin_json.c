/*
 * JSON answers in host-freed memory (plugin_json.h).
 */
#include "plugin_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dpj_give(const doppel_services_t *svc, json_t *o, char **out,
             size_t *out_len)
{
    *out = NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return -ENOMEM;
    size_t len = strlen(text);
    *out = svc->alloc(len + 1);
    if (*out != NULL) {
        memcpy(*out, text, len + 1);
        *out_len = len;
    }
    free(text);
    return *out ? 0 : -ENOMEM;
}

int dpj_answer(const doppel_services_t *svc, json_t *o, int status,
               char **out, size_t *out_len)
{
    int rc = dpj_give(svc, o, out, out_len);
    return rc < 0 ? rc : status;
}

int dpj_refuse(const doppel_services_t *svc, const char *field,
               const char *msg, char **out, size_t *out_len)
{
    return dpj_answer(svc,
                      json_pack("{s:s, s:s}", "error", msg, "field",
                                field ? field : ""),
                      400, out, out_len);
}

const char *dpj_opt_string(const json_t *sec, const char *key, int *bad)
{
    const json_t *v = json_object_get(sec, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}
