/*
 * WSDL 1.1 + XSD sets (plugins/soap/soap_wsdl.c, soap_xsd.c): up to three
 * files split by 0xFF ("a.wsdl", "b.xsd", "c.xsd", so that imports by
 * those names link) are put and committed; whatever links is then asked
 * for everything the plugin asks: operations by action / body / path,
 * samples, mocks, the served WSDL and the description; then the files are
 * deleted. Checks, beyond "no crash, no UB, no leak": a failed put or
 * commit leaves an error of the form "name:line:col: ...", a served WSDL
 * parses again, and a sample is an {"Envelope": {"Body": ...}} object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "soap_wsdl.h"

static const char *const NAMES[] = {"a.wsdl", "b.xsd", "c.xsd"};

static void check_err(const char *name, const char *err)
{
    size_t l = strlen(name);
    if (strncmp(err, name, l) != 0 || err[l] != ':')
        abort();
}

static void exercise(soap_wsdl_set_t *s)
{
    json_t *d = soap_wsdl_describe(s);
    json_t *svcs = json_object_get(d, "services");
    size_t i, k;
    json_t *svc, *op;
    json_array_foreach(svcs, i, svc)
    {
        json_array_foreach(json_object_get(svc, "operations"), k, op)
        {
            const char *name = json_string_value(json_object_get(op, "name"));
            const char *path = json_string_value(json_object_get(op, "path"));
            const soap_op_info_t *o = soap_wsdl_lookup(
                s, json_string_value(json_object_get(svc, "name")), name);
            /* what describe lists is found again, by its action or its
             * Body's first element */
            if (o == NULL || !soap_wsdl_has_path(s, path) ||
                (o->input_local != NULL &&
                 soap_wsdl_find(s, o->path, o->action, o->input_ns,
                                o->input_local) == NULL))
                abort();
            json_t *sample = soap_wsdl_sample(s, o);
            if (sample == NULL ||
                !json_is_object(json_object_get(
                    json_object_get(sample, "Envelope"), "Body")))
                abort();
            char *text = json_dumps(sample, 0);
            free(text);
            json_decref(sample);
            size_t len = 0;
            char *w = soap_wsdl_serve(s, path, "http://127.0.0.1:1", &len);
            if (w) {
                xmlDocPtr doc = xmlReadMemory(w, (int)len, "served", NULL,
                                              XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                  XML_PARSE_NOWARNING);
                if (doc == NULL)
                    abort();
                xmlFreeDoc(doc);
                free(w);
            }
        }
    }
    json_decref(d);
    for (size_t n = 0; n < 3; n++)
        json_decref(soap_wsdl_mocks(s, NAMES[n]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    if (s == NULL)
        return 0;
    char err[512];
    const uint8_t *p = data, *end = data + size;
    for (size_t n = 0; n < 3 && p <= end; n++) {
        const uint8_t *q = memchr(p, 0xFF, (size_t)(end - p));
        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
        err[0] = '\0';
        if (soap_wsdl_put(s, NAMES[n], p, len, err, sizeof(err)) < 0)
            check_err(NAMES[n], err);
        if (q == NULL)
            break;
        p = q + 1;
    }
    err[0] = '\0';
    int rc = soap_wsdl_commit(s, 1, err, sizeof(err));
    if (rc < 0 && err[0] == '\0')
        abort();
    exercise(s);
    /* deletes in every order the imports allow */
    for (int round = 0; round < 3; round++)
        for (size_t n = 0; n < 3; n++)
            soap_wsdl_delete(s, NAMES[n], err, sizeof(err));
    soap_wsdl_set_free(s);
    return 0;
}
