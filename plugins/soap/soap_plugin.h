/*
 * The SOAP plugin's internals shared by its instances (soap_plugin.c: the
 * HTTP mount, requests and answers) and its mock section (soap_section.c:
 * check, schema files, describe).
 *
 * Shared state (svc->shared, one per plugin section): one entry per
 * namespace that has WSDL files, soap mocks or XPath conditions. Every
 * member is read and written under soap_shared_t.mu. Entries, their path
 * lists and their XPath registrations are only ever added and stay until
 * the state is destroyed, so a pointer to one taken under the lock stays
 * valid (and, once published, unchanged) after it is released.
 */
#ifndef DOPPEL_SOAP_PLUGIN_H
#define DOPPEL_SOAP_PLUGIN_H

#include <pthread.h>

#include <jansson.h>

#include "doppel/plugin.h"
#include "soap_wsdl.h"

/* One XPath condition's expression, registered by check under the
 * operation (method) of its mock; evaluated only for requests of that
 * operation (op "" : mocks of any operation). */
typedef struct soap_xpath_reg {
    struct soap_xpath_reg *next;
    char *op;
    char *key;     /* the member of $.__xpath the condition reads */
    char *expr;    /* as written */
    json_t *nsmap; /* the mock's soap.namespaces, never changed */
} soap_xpath_reg_t;

typedef struct soap_path_reg {
    struct soap_path_reg *next;
    char *path;
} soap_path_reg_t;

typedef struct soap_nsd {
    struct soap_nsd *next;
    char *name;
    soap_wsdl_set_t *wsdl; /* NULL until a file is put */
    size_t n_ops;          /* operations the committed WSDLs define */
    soap_path_reg_t *paths; /* paths soap mocks name */
    int any_path;           /* a soap mock without a path exists */
    soap_xpath_reg_t *xpaths;
} soap_nsd_t;

typedef struct soap_shared {
    pthread_mutex_t mu;
    soap_nsd_t *nss;
} soap_shared_t;

soap_shared_t *soap_shared(doppel_ctx_t *ctx, const doppel_services_t *svc);
/* The entry of ns ("" : sandbox), created when create is set; NULL if none
 * (or out of memory). Caller holds sh->mu. */
soap_nsd_t *soap_nsd(soap_shared_t *sh, const char *ns, size_t len,
                     int create);

extern const doppel_protocol_def_t soap_protocol_def;

#endif /* DOPPEL_SOAP_PLUGIN_H */
