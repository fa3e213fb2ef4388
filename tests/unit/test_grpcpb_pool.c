/* dp_grpcpb pools: .proto parse errors with file:line:col, imports between
 * uploads (all-or-nothing), directories, lookups and reflection. */
#include <sys/stat.h>
#include <unistd.h>

#include "test_grpcpb_util.h"

static gpb_pool_t *new_pool(void)
{
    char err[GPB_ERR_MAX] = "";
    gpb_pool_t *pool = NULL;
    assert_int_equal(gpb_pool_new(&pool, err, sizeof(err)), 0);
    assert_non_null(pool);
    return pool;
}

static void test_builtins_are_loaded(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *types[] = {"google.protobuf.Timestamp",
                           "google.protobuf.Any",
                           "google.protobuf.Struct",
                           "google.protobuf.Empty",
                           "google.protobuf.FieldMask",
                           "google.protobuf.Int64Value",
                           "google.rpc.Status",
                           "google.rpc.BadRequest",
                           "google.rpc.RetryInfo",
                           "grpc.health.v1.HealthCheckRequest",
                           "grpc.reflection.v1.ServerReflectionRequest",
                           "grpc.reflection.v1alpha.ServerReflectionResponse"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        assert_int_equal(gpb_message_exists(pool, types[i]), 1);
    assert_int_equal(gpb_message_exists(pool, "no.Such"), 0);
    /* health and both reflection services, sorted, flagged built-in */
    assert_int_equal(gpb_service_count(pool), 3);
    assert_string_equal(gpb_service_name(pool, 0), "grpc.health.v1.Health");
    assert_string_equal(gpb_service_name(pool, 1),
                        "grpc.reflection.v1.ServerReflection");
    assert_string_equal(gpb_service_name(pool, 2),
                        "grpc.reflection.v1alpha.ServerReflection");
    assert_int_equal(gpb_service_is_builtin(pool, 0), 1);
    assert_null(gpb_service_name(pool, 3));
    gpb_method_info_t mi;
    char err[GPB_ERR_MAX];
    assert_int_equal(gpb_method_find(pool, "grpc.health.v1.Health", "Watch",
                                     &mi, err, sizeof(err)),
                     0);
    assert_false(mi.client_streaming);
    assert_true(mi.server_streaming);
    assert_string_equal(mi.input_type, "grpc.health.v1.HealthCheckRequest");
    assert_int_equal(gpb_method_find(pool,
                                     "grpc.reflection.v1."
                                     "ServerReflection",
                                     "ServerReflectionInfo", &mi, err,
                                     sizeof(err)),
                     0);
    assert_true(mi.client_streaming && mi.server_streaming);
    gpb_pool_free(pool);
}

static void test_methods_and_streaming_flags(void **st)
{
    (void)st;
    gpb_pool_t *pool = shop_pool();
    char err[GPB_ERR_MAX] = "";
    gpb_method_info_t mi;
    assert_int_equal(gpb_method_find(pool, "shop.v1.OrderService", "GetOrder",
                                     &mi, err, sizeof(err)),
                     0);
    assert_string_equal(mi.service, "shop.v1.OrderService");
    assert_string_equal(mi.method, "GetOrder");
    assert_string_equal(mi.input_type, "shop.v1.GetOrderRequest");
    assert_string_equal(mi.output_type, "shop.v1.Order");
    assert_string_equal(mi.file, "shop/v1/shop.proto");
    assert_false(mi.client_streaming || mi.server_streaming);
    assert_string_equal(gpb_method_kind(&mi), "unary");
    const char *kinds[] = {"unary", "server-stream", "client-stream",
                           "bidirectional"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(gpb_method_at(pool, "shop.v1.OrderService", i, &mi),
                         0);
        assert_string_equal(gpb_method_kind(&mi), kinds[i]);
    }
    assert_int_equal(gpb_method_count(pool, "shop.v1.OrderService"), 4);
    assert_int_equal(gpb_method_at(pool, "shop.v1.OrderService", 2, &mi), 0);
    assert_string_equal(mi.method, "Upload");
    assert_true(mi.client_streaming);
    assert_false(mi.server_streaming);
    assert_int_equal(gpb_method_at(pool, "shop.v1.OrderService", 3, &mi), 0);
    assert_true(mi.client_streaming && mi.server_streaming);
    assert_int_equal(gpb_method_at(pool, "shop.v1.OrderService", 4, &mi),
                     -ERANGE);
    assert_int_equal(gpb_method_count(pool, "shop.v1.Nope"), -ENOENT);

    assert_int_equal(gpb_method_find(pool, "shop.v1.OrderService", "Nope", &mi,
                                     err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err,
                        "service 'shop.v1.OrderService' has no method 'Nope'");
    assert_int_equal(gpb_method_find(pool, "shop.OrderService", "GetOrder", &mi,
                                     err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "unknown service 'shop.OrderService'");
    /* the user's service is listed, not built-in */
    int found = 0;
    for (size_t i = 0; i < gpb_service_count(pool); i++)
        if (!strcmp(gpb_service_name(pool, i), "shop.v1.OrderService")) {
            found = 1;
            assert_int_equal(gpb_service_is_builtin(pool, i), 0);
        }
    assert_true(found);
    gpb_pool_free(pool);
}

static void test_parse_error_names_file_line_column(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *bad = "syntax = \"proto3\";\n"
                      "package a;\n"
                      "message M {\n"
                      "  strin name = 1;\n"
                      "}\n";
    gpb_source_t src = {"a/bad.proto", bad, strlen(bad)};
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_add_sources(pool, &src, 1, err, sizeof(err)),
                     -EINVAL);
    /* "strin" is taken as an unknown type at line 4, column 3 */
    assert_non_null(strstr(err, "a/bad.proto:4:3: "));
    assert_non_null(strstr(err, "strin"));

    const char *syntax = "syntax = \"proto3\";\nmessage M { int32 x = ; }\n";
    gpb_source_t s2 = {"b.proto", syntax, strlen(syntax)};
    assert_int_equal(gpb_pool_add_sources(pool, &s2, 1, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "b.proto:2:23: "));
    assert_string_equal(err, "b.proto:2:23: Expected field number.");
    /* nothing of the failed files is in the pool */
    assert_int_equal(gpb_message_exists(pool, "a.M"), 0);
    assert_int_equal(gpb_message_exists(pool, "M"), 0);
    gpb_pool_free(pool);
}

static void test_missing_import_is_named(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *p = "syntax = \"proto3\";\n"
                    "import \"lib/missing.proto\";\n"
                    "message M { lib.T t = 1; }\n";
    gpb_source_t src = {"m.proto", p, strlen(p)};
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_add_sources(pool, &src, 1, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "lib/missing.proto"));
    assert_non_null(strstr(err, "m.proto:2:1: "));
    gpb_pool_free(pool);
}

static const char lib_proto[] = "syntax = \"proto3\";\n"
                                "package lib;\n"
                                "message T { string v = 1; }\n";
static const char app_proto[] = "syntax = \"proto3\";\n"
                                "package app;\n"
                                "import \"lib/t.proto\";\n"
                                "message Req { lib.T t = 1; }\n"
                                "service S { rpc Do(Req) returns (lib.T); }\n";

static void test_uploads_import_each_other(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    /* the importer comes first in the set: order does not matter */
    gpb_source_t set[2] = {{"app/app.proto", app_proto, strlen(app_proto)},
                           {"lib/t.proto", lib_proto, strlen(lib_proto)}};
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_add_sources(pool, set, 2, err, sizeof(err)), 0);
    gpb_method_info_t mi;
    assert_int_equal(
        gpb_method_find(pool, "app.S", "Do", &mi, err, sizeof(err)), 0);
    assert_string_equal(mi.output_type, "lib.T");
    /* a later upload may import an earlier one */
    const char *more = "syntax = \"proto3\";\nimport \"lib/t.proto\";\n"
                       "message Wrap { lib.T t = 1; }\n";
    gpb_source_t s3 = {"more.proto", more, strlen(more)};
    assert_int_equal(gpb_pool_add_sources(pool, &s3, 1, err, sizeof(err)), 0);
    assert_int_equal(gpb_message_exists(pool, "Wrap"), 1);
    /* the same name again is refused: a new pool replaces files */
    assert_int_equal(gpb_pool_add_sources(pool, &s3, 1, err, sizeof(err)),
                     -EEXIST);
    assert_string_equal(err, "more.proto: already loaded");
    gpb_pool_freeze(pool);
    assert_int_equal(gpb_pool_add_sources(pool, &s3, 1, err, sizeof(err)),
                     -EPERM);
    gpb_pool_free(pool);
}

static void test_upload_set_is_all_or_nothing(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *bad = "syntax = \"proto3\";\nimport \"lib/t.proto\";\n"
                      "message B { lib.Nope n = 1; }\n";
    gpb_source_t set[2] = {{"lib/t.proto", lib_proto, strlen(lib_proto)},
                           {"b.proto", bad, strlen(bad)}};
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_add_sources(pool, set, 2, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "b.proto:3:"));
    assert_non_null(strstr(err, "lib.Nope"));
    /* the good file of the set was not kept */
    assert_int_equal(gpb_message_exists(pool, "lib.T"), 0);
    /* and can be added on its own afterwards, under the same name */
    assert_int_equal(gpb_pool_add_sources(pool, set, 1, err, sizeof(err)), 0);
    assert_int_equal(gpb_message_exists(pool, "lib.T"), 1);
    /* a set that redefines a loaded symbol fails as a whole */
    const char *dup = "syntax = \"proto3\";\npackage lib;\n"
                      "message T { int32 x = 1; }\n";
    const char *ok = "syntax = \"proto3\";\nmessage Fine {}\n";
    gpb_source_t set2[2] = {{"ok.proto", ok, strlen(ok)},
                            {"dup.proto", dup, strlen(dup)}};
    assert_int_equal(gpb_pool_add_sources(pool, set2, 2, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "dup.proto:3:"));
    assert_non_null(strstr(err, "lib.T"));
    assert_int_equal(gpb_message_exists(pool, "Fine"), 0);
    gpb_pool_free(pool);
}

static void test_bad_upload_names(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *names[] = {"/abs.proto",
                           "../up.proto",
                           "a/../b.proto",
                           "a//b.proto",
                           "noext",
                           "./a.proto",
                           ""};
    char err[GPB_ERR_MAX] = "";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        gpb_source_t s = {names[i], lib_proto, strlen(lib_proto)};
        assert_int_equal(gpb_pool_add_sources(pool, &s, 1, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "must be relative"));
    }
    /* a vendored copy of a well-known type is skipped, the built-in kept */
    const char *fake = "syntax = \"proto3\";\npackage google.protobuf;\n"
                       "message Timestamp { string broken = 1; }\n";
    gpb_source_t s = {"google/protobuf/timestamp.proto", fake, strlen(fake)};
    assert_int_equal(gpb_pool_add_sources(pool, &s, 1, err, sizeof(err)), 0);
    char *json = NULL;
    size_t jl;
    const uint8_t ts[] = {0x08, 0x01}; /* seconds = 1 */
    assert_int_equal(gpb_decode_to_json(pool, "google.protobuf.Timestamp", ts,
                                        sizeof(ts), &json, &jl, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(json, "\"1970-01-01T00:00:01Z\"");
    free(json);
    gpb_pool_free(pool);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void test_directories_load_every_file(void **st)
{
    (void)st;
    char root[] = "/tmp/grpcpb-XXXXXX";
    assert_non_null(mkdtemp(root));
    char p[512];
    snprintf(p, sizeof(p), "%s/lib", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/lib/t.proto", root);
    write_file(p, lib_proto);
    snprintf(p, sizeof(p), "%s/app.proto", root);
    write_file(p, app_proto);
    char other[] = "/tmp/grpcpb-XXXXXX";
    assert_non_null(mkdtemp(other));
    snprintf(p, sizeof(p), "%s/bad.proto", other);
    write_file(p, "syntax = \"proto3\";\nmessage X {\n  int32 = 1;\n}\n");
    snprintf(p, sizeof(p), "%s/.hidden.proto", other);
    write_file(p, "not a proto at all");
    snprintf(p, sizeof(p), "%s/readme.txt", other);
    write_file(p, "not a proto either");
    /* symlink loops: each directory is read once */
    char link[600];
    snprintf(link, sizeof(link), "%s/loop1", other);
    assert_int_equal(symlink(other, link), 0);
    snprintf(link, sizeof(link), "%s/loop2", other);
    assert_int_equal(symlink(other, link), 0);

    gpb_pool_t *pool = new_pool();
    char err[GPB_ERR_MAX] = "";
    char dirs[1100];
    snprintf(dirs, sizeof(dirs), "%s::%s", root, other);
    /* one bad file: reported, the others stay loaded */
    assert_int_equal(gpb_pool_add_path(pool, dirs, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad.proto:3:9: "));
    assert_null(strstr(err, "more files"));
    gpb_method_info_t mi;
    assert_int_equal(
        gpb_method_find(pool, "app.S", "Do", &mi, err, sizeof(err)), 0);
    assert_string_equal(mi.file, "app.proto");
    /* an upload may import a directory's file */
    const char *up = "syntax = \"proto3\";\nimport \"lib/t.proto\";\n"
                     "message U { lib.T t = 1; }\n";
    gpb_source_t s = {"up.proto", up, strlen(up)};
    assert_int_equal(gpb_pool_add_sources(pool, &s, 1, err, sizeof(err)), 0);
    /* a missing directory */
    assert_int_equal(
        gpb_pool_add_path(pool, "/nonexistent/protos", err, sizeof(err)),
        -ENOENT);
    assert_string_equal(err, "proto_path: '/nonexistent/protos': No such file "
                             "or directory");
    gpb_pool_free(pool);

    snprintf(p, sizeof(p), "rm -rf '%s' '%s'", root, other);
    assert_int_equal(system(p), 0);
}

static void test_proto_dir_env_override(void **st)
{
    (void)st;
    /* from the build tree: the source tree's proto/ */
    const char *d = gpb_proto_dir();
    char p[1024];
    snprintf(p, sizeof(p), "%s/google/rpc/status.proto", d);
    assert_int_equal(access(p, R_OK), 0);
    setenv("DOPPEL_PROTO_DIR", "/nonexistent/doppel-proto", 1);
    assert_string_equal(gpb_proto_dir(), "/nonexistent/doppel-proto");
    gpb_pool_t *pool = NULL;
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_new(&pool, err, sizeof(err)), -ENOENT);
    assert_null(pool);
    assert_non_null(strstr(err, "/nonexistent/doppel-proto"));
    assert_non_null(strstr(err, "DOPPEL_PROTO_DIR"));
    unsetenv("DOPPEL_PROTO_DIR");
}

static void test_refcount(void **st)
{
    (void)st;
    gpb_pool_t *pool = shop_pool();
    assert_ptr_equal(gpb_pool_ref(pool), pool);
    gpb_pool_unref(pool);
    /* still alive after one unref */
    assert_int_equal(gpb_message_exists(pool, "shop.v1.Order"), 1);
    gpb_pool_unref(pool);
    gpb_pool_unref(NULL);
}

/* FileDescriptorProto field 1 is the name, field 3 the dependencies: enough
 * to read back what reflection returns. */
static int fdp_name_is(const uint8_t *p, size_t n, const char *want)
{
    if (n < 2 || p[0] != 0x0a || p[1] >= 0x80 || (size_t)p[1] + 2 > n)
        return 0;
    return strlen(want) == p[1] && memcmp(p + 2, want, p[1]) == 0;
}

static void test_reflection_files_and_dependencies(void **st)
{
    (void)st;
    gpb_pool_t *pool = shop_pool();
    char err[GPB_ERR_MAX] = "";
    gpb_blobs_t b;
    assert_int_equal(gpb_reflect_file_containing_symbol(
                         pool, "shop.v1.OrderService", &b, err, sizeof(err)),
                     0);
    /* the file first, then its five well-known imports, each once */
    assert_int_equal(b.n, 6);
    assert_string_equal(b.names[0], "shop/v1/shop.proto");
    assert_true(fdp_name_is(b.data[0], b.len[0], "shop/v1/shop.proto"));
    int ts = 0;
    for (size_t i = 1; i < b.n; i++) {
        assert_true(fdp_name_is(b.data[i], b.len[i], b.names[i]));
        ts += !strcmp(b.names[i], "google/protobuf/timestamp.proto");
    }
    assert_int_equal(ts, 1);
    /* the serialised descriptor decodes with the pool's own descriptor.proto */
    char *json = NULL;
    size_t jl;
    assert_int_equal(gpb_decode_to_json(pool,
                                        "google.protobuf."
                                        "FileDescriptorProto",
                                        b.data[0], b.len[0], &json, &jl, err,
                                        sizeof(err)),
                     0);
    assert_non_null(strstr(json, "\"name\":\"OrderService\""));
    assert_non_null(strstr(json, "\"jsonName\":\"orderId\""));
    free(json);
    gpb_blobs_free(&b);

    /* methods and nested symbols resolve too */
    assert_int_equal(
        gpb_reflect_file_containing_symbol(
            pool, "shop.v1.OrderService.GetOrder", &b, err, sizeof(err)),
        0);
    assert_string_equal(b.names[0], "shop/v1/shop.proto");
    gpb_blobs_free(&b);
    assert_int_equal(gpb_reflect_file_containing_symbol(pool, "shop.v1.Nope",
                                                        &b, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "symbol 'shop.v1.Nope' not found");
    assert_int_equal(b.n, 0);

    assert_int_equal(gpb_reflect_file_by_name(pool,
                                              "google/protobuf/struct.proto",
                                              &b, err, sizeof(err)),
                     0);
    assert_int_equal(b.n, 1);
    gpb_blobs_free(&b);
    assert_int_equal(gpb_reflect_file_by_name(pool,
                                              "grpc/health/v1/"
                                              "health.proto",
                                              &b, err, sizeof(err)),
                     0);
    gpb_blobs_free(&b);
    /* a file on disk that was never loaded is not served */
    assert_int_equal(gpb_reflect_file_by_name(pool,
                                              "google/protobuf/"
                                              "compiler/plugin.proto",
                                              &b, err, sizeof(err)),
                     -ENOENT);
    int *nums = NULL;
    size_t nn = 9;
    assert_int_equal(gpb_reflect_extension_numbers(pool, "shop.v1.Order", &nums,
                                                   &nn, err, sizeof(err)),
                     0);
    assert_int_equal(nn, 0);
    assert_null(nums);
    assert_int_equal(gpb_reflect_file_containing_extension(
                         pool, "shop.v1.Order", 100, &b, err, sizeof(err)),
                     -ENOENT);
    gpb_pool_free(pool);
}

static void test_reflection_extensions(void **st)
{
    (void)st;
    gpb_pool_t *pool = new_pool();
    const char *p2 = "syntax = \"proto2\";\npackage ext;\n"
                     "message Base { extensions 100 to 200; }\n"
                     "extend Base { optional string tag = 150; "
                     "optional int32 n = 101; }\n";
    gpb_source_t s = {"ext.proto", p2, strlen(p2)};
    char err[GPB_ERR_MAX] = "";
    assert_int_equal(gpb_pool_add_sources(pool, &s, 1, err, sizeof(err)), 0);
    gpb_pool_freeze(pool);
    int *nums = NULL;
    size_t nn = 0;
    assert_int_equal(gpb_reflect_extension_numbers(pool, "ext.Base", &nums, &nn,
                                                   err, sizeof(err)),
                     0);
    assert_int_equal(nn, 2);
    assert_int_equal(nums[0], 101);
    assert_int_equal(nums[1], 150);
    free(nums);
    gpb_blobs_t b;
    assert_int_equal(gpb_reflect_file_containing_extension(
                         pool, "ext.Base", 150, &b, err, sizeof(err)),
                     0);
    assert_string_equal(b.names[0], "ext.proto");
    gpb_blobs_free(&b);
    gpb_pool_free(pool);
}

/* Encodes a request JSON, answers it, returns the answer as JSON. */
static char *reflect(gpb_pool_t *pool, const char *pkg, const char *req_json,
                     unsigned flags)
{
    char err[GPB_ERR_MAX] = "", type[128];
    snprintf(type, sizeof(type), "%s.ServerReflectionRequest", pkg);
    uint8_t *req = NULL, *resp = NULL;
    size_t rl, pl;
    int rc = gpb_encode_from_json(pool, type, req_json, strlen(req_json), 0,
                                  &req, &rl, err, sizeof(err));
    if (rc != 0)
        fail_msg("encode %s: %s", req_json, err);
    rc = gpb_reflect_answer(pool, req, rl, flags, &resp, &pl, err, sizeof(err));
    free(req);
    if (rc != 0)
        fail_msg("answer %s: %d %s", req_json, rc, err);
    snprintf(type, sizeof(type), "%s.ServerReflectionResponse", pkg);
    char *json = NULL;
    size_t jl;
    rc = gpb_decode_to_json(pool, type, resp, pl, &json, &jl, err, sizeof(err));
    free(resp);
    if (rc != 0)
        fail_msg("decode answer: %s", err);
    return json;
}

static void test_reflection_answers(void **st)
{
    (void)st;
    gpb_pool_t *pool = shop_pool();
    const unsigned all = GPB_REFLECT_LIST_USER | GPB_REFLECT_LIST_HEALTH |
                         GPB_REFLECT_LIST_REFLECTION;
    char *j = reflect(pool, "grpc.reflection.v1",
                      "{\"host\": \"h\", \"listServices\": \"*\"}", all);
    json_t *v = json_loads(j, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "validHost")),
                        "h");
    json_t *orig = json_object_get(v, "originalRequest");
    assert_string_equal(
        json_string_value(json_object_get(orig, "listServices")), "*");
    json_t *svcs =
        json_object_get(json_object_get(v, "listServicesResponse"), "service");
    assert_int_equal(json_array_size(svcs), 4);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(svcs, 0), "name")),
        "grpc.health.v1.Health");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(svcs, 3), "name")),
        "shop.v1.OrderService");
    json_decref(v);
    free(j);
    /* only the user's services, on the v1alpha wire */
    j = reflect(pool, "grpc.reflection.v1alpha", "{\"listServices\": \"\"}",
                GPB_REFLECT_LIST_USER);
    assert_non_null(strstr(j, "\"service\":[{\"name\":\"shop.v1."
                              "OrderService\"}]"));
    free(j);

    /* a symbol: the file and its dependencies, decodable */
    j = reflect(pool, "grpc.reflection.v1",
                "{\"fileContainingSymbol\": \"shop.v1.OrderService\"}", all);
    v = json_loads(j, 0, NULL);
    json_t *fds = json_object_get(json_object_get(v, "fileDescriptorResponse"),
                                  "fileDescriptorProto");
    assert_int_equal(json_array_size(fds), 6);
    const char *first = json_string_value(json_array_get(fds, 0));
    /* base64 of the FileDescriptorProto: field 1 (name) comes first */
    assert_true(strncmp(first, "ChJzaG9wL3YxL3Nob3AucHJvdG8", 27) == 0);
    json_decref(v);
    free(j);

    /* what the pool lacks is an error_response, not a failure */
    j = reflect(pool, "grpc.reflection.v1",
                "{\"fileByFilename\": \"nope.proto\"}", all);
    assert_non_null(strstr(j, "\"errorResponse\":{\"errorCode\":5,"
                              "\"errorMessage\":\"file 'nope.proto' not "
                              "found\"}"));
    free(j);
    j = reflect(pool, "grpc.reflection.v1",
                "{\"fileContainingExtension\": {\"containingType\": "
                "\"shop.v1.Order\", \"extensionNumber\": 5}}",
                all);
    assert_non_null(strstr(j, "\"errorCode\":5"));
    free(j);
    j = reflect(pool, "grpc.reflection.v1",
                "{\"allExtensionNumbersOfType\": \"shop.v1.Order\"}", all);
    assert_non_null(strstr(j, "\"allExtensionNumbersResponse\":{"
                              "\"baseTypeName\":\"shop.v1.Order\","
                              "\"extensionNumber\":[]}"));
    free(j);
    j = reflect(pool, "grpc.reflection.v1", "{\"host\": \"x\"}", all);
    assert_non_null(strstr(j, "\"errorCode\":3"));
    free(j);
    /* a request that is not one */
    uint8_t *resp = (uint8_t *)1;
    size_t pl;
    char err[GPB_ERR_MAX];
    const uint8_t junk[] = {0x1a, 0x09, 'x'};
    assert_int_equal(gpb_reflect_answer(pool, junk, sizeof(junk), all, &resp,
                                        &pl, err, sizeof(err)),
                     -EBADMSG);
    assert_null(resp);
    gpb_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_are_loaded),
        cmocka_unit_test(test_methods_and_streaming_flags),
        cmocka_unit_test(test_parse_error_names_file_line_column),
        cmocka_unit_test(test_missing_import_is_named),
        cmocka_unit_test(test_uploads_import_each_other),
        cmocka_unit_test(test_upload_set_is_all_or_nothing),
        cmocka_unit_test(test_bad_upload_names),
        cmocka_unit_test(test_directories_load_every_file),
        cmocka_unit_test(test_proto_dir_env_override),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_reflection_files_and_dependencies),
        cmocka_unit_test(test_reflection_extensions),
        cmocka_unit_test(test_reflection_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
