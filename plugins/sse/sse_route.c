/*
 * eventPath routes as the classifier compares them (sse_chain.h).
 */
#include <string.h>

#include "sse_chain.h"

int sse_route_matches(const char *route, const char *path, size_t len)
{
    const char *r = route, *p = path, *pe = path + len;
    while (*r == '/' && p < pe && *p == '/') {
        r++;
        p++;
        const char *rs = r;
        while (*r && *r != '/')
            r++;
        const char *ps = p;
        while (p < pe && *p != '/')
            p++;
        size_t rl = (size_t)(r - rs), pl = (size_t)(p - ps);
        if (rl == 1 && rs[0] == '*')
            return 1; /* the rest of the path, whatever it is */
        if (rs[0] == ':' && rl > 1) {
            if (pl == 0)
                return 0;
        } else if (rl != pl || memcmp(rs, ps, rl) != 0) {
            return 0;
        }
    }
    return *r == '\0' && p == pe;
}
