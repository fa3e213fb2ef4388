/*
 * First-start bootstrap of the system-admin token, and the loopback rule of
 * local mode.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_internal.h"
#include "base/log.h"

int dp_auth_local_mode_allowed(const char *bind_host)
{
    if (bind_host == NULL || bind_host[0] == '\0')
        return 0;
    if (strcasecmp(bind_host, "localhost") == 0)
        return 1;
    char h[64];
    size_t n = strlen(bind_host);
    if (n >= sizeof(h))
        return 0;
    /* "[::1]" as written in a listen address. */
    if (bind_host[0] == '[' && n > 2 && bind_host[n - 1] == ']') {
        memcpy(h, bind_host + 1, n - 2);
        h[n - 2] = '\0';
    } else {
        memcpy(h, bind_host, n + 1);
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, h, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return 0;
}

/* Caller holds the read or write lock. */
static int has_admin_token(dp_auth_t *a, int64_t now)
{
    for (size_t i = 0; i < a->model.n_tokens; i++) {
        const dp_auth_token_t *t = &a->model.tokens[i];
        if (t->kind != DP_AUTH_KIND_USER || t->revoked_ms != 0 ||
            t->ns[0] != '\0' || (t->expires_ms != 0 && now >= t->expires_ms))
            continue;
        const dp_auth_user_t *u = dp_auth_find_user(&a->model, t->user_id);
        if (u != NULL && u->system_admin)
            return 1;
    }
    return 0;
}

/* Writes secret + "\n" to path, mode 0600, replacing any old file. */
static int write_token_file(const char *path, const char *secret)
{
    unlink(path); /* an old file may have wider permissions or be a link */
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(secret);
    int rc = 0;
    if (fchmod(fd, 0600) < 0 || write(fd, secret, len) != (ssize_t)len ||
        write(fd, "\n", 1) != 1 || fsync(fd) < 0)
        rc = errno ? -errno : -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

/* The system-admin user to own the bootstrap token: an existing one, or a
 * new "admin" (or "admin-2", ... when the name is taken). Caller holds the
 * write lock and a transaction; *created tells the caller to add u to the
 * model after the commit. */
static int admin_user(dp_auth_t *a, dp_auth_user_t *u, int *created)
{
    *created = 0;
    for (size_t i = 0; i < a->model.n_users; i++)
        if (a->model.users[i].system_admin) {
            *u = a->model.users[i];
            return 0;
        }
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), "admin");
    for (int n = 2; dp_auth_find_user(&a->model, u->name) != NULL; n++)
        snprintf(u->name, sizeof(u->name), "admin-%d", n);
    int rc = dp_auth_id_new("usr_", u->id, sizeof(u->id));
    if (rc < 0)
        return rc;
    u->system_admin = 1;
    u->created_ms = dp_auth_now(a);
    *created = 1;
    return a->store->ops->user_put(a->store, u);
}

int dp_auth_bootstrap(dp_auth_t *a, const char *data_dir, const char *env_token,
                      char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (a->cfg.local_mode)
        return 0;
    if (env_token != NULL && env_token[0] == '\0')
        env_token = NULL;
    if (env_token != NULL && !dp_auth_secret_wellformed(env_token, "mk_")) {
        snprintf(err, errlen,
                 "DOPPEL_ADMIN_TOKEN must be 'mk_' followed by 32 to 128 "
                 "characters of [A-Za-z0-9_-]");
        return -EINVAL;
    }
    int64_t now = dp_auth_now(a);
    uint8_t h[DP_AUTH_HASH_LEN];
    if (env_token != NULL)
        dp_auth_secret_hash(env_token, strlen(env_token), h);

    pthread_rwlock_wrlock(&a->lock);
    int need = !has_admin_token(a, now);
    if (env_token != NULL) {
        /* An operator-given token is always honoured: registered when it
         * is unknown (also after a rotation), refused once revoked. */
        dp_auth_token_t *t = dp_auth_lookup_hash(a, h);
        if (t != NULL && t->revoked_ms != 0) {
            pthread_rwlock_unlock(&a->lock);
            snprintf(err, errlen,
                     "DOPPEL_ADMIN_TOKEN was revoked; unset it "
                     "or give a new one");
            return -EACCES;
        }
        need = t == NULL;
    }
    if (!need) {
        pthread_rwlock_unlock(&a->lock);
        return 0;
    }

    char secret[160];
    char path[4096];
    dp_auth_user_t u;
    int user_created = 0;
    dp_auth_token_t t;
    memset(&t, 0, sizeof(t));
    t.kind = DP_AUTH_KIND_USER;
    snprintf(t.name, sizeof(t.name), env_token ? "env-admin" : "bootstrap");
    snprintf(path, sizeof(path), "%s/admin-token", data_dir ? data_dir : ".");

    dp_auth_store_t *s = a->store;
    pthread_mutex_lock(&a->store_lock);
    int rc = s->ops->begin(s);
    if (rc == 0)
        rc = admin_user(a, &u, &user_created);
    if (rc == 0) {
        snprintf(t.user_id, sizeof(t.user_id), "%s", u.id);
        rc = dp_auth_token_create_locked(a, &t, env_token, secret,
                                         sizeof(secret));
    }
    if (rc == 0) {
        dp_auth_principal_t sys = {.kind = DP_AUTH_KIND_LOCAL};
        snprintf(sys.user_name, sizeof(sys.user_name), "bootstrap");
        rc = dp_auth_audit_locked(
            a, &sys, env_token ? "bootstrap.env_token" : "bootstrap.token",
            NULL, t.id, u.name);
    }
    /* The file is written before the commit: if it cannot be, nothing is
     * created and the next start tries again. */
    if (rc == 0 && env_token == NULL) {
        rc = write_token_file(path, secret);
        if (rc < 0)
            snprintf(s->errmsg, sizeof(s->errmsg), "%.200s: %s", path,
                     strerror(-rc));
    }
    if (rc == 0)
        rc = s->ops->commit(s);
    if (rc < 0) {
        s->ops->rollback(s);
        snprintf(err, errlen, "bootstrap: %s", s->errmsg);
        if (env_token == NULL)
            unlink(path);
    }
    pthread_mutex_unlock(&a->store_lock);
    if (rc == 0 && user_created)
        rc = dp_auth_model_add_user(&a->model, &u);
    if (rc == 0)
        rc = dp_auth_model_add_token(&a->model, &t);
    if (rc == 0)
        rc = dp_auth_reindex(a);
    pthread_rwlock_unlock(&a->lock);
    if (rc < 0) {
        OPENSSL_cleanse(secret, sizeof(secret));
        if (err[0] == '\0')
            snprintf(err, errlen, "bootstrap: out of memory");
        return rc;
    }
    if (env_token == NULL) {
        fprintf(stderr, "doppel: bootstrap admin token (shown once): %s\n",
                secret);
        dp_info("auth",
                "bootstrap admin token created for user '%s' "
                "(%s...), also written to %s (mode 0600)",
                u.name, t.display, path);
    } else {
        dp_info("auth", "registered DOPPEL_ADMIN_TOKEN (%s...) for user '%s'",
                t.display, u.name);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    return 1;
}
