// Pools of .proto files: the built-ins, directories and uploads, imported
// with libprotobuf's compiler::Importer; service and method lookups.
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <mutex>
#include <new>

#include <google/protobuf/stubs/logging.h>

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/type_resolver_util.h>

#include "pb_internal.h"

#ifndef GPB_PROTO_SOURCE_DIR
#define GPB_PROTO_SOURCE_DIR "proto"
#endif
#ifndef GPB_PROTO_INSTALL_DIR
#define GPB_PROTO_INSTALL_DIR "/usr/share/doppel/proto"
#endif
#ifndef GPB_BUILD_DIR
#define GPB_BUILD_DIR ""
#endif
#ifndef GPB_WKT_DIR
#define GPB_WKT_DIR "/usr/include"
#endif

namespace gpb
{

void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

std::string short_path(const std::string &path)
{
    if (path.size() <= 160)
        return path;
    return path.substr(0, 60) + "..." + path.substr(path.size() - 80);
}

int from_exception(char *err, size_t errlen)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    } catch (const std::exception &e) {
        set_err(err, errlen, "protobuf: %s", e.what());
        return -EIO;
    } catch (...) {
        set_err(err, errlen, "protobuf: unexpected failure");
        return -EIO;
    }
}

void ErrorList::AddError(const std::string &file, int line, int column,
                         const std::string &message)
{
    if (errors.size() >= 20)
        return;
    char buf[64];
    if (line >= 0)
        snprintf(buf, sizeof(buf), ":%d:%d", line + 1, column + 1);
    else
        buf[0] = '\0';
    // a message of the source tree that carries its own LINE:COL
    if (line < 0 && !message.empty() && message[0] >= '0' &&
        message[0] <= '9') {
        errors.push_back(file + ":" + message);
        return;
    }
    errors.push_back(file + buf + ": " + message);
}

namespace
{

// A stream over text it owns (a file read whole, to be checked first).
class OwnedInput : public pb::io::ZeroCopyInputStream
{
  public:
    explicit OwnedInput(std::string text)
        : text_(std::move(text)), in_(text_.data(), (int)text_.size())
    {
    }
    bool Next(const void **data, int *size) override
    {
        return in_.Next(data, size);
    }
    void BackUp(int count) override
    {
        in_.BackUp(count);
    }
    bool Skip(int count) override
    {
        return in_.Skip(count);
    }
    int64_t ByteCount() const override
    {
        return in_.ByteCount();
    }

  private:
    std::string text_;
    pb::io::ArrayInputStream in_;
};

} // namespace

// libprotobuf 3.21's .proto parser recurses once per nested message with no
// limit of its own: 20000 nested messages overflow the stack. Brackets of
// every kind are counted here, outside comments and strings, before the
// parser sees the text; real files nest a few levels.
std::string SourceTree::too_deep(const std::string &t)
{
    int depth = 0, line = 1, col = 0;
    size_t n = t.size();
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        col++;
        if (c == '\n') {
            line++;
            col = 0;
        } else if (c == '/' && i + 1 < n && t[i + 1] == '/') {
            while (i + 1 < n && t[i + 1] != '\n')
                i++;
        } else if (c == '/' && i + 1 < n && t[i + 1] == '*') {
            for (i += 2; i + 1 < n && !(t[i] == '*' && t[i + 1] == '/'); i++)
                if (t[i] == '\n')
                    line++, col = 0;
            i++;
        } else if (c == '"' || c == '\'') {
            for (i++; i < n && t[i] != c && t[i] != '\n'; i++)
                if (t[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[' || c == '(' || c == '<') {
            if (++depth > kMaxNesting) {
                char buf[96];
                snprintf(buf, sizeof(buf),
                         "%d:%d: nested deeper than %d levels", line, col,
                         kMaxNesting);
                return buf;
            }
        } else if (c == '}' || c == ']' || c == ')' || c == '>') {
            if (depth > 0)
                depth--;
        }
    }
    return "";
}

pb::io::ZeroCopyInputStream *SourceTree::Open(const std::string &filename)
{
    pb::io::ZeroCopyInputStream *in = builtin_.Open(filename);
    if (in != NULL)
        return in;
    std::string text;
    auto it = mem.find(filename);
    if (it != mem.end()) {
        text = it->second;
    } else if (have_user_) {
        std::unique_ptr<pb::io::ZeroCopyInputStream> f(user_.Open(filename));
        if (f == nullptr) {
            last_error_ = user_.GetLastErrorMessage();
            return NULL;
        }
        const void *data;
        int size;
        while (f->Next(&data, &size)) {
            if (text.size() + (size_t)size > kMaxFile) {
                last_error_ =
                    "larger than " + std::to_string(kMaxFile >> 20) + " MiB";
                return NULL;
            }
            text.append((const char *)data, (size_t)size);
        }
    } else {
        last_error_ = "File not found.";
        return NULL;
    }
    std::string deep = too_deep(text);
    if (!deep.empty()) {
        // the importer prints "name.proto: " before this message
        last_error_ = deep;
        return NULL;
    }
    return new OwnedInput(std::move(text));
}

std::string SourceTree::GetLastErrorMessage()
{
    return last_error_;
}

void SourceTree::add_builtin_dir(const std::string &virt,
                                 const std::string &dir)
{
    builtin_.MapPath(virt, dir);
}

void SourceTree::add_user_dir(const std::string &dir)
{
    user_.MapPath("", dir);
    have_user_ = true;
}

bool SourceTree::builtin_has(const std::string &filename)
{
    std::unique_ptr<pb::io::ZeroCopyInputStream> in(builtin_.Open(filename));
    return in != nullptr;
}

const pb::Descriptor *find_message(const gpb_pool_t *pool, const char *type,
                                   char *err, size_t errlen)
{
    if (type == NULL || type[0] == '\0') {
        set_err(err, errlen, "no message type given");
        return NULL;
    }
    if (type[0] == '.')
        type++;
    const pb::Descriptor *d = pool->dpool()->FindMessageTypeByName(type);
    if (d == NULL)
        set_err(err, errlen, "unknown message type '%s'", type);
    return d;
}

std::string type_url(const pb::Descriptor *d)
{
    return "type.googleapis.com/" + d->full_name();
}

} // namespace gpb

using namespace gpb;

static const char *const builtin_names[] = {
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/descriptor.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
    "google/rpc/code.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
};

static bool file_exists(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The share/doppel/proto of the first ancestor of the file `so` (at most
// five levels up: libdir may be lib/x86_64-linux-gnu) that has one, or
// NULL. Computed once per process.
static const char *installed_beside(const char *so)
{
    static std::once_flag once;
    static std::string found;
    std::call_once(once, [so] {
        char real[4096];
        std::string dir = realpath(so, real) != NULL ? real : so;
        for (int up = 0; up < 6; up++) {
            size_t slash = dir.rfind('/');
            if (slash == std::string::npos || slash == 0)
                break;
            dir.erase(slash);
            std::string cand = dir + "/share/doppel/proto";
            if (file_exists(cand + "/grpc/health/v1/health.proto")) {
                found = cand;
                break;
            }
        }
    });
    return found.empty() ? NULL : found.c_str();
}

extern "C" const char *gpb_proto_dir(void)
{
    const char *env = getenv("DOPPEL_PROTO_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
    // The same object is built and installed: it is in the build tree when
    // the file it was loaded from lives below the build directory.
    Dl_info info;
    size_t blen = strlen(GPB_BUILD_DIR);
    if (blen > 0 && dladdr((void *)&gpb_proto_dir, &info) != 0 &&
        info.dli_fname != NULL) {
        char real[4096];
        const char *f = info.dli_fname;
        if (strncmp(f, GPB_BUILD_DIR, blen) == 0 && f[blen] == '/')
            return GPB_PROTO_SOURCE_DIR;
        if (realpath(f, real) != NULL &&
            strncmp(real, GPB_BUILD_DIR, blen) == 0 && real[blen] == '/')
            return GPB_PROTO_SOURCE_DIR;
        // Installed under another prefix than the one it was configured
        // with (cmake --install --prefix, a relocated package): the plugin
        // is <prefix>/<libdir>/doppel/plugins/doppel_grpc.so, and the
        // files are in <prefix>/share/doppel/proto.
        const char *rel = installed_beside(f);
        if (rel != NULL)
            return rel;
    }
    return GPB_PROTO_INSTALL_DIR;
}

// Recomputes the service list and the set of every loaded file name from
// the imported files and their transitive dependencies.
static void refresh(gpb_pool_t *pool, std::set<std::string> *all)
{
    std::vector<const pb::FileDescriptor *> stack;
    for (const std::string &n : pool->loaded) {
        const pb::FileDescriptor *f = pool->dpool()->FindFileByName(n);
        if (f != NULL)
            stack.push_back(f);
    }
    std::set<std::string> seen;
    std::vector<const pb::ServiceDescriptor *> svcs;
    while (!stack.empty()) {
        const pb::FileDescriptor *f = stack.back();
        stack.pop_back();
        if (!seen.insert(f->name()).second)
            continue;
        for (int i = 0; i < f->service_count(); i++)
            svcs.push_back(f->service(i));
        for (int i = 0; i < f->dependency_count(); i++)
            stack.push_back(f->dependency(i));
    }
    std::sort(
        svcs.begin(), svcs.end(),
        [](const pb::ServiceDescriptor *a, const pb::ServiceDescriptor *b) {
            return a->full_name() < b->full_name();
        });
    pool->services = svcs;
    if (all != NULL)
        *all = seen;
}

static std::string join_errors(const std::vector<std::string> &errs,
                               const std::string &fallback)
{
    if (errs.empty())
        return fallback;
    std::string s = errs[0];
    for (size_t i = 1; i < errs.size() && i < 3; i++)
        s += "; " + errs[i];
    if (errs.size() > 3)
        s += "; ...";
    return s;
}

// libprotobuf logs a line on stderr for some bad input (invalid UTF-8 in a
// request): every such case is also an error this library returns, so only
// fatal messages (which abort) are printed. The handler is process-wide.
static void quiet_log(pb::LogLevel level, const char *file, int line,
                      const std::string &message)
{
    if (level == pb::LOGLEVEL_FATAL)
        fprintf(stderr, "libprotobuf FATAL %s:%d: %s\n", file, line,
                message.c_str());
}

extern "C" int gpb_pool_new(gpb_pool_t **out, char *err, size_t errlen)
{
    *out = NULL;
    GPB_TRY
    static std::once_flag quiet_once;
    std::call_once(quiet_once, [] { pb::SetLogHandler(quiet_log); });
    std::string pdir = gpb_proto_dir();
    std::string wkt = GPB_WKT_DIR;
    if (!file_exists(pdir + "/grpc/health/v1/health.proto")) {
        set_err(err, errlen,
                "doppel's .proto files are not in '%s' (set DOPPEL_PROTO_DIR)",
                pdir.c_str());
        return -ENOENT;
    }
    if (!file_exists(wkt + "/google/protobuf/any.proto")) {
        set_err(err, errlen,
                "the protobuf well-known types are not in '%s/google/protobuf' "
                "(install libprotobuf-dev)",
                wkt.c_str());
        return -ENOENT;
    }
    std::unique_ptr<gpb_pool_t> pool(new gpb_pool_t());
    pool->tree.add_builtin_dir("", pdir);
    // Only google/protobuf/ of the system include directory is ours.
    pool->tree.add_builtin_dir("google/protobuf", wkt + "/google/protobuf");
    pool->importer.reset(
        new pb::compiler::Importer(&pool->tree, &pool->errors));
    for (const char *name : builtin_names) {
        pool->errors.errors.clear();
        if (pool->importer->Import(name) == NULL) {
            std::string e = join_errors(pool->errors.errors,
                                        std::string(name) + ": not loaded");
            set_err(err, errlen, "built-in %s", e.c_str());
            return -EINVAL;
        }
        pool->loaded.push_back(name);
        pool->builtin_files.insert(name);
    }
    pool->resolver.reset(pb::util::NewTypeResolverForDescriptorPool(
        "type.googleapis.com", pool->dpool()));
    refresh(pool.get(), NULL);
    *out = pool.release();
    return 0;
    GPB_CATCH(err, errlen)
}

extern "C" gpb_pool_t *gpb_pool_ref(gpb_pool_t *pool)
{
    if (pool != NULL)
        pool->refs.fetch_add(1, std::memory_order_relaxed);
    return pool;
}

extern "C" void gpb_pool_unref(gpb_pool_t *pool)
{
    if (pool == NULL)
        return;
    if (pool->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // The resolver and the factory refer to the importer's pool.
        pool->resolver.reset();
        delete pool;
    }
}

extern "C" void gpb_pool_free(gpb_pool_t *pool)
{
    gpb_pool_unref(pool);
}

// Copies every loaded file, dependencies first, into a pool of its own.
static std::unique_ptr<pb::DescriptorPool> copy_pool(const gpb_pool_t *pool)
{
    std::unique_ptr<pb::DescriptorPool> out(new pb::DescriptorPool());
    std::set<const pb::FileDescriptor *> done;
    // iterative post-order: a file is built after all its dependencies
    std::vector<std::pair<const pb::FileDescriptor *, int>> stack;
    for (const std::string &n : pool->loaded) {
        const pb::FileDescriptor *f = pool->importer->pool()->FindFileByName(n);
        if (f != NULL)
            stack.emplace_back(f, 0);
        while (!stack.empty()) {
            auto &top = stack.back();
            if (done.count(top.first)) {
                stack.pop_back();
                continue;
            }
            if (top.second < top.first->dependency_count()) {
                const pb::FileDescriptor *dep =
                    top.first->dependency(top.second++);
                if (!done.count(dep))
                    stack.emplace_back(dep, 0);
                continue;
            }
            pb::FileDescriptorProto fdp;
            top.first->CopyTo(&fdp);
            top.first->CopyJsonNameTo(&fdp);
            if (out->BuildFile(fdp) == NULL)
                return nullptr;
            done.insert(top.first);
            stack.pop_back();
        }
    }
    return out;
}

extern "C" void gpb_pool_freeze(gpb_pool_t *pool)
{
    if (pool->frozen)
        return;
    // Out of memory half-way keeps serving from the importer's pool: every
    // descriptor handed out so far stays valid either way.
    try {
        std::unique_ptr<pb::DescriptorPool> copy = copy_pool(pool);
        if (copy) {
            std::unique_ptr<pb::util::TypeResolver> r(
                pb::util::NewTypeResolverForDescriptorPool(
                    "type.googleapis.com", copy.get()));
            pool->frozen_pool = std::move(copy);
            pool->resolver = std::move(r);
            refresh(pool, NULL);
        }
    } catch (...) {
    }
    // Publishing the pointer to other threads (an atomic swap, a mutex, a
    // thread start) is what makes the pool's state visible to them.
    pool->frozen = true;
}

extern "C" int gpb_pool_set_max_json(gpb_pool_t *pool, size_t max_json)
{
    if (pool->frozen)
        return -EPERM;
    pool->max_json = max_json;
    return 0;
}

// The imports of one file, read with libprotobuf's parser alone (no
// import is followed); *found is false if the file cannot be opened.
static std::vector<std::string> imports_of(gpb::SourceTree &tree,
                                           const std::string &name, bool *found)
{
    struct Quiet : public pb::io::ErrorCollector {
        void AddError(int, int, const std::string &) override {}
    } quiet;
    std::vector<std::string> deps;
    std::unique_ptr<pb::io::ZeroCopyInputStream> in(tree.Open(name));
    *found = in != nullptr;
    if (in == nullptr)
        return deps;
    pb::io::Tokenizer tok(in.get(), &quiet);
    pb::compiler::Parser parser;
    parser.RecordErrorsTo(&quiet);
    pb::FileDescriptorProto fdp;
    parser.Parse(&tok, &fdp); // errors are reported by the real import
    for (const std::string &d : fdp.dependency())
        deps.push_back(d);
    return deps;
}

// The order to import roots in: every file after the files it imports, so
// that each Import builds one file. libprotobuf builds a missing dependency
// by recursing into it: a chain of 20000 files importing each other
// overflowed the stack. A chain deeper than kMaxImportDepth is refused.
// known: files already in the pool (and built-ins), not walked again.
static const size_t kMaxImportDepth = 100;
static int import_order(gpb::SourceTree &tree,
                        const std::vector<std::string> &roots,
                        const std::set<std::string> &known,
                        std::vector<std::string> *order, std::string *error)
{
    std::map<std::string, int> state; // 1 on the stack, 2 done
    struct Frame {
        std::string name;
        std::vector<std::string> deps;
        size_t next;
    };
    for (const std::string &root : roots) {
        if (known.count(root) || state[root] == 2)
            continue;
        std::vector<Frame> stack;
        bool found;
        stack.push_back(Frame{root, imports_of(tree, root, &found), 0});
        state[root] = 1;
        while (!stack.empty()) {
            Frame &top = stack.back();
            if (top.next < top.deps.size()) {
                std::string dep = top.deps[top.next++];
                if (known.count(dep) || tree.builtin_has(dep) ||
                    state[dep] != 0)
                    continue; // loaded, done, or a cycle the importer names
                if (stack.size() >= kMaxImportDepth) {
                    *error = top.name + ": imports nested deeper than " +
                             std::to_string(kMaxImportDepth) + " files";
                    return -EINVAL;
                }
                std::vector<std::string> deps = imports_of(tree, dep, &found);
                if (!found) { // the importer names it at its importer
                    state[dep] = 2;
                    continue;
                }
                state[dep] = 1;
                stack.push_back(Frame{dep, deps, 0});
                continue;
            }
            state[top.name] = 2;
            order->push_back(top.name);
            stack.pop_back();
        }
    }
    return 0;
}

// Collects the *.proto files below root/rel. A directory reached twice
// (a symlink loop, or a link to a sibling) is read once, so the walk stays
// linear in the size of the tree.
static int scan_dir(const std::string &root, const std::string &rel, int depth,
                    std::vector<std::string> &found,
                    std::set<std::pair<dev_t, ino_t>> &seen)
{
    if (depth > 16)
        return 0;
    std::string dir = rel.empty() ? root : root + "/" + rel;
    struct stat self;
    if (stat(dir.c_str(), &self) == 0 &&
        !seen.insert({self.st_dev, self.st_ino}).second)
        return 0;
    DIR *d = opendir(dir.c_str());
    if (d == NULL)
        return -errno;
    std::vector<std::string> names;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names.push_back(e->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names) {
        if (found.size() >= 10000)
            return -E2BIG;
        std::string r = rel.empty() ? n : rel + "/" + n;
        struct stat st;
        if (stat((root + "/" + r).c_str(), &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int rc = scan_dir(root, r, depth + 1, found, seen);
            if (rc == -E2BIG)
                return rc;
        } else if (S_ISREG(st.st_mode) && n.size() > 6 &&
                   n.compare(n.size() - 6, 6, ".proto") == 0) {
            found.push_back(r);
        }
    }
    return 0;
}

extern "C" int gpb_pool_add_path(gpb_pool_t *pool, const char *dirs, char *err,
                                 size_t errlen)
{
    GPB_TRY
    if (pool->frozen) {
        set_err(err, errlen, "the pool is frozen");
        return -EPERM;
    }
    std::vector<std::string> list;
    for (const char *p = dirs ? dirs : ""; *p != '\0';) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n > 0)
            list.emplace_back(p, n);
        p += n;
        if (*p == ':')
            p++;
    }
    for (const std::string &d : list) {
        struct stat st;
        if (stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            set_err(err, errlen, "proto_path: '%s': %s", d.c_str(),
                    stat(d.c_str(), &st) != 0 ? strerror(errno)
                                              : "not a directory");
            return -ENOENT;
        }
    }
    std::vector<std::string> files;
    for (const std::string &d : list) {
        pool->tree.add_user_dir(d);
        std::vector<std::string> found;
        std::set<std::pair<dev_t, ino_t>> seen;
        int rc = scan_dir(d, "", 0, found, seen);
        if (rc == -E2BIG) {
            set_err(err, errlen, "proto_path: '%s': more than 10000 files",
                    d.c_str());
            return rc;
        }
        if (rc != 0) {
            set_err(err, errlen, "proto_path: '%s': %s", d.c_str(),
                    strerror(-rc));
            return rc;
        }
        for (const std::string &f : found)
            if (std::find(files.begin(), files.end(), f) == files.end())
                files.push_back(f);
    }
    std::vector<std::string> roots;
    for (const std::string &f : files) {
        if (pool->builtin_files.count(f) || pool->tree.builtin_has(f))
            continue; // a vendored copy of a built-in: ours is used
        if (std::find(pool->loaded.begin(), pool->loaded.end(), f) !=
            pool->loaded.end())
            continue; // the same directory given twice
        roots.push_back(f);
    }
    std::set<std::string> known;
    refresh(pool, &known);
    std::vector<std::string> order;
    std::string why;
    if (import_order(pool->tree, roots, known, &order, &why) != 0) {
        set_err(err, errlen, "%s", why.c_str());
        return -EINVAL;
    }
    size_t failed = 0;
    std::string first;
    for (const std::string &f : order) {
        pool->errors.errors.clear();
        if (pool->importer->Import(f) == NULL) {
            if (failed++ == 0)
                first = join_errors(pool->errors.errors, f + ": not loaded");
            continue;
        }
        pool->loaded.push_back(f);
    }
    refresh(pool, NULL);
    if (failed > 0) {
        if (failed == 1)
            set_err(err, errlen, "%s", first.c_str());
        else
            set_err(err, errlen, "%s (and %zu more files failed)",
                    first.c_str(), failed - 1);
        return -EINVAL;
    }
    return 0;
    GPB_CATCH(err, errlen)
}

static bool valid_upload_name(const std::string &n)
{
    if (n.empty() || n.size() > 512 || n[0] == '/' || n.size() < 7 ||
        n.compare(n.size() - 6, 6, ".proto") != 0)
        return false;
    size_t start = 0;
    while (start <= n.size()) {
        size_t end = n.find('/', start);
        if (end == std::string::npos)
            end = n.size();
        std::string seg = n.substr(start, end - start);
        if (seg.empty() || seg == "." || seg == "..")
            return false;
        start = end + 1;
    }
    for (char c : n)
        if (c == '\\' || (unsigned char)c < 0x20)
            return false;
    return true;
}

extern "C" int gpb_pool_add_sources(gpb_pool_t *pool, const gpb_source_t *files,
                                    size_t n, char *err, size_t errlen)
{
    GPB_TRY
    if (pool->frozen) {
        set_err(err, errlen, "the pool is frozen");
        return -EPERM;
    }
    std::set<std::string> all;
    refresh(pool, &all);
    std::vector<std::string> names;
    std::map<std::string, std::string> staged;
    for (size_t i = 0; i < n; i++) {
        std::string name = files[i].name ? files[i].name : "";
        if (!valid_upload_name(name)) {
            set_err(err, errlen,
                    "'%s': a file name must be relative, end in .proto and "
                    "hold no '.', '..' or empty segment",
                    name.c_str());
            return -EINVAL;
        }
        if (pool->builtin_files.count(name) || pool->tree.builtin_has(name))
            continue; // the built-in wins
        if (all.count(name) || pool->tree.mem.count(name)) {
            set_err(err, errlen, "%s: already loaded", name.c_str());
            return -EEXIST;
        }
        if (staged.count(name)) {
            set_err(err, errlen, "%s: given twice", name.c_str());
            return -EINVAL;
        }
        staged[name].assign(files[i].content ? files[i].content : "",
                            files[i].len);
        names.push_back(name);
    }
    if (names.empty())
        return 0;
    for (auto &kv : staged)
        pool->tree.mem[kv.first] = kv.second;
    // A trial in a scratch importer over the same tree (what is loaded plus
    // the new set): the real pool keeps nothing of a set that fails, since a
    // DescriptorPool cannot forget a file.
    ErrorList trial_errors;
    int rc = 0;
    std::vector<std::string> order, trial_order;
    std::string why;
    std::set<std::string> none;
    if (import_order(pool->tree, names, all, &order, &why) != 0 ||
        import_order(pool->tree, pool->loaded, none, &trial_order, &why) != 0) {
        set_err(err, errlen, "%s", why.c_str());
        rc = -EINVAL;
    }
    if (rc == 0) {
        pb::compiler::Importer trial(&pool->tree, &trial_errors);
        for (const std::string &f : trial_order)
            trial.Import(f);
        for (const std::string &f : order) {
            trial_errors.errors.clear();
            if (trial.Import(f) == NULL) {
                set_err(err, errlen, "%s",
                        join_errors(trial_errors.errors, f + ": not loaded")
                            .c_str());
                rc = -EINVAL;
                break;
            }
        }
    }
    if (rc == 0) {
        for (const std::string &f : order) {
            pool->errors.errors.clear();
            if (pool->importer->Import(f) == NULL) {
                set_err(err, errlen, "%s",
                        join_errors(pool->errors.errors, f + ": not loaded")
                            .c_str());
                rc = -EINVAL; // cannot happen after a good trial
                break;
            }
            pool->loaded.push_back(f);
        }
    }
    if (rc != 0) {
        for (const std::string &f : names)
            if (std::find(pool->loaded.begin(), pool->loaded.end(), f) ==
                pool->loaded.end())
                pool->tree.mem.erase(f);
    }
    refresh(pool, NULL);
    return rc;
    GPB_CATCH(err, errlen)
}

extern "C" size_t gpb_service_count(const gpb_pool_t *pool)
{
    return pool->services.size();
}

extern "C" const char *gpb_service_name(const gpb_pool_t *pool, size_t i)
{
    if (i >= pool->services.size())
        return NULL;
    return pool->services[i]->full_name().c_str();
}

extern "C" int gpb_service_is_builtin(const gpb_pool_t *pool, size_t i)
{
    if (i >= pool->services.size())
        return 0;
    return pool->builtin_files.count(pool->services[i]->file()->name()) ? 1 : 0;
}

static const pb::ServiceDescriptor *find_service(const gpb_pool_t *pool,
                                                 const char *service)
{
    if (service == NULL)
        return NULL;
    if (service[0] == '.')
        service++;
    return pool->dpool()->FindServiceByName(service);
}

static void fill_info(const pb::MethodDescriptor *m, gpb_method_info_t *info)
{
    info->service = m->service()->full_name().c_str();
    info->method = m->name().c_str();
    info->input_type = m->input_type()->full_name().c_str();
    info->output_type = m->output_type()->full_name().c_str();
    info->file = m->service()->file()->name().c_str();
    info->client_streaming = m->client_streaming() ? 1 : 0;
    info->server_streaming = m->server_streaming() ? 1 : 0;
}

extern "C" int gpb_method_count(const gpb_pool_t *pool, const char *service)
{
    try {
        const pb::ServiceDescriptor *s = find_service(pool, service);
        return s ? s->method_count() : -ENOENT;
    } catch (...) {
        return -ENOMEM;
    }
}

extern "C" int gpb_method_at(const gpb_pool_t *pool, const char *service,
                             size_t i, gpb_method_info_t *info)
{
    try {
        const pb::ServiceDescriptor *s = find_service(pool, service);
        if (s == NULL)
            return -ENOENT;
        if (i >= (size_t)s->method_count())
            return -ERANGE;
        fill_info(s->method((int)i), info);
        return 0;
    } catch (...) {
        return -ENOMEM;
    }
}

extern "C" int gpb_method_find(const gpb_pool_t *pool, const char *service,
                               const char *method, gpb_method_info_t *info,
                               char *err, size_t errlen)
{
    GPB_TRY
    const pb::ServiceDescriptor *s = find_service(pool, service);
    if (s == NULL) {
        set_err(err, errlen, "unknown service '%s'", service ? service : "");
        return -ENOENT;
    }
    const pb::MethodDescriptor *m = method ? s->FindMethodByName(method) : NULL;
    if (m == NULL) {
        set_err(err, errlen, "service '%s' has no method '%s'",
                s->full_name().c_str(), method ? method : "");
        return -ENOENT;
    }
    fill_info(m, info);
    return 0;
    GPB_CATCH(err, errlen)
}

extern "C" const char *gpb_method_kind(const gpb_method_info_t *info)
{
    if (info->client_streaming)
        return info->server_streaming ? "bidirectional" : "client-stream";
    return info->server_streaming ? "server-stream" : "unary";
}

extern "C" int gpb_message_exists(const gpb_pool_t *pool, const char *type)
{
    try {
        return find_message(pool, type, NULL, 0) != NULL ? 1 : 0;
    } catch (...) {
        return 0;
    }
}
