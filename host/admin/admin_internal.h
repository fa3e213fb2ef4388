/*
 * Internals of the admin API shared by its files: one admin_call_t per
 * request, alive from the handler call until its answer is sent.
 *
 * Threads: the handler (loop thread) copies nothing but pointers: the
 * request stays valid until the exchange is answered. dispatch() and every
 * admin_reply_* run on a thread-pool thread and only record the answer in
 * the call; admin_send sends it on the loop thread.
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
    int answered;              /* the answer is decided (kept below) */
    /* A write's success is not acknowledged before its audit row is
     * stored: with hold set, a 2xx answer is marked held until
     * admin_release, after dispatch() wrote the row. */
    int hold;
    int held; /* a 2xx answer waits for its audit row */
    /* The answer. dispatch() runs off the loop (on the thread pool), where
     * an exchange may not be answered, so every answer is kept here and
     * sent by admin_send on the loop thread once the job is done. */
    int out_json;          /* the body is JSON (Content-Type) */
    const char *out_hname; /* one more header (Allow, Retry-After) */
    char out_hval[96];
    char *out_body; /* owned, NULL: none */
    size_t out_len;
    int trim;                  /* return freed heap to the system after */
    json_t *audit_also;        /* namespace -> detail (string or null):
                                  other namespaces the write reaches, each
                                  audited too; owned, freed by dispatch */
} admin_call_t;

/* ---- The work queue (admin_api.c) --------------------------------------
 * Every admin call runs on the thread pool: run(c, arg) decides the answer
 * there (admin_reply_* record it), and the answer is sent from the loop
 * thread when the job is done. The calls of one connection run in arrival
 * order. */
typedef struct admin_queue admin_queue_t;
typedef void (*admin_run_fn)(admin_call_t *c, void *arg);

/* A queue freed with the router r; NULL on ENOMEM. Loop thread. */
admin_queue_t *admin_queue_new(dp_router_t *r, struct dp_engine *e,
                               struct dp_auth *a);
/* Queues one call of the exchange (the handler's return value: 0, or
 * -ENOMEM for the front to answer 500). Loop thread. */
int admin_queue_call(admin_queue_t *q, doppel_http_exchange_t *ex,
                     const doppel_http_request_t *req, admin_run_fn run,
                     void *arg);

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

/* The ?method= and ?service= filters of GET /mocks (admin_mock_filter.c):
 * sets q->method and q->services (pointing into *method, *service and
 * svcv, which the caller frees / owns and keeps until the query ran).
 * Answers 400 itself and returns -EINVAL on a bad value. */
int admin_list_filters(admin_call_t *c, char **method, char **service,
                       const char **svcv, size_t svc_max, dp_mock_query_t *q);

/* Parses the body as JSON (any value). Empty body -> c->body stays NULL.
 * Malformed JSON is answered with 400 (with the parse position) and
 * -EINVAL returned. */
int admin_parse_body(admin_call_t *c);

/* Resolves the namespace: body "namespace" (when use_body and the body is
 * an object), then ?namespace=, then the X-Namespace header. Leaves c->ns
 * empty when none is given. Answers 400 on an invalid name. */
int admin_resolve_ns(admin_call_t *c, int use_body);

/* ---- Answers (admin_request.c). Each decides the call's answer; the
 * first one wins. Any thread (they touch only the call). ---------------- */

/* Sends v (stolen; NULL sends a 500) as the JSON body. */
void admin_reply_json(admin_call_t *c, int status, json_t *v);
void admin_reply_empty(admin_call_t *c, int status);
/* Sends body (copied) with Content-Type ctype (at most 95 characters). */
void admin_reply_text(admin_call_t *c, int status, const char *ctype,
                      const char *body, size_t len);
/* The audit row of a held answer is stored: the answer may go. */
void admin_release(admin_call_t *c);
/* The audit row of a held answer could not be stored: the answer becomes
 * a 500 with msg. */
void admin_fail_held(admin_call_t *c, const char *msg);
/* Sends the call's answer (a 500 when none was decided) and frees it.
 * Loop thread of the exchange only. */
void admin_send(admin_call_t *c);
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

/* ---- Response template files (admin_templates.c) ---------------------- */

/* 1 when the request body is multipart/form-data. */
int admin_templates_is_form(const admin_call_t *c);
/* Parses a form upload into c->body ({name, content, namespace}); answers
 * 400 itself and returns -EINVAL on a malformed form. */
int admin_templates_form_body(admin_call_t *c);
void tfiles_list(admin_call_t *c);
void tfiles_create(admin_call_t *c);
void tfiles_get(admin_call_t *c);
void tfiles_replace(admin_call_t *c);
void tfiles_delete(admin_call_t *c);

#endif
