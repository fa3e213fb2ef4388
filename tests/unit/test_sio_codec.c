/* The socket.io codec (plugins/websocket/sio_codec.c, dp_sio): Engine.IO
 * v4 polling payloads and WebSocket frames, Socket.IO v5 packets with
 * their binary attachments; valid input, malformed, oversized and
 * hostile. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sio_codec.h"

static const sio_limits_t *L = &sio_default_limits;

static int payload(const char *s, sio_eio_packet_t **p, size_t *n,
                   const char **why)
{
    return sio_eio_decode_payload((const uint8_t *)s, strlen(s), L, p, n, why);
}

static void test_payload_of_several_packets(void **state)
{
    (void)state;
    sio_eio_packet_t *p;
    size_t n;
    const char *why = NULL;
    assert_int_equal(payload("40\x1e"
                             "42[\"a\",1]\x1e"
                             "3\x1e"
                             "bAAEC",
                             &p, &n, &why),
                     0);
    assert_int_equal(n, 4);
    assert_int_equal(p[0].type, SIO_EIO_MESSAGE);
    assert_int_equal(p[0].len, 1);
    assert_memory_equal(p[0].data, "0", 1);
    assert_int_equal(p[1].type, SIO_EIO_MESSAGE);
    assert_int_equal(p[1].len, 8);
    assert_memory_equal(p[1].data, "2[\"a\",1]", 8);
    assert_int_equal(p[2].type, SIO_EIO_PONG);
    assert_int_equal(p[2].len, 0);
    /* 'b' + base64: a binary message of bytes 00 01 02 */
    assert_int_equal(p[3].type, SIO_EIO_MESSAGE);
    assert_true(p[3].binary);
    assert_int_equal(p[3].len, 3);
    assert_memory_equal(p[3].data, "\x00\x01\x02", 3);
    sio_eio_packets_free(p, n);
}

static void test_payload_malformed(void **state)
{
    (void)state;
    sio_eio_packet_t *p;
    size_t n;
    const char *why = NULL;
    static const char *const bad[] = {
        "",       /* empty body */
        "7hello", /* type out of range */
        "x",      /* not a type */
        "4a\x1e", /* an empty packet after the separator */
        "\x1e"
        "4a",        /* and before */
        "b!!!",      /* not base64 */
        "0{}",       /* a client sends no open */
        "4\xff\xfe", /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        p = (void *)1;
        assert_int_equal(payload(bad[i], &p, &n, &why), -EINVAL);
        assert_non_null(why);
        assert_null(p);
        assert_int_equal(n, 0);
    }
}

static void test_payload_limits(void **state)
{
    (void)state;
    sio_limits_t lim = sio_default_limits;
    lim.max_packets = 3;
    lim.max_packet = 8;
    sio_eio_packet_t *p;
    size_t n;
    const char *why = NULL;
    const char *four = "2\x1e"
                       "2\x1e"
                       "2\x1e"
                       "2";
    assert_int_equal(sio_eio_decode_payload((const uint8_t *)four, strlen(four),
                                            &lim, &p, &n, &why),
                     -E2BIG);
    assert_string_equal(why, "too many packets in one payload");
    const char *three = "2\x1e"
                        "2\x1e"
                        "2";
    assert_int_equal(sio_eio_decode_payload((const uint8_t *)three,
                                            strlen(three), &lim, &p, &n, &why),
                     0);
    assert_int_equal(n, 3);
    sio_eio_packets_free(p, n);
    /* 8 bytes of data pass, 9 do not */
    assert_int_equal(sio_eio_decode_payload((const uint8_t *)"412345678", 9,
                                            &lim, &p, &n, &why),
                     0);
    sio_eio_packets_free(p, n);
    assert_int_equal(sio_eio_decode_payload((const uint8_t *)"4123456789", 10,
                                            &lim, &p, &n, &why),
                     -E2BIG);
}

static void test_frames(void **state)
{
    (void)state;
    sio_eio_packet_t pk;
    const char *why;
    assert_int_equal(
        sio_eio_decode_frame((const uint8_t *)"2probe", 6, 0, L, &pk, &why), 0);
    assert_int_equal(pk.type, SIO_EIO_PING);
    assert_int_equal(pk.len, 5);
    assert_memory_equal(pk.data, "probe", 5);
    /* a binary frame is a binary message as it is */
    assert_int_equal(
        sio_eio_decode_frame((const uint8_t *)"bxyz", 4, 1, L, &pk, &why), 0);
    assert_true(pk.binary);
    assert_int_equal(pk.type, SIO_EIO_MESSAGE);
    assert_int_equal(pk.len, 4);
    /* base64 is for polling only; empty text frames are malformed */
    assert_int_equal(
        sio_eio_decode_frame((const uint8_t *)"bAAEC", 5, 0, L, &pk, &why),
        -EINVAL);
    assert_int_equal(
        sio_eio_decode_frame((const uint8_t *)"", 0, 0, L, &pk, &why), -EINVAL);
}

static void test_encode_payload_round_trip(void **state)
{
    (void)state;
    sio_eio_packet_t in[3] = {
        {SIO_EIO_MESSAGE, 0, (const uint8_t *)"2[\"x\"]", 6, 0},
        {SIO_EIO_PING, 0, NULL, 0, 0},
        {SIO_EIO_MESSAGE, 1, (const uint8_t *)"\xff\x00", 2, 0},
    };
    ws_buf_t b = {0};
    assert_int_equal(sio_eio_encode_payload(in, 3, &b), 0);
    assert_int_equal(b.len, strlen("42[\"x\"]\x1e"
                                   "2\x1e"
                                   "b/wA="));
    assert_memory_equal(b.data,
                        "42[\"x\"]\x1e"
                        "2\x1e"
                        "b/wA=",
                        b.len);
    sio_eio_packet_t *p;
    size_t n;
    assert_int_equal(sio_eio_decode_payload(b.data, b.len, L, &p, &n, NULL), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(p[i].type, in[i].type);
        assert_int_equal(p[i].binary, in[i].binary);
        assert_int_equal(p[i].len, in[i].len);
        if (in[i].len)
            assert_memory_equal(p[i].data, in[i].data, in[i].len);
    }
    sio_eio_packets_free(p, n);
    ws_buf_free(&b);
}

static void test_open_json(void **state)
{
    (void)state;
    char *t = sio_eio_open_json("abc", 1, 25000, 20000, 1000000);
    assert_non_null(t);
    json_t *j = json_loads(t, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sid")), "abc");
    assert_int_equal(json_integer_value(json_object_get(j, "pingInterval")),
                     25000);
    assert_int_equal(json_integer_value(json_object_get(j, "pingTimeout")),
                     20000);
    assert_int_equal(json_integer_value(json_object_get(j, "maxPayload")),
                     1000000);
    json_t *up = json_object_get(j, "upgrades");
    assert_int_equal(json_array_size(up), 1);
    assert_string_equal(json_string_value(json_array_get(up, 0)), "websocket");
    json_decref(j);
    free(t);
    t = sio_eio_open_json("abc", 0, 1, 2, 3);
    j = json_loads(t, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "upgrades")), 0);
    json_decref(j);
    free(t);
}

static int packet(const char *s, sio_packet_t *p, const char **why)
{
    return sio_packet_decode(s, strlen(s), L, p, why);
}

static void test_packets(void **state)
{
    (void)state;
    sio_packet_t p;
    const char *why = NULL;
    assert_int_equal(packet("0", &p, &why), 0);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_string_equal(p.nsp, "/");
    assert_null(p.data);
    assert_int_equal(p.id, -1);
    sio_packet_clear(&p);

    assert_int_equal(packet("0/chat,{\"token\":\"t\"}", &p, &why), 0);
    assert_string_equal(p.nsp, "/chat");
    assert_string_equal(json_string_value(json_object_get(p.data, "token")),
                        "t");
    sio_packet_clear(&p);

    assert_int_equal(packet("2/chat,12[\"add\",1,2]", &p, &why), 0);
    assert_int_equal(p.type, SIO_EVENT);
    assert_int_equal(p.id, 12);
    assert_int_equal(json_array_size(p.data), 3);
    sio_packet_clear(&p);

    /* the namespace alone, without ',' (a DISCONNECT of /chat) */
    assert_int_equal(packet("1/chat", &p, &why), 0);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_string_equal(p.nsp, "/chat");
    sio_packet_clear(&p);

    assert_int_equal(packet("37[\"ok\"]", &p, &why), 0);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.id, 7);
    sio_packet_clear(&p);

    assert_int_equal(packet("4{\"message\":\"no\"}", &p, &why), 0);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    sio_packet_clear(&p);
}

static void test_packets_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                         /* empty */
        "9",                        /* type */
        "2",                        /* EVENT without data */
        "2[]",                      /* EVENT without a name */
        "2[1]",                     /* a name that is not a string */
        "2{\"a\":1}",               /* not an array */
        "2[\"a\"",                  /* not JSON */
        "0[1]",                     /* CONNECT with an array */
        "1{}",                      /* DISCONNECT with data */
        "3[\"x\"]",                 /* ACK without an id */
        "3 5[1]",                   /* junk where the id goes */
        "21234567890123456[\"a\"]", /* an id past 15 digits */
        "05{}",                     /* an id on CONNECT */
        "5[\"a\"]",                 /* BINARY_EVENT without a count */
        "51[\"a\"]",                /* count without '-' */
        "2/a\x01,[\"x\"]",          /* a control character in the nsp */
        "2chat,[\"x\"]",            /* nsp without '/' is JSON junk */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sio_packet_t p;
        const char *why = NULL;
        int rc = packet(bad[i], &p, &why);
        if (rc != -EINVAL)
            fail_msg("packet %zu '%s': rc %d", i, bad[i], rc);
        assert_non_null(why);
        assert_null(p.data);
    }
}

static void test_packets_hostile(void **state)
{
    (void)state;
    sio_packet_t p;
    const char *why = NULL;
    /* nesting past the bound: refused before jansson parses it */
    char deep[200];
    size_t n = 0;
    deep[n++] = '2';
    deep[n++] = '[';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ',';
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = ']';
    deep[n] = '\0';
    assert_int_equal(packet(deep, &p, &why), -E2BIG);
    assert_string_equal(why, "JSON nested too deeply");
    /* brackets inside strings do not count */
    assert_int_equal(
        packet("2[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]", &p, &why), 0);
    sio_packet_clear(&p);
    /* too many attachments, and none */
    assert_int_equal(packet("511-[\"a\"]", &p, &why), -E2BIG);
    assert_int_equal(packet("50-[\"a\"]", &p, &why), -E2BIG);
    /* a namespace longer than kept */
    char nsp[SIO_NSP_MAX + 20];
    nsp[0] = '2';
    nsp[1] = '/';
    memset(nsp + 2, 'n', SIO_NSP_MAX + 2);
    strcpy(nsp + SIO_NSP_MAX + 4, ",[\"a\"]");
    assert_int_equal(packet(nsp, &p, &why), -EINVAL);
    /* over the size limit */
    sio_limits_t lim = sio_default_limits;
    lim.max_packet = 5;
    assert_int_equal(sio_packet_decode("2[\"ab\"]", 7, &lim, &p, &why), -E2BIG);
}

static void test_binary_attachments(void **state)
{
    (void)state;
    sio_packet_t p;
    const char *why = NULL;
    assert_int_equal(
        packet("52-/up,3[\"file\",{\"_placeholder\":true,\"num\":1},"
               "{\"x\":{\"_placeholder\":true,\"num\":0}}]",
               &p, &why),
        0);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.n_attach, 2);
    assert_int_equal(p.id, 3);
    assert_string_equal(p.nsp, "/up");
    assert_true(sio_packet_incomplete(&p));
    assert_int_equal(sio_packet_attach(&p, (const uint8_t *)"\x00\x01", 2), 0);
    assert_true(sio_packet_incomplete(&p));
    assert_int_equal(sio_packet_attach(&p, (const uint8_t *)"hi", 2), 1);
    assert_false(sio_packet_incomplete(&p));
    char *t = json_dumps(p.data, JSON_COMPACT);
    assert_string_equal(t, "[\"file\",{\"binary\":\"aGk=\"},{\"x\":{\"binary\":"
                           "\"AAE=\"}}]");
    free(t);
    /* nothing more is expected */
    assert_int_equal(sio_packet_attach(&p, (const uint8_t *)"x", 1), -EINVAL);
    sio_packet_clear(&p);

    /* a placeholder past the count */
    assert_int_equal(
        packet("51-[\"f\",{\"_placeholder\":true,\"num\":4}]", &p, &why), 0);
    assert_int_equal(sio_packet_attach(&p, (const uint8_t *)"x", 1), -EINVAL);
    sio_packet_clear(&p);
}

static void test_encode_packets(void **state)
{
    (void)state;
    sio_packet_t p = {.type = SIO_EVENT, .id = -1};
    strcpy(p.nsp, "/chat");
    p.data = json_pack("[s, {s:i}]", "news", "n", 1);
    ws_buf_t b = {0};
    assert_int_equal(sio_packet_encode(&p, &b), 0);
    assert_int_equal(b.len, strlen("2/chat,[\"news\",{\"n\":1}]"));
    assert_memory_equal(b.data, "2/chat,[\"news\",{\"n\":1}]", b.len);
    /* and back */
    sio_packet_t q;
    assert_int_equal(
        sio_packet_decode((const char *)b.data, b.len, L, &q, NULL), 0);
    assert_int_equal(q.type, p.type);
    assert_string_equal(q.nsp, p.nsp);
    assert_int_equal(q.id, -1);
    assert_true(json_equal(q.data, p.data));
    sio_packet_clear(&q);
    ws_buf_free(&b);
    json_decref(p.data);

    sio_packet_t a = {.type = SIO_ACK, .id = 9};
    strcpy(a.nsp, "/");
    a.data = json_pack("[s]", "ok");
    assert_int_equal(sio_packet_encode(&a, &b), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "39[\"ok\"]", 8);
    ws_buf_free(&b);
    json_decref(a.data);

    sio_packet_t bin = {.type = SIO_BINARY_EVENT, .id = -1};
    assert_int_equal(sio_packet_encode(&bin, &b), -EINVAL);
    ws_buf_free(&b);
}

static void test_nsp_valid(void **state)
{
    (void)state;
    assert_true(sio_nsp_valid("/", 1));
    assert_true(sio_nsp_valid("/chat/x", 7));
    assert_false(sio_nsp_valid("", 0));
    assert_false(sio_nsp_valid("chat", 4));
    assert_false(sio_nsp_valid("/a,b", 4));
    assert_false(sio_nsp_valid("/a\nb", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_of_several_packets),
        cmocka_unit_test(test_payload_malformed),
        cmocka_unit_test(test_payload_limits),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_encode_payload_round_trip),
        cmocka_unit_test(test_open_json),
        cmocka_unit_test(test_packets),
        cmocka_unit_test(test_packets_malformed),
        cmocka_unit_test(test_packets_hostile),
        cmocka_unit_test(test_binary_attachments),
        cmocka_unit_test(test_encode_packets),
        cmocka_unit_test(test_nsp_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
