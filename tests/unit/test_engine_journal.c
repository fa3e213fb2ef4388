/* The journal and the unmatched list keep each namespace's history apart:
 * traffic in one namespace past its share never evicts another's entries,
 * memory stays under journal_bytes_max whatever the number of namespaces,
 * and reads (one namespace, or all merged) are newest first with paging. */
#include "test_engine_util.h"

#include "engine/engine_internal.h"

#define OKR "\"response\":{\"status\":200}"

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

static void hit(dp_engine_t *e, const char *ns, const char *path, const char *q)
{
    dp_engine_reply_free(t_match(
        e, REQ(.ns = ns, .path = path, .q = {"i", q}, .body = "payload")));
}

static json_t *list(dp_engine_t *e, int unmatched, const char *ns,
                    size_t offset, size_t limit)
{
    json_t *out = NULL;
    if (unmatched)
        assert_int_equal(dp_engine_unmatched(e, ns, offset, limit, &out), 0);
    else
        assert_int_equal(dp_engine_journal(e, ns, offset, limit, &out), 0);
    return out;
}

static size_t total(dp_engine_t *e, int unmatched, const char *ns)
{
    json_t *out = list(e, unmatched, ns, 0, 0);
    size_t n = (size_t)json_integer_value(json_object_get(out, "total"));
    json_decref(out);
    return n;
}

static const char *item_q(json_t *out, size_t i)
{
    json_t *it = json_array_get(json_object_get(out, "items"), i);
    return json_string_value(
        json_object_get(json_object_get(it, "query"), "i"));
}

static void test_flood_in_one_namespace_keeps_the_others(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(5, 0);
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/x\"}," OKR "}");
    t_put(e, "{\"namespace\":\"b\",\"http\":{\"route\":\"/x\"}," OKR "}");
    hit(e, "b", "/x", "b1");
    hit(e, "b", "/x", "b2");
    hit(e, "b", "/missing", "bm");
    for (int i = 0; i < 100; i++) {
        char q[16];
        snprintf(q, sizeof(q), "a%d", i);
        hit(e, "a", "/x", q);
        hit(e, "a", "/missing", q);
    }
    assert_int_equal(total(e, 0, "a"), 5);
    assert_int_equal(total(e, 0, "b"), 2);
    assert_int_equal(total(e, 1, "a"), 5);
    assert_int_equal(total(e, 1, "b"), 1);
    json_t *out = list(e, 0, "b", 0, 0);
    assert_string_equal(item_q(out, 0), "b2");
    assert_string_equal(item_q(out, 1), "b1");
    json_decref(out);
    out = list(e, 1, "b", 0, 0);
    assert_string_equal(item_q(out, 0), "bm");
    json_decref(out);
    /* a kept its newest five */
    out = list(e, 0, "a", 0, 0);
    assert_string_equal(item_q(out, 0), "a99");
    assert_string_equal(item_q(out, 4), "a95");
    json_decref(out);
    dp_engine_close(e);
}

/* Past the memory bound the namespace holding the most gives way: one
 * namespace's flood is cut back, a small namespace keeps every entry. */
static void test_memory_bound_cuts_the_largest(void **state)
{
    (void)state;
    const size_t max = 128 * 1024;
    dp_engine_t *e = open_journal(100000, max);
    t_put(e, "{\"namespace\":\"a\",\"http\":{\"route\":\"/x\"}," OKR "}");
    t_put(e, "{\"namespace\":\"b\",\"http\":{\"route\":\"/x\"}," OKR "}");
    for (int i = 0; i < 10; i++)
        hit(e, "b", "/x", "b");
    for (int i = 0; i < 5000; i++)
        hit(e, "a", "/x", "a");
    assert_int_equal(total(e, 0, "b"), 10);
    size_t na = total(e, 0, "a");
    assert_true(na > 100 && na < 5000);
    size_t nns = 0;
    assert_true(dp_ring_bytes(&e->journal, &nns) <= max);
    assert_int_equal(nns, 2);
    dp_engine_close(e);
}

/* Thousands of namespaces with one entry each (anonymous traffic can name
 * any namespace): the bound holds, rings and all. */
static void test_memory_bound_over_many_namespaces(void **state)
{
    (void)state;
    const size_t max = 256 * 1024;
    dp_engine_t *e = open_journal(10000, max);
    for (int i = 0; i < 20000; i++) {
        char ns[32];
        snprintf(ns, sizeof(ns), "n%d", i);
        hit(e, ns, "/missing", "x");
    }
    size_t nns = 0;
    size_t b = dp_ring_bytes(&e->unmatched, &nns);
    assert_true(b <= max);
    assert_true(nns > 100 && nns < 20000);
    /* the newest survive */
    assert_int_equal(total(e, 1, "n19999"), 1);
    assert_int_equal(total(e, 1, "n0"), 0);
    /* clearing frees every ring */
    dp_engine_unmatched_clear(e, NULL);
    assert_int_equal(dp_ring_bytes(&e->unmatched, &nns), 0);
    assert_int_equal(nns, 0);
    dp_engine_close(e);
}

/* Reads over every namespace merge the rings in arrival order, newest
 * first, with offset / limit / hasMore as before. */
static void test_merged_reads_newest_first_with_paging(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(100, 0);
    const char *seq[] = {"a", "b", "c", "a", "a", "c", "b", "a", "c", "b"};
    for (size_t i = 0; i < 10; i++) {
        char q[8];
        snprintf(q, sizeof(q), "%zu", i);
        hit(e, seq[i], "/missing", q);
    }
    json_t *out = list(e, 1, NULL, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 10);
    for (size_t i = 0; i < 10; i++) {
        char q[8];
        snprintf(q, sizeof(q), "%zu", 9 - i);
        assert_string_equal(item_q(out, i), q);
    }
    json_decref(out);
    out = list(e, 1, NULL, 3, 4);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 4);
    assert_string_equal(item_q(out, 0), "6");
    assert_string_equal(item_q(out, 3), "3");
    assert_true(json_is_true(json_object_get(out, "hasMore")));
    json_decref(out);
    out = list(e, 1, NULL, 8, 4);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    assert_false(json_is_true(json_object_get(out, "hasMore")));
    json_decref(out);
    /* one namespace */
    out = list(e, 1, "a", 1, 2);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    assert_string_equal(item_q(out, 0), "4");
    assert_string_equal(item_q(out, 1), "3");
    assert_true(json_is_true(json_object_get(out, "hasMore")));
    json_decref(out);
    out = list(e, 1, "nobody", 0, 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    /* clearing one namespace leaves the others in order */
    dp_engine_unmatched_clear(e, "c");
    out = list(e, 1, NULL, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 7);
    assert_string_equal(item_q(out, 0), "9");
    assert_string_equal(item_q(out, 1), "7");
    assert_string_equal(item_q(out, 6), "0");
    json_decref(out);
    dp_engine_close(e);
}

/* A share of one entry: each push replaces the namespace's only entry. */
static void test_share_of_one(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(1, 0);
    hit(e, "a", "/missing", "1");
    hit(e, "a", "/missing", "2");
    hit(e, "b", "/missing", "3");
    json_t *out = list(e, 1, NULL, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    assert_string_equal(item_q(out, 0), "3");
    assert_string_equal(item_q(out, 1), "2");
    json_decref(out);
    dp_engine_close(e);
}

/* An exchange of path /x in namespace s, naming server (NULL: none), with
 * x.size as a plugin built against an ABI of that exchange size sets it. */
static void hit_server(dp_engine_t *e, const char *path, const char *server,
                       size_t size)
{
    doppel_exchange_t x = {0};
    x.size = (uint32_t)size;
    x.protocol = DOPPEL_STR("http");
    x.ns = DOPPEL_STR("s");
    x.operation = DOPPEL_STR("POST");
    x.target = (doppel_str_t){path, strlen(path)};
    if (server)
        x.server = (doppel_str_t){server, strlen(server)};
    doppel_reply_t *out = NULL;
    assert_int_equal(dp_engine_match(e, &x, &out), 0);
    dp_engine_reply_free(out);
}

/* The newest entry's "server", or NULL when it has none. */
static const char *newest_server(dp_engine_t *e, int unmatched, json_t **keep)
{
    *keep = list(e, unmatched, "s", 0, 1);
    json_t *it = json_array_get(json_object_get(*keep, "items"), 0);
    assert_non_null(it);
    return json_string_value(json_object_get(it, "server"));
}

/* The server the exchange names (the SOAP service, the MCP serverName) is
 * kept in the entry, so that a mock can be made from an unmatched one;
 * an exchange without one, or from a plugin whose exchange ends before the
 * field, lists none (and is not read past its size). */
static void test_entry_names_the_exchange_server(void **state)
{
    (void)state;
    dp_engine_t *e = open_journal(10, 0);
    json_t *keep = NULL;
    const size_t full = sizeof(doppel_exchange_t);
    const size_t old = offsetof(doppel_exchange_t, server);

    hit_server(e, "/missing", "OrderService", full);
    assert_string_equal(newest_server(e, 1, &keep), "OrderService");
    json_decref(keep);

    hit_server(e, "/missing", NULL, full);
    assert_null(newest_server(e, 1, &keep));
    json_decref(keep);

    hit_server(e, "/missing", "", full);
    assert_null(newest_server(e, 1, &keep));
    json_decref(keep);

    /* a server beyond the exchange's size is not the plugin's: ignored */
    hit_server(e, "/missing", "Stale", old);
    assert_null(newest_server(e, 1, &keep));
    json_decref(keep);

    /* matched requests keep it in the journal the same way */
    t_put(e, "{\"namespace\":\"s\",\"http\":{\"route\":\"/x\","
             "\"httpMethod\":\"POST\"}," OKR "}");
    hit_server(e, "/x", "BillingService", full);
    assert_string_equal(newest_server(e, 0, &keep), "BillingService");
    json_decref(keep);

    /* and by id, as create-mock reads it */
    json_t *u = list(e, 1, "s", 3, 1); /* the first miss, oldest */
    const char *id = json_string_value(json_object_get(
        json_array_get(json_object_get(u, "items"), 0), "id"));
    json_t *got = NULL;
    assert_int_equal(dp_engine_unmatched_get(e, id, &got), 0);
    assert_string_equal(json_string_value(json_object_get(got, "server")),
                        "OrderService");
    json_decref(got);
    json_decref(u);
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_in_one_namespace_keeps_the_others),
        cmocka_unit_test(test_memory_bound_cuts_the_largest),
        cmocka_unit_test(test_memory_bound_over_many_namespaces),
        cmocka_unit_test(test_merged_reads_newest_first_with_paging),
        cmocka_unit_test(test_share_of_one),
        cmocka_unit_test(test_entry_names_the_exchange_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
