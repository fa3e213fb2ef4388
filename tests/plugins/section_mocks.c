/*
 * Test plugin: schema_toy.c's protocol section "mocked", whose def has
 * schema_mocks (the mocks an uploaded file implies, from its "mock ID"
 * lines) and a check that refuses {"refuse": true}, for
 * tests/integration/test_admin_schema_mocks.py.
 */
#define TOY_SECTION "mocked"
#define TOY_PLUGIN "section_mocks"
#define TOY_SCHEMA_KIND "toy"
#define TOY_SCHEMA_MOCKS 1
#include "schema_toy.c"
