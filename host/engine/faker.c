/*
 * Fakers: small generators of plausible values for response templates.
 * Deterministic given the caller's xorshift64* state, so a seeded render is
 * reproducible in tests. Word lists are deliberately short and static.
 *
 * Thread rules: no global mutable state; the rng state belongs to the
 * caller (one per render or per worker).
 */
#include "expr_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sbuf.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define FAKER_MAX_COUNT 4096

/* ---- random numbers ------------------------------------------------------ */

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    if (x == 0)
        x = 0x9E3779B97F4A7C15ULL; /* xorshift must never hold 0 */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n), n > 0, without modulo bias worth mentioning. */
static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd(s) * n) >> 64);
}

/* Uniform in [a, b], a <= b. */
static int64_t rnd_between(uint64_t *s, int64_t a, int64_t b)
{
    uint64_t span = (uint64_t)b - (uint64_t)a + 1;
    if (span == 0) /* the whole int64 range */
        return (int64_t)rnd(s);
    return (int64_t)((uint64_t)a + rnd_below(s, span));
}

static double rnd_unit(uint64_t *s)
{
    return (double)(rnd(s) >> 11) * 0x1.0p-53;
}

#define PICK(s, list) (list[rnd_below((s), N_ELEMS(list))])

/* ---- word lists -------------------------------------------------------- */

static const char *const first_names[] = {
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael",
    "Linda", "William", "Elizabeth", "David", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Ahmed",
    "Nancy", "Daniel", "Lisa", "Matthew", "Sofia", "Anthony", "Mei", "Mark",
    "Amara", "Paul", "Olga"};
static const char *const last_names[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young"};
static const char *const companies[] = {
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark",
    "Wayne", "Wonka", "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Oscorp",
    "Massive Dynamic", "Pied Piper", "Gringotts", "Monarch", "Dunder Mifflin",
    "Prestige Worldwide"};
static const char *const company_suffixes[] = {"Inc", "LLC", "Ltd", "Group",
                                               "Corp", "GmbH", "& Co"};
static const char *const job_titles[] = {
    "Software Engineer", "Product Manager", "Data Analyst", "Designer",
    "Accountant", "Sales Manager", "Support Specialist", "DevOps Engineer",
    "HR Manager", "Marketing Lead", "QA Engineer", "Architect", "Consultant",
    "Chief Executive Officer", "Operations Manager", "Technical Writer",
    "Recruiter", "Security Analyst", "Business Analyst", "Team Lead"};
static const char *const street_names[] = {
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake",
    "Hill", "Park", "Sunset", "River", "Church", "Mill", "Spring", "High",
    "Chestnut", "Walnut", "Highland", "Forest"};
static const char *const street_kinds[] = {"Street", "Avenue", "Road", "Lane",
                                           "Boulevard", "Drive", "Way",
                                           "Court"};
static const char *const cities[] = {
    "Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton",
    "Fairview", "Salem", "Madison", "Georgetown", "Arlington", "Ashland",
    "Burlington", "Manchester", "Oxford", "Milton", "Newport", "Dover",
    "Lisbon", "Hamburg", "Lyon", "Osaka", "Toronto", "Melbourne"};
static const char *const states[] = {
    "California", "Texas", "Florida", "New York", "Ohio", "Georgia",
    "Michigan", "Oregon", "Nevada", "Arizona", "Colorado", "Utah", "Virginia",
    "Washington", "Illinois", "Kansas", "Maine", "Vermont", "Alabama",
    "Montana"};
static const struct {
    const char *name, *code;
} countries[] = {
    {"United States", "US"}, {"Canada", "CA"},    {"Mexico", "MX"},
    {"Brazil", "BR"},        {"Argentina", "AR"}, {"United Kingdom", "GB"},
    {"France", "FR"},        {"Germany", "DE"},   {"Spain", "ES"},
    {"Italy", "IT"},         {"Portugal", "PT"},  {"Netherlands", "NL"},
    {"Sweden", "SE"},        {"Norway", "NO"},    {"Poland", "PL"},
    {"Japan", "JP"},         {"China", "CN"},     {"India", "IN"},
    {"Australia", "AU"},     {"New Zealand", "NZ"}, {"South Africa", "ZA"},
    {"Nigeria", "NG"},       {"Egypt", "EG"},     {"Kenya", "KE"}};
static const char *const words[] = {
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing",
    "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore",
    "et", "dolore", "magna", "aliqua", "enim", "minim", "veniam", "quis",
    "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex",
    "ea", "commodo", "consequat", "duis", "aute", "irure", "in",
    "reprehenderit", "voluptate", "velit"};
static const char *const tlds[] = {"com", "net", "org", "io", "dev", "example"};
static const char *const colors[] = {
    "red", "green", "blue", "yellow", "orange", "purple", "pink", "brown",
    "black", "white", "gray", "cyan", "magenta", "teal", "navy", "maroon",
    "olive", "lime", "indigo", "violet", "gold", "silver", "beige", "coral"};
static const char *const currencies[] = {
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "INR",
    "BRL", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR", "SGD", "HKD", "KRW"};
static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 "
    "Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "curl/8.5.0", "python-requests/2.31.0", "okhttp/4.12.0"};
static const char *const statuses[] = {"active", "inactive", "pending"};
static const char *const product_adjectives[] = {
    "Ergonomic", "Rustic", "Sleek", "Smart", "Gorgeous", "Incredible",
    "Practical", "Handmade", "Refined", "Durable", "Lightweight", "Awesome"};
static const char *const product_materials[] = {
    "Steel", "Wooden", "Concrete", "Plastic", "Cotton", "Granite", "Rubber",
    "Leather", "Silk", "Bronze", "Marble", "Wool"};
static const char *const product_nouns[] = {
    "Chair", "Car", "Computer", "Keyboard", "Mouse", "Bike", "Ball", "Gloves",
    "Pants", "Shirt", "Table", "Shoes", "Hat", "Towels", "Soap", "Lamp",
    "Clock", "Wallet"};

/* ---- string building --------------------------------------------------- */

static void sb_lower(dp_sbuf_t *b, const char *s)
{
    for (; *s; s++)
        if (*s != ' ')
            dp_sb_putc(b, (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s));
}

static json_t *sb_json(dp_sbuf_t *b)
{
    json_t *v = b->oom ? NULL : json_stringn_nocheck(b->p ? b->p : "", b->len);
    free(b->p);
    return v;
}

static json_t *str(const char *s)
{
    return json_string(s);
}

/* Rounds to d decimals, for readable coordinates and prices. */
static double round_to(double x, int d)
{
    double m = pow(10, d);
    return round(x * m) / m;
}

/* ---- arguments ----------------------------------------------------------- */

typedef enum arg_kind {
    ARGS_NONE,        /* no arguments */
    ARGS_COUNT,       /* optional n in 1..4096 */
    ARGS_INT_RANGE,   /* (a, b) integers, a <= b */
    ARGS_FLOAT_RANGE  /* (a, b) numbers, a <= b */
} arg_kind_t;

/* Optional count argument; runtime calls with bad values fall back to the
 * default, compile-time ones are refused by dp_faker_validate. */
static size_t arg_count(const json_t *args, size_t def)
{
    const json_t *a = json_array_get(args, 0);
    if (!json_is_integer(a))
        return def;
    json_int_t n = json_integer_value(a);
    if (n < 1 || n > FAKER_MAX_COUNT)
        return def;
    return (size_t)n;
}

/* ---- generators ---------------------------------------------------------- */

typedef json_t *(*faker_fn)(const json_t *args, uint64_t *r, int64_t now);

static const char hexd[] = "0123456789abcdef";
static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static json_t *f_uuid(const json_t *a, uint64_t *r, int64_t now)
{
    unsigned char b[16];
    uint64_t x = rnd(r), y = rnd(r);
    memcpy(b, &x, 8);
    memcpy(b + 8, &y, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char s[37];
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s[o++] = '-';
        s[o++] = hexd[b[i] >> 4];
        s[o++] = hexd[b[i] & 15];
    }
    s[o] = '\0';
    return str(s);
}

static json_t *f_first_name(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, first_names));
}

static json_t *f_last_name(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, last_names));
}

static json_t *f_name(const json_t *a, uint64_t *r, int64_t now)
{
    char s[96];
    const char *f = PICK(r, first_names);
    snprintf(s, sizeof(s), "%s %s", f, PICK(r, last_names));
    return str(s);
}

static json_t *f_email(const json_t *a, uint64_t *r, int64_t now)
{
    dp_sbuf_t b = {0};
    char num[8];
    sb_lower(&b, PICK(r, first_names));
    dp_sb_putc(&b, '.');
    sb_lower(&b, PICK(r, last_names));
    snprintf(num, sizeof(num), "%d", (int)rnd_below(r, 100));
    dp_sb_str(&b, num);
    dp_sb_putc(&b, '@');
    sb_lower(&b, PICK(r, companies));
    dp_sb_putc(&b, '.');
    dp_sb_str(&b, PICK(r, tlds));
    return sb_json(&b);
}

static json_t *f_username(const json_t *a, uint64_t *r, int64_t now)
{
    dp_sbuf_t b = {0};
    char num[8];
    sb_lower(&b, PICK(r, first_names));
    dp_sb_putc(&b, '_');
    sb_lower(&b, PICK(r, words));
    snprintf(num, sizeof(num), "%d", (int)rnd_below(r, 1000));
    dp_sb_str(&b, num);
    return sb_json(&b);
}

static json_t *f_password(const json_t *a, uint64_t *r, int64_t now)
{
    static const char sym[] = "!@#$%^&*-_+=?";
    size_t n = arg_count(a, 12);
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        /* Cycle classes so even short passwords mix them. */
        switch (i % 4) {
        case 0: dp_sb_putc(&b, alnum[rnd_below(r, 26)]); break;
        case 1: dp_sb_putc(&b, alnum[26 + rnd_below(r, 26)]); break;
        case 2: dp_sb_putc(&b, alnum[52 + rnd_below(r, 10)]); break;
        default: dp_sb_putc(&b, sym[rnd_below(r, sizeof(sym) - 1)]); break;
        }
    }
    return sb_json(&b);
}

static json_t *f_phone(const json_t *a, uint64_t *r, int64_t now)
{
    char s[32];
    snprintf(s, sizeof(s), "+1-%03d-555-%04d", (int)rnd_between(r, 201, 989),
             (int)rnd_below(r, 10000));
    return str(s);
}

static json_t *f_company(const json_t *a, uint64_t *r, int64_t now)
{
    char s[96];
    const char *c = PICK(r, companies);
    snprintf(s, sizeof(s), "%s %s", c, PICK(r, company_suffixes));
    return str(s);
}

static json_t *f_job_title(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, job_titles));
}

static json_t *f_street(const json_t *a, uint64_t *r, int64_t now)
{
    char s[96];
    int no = (int)rnd_between(r, 1, 9999);
    const char *n = PICK(r, street_names);
    snprintf(s, sizeof(s), "%d %s %s", no, n, PICK(r, street_kinds));
    return str(s);
}

static json_t *f_city(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, cities));
}

static json_t *f_state(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, states));
}

static json_t *f_country(const json_t *a, uint64_t *r, int64_t now)
{
    return str(countries[rnd_below(r, N_ELEMS(countries))].name);
}

static json_t *f_country_code(const json_t *a, uint64_t *r, int64_t now)
{
    return str(countries[rnd_below(r, N_ELEMS(countries))].code);
}

static json_t *f_zip(const json_t *a, uint64_t *r, int64_t now)
{
    char s[8];
    snprintf(s, sizeof(s), "%05d", (int)rnd_between(r, 501, 99950));
    return str(s);
}

static json_t *f_latitude(const json_t *a, uint64_t *r, int64_t now)
{
    return json_real(round_to(rnd_unit(r) * 180.0 - 90.0, 6));
}

static json_t *f_longitude(const json_t *a, uint64_t *r, int64_t now)
{
    return json_real(round_to(rnd_unit(r) * 360.0 - 180.0, 6));
}

static json_t *f_ipv4(const json_t *a, uint64_t *r, int64_t now)
{
    char s[16];
    snprintf(s, sizeof(s), "%d.%d.%d.%d", (int)rnd_between(r, 1, 223),
             (int)rnd_below(r, 256), (int)rnd_below(r, 256),
             (int)rnd_between(r, 1, 254));
    return str(s);
}

static json_t *f_ipv6(const json_t *a, uint64_t *r, int64_t now)
{
    char s[40];
    size_t o = 0;
    o += (size_t)snprintf(s, sizeof(s), "2001:db8"); /* documentation range */
    for (int i = 0; i < 6; i++)
        o += (size_t)snprintf(s + o, sizeof(s) - o, ":%x",
                              (unsigned)rnd_below(r, 0x10000));
    return str(s);
}

static json_t *f_mac(const json_t *a, uint64_t *r, int64_t now)
{
    unsigned char m[6];
    for (int i = 0; i < 6; i++)
        m[i] = (unsigned char)rnd_below(r, 256);
    m[0] = (unsigned char)((m[0] & 0xfc) | 0x02); /* local, unicast */
    char s[18];
    snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
             m[3], m[4], m[5]);
    return str(s);
}

static void put_domain(dp_sbuf_t *b, uint64_t *r)
{
    sb_lower(b, PICK(r, companies));
    dp_sb_putc(b, '.');
    dp_sb_str(b, PICK(r, tlds));
}

static json_t *f_domain(const json_t *a, uint64_t *r, int64_t now)
{
    dp_sbuf_t b = {0};
    put_domain(&b, r);
    return sb_json(&b);
}

static json_t *f_url(const json_t *a, uint64_t *r, int64_t now)
{
    dp_sbuf_t b = {0};
    dp_sb_str(&b, "https://www.");
    put_domain(&b, r);
    dp_sb_putc(&b, '/');
    dp_sb_str(&b, PICK(r, words));
    return sb_json(&b);
}

static json_t *f_user_agent(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, user_agents));
}

static json_t *f_word(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, words));
}

static json_t *f_words(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 3);
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            dp_sb_putc(&b, ' ');
        dp_sb_str(&b, PICK(r, words));
    }
    return sb_json(&b);
}

static void put_sentence(dp_sbuf_t *b, uint64_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *w = PICK(r, words);
        if (i == 0) {
            dp_sb_putc(b, (char)(w[0] - 32));
            dp_sb_str(b, w + 1);
        } else {
            dp_sb_putc(b, ' ');
            dp_sb_str(b, w);
        }
    }
    dp_sb_putc(b, '.');
}

static json_t *f_sentence(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 4 + (size_t)rnd_below(r, 8));
    dp_sbuf_t b = {0};
    put_sentence(&b, r, n);
    return sb_json(&b);
}

static json_t *f_paragraph(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 3 + (size_t)rnd_below(r, 3));
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            dp_sb_putc(&b, ' ');
        put_sentence(&b, r, 4 + (size_t)rnd_below(r, 8));
    }
    return sb_json(&b);
}

static json_t *f_bool(const json_t *a, uint64_t *r, int64_t now)
{
    return json_boolean(rnd(r) >> 63);
}

#define DAY 86400

/* Clock arithmetic that saturates: a clock near the ends of int64 (a test
 * clock) must not overflow. */
static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a > 0) == (b > 0) ? INT64_MAX : INT64_MIN;
    return r;
}

static json_t *f_date_iso(const json_t *a, uint64_t *r, int64_t now)
{
    time_t t = (time_t)add_sat(now, rnd_between(r, -365, 365) * DAY);
    struct tm tm;
    char s[32];
    if (gmtime_r(&t, &tm) == NULL)
        return json_null();
    strftime(s, sizeof(s), "%Y-%m-%d", &tm);
    return str(s);
}

static json_t *f_datetime_iso(const json_t *a, uint64_t *r, int64_t now)
{
    time_t t = (time_t)add_sat(now, rnd_between(r, -365 * DAY, 365 * DAY));
    struct tm tm;
    char s[40];
    if (gmtime_r(&t, &tm) == NULL)
        return json_null();
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return str(s);
}

static json_t *f_timestamp(const json_t *a, uint64_t *r, int64_t now)
{
    return json_integer(add_sat(now, rnd_between(r, -30 * DAY, 30 * DAY)));
}

static json_t *f_timestamp_ms(const json_t *a, uint64_t *r, int64_t now)
{
    int64_t s = add_sat(now, rnd_between(r, -30 * DAY, 30 * DAY));
    return json_integer(add_sat(mul_sat(s, 1000), rnd_between(r, 0, 999)));
}

static json_t *f_int_between(const json_t *a, uint64_t *r, int64_t now)
{
    const json_t *x = json_array_get(a, 0), *y = json_array_get(a, 1);
    int64_t lo = json_is_integer(x) ? json_integer_value(x) : 0;
    int64_t hi = json_is_integer(y) ? json_integer_value(y) : 100;
    if (lo > hi) {
        int64_t t = lo;
        lo = hi;
        hi = t;
    }
    return json_integer(rnd_between(r, lo, hi));
}

static json_t *f_float_range(const json_t *a, uint64_t *r, int64_t now)
{
    const json_t *x = json_array_get(a, 0), *y = json_array_get(a, 1);
    double lo = json_is_number(x) ? json_number_value(x) : 0.0;
    double hi = json_is_number(y) ? json_number_value(y) : 1.0;
    if (!isfinite(lo) || !isfinite(hi))
        return json_real(0.0);
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    /* Weighted sum rather than lo + u * (hi - lo): the span of a range
     * near the ends of the doubles is infinite. */
    double u = rnd_unit(r);
    double v = (1.0 - u) * lo + u * hi;
    if (fabs(v) < 1e15) /* beyond that a double has no decimals to round */
        v = round_to(v, 2);
    /* Rounding may step just outside a range with more decimals. */
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return json_real(v);
}

static json_t *f_digits(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 6);
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++)
        dp_sb_putc(&b, (char)('0' + rnd_below(r, 10)));
    return sb_json(&b);
}

static json_t *f_hex_string(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 16);
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++)
        dp_sb_putc(&b, hexd[rnd_below(r, 16)]);
    return sb_json(&b);
}

static json_t *f_color(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, colors));
}

static json_t *f_hex_color(const json_t *a, uint64_t *r, int64_t now)
{
    char s[8];
    snprintf(s, sizeof(s), "#%06x", (unsigned)rnd_below(r, 0x1000000));
    return str(s);
}

static json_t *f_credit_card(const json_t *a, uint64_t *r, int64_t now)
{
    char d[17];
    d[0] = '4'; /* Visa-like prefix */
    for (int i = 1; i < 15; i++)
        d[i] = (char)('0' + rnd_below(r, 10));
    /* Luhn: double every second digit from the right, check digit
     * excluded, so the positions doubled are 14, 12, ..., 0. */
    int sum = 0;
    for (int i = 0; i < 15; i++) {
        int v = d[i] - '0';
        if ((15 - i) % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    d[15] = (char)('0' + (10 - sum % 10) % 10);
    d[16] = '\0';
    return str(d);
}

static json_t *f_iban(const json_t *a, uint64_t *r, int64_t now)
{
    /* German layout: DE + 2 check digits + 18 digits, with real ISO 7064
     * mod-97 check digits so validators accept it. */
    char bban[19];
    for (int i = 0; i < 18; i++)
        bban[i] = (char)('0' + rnd_below(r, 10));
    bban[18] = '\0';
    unsigned rem = 0;
    const char *tail = "131400"; /* D=13, E=14, then "00" */
    for (const char *p = bban; *p; p++)
        rem = (rem * 10 + (unsigned)(*p - '0')) % 97;
    for (const char *p = tail; *p; p++)
        rem = (rem * 10 + (unsigned)(*p - '0')) % 97;
    char s[32];
    snprintf(s, sizeof(s), "DE%02u%s", 98 - rem, bban);
    return str(s);
}

static json_t *f_currency(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, currencies));
}

static json_t *f_price(const json_t *a, uint64_t *r, int64_t now)
{
    return json_real((double)rnd_between(r, 100, 99999) / 100.0);
}

static json_t *f_int(const json_t *a, uint64_t *r, int64_t now)
{
    return json_integer(rnd_between(r, 0, 1000000));
}

static json_t *f_float(const json_t *a, uint64_t *r, int64_t now)
{
    return json_real(round_to(rnd_unit(r) * 1000.0, 2));
}

static json_t *f_letter(const json_t *a, uint64_t *r, int64_t now)
{
    char s[2] = {(char)('a' + rnd_below(r, 26)), '\0'};
    return str(s);
}

static json_t *f_alnum(const json_t *a, uint64_t *r, int64_t now)
{
    size_t n = arg_count(a, 8);
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++)
        dp_sb_putc(&b, alnum[rnd_below(r, sizeof(alnum) - 1)]);
    return sb_json(&b);
}

static json_t *f_base64(const json_t *a, uint64_t *r, int64_t now)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = arg_count(a, 16); /* random bytes before encoding */
    dp_sbuf_t b = {0};
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = 0;
        size_t k = n - i < 3 ? n - i : 3;
        for (size_t j = 0; j < 3; j++)
            v = (v << 8) | (j < k ? (uint32_t)rnd_below(r, 256) : 0);
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                     k > 1 ? tab[(v >> 6) & 63] : '=',
                     k > 2 ? tab[v & 63] : '='};
        dp_sb_add(&b, q, 4);
    }
    return sb_json(&b);
}

static json_t *f_status(const json_t *a, uint64_t *r, int64_t now)
{
    return str(PICK(r, statuses));
}

static json_t *f_product_name(const json_t *a, uint64_t *r, int64_t now)
{
    char s[96];
    const char *x = PICK(r, product_adjectives);
    const char *y = PICK(r, product_materials);
    snprintf(s, sizeof(s), "%s %s %s", x, y, PICK(r, product_nouns));
    return str(s);
}

/* ---- the names the platforms' SDK examples use ---------------------------
 * Most are aliases (IntRange is IntBetween, Zip is ZipCode, ...); these
 * three make something new. */

static json_t *f_address(const json_t *a, uint64_t *r, int64_t now)
{
    char s[160];
    int no = (int)rnd_between(r, 1, 9999);
    const char *n = PICK(r, street_names), *k = PICK(r, street_kinds);
    const char *c = PICK(r, cities), *st = PICK(r, states);
    snprintf(s, sizeof(s), "%d %s %s, %s, %s %05d", no, n, k, c, st,
             (int)rnd_between(r, 501, 99950));
    return str(s);
}

static json_t *f_positive_int(const json_t *a, uint64_t *r, int64_t now)
{
    return json_integer(rnd_between(r, 1, 2147483647));
}

/* base64url without padding (RFC 7515), into out (4 * ceil(n / 3) + 1). */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = al[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = al[v & 63];
    }
    out[o] = '\0';
}

/* A well-formed, unsigned-for-real JWT (HS256 header, a subject, a name,
 * iat = now and exp an hour later, 32 random bytes as its signature):
 * clients that decode tokens get claims they can read. */
static json_t *f_jwt(const json_t *a, uint64_t *r, int64_t now)
{
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[192];
    int cl = snprintf(claims, sizeof(claims),
                      "{\"sub\":\"%llu\",\"name\":\"%s %s\",\"iat\":%lld,"
                      "\"exp\":%lld}",
                      (unsigned long long)rnd_between(r, 1000, 999999),
                      PICK(r, first_names), PICK(r, last_names),
                      (long long)now, (long long)add_sat(now, 3600));
    unsigned char sig[32];
    for (size_t i = 0; i < sizeof(sig); i += 8) {
        uint64_t x = rnd(r);
        memcpy(sig + i, &x, 8);
    }
    char h64[64], c64[4 * sizeof(claims) / 3 + 4], s64[48];
    b64url((const unsigned char *)hdr, sizeof(hdr) - 1, h64);
    b64url((const unsigned char *)claims, (size_t)cl, c64);
    b64url(sig, sizeof(sig), s64);
    char out[sizeof(h64) + sizeof(c64) + sizeof(s64) + 2];
    snprintf(out, sizeof(out), "%s.%s.%s", h64, c64, s64);
    return str(out);
}

/* ---- table ----------------------------------------------------------------- */

static const struct faker {
    const char *name;
    arg_kind_t args;
    faker_fn fn;
} fakers[] = {
    {"UUID", ARGS_NONE, f_uuid},
    {"FirstName", ARGS_NONE, f_first_name},
    {"LastName", ARGS_NONE, f_last_name},
    {"Name", ARGS_NONE, f_name},
    {"Email", ARGS_NONE, f_email},
    {"Username", ARGS_NONE, f_username},
    {"Password", ARGS_COUNT, f_password},
    {"Phone", ARGS_NONE, f_phone},
    {"Company", ARGS_NONE, f_company},
    {"JobTitle", ARGS_NONE, f_job_title},
    {"Street", ARGS_NONE, f_street},
    {"City", ARGS_NONE, f_city},
    {"State", ARGS_NONE, f_state},
    {"Country", ARGS_NONE, f_country},
    {"CountryCode", ARGS_NONE, f_country_code},
    {"ZipCode", ARGS_NONE, f_zip},
    {"Latitude", ARGS_NONE, f_latitude},
    {"Longitude", ARGS_NONE, f_longitude},
    {"IPv4", ARGS_NONE, f_ipv4},
    {"IPv6", ARGS_NONE, f_ipv6},
    {"MAC", ARGS_NONE, f_mac},
    {"URL", ARGS_NONE, f_url},
    {"DomainName", ARGS_NONE, f_domain},
    {"UserAgent", ARGS_NONE, f_user_agent},
    {"Word", ARGS_NONE, f_word},
    {"Words", ARGS_COUNT, f_words},
    {"Sentence", ARGS_COUNT, f_sentence},
    {"Paragraph", ARGS_COUNT, f_paragraph},
    {"Bool", ARGS_NONE, f_bool},
    {"DateISO", ARGS_NONE, f_date_iso},
    {"DateTimeISO", ARGS_NONE, f_datetime_iso},
    {"Timestamp", ARGS_NONE, f_timestamp},
    {"TimestampMs", ARGS_NONE, f_timestamp_ms},
    {"IntBetween", ARGS_INT_RANGE, f_int_between},
    {"FloatRange", ARGS_FLOAT_RANGE, f_float_range},
    {"FloatBetween", ARGS_FLOAT_RANGE, f_float_range},
    {"Digits", ARGS_COUNT, f_digits},
    {"HexString", ARGS_COUNT, f_hex_string},
    {"Color", ARGS_NONE, f_color},
    {"HexColor", ARGS_NONE, f_hex_color},
    {"CreditCardNumber", ARGS_NONE, f_credit_card},
    {"IBAN", ARGS_NONE, f_iban},
    {"Currency", ARGS_NONE, f_currency},
    {"Price", ARGS_NONE, f_price},
    {"Int", ARGS_NONE, f_int},
    {"Float", ARGS_NONE, f_float},
    {"Letter", ARGS_NONE, f_letter},
    {"AlphaNum", ARGS_COUNT, f_alnum},
    {"Base64", ARGS_COUNT, f_base64},
    {"Status", ARGS_NONE, f_status},
    {"ProductName", ARGS_NONE, f_product_name},
    {"IntRange", ARGS_INT_RANGE, f_int_between},
    {"Float64", ARGS_NONE, f_float},
    {"StreetAddress", ARGS_NONE, f_street},
    {"PhoneNumber", ARGS_NONE, f_phone},
    {"Date", ARGS_NONE, f_date_iso},
    {"Zip", ARGS_NONE, f_zip},
    {"CompanyName", ARGS_NONE, f_company},
    {"Amount", ARGS_NONE, f_price},
    {"Address", ARGS_NONE, f_address},
    {"UnixTime", ARGS_NONE, f_timestamp},
    {"PositiveInt", ARGS_NONE, f_positive_int},
    {"MacAddress", ARGS_NONE, f_mac},
    {"JWT", ARGS_NONE, f_jwt},
};

const char *const dp_faker_names[] = {
    "UUID", "FirstName", "LastName", "Name", "Email", "Username", "Password",
    "Phone", "Company", "JobTitle", "Street", "City", "State", "Country",
    "CountryCode", "ZipCode", "Latitude", "Longitude", "IPv4", "IPv6", "MAC",
    "URL", "DomainName", "UserAgent", "Word", "Words", "Sentence", "Paragraph",
    "Bool", "DateISO", "DateTimeISO", "Timestamp", "TimestampMs",
    "IntBetween", "FloatRange", "FloatBetween", "Digits", "HexString",
    "Color", "HexColor", "CreditCardNumber", "IBAN", "Currency", "Price",
    "Int", "Float", "Letter", "AlphaNum", "Base64", "Status", "ProductName",
    "IntRange", "Float64", "StreetAddress", "PhoneNumber", "Date", "Zip",
    "CompanyName", "Amount", "Address", "UnixTime", "PositiveInt",
    "MacAddress", "JWT", NULL};

_Static_assert(N_ELEMS(dp_faker_names) == N_ELEMS(fakers) + 1,
               "dp_faker_names must list every faker");

int dp_faker_find(const char *name, size_t len)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < N_ELEMS(fakers); i++)
        if (strlen(fakers[i].name) == len &&
            memcmp(fakers[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int nargs_ok(arg_kind_t k, int nargs)
{
    switch (k) {
    case ARGS_NONE: return nargs == 0;
    case ARGS_COUNT: return nargs == 0 || nargs == 1;
    case ARGS_INT_RANGE:
    case ARGS_FLOAT_RANGE: return nargs == 2;
    }
    return 0;
}

static const char *nargs_text(arg_kind_t k)
{
    switch (k) {
    case ARGS_NONE: return "no arguments";
    case ARGS_COUNT: return "at most one argument (a count)";
    default: return "two arguments (min, max)";
    }
}

int dp_faker_check(const char *name, int nargs)
{
    int i = name ? dp_faker_find(name, strlen(name)) : -1;
    return i >= 0 && nargs_ok(fakers[i].args, nargs);
}

int dp_faker_validate(int idx, const json_t *args, char *msg, size_t msglen)
{
    if (idx < 0 || (size_t)idx >= N_ELEMS(fakers)) {
        snprintf(msg, msglen, "unknown faker");
        return -EINVAL;
    }
    const struct faker *f = &fakers[idx];
    int n = args ? (int)json_array_size(args) : 0;
    if (!nargs_ok(f->args, n)) {
        snprintf(msg, msglen, "faker %s takes %s, got %d", f->name,
                 nargs_text(f->args), n);
        return -EINVAL;
    }
    const json_t *x = json_array_get(args, 0), *y = json_array_get(args, 1);
    switch (f->args) {
    case ARGS_NONE:
        return 0;
    case ARGS_COUNT:
        if (n == 0)
            return 0;
        if (!json_is_integer(x) || json_integer_value(x) < 1 ||
            json_integer_value(x) > FAKER_MAX_COUNT) {
            snprintf(msg, msglen, "faker %s: count must be an integer in "
                                  "1..%d", f->name, FAKER_MAX_COUNT);
            return -EINVAL;
        }
        return 0;
    case ARGS_INT_RANGE:
        if (!json_is_integer(x) || !json_is_integer(y)) {
            snprintf(msg, msglen, "faker %s: arguments must be integers",
                     f->name);
            return -EINVAL;
        }
        if (json_integer_value(x) > json_integer_value(y)) {
            snprintf(msg, msglen, "faker %s: min %lld is greater than max %lld",
                     f->name, (long long)json_integer_value(x),
                     (long long)json_integer_value(y));
            return -EINVAL;
        }
        return 0;
    case ARGS_FLOAT_RANGE:
        if (!json_is_number(x) || !json_is_number(y)) {
            snprintf(msg, msglen, "faker %s: arguments must be numbers",
                     f->name);
            return -EINVAL;
        }
        if (json_number_value(x) > json_number_value(y)) {
            snprintf(msg, msglen, "faker %s: min %g is greater than max %g",
                     f->name, json_number_value(x), json_number_value(y));
            return -EINVAL;
        }
        return 0;
    }
    return 0;
}

json_t *dp_faker_call_idx(int idx, const json_t *args, uint64_t *rng,
                          int64_t now)
{
    if (idx < 0 || (size_t)idx >= N_ELEMS(fakers))
        return NULL;
    uint64_t local = 0x853C49E6748FEA9BULL ^ (uint64_t)now;
    return fakers[idx].fn(args, rng ? rng : &local, now);
}

json_t *dp_faker_call(const char *name, const json_t *args, uint64_t *rng,
                      int64_t now)
{
    int i = name ? dp_faker_find(name, strlen(name)) : -1;
    if (i < 0)
        return NULL;
    return dp_faker_call_idx(i, json_is_array(args) ? args : NULL, rng, now);
}
