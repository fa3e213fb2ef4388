/*
 * plugins.conf parser (see config.h for the format).
 *
 * The parser works on a private copy of the text, one line at a time, and
 * builds the whole dp_conf_t before handing it out: on any error the partial
 * result is freed, so a caller never sees half a configuration.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Copies at most 40 bytes of a user's text for a message, replacing bytes
 * that are not printable ASCII so hostile input cannot forge log lines. */
static void quote_for_msg(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t j = 0;

    for (size_t i = 0; i < n && j + 4 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            dst[j++] = '.';
            dst[j++] = '.';
            dst[j++] = '.';
            break;
        }
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void dp_conf_free(dp_conf_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_sections; i++) {
        dp_conf_section_t *s = &c->sections[i];
        for (size_t k = 0; k < s->n_kv; k++) {
            free(s->kv[k].key);
            free(s->kv[k].value);
        }
        free(s->kv);
        free(s->name);
    }
    free(c->sections);
    free(c->path);
    free(c);
}

static dp_conf_section_t *add_section(dp_conf_t *c, const char *name, size_t n,
                                      int line)
{
    dp_conf_section_t *ns;

    ns = realloc(c->sections, (c->n_sections + 1) * sizeof(*ns));
    if (ns == NULL)
        return NULL;
    c->sections = ns;
    ns = &c->sections[c->n_sections];
    memset(ns, 0, sizeof(*ns));
    ns->name = dup_n(name, n);
    if (ns->name == NULL)
        return NULL;
    ns->line = line;
    c->n_sections++;
    return ns;
}

static int add_kv(dp_conf_section_t *s, const char *key, size_t klen,
                  char *value, int line)
{
    dp_conf_kv_t *nkv;

    nkv = realloc(s->kv, (s->n_kv + 1) * sizeof(*nkv));
    if (nkv == NULL)
        return -ENOMEM;
    s->kv = nkv;
    nkv = &s->kv[s->n_kv];
    nkv->key = dup_n(key, klen);
    if (nkv->key == NULL)
        return -ENOMEM;
    nkv->value = value;
    nkv->line = line;
    s->n_kv++;
    return 0;
}

/* Parses the value part of "key = value" (v..end, already left-trimmed) into
 * a malloc'd string. */
static int parse_value(const char *v, const char *end, char **out,
                       const char *name, int line, char *err, size_t errlen)
{
    char *buf;
    size_t j = 0;

    if (v < end && *v == '"') {
        const char *p = v + 1;
        buf = malloc((size_t)(end - v) + 1);
        if (buf == NULL)
            return -ENOMEM;
        for (;;) {
            if (p >= end) {
                free(buf);
                set_err(err, errlen, "%s:%d: unterminated quoted value", name,
                        line);
                return -EINVAL;
            }
            if (*p == '"')
                break;
            if (*p == '\\') {
                if (p + 1 >= end) {
                    free(buf);
                    set_err(err, errlen, "%s:%d: unterminated quoted value",
                            name, line);
                    return -EINVAL;
                }
                switch (p[1]) {
                case '"':
                    buf[j++] = '"';
                    break;
                case '\\':
                    buf[j++] = '\\';
                    break;
                case 'n':
                    buf[j++] = '\n';
                    break;
                case 't':
                    buf[j++] = '\t';
                    break;
                default: {
                    char q[8];
                    quote_for_msg(q, sizeof(q), p + 1, 1);
                    free(buf);
                    set_err(err, errlen,
                            "%s:%d: unknown escape '\\%s' in quoted value "
                            "(known: \\\" \\\\ \\n \\t)",
                            name, line, q);
                    return -EINVAL;
                }
                }
                p += 2;
                continue;
            }
            buf[j++] = *p++;
        }
        buf[j] = '\0';
        p++; /* closing quote */
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p < end && *p != '#' && *p != ';') {
            free(buf);
            set_err(err, errlen, "%s:%d: unexpected text after quoted value",
                    name, line);
            return -EINVAL;
        }
        *out = buf;
        return 0;
    }
    /* Unquoted: an inline comment starts at '#' or ';' after whitespace. */
    const char *stop = end;
    for (const char *p = v; p < end; p++) {
        if ((*p == '#' || *p == ';') &&
            (p == v || isspace((unsigned char)p[-1]))) {
            stop = p;
            break;
        }
    }
    while (stop > v && isspace((unsigned char)stop[-1]))
        stop--;
    buf = dup_n(v, (size_t)(stop - v));
    if (buf == NULL)
        return -ENOMEM;
    *out = buf;
    return 0;
}

static const dp_conf_section_t *find_section_n(const dp_conf_t *c,
                                               const char *name, size_t n)
{
    for (size_t i = 0; i < c->n_sections; i++)
        if (strlen(c->sections[i].name) == n &&
            memcmp(c->sections[i].name, name, n) == 0)
            return &c->sections[i];
    return NULL;
}

static const dp_conf_kv_t *find_kv_n(const dp_conf_section_t *s,
                                     const char *key, size_t n)
{
    for (size_t i = 0; i < s->n_kv; i++)
        if (strlen(s->kv[i].key) == n && memcmp(s->kv[i].key, key, n) == 0)
            return &s->kv[i];
    return NULL;
}

static int parse_line(dp_conf_t *c, dp_conf_section_t **cur, const char *b,
                      const char *e, const char *name, int line, char *err,
                      size_t errlen)
{
    char q[64];

    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (b == e || *b == '#' || *b == ';')
        return 0;

    if (*b == '[') {
        const char *close = memchr(b, ']', (size_t)(e - b));
        const char *nb = b + 1, *ne;
        if (close == NULL) {
            set_err(err, errlen, "%s:%d: expected 'key = value' or '[section]'",
                    name, line);
            return -EINVAL;
        }
        for (const char *p = close + 1; p < e; p++) {
            if (*p == '#' || *p == ';')
                break;
            if (!isspace((unsigned char)*p)) {
                set_err(err, errlen,
                        "%s:%d: expected 'key = value' or '[section]'", name,
                        line);
                return -EINVAL;
            }
        }
        ne = close;
        while (nb < ne && isspace((unsigned char)*nb))
            nb++;
        while (ne > nb && isspace((unsigned char)ne[-1]))
            ne--;
        if (!valid_name(nb, (size_t)(ne - nb))) {
            quote_for_msg(q, sizeof(q), nb, (size_t)(ne - nb));
            set_err(err, errlen,
                    "%s:%d: invalid section name '%s' (expected "
                    "[A-Za-z0-9_.-]+)",
                    name, line, q);
            return -EINVAL;
        }
        const dp_conf_section_t *prev =
            find_section_n(c, nb, (size_t)(ne - nb));
        if (prev != NULL) {
            set_err(err, errlen,
                    "%s:%d: duplicate instance name '%s' (first defined at "
                    "line %d)",
                    name, line, prev->name, prev->line);
            return -EINVAL;
        }
        *cur = add_section(c, nb, (size_t)(ne - nb), line);
        return *cur ? 0 : -ENOMEM;
    }

    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (eq == NULL) {
        set_err(err, errlen, "%s:%d: expected 'key = value' or '[section]'",
                name, line);
        return -EINVAL;
    }
    const char *ke = eq;
    while (ke > b && isspace((unsigned char)ke[-1]))
        ke--;
    if (ke == b) {
        set_err(err, errlen, "%s:%d: expected 'key = value' or '[section]'",
                name, line);
        return -EINVAL;
    }
    if (!valid_name(b, (size_t)(ke - b))) {
        quote_for_msg(q, sizeof(q), b, (size_t)(ke - b));
        set_err(err, errlen,
                "%s:%d: invalid key '%s' (expected [A-Za-z0-9_.-]+)", name,
                line, q);
        return -EINVAL;
    }
    if (*cur == NULL) {
        quote_for_msg(q, sizeof(q), b, (size_t)(ke - b));
        set_err(err, errlen, "%s:%d: key '%s' outside of any [section]", name,
                line, q);
        return -EINVAL;
    }
    const dp_conf_kv_t *prev = find_kv_n(*cur, b, (size_t)(ke - b));
    if (prev != NULL) {
        set_err(err, errlen,
                "%s:%d: duplicate key '%s' in [%s] (first defined at line %d)",
                name, line, prev->key, (*cur)->name, prev->line);
        return -EINVAL;
    }
    const char *v = eq + 1;
    while (v < e && isspace((unsigned char)*v))
        v++;
    char *value = NULL;
    int rc = parse_value(v, e, &value, name, line, err, errlen);
    if (rc != 0)
        return rc;
    rc = add_kv(*cur, b, (size_t)(ke - b), value, line);
    if (rc != 0) {
        free(value);
        set_err(err, errlen, "%s: out of memory", name);
    }
    return rc;
}

static int parse_buf(const char *text, size_t len, const char *name,
                     const char *path, dp_conf_t **out, char *err,
                     size_t errlen)
{
    dp_conf_t *c;
    dp_conf_section_t *cur = NULL;
    const char *p = text, *end = text + len;
    int line = 0, rc = 0;

    *out = NULL;
    if (len > DP_CONF_MAX_BYTES) {
        set_err(err, errlen, "%s: file too large: %zu bytes, limit %d", name,
                len, DP_CONF_MAX_BYTES);
        return -EFBIG;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    if (path != NULL && (c->path = strdup(path)) == NULL)
        goto nomem;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (memchr(p, '\0', (size_t)(le - p)) != NULL) {
            set_err(err, errlen, "%s:%d: unexpected NUL byte", name, line);
            rc = -EINVAL;
            goto fail;
        }
        rc = parse_line(c, &cur, p, le, name, line, err, errlen);
        if (rc == -ENOMEM)
            goto nomem;
        if (rc != 0)
            goto fail;
        p = nl ? nl + 1 : end;
    }
    *out = c;
    return 0;
nomem:
    set_err(err, errlen, "%s: out of memory", name);
    rc = -ENOMEM;
fail:
    dp_conf_free(c);
    return rc;
}

int dp_conf_parse(const char *text, const char *name, dp_conf_t **out,
                  char *err, size_t errlen)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (text == NULL) {
        set_err(err, errlen, "%s: no text", name ? name : "(config)");
        return -EINVAL;
    }
    return parse_buf(text, strlen(text), name ? name : "(config)", NULL, out,
                     err, errlen);
}

int dp_conf_load(const char *path, dp_conf_t **out, char *err, size_t errlen)
{
    FILE *f;
    char *buf;
    size_t len = 0;
    struct stat st;
    int rc;

    if (out == NULL || path == NULL)
        return -EINVAL;
    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return -EISDIR;
    }
    /* Read at most one byte over the limit: enough to refuse, never more. */
    buf = malloc(DP_CONF_MAX_BYTES + 2);
    if (buf == NULL) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    len = fread(buf, 1, DP_CONF_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = errno ? -errno : -EIO;
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
        free(buf);
        fclose(f);
        return rc;
    }
    fclose(f);
    if (len > DP_CONF_MAX_BYTES) {
        free(buf);
        set_err(err, errlen, "%s: file too large: more than %d bytes", path,
                DP_CONF_MAX_BYTES);
        return -EFBIG;
    }
    buf[len] = '\0';
    rc = parse_buf(buf, len, path, path, out, err, errlen);
    free(buf);
    return rc;
}

const dp_conf_section_t *dp_conf_section(const dp_conf_t *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    return find_section_n(c, name, strlen(name));
}

const dp_conf_kv_t *dp_conf_get(const dp_conf_section_t *s, const char *key)
{
    if (s == NULL || key == NULL)
        return NULL;
    return find_kv_n(s, key, strlen(key));
}

int dp_conf_set(dp_conf_section_t *s, const char *key, const char *value)
{
    if (s == NULL || key == NULL || value == NULL)
        return -EINVAL;
    char *v = strdup(value);
    if (v == NULL)
        return -ENOMEM;
    dp_conf_kv_t *kv = (dp_conf_kv_t *)find_kv_n(s, key, strlen(key));
    if (kv != NULL) {
        free(kv->value);
        kv->value = v;
        return 0;
    }
    char *k = strdup(key);
    dp_conf_kv_t *n = realloc(s->kv, (s->n_kv + 1) * sizeof(*n));
    if (k == NULL || n == NULL) {
        free(k);
        free(v);
        if (n != NULL)
            s->kv = n;
        return -ENOMEM;
    }
    s->kv = n;
    s->kv[s->n_kv++] = (dp_conf_kv_t){k, v, 0};
    return 0;
}

int dp_conf_bool(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (v == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static char *existing(char *p)
{
    struct stat st;

    if (p != NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode))
        return p;
    free(p);
    return NULL;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s%s", a, b);
    return p;
}

char *dp_conf_search(void)
{
    const char *e = getenv("DOPPEL_CONFIG");
    char *p;

    /* An explicit $DOPPEL_CONFIG is returned even when missing, so that the
     * caller reports it instead of silently using another file. */
    if (e != NULL && *e != '\0')
        return strdup(e);
    if ((p = existing(strdup("plugins.conf"))) != NULL)
        return p;
    e = getenv("XDG_CONFIG_HOME");
    if (e != NULL && *e == '/')
        p = existing(join(e, "/doppel/plugins.conf"));
    else if ((e = getenv("HOME")) != NULL && *e != '\0')
        p = existing(join(e, "/.config/doppel/plugins.conf"));
    if (p != NULL)
        return p;
#ifdef DOPPEL_SYSCONF_DIR
    if ((p = existing(strdup(DOPPEL_SYSCONF_DIR "/doppel/plugins.conf"))))
        return p;
#endif
    return existing(strdup("/etc/doppel/plugins.conf"));
}
