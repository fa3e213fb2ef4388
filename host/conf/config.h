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
 * ("duplicate instance name 'x' (first at FILE:LINE)"). */
int dp_conf_load(const char *path, dp_conf_t **out, char *err, size_t errlen);

/* Parses text (for tests and the embedded defaults); name is used in
 * messages. */
int dp_conf_parse(const char *text, const char *name, dp_conf_t **out,
                  char *err, size_t errlen);

void dp_conf_free(dp_conf_t *c);

/* Lookups; NULL when absent. */
const dp_conf_section_t *dp_conf_section(const dp_conf_t *c, const char *name);
const dp_conf_kv_t *dp_conf_get(const dp_conf_section_t *s, const char *key);

/* Parses booleans true/false, yes/no, on/off, 1/0. Returns 0/1 or -1. */
int dp_conf_bool(const char *v);

/* The file `doppel serve` reads when --config is absent: the first that
 * exists of $DOPPEL_CONFIG, ./plugins.conf, $XDG_CONFIG_HOME/doppel/
 * plugins.conf (or ~/.config/doppel/plugins.conf), /etc/doppel/plugins.conf.
 * Returns a malloc'd path or NULL (then the embedded defaults apply). */
char *dp_conf_search(void);

/* The embedded default configuration text (same as packaging/plugins.conf). */
extern const char dp_conf_builtin[];

#endif
