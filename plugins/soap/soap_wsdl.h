/*
 * WSDL 1.1 documents of one namespace, with their XSD types (inline
 * <types> schemas and .xsd files of the same namespace they import by
 * schemaLocation), as the SOAP plugin needs them: which operation a request
 * names, what the WSDL served back at <path>?wsdl says, which mocks an
 * upload implies, and a sample answer generated from the output types.
 *
 * Not thread-safe: the plugin's shared state holds one set per namespace
 * behind its own lock. Strings returned point into the set and stay valid
 * until the next put, commit or delete on it.
 */
#ifndef DOPPEL_SOAP_WSDL_H
#define DOPPEL_SOAP_WSDL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct soap_wsdl_set soap_wsdl_set_t;

typedef struct soap_op_info {
    const char *service;     /* wsdl:service name ("AccountService") */
    const char *port;        /* wsdl:port name */
    const char *operation;   /* operation name ("GetAccount") */
    const char *action;      /* soapAction / soap12 soapAction, "" if none */
    const char *path;        /* path of the port's address location
                                ("/ws/account"), "/" if it has none */
    int soap_version;        /* 11 or 12, from the binding */
    int rpc;                 /* 1: style rpc, 0: document */
    const char *input_ns;    /* namespace and local name of the Body's */
    const char *input_local; /* first element in a request */
    const char *output_ns;   /* the same for the answer */
    const char *output_local;
    const char *file;        /* the WSDL file that defines it */
} soap_op_info_t;

soap_wsdl_set_t *soap_wsdl_set_new(void);
void soap_wsdl_set_free(soap_wsdl_set_t *s);

/* Stages one file (name as uploaded: "account.wsdl", or "types.xsd" that
 * a WSDL imports). The XML is parsed with no network, no DTD loading, no
 * entity substitution. Returns 0, or -EINVAL with err set to
 * "name:line:column: message" (NUL-terminated, truncated to err_len). */
int soap_wsdl_put(soap_wsdl_set_t *s, const char *name, const uint8_t *content,
                  size_t len, char *err, size_t err_len);

/* keep = 1: the staged files replace the files of the same name and
 * everything is linked again (messages, parts, elements, types, bindings,
 * ports); a file that does not link (an unresolved message or element, an
 * import of a file the set does not hold) fails the commit with -EINVAL and
 * err, and the set stays as it was. keep = 0: drops the staged files.
 * Returns 0 or -EINVAL. */
int soap_wsdl_commit(soap_wsdl_set_t *s, int keep, char *err, size_t err_len);

/* Removes a file: 0, -ENOENT if unknown, -EBUSY (err set) if another file
 * imports it. */
int soap_wsdl_delete(soap_wsdl_set_t *s, const char *name, char *err,
                     size_t err_len);

/* The operation a request names. path: the request path (exact match with
 * an operation's path; NULL: any path). action: the SOAPAction (1.1,
 * quotes removed) or the action parameter (1.2); when non-empty it is
 * tried first. Otherwise (or when no operation has that action) the Body's
 * first element (body_ns, body_local; NULL ns for none) picks the
 * operation. NULL if none. */
const soap_op_info_t *soap_wsdl_find(const soap_wsdl_set_t *s, const char *path,
                                     const char *action, const char *body_ns,
                                     const char *body_local);

/* The operation `method` of service `service` (NULL or "": any service);
 * NULL if the set has none. For checking mocks at write time. */
const soap_op_info_t *soap_wsdl_lookup(const soap_wsdl_set_t *s,
                                       const char *service, const char *method);

/* 1 if some port of the set is addressed at `path`. */
int soap_wsdl_has_path(const soap_wsdl_set_t *s, const char *path);

/* The WSDL whose port address path is `path`, with the location of every
 * soap:address / soap12:address rewritten to base_url + that port's path
 * (base_url: "http://127.0.0.1:5770", no trailing slash). malloc'd text and
 * its length in *len, or NULL (no such WSDL, or out of memory). */
char *soap_wsdl_serve(const soap_wsdl_set_t *s, const char *path,
                      const char *base_url, size_t *len);

/* A sample answer for op, generated from its output element's XSD type:
 * {"Envelope": {"Body": {"<prefix>:<OutputElement>": {...}, "@xmlns:<prefix>":
 * "<output_ns>"}}} in the JSON form of docs/soap.md (first enumeration
 * value, minOccurs respected, numbers and dates of the right lexical form,
 * repeated elements once, recursion bounded). New reference or NULL. */
json_t *soap_wsdl_sample(const soap_wsdl_set_t *s, const soap_op_info_t *op);

/* The mocks a file implies: a JSON array, one object per operation of the
 * file: {"id": "soap-<service>-<operation>" (lower case, [a-z0-9-]),
 * "soap": {"service", "method", "action", "path"}, "response": {"payload":
 * <soap_wsdl_sample>}}. New reference (an empty array if the file has no
 * operation) or NULL if the set has no such file. */
json_t *soap_wsdl_mocks(const soap_wsdl_set_t *s, const char *name);

/* What the set defines: {"services": [{"name", "file", "operations":
 * [{"name", "action", "path", "soapVersion", "style", "input", "output"}]}],
 * "files": [names]}. New reference. */
json_t *soap_wsdl_describe(const soap_wsdl_set_t *s);

#endif /* DOPPEL_SOAP_WSDL_H */
