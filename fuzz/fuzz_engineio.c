/*
 * socket.io's wire formats (plugins/websocket/sio_codec.c, dp_sio).
 * Beyond "no crash, no leak, no UB":
 *   - a polling payload that decodes re-encodes into one that decodes to
 *     the same packets (types, binary flags, bytes);
 *   - a Socket.IO packet that decodes (and is not binary) re-encodes into
 *     text that decodes to the same packet (type, namespace, id, JSON);
 *   - a BINARY_* packet takes attachments until it says it is complete,
 *     never more, and then holds no placeholder it could resolve;
 *   - what decodes stays within the limits it was given.
 *
 * Input: byte 0 = flags, then the bytes.
 *   flags & 1: the bytes are one Socket.IO packet (else a polling payload
 *              whose text messages are also decoded as Socket.IO packets,
 *              and whose binary messages are the attachments)
 *   flags & 2: small limits (64-byte packets, 4 packets, 2 attachments,
 *              depth 4)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio_codec.h"

static void check_packet(const char *s, size_t n, const sio_limits_t *lim,
                         const sio_eio_packet_t *bins, size_t n_bins)
{
    sio_packet_t p;
    const char *why = NULL;
    if (sio_packet_decode(s, n, lim, &p, &why) < 0) {
        if (why == NULL)
            abort();
        return;
    }
    if (p.n_attach > lim->max_attachments || strlen(p.nsp) > SIO_NSP_MAX)
        abort();
    if (sio_packet_incomplete(&p)) {
        int rc = 0;
        for (size_t i = 0; i < n_bins && rc == 0; i++)
            rc = sio_packet_attach(&p, bins[i].data, bins[i].len);
        if (rc == 1 &&
            (sio_packet_incomplete(&p) ||
             sio_packet_attach(&p, (const uint8_t *)"x", 1) != -EINVAL))
            abort();
        sio_packet_clear(&p);
        return;
    }
    ws_buf_t b = {0};
    if (sio_packet_encode(&p, &b) == 0) {
        sio_limits_t big = {SIZE_MAX, SIZE_MAX, 64, 1000};
        sio_packet_t q;
        if (sio_packet_decode((const char *)b.data, b.len, &big, &q, NULL) < 0)
            abort();
        if (q.type != p.type || strcmp(q.nsp, p.nsp) != 0 || q.id != p.id ||
            (p.data == NULL) != (q.data == NULL) ||
            (p.data && !json_equal(p.data, q.data)))
            abort();
        sio_packet_clear(&q);
    }
    ws_buf_free(&b);
    sio_packet_clear(&p);
}

static void check_payload(const uint8_t *d, size_t n, const sio_limits_t *lim)
{
    sio_eio_packet_t *p = NULL;
    size_t np = 0;
    const char *why = NULL;
    if (sio_eio_decode_payload(d, n, lim, &p, &np, &why) < 0) {
        if (why == NULL || p != NULL || np != 0)
            abort();
        return;
    }
    if (np == 0 || np > lim->max_packets)
        abort();
    ws_buf_t b = {0};
    if (sio_eio_encode_payload(p, np, &b) == 0) {
        sio_limits_t big = {SIZE_MAX, SIZE_MAX, 0, 0};
        sio_eio_packet_t *q = NULL;
        size_t nq = 0;
        if (sio_eio_decode_payload(b.data, b.len, &big, &q, &nq, NULL) < 0 ||
            nq != np)
            abort();
        for (size_t i = 0; i < np; i++)
            if (q[i].type != p[i].type || q[i].binary != p[i].binary ||
                q[i].len != p[i].len ||
                (p[i].len && memcmp(q[i].data, p[i].data, p[i].len) != 0))
                abort();
        sio_eio_packets_free(q, nq);
    }
    ws_buf_free(&b);
    for (size_t i = 0; i < np; i++) {
        if (p[i].len > lim->max_packet)
            abort();
        if (p[i].type == SIO_EIO_MESSAGE && !p[i].binary)
            check_packet((const char *)p[i].data, p[i].len, lim, p + i + 1,
                         np - i - 1);
    }
    sio_eio_packets_free(p, np);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    sio_limits_t lim = sio_default_limits;
    if (flags & 2)
        lim = (sio_limits_t){64, 4, 2, 4};
    if (flags & 1)
        check_packet((const char *)data + 1, size - 1, &lim, NULL, 0);
    else
        check_payload(data + 1, size - 1, &lim);
    return 0;
}
