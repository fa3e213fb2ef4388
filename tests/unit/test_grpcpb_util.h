/* Shared fixtures of the dp_grpcpb suites: a shop.v1 test schema and
 * helpers to build pools and compare JSON. */
#ifndef TEST_GRPCPB_UTIL_H
#define TEST_GRPCPB_UTIL_H

#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpcpb.h"

static const char shop_proto[] =
    "syntax = \"proto3\";\n"
    "package shop.v1;\n"
    "import \"google/protobuf/timestamp.proto\";\n"
    "import \"google/protobuf/struct.proto\";\n"
    "import \"google/protobuf/any.proto\";\n"
    "import \"google/protobuf/wrappers.proto\";\n"
    "import \"google/protobuf/duration.proto\";\n"
    "enum Status { STATUS_UNSPECIFIED = 0; OPEN = 1; CLOSED = 2; }\n"
    "message Item { string sku = 1; int32 qty = 2; double price = 3; }\n"
    "message Order {\n"
    "  string order_id = 1;\n"
    "  repeated Item items = 2;\n"
    "  map<string, int64> counts = 3;\n"
    "  Status status = 4;\n"
    "  int64 total_cents = 5;\n"
    "  uint32 flags = 6;\n"
    "  bool paid = 7;\n"
    "  bytes blob = 8;\n"
    "  google.protobuf.Timestamp created_at = 9;\n"
    "  google.protobuf.Struct extra = 10;\n"
    "  google.protobuf.Any attachment = 11;\n"
    "  google.protobuf.Int32Value maybe = 12;\n"
    "  oneof kind { string note = 13; Item gift = 14; }\n"
    "  Order parent = 15;\n"
    "  float ratio = 16;\n"
    "  google.protobuf.Duration ttl = 17;\n"
    "  map<int32, Item> by_pos = 18;\n"
    "  repeated string tags = 19;\n"
    "}\n"
    "message GetOrderRequest { string order_id = 1; Item filter = 2; }\n"
    "service OrderService {\n"
    "  rpc GetOrder(GetOrderRequest) returns (Order);\n"
    "  rpc Watch(GetOrderRequest) returns (stream Order);\n"
    "  rpc Upload(stream Item) returns (Order);\n"
    "  rpc Chat(stream Item) returns (stream Item);\n"
    "}\n";

/* A frozen pool holding shop/v1/shop.proto. */
static inline gpb_pool_t *shop_pool(void)
{
    char err[GPB_ERR_MAX] = "";
    gpb_pool_t *pool = NULL;
    int rc = gpb_pool_new(&pool, err, sizeof(err));
    if (rc != 0)
        fail_msg("gpb_pool_new: %d %s", rc, err);
    gpb_source_t src = {"shop/v1/shop.proto", shop_proto, strlen(shop_proto)};
    rc = gpb_pool_add_sources(pool, &src, 1, err, sizeof(err));
    if (rc != 0)
        fail_msg("add shop.proto: %d %s", rc, err);
    gpb_pool_freeze(pool);
    return pool;
}

/* Asserts that JSON text a equals the JSON value of text b. */
#define assert_json_eq(a, b) assert_json_eq_at(a, b, __FILE__, __LINE__)
static inline void assert_json_eq_at(const char *a, const char *b,
                                     const char *file, int line)
{
    json_error_t e1, e2;
    json_t *ja = json_loads(a, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e1);
    json_t *jb = json_loads(b, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e2);
    if (ja == NULL || jb == NULL || !json_equal(ja, jb)) {
        json_decref(ja);
        json_decref(jb);
        print_error("JSON differs:\n  got  %s\n  want %s\n", a, b);
        _fail(file, line);
    }
    json_decref(ja);
    json_decref(jb);
}

/* JSON text -> binary -> JSON text (the caller frees the result). */
static inline char *round_trip(gpb_pool_t *pool, const char *type,
                               const char *json)
{
    char err[GPB_ERR_MAX] = "";
    uint8_t *bin = NULL;
    size_t blen = 0;
    int rc = gpb_encode_from_json(pool, type, json, strlen(json), 0, &bin,
                                  &blen, err, sizeof(err));
    if (rc != 0)
        fail_msg("encode %s: %d %s", json, rc, err);
    char *out = NULL;
    size_t olen = 0;
    rc = gpb_decode_to_json(pool, type, bin, blen, &out, &olen, err,
                            sizeof(err));
    free(bin);
    if (rc != 0)
        fail_msg("decode: %d %s", rc, err);
    assert_int_equal(strlen(out), olen);
    return out;
}

#endif
