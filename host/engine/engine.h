/*
 * The shared matching and store engine.
 *
 * One dp_engine_t per process, shared by every worker. The compiled index is
 * immutable: a write builds a new index and publishes it with an atomic
 * pointer swap; readers (dp_engine_match) take a reference without waiting
 * on writers (reference counting / epoch). Writers are serialised by one
 * mutex and persist through dp_storage_t before they return, so whatever a
 * write function acknowledged (returned 0) survives kill -9.
 *
 * Mutable per-mock runtime state (useCounter, oneOf cursor, lastUse) lives
 * outside the immutable index in atomics. Stores (global per namespace, chain
 * per chainId, mock per mock) are shared maps behind short locks. Changes
 * made by request traffic (extract, $.increment, counters) are persisted
 * asynchronously by dp_engine_flush, which the host calls once a second and
 * at shutdown; changes made through the admin API are persisted before the
 * call returns.
 *
 * Mocks are JSON objects (see docs/mock-format.md). The engine keeps unknown
 * keys, sets id (when absent), namespace (default "sandbox"), createdAt,
 * lastUse, expireAt (createdAt + ttl), closedAt, useCounter and mirrors the
 * server-set fields under "_meta" on reads.
 */
#ifndef DP_ENGINE_H
#define DP_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "doppel/engine.h"
#include "doppel/http.h"
#include "dp_error.h"
#include "storage.h"

typedef struct dp_engine dp_engine_t;

/* ---- Protocol sections (ABI 1.2) ----------------------------------------
 * The handlers of the mocks' protocol sections: http and mcp built in, then
 * the sections plugins register (doppel_plugin_t.protocol) before the
 * engine is opened, so stored mocks of them compile at start-up. Any
 * number of sections; the index is sized by the registry. */
typedef struct dp_protos dp_protos_t;
struct doppel_protocol_def;
struct doppel_ctx;
struct doppel_services;

/* A registry holding http and mcp; NULL on ENOMEM. */
dp_protos_t *dp_protos_new(void);
/* Registers def (borrowed: it lives in the plugin, which stays loaded
 * while the engine is open), whose callbacks get ctx (a section ctx) and
 * svc (the services table). owner names the plugin instance in messages.
 * 0; -EEXIST when the section is taken (http, mcp, or another plugin's:
 * err says by whom); -EINVAL for a def that is not valid (err says why);
 * -ENOMEM. Before dp_engine_open only: the registry is read without locks
 * from then on. */
int dp_protos_add(dp_protos_t *r, const struct doppel_protocol_def *def,
                  struct doppel_ctx *ctx, const struct doppel_services *svc,
                  const char *owner, char *err, size_t errlen);
/* The def registered for section (and its section ctx in *ctx, may be
 * NULL), or NULL: for the admin API's schema files. */
const struct doppel_protocol_def *dp_protos_def(const dp_protos_t *r,
                                                const char *section,
                                                struct doppel_ctx **ctx);
/* Frees r; after dp_engine_close of every engine that used it. */
void dp_protos_free(dp_protos_t *r);

typedef struct dp_engine_cfg {
    size_t journal_size;   /* entries kept per namespace, default 10000 */
    size_t unmatched_size; /* entries kept per namespace, default 10000 */
    size_t journal_body_max; /* bytes of a body kept in the journal, 4096 */
    uint64_t seed;         /* 0: random; fixed seeds make fakers repeatable */
    /* Record and replay (record.c, upstream.c; docs/record-replay.md) */
    int default_mode;           /* DP_MODE_*; 0: DP_MODE_SPY */
    size_t record_body_max;     /* bytes of a recorded body kept, 1 MiB */
    size_t record_sequence_max; /* responses of a recorded oneOf, 100 */
    size_t coverage_miss_max;   /* endpoints kept in the miss table, 1000 */
    /* What request traffic can make the engine hold and send
     * (docs/engine.md, "Limits"); 0: the default. */
    size_t store_value_max;  /* bytes of one store entry, 1 MiB */
    size_t store_total_max;  /* bytes of one namespace's stores, 64 MiB */
    size_t response_max;     /* bytes of a rendered answer, 16 MiB */
    size_t journal_bytes_max; /* bytes of each ring (journal, unmatched)
                                 over every namespace, 64 MiB */
    /* Extra credential header names, comma-separated, case-insensitive:
     * redacted like Authorization in recordings and the journal. Borrowed
     * for dp_engine_open only (copied). NULL: none. */
    const char *redact_headers;
    /* bytes of one response template file (template_file_max), 1 MiB */
    size_t tfile_max;
    /* Versions kept per mock (every write of a mock keeps the mock as it
     * was written; the newest this many stay). Default 20, 0: none, at
     * most 1000. A back end without versions keeps none. */
    int mock_versions_max;
    /* The protocol sections (borrowed until dp_engine_close); NULL: http
     * and mcp only. */
    const dp_protos_t *protos;
} dp_engine_cfg_t;

void dp_engine_cfg_default(dp_engine_cfg_t *c);

/* Loads every mock and store entry from st (the engine owns st from here
 * on, even on failure). */
int dp_engine_open(const dp_engine_cfg_t *cfg, dp_storage_t *st,
                   dp_engine_t **out, dp_err_t *err);
void dp_engine_close(dp_engine_t *e); /* flushes, then closes storage */

/* Persists request-driven changes (stores, counters). */
int dp_engine_flush(dp_engine_t *e);

/* ---- Audit rows in the transaction of the change ------------------------
 * An admin call sets the audit rows of the change it is about to make (one
 * per namespace it reaches); the next engine write on the same thread that
 * reaches storage (mocks, their store rows, closes, purges, stores,
 * resets) writes the rows in the same transaction as its own rows, when
 * the back end can group them (group_begin and audit_put; SQLite can). If
 * a row cannot be written, the write fails with 500 "audit write failed"
 * and nothing is changed. written tells the caller that the rows are
 * stored (so it must not write them again); 0 after the call means no
 * write reached storage, or the back end cannot group, and the caller
 * audits by itself. Thread-local: the rows are borrowed until
 * dp_engine_audit_end on the same thread. */
typedef struct dp_engine_audit {
    const dp_audit_row_t *rows;
    size_t n_rows;
    size_t keep; /* audit rows kept (0: all) */
    int written; /* out */
} dp_engine_audit_t;

void dp_engine_audit_begin(dp_engine_audit_t *a);
void dp_engine_audit_end(void);

/* ---- Storage writes of other parts of the host -------------------------
 * Runs fn(st, arg) on the engine's store under its writer lock, in one
 * transaction with this thread's audit rows (as the engine's own writes):
 * everything fn wrote and the rows commit together, or nothing does.
 * fn returns 0 or a negative errno (which rolls back). Used for the schema
 * files of protocol plugins (host/admin/admin_schemas.c), whose rows the
 * engine does not interpret. Returns 0, fn's error, or a storage/audit
 * error with err filled (500). Any thread; fn must not call the engine. */
typedef int (*dp_engine_storage_fn)(dp_storage_t *st, void *arg);
int dp_engine_storage_tx(dp_engine_t *e, dp_engine_storage_fn fn, void *arg,
                         dp_err_t *err);

/* ---- Mocks (any thread) ------------------------------------------------
 * ns: namespace to use when the mock has none (NULL: "sandbox").
 * On error: negative errno and err filled (status 400 validation with the
 * field path, 404 not_found, 500 internal); nothing was changed. Returned
 * JSON is a new reference the caller decrefs. */

int dp_engine_mock_put(dp_engine_t *e, const json_t *mock, const char *ns,
                       json_t **stored, int *overwritten, dp_err_t *err);
/* All or nothing: either every mock is valid and stored, or none is. err
 * fields are prefixed with the index ("[3].http.route"). Returns the stored
 * mocks as an array. */
int dp_engine_mock_put_batch(dp_engine_t *e, const json_t *mocks,
                             const char *ns, json_t **stored, dp_err_t *err);
/* Dry run of put: the errors put would give, nothing stored. */
int dp_engine_mock_validate(dp_engine_t *e, const json_t *mock,
                            const char *ns, dp_err_t *err);
int dp_engine_mock_get(dp_engine_t *e, const char *id, json_t **out,
                       dp_err_t *err);
/* Renders tmpl (any JSON value whose strings may hold expressions, as a
 * mock's response payload) against a sample request, read-only:
 * request {method, path, headers, query, pathParams, body} (every member
 * optional; headers, query and pathParams objects of strings or arrays of
 * strings; body any JSON value, what $.req reads). Store reads see the
 * global store of ns (NULL: "sandbox"); chain and mock stores render
 * empty; $.increment yields what it would store and stores nothing.
 * *out: a new reference. Errors: -EINVAL with err naming the field
 * ("template.user.name": where in the template; "request.query"),
 * -ENOMEM. (templates/render of the admin API.) */
int dp_engine_render_template(dp_engine_t *e, const char *ns,
                              const json_t *tmpl, const json_t *request,
                              json_t **out, dp_err_t *err);
/* Merge-patch (RFC 7386) of the stored mock, validated as a whole. id and
 * server-set fields cannot be patched. */
int dp_engine_mock_patch(dp_engine_t *e, const char *id, const json_t *patch,
                         json_t **out, dp_err_t *err);
/* Soft delete (sets closedAt, stops matching) and its undo. */
int dp_engine_mock_close(dp_engine_t *e, const char *id, json_t **out,
                         dp_err_t *err);
int dp_engine_mock_restore(dp_engine_t *e, const char *id, json_t **out,
                           dp_err_t *err);
/* Removes for good. */
int dp_engine_mock_purge(dp_engine_t *e, const char *id, dp_err_t *err);
/* Soft-deletes every id in the array (all or nothing: an unknown id is a
 * 404 naming it and nothing changes). *closed receives the count. */
int dp_engine_mock_close_batch(dp_engine_t *e, const json_t *ids,
                               size_t *closed, dp_err_t *err);

/* Restores every id in the array, all or nothing, like close_batch. */
int dp_engine_mock_restore_batch(dp_engine_t *e, const json_t *ids,
                                 size_t *restored, dp_err_t *err);
/* Merge-patches (as dp_engine_mock_patch) mock ids[i] with patches[i],
 * all or nothing and in one commit: every patched mock is valid and
 * stored, or none is. err fields are prefixed with the index ("[2].tags").
 * *out: the patched mocks as an array (new reference). */
int dp_engine_mock_patch_batch(dp_engine_t *e, const json_t *ids,
                               const json_t *patches, json_t **out,
                               dp_err_t *err);
/* Copies every id into namespace ns as new mocks (new ids, counters and
 * times start over; everything else as stored), all or nothing. *out: the
 * copies as an array, in the order of ids. */
int dp_engine_mock_copy_batch(dp_engine_t *e, const json_t *ids,
                              const char *ns, json_t **out, dp_err_t *err);

/* ---- Versions of a mock -------------------------------------------------
 * Every write of a mock (create, put over its id, PATCH, batch writes,
 * close and restore, a version restore) keeps the mock as written as its
 * next version, numbered from 1, in the same storage transaction as the
 * mock; the newest cfg.mock_versions_max stay; a purge or a reset drops
 * them. A mock stored before versions were kept gets its stored form as
 * version 1 at its first write. */

/* Who makes the writes of this thread from now on (a user or token name,
 * kept with the versions they write; borrowed until the next call); NULL:
 * nobody known. The admin API sets it around each call. */
void dp_engine_set_actor(const char *who);
/* {id, namespace, current, versionsMax, total, items: [{version,
 * createdAt (unix ms), changedBy, summary, current}]} newest first. 404
 * for an unknown id. */
int dp_engine_mock_versions(dp_engine_t *e, const char *id, json_t **out,
                            dp_err_t *err);
/* The mock as version `version` stored it (new ref). 404 (field
 * "version") when that version is not kept. */
int dp_engine_mock_version_get(dp_engine_t *e, const char *id, int64_t version,
                               json_t **out, dp_err_t *err);
/* Writes version `version` back as the mock (its client fields; the
 * mock keeps its namespace, createdAt, counters and closed state), which
 * keeps a new version. *out: the mock now stored (new ref). */
int dp_engine_mock_version_restore(dp_engine_t *e, const char *id,
                                   int64_t version, json_t **out,
                                   dp_err_t *err);

/* ---- Tags (catalog.c) ---------------------------------------------------
 * The tags of the mocks, and tags registered ahead of any mock (settings
 * rows of kind "tag": kept by a namespace reset, like services). */

/* {namespace: {tag: count}}: how many mocks that are not soft-deleted
 * carry each tag, registered tags with 0 when no such mock does; ns NULL:
 * every namespace. *out: a new reference. 0 or -ENOMEM. */
int dp_engine_tag_counts(dp_engine_t *e, const char *ns, json_t **out);
/* Registers tag name (1 to 128 bytes of UTF-8 with no control character)
 * in ns, persisted before it returns. *created: 1 when new, 0 when it was
 * registered already. At most DP_TAGS_MAX per namespace (409 beyond).
 * Errors: 400 (field "name"), 409 limit, 500 storage. */
#define DP_TAGS_MAX 10000
int dp_engine_tag_register(dp_engine_t *e, const char *ns, const char *name,
                           int *created, dp_err_t *err);

/* ---- Mock folders (catalog.c) -------------------------------------------
 * A tree of folders per namespace: {id, name, parentId (null: top level),
 * namespace, createdAt}, persisted as settings rows of kind "folder" (kept
 * by a namespace reset). A mock joins a folder with its top-level
 * "folderId" (kept as written). Errors: 400 (field), 404 (field "id" or
 * "parentId"), 409 conflict. *out: a new reference. */
#define DP_FOLDERS_MAX 10000 /* per namespace */
/* {items: [...], total} sorted by namespace, name, id; ns NULL: all. */
int dp_engine_folders(dp_engine_t *e, const char *ns, json_t **out);
int dp_engine_folder_get(dp_engine_t *e, const char *id, json_t **out,
                         dp_err_t *err);
/* parent_id NULL: top level; it must be a folder of ns (404 parentId). */
int dp_engine_folder_create(dp_engine_t *e, const char *ns, const char *name,
                            const char *parent_id, json_t **out,
                            dp_err_t *err);
int dp_engine_folder_rename(dp_engine_t *e, const char *id, const char *name,
                            json_t **out, dp_err_t *err);
/* Under parent_id (NULL: top level) of the same namespace; the folder
 * itself or one of its descendants is 409. */
int dp_engine_folder_move(dp_engine_t *e, const char *id,
                          const char *parent_id, json_t **out, dp_err_t *err);
/* A folder with subfolders or mocks is 409 unless recursive: then its
 * subtree goes and the mocks of the subtree leave their folder (their
 * folderId removed, in one mock commit made first). *moved: those mocks. */
int dp_engine_folder_delete(dp_engine_t *e, const char *id, int recursive,
                            size_t *moved, dp_err_t *err);

typedef struct dp_mock_query {
    const char *ns;      /* NULL: every namespace */
    const char *const *tags; /* every tag must be present */
    size_t n_tags;
    const char *search;  /* substring of id, route/target or tags */
    int include_closed;  /* also list soft-deleted mocks */
    const char *chain_id; /* only the mocks of this chainId (NULL: any) */
    /* Only the http mocks that answer this method (their httpMethod,
     * case-insensitive, or none / "*" / "ANY"); NULL: any mock. */
    const char *method;
    /* Only the mocks of one of these services: the mock's "service" field
     * or a "service:<name>" tag (what recordings carry). */
    const char *const *services;
    size_t n_services;
    size_t offset;
    size_t limit;        /* 0: 100; capped at 1000 */
} dp_mock_query_t;

/* {items, total, offset, limit, hasMore}, items sorted by createdAt then id. */
int dp_engine_mock_list(dp_engine_t *e, const dp_mock_query_t *q, json_t **out,
                        dp_err_t *err);

/* ---- Stores ------------------------------------------------------------
 * scope: DP_SCOPE_GLOBAL (owner ignored) or DP_SCOPE_CHAIN (owner = chainId)
 * or DP_SCOPE_MOCK (owner = mock id). key NULL in get: the whole store as an
 * object. Persisted before return. */

int dp_engine_store_get(dp_engine_t *e, const char *ns, char scope,
                        const char *owner, const char *key, json_t **out,
                        dp_err_t *err);
int dp_engine_store_set(dp_engine_t *e, const char *ns, char scope,
                        const char *owner, const char *key,
                        const json_t *value, dp_err_t *err);
int dp_engine_store_delete(dp_engine_t *e, const char *ns, char scope,
                           const char *owner, const char *key, dp_err_t *err);

/* ---- Journal and unmatched list ---------------------------------------
 * Bounded rings; newest first. ns NULL: every namespace. Output:
 * {items, total, offset, limit, hasMore}. Unmatched items carry the near
 * misses ("nearMisses": [{mockId, route, failed: [{where, path, reason}]}]). */

int dp_engine_journal(dp_engine_t *e, const char *ns, size_t offset,
                      size_t limit, json_t **out);
/* The journal entries naming one connection (what came in on it and what
 * was sent, engine_journal): a connection's conversation, newest first. */
int dp_engine_journal_conn(dp_engine_t *e, const char *ns, const char *conn,
                           size_t offset, size_t limit, json_t **out);
void dp_engine_journal_clear(dp_engine_t *e, const char *ns);
int dp_engine_unmatched(dp_engine_t *e, const char *ns, size_t offset,
                        size_t limit, json_t **out);
void dp_engine_unmatched_clear(dp_engine_t *e, const char *ns);
/* Every entry carries "id" (a decimal string, unique in the process) and
 * "ignored". The list without the ignored entries unless include_ignored
 * (dp_engine_unmatched lists them all). */
int dp_engine_unmatched_ex(dp_engine_t *e, const char *ns, int include_ignored,
                           size_t offset, size_t limit, json_t **out);
/* One unmatched entry by id: 0 with *out (a new reference), or -ENOENT
 * when the list holds none (an id that is not a number included). */
int dp_engine_unmatched_get(dp_engine_t *e, const char *id, json_t **out);
/* Hides the entry from the lists that skip ignored entries (ignored 0
 * shows it again). 0 or -ENOENT. */
int dp_engine_unmatched_ignore(dp_engine_t *e, const char *id, int ignored);
/* The journal entries mock id answered (newest first, paged), and their
 * removal (*removed: how many). 0 or -ENOMEM. */
int dp_engine_mock_journal(dp_engine_t *e, const char *id, size_t offset,
                           size_t limit, json_t **out);
void dp_engine_mock_journal_clear(dp_engine_t *e, const char *id,
                                  size_t *removed);
/* {namespace: entries held} of the journal and of the unmatched list (the
 * rings' contents, not counts since start). *out: a new reference; 0 or
 * -ENOMEM. */
int dp_engine_journal_counts(dp_engine_t *e, json_t **out);
int dp_engine_unmatched_counts(dp_engine_t *e, json_t **out);
/* Entries ever recorded in the journal and the unmatched list since start
 * (every namespace; dropped and cleared ones included). */
void dp_engine_request_totals(dp_engine_t *e, uint64_t *journal,
                              uint64_t *unmatched);

/* Clears mocks, stores, journal and unmatched entries (and the coverage
 * misses) of one namespace; its services and modes stay. */
int dp_engine_reset(dp_engine_t *e, const char *ns, dp_err_t *err);
/* The namespaces that hold anything a reset clears (a mock, a store
 * entry, a journal or unmatched entry), sorted: a new array in *out.
 * 0 or -ENOMEM. */
int dp_engine_namespaces(dp_engine_t *e, json_t **out);

/* ---- Response template files (template_files.c) -------------------------
 * Named texts of a namespace that mocks use as response.payloadTemplatePath
 * and as a condition's valueFromFile (docs/templates.md). A mock reads a
 * file when it is compiled (stored, or its file replaced), never per
 * request. Names: dp_tfile_name_valid (engine_internal.h). Writes are
 * persisted before they return; the namespace reset leaves files alone. */

/* {items: [{name, namespace, size, updatedAt}] sorted by name, total}. */
int dp_engine_tfile_list(dp_engine_t *e, const char *ns, json_t **out,
                         dp_err_t *err);
/* {name, namespace, size, updatedAt, content, usedBy: [mock ids]}; 404
 * when absent. */
int dp_engine_tfile_get(dp_engine_t *e, const char *ns, const char *name,
                        json_t **out, dp_err_t *err);
enum { DP_TFILE_CREATE = 1, DP_TFILE_REPLACE = 2 };
/* Creates (409 when the name is taken) or replaces (404 when absent) the
 * file ns/name with content (len bytes of UTF-8 text, no NUL byte, at
 * most tfile_max). A replace recompiles every mock of ns that uses the
 * file in the same write: if one of them does not compile with the new
 * content, nothing changes and the error names the mock. *out (may be
 * NULL): {name, namespace, size, updatedAt, recompiled: [mock ids]}. */
int dp_engine_tfile_put(dp_engine_t *e, const char *ns, const char *name,
                        const char *content, size_t len, int mode,
                        json_t **out, dp_err_t *err);
/* Removes the file; 409 naming the mocks (soft-deleted ones included)
 * that still use it, 404 when absent. */
int dp_engine_tfile_delete(dp_engine_t *e, const char *ns, const char *name,
                           dp_err_t *err);

/* ---- The request path (any thread, never waits on a writer) ------------ */

/* Matches x, renders the response, applies extract, records the journal or
 * unmatched entry. *out is always set on 0; free with dp_engine_reply_free.
 * No match: kind DOPPEL_REPLY_NO_MATCH, status 404, body
 * {"error": "no mock matched", "code": "not_found", "nearMisses": [...]}. */
int dp_engine_match(dp_engine_t *e, const doppel_exchange_t *x,
                    doppel_reply_t **out);
void dp_engine_reply_free(doppel_reply_t *r);

/* dp_engine_match with flags:
 *   DP_MATCH_DEFER_FORWARD  a PROXY reply's journal entry is not written at
 *       match time (with status 0) but kept in the reply until the caller
 *       reports how the forward ended (dp_engine_forwarded); a reply freed
 *       unreported is journalled at the free, with status 0. For plugins
 *       built against ABI >= 1.1 (the engine_forwarded service). */
#define DP_MATCH_DEFER_FORWARD 0x1u
int dp_engine_match_ex(dp_engine_t *e, const doppel_exchange_t *x,
                       unsigned flags, doppel_reply_t **out);

/* Journals a deferred PROXY reply's entry: status is what the client got
 * (100..599), reason NULL / "" when the upstream answered, else a word of
 * [a-z_]{1,15} ("guard", "timeout"). Latency runs from the match to this
 * call. Any thread (the reply's owner's). 0, -EINVAL (not a PROXY reply,
 * bad status or reason; nothing journalled) or -EALREADY (reported
 * before, or not deferred). */
int dp_engine_forwarded(doppel_reply_t *r, int status, const char *reason);

/* Journals a note of a plugin (svc->engine_journal): what it sent on a
 * connection (DOPPEL_NOTE_SENT) or how a stream ended (DOPPEL_NOTE_END),
 * in the journal of n->ns, bounded like every entry. Any thread. 0,
 * -EINVAL (no protocol, bad namespace, kind or reason; nothing
 * journalled) or -ENOMEM. */
int dp_engine_journal_note(dp_engine_t *e, const doppel_journal_note_t *n);

/* A reply that is not the engine's answer to a match (kind NO_MATCH, the
 * given status, body {"error", "code", "request_id"}): for refusals made
 * before matching, such as a namespace that requires a token. Free with
 * dp_engine_reply_free. 0 or -ENOMEM. */
int dp_engine_reply_error(int status, const char *code, const char *message,
                          doppel_str_t request_id, doppel_reply_t **out);
/* The same with a Retry-After header of retry_after_s seconds (none when
 * 0), for a 429 or 503 refusal. */
int dp_engine_reply_refusal(int status, const char *code, const char *message,
                            doppel_str_t request_id, unsigned retry_after_s,
                            doppel_reply_t **out);

/* ---- Engine sessions (ABI 1.2; session.c) -------------------------------
 * The state one long-lived stream (a gRPC streaming call, a WebSocket
 * connection) keeps across its messages: a store scope 's' ("session":
 * extract sStore writes it, $.sS.key and conditions on $.session.store.key
 * read it; in memory only), the message count ($.session.count, 1 for the
 * first message given to dp_engine_session_match) and the cursors of
 * ordered oneOf mocks, which advance per session. Thread: a session is
 * used by one thread at a time (the loop that opened it); different
 * sessions run on any threads at once. */
typedef struct dp_session dp_session_t;

/* x borrowed for the call: protocol, ns, operation, target, metadata,
 * remote_addr and request_id are copied as the defaults of every message.
 * 0 or -EINVAL / -ENOMEM. */
int dp_engine_session_open(dp_engine_t *e, const doppel_exchange_t *x,
                           dp_session_t **out);
/* dp_engine_match_ex of one message with the session's state; x's empty
 * protocol, ns, operation, target, metadata, remote_addr and request_id
 * are the session's. */
int dp_engine_session_match(dp_session_t *s, const doppel_exchange_t *x,
                            unsigned flags, doppel_reply_t **out);
/* The defaults of the session's messages (what open copied). */
const doppel_exchange_t *dp_engine_session_exchange(const dp_session_t *s);
/* The messages matched through s so far. */
uint64_t dp_engine_session_count(const dp_session_t *s);
/* Frees s and its state. NULL is a no-op. */
void dp_engine_session_close(dp_session_t *s);

/* ---- Record and replay: services, modes, recordings, coverage ---------
 * A service is a named upstream of a namespace: {name, target, pathPrefix,
 * timeoutMs, tlsVerify, mode, recordHeaders, missStatus, createdAt}. HTTP
 * requests under its pathPrefix follow its effective mode (its own, else the
 * namespace's, else cfg.default_mode):
 *   PASSTHROUGH  a PROXY reply to the upstream, nothing recorded
 *   LEARN        a PROXY reply with DOPPEL_REPLY_F_RECORD: the plugin hands
 *                the upstream's answer to dp_engine_record
 *   MOCK         mocks only; a miss answers missStatus with X-Doppel-Miss
 *                (DOPPEL_REPLY_F_MISS) and enters the unmatched list and
 *                the coverage miss table
 *   SPY          mocks when one matches, else a PROXY reply (no recording)
 * Services and modes are persisted before the calls return; the serving
 * path reads an immutable snapshot published like the match index.
 * ns NULL or "" means "sandbox". Errors as for mocks (400 with the field,
 * 404, 409 conflict). */
enum {
    DP_MODE_NONE = 0, /* no override: inherit */
    DP_MODE_PASSTHROUGH = 1,
    DP_MODE_LEARN = 2,
    DP_MODE_MOCK = 3,
    DP_MODE_SPY = 4
};

/* "PASSTHROUGH", ... ; NULL for DP_MODE_NONE or an unknown value. */
const char *dp_mode_name(int mode);
/* Case-insensitive; returns DP_MODE_* or 0 when s names no mode. */
int dp_mode_parse(const char *s);

/* Creates a service from body (the POST /api/v1/services object); 409 when
 * the namespace has one of that name or pathPrefix. *out: the stored
 * service (new ref), may be NULL. */
int dp_engine_service_create(dp_engine_t *e, const char *ns, const json_t *body,
                             json_t **out, dp_err_t *err);
int dp_engine_service_get(dp_engine_t *e, const char *ns, const char *name,
                          json_t **out, dp_err_t *err);
/* {items: [...], total} sorted by name. */
int dp_engine_service_list(dp_engine_t *e, const char *ns, json_t **out,
                           dp_err_t *err);
/* Removes the service; its recorded mocks stay (they are ordinary mocks). */
int dp_engine_service_delete(dp_engine_t *e, const char *ns, const char *name,
                             dp_err_t *err);
/* mode: a mode name, or NULL / JSON null to inherit the namespace's. */
int dp_engine_service_set_mode(dp_engine_t *e, const char *ns, const char *name,
                               const char *mode, json_t **out, dp_err_t *err);
/* {namespace, mode, explicit, default, services: [{name, mode,
 * effectiveMode}]} */
int dp_engine_mode_get(dp_engine_t *e, const char *ns, json_t **out,
                       dp_err_t *err);
int dp_engine_mode_set(dp_engine_t *e, const char *ns, const char *mode,
                       json_t **out, dp_err_t *err);

/* Records one forwarded LEARN exchange as a mock (see engine_record in
 * doppel/plugin.h). Serialised with other recordings; persisted before it
 * returns. -EINVAL when r is not a recording PROXY reply, -ENOENT when the
 * service is gone, -EPROTO for an upstream status outside 100..599. */
int dp_engine_record(dp_engine_t *e, const doppel_exchange_t *x,
                     const doppel_reply_t *r, const doppel_fetch_result_t *res,
                     dp_err_t *err);

/* {namespace, services: [{name, mode, recordedMocks, hits, lastSeen,
 * endpoints: [{method, path, recordedMocks, responses, hits, lastSeen}],
 * misses: [{method, path, count, lastSeen}]}]}; service NULL: all. */
int dp_engine_coverage(dp_engine_t *e, const char *ns, const char *service,
                       json_t **out, dp_err_t *err);

/* 1 when a header name (any case) is redacted: the built-in credential
 * headers and cfg.redact_headers. */
int dp_engine_header_redacted(const dp_engine_t *e, const char *name,
                              size_t len);

/* ---- Change notifications ---------------------------------------------
 * Called after each change took effect (persisted, published), on the
 * thread that made it; for mock changes with the engine's writer lock held,
 * so a listener must not call back into the engine. A listener only copies
 * what it needs and hands it on (the host posts events to its workers).
 * change: 1 created, 2 replaced, 3 closed, 4 restored, 5 purged (also by a
 * reset) - the numbers of doppel_mock_event_t. Store changes come from the
 * admin API and from request traffic (extract, $.increment); scope is
 * "global", "chain:<id>" or "mock:<id>". */
typedef struct dp_engine_listener {
    void (*mock_changed)(void *ud, const char *ns, const char *id,
                         unsigned change);
    void (*store_changed)(void *ud, const char *ns, const char *scope,
                          const char *key);
    void *ud;
} dp_engine_listener_t;

/* Sets (or with NULL clears) the listener; l is copied. Call before
 * traffic starts. */
void dp_engine_set_listener(dp_engine_t *e, const dp_engine_listener_t *l);

/* Number of live (matchable) and stored mocks, for metrics. */
size_t dp_engine_mock_count(dp_engine_t *e, int live_only);

/* Calls fn once for every stored mock (closed and spent ones included):
 * its id, namespace, protocol ("http", "mcp", ...), how many requests it
 * answered, and whether it can still match. Reads the published index
 * without the writer's lock; the strings are valid during the call only.
 * Any thread. For metrics. */
typedef void (*dp_engine_usage_fn)(void *ud, const char *id, const char *ns,
                                   const char *protocol, int64_t uses,
                                   int live);
void dp_engine_mock_usage(dp_engine_t *e, dp_engine_usage_fn fn, void *ud);

/* Replaces the clock (unix seconds) that createdAt, lastUse, closedAt and ttl
 * expiry use; NULL restores time(2). For tests; call before traffic. */
void dp_engine_set_clock(dp_engine_t *e, int64_t (*clock)(void *ud),
                         void *ud);

#endif
