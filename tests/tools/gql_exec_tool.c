/*
 * gql_exec_tool: runs one GraphQL request through dp_gql without the
 * plugin, for tests that compare with graphql-js.
 *
 *   gql_exec_tool --schema S.graphql [--schema ...] --query Q.graphql
 *                 [--variables V.json] [--answers A.json]
 *                 [--operation NAME] [--fake] [--seed N] [--list-len N]
 *
 * A.json is {"field": value, ...}: the answer of each top-level field by
 * its name (fields it lacks have no answer). Prints the response JSON
 * ({"data", "errors"}) on stdout, without validating the query (the
 * tests give valid ones). Exit 0 when a response was printed, 1 on a
 * schema or syntax error (printed as {"errors": [...]}), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

#define MAX_SCHEMAS 16

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gql_exec_tool: cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static int answer(void *ud, const gql_field_call_t *call, json_t **value,
                  json_t **errors)
{
    (void)errors;
    json_t *v = json_object_get((json_t *)ud, call->field);
    if (!v)
        return GQL_NO_ANSWER;
    *value = json_incref(v);
    return GQL_RESOLVED;
}

static int fail(const char *msg, gql_loc_t loc)
{
    json_t *e = json_pack("{s:[{s:s}]}", "errors", "message", msg);
    if (loc.line)
        json_object_set_new(json_array_get(json_object_get(e, "errors"), 0), "locations",
                            json_pack("[{s:I,s:I}]", "line", (json_int_t)loc.line,
                                      "column", (json_int_t)loc.column));
    json_dumpf(e, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(e);
    return 1;
}

int main(int argc, char **argv)
{
    gql_source_t srcs[MAX_SCHEMAS];
    char *texts[MAX_SCHEMAS];
    size_t n_srcs = 0;
    const char *query_path = NULL, *vars_path = NULL, *answers_path = NULL;
    const char *operation = NULL;
    gql_exec_opts_t opts = {0};
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--schema") == 0 && next && n_srcs < MAX_SCHEMAS) {
            size_t len = 0;
            texts[n_srcs] = read_all(next, &len);
            if (!texts[n_srcs])
                return 2;
            srcs[n_srcs] = (gql_source_t){next, texts[n_srcs], len};
            n_srcs++;
            i++;
        } else if (strcmp(a, "--query") == 0 && next) {
            query_path = argv[++i];
        } else if (strcmp(a, "--variables") == 0 && next) {
            vars_path = argv[++i];
        } else if (strcmp(a, "--answers") == 0 && next) {
            answers_path = argv[++i];
        } else if (strcmp(a, "--operation") == 0 && next) {
            operation = argv[++i];
        } else if (strcmp(a, "--seed") == 0 && next) {
            opts.seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(a, "--list-len") == 0 && next) {
            opts.fake_list_len = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--fake") == 0) {
            opts.fake_missing = 1;
        } else {
            fprintf(stderr, "gql_exec_tool: bad argument %s\n", a);
            return 2;
        }
    }
    if (!query_path) {
        fprintf(stderr, "gql_exec_tool: --query is required\n");
        return 2;
    }

    gql_error_t err = {0};
    gql_schema_t *schema = NULL;
    if (n_srcs) {
        schema = gql_schema_build(srcs, n_srcs, NULL, &err);
        if (!schema) {
            rc = fail(err.message, err.loc);
            goto out_texts;
        }
    }
    size_t qlen = 0;
    char *qtext = read_all(query_path, &qlen);
    if (!qtext) {
        rc = 2;
        goto out_schema;
    }
    gql_doc_t *doc = gql_parse(qtext, qlen, NULL, &err);
    if (!doc) {
        rc = fail(err.message, err.loc);
        goto out_query;
    }
    json_t *vars = NULL, *answers = NULL;
    json_error_t jerr;
    if (vars_path && !(vars = json_load_file(vars_path, JSON_DECODE_ANY, &jerr))) {
        fprintf(stderr, "gql_exec_tool: %s: %s\n", vars_path, jerr.text);
        rc = 2;
        goto out_doc;
    }
    if (answers_path && !(answers = json_load_file(answers_path, 0, &jerr))) {
        fprintf(stderr, "gql_exec_tool: %s: %s\n", answers_path, jerr.text);
        rc = 2;
        goto out_json;
    }
    if (!answers)
        answers = json_object();
    const gql_definition_t *op = gql_doc_operation(doc, operation, &err);
    if (!op) {
        rc = fail(err.message, err.loc);
        goto out_json;
    }
    int request_error = 0;
    json_t *resp = gql_execute(schema, doc, op, vars, &opts, answer, answers,
                               &request_error);
    json_dumpf(resp, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(resp);
out_json:
    json_decref(answers);
    json_decref(vars);
out_doc:
    gql_doc_free(doc);
out_query:
    free(qtext);
out_schema:
    gql_schema_free(schema);
out_texts:
    for (size_t i = 0; i < n_srcs; i++)
        free(texts[i]);
    return rc;
}
