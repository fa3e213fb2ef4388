/*
 * Host settings: the [server] section as dp_conf_server_read parsed it
 * (host/conf/config_server.c holds the schema and the defaults), turned into
 * what the runtime uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime.h"

int dp_settings_load(const dp_conf_t *c, dp_settings_t *s, char *err,
                     size_t errlen)
{
    dp_conf_server_t cs;
    int rc = dp_conf_server_read(c, &cs, err, errlen);
    if (rc < 0)
        return rc;
    memset(s, 0, sizeof(*s));
    s->listen_host = strdup(cs.host);
    s->listen_port = cs.port;
    s->data_dir = strdup(cs.data);
    if (s->listen_host == NULL || s->data_dir == NULL) {
        dp_settings_free(s);
        return -ENOMEM;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->workers = cs.workers ? cs.workers : (cores > 0 ? (unsigned)cores : 1);
    dp_http_limits_default(&s->limits);
    s->limits.max_header_bytes = cs.max_header_bytes;
    s->limits.max_body_bytes = cs.max_body_bytes;
    s->limits.idle_timeout_ms = cs.idle_timeout_ms;
    s->limits.header_timeout_ms = cs.header_timeout_ms;
    s->limits.body_timeout_ms = cs.body_timeout_ms;
    s->drain_timeout_ms = cs.drain_timeout_ms;
    struct rlimit rl;
    s->nofile =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
            ? (uint64_t)rl.rlim_cur
            : UINT64_C(1) << 20;
    s->max_connections_auto = cs.max_connections == 0;
    s->max_connections = s->max_connections_auto
                             ? dp_settings_default_connections(s->nofile)
                             : (size_t)cs.max_connections;
    s->journal_size = cs.journal_size ? (size_t)cs.journal_size : 1;
    s->engine_limits = cs.engine_limits;
    s->auth = cs.auth;
    s->metrics_auth = cs.metrics_auth;
    s->allow_private_upstreams = cs.allow_private_upstreams;
    memcpy(s->default_mode, cs.default_mode, sizeof(s->default_mode));
    memcpy(s->redact_headers, cs.redact_headers, sizeof(s->redact_headers));
    s->record_body_max = cs.record_body_max;
    s->record_sequence_max = cs.record_sequence_max;
    s->mock_versions_max = cs.mock_versions_max;
    return 0;
}

size_t dp_settings_default_connections(uint64_t nofile)
{
    uint64_t headroom = nofile / 4 > 64 ? nofile / 4 : 64;
    uint64_t n = nofile > 2 * headroom ? nofile - headroom : nofile / 2;
    return n > 0 ? (size_t)n : 1;
}

size_t dp_settings_conn_share(const dp_settings_t *s, unsigned workers)
{
    size_t n = s->max_connections / (workers ? workers : 1);
    return n > 0 ? n : 1;
}

int dp_settings_set_listen(dp_settings_t *s, const char *v)
{
    char host[256];
    int port;
    if (dp_conf_parse_listen(v, host, sizeof(host), &port) != 0)
        return -EINVAL;
    char *h = strdup(host);
    if (h == NULL)
        return -ENOMEM;
    free(s->listen_host);
    s->listen_host = h;
    s->listen_port = port;
    return 0;
}

void dp_settings_free(dp_settings_t *s)
{
    free(s->listen_host);
    free(s->data_dir);
    s->listen_host = s->data_dir = NULL;
}
