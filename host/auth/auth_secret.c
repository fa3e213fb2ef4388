/*
 * Token secrets: 32 bytes from getrandom(2) written in base62 after a kind
 * prefix; stored only as SHA-256 and compared in constant time. A salt or a
 * slow hash would add nothing: the secret is 256 random bits, not a
 * password, so a stolen hash cannot be brute-forced.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include "auth_internal.h"

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static atomic_ulong compares;

/* n bytes from the kernel's CSPRNG (getrandom(2), blocking only until the
 * pool is initialised at boot). Not RAND_bytes: OpenSSL keeps a generator
 * per thread that calls it, held until the thread exits, and the admin and
 * auth calls that mint ids run on the thread pool, whose threads live as
 * long as the process. 0 or -EIO. */
static int random_bytes(uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -EIO;
        got += (size_t)r;
    }
    return 0;
}

/* Base62 of a 32-byte big-endian number, exactly 43 digits (62^43 >
 * 2^256), most significant first. */
static void base62_32(const uint8_t in[32], char out[DP_AUTH_SECRET_CHARS])
{
    uint8_t n[32];
    memcpy(n, in, sizeof(n));
    for (int d = DP_AUTH_SECRET_CHARS - 1; d >= 0; d--) {
        unsigned rem = 0;
        for (size_t i = 0; i < sizeof(n); i++) {
            unsigned cur = (rem << 8) | n[i];
            n[i] = (uint8_t)(cur / 62);
            rem = cur % 62;
        }
        out[d] = b62[rem];
    }
    OPENSSL_cleanse(n, sizeof(n));
}

int dp_auth_secret_new(const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    uint8_t raw[32];
    if (cap < pl + DP_AUTH_SECRET_CHARS + 1)
        return -ENOSPC;
    if (random_bytes(raw, sizeof(raw)) < 0)
        return -EIO;
    memcpy(out, prefix, pl);
    base62_32(raw, out + pl);
    out[pl + DP_AUTH_SECRET_CHARS] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void dp_auth_secret_hash(const char *secret, size_t len,
                         uint8_t out[DP_AUTH_HASH_LEN])
{
    SHA256((const unsigned char *)secret, len, out);
}

int dp_auth_hash_equal(const uint8_t *a, const uint8_t *b)
{
    atomic_fetch_add_explicit(&compares, 1, memory_order_relaxed);
    return CRYPTO_memcmp(a, b, DP_AUTH_HASH_LEN) == 0;
}

unsigned long dp_auth_hash_compares(void)
{
    return atomic_load(&compares);
}

int dp_auth_id_new(const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    if (cap < pl + 17)
        return -ENOSPC;
    memcpy(out, prefix, pl);
    size_t n = 0;
    while (n < 16) {
        uint8_t raw[32];
        if (random_bytes(raw, sizeof(raw)) < 0)
            return -EIO;
        /* Rejection sampling keeps every character equally likely. */
        for (size_t i = 0; i < sizeof(raw) && n < 16; i++)
            if (raw[i] < 248)
                out[pl + n++] = b62[raw[i] % 62];
    }
    out[pl + n] = '\0';
    return 0;
}

int dp_auth_secret_wellformed(const char *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (s == NULL || strncmp(s, prefix, pl) != 0)
        return 0;
    const char *p = s + pl;
    size_t n = strlen(p);
    if (n < 32 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
