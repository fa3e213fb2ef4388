/*
 * gql_execute (spec section 6): variables coerced, the operation's root
 * fields collected (@skip / @include, fragments by type condition, fields
 * of one response key merged), one resolver call per top-level response
 * key, then the answers shaped by the selection sets and the schema:
 * members asked for, under their response keys, in selection order;
 * leaves coerced; abstract types resolved; null in a non-null position
 * propagated to the nearest nullable parent with an error at its path.
 *
 * Choices where graphql-js has nothing to say because it has no mocks:
 * - nested values come from the answer's members by field name; a member
 *   that is absent (not null: absent) is faked when opts->fake_missing,
 *   else null, so that a mock may give only some fields of an object;
 * - an answer with errors and a null value is a failed field (as a
 *   resolver that throws): no extra "Cannot return null" error;
 * - the shaping is bounded: depth (opts->max_depth) and the number of
 *   values of the answer (opts->max_values), so a small query cannot make
 *   fake data or introspection of exponential size.
 */
#include <stdlib.h>
#include <string.h>

#include "gql_exec_int.h"

#define EXEC_DEFAULT_MAX_VALUES 500000u
#define EXEC_DEFAULT_DEPTH 64u
#define EXEC_DEFAULT_LIST_LEN 2u
/* Fragment spreads and inline fragments nested inside one selection set. */
#define EXEC_MAX_FRAGMENT_NESTING 64u

typedef struct path {
    const struct path *prev;
    const char *key; /* NULL: list index */
    size_t index;
} path_t;

/* The fields of one response key, merged. */
typedef struct fgroup {
    const char *key;
    const gql_selection_t **sels;
    size_t n, cap;
} fgroup_t;

typedef struct fields {
    fgroup_t *g;
    size_t n, cap;
    int oom;
} fields_t;

typedef struct ex {
    const gql_schema_t *s;
    const gql_doc_t *doc;
    const gql_definition_t *op;
    json_t *vars;
    gql_resolve_fn resolve;
    void *ud;
    json_t *errors;
    int fake;
    uint64_t seed;
    uint32_t list_len;
    uint32_t max_depth;
    size_t max_values;
    size_t nodes;
    int budget_hit;
    int depth_hit;
} ex_t;

/* What a field error names: the parent type and the field. */
typedef struct finfo {
    const char *parent;
    const fgroup_t *g;
} finfo_t;

/* ---- Errors ----------------------------------------------------------------- */

static json_t *path_json(const path_t *p)
{
    json_t *a = p && p->prev ? path_json(p->prev) : json_array();
    if (!a || !p)
        return a;
    json_array_append_new(a, p->key ? json_string(p->key)
                                    : json_integer((json_int_t)p->index));
    return a;
}

static json_t *locations_json(const fgroup_t *g)
{
    json_t *a = json_array();
    for (size_t i = 0; g && i < g->n; i++) {
        const gql_selection_t *s = g->sels[i];
        if (s->loc.line)
            json_array_append_new(a, json_pack("{s:I,s:I}", "line",
                                               (json_int_t)s->loc.line, "column",
                                               (json_int_t)s->loc.column));
    }
    return a;
}

static void field_error(ex_t *x, const char *msg, const fgroup_t *g,
                        const path_t *p)
{
    json_t *e = json_pack("{s:s}", "message", msg);
    if (!e)
        return;
    json_t *locs = locations_json(g);
    if (locs && json_array_size(locs))
        json_object_set_new(e, "locations", locs);
    else
        json_decref(locs);
    json_object_set_new(e, "path", path_json(p));
    json_array_append_new(x->errors, e);
}

static void op_error(ex_t *x, const char *msg, gql_loc_t loc)
{
    json_t *e = json_pack("{s:s}", "message", msg);
    if (e && loc.line)
        json_object_set_new(e, "locations",
                            json_pack("[{s:I,s:I}]", "line", (json_int_t)loc.line,
                                      "column", (json_int_t)loc.column));
    json_array_append_new(x->errors, e);
}

/* The resolver's own errors: kept, with the field's path and locations
 * when they have none. */
static void add_resolver_errors(ex_t *x, json_t *errs, const fgroup_t *g,
                                const path_t *p)
{
    if (!json_is_array(errs))
        return;
    for (size_t i = 0; i < json_array_size(errs); i++) {
        json_t *e = json_array_get(errs, i);
        json_t *c;
        if (json_is_object(e))
            c = json_deep_copy(e);
        else if (json_is_string(e))
            c = json_pack("{s:O}", "message", e);
        else
            continue;
        if (!c)
            continue;
        if (!json_object_get(c, "message"))
            json_object_set_new(c, "message", json_string("Unknown error"));
        if (!json_object_get(c, "locations")) {
            json_t *locs = locations_json(g);
            if (json_array_size(locs))
                json_object_set_new(c, "locations", locs);
            else
                json_decref(locs);
        }
        if (!json_object_get(c, "path"))
            json_object_set_new(c, "path", path_json(p));
        json_array_append_new(x->errors, c);
    }
}

/* ---- Field collection (CollectFields, spec 6.3.2) ------------------------------- */

static fgroup_t *group_for(fields_t *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->g[i].key, key) == 0)
            return &f->g[i];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        fgroup_t *g = realloc(f->g, cap * sizeof *g);
        if (!g) {
            f->oom = 1;
            return NULL;
        }
        f->g = g;
        f->cap = cap;
    }
    fgroup_t *g = &f->g[f->n++];
    memset(g, 0, sizeof *g);
    g->key = key;
    return g;
}

static int group_add(fields_t *f, fgroup_t *g, const gql_selection_t *sel)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 2;
        const gql_selection_t **s = realloc(g->sels, cap * sizeof *s);
        if (!s) {
            f->oom = 1;
            return -1;
        }
        g->sels = s;
        g->cap = cap;
    }
    g->sels[g->n++] = sel;
    return 0;
}

static void fields_free(fields_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->g[i].sels);
    free(f->g);
    memset(f, 0, sizeof *f);
}

/* The value of a directive's "if" argument: 1 true, 0 false, -1 absent or
 * not a boolean. */
static int directive_if(const ex_t *x, const gql_directive_t *d)
{
    for (size_t i = 0; i < d->n_args; i++) {
        if (!d->args[i].name || strcmp(d->args[i].name, "if") != 0 || !d->args[i].value)
            continue;
        const gql_value_t *v = d->args[i].value;
        if (v->kind == GQL_V_BOOLEAN)
            return v->boolean ? 1 : 0;
        if (v->kind == GQL_V_VARIABLE) {
            json_t *b = json_object_get(x->vars, v->text);
            if (json_is_boolean(b))
                return json_is_true(b) ? 1 : 0;
        }
        return -1;
    }
    return -1;
}

static int should_include(const ex_t *x, const gql_directive_t *dirs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!dirs[i].name)
            continue;
        if (strcmp(dirs[i].name, "skip") == 0 && directive_if(x, &dirs[i]) == 1)
            return 0;
        if (strcmp(dirs[i].name, "include") == 0 && directive_if(x, &dirs[i]) == 0)
            return 0;
    }
    return 1;
}

static const gql_definition_t *find_fragment(const ex_t *x, const char *name)
{
    size_t n = 0;
    const gql_definition_t *defs = gql_doc_defs(x->doc, &n);
    for (size_t i = 0; i < n; i++)
        if (defs[i].kind == GQL_DEF_FRAGMENT && defs[i].name &&
            strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

/* DoesFragmentTypeApply; without a schema, by the value's __typename
 * (a value without one takes every fragment). */
static int type_applies(const ex_t *x, const gql_stype_t *obj, const json_t *value,
                        const char *cond)
{
    if (!cond)
        return 1;
    if (!x->s) {
        json_t *tn = json_object_get(value, "__typename");
        return !json_is_string(tn) || strcmp(json_string_value(tn), cond) == 0;
    }
    const gql_stype_t *ct = gql_schema_type(x->s, cond);
    if (!ct || !obj)
        return 0;
    if (ct->kind == GQL_K_OBJECT)
        return ct == obj;
    if (ct->kind == GQL_K_INTERFACE || ct->kind == GQL_K_UNION)
        return gql_schema_possible(ct, obj);
    return 0;
}

typedef struct visited {
    const char **names;
    size_t n, cap;
} visited_t;

static int visited_add(visited_t *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0)
            return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        const char **p = realloc(v->names, cap * sizeof *p);
        if (!p)
            return 0;
        v->names = p;
        v->cap = cap;
    }
    v->names[v->n++] = name;
    return 1;
}

static void collect(const ex_t *x, const gql_stype_t *obj, const json_t *value,
                    const gql_selection_set_t *set, fields_t *out, visited_t *vis,
                    unsigned nesting)
{
    if (!set || nesting > EXEC_MAX_FRAGMENT_NESTING)
        return;
    for (size_t i = 0; i < set->n && !out->oom; i++) {
        const gql_selection_t *sel = set->items[i];
        if (!sel || !should_include(x, sel->dirs, sel->n_dirs))
            continue;
        switch (sel->kind) {
        case GQL_SEL_FIELD: {
            if (!sel->name)
                break;
            fgroup_t *g = group_for(out, sel->alias ? sel->alias : sel->name);
            if (g)
                group_add(out, g, sel);
            break;
        }
        case GQL_SEL_FRAGMENT_SPREAD: {
            if (!sel->name || !visited_add(vis, sel->name))
                break;
            const gql_definition_t *fr = find_fragment(x, sel->name);
            if (!fr || !should_include(x, fr->dirs, fr->n_dirs) ||
                !type_applies(x, obj, value, fr->type_condition))
                break;
            collect(x, obj, value, fr->set, out, vis, nesting + 1);
            break;
        }
        case GQL_SEL_INLINE_FRAGMENT:
            if (!type_applies(x, obj, value, sel->type_condition))
                break;
            collect(x, obj, value, sel->set, out, vis, nesting + 1);
            break;
        }
    }
}

/* The fields of the sub-selections of every field of g (CollectSubfields). */
static void collect_sub(const ex_t *x, const gql_stype_t *obj, const json_t *value,
                        const fgroup_t *g, fields_t *out)
{
    visited_t vis = {0};
    for (size_t i = 0; i < g->n; i++)
        collect(x, obj, value, g->sels[i]->set, out, &vis, 0);
    free(vis.names);
}

/* ---- Shaping --------------------------------------------------------------------- */

static uint64_t path_seed(const ex_t *x, const path_t *p)
{
    uint64_t h = x->seed;
    for (; p; p = p->prev) {
        if (p->key)
            h = gql_fake_mix(h, p->key, strlen(p->key));
        else
            h = gql_fake_mix_index(h, p->index);
    }
    return h;
}

/* Counts one value of the answer; 0 once a bound is passed (the error is
 * given once). */
static int budget(ex_t *x, const fgroup_t *g, const path_t *p, unsigned depth)
{
    if (depth > x->max_depth) {
        if (!x->depth_hit) {
            char m[96];
            snprintf(m, sizeof m, "Answer exceeds the depth limit (%u).", x->max_depth);
            field_error(x, m, g, p);
        }
        x->depth_hit = 1;
        return 0;
    }
    if (++x->nodes > x->max_values) {
        if (!x->budget_hit) {
            char m[96];
            snprintf(m, sizeof m, "Answer exceeds the size limit (%zu values).",
                     x->max_values);
            field_error(x, m, g, p);
        }
        x->budget_hit = 1;
        return 0;
    }
    return 1;
}

static json_t *execute_fields(ex_t *x, const gql_stype_t *obj, const fields_t *f,
                              const json_t *value, const path_t *p,
                              unsigned depth, int intro);

static json_t *complete(ex_t *x, const gql_type_ref_t *t, const finfo_t *fi,
                        const json_t *v, const path_t *p, unsigned depth, int intro);

static void cannot_return_null(ex_t *x, const finfo_t *fi, const path_t *p)
{
    gql_tbuf_t m = {0};
    gql_tb_printf(&m, "Cannot return null for non-nullable field %s.%s.", fi->parent,
                  fi->g->sels[0]->name);
    field_error(x, gql_tb_str(&m), fi->g, p);
    gql_tb_free(&m);
}

static const gql_stype_t *resolve_abstract(ex_t *x, const gql_stype_t *at,
                                           const json_t *v, const finfo_t *fi,
                                           const path_t *p)
{
    gql_tbuf_t m = {0};
    json_t *tn = json_object_get(v, "__typename");
    if (json_is_string(tn)) {
        const gql_stype_t *t = gql_schema_type(x->s, json_string_value(tn));
        if (t && t->kind == GQL_K_OBJECT && gql_schema_possible(at, t))
            return t;
        if (!t)
            gql_tb_printf(&m, "Abstract type \"%s\" was resolved to a type \"%s\" "
                              "that does not exist inside the schema.",
                          at->name, json_string_value(tn));
        else if (t->kind != GQL_K_OBJECT)
            gql_tb_printf(&m, "Abstract type \"%s\" was resolved to a non-object "
                              "type \"%s\".", at->name, t->name);
        else
            gql_tb_printf(&m, "Runtime Object type \"%s\" is not a possible type "
                              "for \"%s\".", t->name, at->name);
    } else {
        /* the first possible type that has every member of the value as a
         * field, else the one that has most of them */
        const gql_stype_t *best = NULL;
        size_t best_hits = 0;
        for (size_t i = 0; i < at->n_possible; i++) {
            const gql_stype_t *t = at->possible[i];
            size_t hits = 0, total = 0;
            const char *k;
            json_t *mv;
            json_object_foreach((json_t *)v, k, mv) {
                total++;
                if (gql_stype_field(t, k))
                    hits++;
            }
            if (hits == total)
                return t;
            if (!best || hits > best_hits) {
                best = t;
                best_hits = hits;
            }
        }
        if (best)
            return best;
        gql_tb_printf(&m, "Abstract type \"%s\" must resolve to an Object type at "
                          "runtime for field \"%s.%s\". Either the \"%s\" type should "
                          "provide a \"resolveType\" function or each possible type "
                          "should provide an \"isTypeOf\" function.",
                      at->name, fi->parent, fi->g->sels[0]->name, at->name);
    }
    field_error(x, gql_tb_str(&m), fi->g, p);
    gql_tb_free(&m);
    return NULL;
}

/* A nullable list or named type (v not null); NULL: an error was given and
 * null must propagate. */
static json_t *complete_inner(ex_t *x, const gql_type_ref_t *t, const finfo_t *fi,
                              const json_t *v, const path_t *p, unsigned depth,
                              int intro)
{
    if (!budget(x, fi->g, p, depth))
        return NULL;
    gql_tbuf_t m = {0};
    if (t->kind == GQL_T_LIST) {
        if (!json_is_array(v)) {
            gql_tb_printf(&m, "Expected Iterable, but did not find one for field "
                              "\"%s.%s\".", fi->parent, fi->g->sels[0]->name);
            field_error(x, gql_tb_str(&m), fi->g, p);
            gql_tb_free(&m);
            return NULL;
        }
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v); i++) {
            path_t ip = {p, NULL, i};
            json_t *c = complete(x, t->of, fi, json_array_get(v, i), &ip, depth + 1,
                                 intro);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, c);
        }
        return out;
    }
    const gql_stype_t *nt = gql_schema_type(x->s, t->name);
    if (!nt)
        return json_deep_copy(v);
    if (nt->kind == GQL_K_SCALAR || nt->kind == GQL_K_ENUM) {
        json_t *r = gql_serialize_leaf(nt, v, &m);
        if (!r)
            field_error(x, gql_tb_str(&m), fi->g, p);
        gql_tb_free(&m);
        return r;
    }
    if (nt->kind == GQL_K_INPUT_OBJECT || !json_is_object(v)) {
        gql_tb_printf(&m, "Expected value of type \"%s\" but got: ", nt->name);
        gql_tb_inspect(&m, v);
        gql_tb_putn(&m, ".", 1);
        field_error(x, gql_tb_str(&m), fi->g, p);
        gql_tb_free(&m);
        return NULL;
    }
    const gql_stype_t *rt = nt;
    if (nt->kind != GQL_K_OBJECT) {
        rt = intro ? NULL : resolve_abstract(x, nt, v, fi, p);
        if (!rt)
            return NULL;
    }
    fields_t sub = {0};
    collect_sub(x, rt, v, fi->g, &sub);
    json_t *r = execute_fields(x, rt, &sub, v, p, depth + 1, intro);
    fields_free(&sub);
    return r;
}

/* CompleteValue: NULL when null propagates (the error is recorded). */
static json_t *complete(ex_t *x, const gql_type_ref_t *t, const finfo_t *fi,
                        const json_t *v, const path_t *p, unsigned depth, int intro)
{
    if (t->kind == GQL_T_NON_NULL) {
        if (!v || json_is_null(v)) {
            cannot_return_null(x, fi, p);
            return NULL;
        }
        return complete_inner(x, t->of, fi, v, p, depth, intro);
    }
    if (!v || json_is_null(v))
        return json_null();
    json_t *r = complete_inner(x, t, fi, v, p, depth, intro);
    return r ? r : json_null();
}

/* Null for a failed field: json null if its type is nullable, else NULL
 * (propagate). */
static json_t *failed_field(const gql_type_ref_t *t)
{
    return t && t->kind == GQL_T_NON_NULL ? NULL : json_null();
}

static json_t *execute_fields(ex_t *x, const gql_stype_t *obj, const fields_t *f,
                              const json_t *value, const path_t *p,
                              unsigned depth, int intro)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    for (size_t i = 0; i < f->n; i++) {
        const fgroup_t *g = &f->g[i];
        const gql_selection_t *sel = g->sels[0];
        path_t fp = {p, g->key, 0};
        if (strcmp(sel->name, "__typename") == 0) {
            json_object_set_new(out, g->key, json_string(obj->name));
            continue;
        }
        const gql_sfield_t *def = gql_stype_field(obj, sel->name);
        if (!def)
            continue; /* not a field of the type: validation's business */
        gql_tbuf_t m = {0};
        json_t *args = gql_coerce_arguments(x->s, def->args, def->n_args, sel->args,
                                            sel->n_args, x->vars, &m);
        json_t *r;
        finfo_t fi = {obj->name, g};
        if (!args) {
            field_error(x, gql_tb_str(&m), g, &fp);
            r = failed_field(def->type);
        } else if (intro) {
            json_t *cv = gql_intro_field(x->s, value, sel->name, args);
            r = complete(x, def->type, &fi, cv, &fp, depth, 1);
            json_decref(cv);
        } else {
            json_t *mv = json_object_get(value, sel->name);
            json_t *fake = NULL;
            if (!mv && x->fake)
                mv = fake = gql_fake_value(x->s, def->type, sel->name,
                                           path_seed(x, &fp), x->list_len);
            r = complete(x, def->type, &fi, mv, &fp, depth, 0);
            json_decref(fake);
        }
        json_decref(args);
        gql_tb_free(&m);
        if (!r) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, g->key, r);
    }
    return out;
}

/* ---- Shaping without a schema ----------------------------------------------------- */

static int has_subselection(const fgroup_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->sels[i]->set)
            return 1;
    return 0;
}

static json_t *shape_untyped(ex_t *x, const fgroup_t *g, const json_t *v,
                             const path_t *p, unsigned depth)
{
    if (!v)
        return json_null();
    if (!budget(x, g, p, depth))
        return json_null();
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v); i++) {
            path_t ip = {p, NULL, i};
            json_array_append_new(out, shape_untyped(x, g, json_array_get(v, i), &ip,
                                                     depth + 1));
        }
        return out;
    }
    if (!json_is_object(v) || !has_subselection(g))
        return json_deep_copy(v);
    fields_t sub = {0};
    collect_sub(x, NULL, v, g, &sub);
    json_t *out = json_object();
    for (size_t i = 0; i < sub.n; i++) {
        const fgroup_t *sg = &sub.g[i];
        const char *name = sg->sels[0]->name;
        path_t fp = {p, sg->key, 0};
        json_t *mv = json_object_get(v, name);
        json_object_set_new(out, sg->key,
                            mv ? shape_untyped(x, sg, mv, &fp, depth + 1) : json_null());
    }
    fields_free(&sub);
    return out;
}

/* ---- Top level -------------------------------------------------------------------- */

static const char *op_word(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION ? "mutation"
           : op == GQL_OP_SUBSCRIPTION ? "subscription" : "query";
}

static const char *default_root_name(gql_op_kind_t op)
{
    return op == GQL_OP_MUTATION ? "Mutation"
           : op == GQL_OP_SUBSCRIPTION ? "Subscription" : "Query";
}

/* The meta fields of the query root (graphql-js's SchemaMetaFieldDef and
 * TypeMetaFieldDef). */
static const gql_type_ref_t T_SCHEMA = {GQL_T_NAMED, "__Schema", NULL, {0, 0}};
static const gql_type_ref_t T_SCHEMA_NN = {GQL_T_NON_NULL, NULL,
                                           (gql_type_ref_t *)&T_SCHEMA, {0, 0}};
static const gql_type_ref_t T_TYPE = {GQL_T_NAMED, "__Type", NULL, {0, 0}};
static const gql_type_ref_t T_STRING = {GQL_T_NAMED, "String", NULL, {0, 0}};
static const gql_type_ref_t T_STRING_NN = {GQL_T_NON_NULL, NULL,
                                           (gql_type_ref_t *)&T_STRING, {0, 0}};
static const gql_sarg_t TYPE_ARGS[1] = {{"name", NULL, &T_STRING_NN, NULL, NULL}};

/* One top-level response key: the resolver's answer (or an introspection
 * root, or fake data), completed. NULL: null propagates to data. */
static json_t *execute_root_field(ex_t *x, const gql_stype_t *root, const fgroup_t *g,
                                  int is_query_root)
{
    const gql_selection_t *sel = g->sels[0];
    path_t fp = {NULL, g->key, 0};
    finfo_t fi = {root ? root->name : default_root_name(x->op->op), g};
    gql_tbuf_t m = {0};
    json_t *r = NULL;

    if (strcmp(sel->name, "__typename") == 0)
        return json_string(fi.parent);
    if (x->s && is_query_root &&
        (strcmp(sel->name, "__schema") == 0 || strcmp(sel->name, "__type") == 0)) {
        int is_type = sel->name[2] == 't';
        json_t *args = gql_coerce_arguments(x->s, TYPE_ARGS, is_type ? 1 : 0, sel->args,
                                            sel->n_args, x->vars, &m);
        if (!args) {
            field_error(x, gql_tb_str(&m), g, &fp);
            gql_tb_free(&m);
            return is_type ? json_null() : NULL;
        }
        json_t *v = is_type ? gql_intro_type_by_name(
                                  x->s, json_string_value(json_object_get(args, "name")))
                            : gql_intro_schema(x->s);
        r = complete(x, is_type ? &T_TYPE : &T_SCHEMA_NN, &fi, v, &fp, 1, 1);
        json_decref(v);
        json_decref(args);
        return r;
    }

    const gql_sfield_t *def = NULL;
    if (x->s) {
        def = gql_stype_field(root, sel->name);
        if (!def)
            return json_null(); /* unknown field: skipped by the caller */
    }
    json_t *args = gql_coerce_arguments(x->s, def ? def->args : NULL,
                                        def ? def->n_args : 0, sel->args, sel->n_args,
                                        x->vars, &m);
    if (!args) {
        field_error(x, gql_tb_str(&m), g, &fp);
        gql_tb_free(&m);
        return failed_field(def ? def->type : NULL);
    }
    gql_field_call_t call = {
        .op = x->op->op, .field = sel->name, .response_key = g->key, .args = args,
        .variables = x->vars, .loc = sel->loc, .def = def, .sel = sel};
    json_t *value = NULL, *errs = NULL;
    int rc = x->resolve ? x->resolve(x->ud, &call, &value, &errs) : GQL_NO_ANSWER;
    json_decref(args);
    int failed = 0;
    if (rc < 0) {
        field_error(x, "Internal error", g, &fp);
        failed = 1;
    } else if (rc == GQL_NO_ANSWER) {
        json_decref(value);
        value = NULL;
        if (x->fake && def) {
            value = gql_fake_value(x->s, def->type, sel->name, path_seed(x, &fp),
                                   x->list_len);
        } else {
            gql_tb_printf(&m, "No mock for field \"%s\".", sel->name);
            field_error(x, gql_tb_str(&m), g, &fp);
            failed = 1;
        }
    } else {
        add_resolver_errors(x, errs, g, &fp);
        if ((!value || json_is_null(value)) && json_array_size(errs) > 0)
            failed = 1;
    }
    json_decref(errs);
    gql_tb_free(&m);
    if (failed)
        r = failed_field(def ? def->type : NULL);
    else if (def)
        r = complete(x, def->type, &fi, value, &fp, 1, 0);
    else
        r = shape_untyped(x, g, value, &fp, 1);
    json_decref(value);
    return r;
}

static json_t *execute_root(ex_t *x)
{
    const gql_stype_t *root = NULL;
    if (x->s) {
        root = gql_schema_root(x->s, x->op->op);
        if (!root) {
            char msg[96];
            snprintf(msg, sizeof msg,
                     "Schema is not configured to execute %s operation.",
                     op_word(x->op->op));
            op_error(x, msg, x->op->loc);
            return json_null();
        }
    }
    int is_query_root = root && root == gql_schema_root(x->s, GQL_OP_QUERY);
    fields_t f = {0};
    visited_t vis = {0};
    collect(x, root, NULL, x->op->set, &f, &vis, 0);
    free(vis.names);
    json_t *data = json_object();
    for (size_t i = 0; i < f.n && data; i++) {
        const fgroup_t *g = &f.g[i];
        const char *name = g->sels[0]->name;
        if (x->s && strcmp(name, "__typename") != 0 &&
            !(is_query_root && (strcmp(name, "__schema") == 0 ||
                                strcmp(name, "__type") == 0)) &&
            !gql_stype_field(root, name))
            continue;
        json_t *r = execute_root_field(x, root, g, is_query_root);
        if (!r) { /* a non-null root field failed: data is null, and the
                     remaining fields are not run (as graphql-js) */
            json_decref(data);
            data = NULL;
            break;
        }
        json_object_set_new(data, g->key, r);
    }
    fields_free(&f);
    return data ? data : json_null();
}

json_t *gql_execute(const gql_schema_t *s, const gql_doc_t *doc,
                    const gql_definition_t *op, const json_t *variables,
                    const gql_exec_opts_t *opts, gql_resolve_fn resolve,
                    void *ud, int *request_error)
{
    gql_exec_opts_t dflt = {0};
    if (!opts)
        opts = &dflt;
    if (request_error)
        *request_error = 0;
    json_t *resp = json_object();
    json_t *errors = json_array();
    if (!resp || !errors) {
        json_decref(resp);
        json_decref(errors);
        return NULL;
    }
    if (!doc || !op || op->kind != GQL_DEF_OPERATION) {
        json_array_append_new(errors, json_pack("{s:s}", "message",
                                                "Must provide an operation."));
        json_object_set_new(resp, "errors", errors);
        if (request_error)
            *request_error = 1;
        return resp;
    }
    gql_cerr_t cerr = {errors, 0, 0};
    json_t *vars = gql_coerce_variables(s, op, variables, &cerr);
    if (!vars || json_array_size(errors) > 0) {
        json_decref(vars);
        json_object_set_new(resp, "errors", errors);
        if (request_error)
            *request_error = 1;
        return resp;
    }
    ex_t x = {
        .s = s, .doc = doc, .op = op, .vars = vars, .resolve = resolve, .ud = ud,
        .errors = errors, .fake = opts->fake_missing && s, .seed = opts->seed,
        .list_len = opts->fake_list_len ? opts->fake_list_len : EXEC_DEFAULT_LIST_LEN,
        .max_depth = opts->max_depth ? opts->max_depth : EXEC_DEFAULT_DEPTH,
        .max_values = opts->max_values ? opts->max_values : EXEC_DEFAULT_MAX_VALUES};
    json_t *data = execute_root(&x);
    json_object_set_new(resp, "data", data);
    if (json_array_size(errors))
        json_object_set_new(resp, "errors", errors);
    else
        json_decref(errors);
    json_decref(vars);
    return resp;
}
