/*
 * The MCP plugin's transport side, shared by its files (not by mcp_tools.c,
 * which sees only mcp_internal.h):
 *
 *   mcp_plugin.c   descriptor, options, mounts, lifecycle, TICK
 *   mcp_session.c  the session table shared by every worker's instance
 *   mcp_http.c     Streamable HTTP, the older HTTP+SSE transport, HTTP-level
 *                  checks (Origin, Accept, Content-Type, size) and auth
 *   mcp_rpc.c      JSON-RPC framing, one POST's worth of messages (a call),
 *                  the control server's methods, answers
 *   mcp_stubs.c    the mock MCP servers' methods (through the engine)
 *
 * Threading: everything runs on the instance's loop thread, except the
 * session table (mcp_session.c), which any instance may use under its lock.
 */
#ifndef DOPPEL_MCP_SERVER_H
#define DOPPEL_MCP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/plugin.h"
#include "mcp_internal.h"

#define MCP_PLUGIN_VERSION "0.1.0"
#define MCP_SID_LEN 32     /* hex characters of a session id (128 bits) */
#define MCP_NAME_MAX 64    /* namespaces and server names */
#define MCP_VERSION_MAX 16 /* "2025-11-25" and its NUL, with room */
#define MCP_SCOPE_MAX (2 * MCP_NAME_MAX + 8)
#define MCP_MAX_BATCH 1000 /* the highest max_batch allowed */

/* JSON-RPC and transport error codes. -32000/-32001 follow what the
 * reference SDK servers send for transport problems. */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603
#define RPC_SERVER_ERROR -32000
#define RPC_SESSION_NOT_FOUND -32001
#define RPC_RESOURCE_NOT_FOUND -32002

typedef enum mcp_kind {
    MCP_KIND_CONTROL = 0, /* the control server (/mcp) */
    MCP_KIND_STUB = 1     /* a mock MCP server (/stubs/<ns>/mcp[/<name>]) */
} mcp_kind_t;

typedef enum mcp_sse_mode {
    MCP_SSE_AUTO = 0,   /* JSON unless the client accepts only SSE */
    MCP_SSE_ALWAYS = 1, /* SSE whenever the client accepts it */
    MCP_SSE_NEVER = 2   /* JSON whenever the client accepts it */
} mcp_sse_mode_t;

typedef struct mcp_shared mcp_shared_t;
typedef struct mcp_call mcp_call_t;
typedef struct mcp_stream mcp_stream_t;
typedef struct mcp_delay mcp_delay_t;

struct mcp_inst {
    doppel_ctx_t *ctx;
    const doppel_services_t *svc;
    mcp_shared_t *sessions; /* shared by the section's instances, or owned
                               (own_sessions) when the host has no
                               svc->shared */
    int own_sessions;

    /* Options; strings are host-owned and live until destroy. */
    const char *listen; /* NULL when "off" */
    const char *path;
    const char *stubs_prefix;
    int main_port, stubs;
    size_t max_message_bytes;
    size_t page_size;
    size_t max_batch;          /* messages in one batch */
    size_t batch_answer_bytes; /* answers of one batch, serialised */
    uint64_t batch_time_ms;    /* a batch starts no call after this */
    size_t tool_answer_bytes;  /* one tools/call result */
    int sse_mode;              /* mcp_sse_mode_t */
    uint64_t idle_timeout_ms;
    uint64_t keepalive_ms; /* HTTP+SSE comment on a quiet stream */
    const char *origins;   /* allowed_origins: comma list, "*", or "" */

    int stopping;
    int stop_waiting;      /* stop_done is due when the last call/handle ends */
    mcp_call_t *calls;     /* in flight on this instance */
    mcp_stream_t *streams; /* HTTP+SSE streams this instance owns */
    mcp_delay_t *delays;   /* delayed stub answers (timers) */
    size_t n_delay_handles; /* delay timers not yet closed */
};

/* ---- mcp_plugin.c -------------------------------------------------------- */

/* The loop's clock in milliseconds. */
uint64_t mcp_now_ms(mcp_inst_t *inst);

/* The session limits from the options: max_sessions and the sessions of
 * one kind a token may hold (session_share percent of it, at least 1). */
void mcp_session_limits(mcp_inst_t *inst, int *max, int *per_token);

/* Calls stop_done once nothing is in flight any more (after stop). */
void mcp_inst_maybe_stopped(mcp_inst_t *inst);

/* ---- mcp_session.c ------------------------------------------------------- */

/* Creates the table (also the svc->shared create function: arg is the
 * creating instance). */
void *mcp_sessions_new(void *arg);
void mcp_sessions_free(void *table);

typedef struct mcp_session_new {
    int kind;            /* mcp_kind_t */
    const char *token;   /* credential secret it is bound to; "" none */
    const char *scope;   /* "" control, "<ns>/<server>" mock server */
    const char *version; /* negotiated protocol version */
    mcp_inst_t *owner;   /* HTTP+SSE: the instance holding the stream */
    uint64_t now_ms;
    /* sessions of this kind one token may hold; 0 or >= max_sessions: no
     * share (mcp_session_limits gives the configured one) */
    int max_per_token;
} mcp_session_new_t;

/* Creates a session and writes its id (MCP_SID_LEN hex + NUL) to id.
 * A token already holding max_per_token sessions of the kind loses its
 * own least recently used one without a stream. Else, when the table is
 * full, the least recently used session without a stream of the kind's
 * biggest holder (most sessions) goes. Returns 0, -EBUSY (nothing that
 * may be evicted), -EINVAL (bad kind), -EIO (no randomness) or
 * -ENOMEM. */
int mcp_sessions_create(mcp_shared_t *t, const mcp_session_new_t *n,
                        int max_sessions, char *id);

/* Looks a session up for a request presenting id with this token and
 * scope, refreshes its idle time and copies its version (may be NULL).
 * *legacy (may be NULL) is set for an HTTP+SSE session. A session bound
 * to another token or scope is reported like an unknown one. Returns 0 or
 * -ENOENT. */
int mcp_sessions_use(mcp_shared_t *t, const char *id, const char *token,
                     const char *scope, uint64_t now_ms, char *version,
                     int *legacy);

/* Sets the negotiated version (initialize on an HTTP+SSE session). */
void mcp_sessions_set_version(mcp_shared_t *t, const char *id,
                              const char *version);

/* Ends a session (token and scope checked as for use). 0 or -ENOENT. */
int mcp_sessions_end(mcp_shared_t *t, const char *id, const char *token,
                     const char *scope);

/* Removes a session unconditionally (its stream is gone). */
void mcp_sessions_remove(mcp_shared_t *t, const char *id);

/* Hands text (a JSON-RPC message, copied) to the instance holding the
 * HTTP+SSE stream of session id, on that instance's loop (svc->post).
 * Returns 0, -ENOENT (no such stream session) or -ENOMEM/-ESHUTDOWN. */
int mcp_sessions_deliver(mcp_shared_t *t, mcp_inst_t *from, const char *id,
                         const char *text);

/* Drops idle sessions without a stream, last used before now - idle. */
void mcp_sessions_expire(mcp_shared_t *t, uint64_t now_ms, uint64_t idle_ms);

/* Removes every session whose stream inst holds (inst is stopping). */
void mcp_sessions_drop_owner(mcp_shared_t *t, mcp_inst_t *inst);

/* Number of sessions (tests, logs). */
size_t mcp_sessions_count(mcp_shared_t *t);

/* ---- mcp_http.c ---------------------------------------------------------- */

int mcp_control_handler(void *state, doppel_http_exchange_t *ex,
                        const doppel_http_request_t *req);
int mcp_stubs_classify(void *state, const doppel_http_request_t *req);
int mcp_stubs_handler(void *state, doppel_http_exchange_t *ex,
                      const doppel_http_request_t *req);

/* Writes a message to a stream this instance owns (mcp_sessions_deliver
 * lands here). */
void mcp_stream_send(mcp_inst_t *inst, const char *session, const char *text);
/* Keep-alive comments on quiet streams; ends streams whose write fails. */
void mcp_streams_tick(mcp_inst_t *inst);
/* Ends every stream (stop). */
void mcp_streams_close_all(mcp_inst_t *inst);

/* Answers an exchange with a JSON-RPC error object as body. id may be
 * NULL (null). extra: one more header or NULL. req (may be NULL): the
 * request being answered, for its CORS headers. */
void mcp_http_error(mcp_inst_t *inst, doppel_http_exchange_t *ex,
                    const doppel_http_request_t *req, int status, int code,
                    const char *message, json_t *id, const doppel_kv_t *extra);

/* Writes the CORS headers for an answer to req (NULL: none) into h, which
 * has room for MCP_CORS_MAX; their values borrow req's. Returns how many:
 * MCP_CORS_MAX when the request carries an allowed Origin, else 0. */
#define MCP_CORS_MAX 3
size_t mcp_cors_headers(mcp_inst_t *inst, const doppel_http_request_t *req,
                        doppel_kv_t *h);

/* ---- mcp_rpc.c ----------------------------------------------------------- */

struct mcp_call {
    mcp_inst_t *inst;
    int kind;   /* mcp_kind_t */
    int legacy; /* HTTP+SSE: answers go to the session's stream */
    doppel_http_exchange_t *ex;       /* NULL once answered */
    const doppel_http_request_t *req; /* valid while ex is held */
    int want_sse;                     /* answer as text/event-stream */
    char session[MCP_SID_LEN + 1];    /* "" when none */
    int new_session;                  /* created by this call */
    char version[MCP_VERSION_MAX];    /* effective protocol version */
    char scope[MCP_SCOPE_MAX];        /* "" or "<ns>/<server>" */
    char ns[MCP_NAME_MAX + 1];        /* mock server namespace */
    char server[MCP_NAME_MAX + 1];    /* mock server name, "" default */
    char *token;                      /* owned; "" when none */
    /* The control server's caller (owned strings), for mcp_tool_call. */
    char *cred_name, *cred_value, *ns_header, *pinned_ns, *first_ns;
    mcp_caller_t caller;
    void (*after_auth)(mcp_call_t *c); /* what to do once authenticated */
    json_t *msgs;                      /* parsed body, owned */
    int batch;                         /* msgs is an array */
    json_t *answers; /* owned array, one slot per message; null: none */
    size_t pending;  /* answers outstanding (+1 while holding) */
    int bad_single;  /* a lone invalid message: answered with HTTP 400 */
    /* Budgets of a batch (mcp_call_run): messages start in order from
     * next_msg; a control server batch starts one when the one before
     * has answered (sequential), so that batch_time_budget bounds it
     * whether tools answer now or later. */
    size_t next_msg;
    int sequential;
    int dispatching;         /* inside dispatch: answers do not restart it */
    int holding;             /* the +1 in pending until every message started */
    uint64_t started_ms;     /* CLOCK_MONOTONIC, when the call began running */
    size_t answer_bytes;     /* the answers so far, serialised */
    int bytes_spent;         /* an answer was dropped for batch_answer_bytes */
    mcp_call_t *prev, *next; /* inst->calls */
};

mcp_call_t *mcp_call_new(mcp_inst_t *inst, int kind, doppel_http_exchange_t *ex,
                         const doppel_http_request_t *req);
void mcp_call_free(mcp_call_t *c);

/* Validates and runs the parsed messages of c (c->msgs, c->batch set);
 * answers when every answer is in (maybe before returning) and frees c. */
void mcp_call_run(mcp_call_t *c);

/* One answer arrived for message slot i (a full JSON-RPC response object,
 * taken). Finishes the call when it was the last. */
void mcp_call_answer(mcp_call_t *c, size_t slot, json_t *answer);

/* JSON-RPC response objects (new references; id borrowed). */
json_t *mcp_rpc_result(json_t *id, json_t *result);
json_t *mcp_rpc_error(json_t *id, int code, const char *message, json_t *data);

/* Protocol versions. */
int mcp_version_supported(const char *v);
int mcp_version_allows_batch(const char *v);
extern const char *const mcp_latest_version;

/* Cursors for paged lists: encodes an offset, decodes one (-EINVAL). */
void mcp_cursor_encode(size_t offset, char *out, size_t cap);
int mcp_cursor_decode(const char *cursor, size_t *offset);
/* Pages array (borrowed) from params.cursor into result[key] and sets
 * nextCursor. Returns 0 or -EINVAL (bad cursor). */
int mcp_page(mcp_inst_t *inst, json_t *params, json_t *array, const char *key,
             json_t *result);

/* ---- mcp_stubs.c --------------------------------------------------------- */

/* Runs one request of a mock server (method not answered by mcp_rpc.c).
 * Answers slot through mcp_call_answer, now or after the mock's delay. */
void mcp_stub_request(mcp_call_t *c, size_t slot, const char *method,
                      json_t *id, json_t *params);

/* Answers every delayed stub answer now with an error (stop). */
void mcp_delays_cancel_all(mcp_inst_t *inst);

#endif
