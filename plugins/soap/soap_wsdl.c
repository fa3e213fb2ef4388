/*
 * WSDL 1.1 sets: files parsed with libxml2 (hostile-safe), staged, then
 * linked as a whole on commit into the operations the plugin matches on.
 *
 * A commit links a candidate list (the committed files, with the staged
 * ones replacing those of the same name) into new operation and port
 * tables; only when everything resolves do the tables and files replace
 * the old ones, so a failed commit leaves the set exactly as it was.
 * Imports (wsdl:import, xsd:import/include/redefine) name other files of
 * the set by their last path component; nothing is ever fetched from the
 * network or read from the file system.
 */
#include "soap_wsdl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "soap_wsdl_internal.h"

#define MAX_FILE_BYTES (16u << 20) /* one WSDL or XSD file */
#define MAX_FILES 256              /* files of one set */
#define MAX_NAME 255               /* a file name */

typedef struct wfile {
    char *name;
    xmlDocPtr doc;
    int is_wsdl; /* root wsdl:definitions; else xsd:schema */
} wfile_t;

typedef struct op {
    soap_op_info_t info;
    xmlNodePtr out_el;  /* document: the output part's global element */
    xmlNodePtr out_msg; /* rpc: the output message */
} op_t;

typedef struct port {
    char *path;
    char *file;
} port_t;

struct soap_wsdl_set {
    wfile_t *files;
    size_t nfiles;
    wfile_t *staged;
    size_t nstaged;
    op_t *ops;
    size_t nops;
    port_t *ports;
    size_t nports;
    xsd_pool_t pool; /* schemas of the committed files */
};

/* ---- files ---------------------------------------------------------------- */

static void wfile_free(wfile_t *f)
{
    free(f->name);
    if (f->doc)
        xmlFreeDoc(f->doc);
    memset(f, 0, sizeof(*f));
}

static void ops_free(op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        soap_op_info_t *o = &ops[i].info;
        free((char *)o->service);
        free((char *)o->port);
        free((char *)o->operation);
        free((char *)o->action);
        free((char *)o->path);
        free((char *)o->input_ns);
        free((char *)o->input_local);
        free((char *)o->output_ns);
        free((char *)o->output_local);
        free((char *)o->file);
    }
    free(ops);
}

static void ports_free(port_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].path);
        free(p[i].file);
    }
    free(p);
}

soap_wsdl_set_t *soap_wsdl_set_new(void)
{
    return calloc(1, sizeof(soap_wsdl_set_t));
}

static void staged_drop(soap_wsdl_set_t *s)
{
    for (size_t i = 0; i < s->nstaged; i++)
        wfile_free(&s->staged[i]);
    free(s->staged);
    s->staged = NULL;
    s->nstaged = 0;
}

void soap_wsdl_set_free(soap_wsdl_set_t *s)
{
    if (s == NULL)
        return;
    staged_drop(s);
    for (size_t i = 0; i < s->nfiles; i++)
        wfile_free(&s->files[i]);
    free(s->files);
    ops_free(s->ops, s->nops);
    ports_free(s->ports, s->nports);
    xsd_pool_clear(&s->pool);
    free(s);
}

static void set_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (err == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* ---- parsing -------------------------------------------------------------- */

/* libxml2 prints nothing: errors are read from the context. */
static void quiet(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

static void quiet_generic(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

typedef struct parse_state {
    int doctype;
    int line, col;
} parse_state_t;

/* A DOCTYPE stops the parse before its subset is read: no entity of it is
 * ever declared, so external entities and expansion bombs never start. */
static void on_internal_subset(void *ctx, const xmlChar *name,
                               const xmlChar *ext_id, const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlParserCtxtPtr c = ctx;
    parse_state_t *st = c->_private;
    st->doctype = 1;
    if (c->input) {
        st->line = c->input->line;
        st->col = c->input->col;
    }
    xmlStopParser(c);
}

static xmlDocPtr parse(const char *name, const uint8_t *content, size_t len,
                       char *err, size_t err_len)
{
    if (len > MAX_FILE_BYTES) {
        set_err(err, err_len, "%s:1:1: file larger than %u bytes", name,
                MAX_FILE_BYTES);
        return NULL;
    }
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (c == NULL) {
        set_err(err, err_len, "%s:1:1: out of memory", name);
        return NULL;
    }
    parse_state_t st = {0, 0, 0};
    c->_private = &st;
    c->sax->internalSubset = on_internal_subset;
    xmlStructuredErrorFunc old_s = xmlStructuredError;
    void *old_sctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc old_g = xmlGenericError;
    void *old_gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet);
    xmlSetGenericErrorFunc(NULL, quiet_generic);
    xmlDocPtr doc = xmlCtxtReadMemory(
        c, (const char *)content, (int)len, name, NULL,
        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
            XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES);
    xmlSetStructuredErrorFunc(old_sctx, old_s);
    xmlSetGenericErrorFunc(old_gctx, old_g);
    if (st.doctype) {
        set_err(err, err_len, "%s:%d:%d: DOCTYPE is not allowed", name,
                st.line, st.col);
    } else if (doc == NULL || !c->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(c);
        char msg[256] = "not well-formed XML";
        if (e && e->message) {
            snprintf(msg, sizeof(msg), "%s", e->message);
            size_t l = strlen(msg);
            while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = '\0';
        }
        set_err(err, err_len, "%s:%d:%d: %s", name, e ? e->line : 1,
                e ? e->int2 : 1, msg);
    }
    int ok = doc != NULL && c->wellFormed && !st.doctype;
    xmlFreeParserCtxt(c);
    if (!ok) {
        if (doc)
            xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* Names are the admin API's (relative paths, "shop/v1/account.wsdl"):
 * checked there; here only what would break the messages. */
static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20)
            return 0;
    return 1;
}

int soap_wsdl_put(soap_wsdl_set_t *s, const char *name, const uint8_t *content,
                  size_t len, char *err, size_t err_len)
{
    if (name == NULL || !valid_name(name)) {
        set_err(err, err_len, "%s:1:1: invalid file name", name ? name : "");
        return -EINVAL;
    }
    xmlDocPtr doc = parse(name, content, len, err, err_len);
    if (doc == NULL)
        return -EINVAL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    int is_wsdl = sw_is(root, SW_NS_WSDL, "definitions");
    if (!is_wsdl && !sw_is(root, SW_NS_XSD, "schema")) {
        sw_err(err, err_len, name, root,
               "root element is neither wsdl:definitions (%s) nor xsd:schema",
               SW_NS_WSDL);
        xmlFreeDoc(doc);
        return -EINVAL;
    }
    size_t i;
    for (i = 0; i < s->nstaged; i++)
        if (strcmp(s->staged[i].name, name) == 0)
            break;
    if (i == s->nstaged) {
        if (s->nstaged >= MAX_FILES) {
            set_err(err, err_len, "%s:1:1: more than %d files in one batch",
                    name, MAX_FILES);
            xmlFreeDoc(doc);
            return -EINVAL;
        }
        wfile_t *n = realloc(s->staged, (s->nstaged + 1) * sizeof(*n));
        char *nm = strdup(name);
        if (n == NULL || nm == NULL) {
            if (n)
                s->staged = n;
            free(nm);
            xmlFreeDoc(doc);
            set_err(err, err_len, "%s:1:1: out of memory", name);
            return -EINVAL;
        }
        s->staged = n;
        s->staged[s->nstaged].name = nm;
        s->staged[s->nstaged].doc = NULL;
        s->nstaged++;
    } else {
        xmlFreeDoc(s->staged[i].doc);
    }
    s->staged[i].doc = doc;
    s->staged[i].is_wsdl = is_wsdl;
    return 0;
}

/* ---- linking -------------------------------------------------------------- */

typedef struct link {
    wfile_t **files;
    size_t n;
    xsd_pool_t pool;
    op_t *ops;
    size_t nops, capops;
    port_t *ports;
    size_t nports, capports;
    char *err;
    size_t err_len;
} link_t;

static const char *base_name(const char *loc)
{
    const char *end = loc + strcspn(loc, "?#");
    const char *b = loc;
    for (const char *p = loc; p < end; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    return b;
}

/* An import names a file of the set by its last path component: the set
 * is one folder as far as imports go (a location "../common/types.xsd" or
 * "http://host/x/types.xsd" is the set's "types.xsd", or its
 * "common/types.xsd"). */
static int names_same_file(const char *loc, const char *name)
{
    const char *b = base_name(loc);
    size_t bl = strcspn(b, "?#");
    const char *nb = base_name(name);
    return bl > 0 && strlen(nb) == bl && strncmp(nb, b, bl) == 0;
}

static const wfile_t *file_by_loc(wfile_t **files, size_t n, const char *loc)
{
    for (size_t i = 0; i < n; i++)
        if (names_same_file(loc, files[i]->name))
            return files[i];
    return NULL;
}

/* The location an import/include element names, or NULL. */
static const char *import_loc(xmlNodePtr n)
{
    if (sw_is(n, SW_NS_WSDL, "import"))
        return sw_attr(n, "location");
    if (sw_is(n, SW_NS_XSD, "import") || sw_is(n, SW_NS_XSD, "include") ||
        sw_is(n, SW_NS_XSD, "redefine"))
        return sw_attr(n, "schemaLocation");
    return NULL;
}

/* Calls fn for each import of the document (wsdl:import at the top, and
 * xsd imports of every schema in it). Stops at the first non-zero. */
typedef int (*import_fn)(void *arg, xmlNodePtr n, const char *loc);

static int each_import_in(xmlNodePtr parent, import_fn fn, void *arg)
{
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        const char *loc = import_loc(c);
        if (loc && loc[0]) {
            int rc = fn(arg, c, loc);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int each_import(const wfile_t *f, import_fn fn, void *arg)
{
    xmlNodePtr root = xmlDocGetRootElement(f->doc);
    int rc = each_import_in(root, fn, arg);
    if (rc || !f->is_wsdl)
        return rc;
    for (xmlNodePtr t = root->children; t; t = t->next)
        if (sw_is(t, SW_NS_WSDL, "types"))
            for (xmlNodePtr sc = t->children; sc; sc = sc->next)
                if (sw_is(sc, SW_NS_XSD, "schema") &&
                    (rc = each_import_in(sc, fn, arg)) != 0)
                    return rc;
    return 0;
}

typedef struct imp_check {
    link_t *l;
    const wfile_t *f;
} imp_check_t;

static int check_import(void *arg, xmlNodePtr n, const char *loc)
{
    imp_check_t *ic = arg;
    if (file_by_loc(ic->l->files, ic->l->n, loc) != NULL)
        return 0;
    return sw_err(ic->l->err, ic->l->err_len, ic->f->name, n,
                  "import of \"%s\": the set holds no file \"%.*s\"", loc,
                  (int)strcspn(base_name(loc), "?#"), base_name(loc));
}

static int pool_build(xsd_pool_t *p, wfile_t **files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        xmlNodePtr root = xmlDocGetRootElement(files[i]->doc);
        if (!files[i]->is_wsdl) {
            if (xsd_pool_add(p, root, files[i]->name) < 0)
                return -ENOMEM;
            continue;
        }
        for (xmlNodePtr t = root->children; t; t = t->next)
            if (sw_is(t, SW_NS_WSDL, "types"))
                for (xmlNodePtr sc = t->children; sc; sc = sc->next)
                    if (sw_is(sc, SW_NS_XSD, "schema") &&
                        xsd_pool_add(p, sc, files[i]->name) < 0)
                        return -ENOMEM;
    }
    return 0;
}

/* A top-level WSDL definition {ns}name of kind ("message", "portType",
 * "binding") in any WSDL file of the candidate list. */
static xmlNodePtr wsdl_find(const link_t *l, const char *kind, const char *ns,
                            const char *local)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!l->files[i]->is_wsdl)
            continue;
        xmlNodePtr root = xmlDocGetRootElement(l->files[i]->doc);
        const char *tns = sw_tns(root);
        if (!((tns == NULL && ns == NULL) ||
              (tns && ns && strcmp(tns, ns) == 0)))
            continue;
        for (xmlNodePtr c = root->children; c; c = c->next) {
            const char *name;
            if (sw_is(c, SW_NS_WSDL, kind) && (name = sw_attr(c, "name")) &&
                strcmp(name, local) == 0)
                return c;
        }
    }
    return NULL;
}

static xmlNodePtr resolve(link_t *l, const char *file, xmlNodePtr at,
                          const char *attr, const char *kind, int *rc)
{
    const char *qn = sw_attr(at, attr);
    const char *ns, *local;
    if (qn == NULL) {
        *rc = sw_err(l->err, l->err_len, file, at, "<%s> has no %s=",
                     (const char *)at->name, attr);
        return NULL;
    }
    if (sw_qname(at, qn, &ns, &local) < 0) {
        *rc = sw_err(l->err, l->err_len, file, at,
                     "\"%s\": namespace prefix not declared", qn);
        return NULL;
    }
    xmlNodePtr n = wsdl_find(l, kind, ns, local);
    /* An unprefixed name under a default namespace that is WSDL's own
     * (xmlns="http://schemas.xmlsoap.org/wsdl/") is meant in the
     * document's target namespace: WSDLs written that way abound. */
    if (n == NULL && strchr(qn, ':') == NULL)
        n = wsdl_find(l, kind, sw_tns(at), local);
    if (n == NULL)
        *rc = sw_err(l->err, l->err_len, file, at, "unresolved %s {%s}%s",
                     kind, ns ? ns : "", local);
    return n;
}

static xmlNodePtr child(xmlNodePtr n, const char *ns, const char *local)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (sw_is(c, ns, local))
            return c;
    return NULL;
}

/* Every message part names an element or type that exists. */
static int check_messages(link_t *l, const wfile_t *f)
{
    xmlNodePtr root = xmlDocGetRootElement(f->doc);
    for (xmlNodePtr m = root->children; m; m = m->next) {
        if (!sw_is(m, SW_NS_WSDL, "message"))
            continue;
        for (xmlNodePtr p = m->children; p; p = p->next) {
            if (!sw_is(p, SW_NS_WSDL, "part"))
                continue;
            const char *el = sw_attr(p, "element"), *ty = sw_attr(p, "type");
            const char *ns, *local;
            const char *qn = el ? el : ty;
            if (qn == NULL)
                return sw_err(l->err, l->err_len, f->name, p,
                              "part has neither element= nor type=");
            if (sw_qname(p, qn, &ns, &local) < 0)
                return sw_err(l->err, l->err_len, f->name, p,
                              "\"%s\": namespace prefix not declared", qn);
            if (el) {
                if (xsd_find(&l->pool, "element", ns, local) == NULL)
                    return sw_err(l->err, l->err_len, f->name, p,
                                  "unresolved element {%s}%s", ns ? ns : "",
                                  local);
            } else if (!(ns && strcmp(ns, SW_NS_XSD) == 0) &&
                       !(ns && strcmp(ns, SW_NS_SOAPENC) == 0) &&
                       xsd_find(&l->pool, "complexType", ns, local) == NULL &&
                       xsd_find(&l->pool, "simpleType", ns, local) == NULL) {
                return sw_err(l->err, l->err_len, f->name, p,
                              "unresolved type {%s}%s", ns ? ns : "", local);
            }
        }
    }
    return 0;
}

/* Bodies, headers and faults are literal: answers are generated and
 * matched as plain XML, without the xsi:type attributes and multi-refs of
 * SOAP encoding, so an encoded binding is refused rather than mocked
 * wrongly. */
static int check_literal(link_t *l, const wfile_t *f, xmlNodePtr bop)
{
    for (xmlNodePtr io = bop->children; io; io = io->next) {
        if (!sw_is(io, SW_NS_WSDL, "input") && !sw_is(io, SW_NS_WSDL, "output") &&
            !sw_is(io, SW_NS_WSDL, "fault"))
            continue;
        for (xmlNodePtr b = io->children; b; b = b->next) {
            if (!sw_is(b, SW_NS_SOAP11, NULL) && !sw_is(b, SW_NS_SOAP12, NULL))
                continue;
            const char *use = sw_attr(b, "use");
            if (use && strcmp(use, "literal") != 0)
                return sw_err(l->err, l->err_len, f->name, b,
                              "operation \"%s\": soap %s use=\"%s\" is not "
                              "supported: only literal (document/literal or "
                              "rpc/literal)",
                              sw_attr(bop, "name") ? sw_attr(bop, "name") : "",
                              (const char *)b->name, use);
        }
    }
    return 0;
}

/* Every portType operation's messages and every binding's portType and
 * operations exist. */
static int check_port_types(link_t *l, const wfile_t *f)
{
    xmlNodePtr root = xmlDocGetRootElement(f->doc);
    int rc = 0;
    for (xmlNodePtr pt = root->children; pt; pt = pt->next) {
        if (sw_is(pt, SW_NS_WSDL, "portType")) {
            for (xmlNodePtr o = pt->children; o; o = o->next) {
                if (!sw_is(o, SW_NS_WSDL, "operation"))
                    continue;
                for (xmlNodePtr io = o->children; io; io = io->next)
                    if ((sw_is(io, SW_NS_WSDL, "input") ||
                         sw_is(io, SW_NS_WSDL, "output") ||
                         sw_is(io, SW_NS_WSDL, "fault")) &&
                        resolve(l, f->name, io, "message", "message", &rc) == NULL)
                        return rc;
            }
        } else if (sw_is(pt, SW_NS_WSDL, "binding")) {
            xmlNodePtr t = resolve(l, f->name, pt, "type", "portType", &rc);
            if (t == NULL)
                return rc;
            for (xmlNodePtr o = pt->children; o; o = o->next) {
                if (!sw_is(o, SW_NS_WSDL, "operation"))
                    continue;
                const char *on = sw_attr(o, "name");
                xmlNodePtr found = NULL;
                for (xmlNodePtr po = t->children; on && po && !found; po = po->next) {
                    const char *pn;
                    if (sw_is(po, SW_NS_WSDL, "operation") &&
                        (pn = sw_attr(po, "name")) && strcmp(pn, on) == 0)
                        found = po;
                }
                if (found == NULL)
                    return sw_err(l->err, l->err_len, f->name, o,
                                  "binding operation \"%s\" is not in portType "
                                  "\"%s\"",
                                  on ? on : "", sw_attr(t, "name"));
                if ((rc = check_literal(l, f, o)) < 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* "http://old:8080/ws/account?x" -> "/ws/account"; no path -> "/". */
static char *location_path(const char *loc)
{
    const char *p = loc;
    const char *scheme = strstr(loc, "://");
    if (scheme) {
        p = strchr(scheme + 3, '/');
        if (p == NULL)
            return strdup("/");
    } else if (loc[0] != '/') {
        return strdup("/");
    }
    size_t n = strcspn(p, "?#");
    if (n == 0)
        return strdup("/");
    return strndup(p, n);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_port(link_t *l, const char *path, const char *file)
{
    if (l->nports == l->capports) {
        size_t cap = l->capports ? l->capports * 2 : 8;
        port_t *p = realloc(l->ports, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        l->ports = p;
        l->capports = cap;
    }
    port_t *p = &l->ports[l->nports];
    p->path = strdup(path);
    p->file = strdup(file);
    if (p->path == NULL || p->file == NULL) {
        free(p->path);
        free(p->file);
        return -ENOMEM;
    }
    l->nports++;
    return 0;
}

static op_t *new_op(link_t *l)
{
    if (l->nops == l->capops) {
        size_t cap = l->capops ? l->capops * 2 : 16;
        op_t *o = realloc(l->ops, cap * sizeof(*o));
        if (o == NULL)
            return NULL;
        l->ops = o;
        l->capops = cap;
    }
    op_t *o = &l->ops[l->nops++];
    memset(o, 0, sizeof(*o));
    return o;
}

/* The first element of a Body for one direction of an operation:
 * document: the first part's element (or the part name for a type= part);
 * rpc: the operation name (+ "Response" for the answer) in the soap:body
 * namespace. */
static int body_element(link_t *l, xmlNodePtr pt_io, xmlNodePtr b_io, int rpc,
                        const char *opname, int output, const char *tns,
                        const char *soap_ns, char **ns, char **local,
                        xmlNodePtr *el, xmlNodePtr *msg)
{
    int rc = 0;
    *ns = *local = NULL;
    *el = *msg = NULL;
    if (pt_io == NULL)
        return 0;
    xmlNodePtr m = resolve(l, "", pt_io, "message", "message", &rc);
    if (m == NULL)
        return rc;
    *msg = m;
    if (rpc) {
        xmlNodePtr body = child(b_io, soap_ns, "body");
        const char *bns = body ? sw_attr(body, "namespace") : NULL;
        *ns = dup_or_null(bns && bns[0] ? bns : tns);
        size_t n = strlen(opname) + 9;
        *local = malloc(n);
        if (*local)
            snprintf(*local, n, "%s%s", opname, output ? "Response" : "");
        return *local ? 0 : -ENOMEM;
    }
    /* soap:body parts= may pick the part that goes in the Body. */
    xmlNodePtr body = child(b_io, soap_ns, "body");
    const char *parts = body ? sw_attr(body, "parts") : NULL;
    for (xmlNodePtr p = m->children; p; p = p->next) {
        if (!sw_is(p, SW_NS_WSDL, "part"))
            continue;
        const char *pname = sw_attr(p, "name");
        if (parts && parts[0] && pname) {
            size_t pl = strlen(pname);
            const char *hit = strstr(parts, pname);
            if (hit == NULL || (hit[pl] != '\0' && hit[pl] != ' '))
                continue;
        }
        const char *e = sw_attr(p, "element");
        const char *pns, *plocal;
        if (e && sw_qname(p, e, &pns, &plocal) == 0) {
            *el = xsd_find(&l->pool, "element", pns, plocal);
            *ns = dup_or_null(pns);
            *local = strdup(plocal);
        } else if (pname) {
            *local = strdup(pname);
        }
        break;
    }
    return 0;
}

static int add_ops_of_port(link_t *l, const wfile_t *f, xmlNodePtr svc,
                           xmlNodePtr port)
{
    int rc = 0;
    xmlNodePtr b = resolve(l, f->name, port, "binding", "binding", &rc);
    if (b == NULL)
        return rc;
    const char *soap_ns = SW_NS_SOAP11;
    int version = 11;
    xmlNodePtr sb = child(b, SW_NS_SOAP11, "binding");
    if (sb == NULL) {
        sb = child(b, SW_NS_SOAP12, "binding");
        soap_ns = SW_NS_SOAP12;
        version = 12;
    }
    if (sb == NULL)
        return 0; /* an HTTP or MIME binding: not SOAP */
    xmlNodePtr addr = child(port, soap_ns, "address");
    const char *loc = addr ? sw_attr(addr, "location") : NULL;
    char *path = location_path(loc ? loc : "");
    if (path == NULL)
        return -ENOMEM;
    rc = add_port(l, path, f->name);
    const char *bstyle = sw_attr(sb, "style");
    int prc = 0; /* resolved already by check_port_types */
    xmlNodePtr pt = resolve(l, f->name, b, "type", "portType", &prc);
    const char *tns = sw_tns(b);
    for (xmlNodePtr bo = b->children; rc == 0 && bo; bo = bo->next) {
        if (!sw_is(bo, SW_NS_WSDL, "operation"))
            continue;
        const char *on = sw_attr(bo, "name");
        xmlNodePtr po = NULL;
        for (xmlNodePtr c = pt ? pt->children : NULL; on && c && !po; c = c->next) {
            const char *pn;
            if (sw_is(c, SW_NS_WSDL, "operation") && (pn = sw_attr(c, "name")) &&
                strcmp(pn, on) == 0)
                po = c;
        }
        if (po == NULL)
            continue; /* reported by check_port_types */
        xmlNodePtr so = child(bo, soap_ns, "operation");
        const char *style = so ? sw_attr(so, "style") : NULL;
        if (style == NULL)
            style = bstyle;
        int rpc = style && strcmp(style, "rpc") == 0;
        const char *action = so ? sw_attr(so, "soapAction") : NULL;
        op_t *o = new_op(l);
        if (o == NULL) {
            rc = -ENOMEM;
            break;
        }
        soap_op_info_t *in = &o->info;
        in->service = dup_or_null(sw_attr(svc, "name"));
        in->port = dup_or_null(sw_attr(port, "name"));
        in->operation = strdup(on);
        in->action = strdup(action ? action : "");
        in->path = strdup(path);
        in->file = strdup(f->name);
        in->soap_version = version;
        in->rpc = rpc;
        char *ins, *inl, *outs, *outl;
        xmlNodePtr el, msg;
        rc = body_element(l, child(po, SW_NS_WSDL, "input"),
                          child(bo, SW_NS_WSDL, "input"), rpc, on, 0, tns,
                          soap_ns, &ins, &inl, &el, &msg);
        in->input_ns = ins;
        in->input_local = inl;
        if (rc == 0)
            rc = body_element(l, child(po, SW_NS_WSDL, "output"),
                              child(bo, SW_NS_WSDL, "output"), rpc, on, 1, tns,
                              soap_ns, &outs, &outl, &o->out_el, &o->out_msg);
        else
            outs = outl = NULL;
        in->output_ns = outs;
        in->output_local = outl;
        if (rc == 0 && (in->service == NULL || in->port == NULL ||
                        in->operation == NULL || in->action == NULL ||
                        in->path == NULL || in->file == NULL))
            rc = -ENOMEM;
    }
    free(path);
    if (rc == -ENOMEM)
        set_err(l->err, l->err_len, "%s:1:1: out of memory", f->name);
    return rc;
}

static int link_all(link_t *l)
{
    int rc = pool_build(&l->pool, l->files, l->n);
    if (rc < 0) {
        set_err(l->err, l->err_len, "out of memory");
        return -EINVAL;
    }
    for (size_t i = 0; i < l->n; i++) {
        imp_check_t ic = {l, l->files[i]};
        if ((rc = each_import(l->files[i], check_import, &ic)) != 0)
            return -EINVAL;
    }
    for (size_t i = 0; i < l->pool.n; i++)
        if (xsd_check_refs(&l->pool, l->pool.schemas[i], l->pool.files[i],
                           l->err, l->err_len) < 0)
            return -EINVAL;
    for (size_t i = 0; i < l->n; i++) {
        const wfile_t *f = l->files[i];
        if (!f->is_wsdl)
            continue;
        if (check_messages(l, f) < 0 || check_port_types(l, f) < 0)
            return -EINVAL;
        xmlNodePtr root = xmlDocGetRootElement(f->doc);
        for (xmlNodePtr svc = root->children; svc; svc = svc->next) {
            if (!sw_is(svc, SW_NS_WSDL, "service"))
                continue;
            for (xmlNodePtr p = svc->children; p; p = p->next)
                if (sw_is(p, SW_NS_WSDL, "port") &&
                    add_ops_of_port(l, f, svc, p) < 0)
                    return -EINVAL;
        }
    }
    return 0;
}

static void link_free(link_t *l)
{
    free(l->files);
    xsd_pool_clear(&l->pool);
    ops_free(l->ops, l->nops);
    ports_free(l->ports, l->nports);
}

/* Links files[] (minus `skip`, plus the staged ones replacing any of the
 * same name when `with_staged`); on success the set takes the new tables
 * and *l owns nothing the set uses. */
static int relink(soap_wsdl_set_t *s, int with_staged, const char *skip,
                  char *err, size_t err_len)
{
    link_t l;
    memset(&l, 0, sizeof(l));
    l.err = err;
    l.err_len = err_len;
    size_t total = s->nfiles + (with_staged ? s->nstaged : 0);
    l.files = calloc(total ? total : 1, sizeof(*l.files));
    if (l.files == NULL) {
        set_err(err, err_len, "out of memory");
        return -EINVAL;
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        if (skip && strcmp(s->files[i].name, skip) == 0)
            continue;
        int replaced = 0;
        for (size_t j = 0; with_staged && j < s->nstaged; j++)
            if (strcmp(s->staged[j].name, s->files[i].name) == 0)
                replaced = 1;
        if (!replaced)
            l.files[l.n++] = &s->files[i];
    }
    for (size_t j = 0; with_staged && j < s->nstaged; j++)
        l.files[l.n++] = &s->staged[j];
    if (link_all(&l) < 0) {
        link_free(&l);
        return -EINVAL;
    }
    /* Success: build the new file array in candidate order. */
    wfile_t *nf = calloc(l.n ? l.n : 1, sizeof(*nf));
    if (nf == NULL) {
        link_free(&l);
        set_err(err, err_len, "out of memory");
        return -EINVAL;
    }
    for (size_t i = 0; i < l.n; i++) {
        nf[i] = *l.files[i];
        memset(l.files[i], 0, sizeof(wfile_t)); /* moved */
    }
    for (size_t i = 0; i < s->nfiles; i++)
        wfile_free(&s->files[i]); /* the replaced and skipped ones */
    free(s->files);
    s->files = nf;
    s->nfiles = l.n;
    if (with_staged) {
        free(s->staged);
        s->staged = NULL;
        s->nstaged = 0;
    }
    ops_free(s->ops, s->nops);
    ports_free(s->ports, s->nports);
    s->ops = l.ops;
    s->nops = l.nops;
    s->ports = l.ports;
    s->nports = l.nports;
    l.ops = NULL;
    l.nops = 0;
    l.ports = NULL;
    l.nports = 0;
    /* The pool's nodes are the same; its file names moved into nf. */
    xsd_pool_clear(&s->pool);
    xsd_pool_clear(&l.pool);
    free(l.files);
    for (size_t i = 0; i < s->nfiles; i++) {
        wfile_t *fp = &s->files[i];
        if (pool_build(&s->pool, &fp, 1) < 0) {
            set_err(err, err_len, "out of memory");
            return -EINVAL;
        }
    }
    return 0;
}

int soap_wsdl_commit(soap_wsdl_set_t *s, int keep, char *err, size_t err_len)
{
    if (!keep || s->nstaged == 0) {
        staged_drop(s);
        return 0;
    }
    int rc = relink(s, 1, NULL, err, err_len);
    if (rc < 0)
        staged_drop(s);
    return rc;
}

typedef struct imp_find {
    const char *name;
} imp_find_t;

static int names_file(void *arg, xmlNodePtr n, const char *loc)
{
    (void)n;
    imp_find_t *f = arg;
    return names_same_file(loc, f->name);
}

int soap_wsdl_delete(soap_wsdl_set_t *s, const char *name, char *err,
                     size_t err_len)
{
    size_t i;
    for (i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].name, name) == 0)
            break;
    if (i == s->nfiles)
        return -ENOENT;
    imp_find_t f = {name};
    for (size_t j = 0; j < s->nfiles; j++)
        if (j != i && each_import(&s->files[j], names_file, &f)) {
            set_err(err, err_len, "%s: imported by %s", name, s->files[j].name);
            return -EBUSY;
        }
    /* A file may also be needed without an import naming it (a schema
     * referring to a namespace another file defines): the set without it
     * must still link. */
    char why[512] = "";
    if (relink(s, 0, name, why, sizeof(why)) < 0) {
        set_err(err, err_len, "%s: still needed: %s", name, why);
        return -EBUSY;
    }
    return 0;
}

/* ---- queries -------------------------------------------------------------- */

static int ns_eq(const char *a, const char *b)
{
    if (a == NULL || a[0] == '\0')
        return b == NULL || b[0] == '\0';
    return b != NULL && strcmp(a, b) == 0;
}

const soap_op_info_t *soap_wsdl_find(const soap_wsdl_set_t *s, const char *path,
                                     const char *action, const char *body_ns,
                                     const char *body_local)
{
    if (s == NULL)
        return NULL;
    if (action && action[0])
        for (size_t i = 0; i < s->nops; i++) {
            const soap_op_info_t *o = &s->ops[i].info;
            if ((path == NULL || strcmp(o->path, path) == 0) &&
                strcmp(o->action, action) == 0)
                return o;
        }
    if (body_local == NULL)
        return NULL;
    for (size_t i = 0; i < s->nops; i++) {
        const soap_op_info_t *o = &s->ops[i].info;
        if ((path == NULL || strcmp(o->path, path) == 0) && o->input_local &&
            strcmp(o->input_local, body_local) == 0 && ns_eq(o->input_ns, body_ns))
            return o;
    }
    return NULL;
}

const soap_op_info_t *soap_wsdl_lookup(const soap_wsdl_set_t *s,
                                       const char *service, const char *method)
{
    if (s == NULL || method == NULL)
        return NULL;
    for (size_t i = 0; i < s->nops; i++) {
        const soap_op_info_t *o = &s->ops[i].info;
        if ((service == NULL || service[0] == '\0' ||
             strcmp(o->service, service) == 0) &&
            strcmp(o->operation, method) == 0)
            return o;
    }
    return NULL;
}

int soap_wsdl_has_path(const soap_wsdl_set_t *s, const char *path)
{
    if (s == NULL || path == NULL)
        return 0;
    for (size_t i = 0; i < s->nports; i++)
        if (strcmp(s->ports[i].path, path) == 0)
            return 1;
    return 0;
}

static const wfile_t *file_named(const soap_wsdl_set_t *s, const char *name)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

static int rewrite_addresses(xmlNodePtr n, const char *base_url, int depth)
{
    if (depth > 64)
        return 0;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (sw_is(c, SW_NS_SOAP11, "address") || sw_is(c, SW_NS_SOAP12, "address")) {
            const char *loc = sw_attr(c, "location");
            char *path = location_path(loc ? loc : "");
            if (path == NULL)
                return -ENOMEM;
            size_t len = strlen(base_url) + strlen(path) + 1;
            char *url = malloc(len);
            if (url == NULL) {
                free(path);
                return -ENOMEM;
            }
            snprintf(url, len, "%s%s", base_url, path);
            xmlAttrPtr a = xmlSetProp(c, (const xmlChar *)"location",
                                      (const xmlChar *)url);
            free(url);
            free(path);
            if (a == NULL)
                return -ENOMEM;
        } else if (rewrite_addresses(c, base_url, depth + 1) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

/* The served WSDL carries the .xsd files it imports inline, in its
 * <types>: a client fetching <path>?wsdl has nothing else to fetch (doppel
 * serves no other file), and the schemaLocation attributes that named them
 * are dropped. Each file is inlined once; imports of those files follow. */
typedef struct inliner {
    const soap_wsdl_set_t *s;
    const char *done[MAX_FILES];
    size_t ndone;
    xmlNodePtr queue[MAX_FILES];
    size_t nqueue;
} inliner_t;

static void inline_imports_of(inliner_t *in, xmlNodePtr schema)
{
    for (xmlNodePtr c = schema->children; c; c = c->next) {
        if (!sw_is(c, SW_NS_XSD, "import") && !sw_is(c, SW_NS_XSD, "include"))
            continue;
        const char *loc = sw_attr(c, "schemaLocation");
        if (loc == NULL)
            continue;
        const wfile_t *f = NULL;
        for (size_t i = 0; i < in->s->nfiles && f == NULL; i++)
            if (!in->s->files[i].is_wsdl &&
                names_same_file(loc, in->s->files[i].name))
                f = &in->s->files[i];
        if (f == NULL)
            continue;
        xmlUnsetProp(c, (const xmlChar *)"schemaLocation");
        int seen = 0;
        for (size_t i = 0; i < in->ndone; i++)
            if (in->done[i] == f->name)
                seen = 1;
        if (seen || in->ndone == MAX_FILES)
            continue;
        in->done[in->ndone++] = f->name;
        in->queue[in->nqueue++] = xmlDocGetRootElement(f->doc);
    }
}

static int inline_schemas(const soap_wsdl_set_t *s, xmlDocPtr copy)
{
    xmlNodePtr root = xmlDocGetRootElement(copy);
    xmlNodePtr types = child(root, SW_NS_WSDL, "types");
    if (types == NULL)
        return 0;
    inliner_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->s = s;
    for (xmlNodePtr sc = types->children; sc; sc = sc->next)
        if (sw_is(sc, SW_NS_XSD, "schema"))
            inline_imports_of(in, sc);
    int rc = 0;
    for (size_t q = 0; q < in->nqueue; q++) {
        xmlNodePtr n = xmlDocCopyNode(in->queue[q], copy, 1);
        if (n == NULL || xmlAddChild(types, n) == NULL) {
            xmlFreeNode(n);
            rc = -ENOMEM;
            break;
        }
        inline_imports_of(in, n);
    }
    free(in);
    return rc;
}

char *soap_wsdl_serve(const soap_wsdl_set_t *s, const char *path,
                      const char *base_url, size_t *len)
{
    if (s == NULL || path == NULL || base_url == NULL)
        return NULL;
    const wfile_t *f = NULL;
    for (size_t i = 0; i < s->nports && f == NULL; i++)
        if (strcmp(s->ports[i].path, path) == 0)
            f = file_named(s, s->ports[i].file);
    if (f == NULL)
        return NULL;
    xmlDocPtr copy = xmlCopyDoc(f->doc, 1);
    if (copy == NULL)
        return NULL;
    char *out = NULL;
    if (inline_schemas(s, copy) == 0 &&
        rewrite_addresses((xmlNodePtr)copy, base_url, 0) == 0) {
        xmlChar *mem = NULL;
        int n = 0;
        xmlDocDumpMemory(copy, &mem, &n);
        if (mem && n >= 0) {
            out = malloc((size_t)n + 1);
            if (out) {
                memcpy(out, mem, (size_t)n);
                out[n] = '\0';
                if (len)
                    *len = (size_t)n;
            }
        }
        xmlFree(mem);
    }
    xmlFreeDoc(copy);
    return out;
}

static const op_t *op_of(const soap_wsdl_set_t *s, const soap_op_info_t *info)
{
    for (size_t i = 0; i < s->nops; i++)
        if (&s->ops[i].info == info)
            return &s->ops[i];
    return NULL;
}

json_t *soap_wsdl_sample(const soap_wsdl_set_t *s, const soap_op_info_t *info)
{
    if (s == NULL || info == NULL)
        return NULL;
    const op_t *o = op_of(s, info);
    if (o == NULL)
        return NULL;
    json_t *body;
    if (info->rpc)
        body = xsd_sample_body_rpc(&s->pool, info->output_ns,
                                   info->output_local ? info->output_local : "",
                                   o->out_msg);
    else if (o->out_el)
        body = xsd_sample_body_element(&s->pool, o->out_el);
    else
        body = json_object(); /* one-way, or a type= part: an empty Body */
    if (body == NULL)
        return NULL;
    return json_pack("{s:{s:o}}", "Envelope", "Body", body);
}

static void mock_id(const soap_op_info_t *o, const char *suffix, char *out,
                    size_t len)
{
    snprintf(out, len, "soap-%s-%s%s%s", o->service, o->operation,
             suffix ? "-" : "", suffix ? suffix : "");
    char *w = out;
    int dash = 0;
    for (const char *r = out; *r; r++) {
        unsigned char c = (unsigned char)*r;
        if (isalnum(c)) {
            *w++ = (char)tolower(c);
            dash = 0;
        } else if (!dash) {
            *w++ = '-';
            dash = 1;
        }
    }
    while (w > out && w[-1] == '-')
        w--;
    *w = '\0';
}

static json_t *id_in(json_t *arr, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
            return m;
    }
    return NULL;
}

json_t *soap_wsdl_mocks(const soap_wsdl_set_t *s, const char *name)
{
    if (s == NULL || name == NULL || file_named(s, name) == NULL)
        return NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < s->nops; i++) {
        const soap_op_info_t *o = &s->ops[i].info;
        if (strcmp(o->file, name) != 0)
            continue;
        char id[512];
        mock_id(o, NULL, id, sizeof(id));
        json_t *prev = id_in(arr, id);
        if (prev) {
            /* The same operation through a second binding: one mock serves
             * both when they share the address; another address gets its
             * own mock, named after the port. */
            const char *pp = json_string_value(
                json_object_get(json_object_get(prev, "soap"), "path"));
            if (pp && strcmp(pp, o->path) == 0)
                continue;
            mock_id(o, o->port, id, sizeof(id));
            if (id_in(arr, id))
                continue;
        }
        json_t *sample = soap_wsdl_sample(s, o);
        json_t *m = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:o}}", "id", id,
                              "soap", "service", o->service, "method",
                              o->operation, "action", o->action, "path", o->path,
                              "response", "payload",
                              sample ? sample : json_object());
        if (m == NULL || json_array_append_new(arr, m) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *qname_json(const char *ns, const char *local)
{
    if (local == NULL)
        return json_null();
    if (ns == NULL || ns[0] == '\0')
        return json_string(local);
    size_t n = strlen(ns) + strlen(local) + 3;
    char *b = malloc(n);
    if (b == NULL)
        return NULL;
    snprintf(b, n, "{%s}%s", ns, local);
    json_t *v = json_string(b);
    free(b);
    return v;
}

json_t *soap_wsdl_describe(const soap_wsdl_set_t *s)
{
    json_t *services = json_array(), *files = json_array();
    for (size_t i = 0; s && i < s->nfiles; i++)
        json_array_append_new(files, json_string(s->files[i].name));
    for (size_t i = 0; s && i < s->nops; i++) {
        const soap_op_info_t *o = &s->ops[i].info;
        json_t *svc = NULL, *e;
        size_t k;
        json_array_foreach(services, k, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "name")), o->service) == 0 &&
                strcmp(json_string_value(json_object_get(e, "file")), o->file) == 0)
                svc = e;
        }
        if (svc == NULL) {
            svc = json_pack("{s:s, s:s, s:[]}", "name", o->service, "file",
                            o->file, "operations");
            json_array_append_new(services, svc);
        }
        json_array_append_new(
            json_object_get(svc, "operations"),
            json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o}", "name",
                      o->operation, "port", o->port, "action", o->action,
                      "path", o->path, "soapVersion", o->soap_version, "style",
                      o->rpc ? "rpc" : "document", "input",
                      qname_json(o->input_ns, o->input_local), "output",
                      qname_json(o->output_ns, o->output_local)));
    }
    return json_pack("{s:o, s:o}", "services", services, "files", files);
}
