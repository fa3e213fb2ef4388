/*
 * The WebSocket plugin's JSON check (plugins/websocket/ws_json.c), against
 * jansson, which it stands in for: on valid UTF-8 (what a text frame
 * holds) it must say "JSON" exactly when json_loadb(JSON_DECODE_ANY)
 * parses the text, and give the event name event_of would take from the
 * parsed object: its "event" member when a string, else its "type"
 * member when a string. It may say "ask jansson" (-1) but never be wrong.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "ws_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws__utf8_t u = {0};
    if (ws__utf8_step(&u, data, size) < 0 || !ws__utf8_complete(&u))
        return 0;
    const char *e = NULL;
    size_t el = 0;
    int got = ws_json_scan((const char *)data, size, &e, &el);
    if (got < 0)
        return 0;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if ((j != NULL) != (got == 1))
        abort();
    if (j != NULL) {
        const json_t *v = json_object_get(j, "event");
        if (!json_is_string(v))
            v = json_object_get(j, "type");
        if (!json_is_string(v)) {
            if (e != NULL)
                abort();
        } else if (e == NULL || el != json_string_length(v) ||
                   memcmp(e, json_string_value(v), el) != 0) {
            abort();
        }
    }
    json_decref(j);
    return 0;
}
