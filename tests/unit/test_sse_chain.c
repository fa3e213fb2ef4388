/*
 * dp_sse: text/event-stream framing, sseEventChain checks and frames,
 * eventPath routes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse_chain.h"

static char *frame(const char *ev, const char *id, int64_t retry,
                   const char *data, size_t len)
{
    sse_buf_t b = {0};
    assert_int_equal(sse_frame_event(&b, ev, ev ? strlen(ev) : 0, id,
                                     id ? strlen(id) : 0, retry, data, len),
                     0);
    return b.p;
}

static void test_frame_fields(void **st)
{
    (void)st;
    char *f = frame("deploy", "7", 3000, "hi", 2);
    assert_string_equal(f, "event: deploy\nid: 7\nretry: 3000\ndata: hi\n\n");
    free(f);
    /* no event, no id, no retry: only data */
    f = frame(NULL, NULL, -1, "x", 1);
    assert_string_equal(f, "data: x\n\n");
    free(f);
}

static void test_frame_splits_every_line_ending(void **st)
{
    (void)st;
    const char d[] = "a\nb\r\nc\rd";
    char *f = frame(NULL, NULL, -1, d, sizeof(d) - 1);
    assert_string_equal(f, "data: a\ndata: b\ndata: c\ndata: d\n\n");
    free(f);
    /* a trailing newline is kept: the client joins lines with LF */
    f = frame(NULL, NULL, -1, "a\n", 2);
    assert_string_equal(f, "data: a\ndata: \n\n");
    free(f);
    /* CRLF is one break, not two */
    f = frame(NULL, NULL, -1, "\r\n", 2);
    assert_string_equal(f, "data: \ndata: \n\n");
    free(f);
}

static void test_frame_empty_data_still_dispatched(void **st)
{
    (void)st;
    char *f = frame(NULL, NULL, -1, "", 0);
    assert_string_equal(f, "data: \n\n");
    free(f);
}

static void test_frame_field_values_stay_one_line(void **st)
{
    (void)st;
    char *f = frame("a\nb", "1\r2", -1, "x", 1);
    assert_string_equal(f, "event: ab\nid: 12\ndata: x\n\n");
    free(f);
}

static void test_comment(void **st)
{
    (void)st;
    sse_buf_t b = {0};
    assert_int_equal(sse_frame_comment(&b, "heartbeat"), 0);
    assert_string_equal(b.p, ": heartbeat\n\n");
    sse_buf_free(&b);
}

static void test_data_text(void **st)
{
    (void)st;
    json_t *v = json_loads("{\"a\": [1, 2], \"b\": \"x y\"}", 0, NULL);
    size_t n;
    char *t = sse_data_text(v, &n);
    assert_string_equal(t, "{\"a\":[1,2],\"b\":\"x y\"}");
    assert_int_equal(n, strlen(t));
    free(t);
    json_decref(v);
    v = json_string("plain \"text\"");
    t = sse_data_text(v, &n);
    assert_string_equal(t, "plain \"text\"");
    free(t);
    json_decref(v);
    v = json_null();
    t = sse_data_text(v, &n);
    assert_string_equal(t, "null");
    free(t);
}

/* The field a chain is refused for. */
static const char *refused(const char *text, const char *tmpl)
{
    static sse_chain_err_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    memset(&e, 0, sizeof(e));
    int rc = sse_chain_check(v, tmpl, &e);
    json_decref(v);
    return rc == 0 ? NULL : e.field;
}

static void test_check_names_the_field(void **st)
{
    (void)st;
    assert_null(refused("{\"events\": [{\"data\": 1}]}", NULL));
    assert_string_equal(refused("[]", NULL), "response.sseEventChain");
    assert_string_equal(refused("{\"events\": {}}", NULL),
                        "response.sseEventChain.events");
    assert_string_equal(refused("{\"events\": []}", NULL),
                        "response.sseEventChain.events");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}, {\"delay\": 2}]}", NULL),
        "response.sseEventChain.events[1].data");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1, \"delay\": -1}]}", NULL),
        "response.sseEventChain.events[0].delay");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1, \"delay\": \"5\"}]}", NULL),
        "response.sseEventChain.events[0].delay");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"loopDelay\": 99}", NULL),
        "response.sseEventChain.loopDelay");
    assert_null(
        refused("{\"events\": [{\"data\": 1}], \"loopDelay\": 100}", NULL));
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"heartbeat\": 10}", NULL),
        "response.sseEventChain.heartbeat");
    assert_null(
        refused("{\"events\": [{\"data\": 1}], \"heartbeat\": 0}", NULL));
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"maxLoops\": -1}", NULL),
        "response.sseEventChain.maxLoops");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"maxTime\": 86401}", NULL),
        "response.sseEventChain.maxTime");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"logBatch\": 0}", NULL),
        "response.sseEventChain.logBatch");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"loop\": \"yes\"}", NULL),
        "response.sseEventChain.loop");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1}], \"bogus\": 1}", NULL),
        "response.sseEventChain.bogus");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1, \"name\": \"x\"}]}", NULL),
        "response.sseEventChain.events[0].name");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1, \"id\": \"a\\nb\"}]}", NULL),
        "response.sseEventChain.events[0].id");
    assert_string_equal(
        refused("{\"events\": [{\"data\": 1, \"eventName\": 3}]}", NULL),
        "response.sseEventChain.events[0].eventName");
    assert_string_equal(refused("{\"events\": [7]}", NULL),
                        "response.sseEventChain.events[0]");
}

static void test_check_template_path(void **st)
{
    (void)st;
    const char *c = "{\"events\": [{\"templatePath\": \"t.json\"}]}";
    assert_string_equal(refused(c, NULL),
                        "response.sseEventChain.events[0].templatePath");
    assert_string_equal(refused(c, "other.json"),
                        "response.sseEventChain.events[0].templatePath");
    assert_null(refused(c, "t.json"));
    assert_string_equal(
        refused("{\"events\": [{\"templatePath\": \"t.json\", \"data\": 1}]}",
                "t.json"),
        "response.sseEventChain.events[0].templatePath");
}

static void build(const char *text, const char *payload, sse_chain_t *c)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    sse_chain_err_t e;
    assert_int_equal(
        sse_chain_build(v, NULL, payload, payload ? strlen(payload) : 0, c, &e),
        0);
    json_decref(v);
}

static void test_build_frames_and_defaults(void **st)
{
    (void)st;
    sse_chain_t c;
    build("{\"events\": [{\"eventName\": \"a\", \"data\": {\"n\": 1}, "
          "\"id\": \"first\"}, {\"data\": \"x\", \"delay\": 20}, "
          "{\"templatePath\": \"t\", \"id\": 9}]}",
          "from\ntemplate", &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ev[0].id, "first");
    assert_string_equal(c.ev[1].id, "2"); /* its position */
    assert_string_equal(c.ev[2].id, "9");
    assert_int_equal(c.ev[1].delay_ms, 20);
    assert_memory_equal(c.frames + c.ev[0].off,
                        "event: a\nid: first\ndata: {\"n\":1}\n\n",
                        c.ev[0].len);
    assert_memory_equal(c.frames + c.ev[2].off,
                        "id: 9\ndata: from\ndata: template\n\n", c.ev[2].len);
    assert_int_equal(c.loop, 0);
    assert_int_equal(c.loop_delay_ms, SSE_LOOP_DELAY_DEFAULT);
    assert_int_equal(c.max_loops, SSE_MAX_LOOPS_DEFAULT);
    assert_int_equal(c.max_time_s, SSE_MAX_TIME_DEFAULT);
    assert_int_equal(c.log_batch, SSE_LOG_BATCH_DEFAULT);
    assert_int_equal(c.heartbeat_ms, 0);
    /* Last-Event-ID */
    assert_int_equal(sse_chain_resume(&c, "first", 5), 1);
    assert_int_equal(sse_chain_resume(&c, "2", 1), 2);
    assert_int_equal(sse_chain_resume(&c, "9", 1), 3);
    assert_int_equal(sse_chain_resume(&c, "nope", 4), 0);
    sse_chain_free(&c);

    build("{\"events\": [{\"data\": 1}], \"loop\": true, \"loopDelay\": 250, "
          "\"maxLoops\": 0, \"maxTime\": 0, \"heartbeat\": 1500, "
          "\"logBatch\": 3}",
          NULL, &c);
    assert_int_equal(c.loop, 1);
    assert_int_equal(c.loop_delay_ms, 250);
    assert_int_equal(c.max_loops, 0);
    assert_int_equal(c.max_time_s, SSE_MAX_TIME_DEFAULT); /* 0: default */
    assert_int_equal(c.heartbeat_ms, 1500);
    assert_int_equal(c.log_batch, 3);
    sse_chain_free(&c);
}

static void test_build_refuses_a_rendered_chain_out_of_bounds(void **st)
{
    (void)st;
    json_t *v = json_loads("{\"events\": [{\"data\": 1, \"delay\": \"$.x\"}]}",
                           0, NULL);
    sse_chain_t c;
    sse_chain_err_t e;
    assert_int_equal(sse_chain_build(v, NULL, NULL, 0, &c, &e), -EINVAL);
    assert_string_equal(e.field, "response.sseEventChain.events[0].delay");
    json_decref(v);
}

static void test_routes(void **st)
{
    (void)st;
#define M(r, p) sse_route_matches(r, p, strlen(p))
    assert_true(M("/events/deploy", "/events/deploy"));
    assert_false(M("/events/deploy", "/events/deploy/x"));
    assert_false(M("/events/deploy", "/events"));
    assert_false(M("/events/deploy", "/events/deplo"));
    assert_true(M("/events/:id", "/events/42"));
    assert_false(M("/events/:id", "/events/"));
    assert_false(M("/events/:id", "/events/42/more"));
    assert_true(M("/events/:id/log", "/events/42/log"));
    assert_true(M("/feed/*", "/feed/a/b/c"));
    assert_true(M("/", "/"));
    assert_false(M("/", "/x"));
#undef M
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_fields),
        cmocka_unit_test(test_frame_splits_every_line_ending),
        cmocka_unit_test(test_frame_empty_data_still_dispatched),
        cmocka_unit_test(test_frame_field_values_stay_one_line),
        cmocka_unit_test(test_comment),
        cmocka_unit_test(test_data_text),
        cmocka_unit_test(test_check_names_the_field),
        cmocka_unit_test(test_check_template_path),
        cmocka_unit_test(test_build_frames_and_defaults),
        cmocka_unit_test(test_build_refuses_a_rendered_chain_out_of_bounds),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
