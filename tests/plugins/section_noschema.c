/*
 * Test plugin: schema_toy.c's protocol section "noschema" without schema
 * files (schema_kind NULL), for the 404 of /api/v1/schemas/noschema in
 * tests/integration/test_admin_schemas.py.
 */
#define TOY_SECTION "noschema"
#define TOY_PLUGIN "section_noschema"
#define TOY_SCHEMA_KIND NULL
#include "schema_toy.c"
