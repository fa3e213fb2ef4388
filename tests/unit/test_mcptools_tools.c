/* The MCP control server's tools (plugins/mcp/mcp_tools.c, in
 * dp_mcptools) against a fake host: which REST request each tool makes (method,
 * target, credential, body), how the namespace is chosen, how hostile ids
 * and namespaces are encoded or refused, and how the API's answers become
 * CallToolResults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>

#include "mcp_internal.h"

/* What http_request shows of a body at most (mcp_tools.c). */
#define TEXT_BODY_MAX (256u << 10)

/* ---- A fake host -------------------------------------------------------- */

struct mcp_inst {
    int unused;
};

typedef struct sent {
    int calls; /* admin_call + http_fetch calls */
    int fetch; /* the last one was http_fetch */
    char method[16];
    char url[4096];
    char headers[1024]; /* "Name: value\n" each */
    char *body;
    size_t body_len;
    uint32_t timeout_ms;
    doppel_fetch_cb cb;
    void *data;
} sent_t;

static sent_t sent;
static int sync_rc;    /* what admin_call / http_fetch return */
static json_t *result; /* the last CallToolResult */
static int done_calls;
static doppel_services_t svc;
static struct mcp_inst inst;

static void record(const doppel_fetch_t *req, doppel_fetch_cb cb, void *data,
                   int fetch)
{
    sent.calls++;
    sent.fetch = fetch;
    snprintf(sent.method, sizeof(sent.method), "%.*s", (int)req->method.len,
             req->method.ptr);
    snprintf(sent.url, sizeof(sent.url), "%.*s", (int)req->url.len,
             req->url.ptr);
    sent.headers[0] = '\0';
    for (size_t i = 0; i < req->n_headers; i++) {
        size_t used = strlen(sent.headers);
        snprintf(sent.headers + used, sizeof(sent.headers) - used,
                 "%.*s: %.*s\n", (int)req->headers[i].name.len,
                 req->headers[i].name.ptr, (int)req->headers[i].value.len,
                 req->headers[i].value.ptr);
    }
    free(sent.body);
    sent.body = NULL;
    sent.body_len = req->body_len;
    if (req->body != NULL) {
        sent.body = malloc(req->body_len + 1);
        memcpy(sent.body, req->body, req->body_len);
        sent.body[req->body_len] = '\0';
    }
    sent.timeout_ms = req->timeout_ms;
    sent.cb = cb;
    sent.data = data;
}

static int fake_admin_call(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                           doppel_fetch_cb cb, void *data)
{
    assert_ptr_equal(ctx, (doppel_ctx_t *)&inst);
    record(req, cb, data, 0);
    return sync_rc;
}

static int fake_http_fetch(doppel_ctx_t *ctx, const doppel_fetch_t *req,
                           doppel_fetch_cb cb, void *data)
{
    record(req, cb, data, 1);
    return sync_rc;
}

doppel_ctx_t *mcp_inst_ctx(mcp_inst_t *i)
{
    return (doppel_ctx_t *)i;
}

const doppel_services_t *mcp_inst_svc(mcp_inst_t *i)
{
    return &svc;
}

static void on_done(void *data, json_t *res)
{
    assert_ptr_equal(data, &done_calls);
    done_calls++;
    json_decref(result);
    result = res;
}

static int setup(void **state)
{
    memset(&svc, 0, sizeof(svc));
    svc.size = sizeof(svc);
    svc.abi_major = DOPPEL_ABI_MAJOR;
    svc.abi_minor = DOPPEL_ABI_MINOR;
    svc.admin_call = fake_admin_call;
    svc.http_fetch = fake_http_fetch;
    free(sent.body);
    memset(&sent, 0, sizeof(sent));
    sync_rc = 0;
    done_calls = 0;
    json_decref(result);
    result = NULL;
    return 0;
}

static int teardown(void **state)
{
    free(sent.body);
    sent.body = NULL;
    json_decref(result);
    result = NULL;
    return 0;
}

static const mcp_caller_t admin_who = {
    .credential = {DOPPEL_STR("X-API-Key"), DOPPEL_STR("mk_secret")},
};

/* Calls a tool with arguments as JSON text (NULL: none). */
static int call_as(const mcp_caller_t *who, const char *name, const char *args,
                   const char **why)
{
    json_t *a = NULL;
    if (args != NULL) {
        json_error_t je;
        a = json_loads(args, JSON_ALLOW_NUL, &je);
        if (a == NULL)
            fail_msg("bad JSON in test: %s", args);
    }
    const char *w = NULL;
    int rc = mcp_tool_call(&inst, who, name, a, on_done, &done_calls, &w);
    if (why != NULL)
        *why = w;
    json_decref(a);
    return rc;
}

static int call(const char *name, const char *args)
{
    return call_as(&admin_who, name, args, NULL);
}

/* Answers the pending request as the API would. */
static void answer(int status, const char *body)
{
    assert_non_null(sent.cb);
    doppel_fetch_result_t r = {
        .size = sizeof(r),
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    doppel_fetch_cb cb = sent.cb;
    sent.cb = NULL;
    cb(sent.data, 0, &r);
}

static int is_error(void)
{
    assert_non_null(result);
    return json_is_true(json_object_get(result, "isError"));
}

static const char *result_text(void)
{
    json_t *c = json_array_get(json_object_get(result, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "text");
    return json_string_value(json_object_get(c, "text"));
}

static json_t *structured(void)
{
    json_t *s = json_object_get(result, "structuredContent");
    assert_true(json_is_object(s));
    return s;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* ---- tools/list --------------------------------------------------------- */

static void test_list(void **state)
{
    static const char *const expected[] = {"list_mocks",
                                           "get_mock",
                                           "create_mock",
                                           "create_mock_from_unmatched",
                                           "update_mock",
                                           "delete_mock",
                                           "list_services",
                                           "test_mock",
                                           "list_namespaces",
                                           "get_store",
                                           "set_store",
                                           "delete_store",
                                           "get_requests",
                                           "get_unmatched",
                                           "get_coverage",
                                           "get_mode",
                                           "set_mode",
                                           "validate_mock",
                                           "render_template",
                                           "put_schema",
                                           "list_schemas",
                                           "get_schema",
                                           "delete_schema",
                                           "describe_protocol",
                                           "protocol_action",
                                           "http_request",
                                           NULL};
    json_t *list = mcp_tools_list();
    assert_non_null(list);
    size_t n = 0;
    while (expected[n])
        n++;
    assert_int_equal(json_array_size(list), n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(list, i);
        assert_string_equal(json_string_value(json_object_get(t, "name")),
                            expected[i]);
        assert_true(json_string_length(json_object_get(t, "title")) > 0);
        assert_true(json_string_length(json_object_get(t, "description")) > 40);
        json_t *s = json_object_get(t, "inputSchema");
        assert_string_equal(json_string_value(json_object_get(s, "type")),
                            "object");
        assert_true(json_is_false(json_object_get(s, "additionalProperties")));
        const char *k;
        json_t *p;
        json_object_foreach(json_object_get(s, "properties"), k, p)
        {
            if (json_string_length(json_object_get(p, "description")) == 0)
                fail_msg("%s.%s has no description", expected[i], k);
        }
        json_t *a = json_object_get(t, "annotations");
        assert_true(json_is_boolean(json_object_get(a, "readOnlyHint")));
        assert_true(json_is_boolean(json_object_get(a, "destructiveHint")));
        assert_true(json_is_boolean(json_object_get(a, "idempotentHint")));
        assert_true(json_is_boolean(json_object_get(a, "openWorldHint")));
        /* Read-only tools are never destructive. */
        assert_false(json_is_true(json_object_get(a, "readOnlyHint")) &&
                     json_is_true(json_object_get(a, "destructiveHint")));
    }
    json_t *hr = json_array_get(list, n - 1);
    assert_true(json_is_true(
        json_object_get(json_object_get(hr, "annotations"), "openWorldHint")));
    json_decref(list);
}

/* ---- Arguments ---------------------------------------------------------- */

/* The names and argument shapes of other control servers: which REST
 * request each becomes. */
static void test_compat_requests(void **state)
{
    assert_int_equal(call("list_mocks", "{\"namespace\": \"shop\", "
                                        "\"method\": \"GET\", \"service_ids\": "
                                        "[\"a\", \"b.c\"], \"limit\": 1000}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/mocks?namespace=shop&limit=1000&"
                                  "method=GET&service=a%2Cb%2Ec");
    answer(200, "{\"items\": [], \"total\": 0}");

    assert_int_equal(call("create_mock",
                          "{\"request_method\": \"PUT\", \"request_uri\": "
                          "\"/u/:id?a=%41+b\", \"response_status\": 204, "
                          "\"response_headers\": {\"X\": \"1\"}}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/mocks");
    assert_string_equal(sent.body,
                        "{\"http\":{\"route\":\"/u/:id\",\"queryParams\":{"
                        "\"a\":\"A b\"},\"httpMethod\":\"PUT\"},\"response\":{"
                        "\"statusCode\":204,\"headers\":{\"X\":\"1\"}}}");
    answer(201, "{\"mock\": {\"id\": \"x\"}}");

    assert_int_equal(call("create_mock",
                          "{\"route\": \"/r\", \"responseHttp\": "
                          "{\"code\": 200, \"body\": [1]}}"),
                     0);
    assert_string_equal(sent.body, "{\"http\":{\"route\":\"/r\"},\"response\":"
                                   "{\"statusCode\":200,\"payload\":[1]}}");
    answer(201, "{\"mock\": {\"id\": \"y\"}}");

    assert_int_equal(call("list_services", "{\"namespace\": \"shop\"}"), 0);
    assert_string_equal(sent.method, "GET");
    assert_string_equal(sent.url, "/api/v1/services?namespace=shop");
    answer(200, "{\"items\": []}");

    assert_int_equal(call("create_mock_from_unmatched",
                          "{\"id\": \"../17\", \"tags\": [\"t\"]}"),
                     0);
    assert_string_equal(sent.method, "POST");
    assert_string_equal(sent.url,
                        "/api/v1/undefined-requests/%2E%2E%2F17/create-mock");
    assert_string_equal(sent.body, "{\"tags\":[\"t\"]}");
    answer(201, "{\"mock\": {}}");

    /* Mixed or missing shapes never reach the API. */
    int before = sent.calls;
    assert_int_equal(call("create_mock", "{\"route\": \"/r\", "
                                         "\"request_uri\": \"/r\"}"),
                     -EINVAL);
    assert_int_equal(call("create_mock", "{\"namespace\": \"a\"}"), -EINVAL);
    assert_int_equal(call("create_mock", "{\"request_uri\": \"/r?=1\"}"),
                     -EINVAL);
    assert_int_equal(call("list_mocks", "{\"service_ids\": [\"a b\"]}"),
                     -EINVAL);
    assert_int_equal(sent.calls, before);
}

static void test_bad_arguments(void **state)
{
    const char *why = NULL;
    assert_int_equal(call_as(&admin_who, "no_such_tool", "{}", &why), -ENOENT);
    assert_int_equal(call_as(&admin_who, NULL, "{}", &why), -ENOENT);
    static const struct {
        const char *tool, *args, *why;
    } bad[] = {
        {"get_mock", "{}", "required"},
        {"get_mock", NULL, "required"},
        {"get_mock", "{\"id\": 5}", "wrong type"},
        {"get_mock", "{\"id\": \"\"}", "too short"},
        {"get_mock", "{\"id\": \"a\", \"namespace\": \"x\"}", "unknown"},
        {"list_mocks", "{\"limit\": 0}", "minimum"},
        {"list_mocks", "{\"limit\": 1001}", "maximum"},
        {"list_mocks", "{\"offset\": -1}", "minimum"},
        {"list_mocks", "{\"includeClosed\": \"yes\"}", "wrong type"},
        {"create_mock", "{\"mock\": []}", "wrong type"},
        {"create_mock", "{\"mock\": {}, \"namespace\": 7}", "wrong type"},
        {"update_mock", "{\"id\": \"a\"}", "required"},
        {"set_store", "{\"scope\": \"global\", \"key\": \"k\"}", "required"},
        {"get_store", "{\"scope\": \"local\"}", "enum"},
        {"get_store", "{\"scope\": \"chain\"}", "chain"},
        {"get_store", "{\"scope\": \"global\", \"chain\": \"c\"}", "chain"},
        {"set_mode", "{\"mode\": \"learn\"}", "enum"},
        {"http_request", "{\"url\": \"ftp://example.com/x\"}", "http"},
        {"http_request",
         "{\"url\": \"http://x.example\", \"headers\": "
         "{\"A\": 1}}",
         "wrong type"},
        {"http_request", "{\"url\": \"http://x.example\", \"timeoutMs\": 0}",
         "minimum"},
        {"list_namespaces", "{\"x\": 1}", "unknown"},
        /* A NUL would cut the id short in a C string: "a" is another mock. */
        {"get_mock", "{\"id\": \"a\\u0000b\"}", "NUL"},
        {"http_request",
         "{\"url\": \"http://x.example\", \"headers\": "
         "{\"A\": \"1\\u0000\"}}",
         "NUL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        int rc = call_as(&admin_who, bad[i].tool, bad[i].args, &why);
        if (rc != -EINVAL)
            fail_msg("%s %s: rc %d, expected -EINVAL", bad[i].tool,
                     bad[i].args ? bad[i].args : "(none)", rc);
        assert_contains(why, bad[i].why);
    }
    /* No request went out and nobody was called back. */
    assert_int_equal(sent.calls, 0);
    assert_int_equal(done_calls, 0);

    /* Too long: over the id's maxLength. */
    char big[400];
    char id[300];
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(big, sizeof(big), "{\"id\": \"%s\"}", id);
    assert_int_equal(call_as(&admin_who, "get_mock", big, &why), -EINVAL);
    assert_contains(why, "too long");
    assert_int_equal(sent.calls, 0);
}

/* ---- Requests ----------------------------------------------------------- */

static void test_namespace_order(void **state)
{
    mcp_caller_t who = admin_who;
    who.ns_header = "hdr";
    who.pinned_ns = "pin";
    who.first_ns = "first";
    assert_int_equal(
        call_as(&who, "list_mocks", "{\"namespace\": \"arg\"}", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/mocks?namespace=arg");
    answer(200, "{\"items\": []}");
    assert_int_equal(call_as(&who, "list_mocks", "{}", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/mocks?namespace=hdr");
    answer(200, "{\"items\": []}");
    who.ns_header = NULL;
    assert_int_equal(call_as(&who, "get_requests", "{}", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/requests?namespace=pin");
    answer(200, "{\"items\": []}");
    who.pinned_ns = NULL;
    assert_int_equal(call_as(&who, "get_unmatched", "{\"limit\": 5}", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/unmatched?namespace=first&limit=5");
    answer(200, "{\"items\": []}");
    who.first_ns = NULL;
    /* Nothing resolves (local mode): no namespace, every namespace. */
    assert_int_equal(call_as(&who, "list_mocks", "{}", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/mocks");
    answer(200, "{\"items\": []}");
    assert_int_equal(done_calls, 5);

    /* The mock's own namespace counts as given explicitly. */
    who.ns_header = "hdr";
    assert_int_equal(call_as(&who, "create_mock",
                             "{\"mock\": {\"namespace\": \"own\"}}", NULL),
                     0);
    assert_string_equal(sent.url, "/api/v1/mocks?namespace=own");
    answer(201, "{\"overwritten\": false, \"mock\": {\"id\": \"m\"}}");
    assert_false(is_error());
}

static void test_requests(void **state)
{
    assert_int_equal(call("list_mocks",
                          "{\"namespace\": \"shop\", \"tag\": \"a b,c\", "
                          "\"search\": \"/orders?x=1&y\", \"includeClosed\": "
                          "true, \"offset\": 10, \"limit\": 20}"),
                     0);
    assert_string_equal(sent.method, "GET");
    assert_string_equal(sent.url,
                        "/api/v1/mocks?namespace=shop&tags=a%20b%2Cc&search="
                        "%2Forders%3Fx%3D1%26y&includeClosed=true&offset=10&"
                        "limit=20");
    assert_string_equal(sent.headers, "X-API-Key: mk_secret\n");
    assert_null(sent.body);
    answer(200, "{\"items\": [], \"total\": 0}");

    assert_int_equal(call("create_mock", "{\"mock\": {\"http\": {\"route\": "
                                         "\"/a\"}}, \"namespace\": \"shop\"}"),
                     0);
    assert_string_equal(sent.method, "POST");
    assert_string_equal(sent.url, "/api/v1/mocks?namespace=shop");
    assert_string_equal(sent.body, "{\"http\":{\"route\":\"/a\"}}");
    assert_contains(sent.headers, "Content-Type: application/json\n");
    answer(201, "{\"mock\": {\"id\": \"x\"}}");

    assert_int_equal(call("update_mock", "{\"id\": \"m1\", \"patch\": "
                                         "{\"tags\": null}}"),
                     0);
    assert_string_equal(sent.method, "PATCH");
    assert_string_equal(sent.url, "/api/v1/mocks/m1");
    assert_string_equal(sent.body, "{\"tags\":null}");
    answer(200, "{\"id\": \"m1\"}");

    assert_int_equal(call("delete_mock", "{\"id\": \"m1\"}"), 0);
    assert_string_equal(sent.method, "DELETE");
    assert_string_equal(sent.url, "/api/v1/mocks/m1");
    answer(200, "{\"id\": \"m1\", \"closedAt\": 1}");
    assert_int_equal(call("delete_mock", "{\"id\": \"m1\", \"purge\": true}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/mocks/m1/purge");
    answer(204, NULL);
    assert_false(is_error());
    assert_true(json_is_true(json_object_get(structured(), "purged")));
    assert_true(json_is_true(json_object_get(structured(), "ok")));

    assert_int_equal(call("list_namespaces", NULL), 0);
    assert_string_equal(sent.url, "/api/v1/namespaces");
    answer(200, "{\"namespaces\": []}");

    assert_int_equal(call("set_store", "{\"scope\": \"chain\", \"chain\": "
                                       "\"c 1\", \"key\": \"k\", \"value\": "
                                       "42, \"namespace\": \"shop\"}"),
                     0);
    assert_string_equal(sent.method, "PUT");
    assert_string_equal(sent.url,
                        "/api/v1/stores/chain/c%201/k?namespace=shop");
    assert_string_equal(sent.body, "42"); /* the value itself */
    answer(200, "42");
    assert_int_equal(json_integer_value(json_object_get(structured(), "value")),
                     42);

    assert_int_equal(call("set_store", "{\"scope\": \"global\", \"key\": "
                                       "\"k\", \"value\": null}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/stores/global/k");
    assert_string_equal(sent.body, "null");
    answer(200, "null");

    assert_int_equal(call("get_store", "{\"scope\": \"global\"}"), 0);
    assert_string_equal(sent.url, "/api/v1/stores/global");
    answer(200, "{}");

    assert_int_equal(call("delete_store", "{\"scope\": \"global\"}"), 0);
    assert_string_equal(sent.method, "DELETE");
    assert_string_equal(sent.url, "/api/v1/stores/global");
    answer(204, NULL);
    assert_string_equal(
        json_string_value(json_object_get(structured(), "deleted")),
        "whole store");

    assert_int_equal(call("get_coverage", "{\"service\": \"pay\"}"), 0);
    assert_string_equal(sent.url, "/api/v1/coverage?service=pay");
    answer(200, "{\"items\": []}");

    assert_int_equal(call("set_mode", "{\"mode\": \"LEARN\"}"), 0);
    assert_string_equal(sent.method, "PUT");
    assert_string_equal(sent.url, "/api/v1/mode");
    assert_string_equal(sent.body, "{\"mode\":\"LEARN\"}");
    answer(200, "{\"mode\": \"LEARN\"}");
    assert_int_equal(call("set_mode", "{\"mode\": \"MOCK\", \"service\": "
                                      "\"a/b\", \"namespace\": \"n\"}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/services/a%2Fb/mode?namespace=n");
    answer(200, "{\"mode\": \"MOCK\"}");
    assert_int_equal(call("get_mode", "{\"service\": \"pay\"}"), 0);
    assert_string_equal(sent.method, "GET");
    assert_string_equal(sent.url, "/api/v1/services/pay");
    answer(200, "{\"name\": \"pay\", \"mode\": \"SPY\"}");
    assert_int_equal(call("get_mode", "{}"), 0);
    assert_string_equal(sent.url, "/api/v1/mode");
    answer(200, "{\"mode\": \"SPY\"}");

    assert_int_equal(call("render_template", "{\"template\": \"Hi "
                                             "$.query.n\", \"request\": "
                                             "{\"query\": {\"n\": \"A\"}}}"),
                     0);
    assert_string_equal(sent.method, "POST");
    assert_string_equal(sent.url, "/api/v1/templates/render");
    json_error_t je;
    json_t *b = json_loads(sent.body, 0, &je);
    json_t *want = json_pack("{s:s,s:{s:{s:s}}}", "template", "Hi $.query.n",
                             "request", "query", "n", "A");
    assert_true(json_equal(b, want));
    json_decref(b);
    json_decref(want);
    answer(200, "{\"result\": \"Hi A\"}");
    assert_int_equal(done_calls, 16);
}

/* Ids, keys and names become one percent-encoded path segment each: no
 * slash, dot segment, query or fragment can leak into the target. */
static void test_hostile_ids(void **state)
{
    static const struct {
        const char *args, *url;
    } cases[] = {
        {"{\"id\": \"a/b%c?d#e f\"}", "/api/v1/mocks/a%2Fb%25c%3Fd%23e%20f"},
        {"{\"id\": \"..\"}", "/api/v1/mocks/%2E%2E"},
        {"{\"id\": \"../../namespaces\"}",
         "/api/v1/mocks/%2E%2E%2F%2E%2E%2Fnamespaces"},
        {"{\"id\": \"\\u00e9\\r\\n\"}", "/api/v1/mocks/%C3%A9%0D%0A"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(call("get_mock", cases[i].args), 0);
        assert_string_equal(sent.url, cases[i].url);
        answer(404, "{\"error\": \"no mock\", \"code\": \"not_found\"}");
        assert_true(is_error());
        assert_contains(result_text(), "list_mocks");
    }
    assert_int_equal(call("get_store", "{\"scope\": \"chain\", \"chain\": "
                                       "\"../x\", \"key\": \"a/b\"}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/stores/chain/%2E%2E%2Fx/a%2Fb");
    answer(200, "1");
}

static void test_bad_namespaces(void **state)
{
    /* A namespace that breaks the name rule never reaches a URL. */
    static const char *const bad[] = {
        "{\"namespace\": \"a/b\"}",
        "{\"namespace\": \"a b\"}",
        "{\"namespace\": \"x?y=1\"}",
        "{\"namespace\": \"\\u00e9\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int before = done_calls;
        assert_int_equal(call("list_mocks", bad[i]), 0);
        assert_int_equal(done_calls, before + 1);
        assert_true(is_error());
        assert_contains(result_text(), "invalid namespace");
        assert_contains(result_text(), "the tool's namespace argument");
    }
    mcp_caller_t who = admin_who;
    who.ns_header = "../etc";
    assert_int_equal(call_as(&who, "get_requests", "{}", NULL), 0);
    assert_true(is_error());
    assert_contains(result_text(), "X-Doppel-Namespace");
    /* Argument and the mock's own field disagree. */
    assert_int_equal(call("create_mock", "{\"namespace\": \"a\", \"mock\": "
                                         "{\"namespace\": \"b\"}}"),
                     0);
    assert_true(is_error());
    assert_contains(result_text(), "differ");
    /* 65 characters: over the limit. */
    char args[128];
    snprintf(args, sizeof(args), "{\"namespace\": \"%065d\"}", 0);
    int rc = call("get_requests", args);
    assert_true(rc == -EINVAL || (rc == 0 && is_error()));
    assert_int_equal(sent.calls, 0);
}

/* ---- Answers ------------------------------------------------------------ */

static void test_answers(void **state)
{
    /* An array is wrapped; the text is the API's JSON. */
    assert_int_equal(call("list_namespaces", "{}"), 0);
    answer(200, "[1,2]");
    assert_false(is_error());
    assert_string_equal(result_text(), "[1,2]");
    assert_int_equal(json_array_size(json_object_get(structured(), "items")),
                     2);

    /* 403: the API's message, the namespace and where it came from. */
    mcp_caller_t who = admin_who;
    who.pinned_ns = "team-a";
    assert_int_equal(call_as(&who, "create_mock", "{\"mock\": {}}", NULL), 0);
    answer(403, "{\"error\": \"mocks.create in namespace 'team-a' needs role "
                "editor\", \"code\": \"forbidden\", \"request_id\": \"r\"}");
    assert_true(is_error());
    assert_contains(result_text(), "needs role editor");
    assert_contains(result_text(), "HTTP 403");
    assert_contains(result_text(), "pinned");
    assert_string_equal(
        json_string_value(json_object_get(structured(), "namespace")),
        "team-a");

    /* 400 on create: the field and the validate_mock hint. */
    assert_int_equal(call("create_mock", "{\"mock\": {}}"), 0);
    answer(400, "{\"error\": \"must start with '/'\", \"code\": "
                "\"validation\", \"field\": \"http.route\"}");
    assert_true(is_error());
    assert_contains(result_text(), "field: http.route");
    assert_contains(result_text(), "validate_mock");

    /* validate_mock: a refusal is the answer, not a failure. */
    assert_int_equal(call("validate_mock", "{\"mock\": {}}"), 0);
    assert_string_equal(sent.url, "/api/v1/mocks/validate");
    answer(400, "{\"error\": \"must start with '/'\", \"code\": "
                "\"validation\", \"field\": \"http.route\", \"request_id\": "
                "\"r\"}");
    assert_false(is_error());
    json_t *s = structured();
    assert_true(json_is_false(json_object_get(s, "valid")));
    json_t *e0 = json_array_get(json_object_get(s, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "field")),
                        "http.route");
    assert_null(json_object_get(e0, "request_id"));
    /* An accepted dry run is valid, whatever else the API says. */
    assert_int_equal(call("validate_mock", "{\"mock\": {}}"), 0);
    answer(200, "{\"mock\": {}}");
    assert_false(is_error());
    assert_true(json_is_true(json_object_get(structured(), "valid")));

    /* An endpoint this build lacks. */
    assert_int_equal(call("get_coverage", "{}"), 0);
    answer(404, "{\"error\": \"no admin endpoint GET /api/v1/coverage\", "
                "\"code\": \"not_found\"}");
    assert_true(is_error());
    assert_contains(result_text(), "does not offer");

    /* A body that is not JSON. */
    assert_int_equal(call("list_mocks", "{}"), 0);
    answer(413, "payload too large");
    assert_true(is_error());
    assert_contains(result_text(), "payload too large");
    assert_contains(result_text(), "max_body_bytes");

    /* admin_call refuses synchronously: still one result, at once. */
    sync_rc = -ECANCELED;
    int before = done_calls;
    assert_int_equal(call("get_mock", "{\"id\": \"x\"}"), 0);
    assert_int_equal(done_calls, before + 1);
    assert_true(is_error());

    /* The callback reports a failure. */
    sync_rc = 0;
    assert_int_equal(call("get_mock", "{\"id\": \"x\"}"), 0);
    doppel_fetch_result_t r = {.size = sizeof(r)};
    sent.cb(sent.data, -ECANCELED, &r);
    assert_true(is_error());

    /* No credential (local mode): no header is invented. */
    mcp_caller_t anon = {0};
    assert_int_equal(call_as(&anon, "list_mocks", "{}", NULL), 0);
    assert_string_equal(sent.headers, "");
    answer(200, "{}");

    /* A host without the admin service. */
    svc.size = offsetof(doppel_services_t, engine_record);
    assert_int_equal(call("list_mocks", "{}"), 0);
    assert_true(is_error());
    assert_contains(result_text(), "admin API");
}

/* ---- http_request ------------------------------------------------------- */

static void test_http_request(void **state)
{
    assert_int_equal(call("http_request",
                          "{\"url\": \"http://127.0.0.1:9/x\", \"method\": "
                          "\"POST\", \"headers\": {\"X-A\": \"1\"}, \"body\": "
                          "\"hi\", \"timeoutMs\": 1500}"),
                     0);
    assert_true(sent.fetch);
    assert_string_equal(sent.method, "POST");
    assert_string_equal(sent.url, "http://127.0.0.1:9/x");
    /* The caller's token never leaves for a third party. */
    assert_string_equal(sent.headers, "X-A: 1\n");
    assert_string_equal(sent.body, "hi");
    assert_int_equal(sent.timeout_ms, 1500);
    doppel_fetch_result_t r = {
        .size = sizeof(r),
        .error = DOPPEL_STR("127.0.0.1 is a loopback address; outbound "
                            "requests to internal addresses are refused"),
    };
    sent.cb(sent.data, -EACCES, &r);
    assert_true(is_error());
    assert_contains(result_text(), "loopback address");
    assert_contains(result_text(), "ALLOW_PROXY_TO_PRIVATE_IPS=true");
    assert_contains(result_text(), "allow_private_upstreams");

    /* A JSON answer, repeated headers joined. */
    assert_int_equal(call("http_request", "{\"url\": \"https://x.example/\"}"),
                     0);
    assert_string_equal(sent.method, "GET");
    doppel_kv_t h[3] = {
        {DOPPEL_STR("Set-Cookie"), DOPPEL_STR("a=1")},
        {DOPPEL_STR("set-cookie"), DOPPEL_STR("b=2")},
        {DOPPEL_STR("Content-Type"), DOPPEL_STR("application/json")},
    };
    r = (doppel_fetch_result_t){.size = sizeof(r),
                                .status = 500,
                                .headers = h,
                                .n_headers = 3,
                                .body = "{\"ok\":false}",
                                .body_len = 12};
    sent.cb(sent.data, 0, &r);
    assert_false(is_error()); /* any HTTP status is a result */
    json_t *s = structured();
    assert_int_equal(json_integer_value(json_object_get(s, "status")), 500);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(s, "headers"), "set-cookie")),
                        "a=1, b=2");
    assert_true(
        json_is_false(json_object_get(json_object_get(s, "json"), "ok")));

    /* Bytes that are not UTF-8 come back as base64. */
    assert_int_equal(call("http_request", "{\"url\": \"http://x.example/\"}"),
                     0);
    r = (doppel_fetch_result_t){.size = sizeof(r),
                                .status = 200,
                                .body = "\xff\x00\x01",
                                .body_len = 3};
    sent.cb(sent.data, 0, &r);
    assert_string_equal(
        json_string_value(json_object_get(structured(), "bodyBase64")), "/wAB");

    /* A body over the shown limit is cut and marked. */
    assert_int_equal(call("http_request", "{\"url\": \"http://x.example/\"}"),
                     0);
    size_t n = TEXT_BODY_MAX + 100;
    char *big = malloc(n);
    memset(big, 'z', n);
    r = (doppel_fetch_result_t){
        .size = sizeof(r), .status = 200, .body = big, .body_len = n};
    sent.cb(sent.data, 0, &r);
    free(big);
    s = structured();
    assert_true(json_is_true(json_object_get(s, "truncated")));
    assert_int_equal(json_string_length(json_object_get(s, "body")),
                     TEXT_BODY_MAX);

    /* The client refuses a header synchronously. */
    sync_rc = -EINVAL;
    assert_int_equal(call("http_request", "{\"url\": \"http://x.example/\", "
                                          "\"headers\": {\"Bad Name\": "
                                          "\"v\"}}"),
                     0);
    assert_true(is_error());
    assert_contains(result_text(), "header");
}

/* A list answer of n items of about `pad` bytes each, from offset off. */
static char *list_body(int n, int pad, int off, int total)
{
    json_t *items = json_array();
    char *x = malloc((size_t)pad + 1);
    memset(x, 'x', (size_t)pad);
    x[pad] = '\0';
    for (int i = 0; i < n; i++)
        json_array_append_new(items,
                              json_pack("{s:i, s:s}", "n", off + i, "body", x));
    free(x);
    json_t *o = json_pack("{s:o, s:i, s:i, s:i, s:b}", "items", items, "total",
                          total, "offset", off, "limit", 1000, "hasMore", 0);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static size_t result_size(void)
{
    return json_dumpb(result, NULL, 0, JSON_COMPACT);
}

static void list_answer_cut_to_the_budget(void **state)
{
    (void)state;
    mcp_caller_t who = admin_who;
    who.answer_max = 16 * 1024;
    /* 50 items of 1 KB: about 100 KB as a result, cut to fit 16 KB */
    assert_int_equal(call_as(&who, "list_mocks", "{\"limit\": 1000}", NULL), 0);
    char *body = list_body(50, 1000, 10, 60);
    answer(200, body);
    free(body);
    assert_int_equal(done_calls, 1);
    assert_false(is_error());
    assert_true(result_size() <= 16 * 1024);
    json_t *sc = structured();
    size_t kept = json_array_size(json_object_get(sc, "items"));
    assert_true(kept > 0 && kept < 50);
    assert_true(json_is_true(json_object_get(sc, "truncated")));
    assert_true(json_is_true(json_object_get(sc, "hasMore")));
    assert_string_equal(json_string_value(json_object_get(sc, "truncatedBy")),
                        "tool_answer_bytes");
    /* the next page starts right after the last item kept */
    assert_int_equal(json_integer_value(json_object_get(sc, "nextOffset")),
                     10 + (json_int_t)kept);
    json_t *last = json_array_get(json_object_get(sc, "items"), kept - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "n")),
                     10 + (json_int_t)kept - 1);
    /* the text part says the same */
    assert_non_null(strstr(result_text(), "\"truncated\":true"));
}

static void answers_within_the_budget_are_untouched(void **state)
{
    (void)state;
    mcp_caller_t who = admin_who;
    who.answer_max = 64 * 1024;
    assert_int_equal(call_as(&who, "list_mocks", NULL, NULL), 0);
    char *body = list_body(5, 1000, 0, 5);
    answer(200, body);
    free(body);
    json_t *sc = structured();
    assert_int_equal(json_array_size(json_object_get(sc, "items")), 5);
    assert_null(json_object_get(sc, "truncated"));
    assert_null(json_object_get(sc, "nextOffset"));
    /* answer_max 0: no limit at all */
    json_decref(result);
    result = NULL;
    assert_int_equal(call(("list_mocks"), NULL), 0);
    body = list_body(200, 1000, 0, 200);
    answer(200, body);
    free(body);
    assert_int_equal(json_array_size(json_object_get(structured(), "items")),
                     200);
}

static void one_item_or_answer_over_the_budget_is_an_error(void **state)
{
    (void)state;
    mcp_caller_t who = admin_who;
    who.answer_max = 4096;
    /* a list whose first item alone is too big */
    assert_int_equal(call_as(&who, "list_mocks", "{\"offset\": 7}", NULL), 0);
    char *body = list_body(3, 5000, 7, 10);
    answer(200, body);
    free(body);
    assert_true(is_error());
    assert_non_null(strstr(result_text(), "offset 7"));
    assert_non_null(strstr(result_text(), "tool_answer_bytes"));
    assert_true(result_size() <= 4096);
    /* an answer that is no list */
    json_decref(result);
    result = NULL;
    assert_int_equal(call_as(&who, "get_mock", "{\"id\": \"m1\"}", NULL), 0);
    char big[9000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *m = json_pack("{s:s, s:s}", "id", "m1", "note", big);
    body = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    answer(200, body);
    free(body);
    assert_true(is_error());
    assert_non_null(strstr(result_text(), "tool_answer_bytes"));
    assert_int_equal(json_integer_value(json_object_get(structured(), "limit")),
                     4096);
    assert_true(result_size() <= 4096);
}

/* ---- Schema files ------------------------------------------------------ */

static void test_schema_tools(void **state)
{
    (void)state;
    /* one file: a batch of one; the name stays one encoded segment */
    assert_int_equal(call("put_schema", "{\"section\": \"grpc\", "
                                        "\"namespace\": \"shop\", \"name\": "
                                        "\"shop/v1/o.proto\", \"content\": "
                                        "\"syntax = \\\"proto3\\\";\"}"),
                     0);
    assert_string_equal(sent.method, "POST");
    assert_string_equal(sent.url, "/api/v1/schemas/grpc?namespace=shop");
    assert_string_equal(sent.body, "{\"files\":{\"shop/v1/o.proto\":"
                                   "\"syntax = \\\"proto3\\\";\"}}");
    answer(400, "{\"error\": \"o.proto:1:1: bad\", \"code\": \"validation\", "
                "\"field\": \"files.shop/v1/o.proto\"}");
    assert_true(is_error());
    assert_contains(result_text(), "o.proto:1:1: bad");
    assert_contains(result_text(), "nothing was stored");

    assert_int_equal(call("put_schema", "{\"section\": \"grpc\", \"namespace\": "
                                        "\"shop\", \"files\": {\"a.proto\": "
                                        "\"A\", \"b.proto\": \"B\"}}"),
                     0);
    assert_string_equal(sent.body,
                        "{\"files\":{\"a.proto\":\"A\",\"b.proto\":\"B\"}}");
    answer(200, "{\"created\": 2, \"files\": []}");
    assert_false(is_error());

    assert_int_equal(call("list_schemas", "{\"section\": \"grpc\", "
                                          "\"namespace\": \"shop\"}"),
                     0);
    assert_string_equal(sent.method, "GET");
    assert_string_equal(sent.url, "/api/v1/schemas/grpc?namespace=shop");
    answer(200, "{\"items\": [], \"total\": 0}");
    assert_false(is_error());

    /* the text/plain answer becomes {section, namespace, name, content},
     * even when the file happens to be JSON */
    assert_int_equal(call("get_schema", "{\"section\": \"grpc\", \"namespace\": "
                                        "\"shop\", \"name\": \"../x.proto\"}"),
                     0);
    assert_string_equal(sent.url,
                        "/api/v1/schemas/grpc/%2E%2E%2Fx%2Eproto?namespace=shop");
    answer(200, "[1]");
    if (is_error())
        fail_msg("%s", result_text());
    assert_string_equal(
        json_string_value(json_object_get(structured(), "content")), "[1]");
    assert_string_equal(
        json_string_value(json_object_get(structured(), "name")),
        "../x.proto");
    assert_int_equal(call("get_schema", "{\"section\": \"grpc\", \"namespace\": "
                                        "\"shop\", \"name\": \"gone\"}"),
                     0);
    answer(404, "{\"error\": \"no schema file\", \"code\": \"not_found\"}");
    assert_true(is_error());
    assert_contains(result_text(), "list_schemas");

    assert_int_equal(call("delete_schema", "{\"section\": \"grpc\", "
                                           "\"namespace\": \"shop\", \"name\": "
                                           "\"b.proto\"}"),
                     0);
    assert_string_equal(sent.method, "DELETE");
    assert_string_equal(sent.url,
                        "/api/v1/schemas/grpc/b%2Eproto?namespace=shop");
    answer(409, "{\"error\": \"b.proto is imported by a.proto\", \"code\": "
                "\"conflict\"}");
    assert_true(is_error());
    assert_contains(result_text(), "imported by a.proto");
    assert_int_equal(call("delete_schema", "{\"section\": \"grpc\", "
                                           "\"namespace\": \"shop\", \"name\": "
                                           "\"b.proto\"}"),
                     0);
    answer(204, NULL);
    assert_true(json_is_true(json_object_get(structured(), "deleted")));

    /* describe_protocol: GET /protocols/SECTION in the namespace, the
     * route's answer as the result; a 404 stays an error the agent sees */
    assert_int_equal(call("describe_protocol", "{\"section\": \"grpc\", "
                                               "\"namespace\": \"shop\"}"),
                     0);
    assert_string_equal(sent.method, "GET");
    assert_string_equal(sent.url, "/api/v1/protocols/grpc?namespace=shop");
    answer(200, "{\"section\": \"grpc\", \"namespace\": \"shop\", "
                "\"schemaKind\": \"proto\", \"defines\": {\"services\": "
                "[{\"name\": \"a.B\"}]}}");
    assert_false(is_error());
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(structured(),
                                                           "defines"),
                                           "services"),
                           0),
            "name")),
        "a.B");
    assert_int_equal(call("describe_protocol", "{\"section\": \"kafka\", "
                                               "\"namespace\": \"shop\"}"),
                     0);
    assert_string_equal(sent.url, "/api/v1/protocols/kafka?namespace=shop");
    answer(404, "{\"error\": \"no enabled plugin has the mock section "
                "'kafka'\", \"code\": \"not_found\"}");
    assert_true(is_error());
    assert_contains(result_text(), "no enabled plugin");

    /* name and content together, or files: never both, never neither */
    const char *why = NULL;
    sent.calls = 0;
    static const char *const bad[] = {
        "{\"section\": \"grpc\"}",
        "{\"section\": \"grpc\", \"name\": \"a\"}",
        "{\"section\": \"grpc\", \"content\": \"a\"}",
        "{\"section\": \"grpc\", \"files\": {}}",
        "{\"section\": \"grpc\", \"name\": \"a\", \"content\": \"a\", "
        "\"files\": {\"b\": \"b\"}}",
        "{\"section\": \"grpc\", \"files\": {\"b\": 1}}",
        "{\"name\": \"a\", \"content\": \"a\"}",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        if (call_as(&admin_who, "put_schema", bad[i], &why) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
    }
    assert_int_equal(sent.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(list_answer_cut_to_the_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(answers_within_the_budget_are_untouched,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            one_item_or_answer_over_the_budget_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
