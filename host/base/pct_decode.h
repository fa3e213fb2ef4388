/*
 * Strict percent-decoding for the admin APIs: paths and query strings.
 */
#ifndef DP_PCT_DECODE_H
#define DP_PCT_DECODE_H

#include <stddef.h>

/* Decodes src[0..len) into a new NUL-terminated string (caller frees);
 * plus_space turns '+' into ' ' (query strings). Returns NULL on a bad or
 * truncated escape, on an encoded or literal NUL byte (a C string could
 * not hold it), or when out of memory. */
char *dp_pct_decode(const char *src, size_t len, int plus_space);

#endif
