/*
 * Response template files under /api/v1/templates (docs/admin-api.md,
 * "Template files"): list, create, read, replace and delete. Bodies are
 * JSON {name, content[, namespace]} or multipart/form-data as the SDKs
 * upload files (a "file" part, with "name" and "namespace" fields); the
 * form is turned into the same JSON object before the namespace is
 * resolved and the call authorised, so both spellings are one request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_internal.h"

#define DEFAULT_NS "sandbox"
/* parts a template upload may carry: file, name, namespace, and a few
 * that clients add (ignored) */
#define FORM_PARTS_MAX 8
#define FORM_HEADER_MAX 1024

static const char *ns_of(const admin_call_t *c)
{
    return c->ns[0] ? c->ns : DEFAULT_NS;
}

/* ---- multipart/form-data (RFC 7578) -------------------------------------
 * The whole body is in memory (the front buffers it, max_body_bytes), so
 * the parser works on it in place. */

static const char *ctype_of(const admin_call_t *c, size_t *len)
{
    const doppel_str_t *h = c->req->header(c->req, "Content-Type");
    if (h == NULL)
        return NULL;
    *len = h->len;
    return h->ptr;
}

int admin_templates_is_form(const admin_call_t *c)
{
    size_t len = 0;
    const char *ct = ctype_of(c, &len);
    static const char mf[] = "multipart/form-data";
    return ct != NULL && len >= sizeof(mf) - 1 &&
           strncasecmp(ct, mf, sizeof(mf) - 1) == 0;
}

/* The boundary parameter of the Content-Type (quoted or not) into out. */
static int form_boundary(const admin_call_t *c, char *out, size_t outlen)
{
    size_t len = 0;
    const char *ct = ctype_of(c, &len);
    for (size_t i = 0; ct && i + 9 <= len; i++) {
        if (strncasecmp(ct + i, "boundary=", 9) != 0 ||
            (i > 0 && ct[i - 1] != ';' && ct[i - 1] != ' '))
            continue;
        const char *v = ct + i + 9;
        size_t n = len - i - 9, k = 0;
        int quoted = n > 0 && v[0] == '"';
        for (size_t j = quoted; j < n; j++) {
            if (quoted ? v[j] == '"' : (v[j] == ';' || v[j] == ' '))
                break;
            if (k + 1 >= outlen)
                return -EINVAL;
            out[k++] = v[j];
        }
        out[k] = '\0';
        /* RFC 2046: 1 to 70 characters */
        return k >= 1 && k <= 70 ? 0 : -EINVAL;
    }
    return -EINVAL;
}

static const char *find_bytes(const char *h, size_t hl, const char *n,
                              size_t nl)
{
    for (size_t i = 0; nl <= hl && i <= hl - nl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

/* The value of parameter key ("name", "filename") of a Content-Disposition
 * header line, or 0 when absent. */
static int disp_param(const char *line, size_t len, const char *key, char *out,
                      size_t outlen)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 <= len; i++) {
        if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') &&
            strncasecmp(line + i, key, kl) == 0 && line[i + kl] == '=') {
            const char *v = line + i + kl + 1;
            size_t n = len - i - kl - 1, k = 0;
            int quoted = n > 0 && v[0] == '"';
            for (size_t j = quoted; j < n; j++) {
                if (quoted ? v[j] == '"' : v[j] == ';')
                    break;
                if (k + 1 >= outlen)
                    return -EINVAL;
                out[k++] = v[j];
            }
            out[k] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Turns the form into c->body: {"name", "content", "namespace"} (each
 * when given; the file part's filename names the file when no name field
 * does). Answers 400 itself and returns -EINVAL on a malformed form. */
static int form_body(admin_call_t *c)
{
    char bnd[80], delim[84];
    if (form_boundary(c, bnd, sizeof(bnd)) < 0) {
        admin_reply_error(c, 400, "validation", NULL,
                          "multipart/form-data needs a boundary of 1 to 70 "
                          "characters");
        return -EINVAL;
    }
    int dl = snprintf(delim, sizeof(delim), "--%s", bnd);
    const char *b = (const char *)c->req->body;
    size_t blen = c->req->body_len;
    json_t *o = json_object();
    char filename[256] = "";
    int have_file = 0;
    const char *why = NULL;
    const char *p = b ? find_bytes(b, blen, delim, (size_t)dl) : NULL;
    if (o == NULL)
        why = "out of memory";
    else if (p == NULL)
        why = "no part found (missing boundary line)";
    for (int parts = 0; why == NULL; parts++) {
        p += dl;
        size_t left = blen - (size_t)(p - b);
        if (left >= 2 && p[0] == '-' && p[1] == '-')
            break; /* the closing delimiter */
        if (parts == FORM_PARTS_MAX) {
            why = "too many parts";
            break;
        }
        if (left < 2 || p[0] != '\r' || p[1] != '\n') {
            why = "a boundary line must end with CRLF";
            break;
        }
        p += 2;
        left -= 2;
        const char *hend = find_bytes(
            p, left < FORM_HEADER_MAX + 4 ? left : FORM_HEADER_MAX + 4,
            "\r\n\r\n", 4);
        if (hend == NULL) {
            why = "part headers too long or not ended by an empty line";
            break;
        }
        char field[64] = "";
        char fname[256] = "";
        int named = 0, has_fname = 0;
        for (const char *l = p; l < hend;) {
            const char *e = find_bytes(l, (size_t)(hend + 2 - l), "\r\n", 2);
            size_t ll = (size_t)(e - l);
            static const char cd[] = "content-disposition:";
            if (ll > sizeof(cd) - 1 &&
                strncasecmp(l, cd, sizeof(cd) - 1) == 0) {
                named = disp_param(l, ll, "name", field, sizeof(field));
                has_fname = disp_param(l, ll, "filename", fname, sizeof(fname));
                if (named < 0 || has_fname < 0) {
                    why = "a part's name or filename is too long";
                    break;
                }
            }
            l = e + 2;
        }
        if (why)
            break;
        if (named != 1) {
            why = "a part without Content-Disposition: form-data; name=";
            break;
        }
        const char *data = hend + 4;
        size_t dleft = blen - (size_t)(data - b);
        char crlfdelim[88];
        int cl = snprintf(crlfdelim, sizeof(crlfdelim), "\r\n%s", delim);
        const char *end = find_bytes(data, dleft, crlfdelim, (size_t)cl);
        if (end == NULL) {
            why = "a part is not closed by the boundary";
            break;
        }
        size_t n = (size_t)(end - data);
        const char *key = NULL;
        if (strcmp(field, "file") == 0 || strcmp(field, "content") == 0) {
            key = "content";
            have_file = 1;
            /* the filename names a new file (POST /templates), not a
             * replaced one, whose name is in the path */
            if (has_fname && c->nseg == 1)
                snprintf(filename, sizeof(filename), "%s", fname);
        } else if (strcmp(field, "name") == 0 ||
                   strcmp(field, "namespace") == 0) {
            key = field;
        }
        if (key != NULL) {
            if (json_object_get(o, key) != NULL) {
                why = "a field is given twice";
                break;
            }
            json_t *s = json_stringn(data, n);
            if (s == NULL) {
                admin_reply_error(c, 400, "validation",
                                  strcmp(key, "content") ? key : "file",
                                  "%s: expected UTF-8 text",
                                  strcmp(key, "content") ? key : "file");
                json_decref(o);
                return -EINVAL;
            }
            json_object_set_new(o, key, s);
        }
        p = end + 2;
    }
    if (why == NULL && !have_file)
        why = "no \"file\" part";
    if (why != NULL) {
        admin_reply_error(c, 400, "validation", "file",
                          "multipart/form-data: %s", why);
        json_decref(o);
        return -EINVAL;
    }
    if (json_object_get(o, "name") == NULL && filename[0])
        json_object_set_new(o, "name", json_string(filename));
    json_decref(c->body);
    c->body = o;
    return 0;
}

int admin_templates_form_body(admin_call_t *c)
{
    return form_body(c);
}

/* ---- handlers ------------------------------------------------------------ */

/* Checks the keys of a create or replace body and returns the content;
 * name_out receives the body's name (NULL when absent). Answers 400. */
static int read_body(admin_call_t *c, const char **name_out,
                     const json_t **content)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->body, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "content") != 0 &&
            strcmp(k, "namespace") != 0) {
            admin_reply_error(c, 400, "validation", k,
                              "%s: unknown field (expected name, content, "
                              "namespace)",
                              k);
            return -EINVAL;
        }
    }
    const json_t *n = json_object_get(c->body, "name");
    *name_out = NULL;
    if (n != NULL && !json_is_null(n)) {
        if (!json_is_string(n) ||
            strlen(json_string_value(n)) != json_string_length(n)) {
            admin_reply_error(c, 400, "validation", "name",
                              "name: expected a string");
            return -EINVAL;
        }
        *name_out = json_string_value(n);
    }
    *content = json_object_get(c->body, "content");
    if (!json_is_string(*content)) {
        admin_reply_error(c, 400, "validation", "content",
                          "content is required: the template text, a "
                          "string");
        return -EINVAL;
    }
    return 0;
}

static void put(admin_call_t *c, const char *name, const json_t *content,
                int mode)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_tfile_put(c->engine, ns_of(c), name,
                                 json_string_value(content),
                                 json_string_length(content), mode, &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, mode == DP_TFILE_CREATE ? 201 : 200, out);
}

/* GET /templates */
void tfiles_list(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_tfile_list(c->engine, ns_of(c), &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    /* the SDKs read a "templates" list; doppel's own answer is items */
    json_object_set(out, "templates", json_object_get(out, "items"));
    json_object_set_new(out, "namespace", json_string(ns_of(c)));
    admin_reply_json(c, 200, out);
}

/* POST /templates {name, content[, namespace]} */
void tfiles_create(admin_call_t *c)
{
    const char *name;
    const json_t *content;
    if (read_body(c, &name, &content) < 0)
        return;
    if (name == NULL) {
        admin_reply_error(c, 400, "validation", "name",
                          "name is required (the template file's name)");
        return;
    }
    put(c, name, content, DP_TFILE_CREATE);
}

/* GET /templates/NAME */
void tfiles_get(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_tfile_get(c->engine, ns_of(c), c->seg[1], &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200, out);
}

/* POST /templates/NAME {content[, name (the same), namespace]} */
void tfiles_replace(admin_call_t *c)
{
    const char *name;
    const json_t *content;
    if (read_body(c, &name, &content) < 0)
        return;
    if (name != NULL && strcmp(name, c->seg[1]) != 0) {
        admin_reply_error(c, 400, "validation", "name",
                          "name differs from the path (a file is renamed by "
                          "creating the new name and deleting the old)");
        return;
    }
    put(c, c->seg[1], content, DP_TFILE_REPLACE);
}

/* DELETE /templates/NAME */
void tfiles_delete(admin_call_t *c)
{
    dp_err_t err = {0};
    int rc = dp_engine_tfile_delete(c->engine, ns_of(c), c->seg[1], &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_empty(c, 204);
}
