/*
 * The schema file name check (host/admin/schema_name.c): every name a
 * client sends in /api/v1/schemas/SECTION/NAME or a batch goes through it
 * before it reaches the store or a plugin. Checks, beyond "no crash, no
 * UB": an accepted name is 1 to 256 bytes of [A-Za-z0-9._/-], has no NUL,
 * does not start or end with '/', and has no empty, "." or ".." segment.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/schemas.h"

static int allowed(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
           ch == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* NUL-terminated, as the admin API hands names over; a NUL inside
     * must make it invalid (len then differs from strlen) */
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (dp_schema_name_valid(s, size)) {
        if (size == 0 || size > DP_SCHEMA_NAME_MAX || strlen(s) != size ||
            s[0] == '/' || s[size - 1] == '/')
            abort();
        for (size_t i = 0; i < size; i++)
            if (!allowed((unsigned char)s[i]))
                abort();
        /* every segment: not empty, not "." or ".." */
        char *copy = strdup(s), *save = NULL;
        if (copy == NULL)
            abort();
        if (strstr(s, "//") != NULL)
            abort();
        for (char *seg = strtok_r(copy, "/", &save); seg;
             seg = strtok_r(NULL, "/", &save))
            if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
                abort();
        free(copy);
    }
    free(s);
    return 0;
}
