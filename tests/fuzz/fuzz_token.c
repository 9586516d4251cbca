/*
 * fuzz_token.c - libFuzzer target for hm-auth's token path before the
 * signature check: auth_jwt_precheck() (size bound, splitting at the dots,
 * base64url, header JSON with the pinned alg, payload JSON), then the claim
 * checks on whatever payload it accepts, then the whole auth_jwt_verify().
 *
 * The first input byte picks the pinned algorithm (HS256, RS256 or ES256);
 * the rest is the token. Promises checked (abort on a broken one):
 * - precheck returns MALFORMED or ALG, or OK with a payload object;
 * - a token refused by precheck is refused by verify with the same error
 *   (nothing reaches libjwt or the claims that precheck refused);
 * - verify never accepts: the fuzzer cannot forge an HS256 signature with
 *   a secret it does not know;
 * - claims come back within bounds (user id >= 0, jti NUL-terminated).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const s_algs[] = {"HS256", "RS256", "ES256"};
static auth_jwt_t *s_jwt; /* HS256 verifier; lives for the whole run */

static auth_jwt_t *
s_verifier(void)
{
    if (!s_jwt) {
        static const char secret[] = "fuzz-secret-not-in-any-corpus-0123456789abcdef";
        auth_jwt_cfg_t cfg = {
            .alg = "HS256",
            .key = (const unsigned char *)secret,
            .key_len = sizeof secret - 1,
            .issuer = "healthmate",
            .audience = "healthmate-realtime",
            .leeway_s = 30,
        };
        s_jwt = auth_jwt_new(&cfg);
        if (!s_jwt)
            abort();
    }
    return s_jwt;
}

static void
s_check_claims_sane(const auth_jwt_claims_t *c)
{
    if (c->user_id < 0 || memchr(c->jti, '\0', sizeof c->jti) == NULL)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *alg = s_algs[data[0] % 3];
    char *token = malloc(size); /* the rest, NUL-terminated (cut at a NUL) */
    if (!token)
        return 0;
    memcpy(token, data + 1, size - 1);
    token[size - 1] = '\0';

    json_t *payload = NULL;
    auth_jwt_err_t pre = auth_jwt_precheck(alg, token, &payload);
    if (pre == AUTH_JWT_OK) {
        if (!json_is_object(payload))
            abort();
    } else if ((pre != AUTH_JWT_E_MALFORMED && pre != AUTH_JWT_E_ALG) || payload != NULL) {
        abort();
    }
    if (auth_jwt_err_code(pre) == NULL ? pre != AUTH_JWT_OK : pre == AUTH_JWT_OK)
        abort();

    auth_jwt_claims_t claims;
    if (payload) {
        /* The claim checks as if the signature had verified. */
        auth_jwt_err_t err = auth_jwt_check_claims(s_verifier(), payload, &claims);
        if (auth_jwt_err_message(err) == NULL)
            abort();
        s_check_claims_sane(&claims);
        json_decref(payload);
    }

    if (strcmp(alg, "HS256") == 0) {
        auth_jwt_err_t full = auth_jwt_verify(s_verifier(), token, &claims);
        if (full == AUTH_JWT_OK)
            abort(); /* a forged signature verified */
        if (pre != AUTH_JWT_OK && full != pre)
            abort();
        s_check_claims_sane(&claims);
    }
    free(token);
    return 0;
}
