/*
 * The in-memory model of host/auth: growable arrays of users, namespaces,
 * memberships and tokens, and the token-hash index. Callers hold the
 * dp_auth_t lock (see auth_internal.h); nothing here locks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*v, c * elem);
    if (p == NULL)
        return -ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

#define APPEND(m, arr, n, cap, item)                                           \
    do {                                                                       \
        if (grow((void **)&(m)->arr, &(m)->cap, (m)->n, sizeof(*(item))) < 0)  \
            return -ENOMEM;                                                    \
        (m)->arr[(m)->n++] = *(item);                                          \
        return 0;                                                              \
    } while (0)

int dp_auth_model_add_user(dp_auth_model_t *m, const dp_auth_user_t *u)
{
    APPEND(m, users, n_users, cap_users, u);
}

int dp_auth_model_add_ns(dp_auth_model_t *m, const dp_auth_ns_t *n)
{
    APPEND(m, nss, n_nss, cap_nss, n);
}

int dp_auth_model_add_member(dp_auth_model_t *m, const dp_auth_member_t *mb)
{
    APPEND(m, members, n_members, cap_members, mb);
}

int dp_auth_model_add_token(dp_auth_model_t *m, const dp_auth_token_t *t)
{
    APPEND(m, tokens, n_tokens, cap_tokens, t);
}

void dp_auth_model_free(dp_auth_model_t *m)
{
    free(m->users);
    free(m->nss);
    free(m->members);
    free(m->tokens);
    memset(m, 0, sizeof(*m));
}

dp_auth_user_t *dp_auth_find_user(dp_auth_model_t *m, const char *id_or_name)
{
    if (id_or_name == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_users; i++)
        if (strcmp(m->users[i].id, id_or_name) == 0)
            return &m->users[i];
    for (size_t i = 0; i < m->n_users; i++)
        if (strcmp(m->users[i].name, id_or_name) == 0)
            return &m->users[i];
    return NULL;
}

dp_auth_ns_t *dp_auth_find_ns(dp_auth_model_t *m, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_nss; i++)
        if (strcmp(m->nss[i].name, name) == 0)
            return &m->nss[i];
    return NULL;
}

dp_auth_token_t *dp_auth_find_token(dp_auth_model_t *m, const char *id)
{
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_tokens; i++)
        if (strcmp(m->tokens[i].id, id) == 0)
            return &m->tokens[i];
    return NULL;
}

dp_auth_role_t dp_auth_member_role(dp_auth_model_t *m, const char *ns,
                                   const char *user_id)
{
    if (ns == NULL || user_id == NULL)
        return DP_ROLE_NONE;
    for (size_t i = 0; i < m->n_members; i++)
        if (strcmp(m->members[i].ns, ns) == 0 &&
            strcmp(m->members[i].user_id, user_id) == 0)
            return m->members[i].role;
    return DP_ROLE_NONE;
}

/* The hash is uniformly random, so its first bytes are a good bucket. */
static size_t bucket(const uint8_t *h, size_t cap)
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v % cap);
}

#define EMPTY ((size_t)-1)

int dp_auth_reindex(dp_auth_t *a)
{
    size_t cap = 64;
    while (cap < a->model.n_tokens * 2 + 1)
        cap *= 2;
    size_t *ix = malloc(cap * sizeof(*ix));
    if (ix == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        ix[i] = EMPTY;
    for (size_t t = 0; t < a->model.n_tokens; t++) {
        size_t b = bucket(a->model.tokens[t].hash, cap);
        while (ix[b] != EMPTY)
            b = (b + 1) % cap;
        ix[b] = t;
    }
    free(a->index);
    a->index = ix;
    a->index_cap = cap;
    return 0;
}

dp_auth_token_t *dp_auth_lookup_hash(dp_auth_t *a,
                                     const uint8_t hash[DP_AUTH_HASH_LEN])
{
    if (a->index == NULL)
        return NULL;
    size_t b = bucket(hash, a->index_cap);
    for (size_t n = 0; n < a->index_cap; n++) {
        size_t t = a->index[b];
        if (t == EMPTY)
            return NULL;
        if (t < a->model.n_tokens &&
            dp_auth_hash_equal(a->model.tokens[t].hash, hash))
            return &a->model.tokens[t];
        b = (b + 1) % a->index_cap;
    }
    return NULL;
}

int dp_auth_name_valid(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > DP_AUTH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int dp_auth_label_normalize(const char *in, char out[DP_AUTH_NAME_MAX + 1])
{
    if (in == NULL)
        return -EINVAL;
    size_t n = strlen(in);
    if (n == 0 || n > DP_AUTH_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return -EINVAL;
        out[i] = c;
    }
    out[n] = '\0';
    return 0;
}
