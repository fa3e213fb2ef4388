/* The plugin loader against the ABI fixtures (tests/abi): exact refusal
 * lines, nothing left loaded after a refusal, descriptor checks on
 * hand-made descriptors, section resolution, the plugin directory and the
 * `doppel plugins` listing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/config.h"
#include "conf/loader.h"

#define FX(name) DOPPEL_ABI_FIXTURE_DIR "/doppel_" name ".so"

static char err[2048];

static int is_loaded(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h != NULL) {
        dlclose(h);
        return 1;
    }
    return 0;
}

static void refused(const char *path, int want_rc, const char *msg)
{
    dp_plugin_lib_t *lib = (dp_plugin_lib_t *)0x1;
    err[0] = '\0';
    int rc = dp_loader_open(path, &lib, err, sizeof(err));
    if (rc != want_rc)
        fail_msg("%s: rc %d, want %d (%s)", path, rc, want_rc, err);
    assert_null(lib);
    assert_string_equal(err, msg);
    /* A refusal leaves nothing open. */
    assert_false(is_loaded(path));
}

static void test_abi_1_0_size_is_frozen(void **st)
{
    (void)st;
    /* The 1.0 layout may never change; this size is part of the promise
     * (LP64). */
    assert_int_equal(DOPPEL_PLUGIN_SIZE_1_0, 88);
    assert_int_equal(sizeof(doppel_option_t), 64);
}

static void test_refusals(void **st)
{
    (void)st;
    char want[512];

    refused(FX("missing"), -ENOENT, FX("missing") ": plugin file not found");
    refused(FX("no_entry"), -ENOEXEC,
            FX("no_entry") ": not a doppel plugin: no symbol "
                           "'doppel_plugin_entry'");
    refused(FX("null_entry"), -EINVAL,
            FX("null_entry") ": entry function returned no descriptor");
    refused(FX("wrong_major"), -EPROTO,
            FX("wrong_major") ": plugin 'wrong_major': ABI major mismatch: "
                              "host 1, plugin 2");
    refused(FX("newer_minor"), -EPROTO,
            FX("newer_minor") ": plugin 'newer_minor': ABI minor too new: "
                              "host 1.2, plugin 1.3");
    snprintf(want, sizeof(want),
             "%s: plugin 'too_small': descriptor too small for ABI 1.0: size "
             "24, need at least %zu",
             FX("too_small"), (size_t)DOPPEL_PLUGIN_SIZE_1_0);
    refused(FX("too_small"), -EPROTO, want);
    refused(FX("bad_name"), -EINVAL,
            FX("bad_name") ": plugin name 'Bad Name' is not valid: expected "
                           "[a-z][a-z0-9_-]*, at most 64 characters");
    refused(FX("missing_init"), -EINVAL,
            FX("missing_init") ": plugin 'missing_init': missing required "
                               "callback 'init'");
    refused(DOPPEL_ABI_FIXTURE_DIR, -EINVAL,
            DOPPEL_ABI_FIXTURE_DIR ": cannot load: not a regular file");

    /* Not an ELF file: the dlerror text follows, without the path twice. */
    dp_plugin_lib_t *lib = NULL;
    assert_int_equal(dp_loader_open(FX("not_elf"), &lib, err, sizeof(err)),
                     -ENOEXEC);
    assert_null(lib);
    const char *prefix = FX("not_elf") ": cannot load: ";
    assert_memory_equal(err, prefix, strlen(prefix));
    assert_null(strstr(err + strlen(prefix), FX("not_elf")));
    assert_non_null(strstr(err, "ELF"));
    assert_null(strchr(err, '\n'));
}

/* ---- A fake services table for calling fixture callbacks ---------------- */

static dp_options_t *fake_opts;
static uint32_t subscribed;
static int stop_done_calls;

static const char *f_option_str(doppel_ctx_t *ctx, const char *name)
{
    (void)ctx;
    const dp_option_value_t *v = dp_options_get(fake_opts, name);
    return v ? v->text : NULL;
}

static int64_t f_option_int(doppel_ctx_t *ctx, const char *name)
{
    (void)ctx;
    const dp_option_value_t *v = dp_options_get(fake_opts, name);
    return v && v->set ? v->num : 0;
}

static int f_option_bool(doppel_ctx_t *ctx, const char *name)
{
    return (int)f_option_int(ctx, name);
}

static int f_subscribe(doppel_ctx_t *ctx, uint32_t id)
{
    (void)ctx;
    subscribed = id;
    return 0;
}

static void f_stop_done(doppel_ctx_t *ctx)
{
    (void)ctx;
    stop_done_calls++;
}

static dp_options_t *options_for(const doppel_plugin_t *d, const char *text)
{
    dp_conf_t *c = NULL;
    dp_options_t *o = NULL;
    if (dp_conf_parse(text, "p.conf", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    if (dp_options_validate(d, &c->sections[0], "p.conf", &o, err,
                            sizeof(err)) != 0)
        fail_msg("%s", err);
    dp_conf_free(c);
    return o;
}

/* Mirrors good.c's state (the fixture's private layout). */
typedef struct good_state {
    uint32_t magic;
    char label[64];
    int64_t count;
    int verbose;
    int64_t buffer;
    int64_t timeout;
    unsigned ticks;
} good_state_t;

static void test_good_loads_and_runs(void **st)
{
    (void)st;
    dp_plugin_lib_t *lib = NULL, *lib2 = NULL;
    assert_int_equal(dp_loader_open(FX("good"), &lib, err, sizeof(err)), 0);
    assert_non_null(lib);
    assert_string_equal(lib->path, FX("good"));
    assert_non_null(lib->dl);
    const doppel_plugin_t *d = lib->desc;
    assert_string_equal(d->name, "good");
    assert_string_equal(d->version, "1.2.3");
    assert_int_equal(d->kind, DOPPEL_KIND_FEATURE);
    assert_true(is_loaded(FX("good")));

    /* Two instances of the same plugin: the file is opened twice. */
    assert_int_equal(dp_loader_open(FX("good"), &lib2, err, sizeof(err)), 0);
    assert_ptr_equal(lib2->desc, lib->desc);

    fake_opts = options_for(d, "[g1]\nlabel = first\ncount = 42\n"
                               "verbose = on\nbuffer = 2k\ntimeout = 1s\n");
    doppel_services_t svc = {
        .size = sizeof(svc),
        .abi_major = DOPPEL_ABI_MAJOR,
        .abi_minor = DOPPEL_ABI_MINOR,
        .option_str = f_option_str,
        .option_int = f_option_int,
        .option_bool = f_option_bool,
        .subscribe = f_subscribe,
        .stop_done = f_stop_done,
    };
    void *state = NULL;
    subscribed = 0;
    assert_int_equal(d->init(NULL, &svc, &state), 0);
    good_state_t *gs = state;
    assert_int_equal(gs->magic, 0x600d600du);
    assert_string_equal(gs->label, "first");
    assert_int_equal(gs->count, 42);
    assert_int_equal(gs->verbose, 1);
    assert_int_equal(gs->buffer, 2048);
    assert_int_equal(gs->timeout, 1000);
    assert_int_equal(subscribed, DOPPEL_EVENT_TICK);
    assert_int_equal(d->start(state), 0);
    doppel_event_t tick = {sizeof(tick), DOPPEL_EVENT_TICK, 1, 0, NULL};
    doppel_event_t other = {sizeof(other), DOPPEL_EVENT_RELOAD, 1, 0, NULL};
    assert_int_equal(d->on_event(state, &tick), DOPPEL_OK);
    assert_int_equal(d->on_event(state, &tick), DOPPEL_OK);
    assert_int_equal(d->on_event(state, &other), DOPPEL_DECLINED);
    assert_int_equal(gs->ticks, 2);
    stop_done_calls = 0;
    assert_int_equal(d->stop(state), 0);
    assert_int_equal(stop_done_calls, 1);
    d->destroy(state);
    dp_options_free(fake_opts);

    /* A services table from an older host (only the header): the plugin
     * sees no services through DOPPEL_HAS_SERVICE and still inits. */
    doppel_services_t old = {.size = offsetof(doppel_services_t, log)};
    old.option_str = f_option_str; /* beyond size: must not be used */
    subscribed = 0;
    assert_int_equal(d->init(NULL, &old, &state), 0);
    assert_string_equal(((good_state_t *)state)->label, "");
    assert_int_equal(subscribed, 0);
    d->destroy(state);

    dp_loader_close(lib2);
    assert_true(is_loaded(FX("good")));
    dp_loader_close(lib);
    assert_false(is_loaded(FX("good")));
}

static void test_frozen_1_0_still_loads(void **st)
{
    (void)st;
    dp_plugin_lib_t *lib = NULL;
    assert_int_equal(dp_loader_open(FX("frozen_1_0"), &lib, err, sizeof(err)),
                     0);
    const doppel_plugin_t *d = lib->desc;
    assert_string_equal(d->name, "frozen_1_0");
    assert_int_equal(d->abi_major, 1);
    assert_int_equal(d->abi_minor, 0);
    assert_true(d->size >= DOPPEL_PLUGIN_SIZE_1_0);

    /* Its frozen option table validates with today's host. */
    fake_opts = options_for(d, "[f]\nlevel = 7\n");
    assert_int_equal(dp_options_get(fake_opts, "level")->num, 7);
    doppel_services_t svc = {
        .size = sizeof(svc),
        .abi_major = DOPPEL_ABI_MAJOR,
        .abi_minor = DOPPEL_ABI_MINOR,
        .option_int = f_option_int,
    };
    void *state = NULL;
    assert_int_equal(d->init(NULL, &svc, &state), 0);
    struct {
        uint32_t magic;
        int64_t level;
    } *fs = state;
    assert_int_equal(fs->magic, 0xf0f01010u);
    assert_int_equal(fs->level, 7);
    assert_int_equal(d->start(state), 0);
    assert_null(d->stop);
    d->destroy(state);
    dp_options_free(fake_opts);
    dp_loader_close(lib);
}

/* ---- Hand-made descriptors ---------------------------------------------- */

static int noop_init(doppel_ctx_t *c, const doppel_services_t *s, void **st)
{
    (void)c;
    (void)s;
    *st = NULL;
    return 0;
}

static void noop_destroy(void *st)
{
    (void)st;
}

static doppel_plugin_t base(void)
{
    doppel_plugin_t d = {
        .size = sizeof(doppel_plugin_t),
        .abi_major = DOPPEL_ABI_MAJOR,
        .abi_minor = DOPPEL_ABI_MINOR,
        .name = "hand",
        .version = "1",
        .kind = DOPPEL_KIND_PROTOCOL,
        .init = noop_init,
        .destroy = noop_destroy,
    };
    return d;
}

static void check_bad(const doppel_plugin_t *d, const char *msg)
{
    err[0] = '\0';
    assert_true(dp_loader_check_desc(d, "/p/x.so", err, sizeof(err)) < 0);
    assert_string_equal(err, msg);
}

static int def_check(doppel_ctx_t *ctx, const doppel_services_t *svc,
                     const doppel_mock_view_t *m, doppel_mock_key_t *k,
                     doppel_check_error_t *e)
{
    (void)ctx, (void)svc, (void)m, (void)k, (void)e;
    return 0;
}

/* ABI 1.2: the protocol field is read only from a descriptor that claims
 * minor 2 and covers it; a definition must name its section and check. */
static void test_protocol_field(void **st)
{
    (void)st;
    static const doppel_protocol_def_t def = {
        .size = sizeof(def), .section = "toy", .check = def_check};
    doppel_plugin_t d = base();
    assert_null(dp_loader_protocol(&d));
    d.protocol = &def;
    assert_int_equal(dp_loader_check_desc(&d, "/p/x.so", err, sizeof(err)), 0);
    assert_ptr_equal(dp_loader_protocol(&d), &def);

    /* a 1.1 descriptor has no protocol, whatever lies beyond its fields */
    d.abi_minor = 1;
    assert_null(dp_loader_protocol(&d));
    assert_int_equal(dp_loader_check_desc(&d, "/p/x.so", err, sizeof(err)), 0);
    /* a 1.2 descriptor too small for the field is refused */
    d.abi_minor = 2;
    d.size = DOPPEL_PLUGIN_SIZE_1_1;
    assert_null(dp_loader_protocol(&d));
    char want[256];
    snprintf(want, sizeof(want),
             "/p/x.so: plugin 'hand': descriptor too small for ABI 1.2: size "
             "%zu, need at least %zu",
             (size_t)DOPPEL_PLUGIN_SIZE_1_1, (size_t)DOPPEL_PLUGIN_SIZE_1_2);
    check_bad(&d, want);

    d = base();
    d.kind = DOPPEL_KIND_FEATURE;
    d.protocol = &def;
    check_bad(&d, "/p/x.so: plugin 'hand': a feature plugin cannot add a "
                  "protocol section");
    static const doppel_protocol_def_t no_check = {.size = sizeof(no_check),
                                                   .section = "toy"};
    d = base();
    d.protocol = &no_check;
    snprintf(want, sizeof(want),
             "/p/x.so: plugin 'hand': protocol definition incomplete: size "
             "%zu, section and check are required",
             sizeof(no_check));
    check_bad(&d, want);
    static const doppel_protocol_def_t tiny = {.size = 8, .section = "toy",
                                               .check = def_check};
    d.protocol = &tiny;
    check_bad(&d, "/p/x.so: plugin 'hand': protocol definition incomplete: "
                  "size 8, section and check are required");
}

static void test_check_desc(void **st)
{
    (void)st;
    doppel_plugin_t d = base();
    assert_int_equal(dp_loader_check_desc(&d, "/p/x.so", err, sizeof(err)), 0);

    /* A 1.0 descriptor exactly as large as 1.0 needs (no reserved slots). */
    d.size = DOPPEL_PLUGIN_SIZE_1_0;
    d.abi_minor = 0;
    d.reserved[0] = (void *)1; /* beyond size: never read */
    assert_int_equal(dp_loader_check_desc(&d, "/p/x.so", err, sizeof(err)), 0);

    d = base();
    d.size = 4;
    d.name = NULL; /* not covered anyway */
    char want[256];
    snprintf(want, sizeof(want),
             "/p/x.so: descriptor too small for ABI 1.0: size 4, need at "
             "least %zu",
             (size_t)DOPPEL_PLUGIN_SIZE_1_0);
    check_bad(&d, want);

    /* Size 12 does not cover the name: it is not read nor shown. */
    d = base();
    d.size = 12;
    d.abi_major = 7;
    check_bad(&d, "/p/x.so: ABI major mismatch: host 1, plugin 7");

    d = base();
    d.kind = 3;
    check_bad(&d, "/p/x.so: plugin 'hand': kind 3 is not valid: expected 1 "
                  "(protocol) or 2 (feature)");
    d = base();
    d.flags = 0x4;
    check_bad(&d, "/p/x.so: plugin 'hand': unknown flags 0x4: ABI 1.2 "
                  "defines none");
    d = base();
    d.destroy = NULL;
    check_bad(&d, "/p/x.so: plugin 'hand': missing required callback "
                  "'destroy'");
    d = base();
    d.reserved[5] = (void *)1;
    check_bad(&d, "/p/x.so: plugin 'hand': reserved[5] is not NULL: reserved "
                  "fields must be NULL in ABI 1.2");
    d = base();
    d.name = NULL;
    check_bad(&d, "/p/x.so: plugin has no name: expected [a-z][a-z0-9_-]*");
    d = base();
    d.name = "9lives";
    check_bad(&d, "/p/x.so: plugin name '9lives' is not valid: expected "
                  "[a-z][a-z0-9_-]*, at most 64 characters");
    d.name = "evil\n\x1b[1m";
    check_bad(&d, "/p/x.so: plugin name 'evil??[1m' is not valid: expected "
                  "[a-z][a-z0-9_-]*, at most 64 characters");
    check_bad(NULL, "/p/x.so: entry function returned no descriptor");
}

static void test_check_option_schema(void **st)
{
    (void)st;
    doppel_plugin_t d = base();
    doppel_option_t o[3];

    memset(o, 0, sizeof(o));
    o[0] = (doppel_option_t){"port", DOPPEL_OPT_INT, 0,           "99999", "",
                             1,      65535,          {NULL, NULL}};
    d.options = o;
    check_bad(&d, "/p/x.so: plugin 'hand': option 'port': default '99999' is "
                  "not valid: expected an integer in [1, 65535]");
    o[0].default_value = "80";
    assert_int_equal(dp_loader_check_desc(&d, "/p/x.so", err, sizeof(err)), 0);
    o[0].type = 9;
    check_bad(&d, "/p/x.so: plugin 'hand': option 'port': type 9 is not "
                  "valid: expected 1-5 (string, int, bool, size, duration)");
    o[0].type = DOPPEL_OPT_INT;
    o[0].flags = 0x10;
    check_bad(&d, "/p/x.so: plugin 'hand': option 'port': unknown flags "
                  "0x10");
    o[0].flags = DOPPEL_OPT_REQUIRED;
    o[1] = o[0];
    check_bad(&d, "/p/x.so: plugin 'hand': option 'port' is declared twice");
    o[1].name = "enabled";
    check_bad(&d, "/p/x.so: plugin 'hand': option 'enabled' is reserved by "
                  "the host");
    o[1].name = "bad key";
    check_bad(&d, "/p/x.so: plugin 'hand': option name 'bad key' is not "
                  "valid: expected [A-Za-z0-9_.-]+, at most 64 characters");
    o[1].name = "ok";
    o[1].reserved[1] = (void *)1;
    check_bad(&d, "/p/x.so: plugin 'hand': option 'ok': reserved fields must "
                  "be NULL");

    /* A table without terminator is caught, not walked forever. */
    doppel_option_t *many = calloc(300, sizeof(*many));
    char names[300][8];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof(names[i]), "o%d", i);
        many[i] = (doppel_option_t){
            names[i], DOPPEL_OPT_STRING, 0, NULL, NULL, 1, 0, {NULL, NULL}};
    }
    d.options = many;
    check_bad(&d, "/p/x.so: plugin 'hand': option table has no NULL-name "
                  "terminator within 256 entries");
    free(many);
}

/* ---- Sections, directories, listing ------------------------------------ */

static dp_conf_section_t *section(dp_conf_t **c, const char *text)
{
    if (dp_conf_parse(text, "plugins.conf", c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return &(*c)->sections[0];
}

static void test_open_section(void **st)
{
    (void)st;
    dp_conf_t *c = NULL;
    dp_plugin_lib_t *lib = NULL;

    /* By name from the directory (section name = plugin name). */
    dp_conf_section_t *s = section(&c, "[good]\nenabled = true\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     0);
    assert_string_equal(lib->desc->name, "good");
    assert_string_equal(lib->path, FX("good"));
    dp_loader_close(lib);
    dp_conf_free(c);

    /* plugin = NAME, instance named otherwise. */
    s = section(&c, "[g2]\nplugin = good\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     0);
    dp_loader_close(lib);
    dp_conf_free(c);

    /* path = FILE. */
    s = section(&c, "[x]\npath = " FX("frozen_1_0") "\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf", "/nonexistent",
                                            &lib, err, sizeof(err)),
                     0);
    assert_string_equal(lib->desc->name, "frozen_1_0");
    dp_loader_close(lib);
    dp_conf_free(c);

    /* Missing file names the instance. */
    s = section(&c, "[h1]\nplugin = hello\n");
    lib = (dp_plugin_lib_t *)0x1;
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     -ENOENT);
    assert_null(lib);
    assert_string_equal(err, FX("hello") ": plugin file not found (instance "
                                         "'h1')");
    dp_conf_free(c);

    /* The file holds another plugin than the section asks for. */
    s = section(&c, "[h1]\n\nplugin = hello\npath = " FX("good") "\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_null(lib);
    assert_string_equal(err,
                        "plugins.conf:3: instance 'h1': " FX(
                            "good") " holds plugin 'good', expected 'hello'");
    assert_false(is_loaded(FX("good")));
    dp_conf_free(c);

    /* A plugin name that could escape the directory is refused. */
    s = section(&c, "[h1]\nplugin = ../../etc/x\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugins.conf:2: instance 'h1': '../../etc/x' is "
                             "not a valid plugin name (expected "
                             "[a-z][a-z0-9_-]*)");
    dp_conf_free(c);
    s = section(&c, "[My.Http]\nenabled = 1\n");
    assert_int_equal(dp_loader_open_section(s, "plugins.conf",
                                            DOPPEL_ABI_FIXTURE_DIR, &lib, err,
                                            sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "plugins.conf:1: instance 'My.Http': 'My.Http' "
                             "is not a valid plugin name (expected "
                             "[a-z][a-z0-9_-]*); name the plugin with plugin "
                             "= NAME");
    dp_conf_free(c);

    /* A refused fixture through a section keeps its own message. */
    s = section(&c, "[w]\npath = " FX("wrong_major") "\n");
    assert_int_equal(
        dp_loader_open_section(s, "plugins.conf", NULL, &lib, err, sizeof(err)),
        -EPROTO);
    assert_string_equal(err, FX("wrong_major") ": plugin 'wrong_major': ABI "
                                               "major mismatch: host 1, "
                                               "plugin 2");
    dp_conf_free(c);
}

static void test_plugin_dir_and_path(void **st)
{
    (void)st;
    setenv("DOPPEL_PLUGIN_DIR", "/opt/my plugins", 1);
    char *d = dp_loader_plugin_dir();
    assert_string_equal(d, "/opt/my plugins");
    free(d);
    unsetenv("DOPPEL_PLUGIN_DIR");
    /* This test binary is in <build>/tests/unit, not <build>/bin: the build
     * tree rule does not apply and the installed directory is used. */
    d = dp_loader_plugin_dir();
    assert_string_equal(d, DOPPEL_PLUGIN_INSTALL_DIR);
    free(d);
    char *p = dp_loader_plugin_path("/usr/lib/doppel/plugins", "http");
    assert_string_equal(p, "/usr/lib/doppel/plugins/doppel_http.so");
    free(p);
}

static void test_list(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    int n = dp_loader_list(DOPPEL_ABI_FIXTURE_DIR, f);
    fclose(f);
    assert_int_equal(n, 3); /* frozen_1_0, frozen_1_1 and good */
    /* Sorted by file name. */
    const char *order[] = {"doppel_bad_name.so",
                           /* the frozen 1.0 plugin still says 1.0 */
                           "frozen_1_0 1.0.0 (feature, ABI 1.0)",
                           "frozen_1_1 1.1.0 (feature, ABI 1.1)",
                           "good 1.2.3 (feature, ABI 1.2)",
                           "doppel_missing_init.so",
                           "doppel_newer_minor.so",
                           "doppel_no_entry.so",
                           "doppel_not_elf.so",
                           "doppel_null_entry.so",
                           "doppel_too_small.so",
                           "doppel_wrong_major.so"};
    const char *at = buf;
    for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
        const char *p = strstr(at, order[i]);
        if (p == NULL)
            fail_msg("'%s' missing or out of order in:\n%s", order[i], buf);
        at = p;
    }
    assert_non_null(strstr(
        buf, "refused: " FX(
                 "wrong_major") ": plugin 'wrong_major': ABI major mismatch: "
                                "host 1, plugin 2\n"));
    assert_non_null(strstr(buf, "  ABI fixture: a valid feature plugin\n"));
    assert_non_null(strstr(buf, "  file: " FX("good") "\n"));
    /* The option table of good: name, type, default, required, range. */
    const char *rows[][5] = {
        {"label", "string", "-", "yes", "-"},
        {"count", "int", "3", "no", "[1, 100]"},
        {"verbose", "bool", "false", "no", "-"},
        {"buffer", "size", "64k", "no", "[1024, 1048576]"},
        {"timeout", "duration", "5s", "no", "[10, 60000]"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        const char *line = strstr(buf, rows[i][0]);
        char got[5][64];
        char help[128];
        /* Find the row that starts with the option name. */
        line = strstr(buf, "\n    ");
        while (line != NULL) {
            if (sscanf(line + 5, "%63s %63s %63s %63s", got[0], got[1], got[2],
                       got[3]) == 4 &&
                strcmp(got[0], rows[i][0]) == 0)
                break;
            line = strstr(line + 1, "\n    ");
        }
        if (line == NULL)
            fail_msg("row %s missing in:\n%s", rows[i][0], buf);
        assert_string_equal(got[1], rows[i][1]);
        assert_string_equal(got[2], rows[i][2]);
        assert_string_equal(got[3], rows[i][3]);
        const char *nl = strchr(line + 1, '\n');
        snprintf(help, sizeof(help), "%.*s", (int)(nl - line - 1), line + 1);
        assert_non_null(strstr(help, rows[i][4]));
    }
    free(buf);

    /* A missing directory is an error, not an empty list. */
    f = open_memstream(&buf, &len);
    assert_int_equal(dp_loader_list("/nonexistent-doppel-dir", f), -ENOENT);
    fclose(f);
    assert_string_equal(buf, "/nonexistent-doppel-dir: cannot read plugin "
                             "directory: No such file or directory\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_1_0_size_is_frozen),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_good_loads_and_runs),
        cmocka_unit_test(test_frozen_1_0_still_loads),
        cmocka_unit_test(test_check_desc),
        cmocka_unit_test(test_protocol_field),
        cmocka_unit_test(test_check_option_schema),
        cmocka_unit_test(test_open_section),
        cmocka_unit_test(test_plugin_dir_and_path),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
