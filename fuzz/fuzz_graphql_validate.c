/*
 * dp_gql's validation: a fixed schema (interfaces implementing interfaces,
 * unions, enums, input objects with defaults and @oneOf, lists of lists,
 * custom and repeatable directives), then every fuzzed document that
 * parses goes through gql_validate. Beyond "no crash, no leak, no UB, no
 * hang": the count returned is what was appended; every error is an
 * object with a non-empty message and well-formed locations; the error
 * limit holds (max + the one "Too many" error); and the same document
 * validated twice gives the same errors (the rules keep no state).
 *
 * Input: byte 0 = error limit (0: the default, 100), then the document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

static const char SDL[] =
    "schema { query: Query mutation: Mutation subscription: Subscription }\n"
    "scalar DateTime\n"
    "enum Role { ADMIN USER GUEST @deprecated }\n"
    "interface Node { id: ID! }\n"
    "interface Named implements Node { id: ID! name(upper: Boolean = false): "
    "String }\n"
    "type User implements Node & Named { id: ID! name(upper: Boolean = false): "
    "String\n"
    "  email: String! age: Int score: Float ok: Boolean role: Role at: "
    "DateTime\n"
    "  friends(first: Int = 2, after: String): [User!]! best: User grid: "
    "[[Int!]] }\n"
    "type Product implements Node & Named { id: ID! name(upper: Boolean = "
    "false): String\n"
    "  price: Float! tags: [String!]! sku: ID }\n"
    "union Result = User | Product\n"
    "input Inner { n: Int! = 1, list: [Inner!] }\n"
    "input Filter { role: Role = USER, names: [String!], inner: Inner, at: "
    "DateTime, req: ID! }\n"
    "input Pick @oneOf { id: ID, name: String }\n"
    "directive @log(level: String!) repeatable on FIELD | QUERY | "
    "FRAGMENT_SPREAD\n"
    "directive @once(n: Int = 1) on FIELD | INLINE_FRAGMENT | "
    "VARIABLE_DEFINITION\n"
    "type Query { user(id: ID!): User users(filter: Filter, limit: Int = 5): "
    "[User]\n"
    "  node(id: ID): Node named: [Named!] search(q: String! = \"x\"): "
    "[Result!]!\n"
    "  pick(by: Pick!): Node maybe(by: Pick): Node echo(j: DateTime, f: "
    "[Filter!]): String }\n"
    "type Mutation { set(v: Int!): Int! del(ids: [ID!]!): Boolean }\n"
    "type Subscription { changed(id: ID): User! tick: Int }\n";

static gql_schema_t *schema;

static void check(const json_t *errors, size_t before, size_t n, size_t max)
{
    if (json_array_size(errors) != before + n)
        abort();
    if (n > (max ? max : 100) + 1)
        abort();
    for (size_t i = before; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!json_is_object(e) || !m || !*m)
            abort();
        const json_t *locs = json_object_get(e, "locations");
        if (locs && (!json_is_array(locs) || json_array_size(locs) == 0))
            abort();
        for (size_t k = 0; locs && k < json_array_size(locs); k++) {
            const json_t *l = json_array_get(locs, k);
            if (json_integer_value(json_object_get(l, "line")) < 1 ||
                json_integer_value(json_object_get(l, "column")) < 1)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) {
        gql_error_t err;
        gql_source_t src = {"fuzz.graphql", SDL, sizeof SDL - 1};
        schema = gql_schema_build(&src, 1, NULL, &err);
        if (!schema)
            abort();
    }
    if (size < 1)
        return 0;
    size_t max = data[0] % 8 == 0 ? 0 : data[0] % 8;
    gql_error_t err;
    gql_doc_t *doc = gql_parse((const char *)data + 1, size - 1, NULL, &err);
    if (!doc)
        return 0;
    json_t *a = json_pack("[{s:s}]", "message", "before");
    json_t *b = json_array();
    size_t na = gql_validate(schema, doc, a, max);
    size_t nb = gql_validate(schema, doc, b, max);
    check(a, 1, na, max);
    check(b, 0, nb, max);
    if (na != nb)
        abort();
    for (size_t i = 0; i < nb; i++)
        if (!json_equal(json_array_get(a, i + 1), json_array_get(b, i)))
            abort();
    json_decref(a);
    json_decref(b);
    gql_doc_free(doc);
    return 0;
}
