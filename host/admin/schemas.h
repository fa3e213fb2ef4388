/*
 * Schema files of protocol plugins (ABI 1.2, protocol.h "Schema files"):
 * the files a plugin's mock section is checked against (.proto for grpc),
 * uploaded through /api/v1/schemas, stored durably per section and
 * namespace (storage.h, dp_schema_row_t), and handed to the plugin's
 * doppel_protocol_def_t (schema_put / schema_commit / schema_delete) when
 * uploaded and again at every start-up. Reference for users:
 * docs/admin-api.md, "Schema files".
 *
 * What this part needs from the registry of protocol definitions is one
 * lookup, dp_schema_def; it is implemented here over the host's plugin
 * instances and can be pointed at the engine's registry later.
 *
 * Threads: dp_schemas_replay runs on the main thread during start-up,
 * before any worker or admin call; the admin handlers run on the thread
 * pool. One schema call at a time per section (a mutex per section), as
 * protocol.h promises the plugin.
 */
#ifndef DP_ADMIN_SCHEMAS_H
#define DP_ADMIN_SCHEMAS_H

#include <stddef.h>

#include "doppel/plugin.h"
#include "engine/storage.h"

struct dp_host;
struct admin_call;

/* Longest schema file name (a relative path). */
#define DP_SCHEMA_NAME_MAX 256

/* The protocol definition whose mock section is `section`, of an enabled
 * plugin of ABI 1.2 or later, or NULL. *sctx (when not NULL) receives the
 * section context its callbacks get (a doppel_ctx_t with no worker, owned
 * here, alive until the process ends). The definition may lack schema
 * files (schema_kind NULL). Any thread, after dp_schemas_replay. */
const doppel_protocol_def_t *
dp_schema_def(struct dp_host *h, const char *section, doppel_ctx_t **sctx);

/* Start-up: makes the section contexts, reads every stored schema file
 * from st and hands the files of each (section, namespace) to the
 * section's schema_put, then schema_commit(ns, 1). A file the plugin
 * refuses now (a plugin upgrade, a file it imports refused) is logged and
 * kept in the store, listed with "loaded": false; the files of a section
 * with no enabled plugin stay stored and unused. Also attaches h for the
 * admin API, which answers 404 for every section until this ran. Main
 * thread, after the plugins are loaded and before dp_engine_open (which
 * compiles the stored mocks against these schemas). The size limit of
 * one file is [server] template_file_max. Returns 0, or -ENOMEM / a
 * storage error (logged), after which the host must not start. */
int dp_schemas_replay(struct dp_host *h, dp_storage_t *st);

/* 1 when name is a valid schema file name: 1 to DP_SCHEMA_NAME_MAX bytes
 * of '/'-separated segments of [A-Za-z0-9._-], no empty, "." or ".."
 * segment (so no leading or trailing '/'). */
int dp_schema_name_valid(const char *name, size_t len);

/* ---- Admin API handlers (routes in admin_api.c) ------------------------
 * GET    /schemas/SECTION            list of the namespace's files
 * POST   /schemas/SECTION            {"files": {NAME: CONTENT, ...}} batch
 * GET    /schemas/SECTION/NAME       the content, text/plain
 * PUT    /schemas/SECTION/NAME       body = the content (any type)
 * DELETE /schemas/SECTION/NAME */
void admin_schemas_list(struct admin_call *c);
void admin_schemas_batch(struct admin_call *c);
void admin_schemas_get(struct admin_call *c);
void admin_schemas_put(struct admin_call *c);
void admin_schemas_delete(struct admin_call *c);

/* GET /protocols            {"protocols": [{"section", "schemaKind",
 *                           "describes", "actions"}]}: built-in http and mcp, then the
 *                           enabled plugins' sections
 * GET /protocols/SECTION    {"section", "namespace", "schemaKind",
 *                           "defines"}: the def's describe for the
 *                           namespace (null without one); 404 for a section
 *                           no enabled plugin has */
void admin_protocols_list(struct admin_call *c);
void admin_protocols_get(struct admin_call *c);
/* GET (reads) | POST (writes) /protocols/SECTION/actions/NAME: the
 *                           plugin's operator action (protocol.h
 *                           `action`) for the namespace; its answer as the
 *                           plugin wrote it; 404 for an unknown section or
 *                           action, 405 for the other method */
void admin_protocols_action(struct admin_call *c);

#endif
