// What gRPC server reflection returns: serialised FileDescriptorProtos of a
// file and its transitive dependencies.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <stdexcept>

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

// ---- one ServerReflectionInfo exchange ------------------------------------

namespace
{

const pb::FieldDescriptor *fld(const pb::Descriptor *d, const char *name)
{
    const pb::FieldDescriptor *f = d->FindFieldByName(name);
    if (f == NULL)
        throw std::runtime_error(d->full_name() + " has no field " + name);
    return f;
}

bool list_service(const gpb_pool_t *pool, size_t i, unsigned flags)
{
    const char *name = gpb_service_name(pool, i);
    if (!gpb_service_is_builtin(pool, i))
        return (flags & GPB_REFLECT_LIST_USER) != 0;
    if (strncmp(name, "grpc.health.", 12) == 0)
        return (flags & GPB_REFLECT_LIST_HEALTH) != 0;
    if (strncmp(name, "grpc.reflection.", 16) == 0)
        return (flags & GPB_REFLECT_LIST_REFLECTION) != 0;
    return false;
}

} // namespace

extern "C" int gpb_reflect_answer(const gpb_pool_t *pool, const uint8_t *req,
                                  size_t len, unsigned flags, uint8_t **resp,
                                  size_t *resp_len, char *err, size_t errlen)
{
    *resp = NULL;
    *resp_len = 0;
    GPB_TRY
    const pb::Descriptor *qd = find_message(
        pool, "grpc.reflection.v1.ServerReflectionRequest", err, errlen);
    const pb::Descriptor *rd = find_message(
        pool, "grpc.reflection.v1.ServerReflectionResponse", err, errlen);
    if (qd == NULL || rd == NULL)
        return -ENOENT;
    pb::DynamicMessageFactory &factory =
        const_cast<gpb_pool_t *>(pool)->factory;
    std::unique_ptr<pb::Message> q(factory.GetPrototype(qd)->New());
    if (len > (size_t)INT32_MAX || !q->ParsePartialFromArray(req, (int)len)) {
        set_err(err, errlen,
                "bad request message: not a valid "
                "ServerReflectionRequest");
        return -EBADMSG;
    }
    std::unique_ptr<pb::Message> r(factory.GetPrototype(rd)->New());
    const pb::Reflection *qr = q->GetReflection();
    const pb::Reflection *rr = r->GetReflection();
    rr->SetString(r.get(), fld(rd, "valid_host"),
                  qr->GetString(*q, fld(qd, "host")));
    rr->MutableMessage(r.get(), fld(rd, "original_request"), &factory)
        ->CopyFrom(*q);

    gpb_blobs_t blobs;
    memset(&blobs, 0, sizeof(blobs));
    char why[GPB_ERR_MAX] = "";
    int rc = 1; // 1: no files to send
    const pb::FieldDescriptor *which = NULL;
    const pb::OneofDescriptor *oneof = qd->FindOneofByName("message_request");
    if (oneof != NULL)
        which = qr->GetOneofFieldDescriptor(*q, oneof);
    std::string wname = which ? which->name() : "";
    if (wname == "file_by_filename") {
        rc = gpb_reflect_file_by_name(pool, qr->GetString(*q, which).c_str(),
                                      &blobs, why, sizeof(why));
    } else if (wname == "file_containing_symbol") {
        rc = gpb_reflect_file_containing_symbol(
            pool, qr->GetString(*q, which).c_str(), &blobs, why, sizeof(why));
    } else if (wname == "file_containing_extension") {
        const pb::Message &x = qr->GetMessage(*q, which);
        const pb::Descriptor *xd = x.GetDescriptor();
        rc = gpb_reflect_file_containing_extension(
            pool,
            x.GetReflection()->GetString(x, fld(xd, "containing_type")).c_str(),
            x.GetReflection()->GetInt32(x, fld(xd, "extension_number")), &blobs,
            why, sizeof(why));
    } else if (wname == "all_extension_numbers_of_type") {
        std::string type = qr->GetString(*q, which);
        int *nums = NULL;
        size_t n = 0;
        rc = gpb_reflect_extension_numbers(pool, type.c_str(), &nums, &n, why,
                                           sizeof(why));
        if (rc == 0) {
            const pb::FieldDescriptor *ef =
                fld(rd, "all_extension_numbers_response");
            pb::Message *e = rr->MutableMessage(r.get(), ef, &factory);
            const pb::Descriptor *ed = ef->message_type();
            e->GetReflection()->SetString(e, fld(ed, "base_type_name"), type);
            for (size_t i = 0; i < n; i++)
                e->GetReflection()->AddInt32(e, fld(ed, "extension_number"),
                                             nums[i]);
            free(nums);
            rc = 1;
        }
    } else if (wname == "list_services") {
        const pb::FieldDescriptor *lf = fld(rd, "list_services_response");
        pb::Message *l = rr->MutableMessage(r.get(), lf, &factory);
        const pb::FieldDescriptor *sf = fld(lf->message_type(), "service");
        for (size_t i = 0; i < gpb_service_count(pool); i++) {
            if (!list_service(pool, i, flags))
                continue;
            pb::Message *s = l->GetReflection()->AddMessage(l, sf, &factory);
            s->GetReflection()->SetString(s, fld(sf->message_type(), "name"),
                                          gpb_service_name(pool, i));
        }
    } else {
        rc = -EINVAL;
        snprintf(why, sizeof(why), "no message_request given");
    }
    if (rc == 0) {
        const pb::FieldDescriptor *ff = fld(rd, "file_descriptor_response");
        pb::Message *f = rr->MutableMessage(r.get(), ff, &factory);
        const pb::FieldDescriptor *bf =
            fld(ff->message_type(), "file_descriptor_proto");
        for (size_t i = 0; i < blobs.n; i++)
            f->GetReflection()->AddString(
                f, bf, std::string((const char *)blobs.data[i], blobs.len[i]));
        gpb_blobs_free(&blobs);
    } else if (rc < 0) {
        // what the client asked for is not there: answered in the stream
        const pb::FieldDescriptor *ef = fld(rd, "error_response");
        pb::Message *e = rr->MutableMessage(r.get(), ef, &factory);
        const pb::Descriptor *ed = ef->message_type();
        e->GetReflection()->SetInt32(e, fld(ed, "error_code"),
                                     rc == -EINVAL ? 3 : 5);
        e->GetReflection()->SetString(e, fld(ed, "error_message"), why);
    }
    std::string bin;
    r->SerializePartialToString(&bin);
    *resp = (uint8_t *)malloc(bin.size() ? bin.size() : 1);
    if (*resp == NULL) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (!bin.empty())
        memcpy(*resp, bin.data(), bin.size());
    *resp_len = bin.size();
    return 0;
    GPB_CATCH(err, errlen)
}
