/*
 * gql_execute: shaping by selection sets (order, aliases, fragments,
 * inline fragments on unions and interfaces, __typename, @skip/@include),
 * variable and argument coercion with graphql-js's messages, result
 * coercion, non-null propagation paths, partial data, resolver errors,
 * fake data (determinism, types), introspection pieces, bounds.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gql.h"

static const char SDL[] =
    "\"\"\"The shop.\"\"\"\n"
    "schema { query: Query mutation: Mutation }\n"
    "scalar DateTime @specifiedBy(url: \"https://tools.ietf.org/html/rfc3339\")\n"
    "scalar JSON\n"
    "enum Role { ADMIN USER GUEST @deprecated(reason: \"gone\") }\n"
    "interface Node { id: ID! }\n"
    "type User implements Node {\n"
    "  id: ID!\n"
    "  name: String!\n"
    "  email: String\n"
    "  age: Int\n"
    "  score: Float\n"
    "  active: Boolean\n"
    "  role: Role\n"
    "  createdAt: DateTime\n"
    "  meta: JSON\n"
    "  friends(first: Int = 10): [User!]\n"
    "  old: String @deprecated\n"
    "}\n"
    "type Product implements Node { id: ID! title: String price: Float! tags: [String] }\n"
    "union SearchResult = User | Product\n"
    "input Filter { role: Role = USER, names: [String!], nested: Inner }\n"
    "input Inner { n: Int! }\n"
    "type Query {\n"
    "  user(id: ID!): User\n"
    "  users(filter: Filter, limit: Int = 5): [User!]\n"
    "  node(id: ID!): Node\n"
    "  search(text: String!): [SearchResult]\n"
    "  count: Int\n"
    "  must: String!\n"
    "  echo(s: String = \"a\\\"b\", l: [Int] = [1, 2], f: Filter = {role: ADMIN, nested: {n: 3}}, "
    "r: Role = GUEST, x: Float = 1.0, i: ID = 7): String\n"
    "}\n"
    "type Mutation { first: Int second: Int third: Int! }\n";

typedef struct fixture {
    gql_schema_t *schema;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    gql_error_t err = {0};
    gql_source_t src = {"shop.graphql", SDL, sizeof SDL - 1};
    f.schema = gql_schema_build(&src, 1, NULL, &err);
    if (!f.schema)
        fprintf(stderr, "schema: %s (%u:%u)\n", err.message, err.loc.line, err.loc.column);
    assert_non_null(f.schema);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    gql_schema_free(f->schema);
    return 0;
}

/* The resolver of the tests: answers[field] is the value; {"$errors":
 * [...], "$value": v} gives errors too; "$fail" is a resolver failure.
 * Every call is recorded as {"field", "key", "args"}. */
typedef struct answers {
    json_t *by_field;
    json_t *calls;
} answers_t;

static int resolve(void *ud, const gql_field_call_t *call, json_t **value,
                   json_t **errors)
{
    answers_t *a = ud;
    json_array_append_new(a->calls,
                          json_pack("{s:s,s:s,s:O}", "field", call->field, "key",
                                    call->response_key, "args", call->args));
    json_t *v = json_object_get(a->by_field, call->field);
    if (!v)
        return GQL_NO_ANSWER;
    if (json_is_string(v) && strcmp(json_string_value(v), "$fail") == 0)
        return -EIO;
    if (json_is_object(v) && json_object_get(v, "$errors")) {
        *errors = json_incref(json_object_get(v, "$errors"));
        json_t *val = json_object_get(v, "$value");
        *value = val ? json_incref(val) : NULL;
        return GQL_RESOLVED;
    }
    *value = json_incref(v);
    return GQL_RESOLVED;
}

typedef struct run {
    json_t *resp;
    json_t *calls;
    int request_error;
} run_t;

static run_t run_opts(const gql_schema_t *s, const char *query, const char *vars,
                      const char *answers, const gql_exec_opts_t *opts)
{
    run_t r = {0};
    gql_error_t err = {0};
    gql_doc_t *doc = gql_parse(query, strlen(query), NULL, &err);
    if (!doc)
        fprintf(stderr, "query: %s\n", err.message);
    assert_non_null(doc);
    const gql_definition_t *op = gql_doc_operation(doc, NULL, &err);
    assert_non_null(op);
    json_error_t jerr;
    json_t *v = vars ? json_loads(vars, 0, &jerr) : NULL;
    if (vars)
        assert_non_null(v);
    answers_t a = {answers ? json_loads(answers, 0, &jerr) : json_object(), json_array()};
    assert_non_null(a.by_field);
    r.resp = gql_execute(s, doc, op, v, opts, resolve, &a, &r.request_error);
    assert_non_null(r.resp);
    r.calls = a.calls;
    json_decref(a.by_field);
    json_decref(v);
    gql_doc_free(doc);
    return r;
}

static run_t run(const gql_schema_t *s, const char *query, const char *vars,
                 const char *answers)
{
    gql_exec_opts_t opts = {0};
    return run_opts(s, query, vars, answers, &opts);
}

static void run_free(run_t *r)
{
    json_decref(r->resp);
    json_decref(r->calls);
}

/* Compares JSON texts exactly, member order included. */
static void assert_json(const json_t *got, const char *want)
{
    json_error_t jerr;
    json_t *w = json_loads(want, 0, &jerr);
    if (!w)
        fprintf(stderr, "bad expected JSON: %s: %s\n", want, jerr.text);
    assert_non_null(w);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    char *ws = json_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);
    if (strcmp(g, ws) != 0)
        fprintf(stderr, "got:  %s\nwant: %s\n", g, ws);
    assert_string_equal(g, ws);
    free(g);
    free(ws);
    json_decref(w);
}

static fixture_t *F(void **state)
{
    return *state;
}

/* ---- shaping ------------------------------------------------------------ */

static void test_shaping_order_and_dropping(void **state)
{
    run_t r = run(F(state)->schema, "{ user(id: 1) { name id friends { id } } }", NULL,
                  "{\"user\": {\"id\": \"u1\", \"email\": \"x@y\", \"name\": \"Ann\","
                  " \"secret\": 1, \"friends\": [{\"id\": 2, \"name\": \"B\"}]}}");
    assert_json(r.resp, "{\"data\": {\"user\": {\"name\": \"Ann\", \"id\": \"u1\","
                        " \"friends\": [{\"id\": \"2\"}]}}}");
    run_free(&r);
}

static void test_aliases_and_merging(void **state)
{
    run_t r = run(F(state)->schema,
                  "{ a: user(id: 1) { who: name } user(id: 1) { id } user(id: 1) { name } }",
                  NULL, "{\"user\": {\"id\": \"u1\", \"name\": \"Ann\"}}");
    assert_json(r.resp, "{\"data\": {\"a\": {\"who\": \"Ann\"},"
                        " \"user\": {\"id\": \"u1\", \"name\": \"Ann\"}}}");
    /* one call per response key, merged fields of "user" called once */
    assert_int_equal(json_array_size(r.calls), 2);
    assert_json(json_array_get(r.calls, 0),
                "{\"field\": \"user\", \"key\": \"a\", \"args\": {\"id\": \"1\"}}");
    run_free(&r);
}

static void test_fragments_on_union_and_interface(void **state)
{
    const char *q =
        "query { search(text: \"x\") { __typename ... on User { name } ...P } "
        "node(id: 1) { id ... on Product { title } ... on User { name } } }\n"
        "fragment P on Product { title price }";
    run_t r = run(F(state)->schema, q, NULL,
                  "{\"search\": [{\"__typename\": \"Product\", \"title\": \"T\", \"price\": 2,"
                  " \"name\": \"no\"}, {\"name\": \"Ann\", \"email\": \"e\"}, null],"
                  " \"node\": {\"id\": 9, \"title\": \"Lamp\", \"price\": 3}}");
    /* the second result has no __typename: User is the first possible
     * type with every member it carries; node likewise becomes a Product */
    assert_json(r.resp,
                "{\"data\": {\"search\": [{\"__typename\": \"Product\", \"title\": \"T\","
                " \"price\": 2.0}, {\"__typename\": \"User\", \"name\": \"Ann\"}, null],"
                " \"node\": {\"id\": \"9\", \"title\": \"Lamp\"}}}");
    run_free(&r);
}

static void test_typename_everywhere(void **state)
{
    run_t r = run(F(state)->schema, "{ __typename t: __typename user(id: 1) { __typename } }",
                  NULL, "{\"user\": {}}");
    assert_json(r.resp, "{\"data\": {\"__typename\": \"Query\", \"t\": \"Query\","
                        " \"user\": {\"__typename\": \"User\"}}}");
    run_free(&r);
}

static void test_skip_include(void **state)
{
    const char *q =
        "query ($yes: Boolean!, $no: Boolean = false) { user(id: 1) {"
        " id @skip(if: $yes) name @include(if: $yes) email @include(if: $no)"
        " ... on User @skip(if: $no) { age } ...F @include(if: false) } }\n"
        "fragment F on User { score }";
    run_t r = run(F(state)->schema, q, "{\"yes\": true}",
                  "{\"user\": {\"id\": 1, \"name\": \"N\", \"email\": \"e\", \"age\": 3,"
                  " \"score\": 1}}");
    assert_json(r.resp, "{\"data\": {\"user\": {\"name\": \"N\", \"age\": 3}}}");
    run_free(&r);
}

static void test_without_schema_shaping_only(void **state)
{
    (void)state;
    run_t r = run(NULL, "{ a { x y: z ... on T { w } } b }", NULL,
                  "{\"a\": [{\"x\": 1, \"z\": [1, 2], \"q\": 0, \"w\": true,"
                  " \"__typename\": \"T\"}, {\"x\": 2, \"__typename\": \"U\", \"w\": 1}]}");
    assert_json(r.resp,
                "{\"data\": {\"a\": [{\"x\": 1, \"y\": [1, 2], \"w\": true}, {\"x\": 2,"
                " \"y\": null}], \"b\": null},"
                " \"errors\": [{\"message\": \"No mock for field \\\"b\\\".\","
                " \"locations\": [{\"line\": 1, \"column\": 31}], \"path\": [\"b\"]}]}");
    run_free(&r);
}

/* ---- arguments and variables -------------------------------------------- */

static void test_arguments_coerced_with_defaults(void **state)
{
    run_t r = run(F(state)->schema,
                  "query ($f: Filter) { users(filter: $f) { id } x: users(filter: {names: \"a\"},"
                  " limit: 2) { id } }",
                  "{\"f\": {\"names\": [\"n\"], \"nested\": {\"n\": 4}}}", "{\"users\": []}");
    assert_json(r.resp, "{\"data\": {\"users\": [], \"x\": []}}");
    assert_json(json_object_get(json_array_get(r.calls, 0), "args"),
                "{\"filter\": {\"role\": \"USER\", \"names\": [\"n\"], \"nested\": {\"n\": 4}},"
                " \"limit\": 5}");
    assert_json(json_object_get(json_array_get(r.calls, 1), "args"),
                "{\"filter\": {\"role\": \"USER\", \"names\": [\"a\"]}, \"limit\": 2}");
    run_free(&r);
}

static void test_variable_not_provided(void **state)
{
    run_t r = run(F(state)->schema, "query Q($id: ID!) { user(id: $id) { id } }", "{}",
                  "{\"user\": {}}");
    assert_int_equal(r.request_error, 1);
    assert_json(r.resp, "{\"errors\": [{\"message\": \"Variable \\\"$id\\\" of required type"
                        " \\\"ID!\\\" was not provided.\", \"locations\": [{\"line\": 1,"
                        " \"column\": 9}]}]}");
    assert_int_equal(json_array_size(r.calls), 0);
    run_free(&r);
}

static void test_variable_invalid_values(void **state)
{
    run_t r = run(F(state)->schema,
                  "query ($n: Int, $m: Int, $f: Filter, $r: Role, $id: ID!) { count }",
                  "{\"n\": \"x\", \"m\": 3000000000, \"f\": {\"nested\": {}, \"bad\": 1},"
                  " \"r\": \"NOPE\", \"id\": null}",
                  NULL);
    assert_int_equal(r.request_error, 1);
    json_t *errs = json_object_get(r.resp, "errors");
    assert_null(json_object_get(r.resp, "data"));
    const char *want[] = {
        "Variable \"$n\" got invalid value \"x\"; Int cannot represent non-integer value: \"x\"",
        "Variable \"$m\" got invalid value 3000000000; Int cannot represent non 32-bit signed"
        " integer value: 3000000000",
        "Variable \"$f\" got invalid value {} at \"f.nested\"; Field \"n\" of required type"
        " \"Int!\" was not provided.",
        "Variable \"$f\" got invalid value { nested: {}, bad: 1 }; Field \"bad\" is not"
        " defined by type \"Filter\".",
        "Variable \"$r\" got invalid value \"NOPE\"; Value \"NOPE\" does not exist in \"Role\""
        " enum.",
        "Variable \"$id\" of non-null type \"ID!\" must not be null.",
    };
    assert_int_equal(json_array_size(errs), sizeof want / sizeof *want);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(errs, i),
                                                              "message")),
                            want[i]);
    run_free(&r);
}

static void test_variable_lists_ids_and_floats(void **state)
{
    run_t r = run(F(state)->schema, "query ($f: Filter, $id: ID!) { user(id: $id) { id } }",
                  "{\"f\": {\"names\": \"one\"}, \"id\": 42}", "{\"user\": {\"id\": 1}}");
    assert_int_equal(r.request_error, 0);
    assert_json(json_object_get(json_array_get(r.calls, 0), "args"), "{\"id\": \"42\"}");
    run_free(&r);
    /* a list variable element of the wrong type names its index */
    r = run(F(state)->schema, "query ($f: Filter) { count }", "{\"f\": {\"names\": [\"a\", 1]}}",
            NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(r.resp, "errors"), 0),
                                          "message")),
        "Variable \"$f\" got invalid value 1 at \"f.names[1]\"; String cannot represent a"
        " non string value: 1");
    run_free(&r);
}

/* ---- results, errors, propagation ------------------------------------------ */

static void test_result_coercion(void **state)
{
    run_t r = run(F(state)->schema,
                  "{ user(id: 1) { id age score active role email createdAt meta } }", NULL,
                  "{\"user\": {\"id\": 7, \"age\": \"12\", \"score\": 2, \"active\": 0,"
                  " \"role\": \"ADMIN\", \"email\": 1.5, \"createdAt\": \"2024-01-01\","
                  " \"meta\": {\"a\": [1]}}}");
    assert_json(r.resp, "{\"data\": {\"user\": {\"id\": \"7\", \"age\": 12, \"score\": 2.0,"
                        " \"active\": false, \"role\": \"ADMIN\", \"email\": \"1.5\","
                        " \"createdAt\": \"2024-01-01\", \"meta\": {\"a\": [1]}}}}");
    run_free(&r);

    r = run(F(state)->schema, "{ user(id: 1) { age role email } }", NULL,
            "{\"user\": {\"age\": \"x\", \"role\": \"KING\", \"email\": {\"a\": 1}}}");
    assert_json(r.resp,
                "{\"data\": {\"user\": {\"age\": null, \"role\": null, \"email\": null}},"
                " \"errors\": [{\"message\": \"Int cannot represent non-integer value: \\\"x\\\"\","
                " \"locations\": [{\"line\": 1, \"column\": 17}], \"path\": [\"user\", \"age\"]},"
                " {\"message\": \"Enum \\\"Role\\\" cannot represent value: \\\"KING\\\"\","
                " \"locations\": [{\"line\": 1, \"column\": 21}], \"path\": [\"user\", \"role\"]},"
                " {\"message\": \"String cannot represent value: { a: 1 }\","
                " \"locations\": [{\"line\": 1, \"column\": 26}], \"path\": [\"user\", \"email\"]}]}");
    run_free(&r);
}

static void test_non_null_propagation_paths(void **state)
{
    /* users: [User!], User.name: String! -> the item cannot be null, the
     * list can: users is null, the error at users.1.name */
    run_t r = run(F(state)->schema, "{ users { id name } count }", NULL,
                  "{\"users\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2}], \"count\": 3}");
    assert_json(r.resp,
                "{\"data\": {\"users\": null, \"count\": 3}, \"errors\": [{\"message\":"
                " \"Cannot return null for non-nullable field User.name.\", \"locations\":"
                " [{\"line\": 1, \"column\": 14}], \"path\": [\"users\", 1, \"name\"]}]}");
    run_free(&r);

    /* a non-null root field: data itself is null */
    r = run(F(state)->schema, "{ must count }", NULL, "{\"must\": null, \"count\": 1}");
    assert_json(r.resp, "{\"data\": null, \"errors\": [{\"message\": \"Cannot return null for"
                        " non-nullable field Query.must.\", \"locations\": [{\"line\": 1,"
                        " \"column\": 3}], \"path\": [\"must\"]}]}");
    run_free(&r);

    /* a nullable object swallows its non-null member's failure */
    r = run(F(state)->schema, "{ user(id: 1) { id } count }", NULL,
            "{\"user\": {\"id\": null}, \"count\": 1}");
    assert_json(r.resp, "{\"data\": {\"user\": null, \"count\": 1}, \"errors\": [{\"message\":"
                        " \"Cannot return null for non-nullable field User.id.\", \"locations\":"
                        " [{\"line\": 1, \"column\": 17}], \"path\": [\"user\", \"id\"]}]}");
    run_free(&r);
}

static void test_resolver_errors_and_partial_data(void **state)
{
    run_t r = run(F(state)->schema, "{ count user(id: 1) { id } must }", NULL,
                  "{\"count\": {\"$errors\": [{\"message\": \"boom\"}, \"plain\"]},"
                  " \"user\": {\"$errors\": [{\"message\": \"m\", \"path\": [\"elsewhere\"]}],"
                  " \"$value\": {\"id\": 5}}, \"must\": \"$fail\"}");
    assert_json(r.resp,
                "{\"data\": null, \"errors\": ["
                "{\"message\": \"boom\", \"locations\": [{\"line\": 1, \"column\": 3}], \"path\": [\"count\"]},"
                "{\"message\": \"plain\", \"locations\": [{\"line\": 1, \"column\": 3}], \"path\": [\"count\"]},"
                "{\"message\": \"m\", \"path\": [\"elsewhere\"], \"locations\": [{\"line\": 1, \"column\": 9}]},"
                "{\"message\": \"Internal error\", \"locations\": [{\"line\": 1, \"column\": 28}],"
                " \"path\": [\"must\"]}]}");
    run_free(&r);

    /* partial data: one field has no mock, the other is answered */
    r = run(F(state)->schema, "{ count user(id: 1) { id } }", NULL, "{\"user\": {\"id\": 5}}");
    assert_json(r.resp, "{\"data\": {\"count\": null, \"user\": {\"id\": \"5\"}}, \"errors\":"
                        " [{\"message\": \"No mock for field \\\"count\\\".\", \"locations\":"
                        " [{\"line\": 1, \"column\": 3}], \"path\": [\"count\"]}]}");
    run_free(&r);
}

static void test_mutation_order_and_missing_root(void **state)
{
    run_t r = run(F(state)->schema, "mutation { third second first }", NULL,
                  "{\"first\": 1, \"second\": 2, \"third\": 3}");
    assert_json(r.resp, "{\"data\": {\"third\": 3, \"second\": 2, \"first\": 1}}");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.calls, 0), "field")),
                        "third");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.calls, 2), "field")),
                        "first");
    run_free(&r);

    r = run(F(state)->schema, "subscription { x }", NULL, NULL);
    assert_json(r.resp, "{\"data\": null, \"errors\": [{\"message\": \"Schema is not configured"
                        " to execute subscription operation.\", \"locations\": [{\"line\": 1,"
                        " \"column\": 1}]}]}");
    run_free(&r);
}

static void test_lists_must_be_lists(void **state)
{
    run_t r = run(F(state)->schema, "{ users { id } }", NULL, "{\"users\": {\"id\": 1}}");
    assert_json(r.resp, "{\"data\": {\"users\": null}, \"errors\": [{\"message\": \"Expected"
                        " Iterable, but did not find one for field \\\"Query.users\\\".\","
                        " \"locations\": [{\"line\": 1, \"column\": 3}], \"path\": [\"users\"]}]}");
    run_free(&r);
}

/* ---- fake data ---------------------------------------------------------------- */

static void test_fake_deterministic_and_typed(void **state)
{
    gql_exec_opts_t opts = {.fake_missing = 1, .seed = 42, .fake_list_len = 3};
    const char *q = "{ users { id name email age score active role createdAt meta"
                    " friends { id } } search(text: \"a\") { __typename ... on Product { title } }"
                    " user(id: 1) { id name email } }";
    run_t a = run_opts(F(state)->schema, q, NULL, "{\"user\": {\"name\": \"Given\"}}", &opts);
    run_t b = run_opts(F(state)->schema, q, NULL, "{\"user\": {\"name\": \"Given\"}}", &opts);
    char *sa = json_dumps(a.resp, JSON_COMPACT), *sb = json_dumps(b.resp, JSON_COMPACT);
    assert_string_equal(sa, sb);
    assert_null(json_object_get(a.resp, "errors"));
    json_t *users = json_object_get(json_object_get(a.resp, "data"), "users");
    assert_int_equal(json_array_size(users), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *u = json_array_get(users, i);
        assert_int_equal(strlen(json_string_value(json_object_get(u, "id"))), 36);
        assert_true(json_is_string(json_object_get(u, "name")));
        assert_non_null(strchr(json_string_value(json_object_get(u, "email")), '@'));
        assert_true(json_is_integer(json_object_get(u, "age")));
        assert_true(json_is_real(json_object_get(u, "score")));
        assert_true(json_is_boolean(json_object_get(u, "active")));
        const char *role = json_string_value(json_object_get(u, "role"));
        assert_true(strcmp(role, "ADMIN") == 0 || strcmp(role, "USER") == 0 ||
                    strcmp(role, "GUEST") == 0);
        assert_int_equal(strlen(json_string_value(json_object_get(u, "createdAt"))), 20);
        assert_int_equal(json_array_size(json_object_get(u, "friends")), 3);
    }
    /* the ids differ between items */
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(users, 0), "id")),
                            json_string_value(json_object_get(json_array_get(users, 1), "id")));
    /* a union fakes its first member; given members are kept, missing
     * ones faked */
    json_t *s0 = json_array_get(json_object_get(json_object_get(a.resp, "data"), "search"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "__typename")), "User");
    json_t *user = json_object_get(json_object_get(a.resp, "data"), "user");
    assert_string_equal(json_string_value(json_object_get(user, "name")), "Given");
    assert_non_null(strchr(json_string_value(json_object_get(user, "email")), '@'));

    gql_exec_opts_t other = opts;
    other.seed = 43;
    run_t c = run_opts(F(state)->schema, q, NULL, "{\"user\": {\"name\": \"Given\"}}", &other);
    char *sc = json_dumps(c.resp, JSON_COMPACT);
    assert_string_not_equal(sa, sc);
    free(sa);
    free(sb);
    free(sc);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

/* ---- introspection ---------------------------------------------------------------- */

static void test_introspection_type(void **state)
{
    run_t r = run(F(state)->schema,
                  "{ t: __type(name: \"User\") { kind name fields { name type { kind name"
                  " ofType { kind name } } } interfaces { name } }"
                  " __type(name: \"Nope\") { name } }",
                  NULL, NULL);
    json_t *t = json_object_get(json_object_get(r.resp, "data"), "t");
    assert_string_equal(json_string_value(json_object_get(t, "kind")), "OBJECT");
    json_t *fields = json_object_get(t, "fields");
    assert_int_equal(json_array_size(fields), 10); /* "old" is deprecated */
    assert_json(json_array_get(fields, 0),
                "{\"name\": \"id\", \"type\": {\"kind\": \"NON_NULL\", \"name\": null,"
                " \"ofType\": {\"kind\": \"SCALAR\", \"name\": \"ID\"}}}");
    assert_json(json_object_get(t, "interfaces"), "[{\"name\": \"Node\"}]");
    assert_true(json_is_null(json_object_get(json_object_get(r.resp, "data"), "__type")));
    assert_null(json_object_get(r.resp, "errors"));
    run_free(&r);
}

static void test_introspection_defaults_deprecation_schema(void **state)
{
    run_t r = run(F(state)->schema,
                  "{ __type(name: \"Query\") { fields { name args { name defaultValue } } }"
                  " r: __type(name: \"Role\") { enumValues(includeDeprecated: true) { name"
                  " isDeprecated deprecationReason } }"
                  " d: __type(name: \"DateTime\") { specifiedByURL }"
                  " __schema { description queryType { name } mutationType { ... on __Type {"
                  " name } } subscriptionType { name } } }",
                  NULL, NULL);
    json_t *data = json_object_get(r.resp, "data");
    json_t *fields = json_object_get(json_object_get(data, "__type"), "fields");
    json_t *echo = NULL;
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")),
                   "echo") == 0)
            echo = json_array_get(fields, i);
    assert_non_null(echo);
    assert_json(json_object_get(echo, "args"),
                "[{\"name\": \"s\", \"defaultValue\": \"\\\"a\\\\\\\"b\\\"\"},"
                " {\"name\": \"l\", \"defaultValue\": \"[1, 2]\"},"
                " {\"name\": \"f\", \"defaultValue\": \"{role: ADMIN, nested: {n: 3}}\"},"
                " {\"name\": \"r\", \"defaultValue\": \"GUEST\"},"
                " {\"name\": \"x\", \"defaultValue\": \"1\"},"
                " {\"name\": \"i\", \"defaultValue\": \"7\"}]");
    assert_json(json_object_get(json_object_get(data, "r"), "enumValues"),
                "[{\"name\": \"ADMIN\", \"isDeprecated\": false, \"deprecationReason\": null},"
                " {\"name\": \"USER\", \"isDeprecated\": false, \"deprecationReason\": null},"
                " {\"name\": \"GUEST\", \"isDeprecated\": true, \"deprecationReason\": \"gone\"}]");
    assert_json(json_object_get(data, "d"),
                "{\"specifiedByURL\": \"https://tools.ietf.org/html/rfc3339\"}");
    assert_json(json_object_get(data, "__schema"),
                "{\"description\": \"The shop.\", \"queryType\": {\"name\": \"Query\"},"
                " \"mutationType\": {\"name\": \"Mutation\"}, \"subscriptionType\": null}");
    run_free(&r);
}

/* ---- bounds and hostile input ------------------------------------------------------ */

static void test_depth_and_size_bounds(void **state)
{
    gql_exec_opts_t opts = {.fake_missing = 1, .fake_list_len = 200, .max_values = 20000};
    /* 200^4 values: stopped by the size bound, not built; one error */
    run_t r = run_opts(F(state)->schema,
                       "{ users { friends { friends { friends { id } } } } count }", NULL,
                       NULL, &opts);
    json_t *errs = json_object_get(r.resp, "errors");
    assert_int_equal(json_array_size(errs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "message")),
                        "Answer exceeds the size limit (20000 values).");
    json_t *data = json_object_get(r.resp, "data");
    assert_true(json_is_null(json_object_get(data, "users")));
    assert_true(json_is_null(json_object_get(data, "count"))); /* past the cut */
    run_free(&r);

    /* the default bound holds too */
    gql_exec_opts_t dflt = {.fake_missing = 1, .fake_list_len = 1000};
    r = run_opts(F(state)->schema, "{ users { friends { id } } }", NULL, NULL, &dflt);
    errs = json_object_get(r.resp, "errors");
    assert_int_equal(json_array_size(errs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "message")),
                        "Answer exceeds the size limit (500000 values).");
    run_free(&r);

    gql_exec_opts_t shallow = {.fake_missing = 1, .max_depth = 3};
    r = run_opts(F(state)->schema, "{ users { friends { friends { friends { id } } } } }", NULL,
                 NULL, &shallow);
    errs = json_object_get(r.resp, "errors");
    assert_int_equal(json_array_size(errs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "message")),
                        "Answer exceeds the depth limit (3).");
    run_free(&r);
}

static void test_unvalidated_documents_do_not_crash(void **state)
{
    /* fragment cycles, unknown fields and fragments, wrong argument
     * types: validation refuses them, execution must still be safe */
    const char *q = "{ user(id: {a: 1}) { ...A } nope ...Missing count(x: 1) }\n"
                    "fragment A on User { id ...B friends { ...A } }\n"
                    "fragment B on User { ...A name }";
    run_t r = run(F(state)->schema, q, NULL,
                  "{\"user\": {\"id\": 1, \"name\": \"n\"}, \"count\": 1}");
    assert_json(r.resp, "{\"data\": {\"user\": null, \"count\": 1}, \"errors\": [{\"message\":"
                        " \"Argument \\\"id\\\" has invalid value {a: 1}.\", \"locations\":"
                        " [{\"line\": 1, \"column\": 3}], \"path\": [\"user\"]}]}");
    run_free(&r);
}

/* ---- one schema, many threads ------------------------------------------------------ */

#define N_THREADS 4

typedef struct job {
    const gql_schema_t *s;
    const char *query;
    char *out; /* the response, or NULL */
} job_t;

static int answer_users(void *ud, const gql_field_call_t *call, json_t **value,
                        json_t **errors)
{
    (void)ud;
    (void)errors;
    if (strcmp(call->field, "user") == 0) {
        *value = json_pack("{s:s,s:s}", "id", "u1", "name", "Ann");
        return GQL_RESOLVED;
    }
    return GQL_NO_ANSWER;
}

static void *run_job(void *arg)
{
    job_t *j = arg;
    gql_error_t err;
    for (int round = 0; round < 20; round++) {
        gql_doc_t *doc = gql_parse(j->query, strlen(j->query), NULL, &err);
        if (!doc)
            return NULL;
        const gql_definition_t *op = gql_doc_operation(doc, NULL, &err);
        gql_exec_opts_t opts = {.fake_missing = 1, .seed = 9};
        int re = 0;
        json_t *r = gql_execute(j->s, doc, op, NULL, &opts, answer_users, NULL, &re);
        char *text = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        gql_doc_free(doc);
        if (round == 0) {
            j->out = text;
        } else if (!text || !j->out || strcmp(text, j->out) != 0) {
            free(text);
            free(j->out);
            j->out = NULL;
            return NULL;
        } else {
            free(text);
        }
    }
    return NULL;
}

/* A built schema is read by many threads at once: introspection, fake
 * data and shaping on one schema from several threads give every thread
 * the same answers as one thread alone. */
static void test_many_threads_one_schema(void **state)
{
    const char *q = "{ __schema { types { name fields { name type { name ofType { name } } } } }"
                    " user(id: 1) { id name email friends { id role } } users { id } }";
    job_t alone = {F(state)->schema, q, NULL};
    run_job(&alone);
    assert_non_null(alone.out);
    job_t jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (job_t){F(state)->schema, q, NULL};
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        assert_non_null(jobs[i].out);
        assert_string_equal(jobs[i].out, alone.out);
        free(jobs[i].out);
    }
    free(alone.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shaping_order_and_dropping),
        cmocka_unit_test(test_aliases_and_merging),
        cmocka_unit_test(test_fragments_on_union_and_interface),
        cmocka_unit_test(test_typename_everywhere),
        cmocka_unit_test(test_skip_include),
        cmocka_unit_test(test_without_schema_shaping_only),
        cmocka_unit_test(test_arguments_coerced_with_defaults),
        cmocka_unit_test(test_variable_not_provided),
        cmocka_unit_test(test_variable_invalid_values),
        cmocka_unit_test(test_variable_lists_ids_and_floats),
        cmocka_unit_test(test_result_coercion),
        cmocka_unit_test(test_non_null_propagation_paths),
        cmocka_unit_test(test_resolver_errors_and_partial_data),
        cmocka_unit_test(test_mutation_order_and_missing_root),
        cmocka_unit_test(test_lists_must_be_lists),
        cmocka_unit_test(test_fake_deterministic_and_typed),
        cmocka_unit_test(test_introspection_type),
        cmocka_unit_test(test_introspection_defaults_deprecation_schema),
        cmocka_unit_test(test_depth_and_size_bounds),
        cmocka_unit_test(test_unvalidated_documents_do_not_crash),
        cmocka_unit_test(test_many_threads_one_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
