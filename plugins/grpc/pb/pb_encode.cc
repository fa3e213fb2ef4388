// JSON -> message through the Reflection API: the serve-time encoder of
// response payloads. It runs after check_message has validated (and, on
// request, coerced) the JSON, so it is one pass with no type resolver and no
// intermediate text; libprotobuf's own JSON parser
// (gpb_encode_from_json_reference) is the yardstick the tests and the fuzz
// target compare it with.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include "pb_internal.h"

using namespace gpb;

namespace
{

using FD = pb::FieldDescriptor;

struct B {
    const gpb_pool_t *pool;
    pb::DynamicMessageFactory *factory;
    char *err;
    size_t errlen;
};

int bfail(B &b, const std::string &path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int bfail(B &b, const std::string &path, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path.empty())
        set_err(b.err, b.errlen, "%s", msg);
    else
        set_err(b.err, b.errlen, "%s: %s", short_path(path).c_str(), msg);
    return -EINVAL;
}

bool to_i64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    double d;
    if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long i = strtoll(s, &end, 10);
        if (*s != '\0' && *end == '\0' && errno == 0) {
            *out = i;
            return true;
        }
        d = strtod(s, &end);
        if (*s == '\0' || *end != '\0')
            return false;
    } else {
        return false;
    }
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
        return false;
    *out = (int64_t)d;
    return true;
}

bool to_u64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return false;
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    double d;
    if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        if (*s != '-') {
            unsigned long long u = strtoull(s, &end, 10);
            if (*s != '\0' && *end == '\0' && errno == 0) {
                *out = u;
                return true;
            }
        }
        d = strtod(s, &end);
        if (*s == '\0' || *end != '\0')
            return false;
    } else {
        return false;
    }
    if (!isfinite(d) || d != floor(d) || d < 0 || d >= 18446744073709551616.0)
        return false;
    *out = (uint64_t)d;
    return true;
}

bool to_double(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (!strcmp(s, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!strcmp(s, "Infinity") || !strcmp(s, "-Infinity")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    return *s != '\0' && *end == '\0' && isfinite(*out);
}

int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

// Standard or URL-safe base64, padding optional (valid_base64 first).
std::string b64decode(const char *s)
{
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (; *s != '\0' && *s != '='; s++) {
        int v = b64val(*s);
        if (v < 0)
            break;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += (char)((acc >> bits) & 0xff);
        }
    }
    return out;
}

// Sets (or adds, for a repeated field) one scalar value of field f.
int put_scalar(B &b, pb::Message *m, const FD *f, const json_t *v,
               const std::string &path)
{
    const pb::Reflection *r = m->GetReflection();
    bool add = f->is_repeated();
    switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64: {
        int64_t x;
        if (!to_i64(v, &x))
            return bfail(b, path, "expected an integer");
        if (f->cpp_type() == FD::CPPTYPE_INT32) {
            if (x < INT32_MIN || x > INT32_MAX)
                return bfail(b, path, "out of range for int32");
            add ? r->AddInt32(m, f, (int32_t)x) : r->SetInt32(m, f, (int32_t)x);
        } else {
            add ? r->AddInt64(m, f, x) : r->SetInt64(m, f, x);
        }
        return 0;
    }
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64: {
        uint64_t x;
        if (!to_u64(v, &x))
            return bfail(b, path, "expected a non-negative integer");
        if (f->cpp_type() == FD::CPPTYPE_UINT32) {
            if (x > UINT32_MAX)
                return bfail(b, path, "out of range for uint32");
            add ? r->AddUInt32(m, f, (uint32_t)x)
                : r->SetUInt32(m, f, (uint32_t)x);
        } else {
            add ? r->AddUInt64(m, f, x) : r->SetUInt64(m, f, x);
        }
        return 0;
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
        double d;
        if (!to_double(v, &d))
            return bfail(b, path, "expected a number");
        if (f->cpp_type() == FD::CPPTYPE_FLOAT) {
            if (isfinite(d) && fabs(d) > 3.4028234663852886e38)
                return bfail(b, path, "out of range for float");
            add ? r->AddFloat(m, f, (float)d) : r->SetFloat(m, f, (float)d);
        } else {
            add ? r->AddDouble(m, f, d) : r->SetDouble(m, f, d);
        }
        return 0;
    }
    case FD::CPPTYPE_BOOL:
        if (!json_is_boolean(v))
            return bfail(b, path, "expected a boolean");
        add ? r->AddBool(m, f, json_is_true(v))
            : r->SetBool(m, f, json_is_true(v));
        return 0;
    case FD::CPPTYPE_STRING: {
        if (!json_is_string(v))
            return bfail(b, path, "expected a string");
        std::string s;
        if (f->type() == FD::TYPE_BYTES) {
            if (!valid_base64(json_string_value(v)))
                return bfail(b, path, "invalid base64");
            s = b64decode(json_string_value(v));
        } else {
            s.assign(json_string_value(v), json_string_length(v));
        }
        add ? r->AddString(m, f, std::move(s))
            : r->SetString(m, f, std::move(s));
        return 0;
    }
    case FD::CPPTYPE_ENUM: {
        int n;
        if (json_is_null(v)) {
            n = 0; // google.protobuf.NullValue in a list
        } else if (json_is_string(v)) {
            const pb::EnumValueDescriptor *ev =
                f->enum_type()->FindValueByName(json_string_value(v));
            if (ev == NULL)
                return bfail(b, path, "unknown value of enum %s",
                             f->enum_type()->full_name().c_str());
            n = ev->number();
        } else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
                   json_integer_value(v) <= INT32_MAX) {
            n = (int)json_integer_value(v);
        } else {
            return bfail(b, path, "expected a name of enum %s",
                         f->enum_type()->full_name().c_str());
        }
        add ? r->AddEnumValue(m, f, n) : r->SetEnumValue(m, f, n);
        return 0;
    }
    default:
        return bfail(b, path, "unsupported field type");
    }
}

int build_value(B &b, const pb::Descriptor *d, const json_t *v, pb::Message *m,
                std::string &path, int depth);

// The message value of field f: a new element of a list or map value, or
// the singular sub-message.
int put_message(B &b, pb::Message *m, const FD *f, const json_t *v,
                std::string &path, int depth)
{
    const pb::Reflection *r = m->GetReflection();
    pb::Message *sub = f->is_repeated() ? r->AddMessage(m, f, b.factory)
                                        : r->MutableMessage(m, f, b.factory);
    return build_value(b, f->message_type(), v, sub, path, depth + 1);
}

int put_element(B &b, pb::Message *m, const FD *f, const json_t *v,
                std::string &path, int depth)
{
    if (f->cpp_type() == FD::CPPTYPE_MESSAGE)
        return put_message(b, m, f, v, path, depth);
    return put_scalar(b, m, f, v, path);
}

int put_map_key(B &b, pb::Message *entry, const FD *kf, const char *key,
                const std::string &path)
{
    const pb::Reflection *r = entry->GetReflection();
    switch (kf->cpp_type()) {
    case FD::CPPTYPE_STRING:
        r->SetString(entry, kf, key);
        return 0;
    case FD::CPPTYPE_BOOL:
        if (strcmp(key, "true") && strcmp(key, "false"))
            return bfail(b, path, "a bool map key is \"true\" or \"false\"");
        r->SetBool(entry, kf, key[0] == 't');
        return 0;
    default: {
        json_t *ks = json_string(key);
        if (ks == NULL)
            throw std::bad_alloc();
        int rc = put_scalar(b, entry, kf, ks, path);
        json_decref(ks);
        return rc;
    }
    }
}

int put_field(B &b, pb::Message *m, const FD *f, const json_t *v,
              std::string &path, int depth)
{
    if (json_is_null(v)) {
        // null is the default, except for a google.protobuf.Value, where it
        // is the null value
        if (!f->is_repeated() && f->cpp_type() == FD::CPPTYPE_MESSAGE &&
            wkt_of(f->message_type()) == WKT_VALUE)
            return put_message(b, m, f, v, path, depth);
        return 0;
    }
    size_t base = path.size();
    if (f->is_map()) {
        if (!json_is_object(v))
            return bfail(b, path, "expected an object (map)");
        const FD *kf = f->message_type()->map_key();
        const FD *vf = f->message_type()->map_value();
        const char *key;
        json_t *val;
        json_object_foreach(const_cast<json_t *>(v), key, val)
        {
            path.resize(base);
            path += "[\"";
            path += key;
            path += "\"]";
            pb::Message *entry =
                m->GetReflection()->AddMessage(m, f, b.factory);
            int rc = put_map_key(b, entry, kf, key, path);
            bool is_value = vf->cpp_type() == FD::CPPTYPE_MESSAGE &&
                            wkt_of(vf->message_type()) == WKT_VALUE;
            if (rc == 0 && (!json_is_null(val) || is_value)) {
                rc = vf->cpp_type() == FD::CPPTYPE_MESSAGE
                         ? build_value(b, vf->message_type(), val,
                                       entry->GetReflection()->MutableMessage(
                                           entry, vf, b.factory),
                                       path, depth + 2)
                         : put_scalar(b, entry, vf, val, path);
            }
            if (rc != 0)
                return rc;
        }
        path.resize(base);
        return 0;
    }
    if (f->is_repeated()) {
        if (!json_is_array(v))
            return bfail(b, path, "expected an array");
        for (size_t i = 0; i < json_array_size(v); i++) {
            path.resize(base);
            path += "[" + std::to_string(i) + "]";
            int rc = put_element(b, m, f, json_array_get(v, i), path, depth);
            if (rc != 0)
                return rc;
        }
        path.resize(base);
        return 0;
    }
    return put_element(b, m, f, v, path, depth);
}

int build_fields(B &b, const pb::Descriptor *d, const json_t *obj,
                 pb::Message *m, std::string &path, int depth, bool skip_type)
{
    size_t base = path.size();
    const char *key;
    json_t *val;
    json_object_foreach(const_cast<json_t *>(obj), key, val)
    {
        if (skip_type && !strcmp(key, "@type"))
            continue;
        path.resize(base);
        if (!path.empty())
            path += '.';
        path += key;
        const FD *f = field_by_name(d, key);
        if (f == NULL)
            return bfail(b, path, "unknown field of message %s",
                         d->full_name().c_str());
        int rc = put_field(b, m, f, val, path, depth);
        if (rc != 0)
            return rc;
    }
    path.resize(base);
    return 0;
}

// "fooBar.bazQux" -> "foo_bar.baz_qux" (a FieldMask path in JSON).
std::string snake_case(const std::string &s)
{
    std::string out;
    for (char c : s) {
        if (c >= 'A' && c <= 'Z') {
            out += '_';
            out += (char)(c - 'A' + 'a');
        } else {
            out += c;
        }
    }
    return out;
}

// depth counts message levels as the wire does (a map entry is one), so
// what is built here is what a decoder with the same limit reads back.
int build_value(B &b, const pb::Descriptor *d, const json_t *v, pb::Message *m,
                std::string &path, int depth)
{
    if (depth > GPB_MAX_DEPTH)
        return bfail(b, path, "nested deeper than %d levels", GPB_MAX_DEPTH);
    const pb::Reflection *r = m->GetReflection();
    switch (wkt_of(d)) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
        if (!json_is_string(v))
            return bfail(b, path, "expected a string");
        int64_t secs;
        int32_t nanos;
        if (wkt_of(d) == WKT_TIMESTAMP) {
            pb::Timestamp ts;
            if (!pb::util::TimeUtil::FromString(json_string_value(v), &ts))
                return bfail(b, path, "invalid RFC 3339 timestamp");
            secs = ts.seconds(), nanos = ts.nanos();
        } else {
            pb::Duration du;
            if (!pb::util::TimeUtil::FromString(json_string_value(v), &du))
                return bfail(b, path, "invalid duration");
            secs = du.seconds(), nanos = du.nanos();
        }
        r->SetInt64(m, d->FindFieldByNumber(1), secs);
        r->SetInt32(m, d->FindFieldByNumber(2), nanos);
        return 0;
    }
    case WKT_FIELD_MASK: {
        if (!json_is_string(v))
            return bfail(b, path, "expected a string");
        const FD *paths = d->FindFieldByNumber(1);
        std::string s = json_string_value(v);
        size_t start = 0;
        while (!s.empty() && start <= s.size()) {
            size_t end = s.find(',', start);
            if (end == std::string::npos)
                end = s.size();
            if (end > start)
                r->AddString(m, paths,
                             snake_case(s.substr(start, end - start)));
            start = end + 1;
        }
        return 0;
    }
    case WKT_STRUCT: {
        if (!json_is_object(v))
            return bfail(b, path, "expected an object");
        const FD *fields = d->FindFieldByNumber(1);
        const FD *vf = fields->message_type()->map_value();
        size_t base = path.size();
        const char *key;
        json_t *val;
        json_object_foreach(const_cast<json_t *>(v), key, val)
        {
            path.resize(base);
            path += '.';
            path += key;
            pb::Message *entry = r->AddMessage(m, fields, b.factory);
            const pb::Reflection *er = entry->GetReflection();
            er->SetString(entry, fields->message_type()->map_key(), key);
            int rc = build_value(b, vf->message_type(), val,
                                 er->MutableMessage(entry, vf, b.factory), path,
                                 depth + 2);
            if (rc != 0)
                return rc;
        }
        path.resize(base);
        return 0;
    }
    case WKT_LIST: {
        if (!json_is_array(v))
            return bfail(b, path, "expected an array");
        const FD *values = d->FindFieldByNumber(1);
        size_t base = path.size();
        for (size_t i = 0; i < json_array_size(v); i++) {
            path.resize(base);
            path += "[" + std::to_string(i) + "]";
            int rc = build_value(
                b, values->message_type(), json_array_get(v, i),
                r->AddMessage(m, values, b.factory), path, depth + 1);
            if (rc != 0)
                return rc;
        }
        path.resize(base);
        return 0;
    }
    case WKT_VALUE:
        switch (json_typeof(v)) {
        case JSON_NULL:
            r->SetEnumValue(m, d->FindFieldByName("null_value"), 0);
            return 0;
        case JSON_TRUE:
        case JSON_FALSE:
            r->SetBool(m, d->FindFieldByName("bool_value"), json_is_true(v));
            return 0;
        case JSON_INTEGER:
        case JSON_REAL:
            r->SetDouble(m, d->FindFieldByName("number_value"),
                         json_number_value(v));
            return 0;
        case JSON_STRING:
            r->SetString(
                m, d->FindFieldByName("string_value"),
                std::string(json_string_value(v), json_string_length(v)));
            return 0;
        case JSON_OBJECT:
        case JSON_ARRAY: {
            const FD *f = d->FindFieldByName(json_is_object(v) ? "struct_value"
                                                               : "list_value");
            return build_value(b, f->message_type(), v,
                               r->MutableMessage(m, f, b.factory), path,
                               depth + 1);
        }
        }
        return bfail(b, path, "unexpected JSON value");
    case WKT_WRAPPER:
        return put_scalar(b, m, d->FindFieldByNumber(1), v, path);
    case WKT_ANY: {
        if (!json_is_object(v))
            return bfail(b, path, "expected an object with \"@type\"");
        if (json_object_size(v) == 0)
            return 0;
        const json_t *t = json_object_get(v, "@type");
        if (!json_is_string(t))
            return bfail(b, path, "an Any needs a \"@type\" string");
        const char *url = json_string_value(t);
        const char *slash = strrchr(url, '/');
        const pb::Descriptor *in =
            find_message(b.pool, slash ? slash + 1 : url, NULL, 0);
        if (in == NULL)
            return bfail(b, path + ".@type", "unknown message type");
        std::unique_ptr<pb::Message> inner(b.factory->GetPrototype(in)->New());
        int rc;
        if (wkt_of(in) != WKT_NONE) {
            const json_t *iv = json_object_get(v, "value");
            std::string vp = path + ".value";
            rc = iv ? build_value(b, in, iv, inner.get(), vp, depth + 1) : 0;
        } else {
            rc = build_fields(b, in, v, inner.get(), path, depth + 1, true);
        }
        if (rc != 0)
            return rc;
        r->SetString(m, d->FindFieldByNumber(1), url);
        r->SetString(m, d->FindFieldByNumber(2), inner->SerializeAsString());
        return 0;
    }
    default:
        break;
    }
    if (!json_is_object(v))
        return bfail(b, path, "expected an object (message %s)",
                     d->full_name().c_str());
    return build_fields(b, d, v, m, path, depth, false);
}

} // namespace

namespace gpb
{

int build_message(const gpb_pool_t *pool, const pb::Descriptor *d,
                  const json_t *value, pb::Message *m, std::string &path,
                  int depth, char *err, size_t errlen)
{
    B b{pool, &const_cast<gpb_pool_t *>(pool)->factory, err, errlen};
    return build_value(b, d, value, m, path, depth);
}

} // namespace gpb
