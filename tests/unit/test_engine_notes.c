/* Notes of what a plugin sent on a connection, or how a stream ended
 * (dp_engine_journal_note, svc->engine_journal): entries of the journal
 * like any other (listed per namespace, bounded by journal_size and
 * journal_bytes_max), with "direction": "out" or the end's "reason", and
 * the same "connection" as the exchanges that arrived on it ("direction":
 * "in"), so that a connection's conversation reads in order. */
#include "test_engine_util.h"

#include "engine/engine_internal.h"

static dp_engine_t *open_journal(size_t per_ns, size_t bytes_max)
{
    dp_engine_cfg_t cfg;
    dp_engine_cfg_default(&cfg);
    cfg.journal_size = cfg.unmatched_size = per_ns;
    cfg.journal_bytes_max = bytes_max;
    dp_engine_t *e = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_open(&cfg, t_storage(), &e, &err), 0);
    return e;
}

static doppel_journal_note_t sent(const char *ns, const char *conn,
                                  const char *event, const char *body)
{
    doppel_journal_note_t n = {
        .size = sizeof(n),
        .kind = DOPPEL_NOTE_SENT,
        .protocol = DOPPEL_STR("socket"),
        .ns = {ns, strlen(ns)},
        .event = {event, strlen(event)},
        .path = DOPPEL_STR("/chat"),
        .connection = {conn, strlen(conn)},
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
    };
    return n;
}

static json_t *list(dp_engine_t *e, const char *ns)
{
    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, ns, 0, 1000, &out), 0);
    return out;
}

static json_t *item(json_t *out, size_t i)
{
    return json_array_get(json_object_get(out, "items"), i);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One message in through a mock, an answer noted out, the end: the three
 * entries name the connection, newest first. */
static void test_conversation_in_out_end(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    /* an http mock stands for a stream's: the engine's journal is the
     * same for every protocol */
    t_put(e, "{\"namespace\":\"w\",\"http\":{\"route\":\"/chat\","
             "\"httpMethod\":\"POST\"},\"response\":{\"status\":200}}");
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = DOPPEL_STR("w"),
        .operation = DOPPEL_STR("POST"),
        .target = DOPPEL_STR("/chat"),
        .body = (const uint8_t *)"\"hello\"",
        .body_len = 7,
        .connection = DOPPEL_STR("7"),
    };
    doppel_reply_t *r = NULL;
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    dp_engine_reply_free(r);
    doppel_journal_note_t n = sent("w", "7", "message", "hi");
    assert_int_equal(dp_engine_journal_note(e, &n), 0);
    n = (doppel_journal_note_t){.size = sizeof(n),
                                .kind = DOPPEL_NOTE_END,
                                .protocol = DOPPEL_STR("socket"),
                                .ns = DOPPEL_STR("w"),
                                .path = DOPPEL_STR("/chat"),
                                .connection = DOPPEL_STR("7"),
                                .reason = DOPPEL_STR("client_gone")};
    assert_int_equal(dp_engine_journal_note(e, &n), 0);

    json_t *out = list(e, "w");
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    json_t *end = item(out, 0), *o = item(out, 1), *in = item(out, 2);
    assert_string_equal(str(end, "method"), "end");
    assert_string_equal(str(end, "reason"), "client_gone");
    assert_null(json_object_get(end, "direction"));
    assert_string_equal(str(end, "body"), "");
    assert_string_equal(str(o, "direction"), "out");
    assert_string_equal(str(o, "method"), "message");
    assert_string_equal(str(o, "body"), "hi");
    assert_string_equal(str(o, "path"), "/chat");
    assert_string_equal(str(o, "protocol"), "socket");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 0);
    assert_null(json_object_get(o, "mockId"));
    assert_string_equal(str(in, "direction"), "in");
    assert_string_equal(str(in, "method"), "POST");
    assert_non_null(json_object_get(in, "mockId"));
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(str(item(out, i), "connection"), "7");
    json_decref(out);
    dp_engine_close(e);
}

/* A plain request (no connection, or a plugin whose exchange ends before
 * the field) has neither member, as before. */
static void test_plain_request_unchanged(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = DOPPEL_STR("p"),
        .operation = DOPPEL_STR("GET"),
        .target = DOPPEL_STR("/nothing"),
    };
    doppel_reply_t *r = NULL;
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    dp_engine_reply_free(r);
    /* a connection beyond the exchange's size is not the plugin's */
    x.size = (uint32_t)offsetof(doppel_exchange_t, connection);
    x.connection = DOPPEL_STR("stale");
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    dp_engine_reply_free(r);
    json_t *out = NULL;
    assert_int_equal(dp_engine_unmatched(e, "p", 0, 10, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_null(json_object_get(item(out, i), "connection"));
        assert_null(json_object_get(item(out, i), "direction"));
    }
    json_decref(out);
    dp_engine_close(e);
}

/* Notes go to their namespace's ring: another namespace's list does not
 * show them, the merged list does; an empty namespace is sandbox. */
static void test_namespaces(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    doppel_journal_note_t n = sent("a", "1", "message", "to a");
    assert_int_equal(dp_engine_journal_note(e, &n), 0);
    n = sent("", "2", "message", "to sandbox");
    assert_int_equal(dp_engine_journal_note(e, &n), 0);
    json_t *out = list(e, "a");
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    assert_string_equal(str(item(out, 0), "body"), "to a");
    json_decref(out);
    out = list(e, "sandbox");
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    assert_string_equal(str(item(out, 0), "namespace"), "sandbox");
    json_decref(out);
    out = list(e, NULL);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    assert_string_equal(str(item(out, 0), "body"), "to sandbox");
    json_decref(out);
    dp_engine_close(e);
}

/* A flood of notes stays within journal_size per namespace and
 * journal_bytes_max overall; the newest survive. Bodies are cut to
 * journal_body_max like a request's. */
static void test_bounded(void **state)
{
    (void)state;
    const size_t max = 64 * 1024;
    dp_engine_t *e = open_journal(50, 0);
    char body[64];
    for (int i = 0; i < 500; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        doppel_journal_note_t n = sent("f", "1", "message", body);
        assert_int_equal(dp_engine_journal_note(e, &n), 0);
    }
    json_t *out = list(e, "f");
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 50);
    assert_string_equal(str(item(out, 0), "body"), "m499");
    assert_string_equal(str(item(out, 49), "body"), "m450");
    json_decref(out);
    dp_engine_close(e);

    e = open_journal(100000, max);
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    for (int i = 0; i < 2000; i++) {
        doppel_journal_note_t n = sent("g", "1", "message", big);
        assert_int_equal(dp_engine_journal_note(e, &n), 0);
    }
    free(big);
    size_t nns = 0;
    assert_true(dp_ring_bytes(&e->journal, &nns) <= max);
    out = list(e, "g");
    json_int_t kept = json_integer_value(json_object_get(out, "total"));
    assert_true(kept > 1 && kept < 2000);
    json_t *it = item(out, 0);
    assert_true(json_is_true(json_object_get(it, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(it, "bodySize")),
                     19999);
    assert_int_equal(strlen(str(it, "body")), 4096);
    json_decref(out);
    dp_engine_close(e);
}

/* The entries of one connection, listed on their own: what came in on it
 * and what was sent, in any namespace or one, other connections and plain
 * requests left out; total counts only them. */
static void test_list_by_connection(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    for (int i = 0; i < 6; i++) {
        char body[16];
        snprintf(body, sizeof(body), "b%d", i);
        doppel_journal_note_t n =
            sent(i == 5 ? "other" : "c", i % 2 ? "odd" : "even", "message",
                 body);
        assert_int_equal(dp_engine_journal_note(e, &n), 0);
    }
    /* an exchange that came on "odd", with headers and params before the
     * connection field */
    doppel_kv_t kv = {DOPPEL_STR("X-H"), DOPPEL_STR("v")};
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("http"),
        .ns = DOPPEL_STR("c"),
        .operation = DOPPEL_STR("GET"),
        .target = DOPPEL_STR("/in"),
        .metadata = &kv,
        .n_metadata = 1,
        .params = &kv,
        .n_params = 1,
        .server = DOPPEL_STR("srv"),
        .connection = DOPPEL_STR("odd"),
    };
    doppel_reply_t *r = NULL;
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    dp_engine_reply_free(r);
    x.connection = DOPPEL_STR("");
    assert_int_equal(dp_engine_match(e, &x, &r), 0); /* a plain request */
    dp_engine_reply_free(r);
    x.connection = DOPPEL_STR("odd");
    t_put(e, "{\"namespace\":\"c\",\"http\":{\"route\":\"/in\"},"
             "\"response\":{\"status\":200}}");
    assert_int_equal(dp_engine_match(e, &x, &r), 0); /* the journal's */
    dp_engine_reply_free(r);

    json_t *out = NULL;
    assert_int_equal(dp_engine_journal_conn(e, "c", "odd", 0, 100, &out), 0);
    /* b1, b3 and the matched exchange (the miss is in the unmatched list) */
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    assert_string_equal(str(item(out, 0), "direction"), "in");
    assert_string_equal(str(item(out, 0), "path"), "/in");
    assert_string_equal(str(item(out, 1), "body"), "b3");
    assert_string_equal(str(item(out, 2), "body"), "b1");
    json_decref(out);
    /* every namespace: "other" has b5 on "odd" */
    assert_int_equal(dp_engine_journal_conn(e, NULL, "odd", 0, 1, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_true(json_is_true(json_object_get(out, "hasMore")));
    json_decref(out);
    assert_int_equal(dp_engine_journal_conn(e, "c", "even", 0, 100, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    json_decref(out);
    assert_int_equal(dp_engine_journal_conn(e, "c", "od", 0, 100, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    dp_engine_close(e);
}

/* Bad notes journal nothing. */
static void test_refused(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    doppel_journal_note_t n = sent("ok", "1", "message", "x");
    n.protocol = DOPPEL_STR("");
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n = sent("bad ns", "1", "message", "x");
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n = sent("ok", "1", "message", "x");
    n.kind = 9;
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n.kind = DOPPEL_NOTE_END;
    n.reason = DOPPEL_STR("Not-A-Word");
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n.reason = DOPPEL_STR("");
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n.reason = DOPPEL_STR("much_too_long_reason");
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    n = sent("ok", "1", "message", "x");
    n.size = 8;
    assert_int_equal(dp_engine_journal_note(e, &n), -EINVAL);
    assert_int_equal(dp_engine_journal_note(e, NULL), -EINVAL);
    json_t *out = list(e, NULL);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation_in_out_end),
        cmocka_unit_test(test_plain_request_unchanged),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_list_by_connection),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
