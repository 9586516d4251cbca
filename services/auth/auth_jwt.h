/*
 * auth_jwt.h - JWT verification and signing with the algorithm pinned by
 * configuration (HS256 with a secret, RS256 or ES256 with a key pair).
 *
 * libjwt 1.10 trusts the header's alg and validates no claim, so
 * auth_jwt_verify() does, in this order: size bound (AUTH_JWT_MAX_TOKEN),
 * three base64url segments, header JSON with alg equal to the configured
 * one (before any signature check: "none", other algs and RS/HS confusion
 * are refused), payload JSON, the signature (jwt_decode with the key), then
 * every claim: exp (required), nbf and iat (optional, not in the future
 * beyond the leeway), iss, aud (string or array), jti (required), sub (a
 * positive user id, integer or decimal string).
 */
#ifndef AUTH_JWT_H
#define AUTH_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_db.h"

#define AUTH_JWT_MAX_TOKEN 8192    /* bytes; longer tokens are malformed */
#define AUTH_JWT_MAX_KEY (1 << 20) /* bytes of a key or secret file */

typedef enum {
    AUTH_JWT_OK = 0,
    AUTH_JWT_E_MALFORMED,     /* HM_ERR_TOKEN_MALFORMED */
    AUTH_JWT_E_ALG,           /* HM_ERR_TOKEN_ALG */
    AUTH_JWT_E_SIGNATURE,     /* HM_ERR_TOKEN_SIGNATURE */
    AUTH_JWT_E_EXPIRED,       /* HM_ERR_TOKEN_EXPIRED */
    AUTH_JWT_E_NOT_YET_VALID, /* HM_ERR_TOKEN_NOT_YET_VALID */
    AUTH_JWT_E_ISSUER,        /* HM_ERR_TOKEN_ISSUER */
    AUTH_JWT_E_AUDIENCE,      /* HM_ERR_TOKEN_AUDIENCE */
} auth_jwt_err_t;

typedef struct {
    const char *alg;               /* "HS256", "RS256" or "ES256" */
    const unsigned char *key;      /* HS256: the secret; RS/ES: public key PEM */
    size_t key_len;                /* bytes in key */
    const unsigned char *sign_key; /* RS/ES: private key PEM; NULL: cannot sign (HS: unused) */
    size_t sign_key_len;           /* bytes in sign_key */
    const char *issuer;            /* required iss */
    const char *audience;          /* required in aud */
    int leeway_s;                  /* clock skew allowed on exp, nbf, iat */
} auth_jwt_cfg_t;

/* What a verified token says. Fields are set as far as they could be read
 * from a token whose signature verified (user_id 0 and jti "" otherwise),
 * so that failures after the signature check can be audited with the user. */
typedef struct {
    int64_t user_id;            /* sub */
    int64_t exp;                /* unix seconds */
    int64_t iat;                /* unix seconds, 0 when absent */
    char jti[AUTH_JTI_MAX + 1]; /* token id */
} auth_jwt_claims_t;

typedef struct auth_jwt_t auth_jwt_t;

/* Creates a verifier/signer; copies everything in cfg. An unknown alg, an
 * empty key, a PEM key that does not parse or whose type does not match
 * the alg (RSA for RS256, P-256 for ES256) is refused: NULL, logged. */
auth_jwt_t *auth_jwt_new(const auth_jwt_cfg_t *cfg);
void auth_jwt_destroy(auth_jwt_t **self_p);

/* Verifies token (a NUL-terminated string; NULL is malformed). Returns
 * AUTH_JWT_OK and fills *claims, or the first failure. Never logs the
 * token. */
auth_jwt_err_t auth_jwt_verify(auth_jwt_t *self, const char *token, auth_jwt_claims_t *claims);

/* The checks auth_jwt_verify() makes before the signature, with no key and
 * no clock (pure; the fuzz target tests/fuzz/fuzz_token.c drives it): size
 * bound, exactly three segments of canonical unpadded base64url, a header
 * object whose alg equals alg_name (typ "JWT" when present, no crit), a
 * payload that is a JSON object. Returns AUTH_JWT_OK and *payload (caller
 * json_decref()s), or AUTH_JWT_E_MALFORMED / AUTH_JWT_E_ALG and *payload
 * NULL. */
auth_jwt_err_t auth_jwt_precheck(const char *alg_name, const char *token, json_t **payload);

/* The claim checks auth_jwt_verify() makes once the signature verified
 * (exp, nbf, iat against the clock and leeway; iss, aud, jti, sub). Fills
 * *claims as far as it could read them. */
auth_jwt_err_t auth_jwt_check_claims(const auth_jwt_t *self, const json_t *payload,
                                     auth_jwt_claims_t *claims);

/* The stable error code for err (HM_ERR_TOKEN_*), NULL for AUTH_JWT_OK. */
const char *auth_jwt_err_code(auth_jwt_err_t err);

/* A human-readable reason for err (static string). */
const char *auth_jwt_err_message(auth_jwt_err_t err);

/* Signs a token for user_id valid for ttl_s seconds from now, with iat,
 * exp, iss, aud and a fresh UUID jti (copied into jti_out when not NULL,
 * AUTH_JTI_MAX + 1 bytes). Returns the token (caller owns, free()) or NULL
 * (no signing key, or a libjwt failure; logged). */
char *auth_jwt_sign(auth_jwt_t *self, int64_t user_id, int64_t ttl_s, char *jti_out);

/* Reads a key or secret file (at most AUTH_JWT_MAX_KEY bytes). When
 * strip_newline, one trailing "\n" or "\r\n" is removed (secret files).
 * Returns the bytes, NUL-terminated, caller owns (free()), and *len; NULL
 * on error (logged with the path, never the content). */
unsigned char *auth_jwt_read_file(const char *path, int strip_newline, size_t *len);

#endif /* AUTH_JWT_H */
