/*
 * libFuzzer target: the protobuf layer of the gRPC plugin (dp_grpcpb).
 * First byte % 4 picks what the rest is:
 *   0, 1: wire bytes of fuzz.Msg (nested, repeated, map, oneof, Any, Struct,
 *         Timestamp fields), decoded to JSON; when that succeeds the JSON is
 *         encoded again and decoded again, and the two JSON texts must be
 *         equal (a round trip that is not stable aborts); the same bytes
 *         are also answered as a server reflection request;
 *   2:    JSON text: checked against fuzz.Msg (with and without template
 *         leniency), encoded (with and without coercion) by the Reflection
 *         encoder and by libprotobuf's parser: where both succeed, the two
 *         encodings must decode to equal JSON;
 *   3:    a condition path (normalised, also as a client-stream path) and
 *         an errorDetails array (checked, then built into a Status).
 * The pool is built once, from an in-memory .proto.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcpb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_proto[] =
    "syntax = \"proto3\";\n"
    "package fuzz;\n"
    "import \"google/protobuf/any.proto\";\n"
    "import \"google/protobuf/struct.proto\";\n"
    "import \"google/protobuf/timestamp.proto\";\n"
    "import \"google/protobuf/duration.proto\";\n"
    "import \"google/protobuf/wrappers.proto\";\n"
    "enum Kind { K0 = 0; K1 = 1; K2 = 2; }\n"
    "message Leaf { string s = 1; bytes b = 2; sint64 z = 3; fixed32 f = 4;\n"
    "  double d = 5; float fl = 6; bool ok = 7; Kind k = 8; uint64 u = 9; }\n"
    "message Msg {\n"
    "  int32 i = 1;\n"
    "  repeated Leaf leaves = 2;\n"
    "  map<string, Leaf> by_name = 3;\n"
    "  map<int64, string> by_num = 4;\n"
    "  oneof choice { string text = 5; Leaf leaf = 6; int64 big = 7; }\n"
    "  google.protobuf.Any any = 8;\n"
    "  Msg child = 9;\n"
    "  repeated int32 packed = 10;\n"
    "  google.protobuf.Struct st = 11;\n"
    "  google.protobuf.Timestamp ts = 12;\n"
    "  google.protobuf.Duration du = 13;\n"
    "  google.protobuf.StringValue sv = 14;\n"
    "  google.protobuf.Value val = 15;\n"
    "  optional int32 opt = 16;\n"
    "  repeated Kind kinds = 17;\n"
    "  map<bool, Msg> flags = 18;\n"
    "}\n";

static gpb_pool_t *pool;

static gpb_pool_t *fuzz_pool(void)
{
    if (pool != NULL)
        return pool;
    char err[GPB_ERR_MAX];
    if (gpb_pool_new(&pool, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_grpc_message: %s\n", err);
        abort();
    }
    gpb_source_t src = {"fuzz.proto", fuzz_proto, sizeof(fuzz_proto) - 1};
    if (gpb_pool_add_sources(pool, &src, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_grpc_message: %s\n", err);
        abort();
    }
    /* small enough that the cap is reached now and then */
    gpb_pool_set_max_json(pool, 1 << 20);
    gpb_pool_freeze(pool);
    return pool;
}

static void wire(gpb_pool_t *p, const uint8_t *b, size_t n)
{
    char err[GPB_ERR_MAX];
    char *j1 = NULL, *j2 = NULL;
    size_t l1, l2, bl;
    uint8_t *bin = NULL;
    uint8_t *refl = NULL;
    size_t rl;
    /* the same bytes as a server reflection request */
    if (gpb_reflect_answer(p, b, n, GPB_REFLECT_LIST_USER, &refl, &rl, err,
                           sizeof(err)) == 0)
        free(refl);
    if (gpb_decode_to_json(p, "fuzz.Msg", b, n, &j1, &l1, err, sizeof(err)) !=
        0)
        return;
    if (strlen(j1) != l1)
        abort();
    /* JSON that the printer produced may still not parse back (a Timestamp
     * out of range, an Any of an unknown type): only a stable round trip is
     * required of what does. */
    if (gpb_encode_from_json(p, "fuzz.Msg", j1, l1, 0, &bin, &bl, err,
                             sizeof(err)) == 0) {
        if (gpb_decode_to_json(p, "fuzz.Msg", bin, bl, &j2, &l2, err,
                               sizeof(err)) != 0) {
            fprintf(stderr, "re-decode failed: %s\n%s\n", err, j1);
            abort();
        }
        if (l1 != l2 || memcmp(j1, j2, l1) != 0) {
            fprintf(stderr, "unstable round trip:\n%s\n%s\n", j1, j2);
            abort();
        }
    }
    free(bin);
    free(j1);
    free(j2);
}

/* Decodes, encodes that JSON again and decodes once more: libprotobuf's
 * printer shows the defaults of a packed Any only when its bytes are not
 * empty, and the two encoders differ in writing explicit zeros, so the
 * comparison is made on this normal form. */
static char *decode_or_null(gpb_pool_t *p, const uint8_t *b, size_t n)
{
    char err[GPB_ERR_MAX];
    char *j = NULL, *j2 = NULL;
    size_t jl, bl;
    uint8_t *bin = NULL;
    if (gpb_decode_to_json(p, "fuzz.Msg", b, n, &j, &jl, err, sizeof(err)) != 0)
        return NULL;
    if (gpb_encode_from_json(p, "fuzz.Msg", j, jl, 0, &bin, &bl, err,
                             sizeof(err)) != 0 ||
        gpb_decode_to_json(p, "fuzz.Msg", bin, bl, &j2, &jl, err,
                           sizeof(err)) != 0) {
        free(bin);
        return j;
    }
    free(bin);
    free(j);
    return j2;
}

/* Where both encoders take the JSON, their encodings decode alike. */
static void compare_encoders(gpb_pool_t *p, const char *s, size_t n,
                             unsigned flags)
{
    char err[GPB_ERR_MAX];
    uint8_t *a = NULL, *b = NULL;
    size_t al, bl;
    int ra = gpb_encode_from_json(p, "fuzz.Msg", s, n, flags, &a, &al, err,
                                  sizeof(err));
    int rb = gpb_encode_from_json_reference(p, "fuzz.Msg", s, n, flags, &b, &bl,
                                            err, sizeof(err));
    if (ra == 0 && rb == 0) {
        char *ja = decode_or_null(p, a, al);
        char *jb = decode_or_null(p, b, bl);
        json_t *va = ja ? json_loads(ja, JSON_ALLOW_NUL, NULL) : NULL;
        json_t *vb = jb ? json_loads(jb, JSON_ALLOW_NUL, NULL) : NULL;
        if ((ja == NULL) != (jb == NULL) ||
            (va != NULL && vb != NULL && !json_equal(va, vb))) {
            fprintf(stderr, "encoders differ on %.*s:\n%s\n%s\n", (int)n, s,
                    ja ? ja : "(no decode)", jb ? jb : "(no decode)");
            abort();
        }
        json_decref(va);
        json_decref(vb);
        free(ja);
        free(jb);
    }
    free(a);
    free(b);
}

static void json_text(gpb_pool_t *p, const char *s, size_t n)
{
    char err[GPB_ERR_MAX];
    gpb_check_json(p, "fuzz.Msg", s, n, "payload", 0, err, sizeof(err));
    gpb_check_json(p, "fuzz.Msg", s, n, "payload", GPB_CHECK_TEMPLATES, err,
                   sizeof(err));
    compare_encoders(p, s, n, 0);
    compare_encoders(p, s, n, GPB_ENC_COERCE);
}

static void path_and_details(gpb_pool_t *p, const char *s, size_t n)
{
    char out[256], err[GPB_ERR_MAX];
    gpb_field_path_normalise(p, "fuzz.Msg", s, 0, out, sizeof(out), err,
                             sizeof(err));
    gpb_field_path_normalise(p, "fuzz.Msg", s, GPB_PATH_CLIENT_STREAM, out,
                             sizeof(out), err, sizeof(err));
    json_t *d = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (d != NULL) {
        gpb_check_error_details(p, d, "errorDetails", 0, err, sizeof(err));
        json_decref(d);
    }
    uint8_t *bin = NULL;
    size_t bl;
    if (gpb_status_details_bin(p, 3, s, s, n, &bin, &bl, err, sizeof(err)) ==
        0) {
        char *j = NULL;
        size_t jl;
        if (gpb_decode_to_json(p, "google.rpc.Status", bin, bl, &j, &jl, err,
                               sizeof(err)) != 0) {
            fprintf(stderr, "our own Status does not decode: %s\n", err);
            abort();
        }
        free(j);
    }
    free(bin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    gpb_pool_t *p = fuzz_pool();
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0:
    case 1:
        wire(p, data + 1, size - 1);
        break;
    case 2:
        json_text(p, s, size - 1);
        break;
    default:
        path_and_details(p, s, strlen(s));
    }
    free(s);
    return 0;
}
