/*
 * XSD for the SOAP plugin: global declarations looked up by QName, the
 * reference check a commit runs, and sample values generated from types.
 *
 * Samples show the shape of an answer, not its full range: the first
 * enumeration value, optional elements once, repeated elements once (as a
 * one-item array), the first branch of a choice, one lexical form per
 * built-in type moved into min/max/length bounds. Recursion through named
 * types stops at the second visit (an optional recursive element is left
 * out, a required one is an empty element), and a budget of members bounds
 * the sample of a hostile schema whose types fan out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soap_wsdl_internal.h"

#define GEN_MAX_DEPTH 32   /* nested elements in one sample */
#define GEN_MAX_MEMBERS 4000 /* elements and attributes in one sample */
#define GEN_MAX_STEPS 200000 /* declarations visited for one sample: groups
                                that refer to themselves twice would
                                otherwise branch without adding members */
#define GEN_MAX_NS 16      /* namespace prefixes declared on the Body */
#define SIMPLE_MAX_DEPTH 16 /* simple types derived from simple types */
#define VAL_MAX 256        /* a generated lexical value */

/* ---- XML helpers ---------------------------------------------------------- */

int sw_is(xmlNodePtr n, const char *ns, const char *local)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || n->ns == NULL ||
        n->ns->href == NULL || strcmp((const char *)n->ns->href, ns) != 0)
        return 0;
    return local == NULL || strcmp((const char *)n->name, local) == 0;
}

const char *sw_attr(xmlNodePtr n, const char *name)
{
    xmlAttrPtr a = xmlHasNsProp(n, (const xmlChar *)name, NULL);
    if (a == NULL)
        return NULL;
    /* With no DTD there are no entity references left in attribute
     * values: the value is one text node (or none, for ""). */
    if (a->children && a->children->type == XML_TEXT_NODE &&
        a->children->content)
        return (const char *)a->children->content;
    return "";
}

int sw_qname(xmlNodePtr ctx, const char *qn, const char **ns,
             const char **local)
{
    const char *colon = strchr(qn, ':');
    xmlNsPtr x;
    if (colon == NULL) {
        x = xmlSearchNs(ctx->doc, ctx, NULL);
        *local = qn;
    } else {
        char prefix[128];
        size_t pl = (size_t)(colon - qn);
        if (pl == 0 || pl >= sizeof(prefix))
            return -1;
        memcpy(prefix, qn, pl);
        prefix[pl] = '\0';
        x = xmlSearchNs(ctx->doc, ctx, (const xmlChar *)prefix);
        if (x == NULL)
            return -1;
        *local = colon + 1;
    }
    *ns = x && x->href && x->href[0] ? (const char *)x->href : NULL;
    return 0;
}

const char *sw_tns(xmlNodePtr n)
{
    for (; n != NULL && n->type == XML_ELEMENT_NODE; n = n->parent)
        if (sw_is(n, SW_NS_XSD, "schema") || sw_is(n, SW_NS_WSDL, "definitions")) {
            const char *t = sw_attr(n, "targetNamespace");
            return t && t[0] ? t : NULL;
        }
    return NULL;
}

int sw_err(char *err, size_t err_len, const char *file, xmlNodePtr n,
           const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return -EINVAL;
    int k = snprintf(err, err_len, "%s:%ld:1: ", file,
                     n ? xmlGetLineNo(n) : 0L);
    if (k > 0 && (size_t)k < err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, err_len - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int same_ns(const char *a, const char *b)
{
    if (a == NULL || a[0] == '\0')
        return b == NULL || b[0] == '\0';
    return b != NULL && strcmp(a, b) == 0;
}

static xmlNodePtr schema_of(xmlNodePtr n)
{
    for (; n != NULL && n->type == XML_ELEMENT_NODE; n = n->parent)
        if (sw_is(n, SW_NS_XSD, "schema"))
            return n;
    return NULL;
}

/* ---- the pool ------------------------------------------------------------- */

int xsd_pool_add(xsd_pool_t *p, xmlNodePtr schema, const char *file)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        xmlNodePtr *s = realloc(p->schemas, cap * sizeof(*s));
        if (s == NULL)
            return -ENOMEM;
        p->schemas = s;
        const char **f = realloc(p->files, cap * sizeof(*f));
        if (f == NULL)
            return -ENOMEM;
        p->files = f;
        p->cap = cap;
    }
    p->schemas[p->n] = schema;
    p->files[p->n] = file;
    p->n++;
    return 0;
}

void xsd_pool_clear(xsd_pool_t *p)
{
    free(p->schemas);
    free(p->files);
    memset(p, 0, sizeof(*p));
}

static xmlNodePtr find_in(xmlNodePtr schema, const char *kind, const char *local)
{
    for (xmlNodePtr c = schema->children; c; c = c->next) {
        if (!sw_is(c, SW_NS_XSD, kind))
            continue;
        const char *name = sw_attr(c, "name");
        if (name && strcmp(name, local) == 0)
            return c;
    }
    return NULL;
}

xmlNodePtr xsd_find(const xsd_pool_t *p, const char *kind, const char *ns,
                    const char *local)
{
    xmlNodePtr hit;
    for (size_t i = 0; i < p->n; i++)
        if (same_ns(sw_tns(p->schemas[i]), ns) &&
            (hit = find_in(p->schemas[i], kind, local)) != NULL)
            return hit;
    /* A schema without a targetNamespace that another includes takes the
     * includer's ("chameleon"): it answers for any, after the schemas of
     * that very namespace. */
    if (ns != NULL)
        for (size_t i = 0; i < p->n; i++)
            if (sw_tns(p->schemas[i]) == NULL &&
                (hit = find_in(p->schemas[i], kind, local)) != NULL)
                return hit;
    return NULL;
}

/* ---- built-in types ------------------------------------------------------- */

enum { K_STRING, K_INT, K_DEC, K_OTHER };

typedef struct builtin {
    const char *name;
    const char *sample;
    int kind;
} builtin_t;

static const builtin_t BUILTINS[] = {
    {"string", "string", K_STRING},
    {"normalizedString", "string", K_STRING},
    {"token", "token", K_STRING},
    {"language", "en", K_STRING},
    {"Name", "name", K_STRING},
    {"NCName", "name", K_STRING},
    {"ID", "id1", K_STRING},
    {"IDREF", "id1", K_STRING},
    {"IDREFS", "id1", K_STRING},
    {"ENTITY", "entity", K_STRING},
    {"ENTITIES", "entity", K_STRING},
    {"NMTOKEN", "token", K_STRING},
    {"NMTOKENS", "token", K_STRING},
    {"QName", "name", K_OTHER},
    {"NOTATION", "name", K_OTHER},
    {"anyURI", "http://example.com/", K_OTHER},
    {"boolean", "true", K_OTHER},
    {"decimal", "0.0", K_DEC},
    {"float", "0.0", K_DEC},
    {"double", "0.0", K_DEC},
    {"integer", "0", K_INT},
    {"long", "0", K_INT},
    {"int", "0", K_INT},
    {"short", "0", K_INT},
    {"byte", "0", K_INT},
    {"nonNegativeInteger", "0", K_INT},
    {"nonPositiveInteger", "0", K_INT},
    {"positiveInteger", "1", K_INT},
    {"negativeInteger", "-1", K_INT},
    {"unsignedLong", "0", K_INT},
    {"unsignedInt", "0", K_INT},
    {"unsignedShort", "0", K_INT},
    {"unsignedByte", "0", K_INT},
    {"date", "2024-01-01", K_OTHER},
    {"dateTime", "2024-01-01T00:00:00Z", K_OTHER},
    {"time", "00:00:00", K_OTHER},
    {"duration", "PT0S", K_OTHER},
    {"gYear", "2024", K_OTHER},
    {"gYearMonth", "2024-01", K_OTHER},
    {"gMonth", "--01", K_OTHER},
    {"gDay", "---01", K_OTHER},
    {"gMonthDay", "--01-01", K_OTHER},
    {"base64Binary", "ZG9wcGVs", K_OTHER},
    {"hexBinary", "00", K_OTHER},
    {"anyType", "", K_OTHER},
    {"anySimpleType", "", K_OTHER},
};

static const builtin_t *builtin(const char *local)
{
    for (size_t i = 0; i < sizeof(BUILTINS) / sizeof(BUILTINS[0]); i++)
        if (strcmp(BUILTINS[i].name, local) == 0)
            return &BUILTINS[i];
    return NULL;
}

/* ---- reference check ------------------------------------------------------ */

/* Namespaces whose names a WSDL may use without defining them here (SOAP
 * encoding arrays, wsdl:arrayType attributes). */
static int external_ns(const char *ns)
{
    return ns && (strcmp(ns, SW_NS_SOAPENC) == 0 ||
                  strcmp(ns, SW_NS_WSDL) == 0 ||
                  strcmp(ns, "http://www.w3.org/XML/1998/namespace") == 0);
}

static int check_one(const xsd_pool_t *p, xmlNodePtr n, const char *qn,
                     const char *kind1, const char *kind2, const char *file,
                     char *err, size_t err_len)
{
    const char *ns, *local;
    if (sw_qname(n, qn, &ns, &local) < 0)
        return sw_err(err, err_len, file, n,
                      "\"%s\": namespace prefix not declared", qn);
    if (external_ns(ns))
        return 0;
    if (ns != NULL && strcmp(ns, SW_NS_XSD) == 0 &&
        (strcmp(kind1, "complexType") == 0 || strcmp(kind1, "simpleType") == 0)) {
        if (builtin(local) != NULL)
            return 0;
        return sw_err(err, err_len, file, n, "unknown built-in type xsd:%s",
                      local);
    }
    if (xsd_find(p, kind1, ns, local) ||
        (kind2 && xsd_find(p, kind2, ns, local)))
        return 0;
    return sw_err(err, err_len, file, n, "unresolved %s {%s}%s",
                  strcmp(kind1, "complexType") == 0 ? "type" : kind1,
                  ns ? ns : "", local);
}

static int check_node(const xsd_pool_t *p, xmlNodePtr n, const char *file,
                      char *err, size_t err_len, int depth)
{
    if (depth > 256)
        return sw_err(err, err_len, file, n, "schema nested too deeply");
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (c->ns && sw_is(c, SW_NS_XSD, NULL)) {
            const char *name = (const char *)c->name;
            const char *v;
            int rc = 0;
            if ((strcmp(name, "element") == 0 || strcmp(name, "attribute") == 0) &&
                (v = sw_attr(c, "type")) != NULL)
                rc = check_one(p, c, v, "complexType", "simpleType", file,
                               err, err_len);
            if (rc == 0 && (v = sw_attr(c, "ref")) != NULL &&
                (strcmp(name, "element") == 0 || strcmp(name, "attribute") == 0 ||
                 strcmp(name, "group") == 0 || strcmp(name, "attributeGroup") == 0))
                rc = check_one(p, c, v, name, NULL, file, err, err_len);
            if (rc == 0 && (v = sw_attr(c, "base")) != NULL &&
                (strcmp(name, "extension") == 0 || strcmp(name, "restriction") == 0))
                rc = check_one(p, c, v, "complexType", "simpleType", file,
                               err, err_len);
            if (rc == 0 && strcmp(name, "list") == 0 &&
                (v = sw_attr(c, "itemType")) != NULL)
                rc = check_one(p, c, v, "simpleType", NULL, file, err, err_len);
            if (rc == 0 && strcmp(name, "union") == 0 &&
                (v = sw_attr(c, "memberTypes")) != NULL) {
                char tok[256];
                const char *s = v;
                while (rc == 0 && *s) {
                    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                        s++;
                    size_t l = strcspn(s, " \t\r\n");
                    if (l == 0)
                        break;
                    if (l >= sizeof(tok))
                        return sw_err(err, err_len, file, c,
                                      "memberTypes entry too long");
                    memcpy(tok, s, l);
                    tok[l] = '\0';
                    rc = check_one(p, c, tok, "simpleType", NULL, file, err,
                                   err_len);
                    s += l;
                }
            }
            if (rc < 0)
                return rc;
        }
        int rc = check_node(p, c, file, err, err_len, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int xsd_check_refs(const xsd_pool_t *p, xmlNodePtr schema, const char *file,
                   char *err, size_t err_len)
{
    return check_node(p, schema, file, err, err_len, 0);
}

/* ---- simple values -------------------------------------------------------- */

typedef struct gen {
    const xsd_pool_t *pool;
    json_t *body;             /* gets the "@xmlns:nsN" members */
    const char *ns[GEN_MAX_NS];
    int nns;
    int members;
    long steps;
    int depth;
    xmlNodePtr stack[GEN_MAX_DEPTH + 1]; /* complex types being expanded */
    int nstack;
} gen_t;

static int simple_of(gen_t *g, xmlNodePtr st, char *out, int depth);

/* One more declaration visited; 0 once the sample's budget is spent. */
static int step(gen_t *g)
{
    return ++g->steps <= GEN_MAX_STEPS && g->members < GEN_MAX_MEMBERS;
}

static void set_val(char *out, const char *v)
{
    snprintf(out, VAL_MAX, "%s", v);
}

/* The sample of type QName qn (resolved at ctx): a built-in or a named
 * simple type. Complex types have no simple value: "". */
static int simple_of_qname(gen_t *g, xmlNodePtr ctx, const char *qn, char *out,
                           int depth)
{
    const char *ns, *local;
    set_val(out, "");
    if (sw_qname(ctx, qn, &ns, &local) < 0)
        return K_OTHER;
    if (ns && strcmp(ns, SW_NS_XSD) == 0) {
        const builtin_t *b = builtin(local);
        set_val(out, b ? b->sample : "string");
        return b ? b->kind : K_STRING;
    }
    xmlNodePtr st = xsd_find(g->pool, "simpleType", ns, local);
    if (st)
        return simple_of(g, st, out, depth + 1);
    return K_OTHER;
}

static xmlNodePtr first_child(xmlNodePtr n, const char *local)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (sw_is(c, SW_NS_XSD, local))
            return c;
    return NULL;
}

/* Moves a sample into the facets of a restriction. */
static void apply_facets(xmlNodePtr r, char *out, int kind)
{
    xmlNodePtr f;
    const char *v;
    if ((f = first_child(r, "minInclusive")) && (v = sw_attr(f, "value")))
        set_val(out, v);
    else if ((f = first_child(r, "minExclusive")) && (v = sw_attr(f, "value"))) {
        if (kind == K_INT)
            snprintf(out, VAL_MAX, "%lld", strtoll(v, NULL, 10) + 1);
        else if (kind == K_DEC)
            snprintf(out, VAL_MAX, "%.1f", strtod(v, NULL) + 1);
        else
            set_val(out, v);
    } else if (kind == K_INT || kind == K_DEC) {
        double cur = strtod(out, NULL);
        if ((f = first_child(r, "maxInclusive")) && (v = sw_attr(f, "value")) &&
            strtod(v, NULL) < cur)
            set_val(out, v);
        else if ((f = first_child(r, "maxExclusive")) &&
                 (v = sw_attr(f, "value")) && strtod(v, NULL) <= cur) {
            if (kind == K_INT)
                snprintf(out, VAL_MAX, "%lld", strtoll(v, NULL, 10) - 1);
            else
                snprintf(out, VAL_MAX, "%.1f", strtod(v, NULL) - 1);
        }
    }
    long want_min = -1, want_max = -1;
    if ((f = first_child(r, "length")) && (v = sw_attr(f, "value")))
        want_min = want_max = strtol(v, NULL, 10);
    if ((f = first_child(r, "minLength")) && (v = sw_attr(f, "value")))
        want_min = strtol(v, NULL, 10);
    if ((f = first_child(r, "maxLength")) && (v = sw_attr(f, "value")))
        want_max = strtol(v, NULL, 10);
    if (kind != K_STRING)
        return;
    size_t len = strlen(out);
    if (want_min > 0 && (size_t)want_min > len) {
        size_t to = (size_t)want_min < VAL_MAX - 1 ? (size_t)want_min : VAL_MAX - 1;
        memset(out + len, 'x', to - len);
        out[to] = '\0';
        len = to;
    }
    if (want_max >= 0 && (size_t)want_max < len)
        out[want_max] = '\0';
}

static int simple_of(gen_t *g, xmlNodePtr st, char *out, int depth)
{
    set_val(out, "");
    if (depth > SIMPLE_MAX_DEPTH)
        return K_OTHER;
    xmlNodePtr r = first_child(st, "restriction");
    if (r) {
        xmlNodePtr e = first_child(r, "enumeration");
        const char *v;
        if (e && (v = sw_attr(e, "value"))) {
            set_val(out, v);
            return K_OTHER;
        }
        int kind = K_OTHER;
        const char *base = sw_attr(r, "base");
        xmlNodePtr inl = first_child(r, "simpleType");
        if (base)
            kind = simple_of_qname(g, r, base, out, depth);
        else if (inl)
            kind = simple_of(g, inl, out, depth + 1);
        apply_facets(r, out, kind);
        return kind;
    }
    xmlNodePtr l = first_child(st, "list");
    if (l) {
        const char *it = sw_attr(l, "itemType");
        if (it)
            return simple_of_qname(g, l, it, out, depth);
        xmlNodePtr inl = first_child(l, "simpleType");
        return inl ? simple_of(g, inl, out, depth + 1) : K_OTHER;
    }
    xmlNodePtr u = first_child(st, "union");
    if (u) {
        const char *mt = sw_attr(u, "memberTypes");
        if (mt) {
            char tok[256];
            while (*mt == ' ' || *mt == '\t' || *mt == '\n' || *mt == '\r')
                mt++;
            size_t n = strcspn(mt, " \t\r\n");
            if (n > 0 && n < sizeof(tok)) {
                memcpy(tok, mt, n);
                tok[n] = '\0';
                return simple_of_qname(g, u, tok, out, depth);
            }
        }
        xmlNodePtr inl = first_child(u, "simpleType");
        return inl ? simple_of(g, inl, out, depth + 1) : K_OTHER;
    }
    return K_OTHER;
}

/* ---- complex values ------------------------------------------------------- */

/* The prefix for namespace ns, declared on the Body the first time; NULL
 * for no namespace (or past GEN_MAX_NS, where the name goes unqualified
 * rather than the sample growing without bound). */
static const char *prefix_for(gen_t *g, const char *ns, char *buf, size_t len)
{
    if (ns == NULL || ns[0] == '\0')
        return NULL;
    int i;
    for (i = 0; i < g->nns; i++)
        if (strcmp(g->ns[i], ns) == 0)
            break;
    if (i == g->nns) {
        if (g->nns == GEN_MAX_NS)
            return NULL;
        g->ns[g->nns++] = ns;
        char key[32];
        snprintf(key, sizeof(key), "@xmlns:ns%d", i + 1);
        json_object_set_new(g->body, key, json_string(ns));
    }
    snprintf(buf, len, "ns%d", i + 1);
    return buf;
}

static void qkey(gen_t *g, const char *ns, const char *local, const char *at,
                 char *out, size_t len)
{
    char pb[16];
    const char *p = prefix_for(g, ns, pb, sizeof(pb));
    if (p)
        snprintf(out, len, "%s%s:%s", at, p, local);
    else
        snprintf(out, len, "%s%s", at, local);
}

/* Adds key: v to obj; a key that is already there (the same element twice
 * in a sequence) becomes an array of the values. */
static void add_member(json_t *obj, const char *key, json_t *v)
{
    json_t *old = json_object_get(obj, key);
    if (old == NULL) {
        json_object_set_new(obj, key, v);
    } else if (json_is_array(old)) {
        json_array_append_new(old, v);
    } else {
        json_t *a = json_array();
        json_array_append(a, old);
        json_array_append_new(a, v);
        json_object_set_new(obj, key, a);
    }
}

static int on_stack(const gen_t *g, xmlNodePtr t)
{
    for (int i = 0; i < g->nstack; i++)
        if (g->stack[i] == t)
            return 1;
    return 0;
}

static void content_of(gen_t *g, json_t *obj, xmlNodePtr n, char *text,
                       int *has_text);
static json_t *complex_of(gen_t *g, xmlNodePtr ct);

static int is_qualified(xmlNodePtr decl, const char *form_default_attr)
{
    const char *form = sw_attr(decl, "form");
    if (form)
        return strcmp(form, "qualified") == 0;
    xmlNodePtr s = schema_of(decl);
    const char *d = s ? sw_attr(s, form_default_attr) : NULL;
    return d && strcmp(d, "qualified") == 0;
}

/* The complex type an element declaration expands, if any (to detect
 * recursion before descending). */
static xmlNodePtr complex_type_of(gen_t *g, xmlNodePtr decl)
{
    const char *t = sw_attr(decl, "type");
    if (t) {
        const char *ns, *local;
        if (sw_qname(decl, t, &ns, &local) < 0)
            return NULL;
        return xsd_find(g->pool, "complexType", ns, local);
    }
    return first_child(decl, "complexType");
}

static json_t *value_of_decl(gen_t *g, xmlNodePtr decl)
{
    const char *v;
    if ((v = sw_attr(decl, "fixed")) || (v = sw_attr(decl, "default")))
        return json_string(v);
    xmlNodePtr ct = complex_type_of(g, decl);
    if (ct)
        return complex_of(g, ct);
    char buf[VAL_MAX];
    const char *t = sw_attr(decl, "type");
    if (t) {
        simple_of_qname(g, decl, t, buf, 0);
        return json_string(buf);
    }
    xmlNodePtr st = first_child(decl, "simpleType");
    if (st) {
        simple_of(g, st, buf, 0);
        return json_string(buf);
    }
    return json_string("");
}

static int repeated(xmlNodePtr n)
{
    const char *m = sw_attr(n, "maxOccurs");
    return m && (strcmp(m, "unbounded") == 0 || strtol(m, NULL, 10) > 1);
}

static int absent(xmlNodePtr n)
{
    const char *m = sw_attr(n, "maxOccurs");
    return m && strcmp(m, "0") == 0;
}

static int optional(xmlNodePtr n)
{
    const char *m = sw_attr(n, "minOccurs");
    return m && strcmp(m, "0") == 0;
}

/* One xsd:element particle (local, or ref= to a global one) into obj. */
static void element_into(gen_t *g, json_t *obj, xmlNodePtr el)
{
    if (absent(el) || !step(g))
        return;
    xmlNodePtr decl = el;
    const char *ns = NULL, *name;
    const char *ref = sw_attr(el, "ref");
    if (ref) {
        const char *rns, *local;
        if (sw_qname(el, ref, &rns, &local) < 0)
            return;
        decl = xsd_find(g->pool, "element", rns, local);
        if (decl == NULL)
            return;
        ns = sw_tns(decl);
        name = sw_attr(decl, "name");
    } else {
        name = sw_attr(el, "name");
        if (sw_is(el->parent, SW_NS_XSD, "schema") ||
            is_qualified(el, "elementFormDefault"))
            ns = sw_tns(el);
    }
    if (name == NULL)
        return;
    json_t *v;
    xmlNodePtr ct = complex_type_of(g, decl);
    if (ct && (on_stack(g, ct) || g->depth >= GEN_MAX_DEPTH)) {
        if (optional(el))
            return;
        v = json_object();
    } else {
        g->depth++;
        v = value_of_decl(g, decl);
        g->depth--;
    }
    if (v == NULL)
        return;
    g->members++;
    if (repeated(el)) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    char key[512];
    qkey(g, ns, name, "", key, sizeof(key));
    add_member(obj, key, v);
}

static void particle_into(gen_t *g, json_t *obj, xmlNodePtr p, int depth);

static void group_into(gen_t *g, json_t *obj, xmlNodePtr grp, int depth)
{
    const char *ref = sw_attr(grp, "ref");
    const char *ns, *local;
    if (!step(g) || depth > GEN_MAX_DEPTH || ref == NULL ||
        sw_qname(grp, ref, &ns, &local) < 0)
        return;
    xmlNodePtr def = xsd_find(g->pool, "group", ns, local);
    if (def == NULL)
        return;
    for (xmlNodePtr c = def->children; c; c = c->next)
        if (sw_is(c, SW_NS_XSD, "sequence") || sw_is(c, SW_NS_XSD, "all") ||
            sw_is(c, SW_NS_XSD, "choice"))
            particle_into(g, obj, c, depth + 1);
}

/* One child of a sequence/all/choice: element, nested model group, group
 * reference (any is skipped: nothing to show). */
static void item_into(gen_t *g, json_t *obj, xmlNodePtr c, int depth)
{
    if (sw_is(c, SW_NS_XSD, "element"))
        element_into(g, obj, c);
    else if (sw_is(c, SW_NS_XSD, "sequence") || sw_is(c, SW_NS_XSD, "choice") ||
             sw_is(c, SW_NS_XSD, "all"))
        particle_into(g, obj, c, depth + 1);
    else if (sw_is(c, SW_NS_XSD, "group"))
        group_into(g, obj, c, depth);
}

static void particle_into(gen_t *g, json_t *obj, xmlNodePtr p, int depth)
{
    if (depth > GEN_MAX_DEPTH || absent(p) || !step(g))
        return;
    int choice = sw_is(p, SW_NS_XSD, "choice");
    for (xmlNodePtr c = p->children; c; c = c->next) {
        if (!sw_is(c, SW_NS_XSD, NULL) || absent(c))
            continue;
        if (choice && !sw_is(c, SW_NS_XSD, "element") &&
            !sw_is(c, SW_NS_XSD, "sequence") && !sw_is(c, SW_NS_XSD, "choice") &&
            !sw_is(c, SW_NS_XSD, "group"))
            continue;
        item_into(g, obj, c, depth);
        if (choice)
            break; /* the first branch */
    }
}

static void attribute_into(gen_t *g, json_t *obj, xmlNodePtr a)
{
    const char *use = sw_attr(a, "use");
    if ((use && strcmp(use, "prohibited") == 0) || !step(g))
        return;
    xmlNodePtr decl = a;
    const char *ns = NULL, *name;
    const char *ref = sw_attr(a, "ref");
    if (ref) {
        const char *rns, *local;
        if (sw_qname(a, ref, &rns, &local) < 0 || external_ns(rns))
            return;
        decl = xsd_find(g->pool, "attribute", rns, local);
        if (decl == NULL)
            return;
        ns = sw_tns(decl);
        name = sw_attr(decl, "name");
    } else {
        name = sw_attr(a, "name");
        if (is_qualified(a, "attributeFormDefault"))
            ns = sw_tns(a);
    }
    if (name == NULL)
        return;
    char buf[VAL_MAX];
    const char *v, *t;
    xmlNodePtr st;
    if ((v = sw_attr(decl, "fixed")) || (v = sw_attr(decl, "default")) ||
        (v = sw_attr(a, "fixed")) || (v = sw_attr(a, "default")))
        set_val(buf, v);
    else if ((t = sw_attr(decl, "type")))
        simple_of_qname(g, decl, t, buf, 0);
    else if ((st = first_child(decl, "simpleType")))
        simple_of(g, st, buf, 0);
    else
        set_val(buf, "string");
    char key[512];
    qkey(g, ns, name, "@", key, sizeof(key));
    if (json_object_get(obj, key) == NULL) {
        json_object_set_new(obj, key, json_string(buf));
        g->members++;
    }
}

static void attr_group_into(gen_t *g, json_t *obj, xmlNodePtr ag, int depth)
{
    const char *ref = sw_attr(ag, "ref");
    const char *ns, *local;
    if (depth > GEN_MAX_DEPTH || !step(g) || ref == NULL ||
        sw_qname(ag, ref, &ns, &local) < 0)
        return;
    xmlNodePtr def = xsd_find(g->pool, "attributeGroup", ns, local);
    if (def == NULL)
        return;
    for (xmlNodePtr c = def->children; c; c = c->next) {
        if (sw_is(c, SW_NS_XSD, "attribute"))
            attribute_into(g, obj, c);
        else if (sw_is(c, SW_NS_XSD, "attributeGroup"))
            attr_group_into(g, obj, c, depth + 1);
    }
}

/* simpleContent extension/restriction: the text from the base (a simple
 * type, or a complex type with simple content whose attributes also come
 * along), then this derivation's own attributes and facets. */
static void simple_content_into(gen_t *g, json_t *obj, xmlNodePtr d, char *text,
                                int *has_text)
{
    const char *base = sw_attr(d, "base");
    const char *ns, *local;
    int kind = K_OTHER;
    if (base && sw_qname(d, base, &ns, &local) == 0) {
        xmlNodePtr bct = xsd_find(g->pool, "complexType", ns, local);
        if (bct && !on_stack(g, bct) && g->nstack < GEN_MAX_DEPTH) {
            g->stack[g->nstack++] = bct;
            content_of(g, obj, bct, text, has_text);
            g->nstack--;
        } else if (!bct) {
            kind = simple_of_qname(g, d, base, text, 0);
        }
    }
    *has_text = 1;
    if (sw_is(d, SW_NS_XSD, "restriction")) {
        xmlNodePtr e = first_child(d, "enumeration");
        const char *v;
        if (e && (v = sw_attr(e, "value")))
            set_val(text, v);
        else
            apply_facets(d, text, kind);
    }
    content_of(g, obj, d, text, has_text);
}

static void complex_content_into(gen_t *g, json_t *obj, xmlNodePtr d, char *text,
                                 int *has_text)
{
    if (sw_is(d, SW_NS_XSD, "extension")) {
        const char *base = sw_attr(d, "base");
        const char *ns, *local;
        if (base && sw_qname(d, base, &ns, &local) == 0) {
            xmlNodePtr bct = xsd_find(g->pool, "complexType", ns, local);
            if (bct && !on_stack(g, bct) && g->nstack < GEN_MAX_DEPTH) {
                g->stack[g->nstack++] = bct;
                content_of(g, obj, bct, text, has_text);
                g->nstack--;
            }
        }
    }
    /* A restriction restates the content it keeps. */
    content_of(g, obj, d, text, has_text);
}

/* The children of a complexType (or of a derivation inside one). */
static void content_of(gen_t *g, json_t *obj, xmlNodePtr n, char *text,
                       int *has_text)
{
    if (!step(g))
        return;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (!sw_is(c, SW_NS_XSD, NULL))
            continue;
        const char *k = (const char *)c->name;
        if (strcmp(k, "sequence") == 0 || strcmp(k, "all") == 0 ||
            strcmp(k, "choice") == 0)
            particle_into(g, obj, c, g->depth);
        else if (strcmp(k, "group") == 0)
            group_into(g, obj, c, g->depth);
        else if (strcmp(k, "attribute") == 0)
            attribute_into(g, obj, c);
        else if (strcmp(k, "attributeGroup") == 0)
            attr_group_into(g, obj, c, 0);
        else if (strcmp(k, "simpleContent") == 0 || strcmp(k, "complexContent") == 0) {
            for (xmlNodePtr d = c->children; d; d = d->next) {
                if (!sw_is(d, SW_NS_XSD, "extension") &&
                    !sw_is(d, SW_NS_XSD, "restriction"))
                    continue;
                if (k[1] == 'i') /* simpleContent */
                    simple_content_into(g, obj, d, text, has_text);
                else
                    complex_content_into(g, obj, d, text, has_text);
            }
        }
    }
}

/* A complex type's value: an object of its elements and "@attributes", or
 * its text alone when it has simple content and no attribute. */
static json_t *complex_of(gen_t *g, xmlNodePtr ct)
{
    json_t *obj = json_object();
    if (obj == NULL || g->nstack >= GEN_MAX_DEPTH)
        return obj;
    g->stack[g->nstack++] = ct;
    char text[VAL_MAX] = "";
    int has_text = 0;
    content_of(g, obj, ct, text, &has_text);
    g->nstack--;
    if (has_text) {
        if (json_object_size(obj) == 0) {
            json_decref(obj);
            return json_string(text);
        }
        json_object_set_new(obj, "#text", json_string(text));
    }
    return obj;
}

json_t *xsd_sample_body_element(const xsd_pool_t *p, xmlNodePtr el)
{
    gen_t g;
    memset(&g, 0, sizeof(g));
    g.pool = p;
    g.body = json_object();
    if (g.body == NULL)
        return NULL;
    element_into(&g, g.body, el);
    return g.body;
}

json_t *xsd_sample_body_rpc(const xsd_pool_t *p, const char *ns,
                            const char *local, xmlNodePtr msg)
{
    gen_t g;
    memset(&g, 0, sizeof(g));
    g.pool = p;
    g.body = json_object();
    json_t *wrap = json_object();
    if (g.body == NULL || wrap == NULL) {
        json_decref(g.body);
        json_decref(wrap);
        return NULL;
    }
    char key[512];
    qkey(&g, ns, local, "", key, sizeof(key));
    for (xmlNodePtr part = msg ? msg->children : NULL; part; part = part->next) {
        if (!sw_is(part, SW_NS_WSDL, "part"))
            continue;
        const char *pname = sw_attr(part, "name");
        const char *el = sw_attr(part, "element");
        const char *ty = sw_attr(part, "type");
        const char *pns, *plocal;
        if (pname == NULL)
            continue;
        if (el && sw_qname(part, el, &pns, &plocal) == 0) {
            xmlNodePtr decl = xsd_find(p, "element", pns, plocal);
            if (decl)
                element_into(&g, wrap, decl);
        } else if (ty && sw_qname(part, ty, &pns, &plocal) == 0) {
            xmlNodePtr ct = xsd_find(p, "complexType", pns, plocal);
            json_t *v;
            if (ct) {
                v = complex_of(&g, ct);
            } else {
                char buf[VAL_MAX];
                simple_of_qname(&g, part, ty, buf, 0);
                v = json_string(buf);
            }
            if (v)
                add_member(wrap, pname, v);
        }
    }
    json_object_set_new(g.body, key, wrap);
    return g.body;
}
