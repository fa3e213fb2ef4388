/*
 * Host settings from the [server] section. The section is checked with the
 * same schema validator as plugin sections (unknown keys, types, ranges, all
 * with FILE:LINE), against the host's own option table below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

static const doppel_option_t server_options[] = {
    {"listen", DOPPEL_OPT_STRING, 0, "127.0.0.1:5770",
     "address and port of the HTTP front (HOST:PORT, [V6]:PORT)", 1, 0, {0}},
    {"workers", DOPPEL_OPT_INT, 0, "0",
     "event loops, one per thread; 0 = number of cores", 0, 256, {0}},
    {"data", DOPPEL_OPT_STRING, 0, "./doppel-data",
     "directory of the embedded store (doppel.db)", 1, 0, {0}},
    {"max_header_bytes", DOPPEL_OPT_SIZE, 0, "16k",
     "largest request line + headers (larger: 431)", 1024, 1 << 20, {0}},
    {"max_body_bytes", DOPPEL_OPT_SIZE, 0, "8m",
     "largest request body (larger: 413)", 0, (int64_t)1 << 30, {0}},
    {"idle_timeout", DOPPEL_OPT_DURATION, 0, "60s",
     "close a keep-alive connection idle this long", 100, 3600000, {0}},
    {"header_timeout", DOPPEL_OPT_DURATION, 0, "10s",
     "a request head must arrive within this (else 408)", 100, 600000, {0}},
    {"body_timeout", DOPPEL_OPT_DURATION, 0, "30s",
     "a request body must arrive within this (else 408)", 100, 3600000, {0}},
    {"drain_timeout", DOPPEL_OPT_DURATION, 0, "10s",
     "on SIGTERM, wait this long for in-flight requests", 0, 600000, {0}},
    {"journal_size", DOPPEL_OPT_INT, 0, "10000",
     "entries kept in the request journal and in the unmatched list", 1,
     10000000, {0}},
    {NULL, 0, 0, NULL, NULL, 0, 0, {0}},
};

static const doppel_plugin_t server_schema = {
    .size = sizeof(doppel_plugin_t),
    .abi_major = DOPPEL_ABI_MAJOR,
    .abi_minor = DOPPEL_ABI_MINOR,
    .name = "server",
    .version = DOPPEL_VERSION,
    .summary = "host settings",
    .kind = DOPPEL_KIND_FEATURE,
    .options = server_options,
};

const doppel_plugin_t *dp_settings_schema(void) { return &server_schema; }

int dp_settings_parse_listen(const char *v, char **host, int *port)
{
    const char *colon;
    const char *h = v;
    size_t hlen;
    if (v == NULL || *v == '\0')
        return -EINVAL;
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL || end[1] != ':')
            return -EINVAL;
        h = v + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            return -EINVAL;
        hlen = (size_t)(colon - v);
    }
    char *endp;
    errno = 0;
    long p = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || errno || p < 0 || p > 65535)
        return -EINVAL;
    *host = hlen ? strndup(h, hlen) : strdup("127.0.0.1");
    if (*host == NULL)
        return -ENOMEM;
    *port = (int)p;
    return 0;
}

int dp_settings_load(const dp_conf_t *c, dp_settings_t *s, char *err,
                     size_t errlen)
{
    static const dp_conf_section_t empty = {0};
    const dp_conf_section_t *sec = dp_conf_section(c, "server");
    dp_options_t *o = NULL;
    int rc = dp_options_validate(&server_schema, sec ? sec : &empty,
                                 c->path ? c->path : "built-in defaults", &o,
                                 err, errlen);
    if (rc < 0)
        return rc;

    memset(s, 0, sizeof(*s));
    const dp_option_value_t *v = dp_options_get(o, "listen");
    if (dp_settings_parse_listen(v->text, &s->listen_host, &s->listen_port)) {
        const dp_conf_kv_t *kv = sec ? dp_conf_get(sec, "listen") : NULL;
        snprintf(err, errlen,
                 "%s:%d: [server] option 'listen' expects HOST:PORT, found "
                 "'%s'",
                 c->path ? c->path : "built-in defaults", kv ? kv->line : 0,
                 v->text);
        dp_options_free(o);
        return -EINVAL;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->workers = (unsigned)dp_options_get(o, "workers")->num;
    if (s->workers == 0)
        s->workers = cores > 0 ? (unsigned)cores : 1;
    s->data_dir = strdup(dp_options_get(o, "data")->text);
    dp_http_limits_default(&s->limits);
    s->limits.max_header_bytes =
        (size_t)dp_options_get(o, "max_header_bytes")->num;
    s->limits.max_body_bytes = (size_t)dp_options_get(o, "max_body_bytes")->num;
    s->limits.idle_timeout_ms =
        (uint64_t)dp_options_get(o, "idle_timeout")->num;
    s->limits.header_timeout_ms =
        (uint64_t)dp_options_get(o, "header_timeout")->num;
    s->limits.body_timeout_ms =
        (uint64_t)dp_options_get(o, "body_timeout")->num;
    s->drain_timeout_ms = (uint64_t)dp_options_get(o, "drain_timeout")->num;
    s->journal_size = (size_t)dp_options_get(o, "journal_size")->num;
    dp_options_free(o);
    if (s->data_dir == NULL) {
        dp_settings_free(s);
        return -ENOMEM;
    }
    return 0;
}

void dp_settings_free(dp_settings_t *s)
{
    free(s->listen_host);
    free(s->data_dir);
    s->listen_host = s->data_dir = NULL;
}
