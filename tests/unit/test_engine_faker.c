/* Fakers: every faker with a fixed seed, type and format checks, bounds,
 * determinism and argument checks. */
#include <ctype.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base64.h"
#include "engine/expr.h"

#define NOW 1700000000 /* 2023-11-14T22:13:20Z */

static json_t *call(const char *name, const char *args_json, uint64_t *rng)
{
    json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL;
    json_t *v = dp_faker_call(name, args, rng, NOW);
    json_decref(args);
    if (v == NULL)
        fail_msg("faker %s returned NULL", name);
    return v;
}

static const char *callstr(const char *name, const char *args, uint64_t *rng,
                           char *buf, size_t len)
{
    json_t *v = call(name, args, rng);
    if (!json_is_string(v))
        fail_msg("faker %s did not return a string", name);
    snprintf(buf, len, "%s", json_string_value(v));
    json_decref(v);
    return buf;
}

static int re_match(const char *re, const char *s)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* Draws the faker 200 times and checks every string against re. */
static void all_match(const char *name, const char *args, const char *re)
{
    uint64_t rng = 42;
    char buf[8192];
    for (int i = 0; i < 200; i++) {
        callstr(name, args, &rng, buf, sizeof(buf));
        if (!re_match(re, buf))
            fail_msg("%s produced '%s', not matching %s", name, buf, re);
    }
}

static void test_names_list(void **state)
{
    size_t n = 0;
    while (dp_faker_names[n] != NULL)
        n++;
    assert_true(n >= 40);
    /* Every name is callable, and names are unique. */
    for (size_t i = 0; i < n; i++) {
        uint64_t rng = 7;
        json_t *v = dp_faker_call(dp_faker_names[i], NULL, &rng, NOW);
        if (v == NULL)
            fail_msg("faker %s is listed but not callable",
                     dp_faker_names[i]);
        json_decref(v);
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(dp_faker_names[i], dp_faker_names[j]);
    }
}

static void test_unknown_and_check(void **state)
{
    uint64_t rng = 1;
    assert_null(dp_faker_call("Nope", NULL, &rng, NOW));
    assert_null(dp_faker_call("uuid", NULL, &rng, NOW)); /* case-sensitive */
    assert_null(dp_faker_call(NULL, NULL, &rng, NOW));
    assert_true(dp_faker_check("UUID", 0));
    assert_false(dp_faker_check("UUID", 1));
    assert_true(dp_faker_check("IntBetween", 2));
    assert_false(dp_faker_check("IntBetween", 0));
    assert_false(dp_faker_check("IntBetween", 3));
    assert_true(dp_faker_check("Words", 0));
    assert_true(dp_faker_check("Words", 1));
    assert_false(dp_faker_check("Words", 2));
    assert_false(dp_faker_check("Nope", 0));
}

static void test_deterministic(void **state)
{
    for (size_t i = 0; dp_faker_names[i] != NULL; i++) {
        uint64_t a = 12345, b = 12345;
        json_t *x = dp_faker_call(dp_faker_names[i], NULL, &a, NOW);
        json_t *y = dp_faker_call(dp_faker_names[i], NULL, &b, NOW);
        if (!json_equal(x, y))
            fail_msg("faker %s is not deterministic", dp_faker_names[i]);
        assert_true(a == b);
        json_decref(x);
        json_decref(y);
    }
    /* Different seeds give different UUIDs. */
    uint64_t s1 = 1, s2 = 2;
    char u1[64], u2[64];
    assert_string_not_equal(callstr("UUID", NULL, &s1, u1, sizeof(u1)),
                            callstr("UUID", NULL, &s2, u2, sizeof(u2)));
    /* A zero state does not get stuck. */
    uint64_t z = 0;
    callstr("UUID", NULL, &z, u1, sizeof(u1));
    callstr("UUID", NULL, &z, u2, sizeof(u2));
    assert_string_not_equal(u1, u2);
}

static void test_uuid(void **state)
{
    all_match("UUID", NULL,
              "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
              "[0-9a-f]{12}$");
}

static void test_people(void **state)
{
    all_match("FirstName", NULL, "^[A-Z][a-z]+$");
    all_match("LastName", NULL, "^[A-Z][a-z]+$");
    all_match("Name", NULL, "^[A-Z][a-z]+ [A-Z][a-z]+$");
    all_match("Email", NULL, "^[a-z]+\\.[a-z]+[0-9]*@[a-z&]+\\.[a-z]+$");
    all_match("Username", NULL, "^[a-z]+_[a-z]+[0-9]+$");
    all_match("Password", NULL, "^.{12}$");
    all_match("Password", "[20]", "^[A-Z][a-z][0-9][^A-Za-z0-9].{16}$");
    all_match("Phone", NULL, "^\\+1-[0-9]{3}-555-[0-9]{4}$");
    all_match("Company", NULL, "^[A-Z].* [A-Za-z&]+");
    all_match("JobTitle", NULL, "^[A-Z][A-Za-z ]+$");
}

static void test_address(void **state)
{
    all_match("Street", NULL, "^[0-9]{1,4} [A-Z][a-z]+ [A-Z][a-z]+$");
    all_match("City", NULL, "^[A-Z][a-z]+$");
    all_match("State", NULL, "^[A-Z][a-z]+( [A-Z][a-z]+)?$");
    all_match("Country", NULL, "^[A-Z][a-z]+( [A-Z][a-z]+)*$");
    all_match("CountryCode", NULL, "^[A-Z]{2}$");
    all_match("ZipCode", NULL, "^[0-9]{5}$");
    uint64_t rng = 3;
    for (int i = 0; i < 1000; i++) {
        json_t *la = call("Latitude", NULL, &rng);
        json_t *lo = call("Longitude", NULL, &rng);
        assert_true(json_is_real(la) && json_is_real(lo));
        assert_true(json_real_value(la) >= -90 && json_real_value(la) <= 90);
        assert_true(json_real_value(lo) >= -180 &&
                    json_real_value(lo) <= 180);
        json_decref(la);
        json_decref(lo);
    }
}

static void test_network(void **state)
{
    uint64_t rng = 9;
    char buf[128];
    for (int i = 0; i < 1000; i++) {
        unsigned o[4];
        char tail;
        callstr("IPv4", NULL, &rng, buf, sizeof(buf));
        assert_int_equal(sscanf(buf, "%u.%u.%u.%u%c", &o[0], &o[1], &o[2],
                                &o[3], &tail), 4);
        for (int k = 0; k < 4; k++)
            assert_true(o[k] <= 255);
    }
    all_match("IPv6", NULL, "^[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}$");
    all_match("MAC", NULL, "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$");
    all_match("URL", NULL, "^https://www\\.[a-z&]+\\.[a-z]+/[a-z]+$");
    all_match("DomainName", NULL, "^[a-z&]+\\.[a-z]+$");
    all_match("UserAgent", NULL, "^[A-Za-z]+.*/[0-9]");
}

static void test_text(void **state)
{
    all_match("Word", NULL, "^[a-z]+$");
    all_match("Words", NULL, "^[a-z]+ [a-z]+ [a-z]+$");
    all_match("Words", "[5]", "^[a-z]+( [a-z]+){4}$");
    all_match("Sentence", NULL, "^[A-Z][a-z]*( [a-z]+)+\\.$");
    all_match("Sentence", "[2]", "^[A-Z][a-z]* [a-z]+\\.$");
    all_match("Paragraph", NULL, "^([A-Z][a-z ]+\\. ?){3,5}$");
    all_match("Paragraph", "[2]", "^[A-Z][a-z ]+\\. [A-Z][a-z ]+\\.$");
    all_match("Letter", NULL, "^[a-z]$");
    all_match("AlphaNum", NULL, "^[A-Za-z0-9]{8}$");
    all_match("AlphaNum", "[33]", "^[A-Za-z0-9]{33}$");
    all_match("Digits", "[9]", "^[0-9]{9}$");
    all_match("HexString", "[7]", "^[0-9a-f]{7}$");
    all_match("Base64", "[1]", "^[A-Za-z0-9+/]{2}==$");
    all_match("Base64", "[2]", "^[A-Za-z0-9+/]{3}=$");
    all_match("Base64", "[30]", "^[A-Za-z0-9+/]{40}$");
    all_match("Color", NULL, "^[a-z]+$");
    all_match("HexColor", NULL, "^#[0-9a-f]{6}$");
    all_match("Status", NULL, "^(active|inactive|pending)$");
    all_match("Currency", NULL, "^[A-Z]{3}$");
    all_match("ProductName", NULL, "^[A-Z][a-z]+ [A-Z][a-z]+ [A-Z][a-z]+$");
    /* The upper bound on counts. */
    uint64_t rng = 5;
    char *big = malloc(5000);
    callstr("Digits", "[4096]", &rng, big, 5000);
    assert_int_equal(strlen(big), 4096);
    free(big);
}

static void test_dates(void **state)
{
    all_match("DateISO", NULL, "^20(22|23|24)-[01][0-9]-[0-3][0-9]$");
    all_match("DateTimeISO", NULL,
              "^20(22|23|24)-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:"
              "[0-5][0-9]Z$");
    uint64_t rng = 11;
    for (int i = 0; i < 1000; i++) {
        json_t *t = call("Timestamp", NULL, &rng);
        json_t *ms = call("TimestampMs", NULL, &rng);
        assert_true(json_is_integer(t) && json_is_integer(ms));
        json_int_t d = json_integer_value(t) - NOW;
        assert_true(d >= -31 * 86400 && d <= 31 * 86400);
        json_int_t dm = json_integer_value(ms) / 1000 - NOW;
        assert_true(dm >= -31 * 86400 && dm <= 31 * 86400);
        json_decref(t);
        json_decref(ms);
    }
}

static void test_numbers(void **state)
{
    uint64_t rng = 17;
    int seen_lo = 0, seen_hi = 0;
    for (int i = 0; i < 1000; i++) {
        json_t *v = call("IntBetween", "[-3, 4]", &rng);
        assert_true(json_is_integer(v));
        json_int_t x = json_integer_value(v);
        assert_true(x >= -3 && x <= 4);
        seen_lo |= x == -3;
        seen_hi |= x == 4;
        json_decref(v);
    }
    assert_true(seen_lo && seen_hi); /* inclusive at both ends */
    for (int i = 0; i < 1000; i++) {
        json_t *v = call(i % 2 ? "FloatRange" : "FloatBetween", "[1.25, 2.5]",
                         &rng);
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) >= 1.25 && json_real_value(v) <= 2.5);
        json_decref(v);
        v = call("Price", NULL, &rng);
        assert_true(json_is_real(v) && json_real_value(v) > 0);
        json_decref(v);
        v = call("Int", NULL, &rng);
        assert_true(json_is_integer(v) && json_integer_value(v) >= 0);
        json_decref(v);
        v = call("Float", NULL, &rng);
        assert_true(json_is_real(v));
        json_decref(v);
        v = call("Bool", NULL, &rng);
        assert_true(json_is_boolean(v));
        json_decref(v);
    }
    /* The full int64 range does not overflow. */
    json_t *v = call("IntBetween", "[-9223372036854775807, "
                                   "9223372036854775807]", &rng);
    assert_true(json_is_integer(v));
    json_decref(v);
    /* Runtime calls with reversed bounds still stay within them. */
    v = call("IntBetween", "[10, 1]", &rng);
    assert_true(json_integer_value(v) >= 1 && json_integer_value(v) <= 10);
    json_decref(v);
}

static int luhn_ok(const char *d)
{
    size_t n = strlen(d);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static int iban_ok(const char *s)
{
    /* Move the first four characters to the end, letters -> 10..35. */
    char re[64];
    size_t n = strlen(s);
    snprintf(re, sizeof(re), "%s%.4s", s + 4, s);
    unsigned rem = 0;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (isdigit((unsigned char)c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    return rem == 1;
}

static void test_checksums(void **state)
{
    uint64_t rng = 23;
    char buf[64];
    assert_true(luhn_ok("4111111111111111"));
    assert_false(luhn_ok("4111111111111112"));
    for (int i = 0; i < 1000; i++) {
        callstr("CreditCardNumber", NULL, &rng, buf, sizeof(buf));
        assert_true(re_match("^4[0-9]{15}$", buf));
        if (!luhn_ok(buf))
            fail_msg("card %s fails Luhn", buf);
        callstr("IBAN", NULL, &rng, buf, sizeof(buf));
        assert_true(re_match("^DE[0-9]{20}$", buf));
        if (!iban_ok(buf))
            fail_msg("IBAN %s fails mod 97", buf);
    }
    assert_true(iban_ok("DE89370400440532013000")); /* the textbook example */
}

static void test_bad_runtime_args_fall_back(void **state)
{
    uint64_t rng = 1;
    char buf[64];
    /* Refused at compile time; a direct call uses the default. */
    callstr("Digits", "[0]", &rng, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 6);
    callstr("Digits", "[\"x\"]", &rng, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 6);
    json_t *v = call("FloatRange", "[\"a\", 3]", &rng);
    assert_true(json_is_real(v));
    json_decref(v);
}

/* Time fakers at the ends of the clock (a test clock, or a clock set far
 * away) saturate instead of overflowing int64 (undefined behaviour). */
static void test_dates_at_the_ends_of_time(void **state)
{
    (void)state;
    static const int64_t ends[] = {INT64_MAX, INT64_MAX - 5, INT64_MIN,
                                   INT64_MIN + 5};
    static const char *const names[] = {"Timestamp", "TimestampMs", "DateISO",
                                        "DateTimeISO", "JWT"};
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < 5; k++) {
            uint64_t rng = 3;
            for (int n = 0; n < 50; n++) {
                json_t *v = dp_faker_call(names[k], NULL, &rng, ends[i]);
                assert_non_null(v);
                if (json_is_integer(v) && k == 0)
                    assert_true(ends[i] > 0 ? json_integer_value(v) > 0
                                            : json_integer_value(v) < 0);
                json_decref(v);
            }
        }
    }
}

/* The names the platforms' SDK examples use: aliases give what the
 * faker they stand for gives, for the same seed; the others have the
 * documented shape. */
static void test_platform_names(void **state)
{
    static const char *const alias[][3] = {
        {"IntRange", "IntBetween", "[3, 9]"},
        {"Float64", "Float", NULL},
        {"StreetAddress", "Street", NULL},
        {"PhoneNumber", "Phone", NULL},
        {"Date", "DateISO", NULL},
        {"Zip", "ZipCode", NULL},
        {"CompanyName", "Company", NULL},
        {"Amount", "Price", NULL},
        {"UnixTime", "Timestamp", NULL},
        {"MacAddress", "MAC", NULL},
    };
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
        uint64_t a = 77, b = 77;
        json_t *x = call(alias[i][0], alias[i][2], &a);
        json_t *y = call(alias[i][1], alias[i][2], &b);
        if (!json_equal(x, y))
            fail_msg("%s differs from %s", alias[i][0], alias[i][1]);
        json_decref(x);
        json_decref(y);
    }
    assert_true(dp_faker_check("IntRange", 2));
    assert_false(dp_faker_check("IntRange", 0));
    all_match("Address", NULL,
              "^[0-9]{1,4} [A-Z][a-z]+ [A-Z][a-z]+, [A-Z][a-z]+, "
              "[A-Z][a-z]+( [A-Z][a-z]+)? [0-9]{5}$");
    uint64_t rng = 5;
    for (int i = 0; i < 1000; i++) {
        json_t *v = call("PositiveInt", NULL, &rng);
        assert_true(json_is_integer(v));
        assert_true(json_integer_value(v) >= 1 &&
                    json_integer_value(v) <= 2147483647);
        json_decref(v);
    }
    all_match("JWT", NULL,
              "^eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\\.[A-Za-z0-9_-]+\\."
              "[A-Za-z0-9_-]{43}$");
    /* the claims decode to JSON a client can read */
    char jwt[512];
    callstr("JWT", NULL, &rng, jwt, sizeof(jwt));
    char *p = strchr(jwt, '.') + 1, *e = strchr(p, '.');
    unsigned char *dec = NULL;
    size_t dl = 0;
    assert_int_equal(dp_b64_decode(p, (size_t)(e - p), &dec, &dl), 0);
    json_t *claims = json_loadb((const char *)dec, dl, 0, NULL);
    assert_non_null(claims);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), NOW);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
                     NOW + 3600);
    assert_true(json_is_string(json_object_get(claims, "sub")));
    assert_true(json_is_string(json_object_get(claims, "name")));
    json_decref(claims);
    free(dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_list),
        cmocka_unit_test(test_unknown_and_check),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_people),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_bad_runtime_args_fall_back),
        cmocka_unit_test(test_dates_at_the_ends_of_time),
        cmocka_unit_test(test_platform_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
