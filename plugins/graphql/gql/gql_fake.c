/*
 * Fake answers for fields that have no mock: deterministic (the seed mixed
 * with the value's path gives its own generator, so the same query and
 * seed give the same data, and adding a field does not change the
 * others), typed by the schema, and plausible by field name (email, name,
 * url, ...). Objects are {} and are filled by the shaping, which fakes
 * each selected member in turn.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gql_exec_int.h"

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t gql_fake_mix(uint64_t seed, const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= 0x2f; /* separates "ab"+"c" from "a"+"bc" */
    h *= 0x100000001b3ULL;
    return splitmix(&h);
}

uint64_t gql_fake_mix_index(uint64_t seed, size_t index)
{
    uint64_t h = seed ^ (0xa0761d6478bd642fULL * ((uint64_t)index + 1));
    return splitmix(&h);
}

static uint32_t pick(uint64_t *r, uint32_t n)
{
    return n ? (uint32_t)(splitmix(r) % n) : 0;
}

#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static const char *const FIRST[] = {"Alice", "Bruno", "Chloe", "Daniel", "Emma",
                                    "Farid", "Grace", "Hugo", "Iris", "Jonas",
                                    "Keiko", "Liam", "Maya", "Noah", "Olga", "Pedro"};
static const char *const LAST[] = {"Martin", "Smith", "Garcia", "Nakamura", "Okafor",
                                   "Rossi", "Novak", "Larsen", "Dubois", "Kowalski",
                                   "Silva", "Schmidt", "Haddad", "Moreau"};
static const char *const WORDS[] = {"alpha", "river", "copper", "meadow", "signal",
                                    "harbor", "lantern", "orbit", "maple", "summit",
                                    "velvet", "ember", "quartz", "willow", "falcon",
                                    "canyon", "pixel", "breeze", "atlas", "cobalt"};
static const char *const CITIES[] = {"Lisbon", "Osaka", "Toronto", "Nairobi", "Lyon",
                                     "Krakow", "Austin", "Bergen", "Porto", "Seville"};
static const char *const COUNTRIES[] = {"Portugal", "Japan", "Canada", "Kenya",
                                        "France", "Poland", "Norway", "Spain"};
static const char *const STREETS[] = {"Oak Street", "Harbor Road", "Maple Avenue",
                                      "Station Lane", "Hill Drive", "Park Place"};
static const char *const COMPANIES[] = {"Acme Corp", "Globex", "Initech", "Umbrella Labs",
                                        "Stark Industries", "Wayne Enterprises"};
static const char *const COLORS[] = {"red", "green", "blue", "orange", "purple", "teal"};

static void lower_copy(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static int has(const char *lname, const char *w)
{
    return strstr(lname, w) != NULL;
}

static void words(char *out, size_t n, uint64_t *r, int count, int capital)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < count; i++) {
        const char *w = WORDS[pick(r, N(WORDS))];
        int k = snprintf(out + len, n - len, "%s%s", i ? " " : "", w);
        if (k < 0 || (size_t)k >= n - len)
            break;
        if (capital && (i == 0 || capital > 1))
            out[len + (i ? 1 : 0)] = (char)toupper((unsigned char)out[len + (i ? 1 : 0)]);
        len += (size_t)k;
    }
}

static json_t *fake_uuid(uint64_t *r)
{
    /* version 4, variant 10xx: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx */
    static const char hex[] = "0123456789abcdef";
    uint64_t a = splitmix(r), b = splitmix(r);
    a = (a & ~0xf000ULL) | 0x4000ULL;
    b = (b & ~(0xc000ULL << 48)) | (0x8000ULL << 48);
    char s[37];
    size_t k = 0;
    for (int i = 0; i < 32; i++) {
        uint64_t w = i < 16 ? a : b;
        int shift = 60 - 4 * (i % 16);
        if (i == 8 || i == 12 || i == 16 || i == 20)
            s[k++] = '-';
        s[k++] = hex[(w >> shift) & 0xf];
    }
    s[k] = '\0';
    return json_string(s);
}

static void fake_date(char *out, size_t n, uint64_t *r, int with_time)
{
    unsigned y = 2020 + pick(r, 6), mo = 1 + pick(r, 12), d = 1 + pick(r, 28);
    if (with_time)
        snprintf(out, n, "%04u-%02u-%02uT%02u:%02u:%02uZ", y, mo, d, pick(r, 24),
                 pick(r, 60), pick(r, 60));
    else
        snprintf(out, n, "%04u-%02u-%02u", y, mo, d);
}

/* A string for a field, by what its name says it holds. */
static json_t *fake_string(const char *field, uint64_t *r)
{
    char ln[128], s[256];
    lower_copy(ln, sizeof ln, field ? field : "");
    const char *f = FIRST[pick(r, N(FIRST))], *l = LAST[pick(r, N(LAST))];
    if (has(ln, "email") || has(ln, "mail")) {
        char lf[32], ll[32];
        lower_copy(lf, sizeof lf, f);
        lower_copy(ll, sizeof ll, l);
        snprintf(s, sizeof s, "%s.%s@example.com", lf, ll);
    } else if (has(ln, "firstname") || has(ln, "givenname") || has(ln, "first_name")) {
        snprintf(s, sizeof s, "%s", f);
    } else if (has(ln, "lastname") || has(ln, "surname") || has(ln, "familyname") ||
               has(ln, "last_name")) {
        snprintf(s, sizeof s, "%s", l);
    } else if (has(ln, "username") || has(ln, "login") || has(ln, "handle") ||
               has(ln, "nick")) {
        char lf[32];
        lower_copy(lf, sizeof lf, f);
        snprintf(s, sizeof s, "%s%u", lf, pick(r, 1000));
    } else if (has(ln, "url") || has(ln, "uri") || has(ln, "website") ||
               has(ln, "link") || has(ln, "href")) {
        snprintf(s, sizeof s, "https://example.com/%s/%u", WORDS[pick(r, N(WORDS))],
                 pick(r, 10000));
    } else if (has(ln, "avatar") || has(ln, "image") || has(ln, "photo") ||
               has(ln, "picture") || has(ln, "thumbnail")) {
        snprintf(s, sizeof s, "https://example.com/images/%u.png", pick(r, 10000));
    } else if (has(ln, "phone") || has(ln, "mobile") || has(ln, "tel")) {
        snprintf(s, sizeof s, "+1-555-%04u", pick(r, 10000));
    } else if (has(ln, "city") || has(ln, "town")) {
        snprintf(s, sizeof s, "%s", CITIES[pick(r, N(CITIES))]);
    } else if (has(ln, "country")) {
        snprintf(s, sizeof s, "%s", COUNTRIES[pick(r, N(COUNTRIES))]);
    } else if (has(ln, "street") || has(ln, "address")) {
        snprintf(s, sizeof s, "%u %s", 1 + pick(r, 300), STREETS[pick(r, N(STREETS))]);
    } else if (has(ln, "zip") || has(ln, "postal") || has(ln, "postcode")) {
        snprintf(s, sizeof s, "%05u", pick(r, 100000));
    } else if (has(ln, "company") || has(ln, "organization") || has(ln, "employer")) {
        snprintf(s, sizeof s, "%s", COMPANIES[pick(r, N(COMPANIES))]);
    } else if (has(ln, "color") || has(ln, "colour")) {
        snprintf(s, sizeof s, "%s", COLORS[pick(r, N(COLORS))]);
    } else if (has(ln, "date") || has(ln, "time") || strcmp(ln, "createdat") == 0 ||
               has(ln, "updatedat") || has(ln, "birthday")) {
        fake_date(s, sizeof s, r, !has(ln, "birth") && strcmp(ln, "date") != 0);
    } else if (has(ln, "uuid") || has(ln, "guid")) {
        return fake_uuid(r);
    } else if (has(ln, "name") || has(ln, "author") || has(ln, "owner")) {
        snprintf(s, sizeof s, "%s %s", f, l);
    } else if (has(ln, "title") || has(ln, "subject") || has(ln, "headline") ||
               has(ln, "label")) {
        words(s, sizeof s, r, 3, 2);
    } else if (has(ln, "description") || has(ln, "summary") || has(ln, "bio") ||
               has(ln, "body") || has(ln, "content") || has(ln, "text") ||
               has(ln, "comment") || has(ln, "message") || has(ln, "note")) {
        words(s, sizeof s, r, 8, 1);
        size_t len = strlen(s);
        if (len + 1 < sizeof s) {
            s[len] = '.';
            s[len + 1] = '\0';
        }
    } else {
        words(s, sizeof s, r, 2, 0);
    }
    return json_string(s);
}

/* A custom scalar, by its name (then by the field's). */
static json_t *fake_custom(const gql_stype_t *t, const char *field, uint64_t *r)
{
    char tn[128], s[128];
    lower_copy(tn, sizeof tn, t->name);
    if (has(tn, "datetime") || has(tn, "timestamp") || has(tn, "instant")) {
        fake_date(s, sizeof s, r, 1);
        return json_string(s);
    }
    if (has(tn, "date")) {
        fake_date(s, sizeof s, r, 0);
        return json_string(s);
    }
    if (has(tn, "time")) {
        snprintf(s, sizeof s, "%02u:%02u:%02u", pick(r, 24), pick(r, 60), pick(r, 60));
        return json_string(s);
    }
    if (has(tn, "url") || has(tn, "uri")) {
        snprintf(s, sizeof s, "https://example.com/%s", WORDS[pick(r, N(WORDS))]);
        return json_string(s);
    }
    if (has(tn, "email"))
        return fake_string("email", r);
    if (has(tn, "uuid") || has(tn, "guid"))
        return fake_uuid(r);
    if (strcmp(tn, "json") == 0 || has(tn, "jsonobject")) {
        /* a JSON scalar holds any JSON: a small object says so best */
        return json_pack("{s:s,s:I}", "key", WORDS[pick(r, N(WORDS))], "value",
                         (json_int_t)pick(r, 100));
    }
    if (has(tn, "long") || has(tn, "bigint") || has(tn, "int"))
        return json_integer((json_int_t)pick(r, 1000000));
    if (has(tn, "decimal") || has(tn, "money") || has(tn, "float"))
        return json_real((double)pick(r, 100000) / 100.0);
    return fake_string(field, r);
}

json_t *gql_fake_leaf(const gql_stype_t *t, const char *field, uint64_t seed)
{
    uint64_t r = seed;
    if (t->kind == GQL_K_ENUM)
        return t->n_values ? json_string(t->values[pick(&r, (uint32_t)t->n_values)].name)
                           : json_null();
    if (strcmp(t->name, "ID") == 0)
        return fake_uuid(&r);
    if (strcmp(t->name, "String") == 0)
        return fake_string(field, &r);
    if (strcmp(t->name, "Int") == 0)
        return json_integer((json_int_t)pick(&r, 100) + 1);
    if (strcmp(t->name, "Float") == 0)
        return json_real((double)pick(&r, 10000) / 100.0);
    if (strcmp(t->name, "Boolean") == 0)
        return json_boolean(pick(&r, 2));
    return fake_custom(t, field, &r);
}

json_t *gql_fake_value(const gql_schema_t *s, const gql_type_ref_t *t,
                       const char *field, uint64_t seed, uint32_t list_len)
{
    if (!t)
        return json_null();
    if (t->kind == GQL_T_NON_NULL)
        return gql_fake_value(s, t->of, field, seed, list_len);
    if (t->kind == GQL_T_LIST) {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < list_len; i++) {
            json_array_append_new(a, gql_fake_value(s, t->of, field,
                                                    gql_fake_mix_index(seed, i),
                                                    list_len));
        }
        return a;
    }
    const gql_stype_t *nt = gql_schema_type(s, t->name);
    if (!nt)
        return json_null();
    switch (nt->kind) {
    case GQL_K_SCALAR:
    case GQL_K_ENUM:
        return gql_fake_leaf(nt, field, seed);
    case GQL_K_OBJECT:
        return json_object();
    case GQL_K_INTERFACE:
    case GQL_K_UNION:
        if (nt->n_possible == 0)
            return json_null();
        return json_pack("{s:s}", "__typename", nt->possible[0]->name);
    case GQL_K_INPUT_OBJECT:
        break;
    }
    return json_null();
}
