/*
 * dp_soapwsdl: WSDL 1.1 + XSD sets (plugins/soap/soap_wsdl.h) on the
 * fixtures of tests/integration/fixtures/soap and on hostile documents.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "soap_wsdl.h"

static char fixture_dir[1024];

static void find_fixtures(void)
{
    /* __FILE__ is tests/unit/this.c (CMake passes absolute paths). */
    snprintf(fixture_dir, sizeof(fixture_dir), "%s", __FILE__);
    char *slash = strrchr(fixture_dir, '/');
    if (slash)
        *slash = '\0';
    size_t n = strlen(fixture_dir);
    snprintf(fixture_dir + n, sizeof(fixture_dir) - n,
             "/../integration/fixtures/soap");
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static int put_fixture(soap_wsdl_set_t *s, const char *name, char *err,
                       size_t err_len)
{
    size_t len;
    uint8_t *b = read_fixture(name, &len);
    int rc = soap_wsdl_put(s, name, b, len, err, err_len);
    free(b);
    return rc;
}

static int put_fixture_as(soap_wsdl_set_t *s, const char *file,
                          const char *name, char *err, size_t err_len)
{
    size_t len;
    uint8_t *b = read_fixture(file, &len);
    int rc = soap_wsdl_put(s, name, b, len, err, err_len);
    free(b);
    return rc;
}

static int put_str(soap_wsdl_set_t *s, const char *name, const char *xml,
                   char *err, size_t err_len)
{
    return soap_wsdl_put(s, name, (const uint8_t *)xml, strlen(xml), err,
                         err_len);
}

/* A set holding account.wsdl and the account-types.xsd it imports. */
static soap_wsdl_set_t *account_set(void)
{
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    assert_non_null(s);
    assert_int_equal(put_fixture(s, "account-types.xsd", err, sizeof(err)), 0);
    assert_int_equal(put_fixture(s, "account.wsdl", err, sizeof(err)), 0);
    int rc = soap_wsdl_commit(s, 1, err, sizeof(err));
    if (rc != 0)
        fail_msg("commit: %s", err);
    return s;
}

static const char *jstr(json_t *o, const char *path)
{
    /* "a/b/c" through objects; a one-item array is stepped into. */
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = o;
    for (char *tok = strtok(buf, "/"); tok && cur; tok = strtok(NULL, "/")) {
        if (json_is_array(cur))
            cur = json_array_get(cur, 0);
        cur = json_object_get(cur, tok);
    }
    if (cur == NULL) {
        char *dump = json_dumps(o, JSON_INDENT(1));
        print_error("no %s in %s\n", path, dump);
        free(dump);
    }
    assert_non_null(cur);
    assert_true(json_is_string(cur));
    return json_string_value(cur);
}

static void test_ops_by_action_body_path(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();

    const soap_op_info_t *o =
        soap_wsdl_find(s, "/ws/account", "urn:example:account/Deposit", NULL, NULL);
    assert_non_null(o);
    assert_string_equal(o->operation, "Deposit");
    assert_string_equal(o->service, "AccountService");
    assert_string_equal(o->port, "AccountPort");
    assert_int_equal(o->soap_version, 11);
    assert_int_equal(o->rpc, 0);
    assert_string_equal(o->input_ns, "urn:example:account");
    assert_string_equal(o->input_local, "Deposit");
    assert_string_equal(o->output_local, "DepositResponse");
    assert_string_equal(o->file, "account.wsdl");

    /* The 1.2 port lives at its own path. */
    o = soap_wsdl_find(s, "/ws/account12", "urn:example:account/GetAccount",
                       NULL, NULL);
    assert_non_null(o);
    assert_int_equal(o->soap_version, 12);
    assert_string_equal(o->port, "AccountPort12");
    assert_string_equal(o->path, "/ws/account12");

    /* No action (or an unknown one): the Body's first element decides, in
     * its namespace. */
    o = soap_wsdl_find(s, "/ws/account", "", "urn:example:account", "ListAccounts");
    assert_non_null(o);
    assert_string_equal(o->operation, "ListAccounts");
    o = soap_wsdl_find(s, "/ws/account", "urn:nope", "urn:example:account",
                       "GetAccount");
    assert_non_null(o);
    assert_string_equal(o->operation, "GetAccount");
    assert_null(soap_wsdl_find(s, "/ws/account", NULL, "urn:other", "GetAccount"));
    assert_null(soap_wsdl_find(s, "/ws/account", NULL, NULL, "GetAccount"));
    assert_null(soap_wsdl_find(s, "/ws/elsewhere", "urn:example:account/Deposit",
                               NULL, NULL));
    assert_non_null(soap_wsdl_find(s, NULL, "urn:example:account/Deposit", NULL, NULL));

    assert_non_null(soap_wsdl_lookup(s, "AccountService", "ListAccounts"));
    assert_non_null(soap_wsdl_lookup(s, NULL, "ListAccounts"));
    assert_null(soap_wsdl_lookup(s, "OtherService", "ListAccounts"));
    assert_null(soap_wsdl_lookup(s, "", "CloseAccount"));

    assert_int_equal(soap_wsdl_has_path(s, "/ws/account"), 1);
    assert_int_equal(soap_wsdl_has_path(s, "/ws/account12"), 1);
    assert_int_equal(soap_wsdl_has_path(s, "/ws"), 0);

    json_t *d = soap_wsdl_describe(s);
    assert_int_equal(json_array_size(json_object_get(d, "files")), 2);
    json_t *svc = json_array_get(json_object_get(d, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(svc, "name")),
                        "AccountService");
    /* three operations through two ports */
    assert_int_equal(json_array_size(json_object_get(svc, "operations")), 6);
    json_t *op0 = json_array_get(json_object_get(svc, "operations"), 0);
    assert_string_equal(json_string_value(json_object_get(op0, "input")),
                        "{urn:example:account}GetAccount");
    assert_string_equal(json_string_value(json_object_get(op0, "style")),
                        "document");
    json_decref(d);
    soap_wsdl_set_free(s);
}

static void test_sample_member_by_member(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();
    const soap_op_info_t *o = soap_wsdl_lookup(s, "AccountService", "GetAccount");
    json_t *j = soap_wsdl_sample(s, o);
    assert_non_null(j);
    json_t *body = json_object_get(json_object_get(j, "Envelope"), "Body");
    assert_non_null(body);
    assert_string_equal(jstr(body, "@xmlns:ns1"), "urn:example:account");
    json_t *acc = json_object_get(
        json_object_get(body, "ns1:GetAccountResponse"), "ns1:account");
    assert_non_null(acc);
    assert_string_equal(jstr(acc, "@version"), "0"); /* attribute, unqualified */
    assert_string_equal(jstr(acc, "ns1:accountId"), "string");
    /* enumeration: the first value; types of the imported namespace are
     * still elements of the account namespace (local, qualified) */
    assert_string_equal(jstr(acc, "ns1:status"), "ACTIVE");
    /* simpleContent with an attribute: #text + @currency of length 3 */
    assert_string_equal(jstr(acc, "ns1:balance/#text"), "0.0");
    assert_string_equal(jstr(acc, "ns1:balance/@currency"), "str");
    /* minOccurs="0" included once; minInclusive moves the value */
    assert_string_equal(jstr(acc, "ns1:interestRate"), "0.5");
    assert_string_equal(jstr(acc, "ns1:opened"), "2024-01-01T00:00:00Z");
    assert_string_equal(jstr(acc, "ns1:overdraft"), "true");
    /* complexContent extension: the base's members first, then its own */
    json_t *holder = json_object_get(acc, "ns1:holder");
    const char *first = NULL;
    json_t *v;
    json_object_foreach(holder, first, v) break;
    assert_string_equal(first, "ns1:name");
    assert_string_equal(jstr(holder, "@partyId"), "0");
    assert_string_equal(jstr(holder, "ns1:email"), "string");
    assert_string_equal(jstr(holder, "ns1:address/ns2:street"), "string");
    assert_string_equal(jstr(body, "@xmlns:ns2"), "urn:example:account:types");
    assert_string_equal(jstr(holder, "ns1:address/ns2:country"), "NL"); /* default */
    assert_string_equal(jstr(holder, "ns1:birthDate"), "2024-01-01");
    /* maxOccurs="unbounded": one item in an array */
    json_t *tag = json_object_get(acc, "ns1:tag");
    assert_true(json_is_array(tag));
    assert_int_equal(json_array_size(tag), 1);
    /* choice: the first branch only */
    assert_string_equal(jstr(acc, "ns1:iban"), "string");
    assert_null(json_object_get(acc, "ns1:localNumber"));
    json_decref(j);

    o = soap_wsdl_lookup(s, NULL, "ListAccounts");
    j = soap_wsdl_sample(s, o);
    body = json_object_get(json_object_get(j, "Envelope"), "Body");
    json_t *list = json_object_get(body, "ns1:ListAccountsResponse");
    assert_true(json_is_array(json_object_get(list, "ns1:account")));
    assert_string_equal(jstr(list, "ns1:account/ns1:status"), "ACTIVE");
    assert_string_equal(jstr(list, "ns1:total"), "0");
    json_decref(j);
    soap_wsdl_set_free(s);
}

static void test_mocks_of_file(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();
    json_t *m = soap_wsdl_mocks(s, "account.wsdl");
    assert_non_null(m);
    /* three operations; the 1.2 port has its own address, so its own mocks */
    assert_int_equal(json_array_size(m), 6);
    json_t *m0 = json_array_get(m, 0);
    assert_string_equal(json_string_value(json_object_get(m0, "id")),
                        "soap-accountservice-getaccount");
    json_t *soap = json_object_get(m0, "soap");
    assert_string_equal(json_string_value(json_object_get(soap, "service")),
                        "AccountService");
    assert_string_equal(json_string_value(json_object_get(soap, "method")),
                        "GetAccount");
    assert_string_equal(json_string_value(json_object_get(soap, "action")),
                        "urn:example:account/GetAccount");
    assert_string_equal(json_string_value(json_object_get(soap, "path")),
                        "/ws/account");
    json_t *pl = json_object_get(json_object_get(m0, "response"), "payload");
    assert_non_null(json_object_get(
        json_object_get(json_object_get(pl, "Envelope"), "Body"),
        "ns1:GetAccountResponse"));
    int seen12 = 0;
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        for (const char *c = id; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                        *c == '-');
        if (strcmp(id, "soap-accountservice-getaccount-accountport12") == 0)
            seen12 = 1;
    }
    assert_true(seen12);
    json_decref(m);

    /* The xsd defines no operation; an unknown file has no mocks. */
    m = soap_wsdl_mocks(s, "account-types.xsd");
    assert_non_null(m);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    assert_null(soap_wsdl_mocks(s, "nope.wsdl"));
    soap_wsdl_set_free(s);
}

static void test_rpc_style(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    assert_int_equal(put_fixture(s, "rates-rpc.wsdl", err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), 0);
    /* soapAction "" : found by the wrapper element in the body namespace */
    const soap_op_info_t *o =
        soap_wsdl_find(s, "/ws/rates", "", "urn:example:rates:rpc", "GetRate");
    assert_non_null(o);
    assert_int_equal(o->rpc, 1);
    assert_string_equal(o->output_local, "GetRateResponse");
    assert_string_equal(o->output_ns, "urn:example:rates:rpc");
    json_t *j = soap_wsdl_sample(s, o);
    json_t *body = json_object_get(json_object_get(j, "Envelope"), "Body");
    assert_string_equal(jstr(body, "@xmlns:ns1"), "urn:example:rates:rpc");
    json_t *w = json_object_get(body, "ns1:GetRateResponse");
    assert_non_null(w);
    assert_string_equal(jstr(w, "quote/rate"), "0.0");
    assert_string_equal(jstr(w, "quote/@source"), "ECB"); /* fixed */
    assert_string_equal(jstr(w, "stale"), "true");
    json_decref(j);
    soap_wsdl_set_free(s);
}

static const char *WSDL_HEAD =
    "<?xml version=\"1.0\"?>\n"
    "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"\n"
    " xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"\n"
    " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n"
    " xmlns:tns=\"urn:t\" targetNamespace=\"urn:t\">\n";

static char *wsdl_with(const char *body)
{
    size_t n = strlen(WSDL_HEAD) + strlen(body) + 32;
    char *b = malloc(n);
    snprintf(b, n, "%s%s</definitions>\n", WSDL_HEAD, body);
    return b;
}

static void test_unresolved_fails_and_set_unchanged(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();
    char err[512] = "";
    /* line 6: an operation naming a message nobody defines */
    char *bad = wsdl_with(
        "<portType name=\"P\"><operation name=\"X\">\n"
        "<input message=\"tns:Missing\"/></operation></portType>\n");
    assert_int_equal(put_str(s, "bad.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad.wsdl:7:1: unresolved message {urn:t}Missing"));
    free(bad);
    /* unchanged: the old operations, no bad.wsdl */
    assert_non_null(soap_wsdl_lookup(s, NULL, "Deposit"));
    assert_null(soap_wsdl_mocks(s, "bad.wsdl"));
    json_t *d = soap_wsdl_describe(s);
    assert_int_equal(json_array_size(json_object_get(d, "files")), 2);
    json_decref(d);

    /* a part naming an element no schema declares */
    bad = wsdl_with("<message name=\"M\"><part name=\"p\" element=\"tns:Nope\"/>"
                    "</message>\n");
    assert_int_equal(put_str(s, "bad2.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad2.wsdl:6:1: unresolved element {urn:t}Nope"));
    free(bad);

    /* an element of a type nobody defines */
    bad = wsdl_with("<types><xsd:schema targetNamespace=\"urn:t\">\n"
                    "<xsd:element name=\"E\" type=\"tns:NoType\"/>\n"
                    "</xsd:schema></types>\n");
    assert_int_equal(put_str(s, "bad3.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad3.wsdl:7:1: unresolved type {urn:t}NoType"));
    free(bad);

    /* an import of a file the set does not hold */
    bad = wsdl_with("<types><xsd:schema targetNamespace=\"urn:t\">\n"
                    "<xsd:import namespace=\"urn:x\" schemaLocation=\"http://evil/x.xsd\"/>\n"
                    "</xsd:schema></types>\n");
    assert_int_equal(put_str(s, "bad4.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad4.wsdl:7:1: import of \"http://evil/x.xsd\""));
    free(bad);

    /* replacing a good file with a broken one keeps the good one */
    bad = wsdl_with("<binding name=\"B\" type=\"tns:NoPortType\"/>\n");
    assert_int_equal(put_str(s, "account.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unresolved portType {urn:t}NoPortType"));
    free(bad);
    assert_non_null(soap_wsdl_lookup(s, "AccountService", "GetAccount"));

    /* SOAP encoding is refused, naming the operation */
    bad = wsdl_with("<message name=\"M\"><part name=\"a\" type=\"xsd:int\"/></message>\n"
                    "<portType name=\"P\"><operation name=\"Op\"><input message=\"tns:M\"/>"
                    "</operation></portType>\n"
                    "<binding name=\"B\" type=\"tns:P\"><soap:binding style=\"rpc\"/>\n"
                    "<operation name=\"Op\"><input>\n"
                    "<soap:body use=\"encoded\" namespace=\"urn:t\"/></input></operation>"
                    "</binding>\n");
    assert_int_equal(put_str(s, "enc.wsdl", bad, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "enc.wsdl:10:1: operation \"Op\": soap body "
                                "use=\"encoded\" is not supported"));
    free(bad);

    /* commit(0) drops what was staged */
    assert_int_equal(put_fixture(s, "rates-rpc.wsdl", err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 0, err, sizeof(err)), 0);
    assert_null(soap_wsdl_lookup(s, NULL, "GetRate"));
    soap_wsdl_set_free(s);
}

static void test_doctype_and_xxe_refused(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    const char *xxe =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
        "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\">&x;</definitions>";
    assert_int_equal(put_str(s, "x.wsdl", xxe, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "x.wsdl:2:"));
    assert_non_null(strstr(err, "DOCTYPE is not allowed"));
    assert_null(strstr(err, "root:"));

    const char *laughs =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n"
        "<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">&c;</xsd:schema>";
    assert_int_equal(put_str(s, "l.xsd", laughs, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "DOCTYPE is not allowed"));

    /* an external DTD without internal subset is refused as well */
    const char *ext = "<!DOCTYPE d SYSTEM \"http://127.0.0.1:1/x.dtd\">\n<d/>";
    assert_int_equal(put_str(s, "e.xsd", ext, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "e.xsd:1:"));
    assert_non_null(strstr(err, "DOCTYPE"));
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), 0);
    json_t *d = soap_wsdl_describe(s);
    assert_int_equal(json_array_size(json_object_get(d, "files")), 0);
    json_decref(d);
    soap_wsdl_set_free(s);
}

static void test_malformed_names_line_col(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    const char *bad = "<?xml version=\"1.0\"?>\n"
                      "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\">\n"
                      "  <message name=\"a\">\n"
                      "  </mesage>\n"
                      "</definitions>\n";
    assert_int_equal(put_str(s, "m.wsdl", bad, err, sizeof(err)), -EINVAL);
    /* "m.wsdl:4:<col>: ..." */
    assert_true(strncmp(err, "m.wsdl:4:", 9) == 0);
    int col = atoi(err + 9);
    assert_true(col > 0);
    assert_non_null(strchr(err + 9, ':'));

    assert_int_equal(put_str(s, "e.wsdl", "", err, sizeof(err)), -EINVAL);
    assert_true(strncmp(err, "e.wsdl:", 7) == 0);

    /* well-formed, but not a WSDL or XSD */
    assert_int_equal(put_str(s, "r.wsdl", "<root/>", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "r.wsdl:1:1: root element"));

    /* an empty name, or one with control characters, is refused (the
     * admin API checks the rest) */
    assert_int_equal(put_str(s, "", "<a/>", err, sizeof(err)), -EINVAL);
    assert_int_equal(put_str(s, "a\nb.wsdl", "<a/>", err, sizeof(err)), -EINVAL);

    /* tiny error buffers are truncated, not overrun */
    char tiny[8];
    memset(tiny, 'Z', sizeof(tiny));
    assert_int_equal(put_str(s, "m.wsdl", bad, tiny, 5), -EINVAL);
    assert_int_equal(tiny[4], '\0');
    assert_int_equal(tiny[5], 'Z');
    soap_wsdl_set_free(s);
}

static void test_oversized_and_deep(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    size_t big = (16u << 20) + 1;
    uint8_t *b = malloc(big);
    memset(b, ' ', big);
    assert_int_equal(soap_wsdl_put(s, "big.xsd", b, big, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "larger than"));
    free(b);

    /* 100,000 nested elements: refused by the parser's depth bound */
    size_t depth = 100000;
    char *deep = malloc(depth * 7 + 200);
    size_t n = (size_t)sprintf(
        deep, "<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">");
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(deep + n, "<a>");
    deep[n] = 0;
    assert_int_equal(put_str(s, "deep.xsd", deep, err, sizeof(err)), -EINVAL);
    assert_true(strncmp(err, "deep.xsd:1:", 11) == 0);
    free(deep);
    soap_wsdl_set_free(s);
}

static void test_recursion_and_fanout_bounded(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    /* Node -> Node (required and optional), and T0 -> 8 x T1 -> ... -> T7:
     * 8^8 elements if expanded in full. */
    char body[16384];
    size_t n = (size_t)snprintf(
        body, sizeof(body),
        "<types><xsd:schema targetNamespace=\"urn:t\" elementFormDefault=\"qualified\">\n"
        "<xsd:complexType name=\"Node\"><xsd:sequence>"
        "<xsd:element name=\"v\" type=\"xsd:int\"/>"
        "<xsd:element name=\"next\" type=\"tns:Node\" minOccurs=\"0\"/>"
        "<xsd:element name=\"self\" type=\"tns:Node\"/>"
        "</xsd:sequence></xsd:complexType>\n");
    for (int t = 0; t < 8; t++) {
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "<xsd:complexType name=\"T%d\"><xsd:sequence>", t);
        for (int k = 0; k < 8; k++) {
            if (t < 7)
                n += (size_t)snprintf(body + n, sizeof(body) - n,
                                      "<xsd:element name=\"e%d\" type=\"tns:T%d\"/>",
                                      k, t + 1);
            else
                n += (size_t)snprintf(body + n, sizeof(body) - n,
                                      "<xsd:element name=\"e%d\" type=\"xsd:int\"/>", k);
        }
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "</xsd:sequence></xsd:complexType>\n");
    }
    snprintf(body + n, sizeof(body) - n,
             "<xsd:element name=\"R\"><xsd:complexType><xsd:sequence>"
             "<xsd:element name=\"node\" type=\"tns:Node\"/>"
             "<xsd:element name=\"fan\" type=\"tns:T0\"/>"
             "</xsd:sequence></xsd:complexType></xsd:element>\n"
             "</xsd:schema></types>\n"
             "<message name=\"In\"><part name=\"p\" element=\"tns:R\"/></message>\n"
             "<portType name=\"P\"><operation name=\"Op\"><input message=\"tns:In\"/>"
             "<output message=\"tns:In\"/></operation></portType>\n"
             "<binding name=\"B\" type=\"tns:P\"><soap:binding style=\"document\"/>"
             "<operation name=\"Op\"><soap:operation soapAction=\"op\"/></operation>"
             "</binding>\n"
             "<service name=\"S\"><port name=\"Pt\" binding=\"tns:B\">"
             "<soap:address location=\"/r\"/></port></service>\n");
    char *doc = wsdl_with(body);
    assert_int_equal(put_str(s, "r.wsdl", doc, err, sizeof(err)), 0);
    free(doc);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_find(s, "/r", "op", NULL, NULL);
    assert_non_null(o);
    json_t *j = soap_wsdl_sample(s, o);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    /* bounded: the member budget, not 8^8 */
    assert_true(strlen(text) < 400000);
    json_t *node = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "Envelope"), "Body"),
                        "ns1:R"),
        "ns1:node");
    assert_string_equal(jstr(node, "ns1:v"), "0");
    /* the optional recursion is left out, the required one is empty */
    assert_null(json_object_get(node, "ns1:next"));
    assert_true(json_is_object(json_object_get(node, "ns1:self")));
    assert_int_equal(json_object_size(json_object_get(node, "ns1:self")), 0);
    free(text);
    json_decref(j);
    soap_wsdl_set_free(s);
}

/* Groups and attribute groups that refer to themselves twice branch
 * 2^depth times without adding a member: the step budget ends it. */
static void test_group_bomb_bounded(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    char *doc = wsdl_with(
        "<types><xsd:schema targetNamespace=\"urn:t\">\n"
        "<xsd:group name=\"G\"><xsd:sequence><xsd:group ref=\"tns:G\"/>"
        "<xsd:group ref=\"tns:G\"/></xsd:sequence></xsd:group>\n"
        "<xsd:attributeGroup name=\"A\"><xsd:attributeGroup ref=\"tns:A\"/>"
        "<xsd:attributeGroup ref=\"tns:A\"/></xsd:attributeGroup>\n"
        "<xsd:element name=\"R\"><xsd:complexType><xsd:sequence>"
        "<xsd:group ref=\"tns:G\"/><xsd:element name=\"x\" type=\"xsd:int\"/>"
        "</xsd:sequence><xsd:attributeGroup ref=\"tns:A\"/></xsd:complexType>"
        "</xsd:element>\n</xsd:schema></types>\n"
        "<message name=\"M\"><part name=\"p\" element=\"tns:R\"/></message>\n"
        "<portType name=\"P\"><operation name=\"Op\"><input message=\"tns:M\"/>"
        "<output message=\"tns:M\"/></operation></portType>\n"
        "<binding name=\"B\" type=\"tns:P\"><soap:binding/>"
        "<operation name=\"Op\"><soap:operation soapAction=\"op\"/></operation>"
        "</binding>\n"
        "<service name=\"S\"><port name=\"Pt\" binding=\"tns:B\">"
        "<soap:address location=\"http://h\"/></port></service>\n");
    assert_int_equal(put_str(s, "bomb.wsdl", doc, err, sizeof(err)), 0);
    free(doc);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_find(s, "/", "op", NULL, NULL);
    assert_non_null(o);
    json_t *j = soap_wsdl_sample(s, o);
    assert_non_null(j);
    json_decref(j);
    soap_wsdl_set_free(s);
}

/* Names are the admin API's relative paths; imports match the last path
 * component. */
static void test_folder_names(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    assert_int_equal(put_fixture_as(s, "account-types.xsd",
                                    "bank/v1/account-types.xsd", err, sizeof(err)), 0);
    assert_int_equal(put_fixture_as(s, "account.wsdl", "bank/v1/account.wsdl", err,
                                    sizeof(err)), 0);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_lookup(s, NULL, "GetAccount");
    assert_non_null(o);
    assert_string_equal(o->file, "bank/v1/account.wsdl");
    json_t *m = soap_wsdl_mocks(s, "bank/v1/account.wsdl");
    assert_int_equal(json_array_size(m), 6);
    json_decref(m);
    assert_int_equal(soap_wsdl_delete(s, "bank/v1/account-types.xsd", err,
                                      sizeof(err)), -EBUSY);
    soap_wsdl_set_free(s);
}

/* wsdl:import: the service of one file, the messages, portType and
 * binding of another (of another namespace), found by file name. */
static void test_wsdl_import(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    const char *defs =
        "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"\n"
        " xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"\n"
        " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n"
        " xmlns:d=\"urn:defs\" targetNamespace=\"urn:defs\">\n"
        "<types><xsd:schema targetNamespace=\"urn:defs\">"
        "<xsd:element name=\"Ping\" type=\"xsd:string\"/>"
        "<xsd:element name=\"Pong\" type=\"xsd:dateTime\"/></xsd:schema></types>\n"
        "<message name=\"I\"><part name=\"p\" element=\"d:Ping\"/></message>\n"
        "<message name=\"O\"><part name=\"p\" element=\"d:Pong\"/></message>\n"
        "<portType name=\"P\"><operation name=\"Ping\"><input message=\"d:I\"/>"
        "<output message=\"d:O\"/></operation></portType>\n"
        "<binding name=\"B\" type=\"d:P\"><soap:binding style=\"document\"/>"
        "<operation name=\"Ping\"><soap:operation soapAction=\"ping\"/></operation>"
        "</binding>\n</definitions>\n";
    const char *svc =
        "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"\n"
        " xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"\n"
        " xmlns:d=\"urn:defs\" targetNamespace=\"urn:svc\">\n"
        "<import namespace=\"urn:defs\" location=\"http://elsewhere/wsdl/defs.wsdl\"/>\n"
        "<service name=\"PingService\"><port name=\"PingPort\" binding=\"d:B\">"
        "<soap:address location=\"http://h/ping\"/></port></service>\n"
        "</definitions>\n";
    /* alone, the service file does not link */
    assert_int_equal(put_str(s, "svc.wsdl", svc, err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_commit(s, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "svc.wsdl:4:1: import of \"http://elsewhere/wsdl/defs.wsdl\""));
    assert_int_equal(put_str(s, "svc.wsdl", svc, err, sizeof(err)), 0);
    assert_int_equal(put_str(s, "defs.wsdl", defs, err, sizeof(err)), 0);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_find(s, "/ping", "ping", NULL, NULL);
    assert_non_null(o);
    assert_string_equal(o->file, "svc.wsdl");
    assert_string_equal(o->input_ns, "urn:defs");
    json_t *j = soap_wsdl_sample(s, o);
    json_t *body = json_object_get(json_object_get(j, "Envelope"), "Body");
    assert_string_equal(json_string_value(json_object_get(body, "ns1:Pong")),
                        "2024-01-01T00:00:00Z");
    json_decref(j);
    json_t *m = soap_wsdl_mocks(s, "svc.wsdl");
    assert_int_equal(json_array_size(m), 1);
    json_decref(m);
    m = soap_wsdl_mocks(s, "defs.wsdl");
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    assert_int_equal(soap_wsdl_delete(s, "defs.wsdl", err, sizeof(err)), -EBUSY);
    assert_int_equal(soap_wsdl_delete(s, "svc.wsdl", err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_delete(s, "defs.wsdl", err, sizeof(err)), 0);
    soap_wsdl_set_free(s);
}

/* Unprefixed message, portType and binding names under WSDL's own default
 * namespace mean the target namespace. */
static void test_unprefixed_wsdl_names(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    char *doc = wsdl_with(
        "<types><xsd:schema targetNamespace=\"urn:t\">"
        "<xsd:element name=\"E\" type=\"xsd:int\"/></xsd:schema></types>\n"
        "<message name=\"M\"><part name=\"p\" element=\"tns:E\"/></message>\n"
        "<portType name=\"P\"><operation name=\"Op\"><input message=\"M\"/>"
        "<output message=\"M\"/></operation></portType>\n"
        "<binding name=\"B\" type=\"P\"><soap:binding/>"
        "<operation name=\"Op\"><soap:operation soapAction=\"op\"/></operation>"
        "</binding>\n"
        "<service name=\"S\"><port name=\"Pt\" binding=\"B\">"
        "<soap:address location=\"http://h/u\"/></port></service>\n");
    assert_int_equal(put_str(s, "u.wsdl", doc, err, sizeof(err)), 0);
    free(doc);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_find(s, "/u", "op", NULL, NULL);
    assert_non_null(o);
    assert_string_equal(o->output_local, "E");
    soap_wsdl_set_free(s);
}

/* A schema without a targetNamespace answers for any namespace only after
 * the schemas of that namespace: it does not shadow them. */
static void test_no_namespace_schema_does_not_shadow(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = soap_wsdl_set_new();
    char err[512] = "";
    char *doc = wsdl_with(
        "<types><xsd:schema>"
        "<xsd:complexType name=\"Quote\"><xsd:sequence>"
        "<xsd:element name=\"wrong\" type=\"xsd:string\"/></xsd:sequence>"
        "</xsd:complexType></xsd:schema>\n"
        "<xsd:schema targetNamespace=\"urn:t\" elementFormDefault=\"qualified\">"
        "<xsd:complexType name=\"Quote\"><xsd:sequence>"
        "<xsd:element name=\"rate\" type=\"xsd:double\"/></xsd:sequence>"
        "</xsd:complexType>"
        "<xsd:element name=\"Q\" type=\"tns:Quote\"/></xsd:schema></types>\n"
        "<message name=\"M\"><part name=\"p\" element=\"tns:Q\"/></message>\n"
        "<portType name=\"P\"><operation name=\"Op\"><input message=\"tns:M\"/>"
        "<output message=\"tns:M\"/></operation></portType>\n"
        "<binding name=\"B\" type=\"tns:P\"><soap:binding/>"
        "<operation name=\"Op\"><soap:operation soapAction=\"op\"/></operation>"
        "</binding>\n"
        "<service name=\"S\"><port name=\"Pt\" binding=\"tns:B\">"
        "<soap:address location=\"http://h/q\"/></port></service>\n");
    assert_int_equal(put_str(s, "q.wsdl", doc, err, sizeof(err)), 0);
    free(doc);
    if (soap_wsdl_commit(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    json_t *j = soap_wsdl_sample(s, soap_wsdl_lookup(s, NULL, "Op"));
    json_t *q = json_object_get(
        json_object_get(json_object_get(j, "Envelope"), "Body"), "ns1:Q");
    assert_true(json_is_object(q));
    assert_null(json_object_get(q, "wrong"));
    assert_non_null(json_object_get(q, "ns1:rate"));
    assert_string_equal(json_string_value(json_object_get(q, "ns1:rate")), "0.0");
    json_decref(j);
    soap_wsdl_set_free(s);
}

static void test_delete_busy_for_imported(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();
    char err[512] = "";
    assert_int_equal(soap_wsdl_delete(s, "account-types.xsd", err, sizeof(err)),
                     -EBUSY);
    assert_non_null(strstr(err, "account.wsdl"));
    assert_int_equal(soap_wsdl_delete(s, "nope.xsd", err, sizeof(err)), -ENOENT);
    assert_non_null(soap_wsdl_lookup(s, NULL, "GetAccount"));
    assert_int_equal(soap_wsdl_delete(s, "account.wsdl", err, sizeof(err)), 0);
    assert_null(soap_wsdl_lookup(s, NULL, "GetAccount"));
    assert_int_equal(soap_wsdl_has_path(s, "/ws/account"), 0);
    assert_int_equal(soap_wsdl_delete(s, "account-types.xsd", err, sizeof(err)), 0);
    json_t *d = soap_wsdl_describe(s);
    assert_int_equal(json_array_size(json_object_get(d, "files")), 0);
    json_decref(d);
    soap_wsdl_set_free(s);
}

static void test_serve_rewrites_addresses(void **state)
{
    (void)state;
    soap_wsdl_set_t *s = account_set();
    size_t len = 0;
    char *w = soap_wsdl_serve(s, "/ws/account", "http://127.0.0.1:5770", &len);
    assert_non_null(w);
    assert_int_equal(strlen(w), len);
    assert_non_null(strstr(w, "location=\"http://127.0.0.1:5770/ws/account\""));
    assert_non_null(strstr(w, "location=\"http://127.0.0.1:5770/ws/account12\""));
    assert_null(strstr(w, "accounts.example.com"));
    /* the imported xsd comes inline: nothing else to fetch */
    assert_null(strstr(w, "schemaLocation"));
    assert_non_null(strstr(w, "name=\"AccountStatus\""));
    /* and what is served is a WSDL the set accepts again */
    soap_wsdl_set_t *s2 = soap_wsdl_set_new();
    char err[512] = "";
    assert_int_equal(soap_wsdl_put(s2, "served.wsdl", (const uint8_t *)w, len, err,
                                   sizeof(err)), 0);
    if (soap_wsdl_commit(s2, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const soap_op_info_t *o = soap_wsdl_lookup(s2, NULL, "GetAccount");
    assert_non_null(o);
    assert_string_equal(o->path, "/ws/account");
    soap_wsdl_set_free(s2);
    free(w);

    /* the 1.2 port's path serves the same document */
    w = soap_wsdl_serve(s, "/ws/account12", "http://h:1", &len);
    assert_non_null(w);
    assert_non_null(strstr(w, "location=\"http://h:1/ws/account\""));
    free(w);
    assert_null(soap_wsdl_serve(s, "/ws/none", "http://h:1", &len));
    /* the stored document itself is unchanged */
    w = soap_wsdl_serve(s, "/ws/account", "http://x", &len);
    assert_non_null(strstr(w, "location=\"http://x/ws/account\""));
    free(w);
    soap_wsdl_set_free(s);
}

int main(void)
{
    find_fixtures();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_by_action_body_path),
        cmocka_unit_test(test_sample_member_by_member),
        cmocka_unit_test(test_mocks_of_file),
        cmocka_unit_test(test_rpc_style),
        cmocka_unit_test(test_unresolved_fails_and_set_unchanged),
        cmocka_unit_test(test_doctype_and_xxe_refused),
        cmocka_unit_test(test_malformed_names_line_col),
        cmocka_unit_test(test_oversized_and_deep),
        cmocka_unit_test(test_recursion_and_fanout_bounded),
        cmocka_unit_test(test_group_bomb_bounded),
        cmocka_unit_test(test_folder_names),
        cmocka_unit_test(test_wsdl_import),
        cmocka_unit_test(test_unprefixed_wsdl_names),
        cmocka_unit_test(test_no_namespace_schema_does_not_shadow),
        cmocka_unit_test(test_delete_busy_for_imported),
        cmocka_unit_test(test_serve_rewrites_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
