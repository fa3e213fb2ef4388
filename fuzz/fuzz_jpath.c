/*
 * libFuzzer target: arbitrary bytes as a JSON path or a condition spec.
 * First byte: % 4 == 0 -> the rest is a path, compiled and walked on the
 * fixture request; otherwise the rest is parsed as JSON and compiled as a
 * condition on target (byte % 3), then evaluated on the body, header and
 * query fixtures, with and without a reason buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    uint64_t rng = 1;
    dp_tmpl_env_t env;
    dp_err_t err;
    fuzz_env_init(&env, &rng);
    if (data[0] % 4 == 0) {
        char *src = malloc(size);
        if (src == NULL)
            return 0;
        memcpy(src, data + 1, size - 1);
        src[size - 1] = '\0';
        dp_jpath_t *p = NULL;
        if (dp_jpath_compile(src, "http.path", &p, &err) == 0) {
            (void)dp_jpath_get(p, fuzz_req);
            (void)dp_jpath_get(p, NULL);
            dp_jpath_free(p);
        }
        free(src);
        return 0;
    }
    json_t *spec = json_loadb((const char *)data + 1, size - 1,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (spec == NULL)
        return 0;
    dp_cond_t *c = NULL;
    if (dp_cond_compile(spec, (dp_cond_target_t)(data[0] % 3),
                        "http.conditions[0]", &c, &err) == 0) {
        char why[64];
        (void)dp_cond_eval(c, fuzz_req, why, sizeof(why));
        (void)dp_cond_eval(c, fuzz_headers, why, 1);
        (void)dp_cond_eval(c, fuzz_query, NULL, 0);
        (void)dp_cond_eval(c, NULL, why, sizeof(why));
        (void)dp_cond_path(c);
        dp_cond_free(c);
    }
    json_decref(spec);
    return 0;
}
