/*
 * dp_gql's execution: a fixed schema (objects, interfaces, unions, enums,
 * input objects, custom scalars, non-null lists, recursion), then a fuzzed
 * query, variables JSON and answers JSON through gql_execute, without
 * validation first (execution must be safe on any parsed document).
 * Beyond "no crash, no leak, no UB": every response is an object with
 * "data" or "errors", and "errors" is never an empty array.
 *
 * Input: byte 0 = flags, then query 0xFF variables 0xFF answers.
 *   flags & 1: fake data for fields with no answer
 *   flags & 2: long fake lists (50 items), a tight depth bound (6) and a
 *              small size bound (5,000 values)
 *   flags & 4: no schema (shaping only)
 *   flags >> 3: the seed of the fake data
 * answers is {"field": value}; an answer {"$errors": [...]} also gives
 * those errors; the answer "$fail" is a failed resolver.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

static const char SDL[] =
    "schema { query: Query mutation: Mutation }\n"
    "scalar DateTime\nscalar JSON\n"
    "enum Role { ADMIN USER GUEST @deprecated }\n"
    "interface Node { id: ID! }\n"
    "interface Named implements Node { id: ID! name: String }\n"
    "type User implements Node & Named { id: ID! name: String email: String! age: Int\n"
    "  score: Float ok: Boolean role: Role at: DateTime meta: JSON\n"
    "  friends(first: Int = 2, after: String): [User!]! best: User }\n"
    "type Product implements Node & Named { id: ID! name: String price: Float! tags: [[String!]] }\n"
    "union Result = User | Product\n"
    "input Inner { n: Int! = 1, list: [Inner!] }\n"
    "input Filter { role: Role = USER, names: [String!], inner: Inner, at: DateTime }\n"
    "type Query { user(id: ID!): User users(filter: Filter, limit: Int = 5): [User]\n"
    "  node(id: ID): Node named: [Named!] search(q: String! = \"x\"): [Result!]!\n"
    "  must: Int! echo(j: JSON, f: [Filter!] = [{names: \"a\"}]): String }\n"
    "type Mutation { set(v: Int!): Int! del(ids: [ID!]!): Boolean }\n";

static gql_schema_t *schema;

static int resolve(void *ud, const gql_field_call_t *call, json_t **value,
                   json_t **errors)
{
    /* touch what the call hands over */
    volatile size_t sum = strlen(call->field) + strlen(call->response_key) +
                          json_object_size(call->args) + json_object_size(call->variables);
    (void)sum;
    json_t *v = json_object_get((json_t *)ud, call->field);
    if (!v)
        return GQL_NO_ANSWER;
    if (json_is_string(v) && strcmp(json_string_value(v), "$fail") == 0)
        return -EIO;
    json_t *e = json_is_object(v) ? json_object_get(v, "$errors") : NULL;
    if (e)
        *errors = json_incref(e);
    *value = json_incref(v);
    return GQL_RESOLVED;
}

static const uint8_t *split(const uint8_t *p, const uint8_t *end, size_t *len)
{
    const uint8_t *q = memchr(p, 0xFF, (size_t)(end - p));
    *len = (size_t)((q ? q : end) - p);
    return q ? q + 1 : end;
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
    unsigned flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    size_t qlen, vlen, alen;
    const uint8_t *q = p;
    p = split(p, end, &qlen);
    const uint8_t *vs = p;
    p = split(p, end, &vlen);
    const uint8_t *as = p;
    p = split(p, end, &alen);

    gql_error_t err;
    gql_doc_t *doc = gql_parse((const char *)q, qlen, NULL, &err);
    if (!doc)
        return 0;
    json_error_t jerr;
    json_t *vars = vlen ? json_loadb((const char *)vs, vlen, 0, &jerr) : NULL;
    json_t *answers = alen ? json_loadb((const char *)as, alen, 0, &jerr) : NULL;
    if (!answers)
        answers = json_object();
    const gql_definition_t *op = gql_doc_operation(doc, NULL, &err);
    if (op) {
        gql_exec_opts_t opts = {.fake_missing = flags & 1, .seed = flags >> 3};
        if (flags & 2) {
            opts.fake_list_len = 50;
            opts.max_depth = 6;
            opts.max_values = 5000;
        }
        int request_error = -1;
        json_t *resp = gql_execute(flags & 4 ? NULL : schema, doc, op, vars, &opts, resolve,
                                   answers, &request_error);
        if (!json_is_object(resp) || (request_error != 0 && request_error != 1))
            abort();
        json_t *errs = json_object_get(resp, "errors");
        if (errs && json_array_size(errs) == 0)
            abort();
        if (!json_object_get(resp, "data") && !errs)
            abort();
        if (request_error && json_object_get(resp, "data"))
            abort();
        char *text = json_dumps(resp, JSON_COMPACT);
        free(text);
        json_decref(resp);
    }
    json_decref(answers);
    json_decref(vars);
    gql_doc_free(doc);
    return 0;
}
