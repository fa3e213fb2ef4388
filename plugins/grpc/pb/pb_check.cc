// Write-time checks of mock JSON against message types (the error names the
// field path), the serve-time coercion of rendered templates, and the
// normalisation of condition paths.
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include "pb_internal.h"

using namespace gpb;

namespace gpb
{

Wkt wkt_of(const pb::Descriptor *d)
{
    const std::string &n = d->full_name();
    if (n.compare(0, 16, "google.protobuf.") != 0)
        return WKT_NONE;
    std::string s = n.substr(16);
    if (s == "Timestamp")
        return WKT_TIMESTAMP;
    if (s == "Duration")
        return WKT_DURATION;
    if (s == "FieldMask")
        return WKT_FIELD_MASK;
    if (s == "Struct")
        return WKT_STRUCT;
    if (s == "ListValue")
        return WKT_LIST;
    if (s == "Value")
        return WKT_VALUE;
    if (s == "Any")
        return WKT_ANY;
    if (s == "DoubleValue" || s == "FloatValue" || s == "Int64Value" ||
        s == "UInt64Value" || s == "Int32Value" || s == "UInt32Value" ||
        s == "BoolValue" || s == "StringValue" || s == "BytesValue")
        return WKT_WRAPPER;
    return WKT_NONE;
}

bool valid_base64(const char *s)
{
    size_t n = strlen(s), pad = 0, data = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return false; // data after padding
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '-' ||
            c == '_')
            data++;
        else
            return false;
    }
    if (pad > 2 || data % 4 == 1)
        return false;
    return pad == 0 || (data + pad) % 4 == 0;
}

// Coerced values waiting to replace their originals in an object; owned
// until applied, so an error half-way through leaks nothing.
struct Repls {
    std::vector<std::pair<std::string, json_t *>> v;
    ~Repls()
    {
        for (auto &kv : v)
            json_decref(kv.second);
    }
    void apply(json_t *obj)
    {
        for (auto &kv : v) {
            json_object_set_new(obj, kv.first.c_str(), kv.second);
            kv.second = NULL;
        }
        v.clear();
    }
};

const pb::FieldDescriptor *field_by_name(const pb::Descriptor *d,
                                         const char *key)
{
    for (int i = 0; i < d->field_count(); i++) {
        const pb::FieldDescriptor *f = d->field(i);
        if (f->json_name() == key)
            return f;
    }
    for (int i = 0; i < d->field_count(); i++) {
        const pb::FieldDescriptor *f = d->field(i);
        if (f->name() == key)
            return f;
    }
    return NULL;
}

} // namespace gpb

namespace
{

const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

bool is_expr(const char *s)
{
    return strstr(s, "$.") != NULL || strstr(s, "{{") != NULL;
}

// One whole expression, which may render to any JSON value.
bool is_whole_expr(const char *s)
{
    size_t n = strlen(s);
    if (n > 4 && s[0] == '{' && s[1] == '{' && s[n - 1] == '}' &&
        s[n - 2] == '}')
        return true;
    if (n < 3 || s[0] != '$' || s[1] != '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')
            return false;
    return true;
}

// Coerced values waiting to replace their originals in an object; owned
// until applied, so an error half-way through leaks nothing.
struct Repls {
    std::vector<std::pair<std::string, json_t *>> v;
    ~Repls()
    {
        for (auto &kv : v)
            json_decref(kv.second);
    }
    void apply(json_t *obj)
    {
        for (auto &kv : v) {
            json_object_set_new(obj, kv.first.c_str(), kv.second);
            kv.second = NULL;
        }
        v.clear();
    }
};

struct Ctx {
    const gpb_pool_t *pool;
    unsigned flags;
    bool coerce;
    char *err;
    size_t errlen;
};

int fail(Ctx &c, const std::string &path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int fail(Ctx &c, const std::string &path, const char *fmt, ...)
{
    if (c.err != NULL && c.errlen > 0) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (path.empty())
            set_err(c.err, c.errlen, "%s", msg);
        else
            set_err(c.err, c.errlen, "%s: %s", short_path(path).c_str(), msg);
    }
    return -EINVAL;
}

// Short quoted excerpt of a string value for messages.
std::string excerpt(const char *s)
{
    std::string e(s, strnlen(s, 40));
    if (strlen(s) > 40)
        e += "...";
    return "\"" + e + "\"";
}

bool parse_integer(const json_t *v, bool is_signed, double lo, double hi,
                   bool *range_ok)
{
    *range_ok = true;
    if (json_is_integer(v)) {
        double d = (double)json_integer_value(v);
        long long i = json_integer_value(v);
        if (!is_signed && i < 0)
            *range_ok = false;
        else if (d < lo || d > hi)
            *range_ok = false;
        return true;
    }
    double d;
    if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s == '\0' || *s == ' ')
            return false;
        char *end;
        errno = 0;
        if (is_signed) {
            long long i = strtoll(s, &end, 10);
            if (*end == '\0' && errno == 0) {
                *range_ok = (double)i >= lo && (double)i <= hi;
                return true;
            }
        } else if (*s != '-') {
            unsigned long long u = strtoull(s, &end, 10);
            if (*end == '\0' && errno == 0) {
                *range_ok = (double)u <= hi;
                return true;
            }
        }
        d = strtod(s, &end);
        if (*end != '\0')
            return false;
    } else {
        return false;
    }
    if (!isfinite(d) || d != floor(d))
        return false;
    *range_ok = d >= lo && d <= hi && (is_signed || d >= 0);
    return true;
}

const char *int_type_name(pb::FieldDescriptor::CppType t)
{
    switch (t) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
        return "int32";
    case pb::FieldDescriptor::CPPTYPE_INT64:
        return "int64";
    case pb::FieldDescriptor::CPPTYPE_UINT32:
        return "uint32";
    default:
        return "uint64";
    }
}

// A scalar value (or a wrapper's value): t is the field's C++ type.
int check_scalar(Ctx &c, const pb::FieldDescriptor *f, json_t *v,
                 const std::string &path, json_t **repl)
{
    using FD = pb::FieldDescriptor;
    if (json_is_string(v) && (c.flags & GPB_CHECK_TEMPLATES) &&
        is_expr(json_string_value(v)))
        return 0;
    switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64: {
        double lo = 0, hi = 0;
        bool sgn = true;
        switch (f->cpp_type()) {
        case FD::CPPTYPE_INT32:
            lo = INT32_MIN, hi = INT32_MAX;
            break;
        case FD::CPPTYPE_INT64:
            lo = -9223372036854775808.0, hi = 9223372036854775807.0;
            break;
        case FD::CPPTYPE_UINT32:
            sgn = false, hi = UINT32_MAX;
            break;
        default:
            sgn = false, hi = 18446744073709551615.0;
        }
        bool range_ok;
        if (!parse_integer(v, sgn, lo, hi, &range_ok)) {
            if (json_is_string(v))
                return fail(c, path, "expected an integer, got string %s",
                            excerpt(json_string_value(v)).c_str());
            return fail(c, path, "expected an integer, got %s", jtype(v));
        }
        if (!range_ok)
            return fail(c, path, "out of range for %s",
                        int_type_name(f->cpp_type()));
        return 0;
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
        double d;
        if (json_is_number(v)) {
            d = json_number_value(v);
        } else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (!strcmp(s, "NaN") || !strcmp(s, "Infinity") ||
                !strcmp(s, "-Infinity"))
                return 0;
            char *end;
            d = strtod(s, &end);
            if (*s == '\0' || *end != '\0' || !isfinite(d))
                return fail(c, path, "expected a number, got string %s",
                            excerpt(s).c_str());
        } else {
            return fail(c, path, "expected a number, got %s", jtype(v));
        }
        if (f->cpp_type() == FD::CPPTYPE_FLOAT && fabs(d) > FLT_MAX)
            return fail(c, path, "out of range for float");
        return 0;
    }
    case FD::CPPTYPE_BOOL:
        if (json_is_boolean(v))
            return 0;
        if (c.coerce && json_is_string(v)) {
            const char *s = json_string_value(v);
            if (!strcmp(s, "true") || !strcmp(s, "false")) {
                *repl = json_boolean(s[0] == 't');
                return 0;
            }
        }
        return fail(c, path, "expected a boolean, got %s", jtype(v));
    case FD::CPPTYPE_STRING:
        if (f->type() == FD::TYPE_BYTES) {
            if (!json_is_string(v))
                return fail(c, path, "expected base64 bytes (a string), got %s",
                            jtype(v));
            if (!valid_base64(json_string_value(v)))
                return fail(c, path, "invalid base64 %s",
                            excerpt(json_string_value(v)).c_str());
            return 0;
        }
        if (json_is_string(v))
            return 0;
        if (c.coerce && json_is_number(v)) {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            if (s != NULL) {
                *repl = json_string(s);
                free(s);
            }
            return 0;
        }
        return fail(c, path, "expected a string, got %s", jtype(v));
    case FD::CPPTYPE_ENUM: {
        const pb::EnumDescriptor *e = f->enum_type();
        if (json_is_string(v)) {
            if (e->FindValueByName(json_string_value(v)) != NULL)
                return 0;
            std::string names;
            for (int i = 0; i < e->value_count() && i < 8; i++)
                names += (i ? ", " : "") + e->value(i)->name();
            if (e->value_count() > 8)
                names += ", ...";
            return fail(c, path, "unknown value %s of enum %s (one of %s)",
                        excerpt(json_string_value(v)).c_str(),
                        e->full_name().c_str(), names.c_str());
        }
        if (json_is_integer(v)) {
            long long i = json_integer_value(v);
            if (i < INT32_MIN || i > INT32_MAX)
                return fail(c, path, "out of range for enum %s",
                            e->full_name().c_str());
            if (e->file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO2 &&
                e->FindValueByNumber((int)i) == NULL)
                return fail(c, path, "%lld is not a value of enum %s", i,
                            e->full_name().c_str());
            return 0;
        }
        return fail(c, path, "expected a name of enum %s, got %s",
                    e->full_name().c_str(), jtype(v));
    }
    default:
        return fail(c, path, "unsupported field type");
    }
}

int check_msg_value(Ctx &c, const pb::Descriptor *d, json_t *v,
                    const std::string &path, int depth, json_t **repl);

// One element: a message or a scalar (not a list or a map as a whole).
int check_single(Ctx &c, const pb::FieldDescriptor *f, json_t *v,
                 const std::string &path, int depth, json_t **repl)
{
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
        return check_msg_value(c, f->message_type(), v, path, depth + 1, repl);
    return check_scalar(c, f, v, path, repl);
}

bool null_ok_element(const pb::FieldDescriptor *f)
{
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
        return wkt_of(f->message_type()) == WKT_VALUE;
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM)
        return f->enum_type()->full_name() == "google.protobuf.NullValue";
    return false;
}

bool whole_expr_ok(Ctx &c, const json_t *v)
{
    return (c.flags & GPB_CHECK_TEMPLATES) && json_is_string(v) &&
           is_whole_expr(json_string_value(v));
}

int check_field(Ctx &c, const pb::FieldDescriptor *f, json_t *v,
                const std::string &path, int depth, json_t **repl)
{
    if (json_is_null(v))
        return 0; // the default value
    if (f->is_map()) {
        if (whole_expr_ok(c, v))
            return 0;
        if (!json_is_object(v))
            return fail(c, path, "expected an object (map), got %s", jtype(v));
        const pb::FieldDescriptor *kf = f->message_type()->map_key();
        const pb::FieldDescriptor *vf = f->message_type()->map_value();
        const char *key;
        json_t *val;
        Repls repls;
        json_object_foreach(v, key, val)
        {
            std::string kp = path + "[\"" + key + "\"]";
            using FD = pb::FieldDescriptor;
            if (kf->cpp_type() == FD::CPPTYPE_BOOL) {
                if (strcmp(key, "true") && strcmp(key, "false"))
                    return fail(c, kp,
                                "a map key of type bool must be "
                                "\"true\" or \"false\"");
            } else if (kf->cpp_type() != FD::CPPTYPE_STRING) {
                json_t *ks = json_string(key);
                json_t *kr = NULL;
                int rc =
                    ks ? check_scalar(c, kf, ks, kp + " (key)", &kr) : -ENOMEM;
                json_decref(ks);
                json_decref(kr);
                if (rc != 0)
                    return rc;
            }
            if (json_is_null(val) && !null_ok_element(vf))
                return fail(c, kp, "null is not allowed as a map value");
            json_t *r = NULL;
            // the map entry is a message level of its own
            int rc = check_single(c, vf, val, kp, depth + 1, &r);
            if (rc != 0)
                return rc;
            if (r != NULL)
                repls.v.emplace_back(key, r);
        }
        repls.apply(v);
        return 0;
    }
    if (f->is_repeated()) {
        if (whole_expr_ok(c, v))
            return 0;
        if (!json_is_array(v))
            return fail(c, path, "expected an array, got %s", jtype(v));
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            std::string ep = path + "[" + std::to_string(i) + "]";
            if (json_is_null(e) && !null_ok_element(f))
                return fail(c, ep, "null is not allowed in a list");
            json_t *r = NULL;
            int rc = check_single(c, f, e, ep, depth, &r);
            if (rc != 0)
                return rc;
            if (r != NULL)
                json_array_set_new(v, i, r);
        }
        return 0;
    }
    return check_single(c, f, v, path, depth, repl);
}

int check_fields(Ctx &c, const pb::Descriptor *d, json_t *obj,
                 const std::string &path, int depth, bool skip_type)
{
    std::map<int, std::string> seen;
    std::map<const pb::OneofDescriptor *, std::string> oneofs;
    Repls repls;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        std::string fp = path.empty() ? key : path + "." + key;
        if (skip_type && !strcmp(key, "@type"))
            continue;
        const pb::FieldDescriptor *f = field_by_name(d, key);
        if (f == NULL)
            return fail(c, fp, "unknown field of message %s",
                        d->full_name().c_str());
        auto it = seen.find(f->number());
        if (it != seen.end())
            return fail(c, fp, "field given twice (also as '%s')",
                        it->second.c_str());
        seen[f->number()] = key;
        const pb::OneofDescriptor *o = f->real_containing_oneof();
        if (o != NULL && !json_is_null(val)) {
            auto ot = oneofs.find(o);
            if (ot != oneofs.end())
                return fail(c, fp, "oneof '%s' is already set by '%s'",
                            o->name().c_str(), ot->second.c_str());
            oneofs[o] = key;
        }
        json_t *r = NULL;
        int rc = check_field(c, f, val, fp, depth, &r);
        if (rc != 0)
            return rc;
        if (r != NULL)
            repls.v.emplace_back(key, r);
    }
    repls.apply(obj);
    // proto2 required fields: a message without one does not serialise
    if (d->file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO2) {
        for (int i = 0; i < d->field_count(); i++) {
            const pb::FieldDescriptor *f = d->field(i);
            if (!f->is_required())
                continue;
            json_t *rv = json_object_get(obj, f->json_name().c_str());
            if (rv == NULL)
                rv = json_object_get(obj, f->name().c_str());
            if (rv == NULL || json_is_null(rv))
                return fail(c,
                            path.empty() ? f->json_name()
                                         : path + "." + f->json_name(),
                            "required field of message %s is missing",
                            d->full_name().c_str());
        }
    }
    return 0;
}

// The message levels a Struct, ListValue or Value takes on the wire, counted
// as the encoder counts them (Struct -> entry -> Value -> Struct ...).
bool dyn_depth_ok(Wkt w, const json_t *v, int depth)
{
    if (depth > GPB_MAX_DEPTH)
        return false;
    const char *k;
    json_t *x;
    switch (w) {
    case WKT_STRUCT:
        if (!json_is_object(v))
            return true;
        json_object_foreach(const_cast<json_t *>(v), k, x)
        {
            if (!dyn_depth_ok(WKT_VALUE, x, depth + 2))
                return false;
        }
        return true;
    case WKT_LIST:
        if (!json_is_array(v))
            return true;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!dyn_depth_ok(WKT_VALUE, json_array_get(v, i), depth + 1))
                return false;
        return true;
    default: // a Value
        if (json_is_object(v))
            return dyn_depth_ok(WKT_STRUCT, v, depth + 1);
        if (json_is_array(v))
            return dyn_depth_ok(WKT_LIST, v, depth + 1);
        return true;
    }
}

int check_msg_value(Ctx &c, const pb::Descriptor *d, json_t *v,
                    const std::string &path, int depth, json_t **repl)
{
    if (depth > GPB_MAX_DEPTH)
        return fail(c, path, "nested deeper than %d levels", GPB_MAX_DEPTH);
    Wkt w = wkt_of(d);
    bool templ = (c.flags & GPB_CHECK_TEMPLATES) && json_is_string(v);
    switch (w) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
        if (!json_is_string(v))
            return fail(c, path, "expected a %s string, got %s",
                        w == WKT_TIMESTAMP ? "RFC 3339 timestamp"
                                           : "duration (\"1.5s\")",
                        jtype(v));
        const char *s = json_string_value(v);
        if (templ && is_expr(s))
            return 0;
        bool ok;
        if (w == WKT_TIMESTAMP) {
            pb::Timestamp ts;
            ok = pb::util::TimeUtil::FromString(s, &ts);
        } else {
            pb::Duration du;
            ok = pb::util::TimeUtil::FromString(s, &du);
        }
        if (!ok)
            return fail(c, path, "invalid %s %s",
                        w == WKT_TIMESTAMP
                            ? "RFC 3339 timestamp (\"2024-01-02T03:04:05Z\")"
                            : "duration (\"1.5s\")",
                        excerpt(s).c_str());
        return 0;
    }
    case WKT_FIELD_MASK:
        if (!json_is_string(v))
            return fail(c, path, "expected a field mask string, got %s",
                        jtype(v));
        return 0;
    case WKT_VALUE:
        if (!dyn_depth_ok(w, v, depth))
            return fail(c, path, "nested deeper than %d levels", GPB_MAX_DEPTH);
        return 0;
    case WKT_STRUCT:
        if (json_is_object(v) && !dyn_depth_ok(w, v, depth))
            return fail(c, path, "nested deeper than %d levels", GPB_MAX_DEPTH);
        if (json_is_object(v) || (templ && is_whole_expr(json_string_value(v))))
            return 0;
        return fail(c, path,
                    "expected an object (google.protobuf.Struct), "
                    "got %s",
                    jtype(v));
    case WKT_LIST:
        if (json_is_array(v) && !dyn_depth_ok(w, v, depth))
            return fail(c, path, "nested deeper than %d levels", GPB_MAX_DEPTH);
        if (json_is_array(v) || (templ && is_whole_expr(json_string_value(v))))
            return 0;
        return fail(c, path,
                    "expected an array (google.protobuf.ListValue), "
                    "got %s",
                    jtype(v));
    case WKT_WRAPPER:
        if (json_is_null(v))
            return 0;
        return check_scalar(c, d->field(0), v, path, repl);
    case WKT_ANY: {
        if (templ && is_whole_expr(json_string_value(v)))
            return 0;
        if (!json_is_object(v))
            return fail(c, path,
                        "expected an object with \"@type\" "
                        "(google.protobuf.Any), got %s",
                        jtype(v));
        if (json_object_size(v) == 0)
            return 0; // the empty Any
        json_t *t = json_object_get(v, "@type");
        std::string tp = path + ".@type";
        if (!json_is_string(t))
            return fail(c, tp, "an Any needs a \"@type\" string");
        const char *url = json_string_value(t);
        const char *slash = strrchr(url, '/');
        const char *name = slash ? slash + 1 : url;
        const pb::Descriptor *in = find_message(c.pool, name, NULL, 0);
        if (in == NULL)
            return fail(c, tp, "unknown message type '%s'", name);
        if (wkt_of(in) != WKT_NONE) {
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x)
            {
                if (strcmp(k, "@type") && strcmp(k, "value"))
                    return fail(c, path + "." + k,
                                "an Any of %s holds only \"value\"", name);
            }
            json_t *inner = json_object_get(v, "value");
            if (inner == NULL)
                return 0;
            json_t *r = NULL;
            int rc =
                check_msg_value(c, in, inner, path + ".value", depth + 1, &r);
            if (r != NULL)
                json_object_set_new(v, "value", r);
            return rc;
        }
        return check_fields(c, in, v, path, depth + 1, true);
    }
    default:
        break;
    }
    if (templ && is_whole_expr(json_string_value(v)))
        return 0;
    if (!json_is_object(v))
        return fail(c, path, "expected an object (message %s), got %s",
                    d->full_name().c_str(), jtype(v));
    return check_fields(c, d, v, path, depth, false);
}

} // namespace

namespace gpb
{

int check_message(const gpb_pool_t *pool, const pb::Descriptor *d,
                  json_t *value, std::string &path, unsigned flags, bool coerce,
                  int depth, char *err, size_t errlen)
{
    Ctx c{pool, flags, coerce, err, errlen};
    json_t *r = NULL;
    int rc = check_msg_value(c, d, value, path, depth, &r);
    json_decref(r); // a top-level wrapper coercion has nowhere to go
    return rc;
}

} // namespace gpb

extern "C" int gpb_check_value(const gpb_pool_t *pool, const char *type,
                               const json_t *value, const char *where,
                               unsigned flags, char *err, size_t errlen)
{
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    std::string path = where ? where : "";
    if (value == NULL)
        return 0;
    return check_message(pool, d, const_cast<json_t *>(value), path, flags,
                         false, 0, err, errlen);
    GPB_CATCH(err, errlen)
}

extern "C" int gpb_check_json(const gpb_pool_t *pool, const char *type,
                              const char *json_text, size_t len,
                              const char *where, unsigned flags, char *err,
                              size_t errlen)
{
    json_error_t jerr;
    json_t *v = json_loadb(json_text ? json_text : "", json_text ? len : 0,
                           JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        set_err(err, errlen, "%s: invalid JSON at %d:%d: %s",
                where && *where ? where : "payload", jerr.line, jerr.column,
                jerr.text);
        return -EINVAL;
    }
    int rc = gpb_check_value(pool, type, v, where, flags, err, errlen);
    json_decref(v);
    return rc;
}

/* ---- condition paths ------------------------------------------------------
 */

namespace
{

enum PathState { P_MSG, P_LIST, P_FREE, P_SCALAR };

struct PathWalk {
    PathState st;
    const pb::Descriptor *msg;        // P_MSG; P_LIST of messages
    const pb::FieldDescriptor *field; // P_LIST, P_SCALAR: the field
    bool stream_doc = false;          // the client-stream document root
};

// State after stepping into a value of field f (element of a list when
// elem is set).
void enter_value(PathWalk &w, const pb::FieldDescriptor *f, bool elem)
{
    w.field = f;
    if (!elem && f->is_map()) {
        w.st = P_FREE;
        return;
    }
    if (!elem && f->is_repeated()) {
        w.st = P_LIST;
        return;
    }
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        w.st = P_SCALAR;
        return;
    }
    switch (wkt_of(f->message_type())) {
    case WKT_STRUCT:
    case WKT_LIST:
    case WKT_VALUE:
    case WKT_ANY:
        w.st = P_FREE;
        return;
    case WKT_TIMESTAMP:
    case WKT_DURATION:
    case WKT_FIELD_MASK:
    case WKT_WRAPPER:
        w.st = P_SCALAR;
        return;
    default:
        w.st = P_MSG;
        w.msg = f->message_type();
    }
}

bool all_digits(const std::string &s)
{
    if (s.empty())
        return false;
    for (char ch : s)
        if (ch < '0' || ch > '9')
            return false;
    return true;
}

} // namespace

extern "C" int gpb_field_path_normalise(const gpb_pool_t *pool,
                                        const char *type, const char *path_in,
                                        unsigned flags, char *out, size_t n,
                                        char *err, size_t errlen)
{
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    const char *src = path_in ? path_in : "";
    std::string res;
    const char *rel = src;
    if (src[0] == '\0') {
        set_err(err, errlen, "empty path");
        return -EINVAL;
    }
    if (src[0] == '$') {
        if (src[1] == '\0') {
            rel = src + 1;
        } else if (src[1] == '.') {
            rel = src + 2;
            if (strncmp(rel, "body", 4) == 0 &&
                (rel[4] == '\0' || rel[4] == '.' || rel[4] == '['))
                rel += 4;
            if (rel[0] == '.')
                rel++;
            if (rel[0] == '\0' && rel[-1] == '.') {
                set_err(err, errlen, "invalid path '%s': empty segment", src);
                return -EINVAL;
            }
        } else if (src[1] == '[') {
            rel = src + 1;
        } else {
            set_err(err, errlen,
                    "invalid path '%s': expected '.' or '[' after '$'", src);
            return -EINVAL;
        }
    }
    res.assign(src, (size_t)(rel - src));

    PathWalk w{P_MSG, d, NULL};
    if (flags & GPB_PATH_CLIENT_STREAM) {
        w.stream_doc = true;
        w.st = P_FREE; // decided by the first segment
    }
    size_t len = strlen(rel), i = 0;
    bool want_key = false;
    struct Tok {
        std::string key;
        int kind; // 0 dot key, 1 quoted key, 2 index
        char quote;
    };
    std::vector<Tok> toks; // the whole path is parsed before it is checked
    while (i < len) {
        std::string key;
        int kind; // 0 dot key, 1 quoted key, 2 index
        char quote = 0;
        if (rel[i] == '[' && !want_key) {
            size_t j = i + 1;
            if (j < len && (rel[j] == '\'' || rel[j] == '"')) {
                quote = rel[j];
                size_t k = j + 1;
                for (; k + 1 < len; k++)
                    if (rel[k] == quote && rel[k + 1] == ']')
                        break;
                if (k + 1 >= len || k == j + 1) {
                    set_err(err, errlen,
                            "invalid path '%s': unclosed bracket or empty key",
                            src);
                    return -EINVAL;
                }
                key.assign(rel + j + 1, k - j - 1);
                kind = 1;
                i = k + 2;
            } else {
                size_t k = j;
                while (k < len && rel[k] >= '0' && rel[k] <= '9')
                    k++;
                if (k == j || k >= len || rel[k] != ']') {
                    set_err(err, errlen,
                            "invalid path '%s': an index must be a "
                            "non-negative integer or a quoted key",
                            src);
                    return -EINVAL;
                }
                key.assign(rel + j, k - j);
                kind = 2;
                i = k + 1;
            }
        } else if (i > 0 && rel[i] == '.' && !want_key) {
            want_key = true;
            i++;
            continue;
        } else {
            if (i > 0 && !want_key) {
                set_err(err, errlen,
                        "invalid path '%s': expected '.' or '[' at offset %zu",
                        src, (size_t)(rel - src) + i);
                return -EINVAL;
            }
            size_t start = i;
            while (i < len && rel[i] != '.' && rel[i] != '[' && rel[i] != ']')
                i++;
            if ((i < len && rel[i] == ']') || i == start) {
                set_err(err, errlen,
                        "invalid path '%s': empty segment or "
                        "stray ']'",
                        src);
                return -EINVAL;
            }
            key.assign(rel + start, i - start);
            kind = 0;
        }
        want_key = false;
        toks.push_back(Tok{key, kind, quote});
    }
    if (want_key) {
        set_err(err, errlen, "invalid path '%s': empty segment", src);
        return -EINVAL;
    }
    bool first = true;
    std::string walked = res; // the path so far, for messages
    for (const Tok &t : toks) {
        const std::string &key = t.key;
        int kind = t.kind;
        char quote = t.quote;

        std::string name = key; // what is written back
        bool is_index = kind == 2 || (kind == 0 && all_digits(key));
        if (w.stream_doc && first) {
            if (kind == 2) {
                set_err(err, errlen,
                        "path '%s': a client stream is addressed as messages, "
                        "count, first or last",
                        src);
                return -EINVAL;
            }
            if (key == "messages") {
                w.st = P_LIST;
                w.field = NULL;
                w.msg = d;
            } else if (key == "first" || key == "last") {
                w.st = P_MSG;
                w.msg = d;
            } else if (key == "count") {
                w.st = P_SCALAR;
                w.field = NULL;
            } else {
                set_err(err, errlen,
                        "path '%s': '%s' is not in a client stream (messages, "
                        "count, first, last)",
                        src, key.c_str());
                return -EINVAL;
            }
        } else {
            switch (w.st) {
            case P_FREE:
                break;
            case P_SCALAR:
                set_err(err, errlen,
                        "path '%s': '%s' is a scalar; '%s' cannot be below it",
                        src, walked.c_str(), key.c_str());
                return -EINVAL;
            case P_LIST:
                if (!is_index) {
                    set_err(err, errlen,
                            "path '%s': '%s' is a list; expected an index, "
                            "got '%s'",
                            src, walked.c_str(), key.c_str());
                    return -EINVAL;
                }
                if (w.field == NULL) { // the client stream's messages
                    w.st = P_MSG;
                    w.msg = d;
                } else {
                    enter_value(w, w.field, true);
                }
                break;
            case P_MSG: {
                const pb::FieldDescriptor *f =
                    field_by_name(w.msg, key.c_str());
                if (f == NULL) {
                    set_err(err, errlen,
                            "path '%s': unknown field '%s' of message %s", src,
                            key.c_str(), w.msg->full_name().c_str());
                    return -EINVAL;
                }
                name = f->json_name();
                enter_value(w, f, false);
                break;
            }
            }
        }
        first = false;
        size_t before = res.size();
        if (kind == 0) {
            if (before > (size_t)(rel - src))
                res += '.';
            res += name;
        } else if (kind == 1) {
            res += '[';
            res += quote;
            res += name;
            res += quote;
            res += ']';
        } else {
            res += "[" + name + "]";
        }
        walked = res;
    }
    if (res.size() + 1 > n) {
        set_err(err, errlen, "path '%s': the normalised path is too long", src);
        return -ENAMETOOLONG;
    }
    memcpy(out, res.c_str(), res.size() + 1);
    return 0;
    GPB_CATCH(err, errlen)
}
