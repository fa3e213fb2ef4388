/*
 * Small value types shared by every doppel SDK header.
 */
#ifndef DOPPEL_COMMON_H
#define DOPPEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed byte string; not NUL-terminated unless said so. */
typedef struct doppel_str {
    const char *ptr;
    size_t len;
} doppel_str_t;

/* A borrowed name/value pair (HTTP header, query parameter, metadata). */
typedef struct doppel_kv {
    doppel_str_t name;
    doppel_str_t value;
} doppel_kv_t;

#define DOPPEL_STR(lit) ((doppel_str_t){(lit), sizeof(lit) - 1})

/* 1 if s[0..len) is a doppel name: 1 to max characters of [A-Za-z0-9._-]
 * (namespaces, request ids). The same rule everywhere, host and plugins. */
static inline int doppel_name_valid(const char *s, size_t len, size_t max)
{
    if (s == NULL || len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_COMMON_H */
