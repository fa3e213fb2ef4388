/*
 * The outbound address guard: a table of IPv4, IPv6 and IPv4-embedding
 * IPv6 addresses with the verdict each must get, with allow_private off
 * and on, plus the ALLOW_PROXY_TO_PRIVATE_IPS helper. No sockets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outbound/outbound.h"

typedef struct verdict {
    const char *addr;
    int allowed;      /* with allow_private off */
    const char *word; /* must appear in the reason when refused */
} verdict_t;

static const verdict_t table[] = {
    /* IPv4 public */
    {"93.184.216.34", 1, NULL},
    {"8.8.8.8", 1, NULL},
    {"1.1.1.1", 1, NULL},
    {"172.15.255.255", 1, NULL}, /* just below 172.16/12 */
    {"172.32.0.1", 1, NULL},     /* just above */
    {"100.63.255.255", 1, NULL}, /* just below 100.64/10 */
    {"100.128.0.1", 1, NULL},    /* just above */
    {"169.253.255.255", 1, NULL},
    {"192.169.0.1", 1, NULL},
    {"11.0.0.1", 1, NULL},
    {"223.255.255.255", 1, NULL},
    /* IPv4 refused */
    {"127.0.0.1", 0, "loopback"},
    {"127.255.255.254", 0, "loopback"},
    {"0.0.0.0", 0, "unspecified"},
    {"0.1.2.3", 0, "unspecified"},
    {"10.0.0.1", 0, "private"},
    {"10.255.255.255", 0, "private"},
    {"172.16.0.1", 0, "private"},
    {"172.31.255.255", 0, "private"},
    {"192.168.1.1", 0, "private"},
    {"169.254.169.254", 0, "metadata"},
    {"169.254.0.1", 0, "link-local"},
    {"100.64.0.1", 0, "carrier-grade NAT"},
    {"100.127.255.255", 0, "carrier-grade NAT"},
    {"224.0.0.1", 0, "multicast"},
    {"239.255.255.250", 0, "multicast"},
    {"255.255.255.255", 0, "broadcast"},
    {"240.0.0.1", 0, "reserved"},
    /* IPv6 public */
    {"2606:2800:220:1:248:1893:25c8:1946", 1, NULL},
    {"2001:4860:4860::8888", 1, NULL},
    {"::ffff:93.184.216.34", 1, NULL},
    {"64:ff9b::808:808", 1, NULL}, /* NAT64 of 8.8.8.8 */
    /* IPv6 refused */
    {"::1", 0, "loopback"},
    {"::", 0, "unspecified"},
    {"fc00::1", 0, "private"},
    {"fd12:3456:789a::1", 0, "private"},
    {"fd00:ec2::254", 0, "private"}, /* AWS metadata over IPv6 */
    {"fe80::1", 0, "link-local"},
    {"febf:ffff::1", 0, "link-local"},
    {"fec0::1", 0, "site-local"},
    {"ff02::1", 0, "multicast"},
    /* IPv4 embedded in IPv6: judged by the IPv4 address */
    {"::ffff:127.0.0.1", 0, "loopback"},
    {"::ffff:10.1.2.3", 0, "private"},
    {"::ffff:169.254.169.254", 0, "metadata"},
    {"::ffff:192.168.0.1", 0, "private"},
    {"::ffff:0.0.0.0", 0, "unspecified"},
    {"::127.0.0.1", 0, "loopback"},       /* IPv4-compatible */
    {"64:ff9b::a01:203", 0, "private"},   /* NAT64 of 10.1.2.3 */
    {"2002:7f00:1::", 0, "loopback"},     /* 6to4 of 127.0.0.1 */
    {"2002:a9fe:a9fe::1", 0, "metadata"}, /* 6to4 of 169.254.169.254 */
    /* IPv4-mapped written in hex (::ffff:0:0/96) */
    {"::ffff:7f00:1", 0, "loopback"},
    {"::ffff:a9fe:a9fe", 0, "metadata"},
    {"::ffff:0:0", 0, "unspecified"},
    {"::ffff:808:808", 1, NULL},
    /* IPv4-translated (::ffff:0:0:0/96, RFC 2765 SIIT) */
    {"::ffff:0:127.0.0.1", 0, "loopback"},
    {"::ffff:0:7f00:1", 0, "loopback"},
    {"::ffff:0:10.0.0.1", 0, "private"},
    {"::ffff:0:169.254.169.254", 0, "metadata"},
    {"::ffff:0:0.0.0.0", 0, "unspecified"},
    {"::ffff:0:8.8.8.8", 1, NULL},
    /* NAT64 well-known prefix (64:ff9b::/96) with internal IPv4 */
    {"64:ff9b::7f00:1", 0, "loopback"}, /* 127.0.0.1 */
    {"64:ff9b::127.0.0.1", 0, "loopback"},
    {"64:ff9b::a9fe:a9fe", 0, "metadata"},   /* 169.254.169.254 */
    {"64:ff9b::c0a8:101", 0, "private"},     /* 192.168.1.1 */
    {"64:ff9b::ac10:1", 0, "private"},       /* 172.16.0.1 */
    {"64:ff9b::6440:1", 0, "carrier-grade"}, /* 100.64.0.1 */
    {"64:ff9b::", 0, "unspecified"},         /* 0.0.0.0 */
    {"64:ff9b::101:101", 1, NULL},           /* 1.1.1.1 */
    /* local-use NAT64 (64:ff9b:1::/48, RFC 8215): the operator's own
     * translator, whatever IPv4 it embeds */
    {"64:ff9b:1::1", 0, "local-use NAT64"},
    {"64:ff9b:1::808:808", 0, "local-use NAT64"},
    {"64:ff9b:1:a00:100::", 0, "local-use NAT64"},
    {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", 0, "local-use NAT64"},
};

static int to_sockaddr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(80);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(80);
        return 0;
    }
    return -1;
}

static void test_table_private_off(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        struct sockaddr_storage ss;
        char why[256] = "";
        assert_int_equal(to_sockaddr(table[i].addr, &ss), 0);
        int got = dp_outbound_addr_allowed((struct sockaddr *)&ss, 0, why,
                                           sizeof why);
        if (got != table[i].allowed)
            fail_msg("%s: expected %s, got %s (%s)", table[i].addr,
                     table[i].allowed ? "allowed" : "refused",
                     got ? "allowed" : "refused", why);
        if (!table[i].allowed) {
            if (!strstr(why, table[i].word))
                fail_msg("%s: reason \"%s\" lacks \"%s\"", table[i].addr, why,
                         table[i].word);
            /* The reason names the address, in the same text form. */
            char canon[INET6_ADDRSTRLEN];
            if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
                          canon, sizeof canon);
            else
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
                          canon, sizeof canon);
            assert_non_null(strstr(why, canon));
        }
    }
}

static void test_table_private_on(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        struct sockaddr_storage ss;
        assert_int_equal(to_sockaddr(table[i].addr, &ss), 0);
        if (dp_outbound_addr_allowed((struct sockaddr *)&ss, 1, NULL, 0) != 1)
            fail_msg("%s refused with allow_private on", table[i].addr);
    }
}

static void test_other_families_refused(void **state)
{
    (void)state;
    struct sockaddr sa;
    char why[128] = "";
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNIX;
    assert_int_equal(dp_outbound_addr_allowed(&sa, 0, why, sizeof why), 0);
    assert_non_null(strstr(why, "not an IPv4 or IPv6"));
    assert_int_equal(dp_outbound_addr_allowed(&sa, 1, NULL, 0), 0);
    assert_int_equal(dp_outbound_addr_allowed(NULL, 1, why, sizeof why), 0);
}

static void test_reason_truncated_safely(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char why[8];
    memset(why, 'Z', sizeof why);
    assert_int_equal(to_sockaddr("127.0.0.1", &ss), 0);
    assert_int_equal(
        dp_outbound_addr_allowed((struct sockaddr *)&ss, 0, why, sizeof why),
        0);
    assert_int_equal(why[7], '\0');
    assert_string_equal(why, "127.0.0");
}

static void test_env_helper(void **state)
{
    (void)state;
    unsetenv("ALLOW_PROXY_TO_PRIVATE_IPS");
    assert_int_equal(dp_outbound_env_allow_private(), 0);
    setenv("ALLOW_PROXY_TO_PRIVATE_IPS", "true", 1);
    assert_int_equal(dp_outbound_env_allow_private(), 1);
    setenv("ALLOW_PROXY_TO_PRIVATE_IPS", "TRUE", 1);
    assert_int_equal(dp_outbound_env_allow_private(), 1);
    setenv("ALLOW_PROXY_TO_PRIVATE_IPS", "false", 1);
    assert_int_equal(dp_outbound_env_allow_private(), 0);
    setenv("ALLOW_PROXY_TO_PRIVATE_IPS", "", 1);
    assert_int_equal(dp_outbound_env_allow_private(), 0);
    setenv("ALLOW_PROXY_TO_PRIVATE_IPS", "truex", 1);
    assert_int_equal(dp_outbound_env_allow_private(), 0);
    unsetenv("ALLOW_PROXY_TO_PRIVATE_IPS");
}

static void test_cfg_defaults(void **state)
{
    (void)state;
    dp_outbound_cfg_t cfg;
    memset(&cfg, 0xab, sizeof cfg);
    dp_outbound_cfg_init(&cfg);
    assert_int_equal(cfg.connect_timeout_ms, 5000);
    assert_int_equal(cfg.total_timeout_ms, 30000);
    assert_int_equal(cfg.max_response_bytes, 8u << 20);
    assert_int_equal(cfg.verify_tls, 1);
    assert_int_equal(cfg.allow_private, 0);
    assert_null(cfg.user_agent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_private_off),
        cmocka_unit_test(test_table_private_on),
        cmocka_unit_test(test_other_families_refused),
        cmocka_unit_test(test_reason_truncated_safely),
        cmocka_unit_test(test_env_helper),
        cmocka_unit_test(test_cfg_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
