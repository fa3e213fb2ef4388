/*
 * The outbound client against a real TLS server on 127.0.0.1: a self-signed
 * certificate (for IP 127.0.0.1) is made in memory with OpenSSL at start, a
 * blocking TLS server serves it from a thread, and the client runs on a uv
 * loop in the main thread. verify_tls on must refuse the certificate
 * (-EPROTO, no request reaches the server); verify_tls off must get the
 * answer. Every socket read has a timeout and every wait a watchdog.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "outbound/outbound.h"

/* ---- the TLS server ------------------------------------------------- */

static SSL_CTX *server_ctx;
static int listen_fd = -1;
static int server_port;
static pthread_t server_thread;
static atomic_int served; /* requests answered over TLS */

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"
                             "X-Secure: yes\r\nConnection: close\r\n\r\n"
                             "secure ok";

static void serve_one(int fd)
{
    struct timeval tv = {.tv_sec = 3};
    char buf[4096];
    size_t len = 0;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(server_ctx);
    if (!ssl)
        return;
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        while (len < sizeof buf - 1) {
            int n = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n")) {
                SSL_write(ssl, answer, sizeof answer - 1);
                atomic_fetch_add(&served, 1);
                break;
            }
        }
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
}

static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break; /* shut down by the test */
        }
        serve_one(fd);
        close(fd);
    }
    return NULL;
}

/* A P-256 key and a one-hour self-signed certificate for IP 127.0.0.1. */
static SSL_CTX *make_server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    X509V3_CTX v3;

    assert_non_null(key);
    assert_non_null(x);
    assert_non_null(ctx);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"doppel test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static int server_start(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int one = 1;

    (void)state;
    server_ctx = make_server_ctx();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(listen_fd >= 0);
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(listen_fd, 16), 0);
    assert_int_equal(getsockname(listen_fd, (struct sockaddr *)&sa, &len), 0);
    server_port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&server_thread, NULL, server_main, NULL),
                     0);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    shutdown(listen_fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(server_thread, NULL);
    close(listen_fd);
    SSL_CTX_free(server_ctx);
    return 0;
}

/* ---- the client side ------------------------------------------------ */

typedef struct result {
    int calls;
    int err;
    int status;
    char body[64];
    char secure[16];
    char ip[64];
    char error[512];
} result_t;

static uv_loop_t loop;

static void on_result(int err, const dp_outbound_resp_t *resp, void *data)
{
    result_t *r = data;
    r->calls++;
    r->err = err;
    r->status = resp->status;
    snprintf(r->body, sizeof r->body, "%.*s", (int)resp->body_len, resp->body);
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcmp(resp->headers[i].name, "X-Secure") == 0)
            snprintf(r->secure, sizeof r->secure, "%s", resp->headers[i].value);
    snprintf(r->ip, sizeof r->ip, "%s", resp->primary_ip);
    snprintf(r->error, sizeof r->error, "%s", resp->error);
    uv_stop(&loop);
}

static void on_watchdog(uv_timer_t *t)
{
    *(int *)t->data = 1;
    uv_stop(&loop);
}

static void on_closed(void *data)
{
    (*(int *)data)++;
    uv_stop(&loop);
}

/* One request with a fresh client; the client is closed and the loop
 * emptied before returning. */
static void fetch(int verify_tls, result_t *res)
{
    dp_outbound_cfg_t cfg;
    char url[128];
    uv_timer_t dog;
    int fired = 0, closed = 0;

    assert_int_equal(uv_loop_init(&loop), 0);
    dp_outbound_cfg_init(&cfg);
    cfg.allow_private = 1;
    cfg.verify_tls = verify_tls;
    cfg.total_timeout_ms = 8000;
    dp_outbound_t *o = dp_outbound_new(&loop, &cfg);
    assert_non_null(o);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/secret", server_port);
    dp_outbound_req_t req = {.url = url};
    memset(res, 0, sizeof *res);
    assert_int_equal(dp_outbound_request(o, &req, on_result, res), 0);

    uv_timer_init(&loop, &dog);
    dog.data = &fired;
    uv_timer_start(&dog, on_watchdog, 10000, 0);
    while (!res->calls && !fired)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(dp_outbound_close(o, on_closed, &closed), 0);
    while (!closed && !fired)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(fired, 0);
    assert_int_equal(res->calls, 1);
    uv_close((uv_handle_t *)&dog, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_verify_on_refuses_self_signed(void **state)
{
    result_t res;
    int before = atomic_load(&served);

    fetch(1, &res);
    assert_int_equal(res.err, -EPROTO);
    assert_int_equal(res.status, 0);
    /* Refused for the certificate, not for some other TLS trouble. */
    if (!strstr(res.error, "certificate"))
        fail_msg("unexpected TLS error: %s", res.error);
    /* The request itself never reached the server. */
    assert_int_equal(atomic_load(&served), before);
}

static void test_verify_off_accepts(void **state)
{
    result_t res;
    int before = atomic_load(&served);

    fetch(0, &res);
    if (res.err != 0)
        fail_msg("expected success, got %d (%s)", res.err, res.error);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "secure ok");
    assert_string_equal(res.secure, "yes");
    assert_string_equal(res.ip, "127.0.0.1");
    assert_int_equal(atomic_load(&served), before + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_on_refuses_self_signed),
        cmocka_unit_test(test_verify_off_accepts),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
