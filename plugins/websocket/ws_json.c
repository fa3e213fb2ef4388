/*
 * A JSON check without a tree, for the messages of a WebSocket connection:
 * whether the text is one JSON value (so that it goes to the engine as it
 * is) and the string its top-level object gives as "event" (else "type").
 * Parsing every message into a jansson tree only to learn those two
 * things was a quarter of what matching a message cost.
 *
 * It answers only where it agrees with jansson (json_loadb with
 * JSON_DECODE_ANY, which the caller falls back to): escapes in strings
 * (\u0000, surrogates), numbers jansson may refuse (a long integer that
 * overflows, an exponent, a long mantissa) and deep nesting are "ask
 * jansson", and so is a NUL byte (jansson ends its input there).
 * fuzz/fuzz_ws_json.c checks the agreement. The text of a text
 * frame is valid UTF-8 already (the codec checks it), so only control
 * characters are looked for in strings.
 */
#include <string.h>

#include "ws_rules.h"

#define SCAN_DEPTH 32

typedef struct scan {
    const unsigned char *p, *end;
    int depth;
    int unsure; /* something only jansson can decide */
} scan_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int value(scan_t *s, const unsigned char **str, size_t *str_len);

/* A string; *str and *len: its contents when it has no escape (else
 * *str is NULL). */
static int string(scan_t *s, const unsigned char **str, size_t *len)
{
    const unsigned char *start = ++s->p; /* past the quote */
    int escaped = 0;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p < 0x20)
            return 0;
        if (*s->p == '\\') {
            escaped = 1;
            s->p++;
            if (s->p >= s->end)
                return 0;
            if (*s->p == 'u') {
                s->unsure = 1; /* \u0000 and surrogates: jansson's call */
                return 1;
            }
            if (!strchr("\"\\/bfnrt", *s->p) || *s->p == '\0')
                return 0;
        }
        s->p++;
    }
    if (s->p >= s->end)
        return 0;
    if (str) {
        *str = escaped ? NULL : start;
        *len = (size_t)(s->p - start);
    }
    s->p++;
    return 1;
}

static int digits(scan_t *s)
{
    const unsigned char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return (int)(s->p - b);
}

static int number(scan_t *s)
{
    const unsigned char *b = s->p;
    if (*s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return 0;
    if (*s->p == '0')
        s->p++;
    else if (digits(s) == 0)
        return 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (digits(s) == 0)
            return 0;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->unsure = 1; /* overflow to infinity is an error there */
        return 1;
    }
    if (s->p - b > 15)
        s->unsure = 1; /* an integer past int64, a long real */
    return 1;
}

static int word(scan_t *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int object(scan_t *s, const unsigned char **ev, size_t *ev_len,
                  int top)
{
    s->p++; /* { */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    const unsigned char *type = NULL, *event = NULL;
    size_t type_len = 0, event_len = 0;
    int type_set = 0, event_set = 0;
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"')
            return 0;
        const unsigned char *k = NULL;
        size_t kl = 0;
        if (!string(s, &k, &kl) || s->unsure)
            return !s->unsure ? 0 : 1;
        skip_ws(s);
        if (s->p >= s->end || *s->p++ != ':')
            return 0;
        skip_ws(s);
        const unsigned char *v = NULL;
        size_t vl = 0;
        int is_string = s->p < s->end && *s->p == '"';
        if (!value(s, &v, &vl))
            return 0;
        if (s->unsure)
            return 1;
        /* the last of duplicate members counts, as in jansson */
        if (top && k && kl == 5 && memcmp(k, "event", 5) == 0) {
            event_set = 1;
            event = is_string ? v : NULL;
            event_len = vl;
            if (is_string && v == NULL)
                s->unsure = 1; /* an escaped event name */
        } else if (top && k && kl == 4 && memcmp(k, "type", 4) == 0) {
            type_set = 1;
            type = is_string ? v : NULL;
            type_len = vl;
            if (is_string && v == NULL)
                s->unsure = 1;
        }
        skip_ws(s);
        if (s->p >= s->end)
            return 0;
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p != '}')
            return 0;
        s->p++;
        break;
    }
    if (top) {
        (void)type_set;
        if (event_set && event != NULL) {
            *ev = event;
            *ev_len = event_len;
        } else if (type != NULL) {
            *ev = type;
            *ev_len = type_len;
        }
    }
    return 1;
}

static int array(scan_t *s)
{
    s->p++; /* [ */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        skip_ws(s);
        if (!value(s, NULL, NULL))
            return 0;
        if (s->unsure)
            return 1;
        skip_ws(s);
        if (s->p >= s->end)
            return 0;
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p != ']')
            return 0;
        s->p++;
        return 1;
    }
}

static int value(scan_t *s, const unsigned char **str, size_t *str_len)
{
    if (s->p >= s->end)
        return 0;
    switch (*s->p) {
    case '"':
        return string(s, str, str_len);
    case '{':
    case '[': {
        if (++s->depth > SCAN_DEPTH) {
            s->unsure = 1;
            return 1;
        }
        const unsigned char *dummy = NULL;
        size_t dl = 0;
        int ok = *s->p == '{' ? object(s, &dummy, &dl, 0) : array(s);
        s->depth--;
        return ok;
    }
    case 't':
        return word(s, "true");
    case 'f':
        return word(s, "false");
    case 'n':
        return word(s, "null");
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return number(s);
        return 0;
    }
}

int ws_json_scan(const char *text, size_t len, const char **event,
                 size_t *event_len)
{
    if (memchr(text, '\0', len) != NULL)
        return -1; /* jansson reads a NUL byte as the end of its input */
    scan_t s = {(const unsigned char *)text, (const unsigned char *)text + len,
                0, 0};
    const unsigned char *ev = NULL;
    size_t el = 0;
    skip_ws(&s);
    int ok;
    if (s.p < s.end && *s.p == '{') {
        s.depth = 1;
        ok = object(&s, &ev, &el, 1);
    } else {
        ok = value(&s, NULL, NULL);
    }
    if (s.unsure)
        return -1;
    if (!ok)
        return 0;
    skip_ws(&s);
    if (s.p != s.end)
        return 0;
    *event = (const char *)ev;
    *event_len = el;
    return 1;
}
