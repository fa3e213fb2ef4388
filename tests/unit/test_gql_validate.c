/* dp_gql validation (gql_validate): every rule of graphql-js 16's
 * specifiedRules with at least one valid and one invalid document, the
 * exact messages and locations asserted; the error limit; hostile
 * documents that must end with "Validation aborted." instead of spinning
 * or overflowing the stack.
 *
 * The expected errors of the rule table are what graphql-js 16.15's
 * validate() answers for the same schema and documents (the test schema
 * is graphql-js's own validation harness schema, trimmed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gql.h"

static const char SDL[] =
    "schema {\n"
    "  query: Query\n"
    "  mutation: Mutation\n"
    "  subscription: Subscription\n"
    "}\n"
    "\n"
    "interface Pet {\n"
    "  name(surname: Boolean): String\n"
    "}\n"
    "\n"
    "type Dog implements Pet {\n"
    "  name(surname: Boolean): String\n"
    "  nickname: String\n"
    "  barks: Boolean\n"
    "  barkVolume: Int\n"
    "  doesKnowCommand(dogCommand: DogCommand): Boolean\n"
    "  isHouseTrained(atOtherHomes: Boolean = true): Boolean\n"
    "  owner: Human\n"
    "}\n"
    "\n"
    "type Cat implements Pet {\n"
    "  name(surname: Boolean): String\n"
    "  meows: Boolean\n"
    "  meowVolume: Int\n"
    "  furColor: FurColor\n"
    "}\n"
    "\n"
    "union CatOrDog = Cat | Dog\n"
    "\n"
    "type Human {\n"
    "  name: String\n"
    "  pets: [Pet]\n"
    "  relatives: [Human]\n"
    "  iq: Int\n"
    "}\n"
    "\n"
    "enum DogCommand {\n"
    "  SIT\n"
    "  HEEL\n"
    "  DOWN\n"
    "}\n"
    "\n"
    "enum FurColor {\n"
    "  BROWN\n"
    "  BLACK\n"
    "  TAN\n"
    "  SPOTTED\n"
    "}\n"
    "\n"
    "input ComplexInput {\n"
    "  requiredField: Boolean!\n"
    "  nonNullField: Boolean! = false\n"
    "  intField: Int\n"
    "  stringField: String\n"
    "  stringListField: [String]\n"
    "}\n"
    "\n"
    "input OneOfInput @oneOf {\n"
    "  a: Int\n"
    "  b: String\n"
    "}\n"
    "\n"
    "type ComplicatedArgs {\n"
    "  intArgField(intArg: Int): String\n"
    "  nonNullIntArgField(nonNullIntArg: Int!): String\n"
    "  stringArgField(stringArg: String): String\n"
    "  booleanArgField(booleanArg: Boolean): String\n"
    "  enumArgField(enumArg: FurColor): String\n"
    "  floatArgField(floatArg: Float): String\n"
    "  idArgField(idArg: ID): String\n"
    "  stringListArgField(stringListArg: [String]): String\n"
    "  stringListNonNullArgField(stringListNonNullArg: [String!]): String\n"
    "  complexArgField(complexArg: ComplexInput): String\n"
    "  multipleReqs(req1: Int!, req2: Int!): String\n"
    "  multipleOpts(opt1: Int = 0, opt2: Int = 0): String\n"
    "  oneOfArgField(oneOfArg: OneOfInput): String\n"
    "}\n"
    "\n"
    "type Query {\n"
    "  dog: Dog\n"
    "  cat: Cat\n"
    "  pet: Pet\n"
    "  catOrDog: CatOrDog\n"
    "  human(id: ID): Human\n"
    "  complicatedArgs: ComplicatedArgs\n"
    "}\n"
    "\n"
    "type Mutation {\n"
    "  mutateDog: Dog\n"
    "}\n"
    "\n"
    "type Subscription {\n"
    "  newDog: Dog\n"
    "  newCat: Cat\n"
    "}\n"
    "\n"
    "directive @onField on FIELD\n"
    "directive @rep repeatable on FIELD | QUERY\n";

typedef struct rule_case {
    const char *rule, *name, *query, *expected;
} rule_case_t;

static const rule_case_t CASES[] = {
    {"ExecutableDefinitions", "valid",
     "query Q { dog { ...F } } fragment F on Dog { name }",
     "[]"},
    {"ExecutableDefinitions", "type",
     "query Q { dog { name } }\ntype Cow { name: String }\nextend type Dog { color: String }",
     "[{\"message\":\"The \\\"Cow\\\" definition is not executable.\",\"locations\":[{\"line\":2,\"column\":1}]},{\"message\":\"The \\\"Dog\\\" definition is not executable.\",\"locations\":[{\"line\":3,\"column\":1}]}]"},
    {"ExecutableDefinitions", "schema",
     "{ dog { name } }\nschema { query: Query }",
     "[{\"message\":\"The schema definition is not executable.\",\"locations\":[{\"line\":2,\"column\":1}]}]"},
    {"UniqueOperationNames", "valid",
     "query A { dog { name } }\nquery B { dog { name } }",
     "[]"},
    {"UniqueOperationNames", "dup",
     "query A { dog { name } }\nmutation A { mutateDog { name } }",
     "[{\"message\":\"There can be only one operation named \\\"A\\\".\",\"locations\":[{\"line\":1,\"column\":7},{\"line\":2,\"column\":10}]}]"},
    {"LoneAnonymousOperation", "valid",
     "{ dog { name } }",
     "[]"},
    {"LoneAnonymousOperation", "two",
     "{ dog { name } }\nquery B { cat { name } }",
     "[{\"message\":\"This anonymous operation must be the only defined operation.\",\"locations\":[{\"line\":1,\"column\":1}]}]"},
    {"SingleFieldSubscriptions", "valid",
     "subscription S { newDog { name } }",
     "[]"},
    {"SingleFieldSubscriptions", "two",
     "subscription S { newDog { name } newCat { name } }",
     "[{\"message\":\"Subscription \\\"S\\\" must select only one top level field.\",\"locations\":[{\"line\":1,\"column\":34}]}]"},
    {"SingleFieldSubscriptions", "intro",
     "subscription { __typename }",
     "[{\"message\":\"Anonymous Subscription must not select an introspection top level field.\",\"locations\":[{\"line\":1,\"column\":16}]}]"},
    {"KnownTypeNames", "valid",
     "query Q($a: Int, $b: FurColor) { complicatedArgs { intArgField(intArg: $a) enumArgField(enumArg: $b) } dog { ... on Pet { name } } }",
     "[]"},
    {"KnownTypeNames", "unknown",
     "query Q($a: Itn) { dog { ... on Dgo { name } } }",
     "[{\"message\":\"Unknown type \\\"Itn\\\". Did you mean \\\"Int\\\" or \\\"ID\\\"?\",\"locations\":[{\"line\":1,\"column\":13}]},{\"message\":\"Unknown type \\\"Dgo\\\". Did you mean \\\"Dog\\\"?\",\"locations\":[{\"line\":1,\"column\":33}]},{\"message\":\"Variable \\\"$a\\\" is never used in operation \\\"Q\\\".\",\"locations\":[{\"line\":1,\"column\":9}]}]"},
    {"FragmentsOnCompositeTypes", "valid",
     "{ dog { ...F ... on Pet { name } } } fragment F on CatOrDog { __typename }",
     "[]"},
    {"FragmentsOnCompositeTypes", "scalar",
     "{ dog { ...F ... on Boolean { name } } } fragment F on FurColor { x }",
     "[{\"message\":\"Fragment cannot condition on non composite type \\\"Boolean\\\".\",\"locations\":[{\"line\":1,\"column\":21}]},{\"message\":\"Fragment \\\"F\\\" cannot condition on non composite type \\\"FurColor\\\".\",\"locations\":[{\"line\":1,\"column\":56}]}]"},
    {"VariablesAreInputTypes", "valid",
     "query Q($a: ComplexInput, $b: [String!]!) { complicatedArgs { complexArgField(complexArg: $a) stringListArgField(stringListArg: $b) } }",
     "[]"},
    {"VariablesAreInputTypes", "output",
     "query Q($a: Dog, $b: [Pet!]) { dog { name } }",
     "[{\"message\":\"Variable \\\"$a\\\" cannot be non-input type \\\"Dog\\\".\",\"locations\":[{\"line\":1,\"column\":13}]},{\"message\":\"Variable \\\"$b\\\" cannot be non-input type \\\"[Pet!]\\\".\",\"locations\":[{\"line\":1,\"column\":22}]},{\"message\":\"Variable \\\"$a\\\" is never used in operation \\\"Q\\\".\",\"locations\":[{\"line\":1,\"column\":9}]},{\"message\":\"Variable \\\"$b\\\" is never used in operation \\\"Q\\\".\",\"locations\":[{\"line\":1,\"column\":18}]}]"},
    {"ScalarLeafs", "valid",
     "{ dog { name owner { iq } } }",
     "[]"},
    {"ScalarLeafs", "leaf-sel",
     "{ dog { barks { x } } }",
     "[{\"message\":\"Field \\\"barks\\\" must not have a selection since type \\\"Boolean\\\" has no subfields.\",\"locations\":[{\"line\":1,\"column\":15}]}]"},
    {"ScalarLeafs", "no-sel",
     "{ human }",
     "[{\"message\":\"Field \\\"human\\\" of type \\\"Human\\\" must have a selection of subfields. Did you mean \\\"human { ... }\\\"?\",\"locations\":[{\"line\":1,\"column\":3}]}]"},
    {"FieldsOnCorrectType", "valid",
     "{ dog { __typename name } pet { name } catOrDog { __typename } }",
     "[]"},
    {"FieldsOnCorrectType", "typo",
     "{ dog { nmae } }",
     "[{\"message\":\"Cannot query field \\\"nmae\\\" on type \\\"Dog\\\". Did you mean \\\"name\\\"?\",\"locations\":[{\"line\":1,\"column\":9}]}]"},
    {"FieldsOnCorrectType", "interface",
     "{ pet { meows } }",
     "[{\"message\":\"Cannot query field \\\"meows\\\" on type \\\"Pet\\\". Did you mean to use an inline fragment on \\\"Cat\\\"?\",\"locations\":[{\"line\":1,\"column\":9}]}]"},
    {"FieldsOnCorrectType", "union",
     "{ catOrDog { name } }",
     "[{\"message\":\"Cannot query field \\\"name\\\" on type \\\"CatOrDog\\\". Did you mean to use an inline fragment on \\\"Pet\\\", \\\"Cat\\\", or \\\"Dog\\\"?\",\"locations\":[{\"line\":1,\"column\":14}]}]"},
    {"UniqueFragmentNames", "valid",
     "{ dog { ...A ...B } } fragment A on Dog { name } fragment B on Dog { name }",
     "[]"},
    {"UniqueFragmentNames", "dup",
     "{ dog { ...A } } fragment A on Dog { name } fragment A on Dog { barks }",
     "[{\"message\":\"There can be only one fragment named \\\"A\\\".\",\"locations\":[{\"line\":1,\"column\":27},{\"line\":1,\"column\":54}]}]"},
    {"KnownFragmentNames", "valid",
     "{ dog { ...A } } fragment A on Dog { name }",
     "[]"},
    {"KnownFragmentNames", "unknown",
     "{ dog { ...Nope } }",
     "[{\"message\":\"Unknown fragment \\\"Nope\\\".\",\"locations\":[{\"line\":1,\"column\":12}]}]"},
    {"NoUnusedFragments", "valid",
     "{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { name }",
     "[]"},
    {"NoUnusedFragments", "unused",
     "{ dog { name } } fragment A on Dog { name }",
     "[{\"message\":\"Fragment \\\"A\\\" is never used.\",\"locations\":[{\"line\":1,\"column\":18}]}]"},
    {"PossibleFragmentSpreads", "valid",
     "{ pet { ... on Dog { barks } ...CD } } fragment CD on CatOrDog { __typename }",
     "[]"},
    {"PossibleFragmentSpreads", "impossible",
     "{ dog { ... on Cat { meows } ...H } } fragment H on Human { iq }",
     "[{\"message\":\"Fragment cannot be spread here as objects of type \\\"Dog\\\" can never be of type \\\"Cat\\\".\",\"locations\":[{\"line\":1,\"column\":9}]},{\"message\":\"Fragment \\\"H\\\" cannot be spread here as objects of type \\\"Dog\\\" can never be of type \\\"Human\\\".\",\"locations\":[{\"line\":1,\"column\":30}]}]"},
    {"NoFragmentCycles", "valid",
     "{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { name }",
     "[]"},
    {"NoFragmentCycles", "cycle",
     "{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { ...C } fragment C on Dog { ...A }",
     "[{\"message\":\"Cannot spread fragment \\\"A\\\" within itself via \\\"B\\\", \\\"C\\\".\",\"locations\":[{\"line\":1,\"column\":38},{\"line\":1,\"column\":65},{\"line\":1,\"column\":92}]}]"},
    {"UniqueVariableNames", "valid",
     "query Q($a: Int, $b: Int) { complicatedArgs { a: intArgField(intArg: $a) b: intArgField(intArg: $b) } }",
     "[]"},
    {"UniqueVariableNames", "dup",
     "query Q($a: Int, $a: Int) { complicatedArgs { intArgField(intArg: $a) } }",
     "[{\"message\":\"There can be only one variable named \\\"$a\\\".\",\"locations\":[{\"line\":1,\"column\":10},{\"line\":1,\"column\":19}]}]"},
    {"NoUndefinedVariables", "valid",
     "query Q($a: Int) { complicatedArgs { ...F } } fragment F on ComplicatedArgs { intArgField(intArg: $a) }",
     "[]"},
    {"NoUndefinedVariables", "undefined",
     "query Q { complicatedArgs { intArgField(intArg: $a) } }",
     "[{\"message\":\"Variable \\\"$a\\\" is not defined by operation \\\"Q\\\".\",\"locations\":[{\"line\":1,\"column\":49},{\"line\":1,\"column\":1}]}]"},
    {"NoUnusedVariables", "valid",
     "query Q($a: Boolean!) { dog @include(if: $a) { name } }",
     "[]"},
    {"NoUnusedVariables", "unused",
     "query Q($a: Int, $b: Int) { complicatedArgs { intArgField(intArg: $a) } }",
     "[{\"message\":\"Variable \\\"$b\\\" is never used in operation \\\"Q\\\".\",\"locations\":[{\"line\":1,\"column\":18}]}]"},
    {"KnownDirectives", "valid",
     "query Q @rep { dog @onField { name @include(if: true) } }",
     "[]"},
    {"KnownDirectives", "unknown",
     "{ dog @nope { name } }",
     "[{\"message\":\"Unknown directive \\\"@nope\\\".\",\"locations\":[{\"line\":1,\"column\":7}]}]"},
    {"KnownDirectives", "misplaced",
     "query Q @onField { dog { ...F @onField } } fragment F on Dog { name }",
     "[{\"message\":\"Directive \\\"@onField\\\" may not be used on QUERY.\",\"locations\":[{\"line\":1,\"column\":9}]},{\"message\":\"Directive \\\"@onField\\\" may not be used on FRAGMENT_SPREAD.\",\"locations\":[{\"line\":1,\"column\":31}]}]"},
    {"UniqueDirectivesPerLocation", "valid",
     "{ dog @rep @rep { name @onField } }",
     "[]"},
    {"UniqueDirectivesPerLocation", "dup",
     "{ dog @onField @onField { name } }",
     "[{\"message\":\"The directive \\\"@onField\\\" can only be used once at this location.\",\"locations\":[{\"line\":1,\"column\":7},{\"line\":1,\"column\":16}]}]"},
    {"KnownArgumentNames", "valid",
     "{ dog { doesKnowCommand(dogCommand: SIT) name @include(if: true) } }",
     "[]"},
    {"KnownArgumentNames", "field",
     "{ dog { doesKnowCommand(command: SIT) } }",
     "[{\"message\":\"Unknown argument \\\"command\\\" on field \\\"Dog.doesKnowCommand\\\". Did you mean \\\"dogCommand\\\"?\",\"locations\":[{\"line\":1,\"column\":25}]}]"},
    {"KnownArgumentNames", "directive",
     "{ dog { name @skip(iff: true) } }",
     "[{\"message\":\"Unknown argument \\\"iff\\\" on directive \\\"@skip\\\". Did you mean \\\"if\\\"?\",\"locations\":[{\"line\":1,\"column\":20}]},{\"message\":\"Directive \\\"@skip\\\" argument \\\"if\\\" of type \\\"Boolean!\\\" is required, but it was not provided.\",\"locations\":[{\"line\":1,\"column\":14}]}]"},
    {"UniqueArgumentNames", "valid",
     "{ complicatedArgs { multipleOpts(opt1: 1, opt2: 2) } }",
     "[]"},
    {"UniqueArgumentNames", "dup",
     "{ complicatedArgs { multipleOpts(opt1: 1, opt1: 2) } }",
     "[{\"message\":\"There can be only one argument named \\\"opt1\\\".\",\"locations\":[{\"line\":1,\"column\":34},{\"line\":1,\"column\":43}]}]"},
    {"ValuesOfCorrectType", "valid",
     "{ complicatedArgs { intArgField(intArg: 2) floatArgField(floatArg: 1) idArgField(idArg: 1) enumArgField(enumArg: TAN) stringListArgField(stringListArg: \"one\") complexArgField(complexArg: {requiredField: true}) } }",
     "[]"},
    {"ValuesOfCorrectType", "int",
     "{ complicatedArgs { intArgField(intArg: \"3\") } }",
     "[{\"message\":\"Int cannot represent non-integer value: \\\"3\\\"\",\"locations\":[{\"line\":1,\"column\":41}]}]"},
    {"ValuesOfCorrectType", "range",
     "{ complicatedArgs { intArgField(intArg: 3000000000) } }",
     "[{\"message\":\"Int cannot represent non 32-bit signed integer value: 3000000000\",\"locations\":[{\"line\":1,\"column\":41}]}]"},
    {"ValuesOfCorrectType", "enum",
     "{ complicatedArgs { enumArgField(enumArg: tan) } }",
     "[{\"message\":\"Value \\\"tan\\\" does not exist in \\\"FurColor\\\" enum. Did you mean the enum value \\\"TAN\\\"?\",\"locations\":[{\"line\":1,\"column\":43}]}]"},
    {"ValuesOfCorrectType", "object",
     "{ complicatedArgs { complexArgField(complexArg: {intField: 4, unknownField: 1}) } }",
     "[{\"message\":\"Field \\\"ComplexInput.requiredField\\\" of required type \\\"Boolean!\\\" was not provided.\",\"locations\":[{\"line\":1,\"column\":49}]},{\"message\":\"Field \\\"unknownField\\\" is not defined by type \\\"ComplexInput\\\".\",\"locations\":[{\"line\":1,\"column\":63}]}]"},
    {"ValuesOfCorrectType", "null",
     "{ complicatedArgs { nonNullIntArgField(nonNullIntArg: null) stringListNonNullArgField(stringListNonNullArg: [\"a\", null]) } }",
     "[{\"message\":\"Expected value of type \\\"Int!\\\", found null.\",\"locations\":[{\"line\":1,\"column\":55}]},{\"message\":\"Expected value of type \\\"String!\\\", found null.\",\"locations\":[{\"line\":1,\"column\":115}]}]"},
    {"ValuesOfCorrectType", "list-for-scalar",
     "{ complicatedArgs { stringArgField(stringArg: [\"a\"]) booleanArgField(booleanArg: 1) } }",
     "[{\"message\":\"String cannot represent a non string value: [\\\"a\\\"]\",\"locations\":[{\"line\":1,\"column\":47}]},{\"message\":\"Boolean cannot represent a non boolean value: 1\",\"locations\":[{\"line\":1,\"column\":82}]}]"},
    {"ValuesOfCorrectType", "oneof-valid",
     "query Q($b: String!) { complicatedArgs { x: oneOfArgField(oneOfArg: {a: 1}) y: oneOfArgField(oneOfArg: {b: $b}) } }",
     "[]"},
    {"ValuesOfCorrectType", "oneof",
     "{ complicatedArgs { x: oneOfArgField(oneOfArg: {a: 1, b: \"x\"}) y: oneOfArgField(oneOfArg: {a: null}) z: oneOfArgField(oneOfArg: {}) } }",
     "[{\"message\":\"OneOf Input Object \\\"OneOfInput\\\" must specify exactly one key.\",\"locations\":[{\"line\":1,\"column\":48}]},{\"message\":\"Field \\\"OneOfInput.a\\\" must be non-null.\",\"locations\":[{\"line\":1,\"column\":91}]},{\"message\":\"OneOf Input Object \\\"OneOfInput\\\" must specify exactly one key.\",\"locations\":[{\"line\":1,\"column\":129}]}]"},
    {"VariablesInAllowedPosition", "oneof",
     "query Q($b: String) { complicatedArgs { oneOfArgField(oneOfArg: {b: $b}) } }",
     "[{\"message\":\"Variable \\\"$b\\\" is of type \\\"String\\\" but must be non-nullable to be used for OneOf Input Object \\\"OneOfInput\\\".\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":69}]}]"},
    {"ProvidedRequiredArguments", "valid",
     "{ complicatedArgs { multipleReqs(req1: 1, req2: 2) multipleOpts } }",
     "[]"},
    {"ProvidedRequiredArguments", "missing",
     "{ complicatedArgs { multipleReqs(req2: 2) } dog { name @include } }",
     "[{\"message\":\"Field \\\"multipleReqs\\\" argument \\\"req1\\\" of type \\\"Int!\\\" is required, but it was not provided.\",\"locations\":[{\"line\":1,\"column\":21}]},{\"message\":\"Directive \\\"@include\\\" argument \\\"if\\\" of type \\\"Boolean!\\\" is required, but it was not provided.\",\"locations\":[{\"line\":1,\"column\":56}]}]"},
    {"VariablesInAllowedPosition", "valid",
     "query Q($a: Int!, $b: Int = 1) { complicatedArgs { nonNullIntArgField(nonNullIntArg: $a) x: nonNullIntArgField(nonNullIntArg: $b) } }",
     "[]"},
    {"VariablesInAllowedPosition", "nullable",
     "query Q($a: Int) { complicatedArgs { nonNullIntArgField(nonNullIntArg: $a) } }",
     "[{\"message\":\"Variable \\\"$a\\\" of type \\\"Int\\\" used in position expecting type \\\"Int!\\\".\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":72}]}]"},
    {"VariablesInAllowedPosition", "list",
     "query Q($a: [String]) { complicatedArgs { stringListNonNullArgField(stringListNonNullArg: $a) } }",
     "[{\"message\":\"Variable \\\"$a\\\" of type \\\"[String]\\\" used in position expecting type \\\"[String!]\\\".\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":91}]}]"},
    {"OverlappingFieldsCanBeMerged", "valid",
     "{ dog { name name n: nickname } catOrDog { ... on Dog { v: barks } ... on Cat { v: meows } } }",
     "[]"},
    {"OverlappingFieldsCanBeMerged", "fields",
     "{ dog { n: name n: nickname } }",
     "[{\"message\":\"Fields \\\"n\\\" conflict because \\\"name\\\" and \\\"nickname\\\" are different fields. Use different aliases on the fields to fetch both if this was intentional.\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":17}]}]"},
    {"OverlappingFieldsCanBeMerged", "args",
     "{ dog { doesKnowCommand(dogCommand: SIT) doesKnowCommand(dogCommand: HEEL) } }",
     "[{\"message\":\"Fields \\\"doesKnowCommand\\\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":42}]}]"},
    {"OverlappingFieldsCanBeMerged", "types",
     "{ catOrDog { ... on Dog { v: barkVolume } ... on Cat { v: meows } } }",
     "[{\"message\":\"Fields \\\"v\\\" conflict because they return conflicting types \\\"Int\\\" and \\\"Boolean\\\". Use different aliases on the fields to fetch both if this was intentional.\",\"locations\":[{\"line\":1,\"column\":27},{\"line\":1,\"column\":56}]}]"},
    {"OverlappingFieldsCanBeMerged", "sub",
     "{ dog { owner { n: name } owner { n: iq } } }",
     "[{\"message\":\"Fields \\\"owner\\\" conflict because subfields \\\"n\\\" conflict because \\\"name\\\" and \\\"iq\\\" are different fields. Use different aliases on the fields to fetch both if this was intentional.\",\"locations\":[{\"line\":1,\"column\":9},{\"line\":1,\"column\":17},{\"line\":1,\"column\":27},{\"line\":1,\"column\":35}]}]"},
    {"UniqueInputFieldNames", "valid",
     "{ complicatedArgs { complexArgField(complexArg: {requiredField: true, intField: 1}) } }",
     "[]"},
    {"UniqueInputFieldNames", "dup",
     "{ complicatedArgs { complexArgField(complexArg: {requiredField: true, requiredField: false}) } }",
     "[{\"message\":\"There can be only one input field named \\\"requiredField\\\".\",\"locations\":[{\"line\":1,\"column\":50},{\"line\":1,\"column\":71}]}]"},
    {"MaxIntrospectionDepth", "valid",
     "{ __schema { types { fields { type { name } } } } }",
     "[]"},
    {"MaxIntrospectionDepth", "deep",
     "{ __type(name: \"Dog\") { fields { type { fields { type { fields { name } } } } } } }",
     "[{\"message\":\"Maximum introspection depth exceeded\",\"locations\":[{\"line\":1,\"column\":3}]}]"},
};

static gql_schema_t *schema;

static int setup(void **st)
{
    (void)st;
    gql_error_t err;
    gql_source_t src = {"test.graphql", SDL, sizeof(SDL) - 1};
    schema = gql_schema_build(&src, 1, NULL, &err);
    if (!schema)
        fail_msg("schema: %s (%u:%u)", err.message, err.loc.line,
                 err.loc.column);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    gql_schema_free(schema);
    return 0;
}

/* Validates src; returns the errors (a new array) and how many the call
 * said it appended. */
static json_t *validate_src(const char *src, size_t len, size_t max_errors,
                            size_t *count)
{
    gql_error_t err;
    gql_doc_t *doc = gql_parse(src, len, NULL, &err);
    if (!doc)
        fail_msg("parse: %s (%u:%u)\n%.200s", err.message, err.loc.line,
                 err.loc.column, src);
    json_t *errors = json_array();
    size_t n = gql_validate(schema, doc, errors, max_errors);
    gql_doc_free(doc);
    if (count)
        *count = n;
    return errors;
}

static const char *last_message(const json_t *errors)
{
    json_t *e = json_array_get(errors, json_array_size(errors) - 1);
    return json_string_value(json_object_get(e, "message"));
}

static void test_rules(void **st)
{
    (void)st;
    int failed = 0;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const rule_case_t *c = &CASES[i];
        size_t n;
        json_t *got = validate_src(c->query, strlen(c->query), 0, &n);
        json_error_t jerr;
        json_t *want = json_loads(c->expected, 0, &jerr);
        assert_non_null(want);
        if (!json_equal(got, want) || n != json_array_size(want)) {
            char *g = json_dumps(got, JSON_COMPACT);
            print_error("%s/%s: %s\n  got  %s\n  want %s\n", c->rule, c->name,
                        c->query, g, c->expected);
            free(g);
            failed++;
        }
        json_decref(got);
        json_decref(want);
    }
    assert_int_equal(failed, 0);
}

/* Every rule has a valid and an invalid case in the table. */
static void test_table_covers_every_rule(void **st)
{
    (void)st;
    static const char *const rules[] = {
        "ExecutableDefinitions", "UniqueOperationNames",
        "LoneAnonymousOperation", "SingleFieldSubscriptions",
        "KnownTypeNames", "FragmentsOnCompositeTypes",
        "VariablesAreInputTypes", "ScalarLeafs", "FieldsOnCorrectType",
        "UniqueFragmentNames", "KnownFragmentNames", "NoUnusedFragments",
        "PossibleFragmentSpreads", "NoFragmentCycles", "UniqueVariableNames",
        "NoUndefinedVariables", "NoUnusedVariables", "KnownDirectives",
        "UniqueDirectivesPerLocation", "KnownArgumentNames",
        "UniqueArgumentNames", "ValuesOfCorrectType",
        "ProvidedRequiredArguments", "VariablesInAllowedPosition",
        "OverlappingFieldsCanBeMerged", "UniqueInputFieldNames",
        "MaxIntrospectionDepth"};
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        int valid = 0, invalid = 0;
        for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
            if (strcmp(CASES[i].rule, rules[r]) != 0)
                continue;
            if (strcmp(CASES[i].expected, "[]") == 0)
                valid++;
            else
                invalid++;
        }
        if (!valid || !invalid)
            fail_msg("%s: %d valid, %d invalid cases", rules[r], valid,
                     invalid);
    }
}

/* A growable source buffer for generated documents. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(tmp));
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, tmp, (size_t)n + 1);
    b->len += (size_t)n;
}

/* graphql-js's maxErrors: 100 by default, then one "Too many" and stop. */
static void test_error_limit(void **st)
{
    (void)st;
    sbuf_t b = {0};
    sb_add(&b, "{ dog {");
    for (int i = 0; i < 150; i++)
        sb_add(&b, " f%d", i);
    sb_add(&b, " } }");
    size_t n;
    json_t *errors = validate_src(b.p, b.len, 0, &n);
    assert_int_equal(json_array_size(errors), 101);
    assert_int_equal(n, 101);
    assert_string_equal(last_message(errors),
                        "Too many validation errors, error limit reached. "
                        "Validation aborted.");
    assert_null(json_object_get(json_array_get(errors, 100), "locations"));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(errors, 99),
                                          "message")),
        "Cannot query field \"f99\" on type \"Dog\".");
    json_decref(errors);

    errors = validate_src(b.p, b.len, 3, &n);
    assert_int_equal(json_array_size(errors), 4);
    assert_int_equal(n, 4);
    assert_string_equal(last_message(errors),
                        "Too many validation errors, error limit reached. "
                        "Validation aborted.");
    json_decref(errors);
    free(b.p);
}

/* Errors are appended to what the array holds; the count is of the new. */
static void test_appends(void **st)
{
    (void)st;
    const char *q = "{ dog { nope } }";
    gql_error_t err;
    gql_doc_t *doc = gql_parse(q, strlen(q), NULL, &err);
    assert_non_null(doc);
    json_t *errors = json_pack("[{s:s}]", "message", "earlier");
    assert_int_equal(gql_validate(schema, doc, errors, 0), 1);
    assert_int_equal(json_array_size(errors), 2);
    assert_int_equal(gql_validate(NULL, doc, errors, 0), 0);
    assert_int_equal(gql_validate(schema, NULL, errors, 0), 0);
    assert_int_equal(gql_validate(schema, doc, NULL, 0), 0);
    gql_doc_free(doc);
    json_decref(errors);
}

/* The same response key over and over, with sub-selections: comparing
 * every pair at every level grows as the square of the width per level;
 * the overlap budget ends it (graphql-js 16.15 answers the same). */
static void test_hostile_overlap_is_bounded(void **st)
{
    (void)st;
    sbuf_t b = {0};
    sb_add(&b, "{ human {");
    for (int w = 0; w < 40; w++) {
        sb_add(&b, " relatives {");
        for (int v = 0; v < 40; v++)
            sb_add(&b, " relatives { iq }");
        sb_add(&b, " }");
    }
    sb_add(&b, " } }");
    size_t n;
    json_t *errors = validate_src(b.p, b.len, 0, &n);
    assert_int_equal(json_array_size(errors), 1);
    assert_string_equal(last_message(errors), "Validation aborted.");
    json_decref(errors);
    free(b.p);
}

/* Fragments spreading pairs of fragments: the fragment-pair cache keeps
 * this linear, and the answer is exact (no conflict). */
static void test_fragment_fanout_is_cached(void **st)
{
    (void)st;
    sbuf_t b = {0};
    sb_add(&b, "{ dog { ...F0 } }\n");
    const int n_frags = 60;
    for (int i = 0; i < n_frags; i++) {
        if (i + 2 < n_frags)
            sb_add(&b, "fragment F%d on Dog { name ...F%d ...F%d }\n", i,
                   i + 1, i + 2);
        else
            sb_add(&b, "fragment F%d on Dog { name }\n", i);
    }
    size_t n;
    json_t *errors = validate_src(b.p, b.len, 0, &n);
    if (json_array_size(errors)) {
        char *s = json_dumps(errors, 0);
        fail_msg("%s", s);
    }
    json_decref(errors);
    free(b.p);
}

/* A long chain of fragments is valid: cycle detection does not recurse
 * on the C stack (graphql-js accepts both). Past the recursion cap, a
 * rule that does recurse through fragments (here the introspection
 * depth check) aborts the document instead of overflowing the stack. */
static void test_fragment_chain(void **st)
{
    (void)st;
    for (int round = 0; round < 3; round++) {
        const int len = round ? 3000 : 300;
        sbuf_t b = {0};
        if (round == 2)
            sb_add(&b, "{ __schema { types { ...F0 } } }\n");
        else
            sb_add(&b, "{ dog { ...F0 } }\n");
        const char *on = round == 2 ? "__Type" : "Dog";
        for (int i = 0; i < len; i++)
            sb_add(&b, "fragment F%d on %s { ...F%d }\n", i, on, i + 1);
        sb_add(&b, "fragment F%d on %s { name }\n", len, on);
        gql_limits_t lim = {.max_tokens = 100000};
        gql_error_t err;
        gql_doc_t *doc = gql_parse(b.p, b.len, &lim, &err);
        if (!doc)
            fail_msg("parse: %s", err.message);
        json_t *errors = json_array();
        gql_validate(schema, doc, errors, 0);
        if (round < 2) {
            if (json_array_size(errors)) {
                char *s = json_dumps(errors, 0);
                fail_msg("chain of %d: %.500s", len, s);
            }
        } else {
            assert_int_equal(json_array_size(errors), 1);
            assert_string_equal(last_message(errors), "Validation aborted.");
        }
        json_decref(errors);
        gql_doc_free(doc);
        free(b.p);
    }
}

/* A long fragment cycle is reported once, with the whole path. */
static void test_long_cycle(void **st)
{
    (void)st;
    sbuf_t b = {0};
    sb_add(&b, "{ dog { ...F0 } }\n");
    const int len = 50;
    for (int i = 0; i < len; i++)
        sb_add(&b, "fragment F%d on Dog { ...F%d }\n", i, (i + 1) % len);
    size_t n;
    json_t *errors = validate_src(b.p, b.len, 0, &n);
    assert_int_equal(json_array_size(errors), 1);
    const char *m = last_message(errors);
    assert_non_null(strstr(m, "Cannot spread fragment \"F0\" within itself "
                              "via \"F1\", \"F2\","));
    assert_non_null(strstr(m, "\"F49\"."));
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(errors, 0),
                                        "locations")),
        len);
    json_decref(errors);
    free(b.p);
}

/* Strings in messages are printed as graphql-js prints them. */
static void test_printed_values(void **st)
{
    (void)st;
    static const struct {
        const char *query, *message;
    } cases[] = {
        {"{ complicatedArgs { intArgField(intArg: \"a\\\"b\\\\c\\n\\u0001\") } }",
         "Int cannot represent non-integer value: \"a\\\"b\\\\c\\n\\u0001\""},
        {"{ complicatedArgs { intArgField(intArg: \"\"\"block\"\"\") } }",
         "Int cannot represent non-integer value: \"\"\"block\"\"\""},
        {"{ complicatedArgs { intArgField(intArg: {a: [1, 2.5, X, null, "
         "true, $v]}) } }",
         "Int cannot represent non-integer value: {a: [1, 2.5, X, null, "
         "true, $v]}"},
        {"{ complicatedArgs { intArgField(intArg: -2147483649) } }",
         "Int cannot represent non 32-bit signed integer value: "
         "-2147483649"},
        {"{ complicatedArgs { enumArgField(enumArg: \"TAN\") } }",
         "Enum \"FurColor\" cannot represent non-enum value: \"TAN\". Did you "
         "mean the enum value \"TAN\"?"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *errors =
            validate_src(cases[i].query, strlen(cases[i].query), 0, NULL);
        assert_true(json_array_size(errors) >= 1);
        const char *m = json_string_value(
            json_object_get(json_array_get(errors, 0), "message"));
        if (strcmp(m, cases[i].message) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i].query, m,
                     cases[i].message);
        json_decref(errors);
    }
}

/* A huge value in a message is cut at a character boundary: the message
 * stays valid UTF-8 (so it is a JSON string at all). */
static void test_long_message_stays_utf8(void **st)
{
    (void)st;
    sbuf_t b = {0};
    /* "xy": the cut falls inside a character without the boundary check */
    sb_add(&b, "{ complicatedArgs { intArgField(intArg: \"xy");
    for (int i = 0; i < 12000; i++)
        sb_add(&b, "\xc3\xa9"); /* é: two bytes, one character */
    sb_add(&b, "\") } }");
    json_t *errors = validate_src(b.p, b.len, 0, NULL);
    assert_int_equal(json_array_size(errors), 1);
    const char *m = last_message(errors);
    assert_non_null(m);
    assert_true(strncmp(m, "Int cannot represent non-integer value: \"xy\xc3\xa9",
                        45) == 0);
    assert_true(strlen(m) <= 16384);
    assert_true(strlen(m) > 16000);
    json_decref(errors);
    free(b.p);
    /* the same in a block string */
    b = (sbuf_t){0};
    sb_add(&b, "{ complicatedArgs { intArgField(intArg: \"\"\"x");
    for (int i = 0; i < 12000; i++)
        sb_add(&b, "\xc3\xa9");
    sb_add(&b, "\"\"\") } }");
    errors = validate_src(b.p, b.len, 0, NULL);
    assert_int_equal(json_array_size(errors), 1);
    assert_non_null(last_message(errors));
    json_decref(errors);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_table_covers_every_rule),
        cmocka_unit_test(test_error_limit),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_hostile_overlap_is_bounded),
        cmocka_unit_test(test_fragment_fanout_is_cached),
        cmocka_unit_test(test_fragment_chain),
        cmocka_unit_test(test_long_cycle),
        cmocka_unit_test(test_printed_values),
        cmocka_unit_test(test_long_message_stays_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
