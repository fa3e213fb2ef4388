/*
 * Internals of the admin API shared by its files: one admin_call_t per
 * request, alive for the duration of the (synchronous) handler call.
 */
#ifndef DP_ADMIN_INTERNAL_H
#define DP_ADMIN_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "admin.h"
#include "auth/auth.h"
#include "engine/engine.h"

#define ADMIN_MAX_SEGS 5 /* mocks/ID/versions/V/restore */
#define ADMIN_NS_MAX 64

typedef struct admin_call {
    doppel_http_exchange_t *ex;
    const doppel_http_request_t *req;
    struct dp_engine *engine;
    struct dp_auth *auth;
    dp_auth_principal_t who;   /* the caller, once authorised */
    int status;                /* HTTP status of the answer sent */
    char *seg[ADMIN_MAX_SEGS]; /* percent-decoded path segments after
                                  /api/v1, owned */
    size_t nseg;
    json_t *body;              /* parsed body or NULL, owned */
    char ns[ADMIN_NS_MAX + 1]; /* resolved namespace, "" when none given */
    int answered;              /* the exchange was finished (or its
                                  answer is held, below) */
    /* A write's success is not acknowledged before its audit row is
     * stored: with hold set, a 2xx answer is kept here and sent by
     * admin_release after dispatch() wrote the row. */
    int hold;
    int held;                  /* an answer is waiting */
    int held_status;
    int held_json;             /* the held answer has a JSON body */
    char *held_body;           /* owned */
    size_t held_len;
    int trim;                  /* return freed heap to the system after */
    json_t *audit_also;        /* namespace -> detail (string or null):
                                  other namespaces the write reaches, each
                                  audited too; owned, freed by dispatch */
} admin_call_t;

/* ---- Request parsing (admin_request.c) -------------------------------- */

/* Splits the request path after "/api/v1" into decoded segments. Returns
 * 0, -E2BIG for too many segments, -EINVAL for a bad escape or NUL byte. */
int admin_split_path(admin_call_t *c);

/* Looks up a query parameter (first occurrence), percent- and '+'-decoded.
 * Returns a malloc'd string the caller frees, or NULL when absent. *bad is
 * set on an undecodable value. */
char *admin_query(const admin_call_t *c, const char *name, int *bad);

/* Parses an unsigned query parameter in [min, max]; absent -> dflt.
 * Answers 400 itself and returns -EINVAL on bad input. */
int admin_query_size(admin_call_t *c, const char *name, size_t dflt,
                     size_t min, size_t max, size_t *out);

/* Parses a boolean query parameter (true/false/1/0); absent -> dflt. */
int admin_query_bool(admin_call_t *c, const char *name, int dflt, int *out);

/* Parses the body as JSON (any value). Empty body -> c->body stays NULL.
 * Malformed JSON is answered with 400 (with the parse position) and
 * -EINVAL returned. */
int admin_parse_body(admin_call_t *c);

/* Resolves the namespace: body "namespace" (when use_body and the body is
 * an object), then ?namespace=, then the X-Namespace header. Leaves c->ns
 * empty when none is given. Answers 400 on an invalid name. */
int admin_resolve_ns(admin_call_t *c, int use_body);

/* ---- Answers (admin_request.c). Each finishes the exchange. ----------- */

/* Sends v (stolen; NULL sends a 500) as the JSON body. */
void admin_reply_json(admin_call_t *c, int status, json_t *v);
void admin_reply_empty(admin_call_t *c, int status);
/* Sends the answer held back for the audit row, if any. */
void admin_release(admin_call_t *c);
void admin_reply_error(admin_call_t *c, int status, const char *code,
                       const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Sends an engine error; rc is the engine's return, used when err was not
 * filled. */
void admin_reply_dp_err(admin_call_t *c, int rc, const dp_err_t *err);
/* 405 with an Allow header. */
void admin_reply_405(admin_call_t *c, const char *allow);

/* ---- Endpoints under the platforms' SDK paths (admin_compat.c) ------- */

/* 1 when the operation authorises in admin_compat_authorize (its namespace
 * comes from the object it names, or it spans the caller's namespaces). */
int admin_compat_owns(const char *op_name);
/* Checks the token and the roles of such an operation; ns_out receives
 * the namespace of the audit row ("" for the request's), further
 * namespaces go to c->audit_also. Answers itself and returns a negative
 * errno on refusal, leaving c->audit_also NULL. */
int admin_compat_authorize(admin_call_t *c, const dp_admin_op_t *op,
                           char ns_out[ADMIN_NS_MAX + 1]);
/* The same for the mock batches of admin_mock_batch.c (every id visible
 * and writable, and the target namespace of a move or copy). */
int admin_mock_batch_owns(const char *op_name);
int admin_mock_batch_authorize(admin_call_t *c, const dp_admin_op_t *op,
                               char ns_out[ADMIN_NS_MAX + 1]);
void compat_mocks_batch_restore(admin_call_t *c);
void compat_mocks_batch_tags(admin_call_t *c);
void compat_mocks_batch_move(admin_call_t *c);
void compat_mocks_copy(admin_call_t *c);
void compat_chain_get(admin_call_t *c);
void compat_chain_close(admin_call_t *c);
void compat_mock_logs(admin_call_t *c);
void compat_mock_logs_clear(admin_call_t *c);
void compat_undefined_list(admin_call_t *c);
void compat_undefined_clear(admin_call_t *c);
void compat_undefined_clear_all(admin_call_t *c);
void compat_undefined_ignore(admin_call_t *c);
void compat_undefined_create_mock(admin_call_t *c);
void compat_store_post(admin_call_t *c);
void compat_counts(admin_call_t *c);
/* The versions of one mock (admin_versions.c). */
void admin_mock_versions(admin_call_t *c);
void admin_mock_version_get(admin_call_t *c);
void admin_mock_version_restore(admin_call_t *c);
/* Tags (admin_tags.c). */
void admin_tags_list(admin_call_t *c);
void admin_tags_create(admin_call_t *c);
/* Mock folders (admin_folders.c): by-id calls act in the folder's
 * namespace (authorised here, through admin_compat_authorize). */
int admin_folders_owns(const char *op_name);
int admin_folders_authorize(admin_call_t *c, const dp_admin_op_t *op,
                            char ns_out[ADMIN_NS_MAX + 1]);
void admin_folders_list(admin_call_t *c);
void admin_folders_create(admin_call_t *c);
void admin_folders_update(admin_call_t *c);
void admin_folders_move(admin_call_t *c);
void admin_folders_delete(admin_call_t *c);
void compat_stats(admin_call_t *c);

#endif
