// Internals of dp_grpcpb shared by its .cc files; not part of the C
// interface (grpcpb.h).
#ifndef DOPPEL_PB_INTERNAL_H
#define DOPPEL_PB_INTERNAL_H

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/type_resolver.h>

#include "grpcpb.h"

namespace gpb
{

namespace pb = google::protobuf;

// Collects the parser's and the descriptor builder's errors as
// "name.proto:LINE:COL: message" (1-based, as compilers print them).
class ErrorList : public pb::compiler::MultiFileErrorCollector
{
  public:
    void AddError(const std::string &file, int line, int column,
                  const std::string &message) override;
    void AddWarning(const std::string &, int, int, const std::string &) override
    {
    }
    std::vector<std::string> errors;
};

// The files a pool can import: doppel's built-in directories first (they
// win), then the in-memory uploads, then the user's proto_path directories.
class SourceTree : public pb::compiler::SourceTree
{
  public:
    pb::io::ZeroCopyInputStream *Open(const std::string &filename) override;
    std::string GetLastErrorMessage() override;

    void add_builtin_dir(const std::string &virt, const std::string &dir);
    void add_user_dir(const std::string &dir);
    bool builtin_has(const std::string &filename);

    std::map<std::string, std::string> mem;

    static constexpr int kMaxNesting = 64;
    static constexpr size_t kMaxFile = (size_t)16 << 20;
    // "LINE:COL: nested deeper than N levels", or "" if text is fine.
    static std::string too_deep(const std::string &text);

  private:
    pb::compiler::DiskSourceTree builtin_;
    pb::compiler::DiskSourceTree user_;
    bool have_user_ = false;
    std::string last_error_;
};

} // namespace gpb

namespace gpb
{

// The results of the conversions done last, keyed by type, flags and the
// whole input: a payload with no template is the same text on every call
// (and a load test sends the same request), and the output is a function
// of the pool, the type, the flags and the input. Direct-mapped; each slot is
// guarded by one of a few mutexes, held only to compare and copy, so the pool
// stays shareable between threads. Only successes are kept, and only small
// ones.
class EncodeCache
{
  public:
    static constexpr size_t kSlots = 256;
    static constexpr size_t kMaxJson = 4096;
    static constexpr size_t kMaxBin = 16384;
    bool get(const std::string &type, unsigned flags, const char *json,
             size_t len, std::string *bin);
    void put(const std::string &type, unsigned flags, const char *json,
             size_t len, const std::string &bin);

  private:
    struct Slot {
        uint64_t hash = 0;
        unsigned flags = 0;
        std::string type, json, bin;
    };
    static uint64_t hash(const std::string &type, unsigned flags,
                         const char *json, size_t len);
    Slot slots_[kSlots];
    std::mutex locks_[16];
};

} // namespace gpb

struct gpb_pool {
    std::atomic<int> refs{1};
    gpb::EncodeCache cache;        // JSON text -> wire bytes
    bool frozen = false;
    size_t max_json = GPB_MAX_JSON_DEFAULT;
    gpb::SourceTree tree;
    gpb::ErrorList errors;
    std::unique_ptr<google::protobuf::compiler::Importer> importer;
    // After gpb_pool_freeze: a copy of every loaded file in a pool with no
    // fallback database. The importer's pool remembers every name looked up
    // in vain (a set that clients could grow without end through reflection
    // or Any type URLs); this one is never written after it is built.
    // Declared before the factory: prototypes die before their descriptors.
    std::unique_ptr<google::protobuf::DescriptorPool> frozen_pool;
    google::protobuf::DynamicMessageFactory factory;
    std::unique_ptr<google::protobuf::util::TypeResolver> resolver;
    std::vector<std::string> loaded; // names imported, in order
    std::set<std::string> builtin_files;
    std::vector<const google::protobuf::ServiceDescriptor *> services;

    const google::protobuf::DescriptorPool *dpool() const
    {
        return frozen_pool ? frozen_pool.get() : importer->pool();
    }
};

namespace gpb
{

// Writes a message into err (NUL-terminated, truncated to errlen).
void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// A field path short enough for an error message: a very deep one keeps
// its start and its end.
std::string short_path(const std::string &path);
// The message of the current exception (inside a catch block).
int from_exception(char *err, size_t errlen);

const pb::Descriptor *find_message(const gpb_pool_t *pool, const char *type,
                                   char *err, size_t errlen);
std::string type_url(const pb::Descriptor *d);

// Well-known types with a JSON form of their own.
enum Wkt {
    WKT_NONE,
    WKT_TIMESTAMP,
    WKT_DURATION,
    WKT_FIELD_MASK,
    WKT_STRUCT,
    WKT_LIST,
    WKT_VALUE,
    WKT_ANY,
    WKT_WRAPPER,
};
Wkt wkt_of(const pb::Descriptor *d);
bool valid_base64(const char *s);
// A field by json name, else by proto name; NULL if neither.
const pb::FieldDescriptor *field_by_name(const pb::Descriptor *d,
                                         const char *key);

// Builds m (of descriptor d) from a JSON value already checked by
// check_message; returns 0 or -EINVAL with err naming the path.
int build_message(const gpb_pool_t *pool, const pb::Descriptor *d,
                  const json_t *value, pb::Message *m, std::string &path,
                  int depth, char *err, size_t errlen);

// The JSON-type walker of gpb_check_value, also used to coerce rendered
// templates before encoding (mutates value when coerce is set).
int check_message(const gpb_pool_t *pool, const pb::Descriptor *d,
                  json_t *value, std::string &path, unsigned flags, bool coerce,
                  int depth, char *err, size_t errlen);

} // namespace gpb

// Every entry point wraps its body in GPB_TRY ... GPB_CATCH so no C++
// exception (bad_alloc above all) leaves the C interface.
#define GPB_TRY try {
#define GPB_CATCH(err, errlen)                                                 \
    }                                                                          \
    catch (...)                                                                \
    {                                                                          \
        return gpb::from_exception(err, errlen);                               \
    }

#endif
