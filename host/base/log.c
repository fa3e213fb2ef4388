#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = DP_LOG_INFO;
static const char *const level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

__attribute__((constructor)) static void log_level_from_env(void)
{
    const char *v = getenv("DOPPEL_LOG_LEVEL");
    if (v == NULL)
        return;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, names[i]) == 0)
            log_level = i;
}

void dp_log_set_level(dp_log_level_t level) { log_level = (int)level; }
dp_log_level_t dp_log_get_level(void) { return (dp_log_level_t)log_level; }

void dp_logv(dp_log_level_t level, const char *component, const char *fmt,
             va_list ap)
{
    if ((int)level > log_level || (int)level < 0)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s [%s] ",
                  ts.tv_nsec / 1000000L, level_names[level],
                  component ? component : "host");
    if (n < (int)sizeof(line) - 1) {
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        n = m < 0 ? n : n + m;
    }
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* One line, one write: no control characters from callers leak a fake
     * line into the log. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void dp_log(dp_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_logv(level, component, fmt, ap);
    va_end(ap);
}
