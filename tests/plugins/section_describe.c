/*
 * Test plugin: schema_toy.c's protocol section "described", whose def has
 * a describe callback (its committed files per namespace, and a failure
 * and a malformed answer on request), for GET /api/v1/protocols/described
 * in tests/integration/test_grpc_agent.py.
 */
#define TOY_SECTION "described"
#define TOY_PLUGIN "section_describe"
#define TOY_SCHEMA_KIND "toy"
#define TOY_DESCRIBE 1
#include "schema_toy.c"
