/*
 * Errors of the engine and the admin API: an HTTP status, a stable code
 * (validation, unauthorized, forbidden, not_found, conflict, rate_limit,
 * unavailable, internal), the field path at fault ("http.route",
 * "response.payload.user.name", empty when none) and a message for people.
 */
#ifndef DP_ERROR_H
#define DP_ERROR_H

typedef struct dp_err {
    int status;      /* 400, 404, 409, 500, ... */
    char code[24];   /* "validation" */
    char field[256]; /* "http.route" */
    char message[512];
} dp_err_t;

void dp_err_set(dp_err_t *e, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Shorthand for 400 validation. */
#define dp_err_invalid(e, field, ...) \
    dp_err_set((e), 400, "validation", (field), __VA_ARGS__)

#endif
