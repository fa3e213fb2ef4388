#include "dp_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void dp_err_set(dp_err_t *e, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    if (e == NULL)
        return;
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "internal");
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}
