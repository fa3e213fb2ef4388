/*
 * Test plugin: schema_toy.c's section "mockedold", whose def sets
 * schema_mocks but whose size ends before it (an ABI 1.2 plugin built
 * before schema_mocks was appended). The member aborts when called, so
 * tests/integration/test_admin_schema_mocks.py fails if the host reads a
 * member its def's size does not cover.
 */
#include <stddef.h>

#define TOY_SECTION "mockedold"
#define TOY_PLUGIN "section_mocks_old"
#define TOY_SCHEMA_KIND "toy"
#define TOY_SCHEMA_MOCKS 1
#define TOY_SCHEMA_MOCKS_ABORTS 1
#define TOY_DEF_SIZE offsetof(doppel_protocol_def_t, schema_mocks)
#include "schema_toy.c"
