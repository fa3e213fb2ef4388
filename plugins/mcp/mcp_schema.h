/*
 * A JSON Schema checker for the subset the control server's tool input
 * schemas use. It is not a general validator: the schemas are ours, so it
 * knows exactly the keywords we write and ignores the purely descriptive
 * ones (title, description, default, examples, pattern).
 *
 * Keywords checked:
 *   type                  "object", "array", "string", "integer", "number",
 *                         "boolean", "null", or an array of them
 *   properties            schema per property name
 *   required              array of property names
 *   additionalProperties  false, or a schema every other property must fit
 *   items                 schema every array element must fit
 *   enum                  array of allowed values (compared with json_equal)
 *   minLength, maxLength  string length in characters (UTF-8 code points)
 *   minimum, maximum      numbers (inclusive)
 *   maxItems, maxProperties
 *
 * Recursion follows the schema, never the value, so a deeply nested value
 * costs nothing unless the schema describes that depth.
 *
 * Any thread; no state.
 */
#ifndef DOPPEL_MCP_SCHEMA_H
#define DOPPEL_MCP_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* Checks value against schema (both borrowed). Returns 0 when it fits, or
 * -EINVAL with *why set to a static message and path (when not NULL) to the
 * JSON path of the fault, e.g. "headers.Accept" or "mock" ("" for the value
 * itself), truncated to pathlen. */
int mcp_schema_check(const json_t *schema, const json_t *value, char *path,
                     size_t pathlen, const char **why);

#endif
