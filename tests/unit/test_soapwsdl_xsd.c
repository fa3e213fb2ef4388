/*
 * dp_soapwsdl: sample answers from XSD constructs one by one (built-in
 * lexical forms, facets, list/union, all/group/attributeGroup,
 * complexContent restriction, ref=, element and attribute forms) and
 * xsd:include of another file of the set.
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

/* types.xsd, included (same namespace) by the WSDL's schema */
static const char *INCLUDED =
    "<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n"
    " xmlns:tns=\"urn:x\" targetNamespace=\"urn:x\" elementFormDefault=\"qualified\">\n"
    " <xsd:simpleType name=\"Codes\"><xsd:list itemType=\"xsd:int\"/></xsd:simpleType>\n"
    " <xsd:simpleType name=\"IntOrDate\"><xsd:union memberTypes=\"xsd:date xsd:int\"/>"
    "</xsd:simpleType>\n"
    " <xsd:simpleType name=\"Small\"><xsd:restriction base=\"xsd:int\">"
    "<xsd:minExclusive value=\"9\"/></xsd:restriction></xsd:simpleType>\n"
    " <xsd:simpleType name=\"Neg\"><xsd:restriction base=\"xsd:int\">"
    "<xsd:maxInclusive value=\"-5\"/></xsd:restriction></xsd:simpleType>\n"
    " <xsd:simpleType name=\"Long8\"><xsd:restriction base=\"xsd:string\">"
    "<xsd:minLength value=\"8\"/></xsd:restriction></xsd:simpleType>\n"
    " <xsd:group name=\"Audit\"><xsd:sequence>"
    "<xsd:element name=\"by\" type=\"xsd:string\"/>"
    "<xsd:element name=\"at\" type=\"xsd:time\"/></xsd:sequence></xsd:group>\n"
    " <xsd:attributeGroup name=\"Ids\"><xsd:attribute name=\"uid\" type=\"xsd:long\"/>"
    "<xsd:attribute name=\"gone\" type=\"xsd:string\" use=\"prohibited\"/>"
    "</xsd:attributeGroup>\n"
    " <xsd:attribute name=\"lang\" type=\"xsd:language\"/>\n"
    " <xsd:element name=\"Note\" type=\"xsd:string\"/>\n"
    "</xsd:schema>\n";

static const char *WSDL =
    "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"\n"
    " xmlns:soap12=\"http://schemas.xmlsoap.org/wsdl/soap12/\"\n"
    " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n"
    " xmlns:tns=\"urn:x\" targetNamespace=\"urn:x\">\n"
    "<types><xsd:schema targetNamespace=\"urn:x\" elementFormDefault=\"unqualified\"\n"
    "  attributeFormDefault=\"unqualified\">\n"
    " <xsd:include schemaLocation=\"types.xsd\"/>\n"
    " <xsd:complexType name=\"Base\"><xsd:sequence>"
    "<xsd:element name=\"keep\" type=\"xsd:string\"/>"
    "<xsd:element name=\"drop\" type=\"xsd:string\" minOccurs=\"0\"/>"
    "</xsd:sequence></xsd:complexType>\n"
    " <xsd:complexType name=\"Narrow\"><xsd:complexContent>"
    "<xsd:restriction base=\"tns:Base\"><xsd:sequence>"
    "<xsd:element name=\"keep\" type=\"xsd:string\"/></xsd:sequence>"
    "</xsd:restriction></xsd:complexContent></xsd:complexType>\n"
    " <xsd:element name=\"Out\"><xsd:complexType><xsd:all>\n"
    "  <xsd:element name=\"b\" type=\"xsd:boolean\"/>\n"
    "  <xsd:element name=\"i\" type=\"xsd:int\"/>\n"
    "  <xsd:element name=\"ul\" type=\"xsd:unsignedLong\"/>\n"
    "  <xsd:element name=\"pos\" type=\"xsd:positiveInteger\"/>\n"
    "  <xsd:element name=\"dec\" type=\"xsd:decimal\"/>\n"
    "  <xsd:element name=\"dbl\" type=\"xsd:double\"/>\n"
    "  <xsd:element name=\"d\" type=\"xsd:date\"/>\n"
    "  <xsd:element name=\"dt\" type=\"xsd:dateTime\"/>\n"
    "  <xsd:element name=\"t\" type=\"xsd:time\"/>\n"
    "  <xsd:element name=\"dur\" type=\"xsd:duration\"/>\n"
    "  <xsd:element name=\"b64\" type=\"xsd:base64Binary\"/>\n"
    "  <xsd:element name=\"hex\" type=\"xsd:hexBinary\"/>\n"
    "  <xsd:element name=\"uri\" type=\"xsd:anyURI\"/>\n"
    "  <xsd:element name=\"qn\" type=\"xsd:QName\"/>\n"
    "  <xsd:element name=\"codes\" type=\"tns:Codes\"/>\n"
    "  <xsd:element name=\"iod\" type=\"tns:IntOrDate\"/>\n"
    "  <xsd:element name=\"small\" type=\"tns:Small\"/>\n"
    "  <xsd:element name=\"neg\" type=\"tns:Neg\"/>\n"
    "  <xsd:element name=\"long8\" type=\"tns:Long8\"/>\n"
    "  <xsd:element name=\"narrow\" type=\"tns:Narrow\"/>\n"
    "  <xsd:element name=\"q\" type=\"xsd:string\" form=\"qualified\"/>\n"
    "  <xsd:element ref=\"tns:Note\"/>\n"
    "  <xsd:element name=\"never\" type=\"xsd:string\" maxOccurs=\"0\"/>\n"
    "  <xsd:element name=\"audit\"><xsd:complexType><xsd:sequence>"
    "<xsd:group ref=\"tns:Audit\"/></xsd:sequence>"
    "<xsd:attributeGroup ref=\"tns:Ids\"/><xsd:attribute ref=\"tns:lang\"/>"
    "<xsd:attribute name=\"qa\" type=\"xsd:int\" form=\"qualified\"/>"
    "</xsd:complexType></xsd:element>\n"
    "  <xsd:element name=\"inl\"><xsd:simpleType><xsd:restriction base=\"xsd:string\">"
    "<xsd:enumeration value=\"first\"/><xsd:enumeration value=\"second\"/>"
    "</xsd:restriction></xsd:simpleType></xsd:element>\n"
    " </xsd:all></xsd:complexType></xsd:element>\n"
    "</xsd:schema></types>\n"
    "<message name=\"M\"><part name=\"p\" element=\"tns:Out\"/></message>\n"
    "<portType name=\"P\"><operation name=\"Get\"><input message=\"tns:M\"/>"
    "<output message=\"tns:M\"/></operation></portType>\n"
    "<binding name=\"B\" type=\"tns:P\"><soap12:binding style=\"document\"/>"
    "<operation name=\"Get\"><soap12:operation soapAction=\"urn:x/Get\"/>"
    "<input><soap12:body use=\"literal\"/></input>"
    "<output><soap12:body use=\"literal\"/></output></operation></binding>\n"
    "<service name=\"X\"><port name=\"XP\" binding=\"tns:B\">"
    "<soap12:address location=\"https://x.example/svc/x?v=1\"/></port></service>\n"
    "</definitions>\n";

static json_t *out_elem;
static json_t *body;
static soap_wsdl_set_t *set;

static int setup(void **state)
{
    (void)state;
    char err[512] = "";
    set = soap_wsdl_set_new();
    assert_int_equal(soap_wsdl_put(set, "x.wsdl", (const uint8_t *)WSDL,
                                   strlen(WSDL), err, sizeof(err)), 0);
    assert_int_equal(soap_wsdl_put(set, "types.xsd", (const uint8_t *)INCLUDED,
                                   strlen(INCLUDED), err, sizeof(err)), 0);
    if (soap_wsdl_commit(set, 1, err, sizeof(err)) != 0) {
        print_error("%s\n", err);
        return -1;
    }
    const soap_op_info_t *o = soap_wsdl_find(set, "/svc/x", "urn:x/Get", NULL, NULL);
    assert_non_null(o);
    assert_int_equal(o->soap_version, 12);
    json_t *j = soap_wsdl_sample(set, o);
    assert_non_null(j);
    body = json_incref(json_object_get(json_object_get(j, "Envelope"), "Body"));
    json_decref(j);
    out_elem = json_object_get(body, "ns1:Out");
    assert_non_null(out_elem);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(body);
    soap_wsdl_set_free(set);
    return 0;
}

static const char *m(const char *key)
{
    json_t *v = json_object_get(out_elem, key);
    if (!json_is_string(v)) {
        char *d = json_dumps(out_elem, JSON_INDENT(1));
        print_error("no string %s in %s\n", key, d);
        free(d);
    }
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_builtin_lexical_forms(void **state)
{
    (void)state;
    /* elementFormDefault unqualified: local elements carry no prefix */
    assert_string_equal(m("b"), "true");
    assert_string_equal(m("i"), "0");
    assert_string_equal(m("ul"), "0");
    assert_string_equal(m("pos"), "1");
    assert_string_equal(m("dec"), "0.0");
    assert_string_equal(m("dbl"), "0.0");
    assert_string_equal(m("d"), "2024-01-01");
    assert_string_equal(m("dt"), "2024-01-01T00:00:00Z");
    assert_string_equal(m("t"), "00:00:00");
    assert_string_equal(m("dur"), "PT0S");
    assert_string_equal(m("b64"), "ZG9wcGVs");
    assert_string_equal(m("hex"), "00");
    assert_string_equal(m("uri"), "http://example.com/");
    assert_string_equal(m("qn"), "name");
}

static void test_derived_simple_types(void **state)
{
    (void)state;
    assert_string_equal(m("codes"), "0");      /* list: one item */
    assert_string_equal(m("iod"), "2024-01-01"); /* union: first member */
    assert_string_equal(m("small"), "10");     /* minExclusive 9 */
    assert_string_equal(m("neg"), "-5");       /* maxInclusive -5 */
    assert_string_equal(m("long8"), "stringxx"); /* minLength 8 */
    assert_string_equal(m("inl"), "first");    /* inline enumeration */
}

static void test_forms_refs_groups(void **state)
{
    (void)state;

    /* form="qualified" and ref= to a global element: prefixed */
    assert_string_equal(m("ns1:q"), "string");
    assert_string_equal(m("ns1:Note"), "string");
    assert_null(json_object_get(out_elem, "q"));
    /* maxOccurs="0": never there */
    assert_null(json_object_get(out_elem, "never"));
    /* restriction keeps only what it restates */
    json_t *narrow = json_object_get(out_elem, "narrow");
    assert_non_null(json_object_get(narrow, "keep"));
    assert_null(json_object_get(narrow, "drop"));
    /* group ref and attributeGroup ref; prohibited attribute left out;
     * a global attribute is qualified, so is a form="qualified" one. The
     * group's elements take the form of the schema that declares them
     * (types.xsd: qualified), not of the one that refers to it. */
    json_t *audit = json_object_get(out_elem, "audit");
    assert_non_null(json_object_get(audit, "ns1:by"));
    assert_string_equal(json_string_value(json_object_get(audit, "ns1:by")),
                        "string");
    assert_non_null(json_object_get(audit, "ns1:at"));
    assert_string_equal(json_string_value(json_object_get(audit, "ns1:at")),
                        "00:00:00");
    assert_null(json_object_get(audit, "by"));
    assert_string_equal(json_string_value(json_object_get(audit, "@uid")), "0");
    assert_null(json_object_get(audit, "@gone"));
    assert_string_equal(json_string_value(json_object_get(audit, "@ns1:lang")), "en");
    assert_string_equal(json_string_value(json_object_get(audit, "@ns1:qa")), "0");
    assert_string_equal(json_string_value(json_object_get(body, "@xmlns:ns1")),
                        "urn:x");
}

static void test_served_and_described(void **state)
{
    (void)state;
    size_t len = 0;
    char *w = soap_wsdl_serve(set, "/svc/x", "http://127.0.0.1:9", &len);
    assert_non_null(w);
    /* the query of the old location goes with its host */
    assert_non_null(strstr(w, "location=\"http://127.0.0.1:9/svc/x\""));
    /* an include is inlined as an import is */
    assert_null(strstr(w, "schemaLocation"));
    assert_non_null(strstr(w, "name=\"IntOrDate\""));
    free(w);
    json_t *d = soap_wsdl_describe(set);
    json_t *op = json_array_get(
        json_object_get(json_array_get(json_object_get(d, "services"), 0),
                        "operations"),
        0);
    assert_int_equal(json_integer_value(json_object_get(op, "soapVersion")), 12);
    assert_string_equal(json_string_value(json_object_get(op, "output")),
                        "{urn:x}Out");
    json_decref(d);
    /* the include keeps types.xsd in use */
    char err[256];
    assert_int_equal(soap_wsdl_delete(set, "types.xsd", err, sizeof(err)), -EBUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_lexical_forms),
        cmocka_unit_test(test_derived_simple_types),
        cmocka_unit_test(test_forms_refs_groups),
        cmocka_unit_test(test_served_and_described),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
