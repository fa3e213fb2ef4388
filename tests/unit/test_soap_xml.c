/* SOAP envelopes, hostile XML, the XML <-> JSON mappings, faults, XPath
 * (plugins/soap/soap_xml.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "soap_xml.h"

#define ENV11_OPEN "<soap:Envelope xmlns:soap=\"" SOAP11_NS "\">"
#define ENV12_OPEN "<env:Envelope xmlns:env=\"" SOAP12_NS "\">"

static const soap_limits_t LIM = {4u << 20, 128};

static int parse(const char *text, soap_envelope_t *env, char *err, size_t n)
{
    return soap_envelope_parse(text, strlen(text), &LIM, env, err, n);
}

/* ---- envelopes ------------------------------------------------------------ */

static void test_parses_soap11_envelope(void **st)
{
    (void)st;
    const char *t = "<?xml version=\"1.0\"?>" ENV11_OPEN
                    "<soap:Header><h:Token xmlns:h=\"urn:h\">t1</h:Token>"
                    "</soap:Header><soap:Body><a:GetAccount xmlns:a=\"urn:acc\">"
                    "<a:accountId>42</a:accountId></a:GetAccount></soap:Body>"
                    "</soap:Envelope>";
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse(t, &env, err, sizeof(err)), 0);
    assert_int_equal(env.version, 11);
    assert_non_null(env.header);
    assert_string_equal(env.first_local, "GetAccount");
    assert_string_equal(env.first_ns, "urn:acc");
    json_t *h = soap_children_json(env.header);
    assert_string_equal(json_string_value(json_object_get(h, "Token")), "t1");
    json_decref(h);
    soap_envelope_free(&env);
}

static void test_parses_soap12_envelope_and_empty_body(void **st)
{
    (void)st;
    soap_envelope_t env;
    char err[256];
    const char *t = ENV12_OPEN "<env:Body><Ping/></env:Body></env:Envelope>";
    assert_int_equal(parse(t, &env, err, sizeof(err)), 0);
    assert_int_equal(env.version, 12);
    assert_null(env.header);
    assert_string_equal(env.first_local, "Ping");
    assert_null(env.first_ns);
    soap_envelope_free(&env);
    t = ENV12_OPEN "<env:Body/></env:Envelope>";
    assert_int_equal(parse(t, &env, err, sizeof(err)), 0);
    assert_null(env.first_local);
    soap_envelope_free(&env);
}

static void test_refuses_what_is_not_an_envelope(void **st)
{
    (void)st;
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse("<a/>", &env, err, sizeof(err)), SOAP_E_NOT_ENVELOPE);
    assert_int_equal(parse(ENV11_OPEN "</soap:Envelope>", &env, err,
                           sizeof(err)),
                     SOAP_E_NO_BODY);
    assert_non_null(strstr(err, "no Body"));
    /* Header after Body, text in the Envelope */
    assert_int_equal(parse(ENV12_OPEN "<env:Body/><env:Header/></env:Envelope>",
                           &env, err, sizeof(err)),
                     SOAP_E_NO_BODY);
    assert_int_equal(parse(ENV11_OPEN "hello<soap:Body/></soap:Envelope>", &env,
                           err, sizeof(err)),
                     SOAP_E_NO_BODY);
    /* a Body of another namespace is not the SOAP Body */
    assert_int_equal(parse(ENV11_OPEN "<Body/></soap:Envelope>", &env, err,
                           sizeof(err)),
                     SOAP_E_NO_BODY);
}

static void test_unknown_envelope_namespace_is_version_mismatch(void **st)
{
    (void)st;
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse("<s:Envelope xmlns:s=\"urn:not-soap\"><s:Body/>"
                           "</s:Envelope>",
                           &env, err, sizeof(err)),
                     SOAP_E_VERSION);
    assert_int_equal(parse("<Envelope><Body/></Envelope>", &env, err,
                           sizeof(err)),
                     SOAP_E_VERSION);
}

static void test_malformed_names_line_and_column(void **st)
{
    (void)st;
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse(ENV11_OPEN "\n<soap:Body><a></b></soap:Body>", &env,
                           err, sizeof(err)),
                     SOAP_E_MALFORMED);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(parse("", &env, err, sizeof(err)), SOAP_E_MALFORMED);
    assert_int_equal(parse("\xff\xfe\x00<", &env, err, sizeof(err)),
                     SOAP_E_MALFORMED);
}

/* ---- hostile input ----------------------------------------------------------- */

static void test_xxe_is_refused_and_reveals_nothing(void **st)
{
    (void)st;
    char path[] = "/tmp/soap-xxe-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char secret[] = "TOP-SECRET-7f3a9";
    assert_int_equal(write(fd, secret, sizeof(secret) - 1),
                     (ssize_t)(sizeof(secret) - 1));
    close(fd);
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY s SYSTEM "
             "\"file://%s\">]>" ENV11_OPEN "<soap:Body><a>&s;</a></soap:Body>"
             "</soap:Envelope>",
             path);
    soap_envelope_t env;
    char err[512];
    assert_int_equal(parse(doc, &env, err, sizeof(err)), SOAP_E_DTD);
    assert_null(strstr(err, secret));
    assert_null(strstr(err, path));
    /* as an answer fragment or a detail as well */
    assert_int_equal(soap_xml_check(doc, strlen(doc), 0, err, sizeof(err)),
                     SOAP_E_DTD);
    assert_null(strstr(err, secret));
    /* an external DTD alone, and a parameter entity */
    snprintf(doc, sizeof(doc),
             "<!DOCTYPE e SYSTEM \"file://%s\">" ENV11_OPEN
             "<soap:Body/></soap:Envelope>",
             path);
    assert_int_equal(parse(doc, &env, err, sizeof(err)), SOAP_E_DTD);
    snprintf(doc, sizeof(doc),
             "<!DOCTYPE e [<!ENTITY %% p SYSTEM \"file://%s\"> %%p;]>" ENV11_OPEN
             "<soap:Body/></soap:Envelope>",
             path);
    assert_int_equal(parse(doc, &env, err, sizeof(err)), SOAP_E_DTD);
    unlink(path);
}

static void test_billion_laughs_is_refused(void **st)
{
    (void)st;
    const char *t =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
        "]>" ENV11_OPEN "<soap:Body><a>&lol9;</a></soap:Body></soap:Envelope>";
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse(t, &env, err, sizeof(err)), SOAP_E_DTD);
    /* an undeclared entity without a DTD is simply not well-formed */
    assert_int_equal(parse(ENV11_OPEN "<soap:Body><a>&lol9;</a></soap:Body>"
                                      "</soap:Envelope>",
                           &env, err, sizeof(err)),
                     SOAP_E_MALFORMED);
}

static char *nested(int depth)
{
    size_t cap = strlen(ENV11_OPEN) + (size_t)depth * 7 + 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t k = (size_t)snprintf(s, cap, "%s<soap:Body>", ENV11_OPEN);
    for (int i = 0; i < depth; i++)
        k += (size_t)snprintf(s + k, cap - k, "<a>");
    for (int i = 0; i < depth; i++)
        k += (size_t)snprintf(s + k, cap - k, "</a>");
    snprintf(s + k, cap - k, "</soap:Body></soap:Envelope>");
    return s;
}

static void test_depth_bombs_are_refused(void **st)
{
    (void)st;
    soap_envelope_t env;
    char err[256];
    char *ok = nested(100); /* Envelope + Body + 100: within 128 */
    assert_int_equal(parse(ok, &env, err, sizeof(err)), 0);
    soap_envelope_free(&env);
    free(ok);
    char *deep = nested(200); /* past max_depth, within libxml2's own */
    assert_int_equal(parse(deep, &env, err, sizeof(err)), SOAP_E_TOO_DEEP);
    assert_non_null(strstr(err, "128"));
    free(deep);
    char *bomb = nested(100000); /* past libxml2's limit too */
    int rc = parse(bomb, &env, err, sizeof(err));
    assert_true(rc == SOAP_E_TOO_DEEP || rc == SOAP_E_MALFORMED);
    free(bomb);
}

static void test_oversize_is_refused_before_parsing(void **st)
{
    (void)st;
    soap_limits_t small = {64, 128};
    const char *t = ENV11_OPEN "<soap:Body><a>0123456789012345678901234567"
                               "890123456789</a></soap:Body></soap:Envelope>";
    soap_envelope_t env;
    char err[256];
    assert_int_equal(soap_envelope_parse(t, strlen(t), &small, &env, err,
                                         sizeof(err)),
                     SOAP_E_TOO_BIG);
    assert_non_null(strstr(err, "64"));
}

/* ---- XML -> JSON ----------------------------------------------------------------- */

static json_t *body_json(const char *inner)
{
    char doc[4096];
    snprintf(doc, sizeof(doc), ENV11_OPEN "<soap:Body>%s</soap:Body></soap:Envelope>",
             inner);
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse(doc, &env, err, sizeof(err)), 0);
    json_t *j = soap_children_json(env.body);
    soap_envelope_free(&env);
    assert_non_null(j);
    return j;
}

static void assert_json(json_t *got, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", g, want);
        free(g);
        fail();
    }
    json_decref(w);
}

static void test_xml_to_json_rules(void **st)
{
    (void)st;
    json_t *j = body_json(
        "<a:Order xmlns:a=\"urn:o\" a:id=\"7\" status=\"new\">"
        "<a:item>x</a:item><a:item>y</a:item><a:item>z</a:item>"
        "<a:price currency=\"EUR\">12.50</a:price>"
        "<a:note/><a:text>a &amp; b &lt;c&gt;</a:text>"
        "<a:nested><a:deep><a:deeper>1</a:deeper></a:deep></a:nested>"
        "</a:Order>");
    assert_json(j, "{\"Order\": {\"@id\": \"7\", \"@status\": \"new\","
                   "\"item\": [\"x\", \"y\", \"z\"],"
                   "\"price\": {\"@currency\": \"EUR\", \"#text\": \"12.50\"},"
                   "\"note\": \"\", \"text\": \"a & b <c>\","
                   "\"nested\": {\"deep\": {\"deeper\": \"1\"}}}}");
    json_decref(j);
    /* mixed text beside elements; CDATA is text */
    j = body_json("<m>hello <b>bold</b> world</m><c><![CDATA[<raw>]]></c>");
    assert_json(j, "{\"m\": {\"b\": \"bold\", \"#text\": \"hello  world\"},"
                   "\"c\": \"<raw>\"}");
    json_decref(j);
    /* repeated top-level elements */
    j = body_json("<r>1</r><r>2</r>");
    assert_json(j, "{\"r\": [\"1\", \"2\"]}");
    json_decref(j);
}

/* ---- JSON -> XML ------------------------------------------------------------------ */

static char *to_xml(const char *json, int version, int *rc, char *err,
                    size_t n)
{
    json_t *p = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(p);
    soap_buf_t b = {0};
    *rc = soap_json_to_envelope(p, version, &b, err, n);
    json_decref(p);
    if (*rc < 0) {
        soap_buf_free(&b);
        return NULL;
    }
    return b.ptr;
}

static void test_json_to_xml_rules(void **st)
{
    (void)st;
    int rc;
    char err[512];
    char *x = to_xml(
        "{\"Envelope\": {\"Body\": {\"@xmlns:a\": \"urn:acc\","
        "\"a:GetAccountResponse\": {\"@status\": \"ok\", \"a:name\": \"A&B <Co>\","
        "\"a:tag\": [\"x\", \"y\"], \"a:balance\": 12.5, \"a:active\": true,"
        "\"a:none\": null, \"a:price\": {\"@cur\": \"E\\\"UR\", \"#text\": 3}}}}}",
        11, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(x, "<soap:Envelope xmlns:soap=\"" SOAP11_NS "\">"));
    assert_non_null(strstr(x, "<soap:Body xmlns:a=\"urn:acc\">"));
    assert_non_null(strstr(x, "<a:GetAccountResponse status=\"ok\">"));
    assert_non_null(strstr(x, "<a:name>A&amp;B &lt;Co&gt;</a:name>"));
    assert_non_null(strstr(x, "<a:tag>x</a:tag><a:tag>y</a:tag>"));
    assert_non_null(strstr(x, "<a:balance>12.5</a:balance>"));
    assert_non_null(strstr(x, "<a:active>true</a:active><a:none/>"));
    assert_non_null(strstr(x, "<a:price cur=\"E&quot;UR\">3</a:price>"));
    free(x);
    /* the Body's content alone, in a 1.2 envelope, with a Header */
    x = to_xml("{\"Ping\": {}}", 12, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(x, SOAP12_NS));
    assert_non_null(strstr(x, "<soap:Body><Ping></Ping></soap:Body>"));
    free(x);
    x = to_xml("{\"soapenv:Envelope\": {\"soapenv:Header\": {\"T\": \"1\"},"
               "\"soapenv:Body\": {\"R\": \"2\"}}}",
               11, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(x, "<soap:Header><T>1</T></soap:Header><soap:Body><R>2</R>"));
    free(x);
}

static void test_json_to_xml_refusals(void **st)
{
    (void)st;
    int rc;
    char err[512];
    assert_null(to_xml("{\"Envelope\": {\"Body\": {\"bad name\": 1}}}", 11,
                       &rc, err, sizeof(err)));
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "bad name"));
    assert_null(to_xml("{\"p:Undeclared\": 1}", 11, &rc, err, sizeof(err)));
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "prefix"));
    assert_null(to_xml("{\"a\": {\"@b\": {\"c\": 1}}}", 11, &rc, err,
                       sizeof(err)));
    assert_null(to_xml("{\"a\": [[1]]}", 11, &rc, err, sizeof(err)));
    assert_null(to_xml("{\"Envelope\": {\"Body\": {}, \"Other\": 1}}", 11,
                       &rc, err, sizeof(err)));
    assert_non_null(strstr(err, "Other"));
    assert_null(to_xml("42", 11, &rc, err, sizeof(err)));
    assert_null(to_xml("{\"<x\": 1}", 11, &rc, err, sizeof(err)));
}

static void test_round_trip_json_xml_json(void **st)
{
    (void)st;
    const char *body = "{\"Order\": {\"@id\": \"7\", \"item\": [\"a\", \"b\"],"
                       "\"price\": {\"@cur\": \"EUR\", \"#text\": \"1 & 2\"},"
                       "\"x\": {\"y\": {\"z\": \"<>\\\"'\"}}}}";
    int rc;
    char err[256];
    char *x = to_xml(body, 12, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    soap_envelope_t env;
    assert_int_equal(parse(x, &env, err, sizeof(err)), 0);
    assert_int_equal(env.version, 12);
    json_t *back = soap_children_json(env.body);
    assert_json(back, body);
    json_decref(back);
    soap_envelope_free(&env);
    free(x);
}

/* ---- XML answers --------------------------------------------------------------------- */

static void test_xml_answers_whole_or_wrapped(void **st)
{
    (void)st;
    char err[256];
    soap_buf_t b = {0};
    int v = 11;
    const char *whole = "<?xml version=\"1.0\"?>" ENV12_OPEN
                        "<env:Body><R/></env:Body></env:Envelope>";
    assert_int_equal(soap_xml_answer(whole, strlen(whole), &v, &b, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(v, 12); /* sent as is, in its own version */
    assert_string_equal(b.ptr, whole);
    soap_buf_free(&b);
    v = 11;
    const char *frag = "<?xml version=\"1.0\"?><a:R xmlns:a=\"urn:a\">1</a:R><S/>";
    assert_int_equal(soap_xml_answer(frag, strlen(frag), &v, &b, err,
                                     sizeof(err)),
                     0);
    assert_non_null(strstr(b.ptr, "<soap:Body><a:R xmlns:a=\"urn:a\">1</a:R><S/></soap:Body>"));
    assert_null(strstr(b.ptr + 5, "<?xml")); /* only our declaration */
    soap_buf_free(&b);
    const char *bad = "<a><b></a>";
    assert_int_equal(soap_xml_answer(bad, strlen(bad), &v, &b, err, sizeof(err)),
                     -EINVAL);
    soap_buf_free(&b);
    const char *dtd = "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
    assert_int_equal(soap_xml_answer(dtd, strlen(dtd), &v, &b, err, sizeof(err)),
                     -EINVAL);
    soap_buf_free(&b);
}

/* ---- faults -------------------------------------------------------------------------- */

static void test_fault_codes_per_version(void **st)
{
    (void)st;
    char c[64];
    assert_int_equal(soap_fault_code("soap:Client", 12, c, sizeof(c)), 0);
    assert_string_equal(c, "soap:Sender");
    assert_int_equal(soap_fault_code("Server", 12, c, sizeof(c)), 0);
    assert_string_equal(c, "soap:Receiver");
    assert_int_equal(soap_fault_code("env:Sender", 11, c, sizeof(c)), 0);
    assert_string_equal(c, "soap:Client");
    assert_int_equal(soap_fault_code("soapenv:Client.Auth", 11, c, sizeof(c)), 0);
    assert_string_equal(c, "soap:Client.Auth");
    assert_int_equal(soap_fault_code(NULL, 11, c, sizeof(c)), 0);
    assert_string_equal(c, "soap:Server");
    assert_int_equal(soap_fault_code("Oops", 11, c, sizeof(c)), -EINVAL);
    assert_int_equal(soap_fault_status("soap:Sender", 12), 400);
    assert_int_equal(soap_fault_status("soap:Receiver", 12), 500);
    assert_int_equal(soap_fault_status("soap:Client", 11), 500);
}

static void test_fault_envelopes_parse_back(void **st)
{
    (void)st;
    char err[256];
    soap_fault_t f = {"soap:Client", "bad <id>", "urn:actor",
                      "<e:Err xmlns:e=\"urn:e\">1</e:Err>"};
    soap_buf_t b = {0};
    assert_int_equal(soap_fault_envelope(&f, 11, &b, err, sizeof(err)), 0);
    soap_envelope_t env;
    assert_int_equal(parse(b.ptr, &env, err, sizeof(err)), 0);
    json_t *j = soap_children_json(env.body);
    assert_json(j, "{\"Fault\": {\"faultcode\": \"soap:Client\","
                   "\"faultstring\": \"bad <id>\", \"faultactor\": \"urn:actor\","
                   "\"detail\": {\"Err\": \"1\"}}}");
    json_decref(j);
    soap_envelope_free(&env);
    soap_buf_free(&b);
    assert_int_equal(soap_fault_envelope(&f, 12, &b, err, sizeof(err)), 0);
    assert_int_equal(parse(b.ptr, &env, err, sizeof(err)), 0);
    j = soap_children_json(env.body);
    assert_json(j, "{\"Fault\": {\"Code\": {\"Value\": \"soap:Sender\"},"
                   "\"Reason\": {\"Text\": {\"@lang\": \"en\", \"#text\": \"bad <id>\"}},"
                   "\"Role\": \"urn:actor\", \"Detail\": {\"Err\": \"1\"}}}");
    json_decref(j);
    soap_envelope_free(&env);
    soap_buf_free(&b);
    soap_fault_t bad = {"Client", "x", NULL, "<unclosed>"};
    assert_int_equal(soap_fault_envelope(&bad, 11, &b, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "detail"));
    soap_buf_free(&b);
    soap_fault_t badcode = {"Nope", "x", NULL, NULL};
    assert_int_equal(soap_fault_envelope(&badcode, 11, &b, err, sizeof(err)),
                     -EINVAL);
    soap_buf_free(&b);
}

/* ---- HTTP bits ------------------------------------------------------------------------ */

static void test_content_types_and_actions(void **st)
{
    (void)st;
    char a[256];
    const char *ct = "application/soap+xml; charset=utf-8; action=\"urn:Get\\\"X\"";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 12);
    assert_string_equal(a, "urn:Get\"X");
    ct = "application/soap+xml;action=urn:Ping;charset=utf-8";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 12);
    assert_string_equal(a, "urn:Ping");
    ct = "application/soap+xml; x=\"a;action=no\"";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 12);
    assert_string_equal(a, "");
    ct = "Text/XML ; charset=utf-8";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 11);
    ct = "application/xml";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 0);
    ct = "text/xmlx";
    assert_int_equal(soap_content_version(ct, strlen(ct), a, sizeof(a)), 0);
    soap_action_unquote(" \"urn:GetAccount\" ", 18, a, sizeof(a));
    assert_string_equal(a, "urn:GetAccount");
    soap_action_unquote("", 0, a, sizeof(a));
    assert_string_equal(a, "");
}

/* ---- XPath ---------------------------------------------------------------------------- */

static void test_xpath_with_prefixes(void **st)
{
    (void)st;
    const char *t = ENV11_OPEN "<soap:Body><a:Get xmlns:a=\"urn:acc\">"
                    "<a:id>42</a:id><a:id>43</a:id><b:id xmlns:b=\"urn:b\">9</b:id>"
                    "</a:Get></soap:Body></soap:Envelope>";
    soap_envelope_t env;
    char err[256];
    assert_int_equal(parse(t, &env, err, sizeof(err)), 0);
    json_t *ns = json_pack("{s:s, s:s}", "acc", "urn:acc", "bb", "urn:b");
    char *s = soap_xpath_string(&env, "//acc:id", ns);
    assert_string_equal(s, "42"); /* the first node's string value */
    free(s);
    s = soap_xpath_string(&env, "//bb:id", ns);
    assert_string_equal(s, "9");
    free(s);
    s = soap_xpath_string(&env, "count(//acc:id)", ns);
    assert_string_equal(s, "2");
    free(s);
    assert_null(soap_xpath_string(&env, "//acc:missing", ns));
    /* the prefix is the mock's, not the document's */
    json_t *other = json_pack("{s:s}", "acc", "urn:other");
    assert_null(soap_xpath_string(&env, "//acc:id", other));
    assert_int_equal(soap_xpath_check("//acc:id", ns, err, sizeof(err)), 0);
    assert_int_equal(soap_xpath_check("//zz:id", ns, err, sizeof(err)), -EINVAL);
    assert_int_equal(soap_xpath_check("//acc:id[", ns, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(soap_xpath_check("", ns, err, sizeof(err)), -EINVAL);
    json_decref(ns);
    json_decref(other);
    soap_envelope_free(&env);
}

static void test_xpath_members_round_trip(void **st)
{
    (void)st;
    char key[256], path[300], back[256];
    json_t *ns = json_pack("{s:s, s:s}", "a", "urn:a", "b", "urn:b");
    json_t *ns2 = json_pack("{s:s, s:s}", "b", "urn:b", "a", "urn:a");
    json_t *ns3 = json_pack("{s:s}", "a", "urn:other");
    assert_int_equal(soap_xpath_member("//a:id", ns, key, sizeof(key), path,
                                       sizeof(path)),
                     0);
    assert_int_equal(strncmp(path, "$.__xpath[\"//a:id #", 19), 0);
    assert_int_equal(soap_xpath_of_path(path, back, sizeof(back)), 1);
    assert_string_equal(back, "//a:id");
    char key2[256], path2[300];
    assert_int_equal(soap_xpath_member("//a:id", ns2, key2, sizeof(key2),
                                       path2, sizeof(path2)),
                     0);
    assert_string_equal(key, key2); /* order of the bindings does not matter */
    assert_int_equal(soap_xpath_member("//a:id", ns3, key2, sizeof(key2),
                                       path2, sizeof(path2)),
                     0);
    assert_string_not_equal(key, key2); /* other bindings, other member */
    /* an expression with "] takes the other quote */
    assert_int_equal(soap_xpath_member("//x[@t=\"v\"]", NULL, key, sizeof(key),
                                       path, sizeof(path)),
                     0);
    assert_string_equal(path, "$.__xpath['//x[@t=\"v\"]']");
    assert_int_equal(soap_xpath_of_path(path, back, sizeof(back)), 1);
    assert_string_equal(back, "//x[@t=\"v\"]");
    assert_int_equal(soap_xpath_member("//x[@t=\"v\"][@u='w']", NULL, key,
                                       sizeof(key), path, sizeof(path)),
                     -EINVAL);
    assert_int_equal(soap_xpath_of_path("$.body.x", back, sizeof(back)), 0);
    json_decref(ns);
    json_decref(ns2);
    json_decref(ns3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_soap11_envelope),
        cmocka_unit_test(test_parses_soap12_envelope_and_empty_body),
        cmocka_unit_test(test_refuses_what_is_not_an_envelope),
        cmocka_unit_test(test_unknown_envelope_namespace_is_version_mismatch),
        cmocka_unit_test(test_malformed_names_line_and_column),
        cmocka_unit_test(test_xxe_is_refused_and_reveals_nothing),
        cmocka_unit_test(test_billion_laughs_is_refused),
        cmocka_unit_test(test_depth_bombs_are_refused),
        cmocka_unit_test(test_oversize_is_refused_before_parsing),
        cmocka_unit_test(test_xml_to_json_rules),
        cmocka_unit_test(test_json_to_xml_rules),
        cmocka_unit_test(test_json_to_xml_refusals),
        cmocka_unit_test(test_round_trip_json_xml_json),
        cmocka_unit_test(test_xml_answers_whole_or_wrapped),
        cmocka_unit_test(test_fault_codes_per_version),
        cmocka_unit_test(test_fault_envelopes_parse_back),
        cmocka_unit_test(test_content_types_and_actions),
        cmocka_unit_test(test_xpath_with_prefixes),
        cmocka_unit_test(test_xpath_members_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
