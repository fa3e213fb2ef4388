/*
 * "Did you mean ...?": graphql-js's suggestionList (a Damerau-Levenshtein
 * distance with case changes counting one edit, a threshold of 40% of the
 * input's length plus one, ties in natural order) and didYouMean (at most
 * five, "A, B, or C"), so that messages naming suggestions read as
 * graphql-js's do. Names are ASCII; other bytes compare as they are.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"

/* Longer inputs are not GraphQL names; they get no suggestions, which
 * also bounds the work per option. */
#define SUGGEST_MAX_LEN 256

static void lower(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* The distance, or SIZE_MAX when past the threshold. */
static size_t distance(const char *input, const char *in_low, size_t in_len,
                       const char *option, size_t threshold)
{
    if (strcmp(input, option) == 0)
        return 0;
    size_t op_len = strlen(option);
    if (op_len > SUGGEST_MAX_LEN)
        return SIZE_MAX;
    char op_low[SUGGEST_MAX_LEN];
    lower(option, op_len, op_low);
    if (op_len == in_len && memcmp(op_low, in_low, in_len) == 0)
        return 1;
    const char *a = op_low, *b = in_low;
    size_t al = op_len, bl = in_len;
    if (al < bl) {
        a = in_low, b = op_low;
        al = in_len, bl = op_len;
    }
    if (al - bl > threshold)
        return SIZE_MAX;
    size_t rows[3][SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= bl; j++)
        rows[0][j] = j;
    for (size_t i = 1; i <= al; i++) {
        size_t *up = rows[(i - 1) % 3], *cur = rows[i % 3];
        size_t smallest = cur[0] = i;
        for (size_t j = 1; j <= bl; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t cell = min3(up[j] + 1, cur[j - 1] + 1, up[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                size_t dd = rows[(i - 2) % 3][j - 2] + 1;
                if (dd < cell)
                    cell = dd;
            }
            if (cell < smallest)
                smallest = cell;
            cur[j] = cell;
        }
        if (smallest > threshold)
            return SIZE_MAX;
    }
    size_t d = rows[al % 3][bl];
    return d <= threshold ? d : SIZE_MAX;
}

/* graphql-js naturalCompare: runs of digits compare as numbers. */
int gql_natural_compare(const char *a, const char *b)
{
    size_t i = 0, j = 0, al = strlen(a), bl = strlen(b);
    while (i < al && j < bl) {
        unsigned char ac = (unsigned char)a[i], bc = (unsigned char)b[j];
        if (isdigit(ac) && isdigit(bc)) {
            unsigned long long an = 0, bn = 0;
            do {
                i++;
                an = an * 10 + (ac - '0');
                ac = i < al ? (unsigned char)a[i] : 0;
            } while (isdigit(ac) && an > 0 && an < 100000000000000000ull);
            do {
                j++;
                bn = bn * 10 + (bc - '0');
                bc = j < bl ? (unsigned char)b[j] : 0;
            } while (isdigit(bc) && bn > 0 && bn < 100000000000000000ull);
            if (an != bn)
                return an < bn ? -1 : 1;
        } else {
            if (ac != bc)
                return ac < bc ? -1 : 1;
            i++;
            j++;
        }
    }
    return al < bl ? -1 : al > bl ? 1 : 0;
}

typedef struct cand {
    const char *name;
    size_t dist;
} cand_t;

static int cmp_cand(const void *x, const void *y)
{
    const cand_t *a = x, *b = y;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return gql_natural_compare(a->name, b->name);
}

size_t gql_suggest(const char *input, const char *const *options, size_t n,
                   const char **out, size_t max)
{
    size_t in_len = strlen(input);
    if (!n || !max || in_len > SUGGEST_MAX_LEN)
        return 0;
    char in_low[SUGGEST_MAX_LEN];
    lower(input, in_len, in_low);
    size_t threshold = in_len * 4 / 10 + 1;
    cand_t *c = malloc(n * sizeof(*c));
    if (!c)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!options[i])
            continue;
        /* the same name twice is one suggestion (graphql-js keys a map) */
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(c[j].name, options[i]) == 0;
        if (dup)
            continue;
        size_t d = distance(input, in_low, in_len, options[i], threshold);
        if (d != SIZE_MAX)
            c[k++] = (cand_t){options[i], d};
    }
    qsort(c, k, sizeof(*c), cmp_cand);
    size_t m = k < max ? k : max;
    for (size_t i = 0; i < m; i++)
        out[i] = c[i].name;
    free(c);
    return m;
}

void gql_did_you_mean(char *buf, size_t cap, const char *sub,
                      const char *const *names, size_t n)
{
    if (!cap)
        return;
    size_t len = strlen(buf);
#define ADD(...)                                                               \
    do {                                                                       \
        if (len < cap)                                                         \
            len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);        \
    } while (0)
    if (!n)
        return;
    ADD(" Did you mean %s%s", sub ? sub : "", sub ? " " : "");
    if (n > GQL_MAX_SUGGESTIONS)
        n = GQL_MAX_SUGGESTIONS;
    if (n == 1) {
        ADD("\"%s\"?", names[0]);
    } else if (n == 2) {
        ADD("\"%s\" or \"%s\"?", names[0], names[1]);
    } else {
        for (size_t i = 0; i + 1 < n; i++)
            ADD("\"%s\", ", names[i]);
        ADD("or \"%s\"?", names[n - 1]);
    }
#undef ADD
}
