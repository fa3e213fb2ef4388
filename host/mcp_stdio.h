/*
 * `doppel mcp --stdio`: a bridge for desktop MCP clients that spawn a
 * command. Newline-delimited JSON-RPC messages on stdin are POSTed one at a
 * time to a Streamable HTTP MCP endpoint; every JSON-RPC message of the
 * answers (application/json or text/event-stream) is written as one line to
 * stdout. Logs go to stderr only: stdout is the protocol.
 *
 * Threading: one thread; one request at a time (libcurl's easy interface).
 */
#ifndef DP_MCP_STDIO_H
#define DP_MCP_STDIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct dp_mcp_stdio_cfg {
    const char *url;   /* http:// or https:// endpoint, "http://h:5772/mcp" */
    const char *token; /* "mk_..." sent as X-API-Key, or "Bearer mk_..." sent
                          as Authorization; NULL: none */
    const char *ns;    /* X-Doppel-Namespace, or NULL */
} dp_mcp_stdio_cfg_t;

/* Runs the bridge until in reaches EOF (then ends the session with DELETE)
 * and returns the exit status: 0, or 1 when out cannot be written. */
int dp_mcp_stdio_run(const dp_mcp_stdio_cfg_t *cfg, FILE *in, FILE *out);

/* ---- Server-sent events (exposed for tests) ----------------------------
 * An incremental parser of text/event-stream (WHATWG rules): lines end in
 * LF, CRLF or CR; "data:" lines (one leading space dropped) are joined with
 * LF; a blank line dispatches the event if it has data; comments (":") and
 * other fields are ignored; a last event without its blank line is
 * discarded at the end of the stream. */
typedef void (*dp_sse_event_fn)(void *ud, const char *data, size_t len);

typedef struct dp_sse {
    char *line; /* the line being read, owned */
    size_t line_len, line_cap;
    char *data; /* data of the event being read, owned */
    size_t data_len, data_cap;
    int has_data;
    int after_cr; /* the last byte was CR: a following LF ends nothing */
    size_t max;   /* line and event size cap; over it the event is dropped */
    int overflow;
    dp_sse_event_fn fn;
    void *ud;
} dp_sse_t;

void dp_sse_init(dp_sse_t *p, size_t max, dp_sse_event_fn fn, void *ud);
/* Feeds bytes; calls fn for each complete event. 0 or -ENOMEM. */
int dp_sse_feed(dp_sse_t *p, const char *buf, size_t len);
void dp_sse_free(dp_sse_t *p);

#endif
