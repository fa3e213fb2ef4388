/*
 * The plugin loader: finds, opens and checks plugin shared objects, and
 * validates an instance's plugins.conf section against the plugin's option
 * schema. Every refusal is one line naming the file, the plugin and what was
 * expected and found, e.g.
 *   /x/doppel_foo.so: plugin 'foo': ABI major mismatch: host 1, plugin 2
 * Nothing here starts anything; the host starts instances only after every
 * enabled section passed.
 */
#ifndef DP_LOADER_H
#define DP_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "doppel/plugin.h"

typedef struct dp_plugin_lib {
    char *path;  /* resolved file */
    void *dl;    /* dlopen handle */
    const doppel_plugin_t *desc;
} dp_plugin_lib_t;

/* Directory the host looks in for plugins named in plugins.conf: $DOPPEL_
 * PLUGIN_DIR if set; else, when the running binary sits in the build tree,
 * the plugins/ directory built beside it; else <prefix>/<libdir>/doppel/
 * plugins beside an installed <prefix>/bin/doppel, wherever it was
 * installed; else the configured install directory
 * (CMAKE_INSTALL_FULL_LIBDIR/doppel/plugins). Returns a malloc'd path. */
char *dp_loader_plugin_dir(void);

/* File of plugin `name` in dir: "<dir>/doppel_<name>.so". malloc'd. */
char *dp_loader_plugin_path(const char *dir, const char *name);

/* Opens and checks one plugin file: file exists, has the entry symbol,
 * returns a descriptor, size >= what its minor requires, ABI major equal,
 * ABI minor <= host, name well-formed, required callbacks present.
 * On refusal returns a negative errno, writes the one-line reason into err
 * and leaves nothing open. */
int dp_loader_open(const char *path, dp_plugin_lib_t **out, char *err,
                   size_t errlen);
void dp_loader_close(dp_plugin_lib_t *lib);

/* The descriptor checks of dp_loader_open on a descriptor already in
 * memory (the unit tests feed it hand-made descriptors). path is only used
 * in the message. Reads nothing beyond d->size. 0 or -EINVAL / -EPROTO. */
int dp_loader_check_desc(const doppel_plugin_t *d, const char *path, char *err,
                         size_t errlen);

/* The protocol section a checked descriptor adds (ABI 1.2), or NULL: the
 * field is read only when the descriptor claims minor 2 or later and its
 * size covers it, so an older plugin never has one. */
const doppel_protocol_def_t *dp_loader_protocol(const doppel_plugin_t *d);

/* Resolves and opens the plugin file of one plugins.conf section: its
 * `path` key if set, else dp_loader_plugin_path(dir, `plugin` key or the
 * section name). A missing file is refused as
 *   "<path>: plugin file not found (instance 'x')"
 * and, when the section names a plugin (`plugin` key, or the section name
 * when there is no `path`), a descriptor with another name is refused:
 *   "FILE:LINE: instance 'x': <path> holds plugin 'foo', expected 'bar'".
 * conf_name is the file name used in messages. */
int dp_loader_open_section(const dp_conf_section_t *s, const char *conf_name,
                           const char *dir, dp_plugin_lib_t **out, char *err,
                           size_t errlen);

/* Parses one option value as its schema type says: INT (decimal, checked
 * against [min, max] when min <= max), BOOL (1/0), SIZE (bytes; suffixes
 * k, m, g, powers of 1024), DURATION (ms; suffixes ms, s, m), STRING (num
 * 0). Returns 0, or -EINVAL (not of the type) / -ERANGE (out of range). */
int dp_option_parse(const doppel_option_t *o, const char *text, int64_t *num);

/* Writes what an option expects, e.g. "an integer in [1, 10]", used in
 * refusals and in `doppel plugins`. */
void dp_option_expects(const doppel_option_t *o, char *buf, size_t len);

/* Name of a type: "string", "int", "bool", "size", "duration", "?". */
const char *dp_option_type_name(uint32_t type);

/* Validated options of one instance, defaults applied. */
typedef struct dp_option_value {
    const doppel_option_t *opt; /* points into the descriptor */
    char *text;                 /* as written or the default; NULL if unset */
    int64_t num;                /* parsed INT/SIZE/DURATION (ms), BOOL 0/1 */
    int set;                    /* text != NULL */
} dp_option_value_t;

typedef struct dp_options {
    dp_option_value_t *v;
    size_t n;
} dp_options_t;

/* Checks a section against the plugin's schema: unknown key, wrong type,
 * out of range, missing required -> -EINVAL with
 * "FILE:LINE: plugin 'x' instance 'y': unknown option 'z'" (or the type
 * that was expected and the value found). The host-reserved keys
 * `enabled`, `plugin` and `path` are skipped. */
int dp_options_validate(const doppel_plugin_t *desc, const dp_conf_section_t *s,
                        const char *conf_name, dp_options_t **out, char *err,
                        size_t errlen);
void dp_options_free(dp_options_t *o);
const dp_option_value_t *dp_options_get(const dp_options_t *o,
                                        const char *name);

/* Writes the `doppel plugins` listing of every doppel_*.so in dir (name,
 * version, kind, ABI major.minor, summary, and each option with type,
 * default and help) to f. Files that are refused are listed with the reason.
 * Returns the number of plugins listed. */
int dp_loader_list(const char *dir, void *FILE_f);

#endif
