/*
 * A cost check for the POSIX regular expressions mocks carry (routePattern,
 * "matches" conditions). glibc's regcomp expands every bounded repetition
 * into copies of the repeated subexpression and computes epsilon closures
 * over the result, so memory and time grow with the expanded size, and
 * faster than linearly where the copies can match the empty string:
 * "a+++++..." took gigabytes, "(()*()*){1000}" more than 30 seconds and
 * "(()*){30}{30}" tens of megabytes (all found by fuzzing). Such patterns
 * are refused before regcomp sees them.
 *
 * The check parses the pattern's structure (groups, alternation, bracket
 * expressions, escapes, quantifiers) and estimates the expanded node count:
 * a repeated piece counts as many times as its upper bound (its lower bound
 * for "{m,}"), nested repetitions multiply. At most EXPANDED_MAX nodes: in
 * measurements the worst pattern of that size ("(()*){400}") compiles in
 * about 0.3 s and 10 MB.
 *
 * Anchors and word boundaries (^ $ \b \B \< \> \` \') are constraints
 * in glibc's automaton, and copies of a piece that holds one and can
 * match the empty string multiply its closures far faster:
 * "($()*){20}" compiled in 4 s, "($()*){40}", "(\b()*){20}" and
 * "($()*()*()*()*()*()*){4}" did not finish (fuzzing found
 * "($()*){100}"). Such a piece may not be repeated with a bound above 1;
 * one that cannot match the empty string ("(^a|b){100}", "(\bword ?){5}")
 * compiles as fast as any other.
 */
#include <string.h>

#include "expr.h"

#define EXPANDED_MAX 1200
#define PATTERN_MAX 512
#define REPEAT_MAX 100000 /* numbers past it count as it */

typedef struct rx_scan {
    const char *s;
    size_t len, i;
    int depth;
    const char *why; /* set on refusal */
} rx_scan_t;

static long capped(long v) { return v > EXPANDED_MAX + 1 ? EXPANDED_MAX + 1 : v; }

/* What a piece is besides its size: whether it can match the empty
 * string, and whether it holds an anchor or word boundary. */
typedef struct rx_kind {
    int nullable;
    int anchor;
} rx_kind_t;

static long scan_alt(rx_scan_t *r, rx_kind_t *k);

/* A bracket expression from just after '[' to just after its ']'. */
static void skip_bracket(rx_scan_t *r)
{
    if (r->i < r->len && r->s[r->i] == '^')
        r->i++;
    if (r->i < r->len && r->s[r->i] == ']') /* a leading ']' is literal */
        r->i++;
    while (r->i < r->len && r->s[r->i] != ']') {
        if (r->s[r->i] == '[' && r->i + 1 < r->len &&
            (r->s[r->i + 1] == ':' || r->s[r->i + 1] == '.' ||
             r->s[r->i + 1] == '=')) {
            char end = r->s[r->i + 1];
            r->i += 2;
            while (r->i + 1 < r->len &&
                   !(r->s[r->i] == end && r->s[r->i + 1] == ']'))
                r->i++;
            r->i += 2;
            continue;
        }
        r->i++;
    }
    if (r->i < r->len)
        r->i++;
}

/* The upper repetition bound of "{m}", "{m,}", "{m,n}" from just after
 * '{' to just after '}' (*low: m); a malformed bound is left for regcomp
 * to report. */
static long scan_bound(rx_scan_t *r, long *low)
{
    long lo = 0, hi = -1, *cur = &lo;
    int comma = 0;
    while (r->i < r->len && r->s[r->i] != '}') {
        char c = r->s[r->i++];
        if (c >= '0' && c <= '9') {
            if (cur == &hi && hi < 0)
                hi = 0;
            if (*cur < REPEAT_MAX)
                *cur = *cur * 10 + (c - '0');
        } else if (c == ',' && !comma) {
            comma = 1;
            cur = &hi;
        }
    }
    if (r->i < r->len)
        r->i++;
    *low = lo;
    if (!comma)
        return lo;
    return hi < 0 ? lo + 1 : (hi > lo ? hi : lo); /* "{m,}": m copies + a star */
}

/* One atom: its expanded node count. */
static long scan_atom(rx_scan_t *r, rx_kind_t *k)
{
    char c = r->s[r->i++];
    k->nullable = k->anchor = 0;
    if (c == '\\') {
        if (r->i < r->len && strchr("bB<>`'", r->s[r->i]) != NULL)
            k->nullable = k->anchor = 1;
        if (r->i < r->len)
            r->i++;
        return 1;
    }
    if (c == '^' || c == '$') {
        k->nullable = k->anchor = 1;
        return 1;
    }
    if (c == '[') {
        skip_bracket(r);
        return 1;
    }
    if (c == '(') {
        if (++r->depth > 64) {
            r->why = "groups nest deeper than 64";
            return EXPANDED_MAX + 1;
        }
        long n = scan_alt(r, k);
        r->depth--;
        if (r->i < r->len && r->s[r->i] == ')')
            r->i++;
        return n + 2;
    }
    return 1;
}

/* A sequence of quantified atoms up to '|', ')' or the end. */
static long scan_seq(rx_scan_t *r, rx_kind_t *k)
{
    long total = 0;
    k->nullable = 1; /* the empty sequence matches the empty string */
    k->anchor = 0;
    while (r->i < r->len && r->s[r->i] != '|' && r->s[r->i] != ')' &&
           r->why == NULL) {
        rx_kind_t a;
        long n = scan_atom(r, &a);
        int content_nullable = a.nullable;
        int quantified = 0;
        while (r->i < r->len && r->why == NULL) {
            char q = r->s[r->i];
            if (q != '*' && q != '+' && q != '?' && q != '{')
                break;
            if (quantified) {
                r->why = "a repetition follows another repetition";
                return EXPANDED_MAX + 1;
            }
            quantified = 1;
            r->i++;
            if (q == '{') {
                long low = 0;
                long times = scan_bound(r, &low);
                n = capped(n * (times > 0 ? times : 1) + 1);
                if (content_nullable && a.anchor && times > 1) {
                    r->why = "an anchor or word boundary that may match "
                             "nothing is repeated";
                    return EXPANDED_MAX + 1;
                }
                if (low == 0)
                    a.nullable = 1;
            } else {
                n = capped(n + 1);
                if (q != '+')
                    a.nullable = 1;
            }
        }
        total = capped(total + n);
        k->nullable &= a.nullable;
        k->anchor |= a.anchor;
    }
    return total;
}

static long scan_alt(rx_scan_t *r, rx_kind_t *k)
{
    long total = scan_seq(r, k);
    while (r->why == NULL && r->i < r->len && r->s[r->i] == '|') {
        r->i++;
        rx_kind_t b;
        total = capped(total + scan_seq(r, &b) + 1);
        k->nullable |= b.nullable;
        k->anchor |= b.anchor;
    }
    return total;
}

/* NULL when the pattern is acceptable, else why it is not. */
const char *dp_regex_too_costly(const char *src)
{
    rx_scan_t r = {.s = src, .len = strlen(src)};
    if (r.len > PATTERN_MAX)
        return "longer than 512 characters";
    long n = 0;
    while (r.i < r.len && r.why == NULL) {
        rx_kind_t k;
        n = capped(n + scan_alt(&r, &k));
        if (r.i < r.len && r.s[r.i] == ')') /* unbalanced: regcomp says so */
            r.i++;
    }
    if (r.why != NULL)
        return r.why;
    if (n > EXPANDED_MAX)
        return "repetitions expand it past 1200 nodes";
    return NULL;
}
