/*
 * The host log: one line per message on stderr,
 *   2026-11-21T18:30:00.123Z INFO  [http] listening on 127.0.0.1:5770
 * Any thread (a line is written with one write(2), so lines never
 * interleave). Never log secrets: tokens, Authorization or Cookie values.
 */
#ifndef DP_LOG_H
#define DP_LOG_H

#include <stdarg.h>

typedef enum dp_log_level {
    DP_LOG_ERROR = 0,
    DP_LOG_WARN = 1,
    DP_LOG_INFO = 2,
    DP_LOG_DEBUG = 3
} dp_log_level_t;

/* Messages above this level are dropped. Default INFO; DOPPEL_LOG_LEVEL
 * (error, warn, info, debug) overrides at start. */
void dp_log_set_level(dp_log_level_t level);
dp_log_level_t dp_log_get_level(void);

void dp_log(dp_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dp_logv(dp_log_level_t level, const char *component, const char *fmt,
             va_list ap);

#define dp_error(comp, ...) dp_log(DP_LOG_ERROR, (comp), __VA_ARGS__)
#define dp_warn(comp, ...) dp_log(DP_LOG_WARN, (comp), __VA_ARGS__)
#define dp_info(comp, ...) dp_log(DP_LOG_INFO, (comp), __VA_ARGS__)
#define dp_debug(comp, ...) dp_log(DP_LOG_DEBUG, (comp), __VA_ARGS__)

#endif
