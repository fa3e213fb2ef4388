/* The small codecs of the gRPC transport core: grpc-timeout, the
 * percent-encoding of grpc-message, unpadded base64 of -bin metadata,
 * metadata keys and the HTTP to gRPC status mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_wire.h"

static uint64_t tmo(const char *s, int *rc)
{
    uint64_t ms = 777;
    *rc = gw_parse_timeout(s, strlen(s), &ms);
    return ms;
}

static void test_timeout_units(void **st)
{
    (void)st;
    int rc;
    assert_int_equal(tmo("1H", &rc), 3600000);
    assert_int_equal(rc, 0);
    assert_int_equal(tmo("2M", &rc), 120000);
    assert_int_equal(tmo("3S", &rc), 3000);
    assert_int_equal(tmo("250m", &rc), 250);
    assert_int_equal(tmo("1500u", &rc), 2); /* rounded up */
    assert_int_equal(tmo("1000u", &rc), 1);
    assert_int_equal(tmo("1n", &rc), 1);
    assert_int_equal(tmo("0n", &rc), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(tmo("99999999H", &rc), 99999999ull * 3600000ull);
    assert_int_equal(rc, 0);
}

static void test_timeout_malformed(void **st)
{
    (void)st;
    static const char *const bad[] = {"", "S", "10", "123456789S", "1x",
                                      "-1S", "1 S", " 1S", "1s", "1SS",
                                      "0x1S"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 777;
        assert_int_equal(gw_parse_timeout(bad[i], strlen(bad[i]), &ms), -EINVAL);
        assert_int_equal(ms, 777);
    }
}

static void test_timeout_format_round_trips(void **st)
{
    (void)st;
    char out[16];
    assert_int_equal(gw_format_timeout(250, out), 4);
    assert_string_equal(out, "250m");
    gw_format_timeout(100000000, out); /* 9 digits of ms: seconds */
    assert_string_equal(out, "100000S");
    const uint64_t v[] = {0, 1, 999, 99999999, 123456789012ull};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = gw_format_timeout(v[i], out);
        uint64_t back;
        assert_int_equal(gw_parse_timeout(out, n, &back), 0);
        assert_true(back >= v[i]); /* never shorter than asked */
    }
}

static void test_percent_encoding(void **st)
{
    (void)st;
    char out[64];
    const char in[] = "caf\xc3\xa9 100% ok\r\n~";
    size_t n = gw_pct_encode(in, sizeof(in) - 1, out);
    out[n] = 0;
    assert_string_equal(out, "caf%C3%A9 100%25 ok%0D%0A~");
    char back[64];
    size_t m = gw_pct_decode(out, n, back);
    assert_int_equal(m, sizeof(in) - 1);
    assert_memory_equal(back, in, m);
    /* malformed escapes stay as they are */
    m = gw_pct_decode("a%zz%4", 6, back);
    assert_int_equal(m, 6);
    assert_memory_equal(back, "a%zz%4", 6);
}

static void test_base64_unpadded(void **st)
{
    (void)st;
    char out[16];
    assert_int_equal(gw_b64_len(0), 0);
    assert_int_equal(gw_b64_len(1), 2);
    assert_int_equal(gw_b64_len(2), 3);
    assert_int_equal(gw_b64_len(3), 4);
    size_t n = gw_b64_encode((const uint8_t *)"\x00\x01", 2, out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "AAE", 3);
    n = gw_b64_encode((const uint8_t *)"\xff\xfe\xfd\xfc", 4, out);
    assert_memory_equal(out, "//79/A", n);
    assert_true(gw_b64_valid("AAE", 3));
    assert_true(gw_b64_valid("AAE=", 4));
    assert_true(gw_b64_valid("AA==", 4));
    assert_true(gw_b64_valid("", 0));
    assert_true(gw_b64_valid("-_8", 3)); /* URL alphabet */
    assert_false(gw_b64_valid("A", 1));
    assert_false(gw_b64_valid("AAE==", 5));
    assert_false(gw_b64_valid("A===", 4));
    assert_false(gw_b64_valid("AA=A", 4));
    assert_false(gw_b64_valid("!!!", 3));
    char c[16];
    assert_int_equal(gw_b64_canon("AAE", 3, c), 4);
    assert_memory_equal(c, "AAE=", 4);
    assert_int_equal(gw_b64_canon("AAE=", 4, c), 4);
    assert_memory_equal(c, "AAE=", 4);
    assert_int_equal(gw_b64_canon("AA", 2, c), 4);
    assert_memory_equal(c, "AA==", 4);
    assert_int_equal(gw_b64_canon("-_8", 3, c), 4);
    assert_memory_equal(c, "+/8=", 4);
    assert_int_equal(gw_b64_canon("AAEC", 4, c), 4);
    assert_int_equal(gw_b64_canon("", 0, c), 0);
}

static void test_metadata_keys(void **st)
{
    (void)st;
    assert_true(gw_md_key_valid("x-tenant", 8));
    assert_true(gw_md_key_valid("a.b_c-1", 7));
    assert_false(gw_md_key_valid("X-Tenant", 8));
    assert_false(gw_md_key_valid("", 0));
    assert_false(gw_md_key_valid("a b", 3));
    assert_false(gw_md_key_valid(":path", 5));
}

static void test_http_status_mapping(void **st)
{
    (void)st;
    assert_int_equal(gw_status_from_http(400), GW_INTERNAL);
    assert_int_equal(gw_status_from_http(401), GW_UNAUTHENTICATED);
    assert_int_equal(gw_status_from_http(403), GW_PERMISSION_DENIED);
    assert_int_equal(gw_status_from_http(404), GW_UNIMPLEMENTED);
    assert_int_equal(gw_status_from_http(429), GW_UNAVAILABLE);
    assert_int_equal(gw_status_from_http(503), GW_UNAVAILABLE);
    assert_int_equal(gw_status_from_http(500), GW_UNKNOWN);
    assert_string_equal(gw_status_name(5), "NOT_FOUND");
    assert_string_equal(gw_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(gw_status_name(17), "UNKNOWN");
}

static void test_path_split(void **st)
{
    (void)st;
    const char *svc, *m;
    size_t sl, ml;
    const char ok[] = "/order.v1.OrderService/GetOrder";
    assert_int_equal(gw_path_split(ok, sizeof(ok) - 1, &svc, &sl, &m, &ml), 0);
    assert_int_equal(sl, 21);
    assert_memory_equal(svc, "order.v1.OrderService", sl);
    assert_int_equal(ml, 8);
    assert_memory_equal(m, "GetOrder", ml);
    static const char *const bad[] = {"", "/", "//", "/a/", "//b", "a/b",
                                      "/ab", "/a/b/c", "/a//b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(gw_path_split(bad[i], strlen(bad[i]), &svc, &sl, &m,
                                       &ml), -EINVAL);
    assert_int_equal(gw_path_split("/a/b", 4, NULL, NULL, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_units),
        cmocka_unit_test(test_timeout_malformed),
        cmocka_unit_test(test_timeout_format_round_trips),
        cmocka_unit_test(test_percent_encoding),
        cmocka_unit_test(test_base64_unpadded),
        cmocka_unit_test(test_metadata_keys),
        cmocka_unit_test(test_http_status_mapping),
        cmocka_unit_test(test_path_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
