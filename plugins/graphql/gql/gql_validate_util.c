/*
 * Validation support: the per-call arena and map, graphql-js's message
 * helpers (print of values and types, suggestionList, didYouMean,
 * naturalCompare) and the type predicates the rules share.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_validate_internal.h"

/* ---- arena -------------------------------------------------------------- */

struct gqlv_blk {
    gqlv_blk_t *next;
    size_t used, cap;
    max_align_t data[];
};

#define GQLV_BLK_SIZE (64u * 1024u)
/* Everything one validation builds is proportional to the (bounded)
 * document, except the overlap caches, which the overlap budget bounds;
 * this cap is a last guard against a bug turning into unbounded memory. */
#define GQLV_ARENA_MAX ((size_t)256 * 1024 * 1024)

void *gqlv_alloc(gqlv_ctx_t *c, size_t n)
{
    if (c->aborted)
        return NULL;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
        sizeof(max_align_t);
    if (n == 0)
        n = sizeof(max_align_t);
    gqlv_blk_t *b = c->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > GQLV_BLK_SIZE / 2 ? n : GQLV_BLK_SIZE;
        if (c->arena_bytes + cap > GQLV_ARENA_MAX) {
            gqlv_abort(c);
            return NULL;
        }
        b = malloc(sizeof(*b) + cap);
        if (!b) {
            gqlv_abort(c);
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        c->arena_bytes += cap;
        if (cap == n && c->arena) {
            /* a big one-off: keep filling the current block afterwards */
            b->next = c->arena->next;
            c->arena->next = b;
        } else {
            b->next = c->arena;
            c->arena = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void gqlv_arena_free(gqlv_ctx_t *c)
{
    gqlv_blk_t *b = c->arena;
    while (b) {
        gqlv_blk_t *next = b->next;
        free(b);
        b = next;
    }
    c->arena = NULL;
    c->arena_bytes = 0;
}

int gqlv_vec_push(gqlv_ctx_t *c, gqlv_vec_t *v, void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void **items = gqlv_alloc(c, cap * sizeof(*items));
        if (!items)
            return -1;
        if (v->n)
            memcpy(items, v->items, v->n * sizeof(*items));
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = item;
    return 0;
}

/* ---- map ---------------------------------------------------------------- */

static uint64_t map_hash(const void *a, const void *b, const char *s)
{
    uint64_t h = 1469598103934665603ull;
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    h = (h ^ pa) * 1099511628211ull;
    h ^= h >> 29;
    h = (h ^ pb) * 1099511628211ull;
    h ^= h >> 31;
    if (s)
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
    return h ^ (h >> 32);
}

static int slot_is(const gqlv_slot_t *sl, const void *a, const void *b,
                   const char *s)
{
    if (sl->a != a || sl->b != b)
        return 0;
    if (!s || !sl->s)
        return s == sl->s;
    return strcmp(s, sl->s) == 0;
}

void *gqlv_map_get(const gqlv_map_t *m, const void *a, const void *b,
                   const char *s, int *found)
{
    if (found)
        *found = 0;
    if (!m->cap)
        return NULL;
    size_t i = (size_t)map_hash(a, b, s) & (m->cap - 1);
    while (m->slots[i].used) {
        if (slot_is(&m->slots[i], a, b, s)) {
            if (found)
                *found = 1;
            return m->slots[i].val;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static int map_grow(gqlv_ctx_t *c, gqlv_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    gqlv_slot_t *slots = gqlv_alloc(c, cap * sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t j = 0; j < m->cap; j++) {
        const gqlv_slot_t *o = &m->slots[j];
        if (!o->used)
            continue;
        size_t i = (size_t)map_hash(o->a, o->b, o->s) & (cap - 1);
        while (slots[i].used)
            i = (i + 1) & (cap - 1);
        slots[i] = *o;
    }
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int gqlv_map_put(gqlv_ctx_t *c, gqlv_map_t *m, const void *a, const void *b,
                 const char *s, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && map_grow(c, m) < 0)
        return -1;
    size_t i = (size_t)map_hash(a, b, s) & (m->cap - 1);
    while (m->slots[i].used) {
        if (slot_is(&m->slots[i], a, b, s)) {
            m->slots[i].val = val;
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i] = (gqlv_slot_t){.a = a, .b = b, .s = s, .val = val, .used = 1};
    m->n++;
    return 0;
}

int gqlv_group_names(gqlv_ctx_t *c, const char *const *names, size_t n,
                     gqlv_groups_t *g)
{
    g->first = gqlv_alloc(c, (n + 1) * sizeof(size_t));
    g->next = gqlv_alloc(c, (n + 1) * sizeof(size_t));
    g->count = gqlv_alloc(c, (n + 1) * sizeof(size_t));
    size_t *last = gqlv_alloc(c, (n + 1) * sizeof(size_t));
    if (!g->first || !g->next || !g->count || !last)
        return -1;
    gqlv_map_t seen = {0};
    for (size_t i = 0; i < n; i++) {
        g->next[i] = n;
        if (!names[i]) {
            g->first[i] = n;
            continue;
        }
        int found;
        void *at = gqlv_map_get(&seen, NULL, NULL, names[i], &found);
        if (!found) {
            if (gqlv_map_put(c, &seen, NULL, NULL, names[i],
                             (void *)(uintptr_t)i) < 0)
                return -1;
            g->first[i] = last[i] = i;
            g->count[i] = 1;
            continue;
        }
        size_t f = (size_t)(uintptr_t)at;
        g->first[i] = f;
        g->next[last[f]] = i;
        last[f] = i;
        g->count[f]++;
    }
    return 0;
}

/* ---- strings and errors ----------------------------------------------- */

void gqlv_str_init(gqlv_str_t *b, gqlv_ctx_t *c)
{
    *b = (gqlv_str_t){.c = c};
}

void gqlv_str_addn(gqlv_str_t *b, const char *s, size_t n)
{
    if (b->truncated)
        return; /* nothing after a cut, or the message would have a hole */
    if (b->len + n > GQLV_MSG_MAX) {
        n = b->len < GQLV_MSG_MAX ? GQLV_MSG_MAX - b->len : 0;
        /* never cut a UTF-8 sequence: the message must stay valid JSON */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        b->truncated = 1;
    }
    if (!n)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = gqlv_alloc(b->c, cap);
        if (!p)
            return;
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gqlv_str_add(gqlv_str_t *b, const char *s)
{
    gqlv_str_addn(b, s, strlen(s));
}

void gqlv_str_addf(gqlv_str_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        gqlv_str_addn(b, tmp, (size_t)n);
        return;
    }
    char *big = gqlv_alloc(b->c, (size_t)n + 1);
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gqlv_str_addn(b, big, (size_t)n);
}

const char *gqlv_str_get(gqlv_str_t *b)
{
    return b->p ? b->p : "";
}

static void push_error(gqlv_ctx_t *c, const char *msg, const gql_loc_t *locs,
                       size_t n_locs)
{
    json_t *e = json_object();
    if (!e)
        return;
    json_t *m = json_string(msg);
    if (!m) /* not UTF-8: cannot happen for parsed documents */
        m = json_string("Validation error.");
    json_object_set_new(e, "message", m);
    json_t *arr = NULL;
    for (size_t i = 0; i < n_locs; i++) {
        if (!locs[i].line)
            continue;
        if (!arr)
            arr = json_array();
        json_t *l = json_pack("{s:I,s:I}", "line", (json_int_t)locs[i].line,
                              "column", (json_int_t)locs[i].column);
        if (arr && l)
            json_array_append_new(arr, l);
        else
            json_decref(l);
    }
    if (arr)
        json_object_set_new(e, "locations", arr);
    json_array_append_new(c->errors, e);
    c->count++;
}

void gqlv_report(gqlv_ctx_t *c, const char *msg, const gql_loc_t *locs,
                 size_t n_locs)
{
    if (c->quiet || c->aborted)
        return;
    if (c->count >= c->max_errors) {
        push_error(c,
                   "Too many validation errors, error limit reached. "
                   "Validation aborted.",
                   NULL, 0);
        c->aborted = 1;
        return;
    }
    push_error(c, msg, locs, n_locs);
}

void gqlv_reportf(gqlv_ctx_t *c, const gql_loc_t *locs, size_t n_locs,
                  const char *fmt, ...)
{
    if (c->quiet || c->aborted)
        return;
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        gqlv_report(c, tmp, locs, n_locs);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gqlv_report(c, big, locs, n_locs);
    free(big);
}

void gqlv_abort(gqlv_ctx_t *c)
{
    if (c->aborted)
        return;
    c->aborted = 1;
    /* reported even on the quiet pass: the budget is spent either way */
    push_error(c, "Validation aborted.", NULL, 0);
}

int gqlv_spend_fragment_work(gqlv_ctx_t *c, long cost)
{
    c->frag_work -= cost;
    if (c->frag_work < 0) {
        gqlv_abort(c);
        return 0;
    }
    return !c->aborted;
}

/* ---- printing ----------------------------------------------------------- */

/* graphql-js printString: JSON-like, escaping C0, C1, DEL, '"' and '\'. */
static void print_string(gqlv_str_t *b, const char *s, size_t len)
{
    gqlv_str_add(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"') {
            gqlv_str_add(b, "\\\"");
        } else if (ch == '\\') {
            gqlv_str_add(b, "\\\\");
        } else if (ch == '\b') {
            gqlv_str_add(b, "\\b");
        } else if (ch == '\t') {
            gqlv_str_add(b, "\\t");
        } else if (ch == '\n') {
            gqlv_str_add(b, "\\n");
        } else if (ch == '\f') {
            gqlv_str_add(b, "\\f");
        } else if (ch == '\r') {
            gqlv_str_add(b, "\\r");
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04X", ch);
            gqlv_str_add(b, esc);
        } else if (ch == 0xc2 && i + 1 < len &&
                   (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            /* U+0080..U+009F, C1 controls, in UTF-8 */
            snprintf(esc, sizeof(esc), "\\u%04X", (unsigned char)s[i + 1]);
            gqlv_str_add(b, esc);
            i++;
        } else {
            /* a whole UTF-8 sequence at once, so a cut never splits one */
            size_t n = 1;
            while (i + n < len && ((unsigned char)s[i + n] & 0xC0) == 0x80)
                n++;
            gqlv_str_addn(b, &s[i], n);
            i += n - 1;
        }
    }
    gqlv_str_add(b, "\"");
}

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* graphql-js printBlockString: """ escaped, and leading and trailing line
 * breaks where they keep the value readable and unambiguous. */
static void print_block_string(gqlv_str_t *b, const char *s, size_t len)
{
    gqlv_str_t esc;
    gqlv_str_init(&esc, b->c);
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && s[i] == '"' && s[i + 1] == '"' && s[i + 2] == '"') {
            gqlv_str_add(&esc, "\\\"\"\"");
            i += 2;
        } else {
            size_t n = 1; /* a whole UTF-8 sequence, as print_string */
            while (i + n < len && ((unsigned char)s[i + n] & 0xC0) == 0x80)
                n++;
            gqlv_str_addn(&esc, &s[i], n);
            i += n - 1;
        }
    }
    const char *e = gqlv_str_get(&esc);
    size_t el = esc.len;
    /* lines split at \r\n, \n or \r */
    size_t n_lines = 1;
    int later_lines_indented = 1;
    for (size_t i = 0; i < el; i++) {
        if (e[i] != '\n' && e[i] != '\r')
            continue;
        if (e[i] == '\r' && i + 1 < el && e[i + 1] == '\n')
            i++;
        n_lines++;
        size_t nx = i + 1;
        if (nx < el && e[nx] != '\n' && e[nx] != '\r' && !is_ws(e[nx]))
            later_lines_indented = 0;
    }
    int single = n_lines == 1;
    int force_lead = n_lines > 1 && later_lines_indented;
    int trail_triple = el >= 4 && memcmp(e + el - 4, "\\\"\"\"", 4) == 0;
    int trail_quote = len && s[len - 1] == '"' && !trail_triple;
    int trail_slash = len && s[len - 1] == '\\';
    int force_trail = trail_quote || trail_slash;
    int multiple =
        !single || len > 70 || force_trail || force_lead || trail_triple;
    int skip_lead = single && len && is_ws(s[0]);
    gqlv_str_add(b, "\"\"\"");
    if ((multiple && !skip_lead) || force_lead)
        gqlv_str_add(b, "\n");
    gqlv_str_addn(b, e, el);
    if (multiple || force_trail)
        gqlv_str_add(b, "\n");
    gqlv_str_add(b, "\"\"\"");
}

void gqlv_print_value(gqlv_str_t *b, const gql_value_t *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case GQL_V_VARIABLE:
        gqlv_str_add(b, "$");
        gqlv_str_add(b, v->text ? v->text : "");
        break;
    case GQL_V_INT:
    case GQL_V_FLOAT:
    case GQL_V_ENUM:
        gqlv_str_add(b, v->text ? v->text : "");
        break;
    case GQL_V_STRING:
        if (v->block)
            print_block_string(b, v->text ? v->text : "", v->len);
        else
            print_string(b, v->text ? v->text : "", v->len);
        break;
    case GQL_V_BOOLEAN:
        gqlv_str_add(b, v->boolean ? "true" : "false");
        break;
    case GQL_V_NULL:
        gqlv_str_add(b, "null");
        break;
    case GQL_V_LIST:
        gqlv_str_add(b, "[");
        for (size_t i = 0; i < v->n_items && b->len < GQLV_MSG_MAX; i++) {
            if (i)
                gqlv_str_add(b, ", ");
            gqlv_print_value(b, v->items[i]);
        }
        gqlv_str_add(b, "]");
        break;
    case GQL_V_OBJECT:
        gqlv_str_add(b, "{");
        for (size_t i = 0; i < v->n_fields && b->len < GQLV_MSG_MAX; i++) {
            if (i)
                gqlv_str_add(b, ", ");
            gqlv_str_add(b, v->fields[i].name);
            gqlv_str_add(b, ": ");
            gqlv_print_value(b, v->fields[i].value);
        }
        gqlv_str_add(b, "}");
        break;
    }
}

void gqlv_print_type(gqlv_str_t *b, const gql_type_ref_t *t)
{
    if (!t)
        return;
    switch (t->kind) {
    case GQL_T_NAMED:
        gqlv_str_add(b, t->name);
        break;
    case GQL_T_LIST:
        gqlv_str_add(b, "[");
        gqlv_print_type(b, t->of);
        gqlv_str_add(b, "]");
        break;
    case GQL_T_NON_NULL:
        gqlv_print_type(b, t->of);
        gqlv_str_add(b, "!");
        break;
    }
}

const char *gqlv_type_str(gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_print_type(&b, t);
    return gqlv_str_get(&b);
}

const char *gqlv_value_str(gqlv_ctx_t *c, const gql_value_t *v)
{
    gqlv_str_t b;
    gqlv_str_init(&b, c);
    gqlv_print_value(&b, v);
    return gqlv_str_get(&b);
}

/* ---- suggestions -------------------------------------------------------- */

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* graphql-js naturalCompare: runs of digits compare as numbers. */
int gqlv_natural_compare(const char *a, const char *b)
{
    size_t ai = 0, bi = 0, al = strlen(a), bl = strlen(b);
    while (ai < al && bi < bl) {
        int ac = (unsigned char)a[ai], bc = (unsigned char)b[bi];
        if (is_digit(ac) && is_digit(bc)) {
            unsigned long long an = 0, bn = 0;
            do {
                ++ai;
                an = an * 10 + (unsigned)(ac - '0');
                ac = ai < al ? (unsigned char)a[ai] : 0;
            } while (is_digit(ac) && an > 0);
            do {
                ++bi;
                bn = bn * 10 + (unsigned)(bc - '0');
                bc = bi < bl ? (unsigned char)b[bi] : 0;
            } while (is_digit(bc) && bn > 0);
            if (an < bn)
                return -1;
            if (an > bn)
                return 1;
        } else {
            if (ac < bc)
                return -1;
            if (ac > bc)
                return 1;
            ++ai;
            ++bi;
        }
    }
    return (al > bl) - (al < bl);
}

/* Names longer than this are never close to anything worth suggesting,
 * and the distance table stays on the stack. */
#define GQLV_SUGGEST_MAX_LEN 256

static void lower(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

/* graphql-js LexicalDistance.measure: Damerau-Levenshtein on lower-cased
 * strings, a case-only change counting 1; -1 past the threshold. */
static int lexical_distance(const char *input, const char *option,
                            int threshold)
{
    if (strcmp(input, option) == 0)
        return 0;
    size_t il = strlen(input), ol = strlen(option);
    if (il > GQLV_SUGGEST_MAX_LEN || ol > GQLV_SUGGEST_MAX_LEN)
        return -1;
    char in_l[GQLV_SUGGEST_MAX_LEN + 1], op_l[GQLV_SUGGEST_MAX_LEN + 1];
    lower(in_l, input, il);
    lower(op_l, option, ol);
    if (strcmp(in_l, op_l) == 0)
        return 1;
    const char *a = op_l, *b = in_l;
    size_t alen = ol, blen = il;
    if (alen < blen) {
        a = in_l;
        b = op_l;
        alen = il;
        blen = ol;
    }
    if ((int)(alen - blen) > threshold)
        return -1;
    int rows[3][GQLV_SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= blen; j++)
        rows[0][j] = (int)j;
    for (size_t i = 1; i <= alen; i++) {
        int *up = rows[(i - 1) % 3], *cur = rows[i % 3];
        int smallest = cur[0] = (int)i;
        for (size_t j = 1; j <= blen; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int cell = up[j] + 1;
            if (cur[j - 1] + 1 < cell)
                cell = cur[j - 1] + 1;
            if (up[j - 1] + cost < cell)
                cell = up[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1]) {
                int dd = rows[(i - 2) % 3][j - 2] + 1;
                if (dd < cell)
                    cell = dd;
            }
            if (cell < smallest)
                smallest = cell;
            cur[j] = cell;
        }
        if (smallest > threshold)
            return -1;
    }
    int d = rows[alen % 3][blen];
    return d <= threshold ? d : -1;
}

typedef struct sugg {
    const char *name;
    int dist;
} sugg_t;

void gqlv_did_you_mean(gqlv_str_t *b, const char *sub, const char *input,
                       const char *const *options, size_t n_options)
{
    /* suggestionList keeps every option within the threshold, sorted by
     * distance then naturally; didYouMean prints the first five. */
    int threshold = (int)(strlen(input) * 4 / 10) + 1;
    sugg_t best[6];
    size_t n = 0;
    for (size_t i = 0; i < n_options; i++) {
        int d = lexical_distance(input, options[i], threshold);
        if (d < 0)
            continue;
        /* the same option twice counts once, as in an object's keys */
        int dup = 0;
        for (size_t k = 0; k < n; k++)
            if (strcmp(best[k].name, options[i]) == 0)
                dup = 1;
        if (dup)
            continue;
        sugg_t s = {options[i], d};
        size_t pos = n;
        while (pos > 0 &&
               (best[pos - 1].dist > d ||
                (best[pos - 1].dist == d &&
                 gqlv_natural_compare(best[pos - 1].name, s.name) > 0)))
            pos--;
        if (pos >= 5)
            continue;
        size_t last = n < 5 ? n : 4;
        memmove(&best[pos + 1], &best[pos], (last - pos) * sizeof(best[0]));
        best[pos] = s;
        if (n < 5)
            n++;
    }
    if (!n)
        return;
    gqlv_str_add(b, " Did you mean ");
    if (sub) {
        gqlv_str_add(b, sub);
        gqlv_str_add(b, " ");
    }
    for (size_t i = 0; i < n; i++) {
        if (i && n == 2)
            gqlv_str_add(b, " or ");
        else if (i && i == n - 1)
            gqlv_str_add(b, ", or ");
        else if (i)
            gqlv_str_add(b, ", ");
        gqlv_str_addf(b, "\"%s\"", best[i].name);
    }
    gqlv_str_add(b, "?");
}

/* ---- types -------------------------------------------------------------- */

const gql_stype_t *gqlv_named(const gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    while (t && t->kind != GQL_T_NAMED)
        t = t->of;
    return t && t->name ? gql_schema_type(c->s, t->name) : NULL;
}

int gqlv_is_composite(const gql_stype_t *t)
{
    return t && (t->kind == GQL_K_OBJECT || t->kind == GQL_K_INTERFACE ||
                 t->kind == GQL_K_UNION);
}

int gqlv_is_leaf(const gql_stype_t *t)
{
    return t && (t->kind == GQL_K_SCALAR || t->kind == GQL_K_ENUM);
}

int gqlv_is_abstract(const gql_stype_t *t)
{
    return t && (t->kind == GQL_K_INTERFACE || t->kind == GQL_K_UNION);
}

int gqlv_is_input(const gql_stype_t *t)
{
    return t && (t->kind == GQL_K_SCALAR || t->kind == GQL_K_ENUM ||
                 t->kind == GQL_K_INPUT_OBJECT);
}

static int same_type(const gql_stype_t *a, const gql_stype_t *b)
{
    return a == b || (a && b && strcmp(a->name, b->name) == 0);
}

int gqlv_is_subtype(const gql_stype_t *abstract, const gql_stype_t *maybe)
{
    if (!abstract || !maybe)
        return 0;
    if (abstract->kind == GQL_K_UNION) {
        for (size_t i = 0; i < abstract->n_possible; i++)
            if (same_type(abstract->possible[i], maybe))
                return 1;
        return 0;
    }
    if (abstract->kind == GQL_K_INTERFACE &&
        (maybe->kind == GQL_K_OBJECT || maybe->kind == GQL_K_INTERFACE)) {
        for (size_t i = 0; i < maybe->n_interfaces; i++)
            if (same_type(maybe->interfaces[i], abstract))
                return 1;
        /* objects the schema lists as implementing it */
        if (maybe->kind == GQL_K_OBJECT)
            for (size_t i = 0; i < abstract->n_possible; i++)
                if (same_type(abstract->possible[i], maybe))
                    return 1;
    }
    return 0;
}

static size_t possible_types(const gql_stype_t *t,
                             const gql_stype_t *const **out)
{
    *out = t->possible;
    return t->n_possible;
}

/* graphql-js doTypesOverlap. */
int gqlv_types_overlap(const gql_stype_t *a, const gql_stype_t *b)
{
    if (same_type(a, b))
        return 1;
    if (gqlv_is_abstract(a)) {
        if (gqlv_is_abstract(b)) {
            const gql_stype_t *const *pa;
            size_t n = possible_types(a, &pa);
            for (size_t i = 0; i < n; i++)
                if (gqlv_is_subtype(b, pa[i]))
                    return 1;
            return 0;
        }
        return gqlv_is_subtype(a, b);
    }
    if (gqlv_is_abstract(b))
        return gqlv_is_subtype(b, a);
    return 0;
}

int gqlv_type_equal(const gql_type_ref_t *a, const gql_type_ref_t *b)
{
    while (a && b) {
        if (a->kind != b->kind)
            return 0;
        if (a->kind == GQL_T_NAMED)
            return a->name && b->name && strcmp(a->name, b->name) == 0;
        a = a->of;
        b = b->of;
    }
    return a == b;
}

int gqlv_type_resolves(const gqlv_ctx_t *c, const gql_type_ref_t *t)
{
    return gqlv_named(c, t) != NULL;
}

/* The meta fields: what graphql-js's SchemaMetaFieldDef, TypeMetaFieldDef
 * and TypeNameMetaFieldDef declare. */
static const gql_type_ref_t t_string = {.kind = GQL_T_NAMED, .name = "String"};
static const gql_type_ref_t t_string_nn = {.kind = GQL_T_NON_NULL,
                                           .of = (gql_type_ref_t *)&t_string};
static const gql_type_ref_t t_schema = {.kind = GQL_T_NAMED,
                                        .name = "__Schema"};
static const gql_type_ref_t t_schema_nn = {.kind = GQL_T_NON_NULL,
                                           .of = (gql_type_ref_t *)&t_schema};
static const gql_type_ref_t t_type = {.kind = GQL_T_NAMED, .name = "__Type"};
static const gql_sarg_t type_args[] = {{.name = "name", .type = &t_string_nn}};
static const gql_sfield_t meta_schema = {.name = "__schema",
                                         .type = &t_schema_nn};
static const gql_sfield_t meta_type = {
    .name = "__type", .type = &t_type, .args = type_args, .n_args = 1};
static const gql_sfield_t meta_typename = {.name = "__typename",
                                           .type = &t_string_nn};

const gql_sfield_t *gqlv_field_def(const gqlv_ctx_t *c,
                                   const gql_stype_t *parent, const char *name)
{
    if (!parent || !name)
        return NULL;
    const gql_stype_t *q = gql_schema_root(c->s, GQL_OP_QUERY);
    if (strcmp(name, "__schema") == 0 && same_type(q, parent))
        return &meta_schema;
    if (strcmp(name, "__type") == 0 && same_type(q, parent))
        return &meta_type;
    if (strcmp(name, "__typename") == 0 && gqlv_is_composite(parent))
        return &meta_typename;
    if (parent->kind == GQL_K_OBJECT || parent->kind == GQL_K_INTERFACE)
        return gql_stype_field(parent, name);
    return NULL;
}

const gql_definition_t *gqlv_fragment(const gqlv_ctx_t *c, const char *name)
{
    return name ? gqlv_map_get(&c->frags, NULL, NULL, name, NULL) : NULL;
}
