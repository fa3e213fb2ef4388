/*
 * dp_sio: the wire formats of socket.io, with no I/O (so that
 * tests/unit/test_sio_codec.c and fuzz/fuzz_engineio.c drive them through
 * memory).
 *
 * Engine.IO v4 carries packets: a type digit ('0' open .. '6' noop) and
 * its data. Over HTTP long-polling one body (a "payload") holds several,
 * separated by 0x1e; a binary message travels there as 'b' + base64. Over
 * WebSocket each frame is one packet: text frames "<type><data>", binary
 * frames a binary message (type 4) as is.
 *
 * Socket.IO v5 rides in Engine.IO messages:
 *   <type>[<attachments>-][/<nsp>,][<ack id>][<JSON>]
 * with type '0' CONNECT .. '6' BINARY_ACK. A BINARY_EVENT / BINARY_ACK
 * names N attachments, sent as the next N binary messages; their places in
 * the JSON are {"_placeholder":true,"num":i}.
 *
 * Every decoder takes untrusted bytes: sizes, packet counts, attachments
 * and JSON nesting are bounded by a sio_limits_t, and a refusal comes with
 * a short reason (static storage). Any thread; nothing is kept between
 * calls.
 */
#ifndef DOPPEL_SIO_CODEC_H
#define DOPPEL_SIO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_codec.h" /* ws_buf_t */

enum {
    SIO_EIO_OPEN = 0,
    SIO_EIO_CLOSE = 1,
    SIO_EIO_PING = 2,
    SIO_EIO_PONG = 3,
    SIO_EIO_MESSAGE = 4,
    SIO_EIO_UPGRADE = 5,
    SIO_EIO_NOOP = 6,
};

enum {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

/* socket.io namespaces kept (longer ones are refused) */
#define SIO_NSP_MAX 128

typedef struct sio_limits {
    size_t max_packet;      /* bytes of one packet's data */
    size_t max_packets;     /* packets in one polling payload */
    size_t max_attachments; /* of one BINARY_EVENT / BINARY_ACK */
    size_t max_depth;       /* JSON nesting (arrays and objects) */
} sio_limits_t;

/* What the server uses unless told otherwise: 1e6 bytes (maxPayload),
 * 256 packets, 10 attachments, depth 32. */
extern const sio_limits_t sio_default_limits;

/* One Engine.IO packet. data points into the decoded input (decoders) or
 * to the caller's bytes (encoders): never owned, except that a 'b'
 * packet's base64 is decoded into owned memory (owned = 1, free with
 * sio_eio_packets_free). */
typedef struct sio_eio_packet {
    int type;
    int binary; /* a binary message (type 4) */
    const uint8_t *data;
    size_t len;
    int owned;
} sio_eio_packet_t;

/* Decodes a polling body into *out (malloc'd array, *n_out packets; free
 * with sio_eio_packets_free). Returns 0, -EINVAL (malformed: *why says
 * how), -E2BIG (a packet or the count over the limits) or -ENOMEM. */
int sio_eio_decode_payload(const uint8_t *body, size_t len,
                           const sio_limits_t *lim, sio_eio_packet_t **out,
                           size_t *n_out, const char **why);
void sio_eio_packets_free(sio_eio_packet_t *p, size_t n);

/* Decodes one WebSocket frame's packet (binary: a binary frame). out->data
 * points into frame. Returns 0, -EINVAL or -E2BIG. */
int sio_eio_decode_frame(const uint8_t *frame, size_t len, int binary,
                         const sio_limits_t *lim, sio_eio_packet_t *out,
                         const char **why);

/* Appends packets to a polling body (0x1e between them; binary as 'b' +
 * base64). Returns 0 or -ENOMEM. */
int sio_eio_encode_payload(const sio_eio_packet_t *p, size_t n, ws_buf_t *out);
/* Appends one packet as a WebSocket text frame's payload ("<type><data>";
 * a binary message's bytes as they are, for a binary frame). */
int sio_eio_encode_frame(const sio_eio_packet_t *p, ws_buf_t *out);

/* The open packet's JSON: {"sid", "upgrades", "pingInterval",
 * "pingTimeout", "maxPayload"}; upgrades is ["websocket"] or [].
 * malloc'd, NULL on ENOMEM. */
char *sio_eio_open_json(const char *sid, int can_upgrade, uint64_t ping_ms,
                        uint64_t timeout_ms, uint64_t max_payload);

/* One Socket.IO packet. */
typedef struct sio_packet {
    int type;
    char nsp[SIO_NSP_MAX + 1]; /* "/" when the packet names none */
    int64_t id;                /* the ack id, -1: none */
    size_t n_attach;           /* attachments announced (BINARY_*) */
    size_t n_have;             /* attachments received so far */
    json_t *data;              /* owned; NULL when the packet has none */
    uint8_t **bins;            /* n_attach received attachments */
    size_t *bin_lens;
} sio_packet_t;

/* Decodes one Socket.IO packet from an Engine.IO message. Checks the
 * shape socket.io requires of each type (CONNECT: an object or nothing,
 * EVENT: a non-empty array starting with a string, ACK: an array,
 * CONNECT_ERROR: an object or a string, DISCONNECT: nothing). Free with
 * sio_packet_clear. Returns 0, -EINVAL (*why), -E2BIG or -ENOMEM; on
 * error *out holds nothing to free. */
int sio_packet_decode(const char *s, size_t len, const sio_limits_t *lim,
                      sio_packet_t *out, const char **why);
/* 1 while a BINARY_* packet still waits for attachments. */
int sio_packet_incomplete(const sio_packet_t *p);
/* Adds the next attachment (copied). Returns 1 once the last one came and
 * the placeholders were replaced by {"binary": "<base64>"} (the form
 * doppel's mocks match binary data in), 0 while more are due, -EINVAL (a
 * placeholder whose num is out of range, or none expected) or -ENOMEM. */
int sio_packet_attach(sio_packet_t *p, const uint8_t *bin, size_t len);
void sio_packet_clear(sio_packet_t *p);

/* Encodes a text packet (type, nsp, id, data; attachments not used):
 * "2/chat,7[...]". Appends to out. Returns 0, -EINVAL (a BINARY_* type)
 * or -ENOMEM. */
int sio_packet_encode(const sio_packet_t *p, ws_buf_t *out);

/* Appends len bytes to b (grown as needed). 0 or -ENOMEM. */
int sio_buf_append(ws_buf_t *b, const void *data, size_t len);

/* 1 if s is a namespace this codec keeps: "/" then up to SIO_NSP_MAX - 1
 * bytes with no ',' and no control character. */
int sio_nsp_valid(const char *s, size_t len);

#endif /* DOPPEL_SIO_CODEC_H */
