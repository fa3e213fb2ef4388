/*
 * Internals of the engine shared by its files (not part of any API).
 *
 * Ownership in one paragraph: the engine keeps a table of compiled mocks
 * (id -> dp_mock_t) owned by the writer side; every published index holds its
 * own reference to each mock it contains, so a mock outlives every index that
 * can still hand it to a reader. The compiled fields of a dp_mock_t are
 * immutable once published; its runtime fields (use_counter, last_use,
 * closed_at, cursor, dirty) are atomics changed by any thread. The JSON text
 * of a mock is refcounted (dp_jtext_*): the writer side replaces it under
 * the writer mutex and the engine's json mutex (held for the pointer swap
 * only); a reader takes a reference under the json mutex alone, so admin
 * reads never wait for a write's storage commit.
 */
#ifndef DP_ENGINE_INTERNAL_H
#define DP_ENGINE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "engine.h"
#include "expr.h"

/* Copies len bytes of src (at most cap - 1) into dst and ends it: the
 * bounded copy of the per-message paths, where snprintf("%.*s") cost more
 * than the rest of the copy. */
static inline void dp_strncpyz(char *dst, size_t cap, const char *src,
                               size_t len)
{
    if (cap == 0)
        return;
    if (len > cap - 1)
        len = cap - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ---- String hash map (keys copied, values borrowed) -------------------- */

typedef struct dp_smap_ent {
    char *key; /* NULL: empty slot */
    uint32_t hash;
    uint32_t len; /* of key */
    void *val;
    /* a key shorter than this, again: a lookup decides on the slot's own
     * cache line, without reading the key's (path segments, operation
     * names, value-index strings are mostly this short) */
    char ik[8];
} dp_smap_ent_t;
_Static_assert(sizeof(dp_smap_ent_t) == 32 && 64 % sizeof(dp_smap_ent_t) == 0,
               "a string map slot must not straddle cache lines");

typedef struct dp_smap {
    dp_smap_ent_t *ents;
    size_t cap; /* power of two, or 0 */
    size_t n;
} dp_smap_t;

uint32_t dp_smap_hash(const char *s, size_t len);
void *dp_smap_getn(const dp_smap_t *m, const char *key, size_t len);
void *dp_smap_get(const dp_smap_t *m, const char *key);
/* Inserts or replaces; returns the previous value through *old (may be NULL).
 * 0 or -ENOMEM. */
int dp_smap_put(dp_smap_t *m, const char *key, void *val, void **old);
/* Removes key; returns its value or NULL. */
void *dp_smap_del(dp_smap_t *m, const char *key);
void dp_smap_free(dp_smap_t *m); /* frees keys and slots, not values */
#define DP_SMAP_FOREACH(m, i)                                                  \
    for (size_t i = 0; i < (m)->cap; i++)                                      \
        if ((m)->ents[i].key != NULL)

/* ---- Routes -------------------------------------------------------------
 * A route is split on '/', empty segments dropped (so "/a/", "/a" and "//a"
 * are the same route), each segment percent-decoded. Kinds: static text,
 * ":name" (one segment, captured), "*" in the middle (one segment, not
 * captured), "*" as the last segment (one or more remaining segments,
 * captured as pathParam "*"). */

enum { DP_SEG_STATIC = 0, DP_SEG_PARAM = 1, DP_SEG_STAR = 2, DP_SEG_REST = 3 };

typedef struct dp_seg {
    uint8_t kind;
    char *text; /* static text or param name */
} dp_seg_t;

typedef struct dp_route {
    dp_seg_t *segs;
    size_t n;
    /* specificity: more statics, then more params, then fewer wildcards */
    uint16_t n_static, n_param, n_wild;
} dp_route_t;

#define DP_MAX_SEGS 64
#define DP_MAX_SEG_BYTES 8192

int dp_route_parse(const char *src, dp_route_t *out, char *why, size_t wlen);
/* The same split and decoding, but every segment is static text: ':' and
 * '*' have no meaning (recorded paths, "routeLiteral": true). */
int dp_route_parse_literal(const char *src, dp_route_t *out, char *why,
                           size_t wlen);
void dp_route_free(dp_route_t *r);

/* A request path split into percent-decoded segments (one buffer). */
typedef struct dp_path {
    char *buf;
    const char *seg[DP_MAX_SEGS];
    size_t len[DP_MAX_SEGS];
    size_t n;
    int too_long; /* more than DP_MAX_SEGS segments or a raw NUL: matches
                     nothing */
} dp_path_t;

int dp_path_split(const char *p, size_t len, dp_path_t *out);
void dp_path_free(dp_path_t *p);

struct dp_mock;
typedef struct dp_trie dp_trie_t;

dp_trie_t *dp_trie_new(void);
int dp_trie_insert(dp_trie_t *t, const dp_route_t *r, struct dp_mock *m);
struct dp_reqctx;
#define DP_COLLECT_PROVEN 8
/* What a collection knows and learns besides the mocks. */
typedef struct dp_collect {
    struct dp_reqctx *rc; /* the request, for value indexes; NULL: none */
    unsigned runs;        /* non-empty node lists the mocks came from; each
                             list is in insertion (match) order */
    int pruned;           /* a value index left out mocks that cannot hold */
    /* Mocks a value index found by their expected string: the condition
     * it keyed on (proven[k].cond, an index into m->conds) holds already,
     * and the match need not read it again (at 10,000 mocks that reading
     * was a quarter of the memory a request touched). */
    struct {
        const struct dp_mock *m;
        uint16_t cond;
    } proven[DP_COLLECT_PROVEN];
    unsigned n_proven;
} dp_collect_t;

/* Appends every mock whose route matches path to *out (capacity cap), less
 * those a value index proves cannot match the request (when cc->rc is
 * set); returns how many were found (may exceed cap: the extra are
 * dropped, call again with room for all). cc may be NULL. */
size_t dp_trie_collect(const dp_trie_t *t, const dp_path_t *p,
                       struct dp_mock **out, size_t cap, dp_collect_t *cc);
/* Builds the value indexes of every node list; call once, after the last
 * insert. */
void dp_trie_seal(dp_trie_t *t);
void dp_trie_free(dp_trie_t *t);

/* ---- Compiled mocks ----------------------------------------------------- */

typedef struct dp_resp {
    int status;
    uint32_t delay_ms;
    size_t n_headers;
    char **hname; /* as written */
    char **hvalue;
    int has_ctype;
    int is_error;
    /* static body (precomputed once) or template */
    dp_tmpl_t *tmpl; /* NULL when the body is static */
    char *body;
    size_t body_len;
    const char *ctype; /* default Content-Type of the static body */
    /* the protocol's response_fields (ABI 1.2 sections) as one object:
     * a template, or its static compact JSON text; both NULL: none */
    dp_tmpl_t *xtmpl;
    char *extra;
} dp_resp_t;

enum { DP_REPLY_ONE = 0, DP_REPLY_ONEOF = 1, DP_REPLY_PROXY = 2 };

typedef struct dp_extract {
    char scope; /* 'g', 'c', 'm', 's' (session) */
    char *key;
    dp_tmpl_t *t;
} dp_extract_t;

typedef struct dp_mcond {
    dp_cond_t *c;
    dp_cond_target_t where;
} dp_mcond_t;

struct dp_proto;
struct dp_proto_ix;

typedef struct dp_mock {
    /* What every match of this mock reads or writes, first and together:
     * the mock is allocated on a cache line, so these take two lines, and
     * a request that finds one mock among 10,000 (whose structures do not
     * fit a core's cache) misses on as few lines as can be. */
    atomic_int refs;
    int kind;                    /* reply: DP_REPLY_* */
    const struct dp_proto *proto;
    char *id;
    char *ns;
    dp_mcond_t *conds;
    size_t n_conds;
    int has_raw_body; /* "rawBody": the body must be exactly raw_body */
    int dormant; /* Compiled for listing only: the section's protocol is not
                    enabled (or its plugin refused the stored mock at load).
                    Never indexed for matching; kept, listed, closed and
                    purged like any mock. */
    int64_t expire_at; /* 0: no ttl */
    /* -- second line -- */
    int64_t use_limit; /* 0: unlimited */
    dp_resp_t *resps;
    size_t n_resps;
    /* runtime state, any thread */
    _Atomic int64_t use_counter;
    _Atomic int64_t last_use;
    _Atomic int64_t closed_at; /* 0: open */
    _Atomic uint64_t cursor;
    atomic_int dirty; /* counters changed since the last flush */
    int random;       /* oneOf order random */

    char *chain_id; /* NULL when none */
    int64_t priority;
    int64_t created_at;
    uint64_t seq;      /* insertion order, tie-break after createdAt */
    int64_t version;   /* number of the newest kept version, 0: none (set
                          and read under the writer lock) */

    /* target (filled by the protocol handler) */
    char *op;        /* NULL: any operation */
    char *route_src; /* route or routePattern as written */
    dp_route_t route;
    regex_t *re; /* routePattern, else NULL */
    int needs_body, needs_headers, needs_query;
    char *raw_body;
    size_t raw_body_len;

    /* reply */
    uint64_t offset; /* ordered oneOf: the first answer (a session's start) */
    char *proxy_target;
    dp_extract_t *ext;
    size_t n_ext;

    /* protocol extras (mcp): the server within the namespace ("" the
     * default; NULL for protocols without servers), and data only the
     * handler reads (freed by proto->free_data) */
    char *server;
    void *pdata;
    /* the protocol's section_fields as written: the members of one JSON
     * object without its braces, spliced into every reply's extra; NULL
     * when none */
    char *sec_extra;

    /* the template files (names, in ns) the compiled form was built
     * from: replacing one recompiles the mock, deleting one is refused */
    char **tfiles;
    size_t n_tfiles;

    /* compact stored JSON, server fields as of the last write: a dp_jtext.
     * Replaced under the writer mutex and the engine's jmu; read under
     * either (readers without wmu take a reference under jmu). */
    char *json;
} dp_mock_t;

/* Refcounted, immutable JSON text (NUL-terminated, used as a char *).
 * dup copies len bytes (NULL on ENOMEM) with one reference; take does the
 * same with a malloc'd string and frees it. ref/unref from any thread;
 * unref(NULL) is a no-op. */
char *dp_jtext_dup(const char *s, size_t len);
char *dp_jtext_take(char *malloced);
char *dp_jtext_ref(char *t);
void dp_jtext_unref(char *t);

void dp_mock_ref(dp_mock_t *m);
void dp_mock_unref(dp_mock_t *m);

/* ---- Protocol handlers -------------------------------------------------- */

/* The request as the conditions and templates see it; built lazily. */
struct dp_session;
typedef struct dp_reqctx {
    const doppel_exchange_t *x;
    struct dp_session *sess; /* engine session of the message, or NULL */
    json_t *sess_doc;   /* {"session": {count, store}}, built on first need */
    json_t *body;       /* parsed once, on first need */
    int body_tried;
    json_t *hdr_first;  /* lower-case name -> first value */
    json_t *hdr_all;    /* lower-case name -> [values] */
    json_t *query;      /* name -> first value */
    json_t *query_all;  /* name -> value, or [values] when repeated */
} dp_reqctx_t;

struct doppel_protocol_def;
struct doppel_ctx;

typedef struct dp_proto {
    const char *name; /* the protocol section key: "http" */
    /* Compiles the protocol section sec into m (op, route or re, conds,
     * needs_*). field is the section's path prefix for errors ("http"). */
    int (*compile)(const struct dp_proto *self, const json_t *sec,
                   const char *field, dp_mock_t *m, dp_err_t *err);
    /* Builds the documents conditions on target `where` evaluate against. */
    const json_t *(*doc)(dp_reqctx_t *rc, dp_cond_target_t where);

    /* ---- optional (NULL / 0 for http) ---- */
    unsigned flags; /* DP_PROTO_F_* */
    void (*free_data)(void *pdata); /* frees dp_mock_t.pdata */
    /* Splits the request into the segments its routes match (mcp: server,
     * target); segments may point into x. Default: the target as a path. */
    int (*req_path)(const doppel_exchange_t *x, dp_path_t *out);
    /* Answers a request that is not matched against one mock (mcp lists):
     * 1 with *body (malloc'd JSON, *len bytes) set, 0 when x is for the
     * matcher, negative errno on failure. pi may be NULL (no mocks). */
    int (*answer)(const struct dp_proto_ix *pi, const doppel_exchange_t *x,
                  int64_t now, char **body, size_t *len);
    /* Adds protocol fields to a no-match report (mcp: request.server,
     * known). pi may be NULL. */
    void (*miss)(const struct dp_proto *self, const struct dp_proto_ix *pi,
                 const doppel_exchange_t *x, const dp_path_t *path,
                 int64_t now, json_t *report);
    /* Runs before the section is compiled, on the whole mock o (mutable:
     * the section may be replaced by a normalised one, which is what is
     * stored): a registered section's check (proto_plugin.c). */
    int (*prepare)(const struct dp_proto *self, json_t *o, dp_mock_t *m,
                   dp_err_t *err);

    /* Slot in the registry (index arrays are sized by the registry). */
    unsigned slot;
    /* response.statusCode: range and default; all 0: HTTP (100..599, 200) */
    int status_min, status_max, status_default;
    /* ABI 1.2: a section registered by a plugin (proto_plugin.c) */
    const struct doppel_protocol_def *def;
    struct doppel_ctx *ctx; /* the section ctx its callbacks get */
    const struct doppel_services *svc; /* and the services table */
    const char *owner;      /* the plugin instance that registered it */
    const char *const *response_fields; /* NULL-terminated, or NULL */
    const char *const *section_fields;  /* handed over as written, or NULL */
} dp_proto_t;

/* The operation is compared as sent (not upper-cased). */
#define DP_PROTO_F_EXACT_OP 0x1u
/* proxy answers are refused at validation. */
#define DP_PROTO_F_NO_PROXY 0x2u
/* Exchanges carry an HTTP request path: record/replay services apply. */
#define DP_PROTO_F_HTTP_PATH 0x4u

/* A dormant mock's placeholder (DP_PROTO_F_DORMANT): never indexed. */
#define DP_PROTO_F_DORMANT 0x100u

extern const dp_proto_t dp_proto_http;
extern const dp_proto_t dp_proto_mcp;

/* ---- The protocol registry (proto_registry.c) ---------------------------
 * http and mcp built in (slots 0 and 1), then the sections plugins
 * registered before dp_engine_open. Immutable once the engine is open. */
struct dp_protos {
    const dp_proto_t **v;
    size_t n, cap;
};
/* The registry of engines opened without one: http and mcp. */
const dp_protos_t *dp_protos_builtin(void);
/* NULL when no handler is registered for name (reg NULL: built-in). */
const dp_proto_t *dp_protos_find(const dp_protos_t *reg, const char *name,
                                 size_t len);
/* The placeholder of a dormant mock of section name (a static entry per
 * known section; NULL for other names). */
const dp_proto_t *dp_proto_dormant(const char *name);
/* Known protocol section names, with or without a handler yet. */
extern const char *const dp_proto_sections[];
/* response.statusCode of p's mocks: lowest, highest, default. */
void dp_proto_status_range(const dp_proto_t *p, int *lo, int *hi, int *def);

/* The adapter of a registered def (proto_plugin.c); NULL on ENOMEM. */
dp_proto_t *dp_proto_plugin_new(const struct doppel_protocol_def *def,
                                struct doppel_ctx *ctx,
                                const struct doppel_services *svc,
                                const char *owner);
void dp_proto_plugin_free(dp_proto_t *p);
/* A registered section's record callback (LEARN): the section and the
 * response object a recorded exchange becomes (new references). -ENOTSUP
 * when the section records nothing, -EINVAL (err filled) when the plugin
 * refuses or answers something that is not two JSON objects. */
struct doppel_fetch_result;
int dp_proto_plugin_record(const dp_proto_t *p, const doppel_exchange_t *x,
                           const struct doppel_fetch_result *res,
                           json_t **section, json_t **response, dp_err_t *err);


/* A JSON string of the bytes p[0..n) as a client sent them (a header, a
 * query or path parameter), with every sequence that is not UTF-8 (a
 * Latin-1 byte, an overlong form, a surrogate, past U+10FFFF) replaced by
 * U+FFFD: the journal, templates and answers must be able to print it, and
 * jansson prints no string that is not UTF-8. NULL on ENOMEM. */
json_t *dp_json_lossy(const char *p, size_t n);

/* Request documents shared by protocol handlers. */
const json_t *dp_reqctx_body(dp_reqctx_t *rc);
const json_t *dp_reqctx_headers_first(dp_reqctx_t *rc);
const json_t *dp_reqctx_headers_all(dp_reqctx_t *rc);
const json_t *dp_reqctx_query(dp_reqctx_t *rc);
const json_t *dp_reqctx_query_all(dp_reqctx_t *rc);
/* {"session": {count, store}} (session null without a session). */
const json_t *dp_reqctx_session(dp_reqctx_t *rc);
/* The session's document {"count": N, "store": {...}}: a new reference,
 * NULL on ENOMEM (session.c). */
json_t *dp_session_doc(struct dp_session *s);
/* The document of target `where` as above: the dp_proto_t doc of handlers
 * whose conditions read the plain HTTP request (http, mcp). */
const json_t *dp_reqctx_doc(dp_reqctx_t *rc, dp_cond_target_t where);
/* Adds name = val (borrowed) to a whole-query object: a second value of a
 * name turns it into an array, in arrival order. */
void dp_query_add(json_t *q, const char *name, json_t *val);
void dp_reqctx_free(dp_reqctx_t *rc);
/* Compiles an array of condition specs on `where` into m (field: the path
 * for errors, "mcp.conditions"); shared by handlers. */
int dp_proto_conds(const json_t *v, dp_cond_target_t where,
                   const char *field, dp_mock_t *m, dp_err_t *err);
/* The same, also accepting an object of name: value (equals), as http's
 * header and queryParams. */
int dp_proto_conds_obj(const json_t *v, dp_cond_target_t where,
                       const char *field, dp_mock_t *m, dp_err_t *err);

/* ---- Template files (template_files.c) ---------------------------------
 * Response template files by namespace and name (payloadTemplatePath,
 * valueFromFile). Writer side only: the table is read and changed under
 * the engine's writer mutex; a compiled mock holds what it read, never a
 * pointer into the table. */

typedef struct dp_tfile {
    char *ns;
    char *name;
    char *content; /* NUL-terminated text, len bytes */
    size_t len;
    int64_t updated_at; /* unix seconds */
} dp_tfile_t;

#define DP_TFILE_NAME_MAX 128
/* 1 when name (len bytes) is a template file name: 1 to
 * DP_TFILE_NAME_MAX characters of A-Z a-z 0-9 . _ -, not "." or "..",
 * not starting with '.', and not the reserved "render". */
int dp_tfile_name_valid(const char *name, size_t len);
/* The file ns/name of files ("ns\x1fname" -> dp_tfile_t *), or NULL
 * (files NULL included). */
const dp_tfile_t *dp_tfile_find(const dp_smap_t *files, const char *ns,
                                const char *name);
/* The content as a value: parsed JSON when it is JSON, else a string.
 * A new reference, NULL on ENOMEM. */
json_t *dp_tfile_value(const dp_tfile_t *f);
void dp_tfile_free(dp_tfile_t *f);
/* dp_storage_ops_t.tfiles_load callback of dp_engine_open (arg: the
 * engine). */
int dp_tfile_load(void *arg, const dp_tfile_row_t *r);

/* ---- Model: validation and compilation --------------------------------- */

/* Validates mock (a JSON object) and returns the normalised stored object
 * (*norm, new ref) and its compiled form (*out, refs = 1). keep: the stored
 * object of the mock being patched, whose id, createdAt and runtime fields
 * carry over (NULL for a put). now: clock. */
int dp_model_compile(const dp_protos_t *reg, const json_t *mock,
                     const char *ns, const json_t *keep, int64_t now,
                     const dp_smap_t *files, json_t **norm, dp_mock_t **out,
                     dp_err_t *err);
/* Compiles an already normalised stored object (load path). files: the
 * template files payloadTemplatePath and valueFromFile read (borrowed for
 * the call; NULL: none exist). */
/* reg: the protocol registry (NULL: built-in). flags DP_COMPILE_*. A
 * registered section's check may replace the section of stored by its
 * normalised form (what the compiled mock's json holds). */
#define DP_COMPILE_DORMANT 0x1u /* a mock of a section that is not enabled
                                   compiles dormant instead of failing */
#define DP_COMPILE_KEEP_REFUSED 0x2u /* and so does one its plugin's check
                                        refuses (load: a schema is gone) */
int dp_model_compile_stored(const dp_protos_t *reg, json_t *stored,
                            const dp_smap_t *files, unsigned flags,
                            dp_mock_t **out, dp_err_t *err);
/* Serialises a rendered payload into body bytes (malloc'd) and names the
 * default Content-Type for its JSON type (NULL: no body). */
int dp_payload_bytes(const json_t *v, char **body, size_t *len,
                     const char **ctype);

/* Server-set fields, stripped from input. */
extern const char *const dp_server_fields[];
void dp_uuid4(char out[37]);

/* Match order of two candidates (qsort comparator on dp_mock_t *):
 * priority (higher first), specificity (static segments, then params, then
 * fewer wildcards; regex routes last), createdAt (newer first), insertion. */
int dp_mock_cmp(const void *a, const void *b);
/* 1 when m may match at now (not closed, not expired, not used up). */
int dp_mock_live(const dp_mock_t *m, int64_t now);

/* ---- Index -------------------------------------------------------------- */

/* A list of mocks in match order. */
typedef struct dp_mlist {
    dp_mock_t **v;
    size_t n, cap;
} dp_mlist_t;

typedef struct dp_proto_ix {
    dp_smap_t ops; /* operation -> dp_trie_t* */
    dp_trie_t *any;
    dp_mock_t **regex;
    size_t n_regex, cap_regex;
    dp_smap_t servers; /* server -> dp_mlist_t* (mocks with m->server) */
} dp_proto_ix_t;

typedef struct dp_ns_ix {
    dp_proto_ix_t **protos; /* by registry slot, n_protos long */
    size_t n_protos;
} dp_ns_ix_t;

typedef struct dp_index {
    dp_smap_t ns; /* namespace -> dp_ns_ix_t* */
    dp_mock_t **mocks;
    size_t n_mocks;
    dp_smap_t ids; /* id -> dp_mock_t* (borrowed from mocks[]): by-id admin
                      reads from the snapshot */
    size_t n_protos; /* slots of every dp_ns_ix_t.protos */
} dp_index_t;

/* n_protos: slots of the engine's registry (every mock's proto->slot is
 * below it). */
dp_index_t *dp_index_build(dp_mock_t **mocks, size_t n, size_t n_protos);
void dp_index_free(dp_index_t *ix);

/* ---- Stores ------------------------------------------------------------- */

typedef struct dp_stores dp_stores_t;

/* value_max: bytes of one entry (key + compact JSON of the value);
 * total_max: bytes of every store of one namespace together; 0: no limit.
 * Only writes that ask for it are refused (request traffic, and the admin
 * API through dp_stores_check); loading and mStore are accounted, not
 * refused. */
dp_stores_t *dp_stores_new(size_t value_max, size_t total_max);
void dp_stores_free(dp_stores_t *s);
/* scope_name: "global", "chain:<id>", "mock:<id>". New ref or NULL. */
json_t *dp_stores_get(dp_stores_t *s, const char *ns, const char *scope_name,
                      const char *key);
json_t *dp_stores_get_all(dp_stores_t *s, const char *ns,
                          const char *scope_name);
/* dirty: mark for dp_stores_take_dirty (request path). value stolen. */
int dp_stores_set(dp_stores_t *s, const char *ns, const char *scope_name,
                  const char *key, json_t *value, int dirty);
int dp_stores_del(dp_stores_t *s, const char *ns, const char *scope_name,
                  const char *key);
/* The same, marked for dp_stores_take_dirty (the flush deletes the row). */
int dp_stores_del_dirty(dp_stores_t *s, const char *ns,
                        const char *scope_name, const char *key);
/* 0 when setting key to value would keep ns within the limits, -EFBIG
 * when the entry alone is over value_max, -ENOSPC when the namespace's
 * stores would pass total_max. */
int dp_stores_check(dp_stores_t *s, const char *ns, const char *scope_name,
                    const char *key, const json_t *value);
/* The request path's writes (extract): n values (stolen, set to NULL) put
 * at scopes[i]/keys[i] of ns, all or none, under one lock, each within the
 * limits; marked dirty. olds[i] receives the value replaced (new ref, NULL
 * when the key was absent) for dp_stores_undo. 0, -EFBIG or -ENOSPC (with
 * *which the index refused; nothing changed), -ENOMEM. */
int dp_stores_put_many(dp_stores_t *s, const char *ns, size_t n,
                       const char *const *scopes, const char *const *keys,
                       json_t **values, json_t **olds, size_t *which);
/* Puts the olds of a dp_stores_put_many back (a key that was absent is
 * deleted); takes the references. */
void dp_stores_undo(dp_stores_t *s, const char *ns, size_t n,
                    const char *const *scopes, const char *const *keys,
                    json_t **olds);
/* Bytes the stores of ns hold, as the limits count them. */
size_t dp_stores_used(dp_stores_t *s, const char *ns);
/* Adds step to the counter at key (absent: 0) and returns the new value,
 * saturated at INT64_MIN / INT64_MAX (docs/templates.md); *saturated (may
 * be NULL) is set to 1 when the result or the value read was clamped. */
int64_t dp_stores_incr(dp_stores_t *s, const char *ns, const char *scope_name,
                       const char *key, int64_t step, int *saturated);
/* Number arithmetic that never overflows: a + b clamped to the int64
 * range; a double truncated toward zero, or clamped when outside the int64
 * range (NaN: 0); a store value read as a counter (integer, double, or the
 * leading decimal digits of a string; anything else 0). Each sets
 * *saturated (may be NULL) to 1 when it clamped, and leaves it alone
 * otherwise. */
int64_t dp_i64_sat_add(int64_t a, int64_t b, int *saturated);
int64_t dp_i64_of_double(double d, int *saturated);
int64_t dp_store_counter(const json_t *v, int *saturated);
/* Drops every store of ns (NULL scope_name) or one store. */
void dp_stores_drop(dp_stores_t *s, const char *ns, const char *scope_name);
/* Moves the dirty entries out: array of [ns, scope, key, value] ([ns, scope,
 * key] when the key is gone). dp_stores_remark puts them back after a failed
 * flush. */
json_t *dp_stores_take_dirty(dp_stores_t *s);
void dp_stores_remark(dp_stores_t *s, const json_t *entries);
/* Every entry as [ns, scope, key] triples (for deleting a whole store). */
json_t *dp_stores_keys(dp_stores_t *s, const char *ns, const char *scope_name);
/* Adds every namespace that holds a store entry to set (as keys). */
void dp_stores_namespaces(dp_stores_t *s, json_t *set);
void dp_scope_name(char *buf, size_t len, char scope, const char *owner);

/* ---- Journal rings ------------------------------------------------------ */

/* One recorded exchange, packed in one allocation (journal_ring.c). */
typedef struct dp_jrec dp_jrec_t;

/* Records x (path without the query) as answered with status by mock_id
 * (NULL: no match). near: nearMisses JSON text, stolen (NULL for none).
 * Lower-cases header names, redacts credential headers, truncates the body
 * to body_max. NULL on ENOMEM. */
dp_jrec_t *dp_jrec_build(const struct dp_engine *e, const doppel_exchange_t *x,
                         const char *ns, doppel_str_t path, size_t body_max,
                         int64_t time_ms, int status, const char *mock_id,
                         char *near);
void dp_jrec_set_latency(dp_jrec_t *r, uint32_t us);
/* A protocol plugin's sentence on a miss (explain_miss), listed as the
 * entry's "reason"; copied. Before the push only. */
void dp_jrec_set_reason(dp_jrec_t *r, const char *reason);
/* Names the limit the request hit ("store_value_max", "int64_range"; a
 * static word of at most 23 bytes), listed as the entry's "limit". */
void dp_jrec_set_limit(dp_jrec_t *r, const char *limit);
/* The entry of a forwarded request (a PROXY reply): status 0 until
 * dp_jrec_forwarded; service: the record-and-replay service that forwards
 * it (NULL or "": a proxy mock, named by mock_id). */
dp_jrec_t *dp_jrec_build_proxy(const struct dp_engine *e,
                               const doppel_exchange_t *x, const char *ns,
                               doppel_str_t path, size_t body_max,
                               int64_t time_ms, const char *mock_id,
                               const char *service);
/* Marks r as what a plugin sent on a connection (end 0: "direction":
 * "out") or as its stream's end (end 1: "reason", a static word of at most
 * 15 bytes). Before the push only. */
void dp_jrec_set_note(dp_jrec_t *r, int end, const char *reason);
/* How the forward ended: the status the client got and why forwarding
 * failed (NULL or "": it did not; cut to 15 bytes, checked by the
 * caller). */
void dp_jrec_forwarded(dp_jrec_t *r, int status, const char *reason);

/* A journal or unmatched list: one ring of at most per_ns entries for each
 * namespace, and at most max_bytes over all of them (records and the
 * rings' bookkeeping); past it the namespace holding the most entries
 * drops its oldest ones (journal_ring.c). One short mutex; any thread. */
typedef struct dp_nsring dp_nsring_t;

typedef struct dp_ring {
    pthread_mutex_t mu;
    dp_smap_t by_ns;    /* namespace -> dp_nsring_t* */
    dp_nsring_t **heap; /* max-heap: the ring that gives way first */
    size_t n_ns, heap_cap;
    size_t per_ns, max_bytes;
    size_t bytes, count; /* over every namespace */
    uint64_t seq;        /* next record's arrival number */
    uint64_t total_seen;
    int inited;
} dp_ring_t;

/* per_ns 0: 1; max_bytes 0: no bound. 0. */
int dp_ring_init(dp_ring_t *r, size_t per_ns, size_t max_bytes);
void dp_ring_destroy(dp_ring_t *r);
/* Steals rec. */
void dp_ring_push(dp_ring_t *r, dp_jrec_t *rec);
/* {items, total, offset, limit, hasMore}, newest first; ns NULL: every
 * namespace, merged in arrival order. */
json_t *dp_ring_list(dp_ring_t *r, const char *ns, size_t offset,
                     size_t limit);
/* The same, without the ignored entries unless include_ignored. */
json_t *dp_ring_list_ex(dp_ring_t *r, const char *ns, int include_ignored,
                        size_t offset, size_t limit);
/* The entry with that id as JSON (a new reference), or NULL when the ring
 * holds none (dropped, cleared, or never there). */
json_t *dp_ring_get(dp_ring_t *r, uint64_t id);
/* dp_ring_list of the records naming connection conn (ns NULL: every
 * namespace); total counts them. */
json_t *dp_ring_list_conn(dp_ring_t *r, const char *ns, const char *conn,
                          size_t offset, size_t limit);
/* Marks the entry ignored (or not): 0, or -ENOENT when there is none. */
int dp_ring_set_ignored(dp_ring_t *r, uint64_t id, int ignored);
/* The entries a mock answered (its mockId), as dp_ring_list; and their
 * removal, returning how many went (0 also on ENOMEM). */
json_t *dp_ring_list_mock(dp_ring_t *r, const char *mock_id, size_t offset,
                          size_t limit);
size_t dp_ring_clear_mock(dp_ring_t *r, const char *mock_id);
/* {namespace: entries held}, ignored ones included. NULL on ENOMEM. */
json_t *dp_ring_ns_counts(dp_ring_t *r);
/* Drops the entries of ns (NULL: all). */
void dp_ring_clear(dp_ring_t *r, const char *ns);
/* Bytes held as max_bytes counts them, and (namespaces not NULL) how many
 * namespaces have entries. */
size_t dp_ring_bytes(dp_ring_t *r, size_t *namespaces);

/* ---- Record and replay (upstream.c, record.c) ----------------------------
 * The writer side keeps the services and modes as JSON (rr_conf, under wmu):
 * {ns: {"mode": "LEARN" (absent: inherit), "services": {name: service}}}.
 * Every change compiles it into an immutable snapshot that the request path
 * reads inside its index reader section; the old snapshot is freed after a
 * grace period, like an old index. */

typedef struct dp_rr_svc {
    char *name;
    char *target;      /* absolute URL without a trailing '/' */
    char *prefix;      /* "/" or "/a/b" (no trailing '/') */
    size_t prefix_len; /* 0 for "/": every path */
    uint32_t timeout_ms;
    int tls_verify;
    int mode; /* DP_MODE_NONE: the namespace's */
    int miss_status;
} dp_rr_svc_t;

typedef struct dp_rr_ns {
    int mode;          /* DP_MODE_NONE: the engine's default */
    dp_rr_svc_t *svcs; /* longest prefix first */
    size_t n;
} dp_rr_ns_t;

typedef struct dp_rr_snap {
    dp_smap_t ns; /* namespace -> dp_rr_ns_t* */
} dp_rr_snap_t;

void dp_rr_snap_free(dp_rr_snap_t *s);
/* The service whose prefix holds path (longest first) and its effective
 * mode; NULL when none does. Reader side. */
const dp_rr_svc_t *dp_rr_find(const dp_engine_t *e, const dp_rr_snap_t *s,
                              const char *ns, const char *path, size_t len,
                              int *mode);
/* target + path[prefix_len..] percent-encoded (malloc'd), NULL on ENOMEM. */
char *dp_rr_url(const dp_rr_svc_t *svc, const char *path, size_t len);
/* Loads the settings rows from storage into rr_conf (open). */
int dp_rr_load(dp_engine_t *e);
/* A settings row of kind "tag" or "folder" (catalog.c), at open. 0 or
 * -ENOMEM. */
int dp_catalog_load_row(dp_engine_t *e, const dp_config_row_t *r);
/* Builds and publishes the snapshot of rr_conf (writer, under wmu). */
int dp_rr_publish(dp_engine_t *e);
/* Counts a MOCK-mode miss in the coverage miss table (any thread). */
void dp_rr_note_miss(dp_engine_t *e, const char *ns, const char *service,
                     const char *method, const char *path, size_t path_len,
                     int64_t now);
/* Forgets the coverage misses of a namespace (reset). */
void dp_rr_clear_misses(dp_engine_t *e, const char *ns);
/* Waits until every reader that may hold a pointer published before this
 * call has left (match_index.c). Writer side. */
void dp_engine_wait_readers(dp_engine_t *e);

/* ---- Sessions (session.c): the session's owner thread only ------------- */

/* dp_engine_match_ex with a session (NULL: none). */
int dp_engine_match_session(dp_engine_t *e, const doppel_exchange_t *x,
                            unsigned flags, struct dp_session *sess,
                            doppel_reply_t **out);
/* The index of the next answer of ordered oneOf m in s (starts at m's
 * offset, then counts up; the caller takes it modulo the answers). */
uint64_t dp_session_next_answer(struct dp_session *s, const dp_mock_t *m);
/* Store scope 's': get (new ref, NULL when absent), put (value stolen,
 * *old: the value replaced, new ref or NULL), undo (old stolen), incr. */
json_t *dp_session_store_get(struct dp_session *s, const char *key);
int dp_session_store_put(struct dp_session *s, const char *key, json_t *value,
                         json_t **old);
void dp_session_store_undo(struct dp_session *s, const char *key, json_t *old);
int64_t dp_session_store_incr(struct dp_session *s, const char *key,
                              int64_t step, int *saturated);

/* ---- The engine --------------------------------------------------------- */

struct dp_engine {
    dp_engine_cfg_t cfg;
    dp_storage_t *st;

    /* reader side: grace-period counters (see match_index.c) */
    _Atomic(dp_index_t *) cur;
    atomic_uint gp;
    atomic_long readers[2];

    /* writer side */
    pthread_mutex_t wmu;
    pthread_mutex_t jmu; /* swaps of a published mock's json pointer */
    dp_smap_t mocks; /* id -> dp_mock_t* (one ref) */
    uint64_t next_seq;

    dp_stores_t *stores;
    dp_ring_t journal;
    dp_ring_t unmatched;

    int64_t (*clock)(void *ud);
    void *clock_ud;
    dp_engine_listener_t listener;
    unsigned flushes; /* dp_engine_flush calls, under wmu */
    unsigned versions_max; /* versions kept per mock, 0: none */
    /* registered tags (catalog.c): {ns: {tag: createdAt}}, under wmu */
    json_t *tags;
    /* mock folders (catalog.c): {id: {id, name, parentId, namespace,
     * createdAt}}, under wmu */
    json_t *folders;
    int flush_all;    /* set by close: the last flush writes everything */
    atomic_ullong rng_seed;

    /* record and replay */
    _Atomic(dp_rr_snap_t *) rr; /* read inside an index reader section */
    json_t *rr_conf;            /* writer side, under wmu */
    pthread_mutex_t rmu;        /* serialises recordings */
    pthread_mutex_t cov_mu;
    json_t *cov_miss; /* "ns\x1fsvc\x1fMETHOD\x1fpath" -> [count, lastSeen] */
    char **redact;    /* lower-case credential header names */
    size_t n_redact;

    /* template files: "ns\x1fname" -> dp_tfile_t * (owned), under wmu */
    dp_smap_t tfiles;

    /* protocol handlers (cfg.protos or the built-in ones), borrowed */
    const dp_protos_t *protos;
};

/* Flushes between two writes of the counters of mocks without useLimiter
 * (the host flushes once a second). */
#define DP_USAGE_FLUSH_EVERY 10

int64_t dp_engine_now(dp_engine_t *e);
/* Tell the listener (if any) about a change that took effect. */
void dp_engine_mock_changed(dp_engine_t *e, const char *ns, const char *id,
                            unsigned change);
void dp_engine_store_changed(dp_engine_t *e, const char *ns,
                             const char *scope, const char *key);
/* Reader section: pins the published index. */
dp_index_t *dp_index_enter(dp_engine_t *e, unsigned *slot);
void dp_index_leave(dp_engine_t *e, unsigned slot);
/* Writer (under wmu): builds an index of the mock table (NULL on ENOMEM),
 * then publishes it and frees the old one after every reader that may hold
 * it has left. */
dp_index_t *dp_index_from_table(dp_engine_t *e);
void dp_index_swap(dp_engine_t *e, dp_index_t *ix);

#endif
