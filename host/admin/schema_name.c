/*
 * The names of schema files (schemas.h): relative paths, checked before a
 * name reaches the store or a plugin, so that no name can climb out of a
 * plugin's tree ("..", "/etc/x") or mean two files ("a//b", "a/./b").
 * Apart from the rest of admin_schemas.c so that fuzz/fuzz_schema_name.c
 * builds it alone.
 */
#include <string.h>

#include "schemas.h"

int dp_schema_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > DP_SCHEMA_NAME_MAX ||
        strlen(name) != len)
        return 0;
    size_t seg = 0; /* length of the current segment */
    for (size_t i = 0; i <= len; i++) {
        char ch = i < len ? name[i] : '/';
        if (ch == '/') {
            const char *s = name + i - seg;
            if (seg == 0 || (seg == 1 && s[0] == '.') ||
                (seg == 2 && s[0] == '.' && s[1] == '.'))
                return 0;
            seg = 0;
            continue;
        }
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
        seg++;
    }
    return 1;
}
