/*
 * libFuzzer target: arbitrary bytes as a template. The first byte picks the
 * form: even -> the rest is one template string; odd -> the rest is parsed
 * as JSON and, if it parses, compiled as a whole template. Every compiled
 * template is rendered twice (fresh rng each time) and freed.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    json_t *v;
    if ((data[0] & 1) == 0)
        v = json_stringn_nocheck((const char *)data + 1, size - 1);
    else
        v = json_loadb((const char *)data + 1, size - 1,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        return 0;
    dp_tmpl_t *t = NULL;
    dp_err_t err;
    if (dp_tmpl_compile(v, "response.payload", &t, &err) == 0) {
        uint64_t rng = 0x9E3779B97F4A7C15ULL;
        dp_tmpl_env_t env;
        fuzz_env_init(&env, &rng);
        (void)dp_tmpl_is_static(t);
        for (int i = 0; i < 2; i++) {
            json_t *out = dp_tmpl_render(t, &env);
            json_decref(out);
        }
        dp_tmpl_free(t);
    }
    json_decref(v);
    return 0;
}
