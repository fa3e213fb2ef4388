/*
 * The process: configuration and plugin checks (all before anything starts),
 * the engine, the workers, signals, and the orderly stop.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin/schemas.h"
#include "auth/auth.h"
#include "base/log.h"
#include "runtime.h"

uint64_t dp_now_ms(void) { return uv_hrtime() / 1000000u; }

const char *dp_host_version(void) { return DOPPEL_VERSION; }
struct dp_engine *dp_host_engine(dp_host_t *h) { return h->engine; }
dp_metrics_t *dp_host_metrics(dp_host_t *h) { return h->metrics; }
int dp_host_ready(dp_host_t *h) { return h->ready && !h->draining; }
int dp_host_draining(dp_host_t *h) { return h->draining; }

double dp_host_uptime(dp_host_t *h)
{
    return (double)(dp_now_ms() - h->start_ms) / 1000.0;
}

static const char *instance_state(dp_host_t *h, dp_instance_t *in)
{
    unsigned started = in->started, stopped = in->stopped;
    if (in->failed)
        return "failed";
    if (h->draining)
        return stopped >= started ? "stopped" : "stopping";
    return started >= h->n_workers ? "started" : "starting";
}

size_t dp_host_instances(dp_host_t *h, dp_inst_info_t *out, size_t cap)
{
    for (size_t i = 0; i < h->n_instances && i < cap; i++) {
        dp_instance_t *in = &h->instances[i];
        const doppel_plugin_t *d = in->lib->desc;
        out[i] = (dp_inst_info_t){
            .name = in->name,
            .plugin = d->name,
            .version = d->version ? d->version : "",
            .kind = d->kind == DOPPEL_KIND_PROTOCOL ? "protocol" : "feature",
            .abi_major = d->abi_major,
            .abi_minor = d->abi_minor,
            .workers = h->n_workers,
            .workers_started = in->started,
            .state = instance_state(h, in),
        };
    }
    return h->n_instances;
}

/* ---- preparation: nothing starts unless everything checks out ---------- */

static int refuse(const char *msg)
{
    fprintf(stderr, "doppel: %s\n", msg);
    return DP_EXIT_CONFIG;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int load_instances(dp_host_t *h, const dp_conf_t *conf)
{
    char err[1024];
    char *dir = dp_loader_plugin_dir();
    const char *conf_name = conf->path ? conf->path : "built-in defaults";
    h->instances = calloc(conf->n_sections ? conf->n_sections : 1,
                          sizeof(*h->instances));
    if (dir == NULL || h->instances == NULL) {
        free(dir);
        return refuse("out of memory");
    }
    for (size_t i = 0; i < conf->n_sections; i++) {
        const dp_conf_section_t *s = &conf->sections[i];
        if (strcmp(s->name, "server") == 0)
            continue;
        int rc = dp_conf_enabled(conf, s, err, sizeof(err));
        if (rc == 0)
            continue;
        dp_instance_t *in = &h->instances[h->n_instances];
        if (rc > 0)
            rc = dp_loader_open_section(s, conf_name, dir, &in->lib, err,
                                        sizeof(err));
        if (rc == 0) {
            rc = dp_options_validate(in->lib->desc, s, conf_name, &in->opts,
                                     err, sizeof(err));
            if (rc < 0)
                dp_loader_close(in->lib);
        }
        if (rc < 0) {
            free(dir);
            return refuse(err);
        }
        in->name = strdup(s->name);
        h->n_instances++;
    }
    free(dir);
    return 0;
}

/* ABI 1.2: the protocol sections the loaded plugins add, registered
 * before the engine opens so that stored mocks of them compile at
 * start-up. Two instances adding one section: refused, naming both. */
static int register_sections(dp_host_t *h)
{
    char err[1024];
    h->protos = dp_protos_new();
    if (h->protos == NULL)
        return refuse("out of memory");
    for (size_t i = 0; i < h->n_instances; i++) {
        dp_instance_t *in = &h->instances[i];
        const doppel_protocol_def_t *pd = dp_loader_protocol(in->lib->desc);
        if (pd == NULL)
            continue;
        in->section_ctx = calloc(1, sizeof(*in->section_ctx));
        if (in->section_ctx == NULL)
            return refuse("out of memory");
        in->section_ctx->inst = in;
        /* the section ctx holds svc->shared's state like a copy does,
         * until the engine (which calls the section) is closed */
        dp_instance_copy_born(in);
        char owner[300];
        snprintf(owner, sizeof(owner), "instance '%s' (plugin %s)", in->name,
                 in->lib->desc->name);
        int rc = dp_protos_add(h->protos, pd, in->section_ctx, &dp_services,
                               owner, err, sizeof(err));
        if (rc < 0)
            return refuse(err);
        dp_info("host", "protocol section '%s' from %s", pd->section, owner);
    }
    return 0;
}

/* Tokens, namespaces and roles live in the same SQLite file as the store.
 * Local mode (no tokens) is refused unless the server binds to loopback. */
static int open_auth(dp_host_t *h, const dp_cli_t *cli, const char *db)
{
    char err[1024];
    dp_auth_cfg_t cfg;
    dp_auth_cfg_default(&cfg);
    cfg.local_mode = cli->no_auth || !h->settings.auth;
    if (cfg.local_mode && !dp_auth_local_mode_allowed(h->settings.listen_host)) {
        fprintf(stderr,
                "doppel: local mode (auth off) is only allowed on a loopback "
                "address, not '%s'\n",
                h->settings.listen_host);
        return DP_EXIT_CONFIG;
    }
    int rc = dp_auth_open(db, &cfg, &h->auth, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "doppel: cannot open auth: %s\n", err);
        return 1;
    }
    if (cfg.local_mode) {
        dp_warn("host", "local mode: /api/v1 needs no token (loopback only)");
        return 0;
    }
    rc = dp_auth_bootstrap(h->auth, h->settings.data_dir,
                           getenv("DOPPEL_ADMIN_TOKEN"), err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "doppel: %s\n", err);
        return DP_EXIT_CONFIG;
    }
    return 0;
}

int dp_host_metrics_check(dp_host_t *h, const doppel_http_request_t *req,
                          dp_err_t *err)
{
    if (!h->settings.metrics_auth || h->auth == NULL)
        return 0;
    return dp_auth_metrics_check(h->auth, req, err);
}

/* --mcp-listen: the listen option of every enabled section that runs the
 * mcp plugin by name ("plugin = mcp", or a section named mcp without
 * plugin/path). A section loaded from a path is left alone: its plugin is
 * known only once loaded. */
static int override_mcp_listen(dp_conf_t *conf, const char *v, char *err,
                               size_t errlen)
{
    char host[256];
    int port;
    if (strcmp(v, "off") != 0 &&
        dp_conf_parse_listen(v, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen,
                 "--mcp-listen expects HOST:PORT or off, found '%s'", v);
        return -EINVAL;
    }
    int found = 0;
    for (size_t i = 0; i < conf->n_sections; i++) {
        dp_conf_section_t *s = &conf->sections[i];
        const dp_conf_kv_t *pk = dp_conf_get(s, "plugin");
        const char *plugin = pk ? pk->value
                                : (dp_conf_get(s, "path") ? NULL : s->name);
        if (plugin == NULL || strcmp(plugin, "mcp") != 0 ||
            dp_conf_enabled(conf, s, err, errlen) <= 0)
            continue;
        if (dp_conf_set(s, "listen", v) < 0) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        found++;
    }
    if (found == 0) {
        snprintf(err, errlen,
                 "--mcp-listen: %s has no enabled section running the mcp "
                 "plugin",
                 conf->path ? conf->path : "the built-in configuration");
        return -EINVAL;
    }
    return 0;
}

int dp_host_prepare(dp_host_t *h, const dp_cli_t *cli)
{
    char err[1024];
    dp_conf_t *conf = NULL;
    int rc;
    char *path = cli->config ? strdup(cli->config) : dp_conf_search();
    if (path) {
        rc = dp_conf_load(path, &conf, err, sizeof(err));
        free(path);
    } else {
        rc = dp_conf_parse(dp_conf_builtin, NULL, &conf, err, sizeof(err));
    }
    if (rc < 0)
        return refuse(err);
    rc = dp_settings_load(conf, &h->settings, err, sizeof(err));
    if (rc == 0 && cli->listen &&
        dp_settings_set_listen(&h->settings, cli->listen) < 0) {
        snprintf(err, sizeof(err), "--listen expects HOST:PORT, found '%s'",
                 cli->listen);
        rc = -EINVAL;
    }
    if (rc == 0 && cli->data) {
        free(h->settings.data_dir);
        h->settings.data_dir = strdup(cli->data);
    }
    if (rc == 0 && cli->workers > 0)
        h->settings.workers = (unsigned)cli->workers;
    if (rc == 0 && cli->mcp_listen)
        rc = override_mcp_listen(conf, cli->mcp_listen, err, sizeof(err));
    if (rc == 0)
        dp_info("host", "configuration: %s",
                conf->path ? conf->path : "built-in defaults");
    /* OpenSSL initialises itself (configuration, algorithm fetch) on first
     * use, in whichever thread that is; done here, on the main thread, so
     * no thread-pool thread (where tokens are checked) is left holding the
     * per-thread error state of that initialisation until the process
     * ends. */
    if (rc == 0) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
            SHA256((const unsigned char *)"", 0, d) == NULL)
            rc = -EIO;
    }
    if (rc == 0)
        rc = load_instances(h, conf) ? -EINVAL : 0;
    else
        refuse(err);
    dp_conf_free(conf);
    if (rc == 0)
        rc = register_sections(h) ? -EINVAL : 0;
    if (rc < 0)
        return DP_EXIT_CONFIG;
    h->n_workers = h->settings.workers;

    /* The engine and its embedded store. */
    rc = mkdir_p(h->settings.data_dir);
    if (rc < 0) {
        fprintf(stderr, "doppel: cannot create data directory '%s': %s\n",
                h->settings.data_dir, strerror(-rc));
        return 1;
    }
    char db[4096];
    snprintf(db, sizeof(db), "%s/doppel.db", h->settings.data_dir);
    dp_storage_t *st = NULL;
    rc = dp_storage_sqlite_open(db, &st, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "doppel: cannot open store %s: %s\n", db, err);
        return 1;
    }
    dp_engine_cfg_t ecfg;
    dp_engine_cfg_default(&ecfg);
    ecfg.journal_size = ecfg.unmatched_size = h->settings.journal_size;
    ecfg.journal_bytes_max = h->settings.engine_limits.journal_memory;
    ecfg.store_value_max = h->settings.engine_limits.store_value_max;
    ecfg.store_total_max = h->settings.engine_limits.store_total_max;
    ecfg.response_max = h->settings.engine_limits.response_max;
    ecfg.tfile_max = h->settings.engine_limits.template_file_max;
    ecfg.default_mode = dp_mode_parse(h->settings.default_mode);
    ecfg.redact_headers = h->settings.redact_headers;
    ecfg.record_body_max = h->settings.record_body_max;
    ecfg.record_sequence_max = h->settings.record_sequence_max;
    ecfg.mock_versions_max = (int)h->settings.mock_versions_max;
    /* the plugins get their stored schema files before the stored mocks
     * are compiled (and checked against them) */
    if (dp_schemas_replay(h, st) < 0) {
        fprintf(stderr, "doppel: cannot replay the schema files of %s\n", db);
        st->ops->close(st);
        return 1;
    }
    ecfg.protos = h->protos;
    dp_err_t eerr = {0};
    rc = dp_engine_open(&ecfg, st, &h->engine, &eerr);
    if (rc < 0) {
        fprintf(stderr, "doppel: cannot load the store %s: %s\n", db,
                eerr.message);
        return 1;
    }
    dp_info("host", "store: %s (%zu mocks)", db,
            dp_engine_mock_count(h->engine, 0));
    if ((rc = open_auth(h, cli, db)) != 0)
        return rc;

    h->metrics = dp_metrics_new(h->n_workers);
    if (h->metrics == NULL)
        return 1;
    dp_metrics_owner(h->metrics, "host");
    for (size_t i = 0; i < h->n_instances; i++) {
        dp_instance_t *in = &h->instances[i];
        char labels[256];
        in->metrics_owner = dp_metrics_owner(h->metrics, in->name);
        snprintf(labels, sizeof(labels), "instance=\"%s\",plugin=\"%s\"",
                 in->name, in->lib->desc->name);
        dp_metrics_gauge_set(h->metrics, "doppel_plugin_loaded", labels, 1);
    }
    return 0;
}

/* ---- running ----------------------------------------------------------- */

/* A stop that has not ended this long after drain_timeout (a worker loop
 * that never returns to its loop, a plugin that never finishes stopping)
 * ends the process anyway: a SIGTERM is always honoured. */
#define STOP_GRACE_MS 5000

typedef struct main_state {
    dp_host_t *h;
    uv_signal_t sigterm, sigint;
    uv_timer_t timer;
    int signals;
    uint64_t stop_deadline_ms; /* dp_now_ms(); 0 until a signal */
} main_state_t;

static void on_second(uv_timer_t *t)
{
    main_state_t *ms = t->data;
    dp_host_t *h = ms->h;
    if (!h->draining) {
        dp_engine_flush(h->engine);
        dp_metrics_gauge_set(h->metrics, "doppel_uptime_seconds", NULL,
                             dp_host_uptime(h));
        dp_metrics_gauge_set(h->metrics, "doppel_mocks", NULL,
                             (double)dp_engine_mock_count(h->engine, 1));
        return;
    }
    int all = 1;
    for (unsigned i = 0; i < h->n_workers; i++)
        if (!dp_worker_finished(h->workers[i]))
            all = 0;
    if (!all && ms->stop_deadline_ms != 0 &&
        dp_now_ms() > ms->stop_deadline_ms) {
        /* The workers cannot be joined (one may be stuck in a plugin); what
         * the admin API acknowledged is on disk already, request-driven
         * store changes of the last second may be lost. */
        dp_error("host",
                 "the stop did not finish within drain_timeout + %d s: "
                 "exiting without waiting for the workers",
                 STOP_GRACE_MS / 1000);
        _exit(1);
    }
    if (!all)
        return;
    uv_close((uv_handle_t *)&ms->timer, NULL);
    uv_close((uv_handle_t *)&ms->sigterm, NULL);
    uv_close((uv_handle_t *)&ms->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    main_state_t *ms = s->data;
    dp_host_t *h = ms->h;
    if (ms->signals++ > 0) {
        dp_warn("host", "second signal: exiting without drain");
        _exit(1);
    }
    dp_info("host", "%s: draining (in-flight requests finish, up to %llu ms)",
            signum == SIGINT ? "SIGINT" : "SIGTERM",
            (unsigned long long)h->settings.drain_timeout_ms);
    h->draining = 1;
    /* drain_timeout, the copies' shortest stop (STOP_MIN_MS in worker.c,
     * 1 s), then the grace */
    ms->stop_deadline_ms =
        dp_now_ms() + h->settings.drain_timeout_ms + 1000 + STOP_GRACE_MS;
    for (unsigned i = 0; i < h->n_workers; i++)
        dp_worker_shutdown(h->workers[i]);
    /* Poll the workers' end every 50 ms from here on. */
    uv_timer_start(&ms->timer, on_second, 50, 50);
}

int dp_probe_port_free(const char *host, int port)
{
    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    if (rc < 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
    rc = bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Stops workers [0, n), then joins workers [0, upto) (those whose threads
 * ran), and only then frees every worker of the table. */
static void stop_workers(dp_host_t *h, unsigned n, unsigned upto)
{
    for (unsigned i = 0; i < n; i++)
        dp_worker_shutdown(h->workers[i]);
    for (unsigned i = 0; i < upto; i++)
        dp_worker_join(h->workers[i]);
    for (unsigned i = 0; i < h->n_workers; i++)
        dp_worker_join_free(h->workers[i]);
}

/* Closes the main loop's handles after a failed start-up. */
static void close_main(main_state_t *ms)
{
    uv_close((uv_handle_t *)&ms->timer, NULL);
    uv_close((uv_handle_t *)&ms->sigterm, NULL);
    uv_close((uv_handle_t *)&ms->sigint, NULL);
    uv_run(&ms->h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ms->h->loop);
}

static void on_mock_changed(void *ud, const char *ns, const char *id,
                            unsigned change)
{
    dp_host_broadcast_mock(ud, ns, id, change);
}

static void on_store_changed(void *ud, const char *ns, const char *scope,
                             const char *key)
{
    dp_host_broadcast_store(ud, ns, scope, key);
}

int dp_host_run(dp_host_t *h)
{
    h->start_ms = dp_now_ms();
    signal(SIGPIPE, SIG_IGN);
    /* Signals are caught from before the first worker serves: a SIGTERM
     * during start-up waits in libuv until the loop below runs, and then
     * drains, instead of killing a half-started process. */
    main_state_t ms = {.h = h};
    uv_loop_init(&h->loop);
    uv_signal_init(&h->loop, &ms.sigterm);
    uv_signal_init(&h->loop, &ms.sigint);
    uv_timer_init(&h->loop, &ms.timer);
    ms.sigterm.data = ms.sigint.data = ms.timer.data = &ms;
    uv_signal_start(&ms.sigterm, on_signal, SIGTERM);
    uv_signal_start(&ms.sigint, on_signal, SIGINT);
    sigset_t stops; /* blocked by main until now */
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
    h->workers = calloc(h->n_workers, sizeof(*h->workers));
    if (h->workers == NULL) {
        close_main(&ms);
        return 1;
    }
    int port = h->settings.listen_port;
    if (port != 0) {
        int rc = dp_probe_port_free(h->settings.listen_host, port);
        if (rc < 0) {
            fprintf(stderr, "doppel: cannot listen on %s:%d: %s\n",
                    h->settings.listen_host, port, uv_strerror(rc));
            free(h->workers);
            h->workers = NULL;
            close_main(&ms);
            return 1;
        }
    }
    /* Every worker exists before any thread runs, so whatever reads the
     * worker table (event broadcasts from a serving worker) sees it whole;
     * and engine changes reach plugins as events from the first request. */
    for (unsigned i = 0; i < h->n_workers; i++) {
        int rc = dp_worker_create(h, i, &h->workers[i]);
        if (rc < 0) {
            for (unsigned k = 0; k < i; k++)
                dp_worker_join_free(h->workers[k]);
            free(h->workers);
            h->workers = NULL;
            fprintf(stderr, "doppel: cannot create worker %u: %s\n", i,
                    strerror(-rc));
            close_main(&ms);
            return 1;
        }
    }
    dp_engine_listener_t l = {on_mock_changed, on_store_changed, h};
    dp_engine_set_listener(h->engine, &l);
    for (unsigned i = 0; i < h->n_workers; i++) {
        int rc = dp_worker_start(h->workers[i], port);
        if (rc < 0) {
            /* Never a half-started server: whatever started stops. */
            dp_engine_set_listener(h->engine, NULL);
            stop_workers(h, i, i + 1);
            free(h->workers);
            h->workers = NULL;
            fprintf(stderr, "doppel: start-up failed on worker %u: %s\n", i,
                    strerror(-rc));
            close_main(&ms);
            return 1;
        }
        port = dp_worker_port(h->workers[i]);
    }
    h->ready = 1;
    dp_info("host", "doppel %s (plugin ABI %d.%d), %u worker%s, %zu plugin "
            "instance%s",
            DOPPEL_VERSION, DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR, h->n_workers,
            h->n_workers == 1 ? "" : "s", h->n_instances,
            h->n_instances == 1 ? "" : "s");
    dp_info("host", "listening on %s:%d", h->settings.listen_host, port);
    /* after the main port's line, which is the one tools wait for */
    const char *lhost, *lname;
    int lport;
    for (size_t i = 0;
         dp_worker_listener(h->workers[0], i, &lhost, &lport, &lname) == 0;
         i++)
        dp_info("host", "listening on %s:%d (%s)", lhost, lport, lname);

    uv_timer_start(&ms.timer, on_second, 1000, 1000);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&h->loop);

    dp_engine_set_listener(h->engine, NULL);
    for (unsigned i = 0; i < h->n_workers; i++)
        dp_worker_join(h->workers[i]);
    for (unsigned i = 0; i < h->n_workers; i++)
        dp_worker_join_free(h->workers[i]);
    free(h->workers);
    h->workers = NULL;
    dp_info("host", "stopped");
    return 0;
}

void dp_host_free(dp_host_t *h)
{
    dp_auth_close(h->auth);
    h->auth = NULL;
    if (h->engine)
        dp_engine_close(h->engine); /* flushes request-driven changes */
    h->engine = NULL;
    dp_protos_free(h->protos); /* no section callback runs from here on */
    h->protos = NULL;
    for (size_t i = 0; i < h->n_instances; i++) {
        if (h->instances[i].section_ctx)
            dp_instance_copy_gone(&h->instances[i]);
        /* before its plugin is unloaded: the destructor lives there */
        dp_instance_shared_release(&h->instances[i]);
        free(h->instances[i].section_ctx);
        dp_options_free(h->instances[i].opts);
        dp_loader_close(h->instances[i].lib);
        free(h->instances[i].name);
    }
    free(h->instances);
    if (h->metrics)
        dp_metrics_free(h->metrics);
    dp_settings_free(&h->settings);
}
