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

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_COMMON_H */
