/*
 * The plugin loader (loader.h): resolves plugin files, dlopens them with
 * RTLD_NOW | RTLD_LOCAL and checks the descriptor before the host uses any
 * of it. The checks read the descriptor in a fixed order (size, major,
 * minor, then only the fields the claimed size covers), so a descriptor from
 * another ABI generation is refused without reading past its end.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

#define NAME_MAX_LEN 64
#define MAX_OPTIONS 256

/* Smallest descriptor size per ABI minor of the current major; a new minor
 * appends its size here. */
static const size_t min_size_by_minor[] = {DOPPEL_PLUGIN_SIZE_1_0,
                                           DOPPEL_PLUGIN_SIZE_1_1,
                                           DOPPEL_PLUGIN_SIZE_1_2};
_Static_assert(sizeof(min_size_by_minor) / sizeof(min_size_by_minor[0]) ==
                   DOPPEL_ABI_MINOR + 1,
               "one smallest descriptor size per ABI minor");

/* Bytes of the fixed header every ABI generation shares: size, major,
 * minor. */
#define HEADER_SIZE (offsetof(doppel_plugin_t, abi_minor) + sizeof(uint16_t))

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

/* Plugin text is shown in messages and listings, never trusted to be
 * printable: control bytes and non-ASCII become '?'. */
static void printable(char *dst, size_t dstlen, const char *s, size_t max)
{
    size_t j = 0;

    if (s == NULL) {
        snprintf(dst, dstlen, "%s", "");
        return;
    }
    for (size_t i = 0; s[i] != '\0' && j + 4 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            memcpy(dst + j, "...", 3);
            j += 3;
            break;
        }
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

static int valid_plugin_name(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, NAME_MAX_LEN + 1);
    if (n == 0 || n > NAME_MAX_LEN || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static int valid_option_name(const char *s)
{
    size_t n = strnlen(s, NAME_MAX_LEN + 1);

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int covers(uint32_t size, size_t off, size_t len)
{
    return off + len <= size;
}

char *dp_loader_plugin_dir(void)
{
    const char *env = getenv("DOPPEL_PLUGIN_DIR");
    char exe[PATH_MAX], probe[PATH_MAX + 32];
    ssize_t n;

    if (env != NULL && *env != '\0')
        return strdup(env);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;
        exe[n] = '\0';
        /* exe = <tree>/bin/doppel: strip two components to get <tree>. */
        for (int i = 0; i < 2; i++) {
            slash = strrchr(exe, '/');
            if (slash == NULL || slash == exe) {
                exe[0] = '\0';
                break;
            }
            *slash = '\0';
        }
        if (exe[0] != '\0') {
            snprintf(probe, sizeof(probe), "%s/CMakeCache.txt", exe);
            if (access(probe, F_OK) == 0) {
                snprintf(probe, sizeof(probe), "%s/plugins", exe);
                return strdup(probe);
            }
            /* An installed tree, wherever it was installed: <prefix>/bin/
             * doppel finds <prefix>/<libdir>/doppel/plugins. */
            struct stat st;
            snprintf(probe, sizeof(probe), "%s/%s", exe,
                     DOPPEL_PLUGIN_REL_DIR);
            if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode))
                return strdup(probe);
        }
    }
    return strdup(DOPPEL_PLUGIN_INSTALL_DIR);
}

char *dp_loader_plugin_path(const char *dir, const char *name)
{
    size_t n;
    char *p;

    if (dir == NULL || name == NULL)
        return NULL;
    n = strlen(dir) + strlen(name) + sizeof("/doppel_.so");
    p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/doppel_%s.so", dir, name);
    return p;
}

static int check_options(const doppel_option_t *opts, const char *path,
                         const char *label, char *err, size_t errlen)
{
    char q[80], expects[160];
    size_t n;

    if (opts == NULL)
        return 0;
    for (n = 0; n < MAX_OPTIONS && opts[n].name != NULL; n++) {
        const doppel_option_t *o = &opts[n];
        int64_t num;

        if (!valid_option_name(o->name)) {
            printable(q, sizeof(q), o->name, 40);
            set_err(err, errlen,
                    "%s: %soption name '%s' is not valid: expected "
                    "[A-Za-z0-9_.-]+, at most %d characters",
                    path, label, q, NAME_MAX_LEN);
            return -EINVAL;
        }
        if (strcmp(o->name, "enabled") == 0 || strcmp(o->name, "plugin") == 0 ||
            strcmp(o->name, "path") == 0) {
            set_err(err, errlen, "%s: %soption '%s' is reserved by the host",
                    path, label, o->name);
            return -EINVAL;
        }
        for (size_t j = 0; j < n; j++) {
            if (strcmp(opts[j].name, o->name) == 0) {
                set_err(err, errlen, "%s: %soption '%s' is declared twice",
                        path, label, o->name);
                return -EINVAL;
            }
        }
        if (o->type < DOPPEL_OPT_STRING || o->type > DOPPEL_OPT_DURATION) {
            set_err(err, errlen,
                    "%s: %soption '%s': type %u is not valid: expected 1-5 "
                    "(string, int, bool, size, duration)",
                    path, label, o->name, (unsigned)o->type);
            return -EINVAL;
        }
        if (o->flags & ~DOPPEL_OPT_REQUIRED) {
            set_err(err, errlen, "%s: %soption '%s': unknown flags 0x%x", path,
                    label, o->name,
                    (unsigned)(o->flags & ~DOPPEL_OPT_REQUIRED));
            return -EINVAL;
        }
        if (o->reserved[0] != NULL || o->reserved[1] != NULL) {
            set_err(err, errlen,
                    "%s: %soption '%s': reserved fields must be NULL", path,
                    label, o->name);
            return -EINVAL;
        }
        if (o->default_value != NULL &&
            dp_option_parse(o, o->default_value, &num) != 0) {
            dp_option_expects(o, expects, sizeof(expects));
            printable(q, sizeof(q), o->default_value, 60);
            set_err(err, errlen,
                    "%s: %soption '%s': default '%s' is not valid: expected "
                    "%s",
                    path, label, o->name, q, expects);
            return -EINVAL;
        }
    }
    if (n == MAX_OPTIONS) {
        set_err(err, errlen,
                "%s: %soption table has no NULL-name terminator within %d "
                "entries",
                path, label, MAX_OPTIONS);
        return -EINVAL;
    }
    return 0;
}

int dp_loader_check_desc(const doppel_plugin_t *d, const char *path, char *err,
                         size_t errlen)
{
    char label[NAME_MAX_LEN + 32] = "", q[96];
    uint32_t size;
    unsigned major, minor;
    size_t need;

    if (path == NULL)
        path = "(plugin)";
    if (d == NULL) {
        set_err(err, errlen, "%s: entry function returned no descriptor", path);
        return -EINVAL;
    }
    size = d->size;
    if (size < HEADER_SIZE) {
        set_err(err, errlen,
                "%s: descriptor too small for ABI %d.%d: size %" PRIu32
                ", need at least %zu",
                path, DOPPEL_ABI_MAJOR, 0, size, min_size_by_minor[0]);
        return -EPROTO;
    }
    major = d->abi_major;
    minor = d->abi_minor;
    /* The name sits at the same offset in every generation; it is read only
     * when the claimed size covers it, and shown only if well-formed. */
    if (covers(size, offsetof(doppel_plugin_t, name), sizeof(d->name)) &&
        valid_plugin_name(d->name))
        snprintf(label, sizeof(label), "plugin '%s': ", d->name);

    if (major != DOPPEL_ABI_MAJOR) {
        set_err(err, errlen, "%s: %sABI major mismatch: host %d, plugin %u",
                path, label, DOPPEL_ABI_MAJOR, major);
        return -EPROTO;
    }
    if (minor > DOPPEL_ABI_MINOR) {
        set_err(err, errlen,
                "%s: %sABI minor too new: host %d.%d, plugin %u.%u", path,
                label, DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR, major, minor);
        return -EPROTO;
    }
    need = min_size_by_minor[minor];
    if (size < need) {
        set_err(err, errlen,
                "%s: %sdescriptor too small for ABI %u.%u: size %" PRIu32
                ", need at least %zu",
                path, label, major, minor, size, need);
        return -EPROTO;
    }
    /* From here every ABI 1.0 field is covered by size. */
    if (!valid_plugin_name(d->name)) {
        if (d->name == NULL) {
            set_err(err, errlen,
                    "%s: plugin has no name: expected [a-z][a-z0-9_-]*", path);
        } else {
            printable(q, sizeof(q), d->name, 40);
            set_err(err, errlen,
                    "%s: plugin name '%s' is not valid: expected "
                    "[a-z][a-z0-9_-]*, at most %d characters",
                    path, q, NAME_MAX_LEN);
        }
        return -EINVAL;
    }
    if (d->kind != DOPPEL_KIND_PROTOCOL && d->kind != DOPPEL_KIND_FEATURE) {
        set_err(err, errlen,
                "%s: %skind %" PRIu32 " is not valid: expected 1 (protocol) "
                "or 2 (feature)",
                path, label, d->kind);
        return -EINVAL;
    }
    if (d->flags != 0) {
        set_err(err, errlen,
                "%s: %sunknown flags 0x%" PRIx32 ": ABI %d.%d defines none",
                path, label, d->flags, DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR);
        return -EINVAL;
    }
    if (d->init == NULL) {
        set_err(err, errlen, "%s: %smissing required callback 'init'", path,
                label);
        return -EINVAL;
    }
    if (d->destroy == NULL) {
        set_err(err, errlen, "%s: %smissing required callback 'destroy'", path,
                label);
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(d->reserved) / sizeof(d->reserved[0]); i++) {
        size_t off = offsetof(doppel_plugin_t, reserved) + i * sizeof(void *);
        if (!covers(size, off, sizeof(void *)))
            break;
        if (d->reserved[i] != NULL) {
            set_err(err, errlen,
                    "%s: %sreserved[%zu] is not NULL: reserved fields must be "
                    "NULL in ABI %u.%u",
                    path, label, i, major, minor);
            return -EINVAL;
        }
    }
    const doppel_protocol_def_t *pd = dp_loader_protocol(d);
    if (pd != NULL) {
        /* what the host reads of it at load: size, section, check */
        if (d->kind != DOPPEL_KIND_PROTOCOL) {
            set_err(err, errlen,
                    "%s: %sa feature plugin cannot add a protocol section",
                    path, label);
            return -EINVAL;
        }
        if (pd->size < offsetof(doppel_protocol_def_t, check) +
                           sizeof(pd->check) ||
            pd->section == NULL || pd->check == NULL) {
            set_err(err, errlen,
                    "%s: %sprotocol definition incomplete: size %" PRIu32
                    ", section and check are required",
                    path, label, pd->size);
            return -EINVAL;
        }
    }
    return check_options(d->options, path, label, err, errlen);
}

const doppel_protocol_def_t *dp_loader_protocol(const doppel_plugin_t *d)
{
    if (d == NULL || d->abi_major != DOPPEL_ABI_MAJOR || d->abi_minor < 2 ||
        !covers(d->size, offsetof(doppel_plugin_t, protocol),
                sizeof(d->protocol)))
        return NULL;
    return d->protocol;
}

/* dlerror() usually repeats the path ("/x/y.so: invalid ELF header"); the
 * refusal already starts with it. */
static const char *strip_path(const char *msg, const char *path)
{
    size_t n = strlen(path);

    if (msg == NULL)
        return "unknown dlopen error";
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

int dp_loader_open(const char *path, dp_plugin_lib_t **out, char *err,
                   size_t errlen)
{
    char *dlpath = NULL;
    struct stat st;
    void *dl;
    doppel_plugin_entry_fn entry;
    const doppel_plugin_t *desc;
    dp_plugin_lib_t *lib;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL || *path == '\0') {
        set_err(err, errlen, "%s: plugin file not found", path ? path : "");
        return -EINVAL;
    }
    if (stat(path, &st) != 0) {
        rc = -errno;
        if (rc == -ENOENT)
            set_err(err, errlen, "%s: plugin file not found", path);
        else
            set_err(err, errlen, "%s: cannot load: %s", path, strerror(-rc));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: cannot load: not a regular file", path);
        return -EINVAL;
    }
    /* A name without '/' would make dlopen search the library path. */
    if (strchr(path, '/') == NULL) {
        size_t n = strlen(path) + 3;
        dlpath = malloc(n);
        if (dlpath == NULL)
            goto nomem;
        snprintf(dlpath, n, "./%s", path);
    }
    dlerror();
    dl = dlopen(dlpath ? dlpath : path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        set_err(err, errlen, "%s: cannot load: %s", path,
                strip_path(dlerror(), dlpath ? dlpath : path));
        free(dlpath);
        return -ENOEXEC;
    }
    free(dlpath);
    dlerror();
    *(void **)&entry = dlsym(dl, DOPPEL_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        dlclose(dl);
        set_err(err, errlen, "%s: not a doppel plugin: no symbol '%s'", path,
                DOPPEL_PLUGIN_ENTRY_SYMBOL);
        return -ENOEXEC;
    }
    desc = entry();
    if (desc == NULL) {
        dlclose(dl);
        set_err(err, errlen, "%s: entry function returned no descriptor", path);
        return -EINVAL;
    }
    rc = dp_loader_check_desc(desc, path, err, errlen);
    if (rc != 0) {
        dlclose(dl);
        return rc;
    }
    lib = calloc(1, sizeof(*lib));
    if (lib == NULL || (lib->path = strdup(path)) == NULL) {
        free(lib);
        dlclose(dl);
        goto nomem;
    }
    lib->dl = dl;
    lib->desc = desc;
    *out = lib;
    return 0;
nomem:
    set_err(err, errlen, "%s: out of memory", path);
    return -ENOMEM;
}

void dp_loader_close(dp_plugin_lib_t *lib)
{
    if (lib == NULL)
        return;
    if (lib->dl != NULL)
        dlclose(lib->dl);
    free(lib->path);
    free(lib);
}

int dp_loader_open_section(const dp_conf_section_t *s, const char *conf_name,
                           const char *dir, dp_plugin_lib_t **out, char *err,
                           size_t errlen)
{
    const dp_conf_kv_t *path_kv, *plugin_kv;
    const char *expected;
    char *path = NULL, q[96];
    struct stat st;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return -EINVAL;
    if (conf_name == NULL)
        conf_name = "(config)";
    path_kv = dp_conf_get(s, "path");
    plugin_kv = dp_conf_get(s, "plugin");
    expected = plugin_kv ? plugin_kv->value : (path_kv ? NULL : s->name);
    if (expected != NULL && !valid_plugin_name(expected)) {
        printable(q, sizeof(q), expected, 60);
        set_err(err, errlen,
                "%s:%d: instance '%s': '%s' is not a valid plugin name "
                "(expected [a-z][a-z0-9_-]*)%s",
                conf_name, plugin_kv ? plugin_kv->line : s->line, s->name, q,
                plugin_kv ? "" : "; name the plugin with plugin = NAME");
        return -EINVAL;
    }
    if (path_kv != NULL) {
        if (path_kv->value[0] == '\0') {
            set_err(err, errlen,
                    "%s:%d: instance '%s': option 'path' expects a file, "
                    "found ''",
                    conf_name, path_kv->line, s->name);
            return -EINVAL;
        }
        path = strdup(path_kv->value);
    } else {
        if (dir == NULL) {
            set_err(err, errlen, "%s:%d: instance '%s': no plugin directory",
                    conf_name, s->line, s->name);
            return -EINVAL;
        }
        path = dp_loader_plugin_path(dir, expected);
    }
    if (path == NULL) {
        set_err(err, errlen, "%s: out of memory", conf_name);
        return -ENOMEM;
    }
    if (stat(path, &st) != 0 && errno == ENOENT) {
        set_err(err, errlen, "%s: plugin file not found (instance '%s')", path,
                s->name);
        free(path);
        return -ENOENT;
    }
    rc = dp_loader_open(path, out, err, errlen);
    if (rc == 0 && expected != NULL && strcmp((*out)->desc->name, expected)) {
        set_err(err, errlen,
                "%s:%d: instance '%s': %s holds plugin '%s', expected '%s'",
                conf_name, plugin_kv ? plugin_kv->line : s->line, s->name, path,
                (*out)->desc->name, expected);
        dp_loader_close(*out);
        *out = NULL;
        rc = -EINVAL;
    }
    free(path);
    return rc;
}

/* ---- doppel plugins ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_plugin_file(const char *n)
{
    size_t len = strlen(n);

    return len > strlen("doppel_.so") && strncmp(n, "doppel_", 7) == 0 &&
           strcmp(n + len - 3, ".so") == 0;
}

static const char *kind_name(uint32_t kind)
{
    return kind == DOPPEL_KIND_PROTOCOL ? "protocol" : "feature";
}

static void list_options(FILE *f, const doppel_option_t *opts)
{
    size_t n = 0, wn = 4, wt = 4, wd = 7, wr = 5;
    char range[64], def[64];

    if (opts != NULL)
        while (opts[n].name != NULL)
            n++;
    if (n == 0) {
        fprintf(f, "  options: none\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const doppel_option_t *o = &opts[i];
        size_t l;
        if ((l = strlen(o->name)) > wn)
            wn = l;
        if ((l = strlen(dp_option_type_name(o->type))) > wt)
            wt = l;
        printable(def, sizeof(def), o->default_value ? o->default_value : "-",
                  40);
        if ((l = strlen(def)) > wd)
            wd = l;
        if (o->min <= o->max && o->type != DOPPEL_OPT_STRING &&
            o->type != DOPPEL_OPT_BOOL)
            l = (size_t)snprintf(range, sizeof(range),
                                 "[%" PRId64 ", %" PRId64 "]", o->min, o->max);
        else
            l = 1;
        if (l > wr)
            wr = l;
    }
    fprintf(f, "  options:\n");
    fprintf(f, "    %-*s  %-*s  %-*s  %-8s  %-*s  %s\n", (int)wn, "NAME",
            (int)wt, "TYPE", (int)wd, "DEFAULT", "REQUIRED", (int)wr, "RANGE",
            "HELP");
    for (size_t i = 0; i < n; i++) {
        const doppel_option_t *o = &opts[i];
        char help[200];
        printable(def, sizeof(def), o->default_value ? o->default_value : "-",
                  40);
        if (o->min <= o->max && o->type != DOPPEL_OPT_STRING &&
            o->type != DOPPEL_OPT_BOOL)
            snprintf(range, sizeof(range), "[%" PRId64 ", %" PRId64 "]", o->min,
                     o->max);
        else
            snprintf(range, sizeof(range), "-");
        printable(help, sizeof(help), o->help ? o->help : "", 160);
        fprintf(f, "    %-*s  %-*s  %-*s  %-8s  %-*s  %s\n", (int)wn, o->name,
                (int)wt, dp_option_type_name(o->type), (int)wd, def,
                (o->flags & DOPPEL_OPT_REQUIRED) ? "yes" : "no", (int)wr, range,
                help);
    }
}

int dp_loader_list(const char *dir, void *FILE_f)
{
    FILE *f = FILE_f;
    DIR *d;
    struct dirent *e;
    char **names = NULL, err[1024];
    size_t n = 0, cap = 0;
    int listed = 0;

    if (dir == NULL || f == NULL)
        return -EINVAL;
    d = opendir(dir);
    if (d == NULL) {
        int rc = -errno;
        fprintf(f, "%s: cannot read plugin directory: %s\n", dir,
                strerror(-rc));
        return rc;
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_plugin_file(e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
            cap = nc;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            break;
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);

    /* The caller prints the directory and the host ABI above this. */
    if (n == 0)
        fprintf(f, "no plugins (doppel_*.so) in %s\n", dir);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], ver[80], sum[200];
        dp_plugin_lib_t *lib = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (i > 0)
            fprintf(f, "\n");
        if (dp_loader_open(path, &lib, err, sizeof(err)) != 0) {
            fprintf(f, "refused: %s\n", err);
            continue;
        }
        printable(ver, sizeof(ver), lib->desc->version, 60);
        printable(sum, sizeof(sum), lib->desc->summary, 160);
        fprintf(f, "%s %s (%s, ABI %u.%u)\n", lib->desc->name, ver,
                kind_name(lib->desc->kind), (unsigned)lib->desc->abi_major,
                (unsigned)lib->desc->abi_minor);
        if (sum[0] != '\0')
            fprintf(f, "  %s\n", sum);
        fprintf(f, "  file: %s\n", path);
        const doppel_protocol_def_t *pd = dp_loader_protocol(lib->desc);
        if (pd != NULL) {
            printable(sum, sizeof(sum), pd->section, 40);
            fprintf(f, "  mock section: %s\n", sum);
        }
        list_options(f, lib->desc->options);
        dp_loader_close(lib);
        listed++;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return listed;
}
