/* Temporary: an empty WSDL set until the real one is merged. */
#include <errno.h>
#include <stdlib.h>

#include "soap_wsdl.h"

struct soap_wsdl_set {
    int unused;
};

soap_wsdl_set_t *soap_wsdl_set_new(void) { return calloc(1, sizeof(soap_wsdl_set_t)); }
void soap_wsdl_set_free(soap_wsdl_set_t *s) { free(s); }
int soap_wsdl_put(soap_wsdl_set_t *s, const char *name, const uint8_t *content,
                  size_t len, char *err, size_t err_len)
{
    (void)s, (void)name, (void)content, (void)len, (void)err, (void)err_len;
    return 0;
}
int soap_wsdl_commit(soap_wsdl_set_t *s, int keep, char *err, size_t err_len)
{
    (void)s, (void)keep, (void)err, (void)err_len;
    return 0;
}
int soap_wsdl_delete(soap_wsdl_set_t *s, const char *name, char *err,
                     size_t err_len)
{
    (void)s, (void)name, (void)err, (void)err_len;
    return -ENOENT;
}
const soap_op_info_t *soap_wsdl_find(const soap_wsdl_set_t *s, const char *path,
                                     const char *action, const char *body_ns,
                                     const char *body_local)
{
    (void)s, (void)path, (void)action, (void)body_ns, (void)body_local;
    return NULL;
}
const soap_op_info_t *soap_wsdl_lookup(const soap_wsdl_set_t *s,
                                       const char *service, const char *method)
{
    (void)s, (void)service, (void)method;
    return NULL;
}
int soap_wsdl_has_path(const soap_wsdl_set_t *s, const char *path)
{
    (void)s, (void)path;
    return 0;
}
char *soap_wsdl_serve(const soap_wsdl_set_t *s, const char *path,
                      const char *base_url, size_t *len)
{
    (void)s, (void)path, (void)base_url, (void)len;
    return NULL;
}
json_t *soap_wsdl_sample(const soap_wsdl_set_t *s, const soap_op_info_t *op)
{
    (void)s, (void)op;
    return NULL;
}
json_t *soap_wsdl_mocks(const soap_wsdl_set_t *s, const char *name)
{
    (void)s, (void)name;
    return json_array();
}
json_t *soap_wsdl_describe(const soap_wsdl_set_t *s)
{
    (void)s;
    return json_pack("{s:[], s:[]}", "services", "files");
}
