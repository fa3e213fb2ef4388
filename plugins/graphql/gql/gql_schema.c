/*
 * Schemas built from SDL sources, as graphql-js's buildASTSchema and
 * assertValidSchema build and check them: definitions collected over every
 * source, extensions merged into what they extend, the built-in types and
 * directives added (parsed from gql_builtin_sdl.inc), then the checks of
 * the specification's type system section. The first error found is
 * returned, named "source:line:column: message".
 *
 * Types, fields, input fields and enum values are found through hash
 * tables built once; a schema is immutable afterwards and may be read by
 * many threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_internal.h"
#include "gql_builtin_sdl.inc"

/* ---- Hash maps (name -> pointer), in the schema's arena ----------------- */

typedef struct hent {
    const char *key;
    const void *val;
} hent_t;

typedef struct hmap {
    hent_t *e;
    size_t cap, n; /* cap: 0 or a power of two */
} hmap_t;

static const void *hmap_get(const hmap_t *m, const char *key)
{
    if (!m->cap || !key)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = gql_hash_str(key) & mask;; i = (i + 1) & mask) {
        if (!m->e[i].key)
            return NULL;
        if (strcmp(m->e[i].key, key) == 0)
            return m->e[i].val;
    }
}

static void hmap_insert(hent_t *e, size_t cap, const char *key, const void *val)
{
    size_t mask = cap - 1;
    size_t i = gql_hash_str(key) & mask;
    while (e[i].key)
        i = (i + 1) & mask;
    e[i].key = key;
    e[i].val = val;
}

/* Adds key (not yet present: callers check with hmap_get first). */
static int hmap_put(gql_arena_t *a, hmap_t *m, const char *key, const void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        hent_t *ne = gql_arena_alloc(a, nc * sizeof(*ne));
        if (!ne)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key)
                hmap_insert(ne, nc, m->e[i].key, m->e[i].val);
        m->e = ne;
        m->cap = nc;
    }
    hmap_insert(m->e, m->cap, key, val);
    m->n++;
    return 0;
}

/* ---- The schema ---------------------------------------------------------- */

typedef struct part { /* one definition or extension of a type */
    const gql_definition_t *d;
    size_t src;
} part_t;

typedef struct stype_impl {
    gql_stype_t pub; /* first: a gql_stype_t * is a stype_impl_t * */
    hmap_t members;  /* fields, input fields or enum values by name */
    part_t *parts;   /* [0] the definition, then the extensions */
    size_t n_parts, cap_parts;
    /* a standard scalar the SDL declares (and maybe extends): graphql-js
     * keeps the standard one and ignores these, but checks their
     * directives */
    part_t *uparts;
    size_t n_uparts, cap_uparts;
    size_t idx;      /* in definition order */
    int one_of;      /* INPUT_OBJECT with @oneOf */
    const gql_field_def_t **fdefs;       /* parallel to pub.fields */
    const gql_input_value_def_t **idefs; /* parallel to pub.input_fields */
    size_t *fsrc, *isrc;                 /* their sources */
    const gql_loc_t **iface_locs;        /* parallel to pub.interfaces */
    size_t *iface_src;
    const gql_stype_t **poss;
    size_t cap_poss;
    /* OBJECT: the unions it is a member of, so that "is this object a
     * possible type of that union" looks at a short list */
    const gql_stype_t **unions;
    size_t n_unions, cap_unions;
    /* INPUT_OBJECT: whether graphql-js reads each input field's default
     * (0 not yet known, 1 being judged, 2 yes, 3 no): judged once, so
     * defaults that lead to defaults cost no more than their number */
    unsigned char *dverdict;
    size_t mark;       /* scratch for the checks: 1 + the index of the */
    size_t iface_mark; /* last union / implementing type that saw it */
} stype_impl_t;

typedef struct sdir_impl {
    gql_sdirective_t pub; /* first: a gql_sdirective_t * is a sdir_impl_t * */
    const gql_definition_t *d;
    size_t src;
    uint32_t order[20]; /* pub.locations as written */
    size_t n_order;
} sdir_impl_t;

struct gql_schema {
    gql_arena_t arena;
    gql_doc_t **docs;
    const char **doc_names;
    size_t n_docs;
    stype_impl_t **order; /* definition order */
    size_t n_types, cap_types;
    const gql_stype_t **sorted;
    hmap_t types;
    sdir_impl_t **dirs;
    size_t n_dirs, cap_dirs;
    const gql_sdirective_t **dir_list;
    hmap_t dir_map;
    const gql_stype_t *roots[3];
    const char *description;
};

typedef struct builder {
    gql_schema_t *s;
    gql_error_t *err;
    const gql_definition_t *schema_def;
    size_t schema_src;
    part_t *schema_exts;
    size_t n_schema_exts, cap_schema_exts;
    part_t *type_exts;
    size_t n_type_exts, cap_type_exts;
} builder_t;

static int fail(builder_t *b, size_t src, gql_loc_t loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(builder_t *b, size_t src, gql_loc_t loc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (src >= b->s->n_docs) { /* about the schema as a whole */
        gql_set_error(b->err, loc, "%s", msg);
        return -1;
    }
    const char *name = b->s->doc_names[src];
    if (loc.line)
        gql_set_error(b->err, loc, "%s:%u:%u: %s", name, loc.line, loc.column, msg);
    else
        gql_set_error(b->err, loc, "%s: %s", name, msg);
    return -1;
}

static int oom(builder_t *b)
{
    gql_loc_t none = {0, 0};
    gql_set_error(b->err, none, "Out of memory.");
    return -1;
}

#define TRY(x)                                                                 \
    do {                                                                       \
        if ((x) < 0)                                                           \
            return -1;                                                         \
    } while (0)

#define PUSH(b, arr, n, cap)                                                   \
    ((n) < (cap) ? 0                                                           \
     : ((arr) = gql_arena_grow(&(b)->s->arena, (arr), &(cap), (n),            \
                               sizeof(*(arr))))                                \
         ? 0                                                                   \
         : oom(b))

static void *balloc(builder_t *b, size_t n)
{
    void *p = gql_arena_alloc(&b->s->arena, n);
    if (!p)
        oom(b);
    return p;
}

static stype_impl_t *impl(const gql_stype_t *t)
{
    return (stype_impl_t *)(uintptr_t)t;
}

static stype_impl_t *find_type(const gql_schema_t *s, const char *name)
{
    return (stype_impl_t *)(uintptr_t)hmap_get(&s->types, name);
}

static int is_builtin_src(size_t src)
{
    return src == 0;
}

static int reserved(const char *name)
{
    return name[0] == '_' && name[1] == '_';
}

static int check_name(builder_t *b, size_t src, gql_loc_t loc, const char *name)
{
    if (!is_builtin_src(src) && reserved(name))
        return fail(b, src, loc,
                    "Name \"%s\" must not begin with \"__\", which is reserved by "
                    "GraphQL introspection.",
                    name);
    return 0;
}

static const char *kind_word(gql_def_kind_t k)
{
    switch (k) {
    case GQL_DEF_SCALAR: return "scalar";
    case GQL_DEF_OBJECT: return "object";
    case GQL_DEF_INTERFACE: return "interface";
    case GQL_DEF_UNION: return "union";
    case GQL_DEF_ENUM: return "enum";
    case GQL_DEF_INPUT: return "input object";
    default: return "";
    }
}

static gql_kind_t kind_of(gql_def_kind_t k)
{
    switch (k) {
    case GQL_DEF_OBJECT: return GQL_K_OBJECT;
    case GQL_DEF_INTERFACE: return GQL_K_INTERFACE;
    case GQL_DEF_UNION: return GQL_K_UNION;
    case GQL_DEF_ENUM: return GQL_K_ENUM;
    case GQL_DEF_INPUT: return GQL_K_INPUT_OBJECT;
    default: return GQL_K_SCALAR;
    }
}

static int is_std_scalar(const char *n)
{
    return strcmp(n, "Int") == 0 || strcmp(n, "Float") == 0 ||
           strcmp(n, "String") == 0 || strcmp(n, "Boolean") == 0 ||
           strcmp(n, "ID") == 0;
}

/* " Did you mean ...?" for an unknown type name: graphql-js suggests the
 * types the SDL defines, and for a type reference also the built-in ones. */
static void type_hint(const gql_schema_t *s, const char *name, int builtins,
                      char *buf, size_t cap)
{
    buf[0] = '\0';
    const char **names = malloc((s->n_types + 1) * sizeof(*names));
    if (!names)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->n_types; i++)
        if (builtins || !s->order[i]->pub.builtin)
            names[n++] = s->order[i]->pub.name;
    const char *best[GQL_MAX_SUGGESTIONS];
    size_t k = gql_suggest(name, names, n, best, GQL_MAX_SUGGESTIONS);
    gql_did_you_mean(buf, cap, NULL, best, k);
    free(names);
}

static int unknown_type(builder_t *b, size_t src, gql_loc_t loc, const char *name)
{
    char hint[300];
    type_hint(b->s, name, 1, hint, sizeof(hint));
    return fail(b, src, loc, "Unknown type \"%s\".%s", name, hint);
}

/* ---- Collecting definitions ---------------------------------------------- */

static int add_type(builder_t *b, const gql_definition_t *d, size_t src)
{
    gql_schema_t *s = b->s;
    TRY(check_name(b, src, d->loc, d->name));
    stype_impl_t *old = find_type(s, d->name);
    if (old) {
        /* a schema may declare the standard scalars; they stay standard */
        if (old->pub.builtin && d->kind == GQL_DEF_SCALAR && is_std_scalar(d->name) &&
            !old->n_uparts) {
            TRY(PUSH(b, old->uparts, old->n_uparts, old->cap_uparts));
            old->uparts[old->n_uparts++] = (part_t){d, src};
            return 0;
        }
        return fail(b, src, d->loc, "There can be only one type named \"%s\".",
                    d->name);
    }
    stype_impl_t *t = balloc(b, sizeof(*t));
    if (!t)
        return -1;
    t->pub.kind = kind_of(d->kind);
    t->pub.name = d->name;
    t->pub.description = d->description;
    t->pub.builtin = is_builtin_src(src);
    TRY(PUSH(b, t->parts, t->n_parts, t->cap_parts));
    t->parts[t->n_parts++] = (part_t){d, src};
    t->idx = s->n_types;
    TRY(PUSH(b, s->order, s->n_types, s->cap_types));
    s->order[s->n_types++] = t;
    if (hmap_put(&s->arena, &s->types, t->pub.name, t) < 0)
        return oom(b);
    return 0;
}

static int add_directive(builder_t *b, const gql_definition_t *d, size_t src)
{
    gql_schema_t *s = b->s;
    TRY(check_name(b, src, d->loc, d->name));
    sdir_impl_t *old = (sdir_impl_t *)(uintptr_t)hmap_get(&s->dir_map, d->name);
    if (old && !(old->pub.builtin && !is_builtin_src(src)))
        return fail(b, src, d->loc, "There can be only one directive named \"@%s\".",
                    d->name);
    if (old) {
        /* a schema may redefine a specified directive (graphql-js then
         * uses its definition) */
        old->d = d;
        old->src = src;
        old->pub.builtin = 0;
        return 0;
    }
    sdir_impl_t *x = balloc(b, sizeof(*x));
    if (!x)
        return -1;
    x->d = d;
    x->src = src;
    x->pub.builtin = is_builtin_src(src);
    TRY(PUSH(b, s->dirs, s->n_dirs, s->cap_dirs));
    s->dirs[s->n_dirs++] = x;
    if (hmap_put(&s->arena, &s->dir_map, d->name, x) < 0)
        return oom(b);
    return 0;
}

static int collect(builder_t *b)
{
    gql_schema_t *s = b->s;
    for (size_t di = 0; di < s->n_docs; di++) {
        size_t n;
        const gql_definition_t *defs = gql_doc_defs(s->docs[di], &n);
        for (size_t i = 0; i < n; i++) {
            const gql_definition_t *d = &defs[i];
            switch (d->kind) {
            case GQL_DEF_OPERATION:
                return fail(b, di, d->loc,
                            "Operation definitions are not allowed in a schema.");
            case GQL_DEF_FRAGMENT:
                return fail(b, di, d->loc,
                            "Fragment definitions are not allowed in a schema.");
            case GQL_DEF_SCHEMA:
                if (d->extension) {
                    TRY(PUSH(b, b->schema_exts, b->n_schema_exts, b->cap_schema_exts));
                    b->schema_exts[b->n_schema_exts++] = (part_t){d, di};
                } else if (b->schema_def) {
                    return fail(b, di, d->loc, "Must provide only one schema definition.");
                } else {
                    b->schema_def = d;
                    b->schema_src = di;
                }
                break;
            case GQL_DEF_DIRECTIVE:
                TRY(add_directive(b, d, di));
                break;
            default:
                if (d->extension) {
                    TRY(PUSH(b, b->type_exts, b->n_type_exts, b->cap_type_exts));
                    b->type_exts[b->n_type_exts++] = (part_t){d, di};
                } else {
                    TRY(add_type(b, d, di));
                }
            }
        }
    }
    /* Extensions may come before what they extend, in any source. */
    for (size_t i = 0; i < b->n_type_exts; i++) {
        const part_t *e = &b->type_exts[i];
        stype_impl_t *t = find_type(s, e->d->name);
        /* built-in types exist for the SDL only where it declares them */
        if (t && t->pub.builtin && !t->n_uparts)
            t = NULL;
        if (!t) {
            char hint[300];
            type_hint(s, e->d->name, 0, hint, sizeof(hint));
            return fail(b, e->src, e->d->loc,
                        "Cannot extend type \"%s\" because it is not defined.%s",
                        e->d->name, hint);
        }
        if (t->pub.kind != kind_of(e->d->kind))
            return fail(b, e->src, e->d->loc, "Cannot extend non-%s type \"%s\".",
                        kind_word(e->d->kind), e->d->name);
        if (t->pub.builtin) { /* a declared standard scalar: no effect */
            TRY(PUSH(b, t->uparts, t->n_uparts, t->cap_uparts));
            t->uparts[t->n_uparts++] = *e;
            continue;
        }
        TRY(PUSH(b, t->parts, t->n_parts, t->cap_parts));
        t->parts[t->n_parts++] = *e;
    }
    return 0;
}

/* ---- Directives and values written in the SDL (graphql-js's SDL rules) -- */

/* The index of the first item whose name an earlier item already has,
 * SIZE_MAX if none; names are `const char *` at `off` in items of `stride`
 * bytes. Hashed, so that a hostile list of thousands of names costs no
 * more than reading it. */
static size_t first_dup(const void *base, size_t n, size_t stride, size_t off)
{
#define NAME_AT(i) (*(const char *const *)((const char *)base + (i) * stride + off))
    if (n < 2)
        return SIZE_MAX;
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    size_t *slot = n > 16 ? calloc(cap, sizeof(*slot)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = NAME_AT(i);
        if (!slot) { /* short lists, or no memory: compare each pair */
            for (size_t j = 0; j < i; j++)
                if (strcmp(NAME_AT(j), name) == 0)
                    return i;
            continue;
        }
        size_t h = gql_hash_str(name) & (cap - 1);
        for (; slot[h]; h = (h + 1) & (cap - 1))
            if (strcmp(NAME_AT(slot[h] - 1), name) == 0) {
                free(slot);
                return i;
            }
        slot[h] = i + 1;
    }
    free(slot);
    return SIZE_MAX;
#undef NAME_AT
}

/* graphql-js UniqueInputFieldNames: {a: 1, a: 2} anywhere in a value. */
static int check_value(builder_t *b, size_t src, const gql_value_t *v)
{
    if (v->kind == GQL_V_LIST)
        for (size_t i = 0; i < v->n_items; i++)
            TRY(check_value(b, src, v->items[i]));
    if (v->kind != GQL_V_OBJECT)
        return 0;
    size_t dup = first_dup(v->fields, v->n_fields, sizeof(*v->fields),
                           offsetof(gql_object_field_t, name));
    for (size_t i = 0; i < v->n_fields; i++) {
        if (i == dup)
                return fail(b, src, v->fields[i].loc,
                            "There can be only one input field named \"%s\".",
                            v->fields[i].name);
        TRY(check_value(b, src, v->fields[i].value));
    }
    return 0;
}

typedef struct dir_group { /* the directives of one location */
    const gql_directive_t *dirs;
    size_t n, src;
} dir_group_t;

/* One use of a directive: known, allowed here, its arguments known, not
 * repeated, the required ones given. */
static int check_dir_use(builder_t *b, size_t src, const gql_directive_t *u,
                         uint32_t where)
{
    const sdir_impl_t *x = hmap_get(&b->s->dir_map, u->name);
    if (!x)
        return fail(b, src, u->loc, "Unknown directive \"@%s\".", u->name);
    if (!(x->d->locations & where))
        return fail(b, src, u->loc, "Directive \"@%s\" may not be used on %s.", u->name,
                    gql_dl_name(where));
    const gql_definition_t *d = x->d;
    size_t dup = first_dup(u->args, u->n_args, sizeof(*u->args),
                           offsetof(gql_argument_t, name));
    for (size_t i = 0; i < u->n_args; i++) {
        const gql_argument_t *a = &u->args[i];
        int known = 0;
        for (size_t j = 0; j < d->n_inputs && !known; j++)
            known = strcmp(d->inputs[j].name, a->name) == 0;
        if (!known) {
            const char *names[64], *best[GQL_MAX_SUGGESTIONS];
            size_t n = d->n_inputs < 64 ? d->n_inputs : 64;
            for (size_t j = 0; j < n; j++)
                names[j] = d->inputs[j].name;
            char hint[300] = "";
            gql_did_you_mean(hint, sizeof(hint), NULL, best,
                             gql_suggest(a->name, names, n, best, GQL_MAX_SUGGESTIONS));
            return fail(b, src, a->loc, "Unknown argument \"%s\" on directive \"@%s\".%s",
                        a->name, u->name, hint);
        }
        if (i == dup)
            return fail(b, src, a->loc, "There can be only one argument named \"%s\".",
                        a->name);
        TRY(check_value(b, src, a->value));
    }
    for (size_t j = 0; j < d->n_inputs; j++) {
        const gql_input_value_def_t *iv = &d->inputs[j];
        if (iv->type->kind != GQL_T_NON_NULL || iv->default_value)
            continue;
        int given = 0;
        for (size_t i = 0; i < u->n_args && !given; i++)
            given = strcmp(u->args[i].name, iv->name) == 0;
        if (!given) {
            char ts[256] = "";
            gql_type_ref_str(iv->type, ts, sizeof(ts));
            return fail(b, src, u->loc,
                        "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but "
                        "it was not provided.",
                        u->name, iv->name, ts);
        }
    }
    return 0;
}

/* The directives of one location, over the groups that share it (a type's
 * definition and its extensions count as one location, as in graphql-js). */
static int check_dir_groups(builder_t *b, const dir_group_t *g, size_t ng,
                            uint32_t where)
{
    for (size_t k = 0; k < ng; k++)
        for (size_t i = 0; i < g[k].n; i++) {
            const gql_directive_t *u = &g[k].dirs[i];
            TRY(check_dir_use(b, g[k].src, u, where));
            const sdir_impl_t *x = hmap_get(&b->s->dir_map, u->name);
            if (x->d->repeatable)
                continue;
            for (size_t k2 = 0; k2 <= k; k2++)
                for (size_t j = 0; j < (k2 == k ? i : g[k2].n); j++)
                    if (strcmp(g[k2].dirs[j].name, u->name) == 0)
                        return fail(b, g[k].src, u->loc,
                                    "The directive \"@%s\" can only be used once at this "
                                    "location.",
                                    u->name);
        }
    return 0;
}

static int check_dirs(builder_t *b, size_t src, const gql_directive_t *dirs, size_t n,
                      uint32_t where)
{
    dir_group_t g = {dirs, n, src};
    return check_dir_groups(b, &g, 1, where);
}

static int check_input_defs(builder_t *b, size_t src, const gql_input_value_def_t *iv,
                            size_t n, uint32_t where)
{
    for (size_t i = 0; i < n; i++) {
        TRY(check_dirs(b, src, iv[i].dirs, iv[i].n_dirs, where));
        if (iv[i].default_value)
            TRY(check_value(b, src, iv[i].default_value));
    }
    return 0;
}

static uint32_t type_location(gql_kind_t k)
{
    switch (k) {
    case GQL_K_SCALAR: return GQL_DL_SCALAR;
    case GQL_K_OBJECT: return GQL_DL_OBJECT;
    case GQL_K_INTERFACE: return GQL_DL_INTERFACE;
    case GQL_K_UNION: return GQL_DL_UNION;
    case GQL_K_ENUM: return GQL_DL_ENUM;
    case GQL_K_INPUT_OBJECT: return GQL_DL_INPUT_OBJECT;
    }
    return 0;
}

static int check_type_uses(builder_t *b, const stype_impl_t *t)
{
    /* a built-in type: only what the SDL wrote about it (a declared
     * standard scalar) */
    const part_t *parts = t->pub.builtin ? t->uparts : t->parts;
    size_t n_parts = t->pub.builtin ? t->n_uparts : t->n_parts;
    if (!n_parts)
        return 0;
    dir_group_t *g = malloc(n_parts * sizeof(*g));
    if (!g)
        return oom(b);
    for (size_t p = 0; p < n_parts; p++)
        g[p] = (dir_group_t){parts[p].d->dirs, parts[p].d->n_dirs, parts[p].src};
    int rc = check_dir_groups(b, g, n_parts, type_location(t->pub.kind));
    free(g);
    TRY(rc);
    if (t->pub.builtin)
        return 0;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        size_t src = t->parts[p].src;
        for (size_t i = 0; i < d->n_fields; i++) {
            const gql_field_def_t *f = &d->fields[i];
            TRY(check_dirs(b, src, f->dirs, f->n_dirs, GQL_DL_FIELD_DEFINITION));
            TRY(check_input_defs(b, src, f->args, f->n_args, GQL_DL_ARGUMENT_DEFINITION));
        }
        TRY(check_input_defs(b, src, d->inputs, d->n_inputs, GQL_DL_INPUT_FIELD_DEFINITION));
        for (size_t i = 0; i < d->n_values; i++)
            TRY(check_dirs(b, src, d->values[i].dirs, d->values[i].n_dirs,
                           GQL_DL_ENUM_VALUE));
    }
    return 0;
}

static int check_sdl_uses(builder_t *b)
{
    gql_schema_t *s = b->s;
    size_t ng = (b->schema_def ? 1 : 0) + b->n_schema_exts;
    if (ng) {
        dir_group_t *g = malloc(ng * sizeof(*g));
        if (!g)
            return oom(b);
        size_t k = 0;
        if (b->schema_def)
            g[k++] = (dir_group_t){b->schema_def->dirs, b->schema_def->n_dirs, b->schema_src};
        for (size_t i = 0; i < b->n_schema_exts; i++)
            g[k++] = (dir_group_t){b->schema_exts[i].d->dirs, b->schema_exts[i].d->n_dirs,
                                   b->schema_exts[i].src};
        int rc = check_dir_groups(b, g, ng, GQL_DL_SCHEMA);
        free(g);
        TRY(rc);
    }
    for (size_t i = 0; i < s->n_types; i++)
        TRY(check_type_uses(b, s->order[i]));
    for (size_t i = 0; i < s->n_dirs; i++)
        if (!is_builtin_src(s->dirs[i]->src))
            TRY(check_input_defs(b, s->dirs[i]->src, s->dirs[i]->d->inputs,
                                 s->dirs[i]->d->n_inputs, GQL_DL_ARGUMENT_DEFINITION));
    return 0;
}

/* ---- Building members -------------------------------------------------------- */

static const gql_directive_t *find_dir(const gql_directive_t *dirs, size_t n,
                                       const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(dirs[i].name, name) == 0)
            return &dirs[i];
    return NULL;
}

static const gql_value_t *dir_arg(const gql_directive_t *d, const char *name)
{
    for (size_t i = 0; d && i < d->n_args; i++)
        if (strcmp(d->args[i].name, name) == 0)
            return d->args[i].value;
    return NULL;
}

static const char *deprecation(const gql_directive_t *dirs, size_t n)
{
    const gql_directive_t *d = find_dir(dirs, n, "deprecated");
    if (!d)
        return NULL;
    const gql_value_t *r = dir_arg(d, "reason");
    if (r && r->kind == GQL_V_STRING)
        return r->text;
    /* graphql-js: an explicit null reason is no deprecation at all */
    if (r && r->kind == GQL_V_NULL)
        return NULL;
    return "No longer supported";
}

/* The named type at the bottom of a reference. */
static const gql_type_ref_t *named_ref(const gql_type_ref_t *t)
{
    while (t && t->kind != GQL_T_NAMED)
        t = t->of;
    return t;
}

static int check_ref(builder_t *b, size_t src, const gql_type_ref_t *t)
{
    const gql_type_ref_t *n = named_ref(t);
    if (!find_type(b->s, n->name))
        return unknown_type(b, src, n->loc, n->name);
    return 0;
}

static int build_args(builder_t *b, size_t src, const char *owner,
                      const gql_input_value_def_t *defs, size_t n,
                      const gql_sarg_t **out)
{
    *out = NULL;
    if (!n)
        return 0;
    gql_sarg_t *args = balloc(b, n * sizeof(*args));
    if (!args)
        return -1;
    size_t dup = first_dup(defs, n, sizeof(*defs), offsetof(gql_input_value_def_t, name));
    for (size_t i = 0; i < n; i++) {
        const gql_input_value_def_t *iv = &defs[i];
        if (i == dup)
                return fail(b, src, iv->loc,
                            "Argument \"%s(%s:)\" can only be defined once.", owner,
                            iv->name);
        TRY(check_ref(b, src, iv->type));
        args[i].name = iv->name;
        args[i].description = iv->description;
        args[i].type = iv->type;
        args[i].default_value = iv->default_value;
        args[i].deprecation = deprecation(iv->dirs, iv->n_dirs);
    }
    *out = args;
    return 0;
}

static int build_fields(builder_t *b, stype_impl_t *t)
{
    size_t total = 0;
    for (size_t p = 0; p < t->n_parts; p++)
        total += t->parts[p].d->n_fields;
    if (!total)
        return 0;
    gql_sfield_t *fs = balloc(b, total * sizeof(*fs));
    t->fdefs = balloc(b, total * sizeof(*t->fdefs));
    t->fsrc = balloc(b, total * sizeof(*t->fsrc));
    if (!fs || !t->fdefs || !t->fsrc)
        return -1;
    size_t n = 0;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        size_t src = t->parts[p].src;
        for (size_t i = 0; i < d->n_fields; i++) {
            const gql_field_def_t *f = &d->fields[i];
            TRY(check_name(b, src, f->loc, f->name));
            if (hmap_get(&t->members, f->name))
                return fail(b, src, f->loc, "Field \"%s.%s\" can only be defined once.",
                            t->pub.name, f->name);
            gql_sfield_t *sf = &fs[n];
            sf->name = f->name;
            sf->description = f->description;
            sf->type = f->type;
            sf->deprecation = deprecation(f->dirs, f->n_dirs);
            TRY(check_ref(b, src, f->type));
            char owner[300];
            snprintf(owner, sizeof(owner), "%s.%s", t->pub.name, f->name);
            TRY(build_args(b, src, owner, f->args, f->n_args, &sf->args));
            sf->n_args = f->n_args;
            t->fdefs[n] = f;
            t->fsrc[n] = src;
            if (hmap_put(&b->s->arena, &t->members, sf->name, sf) < 0)
                return oom(b);
            n++;
        }
    }
    t->pub.fields = fs;
    t->pub.n_fields = n;
    return 0;
}

static int build_input_fields(builder_t *b, stype_impl_t *t)
{
    size_t total = 0;
    for (size_t p = 0; p < t->n_parts; p++)
        total += t->parts[p].d->n_inputs;
    if (!total)
        return 0;
    gql_sarg_t *fs = balloc(b, total * sizeof(*fs));
    t->idefs = balloc(b, total * sizeof(*t->idefs));
    t->isrc = balloc(b, total * sizeof(*t->isrc));
    if (!fs || !t->idefs || !t->isrc)
        return -1;
    size_t n = 0;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        size_t src = t->parts[p].src;
        for (size_t i = 0; i < d->n_inputs; i++) {
            const gql_input_value_def_t *iv = &d->inputs[i];
            TRY(check_name(b, src, iv->loc, iv->name));
            if (hmap_get(&t->members, iv->name))
                return fail(b, src, iv->loc, "Field \"%s.%s\" can only be defined once.",
                            t->pub.name, iv->name);
            TRY(check_ref(b, src, iv->type));
            gql_sarg_t *a = &fs[n];
            a->name = iv->name;
            a->description = iv->description;
            a->type = iv->type;
            a->default_value = iv->default_value;
            a->deprecation = deprecation(iv->dirs, iv->n_dirs);
            t->idefs[n] = iv;
            t->isrc[n] = src;
            if (hmap_put(&b->s->arena, &t->members, a->name, a) < 0)
                return oom(b);
            n++;
        }
    }
    t->pub.input_fields = fs;
    t->pub.n_input_fields = n;
    return 0;
}

static int build_enum_values(builder_t *b, stype_impl_t *t)
{
    size_t total = 0;
    for (size_t p = 0; p < t->n_parts; p++)
        total += t->parts[p].d->n_values;
    if (!total)
        return 0;
    gql_senum_value_t *vs = balloc(b, total * sizeof(*vs));
    if (!vs)
        return -1;
    size_t n = 0;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        size_t src = t->parts[p].src;
        for (size_t i = 0; i < d->n_values; i++) {
            const gql_enum_value_def_t *v = &d->values[i];
            TRY(check_name(b, src, v->loc, v->name));
            if (hmap_get(&t->members, v->name))
                return fail(b, src, v->loc,
                            "Enum value \"%s.%s\" can only be defined once.",
                            t->pub.name, v->name);
            vs[n].name = v->name;
            vs[n].description = v->description;
            vs[n].deprecation = deprecation(v->dirs, v->n_dirs);
            if (hmap_put(&b->s->arena, &t->members, vs[n].name, &vs[n]) < 0)
                return oom(b);
            n++;
        }
    }
    t->pub.values = vs;
    t->pub.n_values = n;
    return 0;
}

/* Interfaces (OBJECT, INTERFACE) or members (UNION), resolved to types. */
static int build_type_list(builder_t *b, stype_impl_t *t, int members)
{
    size_t total = 0;
    for (size_t p = 0; p < t->n_parts; p++)
        total += members ? t->parts[p].d->n_members : t->parts[p].d->n_interfaces;
    if (!total)
        return 0;
    const gql_stype_t **list = balloc(b, total * sizeof(*list));
    const gql_loc_t **locs = balloc(b, total * sizeof(*locs));
    size_t *srcs = balloc(b, total * sizeof(*srcs));
    if (!list || !locs || !srcs)
        return -1;
    size_t n = 0;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        size_t src = t->parts[p].src;
        size_t k = members ? d->n_members : d->n_interfaces;
        for (size_t i = 0; i < k; i++) {
            const char *name = members ? d->members[i] : d->interfaces[i];
            const gql_loc_t *loc = members ? &d->member_locs[i] : &d->interface_locs[i];
            stype_impl_t *x = find_type(b->s, name);
            if (!x)
                return unknown_type(b, src, *loc, name);
            list[n] = &x->pub;
            locs[n] = loc;
            srcs[n] = src;
            n++;
        }
    }
    if (members) {
        t->poss = list;
        t->cap_poss = n;
        t->pub.n_possible = n;
    } else {
        t->pub.interfaces = list;
        t->pub.n_interfaces = n;
    }
    t->iface_locs = locs;
    t->iface_src = srcs;
    return 0;
}

static int build_scalar(builder_t *b, stype_impl_t *t)
{
    (void)b;
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        const gql_directive_t *sb = find_dir(d->dirs, d->n_dirs, "specifiedBy");
        const gql_value_t *url = dir_arg(sb, "url");
        if (url && url->kind == GQL_V_STRING)
            t->pub.specified_by = url->text;
    }
    return 0;
}

static int build_type(builder_t *b, stype_impl_t *t)
{
    for (size_t p = 0; p < t->n_parts; p++) {
        const gql_definition_t *d = t->parts[p].d;
        if (find_dir(d->dirs, d->n_dirs, "oneOf"))
            t->one_of = 1;
    }
    switch (t->pub.kind) {
    case GQL_K_SCALAR:
        return build_scalar(b, t);
    case GQL_K_OBJECT:
    case GQL_K_INTERFACE:
        TRY(build_type_list(b, t, 0));
        return build_fields(b, t);
    case GQL_K_UNION:
        return build_type_list(b, t, 1);
    case GQL_K_ENUM:
        return build_enum_values(b, t);
    case GQL_K_INPUT_OBJECT:
        return build_input_fields(b, t);
    }
    return 0;
}

static int build_directive(builder_t *b, sdir_impl_t *x)
{
    const gql_definition_t *d = x->d;
    x->pub.name = d->name;
    x->pub.description = d->description;
    x->pub.repeatable = d->repeatable;
    x->pub.locations = d->locations;
    x->n_order = gql_doc_directive_locations(b->s->docs[x->src], d, x->order, 20);
    char owner[300];
    snprintf(owner, sizeof(owner), "@%s", d->name);
    TRY(build_args(b, x->src, owner, d->inputs, d->n_inputs, &x->pub.args));
    x->pub.n_args = d->n_inputs;
    return 0;
}

/* Object types implementing each interface, in definition order. */
static int build_possible(builder_t *b)
{
    gql_schema_t *s = b->s;
    for (size_t i = 0; i < s->n_types; i++) {
        stype_impl_t *t = s->order[i];
        if (t->pub.kind != GQL_K_OBJECT)
            continue;
        for (size_t j = 0; j < t->pub.n_interfaces; j++) {
            stype_impl_t *iface = impl(t->pub.interfaces[j]);
            if (iface->pub.kind != GQL_K_INTERFACE)
                continue;
            /* an interface listed twice (an error reported later) adds
             * the type once; looking at the type's own list keeps this
             * linear however many types implement the interface */
            int dup = 0;
            for (size_t k = 0; k < j; k++)
                dup |= t->pub.interfaces[k] == &iface->pub;
            if (dup)
                continue;
            TRY(PUSH(b, iface->poss, iface->pub.n_possible, iface->cap_poss));
            iface->poss[iface->pub.n_possible++] = &t->pub;
        }
    }
    for (size_t i = 0; i < s->n_types; i++) {
        stype_impl_t *u = s->order[i];
        u->pub.possible = u->poss;
        if (u->pub.kind != GQL_K_UNION)
            continue;
        for (size_t j = 0; j < u->pub.n_possible; j++) {
            stype_impl_t *m = impl(u->pub.possible[j]);
            if (m->pub.kind != GQL_K_OBJECT ||
                (m->n_unions && m->unions[m->n_unions - 1] == &u->pub))
                continue; /* listed twice: reported by the checks */
            TRY(PUSH(b, m->unions, m->n_unions, m->cap_unions));
            m->unions[m->n_unions++] = &u->pub;
        }
    }
    return 0;
}

/* ---- Default values graphql-js cannot read --------------------------------- */

static int int32_literal(const char *text)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0' && v >= -2147483648LL && v <= 2147483647LL;
}

static int literal_ok(const gql_schema_t *s, const gql_type_ref_t *t, const gql_value_t *v,
                      int depth);

/* Whether input field i of x has a default graphql-js reads (memoized; a
 * default that leads back to itself is not read). */
static int field_default_ok(const gql_schema_t *s, const stype_impl_t *x, size_t i, int depth)
{
    stype_impl_t *m = (stype_impl_t *)(uintptr_t)x; /* building: ours to write */
    if (!m->dverdict) {
        m->dverdict = gql_arena_alloc((gql_arena_t *)(uintptr_t)&s->arena,
                                      x->pub.n_input_fields);
        if (!m->dverdict) /* no memory: judge without the memo, bounded by depth */
            return literal_ok(s, x->pub.input_fields[i].type,
                              x->pub.input_fields[i].default_value, depth + 1);
    }
    if (m->dverdict[i] == 0) {
        m->dverdict[i] = 1;
        int ok = literal_ok(s, x->pub.input_fields[i].type,
                            x->pub.input_fields[i].default_value, depth + 1);
        m->dverdict[i] = ok ? 2 : 3;
    }
    return m->dverdict[i] == 2;
}

/* 1 if graphql-js's valueFromAST reads the literal v as a value of type t
 * (graphql-js 16 does not check a schema's default values; one it cannot
 * read it leaves out, as if there were none). depth bounds the defaults
 * of input fields followed into. */
static int literal_ok(const gql_schema_t *s, const gql_type_ref_t *t, const gql_value_t *v,
                      int depth)
{
    if (depth > 64)
        return 0;
    if (t->kind == GQL_T_NON_NULL)
        return v->kind != GQL_V_NULL && literal_ok(s, t->of, v, depth);
    if (v->kind == GQL_V_NULL)
        return 1;
    if (v->kind == GQL_V_VARIABLE)
        return 0;
    if (t->kind == GQL_T_LIST) {
        if (v->kind != GQL_V_LIST)
            return literal_ok(s, t->of, v, depth);
        for (size_t i = 0; i < v->n_items; i++)
            if (!literal_ok(s, t->of, v->items[i], depth))
                return 0;
        return 1;
    }
    const stype_impl_t *x = find_type(s, t->name);
    if (!x)
        return 1; /* an unknown type is reported on its own */
    const gql_stype_t *nt = &x->pub;
    switch (nt->kind) {
    case GQL_K_ENUM:
        return v->kind == GQL_V_ENUM && gql_stype_enum_value(nt, v->text);
    case GQL_K_INPUT_OBJECT: {
        if (v->kind != GQL_V_OBJECT)
            return 0;
        /* the literal's fields by the type's hash (a literal of thousands
         * of fields costs their number), then the fields it leaves out */
        unsigned char *given = calloc(nt->n_input_fields + 1, 1);
        if (!given)
            return 0;
        size_t keys = 0;
        const gql_value_t *only = NULL;
        int ok = 1;
        for (size_t j = 0; j < v->n_fields && ok; j++) {
            const gql_sarg_t *f = gql_stype_input_field(nt, v->fields[j].name);
            if (!f)
                continue; /* graphql-js 16 reads past unknown fields */
            given[f - nt->input_fields] = 1;
            ok = literal_ok(s, f->type, v->fields[j].value, depth + 1);
            keys++;
            only = v->fields[j].value;
        }
        for (size_t i = 0; i < nt->n_input_fields && ok; i++) {
            const gql_sarg_t *f = &nt->input_fields[i];
            if (given[i])
                continue;
            if (f->default_value && field_default_ok(s, x, i, depth)) {
                keys++;
                only = f->default_value;
            } else if (f->type->kind == GQL_T_NON_NULL) {
                ok = 0;
            }
        }
        free(given);
        if (ok && x->one_of && (keys != 1 || only->kind == GQL_V_NULL))
            ok = 0;
        return ok;
    }
    case GQL_K_SCALAR:
        if (!nt->builtin)
            return 1; /* a custom scalar reads any literal */
        if (strcmp(nt->name, "Int") == 0)
            return v->kind == GQL_V_INT && int32_literal(v->text);
        if (strcmp(nt->name, "Float") == 0)
            return v->kind == GQL_V_INT || v->kind == GQL_V_FLOAT;
        if (strcmp(nt->name, "String") == 0)
            return v->kind == GQL_V_STRING;
        if (strcmp(nt->name, "Boolean") == 0)
            return v->kind == GQL_V_BOOLEAN;
        if (strcmp(nt->name, "ID") == 0)
            return v->kind == GQL_V_STRING || v->kind == GQL_V_INT;
        return 1;
    default:
        return 1; /* not an input type: reported by the checks */
    }
}

/* Every default is judged against the defaults as written (graphql-js
 * reads each from its literal), so the order of the drops does not
 * matter: the verdicts are computed first, then applied. */
static int drop_unreadable_defaults(builder_t *b)
{
    gql_schema_t *s = b->s;
    size_t total = 0;
    for (size_t i = 0; i < s->n_types; i++) {
        const gql_stype_t *t = &s->order[i]->pub;
        total += t->n_input_fields;
        for (size_t j = 0; j < t->n_fields; j++)
            total += t->fields[j].n_args;
    }
    for (size_t i = 0; i < s->n_dirs; i++)
        total += s->dirs[i]->pub.n_args;
    if (!total)
        return 0;
    unsigned char *bad = calloc(total, 1);
    if (!bad)
        return oom(b);
    size_t k = 0;
#define JUDGE(args, n)                                                         \
    for (size_t q = 0; q < (n); q++, k++)                                      \
        bad[k] = (args)[q].default_value &&                                    \
                 !literal_ok(s, (args)[q].type, (args)[q].default_value, 0);
    for (size_t i = 0; i < s->n_types; i++) {
        const gql_stype_t *t = &s->order[i]->pub;
        JUDGE(t->input_fields, t->n_input_fields)
        for (size_t j = 0; j < t->n_fields; j++)
            JUDGE(t->fields[j].args, t->fields[j].n_args)
    }
    for (size_t i = 0; i < s->n_dirs; i++)
        JUDGE(s->dirs[i]->pub.args, s->dirs[i]->pub.n_args)
#undef JUDGE
    k = 0;
#define APPLY(args, n)                                                         \
    for (size_t q = 0; q < (n); q++, k++)                                      \
        if (bad[k])                                                            \
            ((gql_sarg_t *)(uintptr_t)(args))[q].default_value = NULL;
    for (size_t i = 0; i < s->n_types; i++) {
        const gql_stype_t *t = &s->order[i]->pub;
        APPLY(t->input_fields, t->n_input_fields)
        for (size_t j = 0; j < t->n_fields; j++)
            APPLY(t->fields[j].args, t->fields[j].n_args)
    }
    for (size_t i = 0; i < s->n_dirs; i++)
        APPLY(s->dirs[i]->pub.args, s->dirs[i]->pub.n_args)
#undef APPLY
    free(bad);
    return 0;
}

/* ---- Root types ----------------------------------------------------------- */

static const char *const op_names[] = {"query", "mutation", "subscription"};

static int build_roots(builder_t *b)
{
    gql_schema_t *s = b->s;
    gql_loc_t none = {0, 0};
    gql_loc_t where = none;
    /* no schema definition: the error is about the first source, or the
     * whole schema when there is none */
    size_t where_src = s->n_docs > 1 ? 1 : SIZE_MAX;
    if (b->schema_def || b->n_schema_exts) {
        for (size_t p = 0; p <= b->n_schema_exts; p++) {
            const gql_definition_t *d;
            size_t src;
            if (p == 0) {
                if (!b->schema_def)
                    continue;
                d = b->schema_def;
                src = b->schema_src;
                s->description = d->description;
                where = d->loc;
                where_src = src;
            } else {
                d = b->schema_exts[p - 1].d;
                src = b->schema_exts[p - 1].src;
            }
            for (size_t i = 0; i < d->n_roots; i++) {
                const gql_root_op_def_t *r = &d->roots[i];
                if (s->roots[r->op])
                    return fail(b, src, r->loc,
                                "There can be only one %s type in schema.",
                                op_names[r->op]);
                stype_impl_t *t = find_type(s, r->type);
                if (!t)
                    return unknown_type(b, src, r->loc, r->type);
                s->roots[r->op] = &t->pub;
            }
        }
    }
    if (!b->schema_def) {
        /* graphql-js buildASTSchema: without a schema definition, the types
         * named Query, Mutation and Subscription are the roots, even over
         * what an "extend schema" named */
        static const char *const defaults[] = {"Query", "Mutation", "Subscription"};
        for (int op = 0; op < 3; op++) {
            stype_impl_t *t = find_type(s, defaults[op]);
            if (t)
                s->roots[op] = &t->pub;
        }
    }
    if (!s->roots[GQL_OP_QUERY])
        return fail(b, where_src, where, "Query root type must be provided.");
    static const char *const what[] = {"Query", "Mutation", "Subscription"};
    for (int op = 0; op < 3; op++) {
        const gql_stype_t *t = s->roots[op];
        if (t && t->kind != GQL_K_OBJECT) {
            const part_t *p = &impl(t)->parts[0];
            return fail(b, p->src, p->d->loc,
                        "%s root type must be Object type%s, it cannot be %s.",
                        what[op], op ? " if provided" : "", t->name);
        }
    }
    return 0;
}

/* ---- Checks (assertValidSchema) ------------------------------------------- */

static int is_input_kind(gql_kind_t k)
{
    return k == GQL_K_SCALAR || k == GQL_K_ENUM || k == GQL_K_INPUT_OBJECT;
}

static int is_output_kind(gql_kind_t k)
{
    return k != GQL_K_INPUT_OBJECT;
}

static const gql_stype_t *ref_type(const gql_schema_t *s, const gql_type_ref_t *t)
{
    const stype_impl_t *x = find_type(s, named_ref(t)->name);
    return x ? &x->pub : NULL;
}

static int is_required(const gql_sarg_t *a)
{
    return a->type->kind == GQL_T_NON_NULL && !a->default_value;
}

static int check_input_ref(builder_t *b, size_t src, gql_loc_t loc,
                           const gql_type_ref_t *t, const char *fmt_owner,
                           int directive)
{
    const gql_stype_t *nt = ref_type(b->s, t);
    if (nt && is_input_kind(nt->kind))
        return 0;
    char ts[256] = "";
    gql_type_ref_str(t, ts, sizeof(ts));
    (void)directive; /* graphql-js words both the same */
    return fail(b, src, loc, "The type of %s must be Input Type but got: %s.",
                fmt_owner, ts);
}

static int check_args(builder_t *b, size_t src, const char *owner,
                      const gql_sarg_t *args, const gql_input_value_def_t *defs,
                      size_t n, int directive)
{
    for (size_t i = 0; i < n; i++) {
        char o[400];
        snprintf(o, sizeof(o), "%s(%s:)", owner, args[i].name);
        TRY(check_input_ref(b, src, defs[i].loc, args[i].type, o, directive));
        if (is_required(&args[i]) && args[i].deprecation)
            return fail(b, src, defs[i].loc, "Required argument %s cannot be deprecated.", o);
    }
    return 0;
}

static int check_directives(builder_t *b)
{
    gql_schema_t *s = b->s;
    for (size_t i = 0; i < s->n_dirs; i++) {
        sdir_impl_t *x = s->dirs[i];
        if (x->pub.builtin)
            continue;
        char owner[300];
        snprintf(owner, sizeof(owner), "@%s", x->pub.name);
        for (size_t j = 0; j < x->pub.n_args; j++)
            TRY(check_name(b, x->src, x->d->inputs[j].loc, x->pub.args[j].name));
        TRY(check_args(b, x->src, owner, x->pub.args, x->d->inputs, x->pub.n_args, 1));
    }
    return 0;
}

static int ref_equal(const gql_type_ref_t *a, const gql_type_ref_t *b)
{
    while (a && b) {
        if (a->kind != b->kind)
            return 0;
        if (a->kind == GQL_T_NAMED)
            return strcmp(a->name, b->name) == 0;
        a = a->of;
        b = b->of;
    }
    return 0;
}

static int abstract_has(const gql_stype_t *abstract, const gql_stype_t *t)
{
    if (abstract->kind == GQL_K_UNION) {
        const stype_impl_t *x = impl(t);
        for (size_t i = 0; i < x->n_unions; i++)
            if (x->unions[i] == abstract)
                return 1;
        return 0;
    }
    for (size_t i = 0; i < t->n_interfaces; i++)
        if (t->interfaces[i] == abstract)
            return 1;
    return 0;
}

/* graphql-js isTypeSubTypeOf: covariant field types of implementations. */
static int ref_subtype(const gql_schema_t *s, const gql_type_ref_t *sub,
                       const gql_type_ref_t *super)
{
    for (;;) {
        if (ref_equal(sub, super))
            return 1;
        if (super->kind == GQL_T_NON_NULL) {
            if (sub->kind != GQL_T_NON_NULL)
                return 0;
            sub = sub->of;
            super = super->of;
            continue;
        }
        if (sub->kind == GQL_T_NON_NULL) {
            sub = sub->of;
            continue;
        }
        if (super->kind == GQL_T_LIST) {
            if (sub->kind != GQL_T_LIST)
                return 0;
            sub = sub->of;
            super = super->of;
            continue;
        }
        if (sub->kind == GQL_T_LIST)
            return 0;
        const gql_stype_t *a = ref_type(s, super), *t = ref_type(s, sub);
        return a && t && (a->kind == GQL_K_INTERFACE || a->kind == GQL_K_UNION) &&
               (t->kind == GQL_K_OBJECT || t->kind == GQL_K_INTERFACE) &&
               abstract_has(a, t);
    }
}

static const gql_sarg_t *find_arg(const gql_sarg_t *args, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].name, name) == 0)
            return &args[i];
    return NULL;
}

static int check_implements(builder_t *b, stype_impl_t *t, const gql_stype_t *iface,
                            size_t src, gql_loc_t loc)
{
    const char *tn = t->pub.name, *in = iface->name;
    /* every interface of the interface must be listed too */
    for (size_t i = 0; i < iface->n_interfaces; i++) {
        const gql_stype_t *tr = iface->interfaces[i];
        int listed = 0;
        for (size_t j = 0; j < t->pub.n_interfaces; j++)
            listed |= t->pub.interfaces[j] == tr;
        if (listed)
            continue;
        if (tr == &t->pub)
            return fail(b, src, loc,
                        "Type %s cannot implement %s because it would create a "
                        "circular reference.",
                        tn, in);
        return fail(b, src, loc, "Type %s must implement %s because it is implemented by %s.",
                    tn, tr->name, in);
    }
    for (size_t i = 0; i < iface->n_fields; i++) {
        const gql_sfield_t *ifield = &iface->fields[i];
        const gql_sfield_t *f = gql_stype_field(&t->pub, ifield->name);
        if (!f)
            return fail(b, src, loc,
                        "Interface field %s.%s expected but %s does not provide it.", in,
                        ifield->name, tn);
        size_t fi = (size_t)(f - t->pub.fields);
        size_t fsrc = t->fsrc[fi];
        gql_loc_t floc = t->fdefs[fi]->loc;
        if (!ref_subtype(b->s, f->type, ifield->type)) {
            char a[256] = "", c[256] = "";
            gql_type_ref_str(ifield->type, a, sizeof(a));
            gql_type_ref_str(f->type, c, sizeof(c));
            return fail(b, fsrc, floc,
                        "Interface field %s.%s expects type %s but %s.%s is type %s.", in,
                        ifield->name, a, tn, f->name, c);
        }
        for (size_t j = 0; j < ifield->n_args; j++) {
            const gql_sarg_t *ia = &ifield->args[j];
            const gql_sarg_t *ta = find_arg(f->args, f->n_args, ia->name);
            if (!ta)
                return fail(b, fsrc, floc,
                            "Interface field argument %s.%s(%s:) expected but %s.%s does "
                            "not provide it.",
                            in, ifield->name, ia->name, tn, f->name);
            if (!ref_equal(ia->type, ta->type)) {
                char a[256] = "", c[256] = "";
                gql_type_ref_str(ia->type, a, sizeof(a));
                gql_type_ref_str(ta->type, c, sizeof(c));
                return fail(b, fsrc, floc,
                            "Interface field argument %s.%s(%s:) expects type %s but "
                            "%s.%s(%s:) is type %s.",
                            in, ifield->name, ia->name, a, tn, f->name, ia->name, c);
            }
        }
        for (size_t j = 0; j < f->n_args; j++) {
            const gql_sarg_t *ta = &f->args[j];
            if (!find_arg(ifield->args, ifield->n_args, ta->name) && is_required(ta))
                return fail(b, fsrc, floc,
                            "Object field %s.%s includes required argument %s that is "
                            "missing from the Interface field %s.%s.",
                            tn, f->name, ta->name, in, ifield->name);
        }
    }
    return 0;
}

static int check_interfaces(builder_t *b, stype_impl_t *t)
{
    for (size_t i = 0; i < t->pub.n_interfaces; i++) {
        const gql_stype_t *iface = t->pub.interfaces[i];
        size_t src = t->iface_src[i];
        gql_loc_t loc = *t->iface_locs[i];
        if (iface->kind != GQL_K_INTERFACE)
            return fail(b, src, loc,
                        "Type %s must only implement Interface types, it cannot "
                        "implement %s.",
                        t->pub.name, iface->name);
        if (iface == &t->pub)
            return fail(b, src, loc,
                        "Type %s cannot implement itself because it would create a "
                        "circular reference.",
                        t->pub.name);
        if (impl(iface)->iface_mark == t->idx + 1)
            return fail(b, src, loc, "Type %s can only implement %s once.", t->pub.name,
                        iface->name);
        impl(iface)->iface_mark = t->idx + 1;
        TRY(check_implements(b, t, iface, src, loc));
    }
    return 0;
}

static int check_fields(builder_t *b, stype_impl_t *t)
{
    const part_t *p0 = &t->parts[0];
    if (!t->pub.n_fields)
        return fail(b, p0->src, p0->d->loc, "Type %s must define one or more fields.",
                    t->pub.name);
    for (size_t i = 0; i < t->pub.n_fields; i++) {
        const gql_sfield_t *f = &t->pub.fields[i];
        size_t src = t->fsrc[i];
        const gql_field_def_t *fd = t->fdefs[i];
        const gql_stype_t *ft = ref_type(b->s, f->type);
        if (!ft || !is_output_kind(ft->kind)) {
            char ts[256] = "";
            gql_type_ref_str(f->type, ts, sizeof(ts));
            return fail(b, src, fd->type->loc,
                        "The type of %s.%s must be Output Type but got: %s.", t->pub.name,
                        f->name, ts);
        }
        char owner[300];
        snprintf(owner, sizeof(owner), "%s.%s", t->pub.name, f->name);
        for (size_t j = 0; j < f->n_args; j++)
            TRY(check_name(b, src, fd->args[j].loc, f->args[j].name));
        TRY(check_args(b, src, owner, f->args, fd->args, f->n_args, 0));
    }
    return check_interfaces(b, t);
}

static int check_union(builder_t *b, stype_impl_t *t)
{
    const part_t *p0 = &t->parts[0];
    if (!t->pub.n_possible)
        return fail(b, p0->src, p0->d->loc,
                    "Union type %s must define one or more member types.", t->pub.name);
    for (size_t i = 0; i < t->pub.n_possible; i++) {
        const gql_stype_t *m = t->pub.possible[i];
        if (impl(m)->mark == t->idx + 1)
            return fail(b, t->iface_src[i], *t->iface_locs[i],
                        "Union type %s can only include type %s once.", t->pub.name,
                        m->name);
        impl(m)->mark = t->idx + 1;
        if (m->kind != GQL_K_OBJECT)
            return fail(b, t->iface_src[i], *t->iface_locs[i],
                        "Union type %s can only include Object types, it cannot include "
                        "%s.",
                        t->pub.name, m->name);
    }
    return 0;
}

static int check_input_object(builder_t *b, stype_impl_t *t)
{
    const part_t *p0 = &t->parts[0];
    if (!t->pub.n_input_fields)
        return fail(b, p0->src, p0->d->loc,
                    "Input Object type %s must define one or more fields.", t->pub.name);
    for (size_t i = 0; i < t->pub.n_input_fields; i++) {
        const gql_sarg_t *f = &t->pub.input_fields[i];
        size_t src = t->isrc[i];
        gql_loc_t loc = t->idefs[i]->loc;
        char owner[300];
        snprintf(owner, sizeof(owner), "%s.%s", t->pub.name, f->name);
        TRY(check_input_ref(b, src, t->idefs[i]->type->loc, f->type, owner, 0));
        if (is_required(f) && f->deprecation)
            return fail(b, src, loc, "Required input field %s cannot be deprecated.", owner);
        if (t->one_of) {
            if (f->type->kind == GQL_T_NON_NULL)
                return fail(b, src, loc, "OneOf input field %s must be nullable.", owner);
            if (f->default_value)
                return fail(b, src, loc, "OneOf input field %s cannot have a default value.",
                            owner);
        }
    }
    return 0;
}

/* An input object may not contain itself through non-null fields (no value
 * could be written). Depth-first with an explicit stack: the chain may be
 * as long as there are input types. */
static int check_input_cycles(builder_t *b)
{
    gql_schema_t *s = b->s;
    size_t n = s->n_types;
    if (!n)
        return 0;
    unsigned char *visited = calloc(n, 1);
    size_t *path_at = malloc(n * sizeof(*path_at)); /* SIZE_MAX: not on path */
    struct frame {
        stype_impl_t *t;
        size_t next;
    } *stack = malloc(n * sizeof(*stack));
    int rc = 0;
    if (!visited || !path_at || !stack) {
        rc = oom(b);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        path_at[i] = SIZE_MAX;
    for (size_t r = 0; r < n && rc == 0; r++) {
        stype_impl_t *root = s->order[r];
        if (root->pub.kind != GQL_K_INPUT_OBJECT || visited[root->idx])
            continue;
        size_t depth = 0;
        stack[depth++] = (struct frame){root, 0};
        visited[root->idx] = 1;
        path_at[root->idx] = 0;
        while (depth && rc == 0) {
            struct frame *f = &stack[depth - 1];
            if (f->next >= f->t->pub.n_input_fields) {
                path_at[f->t->idx] = SIZE_MAX;
                depth--;
                continue;
            }
            const gql_sarg_t *fld = &f->t->pub.input_fields[f->next++];
            if (fld->type->kind != GQL_T_NON_NULL || fld->type->of->kind != GQL_T_NAMED)
                continue;
            stype_impl_t *ft = find_type(s, fld->type->of->name);
            if (!ft || ft->pub.kind != GQL_K_INPUT_OBJECT)
                continue;
            if (path_at[ft->idx] != SIZE_MAX) {
                /* the field names from ft around to this field */
                char pathstr[300] = "";
                size_t len = 0;
                for (size_t k = path_at[ft->idx]; k < depth; k++) {
                    const gql_sarg_t *pf = &stack[k].t->pub.input_fields[stack[k].next - 1];
                    len += (size_t)snprintf(pathstr + (len < sizeof(pathstr) ? len : sizeof(pathstr) - 1),
                                            len < sizeof(pathstr) ? sizeof(pathstr) - len : 1,
                                            "%s%s", k > path_at[ft->idx] ? "." : "",
                                            pf->name);
                }
                size_t fi = (size_t)(fld - f->t->pub.input_fields);
                rc = fail(b, f->t->isrc[fi], f->t->idefs[fi]->loc,
                          "Cannot reference Input Object \"%s\" within itself through a "
                          "series of non-null fields: \"%s\".",
                          ft->pub.name, pathstr);
                break;
            }
            if (visited[ft->idx])
                continue;
            visited[ft->idx] = 1;
            path_at[ft->idx] = depth;
            stack[depth++] = (struct frame){ft, 0};
        }
    }
done:
    free(visited);
    free(path_at);
    free(stack);
    return rc;
}

static int check_types(builder_t *b)
{
    gql_schema_t *s = b->s;
    for (size_t i = 0; i < s->n_types; i++) {
        stype_impl_t *t = s->order[i];
        if (t->pub.builtin)
            continue;
        switch (t->pub.kind) {
        case GQL_K_OBJECT:
        case GQL_K_INTERFACE:
            TRY(check_fields(b, t));
            break;
        case GQL_K_UNION:
            TRY(check_union(b, t));
            break;
        case GQL_K_ENUM:
            if (!t->pub.n_values)
                return fail(b, t->parts[0].src, t->parts[0].d->loc,
                            "Enum type %s must define one or more values.", t->pub.name);
            break;
        case GQL_K_INPUT_OBJECT:
            TRY(check_input_object(b, t));
            break;
        case GQL_K_SCALAR:
            break;
        }
    }
    return check_input_cycles(b);
}

/* ---- Build ------------------------------------------------------------------ */

static int cmp_type(const void *a, const void *b)
{
    const gql_stype_t *x = *(const gql_stype_t *const *)a;
    const gql_stype_t *y = *(const gql_stype_t *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_dir(const void *a, const void *b)
{
    const gql_sdirective_t *x = *(const gql_sdirective_t *const *)a;
    const gql_sdirective_t *y = *(const gql_sdirective_t *const *)b;
    return strcmp(x->name, y->name);
}

/* The built-in SDL is parsed once per process and shared by every schema
 * (a document is immutable once parsed); it lives until the process ends. */
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static gql_doc_t *builtin_doc;
static gql_error_t builtin_err;

static void parse_builtin(void)
{
    builtin_doc = gql_parse(gql_builtin_sdl, sizeof(gql_builtin_sdl) - 1, NULL,
                            &builtin_err);
}

static int parse_sources(builder_t *b, const gql_source_t *srcs, size_t n,
                         const gql_limits_t *lim)
{
    gql_schema_t *s = b->s;
    s->docs = calloc(n + 1, sizeof(*s->docs));
    s->doc_names = calloc(n + 1, sizeof(*s->doc_names));
    if (!s->docs || !s->doc_names)
        return oom(b);
    s->doc_names[0] = "<builtin>";
    pthread_once(&builtin_once, parse_builtin);
    s->docs[0] = builtin_doc;
    s->n_docs = 1;
    if (!builtin_doc)
        return fail(b, 0, builtin_err.loc, "%s", builtin_err.message);
    for (size_t i = 1; i <= n; i++) {
        gql_error_t perr;
        const char *text = srcs[i - 1].text;
        size_t len = srcs[i - 1].len;
        s->doc_names[i] = srcs[i - 1].name ? srcs[i - 1].name : "schema";
        s->n_docs = i + 1;
        if (!text && len)
            return fail(b, i, (gql_loc_t){0, 0}, "No text.");
        s->docs[i] = gql_parse(text ? text : "", len, lim, &perr);
        if (!s->docs[i])
            return fail(b, i, perr.loc, "%s", perr.message);
    }
    return 0;
}

gql_schema_t *gql_schema_build(const gql_source_t *srcs, size_t n,
                               const gql_limits_t *lim, gql_error_t *err)
{
    gql_error_t scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof(*err));
    gql_schema_t *s = calloc(1, sizeof(*s));
    if (!s) {
        gql_set_error(err, (gql_loc_t){0, 0}, "Out of memory.");
        return NULL;
    }
    gql_arena_init(&s->arena, 0);
    builder_t b;
    memset(&b, 0, sizeof(b));
    b.s = s;
    b.err = err;
    if (parse_sources(&b, srcs, n, lim) < 0 || collect(&b) < 0 || check_sdl_uses(&b) < 0)
        goto fail;
    for (size_t i = 0; i < s->n_types; i++)
        if (build_type(&b, s->order[i]) < 0)
            goto fail;
    for (size_t i = 0; i < s->n_dirs; i++)
        if (build_directive(&b, s->dirs[i]) < 0)
            goto fail;
    if (build_possible(&b) < 0 || drop_unreadable_defaults(&b) < 0 || build_roots(&b) < 0 ||
        check_directives(&b) < 0 ||
        check_types(&b) < 0)
        goto fail;
    s->sorted = gql_arena_alloc(&s->arena, (s->n_types + 1) * sizeof(*s->sorted));
    s->dir_list = gql_arena_alloc(&s->arena, (s->n_dirs + 1) * sizeof(*s->dir_list));
    if (!s->sorted || !s->dir_list) {
        oom(&b);
        goto fail;
    }
    for (size_t i = 0; i < s->n_types; i++)
        s->sorted[i] = &s->order[i]->pub;
    qsort(s->sorted, s->n_types, sizeof(*s->sorted), cmp_type);
    for (size_t i = 0; i < s->n_dirs; i++)
        s->dir_list[i] = &s->dirs[i]->pub;
    qsort(s->dir_list, s->n_dirs, sizeof(*s->dir_list), cmp_dir);
    return s;
fail:
    gql_schema_free(s);
    return NULL;
}

void gql_schema_free(gql_schema_t *s)
{
    if (!s)
        return;
    for (size_t i = 1; s->docs && i < s->n_docs; i++) /* [0]: shared */
        gql_doc_free(s->docs[i]);
    free(s->docs);
    free(s->doc_names);
    gql_arena_free(&s->arena);
    free(s);
}

/* ---- Lookups ---------------------------------------------------------------- */

const gql_stype_t *gql_schema_type(const gql_schema_t *s, const char *name)
{
    const stype_impl_t *t = s ? find_type(s, name) : NULL;
    return t ? &t->pub : NULL;
}

const gql_stype_t *gql_schema_root(const gql_schema_t *s, gql_op_kind_t op)
{
    if (!s || (unsigned)op > GQL_OP_SUBSCRIPTION)
        return NULL;
    return s->roots[op];
}

const gql_stype_t *const *gql_schema_types(const gql_schema_t *s, size_t *n)
{
    if (n)
        *n = s ? s->n_types : 0;
    return s ? s->sorted : NULL;
}

const gql_sdirective_t *gql_schema_directive(const gql_schema_t *s,
                                             const char *name)
{
    const sdir_impl_t *x = s ? hmap_get(&s->dir_map, name) : NULL;
    return x ? &x->pub : NULL;
}

const gql_sdirective_t *const *gql_schema_directives(const gql_schema_t *s,
                                                     size_t *n)
{
    if (n)
        *n = s ? s->n_dirs : 0;
    return s ? s->dir_list : NULL;
}

const char *gql_schema_description(const gql_schema_t *s)
{
    return s ? s->description : NULL;
}

const gql_sfield_t *gql_stype_field(const gql_stype_t *t, const char *name)
{
    if (!t || (t->kind != GQL_K_OBJECT && t->kind != GQL_K_INTERFACE))
        return NULL;
    return hmap_get(&impl(t)->members, name);
}

const gql_sarg_t *gql_stype_input_field(const gql_stype_t *t, const char *name)
{
    if (!t || t->kind != GQL_K_INPUT_OBJECT)
        return NULL;
    return hmap_get(&impl(t)->members, name);
}

const gql_senum_value_t *gql_stype_enum_value(const gql_stype_t *t,
                                              const char *name)
{
    if (!t || t->kind != GQL_K_ENUM)
        return NULL;
    return hmap_get(&impl(t)->members, name);
}

int gql_stype_is_one_of(const gql_stype_t *t)
{
    return t && t->kind == GQL_K_INPUT_OBJECT && impl(t)->one_of;
}

int gql_schema_possible(const gql_stype_t *abstract, const gql_stype_t *obj)
{
    if (!abstract || !obj)
        return 0;
    if (abstract == obj)
        return abstract->kind == GQL_K_OBJECT;
    if (obj->kind != GQL_K_OBJECT)
        return 0;
    if (abstract->kind == GQL_K_UNION)
        return abstract_has(abstract, obj);
    if (abstract->kind == GQL_K_INTERFACE)
        return abstract_has(abstract, obj);
    return 0;
}

const gql_stype_t *gql_schema_named(const gql_schema_t *s,
                                    const gql_type_ref_t *t)
{
    const gql_type_ref_t *n = named_ref(t);
    return s && n ? gql_schema_type(s, n->name) : NULL;
}

size_t gql_sdirective_locations(const gql_sdirective_t *d, uint32_t *out, size_t max)
{
    if (!d)
        return 0;
    const sdir_impl_t *x = (const sdir_impl_t *)d;
    size_t n = x->n_order < max ? x->n_order : max;
    memcpy(out, x->order, n * sizeof(*out));
    return n;
}
