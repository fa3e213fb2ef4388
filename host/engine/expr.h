/*
 * Expressions of the mock model: JSON paths, conditions and response
 * templates (with fakers). Everything is compiled once, when a mock is
 * stored; evaluation never parses.
 *
 * Thread rules: compiled objects are immutable and may be evaluated from any
 * number of threads at once. Evaluation state (random numbers, stores) comes
 * through the env argument.
 */
#ifndef DP_EXPR_H
#define DP_EXPR_H

#include <jansson.h>
#include <stdint.h>

#include "dp_error.h"

/* ---- JSON paths ------------------------------------------------------ */

/* Accepted forms: "amount", "$.amount", "$.body.amount", "a.b.c",
 * "items[0].id", "$.items[2]", "items.0.id" (a key of digits on an array
 * is its index), "$" (the whole document), and bracketed keys for names
 * with dots: "a['x.y'].b". */
typedef struct dp_jpath dp_jpath_t;

int dp_jpath_compile(const char *src, const char *field, dp_jpath_t **out,
                     dp_err_t *err);
/* Borrowed reference into doc, or NULL when absent. */
const json_t *dp_jpath_get(const dp_jpath_t *p, const json_t *doc);
void dp_jpath_free(dp_jpath_t *p);

/* ---- Regular expressions ------------------------------------------------ */

/* NULL when the POSIX ERE src is safe to hand to regcomp, else why not (a
 * static string: longer than 512 characters, a repetition that follows
 * another, bounded repetitions that multiply past 1024). */
const char *dp_regex_too_costly(const char *src);

/* ---- Conditions -------------------------------------------------------- */

typedef enum dp_cond_target {
    DP_COND_BODY = 0,   /* path into the parsed JSON body */
    DP_COND_HEADER = 1, /* path is a header name, compared case-insensitively;
                           the document is an object of lower-case names ->
                           string (first value) */
    DP_COND_QUERY = 2,  /* path is a parameter name; document is an object of
                           name -> string (first value) */
    DP_COND_QUERY_ALL = 3, /* the queryParams condition with path "$" (what
                           recordings key on): the document is the whole
                           query, name -> string, or [strings] in arrival
                           order when the name repeats. Set by the HTTP
                           handler; conditions compile it as DP_COND_QUERY */
    DP_COND_SESSION = 4 /* a body-section condition whose path starts with
                           "$.session." (ABI 1.2 sessions): the document is
                           {"session": {"count": N, "store": {...}}}; set
                           by the handlers, compiled as DP_COND_BODY */
} dp_cond_target_t;

typedef struct dp_cond dp_cond_t;

/* spec: {path, assertAction, value, sortArray, decode}. assertAction one of
 * equals, contains, not_equals, not_contains, any, notEmpty, empty, matches
 * (regex, POSIX extended, compiled here). decode: "base64" (decode the found
 * string, and parse it as JSON when it is JSON, before comparing).
 * sortArray: compare arrays regardless of order. field names the spec in
 * errors ("http.conditions[2]"). */
int dp_cond_compile(const json_t *spec, dp_cond_target_t target,
                    const char *field, dp_cond_t **out, dp_err_t *err);

/* 1 if the condition holds on doc (doc may be NULL: nothing there), 0 if not;
 * on 0 writes a short reason into why ("$.amount: expected 100, found 50"). */
int dp_cond_eval(const dp_cond_t *c, const json_t *doc, char *why,
                 size_t whylen);
const char *dp_cond_path(const dp_cond_t *c); /* as written */

/* 1 if c is "the body value at path equals this string" with nothing that
 * changes the comparison (no decode, no sortArray): then it can only hold
 * when the value found is a string with exactly these bytes, and the
 * matcher may index mocks by it. Sets *path (as written), *value and *len.
 * 0 otherwise. */
int dp_cond_string_equals(const dp_cond_t *c, const char **path,
                          const char **value, size_t *len);
void dp_cond_free(dp_cond_t *c);

/* ---- Templates --------------------------------------------------------- */

/*
 * A template is any JSON value whose strings may hold expressions:
 *   whole-value  "$.req.user"  -> the value itself (object, number, ...)
 *   embedded     "Hello $.req.name!" -> string interpolation
 * Forms: $.fake.<Name> and $.fake.<Name>(args); $.pathParam.x;
 * $.queryParam.x; $.reqHeader.Name[0] (case-insensitive); $.req, $.req.a.b,
 * $.body.a.b; $.gS.k, $.cS.k, $.mS.k (global, chain and mock store);
 * $.increment($.gS.k[, step]) (adds step, default 1, to a store number and
 * yields the new value); $.sS.k (the engine session's store) and
 * $.session.count (the message's number in its session, 1-based).
 * Unknown faker or malformed expression: compile
 * error naming the field path ("response.payload.user.name").
 */
typedef struct dp_tmpl dp_tmpl_t;

int dp_tmpl_compile(const json_t *value, const char *field, dp_tmpl_t **out,
                    dp_err_t *err);
/* Non-zero if rendering needs no request data (no expressions at all). */
int dp_tmpl_is_static(const dp_tmpl_t *t);
/* Non-zero if some expression reads the request body ($.req, $.body), so
 * the caller must parse the body and pass it as env->req. (Added by expr.) */
int dp_tmpl_needs_body(const dp_tmpl_t *t);
void dp_tmpl_free(dp_tmpl_t *t);

typedef enum dp_store_scope {
    DP_SCOPE_GLOBAL = 'g',
    DP_SCOPE_CHAIN = 'c',
    DP_SCOPE_MOCK = 'm',
    DP_SCOPE_SESSION = 's' /* the engine session's store, never persisted */
} dp_store_scope_t;

typedef struct dp_tmpl_env {
    const json_t *req;          /* parsed JSON body, or NULL */
    const json_t *path_params;  /* object name -> string, or NULL */
    const json_t *query_params; /* object name -> string, or NULL */
    const json_t *headers;      /* object lower-case name -> array of strings */
    const json_t *session;      /* {"count": N, ...} of the engine session,
                                   or NULL ($.session.* renders missing) */
    /* Store access. get returns a new reference or NULL; incr adds step to a
     * number (absent counts as 0), stores it and returns the new value. */
    json_t *(*store_get)(void *ud, dp_store_scope_t scope, const char *key);
    int64_t (*store_incr)(void *ud, dp_store_scope_t scope, const char *key,
                          int64_t step);
    void *ud;
    uint64_t *rng; /* xorshift state owned by the caller, non-zero */
    int64_t now;   /* unix seconds, for DateISO/Timestamp */
    /* Bytes the rendered value may take as compact JSON text (string
     * escapes not counted), 0: no limit. A render past it stops where it
     * passes, before allocating that part. */
    size_t max_bytes;
} dp_tmpl_env_t;

/* Renders to a new JSON value (caller decrefs). Missing data renders as
 * null (whole-value) or "" (embedded). NULL on ENOMEM, or past
 * env->max_bytes. */
json_t *dp_tmpl_render(const dp_tmpl_t *t, const dp_tmpl_env_t *env);
/* The same with the reason: 0 and *out set, -EFBIG past env->max_bytes,
 * -ENOMEM; *out is NULL on error. */
int dp_tmpl_render_ex(const dp_tmpl_t *t, const dp_tmpl_env_t *env,
                      json_t **out);

/* ---- Fakers ------------------------------------------------------------ */

/* Names of every faker, NULL-terminated (for docs and tests). */
extern const char *const dp_faker_names[];

/* Produces one fake value. args are the parsed call arguments (may be
 * NULL). Returns a new reference, or NULL for an unknown name. */
json_t *dp_faker_call(const char *name, const json_t *args, uint64_t *rng,
                      int64_t now);
/* 1 if name is a faker, and nargs is an accepted argument count. */
int dp_faker_check(const char *name, int nargs);

#endif
