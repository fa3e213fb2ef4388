// Messages between the wire (binary protobuf) and the engine (proto3 JSON).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <unordered_map>

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include "pb_internal.h"

using namespace gpb;

namespace
{

// A string output that refuses to grow past a cap, so a small message that
// expands into a huge JSON text (every default printed) cannot take the
// memory: the printer stops when Next fails.
class CappedOutput : public pb::io::ZeroCopyOutputStream
{
  public:
    CappedOutput(std::string *s, size_t cap) : s_(s), cap_(cap) {}
    bool Next(void **data, int *size) override
    {
        size_t used = s_->size();
        if (used >= cap_) {
            overflow_ = true;
            return false;
        }
        size_t grow = used < 4096 ? 4096 : used;
        if (grow > cap_ - used)
            grow = cap_ - used;
        if (grow > (1u << 30))
            grow = 1u << 30;
        s_->resize(used + grow);
        *data = &(*s_)[used];
        *size = (int)grow;
        return true;
    }
    void BackUp(int count) override
    {
        s_->resize(s_->size() - (size_t)count);
    }
    int64_t ByteCount() const override
    {
        return (int64_t)s_->size();
    }
    bool overflow() const
    {
        return overflow_;
    }

  private:
    std::string *s_;
    size_t cap_;
    bool overflow_ = false;
};

std::string map_key_of(const pb::Message &entry, const pb::FieldDescriptor *kf)
{
    const pb::Reflection *r = entry.GetReflection();
    switch (kf->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
        return r->GetString(entry, kf);
    case pb::FieldDescriptor::CPPTYPE_BOOL:
        return r->GetBool(entry, kf) ? "1" : "0";
    case pb::FieldDescriptor::CPPTYPE_INT32:
        return std::to_string(r->GetInt32(entry, kf));
    case pb::FieldDescriptor::CPPTYPE_INT64:
        return std::to_string(r->GetInt64(entry, kf));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
        return std::to_string(r->GetUInt32(entry, kf));
    default:
        return std::to_string(r->GetUInt64(entry, kf));
    }
}

// A map key repeated on the wire stays twice in the parsed message (its
// entries are a list until something syncs the map): keep the last entry
// of each key, in place, as a map would.
void dedupe_map(pb::Message *m, const pb::FieldDescriptor *f)
{
    const pb::Reflection *r = m->GetReflection();
    int n = r->FieldSize(*m, f);
    if (n < 2)
        return;
    const pb::FieldDescriptor *kf = f->message_type()->map_key();
    std::unordered_map<std::string, int> last;
    for (int i = 0; i < n; i++)
        last[map_key_of(r->GetRepeatedMessage(*m, f, i), kf)] = i;
    if ((int)last.size() == n)
        return;
    std::vector<int> kept;
    for (int i = 0; i < n; i++)
        if (last[map_key_of(r->GetRepeatedMessage(*m, f, i), kf)] == i)
            kept.push_back(i);
    // kept is increasing: position j < kept[j] is never one a later step
    // still needs.
    for (int j = 0; j < (int)kept.size(); j++)
        if (kept[j] != j)
            r->SwapElements(m, f, j, kept[j]);
    for (int i = (int)kept.size(); i < n; i++)
        r->RemoveLast(m, f);
}

// Puts a parsed message in the form it is printed from: map keys once, and
// every google.protobuf.Any's packed message parsed, made canonical in turn
// and packed again. depth counts message levels across Any boundaries,
// which libprotobuf's printer does not: 50000 Anys packed in each other
// (2 MB on the wire) took the printer's memory quadratically. false when
// the message nests deeper than GPB_MAX_DEPTH.
bool canonical(const gpb_pool_t *pool, pb::Message *m, int depth)
{
    if (depth > GPB_MAX_DEPTH)
        return false;
    const pb::Descriptor *d = m->GetDescriptor();
    const pb::Reflection *r = m->GetReflection();
    if (d->full_name() == "google.protobuf.Any") {
        const pb::FieldDescriptor *uf = d->FindFieldByNumber(1);
        const pb::FieldDescriptor *vf = d->FindFieldByNumber(2);
        std::string url = r->GetString(*m, uf);
        size_t slash = url.rfind('/');
        const pb::Descriptor *in = pool->dpool()->FindMessageTypeByName(
            slash == std::string::npos ? url : url.substr(slash + 1));
        if (in == NULL)
            return true; // the printer names the unknown type
        std::unique_ptr<pb::Message> inner(
            const_cast<gpb_pool_t *>(pool)->factory.GetPrototype(in)->New());
        {
            std::string value = r->GetString(*m, vf);
            r->SetString(m, vf, std::string()); // one copy alive per level
            pb::io::CodedInputStream cin((const uint8_t *)value.data(),
                                         (int)value.size());
            cin.SetRecursionLimit(GPB_MAX_DEPTH - depth);
            if (!inner->MergePartialFromCodedStream(&cin) ||
                !cin.ConsumedEntireMessage())
                return false;
        }
        inner->DiscardUnknownFields();
        if (!canonical(pool, inner.get(), depth + 1))
            return false;
        r->SetString(m, vf, inner->SerializePartialAsString());
        return true;
    }
    std::vector<const pb::FieldDescriptor *> fields;
    r->ListFields(*m, &fields);
    for (const pb::FieldDescriptor *f : fields) {
        if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE)
            continue;
        if (f->is_map())
            dedupe_map(m, f);
        if (f->is_repeated()) {
            int n = r->FieldSize(*m, f);
            for (int i = 0; i < n; i++)
                if (!canonical(pool, r->MutableRepeatedMessage(m, f, i),
                               depth + 1))
                    return false;
        } else if (!canonical(pool, r->MutableMessage(m, f), depth + 1)) {
            return false;
        }
    }
    return true;
}

char *dup_bytes(const char *p, size_t n)
{
    char *out = (char *)malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (n > 0)
        memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

} // namespace

extern "C" int gpb_decode_to_json(const gpb_pool_t *pool, const char *type,
                                  const uint8_t *bytes, size_t len, char **json,
                                  size_t *json_len, char *err, size_t errlen)
{
    *json = NULL;
    *json_len = 0;
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    if (len > (size_t)INT32_MAX) {
        set_err(err, errlen, "bad request message: %zu bytes is too large",
                len);
        return -EMSGSIZE;
    }
    // Strict parse first: the JSON printer is lenient about some wire
    // errors, the parser is not, and it bounds the nesting.
    const pb::Message *proto =
        const_cast<gpb_pool_t *>(pool)->factory.GetPrototype(d);
    std::unique_ptr<pb::Message> msg(proto->New());
    {
        pb::io::CodedInputStream in(bytes, (int)len);
        in.SetRecursionLimit(GPB_MAX_DEPTH);
        if (!msg->MergePartialFromCodedStream(&in) ||
            !in.ConsumedEntireMessage()) {
            set_err(err, errlen,
                    "bad request message: not a valid %s (malformed wire "
                    "data or nested deeper than %d)",
                    d->full_name().c_str(), GPB_MAX_DEPTH);
            return -EBADMSG;
        }
    }
    // Printed from the parsed message re-serialised, not from the bytes as
    // they came: the wire may repeat a map key or a singular field (the last
    // one wins), which the streaming printer would print twice, and packed
    // Any messages must count towards the depth.
    msg->DiscardUnknownFields();
    if (!canonical(pool, msg.get(), 0)) {
        set_err(err, errlen,
                "bad request message: %s nests deeper than %d levels "
                "(packed Any messages included)",
                d->full_name().c_str(), GPB_MAX_DEPTH);
        return -EBADMSG;
    }
    std::string canon;
    if (!msg->SerializePartialToString(&canon)) {
        set_err(err, errlen, "bad request message: %s does not re-serialise",
                d->full_name().c_str());
        return -EBADMSG;
    }
    pb::util::JsonPrintOptions opts;
    opts.always_print_primitive_fields = true;
    std::string out;
    CappedOutput sink(&out, pool->max_json);
    pb::io::ArrayInputStream src(canon.data(), (int)canon.size());
    pb::util::Status st = pb::util::BinaryToJsonStream(
        pool->resolver.get(), type_url(d), &src, &sink, opts);
    if (sink.overflow()) {
        set_err(err, errlen,
                "message %s: its JSON is larger than the %zu-byte limit",
                d->full_name().c_str(), pool->max_json);
        return -EMSGSIZE;
    }
    if (!st.ok()) {
        std::string m(st.message());
        set_err(err, errlen, "bad request message: %s: %s",
                d->full_name().c_str(), m.c_str());
        return -EBADMSG;
    }
    *json = dup_bytes(out.data(), out.size());
    if (*json == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *json_len = out.size();
    return 0;
    GPB_CATCH(err, errlen)
}

static int coerce_json(const gpb_pool_t *pool, const pb::Descriptor *d,
                       const char *json, size_t len, std::string *out,
                       char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        set_err(err, errlen, "invalid JSON at %d:%d: %s", jerr.line,
                jerr.column, jerr.text);
        return -EINVAL;
    }
    std::string path = "";
    int rc = check_message(pool, d, v, path, 0, true, 0, NULL, 0);
    (void)rc; // the parser below reports what coercion could not fix
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    out->assign(s);
    free(s);
    return 0;
}

extern "C" int gpb_encode_from_json_reference(
    const gpb_pool_t *pool, const char *type, const char *json, size_t len,
    unsigned flags, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    std::string coerced;
    pb::StringPiece in(json ? json : "", json ? len : 0);
    if (flags & GPB_ENC_COERCE) {
        int rc =
            coerce_json(pool, d, in.data(), in.size(), &coerced, err, errlen);
        if (rc != 0)
            return rc;
        in = pb::StringPiece(coerced);
    }
    pb::util::JsonParseOptions opts;
    std::string bin;
    pb::util::Status st = pb::util::JsonToBinaryString(
        pool->resolver.get(), type_url(d), in, &bin, opts);
    if (!st.ok()) {
        std::string m(st.message());
        set_err(err, errlen, "payload does not fit %s: %s",
                d->full_name().c_str(), m.c_str());
        return -EINVAL;
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

namespace gpb
{

uint64_t EncodeCache::hash(const std::string &type, unsigned flags,
                           const char *json, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ flags; // FNV-1a
    for (char c : type)
        h = (h ^ (unsigned char)c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)json[i]) * 1099511628211ull;
    return h;
}

bool EncodeCache::get(const std::string &type, unsigned flags, const char *json,
                      size_t len, std::string *bin)
{
    if (len > kMaxJson)
        return false;
    uint64_t h = hash(type, flags, json, len);
    size_t i = (size_t)(h % kSlots);
    std::lock_guard<std::mutex> g(locks_[i % 16]);
    const Slot &s = slots_[i];
    if (s.hash != h || s.flags != flags || s.type != type ||
        s.json.size() != len || memcmp(s.json.data(), json, len) != 0)
        return false;
    *bin = s.bin;
    return true;
}

void EncodeCache::put(const std::string &type, unsigned flags, const char *json,
                      size_t len, const std::string &bin)
{
    if (len > kMaxJson || bin.size() > kMaxBin)
        return;
    uint64_t h = hash(type, flags, json, len);
    size_t i = (size_t)(h % kSlots);
    std::lock_guard<std::mutex> g(locks_[i % 16]);
    Slot &s = slots_[i];
    s.hash = h;
    s.flags = flags;
    s.type = type;
    s.json.assign(json, len);
    s.bin = bin;
}

} // namespace gpb

static int copy_out(const std::string &bin, uint8_t **out, size_t *out_len,
                    char *err, size_t errlen)
{
    *out = (uint8_t *)malloc(bin.size() ? bin.size() : 1);
    if (*out == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (!bin.empty())
        memcpy(*out, bin.data(), bin.size());
    *out_len = bin.size();
    return 0;
}

extern "C" int gpb_encode_from_json(const gpb_pool_t *pool, const char *type,
                                    const char *json, size_t len,
                                    unsigned flags, uint8_t **out,
                                    size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    gpb::EncodeCache &cache = const_cast<gpb_pool_t *>(pool)->cache;
    std::string cached;
    if (json != NULL && cache.get(d->full_name(), flags, json, len, &cached))
        return copy_out(cached, out, out_len, err, errlen);
    json_error_t jerr;
    // A key given twice has no one meaning (libprotobuf's parser merges
    // message values, jansson keeps the last): refused, as at write time.
    json_t *v = json_loadb(json ? json : "", json ? len : 0,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL |
                               JSON_REJECT_DUPLICATES,
                           &jerr);
    if (v == NULL) {
        // jansson holds integers as int64: a uint64 past that range is
        // valid proto3 JSON, which libprotobuf's parser takes.
        if (json_error_code(&jerr) == json_error_numeric_overflow)
            return gpb_encode_from_json_reference(pool, type, json, len, flags,
                                                  out, out_len, err, errlen);
        set_err(err, errlen,
                "payload does not fit %s: invalid JSON at %d:%d: %s",
                d->full_name().c_str(), jerr.line, jerr.column, jerr.text);
        return -EINVAL;
    }
    std::unique_ptr<json_t, void (*)(json_t *)> hold(v, json_decref);
    char msg[GPB_ERR_MAX] = "";
    std::string path;
    bool coerce = (flags & GPB_ENC_COERCE) != 0;
    int rc = check_message(pool, d, v, path, 0, coerce, 0, msg, sizeof(msg));
    std::unique_ptr<pb::Message> m;
    if (rc == 0) {
        m.reset(const_cast<gpb_pool_t *>(pool)->factory.GetPrototype(d)->New());
        path.clear();
        rc = build_message(pool, d, v, m.get(), path, 0, msg, sizeof(msg));
    }
    if (rc != 0) {
        set_err(err, errlen, "payload does not fit %s: %s",
                d->full_name().c_str(), msg);
        return rc;
    }
    std::string bin;
    if (!m->SerializeToString(&bin)) {
        set_err(err, errlen, "payload does not fit %s: it does not serialise",
                d->full_name().c_str());
        return -EINVAL;
    }
    if (json != NULL)
        cache.put(d->full_name(), flags, json, len, bin);
    return copy_out(bin, out, out_len, err, errlen);
    GPB_CATCH(err, errlen)
}
