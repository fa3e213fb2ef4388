/*
 * plugins.conf: an INI-style file.
 *
 *   # comment            ; comment
 *   [server]             host settings (listen, workers, data, limits)
 *   listen = 127.0.0.1:5770
 *
 *   [http]               one section per plugin instance; the section name
 *   enabled = true       is the instance name, and the plugin defaults to it
 *
 *   [mcp-control]
 *   plugin = mcp         which installed plugin this instance runs
 *   path = /opt/x.so     or an explicit shared object (third-party plugins)
 *   enabled = true
 *   port = 5772          the plugin's own options, checked against its schema
 *
 * Values may be quoted with "..." (backslash escapes \" \\ \n). Keys and
 * section names match [A-Za-z0-9_.-]+. Every key and section remembers its
 * line for error messages ("plugins.conf:12: ...").
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stddef.h>

typedef struct dp_conf_kv {
    char *key;
    char *value;
    int line;
} dp_conf_kv_t;

typedef struct dp_conf_section {
    char *name;      /* instance name */
    int line;
    dp_conf_kv_t *kv; /* in file order, excluding nothing (plugin/path/enabled
                       * included) */
    size_t n_kv;
} dp_conf_section_t;

typedef struct dp_conf {
    char *path; /* file it was read from, NULL for built-in defaults */
    dp_conf_section_t *sections;
    size_t n_sections;
} dp_conf_t;

/* Parses a file. On error returns a negative errno and writes one line
 * "FILE:LINE: message" into err. Duplicate section names are refused here
 * ("FILE:LINE: duplicate instance name 'x' (first defined at line N)"), and so
 * are duplicate keys in a section, lines that are neither a section nor
 * key = value, and files over DP_CONF_MAX_BYTES. Unquoted values end at a
 * '#' or ';' that follows whitespace (an inline comment). */
int dp_conf_load(const char *path, dp_conf_t **out, char *err, size_t errlen);

/* Parses text (for tests and the embedded defaults); name is used in
 * messages. */
int dp_conf_parse(const char *text, const char *name, dp_conf_t **out,
                  char *err, size_t errlen);

void dp_conf_free(dp_conf_t *c);

/* Lookups; NULL when absent. */
const dp_conf_section_t *dp_conf_section(const dp_conf_t *c, const char *name);
const dp_conf_kv_t *dp_conf_get(const dp_conf_section_t *s, const char *key);

/* Sets key to value in section s (a command-line override): replaces the
 * value of an existing key, or appends the key with line 0. Both strings
 * are copied. 0 or -ENOMEM (s unchanged). */
int dp_conf_set(dp_conf_section_t *s, const char *key, const char *value);

/* Parses booleans true/false, yes/no, on/off, 1/0. Returns 0/1 or -1. */
int dp_conf_bool(const char *v);

/* The file `doppel serve` reads when --config is absent: the first that
 * exists of $DOPPEL_CONFIG, ./plugins.conf, $XDG_CONFIG_HOME/doppel/
 * plugins.conf (or ~/.config/doppel/plugins.conf), /etc/doppel/plugins.conf.
 * The install's sysconfdir (DOPPEL_SYSCONF_DIR) is tried before /etc. A set
 * $DOPPEL_CONFIG is returned even if the file is missing, so that the caller
 * reports it rather than silently reading another file.
 * Returns a malloc'd path or NULL (then the embedded defaults apply). */
char *dp_conf_search(void);

/* The embedded default configuration text (same as packaging/plugins.conf;
 * a unit test keeps the two equal). */
extern const char dp_conf_builtin[];

/* Maximum size of a plugins.conf file; larger files are refused. */
#define DP_CONF_MAX_BYTES (1024 * 1024)

/* Checks the [server] section (absent is fine: every key has a default).
 * Unknown keys and bad values -> -EINVAL with one line
 *   "FILE:LINE: [server]: option 'workers' expects an integer in [0, 1024],
 *    found 'lots'"
 *   "FILE:LINE: [server]: unknown option 'colour' (known: listen, ...)" */
int dp_conf_server_validate(const dp_conf_t *c, char *err, size_t errlen);

/* What request traffic can make the engine hold and send (bytes). */
typedef struct dp_engine_limits_conf {
    size_t journal_memory;  /* each ring over every namespace, 64 MiB */
    size_t store_value_max; /* one store entry, 1 MiB */
    size_t store_total_max; /* one namespace's stores, 64 MiB */
    size_t response_max;    /* a rendered answer, 16 MiB */
    size_t template_file_max; /* one response template file, 1 MiB */
} dp_engine_limits_conf_t;

/* The [server] settings, parsed, defaults applied. */
typedef struct dp_conf_server {
    char host[256];              /* listen host ("127.0.0.1", "::1") */
    int port;                    /* listen port, 0 = ephemeral */
    unsigned workers;            /* 0 = number of cores */
    char data[4096];             /* directory of the embedded store */
    size_t max_header_bytes;     /* 16 KiB */
    size_t max_body_bytes;       /* 8 MiB */
    unsigned long long idle_timeout_ms;   /* 60 s */
    unsigned long long header_timeout_ms; /* 10 s */
    unsigned long long body_timeout_ms;   /* 30 s */
    unsigned long long drain_timeout_ms;  /* 30 s */
    unsigned long long max_connections;   /* 0 = from RLIMIT_NOFILE */
    unsigned long long journal_size;      /* 10000 entries */
    dp_engine_limits_conf_t engine_limits;
    int auth;         /* 1: tokens required on /api/v1 (default) */
    int metrics_auth; /* 1: /metrics needs a token (default 0) */
    int allow_private_upstreams; /* 1: outbound guard lifted (default 0) */
    char default_mode[16];       /* record/replay default, "SPY" */
    char redact_headers[1024];   /* extra credential headers, "" none */
    size_t record_body_max;      /* 1 MiB */
    size_t record_sequence_max;  /* 100 */
    unsigned mock_versions_max;  /* 20; 0: none kept */
} dp_conf_server_t;

/* Validates like dp_conf_server_validate, then fills out. c may be NULL
 * (defaults only). */
int dp_conf_server_read(const dp_conf_t *c, dp_conf_server_t *out, char *err,
                        size_t errlen);

/* The [server] option table (NULL-name terminated), for `doppel --help`. */
struct doppel_option;
const struct doppel_option *dp_conf_server_options(void);

/* Splits "HOST:PORT" or "[V6]:PORT" (port 0..65535). 0 or -EINVAL. */
int dp_conf_parse_listen(const char *v, char *host, size_t hostlen, int *port);

/* 1 if the section has enabled = true, 0 if absent or false, -EINVAL (with
 * "FILE:LINE: [x]: option 'enabled' expects a boolean ..., found 'v'") for a
 * bad value. */
int dp_conf_enabled(const dp_conf_t *c, const dp_conf_section_t *s, char *err,
                    size_t errlen);

#endif
