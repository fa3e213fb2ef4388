/* dp_grpcpb messages: binary <-> proto3 JSON, well-known types, round trips,
 * malformed input, deep nesting, output caps, serve-time coercion. */
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

static char *decode(const char *type, const uint8_t *b, size_t n)
{
    char err[GPB_ERR_MAX] = "";
    char *json = NULL;
    size_t jl = 0;
    int rc = gpb_decode_to_json(pool, type, b, n, &json, &jl, err, sizeof(err));
    if (rc != 0)
        fail_msg("decode: %d %s", rc, err);
    return json;
}

static void test_defaults_are_printed_with_json_names(void **st)
{
    (void)st;
    /* an empty message: every primitive field is there for conditions */
    char *j = decode("shop.v1.Order", (const uint8_t *)"", 0);
    assert_json_eq(j, "{\"orderId\": \"\", \"items\": [], \"counts\": {},"
                      " \"status\": \"STATUS_UNSPECIFIED\","
                      " \"totalCents\": \"0\", \"flags\": 0, \"paid\": false,"
                      " \"blob\": \"\", \"ratio\": 0, \"byPos\": {},"
                      " \"tags\": []}");
    free(j);
    /* order_id = "42", items { sku: "a" qty: 2 }, status = CLOSED,
     * total_cents = -5 (int64 as a string) */
    const uint8_t b[] = {0x0a, 0x02, '4',  '2',  0x12, 0x05, 0x0a, 0x01,
                         'a',  0x10, 0x02, 0x20, 0x02, 0x28, 0xfb, 0xff,
                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    j = decode("shop.v1.Order", b, sizeof(b));
    json_t *v = json_loads(j, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "orderId")), "42");
    json_t *it = json_array_get(json_object_get(v, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "sku")), "a");
    assert_int_equal(json_integer_value(json_object_get(it, "qty")), 2);
    assert_true(json_is_number(json_object_get(it, "price")));
    assert_string_equal(json_string_value(json_object_get(v, "status")),
                        "CLOSED");
    assert_string_equal(json_string_value(json_object_get(v, "totalCents")),
                        "-5");
    assert_null(json_object_get(v, "order_id"));
    json_decref(v);
    free(j);
}

static void test_well_known_types_in_json(void **st)
{
    (void)st;
    const char *in =
        "{\"orderId\": \"7\","
        " \"createdAt\": \"2024-01-02T03:04:05.500Z\","
        " \"ttl\": \"1.500s\","
        " \"extra\": {\"a\": [1, \"x\", null, true], \"b\": {\"c\": 2.5}},"
        " \"attachment\": {\"@type\": \"type.googleapis.com/shop.v1.Item\","
        "                  \"sku\": \"s1\", \"qty\": 3},"
        " \"maybe\": 0}";
    char *j = round_trip(pool, "shop.v1.Order", in);
    json_t *v = json_loads(j, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "createdAt")),
                        "2024-01-02T03:04:05.500Z");
    assert_string_equal(json_string_value(json_object_get(v, "ttl")), "1.500s");
    json_t *extra = json_object_get(v, "extra");
    json_t *want = json_loads("{\"a\": [1, \"x\", null, true], "
                              "\"b\": {\"c\": 2.5}}",
                              0, NULL);
    assert_true(json_equal(extra, want));
    json_decref(want);
    json_t *att = json_object_get(v, "attachment");
    assert_string_equal(json_string_value(json_object_get(att, "@type")),
                        "type.googleapis.com/shop.v1.Item");
    assert_string_equal(json_string_value(json_object_get(att, "sku")), "s1");
    assert_int_equal(json_integer_value(json_object_get(att, "qty")), 3);
    /* a set wrapper holding the default is still printed */
    assert_int_equal(json_integer_value(json_object_get(v, "maybe")), 0);
    json_decref(v);
    free(j);
    /* an Any of a well-known type carries "value" */
    j = round_trip(pool, "shop.v1.Order",
                   "{\"attachment\": {\"@type\": \"type.googleapis.com/"
                   "google.protobuf.Timestamp\", \"value\": "
                   "\"2020-05-06T07:08:09Z\"}}");
    assert_non_null(strstr(j, "\"attachment\":{\"@type\":\"type.googleapis."
                              "com/google.protobuf.Timestamp\",\"value\":"
                              "\"2020-05-06T07:08:09Z\"}"));
    free(j);
}

static void test_round_trip_everything(void **st)
{
    (void)st;
    const char *in =
        "{\"orderId\": \"o-1\", \"items\": [{\"sku\": \"a\", \"qty\": 1,"
        " \"price\": 2.5}, {\"sku\": \"b\", \"qty\": -3, \"price\": 0}],"
        " \"counts\": {\"x\": \"9007199254740993\", \"y\": \"-1\"},"
        " \"status\": \"OPEN\", \"totalCents\": \"9223372036854775807\","
        " \"flags\": 4294967295, \"paid\": true, \"blob\": \"AAEC/w==\","
        " \"ratio\": 0.5, \"gift\": {\"sku\": \"g\", \"qty\": 0, \"price\": 0},"
        " \"parent\": {\"orderId\": \"p\", \"items\": [], \"counts\": {},"
        "  \"status\": \"STATUS_UNSPECIFIED\", \"totalCents\": \"0\","
        "  \"flags\": 0, \"paid\": false, \"blob\": \"\", \"ratio\": 0,"
        "  \"byPos\": {}, \"tags\": []},"
        " \"byPos\": {\"-2\": {\"sku\": \"m\", \"qty\": 0, \"price\": 0}},"
        " \"tags\": [\"t1\", \"\", \"t\\u00e9\"]}";
    char *j = round_trip(pool, "shop.v1.Order", in);
    assert_json_eq(j, in);
    /* and again: a fixed point */
    char *j2 = round_trip(pool, "shop.v1.Order", j);
    assert_string_equal(j, j2);
    free(j);
    free(j2);
}

static void test_proto_names_accepted_unknown_named(void **st)
{
    (void)st;
    char *j = round_trip(pool, "shop.v1.Order",
                         "{\"order_id\": \"9\", \"total_cents\": 3,"
                         " \"created_at\": \"1970-01-01T00:00:00Z\"}");
    assert_non_null(strstr(j, "\"orderId\":\"9\""));
    assert_non_null(strstr(j, "\"totalCents\":\"3\""));
    free(j);
    char err[GPB_ERR_MAX] = "";
    uint8_t *bin = NULL;
    size_t bl = 0;
    const char *bad = "{\"orderId\": \"1\", \"bogusField\": 1}";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", bad,
                                          strlen(bad), 0, &bin, &bl, err,
                                          sizeof(err)),
                     -EINVAL);
    assert_null(bin);
    assert_non_null(strstr(err, "bogusField"));
    assert_non_null(strstr(err, "shop.v1.Order"));
    const char *wrong = "{\"qty\": \"many\"}";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", wrong,
                                          strlen(wrong), 0, &bin, &bl, err,
                                          sizeof(err)),
                     -EINVAL);
    /* a key given twice has no one meaning: refused, naming it */
    const char *twice = "{\"orderId\": \"1\", \"orderId\": \"2\"}";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", twice,
                                          strlen(twice), 0, &bin, &bl, err,
                                          sizeof(err)),
                     -EINVAL);
    assert_null(bin);
    assert_non_null(strstr(err, "duplicate"));
    const char *notjson = "{\"qty\": ";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", notjson,
                                          strlen(notjson), 0, &bin, &bl, err,
                                          sizeof(err)),
                     -EINVAL);
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Nope", "{}", 2, 0,
                                          &bin, &bl, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "unknown message type 'shop.v1.Nope'");
    /* the empty message encodes to zero bytes, with a buffer to free */
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", "{}", 2, 0,
                                          &bin, &bl, err, sizeof(err)),
                     0);
    assert_non_null(bin);
    assert_int_equal(bl, 0);
    free(bin);
}

static void test_coercion_of_rendered_templates(void **st)
{
    (void)st;
    /* what a template renders: "true" for a bool, a number for a string */
    const char *in = "{\"paid\": \"true\", \"orderId\": 42, \"items\": "
                     "[{\"sku\": 7, \"qty\": \"3\"}], \"maybe\": \"5\"}";
    char err[GPB_ERR_MAX] = "";
    uint8_t *bin = NULL;
    size_t bl = 0;
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", in, strlen(in),
                                          0, &bin, &bl, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", in, strlen(in),
                                          GPB_ENC_COERCE, &bin, &bl, err,
                                          sizeof(err)),
                     0);
    char *j = decode("shop.v1.Order", bin, bl);
    free(bin);
    json_t *v = json_loads(j, 0, NULL);
    assert_true(json_is_true(json_object_get(v, "paid")));
    assert_string_equal(json_string_value(json_object_get(v, "orderId")), "42");
    json_t *it = json_array_get(json_object_get(v, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "sku")), "7");
    assert_int_equal(json_integer_value(json_object_get(it, "qty")), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "maybe")), 5);
    json_decref(v);
    free(j);
    /* coercion does not invent: "banana" is still not a bool (and the
     * orderId already coerced before it is not leaked: see the ASan run) */
    const char *bad = "{\"orderId\": 42, \"paid\": \"banana\"}";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", bad,
                                          strlen(bad), GPB_ENC_COERCE, &bin,
                                          &bl, err, sizeof(err)),
                     -EINVAL);
}

/* The Reflection encoder and libprotobuf's JSON parser agree: both
 * encodings decode to the same JSON. */
static void test_encoder_matches_libprotobuf(void **st)
{
    (void)st;
    const char *cases[] = {
        "{}",
        "{\"orderId\": \"o\", \"items\": [{\"sku\": \"a\", \"qty\": -1,"
        " \"price\": 1e-3}, {}], \"status\": 2, \"totalCents\": \"-1\"}",
        "{\"counts\": {\"a\": 1, \"b\": \"-9223372036854775808\"},"
        " \"byPos\": {\"-1\": {\"sku\": \"x\"}, \"7\": {}}}",
        "{\"flags\": 4294967295, \"paid\": true, \"blob\": \"_-8=\","
        " \"ratio\": \"-Infinity\"}",
        "{\"blob\": \"AAECAwQ\", \"ratio\": 3.4028234663852886e38}",
        "{\"createdAt\": \"2024-02-29T23:59:59.999999999+01:00\","
        " \"ttl\": \"-0.5s\", \"maybe\": null}",
        "{\"extra\": {\"n\": null, \"l\": [1, [2, {\"x\": \"y\"}], false],"
        " \"o\": {}}, \"maybe\": -7}",
        "{\"attachment\": {\"@type\": \"type.googleapis.com/shop.v1.Order\","
        " \"orderId\": \"in\", \"attachment\": {\"@type\":"
        " \"type.googleapis.com/google.protobuf.Struct\", \"value\":"
        " {\"k\": [null]}}}}",
        "{\"attachment\": {\"@type\": \"type.googleapis.com/"
        "google.protobuf.Int64Value\", \"value\": \"5\"}}",
        "{\"attachment\": {}}",
        "{\"gift\": {}, \"parent\": {\"parent\": {\"note\": \"\"}}}",
        "{\"tags\": [\"\\u0000nul\", \"\\u00e9\\ud83d\\ude00\"],"
        " \"order_id\": \"snake\"}",
        "{\"items\": [{\"qty\": 2.0, \"price\": \"2.5\"}], \"flags\": \"8\"}",
        "{\"totalCents\": 9007199254740993}",
    };
    char err[GPB_ERR_MAX] = "";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in = cases[i];
        uint8_t *a = NULL, *b = NULL;
        size_t al, bl;
        int rc = gpb_encode_from_json(pool, "shop.v1.Order", in, strlen(in), 0,
                                      &a, &al, err, sizeof(err));
        if (rc != 0)
            fail_msg("ours: %s: %s", in, err);
        rc = gpb_encode_from_json_reference(pool, "shop.v1.Order", in,
                                            strlen(in), 0, &b, &bl, err,
                                            sizeof(err));
        if (rc != 0)
            fail_msg("libprotobuf: %s: %s", in, err);
        char *ja = decode("shop.v1.Order", a, al);
        char *jb = decode("shop.v1.Order", b, bl);
        assert_json_eq(ja, jb);
        free(ja);
        free(jb);
        free(a);
        free(b);
    }
    /* a uint64 past int64 (jansson's range) goes to libprotobuf's parser */
    const char *bigflags = "{\"flags\": 18446744073709551615}";
    uint8_t *o = NULL;
    size_t ol;
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", bigflags,
                                          strlen(bigflags), 0, &o, &ol, err,
                                          sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "flags"));
    assert_int_equal(gpb_encode_from_json(pool, "google.protobuf.UInt64Value",
                                          "18446744073709551615", 20, 0, &o,
                                          &ol, err, sizeof(err)),
                     0);
    char *j = decode("google.protobuf.UInt64Value", o, ol);
    assert_string_equal(j, "\"18446744073709551615\"");
    free(j);
    free(o);
}

/* A payload encoded again is served from the pool's cache: the same bytes,
 * and never the bytes of another type or of other flags. */
static void test_encode_cache_keys(void **st)
{
    (void)st;
    char err[GPB_ERR_MAX] = "";
    const char *in = "{\"sku\": \"cached\", \"qty\": 3}";
    uint8_t *a = NULL, *b = NULL;
    size_t al, bl;
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", in, strlen(in),
                                          0, &a, &al, err, sizeof(err)),
                     0);
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", in, strlen(in),
                                          0, &b, &bl, err, sizeof(err)),
                     0);
    assert_int_equal(al, bl);
    assert_memory_equal(a, b, al);
    assert_ptr_not_equal(a, b); /* each call owns its copy */
    free(a);
    free(b);
    /* the same text for another type is checked against that type */
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", in, strlen(in),
                                          0, &a, &al, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "sku: unknown field of message "
                                "shop.v1.Order"));
    /* coerced once, the same text without coercion is still refused */
    const char *co = "{\"orderId\": 7}";
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", co, strlen(co),
                                          GPB_ENC_COERCE, &a, &al, err,
                                          sizeof(err)),
                     0);
    free(a);
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Order", co, strlen(co),
                                          0, &a, &al, err, sizeof(err)),
                     -EINVAL);
    /* a prefix of a cached text is a different text */
    assert_int_equal(gpb_encode_from_json(pool, "shop.v1.Item", in,
                                          strlen(in) - 1, 0, &a, &al, err,
                                          sizeof(err)),
                     -EINVAL);
}

static void test_decode_same_bytes_other_type(void **st)
{
    (void)st;
    const uint8_t b[] = {0x0a, 0x01, 'a'};
    char *j1 = decode("shop.v1.Item", b, sizeof(b));
    char *j2 = decode("shop.v1.Item", b, sizeof(b));
    assert_string_equal(j1, j2);
    assert_ptr_not_equal(j1, j2);
    assert_string_equal(j1, "{\"sku\":\"a\",\"qty\":0,\"price\":0}");
    /* the same bytes as another type */
    char *j3 = decode("shop.v1.GetOrderRequest", b, sizeof(b));
    assert_string_equal(j3, "{\"orderId\":\"a\"}");
    free(j1);
    free(j2);
    free(j3);
    /* a failure is not remembered as a success, nor a prefix as the whole */
    char err[GPB_ERR_MAX];
    char *json = NULL;
    size_t jl;
    for (int i = 0; i < 2; i++)
        assert_int_equal(gpb_decode_to_json(pool, "shop.v1.Item", b, 2, &json,
                                            &jl, err, sizeof(err)),
                         -EBADMSG);
}

static void expect_bad(const char *type, const uint8_t *b, size_t n)
{
    char err[GPB_ERR_MAX] = "";
    char *json = (char *)1;
    size_t jl = 1;
    int rc = gpb_decode_to_json(pool, type, b, n, &json, &jl, err, sizeof(err));
    if (rc != -EBADMSG)
        fail_msg("expected -EBADMSG, got %d (%s)", rc, err);
    assert_null(json);
    assert_int_equal(jl, 0);
    assert_non_null(strstr(err, "bad request message"));
    assert_non_null(strstr(err, type));
}

static void test_malformed_binary(void **st)
{
    (void)st;
    /* a length past the end */
    const uint8_t trunc[] = {0x0a, 0x05, 'a'};
    expect_bad("shop.v1.Order", trunc, sizeof(trunc));
    /* a truncated varint */
    const uint8_t varint[] = {0x28, 0xff, 0xff};
    expect_bad("shop.v1.Order", varint, sizeof(varint));
    /* wire type 7 does not exist */
    const uint8_t wt[] = {0x0f, 0x00};
    expect_bad("shop.v1.Order", wt, sizeof(wt));
    /* field number 0 */
    const uint8_t f0[] = {0x02, 0x00};
    expect_bad("shop.v1.Order", f0, sizeof(f0));
    /* a sub-message whose own content is broken */
    const uint8_t sub[] = {0x12, 0x02, 0x0a, 0x07};
    expect_bad("shop.v1.Order", sub, sizeof(sub));
    /* invalid UTF-8 in a proto3 string */
    const uint8_t utf[] = {0x0a, 0x02, 0xc3, 0x28};
    expect_bad("shop.v1.Order", utf, sizeof(utf));
    /* an end-group with no start */
    const uint8_t grp[] = {0x0c};
    expect_bad("shop.v1.Order", grp, sizeof(grp));
    /* a map key or a singular field repeated on the wire: the last wins,
     * and the JSON has each key once */
    const uint8_t dup[] = {0x1a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x01, 0x1a, 0x05,
                           0x0a, 0x01, 'j', 0x10, 0x05, 0x1a, 0x05, 0x0a, 0x01,
                           'k', 0x10, 0x02, 0x0a, 0x01, 'a', 0x0a, 0x01, 'b',
                           /* parent { counts {k: 3} counts {k: 4} } */
                           0x7a, 0x0e, 0x1a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x03,
                           0x1a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x04};
    char *dj = decode("shop.v1.Order", dup, sizeof(dup));
    if (strstr(dj, "\"counts\":{\"j\":\"5\",\"k\":\"2\"}") == NULL ||
        strstr(dj, "\"counts\":{\"k\":\"4\"}") == NULL)
        fail_msg("%s", dj);
    assert_non_null(strstr(dj, "\"orderId\":\"b\""));
    assert_null(strstr(dj, "\"a\""));
    free(dj);
    /* unknown fields are valid and dropped */
    const uint8_t unk[] = {0xf8, 0x06, 0x01, 0x0a, 0x01, 'z'};
    char *j = decode("shop.v1.Order", unk, sizeof(unk));
    assert_non_null(strstr(j, "\"orderId\":\"z\""));
    free(j);
    char err[GPB_ERR_MAX];
    char *json;
    size_t jl;
    assert_int_equal(gpb_decode_to_json(pool, "nope.T", unk, sizeof(unk), &json,
                                        &jl, err, sizeof(err)),
                     -ENOENT);
}

/* Order.parent (field 15) nested depth times, innermost orderId = "x". */
static uint8_t *nested(int depth, size_t *len)
{
    size_t cap = 16 + (size_t)depth * 8;
    uint8_t *buf = malloc(cap);
    uint8_t *tmp = malloc(cap);
    size_t n = 3;
    buf[0] = 0x0a, buf[1] = 0x01, buf[2] = 'x';
    for (int i = 0; i < depth; i++) {
        size_t k = 0;
        tmp[k++] = 0x7a; /* field 15, length-delimited */
        size_t l = n;
        do {
            tmp[k++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l > 0);
        memcpy(tmp + k, buf, n);
        n += k;
        memcpy(buf, tmp, n);
    }
    free(tmp);
    *len = n;
    return buf;
}

static void test_deep_nesting_refused(void **st)
{
    (void)st;
    size_t n;
    uint8_t *b = nested(20, &n);
    char *j = decode("shop.v1.Order", b, n);
    assert_non_null(strstr(j, "\"orderId\":\"x\""));
    free(j);
    free(b);
    b = nested(GPB_MAX_DEPTH + 5, &n);
    expect_bad("shop.v1.Order", b, n);
    free(b);
    b = nested(5000, &n);
    expect_bad("shop.v1.Order", b, n);
    free(b);
    /* the JSON side too: encode and check refuse deep JSON */
    char *deep = malloc(20 * 1000 + 100);
    size_t k = 0;
    for (int i = 0; i < 1000; i++)
        k += (size_t)sprintf(deep + k, "{\"parent\":");
    k += (size_t)sprintf(deep + k, "{}");
    for (int i = 0; i < 1000; i++)
        deep[k++] = '}';
    deep[k] = '\0';
    char err[GPB_ERR_MAX] = "";
    uint8_t *bin = NULL;
    size_t bl;
    assert_int_not_equal(gpb_encode_from_json(pool, "shop.v1.Order", deep, k, 0,
                                              &bin, &bl, err, sizeof(err)),
                         0);
    assert_null(bin);
    assert_int_equal(gpb_check_json(pool, "shop.v1.Order", deep, k, "payload",
                                    0, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "nested deeper than"));
    free(deep);
}

/* {"extra": {"a": {"a": ... 1}}} (a Struct) or {"parent": {"parent": ...}}
 * nested levels deep. */
static char *nested_json(const char *key, int levels, const char *leaf)
{
    char *b = malloc((size_t)levels * 16 + 64);
    size_t k = (size_t)sprintf(b, "{\"%s\":", key);
    for (int i = 0; i < levels; i++)
        k += (size_t)sprintf(b + k,
                             "{\"%s\":", strcmp(key, "extra") ? key : "a");
    k += (size_t)sprintf(b + k, "%s", leaf);
    for (int i = 0; i <= levels; i++)
        b[k++] = '}';
    b[k] = '\0';
    return b;
}

/* check, encode and decode draw the depth line in the same place, so a
 * payload that passes the check always encodes, and what doppel encodes it
 * can decode. */
static void expect_depth(const char *key, int levels, int ok)
{
    char *j = nested_json(key, levels, "{}");
    char err[GPB_ERR_MAX] = "";
    int rc = gpb_check_json(pool, "shop.v1.Order", j, strlen(j), "payload", 0,
                            err, sizeof(err));
    if ((rc == 0) != ok)
        fail_msg("%s x%d: check %d %s", key, levels, rc, err);
    uint8_t *bin = NULL;
    size_t bl;
    rc = gpb_encode_from_json(pool, "shop.v1.Order", j, strlen(j), 0, &bin, &bl,
                              err, sizeof(err));
    if ((rc == 0) != ok)
        fail_msg("%s x%d: encode %d %s", key, levels, rc, err);
    if (ok) {
        char *out = NULL;
        size_t ol;
        rc = gpb_decode_to_json(pool, "shop.v1.Order", bin, bl, &out, &ol, err,
                                sizeof(err));
        if (rc != 0)
            fail_msg("%s x%d: decode %d %s", key, levels, rc, err);
        free(out);
    } else {
        if (strstr(err, "nested deeper than 64") == NULL)
            fail_msg("%s x%d: %s", key, levels, err);
    }
    free(bin);
    free(j);
}

static void test_depth_limits_agree(void **st)
{
    (void)st;
    /* the innermost {} is level levels + 1 below the top message */
    expect_depth("parent", GPB_MAX_DEPTH - 1, 1);
    expect_depth("parent", GPB_MAX_DEPTH, 0);
    /* a Struct takes three message levels per JSON level on the wire
     * (Struct, map entry, Value): the 22nd Struct is at level 64 */
    expect_depth("extra", 21, 1);
    expect_depth("extra", 22, 0);
}

static void put_varint(uint8_t *b, size_t *n, size_t v)
{
    do {
        b[(*n)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v > 0);
}

/* Order.attachment = Any{Order{attachment = Any{...}}}, levels Anys deep,
 * the innermost Order holding inner (wire bytes). */
static uint8_t *nested_any(int levels, const uint8_t *inner, size_t inner_len,
                           size_t *len)
{
    const char *url = "type.googleapis.com/shop.v1.Order";
    size_t ul = strlen(url), cap = (size_t)levels * 64 + inner_len + 64;
    uint8_t *cur = malloc(cap), *tmp = malloc(cap);
    if (inner_len > 0)
        memcpy(cur, inner, inner_len);
    size_t n = inner_len;
    for (int i = 0; i < levels; i++) {
        uint8_t any[96];
        size_t an = 0;
        any[an++] = 0x0a;
        put_varint(any, &an, ul);
        memcpy(any + an, url, ul);
        an += ul;
        any[an++] = 0x12;
        put_varint(any, &an, n);
        size_t k = 0;
        tmp[k++] = 0x5a; /* field 11, length-delimited */
        put_varint(tmp, &k, an + n);
        memcpy(tmp + k, any, an);
        k += an;
        memcpy(tmp + k, cur, n);
        k += n;
        memcpy(cur, tmp, k);
        n = k;
    }
    free(tmp);
    *len = n;
    return cur;
}

/* libprotobuf's printer does not count packed Any messages towards its
 * depth: 50000 of them (2 MB) took its memory quadratically. They count
 * here, and what is inside an Any is made canonical too. */
static void test_nested_any(void **st)
{
    (void)st;
    /* counts {k: 1} counts {k: 2}: a key repeated inside the Any */
    const uint8_t dup[] = {0x1a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x01,
                           0x1a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x02};
    size_t n;
    uint8_t *b = nested_any(1, dup, sizeof(dup), &n);
    char *j = decode("shop.v1.Order", b, n);
    if (strstr(j, "\"counts\":{\"k\":\"2\"}") == NULL)
        fail_msg("%s", j);
    free(j);
    free(b);
    /* each level is two messages (Order, Any): 32 fit in 64 */
    b = nested_any(32, NULL, 0, &n);
    j = decode("shop.v1.Order", b, n);
    free(j);
    free(b);
    b = nested_any(33, NULL, 0, &n);
    expect_bad("shop.v1.Order", b, n);
    free(b);
    b = nested_any(2000, NULL, 0, &n);
    expect_bad("shop.v1.Order", b, n);
    free(b);
}

static void test_output_cap(void **st)
{
    (void)st;
    gpb_pool_t *small = NULL;
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_new(&small, err, sizeof(err)), 0);
    gpb_source_t src = {"shop/v1/shop.proto", shop_proto, strlen(shop_proto)};
    assert_int_equal(gpb_pool_add_sources(small, &src, 1, err, sizeof(err)), 0);
    assert_int_equal(gpb_pool_set_max_json(small, 4096), 0);
    gpb_pool_freeze(small);
    assert_int_equal(gpb_pool_set_max_json(small, 1), -EPERM);
    /* 2000 empty items: 4000 bytes of wire, each printed with its defaults
     * (about 30 bytes of JSON each) */
    size_t n = 4000;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i += 2)
        b[i] = 0x12, b[i + 1] = 0x00;
    char *json = NULL;
    size_t jl = 0;
    assert_int_equal(gpb_decode_to_json(small, "shop.v1.Order", b, n, &json,
                                        &jl, err, sizeof(err)),
                     -EMSGSIZE);
    assert_null(json);
    assert_non_null(strstr(err, "4096-byte limit"));
    /* the same message fits the default cap */
    assert_int_equal(gpb_decode_to_json(pool, "shop.v1.Order", b, n, &json, &jl,
                                        err, sizeof(err)),
                     0);
    assert_true(jl > 4096);
    free(json);
    /* a message just under the cap decodes */
    assert_int_equal(gpb_decode_to_json(small, "shop.v1.Item",
                                        (const uint8_t *)"", 0, &json, &jl, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(json, "{\"sku\":\"\",\"qty\":0,\"price\":0}");
    free(json);
    free(b);
    gpb_pool_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_printed_with_json_names),
        cmocka_unit_test(test_well_known_types_in_json),
        cmocka_unit_test(test_round_trip_everything),
        cmocka_unit_test(test_proto_names_accepted_unknown_named),
        cmocka_unit_test(test_coercion_of_rendered_templates),
        cmocka_unit_test(test_encoder_matches_libprotobuf),
        cmocka_unit_test(test_encode_cache_keys),
        cmocka_unit_test(test_decode_same_bytes_other_type),
        cmocka_unit_test(test_malformed_binary),
        cmocka_unit_test(test_deep_nesting_refused),
        cmocka_unit_test(test_depth_limits_agree),
        cmocka_unit_test(test_nested_any),
        cmocka_unit_test(test_output_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
