/*
 * gql_validate_tool: doppel's side of the validation differential test
 * (tests/integration/test_graphql_validation.py). Builds the schema from
 * an SDL file, parses a query file and validates it, printing one JSON
 * object on stdout:
 *   {"errors": [{"message": ..., "locations": [...]}, ...]}
 *   {"syntaxError": "..."}   the query does not parse
 * Exit status 0 for both; 2 for usage, unreadable files or a schema that
 * does not build (message on stderr). Test-only: not installed.
 *
 * usage: gql_validate_tool schema.graphql query.graphql
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gql.h"

/* The corpus files are small; 8 MiB is far past any of them. */
#define TOOL_MAX_FILE (8u * 1024u * 1024u)

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(TOOL_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, TOOL_MAX_FILE + 1, f) : 0;
    int bad = !buf || ferror(f) || n > TOOL_MAX_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s schema.graphql query.graphql\n", argv[0]);
        return 2;
    }
    size_t slen, qlen;
    char *sdl = read_file(argv[1], &slen);
    char *query = read_file(argv[2], &qlen);
    if (!sdl || !query) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0],
                sdl ? argv[2] : argv[1]);
        free(sdl);
        free(query);
        return 2;
    }
    gql_error_t err;
    gql_source_t src = {.name = argv[1], .text = sdl, .len = slen};
    gql_schema_t *schema = gql_schema_build(&src, 1, NULL, &err);
    if (!schema) {
        fprintf(stderr, "%s: schema: %s\n", argv[0], err.message);
        free(sdl);
        free(query);
        return 2;
    }
    json_t *out = json_object();
    gql_doc_t *doc = gql_parse(query, qlen, NULL, &err);
    if (!doc) {
        json_object_set_new(out, "syntaxError", json_string(err.message));
    } else {
        json_t *errors = json_array();
        gql_validate(schema, doc, errors, 0);
        json_object_set_new(out, "errors", errors);
        gql_doc_free(doc);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    int rc = 0;
    if (text) {
        puts(text);
        free(text);
    } else {
        rc = 2;
    }
    json_decref(out);
    gql_schema_free(schema);
    free(sdl);
    free(query);
    return rc;
}
