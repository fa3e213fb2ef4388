/*
 * libFuzzer target: plugins.conf text. The parser must never crash, leak or
 * read out of bounds, whatever the bytes; on success every section and key
 * it returns must be well-formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[512];
    dp_conf_t *c = NULL;
    if (dp_conf_parse(text, "fuzz.conf", &c, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < c->n_sections; i++) {
            const dp_conf_section_t *s = &c->sections[i];
            if (s->name == NULL || s->name[0] == '\0' || s->line < 1)
                abort();
            for (size_t k = 0; k < s->n_kv; k++)
                if (s->kv[k].key == NULL || s->kv[k].value == NULL ||
                    dp_conf_get(s, s->kv[k].key) == NULL)
                    abort();
        }
        dp_conf_free(c);
    } else if (err[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    free(text);
    return 0;
}
