// What gRPC server reflection returns: serialised FileDescriptorProtos of a
// file and its transitive dependencies.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include <google/protobuf/descriptor.pb.h>

#include "pb_internal.h"

using namespace gpb;

extern "C" void gpb_blobs_free(gpb_blobs_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->names ? b->names[i] : NULL);
        free(b->data ? b->data[i] : NULL);
    }
    free(b->names);
    free(b->data);
    free(b->len);
    memset(b, 0, sizeof(*b));
}

// The file first, then every dependency once (depth-first).
static int collect(const pb::FileDescriptor *f, gpb_blobs_t *out, char *err,
                   size_t errlen)
{
    std::vector<const pb::FileDescriptor *> order;
    std::set<const pb::FileDescriptor *> seen;
    std::vector<const pb::FileDescriptor *> stack{f};
    while (!stack.empty()) {
        const pb::FileDescriptor *x = stack.back();
        stack.pop_back();
        if (!seen.insert(x).second)
            continue;
        order.push_back(x);
        for (int i = x->dependency_count() - 1; i >= 0; i--)
            stack.push_back(x->dependency(i));
    }
    memset(out, 0, sizeof(*out));
    size_t n = order.size();
    out->names = (char **)calloc(n, sizeof(char *));
    out->data = (uint8_t **)calloc(n, sizeof(uint8_t *));
    out->len = (size_t *)calloc(n, sizeof(size_t));
    if (out->names == NULL || out->data == NULL || out->len == NULL) {
        gpb_blobs_free(out);
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        pb::FileDescriptorProto fdp;
        order[i]->CopyTo(&fdp);
        // CopyTo leaves json_name out; clients use it for the JSON mapping.
        order[i]->CopyJsonNameTo(&fdp);
        std::string bin;
        fdp.SerializeToString(&bin);
        out->n = i + 1;
        out->names[i] = strdup(order[i]->name().c_str());
        out->data[i] = (uint8_t *)malloc(bin.size() ? bin.size() : 1);
        if (out->names[i] == NULL || out->data[i] == NULL) {
            gpb_blobs_free(out);
            set_err(err, errlen, "out of memory");
            return -ENOMEM;
        }
        if (!bin.empty())
            memcpy(out->data[i], bin.data(), bin.size());
        out->len[i] = bin.size();
    }
    return 0;
}

// A file is served only if the pool loaded it: FindFileByName would
// otherwise read a new file from disk through the importer.
static const pb::FileDescriptor *loaded_file(const gpb_pool_t *pool,
                                             const char *name)
{
    std::vector<const pb::FileDescriptor *> stack;
    for (const std::string &n : pool->loaded) {
        if (n == name)
            return pool->dpool()->FindFileByName(n);
    }
    // Dependencies pulled in by an import are loaded too.
    std::set<const pb::FileDescriptor *> seen;
    for (const std::string &n : pool->loaded) {
        const pb::FileDescriptor *f = pool->dpool()->FindFileByName(n);
        if (f != NULL)
            stack.push_back(f);
    }
    while (!stack.empty()) {
        const pb::FileDescriptor *f = stack.back();
        stack.pop_back();
        if (!seen.insert(f).second)
            continue;
        if (f->name() == name)
            return f;
        for (int i = 0; i < f->dependency_count(); i++)
            stack.push_back(f->dependency(i));
    }
    return NULL;
}

extern "C" int gpb_reflect_file_by_name(const gpb_pool_t *pool,
                                        const char *name, gpb_blobs_t *out,
                                        char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    GPB_TRY
    const pb::FileDescriptor *f = name ? loaded_file(pool, name) : NULL;
    if (f == NULL) {
        set_err(err, errlen, "file '%s' not found", name ? name : "");
        return -ENOENT;
    }
    return collect(f, out, err, errlen);
    GPB_CATCH(err, errlen)
}

extern "C" int gpb_reflect_file_containing_symbol(const gpb_pool_t *pool,
                                                  const char *symbol,
                                                  gpb_blobs_t *out, char *err,
                                                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    GPB_TRY
    const char *s = symbol ? symbol : "";
    if (s[0] == '.')
        s++;
    const pb::FileDescriptor *f = pool->dpool()->FindFileContainingSymbol(s);
    if (f == NULL) {
        set_err(err, errlen, "symbol '%s' not found", s);
        return -ENOENT;
    }
    return collect(f, out, err, errlen);
    GPB_CATCH(err, errlen)
}

extern "C" int gpb_reflect_file_containing_extension(const gpb_pool_t *pool,
                                                     const char *type,
                                                     int number,
                                                     gpb_blobs_t *out,
                                                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    const pb::FieldDescriptor *x =
        pool->dpool()->FindExtensionByNumber(d, number);
    if (x == NULL) {
        set_err(err, errlen, "message %s has no extension %d",
                d->full_name().c_str(), number);
        return -ENOENT;
    }
    return collect(x->file(), out, err, errlen);
    GPB_CATCH(err, errlen)
}

extern "C" int gpb_reflect_extension_numbers(const gpb_pool_t *pool,
                                             const char *type, int **numbers,
                                             size_t *n, char *err,
                                             size_t errlen)
{
    *numbers = NULL;
    *n = 0;
    GPB_TRY
    const pb::Descriptor *d = find_message(pool, type, err, errlen);
    if (d == NULL)
        return -ENOENT;
    std::vector<const pb::FieldDescriptor *> exts;
    pool->dpool()->FindAllExtensions(d, &exts);
    if (exts.empty())
        return 0;
    std::vector<int> nums;
    for (const pb::FieldDescriptor *x : exts)
        nums.push_back(x->number());
    std::sort(nums.begin(), nums.end());
    *numbers = (int *)malloc(nums.size() * sizeof(int));
    if (*numbers == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    memcpy(*numbers, nums.data(), nums.size() * sizeof(int));
    *n = nums.size();
    return 0;
    GPB_CATCH(err, errlen)
}
