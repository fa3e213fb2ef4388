/*
 * doppel: the command line.
 *
 *   doppel serve [--config F] [--listen HOST:PORT] [--mcp-listen HOST:PORT|off]
 *                [--data DIR] [--workers N]
 *   doppel plugins [--plugin-dir DIR]
 *   doppel mcp --stdio --url URL [--token T] [--namespace NS]
 *   doppel --version | --help
 *
 * Exit status: 0 after an orderly stop, 64 for a usage error, 78 when the
 * configuration or a plugin is refused (nothing was started), 1 for a
 * failure at start-up (address in use, store unreadable).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "mcp_stdio.h"
#include "runtime.h"

static const char usage[] =
    "doppel %s: a multi-protocol mock server (plugin ABI %d.%d)\n"
    "\n"
    "Usage:\n"
    "  doppel serve [options]     run the server\n"
    "  doppel plugins [--plugin-dir DIR]\n"
    "                             list installed plugins, their ABI versions\n"
    "                             and option schemas\n"
    "  doppel mcp --stdio --url URL [--token T] [--namespace NS]\n"
    "                             bridge an MCP client that spawns a command\n"
    "                             (JSON-RPC lines on stdin/stdout) to the MCP\n"
    "                             endpoint URL (Streamable HTTP), e.g.\n"
    "                             http://127.0.0.1:5772/mcp; the token (or\n"
    "                             $DOPPEL_TOKEN) goes as X-API-Key, or as\n"
    "                             Authorization when it is \"Bearer ...\";\n"
    "                             NS as X-Doppel-Namespace. Logs on stderr;\n"
    "                             at the end of stdin the session is ended\n"
    "  doppel --version           print the version\n"
    "  doppel --help              this text\n"
    "\n"
    "serve options (override plugins.conf):\n"
    "  --config FILE       plugins.conf to read; without it the first found of\n"
    "                      $DOPPEL_CONFIG, ./plugins.conf,\n"
    "                      $XDG_CONFIG_HOME/doppel/plugins.conf (or\n"
    "                      ~/.config/doppel/plugins.conf), %s/doppel/plugins.conf,\n"
    "                      /etc/doppel/plugins.conf, else the built-in defaults\n"
    "  --listen HOST:PORT  address of the HTTP front (default 127.0.0.1:5770)\n"
    "  --mcp-listen HOST:PORT|off\n"
    "                      own port of the MCP control server (the listen\n"
    "                      option of [mcp]; default 127.0.0.1:5772); off\n"
    "                      keeps /mcp on the main port only\n"
    "  --data DIR          directory of the embedded store (default ./doppel-data)\n"
    "  --workers N         event loops, one per thread (default: cores)\n"
    "  --no-auth           local mode: no tokens on /api/v1 (loopback only;\n"
    "                      same as auth = off in [server])\n"
    "\n"
    "Environment: DOPPEL_CONFIG, DOPPEL_PLUGIN_DIR (where plugins are looked\n"
    "up), DOPPEL_LOG_LEVEL (error, warn, info, debug), DOPPEL_ADMIN_TOKEN (the\n"
    "system-admin token to register on first start instead of generating\n"
    "one; see docs/security.md).\n"
    "\n"
    "[server] settings of plugins.conf:\n";

static void print_help(FILE *f)
{
    fprintf(f, usage, DOPPEL_VERSION, DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR,
            DOPPEL_SYSCONF_DIR);
    for (const doppel_option_t *o = dp_conf_server_options(); o->name;
         o++)
        fprintf(f, "  %-18s %s (default %s)\n", o->name, o->help,
                o->default_value);
}

static int need_value(int argc, char **argv, int i)
{
    if (i + 1 >= argc || argv[i + 1][0] == '\0') {
        fprintf(stderr, "doppel: %s needs a value (see doppel --help)\n",
                argv[i]);
        return 0;
    }
    return 1;
}

static int cmd_serve(int argc, char **argv)
{
    dp_cli_t cli = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "--listen") == 0 ||
            strcmp(a, "--data") == 0 || strcmp(a, "--workers") == 0 ||
            strcmp(a, "--mcp-listen") == 0) {
            if (!need_value(argc, argv, i))
                return DP_EXIT_USAGE;
            const char *v = argv[++i];
            if (a[2] == 'm')
                cli.mcp_listen = v;
            else if (a[2] == 'c')
                cli.config = v;
            else if (a[2] == 'l')
                cli.listen = v;
            else if (a[2] == 'd')
                cli.data = v;
            else {
                char *end;
                long n = strtol(v, &end, 10);
                if (*end != '\0' || n < 1 || n > 256) {
                    fprintf(stderr,
                            "doppel: --workers expects 1..256, found '%s'\n",
                            v);
                    return DP_EXIT_USAGE;
                }
                cli.workers = (int)n;
            }
        } else if (strcmp(a, "--no-auth") == 0) {
            cli.no_auth = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(stdout);
            return 0;
        } else {
            fprintf(stderr, "doppel: unknown option '%s' (see doppel --help)\n",
                    a);
            return DP_EXIT_USAGE;
        }
    }
    /* SIGTERM/SIGINT wait (blocked) until dp_host_run has its handlers in
     * place, so a stop asked for during start-up drains instead of killing
     * a half-started process. Threads started meanwhile inherit the mask:
     * signals then reach the main thread only. */
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stops, NULL);
    dp_host_t host;
    memset(&host, 0, sizeof(host));
    int rc = dp_host_prepare(&host, &cli);
    if (rc == 0)
        rc = dp_host_run(&host);
    dp_host_free(&host);
    return rc;
}

static int cmd_plugins(int argc, char **argv)
{
    char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--plugin-dir") == 0) {
            if (!need_value(argc, argv, i))
                return DP_EXIT_USAGE;
            free(dir);
            dir = strdup(argv[++i]);
        } else {
            fprintf(stderr, "doppel: unknown option '%s' (see doppel --help)\n",
                    argv[i]);
            free(dir);
            return DP_EXIT_USAGE;
        }
    }
    if (dir == NULL)
        dir = dp_loader_plugin_dir();
    printf("plugin directory: %s\nhost plugin ABI: %d.%d\n\n", dir,
           DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR);
    int n = dp_loader_list(dir, stdout);
    free(dir);
    return n < 0 ? 1 : 0;
}

static int cmd_mcp(int argc, char **argv)
{
    dp_mcp_stdio_cfg_t cfg = {0};
    int stdio_mode = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--stdio") == 0) {
            stdio_mode = 1;
        } else if (strcmp(a, "--url") == 0 || strcmp(a, "--token") == 0 ||
                   strcmp(a, "--namespace") == 0) {
            if (!need_value(argc, argv, i))
                return DP_EXIT_USAGE;
            const char *v = argv[++i];
            if (a[2] == 'u')
                cfg.url = v;
            else if (a[2] == 't')
                cfg.token = v;
            else
                cfg.ns = v;
        } else {
            fprintf(stderr, "doppel: unknown option '%s' (see doppel --help)\n",
                    a);
            return DP_EXIT_USAGE;
        }
    }
    if (!stdio_mode || cfg.url == NULL) {
        fprintf(stderr, "doppel: mcp needs --stdio and --url URL (see doppel "
                        "--help)\n");
        return DP_EXIT_USAGE;
    }
    if (strncmp(cfg.url, "http://", 7) != 0 &&
        strncmp(cfg.url, "https://", 8) != 0) {
        fprintf(stderr,
                "doppel: --url expects an http:// or https:// URL, "
                "found '%s'\n",
                cfg.url);
        return DP_EXIT_USAGE;
    }
    if (cfg.token == NULL)
        cfg.token = getenv("DOPPEL_TOKEN");
    return dp_mcp_stdio_run(&cfg, stdin, stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return DP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("doppel %s (plugin ABI %d.%d)\n", DOPPEL_VERSION,
               DOPPEL_ABI_MAJOR, DOPPEL_ABI_MINOR);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "plugins") == 0)
        return cmd_plugins(argc - 2, argv + 2);
    if (strcmp(cmd, "mcp") == 0)
        return cmd_mcp(argc - 2, argv + 2);
    fprintf(stderr, "doppel: unknown command '%s' (see doppel --help)\n", cmd);
    return DP_EXIT_USAGE;
}
