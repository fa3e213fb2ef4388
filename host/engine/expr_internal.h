/*
 * Private helpers shared by jpath.c, condition.c, template.c and faker.c.
 * Not part of the engine contract (expr.h); nothing outside the expression
 * layer should include this.
 */
#ifndef DP_EXPR_INTERNAL_H
#define DP_EXPR_INTERNAL_H

#include <stddef.h>

#include "expr.h"

/* Parses a relative path ("a.b[0]['x.y']", no "$" prefix) of len bytes.
 * len 0 yields the empty path, which selects the whole document. On error
 * returns -EINVAL and writes a one-line reason into msg. */
int dp_jpath_parse_rel(const char *s, size_t len, dp_jpath_t **out, char *msg,
                       size_t msglen);
/* Number of segments and whether segment i is a key (then *key is set,
 * borrowed from p) or an index (then *index is set). */
size_t dp_jpath_nseg(const dp_jpath_t *p);
int dp_jpath_seg_key(const dp_jpath_t *p, size_t i, const char **key,
                     size_t *index);
/* Walks the segments from first on. */
const json_t *dp_jpath_get_from(const dp_jpath_t *p, size_t first,
                                const json_t *doc);

/* Fakers resolved once at compile time: index into the faker table, or -1. */
int dp_faker_find(const char *name, size_t len);
/* Checks literal arguments of a call (count, types, ranges). 0 or -EINVAL
 * with a reason in msg. */
int dp_faker_validate(int idx, const json_t *args, char *msg, size_t msglen);
json_t *dp_faker_call_idx(int idx, const json_t *args, uint64_t *rng,
                          int64_t now);

/* Appends the text form of v used in interpolation and reasons: strings
 * without quotes, everything else compact JSON. Returns the number of bytes
 * it wanted to write (like snprintf); buf stays NUL-terminated. */
size_t dp_json_text(const json_t *v, char *buf, size_t len);

#endif
