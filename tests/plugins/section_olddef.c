/*
 * Test plugin: schema_toy.c's protocol section "olddef" with a def as an
 * ABI 1.2 plugin built before describe was appended: its size ends at
 * explain_miss. The describe member past that size aborts when called, so
 * tests/integration/test_grpc_agent.py fails if the host reads it.
 */
#include <stddef.h>

#define TOY_SECTION "olddef"
#define TOY_PLUGIN "section_olddef"
#define TOY_SCHEMA_KIND "toy"
#define TOY_DESCRIBE 1
#define TOY_DESCRIBE_ABORTS 1
#define TOY_DEF_SIZE offsetof(doppel_protocol_def_t, describe)
#include "schema_toy.c"
