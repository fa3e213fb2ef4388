/*
 * SOAP envelopes with libxml2, and the two mappings between XML and the
 * JSON the engine matches on (docs/soap.md, "The Body as JSON").
 *
 * Parsing is hostile-safe: no network, no DTD loading, no entity
 * substitution, and any DOCTYPE is refused outright (SOAP forbids DTDs), so
 * neither an external entity nor an entity expansion bomb is ever looked
 * at; input size and element depth are bounded; libxml2's error output is
 * silenced on the calling thread. Nothing here keeps global state besides
 * libxml2's own, which soap_xml_init sets up once.
 *
 * Thread rules: every function may run on any thread; a soap_envelope_t
 * belongs to the thread that parsed it until it frees it.
 */
#ifndef DOPPEL_SOAP_XML_H
#define DOPPEL_SOAP_XML_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"

/* A growable byte buffer; text in it is always NUL-terminated. */
typedef struct soap_buf {
    char *ptr;
    size_t len, cap;
    int oom; /* an append failed: the content is incomplete */
} soap_buf_t;

void soap_buf_add(soap_buf_t *b, const char *s, size_t n);
void soap_buf_str(soap_buf_t *b, const char *s);
/* Appends s escaped for XML text and attribute values (& < > " '). */
void soap_buf_esc(soap_buf_t *b, const char *s, size_t n);
void soap_buf_free(soap_buf_t *b);

/* Calls xmlInitParser once per process (never xmlCleanupParser: other
 * users of libxml2 in the process may still need it). */
void soap_xml_init(void);

typedef struct soap_limits {
    size_t max_bytes; /* whole envelope */
    int max_depth;    /* element nesting, the Envelope being 1 */
} soap_limits_t;

/* Why an envelope was refused (negative) */
enum {
    SOAP_E_MALFORMED = -1,   /* not well-formed XML */
    SOAP_E_DTD = -2,         /* a DOCTYPE: refused before it is read */
    SOAP_E_TOO_BIG = -3,     /* over max_bytes */
    SOAP_E_TOO_DEEP = -4,    /* over max_depth */
    SOAP_E_NOT_ENVELOPE = -5, /* the root is not an Envelope */
    SOAP_E_NO_BODY = -6,     /* no Body (or elements where they may not be) */
    SOAP_E_VERSION = -7,     /* an Envelope of an unknown namespace */
    SOAP_E_NOMEM = -8
};

typedef struct soap_envelope {
    void *doc;     /* xmlDocPtr */
    int version;   /* 11 or 12, from the Envelope's namespace */
    void *header;  /* xmlNodePtr of the Header, or NULL */
    void *body;    /* xmlNodePtr of the Body */
    void *first;   /* the Body's first element, NULL for an empty Body */
    const char *first_ns;    /* its namespace URI, NULL for none */
    const char *first_local; /* its local name, NULL for an empty Body */
} soap_envelope_t;

/* Parses one envelope. Returns 0 (env filled; free with
 * soap_envelope_free) or a SOAP_E_* code with a sentence in err that
 * reveals nothing of the document beyond its line and column. */
int soap_envelope_parse(const void *buf, size_t len, const soap_limits_t *lim,
                        soap_envelope_t *env, char *err, size_t errlen);
void soap_envelope_free(soap_envelope_t *env);

/* Checks that text is well-formed XML (fragment = 1: any number of
 * elements and text, as inside an element), with the same refusals as an
 * envelope. 0 or a SOAP_E_* code with err set. */
int soap_xml_check(const char *text, size_t len, int fragment, char *err,
                   size_t errlen);

/* The element children of parent (an xmlNodePtr) as one JSON object: an
 * element is a member named by its local name; a text-only element is a
 * string; repeated siblings are an array; attributes are "@name" members
 * and text beside child elements or attributes is "#text". Bounded by the
 * parse's own limits. New reference or NULL (out of memory). */
json_t *soap_children_json(const void *parent);

/* The reverse: the answer's Envelope text for version (11, 12) from a
 * payload {"Envelope": {"Header"?: {...}, "Body": {...}}} (also with
 * prefixed keys, "soap:Envelope") or, without an Envelope member, the
 * Body's content itself. Object members become child elements, "@name"
 * attributes ("@xmlns:p" declares p), "#text" text, arrays repeated
 * elements, strings/numbers/booleans text, null an empty element; a Body
 * given as a string is raw XML put as is. Text is escaped. Returns 0, or
 * -EINVAL with err naming the offending member (an invalid XML name, a
 * value of the wrong kind), or -ENOMEM. */
int soap_json_to_envelope(const json_t *payload, int version, soap_buf_t *out,
                          char *err, size_t errlen);

/* An answer given as XML text: a whole Envelope goes as is (its version
 * in *version), anything else is a fragment wrapped into a Body of
 * *version. The result is checked to be well-formed. 0, or -EINVAL with
 * err, or -ENOMEM. */
int soap_xml_answer(const char *xml, size_t len, int *version, soap_buf_t *out,
                    char *err, size_t errlen);

/* The content of env's Body as XML text that stands on its own (an
 * answer recorded from an upstream, replayed inside an envelope of another
 * version): each element child copied with every namespace in scope where
 * it was declared on it (the SOAP envelope namespaces excepted, which the
 * new envelope declares), non-blank text escaped, comments and blank text
 * dropped. Appended to out; 0 or -ENOMEM. */
int soap_body_xml(const soap_envelope_t *env, soap_buf_t *out);

/* What a Fault in env's Body says (1.1: faultcode, faultstring,
 * faultactor, detail; 1.2: Code/Value, the first Reason/Text, Role,
 * Detail), each member malloc'd or NULL when absent; text trimmed; detail
 * the element's content by soap_body_xml's rules. Free with
 * soap_fault_read_free. Returns 1 (a Fault, f filled), 0 (the Body holds
 * no Fault, f zeroed) or -ENOMEM (f zeroed). */
typedef struct soap_fault_read {
    char *code, *string, *actor, *detail;
} soap_fault_read_t;
int soap_fault_read(const soap_envelope_t *env, soap_fault_read_t *f);
void soap_fault_read_free(soap_fault_read_t *f);

typedef struct soap_fault {
    const char *code;   /* "Client", "soap:Server", "Sender", ...; NULL: Server */
    const char *string; /* faultstring / Reason Text */
    const char *actor;  /* faultactor / Role, or NULL */
    const char *detail; /* raw XML of detail / Detail, or NULL */
} soap_fault_t;

/* The code as the version writes it with prefix "soap" ("soap:Client",
 * "soap:Sender", "soap:Client.Auth" in 1.1), or -EINVAL if code is none of
 * Client Server Sender Receiver VersionMismatch MustUnderstand
 * DataEncodingUnknown (any prefix; ".Sub" suffixes kept in 1.1). */
int soap_fault_code(const char *code, int version, char *out, size_t n);

/* A whole fault Envelope. -EINVAL (err) for a bad code or a detail that is
 * not well-formed, -ENOMEM. */
int soap_fault_envelope(const soap_fault_t *f, int version, soap_buf_t *out,
                        char *err, size_t errlen);

/* Content-Type of an answer of version. */
const char *soap_content_type(int version);

/* The HTTP status of a fault of code (already normalised by
 * soap_fault_code) in version, per the HTTP bindings: 1.1 always 500;
 * 1.2 400 for Sender, 500 for the others. */
int soap_fault_status(const char *code, int version);

/* Parses a request Content-Type: returns 11 (text/xml), 12
 * (application/soap+xml) or 0 (anything else). For 12, the action
 * parameter (quotes removed, backslash escapes resolved) is copied into
 * action (NUL-terminated, truncated to n; "" if none). */
int soap_content_version(const char *ct, size_t len, char *action, size_t n);

/* A SOAPAction header value without its quotes, into out. */
void soap_action_unquote(const char *v, size_t len, char *out, size_t n);

/* Checks an XPath expression with the prefixes of nsmap ({"p": "uri"}):
 * it compiles and every prefix it uses is declared. 0 or -EINVAL (err). */
int soap_xpath_check(const char *expr, const json_t *nsmap, char *err,
                     size_t errlen);

/* The string value of expr evaluated on env's document with nsmap's
 * prefixes (XPath string(): the first node's text of a node-set, a
 * number's or boolean's text). malloc'd, or NULL when it cannot be
 * evaluated (the condition then finds nothing). */
char *soap_xpath_string(const soap_envelope_t *env, const char *expr,
                        const json_t *nsmap);

/* The path of an XPath condition's member: $.__xpath["<key>"] (into out),
 * and its key (the expression, with " #<hash of the namespaces>" when it
 * has any). -EINVAL if the expression holds both "] and ']. */
int soap_xpath_member(const char *expr, const json_t *nsmap, char *key,
                      size_t keylen, char *path, size_t pathlen);
/* The XPath expression a $.__xpath[...] path reads (the reverse), into
 * out; 0 if path is not such a path. */
int soap_xpath_of_path(const char *path, char *out, size_t n);

#endif /* DOPPEL_SOAP_XML_H */
