/*
 * libFuzzer target: the SOAP plugin's envelope path (plugins/soap/
 * soap_xml.c). The first byte picks a mode:
 *   0  envelope parse -> Body as JSON -> JSON to an Envelope -> parse ->
 *      JSON again: must give the same JSON (the two mappings are each
 *      other's inverse on what a parse produces)
 *   1  the rest as an answer's XML text (whole Envelope or fragment), and
 *      as a fault's detail
 *   2  the rest as a request Content-Type and a SOAPAction header
 *   3  the rest as a JSON payload turned into an Envelope (must then parse)
 * Parses never print (the plugin's quiet handlers), never read a DTD, and
 * stay within the limits below.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soap_xml.h"

static const soap_limits_t LIM = {1u << 16, 64};

static void round_trip(const uint8_t *d, size_t n)
{
    soap_envelope_t env;
    char err[256];
    if (soap_envelope_parse(d, n, &LIM, &env, err, sizeof(err)) != 0)
        return;
    json_t *j = soap_children_json(env.body);
    int version = env.version;
    if (env.header) {
        json_t *h = soap_children_json(env.header);
        json_decref(h);
    }
    soap_envelope_free(&env);
    if (j == NULL)
        return;
    json_t *payload = json_pack("{s:{s:O}}", "Envelope", "Body", j);
    soap_buf_t b = {0};
    int rc = payload ? soap_json_to_envelope(payload, version, &b, err,
                                             sizeof(err))
                     : -1;
    if (rc == 0) {
        soap_envelope_t env2;
        /* what we write parses, whatever the depth limit said */
        soap_limits_t big = {0, 256};
        if (soap_envelope_parse(b.ptr, b.len, &big, &env2, err, sizeof(err)) != 0) {
            fprintf(stderr, "our envelope does not parse: %s\n%s\n", err, b.ptr);
            abort();
        }
        if (env2.version != version)
            abort();
        json_t *j2 = soap_children_json(env2.body);
        if (j2 && !json_equal(j, j2)) {
            char *a = json_dumps(j, JSON_COMPACT), *c = json_dumps(j2, JSON_COMPACT);
            fprintf(stderr, "round trip differs:\n%s\n%s\n", a, c);
            abort();
        }
        json_decref(j2);
        soap_envelope_free(&env2);
    }
    soap_buf_free(&b);
    json_decref(payload);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char err[256];
    if (mode == 0) {
        round_trip(d, n);
    } else if (mode == 1) {
        soap_buf_t b = {0};
        int v = 11;
        if (soap_xml_answer((const char *)d, n, &v, &b, err, sizeof(err)) == 0 &&
            soap_xml_check(b.ptr, b.len, 0, err, sizeof(err)) != 0)
            abort();
        soap_buf_free(&b);
        char *s = strndup((const char *)d, n);
        if (s) {
            soap_fault_t f = {"Client", "x", NULL, s};
            if (soap_fault_envelope(&f, 12, &b, err, sizeof(err)) == 0 &&
                soap_xml_check(b.ptr, b.len, 0, err, sizeof(err)) != 0)
                abort();
            soap_buf_free(&b);
            free(s);
        }
    } else if (mode == 2) {
        char a[128];
        (void)soap_content_version((const char *)d, n, a, sizeof(a));
        if (strlen(a) >= sizeof(a))
            abort();
        soap_action_unquote((const char *)d, n, a, sizeof(a));
    } else {
        json_t *j = json_loadb((const char *)d, n, JSON_DECODE_ANY, NULL);
        if (j) {
            soap_buf_t b = {0};
            if (soap_json_to_envelope(j, 11, &b, err, sizeof(err)) == 0 &&
                soap_xml_check(b.ptr, b.len, 0, err, sizeof(err)) != 0)
                abort();
            soap_buf_free(&b);
            json_decref(j);
        }
    }
    return 0;
}
