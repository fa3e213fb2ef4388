/* What a recording keeps of an upstream's SOAP answer (soap_body_xml,
 * soap_fault_read in plugins/soap/soap_xml.c): Body content that stands
 * on its own inside an envelope of another version, and the parts of a
 * Fault of either version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "soap_xml.h"

static const soap_limits_t LIM = {4u << 20, 128};

static void parse_ok(const char *text, soap_envelope_t *env)
{
    char err[256] = "";
    int rc =
        soap_envelope_parse(text, strlen(text), &LIM, env, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse: %d %s", rc, err);
}

/* Prefixes declared on the Envelope only are declared on each element of
 * the Body, also those only a QName in an attribute value uses; the SOAP
 * namespace is not carried along; blank text and comments go, other text
 * stays escaped. */
static void test_body_content_stands_alone(void **st)
{
    (void)st;
    const char *t = "<s:Envelope xmlns:s=\"" SOAP11_NS "\" xmlns:o=\"urn:o\" "
                    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
                    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
                    "<s:Header><o:Trace>t</o:Trace></s:Header><s:Body>\n  "
                    "<o:R xsi:type=\"xsd:string\"><o:v>a &amp; b</o:v></o:R>\n"
                    "<!-- c --><o:S/>tail &lt;x&gt;</s:Body></s:Envelope>";
    soap_envelope_t env;
    parse_ok(t, &env);
    soap_buf_t b = {0};
    assert_int_equal(soap_body_xml(&env, &b), 0);
    soap_envelope_free(&env);
    assert_non_null(b.ptr);
    assert_non_null(strstr(b.ptr, "<o:R xmlns:o=\"urn:o\""));
    assert_non_null(
        strstr(b.ptr, "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\""));
    assert_non_null(strstr(b.ptr, "<o:v>a &amp; b</o:v>"));
    assert_non_null(strstr(b.ptr, "tail &lt;x&gt;"));
    assert_null(strstr(b.ptr, SOAP11_NS));
    assert_null(strstr(b.ptr, "Trace"));
    assert_null(strstr(b.ptr, "<!--"));
    assert_int_equal(b.ptr[0], '<');

    /* replayed into a 1.2 envelope, it parses with its own namespaces */
    int v = 12;
    soap_buf_t out = {0};
    char err[256];
    assert_int_equal(soap_xml_answer(b.ptr, b.len, &v, &out, err, sizeof(err)),
                     0);
    assert_int_equal(v, 12);
    parse_ok(out.ptr, &env);
    assert_int_equal(env.version, 12);
    assert_string_equal(env.first_local, "R");
    assert_string_equal(env.first_ns, "urn:o");
    json_t *j = soap_children_json(env.body);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "R"), "v")),
        "a & b");
    json_decref(j);
    soap_envelope_free(&env);
    soap_buf_free(&out);
    soap_buf_free(&b);
}

static void test_empty_body_is_empty_text(void **st)
{
    (void)st;
    soap_envelope_t env;
    parse_ok("<e:Envelope xmlns:e=\"" SOAP12_NS "\"><e:Body> </e:Body>"
             "</e:Envelope>",
             &env);
    soap_buf_t b = {0};
    assert_int_equal(soap_body_xml(&env, &b), 0);
    assert_int_equal(b.len, 0);
    soap_fault_read_t f;
    assert_int_equal(soap_fault_read(&env, &f), 0);
    assert_null(f.code);
    soap_buf_free(&b);
    soap_envelope_free(&env);
}

static void test_reads_a_soap11_fault(void **st)
{
    (void)st;
    const char *t =
        "<x:Envelope xmlns:x=\"" SOAP11_NS "\" xmlns:e=\"urn:e\"><x:Body>"
        "<x:Fault><faultcode>x:Client.Auth</faultcode>"
        "<faultstring>\n  no order 7 </faultstring>"
        "<faultactor>urn:orders</faultactor>"
        "<detail><e:NotFound id=\"7\">gone</e:NotFound></detail>"
        "</x:Fault></x:Body></x:Envelope>";
    soap_envelope_t env;
    parse_ok(t, &env);
    soap_fault_read_t f;
    assert_int_equal(soap_fault_read(&env, &f), 1);
    soap_envelope_free(&env);
    assert_string_equal(f.code, "x:Client.Auth");
    assert_string_equal(f.string, "no order 7");
    assert_string_equal(f.actor, "urn:orders");
    assert_string_equal(f.detail, "<e:NotFound xmlns:e=\"urn:e\" id=\"7\">"
                                  "gone</e:NotFound>");
    char err[128];
    assert_int_equal(
        soap_xml_check(f.detail, strlen(f.detail), 1, err, sizeof(err)), 0);
    soap_fault_read_free(&f);
    assert_null(f.detail);
}

static void test_reads_a_soap12_fault(void **st)
{
    (void)st;
    const char *t =
        "<env:Envelope xmlns:env=\"" SOAP12_NS "\"><env:Body><env:Fault>"
        "<env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
        "<env:Value>m:Bad</env:Value></env:Subcode></env:Code>"
        "<env:Reason><env:Text xml:lang=\"en\">bad input</env:Text>"
        "<env:Text xml:lang=\"nl\">slecht</env:Text></env:Reason>"
        "<env:Detail>plain words</env:Detail>"
        "</env:Fault></env:Body></env:Envelope>";
    soap_envelope_t env;
    parse_ok(t, &env);
    soap_fault_read_t f;
    assert_int_equal(soap_fault_read(&env, &f), 1);
    soap_envelope_free(&env);
    assert_string_equal(f.code, "env:Sender"); /* the Subcode is not read */
    assert_string_equal(f.string, "bad input");
    assert_null(f.actor);
    assert_string_equal(f.detail, "plain words");
    soap_fault_read_free(&f);
}

/* A Fault element of the other version's namespace is Body content. */
static void test_a_foreign_fault_is_content(void **st)
{
    (void)st;
    soap_envelope_t env;
    parse_ok("<s:Envelope xmlns:s=\"" SOAP11_NS "\"><s:Body>"
             "<f:Fault xmlns:f=\"" SOAP12_NS "\"/></s:Body></s:Envelope>",
             &env);
    soap_fault_read_t f;
    assert_int_equal(soap_fault_read(&env, &f), 0);
    soap_envelope_free(&env);
}

int main(void)
{
    soap_xml_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_content_stands_alone),
        cmocka_unit_test(test_empty_body_is_empty_text),
        cmocka_unit_test(test_reads_a_soap11_fault),
        cmocka_unit_test(test_reads_a_soap12_fault),
        cmocka_unit_test(test_a_foreign_fault_is_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
