/*
 * The [server] section: host settings, checked with the same option schema
 * machinery as plugin sections so that the messages read the same.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "loader.h"

#define KIB (1024ll)
#define MIB (1024ll * 1024)
#define GIB (1024ll * 1024 * 1024)
#define HOUR_MS (3600ll * 1000)

/* Defaults here are the single source: dp_conf_server_read parses them. */
/* clang-format off */
static const doppel_option_t server_schema[] = {
    {"listen", DOPPEL_OPT_STRING, 0, "127.0.0.1:5770",
     "address of the HTTP/1.1 front, HOST:PORT or [V6]:PORT", 1, 0, {0}},
    {"workers", DOPPEL_OPT_INT, 0, "0",
     "event-loop threads, 0 = number of cores", 0, 1024, {0}},
    {"data", DOPPEL_OPT_STRING, 0, "./doppel-data",
     "directory of the embedded store", 1, 0, {0}},
    {"max_header_bytes", DOPPEL_OPT_SIZE, 0, "16k",
     "request line + headers; over -> 431", 1 * KIB, 16 * MIB, {0}},
    {"max_body_bytes", DOPPEL_OPT_SIZE, 0, "8m",
     "request body; over -> 413", 0, 1 * GIB, {0}},
    {"idle_timeout", DOPPEL_OPT_DURATION, 0, "60s",
     "keep-alive connection with no request", 1, 24 * HOUR_MS, {0}},
    {"header_timeout", DOPPEL_OPT_DURATION, 0, "10s",
     "the request head must arrive within this", 1, HOUR_MS, {0}},
    {"body_timeout", DOPPEL_OPT_DURATION, 0, "30s",
     "the request body must arrive within this", 1, HOUR_MS, {0}},
    {"drain_timeout", DOPPEL_OPT_DURATION, 0, "30s",
     "how long a stop waits for requests in flight", 0, HOUR_MS, {0}},
    {"max_connections", DOPPEL_OPT_INT, 0, "0",
     "client connections held at once, split across workers (each "
     "listener of a worker holds its share); 0 = the descriptor limit "
     "less max(64, limit/4) kept for the store, plugins and upstreams",
     0, 10000000, {0}},
    {"journal_size", DOPPEL_OPT_INT, 0, "10000",
     "journal entries kept per namespace", 0, 100000000, {0}},
    /* what request traffic can make the engine hold and send */
    {"journal_memory", DOPPEL_OPT_SIZE, 0, "64m",
     "bytes the journal holds over every namespace (the unmatched list as "
     "much again); past it the namespace with the most entries loses its "
     "oldest",
     64 * KIB, 64 * GIB, {0}},
    {"store_value_max", DOPPEL_OPT_SIZE, 0, "1m",
     "bytes of one store entry (key + JSON); over -> 507 to mock traffic, "
     "413 to the admin API", 16, 1 * GIB, {0}},
    {"store_total_max", DOPPEL_OPT_SIZE, 0, "64m",
     "bytes of all the stores of one namespace; over -> 507", 1 * KIB,
     64 * GIB, {0}},
    {"response_max", DOPPEL_OPT_SIZE, 0, "16m",
     "bytes of a rendered mock answer; over -> 500 limit_exceeded", 1 * KIB,
     4 * GIB, {0}},
    {"template_file_max", DOPPEL_OPT_SIZE, 0, "1m",
     "bytes of one response template file (POST /api/v1/templates); over "
     "-> 413",
     16, 64 * MIB, {0}},
    {"auth", DOPPEL_OPT_BOOL, 0, "on",
     "require tokens on /api/v1; off (local mode) only on loopback", 0, -1,
     {0}},
    {"metrics_auth", DOPPEL_OPT_BOOL, 0, "off",
     "require a token to read /metrics", 0, -1, {0}},
    {"allow_private_upstreams", DOPPEL_OPT_BOOL, 0, "off",
     "let proxies reach loopback, private and link-local addresses "
     "(also ALLOW_PROXY_TO_PRIVATE_IPS=true)", 0, -1, {0}},
    {"default_mode", DOPPEL_OPT_STRING, 0, "SPY",
     "record/replay mode of namespaces that set none: PASSTHROUGH, LEARN, "
     "MOCK or SPY", 1, 0, {0}},
    {"redact_headers", DOPPEL_OPT_STRING, 0, "-",
     "extra credential headers, comma-separated, redacted like "
     "Authorization in recordings and the journal (\"-\": none)", 1, 0, {0}},
    {"record_body_max", DOPPEL_OPT_SIZE, 0, "1m",
     "bytes of a recorded body kept; longer bodies are stored truncated",
     1 * KIB, 1 * GIB, {0}},
    {"record_sequence_max", DOPPEL_OPT_INT, 0, "100",
     "answers a recorded oneOf sequence keeps", 1, 100000, {0}},
    {"mock_versions_max", DOPPEL_OPT_INT, 0, "20",
     "versions of each mock kept (every write keeps one; "
     "GET /api/v1/mocks/ID/versions); 0 = none", 0, 1000, {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};
/* clang-format on */

const doppel_option_t *dp_conf_server_options(void) { return server_schema; }

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

static void printable(char *dst, size_t dstlen, const char *s)
{
    size_t j = 0;

    for (size_t i = 0; s[i] != '\0' && j + 4 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

int dp_conf_parse_listen(const char *v, char *host, size_t hostlen, int *port)
{
    const char *colon, *hb, *he, *p;
    long n = 0;

    if (v == NULL)
        return -EINVAL;
    if (v[0] == '[') {
        he = strchr(v, ']');
        if (he == NULL || he[1] != ':')
            return -EINVAL;
        hb = v + 1;
        colon = he + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            return -EINVAL;
        hb = v;
        he = colon;
        if (memchr(hb, ':', (size_t)(he - hb)) != NULL)
            return -EINVAL; /* bare IPv6 needs brackets */
    }
    if (he == hb || (size_t)(he - hb) >= hostlen)
        return -EINVAL;
    for (p = hb; p < he; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '[' || *p == ']')
            return -EINVAL;
    p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        n = n * 10 + (*p - '0');
    }
    if (n > 65535)
        return -EINVAL;
    memcpy(host, hb, (size_t)(he - hb));
    host[he - hb] = '\0';
    *port = (int)n;
    return 0;
}

static const doppel_option_t *server_opt(const char *key)
{
    for (const doppel_option_t *o = server_schema; o->name; o++)
        if (strcmp(o->name, key) == 0)
            return o;
    return NULL;
}

/* Checks one [server] value; expects is filled on refusal. */
static int check_value(const doppel_option_t *o, const char *value,
                       int64_t *num, char *expects, size_t len)
{
    if (strcmp(o->name, "listen") == 0) {
        char host[256];
        int port;
        snprintf(expects, len, "HOST:PORT (or [V6]:PORT, port 0-65535)");
        return dp_conf_parse_listen(value, host, sizeof(host), &port);
    }
    if (o->type == DOPPEL_OPT_STRING && value[0] == '\0') {
        snprintf(expects, len, "a non-empty string");
        return -EINVAL;
    }
    if (strcmp(o->name, "default_mode") == 0) {
        static const char *const modes[] = {"PASSTHROUGH", "LEARN", "MOCK",
                                            "SPY", NULL};
        snprintf(expects, len, "PASSTHROUGH, LEARN, MOCK or SPY");
        for (size_t i = 0; modes[i]; i++)
            if (strcasecmp(value, modes[i]) == 0)
                return 0;
        return -EINVAL;
    }
    if (strcmp(o->name, "redact_headers") == 0) {
        snprintf(expects, len, "header names separated by commas, or -");
        if (strcmp(value, "-") == 0)
            return 0;
        for (const char *p = value; *p; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch != ',' && ch != ' ' &&
                (ch <= 0x20 || ch >= 0x7f || strchr("()<>@;:\\\"/[]?={}", ch)))
                return -EINVAL;
        }
        return strlen(value) < 1024 ? 0 : -EINVAL;
    }
    dp_option_expects(o, expects, len);
    return dp_option_parse(o, value, num);
}

int dp_conf_server_validate(const dp_conf_t *c, char *err, size_t errlen)
{
    const dp_conf_section_t *s = dp_conf_section(c, "server");
    const char *name;

    if (s == NULL)
        return 0;
    name = c->path ? c->path : "(built-in plugins.conf)";
    for (size_t k = 0; k < s->n_kv; k++) {
        const dp_conf_kv_t *kv = &s->kv[k];
        const doppel_option_t *o = server_opt(kv->key);
        char expects[128], q[96];
        int64_t num;

        if (o == NULL) {
            char known[512];
            size_t j = 0;
            for (const doppel_option_t *x = server_schema; x->name; x++)
                j += (size_t)snprintf(known + j, sizeof(known) - j, "%s%s",
                                      j ? ", " : "", x->name);
            set_err(err, errlen,
                    "%s:%d: [server]: unknown option '%s' (known: %s)", name,
                    kv->line, kv->key, known);
            return -EINVAL;
        }
        if (check_value(o, kv->value, &num, expects, sizeof(expects)) != 0) {
            printable(q, sizeof(q), kv->value);
            set_err(err, errlen,
                    "%s:%d: [server]: option '%s' expects %s, found '%s'", name,
                    kv->line, kv->key, expects, q);
            return -EINVAL;
        }
    }
    return 0;
}

int dp_conf_server_read(const dp_conf_t *c, dp_conf_server_t *out, char *err,
                        size_t errlen)
{
    const dp_conf_section_t *s = c ? dp_conf_section(c, "server") : NULL;
    int rc;

    if (out == NULL)
        return -EINVAL;
    if (c != NULL && (rc = dp_conf_server_validate(c, err, errlen)) != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    for (const doppel_option_t *o = server_schema; o->name; o++) {
        const dp_conf_kv_t *kv = dp_conf_get(s, o->name);
        const char *v = kv ? kv->value : o->default_value;
        int64_t num = 0;

        if (strcmp(o->name, "listen") == 0) {
            if (dp_conf_parse_listen(v, out->host, sizeof(out->host),
                                     &out->port) != 0)
                return -EINVAL;
            continue;
        }
        if (strcmp(o->name, "default_mode") == 0) {
            snprintf(out->default_mode, sizeof(out->default_mode), "%s", v);
            continue;
        }
        if (strcmp(o->name, "redact_headers") == 0) {
            snprintf(out->redact_headers, sizeof(out->redact_headers), "%s",
                     strcmp(v, "-") == 0 ? "" : v);
            continue;
        }
        if (strcmp(o->name, "data") == 0) {
            if (strlen(v) >= sizeof(out->data)) {
                set_err(err, errlen,
                        "%s:%d: [server]: option 'data' is too "
                        "long (limit %zu bytes)",
                        c && c->path ? c->path : "(built-in plugins.conf)",
                        kv ? kv->line : 0, sizeof(out->data) - 1);
                return -ENAMETOOLONG;
            }
            snprintf(out->data, sizeof(out->data), "%s", v);
            continue;
        }
        if (dp_option_parse(o, v, &num) != 0)
            return -EINVAL; /* defaults are tested; cannot happen */
        if (strcmp(o->name, "workers") == 0)
            out->workers = (unsigned)num;
        else if (strcmp(o->name, "max_header_bytes") == 0)
            out->max_header_bytes = (size_t)num;
        else if (strcmp(o->name, "max_body_bytes") == 0)
            out->max_body_bytes = (size_t)num;
        else if (strcmp(o->name, "idle_timeout") == 0)
            out->idle_timeout_ms = (unsigned long long)num;
        else if (strcmp(o->name, "header_timeout") == 0)
            out->header_timeout_ms = (unsigned long long)num;
        else if (strcmp(o->name, "body_timeout") == 0)
            out->body_timeout_ms = (unsigned long long)num;
        else if (strcmp(o->name, "drain_timeout") == 0)
            out->drain_timeout_ms = (unsigned long long)num;
        else if (strcmp(o->name, "max_connections") == 0)
            out->max_connections = (unsigned long long)num;
        else if (strcmp(o->name, "journal_size") == 0)
            out->journal_size = (unsigned long long)num;
        else if (strcmp(o->name, "journal_memory") == 0)
            out->engine_limits.journal_memory = (size_t)num;
        else if (strcmp(o->name, "store_value_max") == 0)
            out->engine_limits.store_value_max = (size_t)num;
        else if (strcmp(o->name, "store_total_max") == 0)
            out->engine_limits.store_total_max = (size_t)num;
        else if (strcmp(o->name, "response_max") == 0)
            out->engine_limits.response_max = (size_t)num;
        else if (strcmp(o->name, "template_file_max") == 0)
            out->engine_limits.template_file_max = (size_t)num;
        else if (strcmp(o->name, "auth") == 0)
            out->auth = (int)num;
        else if (strcmp(o->name, "metrics_auth") == 0)
            out->metrics_auth = (int)num;
        else if (strcmp(o->name, "allow_private_upstreams") == 0)
            out->allow_private_upstreams = (int)num;
        else if (strcmp(o->name, "record_body_max") == 0)
            out->record_body_max = (size_t)num;
        else if (strcmp(o->name, "record_sequence_max") == 0)
            out->record_sequence_max = (size_t)num;
        else if (strcmp(o->name, "mock_versions_max") == 0)
            out->mock_versions_max = (unsigned)num;
    }
    return 0;
}

int dp_conf_enabled(const dp_conf_t *c, const dp_conf_section_t *s, char *err,
                    size_t errlen)
{
    const dp_conf_kv_t *kv = dp_conf_get(s, "enabled");
    int b;

    if (kv == NULL)
        return 0;
    b = dp_conf_bool(kv->value);
    if (b < 0) {
        char q[96];
        printable(q, sizeof(q), kv->value);
        set_err(err, errlen,
                "%s:%d: [%s]: option 'enabled' expects a boolean "
                "(true/false, yes/no, on/off, 1/0), found '%s'",
                c && c->path ? c->path : "(built-in plugins.conf)", kv->line,
                s->name, q);
        return -EINVAL;
    }
    return b;
}
