/*
 * Shared between soap_wsdl.c (files, linking, operations) and soap_xsd.c
 * (XSD lookups, reference checks and sample generation). Not part of the
 * plugin's interface: soap_wsdl.h is.
 */
#ifndef DOPPEL_SOAP_WSDL_INTERNAL_H
#define DOPPEL_SOAP_WSDL_INTERNAL_H

#include <stddef.h>

#include <jansson.h>
#include <libxml/tree.h>

#define SW_NS_WSDL "http://schemas.xmlsoap.org/wsdl/"
#define SW_NS_SOAP11 "http://schemas.xmlsoap.org/wsdl/soap/"
#define SW_NS_SOAP12 "http://schemas.xmlsoap.org/wsdl/soap12/"
#define SW_NS_XSD "http://www.w3.org/2001/XMLSchema"
#define SW_NS_SOAPENC "http://schemas.xmlsoap.org/soap/encoding/"

/* Every xsd:schema of a candidate file list (inline <types> schemas and
 * .xsd files), with the file each came from for error messages. The nodes
 * belong to the files' documents. */
typedef struct xsd_pool {
    xmlNodePtr *schemas;
    const char **files;
    size_t n, cap;
} xsd_pool_t;

int xsd_pool_add(xsd_pool_t *p, xmlNodePtr schema, const char *file);
void xsd_pool_clear(xsd_pool_t *p);

/* A global declaration of `kind` ("element", "complexType", "simpleType",
 * "attribute", "group", "attributeGroup") named {ns}local, or NULL. */
xmlNodePtr xsd_find(const xsd_pool_t *p, const char *kind, const char *ns,
                    const char *local);

/* Checks that every type=, base=, ref=, itemType= and memberTypes= of one
 * schema names something the pool (or the XSD built-ins) defines. 0, or
 * -EINVAL with err "file:line:1: message". */
int xsd_check_refs(const xsd_pool_t *p, xmlNodePtr schema, const char *file,
                   char *err, size_t err_len);

/* Sample answers: a JSON object for the SOAP Body holding the element
 * declared by `el` (a global xsd:element), with the "@xmlns:nsN" members
 * the keys need. */
json_t *xsd_sample_body_element(const xsd_pool_t *p, xmlNodePtr el);

/* The same for an rpc answer: wrapper element {ns}local whose children are
 * the parts of wsdl:message `msg` (unqualified names; element= parts hold
 * that element, type= parts a value of that type). */
json_t *xsd_sample_body_rpc(const xsd_pool_t *p, const char *ns,
                            const char *local, xmlNodePtr msg);

/* ---- small XML helpers (soap_xsd.c) ---- */

/* 1 if n is an element {ns}local (local NULL: any name in ns). */
int sw_is(xmlNodePtr n, const char *ns, const char *local);
/* The value of an unqualified attribute, pointing into the tree; NULL if
 * absent. */
const char *sw_attr(xmlNodePtr n, const char *name);
/* Resolves QName qn in the scope of node ctx: *ns (NULL for none) and
 * *local point into the tree / qn. -1 if the prefix is not declared. */
int sw_qname(xmlNodePtr ctx, const char *qn, const char **ns,
             const char **local);
/* The targetNamespace of the xsd:schema or wsdl:definitions above n
 * (NULL if none). */
const char *sw_tns(xmlNodePtr n);
/* "file:line:1: message" into err. Returns -EINVAL. */
int sw_err(char *err, size_t err_len, const char *file, xmlNodePtr n,
           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif /* DOPPEL_SOAP_WSDL_INTERNAL_H */
