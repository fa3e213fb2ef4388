/*
 * The shared matching engine, as protocol plugins see it.
 *
 * A protocol plugin decodes its wire format into a doppel_exchange_t and asks
 * the engine for a reply (svc->engine_match). The engine finds the mock in
 * the compiled index (namespace -> protocol -> operation -> target), checks
 * conditions, renders the response template, applies store actions, writes
 * the journal (or the unmatched list) and returns a doppel_reply_t that the
 * plugin encodes on its wire. The same mock, condition, template, store and
 * journal semantics hold for every protocol.
 */
#ifndef DOPPEL_ENGINE_H
#define DOPPEL_ENGINE_H

#include "doppel/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One normalised request. Borrowed by the engine for the call only. */
typedef struct doppel_exchange {
    uint32_t size;
    doppel_str_t protocol;  /* "http", "grpc", "mcp", ... */
    doppel_str_t ns;        /* namespace; empty means "sandbox" */
    doppel_str_t operation; /* HTTP method, gRPC method, MCP method */
    doppel_str_t target;    /* HTTP path, gRPC service/method, MCP tool */
    const doppel_kv_t *metadata; /* HTTP headers, gRPC metadata */
    size_t n_metadata;
    const doppel_kv_t *params;   /* query parameters, decoded */
    size_t n_params;
    const uint8_t *body;   /* request body; JSON bodies are parsed by the engine */
    size_t body_len;
    doppel_str_t content_type;
    doppel_str_t request_id;
    doppel_str_t remote_addr;
    /* Protocol-specific server name within a namespace (MCP serverName),
     * empty when unused. */
    doppel_str_t server;
    /* -- ABI 1.2, appended: read only when size covers it -------------- */
    /* The plugin's id of the connection or stream the exchange arrived on
     * (a WebSocket connection, an event stream), empty for a plain
     * request: the journal lists it as the entry's "connection" with
     * "direction": "in", so that one connection's whole conversation can
     * be read back beside what doppel sent on it (engine_journal). At
     * most 64 bytes (longer is cut). */
    doppel_str_t connection;
} doppel_exchange_t;

/* ABI 1.2 (svc->engine_journal): what a protocol plugin sent on a
 * connection or stream it holds, or how that stream ended, for the
 * journal. Borrowed for the call. */
typedef enum doppel_note_kind {
    DOPPEL_NOTE_SENT = 1, /* a message doppel sent: "direction": "out" */
    DOPPEL_NOTE_END = 2   /* the stream ended: "method": "end", "reason" */
} doppel_note_kind_t;

typedef struct doppel_journal_note {
    uint32_t size;
    uint32_t kind;           /* doppel_note_kind_t */
    doppel_str_t protocol;   /* "socket", "sse": the entry's "protocol" */
    doppel_str_t ns;         /* namespace; empty means "sandbox" */
    doppel_str_t event;      /* SENT: the entry's "method" (the message's
                                event, "message" when it has none); END:
                                ignored, the method is "end" */
    doppel_str_t path;       /* the connection's path */
    doppel_str_t connection; /* the plugin's id of the connection, as its
                                incoming exchanges name it */
    const uint8_t *body;     /* SENT: the message as sent (cut to
                                journal_body_max like every body) */
    size_t body_len;
    doppel_str_t reason;     /* END: why, [a-z_], 1 to 15 bytes
                                ("client_gone", "max_time") */
} doppel_journal_note_t;

typedef enum doppel_reply_kind {
    DOPPEL_REPLY_NO_MATCH = 0, /* body holds the near-miss report (JSON) */
    DOPPEL_REPLY_RESPONSE = 1, /* status, headers and body to send */
    DOPPEL_REPLY_PROXY = 2     /* forward to proxy_target */
} doppel_reply_kind_t;

/* The engine's answer. Owned by the engine; release with
 * svc->engine_reply_free. */
typedef struct doppel_reply {
    uint32_t size;
    uint32_t kind;      /* doppel_reply_kind_t */
    int status;         /* HTTP-style status (404 for no match) */
    const doppel_kv_t *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    uint32_t delay_ms;  /* the plugin delays the answer by this much */
    uint32_t flags;     /* DOPPEL_REPLY_F_* */
    doppel_str_t mock_id;       /* the matched mock, empty on no match */
    doppel_str_t proxy_target;  /* for DOPPEL_REPLY_PROXY */

    /* -- ABI 1.1 -------------------------------------------------------- */
    doppel_str_t service;       /* upstream service (record/replay) the
                                   request belongs to, empty if none */
    uint32_t proxy_timeout_ms;  /* for DOPPEL_REPLY_PROXY; 0: host default */
    uint32_t proxy_flags;       /* DOPPEL_FETCH_F_* to pass to http_fetch */

    /* -- ABI 1.2 -------------------------------------------------------- */
    /* The rendered response members a protocol definition asked for
     * (doppel_protocol_def_t.response_fields) as one compact JSON object,
     * NUL-terminated; empty when the protocol asked for none. A reply is
     * this large only from a 1.2 host: check size before reading. */
    doppel_str_t extra;
} doppel_reply_t;

/* The mock asked for an error result (e.g. MCP isError). */
#define DOPPEL_REPLY_F_IS_ERROR 0x1u
/* ABI 1.1: a PROXY reply in LEARN mode: after forwarding, hand the
 * upstream's answer to svc->engine_record. */
#define DOPPEL_REPLY_F_RECORD 0x2u
/* ABI 1.1: a NO_MATCH reply for a service in MOCK mode (the upstream was
 * not contacted); status and headers are the miss answer to send. */
#define DOPPEL_REPLY_F_MISS 0x4u
/* ABI 1.1: doppel's own credential travels in the request's Authorization
 * (DROP_AUTHORIZATION) or X-API-Key (DROP_X_API_KEY) header: the header
 * that authenticated the request to a namespace with requireToken, or one
 * whose value is a doppel token (mk_..., mki_..., also after "Bearer ").
 * A plugin that forwards a PROXY reply must not send any header of that
 * name upstream. The host sets them on PROXY replies only; hosts before
 * these bits leave them clear. */
#define DOPPEL_REPLY_F_DROP_AUTHORIZATION 0x8u
#define DOPPEL_REPLY_F_DROP_X_API_KEY 0x10u

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_ENGINE_H */
