/*
 * The versions of one mock under the platforms' SDK paths:
 * GET /mocks/ID/versions, GET /mocks/ID/versions/V and
 * POST /mocks/ID/versions/V/restore (docs/admin-api.md, "Versions of a
 * mock"). The engine keeps the versions (dp_engine_mock_versions); these
 * handlers parse the version number and shape the answers. Authorised by
 * the mock's id like every /mocks/ID route (a mock the caller cannot read
 * answers 404); runs like every admin handler, within one dispatch() call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

/* The version segment: a decimal number from 1 (at most 18 digits, no
 * sign, no spaces). Answers 400 itself. */
static int parse_version(admin_call_t *c, int64_t *out)
{
    const char *s = c->nseg > 3 ? c->seg[3] : "";
    size_t len = strlen(s);
    int ok = len > 0 && len <= 18 && s[0] != '0';
    for (size_t i = 0; ok && i < len; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        admin_reply_error(c, 400, "validation", "version",
                          "version: expected a version number from 1");
        return -EINVAL;
    }
    *out = strtoll(s, NULL, 10);
    return 0;
}

void admin_mock_versions(admin_call_t *c)
{
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_versions(c->engine, c->seg[1], &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    /* "versions": the list under the name the SDKs read */
    json_object_set(out, "versions", json_object_get(out, "items"));
    admin_reply_json(c, 200, out);
}

void admin_mock_version_get(admin_call_t *c)
{
    int64_t v;
    if (parse_version(c, &v) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc = dp_engine_mock_version_get(c->engine, c->seg[1], v, &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    admin_reply_json(c, 200, out);
}

void admin_mock_version_restore(admin_call_t *c)
{
    int64_t v;
    if (parse_version(c, &v) < 0)
        return;
    json_t *out = NULL;
    dp_err_t err = {0};
    int rc =
        dp_engine_mock_version_restore(c->engine, c->seg[1], v, &out, &err);
    if (rc < 0) {
        admin_reply_dp_err(c, rc, &err);
        return;
    }
    /* as PATCH answers: the mock at the top level and under "mock" */
    json_t *copy = json_deep_copy(out);
    if (copy == NULL || json_object_set_new(out, "mock", copy) < 0 ||
        json_object_set_new(out, "restoredFrom", json_integer(v)) < 0) {
        json_decref(out);
        admin_reply_error(c, 500, "internal", NULL, "out of memory");
        return;
    }
    admin_reply_json(c, 200, out);
}
