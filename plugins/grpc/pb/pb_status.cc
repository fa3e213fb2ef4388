// google.rpc.Status with the errorDetails of a mock packed as Any: what the
// plugin sends in grpc-status-details-bin.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <google/protobuf/util/json_util.h>

#include "pb_internal.h"

using namespace gpb;

static const struct {
    const char *short_name;
    const char *full_name;
} detail_types[] = {
    {"badRequest", "google.rpc.BadRequest"},
    {"help", "google.rpc.Help"},
    {"debugInfo", "google.rpc.DebugInfo"},
    {"errorInfo", "google.rpc.ErrorInfo"},
    {"localizedMessage", "google.rpc.LocalizedMessage"},
    {"preconditionFailure", "google.rpc.PreconditionFailure"},
    {"quotaFailure", "google.rpc.QuotaFailure"},
    {"requestInfo", "google.rpc.RequestInfo"},
    {"resourceInfo", "google.rpc.ResourceInfo"},
    {"retryInfo", "google.rpc.RetryInfo"},
};

extern "C" const char *gpb_error_detail_type(const char *name)
{
    if (name == NULL)
        return NULL;
    for (const auto &t : detail_types)
        if (!strcmp(name, t.short_name) || !strcmp(name, t.full_name))
            return t.full_name;
    return NULL;
}

static const char type_list[] =
    "badRequest, help, debugInfo, errorInfo, localizedMessage, "
    "preconditionFailure, quotaFailure, requestInfo, resourceInfo, retryInfo";

// Checks one entry {"type": T, "details": {...}}; returns the detail type.
static int check_entry(const gpb_pool_t *pool, const json_t *e,
                       const std::string &at, unsigned flags, const char **full,
                       char *err, size_t errlen)
{
    if (!json_is_object(e)) {
        set_err(err, errlen, "%s: expected an object {\"type\", \"details\"}",
                at.c_str());
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(const_cast<json_t *>(e), k, v)
    {
        if (strcmp(k, "type") && strcmp(k, "details")) {
            set_err(err, errlen,
                    "%s.%s: unknown key (an entry has \"type\" and "
                    "\"details\")",
                    at.c_str(), k);
            return -EINVAL;
        }
    }
    json_t *t = json_object_get(e, "type");
    if (!json_is_string(t)) {
        set_err(err, errlen, "%s.type: required, one of %s", at.c_str(),
                type_list);
        return -EINVAL;
    }
    *full = gpb_error_detail_type(json_string_value(t));
    if (*full == NULL) {
        set_err(err, errlen,
                "%s.type: unknown error detail type '%s' (one of "
                "%s)",
                at.c_str(), json_string_value(t), type_list);
        return -EINVAL;
    }
    json_t *det = json_object_get(e, "details");
    if (det == NULL || json_is_null(det))
        return 0;
    return gpb_check_value(pool, *full, det, (at + ".details").c_str(), flags,
                           err, errlen);
}

extern "C" int gpb_check_error_details(const gpb_pool_t *pool,
                                       const json_t *details, const char *where,
                                       unsigned flags, char *err, size_t errlen)
{
    GPB_TRY
    std::string w = where && *where ? where : "errorDetails";
    if (details == NULL || json_is_null(details))
        return 0;
    if (!json_is_array(details)) {
        set_err(err, errlen, "%s: expected an array of {\"type\", \"details\"}",
                w.c_str());
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(details); i++) {
        const char *full;
        int rc = check_entry(pool, json_array_get(details, i),
                             w + "[" + std::to_string(i) + "]", flags, &full,
                             err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
    GPB_CATCH(err, errlen)
}

extern "C" int gpb_status_details_bin(const gpb_pool_t *pool, int code,
                                      const char *message,
                                      const char *details_json,
                                      size_t details_len, uint8_t **out,
                                      size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    GPB_TRY
    const pb::Descriptor *sd =
        find_message(pool, "google.rpc.Status", err, errlen);
    const pb::Descriptor *ad =
        find_message(pool, "google.protobuf.Any", err, errlen);
    if (sd == NULL || ad == NULL)
        return -ENOENT;
    pb::DynamicMessageFactory &factory =
        const_cast<gpb_pool_t *>(pool)->factory;
    std::unique_ptr<pb::Message> st(factory.GetPrototype(sd)->New());
    const pb::Reflection *r = st->GetReflection();
    r->SetInt32(st.get(), sd->FindFieldByName("code"), code);
    r->SetString(st.get(), sd->FindFieldByName("message"),
                 message ? message : "");
    json_t *arr = NULL;
    if (details_json != NULL && details_len > 0) {
        json_error_t jerr;
        arr = json_loadb(details_json, details_len, JSON_DECODE_ANY, &jerr);
        if (arr == NULL) {
            set_err(err, errlen, "errorDetails: invalid JSON at %d:%d: %s",
                    jerr.line, jerr.column, jerr.text);
            return -EINVAL;
        }
    }
    std::unique_ptr<json_t, void (*)(json_t *)> hold(arr, json_decref);
    if (arr != NULL && !json_is_null(arr)) {
        if (!json_is_array(arr)) {
            set_err(err, errlen,
                    "errorDetails: expected an array of {\"type\", "
                    "\"details\"}");
            return -EINVAL;
        }
        const pb::FieldDescriptor *df = sd->FindFieldByName("details");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            std::string at = "errorDetails[" + std::to_string(i) + "]";
            json_t *e = json_array_get(arr, i);
            const char *full;
            int rc = check_entry(pool, e, at, 0, &full, err, errlen);
            if (rc != 0)
                return rc;
            json_t *det = json_object_get(e, "details");
            char *text = det && !json_is_null(det)
                             ? json_dumps(det, JSON_COMPACT | JSON_ENCODE_ANY)
                             : strdup("{}");
            if (text == NULL) {
                set_err(err, errlen, "out of memory");
                return -ENOMEM;
            }
            std::string bin;
            pb::util::JsonParseOptions opts;
            pb::util::Status s = pb::util::JsonToBinaryString(
                pool->resolver.get(),
                std::string("type.googleapis.com/") + full, text, &bin, opts);
            free(text);
            if (!s.ok()) {
                std::string m(s.message());
                set_err(err, errlen, "%s.details: %s", at.c_str(), m.c_str());
                return -EINVAL;
            }
            pb::Message *any = r->AddMessage(st.get(), df, &factory);
            const pb::Reflection *ar = any->GetReflection();
            ar->SetString(any, ad->FindFieldByName("type_url"),
                          std::string("type.googleapis.com/") + full);
            ar->SetString(any, ad->FindFieldByName("value"), bin);
        }
    }
    std::string bin;
    if (!st->SerializeToString(&bin)) {
        set_err(err, errlen, "google.rpc.Status does not serialise");
        return -EIO;
    }
    *out = (uint8_t *)malloc(bin.size() ? bin.size() : 1);
    if (*out == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (!bin.empty())
        memcpy(*out, bin.data(), bin.size());
    *out_len = bin.size();
    return 0;
    GPB_CATCH(err, errlen)
}
