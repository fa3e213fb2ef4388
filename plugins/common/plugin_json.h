/*
 * JSON answers a plugin hands to the host in memory the host frees
 * (svc->alloc): a section's describe, schema_mocks and record outputs, and
 * the answers of its operator actions (protocol.h), and the reading of a
 * section's optional string members in check. Shared by the plugins
 * so each does not keep its own copy of the same dozen lines.
 */
#ifndef DOPPEL_PLUGIN_JSON_H
#define DOPPEL_PLUGIN_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "doppel/plugin.h"

/* Writes the compact text of o (the reference is taken and dropped; NULL
 * is out of memory) into *out, svc->alloc'd, and its length without the
 * NUL into *out_len. Returns 0, or -ENOMEM with *out NULL. */
int dpj_give(const doppel_services_t *svc, json_t *o, char **out,
             size_t *out_len);

/* dpj_give for an action's answer: returns status on success. */
int dpj_answer(const doppel_services_t *svc, json_t *o, int status,
               char **out, size_t *out_len);

/* An action's refusal: 400 {"error": msg, "field": field}. */
int dpj_refuse(const doppel_services_t *svc, const char *field,
               const char *msg, char **out, size_t *out_len);

/* The string member key of a mock's section: NULL when absent or null;
 * NULL with *bad set when it is not a non-empty string (check then
 * refuses the mock naming the member). */
const char *dpj_opt_string(const json_t *sec, const char *key, int *bad);

#endif /* DOPPEL_PLUGIN_JSON_H */
