/*
 * The text/event-stream parser of `doppel mcp --stdio` (host/mcp_stdio.c):
 * line ends, multi-line data, comments and other fields, events split at
 * any byte, the size cap, and what is discarded at the end of a stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp_stdio.h"

typedef struct seen {
    int n;
    char ev[8][256];
} seen_t;

static void on_event(void *ud, const char *data, size_t len)
{
    seen_t *s = ud;
    assert_true(s->n < 8);
    assert_true(len < sizeof(s->ev[0]));
    assert_int_equal(strlen(data), len); /* NUL-terminated */
    memcpy(s->ev[s->n], data, len + 1);
    s->n++;
}

/* Feeds text whole, then again one byte at a time: same events. */
static void check(const char *text, size_t max, int n, const char *const *want)
{
    for (int mode = 0; mode < 2; mode++) {
        seen_t s = {0};
        dp_sse_t p;
        dp_sse_init(&p, max, on_event, &s);
        if (mode == 0) {
            assert_int_equal(dp_sse_feed(&p, text, strlen(text)), 0);
        } else {
            for (size_t i = 0; text[i]; i++)
                assert_int_equal(dp_sse_feed(&p, text + i, 1), 0);
        }
        dp_sse_free(&p);
        assert_int_equal(s.n, n);
        for (int i = 0; i < n; i++)
            assert_string_equal(s.ev[i], want[i]);
    }
}

static void test_basic_and_line_ends(void **st)
{
    (void)st;
    const char *one[] = {"{\"a\":1}"};
    check("data: {\"a\":1}\n\n", 0, 1, one);
    check("data: {\"a\":1}\r\n\r\n", 0, 1, one);
    check("data: {\"a\":1}\r\r", 0, 1, one);
    check("data:{\"a\":1}\n\n", 0, 1, one); /* the space is optional */
    const char *two[] = {"x", "y"};
    check("data: x\n\ndata: y\r\n\r\n", 0, 2, two);
}

static void test_multi_line_data_and_other_fields(void **st)
{
    (void)st;
    const char *want[] = {"line1\nline2\n  indented"};
    check(": comment\nevent: message\nid: 7\nretry: 100\n"
          "data: line1\ndata:line2\ndata:   indented\nunknown: z\n\n",
          0, 1, want);
    /* a field name without a colon, "data" alone: an empty data line */
    const char *empty[] = {""};
    check("data\n\n", 0, 1, empty);
}

static void test_nothing_without_data_or_blank_line(void **st)
{
    (void)st;
    check("event: ping\n\n: keep-alive\n\n\n\n", 0, 0, NULL);
    /* an event without its blank line at the end of the stream */
    check("data: lost", 0, 0, NULL);
    check("data: lost\n", 0, 0, NULL);
    /* "datax" is another field */
    check("datax: no\n\n", 0, 0, NULL);
}

static void test_oversized_event_is_dropped_only(void **st)
{
    (void)st;
    char text[512];
    char big[200];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(text, sizeof(text), "data: %s\n\ndata: ok\n\n", big);
    const char *want[] = {"ok"};
    check(text, 64, 1, want);
    /* many data lines that add up past the cap */
    check("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n"
          "data: ok\n\n",
          24, 1, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_line_ends),
        cmocka_unit_test(test_multi_line_data_and_other_fields),
        cmocka_unit_test(test_nothing_without_data_or_blank_line),
        cmocka_unit_test(test_oversized_event_is_dropped_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
