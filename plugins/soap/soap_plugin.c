/*
 * The SOAP mock protocol plugin: serves mocks whose section is "soap" on the
 * host's HTTP/1.1 front (docs/soap.md).
 *
 * One classifier mount takes, before the HTTP plugin's prefix mounts:
 *   POST with Content-Type text/xml (SOAP 1.1) or application/soap+xml
 *        (1.2) to a SOAP path: a path of a loaded WSDL's port, a path a
 *        soap mock names, a `path` of plugins.conf, or any path when a
 *        soap mock of the namespace names none (text/xml then needs a
 *        SOAPAction header, so plain XML APIs stay the HTTP plugin's);
 *   GET <path>?wsdl for a path a loaded WSDL's port is addressed at.
 * Everything else falls through to the HTTP plugin. Namespaces follow the
 * HTTP plugin's rules: <stubs_prefix>/<namespace>/<path>, else the
 * X-Namespace header, else the `namespace` option.
 *
 * A request: the envelope is parsed (soap_xml.c), its operation found from
 * the action through the namespace's WSDLs or from the Body's first
 * element, the Body turned into JSON (with $.__soap and the registered
 * XPath values, soap_section.c) and matched by svc->engine_match; the
 * answer (XML or JSON payload, or soapFault) goes out as an envelope of
 * the request's version, after the mock's delay on a host timer.
 *
 * Record and replay (DOPPEL_PROTO_F_HTTP_PATH): under a service's
 * pathPrefix the engine answers PROXY (PASSTHROUGH, LEARN, SPY's misses);
 * the whole HTTP request goes upstream through dp_forward, the upstream's
 * answer comes back as it is, and in LEARN the exchange as matched is
 * recorded (soap_section.c `record`) before the answer goes out.
 *
 * Threading: one instance per worker; everything here runs on that
 * worker's loop thread. The shared state is behind its own mutex.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward.h"
#include "soap_plugin.h"
#include "soap_xml.h"

#define NS_MAX 64
#define ACTION_MAX 1024

typedef struct soap_inst soap_inst_t;

/* An answer ready to go: owned status, headers and body. */
typedef struct answer {
    int status;
    soap_buf_t body;
    doppel_kv_t h[24];
    size_t nh;
    soap_buf_t hmem; /* header text, offsets until finished */
    size_t hoff[24][4];
} answer_t;

/* An answer waiting for its mock's delay. */
typedef struct pending {
    soap_inst_t *in;
    doppel_http_exchange_t *ex;
    doppel_timer_t *timer;
    answer_t *a;
    struct pending *prev, *next;
} pending_t;

#define LABELS_MAX 16

struct soap_inst {
    char *labels[LABELS_MAX]; /* operation names with a metric series */
    uint32_t label_hash[LABELS_MAX]; /* of each, compared first */
    size_t n_labels;
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    soap_shared_t *sh;
    const char *stubs_prefix;
    size_t stubs_len;
    const char *ns_default;
    char *paths_mem;
    const char *paths[32];
    size_t n_paths;
    int sample_answers;
    soap_limits_t lim;
    int draining, stopping;
    int stop_waiting; /* stop_done is due when the last forward ends */
    size_t n_forwarding;
    pending_t *pending;
};

/* ---- answers ------------------------------------------------------------- */

static void ans_header(answer_t *a, const char *n, size_t nl, const char *v,
                       size_t vl)
{
    if (a->nh >= sizeof(a->h) / sizeof(a->h[0]))
        return;
    a->hoff[a->nh][0] = a->hmem.len;
    a->hoff[a->nh][1] = nl;
    soap_buf_add(&a->hmem, n, nl);
    a->hoff[a->nh][2] = a->hmem.len;
    a->hoff[a->nh][3] = vl;
    soap_buf_add(&a->hmem, v, vl);
    a->nh++;
}

static void ans_free(answer_t *a)
{
    if (a == NULL)
        return;
    soap_buf_free(&a->body);
    soap_buf_free(&a->hmem);
    free(a);
}

static void ans_send(soap_inst_t *in, doppel_http_exchange_t *ex, answer_t *a)
{
    for (size_t i = 0; i < a->nh; i++) {
        a->h[i].name = (doppel_str_t){a->hmem.ptr + a->hoff[i][0], a->hoff[i][1]};
        a->h[i].value =
            (doppel_str_t){a->hmem.ptr + a->hoff[i][2], a->hoff[i][3]};
    }
    if (a->body.oom || a->hmem.oom) {
        static const char m[] = "out of memory";
        in->svc->http_respond(ex, 500, NULL, 0, m, sizeof(m) - 1);
    } else {
        in->svc->http_respond(ex, a->status, a->h, a->nh, a->body.ptr,
                              a->body.len);
    }
    ans_free(a);
}

/* Metric label values of operations: a request may name any operation
 * (the Body's element, without a WSDL), so only those a WSDL defines or a
 * mock answered get a series of their own, and at most LABELS_MAX of them
 * per instance; the rest count as "(other)". That bounds the series
 * whatever the number of mocks. A call of an operation without a series
 * compares its name's hash with each kept one, not the names themselves. */
static int label_known(soap_inst_t *in, const char *method)
{
    uint32_t h = 2166136261u;
    for (const char *p = method; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (size_t i = 0; i < in->n_labels; i++)
        if (in->label_hash[i] == h && strcmp(in->labels[i], method) == 0)
            return 1;
    if (in->n_labels == LABELS_MAX)
        return 0;
    char *c = strdup(method);
    if (c == NULL)
        return 0;
    in->label_hash[in->n_labels] = h;
    in->labels[in->n_labels++] = c;
    return 1;
}

static void count(soap_inst_t *in, const char *service, const char *method,
                  const char *result, int named)
{
    if (method && method[0] && !(named && label_known(in, method)))
        method = "(other)";
    char labels[600], s2[200], m2[200];
    size_t k = 0;
    for (size_t i = 0; service && service[i] && k + 1 < sizeof(s2); i++)
        s2[k++] = strchr("\"\\\n", service[i]) ? '_' : service[i];
    s2[k] = '\0';
    k = 0;
    for (size_t i = 0; method && method[i] && k + 1 < sizeof(m2); i++)
        m2[k++] = strchr("\"\\\n", method[i]) ? '_' : method[i];
    m2[k] = '\0';
    snprintf(labels, sizeof(labels),
             "service=\"%s\",method=\"%s\",result=\"%s\"", s2, m2, result);
    in->svc->metric_add(in->ctx, "calls", labels, 1);
}

/* A fault answer of version (11/12) with code ("Client", ...). */
static answer_t *fault_answer(int version, const char *code, const char *msg,
                              const char *detail, int status)
{
    answer_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    soap_fault_t f = {.code = code, .string = msg, .detail = detail};
    char err[256];
    if (soap_fault_envelope(&f, version, &a->body, err, sizeof(err)) < 0) {
        /* a detail we built ourselves is always well-formed; drop it */
        soap_buf_free(&a->body);
        f.detail = NULL;
        (void)soap_fault_envelope(&f, version, &a->body, err, sizeof(err));
    }
    char norm[128];
    if (soap_fault_code(code, version, norm, sizeof(norm)) < 0)
        snprintf(norm, sizeof(norm), "soap:Server");
    a->status = status ? status : soap_fault_status(norm, version);
    const char *ct = soap_content_type(version);
    ans_header(a, "Content-Type", 12, ct, strlen(ct));
    return a;
}

static void send_fault(soap_inst_t *in, doppel_http_exchange_t *ex,
                       int version, const char *code, const char *msg)
{
    answer_t *a = fault_answer(version, code, msg, NULL, 0);
    if (a == NULL) {
        in->svc->http_respond(ex, 500, NULL, 0, NULL, 0);
        return;
    }
    ans_send(in, ex, a);
}

/* ---- delays ---------------------------------------------------------------- */

static void pending_unlink(pending_t *p)
{
    soap_inst_t *in = p->in;
    if (p->prev)
        p->prev->next = p->next;
    else
        in->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_fire(void *data)
{
    pending_t *p = data;
    pending_unlink(p);
    p->in->svc->timer_stop(p->timer);
    ans_send(p->in, p->ex, p->a);
    free(p);
}

static void answer_later(soap_inst_t *in, doppel_http_exchange_t *ex,
                         answer_t *a, uint32_t delay_ms)
{
    if (delay_ms == 0 || in->draining || in->stopping ||
        !DOPPEL_HAS_SERVICE(in->svc, timer_start)) {
        ans_send(in, ex, a);
        return;
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ans_send(in, ex, a);
        return;
    }
    p->in = in;
    p->ex = ex;
    p->a = a;
    if (in->svc->timer_start(in->ctx, delay_ms, 0, pending_fire, p,
                             &p->timer) < 0) {
        free(p);
        ans_send(in, ex, a);
        return;
    }
    p->next = in->pending;
    if (in->pending)
        in->pending->prev = p;
    in->pending = p;
}

/* The host is stopping: every delayed answer goes out now. */
static void answer_all_now(soap_inst_t *in)
{
    while (in->pending)
        pending_fire(in->pending);
}

/* ---- routing ----------------------------------------------------------------- */

typedef struct route {
    doppel_str_t ns;
    doppel_str_t path;
    doppel_str_t prefix; /* "/stubs/<ns>" when addressed that way, else "" */
} route_t;

/* The namespace and path of req by the HTTP plugin's rules; 0 if the
 * namespace given is not a valid name (the HTTP plugin answers that). */
static int route_of(const soap_inst_t *in, const doppel_http_request_t *req,
                    route_t *r)
{
    const char *p = req->path.ptr;
    size_t len = req->path.len, sl = in->stubs_len;
    memset(r, 0, sizeof(*r));
    if (len > sl && memcmp(p, in->stubs_prefix, sl) == 0 && p[sl] == '/') {
        const char *s = p + sl + 1, *end = p + len, *e = s;
        while (e < end && *e != '/')
            e++;
        r->ns = (doppel_str_t){s, (size_t)(e - s)};
        if (!doppel_name_valid(r->ns.ptr, r->ns.len, NS_MAX))
            return 0;
        r->path = e < end ? (doppel_str_t){e, (size_t)(end - e)}
                          : (doppel_str_t){"/", 1};
        r->prefix = (doppel_str_t){p, (size_t)(e - p)};
        return 1;
    }
    const doppel_str_t *h = req->header(req, "X-Namespace");
    if (h != NULL) {
        if (!doppel_name_valid(h->ptr, h->len, NS_MAX))
            return 0;
        r->ns = *h;
    } else {
        r->ns = (doppel_str_t){in->ns_default, strlen(in->ns_default)};
    }
    r->path = req->path;
    return 1;
}

static int conf_path(const soap_inst_t *in, doppel_str_t path)
{
    for (size_t i = 0; i < in->n_paths; i++)
        if (strlen(in->paths[i]) == path.len &&
            memcmp(in->paths[i], path.ptr, path.len) == 0)
            return 1;
    return 0;
}

/* 2: a WSDL or mock or configured path; 1: only "any path" mocks; 0. */
static int path_kind(soap_inst_t *in, const route_t *r, int *wsdl)
{
    char path[1024];
    if (r->path.len >= sizeof(path))
        return 0;
    memcpy(path, r->path.ptr, r->path.len);
    path[r->path.len] = '\0';
    int kind = conf_path(in, r->path) ? 2 : 0;
    *wsdl = 0;
    pthread_mutex_lock(&in->sh->mu);
    soap_nsd_t *d = soap_nsd(in->sh, r->ns.ptr, r->ns.len, 0);
    if (d) {
        if (d->wsdl && soap_wsdl_has_path(d->wsdl, path)) {
            *wsdl = 1;
            kind = 2;
        }
        for (soap_path_reg_t *p = d->paths; p && kind < 2; p = p->next)
            if (strcmp(p->path, path) == 0)
                kind = 2;
        if (kind == 0 && d->any_path)
            kind = 1;
    }
    pthread_mutex_unlock(&in->sh->mu);
    return kind;
}

static int wsdl_query(doppel_str_t q)
{
    return (q.len == 4 || (q.len > 4 && (q.ptr[4] == '&' || q.ptr[4] == '='))) &&
           strncasecmp(q.ptr, "wsdl", 4) == 0;
}

static int soap_classify(void *state, const doppel_http_request_t *req)
{
    soap_inst_t *in = state;
    int get = req->method.len == 3 && memcmp(req->method.ptr, "GET", 3) == 0;
    int post = req->method.len == 4 && memcmp(req->method.ptr, "POST", 4) == 0;
    if (get && !wsdl_query(req->query))
        return 0;
    if (!get && !post)
        return 0;
    int v = 0, has_action = 0;
    if (post) {
        const doppel_str_t *ct = req->header(req, "Content-Type");
        v = ct ? soap_content_version(ct->ptr, ct->len, NULL, 0) : 0;
        if (v == 0)
            return 0;
        has_action = v == 12 || req->header(req, "SOAPAction") != NULL;
    }
    route_t r;
    if (!route_of(in, req, &r))
        return 0;
    int wsdl = 0;
    int kind = path_kind(in, &r, &wsdl);
    if (get)
        return wsdl;
    return kind == 2 || (kind == 1 && has_action);
}

/* ---- ?wsdl -------------------------------------------------------------------- */

static int host_ok(const doppel_str_t *h)
{
    if (h == NULL || h->len == 0 || h->len > 255)
        return 0;
    for (size_t i = 0; i < h->len; i++) {
        char c = h->ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']' || c == '_'))
            return 0;
    }
    return 1;
}

static int serve_wsdl(soap_inst_t *in, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req, const route_t *r)
{
    const doppel_str_t *host = req->header(req, "Host");
    static const char bad[] = "the Host header must be host[:port]\n";
    doppel_kv_t th[] = {{DOPPEL_STR("Content-Type"),
                         DOPPEL_STR("text/plain; charset=utf-8")}};
    if (!host_ok(host))
        return in->svc->http_respond(ex, 400, th, 1, bad, sizeof(bad) - 1),
               0;
    char base[400], path[1024];
    snprintf(base, sizeof(base), "http://%.*s%.*s", (int)host->len, host->ptr,
             (int)r->prefix.len, r->prefix.ptr ? r->prefix.ptr : "");
    snprintf(path, sizeof(path), "%.*s", (int)r->path.len, r->path.ptr);
    size_t len = 0;
    char *text = NULL;
    pthread_mutex_lock(&in->sh->mu);
    soap_nsd_t *d = soap_nsd(in->sh, r->ns.ptr, r->ns.len, 0);
    if (d && d->wsdl)
        text = soap_wsdl_serve(d->wsdl, path, base, &len);
    pthread_mutex_unlock(&in->sh->mu);
    if (text == NULL) {
        static const char nf[] = "no WSDL is addressed at this path\n";
        in->svc->http_respond(ex, 404, th, 1, nf, sizeof(nf) - 1);
        return 0;
    }
    doppel_kv_t h[] = {{DOPPEL_STR("Content-Type"),
                        DOPPEL_STR("text/xml; charset=utf-8")}};
    in->svc->http_respond(ex, 200, h, 1, text, len);
    free(text);
    count(in, "", "?wsdl", "wsdl", 1);
    return 0;
}

/* ---- the request as JSON ------------------------------------------------------- */

typedef struct opinfo {
    int known; /* from a WSDL */
    char service[256];
    char operation[256];
} opinfo_t;

static void find_op(soap_inst_t *in, const route_t *r, const char *action,
                    const soap_envelope_t *env, opinfo_t *oi)
{
    char path[1024];
    snprintf(path, sizeof(path), "%.*s", (int)r->path.len, r->path.ptr);
    memset(oi, 0, sizeof(*oi));
    pthread_mutex_lock(&in->sh->mu);
    soap_nsd_t *d = soap_nsd(in->sh, r->ns.ptr, r->ns.len, 0);
    const soap_op_info_t *op =
        d && d->wsdl ? soap_wsdl_find(d->wsdl, path, action, env->first_ns,
                                      env->first_local)
                     : NULL;
    /* a mock path that no port is addressed at: any port's operation */
    if (op == NULL && d && d->wsdl)
        op = soap_wsdl_find(d->wsdl, NULL, action, env->first_ns,
                            env->first_local);
    if (op) {
        oi->known = 1;
        snprintf(oi->service, sizeof(oi->service), "%s",
                 op->service ? op->service : "");
        snprintf(oi->operation, sizeof(oi->operation), "%s",
                 op->operation ? op->operation : "");
    }
    pthread_mutex_unlock(&in->sh->mu);
    if (!oi->known && env->first_local)
        snprintf(oi->operation, sizeof(oi->operation), "%s", env->first_local);
}

/* $.__xpath: the registered expressions of this operation (and of mocks
 * of any operation), evaluated on the request. */
static json_t *xpath_values(soap_inst_t *in, const route_t *r, const char *op,
                            const soap_envelope_t *env)
{
    json_t *o = json_object();
    pthread_mutex_lock(&in->sh->mu);
    soap_nsd_t *d = soap_nsd(in->sh, r->ns.ptr, r->ns.len, 0);
    soap_xpath_reg_t *head = d ? d->xpaths : NULL;
    pthread_mutex_unlock(&in->sh->mu);
    /* entries are immutable once published and live as long as the state */
    for (soap_xpath_reg_t *x = head; x && o; x = x->next) {
        if (x->op[0] && strcmp(x->op, op) != 0)
            continue;
        if (json_object_get(o, x->key))
            continue;
        char *s = soap_xpath_string(env, x->expr, x->nsmap);
        if (s)
            json_object_set_new(o, x->key, json_string(s));
        free(s);
    }
    return o;
}

static char *request_json(soap_inst_t *in, const route_t *r,
                          const soap_envelope_t *env, const char *action,
                          const opinfo_t *oi)
{
    json_t *doc = soap_children_json(env->body);
    json_t *hdr = env->header ? soap_children_json(env->header) : json_object();
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:o}", "version",
                             env->version == 12 ? "1.2" : "1.1", "action",
                             action, "operation", oi->operation, "service",
                             oi->service, "header", hdr ? hdr : json_object());
    json_t *xp = xpath_values(in, r, oi->operation, env);
    char *txt = NULL;
    if (doc && meta && xp) {
        json_object_set_new(doc, "__soap", meta);
        json_object_set_new(doc, "__xpath", xp);
        txt = json_dumps(doc, JSON_COMPACT);
    } else {
        json_decref(meta);
        json_decref(xp);
    }
    json_decref(doc);
    return txt;
}

/* ---- engine replies -------------------------------------------------------------- */

static void copy_mock_headers(answer_t *a, const doppel_reply_t *rep)
{
    for (size_t i = 0; i < rep->n_headers; i++) {
        doppel_str_t n = rep->headers[i].name;
        if ((n.len == 12 && strncasecmp(n.ptr, "Content-Type", 12) == 0) ||
            (n.len == 14 && strncasecmp(n.ptr, "Content-Length", 14) == 0))
            continue;
        ans_header(a, n.ptr, n.len, rep->headers[i].value.ptr,
                   rep->headers[i].value.len);
    }
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The answer of a matched mock: its soapFault, else its payload. */
static answer_t *mock_answer(soap_inst_t *in, const doppel_reply_t *rep,
                             int version, const char **result)
{
    (void)in;
    json_t *extra = NULL;
    if (rep->size >= offsetof(doppel_reply_t, extra) + sizeof(rep->extra) &&
        rep->extra.len > 0)
        extra = json_loadb(rep->extra.ptr, rep->extra.len, 0, NULL);
    json_t *sf = json_object_get(extra, "soapFault");
    answer_t *a = NULL;
    char err[700] = "";
    int rc = 0;
    *result = "matched";
    if (json_is_object(sf)) {
        json_t *hs = json_object_get(sf, "httpStatus");
        int st = json_is_integer(hs) ? (int)json_integer_value(hs) : 500;
        if (st < 100 || st > 599)
            st = 500;
        a = calloc(1, sizeof(*a));
        if (a) {
            soap_fault_t f = {jstr(sf, "faultCode"), jstr(sf, "faultString"),
                              jstr(sf, "faultActor"), jstr(sf, "detail")};
            rc = soap_fault_envelope(&f, version, &a->body, err, sizeof(err));
            a->status = st;
            *result = "fault";
        }
    } else {
        a = calloc(1, sizeof(*a));
        const char *b = (const char *)rep->body;
        size_t bl = rep->body_len, i = 0;
        while (b && i < bl && strchr(" \t\r\n", b[i]))
            i++;
        if (a && (b == NULL || i == bl || (bl - i == 4 && memcmp(b + i, "null", 4) == 0))) {
            rc = soap_json_to_envelope(NULL, version, &a->body, err, sizeof(err));
        } else if (a && b[i] == '<') {
            rc = soap_xml_answer(b, bl, &version, &a->body, err, sizeof(err));
        } else if (a) {
            json_t *p = json_loadb(b, bl, JSON_DECODE_ANY, NULL);
            rc = p ? soap_json_to_envelope(p, version, &a->body, err, sizeof(err))
                   : -EINVAL;
            if (p == NULL)
                snprintf(err, sizeof(err), "response.payload: neither XML nor "
                                           "a JSON object");
            json_decref(p);
        }
        if (a)
            a->status = rep->status;
    }
    json_decref(extra);
    if (a == NULL)
        return NULL;
    if (rc < 0) {
        /* the mock renders an answer that is not an envelope (a template
         * that inserted markup): say so rather than send broken XML */
        char msg[900];
        snprintf(msg, sizeof(msg), "mock %.*s: its answer is not valid: %s",
                 (int)rep->mock_id.len, rep->mock_id.ptr ? rep->mock_id.ptr : "",
                 err);
        ans_free(a);
        *result = "error";
        return fault_answer(version, "Server", msg, NULL, 500);
    }
    copy_mock_headers(a, rep);
    const char *ct = soap_content_type(version);
    ans_header(a, "Content-Type", 12, ct, strlen(ct));
    ans_header(a, "X-Doppel-Mock-Id", 16, rep->mock_id.ptr ? rep->mock_id.ptr : "",
               rep->mock_id.len);
    return a;
}

/* The near-miss report as fault detail, XPath members named by their
 * expression rather than by their $.__xpath key. */
static void miss_detail(soap_buf_t *d, const json_t *report)
{
    soap_buf_str(d, "<doppel:miss xmlns:doppel=\"urn:doppel:soap\">");
    const char *reason = jstr(report, "reason");
    if (reason) {
        soap_buf_str(d, "<doppel:reason>");
        soap_buf_esc(d, reason, strlen(reason));
        soap_buf_str(d, "</doppel:reason>");
    }
    size_t i, j;
    json_t *nm, *f;
    json_array_foreach(json_object_get(report, "nearMisses"), i, nm)
    {
        const char *id = jstr(nm, "mockId");
        soap_buf_str(d, "<doppel:nearMiss mockId=\"");
        soap_buf_esc(d, id ? id : "", id ? strlen(id) : 0);
        soap_buf_str(d, "\">");
        json_array_foreach(json_object_get(nm, "failed"), j, f)
        {
            const char *where = jstr(f, "where"), *path = jstr(f, "path"),
                       *why = jstr(f, "reason");
            char expr[1100];
            if (path && soap_xpath_of_path(path, expr, sizeof(expr))) {
                where = "xpath";
                path = expr;
            } else if (path && strcmp(path, "$.__soap.action") == 0) {
                where = "action";
            } else if (path && strcmp(path, "$.__soap.version") == 0) {
                where = "soapVersion";
            }
            soap_buf_str(d, "<doppel:failed where=\"");
            soap_buf_esc(d, where ? where : "", where ? strlen(where) : 0);
            soap_buf_str(d, "\" path=\"");
            soap_buf_esc(d, path ? path : "", path ? strlen(path) : 0);
            soap_buf_str(d, "\">");
            /* the engine's reason starts with the path it read */
            const char *orig = jstr(f, "path");
            size_t ol = orig ? strlen(orig) : 0;
            if (why && ol && path != orig && strncmp(why, orig, ol) == 0) {
                soap_buf_esc(d, path, strlen(path));
                why += ol;
            }
            soap_buf_esc(d, why ? why : "", why ? strlen(why) : 0);
            soap_buf_str(d, "</doppel:failed>");
        }
        soap_buf_str(d, "</doppel:nearMiss>");
    }
    soap_buf_str(d, "</doppel:miss>");
}

static answer_t *miss_answer(const doppel_reply_t *rep, int version,
                             const route_t *r, const opinfo_t *oi)
{
    json_t *report = json_loadb((const char *)rep->body, rep->body_len, 0, NULL);
    soap_buf_t d = {0};
    miss_detail(&d, report);
    char msg[700];
    const char *reason = jstr(report, "reason");
    snprintf(msg, sizeof(msg),
             "no mock matched operation %s at %.*s in namespace %.*s%s%s",
             oi->operation[0] ? oi->operation : "(none)", (int)r->path.len,
             r->path.ptr, (int)r->ns.len, r->ns.ptr, reason ? ": " : "",
             reason ? reason : "");
    answer_t *a = fault_answer(version, "Client", msg, d.oom ? NULL : d.ptr, 0);
    soap_buf_free(&d);
    json_decref(report);
    if (a)
        ans_header(a, "X-Doppel-Match", 14, "miss", 4);
    return a;
}

/* The sample answer of a WSDL operation without a mock. */
static answer_t *sample_answer(soap_inst_t *in, const route_t *r,
                               const char *action,
                               const soap_envelope_t *env, int version)
{
    char path[1024];
    snprintf(path, sizeof(path), "%.*s", (int)r->path.len, r->path.ptr);
    json_t *sample = NULL;
    pthread_mutex_lock(&in->sh->mu);
    soap_nsd_t *d = soap_nsd(in->sh, r->ns.ptr, r->ns.len, 0);
    const soap_op_info_t *op =
        d && d->wsdl ? soap_wsdl_find(d->wsdl, path, action, env->first_ns,
                                      env->first_local)
                     : NULL;
    if (op == NULL && d && d->wsdl)
        op = soap_wsdl_find(d->wsdl, NULL, action, env->first_ns,
                            env->first_local);
    if (op)
        sample = soap_wsdl_sample(d->wsdl, op);
    pthread_mutex_unlock(&in->sh->mu);
    if (sample == NULL)
        return NULL;
    answer_t *a = calloc(1, sizeof(*a));
    char err[300];
    if (a && soap_json_to_envelope(sample, version, &a->body, err,
                                   sizeof(err)) < 0) {
        in->svc->log(in->ctx, DOPPEL_LOG_WARN, "sample answer: %s", err);
        ans_free(a);
        a = NULL;
    }
    json_decref(sample);
    if (a == NULL)
        return NULL;
    a->status = 200;
    const char *ct = soap_content_type(version);
    ans_header(a, "Content-Type", 12, ct, strlen(ct));
    ans_header(a, "X-Doppel-Sample", 15, "1", 1);
    return a;
}

/* ---- forwarding --------------------------------------------------------- */

/* A request forwarded for the engine's PROXY reply. The exchange as
 * matched lives until the upstream answered (engine_record needs it):
 * its body text and target are owned here, its operation and server
 * point into oi, the rest into the request, which lives until we
 * respond. */
typedef struct forwarded {
    soap_inst_t *in;
    doppel_http_exchange_t *ex;
    doppel_reply_t *reply; /* the engine's, freed once, at the end */
    doppel_exchange_t x;
    char *body, *target;
    opinfo_t oi;
    int version;
} forwarded_t;

static void forwarded_free(forwarded_t *fw)
{
    soap_inst_t *in = fw->in;
    in->svc->engine_reply_free(in->ctx, fw->reply);
    free(fw->body);
    free(fw->target);
    free(fw);
    in->n_forwarding--;
    if (in->n_forwarding == 0 && in->stop_waiting) {
        in->stop_waiting = 0;
        in->svc->stop_done(in->ctx);
    }
}

/* The fault a client gets when its request could not be forwarded: a
 * Server fault of its version, with the service named as on a forwarded
 * answer. */
static void send_forward_fault(soap_inst_t *in, doppel_http_exchange_t *ex,
                               const doppel_reply_t *rep, int version,
                               const char *msg, int status)
{
    answer_t *a = fault_answer(version, "Server", msg, NULL, status);
    if (a == NULL) {
        in->svc->http_respond(ex, 500, NULL, 0, NULL, 0);
        return;
    }
    if (dpf_service_reply(rep))
        ans_header(a, "X-Doppel-Service", 16, rep->service.ptr,
                   rep->service.len);
    ans_send(in, ex, a);
}

static void forwarded_done(void *data, int rc, const doppel_fetch_result_t *res)
{
    forwarded_t *fw = data;
    soap_inst_t *in = fw->in;
    doppel_reply_t *rep = fw->reply;
    if (rc < 0) {
        char msg[400];
        int el = res && res->error.ptr ? (int)res->error.len : 0;
        snprintf(msg, sizeof(msg), "upstream: %.*s", el ? el : 300,
                 el ? res->error.ptr : strerror(-rc));
        int status = dpf_fail_status(rc);
        dpf_report(in->ctx, in->svc, rep, status, dpf_fail_reason(rc));
        send_forward_fault(in, fw->ex, rep, fw->version, msg, status);
    } else {
        if ((rep->flags & DOPPEL_REPLY_F_RECORD) &&
            DOPPEL_HAS_SERVICE(in->svc, engine_record)) {
            int rrc = in->svc->engine_record(in->ctx, &fw->x, rep, res);
            if (rrc < 0)
                in->svc->log(in->ctx, DOPPEL_LOG_WARN,
                             "service %.*s: request %.*s (operation %s) not "
                             "recorded: %s",
                             (int)rep->service.len,
                             rep->service.ptr ? rep->service.ptr : "",
                             (int)fw->x.request_id.len,
                             fw->x.request_id.ptr ? fw->x.request_id.ptr : "",
                             fw->oi.operation, strerror(-rrc));
        }
        dpf_report(in->ctx, in->svc, rep, res->status, NULL);
        dpf_respond(in->svc, fw->ex, rep, res);
    }
    forwarded_free(fw);
}

/* Forwards req for rep. Returns 0: the exchange is the forward's to
 * finish, and rep, *body and *target are taken (set to NULL); else a
 * negative errno and the caller still owns them all. */
static int forward(soap_inst_t *in, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req, const route_t *r,
                   doppel_reply_t *rep, const doppel_exchange_t *x, char **body,
                   char **target, const opinfo_t *oi, int version)
{
    if (in->stopping)
        return -ECANCELED;
    forwarded_t *fw = calloc(1, sizeof(*fw));
    if (fw == NULL)
        return -ENOMEM;
    fw->in = in;
    fw->ex = ex;
    fw->reply = rep;
    fw->x = *x;
    fw->oi = *oi;
    fw->x.operation =
        (doppel_str_t){fw->oi.operation, strlen(fw->oi.operation)};
    fw->x.server = (doppel_str_t){fw->oi.service, strlen(fw->oi.service)};
    fw->version = version;
    int rc = dpf_start(in->ctx, in->svc, req, r->path, rep, forwarded_done, fw);
    if (rc < 0) {
        free(fw);
        return rc;
    }
    fw->body = *body;
    fw->target = *target;
    *body = *target = NULL;
    in->n_forwarding++;
    return 0;
}

/* Answers a PROXY reply: forwarded, or a fault saying why it cannot be;
 * rep is taken either way. */
static void answer_proxy(soap_inst_t *in, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req, const route_t *r,
                         doppel_reply_t *rep, const doppel_exchange_t *x,
                         char **body, char **target, const opinfo_t *oi,
                         int version)
{
    count(in, oi->service, oi->operation, "forwarded", oi->known);
    int rc = forward(in, ex, req, r, rep, x, body, target, oi, version);
    if (rc == 0)
        return;
    if (rc == -EINVAL) {
        dpf_report(in->ctx, in->svc, rep, 502, "url");
        send_forward_fault(in, ex, rep, version,
                           "upstream: the service's target is not a valid "
                           "http(s) URL",
                           502);
    } else {
        dpf_report(in->ctx, in->svc, rep, 503, "stopping");
        send_forward_fault(in, ex, rep, version,
                           "upstream: the server is shutting down", 503);
    }
    in->svc->engine_reply_free(in->ctx, rep);
}

/* ---- the handler -------------------------------------------------------------------- */

/* The engine splits a target on '/' and percent-decodes each segment; the
 * path it gets here is decoded already, so each '%' is escaped again (as
 * the HTTP plugin does) and the path is decoded exactly once. */
static char *engine_target(doppel_str_t path)
{
    char *o = malloc(path.len * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; o && i < path.len; i++) {
        o[k++] = path.ptr[i];
        if (path.ptr[i] == '%') {
            o[k++] = '2';
            o[k++] = '5';
        }
    }
    if (o)
        o[k] = '\0';
    return o;
}

static const char *parse_failure_code(int rc)
{
    return rc == SOAP_E_VERSION ? "VersionMismatch" : "Client";
}

static int soap_handle(void *state, doppel_http_exchange_t *ex,
                       const doppel_http_request_t *req)
{
    soap_inst_t *in = state;
    route_t r;
    const doppel_str_t *ct = req->header(req, "Content-Type");
    char action[ACTION_MAX];
    int ctv = ct ? soap_content_version(ct->ptr, ct->len, action, sizeof(action))
                 : 0;
    int version = ctv ? ctv : 11;
    if (in->stopping) {
        send_fault(in, ex, version, "Server", "the server is shutting down");
        return 0;
    }
    if (!route_of(in, req, &r)) {
        send_fault(in, ex, version, "Client", "invalid namespace");
        return 0;
    }
    if (req->method.len == 3)
        return serve_wsdl(in, ex, req, &r);
    if (ctv == 11) {
        const doppel_str_t *sa = req->header(req, "SOAPAction");
        action[0] = '\0';
        if (sa)
            soap_action_unquote(sa->ptr, sa->len, action, sizeof(action));
    }
    soap_envelope_t env;
    char why[300];
    int prc = soap_envelope_parse(req->body, req->body_len, &in->lim, &env,
                                  why, sizeof(why));
    if (prc == 0 && env.version != ctv) {
        snprintf(why, sizeof(why),
                 "a SOAP %s envelope sent as %s (SOAP %s)",
                 env.version == 12 ? "1.2" : "1.1",
                 ctv == 12 ? "application/soap+xml" : "text/xml",
                 ctv == 12 ? "1.2" : "1.1");
        soap_envelope_free(&env);
        prc = SOAP_E_VERSION;
    }
    if (prc < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the request is not a SOAP %s envelope: %s",
                 version == 12 ? "1.2" : "1.1", why);
        count(in, "", "", "refused", 0);
        send_fault(in, ex, version, parse_failure_code(prc), msg);
        return 0;
    }
    opinfo_t oi;
    find_op(in, &r, action, &env, &oi);
    char *body = request_json(in, &r, &env, action, &oi);
    char *target = engine_target(r.path);
    if (body == NULL || target == NULL) {
        free(body);
        free(target);
        soap_envelope_free(&env);
        send_fault(in, ex, version, "Server", "out of memory");
        return 0;
    }
    doppel_exchange_t x = {
        .size = sizeof(x),
        .protocol = DOPPEL_STR("soap"),
        .ns = r.ns,
        .operation = {oi.operation, strlen(oi.operation)},
        .target = {target, strlen(target)},
        .metadata = req->headers,
        .n_metadata = req->n_headers,
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
        .content_type = DOPPEL_STR("application/json"),
        .request_id = req->request_id,
        .remote_addr = req->remote_addr,
        .server = {oi.service, strlen(oi.service)},
    };
    doppel_reply_t *rep = NULL;
    int rc = in->svc->engine_match(in->ctx, &x, &rep);
    if (rc == 0 && rep != NULL && rep->kind == DOPPEL_REPLY_PROXY) {
        /* only record-and-replay services answer PROXY (a soap mock may
         * not proxy): the exchange stays alive until the upstream answered */
        answer_proxy(in, ex, req, &r, rep, &x, &body, &target, &oi, version);
        free(body);
        free(target);
        soap_envelope_free(&env);
        return 0;
    }
    free(body);
    free(target);
    answer_t *a = NULL;
    const char *result = "error";
    uint32_t delay = 0;
    int matched = 0;
    if (rc < 0 || rep == NULL) {
        in->svc->log(in->ctx, DOPPEL_LOG_ERROR, "engine_match failed: %d", rc);
        a = fault_answer(version, "Server", "matching failed", NULL, 500);
    } else if (rep->kind == DOPPEL_REPLY_RESPONSE) {
        a = mock_answer(in, rep, version, &result);
        delay = rep->delay_ms;
        matched = 1;
    } else {
        if (oi.known && in->sample_answers)
            a = sample_answer(in, &r, action, &env, version);
        result = a ? "sample" : "miss";
        if (a == NULL)
            a = miss_answer(rep, version, &r, &oi);
    }
    if (rep)
        in->svc->engine_reply_free(in->ctx, rep);
    soap_envelope_free(&env);
    count(in, oi.service, oi.operation, result,
          oi.known || matched);
    if (a == NULL) {
        in->svc->http_respond(ex, 500, NULL, 0, NULL, 0);
        return 0;
    }
    answer_later(in, ex, a, delay);
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static int prefix_valid(const char *p)
{
    size_t l = strlen(p);
    if (l < 2 || p[0] != '/' || p[l - 1] == '/')
        return 0;
    return strpbrk(p, "?#% \t") == NULL;
}

static int read_paths(soap_inst_t *in)
{
    const char *opt = in->svc->option_str(in->ctx, "paths");
    if (opt == NULL || opt[0] == '\0')
        return 0;
    in->paths_mem = strdup(opt);
    if (in->paths_mem == NULL)
        return -ENOMEM;
    for (char *save = NULL, *p = strtok_r(in->paths_mem, ":", &save); p;
         p = strtok_r(NULL, ":", &save)) {
        if (p[0] != '/' || strpbrk(p, "?# \t") || strlen(p) > 512) {
            in->svc->log(in->ctx, DOPPEL_LOG_ERROR,
                         "paths '%s': expected request paths starting with "
                         "'/', colon-separated",
                         p);
            return -EINVAL;
        }
        if (in->n_paths == sizeof(in->paths) / sizeof(in->paths[0])) {
            in->svc->log(in->ctx, DOPPEL_LOG_ERROR, "paths: at most 32 paths");
            return -EINVAL;
        }
        in->paths[in->n_paths++] = p;
    }
    return 0;
}

static int soap_init(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     void **state)
{
    if (!DOPPEL_HAS_SERVICE(svc, http_mount) ||
        !DOPPEL_HAS_SERVICE(svc, http_respond) ||
        !DOPPEL_HAS_SERVICE(svc, engine_match) ||
        !DOPPEL_HAS_SERVICE(svc, shared) ||
        !DOPPEL_HAS_SERVICE(svc, timer_start) ||
        !DOPPEL_HAS_SERVICE(svc, stop_done))
        return -ENOTSUP;
    soap_xml_init();
    soap_inst_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->ctx = ctx;
    in->svc = svc;
    in->sh = soap_shared(ctx, svc);
    in->stubs_prefix = svc->option_str(ctx, "stubs_prefix");
    if (in->stubs_prefix == NULL)
        in->stubs_prefix = "/stubs";
    in->stubs_len = strlen(in->stubs_prefix);
    in->ns_default = svc->option_str(ctx, "namespace");
    if (in->ns_default == NULL || in->ns_default[0] == '\0')
        in->ns_default = "sandbox";
    in->sample_answers = svc->option_bool(ctx, "sample_answers");
    in->lim.max_bytes = (size_t)svc->option_int(ctx, "max_envelope_bytes");
    in->lim.max_depth = (int)svc->option_int(ctx, "max_depth");
    int rc = 0;
    if (in->sh == NULL)
        rc = -ENOMEM;
    else if (!prefix_valid(in->stubs_prefix)) {
        svc->log(ctx, DOPPEL_LOG_ERROR,
                 "stubs_prefix '%s': expected a path like /stubs",
                 in->stubs_prefix);
        rc = -EINVAL;
    } else if (!doppel_name_valid(in->ns_default, strlen(in->ns_default),
                                  NS_MAX)) {
        svc->log(ctx, DOPPEL_LOG_ERROR, "namespace '%s': not a namespace name",
                 in->ns_default);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = read_paths(in);
    if (rc == 0) {
        doppel_http_mount_t m = {
            .size = sizeof(m),
            .classify = soap_classify,
            .handler = soap_handle,
            .state = in,
            .priority = 10,
        };
        rc = svc->http_mount(ctx, &m);
        if (rc < 0)
            svc->log(ctx, DOPPEL_LOG_ERROR, "cannot mount: %s", strerror(-rc));
    }
    if (rc < 0) {
        free(in->paths_mem);
        free(in);
        return rc;
    }
    if (DOPPEL_HAS_SERVICE(svc, subscribe))
        (void)svc->subscribe(ctx, DOPPEL_EVENT_DRAINING);
    *state = in;
    return 0;
}

static int soap_start(void *state)
{
    (void)state;
    return 0;
}

static int soap_stop(void *state)
{
    soap_inst_t *in = state;
    in->stopping = 1;
    answer_all_now(in);
    /* forwards still in flight are called back (-ECANCELED at the
     * latest) before destroy; stop_done waits for them */
    if (in->n_forwarding == 0)
        in->svc->stop_done(in->ctx);
    else
        in->stop_waiting = 1;
    return 0;
}

static int soap_on_event(void *state, const doppel_event_t *ev)
{
    soap_inst_t *in = state;
    if (ev->id != DOPPEL_EVENT_DRAINING)
        return DOPPEL_DECLINED;
    in->draining = 1;
    answer_all_now(in);
    return DOPPEL_OK;
}

static void soap_destroy(void *state)
{
    soap_inst_t *in = state;
    /* every pending answer and forward ended in stop */
    for (size_t i = 0; i < in->n_labels; i++)
        free(in->labels[i]);
    free(in->paths_mem);
    free(in);
}

static const doppel_option_t soap_options[] = {
    {"wsdl_path", DOPPEL_OPT_STRING, 0, NULL,
     "colon-separated WSDL/XSD files loaded at start into `namespace`", 0, -1,
     {0}},
    {"namespace", DOPPEL_OPT_STRING, 0, "sandbox",
     "namespace of wsdl_path, and of requests without X-Namespace", 0, -1,
     {0}},
    {"paths", DOPPEL_OPT_STRING, 0, NULL,
     "colon-separated request paths always served as SOAP endpoints", 0, -1,
     {0}},
    {"stubs_prefix", DOPPEL_OPT_STRING, 0, "/stubs",
     "path prefix addressing a namespace: <prefix>/<namespace>/<path>", 0, -1,
     {0}},
    {"sample_answers", DOPPEL_OPT_BOOL, 0, "true",
     "answer a WSDL operation without a mock with a sample from its types", 0,
     -1, {0}},
    {"max_envelope_bytes", DOPPEL_OPT_SIZE, 0, "4m",
     "largest request envelope; larger: a Client fault", 1024,
     (int64_t)1 << 30, {0}},
    {"max_depth", DOPPEL_OPT_INT, 0, "128",
     "deepest element nesting of a request envelope", 4, 256, {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

static const doppel_plugin_t soap_plugin = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "soap",
    .version = "0.1.0",
    .summary = "SOAP 1.1/1.2 mocks with WSDL: serves mocks with a soap section",
    .kind = DOPPEL_KIND_PROTOCOL,
    .options = soap_options,
    .init = soap_init,
    .start = soap_start,
    .stop = soap_stop,
    .destroy = soap_destroy,
    .on_event = soap_on_event,
    .protocol = &soap_protocol_def,
};

DOPPEL_PLUGIN_DEFINE(soap_plugin)
