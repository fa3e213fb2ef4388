/*
 * ABI 1.2: a protocol plugin's mock section, its schema files, and engine
 * sessions for long-lived streams.
 *
 * Mock sections
 *   A protocol plugin names the section key its mocks carry ("grpc") in a
 *   doppel_protocol_def_t that its descriptor points to
 *   (doppel_plugin_t.protocol). The host reads it when it loads the plugin,
 *   before the store is opened, so stored mocks of the section compile at
 *   start-up. The engine keeps what is common to every protocol (namespace,
 *   priority, ttl, chains, extract, oneOf, templates, stores, journal) and
 *   asks the plugin, through `check`, what only it knows: whether the
 *   section is valid (does the service exist in the plugin's .proto files,
 *   does the payload fit the response type), and which operation, target
 *   and server the mock is indexed under. Conditions under the keys the
 *   definition names are compiled by the engine, as on http.
 *
 *   Section callbacks run on any thread (admin writes run on the host's
 *   thread pool; start-up loading runs on the main thread), possibly
 *   several at once: state they read must be safe for that (the plugin's
 *   shared state, svc->shared, with its own locking). Their ctx is a
 *   section context and svc the host's services table (callbacks may run
 *   before any instance's init): log, alloc, free, option_*,
 *   instance_name and shared work on it, and svc->shared(ctx, ...) returns
 *   the same state the section's instances get; the host keeps that state
 *   alive until the engine is closed, after every instance is destroyed.
 *   Services that need a worker loop return -EINVAL (or NULL) for a
 *   section context.
 *
 * Schema files
 *   A definition with schema_kind set ("proto") accepts schema files
 *   through the admin API (PUT /api/v1/schemas/<section>/<name>) and the
 *   MCP tools. The host stores them durably, per namespace, and hands every
 *   stored file to schema_put at start-up (before mocks are compiled) and
 *   each new one when it is uploaded; a file schema_put refuses is not
 *   stored, and the client gets a 400 with the plugin's message
 *   ("order.proto:12:5: ..."). Mocks already stored are not re-checked when
 *   a schema changes; a mock written later is checked against the new one.
 *
 * Engine sessions
 *   A stream that carries many messages (a gRPC streaming call, a WebSocket
 *   connection) opens a session: every message matched through it sees the
 *   same per-session state: a store scope "session" that extract can write
 *   and templates and conditions can read, the session's message count
 *   (`$.session.count` in templates, 1 for the first message), and ordered
 *   oneOf cursors that advance per session rather than globally. Closing
 *   the session frees that state.
 */
#ifndef DOPPEL_PROTOCOL_H
#define DOPPEL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "doppel/common.h"
#include "doppel/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

struct doppel_ctx;
struct doppel_services;
struct doppel_fetch_result;

/* What check gets: the mock as stored, borrowed for the call. */
typedef struct doppel_mock_view {
    uint32_t size;
    doppel_str_t ns;       /* the mock's namespace */
    doppel_str_t section;  /* the section object, compact JSON */
    doppel_str_t response; /* the response object, compact JSON ("{}" if
                              absent); for a oneOf mock, check is called
                              once per answer */
    uint32_t answer;       /* 0-based index of that answer within oneOf */
} doppel_mock_view_t;

/* What check fills in. The host copies the strings after check returns,
 * so they must stay valid until then: point them into key->buf
 * (DOPPEL_MOCK_KEY_BUF bytes), into static storage, or (section only) into
 * owned_section. */
#define DOPPEL_MOCK_KEY_BUF 2048
typedef struct doppel_mock_key {
    uint32_t size;
    doppel_str_t operation; /* exchange operation it matches (gRPC method
                               name); empty: any */
    doppel_str_t target;    /* exchange target route ("/pkg.Svc/Method");
                               may use :params and * as http routes */
    doppel_str_t server;    /* server within the namespace; empty: none */
    /* Optional: a normalised copy of the section (compact JSON) the engine
     * compiles and stores instead of the one written (condition paths
     * rewritten to the proto3 JSON names, methodType filled in). Empty:
     * the section as written. May point outside buf if it stays valid
     * until check returns (allocated with svc->alloc and returned via
     * owned_section, which the host frees). */
    doppel_str_t section;
    char *owned_section; /* NULL or svc->alloc'd text the host frees */
    char buf[DOPPEL_MOCK_KEY_BUF];
} doppel_mock_key_t;

/* Why check refused: field is the JSON path of the offending member
 * relative to the mock ("grpc.method", "response.payload.items[1].price"),
 * message a sentence for the user. Both NUL-terminated, truncated to fit. */
typedef struct doppel_check_error {
    uint32_t size;
    char field[256];
    char message[768];
} doppel_check_error_t;

/* Flags of doppel_protocol_def_t */
#define DOPPEL_PROTO_F_EXACT_OP 0x1u /* compare operation as sent (case) */
#define DOPPEL_PROTO_F_NO_PROXY 0x2u /* proxy answers are refused */
/* ABI 1.2: the section's exchanges ride on the HTTP front and their target
 * is the request path (GraphQL, SOAP): record/replay services apply to
 * them by pathPrefix as to http (PASSTHROUGH and LEARN answer PROXY with
 * the service's URL, MOCK answers a miss, SPY proxies what no mock
 * matches), and LEARN records them through the definition's `record`. */
#define DOPPEL_PROTO_F_HTTP_PATH 0x4u

typedef struct doppel_protocol_def {
    uint32_t size;
    const char *section; /* [a-z][a-z0-9_]*, the mock's section key */
    uint32_t flags;      /* DOPPEL_PROTO_F_* */
    /* Keys of the section holding condition arrays on the message body
     * (NULL-terminated list, e.g. {"conditions", NULL}) and on the
     * metadata ({"meta", NULL}), compiled by the engine. */
    const char *const *body_conditions;
    const char *const *meta_conditions;
    /* Response members the engine renders (templates, faker) and hands to
     * the plugin in reply->extra as one JSON object, beside status
     * (statusCode), headers and body (payload), e.g. {"error",
     * "errorDetails", "trailers", "streamResponses", NULL}. */
    const char *const *response_fields;
    /* Range and default of response.statusCode (gRPC: 0..16, default 0). */
    int status_min, status_max, status_default;

    /* Checks one mock of the section and says how it is indexed.
     * Returns 0 (key filled), -EINVAL (err filled: a 400 to the writer) or
     * another negative errno (a 500). Any thread. */
    int (*check)(struct doppel_ctx *ctx,
                 const struct doppel_services *svc, const doppel_mock_view_t *mock,
                 doppel_mock_key_t *key, doppel_check_error_t *err);

    /* Schema files (optional: NULL schema_kind means none). */
    const char *schema_kind; /* "proto": what the files are, for messages */
    /* Accepts (0) or refuses (-EINVAL, err filled with file:line:column)
     * one file ns/name (name: relative path "shop/v1/order.proto"). content
     * is borrowed. A batch upload calls it once per file in the order
     * given, then schema_commit(ns, 1) to keep them all or
     * schema_commit(ns, 0) to drop every file put since the last commit;
     * single uploads are a batch of one. Any thread, one call at a time
     * per section. */
    int (*schema_put)(struct doppel_ctx *ctx,
                 const struct doppel_services *svc, doppel_str_t ns,
                      doppel_str_t name, const uint8_t *content, size_t len,
                      doppel_check_error_t *err);
    int (*schema_commit)(struct doppel_ctx *ctx,
                 const struct doppel_services *svc, doppel_str_t ns, int keep,
                         doppel_check_error_t *err);
    /* Removes a file; -ENOENT if unknown, -EBUSY (err filled) if other
     * files still import it. Any thread. */
    int (*schema_delete)(struct doppel_ctx *ctx,
                 const struct doppel_services *svc, doppel_str_t ns,
                         doppel_str_t name, doppel_check_error_t *err);

    /* Optional: a sentence explaining a miss on x beyond the engine's near
     * misses ("unknown method order.v1.OrderService/Refund"), written into
     * out (NUL-terminated, truncated). Returns 1 if it wrote one, 0 if not.
     * Any thread. */
    int (*explain_miss)(struct doppel_ctx *ctx,
                 const struct doppel_services *svc, const doppel_exchange_t *x,
                        char *out, size_t out_len);

    /* -- appended in ABI 1.2 after explain_miss; the host calls it only
     * when def->size covers it (offsetof(describe) + sizeof(void *)) -- */

    /* Optional: what the section's schemas define for namespace ns (empty:
     * "sandbox"), for users and agents choosing what to mock (GET
     * /api/v1/protocols/SECTION, the MCP tool describe_protocol). Writes
     * one JSON object of the plugin's own shape (gRPC: {"services":
     * [{"name", "builtin", "file", "methods": [{"name", "methodType",
     * "input", "output"}]}]}) into *out, allocated with svc->alloc (the
     * host frees it with svc->free), and its length without any NUL into
     * *out_len. Returns 0, or a negative errno with *out left NULL (the
     * host answers 500). Any thread, possibly several at once, ctx a
     * section context as for check. */
    int (*describe)(struct doppel_ctx *ctx, const struct doppel_services *svc,
                    doppel_str_t ns, char **out, size_t *out_len);

    /* -- appended in ABI 1.2 after describe; the host calls it only when
     * def->size covers it (offsetof(schema_mocks) + sizeof(void *)) -- */

    /* Optional: the mocks a schema file implies (a WSDL: one per
     * operation, with a sample answer). Called for each file of an upload
     * through the admin API or the MCP tools once schema_commit(ns, 1) has
     * kept the batch, never for the stored files replayed at start-up.
     * Writes a JSON array of mock objects, each with an "id", into *out
     * (svc->alloc'd; the host frees it with svc->free) and its length into
     * *out_len. The host stores each mock whose id does not exist yet in
     * ns and leaves existing ones (and the edits made to them) alone; the
     * upload's answer lists both ("mocks": {"created": [ids], "kept":
     * [ids]}). Returns 0, or a negative errno with *out left NULL (the
     * upload is undone and answered 500). Any thread, one call at a time
     * per section, ctx a section context as for check. */
    int (*schema_mocks)(struct doppel_ctx *ctx,
                        const struct doppel_services *svc, doppel_str_t ns,
                        doppel_str_t name, char **out, size_t *out_len);

    /* -- appended in ABI 1.2 after schema_mocks; the host calls it only
     * when def->size covers it (offsetof(record) + sizeof(void *)) -- */

    /* Optional (with DOPPEL_PROTO_F_HTTP_PATH): what a recorded exchange
     * becomes in LEARN mode. x is the exchange the plugin matched with and
     * res the upstream's answer as the plugin handed it to
     * svc->engine_record (for one exchange of a request that carried
     * several, such as one top-level GraphQL field, the plugin's own share
     * of the answer). Writes the mock's section (a JSON object that x
     * matches: equality conditions on what x carried) into *section and
     * its response object ({"statusCode", "headers", "payload", and the
     * section's response fields}) into *response, both svc->alloc'd (the
     * host frees them with svc->free), their lengths into *section_len and
     * *response_len. The engine names the mock after a hash of the
     * namespace, service, section key and section, so the same request
     * recorded again extends its answers into an ordered oneOf, as on http.
     * Returns 0, -EINVAL (not recordable: svc->engine_record fails with
     * it), or another negative errno. Any thread, possibly several at once,
     * ctx a section context as for check. */
    int (*record)(struct doppel_ctx *ctx, const struct doppel_services *svc,
                  const doppel_exchange_t *x,
                  const struct doppel_fetch_result *res, char **section,
                  size_t *section_len, char **response, size_t *response_len);

    /* -- appended in ABI 1.2 after record; the host reads them only when
     * def->size covers action (offsetof(action) + sizeof(void *)) -- */

    /* Optional: operator actions on the section's live traffic, for tests
     * and agents (SSE: publish an event to the subscribers of a path;
     * WebSocket: list the open connections, send to them, close them).
     * The host serves them as GET (reads) or POST (writes)
     * /api/v1/protocols/SECTION/actions/NAME?namespace=NS and through the
     * MCP tool protocol_action; GET /api/v1/protocols/SECTION lists them.
     * NULL-name terminated, or NULL. */
    const struct doppel_protocol_action *actions;
    /* Runs action `name` (one of `actions`) for namespace ns (never empty:
     * "sandbox" by default) once the caller is authorised for it. args is
     * the text of one JSON object (borrowed; "{}" when the caller sent
     * none): a POST's body, or a GET's query parameters as string members.
     * Writes one JSON object, svc->alloc'd, into *out and its length into
     * *out_len, and returns the HTTP status of the answer: 200..299, or
     * 400..499 with an object {"error": sentence, "field": member} (the
     * host adds "code"). Or returns a negative errno with *out left NULL
     * (the host answers 500). Any thread, possibly several at once, ctx a
     * section context as for check: connections live on the worker loops,
     * so the plugin reaches them through its shared state (svc->shared)
     * and svc->post. */
    int (*action)(struct doppel_ctx *ctx, const struct doppel_services *svc,
                  doppel_str_t ns, const char *name, const char *args,
                  size_t args_len, char **out, size_t *out_len);
    /* -- appended in ABI 1.2 after action; the host reads it only when
     * def->size covers it (offsetof(section_fields) + sizeof(void *)) -- */
    /* Optional: members of the section (NULL-terminated list, e.g. the
     * sse section's {"onStoreChange", NULL}) the engine hands to the
     * plugin in reply->extra as written (not rendered: templates in them
     * are the plugin's to render later, with svc->engine_render), beside
     * the rendered response_fields, whose names they must not share. For
     * settings that say what the plugin does after the match (events a
     * stream sends when a store changes). check validates them. */
    const char *const *section_fields;
} doppel_protocol_def_t;

/* One operator action of a section (doppel_protocol_def_t.actions). */
typedef struct doppel_protocol_action {
    const char *name;    /* [a-z][a-z0-9_]*, at most 32: "publish" */
    int writes;          /* 1: changes what clients get (POST, the editor
                            role of the namespace, audited as
                            protocols.action); 0: only reads (GET, the
                            viewer role) */
    const char *summary; /* one line for the listing and the MCP tool */
} doppel_protocol_action_t;

/* An engine session (svc->engine_session_open). */
typedef struct doppel_session doppel_session_t;

#ifdef __cplusplus
}
#endif
#endif /* DOPPEL_PROTOCOL_H */
