/*
 * The filters GET /mocks takes beside tags and search: ?method= and
 * ?service= (docs/admin-api.md, "List"). The MCP list_mocks tool passes
 * its method and service_ids arguments through them, so that the total
 * it reports counts the filtered mocks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin_internal.h"

#define METHOD_MAX 16

int admin_list_filters(admin_call_t *c, char **method, char **service,
                       const char **svcv, size_t svc_max, dp_mock_query_t *q)
{
    int bad = 0;
    *method = admin_query(c, "method", &bad);
    if (!bad && *method != NULL) {
        size_t n = strlen(*method);
        for (size_t i = 0; i < n && !bad; i++)
            bad = !((*method)[i] >= 'A' && (*method)[i] <= 'Z') &&
                  !((*method)[i] >= 'a' && (*method)[i] <= 'z');
        bad = bad || n == 0 || n > METHOD_MAX;
    }
    if (bad) {
        admin_reply_error(c, 400, "validation", "method",
                          "method: expected an HTTP method (1 to %d letters, "
                          "e.g. GET)",
                          METHOD_MAX);
        return -EINVAL;
    }
    q->method = *method;
    *service = admin_query(c, "service", &bad);
    if (bad) {
        admin_reply_error(c, 400, "validation", "service",
                          "service: bad escape");
        return -EINVAL;
    }
    if (*service == NULL)
        return 0;
    size_t n = 0;
    char *save = NULL;
    for (char *s = strtok_r(*service, ",", &save); s != NULL;
         s = strtok_r(NULL, ",", &save)) {
        if (!doppel_name_valid(s, strlen(s), ADMIN_NS_MAX)) {
            admin_reply_error(c, 400, "validation", "service",
                              "service: '%.64s' is not a service name (1 to "
                              "64 of A-Z a-z 0-9 . _ -; several: "
                              "comma-separated)",
                              s);
            return -EINVAL;
        }
        if (n == svc_max) {
            admin_reply_error(c, 400, "validation", "service",
                              "service: at most %zu services", svc_max);
            return -EINVAL;
        }
        svcv[n++] = s;
    }
    if (n == 0) {
        admin_reply_error(c, 400, "validation", "service",
                          "service: expected one or more service names");
        return -EINVAL;
    }
    q->services = svcv;
    q->n_services = n;
    return 0;
}
