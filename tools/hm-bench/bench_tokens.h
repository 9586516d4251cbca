/*
 * bench_tokens.h - the credentials hm-bench connects with.
 *
 * A tokens file has one line per user, in any of three forms:
 *   ID TOKEN   a user id and a token for it (e.g. from `hm-auth token`)
 *   TOKEN      a token; the user id is read from its sub claim
 *   ID         a user id; hm-bench signs an HS256 token for it with the
 *              secret hm-auth is configured with (--secret / --secret-file)
 * Blank lines and lines starting with '#' are skipped. Signed tokens carry
 * exactly the claims `hm-auth token` writes: sub (decimal string), iat, exp,
 * iss, aud and a random UUID jti, header {"alg":"HS256","typ":"JWT"}.
 */
#ifndef BENCH_TOKENS_H
#define BENCH_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

typedef struct {
    const unsigned char *secret; /* HS256 key, or NULL: ID-only lines are an error */
    size_t secret_len;
    const char *issuer;   /* iss */
    const char *audience; /* aud */
    int64_t ttl_s;        /* exp - iat */
} bench_signer_t;

/* Reads path. On success returns 0 and *creds (caller frees with
 * bench_creds_free) holding *n credentials. Returns -1 with the reason
 * printed to stderr. */
int bench_creds_load(const char *path, const bench_signer_t *signer, bench_cred_t **creds,
                     size_t *n);
void bench_creds_free(bench_cred_t **creds, size_t n);

/* Signs a token for user_id (caller frees), or NULL. */
char *bench_token_sign(const bench_signer_t *signer, int64_t user_id);

/* Reads a secret file (one trailing newline dropped, as hm-auth does).
 * Returns it (caller frees) with *len, or NULL (printed). */
unsigned char *bench_secret_read(const char *path, size_t *len);

#endif /* BENCH_TOKENS_H */
