/*
 * The MCP plugin's internal interfaces.
 *
 * mcp_plugin.c  descriptor, options, mounts (/mcp on the main port and on
 * and the rest  the plugin's own port, /stubs/<ns>/mcp[/<server>]), sessions
 * of mcp_*.c    (shared by the instances of every worker), Streamable HTTP
 * (mcp_server.h) and the older HTTP+SSE transport, JSON-RPC framing and the
 *               methods initialize, ping, notifications, tools/list,
 *               tools/call (control server) and the mock MCP servers.
 * mcp_tools.c   the control server's tools: their table (name, description,
 *               input schema, annotations) and what each does, through
 *               svc->admin_call (the REST API's code path) or
 *               svc->http_fetch (http_request).
 *
 * Everything here runs on one instance's loop thread.
 */
#ifndef DOPPEL_MCP_INTERNAL_H
#define DOPPEL_MCP_INTERNAL_H

#include <jansson.h>

#include "doppel/plugin.h"

/* One plugin instance (one per worker); defined in mcp_plugin.c. */
typedef struct mcp_inst mcp_inst_t;

doppel_ctx_t *mcp_inst_ctx(mcp_inst_t *inst);
const doppel_services_t *mcp_inst_svc(mcp_inst_t *inst);

/* Who calls the control server, as established by mcp_plugin.c before a
 * tool runs (a user token; integration tokens are refused earlier). All
 * strings are owned by the caller of mcp_tool_call and outlive the call
 * (until done runs). */
typedef struct mcp_caller {
    doppel_kv_t credential; /* the header to pass on: X-API-Key or
                               Authorization, as the client sent it */
    const char *ns_header;  /* X-Doppel-Namespace, or NULL */
    const char *pinned_ns;  /* the token's pinned namespace, or NULL */
    const char *first_ns;   /* the user's first namespace, or NULL */
    /* Largest CallToolResult, serialised as compact JSON (the plugin's
     * tool_answer_bytes); 0: no limit. A list answer ({items: [...]}) over
     * it is cut to fit, with truncated, truncatedBy, hasMore and
     * nextOffset set; any other answer over it becomes an isError
     * result that names the budget. */
    size_t answer_max;
} mcp_caller_t;

/* The tools, as the "tools" array of a tools/list result: objects with
 * name, title, description, inputSchema and annotations (readOnlyHint,
 * destructiveHint, idempotentHint, openWorldHint). New reference. */
json_t *mcp_tools_list(void);

/* Called once with the CallToolResult object ({"content": [...],
 * "isError": bool, "structuredContent": ...}), a new reference that the
 * callee takes. */
typedef void (*mcp_tool_done_fn)(void *data, json_t *result);

/* Runs tool `name` with `args` (an object, borrowed until done). Returns
 * 0 and calls done once, later or before returning; or -ENOENT for an
 * unknown tool and -EINVAL when args do not fit the tool's input schema
 * (the caller answers JSON-RPC -32602 with *why, a static string), and
 * never calls done. A tool that fails calls done with isError true and a
 * message an agent can act on. */
int mcp_tool_call(mcp_inst_t *inst, const mcp_caller_t *who, const char *name,
                  json_t *args, mcp_tool_done_fn done, void *data,
                  const char **why);

#endif
