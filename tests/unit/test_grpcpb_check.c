/* dp_grpcpb write-time checks: payload JSON against a message type (the
 * error names the field path), condition paths, errorDetails and the
 * google.rpc.Status they become. */
#include "test_grpcpb_util.h"

static gpb_pool_t *pool;

static int setup(void **st)
{
    (void)st;
    pool = shop_pool();
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    gpb_pool_free(pool);
    return 0;
}

static void ok_json(const char *type, const char *json, unsigned flags)
{
    char err[GPB_ERR_MAX] = "";
    int rc = gpb_check_json(pool, type, json, strlen(json), "payload", flags,
                            err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: %d %s", json, rc, err);
}

#define bad_json(type, json, flags, want)                                      \
    bad_json_at(type, json, flags, want, __LINE__)
static void bad_json_at(const char *type, const char *json, unsigned flags,
                        const char *want, int line)
{
    char err[GPB_ERR_MAX] = "";
    int rc = gpb_check_json(pool, type, json, strlen(json), "payload", flags,
                            err, sizeof(err));
    if (rc != -EINVAL || strcmp(err, want) != 0)
        fail_msg("line %d: %s:\n  got  %d '%s'\n  want -22 '%s'", line, json,
                 rc, err, want);
}

static void test_valid_payloads(void **st)
{
    (void)st;
    ok_json("shop.v1.Order",
            "{\"orderId\": \"1\", \"items\": [{\"sku\": \"a\", \"qty\": 2,"
            " \"price\": 1.5}], \"counts\": {\"a\": 1, \"b\": \"2\"},"
            " \"status\": \"OPEN\", \"totalCents\": \"-9\", \"flags\": 7,"
            " \"paid\": true, \"blob\": \"AAE=\", \"ratio\": \"NaN\","
            " \"createdAt\": \"2024-01-02T03:04:05Z\", \"ttl\": \"3s\","
            " \"extra\": {\"x\": [1, {\"y\": null}]}, \"maybe\": 3,"
            " \"note\": \"n\", \"byPos\": {\"1\": {\"sku\": \"s\"}},"
            " \"tags\": [\"a\"], \"parent\": {\"order_id\": \"p\"}}",
            0);
    ok_json("shop.v1.Order", "{}", 0);
    ok_json("shop.v1.Order",
            "{\"status\": 2, \"orderId\": null, \"items\": null,"
            " \"attachment\": {\"@type\": \"type.googleapis.com/shop.v1.Item\","
            " \"sku\": \"x\"}, \"gift\": {}, \"note\": null}",
            0);
    ok_json("shop.v1.Item", "{\"qty\": 2.0, \"price\": \"1e3\"}", 0);
    ok_json("shop.v1.Order",
            "{\"attachment\": {\"@type\": \"x/google.protobuf.Duration\","
            " \"value\": \"1s\"}}",
            0);
}

static void test_errors_name_the_field(void **st)
{
    (void)st;
    bad_json("shop.v1.Order",
             "{\"items\": [{\"price\": 1}, {\"price\": \"cheap\"}]}", 0,
             "payload.items[1].price: expected a number, got string "
             "\"cheap\"");
    bad_json("shop.v1.Order", "{\"items\": [{}, {\"price\": true}]}", 0,
             "payload.items[1].price: expected a number, got boolean");
    bad_json("shop.v1.Order", "{\"orderId\": 5}", 0,
             "payload.orderId: expected a string, got number");
    bad_json("shop.v1.Order", "{\"bogus\": 1}", 0,
             "payload.bogus: unknown field of message shop.v1.Order");
    bad_json("shop.v1.Order", "{\"parent\": {\"parent\": {\"nope\": 1}}}", 0,
             "payload.parent.parent.nope: unknown field of message "
             "shop.v1.Order");
    bad_json("shop.v1.Order", "{\"items\": {\"sku\": \"a\"}}", 0,
             "payload.items: expected an array, got object");
    bad_json("shop.v1.Order", "{\"items\": [null]}", 0,
             "payload.items[0]: null is not allowed in a list");
    bad_json("shop.v1.Order", "{\"items\": [\"a\"]}", 0,
             "payload.items[0]: expected an object (message shop.v1.Item), "
             "got string");
    bad_json("shop.v1.Order", "{\"status\": \"SHIPPED\"}", 0,
             "payload.status: unknown value \"SHIPPED\" of enum "
             "shop.v1.Status (one of STATUS_UNSPECIFIED, OPEN, CLOSED)");
    bad_json("shop.v1.Order", "{\"flags\": -1}", 0,
             "payload.flags: out of range for uint32");
    bad_json("shop.v1.Order", "{\"flags\": 4294967296}", 0,
             "payload.flags: out of range for uint32");
    bad_json("shop.v1.Item", "{\"qty\": 2147483648}", 0,
             "payload.qty: out of range for int32");
    bad_json("shop.v1.Item", "{\"qty\": 1.5}", 0,
             "payload.qty: expected an integer, got number");
    bad_json("shop.v1.Item", "{\"qty\": \"ten\"}", 0,
             "payload.qty: expected an integer, got string \"ten\"");
    bad_json("shop.v1.Order", "{\"totalCents\": \"12x\"}", 0,
             "payload.totalCents: expected an integer, got string \"12x\"");
    bad_json("shop.v1.Order", "{\"ratio\": 1e300}", 0,
             "payload.ratio: out of range for float");
    bad_json("shop.v1.Order", "{\"paid\": \"true\"}", 0,
             "payload.paid: expected a boolean, got string");
    bad_json("shop.v1.Order", "{\"blob\": \"not base64!\"}", 0,
             "payload.blob: invalid base64 \"not base64!\"");
    bad_json("shop.v1.Order", "{\"createdAt\": \"yesterday\"}", 0,
             "payload.createdAt: invalid RFC 3339 timestamp "
             "(\"2024-01-02T03:04:05Z\") \"yesterday\"");
    bad_json("shop.v1.Order", "{\"createdAt\": 1700000000}", 0,
             "payload.createdAt: expected a RFC 3339 timestamp string, got "
             "number");
    bad_json("shop.v1.Order", "{\"ttl\": \"5 minutes\"}", 0,
             "payload.ttl: invalid duration (\"1.5s\") \"5 minutes\"");
    bad_json("shop.v1.Order", "{\"extra\": [1]}", 0,
             "payload.extra: expected an object (google.protobuf.Struct), "
             "got array");
    bad_json("shop.v1.Order", "{\"maybe\": \"x\"}", 0,
             "payload.maybe: expected an integer, got string \"x\"");
    bad_json("shop.v1.Order", "{\"note\": \"a\", \"gift\": {}}", 0,
             "payload.gift: oneof 'kind' is already set by 'note'");
    bad_json("shop.v1.Order", "{\"orderId\": \"a\", \"order_id\": \"b\"}", 0,
             "payload.order_id: field given twice (also as 'orderId')");
    bad_json("shop.v1.Order", "{\"counts\": {\"a\": \"x\"}}", 0,
             "payload.counts[\"a\"]: expected an integer, got string \"x\"");
    bad_json("shop.v1.Order", "{\"byPos\": {\"one\": {}}}", 0,
             "payload.byPos[\"one\"] (key): expected an integer, got string "
             "\"one\"");
    bad_json("shop.v1.Order", "{\"byPos\": {\"1\": {\"sku\": 1}}}", 0,
             "payload.byPos[\"1\"].sku: expected a string, got number");
    bad_json("shop.v1.Order", "[]", 0,
             "payload: expected an object (message shop.v1.Order), got "
             "array");
    bad_json("shop.v1.Order",
             "{\"attachment\": {\"@type\": \"type.googleapis.com/no.Such\"}}",
             0, "payload.attachment.@type: unknown message type 'no.Such'");
    bad_json("shop.v1.Order", "{\"attachment\": {\"sku\": \"a\"}}", 0,
             "payload.attachment.@type: an Any needs a \"@type\" string");
    bad_json(
        "shop.v1.Order",
        "{\"attachment\": {\"@type\": \"type.googleapis.com/shop.v1.Item\","
        " \"qty\": \"x\"}}",
        0, "payload.attachment.qty: expected an integer, got string \"x\"");
    /* JSON syntax */
    bad_json("shop.v1.Order", "{\"orderId\": }", 0,
             "payload: invalid JSON at 1:13: unexpected token near '}'");
    char err[GPB_ERR_MAX];
    assert_int_equal(gpb_check_json(pool, "no.Such", "{}", 2, "payload", 0, err,
                                    sizeof(err)),
                     -ENOENT);
}

static void test_templates_accepted_when_asked(void **st)
{
    (void)st;
    const char *t = "{\"orderId\": \"$.req.orderId\", \"totalCents\": "
                    "\"$.req.total\", \"paid\": \"$.gS.paid\", \"flags\": "
                    "\"{{count}}\", \"items\": \"$.req.items\", \"createdAt\":"
                    " \"$.fake.Date\", \"status\": \"$.req.status\","
                    " \"parent\": \"$.req.parent\", \"counts\": \"$.mS.c\","
                    " \"blob\": \"$.req.b\"}";
    ok_json("shop.v1.Order", t, GPB_CHECK_TEMPLATES);
    bad_json("shop.v1.Order", "{\"paid\": \"$.gS.paid\"}", 0,
             "payload.paid: expected a boolean, got string");
    /* interpolated text is a scalar, never a list */
    bad_json("shop.v1.Order", "{\"items\": \"items: $.req.items\"}",
             GPB_CHECK_TEMPLATES,
             "payload.items: expected an array, got string");
    /* still checked around the template */
    bad_json("shop.v1.Order", "{\"orderId\": \"$.req.id\", \"nope\": 1}",
             GPB_CHECK_TEMPLATES,
             "payload.nope: unknown field of message shop.v1.Order");
}

static void test_proto2_required_fields(void **st)
{
    (void)st;
    gpb_pool_t *p2 = NULL;
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_new(&p2, err, sizeof(err)), 0);
    const char *src = "syntax = \"proto2\";\npackage old;\n"
                      "message Req { required string id = 1; "
                      "optional int32 n = 2 [default = 7]; }\n"
                      "message Outer { optional Req req = 1; }\n";
    gpb_source_t s2 = {"old.proto", src, strlen(src)};
    assert_int_equal(gpb_pool_add_sources(p2, &s2, 1, err, sizeof(err)), 0);
    gpb_pool_freeze(p2);
    assert_int_equal(gpb_check_json(p2, "old.Outer", "{\"req\": {\"n\": 1}}",
                                    17, "payload", 0, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "payload.req.id: required field of message "
                             "old.Req is missing");
    uint8_t *bin = NULL;
    size_t bl;
    assert_int_equal(gpb_encode_from_json(p2, "old.Req", "{}", 2, 0, &bin, &bl,
                                          err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "id: required field"));
    assert_int_equal(gpb_encode_from_json(p2, "old.Req", "{\"id\": null}", 12,
                                          0, &bin, &bl, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(gpb_encode_from_json(p2, "old.Req", "{\"id\": \"x\"}", 11,
                                          0, &bin, &bl, err, sizeof(err)),
                     0);
    free(bin);
    /* a request missing it still decodes (partial): conditions see it */
    char *json = NULL;
    size_t jl;
    assert_int_equal(gpb_decode_to_json(p2, "old.Req", (const uint8_t *)"", 0,
                                        &json, &jl, err, sizeof(err)),
                     0);
    free(json);
    gpb_pool_free(p2);
}

static void ok_path(const char *in, unsigned flags, const char *want)
{
    char out[256], err[GPB_ERR_MAX] = "";
    int rc = gpb_field_path_normalise(pool, "shop.v1.Order", in, flags, out,
                                      sizeof(out), err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: %d %s", in, rc, err);
    assert_string_equal(out, want);
}

static void bad_path(const char *type, const char *in, unsigned flags,
                     const char *want)
{
    char out[256], err[GPB_ERR_MAX] = "";
    int rc = gpb_field_path_normalise(pool, type, in, flags, out, sizeof(out),
                                      err, sizeof(err));
    if (rc != -EINVAL || strcmp(err, want) != 0)
        fail_msg("%s:\n  got  %d '%s'\n  want -22 '%s'", in, rc, err, want);
}

static void test_path_normalisation(void **st)
{
    (void)st;
    ok_path("orderId", 0, "orderId");
    ok_path("order_id", 0, "orderId");
    ok_path("$.order_id", 0, "$.orderId");
    ok_path("$.body.order_id", 0, "$.body.orderId");
    ok_path("$.body", 0, "$.body");
    ok_path("$", 0, "$");
    ok_path("items.0.sku", 0, "items.0.sku");
    ok_path("items[1].sku", 0, "items[1].sku");
    ok_path("$.items[1]", 0, "$.items[1]");
    ok_path("$['total_cents']", 0, "$['totalCents']");
    ok_path("parent.parent.created_at", 0, "parent.parent.createdAt");
    ok_path("parent.items.3.price", 0, "parent.items.3.price");
    /* below Struct, Any and maps the path is free */
    ok_path("extra.any.thing.0", 0, "extra.any.thing.0");
    ok_path("attachment.@type", 0, "attachment.@type");
    ok_path("counts.some_key", 0, "counts.some_key");
    ok_path("by_pos['1'].sku", 0, "byPos['1'].sku");
    ok_path("tags", 0, "tags");
    ok_path("tags[0]", 0, "tags[0]");
    /* the client-stream document */
    ok_path("count", GPB_PATH_CLIENT_STREAM, "count");
    ok_path("messages.0.order_id", GPB_PATH_CLIENT_STREAM,
            "messages.0.orderId");
    ok_path("$.messages[2].items[0].sku", GPB_PATH_CLIENT_STREAM,
            "$.messages[2].items[0].sku");
    ok_path("last.total_cents", GPB_PATH_CLIENT_STREAM, "last.totalCents");
    ok_path("$.body.first", GPB_PATH_CLIENT_STREAM, "$.body.first");

    bad_path("shop.v1.Order", "orderid", 0,
             "path 'orderid': unknown field 'orderid' of message "
             "shop.v1.Order");
    bad_path("shop.v1.Order", "$.body.items.0.nope", 0,
             "path '$.body.items.0.nope': unknown field 'nope' of message "
             "shop.v1.Item");
    bad_path("shop.v1.Order", "orderId.length", 0,
             "path 'orderId.length': 'orderId' is a scalar; 'length' cannot "
             "be below it");
    bad_path("shop.v1.Order", "items.sku", 0,
             "path 'items.sku': 'items' is a list; expected an index, got "
             "'sku'");
    bad_path("shop.v1.Order", "createdAt.seconds", 0,
             "path 'createdAt.seconds': 'createdAt' is a scalar; 'seconds' "
             "cannot be below it");
    bad_path("shop.v1.Order", "a..b", 0,
             "invalid path 'a..b': empty segment or stray ']'");
    bad_path("shop.v1.Order", "items[x]", 0,
             "invalid path 'items[x]': an index must be a non-negative "
             "integer or a quoted key");
    bad_path("shop.v1.Order", "items.", 0,
             "invalid path 'items.': empty segment");
    bad_path("shop.v1.Order", "$x", 0,
             "invalid path '$x': expected '.' or '[' after '$'");
    bad_path("shop.v1.Order", "orderId", GPB_PATH_CLIENT_STREAM,
             "path 'orderId': 'orderId' is not in a client stream (messages, "
             "count, first, last)");
    bad_path("shop.v1.Order", "messages.first", GPB_PATH_CLIENT_STREAM,
             "path 'messages.first': 'messages' is a list; expected an index, "
             "got 'first'");
    bad_path("shop.v1.Order", "count.x", GPB_PATH_CLIENT_STREAM,
             "path 'count.x': 'count' is a scalar; 'x' cannot be below it");
    char out[8], err[GPB_ERR_MAX];
    assert_int_equal(gpb_field_path_normalise(pool, "shop.v1.Order",
                                              "parent.order_id", 0, out,
                                              sizeof(out), err, sizeof(err)),
                     -ENAMETOOLONG);
    assert_int_equal(gpb_field_path_normalise(pool, "shop.v1.Order", "", 0, out,
                                              sizeof(out), err, sizeof(err)),
                     -EINVAL);
}

static void test_error_details_check(void **st)
{
    (void)st;
    char err[GPB_ERR_MAX] = "";
    json_t *d = json_loads(
        "[{\"type\": \"badRequest\", \"details\": {\"fieldViolations\":"
        " [{\"field\": \"id\", \"description\": \"bad\"}]}},"
        " {\"type\": \"retryInfo\", \"details\": {\"retryDelay\": \"2s\"}},"
        " {\"type\": \"errorInfo\", \"details\": {\"reason\": \"R\","
        " \"domain\": \"d\", \"metadata\": {\"k\": \"v\"}}},"
        " {\"type\": \"help\", \"details\": {\"links\": [{\"url\": \"u\"}]}},"
        " {\"type\": \"debugInfo\", \"details\": {\"stackEntries\": [\"a\"]}},"
        " {\"type\": \"localizedMessage\", \"details\": {\"locale\": \"fr\"}},"
        " {\"type\": \"preconditionFailure\", \"details\": {\"violations\":"
        " [{\"type\": \"TOS\"}]}},"
        " {\"type\": \"quotaFailure\", \"details\": {\"violations\":"
        " [{\"subject\": \"s\"}]}},"
        " {\"type\": \"requestInfo\", \"details\": {\"requestId\": \"r\"}},"
        " {\"type\": \"resourceInfo\", \"details\": {\"resourceName\": \"n\"}},"
        " {\"type\": \"google.rpc.DebugInfo\"}]",
        0, NULL);
    assert_non_null(d);
    assert_int_equal(gpb_check_error_details(pool, d, "response.errorDetails",
                                             0, err, sizeof(err)),
                     0);
    json_decref(d);
    struct {
        const char *json, *want;
    } bad[] = {
        {"[{\"type\": \"nope\"}]",
         "response.errorDetails[0].type: unknown error detail type 'nope' "
         "(one of badRequest, help, debugInfo, errorInfo, localizedMessage, "
         "preconditionFailure, quotaFailure, requestInfo, resourceInfo, "
         "retryInfo)"},
        {"[{\"details\": {}}]",
         "response.errorDetails[0].type: required, one of badRequest, help, "
         "debugInfo, errorInfo, localizedMessage, preconditionFailure, "
         "quotaFailure, requestInfo, resourceInfo, retryInfo"},
        {"[{\"type\": \"help\"}, {\"type\": \"badRequest\", \"details\":"
         " {\"fieldViolations\": [{\"field\": 1}]}}]",
         "response.errorDetails[1].details.fieldViolations[0].field: "
         "expected a string, got number"},
        {"[{\"type\": \"retryInfo\", \"details\": {\"delay\": \"1s\"}}]",
         "response.errorDetails[0].details.delay: unknown field of message "
         "google.rpc.RetryInfo"},
        {"[{\"type\": \"help\", \"detail\": {}}]",
         "response.errorDetails[0].detail: unknown key (an entry has "
         "\"type\" and \"details\")"},
        {"{\"type\": \"help\"}",
         "response.errorDetails: expected an array of {\"type\", "
         "\"details\"}"},
        {"[\"help\"]",
         "response.errorDetails[0]: expected an object {\"type\", "
         "\"details\"}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = json_loads(bad[i].json, 0, NULL);
        assert_non_null(b);
        int rc = gpb_check_error_details(pool, b, "response.errorDetails", 0,
                                         err, sizeof(err));
        json_decref(b);
        if (rc != -EINVAL || strcmp(err, bad[i].want) != 0)
            fail_msg("%s:\n  got  %d '%s'\n  want '%s'", bad[i].json, rc, err,
                     bad[i].want);
    }
    assert_string_equal(gpb_error_detail_type("quotaFailure"),
                        "google.rpc.QuotaFailure");
    assert_null(gpb_error_detail_type("QuotaFailure"));
}

static void test_status_details_decode_back(void **st)
{
    (void)st;
    const char *details =
        "[{\"type\": \"badRequest\", \"details\": {\"fieldViolations\":"
        " [{\"field\": \"id\", \"description\": \"bad\"}]}},"
        " {\"type\": \"retryInfo\", \"details\": {\"retryDelay\": \"1.500s\"}},"
        " {\"type\": \"errorInfo\", \"details\": {\"reason\": \"R\","
        " \"metadata\": {\"k\": \"v\"}}}]";
    char err[GPB_ERR_MAX] = "";
    uint8_t *bin = NULL;
    size_t bl = 0;
    assert_int_equal(gpb_status_details_bin(pool, 5, "order not found", details,
                                            strlen(details), &bin, &bl, err,
                                            sizeof(err)),
                     0);
    /* field 1 (code) = 5 comes first on the wire */
    assert_true(bl > 4);
    assert_int_equal(bin[0], 0x08);
    assert_int_equal(bin[1], 0x05);
    char *json = NULL;
    size_t jl;
    assert_int_equal(gpb_decode_to_json(pool, "google.rpc.Status", bin, bl,
                                        &json, &jl, err, sizeof(err)),
                     0);
    assert_json_eq(
        json,
        "{\"code\": 5, \"message\": \"order not found\", \"details\": ["
        " {\"@type\": \"type.googleapis.com/google.rpc.BadRequest\","
        "  \"fieldViolations\": [{\"field\": \"id\", \"description\": \"bad\","
        "   \"reason\": \"\"}]},"
        " {\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\","
        "  \"retryDelay\": \"1.500s\"},"
        " {\"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\","
        "  \"reason\": \"R\", \"domain\": \"\", \"metadata\": {\"k\": "
        "\"v\"}}]}");
    free(json);
    free(bin);
    /* no details: just code and message */
    assert_int_equal(gpb_status_details_bin(pool, 13, "boom", NULL, 0, &bin,
                                            &bl, err, sizeof(err)),
                     0);
    const uint8_t want[] = {0x08, 0x0d, 0x12, 0x04, 'b', 'o', 'o', 'm'};
    assert_int_equal(bl, sizeof(want));
    assert_memory_equal(bin, want, sizeof(want));
    free(bin);
    /* bad entries are named */
    const char *bad = "[{\"type\": \"help\"}, {\"type\": \"what\"}]";
    assert_int_equal(gpb_status_details_bin(pool, 3, "x", bad, strlen(bad),
                                            &bin, &bl, err, sizeof(err)),
                     -EINVAL);
    assert_null(bin);
    assert_non_null(strstr(err, "errorDetails[1].type: unknown error detail "
                                "type 'what'"));
    const char *badf = "[{\"type\": \"help\", \"details\": {\"x\": 1}}]";
    assert_int_equal(gpb_status_details_bin(pool, 3, "x", badf, strlen(badf),
                                            &bin, &bl, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "errorDetails[0].details"));
    assert_non_null(strstr(err, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_payloads),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_templates_accepted_when_asked),
        cmocka_unit_test(test_proto2_required_fields),
        cmocka_unit_test(test_path_normalisation),
        cmocka_unit_test(test_error_details_check),
        cmocka_unit_test(test_status_details_decode_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
