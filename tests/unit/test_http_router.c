/*
 * Router precedence: host routes, classifier mounts by priority, prefix
 * mounts longest-first at segment boundaries, "/" catch-all, no match.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "http/http_router.h"

static int handler(void *state, doppel_http_exchange_t *ex,
                   const doppel_http_request_t *req)
{
    return 0;
}

/* Accepts requests that carry "X-Kind: <state>". */
static int classify_kind(void *state, const doppel_http_request_t *req)
{
    const doppel_str_t *v = req->header(req, "x-kind");
    return v != NULL && strlen(state) == v->len &&
           memcmp(v->ptr, state, v->len) == 0;
}

static const doppel_str_t *hdr_lookup(const doppel_http_request_t *req,
                                      const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strlen(name) == req->headers[i].name.len &&
            strncasecmp(req->headers[i].name.ptr, name,
                        req->headers[i].name.len) == 0)
            return &req->headers[i].value;
    return NULL;
}

static doppel_kv_t kind_hdr;

static doppel_http_request_t make_req(const char *path, const char *kind)
{
    doppel_http_request_t r = {.size = sizeof(r)};
    r.path = (doppel_str_t){path, strlen(path)};
    r.rest = r.path;
    r.header = hdr_lookup;
    if (kind != NULL) {
        kind_hdr.name = DOPPEL_STR("X-Kind");
        kind_hdr.value = (doppel_str_t){kind, strlen(kind)};
        r.headers = &kind_hdr;
        r.n_headers = 1;
    }
    return r;
}

static const char *owner_of(dp_router_t *r, const char *path,
                            const char *kind, size_t *rest_off)
{
    doppel_http_request_t req = make_req(path, kind);
    size_t off = 99;
    const dp_route_t *rt = dp_router_match(r, &req, &off);
    if (rest_off)
        *rest_off = off;
    return rt ? rt->owner : NULL;
}

static void add(dp_router_t *r, const char *prefix,
                doppel_http_classify_fn cl, void *state, int prio, int host,
                const char *owner)
{
    doppel_http_mount_t m = {.size = sizeof(m), .prefix = prefix,
                             .classify = cl, .handler = handler,
                             .state = state, .priority = prio};
    assert_int_equal(dp_router_add(r, &m, host, owner), 0);
}

static void test_precedence(void **st)
{
    dp_router_t *r = dp_router_new();
    add(r, "/", NULL, NULL, 0, 0, "catchall");
    add(r, "/mcp", NULL, NULL, 0, 0, "mcp");
    add(r, "/mcp/deep", NULL, NULL, 0, 0, "deep");
    add(r, "/api", NULL, NULL, 0, 0, "api-low");
    add(r, "/api", NULL, NULL, 5, 0, "api-high");
    add(r, NULL, classify_kind, "graphql", 1, 0, "graphql");
    add(r, NULL, classify_kind, "soap", 9, 0, "soap");
    add(r, NULL, classify_kind, "soap", 3, 0, "soap-low");
    add(r, "/health", NULL, NULL, 0, 1, "host");
    add(r, "/graphql-only", classify_kind, "graphql", 50, 0, "scoped");

    size_t off;
    /* host route beats a classifier that would accept */
    assert_string_equal(owner_of(r, "/health", "graphql", &off), "host");
    assert_int_equal(off, strlen("/health"));
    assert_string_equal(owner_of(r, "/health/live", NULL, NULL), "host");
    /* segment boundary: /healthz is not /health */
    assert_string_equal(owner_of(r, "/healthz", NULL, NULL), "catchall");
    /* classifier beats prefix; higher priority first */
    assert_string_equal(owner_of(r, "/mcp/x", "graphql", NULL), "graphql");
    assert_string_equal(owner_of(r, "/anything", "soap", NULL), "soap");
    /* a classifier with a prefix only applies under that prefix */
    assert_string_equal(owner_of(r, "/graphql-only/q", "graphql", NULL),
                        "scoped");
    /* longest prefix, at segment boundaries */
    assert_string_equal(owner_of(r, "/mcp", NULL, &off), "mcp");
    assert_int_equal(off, 4);
    assert_string_equal(owner_of(r, "/mcp/x", NULL, NULL), "mcp");
    assert_string_equal(owner_of(r, "/mcp/deep/y", NULL, &off), "deep");
    assert_int_equal(off, strlen("/mcp/deep"));
    assert_string_equal(owner_of(r, "/mcpx", NULL, NULL), "catchall");
    /* same prefix: higher priority wins */
    assert_string_equal(owner_of(r, "/api/v2", NULL, NULL), "api-high");
    /* catch-all gives rest == path */
    assert_string_equal(owner_of(r, "/zzz", NULL, &off), "catchall");
    assert_int_equal(off, 0);
    dp_router_free(r);
}

static void test_no_route(void **st)
{
    dp_router_t *r = dp_router_new();
    add(r, "/only", NULL, NULL, 0, 0, "only");
    assert_null(owner_of(r, "/", NULL, NULL));
    assert_null(owner_of(r, "/onl", NULL, NULL));
    assert_null(owner_of(r, "/onlyx", NULL, NULL));
    assert_null(owner_of(r, "*", NULL, NULL));
    assert_string_equal(owner_of(r, "/only/", NULL, NULL), "only");
    dp_router_free(r);
}

static void test_trailing_slash_prefix(void **st)
{
    dp_router_t *r = dp_router_new();
    add(r, "/soap/", NULL, NULL, 0, 0, "soap");
    size_t off;
    assert_string_equal(owner_of(r, "/soap", NULL, &off), "soap");
    assert_int_equal(off, 5);
    assert_null(owner_of(r, "/soapy", NULL, NULL));
    dp_router_free(r);
}

static void test_add_errors(void **st)
{
    dp_router_t *r = dp_router_new();
    doppel_http_mount_t m = {.size = sizeof(m), .prefix = "/x",
                             .handler = handler};
    assert_int_equal(dp_router_add(r, &m, 0, "a"), 0);
    assert_int_equal(dp_router_add(r, &m, 0, "b"), -EEXIST);
    m.priority = 1; /* same prefix, other priority: allowed */
    assert_int_equal(dp_router_add(r, &m, 0, "b"), 0);
    doppel_http_mount_t bad = m;
    bad.handler = NULL;
    assert_int_equal(dp_router_add(r, &bad, 0, "c"), -EINVAL);
    bad = m;
    bad.prefix = "x";
    assert_int_equal(dp_router_add(r, &bad, 0, "c"), -EINVAL);
    bad = m;
    bad.prefix = NULL;
    assert_int_equal(dp_router_add(r, &bad, 0, "c"), -EINVAL);
    assert_int_equal(dp_router_add(r, NULL, 0, "c"), -EINVAL);
    assert_int_equal(dp_router_count(r), 2);
    dp_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_no_route),
        cmocka_unit_test(test_trailing_slash_prefix),
        cmocka_unit_test(test_add_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
