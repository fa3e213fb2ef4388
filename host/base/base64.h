/*
 * Base64 for the engine: decoding what mocks and requests carry (standard
 * or URL-safe alphabet, padding optional) and encoding bytes that are not
 * text (journal bodies).
 */
#ifndef DP_BASE64_H
#define DP_BASE64_H

#include <stddef.h>

/* Decodes s[0..len) into a new buffer (NUL-terminated after *out_len
 * bytes; caller frees). Returns 0, -EINVAL for a character outside both
 * alphabets or an impossible length, -ENOMEM. */
int dp_b64_decode(const char *s, size_t len, unsigned char **out,
                  size_t *out_len);

/* Encodes in[0..len) with the standard alphabet and padding into a new
 * NUL-terminated string (caller frees), or NULL on ENOMEM. */
char *dp_b64_encode(const unsigned char *in, size_t len);

#endif
