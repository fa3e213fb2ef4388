/* grpcpb.h: the protobuf layer of the gRPC plugin, a small C interface over
 * libprotobuf (compiler::Importer, DynamicMessage and its proto3 JSON
 * mapping). The implementation is C++17; no C++ exception ever crosses this
 * interface.
 *
 * Conventions
 * - Every int-returning function returns 0 or a negative errno. On error it
 *   writes a human message, naming the file:line:col or the field, into
 *   err[0..errlen) (always NUL-terminated when errlen > 0; err may be NULL).
 *   GPB_ERR_MAX is a comfortable size for err.
 * - Memory this library hands out (char **json, uint8_t **out, gpb_blobs_t)
 *   is malloc'd: the caller frees it with free() (gpb_blobs_free for
 *   blobs). Strings in gpb_method_info_t and the service names are borrowed
 *   from the pool and live as long as the pool.
 *
 * Threads
 * - A pool is built by one thread: gpb_pool_new, gpb_pool_add_path,
 *   gpb_pool_add_sources, then gpb_pool_freeze. After gpb_pool_freeze the
 *   pool is immutable and every other function may be called on it from any
 *   number of threads at once. Adding to a frozen pool fails with -EPERM.
 *   Hand the frozen pool to other threads through something that
 *   synchronises (an atomic exchange with release/acquire order, a mutex, a
 *   thread start).
 * - When .proto files change, the plugin builds a new pool and swaps it in;
 *   the reference count (gpb_pool_ref / gpb_pool_unref) lets calls in flight
 *   finish on the old pool. The count is atomic.
 *
 * Every pool holds, besides the user's files, the well-known types
 * (google/protobuf/ *.proto as Debian's libprotobuf-dev ships them), and
 * doppel's own proto/ folder: google/rpc/{status,error_details,code}.proto,
 * grpc/health/v1/health.proto, grpc/reflection/{v1,v1alpha}/reflection.proto.
 * These built-in files take precedence over a user file of the same name.
 *
 * Limits on .proto input (libprotobuf 3.21's parser has none of its own and
 * overflows the stack): brackets nested deeper than 64 levels, an import
 * chain deeper than 100 files, a file over 16 MiB are refused with -EINVAL.
 * The first gpb_pool_new installs a process-wide libprotobuf log handler
 * that drops all but FATAL messages (every such case is also an error
 * returned here).
 */
#ifndef DOPPEL_GRPCPB_H
#define DOPPEL_GRPCPB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GPB_ERR_MAX 512

/* Default cap on the JSON text of one decoded message (64 MiB); see
 * gpb_pool_set_max_json. */
#define GPB_MAX_JSON_DEFAULT ((size_t)64 << 20)
/* Deepest message nesting accepted by decode, encode and check. */
#define GPB_MAX_DEPTH 64

typedef struct gpb_pool gpb_pool_t;

/* ---- where doppel's own .proto files are ------------------------------- */

/* The directory holding doppel's proto/ files: $DOPPEL_PROTO_DIR if set and
 * non-empty, else the source tree's proto/ when this code runs from the
 * build tree, else the share/doppel/proto found beside the loaded object
 * (a relocated install), else the configured ${datadir}/doppel/proto.
 * Never NULL; the string is static (or the environment's). */
const char *gpb_proto_dir(void);

/* ---- pools --------------------------------------------------------------- */

/* Creates a pool holding the built-in files. Fails (-ENOENT) if doppel's
 * proto/ folder or the well-known types cannot be found, (-ENOMEM) on
 * memory. The new pool has a reference count of 1. */
int gpb_pool_new(gpb_pool_t **out, char *err, size_t errlen);

/* Takes one more reference; returns pool. */
gpb_pool_t *gpb_pool_ref(gpb_pool_t *pool);
/* Drops a reference; the last one frees the pool. NULL is a no-op. */
void gpb_pool_unref(gpb_pool_t *pool);
/* Same as gpb_pool_unref (the name the plugin's teardown reads best with). */
void gpb_pool_free(gpb_pool_t *pool);

/* Adds the directories of a colon-separated list (plugins.conf proto_path)
 * to the import path and loads every *.proto file below them (recursively,
 * hidden entries skipped, at most 16 levels and 10000 files), named
 * relative to their directory as protoc would. A file that does not parse or
 * whose imports are missing is reported as "name.proto:LINE:COL: message";
 * the files that loaded stay loaded (a directory is not all-or-nothing).
 * Returns -ENOENT for a missing directory, -EINVAL if a file failed (err
 * names the first failure and how many failed), -EPERM if frozen. */
int gpb_pool_add_path(gpb_pool_t *pool, const char *dirs, char *err,
                      size_t errlen);

/* One in-memory .proto file (an upload). name is the import name
 * ("shop/v1/order.proto": relative, no "..", ends in .proto); content need
 * not be NUL-terminated. Both are copied. */
typedef struct gpb_source {
    const char *name;
    const char *content;
    size_t len;
} gpb_source_t;

/* Adds a set of in-memory files that may import each other, the pool's
 * directories and the built-ins. All-or-nothing: if any file fails
 * ("name.proto:LINE:COL: message"), none is added and the pool is unchanged
 * (-EINVAL). A file whose name is already loaded is refused (-EEXIST):
 * build a new pool to replace files. Files named like a built-in file
 * (vendored google/protobuf/ files) are skipped: the built-in wins. */
int gpb_pool_add_sources(gpb_pool_t *pool, const gpb_source_t *files, size_t n,
                         char *err, size_t errlen);

/* Caps the JSON of one decoded message (default GPB_MAX_JSON_DEFAULT).
 * Before gpb_pool_freeze only. */
int gpb_pool_set_max_json(gpb_pool_t *pool, size_t max_json);

/* Makes the pool immutable and shareable between threads (see Threads):
 * the loaded files are copied into a descriptor pool that never reads a
 * file or remembers a failed lookup, so serving never writes to it. */
void gpb_pool_freeze(gpb_pool_t *pool);

/* ---- services and methods ---------------------------------------------- */

typedef struct gpb_method_info {
    const char *service;     /* full name: "order.v1.OrderService" */
    const char *method;      /* "GetOrder" */
    const char *input_type;  /* full name of the request message */
    const char *output_type; /* full name of the response message */
    const char *file;        /* the .proto that defines the service */
    int client_streaming;
    int server_streaming;
} gpb_method_info_t;

/* Services of every loaded file, built-ins included, sorted by name. */
size_t gpb_service_count(const gpb_pool_t *pool);
/* The i-th service's full name (NULL if i is out of range). */
const char *gpb_service_name(const gpb_pool_t *pool, size_t i);
/* 1 if the i-th service comes from a built-in file (health, reflection). */
int gpb_service_is_builtin(const gpb_pool_t *pool, size_t i);
/* Number of methods of a service; -ENOENT if the service is unknown. */
int gpb_method_count(const gpb_pool_t *pool, const char *service);
/* The i-th method of a service (declaration order). -ENOENT / -ERANGE. */
int gpb_method_at(const gpb_pool_t *pool, const char *service, size_t i,
                  gpb_method_info_t *info);
/* Looks a method up by service full name and method name; -ENOENT if the
 * service or the method is unknown (err says which). */
int gpb_method_find(const gpb_pool_t *pool, const char *service,
                    const char *method, gpb_method_info_t *info, char *err,
                    size_t errlen);
/* The mock format's name of a method's call kind: "unary",
 * "server-stream", "client-stream" or "bidirectional". Static string. */
const char *gpb_method_kind(const gpb_method_info_t *info);
/* 1 if a message type of that full name is loaded, else 0. */
int gpb_message_exists(const gpb_pool_t *pool, const char *type);

/* ---- messages ------------------------------------------------------------ */

/* Binary -> proto3 JSON: lowerCamelCase json names, every primitive field
 * printed (defaults included, so conditions see them), enums as names,
 * 64-bit integers as strings, bytes as base64, well-known types (Timestamp,
 * Duration, Struct, Any, wrappers, ...) in their JSON form; unknown fields
 * dropped. *json is NUL-terminated, *json_len excludes the NUL.
 * -EBADMSG: the bytes are not a valid message of that type (or nest deeper
 * than GPB_MAX_DEPTH); -EMSGSIZE: the JSON would pass the pool's cap;
 * -ENOENT: unknown type. Every call decodes (nothing is cached). */
int gpb_decode_to_json(const gpb_pool_t *pool, const char *type,
                       const uint8_t *bytes, size_t len, char **json,
                       size_t *json_len, char *err, size_t errlen);

/* Flags of gpb_encode_from_json. */
enum {
    /* Serve-time leniency for rendered templates: a string "true"/"false"
     * where a bool is expected becomes the bool, a number where a string is
     * expected becomes its text. */
    GPB_ENC_COERCE = 1u << 0,
};

/* proto3 JSON -> binary, what the plugin sends for a rendered payload.
 * The JSON is checked as gpb_check_value does (strictly: no template
 * leniency) and then built through the Reflection API. Accepts json names
 * and proto field names; an unknown field or a value that does not fit is
 * -EINVAL with the field path: "payload does not fit shop.v1.Order:
 * items[1].price: expected a number, got string". *out is malloc'd (a
 * non-NULL pointer even for an empty message). The pool caches the
 * encodings of recent small texts (same type, flags and text: same bytes),
 * so a payload without templates is encoded once. */
int gpb_encode_from_json(const gpb_pool_t *pool, const char *type,
                         const char *json, size_t len, unsigned flags,
                         uint8_t **out, size_t *out_len, char *err,
                         size_t errlen);

/* The same conversion by libprotobuf's own JSON parser (JsonToBinaryString):
 * slower, kept as the yardstick of the tests and the fuzz target, and used
 * by gpb_encode_from_json for a uint64 past jansson's int64 range. */
int gpb_encode_from_json_reference(const gpb_pool_t *pool, const char *type,
                                   const char *json, size_t len, unsigned flags,
                                   uint8_t **out, size_t *out_len, char *err,
                                   size_t errlen);

/* Flags of the write-time checks. */
enum {
    /* A string holding a template expression ("$." or "{{") is accepted for
     * any scalar field, and a string that is one whole expression
     * ("$.req.items") for a message, list or map field: it is rendered at
     * serve time. */
    GPB_CHECK_TEMPLATES = 1u << 0,
};

/* Write-time check of a JSON value against a message type: walks the JSON
 * with the Descriptor so the error names the path, with where as its root:
 * "payload.items[1].price: expected a number, got string". Unknown fields,
 * wrong JSON types, out-of-range numbers, unknown enum names, bad base64,
 * bad Timestamp/Duration text, an Any whose @type is not loaded, two fields
 * of one oneof, a field given twice (json and proto name) are errors
 * (-EINVAL). -ENOENT: unknown type. */
int gpb_check_value(const gpb_pool_t *pool, const char *type,
                    const json_t *value, const char *where, unsigned flags,
                    char *err, size_t errlen);
/* Same, on JSON text (a JSON syntax error is -EINVAL with line:column). */
int gpb_check_json(const gpb_pool_t *pool, const char *type,
                   const char *json_text, size_t len, const char *where,
                   unsigned flags, char *err, size_t errlen);

/* Flags of gpb_field_path_normalise. */
enum {
    /* The path addresses the client-stream document {"messages": [...],
     * "count": N, "first": m, "last": m} whose messages are of type. */
    GPB_PATH_CLIENT_STREAM = 1u << 0,
};

/* Checks a condition path against the request type and rewrites each field
 * name to its json name (snake_case proto names accepted). The spelling is
 * kept: bare "a.b.0.c", "$.a.b", "$.body.a.b", "[0]" or ".0" indices,
 * ['quoted'] keys. Below a google.protobuf.Struct, Value, ListValue or Any
 * field, or a map field, the path continues unchecked. "$" and "$.body"
 * (the whole message) are valid. -EINVAL: unknown field (named), a name
 * after a scalar, a path the engine's jpath would not parse;
 * -ENAMETOOLONG: out is too small. */
int gpb_field_path_normalise(const gpb_pool_t *pool, const char *type,
                             const char *path_in, unsigned flags, char *out,
                             size_t n, char *err, size_t errlen);

/* ---- google.rpc.Status (grpc-status-details-bin) ------------------------ */

/* Builds a serialised google.rpc.Status {code, message, details} where
 * details_json (NULL or a JSON array, may be NULL-length 0) is
 * [{"type": T, "details": {...}}, ...] and each entry becomes an Any
 * "type.googleapis.com/google.rpc.<Type>". T is one of badRequest help
 * debugInfo errorInfo localizedMessage preconditionFailure quotaFailure
 * requestInfo resourceInfo retryInfo (or the full name
 * "google.rpc.BadRequest"). -EINVAL with the entry named on a bad entry. */
int gpb_status_details_bin(const gpb_pool_t *pool, int code,
                           const char *message, const char *details_json,
                           size_t details_len, uint8_t **out, size_t *out_len,
                           char *err, size_t errlen);

/* Write-time check of an errorDetails array (json_t or text): an unknown
 * type, an unknown key of an entry, or a details field that does not fit
 * the detail message is -EINVAL naming it ("response.errorDetails[0].
 * details.fieldViolations[0].field: expected a string, got number").
 * flags as for gpb_check_value. */
int gpb_check_error_details(const gpb_pool_t *pool, const json_t *details,
                            const char *where, unsigned flags, char *err,
                            size_t errlen);

/* The full message name of an errorDetails type ("badRequest" ->
 * "google.rpc.BadRequest"), or NULL. Static strings. */
const char *gpb_error_detail_type(const char *short_name);

/* ---- server reflection ----------------------------------------------------
 */

/* Serialised FileDescriptorProtos: a file first, then its transitive
 * dependencies (each once), what ServerReflectionInfo returns. names[i] is
 * the file name of data[i] (so a stream can skip files it already sent). */
typedef struct gpb_blobs {
    size_t n;
    char **names;
    uint8_t **data;
    size_t *len;
} gpb_blobs_t;

void gpb_blobs_free(gpb_blobs_t *blobs);

/* The file of that name with its dependencies; -ENOENT if not loaded. */
int gpb_reflect_file_by_name(const gpb_pool_t *pool, const char *name,
                             gpb_blobs_t *out, char *err, size_t errlen);
/* The file that defines a symbol (message, enum, service, method
 * "pkg.Svc.Method", field, enum value, extension) with its dependencies;
 * -ENOENT if unknown. */
int gpb_reflect_file_containing_symbol(const gpb_pool_t *pool,
                                       const char *symbol, gpb_blobs_t *out,
                                       char *err, size_t errlen);
/* The file that defines extension number of type; -ENOENT if none. */
int gpb_reflect_file_containing_extension(const gpb_pool_t *pool,
                                          const char *type, int number,
                                          gpb_blobs_t *out, char *err,
                                          size_t errlen);
/* The extension numbers of a message type, sorted, malloc'd into *numbers
 * (NULL when there are none); -ENOENT if the type is unknown. */
int gpb_reflect_extension_numbers(const gpb_pool_t *pool, const char *type,
                                  int **numbers, size_t *n, char *err,
                                  size_t errlen);

/* Which services a list_services answer names. */
enum {
    GPB_REFLECT_LIST_USER = 1u << 0,       /* the loaded .proto services */
    GPB_REFLECT_LIST_HEALTH = 1u << 1,     /* grpc.health.v1.Health */
    GPB_REFLECT_LIST_REFLECTION = 1u << 2, /* both ServerReflection */
};

/* Answers one message of a ServerReflectionInfo stream: req/len is a
 * serialised ServerReflectionRequest (grpc.reflection.v1 and v1alpha share
 * the wire format, so one function serves both), *resp the serialised
 * ServerReflectionResponse (malloc'd; caller frees), with valid_host and
 * original_request filled in. file_by_filename, file_containing_symbol and
 * file_containing_extension get the file and its dependencies;
 * all_extension_numbers_of_type the numbers; list_services the services
 * chosen by flags (GPB_REFLECT_LIST_*). What the client asks for and the
 * pool lacks is answered in error_response (NOT_FOUND 5; INVALID_ARGUMENT 3
 * for a request with nothing set), not as a return code. Returns -EBADMSG
 * if req does not decode. */
int gpb_reflect_answer(const gpb_pool_t *pool, const uint8_t *req, size_t len,
                       unsigned flags, uint8_t **resp, size_t *resp_len,
                       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
