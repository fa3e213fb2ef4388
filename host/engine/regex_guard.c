/*
 * A cost check for the POSIX regular expressions mocks carry (routePattern,
 * "matches" conditions): glibc's regcomp expands bounded repetitions and
 * stacked quantifiers into automata that can take gigabytes ("a+++++..."
 * was found by fuzzing), so such patterns are refused before regcomp sees
 * them.
 */
#include <string.h>

#include "expr.h"

/* glibc's regcomp expands repetitions into trees, so stacked or large
 * quantifiers ("a++++", "(a{100}){100}") can take gigabytes: refuse them
 * before compiling. NULL when the pattern is acceptable. */
const char *dp_regex_too_costly(const char *src)
{
    size_t len = strlen(src);
    if (len > 512)
        return "longer than 512 characters";
    int prev_quant = 0;
    long product = 1;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < len) {
            i++;
            prev_quant = 0;
            continue;
        }
        if (c == '{') {
            if (prev_quant)
                return "a repetition follows another repetition";
            long hi = 0;
            size_t k = i + 1;
            while (k < len && src[k] != '}') {
                if (src[k] >= '0' && src[k] <= '9') {
                    long v = 0;
                    while (k < len && src[k] >= '0' && src[k] <= '9' &&
                           v < 100000)
                        v = v * 10 + (src[k++] - '0');
                    if (v > hi)
                        hi = v;
                } else {
                    k++;
                }
            }
            /* nesting is not tracked: bound the product of all of them */
            product *= hi > 0 ? hi : 1;
            if (product > 1024)
                return "bounded repetitions multiply to more than 1024";
            i = k;
            prev_quant = 1;
            continue;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (prev_quant)
                return "a repetition follows another repetition";
            prev_quant = 1;
            continue;
        }
        prev_quant = 0;
    }
    return NULL;
}
