/*
 * SOAP envelopes, XML <-> JSON, faults and XPath (see soap_xml.h).
 */
#include "soap_xml.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

/* ---- buffer ------------------------------------------------------------- */

void soap_buf_add(soap_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > ((size_t)1 << 40)) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->ptr, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->ptr = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void soap_buf_str(soap_buf_t *b, const char *s)
{
    soap_buf_add(b, s, strlen(s));
}

void soap_buf_esc(soap_buf_t *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        default: break;
        }
        if (rep == NULL)
            continue;
        soap_buf_add(b, s + start, i - start);
        soap_buf_str(b, rep);
        start = i + 1;
    }
    soap_buf_add(b, s + start, n - start);
}

/* An attribute value: also tabs and line ends as references, which a
 * parser would otherwise normalise to spaces. */
static void buf_esc_attr(soap_buf_t *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '\t' ? "&#9;" : s[i] == '\n' ? "&#10;" : NULL;
        if (rep == NULL)
            continue;
        soap_buf_esc(b, s + start, i - start);
        soap_buf_str(b, rep);
        start = i + 1;
    }
    soap_buf_esc(b, s + start, n - start);
}

void soap_buf_free(soap_buf_t *b)
{
    free(b->ptr);
    memset(b, 0, sizeof(*b));
}

static void seterr(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
    if (err == NULL || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

/* ---- libxml2 set-up ------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void do_init(void)
{
    xmlInitParser();
}

void soap_xml_init(void)
{
    pthread_once(&init_once, do_init);
}

static void quiet_structured(void *ud, xmlErrorPtr e)
{
    (void)ud, (void)e;
}

static void quiet_generic(void *ud, const char *msg, ...)
{
    (void)ud, (void)msg;
}

/* libxml2's error handlers are per thread: every entry point silences the
 * calling thread's before it parses or evaluates anything. */
static void quiet_thread(void)
{
    soap_xml_init();
    xmlSetStructuredErrorFunc(NULL, quiet_structured);
    xmlSetGenericErrorFunc(NULL, quiet_generic);
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct parse_guard {
    int saw_dtd;
} parse_guard_t;

/* A DOCTYPE stops the parser before its internal subset (and whatever
 * entities it declares) is read. */
static void refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *eid,
                       const xmlChar *sid)
{
    (void)name, (void)eid, (void)sid;
    xmlParserCtxtPtr c = ctx;
    parse_guard_t *g = c->_private;
    if (g)
        g->saw_dtd = 1;
    xmlStopParser(c);
}

static int no_entities(void *ctx)
{
    (void)ctx;
    return 0;
}

static xmlEntityPtr no_entity(void *ctx, const xmlChar *name)
{
    /* only the five predefined entities exist */
    (void)ctx;
    return xmlGetPredefinedEntity(name);
}

#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOWARNING | XML_PARSE_NOERROR)

/* Parses text into a document; *code SOAP_E_* on failure. */
static xmlDocPtr parse_doc(const char *text, size_t len, size_t max_bytes,
                           int max_depth, int *code, char *err, size_t errlen)
{
    quiet_thread();
    *code = 0;
    if (max_bytes && len > max_bytes) {
        *code = SOAP_E_TOO_BIG;
        seterr(err, errlen, "the envelope is %zu bytes, over the limit of %zu",
               len, max_bytes);
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        *code = SOAP_E_TOO_BIG;
        seterr(err, errlen, "the document is too large");
        return NULL;
    }
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (c == NULL) {
        *code = SOAP_E_NOMEM;
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    parse_guard_t g = {0};
    c->_private = &g;
    c->sax->internalSubset = refuse_dtd;
    c->sax->externalSubset = NULL;
    c->sax->hasInternalSubset = no_entities;
    c->sax->hasExternalSubset = no_entities;
    c->sax->getEntity = no_entity;
    c->sax->getParameterEntity = NULL;
    c->sax->serror = quiet_structured;
    c->sax->warning = NULL;
    c->sax->error = NULL;
    c->vctxt.error = NULL;
    c->vctxt.warning = NULL;
    xmlDocPtr doc = xmlCtxtReadMemory(c, text, (int)len, NULL, NULL, PARSE_OPTS);
    if (g.saw_dtd) {
        if (doc)
            xmlFreeDoc(doc);
        xmlFreeParserCtxt(c);
        *code = SOAP_E_DTD;
        seterr(err, errlen, "a DOCTYPE is not allowed in SOAP messages");
        return NULL;
    }
    if (doc == NULL || !c->wellFormed || !c->nsWellFormed) {
        xmlErrorPtr e = xmlCtxtGetLastError(c);
        int deep = e && e->code == XML_ERR_INTERNAL_ERROR && e->message &&
                   strstr(e->message, "depth") != NULL;
        if (deep) {
            *code = SOAP_E_TOO_DEEP;
            seterr(err, errlen, "elements nest deeper than %d", max_depth);
        } else {
            *code = SOAP_E_MALFORMED;
            if (e && e->line > 0)
                seterr(err, errlen, "not well-formed XML at line %d, column %d",
                       e->line, e->int2);
            else
                seterr(err, errlen, "not well-formed XML");
        }
        if (doc)
            xmlFreeDoc(doc);
        xmlFreeParserCtxt(c);
        return NULL;
    }
    xmlFreeParserCtxt(c);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        xmlFreeDoc(doc);
        *code = SOAP_E_DTD;
        seterr(err, errlen, "a DOCTYPE is not allowed in SOAP messages");
        return NULL;
    }
    return doc;
}

/* Depth of the deepest element under n (n counting 1), stopping early
 * once past limit; iterative so that no document can exhaust the stack. */
static int too_deep(xmlNodePtr root, int limit)
{
    int depth = 1;
    xmlNodePtr n = root;
    if (limit <= 0)
        return 0;
    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && depth > limit)
            return 1;
        if (n->children != NULL && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            depth++;
            continue;
        }
        while (n != NULL && n->next == NULL && n != root) {
            n = n->parent;
            depth--;
        }
        if (n == NULL || n == root)
            break;
        n = n->next;
    }
    return 0;
}

static int is_ws(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

static int named(xmlNodePtr n, const char *local, const char *ns)
{
    return n && n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, local) == 0 && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0;
}

int soap_envelope_parse(const void *buf, size_t len, const soap_limits_t *lim,
                        soap_envelope_t *env, char *err, size_t errlen)
{
    memset(env, 0, sizeof(*env));
    int code = 0;
    int depth = lim && lim->max_depth > 0 ? lim->max_depth : 128;
    xmlDocPtr doc = parse_doc(buf, len, lim ? lim->max_bytes : 0, depth, &code,
                              err, errlen);
    if (doc == NULL)
        return code;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    int rc = 0;
    if (root == NULL || strcmp((const char *)root->name, "Envelope") != 0) {
        seterr(err, errlen, "the root element is not a SOAP Envelope");
        rc = SOAP_E_NOT_ENVELOPE;
        goto fail;
    }
    const char *ns = root->ns && root->ns->href ? (const char *)root->ns->href
                                                : "";
    if (strcmp(ns, SOAP11_NS) == 0) {
        env->version = 11;
    } else if (strcmp(ns, SOAP12_NS) == 0) {
        env->version = 12;
    } else {
        seterr(err, errlen,
               "the Envelope's namespace is neither SOAP 1.1's (" SOAP11_NS
               ") nor SOAP 1.2's (" SOAP12_NS ")");
        rc = SOAP_E_VERSION;
        goto fail;
    }
    if (too_deep(root, depth)) {
        seterr(err, errlen, "elements nest deeper than %d", depth);
        rc = SOAP_E_TOO_DEEP;
        goto fail;
    }
    /* Envelope: Header? Body, then (1.1 only) more elements; no text. */
    xmlNodePtr c = root->children;
    for (; c; c = c->next) {
        if (c->type == XML_TEXT_NODE && !is_ws(c->content)) {
            seterr(err, errlen, "text directly inside the Envelope");
            rc = SOAP_E_NO_BODY;
            goto fail;
        }
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (env->body == NULL && env->header == NULL &&
            named(c, "Header", ns)) {
            env->header = c;
        } else if (env->body == NULL && named(c, "Body", ns)) {
            env->body = c;
        } else if (env->body == NULL || env->version == 12) {
            seterr(err, errlen, "unexpected element %s in the Envelope "
                                "(expected Header then Body)",
                   (const char *)c->name);
            rc = SOAP_E_NO_BODY;
            goto fail;
        }
    }
    if (env->body == NULL) {
        seterr(err, errlen, "the Envelope has no Body");
        rc = SOAP_E_NO_BODY;
        goto fail;
    }
    for (c = ((xmlNodePtr)env->body)->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            env->first = c;
            env->first_local = (const char *)c->name;
            env->first_ns = c->ns && c->ns->href ? (const char *)c->ns->href
                                                 : NULL;
            break;
        }
    env->doc = doc;
    return 0;
fail:
    xmlFreeDoc(doc);
    memset(env, 0, sizeof(*env));
    return rc;
}

void soap_envelope_free(soap_envelope_t *env)
{
    if (env && env->doc)
        xmlFreeDoc(env->doc);
    if (env)
        memset(env, 0, sizeof(*env));
}

int soap_xml_check(const char *text, size_t len, int fragment, char *err,
                   size_t errlen)
{
    int code = 0;
    xmlDocPtr doc;
    if (!fragment) {
        doc = parse_doc(text, len, 0, 256, &code, err, errlen);
    } else {
        /* an XML declaration may not appear inside an element */
        soap_buf_t b = {0};
        soap_buf_str(&b, "<x>");
        soap_buf_add(&b, text, len);
        soap_buf_str(&b, "</x>");
        if (b.oom) {
            soap_buf_free(&b);
            seterr(err, errlen, "out of memory");
            return SOAP_E_NOMEM;
        }
        doc = parse_doc(b.ptr, b.len, 0, 256, &code, err, errlen);
        soap_buf_free(&b);
    }
    if (doc == NULL)
        return code;
    xmlFreeDoc(doc);
    return 0;
}

/* ---- XML -> JSON ---------------------------------------------------------- */

static json_t *element_json(xmlNodePtr e, int depth);

static void text_of(xmlNodePtr e, soap_buf_t *b, int *has_elem)
{
    for (xmlNodePtr c = e->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content)
                soap_buf_str(b, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE) {
            *has_elem = 1;
        }
    }
}

/* The trimmed text of b (a view into it). */
static const char *trimmed(soap_buf_t *b, size_t *n)
{
    const char *s = b->ptr ? b->ptr : "";
    size_t l = b->len;
    while (l && strchr(" \t\r\n", *s)) {
        s++;
        l--;
    }
    while (l && strchr(" \t\r\n", s[l - 1]))
        l--;
    *n = l;
    return s;
}

/* Adds v under name to obj, turning a repeated name into an array. */
static int add_member(json_t *obj, const char *name, json_t *v)
{
    if (v == NULL)
        return -1;
    json_t *old = json_object_get(obj, name);
    if (old == NULL)
        return json_object_set_new(obj, name, v);
    if (!json_is_array(old)) {
        json_t *arr = json_array();
        if (arr == NULL || json_array_append(arr, old) < 0 ||
            json_object_set_new(obj, name, arr) < 0) {
            json_decref(arr);
            json_decref(v);
            return -1;
        }
        old = arr;
    }
    return json_array_append_new(old, v);
}

static int children_into(json_t *obj, xmlNodePtr parent, int depth)
{
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (add_member(obj, (const char *)c->name, element_json(c, depth + 1)) < 0)
            return -1;
    }
    return 0;
}

static json_t *element_json(xmlNodePtr e, int depth)
{
    if (depth > 512)
        return json_null(); /* the parse bounds depth far below this */
    soap_buf_t b = {0};
    int has_elem = 0;
    text_of(e, &b, &has_elem);
    if (b.oom) {
        soap_buf_free(&b);
        return NULL;
    }
    if (e->properties == NULL && !has_elem) {
        json_t *s = json_stringn(b.ptr ? b.ptr : "", b.len);
        soap_buf_free(&b);
        return s;
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    for (xmlAttrPtr a = e->properties; a && rc == 0; a = a->next) {
        xmlChar *v = xmlNodeListGetString(e->doc, a->children, 1);
        char key[256];
        snprintf(key, sizeof(key), "@%s", (const char *)a->name);
        rc = json_object_set_new(o, key, json_string(v ? (char *)v : ""));
        xmlFree(v);
    }
    if (rc == 0)
        rc = children_into(o, e, depth);
    size_t tl = 0;
    const char *t = has_elem ? trimmed(&b, &tl) : (b.ptr ? b.ptr : "");
    if (!has_elem)
        tl = b.len;
    if (rc == 0 && tl > 0)
        rc = json_object_set_new(o, "#text", json_stringn(t, tl));
    soap_buf_free(&b);
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *soap_children_json(const void *parent)
{
    json_t *o = json_object();
    if (o == NULL || parent == NULL)
        return o;
    if (children_into(o, (xmlNodePtr)parent, 1) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- JSON -> XML ----------------------------------------------------------- */

/* An XML name, with at most one ':' between two non-empty parts. */
static int xml_name_ok(const char *s)
{
    int colons = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int start = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '_' || c >= 0x80;
        int more = start || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (c == ':') {
            if (++colons > 1 || i == 0 || i + 1 == n)
                return 0;
            continue;
        }
        if (i == 0 || s[i - 1] == ':' ? !start : !more)
            return 0;
    }
    return 1;
}

static const char *local_part(const char *name)
{
    const char *c = strchr(name, ':');
    return c ? c + 1 : name;
}

typedef struct emit {
    soap_buf_t *b;
    char *err;
    size_t errlen;
    char where[256];
} emit_t;

static int scalar_text(emit_t *m, const json_t *v, const char *field,
                       int attr)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (attr)
            buf_esc_attr(m->b, json_string_value(v), json_string_length(v));
        else
            soap_buf_esc(m->b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        soap_buf_str(m->b, num);
        return 0;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        soap_buf_str(m->b, num);
        return 0;
    case JSON_TRUE:
        soap_buf_str(m->b, "true");
        return 0;
    case JSON_FALSE:
        soap_buf_str(m->b, "false");
        return 0;
    case JSON_NULL:
        return 0;
    default:
        seterr(m->err, m->errlen, "%s: expected a string, number or boolean",
               field);
        return -EINVAL;
    }
}

static int emit_elem(emit_t *m, const char *name, const json_t *v,
                     const char *field, int depth);

/* Attributes of an object, then returns whether it has content. */
static int emit_attrs(emit_t *m, const json_t *o, const char *field,
                      const char *skip_xmlns)
{
    const char *k;
    json_t *v;
    char f[512];
    json_object_foreach((json_t *)o, k, v)
    {
        if (k[0] != '@')
            continue;
        snprintf(f, sizeof(f), "%s.%s", field, k);
        if (!xml_name_ok(k + 1)) {
            seterr(m->err, m->errlen, "%s: not a valid XML attribute name", f);
            return -EINVAL;
        }
        if (skip_xmlns && strcmp(k + 1, skip_xmlns) == 0)
            continue;
        if (json_is_object(v) || json_is_array(v)) {
            seterr(m->err, m->errlen, "%s: an attribute is a string, number "
                                      "or boolean", f);
            return -EINVAL;
        }
        soap_buf_str(m->b, " ");
        soap_buf_str(m->b, k + 1);
        soap_buf_str(m->b, "=\"");
        int rc = scalar_text(m, v, f, 1);
        if (rc < 0)
            return rc;
        soap_buf_str(m->b, "\"");
    }
    return 0;
}

static int emit_content(emit_t *m, const json_t *o, const char *field,
                        int depth)
{
    const char *k;
    json_t *v;
    char f[512];
    json_object_foreach((json_t *)o, k, v)
    {
        if (k[0] == '@')
            continue;
        snprintf(f, sizeof(f), "%s.%s", field, k);
        if (strcmp(k, "#text") == 0) {
            int rc = scalar_text(m, v, f, 0);
            if (rc < 0)
                return rc;
            continue;
        }
        int rc = emit_elem(m, k, v, f, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int emit_elem(emit_t *m, const char *name, const json_t *v,
                     const char *field, int depth)
{
    if (depth > 128) {
        seterr(m->err, m->errlen, "%s: nested deeper than 128", field);
        return -EINVAL;
    }
    if (!xml_name_ok(name)) {
        seterr(m->err, m->errlen, "%s: not a valid XML element name", field);
        return -EINVAL;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *it;
        char f[512];
        json_array_foreach(v, i, it)
        {
            snprintf(f, sizeof(f), "%s[%zu]", field, i);
            if (json_is_array(it)) {
                seterr(m->err, m->errlen, "%s: an array inside an array has "
                                          "no XML form", f);
                return -EINVAL;
            }
            int rc = emit_elem(m, name, it, f, depth);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    soap_buf_str(m->b, "<");
    soap_buf_str(m->b, name);
    int rc = 0;
    if (json_is_object(v)) {
        rc = emit_attrs(m, v, field, NULL);
        if (rc == 0) {
            soap_buf_str(m->b, ">");
            rc = emit_content(m, v, field, depth);
        }
    } else if (json_is_null(v)) {
        soap_buf_str(m->b, "/>");
        return 0;
    } else {
        soap_buf_str(m->b, ">");
        rc = scalar_text(m, v, field, 0);
    }
    if (rc < 0)
        return rc;
    soap_buf_str(m->b, "</");
    soap_buf_str(m->b, name);
    soap_buf_str(m->b, ">");
    return 0;
}

static const char *env_ns(int version)
{
    return version == 12 ? SOAP12_NS : SOAP11_NS;
}

/* The member of o whose local name is local (prefix ignored). */
static const json_t *member_local(const json_t *o, const char *local,
                                  const char **key)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (k[0] != '@' && strcmp(local_part(k), local) == 0) {
            if (key)
                *key = k;
            return v;
        }
    }
    return NULL;
}

static void env_open(soap_buf_t *b, int version)
{
    soap_buf_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                    "<soap:Envelope xmlns:soap=\"");
    soap_buf_str(b, env_ns(version));
    soap_buf_str(b, "\"");
}

int soap_json_to_envelope(const json_t *payload, int version, soap_buf_t *out,
                          char *err, size_t errlen)
{
    emit_t m = {.b = out, .err = err, .errlen = errlen};
    const json_t *envv = NULL, *hdr = NULL, *body = NULL;
    if (payload == NULL || json_is_null(payload)) {
        body = NULL;
    } else if (!json_is_object(payload)) {
        seterr(err, errlen, "response.payload: expected an XML string or an "
                            "object {\"Envelope\": {\"Body\": ...}}");
        return -EINVAL;
    } else if ((envv = member_local(payload, "Envelope", NULL)) != NULL) {
        if (!json_is_object(envv) || json_object_size(payload) != 1) {
            seterr(err, errlen, "response.payload.Envelope: expected an "
                                "object with Header and Body, alone in the "
                                "payload");
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)envv, k, v)
        {
            const char *l = local_part(k);
            if (k[0] != '@' && strcmp(l, "Header") && strcmp(l, "Body")) {
                seterr(err, errlen, "response.payload.Envelope.%s: an "
                                    "Envelope holds Header and Body only", k);
                return -EINVAL;
            }
        }
        hdr = member_local(envv, "Header", NULL);
        body = member_local(envv, "Body", NULL);
    } else {
        body = payload; /* the Body's content itself */
        envv = NULL;
    }
    env_open(out, version);
    int rc = envv ? emit_attrs(&m, envv, "response.payload.Envelope", "xmlns:soap")
                  : 0;
    soap_buf_str(out, ">");
    if (rc == 0 && hdr && !json_is_null(hdr)) {
        if (!json_is_object(hdr)) {
            seterr(err, errlen, "response.payload.Envelope.Header: expected "
                                "an object");
            return -EINVAL;
        }
        soap_buf_str(out, "<soap:Header");
        rc = emit_attrs(&m, hdr, "response.payload.Envelope.Header", "xmlns:soap");
        soap_buf_str(out, ">");
        if (rc == 0)
            rc = emit_content(&m, hdr, "response.payload.Envelope.Header", 2);
        soap_buf_str(out, "</soap:Header>");
    }
    const char *bf = envv ? "response.payload.Envelope.Body" : "response.payload";
    soap_buf_str(out, "<soap:Body");
    if (rc == 0 && json_is_object(body)) {
        rc = emit_attrs(&m, body, bf, "xmlns:soap");
        soap_buf_str(out, ">");
        if (rc == 0)
            rc = emit_content(&m, body, bf, 2);
    } else if (rc == 0 && json_is_string(body)) {
        /* raw XML for the Body's content, checked by the caller's parse */
        soap_buf_str(out, ">");
        soap_buf_add(out, json_string_value(body), json_string_length(body));
    } else if (rc == 0 && body != NULL && !json_is_null(body)) {
        seterr(err, errlen, "%s: expected an object (or raw XML text)", bf);
        rc = -EINVAL;
    } else {
        soap_buf_str(out, ">");
    }
    soap_buf_str(out, "</soap:Body></soap:Envelope>");
    if (rc < 0)
        return rc;
    if (out->oom) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* names are checked above; what is left to catch is an undeclared
     * prefix or raw XML that does not parse */
    char why[200];
    int crc = soap_xml_check(out->ptr, out->len, 0, why, sizeof(why));
    if (crc == SOAP_E_NOMEM) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (crc < 0) {
        seterr(err, errlen, "response.payload: the XML it makes is not "
                            "well-formed (%s; is every prefix declared with "
                            "\"@xmlns:p\"?)", why);
        return -EINVAL;
    }
    return 0;
}

/* Skips whitespace, an XML declaration, comments and PIs. */
static const char *skip_prolog(const char *s, const char *end)
{
    for (;;) {
        while (s < end && strchr(" \t\r\n", *s))
            s++;
        if (end - s >= 2 && s[0] == '<' && s[1] == '?') {
            const char *q = s + 2;
            while (q + 1 < end && !(q[0] == '?' && q[1] == '>'))
                q++;
            if (q + 1 >= end)
                return s;
            s = q + 2;
            continue;
        }
        if (end - s >= 4 && memcmp(s, "<!--", 4) == 0) {
            const char *q = s + 4;
            while (q + 2 < end && memcmp(q, "-->", 3) != 0)
                q++;
            if (q + 2 >= end)
                return s;
            s = q + 3;
            continue;
        }
        return s;
    }
}

int soap_xml_answer(const char *xml, size_t len, int *version, soap_buf_t *out,
                    char *err, size_t errlen)
{
    const char *end = xml + len;
    const char *s = skip_prolog(xml, end);
    const char *n = s < end && *s == '<' ? s + 1 : NULL;
    size_t nl = 0;
    while (n && n + nl < end && !strchr(" \t\r\n/>", n[nl]))
        nl++;
    const char *colon = n ? memchr(n, ':', nl) : NULL;
    const char *local = colon ? colon + 1 : n;
    size_t ll = n ? nl - (size_t)(local - n) : 0;
    if (n && ll == 8 && memcmp(local, "Envelope", 8) == 0) {
        soap_envelope_t env;
        char why[200];
        int rc = soap_envelope_parse(xml, len, NULL, &env, why, sizeof(why));
        if (rc == SOAP_E_NOMEM) {
            seterr(err, errlen, "out of memory");
            return -ENOMEM;
        }
        if (rc < 0) {
            seterr(err, errlen, "response.payload: %s", why);
            return -EINVAL;
        }
        *version = env.version;
        soap_envelope_free(&env);
        soap_buf_add(out, xml, len);
        return out->oom ? -ENOMEM : 0;
    }
    /* a fragment: the declaration (if any) goes, the rest into a Body */
    if (s > xml && end - xml >= 5 && memcmp(xml, "<?xml", 5) == 0)
        xml = s;
    len = (size_t)(end - xml);
    env_open(out, *version);
    soap_buf_str(out, "><soap:Body>");
    soap_buf_add(out, xml, len);
    soap_buf_str(out, "</soap:Body></soap:Envelope>");
    if (out->oom) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char why[200];
    int rc = soap_xml_check(out->ptr, out->len, 0, why, sizeof(why));
    if (rc < 0) {
        seterr(err, errlen, "response.payload: not well-formed XML (%s)", why);
        return rc == SOAP_E_NOMEM ? -ENOMEM : -EINVAL;
    }
    return 0;
}

/* ---- recorded answers --------------------------------------------------- */

static int envelope_ns(const xmlChar *href)
{
    return href && (strcmp((const char *)href, SOAP11_NS) == 0 ||
                    strcmp((const char *)href, SOAP12_NS) == 0);
}

/* Appends e as text that declares every namespace in scope at e: a copy
 * in a document of its own declares those the copy's names use (libxml2
 * finds them in the original tree), the rest are added so that QNames in
 * text and attribute values (xsi:type="xsd:int") still resolve. */
static int element_xml(xmlNodePtr e, soap_buf_t *out)
{
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr c = d ? xmlDocCopyNode(e, d, 1) : NULL;
    xmlBufferPtr b = c ? xmlBufferCreate() : NULL;
    int rc = -ENOMEM;
    if (b == NULL)
        goto out;
    xmlDocSetRootElement(d, c);
    xmlNsPtr *list = xmlGetNsList(e->doc, e);
    for (size_t i = 0; list && list[i]; i++)
        if (!envelope_ns(list[i]->href))
            (void)xmlNewNs(c, list[i]->href, list[i]->prefix); /* NULL:
                                          the copy declares the prefix */
    xmlFree(list);
    if (xmlNodeDump(b, d, c, 0, 0) < 0)
        goto out;
    soap_buf_add(out, (const char *)xmlBufferContent(b),
                 (size_t)xmlBufferLength(b));
    rc = out->oom ? -ENOMEM : 0;
out:
    if (b)
        xmlBufferFree(b);
    if (d)
        xmlFreeDoc(d);
    return rc;
}

static int content_xml(xmlNodePtr parent, soap_buf_t *out)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            if (element_xml(c, out) < 0)
                return -ENOMEM;
        } else if ((c->type == XML_TEXT_NODE ||
                    c->type == XML_CDATA_SECTION_NODE) &&
                   c->content && !is_ws(c->content)) {
            soap_buf_esc(out, (const char *)c->content,
                         strlen((const char *)c->content));
        }
    }
    return out->oom ? -ENOMEM : 0;
}

int soap_body_xml(const soap_envelope_t *env, soap_buf_t *out)
{
    return content_xml(env->body, out);
}

/* The first element child of n whose local name is local. */
static xmlNodePtr child_named(xmlNodePtr n, const char *local)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            strcmp((const char *)c->name, local) == 0)
            return c;
    return NULL;
}

/* The trimmed text content of n, malloc'd; NULL for no n. *oom set when
 * it cannot be allocated. */
static char *text_dup(xmlNodePtr n, int *oom)
{
    if (n == NULL)
        return NULL;
    xmlChar *t = xmlNodeGetContent(n);
    const char *s = t ? (const char *)t : "";
    while (*s && strchr(" \t\r\n", *s))
        s++;
    size_t l = strlen(s);
    while (l > 0 && strchr(" \t\r\n", s[l - 1]))
        l--;
    char *o = strndup(s, l);
    xmlFree(t);
    if (o == NULL)
        *oom = 1;
    return o;
}

int soap_fault_read(const soap_envelope_t *env, soap_fault_read_t *f)
{
    memset(f, 0, sizeof(*f));
    xmlNodePtr fe = env->first;
    if (!named(fe, "Fault", env->version == 12 ? SOAP12_NS : SOAP11_NS))
        return 0;
    int oom = 0;
    xmlNodePtr detail;
    if (env->version == 12) {
        f->code = text_dup(child_named(child_named(fe, "Code"), "Value"), &oom);
        f->string =
            text_dup(child_named(child_named(fe, "Reason"), "Text"), &oom);
        f->actor = text_dup(child_named(fe, "Role"), &oom);
        detail = child_named(fe, "Detail");
    } else {
        f->code = text_dup(child_named(fe, "faultcode"), &oom);
        f->string = text_dup(child_named(fe, "faultstring"), &oom);
        f->actor = text_dup(child_named(fe, "faultactor"), &oom);
        detail = child_named(fe, "detail");
    }
    if (detail) {
        soap_buf_t b = {0};
        if (content_xml(detail, &b) < 0 ||
            (f->detail = strdup(b.ptr ? b.ptr : "")) == NULL)
            oom = 1;
        soap_buf_free(&b);
    }
    if (oom) {
        soap_fault_read_free(f);
        return -ENOMEM;
    }
    return 1;
}

void soap_fault_read_free(soap_fault_read_t *f)
{
    free(f->code);
    free(f->string);
    free(f->actor);
    free(f->detail);
    memset(f, 0, sizeof(*f));
}

/* ---- faults ---------------------------------------------------------------- */

int soap_fault_code(const char *code, int version, char *out, size_t n)
{
    if (code == NULL || code[0] == '\0')
        code = "Server";
    const char *l = local_part(code);
    static const char *const known[] = {
        "Client",   "Server",         "Sender",
        "Receiver", "VersionMismatch", "MustUnderstand",
        "DataEncodingUnknown"};
    size_t base = strcspn(l, ".");
    const char *sub = l + base; /* "" or ".Suffix" */
    size_t k = 0, nk = sizeof(known) / sizeof(known[0]);
    for (; k < nk; k++)
        if (strlen(known[k]) == base && strncmp(known[k], l, base) == 0)
            break;
    if (k == nk || (sub[0] && !xml_name_ok(sub + 1)))
        return -EINVAL;
    const char *w = known[k];
    if (version == 12) {
        if (strcmp(w, "Client") == 0)
            w = "Sender";
        else if (strcmp(w, "Server") == 0)
            w = "Receiver";
        sub = ""; /* 1.2 subcodes need their own QName */
    } else {
        if (strcmp(w, "Sender") == 0 || strcmp(w, "DataEncodingUnknown") == 0)
            w = "Client";
        else if (strcmp(w, "Receiver") == 0)
            w = "Server";
    }
    int r = snprintf(out, n, "soap:%s%s", w, sub);
    return r > 0 && (size_t)r < n ? 0 : -EINVAL;
}

int soap_fault_status(const char *code, int version)
{
    if (version == 12 && code && strncmp(local_part(code), "Sender", 6) == 0)
        return 400;
    return 500;
}

int soap_fault_envelope(const soap_fault_t *f, int version, soap_buf_t *out,
                        char *err, size_t errlen)
{
    char code[128];
    if (soap_fault_code(f->code, version, code, sizeof(code)) < 0) {
        seterr(err, errlen, "soapFault.faultCode: expected soap:Client, "
                            "soap:Server (or Sender, Receiver, "
                            "VersionMismatch, MustUnderstand)");
        return -EINVAL;
    }
    if (f->detail && f->detail[0]) {
        char why[200];
        int rc = soap_xml_check(f->detail, strlen(f->detail), 1, why,
                                sizeof(why));
        if (rc < 0) {
            seterr(err, errlen, "soapFault.detail: not well-formed XML (%s)",
                   why);
            return rc == SOAP_E_NOMEM ? -ENOMEM : -EINVAL;
        }
    }
    const char *s = f->string ? f->string : "";
    env_open(out, version);
    soap_buf_str(out, "><soap:Body><soap:Fault>");
    if (version == 12) {
        soap_buf_str(out, "<soap:Code><soap:Value>");
        soap_buf_str(out, code);
        soap_buf_str(out, "</soap:Value></soap:Code><soap:Reason>"
                          "<soap:Text xml:lang=\"en\">");
        soap_buf_esc(out, s, strlen(s));
        soap_buf_str(out, "</soap:Text></soap:Reason>");
        if (f->actor && f->actor[0]) {
            soap_buf_str(out, "<soap:Role>");
            soap_buf_esc(out, f->actor, strlen(f->actor));
            soap_buf_str(out, "</soap:Role>");
        }
        if (f->detail && f->detail[0]) {
            soap_buf_str(out, "<soap:Detail>");
            soap_buf_str(out, f->detail);
            soap_buf_str(out, "</soap:Detail>");
        }
    } else {
        soap_buf_str(out, "<faultcode>");
        soap_buf_str(out, code);
        soap_buf_str(out, "</faultcode><faultstring>");
        soap_buf_esc(out, s, strlen(s));
        soap_buf_str(out, "</faultstring>");
        if (f->actor && f->actor[0]) {
            soap_buf_str(out, "<faultactor>");
            soap_buf_esc(out, f->actor, strlen(f->actor));
            soap_buf_str(out, "</faultactor>");
        }
        if (f->detail && f->detail[0]) {
            soap_buf_str(out, "<detail>");
            soap_buf_str(out, f->detail);
            soap_buf_str(out, "</detail>");
        }
    }
    soap_buf_str(out, "</soap:Fault></soap:Body></soap:Envelope>");
    if (out->oom) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

const char *soap_content_type(int version)
{
    return version == 12 ? "application/soap+xml; charset=utf-8"
                         : "text/xml; charset=utf-8";
}

/* ---- HTTP bits -------------------------------------------------------------- */

static int ieq_prefix(const char *s, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len >= l && strncasecmp(s, lit, l) == 0;
}

/* Copies a parameter value (token or quoted string) into out. */
static void param_value(const char *p, const char *end, char *out, size_t n)
{
    size_t o = 0;
    if (n == 0)
        return;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (o + 1 < n)
                out[o++] = *p;
            p++;
        }
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (o + 1 < n)
                out[o++] = *p;
            p++;
        }
    }
    out[o] = '\0';
}

int soap_content_version(const char *ct, size_t len, char *action, size_t n)
{
    if (action && n)
        action[0] = '\0';
    if (ct == NULL)
        return 0;
    const char *end = ct + len;
    while (ct < end && (*ct == ' ' || *ct == '\t'))
        ct++;
    const char *semi = memchr(ct, ';', (size_t)(end - ct));
    const char *te = semi ? semi : end;
    while (te > ct && (te[-1] == ' ' || te[-1] == '\t'))
        te--;
    size_t tl = (size_t)(te - ct);
    int v = 0;
    if (tl == 8 && ieq_prefix(ct, tl, "text/xml"))
        v = 11;
    else if (tl == 20 && ieq_prefix(ct, tl, "application/soap+xml"))
        v = 12;
    if (v != 12 || semi == NULL || action == NULL)
        return v;
    const char *p = semi;
    while (p && p < end) {
        p++; /* past ';' */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (ieq_prefix(p, (size_t)(end - p), "action=")) {
            param_value(p + 7, end, action, n);
            break;
        }
        /* to the next ';' outside a quoted string */
        int q = 0;
        while (p < end && (q || *p != ';')) {
            if (*p == '"')
                q = !q;
            else if (q && *p == '\\' && p + 1 < end)
                p++;
            p++;
        }
        if (p >= end)
            break;
    }
    return v;
}

void soap_action_unquote(const char *v, size_t len, char *out, size_t n)
{
    if (n == 0)
        return;
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    size_t l = len < n - 1 ? len : n - 1;
    memcpy(out, v, l);
    out[l] = '\0';
}

/* ---- XPath ------------------------------------------------------------------ */

static int register_ns(xmlXPathContextPtr x, const json_t *nsmap, char *err,
                       size_t errlen)
{
    const char *k;
    json_t *v;
    if (nsmap == NULL)
        return 0;
    json_object_foreach((json_t *)nsmap, k, v)
    {
        if (!json_is_string(v) || !xml_name_ok(k) || strchr(k, ':')) {
            seterr(err, errlen, "namespaces.%s: a prefix (an XML name "
                                "without ':') bound to a URI string", k);
            return -EINVAL;
        }
        if (xmlXPathRegisterNs(x, (const xmlChar *)k,
                               (const xmlChar *)json_string_value(v)) != 0) {
            seterr(err, errlen, "namespaces.%s: cannot be registered", k);
            return -EINVAL;
        }
    }
    return 0;
}

int soap_xpath_check(const char *expr, const json_t *nsmap, char *err,
                     size_t errlen)
{
    quiet_thread();
    if (expr == NULL || expr[0] == '\0' || strlen(expr) > 1024) {
        seterr(err, errlen, "an XPath expression of 1 to 1024 characters");
        return -EINVAL;
    }
    xmlXPathCompExprPtr comp = xmlXPathCompile((const xmlChar *)expr);
    if (comp == NULL) {
        seterr(err, errlen, "not a valid XPath 1.0 expression: %s", expr);
        return -EINVAL;
    }
    /* evaluating it once on an empty document finds undeclared prefixes */
    xmlDocPtr doc = xmlReadMemory("<x/>", 4, NULL, NULL, XML_PARSE_NONET);
    xmlXPathContextPtr x = doc ? xmlXPathNewContext(doc) : NULL;
    int rc = 0;
    if (x == NULL) {
        seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else {
        rc = register_ns(x, nsmap, err, errlen);
    }
    if (rc == 0) {
        x->node = xmlDocGetRootElement(doc);
        xmlXPathObjectPtr r = xmlXPathCompiledEval(comp, x);
        if (r == NULL) {
            seterr(err, errlen, "the XPath %s cannot be evaluated (a prefix "
                                "that soap.namespaces does not declare?)",
                   expr);
            rc = -EINVAL;
        }
        xmlXPathFreeObject(r);
    }
    if (x)
        xmlXPathFreeContext(x);
    if (doc)
        xmlFreeDoc(doc);
    xmlXPathFreeCompExpr(comp);
    return rc;
}

char *soap_xpath_string(const soap_envelope_t *env, const char *expr,
                        const json_t *nsmap)
{
    quiet_thread();
    if (env == NULL || env->doc == NULL)
        return NULL;
    xmlXPathContextPtr x = xmlXPathNewContext(env->doc);
    if (x == NULL)
        return NULL;
    char *out = NULL;
    if (register_ns(x, nsmap, NULL, 0) == 0) {
        x->node = xmlDocGetRootElement(env->doc);
        xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, x);
        int empty = r == NULL ||
                    (r->type == XPATH_NODESET &&
                     (r->nodesetval == NULL || r->nodesetval->nodeNr == 0));
        if (!empty) {
            xmlChar *s = xmlXPathCastToString(r);
            if (s) {
                out = strdup((const char *)s);
                xmlFree(s);
            }
        }
        xmlXPathFreeObject(r);
    }
    xmlXPathFreeContext(x);
    return out;
}

/* ---- XPath condition members ------------------------------------------------ */

/* FNV-1a of the namespaces, sorted by prefix: the same bindings give the
 * same key whatever the order they were written in. */
static uint32_t nsmap_hash(const json_t *nsmap)
{
    uint32_t h = 2166136261u;
    size_t n = json_is_object(nsmap) ? json_object_size(nsmap) : 0;
    const char *keys[64];
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)nsmap, key, v)
    {
        if (k < 64)
            keys[k++] = key;
    }
    (void)n;
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (size_t i = 0; i < k; i++) {
        const char *u = json_string_value(json_object_get(nsmap, keys[i]));
        for (const char *p = keys[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ '=') * 16777619u;
        for (const char *p = u ? u : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ ';') * 16777619u;
    }
    return h;
}

int soap_xpath_member(const char *expr, const json_t *nsmap, char *key,
                      size_t keylen, char *path, size_t pathlen)
{
    int w;
    if (json_is_object(nsmap) && json_object_size(nsmap) > 0)
        w = snprintf(key, keylen, "%s #%08x", expr, nsmap_hash(nsmap));
    else
        w = snprintf(key, keylen, "%s", expr);
    if (w < 0 || (size_t)w >= keylen)
        return -EINVAL;
    /* a bracketed key ends at its quote followed by ']' */
    char q = strstr(key, "\"]") == NULL ? '"' : '\'';
    if (q == '\'' && strstr(key, "']") != NULL)
        return -EINVAL;
    w = snprintf(path, pathlen, "$.__xpath[%c%s%c]", q, key, q);
    return w > 0 && (size_t)w < pathlen ? 0 : -EINVAL;
}

int soap_xpath_of_path(const char *path, char *out, size_t n)
{
    static const char pre[] = "$.__xpath[";
    size_t pl = sizeof(pre) - 1, l = strlen(path);
    if (l < pl + 4 || strncmp(path, pre, pl) != 0)
        return 0;
    char q = path[pl];
    if ((q != '"' && q != '\'') || path[l - 1] != ']' || path[l - 2] != q)
        return 0;
    size_t kl = l - pl - 3;
    const char *k = path + pl + 1;
    /* drop the " #xxxxxxxx" of the namespaces */
    if (kl > 10 && k[kl - 10] == ' ' && k[kl - 9] == '#' &&
        strspn(k + kl - 8, "0123456789abcdef") >= 8)
        kl -= 10;
    if (kl + 1 > n)
        return 0;
    memcpy(out, k, kl);
    out[kl] = '\0';
    return 1;
}
