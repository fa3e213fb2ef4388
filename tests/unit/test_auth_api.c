/*
 * The auth REST API over real HTTP: the host's HTTP front with only the
 * auth routes mounted, on 127.0.0.1 with an ephemeral port, its loop in a
 * thread; a small blocking client (which can bind 127.0.0.2 as source
 * address to act as another client).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "test_auth_util.h"

typedef struct server {
    tfix_t *f;
    uv_loop_t loop;
    uv_async_t stop;
    dp_router_t *router;
    dp_http_server_t *http;
    pthread_t thread;
    int port;
    char admin[96]; /* system admin token */
} server_t;

static void on_stop(uv_async_t *h)
{
    uv_stop(h->loop);
}

static void *loop_main(void *arg)
{
    server_t *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static server_t *server_start(void)
{
    server_t *s = calloc(1, sizeof(*s));
    s->f = tfix_new();
    /* Real time: the API reports times, and tests revoke "now". */
    s->f->cfg.clock = NULL;
    tfix_reopen(s->f);
    char uid[DP_AUTH_ID_MAX + 1];
    make_user_token(s->f, "root", 1, NULL, s->admin, uid);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    assert_int_equal(uv_async_init(&s->loop, &s->stop, on_stop), 0);
    s->router = dp_router_new();
    assert_int_equal(dp_auth_mount(s->router, s->f->a), 0);
    dp_http_server_cfg_t cfg = {
        .host = "127.0.0.1", .port = 0, .router = s->router};
    dp_http_limits_default(&cfg.limits);
    assert_int_equal(dp_http_server_start(&s->loop, &cfg, &s->http), 0);
    s->port = dp_http_server_port(s->http);
    assert_int_equal(pthread_create(&s->thread, NULL, loop_main, s), 0);
    return s;
}

static void server_stop(server_t *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    dp_http_server_free(s->http);
    uv_close((uv_handle_t *)&s->stop, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    dp_router_free(s->router);
    tfix_free(s->f);
    free(s);
}

typedef struct resp {
    int status;
    char headers[4096];
    json_t *body; /* NULL for an empty or non-JSON body */
} resp_t;

/* One request on a new connection; src is the source address or NULL. */
static resp_t call_from(server_t *s, const char *src, const char *method,
                        const char *path, const char *auth_header,
                        const char *body)
{
    resp_t r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (src != NULL) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &b.sin_addr);
        assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "%s%s"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, auth_header ? auth_header : "",
                     auth_header ? "\r\n" : "", body ? strlen(body) : 0,
                     body ? body : "");
    assert_true(n > 0 && (size_t)n < sizeof(req));
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r.status), 1);
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    snprintf(r.headers, sizeof(r.headers), "%.*s", (int)(sep - buf), buf);
    if (sep[4] != '\0')
        r.body = json_loads(sep + 4, 0, NULL);
    free(buf);
    return r;
}

static resp_t call(server_t *s, const char *method, const char *path,
                   const char *token, const char *body)
{
    char h[256];
    if (token != NULL)
        snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
    return call_from(s, NULL, method, path, token ? h : NULL, body);
}

static const char *jstr(json_t *o, const char *path)
{
    /* "a.b" one level deep is enough here. */
    char key[64];
    const char *dot = strchr(path, '.');
    if (dot != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        return json_string_value(
            json_object_get(json_object_get(o, key), dot + 1));
    }
    return json_string_value(json_object_get(o, path));
}

static void expect(resp_t r, int status, const char *code)
{
    if (r.status != status) {
        char *d = r.body ? json_dumps(r.body, 0) : strdup("(no body)");
        fail_msg("status %d, expected %d: %s", r.status, status, d);
    }
    if (code != NULL) {
        assert_non_null(r.body);
        assert_string_equal(jstr(r.body, "code"), code);
        assert_non_null(jstr(r.body, "request_id"));
    }
}

static void done(resp_t *r)
{
    json_decref(r->body);
    r->body = NULL;
}

/* Creates user name with role in ns (role NULL: none); returns its token
 * secret in secret. */
static void user_with_token(server_t *s, const char *name, const char *ns,
                            const char *role, char *secret)
{
    char body[256], path[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    resp_t r = call(s, "POST", "/api/v1/users", s->admin, body);
    expect(r, 201, NULL);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", jstr(r.body, "id"));
    done(&r);
    if (role != NULL) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/members/%s", ns,
                 uid);
        snprintf(body, sizeof(body), "{\"role\":\"%s\"}", role);
        r = call(s, "PUT", path, s->admin, body);
        expect(r, 201, NULL);
        assert_string_equal(jstr(r.body, "role"), role);
        done(&r);
    }
    snprintf(path, sizeof(path), "/api/v1/users/%s/tokens", name);
    r = call(s, "POST", path, s->admin, "{\"name\":\"ci\"}");
    expect(r, 201, NULL);
    snprintf(secret, 96, "%s", jstr(r.body, "secret"));
    assert_memory_equal(secret, "mk_", 3);
    done(&r);
}

static void test_whoami_and_auth_errors(void **state)
{
    (void)state;
    server_t *s = server_start();
    resp_t r = call(s, "GET", "/api/v1/whoami", s->admin, NULL);
    expect(r, 200, NULL);
    assert_string_equal(jstr(r.body, "user.name"), "root");
    assert_true(json_is_true(json_object_get(r.body, "systemAdmin")));
    done(&r);
    r = call(s, "GET", "/api/v1/whoami", NULL, NULL);
    expect(r, 401, "unauthorized");
    done(&r);
    r = call(s, "GET", "/api/v1/whoami", "mk_notatoken", NULL);
    expect(r, 401, "unauthorized");
    done(&r);
    /* X-API-Key works too. */
    char h[160];
    snprintf(h, sizeof(h), "X-API-Key: %s", s->admin);
    r = call_from(s, NULL, "GET", "/api/v1/whoami", h, NULL);
    expect(r, 200, NULL);
    done(&r);
    /* Unknown paths need a token before they say 404. */
    r = call(s, "GET", "/api/v1/tokens/x/y/z/w", NULL, NULL);
    expect(r, 401, "unauthorized");
    done(&r);
    r = call(s, "GET", "/api/v1/users/x/nothing", s->admin, NULL);
    expect(r, 404, "not_found");
    done(&r);
    r = call(s, "PUT", "/api/v1/tokens", s->admin, "{}");
    expect(r, 405, NULL);
    assert_non_null(strstr(r.headers, "Allow: GET, POST"));
    done(&r);
    r = call(s, "POST", "/api/v1/namespaces", s->admin, "{bad json");
    expect(r, 400, "validation");
    done(&r);
    r = call(s, "POST", "/api/v1/namespaces", s->admin,
             "{\"name\":\"x\",\"requireTokn\":true}");
    expect(r, 400, "validation");
    assert_string_equal(jstr(r.body, "field"), "requireTokn");
    done(&r);
    server_stop(s);
}

static void test_token_lifecycle(void **state)
{
    (void)state;
    server_t *s = server_start();
    char sec[96];
    user_with_token(s, "dev", "sandbox", "editor", sec);

    resp_t r = call(s, "POST", "/api/v1/tokens", sec,
                    "{\"name\":\"mine\",\"ttl\":3600}");
    expect(r, 201, NULL);
    char own[96], own_id[64];
    snprintf(own, sizeof(own), "%s", jstr(r.body, "secret"));
    snprintf(own_id, sizeof(own_id), "%s", jstr(r.body, "token.id"));
    assert_non_null(jstr(r.body, "token.expiresAt"));
    assert_string_equal(jstr(r.body, "token.state"), "active");
    done(&r);

    /* The list never shows a secret. */
    r = call(s, "GET", "/api/v1/tokens", sec, NULL);
    expect(r, 200, NULL);
    char *dump = json_dumps(r.body, 0);
    assert_null(strstr(dump, own + 3));
    assert_null(strstr(dump, sec + 3));
    assert_non_null(strstr(dump, own_id));
    free(dump);
    assert_int_equal(json_array_size(json_object_get(r.body, "tokens")), 2);
    done(&r);

    /* Revoke: the token stops working on the next request. */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/tokens/%s/revoke", own_id);
    r = call(s, "GET", "/api/v1/whoami", own, NULL);
    expect(r, 200, NULL);
    done(&r);
    r = call(s, "POST", path, sec, NULL);
    expect(r, 200, NULL);
    assert_string_equal(jstr(r.body, "state"), "revoked");
    done(&r);
    r = call(s, "GET", "/api/v1/whoami", own, NULL);
    expect(r, 401, "unauthorized");
    done(&r);
    snprintf(path, sizeof(path), "/api/v1/tokens/%s", own_id);
    r = call(s, "DELETE", path, sec, NULL);
    expect(r, 204, NULL);
    r = call(s, "GET", path, sec, NULL);
    expect(r, 404, "not_found");
    done(&r);

    /* Expiry in the past is refused; a bad ttl too. */
    r = call(s, "POST", "/api/v1/tokens", sec,
             "{\"name\":\"old\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}");
    expect(r, 400, "validation");
    done(&r);
    r = call(s, "POST", "/api/v1/tokens", sec, "{\"name\":\"x\",\"ttl\":-5}");
    expect(r, 400, "validation");
    done(&r);
    r = call(s, "POST", "/api/v1/tokens", sec,
             "{\"name\":\"x\",\"expiresAt\":\"2099-01-01T00:00:00.5+02:00\"}");
    expect(r, 201, NULL);
    assert_string_equal(jstr(r.body, "token.expiresAt"),
                        "2098-12-31T22:00:00.500Z");
    done(&r);

    /* Another user's token is invisible to dev. */
    snprintf(path, sizeof(path), "/api/v1/tokens");
    r = call(s, "GET", path, s->admin, NULL);
    expect(r, 200, NULL);
    json_t *arr = json_object_get(r.body, "tokens");
    const char *root_tok = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "user")), "root") == 0)
            root_tok = json_string_value(json_object_get(t, "id"));
    }
    assert_non_null(root_tok);
    snprintf(path, sizeof(path), "/api/v1/tokens/%s/revoke", root_tok);
    done(&r);
    r = call(s, "POST", path, sec, NULL);
    expect(r, 404, "not_found");
    done(&r);
    server_stop(s);
}

static void test_namespaces_members_roles(void **state)
{
    (void)state;
    server_t *s = server_start();
    resp_t r =
        call(s, "POST", "/api/v1/namespaces", s->admin, "{\"name\":\"team\"}");
    expect(r, 201, NULL);
    done(&r);
    r = call(s, "POST", "/api/v1/namespaces", s->admin, "{\"name\":\"team\"}");
    expect(r, 409, "conflict");
    done(&r);
    char adm[96], view[96];
    user_with_token(s, "lead", "team", "admin", adm);
    user_with_token(s, "reader", "team", "viewer", view);

    /* The namespace admin manages members and tokens of team only. */
    r = call(s, "PUT", "/api/v1/namespaces/team/members/reader", adm,
             "{\"role\":\"editor\"}");
    expect(r, 200, NULL);
    done(&r);
    r = call(s, "PUT", "/api/v1/namespaces/sandbox/members/reader", adm,
             "{\"role\":\"editor\"}");
    expect(r, 403, "forbidden");
    done(&r);
    r = call(s, "PUT", "/api/v1/namespaces/team/members/reader", adm,
             "{\"role\":\"owner\"}");
    expect(r, 400, "validation");
    done(&r);
    /* Not even for a member: the token would act, and be audited, as
     * reader. The answer does not tell whether the user exists. */
    r = call(s, "POST", "/api/v1/tokens", adm,
             "{\"name\":\"for-reader\",\"user\":\"reader\","
             "\"namespace\":\"team\"}");
    expect(r, 403, "forbidden");
    {
        resp_t r2 = call(s, "POST", "/api/v1/tokens", adm,
                         "{\"name\":\"for-reader\",\"user\":\"nobody\","
                         "\"namespace\":\"team\"}");
        expect(r2, 403, "forbidden");
        char *m1 = strdup(jstr(r.body, "error"));
        char *m2 = strdup(jstr(r2.body, "error"));
        *strstr(m1, "'reader'") = '\0';
        *strstr(m2, "'nobody'") = '\0';
        assert_string_equal(m1, m2);
        free(m1);
        free(m2);
        done(&r2);
    }
    done(&r);
    r = call(s, "POST", "/api/v1/tokens", adm,
             "{\"name\":\"own\",\"namespace\":\"team\"}");
    expect(r, 201, NULL);
    assert_string_equal(jstr(r.body, "token.namespace"), "team");
    done(&r);
    r = call(s, "POST", "/api/v1/tokens", adm,
             "{\"name\":\"wide\",\"user\":\"reader\"}");
    expect(r, 403, "forbidden");
    done(&r);
    r = call(s, "POST", "/api/v1/namespaces", adm, "{\"name\":\"mine\"}");
    expect(r, 403, "forbidden");
    done(&r);
    /* Viewers (now editor) read members but do not change them. */
    r = call(s, "GET", "/api/v1/namespaces/team/members", view, NULL);
    expect(r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.body, "members")), 2);
    done(&r);
    r = call(s, "DELETE", "/api/v1/namespaces/team/members/lead", view, NULL);
    expect(r, 403, "forbidden");
    done(&r);
    /* The namespace list shows only one's namespaces. */
    r = call(s, "GET", "/api/v1/namespaces", view, NULL);
    expect(r, 200, NULL);
    /* names under "namespaces" (what the platforms' SDKs read), doppel's
     * objects with the role under "items" */
    json_t *names = json_object_get(r.body, "namespaces");
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "team");
    json_t *nss = json_object_get(r.body, "items");
    assert_int_equal(json_array_size(nss), 1);
    assert_string_equal(jstr(json_array_get(nss, 0), "name"), "team");
    assert_string_equal(jstr(json_array_get(nss, 0), "yourRole"), "editor");
    done(&r);
    r = call(s, "PATCH", "/api/v1/namespaces/team", adm,
             "{\"requireToken\":true}");
    expect(r, 200, NULL);
    assert_true(json_is_true(json_object_get(r.body, "requireToken")));
    done(&r);
    assert_int_equal(dp_auth_namespace_requires_token(s->f->a, "team"), 1);
    r = call(s, "DELETE", "/api/v1/namespaces/sandbox", s->admin, NULL);
    expect(r, 409, "conflict");
    done(&r);
    r = call(s, "DELETE", "/api/v1/namespaces/team", adm, NULL);
    expect(r, 403, "forbidden");
    done(&r);
    r = call(s, "DELETE", "/api/v1/namespaces/team", s->admin, NULL);
    expect(r, 204, NULL);
    /* Memberships went with it. */
    r = call(s, "GET", "/api/v1/namespaces", view, NULL);
    expect(r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.body, "namespaces")), 0);
    assert_int_equal(json_array_size(json_object_get(r.body, "items")), 0);
    done(&r);

    /* The audit log recorded all of it, newest first, without secrets. */
    r = call(s, "GET", "/api/v1/audit?limit=100", s->admin, NULL);
    expect(r, 200, NULL);
    {
        char *dump = json_dumps(r.body, 0);
        assert_non_null(strstr(dump, "namespaces.delete"));
        assert_non_null(strstr(dump, "members.put"));
        assert_non_null(strstr(dump, "tokens.create"));
        assert_null(strstr(dump, adm + 3));
        assert_null(strstr(dump, view + 3));
        free(dump);
    }
    assert_string_equal(
        jstr(json_array_get(json_object_get(r.body, "entries"), 0), "action"),
        "namespaces.delete");
    done(&r);
    r = call(s, "GET", "/api/v1/audit", view, NULL);
    expect(r, 403, "forbidden");
    done(&r);
    server_stop(s);
}

static void test_integrations(void **state)
{
    (void)state;
    server_t *s = server_start();
    resp_t r = call(s, "POST", "/api/v1/integrations", s->admin,
                    "{\"name\":\"ci-runner\",\"type\":\"test_runner\","
                    "\"labels\":[\"Team-A\",\"team-a\",\"CI.v2\"]}");
    expect(r, 201, NULL);
    char sec[96], id[64], path[128];
    snprintf(sec, sizeof(sec), "%s", jstr(r.body, "secret"));
    snprintf(id, sizeof(id), "%s", jstr(r.body, "integration.id"));
    assert_memory_equal(sec, "mki_", 4);
    json_t *labels =
        json_object_get(json_object_get(r.body, "integration"), "labels");
    assert_int_equal(json_array_size(labels), 2);
    assert_string_equal(json_string_value(json_array_get(labels, 0)), "team-a");
    assert_string_equal(json_string_value(json_array_get(labels, 1)), "ci.v2");
    done(&r);
    r = call(s, "POST", "/api/v1/integrations", s->admin,
             "{\"name\":\"x\",\"type\":\"robot\"}");
    expect(r, 400, "validation");
    done(&r);

    /* An integration token on the user API. */
    r = call(s, "GET", "/api/v1/whoami", sec, NULL);
    expect(r, 403, "forbidden");
    assert_non_null(strstr(jstr(r.body, "error"), "needs a user token"));
    done(&r);

    snprintf(path, sizeof(path), "/api/v1/integrations/%s/labels", id);
    r = call(s, "PATCH", path, s->admin,
             "{\"add\":[\"NEW\"],\"remove\":[\"team-a\"]}");
    expect(r, 200, NULL);
    labels = json_object_get(r.body, "labels");
    assert_int_equal(json_array_size(labels), 2);
    assert_string_equal(json_string_value(json_array_get(labels, 0)), "ci.v2");
    assert_string_equal(json_string_value(json_array_get(labels, 1)), "new");
    done(&r);
    r = call(s, "PATCH", path, s->admin, "{\"labels\":[\"bad label\"]}");
    expect(r, 400, "validation");
    assert_string_equal(jstr(r.body, "field"), "labels[0]");
    done(&r);
    r = call(s, "GET", "/api/v1/integrations", s->admin, NULL);
    expect(r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.body, "integrations")),
                     1);
    done(&r);
    snprintf(path, sizeof(path), "/api/v1/integrations/%s/revoke", id);
    r = call(s, "POST", path, s->admin, NULL);
    expect(r, 200, NULL);
    done(&r);
    dp_auth_principal_t who;
    dp_err_t e;
    assert_int_equal(dp_auth_verify(s->f->a, sec, &who, &e), -EACCES);
    server_stop(s);
}

static void test_brute_force(void **state)
{
    (void)state;
    server_t *s = server_start();
    resp_t r;
    int limited = 0;
    for (int i = 0; i < 15; i++) {
        char bad[64];
        snprintf(bad, sizeof(bad), "mk_guess%040d", i);
        r = call(s, "GET", "/api/v1/whoami", bad, NULL);
        if (r.status == 429) {
            expect(r, 429, "rate_limit");
            assert_non_null(strstr(r.headers, "Retry-After: "));
            limited++;
        } else {
            expect(r, 401, "unauthorized");
        }
        done(&r);
    }
    assert_int_equal(limited, 5); /* 10 failures allowed per window */
    /* The admin token from the same address is refused too... */
    r = call(s, "GET", "/api/v1/whoami", s->admin, NULL);
    expect(r, 429, "rate_limit");
    done(&r);
    /* ... but works from another address. */
    char h[160];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", s->admin);
    r = call_from(s, "127.0.0.2", "GET", "/api/v1/whoami", h, NULL);
    expect(r, 200, NULL);
    done(&r);
    server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whoami_and_auth_errors),
        cmocka_unit_test(test_token_lifecycle),
        cmocka_unit_test(test_namespaces_members_roles),
        cmocka_unit_test(test_integrations),
        cmocka_unit_test(test_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
