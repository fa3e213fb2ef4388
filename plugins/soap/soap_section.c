/*
 * The "soap" mock section: check (validation, index key, XPath
 * conditions), the WSDL schema files of each namespace, describe,
 * schema_mocks and explain_miss. Every callback runs on any thread; what
 * they share is behind soap_shared_t.mu (soap_plugin.h).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlmemory.h>

#include "soap_plugin.h"
#include "soap_xml.h"
#include "plugin_json.h"

/* ---- shared state ------------------------------------------------------- */

typedef struct shared_arg {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
} shared_arg_t;

#define WSDL_FILE_MAX (16u << 20)

/* Loads one wsdl_path file into set (staged); logs why it cannot. */
static void load_file(const shared_arg_t *a, soap_wsdl_set_t *set,
                      const char *file)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        a->svc->log(a->ctx, DOPPEL_LOG_ERROR, "wsdl_path: cannot open %s: %s",
                    file, strerror(errno));
        return;
    }
    char *buf = malloc(WSDL_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, WSDL_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > WSDL_FILE_MAX) {
        a->svc->log(a->ctx, DOPPEL_LOG_ERROR, "wsdl_path: %s: %s", file,
                    buf ? "larger than 16 MiB" : "out of memory");
        free(buf);
        return;
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char err[512] = "";
    if (soap_wsdl_put(set, base, (const uint8_t *)buf, n, err, sizeof(err)) < 0)
        a->svc->log(a->ctx, DOPPEL_LOG_ERROR, "wsdl_path: %s", err);
    free(buf);
}

static size_t count_ops(const soap_wsdl_set_t *set)
{
    json_t *d = set ? soap_wsdl_describe(set) : NULL;
    size_t n = 0, i;
    json_t *s;
    json_array_foreach(json_object_get(d, "services"), i, s)
        n += json_array_size(json_object_get(s, "operations"));
    json_decref(d);
    return n;
}

static void *shared_create(void *arg)
{
    const shared_arg_t *a = arg;
    soap_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return NULL;
    pthread_mutex_init(&sh->mu, NULL);
    soap_xml_init();
    const char *wp = a->svc->option_str(a->ctx, "wsdl_path");
    const char *ns = a->svc->option_str(a->ctx, "namespace");
    if (ns == NULL || ns[0] == '\0')
        ns = "sandbox";
    if (wp == NULL || wp[0] == '\0')
        return sh;
    soap_nsd_t *d = soap_nsd(sh, ns, strlen(ns), 1);
    if (d && d->wsdl == NULL)
        d->wsdl = soap_wsdl_set_new();
    if (d == NULL || d->wsdl == NULL)
        return sh;
    char *list = strdup(wp);
    for (char *save = NULL, *f = list ? strtok_r(list, ":", &save) : NULL; f;
         f = strtok_r(NULL, ":", &save))
        load_file(a, d->wsdl, f);
    free(list);
    char err[512] = "";
    if (soap_wsdl_commit(d->wsdl, 1, err, sizeof(err)) < 0)
        a->svc->log(a->ctx, DOPPEL_LOG_ERROR, "wsdl_path: %s", err);
    d->n_ops = count_ops(d->wsdl);
    a->svc->log(a->ctx, DOPPEL_LOG_INFO,
                "wsdl_path: %zu operations in namespace %s", d->n_ops, ns);
    return sh;
}

static void shared_destroy(void *state)
{
    soap_shared_t *sh = state;
    if (sh == NULL)
        return;
    for (soap_nsd_t *d = sh->nss, *dn; d; d = dn) {
        dn = d->next;
        for (soap_path_reg_t *p = d->paths, *pn; p; p = pn) {
            pn = p->next;
            free(p->path);
            free(p);
        }
        for (soap_xpath_reg_t *x = d->xpaths, *xn; x; x = xn) {
            xn = x->next;
            free(x->op);
            free(x->key);
            free(x->expr);
            json_decref(x->nsmap);
            free(x);
        }
        soap_wsdl_set_free(d->wsdl);
        free(d->name);
        free(d);
    }
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

/* libxml2 keeps a state per thread that uses it, freed by a key
 * destructor when the thread ends; but when the host unloads this plugin,
 * libxml2 goes with it and its destructor (xmlCleanupParser, when xmlFree
 * is free) deletes that key, so the states of the host's pool threads,
 * which end later, would never be freed. So the plugin (and with it
 * libxml2) stays loaded once used, and libxml2 allocates through wrappers,
 * which makes its destructor leave the key alone. */
static void *x_malloc(size_t n)
{
    return malloc(n);
}
static void *x_realloc(void *p, size_t n)
{
    return realloc(p, n);
}
static void x_free(void *p)
{
    free(p);
}
static char *x_strdup(const char *s)
{
    return strdup(s);
}

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_libxml2(void)
{
    Dl_info info;
    if (dladdr((void *)&pin_libxml2, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    xmlMemSetup(x_free, x_malloc, x_realloc, x_strdup);
    soap_xml_init();
}

soap_shared_t *soap_shared(doppel_ctx_t *ctx, const doppel_services_t *svc)
{
    pthread_once(&pin_once, pin_libxml2);
    shared_arg_t a = {ctx, svc};
    return svc->shared(ctx, shared_create, shared_destroy, &a);
}

soap_nsd_t *soap_nsd(soap_shared_t *sh, const char *ns, size_t len,
                     int create)
{
    if (len == 0) {
        ns = "sandbox";
        len = 7;
    }
    for (soap_nsd_t *d = sh->nss; d; d = d->next)
        if (strlen(d->name) == len && memcmp(d->name, ns, len) == 0)
            return d;
    if (!create)
        return NULL;
    soap_nsd_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->name = strndup(ns, len)) == NULL) {
        free(d);
        return NULL;
    }
    d->next = sh->nss;
    sh->nss = d;
    return d;
}

/* ---- schema files ----------------------------------------------------------- */

static void set_err(doppel_check_error_t *e, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(doppel_check_error_t *e, const char *field,
                    const char *fmt, ...)
{
    if (e == NULL)
        return;
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static int file_name_ok(doppel_str_t name)
{
    if (name.len < 5 || name.len > 200)
        return 0;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    if (name.ptr[0] == '.')
        return 0;
    const char *e = name.ptr + name.len;
    return memcmp(e - 5, ".wsdl", 5) == 0 || memcmp(e - 4, ".xsd", 4) == 0 ||
           memcmp(e - 4, ".xml", 4) == 0;
}

static int schema_put(doppel_ctx_t *ctx, const doppel_services_t *svc,
                      doppel_str_t ns, doppel_str_t name,
                      const uint8_t *content, size_t len,
                      doppel_check_error_t *err)
{
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    if (!file_name_ok(name)) {
        set_err(err, "name",
                "a WSDL or XSD file name: [A-Za-z0-9._-], ending in .wsdl, "
                ".xsd or .xml (imports name files of the same namespace by "
                "this name)");
        return -EINVAL;
    }
    char nm[256];
    snprintf(nm, sizeof(nm), "%.*s", (int)name.len, name.ptr);
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 1);
    if (d && d->wsdl == NULL)
        d->wsdl = soap_wsdl_set_new();
    int rc = -ENOMEM;
    if (d && d->wsdl) {
        char msg[700] = "";
        rc = soap_wsdl_put(d->wsdl, nm, content, len, msg, sizeof(msg));
        if (rc == -EINVAL)
            set_err(err, "content", "%s", msg[0] ? msg : "not a WSDL or XSD file");
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static int schema_commit(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, int keep, doppel_check_error_t *err)
{
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 0);
    int rc = 0;
    if (d && d->wsdl) {
        char msg[700] = "";
        rc = soap_wsdl_commit(d->wsdl, keep, msg, sizeof(msg));
        if (rc == -EINVAL)
            set_err(err, "content", "%s", msg[0] ? msg : "the files do not link");
        d->n_ops = count_ops(d->wsdl);
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static int schema_delete(doppel_ctx_t *ctx, const doppel_services_t *svc,
                         doppel_str_t ns, doppel_str_t name,
                         doppel_check_error_t *err)
{
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    char nm[256];
    snprintf(nm, sizeof(nm), "%.*s", (int)(name.len < 255 ? name.len : 255),
             name.ptr);
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 0);
    int rc = -ENOENT;
    if (d && d->wsdl) {
        char msg[700] = "";
        rc = soap_wsdl_delete(d->wsdl, nm, msg, sizeof(msg));
        if (rc == -EBUSY)
            set_err(err, "name", "%s", msg[0] ? msg : "another file imports it");
        d->n_ops = count_ops(d->wsdl);
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static int describe(doppel_ctx_t *ctx, const doppel_services_t *svc,
                    doppel_str_t ns, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 0);
    json_t *o = d && d->wsdl ? soap_wsdl_describe(d->wsdl) : NULL;
    pthread_mutex_unlock(&sh->mu);
    if (o == NULL)
        o = json_pack("{s:[], s:[]}", "services", "files");
    return dpj_give(svc, o, out, out_len);
}

static int schema_mocks(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        doppel_str_t ns, doppel_str_t name, char **out,
                        size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    char nm[256];
    snprintf(nm, sizeof(nm), "%.*s", (int)(name.len < 255 ? name.len : 255),
             name.ptr);
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 0);
    json_t *arr = d && d->wsdl ? soap_wsdl_mocks(d->wsdl, nm) : NULL;
    pthread_mutex_unlock(&sh->mu);
    if (arr == NULL)
        return -ENOENT;
    return dpj_give(svc, arr, out, out_len);
}

/* ---- check ------------------------------------------------------------------ */

static const char *const section_keys[] = {
    "service", "method",      "action",   "path",       "conditions",
    "header",  "namespaces", "soapVersion", "serverName", NULL};

static int opt_string(const json_t *sec, const char *k, const char **out,
                      doppel_check_error_t *err)
{
    const json_t *v = json_object_get(sec, k);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        json_string_length(v) > 512) {
        char f[64];
        snprintf(f, sizeof(f), "soap.%s", k);
        set_err(err, f, "expected a string of at most 512 characters");
        return -EINVAL;
    }
    if (json_string_length(v) > 0)
        *out = json_string_value(v);
    return 0;
}

/* Registers expr under (ns, op) unless that key is there already. */
static int xpath_register(soap_shared_t *sh, doppel_str_t ns, const char *op,
                          const char *key, const char *expr,
                          const json_t *nsmap)
{
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 1);
    int rc = d ? 0 : -ENOMEM;
    for (soap_xpath_reg_t *x = d ? d->xpaths : NULL; x; x = x->next)
        if (strcmp(x->op, op) == 0 && strcmp(x->key, key) == 0)
            goto out;
    if (d) {
        soap_xpath_reg_t *x = calloc(1, sizeof(*x));
        if (x) {
            x->op = strdup(op);
            x->key = strdup(key);
            x->expr = strdup(expr);
            x->nsmap = nsmap ? json_deep_copy(nsmap) : json_object();
        }
        if (!x || !x->op || !x->key || !x->expr || !x->nsmap) {
            if (x) {
                free(x->op);
                free(x->key);
                free(x->expr);
                json_decref(x->nsmap);
                free(x);
            }
            rc = -ENOMEM;
        } else {
            x->next = d->xpaths;
            d->xpaths = x;
        }
    }
out:
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static void path_register(soap_shared_t *sh, doppel_str_t ns, const char *path)
{
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 1);
    if (d && path == NULL) {
        d->any_path = 1;
    } else if (d) {
        int seen = 0;
        for (soap_path_reg_t *p = d->paths; p && !seen; p = p->next)
            seen = strcmp(p->path, path) == 0;
        soap_path_reg_t *p = seen ? NULL : calloc(1, sizeof(*p));
        if (p && (p->path = strdup(path)) != NULL) {
            p->next = d->paths;
            d->paths = p;
        } else {
            free(p);
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

/* The conditions the section's own members stand for ($.__soap.action,
 * $.__soap.version) are derived anew on every check, so a stored section
 * checked again does not collect copies. */
static int derived_path(const json_t *c)
{
    const char *p = json_string_value(json_object_get(c, "path"));
    return p && (strcmp(p, "$.__soap.action") == 0 ||
                 strcmp(p, "$.__soap.version") == 0);
}

static int rewrite_conditions(soap_shared_t *sh, doppel_str_t ns,
                              json_t *norm, const char *op,
                              const json_t *nsmap, const char *action,
                              const char *version, doppel_check_error_t *err)
{
    json_t *conds = json_object_get(norm, "conditions");
    if (conds != NULL && !json_is_null(conds) && !json_is_array(conds))
        return 0; /* the engine reports the shape */
    json_t *out = json_array();
    if (out == NULL)
        return -ENOMEM;
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (!json_is_object(c)) {
            json_array_append(out, c);
            continue;
        }
        if (derived_path(c))
            continue;
        const json_t *xv = json_object_get(c, "xpath");
        const char *p = json_string_value(json_object_get(c, "path"));
        char expr[1100];
        char f[96];
        snprintf(f, sizeof(f), "soap.conditions[%zu].xpath", i);
        if (xv != NULL) {
            if (!json_is_string(xv)) {
                set_err(err, f, "an XPath 1.0 expression (a string)");
                json_decref(out);
                return -EINVAL;
            }
            if (json_object_get(c, "path") != NULL) {
                set_err(err, f, "give xpath or path, not both");
                json_decref(out);
                return -EINVAL;
            }
            snprintf(expr, sizeof(expr), "%s", json_string_value(xv));
        } else if (!(p && soap_xpath_of_path(p, expr, sizeof(expr)))) {
            json_array_append(out, c);
            continue;
        }
        char why[512];
        if (soap_xpath_check(expr, nsmap, why, sizeof(why)) < 0) {
            set_err(err, f, "%s", why);
            json_decref(out);
            return -EINVAL;
        }
        char key[1200], path[1300];
        if (soap_xpath_member(expr, nsmap, key, sizeof(key), path,
                              sizeof(path)) < 0) {
            set_err(err, f, "an XPath may not hold both \"] and ']");
            json_decref(out);
            return -EINVAL;
        }
        json_t *nc = json_deep_copy(c);
        if (nc == NULL || xpath_register(sh, ns, op, key, expr, nsmap) < 0) {
            json_decref(nc);
            json_decref(out);
            return -ENOMEM;
        }
        json_object_del(nc, "xpath");
        json_object_set_new(nc, "path", json_string(path));
        json_array_append_new(out, nc);
    }
    if (action)
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "path",
                                             "$.__soap.action", "assertAction",
                                             "equals", "value", action));
    if (version)
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "path",
                                             "$.__soap.version",
                                             "assertAction", "equals", "value",
                                             version));
    if (json_array_size(out) > 0 || conds != NULL)
        json_object_set_new(norm, "conditions", out);
    else
        json_decref(out);
    return 0;
}

/* The WSDLs of the namespace (if it has any) must define the method and
 * the service the mock names. */
static int check_wsdl(soap_shared_t *sh, doppel_str_t ns, const char *service,
                      const char *method, doppel_check_error_t *err)
{
    int rc = 0;
    const char *nsn = ns.len ? ns.ptr : "sandbox";
    int nsl = (int)(ns.len ? ns.len : 7);
    pthread_mutex_lock(&sh->mu);
    soap_nsd_t *d = soap_nsd(sh, ns.ptr, ns.len, 0);
    if (d && d->wsdl && d->n_ops > 0) {
        if (method && soap_wsdl_lookup(d->wsdl, service, method) == NULL) {
            if (service && soap_wsdl_lookup(d->wsdl, NULL, method) != NULL)
                set_err(err, "soap.method",
                        "service %s has no operation %s in the WSDLs of "
                        "namespace %.*s (another service has)",
                        service, method, nsl, nsn);
            else
                set_err(err, "soap.method",
                        "no WSDL of namespace %.*s defines an operation %s%s%s",
                        nsl, nsn, method, service ? " in service " : "",
                        service ? service : "");
            rc = -EINVAL;
        } else if (service && !method) {
            json_t *dsc = soap_wsdl_describe(d->wsdl);
            int found = 0;
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(dsc, "services"), i, s)
                found |= json_is_string(json_object_get(s, "name")) &&
                         strcmp(json_string_value(json_object_get(s, "name")),
                                service) == 0;
            json_decref(dsc);
            if (!found) {
                set_err(err, "soap.service",
                        "no WSDL of namespace %.*s defines a service %s", nsl,
                        nsn, service);
                rc = -EINVAL;
            }
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static int check_fault(const json_t *f, doppel_check_error_t *err)
{
    if (f == NULL || json_is_null(f))
        return 0;
    if (!json_is_object(f)) {
        set_err(err, "response.soapFault",
                "expected {faultCode, faultString, faultActor, detail, "
                "httpStatus}");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)f, k, v)
    {
        char fl[96];
        snprintf(fl, sizeof(fl), "response.soapFault.%s", k);
        if (strcmp(k, "httpStatus") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 100 ||
                json_integer_value(v) > 599) {
                set_err(err, fl, "an HTTP status, an integer from 100 to 599");
                return -EINVAL;
            }
            continue;
        }
        if (strcmp(k, "faultCode") && strcmp(k, "faultString") &&
            strcmp(k, "faultActor") && strcmp(k, "detail")) {
            set_err(err, fl, "unknown member (faultCode, faultString, "
                             "faultActor, detail, httpStatus)");
            return -EINVAL;
        }
        if (!json_is_string(v) && !json_is_null(v)) {
            set_err(err, fl, "expected a string");
            return -EINVAL;
        }
    }
    const char *code = json_string_value(json_object_get(f, "faultCode"));
    char tmp[128];
    if (code && soap_fault_code(code, 11, tmp, sizeof(tmp)) < 0) {
        set_err(err, "response.soapFault.faultCode",
                "%s is not a SOAP fault code: soap:Client, soap:Server (1.2: "
                "Sender, Receiver), VersionMismatch, MustUnderstand, with any "
                "prefix",
                code);
        return -EINVAL;
    }
    const char *detail = json_string_value(json_object_get(f, "detail"));
    char why[256];
    if (detail && soap_xml_check(detail, strlen(detail), 1, why, sizeof(why)) < 0) {
        set_err(err, "response.soapFault.detail", "not well-formed XML: %s",
                why);
        return -EINVAL;
    }
    return 0;
}

static int check_payload(const json_t *p, doppel_check_error_t *err)
{
    if (p == NULL || json_is_null(p))
        return 0;
    soap_buf_t b = {0};
    char why[600] = "";
    int rc;
    if (json_is_string(p)) {
        int v = 11;
        rc = soap_xml_answer(json_string_value(p), json_string_length(p), &v,
                             &b, why, sizeof(why));
    } else {
        rc = soap_json_to_envelope(p, 11, &b, why, sizeof(why));
    }
    soap_buf_free(&b);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        const char *colon = strstr(why, ": ");
        char field[200];
        snprintf(field, sizeof(field), "%.*s",
                 colon && colon - why < 190 ? (int)(colon - why) : 16,
                 colon && colon - why < 190 ? why : "response.payload");
        set_err(err, field, "%s", why);
        return -EINVAL;
    }
    return 0;
}

static int check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                 const doppel_mock_view_t *mock, doppel_mock_key_t *key,
                 doppel_check_error_t *err)
{
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return -ENOMEM;
    json_t *sec = json_loadb(mock->section.ptr, mock->section.len, 0, NULL);
    json_t *resp = json_loadb(mock->response.ptr, mock->response.len, 0, NULL);
    json_t *norm = NULL;
    int rc = -EINVAL;
    if (!json_is_object(sec)) {
        set_err(err, "soap", "expected an object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(sec, k, v)
    {
        int ok = 0;
        for (size_t i = 0; section_keys[i] && !ok; i++)
            ok = strcmp(k, section_keys[i]) == 0;
        if (!ok) {
            char f[96];
            snprintf(f, sizeof(f), "soap.%.80s", k);
            set_err(err, f, "unknown member (service, method, action, path, "
                            "conditions, header, namespaces, soapVersion)");
            goto out;
        }
    }
    const char *service, *method, *action, *path, *version;
    if (opt_string(sec, "service", &service, err) < 0 ||
        opt_string(sec, "method", &method, err) < 0 ||
        opt_string(sec, "action", &action, err) < 0 ||
        opt_string(sec, "path", &path, err) < 0 ||
        opt_string(sec, "soapVersion", &version, err) < 0)
        goto out;
    if (path && (path[0] != '/' || strpbrk(path, "?# \t\r\n") != NULL)) {
        set_err(err, "soap.path", "a request path starting with '/', without "
                                  "query or fragment (\"/ws/account\")");
        goto out;
    }
    if (version && strcmp(version, "1.1") && strcmp(version, "1.2")) {
        set_err(err, "soap.soapVersion", "\"1.1\", \"1.2\" or absent (either)");
        goto out;
    }
    const json_t *nsmap = json_object_get(sec, "namespaces");
    if (nsmap && !json_is_null(nsmap)) {
        if (!json_is_object(nsmap) || json_object_size(nsmap) > 64) {
            set_err(err, "soap.namespaces",
                    "an object of at most 64 prefix: namespace URI members");
            goto out;
        }
        json_object_foreach((json_t *)nsmap, k, v)
        {
            if (!json_is_string(v) || k[0] == '\0' || strchr(k, ':') ||
                strlen(k) > 64) {
                char f[96];
                snprintf(f, sizeof(f), "soap.namespaces.%.64s", k);
                set_err(err, f, "a prefix bound to a namespace URI string");
                goto out;
            }
        }
    } else {
        nsmap = NULL;
    }
    if (check_wsdl(sh, mock->ns, service, method, err) < 0)
        goto out;
    if (json_is_object(resp)) {
        if (check_fault(json_object_get(resp, "soapFault"), err) < 0)
            goto out;
        rc = check_payload(json_object_get(resp, "payload"), err);
        if (rc < 0)
            goto out;
        rc = -EINVAL;
    }
    norm = json_deep_copy(sec);
    if (norm == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = rewrite_conditions(sh, mock->ns, norm, method ? method : "", nsmap,
                            action, version, err);
    if (rc < 0)
        goto out;
    /* operation = method, target = path (none: any), server = service */
    size_t used = 0;
    char *b = key->buf;
    int n = snprintf(b, sizeof(key->buf), "%s", method ? method : "");
    key->operation = (doppel_str_t){b, (size_t)n};
    used = (size_t)n + 1;
    n = snprintf(b + used, sizeof(key->buf) - used, "%s", path ? path : "");
    key->target = (doppel_str_t){b + used, (size_t)n};
    used += (size_t)n + 1;
    n = snprintf(b + used, sizeof(key->buf) - used, "%s",
                 service ? service : "");
    key->server = (doppel_str_t){b + used, (size_t)n};
    char *txt = json_dumps(norm, JSON_COMPACT);
    if (txt == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t l = strlen(txt);
    char *own = svc->alloc(l + 1);
    if (own == NULL) {
        free(txt);
        rc = -ENOMEM;
        goto out;
    }
    memcpy(own, txt, l + 1);
    free(txt);
    key->owned_section = own;
    key->section = (doppel_str_t){own, l};
    path_register(sh, mock->ns, path);
    rc = 0;
out:
    json_decref(norm);
    json_decref(sec);
    json_decref(resp);
    return rc;
}

/* ---- misses ------------------------------------------------------------------ */

static int explain_miss(doppel_ctx_t *ctx, const doppel_services_t *svc,
                        const doppel_exchange_t *x, char *out, size_t out_len)
{
    soap_shared_t *sh = soap_shared(ctx, svc);
    if (sh == NULL)
        return 0;
    json_t *doc = json_loadb((const char *)x->body, x->body_len, 0, NULL);
    const char *op =
        json_string_value(json_object_get(json_object_get(doc, "__soap"),
                                          "operation"));
    const char *nsn = x->ns.len ? x->ns.ptr : "sandbox";
    int nsl = (int)(x->ns.len ? x->ns.len : 7);
    int wrote = 0;
    if (op == NULL || op[0] == '\0') {
        snprintf(out, out_len, "the Body is empty: no operation to match");
        wrote = 1;
    } else {
        pthread_mutex_lock(&sh->mu);
        soap_nsd_t *d = soap_nsd(sh, x->ns.ptr, x->ns.len, 0);
        if (d && d->wsdl && d->n_ops > 0 &&
            soap_wsdl_lookup(d->wsdl, NULL, op) == NULL) {
            snprintf(out, out_len,
                     "operation %s is not defined by the WSDLs of namespace "
                     "%.*s",
                     op, nsl, nsn);
            wrote = 1;
        }
        pthread_mutex_unlock(&sh->mu);
        if (!wrote) {
            snprintf(out, out_len, "no soap mock of namespace %.*s matches "
                                   "operation %s",
                     nsl, nsn, op);
            wrote = 1;
        }
    }
    json_decref(doc);
    return wrote;
}

/* ---- recording ---------------------------------------------------------- */

/* A recording's conditions: one equality per value of the Body beyond this
 * many would make a mock nobody reads; past it, each top-level element is
 * compared whole instead. */
#define RECORD_LEAVES_MAX 64

/* The path of member k below prefix (a JSON path of the engine's syntax,
 * expr.h): a dotted segment when k is a plain name, else a quoted key. */
static int member_path(const char *prefix, const char *k, char *out, size_t n)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_-";
    int plain = k[0] != '\0' && !(k[0] >= '0' && k[0] <= '9') && k[0] != '-' &&
                strspn(k, name_chars) == strlen(k);
    int w = plain ? snprintf(out, n, "%s.%s", prefix, k)
                  : snprintf(out, n, "%s['%s']", prefix, k);
    /* an XML local name holds no quote; a key that does is not recorded */
    if (!plain && strchr(k, '\''))
        return -EINVAL;
    return w < 0 || (size_t)w >= n ? -EINVAL : 0;
}

static int add_equals(json_t *conds, const char *path, json_t *v)
{
    json_t *c = json_pack("{s:s, s:s, s:O}", "path", path, "assertAction",
                          "equals", "value", v);
    return c && json_array_append_new(conds, c) == 0 ? 0 : -ENOMEM;
}

/* Appends an equality condition for every string (leaf) under v, at
 * path; *leaves counts them. */
static int leaf_conditions(json_t *conds, const char *path, json_t *v,
                           size_t *leaves)
{
    char sub[1024];
    if (json_is_object(v) && json_object_size(v) > 0) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            if (member_path(path, k, sub, sizeof(sub)) < 0)
                return -EINVAL;
            int rc = leaf_conditions(conds, sub, m, leaves);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            int w = snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (w < 0 || (size_t)w >= sizeof(sub))
                return -EINVAL;
            int rc = leaf_conditions(conds, sub, m, leaves);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    (*leaves)++;
    return add_equals(conds, path, v);
}

/* The conditions a recorded request is matched by again: its Body's
 * values, as the plugin turns the Body into JSON ($.GetOrder.orderId);
 * $.__soap and $.__xpath are doppel's own, never the request's. */
static json_t *body_conditions(json_t *body, int *rc)
{
    json_t *conds = json_array();
    size_t leaves = 0;
    const char *k;
    json_t *v;
    char path[1024];
    *rc = conds ? 0 : -ENOMEM;
    json_object_foreach(body, k, v)
    {
        if (*rc < 0)
            break;
        if (strcmp(k, "__soap") == 0 || strcmp(k, "__xpath") == 0)
            continue;
        *rc = member_path("$", k, path, sizeof(path));
        if (*rc == 0)
            *rc = leaf_conditions(conds, path, v, &leaves);
    }
    if (*rc == 0 && leaves > RECORD_LEAVES_MAX) {
        json_array_clear(conds);
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "__soap") == 0 || strcmp(k, "__xpath") == 0)
                continue;
            if ((*rc = member_path("$", k, path, sizeof(path))) < 0 ||
                (*rc = add_equals(conds, path, v)) < 0)
                break;
        }
    }
    if (*rc < 0) {
        json_decref(conds);
        return NULL;
    }
    return conds;
}

/* The response of a recorded upstream answer: a Fault becomes soapFault
 * (so it replays as a fault of the request's version, with the upstream's
 * status), anything else the Body's content as XML (wrapped on replay
 * into an envelope of the request's version; the upstream's Header is not
 * kept). -EINVAL when the answer is not a SOAP envelope. */
static json_t *record_answer(const doppel_fetch_result_t *res, int *rc)
{
    soap_envelope_t env;
    char why[300];
    soap_limits_t lim = {.max_bytes = 0, .max_depth = 256};
    int prc = soap_envelope_parse(res->body, res->body_len, &lim, &env, why,
                                  sizeof(why));
    if (prc < 0) {
        *rc = prc == SOAP_E_NOMEM ? -ENOMEM : -EINVAL;
        return NULL;
    }
    json_t *out = NULL;
    soap_fault_read_t f;
    int fr = soap_fault_read(&env, &f);
    if (fr == 1) {
        char norm[128];
        const char *code = f.code && soap_fault_code(f.code, env.version, norm,
                                                     sizeof(norm)) == 0
                               ? f.code
                               : "Server";
        /* a code of the upstream's own namespace: the local part */
        const char *colon = strchr(code, ':');
        json_t *sf =
            json_pack("{s:s, s:s, s:I}", "faultCode", colon ? colon + 1 : code,
                      "faultString", f.string ? f.string : "", "httpStatus",
                      (json_int_t)res->status);
        if (sf && f.actor && f.actor[0])
            json_object_set_new(sf, "faultActor", json_string(f.actor));
        if (sf && f.detail && f.detail[0])
            json_object_set_new(sf, "detail", json_string(f.detail));
        out = sf ? json_pack("{s:o}", "soapFault", sf) : NULL;
        soap_fault_read_free(&f);
    } else if (fr == 0) {
        soap_buf_t b = {0};
        if (soap_body_xml(&env, &b) == 0)
            out = json_pack("{s:i, s:s}", "statusCode", res->status, "payload",
                            b.ptr ? b.ptr : "");
        soap_buf_free(&b);
    }
    soap_envelope_free(&env);
    *rc = out ? 0 : -ENOMEM;
    return out;
}

static int record(doppel_ctx_t *ctx, const doppel_services_t *svc,
                  const doppel_exchange_t *x,
                  const struct doppel_fetch_result *res, char **section,
                  size_t *section_len, char **response, size_t *response_len)
{
    (void)ctx;
    *section = *response = NULL;
    *section_len = *response_len = 0;
    json_t *body = json_loadb((const char *)x->body, x->body_len, 0, NULL);
    if (!json_is_object(body) || x->target.len == 0 || x->target.len > 512) {
        json_decref(body);
        return -EINVAL;
    }
    int rc = 0;
    json_t *answer = record_answer(res, &rc);
    json_t *conds = answer ? body_conditions(body, &rc) : NULL;
    json_t *sec = conds ? json_pack("{s:s%, s:o}", "path", x->target.ptr,
                                    x->target.len, "conditions", conds)
                        : NULL;
    if (conds && sec == NULL)
        rc = -ENOMEM;
    const char *action = json_string_value(
        json_object_get(json_object_get(body, "__soap"), "action"));
    if (sec && x->operation.len)
        json_object_set_new(sec, "method",
                            json_stringn(x->operation.ptr, x->operation.len));
    if (sec && x->server.len)
        json_object_set_new(sec, "service",
                            json_stringn(x->server.ptr, x->server.len));
    if (sec && action && action[0])
        json_object_set_new(sec, "action", json_string(action));
    json_decref(body);
    if (sec)
        rc = dpj_give(svc, sec, section, section_len);
    if (rc == 0)
        rc = dpj_give(svc, answer, response, response_len);
    else
        json_decref(answer);
    if (rc < 0 && *section) {
        svc->free(*section);
        *section = NULL;
    }
    return rc;
}

static const char *const body_conds[] = {"conditions", NULL};
static const char *const meta_conds[] = {"header", NULL};
static const char *const resp_fields[] = {"soapFault", NULL};

const doppel_protocol_def_t soap_protocol_def = {
    .size = sizeof(doppel_protocol_def_t),
    .section = "soap",
    /* NO_PROXY refuses a mock's own proxy; services reach the section
     * through HTTP_PATH (forwarded by soap_plugin.c, recorded by record) */
    .flags = DOPPEL_PROTO_F_EXACT_OP | DOPPEL_PROTO_F_NO_PROXY |
             DOPPEL_PROTO_F_HTTP_PATH,
    .body_conditions = body_conds,
    .meta_conditions = meta_conds,
    .response_fields = resp_fields,
    .status_min = 100,
    .status_max = 599,
    .status_default = 200,
    .check = check,
    .schema_kind = "wsdl",
    .schema_put = schema_put,
    .schema_commit = schema_commit,
    .schema_delete = schema_delete,
    .explain_miss = explain_miss,
    .describe = describe,
    .schema_mocks = schema_mocks,
    .record = record,
};
