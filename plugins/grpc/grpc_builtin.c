/*
 * Services the gRPC plugin answers itself, from doppel's own proto/ files:
 *
 *   grpc.reflection.v1.ServerReflection/ServerReflectionInfo and the same
 *   of grpc.reflection.v1alpha: list_services (the services of the
 *   namespace's pool, built-ins included), file_by_filename,
 *   file_containing_symbol, file_containing_extension,
 *   all_extension_numbers_of_type; each answer carries the file and its
 *   transitive dependencies, as grpcurl and the reflection clients expect.
 *
 *   grpc.health.v1.Health/Check and Watch: "" (the server) and every
 *   loaded service are SERVING while the plugin runs and NOT_SERVING once
 *   the host drains; an unknown service is NOT_FOUND for Check and
 *   SERVICE_UNKNOWN for Watch (which then waits, as the spec says).
 *
 * Requests and answers go through the pool's proto3 JSON mapping, so no
 * message is encoded by hand here.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_plugin.h"

enum { B_REFLECT = 1, B_CHECK = 2, B_WATCH = 3 };

int grpc_builtin_start(grpc_call_t *gc, const char *svc_name,
                       const char *method)
{
    grpc_inst_t *in = gc->in;
    int b = 0;
    if (in->reflection &&
        (strcmp(svc_name, "grpc.reflection.v1.ServerReflection") == 0 ||
         strcmp(svc_name, "grpc.reflection.v1alpha.ServerReflection") == 0) &&
        strcmp(method, "ServerReflectionInfo") == 0)
        b = B_REFLECT;
    else if (in->health && strcmp(svc_name, "grpc.health.v1.Health") == 0 &&
             strcmp(method, "Check") == 0)
        b = B_CHECK;
    else if (in->health && strcmp(svc_name, "grpc.health.v1.Health") == 0 &&
             strcmp(method, "Watch") == 0)
        b = B_WATCH;
    if (b == 0)
        return 0;
    char err[GPB_ERR_MAX];
    if (gpb_method_find(gc->pool, svc_name, method, &gc->mi, err,
                        sizeof(err)) < 0)
        return 0; /* not in the pool: served as an unknown method */
    gc->builtin = b;
    gc->kind = b == B_REFLECT ? GRPC_KIND_BIDI
               : b == B_WATCH ? GRPC_KIND_SERVER_STREAM
                              : GRPC_KIND_UNARY;
    return 1;
}

int grpc_builtin_disabled(grpc_call_t *gc, const char *svc_name)
{
    grpc_inst_t *in = gc->in;
    if (!in->reflection &&
        (strcmp(svc_name, "grpc.reflection.v1.ServerReflection") == 0 ||
         strcmp(svc_name, "grpc.reflection.v1alpha.ServerReflection") == 0))
        return 1;
    return !in->health && strcmp(svc_name, "grpc.health.v1.Health") == 0;
}

/* Standard base64 with padding (the JSON mapping of bytes). */
static json_t *b64(const uint8_t *p, size_t n)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t ol = 4 * ((n + 2) / 3);
    char *o = malloc(ol + 1);
    if (o == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        o[k++] = t[(v >> 18) & 63];
        o[k++] = t[(v >> 12) & 63];
        o[k++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < n ? t[v & 63] : '=';
    }
    o[k] = '\0';
    json_t *s = json_stringn(o, k);
    free(o);
    return s;
}

static void send_obj(grpc_call_t *gc, json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char err[GPB_ERR_MAX];
    if (txt == NULL ||
        grpc_send_json(gc, gc->mi.output_type, txt, strlen(txt), err,
                       sizeof(err)) < 0)
        grpc_finish(gc, 13, txt ? err : "out of memory");
    free(txt);
}

static json_t *blobs_answer(const gpb_blobs_t *b)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < b->n; i++)
        json_array_append_new(arr, b64(b->data[i], b->len[i]));
    return json_pack("{s:{s:o}}", "fileDescriptorResponse",
                     "fileDescriptorProto", arr);
}

static json_t *error_answer(int code, const char *msg)
{
    return json_pack("{s:{s:i, s:s}}", "errorResponse", "errorCode", code,
                     "errorMessage", msg);
}

static void reflect(grpc_call_t *gc, json_t *req)
{
    const gpb_pool_t *p = gc->pool;
    json_t *ans = NULL;
    char err[GPB_ERR_MAX] = "";
    gpb_blobs_t b = {0};
    json_t *v;
    if ((v = json_object_get(req, "listServices")) != NULL) {
        json_t *arr = json_array();
        size_t n = gpb_service_count(p);
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(arr, json_pack("{s:s}", "name",
                                                 gpb_service_name(p, i)));
        ans = json_pack("{s:{s:o}}", "listServicesResponse", "service", arr);
    } else if ((v = json_object_get(req, "fileByFilename")) != NULL) {
        ans = gpb_reflect_file_by_name(p, json_string_value(v) ?: "", &b, err,
                                       sizeof(err)) == 0
                  ? blobs_answer(&b)
                  : error_answer(5, err);
    } else if ((v = json_object_get(req, "fileContainingSymbol")) != NULL) {
        ans = gpb_reflect_file_containing_symbol(p, json_string_value(v) ?: "",
                                                 &b, err, sizeof(err)) == 0
                  ? blobs_answer(&b)
                  : error_answer(5, err);
    } else if ((v = json_object_get(req, "fileContainingExtension")) != NULL) {
        const char *t = json_string_value(json_object_get(v, "containingType"));
        json_t *nv = json_object_get(v, "extensionNumber");
        int num = json_is_integer(nv) ? (int)json_integer_value(nv) : 0;
        ans = gpb_reflect_file_containing_extension(p, t ? t : "", num, &b,
                                                    err, sizeof(err)) == 0
                  ? blobs_answer(&b)
                  : error_answer(5, err);
    } else if ((v = json_object_get(req, "allExtensionNumbersOfType")) !=
               NULL) {
        int *nums = NULL;
        size_t n = 0;
        const char *t = json_string_value(v) ?: "";
        if (gpb_reflect_extension_numbers(p, t, &nums, &n, err,
                                          sizeof(err)) == 0) {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, json_integer(nums[i]));
            ans = json_pack("{s:{s:s, s:o}}", "allExtensionNumbersResponse",
                            "baseTypeName", t, "extensionNumber", arr);
        } else {
            ans = error_answer(5, err);
        }
        free(nums);
    } else {
        ans = error_answer(3, "the request names no question");
    }
    gpb_blobs_free(&b);
    if (ans != NULL) {
        json_t *host = json_object_get(req, "host");
        json_object_set_new(ans, "validHost",
                            json_string(json_string_value(host) ?: ""));
        json_object_set(ans, "originalRequest", req);
    }
    send_obj(gc, ans);
}

/* 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN (HealthCheckResponse). */
static int health_of(grpc_call_t *gc, const char *service)
{
    if (service[0] != '\0') {
        size_t n = gpb_service_count(gc->pool);
        int known = 0;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(gpb_service_name(gc->pool, i), service) == 0;
        if (!known)
            return 3;
    }
    return gc->in->draining ? 2 : 1;
}

static const char *health_name(int s)
{
    return s == 1 ? "SERVING" : s == 2 ? "NOT_SERVING" : "SERVICE_UNKNOWN";
}

void grpc_builtin_message(grpc_call_t *gc, const uint8_t *msg, size_t len)
{
    char *json = NULL;
    size_t jl = 0;
    char err[GPB_ERR_MAX];
    if (gpb_decode_to_json(gc->pool, gc->mi.input_type, msg, len, &json, &jl,
                           err, sizeof(err)) < 0) {
        char m[GPB_ERR_MAX + 32];
        snprintf(m, sizeof(m), "bad request message: %s", err);
        grpc_finish(gc, 13, m);
        return;
    }
    json_t *req = json_loadb(json, jl, 0, NULL);
    free(json);
    if (!json_is_object(req)) {
        json_decref(req);
        grpc_finish(gc, 13, "bad request message");
        return;
    }
    if (gc->builtin == B_REFLECT) {
        reflect(gc, req);
    } else {
        const char *s = json_string_value(json_object_get(req, "service"));
        snprintf(gc->watch_service, sizeof(gc->watch_service), "%s",
                 s ? s : "");
        gc->n_msgs++;
    }
    json_decref(req);
}

void grpc_builtin_half_close(grpc_call_t *gc)
{
    if (gc->builtin == B_REFLECT) {
        grpc_finish(gc, 0, NULL);
        return;
    }
    if (gc->n_msgs == 0) {
        grpc_finish(gc, 12, "no request message: this method takes one");
        return;
    }
    int st = health_of(gc, gc->watch_service);
    if (gc->builtin == B_CHECK && st == 3) {
        grpc_finish(gc, 5, "unknown service");
        return;
    }
    send_obj(gc, json_pack("{s:s}", "status", health_name(st)));
    if (gc->builtin == B_CHECK) {
        grpc_finish(gc, 0, NULL);
        return;
    }
    gc->watch_last = st; /* Watch stays open: updates on drain */
}

void grpc_builtin_draining(grpc_inst_t *in)
{
    for (grpc_call_t *gc = in->calls; gc; gc = gc->next) {
        if (gc->builtin != B_WATCH || gc->finished || gc->watch_last == 0)
            continue;
        int st = health_of(gc, gc->watch_service);
        if (st != gc->watch_last) {
            gc->watch_last = st;
            send_obj(gc, json_pack("{s:s}", "status", health_name(st)));
        }
    }
}
