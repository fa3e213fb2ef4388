/*
 * libFuzzer target: .proto text as an upload, through the gRPC plugin's
 * protobuf layer (dp_grpcpb): the nesting pre-check, the import ordering,
 * libprotobuf's parser and descriptor builder, then freezing, lookups and
 * reflection of what loaded. The input is up to three files separated by
 * 0xFF bytes, named a.proto, b.proto, c.proto (so they can import each
 * other). Each input gets a fresh pool: slow (a few ms), but nothing leaks
 * between inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcpb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 32 * 1024)
        return 0;
    static const char *const names[] = {"a.proto", "b.proto", "c.proto"};
    gpb_source_t files[3];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 3; i++) {
        if (i == size || data[i] == 0xff) {
            files[n].name = names[n];
            files[n].content = (const char *)data + start;
            files[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    char err[GPB_ERR_MAX];
    gpb_pool_t *pool = NULL;
    if (gpb_pool_new(&pool, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_grpc_proto: %s\n", err);
        abort();
    }
    /* first each file alone, then the set (all-or-nothing) */
    gpb_pool_add_sources(pool, files, 1, err, sizeof(err));
    gpb_pool_add_sources(pool, files + 1, n - 1, err, sizeof(err));
    gpb_pool_freeze(pool);
    for (size_t i = 0; i < gpb_service_count(pool); i++) {
        const char *svc = gpb_service_name(pool, i);
        int m = gpb_method_count(pool, svc);
        for (int k = 0; k < m; k++) {
            gpb_method_info_t mi;
            if (gpb_method_at(pool, svc, (size_t)k, &mi) != 0)
                abort();
            char *json = NULL;
            size_t jl;
            /* an empty message of each type prints with its defaults */
            if (gpb_decode_to_json(pool, mi.input_type, (const uint8_t *)"",
                                   0, &json, &jl, err, sizeof(err)) == 0) {
                uint8_t *bin = NULL;
                size_t bl;
                gpb_encode_from_json(pool, mi.input_type, json, jl, 0, &bin,
                                     &bl, err, sizeof(err));
                free(bin);
                char path[128];
                gpb_field_path_normalise(pool, mi.input_type, "$.body.a.b.0",
                                         0, path, sizeof(path), err,
                                         sizeof(err));
            }
            free(json);
        }
        gpb_blobs_t b;
        if (gpb_reflect_file_containing_symbol(pool, svc, &b, err,
                                               sizeof(err)) == 0)
            gpb_blobs_free(&b);
    }
    for (size_t i = 0; i < n; i++) {
        gpb_blobs_t b;
        if (gpb_reflect_file_by_name(pool, names[i], &b, err, sizeof(err)) ==
            0)
            gpb_blobs_free(&b);
    }
    gpb_pool_free(pool);
    return 0;
}
